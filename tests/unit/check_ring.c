/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the SPSC byte ring (driver/xl_ring.h) on plain memory.
 *
 * The control page and each direction's data area are separate heap
 * blocks of exactly the size the ring may touch, so a sanitizer build
 * catches any copy that strays past the end of a ring. Both ends of a
 * direction live in this process; the hostile_peer cases play a lying peer
 * by writing the shared page directly, and the stress case runs producer
 * and consumer on two threads that really sleep on eventfds, so a lost
 * wake-up hangs until the tcase timeout instead of passing by luck.
 *
 * Every byte a test sends is a function of its stream offset (pat_byte()),
 * so a reader can check any byte without sharing state with the writer.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "xenloop/wire.h"
#include "xl_ring.h"

/* Ring orders every loop test runs over: smallest, odd, and a big one. */
static const uint32_t test_orders[] = { 12, 13, 16 };
#define N_ORDERS (int)(sizeof(test_orders) / sizeof(test_orders[0]))

/* ---- the byte stream: a counter-based PRNG, cheap to check anywhere ---- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Stream offset p holds byte p % 8 (little-endian) of mix64(p / 8). */
static void pat_fill(uint8_t *buf, uint64_t pos, size_t n)
{
	while (n) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		/* whole words at once: the same bytes, in memory order */
		for (; !(pos & 7) && n >= 8; buf += 8, pos += 8, n -= 8) {
			uint64_t word = mix64(pos >> 3);

			memcpy(buf, &word, 8);
		}
		if (!n)
			break;
#endif
		uint64_t w = mix64(pos >> 3) >> ((pos & 7) * 8);
		size_t k = 8 - (pos & 7);

		if (k > n)
			k = n;
		for (size_t j = 0; j < k; j++, w >>= 8)
			buf[j] = (uint8_t)w;
		buf += k;
		pos += k;
		n -= k;
	}
}

/* Index of the first byte of buf that is not the stream at pos, or n. */
static size_t pat_mismatch(const uint8_t *buf, uint64_t pos, size_t n)
{
	uint8_t want[256];
	size_t done = 0, k, j;

	while (done < n) {
		k = n - done < sizeof(want) ? n - done : sizeof(want);
		pat_fill(want, pos + done, k);
		if (memcmp(want, buf + done, k)) {
			for (j = 0; want[j] == buf[done + j]; j++)
				;
			return done + j;
		}
		done += k;
	}
	return n;
}

#define ck_assert_pat(buf, pos, n) \
	ck_assert_uint_eq(pat_mismatch((buf), (pos), (n)), (n))

/* xorshift64*: the random sizes and splits of a test, reproducible. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* ---- fixture: one direction, both ends in this process ---- */

struct ring_fx {
	struct xl_wire_ctrl *ctrl;
	uint8_t *data;			/* exactly size bytes */
	uint32_t order, size;
	struct xl_wire_dir *sh;
	struct xl_ring_tx tx;
	struct xl_ring_rx rx;
	uint8_t *buf, *buf2;		/* buflen bytes of scratch each */
	size_t buflen;
};

static struct ring_fx fx;

static void fx_setup(void)
{
	memset(&fx, 0, sizeof(fx));
}

static void fx_teardown(void)
{
	free(fx.ctrl);
	free(fx.data);
	free(fx.buf);
	free(fx.buf2);
	memset(&fx, 0, sizeof(fx));
}

/* A control page and direction 0 of the given order, consumer attached;
 * the producer opens only if open_tx (the IDLE cases need it not to). */
static void ring_make(uint32_t order, uint64_t start_off, bool open_tx)
{
	fx.order = order;
	fx.size = 1u << order;
	fx.ctrl = aligned_alloc(XL_WIRE_PAGE_SIZE, sizeof(*fx.ctrl));
	fx.data = aligned_alloc(XL_WIRE_CACHELINE, fx.size);
	/* scratch for a write or read of up to twice the ring (the biggest
	 * ring gets just enough for one lap plus change) */
	fx.buflen = order <= 16 ? 2 * (size_t)fx.size : fx.size + 4096u;
	fx.buf = malloc(fx.buflen);
	fx.buf2 = malloc(fx.buflen);
	ck_assert(fx.ctrl && fx.data && fx.buf && fx.buf2);
	memset(fx.data, 0xa5, fx.size);
	ck_assert_int_eq(xl_ring_ctrl_init(fx.ctrl, order, order), 0);
	fx.sh = &fx.ctrl->dir[0];
	ck_assert_int_eq(xl_ring_rx_init(&fx.rx, fx.sh, fx.data, order), 0);
	if (open_tx)
		ck_assert_int_eq(xl_ring_tx_init(&fx.tx, fx.sh, fx.data, order,
						 start_off), 0);
}

static ssize_t put(const void *p, size_t n)
{
	struct iovec iov = { (void *)p, n };

	return xl_ring_write(&fx.tx, &iov, 1);
}

static ssize_t get(void *p, size_t n, unsigned int flags)
{
	struct iovec iov = { p, n };

	return xl_ring_read(&fx.rx, &iov, 1, flags);
}

/* Write n stream bytes starting at pos in one call; it must all fit. */
static void put_pat(uint64_t pos, size_t n)
{
	pat_fill(fx.buf, pos, n);
	ck_assert_int_eq(put(fx.buf, n), (ssize_t)n);
}

/* Read exactly n bytes and check they are the stream at pos. */
static void get_pat(uint64_t pos, size_t n)
{
	ck_assert_int_eq(get(fx.buf2, n, 0), (ssize_t)n);
	ck_assert_pat(fx.buf2, pos, n);
}

/* ---- limits: control page and init arguments ---- */

START_TEST(test_ctrl_init_check)
{
	struct xl_wire_ctrl *c = aligned_alloc(XL_WIRE_PAGE_SIZE, sizeof(*c));

	ck_assert_ptr_nonnull(c);
	fx.ctrl = c;			/* teardown frees it */
	memset(c, 0xff, sizeof(*c));
	ck_assert_int_eq(xl_ring_ctrl_init(c, 12, 26), 0);
	ck_assert_uint_eq(c->magic, XL_WIRE_MAGIC);
	ck_assert_uint_eq(c->version, XL_WIRE_VERSION);
	ck_assert_uint_eq(c->ctrl_size, XL_WIRE_CTRL_SIZE / XL_WIRE_CACHELINE);
	ck_assert_uint_eq(c->order[0], 12);
	ck_assert_uint_eq(c->order[1], 26);
	for (int d = 0; d < 2; d++) {
		ck_assert_uint_eq(c->dir[d].p.prod, 0);
		ck_assert_uint_eq(c->dir[d].p.state, XL_WIRE_PROD_IDLE);
		ck_assert_uint_eq(c->dir[d].p.want_space, 0);
		ck_assert_uint_eq(c->dir[d].p.live, XL_WIRE_LIVE);
		ck_assert_uint_eq(c->dir[d].c.cons, 0);
		ck_assert_uint_eq(c->dir[d].c.state, XL_WIRE_CONS_OPEN);
		ck_assert_uint_eq(c->dir[d].c.want_data, 0);
		ck_assert_uint_eq(c->dir[d].c.attached, 0);
	}
	for (size_t i = 0; i < sizeof(c->reserved) / sizeof(c->reserved[0]); i++)
		ck_assert_uint_eq(c->reserved[i], 0);

	ck_assert_int_eq(xl_ring_ctrl_check(c, 12, 26), 0);
	/* the orders agreed out of band win over the page */
	ck_assert_int_eq(xl_ring_ctrl_check(c, 26, 12), -EPROTO);
	ck_assert_int_eq(xl_ring_ctrl_check(c, 12, 25), -EPROTO);
	ck_assert_int_eq(xl_ring_ctrl_check(c, 13, 26), -EPROTO);

	c->magic ^= 1;
	ck_assert_int_eq(xl_ring_ctrl_check(c, 12, 26), -EPROTO);
	c->magic ^= 1;
	c->version = XL_WIRE_VERSION + 1;
	ck_assert_int_eq(xl_ring_ctrl_check(c, 12, 26), -EPROTO);
	c->version = 0;
	ck_assert_int_eq(xl_ring_ctrl_check(c, 12, 26), -EPROTO);
	c->version = XL_WIRE_VERSION;
	c->ctrl_size = 128;
	ck_assert_int_eq(xl_ring_ctrl_check(c, 12, 26), -EPROTO);
	c->ctrl_size = XL_WIRE_CTRL_SIZE / XL_WIRE_CACHELINE;
	ck_assert_int_eq(xl_ring_ctrl_check(c, 12, 26), 0);

	/* both sides agreeing on an order out of range is still refused */
	c->order[0] = 11;
	ck_assert_int_eq(xl_ring_ctrl_check(c, 11, 26), -EPROTO);
	c->order[0] = 27;
	ck_assert_int_eq(xl_ring_ctrl_check(c, 27, 26), -EPROTO);
	c->order[0] = 0xffffffffu;
	ck_assert_int_eq(xl_ring_ctrl_check(c, 0xffffffffu, 26), -EPROTO);
	c->order[0] = 12;
	ck_assert_int_eq(xl_ring_ctrl_check(c, 12, 26), 0);
}
END_TEST

START_TEST(test_init_bad_orders)
{
	static const uint32_t bad[] = { 0, 11, 27, 31, 32, 64, 0xffffffffu };
	struct xl_wire_ctrl *c = aligned_alloc(XL_WIRE_PAGE_SIZE, sizeof(*c));
	struct xl_ring_tx tx;
	struct xl_ring_rx rx;
	uint8_t data[1];

	ck_assert_ptr_nonnull(c);
	fx.ctrl = c;
	ck_assert_int_eq(xl_ring_ctrl_init(c, 12, 12), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(xl_ring_ctrl_init(c, bad[i], 12), -EINVAL);
		ck_assert_int_eq(xl_ring_ctrl_init(c, 12, bad[i]), -EINVAL);
		ck_assert_int_eq(xl_ring_tx_init(&tx, &c->dir[0], data, bad[i],
						 0), -EINVAL);
		ck_assert_int_eq(xl_ring_rx_init(&rx, &c->dir[0], data, bad[i]),
				 -EINVAL);
	}
	/* a refused init leaves the page as it was */
	ck_assert_int_eq(xl_ring_ctrl_check(c, 12, 12), 0);
	ck_assert_uint_eq(c->dir[0].p.state, XL_WIRE_PROD_IDLE);
	ck_assert_uint_eq(c->dir[0].c.attached, 0);
}
END_TEST

/* The biggest ring works end to end, including a copy across its end. */
START_TEST(test_max_order)
{
	uint32_t size;

	ring_make(XL_WIRE_MAX_ORDER, 0, true);
	size = fx.size;
	ck_assert_uint_eq(xl_ring_tx_space(&fx.tx), size);
	pat_fill(fx.buf, 0, size);
	ck_assert_int_eq(put(fx.buf, size - 100), size - 100);
	get_pat(0, size - 100);
	pat_fill(fx.buf, size - 100, size);
	ck_assert_int_eq(put(fx.buf, size + 1000), size);
	ck_assert_int_eq(put(fx.buf, 1), -EAGAIN);
	get_pat(size - 100, size);
	ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), 2ull * size - 100);
}
END_TEST

/* Many tiny pieces in one call, more than any fixed batch size. */
START_TEST(test_many_pieces)
{
	enum { N = 3000 };
	struct iovec *iov = calloc(N, sizeof(*iov));
	uint8_t *in, *out;
	size_t total = 0;

	ck_assert_ptr_nonnull(iov);
	ring_make(13, 0, true);
	in = fx.buf;
	out = fx.buf2;
	pat_fill(in, 0, N);
	for (int i = 0; i < N; i++) {
		/* pieces of 0, 1 and 2 bytes over a contiguous source */
		iov[i].iov_base = in + total;
		iov[i].iov_len = i % 3 == 0 ? 0 : i % 3;
		total += iov[i].iov_len;
	}
	ck_assert_int_eq(xl_ring_write(&fx.tx, iov, N), (ssize_t)total);
	total = 0;
	for (int i = 0; i < N; i++) {
		iov[i].iov_base = out + total;
		iov[i].iov_len = (i % 4 == 1) ? 0 : 1;
		total += iov[i].iov_len;
	}
	ck_assert_int_eq(xl_ring_read(&fx.rx, iov, N, 0), (ssize_t)total);
	ck_assert_pat(out, 0, total);
	free(iov);
}
END_TEST

/* ---- core ---- */

START_TEST(test_empty_full)
{
	uint32_t size;
	uint8_t b;

	ring_make(test_orders[_i], 0, false);
	size = fx.size;
	/* nothing opened yet */
	ck_assert_int_eq(get(&b, 1, 0), -EAGAIN);
	ck_assert_uint_eq(xl_ring_rx_avail(&fx.rx), 0);
	ck_assert(!xl_ring_rx_ready(&fx.rx));
	ck_assert_int_eq(xl_ring_tx_init(&fx.tx, fx.sh, fx.data, fx.order, 0),
			 0);
	ck_assert(xl_ring_tx_peer_attached(&fx.tx));

	ck_assert_int_eq(get(&b, 1, 0), -EAGAIN);
	ck_assert_int_eq(get(&b, 1, XL_RING_PEEK), -EAGAIN);
	ck_assert_int_eq(get(&b, 0, 0), -EAGAIN);
	ck_assert_uint_eq(xl_ring_tx_space(&fx.tx), size);
	ck_assert(xl_ring_tx_ready(&fx.tx));
	ck_assert(!xl_ring_rx_ready(&fx.rx));
	ck_assert_int_eq(put(fx.buf, 0), 0);
	ck_assert_int_eq(xl_ring_write(&fx.tx, NULL, 0), 0);
	ck_assert_uint_eq(xl_ring_rx_avail(&fx.rx), 0);

	put_pat(0, size);
	ck_assert_uint_eq(xl_ring_tx_space(&fx.tx), 0);
	ck_assert(!xl_ring_tx_ready(&fx.tx));
	ck_assert_int_eq(put(fx.buf, 1), -EAGAIN);
	ck_assert_int_eq(put(fx.buf, 0), 0);
	ck_assert_uint_eq(xl_ring_rx_avail(&fx.rx), size);
	ck_assert(xl_ring_rx_ready(&fx.rx));
	/* a read of nothing while data waits is not end of stream */
	ck_assert_int_eq(get(fx.buf2, 0, 0), -EAGAIN);

	get_pat(0, size);
	ck_assert_int_eq(get(&b, 1, 0), -EAGAIN);
	ck_assert_uint_eq(xl_ring_tx_space(&fx.tx), size);
	/* and once more, so the second lap starts at index size */
	put_pat(size, size);
	ck_assert_int_eq(put(fx.buf, 1), -EAGAIN);
	get_pat(size, size);
	ck_assert_int_eq(get(&b, 1, 0), -EAGAIN);
}
END_TEST

START_TEST(test_partial)
{
	uint32_t size;
	size_t got = 0;

	ring_make(test_orders[_i], 0, true);
	size = fx.size;
	/* a write bigger than the space is cut to the space */
	pat_fill(fx.buf, 0, 2 * size);
	ck_assert_int_eq(put(fx.buf, 2 * size), size);
	ck_assert_int_eq(put(fx.buf + size, size), -EAGAIN);
	/* reads smaller than what is there return just what was asked */
	ck_assert_int_eq(get(fx.buf2, 1, 0), 1);
	ck_assert_int_eq(get(fx.buf2 + 1, 99, 0), 99);
	ck_assert_pat(fx.buf2, 0, 100);
	/* the freed space takes exactly 100 more */
	ck_assert_uint_eq(xl_ring_tx_space(&fx.tx), 100);
	ck_assert_int_eq(put(fx.buf + size, size), 100);
	/* a read bigger than what is there returns what is there */
	ck_assert_int_eq(get(fx.buf2, 2 * size, 0), size);
	ck_assert_pat(fx.buf2, 100, size);
	ck_assert_int_eq(get(fx.buf2, 2 * size, 0), -EAGAIN);
	got = 100 + size;
	ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), got);
	ck_assert_uint_eq(xl_ring_tx_offset(&fx.tx), got);
}
END_TEST

START_TEST(test_peek)
{
	uint8_t a[300], b[300];

	ring_make(test_orders[_i], 0, true);
	put_pat(0, 200);
	ck_assert_int_eq(get(a, 300, XL_RING_PEEK), 200);
	ck_assert_pat(a, 0, 200);
	/* peeking consumed nothing: same bytes again, same fill */
	ck_assert_uint_eq(xl_ring_rx_avail(&fx.rx), 200);
	ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), 0);
	ck_assert_uint_eq(fx.sh->c.cons, 0);
	ck_assert_int_eq(get(b, 50, XL_RING_PEEK), 50);
	ck_assert_mem_eq(a, b, 50);
	ck_assert_uint_eq(xl_ring_tx_space(&fx.tx), fx.size - 200);
	/* a consuming read starts where the peek did */
	ck_assert_int_eq(get(b, 120, 0), 120);
	ck_assert_pat(b, 0, 120);
	ck_assert_int_eq(get(b, 300, XL_RING_PEEK), 80);
	ck_assert_pat(b, 120, 80);
	ck_assert_int_eq(get(b, 300, 0), 80);
	ck_assert_pat(b, 120, 80);
	ck_assert_int_eq(get(b, 1, XL_RING_PEEK), -EAGAIN);
}
END_TEST

/* Consumer announces sleep; a write must then owe exactly one notify. */
START_TEST(test_wake_rx)
{
	uint8_t b[16];

	ring_make(test_orders[_i], 0, true);
	/* nobody sleeps: writes owe nothing */
	put_pat(0, 10);
	ck_assert(!xl_ring_tx_notify_needed(&fx.tx));
	/* data there: the consumer must not sleep, and leaves no flag */
	ck_assert(!xl_ring_rx_prepare_sleep(&fx.rx));
	put_pat(10, 1);
	ck_assert(!xl_ring_tx_notify_needed(&fx.tx));
	get_pat(0, 11);

	ck_assert(xl_ring_rx_prepare_sleep(&fx.rx));
	ck_assert_uint_ne(fx.sh->c.want_data, 0);
	put_pat(11, 5);
	ck_assert(xl_ring_tx_notify_needed(&fx.tx));
	ck_assert(!xl_ring_tx_notify_needed(&fx.tx));
	put_pat(16, 5);
	ck_assert(!xl_ring_tx_notify_needed(&fx.tx));
	xl_ring_rx_end_sleep(&fx.rx);
	ck_assert_int_eq(get(b, sizeof(b), 0), 10);
	ck_assert_pat(b, 11, 10);

	/* a withdrawn announcement owes nothing */
	ck_assert(xl_ring_rx_prepare_sleep(&fx.rx));
	xl_ring_rx_end_sleep(&fx.rx);
	put_pat(21, 1);
	ck_assert(!xl_ring_tx_notify_needed(&fx.tx));
	get_pat(21, 1);

	/* end of stream wakes a sleeper like data does */
	ck_assert(xl_ring_rx_prepare_sleep(&fx.rx));
	ck_assert_int_eq(xl_ring_tx_close(&fx.tx), 0);
	ck_assert(xl_ring_tx_notify_needed(&fx.tx));
	ck_assert(!xl_ring_tx_notify_needed(&fx.tx));
	xl_ring_rx_end_sleep(&fx.rx);
	/* and a closed ring is never slept on */
	ck_assert(!xl_ring_rx_prepare_sleep(&fx.rx));
	ck_assert_int_eq(get(b, 1, 0), 0);
}
END_TEST

/* Producer announces sleep on a full ring; a read owes one notify. */
START_TEST(test_wake_tx)
{
	uint32_t size;

	ring_make(test_orders[_i], 0, true);
	size = fx.size;
	ck_assert(!xl_ring_tx_prepare_sleep(&fx.tx));	/* empty: space */
	put_pat(0, size);
	get_pat(0, 1);
	ck_assert(!xl_ring_rx_notify_needed(&fx.rx));
	ck_assert(!xl_ring_tx_prepare_sleep(&fx.tx));	/* one byte free */
	put_pat(size, 1);

	ck_assert(xl_ring_tx_prepare_sleep(&fx.tx));
	ck_assert_uint_ne(fx.sh->p.want_space, 0);
	/* a peek frees nothing and so owes nothing (chan only asks after a
	 * consuming read, but the flag must survive the peek either way) */
	ck_assert_int_eq(get(fx.buf2, 10, XL_RING_PEEK), 10);
	ck_assert_uint_ne(fx.sh->p.want_space, 0);
	get_pat(1, 10);
	ck_assert(xl_ring_rx_notify_needed(&fx.rx));
	ck_assert(!xl_ring_rx_notify_needed(&fx.rx));
	get_pat(11, 10);
	ck_assert(!xl_ring_rx_notify_needed(&fx.rx));
	xl_ring_tx_end_sleep(&fx.tx);

	/* the consumer closing wakes a producer waiting for space */
	put_pat(size + 1, 20);
	ck_assert(xl_ring_tx_prepare_sleep(&fx.tx));
	ck_assert_int_eq(xl_ring_rx_close(&fx.rx), 0);
	ck_assert(xl_ring_rx_notify_needed(&fx.rx));
	xl_ring_tx_end_sleep(&fx.tx);
	ck_assert(!xl_ring_tx_prepare_sleep(&fx.tx));
	ck_assert_int_eq(put(fx.buf, 1), -EPIPE);
}
END_TEST

/* ---- wrap ---- */

/*
 * iters rounds of: write c bytes (in two calls split at a varying point),
 * read them back (split elsewhere). With c odd, round k starts at ring
 * offset k * c mod size, so size rounds start at every offset once.
 */
static void wrap_pass(uint64_t *pos, size_t c, uint32_t iters)
{
	for (uint32_t k = 0; k < iters; k++) {
		size_t w = (k * 7u) % (c + 1), r = (k * 13u + 5) % (c + 1);

		pat_fill(fx.buf, *pos, c);
		if (w)
			ck_assert_int_eq(put(fx.buf, w), (ssize_t)w);
		if (c - w)
			ck_assert_int_eq(put(fx.buf + w, c - w),
					 (ssize_t)(c - w));
		ck_assert_uint_eq(xl_ring_rx_avail(&fx.rx), c);
		if (r)
			ck_assert_int_eq(get(fx.buf2, r, 0), (ssize_t)r);
		if (c - r)
			ck_assert_int_eq(get(fx.buf2 + r, fx.buflen - r, 0),
					 (ssize_t)(c - r));
		ck_assert_pat(fx.buf2, *pos, c);
		*pos += c;
	}
	ck_assert_uint_eq(xl_ring_rx_avail(&fx.rx), 0);
	ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), *pos);
}

START_TEST(test_wrap_every_offset)
{
	uint64_t pos = 0;
	uint32_t size;

	ring_make(test_orders[_i], 0, true);
	size = fx.size;
	/* small writes starting at every offset */
	wrap_pass(&pos, 129, size);
	/* half-ring writes: every other one straddles the end */
	wrap_pass(&pos, size / 2 + 1, size < 4096 ? size : 4096);
	/* whole-ring writes split at many points */
	wrap_pass(&pos, size - 1, 300);
	/* a full ring at a non-zero offset */
	put_pat(pos, size);
	get_pat(pos, size);
}
END_TEST

/* Random write and read sizes against the ring kept partly full, so the
 * reads straddle the end at other points than the writes. */
START_TEST(test_wrap_random)
{
	uint64_t s = 0x1234567 + _i, wpos = 0, rpos = 0;
	uint32_t size;
	ssize_t n;

	ring_make(test_orders[_i], 0, true);
	size = fx.size;
	for (int k = 0; k < 20000; k++) {
		size_t w = rnd(&s) % (size / 2 + 2);
		size_t r = rnd(&s) % (size / 2 + 2);

		pat_fill(fx.buf, wpos, w);
		n = put(fx.buf, w);
		if (w == 0) {
			ck_assert_int_eq(n, 0);
		} else if (wpos - rpos == size) {
			ck_assert_int_eq(n, -EAGAIN);
		} else {
			/* a partial write fills exactly the space */
			size_t want = size - (wpos - rpos) < w ?
				      size - (wpos - rpos) : w;

			ck_assert_int_eq(n, (ssize_t)want);
			wpos += (size_t)n;
		}
		ck_assert_uint_eq(xl_ring_rx_avail(&fx.rx), wpos - rpos);
		n = get(fx.buf2, r, 0);
		if (wpos == rpos || r == 0) {
			ck_assert_int_eq(n, -EAGAIN);
			continue;
		}
		ck_assert_int_eq(n, (ssize_t)(r < wpos - rpos ? r :
					      wpos - rpos));
		ck_assert_pat(fx.buf2, rpos, (size_t)n);
		rpos += (size_t)n;
	}
	ck_assert_uint_eq(xl_ring_tx_offset(&fx.tx), wpos);
	ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), rpos);
}
END_TEST

/* ---- iovec ---- */

/* Lay pieces of the given lengths over buf back to back. */
static int iov_lay(struct iovec *iov, uint8_t *buf, const size_t *len, int n,
		   size_t *total)
{
	*total = 0;
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = buf + *total;
		iov[i].iov_len = len[i];
		*total += len[i];
	}
	return n;
}

START_TEST(test_iovec_straddle)
{
	static const size_t wlen[] = { 0, 1, 0, 0, 7, 300, 0, 2, 33, 0, 1, 0,
				       1000, 5, 0, 64, 0, 0, 3, 1 };
	static const size_t rlen[] = { 0, 0, 13, 0, 1, 1, 500, 0, 1, 0, 400,
				       0, 0, 2, 498, 0, 1, 0 };
	struct iovec iov[32];
	size_t wt, rt;
	int wn = sizeof(wlen) / sizeof(wlen[0]);
	int rn = sizeof(rlen) / sizeof(rlen[0]);
	uint32_t size;
	uint64_t pos;

	ring_make(test_orders[_i], 0, true);
	size = fx.size;
	/* park the indices 37 bytes before the end */
	pos = size - 37;
	pat_fill(fx.buf, 0, pos);
	ck_assert_int_eq(put(fx.buf, pos), (ssize_t)pos);
	get_pat(0, pos);

	iov_lay(iov, fx.buf, wlen, wn, &wt);
	pat_fill(fx.buf, pos, wt);
	ck_assert_int_eq(xl_ring_write(&fx.tx, iov, wn), (ssize_t)wt);
	iov_lay(iov, fx.buf2, rlen, rn, &rt);
	ck_assert_uint_eq(rt, wt);
	memset(fx.buf2, 0, rt);
	ck_assert_int_eq(xl_ring_read(&fx.rx, iov, rn, XL_RING_PEEK),
			 (ssize_t)rt);
	ck_assert_pat(fx.buf2, pos, rt);
	memset(fx.buf2, 0, rt);
	ck_assert_int_eq(xl_ring_read(&fx.rx, iov, rn, 0), (ssize_t)rt);
	ck_assert_pat(fx.buf2, pos, rt);
	pos += rt;

	/* all-empty pieces: a write of nothing, a read of nothing */
	iov_lay(iov, fx.buf, (const size_t[]){ 0, 0, 0 }, 3, &wt);
	ck_assert_int_eq(xl_ring_write(&fx.tx, iov, 3), 0);
	put_pat(pos, 10);
	ck_assert_int_eq(xl_ring_read(&fx.rx, iov, 3, 0), -EAGAIN);
	ck_assert_uint_eq(xl_ring_rx_avail(&fx.rx), 10);
	get_pat(pos, 10);
}
END_TEST

/* A vector write bigger than the space stops exactly at the space, mid
 * piece, and a vector read bigger than the data stops at the data. */
START_TEST(test_iovec_partial)
{
	struct iovec iov[4];
	uint32_t size;
	size_t t, head;

	ring_make(test_orders[_i], 0, true);
	size = fx.size;
	head = size / 3;
	put_pat(0, head);
	get_pat(0, head);		/* indices now mid-ring */
	put_pat(head, size - 100);	/* 100 bytes of space left */
	iov_lay(iov, fx.buf, (const size_t[]){ 30, 0, 50, 400 }, 4, &t);
	pat_fill(fx.buf, head + size - 100, t);
	ck_assert_int_eq(xl_ring_write(&fx.tx, iov, 4), 100);
	ck_assert_int_eq(xl_ring_write(&fx.tx, iov, 4), -EAGAIN);
	get_pat(head, size);
	iov_lay(iov, fx.buf2, (const size_t[]){ 1, 2, 0, 3 }, 4, &t);
	ck_assert_int_eq(xl_ring_read(&fx.rx, iov, 4, 0), -EAGAIN);

	put_pat(head + size, 5);
	ck_assert_int_eq(xl_ring_read(&fx.rx, iov, 4, 0), 5);
	ck_assert_pat(fx.buf2, head + size, 5);
}
END_TEST

/* Random vectors, random reads: every byte lands in order. */
START_TEST(test_iovec_random)
{
	uint64_t s = 0xfeed + _i, wpos = 0, rpos = 0;
	struct iovec iov[12];
	uint32_t size;
	ssize_t n;

	ring_make(test_orders[_i], 0, true);
	size = fx.size;
	for (int k = 0; k < 5000; k++) {
		int cnt = (int)(rnd(&s) % 13);
		size_t t = 0;

		for (int j = 0; j < cnt; j++) {
			iov[j].iov_base = fx.buf + t;
			iov[j].iov_len = rnd(&s) % 4 ? rnd(&s) % (size / 8) : 0;
			t += iov[j].iov_len;
		}
		pat_fill(fx.buf, wpos, t);
		n = xl_ring_write(&fx.tx, iov, cnt);
		if (t == 0)
			ck_assert_int_eq(n, 0);
		else if (wpos - rpos == size)
			ck_assert_int_eq(n, -EAGAIN);
		else
			ck_assert_int_eq(n, (ssize_t)(t < size - (wpos - rpos) ?
						      t : size - (wpos - rpos)));
		if (n > 0)
			wpos += (size_t)n;

		cnt = (int)(rnd(&s) % 13);
		t = 0;
		for (int j = 0; j < cnt; j++) {
			iov[j].iov_base = fx.buf2 + t;
			iov[j].iov_len = rnd(&s) % 4 ? rnd(&s) % (size / 6) : 0;
			t += iov[j].iov_len;
		}
		n = xl_ring_read(&fx.rx, iov, cnt, 0);
		if (t == 0 || wpos == rpos) {
			ck_assert_int_eq(n, -EAGAIN);
			continue;
		}
		ck_assert_int_eq(n, (ssize_t)(t < wpos - rpos ? t :
					      wpos - rpos));
		ck_assert_pat(fx.buf2, rpos, (size_t)n);
		rpos += (size_t)n;
	}
	ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), rpos);
}
END_TEST

/* ---- close ---- */

START_TEST(test_tx_close_drains)
{
	uint8_t b[64];
	uint64_t so;

	ring_make(test_orders[_i], 5000, true);
	ck_assert_int_eq(xl_ring_rx_started(&fx.rx, &so), 1);
	ck_assert_uint_eq(so, 5000);
	put_pat(5000, 100);
	ck_assert_int_eq(xl_ring_tx_close(&fx.tx), 0);
	ck_assert_uint_eq(fx.sh->p.state, XL_WIRE_PROD_CLOSED);
	ck_assert_uint_eq(fx.sh->p.end_off, 5100);
	ck_assert_int_eq(xl_ring_tx_close(&fx.tx), 0);	/* idempotent */
	ck_assert_int_eq(put(b, 1), -ESHUTDOWN);
	ck_assert_uint_eq(xl_ring_tx_space(&fx.tx), 0);
	ck_assert_uint_eq(xl_ring_tx_offset(&fx.tx), 5100);

	/* bytes sent before the close are all delivered, then EOF */
	ck_assert(xl_ring_rx_ready(&fx.rx));
	ck_assert_int_eq(get(b, 40, 0), 40);
	ck_assert_pat(b, 5000, 40);
	ck_assert_int_eq(get(b, 64, XL_RING_PEEK), 60);
	ck_assert_int_eq(get(b, 64, 0), 60);
	ck_assert_pat(b, 5040, 60);
	ck_assert_int_eq(get(b, 64, 0), 0);
	ck_assert_int_eq(get(b, 64, 0), 0);
	ck_assert_int_eq(get(b, 64, XL_RING_PEEK), 0);
	ck_assert_int_eq(get(b, 0, 0), 0);
	ck_assert(xl_ring_rx_ready(&fx.rx));
	ck_assert(!xl_ring_rx_prepare_sleep(&fx.rx));
	ck_assert_uint_eq(xl_ring_rx_avail(&fx.rx), 0);
	ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), 5100);
	ck_assert_int_eq(xl_ring_rx_started(&fx.rx, &so), 1);
	ck_assert_uint_eq(so, 5000);
}
END_TEST

/* Leaving: the ring stream ends, and the reader is told the stream goes
 * on elsewhere (-EXDEV), not that it ended. */
START_TEST(test_tx_leave)
{
	uint8_t b[64];

	ring_make(test_orders[_i], 7000, true);
	put_pat(7000, 50);
	ck_assert_int_eq(xl_ring_tx_leave(&fx.tx), 0);
	ck_assert_uint_eq(fx.sh->p.state, XL_WIRE_PROD_LEFT);
	ck_assert_uint_eq(fx.sh->p.end_off, 7050);
	ck_assert_int_eq(put(b, 1), -ESHUTDOWN);
	ck_assert(xl_ring_rx_ready(&fx.rx));
	ck_assert_int_eq(get(b, 64, 0), 50);
	ck_assert_pat(b, 7000, 50);
	ck_assert_int_eq(get(b, 64, 0), -EXDEV);
	ck_assert_int_eq(get(b, 64, XL_RING_PEEK), -EXDEV);
	ck_assert(xl_ring_rx_ready(&fx.rx));
	ck_assert(!xl_ring_rx_prepare_sleep(&fx.rx));
	ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), 7050);
}
END_TEST

START_TEST(test_close_empty)
{
	uint8_t b[8];

	ring_make(test_orders[_i], 1ull << 40, true);
	ck_assert_int_eq(get(b, 8, 0), -EAGAIN);
	ck_assert_int_eq(xl_ring_tx_close(&fx.tx), 0);
	ck_assert_uint_eq(fx.sh->p.end_off, 1ull << 40);
	ck_assert_int_eq(get(b, 8, 0), 0);
	ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), 1ull << 40);
}
END_TEST

START_TEST(test_rx_close)
{
	uint8_t b[8] = { 0 };

	ring_make(test_orders[_i], 0, true);
	put_pat(0, 10);
	ck_assert_int_eq(xl_ring_rx_close(&fx.rx), 0);
	ck_assert_uint_eq(fx.sh->c.state, XL_WIRE_CONS_CLOSED);
	ck_assert_int_eq(xl_ring_rx_close(&fx.rx), 0);
	ck_assert_int_eq(put(b, 1), -EPIPE);
	ck_assert_int_eq(put(b, 8), -EPIPE);
	ck_assert(xl_ring_tx_ready(&fx.tx));
	ck_assert_uint_eq(xl_ring_tx_space(&fx.tx), 0);
	ck_assert(!xl_ring_tx_prepare_sleep(&fx.tx));
	/* -EPIPE is the peer's doing, not a broken ring: closing still works */
	ck_assert_int_eq(xl_ring_tx_close(&fx.tx), 0);
	ck_assert_int_eq(put(b, 1), -ESHUTDOWN);
}
END_TEST

START_TEST(test_attached_started)
{
	uint64_t so = 77;

	ring_make(test_orders[_i], 0, false);
	ck_assert_int_eq(xl_ring_rx_started(&fx.rx, &so), 0);
	ck_assert_uint_eq(so, 77);
	/* the attached flag is what rx_init published */
	fx.sh->c.attached = 0;
	ck_assert_int_eq(xl_ring_tx_init(&fx.tx, fx.sh, fx.data, fx.order,
					 123), 0);
	ck_assert(!xl_ring_tx_peer_attached(&fx.tx));
	ck_assert_int_eq(xl_ring_rx_init(&fx.rx, fx.sh, fx.data, fx.order), 0);
	ck_assert(xl_ring_tx_peer_attached(&fx.tx));
	ck_assert_int_eq(xl_ring_rx_started(&fx.rx, &so), 1);
	ck_assert_uint_eq(so, 123);
	ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), 123);
}
END_TEST

/* ---- offsets ---- */

/* Where each offsets test starts, and how many bytes it moves: one of
 * them runs the 32-bit indices through more than two laps, the others
 * cross their interesting boundary and stay cheap. */
static const struct {
	uint64_t start, bytes;
} test_starts[] = {
	{ (1ull << 32) - 777, 1u << 22 },	/* stream offset crosses 2^32 */
	{ (1ull << 63) - 4097, (1ull << 33) + 3 * 4096 + 17 },
	{ 0xfffffffc00000000ull - 13, 1u << 22 },	/* near the top */
};

/*
 * Stream offsets stay exact across 2^32 and 2^63 and across more than
 * two laps of the 32-bit indices: tx_offset, tx_acked and rx_offset
 * advance by exactly the bytes moved, and end_off at close matches
 * 64-bit arithmetic.
 */
START_TEST(test_offsets)
{
	const uint64_t start = test_starts[_i].start;
	const uint64_t total = test_starts[_i].bytes;
	uint64_t moved = 0, s = 99 + _i, so;
	uint32_t size;
	ssize_t n;

	ring_make(16, start, true);
	size = fx.size;
	ck_assert_int_eq(xl_ring_rx_started(&fx.rx, &so), 1);
	ck_assert_uint_eq(so, start);
	pat_fill(fx.buf, 0, 2 * (size_t)size);
	while (moved < total) {
		size_t w = size - (rnd(&s) & 4095), r;

		if (w > total - moved)
			w = total - moved;
		r = w - (rnd(&s) % (w + 1));
		ck_assert_uint_eq(xl_ring_tx_offset(&fx.tx), start + moved);
		ck_assert_int_eq(put(fx.buf, w), (ssize_t)w);
		ck_assert_uint_eq(xl_ring_tx_offset(&fx.tx), start + moved + w);
		/* the write refreshed cons before copying: all earlier bytes
		 * were read by then */
		ck_assert_uint_eq(xl_ring_tx_acked(&fx.tx), start + moved);
		ck_assert_uint_eq(fx.sh->p.prod, (uint32_t)(moved + w));
		if (r) {
			ck_assert_int_eq(get(fx.buf2, r, 0), (ssize_t)r);
			ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx),
					  start + moved + r);
			/* acked moves only when the producer looks again */
			ck_assert_uint_eq(xl_ring_tx_acked(&fx.tx),
					  start + moved);
			ck_assert_uint_eq(xl_ring_tx_space(&fx.tx),
					  size - (w - r));
			ck_assert_uint_eq(xl_ring_tx_acked(&fx.tx),
					  start + moved + r);
		}
		if (w - r) {
			n = get(fx.buf2, 2 * (size_t)size, 0);
			ck_assert_int_eq(n, (ssize_t)(w - r));
		}
		moved += w;
		ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), start + moved);
	}
	/* the data was right all along: check the last lap's bytes */
	put_pat(0, 1000);
	get_pat(0, 1000);
	moved += 1000;
	if (_i == 1)
		ck_assert_uint_gt(moved, 2 * (1ull << 32));
	ck_assert_int_eq(xl_ring_tx_close(&fx.tx), 0);
	ck_assert_uint_eq(fx.sh->p.end_off, start + moved);
	/* end_off checks out against the consumer's own 64-bit count */
	ck_assert_int_eq(get(fx.buf2, 1, 0), 0);
	ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), start + moved);
	ck_assert_int_eq(xl_ring_rx_started(&fx.rx, &so), 1);
	ck_assert_uint_eq(so, start);
}
END_TEST

/* ---- hostile_peer ---- */

/* Every consumer entry point reports the ring broken, and keeps doing so
 * after the shared page is put back to sane values. */
static void assert_rx_broken(void)
{
	uint8_t b[16];
	uint64_t so;

	for (int round = 0; round < 2; round++) {
		ck_assert_int_eq(get(b, sizeof(b), 0), -EPROTO);
		ck_assert_int_eq(get(b, sizeof(b), XL_RING_PEEK), -EPROTO);
		ck_assert_int_eq(get(b, 0, 0), -EPROTO);
		ck_assert_uint_eq(xl_ring_rx_avail(&fx.rx), 0);
		/* broken counts as ready: the caller must look, not sleep */
		ck_assert(xl_ring_rx_ready(&fx.rx));
		ck_assert(!xl_ring_rx_prepare_sleep(&fx.rx));
		ck_assert_int_eq(xl_ring_rx_started(&fx.rx, &so), -EPROTO);
		/* a repentant peer is not believed */
		fx.sh->p.prod = fx.rx.cons;
		fx.sh->p.state = XL_WIRE_PROD_OPEN;
	}
}

static void assert_tx_broken(void)
{
	uint8_t b[16] = { 0 };

	for (int round = 0; round < 2; round++) {
		ck_assert_int_eq(put(b, sizeof(b)), -EPROTO);
		ck_assert_uint_eq(xl_ring_tx_space(&fx.tx), 0);
		ck_assert(xl_ring_tx_ready(&fx.tx));
		ck_assert(!xl_ring_tx_prepare_sleep(&fx.tx));
		ck_assert_int_eq(xl_ring_tx_close(&fx.tx), -EPROTO);
		fx.sh->c.cons = fx.tx.prod;
		fx.sh->c.state = XL_WIRE_CONS_OPEN;
	}
}

/* prod behind our cons */
START_TEST(test_prod_below_cons)
{
	ring_make(12, 0, true);
	put_pat(0, 100);
	get_pat(0, 60);
	fx.sh->p.prod = 40;
	assert_rx_broken();
}
END_TEST

/* prod runs backwards over bytes we saw but have not read yet */
START_TEST(test_prod_backwards)
{
	ring_make(12, 0, true);
	put_pat(0, 100);
	get_pat(0, 10);			/* saw prod = 100 */
	fx.sh->p.prod = 50;
	assert_rx_broken();
}
END_TEST

/* prod - cons > size, by one and by a lot */
START_TEST(test_prod_too_far)
{
	static const uint32_t excess[] = { 1, 2, 4096, 0x7fffffffu };

	ring_make(12, 0, true);
	put_pat(0, 10);
	get_pat(0, 10);
	fx.sh->p.prod = 10 + fx.size + excess[_i];
	assert_rx_broken();
}
END_TEST

/* A full ring, however it got there, is not a lie. */
START_TEST(test_prod_full_is_fine)
{
	ring_make(12, 0, true);
	put_pat(0, 10);
	get_pat(0, 10);
	fx.sh->p.prod = 10 + fx.size;
	ck_assert_int_eq(get(fx.buf2, 2 * fx.size, 0), fx.size);
	ck_assert_int_eq(get(fx.buf2, 1, 0), -EAGAIN);
}
END_TEST

START_TEST(test_state_out_of_range)
{
	static const uint32_t bad[] = { 4, 5, 0x80000000u, 0xffffffffu };

	ring_make(12, 0, true);
	put_pat(0, 10);
	fx.sh->p.state = bad[_i];
	assert_rx_broken();
}
END_TEST

START_TEST(test_state_open_to_idle)
{
	uint8_t b;

	ring_make(12, 0, true);
	ck_assert_int_eq(get(&b, 1, 0), -EAGAIN);	/* saw OPEN */
	fx.sh->p.state = XL_WIRE_PROD_IDLE;
	assert_rx_broken();
}
END_TEST

START_TEST(test_state_closed_to_open)
{
	uint8_t b;

	ring_make(12, 0, true);
	put_pat(0, 5);
	ck_assert_int_eq(xl_ring_tx_close(&fx.tx), 0);
	get_pat(0, 5);
	ck_assert_int_eq(get(&b, 1, 0), 0);		/* saw CLOSED */
	fx.sh->p.state = XL_WIRE_PROD_OPEN;
	assert_rx_broken();
}
END_TEST

/* CLOSED and LEFT are both final: one never turns into the other. */
START_TEST(test_state_final)
{
	uint8_t b;

	ring_make(12, 0, true);
	put_pat(0, 5);
	ck_assert_int_eq(_i ? xl_ring_tx_leave(&fx.tx) :
			      xl_ring_tx_close(&fx.tx), 0);
	get_pat(0, 5);
	ck_assert_int_eq(get(&b, 1, 0), _i ? -EXDEV : 0);
	fx.sh->p.state = _i ? XL_WIRE_PROD_CLOSED : XL_WIRE_PROD_LEFT;
	assert_rx_broken();
}
END_TEST

/* Bytes published by a producer that never opened. */
START_TEST(test_idle_with_data)
{
	ring_make(12, 0, false);
	fx.sh->p.prod = 5;
	assert_rx_broken();
}
END_TEST

/* end_off disagrees with the bytes published: one more, one fewer, and
 * bytes published after CLOSED. */
START_TEST(test_end_off_mismatch)
{
	uint8_t b;

	ring_make(12, 1000, true);
	put_pat(1000, 100);
	get_pat(1000, 30);
	ck_assert_int_eq(xl_ring_tx_close(&fx.tx), 0);
	switch (_i) {
	case 0:
		fx.sh->p.end_off = 1101;
		break;
	case 1:
		fx.sh->p.end_off = 1099;
		break;
	case 2:
		/* right end_off, but relative to a start_off of 0 */
		fx.sh->p.end_off = 100;
		break;
	case 3:
		/* consistent when seen, then more bytes appear */
		get_pat(1030, 70);
		ck_assert_int_eq(get(&b, 1, 0), 0);
		fx.sh->p.prod += 10;
		break;
	}
	assert_rx_broken();
}
END_TEST

/*
 * start_off is read once, when OPEN is first seen (xl_ring.h:
 * "start_off valid once pstate >= OPEN"). A later change cannot be told
 * from a correct page by the consumer alone and must not move our
 * offsets; it shows only if the producer's end_off follows the new value.
 */
START_TEST(test_start_off_changes)
{
	uint64_t so;
	uint8_t b;

	ring_make(12, 1ull << 32, true);
	put_pat(0, 50);
	ck_assert_int_eq(xl_ring_rx_started(&fx.rx, &so), 1);
	ck_assert_uint_eq(so, 1ull << 32);
	fx.sh->p.start_off = 7;
	get_pat(0, 20);
	ck_assert_int_eq(xl_ring_rx_started(&fx.rx, &so), 1);
	ck_assert_uint_eq(so, 1ull << 32);
	ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), (1ull << 32) + 20);
	if (_i == 0) {
		/* the producer's own end_off is consistent with what we read */
		ck_assert_int_eq(xl_ring_tx_close(&fx.tx), 0);
		get_pat(20, 30);
		ck_assert_int_eq(get(&b, 1, 0), 0);
		ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), (1ull << 32) + 50);
	} else {
		/* a producer that believes its own rewrite is caught */
		ck_assert_int_eq(xl_ring_tx_close(&fx.tx), 0);
		fx.sh->p.end_off = 7 + 50;
		assert_rx_broken();
	}
}
END_TEST

/* cons past prod */
START_TEST(test_cons_past_prod)
{
	ring_make(12, 0, true);
	put_pat(0, 100);
	fx.sh->c.cons = 101;
	assert_tx_broken();
}
END_TEST

/* cons runs backwards */
START_TEST(test_cons_backwards)
{
	ring_make(12, 0, true);
	put_pat(0, 100);
	get_pat(0, 50);
	ck_assert_uint_eq(xl_ring_tx_space(&fx.tx), fx.size - 50);
	fx.sh->c.cons = _i ? (uint32_t)(100 - fx.size - 1) : 40;
	assert_tx_broken();
}
END_TEST

START_TEST(test_cons_state_bad)
{
	ring_make(12, 0, true);
	fx.sh->c.state = _i ? 0xffffffffu : XL_WIRE_CONS_BACK + 1;
	assert_tx_broken();
}
END_TEST

/* wire.h: consumer state "Moves OPEN -> CLOSED only"; xl_ring.h: a state
 * that goes back breaks the ring. */
START_TEST(test_cons_state_reopens)
{
	ring_make(12, 0, true);
	ck_assert_int_eq(xl_ring_rx_close(&fx.rx), 0);
	ck_assert_int_eq(put(fx.buf, 1), -EPIPE);
	fx.sh->c.state = XL_WIRE_CONS_OPEN;
	assert_tx_broken();
}
END_TEST

/*
 * A peer writing random values, some near the valid ones, into every
 * field it owns, between our calls: each call returns a count within the
 * request, -EAGAIN, 0 or -EPROTO, and after the first -EPROTO only that.
 * The sanitizer build turns any stray copy into a failure.
 */
static uint32_t near(uint64_t *s, uint32_t v)
{
	switch (rnd(s) % 4) {
	case 0:
		return (uint32_t)rnd(s);
	case 1:
		return v + (uint32_t)(rnd(s) % 8) - 4;
	default:
		return v + (uint32_t)(rnd(s) % 5000);
	}
}

START_TEST(test_random_producer)
{
	uint64_t s = 0xabcdef + _i, so;
	bool broken = false;
	ssize_t n;

	for (int trial = 0; trial < 200; trial++) {
		fx_teardown();
		ring_make(12, rnd(&s), true);
		broken = false;
		for (int k = 0; k < 100; k++) {
			size_t want = rnd(&s) % (2 * fx.size);
			int fld = (int)(rnd(&s) % 6);

			if (fld == 0)
				fx.sh->p.prod = near(&s, fx.sh->p.prod);
			else if (fld == 1)
				fx.sh->p.state = near(&s, 1) % 5;
			else if (fld == 2)
				fx.sh->p.end_off = fx.rx.start_off +
					near(&s, (uint32_t)fx.rx.done);
			else if (fld == 3)
				fx.sh->p.start_off = rnd(&s);
			n = get(fx.buf2, want, rnd(&s) % 2);
			if (broken) {
				ck_assert_int_eq(n, -EPROTO);
				continue;
			}
			ck_assert(n == -EPROTO || n == -EAGAIN || n == -EXDEV ||
				  (n >= 0 && (size_t)n <= want &&
				   (size_t)n <= fx.size));
			broken = n == -EPROTO;
			if (!broken)
				ck_assert_int_ge(xl_ring_rx_started(&fx.rx,
								    &so), 0);
		}
	}
}
END_TEST

START_TEST(test_random_consumer)
{
	uint64_t s = 0x5eed + _i;
	bool broken;
	ssize_t n;

	for (int trial = 0; trial < 200; trial++) {
		fx_teardown();
		ring_make(12, 0, true);
		broken = false;
		for (int k = 0; k < 100; k++) {
			size_t want = rnd(&s) % (2 * fx.size);

			if (rnd(&s) % 2)
				fx.sh->c.cons = near(&s, fx.sh->c.cons);
			if (rnd(&s) % 8 == 0)
				fx.sh->c.state = (uint32_t)(rnd(&s) % 3);
			n = put(fx.buf, want);
			if (broken) {
				ck_assert_int_eq(n, -EPROTO);
				continue;
			}
			ck_assert(n == -EPROTO || n == -EAGAIN || n == -EPIPE ||
				  n == -EXDEV ||
				  (n >= 0 && (size_t)n <= want &&
				   (size_t)n <= fx.size));
			broken = n == -EPROTO;
			/* what we still hold never exceeds the ring */
			if (!broken)
				ck_assert_uint_le(xl_ring_tx_offset(&fx.tx) -
						  xl_ring_tx_acked(&fx.tx),
						  fx.size);
		}
	}
}
END_TEST

/* ---- stress: two threads, real sleeping ---- */

#define STRESS_MSGS	10000000ull
#define STRESS_START	((1ull << 32) - 12345)

struct stress_side {
	struct xl_ring_tx *tx;		/* writer only */
	struct xl_ring_rx *rx;		/* reader only */
	int wait_efd;			/* we sleep on this */
	int kick_efd;			/* wakes the other thread */
	uint64_t seed;
	uint64_t calls;			/* ring calls that moved bytes */
	uint64_t msgs;
	uint64_t bytes;
	uint64_t sleeps;		/* times we really blocked */
	uint64_t sum1, sum2;		/* Fletcher-style running checksum */
	uint64_t bad_at;		/* stream offset of a wrong byte */
	int err;			/* 0, or what went wrong */
};

static void stress_sum(struct stress_side *sd, const uint8_t *p, size_t n)
{
	uint64_t a = sd->sum1, b = sd->sum2;

	for (size_t i = 0; i < n; i++) {
		a += p[i];
		b += a;
	}
	sd->sum1 = a;
	sd->sum2 = b;
}

static void stress_kick(int efd)
{
	uint64_t one = 1;

	/* the counter cannot saturate: every kick is eventually read */
	if (write(efd, &one, sizeof(one)) != sizeof(one))
		abort();
}

/*
 * Wait until ready() says so: spin a little (or not at all, one time in
 * eight, so sleeping is exercised however fast the other side is), then
 * announce, re-check, and block in read() with no timeout. A lost
 * wake-up blocks here forever, which the tcase timeout turns into a
 * failure.
 */
static void stress_wait(struct stress_side *sd, uint64_t *rs, bool tx)
{
	uint64_t count;
	int spins = rnd(rs) % 8 ? 300 : 0;

	for (;;) {
		for (int i = 0; i < spins; i++) {
			if (tx ? xl_ring_tx_ready(sd->tx) :
				 xl_ring_rx_ready(sd->rx))
				return;
		}
		if (!(tx ? xl_ring_tx_prepare_sleep(sd->tx) :
			   xl_ring_rx_prepare_sleep(sd->rx)))
			return;
		if (read(sd->wait_efd, &count, sizeof(count)) != sizeof(count))
			abort();
		sd->sleeps++;
		if (tx)
			xl_ring_tx_end_sleep(sd->tx);
		else
			xl_ring_rx_end_sleep(sd->rx);
		if (tx ? xl_ring_tx_ready(sd->tx) : xl_ring_rx_ready(sd->rx))
			return;
	}
}

/* Message sizes 1..2000, log-uniform: mostly small, some near 2000. */
static size_t stress_len(uint64_t *rs)
{
	uint64_t r = rnd(rs);

	return 1 + (size_t)(r % (2000u >> ((r >> 40) % 11)));
}

/* Cut [0, len) into cnt back-to-back pieces at random points; some
 * pieces come out empty. */
static void stress_cut(struct iovec *iov, int cnt, uint8_t *buf, size_t len,
		       uint64_t *rs)
{
	size_t at = 0;

	for (int j = 0; j < cnt; j++) {
		size_t n = j == cnt - 1 ? len - at : rnd(rs) % (len - at + 1);

		iov[j].iov_base = buf + at;
		iov[j].iov_len = n;
		at += n;
	}
}

static void *stress_writer(void *arg)
{
	struct stress_side *sd = arg;
	uint64_t rs = sd->seed, pos = STRESS_START;
	uint8_t buf[2048];
	struct iovec iov[4], *cur;
	ssize_t n;
	int cnt;

	for (sd->msgs = 0; sd->msgs < STRESS_MSGS; sd->msgs++) {
		size_t len = stress_len(&rs);

		pat_fill(buf, pos, len);
		stress_sum(sd, buf, len);
		cnt = 1 + (int)(rnd(&rs) % 4);
		stress_cut(iov, cnt, buf, len, &rs);
		cur = iov;
		pos += len;
		while (len) {
			n = xl_ring_write(sd->tx, cur, cnt);
			if (n == -EAGAIN) {
				stress_wait(sd, &rs, true);
				continue;
			}
			if (n <= 0) {
				sd->err = n ? (int)n : -EIO;
				goto out_close;
			}
			sd->calls++;
			sd->bytes += (uint64_t)n;
			len -= (size_t)n;
			if (xl_ring_tx_notify_needed(sd->tx))
				stress_kick(sd->kick_efd);
			/* drop what went in from the front of the vector */
			while (n > 0) {
				if ((size_t)n >= cur->iov_len) {
					n -= (ssize_t)cur->iov_len;
					cur++;
					cnt--;
				} else {
					cur->iov_base = (uint8_t *)cur->iov_base
							+ n;
					cur->iov_len -= (size_t)n;
					n = 0;
				}
			}
		}
	}
out_close:
	xl_ring_tx_close(sd->tx);
	if (xl_ring_tx_notify_needed(sd->tx))
		stress_kick(sd->kick_efd);
	return NULL;
}

static void *stress_reader(void *arg)
{
	struct stress_side *sd = arg;
	uint64_t rs = sd->seed, pos = STRESS_START;
	uint8_t buf[4096];
	struct iovec iov[4];
	size_t bad;
	ssize_t n;
	int cnt;

	for (;;) {
		/* phases of small reads let the writer fill the ring and
		 * sleep; phases of big ones let the reader empty it and
		 * sleep */
		size_t want = (sd->calls >> 16) & 1 ? 1 + rnd(&rs) % 64 :
						      1 + rnd(&rs) % 4096;

		cnt = 1 + (int)(rnd(&rs) % 4);
		stress_cut(iov, cnt, buf, want, &rs);
		n = xl_ring_read(sd->rx, iov, cnt, 0);
		if (n == -EAGAIN) {
			stress_wait(sd, &rs, false);
			continue;
		}
		if (n == 0)
			break;
		if (n < 0) {
			sd->err = (int)n;
			break;
		}
		sd->calls++;
		if (xl_ring_rx_notify_needed(sd->rx))
			stress_kick(sd->kick_efd);
		bad = pat_mismatch(buf, pos, (size_t)n);
		if (bad != (size_t)n) {
			sd->err = -EBADMSG;
			sd->bad_at = pos + bad;
			break;
		}
		stress_sum(sd, buf, (size_t)n);
		sd->bytes += (uint64_t)n;
		pos += (uint64_t)n;
	}
	/* on error, make the writer stop (-EPIPE) instead of waiting */
	xl_ring_rx_close(sd->rx);
	if (xl_ring_rx_notify_needed(sd->rx))
		stress_kick(sd->kick_efd);
	return NULL;
}

START_TEST(test_stress_threads)
{
	struct stress_side w = { 0 }, r = { 0 };
	pthread_t tw, tr;
	int efd[2];

	ring_make(test_orders[_i], STRESS_START, true);
	efd[0] = eventfd(0, EFD_CLOEXEC);	/* wakes the writer */
	efd[1] = eventfd(0, EFD_CLOEXEC);	/* wakes the reader */
	ck_assert(efd[0] >= 0 && efd[1] >= 0);
	w.tx = &fx.tx;
	w.wait_efd = efd[0];
	w.kick_efd = efd[1];
	w.seed = 0x0123456789abcdefull + _i;
	r.rx = &fx.rx;
	r.wait_efd = efd[1];
	r.kick_efd = efd[0];
	r.seed = 0xfedcba9876543210ull + _i;
	ck_assert_int_eq(pthread_create(&tr, NULL, stress_reader, &r), 0);
	ck_assert_int_eq(pthread_create(&tw, NULL, stress_writer, &w), 0);
	pthread_join(tw, NULL);
	pthread_join(tr, NULL);
	close(efd[0]);
	close(efd[1]);

	ck_assert_msg(r.err == 0, "reader error %d at stream offset %llu",
		      r.err, (unsigned long long)r.bad_at);
	ck_assert_int_eq(w.err, 0);
	ck_assert_uint_eq(w.msgs, STRESS_MSGS);
	ck_assert_uint_ge(w.calls, STRESS_MSGS);
	ck_assert_uint_eq(r.bytes, w.bytes);
	ck_assert_uint_eq(r.sum1, w.sum1);
	ck_assert_uint_eq(r.sum2, w.sum2);
	ck_assert_uint_eq(xl_ring_tx_offset(&fx.tx), STRESS_START + w.bytes);
	ck_assert_uint_eq(xl_ring_rx_offset(&fx.rx), STRESS_START + r.bytes);
	/* both halves of the wake-up protocol really ran */
	ck_assert_uint_gt(w.sleeps, 0);
	ck_assert_uint_gt(r.sleeps, 0);
}
END_TEST

/* ---- suite ---- */

static TCase *tcase(Suite *s, const char *name, int timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
	return tc;
}

Suite *ring_suite(void);

/*
 * The kernel module's layout (wire.h, struct xl_wire_kpage): each side's
 * control page mapped read-write by itself and read-only by the other,
 * back to back so that a direction's lines are one struct xl_wire_dir
 * across the page boundary. Writing anything of the peer's faults here,
 * so the ring must never do it; the consumer's copy of the producer's
 * page and data (a PV guest's) is refreshed only through pull().
 */
#define KP 4096u

struct kview {
	uint8_t *base;		/* [own kpage][peer kpage] or the reverse */
	uint8_t *data;
};

static int kview_pull_calls;
static const uint8_t *kview_src_page, *kview_src_data;
static uint8_t *kview_copy_page, *kview_copy_data;
static size_t kview_data_len;

static int kview_pull(void *arg, const void *addr, size_t len)
{
	const uint8_t *a = addr;

	(void)arg;
	kview_pull_calls++;
	if (a >= kview_copy_page && a + len <= kview_copy_page + KP)
		memcpy((void *)a, kview_src_page + (a - kview_copy_page), len);
	else if (a >= kview_copy_data &&
		 a + len <= kview_copy_data + kview_data_len)
		memcpy((void *)a, kview_src_data + (a - kview_copy_data), len);
	else
		ck_abort_msg("pull outside the peer's pages: %p+%zu", addr,
			     len);
	return 0;
}

static void *map_fixed(void *at, size_t len, int prot, int fd, off_t off)
{
	void *m = mmap(at, len, prot, MAP_SHARED | MAP_FIXED, fd, off);

	ck_assert_ptr_ne(m, MAP_FAILED);
	return m;
}

START_TEST(test_peer_readonly)
{
	const uint32_t order = 12 + (uint32_t)_i;	/* 4 and 64 KiB */
	const size_t dlen = (size_t)1 << order;
	bool pulled = _i == 1;
	struct xl_ring_peer peer_mm = { .pull = NULL };
	struct xl_ring_peer peer_pull = { .pull = kview_pull };
	struct xl_ring_tx tx;
	struct xl_ring_rx rx;
	uint8_t *resv, *pv, *cv, *pdata, *cdata, out[3000], in[3000];
	uint32_t seed = 7, got_sum = 0, sent_sum = 0;
	size_t sent = 0, got = 0, total = 5 * dlen + 123, n, i;
	int fd = memfd_create("kpages", MFD_CLOEXEC);
	struct iovec iov;
	ssize_t r;
	int notified = 0;

	ck_assert_int_ge(fd, 0);
	/* page 0: the producer's kpage, 1: the consumer's, then data */
	ck_assert_int_eq(ftruncate(fd, 2 * KP + (off_t)dlen), 0);
	resv = mmap(NULL, 4 * KP + 2 * dlen, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(resv, MAP_FAILED);
	pv = resv;			/* the producer's view */
	cv = resv + 2 * KP;		/* the consumer's */
	pdata = resv + 4 * KP;
	cdata = pdata + dlen;
	map_fixed(pv, KP, PROT_READ | PROT_WRITE, fd, 0);
	map_fixed(pv + KP, KP, PROT_READ, fd, KP);
	map_fixed(cv + KP, KP, PROT_READ | PROT_WRITE, fd, KP);
	map_fixed(pdata, dlen, PROT_READ | PROT_WRITE, fd, 2 * KP);
	if (pulled) {
		/* the consumer sees a private copy of the producer's page
		 * and data, which only pull() refreshes */
		kview_src_page = pv;
		kview_src_data = pdata;
		kview_copy_page = cv;
		kview_copy_data = cdata;
		kview_data_len = dlen;
		ck_assert_ptr_ne(mmap(cv, KP, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				      -1, 0), MAP_FAILED);
		ck_assert_ptr_ne(mmap(cdata, dlen, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				      -1, 0), MAP_FAILED);
	} else {
		map_fixed(cv, KP, PROT_READ, fd, 0);
		map_fixed(cdata, dlen, PROT_READ, fd, 2 * KP);
	}
	kview_pull_calls = 0;
	ck_assert_int_eq(xl_ring_rx_init(&rx, (struct xl_wire_dir *)
					 (cv + KP - XL_WIRE_CACHELINE),
					 cdata, order), 0);
	xl_ring_rx_set_peer(&rx, pulled ? &peer_pull : &peer_mm);
	ck_assert_int_eq(xl_ring_tx_init(&tx, (struct xl_wire_dir *)
					 (pv + KP - XL_WIRE_CACHELINE),
					 pdata, order, 1000), 0);
	xl_ring_tx_set_peer(&tx, &peer_mm);
	ck_assert(xl_ring_tx_peer_attached(&tx));

	/* the consumer sleeps on an empty ring: one kick, not one per
	 * write, until it has consumed */
	ck_assert(xl_ring_rx_prepare_sleep(&rx));
	while (got < total) {
		n = total - sent < sizeof(out) ? total - sent : sizeof(out);
		for (i = 0; i < n; i++)
			out[i] = (uint8_t)(seed = seed * 1103515245u + 12345u);
		iov = (struct iovec){ out, n };
		r = n ? xl_ring_write(&tx, &iov, 1) : 0;
		ck_assert(r >= 0 || r == -EAGAIN);
		if (r > 0) {
			for (i = 0; i < (size_t)r; i++)
				sent_sum = sent_sum * 31 + out[i];
			sent += (size_t)r;
			seed = 0;	/* a fresh pattern per write */
			if (xl_ring_tx_notify_needed(&tx))
				notified++;
			/* the same sleep is not kicked twice */
			ck_assert(!xl_ring_tx_notify_needed(&tx));
		}
		if (notified && xl_ring_rx_ready(&rx)) {
			xl_ring_rx_end_sleep(&rx);
			iov = (struct iovec){ in, sizeof(in) };
			r = xl_ring_read(&rx, &iov, 1, 0);
			ck_assert_int_gt(r, 0);
			for (i = 0; i < (size_t)r; i++)
				got_sum = got_sum * 31 + in[i];
			got += (size_t)r;
			/* the producer may sleep for space, and is woken */
			if (xl_ring_rx_notify_needed(&rx))
				ck_assert(!xl_ring_rx_notify_needed(&rx));
			if (!xl_ring_rx_ready(&rx))
				ck_assert(xl_ring_rx_prepare_sleep(&rx));
			notified = 0;
		} else if (r == -EAGAIN) {
			ck_abort_msg("full, and the consumer was not kicked");
		}
	}
	ck_assert_uint_eq(got_sum, sent_sum);
	/* a producer woken for too little room (the library's poll wants a
	 * third of the ring) announces again without writing: the next
	 * consumption must kick it again */
	n = xl_ring_tx_space(&tx);
	for (i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)i;
	while (xl_ring_tx_space(&tx) > 0) {
		iov = (struct iovec){ out, sizeof(out) };
		ck_assert_int_gt(xl_ring_write(&tx, &iov, 1), 0);
	}
	tx.sh->p.want_space =
		xl_ring_want_next(tx.sh->p.want_space);
	iov = (struct iovec){ in, 100 };
	ck_assert_int_eq(xl_ring_read(&rx, &iov, 1, 0), 100);
	ck_assert(xl_ring_rx_notify_needed(&rx));
	ck_assert(!xl_ring_rx_notify_needed(&rx));
	tx.sh->p.want_space =
		xl_ring_want_next(tx.sh->p.want_space);
	ck_assert_int_eq(xl_ring_read(&rx, &iov, 1, 0), 100);
	ck_assert(xl_ring_rx_notify_needed(&rx));
	/* drain */
	for (;;) {
		iov = (struct iovec){ in, sizeof(in) };
		r = xl_ring_read(&rx, &iov, 1, 0);
		if (r == -EAGAIN)
			break;
		ck_assert_int_gt(r, 0);
	}
	(void)n;
	ck_assert_int_eq(xl_ring_tx_close(&tx), 0);
	iov = (struct iovec){ in, sizeof(in) };
	ck_assert_int_eq(xl_ring_read(&rx, &iov, 1, 0), 0);
	ck_assert_int_eq(rx.error, 0);
	if (pulled)
		ck_assert_int_gt(kview_pull_calls, 0);
	munmap(resv, 4 * KP + 2 * dlen);
	close(fd);
}
END_TEST

Suite *ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc;

	tc = tcase(s, "limits", 20);
	tcase_add_test(tc, test_ctrl_init_check);
	tcase_add_test(tc, test_init_bad_orders);
	tcase_add_test(tc, test_max_order);
	tcase_add_test(tc, test_many_pieces);

	tc = tcase(s, "core", 10);
	tcase_add_loop_test(tc, test_empty_full, 0, N_ORDERS);
	tcase_add_loop_test(tc, test_partial, 0, N_ORDERS);
	tcase_add_loop_test(tc, test_peek, 0, N_ORDERS);
	tcase_add_loop_test(tc, test_wake_rx, 0, N_ORDERS);
	tcase_add_loop_test(tc, test_wake_tx, 0, N_ORDERS);

	tc = tcase(s, "wrap", 30);
	tcase_add_loop_test(tc, test_wrap_every_offset, 0, N_ORDERS);
	tcase_add_loop_test(tc, test_wrap_random, 0, N_ORDERS);

	tc = tcase(s, "iovec", 10);
	tcase_add_loop_test(tc, test_iovec_straddle, 0, N_ORDERS);
	tcase_add_loop_test(tc, test_iovec_partial, 0, N_ORDERS);
	tcase_add_loop_test(tc, test_iovec_random, 0, N_ORDERS);

	tc = tcase(s, "close", 10);
	tcase_add_loop_test(tc, test_tx_close_drains, 0, N_ORDERS);
	tcase_add_loop_test(tc, test_tx_leave, 0, N_ORDERS);
	tcase_add_loop_test(tc, test_close_empty, 0, N_ORDERS);
	tcase_add_loop_test(tc, test_rx_close, 0, N_ORDERS);
	tcase_add_loop_test(tc, test_attached_started, 0, N_ORDERS);

	tc = tcase(s, "peer_readonly", 20);
	tcase_add_loop_test(tc, test_peer_readonly, 0, 2);

	tc = tcase(s, "offsets", 60);
	tcase_add_loop_test(tc, test_offsets, 0,
			    sizeof(test_starts) / sizeof(test_starts[0]));

	tc = tcase(s, "hostile_peer", 20);
	tcase_add_test(tc, test_prod_below_cons);
	tcase_add_test(tc, test_prod_backwards);
	tcase_add_loop_test(tc, test_prod_too_far, 0, 4);
	tcase_add_test(tc, test_prod_full_is_fine);
	tcase_add_loop_test(tc, test_state_out_of_range, 0, 4);
	tcase_add_test(tc, test_state_open_to_idle);
	tcase_add_test(tc, test_state_closed_to_open);
	tcase_add_loop_test(tc, test_state_final, 0, 2);
	tcase_add_test(tc, test_idle_with_data);
	tcase_add_loop_test(tc, test_end_off_mismatch, 0, 4);
	tcase_add_loop_test(tc, test_start_off_changes, 0, 2);
	tcase_add_test(tc, test_cons_past_prod);
	tcase_add_loop_test(tc, test_cons_backwards, 0, 2);
	tcase_add_loop_test(tc, test_cons_state_bad, 0, 2);
	tcase_add_test(tc, test_cons_state_reopens);
	tcase_add_loop_test(tc, test_random_producer, 0, 4);
	tcase_add_loop_test(tc, test_random_consumer, 0, 4);

	/* the smallest ring (most full/empty turns) and a big one */
	tc = tcase(s, "stress", 60);
	tcase_add_loop_test(tc, test_stress_threads, 0, 1);
	tcase_add_loop_test(tc, test_stress_threads, 2, 3);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ring_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
