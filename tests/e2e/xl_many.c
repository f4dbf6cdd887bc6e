/* SPDX-License-Identifier: MIT */
/*
 * Many concurrent connections, each byte-exact, for tests/e2e/manyconn.sh.
 * The client opens all of them with nonblocking connect()s; when every
 * one is established and has its channel (XL_SO_INFO: until then bytes go
 * through the kernel and would say nothing about the rings), it starts
 * the transfer on all at once: on each, an 8-byte header with the
 * connection's number and then BYTES of the stream of xl_pattern.h (seed
 * 2 * number); the server answers each with BYTES of the stream of seed
 * 2 * number + 1. Both ends check every byte where it
 * lands, in calls of random size. The client is driven by edge-triggered
 * epoll, the server by level-triggered epoll with EPOLLOUT switched on
 * and off, so both kinds of readiness are exercised with many sockets in
 * one instance. At the end each socket must say (XL_SO_INFO) that both of
 * its directions went through the ring.
 *
 *	xl_many -l ADDR PORT [options]	serve N connections, then exit
 *	xl_many -c ADDR PORT [options]	open N connections
 *	  -n N      connections (default 200)
 *	  -b BYTES  per connection and direction (default 1 MiB)
 *	  -r SEED   seed of the call sizes (default: the clock)
 *	  -t SECS   give up after SECS seconds (default 120)
 *	  -T        do not wait for the channels nor check that the bytes went
 *	            by the rings (the library is not there)
 *	  -H SECS   client: once every stream has arrived whole, hold every
 *	            connection open and idle for SECS before the shutdowns
 *	            ("xl_many hold" and "xl_many held" on stdout mark the
 *	            idle time, for bench/xlscale to measure)
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../preload/xl_query.h"
#include "xl_pattern.h"

#define XL_MANY_HDR	8
#define XL_MANY_CALL	(64u << 10)	/* largest single call */
#define XL_MANY_EVENTS	64

struct xl_conn {
	int fd;
	uint32_t id;		/* UINT32_MAX: not known yet (server) */
	uint8_t hdr[XL_MANY_HDR];
	uint64_t tx, rx;	/* stream offsets, header included */
	uint64_t tx_len, rx_len;
	uint64_t tx_seed, rx_seed;
	uint64_t rnd;
	uint32_t events;	/* server: what epoll watches */
	bool connected, shut, eof, closed, idle;
};

struct xl_many {
	bool server;
	uint32_t n, done, connected, failed, offring;
	uint64_t bytes, rnd;
	unsigned int secs, hold;
	uint32_t nidle;		/* client: streams over both ways */
	bool no_wait, holding;
	double t_open, t_chan;	/* all connected, all with a channel */
	const char *host, *port;
	int ep, lfd;
	struct xl_conn *c;
	uint8_t *buf;
};

static double xl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t xl_pick_len(uint64_t *st)
{
	uint64_t r = xl_pat_word(0x3a9e, ++*st);

	if ((r & 15) == 0)
		return 1;
	return 1 + (r >> 8) % XL_MANY_CALL;
}

static void xl_conn_fail(struct xl_many *m, struct xl_conn *c,
			 const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void xl_conn_fail(struct xl_many *m, struct xl_conn *c,
			 const char *fmt, ...)
{
	va_list ap;

	if (m->failed++ < 10) {
		fprintf(stderr, "xl_many %s: connection %" PRIu32 ": ",
			m->server ? "server" : "client", c->id);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	if (!c->closed) {
		close(c->fd);
		c->closed = true;
		m->done++;
	}
}

/* The client's stream: its header, then the pattern. */
static void xl_tx_fill(const struct xl_many *m, const struct xl_conn *c,
		       uint8_t *buf, size_t len)
{
	uint64_t off = c->tx;
	size_t i = 0;

	if (!m->server) {
		for (; i < len && off + i < XL_MANY_HDR; i++)
			buf[i] = (uint8_t)((uint64_t)c->id >> (8 * (off + i)));
		off = off + i - XL_MANY_HDR;
	}
	xl_pat_fill(c->tx_seed, off, buf + i, len - i);
}

/* Level-triggered: watch only what there is to do, or a socket at its end
 * of stream or with nothing to send wakes the server for ever. */
static void xl_set_events(struct xl_many *m, struct xl_conn *c, bool out)
{
	struct epoll_event ev = { .data.ptr = c };

	if (!m->server)
		return;
	ev.events = (c->eof ? 0 : EPOLLIN) | (out ? EPOLLOUT : 0);
	if (ev.events != c->events &&
	    epoll_ctl(m->ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = ev.events;
}

/* Send what the socket takes. Returns false when it failed. */
static bool xl_pump_tx(struct xl_many *m, struct xl_conn *c)
{
	size_t len;
	ssize_t n;

	while (c->tx < c->tx_len) {
		len = xl_pick_len(&c->rnd);
		if (len > c->tx_len - c->tx)
			len = (size_t)(c->tx_len - c->tx);
		xl_tx_fill(m, c, m->buf, len);
		n = send(c->fd, m->buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EAGAIN) {
			xl_set_events(m, c, true);
			return true;
		}
		if (n <= 0) {
			xl_conn_fail(m, c, "send at %" PRIu64 ": %s", c->tx,
				     strerror(errno));
			return false;
		}
		c->tx += (uint64_t)n;
		if (m->server)
			break;	/* level-triggered: one call per event */
	}
	if (c->tx == c->tx_len && !c->shut && !m->holding) {
		xl_set_events(m, c, false);
		if (shutdown(c->fd, SHUT_WR) < 0) {
			xl_conn_fail(m, c, "shutdown: %s", strerror(errno));
			return false;
		}
		c->shut = true;
	}
	return true;
}

/* The server learns which connection this is from the header. */
static bool xl_take_header(struct xl_many *m, struct xl_conn *c,
			   const uint8_t *p, size_t n)
{
	uint64_t id = 0;
	size_t i;

	memcpy(c->hdr + c->rx, p, n);
	if (c->rx + n < XL_MANY_HDR)
		return true;
	for (i = 0; i < XL_MANY_HDR; i++)
		id |= (uint64_t)c->hdr[i] << (8 * i);
	if (id >= m->n) {
		xl_conn_fail(m, c, "bad header %#" PRIx64, id);
		return false;
	}
	c->id = (uint32_t)id;
	c->rx_seed = 2 * id;
	c->tx_seed = 2 * id + 1;
	c->rnd ^= id << 32;
	xl_set_events(m, c, true);
	return true;
}

/* Check n received bytes; false (and the connection failed) if wrong. */
static bool xl_rx_check(struct xl_many *m, struct xl_conn *c,
			const uint8_t *p, size_t n)
{
	size_t h = 0, bad;
	uint64_t off;

	if (m->server && c->rx < XL_MANY_HDR) {
		h = XL_MANY_HDR - c->rx < n ? XL_MANY_HDR - c->rx : n;
		if (!xl_take_header(m, c, p, h))
			return false;
	}
	off = c->rx + h - (m->server ? XL_MANY_HDR : 0);
	bad = xl_pat_check(c->rx_seed, off, p + h, n - h);
	if (bad != n - h) {
		xl_conn_fail(m, c, "wrong byte at offset %" PRIu64
			     ": got 0x%02x, expected 0x%02x", off + bad,
			     p[h + bad], xl_pat_byte(c->rx_seed, off + bad));
		return false;
	}
	c->rx += n;
	return true;
}

/* Both directions went through the ring (the library's own account). */
static void xl_check_ring(struct xl_many *m, struct xl_conn *c)
{
	struct xl_sock_info info;
	socklen_t len = sizeof(info);
	unsigned int both = XL_INFO_TX_RING | XL_INFO_RX_RING;

	if (getsockopt(c->fd, XL_SOL_XENLOOP, XL_SO_INFO, &info, &len) < 0) {
		if (m->offring++ < 5)
			fprintf(stderr, "xl_many: connection %" PRIu32
				": no library (%s)\n", c->id, strerror(errno));
		return;
	}
	if (info.state == XL_INFO_CHAN && (info.flags & both) == both)
		return;
	if (m->offring++ < 5)
		fprintf(stderr, "xl_many: connection %" PRIu32 " not on the "
			"ring: state %u flags %#x ring %" PRIu64 "/%" PRIu64
			" tcp %" PRIu64 "/%" PRIu64 "\n", c->id, info.state,
			info.flags, info.ring_tx, info.ring_rx, info.tcp_tx,
			info.tcp_rx);
}

static void xl_finish(struct xl_many *m, struct xl_conn *c)
{
	if (c->closed || !c->eof || !c->shut)
		return;
	if (!m->no_wait)
		xl_check_ring(m, c);
	close(c->fd);
	c->closed = true;
	m->done++;
}

/* Read what is there; false when the connection failed. */
static bool xl_pump_rx(struct xl_many *m, struct xl_conn *c)
{
	ssize_t n;

	while (!c->eof) {
		n = recv(c->fd, m->buf, xl_pick_len(&c->rnd), 0);
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n < 0) {
			xl_conn_fail(m, c, "recv at %" PRIu64 ": %s", c->rx,
				     strerror(errno));
			return false;
		}
		if (n == 0) {
			if (c->rx != c->rx_len) {
				xl_conn_fail(m, c, "the stream ended at %"
					     PRIu64 " of %" PRIu64, c->rx,
					     c->rx_len);
				return false;
			}
			c->eof = true;
			xl_set_events(m, c, c->tx < c->tx_len &&
				      c->id != UINT32_MAX);
			break;
		}
		if (c->rx + (uint64_t)n > c->rx_len) {
			xl_conn_fail(m, c, "%" PRIu64 " bytes more than sent",
				     c->rx + (uint64_t)n - c->rx_len);
			return false;
		}
		if (!xl_rx_check(m, c, m->buf, (size_t)n))
			return false;
		if (m->server)
			break;	/* level-triggered: one call per event */
	}
	return true;
}

static void xl_pump(struct xl_many *m, struct xl_conn *c, uint32_t ev)
{
	/* the server sends once it knows to whom */
	bool can_tx = !m->server || c->id != UINT32_MAX;

	if (c->closed)
		return;
	if ((ev & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !xl_pump_rx(m, c))
		return;
	if ((ev & (EPOLLOUT | EPOLLERR)) && can_tx && !xl_pump_tx(m, c))
		return;
	if (m->holding && !c->idle && c->eof && c->tx == c->tx_len) {
		c->idle = true;
		m->nidle++;
	}
	xl_finish(m, c);
}

static int xl_addr(const char *host, const char *port,
		   struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (void *)ss;
	struct sockaddr_in6 *in6 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)atoi(port));
		*len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)atoi(port));
		*len = sizeof(*in6);
		return 0;
	}
	fprintf(stderr, "xl_many: bad address %s\n", host);
	return -1;
}

static void xl_conn_init(struct xl_many *m, struct xl_conn *c, int fd,
			 uint32_t id)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->id = id;
	c->rnd = m->rnd ^ ((uint64_t)fd << 40) ^ id;
	if (m->server) {
		c->tx_len = m->bytes;
		c->rx_len = m->bytes + XL_MANY_HDR;
	} else {
		c->tx_len = m->bytes + XL_MANY_HDR;
		c->rx_len = m->bytes;
		c->tx_seed = 2 * (uint64_t)id;
		c->rx_seed = 2 * (uint64_t)id + 1;
	}
}

/* ---- server ---- */

static int xl_serve_listen(struct xl_many *m)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	if (xl_addr(m->host, m->port, &ss, &len) < 0)
		return -1;
	m->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (m->lfd < 0 ||
	    setsockopt(m->lfd, SOL_SOCKET, SO_REUSEADDR, &one,
		       sizeof(one)) < 0 ||
	    bind(m->lfd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(m->lfd, (int)m->n) < 0 ||
	    epoll_ctl(m->ep, EPOLL_CTL_ADD, m->lfd, &ev) < 0) {
		perror("xl_many: listen");
		return -1;
	}
	return 0;
}

static void xl_serve_accept(struct xl_many *m)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct xl_conn *c;
	int fd;

	while (m->connected < m->n) {
		fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN)
				perror("xl_many: accept4");
			return;
		}
		c = &m->c[m->connected++];
		xl_conn_init(m, c, fd, UINT32_MAX);
		c->connected = true;
		c->events = ev.events;
		ev.data.ptr = c;
		if (epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			xl_conn_fail(m, c, "epoll_ctl: %s", strerror(errno));
	}
	/* all there: the listener has done its job */
	epoll_ctl(m->ep, EPOLL_CTL_DEL, m->lfd, NULL);
	close(m->lfd);
	m->lfd = -1;
}

/* ---- client ---- */

static int xl_open_all(struct xl_many *m)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET };
	struct sockaddr_storage ss;
	socklen_t len;
	uint32_t i;
	int fd;

	if (xl_addr(m->host, m->port, &ss, &len) < 0)
		return -1;
	for (i = 0; i < m->n; i++) {
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			perror("xl_many: socket");
			return -1;
		}
		xl_conn_init(m, &m->c[i], fd, i);
		if (connect(fd, (struct sockaddr *)&ss, len) < 0 &&
		    errno != EINPROGRESS) {
			fprintf(stderr, "xl_many: connect %" PRIu32 ": %s\n",
				i, strerror(errno));
			return -1;
		}
		ev.data.ptr = &m->c[i];
		if (epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			perror("xl_many: epoll_ctl");
			return -1;
		}
	}
	return 0;
}

/* How many connections have their channel; -1 if one never will. */
static int xl_count_chans(struct xl_many *m)
{
	struct xl_sock_info info;
	socklen_t len;
	uint32_t i;
	int n = 0;

	for (i = 0; i < m->n; i++) {
		len = sizeof(info);
		if (getsockopt(m->c[i].fd, XL_SOL_XENLOOP, XL_SO_INFO, &info,
			       &len) < 0 || info.state == XL_INFO_PLAIN) {
			xl_conn_fail(m, &m->c[i], "no channel (state %u, %s)",
				     info.state, strerror(errno));
			return -1;
		}
		n += info.state == XL_INFO_CHAN;
	}
	return n;
}

/* Let the library take its daemon's answers (epoll_wait() does) until
 * every connection has a channel. */
static int xl_wait_chans(struct xl_many *m)
{
	struct epoll_event ev[XL_MANY_EVENTS];
	int n;

	m->t_open = xl_now();
	while ((n = xl_count_chans(m)) >= 0 && (uint32_t)n < m->n) {
		/* events now are the connect edges: the pumps start anyway */
		epoll_wait(m->ep, ev, XL_MANY_EVENTS, 1);
	}
	m->t_chan = xl_now();
	return n < 0 ? -1 : 0;
}

/* A connect() finished; when the last one has, start on all. */
static void xl_connected(struct xl_many *m, struct xl_conn *c)
{
	socklen_t len = sizeof(int);
	int err = 0;
	uint32_t i;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		xl_conn_fail(m, c, "connect: %s", strerror(err ? err : errno));
		return;
	}
	c->connected = true;
	if (++m->connected < m->n)
		return;
	if (!m->no_wait && xl_wait_chans(m) < 0)
		return;
	/* the connect edges are spent: start every stream by hand */
	for (i = 0; i < m->n; i++)
		xl_pump(m, &m->c[i], EPOLLIN | EPOLLOUT);
}

/* Every stream arrived: hold every connection, idle, under epoll_wait()
 * (where the library sleeps), then let the shutdowns go. */
static void xl_hold(struct xl_many *m)
{
	struct epoll_event ev[XL_MANY_EVENTS];
	double end = xl_now() + m->hold;
	uint32_t i;
	int ms;

	printf("xl_many hold %" PRIu32 "\n", m->nidle);
	fflush(stdout);
	while ((ms = (int)((end - xl_now()) * 1000)) > 0)
		epoll_wait(m->ep, ev, XL_MANY_EVENTS, ms);
	printf("xl_many held\n");
	fflush(stdout);
	m->holding = false;
	for (i = 0; i < m->n; i++)
		xl_pump(m, &m->c[i], EPOLLOUT);
}

/* ---- both ---- */

static int xl_loop(struct xl_many *m)
{
	struct epoll_event ev[XL_MANY_EVENTS];
	struct xl_conn *c;
	int n, i;

	while (m->done < m->n) {
		/* a client with a failed connection never starts */
		if (!m->server && m->failed)
			return -1;
		if (m->holding && m->nidle == m->n) {
			xl_hold(m);
			continue;
		}
		n = epoll_wait(m->ep, ev, XL_MANY_EVENTS, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("xl_many: epoll_wait");
			return -1;
		}
		for (i = 0; i < n; i++) {
			c = ev[i].data.ptr;
			if (!c)
				xl_serve_accept(m);
			else if (!c->connected && !c->closed)
				xl_connected(m, c);
			else if (m->connected == m->n)
				xl_pump(m, c, ev[i].events);
		}
	}
	return 0;
}

/* Room for every socket and its channel's descriptors. */
static void xl_raise_nofile(uint32_t n)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)n * 16 + 256;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want;
	if (rl.rlim_max < want) {
		struct rlimit hard = { want, want };

		/* root may raise the ceiling, unless a container keeps
		 * CAP_SYS_RESOURCE: then up to the ceiling */
		if (setrlimit(RLIMIT_NOFILE, &hard) == 0)
			return;
		rl.rlim_cur = rl.rlim_max;
	}
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		perror("xl_many: setrlimit(RLIMIT_NOFILE)");
}

static void xl_usage(void)
{
	fprintf(stderr, "usage: xl_many -l|-c ADDR PORT [-n N] [-b BYTES] "
		"[-r SEED] [-t SECS] [-T] [-H SECS]\n");
	exit(2);
}

static void xl_parse(int argc, char **argv, struct xl_many *m)
{
	int c;

	m->n = 200;
	m->bytes = 1u << 20;
	m->secs = 120;
	m->rnd = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	while ((c = getopt(argc, argv, "lcn:b:r:t:TH:")) != -1) {
		switch (c) {
		case 'l':
			m->server = true;
			break;
		case 'c':
			break;
		case 'n':
			m->n = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'b':
			m->bytes = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			m->rnd = strtoull(optarg, NULL, 0);
			break;
		case 't':
			m->secs = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'T':
			m->no_wait = true;
			break;
		case 'H':
			m->hold = (unsigned int)strtoul(optarg, NULL, 0);
			m->holding = m->hold > 0;
			break;
		default:
			xl_usage();
		}
	}
	if (argc - optind != 2 || !m->n || (m->server && m->hold))
		xl_usage();
	m->host = argv[optind];
	m->port = argv[optind + 1];
}

int main(int argc, char **argv)
{
	struct xl_many m = { .lfd = -1 };
	double t0;
	int ret;

	xl_parse(argc, argv, &m);
	/* a hang is a failure, not a stuck test suite */
	alarm(m.secs);
	signal(SIGPIPE, SIG_IGN);
	xl_raise_nofile(m.n);
	m.c = calloc(m.n, sizeof(*m.c));
	m.buf = malloc(XL_MANY_CALL);
	m.ep = epoll_create1(EPOLL_CLOEXEC);
	if (!m.c || !m.buf || m.ep < 0) {
		perror("xl_many");
		return 1;
	}
	t0 = xl_now();
	ret = m.server ? xl_serve_listen(&m) : xl_open_all(&m);
	if (ret == 0)
		ret = xl_loop(&m);
	printf("xl_many %s: %" PRIu32 " connections, %" PRIu32 " failed, %"
	       PRIu32 " not on the ring, %" PRIu64 " bytes each way each, "
	       "%.2f s, rnd seed %" PRIu64, m.server ? "server" : "client",
	       m.connected, m.failed, m.offring, m.bytes, xl_now() - t0,
	       m.rnd);
	if (m.t_chan > 0)
		printf("; connected in %.3f s, channels %.3f s later",
		       m.t_open - t0, m.t_chan - m.t_open);
	printf("\n");
	close(m.ep);
	free(m.buf);
	free(m.c);
	return ret < 0 || m.failed || m.offring;
}
