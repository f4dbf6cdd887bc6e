/* SPDX-License-Identifier: MIT */
/*
 * Discovery in local mode (docs/protocol.md §1): RUNDIR/peers is the
 * "xenstore" every daemon of the host can read. A daemon advertises the
 * addresses of its network namespace in RUNDIR/peers/<name>.addrs and
 * reads the others' files. This module does the file-system half; which
 * peers are live (their .sock connects) is xl_peer.c's business.
 *
 * Returns 0 or -errno; never writes errno.
 */
#ifndef XL_DISCOVERY_H
#define XL_DISCOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xenloop/ctl.h"

#define XL_ADDRS_MAX	64	/* addresses per namespace we keep */

struct xl_addrset {
	uint32_t n;
	struct xl_ctl_addr a[XL_ADDRS_MAX];	/* normalised, port 0 */
};

/* Is a's IP in set? */
bool xl_addrset_has(const struct xl_addrset *set,
		    const struct xl_ctl_addr *a);

bool xl_addrset_equal(const struct xl_addrset *x, const struct xl_addrset *y);

/* Every IPv4/IPv6 address of our namespace (getifaddrs), loopback
 * included, sorted, duplicates removed. */
int xl_disc_own_addrs(struct xl_addrset *set);

/*
 * Write the advertised addresses (set without loopback) to path,
 * atomically: a temporary file in the same directory, then rename(2).
 * Mode 0644.
 */
int xl_disc_write_addrs(const char *path, const struct xl_addrset *set);

/* Read a peer's .addrs file. Lines that are not an address are skipped;
 * at most XL_ADDRS_MAX are kept. */
int xl_disc_read_addrs(const char *path, struct xl_addrset *set);

/*
 * Call fn for the name of every peer advertising in dir (files
 * "<name>.addrs" with a valid name), except own. Stops early and returns
 * what fn returns if that is negative.
 */
int xl_disc_scan(const char *dir, const char *own,
		 int (*fn)(const char *name, void *arg), void *arg);

/* snprintf into a path buffer; -ENAMETOOLONG rather than a cut path. */
int xl_pathf(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Connect a nonblocking SOCK_SEQPACKET socket to the Unix socket path;
 * *fd on success. */
int xl_disc_connect(const char *path, int *fd);

#endif /* XL_DISCOVERY_H */
