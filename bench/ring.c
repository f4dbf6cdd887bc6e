/* SPDX-License-Identifier: MIT */
/*
 * bench/ring: the channel benchmark.
 *
 * This process and one forked child per transport talk over four
 * transports: the xenloop ring over the local transport with
 * spin-then-sleep waiting, the same ring sleeping only (spin budget 0), TCP
 * over 127.0.0.1 with TCP_NODELAY, and a Unix stream socketpair. For each
 * it measures the round trip of 64-byte messages (p50 and p99) and
 * streaming throughput with 64 KiB writes, then prints one table, or one
 * JSON object, with the ratios of the ring against TCP.
 *
 * How this works
 *
 * The parent drives and times; the children echo and consume. The parent
 * sits on one CPU and every child on another (when there are two), the
 * same for every transport, so the comparison is between transports and
 * not between placements. The measurement is split into rounds, and each
 * round runs every transport in turn, starting with a different one each
 * time: on a shared or virtual machine whose speed drifts, every transport
 * then sees the same drift. Latency percentiles are over the round trips
 * of all rounds; throughput is the median of the rounds.
 *
 * Stream data is a fixed pseudo-random 64 KiB pattern whose first word is
 * replaced by a running chunk number. A child receives whole chunks, checks
 * every chunk number, compares the first slice of each run byte for byte
 * with the pattern and sums every 64-bit word it receives; it ends each run
 * with the chunk count and the sum, which the parent checks against what it
 * sent and which stops the clock. A transport that loses, repeats or
 * corrupts data therefore fails the benchmark instead of producing a
 * number. Every blocking call has a timeout, children die with the parent
 * (PR_SET_PDEATHSIG) and are always reaped, killed after a bound.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xl_chan.h"

#define BENCH_MSG		64u	/* ping-pong message bytes */
#define BENCH_MSG_WORDS		(BENCH_MSG / 8)
#define BENCH_CHUNK		65536u	/* stream write and read size */
#define BENCH_CHUNK_WORDS	(BENCH_CHUNK / 8)
#define BENCH_CHUNKS_PER_MIB	(1048576u / BENCH_CHUNK)
#define BENCH_ORDER_DEFAULT	18u	/* 256 KiB per direction */
#define BENCH_ROUNDS_DEFAULT	5u
#define BENCH_ROUNDS_MAX	32u
/* Bound on one wait of the parent, which always has work in flight. */
#define BENCH_IO_TIMEOUT_MS	10000
/* Bound on one wait of a child, which idles while the others run. */
#define BENCH_IDLE_TIMEOUT_MS	60000
#define BENCH_REAP_MS		10000	/* bound on a child's exit */

enum bench_kind {
	BENCH_RING_SPIN,
	BENCH_RING_SLEEP,
	BENCH_TCP,
	BENCH_UNIX,
	BENCH_NKINDS
};

static const char *const bench_name[BENCH_NKINDS] = {
	"ring(spin)", "ring(sleep)", "tcp", "unix"
};
/* JSON member names; "ring" is the spin mode, the product default. */
static const char *const bench_key[BENCH_NKINDS] = {
	"ring", "ring_sleep", "tcp", "unix"
};

enum bench_metric { BENCH_P50, BENCH_P99, BENCH_MBPS, BENCH_NMETRICS };

static const char *const bench_metric_label[BENCH_NMETRICS] = {
	"pingpong p50 ns", "pingpong p99 ns", "stream MB/s"
};
static const char *const bench_metric_key[BENCH_NMETRICS] = {
	"pingpong_p50_ns", "pingpong_p99_ns", "stream_MBps"
};
static const char *const bench_ratio_key[BENCH_NMETRICS] = {
	"pingpong_p50_tcp_over_ring", "pingpong_p99_tcp_over_ring",
	"stream_ring_over_tcp"
};

struct bench_cfg {
	uint32_t order;
	uint32_t spin_ns;
	unsigned int rounds;
	unsigned long round_iters, warm_iters;	/* ping-pong */
	unsigned long round_chunks, warm_chunks; /* 64 KiB writes */
	unsigned long verify_chunks;		/* per run, byte for byte */
	int cpu[2];				/* parent, children, or -1 */
	bool json, quick;
};

/* What one transport needs set up before the fork. */
struct bench_conn {
	int lfd;				/* tcp: listener */
	int sv[2];				/* unix: the pair */
	struct xl_chan *ch;			/* ring: side A */
	struct xl_chan_desc desc;		/* ring: for side B */
	struct sockaddr_in addr;		/* tcp: where lfd listens */
};

/* One process's end of a connection. */
struct bench_ep {
	const char *name;
	int fd;
	struct xl_chan *ch;
	int timeout_ms;
};

/* One transport under test, as the parent sees it. */
struct bench_peer {
	enum bench_kind kind;
	struct bench_ep ep;
	pid_t pid;				/* the child, 0 if none */
	uint64_t msgs;				/* ping-pong messages sent */
	uint64_t seq;				/* stream chunks so far */
	uint64_t *lat;				/* timed round trips (ns) */
	unsigned long nlat;
	double mbps[BENCH_ROUNDS_MAX];		/* stream, per round */
	double metric[BENCH_NMETRICS];
	struct xl_chan_stats stats;		/* ring: the parent's side */
};

static struct bench_cfg cfg;
static struct bench_peer bench_peers[BENCH_NKINDS];
static pid_t bench_parent;
/* The stream pattern; word 0 of each chunk carries the chunk number. */
static uint64_t bench_pat[BENCH_CHUNK_WORDS];
static uint64_t bench_pat_sum;		/* sum of pattern words 1.. */
/* Each process's own stream buffer (sender: pattern, receiver: sink). */
static uint64_t bench_buf[BENCH_CHUNK_WORDS] __attribute__((aligned(64)));

static uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int bench_err(const char *who, const char *what, int err)
{
	/* a child's peer going away is the parent's failure, told there */
	if (getpid() != bench_parent && err == -ECONNRESET)
		return err;
	fprintf(stderr, "bench/ring: %s: %s: %s\n", who, what, strerror(-err));
	return err;
}

static int bench_mismatch(const char *who, const char *what,
			  unsigned long long where)
{
	fprintf(stderr, "bench/ring: %s: data mismatch: %s at %llu\n", who,
		what, where);
	return -EBADMSG;
}

static void bench_pattern_init(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	unsigned int i;

	/* xorshift64: data that a shifted or stale copy cannot match */
	bench_pat_sum = 0;
	for (i = 0; i < BENCH_CHUNK_WORDS; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		bench_pat[i] = x;
		if (i)
			bench_pat_sum += x;
	}
}

/* ---- I/O: all or nothing, every wait bounded ---- */

static ssize_t bench_sock_io(int fd, void *p, size_t len, bool tx)
{
	ssize_t n = tx ? write(fd, p, len) : read(fd, p, len);

	if (n >= 0)
		return n;
	/* SO_SNDTIMEO / SO_RCVTIMEO expired */
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return -ETIMEDOUT;
	return -errno;
}

static ssize_t bench_ring_io(struct bench_ep *ep, void *p, size_t len,
			     bool tx)
{
	struct iovec iov = { .iov_base = p, .iov_len = len };

	if (tx)
		return xl_chan_send(ep->ch, &iov, 1, 0, ep->timeout_ms);
	return xl_chan_recv(ep->ch, &iov, 1, XL_CHAN_WAITALL, ep->timeout_ms);
}

static int bench_io(struct bench_ep *ep, void *buf, size_t len, bool tx)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		if (ep->ch)
			n = bench_ring_io(ep, p, len, tx);
		else
			n = bench_sock_io(ep->fd, p, len, tx);
		if (n == -EINTR)
			continue;
		if (n < 0)
			return (int)n;
		/* a socket read of 0 is end of stream, and so is a ring's */
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int bench_send(struct bench_ep *ep, const void *buf, size_t len)
{
	return bench_io(ep, (void *)buf, len, true);
}

static int bench_recv(struct bench_ep *ep, void *buf, size_t len)
{
	return bench_io(ep, buf, len, false);
}

/* ---- the parent's side: drive and time ---- */

/* n round trips; with timed, each one's duration goes into peer->lat. */
static int bench_pingpong(struct bench_peer *pe, unsigned long n, bool timed)
{
	uint64_t msg[BENCH_MSG_WORDS], back[BENCH_MSG_WORDS], t0;
	unsigned long i;
	int ret;

	memcpy(msg, bench_pat, sizeof(msg));
	for (i = 0; i < n; i++, pe->msgs++) {
		msg[0] = pe->msgs;
		t0 = bench_now_ns();
		ret = bench_send(&pe->ep, msg, sizeof(msg));
		if (ret == 0)
			ret = bench_recv(&pe->ep, back, sizeof(back));
		if (ret < 0)
			return bench_err(pe->ep.name, "pingpong", ret);
		if (timed)
			pe->lat[pe->nlat++] = bench_now_ns() - t0;
		if (memcmp(msg, back, sizeof(msg)))
			return bench_mismatch(pe->ep.name,
					      "pingpong echo, message", pe->msgs);
	}
	return 0;
}

/* Send `chunks` writes of 64 KiB; *secs runs until the receiver's answer. */
static int bench_source(struct bench_peer *pe, unsigned long chunks,
			double *secs)
{
	uint64_t ack[2], want = 0, t0 = bench_now_ns();
	unsigned long k;
	int ret;

	memcpy(bench_buf, bench_pat, sizeof(bench_buf));
	for (k = 0; k < chunks; k++, pe->seq++) {
		bench_buf[0] = pe->seq;
		want += pe->seq;
		ret = bench_send(&pe->ep, bench_buf, BENCH_CHUNK);
		if (ret < 0)
			return bench_err(pe->ep.name, "stream send", ret);
	}
	ret = bench_recv(&pe->ep, ack, sizeof(ack));
	if (ret < 0)
		return bench_err(pe->ep.name, "stream answer", ret);
	*secs = (double)(bench_now_ns() - t0) / 1e9;
	want += (uint64_t)chunks * bench_pat_sum;
	if (ack[0] != chunks)
		return bench_mismatch(pe->ep.name, "chunks received", ack[0]);
	if (ack[1] != want)
		return bench_mismatch(pe->ep.name, "stream checksum, chunk",
				      pe->seq);
	return 0;
}

/* Untimed: grows TCP's windows, faults in the ring's pages, and gets the
 * child's first wait (and the ring's spin budget) into steady state. */
static int bench_warm(struct bench_peer *pe)
{
	double secs;
	int ret = bench_pingpong(pe, cfg.warm_iters, false);

	return ret < 0 ? ret : bench_source(pe, cfg.warm_chunks, &secs);
}

static int bench_round(struct bench_peer *pe, unsigned int r)
{
	double secs;
	int ret = bench_pingpong(pe, cfg.round_iters, true);

	if (ret == 0)
		ret = bench_source(pe, cfg.round_chunks, &secs);
	if (ret == 0)
		pe->mbps[r] = (double)cfg.round_chunks * BENCH_CHUNK / secs /
			      1e6;
	return ret;
}

/* Every transport warms up, then each round runs each transport once,
 * rotating which goes first. */
static int bench_measure(void)
{
	unsigned int r, j;
	int ret;

	for (j = 0; j < BENCH_NKINDS; j++) {
		ret = bench_warm(&bench_peers[j]);
		if (ret < 0)
			return ret;
	}
	for (r = 0; r < cfg.rounds; r++) {
		for (j = 0; j < BENCH_NKINDS; j++) {
			ret = bench_round(&bench_peers[(r + j) % BENCH_NKINDS],
					  r);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static int bench_dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int bench_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of a sorted array. */
static double bench_pct(const uint64_t *v, unsigned long n, unsigned int pct)
{
	unsigned long rank = (n * pct + 99) / 100;

	return (double)v[rank ? rank - 1 : 0];
}

static void bench_summarise(struct bench_peer *pe)
{
	double m[BENCH_ROUNDS_MAX];
	unsigned int n = cfg.rounds;

	qsort(pe->lat, pe->nlat, sizeof(*pe->lat), bench_u64_cmp);
	pe->metric[BENCH_P50] = bench_pct(pe->lat, pe->nlat, 50);
	pe->metric[BENCH_P99] = bench_pct(pe->lat, pe->nlat, 99);
	memcpy(m, pe->mbps, n * sizeof(m[0]));
	qsort(m, n, sizeof(m[0]), bench_dbl_cmp);
	pe->metric[BENCH_MBPS] = n % 2 ? m[n / 2] :
					 (m[n / 2 - 1] + m[n / 2]) / 2;
	if (pe->ep.ch)
		xl_chan_get_stats(pe->ep.ch, &pe->stats);
}

/* ---- a child's side: echo and consume ---- */

static int bench_echo(struct bench_ep *ep, unsigned long n, uint64_t *msgs)
{
	uint64_t msg[BENCH_MSG_WORDS];
	unsigned long i;
	int ret;

	for (i = 0; i < n; i++, (*msgs)++) {
		ret = bench_recv(ep, msg, sizeof(msg));
		if (ret == 0 && msg[0] != *msgs)
			return bench_mismatch(ep->name, "pingpong, message",
					      *msgs);
		if (ret == 0)
			ret = bench_send(ep, msg, sizeof(msg));
		if (ret < 0)
			return bench_err(ep->name, "pingpong echo", ret);
	}
	return 0;
}

/*
 * Touch every byte: a sum the sender can predict. Four independent sums,
 * because one serial chain of adds (what gcc -O2 makes of the plain loop)
 * runs at a word per cycle and would cap the receiver near the speed of a
 * fast ring, charging the benchmark's overhead to the transport.
 */
static uint64_t bench_sum(const uint64_t *w)
{
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	unsigned int i;

	for (i = 0; i < BENCH_CHUNK_WORDS; i += 4) {
		s0 += w[i];
		s1 += w[i + 1];
		s2 += w[i + 2];
		s3 += w[i + 3];
	}
	return s0 + s1 + s2 + s3;
}

static int bench_sink(struct bench_ep *ep, unsigned long chunks,
		      uint64_t *seq)
{
	uint64_t ack[2] = { chunks, 0 };
	unsigned long k;
	int ret;

	for (k = 0; k < chunks; k++, (*seq)++) {
		ret = bench_recv(ep, bench_buf, BENCH_CHUNK);
		if (ret < 0)
			return bench_err(ep->name, "stream receive", ret);
		if (bench_buf[0] != *seq)
			return bench_mismatch(ep->name, "chunk number", *seq);
		if (k < cfg.verify_chunks &&
		    memcmp(bench_buf + 1, bench_pat + 1, BENCH_CHUNK - 8))
			return bench_mismatch(ep->name, "pattern, chunk", *seq);
		ack[1] += bench_sum(bench_buf);
	}
	ret = bench_send(ep, ack, sizeof(ack));
	return ret < 0 ? bench_err(ep->name, "stream answer", ret) : 0;
}

/* The mirror of bench_measure() for one transport. */
static int bench_serve(struct bench_ep *ep)
{
	uint64_t msgs = 0, seq = 0;
	unsigned int r;
	int ret;

	ret = bench_echo(ep, cfg.warm_iters, &msgs);
	if (ret == 0)
		ret = bench_sink(ep, cfg.warm_chunks, &seq);
	for (r = 0; r < cfg.rounds && ret == 0; r++) {
		ret = bench_echo(ep, cfg.round_iters, &msgs);
		if (ret == 0)
			ret = bench_sink(ep, cfg.round_chunks, &seq);
	}
	return ret;
}

/* ---- setting up each transport ---- */

static int bench_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) < 0 ? -errno : 0;
}

static bool bench_is_ring(enum bench_kind kind)
{
	return kind == BENCH_RING_SPIN || kind == BENCH_RING_SLEEP;
}

static uint32_t bench_spin(enum bench_kind kind)
{
	return kind == BENCH_RING_SPIN ? cfg.spin_ns : 0;
}

static int bench_sock_opts(struct bench_ep *ep, bool tcp)
{
	struct timeval tv = { .tv_sec = ep->timeout_ms / 1000 };
	int one = 1;

	if (tcp && setsockopt(ep->fd, IPPROTO_TCP, TCP_NODELAY, &one,
			      sizeof(one)) < 0)
		return -errno;
	if (setsockopt(ep->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(ep->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

static int bench_tcp_listen(struct bench_conn *c)
{
	socklen_t len = sizeof(c->addr);
	int ret;

	c->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->lfd < 0)
		return -errno;
	c->addr.sin_family = AF_INET;
	c->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(c->lfd, (struct sockaddr *)&c->addr, sizeof(c->addr)) < 0 ||
	    listen(c->lfd, 1) < 0 ||
	    getsockname(c->lfd, (struct sockaddr *)&c->addr, &len) < 0) {
		ret = -errno;
		close(c->lfd);
		c->lfd = -1;
		return ret;
	}
	return 0;
}

/* Before the fork: everything both processes must inherit. */
static int bench_conn_prepare(struct bench_conn *c, enum bench_kind kind)
{
	struct xl_chan_params p = { .order = { cfg.order, cfg.order } };

	memset(c, 0, sizeof(*c));
	c->lfd = c->sv[0] = c->sv[1] = -1;
	if (bench_is_ring(kind))
		return xl_chan_create(&c->ch, xl_backend_get(XL_BACKEND_LOCAL),
				      &p, &c->desc, bench_spin(kind));
	if (kind == BENCH_TCP)
		return bench_tcp_listen(c);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, c->sv) < 0)
		return -errno;
	return 0;
}

/* The fork failed: undo bench_conn_prepare(). */
static void bench_conn_abort(struct bench_conn *c)
{
	if (c->ch) {
		xl_chan_destroy(c->ch);
		xl_chan_desc_release(&c->desc);
	}
	if (c->lfd >= 0)
		close(c->lfd);
	if (c->sv[0] >= 0) {
		close(c->sv[0]);
		close(c->sv[1]);
	}
}

static int bench_tcp_accept(struct bench_conn *c, struct bench_ep *ep)
{
	struct pollfd pfd = { .fd = c->lfd, .events = POLLIN };
	int ret = poll(&pfd, 1, BENCH_IO_TIMEOUT_MS);

	if (ret == 0)
		return -ETIMEDOUT;
	if (ret < 0)
		return -errno;
	ep->fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (ep->fd < 0)
		return -errno;
	return bench_sock_opts(ep, true);
}

/* Child: take our end of the connection. */
static int bench_conn_child(struct bench_conn *c, enum bench_kind kind,
			    struct bench_ep *ep)
{
	int ret;

	if (bench_is_ring(kind)) {
		ret = xl_chan_attach(&ep->ch, &c->desc, bench_spin(kind));
		return ret < 0 ? ret : xl_chan_tx_open(ep->ch, 0);
	}
	if (kind == BENCH_TCP) {
		ret = bench_tcp_accept(c, ep);
		close(c->lfd);
		return ret;
	}
	close(c->sv[0]);
	ep->fd = c->sv[1];
	return bench_sock_opts(ep, false);
}

static int bench_tcp_connect(struct bench_conn *c, struct bench_ep *ep)
{
	ep->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ep->fd < 0)
		return -errno;
	if (connect(ep->fd, (struct sockaddr *)&c->addr, sizeof(c->addr)) < 0)
		return -errno;
	return bench_sock_opts(ep, true);
}

/* Parent, after the fork: take our end, drop what only the child needs. */
static int bench_conn_parent(struct bench_conn *c, enum bench_kind kind,
			     struct bench_ep *ep)
{
	int ret;

	if (bench_is_ring(kind)) {
		/* our copy of side B's liveness end must go, or the child's
		 * death would never hang up */
		xl_chan_desc_release(&c->desc);
		ep->ch = c->ch;
		return xl_chan_tx_open(ep->ch, 0);
	}
	if (kind == BENCH_TCP) {
		ret = bench_tcp_connect(c, ep);
		close(c->lfd);
		return ret;
	}
	close(c->sv[1]);
	ep->fd = c->sv[0];
	return bench_sock_opts(ep, false);
}

static void bench_ep_close(struct bench_ep *ep)
{
	if (ep->ch)
		xl_chan_destroy(ep->ch);
	if (ep->fd >= 0)
		close(ep->fd);
	ep->ch = NULL;
	ep->fd = -1;
}

/*
 * A child inherits the parent's ends of the transports started before it.
 * Their sockets are closed, so that the parent closing one is an end of
 * stream for its own child. Their ring channels stay mapped, untouched:
 * destroying one would write our "dead" into the parent's live byte, and
 * xl_chan.h has no call that only lets go of an inherited channel.
 */
static void bench_child_drop_inherited(enum bench_kind kind)
{
	unsigned int j;

	for (j = 0; j < BENCH_NKINDS; j++) {
		if (j != kind && bench_peers[j].ep.fd >= 0)
			close(bench_peers[j].ep.fd);
	}
}

static void __attribute__((noreturn)) bench_child(struct bench_conn *c,
						  enum bench_kind kind)
{
	struct bench_ep ep = {
		.name = bench_name[kind], .fd = -1,
		.timeout_ms = BENCH_IDLE_TIMEOUT_MS,
	};
	int ret;

	/* never outlive the parent, whatever it died of */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != bench_parent)
		_exit(1);
	bench_child_drop_inherited(kind);
	ret = bench_pin(cfg.cpu[1]);
	if (ret < 0)
		bench_err(ep.name, "pinning the child", ret);
	if (ret == 0) {
		ret = bench_conn_child(c, kind, &ep);
		if (ret < 0)
			bench_err(ep.name, "child setup", ret);
	}
	if (ret == 0)
		ret = bench_serve(&ep);
	bench_ep_close(&ep);
	_exit(ret < 0 ? 1 : 0);
}

/* Connect one transport: its child runs bench_serve() from here on. */
static int bench_start(struct bench_peer *pe, enum bench_kind kind)
{
	struct bench_conn c;
	int ret;

	pe->kind = kind;
	pe->ep = (struct bench_ep){ .name = bench_name[kind], .fd = -1,
				    .timeout_ms = BENCH_IO_TIMEOUT_MS };
	ret = bench_conn_prepare(&c, kind);
	if (ret < 0)
		return bench_err(pe->ep.name, "setup", ret);
	fflush(NULL);
	pe->pid = fork();
	if (pe->pid < 0) {
		ret = -errno;
		pe->pid = 0;
		bench_conn_abort(&c);
		return bench_err(pe->ep.name, "fork", ret);
	}
	if (pe->pid == 0)
		bench_child(&c, kind);
	ret = bench_conn_parent(&c, kind, &pe->ep);
	if (ret < 0)
		return bench_err(pe->ep.name, "parent setup", ret);
	pe->lat = calloc(cfg.rounds * cfg.round_iters, sizeof(*pe->lat));
	if (!pe->lat)
		return bench_err(pe->ep.name, "latency array", -ENOMEM);
	return 0;
}

/* Wait for a child, at most BENCH_REAP_MS, then kill it. quiet: the run
 * already failed and closed the child's connection, so its failure is no
 * news. */
static int bench_reap(pid_t pid, const char *name, bool quiet)
{
	struct timespec ms = { .tv_nsec = 1000000 };
	int status, i;
	pid_t r;

	for (i = 0; i < BENCH_REAP_MS; i++) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			goto reaped;
		if (r < 0 && errno != EINTR)
			return bench_err(name, "waitpid", -errno);
		nanosleep(&ms, NULL);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return bench_err(name, "child did not exit, killed", -ETIMEDOUT);
reaped:
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (quiet)
		return -ECHILD;
	fprintf(stderr, "bench/ring: %s: child failed (%s %d)\n", name,
		WIFEXITED(status) ? "exit status" : "signal",
		WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return -ECHILD;
}

/* Close the parent's end (a child still waiting on it sees the end of
 * the stream) and reap the child. */
static int bench_stop(struct bench_peer *pe, bool quiet)
{
	int ret = 0;

	bench_ep_close(&pe->ep);
	if (pe->pid > 0)
		ret = bench_reap(pe->pid, pe->ep.name, quiet);
	pe->pid = 0;
	free(pe->lat);
	pe->lat = NULL;
	return ret;
}

/* ---- output ---- */

/* How many times better the ring is: tcp/ring for latency, ring/tcp for
 * throughput, so that > 1 always favours the ring. */
static double bench_gain(enum bench_kind ring, enum bench_metric m)
{
	const struct bench_peer *pe = bench_peers;

	if (m == BENCH_MBPS)
		return pe[ring].metric[m] / pe[BENCH_TCP].metric[m];
	return pe[BENCH_TCP].metric[m] / pe[ring].metric[m];
}

static void bench_print_config(void)
{
	if (cfg.cpu[0] >= 0)
		printf("parent on CPU %d, children on CPU %d, for every "
		       "transport\n", cfg.cpu[0], cfg.cpu[1]);
	else
		printf("not pinned (fewer than 2 CPUs, or --no-pin)\n");
	printf("ring: local transport, order %u (%u KiB per direction), "
	       "spin %u ns (ring(sleep): 0)\n", cfg.order,
	       (1u << cfg.order) / 1024, cfg.spin_ns);
	printf("rounds: %u, each running every transport in turn; per round "
	       "and transport:\n", cfg.rounds);
	printf("  pingpong: %lu round trips of %u B (p50/p99 over all "
	       "rounds)\n", cfg.round_iters, BENCH_MSG);
	printf("  stream: %lu KiB in %u KiB writes, first %lu KiB compared "
	       "byte for byte (median of rounds)\n",
	       cfg.round_chunks * (BENCH_CHUNK / 1024), BENCH_CHUNK / 1024,
	       cfg.verify_chunks * (BENCH_CHUNK / 1024));
	printf("untimed warm-up first: %lu round trips, %lu KiB\n\n",
	       cfg.warm_iters, cfg.warm_chunks * (BENCH_CHUNK / 1024));
}

static void bench_print_table(void)
{
	const struct bench_peer *pe = bench_peers;
	unsigned int m, k, r;

	bench_print_config();
	printf("%-16s", "metric");
	for (k = 0; k < BENCH_NKINDS; k++)
		printf(" %12s", bench_name[k]);
	printf(" %12s %12s\n", "spin vs tcp", "sleep vs tcp");
	for (m = 0; m < BENCH_NMETRICS; m++) {
		printf("%-16s", bench_metric_label[m]);
		for (k = 0; k < BENCH_NKINDS; k++)
			printf(" %12.*f", m == BENCH_MBPS, pe[k].metric[m]);
		printf(" %11.1fx %11.1fx\n", bench_gain(BENCH_RING_SPIN, m),
		       bench_gain(BENCH_RING_SLEEP, m));
	}
	printf("\nvs tcp: tcp/ring for latency, ring/tcp for throughput "
	       "(> 1: the ring is better)\n");
	for (k = 0; k < BENCH_NKINDS; k++) {
		printf("stream MB/s by round, %-11s:", bench_name[k]);
		for (r = 0; r < cfg.rounds; r++)
			printf(" %.0f", pe[k].mbps[r]);
		printf("\n");
	}
	for (k = BENCH_RING_SPIN; k <= BENCH_RING_SLEEP; k++)
		printf("%s, parent's side: %llu notifies, %llu sleeps, "
		       "%llu spin wins\n", bench_name[k],
		       (unsigned long long)pe[k].stats.notifies,
		       (unsigned long long)pe[k].stats.sleeps,
		       (unsigned long long)pe[k].stats.spin_wins);
}

static void bench_json_config(void)
{
	printf("\"config\": {\"order\": %u, \"ring_bytes\": %u, "
	       "\"spin_ns\": %u, \"pinned\": %s, \"cpus\": [%d, %d], "
	       "\"rounds\": %u, \"pingpong_iters\": %lu, "
	       "\"pingpong_warmup\": %lu, \"msg_bytes\": %u, "
	       "\"write_bytes\": %u, \"stream_bytes\": %llu, "
	       "\"stream_warmup_bytes\": %llu, \"verify_bytes\": %llu, "
	       "\"quick\": %s}",
	       cfg.order, 1u << cfg.order, cfg.spin_ns,
	       cfg.cpu[0] >= 0 ? "true" : "false", cfg.cpu[0], cfg.cpu[1],
	       cfg.rounds, cfg.rounds * cfg.round_iters, cfg.warm_iters,
	       BENCH_MSG, BENCH_CHUNK,
	       (unsigned long long)cfg.rounds * cfg.round_chunks * BENCH_CHUNK,
	       (unsigned long long)cfg.warm_chunks * BENCH_CHUNK,
	       (unsigned long long)cfg.verify_chunks * BENCH_CHUNK,
	       cfg.quick ? "true" : "false");
}

static void bench_json_extras(void)
{
	const struct bench_peer *pe = bench_peers;
	unsigned int k, r;

	printf("\"stream_MBps_rounds\": {");
	for (k = 0; k < BENCH_NKINDS; k++) {
		printf("%s\"%s\": [", k ? ", " : "", bench_key[k]);
		for (r = 0; r < cfg.rounds; r++)
			printf("%s%.1f", r ? ", " : "", pe[k].mbps[r]);
		printf("]");
	}
	printf("}, \"ring_stats\": {");
	for (k = BENCH_RING_SPIN; k <= BENCH_RING_SLEEP; k++)
		printf("%s\"%s\": {\"notifies\": %llu, \"sleeps\": %llu, "
		       "\"spin_wins\": %llu}", k ? ", " : "", bench_key[k],
		       (unsigned long long)pe[k].stats.notifies,
		       (unsigned long long)pe[k].stats.sleeps,
		       (unsigned long long)pe[k].stats.spin_wins);
	printf("}, ");
}

static void bench_print_json(void)
{
	const struct bench_peer *pe = bench_peers;
	unsigned int m, k;

	printf("{");
	for (m = 0; m < BENCH_NMETRICS; m++) {
		printf("\"%s\": {", bench_metric_key[m]);
		for (k = 0; k < BENCH_NKINDS; k++)
			printf("%s\"%s\": %.*f", k ? ", " : "", bench_key[k],
			       m == BENCH_MBPS, pe[k].metric[m]);
		printf("}, ");
	}
	printf("\"ratios\": {");
	for (m = 0; m < BENCH_NMETRICS; m++)
		printf("%s\"%s\": %.2f, \"%s_sleep\": %.2f", m ? ", " : "",
		       bench_ratio_key[m], bench_gain(BENCH_RING_SPIN, m),
		       bench_ratio_key[m], bench_gain(BENCH_RING_SLEEP, m));
	printf("}, ");
	bench_json_extras();
	bench_json_config();
	printf("}\n");
}

/* ---- options ---- */

static void bench_usage(FILE *f)
{
	fprintf(f,
"usage: bench/ring [--quick] [--json] [--order N] [--spin-ns N] [--rounds N]\n"
"                  [--iters N] [--stream-mib N] [--cpus A,B | --no-pin]\n"
"\n"
"Time the xenloop ring (local transport, two processes) against TCP\n"
"loopback and a Unix socketpair: 64 B ping-pong p50/p99 and 64 KiB\n"
"streaming throughput. See bench/README.md.\n"
"\n"
"  --quick         short run (a few seconds; well under 30 s)\n"
"  --json          print one JSON object instead of the table\n"
"  --order N       log2 ring bytes per direction, %u..%u (default %u)\n"
"  --spin-ns N     spin budget of ring(spin), 0..%u (default %u)\n"
"  --rounds N      rounds, each running every transport, 1..%u (default %u)\n"
"  --iters N       timed round trips per transport, all rounds together\n"
"                  (default 100000, --quick 20000)\n"
"  --stream-mib N  timed stream MiB per transport, all rounds together\n"
"                  (default 1280, --quick 320)\n"
"  --cpus A,B      parent on CPU A, children on CPU B\n"
"  --no-pin        do not pin (default: the first two CPUs allowed)\n"
"  --help          this text\n"
"\n"
"Exit status: 0 success, 1 transport error or data mismatch, 2 usage.\n",
		XL_WIRE_MIN_ORDER, XL_WIRE_MAX_ORDER, BENCH_ORDER_DEFAULT,
		XL_CHAN_SPIN_NS_MAX, XL_CHAN_SPIN_NS_DEFAULT,
		BENCH_ROUNDS_MAX, BENCH_ROUNDS_DEFAULT);
}

static int bench_parse_ul(const char *s, unsigned long min, unsigned long max,
			  unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* The first two CPUs this process may run on, or -1, -1. */
static void bench_default_cpus(int cpu[2])
{
	cpu_set_t set;
	int i, n = 0;

	cpu[0] = cpu[1] = -1;
	if (sched_getaffinity(0, sizeof(set), &set) < 0 || CPU_COUNT(&set) < 2)
		return;
	for (i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &set))
			cpu[n++] = i;
}

/* "A,B": two different CPUs, both allowed to this process. */
static int bench_parse_cpus(const char *s, int cpu[2])
{
	unsigned long a, b;
	char first[16];
	const char *comma = strchr(s, ',');
	cpu_set_t set;

	if (!comma || (size_t)(comma - s) >= sizeof(first))
		return -EINVAL;
	memcpy(first, s, (size_t)(comma - s));
	first[comma - s] = '\0';
	if (bench_parse_ul(first, 0, CPU_SETSIZE - 1, &a) < 0 ||
	    bench_parse_ul(comma + 1, 0, CPU_SETSIZE - 1, &b) < 0 || a == b)
		return -EINVAL;
	if (sched_getaffinity(0, sizeof(set), &set) < 0 ||
	    !CPU_ISSET(a, &set) || !CPU_ISSET(b, &set))
		return -EINVAL;
	cpu[0] = (int)a;
	cpu[1] = (int)b;
	return 0;
}

/* Sizes that were not given explicitly follow --quick. */
static void bench_fill_defaults(unsigned long iters, unsigned long mib)
{
	unsigned long chunks;

	if (!iters)
		iters = cfg.quick ? 20000 : 100000;
	if (!mib)
		mib = cfg.quick ? 320 : 1280;
	cfg.round_iters = (iters + cfg.rounds - 1) / cfg.rounds;
	cfg.warm_iters = cfg.round_iters / 2 + 100;
	chunks = mib * BENCH_CHUNKS_PER_MIB;
	cfg.round_chunks = (chunks + cfg.rounds - 1) / cfg.rounds;
	cfg.warm_chunks = cfg.round_chunks / 4 + BENCH_CHUNKS_PER_MIB;
	cfg.verify_chunks = (cfg.quick ? 4 : 16) * BENCH_CHUNKS_PER_MIB;
}

enum {
	OPT_ORDER = 256, OPT_SPIN, OPT_ROUNDS, OPT_ITERS, OPT_MIB, OPT_CPUS,
	OPT_NOPIN
};

static const struct option bench_opts[] = {
	{ "quick", no_argument, NULL, 'q' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ "order", required_argument, NULL, OPT_ORDER },
	{ "spin-ns", required_argument, NULL, OPT_SPIN },
	{ "rounds", required_argument, NULL, OPT_ROUNDS },
	{ "iters", required_argument, NULL, OPT_ITERS },
	{ "stream-mib", required_argument, NULL, OPT_MIB },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "no-pin", no_argument, NULL, OPT_NOPIN },
	{ NULL, 0, NULL, 0 }
};

static int bench_parse_opt(int opt, const char *arg, unsigned long *iters,
			   unsigned long *mib)
{
	unsigned long v = 0;
	int ret = 0;

	switch (opt) {
	case 'q':
		cfg.quick = true;
		break;
	case 'j':
		cfg.json = true;
		break;
	case OPT_ORDER:
		ret = bench_parse_ul(arg, XL_WIRE_MIN_ORDER, XL_WIRE_MAX_ORDER,
				     &v);
		cfg.order = (uint32_t)v;
		break;
	case OPT_SPIN:
		ret = bench_parse_ul(arg, 0, XL_CHAN_SPIN_NS_MAX, &v);
		cfg.spin_ns = (uint32_t)v;
		break;
	case OPT_ROUNDS:
		ret = bench_parse_ul(arg, 1, BENCH_ROUNDS_MAX, &v);
		cfg.rounds = (unsigned int)v;
		break;
	case OPT_ITERS:
		return bench_parse_ul(arg, 1, 10000000, iters);
	case OPT_MIB:
		return bench_parse_ul(arg, 1, 1048576, mib);
	case OPT_CPUS:
		return bench_parse_cpus(arg, cfg.cpu);
	case OPT_NOPIN:
		cfg.cpu[0] = cfg.cpu[1] = -1;
		break;
	default:
		return -EINVAL;
	}
	return ret;
}

/* 0: run, 1: --help was shown, -EINVAL: bad usage (already reported). */
static int bench_parse(int argc, char **argv)
{
	unsigned long iters = 0, mib = 0;
	int opt, idx = -1, ret = 0;

	cfg.order = BENCH_ORDER_DEFAULT;
	cfg.spin_ns = XL_CHAN_SPIN_NS_DEFAULT;
	cfg.rounds = BENCH_ROUNDS_DEFAULT;
	bench_default_cpus(cfg.cpu);
	while (ret == 0 &&
	       (opt = getopt_long(argc, argv, "qjh", bench_opts, &idx)) != -1) {
		if (opt == 'h') {
			bench_usage(stdout);
			return 1;
		}
		ret = bench_parse_opt(opt, optarg, &iters, &mib);
		/* getopt has reported unknown options; we report values */
		if (ret < 0 && opt != '?' && idx >= 0)
			fprintf(stderr, "bench/ring: bad value for --%s: %s\n",
				bench_opts[idx].name, optarg);
		idx = -1;
	}
	if (ret == 0 && optind < argc) {
		fprintf(stderr, "bench/ring: unexpected argument: %s\n",
			argv[optind]);
		ret = -EINVAL;
	}
	if (ret < 0) {
		bench_usage(stderr);
		return ret;
	}
	bench_fill_defaults(iters, mib);
	return 0;
}

/* Start every transport, measure, stop them all (always reaping). */
static int bench_run(void)
{
	unsigned int k, started = 0;
	int ret = 0, rc;

	/* children close the fds of the transports started before them */
	for (k = 0; k < BENCH_NKINDS; k++)
		bench_peers[k].ep.fd = -1;
	for (k = 0; k < BENCH_NKINDS && ret == 0; k++) {
		ret = bench_start(&bench_peers[k], k);
		started = k + 1;
	}
	if (ret == 0)
		ret = bench_measure();
	for (k = 0; k < started; k++) {
		if (ret == 0)
			bench_summarise(&bench_peers[k]);
		rc = bench_stop(&bench_peers[k], ret < 0);
		if (ret == 0)
			ret = rc;
	}
	return ret;
}

int main(int argc, char **argv)
{
	int ret;

	ret = bench_parse(argc, argv);
	if (ret)
		return ret > 0 ? 0 : 2;
	/* a dead peer must be an error return, not a silent death */
	signal(SIGPIPE, SIG_IGN);
	bench_parent = getpid();
	bench_pattern_init();
	ret = bench_pin(cfg.cpu[0]);
	if (ret < 0) {
		bench_err("bench", "pinning the parent", ret);
		return 1;
	}
	if (bench_run() < 0)
		return 1;
	if (cfg.json)
		bench_print_json();
	else
		bench_print_table();
	return 0;
}
