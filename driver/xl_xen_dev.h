/* SPDX-License-Identifier: MIT */
/*
 * xenloopd's half of the xendev transport (xl_backend_xendev.c): offer or
 * map one channel's grants and bind its event channels on device fds
 * opened for that channel alone, to hand to the one process that uses it.
 *
 * Side 0 (the connecting side's guest) offers: xl_xen_dev_offer() opens
 * /dev/xen/gntalloc, allocates the control page and the data pages for
 * the peer domid, writes the control page, and binds two unbound event
 * channels for that peer; the grant references and ports go to the peer's
 * daemon over the control link. Side 1 maps: xl_xen_dev_map() opens
 * /dev/xen/gntdev and maps those references (the process mmaps them;
 * the daemon never does: a PV domain's gntdev lets a map be mmapped only
 * once) and binds to the ports. Each side's unmap-notify clears its own
 * live byte and raises its data port when the process's mapping goes.
 *
 * What the process can do with these fds beyond its channel (docs/xen.md
 * §3): the event-channel fds are restricted to the peer's domid; the
 * gntdev fd could map further grants the peer domain offers to ours, and
 * the gntalloc fd could offer new zeroed pages, within the kernel's
 * limits. The library closes both right after its mmap.
 *
 * Return 0 or -errno; never write errno.
 */
#ifndef XL_XEN_DEV_H
#define XL_XEN_DEV_H

#include <stdint.h>

#include "xl_backend.h"

/* Most grants of one channel: the control page and the data pages
 * (the Xen transport's XL_XEN_MAX_GRANTS, which says why). */
#define XL_XEN_DEV_MAX_REFS	513u

/* Data pages of a channel of these orders: -EINVAL outside the wire's
 * orders, -E2BIG beyond XL_XEN_DEV_MAX_REFS grants. */
int xl_xen_dev_pages(const uint32_t order[2], uint32_t *npages);

/*
 * Side 0 for peer: desc (kind XENDEV, side 0) gets the fds, refs[] the
 * 1 + npages references (refs has room for XL_XEN_DEV_MAX_REFS), *nrefs
 * their count; desc->u.xendev.port are the ports the peer binds to.
 * *keep is the daemon's end of the liveness pair.
 */
int xl_xen_dev_offer(uint32_t peer, const uint32_t order[2],
		     struct xl_chan_desc *desc, uint32_t *refs,
		     uint32_t *nrefs, int *keep);

/*
 * Side 1: map the nrefs references peer offered (control page first) and
 * bind to its ports rport[] (by enum xl_wait). -EINVAL if nrefs does not
 * fit the orders.
 */
int xl_xen_dev_map(uint32_t peer, const uint32_t order[2],
		   const uint32_t *refs, uint32_t nrefs,
		   const uint32_t rport[2], struct xl_chan_desc *desc,
		   int *keep);

/*
 * After a restore (docs/xen.md §4): take the unmap-notify off side's
 * mapping at offset (desc->u.xendev.offset) through mem, a copy of the
 * grant-device fd the process got. Once the process unmaps, gntdev would
 * otherwise clear a byte in a page the restored kernel no longer maps (an
 * oops in Linux 6.1), and either device would put a port number that the
 * new domain may have given to someone else.
 */
int xl_xen_dev_unnotify(int mem, uint32_t side, uint64_t offset);

/* What xenloopd writes on a connection's liveness socket: the peer domain
 * is gone (its pages, which we may still map, hold what it sent), or our
 * own domain was restored (the mapping is void: not one access more). */
#define XL_XEN_DEV_PEER_GONE	'x'
#define XL_XEN_DEV_RESTORED	'r'

/* An empty descriptor of kind XENDEV for side (every fd -1). */
void xl_xen_dev_desc_init(struct xl_chan_desc *desc, uint32_t side,
			  const uint32_t order[2]);

#endif /* XL_XEN_DEV_H */
