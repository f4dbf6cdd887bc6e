/* SPDX-License-Identifier: MIT */
/*
 * The Xen transport: a channel between two domains of one host.
 *
 * How this works
 *
 * Side A shares the control page and the data pages with exactly one peer
 * domid through gntalloc (libxengntshr), the control page with an
 * unmap-notify that clears A's live byte and raises an event when A's
 * mapping goes away, however A's process ends. Side B maps them through
 * gntdev (libxengnttab), its control-page mapping with the same kind of
 * notify on B's live byte. This is libxenvchan's pattern; unlike vchan,
 * the references travel in the descriptor (the daemons' control channel),
 * not through xenstore.
 *
 * Notification uses two interdomain event channels, one per kind of
 * sleeper (enum xl_wait), each bound in its own xenevtchn handle: a thread
 * draining its handle's pending events can then never swallow the event
 * meant for a thread waiting for the other kind. The handles' fds are
 * nonblocking so that draining never sleeps.
 *
 * Every library call goes through struct xl_xen_calls so that the unit
 * tests can run this file against fakes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "xl_barrier.h"
#include "xl_chan.h"
#include "xl_xen_calls.h"

struct xl_xen {
	xengntshr_handle *gntshr;	/* side A */
	xengnttab_handle *gnttab;	/* side B */
	xenevtchn_handle *xce[2];	/* by enum xl_wait */
	evtchn_port_t port[2];		/* our local ports, by enum xl_wait */
	bool bound[2];
	uint32_t npages;		/* data pages */
};

static const struct xl_xen_calls xl_xen_real = {
	.gntshr_open = xengntshr_open,
	.gntshr_close = xengntshr_close,
	.gntshr_share_pages = xengntshr_share_pages,
	.gntshr_share_page_notify = xengntshr_share_page_notify,
	.gntshr_unshare = xengntshr_unshare,
	.gnttab_open = xengnttab_open,
	.gnttab_close = xengnttab_close,
	.gnttab_map_domain_grant_refs = xengnttab_map_domain_grant_refs,
	.gnttab_map_grant_ref_notify = xengnttab_map_grant_ref_notify,
	.gnttab_unmap = xengnttab_unmap,
	.evtchn_open = xenevtchn_open,
	.evtchn_close = xenevtchn_close,
	.evtchn_fd = xenevtchn_fd,
	.evtchn_bind_unbound_port = xenevtchn_bind_unbound_port,
	.evtchn_bind_interdomain = xenevtchn_bind_interdomain,
	.evtchn_notify = xenevtchn_notify,
	.evtchn_pending = xenevtchn_pending,
	.evtchn_unmask = xenevtchn_unmask,
	.evtchn_unbind = xenevtchn_unbind,
};

static const struct xl_xen_calls *xc = &xl_xen_real;

void xl_backend_xen_set_calls(const struct xl_xen_calls *c)
{
	xc = c ? c : &xl_xen_real;
}

/* Data pages of a channel with these orders, or 0 if out of range. */
static uint32_t xl_xen_data_pages(const uint32_t order[2])
{
	if (order[0] < XL_WIRE_MIN_ORDER || order[0] > XL_WIRE_MAX_ORDER ||
	    order[1] < XL_WIRE_MIN_ORDER || order[1] > XL_WIRE_MAX_ORDER)
		return 0;
	return (uint32_t)(((1ull << order[0]) + (1ull << order[1])) /
			  XL_WIRE_PAGE_SIZE);
}

static int xl_xen_check_orders(const uint32_t order[2], uint32_t *npages)
{
	*npages = xl_xen_data_pages(order);
	if (!*npages)
		return -EINVAL;
	if (1 + *npages > XL_XEN_MAX_PAGES)
		return -E2BIG;
	return 0;
}

/* Open both event-channel handles, nonblocking. */
static int xl_xen_open_evtchns(struct xl_xen *xx)
{
	int w, fd, flags;

	for (w = 0; w < 2; w++) {
		xx->xce[w] = xc->evtchn_open(NULL, 0);
		if (!xx->xce[w])
			return -errno;
		fd = xc->evtchn_fd(xx->xce[w]);
		flags = fcntl(fd, F_GETFL);
		if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
			return -errno;
	}
	return 0;
}

/* Side A: an unbound port per kind of sleeper, for domid to bind. */
static int xl_xen_bind_unbound(struct xl_xen *xx, uint32_t domid)
{
	xenevtchn_port_or_error_t port;
	int w;

	for (w = 0; w < 2; w++) {
		port = xc->evtchn_bind_unbound_port(xx->xce[w], domid);
		if (port < 0)
			return -errno;
		xx->port[w] = (evtchn_port_t)port;
		xx->bound[w] = true;
	}
	return 0;
}

/* Side B: bind to side A's ports. */
static int xl_xen_bind_remote(struct xl_xen *xx, uint32_t domid,
			      const uint32_t remote[2])
{
	xenevtchn_port_or_error_t port;
	int w;

	for (w = 0; w < 2; w++) {
		port = xc->evtchn_bind_interdomain(xx->xce[w], domid,
						   remote[w]);
		if (port < 0)
			return -errno;
		xx->port[w] = (evtchn_port_t)port;
		xx->bound[w] = true;
	}
	return 0;
}

static void xl_xen_close_evtchns(struct xl_xen *xx)
{
	int w;

	for (w = 0; w < 2; w++) {
		if (xx->bound[w])
			xc->evtchn_unbind(xx->xce[w], xx->port[w]);
		if (xx->xce[w])
			xc->evtchn_close(xx->xce[w]);
	}
}

/* Side A: grant the pages; the control page notifies on A's live byte. */
static int xl_xen_share(struct xl_chan *ch, struct xl_xen *xx,
			uint32_t domid, uint32_t *refs)
{
	uint32_t off = offsetof(struct xl_wire_ctrl, dir[0].p.live);

	xx->gntshr = xc->gntshr_open(NULL, 0);
	if (!xx->gntshr)
		return -errno;
	ch->ctrl = xc->gntshr_share_page_notify(xx->gntshr, domid, &refs[0],
						1, off, xx->port[XL_WAIT_DATA]);
	if (!ch->ctrl)
		return -errno;
	ch->data = xc->gntshr_share_pages(xx->gntshr, domid, (int)xx->npages,
					  refs + 1, 1);
	if (!ch->data)
		return -errno;
	return 0;
}

static void xl_xen_unshare(struct xl_chan *ch, struct xl_xen *xx)
{
	if (ch->data)
		xc->gntshr_unshare(xx->gntshr, ch->data, xx->npages);
	if (ch->ctrl)
		xc->gntshr_unshare(xx->gntshr, ch->ctrl, 1);
	if (xx->gntshr)
		xc->gntshr_close(xx->gntshr);
	ch->ctrl = NULL;
	ch->data = NULL;
}

static void xl_xen_free(struct xl_chan *ch)
{
	struct xl_xen *xx = ch->be;

	if (xx->gntshr)
		xl_xen_unshare(ch, xx);
	if (xx->gnttab) {
		if (ch->data)
			xc->gnttab_unmap(xx->gnttab, ch->data, xx->npages);
		if (ch->ctrl)
			xc->gnttab_unmap(xx->gnttab, ch->ctrl, 1);
		xc->gnttab_close(xx->gnttab);
	}
	xl_xen_close_evtchns(xx);
	free(xx);
	ch->be = NULL;
	ch->ctrl = NULL;
	ch->data = NULL;
}

static int xl_xen_create(struct xl_chan *ch, const struct xl_chan_params *p,
			 struct xl_chan_desc *desc)
{
	struct xl_xen *xx;
	uint32_t *refs;
	int ret;

	xx = calloc(1, sizeof(*xx));
	if (!xx)
		return -ENOMEM;
	ch->be = xx;
	ret = xl_xen_check_orders(p->order, &xx->npages);
	if (ret < 0)
		goto out_free;
	refs = calloc(1 + xx->npages, sizeof(*refs));
	if (!refs) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = xl_xen_open_evtchns(xx);
	if (ret == 0)
		ret = xl_xen_bind_unbound(xx, p->peer_domid);
	if (ret == 0)
		ret = xl_xen_share(ch, xx, p->peer_domid, refs);
	if (ret == 0)
		ret = xl_ring_ctrl_init(ch->ctrl, p->order[0], p->order[1]);
	if (ret < 0)
		goto out_free_refs;
	*desc = (struct xl_chan_desc){
		.kind = XL_BACKEND_XEN, .side = 1,
		.order = { p->order[0], p->order[1] },
	};
	desc->u.xen.port[0] = xx->port[0];
	desc->u.xen.port[1] = xx->port[1];
	desc->u.xen.nrefs = 1 + xx->npages;
	desc->u.xen.refs = refs;
	return 0;

out_free_refs:
	free(refs);
out_free:
	xl_xen_free(ch);
	return ret;
}

/* Side B: map the control page (notify on B's live byte) and the data. */
static int xl_xen_map(struct xl_chan *ch, struct xl_xen *xx,
		      const struct xl_chan_desc *desc)
{
	uint32_t off = offsetof(struct xl_wire_ctrl, dir[1].p.live);
	uint32_t domid = desc->u.xen.domid;

	xx->gnttab = xc->gnttab_open(NULL, 0);
	if (!xx->gnttab)
		return -errno;
	ch->ctrl = xc->gnttab_map_grant_ref_notify(xx->gnttab, domid,
						   desc->u.xen.refs[0],
						   PROT_READ | PROT_WRITE, off,
						   xx->port[XL_WAIT_DATA]);
	if (!ch->ctrl)
		return -errno;
	ch->data = xc->gnttab_map_domain_grant_refs(xx->gnttab, xx->npages,
						    domid,
						    desc->u.xen.refs + 1,
						    PROT_READ | PROT_WRITE);
	if (!ch->data)
		return -errno;
	return 0;
}

static int xl_xen_attach(struct xl_chan *ch, const struct xl_chan_desc *desc)
{
	struct xl_xen *xx;
	uint32_t npages;
	int ret;

	if (desc->kind != XL_BACKEND_XEN || desc->side != 1 ||
	    !desc->u.xen.refs)
		return -EINVAL;
	ret = xl_xen_check_orders(desc->order, &npages);
	if (ret < 0)
		return ret;
	if (desc->u.xen.nrefs != 1 + npages)
		return -EINVAL;
	xx = calloc(1, sizeof(*xx));
	if (!xx)
		return -ENOMEM;
	ch->be = xx;
	xx->npages = npages;
	ret = xl_xen_open_evtchns(xx);
	if (ret == 0)
		ret = xl_xen_bind_remote(xx, desc->u.xen.domid,
					 desc->u.xen.port);
	if (ret == 0)
		ret = xl_xen_map(ch, xx, desc);
	if (ret < 0) {
		xl_xen_free(ch);
		return ret;
	}
	ch->side = 1;
	return 0;
}

static int xl_xen_notify(struct xl_chan *ch, enum xl_wait w)
{
	struct xl_xen *xx = ch->be;

	if (xc->evtchn_notify(xx->xce[w], xx->port[w]) < 0)
		return -errno;
	return 0;
}

static int xl_xen_pollfds(struct xl_chan *ch, enum xl_wait w,
			  struct pollfd *pfd, int max)
{
	struct xl_xen *xx = ch->be;

	if (max < 1)
		return -EINVAL;
	pfd[0] = (struct pollfd){ .fd = xc->evtchn_fd(xx->xce[w]),
				  .events = POLLIN };
	return 1;
}

static int xl_xen_ack(struct xl_chan *ch, enum xl_wait w,
		      const struct pollfd *pfd, int n)
{
	struct xl_xen *xx = ch->be;
	xenevtchn_port_or_error_t port;

	if (!pfd || (n > 0 && pfd[0].revents)) {
		/* bounded: at most the ports this handle has, plus one */
		while ((port = xc->evtchn_pending(xx->xce[w])) >= 0)
			xc->evtchn_unmask(xx->xce[w], (evtchn_port_t)port);
	}
	/* the peer's unmap-notify (or its destroy) cleared its live byte */
	if (XL_READ_ONCE(ch->ctrl->dir[!ch->side].p.live) == XL_WIRE_DEAD)
		return -ECONNRESET;
	return 0;
}

static void xl_xen_destroy(struct xl_chan *ch)
{
	if (ch->ctrl) {
		XL_WRITE_ONCE(ch->ctrl->dir[ch->side].p.live, XL_WIRE_DEAD);
		/* live byte /before/ the peer wakes to look at it */
		xl_smp_mb();
		xl_xen_notify(ch, XL_WAIT_DATA);
		xl_xen_notify(ch, XL_WAIT_SPACE);
	}
	xl_xen_free(ch);
}

/*
 * A forked child may only close inherited handles (xengnttab.h,
 * xenevtchn.h): no unmap, no unbind, no notify. Its copies of the mappings
 * are dropped with the process, or at exec.
 */
static void xl_xen_forget(struct xl_chan *ch)
{
	struct xl_xen *xx = ch->be;
	int w;

	if (xx->gntshr)
		xc->gntshr_close(xx->gntshr);
	if (xx->gnttab)
		xc->gnttab_close(xx->gnttab);
	for (w = 0; w < 2; w++)
		if (xx->xce[w])
			xc->evtchn_close(xx->xce[w]);
	free(xx);
	ch->be = NULL;
	ch->ctrl = NULL;
	ch->data = NULL;
}

static void xl_xen_desc_release(struct xl_chan_desc *desc)
{
	free(desc->u.xen.refs);
	desc->u.xen.refs = NULL;
	desc->u.xen.nrefs = 0;
}

const struct xl_backend_ops xl_backend_xen = {
	.name = "xen",
	.kind = XL_BACKEND_XEN,
	.create = xl_xen_create,
	.attach = xl_xen_attach,
	.notify = xl_xen_notify,
	.pollfds = xl_xen_pollfds,
	.ack = xl_xen_ack,
	.destroy = xl_xen_destroy,
	.forget = xl_xen_forget,
	.desc_release = xl_xen_desc_release,
	.create_pair = NULL,
};
