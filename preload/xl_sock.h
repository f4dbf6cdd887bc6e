/* SPDX-License-Identifier: MIT */
/*
 * The library's state of one tracked TCP socket, and the operations the
 * hook files share: life cycle (xl_sock.c), the data path with the
 * switch-over of docs/protocol.md §3 (xl_stream.c), and readiness for
 * poll/select/epoll (xl_ready.c).
 *
 * A socket is tracked from the moment it is a connected (or connecting)
 * AF_INET/AF_INET6 TCP socket and a daemon took its registration. It stays
 * a real kernel socket under the same fd throughout: the ring is an
 * accelerator attached to it.
 *
 * Locking: conn->rx_lock serialises the receivers of a socket, tx_lock
 * its senders (a channel direction has one consumer and one producer),
 * threads and processes alike. The readiness code takes neither: it only
 * reads shared ring indices and flags, so a thread blocked in a read never
 * blocks a poll.
 */
#ifndef XL_SOCK_H
#define XL_SOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "xenloop/ctl.h"
#include "xl_chan.h"

enum xl_sock_state {
	XL_SOCK_CONNECTING = 1,	/* nonblocking connect() in flight */
	XL_SOCK_PENDING,	/* registered; no answer from the daemon yet */
	XL_SOCK_CHAN,		/* a channel is attached */
	XL_SOCK_PLAIN,		/* kernel TCP for good: pass everything */
	XL_SOCK_CLAIM,		/* shared by fork() while waiting: the kernel's
				 * until one process holds it alone and
				 * claims its channel (protocol.md §4.1) */
};

#define XL_SOCK_ZOMBIES	4

/*
 * The state of the stream itself, one per connection whatever the number
 * of processes that hold the socket: it lives in memory of its own
 * (MAP_SHARED | MAP_ANONYMOUS) that fork() shares instead of copying, so
 * a parent and a child that both use an inherited socket share its ring
 * indices, counts and locks (process-shared and robust: a process that
 * dies holding one does not block the others), and the stream stays one
 * stream, as the kernel's does.
 */
struct xl_conn {
	_Atomic int procs;	/* processes holding the socket */
	_Atomic bool broken;	/* the ring broke: the connection is reset */
	_Atomic bool shut_rd, shut_wr;

	pthread_mutex_t rx_lock;
	_Atomic uint64_t tcp_rx, ring_rx;
	_Atomic bool rx_ring;	/* TCP part consumed: ring only */
	bool rx_tcp_only;	/* the peer can no longer start its ring */
	bool rx_ring_dead;	/* ring drained, peer gone or left it: kernel */
	int rx_kern_err;	/* kernel error kept until the ring is drained */
	bool rx_reset_told;	/* the peer's reset was reported once */

	pthread_mutex_t tx_lock;
	_Atomic uint64_t tcp_tx, ring_tx;
	_Atomic bool tx_ring;	/* our direction moved onto the ring */
	/* tcp_tx and tcp_rx when the direction first moved onto a ring
	 * (UINT64_MAX: not yet): what went by TCP before its ring could */
	_Atomic uint64_t tx_before, rx_before;
	bool tx_closed;		/* ring end of stream published */
	bool tx_reset_told;	/* the peer's reset was reported once */
	bool tx_gone_seen;	/* the peer's vanishing was looked into */
	_Atomic bool tx_left;	/* back on TCP for good (the peer exec()ed) */
	_Atomic uint64_t tx_resend;	/* ring bytes still to send by TCP
					 * (they end at chan.tx.prod) */

	/* leaving the ring while both ends live (protocol.md §5.1) */
	_Atomic bool drop_req;	/* the daemon said DROP */
	bool rx_back;		/* we published BACK (rx_lock) */
	uint64_t rx_back_ns;	/* when: a switch ends at the next TCP byte */
	_Atomic uint32_t switches[XL_SWITCH_MAX];
	uint32_t switch_mark;	/* switches off counted at the last coming
				 * back (protocol.md §5.3) */
	uint32_t switch_base[XL_SWITCH_REATTACH];	/* those of earlier
				 * registrations (xl_daemon_link.c) */

	/* xl_sock.chan points to one once attached; coming back onto a new
	 * ring attaches it in the other (protocol.md §5.3) */
	struct xl_chan chans[2];
};

/*
 * Whole-stream offsets of a direction: all it moved by either path. A
 * ring's start_off is one of these (protocol.md §5.3: a connection may
 * move onto a ring again after it left one); at the first switch the
 * ring's share is 0 and they are the kernel's counts. The sender's is
 * exact when no resend is left (a resend is taken out of ring_tx at once
 * and added to tcp_tx as it goes).
 */
static inline uint64_t xl_conn_tx_off(struct xl_conn *c)
{
	return atomic_load(&c->tcp_tx) + atomic_load(&c->ring_tx);
}

static inline uint64_t xl_conn_rx_off(struct xl_conn *c)
{
	return atomic_load(&c->tcp_rx) + atomic_load(&c->ring_rx);
}

/* Take a lock of a struct xl_conn (one its holder's death left is
 * taken over as it stands); the try variant says whether it did. */
void xl_conn_lock(pthread_mutex_t *m);
bool xl_conn_trylock(pthread_mutex_t *m);

struct xl_sock {
	_Atomic int refcnt;	/* fd entries + calls in progress; 0: free */
	_Atomic int nfds;	/* fd table entries */
	_Atomic int nep;	/* epoll registrations (xl_epoll.c) */
	_Atomic int state;	/* enum xl_sock_state */
	struct xl_chan *_Atomic chan;	/* set once, before state CHAN */
	_Atomic bool closed;	/* the application closed its last fd */
	_Atomic bool nonblock;	/* O_NONBLOCK of the open file */
	_Atomic bool forked;	/* was waiting for its channel at fork() */
	_Atomic bool claimed;	/* XL_SOCK_CLAIM: this process claimed it */
	bool exec_kept, exec_dropped;	/* xl_exec.c, during an exec */
	bool shared;		/* conn was shared by a fork() (sock mutex) */
	_Atomic int rcvtimeo_ms, sndtimeo_ms;	/* 0: none */
	_Atomic int rcvlowat;	/* SO_RCVLOWAT; 0 or 1: any byte */
	struct xl_conn *conn;	/* the stream's state, MAP_SHARED */

	uint64_t cookie;	/* the registration; 0 before */
	uint64_t reg_at_ns;	/* PENDING without a cookie: register at the
				 * first data call from then on */
	_Atomic bool reg_taken;	/* one thread registers a deferred socket */
	_Atomic uint32_t calls;	/* data calls while deferred */
	_Atomic int passthru;	/* calls going straight to the kernel while
				 * it is not registered (xl_io.c) */
	uint32_t role;		/* enum xl_ctl_role */
	struct xl_ctl_addr local, remote;
	bool in_pending;	/* on the link's pending list (link mutex) */
	struct xl_sock *pend_next;
	bool reg_unsent;	/* its REGISTER waits for room (link mutex) */
	struct xl_sock *unsent_next;
	uint64_t link_gen;	/* link connection that took the registration */

	/* coming back onto a new ring (protocol.md §5.3, xl_stream.c) */
	_Atomic bool reattaching;	/* its REGISTER waits for an answer */
	_Atomic bool tx_hold;	/* the old ring is not to be opened */
	struct xl_chan *_Atomic next_chan;	/* attached, to swap in */
	struct xl_chan *retired;	/* swapped out, freed when unused */
	uint64_t reattach_since;	/* ns: done with its ring since */
	uint32_t switch_prev[XL_SWITCH_REATTACH];	/* switch_base before */
	_Atomic int ep_hold[2];	/* epoll entries holding chans[i]'s fds */

	_Atomic uint64_t next_stats_ns;
	_Atomic uint32_t ops;

	/* fd numbers kept busy with a placeholder until the last call in
	 * progress on them returns (close from another thread) */
	int zombie[XL_SOCK_ZOMBIES];
	int nzombie;

	struct xl_sock *all_next, *all_prev;	/* every live socket */
	struct xl_sock *free_next;
	struct xl_sock *exit_next;	/* xl_sock_exit_counts() */
	struct xl_sock *evac_next;	/* xl_sock_evacuate_fd() */
};

/* ---- life cycle (xl_sock.c) ---- */

/* A fresh socket state with one reference (the caller's). */
struct xl_sock *xl_sock_new(void);

/* Take a reference unless the state is being freed. */
bool xl_sock_tryget(struct xl_sock *s);
void xl_sock_put(struct xl_sock *s);

/* The tracked, not-PLAIN socket behind fd with a reference, or NULL. */
struct xl_sock *xl_sock_get(int fd);

/* Enter fd -> s in the table (takes a reference and counts an fd). */
int xl_sock_add_fd(int fd, struct xl_sock *s);

/* The application closes fd (real close included). Returns 0 or -errno
 * of the real close. */
int xl_sock_close_fd(int fd);

/* The program takes number fd (dup2 onto it): if it is a placeholder of
 * ours, it is the program's now. */
void xl_sock_claim_fd(int fd);

/* dup2()/dup3() put another file at fd: forget what fd was. */
void xl_sock_replaced_fd(int fd);

/* Make the socket TCP for good (daemon said NOCHAN, or cannot ask). */
void xl_sock_make_plain(struct xl_sock *s);

/* A socket shared by fork() before its channel came: claim the channel
 * once this process holds it alone. */
void xl_sock_try_claim(struct xl_sock *s, int fd);

/* A connecting socket: if connect() has completed, register it. */
void xl_sock_settle(struct xl_sock *s, int fd);

/*
 * A PENDING socket not registered yet (XENLOOP_REGISTER_DELAY_US): send
 * its registration if it is old enough (now: whatever its age). Costs a
 * clock read while it waits, nothing once registered.
 */
void xl_sock_register_due(struct xl_sock *s, int fd, bool now);

/*
 * A connected TCP socket fd (from connect() or accept()): start tracking
 * it if the library is on and a daemon takes the registration. nonblock is
 * the file's O_NONBLOCK as far as known (it is read again when the socket
 * registers), connecting true for a connect() in flight.
 */
void xl_sock_adopt(int fd, uint32_t role, bool nonblock, bool connecting);

/* The daemon said DROP for cookie: the socket leaves its ring at its
 * next call (protocol.md §5.2); a sleeper in one is woken. */
void xl_sock_drop(uint64_t cookie);

/* Install the channel a CHAN message gave (called by the link). */
void xl_sock_attach(struct xl_sock *s, struct xl_chan *ch);

/* The socket's SO_RCVLOWAT as the kernel keeps it (0 if unknown). */
int xl_sock_rcvlowat(int fd);

/* Send STATS if a second went by since the last ones. */
void xl_sock_tick(struct xl_sock *s);

/* The process ends: send STATS for every socket still open, so that the
 * daemon has the last counts when the kernel closes them. */
void xl_sock_exit_counts(void);

/* At exit: sockets left open with unread ring bytes will reset. */
void xl_sock_exit_unread(void);

/* Fill c with the byte counts so far. */
void xl_sock_counts(struct xl_sock *s, struct xl_ctl_counts *c);
/* The counts, and of them the bytes before each direction's first ring,
 * into a STATS, CLOSE or adopting REGISTER. */
void xl_sock_counts_msg(struct xl_sock *s, struct xl_ctl_msg *msg);

/* ---- data path (xl_stream.c) ---- */

/*
 * Receive into msg (its iov; name and control are the caller's) with
 * MSG_* flags. Returns a count, 0 at end of stream, or -errno. *sigpipe is
 * not used on receive. msg->msg_flags is set.
 */
ssize_t xl_stream_recv(struct xl_sock *s, int fd, struct msghdr *msg,
		       int flags);

/* Internal send flag: block until all is in the ring, whatever
 * O_NONBLOCK says (never passed to the kernel). */
#define XL_MSG_BLOCK	0x10000000

/* Send msg's iov with MSG_* flags; raises SIGPIPE as the kernel would. */
ssize_t xl_stream_send(struct xl_sock *s, int fd, const struct msghdr *msg,
		       int flags);

/*
 * Run fn(fd, arg), a kernel send that returns a count or -errno, if our
 * direction is on TCP and stays there for the call (tx_lock held, tcp_tx
 * counted). -EXDEV: it is (or would go) on the ring; emulate instead.
 */
ssize_t xl_stream_kernel_tx(struct xl_sock *s,
			    ssize_t (*fn)(int fd, void *arg), int fd, void *arg);

/* Free room in our ring (SIZE_MAX: not on a ring). A hint. */
size_t xl_stream_tx_room(struct xl_sock *s);

/* shutdown() of a tracked socket. */
int xl_stream_shutdown(struct xl_sock *s, int fd, int how);

/* FIONREAD: bytes readable without blocking. */
int xl_stream_inq(struct xl_sock *s, int fd, int *out);

/* SIOCOUTQ: bytes sent but not yet read by the peer. */
int xl_stream_outq(struct xl_sock *s, int fd, int *out);

/* The end of a channel at the last close (no call in progress). */
void xl_stream_finish(struct xl_sock *s);

/* The same, the part that needs the kernel socket (fd, still open): our
 * end of the ring stream, or what a peer that left the ring is owed by
 * TCP before the FIN. Only the last process holding the socket acts. */
void xl_stream_close(struct xl_sock *s, int fd);

/* Does the ring hold bytes the application never read? Its close is then
 * a reset, as the kernel makes it with unread bytes in its queue. */
bool xl_stream_unread(struct xl_sock *s);

/*
 * This process exec()s with the socket (not close-on-exec): the new
 * program reads and writes the kernel socket only, knowing nothing of
 * the ring. The connection goes back to TCP for good, both ways, for
 * every process that holds it: our direction leaves the ring at its end,
 * and the peer, seeing us gone, sends again what we never consumed.
 */
void xl_stream_exec_leave(struct xl_sock *s, int fd);

/* What a socket that let go of its ring still owes its program: bytes
 * read from the ring for it, then a kernel error (errno) to tell once. */
struct xl_owed {
	uint8_t *buf;
	size_t len;
	int err;
};

/*
 * The program is about to sandbox itself (xl_letgo.c): both directions of
 * s leave their ring for good at exact offsets, while the library may
 * still make any call. Our sending side's ring ends at all it published
 * (a BACK of the peer's is answered, its resend done now); our receiving
 * side publishes BACK, so that the peer sends by TCP what we did not
 * read. If the peer ended its ring first, the ring holds bytes before
 * the kernel's: they are read into *owed (malloc'd) for the program.
 * Returns 0, or -ECONNRESET: the stream cannot be kept whole.
 */
int xl_stream_let_go(struct xl_sock *s, int fd, struct xl_owed *owed);

/*
 * Coming back onto a new ring (protocol.md §5.3; XENLOOP_REATTACH_MS):
 * at a call on the socket, with a reference and no lock held. Frees a
 * retired channel nothing uses any more, swaps in a channel that came,
 * and asks for one once the socket is done with its ring for long enough.
 */
void xl_stream_reattach_step(struct xl_sock *s);

/* The last close (or the last holder of a fork()ed socket lets go): the
 * channels besides the current one go too (last) or are forgotten. */
void xl_stream_reattach_end(struct xl_sock *s, bool last);

/* Which of the conn's slots ch is; the count of epoll entries holding its
 * fds moves by d (xl_epoll.c). */
static inline void xl_sock_chan_hold(struct xl_sock *s, struct xl_chan *ch,
				     int d)
{
	atomic_fetch_add(&s->ep_hold[ch == &s->conn->chans[1]], d);
}

/* ---- readiness (xl_ready.c) ---- */

/* What the ring says, and which kernel events still matter. */
struct xl_ready {
	bool in;		/* readable through the ring (or its end) */
	bool out;		/* writable through the ring */
	bool kern_in;		/* POLLIN of the kernel socket counts */
	bool kern_out;		/* POLLOUT of the kernel socket counts */
	bool wait_data;		/* sleeping needs the ring's data kick */
	bool wait_space;	/* sleeping needs the ring's space kick */
	bool link;		/* pending: the daemon link may change it */
};

void xl_ready_get(struct xl_sock *s, struct xl_ready *r);

/*
 * Before sleeping on the fds of xl_ready_pollfds(): announce the sleep on
 * the rings (want flags) and look again. Returns false if the socket
 * became ready meanwhile (do not sleep).
 */
bool xl_ready_announce(struct xl_sock *s, bool in, bool out);

/*
 * Ask for every kick of the rings that carry in/out, whether the socket is
 * ready or not (an edge-triggered waiter hears of the next byte or room
 * even while it is ready). The caller looks at the rings again after.
 */
void xl_ready_want(struct xl_sock *s, bool in, bool out);

/* The channel fds to sleep on for the waits the caller announced (in:
 * data, out: space), groups of two; returns how many (max >= 4). */
int xl_ready_pollfds(struct xl_sock *s, bool in, bool out,
		     struct pollfd *pfd, int max);

/* Consume the kicks that woke us (pfd/n as xl_ready_pollfds filled them,
 * revents from poll; NULL: all). */
void xl_ready_ack(struct xl_sock *s, const struct pollfd *pfd, int n);

/* ---- the library's own fds ---- */

/* Where channels keep their fds in this process: high numbers, protected
 * from the program's close() (see xl_close.c). */
extern const struct xl_fd_keeper xl_chan_fd_keeper;

/* The program wants number fd: a channel that holds it moves away. */
void xl_sock_evacuate_fd(int fd);

/* ---- all sockets (fork) ---- */
void xl_sock_foreach(void (*fn)(struct xl_sock *s, void *arg), void *arg);

#endif /* XL_SOCK_H */
