/* SPDX-License-Identifier: MIT */
/*
 * The xenkmod transport: a channel of the kernel module, /dev/xenloop,
 * that xenloopd made and handed to this process as one channel fd
 * (xl_xen_kmod.h, docs/xen.md §5.4). The fd maps this channel's pages and
 * nothing else; kicks go out and come in through it.
 *
 * Each side writes only its own pages; the peer's are read-only. The
 * address space of a channel, from its start W:
 *
 *	W + 0		our control page (struct xl_wire_kpage)
 *	W + 4 KiB	the peer's control page
 *	W + 8 KiB	our control page again
 *	W + 12 KiB	the data we send, then the data the peer sends
 *
 * so that the direction we send is one struct xl_wire_dir at W + 4 KiB -
 * 64 (our producer line, then the peer's consumer line) and the one we
 * receive one at W + 8 KiB - 64 (the peer's producer line, then our
 * consumer line). In an auto-translated guest (PVH, HVM) the peer's pages
 * are the module's mapping; in a PV guest, which cannot map them (yet),
 * they are a private copy that the rings refresh with
 * XLDEV_CHAN_IOC_PEEK before they read it (struct xl_ring_peer): a system
 * call per ring operation there.
 *
 * One event channel serves both kinds of wait (enum xl_wait): a thread
 * that sleeps for data and one that sleeps for space on the same channel
 * share its kick count, and the first to take it can leave the other
 * asleep until its next liveness slice (1 s at most).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xenloop/xenloop_dev.h"
#include "xl_barrier.h"
#include "xl_chan.h"
#include "xl_xen_dev.h"
#include "xl_xen_kmod.h"

#define XL_KPAGE	((size_t)XL_WIRE_PAGE_SIZE)

struct xl_xenkmod {
	int chan;
	int hup;
	uint8_t *win;			/* W: the three control pages */
	uint8_t *own_data, *peer_data;
	size_t own_len, peer_len;	/* data bytes */
	size_t len;			/* the whole reservation from W */
	bool peer_mmap;
	pid_t mapper;
	bool voided;
	struct xl_ring_peer peer;
};

int xl_xen_kmod_pages(uint32_t order, uint32_t *npages)
{
	if (order < XL_WIRE_MIN_ORDER || order > XL_XEN_KMOD_MAX_ORDER)
		return -EINVAL;
	*npages = 1 + (uint32_t)((1ull << order) / XL_WIRE_PAGE_SIZE);
	return 0;
}

/* Where the peer's byte at addr is in its pages, for PEEK. */
static int xl_xenkmod_pull(void *arg, const void *addr, size_t len)
{
	struct xl_xenkmod *xk = arg;
	const uint8_t *a = addr;
	struct xldev_peek pk = { .len = len, .buf = (uintptr_t)addr };

	if (a >= xk->win + XL_KPAGE && a + len <= xk->win + 2 * XL_KPAGE)
		pk.offset = (uint64_t)(a - (xk->win + XL_KPAGE));
	else if (a >= xk->peer_data && a + len <= xk->peer_data + xk->peer_len)
		pk.offset = XL_KPAGE + (uint64_t)(a - xk->peer_data);
	else
		return -EINVAL;
	return ioctl(xk->chan, XLDEV_CHAN_IOC_PEEK, &pk) < 0 ? -errno : 0;
}

/* The peer's whole control page, both its lines, in one call. */
static int xl_xenkmod_pull_all(void *arg)
{
	struct xl_xenkmod *xk = arg;

	return xl_xenkmod_pull(xk, xk->win + XL_KPAGE, XL_KPAGE);
}

static void xl_xenkmod_release(struct xl_xenkmod *xk, bool unmap)
{
	if (!xk)
		return;
	if (unmap && xk->win)
		munmap(xk->win, xk->len);
	xl_keeper_close(&xk->chan);
	xl_keeper_close(&xk->hup);
	free(xk);
}

/* Map (or, for a PV peer, allocate) len bytes at addr. */
static int xl_xenkmod_map_at(uint8_t *addr, size_t len, int prot, int fd,
			     size_t page)
{
	void *m;

	if (fd < 0)
		m = mmap(addr, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	else
		m = mmap(addr, len, prot, MAP_SHARED | MAP_FIXED, fd,
			 (off_t)(page * XL_KPAGE));
	return m == MAP_FAILED ? -errno : 0;
}

static int xl_xenkmod_map(struct xl_xenkmod *xk, uint32_t own_pages)
{
	int pfd = xk->peer_mmap ? xk->chan : -1;
	void *res;
	int ret;

	xk->len = 3 * XL_KPAGE + xk->own_len + xk->peer_len;
	res = mmap(NULL, xk->len, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return -errno;
	xk->win = res;
	xk->own_data = xk->win + 3 * XL_KPAGE;
	xk->peer_data = xk->own_data + xk->own_len;
	ret = xl_xenkmod_map_at(xk->win, XL_KPAGE, PROT_READ | PROT_WRITE,
				xk->chan, 0);
	if (!ret)
		ret = xl_xenkmod_map_at(xk->win + XL_KPAGE, XL_KPAGE,
					PROT_READ, pfd, own_pages);
	if (!ret)
		ret = xl_xenkmod_map_at(xk->win + 2 * XL_KPAGE, XL_KPAGE,
					PROT_READ | PROT_WRITE, xk->chan, 0);
	if (!ret)
		ret = xl_xenkmod_map_at(xk->own_data, xk->own_len,
					PROT_READ | PROT_WRITE, xk->chan, 1);
	if (!ret)
		ret = xl_xenkmod_map_at(xk->peer_data, xk->peer_len,
					PROT_READ, pfd, own_pages + 1);
	/* the module does not let a child inherit the mappings anyway */
	if (!ret)
		(void)madvise(xk->win, xk->len, MADV_DONTFORK);
	return ret;
}

static int xl_xenkmod_create(struct xl_chan *ch, const struct xl_chan_params *p,
			     struct xl_chan_desc *desc)
{
	(void)ch;
	(void)p;
	(void)desc;
	return -EOPNOTSUPP;	/* xenloopd makes the channel: xl_xen_kmod.h */
}

static int xl_xenkmod_attach(struct xl_chan *ch, const struct xl_chan_desc *desc)
{
	const struct xl_wire_kpage *own;
	struct xl_xenkmod *xk;
	uint32_t own_pages, peer_pages;
	unsigned int s = desc->side;
	int ret;

	if (desc->kind != XL_BACKEND_XENKMOD || s > 1)
		return -EINVAL;
	if (xl_xen_kmod_pages(desc->order[s], &own_pages) < 0 ||
	    xl_xen_kmod_pages(desc->order[!s], &peer_pages) < 0 ||
	    own_pages != desc->u.xenkmod.own_pages ||
	    peer_pages != desc->u.xenkmod.peer_pages)
		return -EINVAL;
	xk = calloc(1, sizeof(*xk));
	if (!xk)
		return -ENOMEM;
	xk->hup = -1;
	xk->chan = xl_keeper_dup(desc->u.xenkmod.chan);
	if (xk->chan < 0) {
		ret = xk->chan;
		xk->chan = -1;
		goto out_free;
	}
	if (desc->u.xenkmod.hup >= 0) {
		xk->hup = xl_keeper_dup(desc->u.xenkmod.hup);
		if (xk->hup < 0) {
			ret = xk->hup;
			xk->hup = -1;
			goto out_free;
		}
	}
	/* our kick count is read without blocking */
	(void)fcntl(xk->chan, F_SETFL, O_NONBLOCK);
	xk->peer_mmap = desc->u.xenkmod.peer_mmap != 0;
	xk->own_len = (size_t)1 << desc->order[s];
	xk->peer_len = (size_t)1 << desc->order[!s];
	ret = xl_xenkmod_map(xk, own_pages);
	if (ret < 0)
		goto out_free;
	/* our daemon wrote our page; believe only what was agreed */
	own = (const struct xl_wire_kpage *)xk->win;
	if (own->magic != XL_WIRE_KMAGIC || own->side != s ||
	    own->order != desc->order[s]) {
		ret = -EPROTO;
		goto out_free;
	}
	xk->mapper = getpid();
	xk->peer.arg = xk;
	xk->peer.pull = xk->peer_mmap ? NULL : xl_xenkmod_pull;
	xk->peer.pull_all = xk->peer_mmap ? NULL : xl_xenkmod_pull_all;
	ch->be = xk;
	ch->side = s;
	ch->ctrl = NULL;
	ch->data = NULL;
	ch->dsh[s] = (struct xl_wire_dir *)(xk->win + XL_KPAGE -
					    XL_WIRE_CACHELINE);
	ch->dsh[!s] = (struct xl_wire_dir *)(xk->win + 2 * XL_KPAGE -
					     XL_WIRE_CACHELINE);
	ch->ddata[s] = xk->own_data;
	ch->ddata[!s] = xk->peer_data;
	ch->peer = &xk->peer;
	return 0;

out_free:
	xl_xenkmod_release(xk, true);
	return ret;
}

static int xl_xenkmod_notify(struct xl_chan *ch, enum xl_wait w)
{
	struct xl_xenkmod *xk = ch->be;

	(void)w;
	return ioctl(xk->chan, XLDEV_CHAN_IOC_KICK) < 0 ? -errno : 0;
}

static int xl_xenkmod_pollfds(struct xl_chan *ch, enum xl_wait w,
			      struct pollfd *pfd, int max)
{
	struct xl_xenkmod *xk = ch->be;

	(void)w;
	if (max < 2)
		return -EINVAL;
	pfd[0] = (struct pollfd){ .fd = xk->chan, .events = POLLIN };
	if (xk->hup < 0)
		return 1;
	pfd[1] = (struct pollfd){ .fd = xk->hup, .events = POLLIN };
	return 2;
}

/* Is the channel void, and why? */
static bool xl_xenkmod_is_void(struct xl_xenkmod *xk, bool *suspend)
{
	struct xldev_chan_info info;

	if (ioctl(xk->chan, XLDEV_CHAN_IOC_INFO, &info) < 0)
		return false;
	*suspend = info.void_reason == XLDEV_VOID_SUSPEND;
	return info.state == XLDEV_STATE_VOID;
}

/* The daemon went: an fd that never fires where the liveness end was. */
static void xl_xenkmod_unwatch(struct xl_xenkmod *xk)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (efd < 0)
		return;
	(void)dup3(efd, xk->hup, O_CLOEXEC);
	close(efd);
}

static int xl_xenkmod_ack(struct xl_chan *ch, enum xl_wait w,
			  const struct pollfd *pfd, int n)
{
	struct xl_xenkmod *xk = ch->be;
	struct pollfd p[2];
	bool suspend = false;
	uint64_t kicks;
	ssize_t got;
	char byte;

	(void)w;
	if (xk->voided)
		return -ECONNRESET;
	if (!pfd) {
		n = xl_xenkmod_pollfds(ch, w, p, 2);
		if (n < 0 || poll(p, (nfds_t)n, 0) < 0)
			return -errno;
		pfd = p;
	}
	if (n > 0 && (pfd[0].revents & (POLLERR | POLLHUP)) &&
	    xl_xenkmod_is_void(xk, &suspend)) {
		/* the peer's pages are gone: a suspend (our domain was
		 * saved) voids what the ring held, a close ends it */
		if (suspend)
			xk->voided = true;
		return -ECONNRESET;
	}
	if (n > 0 && (pfd[0].revents & POLLIN))
		got = read(xk->chan, &kicks, sizeof(kicks));
	if (n > 1 && pfd[1].revents) {
		got = recv(xk->hup, &byte, 1, MSG_DONTWAIT);
		if (got > 0) {
			if (byte == XL_XEN_DEV_RESTORED)
				xk->voided = true;
			return -ECONNRESET;
		}
		if (got == 0)
			xl_xenkmod_unwatch(xk);
	}
	(void)got;
	/* the peer's live byte: its library's destroy, or the module's
	 * end of the peer's channel */
	/* both of the peer's lines: a sleeper's caller looks at them next
	 * (a PV guest's copy) */
	if (xk->peer.pull_all)
		(void)xk->peer.pull_all(xk);
	if (XL_READ_ONCE(ch->dsh[!ch->side]->p.live) == XL_WIRE_DEAD)
		return -ECONNRESET;
	return 0;
}

static void xl_xenkmod_destroy(struct xl_chan *ch)
{
	struct xl_xenkmod *xk = ch->be;

	if (!xk)
		return;
	if (xk->mapper == getpid() && !xk->voided) {
		struct xl_wire_kpage *own = (struct xl_wire_kpage *)xk->win;

		XL_WRITE_ONCE(own->p.live, XL_WIRE_DEAD);
		/* live byte /before/ the kick that makes the peer look */
		xl_smp_mb();
		(void)ioctl(xk->chan, XLDEV_CHAN_IOC_KICK);
	}
	xl_xenkmod_release(xk, xk->mapper == getpid());
	ch->be = NULL;
}

static bool xl_xenkmod_voided(struct xl_chan *ch)
{
	struct xl_xenkmod *xk = ch->be;

	return xk && xk->voided;
}

static bool xl_xenkmod_mapped(struct xl_chan *ch)
{
	struct xl_xenkmod *xk = ch->be;

	return xk && xk->mapper == getpid();
}

static void xl_xenkmod_forget(struct xl_chan *ch)
{
	xl_xenkmod_release(ch->be, xl_xenkmod_mapped(ch));
	ch->be = NULL;
}

static void xl_xenkmod_desc_release(struct xl_chan_desc *desc)
{
	if (desc->u.xenkmod.chan >= 0)
		close(desc->u.xenkmod.chan);
	if (desc->u.xenkmod.hup >= 0)
		close(desc->u.xenkmod.hup);
	desc->u.xenkmod.chan = desc->u.xenkmod.hup = -1;
}

static int xl_xenkmod_move_fd(struct xl_chan *ch, int fd)
{
	struct xl_xenkmod *xk = ch->be;

	if (!xk)
		return 0;
	return xl_keeper_move((int *const[]){ &xk->chan, &xk->hup }, 2, fd);
}

/* ---- what the daemon shares ---- */

int xl_xen_kmod_page_init(int chan, uint32_t side, uint32_t order)
{
	struct xl_wire_kpage *pg;

	pg = mmap(NULL, XL_KPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, chan, 0);
	if (pg == MAP_FAILED)
		return -errno;
	memset(pg, 0, sizeof(*pg));
	pg->version = XL_WIRE_VERSION;
	pg->side = (uint16_t)side;
	pg->order = order;
	pg->p.live = XL_WIRE_LIVE;
	/* the rest /before/ the magic that says the page is written */
	xl_smp_mb();
	XL_WRITE_ONCE(pg->magic, XL_WIRE_KMAGIC);
	munmap(pg, XL_KPAGE);
	return 0;
}

int xl_xen_kmod_desc(struct xl_chan_desc *desc, uint32_t side,
		     const uint32_t order[2], int chan, int hup,
		     bool peer_mmap)
{
	int ret;

	memset(desc, 0, sizeof(*desc));
	desc->kind = XL_BACKEND_XENKMOD;
	desc->side = side;
	desc->order[0] = order[0];
	desc->order[1] = order[1];
	desc->u.xenkmod.chan = desc->u.xenkmod.hup = -1;
	ret = xl_xen_kmod_pages(order[side], &desc->u.xenkmod.own_pages);
	if (!ret)
		ret = xl_xen_kmod_pages(order[!side],
					&desc->u.xenkmod.peer_pages);
	if (ret < 0)
		return ret;
	desc->u.xenkmod.peer_mmap = peer_mmap;
	desc->u.xenkmod.chan = fcntl(chan, F_DUPFD_CLOEXEC, 0);
	if (desc->u.xenkmod.chan < 0)
		return -errno;
	if (hup >= 0) {
		desc->u.xenkmod.hup = fcntl(hup, F_DUPFD_CLOEXEC, 0);
		if (desc->u.xenkmod.hup < 0) {
			ret = -errno;
			xl_xenkmod_desc_release(desc);
			return ret;
		}
	}
	return 0;
}

const struct xl_backend_ops xl_backend_xenkmod = {
	.name = "xenkmod",
	.kind = XL_BACKEND_XENKMOD,
	.create = xl_xenkmod_create,
	.attach = xl_xenkmod_attach,
	.notify = xl_xenkmod_notify,
	.pollfds = xl_xenkmod_pollfds,
	.ack = xl_xenkmod_ack,
	.destroy = xl_xenkmod_destroy,
	.forget = xl_xenkmod_forget,
	.abandon = xl_xenkmod_forget,
	.voided = xl_xenkmod_voided,
	.desc_release = xl_xenkmod_desc_release,
	.create_pair = NULL,
	.move_fd = xl_xenkmod_move_fd,
	.mapped = xl_xenkmod_mapped,
};
