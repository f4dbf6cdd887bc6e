/* SPDX-License-Identifier: MIT */
/*
 * xenloopctl: ask the xenloopd of our network namespace how it is doing.
 * It connects to RUNDIR/ns/<netns inode>.sock, sends STATUS_REQ and
 * prints the STATUS document as it came (--json) or as a table.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "xl_ctl_io.h"
#include "xl_env.h"
#include "xl_json.h"

/* How long the daemon gets to answer. */
#define XL_CTL_TIMEOUT_MS	5000

static char xl_text[XL_CTL_MAX_TEXT + 1];

static void xl_usage(FILE *f)
{
	fprintf(f,
		"usage: xenloopctl [-r RUNDIR] status [--json]\n"
		"       xenloopctl [-r RUNDIR] drop [PID:]COOKIE | --all\n"
		"       xenloopctl --help | --version\n"
		"  -r RUNDIR  the daemons' directory (default $%s, else %s)\n"
		"  status     the daemon, its peers, connections and counters\n"
		"  --json     print the daemon's JSON document as is\n"
		"  drop       take connections off their rings onto TCP\n"
		"  --all      every connection on a ring\n",
		XENLOOP_RUNDIR, XL_RUNDIR_DEFAULT);
}

static int xl_sock_path(const char *rundir, char *buf, size_t len)
{
	struct stat st;
	int n;

	if (stat("/proc/self/ns/net", &st) < 0)
		return -errno;
	n = snprintf(buf, len, "%s/ns/%lu.sock", rundir,
		     (unsigned long)st.st_ino);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int xl_connect(const char *path, int *out)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = -1, ret;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

/* msg (STATUS_REQ, DROP), then the STATUS answer (its text into xl_text).
 * Returns the answer's status (>= 0) or -errno. */
static int xl_ask(int fd, struct xl_ctl_msg msg)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int fds[XL_CTL_MAX_FDS];
	int ret;

	ret = xl_ctl_send(fd, &msg, NULL, NULL, 0);
	if (ret < 0)
		return ret;
	ret = poll(&pfd, 1, XL_CTL_TIMEOUT_MS);
	if (ret < 0)
		return -errno;
	if (ret == 0)
		return -ETIMEDOUT;
	ret = xl_ctl_recv(fd, &msg, fds, xl_text, sizeof(xl_text), 0);
	if (ret < 0)
		return ret;
	xl_ctl_close_fds(fds);
	if (msg.type != XL_CTL_STATUS)
		return -EPROTO;
	return msg.status;
}

/* ---- the table ---- */

static const char *xl_get(const struct xl_jv *v, const char *key)
{
	return xl_json_text(xl_json_get(v, key), "-");
}

static void xl_print_daemon(const struct xl_jv *root)
{
	const struct xl_jv *d = xl_json_get(root, "daemon");
	const struct xl_jv *en = xl_json_get(d, "enabled");

	printf("xenloopd %s (pid %s), rundir %s%s\n", xl_get(d, "name"),
	       xl_get(d, "pid"), xl_get(d, "rundir"),
	       en && en->type == XL_JSON_BOOL && !en->b ? ", DISABLED" : "");
}

static void xl_print_peers(const struct xl_jv *root)
{
	const struct xl_jv *peers = xl_json_get(root, "peers"), *p, *a;

	printf("peers:%s\n", peers && peers->child ? "" : " none");
	for (p = peers ? peers->child : NULL; p; p = p->next) {
		printf("  %-24s", xl_get(p, "name"));
		if (xl_json_get(p, "link"))
			printf(" link %s", xl_get(p, "link"));
		a = xl_json_get(p, "addrs");
		for (a = a ? a->child : NULL; a; a = a->next)
			printf(" %s", xl_json_text(a, "?"));
		printf("\n");
	}
}

/* "drop 2,peer 1", or "-", padded to width. */
static void xl_print_causes(const struct xl_jv *sw, int width)
{
	const struct xl_jv *r;
	char buf[128] = "";
	size_t off = 0;
	int n;

	for (r = sw && sw->type == XL_JSON_OBJ ? sw->child : NULL; r;
	     r = r->next) {
		n = snprintf(buf + off, sizeof(buf) - off, "%s%s %s",
			     off ? "," : "", r->key, xl_json_text(r, "?"));
		if (n < 0 || (size_t)n >= sizeof(buf) - off)
			break;
		off += (size_t)n;
	}
	printf("%-*s", width, off ? buf : "-");
}

static void xl_print_conns(const struct xl_jv *root)
{
	const struct xl_jv *conns = xl_json_get(root, "connections"), *c;
	const struct xl_jv *trunc = xl_json_get(root, "truncated");
	const char *ra;

	printf("connections:%s\n", conns && conns->child ? "" : " none");
	if (conns && conns->child)
		printf("  %-8s %-6s %-24s %-24s %-7s %12s %12s %12s %12s "
		       "%-9s %4s %-14s %s\n",
		       "PID", "ROLE", "LOCAL", "REMOTE", "STATE", "RING_TX",
		       "RING_RX", "TCP_TX", "TCP_RX", "REASON", "SW", "WHY",
		       "CONN");
	for (c = conns ? conns->child : NULL; c; c = c->next) {
		printf("  %-8s %-6s %-24s %-24s %-7s %12s %12s %12s %12s "
		       "%-9s %4s ",
		       xl_get(c, "pid"), xl_get(c, "role"), xl_get(c, "local"),
		       xl_get(c, "remote"), xl_get(c, "state"),
		       xl_get(c, "ring_tx"), xl_get(c, "ring_rx"),
		       xl_get(c, "tcp_tx"), xl_get(c, "tcp_rx"),
		       xl_get(c, "reason"), xl_get(c, "switches"));
		xl_print_causes(xl_json_get(c, "switched"), 14);
		printf(" %s:%s", xl_get(c, "pid"), xl_get(c, "cookie"));
		ra = xl_get(c, "reattaches");
		if (strcmp(ra, "0") && strcmp(ra, "-"))
			printf(" (back onto a new ring: %s)", ra);
		printf("\n");
	}
	if (trunc && trunc->type == XL_JSON_BOOL && trunc->b)
		printf("  (more connections than fit in one message)\n");
}

static void xl_print_totals(const struct xl_jv *root)
{
	const struct xl_jv *t = xl_json_get(root, "totals");
	const struct xl_jv *f = xl_json_get(root, "fallbacks"), *r;

	printf("ended connections: %s (ring tx %s rx %s, tcp tx %s rx %s, "
	       "of which before their rings %s)\n",
	       xl_get(t, "connections"), xl_get(t, "ring_tx"),
	       xl_get(t, "ring_rx"), xl_get(t, "tcp_tx"), xl_get(t, "tcp_rx"),
	       xl_get(t, "tcp_before_ring"));
	printf("fallbacks:");
	for (r = f && f->type == XL_JSON_OBJ ? f->child : NULL; r; r = r->next)
		printf(" %s %s", r->key, xl_json_text(r, "?"));
	printf("\nswitches off a ring: %s (", xl_get(t, "switches"));
	xl_print_causes(xl_json_get(t, "switched"), 0);
	printf("); back onto a new ring: %s\n", xl_get(t, "reattaches"));
}

static int xl_print_table(void)
{
	struct xl_jv *root;
	int ret;

	ret = xl_json_parse(xl_text, &root);
	if (ret < 0 || root->type != XL_JSON_OBJ) {
		if (ret == 0)
			xl_json_free(root);
		fprintf(stderr, "xenloopctl: the daemon's answer is not a "
			"JSON object\n");
		return 1;
	}
	xl_print_daemon(root);
	xl_print_peers(root);
	xl_print_conns(root);
	xl_print_totals(root);
	xl_json_free(root);
	return 0;
}

/* ---- main ---- */

/* Send msg to our namespace's daemon; its answer's status or -errno
 * (said on stderr). */
static int xl_talk(const char *rundir, struct xl_ctl_msg msg)
{
	char path[PATH_MAX] = "";
	int fd = -1, ret;

	ret = xl_sock_path(rundir, path, sizeof(path));
	if (ret == 0)
		ret = xl_connect(path, &fd);
	if (ret < 0) {
		fprintf(stderr, "xenloopctl: no xenloopd for this network "
			"namespace at %s: %s\n", path, strerror(-ret));
		return ret;
	}
	ret = xl_ask(fd, msg);
	close(fd);
	if (ret < 0 && (msg.type != XL_CTL_DROP || ret != -ENOENT))
		fprintf(stderr, "xenloopctl: no answer from %s: %s\n", path,
			strerror(-ret));
	return ret;
}

/* drop [PID:]COOKIE or --all (conn NULL). */
static int xl_drop(const char *rundir, const char *conn)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_DROP };
	unsigned long long pid = 0, cookie = 0;
	char *end;
	int ret;

	if (conn) {
		cookie = strtoull(conn, &end, 10);
		if (*end == ':') {
			pid = cookie;
			cookie = strtoull(end + 1, &end, 10);
		}
		if (*end || !cookie || pid > UINT32_MAX || conn[0] == '-') {
			fprintf(stderr, "xenloopctl: not a connection: %s "
				"(PID:COOKIE or COOKIE, as status lists "
				"them)\n", conn);
			return 2;
		}
	}
	msg.cookie = cookie;
	msg.pid = (uint32_t)pid;
	ret = xl_talk(rundir, msg);
	if (ret == -ENOENT) {
		fprintf(stderr, "xenloopctl: no such connection on a ring\n");
		return 1;
	}
	if (ret < 0)
		return 1;
	printf("%d connection%s taken off %s ring%s\n", ret,
	       ret == 1 ? "" : "s", ret == 1 ? "its" : "their",
	       ret == 1 ? "" : "s");
	return 0;
}

static int xl_status(const char *rundir, bool json)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_STATUS_REQ };

	if (xl_talk(rundir, msg) < 0)
		return 1;
	if (json) {
		fputs(xl_text, stdout);
		return 0;
	}
	return xl_print_table();
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	const char *rundir = getenv(XENLOOP_RUNDIR);
	bool json = false, all = false;
	int ch;

	if (!rundir || !*rundir)
		rundir = XL_RUNDIR_DEFAULT;
	while ((ch = getopt_long(argc, argv, "r:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			rundir = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'a':
			all = true;
			break;
		case 'h':
			xl_usage(stdout);
			return 0;
		case 'V':
			printf("xenloopctl %s\n", PACKAGE_VERSION);
			return 0;
		default:
			xl_usage(stderr);
			return 2;
		}
	}
	if (optind < argc && !strcmp(argv[optind], "drop") && !json &&
	    optind + 1 + !all == argc)
		return xl_drop(rundir, all ? NULL : argv[optind + 1]);
	if (optind + 1 != argc || strcmp(argv[optind], "status") || all) {
		xl_usage(stderr);
		return 2;
	}
	return xl_status(rundir, json);
}
