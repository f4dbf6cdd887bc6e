/* SPDX-License-Identifier: MIT */
/*
 * xenloopd's half of the xenkmod transport: the ioctls of /dev/xenloop
 * that make a connection's channel (xl_xen_kmod.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "xenloop/xenloop_dev.h"
#include "xl_xen_kmod.h"

int xl_xen_kmod_open(bool *peer_mmap)
{
	struct xldev_version v;
	int fd = open(XL_XEN_KMOD_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, XLDEV_IOC_VERSION, &v) < 0 ||
	    v.abi != XLDEV_ABI_VERSION) {
		close(fd);
		return -EPROTONOSUPPORT;
	}
	*peer_mmap = (v.flags & XLDEV_F_PEER_MMAP) != 0;
	return fd;
}

int xl_xen_kmod_offer(int dev, uint32_t peer, const uint32_t order[2],
		      int *chan, uint32_t *port, uint32_t *refs,
		      uint32_t *nrefs)
{
	struct xldev_create c = { .peer_domid = peer };
	int ret;

	ret = xl_xen_kmod_pages(order[0], &c.own_pages);
	if (ret < 0 || xl_xen_kmod_pages(order[1], nrefs) < 0)
		return -EINVAL;
	c.refs = (uintptr_t)refs;
	if (ioctl(dev, XLDEV_IOC_CREATE, &c) < 0)
		return -errno;
	ret = xl_xen_kmod_page_init(c.fd, 0, order[0]);
	if (ret < 0) {
		close(c.fd);
		return ret;
	}
	*chan = c.fd;
	*port = c.port;
	*nrefs = c.own_pages;
	return 0;
}

int xl_xen_kmod_connect(int dev, uint32_t peer, const uint32_t order[2],
			const uint32_t *refs, uint32_t nrefs, uint32_t port,
			int *chan, uint32_t *refs_out, uint32_t *nrefs_out)
{
	struct xldev_connect c = { .peer_domid = peer, .peer_port = port };
	uint32_t want;
	int ret;

	if (xl_xen_kmod_pages(order[0], &want) < 0 || want != nrefs ||
	    xl_xen_kmod_pages(order[1], &c.own_pages) < 0)
		return -EINVAL;
	c.peer_pages = nrefs;
	c.peer_refs = (uintptr_t)refs;
	c.own_refs = (uintptr_t)refs_out;
	if (ioctl(dev, XLDEV_IOC_CONNECT, &c) < 0)
		return -errno;
	ret = xl_xen_kmod_page_init(c.fd, 1, order[1]);
	if (ret < 0) {
		close(c.fd);
		return ret;
	}
	*chan = c.fd;
	*nrefs_out = c.own_pages;
	return 0;
}

int xl_xen_kmod_accept(int dev, int chan, const uint32_t order[2],
		       const uint32_t *refs, uint32_t nrefs)
{
	struct xldev_accept a = { .chan_fd = chan, .peer_pages = nrefs };
	uint32_t want;

	if (xl_xen_kmod_pages(order[1], &want) < 0 || want != nrefs)
		return -EINVAL;
	a.peer_refs = (uintptr_t)refs;
	return ioctl(dev, XLDEV_IOC_ACCEPT, &a) < 0 ? -errno : 0;
}
