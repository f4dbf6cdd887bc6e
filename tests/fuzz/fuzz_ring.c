/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: driver/xl_ring.c on one side of a channel, the fuzz
 * input on the other, hostile side.
 *
 * Our side is the producer of direction 0 (struct xl_ring_tx) and the
 * consumer of direction 1 (struct xl_ring_rx) of one control page. The
 * input is a script: a header, then one opcode byte per step followed by
 * that step's operands (missing bytes read as 0). A step either calls the
 * ring API on our side, makes the peer behave (publish, consume, close,
 * announce a sleep, exactly as an honest implementation would), or makes it
 * lie (nudge a control field by a small delta, set it outright, scribble
 * raw bytes over the page or the data). A "burst" step runs many honest
 * steps from a PRNG seed so that deep states (many laps, full rings,
 * indices wrapping 2^32) cost the fuzzer a few bytes.
 *
 * Header: orders (1 byte: each direction 4..16 KiB), base index of each
 * direction (2 x 4 bytes: the ring starts as if that many bytes had already
 * passed, so u32 wrap-around is reachable), our start offset (8 bytes).
 *
 * Every data area is its own malloc() of exactly 1 << order bytes and every
 * iovec piece one of exactly its length, so ASan reports any access outside
 * them. Invariants (abort() on violation):
 *
 *   always   a count never exceeds the request or the ring size; only the
 *            documented errors come back; -EPROTO is sticky across every
 *            call; tx offset, acked offset and rx offset never go back and
 *            the producer never has more than size bytes unacknowledged; a
 *            started ring's start_off never changes; no byte after EOF; a
 *            broken or closed ring never says "sleep"; a notify_needed
 *            answer claims exactly a raised flag; ctrl_check accepts
 *            exactly the valid header with the agreed orders; a call that
 *            reads the peer's line breaks the ring exactly when a reference
 *            check of the contract in xl_ring.h says the line is a lie.
 *   honest   while the peer has not touched a control field of a direction
 *            behind the protocol, every call returns exactly what the model
 *            of that direction predicts (never -EPROTO), the bytes each side
 *            reads are the bytes the other wrote, in order, and no wake-up
 *            is lost. Lies to pad or live bytes must not change anything.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xl_ring.h"

#define FZ_MAX_STEPS	4096
#define FZ_MAX_PIECES	3

/* The harness's own byte loops: no coverage or comparison tracing, which
 * would only slow them down and tell the fuzzer nothing. */
#define FZ_NOCOV	__attribute__((no_sanitize("coverage")))

#define FZ_CHECK(cond)							\
	do {								\
		if (!(cond))						\
			fz_fail(#cond, __LINE__);			\
	} while (0)

/* Operands come from the input, or from a PRNG during a burst. */
struct fz_in {
	const uint8_t *p;
	size_t n;
	uint64_t rng;
	bool burst;
};

/* The semantic fields of one direction's control, to detect lies. */
struct fz_sig {
	uint32_t prod, pstate, want_space, cons, cstate, want_data, attached;
	uint64_t start_off, end_off;
};

/*
 * One direction as both ends should see it. Direction 0: we produce, the
 * peer consumes; direction 1: the peer produces, we consume.
 */
struct fz_dir {
	struct xl_wire_dir *sh;
	uint8_t *data;
	uint32_t size;
	uint32_t base;		/* index of stream byte 0 */
	bool ctl_taint;		/* the peer lied in a control field */
	bool data_taint;	/* ... or in the data: skip content checks */
	/* the peer's private state, as an honest implementation keeps it */
	uint32_t pidx;		/* its index: cons (dir 0) or prod (dir 1) */
	uint64_t pcount;	/* bytes it consumed (0) or published (1) */
	uint32_t pstate;	/* its XL_WIRE_CONS_* (dir 0), _PROD_* (1) */
	uint64_t pstart;	/* dir 1: the start_off it published */
	bool peer_waits;	/* it announced a sleep nobody claimed yet */
	/* our side, as seen through the API */
	uint64_t start;		/* dir 0: our start offset */
	uint64_t count;		/* bytes we wrote (0) or consumed (1) */
	bool we_sleep;		/* prepare_sleep said sleep, not ended */
	bool closed;		/* we closed our end */
	bool err;		/* we have seen -EPROTO */
	bool eof;		/* dir 1: a read reported end of stream */
	bool started;		/* dir 1: rx_started() said 1 */
	uint64_t start_seen;	/* ... with this offset */
	uint64_t off, acked;	/* last offsets seen */
	bool off_valid;		/* dir 1: off is past the start offset */
	uint32_t last_idx;	/* last validated peer index seen */
	uint64_t idx_ext;	/* the same, extended to 64 bits */
};

struct fz {
	struct xl_wire_ctrl *ctrl;
	struct xl_ring_tx tx;
	struct xl_ring_rx rx;
	struct fz_dir d[2];
	uint32_t order[2];
	struct fz_in in;
	unsigned int steps;
};

static void fz_fail(const char *what, int line)
{
	fprintf(stderr, "fuzz_ring.c:%d: invariant failed: %s\n", line, what);
	abort();
}

static uint8_t fz_byte(struct fz_in *in)
{
	uint8_t b = 0;

	if (in->burst) {
		/* xorshift64: any seed but 0 is fine, and 0 is avoided */
		in->rng ^= in->rng << 13;
		in->rng ^= in->rng >> 7;
		in->rng ^= in->rng << 17;
		return (uint8_t)(in->rng >> 32);
	}
	if (in->n) {
		b = *in->p++;
		in->n--;
	}
	return b;
}

static uint64_t fz_take(struct fz_in *in, unsigned int bytes)
{
	uint64_t v = 0;

	while (bytes--)
		v = (v << 8) | fz_byte(in);
	return v;
}

/* Byte i of direction d's stream: not periodic in any power of two, so a
 * copy from the wrong lap or offset shows. */
static uint8_t fz_pat(unsigned int d, uint64_t i)
{
	return (uint8_t)(((i + 1) * 0x9e3779b97f4a7c15ull + d) >> 56);
}

static uint64_t fz_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* ---- iovecs: one exact allocation per piece ---- */

static int fz_iov_alloc(struct fz *f, struct iovec *iov, uint32_t size)
{
	int cnt = (int)(fz_take(&f->in, 1) % (FZ_MAX_PIECES + 1)), i;
	uint32_t len;

	for (i = 0; i < cnt; i++) {
		/* mostly small pieces, sometimes up to 1.5 rings */
		len = (uint32_t)fz_take(&f->in, 2);
		len = (len & 0x8000) ? (len & 0x7fff) % (size + size / 2 + 1) :
				       len % 257;
		iov[i].iov_len = len;
		iov[i].iov_base = malloc(len);
		if (!iov[i].iov_base && len)
			abort();
	}
	return cnt;
}

static size_t fz_iov_total(const struct iovec *iov, int cnt)
{
	size_t total = 0;
	int i;

	for (i = 0; i < cnt; i++)
		total += iov[i].iov_len;
	return total;
}

/* Our producer's bytes from stream position pos on. */
static FZ_NOCOV void fz_iov_fill(const struct iovec *iov, int cnt,
				 uint64_t pos)
{
	size_t j;
	int i;

	for (i = 0; i < cnt; i++)
		for (j = 0; j < iov[i].iov_len; j++)
			((uint8_t *)iov[i].iov_base)[j] = fz_pat(0, pos++);
}

static void fz_iov_free(struct iovec *iov, int cnt)
{
	while (cnt--)
		free(iov[cnt].iov_base);
}

/* ---- invariants shared by every call ---- */

/* -EPROTO is sticky: after it, every call that can fail fails with it. */
static void fz_sticky(struct fz_dir *d, long ret, int priv_error)
{
	if (d->err)
		FZ_CHECK(ret == -EPROTO && priv_error == -EPROTO);
	if (ret == -EPROTO || priv_error) {
		FZ_CHECK(priv_error == -EPROTO);
		d->err = true;
	}
	if (!d->ctl_taint)
		FZ_CHECK(!d->err);
}

/* Our producer's offsets after any tx call. */
static void fz_tx_offsets(struct fz *f)
{
	struct fz_dir *d = &f->d[0];
	uint64_t off = xl_ring_tx_offset(&f->tx);
	uint64_t acked = xl_ring_tx_acked(&f->tx);

	if (!d->err)
		FZ_CHECK(f->tx.error == 0);
	FZ_CHECK(off == d->start + d->count);
	FZ_CHECK(off >= d->off && acked >= d->acked);
	/* never more unacknowledged than the ring holds: a producer that
	 * overwrote unconsumed bytes could not resend them */
	FZ_CHECK(acked >= d->start && acked <= off && off - acked <= d->size);
	if (!d->ctl_taint)
		FZ_CHECK(acked <= d->start + d->pcount);
	d->off = off;
	d->acked = acked;
}

/* Our consumer's offsets and private state after any rx call. */
static void fz_rx_offsets(struct fz *f)
{
	struct fz_dir *d = &f->d[1];
	uint64_t off = xl_ring_rx_offset(&f->rx);

	/* forward from the start offset on, modulo 2^64: the peer's
	 * start_off may be anything */
	if (d->off_valid)
		FZ_CHECK(off - d->off < 1ull << 63);
	d->off_valid = f->rx.pstate != XL_WIRE_PROD_IDLE;
	d->off = off;
	if (d->err)
		return;
	FZ_CHECK(f->rx.error == 0);
	/* the validated prod only moves forward, at most size ahead */
	d->idx_ext += (uint32_t)(f->rx.prod - d->last_idx);
	d->last_idx = f->rx.prod;
	FZ_CHECK(d->idx_ext >= d->count && d->idx_ext - d->count <= d->size);
	FZ_CHECK(f->rx.cons == d->base + (uint32_t)d->count);
	if (f->rx.pstate >= XL_WIRE_PROD_CLOSED)
		FZ_CHECK(f->rx.end_off == f->rx.start_off + f->rx.done +
			 (uint32_t)(f->rx.prod - f->rx.cons));
}

/*
 * The validation xl_ring.h promises, as a reference: is the peer's line,
 * as it is now, a lie given what our end has validated so far? A call that
 * reads the line must break the ring exactly when it is (a value it would
 * let through could be anything; one it refused would end a channel that
 * did nothing wrong).
 */
static bool fz_tx_bad(const struct fz *f)
{
	const struct xl_wire_cons *c = &f->ctrl->dir[0].c;
	const struct xl_ring_tx *tx = &f->tx;
	uint32_t cons = c->cons, cstate = c->state;

	return tx->prod - cons > tx->size ||
	       /* not in [cons, prod] */
	       cons - tx->cons > tx->prod - tx->cons ||
	       cstate > XL_WIRE_CONS_CLOSED ||
	       (tx->peer_closed && cstate != XL_WIRE_CONS_CLOSED);
}

static bool fz_rx_bad(const struct fz *f)
{
	const struct xl_wire_prod *p = &f->ctrl->dir[1].p;
	const struct xl_ring_rx *rx = &f->rx;
	uint32_t pstate = p->state, avail = p->prod - rx->cons;
	/* start_off and end_off count from the state that made them valid */
	uint64_t start = rx->pstate == XL_WIRE_PROD_IDLE ? p->start_off :
			 rx->start_off;
	uint64_t end = rx->pstate < XL_WIRE_PROD_CLOSED ? p->end_off :
		       rx->end_off;

	/* IDLE -> OPEN -> CLOSED or LEFT, both final */
	if (pstate > XL_WIRE_PROD_LEFT || pstate < rx->pstate ||
	    (rx->pstate >= XL_WIRE_PROD_CLOSED && pstate != rx->pstate))
		return true;
	return avail > rx->size || avail < rx->prod - rx->cons ||
	       (pstate == XL_WIRE_PROD_IDLE && avail) ||
	       (pstate >= XL_WIRE_PROD_CLOSED &&
		end != start + rx->done + avail);
}

/* After a call that read the peer's line (if it did) on a healthy ring. */
static void fz_verdict(bool read_line, bool was_err, bool bad, int error)
{
	if (read_line && !was_err)
		FZ_CHECK((error == -EPROTO) == bad);
}

/* ---- our side, producer of direction 0 ---- */

static ssize_t fz_tx_expect(const struct fz_dir *d, size_t total)
{
	uint64_t space = d->size - (d->count - d->pcount);

	if (d->closed)
		return -ESHUTDOWN;
	if (d->pstate == XL_WIRE_CONS_CLOSED)
		return -EPIPE;
	if (!total)
		return 0;
	if (!space)
		return -EAGAIN;
	return (ssize_t)fz_min(total, space);
}

static void fz_tx_write(struct fz *f)
{
	struct fz_dir *d = &f->d[0];
	struct iovec iov[FZ_MAX_PIECES];
	int cnt = fz_iov_alloc(f, iov, d->size);
	size_t total = fz_iov_total(iov, cnt);
	ssize_t want = fz_tx_expect(d, total), n;
	bool was_err = d->err, bad = fz_tx_bad(f);

	fz_iov_fill(iov, cnt, d->count);
	n = xl_ring_write(&f->tx, iov, cnt);
	fz_verdict(!d->closed, was_err, bad, f->tx.error);
	fz_sticky(d, n, f->tx.error);
	FZ_CHECK(n == -EAGAIN || n == -EPIPE || n == -ESHUTDOWN ||
		 n == -EPROTO || (n >= 0 && (size_t)n <= total &&
				  (size_t)n <= d->size));
	if (!d->ctl_taint)
		FZ_CHECK(n == want);
	if (n > 0)
		d->count += (uint64_t)n;
	fz_tx_offsets(f);
	fz_iov_free(iov, cnt);
}

static void fz_tx_close(struct fz *f)
{
	struct fz_dir *d = &f->d[0];
	int ret = xl_ring_tx_close(&f->tx);

	fz_sticky(d, ret, f->tx.error);
	FZ_CHECK(ret == 0 || ret == -EPROTO);
	if (!ret)
		d->closed = true;
	fz_tx_offsets(f);
}

static void fz_tx_sleep(struct fz *f)
{
	struct fz_dir *d = &f->d[0];
	bool was_err = d->err, bad = fz_tx_bad(f);
	bool sleep = xl_ring_tx_prepare_sleep(&f->tx);
	bool full = d->count - d->pcount == d->size;

	fz_verdict(!d->closed, was_err, bad, f->tx.error);
	fz_sticky(d, f->tx.error, f->tx.error);
	/* sleeping on a ring that is closed or broken would never end */
	if (d->err || d->closed)
		FZ_CHECK(!sleep);
	if (!d->ctl_taint)
		FZ_CHECK(sleep == (!d->closed && full &&
				   d->pstate != XL_WIRE_CONS_CLOSED));
	/* the announcement must be visible to the peer */
	if (sleep)
		FZ_CHECK(d->sh->p.want_space != 0);
	d->we_sleep = sleep;
	fz_tx_offsets(f);
}

static void fz_tx_end_sleep(struct fz *f)
{
	xl_ring_tx_end_sleep(&f->tx);
	FZ_CHECK(f->d[0].sh->p.want_space == 0);
	f->d[0].we_sleep = false;
}

/* After we published: owe a wake-up exactly when the peer announced one. */
static void fz_tx_notify(struct fz *f)
{
	struct fz_dir *d = &f->d[0];
	bool raised = d->sh->c.want_data != 0;
	bool notify = xl_ring_tx_notify_needed(&f->tx);

	FZ_CHECK(notify == raised && d->sh->c.want_data == 0);
	if (!d->ctl_taint)
		FZ_CHECK(notify == d->peer_waits);
	if (notify)
		d->peer_waits = false;
}

static void fz_tx_query(struct fz *f)
{
	struct fz_dir *d = &f->d[0];
	bool was_err = d->err, bad = fz_tx_bad(f);
	size_t space = xl_ring_tx_space(&f->tx);
	bool ready = xl_ring_tx_ready(&f->tx);
	bool attached = xl_ring_tx_peer_attached(&f->tx);
	uint64_t model = d->closed || d->pstate == XL_WIRE_CONS_CLOSED ? 0 :
			 d->size - (d->count - d->pcount);

	fz_verdict(!d->closed, was_err, bad, f->tx.error);
	fz_sticky(d, f->tx.error, f->tx.error);
	FZ_CHECK(space <= d->size);
	if (d->err)
		FZ_CHECK(space == 0 && ready);
	if (!d->ctl_taint)
		FZ_CHECK(space == model && attached &&
			 ready == (d->closed || model ||
				   d->pstate == XL_WIRE_CONS_CLOSED));
	fz_tx_offsets(f);
}

/* ---- our side, consumer of direction 1 ---- */

static ssize_t fz_rx_expect(const struct fz_dir *d, size_t total)
{
	uint64_t avail = d->pcount - d->count;

	if (d->closed)
		return 0;
	if (d->pstate == XL_WIRE_PROD_IDLE)
		return -EAGAIN;
	if (!avail) {
		if (d->pstate == XL_WIRE_PROD_CLOSED)
			return 0;
		return d->pstate == XL_WIRE_PROD_LEFT ? -EXDEV : -EAGAIN;
	}
	if (!total)
		return -EAGAIN;
	return (ssize_t)fz_min(total, avail);
}

static FZ_NOCOV void fz_rx_check_bytes(const struct fz_dir *d,
				       const struct iovec *iov, int cnt,
				       size_t n)
{
	uint64_t pos = d->count;
	size_t j;
	int i;

	for (i = 0; i < cnt && n; i++)
		for (j = 0; j < iov[i].iov_len && n; j++, n--)
			FZ_CHECK(((uint8_t *)iov[i].iov_base)[j] ==
				 fz_pat(1, pos++));
}

static void fz_rx_read(struct fz *f, unsigned int flags)
{
	struct fz_dir *d = &f->d[1];
	struct iovec iov[FZ_MAX_PIECES];
	int cnt = fz_iov_alloc(f, iov, d->size);
	size_t total = fz_iov_total(iov, cnt);
	bool started = f->rx.pstate != XL_WIRE_PROD_IDLE;
	uint64_t off = xl_ring_rx_offset(&f->rx);
	ssize_t want = fz_rx_expect(d, total), n;
	bool was_err = d->err, bad = fz_rx_bad(f);

	n = xl_ring_read(&f->rx, iov, cnt, flags);
	fz_verdict(!d->closed, was_err, bad, f->rx.error);
	fz_sticky(d, n, f->rx.error);
	FZ_CHECK(n == -EAGAIN || n == -EPROTO || n == -EXDEV ||
		 (n >= 0 && (size_t)n <= total && (size_t)n <= d->size));
	if (!d->ctl_taint)
		FZ_CHECK(n == want);
	if (n > 0) {
		FZ_CHECK(!d->eof && !d->closed);
		if (!d->data_taint)
			fz_rx_check_bytes(d, iov, cnt, (size_t)n);
		if (!(flags & XL_RING_PEEK))
			d->count += (uint64_t)n;
	}
	/* end of stream is reported only at the validated end offset */
	if (n == 0 && !d->closed) {
		FZ_CHECK(f->rx.pstate == XL_WIRE_PROD_CLOSED &&
			 xl_ring_rx_offset(&f->rx) == f->rx.end_off);
		d->eof = true;
	}
	if (started && n >= 0)
		FZ_CHECK(xl_ring_rx_offset(&f->rx) == off +
			 ((flags & XL_RING_PEEK) ? 0 : (uint64_t)n));
	fz_rx_offsets(f);
	fz_iov_free(iov, cnt);
}

static void fz_rx_close(struct fz *f)
{
	struct fz_dir *d = &f->d[1];

	FZ_CHECK(xl_ring_rx_close(&f->rx) == 0);
	/* published once; the peer may scribble over it afterwards */
	if (!d->closed)
		FZ_CHECK(d->sh->c.state == XL_WIRE_CONS_CLOSED);
	d->closed = true;
	fz_rx_offsets(f);
}

static void fz_rx_sleep(struct fz *f)
{
	struct fz_dir *d = &f->d[1];
	bool was_err = d->err, bad = fz_rx_bad(f);
	bool sleep = xl_ring_rx_prepare_sleep(&f->rx);

	fz_verdict(!d->closed, was_err, bad, f->rx.error);
	fz_sticky(d, f->rx.error, f->rx.error);
	if (d->err || d->closed || d->eof)
		FZ_CHECK(!sleep);
	if (!d->ctl_taint)
		FZ_CHECK(sleep == (!d->closed && d->pcount == d->count &&
				   d->pstate < XL_WIRE_PROD_CLOSED));
	if (sleep)
		FZ_CHECK(d->sh->c.want_data != 0);
	d->we_sleep = sleep;
	fz_rx_offsets(f);
}

static void fz_rx_end_sleep(struct fz *f)
{
	xl_ring_rx_end_sleep(&f->rx);
	FZ_CHECK(f->d[1].sh->c.want_data == 0);
	f->d[1].we_sleep = false;
}

static void fz_rx_notify(struct fz *f)
{
	struct fz_dir *d = &f->d[1];
	bool raised = d->sh->p.want_space != 0;
	bool notify = xl_ring_rx_notify_needed(&f->rx);

	FZ_CHECK(notify == raised && d->sh->p.want_space == 0);
	if (!d->ctl_taint)
		FZ_CHECK(notify == d->peer_waits);
	if (notify)
		d->peer_waits = false;
}

/* rx_started(): its start offset, once given, never changes. */
static void fz_rx_started(struct fz *f)
{
	struct fz_dir *d = &f->d[1];
	uint64_t start = 0;
	bool was_err = d->err, bad = fz_rx_bad(f);
	int ret = xl_ring_rx_started(&f->rx, &start);

	fz_verdict(true, was_err, bad, f->rx.error);
	fz_sticky(d, ret, f->rx.error);
	FZ_CHECK(ret == 0 || ret == 1 || ret == -EPROTO);
	if (!d->ctl_taint)
		FZ_CHECK(ret == (d->pstate != XL_WIRE_PROD_IDLE) &&
			 (ret == 0 || start == d->pstart));
	if (ret == 1) {
		FZ_CHECK(!d->started || start == d->start_seen);
		d->started = true;
		d->start_seen = start;
	} else if (ret == 0) {
		FZ_CHECK(!d->started);
	}
}

static void fz_rx_query(struct fz *f)
{
	struct fz_dir *d = &f->d[1];
	bool was_err = d->err, bad = fz_rx_bad(f);
	size_t avail = xl_ring_rx_avail(&f->rx);
	bool ready = xl_ring_rx_ready(&f->rx);
	uint64_t model = d->closed ? 0 : d->pcount - d->count;

	fz_verdict(!d->closed, was_err, bad, f->rx.error);
	fz_sticky(d, f->rx.error, f->rx.error);
	FZ_CHECK(avail <= d->size);
	if (d->err)
		FZ_CHECK(avail == 0 && ready);
	if (!d->ctl_taint)
		FZ_CHECK(avail == model &&
			 ready == (d->closed || model ||
				   d->pstate >= XL_WIRE_PROD_CLOSED));
	fz_rx_started(f);
	fz_rx_offsets(f);
}

/* ---- the peer behaving: consumer of direction 0 ---- */

/* The peer woke up from its own announcement and withdraws it; a
 * sleeper on our side must have announced itself if it is owed one. */
static void fz_peer_wake(struct fz_dir *d, uint32_t *own, uint32_t *ours,
			 bool progress)
{
	*own = 0;
	d->peer_waits = false;
	if (!progress)
		return;
	if (*ours) {
		*ours = 0;
		d->we_sleep = false;
	} else if (!d->ctl_taint) {
		FZ_CHECK(!d->we_sleep);	/* a lost wake-up */
	}
}

/* Check what our producer published, as a careful peer would. */
static void fz_peer_check_tx(const struct fz_dir *d, uint32_t prod)
{
	if (d->ctl_taint)
		return;
	FZ_CHECK(prod == d->base + (uint32_t)d->count);
	FZ_CHECK(d->sh->p.start_off == d->start);
	FZ_CHECK(d->sh->p.state == (d->closed ? XL_WIRE_PROD_CLOSED :
						XL_WIRE_PROD_OPEN));
	if (d->closed)
		FZ_CHECK(d->sh->p.end_off == d->start + d->count);
}

/* The next n bytes our producer published are the stream's. */
static FZ_NOCOV void fz_peer_check_data(const struct fz_dir *d, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		FZ_CHECK(d->data[(d->pidx + i) & (d->size - 1)] ==
			 fz_pat(0, d->pcount + i));
}

static void fz_peer_consume(struct fz *f)
{
	struct fz_dir *d = &f->d[0];
	uint32_t want = (uint32_t)fz_take(&f->in, 2) % (d->size + 1);
	uint32_t prod = d->sh->p.prod, avail = prod - d->pidx;

	if (d->pstate == XL_WIRE_CONS_CLOSED)
		return;
	fz_peer_check_tx(d, prod);
	if (avail > d->size)
		return;		/* a real peer would drop the channel */
	want = (uint32_t)fz_min(want, avail);
	if (!d->data_taint)
		fz_peer_check_data(d, want);
	d->pidx += want;
	d->pcount += want;
	d->sh->c.cons = d->pidx;
	fz_peer_wake(d, &d->sh->c.want_data, &d->sh->p.want_space, want);
}

static void fz_peer_cons_close(struct fz *f)
{
	struct fz_dir *d = &f->d[0];

	if (d->pstate == XL_WIRE_CONS_CLOSED)
		return;
	d->pstate = XL_WIRE_CONS_CLOSED;
	d->sh->c.state = XL_WIRE_CONS_CLOSED;
	/* a producer sleeping for space must learn it never comes */
	fz_peer_wake(d, &d->sh->c.want_data, &d->sh->p.want_space, true);
}

/* Announce a sleep, as xl_ring_rx_prepare_sleep does, if the ring is
 * empty: then whoever publishes next owes the peer a notification. */
static void fz_peer_wait_data(struct fz *f)
{
	struct fz_dir *d = &f->d[0];

	if (d->pstate == XL_WIRE_CONS_CLOSED || d->sh->p.prod != d->pidx ||
	    d->sh->p.state == XL_WIRE_PROD_CLOSED)
		return;
	d->sh->c.want_data = 1;
	d->peer_waits = true;
}

/* ---- the peer behaving: producer of direction 1 ---- */

static void fz_peer_open(struct fz *f)
{
	struct fz_dir *d = &f->d[1];

	if (d->pstate != XL_WIRE_PROD_IDLE)
		return;
	d->pstart = fz_take(&f->in, 8);
	d->sh->p.start_off = d->pstart;
	d->sh->p.state = XL_WIRE_PROD_OPEN;
	d->pstate = XL_WIRE_PROD_OPEN;
}

/* The peer's next n bytes into the ring. */
static FZ_NOCOV void fz_peer_fill(struct fz_dir *d, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++)
		d->data[(d->pidx + i) & (d->size - 1)] =
			fz_pat(1, d->pcount + i);
}

static void fz_peer_publish(struct fz *f)
{
	struct fz_dir *d = &f->d[1];
	uint32_t want = (uint32_t)fz_take(&f->in, 2) % (d->size + 1);
	uint32_t cons = d->sh->c.cons, used = d->pidx - cons;

	if (d->pstate != XL_WIRE_PROD_OPEN ||
	    d->sh->c.state == XL_WIRE_CONS_CLOSED)
		return;
	/* our consumer released exactly what it consumed, no more */
	if (!d->ctl_taint)
		FZ_CHECK(cons == d->base + (uint32_t)d->count);
	if (used > d->size)
		return;
	want = (uint32_t)fz_min(want, d->size - used);
	fz_peer_fill(d, want);
	d->pidx += want;
	d->pcount += want;
	d->sh->p.prod = d->pidx;
	fz_peer_wake(d, &d->sh->p.want_space, &d->sh->c.want_data, want);
}

static void fz_peer_prod_close(struct fz *f)
{
	struct fz_dir *d = &f->d[1];

	if (d->pstate != XL_WIRE_PROD_OPEN)
		return;
	d->sh->p.end_off = d->pstart + d->pcount;
	d->sh->p.state = XL_WIRE_PROD_CLOSED;
	d->pstate = XL_WIRE_PROD_CLOSED;
	fz_peer_wake(d, &d->sh->p.want_space, &d->sh->c.want_data, true);
}

static void fz_peer_wait_space(struct fz *f)
{
	struct fz_dir *d = &f->d[1];

	if (d->pstate != XL_WIRE_PROD_OPEN ||
	    d->pidx - d->sh->c.cons != d->size)
		return;
	d->sh->p.want_space = 1;
	d->peer_waits = true;
}

/* ---- the peer lying ---- */

struct fz_field {
	uint16_t off;
	uint8_t width;
};

#define FZ_F(member, w)	{ offsetof(struct xl_wire_ctrl, member), w }
#define FZ_DIR_FIELDS(i)						\
	FZ_F(dir[i].p.prod, 4), FZ_F(dir[i].p.state, 4),		\
	FZ_F(dir[i].p.start_off, 8), FZ_F(dir[i].p.end_off, 8),		\
	FZ_F(dir[i].p.want_space, 4), FZ_F(dir[i].p.live, 1),		\
	FZ_F(dir[i].c.cons, 4), FZ_F(dir[i].c.state, 4),		\
	FZ_F(dir[i].c.want_data, 4), FZ_F(dir[i].c.attached, 4)

static const struct fz_field fz_fields[] = {
	FZ_F(magic, 4), FZ_F(version, 2), FZ_F(ctrl_size, 2),
	FZ_F(order[0], 4), FZ_F(order[1], 4),
	FZ_DIR_FIELDS(0), FZ_DIR_FIELDS(1),
};
#define FZ_NFIELDS	(sizeof(fz_fields) / sizeof(fz_fields[0]))

static void fz_sig(const struct xl_wire_dir *sh, struct fz_sig *s)
{
	memset(s, 0, sizeof(*s));
	s->prod = sh->p.prod;
	s->pstate = sh->p.state;
	s->start_off = sh->p.start_off;
	s->end_off = sh->p.end_off;
	s->want_space = sh->p.want_space;
	s->cons = sh->c.cons;
	s->cstate = sh->c.state;
	s->want_data = sh->c.want_data;
	s->attached = sh->c.attached;
}

/* Nudge a field by a signed delta (small deltas hit the off-by-ones) or
 * set it outright. */
static void fz_lie_field(struct fz *f, bool set)
{
	const struct fz_field *fl = &fz_fields[fz_take(&f->in, 1) %
					       FZ_NFIELDS];
	uint8_t *p = (uint8_t *)f->ctrl + fl->off;
	uint64_t v = 0, arg = fz_take(&f->in, fl->width);

	memcpy(&v, p, fl->width);	/* little-endian, as the wire is */
	if (set)
		v = arg;
	else
		v += (uint64_t)(int64_t)(int16_t)arg;
	memcpy(p, &v, fl->width);
}

static void fz_lie_bytes(struct fz *f)
{
	uint32_t off = (uint32_t)fz_take(&f->in, 2) % sizeof(*f->ctrl);
	uint32_t len = 1 + (uint32_t)fz_take(&f->in, 1) % 16, i;

	for (i = 0; i < len && off + i < sizeof(*f->ctrl); i++)
		((uint8_t *)f->ctrl)[off + i] = (uint8_t)fz_take(&f->in, 1);
}

static void fz_lie_data(struct fz *f)
{
	struct fz_dir *d = &f->d[fz_take(&f->in, 1) & 1];
	uint32_t off = (uint32_t)fz_take(&f->in, 2) & (d->size - 1);
	uint32_t len = 1 + (uint32_t)fz_take(&f->in, 1) % 16, i;

	for (i = 0; i < len; i++)
		d->data[(off + i) & (d->size - 1)] =
			(uint8_t)fz_take(&f->in, 1);
	d->data_taint = true;
}

/* A lie to a direction's control fields voids its model from now on. */
static void fz_lie(struct fz *f, unsigned int kind)
{
	struct fz_sig before[2], after[2];
	unsigned int i;

	for (i = 0; i < 2; i++)
		fz_sig(&f->ctrl->dir[i], &before[i]);
	if (kind == 0)
		fz_lie_field(f, false);
	else if (kind == 1)
		fz_lie_field(f, true);
	else if (kind == 2)
		fz_lie_bytes(f);
	else
		fz_lie_data(f);
	for (i = 0; i < 2; i++) {
		fz_sig(&f->ctrl->dir[i], &after[i]);
		if (memcmp(&before[i], &after[i], sizeof(after[i]))) {
			f->d[i].ctl_taint = true;
			f->d[i].data_taint = true;
		}
	}
}

static bool fz_order_ok(uint32_t order)
{
	return order >= XL_WIRE_MIN_ORDER && order <= XL_WIRE_MAX_ORDER;
}

/* Set-up refuses exactly the orders out of range, and a header it wrote
 * passes the check. */
static void fz_init_orders(uint32_t o0, uint32_t o1)
{
	struct xl_wire_ctrl c;
	struct xl_ring_tx tx;
	struct xl_ring_rx rx;
	bool ok = fz_order_ok(o0) && fz_order_ok(o1);

	FZ_CHECK(xl_ring_ctrl_init(&c, o0, o1) == (ok ? 0 : -EINVAL));
	if (ok)
		FZ_CHECK(xl_ring_ctrl_check(&c, o0, o1) == 0);
	else
		xl_ring_ctrl_init(&c, XL_WIRE_MIN_ORDER, XL_WIRE_MIN_ORDER);
	FZ_CHECK(xl_ring_tx_init(&tx, &c.dir[0], NULL, o0, 0) ==
		 (fz_order_ok(o0) ? 0 : -EINVAL));
	FZ_CHECK(xl_ring_rx_init(&rx, &c.dir[1], NULL, o1) ==
		 (fz_order_ok(o1) ? 0 : -EINVAL));
}

/* The header check accepts exactly a valid header with the agreed
 * orders, which may themselves be out of range. */
static void fz_ctrl_check(struct fz *f)
{
	uint32_t sel = (uint32_t)fz_take(&f->in, 1);
	uint32_t o0 = (sel & 1) ? f->order[0] : (sel >> 1) % 32;
	uint32_t o1 = (sel & 1) ? f->order[1] :
		      (uint32_t)fz_take(&f->in, 1) % 32;
	const struct xl_wire_ctrl *c = f->ctrl;
	bool ok = c->magic == XL_WIRE_MAGIC && c->version == XL_WIRE_VERSION &&
		  c->ctrl_size == XL_WIRE_CTRL_SIZE / XL_WIRE_CACHELINE &&
		  c->order[0] == o0 && c->order[1] == o1 &&
		  fz_order_ok(o0) && fz_order_ok(o1);

	FZ_CHECK(xl_ring_ctrl_check(c, o0, o1) == (ok ? 0 : -EPROTO));
	fz_init_orders(o0, o1);
}

/* ---- the script ---- */

enum {
	FZ_TX_WRITE, FZ_TX_CLOSE, FZ_TX_SLEEP, FZ_TX_END_SLEEP, FZ_TX_NOTIFY,
	FZ_TX_QUERY, FZ_RX_READ, FZ_RX_PEEK, FZ_RX_CLOSE, FZ_RX_SLEEP,
	FZ_RX_END_SLEEP, FZ_RX_NOTIFY, FZ_RX_QUERY,
	FZ_PEER_CONSUME, FZ_PEER_CONS_CLOSE, FZ_PEER_WAIT_DATA,
	FZ_PEER_OPEN, FZ_PEER_PUBLISH, FZ_PEER_PROD_CLOSE, FZ_PEER_WAIT_SPACE,
	FZ_HONEST_OPS,			/* the opcodes above are honest */
	FZ_LIE_NUDGE = FZ_HONEST_OPS, FZ_LIE_SET, FZ_LIE_BYTES, FZ_LIE_DATA,
	FZ_CTRL_CHECK, FZ_BURST, FZ_NOPS
};

static void (*const fz_honest[FZ_HONEST_OPS])(struct fz *f) = {
	[FZ_TX_WRITE] = fz_tx_write,
	[FZ_TX_CLOSE] = fz_tx_close,
	[FZ_TX_SLEEP] = fz_tx_sleep,
	[FZ_TX_END_SLEEP] = fz_tx_end_sleep,
	[FZ_TX_NOTIFY] = fz_tx_notify,
	[FZ_TX_QUERY] = fz_tx_query,
	[FZ_RX_CLOSE] = fz_rx_close,
	[FZ_RX_SLEEP] = fz_rx_sleep,
	[FZ_RX_END_SLEEP] = fz_rx_end_sleep,
	[FZ_RX_NOTIFY] = fz_rx_notify,
	[FZ_RX_QUERY] = fz_rx_query,
	[FZ_PEER_CONSUME] = fz_peer_consume,
	[FZ_PEER_CONS_CLOSE] = fz_peer_cons_close,
	[FZ_PEER_WAIT_DATA] = fz_peer_wait_data,
	[FZ_PEER_OPEN] = fz_peer_open,
	[FZ_PEER_PUBLISH] = fz_peer_publish,
	[FZ_PEER_PROD_CLOSE] = fz_peer_prod_close,
	[FZ_PEER_WAIT_SPACE] = fz_peer_wait_space,
};

static void fz_step_honest(struct fz *f, unsigned int op)
{
	if (op == FZ_RX_READ || op == FZ_RX_PEEK)
		fz_rx_read(f, op == FZ_RX_PEEK ? XL_RING_PEEK : 0);
	else
		fz_honest[op](f);
}

/*
 * Up to 255 honest steps drawn from a PRNG. Closing ops are drawn rarely:
 * the point is many laps of traffic with sleeps and wake-ups in between.
 */
static void fz_burst(struct fz *f)
{
	unsigned int n = (unsigned int)fz_take(&f->in, 1), op;

	f->in.rng = fz_take(&f->in, 4) | 1ull << 40;
	f->in.burst = true;
	while (n-- && f->steps++ < FZ_MAX_STEPS) {
		op = (unsigned int)fz_take(&f->in, 1) % FZ_HONEST_OPS;
		if ((op == FZ_TX_CLOSE || op == FZ_RX_CLOSE ||
		     op == FZ_PEER_CONS_CLOSE || op == FZ_PEER_PROD_CLOSE) &&
		    fz_take(&f->in, 1) % 16)
			continue;
		fz_step_honest(f, op);
	}
	f->in.burst = false;
}

static void fz_step(struct fz *f)
{
	unsigned int op = (unsigned int)fz_take(&f->in, 1) % FZ_NOPS;

	if (op < FZ_HONEST_OPS)
		fz_step_honest(f, op);
	else if (op == FZ_CTRL_CHECK)
		fz_ctrl_check(f);
	else if (op == FZ_BURST)
		fz_burst(f);
	else
		fz_lie(f, op - FZ_LIE_NUDGE);
}

/* Both ends attached and our producer open; indices start at the bases
 * (the state after base bytes went through, minus the history). */
static void fz_setup(struct fz *f)
{
	unsigned int i, orders = (unsigned int)fz_take(&f->in, 1);

	f->order[0] = XL_WIRE_MIN_ORDER + orders % 3;
	f->order[1] = XL_WIRE_MIN_ORDER + orders / 3 % 3;
	f->ctrl = aligned_alloc(XL_WIRE_PAGE_SIZE, sizeof(*f->ctrl));
	if (!f->ctrl)
		abort();
	FZ_CHECK(xl_ring_ctrl_init(f->ctrl, f->order[0], f->order[1]) == 0);
	for (i = 0; i < 2; i++) {
		f->d[i].sh = &f->ctrl->dir[i];
		f->d[i].size = 1u << f->order[i];
		f->d[i].data = calloc(1, f->d[i].size);
		if (!f->d[i].data)
			abort();
		f->d[i].base = (uint32_t)fz_take(&f->in, 4);
		f->d[i].pidx = f->d[i].base;
		f->d[i].last_idx = f->d[i].base;
	}
	/* a real stream offset: our layer counts it from 0, so it is far
	 * from wrapping 2^64 */
	f->d[0].start = fz_take(&f->in, 8) >> 2;
	f->d[0].pstate = XL_WIRE_CONS_OPEN;
	f->ctrl->dir[0].c.attached = 1;
	FZ_CHECK(xl_ring_tx_init(&f->tx, &f->ctrl->dir[0], f->d[0].data,
				 f->order[0], f->d[0].start) == 0);
	FZ_CHECK(xl_ring_rx_init(&f->rx, &f->ctrl->dir[1], f->d[1].data,
				 f->order[1]) == 0);
	FZ_CHECK(f->ctrl->dir[1].c.attached != 0);
	f->d[1].pstate = XL_WIRE_PROD_IDLE;
	/* test-only: move both rings to their base index */
	f->tx.prod = f->tx.cons = f->d[0].base;
	f->ctrl->dir[0].p.prod = f->ctrl->dir[0].c.cons = f->d[0].base;
	f->rx.cons = f->rx.prod = f->d[1].base;
	f->ctrl->dir[1].p.prod = f->ctrl->dir[1].c.cons = f->d[1].base;
	f->d[0].off = f->d[0].acked = f->d[0].start;
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct fz f;

	memset(&f, 0, sizeof(f));
	f.in.p = buf;
	f.in.n = len;
	fz_setup(&f);
	while (f.in.n && f.steps++ < FZ_MAX_STEPS)
		fz_step(&f);
	free(f.d[1].data);
	free(f.d[0].data);
	free(f.ctrl);
	return 0;
}
