/* SPDX-License-Identifier: MIT */
/*
 * Which transports this build has, by kind.
 */
#include "config.h"

#include <stddef.h>

#include "xl_backend.h"

const struct xl_fd_keeper *xl_fd_keeper;

const struct xl_backend_ops *xl_backend_get(enum xl_backend_kind kind)
{
	switch (kind) {
	case XL_BACKEND_LOCAL:
		return &xl_backend_local;
	case XL_BACKEND_XENDEV:
		return &xl_backend_xendev;
#ifdef HAVE_XEN
	case XL_BACKEND_XEN:
		return &xl_backend_xen;
#endif
	default:
		return NULL;
	}
}
