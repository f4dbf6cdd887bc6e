/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * /dev/xenloop: the ioctl ABI of xenloop.ko, the kernel channel driver
 * (driver/linux/). Self-contained: user space (xenloopd, the tests) and
 * the module include this one header and nothing else of each other's.
 *
 * How it is used (docs/xen.md §5 has the whole story):
 *
 *  - The daemon opens /dev/xenloop (root, 0600) and checks the ABI with
 *    XLDEV_IOC_VERSION.
 *  - One side offers a channel to a peer domid with XLDEV_IOC_CREATE: the
 *    module allocates and grants (read-only) the pages this side produces
 *    into, allocates an unbound interdomain event channel for the peer,
 *    and returns the grant references, the port and a new channel fd.
 *  - The peer connects with XLDEV_IOC_CONNECT: it maps the offered
 *    references (read-only), binds the event channel, grants its own
 *    pages the same way and returns their references and a channel fd.
 *  - The offering side completes with XLDEV_IOC_ACCEPT on /dev/xenloop,
 *    naming its channel fd and the peer's references. (On the device, not
 *    the channel: a channel fd can be handed to a process that may map
 *    that channel's pages and nothing else.)
 *
 * A channel fd maps that channel's pages and nothing else: page offset 0
 * .. own_pages-1 are this side's own pages (read-write), own_pages ..
 * own_pages+peer_pages-1 the peer's (read-only; only where
 * XLDEV_F_PEER_MMAP is set, see below). read() of 8 bytes returns the
 * number of kicks from the peer since the last read (as an eventfd);
 * poll() reports POLLIN when kicks are pending, POLLOUT while the channel
 * is connected, POLLERR|POLLHUP once it is void (the peer's side or the
 * domain's suspend ended it: nothing of it is shared any more).
 *
 * Every size and count is checked against the limits below; a bad
 * argument is EINVAL, a state that does not allow the call ENOTCONN /
 * EISCONN / EPIPE (void), exhausted budgets ENOSPC.
 */
#ifndef XENLOOP_XENLOOP_DEV_H
#define XENLOOP_XENLOOP_DEV_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Bumped on any incompatible change of the structures or semantics. */
#define XLDEV_ABI_VERSION	1

/* Pages one side of a channel may produce into (each a 4 KiB page). */
#define XLDEV_MAX_PAGES		512
/* Domain ids at and above this are Xen's reserved ids (DOMID_SELF...). */
#define XLDEV_DOMID_LIMIT	0x7ff0

/* When a channel ends (its last fd closed, XLDEV_CHAN_IOC_CLOSE, or the
 * domain's suspend), the module sets this byte of its own page 0 to 0
 * before it kicks the peer: the live byte of the ring layout xenloop
 * puts there (struct xl_wire_kpage in wire.h), so that the peer's
 * library sees the end even when the process that held it was killed. */
#define XLDEV_DEAD_OFFSET	4060

/* XLDEV_IOC_VERSION.flags: the peer's pages can be mmapped (auto-
 * translated guests, PVH/HVM); without it (PV) only XLDEV_CHAN_IOC_PEEK
 * reads them. */
#define XLDEV_F_PEER_MMAP	(1u << 0)

struct xldev_version {
	__u32 abi;		/* out: XLDEV_ABI_VERSION */
	__u32 max_pages;	/* out: XLDEV_MAX_PAGES */
	__u32 flags;		/* out: XLDEV_F_* */
	__u32 budget;		/* out: pages (own + peer) still allowed */
};

struct xldev_create {
	__u32 peer_domid;	/* in: the domain that may map and bind */
	__u32 own_pages;	/* in: 1..XLDEV_MAX_PAGES */
	__u64 refs;		/* in: user pointer to __u32[own_pages],
				 * out there: the grant references */
	__u32 port;		/* out: unbound port for the peer to bind */
	__s32 fd;		/* out: the channel fd (O_CLOEXEC) */
	__u32 flags;		/* in: 0 */
	__u32 pad;		/* in: 0 */
};

struct xldev_connect {
	__u32 peer_domid;	/* in: the offering domain */
	__u32 peer_pages;	/* in: its page count, 1..XLDEV_MAX_PAGES */
	__u64 peer_refs;	/* in: user pointer to __u32[peer_pages] */
	__u32 peer_port;	/* in: its unbound port */
	__u32 own_pages;	/* in: 1..XLDEV_MAX_PAGES */
	__u64 own_refs;		/* in: user pointer to __u32[own_pages],
				 * out there: the grant references */
	__u32 port;		/* out: the local port, for information */
	__s32 fd;		/* out: the channel fd (O_CLOEXEC) */
	__u32 flags;		/* in: 0 */
	__u32 pad;		/* in: 0 */
};

/* The offering side's second half, on /dev/xenloop. */
struct xldev_accept {
	__u32 peer_pages;	/* in: 1..XLDEV_MAX_PAGES */
	__s32 chan_fd;		/* in: the channel fd XLDEV_IOC_CREATE gave */
	__u64 peer_refs;	/* in: user pointer to __u32[peer_pages] */
	__u32 flags;		/* in: 0 */
	__u32 pad;		/* in: 0 */
};

/* Channel states, as XLDEV_CHAN_IOC_INFO reports them. */
#define XLDEV_STATE_OFFERED	1	/* created, waiting for ACCEPT */
#define XLDEV_STATE_CONNECTED	2	/* both sides' pages, bound port */
#define XLDEV_STATE_VOID	3	/* nothing shared any more */

/* XLDEV_CHAN_IOC_INFO.void_reason */
#define XLDEV_VOID_NONE		0
#define XLDEV_VOID_SUSPEND	1	/* the domain suspended (save,
					 * migration, or a cancelled one) */
#define XLDEV_VOID_CLOSED	2	/* XLDEV_CHAN_IOC_CLOSE */

struct xldev_chan_info {
	__u32 state;		/* XLDEV_STATE_* */
	__u32 void_reason;	/* XLDEV_VOID_* */
	__u32 peer_domid;
	__u32 port;		/* local port (0 once void) */
	__u32 own_pages;
	__u32 peer_pages;	/* 0 until connected */
	__u32 flags;		/* XLDEV_F_* */
	__u32 generation;	/* suspends this module has seen */
	__u64 kicks_in;		/* kicks received, ever */
	__u64 kicks_out;	/* kicks sent, ever */
};

/* Copy bytes of the peer's pages out (the PV way to read them). */
struct xldev_peek {
	__u64 offset;		/* in: byte offset into the peer's pages */
	__u64 len;		/* in: bytes, offset + len <= peer size */
	__u64 buf;		/* in: user pointer to len bytes */
};

#define XLDEV_IOC_MAGIC		'x'
/* on /dev/xenloop */
#define XLDEV_IOC_VERSION	_IOR(XLDEV_IOC_MAGIC, 0x00, struct xldev_version)
#define XLDEV_IOC_CREATE	_IOWR(XLDEV_IOC_MAGIC, 0x01, struct xldev_create)
#define XLDEV_IOC_CONNECT	_IOWR(XLDEV_IOC_MAGIC, 0x02, struct xldev_connect)
#define XLDEV_IOC_ACCEPT	_IOW(XLDEV_IOC_MAGIC, 0x03, struct xldev_accept)
/* on a channel fd (0x10, an accept there, is no more) */
#define XLDEV_CHAN_IOC_KICK	_IO(XLDEV_IOC_MAGIC, 0x11)
#define XLDEV_CHAN_IOC_INFO	_IOR(XLDEV_IOC_MAGIC, 0x12, struct xldev_chan_info)
#define XLDEV_CHAN_IOC_PEEK	_IOW(XLDEV_IOC_MAGIC, 0x13, struct xldev_peek)
#define XLDEV_CHAN_IOC_CLOSE	_IO(XLDEV_IOC_MAGIC, 0x14)

#endif /* XENLOOP_XENLOOP_DEV_H */
