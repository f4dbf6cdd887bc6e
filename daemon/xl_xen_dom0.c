/* SPDX-License-Identifier: MIT */
/*
 * dom0 discovery passes (xl_xen_dom0.h). A guest can write anything
 * under its own subtree, so the only thing read from there is whether it
 * is willing (version, and an alive counter that moves); who it is on the
 * network comes from the backend vif nodes, which belong to the
 * toolstack, and the tables go to dom0's own subtree.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xl_xen_dom0.h"

void xl_dom0_init(struct xl_dom0 *d, const struct xl_xs_ops *ops, void *h,
		  uint32_t stale_ms, bool routed)
{
	memset(d, 0, sizeof(*d));
	d->ops = ops;
	d->h = h;
	d->stale_ms = stale_ms ? stale_ms : 3000;
	d->routed = routed;
}

/* A directory entry that is a domid we may list (not dom0, in range). */
static int xl_domid_name(const char *s, uint32_t *domid)
{
	char *end;
	unsigned long v;

	if (s[0] < '1' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > XL_XEN_DOMID_MAX)
		return -EINVAL;
	*domid = (uint32_t)v;
	return 0;
}

/* Read path into buf (NUL-terminated); -ENOENT, -E2BIG, -errno. */
static int xl_dom0_read(struct xl_dom0 *d, const char *path, char *buf,
			size_t size)
{
	unsigned int len;
	char *val;
	int ret = d->ops->read(d->h, path, &val, &len);

	if (ret < 0)
		return ret;
	if (len >= size || strlen(val) != len) {
		free(val);
		return -E2BIG;	/* or an embedded NUL: not ours */
	}
	memcpy(buf, val, (size_t)len + 1);
	free(val);
	return 0;
}

static struct xl_dom0_guest *xl_dom0_find(struct xl_dom0 *d, uint32_t domid,
					  bool add)
{
	unsigned int i;

	for (i = 0; i < d->nguest; i++)
		if (d->guest[i].domid == domid)
			return &d->guest[i];
	if (!add || d->nguest == XL_DOM0_MAX_GUESTS)
		return NULL;
	memset(&d->guest[d->nguest], 0, sizeof(d->guest[0]));
	d->guest[d->nguest].domid = domid;
	return &d->guest[d->nguest++];
}

/* Willing: advertises our version and its alive counter moved lately. */
static void xl_dom0_check_advert(struct xl_dom0 *d, struct xl_dom0_guest *g,
				 uint64_t now)
{
	char path[96], val[XL_DOM0_ALIVE_MAX];
	bool first = !g->alive[0];

	g->willing = false;
	snprintf(path, sizeof(path), "/local/domain/%u/" XL_XS_ADVERT
		 "/version", g->domid);
	if (xl_dom0_read(d, path, val, sizeof(val)) < 0 ||
	    strcmp(val, XL_XS_VERSION))
		return;
	snprintf(path, sizeof(path), "/local/domain/%u/" XL_XS_ADVERT
		 "/alive", g->domid);
	if (xl_dom0_read(d, path, val, sizeof(val)) < 0 || !val[0])
		return;
	if (first || strcmp(val, g->alive)) {
		memcpy(g->alive, val, sizeof(val));
		g->alive_ms = now;
	}
	g->willing = now - g->alive_ms <= d->stale_ms;
}

/* Read node of vif dir/dev into buf; NULL if missing or unreadable. */
static const char *xl_dom0_vif_node(struct xl_dom0 *d, const char *dir,
				    const char *dev, const char *node,
				    char *buf, size_t size)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s/%s", dir, dev, node);
	return xl_dom0_read(d, path, buf, size) < 0 ? NULL : buf;
}

/* The guest's vifs from the toolstack's backend nodes. */
static void xl_dom0_read_vifs(struct xl_dom0 *d, struct xl_dom0_guest *g)
{
	char mac[24], bridge[XL_XEN_BRIDGE_MAX + 1], online[4], script[256];
	char ip[256], dir[64], **devs = NULL;
	struct xl_xen_guest *info = &g->info;
	struct xl_xen_vif_nodes nodes;
	unsigned int i, n = 0;

	memset(info, 0, sizeof(*info));
	info->domid = g->domid;
	info->willing = g->willing;
	snprintf(dir, sizeof(dir), XL_XS_VIFS "/%u", g->domid);
	if (d->ops->directory(d->h, dir, &devs, &n) < 0)
		return;
	for (i = 0; i < n && info->nvif < XL_XEN_MAX_VIFS; i++) {
		if (strspn(devs[i], "0123456789") != strlen(devs[i]))
			continue;
		nodes = (struct xl_xen_vif_nodes){
			.mac = xl_dom0_vif_node(d, dir, devs[i], "mac", mac,
						sizeof(mac)),
			.bridge = xl_dom0_vif_node(d, dir, devs[i], "bridge",
						   bridge, sizeof(bridge)),
			.online = xl_dom0_vif_node(d, dir, devs[i], "online",
						   online, sizeof(online)),
			.script = xl_dom0_vif_node(d, dir, devs[i], "script",
						   script, sizeof(script)),
			.ip = xl_dom0_vif_node(d, dir, devs[i], "ip", ip,
					       sizeof(ip)),
		};
		if (xl_xen_vif_from_nodes(&info->vif[info->nvif], &nodes) == 0)
			info->nvif++;
	}
	free(devs);
}

/* Mark who is in /local/domain now and refresh what we know of them. */
static int xl_dom0_scan(struct xl_dom0 *d, uint64_t now)
{
	struct xl_dom0_guest *g;
	char **names = NULL;
	unsigned int i, n = 0;
	uint32_t domid;
	int ret;

	ret = d->ops->directory(d->h, "/local/domain", &names, &n);
	if (ret < 0)
		return ret;
	for (i = 0; i < d->nguest; i++)
		d->guest[i].present = false;
	for (i = 0; i < n; i++) {
		if (xl_domid_name(names[i], &domid) < 0)
			continue;
		g = xl_dom0_find(d, domid, true);
		if (!g)
			continue;	/* more guests than we track */
		xl_dom0_check_advert(d, g, now);
		g->present = true;
		xl_dom0_read_vifs(d, g);
	}
	free(names);
	return 0;
}

static void xl_dom0_table_path(const struct xl_dom0_guest *g, char *buf,
			       size_t size)
{
	snprintf(buf, size, XL_XS_TABLES "/%u", g->domid);
}

/*
 * Take on the tables an earlier instance left under XL_XS_TABLES: each
 * becomes a guest whose table is published but unknown, so the pass
 * removes it or writes it anew. Until the listing works (other than
 * "nothing there"), every pass tries again.
 */
static void xl_dom0_adopt(struct xl_dom0 *d)
{
	struct xl_dom0_guest *g;
	char **names = NULL;
	unsigned int i, n = 0;
	uint32_t domid;
	int ret;

	ret = d->ops->directory(d->h, XL_XS_TABLES, &names, &n);
	if (ret < 0 && ret != -ENOENT)
		return;
	d->swept = true;
	for (i = 0; i < n; i++) {
		if (xl_domid_name(names[i], &domid) < 0)
			continue;
		g = xl_dom0_find(d, domid, true);
		if (!g)
			continue;
		g->published = true;
		g->adopted = true;
	}
	free(names);
}

/* Write g's table if it changed (permissions first: never readable by
 * anyone else, not even for a moment). */
static void xl_dom0_publish(struct xl_dom0 *d, struct xl_dom0_guest *g,
			    const char *table)
{
	char path[96];

	xl_dom0_table_path(g, path, sizeof(path));
	if (g->adopted) {
		/* who knows what it holds and who may read it */
		if (d->ops->set_reader(d->h, path, g->domid) < 0) {
			if (d->ops->rm(d->h, path) == 0)
				g->published = g->adopted = false;
			return;
		}
		g->adopted = false;
		g->table[0] = '\1';	/* no table: the write below happens */
	}
	if (g->published && !strcmp(g->table, table))
		return;
	if (!g->published) {
		if (d->ops->write(d->h, path, "", 0) < 0 ||
		    d->ops->set_reader(d->h, path, g->domid) < 0) {
			d->ops->rm(d->h, path);
			return;
		}
		g->published = true;
		g->table[0] = '\0';
	}
	if (d->ops->write(d->h, path, table, (unsigned int)strlen(table)) < 0)
		return;
	memcpy(g->table, table, strlen(table) + 1);
}

static void xl_dom0_unpublish(struct xl_dom0 *d, struct xl_dom0_guest *g)
{
	char path[96];

	if (!g->published)
		return;
	xl_dom0_table_path(g, path, sizeof(path));
	if (d->ops->rm(d->h, path) == 0)
		g->published = g->adopted = false;
}

/* Forget guests that left (after taking their tables down). */
static void xl_dom0_reap(struct xl_dom0 *d)
{
	unsigned int i = 0;

	while (i < d->nguest) {
		struct xl_dom0_guest *g = &d->guest[i];

		if (!g->present)
			xl_dom0_unpublish(d, g);
		if (g->present || g->published) {
			i++;
			continue;
		}
		d->guest[i] = d->guest[--d->nguest];
	}
}

int xl_dom0_pass(struct xl_dom0 *d, uint64_t now_ms)
{
	struct xl_xen_guest *all = d->scratch;
	char table[XL_DOM0_TABLE_MAX];
	unsigned int i, n = 0;
	int ret, willing = 0;

	if (!d->swept)
		xl_dom0_adopt(d);
	ret = xl_dom0_scan(d, now_ms);
	if (ret < 0)
		return ret;
	for (i = 0; i < d->nguest; i++)
		if (d->guest[i].present && d->guest[i].willing)
			all[n++] = d->guest[i].info;
	for (i = 0; i < d->nguest; i++) {
		struct xl_dom0_guest *g = &d->guest[i];

		if (!g->present || !g->willing) {
			xl_dom0_unpublish(d, g);
			continue;
		}
		willing++;
		ret = xl_xen_table_format(&g->info, all, n, d->routed, table,
					  sizeof(table));
		/* more peers than one node holds: the whole lines that fit,
		 * rather than a table that still lists the departed */
		if (ret >= 0 || ret == -ENOSPC)
			xl_dom0_publish(d, g, table);
	}
	xl_dom0_reap(d);
	return willing;
}

void xl_dom0_withdraw(struct xl_dom0 *d)
{
	unsigned int i;

	for (i = 0; i < d->nguest; i++)
		xl_dom0_unpublish(d, &d->guest[i]);
}
