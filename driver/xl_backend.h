/* SPDX-License-Identifier: MIT */
/*
 * Transports: what gives a channel its shared pages and notifications.
 *
 * A transport is a small ops table. Side A calls create(), which allocates
 * the channel's memory, maps it, and fills a descriptor that tells side B
 * how to reach the same memory; side B calls attach() with that
 * descriptor. After that both sides use notify() to kick the peer and wait
 * on the descriptors that pollfds() returns.
 *
 *   local  memfd (sealed against shrinking) + two eventfds per side (one
 *          per enum xl_wait) for notification + a socketpair whose hang-up tells each side that
 *          the other has gone. The descriptor is file descriptors only, so
 *          it travels over a Unix socket with SCM_RIGHTS.
 *   xen    grant pages shared with one peer domid (gntalloc) and mapped by
 *          that peer (gntdev, with unmap-notify clearing the live byte),
 *          notification by an interdomain event channel. The descriptor is
 *          (domid, port, grant references).
 *   xendev the Xen transport of a process that may not open /dev/xen:
 *          xenloopd offers or maps the grants and binds the event
 *          channels on device fds opened for that one channel, and the
 *          process gets only those fds (and a liveness socket whose other
 *          end the daemon keeps), with the mmap offset and port numbers.
 *          See xl_xen_dev.h for the daemon's half.
 *   xenkmod the same through the kernel module (/dev/xenloop): the
 *          process gets one channel fd, which maps that channel's pages
 *          and nothing else, and kicks and waits through it; each side
 *          writes only pages of its own (xl_xen_kmod.h).
 *
 * All ops return 0 or -errno.
 */
#ifndef XL_BACKEND_H
#define XL_BACKEND_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "xenloop/wire.h"

struct xl_chan;

/*
 * What a sleeper waits for. Each has its own notification, so that one
 * thread can sleep sending while another sleeps receiving on the same
 * channel: with a single one, the first to wake and drain it could
 * swallow the other's wake-up.
 */
enum xl_wait {
	XL_WAIT_DATA = 0,		/* a receiver: bytes or end of stream */
	XL_WAIT_SPACE = 1,		/* a sender: room in the ring */
};

enum xl_backend_kind {
	XL_BACKEND_LOCAL = 1,
	XL_BACKEND_XEN = 2,
	XL_BACKEND_XENDEV = 3,
	XL_BACKEND_XENKMOD = 4,
};

/* What side A asks for. */
struct xl_chan_params {
	uint32_t order[2];		/* log2 data size, dir 0 (A->B), dir 1 */
	uint32_t peer_domid;		/* xen: the only domain granted access */
};

/*
 * Everything side B needs to attach. Produced by create(), consumed by
 * attach(); owns what it holds until xl_chan_desc_release().
 */
struct xl_chan_desc {
	uint32_t kind;			/* enum xl_backend_kind */
	uint32_t side;			/* the side that attaches with it */
	uint32_t order[2];
	union {
		struct {
			int memfd;	/* the channel memory */
			int efd[2][2];	/* efd[s][w] wakes side s's waiter
					 * for w (enum xl_wait) */
			int hup;	/* this side's end of the liveness
					 * pair */
		} local;
		struct {
			uint32_t domid;	/* side A's domain (set by the
					 * caller: a library cannot know it) */
			uint32_t port[2]; /* side A's unbound event channels,
					   * by enum xl_wait */
			uint32_t nrefs;	/* 1 + data pages */
			uint32_t *refs;	/* refs[0]: control page, then data */
		} xen;
		struct {
			int mem;	/* gntalloc (side 0) or gntdev (side
					 * 1) fd holding this channel only */
			int evt[2];	/* evtchn fds, by enum xl_wait */
			int hup;	/* liveness: the daemon holds the
					 * other end while the peer lives */
			uint64_t offset; /* mmap offset of the 1 + data
					  * pages on mem */
			uint32_t port[2]; /* our bound ports, by wait */
		} xendev;
		struct {
			int chan;	/* the module's channel fd */
			int hup;	/* liveness, as xendev's (or -1) */
			uint32_t own_pages, peer_pages;
			uint32_t peer_mmap; /* 1: map the peer's pages; 0:
					     * read them with PEEK (PV) */
		} xenkmod;
	} u;
};

struct xl_backend_ops {
	const char *name;
	enum xl_backend_kind kind;
	/* Side A: allocate and map a channel of p's sizes, set ch->ctrl and
	 * ch->data (and ch->be), initialise the control page with
	 * xl_ring_ctrl_init(), and fill desc for the peer. */
	int (*create)(struct xl_chan *ch, const struct xl_chan_params *p,
		      struct xl_chan_desc *desc);
	/* Map the channel desc names as side desc->side, set ch->ctrl,
	 * ch->data and ch->be. Does not take over desc. Validating the
	 * control page is the caller's (xl_chan_attach) job. */
	int (*attach)(struct xl_chan *ch, const struct xl_chan_desc *desc);
	/* Wake the peer's sleeper that waits for w. */
	int (*notify)(struct xl_chan *ch, enum xl_wait w);
	/* Optional: wake our own sleepers, for data and for space
	 * (something other than the rings changed, e.g. a DROP came). */
	int (*wake_self)(struct xl_chan *ch);
	/* Fill up to max pollfds to wait on for the peer's kicks for w and
	 * its departure; returns how many. */
	int (*pollfds)(struct xl_chan *ch, enum xl_wait w, struct pollfd *pfd,
		       int max);
	/* Consume pending kicks after waking so the next wait sleeps.
	 * pfd/n are what pollfds() filled, with revents from poll(): only
	 * fds that fired need a system call. pfd NULL: check everything.
	 * Returns -ECONNRESET if the transport saw the peer go. */
	int (*ack)(struct xl_chan *ch, enum xl_wait w,
		   const struct pollfd *pfd, int n);
	/* Unmap and release everything create() or attach() acquired. */
	void (*destroy)(struct xl_chan *ch);
	/* Release this process's part silently: no live byte cleared, no
	 * kick, and no write to ch, which another process that shares it
	 * after fork() goes on using. NULL: nothing may be released (the
	 * process leaks it). */
	void (*forget)(struct xl_chan *ch);
	/* Our domain was saved and restored (or migrated): every grant and
	 * event channel of ch belongs to a domain that is no more. Release
	 * the pages so that no unmap-notify fires later into the new
	 * domain's ports, and keep what the kernel cannot release safely.
	 * NULL: destroy(). */
	void (*abandon)(struct xl_chan *ch);
	/* Was the channel's memory replaced by zeroes of our own, because
	 * our domain was restored (xendev)? Then nothing in it is the
	 * peer's any more, and the stream cannot be kept whole. NULL:
	 * never. */
	bool (*voided)(struct xl_chan *ch);
	/* Release what a descriptor holds (fds, reference array). */
	void (*desc_release)(struct xl_chan_desc *desc);
	/* Broker: make a channel for two other processes and fill one
	 * descriptor per side (desc[s].side == s); this process keeps no
	 * mapping. NULL where the transport cannot (xen: a grant is offered
	 * by the process that maps it). */
	int (*create_pair)(const struct xl_chan_params *p,
			   struct xl_chan_desc desc[2]);
	/* If ch holds fd, hold it under another number (xl_fd_keeper) and
	 * close fd; returns 1 then, else 0 or -errno. NULL: cannot. */
	int (*move_fd)(struct xl_chan *ch, int fd);
	/* Is the channel's memory mapped in this process? False in a
	 * fork()ed child of a transport whose mappings the kernel does not
	 * copy. NULL: always. */
	bool (*mapped)(struct xl_chan *ch);
	/* Give back the memory behind len bytes at addr, page-aligned, in
	 * the channel's data (both sides' mappings read zeroes there until
	 * the next write). NULL: the transport cannot (granted pages). */
	int (*reclaim)(struct xl_chan *ch, void *addr, size_t len);
};

/*
 * Where this process keeps the fds its channels hold. A library inside
 * someone else's program keeps them out of the program's way (high
 * numbers that it protects from the program's close()); NULL: wherever
 * dup() puts them.
 */
struct xl_fd_keeper {
	/* a close-on-exec duplicate of fd where it should live, or -errno */
	int (*dup)(int fd);
	/* fd is about to be closed */
	void (*release)(int fd);
	/* move_fd(): to is the channel's fd from now on; from is closed
	 * next (another part of the process may know the number) */
	void (*moved)(int from, int to);
};
extern const struct xl_fd_keeper *xl_fd_keeper;

/* A transport's own copy of fd, where the keeper wants it (else a
 * close-on-exec dup anywhere), or -errno. */
int xl_keeper_dup(int fd);
/* Tell the keeper, close *fd if open, leave -1. */
void xl_keeper_close(int *fd);
/* move_fd() for a transport whose fds are *slot[0..n): 1 if one of them
 * was fd and now lives under another number, 0 if none was, or -errno. */
int xl_keeper_move(int *const slot[], unsigned int n, int fd);

extern const struct xl_backend_ops xl_backend_local;
extern const struct xl_backend_ops xl_backend_xendev;
extern const struct xl_backend_ops xl_backend_xenkmod;
#ifdef HAVE_XEN
extern const struct xl_backend_ops xl_backend_xen;
#endif

/* The transport of a given kind, or NULL if not built in. */
const struct xl_backend_ops *xl_backend_get(enum xl_backend_kind kind);

#endif /* XL_BACKEND_H */
