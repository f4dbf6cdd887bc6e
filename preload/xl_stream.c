/* SPDX-License-Identifier: MIT */
/*
 * The data path of a tracked socket: where each byte goes and comes from,
 * and the switch-over of docs/protocol.md §3.
 *
 * How this works
 *
 * Each direction counts the payload that went through the kernel socket
 * (tcp_tx, tcp_rx). Sending: through the kernel until the peer has
 * attached as the consumer of our ring; then the ring is opened at
 * start_off = tcp_tx (+ ring_tx: whole-stream offsets, protocol.md §5.3)
 * and every later byte goes there. tx_lock makes the switch atomic with
 * respect to our own sends, so no kernel send is in flight when the ring
 * takes over.
 *
 * Receiving: through the kernel until the peer's ring has started, and
 * then only up to its start_off; from tcp_rx (+ ring_rx) == start_off on,
 * the ring only. The peer writes nothing to the kernel socket after opening its
 * ring, so the bytes the kernel still holds are exactly those before
 * start_off, in order. When the ring is drained and its peer gone, the
 * kernel socket has the last word (0 for a FIN, ECONNRESET for a reset),
 * as it would have without us.
 *
 * Blocking: a call that must wait never blocks in the kernel on a socket
 * whose peer could move onto the ring (the bytes would come where we do
 * not look). It polls the kernel socket together with the channel's
 * notification (after announcing itself on the ring) and, while the socket
 * waits for the daemon's answer, the daemon link, in bounded slices; every
 * slice it also looks at whether the socket was closed under it. Pure-ring
 * waits are the channel's own (spin, then sleep).
 */
#include "config.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "xl_barrier.h"
#include "xl_daemon_link.h"
#include "xl_epoll.h"
#include "xl_preload.h"
#include "xl_sock.h"

/* Longest sleep before a blocked call looks at its socket again. */
#define XL_SLICE_MS		1000
/* ... while the daemon may attach a channel from another thread. */
#define XL_PENDING_SLICE_MS	10
/* ... and for the other holder of a socket shared by fork() to let go */
#define XL_CLAIM_SLICE_MS	50
/* iovec pieces copied on the stack; larger arrays are allocated. */
#define XL_IOV_STACK		16

enum xl_rx_where {
	XL_RX_TCP,
	XL_RX_RING,
};

/* A private, advanceable copy of an iovec array. */
struct xl_iovs {
	struct iovec *iov;
	int cnt;
	struct iovec *heap;
	struct iovec stack[XL_IOV_STACK];
};

static size_t xl_iov_total(const struct iovec *iov, size_t cnt)
{
	size_t total = 0, i;

	for (i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	return total;
}

static int xl_iovs_init(struct xl_iovs *v, const struct iovec *iov,
			size_t cnt)
{
	if (cnt > IOV_MAX)
		return -EINVAL;
	v->heap = NULL;
	v->iov = v->stack;
	if (cnt > XL_IOV_STACK) {
		v->heap = malloc(cnt * sizeof(*iov));
		if (!v->heap)
			return -ENOMEM;
		v->iov = v->heap;
	}
	if (cnt)
		memcpy(v->iov, iov, cnt * sizeof(*iov));
	v->cnt = (int)cnt;
	return 0;
}

static void xl_iovs_advance(struct xl_iovs *v, size_t n)
{
	while (v->cnt > 0 && n >= v->iov->iov_len) {
		n -= v->iov->iov_len;
		v->iov++;
		v->cnt--;
	}
	if (v->cnt > 0 && n) {
		v->iov->iov_base = (char *)v->iov->iov_base + n;
		v->iov->iov_len -= n;
	}
}

static void xl_iovs_free(struct xl_iovs *v)
{
	free(v->heap);
}

static void xl_add(_Atomic uint64_t *counter, uint64_t n)
{
	/* one writer (under the direction's lock): no read-modify-write */
	atomic_store_explicit(counter, atomic_load_explicit(counter,
			      memory_order_relaxed) + n, memory_order_relaxed);
}

/* Absolute deadline of a timeout in ms (0: none). */
static uint64_t xl_deadline(int timeo_ms)
{
	return timeo_ms > 0 ? xl_now_ns() + (uint64_t)timeo_ms * 1000000 :
			      UINT64_MAX;
}

/* The next slice to sleep: at most cap ms and what is left; 0 if the
 * deadline passed. */
static int xl_slice(uint64_t deadline, int cap)
{
	uint64_t now, left;

	if (deadline == UINT64_MAX)
		return cap;
	now = xl_now_ns();
	if (now >= deadline)
		return 0;
	left = (deadline - now + 999999) / 1000000;
	return left < (uint64_t)cap ? (int)left : cap;
}

/* A private index of the thread that owns it, read from another: a hint,
 * as in xl_ready.c. */
#define XL_PRIV(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)

/*
 * Did the peer drop bytes of ours unread: did it close its end of our
 * ring, or die, before consuming all we wrote? The kernel would have got
 * a reset from it then (tcp_close() with unread data), not a FIN.
 */
static bool xl_peer_dropped(struct xl_sock *s, struct xl_chan *ch)
{
	uint32_t cons, st;

	if (!atomic_load(&s->conn->tx_ring))
		return false;
	cons = xl_load_acquire(&ch->tx.sh->c.cons);
	st = XL_READ_ONCE(ch->tx.sh->c.state);
	/* BACK is no drop: the bytes it did not read come again by TCP */
	return cons != XL_PRIV(ch->tx.prod) &&
	       ((st != XL_WIRE_CONS_OPEN && st != XL_WIRE_CONS_BACK) ||
		!xl_chan_peer_live(ch));
}

/*
 * Our domain was restored under the channel (xl_chan_voided): what the
 * rings held is lost both ways, and neither a resend nor an end of stream
 * would be the truth. The connection is reset, as the kernel would report
 * a peer that dropped it.
 */
static bool xl_voided(struct xl_sock *s, struct xl_chan *ch)
{
	if (!ch || !xl_chan_voided(ch))
		return false;
	if (!atomic_exchange(&s->conn->broken, true))
		XL_WARN("cookie %llu: our domain was restored under the ring; "
			"resetting", (unsigned long long)s->cookie);
	return true;
}

/* After -EINTR from a wait with nothing done: restart or report it. The
 * kernel never restarts a socket call whose direction has a timeout
 * (SO_RCVTIMEO, SO_SNDTIMEO: signal(7)). */
static int xl_on_eintr(int timeo_ms)
{
	return !timeo_ms && xl_restart_after_signal() ? 0 : -EINTR;
}

/* Our direction is the kernel's from now on, for good; caller holds
 * tx_lock. */
static void xl_tx_to_tcp(struct xl_conn *c)
{
	atomic_store(&c->tx_left, true);
	atomic_store_explicit(&c->tx_ring, false, memory_order_release);
}

/* ---- a peer that exec()ed: its image gone, its connection alive ---- */

/* How long a vanished peer's kernel socket gets to show its end: a
 * process that dies sends its FIN (or reset) as its channel hangs up. */
#define XL_GONE_GRACE_MS	100

/* Does the kernel connection outlive the peer's side of the channel (a
 * program that exec()ed keeps the socket, and says nothing)? */
static bool xl_kernel_lives(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };
	int n;

	xl_lib_enter();
	n = real.poll(&p, 1, XL_GONE_GRACE_MS);
	xl_lib_leave();
	return n == 0;
}

/* Write all of v to the kernel socket, waiting as a blocking send does
 * (SO_SNDTIMEO bounds it). Returns 0 or -errno. */
static int xl_tcp_send_all(struct xl_sock *s, int fd, struct xl_iovs *v)
{
	uint64_t deadline = xl_deadline(atomic_load(&s->sndtimeo_ms));
	struct msghdr m = { 0 };
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	ssize_t n;
	int slice;

	/* empty pieces (nothing unread to send again) are no bytes to wait
	 * for: a send of none returns 0, and this loop would never end */
	xl_iovs_advance(v, 0);
	while (v->cnt > 0) {
		m.msg_iov = v->iov;
		m.msg_iovlen = (size_t)v->cnt;
		n = real.sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			xl_add(&s->conn->tcp_tx, (uint64_t)n);
			xl_iovs_advance(v, (size_t)n);
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		slice = xl_slice(deadline, XL_SLICE_MS);
		if (!slice)
			return -EAGAIN;
		xl_lib_enter();
		real.poll(&p, 1, slice);
		xl_lib_leave();
	}
	return 0;
}

/*
 * Our direction is on the ring and its consumer vanished without closing
 * its end. If the kernel connection lives on (the peer exec()ed: its new
 * image reads the kernel socket and knows nothing of the ring), the
 * direction goes back to TCP for good at the consumer's last byte: what
 * it never read goes again through the kernel (the ring still holds it),
 * then every later byte (ARCHITECTURE invariant 1). Caller holds tx_lock.
 * Returns true if the direction is on TCP now; false leaves it as it was
 * (a peer that died: its end is reported as before).
 */
static bool xl_tx_fall_back(struct xl_sock *s, struct xl_chan *ch, int fd)
{
	struct xl_conn *c = s->conn;
	struct iovec iov[2];
	struct xl_iovs v;
	ssize_t n;
	int ret;

	/* void first: the ring may not be there to read */
	if (!ch || !atomic_load(&c->tx_ring) || c->tx_closed ||
	    c->tx_gone_seen || xl_voided(s, ch) || xl_chan_peer_live(ch))
		return false;
	c->tx_gone_seen = true;
	if (XL_READ_ONCE(ch->tx.sh->c.state) != XL_WIRE_CONS_OPEN ||
	    !xl_kernel_lives(fd))
		return false;
	xl_lib_enter();
	n = xl_chan_tx_unacked(ch, iov);
	xl_lib_leave();
	if (n < 0 || xl_iovs_init(&v, iov, iov[1].iov_len ? 2 : 1) < 0)
		return false;
	XL_INFO("cookie %llu: the peer's side of the channel went, its "
		"connection did not: %zd unread bytes again and all that "
		"follows through TCP", (unsigned long long)s->cookie, n);
	ret = xl_tcp_send_all(s, fd, &v);
	xl_iovs_free(&v);
	if (ret < 0) {
		/* part of the stream may be missing: as a fatal error would */
		atomic_store(&c->broken, true);
		return false;
	}
	xl_tx_to_tcp(c);
	return true;
}

/* The same from a receiver or a readiness check: whoever holds tx_lock
 * (a sender woken by the same hang-up) does it otherwise. */
static void xl_tx_fall_back_try(struct xl_sock *s, struct xl_chan *ch, int fd)
{
	/* the cheap part of xl_tx_fall_back()'s test first: this runs at
	 * every turn of a receive */
	if (!ch || !atomic_load(&s->conn->tx_ring) ||
	    XL_PRIV(s->conn->tx_gone_seen) || xl_chan_peer_live(ch) ||
	    !xl_conn_trylock(&s->conn->tx_lock))
		return;
	xl_tx_fall_back(s, ch, fd);
	pthread_mutex_unlock(&s->conn->tx_lock);
}

/* ---- leaving the ring while both ends live (protocol.md §5.1) ---- */

/* XENLOOP_TEST_SWITCH_LOG: how long a switch kept the reader waiting,
 * from our BACK to the first byte from TCP (tests read it). */
static void xl_switch_note(struct xl_sock *s, uint64_t ns)
{
	char line[32];
	int fd, len;

	(void)s;
	if (!xl_cfg.test_switch_log[0])
		return;
	len = snprintf(line, sizeof(line), "%llu\n", (unsigned long long)ns);
	xl_lib_enter();
	fd = open(xl_cfg.test_switch_log,
		  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (real.write(fd, line, (size_t)len) < 0)
			XL_DBG("switch log: %s", strerror(errno));
		real.close(fd);
	}
	xl_lib_leave();
}

/* cause < 0: not a switch (the peer closed its socket), not counted */
static void xl_switch_count(struct xl_conn *c, int cause)
{
	if (cause >= 0)
		atomic_fetch_add(&c->switches[cause], 1);
}

/* How long a close waits for the kernel to take a resend: a kernel close
 * never blocks, and a peer that closes too may not read. */
#define XL_CLOSE_RESEND_MS	2000

/*
 * Send by TCP what is left of a resend: the ring bytes the peer never
 * consumed, which end at our producer index (the ring is ours alone
 * now). Waits only if block, as a blocking send does (SO_SNDTIMEO), or
 * at most cap_ms if that is not 0. Caller holds tx_lock. Returns 0 when
 * all went, -EAGAIN, or -ECONNRESET (the stream is broken).
 */
static int xl_tx_resend_for(struct xl_sock *s, struct xl_chan *ch, int fd,
			    bool block, int cap_ms)
{
	uint64_t deadline = xl_deadline(cap_ms ? cap_ms :
					atomic_load(&s->sndtimeo_ms));
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	struct xl_conn *c = s->conn;
	uint64_t left = atomic_load(&c->tx_resend);
	struct msghdr m = { 0 };
	struct iovec iov[2];
	uint32_t at, first;
	ssize_t n;
	int slice;

	while (left) {
		at = (ch->tx.prod - (uint32_t)left) & (ch->tx.size - 1);
		first = left < ch->tx.size - at ? (uint32_t)left :
						   ch->tx.size - at;
		iov[0] = (struct iovec){ ch->tx.data + at, first };
		iov[1] = (struct iovec){ ch->tx.data, (size_t)left - first };
		m.msg_iov = iov;
		m.msg_iovlen = iov[1].iov_len ? 2 : 1;
		n = real.sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			left -= (uint64_t)n;
			atomic_store(&c->tx_resend, left);
			xl_add(&c->tcp_tx, (uint64_t)n);
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			XL_WARN("cookie %llu: resending through TCP: %s",
				(unsigned long long)s->cookie, strerror(errno));
			atomic_store(&c->broken, true);
			return -ECONNRESET;
		}
		slice = block ? xl_slice(deadline, XL_SLICE_MS) : 0;
		if (!slice)
			return -EAGAIN;
		xl_lib_enter();
		real.poll(&p, 1, slice);
		xl_lib_leave();
	}
	return 0;
}

static int xl_tx_resend(struct xl_sock *s, struct xl_chan *ch, int fd,
			bool block)
{
	return xl_tx_resend_for(s, ch, fd, block, 0);
}

/*
 * The consumer of our ring asked for the rest by TCP (BACK): our ring
 * stream ends where it stopped (LEFT at that offset), and what it never
 * read goes by TCP before any later byte. Caller holds tx_lock. Returns
 * true if our direction is on TCP now.
 */
static bool xl_tx_answer_back(struct xl_sock *s, struct xl_chan *ch, int fd,
			      int cause)
{
	struct xl_conn *c = s->conn;
	struct iovec iov[2];
	ssize_t n;

	xl_lib_enter();
	n = xl_chan_tx_answer_back(ch, iov);
	xl_lib_leave();
	if (n == -EAGAIN || n == -ESHUTDOWN)
		return false;
	if (n < 0) {
		/* it lied about its index: what it read is unknown */
		XL_WARN("cookie %llu: the peer asked for TCP with a bad "
			"index; resetting", (unsigned long long)s->cookie);
		atomic_store(&c->broken, true);
		return false;
	}
	XL_INFO("cookie %llu: the peer leaves our ring; %zd unread bytes "
		"again and all that follows through TCP",
		(unsigned long long)s->cookie, n);
	/* they did not go through the ring after all */
	atomic_store(&c->ring_tx, atomic_load(&c->ring_tx) - (uint64_t)n);
	atomic_store(&c->tx_resend, (uint64_t)n);
	c->tx_closed = true;
	xl_tx_to_tcp(c);
	xl_switch_count(c, cause);
	xl_tx_resend(s, ch, fd, false);
	return true;
}

/*
 * Our direction leaves the ring at all we published (LEFT): the peer
 * reads it to there, then TCP. If the peer asked first (BACK), that is
 * answered instead. Caller holds tx_lock.
 */
static void xl_tx_leave_now(struct xl_sock *s, struct xl_chan *ch, int fd,
			    int cause)
{
	int ret;

	if (!atomic_load(&s->conn->tx_ring) || s->conn->tx_closed)
		return;
	xl_lib_enter();
	ret = xl_chan_tx_leave(ch);
	xl_lib_leave();
	if (ret == -EXDEV) {
		xl_tx_answer_back(s, ch, fd, cause);
		return;
	}
	if (ret < 0) {
		atomic_store(&s->conn->broken, true);
		return;
	}
	XL_DBG("cookie %llu: sending on TCP again from offset %llu",
	       (unsigned long long)s->cookie,
	       (unsigned long long)xl_conn_tx_off(s->conn));
	s->conn->tx_closed = true;
	xl_tx_to_tcp(s->conn);
	xl_switch_count(s->conn, cause);
}

/* The sending side's part, from anywhere: a BACK to answer, a DROP to
 * carry out, a resend to go on with. Caller holds tx_lock. */
static void xl_tx_housekeep(struct xl_sock *s, struct xl_chan *ch, int fd)
{
	if (!ch)
		return;
	if (atomic_load(&s->conn->tx_ring) && xl_chan_tx_peer_back(ch))
		xl_tx_answer_back(s, ch, fd, XL_SWITCH_PEER);
	if (atomic_load(&s->conn->drop_req))
		xl_tx_leave_now(s, ch, fd, XL_SWITCH_DROP);
	if (atomic_load(&s->conn->tx_resend))
		xl_tx_resend(s, ch, fd, false);
}

/* The same from a receiver or a readiness check: whoever holds tx_lock
 * does it otherwise. */
static void xl_tx_housekeep_try(struct xl_sock *s, struct xl_chan *ch, int fd)
{
	struct xl_conn *c = s->conn;

	if (!ch || !(atomic_load(&c->tx_resend) ||
		     (atomic_load(&c->tx_ring) &&
		      (atomic_load(&c->drop_req) || xl_chan_tx_peer_back(ch)))))
		return;
	if (!xl_conn_trylock(&c->tx_lock))
		return;
	xl_tx_housekeep(s, ch, fd);
	pthread_mutex_unlock(&c->tx_lock);
}

static bool xl_reattach_swap(struct xl_sock *s, bool take_rx);

/* ---- receiving ---- */

static void xl_rx_break(struct xl_sock *s)
{
	XL_WARN("cookie %llu: the peer broke the ring; resetting",
		(unsigned long long)s->cookie);
	atomic_store(&s->conn->broken, true);
}

/*
 * Our receive direction reads no more of its ring: we publish how far we
 * read (BACK) and the peer sends the rest through TCP (protocol.md §5.1).
 * Caller holds rx_lock. Returns 0 (go on reading: TCP, or first the ring
 * to where the peer ended it) or -ECONNRESET (bytes are lost). A ring
 * found corrupt when that cannot be done any more (it was done already,
 * and the rest of the ring was to be read) is a reset.
 */
static int xl_rx_back(struct xl_sock *s, struct xl_chan *ch, int cause)
{
	struct xl_conn *c = s->conn;
	int r = -EPIPE;

	if (ch && !c->rx_back && !c->rx_ring_dead && !c->rx_tcp_only) {
		xl_lib_enter();
		r = xl_chan_rx_back(ch);
		xl_lib_leave();
	}
	if (r == -EPIPE) {
		if (cause != XL_SWITCH_PROTOCOL)
			return 0;
		xl_rx_break(s);
		return -ECONNRESET;
	}
	c->rx_back = true;
	c->rx_back_ns = xl_now_ns();
	xl_switch_count(c, cause);
	if (r < 0) {
		xl_rx_break(s);
		return -ECONNRESET;
	}
	XL_INFO("cookie %llu: leaving the peer's ring (%s) after %llu bytes",
		(unsigned long long)s->cookie,
		cause == XL_SWITCH_DROP ? "dropped" :
		cause < 0 ? "for a new one" : "corrupt",
		(unsigned long long)xl_ring_rx_offset(&ch->rx));
	if (r == 1) {
		/* all the rest is on TCP, right after what we read */
		c->rx_ring_dead = true;
		atomic_store_explicit(&c->rx_ring, true, memory_order_release);
	}
	return 0;
}

/* A direction's first ring: its TCP bytes so far came before it
 * (statistics only; a later ring, after it left one, changes nothing). */
static void xl_conn_mark_before(_Atomic uint64_t *before, _Atomic uint64_t *tcp)
{
	uint64_t none = UINT64_MAX;

	atomic_compare_exchange_strong(before, &none, atomic_load(tcp));
}

/*
 * Where the next byte comes from; caller holds rx_lock. *limit is how many
 * bytes the kernel may still give (UINT64_MAX: all it has). Returns
 * enum xl_rx_where or -ECONNRESET (the ring broke).
 */
static int xl_rx_where(struct xl_sock *s, struct xl_chan *ch, uint64_t *limit)
{
	uint64_t off = 0, at = xl_conn_rx_off(s->conn);
	int r;

	*limit = UINT64_MAX;
	if (atomic_load_explicit(&s->conn->rx_ring, memory_order_relaxed))
		return s->conn->rx_ring_dead ? XL_RX_TCP : XL_RX_RING;
	if (!ch || s->conn->rx_tcp_only)
		return XL_RX_TCP;
	xl_lib_enter();
	r = xl_chan_rx_started(ch, &off);
	if (r == 0 && !xl_chan_peer_live(ch)) {
		/* gone; it may still have opened just before */
		r = xl_chan_rx_started(ch, &off);
		s->conn->rx_tcp_only = r == 0;
	}
	xl_lib_leave();
	if (r < 0) {
		/* broken before we read any of it: all of it by TCP */
		if (xl_rx_back(s, ch, XL_SWITCH_PROTOCOL) < 0)
			return -ECONNRESET;
		return xl_rx_where(s, ch, limit);
	}
	if (r == 1 && at > off) {
		xl_rx_break(s);
		return -ECONNRESET;
	}
	if (r == 0)
		return XL_RX_TCP;
	if (at == off) {
		xl_conn_mark_before(&s->conn->rx_before, &s->conn->tcp_rx);
		atomic_store_explicit(&s->conn->rx_ring, true, memory_order_release);
		return XL_RX_RING;
	}
	*limit = off - at;
	return XL_RX_TCP;
}

/* One nonblocking kernel receive of at most limit bytes. */
static ssize_t xl_rx_tcp(struct xl_sock *s, int fd, struct msghdr *app,
			 struct xl_iovs *v, int flags, uint64_t limit)
{
	struct msghdr m = *app;
	struct iovec one;
	ssize_t n;

	m.msg_iov = v->iov;
	m.msg_iovlen = (size_t)v->cnt;
	if (limit < xl_iov_total(v->iov, (size_t)v->cnt)) {
		/* only the bytes from before the switch: a short read */
		one = v->iov[0];
		if (one.iov_len > limit)
			one.iov_len = (size_t)limit;
		m.msg_iov = &one;
		m.msg_iovlen = 1;
	}
	n = real.recvmsg(fd, &m, flags | MSG_DONTWAIT);
	if (n < 0)
		return -errno;
	app->msg_namelen = m.msg_namelen;
	app->msg_controllen = m.msg_controllen;
	app->msg_flags = m.msg_flags;
	if (!(flags & MSG_PEEK))
		xl_add(&s->conn->tcp_rx, (uint64_t)n);
	return n;
}

/*
 * A socket waiting for its channel also wakes for the daemon's answer:
 * the link's fd joins pfd (after its n entries, room for one more) and
 * the sleep is cut to a slice. Returns the new count.
 */
static int xl_rx_wait_link(struct xl_sock *s, struct pollfd *pfd, int n,
			   int *timeout_ms)
{
	int lfd;

	if (atomic_load(&s->state) != XL_SOCK_PENDING)
		return n;
	lfd = xl_link_pollfd();
	if (lfd >= 0)
		pfd[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	if (*timeout_ms > XL_PENDING_SLICE_MS)
		*timeout_ms = XL_PENDING_SLICE_MS;
	return n;
}

/*
 * Sleep until the kernel socket or the ring may have something, for at
 * most timeout_ms. Returns 0 or -EINTR.
 */
static int xl_rx_wait(struct xl_sock *s, int fd, struct xl_chan *ch,
		      int timeout_ms)
{
	struct pollfd pfd[8];
	int n = 1, nring = 0, ret;

	pfd[0] = (struct pollfd){ .fd = fd, .events = POLLIN };
	/* our resend goes on as the kernel takes it, even while we read */
	if (atomic_load(&s->conn->tx_resend))
		pfd[0].events |= POLLOUT;
	if (ch && !s->conn->rx_tcp_only && !s->conn->rx_ring_dead) {
		if (!xl_ready_announce(s, true, false))
			return 0;
		nring = xl_ready_pollfds(s, true, false, pfd + 1, 4);
		n += nring;
	}
	n = xl_rx_wait_link(s, pfd, n, &timeout_ms);
	/* shared by fork(): the other holder may let go while we sleep
	 * (a child blocked in its first read while the parent closes) */
	if (atomic_load(&s->state) == XL_SOCK_CLAIM &&
	    timeout_ms > XL_CLAIM_SLICE_MS)
		timeout_ms = XL_CLAIM_SLICE_MS;
	xl_lib_enter();
	ret = real.poll(pfd, (nfds_t)n, timeout_ms);
	xl_lib_leave();
	if (ret < 0)
		return -errno;
	if (nring)
		xl_ready_ack(s, pfd + 1, nring);
	if (atomic_load(&s->state) == XL_SOCK_CLAIM)
		xl_sock_try_claim(s, fd);
	/* a slice that ran out: the daemon may have said DROP */
	if (atomic_load(&s->state) == XL_SOCK_PENDING || ret == 0)
		xl_link_poll();
	return 0;
}

struct xl_rx_call {
	struct xl_sock *s;
	int fd;
	struct msghdr *msg;
	int flags;
	struct xl_iovs v;
	size_t want, done;
	bool block, waitall;
	uint64_t deadline;
};

/* Not a count and not an -errno: the step's caller goes on looping. */
#define XL_GO_ON ((ssize_t)-4096)

/*
 * A result that ends the call, or XL_GO_ON. Any bytes already given
 * are the answer; an error waits for the next call.
 */
static ssize_t xl_rx_end(struct xl_rx_call *c, ssize_t err)
{
	return c->done ? (ssize_t)c->done : err;
}

/*
 * How many bytes a blocking receive waits for before it returns what is
 * there, as Linux's tcp_recvmsg(): all of them for MSG_PEEK|MSG_WAITALL,
 * else SO_RCVLOWAT's (at most the length asked for). MSG_WAITALL without
 * MSG_PEEK is the ring's own (XL_CHAN_WAITALL).
 */
static size_t xl_rx_target(const struct xl_rx_call *c)
{
	int lowat;

	if ((c->flags & (MSG_PEEK | MSG_WAITALL)) == (MSG_PEEK | MSG_WAITALL))
		return c->want;
	lowat = atomic_load_explicit(&c->s->rcvlowat, memory_order_relaxed);
	if (lowat <= 1)
		return 1;
	return (size_t)lowat < c->want ? (size_t)lowat : c->want;
}

/* Does the ring hold target bytes, or as many as it will? */
static bool xl_rx_enough(struct xl_chan *ch, size_t target)
{
	size_t avail;
	bool enough;

	xl_lib_enter();
	avail = xl_chan_readable(ch);
	/* a full ring gives what it has: no more can come */
	enough = avail >= target || avail >= ch->rx.size ||
		 !xl_chan_peer_live(ch) ||
		 XL_READ_ONCE(ch->rx.sh->p.state) >= XL_WIRE_PROD_CLOSED;
	xl_lib_leave();
	return enough;
}

/*
 * A blocking receive that finds fewer bytes than its target waits for
 * more (or the stream's end) before it reads. Returns true after a wait
 * (the caller looks again), false when it is time to read.
 */
static bool xl_rx_short(struct xl_rx_call *c, struct xl_chan *ch)
{
	struct pollfd pfd[4];
	size_t target;
	int slice, n, ret;

	if (!c->block || c->done || c->waitall)
		return false;
	target = xl_rx_target(c);
	if (target <= 1 || xl_rx_enough(ch, target))
		return false;
	slice = xl_slice(c->deadline, XL_SLICE_MS);
	if (!slice)
		return false;	/* SO_RCVTIMEO: what is there */
	/* the peer's next write wakes us (want_data /before/ the look) */
	xl_ready_want(c->s, true, false);
	if (xl_rx_enough(ch, target))
		return false;
	n = xl_ready_pollfds(c->s, true, false, pfd, 4);
	xl_lib_enter();
	ret = real.poll(pfd, (nfds_t)n, slice);
	xl_lib_leave();
	if (n)
		xl_ready_ack(c->s, pfd, n);
	if (ret < 0 && errno == EINTR &&
	    xl_on_eintr(atomic_load(&c->s->rcvtimeo_ms)))
		return false;	/* the read then finds what is there */
	return true;
}

/*
 * The ring is drained and its producer ended it or is gone: the kernel
 * socket has the last word (ARCHITECTURE invariant 1), the stream's FIN
 * or reset, when it comes, as on plain TCP; bytes a peer sends through
 * the kernel after its ring (another process holding its socket) are
 * the stream's next ones.
 */
static ssize_t xl_rx_ring_over(struct xl_rx_call *c)
{
	ssize_t err;

	c->s->conn->rx_ring_dead = true;
	if (c->s->conn->rx_kern_err) {
		/* a kernel error seen while the ring had bytes */
		err = -c->s->conn->rx_kern_err;
		c->s->conn->rx_kern_err = 0;
		return xl_rx_end(c, err);
	}
	return XL_GO_ON;
}

static ssize_t xl_rx_from_ring(struct xl_rx_call *c, struct xl_chan *ch)
{
	const struct iovec *iov = c->v.iov;
	int cnt = c->v.cnt;
	unsigned int xf = 0;
	char scratch[16384];
	struct iovec trunc;
	bool shut;
	ssize_t n;

	if (c->flags & MSG_PEEK)
		xf |= XL_CHAN_PEEK;
	if (c->waitall)
		xf |= XL_CHAN_WAITALL;
	/* after shutdown(SHUT_RD) Linux still gives what is there, then
	 * 0 at once instead of waiting */
	shut = atomic_load(&c->s->conn->shut_rd);
	if (!shut && xl_rx_short(c, ch))
		return XL_GO_ON;
	if (!c->block || (c->done && !c->waitall) || shut)
		xf |= XL_CHAN_NONBLOCK;
	if (c->flags & MSG_TRUNC) {
		/* TCP's MSG_TRUNC: the bytes are dropped, the buffer
		 * untouched (it may be NULL) */
		trunc.iov_base = scratch;
		trunc.iov_len = c->want - c->done < sizeof(scratch) ?
				c->want - c->done : sizeof(scratch);
		iov = &trunc;
		cnt = 1;
	}
	xl_lib_enter();
	n = xl_chan_recv(ch, iov, cnt, xf, xl_slice(c->deadline, XL_SLICE_MS));
	if (n == -EAGAIN && shut) {
		xl_lib_leave();
		return xl_rx_end(c, 0);
	}
	if (n == -EAGAIN && !xl_chan_peer_live(ch)) {
		/* A nonblocking read finds the ring empty and its producer
		 * gone (readiness says readable then): one more look for
		 * what it published just before, then the ring is drained
		 * for good and the kernel socket has the last word, as a
		 * blocking read would find. */
		n = xl_chan_recv(ch, iov, cnt, xf, 0);
		if (n == -EAGAIN)
			n = -ECONNRESET;
	}
	xl_lib_leave();
	if (n > 0) {
		if (!(c->flags & MSG_PEEK))
			xl_add(&c->s->conn->ring_rx, (uint64_t)n);
		c->done += (size_t)n;
		if (iov == &trunc)
			return (ssize_t)c->done;
		xl_iovs_advance(&c->v, (size_t)n);
		if (c->waitall && c->done < c->want)
			return XL_GO_ON;
		return (ssize_t)c->done;
	}
	switch (n) {
	case 0:
		if (xl_voided(c->s, ch))
			return xl_rx_end(c, -ECONNRESET);
		/* A peer that died with bytes of ours unread: its kernel
		 * socket only said FIN (the library had no time to ask for
		 * the reset its close would have sent), so the reset is
		 * ours to report, once, then the end, as the kernel does. */
		if (!c->done && !c->s->conn->rx_reset_told &&
		    xl_peer_dropped(c->s, ch) &&
		    XL_READ_ONCE(ch->tx.sh->c.state) == XL_WIRE_CONS_OPEN) {
			c->s->conn->rx_reset_told = true;
			c->s->conn->rx_ring_dead = true;
			return -ECONNRESET;
		}
		return xl_rx_ring_over(c);
	case -ETIMEDOUT:
		if (xl_slice(c->deadline, 1))
			return XL_GO_ON;
		return xl_rx_end(c, -EAGAIN);
	case -EINTR:
		if (c->done)
			return (ssize_t)c->done;
		return xl_on_eintr(atomic_load(&c->s->rcvtimeo_ms)) ?
		       -EINTR : XL_GO_ON;
	case -ECONNRESET:
		if (xl_voided(c->s, ch))
			return xl_rx_end(c, -ECONNRESET);
		return xl_rx_ring_over(c);
	case -EXDEV:
		/* the peer left the ring here: the kernel has the rest */
		c->s->conn->rx_ring_dead = true;
		return XL_GO_ON;
	case -EPROTO:
		/* corrupt: what we did not read comes again by TCP */
		if (xl_rx_back(c->s, ch, XL_SWITCH_PROTOCOL) < 0)
			return xl_rx_end(c, -ECONNRESET);
		return XL_GO_ON;
	default:
		return xl_rx_end(c, n);	/* -EAGAIN */
	}
}

/* The kernel had nothing: give up, or wait and go on (XL_GO_ON). */
static ssize_t xl_rx_tcp_empty(struct xl_rx_call *c, struct xl_chan *ch)
{
	int ret, slice;

	if (!c->block || (c->done && !c->waitall))
		return xl_rx_end(c, -EAGAIN);
	slice = xl_slice(c->deadline, XL_SLICE_MS);
	if (!slice)
		return xl_rx_end(c, -EAGAIN);
	ret = xl_rx_wait(c->s, c->fd, ch, slice);
	if (ret == -EINTR) {
		if (c->done)
			return (ssize_t)c->done;
		return xl_on_eintr(atomic_load(&c->s->rcvtimeo_ms)) ?
		       -EINTR : XL_GO_ON;
	}
	return ret < 0 ? xl_rx_end(c, ret) : XL_GO_ON;
}

/*
 * xl_rx_short() for the kernel's part: the kernel is read without
 * waiting (a ring may start meanwhile), so a blocking receive with a
 * target (SO_RCVLOWAT, MSG_PEEK|MSG_WAITALL) waits for it here first.
 * The kernel's POLLIN honours SO_RCVLOWAT; for a peek that wants it all,
 * the wait is in short slices. Returns XL_GO_ON after a wait, 0 when
 * it is time to read, or -EINTR.
 */
static ssize_t xl_rx_tcp_short(struct xl_rx_call *c, uint64_t limit)
{
	bool peek_all = (c->flags & (MSG_PEEK | MSG_WAITALL)) ==
			(MSG_PEEK | MSG_WAITALL);
	struct pollfd p[2] = { { .fd = c->fd, .events = POLLRDHUP } };
	size_t target;
	int avail = 0, n = 1, slice;

	if (!c->block || c->done || c->waitall || limit != UINT64_MAX)
		return 0;
	target = xl_rx_target(c);
	if (target <= 1 || real.ioctl(c->fd, FIONREAD, &avail) < 0 ||
	    (size_t)avail >= target)
		return 0;
	if (!peek_all)
		p[0].events |= POLLIN;
	slice = xl_slice(c->deadline, peek_all ? XL_PENDING_SLICE_MS :
			 XL_SLICE_MS);
	if (!slice)
		return 0;
	n = xl_rx_wait_link(c->s, p, n, &slice);
	xl_lib_enter();
	n = real.poll(p, (nfds_t)n, slice);
	xl_lib_leave();
	if (n < 0)
		return errno == EINTR &&
		       xl_on_eintr(atomic_load(&c->s->rcvtimeo_ms)) ?
		       -EINTR : XL_GO_ON;
	/* the end, or SO_RCVLOWAT's bytes: read what is there */
	if (n > 0 && (p[0].revents & (POLLRDHUP | POLLERR | POLLHUP | POLLIN)))
		return 0;
	if (atomic_load(&c->s->state) == XL_SOCK_PENDING)
		xl_link_poll();
	return XL_GO_ON;
}

static ssize_t xl_rx_from_tcp(struct xl_rx_call *c, struct xl_chan *ch,
			      uint64_t limit)
{
	ssize_t n;
	uint64_t lim2;

	n = xl_rx_tcp_short(c, limit);
	if (n)
		return n;
	n = xl_rx_tcp(c->s, c->fd, c->msg, &c->v, c->flags, limit);
	/* No channel when we looked, maybe one now (another thread took
	 * it): the peer may have sent on its ring and closed since (it
	 * sees us only once the socket has its channel: xl_link_on_chan()),
	 * so the kernel's end, error or emptiness is judged with it. */
	if (n <= 0 && !ch)
		ch = atomic_load_explicit(&c->s->chan, memory_order_acquire);
	if (n >= 0 && c->s->conn->rx_back_ns) {
		xl_switch_note(c->s, xl_now_ns() - c->s->conn->rx_back_ns);
		c->s->conn->rx_back_ns = 0;
	}
	if (n > 0) {
		c->done += (size_t)n;
		xl_iovs_advance(&c->v, (size_t)n);
		if (c->waitall && c->done < c->want)
			return XL_GO_ON;
		return (ssize_t)c->done;
	}
	if (n == 0) {
		/* a FIN; if the peer's ring started, the rest is there */
		if (c->want && ch && limit == UINT64_MAX && !c->s->conn->rx_ring_dead &&
		    xl_rx_where(c->s, ch, &lim2) == XL_RX_RING)
			return XL_GO_ON;
		return (ssize_t)c->done;
	}
	if (n == -EAGAIN) {
		if (ch && !c->s->conn->rx_ring_dead &&
		    xl_rx_where(c->s, ch, &lim2) == XL_RX_RING)
			return XL_GO_ON;
		return xl_rx_tcp_empty(c, ch);
	}
	/* a kernel error: bytes on the ring come first */
	if (ch && !c->s->conn->rx_ring_dead && limit == UINT64_MAX &&
	    xl_rx_where(c->s, ch, &lim2) == XL_RX_RING) {
		c->s->conn->rx_kern_err = (int)-n;
		return XL_GO_ON;
	}
	return xl_rx_end(c, n);
}

static ssize_t xl_rx_loop(struct xl_rx_call *c)
{
	struct xl_chan *ch;
	uint64_t limit;
	ssize_t ret;
	int where;

	for (;;) {
		if (atomic_load(&c->s->closed))
			return xl_rx_end(c, -EBADF);
		if (atomic_load(&c->s->conn->broken))
			return xl_rx_end(c, -ECONNRESET);
		/* a new ring came: ours to swap in, we hold rx_lock */
		if (atomic_load(&c->s->next_chan))
			xl_reattach_swap(c->s, false);
		ch = atomic_load_explicit(&c->s->chan, memory_order_acquire);
		/* before anything reads the ring's state: void, it would say
		 * the peer never started its ring, and the kernel's end of
		 * stream would hide what the ring lost */
		if (xl_voided(c->s, ch))
			return xl_rx_end(c, -ECONNRESET);
		/* an exec()ed peer waits for our bytes on TCP */
		xl_tx_fall_back_try(c->s, ch, c->fd);
		/* so does one that left our ring; or the daemon dropped it */
		xl_tx_housekeep_try(c->s, ch, c->fd);
		if (ch && atomic_load(&c->s->conn->drop_req) &&
		    xl_rx_back(c->s, ch, XL_SWITCH_DROP) < 0)
			return xl_rx_end(c, -ECONNRESET);
		where = xl_rx_where(c->s, ch, &limit);
		if (where < 0)
			return xl_rx_end(c, where);
		if (where == XL_RX_RING)
			ret = xl_rx_from_ring(c, ch);
		else
			ret = xl_rx_from_tcp(c, ch, limit);
		if (ret != XL_GO_ON)
			return ret;
		if (!c->waitall && c->done)
			return (ssize_t)c->done;
	}
}

ssize_t xl_stream_recv(struct xl_sock *s, int fd, struct msghdr *msg,
		       int flags)
{
	struct xl_rx_call c = { .s = s, .fd = fd, .msg = msg, .flags = flags };
	ssize_t ret;

	xl_signal_wait_begin();
	if (atomic_load(&s->state) == XL_SOCK_PENDING)
		xl_link_poll_soon();
	xl_stream_reattach_step(s);
	ret = xl_iovs_init(&c.v, msg->msg_iov, msg->msg_iovlen);
	if (ret < 0)
		return ret;
	c.want = xl_iov_total(msg->msg_iov, msg->msg_iovlen);
	c.block = !(flags & MSG_DONTWAIT) && !atomic_load(&s->nonblock);
	c.waitall = (flags & MSG_WAITALL) && !(flags & MSG_PEEK) && c.block;
	c.deadline = xl_deadline(atomic_load(&s->rcvtimeo_ms));
	msg->msg_flags = 0;
	xl_conn_lock(&s->conn->rx_lock);
	ret = xl_rx_loop(&c);
	pthread_mutex_unlock(&s->conn->rx_lock);
	if (ret > 0 && atomic_load(&s->conn->rx_ring)) {
		/* nothing of the kernel's to report for ring bytes */
		msg->msg_namelen = 0;
		msg->msg_controllen = 0;
	}
	xl_iovs_free(&c.v);
	xl_sock_tick(s);
	return ret;
}

/* ---- sending ---- */

/* Our direction may move onto the ring now; caller holds tx_lock. */
static bool xl_tx_may_switch(struct xl_sock *s, struct xl_chan *ch)
{
	return ch && !atomic_load(&s->conn->shut_wr) &&
	       !atomic_load(&s->conn->broken) && !atomic_load(&s->conn->tx_left) &&
	       !atomic_load(&s->conn->drop_req) && !atomic_load(&s->tx_hold) &&
	       xl_chan_peer_live(ch) && xl_chan_tx_peer_attached(ch);
}

static int xl_tx_switch(struct xl_sock *s, struct xl_chan *ch)
{
	uint64_t off = xl_conn_tx_off(s->conn);
	int ret = xl_chan_tx_open(ch, off);

	if (ret < 0)
		return ret;
	XL_DBG("cookie %llu: sending on the ring from offset %llu",
	       (unsigned long long)s->cookie, (unsigned long long)off);
	xl_conn_mark_before(&s->conn->tx_before, &s->conn->tcp_tx);
	/* the ring is open /before/ readiness says writable through it */
	atomic_store_explicit(&s->conn->tx_ring, true, memory_order_release);
	return 0;
}

/*
 * What the kernel would have said to a write after the peer closed its
 * end of our ring or vanished: its error, a reset (once; then EPIPE) if
 * the peer dropped bytes of ours, else EPIPE. Caller holds tx_lock.
 */
static ssize_t xl_tx_peer_gone(struct xl_sock *s, struct xl_chan *ch, int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (real.getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err)
		return -err;
	if (!s->conn->tx_reset_told && xl_peer_dropped(s, ch)) {
		s->conn->tx_reset_told = true;
		return -ECONNRESET;
	}
	return -EPIPE;
}

struct xl_tx_call {
	struct xl_sock *s;
	int fd;
	int flags;
	struct xl_iovs v;
	size_t want, done;
	bool block;
	uint64_t deadline;
};

static ssize_t xl_tx_end(struct xl_tx_call *c, ssize_t err)
{
	return c->done ? (ssize_t)c->done : err;
}

/* Before any new byte through the kernel: the rest of a resend, waiting
 * for room if block. Caller holds tx_lock. Returns 0 or -errno. */
static int xl_tx_resend_first(struct xl_sock *s, int fd, bool block)
{
	struct xl_chan *ch = atomic_load_explicit(&s->chan,
						  memory_order_acquire);

	if (!ch || !atomic_load(&s->conn->tx_resend))
		return 0;
	return xl_tx_resend(s, ch, fd, block);
}

/* The direction went back to TCP in the middle of a send (an exec()ed
 * peer, or the consumer asked): the rest of it through the kernel, as a
 * kernel send would. */
#define XL_TX_LEFT ((ssize_t)-4097)

static ssize_t xl_tx_rest_on_tcp(struct xl_tx_call *c)
{
	struct msghdr m = { .msg_iov = c->v.iov, .msg_iovlen = (size_t)c->v.cnt };
	size_t before = c->done;
	ssize_t n;
	int ret;

	/* what the peer never read of the ring goes first */
	ret = xl_tx_resend_first(c->s, c->fd, c->block);
	if (ret < 0)
		return xl_tx_end(c, ret);
	if (c->block) {
		ret = xl_tcp_send_all(c->s, c->fd, &c->v);
		c->done = c->want - xl_iov_total(c->v.iov, (size_t)c->v.cnt);
		return c->done > before || !ret ? (ssize_t)c->done : ret;
	}
	n = real.sendmsg(c->fd, &m, (c->flags & ~XL_MSG_BLOCK) | MSG_NOSIGNAL |
			 MSG_DONTWAIT);
	if (n < 0)
		return xl_tx_end(c, -errno);
	xl_add(&c->s->conn->tcp_tx, (uint64_t)n);
	c->done += (size_t)n;
	return (ssize_t)c->done;
}

/* One ring send. Returns the call's result, or XL_GO_ON. */
static ssize_t xl_tx_ring_once(struct xl_tx_call *c, struct xl_chan *ch)
{
	ssize_t n;

	if (atomic_load(&c->s->closed))
		return xl_tx_end(c, -EBADF);
	if (c->s->conn->tx_closed || atomic_load(&c->s->conn->shut_wr))
		return xl_tx_end(c, -EPIPE);
	if (xl_voided(c->s, ch))
		return xl_tx_end(c, -ECONNRESET);
	/* dropped, or the consumer left, while this send waited */
	xl_tx_housekeep(c->s, ch, c->fd);
	/* a consumer that vanished (an exec()ed peer) reads no more of the
	 * ring: what it never read and this send go by TCP */
	if (!xl_chan_peer_live(ch))
		xl_tx_fall_back(c->s, ch, c->fd);
	if (!atomic_load(&c->s->conn->tx_ring))
		return XL_TX_LEFT;
	xl_lib_enter();
	n = xl_chan_send(ch, c->v.iov, c->v.cnt,
			 c->block ? 0 : XL_CHAN_NONBLOCK,
			 xl_slice(c->deadline, XL_SLICE_MS));
	/* a full ring whose consumer is gone never drains: what a blocking
	 * send finds, and what readiness (writable) promised */
	if (n == -EAGAIN && !xl_chan_peer_live(ch))
		n = -ECONNRESET;
	xl_lib_leave();
	if (n > 0) {
		xl_add(&c->s->conn->ring_tx, (uint64_t)n);
		c->done += (size_t)n;
		xl_iovs_advance(&c->v, (size_t)n);
		if (c->done == c->want || !c->block)
			return (ssize_t)c->done;
		return XL_GO_ON;
	}
	switch (n) {
	case 0:
		return (ssize_t)c->done;
	case -ETIMEDOUT:
		if (xl_slice(c->deadline, 1))
			return XL_GO_ON;
		return xl_tx_end(c, -EAGAIN);
	case -EINTR:
		if (c->done)
			return (ssize_t)c->done;
		return xl_on_eintr(atomic_load(&c->s->sndtimeo_ms)) ?
		       -EINTR : XL_GO_ON;
	case -ESHUTDOWN:
		return xl_tx_end(c, -EPIPE);
	case -EPIPE:
	case -ECONNRESET:
		if (xl_voided(c->s, ch))
			return xl_tx_end(c, -ECONNRESET);
		if (xl_tx_fall_back(c->s, ch, c->fd))
			return XL_TX_LEFT;
		/* The peer closed its socket through the library: its
		 * kernel socket closed with it (with a reset if it left
		 * bytes unread). What a write meets then is the kernel's
		 * to say: accepted, then the peer's reset and POLLERR,
		 * then EPIPE; or the reset already. The direction leaves
		 * the ring and the kernel carries the rest. */
		if (n == -EPIPE && !c->s->conn->tx_closed &&
		    XL_READ_ONCE(ch->tx.sh->c.state) == XL_WIRE_CONS_CLOSED) {
			xl_tx_leave_now(c->s, ch, c->fd, -1);
			if (!atomic_load(&c->s->conn->tx_ring))
				return XL_TX_LEFT;
		}
		return xl_tx_end(c, xl_tx_peer_gone(c->s, ch, c->fd));
	case -EXDEV:
		/* the consumer left our ring (BACK): the rest of this send,
		 * after what it never read, goes through the kernel */
		if (xl_tx_answer_back(c->s, ch, c->fd, XL_SWITCH_PEER))
			return XL_TX_LEFT;
		return xl_tx_end(c, -ECONNRESET);
	case -EPROTO:
		atomic_store(&c->s->conn->broken, true);
		return xl_tx_end(c, -ECONNRESET);
	default:
		return xl_tx_end(c, n);
	}
}

static ssize_t xl_tx_ring(struct xl_sock *s, int fd, const struct msghdr *msg,
			  int flags, struct xl_chan *ch)
{
	struct xl_tx_call c = { .s = s, .fd = fd, .flags = flags };
	ssize_t ret;

	ret = xl_iovs_init(&c.v, msg->msg_iov, msg->msg_iovlen);
	if (ret < 0)
		return ret;
	c.want = xl_iov_total(msg->msg_iov, msg->msg_iovlen);
	c.block = (flags & XL_MSG_BLOCK) ||
		  (!(flags & MSG_DONTWAIT) && !atomic_load(&s->nonblock));
	c.deadline = xl_deadline(atomic_load(&s->sndtimeo_ms));
	do {
		ret = xl_tx_ring_once(&c, ch);
	} while (ret == XL_GO_ON);
	if (ret == XL_TX_LEFT)
		ret = xl_tx_rest_on_tcp(&c);
	xl_iovs_free(&c.v);
	return ret;
}

ssize_t xl_stream_send(struct xl_sock *s, int fd, const struct msghdr *msg,
		       int flags)
{
	struct xl_chan *ch;
	ssize_t ret;

	xl_signal_wait_begin();
	if (atomic_load(&s->state) == XL_SOCK_PENDING)
		xl_link_poll_soon();
	xl_stream_reattach_step(s);
	xl_conn_lock(&s->conn->tx_lock);
	ch = atomic_load_explicit(&s->chan, memory_order_acquire);
	xl_tx_housekeep(s, ch, fd);
	if (!atomic_load(&s->conn->tx_ring) && !(flags & MSG_OOB) &&
	    xl_tx_may_switch(s, ch))
		xl_tx_switch(s, ch);
	/* urgent data has no place on a ring: the direction leaves it here,
	 * for good, and the kernel carries the rest */
	if ((flags & MSG_OOB) && atomic_load(&s->conn->tx_ring) &&
	    !s->conn->tx_closed)
		xl_tx_leave_now(s, ch, fd, XL_SWITCH_OOB);
	if (atomic_load(&s->conn->tx_ring)) {
		ret = xl_tx_ring(s, fd, msg, flags, ch);
	} else {
		/* blocking in the kernel is safe here: the peer reads TCP
		 * until we open our ring, which only this lock does */
		ret = xl_tx_resend_first(s, fd, (flags & XL_MSG_BLOCK) ||
					 (!(flags & MSG_DONTWAIT) &&
					  !atomic_load(&s->nonblock)));
		if (!ret) {
			ret = real.sendmsg(fd, msg, flags & ~XL_MSG_BLOCK);
			if (ret < 0)
				ret = -errno;
			else
				xl_add(&s->conn->tcp_tx, (uint64_t)ret);
		}
		pthread_mutex_unlock(&s->conn->tx_lock);
		return ret;
	}
	pthread_mutex_unlock(&s->conn->tx_lock);
	if (ret == -EPIPE && !(flags & MSG_NOSIGNAL))
		xl_raise_sigpipe();
	xl_sock_tick(s);
	return ret;
}

ssize_t xl_stream_kernel_tx(struct xl_sock *s,
			    ssize_t (*fn)(int fd, void *arg), int fd, void *arg)
{
	struct xl_chan *ch;
	ssize_t ret = -EXDEV;

	if (atomic_load(&s->state) == XL_SOCK_PENDING)
		xl_link_poll_soon();
	xl_conn_lock(&s->conn->tx_lock);
	ch = atomic_load_explicit(&s->chan, memory_order_acquire);
	xl_tx_housekeep(s, ch, fd);
	if (!atomic_load(&s->conn->tx_ring) && !xl_tx_may_switch(s, ch)) {
		ret = xl_tx_resend_first(s, fd, !atomic_load(&s->nonblock));
		if (!ret)
			ret = fn(fd, arg);
		if (ret > 0)
			xl_add(&s->conn->tcp_tx, (uint64_t)ret);
	}
	pthread_mutex_unlock(&s->conn->tx_lock);
	return ret;
}

size_t xl_stream_tx_room(struct xl_sock *s)
{
	struct xl_chan *ch = atomic_load_explicit(&s->chan,
						  memory_order_acquire);
	uint32_t used;

	if (!ch || !atomic_load(&s->conn->tx_ring))
		return SIZE_MAX;
	used = __atomic_load_n(&ch->tx.prod, __ATOMIC_RELAXED) -
	       XL_READ_ONCE(ch->tx.sh->c.cons);
	return used >= ch->tx.size ? 0 : ch->tx.size - used;
}

/* ---- the rest ---- */

bool xl_stream_unread(struct xl_sock *s)
{
	struct xl_chan *ch = atomic_load_explicit(&s->chan,
						  memory_order_acquire);

	/* another process that holds the socket may read them yet */
	if (!ch || atomic_load(&s->conn->procs) > 1 ||
	    atomic_load(&s->conn->broken) || s->conn->rx_ring_dead ||
	    s->conn->rx_back ||
	    XL_READ_ONCE(ch->rx.sh->p.state) == XL_WIRE_PROD_IDLE)
		return false;
	return XL_READ_ONCE(ch->rx.sh->p.prod) != XL_PRIV(ch->rx.cons);
}

/*
 * Our sending side leaves its ring for good (the program that goes on
 * cannot write to it): the ring ends at all we published, a BACK of the
 * peer's is answered. With wait_ms, its resend is done now, waiting that
 * long at most. Returns 0, or -ECONNRESET if the resend could not be.
 */
static int xl_tx_leave_for_good(struct xl_sock *s, struct xl_chan *ch, int fd,
				int wait_ms)
{
	int ret = 0;

	xl_conn_lock(&s->conn->tx_lock);
	xl_tx_housekeep(s, ch, fd);
	if (atomic_load(&s->conn->tx_ring) && !s->conn->tx_closed)
		xl_tx_leave_now(s, ch, fd, XL_SWITCH_EXEC);
	/* and never onto the ring again, whoever sends */
	xl_tx_to_tcp(s->conn);
	if (wait_ms && atomic_load(&s->conn->tx_resend) &&
	    xl_tx_resend_for(s, ch, fd, true, wait_ms) < 0)
		ret = -ECONNRESET;
	pthread_mutex_unlock(&s->conn->tx_lock);
	return ret;
}

void xl_stream_exec_leave(struct xl_sock *s, int fd)
{
	struct xl_chan *ch = atomic_load_explicit(&s->chan,
						  memory_order_acquire);

	if (!ch || atomic_load(&s->state) != XL_SOCK_CHAN)
		return;
	XL_DBG("cookie %llu: an exec()ed program takes the socket: back to "
	       "TCP", (unsigned long long)s->cookie);
	xl_tx_leave_for_good(s, ch, fd, 0);
	xl_conn_lock(&s->conn->rx_lock);
	/* what we never consumed of the peer's ring, it sends again */
	s->conn->rx_tcp_only = true;
	s->conn->rx_ring_dead = true;
	pthread_mutex_unlock(&s->conn->rx_lock);
	xl_lib_enter();
	xl_chan_hang_up(ch);
	xl_lib_leave();
}

/* How long a sandboxing program waits for a resend its peer asked for
 * (xl_stream_let_go()), and for the bytes before its peer's ring's end. */
#define XL_LETGO_WAIT_MS	2000
/* The most bytes a socket can owe its program then: what one ring holds
 * (2^XL_WIRE_MAX_ORDER) and the kernel's bytes before it. */
#define XL_LETGO_MAX	((size_t)1 << 27)

int xl_stream_let_go(struct xl_sock *s, int fd, struct xl_owed *owed)
{
	struct xl_chan *ch = atomic_load_explicit(&s->chan,
						  memory_order_acquire);
	struct xl_conn *c = s->conn;
	uint64_t deadline = xl_deadline(XL_LETGO_WAIT_MS);
	struct msghdr m = { 0 };
	struct iovec iov;
	size_t cap = 0;
	uint8_t *nb;
	ssize_t n;
	int ret;

	memset(owed, 0, sizeof(*owed));
	if (!ch || atomic_load(&s->state) != XL_SOCK_CHAN)
		return 0;
	/* ours, the resend done now, while the library may still send */
	ret = xl_tx_leave_for_good(s, ch, fd, XL_LETGO_WAIT_MS);
	/* the peer's: what we did not read it sends by TCP */
	xl_conn_lock(&c->rx_lock);
	if (xl_rx_back(s, ch, XL_SWITCH_EXEC) < 0)
		ret = -ECONNRESET;
	pthread_mutex_unlock(&c->rx_lock);
	/* unless it ended its ring first: then the ring holds the bytes
	 * before the kernel's next ones, and only we can read them */
	while (!ret && !c->rx_ring_dead && !c->rx_tcp_only &&
	       !atomic_load(&c->broken)) {
		if (owed->len == cap) {
			cap = cap ? cap * 2 : 65536;
			nb = cap <= XL_LETGO_MAX ? realloc(owed->buf, cap) :
			     NULL;
			if (!nb) {
				ret = -ECONNRESET;
				break;
			}
			owed->buf = nb;
		}
		iov = (struct iovec){ owed->buf + owed->len, cap - owed->len };
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		n = xl_stream_recv(s, fd, &m, MSG_DONTWAIT);
		if (n > 0) {
			owed->len += (size_t)n;
		} else if (n == 0) {
			break;
		} else if (n != -EAGAIN && n != -EINTR) {
			owed->err = (int)-n;	/* the kernel's, told once */
			break;
		} else if (!xl_slice(deadline, 1)) {
			ret = -ECONNRESET;
		} else {
			xl_lib_enter();
			real.poll(NULL, 0, 1);
			xl_lib_leave();
		}
	}
	if (atomic_load(&c->broken))
		ret = -ECONNRESET;
	return ret;
}

/*
 * Our end of stream on the ring (CLOSED), or, if the consumer left the
 * ring first, its answer and the whole resend (the kernel's FIN must
 * come after it). At a close the resend waits a bounded time; what it
 * cannot send then is lost, and the connection is reset rather than
 * ended (the peer must not take a short stream for a whole one). Caller
 * holds tx_lock.
 */
static void xl_tx_end_stream(struct xl_sock *s, struct xl_chan *ch, int fd,
			     bool closing)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	int ret = 0;

	if (atomic_load(&s->conn->tx_ring) && !s->conn->tx_closed) {
		xl_lib_enter();
		ret = xl_chan_shutdown_tx(ch);
		xl_lib_leave();
		if (ret == -EXDEV)
			xl_tx_answer_back(s, ch, fd, XL_SWITCH_PEER);
		else
			s->conn->tx_closed = true;
	}
	if (!ch || !atomic_load(&s->conn->tx_resend))
		return;
	if (xl_tx_resend_for(s, ch, fd, true,
			     closing ? XL_CLOSE_RESEND_MS : 0) < 0 && closing)
		real.setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

int xl_stream_shutdown(struct xl_sock *s, int fd, int how)
{
	struct xl_chan *ch = atomic_load_explicit(&s->chan,
						  memory_order_acquire);

	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return real.shutdown(fd, how) < 0 ? -errno : 0;
	if (how != SHUT_WR)
		atomic_store(&s->conn->shut_rd, true);
	if (how != SHUT_RD) {
		/* seen by a sender blocked on the lock at its next slice */
		atomic_store(&s->conn->shut_wr, true);
		xl_conn_lock(&s->conn->tx_lock);
		/* the kernel's FIN ends the stream for good: what a vanished
		 * consumer never read goes through the kernel before it */
		if (ch && !xl_chan_peer_live(ch))
			xl_tx_fall_back(s, ch, fd);
		xl_tx_end_stream(s, ch, fd, false);
		pthread_mutex_unlock(&s->conn->tx_lock);
	}
	/* the kernel's FIN after the ring's end: the peer sees the end on
	 * whichever path it reads */
	return real.shutdown(fd, how) < 0 ? -errno : 0;
}

int xl_stream_inq(struct xl_sock *s, int fd, int *out)
{
	struct xl_chan *ch = atomic_load_explicit(&s->chan,
						  memory_order_acquire);
	uint64_t total = 0;
	uint32_t ring;
	int kern = 0;

	if (!atomic_load(&s->conn->rx_ring) || s->conn->rx_ring_dead) {
		if (real.ioctl(fd, FIONREAD, &kern) < 0)
			return -errno;
		total = (uint64_t)kern;
	}
	/* after SHUT_RD too: Linux still counts, and reads, what came */
	if (ch && atomic_load(&s->conn->rx_ring) && !s->conn->rx_ring_dead) {
		ring = XL_READ_ONCE(ch->rx.sh->p.prod) -
		       __atomic_load_n(&ch->rx.cons, __ATOMIC_RELAXED);
		/* the peer's index is a hint here; a lie counts nothing */
		if (ring <= __atomic_load_n(&ch->rx.size, __ATOMIC_RELAXED))
			total += ring;
	}
	*out = total > INT_MAX ? INT_MAX : (int)total;
	return 0;
}

int xl_stream_outq(struct xl_sock *s, int fd, int *out)
{
	struct xl_chan *ch = atomic_load_explicit(&s->chan,
						  memory_order_acquire);
	int kern = 0;
	uint32_t ring = 0;

	if (real.ioctl(fd, SIOCOUTQ, &kern) < 0)
		return -errno;
	if (ch && atomic_load(&s->conn->tx_ring))
		ring = __atomic_load_n(&ch->tx.prod, __ATOMIC_RELAXED) -
		       XL_READ_ONCE(ch->tx.sh->c.cons);
	*out = kern + (int)(ring & INT_MAX);
	return 0;
}

void xl_stream_close(struct xl_sock *s, int fd)
{
	struct xl_chan *ch = atomic_load(&s->chan);

	if (!ch || atomic_load(&s->conn->procs) != 1 || !xl_chan_mapped(ch))
		return;
	/* as xl_stream_finish(): our end of reading first */
	xl_lib_enter();
	xl_chan_shutdown_rx(ch);
	xl_lib_leave();
	xl_conn_lock(&s->conn->tx_lock);
	xl_tx_end_stream(s, ch, fd, true);
	pthread_mutex_unlock(&s->conn->tx_lock);
}

void xl_stream_finish(struct xl_sock *s)
{
	struct xl_chan *ch = atomic_load(&s->chan);
	int state = atomic_load(&s->state);
	bool last = atomic_fetch_sub(&s->conn->procs, 1) == 1;

	if (!ch) {
		/* the registration ends with the registering process's last
		 * close, even if a child it forked goes on (on TCP): a server
		 * that forks per connection and never reads its link again
		 * must not leave its registrations behind */
		if (state == XL_SOCK_PENDING)
			xl_link_counts(s, XL_CTL_CLOSE, XL_REASON_NONE);
		return;
	}
	atomic_store(&s->chan, NULL);
	xl_stream_reattach_end(s, last);
	/* a child without a mapping of the ring (Xen: the kernel does not
	 * copy grant mappings) cannot end it: it lets go like a non-last
	 * holder, and the peer learns from the unmap-notify */
	if (!last || !xl_chan_mapped(ch)) {
		/* Another process holds the socket since a fork() and goes
		 * on with the ring: only our part of it goes. The daemon
		 * hears of the end from the process that registered (the
		 * counts so far), so that a server that forks a child per
		 * connection leaves no registration behind. */
		xl_link_counts(s, XL_CTL_CLOSE, XL_REASON_NONE);
		xl_chan_forget(ch);
		return;
	}
	/* our end of reading first: a peer that sees our end of stream then
	 * knows whether we dropped bytes of its (a reset) */
	xl_chan_shutdown_rx(ch);
	if (atomic_load(&s->conn->tx_ring) && !s->conn->tx_closed)
		xl_chan_shutdown_tx(ch);
	xl_link_counts(s, XL_CTL_CLOSE, atomic_load(&s->conn->broken) ?
		       XL_REASON_PROTOCOL : XL_REASON_NONE);
	xl_chan_destroy(ch);
}

/* ---- coming back onto a new ring (protocol.md §5.3) ---- */

/* Processes that hold s's stream, its state, causes that end the ring for
 * good (MSG_OOB, a peer that exec()ed): may it come back at all? */
static bool xl_reattach_allowed(struct xl_sock *s)
{
	struct xl_conn *c = s->conn;

	return xl_cfg.reattach_ms &&
	       atomic_load(&s->state) == XL_SOCK_CHAN && !s->shared &&
	       atomic_load(&c->procs) == 1 && !atomic_load(&s->closed) &&
	       !atomic_load(&c->broken) && !atomic_load(&c->shut_rd) &&
	       !atomic_load(&c->shut_wr) && atomic_load(&s->chan) &&
	       !atomic_load(&c->switches[XL_SWITCH_OOB]) &&
	       !atomic_load(&c->switches[XL_SWITCH_EXEC]);
}

/* Switches off a ring so far, whatever their cause. */
static uint32_t xl_reattach_offs(struct xl_conn *c)
{
	uint32_t n = 0;
	int i;

	for (i = 0; i < XL_SWITCH_REATTACH; i++)
		n += atomic_load(&c->switches[i]);
	return n;
}

/* Only a connection that left its ring since it last came back (or
 * since its start) comes back. */
static bool xl_reattach_left(struct xl_conn *c)
{
	return xl_reattach_offs(c) != c->switch_mark;
}

/*
 * Is the socket done with its channel both ways? Sending: off the ring
 * (it left, or its consumer went BACK before it opened), no resend left.
 * Receiving: reading TCP for good; a direction whose peer never opened
 * its ring goes BACK at consumed 0 first, so that the peer never opens
 * it after. On true our direction is held off the old ring (tx_hold).
 * Caller holds both locks.
 */
static bool xl_reattach_done(struct xl_sock *s, struct xl_chan *ch)
{
	struct xl_conn *c = s->conn;
	uint32_t cst = xl_chan_tx_cons_state(ch);

	if (atomic_load(&c->tx_ring) || atomic_load(&c->tx_resend) ||
	    (!atomic_load(&c->tx_left) && cst != XL_WIRE_CONS_BACK))
		return false;
	if (!c->rx_ring_dead && !c->rx_tcp_only) {
		if (atomic_load(&c->rx_ring) || c->rx_back)
			return false;	/* the ring to its end first */
		if (xl_rx_back(s, ch, -1) < 0 || !c->rx_ring_dead)
			return false;
	}
	atomic_store(&s->tx_hold, true);
	return true;
}

/* Ask for a new channel if the socket has been done with its ring for
 * XENLOOP_REATTACH_MS. */
static void xl_reattach_ask(struct xl_sock *s)
{
	struct xl_conn *c = s->conn;
	uint64_t now = xl_now_ns();
	bool done = false;

	if (s->reattaching || !xl_reattach_left(c))
		return;
	if (!s->reattach_since) {
		s->reattach_since = now;
		return;
	}
	if (now - s->reattach_since < xl_cfg.reattach_ms * 1000000ull)
		return;
	if (!xl_conn_trylock(&c->rx_lock))
		return;
	if (xl_conn_trylock(&c->tx_lock)) {
		done = xl_reattach_done(s, atomic_load(&s->chan));
		if (done)
			atomic_store(&c->drop_req, false);
		pthread_mutex_unlock(&c->tx_lock);
	}
	pthread_mutex_unlock(&c->rx_lock);
	if (!done)
		return;
	s->reattach_since = now;	/* the next try, if this one fails */
	if (xl_link_reattach(s) < 0)
		return;
	XL_DBG("cookie %llu: asking for a new ring",
	       (unsigned long long)s->cookie);
}

/*
 * Swap in the channel that came: under both locks, so that no sender or
 * receiver is in the old one; rx_lock is the caller's unless take_rx. The
 * pointer first (a lock-free look that sees the old flags sees TCP), the
 * directions' flags fresh, then our consumer is announced: from then on
 * the peer may open its new ring. Returns true if it was done.
 */
static bool xl_reattach_swap(struct xl_sock *s, bool take_rx)
{
	struct xl_conn *c = s->conn;
	struct xl_chan *next, *old;

	if (take_rx && !xl_conn_trylock(&c->rx_lock))
		return false;
	if (!xl_conn_trylock(&c->tx_lock)) {
		if (take_rx)
			pthread_mutex_unlock(&c->rx_lock);
		return false;
	}
	next = atomic_exchange(&s->next_chan, NULL);
	if (next) {
		old = atomic_load(&s->chan);
		atomic_store_explicit(&s->chan, next, memory_order_release);
		c->rx_ring_dead = c->rx_tcp_only = c->rx_back = false;
		atomic_store(&c->rx_ring, false);
		c->tx_closed = c->tx_gone_seen = false;
		atomic_store(&c->tx_left, false);
		s->retired = old;
		s->reattach_since = 0;
		c->switch_mark = xl_reattach_offs(c);
		atomic_fetch_add(&c->switches[XL_SWITCH_REATTACH], 1);
		atomic_store(&s->tx_hold, false);
		xl_chan_rx_announce(next);
		XL_INFO("cookie %llu: coming back onto a new ring at offsets "
			"%llu (ours) and %llu (the peer's)",
			(unsigned long long)s->cookie,
			(unsigned long long)xl_conn_tx_off(c),
			(unsigned long long)xl_conn_rx_off(c));
	}
	pthread_mutex_unlock(&c->tx_lock);
	if (take_rx)
		pthread_mutex_unlock(&c->rx_lock);
	if (next)
		xl_epoll_sock_changed(s);
	return next != NULL;
}

/* Free the retired channel once no call but ours is in progress (a
 * lock-free look may have loaded it before the swap) and no epoll entry
 * has its fds in its interest list. */
static void xl_reattach_reap(struct xl_sock *s)
{
	struct xl_chan *old = s->retired;
	int busy = atomic_load(&s->refcnt) - 1 - atomic_load(&s->nfds) -
		   atomic_load(&s->nep);

	if (busy || atomic_load(&s->ep_hold[old == &s->conn->chans[1]]) ||
	    atomic_load(&s->conn->procs) != 1)
		return;
	s->retired = NULL;
	xl_lib_enter();
	xl_chan_destroy(old);
	xl_lib_leave();
}

void xl_stream_reattach_step(struct xl_sock *s)
{
	if (!xl_cfg.reattach_ms)
		return;
	if (s->retired)
		xl_reattach_reap(s);
	if (atomic_load(&s->next_chan)) {
		xl_reattach_swap(s, true);
		return;
	}
	if (!s->retired && xl_reattach_allowed(s))
		xl_reattach_ask(s);
}

void xl_stream_reattach_end(struct xl_sock *s, bool last)
{
	struct xl_chan *ch[2] = { s->retired,
				  atomic_exchange(&s->next_chan, NULL) };
	int i;

	s->retired = NULL;
	for (i = 0; i < 2; i++) {
		if (!ch[i])
			continue;
		if (last && xl_chan_mapped(ch[i]))
			xl_chan_destroy(ch[i]);
		else
			xl_chan_forget(ch[i]);
	}
}
