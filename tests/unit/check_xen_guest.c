/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of a guest's side of Xen discovery (daemon/xl_xen_guest.c),
 * with dom0's passes (daemon/xl_xen_dom0.c) over the same in-memory
 * xenstore: advertise, get a table back, and believe nothing else.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_xs.h"
#include "xl_addr.h"
#include "xl_xen_dom0.h"
#include "xl_xen_guest.h"

static struct xl_dom0 *d;
static struct xl_xen_guest_state g1, g2;

static void vif(uint32_t domid, const char *mac)
{
	char p[96];

	snprintf(p, sizeof(p), XL_XS_VIFS "/%u/0/mac", domid);
	fs_put(p, mac);
	snprintf(p, sizeof(p), XL_XS_VIFS "/%u/0/bridge", domid);
	fs_put(p, "xenbr0");
	snprintf(p, sizeof(p), XL_XS_VIFS "/%u/0/online", domid);
	fs_put(p, "1");
}

static void setup(void)
{
	memset(&fs, 0, sizeof(fs));
	d = malloc(sizeof(*d));
	ck_assert_ptr_nonnull(d);
	xl_dom0_init(d, &fs_ops, NULL, 3000, false);
	fs_put("/local/domain/0/name", "Domain-0");
	fs_put("/local/domain/5/name", "g1");
	fs_put("/local/domain/6/name", "g2");
	vif(5, "00:16:3e:00:00:05");
	vif(6, "00:16:3e:00:00:06");
	xl_xen_guest_init(&g1, &fs_ops, NULL, 5);
	xl_xen_guest_init(&g2, &fs_ops, NULL, 6);
}

static void teardown(void)
{
	free(d);
}

START_TEST(test_self)
{
	uint32_t domid;

	fs_put("domid", "5");
	ck_assert_int_eq(xl_xen_guest_self(&fs_ops, NULL, &domid), 0);
	ck_assert_uint_eq(domid, 5);
	fs_put("domid", "0");
	ck_assert_int_eq(xl_xen_guest_self(&fs_ops, NULL, &domid), -EINVAL);
	fs_put("domid", "5x");
	ck_assert_int_eq(xl_xen_guest_self(&fs_ops, NULL, &domid), -EINVAL);
	fs_put("domid", "");
	ck_assert_int_eq(xl_xen_guest_self(&fs_ops, NULL, &domid), -EINVAL);
	fs_put("domid", "40000");
	ck_assert_int_eq(xl_xen_guest_self(&fs_ops, NULL, &domid), -EINVAL);
	fs_del("domid");
	ck_assert_int_eq(xl_xen_guest_self(&fs_ops, NULL, &domid), -ENOENT);
}
END_TEST

START_TEST(test_round_trip)
{
	uint8_t mac[6];
	uint32_t domid;

	ck_assert_int_eq(xl_xen_guest_refresh(&g1), -ENOENT);
	ck_assert_int_eq(xl_xen_guest_advertise(&g1), 0);
	ck_assert_int_eq(xl_xen_guest_advertise(&g2), 0);
	ck_assert_str_eq(fs_get("/local/domain/5/data/xenloop/alive")->val,
			 "1");
	ck_assert_int_eq(xl_dom0_pass(d, 1000), 2);
	ck_assert_int_eq(xl_xen_guest_refresh(&g1), 1);
	ck_assert_int_eq(xl_xen_guest_refresh(&g2), 1);
	ck_assert_uint_eq(g1.peers[0].domid, 6);
	xl_mac_parse("00:16:3e:00:00:06", mac);
	ck_assert_int_eq(xl_xen_table_lookup(g1.peers, g1.npeers, mac,
					     &domid), 0);
	ck_assert_uint_eq(domid, 6);
	/* g2 stops advertising: after the stale time g1's table empties */
	xl_xen_guest_advertise(&g1);
	xl_dom0_pass(d, 2500);
	xl_xen_guest_advertise(&g1);
	xl_dom0_pass(d, 4100);
	ck_assert_int_eq(xl_xen_guest_refresh(&g1), 0);
	ck_assert_int_eq(xl_xen_guest_refresh(&g2), -ENOENT);
	ck_assert_uint_eq(g2.npeers, 0);
}
END_TEST

START_TEST(test_bad_table_means_no_peers)
{
	xl_xen_guest_advertise(&g1);
	xl_xen_guest_advertise(&g2);
	xl_dom0_pass(d, 1000);
	ck_assert_int_eq(xl_xen_guest_refresh(&g1), 1);
	fs_put(XL_XS_TABLES "/5", "6 00:16:3e:00:00:06\n5 00:16:3e:00:00:05\n");
	ck_assert_int_eq(xl_xen_guest_refresh(&g1), -EINVAL);
	ck_assert_uint_eq(g1.npeers, 0);
}
END_TEST

/* More peers than a guest keeps: the first ones, not none. */
START_TEST(test_many_peers)
{
	char table[XL_DOM0_TABLE_MAX], *at = table;
	uint32_t id;

	for (id = 10; id < 10 + XL_XEN_MAX_PEERS + 5; id++)
		at += sprintf(at, "%u 00:16:3e:00:00:%02x\n", id, id);
	fs_put(XL_XS_TABLES "/5", table);
	ck_assert_int_eq(xl_xen_guest_refresh(&g1), XL_XEN_MAX_PEERS);
	ck_assert_uint_eq(g1.npeers, XL_XEN_MAX_PEERS);
	ck_assert_uint_eq(g1.peers[XL_XEN_MAX_PEERS - 1].domid,
			  10 + XL_XEN_MAX_PEERS - 1);
}
END_TEST

START_TEST(test_lookup_needs_a_neighbour)
{
	struct xl_ctl_addr a = { .family = AF_INET };
	uint32_t domid = 0;

	xl_xen_guest_advertise(&g1);
	xl_xen_guest_advertise(&g2);
	xl_dom0_pass(d, 1000);
	xl_xen_guest_refresh(&g1);
	/* TEST-NET-1: nobody's neighbour here, whatever the table says */
	inet_pton(AF_INET, "192.0.2.77", a.addr);
	ck_assert_int_eq(xl_xen_guest_lookup(&g1, &a, &domid), -ENOENT);
	ck_assert_uint_eq(domid, 0);
}
END_TEST

/* Routed: the peer's MAC is nowhere (its packets come from dom0), so
 * its address in the table is what says who it is. */
START_TEST(test_lookup_routed)
{
	struct xl_ctl_addr a;
	uint32_t domid = 0;

	fs_put(XL_XS_VIFS "/5/0/script", "/etc/xen/scripts/vif-route");
	fs_put(XL_XS_VIFS "/5/0/ip", "198.19.1.5");
	fs_put(XL_XS_VIFS "/6/0/script", "/etc/xen/scripts/vif-route");
	fs_put(XL_XS_VIFS "/6/0/ip", "198.19.1.6");
	xl_xen_guest_advertise(&g1);
	xl_xen_guest_advertise(&g2);
	xl_dom0_pass(d, 1000);
	ck_assert_int_eq(xl_xen_guest_refresh(&g1), 0);	/* no --routed */
	d->routed = true;
	xl_dom0_pass(d, 1500);
	ck_assert_int_eq(xl_xen_guest_refresh(&g1), 1);
	xl_addr_parse("198.19.1.6", &a);
	ck_assert_int_eq(xl_xen_guest_lookup(&g1, &a, &domid), 0);
	ck_assert_uint_eq(domid, 6);
	domid = 0;
	xl_addr_parse("198.19.1.7", &a);
	ck_assert_int_eq(xl_xen_guest_lookup(&g1, &a, &domid), -ENOENT);
	ck_assert_uint_eq(domid, 0);
}
END_TEST

START_TEST(test_withdraw)
{
	xl_xen_guest_advertise(&g1);
	xl_xen_guest_withdraw(&g1);
	ck_assert_ptr_null(fs_get("/local/domain/5/data/xenloop/version"));
	ck_assert_ptr_null(fs_get("/local/domain/5/data/xenloop/alive"));
	ck_assert_ptr_nonnull(fs_get("/local/domain/5/name"));
}
END_TEST

static Suite *guest_suite(void)
{
	Suite *s = suite_create("xen_guest");
	TCase *tc = tcase_create("discovery");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_self);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_bad_table_means_no_peers);
	tcase_add_test(tc, test_lookup_needs_a_neighbour);
	tcase_add_test(tc, test_many_peers);
	tcase_add_test(tc, test_lookup_routed);
	tcase_add_test(tc, test_withdraw);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(guest_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
