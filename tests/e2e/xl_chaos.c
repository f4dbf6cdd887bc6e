/* SPDX-License-Identifier: MIT */
/*
 * Many connections streaming checked data both ways for a while, for
 * tests/e2e/chaos.sh, which meanwhile takes their rings away in every way
 * it can (issue 14). Connection i carries, after an 8-byte header with i
 * from the client, the stream of xl_pattern.h with seed 2i from the
 * client and 2i + 1 from the server; every byte is checked where it
 * lands, so a lost, duplicated or reordered byte names its offset.
 *
 * Four kinds of connection, by i % 4, on both ends:
 *   0  nonblocking, all of them in one level-triggered epoll loop;
 *   1  blocking, a sender and a receiver thread each;
 *   2  the same, but the receiver looks at each piece with MSG_PEEK
 *      first and then reads it (both checked);
 *   3  the same as 1, but mostly idle: a small piece now and then, so
 *      that its receivers sleep in their reads when the ring goes.
 * Senders write calls of random size (1 byte to 64 KiB) at a bounded
 * rate each, for the given time, then shut down writing; receivers read
 * to the end of stream. Any error (a reset above all) is a failure.
 *
 *	xl_chaos -l ADDR PORT [options]	accept N connections
 *	xl_chaos -c ADDR PORT [options]	open N connections
 *	  -n N     connections (default 100)
 *	  -d SECS  how long to send (default 60)
 *	  -k KIB   KiB per second per connection and direction (default 256)
 *	  -t SECS  give up after SECS in all (default 240)
 *
 * Prints "conn I tx BYTES rx BYTES" for each connection, then
 * "total tx T rx R ring_tx A ring_rx B errors E"; exits 0 only without
 * errors.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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

#define XL_HDR		8
#define XL_CALL		(64u << 10)

struct xl_c {
	int fd;
	uint32_t id, kind;
	uint64_t tx, rx, tx_seed, rx_seed, rnd, rrnd;
	bool shut, eof, want_out;
	struct xl_sock_info info;
};

static struct {
	bool server;
	uint32_t n;
	unsigned int secs, limit;
	uint64_t rate;		/* bytes per second per direction */
	double t0;
	struct xl_c *c;
	atomic_uint errors;
} g = { .n = 100, .secs = 60, .limit = 240, .rate = 256 << 10 };

static double xl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void xl_err(struct xl_c *c, const char *what, uint64_t off, int err)
{
	if (atomic_fetch_add(&g.errors, 1) < 20)
		fprintf(stderr, "xl_chaos %s: connection %u (kind %u): %s at "
			"%" PRIu64 ": %s\n", g.server ? "server" : "client",
			c->id, c->kind, what, off, err ? strerror(err) : "-");
}

static size_t xl_len(uint64_t *st)
{
	uint64_t r = xl_pat_word(0xc4a05, ++*st);

	if ((r & 7) == 0)
		return 1 + (r >> 8) % 16;
	return 1 + (r >> 8) % XL_CALL;
}

/* Bytes the sender may have sent by now, or UINT64_MAX once it is time
 * to stop. */
static uint64_t xl_allowed(void)
{
	double t = xl_now() - g.t0;

	if (t >= g.secs)
		return UINT64_MAX;
	return (uint64_t)(t * (double)g.rate) + 4096;
}

static bool xl_check(struct xl_c *c, const uint8_t *p, size_t n,
		     uint64_t off)
{
	uint8_t want[4096];
	size_t i, k;

	for (i = 0; i < n; i += k) {
		k = n - i < sizeof(want) ? n - i : sizeof(want);
		xl_pat_fill(c->rx_seed, off + i, want, k);
		if (memcmp(want, p + i, k)) {
			size_t j = 0;

			while (j < k && want[j] == p[i + j])
				j++;
			xl_err(c, "wrong byte", off + i + j, 0);
			return false;
		}
	}
	return true;
}

/* One send of the next piece; returns bytes sent, 0 (would block, or
 * nothing to send yet), -1 on error or when done. */
static ssize_t xl_send_some(struct xl_c *c, uint8_t *buf, int flags)
{
	uint64_t allowed = xl_allowed();
	size_t len;
	ssize_t n;

	if (allowed == UINT64_MAX) {
		if (!c->shut && shutdown(c->fd, SHUT_WR) < 0)
			xl_err(c, "shutdown", c->tx, errno);
		c->shut = true;
		return -1;
	}
	if (c->tx >= allowed)
		return 0;
	len = xl_len(&c->rnd);
	if (len > allowed - c->tx)
		len = (size_t)(allowed - c->tx);
	xl_pat_fill(c->tx_seed, c->tx, buf, len);
	n = send(c->fd, buf, len, flags | MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0) {
		xl_err(c, "send", c->tx, errno);
		c->shut = true;
		return -1;
	}
	c->tx += (uint64_t)n;
	return n;
}

/* One receive (a peek first for kind 2); returns bytes, 0 at the end of
 * stream, -1 on error, -2 would block. */
static ssize_t xl_recv_some(struct xl_c *c, uint8_t *buf, uint8_t *pbuf,
			    int flags)
{
	size_t len = xl_len(&c->rrnd);
	ssize_t n, p = -1;

	if (c->kind == 2) {
		p = recv(c->fd, pbuf, len, MSG_PEEK | flags);
		if (p > 0 && !xl_check(c, pbuf, (size_t)p, c->rx))
			return -1;
		if (p > 0)
			len = (size_t)p;
	}
	n = recv(c->fd, buf, len, flags);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -2;
	if (n < 0) {
		xl_err(c, "recv", c->rx, errno);
		return -1;
	}
	if (n == 0) {
		if (p > 0)
			xl_err(c, "end of stream after a peek", c->rx, 0);
		return p > 0 ? -1 : 0;
	}
	if (p > 0 && n != p)
		xl_err(c, "read differs from the peek", c->rx, 0);
	if (!xl_check(c, buf, (size_t)n, c->rx))
		return -1;
	c->rx += (uint64_t)n;
	return n;
}

static void *xl_tx_thread(void *arg)
{
	struct xl_c *c = arg;
	uint8_t *buf = malloc(XL_CALL);
	struct timespec nap = { 0, 5000000 };
	ssize_t n;

	while (buf && (n = xl_send_some(c, buf, 0)) >= 0) {
		/* kind 3: idle for a while after each piece */
		nap.tv_nsec = c->kind == 3 ? 100000000 *
			      (long)(1 + xl_pat_word(7, c->tx) % 9) : 5000000;
		if (n == 0 || c->kind == 3)
			nanosleep(&nap, NULL);
	}
	free(buf);
	return NULL;
}

static void *xl_rx_thread(void *arg)
{
	struct xl_c *c = arg;
	uint8_t *buf = malloc(XL_CALL), *pbuf = malloc(XL_CALL);
	ssize_t n;

	do {
		n = buf && pbuf ? xl_recv_some(c, buf, pbuf, 0) : -1;
	} while (n > 0 || n == -2);
	c->eof = n == 0;
	free(buf);
	free(pbuf);
	return NULL;
}

static void xl_set_out(int ep, struct xl_c *c, bool out)
{
	struct epoll_event ev = { .data.ptr = c };

	if (out == c->want_out)
		return;
	ev.events = (c->eof ? 0 : EPOLLIN) | (out ? EPOLLOUT : 0);
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->want_out = out;
}

/* Every kind-0 connection, one loop. */
static void *xl_epoll_thread(void *arg)
{
	struct epoll_event ev, evs[64];
	uint8_t *buf = malloc(XL_CALL), *pbuf = malloc(XL_CALL);
	uint32_t i, live = 0;
	struct xl_c *c;
	ssize_t n;
	int ep, k, j;

	(void)arg;
	ep = epoll_create1(EPOLL_CLOEXEC);
	for (i = 0; i < g.n; i++) {
		c = &g.c[i];
		if (c->kind)
			continue;
		fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
		ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = c };
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		live += 2;	/* its sending and its receiving */
	}
	while (live && buf && pbuf && xl_now() - g.t0 < g.limit) {
		k = epoll_wait(ep, evs, 64, 5);
		for (j = 0; j < k; j++) {
			c = evs[j].data.ptr;
			if (c->eof || !(evs[j].events & (EPOLLIN | EPOLLHUP |
							  EPOLLERR)))
				continue;
			do {
				n = xl_recv_some(c, buf, pbuf, 0);
			} while (n > 0);
			if (n == 0 || n == -1) {
				c->eof = true;
				live--;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			}
		}
		for (i = 0; i < g.n; i++) {
			c = &g.c[i];
			if (c->kind || c->shut)
				continue;
			while ((n = xl_send_some(c, buf, 0)) > 0)
				;
			if (n < 0)
				live--;
			else if (!c->eof)
				xl_set_out(ep, c, n == 0 &&
					   c->tx < xl_allowed());
		}
	}
	if (live)
		fprintf(stderr, "xl_chaos: epoll loop gave up with %u ends "
			"open\n", live);
	for (i = 0; live && i < g.n; i++)
		if (!g.c[i].kind && !g.c[i].eof)
			xl_err(&g.c[i], "no end of stream", g.c[i].rx, 0);
	close(ep);
	free(buf);
	free(pbuf);
	return NULL;
}

static int xl_open(const char *addr, const char *port, int *lfd)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd, one = 1, tries;

	sin.sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		return -1;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (g.server) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    listen(fd, 1024) < 0)
			return -1;
		*lfd = fd;
		return 0;
	}
	for (tries = 0; tries < 100; tries++) {
		if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
			return fd;
		usleep(50000);
	}
	close(fd);
	return -1;
}

static bool xl_full(int fd, void *p, size_t n, bool tx)
{
	ssize_t k;
	size_t done = 0;

	while (done < n) {
		k = tx ? send(fd, (char *)p + done, n - done, MSG_NOSIGNAL) :
			 recv(fd, (char *)p + done, n - done, 0);
		if (k <= 0)
			return false;
		done += (size_t)k;
	}
	return true;
}

/* Set up connection slots: the client numbers its own; the server learns
 * the number from the header. */
static int xl_connect_all(const char *addr, const char *port)
{
	uint8_t hdr[XL_HDR];
	uint64_t id;
	uint32_t i;
	int lfd = -1, fd, k;

	if (g.server && xl_open(addr, port, &lfd) < 0)
		return -1;
	if (g.server)
		printf("listening\n"), fflush(stdout);
	for (i = 0; i < g.n; i++) {
		fd = g.server ? accept4(lfd, NULL, NULL, SOCK_CLOEXEC) :
				xl_open(addr, port, NULL);
		if (fd < 0)
			return -1;
		id = i;
		if (!g.server) {
			for (k = 0; k < XL_HDR; k++)
				hdr[k] = (uint8_t)(id >> (8 * k));
			if (!xl_full(fd, hdr, XL_HDR, true))
				return -1;
		} else {
			if (!xl_full(fd, hdr, XL_HDR, false))
				return -1;
			for (id = 0, k = 0; k < XL_HDR; k++)
				id |= (uint64_t)hdr[k] << (8 * k);
			if (id >= g.n || g.c[id].fd >= 0)
				return -1;
		}
		g.c[id].fd = fd;
	}
	if (lfd >= 0)
		close(lfd);
	return 0;
}

static void xl_report(void)
{
	uint64_t tx = 0, rx = 0, rtx = 0, rrx = 0;
	socklen_t len;
	uint32_t i;

	for (i = 0; i < g.n; i++) {
		struct xl_c *c = &g.c[i];

		len = sizeof(c->info);
		if (getsockopt(c->fd, XL_SOL_XENLOOP, XL_SO_INFO, &c->info,
			       &len) < 0)
			memset(&c->info, 0, sizeof(c->info));
		printf("conn %u tx %" PRIu64 " rx %" PRIu64 "\n", i, c->tx,
		       c->rx);
		tx += c->tx;
		rx += c->rx;
		rtx += c->info.ring_tx;
		rrx += c->info.ring_rx;
		if (!c->eof)
			xl_err(c, "no end of stream", c->rx, 0);
		close(c->fd);
	}
	printf("total tx %" PRIu64 " rx %" PRIu64 " ring_tx %" PRIu64
	       " ring_rx %" PRIu64 " errors %u\n", tx, rx, rtx, rrx,
	       atomic_load(&g.errors));
}

int main(int argc, char **argv)
{
	pthread_t *th, ep;
	const char *addr, *port;
	uint32_t i, nth = 0;
	int opt;

	while ((opt = getopt(argc, argv, "lcn:d:k:t:")) != -1) {
		switch (opt) {
		case 'l': g.server = true; break;
		case 'c': g.server = false; break;
		case 'n': g.n = (uint32_t)atoi(optarg); break;	/* >= 4 */
		case 'd': g.secs = (unsigned int)atoi(optarg); break;
		case 'k': g.rate = (uint64_t)atoi(optarg) << 10; break;
		case 't': g.limit = (unsigned int)atoi(optarg); break;
		default: return 2;
		}
	}
	if (optind + 2 != argc || !g.n) {
		fprintf(stderr, "usage: xl_chaos -l|-c ADDR PORT [-n N] "
			"[-d SECS] [-k KIB] [-t SECS]\n");
		return 2;
	}
	addr = argv[optind];
	port = argv[optind + 1];
	signal(SIGPIPE, SIG_IGN);
	alarm(g.limit + 30);	/* a hang is a failure, never a stuck test */
	g.c = calloc(g.n, sizeof(*g.c));
	th = calloc(2 * g.n, sizeof(*th));
	if (!g.c || !th)
		return 1;
	for (i = 0; i < g.n; i++) {
		g.c[i] = (struct xl_c){ .fd = -1, .id = i, .kind = i % 4,
					.tx_seed = 2 * i + g.server,
					.rx_seed = 2 * i + !g.server,
					.rnd = (uint64_t)i << 32 | g.server,
					.rrnd = (uint64_t)i << 33 | 7 };
	}
	if (xl_connect_all(addr, port) < 0) {
		perror("xl_chaos: connections");
		return 1;
	}
	printf("connected %u\n", g.n);
	fflush(stdout);
	g.t0 = xl_now();
	for (i = 0; i < g.n; i++) {
		if (!g.c[i].kind)
			continue;
		if (pthread_create(&th[nth++], NULL, xl_tx_thread, &g.c[i]) ||
		    pthread_create(&th[nth++], NULL, xl_rx_thread, &g.c[i])) {
			fprintf(stderr, "xl_chaos: no thread\n");
			return 1;
		}
	}
	if (pthread_create(&ep, NULL, xl_epoll_thread, NULL))
		return 1;
	pthread_join(ep, NULL);
	for (i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	xl_report();
	free(th);
	free(g.c);
	return atomic_load(&g.errors) ? 1 : 0;
}
