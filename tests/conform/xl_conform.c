/* SPDX-License-Identifier: MIT */
/*
 * xl_conform: the two ends of the differential conformance suite
 * (tests/conform/conform.sh). Each scenario exercises one corner of the
 * socket API that real programs rely on, and both ends print a transcript
 * of what the calls returned: return values, errno names, event masks by
 * name, byte counts and checksums, in program order. The runner runs each
 * scenario once on plain kernel TCP and once under libxenloop.so, and the
 * transcripts must be identical.
 *
 *   xl_conform list                          scenario names and flags
 *   xl_conform server PORT SCENARIO          in one namespace
 *   xl_conform client ADDR PORT SCENARIO     in the other
 *   xl_conform exec-helper FD                what exec_* scenarios exec
 *
 * Nothing timing-dependent is printed: a wait whose outcome is certain
 * (the peer answers 300 ms after being asked, the wait allows 5 s) prints
 * only its outcome, and a lower bound on a blocking time is printed as
 * "yes"/"no" with a wide margin. Every wait is bounded, and a watchdog
 * thread ends the process (printing a line that no plain run prints) if a
 * scenario does not finish: a call that hangs or spins shows as a
 * difference instead of stalling the suite.
 *
 * Each scenario starts with one connection (conn0) from the client to
 * the server. With XLC_RING=1 in the environment (the library at both
 * ends, both daemons running), both ends first wait until the connection
 * has its channel and both directions moved onto the ring (the library's
 * private socket option, preload/xl_query.h), so that what follows runs
 * on the ring and not on the kernel socket underneath; a connection that
 * does not get there is reported on stderr ("conform: nochan"), which the
 * runner counts as a failure. Without the library the option does not
 * exist and nothing waits.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xl_query.h"

#define WAIT_MS		5000	/* any wait whose outcome is certain */
#define LATE_MS		300	/* a peer's pause before a late answer */
#define KICK_MS		150	/* a signal into a blocked call */
#define WATCHDOG_S	10	/* a scenario's bound */
#define WATCHDOG_LONG_S	15	/* ... with hundreds of connections */
#define BLACKHOLE	"198.18.0.3"	/* no host: connect() hangs in ARP */
#define CLOSED_PORT	9	/* nothing listens there */

/* scenario flags, printed by "list" for the runner */
#define S_NORING	0x1u	/* no payload through a ring expected */
#define S_ONE		0x2u	/* also run with the library at one end */
#define S_LONG		0x4u	/* many connections: a longer bound */

struct scen {
	const char *name;
	void (*cli)(int fd);
	void (*srv)(int lfd, int fd);
	unsigned int flags;
};

static const char *peer_addr;
static int port;
static bool ring_mode;
static const char *scen_name;
static char self_exe[PATH_MAX];
static pthread_t main_thread;
static volatile sig_atomic_t hits, sigpipes;

/* ---- output ---- */

static void out(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static const char *en(int e)
{
	const char *s = strerrorname_np(e);

	return s ? s : "E?";
}

/* Print "what = r" or "what = -1 ENAME"; returns r with errno kept. */
static long chk(const char *what, long r)
{
	int e = errno;

	if (r < 0)
		out("%s = -1 %s", what, en(e));
	else
		out("%s = %ld", what, r);
	errno = e;
	return r;
}

/* The same for a call that returns a new fd: its number is not printed. */
static int chk_fd(const char *what, int r)
{
	int e = errno;

	if (r < 0)
		out("%s = -1 %s", what, en(e));
	else
		out("%s = fd", what);
	errno = e;
	return r;
}

static const char *evstr(uint32_t ev)
{
	static const struct { uint32_t bit; const char *name; } t[] = {
		{ EPOLLIN, "IN" }, { EPOLLPRI, "PRI" }, { EPOLLOUT, "OUT" },
		{ EPOLLERR, "ERR" }, { EPOLLHUP, "HUP" },
		{ EPOLLRDNORM, "RDNORM" }, { EPOLLRDBAND, "RDBAND" },
		{ EPOLLWRNORM, "WRNORM" }, { EPOLLWRBAND, "WRBAND" },
		{ EPOLLMSG, "MSG" }, { EPOLLRDHUP, "RDHUP" },
	};
	static char buf[128];
	size_t i;

	buf[0] = '\0';
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (!(ev & t[i].bit))
			continue;
		if (buf[0])
			strcat(buf, "|");
		strcat(buf, t[i].name);
		ev &= ~t[i].bit;
	}
	if (ev)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
			 "%s0x%x", buf[0] ? "|" : "", ev);
	return buf[0] ? buf : "0";
}

/* FNV-1a over a byte stream, carried across calls. */
static uint32_t ck_add(uint32_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		h = (h ^ *b++) * 16777619u;
	return h;
}
#define CK_INIT 2166136261u

static uint8_t pat(uint64_t i, uint8_t seed)
{
	return (uint8_t)(((i * 2654435761u) >> 11) ^ (i >> 9) ^ seed);
}

static void fill(uint8_t *buf, size_t n, uint64_t off, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		buf[i] = pat(off + i, seed);
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

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

/* ---- bounded I/O (not transcribed unless asked) ---- */

/* Wait up to ms for events on fd: the revents, 0 on timeout. */
static short waitfd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	uint64_t end = now_ms() + (uint64_t)ms;
	int r;

	for (;;) {
		r = poll(&p, 1, ms);
		if (r > 0)
			return p.revents;
		if (r == 0 || errno != EINTR)
			return 0;
		ms = (int)(end > now_ms() ? end - now_ms() : 0);
	}
}

/* Read up to n bytes once the socket is readable (bounded); -2: timeout. */
static ssize_t bread(int fd, void *buf, size_t n)
{
	ssize_t r;

	if (!waitfd(fd, POLLIN, WAIT_MS))
		return -2;
	do
		r = read(fd, buf, n);
	while (r < 0 && errno == EINTR);
	return r;
}

/* Read exactly n bytes (or to EOF), bounded; the count, -1 error, -2 time. */
static ssize_t breadn(int fd, void *buf, size_t n)
{
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		r = bread(fd, (char *)buf + got, n - got);
		if (r < 0)
			return got ? (ssize_t)got : r;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

static int writen(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t w;

	while (n) {
		w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			waitfd(fd, POLLOUT, WAIT_MS);
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Send n bytes of pat(seed) from offset 0. */
static int send_pat(int fd, size_t n, uint8_t seed)
{
	uint8_t buf[16384];
	size_t off = 0, k;

	while (off < n) {
		k = n - off < sizeof(buf) ? n - off : sizeof(buf);
		fill(buf, k, off, seed);
		if (writen(fd, buf, k) < 0)
			return -1;
		off += k;
	}
	return 0;
}

/* Read to EOF (bounded) and print "what: N bytes ck X [how it ended]". */
static void recv_eof(const char *what, int fd)
{
	uint8_t buf[16384];
	uint32_t h = CK_INIT;
	uint64_t total = 0;
	ssize_t r;

	for (;;) {
		r = bread(fd, buf, sizeof(buf));
		if (r <= 0)
			break;
		h = ck_add(h, buf, (size_t)r);
		total += (uint64_t)r;
	}
	out("%s: %llu bytes ck %08x, then %s", what,
	    (unsigned long long)total, h,
	    r == 0 ? "EOF" : r == -2 ? "timeout" : en(errno));
}

/* Read exactly n bytes and print their count and checksum. */
static void recv_n(const char *what, int fd, size_t n)
{
	uint8_t *buf = malloc(n ? n : 1);
	ssize_t r = breadn(fd, buf, n);

	if (r < 0)
		out("%s: %s", what, r == -2 ? "timeout" : en(errno));
	else
		out("%s: %zd bytes ck %08x", what, r,
		    ck_add(CK_INIT, buf, (size_t)r));
	free(buf);
}

/* One control byte; not transcribed unless it is missing. */
static void put1(int fd, char c)
{
	if (writen(fd, &c, 1) < 0)
		out("control byte '%c' not sent: %s", c, en(errno));
}

static char get1(int fd)
{
	char c;

	if (breadn(fd, &c, 1) != 1) {
		out("control byte missing");
		return 0;
	}
	return c;
}

static void set_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* ---- the library's view (never transcribed) ---- */

static int sock_info(int fd, struct xl_sock_info *info)
{
	socklen_t len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	return getsockopt(fd, XL_SOL_XENLOOP, XL_SO_INFO, info, &len);
}

/*
 * In ring mode, wait (bounded) until each of fds has its channel. The
 * library takes the daemon's answer in calls that could wait for it, so a
 * short poll() on each gives it the chance.
 */
static void wait_chans_ms(const int *fds, int n, int ms)
{
	struct xl_sock_info info;
	struct pollfd *p;
	uint64_t end = now_ms() + (uint64_t)ms;
	int i, left;

	if (!ring_mode)
		return;
	p = calloc((size_t)n, sizeof(*p));
	do {
		left = 0;
		for (i = 0; i < n; i++) {
			if (sock_info(fds[i], &info) == 0 &&
			    info.state == XL_INFO_CHAN)
				continue;
			p[left].fd = fds[i];
			p[left++].events = POLLIN;
		}
		if (!left)
			break;
		if (poll(p, (nfds_t)left, 2) != 0)
			msleep(2);
	} while (now_ms() < end);
	if (left)
		fprintf(stderr, "conform: nochan %s: %d of %d connections have "
			"no channel\n", scen_name, left, n);
	free(p);
}

static void wait_chans(const int *fds, int n)
{
	wait_chans_ms(fds, n, 15000);
}

static unsigned int ring_flags(int fd)
{
	struct xl_sock_info info;

	if (sock_info(fd, &info) < 0 || info.state != XL_INFO_CHAN)
		return 0;
	return info.flags & (XL_INFO_TX_RING | XL_INFO_RX_RING);
}

#define BOTH_RINGS (XL_INFO_TX_RING | XL_INFO_RX_RING)

/*
 * Bring conn0 onto the ring: the channel at both ends, then one-byte
 * ping-pongs (each end's direction moves onto the ring at its next send
 * and is taken up at the reader's next read) until both ends report both
 * directions there. The client leads; each byte carries its sender's
 * flags. Runs in every mode, so that the stream is the same.
 */
static void sync_cli(int fd)
{
	char c, peer = 0;
	int round;

	wait_chans(&fd, 1);
	for (round = 0; round < 20; round++) {
		c = (char)('0' + ring_flags(fd));
		if (!ring_mode || ((unsigned)(peer - '0') == BOTH_RINGS &&
				   ring_flags(fd) == BOTH_RINGS))
			break;
		put1(fd, c);
		peer = get1(fd);
	}
	put1(fd, 'D');
	if (ring_mode && ring_flags(fd) != BOTH_RINGS)
		fprintf(stderr, "conform: nochan %s: client end flags %u\n",
			scen_name, ring_flags(fd));
	/* the server has looked at its end before the scenario goes on (one
	 * that takes the connection off its ring, an exec, would else race
	 * with that look) */
	get1(fd);
}

static void sync_srv(int fd)
{
	char c;

	wait_chans(&fd, 1);
	while ((c = get1(fd)) && c != 'D')
		put1(fd, (char)('0' + ring_flags(fd)));
	if (ring_mode && ring_flags(fd) != BOTH_RINGS)
		fprintf(stderr, "conform: nochan %s: server end flags %u\n",
			scen_name, ring_flags(fd));
	put1(fd, 'A');
}

/* ---- connections ---- */

static int connect_to(const char *addr, int p)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)p) };
	uint64_t end = now_ms() + 10000;
	int fd;

	inet_pton(AF_INET, addr, &sa.sin_addr);
	for (;;) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			break;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		/* the server may not listen yet */
		if (errno != ECONNREFUSED || now_ms() > end)
			break;
		msleep(5);
	}
	out("connect to the server failed: %s", en(errno));
	return -1;
}

static int cli_conn(void)
{
	return connect_to(peer_addr, port);
}

static int srv_accept(int lfd)
{
	int fd;

	if (!waitfd(lfd, POLLIN, 10000)) {
		out("accept: no connection came");
		return -1;
	}
	fd = accept(lfd, NULL, NULL);
	if (fd < 0)
		out("accept failed: %s", en(errno));
	return fd;
}

/* ---- epoll helpers ---- */

static int ep_new(void)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);

	if (ep < 0)
		out("epoll_create1: %s", en(errno));
	return ep;
}

static long ep_ctl(const char *what, int ep, int op, int fd, uint32_t ev,
		   uint64_t tag)
{
	struct epoll_event e = { .events = ev, .data.u64 = tag };

	return chk(what, epoll_ctl(ep, op, fd, op == EPOLL_CTL_DEL ? NULL : &e));
}

static int ev_cmp(const void *a, const void *b)
{
	const struct epoll_event *x = a, *y = b;

	return x->data.u64 < y->data.u64 ? -1 : x->data.u64 > y->data.u64;
}

/* epoll_wait, then its events sorted by tag: "  #tag EVENTS". */
static int ep_show(const char *what, int ep, int max, int ms)
{
	struct epoll_event ev[16];
	int n, i;

	n = (int)chk(what, epoll_wait(ep, ev, max, ms));
	if (n <= 0)
		return n;
	qsort(ev, (size_t)n, sizeof(ev[0]), ev_cmp);
	for (i = 0; i < n; i++)
		out("  #%llu %s", (unsigned long long)ev[i].data.u64,
		    evstr(ev[i].events));
	return n;
}

static void poll_show(const char *what, int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r = (int)chk(what, poll(&p, 1, ms));

	if (r > 0)
		out("  revents %s", evstr((uint32_t)p.revents));
}

/* Wait (bounded) for any of wait_ev, then show poll's whole answer for
 * show_ev: a poll for OUT would return at once. */
static void poll_after(const char *what, int fd, short wait_ev,
		       short show_ev)
{
	waitfd(fd, wait_ev, WAIT_MS);
	poll_show(what, fd, show_ev, 0);
}

static void inq_show(const char *what, int fd, unsigned long req)
{
	int v = 0;

	if (chk(what, ioctl(fd, req, &v)) == 0)
		out("  value %d", v);
}

static void opt_show(const char *what, int fd, int level, int name)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (chk(what, getsockopt(fd, level, name, &v, &len)) == 0)
		out("  value %d", v);
}

/* ---- signals ---- */

static void on_hit(int sig)
{
	(void)sig;
	hits++;
}

static void on_pipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static void install(int sig, bool restart)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sig == SIGPIPE ? on_pipe : on_hit;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

static void *kick_main(void *arg)
{
	msleep((int)(intptr_t)arg);
	pthread_kill(main_thread, SIGUSR1);
	return NULL;
}

/* SIGUSR1 to the main thread ms from now, from a thread of its own. */
static pthread_t kick(int ms)
{
	pthread_t t;

	hits = 0;
	pthread_create(&t, NULL, kick_main, (void *)(intptr_t)ms);
	return t;
}

static void *watchdog(void *arg)
{
	sleep((unsigned int)(intptr_t)arg);
	printf("watchdog: %s did not finish within %d s\n", scen_name,
	       (int)(intptr_t)arg);
	fflush(stdout);
	_exit(3);
}

static void start_watchdog(int sec)
{
	sigset_t all, old;
	pthread_t t;

	/* the scenarios' signals must go to the main thread */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_create(&t, NULL, watchdog, (void *)(intptr_t)sec);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_detach(t);
}

/*
 * Fill fd's send path until it stays full: nothing more goes in for two
 * rounds 100 ms apart (the peer reads nothing, its window closed), so
 * that a blocking send after it blocks before copying a byte. Returns the
 * bytes sent (pat(seed) from offset 0).
 */
static uint64_t fill_full(int fd, uint8_t seed)
{
	uint8_t buf[65536];
	uint64_t off = 0, before;
	ssize_t w;
	int round, quiet = 0;

	for (round = 0; round < 100 && quiet < 2; round++) {
		before = off;
		for (;;) {
			fill(buf, sizeof(buf), off, seed);
			w = send(fd, buf, sizeof(buf),
				 MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w <= 0)
				break;
			off += (uint64_t)w;
		}
		if (w < 0 && errno != EAGAIN) {
			out("fill: %s", en(errno));
			break;
		}
		quiet = off == before ? quiet + 1 : 0;
		msleep(100);
	}
	return off;
}

/* Read fd to EOF, then report count and checksum back on ctl. */
static void srv_count_back(int ctl, int fd)
{
	uint8_t buf[65536];
	uint64_t total = 0, rep[2];
	uint32_t h = CK_INIT;
	ssize_t r;

	while ((r = bread(fd, buf, sizeof(buf))) > 0) {
		h = ck_add(h, buf, (size_t)r);
		total += (uint64_t)r;
	}
	if (r < 0)
		out("drain ended with %s", r == -2 ? "timeout" : en(errno));
	rep[0] = total;
	rep[1] = h;
	writen(ctl, rep, sizeof(rep));
}

/* The client's end of srv_count_back: did the server get it all? */
static void cli_count_check(int ctl, uint64_t sent, uint8_t seed)
{
	uint8_t buf[65536];
	uint64_t rep[2], off = 0;
	uint32_t h = CK_INIT;
	size_t k;

	while (off < sent) {
		k = sent - off < sizeof(buf) ? (size_t)(sent - off) : sizeof(buf);
		fill(buf, k, off, seed);
		h = ck_add(h, buf, k);
		off += k;
	}
	if (breadn(ctl, rep, sizeof(rep)) != sizeof(rep)) {
		out("no count from the server");
		return;
	}
	out("server got every byte sent, in order: %s",
	    yes_no(rep[0] == sent && rep[1] == h));
}

/* Wait (bounded) until at least want bytes wait unread. */
static void wait_inq(int fd, int want, int ms)
{
	int v = 0, i;

	for (i = 0; i < ms / 10; i++) {
		if (ioctl(fd, SIOCINQ, &v) < 0 || v >= want)
			break;
		msleep(10);
	}
}

/* ================= scenarios ================= */

/* ---- epoll ---- */

static void cli_epoll_level(int fd)
{
	int ep = ep_new();
	char buf[16];

	ep_ctl("add IN|OUT", ep, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLOUT, 1);
	ep_show("wait0", ep, 8, 0);
	ep_ctl("mod IN", ep, EPOLL_CTL_MOD, fd, EPOLLIN, 1);
	ep_show("wait0", ep, 8, 0);
	put1(fd, 'g');
	ep_show("wait", ep, 8, WAIT_MS);
	ep_show("wait0 again", ep, 8, 0);
	chk("read 5", read(fd, buf, 5));
	ep_show("wait0 after 5 of 10", ep, 8, 0);
	chk("read 5", read(fd, buf, 5));
	ep_show("wait0 after all", ep, 8, 0);
	put1(fd, 'q');
	ep_show("wait for EOF", ep, 8, WAIT_MS);
	chk("read", read(fd, buf, sizeof(buf)));
	ep_show("wait0 at EOF", ep, 8, 0);
	ep_ctl("del", ep, EPOLL_CTL_DEL, fd, 0, 0);
	ep_ctl("del again", ep, EPOLL_CTL_DEL, fd, 0, 0);
	ep_show("wait0 empty", ep, 8, 0);
	close(ep);
}

static void srv_epoll_level(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 10, 1);
	get1(fd);
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	recv_eof("rest", fd);
}

static void cli_epoll_edge(int fd)
{
	int ep = ep_new(), epo = ep_new();
	char buf[16];

	ep_ctl("add IN|RDHUP|ET", ep, EPOLL_CTL_ADD, fd,
	       EPOLLIN | EPOLLRDHUP | EPOLLET, 1);
	ep_show("wait0", ep, 8, 0);
	put1(fd, 'g');
	ep_show("wait for 10 bytes", ep, 8, WAIT_MS);
	ep_show("wait0 no new edge", ep, 8, 0);
	chk("read 5", read(fd, buf, 5));
	ep_show("wait0 after 5 of 10", ep, 8, 0);
	/* one more byte comes while nobody waits: a new edge */
	put1(fd, 'h');
	wait_inq(fd, 6, WAIT_MS);
	ep_show("wait0 after 1 more byte came", ep, 8, 0);
	ep_show("wait0", ep, 8, 0);
	/* and one more while we wait */
	put1(fd, 'i');
	ep_show("wait for 1 more byte", ep, 8, WAIT_MS);
	ep_show("wait0", ep, 8, 0);
	chk("read all", read(fd, buf, sizeof(buf)));
	ep_show("wait0 drained", ep, 8, 0);
	put1(fd, 'q');
	ep_show("wait for FIN", ep, 8, WAIT_MS);
	chk("read", read(fd, buf, sizeof(buf)));
	ep_show("wait0 after EOF", ep, 8, 0);
	ep_ctl("add OUT|ET", epo, EPOLL_CTL_ADD, fd, EPOLLOUT | EPOLLET, 2);
	ep_show("wait0 OUT", epo, 8, 0);
	ep_show("wait0 OUT again", epo, 8, 0);
	close(ep);
	close(epo);
}

static void srv_epoll_edge(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 10, 2);
	get1(fd);
	send_pat(fd, 1, 3);
	get1(fd);
	msleep(LATE_MS);
	send_pat(fd, 1, 3);
	get1(fd);
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	recv_eof("rest", fd);
}

static void cli_epoll_oneshot(int fd)
{
	int ep = ep_new();
	char buf[16];

	ep_ctl("add IN|ONESHOT", ep, EPOLL_CTL_ADD, fd,
	       EPOLLIN | EPOLLONESHOT, 1);
	put1(fd, 'g');
	ep_show("wait", ep, 8, WAIT_MS);
	ep_show("wait0 disarmed", ep, 8, 0);
	chk("read", read(fd, buf, sizeof(buf)));
	put1(fd, 'h');
	poll_show("poll for more", fd, POLLIN, WAIT_MS);
	ep_show("wait0 still disarmed", ep, 8, 0);
	ep_ctl("mod IN|ONESHOT", ep, EPOLL_CTL_MOD, fd,
	       EPOLLIN | EPOLLONESHOT, 1);
	ep_show("wait0 rearmed", ep, 8, 0);
	ep_show("wait0 again", ep, 8, 0);
	chk("read", read(fd, buf, sizeof(buf)));
	close(ep);
}

static void srv_epoll_oneshot(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 3, 4);
	get1(fd);
	send_pat(fd, 3, 5);
	recv_eof("rest", fd);
}

struct excl_arg {
	int ep;
	int got;
};

static void *excl_waiter(void *arg)
{
	struct excl_arg *a = arg;
	struct epoll_event ev;

	a->got = epoll_wait(a->ep, &ev, 1, 1500);
	return NULL;
}

static void cli_epoll_exclusive(int fd)
{
	struct excl_arg a[2];
	pthread_t t[2];
	int e1 = ep_new(), e2 = ep_new(), e3 = ep_new(), i, woken = 0;
	char buf[16];

	ep_ctl("add e1 IN|EXCLUSIVE", e1, EPOLL_CTL_ADD, fd,
	       EPOLLIN | EPOLLEXCLUSIVE, 1);
	ep_ctl("add e2 IN|EXCLUSIVE", e2, EPOLL_CTL_ADD, fd,
	       EPOLLIN | EPOLLEXCLUSIVE, 2);
	ep_ctl("mod e1", e1, EPOLL_CTL_MOD, fd, EPOLLIN, 1);
	ep_ctl("add e3 EXCLUSIVE|ONESHOT", e3, EPOLL_CTL_ADD, fd,
	       EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 3);
	ep_show("wait0 e1", e1, 8, 0);
	put1(fd, 'g');
	poll_show("poll", fd, POLLIN, WAIT_MS);
	ep_show("wait0 e1", e1, 8, 0);
	ep_show("wait0 e2", e2, 8, 0);
	chk("read", read(fd, buf, sizeof(buf)));
	ep_show("wait0 e1 drained", e1, 8, 0);
	/* two waiters, one byte: at least one of them wakes */
	for (i = 0; i < 2; i++) {
		a[i].ep = i ? e2 : e1;
		pthread_create(&t[i], NULL, excl_waiter, &a[i]);
	}
	msleep(50);
	put1(fd, 'h');
	for (i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		woken += a[i].got == 1;
	}
	out("waiters woken by one byte: at least one: %s", yes_no(woken >= 1));
	chk("read", read(fd, buf, sizeof(buf)));
	close(e1);
	close(e2);
	close(e3);
}

static void srv_epoll_exclusive(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 1, 6);
	get1(fd);
	msleep(LATE_MS);
	send_pat(fd, 1, 7);
	recv_eof("rest", fd);
}

static void cli_epoll_nested(int fd)
{
	int inner = ep_new(), outer = ep_new();
	fd_set rs;
	struct timeval tv = { 0, 0 };
	uint64_t t0;
	char buf[16];

	ep_ctl("add conn to inner", inner, EPOLL_CTL_ADD, fd, EPOLLIN, 1);
	ep_ctl("add inner to outer", outer, EPOLL_CTL_ADD, inner, EPOLLIN, 2);
	ep_show("outer wait0", outer, 8, 0);
	ep_show("inner wait0", inner, 8, 0);
	poll_show("poll inner", inner, POLLIN, 0);
	put1(fd, 'g');
	t0 = now_ms();
	ep_show("outer wait", outer, 8, WAIT_MS);
	out("outer waited for the byte: %s",
	    yes_no(now_ms() - t0 >= LATE_MS / 2));
	ep_show("inner wait0", inner, 8, 0);
	poll_show("poll inner", inner, POLLIN, 0);
	FD_ZERO(&rs);
	FD_SET(inner, &rs);
	chk("select inner", select(inner + 1, &rs, NULL, NULL, &tv));
	chk("read", read(fd, buf, sizeof(buf)));
	ep_show("outer wait0 drained", outer, 8, 0);
	poll_show("poll inner drained", inner, POLLIN, 0);
	close(outer);
	close(inner);
}

static void srv_epoll_nested(int lfd, int fd)
{
	get1(fd);
	msleep(LATE_MS);
	send_pat(fd, 1, 8);
	recv_eof("rest", fd);
}

static void cli_epoll_rdhup(int fd)
{
	int ep = ep_new(), i;
	struct epoll_event ev;
	char buf[16];

	ep_ctl("add IN|RDHUP", ep, EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP, 1);
	ep_show("wait0", ep, 8, 0);
	put1(fd, 'q');
	ep_show("wait for FIN", ep, 8, WAIT_MS);
	ep_show("wait0 level", ep, 8, 0);
	chk("read", read(fd, buf, sizeof(buf)));
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	/* both directions shut: HUP, once our FIN is out */
	for (i = 0; i < 200; i++) {
		if (epoll_wait(ep, &ev, 1, 0) == 1 && (ev.events & EPOLLHUP))
			break;
		msleep(10);
	}
	ep_show("wait0 both shut", ep, 8, 0);
	ep_ctl("mod OUT", ep, EPOLL_CTL_MOD, fd, EPOLLOUT, 1);
	ep_show("wait0 OUT", ep, 8, 0);
	close(ep);
}

static void srv_epoll_rdhup(int lfd, int fd)
{
	get1(fd);
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	recv_eof("rest", fd);
}

static void cli_epoll_mixed(int fd)
{
	int ep = ep_new(), p[2], efd = eventfd(0, EFD_CLOEXEC);
	uint64_t one = 1;
	char buf[16];

	if (pipe(p) < 0)
		return;
	ep_ctl("add conn", ep, EPOLL_CTL_ADD, fd, EPOLLIN, 1);
	ep_ctl("add pipe", ep, EPOLL_CTL_ADD, p[0], EPOLLIN, 2);
	ep_ctl("add eventfd", ep, EPOLL_CTL_ADD, efd, EPOLLIN, 3);
	ep_ctl("add conn twice", ep, EPOLL_CTL_ADD, fd, EPOLLIN, 4);
	ep_show("wait0", ep, 8, 0);
	chk("write pipe", write(p[1], "x", 1));
	ep_show("wait0 pipe", ep, 8, 0);
	chk("write eventfd", write(efd, &one, sizeof(one)));
	put1(fd, 'g');
	poll_show("poll conn", fd, POLLIN, WAIT_MS);
	ep_show("wait0 all three", ep, 8, 0);
	ep_show("wait0 max 1", ep, 1, 0);
	chk("read conn", read(fd, buf, sizeof(buf)));
	chk("read pipe", read(p[0], buf, sizeof(buf)));
	ep_show("wait0 eventfd left", ep, 8, 0);
	close(p[0]);
	close(p[1]);
	close(efd);
	close(ep);
}

static void srv_epoll_mixed(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 2, 9);
	recv_eof("rest", fd);
}

/* ---- readiness after partial reads ---- */

static void cli_partial_reads(int fd)
{
	fd_set rs;
	struct timeval tv = { 0, 0 };
	char buf[16];

	put1(fd, 'g');
	poll_after("poll", fd, POLLIN, POLLIN | POLLOUT);
	inq_show("FIONREAD", fd, FIONREAD);
	chk("read 4", read(fd, buf, 4));
	poll_show("poll0 after 4 of 10", fd, POLLIN, 0);
	inq_show("FIONREAD", fd, FIONREAD);
	FD_ZERO(&rs);
	FD_SET(fd, &rs);
	chk("select", select(fd + 1, &rs, NULL, NULL, &tv));
	out("  readable %s", yes_no(FD_ISSET(fd, &rs)));
	chk("recv 6", recv(fd, buf, 6, 0));
	poll_show("poll0 drained", fd, POLLIN, 0);
	inq_show("FIONREAD", fd, FIONREAD);
	set_nonblock(fd, true);
	chk("read nonblocking", read(fd, buf, sizeof(buf)));
	set_nonblock(fd, false);
	put1(fd, 'h');
	poll_show("poll for 1 more", fd, POLLIN, WAIT_MS);
	inq_show("FIONREAD", fd, FIONREAD);
	chk("read", read(fd, buf, sizeof(buf)));
}

static void srv_partial_reads(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 10, 10);
	get1(fd);
	send_pat(fd, 1, 11);
	recv_eof("rest", fd);
}

/* ---- poll and select on closed and half-closed peers ---- */

static void cli_poll_closed(int fd)
{
	char buf[16];
	int i;

	put1(fd, 'g');
	poll_after("poll", fd, POLLIN | POLLRDHUP,
		   POLLIN | POLLOUT | POLLRDHUP);
	chk("read", read(fd, buf, sizeof(buf)));
	chk("read again", read(fd, buf, sizeof(buf)));
	chk("send into the closed peer", send(fd, "x", 1, MSG_NOSIGNAL));
	for (i = 0; i < 300; i++) {
		if (waitfd(fd, POLLIN, 0) & (POLLHUP | POLLERR))
			break;
		msleep(10);
	}
	poll_show("poll after the reset", fd, POLLIN | POLLOUT | POLLRDHUP, 0);
	chk("send again", send(fd, "x", 1, MSG_NOSIGNAL));
	chk("send once more", send(fd, "x", 1, MSG_NOSIGNAL));
	chk("read", read(fd, buf, sizeof(buf)));
	out("SIGPIPEs: %d", (int)sigpipes);
}

static void srv_poll_closed(int lfd, int fd)
{
	get1(fd);
	chk("close", close(fd));
	/* the client's byte must meet a closed socket: stay up, quietly */
	msleep(LATE_MS);
}

static void cli_poll_halfclosed(int fd)
{
	char buf[16];

	put1(fd, 'g');
	poll_after("poll", fd, POLLIN | POLLRDHUP,
		   POLLIN | POLLOUT | POLLRDHUP);
	chk("read", read(fd, buf, sizeof(buf)));
	chk("read again", read(fd, buf, sizeof(buf)));
	poll_show("poll0", fd, POLLIN | POLLOUT | POLLRDHUP, 0);
	/* after the server's own poll0 (it can no longer tell us) */
	msleep(LATE_MS);
	if (send_pat(fd, 100, 12) < 0)
		out("send after the peer's FIN: %s", en(errno));
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	poll_show("poll0 both shut", fd, POLLIN | POLLOUT | POLLRDHUP, 0);
	chk("send after SHUT_WR", send(fd, "x", 1, MSG_NOSIGNAL));
}

static void srv_poll_halfclosed(int lfd, int fd)
{
	char buf[16];

	get1(fd);
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	poll_show("poll0", fd, POLLIN | POLLOUT | POLLRDHUP, 0);
	recv_n("100 bytes after our FIN", fd, 100);
	poll_after("poll for the FIN", fd, POLLIN | POLLRDHUP,
		   POLLIN | POLLOUT | POLLRDHUP);
	chk("read", read(fd, buf, sizeof(buf)));
	poll_show("poll0 both shut", fd, POLLIN | POLLOUT | POLLRDHUP, 0);
}

static void cli_select_closed(int fd)
{
	fd_set rs, ws, es;
	struct timeval tv = { WAIT_MS / 1000, 0 };
	char buf[16];

	put1(fd, 'g');
	FD_ZERO(&rs);
	FD_ZERO(&es);
	FD_SET(fd, &rs);
	FD_SET(fd, &es);
	chk("select read", select(fd + 1, &rs, NULL, &es, &tv));
	out("  readable %s, exception %s", yes_no(FD_ISSET(fd, &rs)),
	    yes_no(FD_ISSET(fd, &es)));
	FD_ZERO(&rs);
	FD_ZERO(&ws);
	FD_SET(fd, &rs);
	FD_SET(fd, &ws);
	tv.tv_sec = 0;
	chk("select0 read+write", select(fd + 1, &rs, &ws, NULL, &tv));
	out("  readable %s, writable %s", yes_no(FD_ISSET(fd, &rs)),
	    yes_no(FD_ISSET(fd, &ws)));
	chk("read", read(fd, buf, sizeof(buf)));
	chk("pselect0", pselect(fd + 1, &rs, NULL, NULL,
				&(struct timespec){ 0, 0 }, NULL));
}

static void srv_select_closed(int lfd, int fd)
{
	get1(fd);
	chk("close", close(fd));
}

/* ---- many sockets ready at once ---- */

static int *open_many(int n)
{
	int *fds = calloc((size_t)n, sizeof(int)), i;

	for (i = 0; i < n; i++) {
		fds[i] = cli_conn();
		if (fds[i] < 0) {
			out("connection %d failed", i);
			exit(1);
		}
	}
	wait_chans(fds, n);
	return fds;
}

static int *accept_many(int lfd, int n)
{
	int *fds = calloc((size_t)n, sizeof(int)), i;

	for (i = 0; i < n; i++) {
		fds[i] = srv_accept(lfd);
		if (fds[i] < 0) {
			out("accepted only %d", i);
			exit(1);
		}
	}
	out("accepted %d", n);
	wait_chans(fds, n);
	return fds;
}

/* epoll_wait for up to max events: their count, and whether each is
 * OUT only and the tags are distinct. */
static void ep_count(const char *what, int ep, int n, int max, int ms)
{
	struct epoll_event *ev = calloc((size_t)max, sizeof(*ev));
	char *seen = calloc((size_t)n, 1);
	bool ok = true;
	int r, i;

	r = (int)chk(what, epoll_wait(ep, ev, max, ms));
	for (i = 0; i < r; i++) {
		if (ev[i].data.u64 >= (uint64_t)n || seen[ev[i].data.u64] ||
		    ev[i].events != EPOLLOUT)
			ok = false;
		else
			seen[ev[i].data.u64] = 1;
	}
	if (r > 0)
		out("  each a distinct socket, OUT only: %s", yes_no(ok));
	free(ev);
	free(seen);
}

static void cli_ready_out(int fd, int n)
{
	int *fds = open_many(n), ep = ep_new(), i;
	struct epoll_event e;
	char what[64];

	for (i = 0; i < n; i++) {
		e.events = EPOLLOUT;
		e.data.u64 = (uint64_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e) < 0)
			out("add %d: %s", i, en(errno));
	}
	snprintf(what, sizeof(what), "wait max %d", n / 2);
	ep_count(what, ep, n, n / 2, 1000);
	snprintf(what, sizeof(what), "wait max %d", n + 16);
	ep_count(what, ep, n, n + 16, 1000);
	ep_count("wait max 1", ep, n, 1, 1000);
	ep_count("wait0 max 64", ep, n, 64, 0);
	ep_count("wait0 max 63", ep, n, 63, 0);
	snprintf(what, sizeof(what), "wait0 max %d", n);
	ep_count(what, ep, n, n, 0);
	for (i = 0; i < n; i++) {
		e.events = EPOLLIN;
		e.data.u64 = (uint64_t)i;
		epoll_ctl(ep, EPOLL_CTL_MOD, fds[i], &e);
	}
	snprintf(what, sizeof(what), "wait 300 ms for IN, max %d", n + 16);
	ep_count(what, ep, n, n + 16, 300);
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
	close(ep);
	put1(fd, 'q');
}

static void srv_ready_out(int lfd, int fd, int n)
{
	int *fds = accept_many(lfd, n), i;

	get1(fd);
	for (i = 0; i < n; i++)
		close(fds[i]);
	free(fds);
}

#define READY_OUT(n) \
static void cli_ready_out_##n(int fd) { cli_ready_out(fd, n); } \
static void srv_ready_out_##n(int lfd, int fd) { srv_ready_out(lfd, fd, n); }
READY_OUT(63)
READY_OUT(64)
READY_OUT(65)
READY_OUT(128)
READY_OUT(300)

#define MANY_CLOSE 300

/* Hundreds of connections on one epoll whose peers echo a byte and close. */
static void cli_peers_close(int fd)
{
	int *fds = open_many(MANY_CLOSE), ep = ep_new(), i, open = MANY_CLOSE;
	int eofs = 0, bytes = 0, sum = 0, r, k;
	struct epoll_event e, ev[64];
	uint64_t end;
	char c, buf[16];
	ssize_t got;

	for (i = 0; i < MANY_CLOSE; i++) {
		c = (char)('a' + i % 26);
		if (writen(fds[i], &c, 1) < 0)
			out("send %d: %s", i, en(errno));
		e.events = EPOLLIN | EPOLLRDHUP;
		e.data.u64 = (uint64_t)i;
		epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e);
	}
	end = now_ms() + 10000;
	while (open && now_ms() < end) {
		r = epoll_wait(ep, ev, 64, WAIT_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			out("epoll_wait = %d with %d open", r, open);
			break;
		}
		for (k = 0; k < r; k++) {
			i = (int)ev[k].data.u64;
			got = read(fds[i], buf, sizeof(buf));
			if (got > 0) {
				bytes += (int)got;
				sum += buf[0];
				continue;
			}
			if (got < 0 && errno == EAGAIN)
				continue;
			if (got == 0)
				eofs++;
			else
				out("read %d: %s", i, en(errno));
			epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
			close(fds[i]);
			open--;
		}
	}
	out("echoed bytes %d, sum %d, EOFs %d, still open %d", bytes, sum,
	    eofs, open);
	free(fds);
	close(ep);
	put1(fd, 'q');
}

static void srv_peers_close(int lfd, int fd)
{
	int *fds = accept_many(lfd, MANY_CLOSE), i, bad = 0;
	char c;

	for (i = 0; i < MANY_CLOSE; i++) {
		if (breadn(fds[i], &c, 1) != 1 || writen(fds[i], &c, 1) < 0)
			bad++;
		close(fds[i]);
	}
	out("echoed and closed, failures %d", bad);
	get1(fd);
	free(fds);
}

/* ---- signals during blocking calls ---- */

/* MIXED: another handler, never called, installed without SA_RESTART
 * (as a program that handles SIGCHLD or SIGINT apart). */
static void sig_recv(int fd, bool restart, bool timeo, bool mixed)
{
	struct timeval tv = { 3, 0 };
	pthread_t t;
	char buf[16];

	install(SIGUSR1, restart);
	if (mixed)
		install(SIGUSR2, false);
	if (timeo)
		chk("SO_RCVTIMEO 3 s", setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO,
						 &tv, sizeof(tv)));
	put1(fd, 'g');
	t = kick(KICK_MS);
	chk("recv", recv(fd, buf, sizeof(buf), 0));
	pthread_join(t, NULL);
	out("handler ran %d time(s)", (int)hits);
	chk("recv after", bread(fd, buf, sizeof(buf)));
}

static void cli_sig_recv_restart(int fd) { sig_recv(fd, true, false, false); }
static void cli_sig_recv_mixed(int fd) { sig_recv(fd, true, false, true); }
static void cli_sig_recv_intr(int fd) { sig_recv(fd, false, false, false); }
static void cli_sig_recv_timeo(int fd) { sig_recv(fd, true, true, false); }

/* The server answers once, LATE_MS after the signal went in, then once
 * more for the "recv after". */
static void srv_sig_recv(int lfd, int fd)
{
	get1(fd);
	msleep(KICK_MS + LATE_MS);
	send_pat(fd, 1, 13);
	msleep(LATE_MS);
	send_pat(fd, 1, 14);
	recv_eof("rest", fd);
}

/* A second connection with fixed, small buffers at both ends: its
 * window closes for good once the server stops reading, so a blocking
 * send into it copies nothing until the server reads again. */
static int cli_small_conn(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), v = 32768;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	inet_pton(AF_INET, peer_addr, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		out("connect: %s", en(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int srv_small_accept(int lfd)
{
	int v = 32768;

	setsockopt(lfd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	setsockopt(lfd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
	return srv_accept(lfd);
}

static void sig_send(int fd, bool restart, bool mixed)
{
	int d = cli_small_conn();
	uint8_t buf[65536];
	uint64_t sent;
	pthread_t t;
	long r;

	if (d < 0)
		return;
	wait_chans(&d, 1);
	sent = fill_full(d, 15);
	install(SIGUSR1, restart);
	if (mixed)
		install(SIGUSR2, false);
	put1(fd, 'g');
	t = kick(KICK_MS);
	fill(buf, sizeof(buf), sent, 15);
	r = chk("send 64 KiB", send(d, buf, sizeof(buf), MSG_NOSIGNAL));
	pthread_join(t, NULL);
	out("handler ran %d time(s)", (int)hits);
	if (r > 0)
		sent += (uint64_t)r;
	chk("shutdown WR", shutdown(d, SHUT_WR));
	cli_count_check(fd, sent, 15);
	close(d);
}

static void cli_sig_send_restart(int fd) { sig_send(fd, true, false); }
static void cli_sig_send_mixed(int fd) { sig_send(fd, true, true); }
static void cli_sig_send_intr(int fd) { sig_send(fd, false, false); }

static void srv_sig_send(int lfd, int fd)
{
	int d = srv_small_accept(lfd);

	if (d < 0)
		return;
	wait_chans(&d, 1);
	get1(fd);
	msleep(KICK_MS + LATE_MS);
	srv_count_back(fd, d);
	close(d);
}

static void cli_sig_accept(int fd)
{
	int d;

	if (get1(fd) != 'a')
		return;
	msleep(KICK_MS + LATE_MS);
	d = cli_conn();
	get1(fd);
	close(d);
}

static void sig_accept(int lfd, int fd, bool restart)
{
	pthread_t t;
	int a;

	install(SIGUSR1, restart);
	put1(fd, 'a');
	t = kick(KICK_MS);
	a = chk_fd("accept", accept(lfd, NULL, NULL));
	pthread_join(t, NULL);
	out("handler ran %d time(s)", (int)hits);
	if (a < 0)
		a = chk_fd("accept after", srv_accept(lfd));
	put1(fd, 'e');
	close(a);
}

static void cli_sig_accept_restart(int fd) { cli_sig_accept(fd); }
static void cli_sig_accept_intr(int fd) { cli_sig_accept(fd); }
static void srv_sig_accept_restart(int lfd, int fd)
{
	sig_accept(lfd, fd, true);
}
static void srv_sig_accept_intr(int lfd, int fd) { sig_accept(lfd, fd, false); }

static void *shut_later(void *arg)
{
	msleep(KICK_MS + LATE_MS);
	shutdown((int)(intptr_t)arg, SHUT_RDWR);
	return NULL;
}

/*
 * A connect() that hangs (the address never answers ARP) and a signal
 * into it; with SA_RESTART the kernel restarts it, so another thread ends
 * it with shutdown() a little later instead of waiting for the ARP
 * timeout.
 */
static void sig_connect(bool restart)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(CLOSED_PORT) };
	int s = socket(AF_INET, SOCK_STREAM, 0);
	pthread_t t, t2;

	inet_pton(AF_INET, BLACKHOLE, &sa.sin_addr);
	install(SIGUSR1, restart);
	t = kick(KICK_MS);
	pthread_create(&t2, NULL, shut_later, (void *)(intptr_t)s);
	chk("connect to a silent address",
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	pthread_join(t, NULL);
	out("handler ran %d time(s)", (int)hits);
	chk("connect again", connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	pthread_join(t2, NULL);
	opt_show("SO_ERROR", s, SOL_SOCKET, SO_ERROR);
	close(s);
}

static void cli_sig_connect_restart(int fd) { sig_connect(true); }
static void cli_sig_connect_intr(int fd) { sig_connect(false); }

static void sig_wait(int fd, int how, bool restart)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct epoll_event ev;
	struct timeval tv = { 3, 0 };
	fd_set rs;
	pthread_t t;
	int ep = ep_new();

	ep_ctl("add", ep, EPOLL_CTL_ADD, fd, EPOLLIN, 1);
	install(SIGUSR1, restart);
	t = kick(KICK_MS);
	if (how == 0) {
		chk("poll 3 s", poll(&p, 1, 3000));
	} else if (how == 1) {
		chk("epoll_wait 3 s", epoll_wait(ep, &ev, 1, 3000));
	} else {
		FD_ZERO(&rs);
		FD_SET(fd, &rs);
		chk("select 3 s", select(fd + 1, &rs, NULL, NULL, &tv));
	}
	pthread_join(t, NULL);
	out("handler ran %d time(s)", (int)hits);
	close(ep);
}

static void cli_sig_poll_restart(int fd) { sig_wait(fd, 0, true); }
static void cli_sig_poll_intr(int fd) { sig_wait(fd, 0, false); }
static void cli_sig_epoll_restart(int fd) { sig_wait(fd, 1, true); }
static void cli_sig_epoll_intr(int fd) { sig_wait(fd, 1, false); }
static void cli_sig_select_restart(int fd) { sig_wait(fd, 2, true); }

/* ---- timeouts ---- */

static void cli_rcvtimeo(int fd)
{
	struct timeval tv = { 0, 400000 }, got;
	socklen_t len = sizeof(got);
	uint64_t t0;
	char buf[16];

	chk("SO_RCVTIMEO 400 ms", setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO,
					    &tv, sizeof(tv)));
	if (chk("get SO_RCVTIMEO", getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO,
					      &got, &len)) == 0)
		out("  %ld.%06ld s", (long)got.tv_sec, (long)got.tv_usec);
	t0 = now_ms();
	chk("recv", recv(fd, buf, sizeof(buf), 0));
	out("blocked for the timeout: %s", yes_no(now_ms() - t0 >= 300));
	put1(fd, 'g');
	chk("recv 10 WAITALL, 3 come", recv(fd, buf, 10, MSG_WAITALL));
	t0 = now_ms();
	chk("read", read(fd, buf, sizeof(buf)));
	out("blocked for the timeout: %s", yes_no(now_ms() - t0 >= 300));
}

static void srv_rcvtimeo(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 3, 16);
	recv_eof("rest", fd);
}

static void cli_sndtimeo(int fd)
{
	int d = cli_conn(), i;
	struct timeval tv = { 0, 400000 };
	uint8_t buf[65536];
	uint64_t sent = 0, t0 = 0;
	ssize_t w = 0;

	if (d < 0)
		return;
	wait_chans(&d, 1);
	chk("SO_SNDTIMEO 400 ms", setsockopt(d, SOL_SOCKET, SO_SNDTIMEO,
					    &tv, sizeof(tv)));
	for (i = 0; i < 2000; i++) {
		fill(buf, sizeof(buf), sent, 17);
		t0 = now_ms();
		w = send(d, buf, sizeof(buf), MSG_NOSIGNAL);
		if (w < 0)
			break;
		sent += (uint64_t)w;
	}
	chk("the first send that failed", w < 0 ? -1 : 0);
	out("blocked for the timeout: %s", yes_no(now_ms() - t0 >= 300));
	put1(fd, 'g');
	chk("shutdown WR", shutdown(d, SHUT_WR));
	cli_count_check(fd, sent, 17);
	close(d);
}

static void srv_sndtimeo(int lfd, int fd)
{
	int d = srv_accept(lfd);

	if (d < 0)
		return;
	wait_chans(&d, 1);
	get1(fd);
	srv_count_back(fd, d);
	close(d);
}

/* ---- options ---- */

static void cli_linger0(int fd)
{
	struct linger l = { 1, 0 };
	socklen_t len = sizeof(l);

	chk("SO_LINGER 1 0", setsockopt(fd, SOL_SOCKET, SO_LINGER, &l,
				       sizeof(l)));
	memset(&l, 0xff, sizeof(l));
	if (chk("get SO_LINGER", getsockopt(fd, SOL_SOCKET, SO_LINGER, &l,
					    &len)) == 0)
		out("  onoff %d linger %d", l.l_onoff, l.l_linger);
	/* close with all 101 bytes of the server's unread: a reset */
	wait_inq(fd, 101, WAIT_MS);
	chk("close", close(fd));
}

static void srv_linger0(int lfd, int fd)
{
	char buf[16];
	int err = -1;
	socklen_t len = sizeof(err);

	send_pat(fd, 100, 18);	/* left unread: a reset regardless */
	put1(fd, 'c');
	poll_show("poll", fd, POLLIN | POLLRDHUP, WAIT_MS);
	chk("recv", recv(fd, buf, sizeof(buf), 0));
	chk("recv again", recv(fd, buf, sizeof(buf), 0));
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
	out("SO_ERROR %s", err ? en(err) : "0");
	chk("send", send(fd, "x", 1, MSG_NOSIGNAL));
}


static void cli_nodelay(int fd)
{
	int one = 1, zero = 0;

	opt_show("TCP_NODELAY", fd, IPPROTO_TCP, TCP_NODELAY);
	chk("set TCP_NODELAY 1", setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
					    &one, sizeof(one)));
	opt_show("TCP_NODELAY", fd, IPPROTO_TCP, TCP_NODELAY);
	chk("set TCP_NODELAY 0", setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
					    &zero, sizeof(zero)));
	opt_show("TCP_NODELAY", fd, IPPROTO_TCP, TCP_NODELAY);
	opt_show("TCP_CORK", fd, IPPROTO_TCP, TCP_CORK);
	chk("set TCP_NODELAY short", setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
						&one, 1));
	chk("set TCP_NODELAY 1", setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
					    &one, sizeof(one)));
	send_pat(fd, 1000, 19);
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	recv_eof("reply", fd);
}

static void srv_nodelay(int lfd, int fd)
{
	opt_show("TCP_NODELAY", fd, IPPROTO_TCP, TCP_NODELAY);
	recv_eof("data", fd);
}

static void cli_sockopts(int fd)
{
	int v = 65536;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	char buf[16];

	opt_show("SO_TYPE", fd, SOL_SOCKET, SO_TYPE);
	opt_show("SO_DOMAIN", fd, SOL_SOCKET, SO_DOMAIN);
	opt_show("SO_PROTOCOL", fd, SOL_SOCKET, SO_PROTOCOL);
	opt_show("SO_ACCEPTCONN", fd, SOL_SOCKET, SO_ACCEPTCONN);
	opt_show("SO_ERROR", fd, SOL_SOCKET, SO_ERROR);
	opt_show("SO_KEEPALIVE", fd, SOL_SOCKET, SO_KEEPALIVE);
	chk("set SO_KEEPALIVE", setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE,
					   &v, sizeof(v)));
	opt_show("SO_KEEPALIVE", fd, SOL_SOCKET, SO_KEEPALIVE);
	chk("set SO_RCVBUF 65536", setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v,
					      sizeof(v)));
	opt_show("SO_RCVBUF", fd, SOL_SOCKET, SO_RCVBUF);
	chk("set SO_SNDBUF 65536", setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v,
					      sizeof(v)));
	opt_show("SO_SNDBUF", fd, SOL_SOCKET, SO_SNDBUF);
	opt_show("IP_TOS", fd, IPPROTO_IP, IP_TOS);
	opt_show("unknown level", fd, 0x7777, 1);
	opt_show("TCP_MAXSEG", fd, IPPROTO_TCP, TCP_MAXSEG);
	if (chk("TCP_INFO", getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti,
				       &len)) == 0)
		out("  state %u", ti.tcpi_state);
	put1(fd, 'g');
	chk("read", bread(fd, buf, sizeof(buf)));
	/* the kernel's state once it has the FIN (the EOF may come first
	 * through a ring) */
	for (v = 0; v < 100; v++) {
		len = sizeof(ti);
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
		    ti.tcpi_state != TCP_ESTABLISHED)
			break;
		msleep(10);
	}
	len = sizeof(ti);
	if (chk("TCP_INFO after the peer's FIN", getsockopt(fd, IPPROTO_TCP,
			TCP_INFO, &ti, &len)) == 0)
		out("  state %u", ti.tcpi_state);
}

static void srv_sockopts(int lfd, int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	opt_show("SO_ACCEPTCONN listener", lfd, SOL_SOCKET, SO_ACCEPTCONN);
	opt_show("SO_ACCEPTCONN conn", fd, SOL_SOCKET, SO_ACCEPTCONN);
	if (chk("TCP_INFO listener", getsockopt(lfd, IPPROTO_TCP, TCP_INFO,
						&ti, &len)) == 0)
		out("  state %u", ti.tcpi_state);
	get1(fd);
	chk("close", close(fd));
}

static void cli_peek_waitall(int fd)
{
	char buf[16];

	put1(fd, 'g');
	chk("recv 10 PEEK|WAITALL", recv(fd, buf, 10, MSG_PEEK | MSG_WAITALL));
	out("  ck %08x", ck_add(CK_INIT, buf, 10));
	chk("recv 10 PEEK", recv(fd, buf, 10, MSG_PEEK));
	chk("recv 10 WAITALL", recv(fd, buf, 10, MSG_WAITALL));
	out("  ck %08x", ck_add(CK_INIT, buf, 10));
	put1(fd, 'h');
	chk("recv 10 WAITALL, 3 and a FIN come", recv(fd, buf, 10,
						      MSG_WAITALL));
	chk("recv", recv(fd, buf, 10, 0));
}

static void srv_peek_waitall(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 4, 20);
	msleep(LATE_MS);
	send_pat(fd, 6, 21);
	get1(fd);
	send_pat(fd, 3, 22);
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	recv_eof("rest", fd);
}

static void cli_siocq(int fd)
{
	int v = -1, i;

	put1(fd, 'g');
	poll_show("poll", fd, POLLIN, WAIT_MS);
	inq_show("SIOCINQ", fd, SIOCINQ);
	inq_show("FIONREAD", fd, FIONREAD);
	send_pat(fd, 1000, 23);
	recv_n("100 bytes", fd, 100);
	recv_n("the peer read 1000", fd, 1);
	inq_show("SIOCINQ drained", fd, SIOCINQ);
	for (i = 0; i < 200; i++) {
		if (ioctl(fd, SIOCOUTQ, &v) < 0 || v == 0)
			break;
		msleep(10);
	}
	inq_show("SIOCOUTQ once the peer read all", fd, SIOCOUTQ);
}

static void srv_siocq(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 100, 24);
	recv_n("1000 bytes", fd, 1000);
	put1(fd, 'a');
	inq_show("SIOCINQ listener", lfd, SIOCINQ);
	inq_show("SIOCOUTQ listener", lfd, SIOCOUTQ);
	recv_eof("rest", fd);
}

/* ---- shutdown with data in flight ---- */

static void cli_shut_wr(int fd)
{
	send_pat(fd, 100000, 25);
	chk("shutdown WR at once", shutdown(fd, SHUT_WR));
	chk("send after", send(fd, "x", 1, MSG_NOSIGNAL));
	recv_eof("reply", fd);
	out("SIGPIPEs: %d", (int)sigpipes);
}

static void srv_shut_wr(int lfd, int fd)
{
	recv_eof("data", fd);
	send_pat(fd, 50000, 26);
	chk("close", close(fd));
}

static void cli_shut_rd(int fd)
{
	char buf[4096];

	put1(fd, 'g');
	wait_inq(fd, 1000, 3000);
	chk("shutdown RD with 1000 unread", shutdown(fd, SHUT_RD));
	poll_show("poll0", fd, POLLIN | POLLOUT | POLLRDHUP, 0);
	chk("read", read(fd, buf, sizeof(buf)));
	chk("read again", read(fd, buf, sizeof(buf)));
	put1(fd, 'h');
	/* the kernel still queues what comes after SHUT_RD */
	wait_inq(fd, 500, 1500);
	inq_show("SIOCINQ after 500 more came", fd, SIOCINQ);
	chk("read", read(fd, buf, sizeof(buf)));
	chk("read again", read(fd, buf, sizeof(buf)));
	chk("shutdown RD again", shutdown(fd, SHUT_RD));
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	poll_show("poll0 both shut", fd, POLLIN | POLLOUT | POLLRDHUP, 0);
}

static void srv_shut_rd(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 1000, 27);
	get1(fd);
	poll_show("poll0", fd, POLLIN | POLLOUT | POLLRDHUP, 0);
	/* data after the client's SHUT_RD: the kernel still queues it */
	chk("send 500 after SHUT_RD", send_pat(fd, 500, 43));
	recv_eof("rest", fd);
}

/* ---- sendfile and splice ---- */

static void cli_sendfile(int fd)
{
	char path[] = "/tmp/xl_conform.XXXXXX";
	uint8_t buf[200000];
	int f = mkstemp(path);
	off_t off = 1000;
	size_t left = sizeof(buf) - 1000;
	ssize_t r;

	if (f < 0) {
		out("mkstemp: %s", en(errno));
		return;
	}
	unlink(path);
	fill(buf, sizeof(buf), 0, 28);
	if (write(f, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
		out("write file: %s", en(errno));
	while (left) {
		r = sendfile(fd, f, &off, left);
		if (r <= 0) {
			chk("sendfile", r);
			break;
		}
		left -= (size_t)r;
	}
	out("sendfile with an offset: %zu left, offset %lld", left,
	    (long long)off);
	chk("lseek 0", lseek(f, 0, SEEK_SET));
	chk("sendfile 5000 at the file offset", sendfile(fd, f, NULL, 5000));
	chk("file offset", lseek(f, 0, SEEK_CUR));
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	recv_eof("reply", fd);
	close(f);
}

/* What the kernel refuses: a socket as sendfile's source, splice between
 * two sockets. Nothing may be consumed or sent by the refusal. */
static void cli_sendfile_bad(int fd)
{
	int p[2];

	if (pipe(p) < 0)
		return;
	put1(fd, 'g');
	wait_inq(fd, 10, WAIT_MS);
	chk("sendfile from a socket", sendfile(fd, fd, NULL, 10));
	chk("splice socket to socket", splice(fd, NULL, fd, NULL, 10, 0));
	chk("splice pipe to pipe, nothing there", splice(p[0], NULL, p[1],
			NULL, 10, SPLICE_F_NONBLOCK));
	inq_show("SIOCINQ", fd, SIOCINQ);
	recv_n("what came", fd, 10);
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	close(p[0]);
	close(p[1]);
}

static void srv_sendfile_bad(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 10, 44);
	recv_eof("rest", fd);
}

static void srv_sendfile(int lfd, int fd)
{
	recv_eof("data", fd);
}

static void *pipe_writer(void *arg)
{
	int wfd = (int)(intptr_t)arg;
	uint8_t buf[16384];
	size_t off = 0;

	while (off < 150000) {
		fill(buf, sizeof(buf), off, 29);
		if (write(wfd, buf, sizeof(buf)) < 0)
			break;
		off += sizeof(buf);
	}
	close(wfd);
	return NULL;
}

static void cli_splice_from_pipe(int fd)
{
	int p[2];
	pthread_t t;
	uint64_t total = 0;
	ssize_t r;

	if (pipe(p) < 0)
		return;
	pthread_create(&t, NULL, pipe_writer, (void *)(intptr_t)p[1]);
	while ((r = splice(p[0], NULL, fd, NULL, 65536, SPLICE_F_MOVE)) > 0)
		total += (uint64_t)r;
	chk("last splice", r);
	out("spliced %llu", (unsigned long long)total);
	pthread_join(t, NULL);
	close(p[0]);
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	recv_eof("reply", fd);
}

static void srv_splice_from_pipe(int lfd, int fd)
{
	recv_eof("data", fd);
}

static void cli_splice_to_pipe(int fd)
{
	int p[2];
	uint8_t buf[65536];
	uint64_t total = 0;
	uint32_t h = CK_INIT;
	ssize_t r, k;

	if (pipe(p) < 0)
		return;
	put1(fd, 'g');
	for (;;) {
		if (!waitfd(fd, POLLIN, WAIT_MS)) {
			out("timeout");
			break;
		}
		r = splice(fd, NULL, p[1], NULL, sizeof(buf), 0);
		if (r <= 0) {
			chk("last splice", r);
			break;
		}
		k = breadn(p[0], buf, (size_t)r);
		if (k != r)
			out("pipe gave %zd of %zd", k, r);
		h = ck_add(h, buf, (size_t)r);
		total += (uint64_t)r;
	}
	out("spliced %llu bytes ck %08x", (unsigned long long)total, h);
	close(p[0]);
	close(p[1]);
}

static void srv_splice_to_pipe(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 150000, 30);
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	recv_eof("rest", fd);
}

/* ---- fork, exec and threads ---- */

static void wait_child(const char *what, pid_t pid)
{
	int st = 0, i;
	pid_t r = 0;

	for (i = 0; i < 1000; i++) {
		r = waitpid(pid, &st, WNOHANG);
		if (r != 0)
			break;
		msleep(10);
	}
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
		out("%s: did not exit within 10 s", what);
	} else if (WIFEXITED(st)) {
		out("%s: exit %d", what, WEXITSTATUS(st));
	} else {
		out("%s: killed by signal %d", what, WTERMSIG(st));
	}
}

static void cli_fork_child_writes(int fd)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(send_pat(fd, 1000, 31) < 0);
	wait_child("child", pid);
	put1(fd, 'p');
	recv_n("reply", fd, 1);
	chk("close", close(fd));
}

static void srv_fork_child_writes(int lfd, int fd)
{
	char c = 0;

	recv_n("the child's 1000", fd, 1000);
	chk("read after the child exited", breadn(fd, &c, 1));
	out("  byte '%c'", c ? c : '-');
	put1(fd, 'r');
	recv_eof("rest", fd);
}

static void cli_fork_parent_closes(int fd)
{
	int p[2];
	pid_t pid;
	char rep[64] = "";
	uint8_t buf[100];
	ssize_t r;

	if (pipe(p) < 0)
		return;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		msleep(50);	/* usually after the parent's close */
		send_pat(fd, 1000, 32);
		r = breadn(fd, buf, sizeof(buf));
		snprintf(rep, sizeof(rep), "child read %zd ck %08x", r,
			 r > 0 ? ck_add(CK_INIT, buf, (size_t)r) : 0);
		if (write(p[1], rep, strlen(rep)) < 0)
			_exit(2);
		_exit(close(fd) < 0);
	}
	close(p[1]);
	chk("parent close", close(fd));
	r = breadn(p[0], rep, sizeof(rep) - 1);
	rep[r > 0 ? r : 0] = '\0';
	out("%s", rep);
	wait_child("child", pid);
	close(p[0]);
}

static void srv_fork_parent_closes(int lfd, int fd)
{
	recv_n("the child's 1000", fd, 1000);
	send_pat(fd, 100, 33);
	recv_eof("rest", fd);
}

/* exec-helper FD: write 1000 bytes, read to EOF, print what came. */
static int exec_helper(int fd)
{
	send_pat(fd, 1000, 34);
	recv_eof("helper read", fd);
	return close(fd) < 0;
}

static void exec_child(int fd, bool parent_keeps, bool cat)
{
	int go[2];
	pid_t pid;
	char arg[16], c;

	if (pipe(go) < 0)
		return;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		if (cat) {
			dup2(fd, 0);
			dup2(fd, 1);
			close(fd);
			execlp("cat", "cat", (char *)NULL);
		} else {
			snprintf(arg, sizeof(arg), "%d", fd);
			execl(self_exe, self_exe, "exec-helper", arg,
			      (char *)NULL);
		}
		_exit(127);
	}
	close(go[0]);
	if (!parent_keeps)
		chk("parent close", close(fd));
	if (write(go[1], "x", 1) != 1)
		out("cannot start the child");
	close(go[1]);
	wait_child(cat ? "cat" : "helper", pid);
	if (parent_keeps)
		chk("parent close", close(fd));
}

static void cli_exec_helper(int fd) { exec_child(fd, false, false); }
static void cli_exec_shared(int fd) { exec_child(fd, true, false); }
static void cli_exec_cat(int fd) { exec_child(fd, false, true); }

static void srv_exec_helper(int lfd, int fd)
{
	recv_n("the helper's 1000", fd, 1000);
	send_pat(fd, 2000, 35);
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	recv_eof("rest", fd);
}

static void srv_exec_cat(int lfd, int fd)
{
	send_pat(fd, 50000, 36);
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	recv_eof("what cat echoed", fd);
}

struct thr {
	int fd;
	uint64_t total;
	uint64_t sum;
	uint32_t ck;
};

static void *thr_writer(void *arg)
{
	struct thr *t = arg;

	send_pat(t->fd, 200000, 37);
	shutdown(t->fd, SHUT_WR);
	return NULL;
}

static void *thr_reader(void *arg)
{
	struct thr *t = arg;
	uint8_t buf[4096];
	ssize_t r, i;

	t->ck = CK_INIT;
	while ((r = bread(t->fd, buf, sizeof(buf))) > 0) {
		t->ck = ck_add(t->ck, buf, (size_t)r);
		t->total += (uint64_t)r;
		for (i = 0; i < r; i++)
			t->sum += buf[i];
	}
	return NULL;
}

static void cli_threads_share(int fd)
{
	struct thr w = { .fd = fd }, r = { .fd = fd };
	pthread_t tw, tr;

	pthread_create(&tr, NULL, thr_reader, &r);
	pthread_create(&tw, NULL, thr_writer, &w);
	pthread_join(tw, NULL);
	pthread_join(tr, NULL);
	out("reader thread: %llu bytes ck %08x",
	    (unsigned long long)r.total, r.ck);
}

static void srv_echo(int lfd, int fd)
{
	uint8_t buf[16384];
	ssize_t r;
	uint64_t total = 0;

	while ((r = bread(fd, buf, sizeof(buf))) > 0) {
		if (writen(fd, buf, (size_t)r) < 0)
			break;
		total += (uint64_t)r;
	}
	out("echoed %llu bytes, then %s", (unsigned long long)total,
	    r == 0 ? "EOF" : r == -2 ? "timeout" : en(errno));
	chk("shutdown WR", shutdown(fd, SHUT_WR));
}

static void cli_threads_readers(int fd)
{
	struct thr a = { .fd = fd }, b = { .fd = fd };
	pthread_t ta, tb;

	pthread_create(&ta, NULL, thr_reader, &a);
	pthread_create(&tb, NULL, thr_reader, &b);
	put1(fd, 'g');
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	out("two readers: %llu bytes, byte sum %llu",
	    (unsigned long long)(a.total + b.total),
	    (unsigned long long)(a.sum + b.sum));
}

static void srv_threads_readers(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 100000, 38);
	chk("close", close(fd));
}

/* ---- names, errors, flags ---- */

static void addr_show(const char *what, int fd, bool peer)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	char a[INET_ADDRSTRLEN] = "?";
	int r;

	r = peer ? getpeername(fd, (struct sockaddr *)&sa, &len)
		 : getsockname(fd, (struct sockaddr *)&sa, &len);
	if (chk(what, r) < 0)
		return;
	inet_ntop(AF_INET, &sa.sin_addr, a, sizeof(a));
	out("  family %d len %u addr %s, port is the server's: %s",
	    sa.sin_family, len, a, yes_no(ntohs(sa.sin_port) == port));
}

static void cli_names(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = 4;
	uint16_t p;

	addr_show("getsockname", fd, false);
	addr_show("getpeername", fd, true);
	chk("getsockname, 4-byte buffer", getsockname(fd,
			(struct sockaddr *)&sa, &len));
	out("  len %u", len);
	len = sizeof(sa);
	getsockname(fd, (struct sockaddr *)&sa, &len);
	p = sa.sin_port;
	writen(fd, &p, sizeof(p));
	recv_eof("reply", fd);
}

static void srv_names(int lfd, int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	uint16_t p = 0;

	addr_show("getsockname", fd, false);
	addr_show("getpeername", fd, true);
	addr_show("listener getsockname", lfd, false);
	addr_show("listener getpeername", lfd, true);
	breadn(fd, &p, sizeof(p));
	getpeername(fd, (struct sockaddr *)&sa, &len);
	out("client port as the client sees it: %s", yes_no(p == sa.sin_port));
}

static void cli_so_error(int fd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(CLOSED_PORT) };
	int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	int err = -1;
	socklen_t len = sizeof(err);

	inet_pton(AF_INET, peer_addr, &sa.sin_addr);
	chk("nonblocking connect to a closed port",
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	poll_show("poll", s, POLLOUT, WAIT_MS);
	chk("SO_ERROR", getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len));
	out("  %s", err ? en(err) : "0");
	opt_show("SO_ERROR again", s, SOL_SOCKET, SO_ERROR);
	chk("connect again", connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	close(s);
	s = socket(AF_INET, SOCK_STREAM, 0);
	chk("blocking connect to a closed port",
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	chk("read on it", read(s, &err, 1));
	close(s);
	/* a nonblocking connect that succeeds */
	s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	sa.sin_port = htons((uint16_t)port);
	chk("nonblocking connect to the server",
	    connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	poll_show("poll", s, POLLOUT, WAIT_MS);
	opt_show("SO_ERROR", s, SOL_SOCKET, SO_ERROR);
	chk("connect again", connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	send_pat(s, 10, 39);
	chk("close", close(s));
	recv_eof("reply", fd);
}

static void srv_so_error(int lfd, int fd)
{
	int d = srv_accept(lfd);

	if (d < 0)
		return;
	recv_eof("second connection", d);
	close(d);
}

static void flags_show(const char *what, int fd)
{
	out("%s: O_NONBLOCK %s, FD_CLOEXEC %s", what,
	    yes_no(fcntl(fd, F_GETFL) & O_NONBLOCK),
	    yes_no(fcntl(fd, F_GETFD) & FD_CLOEXEC));
}

static void cli_accept4(int fd)
{
	int a = cli_conn(), b = cli_conn();

	get1(fd);
	close(a);
	close(b);
}

static void srv_accept4(int lfd, int fd)
{
	int a, b;
	char c;

	waitfd(lfd, POLLIN, WAIT_MS);
	a = chk_fd("accept4 NONBLOCK|CLOEXEC",
		   accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
	flags_show("accepted", a);
	chk("read", read(a, &c, 1));
	waitfd(lfd, POLLIN, WAIT_MS);
	b = chk_fd("accept", accept(lfd, NULL, NULL));
	flags_show("accepted", b);
	set_nonblock(lfd, true);
	chk_fd("accept with none pending", accept(lfd, NULL, NULL));
	chk_fd("accept4 bad flags", accept4(lfd, NULL, NULL, 0x4000000));
	set_nonblock(lfd, false);
	put1(fd, 'e');
	close(a);
	close(b);
}

static void cli_dontwait(int fd)
{
	char buf[16];
	int one = 1, zero = 0, ctl;
	uint64_t sent;

	chk("recv DONTWAIT", recv(fd, buf, sizeof(buf), MSG_DONTWAIT));
	put1(fd, 'g');
	poll_show("poll", fd, POLLIN, WAIT_MS);
	chk("recv DONTWAIT", recv(fd, buf, sizeof(buf), MSG_DONTWAIT));
	flags_show("still blocking", fd);
	chk("FIONBIO 1", ioctl(fd, FIONBIO, &one));
	flags_show("after FIONBIO", fd);
	chk("recv", recv(fd, buf, sizeof(buf), 0));
	chk("FIONBIO 0", ioctl(fd, FIONBIO, &zero));
	sent = fill_full(fd, 40);
	out("filled with DONTWAIT until EAGAIN: %s", yes_no(sent > 0));
	chk("send DONTWAIT on a full socket", send(fd, buf, 1,
					MSG_DONTWAIT | MSG_NOSIGNAL));
	flags_show("still blocking", fd);
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	/* the server reads it all once told so on a second connection */
	ctl = cli_conn();
	put1(ctl, 'g');
	cli_count_check(ctl, sent, 40);
	close(ctl);
}

static void srv_dontwait(int lfd, int fd)
{
	int ctl;

	get1(fd);
	send_pat(fd, 5, 41);
	ctl = srv_accept(lfd);
	if (ctl < 0)
		return;
	get1(ctl);
	srv_count_back(ctl, fd);
	close(ctl);
}

static void cli_epipe(int fd)
{
	char buf[16];
	int i;

	put1(fd, 'g');
	chk("read", bread(fd, buf, sizeof(buf)));
	chk("write into the closed peer", write(fd, "x", 1));
	for (i = 0; i < 300; i++) {
		if (waitfd(fd, POLLIN, 0) & (POLLHUP | POLLERR))
			break;
		msleep(10);
	}
	chk("write", write(fd, "x", 1));
	out("SIGPIPEs: %d", (int)sigpipes);
	chk("write", write(fd, "x", 1));
	out("SIGPIPEs: %d", (int)sigpipes);
	opt_show("SO_ERROR", fd, SOL_SOCKET, SO_ERROR);
}

static void srv_epipe(int lfd, int fd)
{
	get1(fd);
	chk("close", close(fd));
	msleep(LATE_MS);
}

static void cli_readv_writev(int fd)
{
	uint8_t a[10], b[20];
	struct iovec iov[3] = { { a, 10 }, { NULL, 0 }, { b, 20 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 3 };

	fill(a, 10, 0, 42);
	fill(b, 20, 10, 42);
	chk("writev 10+0+20", writev(fd, iov, 3));
	chk("sendmsg 10+0+20", sendmsg(fd, &mh, MSG_NOSIGNAL));
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	recv_eof("reply", fd);
}

static void srv_readv_writev(int lfd, int fd)
{
	uint8_t a[5], b[25], c[64];
	struct iovec iov[2] = { { a, 5 }, { b, 25 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	wait_inq(fd, 60, 3000);
	chk("readv 5+25", readv(fd, iov, 2));
	out("  ck %08x %08x", ck_add(CK_INIT, a, 5), ck_add(CK_INIT, b, 25));
	chk("recvmsg 5+25", recvmsg(fd, &mh, 0));
	out("  ck %08x %08x flags %d", ck_add(CK_INIT, a, 5),
	    ck_add(CK_INIT, b, 25), mh.msg_flags);
	chk("read at EOF", bread(fd, c, sizeof(c)));
}

/* ---- more that event loops and servers rely on ---- */

/* A dup()ed socket: closing one of the two descriptors sends no FIN. */
static void cli_dup_close(int fd)
{
	int d = dup(fd);

	chk("dup", d < 0 ? -1 : 0);
	chk("close the original", close(fd));
	send_pat(d, 500, 45);
	recv_n("reply", d, 1);
	chk("close the copy", close(d));
}

static void srv_dup_close(int lfd, int fd)
{
	recv_n("500 bytes, no EOF between", fd, 500);
	put1(fd, 'r');
	recv_eof("rest", fd);
}

struct waiter {
	int fd;
	int how;	/* 0 recv, 1 epoll_wait */
	long ret;
	int err;
	uint32_t ev;
};

static void *blocked_waiter(void *arg)
{
	struct waiter *w = arg;
	struct epoll_event e;
	char buf[16];
	int ep;

	if (w->how == 0) {
		w->ret = recv(w->fd, buf, sizeof(buf), 0);
	} else {
		ep = epoll_create1(0);
		e.events = EPOLLIN | EPOLLRDHUP;
		e.data.u64 = 0;
		epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &e);
		w->ret = epoll_wait(ep, &e, 1, WAIT_MS);
		w->ev = w->ret == 1 ? e.events : 0;
		close(ep);
	}
	w->err = errno;
	return NULL;
}

/* shutdown() from another thread wakes a thread blocked on the socket. */
static void cli_shutdown_wakes(int fd)
{
	struct waiter w[2] = { { .fd = fd, .how = 0 }, { .fd = fd, .how = 1 } };
	pthread_t t[2];
	int i;

	for (i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, blocked_waiter, &w[i]);
	msleep(LATE_MS);
	chk("shutdown RD from another thread", shutdown(fd, SHUT_RD));
	for (i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		errno = w[i].err;
		chk(i ? "blocked epoll_wait" : "blocked recv", w[i].ret);
		if (w[i].how == 1 && w[i].ret == 1)
			out("  events %s", evstr(w[i].ev));
	}
	chk("shutdown WR", shutdown(fd, SHUT_WR));
}

static void srv_shutdown_wakes(int lfd, int fd)
{
	recv_eof("rest", fd);
}

/* MSG_TRUNC on TCP: the bytes are discarded, no buffer needed. */
static void cli_recv_trunc(int fd)
{
	char buf[64];

	put1(fd, 'g');
	wait_inq(fd, 30, WAIT_MS);
	chk("recv 10 TRUNC, no buffer", recv(fd, NULL, 10, MSG_TRUNC));
	inq_show("SIOCINQ", fd, SIOCINQ);
	chk("recv 10 PEEK|TRUNC", recv(fd, buf, 10, MSG_PEEK | MSG_TRUNC));
	recv_n("the rest", fd, 20);
}

static void srv_recv_trunc(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 30, 50);
	recv_eof("rest", fd);
}

/* recv and send flags: MSG_WAITALL|MSG_DONTWAIT, MSG_ERRQUEUE, MSG_OOB
 * with none there, MSG_MORE. */
static void cli_recv_flags(int fd)
{
	char buf[64];

	put1(fd, 'g');
	wait_inq(fd, 20, WAIT_MS);
	chk("recv 30 WAITALL|DONTWAIT, 20 there", recv(fd, buf, 30,
			MSG_WAITALL | MSG_DONTWAIT));
	out("  ck %08x", ck_add(CK_INIT, buf, 20));
	chk("recv DONTWAIT, none", recv(fd, buf, 10, MSG_DONTWAIT));
	chk("recv ERRQUEUE", recv(fd, buf, 10, MSG_ERRQUEUE | MSG_DONTWAIT));
	chk("recv OOB, none", recv(fd, buf, 1, MSG_OOB | MSG_DONTWAIT));
	chk("send MORE", send(fd, "ab", 2, MSG_MORE | MSG_NOSIGNAL));
	chk("send", send(fd, "c", 1, MSG_NOSIGNAL));
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	recv_eof("rest", fd);
}

static void srv_recv_flags(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 20, 46);
	recv_eof("data", fd);
}

/* ppoll and epoll_pwait unblock a pending signal for their wait. */
static void cli_ppoll_sigmask(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct timespec ts = { 3, 0 };
	struct epoll_event ev;
	sigset_t block, none;
	int ep = ep_new();

	ep_ctl("add", ep, EPOLL_CTL_ADD, fd, EPOLLIN, 1);
	install(SIGUSR1, true);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigemptyset(&none);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	hits = 0;
	raise(SIGUSR1);
	out("handler ran %d time(s) while blocked", (int)hits);
	chk("ppoll 3 s, signal unblocked", ppoll(&p, 1, &ts, &none));
	out("handler ran %d time(s)", (int)hits);
	raise(SIGUSR1);
	chk("epoll_pwait 3 s, signal unblocked",
	    epoll_pwait(ep, &ev, 1, 3000, &none));
	out("handler ran %d time(s)", (int)hits);
	raise(SIGUSR1);
	chk("pselect 3 s, signal unblocked", pselect(0, NULL, NULL, NULL,
						    &ts, &none));
	out("handler ran %d time(s)", (int)hits);
	chk("ppoll 0, signal blocked", ppoll(&p, 1, &(struct timespec){ 0, 0 },
					     &block));
	pthread_sigmask(SIG_UNBLOCK, &block, NULL);
	close(ep);
}

/* SO_RCVLOWAT: neither poll nor recv is satisfied below the mark. */
static void cli_rcvlowat(int fd)
{
	int v = 5;
	char buf[16];

	chk("SO_RCVLOWAT 5", setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v,
					sizeof(v)));
	opt_show("SO_RCVLOWAT", fd, SOL_SOCKET, SO_RCVLOWAT);
	put1(fd, 'g');
	wait_inq(fd, 3, WAIT_MS);
	poll_show("poll0 with 3 of 5", fd, POLLIN, 0);
	chk("recv DONTWAIT with 3 of 5", recv(fd, buf, sizeof(buf),
					      MSG_DONTWAIT | MSG_PEEK));
	/* (a blocking recv here would wait past the 2 more bytes: the
	 * kernel counts the mark from what that call has copied) */
	put1(fd, 'h');
	wait_inq(fd, 5, WAIT_MS);
	poll_show("poll0 with 5 of 5", fd, POLLIN, 0);
	chk("recv", recv(fd, buf, sizeof(buf), 0));
	v = 1;
	chk("SO_RCVLOWAT 1", setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &v,
					sizeof(v)));
}

static void srv_rcvlowat(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 3, 47);
	get1(fd);
	send_pat(fd, 2, 48);
	recv_eof("rest", fd);
}

/* An event loop's listener: epoll on it, accept4 nonblocking. */
static void cli_epoll_listener(int fd)
{
	int a, b;

	get1(fd);
	a = cli_conn();
	b = cli_conn();
	send_pat(a, 10, 49);
	get1(fd);
	close(a);
	close(b);
}

static void srv_epoll_listener(int lfd, int fd)
{
	int ep = ep_new(), a, b;

	set_nonblock(lfd, true);
	ep_ctl("add listener IN", ep, EPOLL_CTL_ADD, lfd, EPOLLIN, 1);
	ep_show("wait0", ep, 8, 0);
	put1(fd, 'c');
	ep_show("wait", ep, 8, WAIT_MS);
	a = chk_fd("accept4", accept4(lfd, NULL, NULL, SOCK_NONBLOCK));
	waitfd(lfd, POLLIN, WAIT_MS);
	b = chk_fd("accept4", accept4(lfd, NULL, NULL, SOCK_NONBLOCK));
	ep_show("wait0 none pending", ep, 8, 0);
	chk_fd("accept4", accept4(lfd, NULL, NULL, SOCK_NONBLOCK));
	ep_ctl("add conn IN|ET", ep, EPOLL_CTL_ADD, a, EPOLLIN | EPOLLET, 2);
	ep_show("wait for its 10 bytes", ep, 8, WAIT_MS);
	recv_n("10 bytes", a, 10);
	put1(fd, 'e');
	close(a);
	close(b);
	close(ep);
}

/*
 * A forking server (inetd, sshd, PostgreSQL): it accepts, forks a child
 * for the connection at once, before any channel could come, and closes
 * its own copy. The child's connection must still move onto the ring.
 */
static void cli_fork_server(int fd)
{
	int d = cli_conn();

	if (d < 0)
		return;
	wait_chans_ms(&d, 1, 3000);
	/* the child takes the channel once it holds the socket alone (the
	 * parent closed its copy): a few echoed bytes, the same number in
	 * every mode, give it the time before the bulk */
	for (int i = 0; i < 10; i++) {
		put1(d, 'p');
		get1(d);
		msleep(30);
	}
	send_pat(d, 100000, 51);
	chk("shutdown WR", shutdown(d, SHUT_WR));
	recv_eof("echo", d);
	if (ring_mode && ring_flags(d) != BOTH_RINGS)
		fprintf(stderr, "conform: nochan %s: the forked server's "
			"connection, flags %u\n", scen_name, ring_flags(d));
	close(d);
	put1(fd, 'q');
}

static void srv_fork_server(int lfd, int fd)
{
	int d = srv_accept(lfd), r;
	pid_t pid;

	if (d < 0)
		return;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(lfd);
		srv_echo(-1, d);
		_exit(0);
	}
	r = close(d);
	wait_child("child", pid);
	out("parent close = %d", r);
	get1(fd);
}

/* ---- a program that sandboxes itself with seccomp ---- */

/*
 * From here on only the calls the code below makes itself are allowed;
 * any other kills the process, as sshd's pre-authentication sandbox
 * does (it allows write, not sendmsg). Installed by prctl() or by the
 * seccomp system call, as libseccomp does.
 */
static int sandbox(bool by_syscall)
{
	static const int allowed[] = {
		SYS_read, SYS_write, SYS_ppoll, SYS_close, SYS_exit,
		SYS_exit_group, SYS_rt_sigreturn, SYS_nanosleep,
		SYS_clock_nanosleep, SYS_epoll_pwait,
#ifdef SYS_epoll_wait
		SYS_epoll_wait,
#endif
#ifdef SYS_poll
		SYS_poll,
#endif
	};
	struct sock_filter f[2 + 2 * sizeof(allowed) / sizeof(allowed[0])];
	struct sock_fprog prog = { .filter = f };
	size_t i, n = 0;

	f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			offsetof(struct seccomp_data, nr));
	for (i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ |
				BPF_K, (unsigned int)allowed[i], 0, 1);
		f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
				SECCOMP_RET_ALLOW);
	}
	f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
			SECCOMP_RET_KILL_PROCESS);
	prog.len = (unsigned short)n;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -1;
	if (by_syscall)
		return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0,
				    &prog);
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

/* send_pat() with write(2), the one call the sandbox allows. */
static void write_pat(int fd, size_t n, uint8_t seed)
{
	uint8_t buf[16384];
	size_t off = 0, k;
	ssize_t w;

	while (off < n) {
		k = n - off < sizeof(buf) ? n - off : sizeof(buf);
		fill(buf, k, off, seed);
		w = write(fd, buf, k);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			out("write: %s", en(errno));
			return;
		}
		off += (size_t)w;
	}
}

/* The child that holds conn0 alone sandboxes itself, then runs fn. */
static void sandboxed_child(int fd, bool by_syscall, void (*fn)(int fd))
{
	pid_t pid;

	/* stdout's buffer exists before the filter: no call to make it */
	out("a child sandboxes itself");
	pid = fork();
	if (pid == 0) {
		if (sandbox(by_syscall) < 0) {
			out("sandbox: %s", en(errno));
			_exit(1);
		}
		out("sandboxed");
		fn(fd);
		close(fd);
		_exit(0);	/* no exit handlers: they may call more */
	}
	close(fd);
	wait_child("the sandboxed child", pid);
}

/* The client's bytes and its end are all on the ring, unread, when the
 * server's child sandboxes itself: they must all still come. */
static void cli_seccomp_unread(int fd)
{
	send_pat(fd, 100000, 61);
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	recv_eof("reply", fd);
}

static void seccomp_unread_child(int fd)
{
	poll_show("poll", fd, POLLIN, WAIT_MS);
	recv_eof("request", fd);
	write_pat(fd, 5000, 62);
}

static void srv_seccomp_unread(int lfd, int fd)
{
	msleep(LATE_MS);
	sandboxed_child(fd, false, seccomp_unread_child);
}

/* The same, the socket in an epoll instance the program made before its
 * sandbox: epoll_wait() must report it with the program's data. */
static int seccomp_ep = -1;

static void cli_seccomp_epoll(int fd)
{
	cli_seccomp_unread(fd);
}

static void seccomp_epoll_child(int fd)
{
	struct epoll_event ev[4];
	int n = epoll_wait(seccomp_ep, ev, 4, WAIT_MS);

	chk("epoll_wait", n);
	if (n == 1)
		out("  data %llu events %s", (unsigned long long)ev[0].data.u64,
		    (ev[0].events & EPOLLIN) ? "IN" : "-");
	recv_eof("request", fd);
	write_pat(fd, 5000, 62);
}

static void srv_seccomp_epoll(int lfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 };

	seccomp_ep = epoll_create1(0);
	chk("epoll_ctl", epoll_ctl(seccomp_ep, EPOLL_CTL_ADD, fd, &ev));
	msleep(LATE_MS);
	sandboxed_child(fd, false, seccomp_epoll_child);
	close(seccomp_ep);
}

/* Request and reply after the seccomp system call (libseccomp's way),
 * the first request sent before it. */
static void cli_seccomp_echo(int fd)
{
	int i;

	for (i = 0; i < 4; i++) {
		send_pat(fd, 20000, (uint8_t)(70 + i));
		recv_n("echo", fd, 20000);
	}
	chk("shutdown WR", shutdown(fd, SHUT_WR));
	recv_eof("rest", fd);
}

static void seccomp_echo_child(int fd)
{
	static uint8_t buf[20000];
	ssize_t r;
	int i;

	for (i = 0; i < 4; i++) {
		r = breadn(fd, buf, sizeof(buf));
		if (r < 0) {
			out("read: %s", r == -2 ? "timeout" : en(errno));
			return;
		}
		if (write(fd, buf, (size_t)r) != r)
			out("write: %s", en(errno));
	}
	recv_eof("rest", fd);
}

static void srv_seccomp_echo(int lfd, int fd)
{
	/* the first request waits on the ring, unread: the client's side
	 * must send it again by TCP */
	msleep(LATE_MS);
	sandboxed_child(fd, true, seccomp_echo_child);
}

/* ---- the table ---- */

#define SC(n, f) { #n, cli_##n, srv_##n, f }
#define SC2(n, s, f) { #n, cli_##n, srv_##s, f }

static void srv_quiet(int lfd, int fd)
{
	recv_eof("rest", fd);
}

/*
 * The peer writes before we first look: the server's connection is
 * registered (the library's socket option asks for its channel), the
 * client takes its own and writes while the server sleeps, and the
 * server then only polls (no read) until its channel is there. The
 * kernel says readable at once: the daemon's answer must still be taken.
 */
static void cli_chan_late_look(int fd)
{
	int d = cli_conn();

	if (d < 0)
		return;
	wait_chans_ms(&d, 1, 3000);
	send_pat(d, 3001, 52);
	get1(fd);
	close(d);
}

static void srv_chan_late_look(int lfd, int fd)
{
	struct xl_sock_info info;
	int d = srv_accept(lfd);

	if (d < 0)
		return;
	sock_info(d, &info);
	msleep(300);
	wait_chans(&d, 1);
	poll_show("poll", d, POLLIN, WAIT_MS);
	recv_n("3001 bytes", d, 3001);
	put1(fd, 'e');
	close(d);
}

/* The program exits with bytes it never read on its socket, without
 * closing it: the kernel resets the connection (RFC 2525). */
static void cli_exit_unread(int fd)
{
	put1(fd, 'g');
	poll_show("poll", fd, POLLIN, WAIT_MS);
}

static void srv_exit_unread(int lfd, int fd)
{
	get1(fd);
	send_pat(fd, 10, 53);
	recv_eof("rest", fd);
}

static const struct scen scens[] = {
	SC(epoll_level, S_ONE),
	SC(epoll_edge, S_ONE),
	SC(epoll_oneshot, 0),
	SC(epoll_exclusive, 0),
	SC(epoll_nested, S_ONE),
	SC(epoll_rdhup, 0),
	SC(epoll_mixed, 0),
	SC(partial_reads, 0),
	SC(poll_closed, 0),
	SC(poll_halfclosed, S_ONE),
	SC(select_closed, 0),
	SC(ready_out_63, 0),
	SC(ready_out_64, S_ONE),
	SC(ready_out_65, 0),
	SC(ready_out_128, 0),
	SC(ready_out_300, S_LONG),
	SC(peers_close, S_LONG | S_ONE),
	SC2(sig_recv_restart, sig_recv, S_ONE),
	SC2(sig_recv_mixed, sig_recv, 0),
	SC2(sig_recv_intr, sig_recv, 0),
	SC2(sig_recv_timeo, sig_recv, 0),
	SC2(sig_send_restart, sig_send, 0),
	SC2(sig_send_mixed, sig_send, 0),
	SC2(sig_send_intr, sig_send, 0),
	SC2(sig_accept_restart, sig_accept_restart, 0),
	SC2(sig_accept_intr, sig_accept_intr, 0),
	SC2(sig_connect_restart, quiet, S_NORING),
	SC2(sig_connect_intr, quiet, S_NORING),
	SC2(sig_poll_restart, quiet, S_NORING),
	SC2(sig_poll_intr, quiet, S_NORING),
	SC2(sig_epoll_restart, quiet, S_NORING),
	SC2(sig_epoll_intr, quiet, S_NORING),
	SC2(sig_select_restart, quiet, S_NORING),
	SC(rcvtimeo, 0),
	SC(sndtimeo, 0),
	SC(linger0, S_ONE),
	SC(nodelay, 0),
	SC(sockopts, 0),
	SC(peek_waitall, S_ONE),
	SC(siocq, 0),
	SC(shut_wr, S_ONE),
	SC(shut_rd, 0),
	SC(sendfile, S_ONE),
	SC(sendfile_bad, 0),
	SC(splice_from_pipe, 0),
	SC(splice_to_pipe, 0),
	SC(fork_child_writes, S_ONE),
	SC(fork_parent_closes, 0),
	SC(fork_server, 0),
	SC2(exec_helper, exec_helper, 0),
	SC2(exec_shared, exec_helper, 0),
	SC(exec_cat, 0),
	SC2(threads_share, echo, 0),
	SC(threads_readers, 0),
	SC(names, S_ONE),
	SC(so_error, 0),
	SC(accept4, 0),
	SC(dontwait, 0),
	SC(epipe, 0),
	SC(readv_writev, 0),
	SC(dup_close, 0),
	SC2(shutdown_wakes, shutdown_wakes, 0),
	SC(recv_trunc, 0),
	SC(recv_flags, 0),
	SC2(ppoll_sigmask, quiet, S_NORING),
	SC(rcvlowat, 0),
	SC(epoll_listener, 0),
	SC(chan_late_look, 0),
	SC(exit_unread, S_ONE),
	SC(seccomp_unread, S_ONE),
	SC(seccomp_echo, S_ONE),
	SC(seccomp_epoll, S_ONE),
};

static const struct scen *scen_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(scens) / sizeof(scens[0]); i++)
		if (!strcmp(scens[i].name, name))
			return &scens[i];
	return NULL;
}

static int listen_on(int p)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)p) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 1024) < 0) {
		fprintf(stderr, "xl_conform: listen on %d: %s\n", p,
			strerror(errno));
		exit(2);
	}
	return fd;
}

static void setup(const char *name)
{
	const char *e = getenv("XLC_RING");
	struct rlimit rl;
	ssize_t n;

	ring_mode = e && !strcmp(e, "1");
	scen_name = name;
	main_thread = pthread_self();
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	self_exe[n > 0 ? n : 0] = '\0';
	/* hundreds of connections, each with the library's own fds */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 8192) {
		rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	install(SIGPIPE, true);
}

static void usage(void)
{
	fprintf(stderr, "usage: xl_conform list\n"
		"       xl_conform server PORT SCENARIO\n"
		"       xl_conform client ADDR PORT SCENARIO\n"
		"       xl_conform exec-helper FD\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const struct scen *s;
	size_t i;
	int lfd, fd;

	if (argc == 2 && !strcmp(argv[1], "list")) {
		for (i = 0; i < sizeof(scens) / sizeof(scens[0]); i++)
			printf("%s %s%s%s-\n", scens[i].name,
			       scens[i].flags & S_NORING ? "noring," : "",
			       scens[i].flags & S_ONE ? "one," : "",
			       scens[i].flags & S_LONG ? "long," : "");
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "exec-helper"))
		return exec_helper(atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "server")) {
		port = atoi(argv[2]);
		s = scen_find(argv[3]);
		if (!s)
			usage();
		setup(s->name);
		start_watchdog(s->flags & S_LONG ? WATCHDOG_LONG_S : WATCHDOG_S);
		lfd = listen_on(port);
		fd = srv_accept(lfd);
		if (fd < 0)
			return 1;
		sync_srv(fd);
		s->srv(lfd, fd);
		out("end");
		return 0;
	}
	if (argc == 5 && !strcmp(argv[1], "client")) {
		peer_addr = argv[2];
		port = atoi(argv[3]);
		s = scen_find(argv[4]);
		if (!s)
			usage();
		setup(s->name);
		start_watchdog(s->flags & S_LONG ? WATCHDOG_LONG_S : WATCHDOG_S);
		fd = cli_conn();
		if (fd < 0)
			return 1;
		sync_cli(fd);
		s->cli(fd);
		out("end");
		return 0;
	}
	usage();
	return 2;
}
