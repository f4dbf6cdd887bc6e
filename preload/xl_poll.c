/* SPDX-License-Identifier: MIT */
/*
 * poll(), ppoll(), select(), pselect() over a mix of kernel fds and
 * tracked sockets.
 *
 * How this works
 *
 * A call that names no tracked socket is the kernel's, untouched. Else the
 * readiness of each tracked socket is what its ring says (xl_ready.c)
 * merged with what the kernel socket says for the events that still
 * travel through it (its FIN, a reset, bytes from before the switch); the
 * other fds are polled as they are. When nothing is ready: spin a little
 * on the rings, then announce the sleep on every ring that matters and
 * sleep in one real poll() on all the fds plus the channels'
 * notification fds (and the daemon link, while a socket waits for its
 * channel), then look again. select() and pselect() are the same over an
 * array built from the fd_sets.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "xl_daemon_link.h"
#include "xl_epoll.h"
#include "xl_fdtable.h"
#include "xl_letgo.h"
#include "xl_preload.h"
#include "xl_sock.h"

int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);

#define XL_POLL_STACK		32
/* Channel fds per socket (data and space groups) and the daemon link. */
#define XL_POLL_CHAN_FDS	4
/* Longest sleep while a socket waits for the daemon (see xl_stream.c). */
#define XL_POLL_PENDING_MS	10

#define XL_POLL_IN	(POLLIN | POLLRDNORM)
#define XL_POLL_OUT	(POLLOUT | POLLWRNORM)

struct xl_poll_ent {
	struct xl_sock *s;	/* NULL: a kernel fd */
	struct xl_ready r;
	int chan_first, chan_n;	/* its channel fds in the kernel array */
};

struct xl_poll_call {
	struct pollfd *fds;	/* the program's */
	nfds_t n;
	struct xl_poll_ent *ent;
	struct pollfd *kfds;	/* n kernel entries, then channel fds */
	nfds_t nk;
	int ntracked;
	bool registries;	/* an epoll instance with tracked sockets */
	bool pending;		/* a socket waits for its channel */
	uint64_t deadline;	/* UINT64_MAX: forever */
	const sigset_t *mask;
	bool use_mask;
	struct xl_poll_ent ent_stack[XL_POLL_STACK];
	struct pollfd kfds_stack[XL_POLL_STACK * 2];
};

static int xl_poll_alloc(struct xl_poll_call *c)
{
	size_t nk = c->n + (size_t)c->ntracked * XL_POLL_CHAN_FDS + 1;

	c->ent = c->ent_stack;
	c->kfds = c->kfds_stack;
	if (c->n > XL_POLL_STACK) {
		c->ent = calloc(c->n, sizeof(*c->ent));
		if (!c->ent)
			return -ENOMEM;
	}
	if (nk > XL_POLL_STACK * 2) {
		c->kfds = calloc(nk, sizeof(*c->kfds));
		if (!c->kfds)
			return -ENOMEM;
	}
	return 0;
}

static void xl_poll_free(struct xl_poll_call *c)
{
	nfds_t i;

	if (!c->ent)
		return;
	for (i = 0; i < c->n; i++) {
		if (c->ent[i].s)
			xl_sock_put(c->ent[i].s);
	}
	if (c->ent != c->ent_stack)
		free(c->ent);
	if (c->kfds != c->kfds_stack)
		free(c->kfds);
}

/* Does any fd name a socket whose readiness is not the kernel's alone? */
static int xl_poll_count(const struct pollfd *fds, nfds_t n)
{
	struct xl_sock *s;
	int count = 0, st;
	nfds_t i;

	for (i = 0; i < n; i++) {
		s = xl_fd_peek(fds[i].fd);
		if (!s)
			continue;
		st = atomic_load_explicit(&s->state, memory_order_relaxed);
		count += st == XL_SOCK_PENDING || st == XL_SOCK_CHAN;
	}
	return count;
}

static void xl_poll_take(struct xl_poll_call *c)
{
	struct xl_sock *s;
	bool asked = false;
	nfds_t i;
	int st;

	for (i = 0; i < c->n; i++) {
		s = c->fds[i].fd >= 0 ? xl_sock_get(c->fds[i].fd) : NULL;
		st = s ? atomic_load(&s->state) : 0;
		if (s && st != XL_SOCK_PENDING && st != XL_SOCK_CHAN) {
			xl_sock_put(s);
			s = NULL;
		}
		asked |= st == XL_SOCK_PENDING && atomic_load(&s->reg_taken);
		c->ent[i].s = s;
	}
	/* The daemon's answer is otherwise read only after a sleep: a
	 * socket with kernel bytes (its peer wrote before we took our
	 * channel) is ready at once, and a program that polls it without
	 * reading would never take the channel the peer already uses. */
	if (asked)
		xl_link_poll_soon();
}

/* Look at every tracked socket's rings; returns how many are ready. */
static int xl_poll_eval(struct xl_poll_call *c)
{
	struct xl_poll_ent *e;
	int ready = 0;
	nfds_t i;
	short ev;

	c->pending = false;
	for (i = 0; i < c->n; i++) {
		e = &c->ent[i];
		c->kfds[i] = c->fds[i];
		c->kfds[i].revents = 0;
		if (!e->s)
			continue;
		xl_ready_get(e->s, &e->r);
		c->pending |= e->r.link;
		ev = c->fds[i].events;
		if (!e->r.kern_in)
			c->kfds[i].events &= ~XL_POLL_IN;
		if (!e->r.kern_out)
			c->kfds[i].events &= ~XL_POLL_OUT;
		ready += ((ev & XL_POLL_IN) && e->r.in) ||
			 ((ev & XL_POLL_OUT) && e->r.out);
	}
	c->nk = c->n;
	return ready;
}

/* The program's revents from the kernel's and the rings'; the count. */
static int xl_poll_merge(struct xl_poll_call *c)
{
	struct xl_poll_ent *e;
	int count = 0;
	nfds_t i;
	short rev;

	for (i = 0; i < c->n; i++) {
		e = &c->ent[i];
		rev = c->kfds[i].revents;
		if (e->s) {
			if (!e->r.kern_in)
				rev &= ~XL_POLL_IN;
			if (!e->r.kern_out)
				rev &= ~XL_POLL_OUT;
			if (e->r.in)
				rev |= c->fds[i].events & XL_POLL_IN;
			if (e->r.out)
				rev |= c->fds[i].events & XL_POLL_OUT;
		}
		c->fds[i].revents = rev;
		count += rev != 0;
	}
	return count;
}

static int xl_poll_kernel(struct xl_poll_call *c, nfds_t nk, int timeout_ms)
{
	struct timespec ts;
	int ret;

	xl_lib_enter();
	if (c->use_mask) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
		ret = real.ppoll(c->kfds, nk, timeout_ms < 0 ? NULL : &ts,
				 c->mask);
	} else {
		ret = real.poll(c->kfds, nk, timeout_ms);
	}
	xl_lib_leave();
	return ret < 0 ? -errno : ret;
}

/* Is some socket waiting for its ring (not only for the kernel)? */
static bool xl_poll_rings_wait(const struct xl_poll_call *c)
{
	nfds_t i;

	for (i = 0; i < c->n; i++) {
		if (c->ent[i].s && (c->ent[i].r.wait_data ||
				    c->ent[i].r.wait_space))
			return true;
	}
	return false;
}

/* Spin on the rings for the configured budget; true if one became ready.
 * Without a ring to wait for (sockets still waiting for their channels,
 * or whose peer has no library) only the kernel can wake us. */
static bool xl_poll_spin(struct xl_poll_call *c)
{
	uint64_t end = xl_now_ns() + xl_cfg.spin_ns;
	unsigned int i = 0;

	if (!xl_cfg.spin_ns || !xl_poll_rings_wait(c))
		return false;
	do {
		if (xl_poll_eval(c))
			return true;
	} while (++i & 7 || xl_now_ns() < end);
	return false;
}

/* Announce on the rings and add their fds; false if one became ready. */
static bool xl_poll_arm(struct xl_poll_call *c)
{
	struct xl_poll_ent *e;
	nfds_t i;
	bool in, out;
	int lfd;

	for (i = 0; i < c->n; i++) {
		e = &c->ent[i];
		if (!e->s)
			continue;
		e->chan_first = (int)c->nk;
		e->chan_n = 0;
		/* the waits this round's look found: announced, then slept
		 * on, whatever the rings do in between */
		in = e->r.wait_data && (c->fds[i].events & XL_POLL_IN);
		out = e->r.wait_space && (c->fds[i].events & XL_POLL_OUT);
		if (!in && !out)
			continue;
		if (!xl_ready_announce(e->s, in, out))
			return false;
		e->chan_n = xl_ready_pollfds(e->s, in, out, c->kfds + c->nk,
					     XL_POLL_CHAN_FDS);
		c->nk += (nfds_t)e->chan_n;
	}
	lfd = c->pending ? xl_link_pollfd() : -1;
	if (lfd >= 0)
		c->kfds[c->nk++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
	return true;
}

static void xl_poll_ack(struct xl_poll_call *c)
{
	struct xl_poll_ent *e;
	nfds_t i;

	for (i = 0; i < c->n; i++) {
		e = &c->ent[i];
		if (e->s && e->chan_n)
			xl_ready_ack(e->s, c->kfds + e->chan_first, e->chan_n);
	}
	if (c->pending)
		xl_link_poll();
}

static int xl_poll_left(struct xl_poll_call *c)
{
	uint64_t now, left;
	int cap = c->pending ? XL_POLL_PENDING_MS : -1;

	if (c->deadline == UINT64_MAX)
		return cap;
	now = xl_now_ns();
	left = now >= c->deadline ? 0 : (c->deadline - now + 999999) / 1000000;
	if (left > INT32_MAX)
		left = INT32_MAX;
	return cap >= 0 && (uint64_t)cap < left ? cap : (int)left;
}

/* Does any fd name an epoll instance whose readiness we keep? */
static bool xl_poll_registries(const struct pollfd *fds, nfds_t n)
{
	nfds_t i;

	for (i = 0; i < n; i++) {
		if (xl_epoll_is_registry(fds[i].fd))
			return true;
	}
	return false;
}

/* Such instances are readable for the kernel exactly once their kicks are
 * taken (xl_epoll.c): do that before the kernel looks. */
static void xl_poll_prepare(struct xl_poll_call *c)
{
	nfds_t i;

	for (i = 0; c->registries && i < c->n; i++) {
		if (!c->ent[i].s)
			xl_epoll_prepare_fd(c->fds[i].fd);
	}
}

/* One round: look, maybe sleep. Returns the count or 0 to go on, or
 * -errno. *done is set when the call is over. */
static int xl_poll_round(struct xl_poll_call *c, bool *done)
{
	int ret, ready = xl_poll_eval(c);

	xl_poll_prepare(c);
	ret = xl_poll_kernel(c, c->nk, 0);
	if (ret < 0)
		return ret;
	*done = ready || ret || xl_poll_left(c) == 0;
	if (*done)
		return xl_poll_merge(c);
	if (xl_poll_spin(c) || !xl_poll_arm(c)) {
		*done = false;
		return 0;
	}
	ret = xl_poll_kernel(c, c->nk, xl_poll_left(c));
	if (ret < 0)
		return ret;
	xl_poll_ack(c);
	return 0;
}

static int xl_poll_run(struct xl_poll_call *c)
{
	bool done = false;
	int ret;

	c->ntracked = xl_poll_count(c->fds, c->n);
	c->registries = xl_poll_registries(c->fds, c->n);
	ret = xl_poll_alloc(c);
	if (ret < 0)
		goto out_free;
	xl_poll_take(c);
	do {
		ret = xl_poll_round(c, &done);
	} while (ret >= 0 && !done);
out_free:
	xl_poll_free(c);
	return ret;
}

static uint64_t xl_poll_deadline(const struct timespec *ts)
{
	if (!ts)
		return UINT64_MAX;
	return xl_now_ns() + (uint64_t)ts->tv_sec * 1000000000ull +
	       (uint64_t)ts->tv_nsec;
}

/* The engine behind all four calls; ts NULL: forever. */
static int xl_poll_engine(struct pollfd *fds, nfds_t n,
			  const struct timespec *ts, const sigset_t *mask,
			  bool use_mask)
{
	struct xl_poll_call call, *c = &call;

	memset(c, 0, offsetof(struct xl_poll_call, ent_stack));
	c->fds = fds;
	c->n = n;
	c->deadline = xl_poll_deadline(ts);
	c->mask = mask;
	c->use_mask = use_mask;
	return xl_poll_run(c);
}

static bool xl_poll_ours(struct pollfd *fds, nfds_t n)
{
	xl_init();
	return !xl_bypass() && (xl_poll_count(fds, n) > 0 ||
				xl_poll_registries(fds, n));
}

/* A socket that let go of its ring and still owes its program bytes is
 * readable (xl_letgo.c). */
static bool xl_poll_owed(struct pollfd *fds, nfds_t n, int *ret)
{
	bool handled;
	int saved = errno;

	if (!xl_letgo_owing() || xl_in_lib)
		return false;
	*ret = (int)xl_ret(xl_letgo_poll(fds, n, &handled), saved);
	return handled;
}

XL_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000 };
	int saved = errno, ret;

	if (xl_poll_owed(fds, n, &ret))
		return ret;
	if (!xl_poll_ours(fds, n))
		return real.poll(fds, n, timeout);
	return (int)xl_ret(xl_poll_engine(fds, n, timeout < 0 ? NULL : &ts,
					  NULL, false), saved);
}

XL_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout,
			 size_t fdslen)
{
	if (fdslen / sizeof(*fds) < n)
		abort();	/* what libc's check does, minus the message */
	return poll(fds, n, timeout);
}

XL_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		    const sigset_t *mask)
{
	int saved = errno, ret;

	if (xl_poll_owed(fds, n, &ret))
		return ret;
	if (!xl_poll_ours(fds, n))
		return real.ppoll(fds, n, ts, mask);
	return (int)xl_ret(xl_poll_engine(fds, n, ts, mask, true), saved);
}

/* ---- select ---- */

static bool xl_select_ours(int nfds, fd_set *r, fd_set *w, fd_set *e)
{
	struct xl_sock *s;
	int fd, st;

	xl_init();
	if (xl_bypass())
		return false;
	for (fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
		/* an epoll instance we keep readiness for (xl_epoll.c) */
		if (r && FD_ISSET(fd, r) && xl_epoll_is_registry(fd))
			return true;
		s = xl_fd_peek(fd);
		if (!s || !((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w)) ||
			    (e && FD_ISSET(fd, e))))
			continue;
		st = atomic_load_explicit(&s->state, memory_order_relaxed);
		if (st == XL_SOCK_PENDING || st == XL_SOCK_CHAN)
			return true;
	}
	return false;
}

/* fd_sets to pollfds; returns how many. */
static nfds_t xl_select_to_poll(int nfds, fd_set *r, fd_set *w, fd_set *e,
				struct pollfd *pfd)
{
	nfds_t n = 0;
	short ev;
	int fd;

	for (fd = 0; fd < nfds; fd++) {
		ev = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) |
			     (w && FD_ISSET(fd, w) ? POLLOUT : 0) |
			     (e && FD_ISSET(fd, e) ? POLLPRI : 0));
		if (ev)
			pfd[n++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	return n;
}

/* pollfds back to fd_sets; returns the number of bits set or -EBADF. */
static int xl_select_from_poll(const struct pollfd *pfd, nfds_t n,
			       fd_set *r, fd_set *w, fd_set *e)
{
	int count = 0;
	nfds_t i;
	short rev;

	for (i = 0; i < n; i++) {
		if (pfd[i].revents & POLLNVAL)
			return -EBADF;
	}
	if (r)
		FD_ZERO(r);
	if (w)
		FD_ZERO(w);
	if (e)
		FD_ZERO(e);
	for (i = 0; i < n; i++) {
		rev = pfd[i].revents;
		if (r && (pfd[i].events & POLLIN) &&
		    (rev & (POLLIN | POLLHUP | POLLERR)) && ++count)
			FD_SET(pfd[i].fd, r);
		if (w && (pfd[i].events & POLLOUT) &&
		    (rev & (POLLOUT | POLLERR)) && ++count)
			FD_SET(pfd[i].fd, w);
		if (e && (pfd[i].events & POLLPRI) && (rev & POLLPRI) &&
		    ++count)
			FD_SET(pfd[i].fd, e);
	}
	return count;
}

static int xl_select_engine(int nfds, fd_set *r, fd_set *w, fd_set *e,
			    const struct timespec *ts, const sigset_t *mask,
			    bool use_mask)
{
	struct pollfd *pfd;
	nfds_t n;
	int ret;

	if (nfds < 0 || nfds > FD_SETSIZE)
		return -EINVAL;
	pfd = calloc((size_t)nfds + 1, sizeof(*pfd));
	if (!pfd)
		return -ENOMEM;
	n = xl_select_to_poll(nfds, r, w, e, pfd);
	ret = xl_poll_engine(pfd, n, ts, mask, use_mask);
	if (ret >= 0)
		ret = xl_select_from_poll(pfd, n, r, w, e);
	free(pfd);
	return ret;
}

/* Linux select() leaves the time not slept in *tv. */
static void xl_select_left(struct timeval *tv, uint64_t deadline)
{
	uint64_t now = xl_now_ns(), left;

	left = now >= deadline ? 0 : deadline - now;
	tv->tv_sec = (time_t)(left / 1000000000ull);
	tv->tv_usec = (suseconds_t)(left % 1000000000ull / 1000);
}

XL_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e,
		     struct timeval *tv)
{
	struct timespec ts;
	uint64_t deadline = 0;
	int saved = errno, ret;

	if (!xl_select_ours(nfds, r, w, e))
		return real.select(nfds, r, w, e, tv);
	if (tv) {
		if (tv->tv_sec < 0 || tv->tv_usec < 0)
			return (int)xl_ret(-EINVAL, saved);
		ts.tv_sec = tv->tv_sec;
		ts.tv_nsec = tv->tv_usec * 1000;
		deadline = xl_poll_deadline(&ts);
	}
	ret = xl_select_engine(nfds, r, w, e, tv ? &ts : NULL, NULL, false);
	if (tv)
		xl_select_left(tv, deadline);
	return (int)xl_ret(ret, saved);
}

XL_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e,
		      const struct timespec *ts, const sigset_t *mask)
{
	int saved = errno;

	if (!xl_select_ours(nfds, r, w, e))
		return real.pselect(nfds, r, w, e, ts, mask);
	return (int)xl_ret(xl_select_engine(nfds, r, w, e, ts, mask, true),
			   saved);
}
