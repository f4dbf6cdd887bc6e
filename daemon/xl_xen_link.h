/* SPDX-License-Identifier: MIT */
/*
 * xenloopd in a Xen guest (--xen, docs/xen.md §2): discovery from the
 * guest's side, one control link per co-resident peer guest, and channel
 * set-up over those links for the library's connections.
 *
 * A link is a channel of the Xen transport between the two guests'
 * daemons (small rings, no spinning), bootstrapped through xenstore the
 * way libxenvchan does it: the guest with the lower domid offers it and
 * publishes its grant references and ports under
 *   /local/domain/<self>/data/xenloop/link/<peer>  "1 <gen> <port> <port>
 *                                                   <nrefs> <ref>..."
 * readable by that peer only; the other attaches and answers under its own
 *   /local/domain/<self>/data/xenloop/link/<peer>  "1 <gen>"
 * Over the link go OFFER and REPLY frames (xl_xen_frame.h): the
 * connecting side's daemon offers the connection's grants and ports, the
 * server side's daemon maps them and answers. Neither daemon keeps a
 * mapping of a connection's ring: the process gets the device fds
 * (xl_xen_dev.h). What the daemon keeps per connection is the other end
 * of the process's liveness socket, closed when the peer domain is gone
 * (xenstore: /local/domain/<peer> reads ENOENT), since a destroyed domain
 * runs no unmap-notify.
 */
#ifndef XL_XEN_LINK_H
#define XL_XEN_LINK_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "xenloop/ctl.h"

struct xl_daemon;
struct xl_reg;
struct xl_xpeer;

/* One peer guest for STATUS: the state of its link ("up", "offered" or
 * "down") and the routed addresses dom0's table gives it (n may be 0). */
typedef void xl_xlink_fn(void *arg, uint32_t domid, const char *state,
			 const struct xl_ctl_addr *addrs, uint32_t n);

#ifdef HAVE_XEN
/* Start the guest role: xenstore, our domid, the advertisement. Exits
 * through fatal() if xenstore or our domid cannot be had. */
void xl_xlink_start(struct xl_daemon *d);

/* Every tick: advertise, re-read the table, bring links up or down,
 * end the connections of peer domains that are gone. */
void xl_xlink_tick(struct xl_daemon *d);

/* Read what the links hold, and fill pfd with what to poll for more;
 * returns the count (obj[i] names the link). *now: something is
 * readable already (poll without sleeping). */
int xl_xlink_pollfds(struct xl_daemon *d, struct pollfd *pfd, void **obj,
		     int max, bool *now);

/*
 * Before anything that may touch a link's pages: if xenstore says our
 * domid may have changed (a watch on it fires at resume), look, and if it
 * did, let go of every link and connection of the old domain without
 * touching their pages. After a restore, a PV guest's mappings of other
 * domains' pages are gone from its page tables: one access kills the
 * process (docs/xen.md §4).
 */
void xl_xlink_guard(struct xl_daemon *d);

/* poll() said link obj's fd is readable. */
void xl_xlink_input(struct xl_daemon *d, void *obj,
		    const struct pollfd *pfd);

/* The peer for a connection's remote address: NULL with the reason
 * to refuse with. A client needs the link up now (its offer goes over
 * it); a server only waits for an offer, which the link carries once it
 * is up: for it, a co-resident peer is enough (any_link). */
struct xl_xpeer *xl_xlink_lookup(struct xl_daemon *d,
				 const struct xl_ctl_addr *remote,
				 bool any_link, uint32_t *reason);

/* Offer a channel for a NEW client registration over xp's link.
 * XL_REASON_NONE (now waiting) or the reason to refuse it with. */
uint32_t xl_xlink_offer(struct xl_daemon *d, struct xl_xpeer *xp,
			struct xl_reg *reg);

/* REPLY for an offer that came on the link whose peer id is from: false
 * if from names no link. */
bool xl_xlink_reply(struct xl_daemon *d, uint32_t from, uint64_t offer_id,
		    uint32_t status);

/* Links, advertisement and connections' liveness ends: all gone. */
void xl_xlink_stop(struct xl_daemon *d);

/* Each peer guest of the table, for STATUS. */
void xl_xlink_foreach(struct xl_daemon *d, xl_xlink_fn *fn, void *arg);

/* What the connections' channels of the module hold in this guest, for
 * STATUS: the grants of our own pages, the mappings of peers' pages, the
 * event channels (one a channel), and the module's page budget left. */
struct xl_xlink_kmod {
	uint32_t channels;
	uint32_t grants;
	uint32_t mapped;
	uint32_t evtchns;
	uint32_t budget;
};

/* 0 with *st, or -ENODEV where connections do not use the module. */
int xl_xlink_kmod_stat(struct xl_daemon *d, struct xl_xlink_kmod *st);

#else /* a build without Xen has no guest role: d->xen stays NULL */

static inline struct xl_xpeer *
xl_xlink_lookup(struct xl_daemon *d, const struct xl_ctl_addr *remote,
		bool any_link, uint32_t *reason)
{
	(void)d;
	(void)remote;
	(void)any_link;
	*reason = XL_REASON_NOT_PEER;
	return NULL;
}

static inline uint32_t xl_xlink_offer(struct xl_daemon *d,
				      struct xl_xpeer *xp, struct xl_reg *reg)
{
	(void)d;
	(void)xp;
	(void)reg;
	return XL_REASON_NOT_PEER;
}

static inline bool xl_xlink_reply(struct xl_daemon *d, uint32_t from,
				  uint64_t offer_id, uint32_t status)
{
	(void)d;
	(void)from;
	(void)offer_id;
	(void)status;
	return false;
}

static inline void xl_xlink_foreach(struct xl_daemon *d, xl_xlink_fn *fn,
				    void *arg)
{
	(void)d;
	(void)fn;
	(void)arg;
}

struct xl_xlink_kmod;

static inline int xl_xlink_kmod_stat(struct xl_daemon *d,
				     struct xl_xlink_kmod *st)
{
	(void)d;
	(void)st;
	return -ENODEV;
}
#endif /* HAVE_XEN */

#endif /* XL_XEN_LINK_H */
