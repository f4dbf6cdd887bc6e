/* SPDX-License-Identifier: MIT */
/*
 * Peer tables of Xen discovery: built by dom0 from the toolstack's vif
 * nodes, parsed by the guest (xl_xen_peers.h has the grammar).
 *
 * Co-residency is decided by bridges, not by what a guest says: a guest
 * can write anything under its own data/ subtree, but the backend vif
 * nodes (MAC, bridge) belong to dom0's toolstack (ARCHITECTURE
 * invariant 4).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "xl_xen_peers.h"

static int xl_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The MAC at the start of s (17 characters; what follows is the
 * caller's). */
static int xl_mac_scan(const char *s, size_t len, uint8_t mac[6])
{
	int i, hi, lo;

	if (len < 17)
		return -EINVAL;
	for (i = 0; i < 6; i++) {
		hi = xl_hex(s[3 * i]);
		lo = xl_hex(s[3 * i + 1]);
		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int xl_mac_parse(const char *s, uint8_t mac[6])
{
	if (!s || strlen(s) != 17)
		return -EINVAL;
	return xl_mac_scan(s, 17, mac);
}

void xl_mac_format(const uint8_t mac[6], char buf[18])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
}

static bool xl_bridge_valid(const char *b)
{
	size_t len = strlen(b), i;

	if (!len || len >= XL_XEN_BRIDGE_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (b[i] <= ' ' || b[i] == '/' || b[i] > '~')
			return false;
	return true;
}

int xl_xen_vif_from_nodes(struct xl_xen_vif *vif, const char *mac,
			  const char *bridge, const char *online)
{
	memset(vif, 0, sizeof(*vif));
	if (xl_mac_parse(mac, vif->mac) < 0)
		return -EINVAL;
	/* routed vifs have no bridge: they never share one (docs/xen.md) */
	if (!bridge || !xl_bridge_valid(bridge))
		return -EINVAL;
	memcpy(vif->bridge, bridge, strlen(bridge) + 1);
	vif->online = online && !strcmp(online, "1");
	return 0;
}

static bool xl_domid_ok(uint32_t domid)
{
	return domid > 0 && domid <= XL_XEN_DOMID_MAX;
}

/* Does g have an online vif on bridge? */
static bool xl_on_bridge(const struct xl_xen_guest *g, const char *bridge)
{
	uint32_t i;

	for (i = 0; i < g->nvif && i < XL_XEN_MAX_VIFS; i++)
		if (g->vif[i].online && !strcmp(g->vif[i].bridge, bridge))
			return true;
	return false;
}

/* Append p's line (its MACs on g's bridges) to buf; 0 if none. */
static int xl_peer_line(const struct xl_xen_guest *g,
			const struct xl_xen_guest *p, char *buf, size_t size)
{
	char mac[18];
	size_t used = 0;
	uint32_t i;
	int n;

	for (i = 0; i < p->nvif && i < XL_XEN_MAX_VIFS; i++) {
		if (!p->vif[i].online || !xl_on_bridge(g, p->vif[i].bridge))
			continue;
		xl_mac_format(p->vif[i].mac, mac);
		if (used == 0)
			n = snprintf(buf, size, "%u %s", p->domid, mac);
		else
			n = snprintf(buf + used, size - used, " %s", mac);
		if (n < 0 || (size_t)n >= size - used)
			return -ENOSPC;
		used += (size_t)n;
	}
	if (!used)
		return 0;
	if (used + 2 > size)
		return -ENOSPC;
	buf[used++] = '\n';
	buf[used] = '\0';
	return (int)used;
}

/* The willing guest after domid prev in all[n] (lowest first), or NULL:
 * the table comes out sorted whatever order the caller found them in. */
static const struct xl_xen_guest *xl_next_guest(const struct xl_xen_guest *all,
						size_t n, uint32_t prev)
{
	const struct xl_xen_guest *best = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!all[i].willing || !xl_domid_ok(all[i].domid) ||
		    all[i].domid <= prev)
			continue;
		if (!best || all[i].domid < best->domid)
			best = &all[i];
	}
	return best;
}

int xl_xen_table_format(const struct xl_xen_guest *g,
			const struct xl_xen_guest *all, size_t n, char *buf,
			size_t size)
{
	const struct xl_xen_guest *p;
	size_t used = 0;
	int len;

	if (!g || !xl_domid_ok(g->domid) || !buf || !size)
		return -EINVAL;
	buf[0] = '\0';
	for (p = xl_next_guest(all, n, 0); p;
	     p = xl_next_guest(all, n, p->domid)) {
		if (p->domid == g->domid)
			continue;
		len = xl_peer_line(g, p, buf + used, size - used);
		if (len < 0) {
			buf[used] = '\0';
			return len;
		}
		used += (size_t)len;
	}
	return (int)used;
}

/* A decimal domid at s[0..len), no sign, no leading zero. */
static int xl_domid_scan(const char *s, size_t len, uint32_t *domid)
{
	uint32_t v = 0;
	size_t i;

	if (!len || len > 5 || (s[0] == '0'))
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (!xl_domid_ok(v))
		return -EINVAL;
	*domid = v;
	return 0;
}

static bool xl_mac_known(const struct xl_xen_peer *peers, size_t n,
			 const struct xl_xen_peer *cur, const uint8_t mac[6])
{
	uint32_t domid;

	if (xl_xen_table_lookup(peers, n, mac, &domid) == 0)
		return true;
	for (uint32_t i = 0; i < cur->nmac; i++)
		if (!memcmp(cur->mac[i], mac, 6))
			return true;
	return false;
}

/* One line (without its newline) into p. */
static int xl_line_parse(const char *s, size_t len, uint32_t self,
			 const struct xl_xen_peer *done, size_t ndone,
			 struct xl_xen_peer *p)
{
	const char *sp = memchr(s, ' ', len);
	size_t pos;

	memset(p, 0, sizeof(*p));
	if (!sp || xl_domid_scan(s, (size_t)(sp - s), &p->domid) < 0)
		return -EINVAL;
	if (p->domid == self ||
	    (ndone && p->domid <= done[ndone - 1].domid))
		return -EINVAL;
	pos = (size_t)(sp - s);
	while (pos < len) {
		if (s[pos] != ' ' || p->nmac == XL_XEN_MAX_VIFS ||
		    len - pos - 1 < 17 ||
		    (len - pos - 1 > 17 && s[pos + 18] != ' '))
			return -EINVAL;
		if (xl_mac_scan(s + pos + 1, 17, p->mac[p->nmac]) < 0 ||
		    xl_mac_known(done, ndone, p, p->mac[p->nmac]))
			return -EINVAL;
		p->nmac++;
		pos += 18;
	}
	return p->nmac ? 0 : -EINVAL;
}

int xl_xen_table_parse(const char *text, size_t len, uint32_t self,
		       struct xl_xen_peer *out, size_t max)
{
	const char *nl;
	size_t n = 0, pos = 0, linelen;

	if (!text && len)
		return -EINVAL;
	while (pos < len) {
		nl = memchr(text + pos, '\n', len - pos);
		if (!nl)
			return -EINVAL;	/* cut short: believe none of it */
		linelen = (size_t)(nl - (text + pos));
		if (linelen > XL_XEN_TABLE_LINE_MAX)
			return -EINVAL;
		if (n == max)
			return -ENOSPC;
		if (xl_line_parse(text + pos, linelen, self, out, n,
				  &out[n]) < 0)
			return -EINVAL;
		n++;
		pos += linelen + 1;
	}
	return (int)n;
}

int xl_xen_table_lookup(const struct xl_xen_peer *peers, size_t n,
			const uint8_t mac[6], uint32_t *domid)
{
	size_t i;
	uint32_t j;

	for (i = 0; i < n; i++)
		for (j = 0; j < peers[i].nmac && j < XL_XEN_MAX_VIFS; j++)
			if (!memcmp(peers[i].mac[j], mac, 6)) {
				*domid = peers[i].domid;
				return 0;
			}
	return -ENOENT;
}
