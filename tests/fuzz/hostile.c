/* SPDX-License-Identifier: MIT */
/*
 * hostile: everything a process of the namespace and a peer daemon can
 * throw at a running xenloopd, for tests/fuzz/daemon-hostile.sh.
 *
 *   hostile -r RUNDIR -p DAEMON_PID [-s SEED] [-n OPS] [-t SECONDS]
 *           [-l LOGFILE] [-j JSONFILE]
 *
 * It plays three parts at once, driven by a PRNG from SEED (the same seed
 * gives the same sequence of actions; the daemon's answers may interleave
 * differently):
 *
 *   clients   connections to RUNDIR/ns/<netns inode>.sock: HELLO,
 *             REGISTER (client and server role, own, peer and junk
 *             addresses from small pools so that they collide), STATS,
 *             CLOSE, STATUS_REQ and the types only a daemon may send;
 *   pconns    connections to the daemon's RUNDIR/peers/<name>.sock:
 *             PEER_OFFERs (six fds, often for a server one of our clients
 *             registered, so the daemon hands our fds over in CHAN) and
 *             everything else;
 *   evil      a fake peer daemon: RUNDIR/peers/evil.addrs and evil.sock,
 *             so that client registrations towards its addresses make the
 *             daemon create channels and offer them to us; we answer with
 *             PEER_REPLYs, right, wrong or mangled, or not at all.
 *
 * Every message may be mutated (bytes flipped, fields set at random,
 * truncated, extended, oversized up to 70000 bytes, empty) and carry
 * random fds (memfds, eventfds, pipes, sockets, some connected to the
 * daemon itself) with an honest or a lying count. Connections are opened
 * and dropped, some never read (the daemon's sends to them must not
 * block it), hundreds opened at once (past its client limit), and the
 * .addrs file is now and then rewritten with junk. Now and then one
 * connection registers hundreds of connections in a row (the waiting
 * limit, hundreds of channels at once, a STATUS longer than the daemon
 * lists); the longest STATUS text received goes to JSONFILE.
 *
 * Afterwards everything is closed and the daemon must, within a bounded
 * time, be alive and back at the number of open fds (/proc/PID/fd) it
 * had before: nothing leaked. Exit 0 if so, 1 otherwise (the daemon's
 * extra fds are listed).
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "xenloop/ctl.h"

#define HS_MAX_CONNS	24		/* clients and pconns each */
#define HS_MAX_FDS	12		/* fds on one message */
#define HS_MAX_LEN	70000		/* longest datagram */
#define HS_FLOOD	530		/* past the daemon's 512 clients */
#define HS_SETTLE_MS	6000		/* for the daemon to let go */
#define HS_CHAN_KIND	1		/* the local transport */
#define HS_MSG		sizeof(struct xl_ctl_msg)

struct hs_conn {
	int fd;
	bool deaf;			/* never read: let its buffer fill */
};

struct hs {
	const char *rundir;
	pid_t dpid;
	char ns_path[108], peer_path[108], evil_sock[108], evil_addrs[108];
	uint64_t rng;
	struct hs_conn client[HS_MAX_CONNS], pconn[HS_MAX_CONNS];
	int evil_lfd, evil_fd;
	struct xl_ctl_addr own[16];
	unsigned int nown;
	/* the last server registration, for an offer that matches it */
	struct xl_ctl_addr reg_local, reg_remote;
	bool reg_valid;
	FILE *log;
	const char *json;		/* where the longest STATUS goes */
	bool polite;			/* the fake peer accepts every offer */
	size_t json_len;
	/* what happened, for the report */
	unsigned long sent, dropped, chans, nochans, statuses, offers_in;
	unsigned long replies, floods, bulks, truncated;
	unsigned long evil_accepts;
};

static uint8_t hs_buf[HS_MAX_LEN + HS_MSG];

static void hs_die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void hs_die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "hostile: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

/* A path that must not be cut: a cut one names another file. */
static void hs_path(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void hs_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		hs_die("path too long: %s...", buf);
}

static void hs_log(struct hs *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void hs_log(struct hs *h, const char *fmt, ...)
{
	va_list ap;

	if (!h->log)
		return;
	va_start(ap, fmt);
	vfprintf(h->log, fmt, ap);
	va_end(ap);
	fputc('\n', h->log);
}

/* xorshift64* */
static uint64_t hs_rand(struct hs *h)
{
	h->rng ^= h->rng >> 12;
	h->rng ^= h->rng << 25;
	h->rng ^= h->rng >> 27;
	return h->rng * 2685821657736338717ull;
}

static uint32_t hs_below(struct hs *h, uint32_t n)
{
	return (uint32_t)(hs_rand(h) % n);
}

static bool hs_chance(struct hs *h, unsigned int percent)
{
	return hs_below(h, 100) < percent;
}

static uint64_t hs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void hs_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- the daemon as seen from outside ---- */

static bool hs_daemon_alive(pid_t pid)
{
	char path[64], state = '?';
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	/* "pid (comm) S ...": comm has no ')' for xenloopd */
	if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
		state = '?';
	fclose(f);
	return state != 'Z' && state != 'X' && state != '?';
}

static int hs_daemon_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *dir;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static void hs_daemon_list_fds(pid_t pid)
{
	char path[64], link[PATH_MAX], target[PATH_MAX];
	struct dirent *de;
	int shown = 0;
	ssize_t n;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	if (!dir)
		return;
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		if (shown++ == 64) {
			fprintf(stderr, "hostile:   ...\n");
			break;
		}
		hs_path(link, sizeof(link), "%s/%s", path, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		fprintf(stderr, "hostile:   fd %s -> %s\n", de->d_name, target);
	}
	closedir(dir);
}

/* The fewest fds seen over a few samples: a discovery tick may hold one
 * or two for a moment. */
static int hs_daemon_baseline(pid_t pid)
{
	int i, n, best = -1;

	for (i = 0; i < 6; i++) {
		n = hs_daemon_fds(pid);
		if (n >= 0 && (best < 0 || n < best))
			best = n;
		hs_sleep_ms(50);
	}
	return best;
}

/* ---- sockets ---- */

static int hs_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
			0);

	if (fd < 0)
		return -1;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int hs_listen(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
			0);

	if (fd < 0)
		hs_die("socket: %s", strerror(errno));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 16) < 0)
		hs_die("%s: %s", path, strerror(errno));
	return fd;
}

/* Close every fd of a received message. */
static unsigned int hs_close_rights(struct msghdr *mh)
{
	struct cmsghdr *cm;
	unsigned int n = 0;
	size_t i, k;
	int fd;

	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(fd));
			close(fd);
			n++;
		}
	}
	return n;
}

/* Receive one datagram into hs_buf, closing whatever fds came. Returns
 * its length, 0 at hang-up, -1 if nothing is there. */
static ssize_t hs_recv(int fd, struct xl_ctl_msg *msg, unsigned int *nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 64)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = hs_buf, .iov_len = sizeof(hs_buf) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	unsigned int got;

	if (n < 0)
		return errno == EAGAIN ? -1 : 0;
	got = hs_close_rights(&mh);
	if (nfds)
		*nfds = got;
	memset(msg, 0, sizeof(*msg));
	memcpy(msg, hs_buf, (size_t)n < HS_MSG ? (size_t)n : HS_MSG);
	return n;
}

/* ---- addresses and fds to put in messages ---- */

static void hs_addr(struct xl_ctl_addr *a, int family, const char *ip,
		    uint16_t port)
{
	memset(a, 0, sizeof(*a));
	a->family = (uint16_t)family;
	a->port = port;
	if (inet_pton(family, ip, a->addr) != 1)
		hs_die("bad address %s", ip);
}

/* Our namespace's addresses, as the daemon sees its own. */
static void hs_own_addrs(struct hs *h)
{
	struct ifaddrs *ifa, *i;
	struct xl_ctl_addr *a;

	hs_addr(&h->own[h->nown++], AF_INET, "127.0.0.1", 0);
	hs_addr(&h->own[h->nown++], AF_INET6, "::1", 0);
	hs_addr(&h->own[h->nown++], AF_INET6, "::ffff:127.0.0.1", 0);
	if (getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i && h->nown < 16; i = i->ifa_next) {
		if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET &&
				     i->ifa_addr->sa_family != AF_INET6))
			continue;
		a = &h->own[h->nown++];
		memset(a, 0, sizeof(*a));
		a->family = i->ifa_addr->sa_family;
		if (a->family == AF_INET)
			memcpy(a->addr, &((struct sockaddr_in *)
					  i->ifa_addr)->sin_addr, 4);
		else
			memcpy(a->addr, &((struct sockaddr_in6 *)
					  i->ifa_addr)->sin6_addr, 16);
	}
	freeifaddrs(ifa);
}

static const uint16_t hs_ports[] = { 0, 1, 80, 5201, 40000, 65535 };

/* One end of a connection: ours, the fake peer's, or junk. */
static void hs_pick_addr(struct hs *h, struct xl_ctl_addr *a, bool own)
{
	static const char *const peer4[] = {
		"198.18.0.2", "::ffff:198.18.0.2"
	};
	static const char *const junk[] = { "0.0.0.0", "224.0.0.1", "::",
					    "ff02::1", "198.18.0.1" };
	uint32_t k = hs_below(h, 20);

	if (k == 0) {
		/* anything at all */
		uint64_t r = hs_rand(h);

		memcpy(a, &r, sizeof(r));
		r = hs_rand(h);
		memcpy((uint8_t *)a + 8, &r, sizeof(r));
		r = hs_rand(h);
		memcpy((uint8_t *)a + 16, &r, sizeof(r));
		return;
	}
	if (k == 1) {
		const char *ip = junk[hs_below(h, 5)];

		hs_addr(a, strchr(ip, ':') ? AF_INET6 : AF_INET, ip, 0);
	} else if (own) {
		*a = h->own[hs_below(h, h->nown)];
	} else if (k < 5) {
		hs_addr(a, AF_INET6, "2001:2::2", 0);
	} else {
		const char *ip = peer4[hs_below(h, 2)];

		hs_addr(a, strchr(ip, ':') ? AF_INET6 : AF_INET, ip, 0);
	}
	a->port = hs_ports[1 + hs_below(h, 5)];
	if (hs_chance(h, 3))
		a->port = 0;
	if (hs_chance(h, 5))
		a->scope_id = (uint32_t)hs_rand(h);
}

/* A memfd of a channel's size, sealed as the transport does, or not. */
static int hs_memfd(struct hs *h)
{
	int fd = memfd_create("hostile", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	off_t size = 4096 + 2 * 4096;

	if (fd < 0)
		return -1;
	if (hs_chance(h, 30))
		size = (off_t)hs_below(h, 1 << 20);
	if (ftruncate(fd, size) < 0 || (hs_chance(h, 70) &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One fd of a random kind. *extra gets a second fd to close later. */
static int hs_make_fd(struct hs *h, int *extra)
{
	int p[2], fd = -1;

	*extra = -1;
	switch (hs_below(h, 7)) {
	case 0:
		return hs_memfd(h);
	case 1:
		return eventfd(0, EFD_CLOEXEC);
	case 2:
		if (pipe2(p, O_CLOEXEC) == 0) {
			fd = p[hs_below(h, 2)];
			*extra = p[0] == fd ? p[1] : p[0];
		}
		return fd;
	case 3:
		if (!socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p)) {
			fd = p[0];
			*extra = p[1];
		}
		return fd;
	case 4:
		/* the daemon receives a socket connected to itself */
		return hs_connect(hs_chance(h, 50) ? h->ns_path : h->peer_path);
	case 5:
		return open("/dev/null", O_RDWR | O_CLOEXEC);
	default:
		return open(h->rundir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
}

/* ---- messages ---- */

static void hs_msg_base(struct hs *h, struct xl_ctl_msg *m, uint32_t type)
{
	memset(m, 0, sizeof(*m));
	m->version = XL_CTL_VERSION;
	m->type = type;
	/* a small pool, so that STATS and CLOSE find registrations */
	m->cookie = 1 + hs_below(h, 64);
	if (hs_chance(h, 5))
		m->cookie = hs_rand(h);
	m->role = hs_chance(h, 50) ? XL_CTL_ROLE_CLIENT : XL_CTL_ROLE_SERVER;
	if (hs_chance(h, 5))
		m->role = hs_below(h, 5);
	m->pid = (uint32_t)getpid();
	m->status = hs_chance(h, 80) ? 0 : (int32_t)hs_below(h, 10) - 2;
	m->reason = hs_chance(h, 90) ? hs_below(h, XL_REASON_MAX) :
		    hs_below(h, 100);
	m->counts.ring_tx = hs_rand(h) >> hs_below(h, 64);
	m->counts.ring_rx = hs_rand(h) >> hs_below(h, 64);
	m->counts.tcp_tx = hs_below(h, 1000);
	m->counts.tcp_rx = hs_below(h, 1000);
}

/* A registration (or offer) tuple: local is ours for a REGISTER, the
 * server end (remote) is ours for a PEER_OFFER. */
static void hs_msg_tuple(struct hs *h, struct xl_ctl_msg *m, bool offer)
{
	hs_pick_addr(h, &m->local, !offer);
	hs_pick_addr(h, &m->remote, offer);
}

static void hs_msg_chan(struct hs *h, struct xl_ctl_msg *m, uint32_t side)
{
	m->chan_kind = hs_chance(h, 95) ? HS_CHAN_KIND : hs_below(h, 4);
	m->chan_side = hs_chance(h, 95) ? side : hs_below(h, 3);
	m->chan_order[0] = 12 + (hs_chance(h, 90) ? 0 : hs_below(h, 20));
	m->chan_order[1] = 12 + (hs_chance(h, 90) ? 0 : hs_below(h, 20));
}

/* Flip bytes, set a field, or cut or stretch the datagram. */
static size_t hs_mutate(struct hs *h, size_t len)
{
	uint32_t k = hs_below(h, 8), i, n;

	switch (k) {
	case 0:
		for (n = 1 + hs_below(h, 4), i = 0; i < n; i++)
			hs_buf[hs_below(h, HS_MSG)] ^=
				(uint8_t)(1 << hs_below(h, 8));
		return len;
	case 1:
		/* a random 4-byte field */
		i = 4 * hs_below(h, HS_MSG / 4);
		n = (uint32_t)hs_rand(h);
		memcpy(hs_buf + i, &n, 4);
		return len;
	case 2:
		return hs_below(h, HS_MSG);		/* short */
	case 3:
		return 0;				/* empty */
	case 4:
		/* text the header does not announce, or does */
		n = hs_below(h, 300);
		for (i = 0; i < n; i++)
			hs_buf[len + i] = (uint8_t)hs_rand(h);
		if (hs_chance(h, 50))
			memcpy(hs_buf + offsetof(struct xl_ctl_msg, text_len),
			       &n, 4);
		return len + n;
	case 5:
		/* oversized, or right at the text limit */
		n = hs_chance(h, 50) ? XL_CTL_MAX_TEXT + hs_below(h, 3) - 1 :
		    hs_below(h, HS_MAX_LEN - HS_MSG);
		memset(hs_buf + HS_MSG, 'x', n);
		if (hs_chance(h, 50))
			memcpy(hs_buf + offsetof(struct xl_ctl_msg, text_len),
			       &n, 4);
		return HS_MSG + n;
	default:
		return len;
	}
}

/* Send hs_buf[0..len) with nfds fresh fds attached. Returns 0, or -1 if
 * the daemon hung up on us. */
static int hs_send(struct hs *h, int fd, size_t len, unsigned int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * HS_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = hs_buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[HS_MAX_FDS], extra[HS_MAX_FDS];
	unsigned int i, n = 0;
	struct cmsghdr *cm;
	ssize_t ret;

	for (i = 0; i < nfds; i++) {
		fds[n] = hs_make_fd(h, &extra[n]);
		if (fds[n] >= 0)
			n++;
	}
	if (n) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
	}
	ret = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	/* in flight or not, our copies go */
	for (i = 0; i < n; i++) {
		close(fds[i]);
		if (extra[i] >= 0)
			close(extra[i]);
	}
	if (ret >= 0) {
		h->sent++;
		return 0;
	}
	return errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN ?
	       -1 : 0;
}

/* The fd count a message carries: usually what its header says. */
static unsigned int hs_nfds(struct hs *h, uint32_t said)
{
	if (hs_chance(h, 85))
		return said <= HS_MAX_FDS ? said : HS_MAX_FDS;
	return hs_below(h, HS_MAX_FDS + 1);
}

/* A message a client of the namespace might send. */
static size_t hs_client_msg(struct hs *h, unsigned int *nfds)
{
	/* what the library sends, then what it must not */
	static const uint32_t types[] = {
		XL_CTL_REGISTER, XL_CTL_REGISTER, XL_CTL_REGISTER,
		XL_CTL_REGISTER, XL_CTL_REGISTER, XL_CTL_REGISTER,
		XL_CTL_STATS, XL_CTL_STATS, XL_CTL_CLOSE, XL_CTL_HELLO,
		XL_CTL_STATUS_REQ,
		XL_CTL_CHAN, XL_CTL_NOCHAN, XL_CTL_STATUS, XL_CTL_PEER_OFFER,
		XL_CTL_PEER_REPLY, 0, XL_CTL_TYPE_MAX,
	};
	uint32_t t = hs_chance(h, 90) ? hs_below(h, 11) :
		     hs_below(h, sizeof(types) / sizeof(types[0]));
	struct xl_ctl_msg m;
	size_t len = HS_MSG;

	hs_msg_base(h, &m, types[t]);
	hs_msg_tuple(h, &m, false);
	if (m.type == XL_CTL_REGISTER && m.role == XL_CTL_ROLE_SERVER) {
		h->reg_local = m.local;
		h->reg_remote = m.remote;
		h->reg_valid = true;
	}
	if (m.type == XL_CTL_CHAN || m.type == XL_CTL_PEER_OFFER)
		hs_msg_chan(h, &m, 0);
	m.nfds = hs_chance(h, 90) ? 0 : hs_below(h, 9);
	memcpy(hs_buf, &m, HS_MSG);
	if (hs_chance(h, 10))
		len = hs_mutate(h, len);
	*nfds = hs_nfds(h, m.nfds);
	return len;
}

/* A message a peer daemon might send on our pconn. */
static size_t hs_peer_msg(struct hs *h, unsigned int *nfds)
{
	struct xl_ctl_msg m;
	size_t len = HS_MSG;
	uint32_t k = hs_below(h, 10);

	hs_msg_base(h, &m, k < 7 ? XL_CTL_PEER_OFFER :
			   k < 8 ? XL_CTL_PEER_REPLY : hs_below(h, 13));
	if (m.type == XL_CTL_PEER_OFFER && hs_chance(h, 90))
		m.role = XL_CTL_ROLE_CLIENT;
	hs_msg_tuple(h, &m, true);
	if (h->reg_valid && hs_chance(h, 50)) {
		/* the offer for the server a client of ours registered */
		m.local = h->reg_remote;
		m.remote = h->reg_local;
	}
	hs_msg_chan(h, &m, 1);
	m.nfds = m.type == XL_CTL_PEER_OFFER ? 6 : 0;
	if (hs_chance(h, 5))
		m.nfds = hs_below(h, 10);
	memcpy(hs_buf, &m, HS_MSG);
	if (hs_chance(h, 10))
		len = hs_mutate(h, len);
	*nfds = hs_nfds(h, m.nfds);
	return len;
}

/* ---- the three parts ---- */

static void hs_conn_drop(struct hs_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Read what the daemon sent; a hang-up closes our end. */
static void hs_conn_drain(struct hs *h, struct hs_conn *c)
{
	struct xl_ctl_msg m;
	unsigned int nfds = 0;
	ssize_t n;
	int i;

	for (i = 0; c->fd >= 0 && !c->deaf && i < 64; i++) {
		n = hs_recv(c->fd, &m, &nfds);
		if (n < 0)
			return;
		if (n == 0) {
			h->dropped++;
			hs_conn_drop(c);
			return;
		}
		if (m.type == XL_CTL_CHAN && nfds)
			h->chans++;
		else if (m.type == XL_CTL_NOCHAN)
			h->nochans++;
		else if (m.type == XL_CTL_STATUS)
			h->statuses++;
	}
}

/* The daemon's connection to our fake peer: answer its offers. */
static void hs_evil_reply(struct hs *h, const struct xl_ctl_msg *offer)
{
	struct xl_ctl_msg m;
	size_t len = HS_MSG;

	memset(&m, 0, sizeof(m));
	m.version = XL_CTL_VERSION;
	m.type = XL_CTL_PEER_REPLY;
	m.cookie = offer->cookie;
	if (h->polite) {
		m.status = hs_chance(h, 90) ? 0 : XL_REASON_NO_MATCH;
		memcpy(hs_buf, &m, HS_MSG);
		if (hs_send(h, h->evil_fd, len, 0) < 0) {
			close(h->evil_fd);
			h->evil_fd = -1;
		}
		h->replies++;
		return;
	}
	if (hs_chance(h, 15))
		return;			/* never answered: it times out */
	if (hs_chance(h, 10))
		m.cookie = hs_rand(h);
	m.status = hs_chance(h, 60) ? 0 : (int32_t)hs_below(h, 12) - 2;
	memcpy(hs_buf, &m, HS_MSG);
	if (hs_chance(h, 4))
		len = hs_mutate(h, len);
	if (hs_send(h, h->evil_fd, len, hs_chance(h, 2) ? 1 : 0) < 0) {
		close(h->evil_fd);
		h->evil_fd = -1;
	}
	h->replies++;
}

static void hs_evil_drain(struct hs *h)
{
	struct xl_ctl_msg m;
	ssize_t n;
	int fd, i;

	while ((fd = accept4(h->evil_lfd, NULL, NULL,
			     SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
		/* the daemon reconnected; the old link is gone for it */
		if (h->evil_fd >= 0)
			close(h->evil_fd);
		h->evil_fd = fd;
		h->evil_accepts++;
	}
	for (i = 0; h->evil_fd >= 0 && i < 64; i++) {
		n = hs_recv(h->evil_fd, &m, NULL);
		if (n < 0)
			return;
		if (n == 0) {
			/* it dropped us: have it look again now */
			close(h->evil_fd);
			h->evil_fd = -1;
			kill(h->dpid, SIGHUP);
			return;
		}
		if (m.type == XL_CTL_PEER_OFFER) {
			h->offers_in++;
			hs_evil_reply(h, &m);
		}
	}
}

static void hs_write_addrs(struct hs *h, bool junk)
{
	char tmp[128];
	FILE *f;
	int i, n;

	hs_path(tmp, sizeof(tmp), "%s.tmp", h->evil_addrs);
	f = fopen(tmp, "we");
	if (!f)
		hs_die("%s: %s", tmp, strerror(errno));
	/* a NUL ends what the daemon reads: the good lines come first,
	 * mostly */
	if (!junk || hs_chance(h, 80))
		fputs("198.18.0.2\n2001:2::2\n", f);
	if (junk) {
		n = (int)hs_below(h, 600);
		for (i = 0; i < n; i++)
			fputc(hs_chance(h, 20) ? '\n' :
			      "0123456789abcdef:.\0x "[hs_below(h, 21)], f);
	}
	if (fclose(f) != 0 || rename(tmp, h->evil_addrs) < 0)
		hs_die("%s: %s", h->evil_addrs, strerror(errno));
}

static struct hs_conn *hs_slot(struct hs *h, struct hs_conn *set, bool open)
{
	struct hs_conn *c = &set[hs_below(h, HS_MAX_CONNS)];

	if (c->fd < 0 && open) {
		c->fd = hs_connect(set == h->client ? h->ns_path :
				   h->peer_path);
		c->deaf = hs_chance(h, 10);
	}
	return c;
}

/* Many clients at once, past the daemon's limit, then all gone. */
static void hs_flood(struct hs *h)
{
	static int fds[HS_FLOOD];
	int i, n = 0;

	for (i = 0; i < HS_FLOOD; i++) {
		fds[n] = hs_connect(h->ns_path);
		if (fds[n] >= 0)
			n++;
		if (i % 64 == 63)
			hs_sleep_ms(5);		/* let it accept */
	}
	hs_sleep_ms(20);
	while (n--)
		close(fds[n]);
	h->floods++;
}

/* Send m, waiting a little (and answering offers meanwhile, which
 * reuses hs_buf) while the daemon's queue is full. */
static int hs_send_wait(struct hs *h, int fd, const struct xl_ctl_msg *m)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int i;

	for (i = 0; i < 200; i++) {
		if (send(fd, m, HS_MSG, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
			h->sent++;
			return 0;
		}
		if (errno != EAGAIN)
			return -1;
		hs_evil_drain(h);
		poll(&p, 1, 5);
	}
	return -1;
}

/* Everything one connection got: CHANs closed, the longest STATUS kept. */
static void hs_bulk_drain(struct hs *h, int fd, int wait_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	struct xl_ctl_msg m;
	unsigned int nfds;
	ssize_t n;
	FILE *f;

	while (poll(&p, 1, wait_ms) > 0) {
		n = hs_recv(fd, &m, &nfds);
		if (n <= 0)
			return;
		if (m.type == XL_CTL_CHAN && nfds)
			h->chans++;
		if (m.type != XL_CTL_STATUS || (size_t)n <= HS_MSG)
			continue;
		h->statuses++;
		if (memmem(hs_buf + HS_MSG, (size_t)n - HS_MSG,
			   "\"truncated\": true", 17))
			h->truncated++;
		if (!h->json || (size_t)n - HS_MSG < h->json_len)
			continue;
		h->json_len = (size_t)n - HS_MSG;
		f = fopen(h->json, "we");
		if (!f || fwrite(hs_buf + HS_MSG, 1, h->json_len, f) !=
		    h->json_len)
			hs_die("%s: %s", h->json, strerror(errno));
		fclose(f);
		wait_ms = 0;
	}
}

/*
 * Hundreds of well-formed registrations on one connection, mostly towards
 * the fake peer, which accepts most offers: the daemon's waiting limit,
 * hundreds of channels at once, and a STATUS too long to list every
 * connection ("truncated").
 */
static void hs_bulk(struct hs *h)
{
	struct xl_ctl_msg m;
	uint32_t i, n = 500 + hs_below(h, 500);
	bool v6 = hs_chance(h, 30);
	unsigned long before;
	int fd = hs_connect(h->ns_path);

	if (fd < 0)
		return;
	h->polite = true;
	for (i = 0; i < n; i++) {
		hs_msg_base(h, &m, XL_CTL_REGISTER);
		m.cookie = 1000000 + i;
		m.role = hs_chance(h, 90) ? XL_CTL_ROLE_CLIENT :
			 XL_CTL_ROLE_SERVER;
		hs_addr(&m.local, v6 ? AF_INET6 : AF_INET,
			v6 ? "::1" : "127.0.0.1", (uint16_t)(10000 + i));
		hs_addr(&m.remote, v6 ? AF_INET6 : AF_INET,
			v6 ? "2001:2::2" : "198.18.0.2", 5201);
		if (hs_send_wait(h, fd, &m) < 0)
			break;
		if (i % 16 == 15) {
			hs_evil_drain(h);
			hs_bulk_drain(h, fd, 0);
		}
	}
	/* the answers to the last offers, then what the daemon says */
	hs_evil_drain(h);
	hs_sleep_ms(20);
	hs_evil_drain(h);
	hs_bulk_drain(h, fd, 0);
	hs_msg_base(h, &m, XL_CTL_STATUS_REQ);
	before = h->statuses;
	if (hs_send_wait(h, fd, &m) == 0)
		hs_bulk_drain(h, fd, 1000);
	hs_log(h, "bulk: %u of %u registered, %lu STATUS", i, n,
	       h->statuses - before);
	close(fd);
	h->polite = false;
	h->bulks++;
}

static void hs_step(struct hs *h, unsigned long i)
{
	uint32_t k = hs_below(h, 100);
	unsigned int nfds = 0;
	struct hs_conn *c;
	size_t len;

	if (k < 50) {
		c = hs_slot(h, h->client, true);
		if (c->fd < 0)
			return;
		len = hs_client_msg(h, &nfds);
		hs_log(h, "%lu client %d len %zu type %u fds %u", i, c->fd,
		       len, ((struct xl_ctl_msg *)hs_buf)->type, nfds);
		if (hs_send(h, c->fd, len, nfds) < 0)
			hs_conn_drop(c);
	} else if (k < 80) {
		c = hs_slot(h, h->pconn, true);
		if (c->fd < 0)
			return;
		len = hs_peer_msg(h, &nfds);
		hs_log(h, "%lu pconn %d len %zu type %u fds %u", i, c->fd, len,
		       ((struct xl_ctl_msg *)hs_buf)->type, nfds);
		if (hs_send(h, c->fd, len, nfds) < 0)
			hs_conn_drop(c);
	} else if (k < 83) {
		c = hs_slot(h, hs_chance(h, 60) ? h->client : h->pconn, false);
		hs_log(h, "%lu drop %d", i, c->fd);
		hs_conn_drop(c);
	} else if (k == 83 && h->evil_fd >= 0 && hs_chance(h, 5)) {
		/* a peer daemon that talks nonsense on its own link */
		len = hs_peer_msg(h, &nfds);
		hs_log(h, "%lu evil junk len %zu", i, len);
		if (hs_send(h, h->evil_fd, len, nfds) < 0) {
			close(h->evil_fd);
			h->evil_fd = -1;
		}
	} else if (k == 84 && hs_chance(h, 20)) {
		hs_log(h, "%lu addrs junk", i);
		hs_write_addrs(h, hs_chance(h, 70));
		kill(h->dpid, SIGHUP);
	} else if (k == 85 && h->evil_fd < 0) {
		/* rescan now rather than at the next tick */
		kill(h->dpid, SIGHUP);
	} else if (k == 86 && hs_chance(h, 2)) {
		hs_log(h, "%lu flood", i);
		hs_flood(h);
	} else if (k == 87 && hs_chance(h, 2) && h->evil_fd >= 0) {
		hs_log(h, "%lu bulk", i);
		hs_bulk(h);
	} else if (k >= 95) {
		/* let timeouts run out while we are still at it */
		hs_sleep_ms(1);
	}
}

static void hs_drain_all(struct hs *h)
{
	unsigned int i;

	for (i = 0; i < HS_MAX_CONNS; i++) {
		hs_conn_drain(h, &h->client[i]);
		hs_conn_drain(h, &h->pconn[i]);
	}
	hs_evil_drain(h);
}

/* ---- set-up and the verdict ---- */

/* The daemon's peers socket: the one .sock in RUNDIR/peers not ours. */
static void hs_find_peer_sock(struct hs *h)
{
	char dir[96];
	struct dirent *de;
	size_t n;
	DIR *d;

	hs_path(dir, sizeof(dir), "%s/peers", h->rundir);
	d = opendir(dir);
	if (!d)
		hs_die("%s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		n = strlen(de->d_name);
		if (n > 5 && !strcmp(de->d_name + n - 5, ".sock") &&
		    strcmp(de->d_name, "evil.sock")) {
			hs_path(h->peer_path, sizeof(h->peer_path), "%s/%s",
				dir, de->d_name);
			break;
		}
	}
	closedir(d);
	if (!h->peer_path[0])
		hs_die("no peers socket of the daemon in %s", dir);
}

static void hs_setup(struct hs *h)
{
	struct rlimit rl;
	struct stat st;
	int i;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	if (stat("/proc/self/ns/net", &st) < 0)
		hs_die("/proc/self/ns/net: %s", strerror(errno));
	hs_path(h->ns_path, sizeof(h->ns_path), "%s/ns/%lu.sock", h->rundir,
		(unsigned long)st.st_ino);
	hs_find_peer_sock(h);
	hs_path(h->evil_sock, sizeof(h->evil_sock), "%s/peers/evil.sock",
		h->rundir);
	hs_path(h->evil_addrs, sizeof(h->evil_addrs), "%s/peers/evil.addrs",
		h->rundir);
	for (i = 0; i < HS_MAX_CONNS; i++)
		h->client[i].fd = h->pconn[i].fd = -1;
	hs_own_addrs(h);
	h->evil_fd = -1;
	h->evil_lfd = hs_listen(h->evil_sock);
	hs_write_addrs(h, false);
	kill(h->dpid, SIGHUP);
}

/* Wait for the daemon to connect to the fake peer. */
static void hs_wait_evil(struct hs *h)
{
	uint64_t end = hs_now_ms() + 5000;
	struct pollfd p = { .fd = h->evil_lfd, .events = POLLIN };

	while (h->evil_fd < 0 && hs_now_ms() < end) {
		poll(&p, 1, 100);
		hs_evil_drain(h);
		if (h->evil_fd < 0)
			kill(h->dpid, SIGHUP);
	}
	if (h->evil_fd < 0)
		hs_die("the daemon never connected to the fake peer %s",
		       h->evil_sock);
}

static void hs_teardown(struct hs *h)
{
	unsigned int i;

	for (i = 0; i < HS_MAX_CONNS; i++) {
		hs_conn_drop(&h->client[i]);
		hs_conn_drop(&h->pconn[i]);
	}
	unlink(h->evil_addrs);
	unlink(h->evil_sock);
	if (h->evil_fd >= 0)
		close(h->evil_fd);
	close(h->evil_lfd);
	/* the peer table is re-read at once rather than at the next tick */
	kill(h->dpid, SIGHUP);
}

/* Is the daemon back at base fds within the settling time? */
static bool hs_settled(struct hs *h, int base)
{
	uint64_t end = hs_now_ms() + HS_SETTLE_MS;
	int n = -1;

	while (hs_now_ms() < end) {
		if (!hs_daemon_alive(h->dpid))
			return false;
		n = hs_daemon_fds(h->dpid);
		if (n == base)
			return true;
		hs_sleep_ms(50);
	}
	fprintf(stderr, "hostile: the daemon holds %d fds, %d before: leak\n",
		n, base);
	hs_daemon_list_fds(h->dpid);
	return false;
}

int main(int argc, char **argv)
{
	static struct hs h;
	unsigned long ops = 4000, i;
	double secs = 6;
	uint64_t seed = 1, end;
	int ch, base;

	while ((ch = getopt(argc, argv, "r:p:s:n:t:l:j:")) != -1) {
		switch (ch) {
		case 'r':
			h.rundir = optarg;
			break;
		case 'p':
			h.dpid = (pid_t)atoi(optarg);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			ops = strtoul(optarg, NULL, 0);
			break;
		case 't':
			secs = atof(optarg);
			break;
		case 'l':
			h.log = fopen(optarg, "we");
			break;
		case 'j':
			h.json = optarg;
			break;
		default:
			hs_die("usage: hostile -r RUNDIR -p PID [-s SEED] "
			       "[-n OPS] [-t SECONDS] [-l LOG] [-j JSON]");
		}
	}
	if (!h.rundir || h.dpid <= 0)
		hs_die("-r RUNDIR and -p PID are needed");
	h.rng = seed * 0x9e3779b97f4a7c15ull + 1;
	if (!hs_daemon_alive(h.dpid))
		hs_die("no daemon at pid %d", (int)h.dpid);
	base = hs_daemon_baseline(h.dpid);
	hs_setup(&h);
	hs_wait_evil(&h);

	end = hs_now_ms() + (uint64_t)(secs * 1000);
	for (i = 0; i < ops && hs_now_ms() < end; i++) {
		hs_step(&h, i);
		hs_drain_all(&h);
		if (i % 64 == 0 && !hs_daemon_alive(h.dpid))
			hs_die("the daemon died during step %lu (seed %llu)",
			       i, (unsigned long long)seed);
	}
	printf("hostile: seed %llu: %lu steps, %lu messages sent, %lu "
	       "connections dropped by the daemon; received %lu CHAN, %lu "
	       "NOCHAN, %lu STATUS; as the fake peer %lu offers, %lu "
	       "replies, %lu connects; %lu floods, %lu bulks (%lu STATUS "
	       "truncated)\n",
	       (unsigned long long)seed, i, h.sent, h.dropped, h.chans,
	       h.nochans, h.statuses, h.offers_in, h.replies, h.evil_accepts,
	       h.floods, h.bulks, h.truncated);
	hs_teardown(&h);
	if (!hs_settled(&h, base)) {
		fprintf(stderr, "hostile: FAILED (seed %llu)\n",
			(unsigned long long)seed);
		return 1;
	}
	printf("hostile: the daemon is alive and back at %d fds\n", base);
	return 0;
}
