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
		"       xenloopctl --help | --version\n"
		"  -r RUNDIR  the daemons' directory (default $%s, else %s)\n"
		"  status     the daemon, its peers, connections and counters\n"
		"  --json     print the daemon's JSON document as is\n",
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

/* STATUS_REQ, then the STATUS text into xl_text. */
static int xl_ask(int fd)
{
	struct xl_ctl_msg msg = { .type = XL_CTL_STATUS_REQ };
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
	return msg.status < 0 ? msg.status : 0;
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

static void xl_print_conns(const struct xl_jv *root)
{
	const struct xl_jv *conns = xl_json_get(root, "connections"), *c;
	const struct xl_jv *trunc = xl_json_get(root, "truncated");

	printf("connections:%s\n", conns && conns->child ? "" : " none");
	if (conns && conns->child)
		printf("  %-8s %-6s %-24s %-24s %-7s %12s %12s %12s %12s %s\n",
		       "PID", "ROLE", "LOCAL", "REMOTE", "STATE", "RING_TX",
		       "RING_RX", "TCP_TX", "TCP_RX", "REASON");
	for (c = conns ? conns->child : NULL; c; c = c->next)
		printf("  %-8s %-6s %-24s %-24s %-7s %12s %12s %12s %12s %s\n",
		       xl_get(c, "pid"), xl_get(c, "role"), xl_get(c, "local"),
		       xl_get(c, "remote"), xl_get(c, "state"),
		       xl_get(c, "ring_tx"), xl_get(c, "ring_rx"),
		       xl_get(c, "tcp_tx"), xl_get(c, "tcp_rx"),
		       xl_get(c, "reason"));
	if (trunc && trunc->type == XL_JSON_BOOL && trunc->b)
		printf("  (more connections than fit in one message)\n");
}

static void xl_print_totals(const struct xl_jv *root)
{
	const struct xl_jv *t = xl_json_get(root, "totals");
	const struct xl_jv *f = xl_json_get(root, "fallbacks"), *r;

	printf("ended connections: %s (ring tx %s rx %s, tcp tx %s rx %s)\n",
	       xl_get(t, "connections"), xl_get(t, "ring_tx"),
	       xl_get(t, "ring_rx"), xl_get(t, "tcp_tx"), xl_get(t, "tcp_rx"));
	printf("fallbacks:");
	for (r = f && f->type == XL_JSON_OBJ ? f->child : NULL; r; r = r->next)
		printf(" %s %s", r->key, xl_json_text(r, "?"));
	printf("\n");
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

static int xl_status(const char *rundir, bool json)
{
	char path[PATH_MAX] = "";
	int fd = -1, ret;

	ret = xl_sock_path(rundir, path, sizeof(path));
	if (ret == 0)
		ret = xl_connect(path, &fd);
	if (ret < 0) {
		fprintf(stderr, "xenloopctl: no xenloopd for this network "
			"namespace at %s: %s\n", path, strerror(-ret));
		return 1;
	}
	ret = xl_ask(fd);
	close(fd);
	if (ret < 0) {
		fprintf(stderr, "xenloopctl: no status from %s: %s\n", path,
			strerror(-ret));
		return 1;
	}
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
		{ NULL, 0, NULL, 0 }
	};
	const char *rundir = getenv(XENLOOP_RUNDIR);
	bool json = false;
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
	if (optind + 1 != argc || strcmp(argv[optind], "status")) {
		xl_usage(stderr);
		return 2;
	}
	return xl_status(rundir, json);
}
