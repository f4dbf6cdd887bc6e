/* SPDX-License-Identifier: MIT */
/*
 * Life cycle of a tracked socket: adoption after connect()/accept(),
 * registration, channel attachment, the fds that name it, and its end.
 *
 * How this works
 *
 * A struct xl_sock is found through the fd table without a lock, so it may
 * be looked at by a thread while another frees it. The memory is therefore
 * never returned to malloc: freed states go on a free list and are reused
 * as states again (type-stable memory). A lookup takes a reference only
 * while the count is not zero, then checks that the fd still names the
 * same state; either check failing means "not ours any more".
 *
 * References: one per fd table entry (dup() makes several) and one per
 * call in progress. The application's last close() is the end of the
 * connection for the peer (ring end of stream, CLOSE to the daemon, FIN by
 * the real close); the memory goes when the last call in progress returns.
 * A call in progress may still use the fd number it was given, so when
 * another thread closes a socket under it, the number is kept busy with a
 * placeholder until that call returns, and the program cannot be handed
 * the same number for something else in between.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xl_daemon_link.h"
#include "xl_epoll.h"
#include "xl_fdtable.h"
#include "xl_preload.h"
#include "xl_sock.h"

/* A deferred registration waits for this many data calls too. */
#define XL_REGISTER_CALLS	8u
/* ... unless the stream has moved this much already, or made this many
 * calls: a bulk transfer (a download, a copy) or a busy conversation (a
 * benchmark's round trips) is no short request and reply, and every byte
 * it sends before its channel comes goes by TCP. */
#define XL_REGISTER_BYTES	(64u * 1024)
#define XL_REGISTER_BUSY_CALLS	32u
/* STATS at most this often per socket (protocol §6). */
#define XL_STATS_PERIOD_NS	1000000000ull
/* Look at the clock only every so many calls. */
#define XL_STATS_EVERY		64u

static pthread_mutex_t xl_sock_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct xl_sock *xl_sock_all;
static struct xl_sock *xl_sock_free;
static int xl_sock_placeholder = -1;

static int xl_conn_lock_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t a;
	int ret;

	pthread_mutexattr_init(&a);
	ret = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (ret == 0)
		ret = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (ret == 0)
		ret = pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return ret;
}

/*
 * Stream states this process let go of and no other process can reach:
 * kept mapped for the next socket, because an mmap() and a munmap() per
 * connection are most of what tracking a short connection costs. A state
 * another process may still hold (one that was ever shared by fork())
 * is never put here; and a child empties the cache it inherited, whose
 * mappings are its parent's too. Under xl_sock_mutex.
 */
#define XL_CONN_CACHE	64
static struct xl_conn *xl_conn_cache[XL_CONN_CACHE];
static unsigned int xl_conn_ncache;

/* A stream state held by this process alone, or NULL (the socket is then
 * not tracked: it stays the kernel's). */
static struct xl_conn *xl_conn_new(void)
{
	struct xl_conn *c = NULL;

	pthread_mutex_lock(&xl_sock_mutex);
	if (xl_conn_ncache)
		c = xl_conn_cache[--xl_conn_ncache];
	pthread_mutex_unlock(&xl_sock_mutex);
	if (!c) {
		c = mmap(NULL, sizeof(*c), PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (c == MAP_FAILED)
			return NULL;
	} else {
		memset(c, 0, sizeof(*c));
	}
	if (xl_conn_lock_init(&c->rx_lock) || xl_conn_lock_init(&c->tx_lock)) {
		munmap(c, sizeof(*c));
		return NULL;
	}
	atomic_store(&c->procs, 1);
	atomic_store(&c->tx_before, UINT64_MAX);
	atomic_store(&c->rx_before, UINT64_MAX);
	return c;
}

/* The socket's stream state is let go of; caller holds xl_sock_mutex. */
static void xl_conn_release(struct xl_sock *s)
{
	struct xl_conn *c = s->conn;

	s->conn = NULL;
	if (!c)
		return;
	if (!s->shared && xl_conn_ncache < XL_CONN_CACHE) {
		xl_conn_cache[xl_conn_ncache++] = c;
		return;
	}
	munmap(c, sizeof(*c));
}

/* A process died in a send or receive: what it had published is the
 * stream; what it had only copied out is lost with it, as bytes the
 * kernel gave a process that died are. Returns 0 if m is ours now. */
static int xl_conn_take(pthread_mutex_t *m, int ret)
{
	if (ret == EOWNERDEAD) {
		pthread_mutex_consistent(m);
		return 0;
	}
	return ret;
}

void xl_conn_lock(pthread_mutex_t *m)
{
	xl_conn_take(m, pthread_mutex_lock(m));
}

bool xl_conn_trylock(pthread_mutex_t *m)
{
	return xl_conn_take(m, pthread_mutex_trylock(m)) == 0;
}

struct xl_sock *xl_sock_new(void)
{
	struct xl_sock *s;

	pthread_mutex_lock(&xl_sock_mutex);
	s = xl_sock_free;
	if (s)
		xl_sock_free = s->free_next;
	pthread_mutex_unlock(&xl_sock_mutex);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
	}
	/* a stale lookup may touch refcnt (only): keep it at 0 till done */
	memset((char *)s + sizeof(s->refcnt), 0,
	       sizeof(*s) - sizeof(s->refcnt));
	s->conn = xl_conn_new();
	if (!s->conn) {
		pthread_mutex_lock(&xl_sock_mutex);
		s->free_next = xl_sock_free;
		xl_sock_free = s;
		pthread_mutex_unlock(&xl_sock_mutex);
		return NULL;
	}
	pthread_mutex_lock(&xl_sock_mutex);
	s->all_next = xl_sock_all;
	if (xl_sock_all)
		xl_sock_all->all_prev = s;
	xl_sock_all = s;
	pthread_mutex_unlock(&xl_sock_mutex);
	/* the fields /before/ anyone can take a reference */
	atomic_store_explicit(&s->refcnt, 1, memory_order_release);
	return s;
}

bool xl_sock_tryget(struct xl_sock *s)
{
	int r = atomic_load_explicit(&s->refcnt, memory_order_relaxed);

	do {
		if (r <= 0)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&s->refcnt, &r, r + 1,
							memory_order_acquire,
							memory_order_relaxed));
	return true;
}

struct xl_sock *xl_sock_get(int fd)
{
	struct xl_sock *s = xl_fd_peek(fd);
	int st;

	if (!s)
		return NULL;
	st = atomic_load_explicit(&s->state, memory_order_relaxed);
	if (st == XL_SOCK_PLAIN)
		return NULL;
	if (!xl_sock_tryget(s))
		return NULL;
	if (xl_fd_peek(fd) != s) {
		xl_sock_put(s);
		return NULL;
	}
	if (st == XL_SOCK_CLAIM)
		xl_sock_try_claim(s, fd);
	return s;
}

void xl_sock_try_claim(struct xl_sock *s, int fd)
{
	if (atomic_load(&s->conn->procs) != 1 || xl_in_lib)
		return;
	/* one claim per socket, whichever thread gets here first */
	if (atomic_exchange(&s->claimed, true))
		return;
	if (xl_link_claim(s, fd) < 0)
		xl_sock_make_plain(s);
}

/* Close the fd numbers held for calls that were in progress. */
static void xl_sock_close_zombies(struct xl_sock *s)
{
	int i;

	pthread_mutex_lock(&xl_sock_mutex);
	for (i = 0; i < s->nzombie; i++) {
		xl_fd_internal_del(s->zombie[i]);
		real.close(s->zombie[i]);
	}
	s->nzombie = 0;
	pthread_mutex_unlock(&xl_sock_mutex);
}

static void xl_sock_free_mem(struct xl_sock *s)
{
	pthread_mutex_lock(&xl_sock_mutex);
	if (s->all_prev)
		s->all_prev->all_next = s->all_next;
	else
		xl_sock_all = s->all_next;
	if (s->all_next)
		s->all_next->all_prev = s->all_prev;
	s->free_next = xl_sock_free;
	xl_sock_free = s;
	/* off the list that fork() walks; other processes may hold the
	 * locks' memory: not destroyed */
	xl_conn_release(s);
	pthread_mutex_unlock(&xl_sock_mutex);
}

void xl_sock_put(struct xl_sock *s)
{
	if (atomic_fetch_sub_explicit(&s->refcnt, 1, memory_order_acq_rel) != 1)
		return;
	xl_lib_enter();
	xl_link_unpend(s);
	xl_stream_finish(s);
	xl_sock_close_zombies(s);
	xl_lib_leave();
	xl_sock_free_mem(s);
}

int xl_sock_add_fd(int fd, struct xl_sock *s)
{
	struct xl_sock *old;
	int ret;

	atomic_fetch_add(&s->refcnt, 1);
	atomic_fetch_add(&s->nfds, 1);
	ret = xl_fd_set(fd, s, &old);
	if (ret < 0) {
		atomic_fetch_sub(&s->nfds, 1);
		xl_sock_put(s);
		return ret;
	}
	if (old) {
		/* the number was reused behind our back (a close we did not
		 * see): that socket is gone for the program */
		atomic_fetch_sub(&old->nfds, 1);
		xl_sock_put(old);
	}
	return 0;
}

/* A descriptor that any call on it fails or returns at once. */
static int xl_sock_placeholder_fd(void)
{
	int pair[2];

	if (xl_sock_placeholder >= 0)
		return xl_sock_placeholder;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
		return -1;
	real.close(pair[1]);
	/* out of the program's numbers where it can be (xl_fd_keep()) */
	xl_sock_placeholder = xl_fd_keep(pair[0]);
	if (xl_sock_placeholder >= 0) {
		real.close(pair[0]);
		return xl_sock_placeholder;
	}
	xl_sock_placeholder = pair[0];
	xl_fd_internal_add(pair[0]);
	return pair[0];
}

/* fd is closed while calls on it are in progress: keep the number busy. */
static int xl_sock_close_busy(struct xl_sock *s, int fd)
{
	int ph;

	pthread_mutex_lock(&xl_sock_mutex);
	ph = xl_sock_placeholder_fd();
	if (ph < 0 || s->nzombie == XL_SOCK_ZOMBIES ||
	    real.dup3(ph, fd, O_CLOEXEC) < 0) {
		pthread_mutex_unlock(&xl_sock_mutex);
		return real.close(fd) < 0 ? -errno : 0;
	}
	s->zombie[s->nzombie++] = fd;
	xl_fd_internal_add(fd);
	pthread_mutex_unlock(&xl_sock_mutex);
	return 0;
}

static void xl_sock_unzombie(struct xl_sock *s, void *arg)
{
	int fd = *(int *)arg, i;

	for (i = 0; i < s->nzombie; i++) {
		if (s->zombie[i] == fd) {
			s->zombie[i] = s->zombie[--s->nzombie];
			return;
		}
	}
}

void xl_sock_claim_fd(int fd)
{
	pthread_mutex_lock(&xl_sock_mutex);
	if (fd == xl_sock_placeholder)
		xl_sock_placeholder = -1;
	else
		xl_sock_foreach(xl_sock_unzombie, &fd);
	xl_fd_internal_del(fd);
	pthread_mutex_unlock(&xl_sock_mutex);
}

void xl_sock_evacuate_fd(int fd)
{
	struct xl_sock *s, *list = NULL, *next;

	/* references under the lock, moves after: a move reaches the epoll
	 * code, whose locks come before this one */
	pthread_mutex_lock(&xl_sock_mutex);
	for (s = xl_sock_all; s; s = s->all_next) {
		if (!atomic_load(&s->chan) || !xl_sock_tryget(s))
			continue;
		s->evac_next = list;
		list = s;
	}
	pthread_mutex_unlock(&xl_sock_mutex);
	for (s = list; s; s = next) {
		struct xl_chan *ch[3] = { atomic_load(&s->chan), s->retired,
					  atomic_load(&s->next_chan) };
		int i;

		next = s->evac_next;
		xl_lib_enter();
		for (i = 0; i < 3; i++)
			if (ch[i])
				xl_chan_move_fd(ch[i], fd);
		xl_lib_leave();
		xl_sock_put(s);
	}
}

/* The last close of a socket whose ring holds bytes the program never
 * read: the kernel resets such a connection instead of ending it (RFC
 * 2525), and it sees none of those bytes, so tell it to. */
static void xl_sock_reset_if_unread(struct xl_sock *s, int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (xl_stream_unread(s))
		real.setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

int xl_sock_close_fd(int fd)
{
	struct xl_sock *s = xl_fd_clear(fd, NULL);
	int ret, busy;

	if (!s)
		return real.close(fd) < 0 ? -errno : 0;
	xl_epoll_forget_fd(fd);
	if (atomic_fetch_sub(&s->nfds, 1) == 1) {
		atomic_store(&s->closed, true);
		xl_sock_reset_if_unread(s, fd);
		/* the last holder of a socket shared by fork() ends its
		 * registration: claimed (the fd is the proof), then closed
		 * with its counts at the put */
		if (atomic_load(&s->state) == XL_SOCK_CLAIM &&
		    atomic_load(&s->conn->procs) == 1 &&
		    !atomic_exchange(&s->claimed, true) &&
		    xl_link_claim(s, fd) < 0)
			xl_sock_make_plain(s);
	}
	/* references that are calls in progress */
	busy = atomic_load(&s->refcnt) - 1 - atomic_load(&s->nfds) -
	       atomic_load(&s->nep);
	if (busy > 0) {
		ret = xl_sock_close_busy(s, fd);
		xl_sock_put(s);
		return ret;
	}
	/* the last close ends the ring (here and in the put) before the
	 * kernel's FIN (in the real close) */
	if (atomic_load(&s->closed))
		xl_stream_close(s, fd);
	xl_sock_put(s);
	return real.close(fd) < 0 ? -errno : 0;
}

void xl_sock_replaced_fd(int fd)
{
	struct xl_sock *s = xl_fd_clear(fd, NULL);

	if (!s)
		return;
	xl_epoll_forget_fd(fd);
	if (atomic_fetch_sub(&s->nfds, 1) == 1)
		atomic_store(&s->closed, true);
	xl_sock_put(s);
}

void xl_sock_make_plain(struct xl_sock *s)
{
	atomic_store(&s->state, XL_SOCK_PLAIN);
}

void xl_sock_attach(struct xl_sock *s, struct xl_chan *ch)
{
	/* the channel /before/ the state that says it is there */
	atomic_store_explicit(&s->chan, ch, memory_order_release);
	atomic_store_explicit(&s->state, XL_SOCK_CHAN, memory_order_release);
	xl_epoll_sock_changed(s);
}

void xl_sock_counts(struct xl_sock *s, struct xl_ctl_counts *c)
{
	c->ring_tx = atomic_load_explicit(&s->conn->ring_tx, memory_order_relaxed);
	c->ring_rx = atomic_load_explicit(&s->conn->ring_rx, memory_order_relaxed);
	c->tcp_tx = atomic_load_explicit(&s->conn->tcp_tx, memory_order_relaxed);
	c->tcp_rx = atomic_load_explicit(&s->conn->tcp_rx, memory_order_relaxed);
}

void xl_sock_counts_msg(struct xl_sock *s, struct xl_ctl_msg *msg)
{
	uint64_t tx = atomic_load(&s->conn->tx_before);
	uint64_t rx = atomic_load(&s->conn->rx_before);

	xl_sock_counts(s, &msg->counts);
	msg->tcp_before[0] = tx == UINT64_MAX ? msg->counts.tcp_tx : tx;
	msg->tcp_before[1] = rx == UINT64_MAX ? msg->counts.tcp_rx : rx;
}

void xl_sock_tick(struct xl_sock *s)
{
	uint32_t n = atomic_fetch_add_explicit(&s->ops, 1,
					       memory_order_relaxed);
	uint64_t now, next;

	/* a daemon that died and was started again learns of a connection
	 * that has its channel at its next call, idle or not (only one this
	 * process holds alone: after a fork() which holder speaks for it is
	 * not clear); two loads while the daemon knows it */
	if (atomic_load(&s->state) == XL_SOCK_CHAN && !xl_link_knows(s) &&
	    atomic_load(&s->conn->procs) == 1 && xl_link_usable())
		xl_link_adopt(s);
	if (n % XL_STATS_EVERY)
		return;
	now = xl_now_ns();
	next = atomic_load_explicit(&s->next_stats_ns, memory_order_relaxed);
	if (now < next || !atomic_compare_exchange_strong(&s->next_stats_ns,
				&next, now + XL_STATS_PERIOD_NS))
		return;
	if (next)
		xl_link_counts(s, XL_CTL_STATS, XL_REASON_NONE);
	/* the daemon's words for connections that have their channel
	 * (DROP) are read here, once a second at most */
	xl_link_poll();
}

/*
 * The program ends with sockets still open: the kernel closes them after
 * us. One with ring bytes it never read must reset, as the kernel does a
 * socket closed with unread bytes (RFC 2525): the kernel does not see
 * those bytes, so tell it (see xl_sock_close_fd()).
 */
void xl_sock_exit_unread(void)
{
	struct xl_sock *s;
	int fd = 0;

	while ((fd = xl_fd_next_of_interest(fd, INT_MAX)) >= 0) {
		s = xl_fd_peek(fd);
		if (s && xl_sock_tryget(s)) {
			if (atomic_load(&s->state) == XL_SOCK_CHAN)
				xl_sock_reset_if_unread(s, fd);
			xl_sock_put(s);
		}
		fd++;
	}
}

void xl_sock_exit_counts(void)
{
	struct xl_sock *s, *list = NULL, *next;
	int st;

	xl_link_exit_start();
	/* references under the lock, messages after: never both locks */
	pthread_mutex_lock(&xl_sock_mutex);
	for (s = xl_sock_all; s; s = s->all_next) {
		/* a socket still waiting for its channel has a
		 * registration, and its bytes went through the kernel */
		st = atomic_load(&s->state);
		if ((st != XL_SOCK_CHAN && st != XL_SOCK_PENDING) ||
		    !xl_sock_tryget(s))
			continue;
		s->exit_next = list;
		list = s;
	}
	pthread_mutex_unlock(&xl_sock_mutex);
	for (s = list; s; s = next) {
		next = s->exit_next;
		xl_link_counts(s, XL_CTL_STATS, XL_REASON_NONE);
		xl_sock_put(s);
	}
	xl_link_exit_flush();
}

/* ---- adoption ---- */

static int xl_sock_addr(struct xl_ctl_addr *a, const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *in4 = (const void *)ss;
	const struct sockaddr_in6 *in6 = (const void *)ss;

	memset(a, 0, sizeof(*a));
	a->family = ss->ss_family;
	if (ss->ss_family == AF_INET) {
		a->port = ntohs(in4->sin_port);
		memcpy(a->addr, &in4->sin_addr, 4);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		a->port = ntohs(in6->sin6_port);
		a->scope_id = in6->sin6_scope_id;
		memcpy(a->addr, &in6->sin6_addr, 16);
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* Both ends of a connected socket; -ENOTCONN while connecting. */
static int xl_sock_tuple(int fd, struct xl_sock *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int ret;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	ret = xl_sock_addr(&s->remote, &ss);
	if (ret < 0)
		return ret;
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	return xl_sock_addr(&s->local, &ss);
}

static int xl_sock_timeo_ms(int fd, int opt)
{
	struct timeval tv;
	socklen_t len = sizeof(tv);
	uint64_t ms;

	if (real.getsockopt(fd, SOL_SOCKET, opt, &tv, &len) < 0)
		return 0;
	ms = (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

int xl_sock_rcvlowat(int fd)
{
	socklen_t len = sizeof(int);
	int v = 0;

	if (real.getsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v, &len) < 0)
		return 0;
	return v;
}

/* Is fd a TCP socket? (AF_INET/AF_INET6: xl_sock_tuple() checks.) A
 * socket accept() returned is a stream socket; a connected one may be raw
 * with protocol IPPROTO_TCP. */
static bool xl_sock_is_tcp(int fd, bool accepted)
{
	int v;
	socklen_t len = sizeof(v);

	if (!accepted &&
	    (real.getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 ||
	     v != SOCK_STREAM))
		return false;
	len = sizeof(v);
	return real.getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &len) == 0 &&
	       v == IPPROTO_TCP;
}

/*
 * A connected socket is PENDING from now on (its bytes counted by the
 * data path, so that it can move onto a ring at an exact offset later);
 * its registration goes to the daemon now, or, with a registration delay,
 * at its first data call once it is that old: a connection that ends
 * sooner (a short request and reply) never costs the daemon a channel,
 * nor the two ends a message. On failure it becomes PLAIN.
 */
/* What the registration says and the data path needs to know: both
 * ends, the socket's timeouts and O_NONBLOCK. Returns 0 or -errno. */
static int xl_sock_describe(struct xl_sock *s, int fd)
{
	int ret = xl_sock_tuple(fd, s), fl;

	if (ret < 0)
		return ret;
	/* a connect()ed socket's flag was not read before (fcntl() and
	 * ioctl(FIONBIO) keep it since) */
	fl = real.fcntl(fd, F_GETFL);
	if (fl >= 0)
		atomic_store(&s->nonblock, (fl & O_NONBLOCK) != 0);
	atomic_store(&s->rcvtimeo_ms, xl_sock_timeo_ms(fd, SO_RCVTIMEO));
	atomic_store(&s->sndtimeo_ms, xl_sock_timeo_ms(fd, SO_SNDTIMEO));
	atomic_store(&s->rcvlowat, xl_sock_rcvlowat(fd));
	return 0;
}

static void xl_sock_register(struct xl_sock *s, int fd)
{
	int ret;

	if (xl_cfg.register_delay_ns) {
		/* described when it registers: a short connection never is */
		s->reg_at_ns = xl_now_ns() + xl_cfg.register_delay_ns;
		atomic_store(&s->state, XL_SOCK_PENDING);
		return;
	}
	ret = xl_sock_describe(s, fd);
	if (ret == 0) {
		atomic_store(&s->state, XL_SOCK_PENDING);
		atomic_store(&s->reg_taken, true);
		ret = xl_link_register(s);
	}
	if (ret < 0)
		xl_sock_make_plain(s);
}

void xl_sock_register_due(struct xl_sock *s, int fd, bool now)
{
	bool expect = false;
	uint32_t calls;

	if (atomic_load_explicit(&s->reg_taken, memory_order_relaxed) ||
	    atomic_load(&s->state) != XL_SOCK_PENDING)
		return;
	/* a request and its reply are a few calls: such a connection is
	 * over before a channel could pay for itself */
	calls = atomic_fetch_add_explicit(&s->calls, 1, memory_order_relaxed);
	if (!now && (calls < XL_REGISTER_CALLS || xl_now_ns() < s->reg_at_ns) &&
	    calls < XL_REGISTER_BUSY_CALLS &&
	    atomic_load_explicit(&s->conn->tcp_tx, memory_order_relaxed) +
	    atomic_load_explicit(&s->conn->tcp_rx, memory_order_relaxed) <
	    XL_REGISTER_BYTES)
		return;
	if (!atomic_compare_exchange_strong(&s->reg_taken, &expect, true))
		return;
	/* A call of another thread is in the kernel without the data
	 * path (xl_io.c): a reader blocked there would never look at a
	 * ring. Later, when none is (seq_cst both sides: either it sees
	 * reg_taken or we see it). */
	if (atomic_load(&s->passthru) > 0) {
		atomic_store(&s->reg_taken, false);
		return;
	}
	/* shared with another process since a fork(): a ring would serve
	 * one of the two; whichever holds it alone registers it later
	 * (as a registered one is claimed: protocol.md §4.1) */
	if (atomic_load(&s->conn->procs) > 1) {
		atomic_store(&s->reg_taken, false);
		return;
	}
	if (xl_sock_describe(s, fd) < 0 || xl_link_register(s) < 0) {
		XL_DBG("socket stays on TCP: no registration (no daemon, or "
		       "it is busy)");
		xl_sock_make_plain(s);
	}
}

void xl_sock_adopt(int fd, uint32_t role, bool nonblock, bool connecting)
{
	struct xl_sock *s;

	/* no daemon: nothing to track, nothing to pay */
	if (!xl_link_usable() ||
	    !xl_sock_is_tcp(fd, role == XL_CTL_ROLE_SERVER))
		return;
	s = xl_sock_new();
	if (!s)
		return;
	s->role = role;
	atomic_store(&s->nonblock, nonblock);
	atomic_store(&s->state, XL_SOCK_CONNECTING);
	if (!connecting)
		xl_sock_register(s, fd);
	if (atomic_load(&s->state) != XL_SOCK_PLAIN)
		xl_sock_add_fd(fd, s);
	xl_sock_put(s);
}

void xl_sock_settle(struct xl_sock *s, int fd)
{
	int expect = XL_SOCK_CONNECTING;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (atomic_load(&s->state) != XL_SOCK_CONNECTING)
		return;
	/* still in progress, or failed: a failed socket is closed soon */
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	/* one thread registers, even if several find it connected */
	if (atomic_compare_exchange_strong(&s->state, &expect,
					   XL_SOCK_PENDING))
		xl_sock_register(s, fd);
}

void xl_sock_drop(uint64_t cookie)
{
	struct xl_sock *s, *found = NULL;
	struct xl_chan *ch;

	pthread_mutex_lock(&xl_sock_mutex);
	for (s = xl_sock_all; s && !found; s = s->all_next)
		if (s->cookie == cookie &&
		    atomic_load(&s->state) == XL_SOCK_CHAN && xl_sock_tryget(s))
			found = s;
	pthread_mutex_unlock(&xl_sock_mutex);
	if (!found)
		return;
	ch = atomic_load_explicit(&found->chan, memory_order_acquire);
	XL_INFO("cookie %llu: the daemon takes the ring away",
		(unsigned long long)cookie);
	atomic_store(&found->conn->drop_req, true);
	if (ch) {
		xl_lib_enter();
		xl_chan_wake_self(ch);
		xl_lib_leave();
	}
	xl_sock_put(found);
}

void xl_sock_foreach(void (*fn)(struct xl_sock *s, void *arg), void *arg)
{
	struct xl_sock *s;

	for (s = xl_sock_all; s; s = s->all_next)
		fn(s, arg);
}

/* ---- fork ---- */

static void xl_sock_fork_hold(struct xl_sock *s, void *arg)
{
	(void)arg;
	if (atomic_load(&s->refcnt) == 0)
		return;		/* being freed: its process let go already */
	s->shared = true;	/* never back to the cache */
	/* Counted before the child exists: a close in the parent right
	 * after fork() must already know it is not the last. (A fork()
	 * that fails leaves the count one too high: the stream then ends
	 * by the liveness pair and the kernel's FIN, not the ring's end.) */
	atomic_fetch_add(&s->conn->procs, 1);
}

void xl_sock_atfork_prepare(void)
{
	pthread_mutex_lock(&xl_sock_mutex);
	xl_sock_foreach(xl_sock_fork_hold, NULL);
}

void xl_sock_atfork_parent(void)
{
	pthread_mutex_unlock(&xl_sock_mutex);
}

void xl_sock_atfork_child(void)
{
	pthread_mutex_init(&xl_sock_mutex, NULL);
	/* the cached mappings are the parent's too: never reuse them */
	while (xl_conn_ncache)
		munmap(xl_conn_cache[--xl_conn_ncache], sizeof(struct xl_conn));
	/* the sockets' conn memory (locks included) is the parent's too */
}
