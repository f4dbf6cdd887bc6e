/* SPDX-License-Identifier: MIT */
/*
 * Guest discovery (xl_xen_guest.h). The advertisement says nothing about
 * who we are on the network (dom0 would not believe it anyway); the
 * table dom0 gives back is parsed strictly, and a table we cannot read
 * empties what we know rather than keeping a stale one: a peer we drop by
 * mistake costs speed, a peer we keep by mistake could cost the stream.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xl_neigh.h"
#include "xl_xen_dom0.h"
#include "xl_xen_guest.h"

int xl_xen_guest_self(const struct xl_xs_ops *ops, void *h, uint32_t *domid)
{
	unsigned long v;
	unsigned int len;
	char *val, *end;
	int ret = ops->read(h, "domid", &val, &len);

	if (ret < 0)
		return ret;
	errno = 0;
	v = strtoul(val, &end, 10);
	ret = (errno || end == val || *end || v == 0 ||
	       v > XL_XEN_DOMID_MAX) ? -EINVAL : 0;
	free(val);
	if (ret == 0)
		*domid = (uint32_t)v;
	return ret;
}

void xl_xen_guest_init(struct xl_xen_guest_state *g,
		       const struct xl_xs_ops *ops, void *h, uint32_t self)
{
	memset(g, 0, sizeof(*g));
	g->ops = ops;
	g->h = h;
	g->self = self;
}

int xl_xen_guest_advertise(struct xl_xen_guest_state *g)
{
	char path[96], val[24];
	int ret;

	snprintf(path, sizeof(path), "/local/domain/%u/" XL_XS_ADVERT
		 "/version", g->self);
	ret = g->ops->write(g->h, path, XL_XS_VERSION,
			    (unsigned int)strlen(XL_XS_VERSION));
	if (ret < 0)
		return ret;
	snprintf(path, sizeof(path), "/local/domain/%u/" XL_XS_ADVERT
		 "/alive", g->self);
	snprintf(val, sizeof(val), "%" PRIu64, ++g->alive);
	return g->ops->write(g->h, path, val, (unsigned int)strlen(val));
}

int xl_xen_guest_refresh(struct xl_xen_guest_state *g)
{
	char path[96], *val;
	unsigned int len;
	int n;

	g->npeers = 0;
	snprintf(path, sizeof(path), XL_XS_TABLES "/%u", g->self);
	n = g->ops->read(g->h, path, &val, &len);
	if (n < 0)
		return n;
	n = xl_xen_table_parse(val, len, g->self, g->peers, XL_XEN_MAX_PEERS);
	free(val);
	/* a host with more co-resident guests than we keep: the first ones,
	 * every line of which was checked (the rest costs speed only) */
	if (n == -ENOSPC)
		n = XL_XEN_MAX_PEERS;
	if (n < 0)
		return n;
	g->npeers = (unsigned int)n;
	return n;
}

int xl_xen_guest_lookup(const struct xl_xen_guest_state *g,
			const struct xl_ctl_addr *remote, uint32_t *domid)
{
	uint8_t mac[6];

	if (!g->npeers)
		return -ENOENT;
	/* bridged: the MAC the handshake reached; routed (its MAC is
	 * dom0's): the address dom0 routes to that guest */
	if (xl_neigh_lookup(remote, mac) == 0 &&
	    xl_xen_table_lookup(g->peers, g->npeers, mac, domid) == 0)
		return 0;
	return xl_xen_table_lookup_ip(g->peers, g->npeers, remote, domid);
}

void xl_xen_guest_withdraw(struct xl_xen_guest_state *g)
{
	char path[96];

	snprintf(path, sizeof(path), "/local/domain/%u/" XL_XS_ADVERT, g->self);
	g->ops->rm(g->h, path);
	g->npeers = 0;
}
