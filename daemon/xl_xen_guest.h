/* SPDX-License-Identifier: MIT */
/*
 * A guest's side of Xen discovery (docs/xen.md §1): advertise that this
 * guest's xenloopd is willing, read the peer table dom0 wrote for it, and
 * map a connection's remote address to a peer domid.
 */
#ifndef XL_XEN_GUEST_H
#define XL_XEN_GUEST_H

#include <stdint.h>

#include "xenloop/ctl.h"
#include "xl_xen_peers.h"
#include "xl_xs.h"

#define XL_XEN_MAX_PEERS	64

struct xl_xen_guest_state {
	const struct xl_xs_ops *ops;
	void *h;
	uint32_t self;			/* our domid */
	uint64_t alive;			/* the counter we bump */
	unsigned int npeers;
	struct xl_xen_peer peers[XL_XEN_MAX_PEERS];
};

/* Our own domid, from the "domid" node every guest can read. */
int xl_xen_guest_self(const struct xl_xs_ops *ops, void *h, uint32_t *domid);

void xl_xen_guest_init(struct xl_xen_guest_state *g,
		       const struct xl_xs_ops *ops, void *h, uint32_t self);

/* Write version and the next alive value (call about every second). */
int xl_xen_guest_advertise(struct xl_xen_guest_state *g);

/*
 * Re-read our table. No table yet, or an unreadable or malformed one,
 * means no peers (and -ENOENT / -EINVAL): never a guess. Of a table with
 * more than XL_XEN_MAX_PEERS peers, the first ones are kept. Returns the
 * number of peers.
 */
int xl_xen_guest_refresh(struct xl_xen_guest_state *g);

/*
 * The peer domid behind remote (normalised), by the neighbour table's
 * MAC and our peer table, or else by remote's address among the routed
 * ones of the table. -ENOENT: not a co-resident peer.
 */
int xl_xen_guest_lookup(const struct xl_xen_guest_state *g,
			const struct xl_ctl_addr *remote, uint32_t *domid);

/* Take the advertisement down (clean shutdown). */
void xl_xen_guest_withdraw(struct xl_xen_guest_state *g);

#endif /* XL_XEN_GUEST_H */
