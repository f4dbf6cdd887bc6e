/* SPDX-License-Identifier: MIT */
/*
 * One direction of a channel: a single-producer/single-consumer byte ring
 * over shared memory laid out as in include/xenloop/wire.h.
 *
 * Ring code is pure: no system calls, no allocation, no errno. It can run
 * on plain memory between two threads, which is how the unit tests and the
 * fuzz target drive it. Notification (eventfd, event channel) belongs to
 * the transport; the ring only says when one is owed.
 *
 * Each end keeps private copies of everything it relies on (size, its own
 * index, the last peer index it validated) and reads each shared field once
 * per operation. A peer value that cannot be right (an index that runs
 * backwards or past the ring, a state that goes back, an end offset that
 * disagrees with the bytes seen) puts the ring into a sticky error state:
 * every later call returns -EPROTO.
 *
 * All functions return 0 or a count on success and -errno on error; none
 * writes errno.
 */
#ifndef XL_RING_H
#define XL_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "xenloop/wire.h"

/*
 * Where the peer's line and data are not ours to write (the kernel
 * module's producer-owned layout, docs/xen.md §5): the ring never writes
 * them (no claiming of the peer's want flag: it notifies at most once per
 * move of the peer's index instead), and where they are a private copy of
 * the peer's pages (a PV guest, which cannot map them) pull() refreshes
 * the copy of [addr, addr + len) before each read. NULL: plain shared
 * memory, both sides write both lines.
 */
struct xl_ring_peer {
	int (*pull)(void *arg, const void *addr, size_t len);
	/* refresh every line of the peer's at once (NULL: each by pull()):
	 * for readers outside the ring code (the library's poll), which
	 * look at the copy without pulling */
	int (*pull_all)(void *arg);
	void *arg;
};

/*
 * A sleeper's announcement (want_data, want_space) in its own line: any
 * nonzero value. Where the peer may not claim it back (struct
 * xl_ring_peer), each announcement is a new value, so that the peer can
 * tell a sleeper that slept again from one it already woke.
 */
static inline uint32_t xl_ring_want_next(uint32_t cur)
{
	return cur + 1 ? cur + 1 : 1;
}

/* Producer's private state. */
struct xl_ring_tx {
	struct xl_wire_dir *sh;		/* shared control of this direction */
	uint8_t *data;			/* shared data area, size bytes */
	uint32_t size;			/* private copy: power of two */
	uint32_t prod;			/* our index (authoritative copy) */
	uint32_t cons;			/* last validated consumer index */
	uint64_t start_off;		/* stream offset of index 0 */
	uint64_t sent;			/* bytes published, all time */
	int error;			/* sticky -errno, 0 while healthy */
	bool closed;			/* we published CLOSED */
	bool peer_closed;		/* we saw the consumer's CLOSED */
	const struct xl_ring_peer *peer; /* see struct xl_ring_peer */
	bool kicked;			/* peer mode: notified the consumer's */
	uint32_t kick_want, kick_cons;	/* announcement at its index */
	bool peer_back;			/* we saw the consumer's BACK */
};

/* Consumer's private state. */
struct xl_ring_rx {
	struct xl_wire_dir *sh;
	uint8_t *data;
	uint32_t size;
	uint32_t cons;			/* our index (authoritative copy) */
	uint32_t prod;			/* last validated producer index */
	uint32_t pstate;		/* last validated producer state */
	uint64_t start_off;		/* valid once pstate >= OPEN */
	uint64_t end_off;		/* valid once pstate >= CLOSED */
	uint64_t done;			/* bytes consumed, all time */
	int error;
	bool closed;			/* we published CONS_CLOSED */
	const struct xl_ring_peer *peer; /* see struct xl_ring_peer */
	bool kicked;			/* peer mode: notified the producer's */
	uint32_t kick_want, kick_prod;	/* announcement at its index */
	bool back;			/* we published CONS_BACK */
};

/* Flags for xl_ring_read(). */
#define XL_RING_PEEK	0x1u	/* copy out but do not consume */

/*
 * Set up the shared control page of a new channel (side A, before the peer
 * can see it): magic, version, orders, every index 0, both lives LIVE.
 * Returns -EINVAL for an order outside XL_WIRE_MIN_ORDER..MAX_ORDER.
 */
int xl_ring_ctrl_init(struct xl_wire_ctrl *ctrl, uint32_t order0,
		      uint32_t order1);

/*
 * Check a control page we did not write (side B) against the orders agreed
 * out of band. Reads each field once. Returns -EPROTO on any mismatch.
 */
int xl_ring_ctrl_check(const struct xl_wire_ctrl *ctrl, uint32_t order0,
		       uint32_t order1);

/*
 * Become the producer of a direction. start_off is the stream offset of the
 * first byte this ring will carry; it is published with state OPEN.
 * data must hold 1 << order bytes.
 */
int xl_ring_tx_init(struct xl_ring_tx *tx, struct xl_wire_dir *sh,
		    void *data, uint32_t order, uint64_t start_off);

/* The peer's half is read-only (and maybe a copy): see struct
 * xl_ring_peer. Call right after the init; peer outlives the ring. */
void xl_ring_tx_set_peer(struct xl_ring_tx *tx, const struct xl_ring_peer *peer);
void xl_ring_rx_set_peer(struct xl_ring_rx *rx, const struct xl_ring_peer *peer);

/* Become the consumer of a direction. */
int xl_ring_rx_init(struct xl_ring_rx *rx, struct xl_wire_dir *sh,
		    void *data, uint32_t order);

/* The same in two steps: ready to consume, but the producer does not see
 * us (c.attached) until xl_ring_rx_announce(): a connection coming back
 * onto a new ring keeps its peer on TCP until it can read the ring
 * (docs/protocol.md §5.3). */
int xl_ring_rx_init_quiet(struct xl_ring_rx *rx, struct xl_wire_dir *sh,
			  void *data, uint32_t order);
void xl_ring_rx_announce(struct xl_ring_rx *rx);

/*
 * Copy up to the free space from iov into the ring and publish it.
 * Returns the count written (> 0), -EAGAIN if the ring is full, -EPIPE if
 * the consumer has closed, -ESHUTDOWN if we closed, -EPROTO if the peer
 * broke the ring. A zero-length request returns 0.
 */
ssize_t xl_ring_write(struct xl_ring_tx *tx, const struct iovec *iov,
		      int iovcnt);

/*
 * Copy up to the available bytes into iov and (unless XL_RING_PEEK)
 * release their space. Returns the count read (> 0), 0 at end of stream
 * (producer closed and every byte consumed), -EXDEV where the producer
 * left the ring (every byte consumed: the stream goes on through TCP),
 * -EAGAIN if empty but open, -EPROTO if the peer broke the ring. A zero-length request returns 0 at
 * end of stream and -EAGAIN otherwise.
 */
ssize_t xl_ring_read(struct xl_ring_rx *rx, const struct iovec *iov,
		     int iovcnt, unsigned int flags);

/* Validated bytes readable now (0 if none or broken). */
size_t xl_ring_rx_avail(struct xl_ring_rx *rx);

/* Validated bytes writable now (0 if none, closed or broken). */
size_t xl_ring_tx_space(struct xl_ring_tx *tx);

/* True when a read would not return -EAGAIN: data, end of stream, error. */
bool xl_ring_rx_ready(struct xl_ring_rx *rx);

/* True when a write would not return -EAGAIN: space, peer closed, error. */
bool xl_ring_tx_ready(struct xl_ring_tx *tx);

/*
 * Wake-up protocol, consumer side: announce we are going to sleep, then
 * re-check. Returns true if the caller may sleep on its notification (the
 * ring is still empty and open), false if it must not (something arrived
 * meanwhile, or the ring is closed or broken).
 */
bool xl_ring_rx_prepare_sleep(struct xl_ring_rx *rx);

/* The same for a producer facing a full ring. */
bool xl_ring_tx_prepare_sleep(struct xl_ring_tx *tx);

/* Withdraw a sleep announcement after waking (a stale flag only costs the
 * peer one spurious notification, so this is an optimisation). */
void xl_ring_rx_end_sleep(struct xl_ring_rx *rx);
void xl_ring_tx_end_sleep(struct xl_ring_tx *tx);

/*
 * After xl_ring_write() published bytes: true if the consumer announced it
 * sleeps, in which case the caller must notify it. Claims the flag, so
 * only one notification is owed per announcement.
 */
bool xl_ring_tx_notify_needed(struct xl_ring_tx *tx);

/* After xl_ring_read() released space: true if the producer sleeps. */
bool xl_ring_rx_notify_needed(struct xl_ring_rx *rx);

/*
 * End of stream from the producer: publish end_off and state CLOSED.
 * Bytes already published stay readable. The caller then notifies if
 * xl_ring_tx_notify_needed() says so, exactly as after a write.
 */
int xl_ring_tx_close(struct xl_ring_tx *tx);

/* The same, but the stream goes on by the other path (TCP) from
 * xl_ring_tx_offset(): the consumer's read returns -EXDEV there. */
int xl_ring_tx_leave(struct xl_ring_tx *tx);

/* The consumer will read no more; the producer's writes get -EPIPE. */
int xl_ring_rx_close(struct xl_ring_rx *rx);

/* Stream offset of the next byte the producer will write. */
uint64_t xl_ring_tx_offset(const struct xl_ring_tx *tx);

/*
 * Has the producer opened the ring? 1 (and *start_off: where its ring
 * stream starts) if so, 0 if not yet, -EPROTO if the ring is broken.
 */
int xl_ring_rx_started(struct xl_ring_rx *rx, uint64_t *start_off);

/* Stream offset of the next byte the consumer will read. */
uint64_t xl_ring_rx_offset(const struct xl_ring_rx *rx);

/*
 * Stream offset up to which the consumer has confirmed receipt (from the
 * last validated consumer index): bytes before it are safe to forget;
 * bytes from it to xl_ring_tx_offset() must be resent if the ring is lost.
 */
uint64_t xl_ring_tx_acked(const struct xl_ring_tx *tx);

/*
 * The bytes from xl_ring_tx_acked() on, as they stand in the ring (the
 * consumer index read once more and validated): up to two pieces, the
 * second empty unless they wrap. Returns their count, -EPIPE (the
 * consumer closed its end) or -EPROTO.
 */
ssize_t xl_ring_tx_unacked(struct xl_ring_tx *tx, struct iovec iov[2]);

/*
 * The consumer asked for the rest by TCP (xl_ring_write() returned
 * -EXDEV): publish LEFT with end_off at what it consumed, and give the
 * bytes from there (as xl_ring_tx_unacked()). Returns their count, or
 * -errno (-EPROTO: the consumer's index makes no sense).
 */
ssize_t xl_ring_tx_answer_back(struct xl_ring_tx *tx, struct iovec iov[2]);

/*
 * Did the consumer ask for the rest by TCP? Looks once (acquire); a
 * producer that already ended its ring says no.
 */
bool xl_ring_tx_peer_back(struct xl_ring_tx *tx);

/*
 * Read no more of this ring: publish our index, then CONS_BACK (ring.md
 * §5, protocol.md §5.1), then look at the producer's state once. Works on
 * a ring found broken too (only our own private index is used).
 * Returns 1: everything after what we consumed comes by TCP; 0: the
 * producer left first and the ring holds the rest up to its end_off (read
 * it, then TCP); -EPROTO: it left first and the ring is broken, or its
 * end_off is a lie: the bytes between are lost.
 */
int xl_ring_rx_back(struct xl_ring_rx *rx);

/* True once the consumer of this direction has attached (a hint from the
 * peer: a lie only moves the stream onto a ring nobody reads, which the
 * layer above notices like any dead peer). */
bool xl_ring_tx_peer_attached(const struct xl_ring_tx *tx);

#endif /* XL_RING_H */
