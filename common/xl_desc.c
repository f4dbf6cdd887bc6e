/* SPDX-License-Identifier: MIT */
/*
 * Channel descriptors in control messages (see xl_desc.h).
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "xl_desc.h"

/* fds on the wire, by kind: see xl_desc.h */
static unsigned int xl_desc_nfds(uint32_t kind)
{
	switch (kind) {
	case XL_BACKEND_LOCAL:
		return XL_DESC_LOCAL_NFDS;
	case XL_BACKEND_XENDEV:
		return XL_DESC_XENDEV_NFDS;
	case XL_BACKEND_XENKMOD:
		return XL_DESC_XENKMOD_NFDS;
	default:
		return 0;
	}
}

int xl_desc_to_msg(const struct xl_chan_desc *desc, struct xl_ctl_msg *msg,
		   int fds[XL_CTL_MAX_FDS])
{
	unsigned int n = xl_desc_nfds(desc->kind);

	if (!n)
		return -EOPNOTSUPP;
	msg->chan_kind = desc->kind;
	msg->chan_side = desc->side;
	msg->chan_order[0] = desc->order[0];
	msg->chan_order[1] = desc->order[1];
	msg->nfds = n;
	if (desc->kind == XL_BACKEND_XENDEV) {
		msg->chan_offset = desc->u.xendev.offset;
		msg->chan_port[0] = desc->u.xendev.port[0];
		msg->chan_port[1] = desc->u.xendev.port[1];
		fds[0] = desc->u.xendev.mem;
		fds[1] = desc->u.xendev.evt[XL_WAIT_DATA];
		fds[2] = desc->u.xendev.evt[XL_WAIT_SPACE];
		fds[3] = desc->u.xendev.hup;
		return 0;
	}
	if (desc->kind == XL_BACKEND_XENKMOD) {
		msg->chan_offset = 0;
		msg->chan_port[0] = desc->u.xenkmod.peer_mmap;
		msg->chan_port[1] = 0;
		fds[0] = desc->u.xenkmod.chan;
		fds[1] = desc->u.xenkmod.hup;
		return 0;
	}
	fds[0] = desc->u.local.memfd;
	fds[1] = desc->u.local.efd[0][XL_WAIT_DATA];
	fds[2] = desc->u.local.efd[0][XL_WAIT_SPACE];
	fds[3] = desc->u.local.efd[1][XL_WAIT_DATA];
	fds[4] = desc->u.local.efd[1][XL_WAIT_SPACE];
	fds[5] = desc->u.local.hup;
	return 0;
}

int xl_desc_check(const struct xl_ctl_msg *msg, uint32_t want_side)
{
	unsigned int n = xl_desc_nfds(msg->chan_kind);

	if (!n || msg->chan_side != want_side || msg->nfds != n)
		return -EPROTO;
	if (msg->chan_order[0] < XL_WIRE_MIN_ORDER ||
	    msg->chan_order[0] > XL_WIRE_MAX_ORDER ||
	    msg->chan_order[1] < XL_WIRE_MIN_ORDER ||
	    msg->chan_order[1] > XL_WIRE_MAX_ORDER)
		return -EPROTO;
	if (msg->chan_kind == XL_BACKEND_XENDEV &&
	    msg->chan_offset % XL_WIRE_PAGE_SIZE)
		return -EPROTO;
	return 0;
}

int xl_desc_from_msg(const struct xl_ctl_msg *msg,
		     const int fds[XL_CTL_MAX_FDS], uint32_t want_side,
		     struct xl_chan_desc *desc)
{
	int ret = xl_desc_check(msg, want_side);

	if (ret < 0)
		return ret;
	memset(desc, 0, sizeof(*desc));
	desc->kind = msg->chan_kind;
	desc->side = want_side;
	desc->order[0] = msg->chan_order[0];
	desc->order[1] = msg->chan_order[1];
	if (desc->kind == XL_BACKEND_XENDEV) {
		desc->u.xendev.offset = msg->chan_offset;
		desc->u.xendev.port[0] = msg->chan_port[0];
		desc->u.xendev.port[1] = msg->chan_port[1];
		desc->u.xendev.mem = fds[0];
		desc->u.xendev.evt[XL_WAIT_DATA] = fds[1];
		desc->u.xendev.evt[XL_WAIT_SPACE] = fds[2];
		desc->u.xendev.hup = fds[3];
		return 0;
	}
	if (desc->kind == XL_BACKEND_XENKMOD) {
		/* the page counts follow from the orders (the transport
		 * checks them against its limits) */
		desc->u.xenkmod.own_pages = 1 + (uint32_t)((1ull <<
			desc->order[want_side]) / XL_WIRE_PAGE_SIZE);
		desc->u.xenkmod.peer_pages = 1 + (uint32_t)((1ull <<
			desc->order[!want_side]) / XL_WIRE_PAGE_SIZE);
		desc->u.xenkmod.peer_mmap = msg->chan_port[0] != 0;
		desc->u.xenkmod.chan = fds[0];
		desc->u.xenkmod.hup = fds[1];
		return 0;
	}
	desc->u.local.memfd = fds[0];
	desc->u.local.efd[0][XL_WAIT_DATA] = fds[1];
	desc->u.local.efd[0][XL_WAIT_SPACE] = fds[2];
	desc->u.local.efd[1][XL_WAIT_DATA] = fds[3];
	desc->u.local.efd[1][XL_WAIT_SPACE] = fds[4];
	desc->u.local.hup = fds[5];
	return 0;
}
