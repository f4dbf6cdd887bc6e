/* SPDX-License-Identifier: MIT */
/*
 * Sockets shared by fork() before their channel came (docs/protocol.md
 * §4.1): DISOWN, PARK and CLAIM from the library.
 *
 * How this works
 *
 * A forking server accepts, registers, then forks a child that serves the
 * connection, and closes its own copy. The registration is the parent's,
 * but the channel must go to whichever process holds the socket alone by
 * the time it is used. So, at fork(), the library disowns its waiting
 * registrations: a waiting one becomes nobody's (owner 0) and keeps
 * waiting; one whose CHAN is already on its way to the parent gets it
 * back with PARK. A channel that comes for nobody's registration is
 * parked here, with its fds, up to the match timeout. A process that
 * holds such a socket alone claims it, with the socket itself as proof:
 * the kernel's own addresses of the fd it passes must be the
 * registration's. It gets the parked channel at once, or later when the
 * match completes. Nobody claims: the connection stays on TCP, counted
 * under "shared".
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "xl_addr.h"
#include "xl_daemon.h"
#include "xl_desc.h"
#include "xl_match.h"

/* Cookies of nobody's registrations: one per parked or disowned one. */
static uint64_t xl_orphan_cookie;

static int xl_handover_orphan(struct xl_daemon *d, struct xl_reg *reg)
{
	int ret;

	do {
		ret = xl_match_reg_rekey(d->match, reg, 0, ++xl_orphan_cookie,
					 reg->pid);
	} while (ret == -EEXIST);
	reg->park_wait = false;
	return ret;
}

static void xl_handover_reply(struct xl_client *c, uint64_t cookie,
			      int status)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_DISOWNED };

	msg.cookie = cookie;
	msg.status = status;
	xl_client_send(c, &msg, NULL, NULL);
}

int xl_handover_disown(struct xl_daemon *d, struct xl_client *c,
		       const struct xl_ctl_msg *msg)
{
	struct xl_reg *reg = xl_match_reg_find(d->match, c->id, msg->cookie);

	if (!reg) {
		xl_handover_reply(c, msg->cookie, -ENOENT);
		return 0;
	}
	if (reg->state == XL_REG_RING) {
		/* the CHAN is ahead of our reply on this connection: the
		 * library gives it back with PARK */
		reg->park_wait = true;
	} else if (reg->state != XL_REG_TCP) {
		xl_handover_orphan(d, reg);
	}
	log_debug("pid %u forked with a waiting connection: disowned",
		  (unsigned int)c->pid);
	xl_handover_reply(c, msg->cookie, 0);
	return 0;
}

/* The side a registration's channel is (the client produces side 0). */
static uint32_t xl_handover_side(const struct xl_reg *reg)
{
	return reg->role == XL_CTL_ROLE_CLIENT ? 0 : 1;
}

/* reg holds its channel in reg->fds: to its claimant if one waits, else
 * parked for one. */
static void xl_handover_hold(struct xl_daemon *d, struct xl_reg *reg)
{
	if (reg->claim_owner && xl_client_find(d, reg->claim_owner) &&
	    xl_match_reg_rekey(d->match, reg, reg->claim_owner,
			       reg->claim_cookie, reg->claim_pid) == 0) {
		reg->claim_owner = 0;
		reg->park_wait = false;
		xl_client_chan(d, reg, &reg->fds, xl_handover_side(reg),
			       reg->order);
		return;
	}
	reg->claim_owner = 0;
	if (reg->owner)
		xl_handover_orphan(d, reg);
	if (xl_match_park(d->match, reg, xl_now_ms()) < 0)
		xl_client_refuse(d, reg, XL_REASON_RESOURCES);
}

int xl_handover_park(struct xl_daemon *d, struct xl_client *c,
		     const struct xl_ctl_msg *msg, int fds[XL_CTL_MAX_FDS])
{
	struct xl_reg *reg = xl_match_reg_find(d->match, c->id, msg->cookie);
	unsigned int i;

	if (!reg || reg->state != XL_REG_RING)
		return 0;	/* closed meanwhile: the caller closes fds */
	if (xl_desc_check(msg, xl_handover_side(reg)) < 0)
		return -EPROTO;
	if (!reg->park_wait && !reg->claim_owner) {
		/* never disowned: the process closed the socket before its
		 * channel came, and its CLOSE comes after (a thread read the
		 * CHAN meanwhile). Nobody will claim it: the channel goes
		 * (the caller closes fds), the registration waits for the
		 * CLOSE and its counts, on TCP. */
		log_debug("cookie %llu of pid %u: its socket closed before its "
			  "channel came", (unsigned long long)reg->cookie,
			  reg->pid);
		reg->state = XL_REG_TCP;
		return 0;
	}
	memset(&reg->fds, 0, sizeof(reg->fds));
	for (i = 0; i < msg->nfds; i++) {
		reg->fds.fd[i] = fds[i];
		fds[i] = -1;
	}
	reg->fds.n = msg->nfds;
	reg->fds.kind = msg->chan_kind;
	reg->fds.offset = msg->chan_offset;
	reg->fds.port[0] = msg->chan_port[0];
	reg->fds.port[1] = msg->chan_port[1];
	reg->order[0] = msg->chan_order[0];
	reg->order[1] = msg->chan_order[1];
	xl_handover_hold(d, reg);
	return 0;
}

int xl_handover_orphan_chan(struct xl_daemon *d, struct xl_reg *reg,
			    const struct xl_match_fds *fds,
			    const uint32_t order[2])
{
	unsigned int i;

	if (fds != &reg->fds) {
		memset(&reg->fds, 0, sizeof(reg->fds));
		for (i = 0; i < fds->n; i++) {
			reg->fds.fd[i] = fcntl(fds->fd[i], F_DUPFD_CLOEXEC, 0);
			if (reg->fds.fd[i] < 0) {
				reg->fds.n = i;
				xl_client_refuse(d, reg, XL_REASON_RESOURCES);
				return -EMFILE;
			}
		}
		reg->fds.n = fds->n;
		reg->fds.kind = fds->kind;
		reg->fds.offset = fds->offset;
		reg->fds.port[0] = fds->port[0];
		reg->fds.port[1] = fds->port[1];
	}
	reg->order[0] = order[0];
	reg->order[1] = order[1];
	xl_handover_hold(d, reg);
	return 0;
}

/* Is fd a TCP socket with exactly msg's addresses? */
static bool xl_handover_proof(int fd, const struct xl_ctl_msg *msg)
{
	struct sockaddr_storage ss;
	struct xl_ctl_addr local, remote, want_l = msg->local,
			   want_r = msg->remote;
	socklen_t len = sizeof(int);
	int type = 0, proto = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_STREAM)
		return false;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0 ||
	    proto != IPPROTO_TCP)
		return false;
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    xl_addr_from_sockaddr(&local, (struct sockaddr *)&ss) < 0)
		return false;
	len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    xl_addr_from_sockaddr(&remote, (struct sockaddr *)&ss) < 0)
		return false;
	if (xl_addr_normalize(&local) || xl_addr_normalize(&remote) ||
	    xl_addr_normalize(&want_l) || xl_addr_normalize(&want_r))
		return false;
	return xl_addr_equal(&local, &want_l) && xl_addr_equal(&remote, &want_r);
}

static void xl_handover_nochan(struct xl_client *c, uint64_t cookie,
			       uint32_t reason)
{
	struct xl_ctl_msg no = { .type = XL_CTL_NOCHAN };

	no.cookie = cookie;
	no.status = (int32_t)reason;
	xl_client_send(c, &no, NULL, NULL);
}

int xl_handover_claim(struct xl_daemon *d, struct xl_client *c,
		      const struct xl_ctl_msg *msg, int fds[XL_CTL_MAX_FDS])
{
	struct xl_ctl_addr local = msg->local, remote = msg->remote;
	struct xl_reg *reg;

	if (msg->nfds != 1 || (msg->role != XL_CTL_ROLE_CLIENT &&
			       msg->role != XL_CTL_ROLE_SERVER))
		return -EPROTO;
	if (xl_match_reg_find(d->match, c->id, msg->cookie))
		return -EPROTO;		/* a cookie it uses already */
	if (!xl_handover_proof(fds[0], msg)) {
		log_warnx("pid %u claimed a connection it does not hold",
			  (unsigned int)c->pid);
		xl_handover_nochan(c, msg->cookie, XL_REASON_PROTOCOL);
		return 0;
	}
	if (xl_addr_normalize(&local) || xl_addr_normalize(&remote))
		return -EPROTO;
	reg = xl_match_reg_by_conn(d->match, msg->role, &local, &remote);
	if (!reg || (reg->owner && !reg->park_wait)) {
		/* its channel went by already, or nobody disowned it */
		xl_handover_nochan(c, msg->cookie, XL_REASON_SHARED);
		return 0;
	}
	log_debug("pid %u claims a connection shared by fork()",
		  (unsigned int)c->pid);
	if (reg->park_wait) {
		reg->claim_owner = c->id;
		reg->claim_cookie = msg->cookie;
		reg->claim_pid = (uint32_t)c->pid;
		return 0;
	}
	if (xl_match_reg_rekey(d->match, reg, c->id, msg->cookie,
			       (uint32_t)c->pid) < 0)
		return -EPROTO;
	if (reg->state == XL_REG_PARKED)
		xl_client_chan(d, reg, &reg->fds, xl_handover_side(reg),
			       reg->order);
	return 0;
}
