/* SPDX-License-Identifier: MIT */
/*
 * A channel: two rings (one per direction) in memory a transport shares
 * between two processes or two domains, plus the blocking logic on top:
 * bounded adaptive spinning, then sleeping on the transport's notification
 * with the wake-up protocol of xl_ring.h.
 *
 * Side A creates a channel and hands the descriptor to side B, which
 * attaches. Side A produces direction 0 and consumes direction 1; side B
 * the opposite. Neither direction carries bytes until its producer calls
 * xl_chan_tx_open() with the stream offset the ring starts at.
 *
 * One thread may send while another receives; two concurrent senders (or
 * receivers) on one channel must be serialised by the caller.
 *
 * Returns 0, a count, or -errno; never writes errno.
 */
#ifndef XL_CHAN_H
#define XL_CHAN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "xl_backend.h"
#include "xl_ring.h"

/* Flags for xl_chan_send() and xl_chan_recv(). */
#define XL_CHAN_NONBLOCK	0x1u	/* never sleep or spin */
#define XL_CHAN_PEEK		0x2u	/* recv: leave the bytes in the ring */
#define XL_CHAN_WAITALL		0x4u	/* recv: fill the whole request */

/* Default spin budget before sleeping, in nanoseconds. */
#define XL_CHAN_SPIN_NS_DEFAULT	50000u
#define XL_CHAN_SPIN_NS_MAX	10000000u

struct xl_chan_stats {
	uint64_t tx_bytes, rx_bytes;
	uint64_t notifies;		/* kicks sent to the peer */
	uint64_t sleeps;		/* times we slept on the transport */
	uint64_t spin_wins;		/* waits that ended while spinning */
};

/* What one direction's caller (the sending thread, or the receiving one)
 * keeps for itself: never touched by the other thread. */
struct xl_chan_dirstate {
	uint32_t spin_cur;		/* current adaptive budget */
	bool kicked;			/* we woke the peer since our last wait */
	uint64_t bytes, notifies, sleeps, spin_wins;
};

#define XL_CHAN_TX	0		/* index of the sender's dirstate */
#define XL_CHAN_RX	1		/* index of the receiver's */

struct xl_chan {
	const struct xl_backend_ops *ops;
	void *be;			/* transport-private state */
	unsigned int side;		/* 0: A (creator), 1: B (attacher) */
	/* Filled by the transport's create()/attach(): the control page and
	 * the data of both directions, contiguous (dir 0 first, then dir 1:
	 * 1 << order[0] plus 1 << order[1] bytes). On Xen these are two
	 * separate mappings, hence two pointers. */
	struct xl_wire_ctrl *ctrl;
	uint8_t *data;
	uint32_t order[2];
	/* Set by a transport whose directions do not sit in one control
	 * page (xenkmod: each side's lines in its own page, docs/xen.md
	 * §5.4): the shared control of direction d and its data, and how
	 * the rings reach the peer's half (struct xl_ring_peer). NULL:
	 * ctrl->dir[d] and data, plain shared memory. */
	struct xl_wire_dir *dsh[2];
	uint8_t *ddata[2];
	const struct xl_ring_peer *peer;
	struct xl_ring_tx tx;
	struct xl_ring_rx rx;
	bool tx_opened;
	bool peer_gone;			/* the transport saw the peer go
					 * (XL_READ_ONCE/XL_WRITE_ONCE: either
					 * thread may set it) */
	uint32_t spin_ns;		/* configured ceiling */
	bool placed;			/* the caller's memory: never freed */
	struct xl_chan_dirstate ds[2];	/* XL_CHAN_TX, XL_CHAN_RX */
};

/*
 * Side A: create a channel through ops with the sizes in p and fill desc
 * for side B. spin_ns is the spinning ceiling (0: always sleep).
 */
int xl_chan_create(struct xl_chan **out, const struct xl_backend_ops *ops,
		   const struct xl_chan_params *p, struct xl_chan_desc *desc,
		   uint32_t spin_ns);

/*
 * Attach as side desc->side to the channel desc describes (side B of
 * xl_chan_create(), or either side of xl_chan_create_pair()); desc stays
 * the caller's.
 */
int xl_chan_attach(struct xl_chan **out, const struct xl_chan_desc *desc,
		   uint32_t spin_ns);

/*
 * The same into the caller's memory ch (which xl_chan_destroy() and
 * xl_chan_forget() then leave to the caller). Memory that fork() shares
 * (MAP_SHARED) makes the channel's private state, its ring indices
 * included, one for every process that inherits it; the caller then
 * serialises their senders and receivers as it does threads'.
 */
int xl_chan_attach_at(struct xl_chan *ch, const struct xl_chan_desc *desc,
		      uint32_t spin_ns);

/*
 * The same, and if quiet the peer's producer does not see us as the
 * consumer of its direction (it keeps to TCP) until xl_chan_rx_announce():
 * a connection coming back onto a new ring swaps it in first
 * (docs/protocol.md §5.3).
 */
int xl_chan_attach_at_quiet(struct xl_chan *ch,
			    const struct xl_chan_desc *desc, uint32_t spin_ns,
			    bool quiet);
void xl_chan_rx_announce(struct xl_chan *ch);

/*
 * Broker (a daemon): make a channel for two other processes; desc[s] is
 * what side s attaches with. -EOPNOTSUPP if the transport cannot.
 */
int xl_chan_create_pair(const struct xl_backend_ops *ops,
			const struct xl_chan_params *p,
			struct xl_chan_desc desc[2]);

/* True once the peer attached as consumer of our direction: only then may
 * a stream that started on TCP move onto the ring. */
bool xl_chan_tx_peer_attached(struct xl_chan *ch);

/* The consumer state (XL_WIRE_CONS_*) the peer shows for our direction,
 * usable before tx_open. */
uint32_t xl_chan_tx_cons_state(struct xl_chan *ch);

/* Start producing: the first byte sent is at stream offset start_off. */
int xl_chan_tx_open(struct xl_chan *ch, uint64_t start_off);

/* What xl_chan_tx_reclaim() remembers between two calls (zeroed at
 * first). */
struct xl_chan_reclaim {
	uint32_t prod;			/* our index at the last call */
	bool seen;			/* prod is set */
	bool done;			/* the ring's pages are given back */
};

/*
 * Give back the memory of our direction's ring when it idles: when
 * nothing was written since the previous call with the same st and the
 * peer has read every byte, the transport drops the ring's pages (the
 * next write faults in fresh ones). Called periodically (xl_epoll.c);
 * the caller serialises it with the senders. Returns 1 when the ring
 * holds no memory of ours until the next write, 0 when it may later,
 * -EOPNOTSUPP where the transport cannot, or -errno.
 */
int xl_chan_tx_reclaim(struct xl_chan *ch, struct xl_chan_reclaim *st);

/*
 * Send from iov. Blocking (flags without XL_CHAN_NONBLOCK): returns once
 * every byte is in the ring, or with the count so far if the peer closed or
 * broke the channel after some bytes went in, or -EPIPE / -EPROTO /
 * -ECONNRESET / -ETIMEDOUT if none did. Nonblocking: a partial count or
 * -EAGAIN.
 * timeout_ms bounds a blocking send (-1: no bound).
 */
ssize_t xl_chan_send(struct xl_chan *ch, const struct iovec *iov, int iovcnt,
		     unsigned int flags, int timeout_ms);

/*
 * Receive into iov. Returns the count (> 0), 0 at end of stream, -EXDEV
 * where the peer left the ring (xl_chan_tx_leave()), -EAGAIN (nonblocking,
 * nothing there), -ETIMEDOUT (also before the time is up when the
 * consumer of our ring went BACK: the caller answers it, protocol.md
 * §5.1), -EPROTO or -ECONNRESET.
 * XL_CHAN_WAITALL keeps waiting until iov is full or the stream ends.
 */
ssize_t xl_chan_recv(struct xl_chan *ch, const struct iovec *iov, int iovcnt,
		     unsigned int flags, int timeout_ms);

/* Has the peer opened its direction? 1 with *start_off, 0, or -EPROTO. */
int xl_chan_rx_started(struct xl_chan *ch, uint64_t *start_off);

/* The channel's counters (both directions; read them from one thread
 * while no other uses the channel, or accept slightly stale values). */
void xl_chan_get_stats(const struct xl_chan *ch, struct xl_chan_stats *st);

/* Bytes readable now without waiting. */
size_t xl_chan_readable(struct xl_chan *ch);

/* Half-close: end of our stream (the peer reads EOF after the data).
 * -EXDEV: the consumer asked for the rest by TCP first; nothing was
 * published (answer with xl_chan_tx_answer_back()). */
int xl_chan_shutdown_tx(struct xl_chan *ch);

/* Our ring stream ends here, but not the stream: it goes on by TCP from
 * this byte (the peer's receive returns -EXDEV once it has the rest).
 * -EXDEV as for xl_chan_shutdown_tx(). */
int xl_chan_tx_leave(struct xl_chan *ch);
/* We will read no more: the peer's sends fail with -EPIPE. */
int xl_chan_shutdown_rx(struct xl_chan *ch);

/* False once the transport has seen the peer go. */
bool xl_chan_peer_live(struct xl_chan *ch);

/*
 * For callers that wait themselves (poll/epoll in the preload library):
 * the fds to poll for the peer's kicks for w and its departure (see
 * xl_backend_ops.pollfds), and, after waking, consuming those kicks
 * (pfd/n with revents as poll() left them; NULL: check all). Announce the
 * sleep on the ring first (xl_ring_rx/tx_prepare_sleep on ch->rx/ch->tx).
 * xl_chan_ack returns -ECONNRESET once the peer is seen gone.
 */
int xl_chan_pollfds(struct xl_chan *ch, enum xl_wait w, struct pollfd *pfd,
		    int max);
int xl_chan_ack(struct xl_chan *ch, enum xl_wait w, const struct pollfd *pfd,
		int n);

/* Unmap and free the channel; marks our side dead for the peer. */
void xl_chan_destroy(struct xl_chan *ch);

/*
 * Let go of this process's hold on a channel (its fds and mappings)
 * without telling the peer anything and without writing to ch: another
 * process that inherited it, or that it was inherited from, goes on
 * using it.
 */
void xl_chan_forget(struct xl_chan *ch);

/*
 * Tell the peer that this side's process is gone although its connection
 * is not (a program exec()s with the socket: the new image knows nothing
 * of the ring): our live byte says dead and the peer is woken, as if we
 * had died, without closing either ring. The peer then sends again
 * through the kernel what we never consumed. ch stays usable here.
 */
void xl_chan_hang_up(struct xl_chan *ch);

/*
 * Let go of a channel of a domain that was saved and restored, or
 * migrated (xl_backend_ops.abandon): its grants and event channels are
 * void on both sides, and nothing may fire into the new domain's ports.
 */
void xl_chan_abandon(struct xl_chan *ch);

/* Is the channel's memory void (xl_backend_ops.voided)? Its stream is
 * broken then: what the rings held is lost, in both directions. */
bool xl_chan_voided(struct xl_chan *ch);

/*
 * Our direction's bytes the peer has not consumed, in the ring (see
 * xl_ring_tx_unacked()): what must go again by another path when the
 * peer is gone but its stream lives on. -ENOTCONN before xl_chan_tx_open().
 */
ssize_t xl_chan_tx_unacked(struct xl_chan *ch, struct iovec iov[2]);

/*
 * Leaving a ring while both ends live (docs/protocol.md §5.1).
 * xl_chan_rx_back(): read no more of our receive ring (xl_ring_rx_back():
 * 1 the rest comes by TCP, 0 read the ring to the producer's end first,
 * -EPROTO lost) and wake the peer, which must answer.
 * xl_chan_tx_peer_back(): did the consumer of our ring ask that?
 * xl_chan_tx_answer_back(): answer it (xl_ring_tx_answer_back()): the
 * bytes to send again by TCP are in iov, their count returned.
 */
int xl_chan_rx_back(struct xl_chan *ch);
/* Wake our own sleepers on the channel's fds (where the transport can;
 * else they find out at the end of their slices). */
void xl_chan_wake_self(struct xl_chan *ch);
bool xl_chan_tx_peer_back(struct xl_chan *ch);
ssize_t xl_chan_tx_answer_back(struct xl_chan *ch, struct iovec iov[2]);

/* If ch holds fd, hold it under another number and close fd (a program
 * wants that number). Returns 1 then, 0 if ch does not hold fd, or
 * -errno. */
int xl_chan_move_fd(struct xl_chan *ch, int fd);

/* Is the channel's memory mapped in this process (see
 * xl_backend_ops.mapped)? Where it is not, only xl_chan_forget() is
 * safe. */
bool xl_chan_mapped(struct xl_chan *ch);

/* Release what a descriptor from xl_chan_create() holds. */
void xl_chan_desc_release(struct xl_chan_desc *desc);

#endif /* XL_CHAN_H */
