/* SPDX-License-Identifier: MIT */
/*
 * Every libxengnttab and libxenevtchn call the Xen transport makes, in one
 * table, so that the unit tests can put fakes behind the transport and run
 * it without a hypervisor. Production code uses the real library.
 */
#ifndef XL_XEN_CALLS_H
#define XL_XEN_CALLS_H

#include <stdint.h>
#include <xenevtchn.h>
#include <xengnttab.h>

struct xl_xen_calls {
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

/* Test hook: route the transport's calls through c (NULL: the real
 * library). Not thread-safe; call before creating channels. */
void xl_backend_xen_set_calls(const struct xl_xen_calls *c);

/* Pages above which create() refuses a channel: Linux's gntalloc allows
 * 1024 grants in all by default (module parameter "limit"), shared by
 * every channel of the domain. */
#define XL_XEN_MAX_PAGES	513u

#endif /* XL_XEN_CALLS_H */
