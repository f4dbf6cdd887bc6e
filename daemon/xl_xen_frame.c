/* SPDX-License-Identifier: MIT */
/*
 * What crosses between two guests' xenloopds: see xl_xen_frame.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "xenloop/wire.h"
#include "xl_xen_dev.h"
#include "xl_xen_frame.h"

_Static_assert(sizeof(struct xl_xframe) == 88,
	       "a frame's fixed part has no padding to leak");

static int xl_xframe_check(const struct xl_xframe *f)
{
	uint32_t npages;

	switch (f->type) {
	case XL_XFRAME_REPLY:
		/* references only with an acceptance (of a KOFFER: the
		 * receiver checks that it was one, and their count) */
		if (f->nrefs > XL_XEN_KMOD_MAX_PAGES ||
		    f->len != sizeof(*f) + f->nrefs * sizeof(uint32_t) ||
		    (f->nrefs && f->status != XL_REASON_NONE) ||
		    f->status < 0 || f->status >= XL_REASON_MAX)
			return -EPROTO;
		return 0;
	case XL_XFRAME_KOFFER:
		if (xl_xen_kmod_pages(f->order[1], &npages) < 0 ||
		    xl_xen_kmod_pages(f->order[0], &npages) < 0 ||
		    f->nrefs != npages || f->port[0] == 0 || f->port[1] ||
		    f->len != sizeof(*f) + f->nrefs * sizeof(uint32_t) ||
		    f->status)
			return -EPROTO;
		return 0;
	case XL_XFRAME_OFFER:
		if (xl_xen_dev_pages(f->order, &npages) < 0 ||
		    f->nrefs != 1 + npages ||
		    f->len != sizeof(*f) + f->nrefs * sizeof(uint32_t) ||
		    f->status)
			return -EPROTO;
		return 0;
	default:
		return -EPROTO;
	}
}

int xl_xframe_next(const uint8_t *buf, size_t len, struct xl_xframe *f,
		   const uint8_t **refs)
{
	if (len < sizeof(*f))
		return 0;
	/* once, into private memory (invariant 5) */
	memcpy(f, buf, sizeof(*f));
	if (f->len < sizeof(*f) || f->len > XL_XFRAME_MAX_LEN)
		return -EPROTO;
	if (len < f->len)
		return 0;
	if (xl_xframe_check(f) < 0)
		return -EPROTO;
	*refs = buf + sizeof(*f);
	return (int)f->len;
}

/* One decimal number at *s, at most max, no sign, no leading zero
 * (except "0"); *s moves past it. */
static int xl_num(const char **s, uint64_t max, uint64_t *out)
{
	const char *p = *s;
	uint64_t v = 0;

	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
		return -EPROTO;
	while (*p >= '0' && *p <= '9') {
		if (v > (max - (uint64_t)(*p - '0')) / 10)
			return -EPROTO;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	*s = p;
	*out = v;
	return 0;
}

/* " <number>" */
static int xl_field(const char **s, uint64_t max, uint64_t *out)
{
	if (**s != ' ')
		return -EPROTO;
	(*s)++;
	return xl_num(s, max, out);
}

int xl_xlink_node_parse(const char *val, uint32_t want_refs, uint64_t *gen,
			uint32_t port[2], uint32_t *refs)
{
	const char *s = val;
	uint64_t v;
	uint32_t i;

	if (*s++ != '1' || xl_field(&s, UINT64_MAX, gen))
		return -EPROTO;
	for (i = 0; i < 2; i++) {
		if (xl_field(&s, UINT32_MAX, &v))
			return -EPROTO;
		port[i] = (uint32_t)v;
	}
	if (xl_field(&s, UINT32_MAX, &v) || v != want_refs)
		return -EPROTO;
	for (i = 0; i < want_refs; i++) {
		if (xl_field(&s, UINT32_MAX, &v))
			return -EPROTO;
		refs[i] = (uint32_t)v;
	}
	return *s ? -EPROTO : 0;
}

int xl_xlink_answer_parse(const char *val, uint64_t *gen)
{
	const char *s = val;

	if (*s++ != '1' || xl_field(&s, UINT64_MAX, gen))
		return -EPROTO;
	return *s ? -EPROTO : 0;
}

static const struct {
	const char *word;
	uint32_t bit;
} xl_xfeats[] = {
	{ "kmod", XL_XFEAT_KMOD },
};

void xl_xfeat_format(char *buf, size_t len, uint32_t feats)
{
	size_t off, i;

	off = (size_t)snprintf(buf, len, "1");
	for (i = 0; i < sizeof(xl_xfeats) / sizeof(xl_xfeats[0]); i++)
		if ((feats & xl_xfeats[i].bit) && off < len)
			off += (size_t)snprintf(buf + off, len - off, " %s",
						xl_xfeats[i].word);
}

int xl_xfeat_parse(const char *val, uint32_t *feats)
{
	const char *s = val, *w;
	size_t n, i;

	if (strlen(val) > XL_XFEAT_VAL_MAX || *s++ != '1')
		return -EPROTO;
	*feats = 0;
	while (*s) {
		if (*s++ != ' ')
			return -EPROTO;
		w = s;
		while (*s >= 'a' && *s <= 'z')
			s++;
		n = (size_t)(s - w);
		if (!n || (*s && *s != ' '))
			return -EPROTO;
		for (i = 0; i < sizeof(xl_xfeats) / sizeof(xl_xfeats[0]); i++)
			if (strlen(xl_xfeats[i].word) == n &&
			    !memcmp(xl_xfeats[i].word, w, n))
				*feats |= xl_xfeats[i].bit;
	}
	return 0;
}
