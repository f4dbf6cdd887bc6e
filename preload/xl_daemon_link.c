/* SPDX-License-Identifier: MIT */
/*
 * The link to xenloopd: HELLO, REGISTER, STATS and CLOSE out; CHAN and
 * NOCHAN in.
 *
 * How this works
 *
 * The link is opened at the first registration, not at start-up, so a
 * program that never connects a TCP socket never talks to the daemon. When
 * no daemon answers, the library does not try again for a second, and the
 * sockets of that second stay plain TCP. Every send is nonblocking: a
 * daemon that does not keep up costs a registration (the socket stays on
 * TCP), never a stall of the application.
 *
 * Registrations wait on a list until the daemon answers. A CHAN is
 * validated field by field (the daemon is trusted less than ourselves: it
 * only ever hands us descriptors of our own connections, but a confused
 * one must not crash a program), attached, and installed into the socket;
 * the peer moves its stream onto the ring only after that, so nothing is
 * lost while the answer is on its way. The link dies with the daemon: the
 * sockets that were still waiting stay on TCP, channels already attached
 * keep working (they do not need the daemon).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "xl_backend.h"
#include "xl_ctl_io.h"
#include "xl_daemon_link.h"
#include "xl_desc.h"
#include "xl_fdtable.h"
#include "xl_preload.h"
#include "xl_sock.h"

/* Pause between attempts to reach a daemon that did not answer. */
#define XL_LINK_RETRY_NS	1000000000ull
/* A daemon that answers nothing: stop queueing registrations (a program
 * may open ten thousand connections at once, each waiting its channel). */
#define XL_LINK_MAX_PENDING	65536
/* How long fork() waits for the daemon to take our waiting registrations
 * (one round trip to it; protocol.md §4.1). */
#define XL_LINK_DISOWN_MS	200
/* How long a CLOSE waits for room in a busy daemon's socket. */
#define XL_LINK_CLOSE_WAIT_MS	20
/* At exit, the final counts of every socket wait for a busy daemon this
 * long in all: the last a process can tell it. */
#define XL_LINK_EXIT_WAIT_MS	100
/* CLOSE messages the daemon's full socket could not take yet. */
#define XL_LINK_MAX_LATE	256
/* DROPs taken in one pass over the link */
#define XL_LINK_DROPS		64
/* How often calls that do not wait look at the link (xl_link_poll_soon()):
 * at every call for 50 ms after a registration went out (a peer's daemon
 * answers within a millisecond or two, a loaded one later, and every round
 * trip a connection makes before it takes its channel goes through the
 * kernel), then once a millisecond: a connection whose peer has no library
 * waits for its match to time out (5 s by default), and would else pay a
 * system call in every send and receive all that time. Waits look at
 * once. */
#define XL_LINK_EAGER_NS	50000000ull
#define XL_LINK_LOOK_NS		1000000ull

static struct {
	pthread_mutex_t mutex;
	int fd;			/* -1: not connected */
	uint64_t gen;		/* bumped at every (dis)connection */
	uint64_t next_cookie;
	uint64_t retry_ns;	/* no new attempt before */
	uint64_t asked_ns;	/* when the last registration went out */
	struct xl_sock *pending;
	unsigned int npending;
	/* pending sockets whose REGISTER the daemon's full socket could not
	 * take yet, oldest first: sent as it drains (xl_link_poll()) */
	struct xl_sock *unsent, *unsent_tail;
	unsigned int nunsent;
	unsigned int disowned;	/* DISOWNED answers still to come */
	/* CLOSEs to send before anything else: each withdraws a
	 * registration the daemon would otherwise hold until it timed out */
	struct xl_ctl_msg late[XL_LINK_MAX_LATE];
	unsigned int nlate;
	bool exiting;		/* the final STATS are kept as CLOSEs are */
	uint64_t drop[XL_LINK_DROPS];	/* DROPs read, to act on */
	int ndrop;
} xl_link = {
	.mutex = PTHREAD_MUTEX_INITIALIZER,
	.fd = -1,
	.gen = 1,
	.next_cookie = 1,
};

/* The most fds a channel keeps in a process (local: four eventfds and
 * the liveness socket). */
#define XL_LINK_CHAN_FDS	5

/* Out of the program's way (xl_fd_keep()). */
static int xl_link_high_fd(int fd)
{
	int nfd = xl_fd_keep(fd);

	if (nfd < 0)
		return fd;	/* a low limit on fds: keep the one we have */
	real.close(fd);
	return nfd;
}

static int xl_link_path(char *buf, size_t size)
{
	struct stat st;
	int n;

	if (stat("/proc/self/ns/net", &st) < 0)
		return -errno;
	n = snprintf(buf, size, "%s/ns/%lu.sock", xl_cfg.rundir,
		     (unsigned long)st.st_ino);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Connect and say HELLO; caller holds the mutex. Returns 0 or -errno. */
static int xl_link_open(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct xl_ctl_msg hello = { .type = XL_CTL_HELLO };
	int fd, ret;

	ret = xl_link_path(sun.sun_path, sizeof(sun.sun_path));
	if (ret < 0)
		return ret;
	fd = real.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
			 SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (real.connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = -errno;
		goto out_close;
	}
	hello.pid = (uint32_t)getpid();
	ret = xl_ctl_send(fd, &hello, NULL, NULL, MSG_DONTWAIT);
	if (ret < 0)
		goto out_close;
	xl_link.fd = xl_link_high_fd(fd);
	xl_link.gen++;
	xl_fd_internal_add(xl_link.fd);
	XL_INFO("connected to xenloopd at %s", sun.sun_path);
	return 0;

out_close:
	real.close(fd);
	XL_DBG("no xenloopd at %s: %s", sun.sun_path, strerror(-ret));
	return ret;
}

/* Empty the queue of unsent REGISTERs (their sockets stay on the pending
 * list, which the caller empties). Caller holds the mutex. */
static void xl_link_forget_unsent(void)
{
	struct xl_sock *s;

	while ((s = xl_link.unsent)) {
		xl_link.unsent = s->unsent_next;
		s->unsent_next = NULL;
		s->reg_unsent = false;
	}
	xl_link.unsent_tail = NULL;
	xl_link.nunsent = 0;
}

/* The daemon went away: whatever waits for it stays on TCP. Caller holds
 * the mutex. */
static void xl_link_drop(void)
{
	struct xl_sock *s;

	if (xl_link.fd >= 0) {
		XL_INFO("lost xenloopd; waiting sockets stay on TCP");
		xl_fd_internal_del(xl_link.fd);
		real.close(xl_link.fd);
	}
	xl_link.fd = -1;
	xl_link.gen++;
	xl_link.nlate = 0;	/* the daemon forgets a process's all */
	xl_link.retry_ns = xl_now_ns() + XL_LINK_RETRY_NS;
	xl_link_forget_unsent();
	while ((s = xl_link.pending)) {
		xl_link.pending = s->pend_next;
		s->in_pending = false;
		/* one coming back keeps its old channel (adopted again) */
		if (!atomic_exchange(&s->reattaching, false))
			xl_sock_make_plain(s);
	}
	xl_link.npending = 0;
}

/*
 * Is there a daemon at all, its socket in RUNDIR? Looked at (two stat()s)
 * at most once a second while the link is down: a process in a namespace
 * without one tracks none of its connections, at no cost to them. 0: not
 * looked yet (a connection is tracked, as a registration then decides),
 * 1: there, 2: not there.
 */
static _Atomic int xl_link_seen;
static _Atomic uint64_t xl_link_look_ns;

bool xl_link_usable(void)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	uint64_t now, next;

	/* unlocked: a hint, the registration itself decides */
	if (__atomic_load_n(&xl_link.fd, __ATOMIC_RELAXED) >= 0)
		return true;
	now = xl_now_ns();
	if (now < __atomic_load_n(&xl_link.retry_ns, __ATOMIC_RELAXED))
		return false;
	next = atomic_load_explicit(&xl_link_look_ns, memory_order_relaxed);
	if (now >= next && atomic_compare_exchange_strong(&xl_link_look_ns,
				&next, now + XL_LINK_RETRY_NS))
		atomic_store(&xl_link_seen,
			     xl_link_path(path, sizeof(path)) == 0 &&
			     access(path, F_OK) == 0 ? 1 : 2);
	return atomic_load(&xl_link_seen) != 2;
}

static int xl_link_ensure(void)
{
	int ret;

	if (xl_link.fd >= 0)
		return 0;
	if (xl_now_ns() < xl_link.retry_ns)
		return -ENOTCONN;
	ret = xl_link_open();
	if (ret < 0)
		xl_link.retry_ns = xl_now_ns() + XL_LINK_RETRY_NS;
	return ret;
}

/*
 * The switch counts a registration reports: those off a ring since the
 * connection last came back onto one (the registration before had the
 * others: protocol.md §5.3), and how many times it came back in all
 * (none while a new registration waits: one that is refused must not
 * add them to the daemon's totals, and the one before said 0).
 */
static void xl_link_switches(struct xl_sock *s, struct xl_ctl_msg *msg)
{
	int i;

	for (i = 0; i < XL_SWITCH_REATTACH; i++)
		msg->switches[i] = atomic_load(&s->conn->switches[i]) -
				   s->conn->switch_base[i];
	msg->switches[XL_SWITCH_REATTACH] = atomic_load(&s->reattaching) ?
		0 : atomic_load(&s->conn->switches[XL_SWITCH_REATTACH]);
}

static void xl_link_pend(struct xl_sock *s)
{
	__atomic_store_n(&xl_link.asked_ns, xl_now_ns(), __ATOMIC_RELAXED);
	s->pend_next = xl_link.pending;
	xl_link.pending = s;
	s->in_pending = true;
	xl_link.npending++;
}

/* Queue s's REGISTER behind the others still unsent. */
static void xl_link_queue_unsent(struct xl_sock *s)
{
	s->reg_unsent = true;
	s->unsent_next = NULL;
	if (xl_link.unsent_tail)
		xl_link.unsent_tail->unsent_next = s;
	else
		xl_link.unsent = s;
	xl_link.unsent_tail = s;
	xl_link.nunsent++;
}

/* s leaves the pending list before its REGISTER went out. */
static void xl_link_unqueue_unsent(struct xl_sock *s)
{
	struct xl_sock **pp, *prev = NULL;

	for (pp = &xl_link.unsent; *pp; prev = *pp, pp = &(*pp)->unsent_next) {
		if (*pp != s)
			continue;
		*pp = s->unsent_next;
		if (xl_link.unsent_tail == s)
			xl_link.unsent_tail = prev;
		xl_link.nunsent--;
		break;
	}
	s->unsent_next = NULL;
	s->reg_unsent = false;
}

static struct xl_sock *xl_link_take(uint64_t cookie)
{
	struct xl_sock **pp, *s;

	for (pp = &xl_link.pending; (s = *pp); pp = &s->pend_next) {
		if (s->cookie == cookie) {
			*pp = s->pend_next;
			s->in_pending = false;
			xl_link.npending--;
			if (s->reg_unsent)
				xl_link_unqueue_unsent(s);
			return s;
		}
	}
	return NULL;
}

void xl_link_unpend(struct xl_sock *s)
{
	pthread_mutex_lock(&xl_link.mutex);
	if (s->in_pending)
		xl_link_take(s->cookie);
	pthread_mutex_unlock(&xl_link.mutex);
}

/* Send the CLOSEs that had to wait; caller holds the mutex. Returns
 * false while some still wait (the daemon's socket is full). */
static bool xl_link_flush_late(void)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < xl_link.nlate && xl_link.fd >= 0; i++) {
		ret = xl_ctl_send(xl_link.fd, &xl_link.late[i], NULL, NULL,
				  MSG_DONTWAIT);
		if (ret < 0)
			break;
	}
	if (i) {
		memmove(xl_link.late, xl_link.late + i,
			(xl_link.nlate - i) * sizeof(xl_link.late[0]));
		xl_link.nlate -= i;
	}
	if (ret < 0 && ret != -EAGAIN)
		xl_link_drop();
	return xl_link.nlate == 0;
}

/* Send msg, or keep it for later if it is a CLOSE (or the process is
 * exiting: its final counts) and the daemon's socket is full; caller
 * holds the mutex. */
static void xl_link_send_or_keep(struct xl_ctl_msg *msg)
{
	struct pollfd p = { .events = POLLOUT };
	bool keep = msg->type == XL_CTL_CLOSE || xl_link.exiting;
	int ret = -EAGAIN, tries;

	/* A CLOSE kept for later is only sent at the process's next call
	 * that talks to the daemon, which a server that goes idle never
	 * makes: give a busy daemon a few milliseconds first (at exit,
	 * xl_link_exit_flush() waits once for all). */
	for (tries = 0; ret == -EAGAIN && tries < 2; tries++) {
		if (tries) {
			if (msg->type != XL_CTL_CLOSE || xl_link.exiting)
				break;
			p.fd = xl_link.fd;
			real.poll(&p, 1, XL_LINK_CLOSE_WAIT_MS);
		}
		if (xl_link_flush_late())
			ret = xl_ctl_send(xl_link.fd, msg, NULL, NULL,
					  MSG_DONTWAIT);
	}
	if (ret == -EAGAIN && keep) {
		if (xl_link.nlate < XL_LINK_MAX_LATE)
			xl_link.late[xl_link.nlate++] = *msg;
		else
			XL_DBG("cookie %llu: CLOSE lost (daemon busy); it "
			       "times out there",
			       (unsigned long long)msg->cookie);
	} else if (ret < 0 && ret != -EAGAIN) {
		xl_link_drop();
	}
}

/* Send s's REGISTER or CLAIM (fd: the claim's proof). Caller holds the
 * mutex. Returns 0 or -errno (-EAGAIN: the daemon's socket is full). */
static int xl_link_send_ask(struct xl_sock *s, uint32_t type, const int *fd)
{
	struct xl_ctl_msg msg = { .type = type };
	int ret;

	msg.cookie = s->cookie;
	msg.role = s->role;
	msg.local = s->local;
	msg.remote = s->remote;
	msg.nfds = fd ? 1 : 0;
	xl_lib_enter();
	ret = xl_ctl_send(xl_link.fd, &msg, fd, NULL, MSG_DONTWAIT);
	xl_lib_leave();
	return ret;
}

/* Send the REGISTERs that waited for room, oldest first; caller holds
 * the mutex. Returns false while some still wait. */
static bool xl_link_flush_unsent(void)
{
	struct xl_sock *s;
	int ret;

	while ((s = xl_link.unsent) && xl_link.fd >= 0) {
		ret = xl_link_send_ask(s, XL_CTL_REGISTER, NULL);
		if (ret == -EAGAIN)
			return false;
		if (ret < 0) {
			xl_link_drop();	/* empties the queue */
			return false;
		}
		xl_link.unsent = s->unsent_next;
		if (!xl_link.unsent)
			xl_link.unsent_tail = NULL;
		s->unsent_next = NULL;
		s->reg_unsent = false;
		xl_link.nunsent--;
	}
	return true;
}

/*
 * REGISTER s, or CLAIM it (fd: the socket, the claim's proof) once it was
 * shared by fork(): s waits for its channel on the pending list after.
 * A REGISTER the daemon's socket has no room for waits in a queue (a
 * program that opens thousands of connections at once outruns the
 * daemon: a storm must not push them onto TCP for good); a CLAIM does not
 * (its fd is not kept). Returns 0 or -errno (-EAGAIN: the daemon is busy
 * and s, a CLAIM, stays on TCP).
 */
static int xl_link_ask(struct xl_sock *s, uint32_t type, const int *fd)
{
	bool room;
	int ret;

	pthread_mutex_lock(&xl_link.mutex);
	ret = xl_link_ensure();
	if (ret < 0)
		goto out_unlock;
	if (xl_link.npending >= XL_LINK_MAX_PENDING) {
		ret = -EBUSY;
		goto out_unlock;
	}
	room = xl_link_flush_late() && xl_link_flush_unsent();
	if (xl_link.fd < 0) {
		ret = -ENOTCONN;
		goto out_unlock;
	}
	s->cookie = xl_link.next_cookie++;
	s->link_gen = xl_link.gen;
	ret = room ? xl_link_send_ask(s, type, fd) : -EAGAIN;
	if (ret == -EAGAIN && type == XL_CTL_REGISTER) {
		xl_link_queue_unsent(s);
		ret = 0;
	} else if (ret == -EAGAIN) {
		goto out_unlock;	/* daemon busy: this one stays on TCP */
	} else if (ret < 0) {
		xl_link_drop();
		goto out_unlock;
	}
	atomic_store(&s->state, XL_SOCK_PENDING);
	xl_link_pend(s);
out_unlock:
	pthread_mutex_unlock(&xl_link.mutex);
	return ret;
}

bool xl_link_knows(const struct xl_sock *s)
{
	return __atomic_load_n(&xl_link.fd, __ATOMIC_RELAXED) >= 0 &&
	       s->link_gen == __atomic_load_n(&xl_link.gen, __ATOMIC_RELAXED);
}

/* Send s's adopting REGISTER (§5.2); caller holds the mutex. */
static int xl_link_adopt_locked(struct xl_sock *s)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_REGISTER,
				  .status = XL_CTL_REG_ADOPT };
	int ret;

	s->cookie = xl_link.next_cookie++;
	s->link_gen = xl_link.gen;
	msg.cookie = s->cookie;
	msg.role = s->role;
	msg.local = s->local;
	msg.remote = s->remote;
	xl_sock_counts_msg(s, &msg);
	xl_link_switches(s, &msg);
	xl_lib_enter();
	ret = xl_ctl_send(xl_link.fd, &msg, NULL, NULL, MSG_DONTWAIT);
	xl_lib_leave();
	if (ret < 0 && ret != -EAGAIN)
		xl_link_drop();
	return ret;
}

int xl_link_adopt(struct xl_sock *s)
{
	int ret;

	pthread_mutex_lock(&xl_link.mutex);
	ret = xl_link_ensure();
	if (ret == 0 && s->link_gen != xl_link.gen)
		ret = xl_link_adopt_locked(s);
	pthread_mutex_unlock(&xl_link.mutex);
	return ret;
}

int xl_link_register(struct xl_sock *s)
{
	return xl_link_ask(s, XL_CTL_REGISTER, NULL);
}

/* Tell the daemon we will not use the channel of cookie. */
static void xl_link_close_cookie(uint64_t cookie, uint32_t reason)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_CLOSE };

	msg.cookie = cookie;
	msg.reason = reason;
	xl_link_send_or_keep(&msg);
}

/* s does not take the channel of msg: the daemon hears why (CLOSE), and
 * the socket stays on TCP. */
static void xl_link_decline(const struct xl_ctl_msg *msg, struct xl_sock *s,
			    uint32_t reason)
{
	xl_link_close_cookie(msg->cookie, reason);
	xl_sock_make_plain(s);
}

/* The descriptor a CHAN message carries, checked against what we asked. */
static int xl_link_desc(const struct xl_ctl_msg *msg, const struct xl_sock *s,
			int fds[XL_CTL_MAX_FDS], struct xl_chan_desc *desc)
{
	uint32_t side = s->role == XL_CTL_ROLE_CLIENT ? 0 : 1;

	return xl_desc_from_msg(msg, fds, side, desc);
}

static void xl_link_park(const struct xl_ctl_msg *chan,
			 int fds[XL_CTL_MAX_FDS])
{
	struct xl_ctl_msg msg = *chan;

	msg.type = XL_CTL_PARK;
	xl_ctl_send(xl_link.fd, &msg, fds, NULL, MSG_DONTWAIT);
}

int xl_link_reattach(struct xl_sock *s)
{
	struct xl_ctl_msg close = { .type = XL_CTL_CLOSE };
	uint64_t old = s->cookie;
	int ret, i;

	pthread_mutex_lock(&xl_link.mutex);
	ret = xl_link_ensure();
	if (ret < 0)
		goto out_unlock;
	ret = -EBUSY;
	if (atomic_load(&s->reattaching) || atomic_load(&s->next_chan) ||
	    xl_link.npending >= XL_LINK_MAX_PENDING ||
	    !xl_link_flush_late() || !xl_link_flush_unsent() ||
	    xl_link.fd < 0 || s->link_gen != xl_link.gen)
		goto out_unlock;
	s->cookie = xl_link.next_cookie++;
	ret = xl_link_send_ask(s, XL_CTL_REGISTER, NULL);
	if (ret < 0) {
		s->cookie = old;
		if (ret != -EAGAIN)
			xl_link_drop();
		goto out_unlock;
	}
	/* the old registration ends: its byte counts go on in the new one
	 * (the library's counts are the connection's), so it leaves none
	 * behind in the daemon's totals; its switches off do, and the new
	 * one counts from here (xl_link_switches) */
	close.cookie = old;
	xl_link_switches(s, &close);
	close.switches[XL_SWITCH_REATTACH] = 0;
	xl_link_send_or_keep(&close);
	for (i = 0; i < XL_SWITCH_REATTACH; i++) {
		s->switch_prev[i] = s->conn->switch_base[i];
		s->conn->switch_base[i] = atomic_load(&s->conn->switches[i]);
	}
	atomic_store(&s->reattaching, true);
	xl_link_pend(s);
out_unlock:
	pthread_mutex_unlock(&xl_link.mutex);
	return ret;
}

/* A re-attach that gets no channel: the socket keeps to its old one, on
 * TCP, and the daemon lists it again (adopted); caller holds the mutex. */
static void xl_link_reattach_failed(struct xl_sock *s)
{
	/* its switches off are this registration's again */
	memcpy(s->conn->switch_base, s->switch_prev,
	       sizeof(s->switch_prev));
	atomic_store(&s->reattaching, false);
	s->reattach_since = 0;
	xl_link_adopt_locked(s);
}

/* The channel for a socket coming back onto a ring (§5.3): attached in
 * the conn's free slot, quietly (the peer keeps to TCP until we swap it
 * in at our next call on the socket). Caller holds the mutex. */
static void xl_link_on_rechan(const struct xl_ctl_msg *msg,
			      int fds[XL_CTL_MAX_FDS], struct xl_sock *s)
{
	struct xl_chan *cur = atomic_load(&s->chan), *ch;
	struct xl_chan_desc desc;
	int ret = -EBUSY;

	ch = cur == &s->conn->chans[0] ? &s->conn->chans[1] :
					 &s->conn->chans[0];
	if (!atomic_load(&s->closed) && !s->shared &&
	    atomic_load(&s->conn->procs) == 1 && !s->retired &&
	    !atomic_load(&s->next_chan) && !xl_uring_present()) {
		ret = xl_link_desc(msg, s, fds, &desc);
		if (ret == 0)
			ret = xl_chan_attach_at_quiet(ch, &desc,
						      xl_cfg.spin_ns, true);
	}
	xl_ctl_close_fds(fds);
	if (ret < 0) {
		xl_link_close_cookie(msg->cookie, XL_REASON_NONE);
		xl_link_reattach_failed(s);
		return;
	}
	XL_DBG("cookie %llu: a new channel, to swap in",
	       (unsigned long long)msg->cookie);
	atomic_store(&s->reattaching, false);
	atomic_store_explicit(&s->next_chan, ch, memory_order_release);
}

static void xl_link_on_chan(const struct xl_ctl_msg *msg,
			    int fds[XL_CTL_MAX_FDS])
{
	struct xl_sock *s = xl_link_take(msg->cookie);
	struct xl_chan_desc desc;
	struct xl_chan *ch;
	int ret;

	if (s && atomic_load(&s->reattaching)) {
		xl_link_on_rechan(msg, fds, s);
		return;
	}
	if (s && atomic_load(&s->closed) && !atomic_load(&s->forked)) {
		xl_ctl_close_fds(fds);
		xl_link_decline(msg, s, XL_REASON_NONE);
		return;
	}
	if (!s || atomic_load(&s->forked)) {
		/* Not waiting for it any more: closed (its CLOSE went
		 * ahead), or shared by fork() since it registered (the
		 * daemon's answer to our DISOWN is behind this). Give it
		 * back: whoever holds the socket alone claims it, and the
		 * daemon drops it otherwise. */
		xl_link_park(msg, fds);
		xl_ctl_close_fds(fds);
		if (s)
			xl_sock_make_plain(s);
		return;
	}
	if (xl_uring_present()) {
		/* its reads and writes there would miss the ring */
		xl_ctl_close_fds(fds);
		xl_link_decline(msg, s, XL_REASON_IO_URING);
		return;
	}
	if (!xl_fd_batch_begin(XL_LINK_CHAN_FDS, xl_link.fd)) {
		/* its fds would leave the program fewer of its own */
		xl_ctl_close_fds(fds);
		xl_link_decline(msg, s, XL_REASON_RESOURCES);
		return;
	}
	/* in the socket's shared state: see struct xl_conn */
	ch = &s->conn->chans[0];
	ret = xl_link_desc(msg, s, fds, &desc);
	/* quiet: the peer must not see us as its consumer, and send on
	 * its ring, before the socket has its channel (a receive that
	 * looked before would take the kernel's FIN for the end) */
	if (ret == 0)
		ret = xl_chan_attach_at_quiet(ch, &desc, xl_cfg.spin_ns, true);
	xl_fd_batch_end();
	xl_ctl_close_fds(fds);	/* attach made its own copies */
	if (ret < 0) {
		XL_WARN("cannot attach the channel of cookie %llu: %s",
			(unsigned long long)msg->cookie, strerror(-ret));
		xl_link_decline(msg, s, ret == -EPROTO ? XL_REASON_PROTOCOL :
				XL_REASON_RESOURCES);
		return;
	}
	XL_DBG("cookie %llu: channel attached as side %u",
	       (unsigned long long)msg->cookie, desc.side);
	xl_sock_attach(s, ch);
	xl_chan_rx_announce(ch);
}

/* A channel whose fds did not fit under the program's limit. */
static void xl_link_on_chan_cut(const struct xl_ctl_msg *msg)
{
	struct xl_sock *s = xl_link_take(msg->cookie);

	if (!s)
		return;
	XL_DBG("cookie %llu: no room for the channel's fds",
	       (unsigned long long)msg->cookie);
	xl_link_decline(msg, s, XL_REASON_RESOURCES);
}

static void xl_link_on_nochan(const struct xl_ctl_msg *msg)
{
	struct xl_sock *s = xl_link_take(msg->cookie);

	if (!s)
		return;
	XL_DBG("cookie %llu stays on TCP (reason %d)",
	       (unsigned long long)msg->cookie, msg->status);
	if (atomic_load(&s->reattaching)) {
		xl_link_reattach_failed(s);
		return;
	}
	xl_sock_make_plain(s);
}

/* One message; caller holds the mutex. Returns 0, -EAGAIN or -errno. */
static int xl_link_recv_one(void)
{
	int fds[XL_CTL_MAX_FDS];
	struct xl_ctl_msg msg;
	int ret;

	ret = xl_ctl_recv(xl_link.fd, &msg, fds, NULL, 0, MSG_DONTWAIT);
	if (ret == -EMFILE) {
		/* the program holds every number its limit allows */
		if (msg.type == XL_CTL_CHAN)
			xl_link_on_chan_cut(&msg);
		return 0;
	}
	if (ret < 0)
		return ret;
	switch (msg.type) {
	case XL_CTL_CHAN:
		xl_link_on_chan(&msg, fds);
		break;
	case XL_CTL_NOCHAN:
		xl_ctl_close_fds(fds);
		xl_link_on_nochan(&msg);
		break;
	case XL_CTL_DISOWNED:
		xl_ctl_close_fds(fds);
		if (xl_link.disowned)
			xl_link.disowned--;
		break;
	case XL_CTL_DROP:
		xl_ctl_close_fds(fds);
		/* acted on after the link's mutex is let go */
		if (xl_link.ndrop < XL_LINK_DROPS)
			xl_link.drop[xl_link.ndrop++] = msg.cookie;
		break;
	default:
		xl_ctl_close_fds(fds);
		XL_WARN("unexpected message type %u from xenloopd", msg.type);
		break;
	}
	return 0;
}

void xl_link_let_go(void)
{
	pthread_mutex_lock(&xl_link.mutex);
	xl_link_flush_late();
	xl_link_drop();
	xl_link.retry_ns = UINT64_MAX;
	pthread_mutex_unlock(&xl_link.mutex);
}

void xl_link_exit_start(void)
{
	pthread_mutex_lock(&xl_link.mutex);
	xl_link.exiting = true;
	pthread_mutex_unlock(&xl_link.mutex);
}

void xl_link_exit_flush(void)
{
	struct pollfd p = { .events = POLLOUT };
	uint64_t end = xl_now_ns() + XL_LINK_EXIT_WAIT_MS * 1000000ull, now;

	pthread_mutex_lock(&xl_link.mutex);
	while (xl_link.fd >= 0 && !xl_link_flush_late() &&
	       (now = xl_now_ns()) < end) {
		p.fd = xl_link.fd;
		real.poll(&p, 1, (int)((end - now + 999999) / 1000000));
	}
	if (xl_link.nlate)
		XL_DBG("%u final counts lost at exit (daemon busy)",
		       xl_link.nlate);
	pthread_mutex_unlock(&xl_link.mutex);
}

void xl_link_poll(void)
{
	uint64_t drop[XL_LINK_DROPS];
	int ret, i, n;

	/* someone else is at it: their pass covers ours */
	if (xl_link.fd < 0 || pthread_mutex_trylock(&xl_link.mutex))
		return;
	xl_lib_enter();
	if (xl_link.nlate)
		xl_link_flush_late();
	if (xl_link.nunsent && !xl_link.nlate)
		xl_link_flush_unsent();
	while (xl_link.fd >= 0 && xl_link.ndrop < XL_LINK_DROPS) {
		ret = xl_link_recv_one();
		if (ret == -EAGAIN || ret == -EINTR)
			break;
		if (ret < 0)
			xl_link_drop();
	}
	n = xl_link.ndrop;
	memcpy(drop, xl_link.drop, (size_t)n * sizeof(drop[0]));
	xl_link.ndrop = 0;
	xl_lib_leave();
	pthread_mutex_unlock(&xl_link.mutex);
	for (i = 0; i < n; i++)
		xl_sock_drop(drop[i]);
}

void xl_link_poll_soon(void)
{
	static _Atomic uint64_t next_ns;
	uint64_t now, next;

	/* nothing asked, nothing to send: what else comes (DROP) is read
	 * once a second by the sockets that have channels */
	if (__atomic_load_n(&xl_link.fd, __ATOMIC_RELAXED) < 0 ||
	    (!__atomic_load_n(&xl_link.npending, __ATOMIC_RELAXED) &&
	     !__atomic_load_n(&xl_link.nunsent, __ATOMIC_RELAXED) &&
	     !__atomic_load_n(&xl_link.nlate, __ATOMIC_RELAXED)))
		return;
	now = xl_now_ns();
	if (now - __atomic_load_n(&xl_link.asked_ns, __ATOMIC_RELAXED) <
	    XL_LINK_EAGER_NS) {
		xl_link_poll();
		return;
	}
	next = atomic_load_explicit(&next_ns, memory_order_relaxed);
	if (now < next || !atomic_compare_exchange_strong(&next_ns, &next,
						now + XL_LINK_LOOK_NS))
		return;
	xl_link_poll();
}

int xl_link_pollfd(void)
{
	return xl_link.fd;
}

void xl_link_counts(struct xl_sock *s, uint32_t type, uint32_t reason)
{
	struct xl_ctl_msg msg = { .type = type };

	pthread_mutex_lock(&xl_link.mutex);
	if (xl_link.fd >= 0 && s->cookie && s->link_gen == xl_link.gen) {
		msg.cookie = s->cookie;
		msg.reason = reason;
		xl_sock_counts_msg(s, &msg);
		xl_link_switches(s, &msg);
		xl_lib_enter();
		xl_link_send_or_keep(&msg);
		xl_lib_leave();
	}
	pthread_mutex_unlock(&xl_link.mutex);
}

bool xl_link_evacuate(int fd)
{
	bool moved = false;
	int nfd;

	pthread_mutex_lock(&xl_link.mutex);
	if (xl_link.fd == fd) {
		nfd = xl_fd_keep(fd);
		xl_fd_internal_del(fd);
		if (nfd >= 0) {
			xl_link.fd = nfd;
		} else {
			xl_link.fd = -1;
			xl_link_drop();
		}
		/* the caller closes the old number (the program's dup2()) */
		moved = true;
	}
	pthread_mutex_unlock(&xl_link.mutex);
	return moved;
}

/*
 * fork() while registrations wait: after it, the socket may be served by
 * the child, the parent or both, and the channel must go to the process
 * that holds it alone (protocol.md §4.1). Tell the daemon they are nobody's
 * now and wait for it to say so; a CHAN that comes first (it was on its
 * way) is given back (xl_link_on_chan). Caller holds the mutex.
 */
static void xl_link_disown_all(void)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_DISOWN };
	struct pollfd p = { .events = POLLIN };
	uint64_t end = xl_now_ns() + XL_LINK_DISOWN_MS * 1000000ull, now;
	struct xl_sock *s;

	xl_lib_enter();
	xl_link.disowned = 0;
	while ((s = xl_link.pending)) {
		xl_link.pending = s->pend_next;
		s->in_pending = false;
		msg.cookie = s->cookie;
		if (atomic_exchange(&s->reattaching, false)) {
			/* shared now: it stays on TCP (§5.3) */
			msg.type = XL_CTL_CLOSE;
			xl_ctl_send(xl_link.fd, &msg, NULL, NULL,
				    MSG_DONTWAIT);
			msg.type = XL_CTL_DISOWN;
			continue;
		}
		/* an unsent REGISTER: the daemon knows nothing to disown */
		if (!s->reg_unsent &&
		    xl_ctl_send(xl_link.fd, &msg, NULL, NULL, MSG_DONTWAIT) == 0)
			xl_link.disowned++;
		atomic_store(&s->state, XL_SOCK_CLAIM);
	}
	xl_link_forget_unsent();
	xl_link.npending = 0;
	while (xl_link.disowned && xl_link.fd >= 0 &&
	       (now = xl_now_ns()) < end) {
		p.fd = xl_link.fd;
		if (real.poll(&p, 1, (int)((end - now) / 1000000) + 1) <= 0)
			continue;
		while (xl_link.fd >= 0 && xl_link_recv_one() == 0)
			;
	}
	xl_lib_leave();
}

void xl_link_atfork_prepare(void)
{
	pthread_mutex_lock(&xl_link.mutex);
	if (xl_link.fd >= 0 && xl_link.pending)
		xl_link_disown_all();
}

int xl_link_claim(struct xl_sock *s, int fd)
{
	return xl_link_ask(s, XL_CTL_CLAIM, &fd);
}

void xl_link_atfork_parent(void)
{
	struct xl_sock *s;

	/* A child may now serve a socket still waiting for its channel; if
	 * we attached, the peer would move onto a ring the child does not
	 * read. Such sockets refuse their CHAN and stay on TCP. */
	for (s = xl_link.pending; s; s = s->pend_next)
		atomic_store(&s->forked, true);
	pthread_mutex_unlock(&xl_link.mutex);
}

void xl_link_atfork_child(void)
{
	struct xl_sock *s;

	pthread_mutex_init(&xl_link.mutex, NULL);
	/* the daemon answers the parent's registrations to the parent */
	while ((s = xl_link.pending)) {
		xl_link.pending = s->pend_next;
		s->in_pending = false;
		atomic_store(&s->state, XL_SOCK_PLAIN);
	}
	xl_link.npending = 0;
	xl_link_forget_unsent();
	xl_link.nlate = 0;	/* the parent's, sent by the parent */
	if (xl_link.fd >= 0) {
		xl_fd_internal_del(xl_link.fd);
		real.close(xl_link.fd);
	}
	xl_link.fd = -1;
	xl_link.gen++;
	xl_link.retry_ns = 0;
}
