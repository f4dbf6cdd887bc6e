/* SPDX-License-Identifier: MIT */
/*
 * An in-memory xenstore for the unit tests of Xen discovery: paths and
 * values, the single reader a node was given, and injected write
 * failures. Just enough of xenstored's behaviour (directories of deeper
 * nodes, recursive removal) for struct xl_xs_ops.
 */
#ifndef FAKE_XS_H
#define FAKE_XS_H

#include <stdint.h>

#include "xl_xen_dom0.h"
#include "xl_xs.h"

#define FS_MAX		2048
#define NO_READER	UINT32_MAX

struct fs_node {
	char path[128];
	char val[XL_DOM0_TABLE_MAX];
	uint32_t reader;
};

struct fs {
	struct fs_node n[FS_MAX];
	int count;
	int fail_writes;	/* the next N writes fail with -EIO */
};

extern struct fs fs;
extern const struct xl_xs_ops fs_ops;

struct fs_node *fs_get(const char *path);
void fs_put(const char *path, const char *val);
void fs_del(const char *path);

#endif /* FAKE_XS_H */
