/* SPDX-License-Identifier: MIT */
/*
 * The transport-neutral channel: two rings and how to wait on them.
 *
 * How this works
 *
 * Sending and receiving are ring operations (xl_ring.c) and cost no system
 * call while the peer keeps up. When a ring op would block, the caller
 * first spins for a bounded time, re-checking the ring: against an active
 * peer on another CPU the answer usually comes within a microsecond or two,
 * far cheaper than a sleep and a wake-up. The spin budget adapts: it grows
 * back to its ceiling each time spinning paid off and halves each time it
 * did not, so an idle peer costs little CPU — except right after we woke
 * a sleeping peer, when a miss says nothing about the peer's pace. Then the caller announces it
 * is going to sleep (ring want flag), re-checks, and sleeps in poll() on
 * the transport's fds, waking at least once a second to look at the peer's
 * liveness: a peer that vanished is noticed within about a second.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "xl_barrier.h"
#include "xl_chan.h"

/* Iovec pieces handled per ring call; larger arrays go in batches. */
#define XL_CHAN_IOV_BATCH	64
/* Longest single sleep, so that liveness is checked at least this often. */
#define XL_CHAN_LIVENESS_MS	1000

static uint64_t xl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint8_t *xl_chan_dir_data(struct xl_chan *ch, unsigned int d)
{
	if (ch->ddata[d])
		return ch->ddata[d];
	return ch->data + (d ? (1ull << ch->order[0]) : 0);
}

static struct xl_wire_dir *xl_chan_dir_sh(struct xl_chan *ch, unsigned int d)
{
	return ch->dsh[d] ? ch->dsh[d] : &ch->ctrl->dir[d];
}

/* Refresh our copy of the peer's part of direction d's lines, if a copy. */
static void xl_chan_pull(struct xl_chan *ch, const void *addr, size_t len)
{
	if (ch->peer && ch->peer->pull)
		(void)ch->peer->pull(ch->peer->arg, addr, len);
}

static void xl_chan_init(struct xl_chan *ch, const struct xl_backend_ops *ops,
			 unsigned int side, uint32_t spin_ns)
{
	memset(ch, 0, sizeof(*ch));
	ch->ops = ops;
	ch->side = side;
	if (spin_ns > XL_CHAN_SPIN_NS_MAX)
		spin_ns = XL_CHAN_SPIN_NS_MAX;
	ch->spin_ns = spin_ns;
	ch->ds[XL_CHAN_TX].spin_cur = ch->ds[XL_CHAN_RX].spin_cur = spin_ns;
}

static struct xl_chan *xl_chan_alloc(const struct xl_backend_ops *ops,
				     unsigned int side, uint32_t spin_ns)
{
	struct xl_chan *ch = malloc(sizeof(*ch));

	if (ch)
		xl_chan_init(ch, ops, side, spin_ns);
	return ch;
}

static void xl_chan_free(struct xl_chan *ch)
{
	if (!ch->placed)
		free(ch);
}

/* Common tail of create and attach: become the consumer of our rx
 * direction (the peer's tx direction); quiet: not seen by the producer
 * until xl_chan_rx_announce(). */
static int xl_chan_setup_rx(struct xl_chan *ch, const uint32_t order[2],
			    bool quiet)
{
	unsigned int d = !ch->side;
	int ret;

	ch->order[0] = order[0];
	ch->order[1] = order[1];
	ret = xl_ring_rx_init_quiet(&ch->rx, xl_chan_dir_sh(ch, d),
				    xl_chan_dir_data(ch, d), order[d]);
	if (ret == 0 && ch->peer)
		xl_ring_rx_set_peer(&ch->rx, ch->peer);
	if (ret == 0 && !quiet)
		xl_ring_rx_announce(&ch->rx);
	return ret;
}

void xl_chan_rx_announce(struct xl_chan *ch)
{
	xl_ring_rx_announce(&ch->rx);
}

int xl_chan_create(struct xl_chan **out, const struct xl_backend_ops *ops,
		   const struct xl_chan_params *p, struct xl_chan_desc *desc,
		   uint32_t spin_ns)
{
	struct xl_chan *ch = xl_chan_alloc(ops, 0, spin_ns);
	int ret;

	if (!ch)
		return -ENOMEM;
	ret = ops->create(ch, p, desc);
	if (ret < 0)
		goto out_free;
	ret = xl_chan_setup_rx(ch, p->order, false);
	if (ret < 0)
		goto out_destroy;
	*out = ch;
	return 0;

out_destroy:
	ops->destroy(ch);
	ops->desc_release(desc);
out_free:
	free(ch);
	return ret;
}

/* Attach ch, initialised for desc's side and transport ops. */
static int xl_chan_do_attach(struct xl_chan *ch, const struct xl_chan_desc *desc,
			     bool quiet)
{
	int ret = ch->ops->attach(ch, desc);

	if (ret < 0)
		return ret;
	/* the creator wrote the control page: believe only what was agreed
	 * (a transport with a page per side checked its peer's itself) */
	if (!ch->dsh[0])
		ret = xl_ring_ctrl_check(ch->ctrl, desc->order[0],
					 desc->order[1]);
	if (ret == 0)
		ret = xl_chan_setup_rx(ch, desc->order, quiet);
	if (ret < 0)
		ch->ops->destroy(ch);
	return ret;
}

int xl_chan_attach(struct xl_chan **out, const struct xl_chan_desc *desc,
		   uint32_t spin_ns)
{
	const struct xl_backend_ops *ops = xl_backend_get(desc->kind);
	struct xl_chan *ch;
	int ret;

	if (!ops)
		return -EPROTONOSUPPORT;
	if (desc->side > 1)
		return -EINVAL;
	ch = xl_chan_alloc(ops, desc->side, spin_ns);
	if (!ch)
		return -ENOMEM;
	ret = xl_chan_do_attach(ch, desc, false);
	if (ret < 0) {
		free(ch);
		return ret;
	}
	*out = ch;
	return 0;
}

int xl_chan_attach_at_quiet(struct xl_chan *ch,
			    const struct xl_chan_desc *desc, uint32_t spin_ns,
			    bool quiet)
{
	const struct xl_backend_ops *ops = xl_backend_get(desc->kind);
	int ret;

	if (!ops)
		return -EPROTONOSUPPORT;
	if (desc->side > 1)
		return -EINVAL;
	xl_chan_init(ch, ops, desc->side, spin_ns);
	ret = xl_chan_do_attach(ch, desc, quiet);
	ch->placed = true;	/* after the init that cleared it */
	return ret;
}

int xl_chan_attach_at(struct xl_chan *ch, const struct xl_chan_desc *desc,
		      uint32_t spin_ns)
{
	return xl_chan_attach_at_quiet(ch, desc, spin_ns, false);
}

bool xl_chan_tx_peer_attached(struct xl_chan *ch)
{
	unsigned int d = ch->side;

	/* usable before tx_open: read the consumer line of our direction;
	 * a consumer that went BACK before we opened wants TCP only */
	struct xl_wire_dir *sh = xl_chan_dir_sh(ch, d);

	xl_chan_pull(ch, &sh->c, sizeof(sh->c));
	return XL_READ_ONCE(sh->c.attached) != 0 &&
	       XL_READ_ONCE(sh->c.state) == XL_WIRE_CONS_OPEN;
}

uint32_t xl_chan_tx_cons_state(struct xl_chan *ch)
{
	struct xl_wire_dir *sh = xl_chan_dir_sh(ch, ch->side);

	xl_chan_pull(ch, &sh->c, sizeof(sh->c));
	return XL_READ_ONCE(sh->c.state);
}

int xl_chan_tx_reclaim(struct xl_chan *ch, struct xl_chan_reclaim *st)
{
	uint32_t prod, cons;
	int ret;

	if (!ch->ops->reclaim)
		return -EOPNOTSUPP;
	if (!ch->tx_opened)
		return 1;	/* never written: nothing of ours there */
	prod = ch->tx.prod;
	if (st->seen && st->done && prod == st->prod)
		return 1;
	if (!st->seen || prod != st->prod) {
		st->prod = prod;
		st->seen = true;
		st->done = false;
		return 0;
	}
	/* the consumer's copies /before/ its index, and so before the
	 * pages go; equal to ours, nothing in the ring is still to be read
	 * nor to be sent again (invariant 1: all of it was consumed) */
	xl_chan_pull(ch, &ch->tx.sh->c, sizeof(ch->tx.sh->c));
	cons = xl_load_acquire(&ch->tx.sh->c.cons);
	if (cons != prod)
		return 0;
	ret = ch->ops->reclaim(ch, ch->tx.data, ch->tx.size);
	if (ret < 0)
		return ret;
	st->done = true;
	return 1;
}

int xl_chan_tx_open(struct xl_chan *ch, uint64_t start_off)
{
	unsigned int d = ch->side;
	int ret;

	if (ch->tx_opened)
		return -EALREADY;
	ret = xl_ring_tx_init(&ch->tx, xl_chan_dir_sh(ch, d),
			      xl_chan_dir_data(ch, d), ch->order[d], start_off);
	if (ret < 0)
		return ret;
	if (ch->peer)
		xl_ring_tx_set_peer(&ch->tx, ch->peer);
	ch->tx_opened = true;
	return 0;
}

/* ---- waiting ---- */

/* Has the consumer of our ring gone BACK, unanswered? Read from a thread
 * that does not own the producer side: a hint, as readiness is. */
static bool xl_chan_tx_back_hint(struct xl_chan *ch)
{
	return __atomic_load_n(&ch->tx_opened, __ATOMIC_RELAXED) &&
	       !__atomic_load_n(&ch->tx.closed, __ATOMIC_RELAXED) &&
	       XL_READ_ONCE(xl_chan_dir_sh(ch, ch->side)->c.state) ==
	       XL_WIRE_CONS_BACK;
}

static bool xl_chan_ready(struct xl_chan *ch, bool tx)
{
	return tx ? xl_ring_tx_ready(&ch->tx) : xl_ring_rx_ready(&ch->rx);
}

static bool xl_chan_prepare_sleep(struct xl_chan *ch, bool tx)
{
	return tx ? xl_ring_tx_prepare_sleep(&ch->tx) :
		    xl_ring_rx_prepare_sleep(&ch->rx);
}

static void xl_chan_end_sleep(struct xl_chan *ch, bool tx)
{
	if (tx)
		xl_ring_tx_end_sleep(&ch->tx);
	else
		xl_ring_rx_end_sleep(&ch->rx);
}

/* Spin up to the adaptive budget; true if the ring became ready. */
static bool xl_chan_spin(struct xl_chan *ch, bool tx)
{
	struct xl_chan_dirstate *ds = &ch->ds[tx ? XL_CHAN_TX : XL_CHAN_RX];
	/* Right after we woke a sleeping peer, its answer costs a scheduler
	 * wake-up, not a cache-line round trip: wait for it with the whole
	 * budget, and do not count a miss against spinning. */
	bool peer_slept = ds->kicked;
	uint64_t start, budget = peer_slept ? ch->spin_ns : ds->spin_cur;
	unsigned int i;

	if (!budget)
		return false;
	start = xl_now_ns();
	for (i = 1;; i++) {
		if (xl_chan_ready(ch, tx)) {
			ds->spin_wins++;
			ds->spin_cur = ch->spin_ns;
			return true;
		}
		xl_cpu_relax();
		if (!(i & 31) && xl_now_ns() - start >= budget)
			break;
	}
	if (peer_slept)
		return false;
	/* spinning did not pay: halve, but keep a floor so it can win again */
	ds->spin_cur /= 2;
	if (ds->spin_cur < ch->spin_ns / 16)
		ds->spin_cur = ch->spin_ns / 16;
	return false;
}

/* poll() on the transport's fds for at most timeout_ms, then consume
 * the kicks that woke us. */
static int xl_chan_sleep(struct xl_chan *ch, enum xl_wait w, int timeout_ms)
{
	struct pollfd pfd[4];
	int n = ch->ops->pollfds(ch, w, pfd, 4);

	if (n < 0)
		return n;
	ch->ds[w == XL_WAIT_SPACE ? XL_CHAN_TX : XL_CHAN_RX].sleeps++;
	if (poll(pfd, (nfds_t)n, timeout_ms) < 0)
		return -errno;
	/* drain kicks /before/ the next announcement, so a kick sent for it
	 * cannot be swallowed here */
	xl_chan_ack(ch, w, pfd, n);
	return 0;
}

/* Milliseconds left before deadline, capped at the liveness period (the
 * cap also keeps an unbounded wait from overflowing int). */
static int xl_chan_remaining_ms(uint64_t deadline)
{
	uint64_t now = xl_now_ns(), left;

	if (now >= deadline)
		return 0;
	left = (deadline - now + 999999) / 1000000;
	return left < XL_CHAN_LIVENESS_MS ? (int)left : XL_CHAN_LIVENESS_MS;
}

/*
 * Wait until the tx (or rx) ring is ready. Returns 0 when it is, or
 * -ETIMEDOUT, -EINTR, -ECONNRESET (peer gone, ring still not ready).
 */
static int xl_chan_wait(struct xl_chan *ch, bool tx, int timeout_ms)
{
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX :
			    xl_now_ns() + (uint64_t)timeout_ms * 1000000;
	int ret, left;

	bool spun = xl_chan_spin(ch, tx);

	ch->ds[tx ? XL_CHAN_TX : XL_CHAN_RX].kicked = false;
	if (spun)
		return 0;
	for (;;) {
		if (!xl_chan_prepare_sleep(ch, tx))
			return 0;
		if (!xl_chan_peer_live(ch)) {
			xl_chan_end_sleep(ch, tx);
			return xl_chan_ready(ch, tx) ? 0 : -ECONNRESET;
		}
		left = xl_chan_remaining_ms(deadline);
		if (left == 0) {
			xl_chan_end_sleep(ch, tx);
			return -ETIMEDOUT;
		}
		ret = xl_chan_sleep(ch, tx ? XL_WAIT_SPACE : XL_WAIT_DATA, left);
		xl_chan_end_sleep(ch, tx);
		if (ret < 0)
			return ret;
		if (xl_chan_ready(ch, tx))
			return 0;
		/* a reader is woken by the consumer of our ring leaving it:
		 * its caller has an answer to give (protocol.md §5.1) */
		if (!tx && xl_chan_tx_back_hint(ch))
			return -ETIMEDOUT;
	}
}

/* ---- data ---- */

/* Wake the peer's sleeper that waits for w: data comes from our sender,
 * space from our receiver, and each counts in its own dirstate. */
static void xl_chan_kick(struct xl_chan *ch, enum xl_wait w)
{
	struct xl_chan_dirstate *ds =
		&ch->ds[w == XL_WAIT_DATA ? XL_CHAN_TX : XL_CHAN_RX];

	ds->notifies++;
	ds->kicked = true;
	ch->ops->notify(ch, w);
}

/* Skip n bytes at the front of a private iovec array. */
static void xl_iov_advance(struct iovec **iov, int *cnt, size_t n)
{
	while (*cnt > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt > 0 && n) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

/* Send one batch of at most XL_CHAN_IOV_BATCH pieces; adds to *done. */
static int xl_chan_send_batch(struct xl_chan *ch, const struct iovec *iov,
			      int cnt, unsigned int flags, int timeout_ms,
			      size_t *done)
{
	struct iovec local[XL_CHAN_IOV_BATCH], *cur = local;
	ssize_t n;
	int ret;

	memcpy(local, iov, (size_t)cnt * sizeof(*iov));
	while (cnt > 0) {
		n = xl_ring_write(&ch->tx, cur, cnt);
		if (n > 0) {
			*done += (size_t)n;
			ch->ds[XL_CHAN_TX].bytes += (uint64_t)n;
			if (xl_ring_tx_notify_needed(&ch->tx))
				xl_chan_kick(ch, XL_WAIT_DATA);
			xl_iov_advance(&cur, &cnt, (size_t)n);
			continue;
		}
		if (n == 0)
			return 0;	/* only empty pieces were left */
		if (n != -EAGAIN || (flags & XL_CHAN_NONBLOCK))
			return (int)n;
		ret = xl_chan_wait(ch, true, timeout_ms);
		if (ret < 0)
			return ret;
	}
	return 0;
}

ssize_t xl_chan_send(struct xl_chan *ch, const struct iovec *iov, int iovcnt,
		     unsigned int flags, int timeout_ms)
{
	size_t done = 0;
	int i, cnt, ret = 0;

	if (!ch->tx_opened)
		return -ENOTCONN;
	if (iovcnt < 0)
		return -EINVAL;
	for (i = 0; i < iovcnt && ret == 0; i += XL_CHAN_IOV_BATCH) {
		cnt = iovcnt - i < XL_CHAN_IOV_BATCH ? iovcnt - i :
						       XL_CHAN_IOV_BATCH;
		ret = xl_chan_send_batch(ch, iov + i, cnt, flags, timeout_ms,
					 &done);
	}
	if (done)
		return (ssize_t)done;
	return ret;
}

/* Receive into one batch of at most XL_CHAN_IOV_BATCH pieces. */
static int xl_chan_recv_batch(struct xl_chan *ch, const struct iovec *iov,
			      int cnt, unsigned int flags, int timeout_ms,
			      size_t *done)
{
	struct iovec local[XL_CHAN_IOV_BATCH], *cur = local;
	unsigned int rflags = flags & XL_CHAN_PEEK ? XL_RING_PEEK : 0;
	ssize_t n;
	int ret;

	memcpy(local, iov, (size_t)cnt * sizeof(*iov));
	/* drop empty pieces: a read of nothing must not wait */
	xl_iov_advance(&cur, &cnt, 0);
	while (cnt > 0) {
		n = xl_ring_read(&ch->rx, cur, cnt, rflags);
		if (n > 0) {
			*done += (size_t)n;
			ch->ds[XL_CHAN_RX].bytes += (uint64_t)n;
			if (!rflags && xl_ring_rx_notify_needed(&ch->rx))
				xl_chan_kick(ch, XL_WAIT_SPACE);
			xl_iov_advance(&cur, &cnt, (size_t)n);
			if (rflags || !(flags & XL_CHAN_WAITALL))
				return 1;	/* a stream read returns early */
			continue;
		}
		if (n == 0)
			return 1;	/* end of stream */
		if (n != -EAGAIN)
			return (int)n;
		if (flags & XL_CHAN_NONBLOCK)
			return (int)n;
		if (*done && !(flags & XL_CHAN_WAITALL))
			return 1;
		/* answer first (the caller's loop does), then sleep */
		if (xl_chan_tx_back_hint(ch))
			return -ETIMEDOUT;
		ret = xl_chan_wait(ch, false, timeout_ms);
		if (ret < 0)
			return ret;
	}
	return 0;
}

ssize_t xl_chan_recv(struct xl_chan *ch, const struct iovec *iov, int iovcnt,
		     unsigned int flags, int timeout_ms)
{
	size_t done = 0;
	int i, cnt, ret = 0;

	if (iovcnt < 0)
		return -EINVAL;
	/* ret > 0: the read is complete (short read, end of stream) */
	for (i = 0; i < iovcnt && ret == 0; i += XL_CHAN_IOV_BATCH) {
		cnt = iovcnt - i < XL_CHAN_IOV_BATCH ? iovcnt - i :
						       XL_CHAN_IOV_BATCH;
		ret = xl_chan_recv_batch(ch, iov + i, cnt, flags, timeout_ms,
					 &done);
	}
	if (done)
		return (ssize_t)done;
	return ret > 0 ? 0 : ret;
}

int xl_chan_rx_started(struct xl_chan *ch, uint64_t *start_off)
{
	return xl_ring_rx_started(&ch->rx, start_off);
}

void xl_chan_get_stats(const struct xl_chan *ch, struct xl_chan_stats *st)
{
	const struct xl_chan_dirstate *tx = &ch->ds[XL_CHAN_TX];
	const struct xl_chan_dirstate *rx = &ch->ds[XL_CHAN_RX];

	st->tx_bytes = tx->bytes;
	st->rx_bytes = rx->bytes;
	st->notifies = tx->notifies + rx->notifies;
	st->sleeps = tx->sleeps + rx->sleeps;
	st->spin_wins = tx->spin_wins + rx->spin_wins;
}

size_t xl_chan_readable(struct xl_chan *ch)
{
	return xl_ring_rx_avail(&ch->rx);
}

/* End our ring stream with end(tx) and wake a sleeping reader. */
static int xl_chan_tx_end(struct xl_chan *ch,
			  int (*end)(struct xl_ring_tx *tx))
{
	int ret;

	if (!ch->tx_opened)
		return -ENOTCONN;
	ret = end(&ch->tx);
	if (ret == 0 && xl_ring_tx_notify_needed(&ch->tx))
		xl_chan_kick(ch, XL_WAIT_DATA);
	return ret;
}

int xl_chan_shutdown_tx(struct xl_chan *ch)
{
	return xl_chan_tx_end(ch, xl_ring_tx_close);
}

int xl_chan_tx_leave(struct xl_chan *ch)
{
	return xl_chan_tx_end(ch, xl_ring_tx_leave);
}

int xl_chan_rx_back(struct xl_chan *ch)
{
	int ret = xl_ring_rx_back(&ch->rx);

	/* the producer's sender and reader both may have to answer */
	if (ret != -EPIPE) {
		xl_chan_kick(ch, XL_WAIT_SPACE);
		xl_chan_kick(ch, XL_WAIT_DATA);
	}
	return ret;
}

void xl_chan_wake_self(struct xl_chan *ch)
{
	if (ch->ops->wake_self)
		ch->ops->wake_self(ch);
}

bool xl_chan_tx_peer_back(struct xl_chan *ch)
{
	return ch->tx_opened && xl_ring_tx_peer_back(&ch->tx);
}

ssize_t xl_chan_tx_answer_back(struct xl_chan *ch, struct iovec iov[2])
{
	ssize_t n;

	if (!ch->tx_opened)
		return -ENOTCONN;
	n = xl_ring_tx_answer_back(&ch->tx, iov);
	if (n >= 0)
		xl_chan_kick(ch, XL_WAIT_DATA);
	return n;
}

int xl_chan_shutdown_rx(struct xl_chan *ch)
{
	int ret = xl_ring_rx_close(&ch->rx);

	if (ret == 0 && xl_ring_rx_notify_needed(&ch->rx))
		xl_chan_kick(ch, XL_WAIT_SPACE);
	return ret;
}

bool xl_chan_peer_live(struct xl_chan *ch)
{
	struct xl_wire_dir *sh;

	if (XL_READ_ONCE(ch->peer_gone))
		return false;
	/* the peer's live byte: Xen's unmap-notify, the module's release
	 * of the peer's channel, or the peer's destroy */
	sh = xl_chan_dir_sh(ch, !ch->side);
	/* the library's readiness checks look at the copy right after
	 * this: all of the peer's lines, where they are a copy */
	if (ch->peer && ch->peer->pull_all)
		(void)ch->peer->pull_all(ch->peer->arg);
	else
		xl_chan_pull(ch, &sh->p, sizeof(sh->p));
	if (XL_READ_ONCE(sh->p.live) == XL_WIRE_DEAD) {
		XL_WRITE_ONCE(ch->peer_gone, true);
		return false;
	}
	return true;
}

int xl_chan_pollfds(struct xl_chan *ch, enum xl_wait w, struct pollfd *pfd,
		    int max)
{
	return ch->ops->pollfds(ch, w, pfd, max);
}

int xl_chan_ack(struct xl_chan *ch, enum xl_wait w, const struct pollfd *pfd,
		int n)
{
	int ret = ch->ops->ack(ch, w, pfd, n);

	if (ret == -ECONNRESET)
		XL_WRITE_ONCE(ch->peer_gone, true);
	return ret;
}

void xl_chan_destroy(struct xl_chan *ch)
{
	if (!ch)
		return;
	ch->ops->destroy(ch);
	xl_chan_free(ch);
}

int xl_chan_create_pair(const struct xl_backend_ops *ops,
			const struct xl_chan_params *p,
			struct xl_chan_desc desc[2])
{
	if (!ops->create_pair)
		return -EOPNOTSUPP;
	return ops->create_pair(p, desc);
}

void xl_chan_forget(struct xl_chan *ch)
{
	if (!ch)
		return;
	if (ch->ops->forget)
		ch->ops->forget(ch);
	xl_chan_free(ch);
}

void xl_chan_hang_up(struct xl_chan *ch)
{
	if (!ch || (!ch->ctrl && !ch->dsh[ch->side]))
		return;
	XL_WRITE_ONCE(xl_chan_dir_sh(ch, ch->side)->p.live, XL_WIRE_DEAD);
	/* live byte /before/ the peer wakes to look at it */
	xl_smp_mb();
	xl_chan_kick(ch, XL_WAIT_DATA);
	xl_chan_kick(ch, XL_WAIT_SPACE);
}

void xl_chan_abandon(struct xl_chan *ch)
{
	if (!ch)
		return;
	if (ch->ops->abandon)
		ch->ops->abandon(ch);
	else
		ch->ops->destroy(ch);
	xl_chan_free(ch);
}

bool xl_chan_voided(struct xl_chan *ch)
{
	return ch->ops->voided && ch->ops->voided(ch);
}

ssize_t xl_chan_tx_unacked(struct xl_chan *ch, struct iovec iov[2])
{
	if (!ch->tx_opened)
		return -ENOTCONN;
	return xl_ring_tx_unacked(&ch->tx, iov);
}

bool xl_chan_mapped(struct xl_chan *ch)
{
	return !ch->ops->mapped || ch->ops->mapped(ch);
}

int xl_chan_move_fd(struct xl_chan *ch, int fd)
{
	return ch->ops->move_fd ? ch->ops->move_fd(ch, fd) : 0;
}

void xl_chan_desc_release(struct xl_chan_desc *desc)
{
	const struct xl_backend_ops *ops = xl_backend_get(desc->kind);

	if (ops)
		ops->desc_release(desc);
}
