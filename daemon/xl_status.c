/* SPDX-License-Identifier: MIT */
/*
 * The STATUS document (docs/protocol.md §6): who we are, which peers are
 * present, every live registration, the totals of the ended ones and the
 * fallbacks by reason, as one JSON object.
 *
 * It must fit in one control message (XL_CTL_MAX_TEXT). The summary
 * parts always do; connections are listed while room is left for them,
 * and "truncated": true says when some were left out.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "xl_addr.h"
#include "xl_daemon.h"
#include "xl_xen_link.h"

/* Room kept back for what follows the connections. */
#define XL_STATUS_TAIL	1024

struct xl_json {
	char *buf;
	size_t len, off;
	bool full;
};

static void xl_json_put(struct xl_json *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void xl_json_put(struct xl_json *j, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (j->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(j->buf + j->off, j->len - j->off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= j->len - j->off)
		j->full = true;
	else
		j->off += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s, or 0. */
static size_t xl_utf8_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* A JSON string: quotes, backslashes and control characters escaped,
 * bytes that are not UTF-8 replaced by U+FFFD. */
static void xl_json_str(struct xl_json *j, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n;

	xl_json_put(j, "\"");
	while (*s) {
		if (*s == '"' || *s == '\\') {
			xl_json_put(j, "\\%c", *s++);
		} else if (*s < 0x20 || *s == 0x7f) {
			xl_json_put(j, "\\u%04x", *s++);
		} else if (*s < 0x80) {
			xl_json_put(j, "%c", *s++);
		} else if ((n = xl_utf8_len(s))) {
			xl_json_put(j, "%.*s", (int)n, (const char *)s);
			s += n;
		} else {
			xl_json_put(j, "\\ufffd");
			s++;
		}
	}
	xl_json_put(j, "\"");
}

static void xl_json_addr(struct xl_json *j, const struct xl_ctl_addr *a,
			 bool with_port)
{
	char buf[XL_ADDR_STRLEN];

	if (xl_addr_format(a, with_port, buf, sizeof(buf)) < 0)
		snprintf(buf, sizeof(buf), "?");
	xl_json_str(j, buf);
}

/* --xen with /dev/xenloop: what the connections' channels of the module
 * hold here (grants, mappings, event channels) and its budget left. */
static void xl_status_kmod(struct xl_json *j, struct xl_daemon *d)
{
	struct xl_xlink_kmod st;

	if (xl_xlink_kmod_stat(d, &st) < 0)
		return;
	xl_json_put(j, ", \"xen_kmod\": {\"channels\": %u, \"grants\": %u, "
		    "\"mapped\": %u, \"event_channels\": %u, "
		    "\"pages_left\": %u}", st.channels, st.grants, st.mapped,
		    st.evtchns, st.budget);
}

static void xl_status_daemon(struct xl_json *j, struct xl_daemon *d)
{

	xl_json_put(j, "{\"daemon\": {\"name\": ");
	xl_json_str(j, d->name);
	xl_json_put(j, ", \"pid\": %d, \"rundir\": ", (int)getpid());
	xl_json_str(j, d->conf.rundir);
	xl_json_put(j, ", \"netns\": %lu, \"enabled\": %s, \"ring_order\": %u, "
		    "\"match_timeout_ms\": %u, \"mode\": \"%s\"", d->ns_ino,
		    d->conf.enable ? "true" : "false", d->conf.ring_order,
		    d->conf.match_timeout_ms, d->xen ? "xen" : "local");
	xl_status_kmod(j, d);
	xl_json_put(j, "},\n");
}

struct xl_status_xp {
	struct xl_json *j;
	const char **sep;
};

/* A peer guest (--xen): its domid, its control link and its routed
 * addresses. */
static void xl_status_xpeer(void *arg, uint32_t domid, const char *state,
			    const struct xl_ctl_addr *addrs, uint32_t n)
{
	struct xl_status_xp *xp = arg;
	uint32_t i;

	xl_json_put(xp->j, "%s{\"name\": \"domain %u\", \"domid\": %u, "
		    "\"link\": \"%s\", \"addrs\": [", *xp->sep, domid, domid,
		    state);
	for (i = 0; i < n; i++) {
		xl_json_put(xp->j, i ? ", " : "");
		xl_json_addr(xp->j, &addrs[i], false);
	}
	xl_json_put(xp->j, "]}");
	*xp->sep = ", ";
}

static void xl_status_peers(struct xl_json *j, struct xl_daemon *d)
{
	const char *sep = "";
	struct xl_status_xp xp = { .j = j, .sep = &sep };
	struct xl_peer *p;
	uint32_t i;

	xl_json_put(j, " \"peers\": [");
	for (p = d->peers; p; p = p->next) {
		if (p->fd < 0 || p->dead)
			continue;
		xl_json_put(j, "%s{\"name\": ", sep);
		xl_json_str(j, p->name);
		xl_json_put(j, ", \"addrs\": [");
		for (i = 0; i < p->addrs.n; i++) {
			xl_json_put(j, i ? ", " : "");
			xl_json_addr(j, &p->addrs.a[i], false);
		}
		xl_json_put(j, "]}");
		sep = ", ";
	}
	xl_xlink_foreach(d, xl_status_xpeer, &xp);
	xl_json_put(j, "],\n");
}

/* ", \"switches\": N, \"switched\": {cause: n, ...}" of one connection
 * (counts of 32 bits) or of the totals (64 bits). */
static void xl_status_switches(struct xl_json *j, const uint32_t *sw32,
			       const uint64_t *sw64)
{
	unsigned long long n, sum = 0;
	const char *sep = "";
	uint32_t i;

	/* switches off a ring: the causes; coming back is counted apart */
	for (i = 0; i < XL_SWITCH_REATTACH; i++)
		sum += sw32 ? sw32[i] : sw64[i];
	xl_json_put(j, ", \"switches\": %llu, \"switched\": {", sum);
	for (i = 0; i < XL_SWITCH_MAX; i++) {
		n = sw32 ? sw32[i] : sw64[i];
		if (!xl_switch_name(i) || (sw32 && !n))
			continue;
		xl_json_put(j, "%s\"%s\": %llu", sep, xl_switch_name(i), n);
		sep = ", ";
	}
	n = sw32 ? sw32[XL_SWITCH_REATTACH] : sw64[XL_SWITCH_REATTACH];
	xl_json_put(j, "}, \"reattaches\": %llu", n);
}

static void xl_status_conn(struct xl_json *j, const struct xl_reg *r)
{
	xl_json_put(j, "{\"pid\": %u, \"cookie\": %llu, \"role\": \"%s\", "
		    "\"local\": ", r->pid, (unsigned long long)r->cookie,
		    r->role == XL_CTL_ROLE_CLIENT ? "client" : "server");
	xl_json_addr(j, &r->local, true);
	xl_json_put(j, ", \"remote\": ");
	xl_json_addr(j, &r->remote, true);
	xl_json_put(j, ", \"state\": \"%s\", \"ring_tx\": %llu, "
		    "\"ring_rx\": %llu, \"tcp_tx\": %llu, \"tcp_rx\": %llu, "
		    "\"tcp_before_ring\": %llu, \"reason\": \"%s\"",
		    xl_reg_state_name(r->state),
		    (unsigned long long)r->counts.ring_tx,
		    (unsigned long long)r->counts.ring_rx,
		    (unsigned long long)r->counts.tcp_tx,
		    (unsigned long long)r->counts.tcp_rx,
		    (unsigned long long)r->tcp_before,
		    xl_reason_name(r->reason));
	xl_status_switches(j, r->switches, NULL);
	xl_json_put(j, "}");
}

/* Returns false if some did not fit. */
static bool xl_status_conns(struct xl_json *j, struct xl_daemon *d)
{
	const struct xl_reg *r = NULL;
	size_t mark;
	bool first = true;

	xl_json_put(j, " \"connections\": [");
	while ((r = xl_match_reg_next(d->match, r))) {
		mark = j->off;
		xl_json_put(j, first ? "\n  " : ",\n  ");
		xl_status_conn(j, r);
		if (j->full || j->len - j->off < XL_STATUS_TAIL) {
			j->off = mark;
			j->full = false;
			xl_json_put(j, "],\n");
			return false;
		}
		first = false;
	}
	xl_json_put(j, "],\n");
	return true;
}

static void xl_status_totals(struct xl_json *j, struct xl_daemon *d,
			     bool complete)
{
	const struct xl_match_totals *t = xl_match_totals(d->match);
	uint32_t i;

	uint64_t sw[XL_SWITCH_MAX];
	const struct xl_reg *r = NULL;

	xl_json_put(j, " \"totals\": {\"connections\": %llu, \"ring_tx\": %llu, "
		    "\"ring_rx\": %llu, \"tcp_tx\": %llu, \"tcp_rx\": %llu, "
		    "\"tcp_before_ring\": %llu",
		    (unsigned long long)t->connections,
		    (unsigned long long)t->counts.ring_tx,
		    (unsigned long long)t->counts.ring_rx,
		    (unsigned long long)t->counts.tcp_tx,
		    (unsigned long long)t->counts.tcp_rx,
		    (unsigned long long)t->tcp_before);
	/* switches count the live connections too: they happen while
	 * connections live, and an operator looks while they do */
	memcpy(sw, t->switches, sizeof(sw));
	while ((r = xl_match_reg_next(d->match, r)))
		for (i = 0; i < XL_SWITCH_MAX; i++)
			sw[i] += r->switches[i];
	xl_status_switches(j, NULL, sw);
	xl_json_put(j, "},\n");
	xl_json_put(j, " \"fallbacks\": {");
	for (i = XL_REASON_NONE + 1; i < XL_REASON_MAX; i++)
		xl_json_put(j, "%s\"%s\": %llu", i > 1 ? ", " : "",
			    xl_reason_name(i),
			    (unsigned long long)t->fallbacks[i]);
	xl_json_put(j, "},\n \"truncated\": %s}\n",
		    complete ? "false" : "true");
}

int xl_status_json(struct xl_daemon *d, char *buf, size_t len)
{
	struct xl_json j = { .buf = buf, .len = len };
	bool complete;

	xl_status_daemon(&j, d);
	xl_status_peers(&j, d);
	complete = xl_status_conns(&j, d);
	xl_status_totals(&j, d, complete);
	return j.full ? -ENOSPC : (int)j.off;
}
