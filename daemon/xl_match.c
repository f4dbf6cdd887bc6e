/* SPDX-License-Identifier: MIT */
/*
 * The matching table (see xl_match.h).
 *
 * How this works
 *
 * Every registration is on one list (for status and for dropping an
 * owner) and in a hash by (owner, cookie) (for STATS, CLOSE, duplicates).
 * A server registration waiting for its offer is also in a hash by its
 * connection (server address, client address); held offers are in a hash
 * by the same key, so whichever of the two arrives second finds the first
 * in one lookup.
 *
 * Everything that waits is on a list sorted by deadline. Deadlines are
 * "now + a constant", so an insertion lands at or near the tail and
 * expiry pops from the head; a registration whose peer went away is moved
 * to the head with deadline 0.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xl_addr.h"
#include "xl_match.h"

struct xl_match {
	struct xl_match_limits lim;
	xl_match_release_fn *release;
	void *arg;
	uint32_t mask;				/* buckets - 1 */
	struct xl_reg **by_id;			/* -> hnext */
	struct xl_reg **by_conn;		/* waiting servers -> tnext */
	struct xl_offer **offer_by_conn;	/* -> tnext */
	struct xl_reg *head, *tail;		/* every registration */
	struct xl_reg *whead, *wtail;		/* waiting, by deadline */
	struct xl_offer *ohead, *otail;		/* offers, by deadline */
	uint32_t nregs, nwaiting, noffers;
	struct xl_match_totals totals;
};

static uint32_t xl_match_id_hash(const struct xl_match *m, uint32_t owner,
				 uint64_t cookie)
{
	uint64_t h = (cookie ^ ((uint64_t)owner << 32) ^ m->lim.seed) *
		     0x9e3779b97f4a7c15ull;

	return (uint32_t)(h >> 32) & m->mask;
}

static uint32_t xl_match_conn_hash(const struct xl_match *m,
				   const struct xl_ctl_addr *server,
				   const struct xl_ctl_addr *client)
{
	uint32_t a = xl_addr_hash(server, m->lim.seed);
	uint32_t b = xl_addr_hash(client, ~m->lim.seed);

	return (a ^ (b << 7 | b >> 25)) & m->mask;
}

static uint32_t xl_match_buckets(uint32_t want)
{
	uint32_t n = 64;

	while (n < want && n < (1u << 20))
		n <<= 1;
	return n;
}

int xl_match_new(struct xl_match **out, const struct xl_match_limits *lim,
		 xl_match_release_fn *release, void *arg)
{
	struct xl_match *m = calloc(1, sizeof(*m));
	uint32_t n;

	if (!m)
		return -ENOMEM;
	m->lim = *lim;
	m->release = release;
	m->arg = arg;
	n = xl_match_buckets(lim->max_regs);
	m->mask = n - 1;
	m->by_id = calloc(n, sizeof(*m->by_id));
	m->by_conn = calloc(n, sizeof(*m->by_conn));
	m->offer_by_conn = calloc(n, sizeof(*m->offer_by_conn));
	if (!m->by_id || !m->by_conn || !m->offer_by_conn) {
		xl_match_free(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

static void xl_match_release(struct xl_match *m, struct xl_match_fds *fds)
{
	if (fds->n && m->release)
		m->release(fds, m->arg);
	fds->n = 0;
}

/* ---- the waiting list ---- */

static void xl_wait_unlink(struct xl_match *m, struct xl_reg *r)
{
	if (r->wprev)
		r->wprev->wnext = r->wnext;
	else
		m->whead = r->wnext;
	if (r->wnext)
		r->wnext->wprev = r->wprev;
	else
		m->wtail = r->wprev;
	r->wprev = r->wnext = NULL;
	m->nwaiting--;
}

/* After the last entry whose deadline is not later than r's. */
static void xl_wait_insert(struct xl_match *m, struct xl_reg *r)
{
	struct xl_reg *after = m->wtail;

	while (after && after->deadline > r->deadline)
		after = after->wprev;
	r->wprev = after;
	r->wnext = after ? after->wnext : m->whead;
	if (r->wnext)
		r->wnext->wprev = r;
	else
		m->wtail = r;
	if (after)
		after->wnext = r;
	else
		m->whead = r;
	m->nwaiting++;
}

/* ---- hashes ---- */

static void xl_conn_unhash(struct xl_match *m, struct xl_reg *r)
{
	struct xl_reg **pp;

	pp = &m->by_conn[xl_match_conn_hash(m, &r->local, &r->remote)];
	for (; *pp; pp = &(*pp)->tnext) {
		if (*pp == r) {
			*pp = r->tnext;
			break;
		}
	}
	r->tnext = NULL;
}

static struct xl_reg *xl_conn_find(struct xl_match *m,
				   const struct xl_ctl_addr *server,
				   const struct xl_ctl_addr *client)
{
	struct xl_reg *r = m->by_conn[xl_match_conn_hash(m, server, client)];

	for (; r; r = r->tnext)
		if (xl_addr_equal(&r->local, server) &&
		    xl_addr_equal(&r->remote, client))
			return r;
	return NULL;
}

/* Out of WAIT_* (or PARKED) back to NEW. */
static void xl_reg_unwait(struct xl_match *m, struct xl_reg *r)
{
	if (r->state == XL_REG_WAIT_OFFER)
		xl_conn_unhash(m, r);
	if (r->state == XL_REG_WAIT_OFFER || r->state == XL_REG_WAIT_REPLY ||
	    r->state == XL_REG_PARKED)
		xl_wait_unlink(m, r);
	r->state = XL_REG_NEW;
}

/* ---- registrations ---- */

static int xl_reg_check(struct xl_reg *r)
{
	if (r->role != XL_CTL_ROLE_CLIENT && r->role != XL_CTL_ROLE_SERVER)
		return -EINVAL;
	if (xl_addr_normalize(&r->local) || xl_addr_normalize(&r->remote))
		return -EINVAL;
	if (r->local.family != r->remote.family || !r->local.port ||
	    !r->remote.port)
		return -EINVAL;
	if (xl_addr_is_bogus(&r->local) || xl_addr_is_bogus(&r->remote))
		return -EINVAL;
	return 0;
}

struct xl_reg *xl_match_reg_find(struct xl_match *m, uint32_t owner,
				 uint64_t cookie)
{
	struct xl_reg *r = m->by_id[xl_match_id_hash(m, owner, cookie)];

	for (; r; r = r->hnext)
		if (r->owner == owner && r->cookie == cookie)
			return r;
	return NULL;
}

/* Out of the (owner, cookie) hash. */
static void xl_id_unhash(struct xl_match *m, struct xl_reg *r)
{
	struct xl_reg **pp = &m->by_id[xl_match_id_hash(m, r->owner,
							 r->cookie)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == r) {
			*pp = r->hnext;
			break;
		}
	}
}

static void xl_id_hash(struct xl_match *m, struct xl_reg *r)
{
	uint32_t h = xl_match_id_hash(m, r->owner, r->cookie);

	r->hnext = m->by_id[h];
	m->by_id[h] = r;
}

int xl_match_reg_rekey(struct xl_match *m, struct xl_reg *reg, uint32_t owner,
		       uint64_t cookie, uint32_t pid)
{
	if (xl_match_reg_find(m, owner, cookie))
		return -EEXIST;
	xl_id_unhash(m, reg);
	reg->owner = owner;
	reg->cookie = cookie;
	reg->pid = pid;
	xl_id_hash(m, reg);
	return 0;
}

int xl_match_park(struct xl_match *m, struct xl_reg *reg, uint64_t now)
{
	if (reg->state == XL_REG_PARKED)
		return 0;
	if (!xl_match_can_wait(m))
		return -ENOSPC;
	xl_reg_unwait(m, reg);
	reg->state = XL_REG_PARKED;
	reg->parked = true;
	reg->deadline = now + m->lim.timeout_ms;
	xl_wait_insert(m, reg);
	return 0;
}

struct xl_reg *xl_match_reg_by_conn(struct xl_match *m, uint32_t role,
				    const struct xl_ctl_addr *local,
				    const struct xl_ctl_addr *remote)
{
	struct xl_reg *r;

	for (r = m->head; r; r = r->next) {
		if (r->role == role && xl_addr_equal(&r->local, local) &&
		    xl_addr_equal(&r->remote, remote))
			return r;
	}
	return NULL;
}

int xl_match_reg_add(struct xl_match *m, const struct xl_reg *req,
		     struct xl_reg **out)
{
	struct xl_reg tmp = *req, *r;

	if (xl_reg_check(&tmp))
		return -EINVAL;
	if (xl_match_reg_find(m, tmp.owner, tmp.cookie))
		return -EEXIST;
	if (m->nregs >= m->lim.max_regs)
		return -ENOSPC;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->owner = tmp.owner;
	r->cookie = tmp.cookie;
	r->pid = tmp.pid;
	r->role = tmp.role;
	r->local = tmp.local;
	r->remote = tmp.remote;
	r->state = XL_REG_NEW;
	xl_id_hash(m, r);
	r->prev = m->tail;
	if (m->tail)
		m->tail->next = r;
	else
		m->head = r;
	m->tail = r;
	m->nregs++;
	*out = r;
	return 0;
}

static void xl_reg_free(struct xl_match *m, struct xl_reg *r)
{
	xl_reg_unwait(m, r);
	xl_match_release(m, &r->fds);
	xl_id_unhash(m, r);
	if (r->prev)
		r->prev->next = r->next;
	else
		m->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		m->tail = r->prev;
	m->nregs--;
	free(r);
}

bool xl_match_can_wait(const struct xl_match *m)
{
	return m->nwaiting < m->lim.max_waiting;
}

/* ---- offers ---- */

static struct xl_offer *xl_offer_find(struct xl_match *m,
				      const struct xl_ctl_addr *server,
				      const struct xl_ctl_addr *client)
{
	struct xl_offer *o;

	o = m->offer_by_conn[xl_match_conn_hash(m, server, client)];
	for (; o; o = o->tnext)
		if (xl_addr_equal(&o->server, server) &&
		    xl_addr_equal(&o->client, client))
			return o;
	return NULL;
}

/* Out of the hash and the list; the caller frees or hands it out. */
static void xl_offer_unlink(struct xl_match *m, struct xl_offer *o)
{
	struct xl_offer **pp;

	pp = &m->offer_by_conn[xl_match_conn_hash(m, &o->server, &o->client)];
	for (; *pp; pp = &(*pp)->tnext) {
		if (*pp == o) {
			*pp = o->tnext;
			break;
		}
	}
	if (o->prev)
		o->prev->next = o->next;
	else
		m->ohead = o->next;
	if (o->next)
		o->next->prev = o->prev;
	else
		m->otail = o->prev;
	o->tnext = o->prev = o->next = NULL;
	m->noffers--;
}

void xl_match_offer_free(struct xl_match *m, struct xl_offer *offer)
{
	if (!offer)
		return;
	xl_match_release(m, &offer->fds);
	free(offer);
}

static int xl_offer_check(struct xl_offer *o)
{
	if (xl_addr_normalize(&o->client) || xl_addr_normalize(&o->server))
		return -EINVAL;
	if (o->client.family != o->server.family || !o->client.port ||
	    !o->server.port)
		return -EINVAL;
	if (xl_addr_is_bogus(&o->client) || xl_addr_is_bogus(&o->server))
		return -EINVAL;
	return 0;
}

static int xl_offer_store(struct xl_match *m, const struct xl_offer *req,
			  uint64_t now)
{
	struct xl_offer *o;
	uint32_t h;

	if (xl_offer_find(m, &req->server, &req->client))
		return -EADDRINUSE;
	if (m->noffers >= m->lim.max_offers)
		return -ENOSPC;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	*o = *req;
	o->deadline = now + m->lim.timeout_ms;
	h = xl_match_conn_hash(m, &o->server, &o->client);
	o->tnext = m->offer_by_conn[h];
	m->offer_by_conn[h] = o;
	o->next = NULL;
	o->prev = m->otail;
	if (m->otail)
		m->otail->next = o;
	else
		m->ohead = o;
	m->otail = o;
	m->noffers++;
	return 0;
}

int xl_match_offer_add(struct xl_match *m, const struct xl_offer *req,
		       uint64_t now, struct xl_reg **reg)
{
	struct xl_offer tmp = *req;
	struct xl_reg *r;

	if (xl_offer_check(&tmp))
		return -EINVAL;
	r = xl_conn_find(m, &tmp.server, &tmp.client);
	if (r) {
		xl_reg_unwait(m, r);
		*reg = r;
		return 1;
	}
	return xl_offer_store(m, &tmp, now);
}

int xl_match_offer_withdraw(struct xl_match *m, uint32_t from, uint64_t id)
{
	struct xl_offer *o;

	for (o = m->ohead; o; o = o->next) {
		if (o->from == from && o->id == id) {
			xl_offer_unlink(m, o);
			xl_match_offer_free(m, o);
			return 1;
		}
	}
	return 0;
}

void xl_match_offers_drop(struct xl_match *m, uint32_t from)
{
	struct xl_offer *o = m->ohead, *next;

	for (; o; o = next) {
		next = o->next;
		if (o->from == from) {
			xl_offer_unlink(m, o);
			xl_match_offer_free(m, o);
		}
	}
}

/* ---- waiting ---- */

int xl_match_server_wait(struct xl_match *m, struct xl_reg *reg,
			 uint64_t now, struct xl_offer **offer)
{
	struct xl_offer *o = xl_offer_find(m, &reg->local, &reg->remote);
	uint32_t h;

	if (o) {
		xl_offer_unlink(m, o);
		*offer = o;
		return 1;
	}
	if (xl_conn_find(m, &reg->local, &reg->remote))
		return -EADDRINUSE;
	if (!xl_match_can_wait(m))
		return -ENOSPC;
	reg->state = XL_REG_WAIT_OFFER;
	reg->deadline = now + m->lim.timeout_ms;
	h = xl_match_conn_hash(m, &reg->local, &reg->remote);
	reg->tnext = m->by_conn[h];
	m->by_conn[h] = reg;
	xl_wait_insert(m, reg);
	return 0;
}

int xl_match_client_wait(struct xl_match *m, struct xl_reg *reg,
			 uint32_t peer, uint64_t offer_id,
			 const uint32_t order[2], struct xl_match_fds *fds,
			 uint64_t now)
{
	if (!xl_match_can_wait(m))
		return -ENOSPC;
	reg->state = XL_REG_WAIT_REPLY;
	reg->peer = peer;
	reg->offer_id = offer_id;
	reg->order[0] = order[0];
	reg->order[1] = order[1];
	reg->fds = *fds;
	fds->n = 0;
	reg->deadline = now + m->lim.timeout_ms + m->lim.reply_slack_ms;
	xl_wait_insert(m, reg);
	return 0;
}

struct xl_reg *xl_match_reply(struct xl_match *m, uint32_t peer,
			      uint64_t offer_id)
{
	struct xl_reg *r;

	/* only waiting ones can be meant: a short list */
	for (r = m->whead; r; r = r->wnext) {
		if (r->state == XL_REG_WAIT_REPLY && r->peer == peer &&
		    r->offer_id == offer_id) {
			xl_reg_unwait(m, r);
			return r;
		}
	}
	return NULL;
}

void xl_match_peer_gone(struct xl_match *m, uint32_t peer)
{
	struct xl_reg *r = m->whead, *next;

	for (; r; r = next) {
		next = r->wnext;
		if (r->state != XL_REG_WAIT_REPLY || r->peer != peer)
			continue;
		xl_wait_unlink(m, r);
		r->deadline = 0;
		xl_wait_insert(m, r);
	}
}

int xl_match_expire(struct xl_match *m, uint64_t now, struct xl_reg **reg,
		    struct xl_offer **offer)
{
	*reg = NULL;
	*offer = NULL;
	if (m->whead && m->whead->deadline <= now) {
		*reg = m->whead;
		xl_reg_unwait(m, *reg);
		return 1;
	}
	if (m->ohead && m->ohead->deadline <= now) {
		*offer = m->ohead;
		xl_offer_unlink(m, *offer);
		return 1;
	}
	return 0;
}

uint64_t xl_match_next_deadline(const struct xl_match *m)
{
	uint64_t d = UINT64_MAX;

	if (m->whead)
		d = m->whead->deadline;
	if (m->ohead && m->ohead->deadline < d)
		d = m->ohead->deadline;
	return d;
}

/* ---- outcomes and statistics ---- */

static void xl_match_fallback(struct xl_match *m, struct xl_reg *r,
			      uint32_t reason)
{
	if (reason == XL_REASON_NONE || reason >= XL_REASON_MAX ||
	    (r && r->reason != XL_REASON_NONE))
		return;
	if (r)
		r->reason = reason;
	m->totals.fallbacks[reason]++;
}

void xl_match_count_fallback(struct xl_match *m, uint32_t reason)
{
	xl_match_fallback(m, NULL, reason);
}

void xl_match_ring(struct xl_match *m, struct xl_reg *reg)
{
	xl_reg_unwait(m, reg);
	xl_match_release(m, &reg->fds);
	reg->state = XL_REG_RING;
}

static uint64_t xl_sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* Into the totals and gone. */
static void xl_reg_end(struct xl_match *m, struct xl_reg *r)
{
	struct xl_ctl_counts *t = &m->totals.counts;
	int i;

	m->totals.connections++;
	t->ring_tx = xl_sat_add(t->ring_tx, r->counts.ring_tx);
	t->ring_rx = xl_sat_add(t->ring_rx, r->counts.ring_rx);
	t->tcp_tx = xl_sat_add(t->tcp_tx, r->counts.tcp_tx);
	t->tcp_rx = xl_sat_add(t->tcp_rx, r->counts.tcp_rx);
	m->totals.tcp_before = xl_sat_add(m->totals.tcp_before, r->tcp_before);
	for (i = 0; i < XL_SWITCH_MAX; i++)
		m->totals.switches[i] += r->switches[i];
	xl_reg_free(m, r);
}

void xl_match_refuse(struct xl_match *m, struct xl_reg *reg,
		     uint32_t reason)
{
	xl_match_fallback(m, reg, reason);
	xl_reg_end(m, reg);
}

void xl_match_reg_stats(struct xl_match *m, struct xl_reg *reg,
			const struct xl_ctl_counts *counts, uint32_t reason)
{
	reg->counts = *counts;
	if (reason == XL_REASON_NONE || reason >= XL_REASON_MAX)
		return;
	xl_match_fallback(m, reg, reason);
	if (reg->state == XL_REG_RING)
		reg->state = XL_REG_TCP;
}

void xl_match_reg_close(struct xl_match *m, struct xl_reg *reg,
			const struct xl_ctl_counts *counts, uint32_t reason)
{
	xl_match_reg_stats(m, reg, counts, reason);
	xl_reg_end(m, reg);
}

void xl_match_owner_drop(struct xl_match *m, uint32_t owner)
{
	struct xl_reg *r = m->head, *next;

	for (; r; r = next) {
		next = r->next;
		if (r->owner == owner)
			xl_reg_end(m, r);
	}
}

void xl_match_free(struct xl_match *m)
{
	struct xl_offer *o;

	if (!m)
		return;
	while (m->head)
		xl_reg_free(m, m->head);
	while ((o = m->ohead)) {
		xl_offer_unlink(m, o);
		xl_match_offer_free(m, o);
	}
	free(m->by_id);
	free(m->by_conn);
	free(m->offer_by_conn);
	free(m);
}

const struct xl_reg *xl_match_reg_next(const struct xl_match *m,
				       const struct xl_reg *prev)
{
	return prev ? prev->next : m->head;
}

const struct xl_match_totals *xl_match_totals(const struct xl_match *m)
{
	return &m->totals;
}

void xl_match_usage(const struct xl_match *m, uint32_t *regs,
		    uint32_t *waiting, uint32_t *offers)
{
	*regs = m->nregs;
	*waiting = m->nwaiting;
	*offers = m->noffers;
}

const char *xl_reg_state_name(enum xl_reg_state st)
{
	switch (st) {
	case XL_REG_NEW:
		return "new";
	case XL_REG_WAIT_REPLY:
	case XL_REG_WAIT_OFFER:
		return "pending";
	case XL_REG_RING:
		return "ring";
	case XL_REG_TCP:
		return "tcp";
	case XL_REG_PARKED:
		return "parked";
	}
	return "unknown";
}

const char *xl_switch_name(uint32_t cause)
{
	static const char *const names[XL_SWITCH_MAX] = {
		[XL_SWITCH_DROP] = "drop",
		[XL_SWITCH_PROTOCOL] = "protocol",
		[XL_SWITCH_PEER] = "peer",
		[XL_SWITCH_OOB] = "oob",
		[XL_SWITCH_EXEC] = "exec",
	};

	return cause < XL_SWITCH_MAX && names[cause] ? names[cause] : NULL;
}

const char *xl_reason_name(uint32_t reason)
{
	static const char *const names[XL_REASON_MAX] = {
		[XL_REASON_NONE] = "none",
		[XL_REASON_NOT_PEER] = "not_peer",
		[XL_REASON_SAME_NS] = "same_ns",
		[XL_REASON_NO_MATCH] = "no_match",
		[XL_REASON_PEER_DOWN] = "peer_down",
		[XL_REASON_RESOURCES] = "resources",
		[XL_REASON_PROTOCOL] = "protocol",
		[XL_REASON_DISABLED] = "disabled",
		[XL_REASON_SHARED] = "shared",
		[XL_REASON_IO_URING] = "io_uring",
	};

	return reason < XL_REASON_MAX ? names[reason] : "unknown";
}
