/* SPDX-License-Identifier: MIT */
/*
 * Control messages of xenloop (version 1): between the preload library and
 * its namespace's xenloopd, between two xenloopds, and from xenloopctl.
 * docs/protocol.md tells the story around them.
 *
 * Every socket here is AF_UNIX SOCK_SEQPACKET, so a message is one
 * datagram: one struct xl_ctl_msg, optionally followed by text (STATUS) and
 * accompanied by file descriptors (SCM_RIGHTS, CHAN and PEER_OFFER only).
 * A receiver checks the size, the version, the type and every field before
 * use, and closes every fd it did not expect: the sender may be hostile.
 *
 * Sockets (RUNDIR defaults to /run/xenloop, XENLOOP_RUNDIR overrides):
 *   RUNDIR/ns/<netns inode>.sock   a daemon's socket for the processes of
 *                                  its network namespace and xenloopctl
 *   RUNDIR/peers/<name>.sock       a daemon's socket for the other daemons
 *   RUNDIR/peers/<name>.addrs      the addresses it advertises, one per line
 */
#ifndef XENLOOP_CTL_H
#define XENLOOP_CTL_H

#include <stdint.h>

#define XL_CTL_VERSION		3u
#define XL_CTL_MAX_FDS		8u	/* local: memfd, 4 eventfds, liveness */
#define XL_CTL_MAX_TEXT		65000u	/* STATUS text after the struct */

enum xl_ctl_type {
	/* preload -> daemon */
	XL_CTL_HELLO = 1,	/* first message on a connection: pid */
	XL_CTL_REGISTER,	/* a connected TCP socket (cookie, role, tuple) */
	XL_CTL_STATS,		/* byte counts of a registration (cookie) */
	XL_CTL_CLOSE,		/* the socket is gone; final counts (cookie) */
	/* daemon -> preload */
	XL_CTL_CHAN,		/* the channel for cookie: desc + fds */
	XL_CTL_NOCHAN,		/* no channel for cookie; reason in status */
	/* xenloopctl -> daemon -> xenloopctl */
	XL_CTL_STATUS_REQ,
	XL_CTL_STATUS,		/* JSON text follows the struct */
	/* daemon -> daemon */
	XL_CTL_PEER_OFFER,	/* client side's daemon offers a channel: fds */
	XL_CTL_PEER_REPLY,	/* status 0: matched, the server has its side */
	/* a socket shared by fork() before its channel came (protocol.md
	 * §4.1): preload -> daemon, then daemon -> preload */
	XL_CTL_DISOWN,		/* cookie: whoever holds it alone may claim */
	XL_CTL_PARK,		/* cookie: a CHAN given back (its fds, desc) */
	XL_CTL_CLAIM,		/* new cookie, role, tuple; the socket's fd */
	XL_CTL_DISOWNED,	/* cookie: the DISOWN was taken (status) */
	/* daemon -> daemon */
	XL_CTL_PEER_WITHDRAW,	/* cookie = offer id: its client closed */
	XL_CTL_DROP,		/* xenloopctl -> daemon: cookie (0: all) off
				 * its ring; daemon -> library: that cookie */
	XL_CTL_TYPE_MAX
};

enum xl_ctl_role {
	XL_CTL_ROLE_CLIENT = 1,	/* the socket was connect()ed */
	XL_CTL_ROLE_SERVER = 2,	/* the socket came from accept() */
};

/* Why a connection stayed on, or went back to, TCP (status of NOCHAN and
 * the reason of STATS/CLOSE). */
enum xl_ctl_reason {
	XL_REASON_NONE = 0,
	XL_REASON_NOT_PEER,	/* the remote address is not co-resident */
	XL_REASON_SAME_NS,	/* the remote address is our own namespace */
	XL_REASON_NO_MATCH,	/* the peer never registered (no shim there) */
	XL_REASON_PEER_DOWN,	/* the peer's daemon did not answer */
	XL_REASON_RESOURCES,	/* out of memory, fds, ... */
	XL_REASON_PROTOCOL,	/* the peer broke the ring or the protocol */
	XL_REASON_DISABLED,	/* turned off by configuration */
	XL_REASON_SHARED,	/* shared by fork(), no holder took the channel */
	XL_REASON_IO_URING,	/* the process uses io_uring (xl_uring.c) */
	XL_REASON_MAX
};

/* An IPv4 or IPv6 endpoint; IPv4 in the first 4 bytes of addr. */
struct xl_ctl_addr {
	uint16_t family;	/* AF_INET or AF_INET6 */
	uint16_t port;		/* host byte order */
	uint32_t scope_id;	/* IPv6 only */
	uint8_t addr[16];
};

/* Byte counts of one registration, all time, from the preload's side. */
struct xl_ctl_counts {
	uint64_t ring_tx, ring_rx;	/* payload through the ring */
	uint64_t tcp_tx, tcp_rx;	/* payload through the kernel socket */
};

/*
 * Why a direction of a connection left its ring while both ends lived
 * (docs/protocol.md §5.1): counted per direction by the side that made it
 * leave; the other side counts its answer as "peer".
 */
enum xl_ctl_switch {
	XL_SWITCH_DROP = 0,	/* the daemon's DROP (xenloopctl drop) */
	XL_SWITCH_PROTOCOL,	/* the ring was found corrupt */
	XL_SWITCH_PEER,		/* the other end asked (its cause there) */
	XL_SWITCH_OOB,		/* MSG_OOB */
	XL_SWITCH_EXEC,		/* the peer exec()ed */
	XL_SWITCH_REATTACH,	/* not a switch off: came back onto a new ring
				 * (protocol.md §5.3) */
	XL_SWITCH_MAX = 6	/* array size */
};

/* REGISTER's status: the socket has had its channel since before this
 * daemon started (the one before it died); list it, match nothing. */
#define XL_CTL_REG_ADOPT	1

struct xl_ctl_msg {
	uint32_t version;	/* XL_CTL_VERSION */
	uint32_t type;		/* enum xl_ctl_type */
	uint64_t cookie;	/* the preload's id of the registration */
	int32_t status;		/* 0 or -errno / enum xl_ctl_reason */
	uint32_t role;		/* REGISTER, PEER_OFFER: enum xl_ctl_role */
	uint32_t pid;		/* HELLO */
	uint32_t nfds;		/* fds carried with this message */
	/* REGISTER, PEER_OFFER: the connection as the *client* sees it for
	 * PEER_OFFER; as the sender sees it (local, remote) for REGISTER. */
	struct xl_ctl_addr local, remote;
	/* CHAN, PEER_OFFER: the channel (see struct xl_chan_desc) */
	uint32_t chan_kind;	/* enum xl_backend_kind */
	uint32_t chan_side;	/* 0 or 1 */
	uint32_t chan_order[2];
	union {
		/* CHAN of kind xendev: where the pages are on the memory
		 * fd, and the event-channel ports bound on the two evtchn
		 * fds; of kind xenkmod: chan_port[0] is 1 where the peer's
		 * pages may be mapped */
		struct {
			uint64_t chan_offset;
			uint32_t chan_port[2];
		};
		/* STATS, CLOSE: of tcp_tx and tcp_rx, the bytes that went
		 * before the direction's first ring took over (all of them
		 * while none has): TCP by design, not a fallback */
		uint64_t tcp_before[2];
	};
	struct xl_ctl_counts counts;	/* STATS, CLOSE */
	uint32_t reason;	/* STATS, CLOSE: enum xl_ctl_reason */
	uint32_t text_len;	/* STATUS: bytes of text after the struct */
	/* STATS, CLOSE: direction switches by enum xl_ctl_switch */
	uint32_t switches[XL_SWITCH_MAX];
};

#endif /* XENLOOP_CTL_H */
