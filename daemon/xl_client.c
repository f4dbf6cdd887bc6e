/* SPDX-License-Identifier: MIT */
/*
 * The namespace side of xenloopd: the preload library in every process
 * and xenloopctl connect to RUNDIR/ns/<netns inode>.sock. Registrations
 * come in here (docs/protocol.md §2 steps 1-3), CHAN and NOCHAN go out,
 * STATS and CLOSE feed the statistics (§6).
 *
 * The socket is world-writable (any process may want acceleration), so
 * a connection is accepted only from a process of our own network
 * namespace: otherwise a process of another namespace could register
 * connections that are not its own and be handed their channels.
 * Nothing a client sends is trusted beyond its own registrations; a
 * malformed message, or a send buffer it lets fill up, ends its
 * connection.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "xl_addr.h"
#include "xl_backend.h"
#include "xl_ctl_io.h"
#include "xl_daemon.h"
#include "xl_xen_link.h"

static char xl_status_buf[XL_CTL_MAX_TEXT + 1];

struct xl_client *xl_client_find(struct xl_daemon *d, uint32_t id)
{
	struct xl_client *c;

	for (c = d->clients; c; c = c->next)
		if (c->id == id)
			return c->dead ? NULL : c;
	return NULL;
}

static void xl_client_fail(struct xl_client *c, const char *why)
{
	if (c->dead)
		return;
	log_debug("client %u (pid %d): %s; disconnecting", c->id, (int)c->pid,
		  why);
	c->dead = true;
}

/* Send, never waiting: a client that does not read loses its connection. */
int xl_client_send(struct xl_client *c, struct xl_ctl_msg *msg,
			  const int *fds, const char *text)
{
	int ret;

	if (c->dead)
		return -ENOTCONN;
	ret = xl_ctl_send(c->fd, msg, fds, text, MSG_DONTWAIT);
	if (ret == -EPIPE || ret == -ECONNRESET || ret == -ENOTCONN)
		c->gone = true;
	if (ret < 0)
		xl_client_fail(c, ret == -EAGAIN ? "send buffer full" :
			       "send failed");
	return ret;
}

/* Has the process of client id exited (hung up, or already dropped)? */
static bool xl_client_gone(struct xl_daemon *d, uint32_t id)
{
	struct xl_client *c;

	for (c = d->clients; c; c = c->next)
		if (c->id == id)
			return c->gone;
	return true;
}

void xl_client_refuse(struct xl_daemon *d, struct xl_reg *reg,
		      uint32_t reason)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_NOCHAN };
	struct xl_client *c = xl_client_find(d, reg->owner);

	msg.cookie = reg->cookie;
	msg.status = (int32_t)reason;
	if (c)
		xl_client_send(c, &msg, NULL, NULL);
	log_debug("cookie %llu of pid %u stays on TCP: %s",
		  (unsigned long long)reg->cookie, reg->pid,
		  xl_reason_name(reason));
	xl_match_refuse(d->match, reg, reason);
}

int xl_client_chan(struct xl_daemon *d, struct xl_reg *reg,
		   const struct xl_match_fds *fds, uint32_t side,
		   const uint32_t order[2])
{
	struct xl_ctl_msg msg = { .type = XL_CTL_CHAN };
	struct xl_client *c;
	int ret = -ENOTCONN;

	if (!reg->owner)	/* shared by fork(): held for a claimant */
		return xl_handover_orphan_chan(d, reg, fds, order);
	c = xl_client_find(d, reg->owner);
	msg.cookie = reg->cookie;
	msg.chan_kind = fds->kind ? fds->kind : XL_BACKEND_LOCAL;
	msg.chan_offset = fds->offset;
	msg.chan_port[0] = fds->port[0];
	msg.chan_port[1] = fds->port[1];
	msg.chan_side = side;
	msg.chan_order[0] = order[0];
	msg.chan_order[1] = order[1];
	msg.nfds = fds->n;
	if (c)
		ret = xl_client_send(c, &msg, fds->fd, NULL);
	if (ret < 0 && xl_client_gone(d, reg->owner)) {
		/* its process exited, its connections with it: whatever
		 * CLOSE it still owed us went down with it; no fallback */
		log_debug("cookie %llu of pid %u: its process is gone",
			  (unsigned long long)reg->cookie, reg->pid);
		xl_match_refuse(d->match, reg, XL_REASON_NONE);
		return ret;
	}
	if (ret < 0) {
		log_debug("cookie %llu of pid %u stays on TCP: resources "
			  "(cannot hand its channel over: %s)",
			  (unsigned long long)reg->cookie, reg->pid,
			  strerror(-ret));
		xl_match_refuse(d->match, reg, XL_REASON_RESOURCES);
		return ret;
	}
	log_debug("cookie %llu of pid %u: channel side %u handed over",
		  (unsigned long long)reg->cookie, reg->pid, side);
	xl_match_ring(d->match, reg);
	return 0;
}

/* ---- accepting ---- */

/* The network namespace of pid, as the inode of /proc/<pid>/ns/net. */
static int xl_pid_netns(pid_t pid, unsigned long *ino)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	if (stat(path, &st) < 0)
		return -errno;
	*ino = (unsigned long)st.st_ino;
	return 0;
}

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71	/* Linux 5.14 */
#endif

/*
 * Is the client's end of the link in our network namespace? The kernel
 * makes the accepted end of a unix connection in the connecting socket's
 * namespace, so its cookie answers even once the client has exited (a
 * forking server's child that ended at once: its connection's counts
 * come in that link), which /proc no longer can. 0, -EPERM, or
 * -ENOPROTOOPT on a kernel without cookies.
 */
static int xl_client_netns_cookie(struct xl_daemon *d, int fd)
{
	uint64_t mine, theirs;
	socklen_t len = sizeof(theirs);

	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &theirs, &len) < 0)
		return -errno;
	len = sizeof(mine);
	if (getsockopt(d->ns_fd, SOL_SOCKET, SO_NETNS_COOKIE, &mine,
		       &len) < 0)
		return -errno;
	return mine == theirs ? 0 : -EPERM;
}

static int xl_client_vet(struct xl_daemon *d, int fd, pid_t *pid, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	unsigned long ino = 0;
	int ret;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	*pid = cred.pid;
	*uid = cred.uid;
	if (cred.pid <= 0)
		return -ESRCH;	/* not in our pid namespace's view */
	ret = xl_client_netns_cookie(d, fd);
	if (ret != -ENOPROTOOPT)
		return ret;
	ret = xl_pid_netns(cred.pid, &ino);
	if (ret < 0)
		return ret;
	return ino == d->ns_ino ? 0 : -EPERM;
}

static void xl_client_add(struct xl_daemon *d, int fd, pid_t pid, uid_t uid)
{
	struct xl_client *c = calloc(1, sizeof(*c));

	if (!c) {
		log_warnx("out of memory: turning a client away");
		close(fd);
		return;
	}
	c->id = xl_daemon_id(d);
	c->fd = fd;
	c->pid = pid;
	c->uid = uid;
	c->next = d->clients;
	d->clients = c;
	d->nclients++;
	log_debug("client %u: pid %d connected", c->id, (int)pid);
}

/*
 * A program that opens thousands of connections at once gets thousands of
 * CHAN answers while it is still busy connecting, and a client whose
 * socket is full loses its link (xl_client_send()); between daemons, an
 * offer or a reply that finds the socket full ends its connection's
 * chance of a ring. Give such sockets room for a burst (the bytes are
 * only taken while they wait). The default, about 200 messages with their
 * fds, is what a storm outran.
 */
void xl_sock_room(int fd)
{
	int size = XL_CLIENT_SNDBUF;

	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size,
		       sizeof(size)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

void xl_client_accept(struct xl_daemon *d)
{
	pid_t pid = 0;
	uid_t uid = 0;
	int fd, i, ret;

	for (i = 0; i < XL_RECV_BUDGET; i++) {
		fd = accept4(d->ns_fd, NULL, NULL,
			     SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			if (xl_daemon_shed(d, d->ns_fd, d->ns_sock))
				continue;
			return;
		}
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept on %s", d->ns_sock);
			return;
		}
		d->fd_starved = false;
		if (d->nclients >= XL_MAX_CLIENTS) {
			log_warnx("%u clients: turning one away",
				  XL_MAX_CLIENTS);
			close(fd);
			continue;
		}
		ret = xl_client_vet(d, fd, &pid, &uid);
		if (ret < 0) {
			log_warnx("refusing pid %d: %s", (int)pid,
				  ret == -EPERM ?
				  "not in this network namespace" :
				  strerror(-ret));
			close(fd);
			continue;
		}
		xl_sock_room(fd);
		xl_client_add(d, fd, pid, uid);
	}
}

/* ---- registrations ---- */

/* The remote end of a connection: our own namespace, a peer, or
 * nothing we can help with. */
static uint32_t xl_client_where(struct xl_daemon *d, const struct xl_reg *reg,
				struct xl_peer **peer, struct xl_xpeer **xp)
{
	const struct xl_ctl_addr *remote = &reg->remote;
	uint32_t reason;

	*peer = NULL;
	*xp = NULL;
	if (xl_addr_is_loopback(remote) || xl_daemon_own_addr(d, remote))
		return XL_REASON_SAME_NS;
	if (d->xen) {
		*xp = xl_xlink_lookup(d, remote,
				      reg->role == XL_CTL_ROLE_SERVER,
				      &reason);
		return reason;
	}
	*peer = xl_peer_lookup(d, remote);
	return *peer ? XL_REASON_NONE : XL_REASON_NOT_PEER;
}

static void xl_client_server(struct xl_daemon *d, struct xl_reg *reg)
{
	struct xl_offer *offer = NULL;
	int ret;

	ret = xl_match_server_wait(d->match, reg, xl_now_ms(), &offer);
	if (ret == 1) {
		xl_peer_deliver(d, reg, offer);
		return;
	}
	if (ret == -EADDRINUSE)
		log_warnx("pid %u registered a connection that is already "
			  "registered", reg->pid);
	if (ret < 0)
		xl_client_refuse(d, reg, ret == -EADDRINUSE ?
				 XL_REASON_PROTOCOL : XL_REASON_RESOURCES);
}

/* What to do with a NEW registration. */
static void xl_client_decide(struct xl_daemon *d, struct xl_reg *reg)
{
	struct xl_xpeer *xp;
	struct xl_peer *peer;
	uint32_t reason;

	if (!xl_daemon_own_addr(d, &reg->local)) {
		/* a process can only speak for its own connections */
		log_warnx("pid %u registered a connection from an address "
			  "that is not ours", reg->pid);
		xl_client_refuse(d, reg, XL_REASON_PROTOCOL);
		return;
	}
	reason = xl_client_where(d, reg, &peer, &xp);
	if (reason != XL_REASON_NONE) {
		xl_client_refuse(d, reg, reason);
		return;
	}
	if (reg->role == XL_CTL_ROLE_SERVER) {
		xl_client_server(d, reg);
		return;
	}
	reason = xp ? xl_xlink_offer(d, xp, reg) : xl_peer_offer(d, peer, reg);
	if (reason != XL_REASON_NONE)
		xl_client_refuse(d, reg, reason);
}

/* Of a STATS' TCP bytes, those before the rings: never more than it
 * says went by TCP, whatever a process claims. */
static uint64_t xl_client_before(const struct xl_ctl_msg *msg)
{
	uint64_t tx = msg->tcp_before[0], rx = msg->tcp_before[1];

	if (tx > msg->counts.tcp_tx)
		tx = msg->counts.tcp_tx;
	if (rx > msg->counts.tcp_rx)
		rx = msg->counts.tcp_rx;
	return tx + rx < tx ? UINT64_MAX : tx + rx;
}

/*
 * A connection that has had its channel since before we started (our
 * predecessor died): listed and accounted for like our own from now on,
 * and droppable; nothing to match. Only for the process's own addresses.
 */
static void xl_client_adopt(struct xl_daemon *d, struct xl_reg *reg,
			    const struct xl_ctl_msg *msg)
{
	if (!xl_daemon_own_addr(d, &reg->local)) {
		log_warnx("pid %u brought back a connection from an address "
			  "that is not ours", reg->pid);
		xl_client_refuse(d, reg, XL_REASON_PROTOCOL);
		return;
	}
	reg->counts = msg->counts;
	reg->tcp_before = xl_client_before(msg);
	memcpy(reg->switches, msg->switches, sizeof(reg->switches));
	reg->state = msg->switches[XL_SWITCH_DROP] ||
		     msg->switches[XL_SWITCH_PROTOCOL] ||
		     msg->switches[XL_SWITCH_PEER] ? XL_REG_TCP : XL_REG_RING;
	log_debug("cookie %llu of pid %u: a connection that outlived our "
		  "predecessor", (unsigned long long)reg->cookie, reg->pid);
}

static int xl_client_register(struct xl_daemon *d, struct xl_client *c,
			      const struct xl_ctl_msg *msg)
{
	struct xl_ctl_msg no = { .type = XL_CTL_NOCHAN };
	struct xl_reg req = { .owner = c->id }, *reg;
	uint32_t reason = XL_REASON_RESOURCES;
	int ret;

	req.cookie = msg->cookie;
	req.pid = (uint32_t)c->pid;
	req.role = msg->role;
	req.local = msg->local;
	req.remote = msg->remote;
	if (msg->status != 0 && msg->status != XL_CTL_REG_ADOPT)
		return -EPROTO;
	ret = xl_match_reg_add(d->match, &req, &reg);
	if (ret == -EINVAL || ret == -EEXIST)
		return -EPROTO;
	if (ret == 0 && msg->status == XL_CTL_REG_ADOPT) {
		xl_client_adopt(d, reg, msg);
		return 0;
	}
	if (ret == 0 && !d->conf.enable) {
		xl_client_refuse(d, reg, XL_REASON_DISABLED);
		return 0;
	}
	if (ret == 0) {
		xl_client_decide(d, reg);
		return 0;
	}
	/* no room to even remember it */
	log_debug("cookie %llu of pid %d stays on TCP: resources (%s)",
		  (unsigned long long)msg->cookie, (int)c->pid,
		  ret == -ENOSPC ? "registration table full" : strerror(-ret));
	no.cookie = msg->cookie;
	no.status = (int32_t)reason;
	xl_match_count_fallback(d->match, reason);
	xl_client_send(c, &no, NULL, NULL);
	return 0;
}

static int xl_client_counts(struct xl_daemon *d, struct xl_client *c,
			    const struct xl_ctl_msg *msg)
{
	struct xl_reg *reg = xl_match_reg_find(d->match, c->id, msg->cookie);

	if (msg->reason >= XL_REASON_MAX)
		return -EPROTO;
	if (!reg)
		return 0;	/* refused or already closed: nothing to keep */
	if (msg->reason != XL_REASON_NONE && reg->reason == XL_REASON_NONE)
		log_debug("cookie %llu of pid %u fell back to TCP: %s "
			  "(reported by the process)",
			  (unsigned long long)reg->cookie, reg->pid,
			  xl_reason_name(msg->reason));
	if (msg->type == XL_CTL_CLOSE && reg->state == XL_REG_WAIT_REPLY &&
	    !d->xen)
		xl_peer_withdraw(d, reg->peer, reg->offer_id);
	memcpy(reg->switches, msg->switches, sizeof(reg->switches));
	reg->tcp_before = xl_client_before(msg);
	/* a connection that left its ring is on TCP (and there it stays
	 * until TCP -> ring is written: protocol.md §5.1) */
	if (reg->state == XL_REG_RING && (msg->switches[XL_SWITCH_DROP] ||
					   msg->switches[XL_SWITCH_PROTOCOL] ||
					   msg->switches[XL_SWITCH_PEER]))
		reg->state = XL_REG_TCP;
	if (msg->type == XL_CTL_CLOSE)
		xl_match_reg_close(d->match, reg, &msg->counts, msg->reason);
	else
		xl_match_reg_stats(d->match, reg, &msg->counts, msg->reason);
	return 0;
}

/* The connection of a client id, or NULL. */
static struct xl_client *xl_client_by_id(struct xl_daemon *d, uint32_t id)
{
	struct xl_client *c;

	for (c = d->clients; c; c = c->next)
		if (c->id == id && !c->dead)
			return c;
	return NULL;
}

/*
 * xenloopctl drop: pass DROP on to the process of every registration on
 * its ring that matches (cookie 0: all; pid 0: any process), and answer
 * STATUS with how many (protocol.md §5.2). Only root or our own user.
 */
static int xl_client_drop(struct xl_daemon *d, struct xl_client *c,
			  const struct xl_ctl_msg *msg)
{
	struct xl_ctl_msg ans = { .type = XL_CTL_STATUS };
	struct xl_ctl_msg dm = { .type = XL_CTL_DROP };
	const struct xl_reg *r = NULL;
	struct xl_client *owner;
	int n = 0;

	if (c->uid != 0 && c->uid != geteuid()) {
		ans.status = -EPERM;
		xl_client_send(c, &ans, NULL, NULL);
		return 0;
	}
	while ((r = xl_match_reg_next(d->match, r))) {
		if (r->state != XL_REG_RING ||
		    (msg->cookie && r->cookie != msg->cookie) ||
		    (msg->pid && r->pid != msg->pid))
			continue;
		owner = xl_client_by_id(d, r->owner);
		if (!owner)
			continue;
		dm.cookie = r->cookie;
		if (xl_client_send(owner, &dm, NULL, NULL) == 0)
			n++;
	}
	log_info("drop: %d connection%s taken off %s ring%s", n,
		 n == 1 ? "" : "s", n == 1 ? "its" : "their", n == 1 ? "" : "s");
	ans.status = n ? n : -ENOENT;
	xl_client_send(c, &ans, NULL, NULL);
	return 0;
}

static void xl_client_status(struct xl_daemon *d, struct xl_client *c)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_STATUS };
	int len = xl_status_json(d, xl_status_buf, sizeof(xl_status_buf));

	if (len < 0) {
		msg.status = len;
		xl_client_send(c, &msg, NULL, NULL);
		return;
	}
	msg.text_len = (uint32_t)len;
	xl_client_send(c, &msg, NULL, xl_status_buf);
}

static int xl_client_handle(struct xl_daemon *d, struct xl_client *c,
			    const struct xl_ctl_msg *msg,
			    int fds[XL_CTL_MAX_FDS])
{
	if (msg->text_len)
		return -EPROTO;
	/* fds come with a channel given back and with a claim only */
	if (msg->type == XL_CTL_PARK)
		return xl_handover_park(d, c, msg, fds);
	if (msg->type == XL_CTL_CLAIM)
		return xl_handover_claim(d, c, msg, fds);
	if (msg->nfds)
		return -EPROTO;
	switch (msg->type) {
	case XL_CTL_DISOWN:
		return xl_handover_disown(d, c, msg);
	case XL_CTL_HELLO:
		log_debug("client %u: hello from pid %u (peer credentials: "
			  "%d)", c->id, msg->pid, (int)c->pid);
		return 0;
	case XL_CTL_REGISTER:
		return xl_client_register(d, c, msg);
	case XL_CTL_STATS:
	case XL_CTL_CLOSE:
		return xl_client_counts(d, c, msg);
	case XL_CTL_STATUS_REQ:
		xl_client_status(d, c);
		return 0;
	case XL_CTL_DROP:
		return xl_client_drop(d, c, msg);
	default:
		return -EPROTO;
	}
}

void xl_client_input(struct xl_daemon *d, struct xl_client *c)
{
	int fds[XL_CTL_MAX_FDS];
	struct xl_ctl_msg msg;
	int i, ret;

	for (i = 0; i < XL_RECV_BUDGET && !c->dead; i++) {
		ret = xl_ctl_recv(c->fd, &msg, fds, NULL, 0, MSG_DONTWAIT);
		if (ret == -EAGAIN)
			return;
		if (ret < 0) {
			xl_client_fail(c, ret == -ECONNRESET ? "closed" :
				       "bad message");
			return;
		}
		ret = xl_client_handle(d, c, &msg, fds);
		xl_ctl_close_fds(fds);
		if (ret < 0)
			xl_client_fail(c, "malformed message");
	}
}

/* ---- teardown ---- */

static void xl_client_free(struct xl_daemon *d, struct xl_client *c)
{
	xl_match_owner_drop(d->match, c->id);
	close(c->fd);
	d->nclients--;
	free(c);
}

void xl_client_reap(struct xl_daemon *d)
{
	struct xl_client **pp = &d->clients, *c;

	while ((c = *pp)) {
		if (c->dead) {
			*pp = c->next;
			xl_client_free(d, c);
		} else {
			pp = &c->next;
		}
	}
}

void xl_client_close_all(struct xl_daemon *d)
{
	struct xl_client *c;

	while ((c = d->clients)) {
		d->clients = c->next;
		xl_client_free(d, c);
	}
}
