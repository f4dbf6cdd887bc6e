/* SPDX-License-Identifier: MIT */
/*
 * Readiness of a tracked socket for poll, select and epoll (protocol §4):
 * a socket with a channel is readable when its ring has data or has ended,
 * or while its kernel socket still holds bytes from before the peer's ring
 * started; writable when its ring has room (or would have: the peer is
 * attached and our next write opens it), else as the kernel socket says.
 *
 * These functions only read: the shared indices and flags of the rings,
 * and the private indices of the thread that owns them (a torn-free load
 * of a word that thread writes). The answer is a hint that is always
 * re-checked by the call that acts on it under the direction's lock, so a
 * poll never waits for a blocked read to finish, and a hostile value can
 * only cause a wake-up whose read then fails cleanly.
 */
#include "config.h"

#include "xl_barrier.h"
#include "xl_preload.h"
#include "xl_sock.h"

#define XL_PRIV(x)	__atomic_load_n(&(x), __ATOMIC_RELAXED)

/* What a read of the ring would find. */
enum xl_ready_ring {
	XL_RR_EMPTY,	/* nothing yet: a read waits */
	XL_RR_DATA,	/* bytes, or our own end of reading: a read returns */
	XL_RR_END,	/* drained, and the peer ended or left its stream */
};

/* lowat: SO_RCVLOWAT, the bytes that make the socket readable (Linux's
 * tcp_poll(); a full ring does too, or a reader would never come). */
static enum xl_ready_ring xl_ready_rx_ring(struct xl_chan *ch, int lowat)
{
	struct xl_ring_rx *rx = &ch->rx;
	uint32_t st, used, want = lowat > 1 ? (uint32_t)lowat : 1;

	if (XL_PRIV(rx->error) || XL_PRIV(rx->closed))
		return XL_RR_DATA;
	/* state /before/ prod, as the reader does */
	st = xl_load_acquire(&rx->sh->p.state);
	used = xl_load_acquire(&rx->sh->p.prod) - XL_PRIV(rx->cons);
	if (want > XL_PRIV(rx->size))
		want = XL_PRIV(rx->size);
	/* a hostile prod (used > size) reads as readable: the read then
	 * finds the ring dead */
	if (used >= want)
		return XL_RR_DATA;
	if (st >= XL_WIRE_PROD_CLOSED)
		return used ? XL_RR_DATA : XL_RR_END;
	return XL_RR_EMPTY;
}

/*
 * The receive side once the ring is where the next byte comes from. A
 * drained ring whose peer ended it (or vanished) leaves the last word to
 * the kernel socket: whether the stream ended with a FIN (POLLIN|
 * POLLRDHUP) or a reset (POLLERR|POLLHUP), and when, is what the kernel
 * says, exactly as on plain TCP; the ring's end only comes first.
 */
static void xl_ready_rx_on_ring(struct xl_sock *s, struct xl_chan *ch,
				bool live, struct xl_ready *r)
{
	switch (xl_ready_rx_ring(ch, atomic_load_explicit(&s->rcvlowat,
						       memory_order_relaxed))) {
	case XL_RR_DATA:
		r->in = true;
		break;
	case XL_RR_END:
		r->kern_in = true;
		break;
	case XL_RR_EMPTY:
		if (live)
			r->wait_data = true;
		else
			r->kern_in = true;
		break;
	}
}

/*
 * Would a write to the ring return without waiting? As the kernel says of
 * a TCP socket (sk_stream_is_writeable()): writable while the free space
 * is at least half of what is queued, that is with a third of the ring
 * free. A program that writes after POLLOUT in blocking mode, from one
 * thread that also reads (socat, proxies), relies on that room: with one
 * free byte counted as writable, two such programs blocked in writes to
 * each other's full rings for good.
 */
static bool xl_ready_tx_ring(struct xl_chan *ch)
{
	struct xl_ring_tx *tx = &ch->tx;
	uint32_t cons, used;

	if (XL_PRIV(tx->error) || XL_PRIV(tx->closed))
		return true;
	if (XL_READ_ONCE(tx->sh->c.state) != XL_WIRE_CONS_OPEN)
		return true;
	cons = xl_load_acquire(&tx->sh->c.cons);
	used = (uint32_t)(XL_PRIV(tx->prod) - cons);
	/* a hostile cons (used > size) reads as writable: the write then
	 * finds the ring dead */
	return (uint64_t)used * 3 <= (uint64_t)XL_PRIV(tx->size) * 2 ||
	       used > XL_PRIV(tx->size);
}

/* The receive side, before the reader has committed to the ring. */
static void xl_ready_rx_early(struct xl_sock *s, struct xl_chan *ch,
			      bool live, struct xl_ready *r)
{
	uint32_t st = xl_load_acquire(&ch->rx.sh->p.state);
	uint64_t off;

	if (st == XL_WIRE_PROD_IDLE) {
		/* the ring may start at any moment while the peer lives */
		r->kern_in = true;
		r->wait_data = live;
		return;
	}
	off = XL_READ_ONCE(ch->rx.sh->p.start_off);
	if (xl_conn_rx_off(s->conn) < off) {
		r->kern_in = true;	/* bytes from before the switch */
		return;
	}
	xl_ready_rx_on_ring(s, ch, live, r);
}

static void xl_ready_rx(struct xl_sock *s, struct xl_chan *ch, bool live,
			struct xl_ready *r)
{
	if (atomic_load_explicit(&s->conn->rx_ring, memory_order_acquire)) {
		if (XL_PRIV(s->conn->rx_ring_dead))
			r->kern_in = true;
		else
			xl_ready_rx_on_ring(s, ch, live, r);
		return;
	}
	if (XL_PRIV(s->conn->rx_tcp_only)) {
		r->kern_in = true;
		return;
	}
	xl_ready_rx_early(s, ch, live, r);
}

static void xl_ready_tx(struct xl_sock *s, struct xl_chan *ch, bool live,
			struct xl_ready *r)
{
	if (atomic_load_explicit(&s->conn->tx_ring, memory_order_acquire)) {
		if (xl_ready_tx_ring(ch) || !live)
			r->out = true;
		else
			r->wait_space = true;
		return;
	}
	/* the next write opens a fresh, empty ring */
	if (live && !atomic_load(&s->conn->shut_wr) && !atomic_load(&s->conn->broken) &&
	    xl_chan_tx_peer_attached(ch))
		r->out = true;
	else
		r->kern_out = true;
}

/*
 * Leaving the ring (protocol.md §5.1) is done by the socket's next call:
 * a receive does all of it. So the socket is readable while the peer
 * waits for our answer to its BACK, while a DROP is not carried out, and
 * while a resend is not done (the peer reads TCP then, so it drains at
 * once; a receive pushes it on); writable only as the kernel says then.
 */
static void xl_ready_switch(struct xl_sock *s, struct xl_chan *ch,
			    struct xl_ready *r)
{
	struct xl_conn *c = s->conn;
	bool tx_ring = atomic_load(&c->tx_ring);

	if (tx_ring && !XL_PRIV(c->tx_closed) &&
	    (XL_READ_ONCE(ch->tx.sh->c.state) == XL_WIRE_CONS_BACK ||
	     atomic_load(&c->drop_req)))
		r->in = true;
	if (atomic_load(&c->drop_req) && !XL_PRIV(c->rx_back) &&
	    !XL_PRIV(c->rx_ring_dead) && !XL_PRIV(c->rx_tcp_only))
		r->in = true;
	if (atomic_load(&c->tx_resend)) {
		r->out = false;
		r->wait_space = false;
		r->kern_out = true;
		r->in = true;
	}
}

void xl_ready_get(struct xl_sock *s, struct xl_ready *r)
{
	int state = atomic_load_explicit(&s->state, memory_order_acquire);
	struct xl_chan *ch;
	bool live;

	*r = (struct xl_ready){ .kern_in = false };
	if (state != XL_SOCK_CHAN) {
		r->kern_in = r->kern_out = true;
		r->link = state == XL_SOCK_PENDING;
		return;
	}
	if (atomic_load(&s->conn->broken)) {
		r->in = r->out = true;
		return;
	}
	ch = atomic_load_explicit(&s->chan, memory_order_acquire);
	live = xl_chan_peer_live(ch);
	xl_ready_rx(s, ch, live, r);
	xl_ready_tx(s, ch, live, r);
	/* shut down for reading: a read returns at once (Linux: POLLIN) */
	if (atomic_load(&s->conn->shut_rd))
		r->in = true;
	/* The peer vanished while our direction is on the ring: whether its
	 * connection lives on (an exec()) is for the next read to find out,
	 * and to resend what the peer never read (xl_stream.c). Until then
	 * the socket is readable, so that a program waiting for the answer
	 * to what it sent does call it. (A peer that closed its end went
	 * through its library: its kernel socket has said so.) */
	if (!live && atomic_load(&s->conn->tx_ring) &&
	    !XL_PRIV(s->conn->tx_gone_seen) &&
	    XL_READ_ONCE(ch->tx.sh->c.state) == XL_WIRE_CONS_OPEN)
		r->in = true;
	xl_ready_switch(s, ch, r);
}

/*
 * Announce a sleeper in our own line. Where the peer cannot claim the
 * announcement back (a channel of the kernel module: ch->peer), each is a
 * new value, which tells the peer that we sleep again after its last
 * kick (xl_ring_want_next()); elsewhere 1, as always.
 */
static void xl_ready_want_data(struct xl_chan *ch)
{
	XL_WRITE_ONCE(ch->rx.sh->c.want_data, ch->peer ?
		      xl_ring_want_next(XL_READ_ONCE(ch->rx.sh->c.want_data)) :
		      1);
}

static void xl_ready_want_space(struct xl_chan *ch)
{
	XL_WRITE_ONCE(ch->tx.sh->p.want_space, ch->peer ?
		      xl_ring_want_next(XL_READ_ONCE(ch->tx.sh->p.want_space)) :
		      1);
}

bool xl_ready_announce(struct xl_sock *s, bool in, bool out)
{
	struct xl_chan *ch = atomic_load_explicit(&s->chan,
						  memory_order_acquire);
	struct xl_ready r;

	if (!ch)
		return true;
	xl_ready_get(s, &r);
	if (in && r.wait_data)
		xl_ready_want_data(ch);
	if (out && r.wait_space)
		xl_ready_want_space(ch);
	/* want flags /before/ looking at the indices again: pairs with the
	 * barrier in the peer's notify check */
	xl_smp_mb();
	/* stale flags are left set: another waiter may share them, and one
	 * spurious kick costs less than a lost one */
	xl_ready_get(s, &r);
	return !((in && r.in) || (out && r.out));
}

void xl_ready_want(struct xl_sock *s, bool in, bool out)
{
	struct xl_chan *ch = atomic_load_explicit(&s->chan,
						  memory_order_acquire);

	if (!ch)
		return;
	if (in && !XL_PRIV(s->conn->rx_ring_dead) && !XL_PRIV(s->conn->rx_tcp_only))
		xl_ready_want_data(ch);
	if (out && atomic_load_explicit(&s->conn->tx_ring, memory_order_acquire))
		xl_ready_want_space(ch);
	/* want flags /before/ the caller looks at the indices again: pairs
	 * with the barrier in the peer's notify check */
	xl_smp_mb();
}

int xl_ready_pollfds(struct xl_sock *s, bool in, bool out,
		     struct pollfd *pfd, int max)
{
	struct xl_chan *ch = atomic_load_explicit(&s->chan,
						  memory_order_acquire);
	int n = 0, k;

	/* What the caller announced, not what the rings say now: the peer
	 * may have answered the announcement already, and its kick is then
	 * waiting on exactly these fds. Deciding again here (as this did)
	 * left a sender whose ring drained between the announcement and
	 * this call asleep on no fd at all, for good. */
	if (!ch || max < 4)
		return 0;
	if (in) {
		k = xl_chan_pollfds(ch, XL_WAIT_DATA, pfd, 2);
		n += k > 0 ? k : 0;
	}
	if (out) {
		k = xl_chan_pollfds(ch, XL_WAIT_SPACE, pfd + n, 2);
		if (k > 0) {
			/* mark the group so that ack knows what it is */
			pfd[n].events |= POLLPRI;
			n += k;
		}
	}
	return n;
}

void xl_ready_ack(struct xl_sock *s, const struct pollfd *pfd, int n)
{
	struct xl_chan *ch = atomic_load_explicit(&s->chan,
						  memory_order_acquire);
	int i;

	if (!ch)
		return;
	xl_lib_enter();
	if (!pfd) {
		xl_chan_ack(ch, XL_WAIT_DATA, NULL, 0);
		xl_chan_ack(ch, XL_WAIT_SPACE, NULL, 0);
	}
	for (i = 0; pfd && i + 1 < n; i += 2)
		xl_chan_ack(ch, pfd[i].events & POLLPRI ? XL_WAIT_SPACE :
			    XL_WAIT_DATA, pfd + i, 2);
	xl_lib_leave();
}
