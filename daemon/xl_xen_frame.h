/* SPDX-License-Identifier: MIT */
/*
 * What crosses between two guests' xenloopds (docs/xen.md §2), as pure
 * functions: the frames on a control link, and the xenstore node that
 * publishes a link. Both come from another guest, which is untrusted:
 * everything is checked before use, and anything off is -EPROTO.
 */
#ifndef XL_XEN_FRAME_H
#define XL_XEN_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "xenloop/ctl.h"
#include "xl_xen_dev.h"
#include "xl_xen_kmod.h"

enum xl_xframe_type {
	XL_XFRAME_OFFER = 1,
	XL_XFRAME_REPLY = 2,
	/* an offer of a channel of the kernel module (xl_xen_kmod.h):
	 * the offering side's own pages (control page + the data of
	 * direction 0) and its one port, port[0]; the REPLY that accepts
	 * it carries the answering side's references (control page + the
	 * data of direction 1) */
	XL_XFRAME_KOFFER = 3,
};

/* Grant references of one channel at most (control page + data). */
#define XL_XFRAME_MAX_REFS	XL_XEN_DEV_MAX_REFS
/* A frame is never longer: the fixed part and that many references. */
#define XL_XFRAME_MAX_LEN	(sizeof(struct xl_xframe) + \
				 XL_XFRAME_MAX_REFS * sizeof(uint32_t))

/* The fixed part of every frame (88 bytes, no padding); an OFFER's
 * references follow it. */
struct xl_xframe {
	uint32_t len;			/* the whole frame, refs included */
	uint32_t type;			/* enum xl_xframe_type */
	uint64_t id;			/* the offering daemon's offer id */
	int32_t status;			/* REPLY: enum xl_ctl_reason */
	uint32_t order[2];		/* OFFER, KOFFER: the channel's sizes */
	uint32_t port[2];		/* OFFER: unbound ports, by xl_wait;
					 * KOFFER: port[0], port[1] 0 */
	uint32_t nrefs;			/* OFFER: control page + data;
					 * KOFFER, REPLY to it: a side's pages */
	struct xl_ctl_addr client, server;	/* OFFER */
};

/*
 * The first frame of buf (len bytes): copies its fixed part into *f and
 * returns its length (> 0) once it is all there and checked, with *refs
 * pointing at its references in buf (unaligned: copy them out); 0 if more
 * bytes are needed; -EPROTO if it is malformed.
 */
int xl_xframe_next(const uint8_t *buf, size_t len, struct xl_xframe *f,
		   const uint8_t **refs);

/*
 * A link's node, "1 <gen> <port> <port> <nrefs> <ref>..." with exactly
 * want_refs references (decimal, each fitting 32 bits, single spaces, no
 * trailing bytes): 0 with the fields, or -EPROTO.
 */
int xl_xlink_node_parse(const char *val, uint32_t want_refs, uint64_t *gen,
			uint32_t port[2], uint32_t *refs);

/* The peer's answer node, "1 <gen>": 0 with *gen, or -EPROTO. */
int xl_xlink_answer_parse(const char *val, uint64_t *gen);

/*
 * What a daemon can take on a link, in its features node for that peer
 * (docs/xen.md §2): "1" and then feature words, each after one space.
 * A daemon older than the node publishes none, and one that does not
 * know a word ignores it, so that a new frame type goes only to a peer
 * that said it reads it (an older daemon ends a link on a frame it does
 * not know).
 */
enum xl_xfeat {
	XL_XFEAT_KMOD = 1u << 0,	/* "kmod": send it KOFFERs */
};

#define XL_XFEAT_VAL_MAX	64

/* Our features node's value for feats, into buf (XL_XFEAT_VAL_MAX). */
void xl_xfeat_format(char *buf, size_t len, uint32_t feats);

/* The peer's features node: 0 with *feats (unknown words ignored), or
 * -EPROTO. */
int xl_xfeat_parse(const char *val, uint32_t *feats);

#endif /* XL_XEN_FRAME_H */
