/* SPDX-License-Identifier: MIT */
/*
 * The xenstore operations of xl_xs.h over libxenstore. Each one is a
 * single request outside any transaction: discovery is soft state, and a
 * pass that reads a half-updated guest simply reads it again a second
 * later.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <xenstore.h>

#include "xl_xs.h"

static int xl_xs_errno(void)
{
	return errno ? -errno : -EIO;
}

static int xl_xs_read(void *h, const char *path, char **val,
		      unsigned int *len)
{
	errno = 0;
	*val = xs_read(h, XBT_NULL, path, len);
	return *val ? 0 : xl_xs_errno();
}

static int xl_xs_directory(void *h, const char *path, char ***names,
			   unsigned int *num)
{
	errno = 0;
	*names = xs_directory(h, XBT_NULL, path, num);
	return *names ? 0 : xl_xs_errno();
}

static int xl_xs_write(void *h, const char *path, const char *val,
		       unsigned int len)
{
	errno = 0;
	return xs_write(h, XBT_NULL, path, val, len) ? 0 : xl_xs_errno();
}

static int xl_xs_set_reader(void *h, const char *path, uint32_t reader)
{
	/* the first entry is the owner (us) and everyone else's access */
	struct xs_permissions perms[2] = {
		{ .id = 0, .perms = XS_PERM_NONE },
		{ .id = reader, .perms = XS_PERM_READ },
	};

	errno = 0;
	return xs_set_permissions(h, XBT_NULL, path, perms, 2) ? 0 :
								  xl_xs_errno();
}

static int xl_xs_rm(void *h, const char *path)
{
	errno = 0;
	if (xs_rm(h, XBT_NULL, path) || errno == ENOENT)
		return 0;
	return xl_xs_errno();
}

const struct xl_xs_ops xl_xs_xen = {
	.read = xl_xs_read,
	.directory = xl_xs_directory,
	.write = xl_xs_write,
	.set_reader = xl_xs_set_reader,
	.rm = xl_xs_rm,
};
