/* SPDX-License-Identifier: MIT */
/*
 * dom0's side of Xen discovery (docs/xen.md §1), one pass at a time:
 * find the guests that advertise, check each against the toolstack's vif
 * nodes, and publish each willing guest its table of co-resident peers on
 * a node only dom0 can write and only that guest can read.
 *
 * Soft state: a guest whose "alive" counter has not moved for stale_ms,
 * or that left /local/domain, drops out of every table at the next pass.
 */
#ifndef XL_XEN_DOM0_H
#define XL_XEN_DOM0_H

#include <stdbool.h>
#include <stdint.h>

#include "xl_xen_peers.h"
#include "xl_xs.h"

#define XL_DOM0_MAX_GUESTS	256
#define XL_DOM0_TABLE_MAX	4096
#define XL_DOM0_ALIVE_MAX	24

/* Where things are; the guest-relative ones are under
 * /local/domain/<domid>/. */
#define XL_XS_ADVERT		"data/xenloop"	/* guest: version, alive */
#define XL_XS_TABLES		"/local/domain/0/data/xenloop/peers"
#define XL_XS_VIFS		"/local/domain/0/backend/vif"
#define XL_XS_VERSION		"1"

struct xl_dom0_guest {
	uint32_t domid;
	bool present;			/* in /local/domain at this pass */
	bool willing;
	char alive[XL_DOM0_ALIVE_MAX];	/* last value seen */
	uint64_t alive_ms;		/* when it last changed */
	bool published;			/* its table node exists */
	bool adopted;			/* ...but an earlier instance wrote it */
	char table[XL_DOM0_TABLE_MAX];	/* what it holds */
	struct xl_xen_guest info;	/* vifs at this pass */
};

struct xl_dom0 {
	const struct xl_xs_ops *ops;
	void *h;
	uint32_t stale_ms;		/* default 3000 */
	bool routed;			/* pair routed vifs (by IP) too */
	bool swept;			/* earlier instances' tables adopted */
	unsigned int nguest;
	struct xl_dom0_guest guest[XL_DOM0_MAX_GUESTS];
	struct xl_xen_guest scratch[XL_DOM0_MAX_GUESTS];	/* one pass */
};

/*
 * A discovery state over store ops/h. routed: dom0 routes freely between
 * the guests whose vifs are routed, so they may be paired by address
 * (xenloopd --routed, docs/xen.md §1); otherwise they never are.
 */
void xl_dom0_init(struct xl_dom0 *d, const struct xl_xs_ops *ops, void *h,
		  uint32_t stale_ms, bool routed);

/*
 * One pass at time now_ms (monotonic). Returns the number of willing
 * guests, or -errno if /local/domain cannot be listed (nothing changed).
 * The first pass adopts the tables an earlier instance left (killed, or
 * crashed): the ones of guests still willing are rewritten with their
 * permissions set again, the others removed, since domids come round.
 * A guest whose nodes are unreadable or malformed is treated as not
 * willing; a table that cannot be written is retried at the next pass;
 * one with more peers than XL_DOM0_TABLE_MAX holds lists the lowest
 * domids that fit.
 */
int xl_dom0_pass(struct xl_dom0 *d, uint64_t now_ms);

/* Remove every table this state published (clean shutdown). */
void xl_dom0_withdraw(struct xl_dom0 *d);

#endif /* XL_XEN_DOM0_H */
