/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * xenloop.ko's channels: one per fd that XLDEV_IOC_CREATE or
 * XLDEV_IOC_CONNECT returns (xlk_chan.c), and the module-wide state the
 * device and the suspend hooks share with them (xlk_main.c).
 */
#ifndef XLK_CHAN_H
#define XLK_CHAN_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <xen/grant_table.h>
#include <xen/interface/event_channel.h>

#include "xlk_core.h"

struct xlk_chan {
	struct list_head node;		/* on xlk_chans, under xlk_lock */
	struct mutex lock;		/* everything below */
	wait_queue_head_t wq;		/* read() and poll() sleepers */
	u32 state;			/* XLDEV_STATE_* */
	u32 void_reason;		/* XLDEV_VOID_* */
	domid_t peer;
	u32 own_pages;
	u32 peer_pages;			/* 0 until the peer's pages are mapped */
	struct page **own;		/* ours; they outlive the channel */
	grant_ref_t *own_refs;
	bool own_granted;		/* own_refs still name them */
	struct page **peer_pg;		/* gnttab_alloc_pages(), peer_pages */
	grant_handle_t *peer_handles;
	bool peer_mapped;
	evtchn_port_t port;
	int irq;			/* -1 when not bound */
	atomic64_t pending;		/* kicks not yet read() */
	atomic64_t kicks_in;
	u64 kicks_out;
	struct address_space *mapping;	/* the fd's, once mmapped */
	u32 budget;			/* pages taken from xlk_budget */
};

/* xlk_main.c */
extern struct mutex xlk_lock;		/* xlk_chans, the budget */
extern struct list_head xlk_chans;
extern u32 xlk_budget_left;
extern u32 xlk_budget_total;
extern u32 xlk_generation;		/* suspends seen */
extern struct page *xlk_void_page;

/* xlk_chan.c */
int xlk_ioctl_create(struct xldev_create __user *uarg);
int xlk_ioctl_connect(struct xldev_connect __user *uarg);
int xlk_ioctl_accept(struct xldev_accept __user *uarg);
void xlk_chan_suspend(struct xlk_chan *ch);
bool xlk_peer_mmap(void);

#endif /* XLK_CHAN_H */
