/* SPDX-License-Identifier: MIT */
/*
 * The daemon's link rings against the last moment of a restore
 * (docs/xen.md §4): a restore can freeze xenloopd between its check of
 * the domid and its next access to a ring that was another domain's
 * pages, which are gone after the resume; that access faults. For the
 * rings registered here, a SIGSEGV or SIGBUS handler takes the ring's
 * unmap-notify off, puts zeroes of our own in its place and lets the
 * access run again: it reads a ring whose peer is gone, and
 * xl_xen_fault_seen() tells the daemon to look at its domid before it
 * takes anything down. Any other fault keeps its default action.
 */
#ifndef XL_XEN_FAULT_H
#define XL_XEN_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Install the handler (once). Returns 0 or -errno. */
int xl_xen_fault_install(void);

/*
 * Guard [start, start + len), a mapping of grant fd mem at offset for
 * channel side (xl_xen_dev_unnotify). Returns a slot for
 * xl_xen_fault_forget(), or -ENOSPC when every slot is taken (the ring is
 * then unguarded: a restore at the wrong moment kills the daemon).
 */
int xl_xen_fault_guard(void *start, size_t len, int mem, uint32_t side,
		       uint64_t offset);

/* Stop guarding slot (before the mapping goes); -1: nothing. */
void xl_xen_fault_forget(int slot);

/* Did a guarded ring fault since the last call? */
bool xl_xen_fault_seen(void);

#endif /* XL_XEN_FAULT_H */
