/* SPDX-License-Identifier: MIT */
/*
 * A channel descriptor (struct xl_chan_desc) as it travels in a CHAN or
 * PEER_OFFER message: the sizes in chan_*, and fds by SCM_RIGHTS in the
 * order docs/protocol.md §2 fixes. Local: six fds — memfd, efd[0][data],
 * efd[0][space], efd[1][data], efd[1][space], liveness. Xendev (CHAN only):
 * four — the memory fd, the evtchn fds for data and for space, liveness.
 * Shared by xenloopd and the preload library.
 *
 * Returns 0 or -errno; never writes errno.
 */
#ifndef XL_DESC_H
#define XL_DESC_H

#include "xenloop/ctl.h"
#include "xl_backend.h"

#define XL_DESC_LOCAL_NFDS	6
/* xendev (xl_backend.h): memory fd, evtchn fd for data, for space,
 * liveness; the offset and ports in chan_offset / chan_port */
#define XL_DESC_XENDEV_NFDS	4
/* xenkmod: the module's channel fd, the liveness end; chan_port[0] is 1
 * where the peer's pages may be mapped (else PEEK reads them) */
#define XL_DESC_XENKMOD_NFDS	2

/* Fill msg's chan_* and nfds, and fds[], from desc (which keeps its fds). */
int xl_desc_to_msg(const struct xl_chan_desc *desc, struct xl_ctl_msg *msg,
		   int fds[XL_CTL_MAX_FDS]);

/*
 * Build desc from a received message and its fds, checking kind, side
 * (want_side), orders and the fd count: -EPROTO if anything is off. desc
 * borrows the fds (they stay in fds[]).
 */
int xl_desc_from_msg(const struct xl_ctl_msg *msg,
		     const int fds[XL_CTL_MAX_FDS], uint32_t want_side,
		     struct xl_chan_desc *desc);

/* Are a message's channel fields acceptable (kind, side, orders, nfds)? */
int xl_desc_check(const struct xl_ctl_msg *msg, uint32_t want_side);

#endif /* XL_DESC_H */
