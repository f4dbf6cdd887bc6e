/* SPDX-License-Identifier: MIT */
/*
 * xenloopd, local mode: one per network namespace. It advertises the
 * namespace's addresses to the other daemons of the host, matches the
 * two ends of TCP connections between co-resident namespaces, and hands
 * each end its channel (docs/protocol.md). This file is main(): options,
 * configuration, the files in RUNDIR, signals and the poll() loop.
 *
 * How this works
 *
 * Everything runs in one thread around one poll(): the namespace socket,
 * the peers socket, every connection on them, our connection to every
 * present peer, a signalfd, and a timeout that is the sooner of the next
 * discovery tick (1 s) and the next match deadline. Handlers never block:
 * every socket is nonblocking, every read loop has a budget, and a
 * connection that cannot take a message is dropped rather than waited
 * for.
 *
 * Only one daemon may serve a namespace: it holds an flock on
 * RUNDIR/ns/<ino>.lock (and one on RUNDIR/peers/<name>.lock for its name)
 * for its whole life. The kernel drops the lock when the process dies, so
 * the socket file of a daemon that crashed is recognised as stale and
 * replaced; a live one makes the second daemon refuse to start.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#ifdef HAVE_XEN
#include "xl_xen_link.h"
#include "xl_xen_loop.h"
#endif
#include "xl_addr.h"
#include "xl_chan.h"
#include "xl_ctl_io.h"
#include "xl_daemon.h"

#ifndef XL_CONF_PATH
#define XL_CONF_PATH	"/etc/xenloop.conf"
#endif

#define XL_NPOLL	(4 + XL_MAX_CLIENTS + 3 * XL_MAX_PEERS + XL_MAX_PCONNS)

struct xl_opts {
	bool debug;
	int verbose;
	const char *conf;		/* NULL: the default, may be missing */
	const char *rundir;
	const char *name;
	bool discovery;			/* --discovery: dom0's role on Xen */
	bool routed;			/* --routed: pair routed guests too */
	bool xen;			/* --xen: a Xen guest's daemon */
};

static struct xl_daemon xl_d;

uint64_t xl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint32_t xl_daemon_id(struct xl_daemon *d)
{
	if (++d->next_id == 0)
		d->next_id = 1;
	return d->next_id;
}

/* ---- our own addresses ---- */

void xl_daemon_refresh_own(struct xl_daemon *d)
{
	struct xl_addrset now;
	int ret;

	ret = xl_disc_own_addrs(&now);
	if (ret < 0) {
		log_warnx("getifaddrs: %s", strerror(-ret));
		return;
	}
	if (d->own_written && xl_addrset_equal(&now, &d->own))
		return;
	d->own = now;
	ret = xl_disc_write_addrs(d->peer_addrs, &d->own);
	if (ret < 0) {
		log_warnx("cannot write %s: %s", d->peer_addrs, strerror(-ret));
		return;
	}
	d->own_written = true;
	log_info("advertising %u addresses in %s", d->own.n, d->peer_addrs);
}

bool xl_daemon_own_addr(struct xl_daemon *d, const struct xl_ctl_addr *a)
{
	if (xl_addrset_has(&d->own, a))
		return true;
	xl_daemon_refresh_own(d);
	return xl_addrset_has(&d->own, a);
}

/* ---- running out of descriptors ---- */

static void xl_spare_open(struct xl_daemon *d)
{
	if (d->spare_fd < 0)
		d->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

bool xl_daemon_shed(struct xl_daemon *d, int lfd, const char *path)
{
	int fd;

	/* once per episode: it lasts as long as someone holds the fds */
	if (!d->fd_starved)
		log_warnx("out of file descriptors: closing new connections "
			  "to %s at once until some are free", path);
	d->fd_starved = true;
	if (d->spare_fd < 0) {
		d->accept_paused = true;
		return false;
	}
	close(d->spare_fd);
	d->spare_fd = -1;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	xl_spare_open(d);
	if (d->spare_fd < 0)
		d->accept_paused = true;
	return fd >= 0;
}

/* ---- options ---- */

static void xl_usage(FILE *f)
{
	fprintf(f,
		"usage: xenloopd [-d] [-f CONFIG] [-r RUNDIR] [-n NAME] [-v]...\n"
		"       xenloopd --xen [-d] [-f CONFIG] [-r RUNDIR] [-v]...   "
		"(Xen guest)\n"
		"       xenloopd --discovery [--routed] [-d] [-f CONFIG] "
		"[-v]...   (Xen dom0)\n"
		"       xenloopd --help | --version\n"
		"  -d         stay in the foreground, log to stderr\n"
		"  -f CONFIG  configuration file (default %s)\n"
		"  -r RUNDIR  directory of the sockets (default /run/xenloop)\n"
		"  -n NAME    name among the peers (default ns-<netns inode>)\n"
		"  -v         log debug messages too\n"
		"  --xen      serve a Xen guest: advertise it to dom0's discovery,\n"
		"             link with the co-resident guests' daemons, and give\n"
		"             connections grant-shared rings (Xen builds only)\n"
		"  --discovery  run dom0's discovery of willing Xen guests\n"
		"             instead (built with Xen support only)\n"
		"  --routed   with --discovery: dom0 routes freely between its\n"
		"             guests on routed vifs (vif-route), so pair them by\n"
		"             the addresses of their vifs' \"ip\" nodes (also\n"
		"             \"routed = yes\" in CONFIG)\n",
		XL_CONF_PATH);
}

static void xl_parse_opts(int argc, char **argv, struct xl_opts *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "discovery", no_argument, NULL, 'D' },
		{ "xen", no_argument, NULL, 'X' },
		{ "routed", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 }
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "df:r:n:vhV", longopts,
				 NULL)) != -1) {
		switch (ch) {
		case 'd':
			o->debug = true;
			break;
		case 'f':
			o->conf = optarg;
			break;
		case 'r':
			o->rundir = optarg;
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'v':
			o->verbose++;
			break;
		case 'h':
			xl_usage(stdout);
			exit(0);
		case 'V':
			printf("xenloopd %s\n", PACKAGE_VERSION);
			exit(0);
		case 'D':
			o->discovery = true;
			break;
		case 'X':
			o->xen = true;
			break;
		case 'R':
			o->routed = true;
			break;
		default:
			xl_usage(stderr);
			exit(1);
		}
	}
	if (optind != argc) {
		xl_usage(stderr);
		exit(1);
	}
	if (o->routed && !o->discovery)
		fatalx("--routed is an option of --discovery (dom0's role)");
}

/* File, then command line over it. Exits 1 on anything wrong. */
static void xl_configure(struct xl_daemon *d, const struct xl_opts *o)
{
	char err[PATH_MAX + 128];
	int ret;

	xl_conf_defaults(&d->conf);
	ret = xl_conf_load(&d->conf, o->conf ? o->conf : XL_CONF_PATH, err,
			   sizeof(err));
	if (ret < 0 && !(ret == -ENOENT && !o->conf))
		fatalx("%s", err);
	if (o->rundir) {
		if (!xl_conf_rundir_valid(o->rundir))
			fatalx("-r %s: an absolute path of at most 30 bytes "
			       "is needed", o->rundir);
		snprintf(d->conf.rundir, sizeof(d->conf.rundir), "%s",
			 o->rundir);
	}
	if (o->name) {
		if (!xl_conf_name_valid(o->name))
			fatalx("-n %s: 1 to 64 of A-Z a-z 0-9 . _ -, not "
			       "starting with '.'", o->name);
		snprintf(d->conf.name, sizeof(d->conf.name), "%s", o->name);
	}
}

/* ---- files in RUNDIR ---- */

/* snprintf that refuses to truncate (a cut path names another file). */
static void xl_path(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void xl_path(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		fatalx("path too long: %s...", buf);
}

static void xl_paths(struct xl_daemon *d)
{
	const char *run = d->conf.rundir;
	struct stat st;

	if (stat("/proc/self/ns/net", &st) < 0)
		fatal("cannot identify our network namespace: /proc/self/ns/net");
	d->ns_ino = (unsigned long)st.st_ino;
	if (d->conf.name[0])
		xl_path(d->name, sizeof(d->name), "%s", d->conf.name);
	else
		xl_path(d->name, sizeof(d->name), "ns-%lu", d->ns_ino);
	xl_path(d->ns_sock, sizeof(d->ns_sock), "%s/ns/%lu.sock", run,
		d->ns_ino);
	xl_path(d->ns_lock, sizeof(d->ns_lock), "%s/ns/%lu.lock", run,
		d->ns_ino);
	xl_path(d->peers_dir, sizeof(d->peers_dir), "%s/peers", run);
	xl_path(d->peer_sock, sizeof(d->peer_sock), "%s/%s.sock",
		d->peers_dir, d->name);
	xl_path(d->peer_addrs, sizeof(d->peer_addrs), "%s/%s.addrs",
		d->peers_dir, d->name);
	xl_path(d->peer_lock, sizeof(d->peer_lock), "%s/%s.lock",
		d->peers_dir, d->name);
}

static void xl_mkdir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		fatal("mkdir %s", path);
	if (lstat(path, &st) < 0)
		fatal("%s", path);
	if (!S_ISDIR(st.st_mode))
		fatalx("%s: not a directory", path);
}

/* The pid a lock file names, for the message about who holds it. */
static long xl_lock_owner(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtol(buf, NULL, 10);
}

/* Take the lock at path for good. Returns the fd, or -EWOULDBLOCK with
 * *owner set when a live daemon holds it. */
static int xl_lock(const char *path, long *owner)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0)
		fatal("open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	if (errno != EWOULDBLOCK)
		fatal("flock %s", path);
	*owner = xl_lock_owner(fd);
	close(fd);
	return -EWOULDBLOCK;
}

static void xl_lock_mark(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
		log_warn("cannot record our pid in a lock file");
}

static void xl_take_locks(struct xl_daemon *d)
{
	long owner = -1;

	d->ns_lock_fd = xl_lock(d->ns_lock, &owner);
	if (d->ns_lock_fd < 0)
		fatalx("another xenloopd (pid %ld) already serves this network "
		       "namespace (%s)", owner, d->ns_sock);
	d->peer_lock_fd = xl_lock(d->peer_lock, &owner);
	if (d->peer_lock_fd < 0)
		fatalx("the name %s is taken by another xenloopd (pid %ld); "
		       "choose another with -n", d->name, owner);
}

/* Bind a listening socket at path, replacing a stale socket file but
 * never a live one. */
static int xl_listen(const char *path, mode_t mode)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (xl_disc_connect(path, &fd) == 0)
		fatalx("%s is served by another process; not taking it over",
		       path);
	if (strlen(path) >= sizeof(sun.sun_path))
		fatalx("%s: path too long for a socket", path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (unlink(path) < 0 && errno != ENOENT)
		fatal("unlink %s", path);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		fatal("socket");
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		fatal("bind %s", path);
	if (chmod(path, mode) < 0)
		fatal("chmod %s", path);
	if (listen(fd, 128) < 0)
		fatal("listen %s", path);
	return fd;
}

static int xl_signals(void)
{
	sigset_t set;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		fatal("sigprocmask");
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		fatal("signalfd");
	return fd;
}

/* Six fds per waiting channel side: let us have plenty. */
static void xl_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < 65536 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void xl_release_fds(struct xl_match_fds *fds, void *arg)
{
	unsigned int i;

	for (i = 0; i < fds->n; i++)
		if (fds->fd[i] >= 0)
			close(fds->fd[i]);
	fds->n = 0;
}

static void xl_match_init(struct xl_daemon *d)
{
	struct xl_match_limits lim = {
		.max_regs = XL_MAX_REGS,
		.max_waiting = XL_MAX_WAITING,
		.max_offers = XL_MAX_OFFERS,
		.timeout_ms = d->conf.match_timeout_ms,
		.reply_slack_ms = XL_REPLY_SLACK_MS,
	};

	if (getrandom(&lim.seed, sizeof(lim.seed), GRND_NONBLOCK) < 0)
		lim.seed = (uint32_t)xl_now_ms() ^ (uint32_t)getpid();
	if (xl_match_new(&d->match, &lim, xl_release_fds, NULL) < 0)
		fatalx("out of memory");
}

static void xl_setup(struct xl_daemon *d)
{
	char ns_dir[PATH_MAX];

	xl_paths(d);
	xl_raise_nofile();
	d->spare_fd = -1;
	xl_spare_open(d);
	xl_path(ns_dir, sizeof(ns_dir), "%s/ns", d->conf.rundir);
	xl_mkdir(d->conf.rundir);
	xl_mkdir(ns_dir);
	xl_mkdir(d->peers_dir);
	xl_take_locks(d);
	d->ns_fd = xl_listen(d->ns_sock, 0666);
	d->peer_fd = xl_listen(d->peer_sock, 0600);
	d->sig_fd = xl_signals();
	xl_match_init(d);
}

/* ---- the loop ---- */

enum xl_poll_kind {
	XL_POLL_SIGNAL,
	XL_POLL_NS,
	XL_POLL_PEERS,
	XL_POLL_CLIENT,
	XL_POLL_PEER,
	XL_POLL_PCONN,
	XL_POLL_XLINK,
};

struct xl_pollset {
	struct pollfd pfd[XL_NPOLL];
	enum xl_poll_kind kind[XL_NPOLL];
	void *obj[XL_NPOLL];
	nfds_t n;
	bool now;		/* something is readable already */
};

static struct xl_pollset xl_ps;

static void xl_poll_add(struct xl_pollset *ps, int fd,
			enum xl_poll_kind kind, void *obj)
{
	if (ps->n >= XL_NPOLL)
		return;		/* the limits keep us below; never overrun */
	ps->pfd[ps->n] = (struct pollfd){ .fd = fd, .events = POLLIN };
	ps->kind[ps->n] = kind;
	ps->obj[ps->n] = obj;
	ps->n++;
}

static void xl_poll_build(struct xl_daemon *d, struct xl_pollset *ps)
{
	struct xl_client *c;
	struct xl_pconn *pc;
	struct xl_peer *p;

	ps->n = 0;
	ps->now = false;
	xl_poll_add(ps, d->sig_fd, XL_POLL_SIGNAL, NULL);
	/* without a spare fd to shed with, a full backlog would keep the
	 * listeners readable: leave them until the next tick */
	if (!d->accept_paused) {
		xl_poll_add(ps, d->ns_fd, XL_POLL_NS, NULL);
		xl_poll_add(ps, d->peer_fd, XL_POLL_PEERS, NULL);
	}
	for (c = d->clients; c; c = c->next)
		xl_poll_add(ps, c->fd, XL_POLL_CLIENT, c);
	for (p = d->peers; p; p = p->next)
		if (p->fd >= 0)
			xl_poll_add(ps, p->fd, XL_POLL_PEER, p);
	for (pc = d->pconns; pc; pc = pc->next)
		xl_poll_add(ps, pc->fd, XL_POLL_PCONN, pc);
#ifdef HAVE_XEN
	if (d->xen) {
		int k = xl_xlink_pollfds(d, ps->pfd + ps->n, ps->obj + ps->n,
					 (int)(XL_NPOLL - ps->n), &ps->now);

		while (k-- > 0)
			ps->kind[ps->n++] = XL_POLL_XLINK;
	}
#endif
}

static void xl_on_signal(struct xl_daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sig_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			log_info("SIGHUP: looking at addresses and peers now");
			d->next_tick = 0;
		} else {
			log_info("signal %u: shutting down", si.ssi_signo);
			d->quit = true;
		}
	}
}

static void xl_dispatch(struct xl_daemon *d, struct xl_pollset *ps)
{
	nfds_t i;

#ifdef HAVE_XEN
	/* a resume wakes us: before any client's request can touch a link */
	if (d->xen)
		xl_xlink_guard(d);
#endif
	for (i = 0; i < ps->n; i++) {
		if (!ps->pfd[i].revents)
			continue;
		switch (ps->kind[i]) {
		case XL_POLL_SIGNAL:
			xl_on_signal(d);
			break;
		case XL_POLL_NS:
			xl_client_accept(d);
			break;
		case XL_POLL_PEERS:
			xl_pconn_accept(d);
			break;
		case XL_POLL_CLIENT:
			xl_client_input(d, ps->obj[i]);
			break;
		case XL_POLL_PEER:
			xl_peer_input(d, ps->obj[i]);
			break;
		case XL_POLL_PCONN:
			xl_pconn_input(d, ps->obj[i]);
			break;
		case XL_POLL_XLINK:
#ifdef HAVE_XEN
			xl_xlink_input(d, ps->obj[i], &ps->pfd[i]);
#endif
			break;
		}
	}
}

/* Whatever ran out of time: NOCHAN to waiting registrations, NO_MATCH to
 * the daemons whose offers nobody claimed. */
static void xl_expire(struct xl_daemon *d, uint64_t now)
{
	struct xl_offer *offer;
	struct xl_reg *reg;

	while (xl_match_expire(d->match, now, &reg, &offer) == 1) {
		if (reg) {
			xl_client_refuse(d, reg, reg->parked ?
					 XL_REASON_SHARED :
					 reg->role == XL_CTL_ROLE_SERVER ?
					 XL_REASON_NO_MATCH :
					 XL_REASON_PEER_DOWN);
			continue;
		}
		xl_peer_reply(d, offer->from, offer->id, XL_REASON_NO_MATCH);
		xl_match_offer_free(d->match, offer);
	}
}

static int xl_poll_timeout(struct xl_daemon *d, uint64_t now)
{
	uint64_t next = xl_match_next_deadline(d->match);

	if (d->next_tick < next)
		next = d->next_tick;
	return next <= now ? 0 : (int)(next - now);
}

static void xl_loop(struct xl_daemon *d)
{
	uint64_t now;
	int n;

	while (!d->quit) {
		now = xl_now_ms();
		if (now >= d->next_tick) {
			xl_daemon_refresh_own(d);
#ifdef HAVE_XEN
			if (d->xen)
				xl_xlink_tick(d);
			else
#endif
				xl_peer_refresh(d);
			xl_spare_open(d);
			d->accept_paused = false;
			d->next_tick = now + XL_TICK_MS;
		}
		xl_expire(d, now);
		xl_client_reap(d);
		xl_peer_reap(d);
		xl_poll_build(d, &xl_ps);
		n = poll(xl_ps.pfd, xl_ps.n,
			 xl_ps.now ? 0 : xl_poll_timeout(d, now));
		if (n < 0 && errno != EINTR)
			fatal("poll");
		if (n > 0)
			xl_dispatch(d, &xl_ps);
	}
}

/* ---- start and end ---- */

static void xl_unlink(const char *path)
{
	if (path[0] && unlink(path) < 0 && errno != ENOENT)
		log_warn("unlink %s", path);
}

static void xl_shutdown(struct xl_daemon *d)
{
	/* the files first, so nobody connects to a daemon that is leaving */
	xl_unlink(d->ns_sock);
	xl_unlink(d->peer_sock);
	xl_unlink(d->peer_addrs);
	close(d->ns_fd);
	close(d->peer_fd);
	xl_client_close_all(d);
	xl_peer_close_all(d);
#ifdef HAVE_XEN
	xl_xlink_stop(d);
#endif
	xl_match_free(d->match);
	close(d->sig_fd);
	if (d->spare_fd >= 0)
		close(d->spare_fd);
	/* the locks last: until here a second daemon must wait */
	xl_unlink(d->peer_lock);
	xl_unlink(d->ns_lock);
	close(d->peer_lock_fd);
	close(d->ns_lock_fd);
}

/* dom0's role: no sockets, no namespace, only xenstore; of the
 * configuration, only "routed" (the unit of this role takes it from
 * there). */
static int xl_discovery(const struct xl_opts *o, const struct xl_conf *c)
{
#ifdef HAVE_XEN
	if (!o->debug) {
		log_init(0, LOG_DAEMON);
		if (daemon(0, 0) < 0)
			fatal("daemon");
	}
	return xl_xen_discovery_main(0, o->routed || c->routed);
#else
	(void)o;
	(void)c;
	fatalx("--discovery: this xenloopd was built without Xen support "
	       "(configure --with-xen)");
#endif
}

int main(int argc, char **argv)
{
	struct xl_opts o = { 0 };
	struct xl_daemon *d = &xl_d;

	log_init(1, LOG_DAEMON);
	xl_parse_opts(argc, argv, &o);
	log_setverbose(o.verbose);
	xl_configure(d, &o);
	if (o.discovery)
		return xl_discovery(&o, &d->conf);
	xl_setup(d);
	if (o.xen) {
#ifdef HAVE_XEN
		xl_xlink_start(d);
#else
		fatalx("--xen: this xenloopd was built without Xen support "
		       "(configure --with-xen)");
#endif
	}
	if (!o.debug) {
		log_init(0, LOG_DAEMON);
		if (daemon(0, 0) < 0)
			fatal("daemon");
	}
	xl_lock_mark(d->ns_lock_fd);
	xl_lock_mark(d->peer_lock_fd);
	log_info("serving %s as %s (rundir %s, ring order %u, match timeout "
		 "%u ms%s)", d->ns_sock, d->name, d->conf.rundir,
		 d->conf.ring_order, d->conf.match_timeout_ms,
		 d->conf.enable ? "" : ", disabled");
	xl_loop(d);
	xl_shutdown(d);
	log_info("stopped");
	return 0;
}
