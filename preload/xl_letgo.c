/* SPDX-License-Identifier: MIT */
/*
 * The library lets go of the process: a program about to sandbox itself
 * with seccomp (prctl(PR_SET_SECCOMP), the seccomp() system call) allows
 * from then on only the system calls it makes itself, and any other the
 * library made for it (sendmsg where it called write, an eventfd, the
 * daemon's socket) would kill it with SIGSYS. So, before the filter is
 * in place, while every call is still allowed:
 *
 *   - every connection on a ring leaves it for good at exact offsets
 *     (xl_stream_let_go(): protocol.md §5.1, counted as "exec" like the
 *     other one-sided leave); the peer sends by TCP what we did not read;
 *   - every epoll instance that held tracked sockets gets them back as
 *     the program registered them (xl_epoll_let_go());
 *   - the link to the daemon closes (its registrations end there);
 *   - from then on every hook passes straight to libc (xl_cfg.disabled),
 *     as with XENLOOP_DISABLE=1.
 *
 * One case needs the library after that: a peer that ended its ring
 * before it saw our BACK (it closed, or left for urgent data) sends no
 * byte again, and the ring held bytes the program had not read yet. They
 * were read into a buffer (struct xl_owed); the program's next reads of
 * that socket get them first, then the kernel's, and poll() and
 * epoll_wait() report it readable meanwhile. Copying from memory makes
 * no system call.
 *
 * Threads that are inside a call of the library at that moment (asleep on
 * a ring) finish it in the library; a program that sandboxes itself does
 * so from one thread, early, as sshd and libseccomp's users do.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "xl_daemon_link.h"
#include "xl_epoll.h"
#include "xl_fdtable.h"
#include "xl_letgo.h"
#include "xl_preload.h"
#include "xl_sock.h"

/* What one socket owes its program, shared by its fds. */
struct xl_debt {
	struct xl_sock *s;
	struct xl_owed owed;
	size_t off;			/* bytes of owed.buf already read */
};

struct xl_owing {
	int fd;
	struct xl_debt *d;
	/* the epoll instances fd was in, with the program's registration
	 * (xl_epoll_let_go()) */
	struct { int epfd; struct epoll_event ev; } *eps;
	int neps;
};

static pthread_mutex_t xl_owing_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct xl_owing *xl_owing;
static int xl_nowing;
/* fds still owed something: the hooks' fast test */
_Atomic int xl_letgo_owing_n;
static _Atomic bool xl_let_gone;

static struct xl_owing *xl_owing_find(int fd)
{
	int i;

	for (i = 0; i < xl_nowing; i++) {
		if (xl_owing[i].fd == fd)
			return &xl_owing[i];
	}
	return NULL;
}

static struct xl_debt *xl_debt_of(const struct xl_sock *s)
{
	int i;

	for (i = 0; i < xl_nowing; i++) {
		if (xl_owing[i].d->s == s)
			return xl_owing[i].d;
	}
	return NULL;
}

static bool xl_debt_left(const struct xl_debt *d)
{
	return d->off < d->owed.len || d->owed.err;
}

/* fd is owed nothing more (caller holds the mutex). Nothing is freed:
 * free() may give memory back to the kernel (munmap, brk), a call the
 * program's filter need not allow; a ring's worth stays allocated. */
static void xl_owing_done(struct xl_owing *o)
{
	*o = xl_owing[--xl_nowing];
	atomic_fetch_sub(&xl_letgo_owing_n, 1);
}

/* Every fd of d, once its bytes are read: owed nothing more. */
static void xl_debt_paid(struct xl_debt *d)
{
	int i;

	for (i = 0; i < xl_nowing; i++) {
		if (xl_owing[i].d == d)
			xl_owing_done(&xl_owing[i--]);
	}
}

/* fd is owed d (caller holds the mutex); false if no memory. */
static bool xl_owing_add(int fd, struct xl_debt *d)
{
	struct xl_owing *o;

	o = realloc(xl_owing, (size_t)(xl_nowing + 1) * sizeof(*o));
	if (!o)
		return false;
	xl_owing = o;
	o = &xl_owing[xl_nowing++];
	memset(o, 0, sizeof(*o));
	o->fd = fd;
	o->d = d;
	atomic_fetch_add(&xl_letgo_owing_n, 1);
	return true;
}

static void xl_letgo_reset(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	real.setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	real.shutdown(fd, SHUT_RDWR);
}

void xl_letgo_note_ep(int epfd, int fd, const struct epoll_event *ev)
{
	struct xl_owing *o;
	void *n;

	pthread_mutex_lock(&xl_owing_mutex);
	o = xl_owing_find(fd);
	if (o) {
		n = realloc(o->eps, (size_t)(o->neps + 1) * sizeof(*o->eps));
		if (n) {
			o->eps = n;
			o->eps[o->neps].epfd = epfd;
			o->eps[o->neps].ev = *ev;
			o->neps++;
		}
	}
	pthread_mutex_unlock(&xl_owing_mutex);
}

/* fd of s leaves its ring; what the ring held for the program is kept
 * for it (caller holds the mutex). */
static void xl_letgo_one(int fd, struct xl_sock *s)
{
	struct xl_debt *d = xl_debt_of(s);
	struct xl_owed owed;

	if (d) {		/* another fd of a socket done already */
		if (!xl_owing_add(fd, d))
			xl_letgo_reset(fd);
		return;
	}
	if (xl_stream_let_go(s, fd, &owed) < 0) {
		/* the stream cannot stay whole: a reset, as the kernel
		 * gives for a connection that broke */
		XL_WARN("fd %d: the connection could not leave its ring whole "
			"before the seccomp filter; resetting it", fd);
		free(owed.buf);
		xl_letgo_reset(fd);
		return;
	}
	if (!owed.len && !owed.err)
		return;
	d = calloc(1, sizeof(*d));
	if (!d || !xl_owing_add(fd, d)) {
		free(d);
		free(owed.buf);
		xl_letgo_reset(fd);
		return;
	}
	d->s = s;
	d->owed = owed;
}

/* Every tracked socket of the process leaves its ring. */
static void xl_letgo_sockets(void)
{
	struct xl_sock *s;
	int fd = 0;

	while ((fd = xl_fd_next_of_interest(fd, XL_FD_MAX - 1)) >= 0) {
		s = xl_fd_peek(fd);
		if (s && !xl_fd_is_internal(fd) && xl_sock_tryget(s)) {
			xl_letgo_one(fd, s);
			if (atomic_load(&s->state) == XL_SOCK_CHAN)
				xl_link_counts(s, XL_CTL_STATS,
					       XL_REASON_NONE);
			xl_sock_put(s);
		}
		fd++;
	}
}

void xl_let_go(const char *why)
{
	bool expect = false;

	xl_init();
	if (xl_in_lib || xl_cfg.disabled ||
	    !atomic_compare_exchange_strong(&xl_let_gone, &expect, true))
		return;
	XL_INFO("%s: the program sandboxes itself; its connections leave "
		"their rings and the library steps aside", why);
	xl_lib_enter();
	pthread_mutex_lock(&xl_owing_mutex);
	xl_letgo_sockets();
	pthread_mutex_unlock(&xl_owing_mutex);
	xl_epoll_let_go();
	xl_link_let_go();
	xl_lib_leave();
	/* every hook passes from now on */
	xl_cfg.disabled = true;
}

/* ---- what is owed, as the calls that read take it ---- */

ssize_t xl_letgo_read(int fd, struct msghdr *m, int flags, bool *served)
{
	struct xl_owing *o;
	struct xl_debt *d;
	size_t i, n, done = 0;
	int err;

	*served = false;
	pthread_mutex_lock(&xl_owing_mutex);
	o = xl_owing_find(fd);
	if (!o || (flags & (MSG_OOB | MSG_ERRQUEUE))) {
		pthread_mutex_unlock(&xl_owing_mutex);
		return 0;
	}
	*served = true;
	d = o->d;
	if (d->off == d->owed.len) {
		/* the bytes are read: the kernel's error, once */
		err = d->owed.err;
		if (!(flags & MSG_PEEK) || !err)
			xl_debt_paid(d);
		*served = err != 0;
		pthread_mutex_unlock(&xl_owing_mutex);
		return -err;
	}
	for (i = 0; i < m->msg_iovlen && d->off + done < d->owed.len; i++) {
		n = d->owed.len - d->off - done;
		if (n > m->msg_iov[i].iov_len)
			n = m->msg_iov[i].iov_len;
		if (!(flags & MSG_TRUNC) || m->msg_iov[i].iov_base)
			memcpy(m->msg_iov[i].iov_base,
			       d->owed.buf + d->off + done, n);
		done += n;
	}
	if (!(flags & MSG_PEEK)) {
		d->off += done;
		if (!xl_debt_left(d))
			xl_debt_paid(d);
	}
	pthread_mutex_unlock(&xl_owing_mutex);
	m->msg_controllen = 0;
	m->msg_flags = 0;
	return (ssize_t)done;
}

bool xl_letgo_owes(int fd)
{
	bool ret;

	pthread_mutex_lock(&xl_owing_mutex);
	ret = xl_owing_find(fd) != NULL;
	pthread_mutex_unlock(&xl_owing_mutex);
	return ret;
}

void xl_letgo_closed(int fd)
{
	struct xl_owing *o;

	pthread_mutex_lock(&xl_owing_mutex);
	o = xl_owing_find(fd);
	if (o)
		xl_owing_done(o);
	pthread_mutex_unlock(&xl_owing_mutex);
}

int xl_letgo_poll(struct pollfd *fds, nfds_t n, bool *handled)
{
	nfds_t i;
	int ret, owed = 0;

	for (i = 0; i < n; i++)
		owed += (fds[i].events & (POLLIN | POLLRDNORM)) &&
			fds[i].fd >= 0 && xl_letgo_owes(fds[i].fd);
	*handled = owed != 0;
	if (!owed)
		return 0;
	ret = real.poll(fds, n, 0);	/* something is ready already */
	if (ret < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		if (!(fds[i].events & (POLLIN | POLLRDNORM)) ||
		    fds[i].fd < 0 || !xl_letgo_owes(fds[i].fd))
			continue;
		ret += !fds[i].revents;
		fds[i].revents |= fds[i].events & (POLLIN | POLLRDNORM);
	}
	return ret;
}

int xl_letgo_epoll(int epfd, struct epoll_event *ev, int max, bool *handled)
{
	struct epoll_event extra[64];
	int i, j, k, n = 0, ret;

	*handled = false;
	pthread_mutex_lock(&xl_owing_mutex);
	for (i = 0; i < xl_nowing && n < 64; i++) {
		for (j = 0; j < xl_owing[i].neps && n < 64; j++) {
			if (xl_owing[i].eps[j].epfd == epfd &&
			    (xl_owing[i].eps[j].ev.events & EPOLLIN))
				extra[n++] = xl_owing[i].eps[j].ev;
		}
	}
	pthread_mutex_unlock(&xl_owing_mutex);
	if (!n)
		return 0;
	*handled = true;
	ret = real.epoll_wait(epfd, ev, max, 0);	/* something is ready */
	if (ret < 0)
		return -errno;
	for (i = 0; i < n && ret < max; i++) {
		for (k = 0; k < ret; k++) {
			if (ev[k].data.u64 == extra[i].data.u64)
				break;
		}
		if (k < ret) {
			ev[k].events |= EPOLLIN;
			continue;
		}
		ev[ret].events = EPOLLIN;
		ev[ret++].data = extra[i].data;
	}
	return ret;
}
