/* SPDX-License-Identifier: MIT */
/*
 * Coming back onto a new ring (docs/protocol.md §5.3), every interleaving:
 * one direction of a connection whose producer and consumer may leave
 * their ring (§5.1: a DROP on either side, or both) and then move onto a
 * fresh channel, again and again, each a small state machine around the
 * real ring code (xl_ring.c) and a model of the kernel TCP stream,
 * explored depth first over every order of their steps.
 *
 * What it holds the design to: every ring's start_off is a whole-stream
 * offset (the producer's kernel plus ring bytes, a resend taken out of
 * the ring's share), the consumer compares it with all it consumed by
 * either path; each side asks for a new channel only once it is done
 * with the old one (the producer: off the ring, its resend sent; the
 * consumer: reading TCP); the consumer, once it holds the new channel,
 * swaps before it reads the kernel again; the producer opens the new
 * ring only once the consumer attached; the two channel slots are reused
 * in turn. Every run must end with the consumer at the end of the stream
 * holding exactly the bytes of a run without any switch, and never stuck.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xl_ring.h"

#define RA_ORDER	12u
#define RA_CHUNK	2u	/* bytes per write or read step */
#define RA_SAVED	16u	/* ring data bytes a run can touch */
#define RA_DEPTH	96

/* the consumer side of the ring the consumer reads now */
#define ST_RX	(&st.rxs[st.cgen % 2])

enum { P_TCP0, P_RING, P_TCP, P_DONE };
enum { C_PRE, C_RING, C_TCP, C_EOF };

/* Everything a step can change; the shared pages and ring data live in
 * ra_ctrl/ra_data, of which only what the steps touch is saved. */
struct ra_state {
	struct xl_wire_dir dir[2];
	uint8_t data[2][RA_SAVED];
	struct xl_ring_tx tx;
	struct xl_ring_rx rxs[2];	/* a consumer side per slot */
	uint8_t tcp[64];
	uint32_t tcp_w, tcp_r;
	bool fin;
	/* channels made so far (the first is there from the start); ring g
	 * lives in slot g % 2 */
	uint32_t made;
	bool p_req, c_req;	/* asked for the next channel */
	uint32_t c_att;		/* the consumer attached rings < c_att */
	/* producer */
	int p;
	uint32_t pgen, sent, resend;
	bool p_leave_used;	/* on its current ring */
	/* consumer */
	int c;
	uint32_t cgen, got;
	bool c_back_used;	/* on its current ring */
	uint32_t ring_bytes[4];	/* consumed from ring g */
	char trace[RA_DEPTH + 1];
	int depth;
};

static struct xl_wire_ctrl *ra_ctrl[2];
static uint8_t *ra_data[2];
static struct ra_state st;
static unsigned long ra_runs, ra_back_on;	/* distinct ends */
static uint32_t ra_len, ra_rings;

static uint8_t ra_byte(uint32_t i)
{
	return (uint8_t)(i * 37u + 11u);
}

static struct xl_wire_dir *ra_dir(uint32_t gen)
{
	return &ra_ctrl[gen % 2]->dir[0];
}

static void ra_save(struct ra_state *s)
{
	int i;

	for (i = 0; i < 2; i++) {
		st.dir[i] = ra_ctrl[i]->dir[0];
		memcpy(st.data[i], ra_data[i], RA_SAVED);
	}
	*s = st;
}

static void ra_restore(const struct ra_state *s)
{
	int i;

	st = *s;
	for (i = 0; i < 2; i++) {
		ra_ctrl[i]->dir[0] = st.dir[i];
		memcpy(ra_data[i], st.data[i], RA_SAVED);
	}
}

static void ra_tcp_put(uint8_t b)
{
	ck_assert_uint_lt(st.tcp_w, sizeof(st.tcp));
	ck_assert_msg(!st.fin, "a byte after the FIN (%s)", st.trace);
	st.tcp[st.tcp_w++] = b;
}

/* The producer answers BACK: LEFT at the consumer's byte, the rest
 * resent before anything newer (and taken out of the ring's share). */
static bool ra_answer(void)
{
	struct iovec iov[2];
	ssize_t n = xl_ring_tx_answer_back(&st.tx, iov);

	if (n == -EAGAIN || n == -ESHUTDOWN)
		return false;
	ck_assert_msg(n >= 0, "answer: %zd (%s)", n, st.trace);
	st.resend = (uint32_t)n;
	st.p = P_TCP;
	return true;
}

/* The producer's whole-stream offset: what went by the kernel plus what
 * stayed in rings; bytes being resent are in neither share until sent. */
static uint32_t ra_p_offset(void)
{
	return st.sent - st.resend;
}

static bool ra_p_write(void)
{
	uint8_t buf[RA_CHUNK];
	struct iovec iov;
	uint32_t i, n;
	ssize_t r;

	if (st.sent == ra_len || st.p == P_DONE || st.resend)
		return false;
	n = ra_len - st.sent < RA_CHUNK ? ra_len - st.sent : RA_CHUNK;
	for (i = 0; i < n; i++)
		buf[i] = ra_byte(st.sent + i);
	if (st.p != P_RING) {
		for (i = 0; i < n; i++)
			ra_tcp_put(buf[i]);
		st.sent += n;
		return true;
	}
	iov = (struct iovec){ buf, n };
	r = xl_ring_write(&st.tx, &iov, 1);
	if (r == -EXDEV)
		return ra_answer();
	ck_assert_msg(r > 0, "write: %zd (%s)", r, st.trace);
	st.sent += (uint32_t)r;
	return true;
}

/* Open the current ring once its consumer attached (and still takes it). */
static bool ra_p_open(void)
{
	struct xl_wire_dir *d = ra_dir(st.pgen);

	if (st.p != P_TCP0 || !d->c.attached ||
	    d->c.state != XL_WIRE_CONS_OPEN)
		return false;
	ck_assert_int_eq(xl_ring_tx_init(&st.tx, d, ra_data[st.pgen % 2],
					 RA_ORDER, ra_p_offset()), 0);
	st.p = P_RING;
	return true;
}

static bool ra_p_leave(void)
{
	ssize_t r;

	if (st.p != P_RING || st.p_leave_used)
		return false;
	st.p_leave_used = true;
	r = xl_ring_tx_leave(&st.tx);
	if (r == -EXDEV)
		return ra_answer();
	ck_assert_int_eq(r, 0);
	st.p = P_TCP;
	return true;
}

static bool ra_p_resend(void)
{
	uint32_t i, n;

	if (!st.resend)
		return false;
	n = st.resend < RA_CHUNK ? st.resend : RA_CHUNK;
	for (i = 0; i < n; i++)
		ra_tcp_put(ra_data[st.pgen % 2][(st.tx.prod - st.resend + i) &
						((1u << RA_ORDER) - 1)]);
	st.resend -= n;
	return true;
}

static bool ra_p_close(void)
{
	ssize_t r;

	if (st.sent != ra_len || st.p == P_DONE || st.resend)
		return false;
	if (st.p == P_RING) {
		r = xl_ring_tx_close(&st.tx);
		if (r == -EXDEV)
			return ra_answer();
		ck_assert_int_eq(r, 0);
	}
	st.fin = true;
	st.p = P_DONE;
	return true;
}

/* Done with its ring: ask for the next channel (REGISTER status 2). */
static bool ra_p_ask(void)
{
	if (st.p != P_TCP || st.resend || st.p_req ||
	    st.pgen + 1 != st.made || st.made == ra_rings)
		return false;
	st.p_req = true;
	return true;
}

/* Move the sending direction onto the channel that came. */
static bool ra_p_swap(void)
{
	if (st.p != P_TCP || st.resend || st.pgen + 1 >= st.made)
		return false;
	st.pgen++;
	st.p = P_TCP0;
	st.p_leave_used = false;
	return true;
}

static bool ra_p_step(int k)
{
	switch (k) {
	case 0:	return ra_p_write();
	case 1:	return ra_p_open();
	case 2:	return ra_p_leave();
	case 3:	/* a receive or a poll looks for BACK */
		if (st.p != P_RING || !xl_ring_tx_peer_back(&st.tx))
			return false;
		return ra_answer();
	case 4:	return ra_p_resend();
	case 5:	return ra_p_close();
	case 6:	return ra_p_ask();
	case 7:	return ra_p_swap();
	}
	return false;
}
#define RA_P_STEPS	8

static void ra_out(uint8_t b)
{
	ck_assert_msg(st.got < ra_len, "a byte too many (%s)", st.trace);
	ck_assert_msg(b == ra_byte(st.got), "byte %u wrong (%s)", st.got,
		      st.trace);
	st.got++;
}

/* Read up to limit bytes of TCP. */
static bool ra_tcp_read(uint32_t limit)
{
	uint32_t n = st.tcp_w - st.tcp_r;

	if (n > limit)
		n = limit;
	if (n > RA_CHUNK)
		n = RA_CHUNK;
	if (!n) {
		if (!st.fin || st.tcp_w != st.tcp_r)
			return false;
		st.c = C_EOF;
		return true;
	}
	while (n--)
		ra_out(st.tcp[st.tcp_r++]);
	return true;
}

static bool ra_back(void)
{
	int r = xl_ring_rx_back(ST_RX);

	st.c_back_used = true;
	ck_assert_msg(r >= 0, "back: %d (%s)", r, st.trace);
	if (r == 1)
		st.c = C_TCP;
	return true;
}

static bool ra_c_ring_read(void)
{
	uint8_t buf[RA_CHUNK];
	struct iovec iov = { buf, RA_CHUNK };
	ssize_t r = xl_ring_read(ST_RX, &iov, 1, 0);
	ssize_t i;

	if (r > 0) {
		for (i = 0; i < r; i++)
			ra_out(buf[i]);
		st.ring_bytes[st.cgen] += (uint32_t)r;
		return true;
	}
	if (r == 0) {
		st.c = C_EOF;
		return true;
	}
	if (r == -EXDEV) {
		st.c = C_TCP;
		return true;
	}
	ck_assert_msg(r == -EAGAIN, "read: %zd (%s)", r, st.trace);
	return false;
}

static bool ra_c_read(void)
{
	uint64_t off = 0;
	int r;

	switch (st.c) {
	case C_TCP:
		/* a channel that came is swapped in before the kernel is
		 * read again: its producer may have opened it already */
		if (st.c_att > st.cgen + 1)
			return false;
		return ra_tcp_read(UINT32_MAX);
	case C_PRE:
		r = xl_ring_rx_started(ST_RX, &off);
		ck_assert_msg(r >= 0, "started: %d (%s)", r, st.trace);
		if (r == 0)
			return ra_tcp_read(UINT32_MAX);
		/* whole-stream offsets: all we consumed, by either path */
		ck_assert_msg(st.got <= off, "past start_off %llu: %u (%s)",
			      (unsigned long long)off, st.got, st.trace);
		if (st.got < off)
			return ra_tcp_read((uint32_t)(off - st.got));
		st.c = C_RING;
		return true;
	case C_RING:
		return ra_c_ring_read();
	}
	return false;
}

static bool ra_c_step(int k)
{
	switch (k) {
	case 0:	return ra_c_read();
	case 1:	/* leave the ring (a DROP on its side) */
		if (st.c_back_used || (st.c != C_PRE && st.c != C_RING))
			return false;
		return ra_back();
	case 2:	/* done with its ring: ask for the next channel */
		if (st.c != C_TCP || st.c_req || st.cgen + 1 != st.made ||
		    st.made == ra_rings)
			return false;
		st.c_req = true;
		return true;
	case 3:	/* the CHAN comes: attach the new ring's consumer side */
		if (st.c_att >= st.made)
			return false;
		ck_assert_int_eq(xl_ring_rx_init(&st.rxs[st.c_att % 2],
						 ra_dir(st.c_att),
						 ra_data[st.c_att % 2],
						 RA_ORDER), 0);
		st.c_att++;
		return true;
	case 4:	/* swap the receiving direction onto it */
		if (st.c != C_TCP || st.c_att <= st.cgen + 1)
			return false;
		st.cgen++;
		st.c = C_PRE;
		st.c_back_used = false;
		return true;
	}
	return false;
}
#define RA_C_STEPS	5

/* The daemons, once both asked: a fresh channel in the slot the ring
 * before last used (both ends are past it: they asked). */
static bool ra_make(void)
{
	uint32_t slot = st.made % 2;

	if (!st.p_req || !st.c_req)
		return false;
	ck_assert(st.pgen + 1 == st.made && st.cgen + 1 == st.made);
	ck_assert_int_eq(xl_ring_ctrl_init(ra_ctrl[slot], RA_ORDER,
					   RA_ORDER), 0);
	memset(ra_data[slot], 0, RA_SAVED);
	st.made++;
	st.p_req = st.c_req = false;
	return true;
}

static void ra_final(void)
{
	uint32_t g;

	ra_runs++;
	ck_assert_msg(st.p == P_DONE, "producer stuck in %d (%s)", st.p,
		      st.trace);
	ck_assert_msg(st.c == C_EOF, "consumer stuck in %d after %u bytes "
		      "(%s)", st.c, st.got, st.trace);
	ck_assert_msg(st.got == ra_len, "%u bytes of %u (%s)", st.got,
		      ra_len, st.trace);
	for (g = 1; g < 4; g++)
		if (st.ring_bytes[g]) {
			ra_back_on++;
			break;
		}
}

/*
 * States seen, by a 64-bit hash of everything but the trace: a state
 * reached again by another order of the same steps has the same futures,
 * explored once (a collision could hide one; at a few million states in
 * 2^64 it does not happen).
 */
static uint64_t *ra_seen;
static size_t ra_seen_cap, ra_seen_n;

static uint64_t ra_hash(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint64_t h = 1469598103934665603ull;

	while (len--)
		h = (h ^ *b++) * 1099511628211ull;
	return h ? h : 1;
}

static void ra_seen_grow(void);

/* Was this state seen before? Marks it seen. */
static bool ra_seen_add(uint64_t h)
{
	size_t i;

	if (ra_seen_n * 2 >= ra_seen_cap)
		ra_seen_grow();
	for (i = h & (ra_seen_cap - 1); ra_seen[i];
	     i = (i + 1) & (ra_seen_cap - 1))
		if (ra_seen[i] == h)
			return true;
	ra_seen[i] = h;
	ra_seen_n++;
	return false;
}

static void ra_seen_grow(void)
{
	uint64_t *old = ra_seen;
	size_t i, cap = ra_seen_cap;

	ra_seen_cap = cap ? cap * 2 : 1u << 16;
	ra_seen = calloc(ra_seen_cap, sizeof(*ra_seen));
	ck_assert(ra_seen);
	ra_seen_n = 0;
	for (i = 0; i < cap; i++)
		if (old[i])
			ra_seen_add(old[i]);
	free(old);
}

static void ra_explore(void)
{
	struct ra_state save;
	bool any = false, did;
	int k, n = RA_P_STEPS + RA_C_STEPS + 1;

	ck_assert_int_lt(st.depth, RA_DEPTH);
	ra_save(&save);
	if (ra_seen_add(ra_hash(&st, offsetof(struct ra_state, trace))))
		return;
	for (k = 0; k < n; k++) {
		st.trace[st.depth] = (char)(k < RA_P_STEPS ? 'a' + k :
					    'A' + k - RA_P_STEPS);
		st.trace[st.depth + 1] = '\0';
		if (k < RA_P_STEPS)
			did = ra_p_step(k);
		else if (k < n - 1)
			did = ra_c_step(k - RA_P_STEPS);
		else
			did = ra_make();
		if (did) {
			any = true;
			st.depth++;
			ra_explore();
		}
		ra_restore(&save);
	}
	if (!any)
		ra_final();
}

static void ra_setup(void)
{
	int i;

	for (i = 0; i < 2; i++) {
		ra_ctrl[i] = aligned_alloc(XL_WIRE_PAGE_SIZE,
					   sizeof(*ra_ctrl[i]));
		ra_data[i] = aligned_alloc(XL_WIRE_CACHELINE, 1u << RA_ORDER);
		ck_assert(ra_ctrl[i] && ra_data[i]);
		memset(ra_data[i], 0, 1u << RA_ORDER);
		ck_assert_int_eq(xl_ring_ctrl_init(ra_ctrl[i], RA_ORDER,
						   RA_ORDER), 0);
	}
	memset(&st, 0, sizeof(st));
	/* the first channel, as at the connection's start */
	ck_assert_int_eq(xl_ring_rx_init(&st.rxs[0], ra_dir(0), ra_data[0],
					 RA_ORDER), 0);
	st.made = 1;
	st.c_att = 1;
	st.p = P_TCP0;
	st.c = C_PRE;
	ra_runs = ra_back_on = 0;
}

static void ra_teardown(void)
{
	int i;

	free(ra_seen);
	ra_seen = NULL;
	ra_seen_cap = ra_seen_n = 0;

	for (i = 0; i < 2; i++) {
		free(ra_ctrl[i]);
		free(ra_data[i]);
	}
}

static void ra_run(uint32_t len, uint32_t rings, const char *what)
{
	ra_len = len;
	ra_rings = rings;
	ra_explore();
	fprintf(stderr, "reattach (%s): %zu states, %lu ends, all whole, "
		"%lu of them with bytes on a ring after coming back\n", what,
		ra_seen_n, ra_runs, ra_back_on);
	ck_assert_uint_gt(ra_seen_n, 1000);
	/* the runs that come back do use the new ring */
	ck_assert_uint_gt(ra_back_on, 0);
}

/* One way back: drops on either side at every point, both at once
 * included, then a new ring, and drops on it too. */
START_TEST(test_once)
{
	ra_run(6, 2, "one new ring, 6 bytes");
}
END_TEST

/* Twice: the first channel's slot is reused by the third ring. */
START_TEST(test_twice)
{
	ra_run(4, 3, "two new rings, 4 bytes");
}
END_TEST

static Suite *ra_suite(void)
{
	Suite *s = suite_create("reattach");
	TCase *tc = tcase_create("interleavings");

	tcase_add_checked_fixture(tc, ra_setup, ra_teardown);
	tcase_set_timeout(tc, 240);
	tcase_add_test(tc, test_once);
	tcase_add_test(tc, test_twice);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ra_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
