/* SPDX-License-Identifier: MIT */
/*
 * The Xen transport: a channel between processes in two domains of one Xen
 * host.
 *
 * How this works
 *
 * Side A (create) offers the pages to exactly one peer domid through
 * gntalloc: the control page on its own, with an unmap-notify, and the data
 * of both directions as one run of pages. Side B (attach) maps them through
 * gntdev, its control-page mapping with an unmap-notify of its own. An
 * unmap-notify is the kernel's promise to clear one byte of the page and
 * raise one event when that mapping goes away, however the process ends;
 * each side points it at its own live byte (wire.h), so a peer process that
 * crashed reads as dead exactly like one that called destroy(). This is
 * libxenvchan's pattern, except that the grant references travel in the
 * descriptor, over the daemons' control channel, not through xenstore.
 *
 * Notification is two interdomain event channels, one per kind of sleeper
 * (enum xl_wait): A offers two unbound ports to the peer domid, B binds to
 * them. Each port lives in its own xenevtchn handle, so each kind of
 * sleeper has its own fd, and a thread that drains its handle after waking
 * can never swallow the event meant for a thread waiting for the other
 * kind. An unmap-notify names one port only: it names the DATA one, since a
 * receiver waiting for bytes is the usual sleeper. A sender asleep on a full
 * ring learns of a crashed peer from the live byte at its next periodic look
 * (xl_chan.c looks at least once a second); a clean destroy() kicks both.
 *
 * The event-channel fds are nonblocking, and ack() reads one only after
 * poll() said it is readable: xenevtchn.h warns that some kernels ignore
 * O_NONBLOCK there, and ack() must never sleep.
 *
 * Every library call goes through struct xl_xen_calls (xl_xen_calls.h) so
 * that the unit tests can run this file against fakes. The libraries report
 * failure as -1 or NULL with errno; each call site turns that into -errno
 * at once, before anything else can overwrite errno.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "xl_barrier.h"
#include "xl_chan.h"
#include "xl_xen_calls.h"
#include "xl_xen_dev.h"

/* Where side s's live byte is: what its unmap-notify clears. */
#define XL_XEN_LIVE_OFF(s)	offsetof(struct xl_wire_ctrl, dir[s].p.live)

/* Most events one ack() takes from a handle: a peer that kicks in a tight
 * loop must not keep us there. What is left keeps the fd readable, which
 * costs one spurious wake-up, never a lost one. */
#define XL_XEN_ACK_MAX		8

struct xl_xen {
	xengntshr_handle *gntshr;	/* side A: the grants we offer */
	xengnttab_handle *gnttab;	/* side B: the grants we map */
	xenevtchn_handle *xce[2];	/* by enum xl_wait */
	evtchn_port_t port[2];		/* our local ports, by enum xl_wait */
	uint32_t npages;		/* data pages, both directions */
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

/* -errno of the library call that just failed; never 0, even from a
 * library that forgot to set errno. */
static int xl_xen_err(void)
{
	return errno > 0 ? -errno : -EIO;
}

/* A real domain: the libraries pass domids on as 16 bits, so anything
 * larger would silently name another domain, and the reserved ids above
 * DOMID_FIRST_RESERVED are not peers. */
static bool xl_xen_domid_ok(uint32_t domid)
{
	return domid < DOMID_FIRST_RESERVED;
}

/* ---- event channels ---- */

static int xl_xen_set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static void xl_xen_evtchn_close(struct xl_xen *xx)
{
	int w;

	for (w = 1; w >= 0; w--) {
		if (xx->xce[w])
			xc->evtchn_close(xx->xce[w]);
		xx->xce[w] = NULL;
	}
}

/* One nonblocking handle per kind of sleeper: both or neither. The library
 * opens the device O_CLOEXEC by default, as P5 in STYLE.md wants. */
static int xl_xen_evtchn_open(struct xl_xen *xx)
{
	int w, ret;

	for (w = 0; w < 2; w++) {
		xx->xce[w] = xc->evtchn_open(NULL, 0);
		if (!xx->xce[w]) {
			ret = xl_xen_err();
			goto out_close;
		}
		ret = xl_xen_set_nonblock(xc->evtchn_fd(xx->xce[w]));
		if (ret < 0)
			goto out_close;
	}
	return 0;

out_close:
	xl_xen_evtchn_close(xx);
	return ret;
}

/* Unbind the first n ports, last bound first. */
static void xl_xen_unbind(struct xl_xen *xx, int n)
{
	while (n-- > 0)
		xc->evtchn_unbind(xx->xce[n], xx->port[n]);
}

/*
 * Bind one port in each handle: with remote NULL (side A) a port offered
 * unbound to domid, else (side B) one connected to domid's remote[w]. Each
 * new port is unmasked, as libxenvchan does, so that its first event is
 * delivered whatever state a kernel leaves a fresh binding in. Both or
 * neither.
 */
static int xl_xen_bind(struct xl_xen *xx, uint32_t domid,
		       const uint32_t *remote)
{
	xenevtchn_port_or_error_t port;
	int w, ret;

	for (w = 0; w < 2; w++) {
		if (remote)
			port = xc->evtchn_bind_interdomain(xx->xce[w], domid,
							   remote[w]);
		else
			port = xc->evtchn_bind_unbound_port(xx->xce[w], domid);
		if (port < 0) {
			ret = xl_xen_err();
			goto out_unbind;
		}
		xx->port[w] = (evtchn_port_t)port;
		if (xc->evtchn_unmask(xx->xce[w], xx->port[w]) < 0) {
			ret = xl_xen_err();
			xc->evtchn_unbind(xx->xce[w], xx->port[w]);
			goto out_unbind;
		}
	}
	return 0;

out_unbind:
	xl_xen_unbind(xx, w);
	return ret;
}

/* ---- grants ---- */

/*
 * Keep the mappings out of fork()ed children (P6 in STYLE.md): a child's
 * copy would hold the pages past our exit and so delay the unmap-notify
 * that tells the peer we are gone. Best effort: gntdev already refuses to
 * be copied, and a failure costs only that delay, not correctness.
 */
static void xl_xen_dontfork(struct xl_chan *ch, uint32_t npages)
{
	(void)madvise(ch->ctrl, XL_WIRE_CTRL_SIZE, MADV_DONTFORK);
	(void)madvise(ch->data, (size_t)npages * XL_WIRE_PAGE_SIZE,
		      MADV_DONTFORK);
}

/*
 * Side A: offer the control page, whose unmap-notify clears our live byte
 * and kicks the peer's data sleeper, then the data as one run of pages.
 * refs gets the control page's reference first, then the data's.
 */
static int xl_xen_share(struct xl_chan *ch, struct xl_xen *xx,
			uint32_t domid, uint32_t *refs)
{
	int ret;

	xx->gntshr = xc->gntshr_open(NULL, 0);
	if (!xx->gntshr)
		return xl_xen_err();
	ch->ctrl = xc->gntshr_share_page_notify(xx->gntshr, domid, &refs[0],
						1, XL_XEN_LIVE_OFF(0),
						xx->port[XL_WAIT_DATA]);
	if (!ch->ctrl) {
		ret = xl_xen_err();
		goto out_close_gntshr;
	}
	ch->data = xc->gntshr_share_pages(xx->gntshr, domid, (int)xx->npages,
					  &refs[1], 1);
	if (!ch->data) {
		ret = xl_xen_err();
		goto out_unshare_ctrl;
	}
	xl_xen_dontfork(ch, xx->npages);
	return 0;

out_unshare_ctrl:
	/* its unmap-notify fires into a port nobody has bound yet */
	xc->gntshr_unshare(xx->gntshr, ch->ctrl, 1);
	ch->ctrl = NULL;
out_close_gntshr:
	xc->gntshr_close(xx->gntshr);
	xx->gntshr = NULL;
	return ret;
}

static void xl_xen_unshare(struct xl_chan *ch, struct xl_xen *xx)
{
	xc->gntshr_unshare(xx->gntshr, ch->data, xx->npages);
	xc->gntshr_unshare(xx->gntshr, ch->ctrl, 1);
	xc->gntshr_close(xx->gntshr);
	xx->gntshr = NULL;
	ch->data = NULL;
	ch->ctrl = NULL;
}

/*
 * Side B: map the data pages, contiguous, then the control page, whose
 * unmap-notify clears our live byte and kicks the peer's data sleeper. In
 * that order, an attach that fails half-way never fires the notify: the
 * peer does not see us die before we ever lived.
 */
static int xl_xen_map(struct xl_chan *ch, struct xl_xen *xx,
		      const struct xl_chan_desc *desc)
{
	uint32_t domid = desc->u.xen.domid;
	int ret;

	xx->gnttab = xc->gnttab_open(NULL, 0);
	if (!xx->gnttab)
		return xl_xen_err();
	ch->data = xc->gnttab_map_domain_grant_refs(xx->gnttab, xx->npages,
						    domid, &desc->u.xen.refs[1],
						    PROT_READ | PROT_WRITE);
	if (!ch->data) {
		ret = xl_xen_err();
		goto out_close_gnttab;
	}
	ch->ctrl = xc->gnttab_map_grant_ref_notify(xx->gnttab, domid,
						   desc->u.xen.refs[0],
						   PROT_READ | PROT_WRITE,
						   XL_XEN_LIVE_OFF(1),
						   xx->port[XL_WAIT_DATA]);
	if (!ch->ctrl) {
		ret = xl_xen_err();
		goto out_unmap_data;
	}
	xl_xen_dontfork(ch, xx->npages);
	return 0;

out_unmap_data:
	xc->gnttab_unmap(xx->gnttab, ch->data, xx->npages);
	ch->data = NULL;
out_close_gnttab:
	xc->gnttab_close(xx->gnttab);
	xx->gnttab = NULL;
	return ret;
}

static void xl_xen_unmap(struct xl_chan *ch, struct xl_xen *xx)
{
	xc->gnttab_unmap(xx->gnttab, ch->ctrl, 1);
	xc->gnttab_unmap(xx->gnttab, ch->data, xx->npages);
	xc->gnttab_close(xx->gnttab);
	xx->gnttab = NULL;
	ch->ctrl = NULL;
	ch->data = NULL;
}

/* ---- ops ---- */

/*
 * What side B needs. The domid is side A's own, which a library cannot
 * learn (xenstore knows it, and only the daemon talks to xenstore): the
 * caller sets u.xen.domid before it hands the descriptor over. It starts
 * as DOMID_INVALID, so a caller that forgot gets -EINVAL from attach()
 * rather than a failure somewhere inside gntdev.
 */
static void xl_xen_desc_fill(struct xl_chan_desc *desc,
			     const struct xl_chan_params *p,
			     const struct xl_xen *xx, uint32_t *refs)
{
	*desc = (struct xl_chan_desc){
		.kind = XL_BACKEND_XEN,
		.side = 1,
		.order = { p->order[0], p->order[1] },
	};
	desc->u.xen.domid = DOMID_INVALID;
	desc->u.xen.port[XL_WAIT_DATA] = xx->port[XL_WAIT_DATA];
	desc->u.xen.port[XL_WAIT_SPACE] = xx->port[XL_WAIT_SPACE];
	desc->u.xen.nrefs = 1 + xx->npages;
	desc->u.xen.refs = refs;
}

static int xl_xen_create(struct xl_chan *ch, const struct xl_chan_params *p,
			 struct xl_chan_desc *desc)
{
	struct xl_xen *xx;
	uint32_t npages, *refs;
	int ret;

	if (!xl_xen_domid_ok(p->peer_domid))
		return -EINVAL;
	ret = xl_xen_dev_pages(p->order, &npages);
	if (ret < 0)
		return ret;
	xx = calloc(1, sizeof(*xx));
	if (!xx)
		return -ENOMEM;
	xx->npages = npages;
	refs = calloc(1 + npages, sizeof(*refs));
	if (!refs) {
		ret = -ENOMEM;
		goto out_free;
	}
	ret = xl_xen_evtchn_open(xx);
	if (ret < 0)
		goto out_free_refs;
	ret = xl_xen_bind(xx, p->peer_domid, NULL);
	if (ret < 0)
		goto out_close_evtchn;
	ret = xl_xen_share(ch, xx, p->peer_domid, refs);
	if (ret < 0)
		goto out_unbind;
	/* the peer cannot look yet: it learns the references from desc */
	ret = xl_ring_ctrl_init(ch->ctrl, p->order[0], p->order[1]);
	if (ret < 0)
		goto out_unshare;
	ch->be = xx;
	xl_xen_desc_fill(desc, p, xx, refs);
	return 0;

out_unshare:
	xl_xen_unshare(ch, xx);
out_unbind:
	xl_xen_unbind(xx, 2);
out_close_evtchn:
	xl_xen_evtchn_close(xx);
out_free_refs:
	free(refs);
out_free:
	free(xx);
	return ret;
}

/* Everything attach() relies on in desc, checked before anything is
 * acquired. The control page itself is xl_chan_attach()'s to check. */
static int xl_xen_desc_check(const struct xl_chan_desc *desc,
			     uint32_t *npages)
{
	int ret;

	if (desc->kind != XL_BACKEND_XEN || desc->side != 1)
		return -EINVAL;
	if (!xl_xen_domid_ok(desc->u.xen.domid) || !desc->u.xen.refs)
		return -EINVAL;
	/* one remote port cannot be bound twice */
	if (desc->u.xen.port[0] == desc->u.xen.port[1])
		return -EINVAL;
	ret = xl_xen_dev_pages(desc->order, npages);
	if (ret < 0)
		return ret;
	/* exactly the control page and the data of the agreed sizes */
	if (desc->u.xen.nrefs != 1 + *npages)
		return -EINVAL;
	return 0;
}

static int xl_xen_attach(struct xl_chan *ch, const struct xl_chan_desc *desc)
{
	struct xl_xen *xx;
	uint32_t npages;
	int ret;

	ret = xl_xen_desc_check(desc, &npages);
	if (ret < 0)
		return ret;
	xx = calloc(1, sizeof(*xx));
	if (!xx)
		return -ENOMEM;
	xx->npages = npages;
	ret = xl_xen_evtchn_open(xx);
	if (ret < 0)
		goto out_free;
	ret = xl_xen_bind(xx, desc->u.xen.domid, desc->u.xen.port);
	if (ret < 0)
		goto out_close_evtchn;
	ret = xl_xen_map(ch, xx, desc);
	if (ret < 0)
		goto out_unbind;
	ch->be = xx;
	ch->side = 1;
	return 0;

out_unbind:
	xl_xen_unbind(xx, 2);
out_close_evtchn:
	xl_xen_evtchn_close(xx);
out_free:
	free(xx);
	return ret;
}

static int xl_xen_notify(struct xl_chan *ch, enum xl_wait w)
{
	struct xl_xen *xx = ch->be;

	if ((unsigned int)w > XL_WAIT_SPACE)
		return -EINVAL;
	if (xc->evtchn_notify(xx->xce[w], xx->port[w]) < 0)
		return xl_xen_err();
	return 0;
}

static int xl_xen_pollfds(struct xl_chan *ch, enum xl_wait w,
			  struct pollfd *pfd, int max)
{
	struct xl_xen *xx = ch->be;

	if ((unsigned int)w > XL_WAIT_SPACE || max < 1)
		return -EINVAL;
	pfd[0] = (struct pollfd){ .fd = xc->evtchn_fd(xx->xce[w]),
				  .events = POLLIN };
	return 1;
}

/* Take what is queued on handle w, unmasking each port returned so that
 * the next kick is delivered; read only while poll() says there is
 * something (see the top of the file). */
static int xl_xen_drain(struct xl_xen *xx, enum xl_wait w)
{
	struct pollfd pfd = { .fd = xc->evtchn_fd(xx->xce[w]),
			      .events = POLLIN };
	xenevtchn_port_or_error_t port;
	int i, n;

	for (i = 0; i < XL_XEN_ACK_MAX; i++) {
		n = poll(&pfd, 1, 0);
		if (n < 0)
			return errno == EINTR ? 0 : -errno;
		if (n == 0 || !(pfd.revents & POLLIN))
			return 0;
		port = xc->evtchn_pending(xx->xce[w]);
		if (port < 0)
			return errno == EAGAIN ? 0 : xl_xen_err();
		if (xc->evtchn_unmask(xx->xce[w], (evtchn_port_t)port) < 0)
			return xl_xen_err();
	}
	return 0;
}

static int xl_xen_ack(struct xl_chan *ch, enum xl_wait w,
		      const struct pollfd *pfd, int n)
{
	int ret = 0;

	if ((unsigned int)w > XL_WAIT_SPACE)
		return -EINVAL;
	if (!pfd || (n > 0 && pfd[0].revents))
		ret = xl_xen_drain(ch->be, w);
	/* a peer that left, by destroy() or by its unmap-notify, cleared
	 * its live byte before it kicked */
	if (XL_READ_ONCE(ch->ctrl->dir[!ch->side].p.live) == XL_WIRE_DEAD)
		return -ECONNRESET;
	return ret;
}

/* Release in the reverse order of create()/attach(). */
static void xl_xen_destroy(struct xl_chan *ch)
{
	struct xl_xen *xx = ch->be;

	if (!xx)
		return;
	/* Say we are gone the way a crash would, then wake both of the
	 * peer's sleepers: the unmap-notify below kicks only one. */
	XL_WRITE_ONCE(ch->ctrl->dir[ch->side].p.live, XL_WIRE_DEAD);
	/* live byte /before/ the kicks that make the peer look at it */
	xl_smp_mb();
	xl_xen_notify(ch, XL_WAIT_DATA);
	xl_xen_notify(ch, XL_WAIT_SPACE);
	if (xx->gntshr)
		xl_xen_unshare(ch, xx);
	else
		xl_xen_unmap(ch, xx);
	xl_xen_unbind(xx, 2);
	xl_xen_evtchn_close(xx);
	free(xx);
	ch->be = NULL;
}

/*
 * In a fork()ed child, closing an inherited handle is the only safe call
 * (xengnttab.h, xenevtchn.h): no unshare, no unmap, no unbind, no kick.
 * The child has no copy of the mappings (xl_xen_dontfork), and closing
 * the handles only drops its references to files the parent still holds.
 */
static void xl_xen_forget(struct xl_chan *ch)
{
	struct xl_xen *xx = ch->be;

	if (!xx)
		return;
	if (xx->gntshr)
		xc->gntshr_close(xx->gntshr);
	if (xx->gnttab)
		xc->gnttab_close(xx->gnttab);
	xl_xen_evtchn_close(xx);
	free(xx);
	/* ch is left as it is (xl_chan_forget()) */
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
	/* a grant is offered by the process that maps it: no broker */
	.create_pair = NULL,
};
