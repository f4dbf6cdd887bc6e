/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the Xen discovery peer tables (daemon/xl_xen_peers.c):
 * who dom0 declares co-resident, and that a guest believes exactly the
 * table grammar and nothing else.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xl_addr.h"
#include "xl_xen_peers.h"

/* a bridged vif's nodes as xl writes them */
static int bridged(struct xl_xen_vif *v, const char *mac, const char *br,
		   const char *online)
{
	struct xl_xen_vif_nodes n = {
		.mac = mac, .bridge = br, .online = online,
		.script = "/etc/xen/scripts/vif-bridge",
	};

	return xl_xen_vif_from_nodes(v, &n);
}

static void vif(struct xl_xen_guest *g, const char *mac, const char *br,
		bool online)
{
	ck_assert_int_eq(bridged(&g->vif[g->nvif], mac, br,
				 online ? "1" : "0"), 0);
	g->nvif++;
}

/* a routed vif as xl writes it: its default bridge, the script, ip= */
static void rvif(struct xl_xen_guest *g, const char *mac, const char *ip,
		 bool online)
{
	struct xl_xen_vif_nodes n = {
		.mac = mac, .bridge = "xenbr0", .online = online ? "1" : "0",
		.script = "/etc/xen/scripts/vif-route", .ip = ip,
	};

	ck_assert_int_eq(xl_xen_vif_from_nodes(&g->vif[g->nvif], &n), 0);
	g->nvif++;
}

static void guest(struct xl_xen_guest *g, uint32_t domid, bool willing)
{
	memset(g, 0, sizeof(*g));
	g->domid = domid;
	g->willing = willing;
}

START_TEST(test_mac)
{
	uint8_t mac[6];
	char buf[18];

	ck_assert_int_eq(xl_mac_parse("00:16:3E:0a:ff:01", mac), 0);
	xl_mac_format(mac, buf);
	ck_assert_str_eq(buf, "00:16:3e:0a:ff:01");
	ck_assert_int_eq(xl_mac_parse("00:16:3e:0a:ff:1", mac), -EINVAL);
	ck_assert_int_eq(xl_mac_parse("00:16:3e:0a:ff:011", mac), -EINVAL);
	ck_assert_int_eq(xl_mac_parse("00-16-3e-0a-ff-01", mac), -EINVAL);
	ck_assert_int_eq(xl_mac_parse("00:16:3e:0a:fg:01", mac), -EINVAL);
	ck_assert_int_eq(xl_mac_parse("", mac), -EINVAL);
	ck_assert_int_eq(xl_mac_parse(NULL, mac), -EINVAL);
}
END_TEST

START_TEST(test_vif_nodes)
{
	struct xl_xen_vif v;

	struct xl_xen_vif_nodes n = { .mac = "00:16:3e:00:00:01" };

	ck_assert_int_eq(bridged(&v, "00:16:3e:00:00:01", "xenbr0", "1"), 0);
	ck_assert(v.online);
	ck_assert(!v.routed);
	ck_assert_str_eq(v.bridge, "xenbr0");
	ck_assert_int_eq(bridged(&v, "00:16:3e:00:00:01", "xenbr0", NULL), 0);
	ck_assert(!v.online);
	/* no bridge, hostile bridge names: no vif at all */
	ck_assert_int_eq(bridged(&v, "00:16:3e:00:00:01", NULL, "1"), -EINVAL);
	ck_assert_int_eq(bridged(&v, "00:16:3e:00:00:01", "br 0", "1"),
			 -EINVAL);
	ck_assert_int_eq(bridged(&v, "00:16:3e:00:00:01",
				 "a-very-long-bridge", "1"), -EINVAL);
	ck_assert_int_eq(bridged(&v, "zz", "xenbr0", "1"), -EINVAL);
	/* no script node: bridged, as xl's default script is */
	n.bridge = "xenbr0";
	ck_assert_int_eq(xl_xen_vif_from_nodes(&v, &n), 0);
	ck_assert(!v.routed);
}
END_TEST

/* Four guests, two bridges: 1 and 2 share br0, 3 is on br1 only, 4 is
 * on br0 but not willing; 2 also has a vif on br1 (so 2 and 3 meet). */
static void world(struct xl_xen_guest g[5])
{
	guest(&g[0], 2, true);
	vif(&g[0], "00:16:3e:00:00:21", "br0", true);
	vif(&g[0], "00:16:3e:00:00:22", "br1", true);
	guest(&g[1], 1, true);
	vif(&g[1], "00:16:3e:00:00:11", "br0", true);
	guest(&g[2], 3, true);
	vif(&g[2], "00:16:3e:00:00:31", "br1", true);
	guest(&g[3], 4, false);
	vif(&g[3], "00:16:3e:00:00:41", "br0", true);
	guest(&g[4], 5, true);
	vif(&g[4], "00:16:3e:00:00:51", "br0", false);
}

START_TEST(test_format)
{
	struct xl_xen_guest g[5];
	char buf[256];

	world(g);
	ck_assert_int_eq(xl_xen_table_format(&g[1], g, 5, false, buf,
					     sizeof(buf)),
			 (int)strlen("2 00:16:3e:00:00:21\n"));
	ck_assert_str_eq(buf, "2 00:16:3e:00:00:21\n");
	xl_xen_table_format(&g[0], g, 5, false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1 00:16:3e:00:00:11\n3 00:16:3e:00:00:31\n");
	xl_xen_table_format(&g[2], g, 5, false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2 00:16:3e:00:00:22\n");
	/* an offline vif shares nothing, and sees no one */
	ck_assert_int_eq(xl_xen_table_format(&g[4], g, 5, false, buf,
					     sizeof(buf)),
			 0);
	ck_assert_str_eq(buf, "");
	/* not willing: dom0 still answers, but no one lists it */
	xl_xen_table_format(&g[3], g, 5, false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1 00:16:3e:00:00:11\n2 00:16:3e:00:00:21\n");
	/* too small: an error, never a cut table */
	ck_assert_int_eq(xl_xen_table_format(&g[0], g, 5, false, buf, 30),
			 -ENOSPC);
	ck_assert_str_eq(buf, "1 00:16:3e:00:00:11\n");
}
END_TEST

START_TEST(test_format_dom0_and_multi_mac)
{
	struct xl_xen_guest g[3];
	char buf[256];

	guest(&g[0], 0, true);	/* dom0 is never a peer */
	vif(&g[0], "00:16:3e:00:00:01", "br0", true);
	guest(&g[1], 7, true);
	vif(&g[1], "00:16:3e:00:00:71", "br0", true);
	vif(&g[1], "00:16:3e:00:00:72", "br1", true);
	guest(&g[2], 9, true);
	vif(&g[2], "00:16:3e:00:00:91", "br0", true);
	vif(&g[2], "00:16:3e:00:00:92", "br1", true);
	vif(&g[2], "00:16:3e:00:00:93", "br2", true);
	xl_xen_table_format(&g[1], g, 3, false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "9 00:16:3e:00:00:91 00:16:3e:00:00:92\n");
	ck_assert_int_eq(xl_xen_table_format(&g[0], g, 3, false, buf,
					     sizeof(buf)),
			 -EINVAL);
}
END_TEST

START_TEST(test_parse_roundtrip)
{
	struct xl_xen_guest g[5];
	struct xl_xen_peer p[4];
	char buf[256];
	uint8_t mac[6];
	uint32_t domid;
	int n;

	world(g);
	n = xl_xen_table_format(&g[0], g, 5, false, buf, sizeof(buf));
	ck_assert_int_eq(xl_xen_table_parse(buf, (size_t)n, 2, p, 4), 2);
	ck_assert_uint_eq(p[0].domid, 1);
	ck_assert_uint_eq(p[1].domid, 3);
	xl_mac_parse("00:16:3e:00:00:31", mac);
	ck_assert_int_eq(xl_xen_table_lookup(p, 2, mac, &domid), 0);
	ck_assert_uint_eq(domid, 3);
	xl_mac_parse("00:16:3e:00:00:41", mac);
	ck_assert_int_eq(xl_xen_table_lookup(p, 2, mac, &domid), -ENOENT);
	ck_assert_int_eq(xl_xen_table_parse("", 0, 2, p, 4), 0);
	ck_assert_int_eq(xl_xen_table_parse(buf, (size_t)n, 2, p, 1),
			 -ENOSPC);
}
END_TEST

static const char *const bad_tables[] = {
	"1 00:16:3e:00:00:11",			/* no final newline */
	"1 00:16:3e:00:00:11\n\n",		/* empty line */
	"1\n",					/* no MAC */
	"1 \n",
	"0 00:16:3e:00:00:11\n",		/* dom0 */
	"2 00:16:3e:00:00:11\n",		/* ourselves */
	"01 00:16:3e:00:00:11\n",		/* leading zero */
	"+1 00:16:3e:00:00:11\n",
	"32752 00:16:3e:00:00:11\n",		/* reserved domid */
	"999999 00:16:3e:00:00:11\n",
	"3 00:16:3e:00:00:31\n1 00:16:3e:00:00:11\n",	/* unordered */
	"1 00:16:3e:00:00:11\n1 00:16:3e:00:00:12\n",	/* repeated */
	"1 00:16:3e:00:00:11\n3 00:16:3e:00:00:11\n",	/* stolen MAC */
	"1 00:16:3e:00:00:11 00:16:3e:00:00:11\n",
	"1 00:16:3e:00:00:11  00:16:3e:00:00:12\n",
	"1 00:16:3e:00:00:11 \n",
	"1 00:16:3e:00:00:1\n",
	"1 00:16:3e:00:00:111\n",
	"1 00:16:3e:00:00:11\t\n",
	"1  00:16:3e:00:00:11\n",
	"1 00:16:3e:00:00:11\r\n",
	"1 ip=\n",					/* routed keys */
	"1 ip=198.19.1\n",
	"1 ip=198.19.1.1.1\n",
	"1 ip=198.19.01.1\n",
	"1 IP=198.19.1.1\n",
	"1 ip:198.19.1.1\n",
	"1 ip=198.19.1.1/32\n",
	"1 ip= 198.19.1.1\n",
	"1 ip=198.19.1.1 \n",
	"1 ip=0.0.0.0\n",
	"1 ip=127.0.0.1\n",
	"1 ip=224.0.0.1\n",
	"1 ip=::1\n",
	"1 ip=::ffff:198.19.1.1\n",			/* not as dom0 writes */
	"1 ip=2001:DB8::1\n",
	"1 ip=2001:db8:0::1\n",
	"1 ip=198.19.1.1 ip=198.19.1.1\n",		/* repeated */
	"1 ip=198.19.1.1\n3 ip=198.19.1.1\n",		/* stolen */
	"1 ip=198.19.1.1\n3 00:16:3e:00:00:11 ip=198.19.1.1\n",
};

START_TEST(test_parse_hostile)
{
	const char *t = bad_tables[_i];
	struct xl_xen_peer p[4];

	ck_assert_msg(xl_xen_table_parse(t, strlen(t), 2, p, 4) == -EINVAL,
		      "accepted: \"%s\"", t);
}
END_TEST

START_TEST(test_parse_too_many_macs)
{
	char buf[512] = "1", mac[18];
	struct xl_xen_peer p[1];
	uint8_t m[6] = { 0, 0x16, 0x3e, 0, 0, 0 };
	int i;

	for (i = 0; i <= XL_XEN_MAX_VIFS; i++) {
		m[5] = (uint8_t)i;
		xl_mac_format(m, mac);
		strcat(buf, " ");
		strcat(buf, mac);
	}
	strcat(buf, "\n");
	ck_assert_int_eq(xl_xen_table_parse(buf, strlen(buf), 2, p, 1),
			 -EINVAL);
	/* one fewer MAC is fine */
	buf[strlen(buf) - 19] = '\n';
	ck_assert_int_eq(xl_xen_table_parse(buf, strlen(buf) - 18, 2, p, 1),
			 1);
	ck_assert_uint_eq(p[0].nmac, XL_XEN_MAX_VIFS);
}
END_TEST

START_TEST(test_parse_too_many_ips)
{
	char buf[512] = "1", key[24], *last;
	struct xl_xen_peer p[1];
	int i;

	for (i = 0; i <= XL_XEN_PEER_IPS; i++) {
		snprintf(key, sizeof(key), " ip=198.19.1.%d", 10 + i);
		strcat(buf, key);
	}
	strcat(buf, "\n");
	ck_assert_int_eq(xl_xen_table_parse(buf, strlen(buf), 2, p, 1),
			 -EINVAL);
	/* one fewer is fine */
	last = strrchr(buf, ' ');
	*last = '\n';
	ck_assert_int_eq(xl_xen_table_parse(buf, (size_t)(last - buf) + 1, 2,
					    p, 1), 1);
	ck_assert_uint_eq(p[0].nip, XL_XEN_PEER_IPS);
}
END_TEST

/* Whatever bytes a table holds, the parser stays in bounds (ASan) and
 * never accepts a line a formatter could not have written. */
START_TEST(test_parse_random)
{
	static const char alphabet[] = "0123456789abcdefABCDEF: \n\r\tip=.";
	struct xl_xen_peer p[4];
	char buf[96];
	unsigned int seed = 1;
	int i, j, len, n;

	for (i = 0; i < 200000; i++) {
		len = rand_r(&seed) % (int)sizeof(buf);
		for (j = 0; j < len; j++)
			buf[j] = alphabet[rand_r(&seed) %
					  (int)(sizeof(alphabet) - 1)];
		n = xl_xen_table_parse(buf, (size_t)len, 2, p, 4);
		ck_assert(n == -EINVAL || n == -ENOSPC || (n >= 0 && n <= 4));
		for (j = 0; j < n; j++) {
			ck_assert(p[j].domid > 0 && p[j].domid != 2);
			ck_assert(p[j].nmac + p[j].nip >= 1);
		}
	}
}
END_TEST

START_TEST(test_vif_routed)
{
	struct xl_xen_vif v;
	struct xl_xen_vif_nodes n = {
		.mac = "00:16:3e:00:00:01", .online = "1",
		.script = "/etc/xen/scripts/vif-route",
		.ip = "198.19.1.1  198.19.1.9/32 198.19.2.0/24 0.0.0.0 "
		      "127.0.0.1 nonsense 2001:db8::1/128 2001:db8::2/64 "
		      "198.19.1.10 198.19.1.11",
	};
	char buf[XL_ADDR_STRLEN];

	/* routed: no bridge needed (and libxl's default one is not read) */
	ck_assert_int_eq(xl_xen_vif_from_nodes(&v, &n), 0);
	ck_assert(v.routed && v.online);
	ck_assert_str_eq(v.bridge, "");
	/* host addresses only, at most XL_XEN_VIF_IPS */
	ck_assert_uint_eq(v.nip, XL_XEN_VIF_IPS);
	xl_addr_format(&v.ip[0], false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "198.19.1.1");
	xl_addr_format(&v.ip[1], false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "198.19.1.9");
	xl_addr_format(&v.ip[2], false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2001:db8::1");
	xl_addr_format(&v.ip[3], false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "198.19.1.10");
	/* a routed vif with no address is a vif; it pairs with nobody */
	n.ip = NULL;
	ck_assert_int_eq(xl_xen_vif_from_nodes(&v, &n), 0);
	ck_assert(v.routed);
	ck_assert_uint_eq(v.nip, 0);
	n.script = "vif-route-qubes";
	ck_assert_int_eq(xl_xen_vif_from_nodes(&v, &n), 0);
	ck_assert(v.routed);
	/* only the base name counts; anything else is a bridged vif, and
	 * this one has no bridge */
	n.script = "/etc/xen/vif-route.d/vif-bridge";
	ck_assert_int_eq(xl_xen_vif_from_nodes(&v, &n), -EINVAL);
	n.script = "/etc/xen/scripts/my-vif-route";
	ck_assert_int_eq(xl_xen_vif_from_nodes(&v, &n), -EINVAL);
}
END_TEST

/* Routed and bridged guests: 1 is on both, 2 routed, 3 bridged, 4 and 5
 * both claim 198.19.1.4, 6 is not willing, 7's routed vif is offline. */
static void routed_world(struct xl_xen_guest g[7])
{
	guest(&g[0], 1, true);
	rvif(&g[0], "00:16:3e:00:00:10", "198.19.1.1", true);
	vif(&g[0], "00:16:3e:00:00:11", "br0", true);
	guest(&g[1], 2, true);
	rvif(&g[1], "00:16:3e:00:00:20", "198.19.1.2 2001:db8::2", true);
	guest(&g[2], 3, true);
	vif(&g[2], "00:16:3e:00:00:31", "br0", true);
	guest(&g[3], 4, true);
	rvif(&g[3], "00:16:3e:00:00:40", "198.19.1.4", true);
	guest(&g[4], 5, true);
	rvif(&g[4], "00:16:3e:00:00:50", "198.19.1.4 198.19.1.5", true);
	guest(&g[5], 6, false);
	rvif(&g[5], "00:16:3e:00:00:60", "198.19.1.6", true);
	guest(&g[6], 7, true);
	rvif(&g[6], "00:16:3e:00:00:70", "198.19.1.7", false);
}

START_TEST(test_format_routed)
{
	struct xl_xen_guest g[7];
	char buf[512];

	routed_world(g);
	/* without dom0's word, routed vifs pair with nobody, and their
	 * libxl-default bridge node does not put them on xenbr0 */
	xl_xen_table_format(&g[0], g, 7, false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "3 00:16:3e:00:00:31\n");
	ck_assert_int_eq(xl_xen_table_format(&g[1], g, 7, false, buf,
					     sizeof(buf)), 0);
	xl_xen_table_format(&g[0], g, 7, true, buf, sizeof(buf));
	ck_assert_str_eq(buf, "2 ip=198.19.1.2 ip=2001:db8::2\n"
			 "3 00:16:3e:00:00:31\n5 ip=198.19.1.5\n");
	xl_xen_table_format(&g[1], g, 7, true, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1 ip=198.19.1.1\n5 ip=198.19.1.5\n");
	/* a bridged-only guest learns no addresses */
	xl_xen_table_format(&g[2], g, 7, true, buf, sizeof(buf));
	ck_assert_str_eq(buf, "1 00:16:3e:00:00:11\n");
	/* an offline routed vif sees no one */
	ck_assert_int_eq(xl_xen_table_format(&g[6], g, 7, true, buf,
					     sizeof(buf)), 0);
}
END_TEST

START_TEST(test_parse_routed)
{
	static const char t[] = "1 ip=198.19.1.1\n"
				"2 00:16:3e:00:00:21 ip=2001:db8::2\n";
	struct xl_xen_guest g[7];
	struct xl_xen_peer p[4];
	struct xl_ctl_addr a;
	char buf[512];
	uint32_t domid = 0;
	int n;

	ck_assert_int_eq(xl_xen_table_parse(t, strlen(t), 5, p, 4), 2);
	ck_assert_uint_eq(p[0].nmac, 0);
	ck_assert_uint_eq(p[0].nip, 1);
	ck_assert_uint_eq(p[1].nmac, 1);
	ck_assert_uint_eq(p[1].nip, 1);
	xl_addr_parse("2001:db8::2", &a);
	ck_assert_int_eq(xl_xen_table_lookup_ip(p, 2, &a, &domid), 0);
	ck_assert_uint_eq(domid, 2);
	/* an IPv4 connection seen through an IPv6 socket, normalised */
	xl_addr_parse("::ffff:198.19.1.1", &a);
	ck_assert_int_eq(xl_xen_table_lookup_ip(p, 2, &a, &domid), 0);
	ck_assert_uint_eq(domid, 1);
	xl_addr_parse("198.19.1.3", &a);
	ck_assert_int_eq(xl_xen_table_lookup_ip(p, 2, &a, &domid), -ENOENT);
	/* whatever dom0 writes, a guest reads back */
	routed_world(g);
	n = xl_xen_table_format(&g[0], g, 7, true, buf, sizeof(buf));
	ck_assert_int_eq(xl_xen_table_parse(buf, (size_t)n, 1, p, 4), 3);
	ck_assert_uint_eq(p[0].nip, 2);
	ck_assert_uint_eq(p[2].nip, 1);
}
END_TEST

static Suite *xen_peers_suite(void)
{
	Suite *s = suite_create("xen_peers");
	TCase *tc = tcase_create("tables");

	tcase_add_test(tc, test_mac);
	tcase_add_test(tc, test_vif_nodes);
	tcase_add_test(tc, test_format);
	tcase_add_test(tc, test_format_dom0_and_multi_mac);
	tcase_add_test(tc, test_parse_roundtrip);
	tcase_add_loop_test(tc, test_parse_hostile, 0,
			    (int)(sizeof(bad_tables) / sizeof(bad_tables[0])));
	tcase_add_test(tc, test_parse_too_many_macs);
	tcase_add_test(tc, test_parse_too_many_ips);
	tcase_add_test(tc, test_parse_random);
	tcase_add_test(tc, test_vif_routed);
	tcase_add_test(tc, test_format_routed);
	tcase_add_test(tc, test_parse_routed);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xen_peers_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
