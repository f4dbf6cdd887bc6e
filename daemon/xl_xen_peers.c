/* SPDX-License-Identifier: MIT */
/*
 * Peer tables of Xen discovery: built by dom0 from the toolstack's vif
 * nodes, parsed by the guest (xl_xen_peers.h has the grammar).
 *
 * Co-residency is decided by bridges (or, in routed mode, by dom0's own
 * word that it routes between its guests), not by what a guest says: a
 * guest can write anything under its own data/ subtree, but the backend
 * vif nodes (MAC, bridge, script, ip) belong to dom0's toolstack
 * (ARCHITECTURE invariant 4).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "xl_addr.h"
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

/* Does the hotplug script at path route (its base name says so)? */
static bool xl_script_routes(const char *path)
{
	const char *base;

	if (!path)
		return false;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return !strncmp(base, XL_XEN_ROUTED_SCRIPT,
			strlen(XL_XEN_ROUTED_SCRIPT));
}

/* text as an address a guest can be reached at (normalised). */
static int xl_host_addr_parse(const char *text, struct xl_ctl_addr *a)
{
	if (xl_addr_parse(text, a) < 0 || xl_addr_is_bogus(a) ||
	    xl_addr_is_loopback(a))
		return -EINVAL;
	return 0;
}

/* One entry of an "ip" node (len bytes at s) as a host address; a
 * prefix shorter than the whole address would be a guess. */
static int xl_vif_ip_scan(const char *s, size_t len, struct xl_ctl_addr *a)
{
	char buf[XL_XEN_IP_KEY_MAX + 8];
	char *slash;

	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (xl_host_addr_parse(buf, a) < 0)
		return -EINVAL;
	if (slash && strcmp(slash, a->family == AF_INET ? "32" : "128"))
		return -EINVAL;
	return 0;
}

static void xl_vif_ips(struct xl_xen_vif *vif, const char *ip)
{
	size_t len;

	while (ip && *ip && vif->nip < XL_XEN_VIF_IPS) {
		ip += strspn(ip, " ");
		len = strcspn(ip, " ");
		if (len && xl_vif_ip_scan(ip, len, &vif->ip[vif->nip]) == 0)
			vif->nip++;
		ip += len;
	}
}

int xl_xen_vif_from_nodes(struct xl_xen_vif *vif,
			  const struct xl_xen_vif_nodes *n)
{
	memset(vif, 0, sizeof(*vif));
	if (xl_mac_parse(n->mac, vif->mac) < 0)
		return -EINVAL;
	vif->online = n->online && !strcmp(n->online, "1");
	if (xl_script_routes(n->script)) {
		vif->routed = true;
		xl_vif_ips(vif, n->ip);
		return 0;
	}
	if (!n->bridge || !xl_bridge_valid(n->bridge))
		return -EINVAL;
	memcpy(vif->bridge, n->bridge, strlen(n->bridge) + 1);
	return 0;
}

static bool xl_domid_ok(uint32_t domid)
{
	return domid > 0 && domid <= XL_XEN_DOMID_MAX;
}

/* Does g have an online bridged vif on bridge? */
static bool xl_on_bridge(const struct xl_xen_guest *g, const char *bridge)
{
	uint32_t i;

	for (i = 0; i < g->nvif && i < XL_XEN_MAX_VIFS; i++)
		if (g->vif[i].online && !g->vif[i].routed &&
		    !strcmp(g->vif[i].bridge, bridge))
			return true;
	return false;
}

static bool xl_routed(const struct xl_xen_guest *g)
{
	uint32_t i;

	for (i = 0; i < g->nvif && i < XL_XEN_MAX_VIFS; i++)
		if (g->vif[i].online && g->vif[i].routed)
			return true;
	return false;
}

/* Does a willing guest other than p route to ip too? Then neither may
 * have it: which one the connection reaches is dom0's routing's guess. */
static bool xl_ip_contested(const struct xl_xen_guest *all, size_t n,
			    const struct xl_xen_guest *p,
			    const struct xl_ctl_addr *ip)
{
	size_t i;
	uint32_t v, k;

	for (i = 0; i < n; i++) {
		if (&all[i] == p || all[i].domid == p->domid ||
		    !all[i].willing)
			continue;
		for (v = 0; v < all[i].nvif && v < XL_XEN_MAX_VIFS; v++)
			for (k = 0; k < all[i].vif[v].nip; k++)
				if (all[i].vif[v].routed &&
				    xl_addr_same_ip(&all[i].vif[v].ip[k], ip))
					return true;
	}
	return false;
}

/* Append " key" (or "domid key" first) to buf at *used. */
static int xl_line_key(uint32_t domid, const char *key, char *buf,
		       size_t size, size_t *used)
{
	int n;

	if (*used == 0)
		n = snprintf(buf, size, "%u %s", domid, key);
	else
		n = snprintf(buf + *used, size - *used, " %s", key);
	if (n < 0 || (size_t)n >= size - *used)
		return -ENOSPC;
	*used += (size_t)n;
	return 0;
}

/* Append p's routed addresses to its line, if g may reach them. */
static int xl_peer_ips(const struct xl_xen_guest *g,
		       const struct xl_xen_guest *p,
		       const struct xl_xen_guest *all, size_t n, char *buf,
		       size_t size, size_t *used)
{
	char key[XL_XEN_IP_KEY_MAX + 1];
	uint32_t i, k, nip = 0;

	if (!xl_routed(g))
		return 0;
	for (i = 0; i < p->nvif && i < XL_XEN_MAX_VIFS; i++) {
		const struct xl_xen_vif *v = &p->vif[i];

		if (!v->online || !v->routed)
			continue;
		for (k = 0; k < v->nip && nip < XL_XEN_PEER_IPS; k++) {
			if (xl_ip_contested(all, n, p, &v->ip[k]))
				continue;
			memcpy(key, "ip=", 3);
			if (xl_addr_format(&v->ip[k], false, key + 3,
					   sizeof(key) - 3) < 0 ||
			    xl_line_key(p->domid, key, buf, size, used) < 0)
				return -ENOSPC;
			nip++;
		}
	}
	return 0;
}

/* Append p's line (its MACs on g's bridges, and with routed its routed
 * addresses) to buf; 0 if none. */
static int xl_peer_line(const struct xl_xen_guest *g,
			const struct xl_xen_guest *p,
			const struct xl_xen_guest *all, size_t n, bool routed,
			char *buf, size_t size)
{
	char mac[18];
	size_t used = 0;
	uint32_t i;

	for (i = 0; i < p->nvif && i < XL_XEN_MAX_VIFS; i++) {
		if (!p->vif[i].online || p->vif[i].routed ||
		    !xl_on_bridge(g, p->vif[i].bridge))
			continue;
		xl_mac_format(p->vif[i].mac, mac);
		if (xl_line_key(p->domid, mac, buf, size, &used) < 0)
			return -ENOSPC;
	}
	if (routed &&
	    xl_peer_ips(g, p, all, n, buf, size, &used) < 0)
		return -ENOSPC;
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
			const struct xl_xen_guest *all, size_t n, bool routed,
			char *buf, size_t size)
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
		len = xl_peer_line(g, p, all, n, routed, buf + used,
				   size - used);
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

static bool xl_ip_known(const struct xl_xen_peer *peers, size_t n,
			const struct xl_xen_peer *cur,
			const struct xl_ctl_addr *ip)
{
	uint32_t domid;

	if (xl_xen_table_lookup_ip(peers, n, ip, &domid) == 0)
		return true;
	for (uint32_t i = 0; i < cur->nip; i++)
		if (xl_addr_same_ip(&cur->ip[i], ip))
			return true;
	return false;
}

/* "ip=<address>" (len bytes at s), exactly as dom0 writes it, into p. */
static int xl_ip_key_parse(const char *s, size_t len,
			   const struct xl_xen_peer *done, size_t ndone,
			   struct xl_xen_peer *p)
{
	char text[XL_XEN_IP_KEY_MAX + 1], canon[XL_ADDR_STRLEN];
	struct xl_ctl_addr a;

	if (len <= 3 || len > XL_XEN_IP_KEY_MAX || memcmp(s, "ip=", 3) ||
	    p->nip == XL_XEN_PEER_IPS)
		return -EINVAL;
	memcpy(text, s + 3, len - 3);
	text[len - 3] = '\0';
	if (xl_host_addr_parse(text, &a) < 0 ||
	    xl_addr_format(&a, false, canon, sizeof(canon)) < 0 ||
	    strlen(canon) != len - 3 || strcmp(canon, text) ||
	    xl_ip_known(done, ndone, p, &a))
		return -EINVAL;
	p->ip[p->nip++] = a;
	return 0;
}

/* One key of a line (len bytes at s) into p. */
static int xl_key_parse(const char *s, size_t len,
			const struct xl_xen_peer *done, size_t ndone,
			struct xl_xen_peer *p)
{
	if (len > 3 && !memcmp(s, "ip=", 3))
		return xl_ip_key_parse(s, len, done, ndone, p);
	if (len != 17 || p->nmac == XL_XEN_MAX_VIFS ||
	    xl_mac_scan(s, 17, p->mac[p->nmac]) < 0 ||
	    xl_mac_known(done, ndone, p, p->mac[p->nmac]))
		return -EINVAL;
	p->nmac++;
	return 0;
}

/* One line (without its newline) into p. */
static int xl_line_parse(const char *s, size_t len, uint32_t self,
			 const struct xl_xen_peer *done, size_t ndone,
			 struct xl_xen_peer *p)
{
	const char *sp = memchr(s, ' ', len), *end;
	size_t pos, klen;

	memset(p, 0, sizeof(*p));
	if (!sp || xl_domid_scan(s, (size_t)(sp - s), &p->domid) < 0)
		return -EINVAL;
	if (p->domid == self ||
	    (ndone && p->domid <= done[ndone - 1].domid))
		return -EINVAL;
	/* at each turn s[pos] is a space: the first, or where a key ended */
	for (pos = (size_t)(sp - s) + 1; pos <= len; pos += klen + 1) {
		end = memchr(s + pos, ' ', len - pos);
		klen = end ? (size_t)(end - (s + pos)) : len - pos;
		if (xl_key_parse(s + pos, klen, done, ndone, p) < 0)
			return -EINVAL;
	}
	return p->nmac + p->nip ? 0 : -EINVAL;
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

int xl_xen_table_lookup_ip(const struct xl_xen_peer *peers, size_t n,
			   const struct xl_ctl_addr *ip, uint32_t *domid)
{
	size_t i;
	uint32_t j;

	for (i = 0; i < n; i++)
		for (j = 0; j < peers[i].nip && j < XL_XEN_PEER_IPS; j++)
			if (xl_addr_same_ip(&peers[i].ip[j], ip)) {
				*domid = peers[i].domid;
				return 0;
			}
	return -ENOENT;
}
