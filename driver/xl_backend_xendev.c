/* SPDX-License-Identifier: MIT */
/*
 * The Xen transport of an application process: a channel whose grants
 * xenloopd offered or mapped for it (xl_xen_dev.c), handed over as device
 * fds that hold this one channel and nothing else.
 *
 * How this works
 *
 * The process never opens /dev/xen (invariant 4). It gets the gntalloc fd
 * (side 0) or the gntdev fd (side 1) on which the daemon allocated or
 * mapped the channel's 1 + data pages, mmaps them at the offset the daemon
 * names and closes that fd at once: the mapping alone then keeps the grant
 * alive, and its end (however the process ends) is what fires the
 * unmap-notify the daemon set on our live byte. It keeps two event-channel
 * fds, each with one port bound (one per enum xl_wait, as in
 * xl_backend_xen.c), restricted by the daemon to the peer's domid, and one
 * end of a socketpair whose other end the daemon holds: a dead domain runs
 * no unmap-notify, so when the daemon learns from xenstore that the peer
 * domain is gone it writes one byte there, and our sleepers wake and see
 * it. A daemon that stops (or restarts) closes its end without a byte:
 * that says nothing about the peer, and the channel goes on without this
 * watch. An end of stream would stay readable for every poll and epoll
 * set the fd is in, so the first to see it puts an eventfd that never
 * fires in its place, under the same number (dup3).
 *
 * The event-channel fds are nonblocking; a port that fired stays masked
 * until it is written back (evtchn's protocol), which ack() does.
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

#include "xl_barrier.h"
#include "xl_chan.h"
#include "xl_xen_dev.h"
#include "xl_xen_uapi.h"

/* Events one ack() takes from a handle at most (see xl_backend_xen.c). */
#define XL_XENDEV_ACK_MAX	8
/* What one last-level page table maps on x86-64 (see xl_xendev_map). */
#define XL_XENDEV_PT_SPAN	((size_t)2 << 20)

struct xl_xendev {
	void *mem;
	size_t len;
	void *span;			/* the stretch kept for mem alone */
	size_t span_len;
	int evt[2];			/* by enum xl_wait */
	uint32_t port[2];
	int hup;
	pid_t mapper;			/* the process the mapping is in */
	bool voided;			/* the daemon said: restored */
};

static void xl_xendev_release(struct xl_xendev *xd, bool unmap)
{
	if (!xd)
		return;
	if (unmap && xd->span)
		munmap(xd->span, xd->span_len);
	xl_keeper_close(&xd->evt[0]);
	xl_keeper_close(&xd->evt[1]);
	xl_keeper_close(&xd->hup);
	free(xd);
}

static int xl_xendev_create(struct xl_chan *ch, const struct xl_chan_params *p,
			    struct xl_chan_desc *desc)
{
	(void)ch;
	(void)p;
	(void)desc;
	return -EOPNOTSUPP;	/* xenloopd offers the grants: xl_xen_dev.h */
}

/*
 * Map the channel alone in whole 2 MiB stretches of address space, the
 * rest of them reserved (PROT_NONE): after a PV guest is saved and
 * restored, Linux has lost every page table that held a mapping of
 * another domain's pages, and with it whatever else that table mapped (a
 * process whose C library shared one died at its next instruction). Alone,
 * a restore costs the ring only, which the daemon's word then has us
 * replace before we touch it again (xl_xendev_void, docs/xen.md §4).
 */
static int xl_xendev_map(struct xl_xendev *xd, int fd, uint64_t offset)
{
	size_t span = (xd->len + XL_XENDEV_PT_SPAN - 1) &
		      ~(XL_XENDEV_PT_SPAN - 1);
	size_t total = span + XL_XENDEV_PT_SPAN;
	uintptr_t r, start;
	void *res, *mem;

	res = mmap(NULL, total, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return -errno;
	r = (uintptr_t)res;
	start = (r + XL_XENDEV_PT_SPAN - 1) & ~(uintptr_t)(XL_XENDEV_PT_SPAN - 1);
	mem = mmap((void *)start, xd->len, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_FIXED, fd, (off_t)offset);
	if (mem == MAP_FAILED) {
		int err = errno;

		munmap(res, total);
		return -err;
	}
	/* what lies outside the aligned stretches goes back */
	if (start > r)
		munmap(res, start - r);
	if (r + total > start + span)
		munmap((void *)(start + span), r + total - (start + span));
	xd->mem = mem;
	xd->span = (void *)start;
	xd->span_len = span;
	/* a child's copy would keep the grant, and so our unmap-notify,
	 * past our exit (gntdev refuses the copy anyway) */
	(void)madvise(xd->span, xd->span_len, MADV_DONTFORK);
	return 0;
}

static int xl_xendev_attach(struct xl_chan *ch, const struct xl_chan_desc *desc)
{
	struct xl_xendev *xd;
	uint32_t npages, w;
	int ret;

	if (desc->kind != XL_BACKEND_XENDEV || desc->side > 1)
		return -EINVAL;
	ret = xl_xen_dev_pages(desc->order, &npages);
	if (ret < 0)
		return ret;
	if (desc->u.xendev.offset % XL_WIRE_PAGE_SIZE)
		return -EINVAL;
	xd = calloc(1, sizeof(*xd));
	if (!xd)
		return -ENOMEM;
	xd->evt[0] = xd->evt[1] = xd->hup = -1;
	xd->len = XL_WIRE_CTRL_SIZE + (size_t)npages * XL_WIRE_PAGE_SIZE;
	ret = xl_xendev_map(xd, desc->u.xendev.mem, desc->u.xendev.offset);
	if (ret < 0)
		goto out_free;
	xd->mapper = getpid();
	for (w = 0; w < 2; w++) {
		xd->evt[w] = xl_keeper_dup(desc->u.xendev.evt[w]);
		if (xd->evt[w] < 0) {
			ret = xd->evt[w];
			goto out_free;
		}
		xd->port[w] = desc->u.xendev.port[w];
	}
	xd->hup = xl_keeper_dup(desc->u.xendev.hup);
	if (xd->hup < 0) {
		ret = xd->hup;
		goto out_free;
	}
	ch->be = xd;
	ch->side = desc->side;
	ch->ctrl = xd->mem;
	ch->data = (uint8_t *)xd->mem + XL_WIRE_CTRL_SIZE;
	return 0;

out_free:
	xl_xendev_release(xd, true);
	return ret;
}

static int xl_xendev_notify(struct xl_chan *ch, enum xl_wait w)
{
	struct xl_xendev *xd = ch->be;
	struct ioctl_evtchn_notify n = { .port = xd->port[w] };

	return ioctl(xd->evt[w], IOCTL_EVTCHN_NOTIFY, &n) < 0 ? -errno : 0;
}

static int xl_xendev_pollfds(struct xl_chan *ch, enum xl_wait w,
			     struct pollfd *pfd, int max)
{
	struct xl_xendev *xd = ch->be;

	if (max < 2)
		return -EINVAL;
	pfd[0] = (struct pollfd){ .fd = xd->evt[w], .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = xd->hup, .events = POLLIN };
	return 2;
}

/* Take the pending events of handle w and unmask their ports. */
static int xl_xendev_drain(struct xl_xendev *xd, enum xl_wait w)
{
	uint32_t ports[XL_XENDEV_ACK_MAX];
	ssize_t got;
	size_t i;

	got = read(xd->evt[w], ports, sizeof(ports));
	if (got < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	for (i = 0; i < (size_t)got / sizeof(ports[0]); i++) {
		/* only our own port is bound on this fd: unmask that one,
		 * whatever the kernel said */
		if (write(xd->evt[w], &xd->port[w], sizeof(uint32_t)) < 0)
			return -errno;
	}
	return 0;
}

/*
 * Our domain was restored: the pages are gone from our page tables, and
 * the next access would kill us. Put zeroed memory of our own in their
 * place (the kernel unmaps the grant on the way; the daemon took its
 * unmap-notify off first): the channel then reads as both sides dead and
 * nothing in flight, which ends it as a vanished peer would, and what we
 * had sent and the peer had not read shows as dropped. Not in a child
 * without the mapping, where the range may hold something else.
 */
static void xl_xendev_void(struct xl_xendev *xd)
{
	xd->voided = true;
	if (!xd->span || xd->mapper != getpid())
		return;
	(void)mmap(xd->span, xd->span_len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
}

/* How long a process that finds its ring gone waits for the daemon's word
 * (RESTORED) before it gives up on the channel without it. */
#define XL_XENDEV_WORD_MS	2000

/* Bits of a /proc/self/pagemap entry (Documentation/admin-guide/mm). */
#define XL_PM_PRESENT	(1ull << 63)
#define XL_PM_SWAPPED	(1ull << 62)

/*
 * Is the ring still in our page tables? After a restore a peer's pages
 * are not, and the next access would fault; the page map says so without
 * touching them (mincore() would too, but only to a process that may open
 * the device for writing: to others it calls every page resident). Only
 * for the process the mapping is in; when the page map cannot be read we
 * cannot tell, and say no.
 */
static bool xl_xendev_gone(struct xl_xendev *xd)
{
	uint64_t e = XL_PM_PRESENT;
	ssize_t n;
	int fd;

	if (xd->voided || !xd->span || xd->mapper != getpid())
		return false;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = pread(fd, &e, sizeof(e),
		  (off_t)((uintptr_t)xd->mem / XL_WIRE_PAGE_SIZE * sizeof(e)));
	close(fd);
	return n == (ssize_t)sizeof(e) &&
	       !(e & (XL_PM_PRESENT | XL_PM_SWAPPED));
}

/* The daemon went: an fd that never fires where the liveness end was. */
static void xl_xendev_unwatch(struct xl_xendev *xd)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (efd < 0)
		return;		/* one more look next time: no harm */
	(void)dup3(efd, xd->hup, O_CLOEXEC);
	close(efd);
}

static int xl_xendev_ack(struct xl_chan *ch, enum xl_wait w,
			 const struct pollfd *pfd, int n)
{
	struct xl_xendev *xd = ch->be;
	bool kicked = !pfd || (n > 0 && pfd[0].revents);
	bool hup = !pfd || (n > 1 && pfd[1].revents);
	ssize_t got;
	char byte;
	int ret;

	if (xd->voided)
		return -ECONNRESET;	/* nothing of the ring is the peer's */
	if (kicked) {
		ret = xl_xendev_drain(xd, w);
		if (ret < 0)
			return ret;
	}
	if (xl_xendev_gone(xd)) {
		/* our domain was restored and we woke before the daemon's
		 * word: the ring must not be touched before the daemon took
		 * its unmap-notify off, which it says next */
		struct pollfd p = { .fd = xd->hup, .events = POLLIN };

		if (poll(&p, 1, XL_XENDEV_WORD_MS) == 1 &&
		    recv(xd->hup, &byte, 1, MSG_DONTWAIT) == 1 &&
		    byte == XL_XEN_DEV_RESTORED)
			xl_xendev_void(xd);
		else
			xd->voided = true;	/* untouched, and reset */
		return -ECONNRESET;
	}
	if (hup) {
		/* a byte: the peer domain is gone, or ours was restored;
		 * end of stream: the daemon is, which ends only this watch
		 * (then the fd is an eventfd, which recv() calls ENOTSOCK) */
		got = recv(xd->hup, &byte, 1, MSG_DONTWAIT);
		if (got > 0) {
			if (byte == XL_XEN_DEV_RESTORED)
				xl_xendev_void(xd);
			return -ECONNRESET;
		}
		if (got == 0)
			xl_xendev_unwatch(xd);
		else if (errno != EAGAIN && errno != EINTR &&
			 errno != ENOTSOCK)
			return -ECONNRESET;
	}
	/* the peer's unmap-notify (or destroy) clears its live byte */
	if (XL_READ_ONCE(ch->ctrl->dir[!ch->side].p.live) == XL_WIRE_DEAD)
		return -ECONNRESET;
	return 0;
}

static void xl_xendev_destroy(struct xl_chan *ch)
{
	struct xl_xendev *xd = ch->be;

	if (!xd)
		return;
	XL_WRITE_ONCE(ch->ctrl->dir[ch->side].p.live, XL_WIRE_DEAD);
	/* live byte /before/ the kicks that make the peer look at it */
	xl_smp_mb();
	xl_xendev_notify(ch, XL_WAIT_DATA);
	xl_xendev_notify(ch, XL_WAIT_SPACE);
	/* the unmap ends the grant (or our mapping of it): the event-channel
	 * fds close after it, so its notify still has its port */
	xl_xendev_release(xd, true);
	ch->be = NULL;
	ch->ctrl = NULL;
	ch->data = NULL;
}

static bool xl_xendev_voided(struct xl_chan *ch)
{
	struct xl_xendev *xd = ch->be;

	return xd && xd->voided;
}

static bool xl_xendev_mapped(struct xl_chan *ch)
{
	struct xl_xendev *xd = ch->be;

	return xd && xd->mapper == getpid();
}

/* Our mapping goes without a word to the peer (the unmap-notify still
 * says it, once the last holder of the grant is gone). A fork()ed child
 * has no copy of the mapping (MADV_DONTFORK): there the range may hold
 * something else by now, and only the fds go. */
static void xl_xendev_forget(struct xl_chan *ch)
{
	xl_xendev_release(ch->be, xl_xendev_mapped(ch));
}

/*
 * Our domain was restored (xl_backend_ops.abandon): the pages are gone
 * from our page tables, so nothing of them is touched, only unmapped
 * (whoever holds the grant fd takes the unmap-notify off first,
 * xl_xen_dev_unnotify: it would write into a page the kernel no longer
 * maps). The event-channel fds stay open for good: Linux BUG()s releasing
 * a port bound before a restore.
 */
static void xl_xendev_abandon(struct xl_chan *ch)
{
	struct xl_xendev *xd = ch->be;

	if (!xd)
		return;
	xd->evt[0] = xd->evt[1] = -1;	/* open for good, never closed */
	xl_xendev_release(xd, xl_xendev_mapped(ch));
	ch->be = NULL;
	ch->ctrl = NULL;
	ch->data = NULL;
}

static void xl_xendev_desc_release(struct xl_chan_desc *desc)
{
	int *fd[4] = { &desc->u.xendev.mem, &desc->u.xendev.evt[0],
		       &desc->u.xendev.evt[1], &desc->u.xendev.hup };
	unsigned int i;

	for (i = 0; i < 4; i++) {
		if (*fd[i] >= 0)
			close(*fd[i]);
		*fd[i] = -1;
	}
}

static int xl_xendev_move_fd(struct xl_chan *ch, int fd)
{
	struct xl_xendev *xd = ch->be;

	if (!xd)
		return 0;
	return xl_keeper_move((int *const[]){ &xd->evt[0], &xd->evt[1],
					      &xd->hup }, 3, fd);
}

const struct xl_backend_ops xl_backend_xendev = {
	.name = "xendev",
	.kind = XL_BACKEND_XENDEV,
	.create = xl_xendev_create,
	.attach = xl_xendev_attach,
	.notify = xl_xendev_notify,
	.pollfds = xl_xendev_pollfds,
	.ack = xl_xendev_ack,
	.destroy = xl_xendev_destroy,
	.forget = xl_xendev_forget,
	.abandon = xl_xendev_abandon,
	.voided = xl_xendev_voided,
	.desc_release = xl_xendev_desc_release,
	.create_pair = NULL,
	.move_fd = xl_xendev_move_fd,
	.mapped = xl_xendev_mapped,
};
