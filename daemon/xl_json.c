/* SPDX-License-Identifier: MIT */
/*
 * Recursive-descent JSON parser (RFC 8259) into a tree of struct xl_jv,
 * with a depth limit so that hostile input cannot exhaust the stack.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xl_json.h"

#define XL_JSON_DEPTH	32

struct xl_jp {
	const char *s;
	int depth;
};

static int xl_jp_value(struct xl_jp *p, struct xl_jv **out);

static void xl_jp_ws(struct xl_jp *p)
{
	while (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' ||
	       *p->s == '\r')
		p->s++;
}

static struct xl_jv *xl_jv_new(enum xl_json_type type)
{
	struct xl_jv *v = calloc(1, sizeof(*v));

	if (v)
		v->type = type;
	return v;
}

void xl_json_free(struct xl_jv *v)
{
	struct xl_jv *next;

	for (; v; v = next) {
		next = v->next;
		xl_json_free(v->child);
		free(v->key);
		free(v->str);
		free(v);
	}
}

static int xl_hex4(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

static size_t xl_utf8_put(char *d, uint32_t cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xc0 | cp >> 6);
		d[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xe0 | cp >> 12);
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		d[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	d[0] = (char)(0xf0 | cp >> 18);
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	d[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* \uXXXX, with a surrogate pair if there is one; p->s after the 'u'. */
static int xl_jp_unicode(struct xl_jp *p, uint32_t *cp)
{
	uint32_t lo;

	if (xl_hex4(p->s, cp))
		return -EINVAL;
	p->s += 4;
	if (*cp < 0xd800 || *cp > 0xdfff)
		return 0;
	if (*cp > 0xdbff || p->s[0] != '\\' || p->s[1] != 'u' ||
	    xl_hex4(p->s + 2, &lo) || lo < 0xdc00 || lo > 0xdfff)
		return -EINVAL;
	p->s += 6;
	*cp = 0x10000 + ((*cp - 0xd800) << 10) + (lo - 0xdc00);
	return 0;
}

static int xl_jp_escape(struct xl_jp *p, char *d, size_t *n)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e = strchr(from, *p->s);
	uint32_t cp;

	if (*p->s && e) {
		d[0] = to[e - from];
		*n = 1;
		p->s++;
		return 0;
	}
	if (*p->s++ != 'u' || xl_jp_unicode(p, &cp))
		return -EINVAL;
	*n = xl_utf8_put(d, cp);
	return 0;
}

/* A string; p->s at the opening quote. The decoded text is never longer
 * than the source. */
static int xl_jp_string(struct xl_jp *p, char **out)
{
	const char *start = ++p->s;
	char *buf, *d;
	size_t n;

	buf = d = malloc(strlen(start) + 1);
	if (!buf)
		return -ENOMEM;
	while (*p->s != '"') {
		if ((unsigned char)*p->s < 0x20)
			goto out_free;	/* also the end of the text */
		if (*p->s != '\\') {
			*d++ = *p->s++;
			continue;
		}
		p->s++;
		if (xl_jp_escape(p, d, &n))
			goto out_free;
		d += n;
	}
	p->s++;
	*d = '\0';
	*out = buf;
	return 0;

out_free:
	free(buf);
	return -EINVAL;
}

static int xl_jp_number(struct xl_jp *p, struct xl_jv *v)
{
	const char *start = p->s;
	size_t n;

	if (*p->s == '-')
		p->s++;
	if (*p->s < '0' || *p->s > '9')
		return -EINVAL;
	while ((*p->s >= '0' && *p->s <= '9') ||
	       (*p->s && strchr(".eE+-", *p->s)))
		p->s++;
	n = (size_t)(p->s - start);
	v->str = strndup(start, n);
	return v->str ? 0 : -ENOMEM;
}

static int xl_jp_word(struct xl_jp *p, struct xl_jv *v)
{
	if (!strncmp(p->s, "true", 4)) {
		v->type = XL_JSON_BOOL;
		v->b = true;
		p->s += 4;
	} else if (!strncmp(p->s, "false", 5)) {
		v->type = XL_JSON_BOOL;
		p->s += 5;
	} else if (!strncmp(p->s, "null", 4)) {
		p->s += 4;
	} else {
		return -EINVAL;
	}
	return 0;
}

/* Elements of an array or members of an object, up to close. */
static int xl_jp_items(struct xl_jp *p, struct xl_jv *v, char close)
{
	struct xl_jv **tail = &v->child, *item;
	char *key = NULL;
	int ret;

	p->s++;
	xl_jp_ws(p);
	if (*p->s == close) {
		p->s++;
		return 0;
	}
	for (;;) {
		xl_jp_ws(p);
		if (close == '}') {
			if (*p->s != '"')
				return -EINVAL;
			ret = xl_jp_string(p, &key);
			if (ret)
				return ret;
			xl_jp_ws(p);
			if (*p->s++ != ':') {
				free(key);
				return -EINVAL;
			}
		}
		ret = xl_jp_value(p, &item);
		if (ret) {
			free(key);
			return ret;
		}
		item->key = key;
		key = NULL;
		*tail = item;
		tail = &item->next;
		xl_jp_ws(p);
		if (*p->s == close) {
			p->s++;
			return 0;
		}
		if (*p->s++ != ',')
			return -EINVAL;
	}
}

static int xl_jp_value(struct xl_jp *p, struct xl_jv **out)
{
	struct xl_jv *v = xl_jv_new(XL_JSON_NULL);
	int ret;

	if (!v)
		return -ENOMEM;
	xl_jp_ws(p);
	if (++p->depth > XL_JSON_DEPTH) {
		ret = -EINVAL;
	} else if (*p->s == '{' || *p->s == '[') {
		v->type = *p->s == '{' ? XL_JSON_OBJ : XL_JSON_ARR;
		ret = xl_jp_items(p, v, *p->s == '{' ? '}' : ']');
	} else if (*p->s == '"') {
		v->type = XL_JSON_STR;
		ret = xl_jp_string(p, &v->str);
	} else if (*p->s == '-' || (*p->s >= '0' && *p->s <= '9')) {
		v->type = XL_JSON_NUM;
		ret = xl_jp_number(p, v);
	} else {
		ret = xl_jp_word(p, v);
	}
	p->depth--;
	if (ret) {
		xl_json_free(v);
		return ret;
	}
	*out = v;
	return 0;
}

int xl_json_parse(const char *text, struct xl_jv **out)
{
	struct xl_jp p = { .s = text };
	struct xl_jv *v;
	int ret;

	ret = xl_jp_value(&p, &v);
	if (ret)
		return ret;
	xl_jp_ws(&p);
	if (*p.s) {
		xl_json_free(v);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

const struct xl_jv *xl_json_get(const struct xl_jv *v, const char *key)
{
	const struct xl_jv *c;

	if (!v || v->type != XL_JSON_OBJ)
		return NULL;
	for (c = v->child; c; c = c->next)
		if (c->key && !strcmp(c->key, key))
			return c;
	return NULL;
}

const char *xl_json_text(const struct xl_jv *v, const char *def)
{
	if (v && (v->type == XL_JSON_STR || v->type == XL_JSON_NUM))
		return v->str;
	return def;
}
