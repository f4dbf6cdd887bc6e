/* SPDX-License-Identifier: MIT */
/*
 * The Xen transport's private interface with its unit tests.
 *
 * Every libxengnttab and libxenevtchn call the transport makes goes through
 * one table, struct xl_xen_calls, whose default entries are the real library
 * functions. tests/unit/check_backend_xen.c installs fakes behind it and so
 * runs the transport without a hypervisor; production code never calls the
 * setter. The member types are the libraries' own, so a fake that does not
 * match the real prototype does not compile.
 */
#ifndef XL_XEN_CALLS_H
#define XL_XEN_CALLS_H

#include <stdint.h>
#include <xenevtchn.h>
#include <xengnttab.h>

struct xl_xen_calls {
	/* grant sharing (side A, /dev/xen/gntalloc) */
	xengntshr_handle *(*gntshr_open)(struct xentoollog_logger *l,
					 unsigned int flags);
	int (*gntshr_close)(xengntshr_handle *h);
	void *(*gntshr_share_pages)(xengntshr_handle *h, uint32_t domid,
				    int count, uint32_t *refs, int writable);
	void *(*gntshr_share_page_notify)(xengntshr_handle *h, uint32_t domid,
					  uint32_t *ref, int writable,
					  uint32_t notify_off,
					  evtchn_port_t notify_port);
	int (*gntshr_unshare)(xengntshr_handle *h, void *start, uint32_t count);
	/* grant mapping (side B, /dev/xen/gntdev) */
	xengnttab_handle *(*gnttab_open)(struct xentoollog_logger *l,
					 unsigned int flags);
	int (*gnttab_close)(xengnttab_handle *h);
	void *(*gnttab_map_domain_grant_refs)(xengnttab_handle *h,
					      uint32_t count, uint32_t domid,
					      uint32_t *refs, int prot);
	void *(*gnttab_map_grant_ref_notify)(xengnttab_handle *h,
					     uint32_t domid, uint32_t ref,
					     int prot, uint32_t notify_off,
					     evtchn_port_t notify_port);
	int (*gnttab_unmap)(xengnttab_handle *h, void *start, uint32_t count);
	/* event channels (both sides, /dev/xen/evtchn) */
	xenevtchn_handle *(*evtchn_open)(struct xentoollog_logger *l,
					 unsigned int flags);
	int (*evtchn_close)(xenevtchn_handle *h);
	int (*evtchn_fd)(xenevtchn_handle *h);
	xenevtchn_port_or_error_t (*evtchn_bind_unbound_port)(
		xenevtchn_handle *h, uint32_t domid);
	xenevtchn_port_or_error_t (*evtchn_bind_interdomain)(
		xenevtchn_handle *h, uint32_t domid, evtchn_port_t remote);
	int (*evtchn_notify)(xenevtchn_handle *h, evtchn_port_t port);
	xenevtchn_port_or_error_t (*evtchn_pending)(xenevtchn_handle *h);
	int (*evtchn_unmask)(xenevtchn_handle *h, evtchn_port_t port);
	int (*evtchn_unbind)(xenevtchn_handle *h, evtchn_port_t port);
};

/*
 * Test hook: route the transport's calls through c; NULL restores the real
 * library. c must outlive every channel made through it. Not thread-safe:
 * call it while no channel of this transport exists.
 */
void xl_backend_xen_set_calls(const struct xl_xen_calls *c);

/*
 * Most grants (control page + data pages) one channel may take: 1 MiB in
 * each direction, libxenvchan's largest ring too. Linux's gntalloc hands out
 * 1024 grants in all by default (module parameter "limit"), counted across
 * every open of the device, i.e. every channel this domain offers. A channel
 * of this size already takes half of that: a daemon that wants many
 * connections must ask for far smaller rings, and a create() that finds the
 * pool exhausted fails with the library's ENOSPC, which the caller handles
 * like any other set-up failure (the connection stays on TCP).
 */
#define XL_XEN_MAX_GRANTS	513u

#endif /* XL_XEN_CALLS_H */
