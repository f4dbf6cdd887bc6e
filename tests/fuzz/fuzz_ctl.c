/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: what a hostile process or peer daemon controls in the
 * control protocol, fed to the daemon's pure functions.
 *
 * The first input byte picks one of four parts; the rest is that part's
 * input (missing bytes read as 0):
 *
 *   desc  a CHAN / PEER_OFFER message: xl_desc_check() accepts exactly the
 *         channel fields docs/protocol.md §2 allows for the side we want;
 *         xl_desc_from_msg() agrees with it, maps the six fds in the
 *         documented order, and xl_desc_to_msg() gives the same back; the
 *         offer's addresses normalise as the address part demands.
 *   addr  xl_addr.c on raw struct xl_ctl_addr bytes and on text: normalize
 *         does exactly what xl_addr.h says and is idempotent; the
 *         predicates agree with a reference; format fits XL_ADDR_STRLEN,
 *         reports -ENOSPC exactly when the text does not fit (into a buffer
 *         allocated to its exact size) and parses back to the address;
 *         whatever parse accepts is normalised and survives a round trip.
 *   conf  xl_conf_load() on arbitrary file contents (a memfd, opened by
 *         path) against a reference parser of xenloop.conf(5): the same
 *         verdict, the same settings, the error naming the file and line.
 *   recv  xl_ctl_recv() over a SOCK_SEQPACKET socketpair: datagrams of any
 *         length (empty, short, exact, with text, oversized), any header,
 *         0..24 real fds (memfds, eventfds, pipes, sockets) in one or two
 *         SCM_RIGHTS messages, with or without SO_PASSCRED on the
 *         receiver. The result is exactly what a reference of the
 *         envelope check predicts; a message accepted arrives intact with
 *         its fds (the same open files, in order, close-on-exec); a
 *         message refused leaves fds[] all -1; and either way the
 *         process's open fd count is back to what it was once the fds we
 *         sent and were given are closed: nothing leaks.
 *
 * Every invariant failure is an abort() with the line that failed.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "xl_addr.h"
#include "xl_conf.h"
#include "xl_ctl_io.h"
#include "xl_desc.h"

#define FZ_CHECK(cond)							\
	do {								\
		if (!(cond))						\
			fz_fail(#cond, __LINE__);			\
	} while (0)

/* Datagrams per recv input; fds per datagram (more than the cmsg buffer
 * of xl_ctl_recv() holds even without credentials). */
#define FZ_MAX_DGRAMS	12
#define FZ_MAX_SEND	24
#define FZ_MSG_SIZE	sizeof(struct xl_ctl_msg)

struct fz_in {
	const uint8_t *p;
	size_t n;
};

static void fz_fail(const char *what, int line)
{
	fprintf(stderr, "fuzz_ctl.c:%d: invariant failed: %s\n", line, what);
	abort();
}

static uint64_t fz_take(struct fz_in *in, unsigned int bytes)
{
	uint64_t v = 0;

	while (bytes--) {
		v <<= 8;
		if (in->n) {
			v |= *in->p++;
			in->n--;
		}
	}
	return v;
}

static void fz_bytes(struct fz_in *in, void *dst, size_t len)
{
	size_t n = len < in->n ? len : in->n;

	memcpy(dst, in->p, n);
	memset((uint8_t *)dst + n, 0, len - n);
	in->p += n;
	in->n -= n;
}

/* ---- desc ---- */

static bool fz_order_ok(uint32_t o)
{
	return o >= XL_WIRE_MIN_ORDER && o <= XL_WIRE_MAX_ORDER;
}

static void fz_addr_check(const struct xl_ctl_addr *raw);

static void fz_desc(struct fz_in *in)
{
	uint32_t bias = (uint32_t)fz_take(in, 1);
	uint32_t want = (uint32_t)fz_take(in, 1) % 3;
	struct xl_chan_desc desc, back;
	int fds[XL_CTL_MAX_FDS], out[XL_CTL_MAX_FDS];
	struct xl_ctl_msg msg, msg2;
	bool ok;
	int i, ret;

	fz_bytes(in, &msg, sizeof(msg));
	/* steer part of the inputs to the valid shape, so the accepting
	 * path is as well fed as the refusing one */
	if (bias & 1)
		msg.chan_kind = XL_BACKEND_LOCAL;
	if (bias & 2)
		msg.chan_side = want;
	if (bias & 4)
		msg.nfds = XL_DESC_LOCAL_NFDS;
	if (bias & 8)
		msg.chan_order[0] = XL_WIRE_MIN_ORDER + msg.chan_order[0] % 16;
	if (bias & 16)
		msg.chan_order[1] = XL_WIRE_MIN_ORDER + msg.chan_order[1] % 16;
	for (i = 0; i < (int)XL_CTL_MAX_FDS; i++)
		fds[i] = 100 + i;	/* borrowed, never used as fds */
	ok = msg.chan_kind == XL_BACKEND_LOCAL && msg.chan_side == want &&
	     msg.nfds == XL_DESC_LOCAL_NFDS &&
	     fz_order_ok(msg.chan_order[0]) && fz_order_ok(msg.chan_order[1]);

	FZ_CHECK(xl_desc_check(&msg, want) == (ok ? 0 : -EPROTO));
	memset(&desc, 0xa5, sizeof(desc));
	ret = xl_desc_from_msg(&msg, fds, want, &desc);
	FZ_CHECK(ret == (ok ? 0 : -EPROTO));
	/* the offer's endpoints: whatever the peer put there */
	fz_addr_check(&msg.local);
	fz_addr_check(&msg.remote);
	if (!ok)
		return;
	FZ_CHECK(desc.kind == XL_BACKEND_LOCAL && desc.side == want);
	FZ_CHECK(desc.order[0] == msg.chan_order[0] &&
		 desc.order[1] == msg.chan_order[1]);
	/* docs/protocol.md §2: memfd, efd[0][data], efd[0][space],
	 * efd[1][data], efd[1][space], liveness */
	FZ_CHECK(desc.u.local.memfd == fds[0]);
	FZ_CHECK(desc.u.local.efd[0][XL_WAIT_DATA] == fds[1]);
	FZ_CHECK(desc.u.local.efd[0][XL_WAIT_SPACE] == fds[2]);
	FZ_CHECK(desc.u.local.efd[1][XL_WAIT_DATA] == fds[3]);
	FZ_CHECK(desc.u.local.efd[1][XL_WAIT_SPACE] == fds[4]);
	FZ_CHECK(desc.u.local.hup == fds[5]);
	memset(&msg2, 0, sizeof(msg2));
	FZ_CHECK(xl_desc_to_msg(&desc, &msg2, out) == 0);
	FZ_CHECK(msg2.chan_kind == msg.chan_kind &&
		 msg2.chan_side == msg.chan_side &&
		 msg2.chan_order[0] == msg.chan_order[0] &&
		 msg2.chan_order[1] == msg.chan_order[1] &&
		 msg2.nfds == XL_DESC_LOCAL_NFDS);
	FZ_CHECK(!memcmp(out, fds, sizeof(int) * XL_DESC_LOCAL_NFDS));
	FZ_CHECK(xl_desc_check(&msg2, want) == 0);
	/* only the local transport travels in messages */
	back = desc;
	back.kind = XL_BACKEND_XEN;
	FZ_CHECK(xl_desc_to_msg(&back, &msg2, out) == -EOPNOTSUPP);
}

/* ---- addr ---- */

static const uint8_t fz_v4mapped[12] = { [10] = 0xff, [11] = 0xff };

/* xl_addr.h's normal form, by the letter. */
static int fz_addr_model(const struct xl_ctl_addr *in, struct xl_ctl_addr *out)
{
	*out = *in;
	if (out->family == AF_INET6 &&
	    !memcmp(out->addr, fz_v4mapped, sizeof(fz_v4mapped))) {
		out->family = AF_INET;
		memmove(out->addr, in->addr + 12, 4);
	}
	if (out->family != AF_INET && out->family != AF_INET6) {
		*out = *in;
		return -EINVAL;
	}
	if (out->family == AF_INET)
		memset(out->addr + 4, 0, 12);
	out->scope_id = 0;
	return 0;
}

static size_t fz_addr_len(const struct xl_ctl_addr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

/* Text of a normalised address, from inet_ntop(3) directly. */
static void fz_addr_text(const struct xl_ctl_addr *a, bool with_port,
			 char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	FZ_CHECK(inet_ntop(a->family, a->addr, ip, sizeof(ip)) != NULL);
	if (!with_port)
		snprintf(buf, len, "%s", ip);
	else if (a->family == AF_INET)
		snprintf(buf, len, "%s:%u", ip, a->port);
	else
		snprintf(buf, len, "[%s]:%u", ip, a->port);
}

/* Format into a buffer of exactly len bytes: ASan sees any overrun. */
static void fz_addr_format_len(const struct xl_ctl_addr *a, bool with_port,
			       size_t len)
{
	char want[2 * XL_ADDR_STRLEN];
	char *buf = malloc(len ? len : 1);
	int ret;

	if (!buf)
		abort();
	fz_addr_text(a, with_port, want, sizeof(want));
	ret = xl_addr_format(a, with_port, buf, len);
	FZ_CHECK(ret == (strlen(want) < len ? 0 : -ENOSPC));
	if (ret == 0)
		FZ_CHECK(!strcmp(buf, want));
	free(buf);
}

/* Properties of a normalised address. */
static void fz_addr_normal(const struct xl_ctl_addr *a, size_t fmt_len)
{
	static const uint8_t v6lo[16] = { [15] = 1 }, zero[16];
	char text[XL_ADDR_STRLEN];
	struct xl_ctl_addr again = *a, parsed;
	size_t n = fz_addr_len(a);
	bool lo, bogus;

	FZ_CHECK(xl_addr_normalize(&again) == 0);
	FZ_CHECK(!memcmp(&again, a, sizeof(*a)));
	FZ_CHECK(xl_addr_same_ip(a, a) && xl_addr_equal(a, a));
	FZ_CHECK(xl_addr_hash(a, 7) == xl_addr_hash(&again, 7));
	lo = a->family == AF_INET ? a->addr[0] == 127 :
	     !memcmp(a->addr, v6lo, 16);
	FZ_CHECK(xl_addr_is_loopback(a) == lo);
	bogus = !memcmp(a->addr, zero, n) ||
		(a->family == AF_INET ? a->addr[0] >= 224 : a->addr[0] == 0xff);
	FZ_CHECK(xl_addr_is_bogus(a) == bogus);
	/* the longest text there is fits XL_ADDR_STRLEN */
	FZ_CHECK(xl_addr_format(a, true, text, sizeof(text)) == 0);
	FZ_CHECK(xl_addr_format(a, false, text, sizeof(text)) == 0);
	FZ_CHECK(xl_addr_parse(text, &parsed) == 0);
	FZ_CHECK(parsed.family == a->family && parsed.port == 0 &&
		 parsed.scope_id == 0 && !memcmp(parsed.addr, a->addr, 16));
	fz_addr_format_len(a, fmt_len & 1, fmt_len >> 1);
}

/* A raw address as a peer or a process sent it. */
static void fz_addr_check(const struct xl_ctl_addr *raw)
{
	struct xl_ctl_addr a = *raw, want;
	int ret = fz_addr_model(raw, &want);

	FZ_CHECK(xl_addr_normalize(&a) == ret);
	FZ_CHECK(!memcmp(&a, &want, sizeof(a)));
	if (ret == 0)
		fz_addr_normal(&a, raw->scope_id % (2 * XL_ADDR_STRLEN + 2));
}

static void fz_addr_pair(const struct xl_ctl_addr *x,
			 const struct xl_ctl_addr *y)
{
	bool same = x->family == y->family &&
		    !memcmp(x->addr, y->addr, fz_addr_len(x));

	FZ_CHECK(xl_addr_same_ip(x, y) == same);
	FZ_CHECK(xl_addr_same_ip(y, x) == same);
	FZ_CHECK(xl_addr_equal(x, y) == (same && x->port == y->port));
	FZ_CHECK(xl_addr_equal(x, y) == xl_addr_equal(y, x));
	if (xl_addr_equal(x, y))
		FZ_CHECK(xl_addr_hash(x, 1) == xl_addr_hash(y, 1));
}

static void fz_addr_sockaddr(struct fz_in *in, const struct xl_ctl_addr *a)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	struct xl_ctl_addr got, want;
	uint32_t sel = (uint32_t)fz_take(in, 1);

	fz_bytes(in, &ss, sizeof(ss));
	memset(&want, 0, sizeof(want));
	if (sel % 3 == 0) {
		ss.ss_family = AF_INET;
		want.family = AF_INET;
		want.port = ntohs(in4->sin_port);
		memcpy(want.addr, &in4->sin_addr, 4);
	} else if (sel % 3 == 1) {
		ss.ss_family = AF_INET6;
		if (sel & 4)	/* now and then a v4-mapped one */
			memcpy(&in6->sin6_addr, fz_v4mapped, 12);
		want.family = AF_INET6;
		want.port = ntohs(in6->sin6_port);
		memcpy(want.addr, &in6->sin6_addr, 16);
	}
	if (sel % 3 == 2) {
		if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
			ss.ss_family = AF_UNIX;
		FZ_CHECK(xl_addr_from_sockaddr(&got, (struct sockaddr *)&ss) ==
			 -EAFNOSUPPORT);
		return;
	}
	FZ_CHECK(fz_addr_model(&want, &want) == 0);
	FZ_CHECK(xl_addr_from_sockaddr(&got, (struct sockaddr *)&ss) == 0);
	FZ_CHECK(!memcmp(&got, &want, sizeof(got)));
	fz_addr_normal(&got, sel);
	if (a)
		fz_addr_pair(&got, a);
}

static void fz_addr(struct fz_in *in)
{
	uint32_t bias = (uint32_t)fz_take(in, 1);
	struct xl_ctl_addr a, b, p;
	char s[64];
	bool ok, a_ok;

	fz_bytes(in, &a, sizeof(a));
	fz_bytes(in, &b, sizeof(b));
	if (bias & 1)
		a.family = (bias & 2) ? AF_INET6 : AF_INET;
	if (bias & 4)
		memcpy(a.addr, fz_v4mapped, sizeof(fz_v4mapped));
	if (bias & 8)
		b = a;
	if (bias & 16)
		b.port ^= 1;
	fz_addr_check(&a);
	fz_addr_check(&b);
	a_ok = xl_addr_normalize(&a) == 0;
	if (a_ok && xl_addr_normalize(&b) == 0)
		fz_addr_pair(&a, &b);
	fz_addr_sockaddr(in, a_ok ? &a : NULL);

	/* text a process or a .addrs file could hold */
	fz_bytes(in, s, sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	memset(&p, 0x5a, sizeof(p));
	ok = inet_pton(AF_INET, s, p.addr) == 1 ||
	     inet_pton(AF_INET6, s, p.addr) == 1;
	FZ_CHECK(xl_addr_parse(s, &p) == (ok ? 0 : -EINVAL));
	if (ok) {
		FZ_CHECK(p.port == 0 && p.scope_id == 0);
		fz_addr_normal(&p, bias);
	}
}

/* Open fds of this process. */
static int fz_fd_count(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!dir)
		abort();
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n - 1;	/* the directory's own */
}

/* ---- conf ---- */

/* Settings the reference parser arrives at, or where it stops. */
struct fz_conf_ref {
	struct xl_conf c;
	unsigned int line;	/* the line of the error */
	bool exact;		/* false: the reference cannot tell */
};

static char *fz_trim(char *s)
{
	char *e = s + strlen(s);

	while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
		s++;
	while (e > s && (e[-1] == ' ' || (e[-1] >= '\t' && e[-1] <= '\r')))
		*--e = '\0';
	return s;
}

/* Decimal digits only, in [min, max]. */
static bool fz_conf_num(const char *v, uint32_t min, uint32_t max,
			uint32_t *out)
{
	uint64_t n = 0;

	if (!*v)
		return false;
	for (; *v; v++) {
		if (*v < '0' || *v > '9')
			return false;
		n = n * 10 + (uint64_t)(*v - '0');
		if (n > max)
			return false;
	}
	if (n < min)
		return false;
	*out = (uint32_t)n;
	return true;
}

static bool fz_conf_value(struct xl_conf *c, const char *k, const char *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i, n = strlen(v);
	bool *flag;

	if (!strcmp(k, "rundir")) {
		if (v[0] != '/' || n > 30)
			return false;
		snprintf(c->rundir, sizeof(c->rundir), "%s", v);
		return true;
	}
	if (!strcmp(k, "name")) {
		if (n == 0 || n > XL_NAME_MAX || v[0] == '.')
			return false;
		for (i = 0; i < n; i++)
			if (!(isalnum((unsigned char)v[i]) || v[i] == '.' ||
			      v[i] == '_' || v[i] == '-'))
				return false;
		snprintf(c->name, sizeof(c->name), "%s", v);
		return true;
	}
	if (!strcmp(k, "ring_order"))
		return fz_conf_num(v, 12, 24, &c->ring_order);
	if (!strcmp(k, "match_timeout_ms"))
		return fz_conf_num(v, 100, 600000, &c->match_timeout_ms);
	if (!strcmp(k, "enable"))
		flag = &c->enable;
	else if (!strcmp(k, "routed"))
		flag = &c->routed;
	else
		return false;
	for (i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]) || !strcasecmp(v, no[i])) {
			*flag = !strcasecmp(v, yes[i]);
			return true;
		}
	}
	return false;
}

/* One line without its newline; false if it is an error. */
static bool fz_conf_ref_line(struct xl_conf *c, const char *text, size_t len)
{
	char line[1100], *k, *v, *eq, *hash;

	memcpy(line, text, len);
	line[len] = '\0';
	hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	k = fz_trim(line);
	if (!*k)
		return true;
	eq = strchr(k, '=');
	if (!eq)
		return false;
	*eq = '\0';
	k = fz_trim(k);
	v = fz_trim(eq + 1);
	return *k && *v && fz_conf_value(c, k, v);
}

/* xenloop.conf(5) as written, with fgets' 1024-byte buffer: a line of
 * 1023 bytes or more, newline included, is too long. Returns 0 or
 * -EINVAL. */
static int fz_conf_ref(const char *s, size_t n, struct fz_conf_ref *r)
{
	size_t pos = 0, len;
	const char *nl;

	r->exact = !memchr(s, '\0', n);	/* a NUL ends a line early */
	r->line = 0;
	while (pos < n) {
		nl = memchr(s + pos, '\n', n - pos);
		len = nl ? (size_t)(nl - (s + pos)) : n - pos;
		r->line++;
		/* 1023 bytes at the end of the file: whether fgets saw the
		 * end is stdio's business */
		if (!nl && len == 1023)
			r->exact = false;
		if (len >= 1023)
			return -EINVAL;
		if (!fz_conf_ref_line(&r->c, s + pos, len))
			return -EINVAL;
		pos += len + 1;
	}
	return 0;
}

static bool fz_conf_valid(const struct xl_conf *c)
{
	return xl_conf_rundir_valid(c->rundir) &&
	       (!c->name[0] || xl_conf_name_valid(c->name)) &&
	       c->ring_order >= XL_RING_ORDER_MIN &&
	       c->ring_order <= XL_RING_ORDER_MAX &&
	       c->match_timeout_ms >= XL_TIMEOUT_MS_MIN &&
	       c->match_timeout_ms <= XL_TIMEOUT_MS_MAX;
}

static int fz_conf_fd = -1;

static void fz_conf(struct fz_in *in)
{
	size_t errlen = (size_t)fz_take(in, 1) + 1;
	char path[64], prefix[96], *err = malloc(errlen);
	struct fz_conf_ref ref;
	struct xl_conf c;
	int ret, want, base;
	size_t n;

	if (!err)
		abort();
	if (fz_conf_fd < 0) {
		fz_conf_fd = memfd_create("fuzz-xenloop.conf", MFD_CLOEXEC);
		if (fz_conf_fd < 0)
			abort();
	}
	if (ftruncate(fz_conf_fd, 0) < 0 ||
	    pwrite(fz_conf_fd, in->p, in->n, 0) != (ssize_t)in->n)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fz_conf_fd);
	base = fz_fd_count();

	xl_conf_defaults(&c);
	ref.c = c;
	FZ_CHECK(fz_conf_valid(&c) && c.enable && !c.routed && !c.name[0]);
	want = fz_conf_ref((const char *)in->p, in->n, &ref);
	memset(err, 'x', errlen);
	ret = xl_conf_load(&c, path, err, errlen);
	FZ_CHECK(ret == 0 || ret == -EINVAL);
	if (ref.exact)
		FZ_CHECK(ret == want);
	if (ret == 0) {
		/* nothing out of range ever comes through */
		FZ_CHECK(fz_conf_valid(&c));
		if (ref.exact)
			FZ_CHECK(!strcmp(c.rundir, ref.c.rundir) &&
				 !strcmp(c.name, ref.c.name) &&
				 c.ring_order == ref.c.ring_order &&
				 c.match_timeout_ms == ref.c.match_timeout_ms &&
				 c.enable == ref.c.enable &&
				 c.routed == ref.c.routed);
	} else {
		/* "path:line: what", cut to the buffer but terminated */
		FZ_CHECK(memchr(err, '\0', errlen) != NULL);
		n = (size_t)snprintf(prefix, sizeof(prefix), "%s:%u: ", path,
				     ref.line);
		if (ref.exact && errlen - 1 <= n)
			FZ_CHECK(!strncmp(err, prefix, errlen - 1));
		else if (ref.exact)
			FZ_CHECK(!strncmp(err, prefix, n) && strlen(err) > n);
	}
	FZ_CHECK(fz_fd_count() == base);
	free(err);
}

/* ---- recv ---- */

/* One fd of some kind; *other gets the second end to close, if any. */
static int fz_make_fd(unsigned int kind, int *other)
{
	int p[2], fd = -1;

	*other = -1;
	switch (kind % 5) {
	case 0:
		fd = memfd_create("fuzz", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		break;
	case 1:
		fd = eventfd(0, EFD_CLOEXEC);
		break;
	case 2:
	case 3:
		if (pipe2(p, O_CLOEXEC) == 0) {
			fd = p[kind % 5 - 2];
			*other = p[3 - kind % 5];
		}
		break;
	default:
		if (!socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p)) {
			fd = p[0];
			*other = p[1];
		}
		break;
	}
	if (fd < 0)
		abort();
	return fd;
}

/* Do a and b name the same open file description? */
static bool fz_same_file(int a, int b)
{
	struct stat sa, sb;
	long r = syscall(SYS_kcmp, (long)getpid(), (long)getpid(), 0L /*
			 KCMP_FILE */, (long)a, (long)b);

	if (r >= 0)
		return r == 0;
	/* no kcmp: the same inode will do */
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

struct fz_dgram {
	uint8_t *buf;
	size_t len;
	int fds[FZ_MAX_SEND], other[FZ_MAX_SEND];
	unsigned int nfds;
	bool split;		/* the fds in two SCM_RIGHTS messages */
	bool api;		/* sent by xl_ctl_send() */
	bool sent;
};

/* Header, then text, of a datagram of len bytes. */
static void fz_dgram_fill(struct fz_in *in, struct fz_dgram *g)
{
	uint32_t fix = (uint32_t)fz_take(in, 1);
	uint32_t lsel = (uint32_t)fz_take(in, 1);
	uint32_t text = (uint32_t)fz_take(in, 2);
	struct xl_ctl_msg m;
	unsigned int i;

	fz_bytes(in, &m, sizeof(m));
	if (fix & 1)
		m.version = XL_CTL_VERSION;
	if (fix & 2)
		m.type = 1 + m.type % (XL_CTL_TYPE_MAX - 1);
	if (fix & 4)
		m.nfds = g->nfds;
	/* text lengths around the limit and the receive buffers */
	if (fix & 8)
		m.text_len = (fix & 16) ? XL_CTL_MAX_TEXT - 2 + text % 4 :
			     text % 300;
	switch (lsel % 8) {
	case 0:		/* short of the header */
		g->len = lsel % FZ_MSG_SIZE;
		break;
	case 1:		/* one byte more than it says */
		g->len = FZ_MSG_SIZE + (m.text_len % 70000) + 1;
		break;
	case 2:		/* anything up to past the text limit */
		g->len = (text + ((lsel & 0x80) ? 65536u : 0)) % 70000;
		break;
	default:	/* exactly what it says, if that is sane */
		g->len = FZ_MSG_SIZE + (m.text_len % 70000);
		break;
	}
	g->buf = malloc(g->len + FZ_MSG_SIZE);
	if (!g->buf)
		abort();
	memcpy(g->buf, &m, FZ_MSG_SIZE);
	for (i = FZ_MSG_SIZE; i < g->len; i++)
		g->buf[i] = (uint8_t)(i * 131 + fix);
}

static void fz_dgram_free(struct fz_dgram *g)
{
	unsigned int i;

	for (i = 0; i < g->nfds; i++) {
		close(g->fds[i]);
		if (g->other[i] >= 0)
			close(g->other[i]);
	}
	free(g->buf);
}

static ssize_t fz_dgram_send(int sock, struct fz_dgram *g)
{
	union {
		char buf[2 * CMSG_SPACE(sizeof(int) * FZ_MAX_SEND)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { .iov_base = g->buf, .iov_len = g->len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	unsigned int first = g->split ? g->nfds / 2 : g->nfds;
	struct cmsghdr *cm;
	ssize_t n;

	memset(&cbuf, 0, sizeof(cbuf));
	if (g->nfds) {
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * first);
		if (first < g->nfds)
			mh.msg_controllen +=
				CMSG_SPACE(sizeof(int) * (g->nfds - first));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * first);
		memcpy(CMSG_DATA(cm), g->fds, sizeof(int) * first);
		if (first < g->nfds) {
			cm = CMSG_NXTHDR(&mh, cm);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len =
				CMSG_LEN(sizeof(int) * (g->nfds - first));
			memcpy(CMSG_DATA(cm), g->fds + first,
			       sizeof(int) * (g->nfds - first));
		}
	}
	n = sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	g->sent = n == (ssize_t)g->len;
	return n;
}

/*
 * The same through the sending half of the API: it refuses what it could
 * not send intact, fills in the version, and what it sends must come out
 * of xl_ctl_recv() whole.
 */
static ssize_t fz_dgram_send_api(int sock, struct fz_dgram *g)
{
	struct xl_ctl_msg m;
	size_t text;
	int ret;

	if (g->len < FZ_MSG_SIZE)
		g->len = FZ_MSG_SIZE;
	text = g->len - FZ_MSG_SIZE;
	memcpy(&m, g->buf, sizeof(m));
	m.nfds = g->nfds;
	m.text_len = (uint32_t)text;
	ret = xl_ctl_send(sock, &m, g->fds, (char *)g->buf + FZ_MSG_SIZE,
			  MSG_DONTWAIT);
	if (g->nfds > XL_CTL_MAX_FDS || text > XL_CTL_MAX_TEXT)
		FZ_CHECK(ret == -EINVAL);
	else
		FZ_CHECK(ret == 0 || ret == -EAGAIN || ret == -ENOBUFS);
	FZ_CHECK(ret < 0 || m.version == XL_CTL_VERSION);
	memcpy(g->buf, &m, sizeof(m));
	g->sent = ret == 0;
	return ret;
}

/*
 * The envelope check of docs/protocol.md §2, from what was sent and how
 * it is received: 0, -ECONNRESET (an empty datagram reads as end of
 * file) or -EPROTO.
 */
static int fz_recv_model(const struct fz_dgram *g, size_t text_max,
			 bool passcred)
{
	size_t cap = FZ_MSG_SIZE + (text_max ? text_max - 1 : 0);
	size_t ctl = (passcred ? CMSG_SPACE(sizeof(struct ucred)) : 0) +
		     (g->nfds ? CMSG_SPACE(sizeof(int) * g->nfds) : 0);
	/* xl_ctl_recv()'s control buffer, as ctl_io.c sizes it */
	size_t room = CMSG_SPACE(sizeof(int) * XL_CTL_MAX_FDS) +
		      CMSG_SPACE(sizeof(int) * 8);
	struct xl_ctl_msg m;

	if (g->len == 0 && g->nfds == 0)
		return -ECONNRESET;
	if (g->nfds > XL_CTL_MAX_FDS || ctl > room || g->len > cap ||
	    g->len < FZ_MSG_SIZE)
		return -EPROTO;
	memcpy(&m, g->buf, sizeof(m));
	if (m.version != XL_CTL_VERSION || m.type == 0 ||
	    m.type >= XL_CTL_TYPE_MAX || m.nfds != g->nfds ||
	    m.text_len > XL_CTL_MAX_TEXT || g->len != FZ_MSG_SIZE + m.text_len)
		return -EPROTO;
	return 0;
}

static void fz_recv_accepted(const struct fz_dgram *g,
			     const struct xl_ctl_msg *m, const int *fds,
			     const char *text)
{
	unsigned int i;

	FZ_CHECK(!memcmp(m, g->buf, FZ_MSG_SIZE));
	for (i = 0; i < XL_CTL_MAX_FDS; i++) {
		if (i >= g->nfds) {
			FZ_CHECK(fds[i] == -1);
			continue;
		}
		FZ_CHECK(fds[i] >= 0 && fz_same_file(fds[i], g->fds[i]));
		FZ_CHECK(fcntl(fds[i], F_GETFD) == FD_CLOEXEC);
	}
	if (text) {
		FZ_CHECK(text[m->text_len] == '\0');
		FZ_CHECK(!memcmp(text, g->buf + FZ_MSG_SIZE, m->text_len));
	}
}

/* Receive one datagram the way a caller of xl_ctl_recv() would. */
static void fz_recv_one(int rx, const struct fz_dgram *g, size_t text_max,
			bool passcred, int expect)
{
	char *text = text_max ? malloc(text_max) : NULL;
	int fds[XL_CTL_MAX_FDS], want, ret;
	struct xl_ctl_msg m;
	unsigned int i;

	if (text_max && !text)
		abort();
	want = fz_recv_model(g, text_max, passcred);
	memset(&m, 0xee, sizeof(m));
	ret = xl_ctl_recv(rx, &m, fds, text, text_max, MSG_DONTWAIT);
	FZ_CHECK(ret == want);
	if (ret == 0) {
		fz_recv_accepted(g, &m, fds, text);
		xl_ctl_close_fds(fds);
	}
	for (i = 0; i < XL_CTL_MAX_FDS; i++)
		FZ_CHECK(fds[i] == -1);
	/* only what we sent is left: ours to close */
	FZ_CHECK(fz_fd_count() == expect);
	free(text);
}

/* Receive buffer sizes: none, tiny, just enough, the daemon's. */
static size_t fz_text_max(uint32_t sel, const struct fz_dgram *g)
{
	size_t have = g->len > FZ_MSG_SIZE ? g->len - FZ_MSG_SIZE : 0;

	switch (sel % 5) {
	case 0:
		return 0;
	case 1:
		return 1 + sel / 5 % 16;
	case 2:
		return have + 1;
	case 3:
		return have ? have : 1;	/* one byte short */
	default:
		return XL_CTL_MAX_TEXT + 1;
	}
}

static int fz_count_others(const struct fz_dgram *g)
{
	unsigned int i;
	int n = 0;

	for (i = 0; i < g->nfds; i++)
		n += 1 + (g->other[i] >= 0);
	return n;
}

static void fz_recv_step(struct fz_in *in, int tx, int rx, bool passcred,
			 int base)
{
	uint32_t nsel = (uint32_t)fz_take(in, 1);
	uint32_t kinds = (uint32_t)fz_take(in, 4);
	uint32_t tsel = (uint32_t)fz_take(in, 1);
	struct fz_dgram g;
	char *text;
	int fds[XL_CTL_MAX_FDS];
	struct xl_ctl_msg m;
	unsigned int i;

	memset(&g, 0, sizeof(g));
	/* mostly what fits, sometimes past 8, and past the cmsg room */
	g.nfds = (nsel & 0x80) ? nsel % (FZ_MAX_SEND + 1) : nsel % 9;
	g.split = nsel & 0x40;
	g.api = tsel & 0x40;
	for (i = 0; i < g.nfds; i++)
		g.fds[i] = fz_make_fd((kinds >> (i % 16 * 2)) + i,
				      &g.other[i]);
	fz_dgram_fill(in, &g);
	if ((g.api ? fz_dgram_send_api(tx, &g) :
		     fz_dgram_send(tx, &g)) < 0 || !g.sent) {
		/* too big for the socket, and so on: nothing to check */
		fz_dgram_free(&g);
		FZ_CHECK(fz_fd_count() == base);
		return;
	}
	if (tsel & 0x80) {
		/* a caller's mistake is refused before anything is read */
		text = malloc(1);
		FZ_CHECK(xl_ctl_recv(rx, &m, fds, text, 0, MSG_DONTWAIT) ==
			 -EINVAL);
		for (i = 0; i < XL_CTL_MAX_FDS; i++)
			FZ_CHECK(fds[i] == -1);
		free(text);
	}
	fz_recv_one(rx, &g, fz_text_max(tsel & 0x3f, &g), passcred,
		    base + fz_count_others(&g));
	fz_dgram_free(&g);
	FZ_CHECK(fz_fd_count() == base);
}

static void fz_recv(struct fz_in *in)
{
	uint32_t opt = (uint32_t)fz_take(in, 1);
	bool passcred = opt & 1;
	int sv[2], one = 1, base, i, fds[XL_CTL_MAX_FDS];
	struct xl_ctl_msg m;

	base = fz_fd_count();
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (passcred &&
	    setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0)
		abort();
	base += 2;
	/* nothing there yet */
	FZ_CHECK(xl_ctl_recv(sv[1], &m, fds, NULL, 0, MSG_DONTWAIT) ==
		 -EAGAIN);
	for (i = 0; i < FZ_MAX_DGRAMS && in->n; i++)
		fz_recv_step(in, sv[0], sv[1], passcred, base);
	if (opt & 2) {
		/*
		 * The sender hangs up. shutdown() first: close() alone
		 * releases the socket only with the file's last reference,
		 * and anything that briefly holds one (a reader of
		 * /proc/PID/fdinfo, say) then leaves the receiver with
		 * -EAGAIN for a moment. Seen here about once in five million
		 * closes.
		 */
		if (shutdown(sv[0], SHUT_RDWR) < 0)
			abort();
		close(sv[0]);
		FZ_CHECK(xl_ctl_recv(sv[1], &m, fds, NULL, 0, MSG_DONTWAIT) ==
			 -ECONNRESET);
		close(sv[1]);
	} else {
		close(sv[0]);
		close(sv[1]);
	}
	FZ_CHECK(fz_fd_count() == base - 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
	struct fz_in in = { .p = buf, .n = len };

	switch (fz_take(&in, 1) % 4) {
	case 0:
		fz_desc(&in);
		break;
	case 1:
		fz_addr(&in);
		break;
	case 2:
		fz_conf(&in);
		break;
	default:
		fz_recv(&in);
		break;
	}
	return 0;
}
