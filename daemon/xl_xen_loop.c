/* SPDX-License-Identifier: MIT */
/*
 * xenloopd --discovery: dom0's discovery role (docs/xen.md §1) as a loop
 * of passes (xl_xen_dom0.c) over libxenstore, once a second and at once
 * when a domain is introduced or released, until SIGTERM or SIGINT
 * (SIGHUP: a pass at once).
 *
 * Watches only hurry a pass up: the pass itself re-reads everything, so
 * a lost or spurious watch event costs at most a second.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>
#include <xenstore.h>

#include "log.h"
#include "xl_xen_dom0.h"
#include "xl_xen_loop.h"

#define XL_DISCOVERY_PERIOD_MS	1000

static uint64_t xl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int xl_discovery_signals(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);	/* as the local daemon: not a reason to die */
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

/* Drain pending watch events; true if any arrived. */
static bool xl_discovery_drain(struct xs_handle *xs)
{
	char **ev;
	bool any = false;

	while ((ev = xs_check_watch(xs)) != NULL) {
		free(ev);
		any = true;
	}
	return any;
}

/* SIGTERM or SIGINT end the loop; SIGHUP only asks for a pass now. */
static bool xl_discovery_stop(int sig)
{
	struct signalfd_siginfo si;

	while (read(sig, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo != SIGHUP) {
			log_info("discovery: signal %u: shutting down",
				 si.ssi_signo);
			return true;
		}
	}
	return false;
}

static void xl_discovery_pass(struct xl_dom0 *d, int *last)
{
	int n = xl_dom0_pass(d, xl_mono_ms());

	if (n < 0 && *last >= 0)
		log_warnx("discovery: cannot list /local/domain: %s",
			  strerror(-n));
	else if (n >= 0 && n != *last)
		log_info("discovery: %d willing guest%s", n, n == 1 ? "" : "s");
	*last = n;
}

int xl_xen_discovery_main(uint32_t stale_ms, bool routed)
{
	struct pollfd pfd[2];
	struct xl_dom0 *d;
	struct xs_handle *xs;
	uint64_t next;
	int sig, last = 0, ret = 0;

	d = calloc(1, sizeof(*d));
	if (!d)
		fatalx("out of memory");
	xs = xs_open(0);
	if (!xs)
		fatal("discovery: cannot open xenstore");
	if (!xs_watch(xs, "@introduceDomain", "intro") ||
	    !xs_watch(xs, "@releaseDomain", "release"))
		fatal("discovery: cannot watch domains");
	sig = xl_discovery_signals();
	if (sig < 0)
		fatalx("discovery: signals: %s", strerror(-sig));
	xl_dom0_init(d, &xl_xs_xen, xs, stale_ms, routed);
	log_info("discovery: serving dom0's tables under %s (routed guests: "
		 "%s)", XL_XS_TABLES, routed ? "paired by address" :
		 "never paired");
	next = 0;
	for (;;) {
		uint64_t now = xl_mono_ms();
		int timeout = next > now ? (int)(next - now) : 0;

		pfd[0] = (struct pollfd){ .fd = sig, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = xs_fileno(xs), .events = POLLIN };
		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			fatal("discovery: poll");
		if (pfd[0].revents && xl_discovery_stop(sig))
			break;
		if ((pfd[1].revents && xl_discovery_drain(xs)) ||
		    pfd[0].revents || xl_mono_ms() >= next) {
			xl_discovery_pass(d, &last);
			next = xl_mono_ms() + XL_DISCOVERY_PERIOD_MS;
		}
	}
	xl_dom0_withdraw(d);
	xs_close(xs);
	close(sig);
	free(d);
	return ret;
}
