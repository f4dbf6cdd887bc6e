/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of what two guests' xenloopds exchange (daemon/xl_xen_frame.c):
 * the frames on a control link and the xenstore nodes that publish a
 * link. The other guest is untrusted: every malformed input must be
 * refused, and a good one read back exactly.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "xl_xen_frame.h"

/* An OFFER of 256 KiB each way: 1 + 128 references. */
static size_t offer(uint8_t *buf, uint32_t order)
{
	struct xl_xframe f = { .type = XL_XFRAME_OFFER };
	uint32_t npages, i, ref;

	ck_assert_int_eq(xl_xen_dev_pages((uint32_t[2]){ order, order },
					 &npages), 0);
	f.id = 42;
	f.order[0] = f.order[1] = order;
	f.port[0] = 7;
	f.port[1] = 8;
	f.nrefs = 1 + npages;
	f.len = (uint32_t)(sizeof(f) + f.nrefs * sizeof(uint32_t));
	f.client.family = AF_INET;
	f.client.port = 40000;
	inet_pton(AF_INET, "198.18.0.1", f.client.addr);
	f.server = f.client;
	f.server.port = 5001;
	memcpy(buf, &f, sizeof(f));
	for (i = 0; i < f.nrefs; i++) {
		ref = 1000 + i;
		memcpy(buf + sizeof(f) + i * 4, &ref, 4);
	}
	return f.len;
}

static size_t reply(uint8_t *buf, int32_t status)
{
	struct xl_xframe f = { .type = XL_XFRAME_REPLY, .len = sizeof(f) };

	f.id = 42;
	f.status = status;
	memcpy(buf, &f, sizeof(f));
	return sizeof(f);
}

START_TEST(test_offer_roundtrip)
{
	static uint8_t buf[XL_XFRAME_MAX_LEN * 2];
	const uint8_t *refs;
	struct xl_xframe f;
	size_t len = offer(buf, 18), k;
	uint32_t ref;

	ck_assert_uint_eq(len, 88 + 129 * 4);
	/* every prefix: more bytes needed, never an error */
	for (k = 0; k < len; k++)
		ck_assert_int_eq(xl_xframe_next(buf, k, &f, &refs), 0);
	ck_assert_int_eq(xl_xframe_next(buf, len, &f, &refs), (int)len);
	ck_assert_uint_eq(f.nrefs, 129);
	ck_assert_uint_eq(f.port[1], 8);
	memcpy(&ref, refs + 128 * 4, 4);
	ck_assert_uint_eq(ref, 1128);
	/* two frames back to back: the first is taken alone */
	len += reply(buf + len, XL_REASON_NO_MATCH);
	ck_assert_int_eq(xl_xframe_next(buf, len, &f, &refs), 88 + 129 * 4);
	ck_assert_int_eq(xl_xframe_next(buf + 88 + 129 * 4, 88, &f, &refs),
			 88);
	ck_assert_int_eq(f.status, XL_REASON_NO_MATCH);
}
END_TEST

/* Each case spoils one field of a good OFFER (or REPLY). */
static void spoil(int i, uint8_t *buf, size_t *len)
{
	struct xl_xframe f;

	*len = i < 9 ? offer(buf, 18) : reply(buf, 0);
	memcpy(&f, buf, sizeof(f));
	switch (i) {
	case 0: f.type = 3; break;
	case 1: f.type = 0; break;
	case 2: f.len = 87; break;
	case 3: f.len = (uint32_t)XL_XFRAME_MAX_LEN + 4; break;
	case 4: f.nrefs = 128; break;			/* one short */
	case 5: f.order[0] = 11; break;
	case 6: f.order[1] = 27; break;
	case 7: f.order[0] = f.order[1] = 21; break;	/* > 513 grants */
	case 8: f.status = 1; break;			/* OFFER with status */
	case 9: f.status = -1; break;
	case 10: f.status = XL_REASON_MAX; break;
	case 11: f.nrefs = 1; break;			/* REPLY with refs */
	case 12: f.len += 4; *len += 4; break;		/* REPLY too long */
	}
	memcpy(buf, &f, sizeof(f));
}

START_TEST(test_frame_hostile)
{
	static uint8_t buf[XL_XFRAME_MAX_LEN * 2];
	const uint8_t *refs;
	struct xl_xframe f;
	size_t len;

	spoil(_i, buf, &len);
	ck_assert_int_eq(xl_xframe_next(buf, sizeof(buf), &f, &refs),
			 -EPROTO);
}
END_TEST

/* A KOFFER (a channel of the kernel module) of order 14 each way: the
 * offering side's 5 pages and one port; the REPLY that accepts it has
 * the answering side's references. */
static size_t koffer(uint8_t *buf, int spoil_it)
{
	struct xl_xframe f = { .type = XL_XFRAME_KOFFER };
	uint32_t i, ref;

	f.id = 43;
	f.order[0] = f.order[1] = 14;
	f.port[0] = 9;
	f.nrefs = 5;
	switch (spoil_it) {
	case 1: f.port[1] = 10; break;		/* a second port */
	case 2: f.port[0] = 0; break;		/* no port */
	case 3: f.nrefs = 6; break;		/* one too many */
	case 4: f.order[0] = f.order[1] = 21; f.nrefs = 513; break;
	case 5: f.order[1] = 21; break;		/* the other side's too big */
	case 6: f.status = XL_REASON_NONE + 1; break;
	}
	f.len = (uint32_t)(sizeof(f) + f.nrefs * sizeof(uint32_t));
	memcpy(buf, &f, sizeof(f));
	for (i = 0; i < f.nrefs; i++) {
		ref = 2000 + i;
		memcpy(buf + sizeof(f) + i * 4, &ref, 4);
	}
	return f.len;
}

START_TEST(test_koffer)
{
	static uint8_t buf[XL_XFRAME_MAX_LEN * 2];
	struct xl_xframe f = { .type = XL_XFRAME_REPLY, .id = 43 };
	const uint8_t *refs;
	size_t len = koffer(buf, 0);
	uint32_t ref;

	ck_assert_int_eq(xl_xframe_next(buf, len, &f, &refs), (int)len);
	ck_assert_uint_eq(f.type, XL_XFRAME_KOFFER);
	ck_assert_uint_eq(f.nrefs, 5);
	memcpy(&ref, refs + 4 * 4, 4);
	ck_assert_uint_eq(ref, 2004);
	/* the acceptance, with references */
	memset(&f, 0, sizeof(f));
	f.type = XL_XFRAME_REPLY;
	f.id = 43;
	f.nrefs = 5;
	f.len = sizeof(f) + 5 * 4;
	memcpy(buf, &f, sizeof(f));
	ck_assert_int_eq(xl_xframe_next(buf, f.len, &f, &refs), 88 + 20);
	/* references only with an acceptance */
	f.status = XL_REASON_NO_MATCH;
	memcpy(buf, &f, sizeof(f));
	ck_assert_int_eq(xl_xframe_next(buf, f.len, &f, &refs), -EPROTO);
}
END_TEST

START_TEST(test_koffer_hostile)
{
	static uint8_t buf[XL_XFRAME_MAX_LEN * 2];
	const uint8_t *refs;
	struct xl_xframe f;
	size_t len = koffer(buf, 1 + _i);

	ck_assert_int_eq(xl_xframe_next(buf, len, &f, &refs), -EPROTO);
}
END_TEST

/* Random bytes never crash it, and whatever it accepts is consistent. */
START_TEST(test_frame_random)
{
	static uint8_t buf[XL_XFRAME_MAX_LEN];
	const uint8_t *refs;
	struct xl_xframe f;
	unsigned int seed = 1, round;
	size_t k;
	int n;

	for (round = 0; round < 20000; round++) {
		for (k = 0; k < sizeof(buf); k++)
			buf[k] = (uint8_t)rand_r(&seed);
		/* sometimes a plausible header */
		if (round & 1) {
			memcpy(buf, &(uint32_t){ 88 }, 4);
			memcpy(buf + 4, &(uint32_t){ 1 + (round & 2) / 2 }, 4);
		}
		n = xl_xframe_next(buf, (size_t)rand_r(&seed) % sizeof(buf),
				   &f, &refs);
		ck_assert(n == 0 || n == -EPROTO || n == (int)f.len);
	}
}
END_TEST

START_TEST(test_node)
{
	uint32_t port[2], refs[3];
	uint64_t gen;

	ck_assert_int_eq(xl_xlink_node_parse("1 18446744073709551615 3 4 3 "
					     "10 11 4294967295", 3, &gen,
					     port, refs), 0);
	ck_assert_uint_eq(gen, UINT64_MAX);
	ck_assert_uint_eq(port[0], 3);
	ck_assert_uint_eq(port[1], 4);
	ck_assert_uint_eq(refs[2], 4294967295u);
	ck_assert_int_eq(xl_xlink_answer_parse("1 77", &gen), 0);
	ck_assert_uint_eq(gen, 77);
}
END_TEST

static const char *const bad_nodes[] = {
	"", "1", "1 ", "2 5 3 4 3 10 11 12", "1 5 3 4 3 10 11",
	"1 5 3 4 3 10 11 12 13", "1 5 3 4 2 10 11", "1 5 3 4 3 10 11 12 ",
	"1  5 3 4 3 10 11 12", "1 5 3 4 3 10 11 4294967296",
	"1 18446744073709551616 3 4 3 10 11 12", "1 5 -3 4 3 10 11 12",
	"1 5 3 4 3 10 11 012", "1 5 3 4 3 10 11 1x", "1 5 3\n4 3 10 11 12",
	"1 5 +3 4 3 10 11 12",
};

START_TEST(test_node_hostile)
{
	uint32_t port[2], refs[3];
	uint64_t gen;

	ck_assert_int_eq(xl_xlink_node_parse(bad_nodes[_i], 3, &gen, port,
					     refs), -EPROTO);
}
END_TEST

START_TEST(test_answer_hostile)
{
	uint64_t gen;

	ck_assert_int_eq(xl_xlink_answer_parse("1 77 ", &gen), -EPROTO);
	ck_assert_int_eq(xl_xlink_answer_parse("1 77 3 4", &gen), -EPROTO);
	ck_assert_int_eq(xl_xlink_answer_parse("0 77", &gen), -EPROTO);
	ck_assert_int_eq(xl_xlink_answer_parse("1", &gen), -EPROTO);
	ck_assert_int_eq(xl_xlink_answer_parse("1 0x4d", &gen), -EPROTO);
}
END_TEST

/* Features: ours round-trip; a newer daemon's unknown words are no
 * feature, not an error; anything malformed is. */
START_TEST(test_feat)
{
	char buf[XL_XFEAT_VAL_MAX + 1], big[XL_XFEAT_VAL_MAX + 2];
	uint32_t feats = 7;

	xl_xfeat_format(buf, sizeof(buf), XL_XFEAT_KMOD);
	ck_assert_str_eq(buf, "1 kmod");
	ck_assert_int_eq(xl_xfeat_parse(buf, &feats), 0);
	ck_assert_uint_eq(feats, XL_XFEAT_KMOD);
	xl_xfeat_format(buf, sizeof(buf), 0);
	ck_assert_str_eq(buf, "1");
	ck_assert_int_eq(xl_xfeat_parse(buf, &feats), 0);
	ck_assert_uint_eq(feats, 0);
	ck_assert_int_eq(xl_xfeat_parse("1 zzz kmod yyy", &feats), 0);
	ck_assert_uint_eq(feats, XL_XFEAT_KMOD);
	ck_assert_int_eq(xl_xfeat_parse("1 kmodx", &feats), 0);
	ck_assert_uint_eq(feats, 0);
	ck_assert_int_eq(xl_xfeat_parse("1 kmod ", &feats), -EPROTO);
	ck_assert_int_eq(xl_xfeat_parse("1  kmod", &feats), -EPROTO);
	ck_assert_int_eq(xl_xfeat_parse("1 KMOD", &feats), -EPROTO);
	ck_assert_int_eq(xl_xfeat_parse("2 kmod", &feats), -EPROTO);
	ck_assert_int_eq(xl_xfeat_parse("", &feats), -EPROTO);
	ck_assert_int_eq(xl_xfeat_parse("1kmod", &feats), -EPROTO);
	ck_assert_int_eq(xl_xfeat_parse("1 kmod 7", &feats), -EPROTO);
	/* longer than any node we read */
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '1';
	big[1] = ' ';
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(xl_xfeat_parse(big, &feats), -EPROTO);
}
END_TEST

static Suite *xen_frame_suite(void)
{
	Suite *s = suite_create("xen_frame");
	TCase *tc = tcase_create("frames");

	tcase_add_test(tc, test_offer_roundtrip);
	tcase_add_loop_test(tc, test_frame_hostile, 0, 13);
	tcase_add_test(tc, test_frame_random);
	tcase_add_test(tc, test_koffer);
	tcase_add_loop_test(tc, test_koffer_hostile, 0, 6);
	tcase_add_test(tc, test_node);
	tcase_add_loop_test(tc, test_node_hostile, 0,
			    (int)(sizeof(bad_nodes) / sizeof(bad_nodes[0])));
	tcase_add_test(tc, test_answer_hostile);
	tcase_add_test(tc, test_feat);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xen_frame_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
