/* SPDX-License-Identifier: MIT */
/*
 * Daemon to daemon (docs/protocol.md §1, §2 steps 3-5).
 *
 * How this works
 *
 * Every daemon listens on RUNDIR/peers/<name>.sock. For every other
 * daemon that advertises a .addrs file we keep one outgoing connection
 * to its .sock; the peer counts as present exactly while that connection
 * lives. It carries our PEER_OFFERs out and their PEER_REPLYs back.
 * Offers for connections whose server is here come in on the
 * connections other daemons made to us (struct xl_pconn), and are
 * answered on the same connection.
 *
 * A peer that dies hangs up our connection at once, so its waiting
 * registrations get NOCHAN {PEER_DOWN} in the same round; a peer that
 * hangs keeps its connection, and the registrations time out instead.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "xl_addr.h"
#include "xl_chan.h"
#include "xl_ctl_io.h"
#include "xl_daemon.h"
#include "xl_desc.h"
#include "xl_xen_link.h"

/* ---- the peer table ---- */

static struct xl_peer *xl_peer_find(struct xl_daemon *d, const char *name)
{
	struct xl_peer *p;

	for (p = d->peers; p; p = p->next)
		if (!strcmp(p->name, name))
			return p;
	return NULL;
}

/* Our connection to p is gone: whatever waits for its answers ends. */
static void xl_peer_disconnect(struct xl_daemon *d, struct xl_peer *p,
			       const char *why)
{
	if (p->fd < 0)
		return;
	log_info("peer %s gone (%s)", p->name, why);
	xl_match_peer_gone(d->match, p->id);
	close(p->fd);
	p->fd = -1;
	p->dead = false;
}

static void xl_peer_connect(struct xl_daemon *d, struct xl_peer *p)
{
	char path[PATH_MAX];
	int ret;

	ret = xl_pathf(path, sizeof(path), "%s/%s.sock", d->peers_dir,
		       p->name);
	if (ret == 0)
		ret = xl_disc_connect(path, &p->fd);
	if (ret < 0) {
		p->fd = -1;
		return;
	}
	xl_sock_room(p->fd);
	p->id = xl_daemon_id(d);
	log_info("peer %s present (%u addresses)", p->name, p->addrs.n);
}

static struct xl_peer *xl_peer_new(struct xl_daemon *d, const char *name)
{
	struct xl_peer *p;

	if (d->npeers >= XL_MAX_PEERS)
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->fd = -1;
	p->next = d->peers;
	d->peers = p;
	d->npeers++;
	return p;
}

static int xl_peer_seen(const char *name, void *arg)
{
	struct xl_daemon *d = arg;
	struct xl_peer *p = xl_peer_find(d, name);
	struct xl_addrset set;
	char path[PATH_MAX];

	if (xl_pathf(path, sizeof(path), "%s/%s.addrs", d->peers_dir,
		     name) < 0 || xl_disc_read_addrs(path, &set) < 0)
		return 0;	/* removed meanwhile: as if not there */
	if (!p)
		p = xl_peer_new(d, name);
	if (!p)
		return 0;
	p->addrs = set;
	p->seen = true;
	if (p->fd < 0)
		xl_peer_connect(d, p);
	return 0;
}

void xl_peer_refresh(struct xl_daemon *d)
{
	struct xl_peer **pp = &d->peers, *p;
	int ret;

	for (p = d->peers; p; p = p->next)
		p->seen = false;
	ret = xl_disc_scan(d->peers_dir, d->name, xl_peer_seen, d);
	if (ret < 0)
		log_warnx("cannot scan %s: %s", d->peers_dir, strerror(-ret));
	while ((p = *pp)) {
		if (p->seen || ret < 0) {
			pp = &p->next;
			continue;
		}
		xl_peer_disconnect(d, p, "no longer advertised");
		*pp = p->next;
		d->npeers--;
		free(p);
	}
}

struct xl_peer *xl_peer_lookup(struct xl_daemon *d,
			       const struct xl_ctl_addr *a)
{
	struct xl_peer *p;

	for (p = d->peers; p; p = p->next)
		if (p->fd >= 0 && !p->dead && xl_addrset_has(&p->addrs, a))
			return p;
	return NULL;
}

/* ---- offering (the client's daemon) ---- */

void xl_peer_fds_close(struct xl_match_fds *fds)
{
	unsigned int i;

	for (i = 0; i < fds->n; i++)
		if (fds->fd[i] >= 0)
			close(fds->fd[i]);
	fds->n = 0;
}

static int xl_peer_send_offer(struct xl_peer *p, struct xl_reg *reg,
			      uint64_t id, const struct xl_chan_desc *side1)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_PEER_OFFER };
	int fds[XL_CTL_MAX_FDS];
	int ret;

	msg.cookie = id;
	msg.role = XL_CTL_ROLE_CLIENT;
	msg.local = reg->local;
	msg.remote = reg->remote;
	ret = xl_desc_to_msg(side1, &msg, fds);
	if (ret < 0)
		return ret;
	ret = xl_ctl_send(p->fd, &msg, fds, NULL, MSG_DONTWAIT);
	if (ret < 0 && ret != -EAGAIN)
		p->dead = true;
	return ret;
}

void xl_peer_take_fds(struct xl_chan_desc *desc, struct xl_match_fds *f)
{
	struct xl_ctl_msg m = { 0 };

	memset(f, 0, sizeof(*f));
	xl_desc_to_msg(desc, &m, f->fd);
	f->n = m.nfds;
	f->kind = m.chan_kind;
	f->offset = m.chan_offset;
	f->port[0] = m.chan_port[0];
	f->port[1] = m.chan_port[1];
	/* every fd field -1: a release of desc closes nothing now */
	memset(&desc->u, 0xff, sizeof(desc->u));
}

/* At most one warning a second: how often this fails (every registration
 * while fds or memory run out) is up to the processes of the namespace. */
static void xl_peer_warn_chan(int err)
{
	static uint64_t next;
	static unsigned int quiet;
	uint64_t now = xl_now_ms();

	if (now < next) {
		quiet++;
		return;
	}
	log_warnx("cannot make a channel: %s (%u more since the last "
		  "warning)", strerror(-err), quiet);
	quiet = 0;
	next = now + 1000;
}

uint32_t xl_peer_offer(struct xl_daemon *d, struct xl_peer *peer,
		       struct xl_reg *reg)
{
	struct xl_chan_params par = { 0 };
	struct xl_chan_desc desc[2];
	struct xl_match_fds side0;
	uint64_t id;
	int ret;

	if (!xl_match_can_wait(d->match)) {
		log_debug("cookie %llu: too many registrations wait for "
			  "their peer", (unsigned long long)reg->cookie);
		return XL_REASON_RESOURCES;
	}
	par.order[0] = par.order[1] = d->conf.ring_order;
	ret = xl_chan_create_pair(xl_backend_get(XL_BACKEND_LOCAL), &par, desc);
	if (ret < 0) {
		xl_peer_warn_chan(ret);
		return XL_REASON_RESOURCES;
	}
	id = ++d->next_offer;
	ret = xl_peer_send_offer(peer, reg, id, &desc[1]);
	xl_chan_desc_release(&desc[1]);	/* sent or not, not ours now */
	if (ret < 0) {
		xl_chan_desc_release(&desc[0]);
		log_debug("offer to %s failed: %s", peer->name, strerror(-ret));
		return XL_REASON_PEER_DOWN;
	}
	xl_peer_take_fds(&desc[0], &side0);
	ret = xl_match_client_wait(d->match, reg, peer->id, id, par.order,
				   &side0, xl_now_ms());
	if (ret < 0) {
		log_debug("cookie %llu: cannot wait for the reply: %s",
			  (unsigned long long)reg->cookie, strerror(-ret));
		xl_peer_fds_close(&side0);
		return XL_REASON_RESOURCES;
	}
	log_debug("cookie %llu of pid %u: offer %llu sent to %s",
		  (unsigned long long)reg->cookie, reg->pid,
		  (unsigned long long)id, peer->name);
	return XL_REASON_NONE;
}

void xl_peer_answer(struct xl_daemon *d, uint32_t peer, uint64_t offer_id,
		    int32_t status)
{
	uint32_t reason = (uint32_t)status;
	struct xl_reg *reg;

	if (status < 0 || reason >= XL_REASON_MAX)
		reason = XL_REASON_PROTOCOL;
	reg = xl_match_reply(d->match, peer, offer_id);
	if (!reg)
		return;		/* timed out, or its process left */
	if (reason == XL_REASON_NONE) {
		/* the table releases side 0 once CHAN carried it */
		xl_client_chan(d, reg, &reg->fds, 0, reg->order);
		return;
	}
	xl_client_refuse(d, reg, reason);
}

/* PEER_REPLY on our connection to p. */
static int xl_peer_on_reply(struct xl_daemon *d, struct xl_peer *p,
			    const struct xl_ctl_msg *msg)
{
	if (msg->type != XL_CTL_PEER_REPLY || msg->nfds || msg->text_len)
		return -EPROTO;
	xl_peer_answer(d, p->id, msg->cookie, msg->status);
	return 0;
}

void xl_peer_input(struct xl_daemon *d, struct xl_peer *p)
{
	int fds[XL_CTL_MAX_FDS];
	struct xl_ctl_msg msg;
	int i, ret;

	for (i = 0; i < XL_RECV_BUDGET && p->fd >= 0 && !p->dead; i++) {
		ret = xl_ctl_recv(p->fd, &msg, fds, NULL, 0, MSG_DONTWAIT);
		if (ret == -EAGAIN)
			return;
		if (ret == 0) {
			xl_ctl_close_fds(fds);
			ret = xl_peer_on_reply(d, p, &msg);
		}
		if (ret < 0) {
			if (ret == -EPROTO)
				log_warnx("peer %s: malformed message", p->name);
			p->dead = true;
		}
	}
}

/* ---- answering offers (the server's daemon) ---- */

static struct xl_pconn *xl_pconn_find(struct xl_daemon *d, uint32_t id)
{
	struct xl_pconn *pc;

	for (pc = d->pconns; pc; pc = pc->next)
		if (pc->id == id)
			return pc->dead ? NULL : pc;
	return NULL;
}

void xl_peer_reply(struct xl_daemon *d, uint32_t from, uint64_t offer_id,
		   uint32_t status)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_PEER_REPLY };
	struct xl_pconn *pc = xl_pconn_find(d, from);
	int ret;

	if (!pc) {
		xl_xlink_reply(d, from, offer_id, status);
		return;
	}
	msg.cookie = offer_id;
	msg.status = (int32_t)status;
	ret = xl_ctl_send(pc->fd, &msg, NULL, NULL, MSG_DONTWAIT);
	if (ret < 0) {
		/* the offering daemon sees the hang-up: PEER_DOWN there */
		log_debug("peer connection %u: reply failed: %s", pc->id,
			  strerror(-ret));
		pc->dead = true;
	}
}

void xl_peer_withdraw(struct xl_daemon *d, uint32_t peer, uint64_t offer_id)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_PEER_WITHDRAW };
	struct xl_peer *p;

	for (p = d->peers; p && p->id != peer; p = p->next)
		;
	if (!p || p->fd < 0)
		return;
	msg.cookie = offer_id;
	/* not sent (a full socket): the offer times out there */
	xl_ctl_send(p->fd, &msg, NULL, NULL, MSG_DONTWAIT);
}

void xl_peer_deliver(struct xl_daemon *d, struct xl_reg *reg,
		     struct xl_offer *offer)
{
	int ret;

	ret = xl_client_chan(d, reg, &offer->fds, 1, offer->order);
	xl_peer_reply(d, offer->from, offer->id,
		      ret < 0 ? XL_REASON_RESOURCES : XL_REASON_NONE);
	xl_match_offer_free(d->match, offer);
}

static int xl_offer_from_msg(struct xl_offer *o, const struct xl_ctl_msg *msg,
			     int fds[XL_CTL_MAX_FDS])
{
	unsigned int i;

	if (msg->type != XL_CTL_PEER_OFFER || msg->text_len ||
	    msg->role != XL_CTL_ROLE_CLIENT ||
	    msg->chan_kind != XL_BACKEND_LOCAL || xl_desc_check(msg, 1) < 0)
		return -EPROTO;
	o->id = msg->cookie;
	o->client = msg->local;
	o->server = msg->remote;
	if (xl_addr_normalize(&o->client) || xl_addr_normalize(&o->server))
		return -EPROTO;
	o->order[0] = msg->chan_order[0];
	o->order[1] = msg->chan_order[1];
	for (i = 0; i < msg->nfds; i++) {
		o->fds.fd[i] = fds[i];
		fds[i] = -1;
	}
	o->fds.n = msg->nfds;
	return 0;
}

/* What an offer that cannot be held or matched is answered with. */
static uint32_t xl_offer_refusal(int err)
{
	switch (err) {
	case -EADDRINUSE:
		return XL_REASON_PROTOCOL;
	case -ENOSPC:
	case -ENOMEM:
		return XL_REASON_RESOURCES;
	default:
		return XL_REASON_PROTOCOL;
	}
}

int xl_peer_take_offer(struct xl_daemon *d, struct xl_offer *o)
{
	struct xl_reg *reg = NULL;
	int ret, err;

	if (!xl_daemon_own_addr(d, &o->server)) {
		xl_peer_fds_close(&o->fds);
		xl_peer_reply(d, o->from, o->id, XL_REASON_NOT_PEER);
		return 0;
	}
	ret = xl_match_offer_add(d->match, o, xl_now_ms(), &reg);
	if (ret == 0)
		return 0;	/* held for its server: the table has the fds */
	if (ret == 1) {
		err = xl_client_chan(d, reg, &o->fds, 1, o->order);
		xl_peer_reply(d, o->from, o->id, err < 0 ?
			      XL_REASON_RESOURCES : XL_REASON_NONE);
	} else {
		log_debug("offer %llu refused: %s (%s)",
			  (unsigned long long)o->id,
			  xl_reason_name(xl_offer_refusal(ret)),
			  ret == -EADDRINUSE ? "an offer for that connection "
			  "is held already" : ret == -ENOSPC ?
			  "too many offers held" : strerror(-ret));
		xl_peer_reply(d, o->from, o->id, xl_offer_refusal(ret));
	}
	xl_peer_fds_close(&o->fds);	/* sent with CHAN, or refused */
	return ret == -EINVAL ? -EPROTO : 0;
}

static int xl_pconn_on_offer(struct xl_daemon *d, struct xl_pconn *pc,
			     const struct xl_ctl_msg *msg,
			     int fds[XL_CTL_MAX_FDS])
{
	struct xl_offer o = { .from = pc->id };
	int ret;

	ret = xl_offer_from_msg(&o, msg, fds);
	if (ret < 0)
		return ret;
	return xl_peer_take_offer(d, &o);
}

void xl_pconn_input(struct xl_daemon *d, struct xl_pconn *pc)
{
	int fds[XL_CTL_MAX_FDS];
	struct xl_ctl_msg msg;
	int i, ret;

	for (i = 0; i < XL_RECV_BUDGET && !pc->dead; i++) {
		ret = xl_ctl_recv(pc->fd, &msg, fds, NULL, 0, MSG_DONTWAIT);
		if (ret == -EAGAIN)
			return;
		if (ret == 0 && msg.type == XL_CTL_PEER_WITHDRAW) {
			xl_ctl_close_fds(fds);
			if (msg.nfds || msg.text_len)
				ret = -EPROTO;
			else if (xl_match_offer_withdraw(d->match, pc->id,
							 msg.cookie))
				log_debug("offer %llu withdrawn",
					  (unsigned long long)msg.cookie);
		} else if (ret == 0) {
			ret = xl_pconn_on_offer(d, pc, &msg, fds);
			xl_ctl_close_fds(fds);
		}
		if (ret < 0) {
			if (ret == -EPROTO)
				log_warnx("peer connection %u: malformed "
					  "message", pc->id);
			pc->dead = true;
		}
	}
}

/* Only another daemon (root, or our own user) may offer channels. */
static int xl_pconn_vet(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	return cred.uid == 0 || cred.uid == geteuid() ? 0 : -EPERM;
}

static void xl_pconn_add(struct xl_daemon *d, int fd)
{
	struct xl_pconn *pc = calloc(1, sizeof(*pc));

	if (!pc) {
		close(fd);
		return;
	}
	pc->id = xl_daemon_id(d);
	pc->fd = fd;
	pc->next = d->pconns;
	d->pconns = pc;
	d->npconns++;
	log_debug("peer connection %u accepted", pc->id);
}

void xl_pconn_accept(struct xl_daemon *d)
{
	int fd, i;

	for (i = 0; i < XL_RECV_BUDGET; i++) {
		fd = accept4(d->peer_fd, NULL, NULL,
			     SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0 && (errno == EMFILE || errno == ENFILE)) {
			if (xl_daemon_shed(d, d->peer_fd, d->peer_sock))
				continue;
			return;
		}
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				log_warn("accept on %s", d->peer_sock);
			return;
		}
		d->fd_starved = false;
		if (d->npconns >= XL_MAX_PCONNS || xl_pconn_vet(fd) < 0) {
			log_warnx("turning a peer connection away");
			close(fd);
			continue;
		}
		xl_sock_room(fd);
		xl_pconn_add(d, fd);
	}
}

/* ---- teardown ---- */

static void xl_pconn_free(struct xl_daemon *d, struct xl_pconn *pc)
{
	xl_match_offers_drop(d->match, pc->id);
	close(pc->fd);
	d->npconns--;
	free(pc);
}

void xl_peer_reap(struct xl_daemon *d)
{
	struct xl_pconn **pp = &d->pconns, *pc;
	struct xl_peer *p;

	for (p = d->peers; p; p = p->next)
		if (p->dead)
			xl_peer_disconnect(d, p, "connection lost");
	while ((pc = *pp)) {
		if (pc->dead) {
			*pp = pc->next;
			xl_pconn_free(d, pc);
		} else {
			pp = &pc->next;
		}
	}
}

void xl_peer_close_all(struct xl_daemon *d)
{
	struct xl_pconn *pc;
	struct xl_peer *p;

	while ((pc = d->pconns)) {
		d->pconns = pc->next;
		xl_pconn_free(d, pc);
	}
	while ((p = d->peers)) {
		d->peers = p->next;
		if (p->fd >= 0)
			close(p->fd);
		free(p);
	}
	d->npeers = 0;
}
