/* SPDX-License-Identifier: MIT */
/*
 * The Xen roles of xenloopd (docs/xen.md): dom0's discovery loop.
 */
#ifndef XL_XEN_LOOP_H
#define XL_XEN_LOOP_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Run dom0's discovery until SIGTERM or SIGINT, then take every table
 * down. stale_ms: how long a guest's alive counter may stand still (0:
 * the default). routed: pair the guests on routed vifs by address
 * (xl_dom0_init). Returns the exit status; exits through fatal() when
 * xenstore cannot be used at all.
 */
int xl_xen_discovery_main(uint32_t stale_ms, bool routed);

#endif /* XL_XEN_LOOP_H */
