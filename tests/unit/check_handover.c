/* SPDX-License-Identifier: MIT */
/*
 * The hand-over of docs/protocol.md §5.1, every interleaving: one
 * direction of a connection, its producer and its consumer each a small
 * state machine around the real ring code (xl_ring.c) and a model of the
 * kernel TCP stream, explored depth first over every order of their
 * steps. The producer starts on TCP, may open the ring, writes, may leave
 * it on its own (a DROP on its side), answers the consumer's BACK from a
 * send, from a receive's look, or at its close, resends what was never
 * read, and ends the stream. The consumer reads TCP up to the ring's
 * start, then the ring, may leave it (BACK: a DROP on its side, or the
 * ring found corrupt: an outside write of a bad producer state), and
 * reads TCP after. Every run must end with the consumer at the end of
 * the stream holding exactly the bytes a run without any switch gives,
 * except the one documented loss (the ring corrupt while the producer
 * left on its own: a reset), and never stuck.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xl_ring.h"

#define HO_ORDER	12u
#define HO_LEN		6u	/* stream bytes */
#define HO_CHUNK	2u	/* bytes per write or read step */
#define HO_DEPTH	64

enum { P_TCP0, P_RING, P_TCP, P_DONE };
enum { C_PRE, C_RING, C_TCP, C_EOF, C_RESET };

/* Everything a step can change; the shared page and ring data live in
 * ho_ctrl/ho_data, of which only what the steps touch is saved. */
struct ho_state {
	struct xl_wire_dir dir;
	uint8_t data[16];
	struct xl_ring_tx tx;
	struct xl_ring_rx rx;
	uint8_t tcp[4 * HO_LEN];
	uint32_t tcp_w, tcp_r;
	bool fin;
	int p, c;
	uint32_t sent, resend;
	bool p_left_own, p_leave_used, c_back_used, corrupt_used;
	uint8_t out[4 * HO_LEN];
	uint32_t got;
	char trace[HO_DEPTH + 1];
	int depth;
};

static struct xl_wire_ctrl *ho_ctrl;
static uint8_t *ho_data;
static struct ho_state st;
static unsigned long ho_runs, ho_resets;
static bool ho_with_corrupt;

static uint8_t ho_byte(uint32_t i)
{
	return (uint8_t)(i * 37u + 11u);
}

static void ho_save(struct ho_state *s)
{
	st.dir = ho_ctrl->dir[0];
	memcpy(st.data, ho_data, sizeof(st.data));
	*s = st;
}

static void ho_restore(const struct ho_state *s)
{
	st = *s;
	ho_ctrl->dir[0] = st.dir;
	memcpy(ho_data, st.data, sizeof(st.data));
}

static void ho_tcp_put(uint8_t b)
{
	ck_assert_uint_lt(st.tcp_w, sizeof(st.tcp));
	ck_assert(!st.fin);
	st.tcp[st.tcp_w++] = b;
}

/* The producer answers BACK: LEFT at the consumer's byte, the rest
 * resent before anything newer. */
static bool ho_answer(void)
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

/* Producer steps; each returns whether it did anything. */
static bool ho_p_step(int k)
{
	struct iovec iov;
	uint8_t buf[HO_CHUNK];
	uint32_t i, n;
	ssize_t r;

	switch (k) {
	case 0:	/* write the next chunk where the stream goes now */
		if (st.sent == HO_LEN || st.p == P_DONE || st.resend)
			return false;
		n = HO_LEN - st.sent < HO_CHUNK ? HO_LEN - st.sent : HO_CHUNK;
		for (i = 0; i < n; i++)
			buf[i] = ho_byte(st.sent + i);
		if (st.p != P_RING) {
			for (i = 0; i < n; i++)
				ho_tcp_put(buf[i]);
			st.sent += n;
			return true;
		}
		iov = (struct iovec){ buf, n };
		r = xl_ring_write(&st.tx, &iov, 1);
		if (r == -EXDEV)
			return ho_answer();
		ck_assert_msg(r > 0, "write: %zd (%s)", r, st.trace);
		st.sent += (uint32_t)r;
		return true;
	case 1:	/* open the ring, if the consumer still takes it */
		if (st.p != P_TCP0 ||
		    ho_ctrl->dir[0].c.state != XL_WIRE_CONS_OPEN)
			return false;
		ck_assert_int_eq(xl_ring_tx_init(&st.tx, &ho_ctrl->dir[0],
						 ho_data, HO_ORDER, st.sent), 0);
		st.p = P_RING;
		return true;
	case 2:	/* leave on its own (a DROP on its side) */
		if (st.p != P_RING || st.p_leave_used)
			return false;
		st.p_leave_used = true;
		r = xl_ring_tx_leave(&st.tx);
		if (r == -EXDEV)
			return ho_answer();
		ck_assert_int_eq(r, 0);
		st.p_left_own = true;
		st.p = P_TCP;
		return true;
	case 3:	/* a receive or a poll looks for BACK */
		if (st.p != P_RING || !xl_ring_tx_peer_back(&st.tx))
			return false;
		return ho_answer();
	case 4:	/* resend one chunk of what was never read */
		if (!st.resend)
			return false;
		n = st.resend < HO_CHUNK ? st.resend : HO_CHUNK;
		for (i = 0; i < n; i++)
			ho_tcp_put(ho_data[(st.tx.prod - st.resend + i) &
					   ((1u << HO_ORDER) - 1)]);
		st.resend -= n;
		return true;
	case 5:	/* the end of the stream: ring CLOSED, then the FIN */
		if (st.sent != HO_LEN || st.p == P_DONE || st.resend)
			return false;
		if (st.p == P_RING) {
			r = xl_ring_tx_close(&st.tx);
			if (r == -EXDEV)
				return ho_answer();
			ck_assert_int_eq(r, 0);
		}
		st.fin = true;
		st.p = P_DONE;
		return true;
	}
	return false;
}

static void ho_out(uint8_t b)
{
	ck_assert_msg(st.got < HO_LEN, "a byte too many (%s)", st.trace);
	ck_assert_msg(b == ho_byte(st.got), "byte %u wrong (%s)", st.got,
		      st.trace);
	st.out[st.got++] = b;
}

/* Read up to limit bytes of TCP. */
static bool ho_tcp_read(uint32_t limit)
{
	uint32_t n = st.tcp_w - st.tcp_r;

	if (n > limit)
		n = limit;
	if (n > HO_CHUNK)
		n = HO_CHUNK;
	if (!n) {
		if (!st.fin || st.tcp_w != st.tcp_r)
			return false;
		st.c = C_EOF;
		return true;
	}
	while (n--)
		ho_out(st.tcp[st.tcp_r++]);
	return true;
}

static bool ho_back(void)
{
	int r = xl_ring_rx_back(&st.rx);

	st.c_back_used = true;
	if (r < 0) {
		st.c = C_RESET;
		return true;
	}
	if (r == 1)
		st.c = C_TCP;
	return true;
}

static bool ho_c_step(int k)
{
	uint64_t off = 0;
	uint8_t buf[HO_CHUNK];
	struct iovec iov = { buf, HO_CHUNK };
	ssize_t r;
	int i;

	switch (k) {
	case 0:	/* read where the stream comes from now */
		if (st.c == C_TCP)
			return ho_tcp_read(UINT32_MAX);
		if (st.c == C_PRE) {
			r = xl_ring_rx_started(&st.rx, &off);
			if (r < 0)
				return st.c_back_used ? false : ho_back();
			if (r == 0)
				return ho_tcp_read(UINT32_MAX);
			ck_assert_uint_le(st.tcp_r, off);
			if (st.tcp_r < off)
				return ho_tcp_read((uint32_t)(off - st.tcp_r));
			st.c = C_RING;
			return true;
		}
		if (st.c != C_RING)
			return false;
		r = xl_ring_read(&st.rx, &iov, 1, 0);
		if (r > 0) {
			for (i = 0; i < r; i++)
				ho_out(buf[i]);
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
		if (r == -EPROTO) {
			/* corrupt: with BACK used already, a reset */
			if (st.c_back_used) {
				st.c = C_RESET;
				return true;
			}
			return ho_back();
		}
		ck_assert_msg(r == -EAGAIN, "read: %zd (%s)", r, st.trace);
		return false;
	case 1:	/* leave the ring (a DROP on its side) */
		if (st.c_back_used || (st.c != C_PRE && st.c != C_RING))
			return false;
		return ho_back();
	case 2:	/* someone writes a bad producer state into the page */
		if (!ho_with_corrupt || st.corrupt_used ||
		    ho_ctrl->dir[0].p.state != XL_WIRE_PROD_OPEN)
			return false;
		st.corrupt_used = true;
		ho_ctrl->dir[0].p.state = 0x7ead;
		return true;
	}
	return false;
}

static void ho_final(void)
{
	ho_runs++;
	ck_assert_msg(st.p == P_DONE, "producer stuck in %d (%s)", st.p,
		      st.trace);
	if (st.c == C_RESET) {
		/* the one loss the design accepts: the ring broke and the
		 * producer had left on its own, so the bytes between what
		 * was read and its end_off exist only in a broken ring */
		ck_assert_msg(st.corrupt_used && st.p_left_own,
			      "reset without cause (%s)", st.trace);
		ho_resets++;
		return;
	}
	ck_assert_msg(st.c == C_EOF, "consumer stuck in %d after %u bytes "
		      "(%s)", st.c, st.got, st.trace);
	ck_assert_msg(st.got == HO_LEN, "%u bytes of %u (%s)", st.got,
		      HO_LEN, st.trace);
}

static void ho_explore(void)
{
	struct ho_state save;
	bool any = false;
	int k;

	ck_assert_int_lt(st.depth, HO_DEPTH);
	ho_save(&save);
	for (k = 0; k < 6 + 3; k++) {
		st.trace[st.depth] = (char)(k < 6 ? 'a' + k : 'A' + k - 6);
		st.trace[st.depth + 1] = '\0';
		if (k < 6 ? ho_p_step(k) : ho_c_step(k - 6)) {
			any = true;
			st.depth++;
			ho_explore();
		}
		ho_restore(&save);
	}
	if (!any)
		ho_final();
}

static void ho_setup(void)
{
	ho_ctrl = aligned_alloc(XL_WIRE_PAGE_SIZE, sizeof(*ho_ctrl));
	ho_data = aligned_alloc(XL_WIRE_CACHELINE, 1u << HO_ORDER);
	ck_assert(ho_ctrl && ho_data);
	memset(ho_data, 0, 1u << HO_ORDER);
	ck_assert_int_eq(xl_ring_ctrl_init(ho_ctrl, HO_ORDER, HO_ORDER), 0);
	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(xl_ring_rx_init(&st.rx, &ho_ctrl->dir[0], ho_data,
					 HO_ORDER), 0);
	st.p = P_TCP0;
	st.c = C_PRE;
	ho_runs = ho_resets = 0;
}

static void ho_teardown(void)
{
	free(ho_ctrl);
	free(ho_data);
}

/* Drops on either side, at every point, both at once included. */
START_TEST(test_all_interleavings)
{
	ho_with_corrupt = false;
	ho_explore();
	fprintf(stderr, "handover: %lu runs, all whole\n", ho_runs);
	ck_assert_uint_gt(ho_runs, 1000);
	ck_assert_uint_eq(ho_resets, 0);
}
END_TEST

/* The same with the ring corrupted from outside at every point. */
START_TEST(test_all_interleavings_corrupt)
{
	ho_with_corrupt = true;
	ho_explore();
	fprintf(stderr, "handover with corruption: %lu runs, %lu resets "
		"(ring broken after the producer left on its own)\n",
		ho_runs, ho_resets);
	ck_assert_uint_gt(ho_runs, 1000);
}
END_TEST

static Suite *ho_suite(void)
{
	Suite *s = suite_create("handover");
	TCase *tc = tcase_create("interleavings");

	tcase_add_checked_fixture(tc, ho_setup, ho_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_all_interleavings);
	tcase_add_test(tc, test_all_interleavings_corrupt);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ho_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
