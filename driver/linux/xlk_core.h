/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * The pure part of xenloop.ko: argument validation, the channel state
 * machine, the mmap layout and the poll bits, with no kernel call in it,
 * so that the same file builds into the module and into a user-space
 * Check test (tests/unit/check_kmod_core.c). Every function returns 0 (or
 * a value) or -errno.
 */
#ifndef XLK_CORE_H
#define XLK_CORE_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/errno.h>
#else
#include <stdint.h>
#include <errno.h>
#endif

#include <xenloop/xenloop_dev.h>

/* The largest event-channel port (FIFO ABI: 2^17 ports). */
#define XLK_PORT_LIMIT		(1u << 17)

/* What happens to a channel; xlk_state_next() says what it becomes. */
enum xlk_event {
	XLK_EV_ACCEPT,		/* the offering side maps the peer's pages */
	XLK_EV_KICK,		/* notify the peer */
	XLK_EV_PEEK,		/* read the peer's pages */
	XLK_EV_CLOSE,		/* user asks to end it */
	XLK_EV_SUSPEND,		/* the domain suspends */
};

int xlk_state_next(uint32_t state, enum xlk_event ev);

/* Argument checks of the device's ioctls (flags/pad must be 0). */
int xlk_check_pages(uint32_t pages);
int xlk_check_domid(uint32_t domid);
int xlk_check_create(const struct xldev_create *c);
int xlk_check_connect(const struct xldev_connect *c);
int xlk_check_accept(const struct xldev_accept *a);
int xlk_check_peek(const struct xldev_peek *p, uint32_t peer_pages);

/*
 * A budget of pages (own + peer) for the whole module: take n pages, or
 * -ENOSPC when fewer than n are left. The caller serialises.
 */
int xlk_budget_take(uint32_t *left, uint32_t n);
void xlk_budget_give(uint32_t *left, uint32_t n, uint32_t total);

/*
 * Can [pgoff, pgoff + npages) of a channel with own and peer pages be
 * mapped? writable: the mapping may be written (VM_WRITE or VM_MAYWRITE
 * with MAP_SHARED); peer_mmap: the peer's pages can reach user space.
 * -EINVAL out of range, -EACCES writable over the peer's pages,
 * -EOPNOTSUPP the peer's pages where they cannot be mapped.
 */
int xlk_check_map(uint32_t own, uint32_t peer, uint64_t pgoff,
		  uint64_t npages, int writable, int peer_mmap);

/* What a fault at page offset pgoff is served: own page i, peer page i,
 * or the void page. */
enum xlk_fault_kind {
	XLK_FAULT_OWN,
	XLK_FAULT_PEER,
	XLK_FAULT_VOID,
	XLK_FAULT_SIGBUS,	/* outside the channel: cannot happen
				 * after xlk_check_map */
};

enum xlk_fault_kind xlk_fault_lookup(uint32_t own, uint32_t peer,
				     uint32_t state, uint64_t pgoff,
				     uint32_t *index);

/* poll(): readiness as XLK_READY_* bits. */
#define XLK_READY_IN	1u
#define XLK_READY_OUT	2u
#define XLK_READY_ERR	4u	/* POLLERR | POLLHUP */

unsigned int xlk_poll_bits(uint32_t state, uint64_t pending);

#endif /* XLK_CORE_H */
