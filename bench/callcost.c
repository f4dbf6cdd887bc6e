/* SPDX-License-Identifier: MIT */
/*
 * bench/callcost: what libxenloop.so costs where it accelerates nothing.
 *
 * Times, in nanoseconds per call, the calls the library interposes on
 * descriptors that are not on a ring: recv and send on a connected TCP
 * socket whose peer runs without the library, recv on an empty socket
 * (MSG_DONTWAIT), read and write on a pipe, poll over 1, 64 and 1000 idle
 * fds, epoll_wait over 1, 64 and 1000 fds (idle, and with one in sixteen
 * ready), and connect + accept + close over 127.0.0.1. Each figure is
 * measured once plain and once under LD_PRELOAD=libxenloop.so, and the
 * ratio lib / plain is printed (1.00: no cost).
 *
 * How this works
 *
 * The process that is started drives: it runs itself again as a child
 * (--child) once without and once with the library in LD_PRELOAD, for
 * every round, starting with a different one each round, so that the
 * drift of a shared machine hits both alike; each figure is the median of
 * the rounds. A child starts its TCP peer, an echo server, as a third
 * process without the library (--echo; under "ip netns exec NS" with
 * --peer-ns, so that the peer is in another namespace, possibly with a
 * daemon, as a peer without the library is in real life). Whether a
 * daemon is present is up to the environment the benchmark is run in
 * (XENLOOP_RUNDIR; bench/noaccel runs both cases).
 *
 * Every blocking call has a timeout; children die with their parent.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CC_MSG		64	/* bytes per send/recv/read/write */
#define CC_BATCH	32	/* calls per timed batch of data calls */
#define CC_ROUNDS_MAX	31
#define CC_IO_TIMEOUT_MS	10000
#define CC_MAX_TESTS	32

struct cc_opts {
	int rounds;
	long scale;		/* percent of the default iteration counts */
	bool json;
	const char *lib;
	const char *peer_ns;
	const char *peer_addr;
	const char *only;
};

static struct cc_opts cc;
static char cc_self[PATH_MAX];

/* ---- helpers ---- */

static uint64_t cc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void cc_die(const char *what)
{
	fprintf(stderr, "callcost[%d]: %s: %s\n", (int)getpid(), what,
		strerror(errno));
	exit(1);
}

static void cc_dief(const char *what)
{
	fprintf(stderr, "callcost[%d]: %s\n", (int)getpid(), what);
	exit(1);
}

/* Wait for fd to become readable (or writable); bounded. */
static void cc_wait(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int n;

	do
		n = poll(&p, 1, CC_IO_TIMEOUT_MS);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		cc_dief("timed out waiting for the peer");
}

static void cc_report(const char *name, uint64_t ns, long calls)
{
	printf("%s %.1f\n", name, (double)ns / (double)calls);
}

static long cc_iters(long base)
{
	long n = base * cc.scale / 100;

	return n < 1 ? 1 : n;
}

static bool cc_want(const char *name)
{
	return !cc.only || strstr(name, cc.only);
}

/* ---- the echo peer (no library) ---- */

static int cc_echo(const char *addr)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	char buf[65536];
	int lfd, fd, one = 1;
	ssize_t n;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
		cc_dief("bad peer address");
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0)
		cc_die("echo: listen");
	printf("%u\n", ntohs(sa.sin_port));
	fflush(stdout);
	cc_wait(lfd, POLLIN);
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		cc_die("echo: accept");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (;;) {
		cc_wait(fd, POLLIN);
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return 0;
		if (write(fd, buf, (size_t)n) != n)
			return 1;
	}
}

/* Start the echo peer; returns a connected socket to it. */
static int cc_peer_connect(pid_t *pid)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char line[32];
	int out[2], fd, one = 1;
	FILE *f;

	if (pipe(out) < 0)
		cc_die("pipe");
	*pid = fork();
	if (*pid < 0)
		cc_die("fork");
	if (*pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		unsetenv("LD_PRELOAD");
		if (cc.peer_ns)
			execlp("ip", "ip", "netns", "exec", cc.peer_ns, cc_self,
			       "--echo", cc.peer_addr, (char *)NULL);
		else
			execl(cc_self, cc_self, "--echo", cc.peer_addr,
			      (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	cc_wait(out[0], POLLIN);
	f = fdopen(out[0], "r");
	if (!f || !fgets(line, sizeof(line), f))
		cc_dief("the echo peer did not start");
	fclose(f);
	sa.sin_port = htons((uint16_t)atoi(line));
	inet_pton(AF_INET, cc.peer_addr, &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		cc_die("connect to the echo peer");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* ---- the tests (run in a child) ---- */

/* send and recv of CC_MSG bytes on a TCP socket, echoed by the peer. */
static void cc_test_tcp(void)
{
	char buf[CC_MSG * CC_BATCH];
	uint64_t t_send = 0, t_recv = 0, t_empty = 0, t0;
	long i, b, batches = cc_iters(1500), empties = cc_iters(20000);
	pid_t pid;
	int fd, st;

	if (!cc_want("tcp_"))
		return;
	fd = cc_peer_connect(&pid);
	memset(buf, 'x', sizeof(buf));
	for (b = 0; b < batches; b++) {
		t0 = cc_now();
		for (i = 0; i < CC_BATCH; i++)
			if (send(fd, buf, CC_MSG, 0) != CC_MSG)
				cc_die("send");
		t_send += cc_now() - t0;
		/* every byte back before the timed recvs */
		for (;;) {
			int avail = 0;

			if (ioctl(fd, FIONREAD, &avail) < 0)
				cc_die("FIONREAD");
			if (avail >= CC_MSG * CC_BATCH)
				break;
			cc_wait(fd, POLLIN);
			if (avail)
				usleep(20);
		}
		t0 = cc_now();
		for (i = 0; i < CC_BATCH; i++)
			if (recv(fd, buf + i * CC_MSG, CC_MSG, 0) != CC_MSG)
				cc_die("recv");
		t_recv += cc_now() - t0;
	}
	t0 = cc_now();
	for (i = 0; i < empties; i++)
		if (recv(fd, buf, CC_MSG, MSG_DONTWAIT) != -1 ||
		    errno != EAGAIN)
			cc_dief("recv on an empty socket did not say EAGAIN");
	t_empty = cc_now() - t0;
	close(fd);
	waitpid(pid, &st, 0);
	cc_report("tcp_send", t_send, batches * CC_BATCH);
	cc_report("tcp_recv", t_recv, batches * CC_BATCH);
	cc_report("tcp_recv_empty", t_empty, empties);
}

static void cc_test_pipe(void)
{
	char buf[CC_MSG] = { 0 };
	uint64_t t_w = 0, t_r = 0, t0;
	long i, b, batches = cc_iters(3000);
	int p[2];

	if (!cc_want("pipe_"))
		return;
	if (pipe(p) < 0)
		cc_die("pipe");
	for (b = 0; b < batches; b++) {
		t0 = cc_now();
		for (i = 0; i < CC_BATCH; i++)
			if (write(p[1], buf, CC_MSG) != CC_MSG)
				cc_die("write");
		t_w += cc_now() - t0;
		t0 = cc_now();
		for (i = 0; i < CC_BATCH; i++)
			if (read(p[0], buf, CC_MSG) != CC_MSG)
				cc_die("read");
		t_r += cc_now() - t0;
	}
	close(p[0]);
	close(p[1]);
	cc_report("pipe_write", t_w, batches * CC_BATCH);
	cc_report("pipe_read", t_r, batches * CC_BATCH);
}

/* n pipes; the read ends in rd[], the write ends in wr[]. */
static void cc_pipes(int n, int *rd, int *wr)
{
	int i, p[2];

	for (i = 0; i < n; i++) {
		if (pipe(p) < 0)
			cc_die("pipe (raise the fd limit)");
		rd[i] = p[0];
		wr[i] = p[1];
	}
}

static void cc_close_all(int n, int *a)
{
	int i;

	for (i = 0; i < n; i++)
		close(a[i]);
}

static void cc_test_poll(int n)
{
	struct pollfd *pf = calloc((size_t)n, sizeof(*pf));
	int *rd = calloc((size_t)n, sizeof(int)), *wr = calloc((size_t)n,
							       sizeof(int));
	long i, iters = cc_iters(n >= 1000 ? 4000 : 40000);
	char name[32];
	uint64_t t0;

	snprintf(name, sizeof(name), "poll_%d", n);
	if (!cc_want(name) || !pf || !rd || !wr)
		goto out;
	cc_pipes(n, rd, wr);
	for (i = 0; i < n; i++) {
		pf[i].fd = rd[i];
		pf[i].events = POLLIN;
	}
	t0 = cc_now();
	for (i = 0; i < iters; i++)
		if (poll(pf, (nfds_t)n, 0) != 0)
			cc_dief("poll over idle pipes found one ready");
	cc_report(name, cc_now() - t0, iters);
	cc_close_all(n, rd);
	cc_close_all(n, wr);
out:
	free(pf);
	free(rd);
	free(wr);
}

static void cc_test_epoll(int n, bool ready)
{
	struct epoll_event ev[64], e = { .events = EPOLLIN };
	int *rd = calloc((size_t)n, sizeof(int)), *wr = calloc((size_t)n,
							       sizeof(int));
	long i, iters = cc_iters(40000);
	int ep = -1, want = 0, got;
	char name[40];
	uint64_t t0;

	snprintf(name, sizeof(name), "epoll_%d_%s", n, ready ? "ready" : "idle");
	if (!cc_want(name) || !rd || !wr)
		goto out;
	cc_pipes(n, rd, wr);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		cc_die("epoll_create1");
	for (i = 0; i < n; i++) {
		e.data.fd = rd[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, rd[i], &e) < 0)
			cc_die("epoll_ctl");
		/* one in sixteen readable, level-triggered: stays so */
		if (ready && i % 16 == 0) {
			if (write(wr[i], "r", 1) != 1)
				cc_die("write");
			want++;
		}
	}
	if (want > 64)
		want = 64;
	t0 = cc_now();
	for (i = 0; i < iters; i++) {
		got = epoll_wait(ep, ev, 64, 0);
		if (got != want)
			cc_dief("epoll_wait found a different number ready");
	}
	cc_report(name, cc_now() - t0, iters);
	close(ep);
	cc_close_all(n, rd);
	cc_close_all(n, wr);
out:
	free(rd);
	free(wr);
}

/* connect + accept + close both, over 127.0.0.1, one after the other. */
static void cc_test_connect(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	long i, iters = cc_iters(400);
	int lfd, c, s;
	uint64_t t0;

	if (!cc_want("connect_accept_close"))
		return;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len) < 0)
		cc_die("listen");
	t0 = cc_now();
	for (i = 0; i < iters; i++) {
		c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			cc_die("connect");
		s = accept(lfd, NULL, NULL);
		if (s < 0)
			cc_die("accept");
		close(c);
		close(s);
	}
	cc_report("connect_accept_close", cc_now() - t0, iters);
	close(lfd);
}

static int cc_child(void)
{
	static const int sizes[] = { 1, 64, 1000 };
	unsigned int i;

	cc_test_tcp();
	cc_test_pipe();
	for (i = 0; i < 3; i++)
		cc_test_poll(sizes[i]);
	for (i = 0; i < 3; i++) {
		cc_test_epoll(sizes[i], false);
		cc_test_epoll(sizes[i], true);
	}
	cc_test_connect();
	fflush(stdout);
	return 0;
}

/* ---- the driver ---- */

struct cc_fig {
	char name[40];
	double v[2][CC_ROUNDS_MAX];	/* [plain, lib][round] */
	int n[2];
};

static struct cc_fig cc_figs[CC_MAX_TESTS];
static int cc_nfigs;

static struct cc_fig *cc_fig(const char *name)
{
	int i;

	for (i = 0; i < cc_nfigs; i++)
		if (!strcmp(cc_figs[i].name, name))
			return &cc_figs[i];
	if (cc_nfigs == CC_MAX_TESTS)
		cc_dief("too many figures");
	snprintf(cc_figs[cc_nfigs].name, sizeof(cc_figs[0].name), "%s", name);
	return &cc_figs[cc_nfigs++];
}

/* One child run, plain (lib 0) or under the library (1). */
static void cc_run_child(int lib)
{
	char line[128], name[40], arg_scale[32], *av[16];
	int out[2], st, ac = 0;
	double v;
	pid_t pid;
	FILE *f;

	if (pipe(out) < 0)
		cc_die("pipe");
	pid = fork();
	if (pid < 0)
		cc_die("fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], 1);
		close(out[0]);
		close(out[1]);
		if (lib)
			setenv("LD_PRELOAD", cc.lib, 1);
		else
			unsetenv("LD_PRELOAD");
		snprintf(arg_scale, sizeof(arg_scale), "%ld", cc.scale);
		av[ac++] = cc_self;
		av[ac++] = "--child";
		av[ac++] = "--scale";
		av[ac++] = arg_scale;
		av[ac++] = "--peer-addr";
		av[ac++] = (char *)cc.peer_addr;
		if (cc.peer_ns) {
			av[ac++] = "--peer-ns";
			av[ac++] = (char *)cc.peer_ns;
		}
		if (cc.only) {
			av[ac++] = "--only";
			av[ac++] = (char *)cc.only;
		}
		av[ac] = NULL;
		execv(cc_self, av);
		_exit(127);
	}
	close(out[1]);
	f = fdopen(out[0], "r");
	if (!f)
		cc_die("fdopen");
	while (fgets(line, sizeof(line), f)) {
		struct cc_fig *fig;

		if (sscanf(line, "%39s %lf", name, &v) != 2)
			continue;
		fig = cc_fig(name);
		if (fig->n[lib] < CC_ROUNDS_MAX)
			fig->v[lib][fig->n[lib]++] = v;
	}
	fclose(f);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		cc_dief("a run failed");
}

static int cc_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double cc_median(double *v, int n)
{
	if (!n)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), cc_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void cc_print(void)
{
	double p, l, worst = 0;
	const char *wname = "";
	int i;

	if (cc.json)
		printf("{\"rounds\": %d, \"unit\": \"ns_per_call\", "
		       "\"calls\": {", cc.rounds);
	else
		printf("%-26s %12s %12s %8s\n", "call (ns per call)", "plain",
		       "xenloop", "ratio");
	for (i = 0; i < cc_nfigs; i++) {
		p = cc_median(cc_figs[i].v[0], cc_figs[i].n[0]);
		l = cc_median(cc_figs[i].v[1], cc_figs[i].n[1]);
		if (p > 0 && l / p > worst) {
			worst = l / p;
			wname = cc_figs[i].name;
		}
		if (cc.json)
			printf("%s\"%s\": {\"plain\": %.1f, \"xenloop\": %.1f, "
			       "\"ratio\": %.3f}", i ? ", " : "",
			       cc_figs[i].name, p, l, p > 0 ? l / p : 0);
		else
			printf("%-26s %12.1f %12.1f %7.3fx\n", cc_figs[i].name,
			       p, l, p > 0 ? l / p : 0);
	}
	if (cc.json)
		printf("}, \"worst\": {\"call\": \"%s\", \"ratio\": %.3f}}\n",
		       wname, worst);
	else
		printf("worst: %s %.3fx (median of %d interleaved rounds)\n",
		       wname, worst, cc.rounds);
}

static void cc_usage(FILE *f)
{
	fprintf(f,
"usage: callcost [--json] [--rounds N] [--scale PCT] [--lib PATH]\n"
"                [--peer-ns NS --peer-addr ADDR] [--only SUBSTRING]\n"
"  --rounds N    interleaved rounds, plain and library (default 5)\n"
"  --scale PCT   iterations, percent of the default (default 100)\n"
"  --lib PATH    libxenloop.so (default: ../preload/.libs/ of this program)\n"
"  --peer-ns NS  run the TCP echo peer in network namespace NS\n"
"  --peer-addr A the peer's IPv4 address (default 127.0.0.1)\n"
"  --only S      only the figures whose name contains S\n");
}

static void cc_default_lib(void)
{
	static char path[PATH_MAX + 64];
	char dir[PATH_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", cc_self);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	/* bench/callcost or bench/.libs/callcost */
	snprintf(path, sizeof(path), "%s/../preload/.libs/libxenloop.so", dir);
	if (access(path, R_OK) != 0)
		snprintf(path, sizeof(path),
			 "%s/../../preload/.libs/libxenloop.so", dir);
	cc.lib = path;
}

static void cc_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "scale", required_argument, NULL, 's' },
		{ "lib", required_argument, NULL, 'l' },
		{ "peer-ns", required_argument, NULL, 'n' },
		{ "peer-addr", required_argument, NULL, 'a' },
		{ "only", required_argument, NULL, 'o' },
		{ "child", no_argument, NULL, 'c' },
		{ "echo", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	bool child = false;
	ssize_t n;
	int o, r;

	cc.rounds = 5;
	cc.scale = 100;
	cc.peer_addr = "127.0.0.1";
	n = readlink("/proc/self/exe", cc_self, sizeof(cc_self) - 1);
	if (n <= 0)
		cc_die("readlink /proc/self/exe");
	cc_self[n] = '\0';
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (o) {
		case 'j': cc.json = true; break;
		case 'r': cc.rounds = atoi(optarg); break;
		case 's': cc.scale = atol(optarg); break;
		case 'l': cc.lib = optarg; break;
		case 'n': cc.peer_ns = optarg; break;
		case 'a': cc.peer_addr = optarg; break;
		case 'o': cc.only = *optarg ? optarg : NULL; break;
		case 'c': child = true; break;
		case 'e': return cc_echo(optarg);
		case 'h': cc_usage(stdout); return 0;
		default: cc_usage(stderr); return 2;
		}
	}
	if (optind != argc || cc.rounds < 1 || cc.rounds > CC_ROUNDS_MAX ||
	    cc.scale < 1 || cc.scale > 10000) {
		cc_usage(stderr);
		return 2;
	}
	cc_raise_nofile();
	if (child)
		return cc_child();
	if (!cc.lib)
		cc_default_lib();
	if (access(cc.lib, R_OK) != 0)
		cc_die(cc.lib);
	unsetenv("LD_PRELOAD");
	for (r = 0; r < cc.rounds; r++) {
		cc_run_child(r % 2);
		cc_run_child(!(r % 2));
	}
	cc_print();
	return 0;
}
