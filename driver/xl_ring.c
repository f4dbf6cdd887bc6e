/* SPDX-License-Identifier: MIT */
/*
 * The SPSC byte ring: copy in, copy out, publish, validate, and the
 * notification-suppression protocol. No system calls (R6): the transport
 * does the notifying, this file only says when one is owed.
 *
 * How this works
 *
 * Each end owns one index (prod or cons) and keeps the authoritative copy
 * in private memory; the shared copy is only ever written from it, never
 * read back. The peer's index is read once per operation, validated against
 * what we already know (it may only move forward, and never so far that
 * more than size bytes would be in flight), and only then used. A value that
 * fails sets a sticky error: a peer that lies once is never believed again.
 *
 * Sleeping: a side that finds nothing to do sets its want flag, issues a
 * full barrier and looks again (xl_ring_*_prepare_sleep). A side that makes
 * progress publishes its index, issues a full barrier and then reads the
 * peer's want flag (xl_ring_*_notify_needed). With both barriers, at least
 * one of the two reads sees the other side's write, so either the sleeper
 * sees the progress and does not sleep, or the publisher sees the flag and
 * notifies: no lost wake-up. docs/ring.md walks through it.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "xl_barrier.h"
#include "xl_ring.h"

static int xl_ring_order_ok(uint32_t order)
{
	return order >= XL_WIRE_MIN_ORDER && order <= XL_WIRE_MAX_ORDER;
}

int xl_ring_ctrl_init(struct xl_wire_ctrl *ctrl, uint32_t order0,
		      uint32_t order1)
{
	unsigned int d;

	if (!xl_ring_order_ok(order0) || !xl_ring_order_ok(order1))
		return -EINVAL;
	memset(ctrl, 0, sizeof(*ctrl));
	ctrl->magic = XL_WIRE_MAGIC;
	ctrl->version = XL_WIRE_VERSION;
	ctrl->ctrl_size = XL_WIRE_CTRL_SIZE / XL_WIRE_CACHELINE;
	ctrl->order[0] = order0;
	ctrl->order[1] = order1;
	for (d = 0; d < 2; d++)
		ctrl->dir[d].p.live = XL_WIRE_LIVE;
	/* header and live bytes /before/ the peer is given the pages */
	xl_smp_mb();
	return 0;
}

int xl_ring_ctrl_check(const struct xl_wire_ctrl *ctrl, uint32_t order0,
		       uint32_t order1)
{
	uint32_t magic = XL_READ_ONCE(ctrl->magic);
	uint16_t version = XL_READ_ONCE(ctrl->version);
	uint16_t ctrl_size = XL_READ_ONCE(ctrl->ctrl_size);
	uint32_t o0 = XL_READ_ONCE(ctrl->order[0]);
	uint32_t o1 = XL_READ_ONCE(ctrl->order[1]);

	if (magic != XL_WIRE_MAGIC || version != XL_WIRE_VERSION ||
	    ctrl_size != XL_WIRE_CTRL_SIZE / XL_WIRE_CACHELINE)
		return -EPROTO;
	if (o0 != order0 || o1 != order1 || !xl_ring_order_ok(o0) ||
	    !xl_ring_order_ok(o1))
		return -EPROTO;
	return 0;
}

/* ---- copying, in at most two chunks per iovec piece at the wrap ---- */

static void xl_ring_copy_in(uint8_t *data, uint32_t size, uint32_t idx,
			    const uint8_t *src, size_t len)
{
	uint32_t off = idx & (size - 1);
	size_t first = size - off;

	/* an empty iovec piece may have a NULL base (writev 10+0+20) */
	if (!len)
		return;
	if (first > len)
		first = len;
	memcpy(data + off, src, first);
	memcpy(data, src + first, len - first);
}

static void xl_ring_copy_out(const uint8_t *data, uint32_t size,
			     uint32_t idx, uint8_t *dst, size_t len)
{
	uint32_t off = idx & (size - 1);
	size_t first = size - off;

	if (!len)
		return;
	if (first > len)
		first = len;
	memcpy(dst, data + off, first);
	memcpy(dst + first, data, len - first);
}

static size_t xl_iov_total(const struct iovec *iov, int iovcnt)
{
	size_t total = 0;
	int i;

	for (i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	return total;
}

/* Refresh our copy of the peer's [addr, addr + len), if it is one. A
 * failure leaves the copy as it was: the channel is void then, which its
 * transport reports. */
static void xl_ring_pull(const struct xl_ring_peer *peer, const void *addr,
			 size_t len)
{
	if (peer && peer->pull)
		(void)peer->pull(peer->arg, addr, len);
}

/* ---- producer ---- */

int xl_ring_tx_init(struct xl_ring_tx *tx, struct xl_wire_dir *sh,
		    void *data, uint32_t order, uint64_t start_off)
{
	if (!xl_ring_order_ok(order))
		return -EINVAL;
	memset(tx, 0, sizeof(*tx));
	tx->sh = sh;
	tx->data = data;
	tx->size = 1u << order;
	tx->start_off = start_off;
	XL_WRITE_ONCE(sh->p.prod, 0);
	XL_WRITE_ONCE(sh->p.start_off, start_off);
	/* start_off /before/ state OPEN */
	xl_store_release(&sh->p.state, XL_WIRE_PROD_OPEN);
	return 0;
}

static ssize_t xl_ring_tx_fail(struct xl_ring_tx *tx, int err)
{
	tx->error = err;
	return err;
}

/*
 * Read the consumer's line once and validate it. Returns the free space,
 * or -EPIPE (consumer closed) or -EPROTO.
 */
static ssize_t xl_ring_tx_refresh(struct xl_ring_tx *tx)
{
	uint32_t cons, cstate, inflight;

	if (tx->error)
		return tx->error;
	xl_ring_pull(tx->peer, &tx->sh->c, sizeof(tx->sh->c));
	/* state /before/ cons: a BACK state guarantees the final cons */
	cstate = xl_load_acquire(&tx->sh->c.state);
	/* cons /before/ we overwrite the slots it released */
	cons = xl_load_acquire(&tx->sh->c.cons);
	inflight = tx->prod - cons;
	/* cons may only move forward, and never past prod */
	if (inflight > tx->size || cons - tx->cons > tx->prod - tx->cons)
		return xl_ring_tx_fail(tx, -EPROTO);
	/* the consumer's state only moves forward: OPEN -> CLOSED, or
	 * OPEN -> BACK -> CLOSED; its index stays put from BACK on */
	if (cstate > XL_WIRE_CONS_BACK ||
	    (tx->peer_closed && cstate != XL_WIRE_CONS_CLOSED) ||
	    (tx->peer_back && (cstate == XL_WIRE_CONS_OPEN ||
			       cons != tx->cons)))
		return xl_ring_tx_fail(tx, -EPROTO);
	tx->cons = cons;
	if (cstate == XL_WIRE_CONS_BACK)
		tx->peer_back = true;
	if (cstate == XL_WIRE_CONS_CLOSED) {
		tx->peer_closed = true;
		return -EPIPE;
	}
	if (tx->peer_back)
		return -EXDEV;
	return tx->size - inflight;
}

ssize_t xl_ring_write(struct xl_ring_tx *tx, const struct iovec *iov,
		      int iovcnt)
{
	size_t total = xl_iov_total(iov, iovcnt), done = 0, n;
	ssize_t space;
	int i;

	if (tx->error)
		return tx->error;
	if (tx->closed)
		return -ESHUTDOWN;
	space = xl_ring_tx_refresh(tx);
	if (space < 0)
		return space;
	if (total == 0)
		return 0;
	if (space == 0)
		return -EAGAIN;
	for (i = 0; i < iovcnt && done < (size_t)space; i++) {
		n = iov[i].iov_len;
		if (n > (size_t)space - done)
			n = (size_t)space - done;
		xl_ring_copy_in(tx->data, tx->size, tx->prod + (uint32_t)done,
				iov[i].iov_base, n);
		done += n;
	}
	tx->prod += (uint32_t)done;
	tx->sent += done;
	/* payload /before/ prod */
	xl_store_release(&tx->sh->p.prod, tx->prod);
	return (ssize_t)done;
}

size_t xl_ring_tx_space(struct xl_ring_tx *tx)
{
	ssize_t space;

	if (tx->closed)
		return 0;
	space = xl_ring_tx_refresh(tx);
	return space > 0 ? (size_t)space : 0;
}

bool xl_ring_tx_ready(struct xl_ring_tx *tx)
{
	return tx->closed || xl_ring_tx_refresh(tx) != 0;
}

bool xl_ring_tx_prepare_sleep(struct xl_ring_tx *tx)
{
	XL_WRITE_ONCE(tx->sh->p.want_space, tx->peer ?
		      xl_ring_want_next(XL_READ_ONCE(tx->sh->p.want_space)) : 1);
	/* want_space /before/ re-reading cons: pairs with the barrier in
	 * xl_ring_rx_notify_needed() */
	xl_smp_mb();
	if (xl_ring_tx_ready(tx)) {
		XL_WRITE_ONCE(tx->sh->p.want_space, 0);
		return false;
	}
	return true;
}

void xl_ring_tx_end_sleep(struct xl_ring_tx *tx)
{
	XL_WRITE_ONCE(tx->sh->p.want_space, 0);
}

bool xl_ring_tx_notify_needed(struct xl_ring_tx *tx)
{
	/* prod (and state) /before/ reading want_data: pairs with the
	 * barrier in xl_ring_rx_prepare_sleep() */
	xl_smp_mb();
	if (tx->peer) {
		uint32_t want, cons;

		xl_ring_pull(tx->peer, &tx->sh->c, sizeof(tx->sh->c));
		want = XL_READ_ONCE(tx->sh->c.want_data);
		if (!want)
			return false;
		/* not twice for one sleep: a consumer that sleeps again
		 * after our kick announces anew (or has consumed; the
		 * barriers on both sides make us see either) */
		cons = XL_READ_ONCE(tx->sh->c.cons);
		if (tx->kicked && want == tx->kick_want &&
		    cons == tx->kick_cons)
			return false;
		tx->kicked = true;
		tx->kick_want = want;
		tx->kick_cons = cons;
		return true;
	}
	if (!XL_READ_ONCE(tx->sh->c.want_data))
		return false;
	/* claim the announcement so one sleep costs one notification */
	return xl_xchg_clear(&tx->sh->c.want_data) != 0;
}

/* Publish the end of the ring stream with final state st. */
static int xl_ring_tx_end(struct xl_ring_tx *tx, uint32_t st)
{
	if (tx->error)
		return tx->error;
	if (tx->closed)
		return 0;
	/* our state /before/ looking for the consumer's BACK: one of us
	 * sees the other (pairs with the barrier in xl_ring_rx_back()) */
	xl_smp_mb();
	if (xl_ring_tx_peer_back(tx))
		return -EXDEV;	/* the caller answers it instead */
	tx->closed = true;
	XL_WRITE_ONCE(tx->sh->p.end_off, tx->start_off + tx->sent);
	/* payload, prod and end_off /before/ the final state */
	xl_store_release(&tx->sh->p.state, st);
	return 0;
}

int xl_ring_tx_close(struct xl_ring_tx *tx)
{
	return xl_ring_tx_end(tx, XL_WIRE_PROD_CLOSED);
}

int xl_ring_tx_leave(struct xl_ring_tx *tx)
{
	return xl_ring_tx_end(tx, XL_WIRE_PROD_LEFT);
}

uint64_t xl_ring_tx_offset(const struct xl_ring_tx *tx)
{
	return tx->start_off + tx->sent;
}

bool xl_ring_tx_peer_attached(const struct xl_ring_tx *tx)
{
	xl_ring_pull(tx->peer, &tx->sh->c, sizeof(tx->sh->c));
	return XL_READ_ONCE(tx->sh->c.attached) != 0;
}

uint64_t xl_ring_tx_acked(const struct xl_ring_tx *tx)
{
	return tx->start_off + tx->sent - (uint32_t)(tx->prod - tx->cons);
}

ssize_t xl_ring_tx_unacked(struct xl_ring_tx *tx, struct iovec iov[2])
{
	ssize_t space = xl_ring_tx_refresh(tx);
	uint32_t n, at, first;

	if (space < 0 && space != -EXDEV)
		return space;
	n = tx->prod - tx->cons;
	at = tx->cons & (tx->size - 1);
	first = n < tx->size - at ? n : tx->size - at;
	iov[0] = (struct iovec){ tx->data + at, first };
	iov[1] = (struct iovec){ tx->data, n - first };
	return n;
}

bool xl_ring_tx_peer_back(struct xl_ring_tx *tx)
{
	if (tx->closed || tx->error)
		return false;
	if (tx->peer_back)
		return true;
	xl_ring_pull(tx->peer, &tx->sh->c, sizeof(tx->sh->c));
	return xl_load_acquire(&tx->sh->c.state) == XL_WIRE_CONS_BACK;
}

ssize_t xl_ring_tx_answer_back(struct xl_ring_tx *tx, struct iovec iov[2])
{
	ssize_t n;

	if (tx->closed)
		return -ESHUTDOWN;
	n = xl_ring_tx_unacked(tx, iov);
	if (n < 0)
		return n;
	if (!tx->peer_back)
		return -EAGAIN;
	/* the ring stream ends where the consumer stopped: end_off and
	 * LEFT as xl_ring_tx_leave() publishes them, minus the unread */
	tx->closed = true;
	XL_WRITE_ONCE(tx->sh->p.end_off, tx->start_off + tx->sent -
		      (uint64_t)n);
	xl_store_release(&tx->sh->p.state, XL_WIRE_PROD_LEFT);
	return n;
}

/* ---- consumer ---- */

int xl_ring_rx_init_quiet(struct xl_ring_rx *rx, struct xl_wire_dir *sh,
			  void *data, uint32_t order)
{
	if (!xl_ring_order_ok(order))
		return -EINVAL;
	memset(rx, 0, sizeof(*rx));
	rx->sh = sh;
	rx->data = data;
	rx->size = 1u << order;
	rx->pstate = XL_WIRE_PROD_IDLE;
	return 0;
}

void xl_ring_rx_announce(struct xl_ring_rx *rx)
{
	/* our private state /before/ the producer may start using us */
	xl_store_release(&rx->sh->c.attached, 1);
}

int xl_ring_rx_init(struct xl_ring_rx *rx, struct xl_wire_dir *sh,
		    void *data, uint32_t order)
{
	int ret = xl_ring_rx_init_quiet(rx, sh, data, order);

	if (ret == 0)
		xl_ring_rx_announce(rx);
	return ret;
}

static ssize_t xl_ring_rx_fail(struct xl_ring_rx *rx, int err)
{
	rx->error = err;
	return err;
}

/* Take in a producer state change; start_off and end_off are read once,
 * when the state that makes them valid is first seen. */
static int xl_ring_rx_new_state(struct xl_ring_rx *rx, uint32_t pstate)
{
	/* IDLE -> OPEN -> CLOSED or LEFT, and no further */
	if (pstate > XL_WIRE_PROD_LEFT || pstate < rx->pstate ||
	    (rx->pstate >= XL_WIRE_PROD_CLOSED && pstate != rx->pstate))
		return -EPROTO;
	if (rx->pstate == XL_WIRE_PROD_IDLE && pstate != XL_WIRE_PROD_IDLE)
		rx->start_off = XL_READ_ONCE(rx->sh->p.start_off);
	if (rx->pstate < XL_WIRE_PROD_CLOSED && pstate >= XL_WIRE_PROD_CLOSED)
		rx->end_off = XL_READ_ONCE(rx->sh->p.end_off);
	rx->pstate = pstate;
	return 0;
}

/*
 * Read the producer's line once and validate it. Returns the bytes
 * available, or -EPROTO.
 */
static ssize_t xl_ring_rx_refresh(struct xl_ring_rx *rx)
{
	uint32_t pstate, prod, avail;
	int tries = 0;

	if (rx->error)
		return rx->error;
again:
	xl_ring_pull(rx->peer, &rx->sh->p, sizeof(rx->sh->p));
	/* state /before/ prod: a CLOSED state guarantees the final prod */
	pstate = xl_load_acquire(&rx->sh->p.state);
	/* a copy takes prod before state: take it again after a final
	 * state, which then covers the final prod */
	if (rx->peer && rx->peer->pull && pstate >= XL_WIRE_PROD_CLOSED &&
	    rx->pstate < XL_WIRE_PROD_CLOSED)
		xl_ring_pull(rx->peer, &rx->sh->p, sizeof(rx->sh->p));
	/* prod /before/ reading the payload it covers */
	prod = xl_load_acquire(&rx->sh->p.prod);
	avail = prod - rx->cons;
	/* The producer opened its ring and wrote between our two reads (it
	 * publishes OPEN /before/ any byte): both again, once; the state
	 * read after this prod is OPEN or later. A byte seen twice with the
	 * state IDLE is the producer's lie. */
	if (pstate == XL_WIRE_PROD_IDLE && avail && !tries++)
		goto again;
	if (xl_ring_rx_new_state(rx, pstate) < 0)
		return xl_ring_rx_fail(rx, -EPROTO);
	/* prod may only move forward, never more than size ahead of us */
	if (avail > rx->size || avail < rx->prod - rx->cons)
		return xl_ring_rx_fail(rx, -EPROTO);
	if (rx->pstate == XL_WIRE_PROD_IDLE && avail)
		return xl_ring_rx_fail(rx, -EPROTO);
	/* the end offset must match exactly the bytes published */
	if (rx->pstate >= XL_WIRE_PROD_CLOSED &&
	    rx->end_off != rx->start_off + rx->done + avail)
		return xl_ring_rx_fail(rx, -EPROTO);
	rx->prod = prod;
	return avail;
}

/* Refresh our copy of the n bytes at index i of a pulled ring. */
static void xl_ring_pull_data(struct xl_ring_rx *rx, uint32_t i, size_t n)
{
	uint32_t off = i & (rx->size - 1), first;

	if (!rx->peer || !rx->peer->pull || !n)
		return;
	first = rx->size - off;
	if (first > n)
		first = (uint32_t)n;
	xl_ring_pull(rx->peer, rx->data + off, first);
	if (n > first)
		xl_ring_pull(rx->peer, rx->data, n - first);
}

ssize_t xl_ring_read(struct xl_ring_rx *rx, const struct iovec *iov,
		     int iovcnt, unsigned int flags)
{
	size_t total = xl_iov_total(iov, iovcnt), done = 0, n;
	ssize_t avail;
	int i;

	if (rx->error)
		return rx->error;
	if (rx->closed)
		return 0;
	avail = xl_ring_rx_refresh(rx);
	if (avail < 0)
		return avail;
	if (avail == 0) {
		if (rx->pstate == XL_WIRE_PROD_CLOSED)
			return 0;
		return rx->pstate == XL_WIRE_PROD_LEFT ? -EXDEV : -EAGAIN;
	}
	if (total == 0)
		return -EAGAIN;
	for (i = 0; i < iovcnt && done < (size_t)avail; i++) {
		n = iov[i].iov_len;
		if (n > (size_t)avail - done)
			n = (size_t)avail - done;
		xl_ring_pull_data(rx, rx->cons + (uint32_t)done, n);
		xl_ring_copy_out(rx->data, rx->size, rx->cons + (uint32_t)done,
				 iov[i].iov_base, n);
		done += n;
	}
	if (!(flags & XL_RING_PEEK)) {
		rx->cons += (uint32_t)done;
		rx->done += done;
		/* payload copied out /before/ cons releases the slots */
		xl_store_release(&rx->sh->c.cons, rx->cons);
	}
	return (ssize_t)done;
}

size_t xl_ring_rx_avail(struct xl_ring_rx *rx)
{
	ssize_t avail;

	if (rx->closed)
		return 0;
	avail = xl_ring_rx_refresh(rx);
	return avail > 0 ? (size_t)avail : 0;
}

bool xl_ring_rx_ready(struct xl_ring_rx *rx)
{
	if (rx->closed)
		return true;
	return xl_ring_rx_refresh(rx) != 0 ||
	       rx->pstate >= XL_WIRE_PROD_CLOSED;
}

bool xl_ring_rx_prepare_sleep(struct xl_ring_rx *rx)
{
	XL_WRITE_ONCE(rx->sh->c.want_data, rx->peer ?
		      xl_ring_want_next(XL_READ_ONCE(rx->sh->c.want_data)) : 1);
	/* want_data /before/ re-reading prod: pairs with the barrier in
	 * xl_ring_tx_notify_needed() */
	xl_smp_mb();
	if (xl_ring_rx_ready(rx)) {
		XL_WRITE_ONCE(rx->sh->c.want_data, 0);
		return false;
	}
	return true;
}

void xl_ring_rx_end_sleep(struct xl_ring_rx *rx)
{
	XL_WRITE_ONCE(rx->sh->c.want_data, 0);
}

bool xl_ring_rx_notify_needed(struct xl_ring_rx *rx)
{
	/* cons /before/ reading want_space: pairs with the barrier in
	 * xl_ring_tx_prepare_sleep() */
	xl_smp_mb();
	if (rx->peer) {
		uint32_t want, prod;

		xl_ring_pull(rx->peer, &rx->sh->p, sizeof(rx->sh->p));
		want = XL_READ_ONCE(rx->sh->p.want_space);
		if (!want)
			return false;
		/* as xl_ring_tx_notify_needed(): once per announcement
		 * (a producer woken for too little room sleeps again) */
		prod = XL_READ_ONCE(rx->sh->p.prod);
		if (rx->kicked && want == rx->kick_want &&
		    prod == rx->kick_prod)
			return false;
		rx->kicked = true;
		rx->kick_want = want;
		rx->kick_prod = prod;
		return true;
	}
	if (!XL_READ_ONCE(rx->sh->p.want_space))
		return false;
	return xl_xchg_clear(&rx->sh->p.want_space) != 0;
}

void xl_ring_tx_set_peer(struct xl_ring_tx *tx, const struct xl_ring_peer *peer)
{
	tx->peer = peer;
}

void xl_ring_rx_set_peer(struct xl_ring_rx *rx, const struct xl_ring_peer *peer)
{
	rx->peer = peer;
}

int xl_ring_rx_close(struct xl_ring_rx *rx)
{
	if (rx->closed)
		return 0;
	rx->closed = true;
	/* everything we consumed /before/ the producer sees us gone */
	xl_store_release(&rx->sh->c.state, XL_WIRE_CONS_CLOSED);
	return 0;
}

int xl_ring_rx_back(struct xl_ring_rx *rx)
{
	uint64_t start, end, consumed;
	uint32_t pstate;

	if (rx->closed)
		return -EPIPE;
	if (!rx->back) {
		rx->back = true;
		/* our index is final /before/ the state says so */
		xl_store_release(&rx->sh->c.cons, rx->cons);
		xl_store_release(&rx->sh->c.state, XL_WIRE_CONS_BACK);
		/* BACK /before/ looking at the producer's state: pairs with
		 * the barrier in xl_ring_tx_end() */
		xl_smp_mb();
	}
	xl_ring_pull(rx->peer, &rx->sh->p, sizeof(rx->sh->p));
	pstate = xl_load_acquire(&rx->sh->p.state);
	/* a copy may take end_off before state: take it again after a
	 * final state, as xl_ring_rx_refresh() does */
	if (rx->peer && rx->peer->pull && pstate >= XL_WIRE_PROD_CLOSED)
		xl_ring_pull(rx->peer, &rx->sh->p, sizeof(rx->sh->p));
	if (rx->pstate >= XL_WIRE_PROD_CLOSED) {
		pstate = rx->pstate;	/* final: the page may lie now */
		end = rx->end_off;
	} else if (pstate <= XL_WIRE_PROD_OPEN || pstate > XL_WIRE_PROD_LEFT) {
		/* it will see BACK before it ends the ring: the rest comes
		 * by TCP from what we consumed. (A state that is no state is
		 * the producer's own mess: it spoils only the stream it
		 * sends us; one that follows the protocol answers BACK.) */
		return 1;
	} else {
		end = XL_READ_ONCE(rx->sh->p.end_off);
	}
	start = rx->pstate == XL_WIRE_PROD_IDLE ?
		XL_READ_ONCE(rx->sh->p.start_off) : rx->start_off;
	consumed = start + rx->done;
	if (end == consumed)
		return 1;
	/* it ended the ring before it saw BACK: the ring has the rest */
	if (rx->error || end < consumed || end - consumed > rx->size)
		return -EPROTO;
	return 0;
}

int xl_ring_rx_started(struct xl_ring_rx *rx, uint64_t *start_off)
{
	ssize_t ret = xl_ring_rx_refresh(rx);

	if (ret < 0)
		return (int)ret;
	if (rx->pstate == XL_WIRE_PROD_IDLE)
		return 0;
	*start_off = rx->start_off;
	return 1;
}

uint64_t xl_ring_rx_offset(const struct xl_ring_rx *rx)
{
	return rx->start_off + rx->done;
}
