/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of dom0's discovery passes (daemon/xl_xen_dom0.c) over an
 * in-memory xenstore: who gets which table, with which permissions, and
 * how the tables follow guests that appear, go quiet, die, or lie about
 * themselves.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_xs.h"
#include "xl_xen_dom0.h"

/* ---- the world the toolstack and the guests write ---- */

static void dom(uint32_t domid)
{
	char p[96];

	snprintf(p, sizeof(p), "/local/domain/%u/name", domid);
	fs_put(p, "guest");
}

static void advertise(uint32_t domid, const char *version, const char *alive)
{
	char p[96];

	snprintf(p, sizeof(p), "/local/domain/%u/data/xenloop/version", domid);
	fs_put(p, version);
	snprintf(p, sizeof(p), "/local/domain/%u/data/xenloop/alive", domid);
	fs_put(p, alive);
}

static void vif(uint32_t domid, int dev, const char *mac, const char *bridge)
{
	char p[96];

	snprintf(p, sizeof(p), XL_XS_VIFS "/%u/%d/mac", domid, dev);
	fs_put(p, mac);
	snprintf(p, sizeof(p), XL_XS_VIFS "/%u/%d/bridge", domid, dev);
	fs_put(p, bridge);
	snprintf(p, sizeof(p), XL_XS_VIFS "/%u/%d/online", domid, dev);
	fs_put(p, "1");
}

/* a routed vif as xl writes it: its default bridge node, whatever the
 * script, and the addresses of ip= */
static void rvif(uint32_t domid, int dev, const char *mac, const char *ip)
{
	char p[96];

	vif(domid, dev, mac, "xenbr0");
	snprintf(p, sizeof(p), XL_XS_VIFS "/%u/%d/script", domid, dev);
	fs_put(p, "/etc/xen/scripts/vif-route");
	snprintf(p, sizeof(p), XL_XS_VIFS "/%u/%d/ip", domid, dev);
	fs_put(p, ip);
}

static void destroy(uint32_t domid)
{
	char p[96];

	snprintf(p, sizeof(p), "/local/domain/%u", domid);
	fs_del(p);
	snprintf(p, sizeof(p), XL_XS_VIFS "/%u", domid);
	fs_del(p);
}

static const char *table(uint32_t domid)
{
	char p[96];
	struct fs_node *n;

	snprintf(p, sizeof(p), XL_XS_TABLES "/%u", domid);
	n = fs_get(p);
	if (!n)
		return NULL;
	/* every table is readable by its guest and by no one else */
	ck_assert_uint_eq(n->reader, domid);
	return n->val;
}

static struct xl_dom0 *d;

static void setup(void)
{
	memset(&fs, 0, sizeof(fs));
	d = malloc(sizeof(*d));
	ck_assert_ptr_nonnull(d);
	xl_dom0_init(d, &fs_ops, NULL, 3000, false);
	fs_put("/local/domain/0/name", "Domain-0");
	dom(1);
	advertise(1, "1", "1");
	vif(1, 0, "00:16:3e:00:00:11", "xenbr0");
	dom(2);
	advertise(2, "1", "1");
	vif(2, 0, "00:16:3e:00:00:21", "xenbr0");
}

static void teardown(void)
{
	free(d);
}

START_TEST(test_two_guests)
{
	ck_assert_int_eq(xl_dom0_pass(d, 1000), 2);
	ck_assert_str_eq(table(1), "2 00:16:3e:00:00:21\n");
	ck_assert_str_eq(table(2), "1 00:16:3e:00:00:11\n");
	ck_assert_ptr_null(table(0));
}
END_TEST

START_TEST(test_not_advertising)
{
	dom(3);
	vif(3, 0, "00:16:3e:00:00:31", "xenbr0");
	dom(4);
	advertise(4, "2", "1");		/* a version we do not speak */
	vif(4, 0, "00:16:3e:00:00:41", "xenbr0");
	dom(5);
	advertise(5, "1", "");		/* no counter */
	vif(5, 0, "00:16:3e:00:00:51", "xenbr0");
	ck_assert_int_eq(xl_dom0_pass(d, 1000), 2);
	ck_assert_str_eq(table(1), "2 00:16:3e:00:00:21\n");
	ck_assert_ptr_null(table(3));
	ck_assert_ptr_null(table(4));
	ck_assert_ptr_null(table(5));
}
END_TEST

/* A guest writes another's MAC about itself: dom0 never reads it. */
START_TEST(test_forged_advertisement)
{
	dom(3);
	advertise(3, "1", "1");
	vif(3, 0, "00:16:3e:00:00:31", "xenbr0");
	fs_put("/local/domain/3/data/xenloop/mac", "00:16:3e:00:00:21");
	fs_put("/local/domain/3/data/xenloop/ip", "198.18.0.2");
	/* and tries to plant a backend-looking node in its own subtree */
	fs_put("/local/domain/3/backend/vif/3/0/mac", "00:16:3e:00:00:21");
	ck_assert_int_eq(xl_dom0_pass(d, 1000), 3);
	ck_assert_str_eq(table(1), "2 00:16:3e:00:00:21\n"
				   "3 00:16:3e:00:00:31\n");
}
END_TEST

START_TEST(test_bridges)
{
	dom(3);
	advertise(3, "1", "1");
	vif(3, 0, "00:16:3e:00:00:31", "xenbr1");
	dom(4);
	advertise(4, "1", "1");
	vif(4, 0, "00:16:3e:00:00:41", "xenbr1");
	vif(4, 1, "00:16:3e:00:00:42", "xenbr0");
	fs_put(XL_XS_VIFS "/4/1/online", "0");	/* being unplugged */
	ck_assert_int_eq(xl_dom0_pass(d, 1000), 4);
	ck_assert_str_eq(table(1), "2 00:16:3e:00:00:21\n");
	ck_assert_str_eq(table(3), "4 00:16:3e:00:00:41\n");
	ck_assert_str_eq(table(4), "3 00:16:3e:00:00:31\n");
	fs_put(XL_XS_VIFS "/4/1/online", "1");
	xl_dom0_pass(d, 1500);
	ck_assert_str_eq(table(1), "2 00:16:3e:00:00:21\n"
				   "4 00:16:3e:00:00:42\n");
}
END_TEST

START_TEST(test_goes_quiet_and_returns)
{
	xl_dom0_pass(d, 1000);
	advertise(1, "1", "2");
	xl_dom0_pass(d, 3000);
	advertise(1, "1", "3");
	xl_dom0_pass(d, 4500);		/* 2 last moved at 1000 */
	ck_assert_ptr_null(table(2));
	ck_assert_str_eq(table(1), "");
	advertise(2, "1", "2");
	ck_assert_int_eq(xl_dom0_pass(d, 5000), 2);
	ck_assert_str_eq(table(1), "2 00:16:3e:00:00:21\n");
	ck_assert_str_eq(table(2), "1 00:16:3e:00:00:11\n");
}
END_TEST

START_TEST(test_destroyed_and_new)
{
	xl_dom0_pass(d, 1000);
	destroy(2);
	ck_assert_int_eq(xl_dom0_pass(d, 1500), 1);
	ck_assert_ptr_null(table(2));
	ck_assert_str_eq(table(1), "");
	ck_assert_int_eq(d->nguest, 1);
	/* a new guest, maybe with the old one's domid */
	dom(2);
	advertise(2, "1", "1");
	vif(2, 0, "00:16:3e:00:00:29", "xenbr0");
	ck_assert_int_eq(xl_dom0_pass(d, 2000), 2);
	ck_assert_str_eq(table(1), "2 00:16:3e:00:00:29\n");
}
END_TEST

START_TEST(test_bad_vif_nodes)
{
	dom(3);
	advertise(3, "1", "1");
	vif(3, 0, "00:16:3e:00:00", "xenbr0");
	dom(4);
	advertise(4, "1", "1");
	vif(4, 0, "00:16:3e:00:00:41", "xen br0");
	dom(5);
	advertise(5, "1", "1");
	vif(5, 0, "00:16:3e:00:00:51", "xenbr0");
	fs_del(XL_XS_VIFS "/5/0/bridge");	/* routed */
	fs_put("/local/domain/junk/name", "x");
	fs_put("/local/domain/0099/name", "x");
	ck_assert_int_eq(xl_dom0_pass(d, 1000), 5);
	ck_assert_str_eq(table(1), "2 00:16:3e:00:00:21\n");
	/* willing, but without a valid bridged vif it meets no one */
	ck_assert_str_eq(table(3), "");
	ck_assert_str_eq(table(4), "");
	ck_assert_str_eq(table(5), "");
}
END_TEST

START_TEST(test_write_failure_retried)
{
	fs.fail_writes = 1;
	xl_dom0_pass(d, 1000);
	ck_assert_ptr_null(table(1));	/* never a table without its perms */
	ck_assert_str_eq(table(2), "1 00:16:3e:00:00:11\n");
	xl_dom0_pass(d, 1500);
	ck_assert_str_eq(table(1), "2 00:16:3e:00:00:21\n");
}
END_TEST

START_TEST(test_withdraw)
{
	xl_dom0_pass(d, 1000);
	xl_dom0_withdraw(d);
	ck_assert_ptr_null(table(1));
	ck_assert_ptr_null(table(2));
}
END_TEST

START_TEST(test_no_store)
{
	fs_del("/local/domain");
	ck_assert_int_eq(xl_dom0_pass(d, 1000), -ENOENT);
}
END_TEST

/* A table written by an earlier instance: stale text, anyone may read. */
static void leftover(uint32_t domid, const char *val)
{
	char p[96];

	snprintf(p, sizeof(p), XL_XS_TABLES "/%u", domid);
	fs_put(p, val);
	fs_get(p)->reader = NO_READER;
}

START_TEST(test_leftover_tables)
{
	leftover(1, "9 00:16:3e:00:00:91\n");	/* a willing guest's */
	leftover(3, "");			/* a domain's that is alive */
	leftover(77, "78 00:16:3e:00:00:4e\n");	/* a domain's long gone */
	dom(3);
	ck_assert_int_eq(xl_dom0_pass(d, 1000), 2);
	ck_assert_str_eq(table(1), "2 00:16:3e:00:00:21\n");
	ck_assert_str_eq(table(2), "1 00:16:3e:00:00:11\n");
	ck_assert_ptr_null(table(3));
	ck_assert_ptr_null(table(77));
	ck_assert_int_eq(d->nguest, 3);
	/* the same table the earlier instance wrote is still set again */
	leftover(2, "1 00:16:3e:00:00:11\n");
	xl_dom0_init(d, &fs_ops, NULL, 3000, false);
	ck_assert_int_eq(xl_dom0_pass(d, 1000), 2);
	ck_assert_str_eq(table(2), "1 00:16:3e:00:00:11\n");
}
END_TEST

/* Guests 3 and 4 are routed (dom0 routes between them, no bridge); 4 is
 * bridged too. Only dom0's --routed pairs them, by address, and what a
 * guest writes about its address counts for nothing. */
START_TEST(test_routed)
{
	dom(3);
	advertise(3, "1", "1");
	rvif(3, 0, "00:16:3e:00:00:30", "198.19.1.3");
	fs_put("/local/domain/3/data/xenloop/ip", "198.19.1.4");
	dom(4);
	advertise(4, "1", "1");
	rvif(4, 0, "00:16:3e:00:00:40", "198.19.1.4/32");
	vif(4, 1, "00:16:3e:00:00:41", "xenbr0");
	ck_assert_int_eq(xl_dom0_pass(d, 1000), 4);
	/* not routed by xenbr0, whatever libxl's bridge node says */
	ck_assert_str_eq(table(3), "");
	ck_assert_str_eq(table(1), "2 00:16:3e:00:00:21\n"
				   "4 00:16:3e:00:00:41\n");
	d->routed = true;
	xl_dom0_pass(d, 1500);
	ck_assert_str_eq(table(3), "4 ip=198.19.1.4\n");
	ck_assert_str_eq(table(4), "1 00:16:3e:00:00:11\n"
				   "2 00:16:3e:00:00:21\n3 ip=198.19.1.3\n");
	ck_assert_str_eq(table(1), "2 00:16:3e:00:00:21\n"
				   "4 00:16:3e:00:00:41\n");
	/* the toolstack gives 3 the address 4 has: neither keeps it */
	fs_put(XL_XS_VIFS "/3/0/ip", "198.19.1.3 198.19.1.4");
	xl_dom0_pass(d, 2000);
	ck_assert_str_eq(table(4), "1 00:16:3e:00:00:11\n"
				   "2 00:16:3e:00:00:21\n3 ip=198.19.1.3\n");
	ck_assert_str_eq(table(3), "");
}
END_TEST

/* More guests on one bridge than a table node holds: each table lists
 * the lowest domids that fit, in whole lines, and follows departures. */
START_TEST(test_table_full)
{
	char mac[18];
	const char *t;
	uint32_t id;

	for (id = 100; id < 300; id++) {
		dom(id);
		advertise(id, "1", "1");
		snprintf(mac, sizeof(mac), "00:16:3e:00:%02x:%02x", id >> 8,
			 id & 0xff);
		vif(id, 0, mac, "xenbr0");
	}
	ck_assert_int_eq(xl_dom0_pass(d, 1000), 202);
	t = table(1);
	ck_assert_ptr_nonnull(t);
	ck_assert_uint_gt(strlen(t), XL_DOM0_TABLE_MAX - 24);
	ck_assert_int_eq(t[strlen(t) - 1], '\n');
	ck_assert(!strncmp(t, "2 00:16:3e:00:00:21\n100 ", 24));
	destroy(2);
	xl_dom0_pass(d, 1500);
	ck_assert(!strncmp(table(1), "100 00:16:3e:00:00:64\n", 22));
}
END_TEST

static Suite *dom0_suite(void)
{
	Suite *s = suite_create("xen_dom0");
	TCase *tc = tcase_create("passes");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_two_guests);
	tcase_add_test(tc, test_not_advertising);
	tcase_add_test(tc, test_forged_advertisement);
	tcase_add_test(tc, test_bridges);
	tcase_add_test(tc, test_goes_quiet_and_returns);
	tcase_add_test(tc, test_destroyed_and_new);
	tcase_add_test(tc, test_bad_vif_nodes);
	tcase_add_test(tc, test_write_failure_retried);
	tcase_add_test(tc, test_withdraw);
	tcase_add_test(tc, test_no_store);
	tcase_add_test(tc, test_leftover_tables);
	tcase_add_test(tc, test_routed);
	tcase_add_test(tc, test_table_full);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(dom0_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
