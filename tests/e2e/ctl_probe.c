/* SPDX-License-Identifier: MIT */
/*
 * ctl_probe: one end of a real TCP connection that plays the preload
 * library's part by hand, for tests/e2e/daemon-match.sh. It registers the
 * connection with its namespace's xenloopd exactly as docs/protocol.md §2
 * says, waits (bounded) for CHAN or NOCHAN, and on CHAN attaches to the
 * channel and moves data both ways through the ring, checking every byte
 * and the stream offset the ring starts at. So the daemons' matching is
 * tested without the library.
 *
 *   ctl_probe server|client -r RUNDIR -a ADDR -p PORT [options]
 *   ctl_probe hostile -r RUNDIR -a OWN_ADDR -R PEER_ADDR
 *
 * Prints "result: chan" or "result: nochan <reason> <ms> ms" and exits 0
 * when that is what --expect asked for, 1 otherwise.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "xl_addr.h"
#include "xl_chan.h"
#include "xl_ctl_io.h"
#include "xl_desc.h"

#define XL_PROBE_COOKIE	0x5eed0001ull
#define XL_IO_TIMEOUT_MS	10000
#define XL_CHUNK	65536

struct xl_probe {
	const char *mode, *rundir, *addr, *peer_addr, *expect;
	unsigned int port;
	uint64_t out_bytes, in_bytes;	/* through the ring */
	uint64_t tcp_out, tcp_in;	/* through TCP before registering */
	int wait_ms, linger_ms;
	bool no_register;
	bool client;
};

static const char *const xl_reasons[XL_REASON_MAX] = {
	"none", "not_peer", "same_ns", "no_match", "peer_down", "resources",
	"protocol", "disabled", "shared", "io_uring",
};

static void xl_die(const char *what, int err)
{
	fprintf(stderr, "ctl_probe: %s: %s\n", what, strerror(err));
	exit(1);
}

static uint64_t xl_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The byte at stream offset i of a stream seeded with seed. */
static uint8_t xl_pat(uint64_t i, uint8_t seed)
{
	return (uint8_t)((i * 2654435761u) >> 13) ^ (uint8_t)(i >> 16) ^ seed;
}

/* ---- TCP ---- */

static void xl_sockaddr(const char *addr, unsigned int port,
			struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in4 = (void *)ss;
	struct sockaddr_in6 *in6 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		*len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, addr, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		*len = sizeof(*in6);
	} else {
		xl_die(addr, EINVAL);
	}
}

static int xl_tcp_server(const struct xl_probe *pr)
{
	struct sockaddr_storage ss;
	struct pollfd pfd;
	socklen_t len;
	int one = 1, zero = 0, ls, fd;

	xl_sockaddr(pr->addr, pr->port, &ss, &len);
	ls = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0)
		xl_die("socket", errno);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)	/* [::] takes IPv4 too */
		setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(ls, (struct sockaddr *)&ss, len) < 0 || listen(ls, 4) < 0)
		xl_die("bind/listen", errno);
	pfd = (struct pollfd){ .fd = ls, .events = POLLIN };
	if (poll(&pfd, 1, XL_IO_TIMEOUT_MS) != 1)
		xl_die("accept", ETIMEDOUT);
	fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		xl_die("accept", errno);
	close(ls);
	return fd;
}

/* The server may not be listening yet: retry for a while. */
static int xl_tcp_client(const struct xl_probe *pr)
{
	uint64_t end = xl_ms() + XL_IO_TIMEOUT_MS;
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	xl_sockaddr(pr->addr, pr->port, &ss, &len);
	for (;;) {
		fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			xl_die("socket", errno);
		if (connect(fd, (struct sockaddr *)&ss, len) == 0)
			return fd;
		if (errno != ECONNREFUSED || xl_ms() > end)
			xl_die("connect", errno);
		close(fd);
		usleep(20000);
	}
}

static void xl_tcp_write(int fd, uint64_t n)
{
	uint8_t buf[4096];
	uint64_t off = 0, i;
	ssize_t w;

	while (off < n) {
		size_t len = n - off < sizeof(buf) ? n - off : sizeof(buf);

		for (i = 0; i < len; i++)
			buf[i] = xl_pat(off + i, 't');
		w = send(fd, buf, len, MSG_NOSIGNAL);
		if (w <= 0)
			xl_die("tcp send", w < 0 ? errno : EPIPE);
		off += (uint64_t)w;
	}
}

static void xl_tcp_read(int fd, uint64_t n)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint8_t buf[4096];
	uint64_t off = 0;
	ssize_t r, i;

	while (off < n) {
		if (poll(&pfd, 1, XL_IO_TIMEOUT_MS) != 1)
			xl_die("tcp recv", ETIMEDOUT);
		r = recv(fd, buf, n - off < sizeof(buf) ? n - off : sizeof(buf),
			 0);
		if (r <= 0)
			xl_die("tcp recv", r < 0 ? errno : ECONNRESET);
		for (i = 0; i < r; i++)
			if (buf[i] != xl_pat(off + (uint64_t)i, 't'))
				xl_die("tcp data corrupt", EBADMSG);
		off += (uint64_t)r;
	}
}

/* ---- the daemon ---- */

static int xl_daemon_connect(const char *rundir)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct xl_ctl_msg hello = { .type = XL_CTL_HELLO };
	struct stat st;
	int fd, ret;

	if (stat("/proc/self/ns/net", &st) < 0)
		xl_die("/proc/self/ns/net", errno);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/ns/%lu.sock", rundir,
		 (unsigned long)st.st_ino);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		xl_die("socket", errno);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		xl_die(sun.sun_path, errno);
	hello.pid = (uint32_t)getpid();
	ret = xl_ctl_send(fd, &hello, NULL, NULL, 0);
	if (ret < 0)
		xl_die("hello", -ret);
	return fd;
}

static void xl_tuple(int tcp, struct xl_ctl_msg *msg)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(tcp, (struct sockaddr *)&ss, &len) < 0 ||
	    xl_addr_from_sockaddr(&msg->local, (struct sockaddr *)&ss) < 0)
		xl_die("getsockname", errno);
	len = sizeof(ss);
	if (getpeername(tcp, (struct sockaddr *)&ss, &len) < 0 ||
	    xl_addr_from_sockaddr(&msg->remote, (struct sockaddr *)&ss) < 0)
		xl_die("getpeername", errno);
}

/* Wait for one message, at most ms. 0, -ETIMEDOUT or -errno. */
static int xl_recv_wait(int fd, struct xl_ctl_msg *msg,
			int fds[XL_CTL_MAX_FDS], int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int n = poll(&pfd, 1, ms);

	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	return xl_ctl_recv(fd, msg, fds, NULL, 0, MSG_DONTWAIT);
}

static void xl_send_counts(int dfd, uint32_t type,
			   const struct xl_ctl_counts *c)
{
	struct xl_ctl_msg msg = { .type = type, .cookie = XL_PROBE_COOKIE };
	int ret;

	msg.counts = *c;
	/* all its TCP bytes went before the ring; it claims 7 more of
	 * each direction than went by TCP: the daemon counts no more */
	msg.tcp_before[0] = c->tcp_tx + 7;
	msg.tcp_before[1] = c->tcp_rx + 7;
	ret = xl_ctl_send(dfd, &msg, NULL, NULL, 0);
	if (ret < 0)
		xl_die("stats/close", -ret);
}

/* ---- the ring ---- */

static void xl_ring_send(struct xl_chan *ch, uint64_t n)
{
	static uint8_t buf[XL_CHUNK];
	uint64_t off = 0, i;
	ssize_t w;

	while (off < n) {
		size_t len = n - off < sizeof(buf) ? n - off : sizeof(buf);
		struct iovec iov = { buf, len };

		for (i = 0; i < len; i++)
			buf[i] = xl_pat(off + i, 'r');
		w = xl_chan_send(ch, &iov, 1, 0, XL_IO_TIMEOUT_MS);
		if (w <= 0)
			xl_die("ring send", w < 0 ? (int)-w : EPIPE);
		off += (uint64_t)w;
	}
	if (xl_chan_shutdown_tx(ch) < 0)
		xl_die("ring shutdown", EIO);
}

/* n bytes, every one checked, then the end of the stream. */
static void xl_ring_recv(struct xl_chan *ch, uint64_t n)
{
	static uint8_t buf[XL_CHUNK];
	uint64_t off = 0;
	ssize_t r, i;

	for (;;) {
		struct iovec iov = { buf, sizeof(buf) };

		r = xl_chan_recv(ch, &iov, 1, 0, XL_IO_TIMEOUT_MS);
		if (r < 0)
			xl_die("ring recv", (int)-r);
		if (r == 0)
			break;
		for (i = 0; i < r; i++)
			if (off + (uint64_t)i >= n ||
			    buf[i] != xl_pat(off + (uint64_t)i, 'r'))
				xl_die("ring data corrupt or too long", EBADMSG);
		off += (uint64_t)r;
	}
	if (off != n) {
		fprintf(stderr, "ctl_probe: ring ended after %llu of %llu "
			"bytes\n", (unsigned long long)off,
			(unsigned long long)n);
		exit(1);
	}
}

/* The peer's direction must start where its TCP stream ended. */
static void xl_ring_check_start(struct xl_chan *ch, uint64_t want)
{
	uint64_t end = xl_ms() + XL_IO_TIMEOUT_MS, off = 0;
	int ret;

	while ((ret = xl_chan_rx_started(ch, &off)) == 0 && xl_ms() < end)
		usleep(1000);
	if (ret != 1 || off != want) {
		fprintf(stderr, "ctl_probe: peer's ring starts at %llu (ret "
			"%d), expected %llu\n", (unsigned long long)off, ret,
			(unsigned long long)want);
		exit(1);
	}
}

static void xl_ring_open(struct xl_chan *ch, uint64_t start_off)
{
	uint64_t end = xl_ms() + XL_IO_TIMEOUT_MS;
	int ret;

	while (!xl_chan_tx_peer_attached(ch)) {
		if (xl_ms() > end)
			xl_die("peer never attached", ETIMEDOUT);
		usleep(1000);
	}
	ret = xl_chan_tx_open(ch, start_off);
	if (ret < 0)
		xl_die("tx_open", -ret);
}

static struct xl_chan *xl_attach(const struct xl_probe *pr,
				 const struct xl_ctl_msg *msg,
				 int fds[XL_CTL_MAX_FDS])
{
	struct xl_chan_desc desc;
	struct xl_chan *ch;
	int ret;

	ret = xl_desc_from_msg(msg, fds, pr->client ? 0 : 1, &desc);
	if (ret == 0)
		ret = xl_chan_attach(&ch, &desc, XL_CHAN_SPIN_NS_DEFAULT);
	xl_ctl_close_fds(fds);
	if (ret < 0)
		xl_die("attach", -ret);
	return ch;
}

/* Both ways through the ring, in an order that cannot deadlock: the
 * client speaks first, the server answers once it has read everything. */
static void xl_exchange(const struct xl_probe *pr, struct xl_chan *ch)
{
	xl_ring_open(ch, pr->tcp_out);
	xl_ring_check_start(ch, pr->tcp_in);
	if (pr->client) {
		xl_ring_send(ch, pr->out_bytes);
		xl_ring_recv(ch, pr->in_bytes);
	} else {
		xl_ring_recv(ch, pr->in_bytes);
		xl_ring_send(ch, pr->out_bytes);
	}
}

/* ---- one end of a connection ---- */

static void xl_linger(int tcp, int ms)
{
	struct pollfd pfd = { .fd = tcp, .events = POLLIN };
	char c;

	/* until the peer closes or time is up, whichever comes first */
	if (poll(&pfd, 1, ms) == 1)
		(void)!recv(tcp, &c, 1, MSG_DONTWAIT);
}

static int xl_on_chan(const struct xl_probe *pr, int dfd, int tcp,
		      const struct xl_ctl_msg *msg, int fds[XL_CTL_MAX_FDS])
{
	struct xl_ctl_counts c = {
		.ring_tx = pr->out_bytes, .ring_rx = pr->in_bytes,
		.tcp_tx = pr->tcp_out, .tcp_rx = pr->tcp_in,
	};
	struct xl_chan *ch = xl_attach(pr, msg, fds);

	xl_exchange(pr, ch);
	xl_send_counts(dfd, XL_CTL_STATS, &c);
	printf("result: chan\n");
	fflush(stdout);
	if (pr->linger_ms)
		usleep((useconds_t)pr->linger_ms * 1000);
	xl_send_counts(dfd, XL_CTL_CLOSE, &c);
	xl_chan_destroy(ch);
	close(tcp);
	return pr->expect && strcmp(pr->expect, "chan") ? 1 : 0;
}

static int xl_on_nochan(const struct xl_probe *pr, int tcp,
			const struct xl_ctl_msg *msg, uint64_t ms)
{
	const char *reason = msg->status > 0 && msg->status < XL_REASON_MAX ?
			     xl_reasons[msg->status] : "?";

	printf("result: nochan %s %llu ms\n", reason, (unsigned long long)ms);
	fflush(stdout);
	if (pr->linger_ms)
		xl_linger(tcp, pr->linger_ms);
	close(tcp);
	return pr->expect && !strcmp(pr->expect, reason) ? 0 : 1;
}

static int xl_end(const struct xl_probe *pr)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_REGISTER };
	int fds[XL_CTL_MAX_FDS];
	uint64_t t0;
	int tcp, dfd, ret;

	tcp = pr->client ? xl_tcp_client(pr) : xl_tcp_server(pr);
	xl_tcp_write(tcp, pr->tcp_out);
	xl_tcp_read(tcp, pr->tcp_in);
	if (pr->no_register) {
		printf("result: plain\n");
		fflush(stdout);
		xl_linger(tcp, pr->linger_ms ? pr->linger_ms : XL_IO_TIMEOUT_MS);
		close(tcp);
		return 0;
	}
	dfd = xl_daemon_connect(pr->rundir);
	msg.cookie = XL_PROBE_COOKIE;
	msg.role = pr->client ? XL_CTL_ROLE_CLIENT : XL_CTL_ROLE_SERVER;
	xl_tuple(tcp, &msg);
	t0 = xl_ms();
	ret = xl_ctl_send(dfd, &msg, NULL, NULL, 0);
	if (ret < 0)
		xl_die("register", -ret);
	ret = xl_recv_wait(dfd, &msg, fds, pr->wait_ms);
	if (ret < 0)
		xl_die("waiting for the daemon's answer", -ret);
	if (msg.cookie != XL_PROBE_COOKIE)
		xl_die("answer for another cookie", EPROTO);
	if (msg.type == XL_CTL_CHAN)
		return xl_on_chan(pr, dfd, tcp, &msg, fds);
	xl_ctl_close_fds(fds);
	if (msg.type != XL_CTL_NOCHAN)
		xl_die("unexpected answer", EPROTO);
	return xl_on_nochan(pr, tcp, &msg, xl_ms() - t0);
}

/* ---- a hostile process ---- */

/* The daemon must hang up on fd within a couple of seconds. */
static void xl_expect_hangup(int fd, const char *what)
{
	int fds[XL_CTL_MAX_FDS];
	struct xl_ctl_msg msg;
	int ret = xl_recv_wait(fd, &msg, fds, 3000);

	if (ret == 0)
		xl_ctl_close_fds(fds);
	if (ret != -ECONNRESET) {
		fprintf(stderr, "ctl_probe: %s: daemon kept the connection "
			"(%d)\n", what, ret);
		exit(1);
	}
	close(fd);
	printf("hostile: %s: disconnected\n", what);
}

static void xl_hostile_register(int fd, uint64_t cookie, uint32_t role,
				const char *local, const char *remote)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_REGISTER, .cookie = cookie };
	int ret;

	msg.role = role;
	if (xl_addr_parse(local, &msg.local) < 0 ||
	    xl_addr_parse(remote, &msg.remote) < 0)
		xl_die("address", EINVAL);
	msg.local.port = 40000;
	msg.remote.port = 5201;
	ret = xl_ctl_send(fd, &msg, NULL, NULL, 0);
	if (ret < 0)
		xl_die("send", -ret);
}

static void xl_hostile_not_ours(const struct xl_probe *pr)
{
	int fd = xl_daemon_connect(pr->rundir), fds[XL_CTL_MAX_FDS];
	struct xl_ctl_msg msg;

	/* someone else's connection: must be refused, never offered */
	xl_hostile_register(fd, 1, XL_CTL_ROLE_CLIENT, "198.18.0.77",
			    pr->peer_addr);
	if (xl_recv_wait(fd, &msg, fds, 3000) < 0 ||
	    msg.type != XL_CTL_NOCHAN || msg.status != XL_REASON_PROTOCOL) {
		fprintf(stderr, "ctl_probe: foreign address not refused\n");
		exit(1);
	}
	printf("hostile: foreign local address: nochan protocol\n");
	/* the same cookie twice: the second ends the connection */
	xl_hostile_register(fd, 2, XL_CTL_ROLE_SERVER, pr->addr, pr->peer_addr);
	xl_hostile_register(fd, 2, XL_CTL_ROLE_SERVER, pr->addr, pr->peer_addr);
	xl_expect_hangup(fd, "duplicate cookie");
}

static int xl_hostile(const struct xl_probe *pr)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_HELLO, .nfds = 1 };
	int fd, one[1] = { 0 };

	fd = xl_daemon_connect(pr->rundir);
	xl_hostile_register(fd, 1, 9, pr->addr, pr->peer_addr);
	xl_expect_hangup(fd, "bad role");
	fd = xl_daemon_connect(pr->rundir);
	xl_hostile_register(fd, 1, XL_CTL_ROLE_CLIENT, pr->addr, "0.0.0.0");
	xl_expect_hangup(fd, "unspecified address");
	fd = xl_daemon_connect(pr->rundir);
	if (xl_ctl_send(fd, &msg, one, NULL, 0) < 0)	/* stdin, unasked */
		xl_die("send", EIO);
	xl_expect_hangup(fd, "fd on a HELLO");
	xl_hostile_not_ours(pr);
	return 0;
}

/* ---- main ---- */

static void xl_usage(void)
{
	fprintf(stderr,
		"usage: ctl_probe server|client -r RUNDIR -a ADDR -p PORT\n"
		"         [--expect chan|REASON] [--out N] [--in N]\n"
		"         [--tcp-out N] [--tcp-in N] [--wait MS] [--linger MS]\n"
		"         [--no-register]\n"
		"       ctl_probe hostile -r RUNDIR -a OWN_ADDR -R PEER_ADDR\n");
	exit(2);
}

static uint64_t xl_num(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (!*s || *end)
		xl_usage();
	return v;
}

static void xl_parse(int argc, char **argv, struct xl_probe *pr)
{
	static const struct option lo[] = {
		{ "expect", required_argument, NULL, 'e' },
		{ "out", required_argument, NULL, 'o' },
		{ "in", required_argument, NULL, 'i' },
		{ "tcp-out", required_argument, NULL, 'O' },
		{ "tcp-in", required_argument, NULL, 'I' },
		{ "wait", required_argument, NULL, 'w' },
		{ "linger", required_argument, NULL, 'l' },
		{ "no-register", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "r:a:p:R:", lo, NULL)) != -1) {
		switch (ch) {
		case 'r': pr->rundir = optarg; break;
		case 'a': pr->addr = optarg; break;
		case 'p': pr->port = (unsigned int)xl_num(optarg); break;
		case 'R': pr->peer_addr = optarg; break;
		case 'e': pr->expect = optarg; break;
		case 'o': pr->out_bytes = xl_num(optarg); break;
		case 'i': pr->in_bytes = xl_num(optarg); break;
		case 'O': pr->tcp_out = xl_num(optarg); break;
		case 'I': pr->tcp_in = xl_num(optarg); break;
		case 'w': pr->wait_ms = (int)xl_num(optarg); break;
		case 'l': pr->linger_ms = (int)xl_num(optarg); break;
		case 'n': pr->no_register = true; break;
		default: xl_usage();
		}
	}
	if (optind + 1 != argc)
		xl_usage();
	pr->mode = argv[optind];
}

int main(int argc, char **argv)
{
	struct xl_probe pr = { .wait_ms = XL_IO_TIMEOUT_MS, .expect = "chan" };

	xl_parse(argc, argv, &pr);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!pr.addr || (!pr.rundir && !pr.no_register))
		xl_usage();
	if (!strcmp(pr.mode, "hostile")) {
		if (!pr.peer_addr)
			xl_usage();
		return xl_hostile(&pr);
	}
	if (strcmp(pr.mode, "server") && strcmp(pr.mode, "client"))
		xl_usage();
	pr.client = !strcmp(pr.mode, "client");
	if (!pr.port)
		xl_usage();
	return xl_end(&pr);
}
