/* SPDX-License-Identifier: MIT */
/*
 * The co-resident peer tables of Xen discovery (docs/xen.md §1), as pure
 * functions: dom0 builds each willing guest's table from the toolstack's
 * vif nodes; the guest parses it and maps a MAC, or in routed mode an IP,
 * to a domid.
 *
 * The text of a table, written by dom0 and read by one guest, is one line
 * per peer: "<domid> <key>[ <key>...]\n" in increasing domid order. A key
 * is a MAC of a bridged vif, 00:16:3e:xx:xx:xx, or an address of a routed
 * vif, "ip=198.18.1.2" or "ip=2001:db8::2" (as inet_ntop writes them).
 * dom0 is trusted, but a table still crosses xenstore: the parser accepts
 * exactly that grammar and nothing else.
 */
#ifndef XL_XEN_PEERS_H
#define XL_XEN_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "xenloop/ctl.h"

#define XL_XEN_MAX_VIFS		8	/* network devices per guest */
#define XL_XEN_VIF_IPS		4	/* addresses of one routed vif */
#define XL_XEN_PEER_IPS		8	/* routed addresses in one line */
#define XL_XEN_BRIDGE_MAX	16	/* IFNAMSIZ */
#define XL_XEN_DOMID_MAX	0x7fefu	/* below DOMID_FIRST_RESERVED */
#define XL_XEN_IP_KEY_MAX	(3 + 45)	/* "ip=" INET6_ADDRSTRLEN-1 */
#define XL_XEN_TABLE_LINE_MAX	(6 + XL_XEN_MAX_VIFS * 18 + \
				 XL_XEN_PEER_IPS * (1 + XL_XEN_IP_KEY_MAX) + 1)
/* The hotplug scripts whose base name starts so route (vif-route, and
 * such as Qubes' vif-route-qubes): their vifs are on no bridge. */
#define XL_XEN_ROUTED_SCRIPT	"vif-route"

/* One vif of a guest, as dom0's backend nodes describe it. */
struct xl_xen_vif {
	uint8_t mac[6];
	bool online;
	bool routed;		/* its script routes: bridge means nothing */
	char bridge[XL_XEN_BRIDGE_MAX];	/* bridged vifs only */
	uint32_t nip;		/* routed vifs only: their "ip" node */
	struct xl_ctl_addr ip[XL_XEN_VIF_IPS];
};

/* The values of a backend vif's nodes, NULL for a missing one. */
struct xl_xen_vif_nodes {
	const char *mac, *bridge, *online, *script, *ip;
};

/* A guest as dom0 sees it: its vifs, and whether it advertises. */
struct xl_xen_guest {
	uint32_t domid;
	bool willing;		/* advertising, and its counter moves */
	uint32_t nvif;
	struct xl_xen_vif vif[XL_XEN_MAX_VIFS];
};

/* One line of a parsed table. */
struct xl_xen_peer {
	uint32_t domid;
	uint32_t nmac;
	uint8_t mac[XL_XEN_MAX_VIFS][6];
	uint32_t nip;
	struct xl_ctl_addr ip[XL_XEN_PEER_IPS];	/* normalised */
};

/* "00:16:3e:0a:0b:0c" (either case, exactly 17 characters) into mac.
 * Returns 0 or -EINVAL. */
int xl_mac_parse(const char *s, uint8_t mac[6]);

/* mac as 17 lower-case characters and a NUL. */
void xl_mac_format(const uint8_t mac[6], char buf[18]);

/*
 * Fill vif from the values of a backend vif's nodes. A vif whose "script"
 * is a routing one (XL_XEN_ROUTED_SCRIPT) is routed: its "bridge" node
 * (libxl writes its default there whatever the script) is not read, and
 * the host addresses of its "ip" node (space-separated; a /32 or /128
 * suffix allowed, any other entry skipped) are kept, up to
 * XL_XEN_VIF_IPS. Returns 0 or -EINVAL: a vif with a bad MAC, or a
 * bridged one with a bad or no bridge name, is ignored by the caller, not
 * guessed at.
 */
int xl_xen_vif_from_nodes(struct xl_xen_vif *vif,
			  const struct xl_xen_vif_nodes *nodes);

/*
 * The table of guest g: every other willing guest (not dom0) with an
 * online vif on a bridge where g has an online vif too, listing the MACs
 * of its vifs on such bridges; and with routed, every other willing guest
 * with an online routed vif while g has one too, listing their addresses
 * (at most XL_XEN_PEER_IPS; an address that two guests claim is left
 * out). all[n] may include g itself. Writes the text with a NUL to buf.
 * Returns its length (0: no peer), -EINVAL for a bad guest, or -ENOSPC if
 * size is too small.
 */
int xl_xen_table_format(const struct xl_xen_guest *g,
			const struct xl_xen_guest *all, size_t n, bool routed,
			char *buf, size_t size);

/*
 * Parse the text of a table (len bytes, no NUL needed) for the guest
 * self into out[max]. Rejects anything but the grammar above: a domid out
 * of range, dom0, self, a repeated or unordered domid, a repeated MAC or
 * address, an address not written as inet_ntop would, a missing final
 * newline. Returns the number of peers or -EINVAL (-ENOSPC: more than max
 * peers).
 */
int xl_xen_table_parse(const char *text, size_t len, uint32_t self,
		       struct xl_xen_peer *out, size_t max);

/* The domid whose MAC is mac, or -ENOENT. */
int xl_xen_table_lookup(const struct xl_xen_peer *peers, size_t n,
			const uint8_t mac[6], uint32_t *domid);

/* The domid of the routed address ip (normalised), or -ENOENT. */
int xl_xen_table_lookup_ip(const struct xl_xen_peer *peers, size_t n,
			   const struct xl_ctl_addr *ip, uint32_t *domid);

#endif /* XL_XEN_PEERS_H */
