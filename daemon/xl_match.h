/* SPDX-License-Identifier: MIT */
/*
 * The matching table of xenloopd (docs/protocol.md §2): registrations of
 * the processes of our namespace, offers from peer daemons held for a
 * server that has not registered yet, their timeouts, and the statistics
 * of everything that went through.
 *
 * Pure bookkeeping: no sockets, no clock, no channels. The caller passes
 * the time in, does every piece of I/O the answers call for, and gets
 * descriptor fds back only through the release callback, so the whole
 * life cycle runs in a unit test (tests/unit/check_match.c).
 *
 * A registration (struct xl_reg) goes
 *   client: NEW -> WAIT_REPLY (offer sent to the peer) -> RING or refused
 *   server: NEW -> WAIT_OFFER (no offer yet) -> RING or refused
 *   server: NEW -> RING (an offer was already waiting)
 *   RING -> TCP when the library reports a reason (STATS)
 * "Refused" (NOCHAN) forgets the registration at once, as the library
 * forgets the socket. A registration in RING or TCP stays until CLOSE or
 * until its owner (the process's connection) goes.
 *
 * Functions return 0, 1 (where stated) or -errno; none writes errno.
 */
#ifndef XL_MATCH_H
#define XL_MATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "xenloop/ctl.h"

enum xl_reg_state {
	XL_REG_NEW = 0,		/* the caller is deciding */
	XL_REG_WAIT_REPLY,	/* client: offer out, waiting for PEER_REPLY */
	XL_REG_WAIT_OFFER,	/* server: waiting for the client's offer */
	XL_REG_RING,		/* the channel went to the process */
	XL_REG_TCP,		/* had a channel, fell back (reason) */
	XL_REG_PARKED,		/* shared by fork(): the channel waits for
				 * the process that claims it (owner 0) */
};

/* File descriptors the table holds for the caller (a channel side). */
struct xl_match_fds {
	int fd[XL_CTL_MAX_FDS];
	unsigned int n;
	/* the channel these fds are a side of: kind (0: local) and, for
	 * xendev, the mmap offset and ports (struct xl_chan_desc) */
	uint32_t kind;
	uint64_t offset;
	uint32_t port[2];
};

struct xl_reg {
	/* set by the caller before xl_match_reg_add() */
	uint32_t owner;			/* the process's connection id */
	uint64_t cookie;		/* the library's id */
	uint32_t pid;
	uint32_t role;			/* enum xl_ctl_role */
	struct xl_ctl_addr local, remote;	/* normalised by add */
	/* kept by the table */
	enum xl_reg_state state;
	uint32_t reason;		/* enum xl_ctl_reason, once known */
	struct xl_ctl_counts counts;	/* last STATS */
	uint64_t tcp_before;		/* of its TCP bytes, those before
					 * its rings (last STATS) */
	uint32_t switches[XL_SWITCH_MAX];	/* last STATS: by cause */
	uint64_t deadline;		/* ms, while waiting */
	/* WAIT_REPLY: the offer, and side 0 of the channel until CHAN */
	uint64_t offer_id;
	uint32_t peer;
	uint32_t order[2];
	struct xl_match_fds fds;
	/* shared by fork() (protocol.md §4.1): owner 0 while nobody holds
	 * it; parked once its channel waited here; a claimant that came
	 * while the CHAN was on its way back (park_wait) */
	bool parked, park_wait;
	uint32_t claim_owner, claim_pid;
	uint64_t claim_cookie;
	/* private */
	struct xl_reg *hnext, *tnext;
	struct xl_reg *prev, *next, *wprev, *wnext;
};

struct xl_offer {
	/* set by the caller before xl_match_offer_add() */
	uint32_t from;			/* the peer connection it came on */
	uint64_t id;			/* the offering daemon's id */
	struct xl_ctl_addr client, server;	/* normalised by add */
	uint32_t order[2];
	struct xl_match_fds fds;	/* side 1 of the channel */
	/* kept by the table */
	uint64_t deadline;
	struct xl_offer *tnext, *prev, *next;
};

struct xl_match_limits {
	uint32_t max_regs;	/* registrations in any state */
	uint32_t max_waiting;	/* of them in WAIT_REPLY or WAIT_OFFER */
	uint32_t max_offers;	/* offers held for a server */
	uint32_t timeout_ms;	/* how long either end waits for the other */
	uint32_t reply_slack_ms;	/* a client waits this much longer for
					 * the peer's answer (NO_MATCH) */
	uint32_t seed;		/* hash seed */
};

struct xl_match_totals {
	uint64_t connections;		/* registrations that ended */
	struct xl_ctl_counts counts;	/* their final counts */
	uint64_t tcp_before;		/* of their TCP bytes, those before
					 * their rings */
	uint64_t fallbacks[XL_REASON_MAX];	/* registrations by reason */
	uint64_t switches[XL_SWITCH_MAX];	/* of ended ones, by cause */
};

struct xl_match;

/* Called with every xl_match_fds the table lets go of (close them). */
typedef void xl_match_release_fn(struct xl_match_fds *fds, void *arg);

int xl_match_new(struct xl_match **out, const struct xl_match_limits *lim,
		 xl_match_release_fn *release, void *arg);
/* Releases every held fd and frees everything. */
void xl_match_free(struct xl_match *m);

/*
 * Add the registration req describes (owner, cookie, pid, role, local,
 * remote) in state NEW; *out is the table's copy. -EINVAL: malformed (role,
 * family, mixed families, port 0, an unspecified or multicast address);
 * -EEXIST: the owner already has that cookie; -ENOSPC: table full.
 */
int xl_match_reg_add(struct xl_match *m, const struct xl_reg *req,
		     struct xl_reg **out);

struct xl_reg *xl_match_reg_find(struct xl_match *m, uint32_t owner,
				 uint64_t cookie);

/* Give reg to another owner and cookie (0: nobody's, for a socket shared
 * by fork()). -EEXIST if that owner already has the cookie. */
int xl_match_reg_rekey(struct xl_match *m, struct xl_reg *reg, uint32_t owner,
		       uint64_t cookie, uint32_t pid);

/* reg holds its channel side in reg->fds (and reg->order) for a claimant,
 * up to the match timeout; xl_match_expire() then returns it (parked is
 * set). -ENOSPC if too many wait. */
int xl_match_park(struct xl_match *m, struct xl_reg *reg, uint64_t now);

/* The registration of the connection role/local/remote (normalised), or
 * NULL. A linear search: for claims, which are rare. */
struct xl_reg *xl_match_reg_by_conn(struct xl_match *m, uint32_t role,
				    const struct xl_ctl_addr *local,
				    const struct xl_ctl_addr *remote);

/* Room for one more waiting registration? */
bool xl_match_can_wait(const struct xl_match *m);

/*
 * A NEW server registration looks for its offer. Returns 1 and takes the
 * matching offer out of the table into *offer (the caller sends CHAN, then
 * xl_match_ring() and xl_match_offer_free()); 0 if it now waits;
 * -ENOSPC (too many waiting) or -EADDRINUSE (another registration waits
 * with the same connection: one of them lies) if it cannot wait.
 */
int xl_match_server_wait(struct xl_match *m, struct xl_reg *reg,
			 uint64_t now, struct xl_offer **offer);

/*
 * A NEW client registration whose offer went to peer: hold side 0 (fds is
 * taken over on success) until the reply. -ENOSPC if too many wait.
 */
int xl_match_client_wait(struct xl_match *m, struct xl_reg *reg,
			 uint32_t peer, uint64_t offer_id,
			 const uint32_t order[2], struct xl_match_fds *fds,
			 uint64_t now);

/*
 * An offer from a peer daemon. Returns 1 with the waiting server
 * registration it matches in *reg (now NEW; the offer is not stored and
 * req->fds stay the caller's); 0 if stored until a server comes (fds taken
 * over); -EINVAL (malformed), -EADDRINUSE (an offer for that connection is
 * already held) or -ENOSPC.
 */
int xl_match_offer_add(struct xl_match *m, const struct xl_offer *req,
		       uint64_t now, struct xl_reg **reg);

/* Release an offer's fds and free it. */
void xl_match_offer_free(struct xl_match *m, struct xl_offer *offer);

/* The held offer id that came on connection from: released and freed.
 * Returns 1 if it was held, 0 if not (matched or expired already). */
int xl_match_offer_withdraw(struct xl_match *m, uint32_t from, uint64_t id);

/* Held offers that came on connection from: released and freed. */
void xl_match_offers_drop(struct xl_match *m, uint32_t from);

/*
 * The answer to offer_id came from peer: the WAIT_REPLY registration it
 * was for, now NEW with its fds still held (to send with CHAN), or NULL.
 */
struct xl_reg *xl_match_reply(struct xl_match *m, uint32_t peer,
			      uint64_t offer_id);

/* Registrations waiting for peer's reply will expire at the next call of
 * xl_match_expire() (the peer went away). */
void xl_match_peer_gone(struct xl_match *m, uint32_t peer);

/*
 * Something whose time ran out: returns 1 with either *reg (out of the
 * waiting state, now NEW: refuse it with NO_MATCH (server) or PEER_DOWN
 * (client)) or *offer (out of the table: answer NO_MATCH, then free it);
 * 0 when nothing is due.
 */
int xl_match_expire(struct xl_match *m, uint64_t now, struct xl_reg **reg,
		    struct xl_offer **offer);

/* The earliest deadline, or UINT64_MAX. */
uint64_t xl_match_next_deadline(const struct xl_match *m);

/* The channel went to the process: RING, held fds released. */
void xl_match_ring(struct xl_match *m, struct xl_reg *reg);

/* NOCHAN with reason was sent: counted, reg freed (do not use it after). */
void xl_match_refuse(struct xl_match *m, struct xl_reg *reg,
		     uint32_t reason);

/* A refusal without a registration (the table was full, disabled...). */
void xl_match_count_fallback(struct xl_match *m, uint32_t reason);

/* STATS: new counts; a reason other than NONE marks a fallback. */
void xl_match_reg_stats(struct xl_match *m, struct xl_reg *reg,
			const struct xl_ctl_counts *counts, uint32_t reason);

/* CLOSE: final counts into the totals, reg freed. */
void xl_match_reg_close(struct xl_match *m, struct xl_reg *reg,
			const struct xl_ctl_counts *counts, uint32_t reason);

/* The owner's connection went: every registration of it closed with its
 * last counts. */
void xl_match_owner_drop(struct xl_match *m, uint32_t owner);

/* Iterate: first with prev NULL. */
const struct xl_reg *xl_match_reg_next(const struct xl_match *m,
				       const struct xl_reg *prev);

const struct xl_match_totals *xl_match_totals(const struct xl_match *m);

/* How many registrations, waiting ones, held offers. */
void xl_match_usage(const struct xl_match *m, uint32_t *regs,
		    uint32_t *waiting, uint32_t *offers);

const char *xl_reg_state_name(enum xl_reg_state st);
/* enum xl_ctl_switch as xenloopctl shows it */
const char *xl_switch_name(uint32_t cause);
const char *xl_reason_name(uint32_t reason);

#endif /* XL_MATCH_H */
