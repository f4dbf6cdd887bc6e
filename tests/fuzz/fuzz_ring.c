/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: one side of a ring driven by our code, the other side
 * played by the fuzz input, which may behave or lie at any step.
 *
 * The input is a script of one-byte opcodes with operands. Our side is the
 * producer of direction 0 and the consumer of direction 1 of one channel;
 * the hostile side writes whatever it likes into the control page, or
 * behaves (publishes real bytes, consumes what we wrote) so that deep
 * states are reached. The data areas are separate allocations of exactly
 * their size, so ASan reports any access outside them.
 *
 * Invariants checked here (abort on violation): a read returns no more than
 * asked and no more than the ring size; an error is sticky; our offsets
 * never go backwards; while the peer has only behaved, every byte we read
 * is the byte it wrote, in order.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xl_ring.h"

#define ORDER0	12u
#define ORDER1	13u

struct fuzz_state {
	struct xl_wire_ctrl *ctrl;
	uint8_t *data[2];
	struct xl_ring_tx tx;		/* ours: direction 0 */
	struct xl_ring_rx rx;		/* ours: direction 1 */
	/* the well-behaved peer's view while it behaves */
	uint32_t peer_prod, peer_cons;
	uint64_t peer_sent, got;	/* bytes it wrote / we read, dir 1 */
	uint8_t wseq, rseq;		/* byte patterns of both streams */
	int honest;			/* nothing corrupted so far */
	int tx_err, rx_err;
	uint64_t tx_off, rx_off;
};

struct cursor {
	const uint8_t *p;
	size_t n;
};

static uint32_t take(struct cursor *c, unsigned int bytes)
{
	uint32_t v = 0;

	while (bytes--) {
		v = (v << 8) | (c->n ? *c->p : 0);
		if (c->n) {
			c->p++;
			c->n--;
		}
	}
	return v;
}

static void check(int cond)
{
	if (!cond)
		abort();
}

static void sticky(int *seen, long ret)
{
	if (*seen == -EPROTO)
		check(ret == -EPROTO);
	if (ret == -EPROTO)
		*seen = -EPROTO;
}

static void op_write(struct fuzz_state *st, struct cursor *c)
{
	uint8_t buf[3][700];
	struct iovec iov[3];
	int cnt = 1 + (int)(take(c, 1) % 3), i, j;
	ssize_t n;

	for (i = 0; i < cnt; i++) {
		iov[i].iov_base = buf[i];
		iov[i].iov_len = take(c, 2) % sizeof(buf[i]);
		for (j = 0; j < (int)iov[i].iov_len; j++)
			buf[i][j] = (uint8_t)(st->wseq + j);
	}
	n = xl_ring_write(&st->tx, iov, cnt);
	sticky(&st->tx_err, n);
	check(n <= (ssize_t)(1u << ORDER0));
	check(xl_ring_tx_offset(&st->tx) >= st->tx_off);
	st->tx_off = xl_ring_tx_offset(&st->tx);
}

static void op_read(struct fuzz_state *st, struct cursor *c, unsigned int fl)
{
	uint8_t buf[2][900];
	struct iovec iov[2] = {
		{ buf[0], take(c, 2) % sizeof(buf[0]) },
		{ buf[1], take(c, 2) % sizeof(buf[1]) },
	};
	size_t want = iov[0].iov_len + iov[1].iov_len;
	ssize_t n = xl_ring_read(&st->rx, iov, 2, fl);
	size_t k;

	sticky(&st->rx_err, n);
	check(n <= (ssize_t)want && n <= (ssize_t)(1u << ORDER1));
	if (n > 0 && st->honest) {
		for (k = 0; k < (size_t)n; k++) {
			uint8_t b = k < iov[0].iov_len ? buf[0][k] :
				    buf[1][k - iov[0].iov_len];
			check(b == (uint8_t)(st->got + k));
		}
		if (!(fl & XL_RING_PEEK))
			st->got += (uint64_t)n;
	}
	check(xl_ring_rx_offset(&st->rx) >= st->rx_off);
	st->rx_off = xl_ring_rx_offset(&st->rx);
}

/* The peer behaves: publishes n pattern bytes into direction 1. */
static void peer_publish(struct fuzz_state *st, struct cursor *c)
{
	struct xl_wire_dir *d = &st->ctrl->dir[1];
	uint32_t size = 1u << ORDER1, n = take(c, 2) % (size + 1), i;
	uint32_t space = size - (st->peer_prod - st->peer_cons);

	if (!st->honest)
		return;
	st->peer_cons = d->c.cons;
	space = size - (st->peer_prod - st->peer_cons);
	if (n > space)
		n = space;
	for (i = 0; i < n; i++)
		st->data[1][(st->peer_prod + i) & (size - 1)] =
			(uint8_t)(st->peer_sent + i);
	st->peer_prod += n;
	st->peer_sent += n;
	if (d->p.state == XL_WIRE_PROD_IDLE)
		d->p.state = XL_WIRE_PROD_OPEN;
	d->p.prod = st->peer_prod;
}

/* The peer behaves: consumes what we wrote into direction 0. */
static void peer_consume(struct fuzz_state *st, struct cursor *c)
{
	struct xl_wire_dir *d = &st->ctrl->dir[0];
	uint32_t avail = d->p.prod - d->c.cons;
	uint32_t n = take(c, 2);

	if (!st->honest || avail > (1u << ORDER0))
		return;
	d->c.cons += n % (avail + 1);
}

/* The peer closes direction 1 honestly. */
static void peer_close(struct fuzz_state *st)
{
	struct xl_wire_dir *d = &st->ctrl->dir[1];

	if (!st->honest || d->p.state == XL_WIRE_PROD_IDLE)
		return;
	d->p.end_off = d->p.start_off + st->peer_sent;
	d->p.state = XL_WIRE_PROD_CLOSED;
}

/* The peer lies: any bytes at any offset of the control page. */
static void peer_scribble(struct fuzz_state *st, struct cursor *c)
{
	uint32_t off = take(c, 2) % sizeof(*st->ctrl);
	uint32_t len = 1 + take(c, 1) % 8, i;

	for (i = 0; i < len && off + i < sizeof(*st->ctrl); i++)
		((uint8_t *)st->ctrl)[off + i] = (uint8_t)take(c, 1);
	st->honest = 0;
}

static void op_misc(struct fuzz_state *st, unsigned int which)
{
	uint64_t off;

	switch (which) {
	case 0:
		if (xl_ring_rx_prepare_sleep(&st->rx))
			check(!xl_ring_rx_ready(&st->rx) || st->rx_err);
		xl_ring_rx_end_sleep(&st->rx);
		break;
	case 1:
		if (xl_ring_tx_prepare_sleep(&st->tx))
			check(!xl_ring_tx_ready(&st->tx) || st->tx_err);
		xl_ring_tx_end_sleep(&st->tx);
		break;
	case 2:
		(void)xl_ring_tx_notify_needed(&st->tx);
		(void)xl_ring_rx_notify_needed(&st->rx);
		break;
	case 3:
		check(xl_ring_rx_avail(&st->rx) <= (1u << ORDER1));
		check(xl_ring_tx_space(&st->tx) <= (1u << ORDER0));
		sticky(&st->rx_err, xl_ring_rx_started(&st->rx, &off));
		break;
	case 4:
		sticky(&st->tx_err, xl_ring_tx_close(&st->tx));
		break;
	case 5:
		(void)xl_ring_rx_close(&st->rx);
		break;
	default:
		(void)xl_ring_ctrl_check(st->ctrl, ORDER0, ORDER1);
		break;
	}
}

static void step(struct fuzz_state *st, struct cursor *c)
{
	switch (take(c, 1) % 10) {
	case 0: op_write(st, c); break;
	case 1: op_read(st, c, 0); break;
	case 2: op_read(st, c, XL_RING_PEEK); break;
	case 3: peer_publish(st, c); break;
	case 4: peer_consume(st, c); break;
	case 5: peer_close(st); break;
	case 6: peer_scribble(st, c); break;
	default: op_misc(st, take(c, 1) % 7); break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct cursor c = { buf, len };
	struct fuzz_state st;
	unsigned int steps = 0;

	memset(&st, 0, sizeof(st));
	st.honest = 1;
	st.ctrl = aligned_alloc(XL_WIRE_PAGE_SIZE, sizeof(*st.ctrl));
	st.data[0] = malloc(1u << ORDER0);
	st.data[1] = malloc(1u << ORDER1);
	if (!st.ctrl || !st.data[0] || !st.data[1])
		abort();
	memset(st.data[0], 0, 1u << ORDER0);
	memset(st.data[1], 0, 1u << ORDER1);
	check(xl_ring_ctrl_init(st.ctrl, ORDER0, ORDER1) == 0);
	check(xl_ring_tx_init(&st.tx, &st.ctrl->dir[0], st.data[0], ORDER0,
			      take(&c, 4)) == 0);
	check(xl_ring_rx_init(&st.rx, &st.ctrl->dir[1], st.data[1],
			      ORDER1) == 0);
	st.ctrl->dir[1].p.start_off = take(&c, 4);
	st.tx_off = xl_ring_tx_offset(&st.tx);
	while (c.n && steps++ < 4096)
		step(&st, &c);
	free(st.data[1]);
	free(st.data[0]);
	free(st.ctrl);
	return 0;
}
