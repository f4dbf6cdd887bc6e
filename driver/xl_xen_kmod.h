/* SPDX-License-Identifier: MIT */
/*
 * Channels of the kernel module, /dev/xenloop (driver/linux/, docs/xen.md
 * §5): xenloopd's half, and what the library's transport (xenkmod,
 * xl_backend_xenkmod.c) shares with it.
 *
 * Each side of a channel produces into pages of its own (struct
 * xl_wire_kpage, then the data of the direction it sends), granted
 * read-only to the peer. Side 0 (the connecting side's guest) offers with
 * xl_xen_kmod_offer(): references and the port go to the peer's daemon in
 * an OFFER. Side 1 connects with xl_xen_kmod_connect(), which maps side
 * 0's pages and grants its own; its references go back in the REPLY, and
 * side 0 completes with xl_xen_kmod_accept(). Each daemon writes its own
 * control page before the peer can see it, and hands its process the
 * channel fd and nothing else of the module.
 *
 * Return 0 or -errno; never write errno.
 */
#ifndef XL_XEN_KMOD_H
#define XL_XEN_KMOD_H

#include <stdbool.h>
#include <stdint.h>

#include "xl_backend.h"

/* The device; opened by xenloopd only (root, 0600). */
#define XL_XEN_KMOD_DEV		"/dev/xenloop"
/* A side's pages at most (the module's XLDEV_MAX_PAGES). */
#define XL_XEN_KMOD_MAX_PAGES	512u
/* Largest data order a side may send (1 + data pages fit the budget). */
#define XL_XEN_KMOD_MAX_ORDER	20u

/* Pages of a side that sends data of 2^order bytes: its control page and
 * the data. -EINVAL outside XL_WIRE_MIN_ORDER..XL_XEN_KMOD_MAX_ORDER. */
int xl_xen_kmod_pages(uint32_t order, uint32_t *npages);

/* Open the device and check its ABI: an fd, or -errno (-ENOENT: the
 * module is not loaded). *peer_mmap: the peer's pages can be mapped
 * (auto-translated guest); else they are read through PEEK. */
int xl_xen_kmod_open(bool *peer_mmap);

/* Write side's control page on chan (before the peer can see it). */
int xl_xen_kmod_page_init(int chan, uint32_t side, uint32_t order);

/*
 * Side 0 on dev for peer: the channel fd in *chan, its port in *port,
 * refs[] the references of its xl_xen_kmod_pages(order[0]) pages (*nrefs).
 */
int xl_xen_kmod_offer(int dev, uint32_t peer, const uint32_t order[2],
		      int *chan, uint32_t *port, uint32_t *refs,
		      uint32_t *nrefs);

/*
 * Side 1: map side 0's nrefs references, bind its port, grant our pages:
 * *chan, refs_out[] (*nrefs_out) for the REPLY.
 */
int xl_xen_kmod_connect(int dev, uint32_t peer, const uint32_t order[2],
			const uint32_t *refs, uint32_t nrefs, uint32_t port,
			int *chan, uint32_t *refs_out, uint32_t *nrefs_out);

/* Side 0 again: map side 1's references on the channel xl_xen_kmod_offer
 * made. */
int xl_xen_kmod_accept(int dev, int chan, const uint32_t order[2],
		       const uint32_t *refs, uint32_t nrefs);

/* A descriptor of kind XENKMOD for side: a copy of chan (and of hup, the
 * liveness end, or -1). */
int xl_xen_kmod_desc(struct xl_chan_desc *desc, uint32_t side,
		     const uint32_t order[2], int chan, int hup,
		     bool peer_mmap);

#endif /* XL_XEN_KMOD_H */
