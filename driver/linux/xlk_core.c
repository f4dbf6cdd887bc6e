// SPDX-License-Identifier: GPL-2.0-only OR MIT
/*
 * The pure part of xenloop.ko (see xlk_core.h): shared by the module and
 * tests/unit/check_kmod_core.c, so it calls nothing but itself.
 */
#include "xlk_core.h"

int xlk_state_next(uint32_t state, enum xlk_event ev)
{
	switch (state) {
	case XLDEV_STATE_OFFERED:
		switch (ev) {
		case XLK_EV_ACCEPT:
			return XLDEV_STATE_CONNECTED;
		case XLK_EV_KICK:
		case XLK_EV_PEEK:
			return -ENOTCONN;
		case XLK_EV_CLOSE:
		case XLK_EV_SUSPEND:
			return XLDEV_STATE_VOID;
		}
		break;
	case XLDEV_STATE_CONNECTED:
		switch (ev) {
		case XLK_EV_ACCEPT:
			return -EISCONN;
		case XLK_EV_KICK:
		case XLK_EV_PEEK:
			return XLDEV_STATE_CONNECTED;
		case XLK_EV_CLOSE:
		case XLK_EV_SUSPEND:
			return XLDEV_STATE_VOID;
		}
		break;
	case XLDEV_STATE_VOID:
		switch (ev) {
		case XLK_EV_ACCEPT:
		case XLK_EV_KICK:
		case XLK_EV_PEEK:
			return -EPIPE;
		case XLK_EV_CLOSE:
		case XLK_EV_SUSPEND:
			return XLDEV_STATE_VOID;
		}
		break;
	}
	return -EINVAL;
}

int xlk_check_pages(uint32_t pages)
{
	return pages >= 1 && pages <= XLDEV_MAX_PAGES ? 0 : -EINVAL;
}

/* Not ourselves (0 is dom0, allowed), not one of Xen's reserved ids. */
int xlk_check_domid(uint32_t domid)
{
	return domid < XLDEV_DOMID_LIMIT ? 0 : -EINVAL;
}

int xlk_check_create(const struct xldev_create *c)
{
	if (c->flags || c->pad || !c->refs)
		return -EINVAL;
	if (xlk_check_domid(c->peer_domid))
		return -EINVAL;
	return xlk_check_pages(c->own_pages);
}

int xlk_check_connect(const struct xldev_connect *c)
{
	if (c->flags || c->pad || !c->peer_refs || !c->own_refs)
		return -EINVAL;
	if (xlk_check_domid(c->peer_domid))
		return -EINVAL;
	if (c->peer_port == 0 || c->peer_port >= XLK_PORT_LIMIT)
		return -EINVAL;
	if (xlk_check_pages(c->peer_pages) || xlk_check_pages(c->own_pages))
		return -EINVAL;
	return 0;
}

int xlk_check_accept(const struct xldev_accept *a)
{
	if (a->flags || a->pad || !a->peer_refs)
		return -EINVAL;
	return xlk_check_pages(a->peer_pages);
}

int xlk_check_peek(const struct xldev_peek *p, uint32_t peer_pages)
{
	uint64_t size = (uint64_t)peer_pages * 4096;

	if (!p->buf || p->len == 0)
		return -EINVAL;
	/* no overflow: both are checked against size alone first */
	if (p->offset > size || p->len > size || p->len > size - p->offset)
		return -EINVAL;
	return 0;
}

int xlk_budget_take(uint32_t *left, uint32_t n)
{
	if (n > *left)
		return -ENOSPC;
	*left -= n;
	return 0;
}

void xlk_budget_give(uint32_t *left, uint32_t n, uint32_t total)
{
	/* never above the total, whatever the caller got wrong */
	*left = n > total - *left ? total : *left + n;
}

int xlk_check_map(uint32_t own, uint32_t peer, uint64_t pgoff,
		  uint64_t npages, int writable, int peer_mmap)
{
	uint64_t total = (uint64_t)own + peer;

	if (npages == 0 || pgoff > total || npages > total - pgoff)
		return -EINVAL;
	if (pgoff + npages <= own)
		return 0;
	/* it reaches into the peer's pages */
	if (!peer_mmap)
		return -EOPNOTSUPP;
	if (writable)
		return -EACCES;
	return 0;
}

enum xlk_fault_kind xlk_fault_lookup(uint32_t own, uint32_t peer,
				     uint32_t state, uint64_t pgoff,
				     uint32_t *index)
{
	if (pgoff < own) {
		/* our own memory: it outlives the channel */
		*index = (uint32_t)pgoff;
		return XLK_FAULT_OWN;
	}
	if (pgoff - own >= peer)
		return XLK_FAULT_SIGBUS;
	*index = (uint32_t)(pgoff - own);
	return state == XLDEV_STATE_CONNECTED ? XLK_FAULT_PEER :
		XLK_FAULT_VOID;
}

unsigned int xlk_poll_bits(uint32_t state, uint64_t pending)
{
	unsigned int bits = pending ? XLK_READY_IN : 0;

	if (state == XLDEV_STATE_CONNECTED)
		bits |= XLK_READY_OUT;
	else if (state == XLDEV_STATE_VOID)
		bits |= XLK_READY_ERR;
	return bits;
}
