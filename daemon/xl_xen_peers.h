/* SPDX-License-Identifier: MIT */
/*
 * The co-resident peer tables of Xen discovery (docs/xen.md §1), as pure
 * functions: dom0 builds each willing guest's table from the toolstack's
 * vif nodes; the guest parses it and maps a MAC to a domid.
 *
 * The text of a table, written by dom0 and read by one guest, is one line
 * per peer: "<domid> <mac>[ <mac>...]\n", MACs as 00:16:3e:xx:xx:xx,
 * lines in increasing domid order. dom0 is trusted, but a table still
 * crosses xenstore: the parser accepts exactly that grammar and nothing
 * else.
 */
#ifndef XL_XEN_PEERS_H
#define XL_XEN_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XL_XEN_MAX_VIFS		8	/* network devices per guest */
#define XL_XEN_BRIDGE_MAX	16	/* IFNAMSIZ */
#define XL_XEN_DOMID_MAX	0x7fefu	/* below DOMID_FIRST_RESERVED */
#define XL_XEN_TABLE_LINE_MAX	(6 + XL_XEN_MAX_VIFS * 18 + 1)

/* One vif of a guest, as dom0's backend nodes describe it. */
struct xl_xen_vif {
	uint8_t mac[6];
	bool online;
	char bridge[XL_XEN_BRIDGE_MAX];
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
};

/* "00:16:3e:0a:0b:0c" (either case, exactly 17 characters) into mac.
 * Returns 0 or -EINVAL. */
int xl_mac_parse(const char *s, uint8_t mac[6]);

/* mac as 17 lower-case characters and a NUL. */
void xl_mac_format(const uint8_t mac[6], char buf[18]);

/*
 * Fill vif from the values of a backend vif's "mac", "bridge" and
 * "online" nodes (NULL: the node is missing). Returns 0 or -EINVAL: a vif
 * with a bad MAC or bridge name is ignored by the caller, not guessed at.
 */
int xl_xen_vif_from_nodes(struct xl_xen_vif *vif, const char *mac,
			  const char *bridge, const char *online);

/*
 * The table of guest g: every other willing guest (not dom0) with an
 * online vif on a bridge where g has an online vif too, listing the MACs
 * of its vifs on such bridges. all[n] may include g itself. Writes the
 * text with a NUL to buf. Returns its length (0: no peer), -EINVAL for a
 * bad guest, or -ENOSPC if size is too small.
 */
int xl_xen_table_format(const struct xl_xen_guest *g,
			const struct xl_xen_guest *all, size_t n, char *buf,
			size_t size);

/*
 * Parse the text of a table (len bytes, no NUL needed) for the guest
 * self into out[max]. Rejects anything but the grammar above: a domid out
 * of range, dom0, self, a repeated or unordered domid, a repeated MAC, a
 * missing final newline. Returns the number of peers or -EINVAL
 * (-ENOSPC: more than max peers).
 */
int xl_xen_table_parse(const char *text, size_t len, uint32_t self,
		       struct xl_xen_peer *out, size_t max);

/* The domid whose MAC is mac, or -ENOENT. */
int xl_xen_table_lookup(const struct xl_xen_peer *peers, size_t n,
			const uint8_t mac[6], uint32_t *domid);

#endif /* XL_XEN_PEERS_H */
