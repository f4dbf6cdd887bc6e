/* SPDX-License-Identifier: MIT */
/*
 * Connections until EMFILE, for tests/e2e/fdlimit.sh: the library must not
 * leave a program fewer descriptors of its own than it gets without it
 * (ARCHITECTURE.md invariant 7).
 *
 * The client sets its RLIMIT_NOFILE, then opens connections one after the
 * other until socket() fails. On each, before the next, it exchanges
 * small messages with the echo server (bytes of the stream of
 * xl_pattern.h, seed = the connection's number, each checked where it
 * lands) until the library has settled the socket (a channel, or TCP for
 * good), so that every channel the library takes is taken while the
 * program goes on opening. socket() must fail with EMFILE, and then so
 * must open(): the program has every number its limit allows. At the end
 * one more exchange on every connection checks that all of them still
 * carry their streams whole. With -r, the client then raises its soft
 * limit to RAISE and goes on opening connections until EMFILE again (the
 * library must move its descriptors out of the way). It prints
 *
 *	conns N rings R
 *
 * (R: connections with both directions on a ring, 0 without the library).
 *
 *	xl_fdlimit -l ADDR PORT [-t SECS]	echo server, until SECS
 *	xl_fdlimit -c ADDR PORT -n SOFT -N HARD [-r RAISE] [-t SECS]
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../preload/xl_query.h"
#include "xl_pattern.h"

#define XL_FDL_MSG	512		/* bytes per exchange */
#define XL_FDL_ROUNDS	400		/* most exchanges to settle a socket */
#define XL_FDL_MAXFD	65536

struct xl_fdl_conn {
	int fd;
	uint64_t off;			/* bytes of the stream exchanged */
};

static void xl_die(const char *what)
{
	fprintf(stderr, "xl_fdlimit: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void xl_addr(struct sockaddr_in *sin, const char *addr, int port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) {
		fprintf(stderr, "xl_fdlimit: bad address %s\n", addr);
		exit(2);
	}
}

/* ---- the echo server ---- */

static void xl_echo(struct pollfd *p)
{
	char buf[4096];
	ssize_t n = read(p->fd, buf, sizeof(buf)), w, off = 0;

	if (n <= 0) {
		close(p->fd);
		p->fd = -1;
		return;
	}
	while (off < n) {
		w = write(p->fd, buf + off, (size_t)(n - off));
		if (w < 0)
			xl_die("server write");
		off += w;
	}
}

static int xl_serve(const char *addr, int port, int secs)
{
	static struct pollfd p[XL_FDL_MAXFD];
	struct sockaddr_in sin;
	struct rlimit rl;
	time_t end = time(NULL) + secs;
	int ls, one = 1, fd, i, n = 1;

	/* all the clients' connections at once, whatever the shell's limit */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	xl_addr(&sin, addr, port);
	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 ||
	    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(ls, 1024) < 0)
		xl_die("listen");
	p[0] = (struct pollfd){ .fd = ls, .events = POLLIN };
	while (time(NULL) < end) {
		if (poll(p, (nfds_t)n, 200) < 0 && errno != EINTR)
			xl_die("poll");
		for (i = 1; i < n; i++)
			if (p[i].fd >= 0 && p[i].revents)
				xl_echo(&p[i]);
		/* closed ones out (poll() refuses more than the limit) */
		for (i = 1; i < n; i++)
			if (p[i].fd < 0)
				p[i--] = p[--n];
		if (!(p[0].revents & POLLIN) || n == XL_FDL_MAXFD)
			continue;
		fd = accept(ls, NULL, NULL);
		if (fd < 0)
			xl_die("accept");
		p[n++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	return 0;
}

/* ---- the client ---- */

/* One exchange: XL_FDL_MSG bytes there and back, checked. */
static void xl_exchange(struct xl_fdl_conn *c, uint64_t seed)
{
	uint8_t out[XL_FDL_MSG], in[XL_FDL_MSG], want[XL_FDL_MSG];
	size_t got = 0;
	ssize_t n;

	xl_pat_fill(seed, c->off, out, sizeof(out));
	if (write(c->fd, out, sizeof(out)) != (ssize_t)sizeof(out))
		xl_die("client write");
	while (got < sizeof(in)) {
		n = read(c->fd, in + got, sizeof(in) - got);
		if (n <= 0) {
			fprintf(stderr, "xl_fdlimit: connection %llu: %s\n",
				(unsigned long long)seed,
				n ? strerror(errno) : "early end of stream");
			exit(1);
		}
		got += (size_t)n;
	}
	xl_pat_fill(seed, c->off, want, sizeof(want));
	if (memcmp(in, want, sizeof(in))) {
		fprintf(stderr, "xl_fdlimit: connection %llu: wrong bytes "
			"after offset %llu\n", (unsigned long long)seed,
			(unsigned long long)c->off);
		exit(1);
	}
	c->off += sizeof(out);
}

/* 0 without the library (the kernel does not know the level) */
static unsigned int xl_state(int fd, bool *ring)
{
	struct xl_sock_info info;
	socklen_t len = sizeof(info);
	unsigned int both = XL_INFO_TX_RING | XL_INFO_RX_RING;

	*ring = false;
	if (getsockopt(fd, XL_SOL_XENLOOP, XL_SO_INFO, &info, &len) < 0)
		return 0;
	*ring = info.state == XL_INFO_CHAN && (info.flags & both) == both;
	return info.state;
}

/* Exchange until the library has settled the socket. */
static void xl_settle(struct xl_fdl_conn *c, uint64_t seed)
{
	struct timespec ms = { 0, 1000000 };
	unsigned int i, st;
	bool ring;

	for (i = 0; i < XL_FDL_ROUNDS; i++) {
		xl_exchange(c, seed);
		st = xl_state(c->fd, &ring);
		if (st != XL_INFO_CONNECTING && st != XL_INFO_PENDING &&
		    (st != XL_INFO_CHAN || ring))
			return;
		nanosleep(&ms, NULL);
	}
}

static int xl_open_one(struct xl_fdl_conn *c, const struct sockaddr_in *sin)
{
	c->off = 0;
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, (const struct sockaddr *)sin, sizeof(*sin)) < 0)
		xl_die("connect");
	return 0;
}

static struct xl_fdl_conn xl_conns[XL_FDL_MAXFD];

/* Open connections from *n on until EMFILE; 0, or 1 on another failure. */
static int xl_fill(const struct sockaddr_in *sin, unsigned int *n)
{
	struct xl_fdl_conn *c = xl_conns;
	int ret;

	while (*n < XL_FDL_MAXFD && (ret = xl_open_one(&c[*n], sin)) == 0) {
		xl_settle(&c[*n], *n);
		(*n)++;
	}
	if (*n == XL_FDL_MAXFD || ret != -EMFILE) {
		fprintf(stderr, "xl_fdlimit: socket() after %u: %s\n", *n,
			strerror(-ret));
		return 1;
	}
	errno = 0;
	if (open("/dev/null", O_RDONLY) >= 0 || errno != EMFILE) {
		fprintf(stderr, "xl_fdlimit: open() at the limit: %s\n",
			strerror(errno));
		return 1;
	}
	return 0;
}

static int xl_client(const char *addr, int port, unsigned long soft,
		     unsigned long hard, unsigned long raise)
{
	struct rlimit rl = { .rlim_cur = soft, .rlim_max = hard }, got;
	struct xl_fdl_conn *c = xl_conns;
	struct sockaddr_in sin;
	unsigned int n = 0, i, rings = 0;
	bool ring;

	xl_addr(&sin, addr, port);
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		xl_die("setrlimit");
	if (xl_fill(&sin, &n))
		return 1;
	if (raise) {
		rl.rlim_cur = raise;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			xl_die("setrlimit");
		if (getrlimit(RLIMIT_NOFILE, &got) < 0 ||
		    got.rlim_cur != raise || got.rlim_max != hard) {
			fprintf(stderr, "xl_fdlimit: getrlimit() does not "
				"give back the limit set\n");
			return 1;
		}
		if (xl_fill(&sin, &n))
			return 1;
	}
	for (i = 0; i < n; i++) {
		xl_exchange(&c[i], i);
		xl_state(c[i].fd, &ring);
		rings += ring;
	}
	for (i = 0; i < n; i++)
		close(c[i].fd);
	printf("conns %u rings %u\n", n, rings);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long soft = 256, hard = 4096, raise = 0;
	const char *addr = NULL;
	int opt, secs = 60, serve = -1;

	while ((opt = getopt(argc, argv, "l:c:n:N:r:t:")) != -1) {
		switch (opt) {
		case 'l':
		case 'c':
			serve = opt == 'l';
			addr = optarg;
			break;
		case 'n':
			soft = strtoul(optarg, NULL, 0);
			break;
		case 'N':
			hard = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			raise = strtoul(optarg, NULL, 0);
			break;
		case 't':
			secs = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (serve < 0 || optind + 1 != argc) {
		fprintf(stderr, "usage: xl_fdlimit -l|-c ADDR [-n SOFT] "
			"[-N HARD] [-r RAISE] [-t SECS] PORT\n");
		return 2;
	}
	alarm((unsigned int)secs + 5);
	if (serve)
		return xl_serve(addr, atoi(argv[optind]), secs);
	return xl_client(addr, atoi(argv[optind]), soft, hard, raise);
}
