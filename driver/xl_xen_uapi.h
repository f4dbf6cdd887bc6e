/* SPDX-License-Identifier: MIT */
/*
 * Linux's Xen device interfaces (linux-libc-dev's xen/ headers), which name
 * two Xen types without defining them: the xendev transport needs these
 * headers only, not libxen.
 */
#ifndef XL_XEN_UAPI_H
#define XL_XEN_UAPI_H

#include <stdint.h>

typedef uint16_t domid_t;
typedef uint32_t grant_ref_t;

#include <xen/evtchn.h>
#include <xen/gntalloc.h>
#include <xen/gntdev.h>

#endif /* XL_XEN_UAPI_H */
