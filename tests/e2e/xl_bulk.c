/* SPDX-License-Identifier: MIT */
/*
 * Byte-exact bulk transfer in both directions at once on one TCP
 * connection, for tests/e2e/bulk.sh. Each end runs a sender and a
 * receiver thread on the same socket. The sender writes the stream of
 * xl_pattern.h in calls of random kind (write, send, writev, sendmsg) and
 * size, from single bytes to megabytes cut into many iovec pieces; the
 * receiver reads in calls of random kind (read, recv, readv, recvmsg,
 * MSG_WAITALL, MSG_PEEK) and size, and checks every byte against the
 * stream at its offset. Any difference is reported with its offset.
 *
 *	xl_bulk -l ADDR PORT [options]	accept one connection
 *	xl_bulk -c ADDR PORT [options]	connect (retrying until it listens)
 *	  -n BYTES  stream length in each direction (default 1 GiB)
 *	  -s SEED   stream seed (the server sends SEED + 1)
 *	  -r SEED   seed of the call sizes and kinds (default: the clock)
 *	  -R        the library must have carried both directions on the
 *	            ring (XL_SO_INFO)
 *	  -t SECS   give up after SECS seconds (default 120)
 *
 * Prints one line of results; exits 0 only if both directions were whole.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../../preload/xl_query.h"
#include "xl_pattern.h"

#define XL_BULK_MAXCALL	(1u << 20)	/* largest single call */
#define XL_BULK_MAXIOV	64

struct xl_bulk {
	int fd;
	uint64_t len;
	uint64_t tx_seed, rx_seed;
	uint64_t rnd;		/* call sizes and kinds, per thread copy */
	uint64_t done;		/* bytes sent or checked */
	uint64_t calls;
	const char *err;	/* NULL: fine */
	char msg[200];
};

static double xl_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t xl_rand(uint64_t *st)
{
	*st += 1;
	return xl_pat_word(0x5eed, *st);
}

/* A call size: mostly large, sometimes tiny, sometimes a single byte. */
static size_t xl_pick_len(uint64_t *st)
{
	uint64_t r = xl_rand(st);

	switch (r & 15) {
	case 0:
		return 1;
	case 1:
	case 2:
		return 1 + (r >> 8) % 256;
	case 3:
		return 1 + (r >> 8) % 65536;
	default:
		return 1 + (r >> 8) % XL_BULK_MAXCALL;
	}
}

/* Cut buf[0, len) into pieces of random length, empty ones included. */
static int xl_cut(uint64_t *st, uint8_t *buf, size_t len, struct iovec *iov)
{
	int n = 1 + (int)(xl_rand(st) % XL_BULK_MAXIOV), i;
	size_t left = len, k;

	for (i = 0; i < n - 1 && left; i++) {
		k = xl_rand(st) % (2 * left / (size_t)(n - i) + 1);
		iov[i].iov_base = buf + (len - left);
		iov[i].iov_len = k;
		left -= k;
	}
	iov[i].iov_base = buf + (len - left);
	iov[i].iov_len = left;
	return i + 1;
}

static void *xl_fail_at(struct xl_bulk *b, const char *what)
{
	snprintf(b->msg, sizeof(b->msg), "%s at offset %" PRIu64 ": %s",
		 what, b->done, strerror(errno));
	b->err = b->msg;
	return NULL;
}

static ssize_t xl_send_some(struct xl_bulk *b, uint8_t *buf, size_t len)
{
	struct iovec iov[XL_BULK_MAXIOV];
	struct msghdr m = { .msg_iov = iov };
	uint64_t r = xl_rand(&b->rnd);

	switch (r % 4) {
	case 0:
		return write(b->fd, buf, len);
	case 1:
		return send(b->fd, buf, len, MSG_NOSIGNAL);
	case 2:
		return writev(b->fd, iov, xl_cut(&b->rnd, buf, len, iov));
	default:
		m.msg_iovlen = (size_t)xl_cut(&b->rnd, buf, len, iov);
		return sendmsg(b->fd, &m, MSG_NOSIGNAL);
	}
}

static void *xl_sender(void *arg)
{
	struct xl_bulk *b = arg;
	uint8_t *buf = malloc(XL_BULK_MAXCALL);
	size_t len;
	ssize_t n;

	if (!buf)
		return xl_fail_at(b, "malloc");
	while (b->done < b->len) {
		len = xl_pick_len(&b->rnd);
		if (len > b->len - b->done)
			len = (size_t)(b->len - b->done);
		xl_pat_fill(b->tx_seed, b->done, buf, len);
		n = xl_send_some(b, buf, len);
		b->calls++;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return xl_fail_at(b, "send");
		}
		b->done += (uint64_t)n;
	}
	free(buf);
	if (shutdown(b->fd, SHUT_WR) < 0)
		return xl_fail_at(b, "shutdown");
	return NULL;
}

static ssize_t xl_recv_some(struct xl_bulk *b, uint8_t *buf, size_t len,
			    bool *peek)
{
	struct iovec iov[XL_BULK_MAXIOV];
	struct msghdr m = { .msg_iov = iov };
	uint64_t r = xl_rand(&b->rnd);

	*peek = false;
	switch (r % 6) {
	case 0:
		return read(b->fd, buf, len);
	case 1:
		return recv(b->fd, buf, len, 0);
	case 2:
		return readv(b->fd, iov, xl_cut(&b->rnd, buf, len, iov));
	case 3:
		m.msg_iovlen = (size_t)xl_cut(&b->rnd, buf, len, iov);
		return recvmsg(b->fd, &m, 0);
	case 4:
		return recv(b->fd, buf, len, MSG_WAITALL);
	default:
		*peek = true;
		return recv(b->fd, buf, len, MSG_PEEK);
	}
}

/* n bytes received at b->done (not consumed if peek): are they right? */
static bool xl_verify(struct xl_bulk *b, const uint8_t *buf, size_t n,
		      bool peek)
{
	size_t bad = xl_pat_check(b->rx_seed, b->done, buf, n);
	uint64_t off = b->done + bad;

	if (bad == n)
		return true;
	snprintf(b->msg, sizeof(b->msg),
		 "wrong byte at offset %" PRIu64 " (%s of %zu at %" PRIu64
		 "): got 0x%02x, expected 0x%02x", off, peek ? "peek" : "read",
		 n, b->done, buf[bad], xl_pat_byte(b->rx_seed, off));
	b->err = b->msg;
	return false;
}

static void *xl_receiver(void *arg)
{
	struct xl_bulk *b = arg;
	uint8_t *buf = malloc(XL_BULK_MAXCALL);
	ssize_t n;
	bool peek;

	if (!buf)
		return xl_fail_at(b, "malloc");
	for (;;) {
		n = xl_recv_some(b, buf, xl_pick_len(&b->rnd), &peek);
		b->calls++;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			xl_fail_at(b, "receive");
			break;
		}
		if (n == 0)
			break;
		if (!xl_verify(b, buf, (size_t)n, peek))
			break;
		if (!peek)
			b->done += (uint64_t)n;
	}
	free(buf);
	if (!b->err && b->done != b->len) {
		snprintf(b->msg, sizeof(b->msg), "the stream ended at offset %"
			 PRIu64 " of %" PRIu64, b->done, b->len);
		b->err = b->msg;
	}
	return NULL;
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
	fprintf(stderr, "xl_bulk: bad address %s\n", host);
	return -1;
}

static int xl_listen_accept(const struct sockaddr_storage *ss, socklen_t len)
{
	int one = 1, lfd, fd;

	lfd = socket(ss->ss_family, SOCK_STREAM, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (const struct sockaddr *)ss, len) < 0 ||
	    listen(lfd, 1) < 0) {
		perror("xl_bulk: listen");
		return -1;
	}
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		perror("xl_bulk: accept");
	close(lfd);
	return fd;
}

/* The server may not listen yet: try again for a while. */
static int xl_connect_retry(const struct sockaddr_storage *ss, socklen_t len)
{
	int fd, i;

	for (i = 0; i < 100; i++) {
		fd = socket(ss->ss_family, SOCK_STREAM, 0);
		if (fd < 0)
			break;
		if (connect(fd, (const struct sockaddr *)ss, len) == 0)
			return fd;
		close(fd);
		if (errno != ECONNREFUSED)
			break;
		usleep(50000);
	}
	perror("xl_bulk: connect");
	return -1;
}

/* Did the library carry both directions on the ring? */
static bool xl_on_ring(int fd, char *out, size_t outlen)
{
	struct xl_sock_info info;
	socklen_t len = sizeof(info);
	unsigned int both = XL_INFO_TX_RING | XL_INFO_RX_RING;

	if (getsockopt(fd, XL_SOL_XENLOOP, XL_SO_INFO, &info, &len) < 0) {
		snprintf(out, outlen, "no library (%s)", strerror(errno));
		return false;
	}
	snprintf(out, outlen, "state %u flags %#x ring %" PRIu64 "/%" PRIu64
		 " tcp %" PRIu64 "/%" PRIu64 " (tx/rx)", info.state,
		 info.flags, info.ring_tx, info.ring_rx, info.tcp_tx,
		 info.tcp_rx);
	return info.state == XL_INFO_CHAN && (info.flags & both) == both;
}

static void xl_usage(void)
{
	fprintf(stderr, "usage: xl_bulk -l|-c ADDR PORT [-n BYTES] "
		"[-s SEED] [-r SEED] [-R] [-t SECS]\n");
	exit(2);
}

struct xl_opts {
	bool server, need_ring;
	const char *host, *port;
	uint64_t len, seed, rnd;
	unsigned int secs;
};

static void xl_parse(int argc, char **argv, struct xl_opts *o)
{
	int c;

	*o = (struct xl_opts){ .len = 1ull << 30, .seed = 1, .secs = 120 };
	o->rnd = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	while ((c = getopt(argc, argv, "lcn:s:r:Rt:")) != -1) {
		switch (c) {
		case 'l':
			o->server = true;
			break;
		case 'c':
			break;
		case 'n':
			o->len = strtoull(optarg, NULL, 0);
			break;
		case 's':
			o->seed = strtoull(optarg, NULL, 0);
			break;
		case 'r':
			o->rnd = strtoull(optarg, NULL, 0);
			break;
		case 'R':
			o->need_ring = true;
			break;
		case 't':
			o->secs = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		default:
			xl_usage();
		}
	}
	if (argc - optind != 2)
		xl_usage();
	o->host = argv[optind];
	o->port = argv[optind + 1];
}

static int xl_run(const struct xl_opts *o, int fd)
{
	struct xl_bulk tx = { .fd = fd, .len = o->len, .rnd = o->rnd };
	struct xl_bulk rx = { .fd = fd, .len = o->len, .rnd = ~o->rnd };
	pthread_t tt, rt;
	char info[200];
	bool ring;
	double t0 = xl_now(), dt;

	tx.tx_seed = o->server ? o->seed + 1 : o->seed;
	rx.rx_seed = o->server ? o->seed : o->seed + 1;
	if (pthread_create(&tt, NULL, xl_sender, &tx) ||
	    pthread_create(&rt, NULL, xl_receiver, &rx)) {
		fprintf(stderr, "xl_bulk: cannot start threads\n");
		return 1;
	}
	pthread_join(tt, NULL);
	pthread_join(rt, NULL);
	dt = xl_now() - t0;
	ring = xl_on_ring(fd, info, sizeof(info));
	close(fd);
	printf("xl_bulk %s: sent %" PRIu64 " in %" PRIu64 " calls, checked %"
	       PRIu64 " in %" PRIu64 " calls, %.2f s (%.2f Gbit/s each way), "
	       "rnd seed %" PRIu64 "; %s\n", o->server ? "server" : "client",
	       tx.done, tx.calls, rx.done, rx.calls, dt,
	       (double)o->len * 8 / dt / 1e9, o->rnd, info);
	if (tx.err)
		fprintf(stderr, "xl_bulk: sending: %s\n", tx.err);
	if (rx.err)
		fprintf(stderr, "xl_bulk: receiving: %s\n", rx.err);
	if (o->need_ring && !ring)
		fprintf(stderr, "xl_bulk: not on the ring both ways: %s\n",
			info);
	return tx.err || rx.err || (o->need_ring && !ring);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	struct xl_opts o;
	socklen_t len;
	int fd;

	xl_parse(argc, argv, &o);
	if (xl_addr(o.host, o.port, &ss, &len) < 0)
		return 2;
	/* a hang is a failure, not a stuck test suite */
	alarm(o.secs);
	signal(SIGPIPE, SIG_IGN);
	fd = o.server ? xl_listen_accept(&ss, len) : xl_connect_retry(&ss, len);
	if (fd < 0)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	return xl_run(&o, fd);
}
