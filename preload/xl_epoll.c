/* SPDX-License-Identifier: MIT */
/*
 * epoll_ctl() and epoll_wait() (epoll_pwait, epoll_pwait2) with tracked
 * sockets among the program's fds, level- and edge-triggered, one-shot,
 * mixed with kernel fds.
 *
 * How this works
 *
 * Each epoll instance that ever watched a tracked socket gets a registry
 * and a private inner epoll instance. The tracked socket's kernel fd is
 * registered in the inner instance, not in the program's, together with
 * its channel's notification fds and an eventfd of our own ("self"); the
 * inner instance itself sits in the program's, under a random 64-bit tag.
 * The program's instance therefore becomes readable when a kernel fd of
 * its own is ready, or when something happened to a tracked socket; and
 * an instance nested in another (epoll in epoll) wakes its parent the
 * same way.
 *
 * epoll_wait() on an instance with a registry harvests the program's
 * instance; if the tag came, it drains the inner instance (kernel events
 * of tracked sockets, kicks, peer hang-ups); then it asks every tracked
 * socket's rings (xl_ready.c) and reports the ready ones under the
 * program's epoll_data, with edge detection for EPOLLET (a new byte
 * published, new room, or a change from not ready to ready) and
 * EPOLLONESHOT. With nothing to report it spins a little on the rings,
 * announces the sleep on each of them (want flags, which stay set until a
 * kick claims them, so a sleeper in an outer instance is woken too), and
 * sleeps in the real epoll_wait() on the program's instance.
 *
 * A socket that turns out to stay on TCP (no channel) moves back into the
 * program's instance and leaves the registry: from then on the kernel
 * reports it alone. An instance without tracked sockets costs nothing.
 *
 * Idle rings give their memory back: at most once a period
 * (XL_EP_SWEEP_MS), epoll_wait() looks at every channel of the instance,
 * and one whose sending side wrote nothing for a whole period and whose
 * bytes were all read has its pages dropped (xl_chan_tx_reclaim()); a
 * connection that streams never idles that long, and pays nothing. While
 * some channel may still be reclaimed, the sleep is cut into periods;
 * once every one is, the sleep is whole again, so that idle connections
 * cost no CPU.
 */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "xl_barrier.h"
#include "xl_daemon_link.h"
#include "xl_epoll.h"
#include "xl_fdtable.h"
#include "xl_letgo.h"
#include "xl_preload.h"
#include "xl_sock.h"

/* Kinds of inner registrations, in the low bits of their epoll_data. */
#define XL_EP_KERN	0u	/* the socket's kernel fd */
#define XL_EP_DATA	1u	/* its channel's data notification */
#define XL_EP_SPACE	2u	/* its channel's space notification */
#define XL_EP_HUP	3u	/* its peer's liveness */
/* 64 bits wide: ~XL_EP_KIND must keep the high half of the pointer */
#define XL_EP_KIND	((uint64_t)3)
#define XL_EP_SELF	0u	/* data 0: the registry's own eventfd */

#define XL_EP_IN	(EPOLLIN | EPOLLRDNORM)
#define XL_EP_OUT	(EPOLLOUT | EPOLLWRNORM)
#define XL_EP_DRAIN	64
/* What EPOLLEXCLUSIVE may come with (the kernel's EPOLLEXCLUSIVE_OK_BITS) */
#define XL_EP_EXCLUSIVE_OK (EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | \
			    EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE)
#define XL_EP_PENDING_MS 10
#define XL_EP_SWEEP_MS	1000

/*
 * What an edge-triggered registration compares between two looks: a new
 * byte, new room, the peer's end of stream or its end of reading, or its
 * death is an edge, as new bytes, a FIN or a reset are for the kernel.
 */
struct xl_ep_mark {
	bool in, out;			/* ready through the ring */
	bool live;			/* the peer, and the ring whole */
	uint32_t prod, pstate;		/* the peer's side of our rx ring */
	uint32_t cons, cstate;		/* the peer's side of our tx ring */
};

struct xl_ep_ent {
	int fd;
	struct xl_sock *s;		/* a reference, counted in s->nep */
	struct xl_ep *child;		/* or: a nested instance (reference) */
	struct epoll_event ev;		/* the program's registration */
	uint32_t kmask;			/* events asked in inner */
	bool in_inner;			/* the kernel fd is in inner */
	struct xl_chan *ch;		/* channel whose fds are in inner */
	int cfd[3];			/* data, space, hup in inner, or -1 */
	uint32_t kern_rev;		/* kernel events not yet reported */
	bool disabled;			/* EPOLLONESHOT fired, or deleted */
	bool deleted;			/* the program's EPOLL_CTL_DEL: kept,
					 * quiet, for an ADD of the same socket
					 * (xl_ep_ctl_retire()) */
	bool owed;			/* edge seen, no room to report it */
	struct xl_ep_mark last;		/* at the last report (EPOLLET) */
	uint32_t spin_prod, spin_cons;	/* xl_ep_spin() */
	bool spin_tx;
	struct xl_chan_reclaim reclaim;	/* xl_ep_sweep() */
};

struct xl_ep {
	int epfd, inner, self;
	_Atomic int refs;		/* the list's + calls in progress */
	pthread_mutex_t mutex;		/* the entries */
	struct xl_ep_ent **ent;
	int n, cap;
	_Atomic int npending;		/* entries waiting for a channel */
	bool watched;			/* nested or polled: keep self exact */
	bool flagged;			/* self holds our "due" mark */
	uint32_t spin_cur;		/* xl_ep_spin()'s budget, adaptive */
	_Atomic uint64_t sweep_ns;	/* next xl_ep_sweep() */
	_Atomic bool sweep_more;	/* a ring may still give memory back */
	struct xl_ep *next;
};

#define XL_EP_MARKS	65536
/* Per fd number: made by epoll_create*() here (1), has a registry (2). */
static _Atomic unsigned char xl_ep_marks[XL_EP_MARKS];
#define XL_EP_IS_EPOLL	1u
#define XL_EP_HAS_REG	2u

static bool xl_ep_refresh(struct xl_ep *ep, bool arm);
static uint32_t xl_ep_child_events(struct xl_ep_ent *e);
static void xl_ep_latent_closed(int fd);
static void xl_ep_drain(struct xl_ep *ep);
static bool xl_ep_any_due(struct xl_ep *ep);
static bool xl_ep_arm(struct xl_ep *ep);

static pthread_mutex_t xl_ep_list_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct xl_ep *xl_ep_list;
static uint64_t xl_ep_tag;
/* A nested instance's registration in the program's instance: the high
 * 16 bits of this, the entry's address in the low 48. */
static uint64_t xl_ep_ntag;
#define XL_EP_NTAG_MASK	0xffff000000000000ull

static void xl_ep_mark(int fd, unsigned int bits, bool on)
{
	if (fd < 0 || fd >= XL_EP_MARKS)
		return;
	if (on)
		atomic_fetch_or(&xl_ep_marks[fd], (unsigned char)bits);
	else
		atomic_fetch_and(&xl_ep_marks[fd], (unsigned char)~bits);
}

static bool xl_ep_marked(int fd, unsigned int bits)
{
	return fd >= 0 && fd < XL_EP_MARKS &&
	       (atomic_load_explicit(&xl_ep_marks[fd], memory_order_relaxed) &
		bits);
}

/* ---- registries ---- */

static uint64_t xl_ep_new_tag(void)
{
	uint64_t t = 0;
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (real.read(fd, &t, sizeof(t)) != sizeof(t))
			t = 0;
		real.close(fd);
	}
	if (!t)
		t = xl_now_ns() * 0x9e3779b97f4a7c15ull;
	/* never a small number or a pointer-looking value a program uses */
	return t | 0x8000000000000001ull;
}

/* A registry's own fd (inner instance, self-kick), out of the program's
 * numbers (xl_fd_keep()); fd < 0 (errno set) passes through. */
static int xl_ep_own(int fd)
{
	int nfd;

	if (fd < 0)
		return fd;
	nfd = xl_fd_keep(fd);
	if (nfd < 0)
		return fd;	/* where it is */
	real.close(fd);
	return nfd;
}

static void xl_ep_close_own(int fd)
{
	if (fd < 0)
		return;
	xl_fd_internal_del(fd);
	real.close(fd);
}

static void xl_ep_put(struct xl_ep *ep)
{
	int i;

	if (atomic_fetch_sub(&ep->refs, 1) != 1)
		return;
	for (i = 0; i < ep->n; i++) {
		if (ep->ent[i]->child) {
			xl_ep_put(ep->ent[i]->child);
		} else {
			atomic_fetch_sub(&ep->ent[i]->s->nep, 1);
			xl_sock_put(ep->ent[i]->s);
		}
		free(ep->ent[i]);
	}
	free(ep->ent);
	xl_ep_close_own(ep->inner);
	xl_ep_close_own(ep->self);
	pthread_mutex_destroy(&ep->mutex);
	free(ep);
}

static struct xl_ep *xl_ep_lookup(int epfd)
{
	struct xl_ep *ep;

	pthread_mutex_lock(&xl_ep_list_mutex);
	for (ep = xl_ep_list; ep; ep = ep->next) {
		if (ep->epfd == epfd) {
			atomic_fetch_add(&ep->refs, 1);
			break;
		}
	}
	pthread_mutex_unlock(&xl_ep_list_mutex);
	return ep;
}

static int xl_ep_setup(struct xl_ep *ep)
{
	struct epoll_event ev = { .events = EPOLLIN };

	ep->inner = xl_ep_own(real.epoll_create1(EPOLL_CLOEXEC));
	if (ep->inner < 0)
		return -errno;
	ep->self = xl_ep_own(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	if (ep->self < 0)
		return -errno;
	ev.data.u64 = XL_EP_SELF;
	if (real.epoll_ctl(ep->inner, EPOLL_CTL_ADD, ep->self, &ev) < 0)
		return -errno;
	ev.data.u64 = xl_ep_tag;
	if (real.epoll_ctl(ep->epfd, EPOLL_CTL_ADD, ep->inner, &ev) < 0)
		return -errno;
	return 0;
}

/* The registry of epfd, made if needed; with a reference. */
static struct xl_ep *xl_ep_get(int epfd)
{
	struct xl_ep *ep = xl_ep_lookup(epfd);

	if (ep)
		return ep;
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return NULL;
	ep->epfd = epfd;
	ep->inner = ep->self = -1;
	atomic_init(&ep->refs, 2);
	pthread_mutex_init(&ep->mutex, NULL);
	pthread_mutex_lock(&xl_ep_list_mutex);
	if (!xl_ep_tag) {
		xl_ep_tag = xl_ep_new_tag();
		/* high bits of their own, never those of the tag */
		xl_ep_ntag = (xl_ep_tag ^ (xl_ep_tag << 17) ^
			      0x5a5a000000000000ull) & XL_EP_NTAG_MASK;
		if (xl_ep_ntag == (xl_ep_tag & XL_EP_NTAG_MASK) || !xl_ep_ntag)
			xl_ep_ntag ^= 0x8001000000000000ull;
	}
	if (xl_ep_setup(ep) < 0) {
		pthread_mutex_unlock(&xl_ep_list_mutex);
		atomic_store(&ep->refs, 1);
		xl_ep_put(ep);
		return NULL;
	}
	ep->next = xl_ep_list;
	xl_ep_list = ep;
	xl_ep_mark(epfd, XL_EP_HAS_REG, true);
	pthread_mutex_unlock(&xl_ep_list_mutex);
	return ep;
}

static void xl_ep_forget_one(struct xl_ep *ep, void *arg);
static void xl_ep_foreach(void (*fn)(struct xl_ep *ep, void *arg), void *arg);

void xl_epoll_closed(int fd)
{
	struct xl_ep **pp, *ep = NULL;

	if (fd < XL_EP_MARKS && !xl_ep_marked(fd, XL_EP_IS_EPOLL |
					       XL_EP_HAS_REG))
		return;		/* not an epoll instance: nothing of ours */
	xl_ep_mark(fd, XL_EP_IS_EPOLL | XL_EP_HAS_REG, false);
	xl_ep_latent_closed(fd);
	if (!atomic_load_explicit((_Atomic(struct xl_ep *) *)&xl_ep_list,
				  memory_order_relaxed))
		return;
	/* an instance nested in others leaves them with its last close */
	xl_ep_foreach(xl_ep_forget_one, &fd);
	pthread_mutex_lock(&xl_ep_list_mutex);
	for (pp = &xl_ep_list; *pp; pp = &(*pp)->next) {
		if ((*pp)->epfd == fd) {
			ep = *pp;
			*pp = ep->next;
			break;
		}
	}
	pthread_mutex_unlock(&xl_ep_list_mutex);
	if (ep)
		xl_ep_put(ep);
}

void xl_epoll_sock_changed(struct xl_sock *s)
{
	uint64_t one = 1;
	struct xl_ep *ep;

	if (!atomic_load(&s->nep))
		return;
	/* every registry that has sockets: a spurious wake-up is cheap */
	pthread_mutex_lock(&xl_ep_list_mutex);
	for (ep = xl_ep_list; ep; ep = ep->next) {
		if (ep->n && real.write(ep->self, &one, sizeof(one)) < 0)
			(void)0;	/* saturated: a wake-up is pending */
	}
	pthread_mutex_unlock(&xl_ep_list_mutex);
}

/* ---- entries ---- */

static int xl_ep_find(struct xl_ep *ep, int fd)
{
	int i;

	for (i = 0; i < ep->n; i++) {
		if (ep->ent[i]->fd == fd)
			return i;
	}
	return -1;
}

static void xl_ep_inner_del(struct xl_ep *ep, int fd)
{
	struct epoll_event ev = { 0 };

	real.epoll_ctl(ep->inner, EPOLL_CTL_DEL, fd, &ev);
}

static void xl_ep_drop_chan_fds(struct xl_ep *ep, struct xl_ep_ent *e)
{
	int i;

	for (i = 0; i < 3; i++) {
		if (e->cfd[i] >= 0)
			xl_ep_inner_del(ep, e->cfd[i]);
		e->cfd[i] = -1;
	}
	if (e->ch)
		xl_sock_chan_hold(e->s, e->ch, -1);
	e->ch = NULL;
}

/* Take entry i out of the registry (caller holds the mutex). */
static void xl_ep_remove(struct xl_ep *ep, int i)
{
	struct xl_ep_ent *e = ep->ent[i];
	struct epoll_event ev = { 0 };

	if (e->child) {
		real.epoll_ctl(ep->epfd, EPOLL_CTL_DEL, e->fd, &ev);
		ep->ent[i] = ep->ent[--ep->n];
		xl_ep_put(e->child);
		free(e);
		return;
	}
	if (e->in_inner)
		xl_ep_inner_del(ep, e->fd);
	xl_ep_drop_chan_fds(ep, e);
	ep->ent[i] = ep->ent[--ep->n];
	atomic_fetch_sub(&e->s->nep, 1);
	xl_sock_put(e->s);
	free(e);
}

static uint32_t xl_ep_kmask(const struct xl_ep_ent *e, const struct xl_ready *r)
{
	uint32_t m = e->ev.events & ~(EPOLLEXCLUSIVE | EPOLLWAKEUP |
				      EPOLLONESHOT);

	if (!r->kern_in)
		m &= ~XL_EP_IN;
	if (!r->kern_out)
		m &= ~XL_EP_OUT;
	return m;
}

/* Keep the kernel fd's inner registration as the socket's state says. */
static int xl_ep_sync_kern(struct xl_ep *ep, struct xl_ep_ent *e,
			   const struct xl_ready *r)
{
	struct epoll_event ev;
	uint32_t m = xl_ep_kmask(e, r);
	int op;

	if (e->disabled) {
		if (e->in_inner)
			xl_ep_inner_del(ep, e->fd);
		e->in_inner = false;
		return 0;
	}
	if (e->in_inner && m == e->kmask)
		return 0;
	op = e->in_inner ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	ev.events = m;
	ev.data.ptr = e;	/* kind XL_EP_KERN: low bits 0 */
	if (real.epoll_ctl(ep->inner, op, e->fd, &ev) < 0)
		return -errno;
	e->in_inner = true;
	e->kmask = m;
	return 0;
}

static void xl_ep_add_chan_fd(struct xl_ep *ep, struct xl_ep_ent *e, int slot,
			      int fd, unsigned int kind)
{
	struct epoll_event ev = { .events = EPOLLIN };

	ev.data.u64 = (uint64_t)(uintptr_t)e | kind;
	if (real.epoll_ctl(ep->inner, EPOLL_CTL_ADD, fd, &ev) == 0)
		e->cfd[slot] = fd;
}

/*
 * Put the socket's channel fds in inner, once it has a channel; when it
 * came back onto a new one (protocol.md §5.3), the old one's fds out
 * first. The hold comes /before/ a second look at the socket's channel:
 * the swap stores the new one before the retired one may be freed, and
 * freeing looks at the holds (xl_stream.c), so a channel held here is
 * never one already freed.
 */
static void xl_ep_sync_chan(struct xl_ep *ep, struct xl_ep_ent *e)
{
	struct xl_chan *ch = atomic_load(&e->s->chan);
	struct pollfd pfd[2];

	if (!ch || e->ch == ch)
		return;
	xl_sock_chan_hold(e->s, ch, 1);
	if (atomic_load(&e->s->chan) != ch) {
		xl_sock_chan_hold(e->s, ch, -1);
		return;		/* swapped again: the next sync */
	}
	if (e->ch)
		xl_ep_drop_chan_fds(ep, e);
	e->ch = ch;
	memset(&e->reclaim, 0, sizeof(e->reclaim));
	if (xl_chan_pollfds(ch, XL_WAIT_DATA, pfd, 2) == 2) {
		xl_ep_add_chan_fd(ep, e, 0, pfd[0].fd, XL_EP_DATA);
		xl_ep_add_chan_fd(ep, e, 2, pfd[1].fd, XL_EP_HUP);
	}
	if ((e->ev.events & XL_EP_OUT) &&
	    xl_chan_pollfds(ch, XL_WAIT_SPACE, pfd, 2) == 2)
		xl_ep_add_chan_fd(ep, e, 1, pfd[0].fd, XL_EP_SPACE);
}

/* The program asks for EPOLLOUT now: the space kicks count too. */
static void xl_ep_add_space_fd(struct xl_ep *ep, struct xl_ep_ent *e)
{
	struct pollfd pfd[2];

	if (xl_chan_pollfds(e->ch, XL_WAIT_SPACE, pfd, 2) == 2)
		xl_ep_add_chan_fd(ep, e, 1, pfd[0].fd, XL_EP_SPACE);
}

/* The socket stays on TCP: hand its fd back to the program's instance. */
static void xl_ep_release_plain(struct xl_ep *ep, int i)
{
	struct xl_ep_ent *e = ep->ent[i];
	struct epoll_event ev = e->ev;

	if (e->in_inner)
		xl_ep_inner_del(ep, e->fd);
	e->in_inner = false;
	if (!e->disabled)
		real.epoll_ctl(ep->epfd, EPOLL_CTL_ADD, e->fd, &ev);
	xl_ep_remove(ep, i);
}

/* Bring every entry in line with its socket; caller holds the mutex. */
static void xl_ep_sync(struct xl_ep *ep)
{
	struct xl_ep_ent *e;
	struct xl_ready r;
	int i, npending = 0, st;

	for (i = 0; i < ep->n; i++) {
		e = ep->ent[i];
		if (e->child)
			continue;
		st = atomic_load(&e->s->state);
		if (st == XL_SOCK_PLAIN && !atomic_load(&e->s->chan)) {
			if (e->deleted)
				xl_ep_remove(ep, i--);
			else
				xl_ep_release_plain(ep, i--);
			continue;
		}
		if (e->deleted)
			continue;
		if (st == XL_SOCK_CONNECTING && !e->disabled)
			xl_sock_settle(e->s, e->fd);
		if (st == XL_SOCK_CLAIM)
			xl_sock_try_claim(e->s, e->fd);
		npending += st == XL_SOCK_PENDING || st == XL_SOCK_CONNECTING;
		xl_ready_get(e->s, &r);
		xl_ep_sync_kern(ep, e, &r);
		xl_ep_sync_chan(ep, e);
	}
	atomic_store(&ep->npending, npending);
}

/* Room for one more entry; caller holds the mutex. 0 or -ENOMEM. */
static int xl_ep_room(struct xl_ep *ep)
{
	struct xl_ep_ent **grown;
	int cap = ep->cap ? ep->cap * 2 : 8;

	if (ep->n < ep->cap)
		return 0;
	grown = realloc(ep->ent, (size_t)cap * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	ep->ent = grown;
	ep->cap = cap;
	return 0;
}

/* ---- nested instances ---- */

/*
 * An instance in another (or in a poll() set) is readable for the kernel
 * when one of the program's fds in it is, or when our eventfd ("self") is:
 * we keep self set exactly while a tracked socket in it has something to
 * report, and take the inner instance's kicks and kernel events as they
 * come, so that its readiness is what the kernel's would be. The inner
 * instance sits in the program's too, so a kick wakes a waiter outside;
 * the waiter's library then refreshes the instance and looks again.
 */
static void xl_ep_publish(struct xl_ep *ep, bool due)
{
	uint64_t v = 1;

	if (due && !ep->flagged) {
		if (real.write(ep->self, &v, sizeof(v)) == sizeof(v))
			ep->flagged = true;
	} else if (!due) {
		/* also what a state change left there: seen by now */
		if (real.read(ep->self, &v, sizeof(v)) < 0)
			(void)0;	/* nothing was set */
		ep->flagged = false;
	}
}

/*
 * A level-triggered kernel event noted by a drain is stale once the
 * program reads: the kernel's inner instance reports it again while it
 * holds, and makes the program's instance readable for the kernel by
 * itself. An edge stays noted until it is reported.
 */
static void xl_ep_forget_level(struct xl_ep *ep)
{
	int i;

	for (i = 0; i < ep->n; i++) {
		if (!ep->ent[i]->child && !(ep->ent[i]->ev.events & EPOLLET))
			ep->ent[i]->kern_rev = 0;
	}
}

/*
 * Bring ep up to date for a waiter outside it: take its kicks and kernel
 * events, and set self as its sockets say. With arm, also announce the
 * coming sleep on its rings. Returns whether it has something to report.
 */
static bool xl_ep_refresh(struct xl_ep *ep, bool arm)
{
	bool due;

	pthread_mutex_lock(&ep->mutex);
	ep->watched = true;
	xl_ep_sync(ep);
	xl_ep_drain(ep);
	xl_ep_forget_level(ep);
	due = xl_ep_any_due(ep);
	if (!due && arm)
		due = !xl_ep_arm(ep);
	xl_ep_publish(ep, due);
	pthread_mutex_unlock(&ep->mutex);
	return due;
}

/* The kernel said the nested instance is readable: is it, once its kicks
 * are taken? */
static uint32_t xl_ep_child_events(struct xl_ep_ent *e)
{
	struct pollfd p = { .fd = e->fd, .events = POLLIN };
	uint32_t rev = e->kern_rev;

	if (!rev)
		return 0;
	e->kern_rev = 0;
	xl_ep_refresh(e->child, false);
	if (real.poll(&p, 1, 0) <= 0 || !(p.revents & POLLIN))
		return 0;
	return rev & (e->ev.events | EPOLLERR | EPOLLHUP);
}

/* The nested entry a harvested event's data names, or NULL. */
static struct xl_ep_ent *xl_ep_nested_ent(struct xl_ep *ep, uint64_t data)
{
	int i;

	if ((data & XL_EP_NTAG_MASK) != xl_ep_ntag || !xl_ep_ntag)
		return NULL;
	for (i = 0; i < ep->n; i++) {
		if (ep->ent[i]->child &&
		    (uint64_t)(uintptr_t)ep->ent[i] == (data & ~XL_EP_NTAG_MASK))
			return ep->ent[i];
	}
	return NULL;
}

static int xl_ep_child_ctl(struct xl_ep *ep, int op, struct xl_ep_ent *e)
{
	struct epoll_event ev;

	ev.events = e->ev.events & ~(EPOLLONESHOT | EPOLLEXCLUSIVE);
	ev.data.u64 = xl_ep_ntag | (uint64_t)(uintptr_t)e;
	return real.epoll_ctl(ep->epfd, op, e->fd, &ev) < 0 ? -errno : 0;
}

/* fd, an epoll instance, goes into ep (caller holds ep's mutex). */
static int xl_ep_ctl_add_child(struct xl_ep *ep, int fd,
			       const struct epoll_event *ev)
{
	struct xl_ep_ent *e;
	struct xl_ep *child;
	int ret;

	if (xl_ep_room(ep) < 0)
		return -ENOMEM;
	child = xl_ep_get(fd);
	if (!child)
		return 1;	/* the kernel's, as it was */
	e = calloc(1, sizeof(*e));
	if (!e) {
		xl_ep_put(child);
		return -ENOMEM;
	}
	e->fd = fd;
	e->child = child;
	e->ev = *ev;
	e->cfd[0] = e->cfd[1] = e->cfd[2] = -1;
	ret = xl_ep_child_ctl(ep, EPOLL_CTL_ADD, e);
	if (ret < 0) {
		xl_ep_put(child);
		free(e);
		return ret;
	}
	ep->ent[ep->n++] = e;
	return 0;
}

bool xl_epoll_prepare_fd(int fd)
{
	struct xl_ep *ep;

	if (!xl_ep_marked(fd, XL_EP_HAS_REG))
		return false;
	ep = xl_ep_lookup(fd);
	if (!ep)
		return false;
	xl_ep_refresh(ep, true);
	xl_ep_put(ep);
	return true;
}

bool xl_epoll_is_registry(int fd)
{
	return xl_ep_marked(fd, XL_EP_HAS_REG);
}

/* ---- epoll_ctl ---- */

static int xl_ep_ctl_add(struct xl_ep *ep, int fd, struct xl_sock *s,
			 const struct epoll_event *ev)
{
	struct xl_ep_ent *e;
	struct xl_ready r;
	int ret;

	if (xl_ep_find(ep, fd) >= 0)
		return -EEXIST;
	if ((ev->events & EPOLLEXCLUSIVE) &&
	    (ev->events & ~XL_EP_EXCLUSIVE_OK))
		return -EINVAL;
	if (xl_ep_room(ep) < 0)
		return -ENOMEM;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->fd = fd;
	e->s = s;
	e->ev = *ev;
	e->cfd[0] = e->cfd[1] = e->cfd[2] = -1;
	xl_ready_get(s, &r);
	ret = xl_ep_sync_kern(ep, e, &r);
	if (ret < 0) {
		free(e);
		return ret;
	}
	xl_sock_tryget(s);
	atomic_fetch_add(&s->nep, 1);
	ep->ent[ep->n++] = e;
	xl_ep_sync_chan(ep, e);
	return 0;
}

/* Bring e's inner registrations in line with a new e->ev. */
static int xl_ep_ctl_mod_entry(struct xl_ep *ep, struct xl_ep_ent *e)
{
	struct xl_ready r;

	xl_ready_get(e->s, &r);
	e->kmask = ~0u;			/* force the inner update */
	if (e->ch && e->cfd[1] < 0 && (e->ev.events & XL_EP_OUT))
		xl_ep_add_space_fd(ep, e);
	xl_ep_sync_chan(ep, e);
	return xl_ep_sync_kern(ep, e, &r);
}

static int xl_ep_ctl_mod(struct xl_ep *ep, int i, const struct epoll_event *ev)
{
	struct xl_ep_ent *e = ep->ent[i];

	/* the kernel's rules: EPOLLEXCLUSIVE is for ADD only, and an entry
	 * added with it cannot be modified */
	if ((ev->events & EPOLLEXCLUSIVE) || (e->ev.events & EPOLLEXCLUSIVE))
		return -EINVAL;
	if (e->child) {
		e->ev = *ev;
		e->disabled = false;
		e->kern_rev = 0;
		return xl_ep_child_ctl(ep, EPOLL_CTL_MOD, e);
	}
	e->ev = *ev;
	e->disabled = false;
	e->owed = false;
	e->last.in = e->last.out = false;	/* MOD re-arms edges too */
	e->kern_rev = 0;
	return xl_ep_ctl_mod_entry(ep, e);
}

/*
 * The program deletes a tracked socket from the instance. Event loops do
 * that and add it again around every request (redis-benchmark: DEL and
 * ADD per reply), and an entry is four registrations in the inner
 * instance: the entry stays, quiet (its kernel fd out of the inner
 * instance, its rings not armed), for an ADD of the same socket to take it
 * up again at the cost of the kernel's own DEL and ADD, one call each.
 */
static int xl_ep_ctl_retire(struct xl_ep *ep, int i)
{
	struct xl_ep_ent *e = ep->ent[i];

	if (e->child) {
		xl_ep_remove(ep, i);
		return 0;
	}
	/* out of the inner instance, not merely masked: a kernel socket
	 * always reports EPOLLHUP and EPOLLERR, and a peer that closes while
	 * the entry sleeps would keep the instance readable for nothing */
	if (e->in_inner)
		xl_ep_inner_del(ep, e->fd);
	e->in_inner = false;
	e->kmask = 0;
	e->deleted = e->disabled = true;
	e->kern_rev = 0;
	return 0;
}

/* ADD of a socket whose entry was retired: take it up again. */
static int xl_ep_ctl_revive(struct xl_ep *ep, int i,
			    const struct epoll_event *ev)
{
	struct xl_ep_ent *e = ep->ent[i];

	if ((ev->events & EPOLLEXCLUSIVE) &&
	    (ev->events & ~XL_EP_EXCLUSIVE_OK))
		return -EINVAL;
	e->deleted = false;
	/* as MOD does, but an EXCLUSIVE entry may be added so */
	e->ev = *ev;
	e->disabled = false;
	e->owed = false;
	e->last.in = e->last.out = false;
	e->kern_rev = 0;
	return xl_ep_ctl_mod_entry(ep, e);
}

/* epoll_ctl() on a tracked socket or a registered fd. Returns 0 or -errno,
 * or 1 if the kernel should handle it after all. */
static int xl_ep_ctl(int epfd, int op, int fd, struct epoll_event *ev,
		     struct xl_sock *s, bool child)
{
	struct xl_ep *ep = s || child ? xl_ep_get(epfd) : xl_ep_lookup(epfd);
	int i, ret = 1;

	if (!ep)
		return 1;
	pthread_mutex_lock(&ep->mutex);
	i = xl_ep_find(ep, fd);
	if (i >= 0 && ep->ent[i]->deleted) {
		/* for the program, not there: its MOD or DEL is the kernel's
		 * ENOENT; its ADD takes the entry up again if the fd is still
		 * the same socket */
		if (op != EPOLL_CTL_ADD || !s) {
			ret = 1;
			goto out_unlock;
		}
		if (ep->ent[i]->s == s) {
			ret = xl_ep_ctl_revive(ep, i, ev);
			goto out_unlock;
		}
		xl_ep_remove(ep, i);
		i = -1;
	}
	if (op == EPOLL_CTL_ADD && (s || child) && i >= 0)
		ret = -EEXIST;
	else if (op == EPOLL_CTL_ADD && s)
		ret = xl_ep_ctl_add(ep, fd, s, ev);
	else if (op == EPOLL_CTL_ADD && child)
		ret = xl_ep_ctl_add_child(ep, fd, ev);
	else if (op == EPOLL_CTL_MOD && i >= 0)
		ret = ev ? xl_ep_ctl_mod(ep, i, ev) : -EFAULT;
	else if (op == EPOLL_CTL_DEL && i >= 0)
		ret = xl_ep_ctl_retire(ep, i);
out_unlock:
	pthread_mutex_unlock(&ep->mutex);
	xl_ep_put(ep);
	return ret;
}

/*
 * An epoll instance without a registry in another one is the kernel's
 * business, until it gets a registry (its first tracked socket): then the
 * outer instance must see it through one. Such pairs are kept here.
 */
struct xl_ep_latent {
	int parent, child;
	struct epoll_event ev;
};

static pthread_mutex_t xl_ep_latent_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct xl_ep_latent *xl_ep_latent;
static _Atomic int xl_ep_nlatent;
static int xl_ep_latent_cap;

static int xl_ep_latent_find(int parent, int child)
{
	int i;

	for (i = 0; i < xl_ep_nlatent; i++) {
		if (xl_ep_latent[i].child == child &&
		    (parent < 0 || xl_ep_latent[i].parent == parent))
			return i;
	}
	return -1;
}

static void xl_ep_latent_drop(int i)
{
	xl_ep_latent[i] = xl_ep_latent[xl_ep_nlatent - 1];
	atomic_fetch_sub(&xl_ep_nlatent, 1);
}

/* The kernel took op on (parent, child), an epoll fd without a registry. */
static void xl_ep_latent_note(int parent, int op, int child,
			      const struct epoll_event *ev)
{
	struct xl_ep_latent *grown;
	int i;

	pthread_mutex_lock(&xl_ep_latent_mutex);
	i = xl_ep_latent_find(parent, child);
	if (op == EPOLL_CTL_DEL && i >= 0) {
		xl_ep_latent_drop(i);
	} else if (op == EPOLL_CTL_MOD && i >= 0 && ev) {
		xl_ep_latent[i].ev = *ev;
	} else if (op == EPOLL_CTL_ADD && i < 0 && ev) {
		if (xl_ep_nlatent == xl_ep_latent_cap) {
			grown = realloc(xl_ep_latent,
					(size_t)(xl_ep_latent_cap + 8) *
					sizeof(*grown));
			if (!grown)
				goto out_unlock;	/* stays the kernel's */
			xl_ep_latent = grown;
			xl_ep_latent_cap += 8;
		}
		xl_ep_latent[xl_ep_nlatent] = (struct xl_ep_latent){
			parent, child, *ev
		};
		atomic_fetch_add(&xl_ep_nlatent, 1);
	}
out_unlock:
	pthread_mutex_unlock(&xl_ep_latent_mutex);
}

/* fd closed: forget the pairs it was in. */
static void xl_ep_latent_closed(int fd)
{
	int i;

	if (!atomic_load_explicit(&xl_ep_nlatent, memory_order_relaxed))
		return;
	pthread_mutex_lock(&xl_ep_latent_mutex);
	for (i = 0; i < xl_ep_nlatent; i++) {
		if (xl_ep_latent[i].parent == fd || xl_ep_latent[i].child == fd)
			xl_ep_latent_drop(i--);
	}
	pthread_mutex_unlock(&xl_ep_latent_mutex);
}

/* Pairs whose inner instance got a registry move under the outer's. */
static void xl_ep_latent_adopt(void)
{
	struct epoll_event ev;
	struct xl_ep_latent l;
	int i;

	if (!atomic_load_explicit(&xl_ep_nlatent, memory_order_relaxed))
		return;
	pthread_mutex_lock(&xl_ep_latent_mutex);
	for (i = 0; i < xl_ep_nlatent; i++) {
		l = xl_ep_latent[i];
		if (!xl_ep_marked(l.child, XL_EP_HAS_REG))
			continue;
		xl_ep_latent_drop(i--);
		if (real.epoll_ctl(l.parent, EPOLL_CTL_DEL, l.child, &ev) == 0 &&
		    xl_ep_ctl(l.parent, EPOLL_CTL_ADD, l.child, &l.ev, NULL,
			      true) != 0)
			real.epoll_ctl(l.parent, EPOLL_CTL_ADD, l.child, &l.ev);
	}
	pthread_mutex_unlock(&xl_ep_latent_mutex);
}

XL_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct xl_sock *s;
	int ret, saved = errno;

	bool child;

	xl_init();
	if (xl_bypass())
		return real.epoll_ctl(epfd, op, fd, ev);
	s = op == EPOLL_CTL_ADD ? xl_sock_get(fd) : NULL;
	if (s && !ev) {
		xl_sock_put(s);
		return (int)xl_ret(-EFAULT, saved);
	}
	/* an instance that already has a registry is seen through it */
	child = op == EPOLL_CTL_ADD && ev && fd != epfd &&
		xl_ep_marked(fd, XL_EP_HAS_REG);
	ret = s || child ||
	      atomic_load_explicit((_Atomic(struct xl_ep *) *)&xl_ep_list,
				   memory_order_relaxed) ?
	      xl_ep_ctl(epfd, op, fd, ev, s, child) : 1;
	if (s)
		xl_sock_put(s);
	if (ret == 1) {
		ret = real.epoll_ctl(epfd, op, fd, ev);
		if (ret == 0 && xl_ep_marked(fd, XL_EP_IS_EPOLL))
			xl_ep_latent_note(epfd, op, fd, ev);
		return ret;
	}
	if (ret == 0)
		xl_ep_latent_adopt();
	return (int)xl_ret(ret, saved);
}

static int xl_ep_created(int fd)
{
	if (fd >= 0)
		xl_ep_mark(fd, XL_EP_IS_EPOLL, true);
	return fd;
}

XL_EXPORT int epoll_create(int size)
{
	xl_init();
	return xl_ep_created(real.epoll_create(size));
}

XL_EXPORT int epoll_create1(int flags)
{
	xl_init();
	return xl_ep_created(real.epoll_create1(flags));
}

/* fn(ep, arg) for every epoll instance with a registry, under its mutex. */
static void xl_ep_foreach(void (*fn)(struct xl_ep *ep, void *arg), void *arg)
{
	struct xl_ep *ep;

	if (!atomic_load_explicit((_Atomic(struct xl_ep *) *)&xl_ep_list,
				  memory_order_relaxed))
		return;
	pthread_mutex_lock(&xl_ep_list_mutex);
	for (ep = xl_ep_list; ep; ep = ep->next) {
		pthread_mutex_lock(&ep->mutex);
		fn(ep, arg);
		pthread_mutex_unlock(&ep->mutex);
	}
	pthread_mutex_unlock(&xl_ep_list_mutex);
}

static void xl_ep_forget_one(struct xl_ep *ep, void *arg)
{
	int i = xl_ep_find(ep, *(int *)arg);

	if (i >= 0)
		xl_ep_remove(ep, i);
}

void xl_epoll_forget_fd(int fd)
{
	xl_ep_foreach(xl_ep_forget_one, &fd);
}

static void xl_ep_chan_fd_moved(struct xl_ep *ep, void *arg)
{
	/* what each slot of cfd[] carries */
	static const unsigned int kind[3] = {
		XL_EP_DATA, XL_EP_SPACE, XL_EP_HUP
	};
	const int *move = arg;	/* from, to */
	int i, k;

	for (i = 0; i < ep->n; i++) {
		struct xl_ep_ent *e = ep->ent[i];

		for (k = 0; k < 3; k++) {
			if (e->cfd[k] != move[0])
				continue;
			/* a registration is the file's and the fd's: the old
			 * one would outlive the entry */
			xl_ep_inner_del(ep, move[0]);
			e->cfd[k] = -1;
			xl_ep_add_chan_fd(ep, e, k, move[1], kind[k]);
		}
	}
}

void xl_epoll_chan_fd_moved(int from, int to)
{
	int move[2] = { from, to };

	xl_ep_foreach(xl_ep_chan_fd_moved, move);
}

/* ---- epoll_wait ---- */

/* One inner event: note kernel events, consume kicks. */
static void xl_ep_inner_event(struct xl_ep *ep, const struct epoll_event *iev)
{
	struct xl_ep_ent *e = (void *)(uintptr_t)(iev->data.u64 & ~XL_EP_KIND);
	unsigned int kind = (unsigned int)(iev->data.u64 & XL_EP_KIND);
	struct pollfd pfd[2] = { { .fd = -1 }, { .fd = -1 } };
	uint64_t count;

	if (!e) {
		if (real.read(ep->self, &count, sizeof(count)) < 0)
			(void)0;	/* raced with another reader */
		ep->flagged = false;
		return;
	}
	if (kind == XL_EP_KERN) {
		e->kern_rev |= iev->events;
		return;
	}
	if (!e->ch)
		return;
	pfd[kind == XL_EP_HUP].revents = POLLIN;
	pfd[0].fd = e->cfd[kind == XL_EP_SPACE ? 1 : 0];
	pfd[1].fd = e->cfd[2];
	if (xl_chan_ack(e->ch, kind == XL_EP_SPACE ? XL_WAIT_SPACE :
			XL_WAIT_DATA, pfd, 2) == -ECONNRESET && e->cfd[2] >= 0) {
		/* a hang-up stays readable: it told us once, enough */
		xl_ep_inner_del(ep, e->cfd[2]);
		e->cfd[2] = -1;
	}
}

/*
 * Entries an inner event may name are still in the registry: we hold the
 * mutex, and a removed entry's inner registrations went with it.
 *
 * The kernel puts a level-triggered registration that is still ready back
 * at the tail of its ready list each time it reports it, so a level-
 * triggered socket never stops filling batches: "until a batch comes back
 * short" never ends once a batch's worth stays ready. Every registration
 * has been seen once after as many events as there are registrations
 * (four per entry at most, and our eventfd), which bounds the drain.
 */
static void xl_ep_drain(struct xl_ep *ep)
{
	struct epoll_event iev[XL_EP_DRAIN];
	int n, i, left = ep->n * 4 + 1;

	do {
		n = real.epoll_wait(ep->inner, iev,
				    left < XL_EP_DRAIN ? left : XL_EP_DRAIN, 0);
		for (i = 0; i < n; i++)
			xl_ep_inner_event(ep, &iev[i]);
		left -= n;
	} while (n == XL_EP_DRAIN && left > 0);
}

static void xl_ep_mark_now(const struct xl_ep_ent *e,
			   const struct xl_ready *r, struct xl_ep_mark *m)
{
	struct xl_chan *ch = e->ch;

	*m = (struct xl_ep_mark){
		.in = r->in && (e->ev.events & XL_EP_IN),
		.out = r->out && (e->ev.events & XL_EP_OUT),
		.live = true,
	};
	if (!ch)
		return;
	m->live = xl_chan_peer_live(ch) && !atomic_load(&e->s->conn->broken);
	m->prod = XL_READ_ONCE(ch->rx.sh->p.prod);
	m->pstate = XL_READ_ONCE(ch->rx.sh->p.state);
	if (atomic_load(&e->s->conn->tx_ring)) {
		m->cons = XL_READ_ONCE(ch->tx.sh->c.cons);
		m->cstate = XL_READ_ONCE(ch->tx.sh->c.state);
	}
}

/* The events e has to report when the rings look like m, edges and
 * one-shot applied; changes nothing. */
static uint32_t xl_ep_due(const struct xl_ep_ent *e, const struct xl_ready *r,
			  const struct xl_ep_mark *m)
{
	const struct xl_ep_mark *l = &e->last;
	uint32_t want = e->ev.events, rev;
	bool lvl = !(want & EPOLLET) || e->owed || m->live != l->live;

	if (e->disabled)
		return 0;
	rev = e->kern_rev & (want | EPOLLERR | EPOLLHUP);
	if (!r->kern_in)
		rev &= ~XL_EP_IN;
	if (!r->kern_out)
		rev &= ~XL_EP_OUT;
	if (m->in && (lvl || !l->in || m->prod != l->prod ||
		      m->pstate != l->pstate))
		rev |= want & XL_EP_IN;
	if (m->out && (lvl || !l->out || m->cons != l->cons ||
		       m->cstate != l->cstate))
		rev |= want & XL_EP_OUT;
	return rev;
}

/* The events to report for e now; the rings as seen become the mark the
 * next edges are measured from. */
static uint32_t xl_ep_events(struct xl_ep_ent *e)
{
	struct xl_ep_mark m;
	struct xl_ready r;
	uint32_t rev;

	if (e->disabled)
		return 0;
	if (e->child)
		return xl_ep_child_events(e);
	xl_ready_get(e->s, &r);
	xl_ep_mark_now(e, &r, &m);
	rev = xl_ep_due(e, &r, &m);
	e->last = m;
	return rev;
}

/* Append the tracked sockets' events after the cnt already in out. */
static int xl_ep_collect(struct xl_ep *ep, struct epoll_event *out, int cnt,
			 int max)
{
	struct xl_ep_ent *e;
	uint32_t rev;
	int i;

	for (i = 0; i < ep->n; i++) {
		e = ep->ent[i];
		rev = xl_ep_events(e);
		if (!rev)
			continue;
		if (cnt == max) {
			e->owed = true;	/* the next call reports it */
			continue;
		}
		out[cnt].events = rev;
		out[cnt].data = e->ev.data;
		cnt++;
		e->kern_rev = 0;
		e->owed = false;
		if (e->ev.events & EPOLLONESHOT)
			e->disabled = true;
	}
	return cnt;
}

/* Remove the tag from what the program's instance returned. Returns the
 * count left; *tag tells whether it was there. */
static int xl_ep_untag(struct xl_ep *ep, struct epoll_event *ev, int n,
		       bool *tag, bool *nested)
{
	struct xl_ep_ent *e;
	int i, j = 0;

	for (i = 0; i < n; i++) {
		if (ev[i].data.u64 == xl_ep_tag) {
			*tag = true;
			continue;
		}
		e = xl_ep_nested_ent(ep, ev[i].data.u64);
		if (e) {
			e->kern_rev |= ev[i].events;
			*nested = true;
			continue;
		}
		ev[j++] = ev[i];
	}
	return j;
}

/*
 * Would a tracked socket report something now (no system call)? For an
 * edge-triggered one, only a new edge counts: one that is merely still
 * ready must not keep epoll_wait() from sleeping.
 */
static bool xl_ep_any_due(struct xl_ep *ep)
{
	struct xl_ep_mark m;
	struct xl_ep_ent *e;
	struct xl_ready r;
	int i;

	for (i = 0; i < ep->n; i++) {
		e = ep->ent[i];
		if (e->disabled || e->child)
			continue;	/* a nested one: the kernel reports it */
		xl_ready_get(e->s, &r);
		xl_ep_mark_now(e, &r, &m);
		if (xl_ep_due(e, &r, &m) & (XL_EP_IN | XL_EP_OUT))
			return true;
	}
	return false;
}

/*
 * Announce the sleep on every ring; false if one has something to report
 * after all. An edge-triggered socket asks for every kick, ready or not:
 * the next byte or the next room is an edge even while it is ready.
 */
static bool xl_ep_arm(struct xl_ep *ep)
{
	struct xl_ep_ent *e;
	bool in, out;
	int i;

	for (i = 0; i < ep->n; i++) {
		e = ep->ent[i];
		if (e->child && !e->disabled) {
			if (xl_ep_refresh(e->child, true))
				return false;
			continue;
		}
		if (e->disabled || !e->ch)
			continue;
		in = e->ev.events & XL_EP_IN;
		out = e->ev.events & XL_EP_OUT;
		if (e->ev.events & EPOLLET)
			xl_ready_want(e->s, in, out);
		else if (!xl_ready_announce(e->s, in, out))
			return false;
	}
	return !xl_ep_any_due(ep);
}

/* Where the rings a spin watches stood when it began: the producer index
 * of each ring the program reads, the consumer index of each it writes.
 * Returns how many entries have rings to watch. */
static int xl_ep_spin_mark(struct xl_ep *ep)
{
	struct xl_ep_ent *e;
	int i, n = 0;

	for (i = 0; i < ep->n; i++) {
		e = ep->ent[i];
		if (e->disabled || !e->ch)
			continue;
		n++;
		e->spin_prod = XL_READ_ONCE(e->ch->rx.sh->p.prod);
		/* our ring's shared half exists once we opened it */
		e->spin_tx = atomic_load(&e->s->conn->tx_ring);
		if (e->spin_tx)
			e->spin_cons = XL_READ_ONCE(e->ch->tx.sh->c.cons);
	}
	return n;
}

/* Has one of them moved? Two loads a socket, where a full look at its
 * readiness (xl_ep_any_due()) is a dozen and most of a busy event
 * loop's time: the caller then looks in full. */
static bool xl_ep_spin_moved(struct xl_ep *ep)
{
	struct xl_ep_ent *e;
	int i;

	for (i = 0; i < ep->n; i++) {
		e = ep->ent[i];
		if (e->disabled || !e->ch)
			continue;
		if ((e->ev.events & XL_EP_IN) &&
		    XL_READ_ONCE(e->ch->rx.sh->p.prod) != e->spin_prod)
			return true;
		if ((e->ev.events & XL_EP_OUT) && e->spin_tx &&
		    XL_READ_ONCE(e->ch->tx.sh->c.cons) != e->spin_cons)
			return true;
	}
	return false;
}

/*
 * Spin before sleeping; true when a ring moved (look again). What does
 * not move a ring (a kernel event, a peer's death) waits for the sleep,
 * which comes at most a spin later; the arming before it looks in full.
 *
 * The spin pays for itself or shrinks: one that ended in a sleep halves
 * the next budget (down to a sixteenth of XENLOOP_SPIN_NS), one that won
 * restores it whole, as a channel's own waits do (xl_chan.c). A server
 * whose clients share its CPUs (redis-benchmark's 50 clients on two
 * CPUs) otherwise burnt 50 us of their time before every sleep.
 */
static bool xl_ep_spin(struct xl_ep *ep)
{
	uint64_t end;
	unsigned int i = 0;

	if (!xl_cfg.spin_ns)
		return false;
	if (!ep->spin_cur || ep->spin_cur > xl_cfg.spin_ns)
		ep->spin_cur = xl_cfg.spin_ns;
	/* no ring (sockets still waiting for their channels, or whose peer
	 * has no library): only the kernel can wake us */
	if (!xl_ep_spin_mark(ep))
		return false;
	end = xl_now_ns() + ep->spin_cur;
	do {
		if (xl_ep_spin_moved(ep)) {
			ep->spin_cur = xl_cfg.spin_ns;
			return true;
		}
	} while (++i & 7 || xl_now_ns() < end);
	ep->spin_cur /= 2;
	if (ep->spin_cur < xl_cfg.spin_ns / 16)
		ep->spin_cur = xl_cfg.spin_ns / 16;
	return false;
}

struct xl_ep_call {
	struct xl_ep *ep;
	struct epoll_event *ev;
	int max;
	uint64_t deadline;	/* UINT64_MAX: forever */
	const sigset_t *mask;
	bool use_mask;
};

static int xl_ep_real_wait(struct xl_ep_call *c, struct epoll_event *ev,
			   int max, int timeout_ms)
{
	int ret;

	xl_lib_enter();
	if (c->use_mask)
		ret = real.epoll_pwait(c->ep->epfd, ev, max, timeout_ms, c->mask);
	else
		ret = real.epoll_wait(c->ep->epfd, ev, max, timeout_ms);
	xl_lib_leave();
	return ret < 0 ? -errno : ret;
}

/* Give back the memory of the rings that idled a whole period, once a
 * period at most. Caller holds the mutex. */
static void xl_ep_sweep(struct xl_ep *ep)
{
	uint64_t now = xl_now_ns();
	struct xl_ep_ent *e;
	bool more = false;
	int i, ret;

	if (now < atomic_load_explicit(&ep->sweep_ns, memory_order_relaxed))
		return;
	for (i = 0; i < ep->n; i++) {
		e = ep->ent[i];
		if (!e->ch || !e->s || e->deleted)
			continue;
		/* a sender at work: not idle, look again next time */
		if (!xl_conn_trylock(&e->s->conn->tx_lock)) {
			more = true;
			continue;
		}
		ret = xl_chan_tx_reclaim(e->ch, &e->reclaim);
		pthread_mutex_unlock(&e->s->conn->tx_lock);
		more |= ret == 0;
	}
	atomic_store_explicit(&ep->sweep_more, more, memory_order_relaxed);
	atomic_store_explicit(&ep->sweep_ns, now + XL_EP_SWEEP_MS * 1000000ull,
			      memory_order_relaxed);
}

static int xl_ep_left(struct xl_ep_call *c)
{
	uint64_t now, left, sweep;
	int cap = atomic_load(&c->ep->npending) ? XL_EP_PENDING_MS : -1;

	if (atomic_load_explicit(&c->ep->sweep_more, memory_order_relaxed)) {
		now = xl_now_ns();
		sweep = atomic_load_explicit(&c->ep->sweep_ns,
					     memory_order_relaxed);
		sweep = sweep > now ? (sweep - now + 999999) / 1000000 : 1;
		if (cap < 0 || sweep < (uint64_t)cap)
			cap = (int)(sweep < INT32_MAX ? sweep : INT32_MAX);
	}
	if (c->deadline == UINT64_MAX)
		return cap;
	now = xl_now_ns();
	left = now >= c->deadline ? 0 : (c->deadline - now + 999999) / 1000000;
	if (left > INT32_MAX)
		left = INT32_MAX;
	return cap >= 0 && (uint64_t)cap < left ? cap : (int)left;
}

/* What is there now: the program's kernel events after cnt, then the
 * tracked sockets'. Caller holds the mutex. */
static int xl_ep_harvest(struct xl_ep_call *c, int cnt, bool tag)
{
	bool nested = false;
	int n = 0;

	if (cnt < c->max) {
		n = xl_ep_real_wait(c, c->ev + cnt, c->max - cnt, 0);
		if (n < 0)
			return n;
		n = xl_ep_untag(c->ep, c->ev + cnt, n, &tag, &nested);
	}
	if (tag)
		xl_ep_drain(c->ep);
	return xl_ep_collect(c->ep, c->ev, cnt + n, c->max);
}

/*
 * Look without sleeping. Returns the count to report (> 0), 0 if there is
 * nothing and the caller may sleep (the rings are armed), -EAGAIN to look
 * again at once, -ETIMEDOUT when the time is up, or -errno.
 */
static int xl_ep_look(struct xl_ep_call *c, int cnt, bool tag)
{
	struct xl_ep *ep = c->ep;
	int n;

	if (atomic_load(&ep->npending))
		xl_link_poll_soon();
	pthread_mutex_lock(&ep->mutex);
	xl_ep_sync(ep);
	xl_ep_sweep(ep);
	n = xl_ep_harvest(c, cnt, tag);
	if (n == 0 && xl_ep_left(c) == 0)
		n = -ETIMEDOUT;
	else if (n == 0 && (xl_ep_spin(ep) || !xl_ep_arm(ep)))
		n = -EAGAIN;
	/* what a waiter on an instance around this one sees: readable while
	 * a level-triggered socket stays ready, as the kernel's */
	if (ep->watched && n != -EAGAIN)
		xl_ep_publish(ep, n > 0 && xl_ep_any_due(ep));
	pthread_mutex_unlock(&ep->mutex);
	return n;
}

static int xl_ep_wait(struct xl_ep *ep, struct epoll_event *ev, int max,
		      uint64_t deadline, const sigset_t *mask, bool use_mask)
{
	struct xl_ep_call c = { ep, ev, max, deadline, mask, use_mask };
	bool tag = false, nested;
	int n, cnt = 0;

	if (max <= 0 || !ev)
		return -EINVAL;
	for (;;) {
		n = xl_ep_look(&c, cnt, tag);
		if (n == -EAGAIN) {
			cnt = 0;
			tag = false;
			continue;
		}
		if (n != 0)
			return n == -ETIMEDOUT ? 0 : n;
		n = xl_ep_real_wait(&c, ev, max, xl_ep_left(&c));
		if (n < 0)
			return n;
		tag = nested = false;
		pthread_mutex_lock(&ep->mutex);
		cnt = xl_ep_untag(ep, ev, n, &tag, &nested);
		pthread_mutex_unlock(&ep->mutex);
		/* without the tag nothing of ours happened */
		if (cnt && !tag && !nested)
			return cnt;
	}
}

static int xl_ep_dispatch(int epfd, struct epoll_event *ev, int max,
			  uint64_t deadline, const sigset_t *mask,
			  bool use_mask, bool *handled)
{
	struct xl_ep *ep;
	int ret;

	*handled = false;
	xl_init();
	if (xl_letgo_owing() && !xl_in_lib) {
		ret = xl_letgo_epoll(epfd, ev, max, handled);
		if (*handled)
			return ret;
	}
	if (xl_bypass() || !atomic_load_explicit(
			(_Atomic(struct xl_ep *) *)&xl_ep_list,
			memory_order_relaxed))
		return 0;
	ep = xl_ep_lookup(epfd);
	if (!ep)
		return 0;
	*handled = true;
	ret = xl_ep_wait(ep, ev, max, deadline, mask, use_mask);
	xl_ep_put(ep);
	return ret;
}

static uint64_t xl_ep_deadline_ms(int timeout)
{
	return timeout < 0 ? UINT64_MAX :
	       xl_now_ns() + (uint64_t)timeout * 1000000;
}

XL_EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max,
			 int timeout)
{
	int saved = errno, ret;
	bool handled;

	ret = xl_ep_dispatch(epfd, ev, max, xl_ep_deadline_ms(timeout), NULL,
			     false, &handled);
	if (!handled)
		return real.epoll_wait(epfd, ev, max, timeout);
	return (int)xl_ret(ret, saved);
}

XL_EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max,
			  int timeout, const sigset_t *mask)
{
	int saved = errno, ret;
	bool handled;

	ret = xl_ep_dispatch(epfd, ev, max, xl_ep_deadline_ms(timeout), mask,
			     true, &handled);
	if (!handled)
		return real.epoll_pwait(epfd, ev, max, timeout, mask);
	return (int)xl_ret(ret, saved);
}

XL_EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max,
			   const struct timespec *ts, const sigset_t *mask)
{
	uint64_t deadline = UINT64_MAX;
	int saved = errno, ret;
	bool handled;

	if (ts)
		deadline = xl_now_ns() + (uint64_t)ts->tv_sec * 1000000000ull +
			   (uint64_t)ts->tv_nsec;
	ret = xl_ep_dispatch(epfd, ev, max, deadline, mask, true, &handled);
	if (!handled) {
		if (!real.epoll_pwait2)
			return (int)xl_ret(-ENOSYS, saved);
		return real.epoll_pwait2(epfd, ev, max, ts, mask);
	}
	return (int)xl_ret(ret, saved);
}

/* The program's registration of e, back in the kernel's instance: a
 * one-shot one that fired stays registered, quiet (the kernel's would
 * still report an error or a hang-up). Caller holds ep's mutex. */
static void xl_ep_give_back(struct xl_ep *ep, struct xl_ep_ent *e)
{
	struct epoll_event ev = e->ev;

	if (e->disabled)
		ev.events &= EPOLLONESHOT | EPOLLET;
	if (e->child) {
		/* it sat there under our tag, without its own flags */
		real.epoll_ctl(ep->epfd, EPOLL_CTL_DEL, e->fd, &ev);
		real.epoll_ctl(ep->epfd, EPOLL_CTL_ADD, e->fd, &ev);
		return;
	}
	if (e->in_inner)
		xl_ep_inner_del(ep, e->fd);
	e->in_inner = false;
	xl_ep_drop_chan_fds(ep, e);
	real.epoll_ctl(ep->epfd, EPOLL_CTL_ADD, e->fd, &ev);
	xl_letgo_note_ep(ep->epfd, e->fd, &e->ev);
}

void xl_epoll_let_go(void)
{
	struct xl_ep *ep, *next;
	struct epoll_event none = { 0 };
	int i;

	pthread_mutex_lock(&xl_ep_list_mutex);
	ep = xl_ep_list;
	xl_ep_list = NULL;
	pthread_mutex_unlock(&xl_ep_list_mutex);
	for (; ep; ep = next) {
		next = ep->next;
		pthread_mutex_lock(&ep->mutex);
		for (i = 0; i < ep->n; i++) {
			if (!ep->ent[i]->deleted)
				xl_ep_give_back(ep, ep->ent[i]);
		}
		real.epoll_ctl(ep->epfd, EPOLL_CTL_DEL, ep->inner, &none);
		xl_ep_mark(ep->epfd, XL_EP_HAS_REG, false);
		pthread_mutex_unlock(&ep->mutex);
		xl_ep_put(ep);	/* the list's reference */
	}
}

void xl_epoll_atfork_child(void)
{
	struct xl_ep *ep;

	pthread_mutex_init(&xl_ep_list_mutex, NULL);
	for (ep = xl_ep_list; ep; ep = ep->next)
		pthread_mutex_init(&ep->mutex, NULL);
}
