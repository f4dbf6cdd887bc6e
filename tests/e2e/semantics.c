/* SPDX-License-Identifier: MIT */
/*
 * semantics: checks that a program cannot tell a connection on the ring
 * from kernel TCP, except by speed. One binary, several roles, run in two
 * network namespaces by tests/e2e/semantics.sh and tests/e2e/killpeer.sh
 * under the preload library:
 *
 *   semantics server PORT ring|tcp
 *   semantics client ADDR PORT ring|tcp [TEST...]
 *   semantics source connect ADDR PORT | listen PORT  [LIMIT]
 *   semantics sink connect ADDR PORT | listen PORT
 *
 * EXPECT ("ring" or "tcp") says what the library must have done: "ring"
 * (both daemons run) means every connection ends up on a channel and its
 * payload goes through the ring, never the kernel; "tcp" (the library is
 * loaded but no daemon answers) means every socket is left to the kernel
 * (untracked, or "plain"). Either way every result must be what kernel
 * TCP gives.
 *
 * The server speaks first on every connection (a 4-byte banner, as SMTP
 * would), reads the 16-byte test name, answers 'K' once its end has its
 * channel, and then obeys the client's commands (struct cmd): send,
 * receive and check, drain to EOF, close, report. The client prints one
 * "PASS name" or "FAIL name: why" line per test and exits 1 if any
 * failed; the server prints "FAIL srv name: why" for what only it can see
 * and exits 1 after the "quit" test if any connection failed.
 *
 * source and sink are the two ends of an endless (or LIMIT-byte) stream
 * for killpeer.sh: they report progress, how the stream ended (EOF or the
 * errno, and SIGPIPEs seen) and what the library did with the socket.
 *
 * Every byte of every payload is checked against a pattern that depends
 * on its offset, so a byte lost, repeated or reordered across the switch
 * from TCP to the ring is caught where it happens. What the library did
 * with a socket comes from its private socket option (preload/xl_query.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xl_query.h"

#define BANNER		"XL1\n"
#define BANNER_LEN	4
#define NAME_LEN	16
#define CHUNK		65536
#define CLI_TIMEOUT_S	5	/* SO_RCVTIMEO/SO_SNDTIMEO: no test hangs */
#define SRV_TIMEOUT_S	10
#define WAIT_MS		5000	/* any bounded wait of the client */
#define PROGRESS_STEP	(1u << 20)
#define DELAY_MS	200	/* the server's pause before a late answer */

/* Commands, client to server. */
#define OP_SEND		'S'	/* n bytes of pat(seed) */
#define OP_RECV		'R'	/* read n bytes of pat(seed); 'Y' or 'N' */
#define OP_DRAIN	'D'	/* read pat(seed) to EOF; count, 'Y'/'N';
				 * then n bytes of pat(seed + 1); close */
#define OP_URG		'U'	/* read n bytes of pat(seed), the urgent
				 * byte '!', 'expect' bytes of
				 * pat(seed + 1); 'Y' or 'N' */
#define OP_CLOSE	'C'	/* close after delay_ms, once 'expect' bytes
				 * wait unread (FIONREAD) */
#define F_CLOSE		0x1	/* OP_SEND: close after */
#define F_SHUTWR	0x2	/* OP_SEND: shutdown(SHUT_WR) after, then
				 * drain 'expect' bytes of pat(seed + 1) */

struct cmd {
	uint8_t op, seed, flags, pad;
	uint32_t n;
	uint32_t delay_ms;	/* before doing anything */
	uint32_t chunk;		/* OP_SEND: bytes per write (0: CHUNK) */
	uint32_t gap_ms;	/* OP_SEND: pause between writes */
	uint32_t expect;
};

static bool expect_ring;
static const char *srv_addr;
static int srv_port;
static volatile sig_atomic_t sigpipes, stop_flag;

/* ---- helpers ---- */

static uint8_t pat(uint64_t i, uint8_t seed)
{
	return (uint8_t)((i * 2654435761u) >> 13) ^ (uint8_t)(i >> 16) ^ seed;
}

static void fill(uint8_t *buf, size_t n, uint64_t off, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = pat(off + i, seed);
}

/* Offset of the first wrong byte, or -1. */
static long long check(const uint8_t *buf, size_t n, uint64_t off,
		       uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (buf[i] != pat(off + i, seed))
			return (long long)(off + i);
	}
	return -1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Sizes that vary from call to call, the same in every run. */
static uint32_t rnd(uint32_t *state, uint32_t max)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return 1 + x % max;
}

static const char *errname(int err)
{
	const char *s = strerrorname_np(err);

	return s ? s : "E?";
}

static void set_timeouts(int fd, int sec)
{
	struct timeval tv = { sec, 0 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t w;

	while (n) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Read n bytes or up to EOF: the count, or -1 on an error (errno). */
static ssize_t read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, p + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int sock_info(int fd, struct xl_sock_info *info)
{
	socklen_t len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	if (getsockopt(fd, XL_SOL_XENLOOP, XL_SO_INFO, info, &len) < 0) {
		/* no library: the kernel does not know the level */
		return errno == ENOPROTOOPT ? 0 : -1;
	}
	return 0;
}

/*
 * In ring mode, wait (bounded) until our end has its channel. The library
 * takes the daemon's answer in the calls that could wait for it (I/O, a
 * poll() that sleeps), not in getsockopt(), so a short poll() gives it the
 * chance; nothing is readable here, as the other end waits for us.
 */
static bool wait_chan(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct xl_sock_info info;
	uint64_t end = now_ms() + WAIT_MS;

	if (!expect_ring)
		return true;
	do {
		if (sock_info(fd, &info) == 0 && info.state == XL_INFO_CHAN)
			return true;
		if (poll(&p, 1, 2) != 0)
			msleep(2);
	} while (now_ms() < end);
	return false;
}

/* Wait for events on fd (bounded); the revents, 0 on timeout. */
static short wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };

	if (poll(&p, 1, ms) <= 0)
		return 0;
	return p.revents;
}

/* The server surely still sleeps off the DELAY_MS it was asked for at t0:
 * readiness now would be wrong. (A busy machine may stall us longer; then
 * there is nothing to conclude.) */
static bool early(uint64_t t0)
{
	return now_ms() - t0 < DELAY_MS / 2;
}

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void catch_signal(int sig, void (*fn)(int), bool restart)
{
	struct sigaction sa = { .sa_handler = fn };

	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void ignore_sigpipe(void)
{
	signal(SIGPIPE, SIG_IGN);
}

/* ---- the server ---- */

static pthread_mutex_t srv_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t srv_cond = PTHREAD_COND_INITIALIZER;
static int srv_active, srv_conns, srv_fails, srv_listen_fd = -1;

static void srv_fail(const char *name, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void srv_fail(const char *name, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	fprintf(stderr, "FAIL srv %s: %s\n", name, why);
	pthread_mutex_lock(&srv_lock);
	srv_fails++;
	pthread_mutex_unlock(&srv_lock);
}

/* Send n bytes of pat(seed) as c asks. */
static int srv_send(const char *name, int fd, const struct cmd *c)
{
	size_t chunk = c->chunk ? c->chunk : CHUNK, k;
	uint8_t *buf = malloc(chunk);
	uint64_t off = 0;
	int ret = 0;

	if (!buf)
		return -1;
	while (off < c->n) {
		k = c->n - off < chunk ? c->n - off : chunk;
		fill(buf, k, off, c->seed);
		if (write_all(fd, buf, k) < 0) {
			srv_fail(name, "send at %llu: %s",
				 (unsigned long long)off, strerror(errno));
			ret = -1;
			break;
		}
		off += k;
		if (c->gap_ms && off < c->n)
			msleep((int)c->gap_ms);
	}
	free(buf);
	return ret;
}

/* Read pat(seed) until EOF or max bytes; the count, or -1 (reported). */
static long long srv_drain(const char *name, int fd, uint8_t seed,
			   uint64_t max)
{
	static __thread uint8_t buf[CHUNK];
	uint64_t off = 0;
	long long bad;
	ssize_t n;

	for (;;) {
		n = read(fd, buf, max - off < CHUNK ? max - off : CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			srv_fail(name, "read at %llu: %s",
				 (unsigned long long)off, strerror(errno));
			return -1;
		}
		if (n == 0)
			return (long long)off;
		bad = check(buf, (size_t)n, off, seed);
		if (bad >= 0) {
			srv_fail(name, "wrong byte at offset %lld", bad);
			return -1;
		}
		off += (uint64_t)n;
		if (off == max)
			return (long long)off;
	}
}

static int srv_recv(const char *name, int fd, const struct cmd *c)
{
	long long got = srv_drain(name, fd, c->seed, c->n);
	char ok = got == (long long)c->n ? 'Y' : 'N';

	if (got >= 0 && got != (long long)c->n)
		srv_fail(name, "EOF after %lld of %u bytes", got, c->n);
	return write_all(fd, &ok, 1) < 0 || ok != 'Y' ? -1 : 0;
}

/* Urgent data, as the kernel gives it: normal reads stop at the mark,
 * recv(MSG_OOB) takes the byte once it is there. */
static int srv_urgent(const char *name, int fd, const struct cmd *c)
{
	uint64_t end = now_ms() + WAIT_MS;
	char u = 0, ok = 'N';
	ssize_t r = -1;

	if (srv_drain(name, fd, c->seed, c->n) == (long long)c->n) {
		while ((r = recv(fd, &u, 1, MSG_OOB)) < 0 &&
		       (errno == EINVAL || errno == EAGAIN) && now_ms() < end)
			msleep(5);
		if (r != 1 || u != '!')
			srv_fail(name, "urgent byte: %zd '%c' (%s)", r, u,
				 strerror(errno));
		else if (srv_drain(name, fd, (uint8_t)(c->seed + 1),
				   c->expect) == (long long)c->expect)
			ok = 'Y';
	}
	return write_all(fd, &ok, 1) < 0 || ok != 'Y' ? -1 : 0;
}

static void srv_shutwr(const char *name, int fd, const struct cmd *c)
{
	long long got;

	shutdown(fd, SHUT_WR);
	got = srv_drain(name, fd, (uint8_t)(c->seed + 1), UINT64_MAX);
	if (got >= 0 && got != (long long)c->expect)
		srv_fail(name, "after SHUT_WR: %lld bytes, expected %u", got,
			 c->expect);
}

static void srv_drain_cmd(const char *name, int fd, const struct cmd *c)
{
	struct cmd more = *c;
	long long got = srv_drain(name, fd, c->seed, UINT64_MAX);
	uint64_t count = got < 0 ? 0 : (uint64_t)got;
	char ok = got < 0 ? 'N' : 'Y';

	if (write_all(fd, &count, sizeof(count)) < 0 ||
	    write_all(fd, &ok, 1) < 0) {
		srv_fail(name, "cannot report the drain: %s", strerror(errno));
		return;
	}
	more.seed = (uint8_t)(c->seed + 1);
	srv_send(name, fd, &more);
}

/* Until n bytes wait to be read (bounded): a close then resets. */
static void srv_wait_unread(const char *name, int fd, uint32_t n)
{
	uint64_t end = now_ms() + WAIT_MS;
	int v = 0;

	while (n && ioctl(fd, FIONREAD, &v) == 0 && (uint32_t)v < n &&
	       now_ms() < end)
		msleep(2);
	if (n && (uint32_t)v < n)
		srv_fail(name, "only %d of %u bytes came", v, n);
}

/* One command; returns true when the connection is over. */
static bool srv_cmd(const char *name, int fd, const struct cmd *c)
{
	if (c->delay_ms)
		msleep((int)c->delay_ms);
	switch (c->op) {
	case OP_SEND:
		if (srv_send(name, fd, c) < 0)
			return true;
		if (c->flags & F_SHUTWR)
			srv_shutwr(name, fd, c);
		return c->flags & (F_CLOSE | F_SHUTWR);
	case OP_RECV:
		return srv_recv(name, fd, c) < 0;
	case OP_URG:
		return srv_urgent(name, fd, c) < 0;
	case OP_DRAIN:
		srv_drain_cmd(name, fd, c);
		return true;
	case OP_CLOSE:
		srv_wait_unread(name, fd, c->expect);
		return true;
	default:
		srv_fail(name, "unknown command 0x%02x", c->op);
		return true;
	}
}

/* In ring mode, our end must be on its channel and the payload must not
 * have gone through the kernel: only the banner and 'K' out, the name
 * in. In tcp mode the library must not track the socket at all. */
static void srv_check_path(const char *name, int fd)
{
	struct xl_sock_info in;

	if (sock_info(fd, &in) < 0) {
		srv_fail(name, "library query: %s", strerror(errno));
		return;
	}
	if (!expect_ring) {
		if (in.state != 0 && in.state != XL_INFO_PLAIN)
			srv_fail(name, "tracked without a daemon (state %u)",
				 in.state);
		return;
	}
	if (in.state != XL_INFO_CHAN)
		srv_fail(name, "no channel (state %u)", in.state);
	/* after urgent data the kernel carries the client's direction */
	else if (in.tcp_tx > BANNER_LEN + 1 ||
		 (in.tcp_rx > NAME_LEN && strncmp(name, "oob", NAME_LEN)))
		srv_fail(name, "payload through the kernel: tcp_tx %llu tcp_rx "
			 "%llu", (unsigned long long)in.tcp_tx,
			 (unsigned long long)in.tcp_rx);
}

/* The commands of one connection; returns true for "quit". */
static bool srv_session(int fd, char *name)
{
	struct cmd c;
	ssize_t n;

	if (write_all(fd, BANNER, BANNER_LEN) < 0 ||
	    read_full(fd, name, NAME_LEN) != NAME_LEN) {
		srv_fail("?", "no test name: %s", strerror(errno));
		return false;
	}
	name[NAME_LEN] = '\0';
	if (!wait_chan(fd))
		srv_fail(name, "no channel within %d ms", WAIT_MS);
	if (write_all(fd, "K", 1) < 0)
		srv_fail(name, "cannot send K: %s", strerror(errno));
	if (!strcmp(name, "quit"))
		return true;
	for (;;) {
		n = read_full(fd, &c, sizeof(c));
		if (n == 0)
			break;		/* the client is done */
		if (n != sizeof(c)) {
			srv_fail(name, "command cut short (%zd): %s", n,
				 strerror(errno));
			break;
		}
		if (srv_cmd(name, fd, &c))
			break;
	}
	srv_check_path(name, fd);
	return false;
}

static void *srv_conn(void *arg)
{
	char name[NAME_LEN + 1] = "?";
	int fd = (int)(intptr_t)arg;
	bool quit;

	set_timeouts(fd, SRV_TIMEOUT_S);
	quit = srv_session(fd, name);
	close(fd);
	pthread_mutex_lock(&srv_lock);
	srv_active--;
	srv_conns++;
	if (quit)	/* wakes the accept() below */
		shutdown(srv_listen_fd, SHUT_RDWR);
	pthread_cond_broadcast(&srv_cond);
	pthread_mutex_unlock(&srv_lock);
	return NULL;
}

/* A dual-stack listener on port (IPv4 arrives mapped). */
static int listen_on(int port)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), zero = 0,
	    one = 1;

	if (fd < 0)
		return -1;
	a.sin6_port = htons((uint16_t)port);
	a.sin6_addr = in6addr_any;
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 64) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void srv_wait_idle(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SRV_TIMEOUT_S + 5;
	pthread_mutex_lock(&srv_lock);
	while (srv_active > 0 &&
	       pthread_cond_timedwait(&srv_cond, &srv_lock, &until) == 0)
		;
	if (srv_active > 0) {
		fprintf(stderr, "FAIL srv: %d connections never ended\n",
			srv_active);
		srv_fails++;
	}
	pthread_mutex_unlock(&srv_lock);
}

static int server_main(int port)
{
	pthread_t t;
	int fd;

	ignore_sigpipe();
	srv_listen_fd = listen_on(port);
	if (srv_listen_fd < 0) {
		perror("semantics server: listen");
		return 1;
	}
	printf("listening %d\n", port);
	fflush(stdout);
	for (;;) {
		fd = accept(srv_listen_fd, NULL, NULL);
		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0)
			break;	/* "quit" shut the listener down */
		pthread_mutex_lock(&srv_lock);
		srv_active++;
		pthread_mutex_unlock(&srv_lock);
		if (pthread_create(&t, NULL, srv_conn, (void *)(intptr_t)fd)) {
			srv_fail("?", "pthread_create failed");
			close(fd);
			continue;
		}
		pthread_detach(t);
	}
	srv_wait_idle();
	printf("server: %d connections, %d failed\n", srv_conns, srv_fails);
	return srv_fails ? 1 : 0;
}

/* ---- the client's bookkeeping ---- */

struct result {
	const char *name;
	char why[256];
	bool failed;
	uint64_t sent, rcvd;	/* payload bytes of the test, each way */
};

static void fail(struct result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void fail(struct result *r, const char *fmt, ...)
{
	va_list ap;

	if (r->failed)
		return;	/* the first reason is the one that matters */
	r->failed = true;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
}

/*
 * What the library did with the connection must match the mode: in ring
 * mode the payload went through the ring (at most the test name out and
 * the banner in went through the kernel); in tcp mode the socket is not
 * tracked at all.
 */
static void check_path(struct result *r, int fd)
{
	struct xl_sock_info in;

	if (sock_info(fd, &in) < 0) {
		fail(r, "library query failed: %s", strerror(errno));
		return;
	}
	if (!expect_ring) {
		if ((in.state != 0 && in.state != XL_INFO_PLAIN) ||
		    in.ring_tx || in.ring_rx)
			fail(r, "tracked without a daemon (state %u)",
			     in.state);
		return;
	}
	if (in.state != XL_INFO_CHAN)
		fail(r, "no channel (state %u)", in.state);
	else if (in.tcp_tx > NAME_LEN || in.tcp_rx > BANNER_LEN)
		fail(r, "payload through the kernel: tcp_tx %llu tcp_rx %llu",
		     (unsigned long long)in.tcp_tx,
		     (unsigned long long)in.tcp_rx);
	else if (r->sent && in.ring_tx < r->sent)
		fail(r, "ring_tx %llu < %llu bytes sent",
		     (unsigned long long)in.ring_tx,
		     (unsigned long long)r->sent);
	else if (r->rcvd && in.ring_rx < r->rcvd)
		fail(r, "ring_rx %llu < %llu bytes received",
		     (unsigned long long)in.ring_rx,
		     (unsigned long long)r->rcvd);
}

static socklen_t srv_sockaddr(struct sockaddr_storage *ss, int port)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(srv_addr, ':')) {
		struct sockaddr_in6 *a = (void *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, srv_addr, &a->sin6_addr);
		return sizeof(*a);
	}
	struct sockaddr_in *a = (void *)ss;

	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, srv_addr, &a->sin_addr);
	return sizeof(*a);
}

/* A TCP socket to the server's address family, with bounded I/O. */
static int new_socket(int extra)
{
	struct sockaddr_storage ss;
	int fd;

	srv_sockaddr(&ss, srv_port);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | extra, 0);
	if (fd >= 0)
		set_timeouts(fd, CLI_TIMEOUT_S);
	return fd;
}

/* Banner in, name out, 'K' in: both ends are on their channel (ring
 * mode) and each has seen the other attached, so everything after this
 * goes through the ring. */
static int handshake(struct result *r, int fd)
{
	char banner[BANNER_LEN], name[NAME_LEN] = { 0 }, k;

	if (read_full(fd, banner, BANNER_LEN) != BANNER_LEN ||
	    memcmp(banner, BANNER, BANNER_LEN)) {
		fail(r, "no banner from the server");
		return -1;
	}
	if (!wait_chan(fd)) {
		fail(r, "no channel within %d ms", WAIT_MS);
		return -1;
	}
	snprintf(name, sizeof(name), "%s", r->name);
	if (write_all(fd, name, NAME_LEN) < 0 || read_full(fd, &k, 1) != 1 ||
	    k != 'K') {
		fail(r, "handshake: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Connect (blocking) and shake hands. */
static int open_test(struct result *r)
{
	struct sockaddr_storage ss;
	socklen_t len = srv_sockaddr(&ss, srv_port);
	int fd = new_socket(0);

	if (fd < 0 || connect(fd, (struct sockaddr *)&ss, len) < 0) {
		fail(r, "connect: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (handshake(r, fd) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_cmd(struct result *r, int fd, const struct cmd *c)
{
	if (write_all(fd, c, sizeof(*c)) < 0) {
		fail(r, "sending command %c: %s", c->op, strerror(errno));
		return -1;
	}
	return 0;
}

/* Write n bytes of pat(seed) from stream offset off, in varied sizes. */
static int write_pat(struct result *r, int fd, uint8_t seed, uint64_t off,
		     size_t n)
{
	static uint8_t buf[CHUNK];
	uint32_t rs = 0x9e3779b9u ^ seed;
	size_t k;

	while (n) {
		k = rnd(&rs, CHUNK);
		k = k < n ? k : n;
		fill(buf, k, off, seed);
		if (write_all(fd, buf, k) < 0) {
			fail(r, "write at %llu: %s", (unsigned long long)off,
			     strerror(errno));
			return -1;
		}
		off += k;
		n -= k;
		r->sent += k;
	}
	return 0;
}

/* Read exactly n bytes of pat(seed) from stream offset off. */
static int read_pat(struct result *r, int fd, uint8_t seed, uint64_t off,
		    size_t n)
{
	static uint8_t buf[CHUNK];
	long long bad;
	size_t k;
	ssize_t got;

	while (n) {
		k = n < CHUNK ? n : CHUNK;
		got = read(fd, buf, k);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			fail(r, "read at %llu: %s", (unsigned long long)off,
			     got ? strerror(errno) : "EOF");
			return -1;
		}
		bad = check(buf, (size_t)got, off, seed);
		if (bad >= 0) {
			fail(r, "wrong byte at offset %lld", bad);
			return -1;
		}
		off += (uint64_t)got;
		n -= (size_t)got;
		r->rcvd += (uint64_t)got;
	}
	return 0;
}

static int read_status(struct result *r, int fd)
{
	char ok = 0;

	if (read_full(fd, &ok, 1) != 1 || ok != 'Y') {
		fail(r, "the server did not confirm (%s)",
		     ok ? "N: see its log" : strerror(errno));
		return -1;
	}
	return 0;
}

/* Check end of stream, twice: it stays the end. */
static void expect_eof(struct result *r, int fd)
{
	char c;
	int i;

	for (i = 0; i < 2; i++) {
		if (read(fd, &c, 1) != 0) {
			fail(r, "no EOF (%s)", strerror(errno));
			return;
		}
	}
}

static void end_test(struct result *r, int fd)
{
	check_path(r, fd);
	close(fd);
}

#define CMD(...) (&(struct cmd){ __VA_ARGS__ })

/* ---- the tests ---- */

/* Bulk both ways, more than a ring's worth, with varied write sizes and
 * a scattered read. */
static void t_bulk(struct result *r)
{
	uint8_t a[1000], b[30000], c[70000];
	struct iovec iov[3] = { { a, sizeof(a) }, { b, sizeof(b) },
				{ c, sizeof(c) } };
	const size_t n = 3 << 20;
	uint64_t off = 0;
	ssize_t got, bad;
	int fd = open_test(r), i;

	if (fd < 0 || send_cmd(r, fd, CMD(.op = OP_RECV, .seed = 1, .n = n)) ||
	    write_pat(r, fd, 1, 0, n) || read_status(r, fd) ||
	    send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 2, .n = n)))
		goto out;
	while (off < n) {
		got = readv(fd, iov, 3);
		if (got <= 0) {
			fail(r, "readv at %llu: %s", (unsigned long long)off,
			     got ? strerror(errno) : "EOF");
			goto out;
		}
		for (i = 0; i < 3 && got > 0; i++) {
			size_t k = (size_t)got < iov[i].iov_len ?
				   (size_t)got : iov[i].iov_len;

			bad = check(iov[i].iov_base, k, off, 2);
			if (bad >= 0) {
				fail(r, "wrong byte at offset %zd", bad);
				goto out;
			}
			off += k;
			got -= (ssize_t)k;
		}
	}
	r->rcvd = n;
out:
	if (fd >= 0)
		end_test(r, fd);
}

/* poll() until fd is ready for events, writing/reading nonblocking. */
static int nb_io(struct result *r, int fd, bool tx, uint8_t *buf, size_t n)
{
	size_t done = 0;
	ssize_t k;

	while (done < n) {
		k = tx ? write(fd, buf + done, n - done) :
			 read(fd, buf + done, n - done);
		if (k > 0) {
			done += (size_t)k;
			continue;
		}
		if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
			fail(r, "nonblocking %s: %s", tx ? "write" : "read",
			     k ? strerror(errno) : "EOF");
			return -1;
		}
		if (!wait_fd(fd, tx ? POLLOUT : POLLIN, WAIT_MS)) {
			fail(r, "poll timed out");
			return -1;
		}
	}
	return 0;
}

/* Nonblocking connect: EINPROGRESS, POLLOUT, SO_ERROR 0; then all I/O
 * nonblocking, driven by poll(). */
static void t_nbconnect(struct result *r)
{
	static uint8_t buf[300000];
	struct sockaddr_storage ss;
	socklen_t len = srv_sockaddr(&ss, srv_port), elen = sizeof(int);
	int fd = new_socket(SOCK_NONBLOCK), err = -1;
	char hs[BANNER_LEN], name[NAME_LEN] = "nbconnect";

	if (fd < 0) {
		fail(r, "socket: %s", strerror(errno));
		return;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) == 0 ||
	    errno != EINPROGRESS) {
		fail(r, "connect: %s, expected EINPROGRESS", strerror(errno));
		goto out;
	}
	if (!(wait_fd(fd, POLLOUT, WAIT_MS) & POLLOUT) ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
		fail(r, "connect did not complete (SO_ERROR %d)", err);
		goto out;
	}
	if (nb_io(r, fd, false, (uint8_t *)hs, BANNER_LEN) < 0 ||
	    !wait_chan(fd) || nb_io(r, fd, true, (uint8_t *)name, NAME_LEN) ||
	    nb_io(r, fd, false, (uint8_t *)hs, 1) || hs[0] != 'K') {
		fail(r, "nonblocking handshake failed");
		goto out;
	}
	fill(buf, sizeof(buf), 0, 3);
	if (nb_io(r, fd, true, (uint8_t *)CMD(.op = OP_RECV, .seed = 3,
		  .n = sizeof(buf)), sizeof(struct cmd)) ||
	    nb_io(r, fd, true, buf, sizeof(buf)) ||
	    nb_io(r, fd, false, (uint8_t *)hs, 1) || hs[0] != 'Y')
		goto out;
	r->sent = sizeof(buf);
	if (nb_io(r, fd, true, (uint8_t *)CMD(.op = OP_SEND, .seed = 4,
		  .n = sizeof(buf)), sizeof(struct cmd)) ||
	    nb_io(r, fd, false, buf, sizeof(buf)))
		goto out;
	if (check(buf, sizeof(buf), 0, 4) >= 0)
		fail(r, "wrong byte at offset %lld", check(buf, sizeof(buf),
							    0, 4));
	r->rcvd = sizeof(buf);
out:
	end_test(r, fd);
}

/* A refused connection gives what the kernel gives, blocking or not. */
static void t_refused(struct result *r)
{
	struct sockaddr_storage ss;
	socklen_t len = srv_sockaddr(&ss, srv_port + 1), elen = sizeof(int);
	int fd = new_socket(SOCK_NONBLOCK), err = 0;
	short ev;

	if (fd < 0) {
		fail(r, "socket: %s", strerror(errno));
		return;
	}
	if (connect(fd, (struct sockaddr *)&ss, len) == 0 ||
	    errno != EINPROGRESS)
		fail(r, "nonblocking connect: %s", strerror(errno));
	ev = wait_fd(fd, POLLOUT, WAIT_MS);
	if (!(ev & POLLOUT) || !(ev & POLLERR))
		fail(r, "poll gave 0x%x, expected POLLOUT|POLLERR", ev);
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
	if (err != ECONNREFUSED)
		fail(r, "SO_ERROR %s, expected ECONNREFUSED", errname(err));
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
	if (err)
		fail(r, "second SO_ERROR %s, expected 0", errname(err));
	close(fd);
	fd = new_socket(0);
	if (connect(fd, (struct sockaddr *)&ss, len) == 0 ||
	    errno != ECONNREFUSED)
		fail(r, "blocking connect: %s, expected ECONNREFUSED",
		     strerror(errno));
	close(fd);
}

/* poll/ppoll: no readiness before the data, readiness when it comes
 * (after the server's delay), none once it is read. */
static void t_poll(struct result *r)
{
	struct timespec ts = { 0, 50 * 1000000 };
	struct pollfd p;
	uint64_t t0;
	int fd = open_test(r), n;

	if (fd < 0)
		return;
	p = (struct pollfd){ .fd = fd, .events = POLLIN | POLLOUT };
	if (poll(&p, 1, 0) != 1 || p.revents != POLLOUT)
		fail(r, "idle socket: revents 0x%x, expected POLLOUT",
		     p.revents);
	t0 = now_ms();
	if (send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 5, .n = 5000,
				.delay_ms = DELAY_MS)))
		goto out;
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 0) != 0 && early(t0))
		fail(r, "readable before the server sent (0x%x)", p.revents);
	n = poll(&p, 1, WAIT_MS);
	if (n != 1 || !(p.revents & POLLIN))
		fail(r, "not readable after the send (%d, 0x%x)", n,
		     p.revents);
	else if (now_ms() - t0 < DELAY_MS)
		fail(r, "readable after %llu ms, before the data came",
		     (unsigned long long)(now_ms() - t0));
	read_pat(r, fd, 5, 0, 5000);
	p.revents = 0;
	if (ppoll(&p, 1, &ts, NULL) != 0)
		fail(r, "readable after everything was read (0x%x)",
		     p.revents);
out:
	end_test(r, fd);
}

static int select1(int fd, bool rd, bool wr, int ms, bool use_pselect)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	fd_set rs, ws;
	int n;

	FD_ZERO(&rs);
	FD_ZERO(&ws);
	if (rd)
		FD_SET(fd, &rs);
	if (wr)
		FD_SET(fd, &ws);
	n = use_pselect ? pselect(fd + 1, &rs, &ws, NULL, &ts, NULL) :
			  select(fd + 1, &rs, &ws, NULL, &tv);
	if (n <= 0)
		return n;
	return (FD_ISSET(fd, &rs) ? 1 : 0) | (FD_ISSET(fd, &ws) ? 2 : 0);
}

/* select/pselect: the same, bit by bit. */
static void t_select(struct result *r)
{
	uint64_t t0;
	int fd = open_test(r), got;

	if (fd < 0)
		return;
	got = select1(fd, true, true, 0, false);
	if (got != 2)
		fail(r, "idle socket: select gave %d, expected writable", got);
	t0 = now_ms();
	if (send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 6, .n = 5000,
				.delay_ms = DELAY_MS)))
		goto out;
	got = select1(fd, true, false, 0, true);
	if (got != 0 && early(t0))
		fail(r, "readable before the server sent (%d)", got);
	got = select1(fd, true, false, WAIT_MS, false);
	if (got != 1)
		fail(r, "not readable after the send (%d)", got);
	else if (now_ms() - t0 < DELAY_MS)
		fail(r, "readable after %llu ms, before the data came",
		     (unsigned long long)(now_ms() - t0));
	read_pat(r, fd, 6, 0, 5000);
	got = select1(fd, true, false, 50, true);
	if (got != 0)
		fail(r, "readable after everything was read (%d)", got);
out:
	end_test(r, fd);
}

/* epoll_wait on ep: how many events, and the mask of the one for fd. */
static int ep_wait(int ep, int ms, int fd, uint32_t *mask)
{
	struct epoll_event ev[4];
	int n = epoll_wait(ep, ev, 4, ms), i;

	*mask = 0;
	for (i = 0; i < n; i++)
		if (ev[i].data.fd == fd)
			*mask = ev[i].events;
	return n;
}

static int ep_add(int ep, int op, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	return epoll_ctl(ep, op, fd, &ev);
}

/* Level-triggered epoll, mixed with a pipe: readiness while data is
 * left, none once it is read; EPOLLOUT on an idle socket. */
static void t_epoll_lt(struct result *r)
{
	int fd, ep, pp[2], n;
	uint32_t m;
	char c = 'x';

	if (pipe2(pp, O_CLOEXEC) < 0) {
		fail(r, "pipe: %s", strerror(errno));
		return;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	fd = open_test(r);
	if (ep < 0)
		fail(r, "epoll_create1: %s", strerror(errno));
	if (fd < 0 || ep < 0)
		goto out;
	ep_add(ep, EPOLL_CTL_ADD, fd, EPOLLIN);
	ep_add(ep, EPOLL_CTL_ADD, pp[0], EPOLLIN);
	n = ep_wait(ep, 0, fd, &m);
	if (n != 0)
		fail(r, "idle: %d events", n);
	if (send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 7, .n = 1000,
				.delay_ms = 100)))
		goto out;
	if (ep_wait(ep, WAIT_MS, fd, &m) != 1 || m != EPOLLIN)
		fail(r, "no EPOLLIN for the data (0x%x)", m);
	read_pat(r, fd, 7, 0, 300);
	if (ep_wait(ep, 0, fd, &m) != 1 || m != EPOLLIN)
		fail(r, "level-triggered: no EPOLLIN with data left (0x%x)",
		     m);
	if (write(pp[1], &c, 1) != 1 || (n = ep_wait(ep, 0, fd, &m)) != 2)
		fail(r, "socket and pipe: %d events, expected 2", n);
	if (read(pp[0], &c, 1) != 1)
		fail(r, "pipe read");
	read_pat(r, fd, 7, 300, 700);
	n = ep_wait(ep, 0, fd, &m);
	if (n != 0)
		fail(r, "%d events after everything was read", n);
	ep_add(ep, EPOLL_CTL_MOD, fd, EPOLLIN | EPOLLOUT);
	if (ep_wait(ep, 0, fd, &m) != 1 || m != EPOLLOUT)
		fail(r, "EPOLLIN|EPOLLOUT on an idle socket gave 0x%x", m);
out:
	close(pp[0]);
	close(pp[1]);
	if (ep >= 0)
		close(ep);
	if (fd >= 0)
		end_test(r, fd);
}

/* Edge-triggered epoll: one event per arrival, none for data that was
 * only partly read; then level-triggered again sees what is left. */
static void t_epoll_et(struct result *r)
{
	int fd = open_test(r), ep = epoll_create1(EPOLL_CLOEXEC), n;
	uint32_t m;

	if (ep < 0)
		fail(r, "epoll_create1: %s", strerror(errno));
	if (fd < 0 || ep < 0)
		goto out;
	ep_add(ep, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLET);
	n = ep_wait(ep, 0, fd, &m);
	if (n != 0)
		fail(r, "idle: %d events", n);
	if (send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 8, .n = 1000,
				.delay_ms = 100)))
		goto out;
	if (ep_wait(ep, WAIT_MS, fd, &m) != 1 || !(m & EPOLLIN))
		fail(r, "no EPOLLIN for the data (0x%x)", m);
	/* segments still on their way would be new edges: let them land */
	ep_wait(ep, 100, fd, &m);
	read_pat(r, fd, 8, 0, 300);
	n = ep_wait(ep, 100, fd, &m);
	if (n != 0)
		fail(r, "edge-triggered: %d events without new data", n);
	if (send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 9, .n = 500)))
		goto out;
	if (ep_wait(ep, WAIT_MS, fd, &m) != 1 || !(m & EPOLLIN))
		fail(r, "edge-triggered: no event for new data (0x%x)", m);
	ep_wait(ep, 100, fd, &m);
	ep_add(ep, EPOLL_CTL_MOD, fd, EPOLLIN);
	if (ep_wait(ep, 0, fd, &m) != 1 || m != EPOLLIN)
		fail(r, "level-triggered after MOD: 0x%x", m);
	read_pat(r, fd, 8, 300, 700);
	read_pat(r, fd, 9, 0, 500);
	n = ep_wait(ep, 0, fd, &m);
	if (n != 0)
		fail(r, "%d events after everything was read", n);
out:
	if (ep >= 0)
		close(ep);
	if (fd >= 0)
		end_test(r, fd);
}

/* MSG_PEEK leaves the bytes where they are. */
static void t_peek(struct result *r)
{
	uint8_t buf[500];
	ssize_t n;
	int fd = open_test(r);

	if (fd < 0 || send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 10,
					  .n = 2000)))
		goto out;
	if (!(wait_fd(fd, POLLIN, WAIT_MS) & POLLIN)) {
		fail(r, "no data");
		goto out;
	}
	n = recv(fd, buf, sizeof(buf), MSG_PEEK);
	if (n <= 0 || check(buf, (size_t)n, 0, 10) >= 0)
		fail(r, "first peek: %zd bytes (%s)", n, strerror(errno));
	n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0 || check(buf, (size_t)n, 0, 10) >= 0)
		fail(r, "second peek: %zd bytes (%s)", n, strerror(errno));
	read_pat(r, fd, 10, 0, 2000);
	n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n != -1 || errno != EAGAIN)
		fail(r, "peek with nothing there: %zd (%s), expected EAGAIN",
		     n, strerror(errno));
out:
	if (fd >= 0)
		end_test(r, fd);
}

/* MSG_WAITALL fills the whole buffer from many small sends, and comes
 * back short only at the end of the stream. */
static void t_waitall(struct result *r)
{
	static uint8_t buf[200000];
	int fd = open_test(r);
	ssize_t n;

	if (fd < 0 || send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 11,
					  .n = sizeof(buf), .chunk = 7000,
					  .gap_ms = 2)))
		goto out;
	n = recv(fd, buf, sizeof(buf), MSG_WAITALL);
	if (n != (ssize_t)sizeof(buf) || check(buf, sizeof(buf), 0, 11) >= 0)
		fail(r, "MSG_WAITALL gave %zd of %zu (%s)", n, sizeof(buf),
		     strerror(errno));
	r->rcvd = sizeof(buf);
	if (send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 12, .n = 1000,
				.flags = F_CLOSE)))
		goto out;
	n = recv(fd, buf, 5000, MSG_WAITALL);
	if (n != 1000 || check(buf, 1000, 0, 12) >= 0)
		fail(r, "MSG_WAITALL at EOF gave %zd, expected 1000", n);
	expect_eof(r, fd);
out:
	if (fd >= 0)
		end_test(r, fd);
}

/* Fill with MSG_DONTWAIT on a blocking socket until EAGAIN, while the
 * server does not read; the count must be exact once it does. */
static void t_dontwait(struct result *r)
{
	static uint8_t buf[16384];
	uint64_t t0, total = 0, count = 0;
	char ok = 0;
	ssize_t n;
	int fd = open_test(r);

	if (fd < 0)
		return;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n != -1 || errno != EAGAIN)
		fail(r, "recv(MSG_DONTWAIT) with nothing there: %zd (%s)", n,
		     strerror(errno));
	if (send_cmd(r, fd, CMD(.op = OP_DRAIN, .seed = 13,
				.delay_ms = 4 * DELAY_MS)))
		goto out;
	t0 = now_ms();
	for (;;) {
		fill(buf, sizeof(buf), total, 13);
		n = send(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0)
			break;
		total += (uint64_t)n;
		if (total > (64u << 20))
			break;
	}
	if (n >= 0 || errno != EAGAIN)
		fail(r, "never EAGAIN (%llu bytes, %s)",
		     (unsigned long long)total, strerror(errno));
	else if (now_ms() - t0 > 3 * DELAY_MS)
		fail(r, "MSG_DONTWAIT blocked (%llu ms)",
		     (unsigned long long)(now_ms() - t0));
	if (!(wait_fd(fd, POLLOUT, WAIT_MS) & POLLOUT))
		fail(r, "never writable again");
	r->sent = total;
	write_pat(r, fd, 13, total, 10000);
	shutdown(fd, SHUT_WR);
	if (read_full(fd, &count, sizeof(count)) != sizeof(count) ||
	    read_full(fd, &ok, 1) != 1 || ok != 'Y' ||
	    count != total + 10000)
		fail(r, "the server got %llu bytes (%c), %llu were sent",
		     (unsigned long long)count, ok ? ok : '?',
		     (unsigned long long)total + 10000);
	expect_eof(r, fd);
out:
	end_test(r, fd);
}

/* O_NONBLOCK and FIONBIO switch waiting off and on. */
static void t_nonblock(struct result *r)
{
	uint8_t buf[100];
	uint64_t t0;
	int fd = open_test(r), on = 0;

	if (fd < 0)
		return;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	if (read(fd, buf, sizeof(buf)) != -1 || errno != EAGAIN)
		fail(r, "O_NONBLOCK read: %s, expected EAGAIN",
		     strerror(errno));
	ioctl(fd, FIONBIO, &on);
	t0 = now_ms();
	if (send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 14, .n = 100,
				.delay_ms = DELAY_MS)))
		goto out;
	if (read_pat(r, fd, 14, 0, 100) == 0 && now_ms() - t0 < DELAY_MS)
		fail(r, "blocking read returned after %llu ms, before the "
		     "data", (unsigned long long)(now_ms() - t0));
	on = 1;
	ioctl(fd, FIONBIO, &on);
	if (read(fd, buf, sizeof(buf)) != -1 || errno != EAGAIN)
		fail(r, "FIONBIO read: %s, expected EAGAIN", strerror(errno));
out:
	end_test(r, fd);
}

/* Skip w bytes of the iovec array *v (*left pieces). */
static void iov_advance(struct iovec **v, int *left, size_t w)
{
	while (*left > 0 && w >= (*v)->iov_len) {
		w -= (*v)->iov_len;
		(*v)++;
		(*left)--;
	}
	if (*left > 0) {
		(*v)->iov_base = (char *)(*v)->iov_base + w;
		(*v)->iov_len -= w;
	}
}

/* Twice the bytes of sizes[] (empty pieces included) as pat(15): by
 * writev, then by sendmsg, resuming after short writes. */
static int iov_send(struct result *r, int fd, const size_t *sizes, int n,
		    size_t total)
{
	static uint8_t big[300000];
	struct iovec iov[32], *v;
	struct msghdr mh = { .msg_iov = iov };
	int round, left, i;
	size_t off;
	ssize_t w;

	for (round = 0; round < 2; round++) {
		fill(big, total, round * total, 15);
		for (i = 0, off = 0; i < n; off += sizes[i], i++)
			iov[i] = (struct iovec){ big + off, sizes[i] };
		v = iov;
		left = n;
		while (left > 0) {
			mh.msg_iov = v;
			mh.msg_iovlen = (size_t)left;
			w = round ? sendmsg(fd, &mh, 0) : writev(fd, v, left);
			if (w < 0) {
				fail(r, "%s: %s", round ? "sendmsg" : "writev",
				     strerror(errno));
				return -1;
			}
			iov_advance(&v, &left, (size_t)w);
			r->sent += (uint64_t)w;
		}
	}
	return 0;
}

/* want bytes of pat(16) into 37 pieces of odd sizes: by readv, then by
 * recvmsg. */
static int iov_recv(struct result *r, int fd, size_t want)
{
	static uint8_t big[150000];
	struct iovec iov[37];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 37 };
	size_t off = 0, pos, len;
	ssize_t w;
	int i;

	while (off < want) {
		for (i = 0, pos = off; i < 37; i++, pos += len) {
			len = i % 5 ? 1 + (size_t)i * 53 % 3000 : 0;
			len = len < want - pos ? len : want - pos;
			iov[i] = (struct iovec){ big + pos, len };
		}
		w = off < want / 2 ? readv(fd, iov, 37) : recvmsg(fd, &mh, 0);
		if (w <= 0) {
			fail(r, "readv/recvmsg at %zu: %s", off,
			     w ? strerror(errno) : "EOF");
			return -1;
		}
		off += (size_t)w;
	}
	r->rcvd = want;
	if (check(big, want, 0, 16) >= 0) {
		fail(r, "wrong byte at offset %lld", check(big, want, 0, 16));
		return -1;
	}
	return 0;
}

/* writev/readv/sendmsg/recvmsg with many pieces of odd sizes. */
static void t_iov(struct result *r)
{
	static const size_t sizes[] = { 0, 1, 2, 3, 5, 0, 8, 13, 4096, 1,
		65536, 7, 100000, 0, 33333, 1, 2, 12345, 65537, 9 };
	int n = (int)(sizeof(sizes) / sizeof(sizes[0])), i;
	size_t total = 0;
	int fd = open_test(r);

	if (fd < 0)
		return;
	for (i = 0; i < n; i++)
		total += sizes[i];
	if (send_cmd(r, fd, CMD(.op = OP_RECV, .seed = 15,
				.n = (uint32_t)(2 * total))) ||
	    iov_send(r, fd, sizes, n, total) || read_status(r, fd) ||
	    send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 16, .n = 150000)))
		goto out;
	iov_recv(r, fd, 150000);
out:
	end_test(r, fd);
}

/* Half-close from the client: the server reads to EOF, then answers on
 * the other half; writing after SHUT_WR is EPIPE. */
static void t_shut_client(struct result *r)
{
	uint64_t count = 0;
	char ok = 0;
	int fd = open_test(r);

	if (fd < 0 || send_cmd(r, fd, CMD(.op = OP_DRAIN, .seed = 17,
					  .n = 50000)) ||
	    write_pat(r, fd, 17, 0, 100000))
		goto out;
	shutdown(fd, SHUT_WR);
	if (send(fd, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE)
		fail(r, "send after SHUT_WR: %s, expected EPIPE",
		     strerror(errno));
	if (read_full(fd, &count, sizeof(count)) != sizeof(count) ||
	    read_full(fd, &ok, 1) != 1 || ok != 'Y' || count != 100000)
		fail(r, "the server got %llu bytes (%c), 100000 were sent",
		     (unsigned long long)count, ok ? ok : '?');
	read_pat(r, fd, 18, 0, 50000);
	expect_eof(r, fd);
out:
	if (fd >= 0)
		end_test(r, fd);
}

/* Half-close from the server: EOF here, while our half still carries
 * data the server checks (it reports failures in its own log). */
static void t_shut_server(struct result *r)
{
	int fd = open_test(r);

	if (fd < 0 || send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 19,
					  .n = 70000, .flags = F_SHUTWR,
					  .expect = 30000)) ||
	    read_pat(r, fd, 19, 0, 70000))
		goto out;
	expect_eof(r, fd);
	if (!(wait_fd(fd, POLLIN, 0) & POLLIN))
		fail(r, "not readable at EOF");
	write_pat(r, fd, 20, 0, 30000);
	check_path(r, fd);
	shutdown(fd, SHUT_WR);
out:
	if (fd >= 0)
		close(fd);
}

static int inq(int fd)
{
	int v = -1;

	return ioctl(fd, FIONREAD, &v) < 0 ? -1 : v;
}

/* FIONREAD counts what a read would get. */
static void t_fionread(struct result *r)
{
	uint64_t end = now_ms() + WAIT_MS;
	int fd = open_test(r), v = 0;

	if (fd < 0 || send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 21,
					  .n = 5000)))
		goto out;
	while ((v = inq(fd)) < 5000 && v >= 0 && now_ms() < end)
		msleep(2);
	if (v != 5000)
		fail(r, "FIONREAD %d, expected 5000", v);
	read_pat(r, fd, 21, 0, 2000);
	v = inq(fd);
	if (v != 3000)
		fail(r, "FIONREAD %d after reading 2000, expected 3000", v);
	read_pat(r, fd, 21, 2000, 3000);
	v = inq(fd);
	if (v != 0)
		fail(r, "FIONREAD %d after reading all, expected 0", v);
out:
	if (fd >= 0)
		end_test(r, fd);
}

/* Every name of the socket works; only the last close ends it. */
static void t_dup(struct result *r)
{
	int fd = open_test(r), d, e;

	if (fd < 0)
		return;
	if (send_cmd(r, fd, CMD(.op = OP_RECV, .seed = 22, .n = 30000)) ||
	    write_pat(r, fd, 22, 0, 10000)) {
		close(fd);
		return;
	}
	d = dup(fd);
	close(fd);
	if (d < 0 || write_pat(r, d, 22, 10000, 10000))
		goto out_d;
	e = fcntl(d, F_DUPFD_CLOEXEC, 200);
	close(d);
	if (e < 0 || write_pat(r, e, 22, 20000, 5000))
		goto out_e;
	if (dup2(e, 150) != 150) {
		fail(r, "dup2: %s", strerror(errno));
		goto out_e;
	}
	close(e);
	if (write_pat(r, 150, 22, 25000, 5000) || read_status(r, 150) ||
	    send_cmd(r, 150, CMD(.op = OP_SEND, .seed = 23, .n = 3000)) ||
	    read_pat(r, 150, 23, 0, 3000))
		goto out_150;
	check_path(r, 150);
out_150:
	close(150);
	return;
out_e:
	if (e >= 0)
		close(e);
	return;
out_d:
	if (d >= 0)
		close(d);
}

/* Bounded waitpid: the child's exit status, or -1. */
static int wait_child(pid_t pid, int ms)
{
	uint64_t end = now_ms() + (uint64_t)ms;
	int st;

	do {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128 +
			       WTERMSIG(st);
		msleep(5);
	} while (now_ms() < end);
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

/* The child's half of t_fork: it goes on after the parent's close. */
static int fork_child(struct result *r, int fd)
{
	msleep(150);
	if (write_pat(r, fd, 24, 10000, 10000) || read_status(r, fd) ||
	    send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 25, .n = 4000)) ||
	    read_pat(r, fd, 25, 0, 4000))
		return 1;
	close(fd);
	return 0;
}

/* fork: the parent's close is not the end; the child's is. */
static void t_fork(struct result *r)
{
	int fd = open_test(r), st;
	pid_t pid;

	if (fd < 0 || send_cmd(r, fd, CMD(.op = OP_RECV, .seed = 24,
					  .n = 20000)) ||
	    write_pat(r, fd, 24, 0, 10000))
		goto out;
	check_path(r, fd);
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fail(r, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		st = fork_child(r, fd);
		if (st)
			printf("FAIL fork (child): %s\n", r->why);
		fflush(stdout);
		_exit(st);
	}
	close(fd);
	fd = -1;
	st = wait_child(pid, 3 * WAIT_MS);
	if (st)
		fail(r, "the child failed (status %d)", st);
out:
	if (fd >= 0)
		close(fd);
}

/*
 * fork_turns: parent and child both use the socket, taking turns that a
 * pair of pipes passes between them, so that the stream is one known
 * sequence: turns 0, 2, 4... are the parent's, 1, 3, 5... the child's.
 * Enough turns that the rings wrap: each process must see where the other
 * left the stream (the ring indices are one, not one per process).
 */
#define TURNS		40
#define TURN_BYTES	9000

static int turn_wait(struct result *r, int in)
{
	struct pollfd p = { .fd = in, .events = POLLIN };
	char t;

	if (poll(&p, 1, 3 * WAIT_MS) != 1 || read(in, &t, 1) != 1) {
		fail(r, "the other process never passed the turn");
		return -1;
	}
	return 0;
}

static int turn_pass(struct result *r, int out)
{
	if (write(out, "t", 1) != 1) {
		fail(r, "passing the turn: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* One phase (writing, or reading, pat(seed)) of turns; the parent
 * (me 0) goes first and waits at the end for the child's last turn. */
static int turns(struct result *r, int fd, int me, int in, int out,
		 bool writing, uint8_t seed)
{
	uint64_t off;
	int i, ret;

	for (i = me; i < TURNS; i += 2) {
		if (i && turn_wait(r, in))
			return -1;
		off = (uint64_t)i * TURN_BYTES;
		ret = writing ? write_pat(r, fd, seed, off, TURN_BYTES) :
				read_pat(r, fd, seed, off, TURN_BYTES);
		if (ret || turn_pass(r, out))
			return -1;
	}
	return me ? 0 : turn_wait(r, in);
}

static void t_fork_turns(struct result *r)
{
	int fd = open_test(r), p2c[2] = { -1, -1 }, c2p[2] = { -1, -1 }, st;
	const uint32_t total = TURNS * TURN_BYTES;
	pid_t pid;

	if (fd < 0 || send_cmd(r, fd, CMD(.op = OP_RECV, .seed = 30,
					  .n = total)))
		goto out;
	if (pipe(p2c) || pipe(c2p)) {
		fail(r, "pipe: %s", strerror(errno));
		goto out;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		fail(r, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		st = turns(r, fd, 1, p2c[0], c2p[1], true, 30) ||
		     turns(r, fd, 1, p2c[0], c2p[1], false, 31);
		if (st)
			printf("FAIL fork_turns (child): %s\n", r->why);
		fflush(stdout);
		close(fd);
		_exit(st);
	}
	if (turns(r, fd, 0, c2p[0], p2c[1], true, 30) ||
	    read_status(r, fd) ||
	    send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 31, .n = total)) ||
	    turns(r, fd, 0, c2p[0], p2c[1], false, 31)) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		goto out;
	}
	st = wait_child(pid, 3 * WAIT_MS);
	if (st)
		fail(r, "the child failed (status %d)", st);
	/* the counts are the connection's: both processes' bytes */
	r->sent = r->rcvd = total;
	check_path(r, fd);
out:
	if (fd >= 0)
		close(fd);
	for (st = 0; st < 2; st++) {
		if (p2c[st] >= 0)
			close(p2c[st]);
		if (c2p[st] >= 0)
			close(c2p[st]);
	}
}

/*
 * closeall: a program that closes every fd it did not open, as daemons
 * and process managers do: a close() sweep, close_range() and closefrom()
 * around its socket, then dup2() onto numbers it never opened. Its
 * socket must go on as before, on the ring.
 */
static void t_closeall(struct result *r)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int fd = open_test(r), i, null, ep = -1;

	if (fd < 0)
		return;
	for (i = 3; i < 1024; i++)
		if (i != fd)
			close(i);
	if ((fd > 3 && close_range(3, (unsigned int)fd - 1, 0)) ||
	    close_range((unsigned int)fd + 1, ~0u, 0)) {
		fail(r, "close_range: %s", strerror(errno));
		goto out;
	}
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (null < 0 || ep < 0) {
		fail(r, "open /dev/null, epoll_create1: %s", strerror(errno));
		goto out;
	}
	/* watched by epoll while the library's fds move under it */
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) ||
	    epoll_wait(ep, &ev, 1, 0) < 0)
		fail(r, "epoll: %s", strerror(errno));
	/* numbers the program never opened, where the library keeps its own */
	for (i = 500; i < 700; i++)
		if (i != fd && i != null && i != ep && dup2(null, i) != i)
			fail(r, "dup2 onto %d: %s", i, strerror(errno));
	for (i = 500; i < 700; i++)
		if (i != fd && i != null && i != ep)
			close(i);
	close(null);
	if (send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 35, .n = 1000)))
		goto out;
	if (epoll_wait(ep, &ev, 1, WAIT_MS) != 1 || !(ev.events & EPOLLIN))
		fail(r, "epoll_wait: not readable after the moves");
	if (read_pat(r, fd, 35, 0, 1000))
		goto out;
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, &ev);
	close(ep);
	ep = -1;
	if (send_cmd(r, fd, CMD(.op = OP_RECV, .seed = 32, .n = 300000)) ||
	    write_pat(r, fd, 32, 0, 300000) || read_status(r, fd) ||
	    send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 33, .n = 300000)) ||
	    read_pat(r, fd, 33, 0, 300000))
		goto out;
	closefrom(fd + 1);
	if (send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 34, .n = 300000)))
		goto out;
	read_pat(r, fd, 34, 0, 300000);
out:
	if (ep >= 0)
		close(ep);
	end_test(r, fd);
}

/*
 * oob: urgent data on a direction that is on the ring. The ring stream
 * ends where the urgent byte goes (the direction goes on through the
 * kernel for good), and the server gets the bytes before it, the byte
 * with recv(MSG_OOB), and the bytes after, as over TCP. The other
 * direction stays on its ring.
 */
static void t_oob(struct result *r)
{
	struct xl_sock_info in;
	int fd = open_test(r);

	if (fd < 0 || send_cmd(r, fd, CMD(.op = OP_URG, .seed = 36,
					  .n = 200000, .expect = 100000)) ||
	    write_pat(r, fd, 36, 0, 200000))
		goto out;
	if (expect_ring && (sock_info(fd, &in) < 0 || in.ring_tx < 200000))
		fail(r, "the bytes before the urgent one were not on the ring");
	if (send(fd, "!", 1, MSG_OOB) != 1) {
		fail(r, "send(MSG_OOB): %s", strerror(errno));
		goto out;
	}
	if (write_pat(r, fd, 37, 0, 100000) || read_status(r, fd) ||
	    send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 38, .n = 100000)) ||
	    read_pat(r, fd, 38, 0, 100000))
		goto out;
	if (expect_ring && (sock_info(fd, &in) < 0 || in.ring_rx < 100000))
		fail(r, "the server's direction left its ring");
out:
	if (fd >= 0)
		close(fd);
}

/* EPIPE after our own SHUT_WR, with SIGPIPE unless MSG_NOSIGNAL. */
static void t_sigpipe(struct result *r)
{
	struct iovec iov = { "x", 1 };
	int fd = open_test(r);

	if (fd < 0)
		return;
	catch_signal(SIGPIPE, on_sigpipe, true);
	sigpipes = 0;
	shutdown(fd, SHUT_WR);
	if (write(fd, "x", 1) != -1 || errno != EPIPE || sigpipes != 1)
		fail(r, "write: %s, %d SIGPIPE; expected EPIPE and 1",
		     strerror(errno), (int)sigpipes);
	if (send(fd, "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE ||
	    sigpipes != 1)
		fail(r, "send(MSG_NOSIGNAL): %s, %d SIGPIPE; expected EPIPE "
		     "and none more", strerror(errno), (int)sigpipes);
	if (writev(fd, &iov, 1) != -1 || errno != EPIPE || sigpipes != 2)
		fail(r, "writev: %s, %d SIGPIPE; expected EPIPE and 2",
		     strerror(errno), (int)sigpipes);
	ignore_sigpipe();
	end_test(r, fd);
}

/* The server closes: EOF here, then writes fail with EPIPE or
 * ECONNRESET (no signal with MSG_NOSIGNAL), then EPIPE and SIGPIPE. */
static void t_peerclose(struct result *r)
{
	char buf[1000] = { 0 };
	int fd = open_test(r), i, err = 0;

	if (fd < 0 || send_cmd(r, fd, CMD(.op = OP_CLOSE)))
		goto out;
	expect_eof(r, fd);
	catch_signal(SIGPIPE, on_sigpipe, true);
	sigpipes = 0;
	for (i = 0; i < 100 && !err; i++) {
		if (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) < 0)
			err = errno;
		else
			msleep(10);
	}
	if ((err != EPIPE && err != ECONNRESET) || sigpipes)
		fail(r, "writes to a closed peer: %s, %d SIGPIPE",
		     err ? errname(err) : "no error", (int)sigpipes);
	if (write(fd, buf, sizeof(buf)) != -1 || errno != EPIPE ||
	    sigpipes != 1)
		fail(r, "then write: %s, %d SIGPIPE; expected EPIPE and 1",
		     strerror(errno), (int)sigpipes);
	ignore_sigpipe();
out:
	if (fd >= 0)
		close(fd);
}

/* The server closes with our bytes unread: the kernel resets the
 * connection, and our read says so. */
static void t_reset(struct result *r)
{
	char c;
	int fd = open_test(r);
	ssize_t n;

	if (fd < 0 || send_cmd(r, fd, CMD(.op = OP_CLOSE, .expect = 5000)) ||
	    write_pat(r, fd, 26, 0, 5000))
		goto out;
	check_path(r, fd);
	n = read(fd, &c, 1);
	if (n != -1 || errno != ECONNRESET)
		fail(r, "read after the peer closed with data unread: %zd "
		     "(%s), expected ECONNRESET", n, n ? strerror(errno) :
		     "EOF");
out:
	if (fd >= 0)
		close(fd);
}

/* EOF stays EOF, and is readable. */
static void t_eof(struct result *r)
{
	char c;
	int fd = open_test(r);

	if (fd < 0 || send_cmd(r, fd, CMD(.op = OP_SEND, .seed = 27,
					  .n = 10000, .flags = F_CLOSE)) ||
	    read_pat(r, fd, 27, 0, 10000))
		goto out;
	expect_eof(r, fd);
	if (!(wait_fd(fd, POLLIN, 0) & POLLIN))
		fail(r, "not readable at EOF");
	if (recv(fd, &c, 1, MSG_DONTWAIT) != 0)
		fail(r, "recv(MSG_DONTWAIT) at EOF: %s", strerror(errno));
out:
	if (fd >= 0)
		end_test(r, fd);
}

/* Ends the server (not in the default list). */
static void t_quit(struct result *r)
{
	int fd = open_test(r);
	char c;

	if (fd >= 0 && read(fd, &c, 1) != 0)
		fail(r, "the server did not close");
	if (fd >= 0)
		close(fd);
}

static const struct test {
	const char *name;
	void (*fn)(struct result *r);
	bool by_default;
} tests[] = {
	{ "bulk", t_bulk, true },
	{ "nbconnect", t_nbconnect, true },
	{ "refused", t_refused, true },
	{ "poll", t_poll, true },
	{ "select", t_select, true },
	{ "epoll_lt", t_epoll_lt, true },
	{ "epoll_et", t_epoll_et, true },
	{ "peek", t_peek, true },
	{ "waitall", t_waitall, true },
	{ "dontwait", t_dontwait, true },
	{ "nonblock", t_nonblock, true },
	{ "iov", t_iov, true },
	{ "shut_client", t_shut_client, true },
	{ "shut_server", t_shut_server, true },
	{ "fionread", t_fionread, true },
	{ "dup", t_dup, true },
	{ "fork", t_fork, true },
	{ "fork_turns", t_fork_turns, true },
	{ "closeall", t_closeall, true },
	{ "oob", t_oob, true },
	{ "sigpipe", t_sigpipe, true },
	{ "peerclose", t_peerclose, true },
	{ "reset", t_reset, true },
	{ "eof", t_eof, true },
	{ "quit", t_quit, false },
};

#define NTESTS	(sizeof(tests) / sizeof(tests[0]))

static bool run_test(const struct test *t)
{
	struct result r = { .name = t->name };
	uint64_t t0 = now_ms();

	t->fn(&r);
	if (r.failed)
		printf("FAIL %s: %s\n", t->name, r.why);
	else
		printf("PASS %s (%llu ms)\n", t->name,
		       (unsigned long long)(now_ms() - t0));
	fflush(stdout);
	return !r.failed;
}

static int client_main(int argc, char **argv)
{
	bool ok = true, found;
	size_t i;
	int a;

	ignore_sigpipe();
	if (argc == 0) {
		for (i = 0; i < NTESTS; i++)
			if (tests[i].by_default)
				ok &= run_test(&tests[i]);
		return ok ? 0 : 1;
	}
	for (a = 0; a < argc; a++) {
		found = false;
		for (i = 0; i < NTESTS; i++) {
			if (!strcmp(argv[a], tests[i].name)) {
				ok &= run_test(&tests[i]);
				found = true;
			}
		}
		if (!found) {
			fprintf(stderr, "semantics: no test %s\n", argv[a]);
			ok = false;
		}
	}
	return ok ? 0 : 1;
}

/* ---- source and sink (killpeer.sh) ---- */

static void print_info(const char *who, int fd)
{
	struct xl_sock_info in;

	if (sock_info(fd, &in) < 0)
		memset(&in, 0, sizeof(in));
	printf("%s info state=%u ring_tx=%llu ring_rx=%llu tcp_tx=%llu "
	       "tcp_rx=%llu\n", who, in.state,
	       (unsigned long long)in.ring_tx, (unsigned long long)in.ring_rx,
	       (unsigned long long)in.tcp_tx, (unsigned long long)in.tcp_rx);
}

/* Bytes so far, and how many of them each path carried. */
static void print_progress(int fd, uint64_t off)
{
	struct xl_sock_info in;

	if (sock_info(fd, &in) < 0)
		memset(&in, 0, sizeof(in));
	printf("progress %llu tcp %llu ring %llu\n", (unsigned long long)off,
	       (unsigned long long)(in.tcp_tx + in.tcp_rx),
	       (unsigned long long)(in.ring_tx + in.ring_rx));
}

/* "connect ADDR PORT" or "listen PORT": a connected socket, or -1. */
static int stream_open(int argc, char **argv, int *used)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, lfd;

	/* the process to kill: a wrapper's pid would not do */
	printf("pid %d\n", (int)getpid());
	if (argc >= 3 && !strcmp(argv[0], "connect")) {
		srv_addr = argv[1];
		*used = 3;
		len = srv_sockaddr(&ss, atoi(argv[2]));
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&ss, len) == 0)
			return fd;
		perror("semantics: connect");
		return -1;
	}
	if (argc >= 2 && !strcmp(argv[0], "listen")) {
		*used = 2;
		lfd = listen_on(atoi(argv[1]));
		printf("listening %s\n", argv[1]);
		fflush(stdout);
		fd = lfd < 0 ? -1 : accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			perror("semantics: listen/accept");
		if (lfd >= 0)
			close(lfd);
		return fd;
	}
	return -1;
}

/* Write pat(0x5a) until the limit (0: none), SIGTERM, or an error. */
static int source_main(int argc, char **argv)
{
	static uint8_t buf[CHUNK];
	uint64_t off = 0, limit = 0, next = PROGRESS_STEP;
	int fd, used = 0, err = 0;
	ssize_t n;

	catch_signal(SIGPIPE, on_sigpipe, true);
	catch_signal(SIGTERM, on_stop, false);
	fd = stream_open(argc, argv, &used);
	if (fd < 0)
		return 2;
	if (argc > used)
		limit = strtoull(argv[used], NULL, 0);
	while (!stop_flag && (!limit || off < limit)) {
		n = CHUNK;
		if (limit && limit - off < CHUNK)
			n = (ssize_t)(limit - off);
		fill(buf, (size_t)n, off, 0x5a);
		n = write(fd, buf, (size_t)n);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			break;
		}
		off += (uint64_t)n;
		if (off >= next) {
			print_progress(fd, off);
			next += PROGRESS_STEP;
		}
	}
	print_info("source", fd);
	if (!err)
		shutdown(fd, SHUT_WR);
	printf("source end sent=%llu err=%s sigpipe=%d\n",
	       (unsigned long long)off, err ? errname(err) : "none",
	       (int)sigpipes);
	close(fd);
	return 0;
}

/* Read and check pat(0x5a) until EOF or an error. */
static int sink_main(int argc, char **argv)
{
	static uint8_t buf[CHUNK];
	uint64_t off = 0, next = PROGRESS_STEP;
	long long bad = -1;
	int fd, used = 0, err = 0;
	ssize_t n;

	ignore_sigpipe();
	fd = stream_open(argc, argv, &used);
	if (fd < 0)
		return 2;
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n ? errno : 0;
			break;
		}
		if (bad < 0)
			bad = check(buf, (size_t)n, off, 0x5a);
		off += (uint64_t)n;
		if (off >= next) {
			print_progress(fd, off);
			next += PROGRESS_STEP;
		}
	}
	print_info("sink", fd);
	printf("sink end recv=%llu end=%s data=%s", (unsigned long long)off,
	       err ? errname(err) : "eof", bad < 0 ? "ok" : "bad");
	if (bad >= 0)
		printf("@%lld", bad);
	printf("\n");
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 4 && !strcmp(argv[1], "server")) {
		expect_ring = !strcmp(argv[3], "ring");
		return server_main(atoi(argv[2]));
	}
	if (argc >= 5 && !strcmp(argv[1], "client")) {
		srv_addr = argv[2];
		srv_port = atoi(argv[3]);
		expect_ring = !strcmp(argv[4], "ring");
		return client_main(argc - 5, argv + 5);
	}
	if (argc >= 3 && !strcmp(argv[1], "source"))
		return source_main(argc - 2, argv + 2);
	if (argc >= 3 && !strcmp(argv[1], "sink"))
		return sink_main(argc - 2, argv + 2);
	fprintf(stderr, "usage: semantics server PORT ring|tcp\n"
		"       semantics client ADDR PORT ring|tcp [TEST...]\n"
		"       semantics source connect ADDR PORT|listen PORT "
		"[LIMIT]\n"
		"       semantics sink connect ADDR PORT|listen PORT\n");
	return 2;
}
