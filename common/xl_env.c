/* SPDX-License-Identifier: MIT */
/*
 * Reading XENLOOP_* into struct xl_config. Parsing is strict (strtoul with
 * a range check, whole string): a value that is not exactly right is
 * reported and ignored rather than half-used.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "xl_chan.h"
#include "xl_env.h"
#include "xl_log.h"

/* Warnings found before logging could start are kept and logged after. */
struct xl_env_warn {
	const char *name;
	const char *value;
};

#define XL_ENV_MAX_WARN	6

struct xl_env_ctx {
	struct xl_env_warn warn[XL_ENV_MAX_WARN];
	int nwarn;
	bool trusted;
};

static const char *xl_env_get(const struct xl_env_ctx *ctx, const char *name)
{
	const char *v;

	if (!ctx->trusted)
		return NULL;
	v = secure_getenv(name);
	return v && *v ? v : NULL;
}

static void xl_env_bad(struct xl_env_ctx *ctx, const char *name,
		       const char *value)
{
	if (ctx->nwarn < XL_ENV_MAX_WARN)
		ctx->warn[ctx->nwarn++] = (struct xl_env_warn){ name, value };
}

/* A whole decimal number in [min, max]; 0 or -EINVAL. */
static int xl_env_ulong(const char *s, unsigned long min, unsigned long max,
			unsigned long *out)
{
	unsigned long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int xl_env_level_name(const char *s)
{
	static const char *const names[] = { "none", "err", "warn", "info",
					     "debug" };
	unsigned long v;
	unsigned int i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcasecmp(s, names[i]))
			return (int)i;
	}
	if (!strcasecmp(s, "error"))
		return XL_LOG_ERR;
	if (!strcasecmp(s, "warning"))
		return XL_LOG_WARN;
	if (xl_env_ulong(s, XL_LOG_NONE, XL_LOG_DBG, &v) == 0)
		return (int)v;
	return -EINVAL;
}

static void xl_env_path(struct xl_env_ctx *ctx, const char *name,
			char *dst, size_t size, const char *def)
{
	const char *v = xl_env_get(ctx, name);

	if (v && (v[0] != '/' || strlen(v) >= size)) {
		xl_env_bad(ctx, name, v);
		v = NULL;
	}
	strcpy(dst, v ? v : def);	/* both fit: checked above, def short */
}

static void xl_env_logging(struct xl_env_ctx *ctx, struct xl_config *cfg)
{
	const char *v = xl_env_get(ctx, XENLOOP_LOG_LEVEL);
	int level = XL_LOG_NONE;

	if (v) {
		level = xl_env_level_name(v);
		if (level < 0) {
			xl_env_bad(ctx, XENLOOP_LOG_LEVEL, v);
			/* asked for logging but said it wrong: warnings only */
			level = XL_LOG_WARN;
		}
	}
	cfg->log_level = level;
	xl_env_path(ctx, XENLOOP_LOG_FILE, cfg->log_file,
		    sizeof(cfg->log_file), "");
	xl_env_path(ctx, XENLOOP_TEST_SWITCH_LOG, cfg->test_switch_log,
		    sizeof(cfg->test_switch_log), "");
}

static void xl_env_switches(struct xl_env_ctx *ctx, struct xl_config *cfg)
{
	const char *v = xl_env_get(ctx, XENLOOP_DISABLE);
	unsigned long n;

	if (v) {
		if (xl_env_ulong(v, 0, 1, &n) == 0)
			cfg->disabled = n == 1;
		else
			xl_env_bad(ctx, XENLOOP_DISABLE, v);
	}
	v = xl_env_get(ctx, XENLOOP_BACKEND);
	if (v) {
		if (!strcmp(v, "off"))
			cfg->backend = XL_ENV_BACKEND_OFF;
		else if (strcmp(v, "local"))
			xl_env_bad(ctx, XENLOOP_BACKEND, v);
	}
	if (cfg->backend == XL_ENV_BACKEND_OFF)
		cfg->disabled = true;
	v = xl_env_get(ctx, XENLOOP_SPIN_NS);
	if (v) {
		if (xl_env_ulong(v, 0, XL_CHAN_SPIN_NS_MAX, &n) == 0)
			cfg->spin_ns = (uint32_t)n;
		else
			xl_env_bad(ctx, XENLOOP_SPIN_NS, v);
	}
	v = xl_env_get(ctx, XENLOOP_REGISTER_DELAY_US);
	if (v) {
		if (xl_env_ulong(v, 0, XL_REGISTER_DELAY_US_MAX, &n) == 0)
			cfg->register_delay_ns = (uint64_t)n * 1000;
		else
			xl_env_bad(ctx, XENLOOP_REGISTER_DELAY_US, v);
	}
	v = xl_env_get(ctx, XENLOOP_REATTACH_MS);
	if (v) {
		if (xl_env_ulong(v, 0, XL_REATTACH_MS_MAX, &n) == 0)
			cfg->reattach_ms = (uint32_t)n;
		else
			xl_env_bad(ctx, XENLOOP_REATTACH_MS, v);
	}
}

void xl_env_load(struct xl_config *cfg)
{
	struct xl_env_ctx ctx = { .nwarn = 0 };
	int i, ret;

	memset(cfg, 0, sizeof(*cfg));
	cfg->backend = XL_ENV_BACKEND_LOCAL;
	cfg->spin_ns = XL_CHAN_SPIN_NS_DEFAULT;
	cfg->register_delay_ns = XL_REGISTER_DELAY_US_DEFAULT * 1000ull;
	ctx.trusted = getuid() == geteuid() && getgid() == getegid();
	xl_env_logging(&ctx, cfg);
	ret = xl_log_init(cfg->log_level, cfg->log_file);
	if (ret < 0)
		XL_WARN("cannot open %s=%s (%s), logging to stderr",
			XENLOOP_LOG_FILE, cfg->log_file, strerror(-ret));
	xl_env_switches(&ctx, cfg);
	xl_env_path(&ctx, XENLOOP_RUNDIR, cfg->rundir, sizeof(cfg->rundir),
		    XL_RUNDIR_DEFAULT);
	for (i = 0; i < ctx.nwarn; i++)
		XL_WARN("ignoring %s=\"%s\": bad value, using the default",
			ctx.warn[i].name, ctx.warn[i].value);
}
