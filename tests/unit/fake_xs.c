/* SPDX-License-Identifier: MIT */
/*
 * The in-memory xenstore of fake_xs.h.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_xs.h"

struct fs fs;

struct fs_node *fs_get(const char *path)
{
	for (int i = 0; i < fs.count; i++)
		if (!strcmp(fs.n[i].path, path))
			return &fs.n[i];
	return NULL;
}

void fs_put(const char *path, const char *val)
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

void fs_del(const char *path)
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

const struct xl_xs_ops fs_ops = {
	.read = fs_read,
	.directory = fs_directory,
	.write = fs_write,
	.set_reader = fs_set_reader,
	.rm = fs_rm,
};

