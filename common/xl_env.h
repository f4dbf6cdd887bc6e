/* SPDX-License-Identifier: MIT */
/*
 * The preload library's configuration: every XENLOOP_* variable it reads,
 * read once at start-up into an immutable struct xl_config.
 *
 * A bad value draws one warning and the default is used. In a process
 * whose real and effective ids differ (set-uid or set-gid), nothing from
 * the environment is believed: the defaults are used.
 */
#ifndef XL_ENV_H
#define XL_ENV_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

/* The variables (documented in xenloop(7), ENVIRONMENT). */
#define XENLOOP_DISABLE		"XENLOOP_DISABLE"	/* 1: pass all to libc */
#define XENLOOP_RUNDIR		"XENLOOP_RUNDIR"	/* daemon sockets */
#define XENLOOP_LOG_LEVEL	"XENLOOP_LOG_LEVEL"	/* 0..4 or a name */
#define XENLOOP_LOG_FILE	"XENLOOP_LOG_FILE"	/* default: stderr */
#define XENLOOP_SPIN_NS		"XENLOOP_SPIN_NS"	/* spin before sleep */
#define XENLOOP_BACKEND		"XENLOOP_BACKEND"	/* local or off */
#define XENLOOP_REGISTER_DELAY_US "XENLOOP_REGISTER_DELAY_US" /* see below */
/* Experimental: a connection that left its ring asks for a new one once
 * both its directions have been on TCP this long (ms; 0: never, the
 * default). docs/protocol.md §5.3. */
#define XENLOOP_REATTACH_MS	"XENLOOP_REATTACH_MS"
#define XL_REATTACH_MS_MAX	3600000u
/* Tests only: append the time each switch off a ring took (ns, one per
 * line) to this file. Not for production: it costs a write per switch. */
#define XENLOOP_TEST_SWITCH_LOG	"XENLOOP_TEST_SWITCH_LOG"

/* A connection is registered with the daemon at its first data call once
 * it is this old: one that ends sooner costs the daemon nothing. */
#define XL_REGISTER_DELAY_US_DEFAULT	2000u
#define XL_REGISTER_DELAY_US_MAX	10000000u

#define XL_RUNDIR_DEFAULT	"/run/xenloop"

enum xl_env_backend {
	XL_ENV_BACKEND_LOCAL = 0,
	XL_ENV_BACKEND_OFF,
};

struct xl_config {
	bool disabled;			/* XENLOOP_DISABLE=1 or BACKEND=off */
	enum xl_env_backend backend;
	int log_level;			/* enum xl_log_level */
	uint32_t spin_ns;		/* ceiling of the adaptive spin */
	uint64_t register_delay_ns;	/* XENLOOP_REGISTER_DELAY_US */
	uint32_t reattach_ms;		/* XENLOOP_REATTACH_MS; 0: off */
	char rundir[PATH_MAX];
	char log_file[PATH_MAX];	/* "" for stderr */
	char test_switch_log[PATH_MAX];	/* "" for none */
};

/*
 * Fill cfg from the environment (see above) and start logging as it says.
 * Never fails: what cannot be used is warned about and defaulted.
 */
void xl_env_load(struct xl_config *cfg);

#endif /* XL_ENV_H */
