/* SPDX-License-Identifier: MIT */
/*
 * xenloopd's half of the xendev transport: see xl_xen_dev.h.
 *
 * The kernel's device interfaces are used directly rather than through
 * libxengnttab/libxenevtchn: those libraries hide their fds, and the whole
 * point here is a fd per channel that can be given away.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xl_chan.h"
#include "xl_ring.h"
#include "xl_xen_uapi.h"
#include "xl_xen_dev.h"

#define XL_DEV_GNTALLOC	"/dev/xen/gntalloc"
#define XL_DEV_GNTDEV	"/dev/xen/gntdev"
#define XL_DEV_EVTCHN	"/dev/xen/evtchn"

/* Where side s's live byte is: what its unmap-notify clears. */
#define XL_DEV_LIVE_OFF(s)	offsetof(struct xl_wire_ctrl, dir[s].p.live)

/* Below DOMID_FIRST_RESERVED: a real domain, and one that fits 16 bits. */
#define XL_DEV_DOMID_MAX	0x7fefu

int xl_xen_dev_pages(const uint32_t order[2], uint32_t *npages)
{
	uint64_t pages;

	if (order[0] < XL_WIRE_MIN_ORDER || order[0] > XL_WIRE_MAX_ORDER ||
	    order[1] < XL_WIRE_MIN_ORDER || order[1] > XL_WIRE_MAX_ORDER)
		return -EINVAL;
	pages = ((1ull << order[0]) + (1ull << order[1])) / XL_WIRE_PAGE_SIZE;
	if (1 + pages > XL_XEN_DEV_MAX_REFS)
		return -E2BIG;
	*npages = (uint32_t)pages;
	return 0;
}

void xl_xen_dev_desc_init(struct xl_chan_desc *desc, uint32_t side,
			  const uint32_t order[2])
{
	memset(desc, 0, sizeof(*desc));
	desc->kind = XL_BACKEND_XENDEV;
	desc->side = side;
	desc->order[0] = order[0];
	desc->order[1] = order[1];
	desc->u.xendev.mem = -1;
	desc->u.xendev.evt[0] = desc->u.xendev.evt[1] = -1;
	desc->u.xendev.hup = -1;
}

static int xl_dev_open(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/*
 * An evtchn fd that may bind only with peer, with one port bound: to a
 * fresh unbound port offered to peer (rport NULL), or to peer's *rport.
 */
static int xl_dev_evtchn(uint32_t peer, const uint32_t *rport, int *fd,
			 uint32_t *port)
{
	struct ioctl_evtchn_restrict_domid rd = { .domid = (domid_t)peer };
	int ret, flags;

	*fd = xl_dev_open(XL_DEV_EVTCHN);
	if (*fd < 0)
		return *fd;
	if (rport) {
		struct ioctl_evtchn_bind_interdomain bi = {
			.remote_domain = peer, .remote_port = *rport };

		ret = ioctl(*fd, IOCTL_EVTCHN_BIND_INTERDOMAIN, &bi);
	} else {
		struct ioctl_evtchn_bind_unbound_port bu = {
			.remote_domain = peer };

		ret = ioctl(*fd, IOCTL_EVTCHN_BIND_UNBOUND_PORT, &bu);
	}
	if (ret < 0) {
		ret = -errno;
		goto out_close;
	}
	*port = (uint32_t)ret;
	/* What the process can do with the fd: bind with this peer only
	 * (a restricted fd may not offer unbound ports at all, hence after
	 * the bind; what is bound stays bound). Kernels before 4.11 lack it
	 * (ENOTTY): the fd stays unrestricted. */
	if (ioctl(*fd, IOCTL_EVTCHN_RESTRICT_DOMID, &rd) < 0 &&
	    errno != ENOTTY) {
		ret = -errno;
		goto out_close;
	}
	flags = fcntl(*fd, F_GETFL);
	if (flags < 0 || fcntl(*fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		ret = -errno;
		goto out_close;
	}
	return 0;

out_close:
	close(*fd);
	*fd = -1;
	return ret;
}

static int xl_dev_evtchns(uint32_t peer, const uint32_t *rport,
			  struct xl_chan_desc *desc)
{
	unsigned int w;
	int ret;

	for (w = 0; w < 2; w++) {
		ret = xl_dev_evtchn(peer, rport ? &rport[w] : NULL,
				    &desc->u.xendev.evt[w],
				    &desc->u.xendev.port[w]);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* The liveness pair: one end for the process, one the daemon keeps. */
static int xl_dev_hup(struct xl_chan_desc *desc, int *keep)
{
	int pair[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
		       pair) < 0)
		return -errno;
	desc->u.xendev.hup = pair[0];
	*keep = pair[1];
	return 0;
}

/* Allocate 1 + npages grants for peer on desc's gntalloc fd. */
static int xl_dev_alloc(uint32_t peer, uint32_t count,
			struct xl_chan_desc *desc, uint32_t *refs)
{
	struct ioctl_gntalloc_alloc_gref *op;
	size_t len = sizeof(*op) + (count - 1) * sizeof(op->gref_ids[0]);
	int ret = 0;

	op = calloc(1, len);
	if (!op)
		return -ENOMEM;
	op->domid = (uint16_t)peer;
	op->flags = GNTALLOC_FLAG_WRITABLE;
	op->count = count;
	if (ioctl(desc->u.xendev.mem, IOCTL_GNTALLOC_ALLOC_GREF, op) < 0) {
		ret = -errno;
	} else {
		desc->u.xendev.offset = op->index;
		memcpy(refs, op->gref_ids, count * sizeof(refs[0]));
	}
	free(op);
	return ret;
}

/* The control page, through a mapping of our own for the moment. */
static int xl_dev_init_ctrl(const struct xl_chan_desc *desc)
{
	void *mem = mmap(NULL, XL_WIRE_CTRL_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED, desc->u.xendev.mem,
			 (off_t)desc->u.xendev.offset);
	int ret;

	if (mem == MAP_FAILED)
		return -errno;
	ret = xl_ring_ctrl_init(mem, desc->order[0], desc->order[1]);
	munmap(mem, XL_WIRE_CTRL_SIZE);
	return ret;
}

/* The process's unmap-notify: when its mapping of the grant goes, clear
 * the side's live byte and kick the peer's data port. gntalloc's and
 * gntdev's requests take the same three fields. */
_Static_assert(sizeof(struct ioctl_gntalloc_unmap_notify) ==
	       sizeof(struct ioctl_gntdev_unmap_notify),
	       "one layout for both unmap-notify requests");

static int xl_dev_notify(const struct xl_chan_desc *desc, unsigned long req)
{
	struct ioctl_gntdev_unmap_notify un = {
		.index = desc->u.xendev.offset + XL_DEV_LIVE_OFF(desc->side),
		.action = UNMAP_NOTIFY_CLEAR_BYTE | UNMAP_NOTIFY_SEND_EVENT,
		.event_channel_port = desc->u.xendev.port[XL_WAIT_DATA],
	};

	return ioctl(desc->u.xendev.mem, req, &un) < 0 ? -errno : 0;
}

int xl_xen_dev_unnotify(int mem, uint32_t side, uint64_t offset)
{
	struct ioctl_gntdev_unmap_notify un = {
		.index = offset + XL_DEV_LIVE_OFF(side), .action = 0 };

	if (ioctl(mem, side ? IOCTL_GNTDEV_SET_UNMAP_NOTIFY :
		  IOCTL_GNTALLOC_SET_UNMAP_NOTIFY, &un) < 0)
		return -errno;
	return 0;
}

static int xl_dev_finish(struct xl_chan_desc *desc, int *keep, int ret)
{
	if (ret < 0) {
		xl_backend_xendev.desc_release(desc);
		if (*keep >= 0)
			close(*keep);
		*keep = -1;
	}
	return ret;
}

/*
 * What both sides start with: desc for side, the data pages, the event
 * channels (fresh unbound ports, or bound to rport), and the grant device
 * dev opened. nrefs, the peer's reference count (side 1), is checked
 * before anything is opened. On failure everything is released (desc all
 * -1).
 */
static int xl_dev_begin(uint32_t peer, uint32_t side, const uint32_t order[2],
			uint32_t nrefs, const uint32_t *rport,
			const char *dev, struct xl_chan_desc *desc, int *keep,
			uint32_t *npages)
{
	int ret;

	*keep = -1;
	xl_xen_dev_desc_init(desc, side, order);
	ret = xl_xen_dev_pages(order, npages);
	if (ret < 0)
		return ret;
	if (peer > XL_DEV_DOMID_MAX || (side == 1 && nrefs != 1 + *npages))
		return -EINVAL;
	ret = xl_dev_evtchns(peer, rport, desc);
	if (ret < 0)
		return xl_dev_finish(desc, keep, ret);
	desc->u.xendev.mem = xl_dev_open(dev);
	if (desc->u.xendev.mem < 0)
		return xl_dev_finish(desc, keep, desc->u.xendev.mem);
	return 0;
}

int xl_xen_dev_offer(uint32_t peer, const uint32_t order[2],
		     struct xl_chan_desc *desc, uint32_t *refs,
		     uint32_t *nrefs, int *keep)
{
	uint32_t npages;
	int ret;

	ret = xl_dev_begin(peer, 0, order, 0, NULL, XL_DEV_GNTALLOC, desc,
			   keep, &npages);
	if (ret < 0)
		return ret;
	ret = xl_dev_alloc(peer, 1 + npages, desc, refs);
	if (ret == 0)
		ret = xl_dev_init_ctrl(desc);
	if (ret == 0)
		ret = xl_dev_notify(desc, IOCTL_GNTALLOC_SET_UNMAP_NOTIFY);
	if (ret == 0)
		ret = xl_dev_hup(desc, keep);
	*nrefs = 1 + npages;
	return xl_dev_finish(desc, keep, ret);
}

int xl_xen_dev_map(uint32_t peer, const uint32_t order[2],
		   const uint32_t *refs, uint32_t nrefs,
		   const uint32_t rport[2], struct xl_chan_desc *desc,
		   int *keep)
{
	struct ioctl_gntdev_map_grant_ref *op;
	uint32_t npages, i;
	size_t len;
	int ret;

	ret = xl_dev_begin(peer, 1, order, nrefs, rport, XL_DEV_GNTDEV, desc,
			   keep, &npages);
	if (ret < 0)
		return ret;
	len = sizeof(*op) + (nrefs - 1) * sizeof(op->refs[0]);
	op = calloc(1, len);
	if (!op)
		return xl_dev_finish(desc, keep, -ENOMEM);
	op->count = nrefs;
	for (i = 0; i < nrefs; i++) {
		op->refs[i].domid = peer;
		op->refs[i].ref = refs[i];
	}
	if (ioctl(desc->u.xendev.mem, IOCTL_GNTDEV_MAP_GRANT_REF, op) < 0)
		ret = -errno;
	else
		desc->u.xendev.offset = op->index;
	free(op);
	if (ret == 0)
		ret = xl_dev_notify(desc, IOCTL_GNTDEV_SET_UNMAP_NOTIFY);
	if (ret == 0)
		ret = xl_dev_hup(desc, keep);
	return xl_dev_finish(desc, keep, ret);
}
