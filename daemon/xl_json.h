/* SPDX-License-Identifier: MIT */
/*
 * A small JSON reader for xenloopctl: enough to turn the daemon's STATUS
 * document into a table without trusting its shape. Numbers keep their
 * text, so 64-bit counters print exactly.
 *
 * Returns 0 or -errno; never writes errno.
 */
#ifndef XL_JSON_H
#define XL_JSON_H

#include <stdbool.h>

enum xl_json_type {
	XL_JSON_NULL,
	XL_JSON_BOOL,
	XL_JSON_NUM,
	XL_JSON_STR,
	XL_JSON_ARR,
	XL_JSON_OBJ,
};

struct xl_jv {
	enum xl_json_type type;
	char *key;		/* member name, inside an object */
	char *str;		/* STR: the decoded string; NUM: its text */
	bool b;			/* BOOL */
	struct xl_jv *child;	/* ARR, OBJ: the first element */
	struct xl_jv *next;	/* the next element of the parent */
};

/* Parse text (NUL-terminated). -EINVAL on a syntax error, -ENOMEM. */
int xl_json_parse(const char *text, struct xl_jv **out);
void xl_json_free(struct xl_jv *v);

/* Member key of object v, or NULL (also if v is NULL or no object). */
const struct xl_jv *xl_json_get(const struct xl_jv *v, const char *key);

/* v's text if it is a string or number, else def. */
const char *xl_json_text(const struct xl_jv *v, const char *def);

#endif /* XL_JSON_H */
