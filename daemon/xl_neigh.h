/* SPDX-License-Identifier: MIT */
/*
 * IP -> MAC through the kernel's neighbour table (rtnetlink), the first
 * half of a Xen guest's peer lookup (docs/xen.md §1): the MAC then maps
 * to a domid through the table dom0 wrote.
 *
 * When a connection registers, its handshake has just gone through
 * netfront, so the kernel has resolved the peer's MAC: no ARP or ND of
 * our own is ever needed, and a destination behind a router (whose MAC
 * is the router's, never a peer's) is simply not found.
 */
#ifndef XL_NEIGH_H
#define XL_NEIGH_H

#include <stdint.h>

#include "xenloop/ctl.h"

/*
 * The link-layer address of ip (normalised, see xl_addr.h) in this
 * network namespace's neighbour table, if the entry is usable
 * (reachable, stale, delay, probe or permanent). Returns 0, -ENOENT, or
 * -errno of the netlink conversation.
 */
int xl_neigh_lookup(const struct xl_ctl_addr *ip, uint8_t mac[6]);

#endif /* XL_NEIGH_H */
