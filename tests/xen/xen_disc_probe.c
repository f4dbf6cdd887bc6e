/* SPDX-License-Identifier: MIT */
/*
 * Xen discovery between two guests of a real Xen host (tests/xen), with
 * dom0 running this build's "xenloopd --discovery".
 *
 * Guest 1 runs "xen_disc_probe a", guest 2 "xen_disc_probe b", each in
 * the background of its /init, alongside xen_chan_probe. Both drive the
 * guest side of discovery exactly as a guest's xenloopd would: the code
 * of daemon/xl_xen_guest.c over daemon/xl_xs_xen.c (libxenstore), which
 * advertises every second and re-reads the table dom0 wrote. Results are
 * lines on stdout, as xen_chan_probe's (XLTEST, XLINFO, XLSYNC).
 *
 * How this works
 *
 * The two probes meet over TCP (port 5001) once each sees a peer in its
 * table, tell each other their domid and the MAC of their vif as the
 * toolstack wrote it (dom0's backend node, which the guest may read but
 * not write), with what dom0 should list of them from their vifs' backend
 * nodes (vif_tokens()), and then go through their checks in step:
 *
 *	disc_table	the table lists exactly the other guest, its domid
 *			and its toolstack MACs (and with -R, dom0 running
 *			"xenloopd --discovery --routed", its routed vif's
 *			addresses), soon after both advertise
 *	disc_lookup	after a ping, the other guest's IP maps to its
 *			domid; dom0's bridge address and an unused one do not
 *	disc_perms	the other's table cannot be read, no table and no
 *			node of dom0's can be written, the other's "alive"
 *			cannot be bumped (all EACCES)
 *	disc_forge	each guest claims the other's MAC, IP and domid in
 *			its own subtree: the tables do not move
 *	disc_stop	guest 1 stops bumping "alive": it leaves guest 2's
 *			table and loses its own; it bumps again: both are
 *			back
 *	disc_withdraw	the same with guest 1 removing its advertisement
 *
 * Then the probe creates its "ready" file (guest-init.sh starts
 * xen_chan_probe on it) and keeps advertising. Guest 2's also watches:
 * that guest 1 stays listed while the channel probe loads both guests
 * (disc_steady), that it leaves the table when dom0 destroys it
 * (disc_destroy), and, once xen_chan_probe is done, asks dom0 to SIGTERM
 * xenloopd ("XLSYNC disc-term") and sees its table go (disc_term).
 *
 * A guest's clock is only compared with itself; where one guest's event
 * must be timed on the other's clock, the message that reports it says
 * how long ago it happened.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xenstore.h>

#include "xl_addr.h"
#include "xl_neigh.h"
#include "xl_xen_dom0.h"
#include "xl_xen_guest.h"
#include "xl_xs.h"

#define TICK_MS		200	/* table re-read: the observer's resolution */
#define IDLE_TICK_MS	500	/* the same while only watching for a change */
#define ADVERT_MS	1000	/* as xenloopd advertises */
#define MEET_MS		180000	/* guest 2 boots later, TCG-slow */
#define MSG_MS		60000	/* one step of the other guest */
#define TABLE_MS	5000	/* both advertise -> each lists the other */
#define TABLE_SETTLE_MS	15000	/* a table that blinked comes right again */
/* The next three are bounds for a loaded host, not the design's times
 * (stale after 3 s, a pass a second): dom0's one vCPU and xenstored
 * starved for seconds made a table come back 5.2 s after and go 7.4 s
 * after, on a host loaded to 7-17. */
#define DROP_MS		15000	/* last alive bump -> out (stale: 3 s) */
#define BACK_MS		15000	/* advertising again -> back in */
#define GONE_MS		15000	/* advertisement removed -> out */
#define FORGE_MS	3500	/* three discovery passes and a half */
#define DESTROY_MS	3000	/* xl destroy returned -> out */
#define DESTROY_MAX_MS	30000	/* xl destroy began -> out, at the latest */
#define TERM_MS		5000	/* SIGTERM of xenloopd -> table gone */
#define CUE_MS		120000	/* dom0 answers a cue */
#define PING_MS		5000

enum msg_type {
	M_HELLO = 1,	/* domid, toolstack MAC, ms since first advert */
	M_SYNC,		/* a step is done (ms: the step) */
	M_STOPPED,	/* a stopped bumping (ms: since the last bump) */
	M_RESUMED,	/* a bumps again (ms: since that first bump) */
	M_WITHDRAWN,	/* a removed its advertisement (ms: since) */
	M_BACK,		/* a advertises again (ms: since) */
};

/* a guest's tokens in a table line, as dom0 should list them */
#define TOKS_MAX	(XL_XEN_MAX_VIFS * 18 + 1)

struct msg {
	uint32_t type;
	uint32_t domid;
	uint64_t ms;
	char mac[24];
	char macs[TOKS_MAX];	/* M_HELLO: vif_tokens() */
	char ips[TOKS_MAX];
};

struct opts {
	char role;		/* 'a' (guest 1) or 'b' (guest 2) */
	const char *self_ip, *peer_ip;
	const char *dom0_ip;	/* a neighbour that is no guest */
	const char *none_ip;	/* on the subnet, nobody there */
	uint16_t port;
	const char *ready;	/* created when the checks in step are done */
	const char *chan_done;	/* guest-init.sh: xen_chan_probe ended */
	unsigned int life_s;	/* bound on the whole run */
	bool routed;		/* dom0 runs xenloopd --discovery --routed */
};

struct dp {
	struct opts o;
	struct xs_handle *xs;
	const struct xl_xs_ops *ops;
	struct xl_xen_guest_state g;
	uint32_t self, peer;
	char self_mac[24], peer_mac[24];
	/* vif_tokens(): ours, and the other's from its hello */
	char self_macs[TOKS_MAX], self_ips[TOKS_MAX];
	char peer_macs[TOKS_MAX], peer_ips[TOKS_MAX];
	char tab_path[96], peer_tab_path[96], cue[96];
	int lfd, cfd;
	uint64_t start;
	/* advertising */
	bool adv_on;
	uint64_t adv_first, adv_last, adv_next;
	unsigned int adv_errs;
	/* the table at the last refresh */
	unsigned int tick_ms;
	uint64_t refresh_next;
	int tab_err;		/* 0, or the raw read's -errno */
	char tab[XL_DOM0_TABLE_MAX];
	int refresh_ret;	/* xl_xen_guest_refresh()'s */
	unsigned int reads, changes;
	uint64_t read_ns, read_max;	/* both reads of a refresh */
	/* the message being received */
	struct msg in;
	size_t in_len;
};

static unsigned int nfail;

/* ---- output ---- */

__attribute__((format(printf, 4, 5)))
static void xlt(const struct dp *p, const char *name, bool ok,
		const char *fmt, ...)
{
	va_list ap;

	printf("XLTEST %s_g%c %s ", name, p->o.role == 'a' ? '1' : '2',
	       ok ? "PASS" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	if (!ok)
		nfail++;
}

__attribute__((format(printf, 1, 2)))
static void xli(const char *fmt, ...)
{
	va_list ap;

	fputs("XLINFO ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* "-13 (Permission denied)" for a result, "N" if >= 0. */
static const char *rstr(long r)
{
	static char buf[8][96];
	static unsigned int i;
	char *b = buf[i++ % 8];

	if (r >= 0)
		snprintf(b, sizeof(buf[0]), "%ld", r);
	else
		snprintf(b, sizeof(buf[0]), "-%ld (%s)", -r, strerror((int)-r));
	return b;
}

/* A table's text on one line: "2 00:16:3e:..|", "(empty)". */
static const char *tstr(const char *t)
{
	static char buf[2][XL_DOM0_TABLE_MAX];
	static unsigned int i;
	char *b = buf[i++ % 2], *c;

	if (!t[0])
		return "(empty)";
	snprintf(b, sizeof(buf[0]), "%s", t);
	for (c = b; *c; c++)
		if (*c == '\n')
			*c = '|';
	return b;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double secs(uint64_t ns)
{
	return (double)ns / 1e9;
}

static uint64_t ms_ns(uint64_t ms)
{
	return ms * 1000000ull;
}

/* ---- the guest side of discovery, as xenloopd would run it ---- */

static void advertise(struct dp *p, uint64_t now)
{
	int ret = xl_xen_guest_advertise(&p->g);

	if (ret < 0) {
		if (!p->adv_errs++)
			xli("guest %c: xl_xen_guest_advertise: %s", p->o.role,
			    rstr(ret));
	} else {
		if (!p->adv_first)
			p->adv_first = now;
		p->adv_last = now;
	}
	p->adv_next = now + ms_ns(ADVERT_MS);
}

/* Read the table twice: raw (what dom0 wrote, for the report and exact
 * comparison) and through xl_xen_guest_refresh() (what xenloopd would
 * believe). */
static void refresh(struct dp *p, uint64_t now)
{
	char *val = NULL;
	unsigned int len = 0;
	int err = p->ops->read(p->xs, p->tab_path, &val, &len);
	char old[XL_DOM0_TABLE_MAX];
	int old_err = p->tab_err;
	uint64_t took;

	memcpy(old, p->tab, sizeof(old));
	p->tab[0] = '\0';
	if (err == 0) {
		snprintf(p->tab, sizeof(p->tab), "%.*s", (int)len, val);
		free(val);
	}
	p->tab_err = err;
	if (p->reads && (err != old_err || strcmp(old, p->tab)))
		p->changes++;
	p->refresh_ret = xl_xen_guest_refresh(&p->g);
	p->reads++;
	/* xenstore's round trips: under TCG they are what slows a guest */
	took = mono_ns() - now;
	p->read_ns += took;
	if (took > p->read_max)
		p->read_max = took;
	p->refresh_next = now + ms_ns(p->tick_ms);
}

static void tick(struct dp *p)
{
	uint64_t now = mono_ns();

	if (p->adv_on && now >= p->adv_next)
		advertise(p, now);
	if (now >= p->refresh_next)
		refresh(p, now);
}

/* Sleep until something is due, or fd (if >= 0) is readable. */
static void nap(struct dp *p, int fd)
{
	uint64_t now = mono_ns(), due = p->refresh_next;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int ms;

	if (p->adv_on && p->adv_next < due)
		due = p->adv_next;
	ms = due > now ? (int)((due - now) / 1000000) + 1 : 0;
	poll(&pfd, fd >= 0 ? 1 : 0, ms);
}

/* Split s (copied into buf) at blanks into at most max words, sorted. */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static unsigned int words(const char *s, char *buf, size_t size, char **w,
			  unsigned int max)
{
	unsigned int n = 0;
	char *save = NULL, *t;

	snprintf(buf, size, "%s", s);
	for (t = strtok_r(buf, " \n", &save); t && n < max;
	     t = strtok_r(NULL, " \n", &save))
		w[n++] = t;
	qsort(w, n, sizeof(*w), cmp_str);
	return n;
}

/* Do a and b hold the same words, in any order? */
static bool same_words(const char *a, const char *b)
{
	char ba[XL_DOM0_TABLE_MAX], bb[XL_DOM0_TABLE_MAX];
	char *wa[2 * XL_XEN_MAX_VIFS + 2], *wb[2 * XL_XEN_MAX_VIFS + 2];
	unsigned int na, nb, i;

	na = words(a, ba, sizeof(ba), wa, 2 * XL_XEN_MAX_VIFS + 2);
	nb = words(b, bb, sizeof(bb), wb, 2 * XL_XEN_MAX_VIFS + 2);
	if (na != nb)
		return false;
	for (i = 0; i < na; i++)
		if (strcmp(wa[i], wb[i]))
			return false;
	return true;
}

/* Does dom0 list the other guest's routed addresses for us (-R)? */
static bool routed_pair(const struct dp *p)
{
	return p->o.routed && p->self_ips[0] && p->peer_ips[0];
}

/*
 * Is our parsed table the other guest alone, with each of its MACs and
 * (routed_pair()) each of its routed addresses, and nothing else?
 */
static bool peer_listed(const struct dp *p)
{
	char buf[TOKS_MAX], *w[XL_XEN_MAX_VIFS];
	const struct xl_xen_peer *e = &p->g.peers[0];
	unsigned int n, nip = 0, i, j;
	struct xl_ctl_addr ip;
	uint32_t domid;
	uint8_t mac[6];

	n = words(p->peer_macs, buf, sizeof(buf), w, XL_XEN_MAX_VIFS);
	if (p->refresh_ret != 1 || p->g.npeers != 1 || e->domid != p->peer ||
	    e->nmac != n)
		return false;
	for (i = 0; i < n; i++) {
		if (xl_mac_parse(w[i], mac) < 0)
			return false;
		for (j = 0; j < e->nmac && memcmp(e->mac[j], mac, 6); j++)
			;
		if (j == e->nmac)
			return false;
	}
	if (routed_pair(p))
		nip = words(p->peer_ips, buf, sizeof(buf), w, XL_XEN_MAX_VIFS);
	if (e->nip != nip)
		return false;
	for (i = 0; i < nip; i++)
		if (strncmp(w[i], "ip=", 3) ||
		    xl_addr_parse(w[i] + 3, &ip) < 0 ||
		    xl_xen_table_lookup_ip(e, 1, &ip, &domid) < 0)
			return false;
	return true;
}

static bool any_peer(const struct dp *p)
{
	return p->g.npeers > 0;
}

/* Our table exists and lists nobody (we are willing, alone). */
static bool alone(const struct dp *p)
{
	return p->tab_err == 0 && !p->tab[0] && p->refresh_ret == 0;
}

static bool no_table(const struct dp *p)
{
	return p->tab_err < 0;
}

static bool has_table(const struct dp *p)
{
	return p->tab_err == 0;
}

/*
 * The text of a table that lists only the other guest: its MACs, and its
 * routed vif's addresses when dom0 pairs routed vifs (-R) and both of us
 * have one (dom0's order of the words is its own).
 */
static void expected_table(const struct dp *p, char *buf, size_t size)
{
	bool ips = routed_pair(p);

	snprintf(buf, size, "%u %s%s%s\n", p->peer, p->peer_macs,
		 ips ? " " : "", ips ? p->peer_ips : "");
}

/* One line, the other guest's, with exactly the expected words. */
static bool table_is_pair(const struct dp *p)
{
	char want[XL_DOM0_TABLE_MAX];
	const char *nl = strchr(p->tab, '\n');

	expected_table(p, want, sizeof(want));
	return p->tab_err == 0 && nl && !nl[1] && same_words(p->tab, want) &&
	       peer_listed(p);
}

/*
 * Tick until cond holds or timeout_ms passed: when it first held (the
 * time of the refresh that saw it), or 0.
 */
static uint64_t wait_for(struct dp *p, bool (*cond)(const struct dp *),
			 unsigned int timeout_ms)
{
	uint64_t end = mono_ns() + ms_ns(timeout_ms);

	for (;;) {
		tick(p);
		if (cond(p))
			return mono_ns();
		if (mono_ns() >= end)
			return 0;
		nap(p, -1);
	}
}

/* ---- the TCP connection between the two probes ---- */

static int send_msg(struct dp *p, uint32_t type, uint64_t ms)
{
	struct msg m = { .type = type, .domid = p->self, .ms = ms };

	memcpy(m.mac, p->self_mac, sizeof(m.mac));
	memcpy(m.macs, p->self_macs, sizeof(m.macs));
	memcpy(m.ips, p->self_ips, sizeof(m.ips));
	/* 336 bytes into an idle connection: never blocks for long */
	if (send(p->cfd, &m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
		return errno ? -errno : -EIO;
	return 0;
}

/* Receive a message of type, ticking all along; -ETIMEDOUT, -EPROTO. */
static int recv_msg(struct dp *p, uint32_t type, struct msg *m)
{
	uint64_t end = mono_ns() + ms_ns(MSG_MS);
	ssize_t n;

	while (p->in_len < sizeof(p->in)) {
		tick(p);
		if (mono_ns() >= end)
			return -ETIMEDOUT;
		nap(p, p->cfd);
		n = recv(p->cfd, (char *)&p->in + p->in_len,
			 sizeof(p->in) - p->in_len, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0)
			p->in_len += (size_t)n;
	}
	p->in_len = 0;
	*m = p->in;
	m->mac[sizeof(m->mac) - 1] = '\0';
	m->macs[sizeof(m->macs) - 1] = '\0';
	m->ips[sizeof(m->ips) - 1] = '\0';
	if (m->type != type) {
		xli("guest %c: got message %u, wanted %u", p->o.role, m->type,
		    type);
		return -EPROTO;
	}
	return 0;
}

/* Both probes are done with step: each waits for the other. */
static int sync_step(struct dp *p, uint64_t step)
{
	struct msg m;
	int ret = send_msg(p, M_SYNC, step);

	if (ret == 0)
		ret = recv_msg(p, M_SYNC, &m);
	if (ret == 0 && m.ms != step)
		ret = -EPROTO;
	return ret;
}

static int tcp_socket_to(const char *ip, uint16_t port,
			 struct sockaddr_in *sa)
{
	*sa = (struct sockaddr_in){ .sin_family = AF_INET,
				    .sin_port = htons(port) };
	if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

/* One nonblocking connect, ticking while it is under way (a lost SYN
 * must not stop us advertising). */
static int try_connect(struct dp *p, const struct sockaddr_in *sa)
{
	uint64_t end = mono_ns() + ms_ns(2000);
	socklen_t sl = sizeof(int);
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
		return fd;
	err = errno;
	while (err == EINPROGRESS && mono_ns() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };

		tick(p);
		if (poll(&pfd, 1, TICK_MS) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 &&
		    err == 0)
			return fd;
	}
	close(fd);
	return -(err == EINPROGRESS ? ETIMEDOUT : err);
}

/* Guest 1 listens, guest 2 connects; both keep advertising meanwhile. */
static int meet(struct dp *p)
{
	uint64_t end = mono_ns() + ms_ns(MEET_MS);
	struct sockaddr_in sa;
	int one = 1, fd, ret;

	ret = tcp_socket_to(p->o.role == 'a' ? p->o.self_ip : p->o.peer_ip,
			    p->o.port, &sa);
	if (ret < 0)
		return ret;
	if (p->o.role == 'a') {
		p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
				SOCK_NONBLOCK, 0);
		if (p->lfd < 0 ||
		    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one,
			       sizeof(one)) < 0 ||
		    bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(p->lfd, 1) < 0)
			return -errno;
		while ((p->cfd = accept4(p->lfd, NULL, NULL,
					 SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				return -errno;
			if (mono_ns() >= end)
				return -ETIMEDOUT;
			tick(p);
			nap(p, p->lfd);
		}
	} else {
		while ((fd = try_connect(p, &sa)) < 0) {
			if (mono_ns() >= end)
				return fd;
			tick(p);
			nap(p, -1);
		}
		p->cfd = fd;
	}
	setsockopt(p->cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/* ---- checks ---- */

/*
 * disc_table: wait until some peer is listed, meet the other probe,
 * learn who it is, and compare the table with the toolstack's truth.
 */
static int phase_table(struct dp *p)
{
	uint64_t seen, hello;
	int64_t both, other_first;
	char want[XL_DOM0_TABLE_MAX];
	struct msg m;
	int ret;

	seen = wait_for(p, any_peer, MEET_MS);
	ret = meet(p);
	if (ret < 0)
		return ret;
	ret = send_msg(p, M_HELLO, (mono_ns() - p->adv_first) / 1000000);
	if (ret == 0)
		ret = recv_msg(p, M_HELLO, &m);
	if (ret < 0)
		return ret;
	hello = mono_ns();
	if (m.domid == 0 || m.domid > XL_XEN_DOMID_MAX || m.domid == p->self)
		return -EPROTO;
	p->peer = m.domid;
	memcpy(p->peer_mac, m.mac, sizeof(p->peer_mac));
	memcpy(p->peer_macs, m.macs, sizeof(p->peer_macs));
	memcpy(p->peer_ips, m.ips, sizeof(p->peer_ips));
	snprintf(p->peer_tab_path, sizeof(p->peer_tab_path),
		 XL_XS_TABLES "/%u", p->peer);
	/* the other began advertising ms before its hello reached us */
	other_first = (int64_t)hello - (int64_t)ms_ns(m.ms);
	both = other_first > (int64_t)p->adv_first ? other_first :
						      (int64_t)p->adv_first;
	if (!seen)
		seen = wait_for(p, any_peer, 0);
	tick(p);
	/* Soft state: under QEMU's software emulation a starved guest can
	 * miss its alive bump (soft lockups of 30 s and more were seen), and
	 * dom0 then drops its entry until the next one. The table must
	 * come right again, not be right at this one instant. */
	if (!table_is_pair(p)) {
		xli("disc_table: table \"%s\" at the first look; waiting "
		    "for it to settle", tstr(p->tab));
		wait_for(p, table_is_pair, TABLE_SETTLE_MS);
	}
	expected_table(p, want, sizeof(want));
	xlt(p, "disc_table", seen && table_is_pair(p) &&
	    (int64_t)seen <= both + (int64_t)ms_ns(TABLE_MS),
	    "table \"%s\" (want \"%s\": domain %u, its toolstack MACs%s): "
	    "first peer seen %+.1f s after both advertised, %.1f s after "
	    "our own first advert", tstr(p->tab), tstr(want), p->peer,
	    p->o.routed ? " and its routed vif's addresses" : "",
	    seen ? ((double)seen - (double)both) / 1e9 : -1.0,
	    seen ? secs(seen - p->adv_first) : -1.0);
	return sync_step(p, 1);
}

/* Run argv (ping), ticking until it exits: its exit status or -errno. */
static int run_ticking(struct dp *p, char *const argv[])
{
	uint64_t end = mono_ns() + ms_ns(PING_MS);
	pid_t pid = fork(), w;
	int st, fd;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	while ((w = waitpid(pid, &st, WNOHANG)) == 0) {
		if (mono_ns() >= end)
			kill(pid, SIGKILL);
		tick(p);
		nap(p, -1);
	}
	if (w < 0)
		return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -EINTR;
}

static int ping(struct dp *p, const char *ip)
{
	char *argv[] = { "ping", "-c", "1", "-W", "2", (char *)ip, NULL };

	return run_ticking(p, argv);
}

/* One lookup as xenloopd would make it for a connection's remote IP. */
static int lookup(struct dp *p, const char *ip, uint32_t *domid,
		  char mac[24])
{
	struct xl_ctl_addr a;
	uint8_t m[6];
	int ret = xl_addr_parse(ip, &a);

	if (ret < 0)
		return ret;
	strcpy(mac, "none");
	if (xl_neigh_lookup(&a, m) == 0)
		xl_mac_format(m, mac);
	*domid = 0;
	return xl_xen_guest_lookup(&p->g, &a, domid);
}

/* disc_lookup: IP -> neighbour MAC -> domid, for a peer and non-peers. */
static int phase_lookup(struct dp *p)
{
	char mac_peer[24], mac_dom0[24], mac_none[24];
	int ping_peer, ping_dom0, r_peer, r_dom0, r_none;
	uint32_t d_peer, d_dom0, d_none;

	ping_peer = ping(p, p->o.peer_ip);
	ping_dom0 = ping(p, p->o.dom0_ip);
	tick(p);
	r_peer = lookup(p, p->o.peer_ip, &d_peer, mac_peer);
	r_dom0 = lookup(p, p->o.dom0_ip, &d_dom0, mac_dom0);
	r_none = lookup(p, p->o.none_ip, &d_none, mac_none);
	/* dom0 answering the ping proves its MAC is in the neighbour
	 * table: its -ENOENT then comes from the peer table */
	xlt(p, "disc_lookup", ping_peer == 0 && r_peer == 0 &&
	    d_peer == p->peer && !strcmp(mac_peer, p->peer_mac) &&
	    ping_dom0 == 0 && r_dom0 == -ENOENT && r_none == -ENOENT,
	    "%s (MAC %s, ping %s) -> %s domain %u; dom0 %s (MAC %s, ping "
	    "%s) -> %s; nobody's %s (MAC %s) -> %s", p->o.peer_ip, mac_peer,
	    rstr(ping_peer), rstr(r_peer), d_peer, p->o.dom0_ip, mac_dom0,
	    rstr(ping_dom0), rstr(r_dom0), p->o.none_ip, mac_none,
	    rstr(r_none));
	return sync_step(p, 2);
}

struct attempt {
	const char *what;
	int ret;
};

/* disc_perms: what a guest must not be able to do to the tables. */
static int phase_perms(struct dp *p)
{
	char forged[64], path[96], other_alive[96], before[XL_DOM0_TABLE_MAX];
	char detail[1024], **names = NULL;
	struct attempt at[7];
	unsigned int n = 0, i, num = 0;
	size_t used = 0;
	bool ok = true;
	char *val;
	int ret;

	tick(p);
	memcpy(before, p->tab, sizeof(before));
	/* a table that would send the other's traffic to us */
	snprintf(forged, sizeof(forged), "%u %s\n", p->peer, p->self_mac);
	snprintf(path, sizeof(path), XL_XS_TABLES "/forged");
	snprintf(other_alive, sizeof(other_alive),
		 "/local/domain/%u/" XL_XS_ADVERT "/alive", p->peer);
	ret = p->ops->read(p->xs, p->peer_tab_path, &val, &num);
	if (ret == 0)
		free(val);
	at[n++] = (struct attempt){ "read the other's table", ret };
	at[n++] = (struct attempt){ "write our table", p->ops->write(p->xs,
		p->tab_path, forged, (unsigned int)strlen(forged)) };
	at[n++] = (struct attempt){ "write the other's table",
		p->ops->write(p->xs, p->peer_tab_path, "", 0) };
	at[n++] = (struct attempt){ "remove our table",
		p->ops->rm(p->xs, p->tab_path) };
	at[n++] = (struct attempt){ "chmod our table",
		p->ops->set_reader(p->xs, p->tab_path, p->peer) };
	at[n++] = (struct attempt){ "create a node in dom0's tables",
		p->ops->write(p->xs, path, forged,
			      (unsigned int)strlen(forged)) };
	at[n++] = (struct attempt){ "bump the other's alive",
		p->ops->write(p->xs, other_alive, "999999", 6) };
	for (i = 0; i < n; i++)
		ok &= at[i].ret == -EACCES;
	for (i = 0; i < n && used < sizeof(detail); i++)
		used += (size_t)snprintf(detail + used, sizeof(detail) - used,
					 "%s%s: %s", i ? ", " : "",
					 at[i].what, rstr(at[i].ret));
	ret = p->ops->directory(p->xs, XL_XS_TABLES, &names, &num);
	xli("guest %c: listing %s: %s%s", p->o.role, XL_XS_TABLES, rstr(ret),
	    ret == 0 ? " (a guest sees who else is willing)" : "");
	if (ret == 0)
		free(names);
	/* the other guest has made its attempts too */
	ret = sync_step(p, 3);
	if (ret < 0)
		return ret;
	p->refresh_next = 0;
	tick(p);
	xlt(p, "disc_perms", ok && table_is_pair(p) && !strcmp(before, p->tab),
	    "%s; our table after both guests tried: \"%s\"", detail,
	    tstr(p->tab));
	return 0;
}

/* Nodes a guest may write about itself, claiming to be the other. */
static int forge(struct dp *p, bool undo, char *saved, size_t size)
{
	static const char *const nodes[] = { "mac", "ip", "domid",
					     "vif/0/mac", "vif/0/bridge" };
	char path[128], dom[16], fe[96], *val;
	const char *v;
	unsigned int i, len;
	int ret = 0, r;

	snprintf(dom, sizeof(dom), "%u", p->peer);
	snprintf(fe, sizeof(fe), "/local/domain/%u/device/vif/0/mac",
		 p->self);
	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		snprintf(path, sizeof(path), "/local/domain/%u/" XL_XS_ADVERT
			 "/%s", p->self, nodes[i]);
		v = i == 0 || i == 3 ? p->peer_mac : i == 1 ? p->o.peer_ip :
		    i == 2 ? dom : "xenbr0";
		r = undo ? p->ops->rm(p->xs, path) :
			   p->ops->write(p->xs, path, v,
					 (unsigned int)strlen(v));
		if (r < 0 && !ret)
			ret = r;
	}
	/* the frontend's own MAC node is the guest's to write, too */
	if (undo) {
		/* nothing saved: nothing was overwritten */
		r = !saved[0] ? 0 : p->ops->write(p->xs, fe, saved,
						  (unsigned int)strlen(saved));
	} else {
		r = p->ops->read(p->xs, fe, &val, &len);
		if (r == 0) {
			snprintf(saved, size, "%s", val);
			free(val);
			r = p->ops->write(p->xs, fe, p->peer_mac,
					  (unsigned int)strlen(p->peer_mac));
		}
	}
	return ret ? ret : r;
}

/* disc_forge: claims under the guest's own subtree move no table. */
static int phase_forge(struct dp *p)
{
	char before[XL_DOM0_TABLE_MAX], saved[32] = "";
	unsigned int reads = 0, bad = 0;
	uint64_t end;
	int wret, uret, ret;

	tick(p);
	memcpy(before, p->tab, sizeof(before));
	wret = forge(p, false, saved, sizeof(saved));
	ret = sync_step(p, 4);
	if (ret < 0)
		return ret;
	end = mono_ns() + ms_ns(FORGE_MS);
	while (mono_ns() < end) {
		p->refresh_next = 0;
		tick(p);
		reads++;
		if (!table_is_pair(p) || strcmp(before, p->tab))
			bad++;
		nap(p, -1);
	}
	uret = forge(p, true, saved, sizeof(saved));
	xlt(p, "disc_forge", wret == 0 && uret == 0 && bad == 0,
	    "both guests wrote the other's MAC, IP, domid and vif under "
	    "data/xenloop and the other's MAC into device/vif/0/mac (%s, "
	    "undone %s): %u of %u reads over %.1f s differ from \"%s\"",
	    rstr(wret), rstr(uret), bad, reads, FORGE_MS / 1e3, tstr(before));
	return sync_step(p, 5);
}

/*
 * disc_stop (withdraw false) and disc_withdraw, guest 1's half: stop
 * bumping "alive" (or remove the advertisement), see our table go, then
 * advertise again and see it back. The other guest times the same from
 * its side.
 */
static int stop_a(struct dp *p, bool withdraw)
{
	uint64_t t_off, t_on, gone, back, any, bound;
	char *val;
	unsigned int len;
	int ret, node = 0;
	struct msg m;

	bound = withdraw ? GONE_MS : DROP_MS;
	p->adv_on = false;
	if (withdraw) {
		xl_xen_guest_withdraw(&p->g);
		node = p->ops->read(p->xs, "data/xenloop/version", &val, &len);
		if (node == 0)
			free(val);
	}
	/* dom0 counts us out from our last bump, or from the removal */
	t_off = withdraw ? mono_ns() : p->adv_last;
	ret = send_msg(p, withdraw ? M_WITHDRAWN : M_STOPPED,
		       (mono_ns() - t_off) / 1000000);
	if (ret < 0)
		return ret;
	gone = wait_for(p, no_table, (unsigned int)bound + 5000);
	ret = recv_msg(p, M_SYNC, &m);
	if (ret < 0)
		return ret;
	p->adv_on = true;
	p->adv_next = 0;
	tick(p);
	t_on = p->adv_last;
	ret = send_msg(p, withdraw ? M_BACK : M_RESUMED,
		       (mono_ns() - t_on) / 1000000);
	if (ret < 0)
		return ret;
	any = wait_for(p, has_table, BACK_MS + 5000);
	back = wait_for(p, table_is_pair, BACK_MS + 5000);
	xlt(p, withdraw ? "disc_withdraw" : "disc_stop",
	    gone && gone - t_off <= ms_ns(bound) &&
	    back && back - t_on <= ms_ns(BACK_MS) &&
	    (!withdraw || node == -ENOENT),
	    "%s%s: our table gone %.1f s after, back %.1f s after "
	    "advertising again (readable after %.1f s)",
	    withdraw ? "removed data/xenloop" : "stopped bumping alive",
	    withdraw ? (node == -ENOENT ? " (version: ENOENT)" :
			" (version still readable!)") : "",
	    gone ? secs(gone - t_off) : -1.0,
	    back ? secs(back - t_on) : -1.0, any ? secs(any - t_on) : -1.0);
	return recv_msg(p, M_SYNC, &m);
}

/* The other guest's half: time guest 1 leaving our table and coming back,
 * from when it said it stopped (or started) counting as alive. */
static int stop_b(struct dp *p, bool withdraw)
{
	uint64_t t_off, t_on, gone, back, bound;
	char was[XL_DOM0_TABLE_MAX];
	struct msg m;
	int ret;

	bound = withdraw ? GONE_MS : DROP_MS;
	ret = recv_msg(p, withdraw ? M_WITHDRAWN : M_STOPPED, &m);
	if (ret < 0)
		return ret;
	t_off = mono_ns() - ms_ns(m.ms);
	memcpy(was, p->tab, sizeof(was));
	gone = wait_for(p, alone, (unsigned int)bound + 5000);
	ret = send_msg(p, M_SYNC, 0);
	if (ret == 0)
		ret = recv_msg(p, withdraw ? M_BACK : M_RESUMED, &m);
	if (ret < 0)
		return ret;
	t_on = mono_ns() - ms_ns(m.ms);
	back = wait_for(p, table_is_pair, BACK_MS + 5000);
	xlt(p, withdraw ? "disc_withdraw" : "disc_stop",
	    gone && gone - t_off <= ms_ns(bound) &&
	    back && back - t_on <= ms_ns(BACK_MS),
	    "guest 1 %s: table \"%s\" -> \"%s\" %.1f s after, back %.1f s "
	    "after it advertised again", withdraw ? "removed data/xenloop" :
	    "stopped bumping alive", tstr(was), gone ? "(empty)" : tstr(p->tab),
	    gone ? secs(gone - t_off) : -1.0, back ? secs(back - t_on) : -1.0);
	return send_msg(p, M_SYNC, 0);
}

static int run_steps(struct dp *p)
{
	static const char *const name[] = { "table", "lookup", "perms",
					    "forge", "stop", "withdraw" };
	bool a = p->o.role == 'a';
	uint64_t t;
	int i, ret = 0;

	for (i = 0; i < 6 && ret == 0; i++) {
		t = mono_ns();
		switch (i) {
		case 0:
			ret = phase_table(p);
			break;
		case 1:
			ret = phase_lookup(p);
			break;
		case 2:
			ret = phase_perms(p);
			break;
		case 3:
			ret = phase_forge(p);
			break;
		default:
			ret = a ? stop_a(p, i == 5) : stop_b(p, i == 5);
		}
		xli("guest %c: step %s took %.1f s", p->o.role, name[i],
		    secs(mono_ns() - t));
	}
	return ret ? ret : sync_step(p, 6);
}

/* ---- after the steps: advertise on, and watch guest 1 go ---- */

static bool file_exists(const char *f)
{
	struct stat st;

	return stat(f, &st) == 0;
}

/* Has dom0 written the cue node name under our data/xlprobe? (Guest 2's
 * xen_chan_probe makes the destroy-* nodes empty first, to watch them.) */
static bool cue_seen(struct dp *p, const char *name)
{
	char path[128], *val;
	unsigned int len;
	bool set;

	snprintf(path, sizeof(path), "%s/%s", p->cue, name);
	if (p->ops->read(p->xs, path, &val, &len) < 0)
		return false;
	set = len > 0;
	free(val);
	return set;
}

static uint64_t wait_cue(struct dp *p, const char *name, unsigned int ms)
{
	uint64_t end = mono_ns() + ms_ns(ms);

	while (mono_ns() < end) {
		tick(p);
		if (cue_seen(p, name))
			return mono_ns();
		nap(p, -1);
	}
	return 0;
}

static bool life_over(const struct dp *p)
{
	return mono_ns() >= p->start + ms_ns(p->o.life_s * 1000ull);
}

/*
 * Until dom0 begins destroying guest 1 (or xen_chan_probe ends): is the
 * peer listed at every read? Both guests are busy with the channel probe
 * meanwhile, so this is soft state under load. Returns when destroy began,
 * or 0.
 */
static uint64_t watch_steady(struct dp *p)
{
	uint64_t t0 = mono_ns(), gap = 0, gap_max = 0, begin = 0, now;
	unsigned int flaps = 0, reads0 = p->reads;
	bool listed = peer_listed(p), was = listed;

	/* a lighter load on xenstore while the channel probe runs */
	p->tick_ms = IDLE_TICK_MS;
	for (;;) {
		tick(p);
		now = mono_ns();
		listed = peer_listed(p);
		/* dom0 writes the cue before xl destroy begins: a drop read
		 * once the cue is there is the destroy's (watch_destroy's),
		 * not a flap of the steady state */
		if (p->o.role == 'b' && was && !listed &&
		    cue_seen(p, "destroy-begin")) {
			begin = now;
			listed = true;
			break;
		}
		if (was && !listed) {
			flaps++;
			gap = now;
			xli("guest %c: the peer left our table at +%.1f s: "
			    "\"%s\" (%s)", p->o.role, secs(now - t0),
			    tstr(p->tab), rstr(p->tab_err));
		} else if (!was && listed) {
			if (now - gap > gap_max)
				gap_max = now - gap;
			xli("guest %c: the peer is back after %.1f s",
			    p->o.role, secs(now - gap));
		}
		was = listed;
		if (p->o.role == 'b' && cue_seen(p, "destroy-begin")) {
			begin = now;
			break;
		}
		if (file_exists(p->o.chan_done) || life_over(p))
			break;
		nap(p, -1);
	}
	p->tick_ms = TICK_MS;
	if (p->o.role == 'b')
		xlt(p, "disc_steady", begin && listed && !flaps,
		    "%s; guest 1 left the table %u times in %u reads over "
		    "%.1f s (longest gap %.1f s)", begin ?
		    "until xl destroy began" : "dom0 never began xl destroy",
		    flaps, p->reads - reads0, secs(now - t0), secs(gap_max));
	return begin && listed ? begin : 0;
}

/* disc_destroy: guest 1 leaves our table once dom0 destroys it. */
static void watch_destroy(struct dp *p, uint64_t begin)
{
	uint64_t gone = 0, end = 0, now;

	while (!gone || !end) {
		tick(p);
		now = mono_ns();
		if (!end && cue_seen(p, "destroy-end"))
			end = now;
		if (!gone && !peer_listed(p))
			gone = now;
		if (now - begin > ms_ns(DESTROY_MAX_MS))
			break;
		nap(p, -1);
	}
	xlt(p, "disc_destroy", gone && alone(p) &&
	    (!end || gone <= end + ms_ns(DESTROY_MS)),
	    "table \"%s\" %.1f s after xl destroy began, %+.1f s from its "
	    "return%s", gone ? tstr(p->tab) : "unchanged",
	    gone ? secs(gone - begin) : -1.0,
	    gone && end ? ((double)gone - (double)end) / 1e9 : 0.0,
	    end ? "" : " (never seen)");
}

/* disc_term: once xen_chan_probe is done, dom0 stops xenloopd. */
static void watch_term(struct dp *p)
{
	uint64_t term, gone;

	p->tick_ms = IDLE_TICK_MS;
	while (!file_exists(p->o.chan_done) && !life_over(p)) {
		tick(p);
		nap(p, -1);
	}
	p->tick_ms = TICK_MS;
	printf("XLSYNC disc-term\n");
	fflush(stdout);
	term = wait_cue(p, "term-begin", CUE_MS);
	gone = term ? wait_for(p, no_table, TERM_MS * 3) : 0;
	xlt(p, "disc_term", term && gone && gone - term <= ms_ns(TERM_MS),
	    "%s: our table read %s %.1f s after dom0's SIGTERM cue",
	    term ? "xenloopd got SIGTERM" : "dom0 never sent SIGTERM",
	    rstr(p->tab_err), gone ? secs(gone - term) : -1.0);
}

/* ---- main ---- */

/* Append word w to the words in buf. */
static void add_word(char *buf, size_t size, const char *w)
{
	size_t used = strlen(buf);

	snprintf(buf + used, size - used, "%s%s", used ? " " : "", w);
}

/* Backend node "<vif dir>/<node>" of ours into buf, "" if there is none. */
static void vif_node(struct dp *p, const char *dir, const char *node,
		     char *buf, size_t size)
{
	char path[160], *val;
	unsigned int len;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "%s/%s", dir, node);
	if (p->ops->read(p->xs, path, &val, &len) == 0) {
		snprintf(buf, size, "%s", val);
		free(val);
	}
}

/*
 * What dom0's discovery should list of us, from the toolstack's backend
 * nodes of our vifs (each vif's ours to read, not to write; their parent,
 * which lists them, is not even readable: we try the devids xl gives, 0
 * up, as far as dom0 looks at vifs): the MAC of every online vif that has
 * a bridge node (xl writes one for every vif, "xenbr0" by default: the
 * rig's vifs all share it), but with -R a routed vif's (its script's base
 * name begins with "vif-route") addresses instead, "ip=A" for each A in
 * its ip node. Without -R, dom0 lists a routed vif not at all.
 */
static void vif_tokens(struct dp *p)
{
	char vdir[96], mac[24], bridge[32], online[8], script[128];
	char ip[128], tok[64], *save = NULL, *a, *base;
	unsigned int i;
	bool routed;

	for (i = 0; i < XL_XEN_MAX_VIFS; i++) {
		snprintf(vdir, sizeof(vdir), XL_XS_VIFS "/%u/%u", p->self, i);
		vif_node(p, vdir, "mac", mac, sizeof(mac));
		if (!mac[0])
			continue;
		vif_node(p, vdir, "bridge", bridge, sizeof(bridge));
		vif_node(p, vdir, "online", online, sizeof(online));
		vif_node(p, vdir, "script", script, sizeof(script));
		vif_node(p, vdir, "ip", ip, sizeof(ip));
		base = strrchr(script, '/');
		base = base ? base + 1 : script;
		routed = !strncmp(base, XL_XEN_ROUTED_SCRIPT,
				  strlen(XL_XEN_ROUTED_SCRIPT));
		xli("guest %c: vif %u: mac %s, bridge \"%s\", online \"%s\", "
		    "script \"%s\", ip \"%s\"%s", p->o.role, i, mac, bridge,
		    online, script, ip, routed ? " (routed)" : "");
		if (strcmp(online, "1"))
			continue;
		if (routed) {
			if (!p->o.routed)
				continue;
			for (a = strtok_r(ip, " ", &save); a;
			     a = strtok_r(NULL, " ", &save)) {
				snprintf(tok, sizeof(tok), "ip=%s", a);
				add_word(p->self_ips, sizeof(p->self_ips),
					 tok);
			}
		} else if (bridge[0]) {
			add_word(p->self_macs, sizeof(p->self_macs), mac);
		}
	}
}

static int setup(struct dp *p)
{
	char path[96], eth[24] = "", *val;
	unsigned int len;
	FILE *f;
	int ret;

	p->xs = xs_open(0);
	if (!p->xs)
		return errno ? -errno : -EIO;
	p->ops = &xl_xs_xen;
	ret = xl_xen_guest_self(p->ops, p->xs, &p->self);
	if (ret < 0)
		return ret;
	/* what the toolstack says our vif is: dom0's node, ours to read */
	snprintf(path, sizeof(path), XL_XS_VIFS "/%u/0/mac", p->self);
	ret = p->ops->read(p->xs, path, &val, &len);
	if (ret < 0)
		return ret;
	snprintf(p->self_mac, sizeof(p->self_mac), "%s", val);
	free(val);
	f = fopen("/sys/class/net/eth0/address", "r");
	if (f) {
		if (!fgets(eth, sizeof(eth), f))
			eth[0] = '\0';
		eth[strcspn(eth, "\n")] = '\0';
		fclose(f);
	}
	xli("guest %c is domain %u, toolstack MAC %s, eth0 %s", p->o.role,
	    p->self, p->self_mac, eth);
	vif_tokens(p);
	xli("guest %c: dom0 should list us as \"%s%s%s\"", p->o.role,
	    p->self_macs, p->self_ips[0] ? " " : "", p->self_ips);
	snprintf(p->tab_path, sizeof(p->tab_path), XL_XS_TABLES "/%u",
		 p->self);
	snprintf(p->cue, sizeof(p->cue), "/local/domain/%u/data/xlprobe",
		 p->self);
	xl_xen_guest_init(&p->g, p->ops, p->xs, p->self);
	p->adv_on = true;
	p->tick_ms = TICK_MS;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: xen_disc_probe a|b [-s SELF_IP] [-P PEER_IP] "
		"[-D DOM0_IP] [-N UNUSED_IP]\n"
		"                      [-p PORT] [-r READY_FILE] "
		"[-c CHAN_DONE_FILE] [-T LIFE_S] [-R]\n"
		"  a: guest 1, listens on SELF_IP; b: guest 2, connects\n"
		"  -R: dom0 runs xenloopd --discovery --routed\n");
	exit(2);
}

static void opts_parse(struct opts *o, int argc, char **argv)
{
	unsigned long v;
	char *end;
	int c;

	if (argc < 2 || (strcmp(argv[1], "a") && strcmp(argv[1], "b")))
		usage();
	*o = (struct opts){ .role = argv[1][0], .self_ip = "198.18.0.1",
			    .peer_ip = "198.18.0.2", .dom0_ip = "198.18.0.254",
			    .none_ip = "198.18.0.99", .port = 5001,
			    .ready = "/tmp/xl-disc-ready",
			    .chan_done = "/tmp/xl-chan-done", .life_s = 400 };
	if (o->role == 'b') {
		o->self_ip = "198.18.0.2";
		o->peer_ip = "198.18.0.1";
	}
	optind = 2;
	while ((c = getopt(argc, argv, "s:P:D:N:p:r:c:T:R")) != -1) {
		switch (c) {
		case 'R':
			o->routed = true;
			break;
		case 's':
			o->self_ip = optarg;
			break;
		case 'P':
			o->peer_ip = optarg;
			break;
		case 'D':
			o->dom0_ip = optarg;
			break;
		case 'N':
			o->none_ip = optarg;
			break;
		case 'r':
			o->ready = optarg;
			break;
		case 'c':
			o->chan_done = optarg;
			break;
		case 'p':
		case 'T':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end || !v ||
			    v > 65535) {
				fprintf(stderr, "xen_disc_probe: bad number "
					"\"%s\" (1..65535)\n", optarg);
				exit(2);
			}
			if (c == 'p')
				o->port = (uint16_t)v;
			else
				o->life_s = (unsigned int)v;
			break;
		default:
			usage();
		}
	}
}

int main(int argc, char **argv)
{
	struct dp *p = calloc(1, sizeof(*p));
	uint64_t begin;
	bool ready;
	int ret, fd;

	if (!p)
		return 1;
	opts_parse(&p->o, argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	p->start = mono_ns();
	p->lfd = p->cfd = -1;
	ret = setup(p);
	ready = ret == 0;
	if (ret == 0)
		ret = run_steps(p);
	if (ret < 0)
		xli("guest %c: discovery probe stopped early: %s", p->o.role,
		    rstr(ret));
	else
		xli("guest %c: discovery steps done after %.1f s; %u table "
		    "refreshes (2 xenstore reads each) took %.1f ms on "
		    "average, %.1f ms at most", p->o.role,
		    secs(mono_ns() - p->start), p->reads,
		    p->reads ? p->read_ns / 1e6 / p->reads : 0.0,
		    p->read_max / 1e6);
	/* guest-init.sh starts xen_chan_probe on this, whatever happened */
	fd = open(p->o.ready, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
	if (p->cfd >= 0)
		close(p->cfd);
	if (p->lfd >= 0)
		close(p->lfd);
	if (ready) {
		begin = watch_steady(p);
		if (p->o.role == 'b') {
			if (begin)
				watch_destroy(p, begin);
			else
				xlt(p, "disc_destroy", false, "not watched: "
				    "guest 1 was not listed when xl destroy "
				    "began, or it never began");
			watch_term(p);
		}
	}
	if (p->xs)
		xs_close(p->xs);
	free(p);
	return ret < 0 || nfail ? 1 : 0;
}
