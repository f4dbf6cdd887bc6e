/* SPDX-License-Identifier: MIT */
/*
 * The state of one xenloopd, shared by its modules:
 *   xenloopd.c     main, options, set-up, the poll() loop, signals
 *   xl_client.c    the namespace's processes (library, xenloopctl)
 *   xl_peer.c      the other daemons: discovery of live peers, offers
 *   xl_status.c    the STATUS document
 *   xl_match.c     the matching table (no I/O)
 *   xl_discovery.c own addresses, the .addrs files
 *
 * One thread. Every socket is nonblocking; a connection that fails (or
 * whose send buffer is full) is marked dead at once and freed by the
 * *_reap() functions between rounds of the loop, so no handler ever
 * frees an object another handler up the stack still holds.
 */
#ifndef XL_DAEMON_H
#define XL_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "xenloop/ctl.h"
#include "xl_backend.h"
#include "xl_conf.h"
#include "xl_discovery.h"
#include "xl_match.h"

/* Bounds: beyond them a client is turned away or a registration gets
 * NOCHAN {RESOURCES}. Waiting entries hold six fds each. */
#define XL_MAX_CLIENTS		512
#define XL_MAX_PEERS		64
#define XL_MAX_PCONNS		128
#define XL_MAX_REGS		16384
#define XL_MAX_WAITING		16384
#define XL_MAX_OFFERS		1024
/* Send buffer of a client's or a peer's socket: room for about 10,000
 * messages. */
#define XL_CLIENT_SNDBUF	(32 << 20)
/* Messages read from one connection per round of the loop. */
#define XL_RECV_BUDGET		32
/* Discovery period. */
#define XL_TICK_MS		1000
/* A client waits this much longer than match_timeout_ms for its peer's
 * answer: the peer itself times out first and says NO_MATCH. */
#define XL_REPLY_SLACK_MS	1000

/* A process of our namespace (the library or xenloopctl). */
struct xl_client {
	struct xl_client *next;
	uint32_t id;
	int fd;
	pid_t pid;			/* SO_PEERCRED at accept */
	uid_t uid;			/* the same */
	bool dead;
	bool gone;			/* dead because it hung up (exited) */
};

/* Another daemon, known by its .addrs file. */
struct xl_peer {
	struct xl_peer *next;
	uint32_t id;			/* new id for every connection */
	char name[XL_NAME_MAX + 1];
	struct xl_addrset addrs;
	int fd;				/* to its .sock; -1: not present */
	bool seen;			/* in the latest scan */
	bool dead;			/* connection failed: close at reap */
};

/* Another daemon's connection to our peers socket (it sends offers). */
struct xl_pconn {
	struct xl_pconn *next;
	uint32_t id;
	int fd;
	bool dead;
};

struct xl_xen_gd;

struct xl_daemon {
	struct xl_conf conf;
	unsigned long ns_ino;
	char name[XL_NAME_MAX + 1];
	char ns_sock[PATH_MAX], ns_lock[PATH_MAX];
	char peers_dir[PATH_MAX];
	char peer_sock[PATH_MAX], peer_addrs[PATH_MAX], peer_lock[PATH_MAX];
	int ns_fd, peer_fd, sig_fd, ns_lock_fd, peer_lock_fd;
	int spare_fd;		/* kept for shedding connections at EMFILE */
	bool fd_starved;	/* out of fds: warned once, until an accept */
	bool accept_paused;	/* no spare either: listeners out of poll() */
	struct xl_match *match;
	struct xl_addrset own;
	bool own_written;
	struct xl_client *clients;
	struct xl_peer *peers;
	struct xl_pconn *pconns;
	uint32_t nclients, npeers, npconns;
	uint32_t next_id;
	uint64_t next_offer;
	uint64_t next_tick;
	bool quit;
	struct xl_xen_gd *xen;		/* --xen: the guest role, or NULL */
};

/* Milliseconds on the monotonic clock. */
uint64_t xl_now_ms(void);

/* A fresh id for a connection (never 0). */
uint32_t xl_daemon_id(struct xl_daemon *d);

/* Is a (normalised) one of our namespace's addresses? Re-reads them once
 * on a miss, so an address added a moment ago counts. */
bool xl_daemon_own_addr(struct xl_daemon *d, const struct xl_ctl_addr *a);

/*
 * accept4() on the listening socket lfd failed with EMFILE or ENFILE:
 * take one connection off its backlog with the spare fd and close it, so
 * that the socket does not stay readable (poll() would spin) and the
 * process learns at once that it will not be served. Returns false when
 * there was nothing to shed or no spare: stop accepting for this round.
 */
bool xl_daemon_shed(struct xl_daemon *d, int lfd, const char *path);

/* Re-read our addresses; rewrite our .addrs if they changed. */
void xl_daemon_refresh_own(struct xl_daemon *d);

/* xl_client.c */
void xl_client_accept(struct xl_daemon *d);
/* Room in fd's send buffer for a burst of messages (XL_CLIENT_SNDBUF). */
void xl_sock_room(int fd);
void xl_client_input(struct xl_daemon *d, struct xl_client *c);
struct xl_client *xl_client_find(struct xl_daemon *d, uint32_t id);
/* NOCHAN {reason} to reg's process, then the registration is forgotten. */
void xl_client_refuse(struct xl_daemon *d, struct xl_reg *reg,
		      uint32_t reason);
/* CHAN with the channel side in fds to reg's process; RING on success,
 * refused (RESOURCES) if the process cannot take it. Returns 0 or
 * -errno. The fds stay the caller's. */
int xl_client_chan(struct xl_daemon *d, struct xl_reg *reg,
		   const struct xl_match_fds *fds, uint32_t side,
		   const uint32_t order[2]);
void xl_client_reap(struct xl_daemon *d);
void xl_client_close_all(struct xl_daemon *d);
/* Send msg (with fds and text, may be NULL) to c; a failure ends c. */
int xl_client_send(struct xl_client *c, struct xl_ctl_msg *msg,
		   const int *fds, const char *text);

/* xl_handover.c: sockets shared by fork() (protocol.md §4.1). Each
 * returns 0 or -EPROTO (the message ends the client's connection). */
int xl_handover_disown(struct xl_daemon *d, struct xl_client *c,
		       const struct xl_ctl_msg *msg);
/* Takes the fds it keeps out of fds[] (-1 left there). */
int xl_handover_park(struct xl_daemon *d, struct xl_client *c,
		     const struct xl_ctl_msg *msg, int fds[XL_CTL_MAX_FDS]);
int xl_handover_claim(struct xl_daemon *d, struct xl_client *c,
		      const struct xl_ctl_msg *msg, int fds[XL_CTL_MAX_FDS]);
/* A channel for a registration nobody holds: to its claimant, or parked
 * for one (copies of fds are kept). Returns 0 or -errno (refused). */
int xl_handover_orphan_chan(struct xl_daemon *d, struct xl_reg *reg,
			    const struct xl_match_fds *fds,
			    const uint32_t order[2]);

/* xl_peer.c */
void xl_peer_refresh(struct xl_daemon *d);
struct xl_peer *xl_peer_lookup(struct xl_daemon *d,
			       const struct xl_ctl_addr *a);
/* Offer a channel for a NEW client registration to peer. Returns
 * XL_REASON_NONE (now waiting) or the reason to refuse it with. */
uint32_t xl_peer_offer(struct xl_daemon *d, struct xl_peer *peer,
		       struct xl_reg *reg);
/* The client of offer_id, sent to peer, closed before the answer: the
 * peer daemon may forget the offer instead of holding it till it times
 * out (and turning later offers away as too many). */
void xl_peer_withdraw(struct xl_daemon *d, uint32_t peer, uint64_t offer_id);
/* A waiting server registration and a held offer met: CHAN to the
 * server, PEER_REPLY to the offering daemon, the offer freed. */
void xl_peer_deliver(struct xl_daemon *d, struct xl_reg *reg,
		     struct xl_offer *offer);
/* A channel side's fds (and, xendev, offset and ports) out of desc, for
 * the matching table to hold: desc keeps none of them. */
void xl_peer_take_fds(struct xl_chan_desc *desc, struct xl_match_fds *f);
/* Close what f holds (n becomes 0). */
void xl_peer_fds_close(struct xl_match_fds *fds);
/* An answer (PEER_REPLY, or a Xen link's REPLY) from peer to offer_id. */
void xl_peer_answer(struct xl_daemon *d, uint32_t peer, uint64_t offer_id,
		    int32_t status);
/* An offer from another daemon (o->from: its connection or link), with
 * side 1's fds in o->fds (taken over): held, matched or refused. Returns
 * -EPROTO if it was malformed (the caller ends the connection). */
int xl_peer_take_offer(struct xl_daemon *d, struct xl_offer *o);
/* PEER_REPLY {status} for an offer that came on connection from. */
void xl_peer_reply(struct xl_daemon *d, uint32_t from, uint64_t offer_id,
		   uint32_t status);
void xl_peer_input(struct xl_daemon *d, struct xl_peer *p);
void xl_pconn_accept(struct xl_daemon *d);
void xl_pconn_input(struct xl_daemon *d, struct xl_pconn *pc);
void xl_peer_reap(struct xl_daemon *d);
void xl_peer_close_all(struct xl_daemon *d);

/* xl_status.c: the JSON of docs/protocol.md §6 into buf; its length, or
 * -ENOSPC if even the summary does not fit. */
int xl_status_json(struct xl_daemon *d, char *buf, size_t len);

#endif /* XL_DAEMON_H */
