/* SPDX-License-Identifier: MIT */
/*
 * Parsing xenloop.conf (see xl_conf.h). Numbers go through strtoul with
 * a range check; booleans are yes/no (true/false, on/off, 1/0).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xl_conf.h"

/* Longest RUNDIR: RUNDIR/peers/<64-char name>.sock must fit in sun_path
 * (108 bytes). */
#define XL_RUNDIR_MAX	30

void xl_conf_defaults(struct xl_conf *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->rundir, sizeof(c->rundir), "%s", "/run/xenloop");
	c->ring_order = XL_RING_ORDER_DEFAULT;
	c->match_timeout_ms = XL_TIMEOUT_MS_DEFAULT;
	c->enable = true;
	c->xen_kmod = true;
}

bool xl_conf_name_valid(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > XL_NAME_MAX || name[0] == '.')
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
			return false;
	return true;
}

bool xl_conf_rundir_valid(const char *dir)
{
	size_t n = strlen(dir);

	return dir[0] == '/' && n <= XL_RUNDIR_MAX && !strchr(dir, '\n');
}

static int xl_conf_uint(const char *v, unsigned long min, unsigned long max,
			uint32_t *out)
{
	unsigned long n;
	char *end;

	if (!isdigit((unsigned char)v[0]))
		return -EINVAL;
	/* an overflow gives ULONG_MAX, which is out of range anyway */
	n = strtoul(v, &end, 10);
	if (*end || n < min || n > max)
		return -EINVAL;
	*out = (uint32_t)n;
	return 0;
}

static int xl_conf_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcasecmp(v, yes[i]) || !strcasecmp(v, no[i])) {
			*out = !strcasecmp(v, yes[i]);
			return 0;
		}
	}
	return -EINVAL;
}

/* One key; the message says what a good value looks like. */
static int xl_conf_set(struct xl_conf *c, const char *k, const char *v,
		       const char **msg)
{
	if (!strcmp(k, "rundir")) {
		*msg = "rundir: an absolute path of at most 30 bytes";
		if (!xl_conf_rundir_valid(v))
			return -EINVAL;
		snprintf(c->rundir, sizeof(c->rundir), "%s", v);
		return 0;
	}
	if (!strcmp(k, "name")) {
		*msg = "name: 1 to 64 of A-Z a-z 0-9 . _ -, not starting with '.'";
		if (!xl_conf_name_valid(v))
			return -EINVAL;
		snprintf(c->name, sizeof(c->name), "%s", v);
		return 0;
	}
	if (!strcmp(k, "ring_order")) {
		*msg = "ring_order: an integer from 12 to 24";
		return xl_conf_uint(v, XL_RING_ORDER_MIN, XL_RING_ORDER_MAX,
				    &c->ring_order);
	}
	if (!strcmp(k, "match_timeout_ms")) {
		*msg = "match_timeout_ms: an integer from 100 to 600000";
		return xl_conf_uint(v, XL_TIMEOUT_MS_MIN, XL_TIMEOUT_MS_MAX,
				    &c->match_timeout_ms);
	}
	if (!strcmp(k, "enable")) {
		*msg = "enable: yes or no";
		return xl_conf_bool(v, &c->enable);
	}
	if (!strcmp(k, "routed")) {
		*msg = "routed: yes or no";
		return xl_conf_bool(v, &c->routed);
	}
	if (!strcmp(k, "xen_kmod")) {
		*msg = "xen_kmod: yes or no";
		return xl_conf_bool(v, &c->xen_kmod);
	}
	*msg = "unknown key (rundir, name, ring_order, match_timeout_ms, "
	       "enable, routed, xen_kmod)";
	return -EINVAL;
}

static char *xl_conf_trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* Split one line into key and value; -EINVAL with a message if it is
 * neither blank, a comment nor "key = value". 1: a setting, 0: nothing. */
static int xl_conf_split(char *line, char **k, char **v, const char **msg)
{
	char *eq, *hash;

	hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	line = xl_conf_trim(line);
	if (!*line)
		return 0;
	eq = strchr(line, '=');
	*msg = "expected \"key = value\"";
	if (!eq)
		return -EINVAL;
	*eq = '\0';
	*k = xl_conf_trim(line);
	*v = xl_conf_trim(eq + 1);
	if (!**k || !**v)
		return -EINVAL;
	return 1;
}

static int xl_conf_line(struct xl_conf *c, char *line, const char **msg)
{
	char *k, *v;
	int ret;

	ret = xl_conf_split(line, &k, &v, msg);
	if (ret <= 0)
		return ret;
	return xl_conf_set(c, k, v, msg);
}

int xl_conf_load(struct xl_conf *c, const char *path, char *err,
		 size_t errlen)
{
	const char *msg = NULL;
	char line[1024];
	unsigned int lineno = 0;
	FILE *f;
	int ret = 0;

	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			msg = "line too long";
			ret = -EINVAL;
			break;
		}
		ret = xl_conf_line(c, line, &msg);
		if (ret < 0)
			break;
	}
	if (ret < 0)
		snprintf(err, errlen, "%s:%u: %s", path, lineno, msg);
	else if (ferror(f)) {
		ret = -EIO;
		snprintf(err, errlen, "%s: read error", path);
	}
	fclose(f);
	return ret < 0 ? ret : 0;
}
