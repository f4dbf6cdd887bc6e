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

#include "xl_xen_dom0.h"

/* ---- an in-memory xenstore ---- */

#define FS_MAX		256
#define NO_READER	UINT32_MAX

struct fs_node {
	char path[128];
	char val[XL_DOM0_TABLE_MAX];
	uint32_t reader;
};

static struct fs {
	struct fs_node n[FS_MAX];
	int count;
	int fail_writes;	/* the next N writes fail with -EIO */
} fs;

static struct fs_node *fs_get(const char *path)
{
	for (int i = 0; i < fs.count; i++)
		if (!strcmp(fs.n[i].path, path))
			return &fs.n[i];
	return NULL;
}

static void fs_put(const char *path, const char *val)
{
	struct fs_node *n = fs_get(path);

	if (!n) {
		ck_assert_int_lt(fs.count, FS_MAX);
		n = &fs.n[fs.count++];
		snprintf(n->path, sizeof(n->path), "%s", path);
		n->reader = NO_READER;
	}
	snprintf(n->val, sizeof(n->val), "%s", val);
}

static void fs_del(const char *path)
{
	size_t len = strlen(path);

	for (int i = 0; i < fs.count;) {
		if (!strcmp(fs.n[i].path, path) ||
		    (!strncmp(fs.n[i].path, path, len) &&
		     fs.n[i].path[len] == '/'))
			fs.n[i] = fs.n[--fs.count];
		else
			i++;
	}
}

static int fs_read(void *h, const char *path, char **val, unsigned int *len)
{
	struct fs_node *n = fs_get(path);

	(void)h;
	if (!n)
		return -ENOENT;
	*val = strdup(n->val);
	*len = (unsigned int)strlen(n->val);
	return *val ? 0 : -ENOMEM;
}

/* Children of path: the next component of every deeper node. */
static int fs_directory(void *h, const char *path, char ***names,
			unsigned int *num)
{
	static char child[FS_MAX][64];
	char **out;
	size_t len = strlen(path);
	int n = 0, i, j;

	(void)h;
	for (i = 0; i < fs.count; i++) {
		const char *p = fs.n[i].path;
		size_t c;

		if (strncmp(p, path, len) || p[len] != '/')
			continue;
		c = strcspn(p + len + 1, "/");
		for (j = 0; j < n; j++)
			if (strlen(child[j]) == c &&
			    !strncmp(child[j], p + len + 1, c))
				break;
		if (j == n) {
			snprintf(child[n], sizeof(child[n]), "%.*s", (int)c,
				 p + len + 1);
			n++;
		}
	}
	if (!n)
		return -ENOENT;
	/* one allocation, as libxenstore does */
	out = malloc((size_t)n * (sizeof(char *) + 64));
	if (!out)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		out[i] = (char *)(out + n) + 64 * i;
		memcpy(out[i], child[i], 64);
	}
	*names = out;
	*num = (unsigned int)n;
	return 0;
}

static int fs_write(void *h, const char *path, const char *val,
		    unsigned int len)
{
	char buf[XL_DOM0_TABLE_MAX];

	(void)h;
	if (fs.fail_writes > 0) {
		fs.fail_writes--;
		return -EIO;
	}
	ck_assert_uint_lt(len, sizeof(buf));
	memcpy(buf, val, len);
	buf[len] = '\0';
	fs_put(path, buf);
	return 0;
}

static int fs_set_reader(void *h, const char *path, uint32_t reader)
{
	struct fs_node *n = fs_get(path);

	(void)h;
	if (!n)
		return -ENOENT;
	n->reader = reader;
	return 0;
}

static int fs_rm(void *h, const char *path)
{
	(void)h;
	fs_del(path);
	return 0;
}

static const struct xl_xs_ops fs_ops = {
	.read = fs_read,
	.directory = fs_directory,
	.write = fs_write,
	.set_reader = fs_set_reader,
	.rm = fs_rm,
};

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
	xl_dom0_init(d, &fs_ops, NULL, 3000);
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
