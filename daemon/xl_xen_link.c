/* SPDX-License-Identifier: MIT */
/*
 * xenloopd in a Xen guest: see xl_xen_link.h and docs/xen.md §2.
 *
 * How this works
 *
 * Each tick (1 s) the guest bumps its advertisement, re-reads the table
 * dom0 wrote for it, and walks its peers. A peer it has no link with gets
 * one: the lower domid creates the link's channel (offered to the peer's
 * domid only) and publishes it; the higher one reads that node, attaches,
 * and publishes its answer. Either side takes the link down when the
 * other's node goes or changes generation, when the channel says the
 * other side is gone, on a malformed frame, or when the peer leaves the
 * table; the next tick builds a new one (a new generation, and a new
 * peer id for the matching table, so that no answer of the old link is
 * taken for one of the new).
 *
 * Between ticks, the links are read before every poll() and polled on
 * their data event channel: a frame needs no tick to be seen.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

#include "log.h"
#include "xenloop/xenloop_dev.h"
#include "xl_addr.h"
#include "xl_chan.h"
#include "xl_daemon.h"
#include "xl_xen_dev.h"
#include "xl_xen_fault.h"
#include "xl_xen_frame.h"
#include "xl_xen_guest.h"
#include "xl_xen_kmod.h"
#include "xl_xen_link.h"
#include "xl_xs.h"

#define XL_XLINK_ORDER		16u	/* 64 KiB each way: frames are small */
#define XL_XLINK_SEND_MS	200	/* a peer that reads nothing is down */
#define XL_XLINK_RBUF		XL_XFRAME_MAX_LEN
#define XL_XLINK_NODE		"data/xenloop/link"
/* a link's features node, next to it (xl_xen_frame.h: enum xl_xfeat) */
#define XL_XLINK_FEAT_NODE	"data/xenloop/feat"
#define XL_XLINK_VAL_MAX	(32 + 12 * 40)
/* Ticks an offerer's link may be up (the peer mapped it) before the
 * peer's answer node must be there. */
#define XL_XLINK_ANSWER_TICKS	5
#define XL_XLINK_SELF_TOKEN	"xl-self"
/* How long a channel of the module waits for its other half (an OFFER's
 * REPLY, a REPLY's turn to be sent) before we let go of our copy. */
#define XL_XKPEND_MS		30000

/* Our copy of the grant fd a channel's process mapped, and where the
 * channel's unmap-notify is: what a restore needs (xl_xgrant_unnotify). */
struct xl_xgrant {
	int mem;			/* -1: none */
	uint32_t side;
	uint64_t offset;
};

enum xl_xlink_state {
	XL_XLINK_DOWN = 0,
	XL_XLINK_WAIT,		/* offered, the peer has not answered */
	XL_XLINK_UP,
};

struct xl_xpeer {
	struct xl_xpeer *next;
	uint32_t domid;
	uint32_t id;			/* the matching table's peer id */
	bool in_table;
	enum xl_xlink_state st;
	struct xl_chan *ch;
	/* the daemon half of ch (xl_xen_dev.c): its grant, and our end of
	 * its liveness pair */
	struct xl_xgrant grant;
	int keep;
	int fault_slot;			/* xl_xen_fault_guard(), or -1 */
	uint64_t gen;			/* the link's generation */
	uint64_t bad_gen;		/* attacher: a generation that failed */
	unsigned int unanswered;	/* offerer, up: ticks without the
					 * peer's answer node (0: it came) */
	int offer_err;			/* offerer: why the last try failed */
	uint32_t feats;			/* what its daemon takes (XL_XFEAT_*),
					 * read as the link comes up */
	size_t rlen;
	uint8_t rbuf[XL_XLINK_RBUF];
};

/* The daemon's hold on one connection's channel, which a process maps. */
struct xl_xkeep {
	int fd;			/* our end of its liveness pair */
	uint32_t domid;
	/* copies of the grant-device and event-channel fds the process got,
	 * for a restore (xl_keep_void); negative where none could be made */
	struct xl_xgrant grant;
	int evt[2];
	bool kmod;		/* a channel of the module: nothing to keep */
	uint32_t own_pages, peer_pages;	/* kmod: what it holds (status) */
};

/*
 * A connection's channel of the module between OFFER and REPLY. The
 * offering side (out) holds a copy of its channel fd until the REPLY's
 * references let it ACCEPT; the answering side (!out) holds its own
 * references until its REPLY goes. Either lets go after XL_XKPEND_MS.
 */
struct xl_xkpend {
	struct xl_xkpend *next;
	bool out;
	uint32_t peer_id;	/* the matching table's id of the link */
	uint64_t offer_id;
	int chan;		/* out: our copy, else -1 */
	uint32_t order[2];
	uint64_t since_ms;
	uint32_t nrefs;		/* !out: our references */
	uint32_t refs[XL_XEN_KMOD_MAX_PAGES];
};

struct xl_xen_gd {
	struct xs_handle *xs;
	struct xl_xen_guest_state g;
	struct xl_xpeer *peers;
	struct xl_xkeep *keep;
	size_t nkeep, capkeep;
	uint64_t next_gen;
	/* event-channel files of a domain we were before a restore: open
	 * for as long as we live (xl_keep_void) */
	size_t nstale;
	/* /dev/xenloop, or -1: connections on the stock devices */
	int kdev;
	bool kpeer_mmap;
	struct xl_xkpend *kpend;
};

/* ---- xenstore ---- */

static void xl_xlink_path_of(char *buf, size_t len, const char *node,
			     uint32_t owner, uint32_t peer)
{
	snprintf(buf, len, "/local/domain/%u/%s/%u", owner, node, peer);
}

static void xl_xlink_path(char *buf, size_t len, uint32_t owner,
			  uint32_t peer)
{
	xl_xlink_path_of(buf, len, XL_XLINK_NODE, owner, peer);
}

/* Our node (of the kind node) for peer: ours, readable by peer and
 * nobody else. */
static int xl_xlink_publish_at(struct xl_xen_gd *x, const char *node,
			       uint32_t peer, const char *val)
{
	struct xs_permissions perms[2] = {
		{ .id = x->g.self, .perms = XS_PERM_NONE },
		{ .id = peer, .perms = XS_PERM_READ },
	};
	char path[96];

	xl_xlink_path_of(path, sizeof(path), node, x->g.self, peer);
	if (!xs_write(x->xs, XBT_NULL, path, val, (unsigned int)strlen(val)) ||
	    !xs_set_permissions(x->xs, XBT_NULL, path, perms, 2)) {
		xs_rm(x->xs, XBT_NULL, path);
		return errno ? -errno : -EIO;
	}
	return 0;
}

static int xl_xlink_publish(struct xl_xen_gd *x, uint32_t peer,
			    const char *val)
{
	return xl_xlink_publish_at(x, XL_XLINK_NODE, peer, val);
}

static void xl_xlink_unpublish(struct xl_xen_gd *x, uint32_t peer)
{
	char path[96];

	xl_xlink_path(path, sizeof(path), x->g.self, peer);
	xs_rm(x->xs, XBT_NULL, path);
	xl_xlink_path_of(path, sizeof(path), XL_XLINK_FEAT_NODE, x->g.self,
			 peer);
	xs_rm(x->xs, XBT_NULL, path);
}

/*
 * Our features node for peer, written before our link or answer node, so
 * that the peer finds it once it sees the link. A failure costs only the
 * features: the peer takes us for a daemon that has none.
 */
static void xl_xfeat_publish(struct xl_xen_gd *x, uint32_t peer)
{
	char val[XL_XFEAT_VAL_MAX + 1];
	int ret;

	xl_xfeat_format(val, sizeof(val), x->kdev >= 0 ? XL_XFEAT_KMOD : 0);
	ret = xl_xlink_publish_at(x, XL_XLINK_FEAT_NODE, peer, val);
	if (ret < 0)
		log_warnx("link with domain %u: cannot publish our features: "
			  "%s", peer, strerror(-ret));
}

/* The peer's features node for us: none (an older daemon) or a
 * malformed one is no feature. */
static uint32_t xl_xfeat_read_peer(struct xl_xen_gd *x, uint32_t peer)
{
	uint32_t feats = 0;
	char path[96], *val;
	unsigned int len;

	xl_xlink_path_of(path, sizeof(path), XL_XLINK_FEAT_NODE, peer,
			 x->g.self);
	val = xs_read(x->xs, XBT_NULL, path, &len);
	if (val && (len > XL_XFEAT_VAL_MAX || xl_xfeat_parse(val, &feats)))
		feats = 0;
	free(val);
	return feats;
}

/* The peer's node for us, NUL-terminated, or NULL (errno says why). */
static char *xl_xlink_read_peer(struct xl_xen_gd *x, uint32_t peer)
{
	char path[96], *val;
	unsigned int len;

	xl_xlink_path(path, sizeof(path), peer, x->g.self);
	errno = 0;
	val = xs_read(x->xs, XBT_NULL, path, &len);
	if (val && len > XL_XLINK_VAL_MAX) {
		free(val);
		errno = EPROTO;
		return NULL;
	}
	return val;
}

/* ---- the grants of channels, for a restore ---- */

/* Hold a copy of the grant fd of desc (kind XENDEV). */
static int xl_xgrant_hold(struct xl_xgrant *g, const struct xl_chan_desc *desc)
{
	int fd = xl_keeper_dup(desc->u.xendev.mem);

	g->mem = fd < 0 ? -1 : fd;
	g->side = desc->side;
	g->offset = desc->u.xendev.offset;
	return fd < 0 ? fd : 0;
}

/*
 * Our domain was restored: take the channel's unmap-notify off through
 * our copy (xl_xen_dev_unnotify, docs/xen.md §4). what and domid name the
 * channel in the warning, should that fail.
 */
static void xl_xgrant_unnotify(const struct xl_xgrant *g, const char *what,
			       uint32_t domid)
{
	int ret = g->mem < 0 ? -EBADF :
		  xl_xen_dev_unnotify(g->mem, g->side, g->offset);

	if (ret < 0)
		log_warnx("%s with domain %u: cannot take its unmap-notify "
			  "off (%s): its unmap may oops", what, domid,
			  strerror(-ret));
}

/* ---- the liveness ends of connections ---- */

/* Hold the connection whose channel desc (kind XENDEV) is: fd, our end of
 * its liveness pair, and copies of its device fds. */
static void xl_keep_add(struct xl_xen_gd *x, uint32_t domid, int fd,
			const struct xl_chan_desc *desc)
{
	struct xl_xkeep *k;
	size_t cap;
	int ret;

	if (x->nkeep == x->capkeep) {
		cap = x->capkeep ? 2 * x->capkeep : 64;
		k = realloc(x->keep, cap * sizeof(*k));
		if (!k) {
			/* the process then sees its peer as gone at once:
			 * a reset, never a hang */
			close(fd);
			return;
		}
		x->keep = k;
		x->capkeep = cap;
	}
	k = &x->keep[x->nkeep++];
	*k = (struct xl_xkeep){ .fd = fd, .domid = domid };
	if (desc->kind == XL_BACKEND_XENKMOD) {
		/* the module voids it at a suspend: nothing of it is ours */
		k->kmod = true;
		k->grant.mem = k->evt[0] = k->evt[1] = -1;
		if (xl_xen_kmod_pages(desc->order[desc->side],
				      &k->own_pages) < 0 ||
		    xl_xen_kmod_pages(desc->order[!desc->side],
				      &k->peer_pages) < 0)
			k->own_pages = k->peer_pages = 0;
		return;
	}
	ret = xl_xgrant_hold(&k->grant, desc);
	k->evt[0] = xl_keeper_dup(desc->u.xendev.evt[0]);
	k->evt[1] = xl_keeper_dup(desc->u.xendev.evt[1]);
	if (ret < 0 || k->evt[0] < 0 || k->evt[1] < 0)
		log_warnx("a connection with domain %u: cannot keep its fds "
			  "(%s): a restore of this guest would harm it",
			  domid, strerror(errno));
}

/* tell: the peer domain is gone (a byte the process reads as a reset);
 * else the end only closes, which the process takes as "unwatched" */
static void xl_keep_drop(struct xl_xen_gd *x, size_t i, bool tell)
{
	struct xl_xkeep *k = &x->keep[i];

	if (tell)
		(void)!write(k->fd, &(char){ XL_XEN_DEV_PEER_GONE }, 1);
	close(k->fd);
	xl_keeper_close(&k->grant.mem);
	xl_keeper_close(&k->evt[0]);
	xl_keeper_close(&k->evt[1]);
	x->keep[i] = x->keep[--x->nkeep];
}

/*
 * Our domain was restored: a connection's channel is void on both sides.
 * Its process's mapping must not fire its unmap-notify when it goes, and
 * its event-channel files must never be released (xl_xen_dev_unnotify,
 * docs/xen.md §4): we take the notify off through our copy of the grant
 * fd, and keep our copies of the event-channel files for good, so that
 * the process's close is never the last. Then we tell it RESTORED: it
 * puts its own memory where the ring was before it touches it again.
 */
static void xl_keep_void(struct xl_xen_gd *x, size_t i)
{
	struct xl_xkeep *k = &x->keep[i];

	if (k->kmod) {
		/* the module took everything away before the suspend:
		 * the process only hears that its ring is void */
		(void)!write(k->fd, &(char){ XL_XEN_DEV_RESTORED }, 1);
		xl_keep_drop(x, i, false);
		return;
	}
	xl_xgrant_unnotify(&k->grant, "a connection", k->domid);
	x->nstale += (k->evt[0] >= 0) + (k->evt[1] >= 0);
	k->evt[0] = k->evt[1] = -1;	/* never closed */
	/* the process puts memory of its own where the ring was */
	(void)!write(k->fd, &(char){ XL_XEN_DEV_RESTORED }, 1);
	xl_keep_drop(x, i, false);
}

/* Is domain domid gone? Its own directory, which we may not read while
 * it lives (EACCES), reads ENOENT once it is destroyed. */
static bool xl_domain_gone(struct xl_xen_gd *x, uint32_t domid)
{
	char path[48];
	unsigned int len;
	char *val;

	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	errno = 0;
	val = xs_read(x->xs, XBT_NULL, path, &len);
	free(val);
	return !val && errno == ENOENT;
}

/*
 * Close the ends whose process let go of its channel (its end hung up),
 * and every end of a domain that is gone: their processes' sleepers wake
 * with a reset instead of waiting forever for a dead domain.
 */
static void xl_keep_sweep(struct xl_xen_gd *x)
{
	uint32_t gone[16];
	unsigned int ngone = 0, j;
	struct pollfd pfd;
	bool checked;
	size_t i;

	for (i = 0; i < x->nkeep;) {
		pfd = (struct pollfd){ .fd = x->keep[i].fd, .events = POLLIN };
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR))) {
			xl_keep_drop(x, i, false);
			continue;
		}
		i++;
	}
	/* one xenstore read per peer domain that still has connections
	 * (not per connection: 500 of them made xenstored, in one vCPU of
	 * dom0, so slow that dom0's discovery took the guests' adverts for
	 * stale and the links went down) */
	for (i = 0; i < x->nkeep; i++) {
		checked = false;
		for (j = 0; j < ngone; j++)
			if ((gone[j] & ~0x80000000u) == x->keep[i].domid)
				checked = true;
		if (checked || ngone == 16)
			continue;
		if (xl_domain_gone(x, x->keep[i].domid)) {
			log_info("domain %u is gone: ending its connections",
				 x->keep[i].domid);
			gone[ngone++] = x->keep[i].domid;
		} else {
			/* alive: mark as checked with an impossible id */
			gone[ngone++] = x->keep[i].domid | 0x80000000u;
		}
	}
	for (i = 0; i < x->nkeep;) {
		for (j = 0; j < ngone; j++)
			if (gone[j] == x->keep[i].domid)
				break;
		if (j < ngone) {
			xl_keep_drop(x, i, true);
			continue;
		}
		i++;
	}
}

/* ---- links ---- */

static struct xl_xen_gd *xl_x(struct xl_daemon *d)
{
	return d->xen;
}

static void xl_xlink_fds_close(struct xl_xpeer *xp)
{
	xl_keeper_close(&xp->grant.mem);
	xl_keeper_close(&xp->keep);
}

/* Our domain was restored: the link's channel is void, and its pages
 * (the peer's, on side 1) are gone from our page tables. Touch nothing of
 * it: the notify comes off through our grant fd, then the mapping goes
 * and its event-channel files stay (xl_chan_abandon, xl_keep_void). */
static void xl_xlink_abandon(struct xl_xen_gd *x, struct xl_xpeer *xp)
{
	xl_xgrant_unnotify(&xp->grant, "the link", xp->domid);
	xl_chan_abandon(xp->ch);
	x->nstale += 2;
}

/* The peer's pages of the link (side 1), which a restore takes away:
 * guard their whole mapping, as the xendev transport made it. */
static void xl_xlink_guard_ring(struct xl_xpeer *xp,
				const struct xl_chan_desc *desc)
{
	uint32_t npages;
	int ret;

	ret = xl_xen_dev_pages(desc->order, &npages);
	if (ret == 0)
		ret = xl_xen_fault_guard(xp->ch->ctrl, XL_WIRE_CTRL_SIZE +
					 (size_t)npages * XL_WIRE_PAGE_SIZE,
					 xp->grant.mem, desc->side,
					 xp->grant.offset);
	xp->fault_slot = ret < 0 ? -1 : ret;
	if (ret < 0)
		log_warnx("link with domain %u: its ring is unguarded (%s)",
			  xp->domid, strerror(-ret));
}

/* The link's channel from the daemon half's descriptor (kind XENDEV):
 * we are its process too. Takes keep; desc keeps its fds. */
static int xl_xlink_attach_chan(struct xl_xpeer *xp,
				const struct xl_chan_desc *desc, int keep)
{
	int ret;

	xp->keep = keep;
	ret = xl_xgrant_hold(&xp->grant, desc);
	if (ret < 0) {
		xl_xlink_fds_close(xp);
		return ret;
	}
	ret = xl_chan_attach(&xp->ch, desc, 0);
	if (ret < 0) {
		xp->ch = NULL;
		xl_xlink_fds_close(xp);
		return ret;
	}
	if (desc->side == 1)
		xl_xlink_guard_ring(xp, desc);
	return 0;
}

/* Unguard, then destroy or abandon (restored) the link's channel, then
 * close our fds of it. */
static void xl_xlink_chan_end(struct xl_xen_gd *x, struct xl_xpeer *xp,
			      bool restored)
{
	xl_xen_fault_forget(xp->fault_slot);
	xp->fault_slot = -1;
	if (restored)
		xl_xlink_abandon(x, xp);
	else
		xl_chan_destroy(xp->ch);
	xp->ch = NULL;
	xl_xlink_fds_close(xp);
}

/* restored: our domain was restored, and the link's channel with it */
static void xl_xlink_end(struct xl_daemon *d, struct xl_xpeer *xp,
			 const char *why, bool restored)
{
	struct xl_xen_gd *x = xl_x(d);

	if (xp->st == XL_XLINK_DOWN)
		return;
	log_info("link with domain %u down (%s)", xp->domid, why);
	xl_match_peer_gone(d->match, xp->id);
	xl_match_offers_drop(d->match, xp->id);
	xl_xlink_chan_end(x, xp, restored);
	xp->st = XL_XLINK_DOWN;
	xp->rlen = 0;
	xp->id = 0;
	xl_xlink_unpublish(x, xp->domid);
}

static void xl_xlink_down(struct xl_daemon *d, struct xl_xpeer *xp,
			  const char *why)
{
	/* a link that goes down may be the first sign of a restore (a ring
	 * of zeroes: xl_xen_fault.h): then it must be abandoned */
	xl_xlink_guard(d);
	xl_xlink_end(d, xp, why, false);
}

static void xl_xlink_up(struct xl_daemon *d, struct xl_xpeer *xp)
{
	int ret = xl_chan_tx_open(xp->ch, 0);

	if (ret < 0 && ret != -EALREADY) {
		xl_xlink_down(d, xp, strerror(-ret));
		return;
	}
	xp->st = XL_XLINK_UP;
	xp->id = xl_daemon_id(d);
	xp->unanswered = 1;
	/* the peer wrote it before the node that brought us here */
	xp->feats = xl_xfeat_read_peer(xl_x(d), xp->domid);
	log_info("link with domain %u up (generation %" PRIu64 ")%s",
		 xp->domid, xp->gen,
		 xp->feats & XL_XFEAT_KMOD ? ", its daemon takes the module's "
		 "channels" : "");
}

/* The offer is tried again every tick until it works (the grant budget
 * may come back): say why once, not every second. */
static void xl_xlink_offer_failed(struct xl_xpeer *xp, const char *what,
				  int err)
{
	if (xp->offer_err == err)
		return;
	xp->offer_err = err;
	log_warnx("link with domain %u: %s: %s (tried again every tick)",
		  xp->domid, what, strerror(-err));
}

/* Lower domid: make the link's channel and publish it. */
static void xl_xlink_offer_link(struct xl_daemon *d, struct xl_xpeer *xp)
{
	struct xl_xen_gd *x = xl_x(d);
	const uint32_t order[2] = { XL_XLINK_ORDER, XL_XLINK_ORDER };
	uint32_t refs[XL_XEN_DEV_MAX_REFS], nrefs, i;
	struct xl_chan_desc desc;
	char val[XL_XLINK_VAL_MAX + 1];
	size_t off;
	int keep, ret;

	ret = xl_xen_dev_offer(xp->domid, order, &desc, refs, &nrefs, &keep);
	if (ret == 0) {
		ret = xl_xlink_attach_chan(xp, &desc, keep);
		xl_backend_xendev.desc_release(&desc);
	}
	if (ret < 0) {
		xl_xlink_offer_failed(xp, "cannot make its channel", ret);
		return;
	}
	xp->gen = ++x->next_gen;
	xl_xfeat_publish(x, xp->domid);
	off = (size_t)snprintf(val, sizeof(val), "1 %" PRIu64 " %u %u %u",
			       xp->gen, desc.u.xendev.port[0],
			       desc.u.xendev.port[1], nrefs);
	for (i = 0; i < nrefs && off < sizeof(val); i++)
		off += (size_t)snprintf(val + off, sizeof(val) - off, " %u",
					refs[i]);
	ret = off < sizeof(val) ? xl_xlink_publish(x, xp->domid, val) :
				  -E2BIG;
	if (ret < 0) {
		xl_xlink_offer_failed(xp, "cannot publish it", ret);
		xl_xlink_chan_end(x, xp, false);
		return;
	}
	xp->offer_err = 0;
	xp->st = XL_XLINK_WAIT;
	log_debug("link with domain %u offered (generation %" PRIu64 ")",
		  xp->domid, xp->gen);
}

/* The link's node as the offerer wrote it, into desc (refs allocated). */
static int xl_xlink_parse_offer(const char *val, uint64_t *gen,
				struct xl_chan_desc *desc)
{
	uint32_t order[2] = { XL_XLINK_ORDER, XL_XLINK_ORDER }, npages;
	int ret;

	if (xl_xen_dev_pages(order, &npages) < 0)
		return -EPROTO;
	memset(desc, 0, sizeof(*desc));
	desc->kind = XL_BACKEND_XEN;
	desc->side = 1;
	desc->order[0] = order[0];
	desc->order[1] = order[1];
	desc->u.xen.nrefs = 1 + npages;
	desc->u.xen.refs = calloc(1 + npages, sizeof(uint32_t));
	if (!desc->u.xen.refs)
		return -ENOMEM;
	ret = xl_xlink_node_parse(val, 1 + npages, gen, desc->u.xen.port,
				  desc->u.xen.refs);
	if (ret < 0) {
		free(desc->u.xen.refs);
		desc->u.xen.refs = NULL;
	}
	return ret;
}

/* Higher domid: attach to the link the peer published, if a new one. */
static void xl_xlink_attach_link(struct xl_daemon *d, struct xl_xpeer *xp)
{
	struct xl_xen_gd *x = xl_x(d);
	struct xl_chan_desc desc, dev;
	char ans[48], *val;
	uint64_t gen;
	int keep, ret;

	val = xl_xlink_read_peer(x, xp->domid);
	if (!val)
		return;		/* its daemon is not there (yet) */
	ret = xl_xlink_parse_offer(val, &gen, &desc);
	free(val);
	if (ret < 0 || gen == xp->bad_gen) {
		if (ret < 0 && ret != -ENOMEM)
			log_debug("link from domain %u: malformed", xp->domid);
		return;
	}
	ret = xl_xen_dev_map(xp->domid, desc.order, desc.u.xen.refs,
			     desc.u.xen.nrefs, desc.u.xen.port, &dev, &keep);
	xl_chan_desc_release(&desc);
	if (ret == 0) {
		ret = xl_xlink_attach_chan(xp, &dev, keep);
		xl_backend_xendev.desc_release(&dev);
	}
	if (ret < 0) {
		log_warnx("link from domain %u: cannot attach: %s", xp->domid,
			  strerror(-ret));
		xp->bad_gen = gen;
		return;
	}
	xp->gen = gen;
	xl_xfeat_publish(x, xp->domid);
	snprintf(ans, sizeof(ans), "1 %" PRIu64, gen);
	ret = xl_xlink_publish(x, xp->domid, ans);
	if (ret < 0) {
		log_warnx("link from domain %u: cannot answer: %s", xp->domid,
			  strerror(-ret));
		xl_xlink_chan_end(x, xp, false);
		return;
	}
	xp->st = XL_XLINK_WAIT;
	xl_xlink_up(d, xp);
}

/* Is the link still the one both sides published? */
static bool xl_xlink_peer_holds(struct xl_xen_gd *x, struct xl_xpeer *xp)
{
	char *val = xl_xlink_read_peer(x, xp->domid);
	struct xl_chan_desc desc;
	uint64_t g = 0;
	int ret;

	if (!val)
		return false;
	if (x->g.self < xp->domid) {
		ret = xl_xlink_answer_parse(val, &g);
	} else {
		ret = xl_xlink_parse_offer(val, &g, &desc);
		if (ret == 0)
			free(desc.u.xen.refs);
	}
	free(val);
	return ret == 0 && g == xp->gen;
}

static void xl_xlink_check(struct xl_daemon *d, struct xl_xpeer *xp)
{
	struct xl_xen_gd *x = xl_x(d);
	bool offerer = x->g.self < xp->domid;

	if (!xp->in_table) {
		xl_xlink_down(d, xp, "no longer in our table");
		return;
	}
	switch (xp->st) {
	case XL_XLINK_DOWN:
		if (offerer)
			xl_xlink_offer_link(d, xp);
		else
			xl_xlink_attach_link(d, xp);
		break;
	case XL_XLINK_WAIT:
		if (xl_xlink_peer_holds(x, xp))
			xl_xlink_up(d, xp);
		break;
	case XL_XLINK_UP:
		if (!xl_chan_peer_live(xp->ch)) {
			xl_xlink_down(d, xp, "its daemon went away");
		} else if (xl_xlink_peer_holds(x, xp)) {
			xp->unanswered = 0;
		} else if (!xp->unanswered ||
			   ++xp->unanswered > XL_XLINK_ANSWER_TICKS) {
			/* an answer that went, or never came */
			xl_xlink_down(d, xp, "its node went or changed");
		}
		break;
	}
}

static struct xl_xpeer *xl_xpeer_get(struct xl_xen_gd *x, uint32_t domid)
{
	struct xl_xpeer *xp;

	for (xp = x->peers; xp; xp = xp->next)
		if (xp->domid == domid)
			return xp;
	xp = calloc(1, sizeof(*xp));
	if (!xp)
		return NULL;
	xp->domid = domid;
	xp->grant.mem = xp->keep = xp->fault_slot = -1;
	xp->next = x->peers;
	x->peers = xp;
	return xp;
}

/* ---- channels of the module between OFFER and REPLY ---- */

static struct xl_xkpend *xl_xkpend_take(struct xl_xen_gd *x, bool out,
					uint32_t peer_id, uint64_t offer_id)
{
	struct xl_xkpend **pp, *p;

	for (pp = &x->kpend; (p = *pp); pp = &p->next) {
		if (p->out == out && p->peer_id == peer_id &&
		    p->offer_id == offer_id) {
			*pp = p->next;
			return p;
		}
	}
	return NULL;
}

static void xl_xkpend_free(struct xl_xkpend *p)
{
	if (p->chan >= 0)
		close(p->chan);
	free(p);
}

/* Let go of what waited too long (all of it: now_ms 0 and all). */
static void xl_xkpend_expire(struct xl_xen_gd *x, bool all)
{
	uint64_t now = xl_now_ms();
	struct xl_xkpend **pp = &x->kpend, *p;

	while ((p = *pp)) {
		if (all || now - p->since_ms > XL_XKPEND_MS) {
			*pp = p->next;
			xl_xkpend_free(p);
			continue;
		}
		pp = &p->next;
	}
}

static struct xl_xkpend *xl_xkpend_new(struct xl_xen_gd *x, bool out,
				       uint32_t peer_id, uint64_t offer_id)
{
	struct xl_xkpend *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->out = out;
	p->peer_id = peer_id;
	p->offer_id = offer_id;
	p->chan = -1;
	p->since_ms = xl_now_ms();
	p->next = x->kpend;
	x->kpend = p;
	return p;
}

/* ---- frames ---- */

static int xl_xframe_send(struct xl_xpeer *xp, const struct xl_xframe *f,
			  const uint32_t *refs)
{
	struct iovec iov[2] = {
		{ .iov_base = (void *)f, .iov_len = sizeof(*f) },
		{ .iov_base = (void *)refs,
		  .iov_len = (size_t)f->nrefs * sizeof(uint32_t) },
	};
	ssize_t n;

	if (xp->st != XL_XLINK_UP)
		return -ENOTCONN;
	n = xl_chan_send(xp->ch, iov, f->nrefs ? 2 : 1, 0, XL_XLINK_SEND_MS);
	if (n < 0)
		return (int)n;
	return (size_t)n == sizeof(*f) + iov[1].iov_len ? 0 : -EPIPE;
}

static void xl_xframe_reply(struct xl_daemon *d, struct xl_xpeer *xp,
			    uint64_t id, uint32_t status)
{
	struct xl_xframe f = { .len = sizeof(f), .type = XL_XFRAME_REPLY };
	int ret;

	f.id = id;
	f.status = (int32_t)status;
	ret = xl_xframe_send(xp, &f, NULL);
	if (ret < 0 && xp->st == XL_XLINK_UP)
		xl_xlink_down(d, xp, "cannot send");
}

/* What an OFFER or KOFFER frame f from xp offers, in o; -1 (answered
 * PROTOCOL) if its addresses are not ones a connection can have. */
static int xl_xframe_offer(struct xl_daemon *d, struct xl_xpeer *xp,
			   const struct xl_xframe *f, struct xl_offer *o)
{
	o->client = f->client;
	o->server = f->server;
	o->order[0] = f->order[0];
	o->order[1] = f->order[1];
	if (xl_addr_normalize(&o->client) || xl_addr_normalize(&o->server)) {
		xl_xframe_reply(d, xp, f->id, XL_REASON_PROTOCOL);
		return -1;
	}
	return 0;
}

/* An OFFER from xp: map its grants for the server's process. */
static void xl_xframe_on_offer(struct xl_daemon *d, struct xl_xpeer *xp,
			       const struct xl_xframe *f,
			       const uint32_t *refs)
{
	struct xl_offer o = { .from = xp->id, .id = f->id };
	struct xl_chan_desc desc;
	int keep, ret;

	if (xl_xframe_offer(d, xp, f, &o) < 0)
		return;
	ret = xl_xen_dev_map(xp->domid, f->order, refs, f->nrefs, f->port,
			     &desc, &keep);
	if (ret < 0) {
		log_warnx("offer %" PRIu64 " from domain %u: cannot map it: "
			  "%s", f->id, xp->domid, strerror(-ret));
		xl_xframe_reply(d, xp, f->id, ret == -EINVAL ?
				XL_REASON_PROTOCOL : XL_REASON_RESOURCES);
		return;
	}
	xl_keep_add(xl_x(d), xp->domid, keep, &desc);
	xl_peer_take_fds(&desc, &o.fds);
	xl_peer_take_offer(d, &o);
}

/*
 * A KOFFER from xp: connect to its channel through the module (which maps
 * its pages and grants ours) for the server's process; our references go
 * back with the REPLY that accepts it (xl_xlink_reply).
 */
static void xl_xframe_on_koffer(struct xl_daemon *d, struct xl_xpeer *xp,
				const struct xl_xframe *f,
				const uint32_t *refs)
{
	struct xl_offer o = { .from = xp->id, .id = f->id };
	struct xl_xen_gd *x = xl_x(d);
	struct xl_chan_desc desc;
	struct xl_xkpend *p;
	int chan = -1, pair[2] = { -1, -1 }, ret;

	if (xl_xframe_offer(d, xp, f, &o) < 0)
		return;
	if (x->kdev < 0) {
		/* the offering guest has the module, we do not: TCP */
		xl_xframe_reply(d, xp, f->id, XL_REASON_RESOURCES);
		return;
	}
	p = xl_xkpend_new(x, false, xp->id, f->id);
	if (!p) {
		xl_xframe_reply(d, xp, f->id, XL_REASON_RESOURCES);
		return;
	}
	ret = xl_xen_kmod_connect(x->kdev, xp->domid, f->order, refs,
				  f->nrefs, f->port[0], &chan, p->refs,
				  &p->nrefs);
	if (ret == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
				   SOCK_CLOEXEC, 0, pair) < 0)
		ret = -errno;
	if (ret == 0)
		ret = xl_xen_kmod_desc(&desc, 1, f->order, chan, pair[0],
				       x->kpeer_mmap);
	if (chan >= 0)
		close(chan);	/* the process's copy holds it from now */
	if (pair[0] >= 0)
		close(pair[0]);
	if (ret < 0) {
		log_warnx("offer %" PRIu64 " from domain %u: cannot connect "
			  "its channel: %s", f->id, xp->domid, strerror(-ret));
		if (pair[1] >= 0)
			close(pair[1]);
		xl_xkpend_free(xl_xkpend_take(x, false, xp->id, f->id));
		xl_xframe_reply(d, xp, f->id, ret == -EINVAL ?
				XL_REASON_PROTOCOL : XL_REASON_RESOURCES);
		return;
	}
	xl_keep_add(x, xp->domid, pair[1], &desc);
	xl_peer_take_fds(&desc, &o.fds);
	xl_peer_take_offer(d, &o);
}

/* A REPLY from xp; an acceptance of our KOFFER carries its references,
 * with which we complete the channel before its process gets it. */
static void xl_xframe_on_reply(struct xl_daemon *d, struct xl_xpeer *xp,
			       const struct xl_xframe *f,
			       const uint32_t *refs)
{
	struct xl_xkpend *p = xl_xkpend_take(xl_x(d), true, xp->id, f->id);
	int32_t status = f->status;
	int ret;

	if (p && status == XL_REASON_NONE) {
		ret = f->nrefs ? xl_xen_kmod_accept(xl_x(d)->kdev, p->chan,
						    p->order, refs, f->nrefs) :
			-EPROTO;
		if (ret < 0) {
			log_warnx("offer %" PRIu64 " to domain %u: cannot "
				  "accept its channel: %s", f->id, xp->domid,
				  strerror(-ret));
			status = ret == -EPROTO || ret == -EINVAL ?
				XL_REASON_PROTOCOL : XL_REASON_RESOURCES;
		}
	} else if (!p && f->nrefs) {
		status = XL_REASON_PROTOCOL;	/* references for no KOFFER */
	}
	if (p)
		xl_xkpend_free(p);
	xl_peer_answer(d, xp->id, f->id, status);
}

/* The frames in xp's buffer; -EPROTO ends the link. */
static int xl_xframe_parse(struct xl_daemon *d, struct xl_xpeer *xp)
{
	uint32_t refs[XL_XFRAME_MAX_REFS];
	const uint8_t *at;
	struct xl_xframe f;
	size_t off = 0;
	int n;

	while (xp->st == XL_XLINK_UP) {
		n = xl_xframe_next(xp->rbuf + off, xp->rlen - off, &f, &at);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		memcpy(refs, at, f.nrefs * sizeof(uint32_t));
		if (f.type == XL_XFRAME_REPLY)
			xl_xframe_on_reply(d, xp, &f, refs);
		else if (f.type == XL_XFRAME_KOFFER)
			xl_xframe_on_koffer(d, xp, &f, refs);
		else
			xl_xframe_on_offer(d, xp, &f, refs);
		off += (size_t)n;
	}
	memmove(xp->rbuf, xp->rbuf + off, xp->rlen - off);
	xp->rlen -= off;
	return 0;
}

/* Everything the link holds now. */
static void xl_xlink_read(struct xl_daemon *d, struct xl_xpeer *xp)
{
	struct iovec iov;
	ssize_t n;

	while (xp->st == XL_XLINK_UP) {
		iov.iov_base = xp->rbuf + xp->rlen;
		iov.iov_len = sizeof(xp->rbuf) - xp->rlen;
		n = xl_chan_recv(xp->ch, &iov, 1, XL_CHAN_NONBLOCK, 0);
		if (n == -EAGAIN)
			return;
		if (n <= 0) {
			xl_xlink_down(d, xp, n == 0 ? "end of stream" :
				      strerror((int)-n));
			return;
		}
		xp->rlen += (size_t)n;
		if (xl_xframe_parse(d, xp) < 0) {
			log_warnx("link with domain %u: malformed frame",
				  xp->domid);
			xl_xlink_down(d, xp, "protocol");
			return;
		}
	}
}

/* ---- the daemon's hooks ---- */

void xl_xlink_start(struct xl_daemon *d)
{
	struct xl_xen_gd *x = calloc(1, sizeof(*x));
	uint32_t self;
	int ret;

	if (!x)
		fatal("calloc");
	x->xs = xs_open(0);
	if (!x->xs)
		fatal("--xen: cannot open xenstore");
	ret = xl_xen_guest_self(&xl_xs_xen, x->xs, &self);
	if (ret < 0)
		fatalx("--xen: cannot read our domid from xenstore: %s",
		       strerror(-ret));
	xl_xen_guest_init(&x->g, &xl_xs_xen, x->xs, self);
	/* a generation nobody saw: from the clock, as a restarted daemon
	 * must not reuse its predecessor's */
	x->next_gen = (uint64_t)time(NULL) << 20;
	ret = xl_xen_fault_install();
	if (ret < 0)
		fatalx("--xen: cannot handle faults: %s", strerror(-ret));
	/* relative: it fires once now, and once more at every resume */
	if (!xs_watch(x->xs, "domid", XL_XLINK_SELF_TOKEN))
		log_warnx("cannot watch our domid (%s): a restore is seen "
			  "at the next tick only", strerror(errno));
	x->kdev = d->conf.xen_kmod ? xl_xen_kmod_open(&x->kpeer_mmap) :
		-ECANCELED;
	if (x->kdev >= 0)
		log_info("connections through the kernel module (%s%s)",
			 XL_XEN_KMOD_DEV, x->kpeer_mmap ? "" :
			 "; PV: the peer's pages are read with PEEK");
	else
		log_info("%s: connections on the stock devices "
			 "(gntalloc's budget, docs/xen.md §3)",
			 x->kdev == -ECANCELED ? "xen_kmod = no" :
			 strerror(-x->kdev));
	d->xen = x;
	log_info("Xen guest mode: domain %u", self);
}

/*
 * Our domid changed: the guest was saved and restored, or migrated. Every
 * grant and event channel of the old domain is void, on both sides: links
 * and connections alike. The processes hear it (a reset of their rings,
 * then the kernel's word on their connections), and we start over as the
 * new domain that dom0 sees appear.
 */
static void xl_xlink_void_all(struct xl_daemon *d)
{
	struct xl_xen_gd *x = xl_x(d);
	struct xl_xpeer *xp;

	/* all of it before anything binds a port of the new domain: a
	 * notify of the old one would put that port */
	while (x->nkeep)
		xl_keep_void(x, x->nkeep - 1);
	/* channels of the module half made: void too */
	xl_xkpend_expire(x, true);
	/* down, and out of the table: the next tick frees them (a caller
	 * may still hold one) */
	for (xp = x->peers; xp; xp = xp->next) {
		xl_xlink_end(d, xp, "our domid changed", true);
		xp->in_table = false;
	}
	if (x->nstale)
		log_info("holding %zu event-channel files of the domains we "
			 "were for good (Linux cannot release them after a "
			 "restore)", x->nstale);
}

static void xl_xlink_renumber(struct xl_daemon *d, uint32_t self)
{
	struct xl_xen_gd *x = xl_x(d);

	log_info("our domid changed from %u to %u (restored or migrated): "
		 "ending every link and connection of the old one",
		 x->g.self, self);
	xl_xlink_void_all(d);
	xl_xen_guest_init(&x->g, &xl_xs_xen, x->xs, self);
}

/* Has our domid changed? Then start over as the new domain. */
static void xl_xlink_self_check(struct xl_daemon *d)
{
	struct xl_xen_gd *x = xl_x(d);
	uint32_t self;

	if (xl_xen_guest_self(&xl_xs_xen, x->xs, &self) == 0 &&
	    self != x->g.self)
		xl_xlink_renumber(d, self);
}

void xl_xlink_guard(struct xl_daemon *d)
{
	struct xl_xen_gd *x = xl_x(d);
	bool fired = false, fault = xl_xen_fault_seen();
	uint32_t self = x->g.self;
	char **ev;

	while ((ev = xs_check_watch(x->xs)) != NULL) {
		free(ev);
		fired = true;
	}
	if (!fired && !fault)
		return;
	xl_xlink_self_check(d);
	if (fault && x->g.self == self) {
		/* only a restore takes our mapping away; xenstore may not
		 * say so yet (the tick renumbers when it does) */
		log_info("a link ring faulted: our domain was restored; "
			 "ending every link and connection of the old one");
		xl_xlink_void_all(d);
	}
}

void xl_xlink_tick(struct xl_daemon *d)
{
	struct xl_xen_gd *x = xl_x(d);
	struct xl_xpeer *xp, **pp;
	unsigned int i;
	int ret;

	/* "domid" is relative: it reads the domain we are now */
	xl_xlink_guard(d);
	xl_xlink_self_check(d);
	ret = xl_xen_guest_advertise(&x->g);
	if (ret < 0)
		log_warnx("cannot advertise in xenstore: %s", strerror(-ret));
	xl_xen_guest_refresh(&x->g);	/* no table: no peers */
	for (xp = x->peers; xp; xp = xp->next)
		xp->in_table = false;
	for (i = 0; i < x->g.npeers; i++) {
		xp = xl_xpeer_get(x, x->g.peers[i].domid);
		if (xp)
			xp->in_table = true;
	}
	for (xp = x->peers; xp; xp = xp->next)
		xl_xlink_check(d, xp);
	pp = &x->peers;
	while ((xp = *pp)) {
		if (xp->in_table || xp->st != XL_XLINK_DOWN) {
			pp = &xp->next;
			continue;
		}
		*pp = xp->next;
		free(xp);
	}
	xl_keep_sweep(x);
	xl_xkpend_expire(x, false);
}

int xl_xlink_pollfds(struct xl_daemon *d, struct pollfd *pfd, void **obj,
		     int max, bool *now)
{
	struct xl_xen_gd *x = xl_x(d);
	struct xl_xpeer *xp;
	int n = 0, k;

	xl_xlink_guard(d);
	/* first, so that dispatch sees the watch before any link */
	if (max > 0) {
		pfd[n] = (struct pollfd){ .fd = xs_fileno(x->xs),
					  .events = POLLIN };
		obj[n++] = NULL;
	}
	for (xp = x->peers; xp; xp = xp->next) {
		/* the offerer: only the peer's domain can have mapped our
		 * pages, and it may already be sending on the link (its
		 * answer node, which the tick checks, can wait) */
		if (xp->st == XL_XLINK_WAIT && xp->ch &&
		    xl_chan_tx_peer_attached(xp->ch))
			xl_xlink_up(d, xp);
		if (xp->st != XL_XLINK_UP)
			continue;
		xl_xlink_read(d, xp);
		if (xp->st != XL_XLINK_UP || n >= max)
			continue;
		/* ask for a kick, then look again (xl_ring.h) */
		if (!xl_ring_rx_prepare_sleep(&xp->ch->rx))
			*now = true;
		k = xl_chan_pollfds(xp->ch, XL_WAIT_DATA, pfd + n, max - n);
		while (k-- > 0)
			obj[n++] = xp;
	}
	return n;
}

void xl_xlink_input(struct xl_daemon *d, void *obj, const struct pollfd *pfd)
{
	struct xl_xpeer *xp = obj, *p;

	xl_xlink_guard(d);
	if (!xp)
		return;		/* the watch: xl_xlink_guard() read it */
	/* only a link still in the list: one taken down meanwhile is
	 * still there (freed at the next tick only) */
	for (p = xl_x(d)->peers; p && p != xp; p = p->next)
		;
	if (!p || xp->st != XL_XLINK_UP)
		return;
	if (xl_chan_ack(xp->ch, XL_WAIT_DATA, pfd, 1) == -ECONNRESET) {
		xl_xlink_down(d, xp, "its daemon went away");
		return;
	}
	xl_xlink_read(d, xp);
}

struct xl_xpeer *xl_xlink_lookup(struct xl_daemon *d,
				 const struct xl_ctl_addr *remote,
				 bool any_link, uint32_t *reason)
{
	struct xl_xen_gd *x = xl_x(d);
	struct xl_xpeer *xp;
	uint32_t domid;

	*reason = XL_REASON_NOT_PEER;
	if (xl_xen_guest_lookup(&x->g, remote, &domid) < 0)
		return NULL;
	for (xp = x->peers; xp; xp = xp->next)
		if (xp->domid == domid)
			break;
	if (!xp || (!any_link && xp->st != XL_XLINK_UP)) {
		/* co-resident, but its daemon is not (yet) linked */
		*reason = XL_REASON_PEER_DOWN;
		return NULL;
	}
	*reason = XL_REASON_NONE;
	return xp;
}

/* xl_xlink_offer() through the module: a KOFFER, and the client's side
 * of the channel held until the REPLY lets us complete it. */
static uint32_t xl_xlink_koffer(struct xl_daemon *d, struct xl_xpeer *xp,
				struct xl_reg *reg, const uint32_t order[2])
{
	uint32_t refs[XL_XEN_KMOD_MAX_PAGES], nrefs, port;
	struct xl_xframe f = { .type = XL_XFRAME_KOFFER };
	struct xl_xen_gd *x = xl_x(d);
	struct xl_match_fds side0;
	struct xl_chan_desc desc;
	struct xl_xkpend *p;
	int chan = -1, pair[2] = { -1, -1 }, ret;

	ret = xl_xen_kmod_offer(x->kdev, xp->domid, order, &chan, &port,
				refs, &nrefs);
	if (ret == 0 && socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
				   SOCK_CLOEXEC, 0, pair) < 0)
		ret = -errno;
	if (ret == 0)
		ret = xl_xen_kmod_desc(&desc, 0, order, chan, pair[0],
				       x->kpeer_mmap);
	if (pair[0] >= 0)
		close(pair[0]);
	p = ret == 0 ? xl_xkpend_new(x, true, xp->id, d->next_offer + 1) :
		NULL;
	if (!p) {
		log_warnx("cannot offer a channel to domain %u: %s",
			  xp->domid, strerror(ret < 0 ? -ret : ENOMEM));
		if (ret == 0)
			xl_backend_xenkmod.desc_release(&desc);
		if (chan >= 0)
			close(chan);
		if (pair[1] >= 0)
			close(pair[1]);
		return XL_REASON_RESOURCES;
	}
	p->chan = chan;
	p->order[0] = order[0];
	p->order[1] = order[1];
	f.id = ++d->next_offer;
	f.len = (uint32_t)(sizeof(f) + nrefs * sizeof(uint32_t));
	f.order[0] = order[0];
	f.order[1] = order[1];
	f.port[0] = port;
	f.nrefs = nrefs;
	f.client = reg->local;
	f.server = reg->remote;
	ret = xl_xframe_send(xp, &f, refs);
	if (ret < 0) {
		xl_xkpend_free(xl_xkpend_take(x, true, xp->id, f.id));
		xl_backend_xenkmod.desc_release(&desc);
		close(pair[1]);
		xl_xlink_down(d, xp, "cannot send");
		return XL_REASON_PEER_DOWN;
	}
	xl_keep_add(x, xp->domid, pair[1], &desc);
	xl_peer_take_fds(&desc, &side0);
	ret = xl_match_client_wait(d->match, reg, xp->id, f.id, order, &side0,
				   xl_now_ms());
	if (ret < 0) {
		xl_peer_fds_close(&side0);
		return XL_REASON_RESOURCES;
	}
	log_debug("cookie %llu of pid %u: module channel offer %llu sent to "
		  "domain %u", (unsigned long long)reg->cookie, reg->pid,
		  (unsigned long long)f.id, xp->domid);
	return XL_REASON_NONE;
}

uint32_t xl_xlink_offer(struct xl_daemon *d, struct xl_xpeer *xp,
			struct xl_reg *reg)
{
	uint32_t order[2] = { d->conf.ring_order, d->conf.ring_order };
	uint32_t refs[XL_XEN_DEV_MAX_REFS], nrefs;
	struct xl_xframe f = { .type = XL_XFRAME_OFFER };
	struct xl_match_fds side0;
	struct xl_chan_desc desc;
	int keep, ret;

	if (!xl_match_can_wait(d->match))
		return XL_REASON_RESOURCES;
	if (xl_x(d)->kdev >= 0 && (xp->feats & XL_XFEAT_KMOD)) {
		/* only to a daemon that said it takes them: an older one
		 * ends the link on a KOFFER, one without the module answers
		 * it with TCP. The module's channels are smaller: a side
		 * has at most XL_XEN_KMOD_MAX_PAGES */
		if (order[0] > XL_XEN_KMOD_MAX_ORDER)
			order[0] = order[1] = XL_XEN_KMOD_MAX_ORDER;
		return xl_xlink_koffer(d, xp, reg, order);
	}
	ret = xl_xen_dev_offer(xp->domid, order, &desc, refs, &nrefs, &keep);
	if (ret < 0) {
		log_warnx("cannot offer a channel to domain %u: %s",
			  xp->domid, strerror(-ret));
		return XL_REASON_RESOURCES;
	}
	f.id = ++d->next_offer;
	f.len = (uint32_t)(sizeof(f) + nrefs * sizeof(uint32_t));
	f.order[0] = order[0];
	f.order[1] = order[1];
	f.port[0] = desc.u.xendev.port[0];
	f.port[1] = desc.u.xendev.port[1];
	f.nrefs = nrefs;
	f.client = reg->local;
	f.server = reg->remote;
	ret = xl_xframe_send(xp, &f, refs);
	if (ret < 0) {
		xl_backend_xendev.desc_release(&desc);
		close(keep);
		xl_xlink_down(d, xp, "cannot send");
		return XL_REASON_PEER_DOWN;
	}
	/* first: the take leaves desc without fds */
	xl_keep_add(xl_x(d), xp->domid, keep, &desc);
	xl_peer_take_fds(&desc, &side0);
	ret = xl_match_client_wait(d->match, reg, xp->id, f.id, order, &side0,
				   xl_now_ms());
	if (ret < 0) {
		/* its liveness end hangs up: the sweep drops our hold */
		xl_peer_fds_close(&side0);
		return XL_REASON_RESOURCES;
	}
	log_debug("cookie %llu of pid %u: offer %llu sent to domain %u",
		  (unsigned long long)reg->cookie, reg->pid,
		  (unsigned long long)f.id, xp->domid);
	return XL_REASON_NONE;
}

bool xl_xlink_reply(struct xl_daemon *d, uint32_t from, uint64_t offer_id,
		    uint32_t status)
{
	struct xl_xpeer *xp;

	if (!d->xen)
		return false;
	struct xl_xkpend *p;

	for (xp = xl_x(d)->peers; xp; xp = xp->next) {
		if (xp->id != from || xp->st != XL_XLINK_UP)
			continue;
		p = xl_xkpend_take(xl_x(d), false, from, offer_id);
		if (p && status == XL_REASON_NONE) {
			/* an acceptance of a KOFFER: our references */
			struct xl_xframe f = { .type = XL_XFRAME_REPLY,
					       .id = offer_id,
					       .nrefs = p->nrefs };

			f.len = (uint32_t)(sizeof(f) +
					   p->nrefs * sizeof(uint32_t));
			if (xl_xframe_send(xp, &f, p->refs) < 0)
				xl_xlink_down(d, xp, "cannot send");
		} else {
			xl_xframe_reply(d, xp, offer_id, status);
		}
		if (p)
			xl_xkpend_free(p);
		return true;
	}
	return false;
}

void xl_xlink_stop(struct xl_daemon *d)
{
	struct xl_xen_gd *x = xl_x(d);
	struct xl_xpeer *xp;

	if (!x)
		return;
	while ((xp = x->peers)) {
		x->peers = xp->next;
		xl_xlink_down(d, xp, "shutting down");
		free(xp);
	}
	/* the processes keep their rings: only a dead domain ends them */
	while (x->nkeep)
		xl_keep_drop(x, x->nkeep - 1, false);
	xl_xkpend_expire(x, true);
	if (x->kdev >= 0)
		close(x->kdev);
	free(x->keep);
	xl_xen_guest_withdraw(&x->g);
	xs_close(x->xs);
	free(x);
	d->xen = NULL;
}

int xl_xlink_kmod_stat(struct xl_daemon *d, struct xl_xlink_kmod *st)
{
	struct xl_xen_gd *x = xl_x(d);
	struct xldev_version v;
	size_t i;

	if (!x || x->kdev < 0)
		return -ENODEV;
	memset(st, 0, sizeof(*st));
	/* a channel's keep lives as long as its connection (the sweep
	 * drops it when the process closes its end) */
	for (i = 0; i < x->nkeep; i++) {
		if (!x->keep[i].kmod)
			continue;
		st->channels++;
		st->grants += x->keep[i].own_pages;
		st->mapped += x->keep[i].peer_pages;
	}
	st->evtchns = st->channels;
	if (ioctl(x->kdev, XLDEV_IOC_VERSION, &v) == 0)
		st->budget = v.budget;
	return 0;
}

void xl_xlink_foreach(struct xl_daemon *d, xl_xlink_fn *fn, void *arg)
{
	static const char *const names[] = { "down", "offered", "up" };
	const struct xl_xen_guest_state *g;
	struct xl_xpeer *xp;
	unsigned int i;

	if (!d->xen)
		return;
	g = &xl_x(d)->g;
	for (xp = xl_x(d)->peers; xp; xp = xp->next) {
		for (i = 0; i < g->npeers && g->peers[i].domid != xp->domid;
		     i++)
			;
		if (i < g->npeers)
			fn(arg, xp->domid, names[xp->st], g->peers[i].ip,
			   g->peers[i].nip);
		else
			fn(arg, xp->domid, names[xp->st], NULL, 0);
	}
}
