/* SPDX-License-Identifier: MIT */
/*
 * The few xenstore operations Xen discovery needs, behind a table so that
 * the discovery logic runs against an in-memory store in unit tests and
 * against libxenstore (xl_xs_xen.c) in a real Xen.
 *
 * Paths are absolute. Every operation returns 0 or -errno and never
 * writes errno; values and listings are the caller's to free().
 */
#ifndef XL_XS_H
#define XL_XS_H

#include <stdint.h>

struct xl_xs_ops {
	/* The value at path, NUL-terminated, in *val; its length in *len.
	 * -ENOENT if there is no such node. */
	int (*read)(void *h, const char *path, char **val, unsigned int *len);
	/* The children of path: an array of *num names in one allocation
	 * (free the array only). -ENOENT if there is no such node. */
	int (*directory)(void *h, const char *path, char ***names,
			 unsigned int *num);
	/* Create or replace path (and missing parents) with val. */
	int (*write)(void *h, const char *path, const char *val,
		     unsigned int len);
	/* Owned by us, readable by reader and by no other domain. */
	int (*set_reader)(void *h, const char *path, uint32_t reader);
	/* Remove path and everything under it; absent is not an error. */
	int (*rm)(void *h, const char *path);
};

#ifdef HAVE_XEN
/* libxenstore: h is a struct xs_handle from xs_open(0). */
extern const struct xl_xs_ops xl_xs_xen;
#endif

#endif /* XL_XS_H */
