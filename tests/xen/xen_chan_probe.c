/* SPDX-License-Identifier: MIT */
/*
 * The Xen transport between two guests of a real Xen host (tests/xen).
 *
 * Guest 1 runs "xen_chan_probe a", guest 2 "xen_chan_probe b ADDR". They
 * meet over a plain TCP connection through netfront, which carries the
 * channel descriptors and keeps the two in step; every channel is made by
 * driver/xl_backend_xen.c exactly as the daemon would drive it. Results
 * are lines on stdout, collected from the serial log by run.sh:
 *
 *	XLTEST <name> PASS|FAIL <detail>	a check
 *	XLINFO <text>				a measurement or an observation
 *	XLSYNC <what>				a cue for dom0's init script
 *
 * How this works
 *
 * First each guest checks the machine under the rings: that vector
 * registers survive preemption (glibc's memcpy keeps data in them), and
 * that the stream below passes through the local transport between two of
 * its own threads. Then one Xen channel carries a checksummed stream both
 * ways at once, a 64-byte ping-pong, and end of stream both ways; the same
 * stream and ping-pong then run over TCP between the guests for
 * comparison. Then liveness, one fresh channel each, with one side blocked
 * in xl_chan_recv() while the other side ends: by xl_chan_destroy(), by
 * SIGKILL of the process that offered the grants, by SIGKILL of the
 * process that mapped them, and last by dom0 destroying guest 1 (the cue
 * "XLSYNC destroy-a"). A destroyed domain runs none of its kernel's
 * unmap-notifies, so during that last wait guest 2 also watches every
 * signal a guest can see (xenstore watches and reads, the state of its
 * event channels, the live byte) and reports which of them fired, when.
 *
 * Every delay is measured on one guest's clock: the guests' wallclocks
 * differ by up to a second.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <xenstore.h>
#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/sys/privcmd.h>

#include "xl_barrier.h"
#include "xl_chan.h"
#include "xl_xen_calls.h"

#define CTL_TIMEOUT_MS	90000	/* a control message, TCG-slow peer */
#define IO_TIMEOUT_MS	60000	/* one ring or TCP transfer call */
#define CONNECT_MS	120000	/* guest 2 waits this long for guest 1 */
#define CHUNK		65536u	/* bulk unit: a multiple of 8 */
#define PING_SIZE	64u
#define ACT_DELAY_US	300000	/* the peer is surely asleep by then */
#define POLL_MS		20	/* the observer's sampling period */

enum msg_type {
	M_HELLO = 1,		/* b -> a: b's domid */
	M_DESC,			/* a -> b: struct desc_wire */
	M_ATTACHED,		/* b -> a: xl_chan_attach()'s result */
	M_SYNC,			/* either way: a step is done (a u64) */
	M_RESULT,		/* either way: struct bulk_result */
};

struct msg_hdr {
	uint32_t type;
	uint32_t len;
};

/* A channel descriptor as it travels to guest 2. */
struct desc_wire {
	uint32_t order[2];
	uint32_t domid;
	uint32_t port[2];
	uint32_t nrefs;
	uint32_t refs[XL_XEN_MAX_GRANTS];
};

/* What a sender tells the receiver once its stream is out. */
struct bulk_result {
	int32_t err;
	uint32_t pad;
	uint64_t bytes, sum;
};

struct opts {
	char role;		/* 'a' or 'b' */
	const char *addr;	/* a: listen here, b: connect here */
	uint16_t port;
	uint64_t bytes;		/* bulk stream, each direction */
	unsigned int pings;
	uint32_t order;		/* log2 ring size, each direction */
	unsigned int live_ms;	/* bound for noticing a dead peer */
	unsigned int watch_ms;	/* how long to wait for a destroyed domain */
};

struct probe {
	struct opts o;
	int lfd;		/* a: listening socket */
	int cfd;		/* control connection */
	unsigned int self, peer;	/* domids */
};

static unsigned int nfail;

/* ---- output ---- */

__attribute__((format(printf, 3, 4)))
static void xlt(const char *name, bool ok, const char *fmt, ...)
{
	va_list ap;

	/* one line at a time: several threads report */
	flockfile(stdout);
	printf("XLTEST %s %s ", name, ok ? "PASS" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	funlockfile(stdout);
	if (!ok)
		__atomic_fetch_add(&nfail, 1, __ATOMIC_RELAXED);
}

__attribute__((format(printf, 1, 2)))
static void xli(const char *fmt, ...)
{
	va_list ap;

	flockfile(stdout);
	fputs("XLINFO ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	funlockfile(stdout);
}

/* "-ECONNRESET (Connection reset by peer)" for a result, "N" if >= 0. */
static const char *rstr(long r)
{
	static __thread char buf[96];

	if (r >= 0)
		snprintf(buf, sizeof(buf), "%ld", r);
	else
		snprintf(buf, sizeof(buf), "-%ld (%s)", -r, strerror((int)-r));
	return buf;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double mbit_s(uint64_t bytes, uint64_t ns)
{
	return ns ? (double)bytes * 8e3 / (double)ns : 0;
}

/* ---- TCP and control messages ---- */

/* Move exactly len bytes; -ETIMEDOUT past timeout_ms, -ECONNRESET at end
 * of stream. */
static int io_full(int fd, void *buf, size_t len, bool wr, int timeout_ms)
{
	uint64_t end = mono_ns() + (uint64_t)timeout_ms * 1000000;
	struct pollfd pfd = { .fd = fd, .events = wr ? POLLOUT : POLLIN };
	uint8_t *p = buf;
	ssize_t n;
	int left;

	while (len) {
		left = (int)((end - mono_ns()) / 1000000);
		if (mono_ns() >= end)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, left) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		n = wr ? send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT) :
			 recv(fd, p, len, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int msg_send(int fd, uint32_t type, const void *p, uint32_t len)
{
	struct msg_hdr h = { .type = type, .len = len };
	int ret = io_full(fd, &h, sizeof(h), true, CTL_TIMEOUT_MS);

	if (ret == 0 && len)
		ret = io_full(fd, (void *)p, len, true, CTL_TIMEOUT_MS);
	return ret;
}

/* Receive a message of the given type into p (at most max bytes);
 * returns its length or -errno (-EPROTO: not what we expected). */
static int msg_recv(int fd, uint32_t type, void *p, uint32_t max)
{
	struct msg_hdr h;
	int ret = io_full(fd, &h, sizeof(h), false, CTL_TIMEOUT_MS);

	if (ret < 0)
		return ret;
	if (h.type != type || h.len > max) {
		fprintf(stderr, "xen_chan_probe: got message %u of %u B, "
			"wanted %u of at most %u B\n", h.type, h.len, type,
			max);
		return -EPROTO;
	}
	ret = io_full(fd, p, h.len, false, CTL_TIMEOUT_MS);
	return ret < 0 ? ret : (int)h.len;
}

static int msg_send_u64(int fd, uint32_t type, uint64_t v)
{
	return msg_send(fd, type, &v, sizeof(v));
}

static int msg_recv_u64(int fd, uint32_t type, uint64_t *v)
{
	int ret = msg_recv(fd, type, v, sizeof(*v));

	if (ret >= 0 && ret != (int)sizeof(*v))
		return -EPROTO;
	return ret < 0 ? ret : 0;
}

static int sock_tune(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return -errno;
	return 0;
}

static int tcp_listen(const struct opts *o)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(o->port) };
	int fd, one = 1;

	if (inet_pton(AF_INET, o->addr, &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 4) < 0) {
		int ret = -errno;

		close(fd);
		return ret;
	}
	return fd;
}

static int tcp_accept(int lfd, int timeout_ms)
{
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	int n = poll(&pfd, 1, timeout_ms), fd;

	if (n < 0)
		return -errno;
	if (n == 0)
		return -ETIMEDOUT;
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = sock_tune(fd);
	if (n < 0) {
		close(fd);
		return n;
	}
	return fd;
}

/* Guest 2 boots alongside guest 1: retry until it listens. */
static int tcp_connect(const struct opts *o, int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(o->port) };
	uint64_t end = mono_ns() + (uint64_t)timeout_ms * 1000000;
	int fd, ret;

	if (inet_pton(AF_INET, o->addr, &sa.sin_addr) != 1)
		return -EINVAL;
	for (;;) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		ret = -errno;
		close(fd);
		if (mono_ns() >= end)
			return ret;
		usleep(200000);
	}
	ret = sock_tune(fd);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

/* ---- xenstore ---- */

static int own_domid(unsigned int *domid)
{
	struct xs_handle *h = xs_open(0);
	unsigned int len;
	char *v, *end;
	int ret = 0;

	if (!h)
		return -errno;
	v = xs_read(h, XBT_NULL, "domid", &len);
	if (!v) {
		ret = -errno;
		goto out_close;
	}
	errno = 0;
	*domid = (unsigned int)strtoul(v, &end, 10);
	if (errno || end == v || *end)
		ret = -EPROTO;
	free(v);
out_close:
	xs_close(h);
	return ret;
}

/* ---- channel set-up: side A offers, side B attaches ---- */

static int chan_offer(struct probe *pr, struct xl_chan **out)
{
	struct xl_chan_params prm = {
		.order = { pr->o.order, pr->o.order },
		.peer_domid = pr->peer,
	};
	struct xl_chan_desc d;
	struct desc_wire w;
	struct xl_chan *ch;
	uint64_t res;
	int ret;

	ret = xl_chan_create(&ch, &xl_backend_xen, &prm, &d,
			     XL_CHAN_SPIN_NS_DEFAULT);
	if (ret < 0)
		return ret;
	memset(&w, 0, sizeof(w));
	w.order[0] = d.order[0];
	w.order[1] = d.order[1];
	w.domid = pr->self;
	w.port[0] = d.u.xen.port[0];
	w.port[1] = d.u.xen.port[1];
	w.nrefs = d.u.xen.nrefs;
	memcpy(w.refs, d.u.xen.refs, w.nrefs * sizeof(w.refs[0]));
	xl_chan_desc_release(&d);
	ret = msg_send(pr->cfd, M_DESC, &w,
		       offsetof(struct desc_wire, refs) +
		       w.nrefs * (uint32_t)sizeof(w.refs[0]));
	if (ret == 0)
		ret = msg_recv_u64(pr->cfd, M_ATTACHED, &res);
	if (ret == 0)
		ret = (int)(int64_t)res;
	if (ret < 0) {
		xl_chan_destroy(ch);
		return ret;
	}
	*out = ch;
	return 0;
}

/* Everything B needs from guest 1's message, checked before use. */
static int desc_take(struct probe *pr, struct desc_wire *w)
{
	int n = msg_recv(pr->cfd, M_DESC, w, sizeof(*w));
	size_t head = offsetof(struct desc_wire, refs);

	if (n < 0)
		return n;
	if ((size_t)n < head || w->nrefs > XL_XEN_MAX_GRANTS ||
	    (size_t)n != head + w->nrefs * sizeof(w->refs[0]))
		return -EPROTO;
	return 0;
}

static int chan_take(struct probe *pr, struct xl_chan **out,
		     struct desc_wire *w)
{
	struct xl_chan_desc d = { .kind = XL_BACKEND_XEN, .side = 1 };
	int ret = desc_take(pr, w), sret;

	if (ret < 0)
		return ret;
	d.order[0] = w->order[0];
	d.order[1] = w->order[1];
	d.u.xen.domid = w->domid;
	d.u.xen.port[0] = w->port[0];
	d.u.xen.port[1] = w->port[1];
	d.u.xen.nrefs = w->nrefs;
	d.u.xen.refs = w->refs;
	ret = xl_chan_attach(out, &d, XL_CHAN_SPIN_NS_DEFAULT);
	sret = msg_send_u64(pr->cfd, M_ATTACHED, (uint64_t)(int64_t)ret);
	if (ret == 0 && sret < 0) {
		xl_chan_destroy(*out);
		ret = sret;
	}
	return ret;
}

/* ---- a byte stream over the ring or over TCP ---- */

struct pipe_ops {
	/* all of len, or -errno */
	int (*send)(void *h, const void *buf, size_t len);
	/* some bytes, 0 at end of stream, or -errno */
	ssize_t (*recv)(void *h, void *buf, size_t len);
};

static int ring_send(void *h, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };
	ssize_t n;

	while (iov.iov_len) {
		n = xl_chan_send(h, &iov, 1, 0, IO_TIMEOUT_MS);
		if (n < 0)
			return (int)n;
		iov.iov_base = (uint8_t *)iov.iov_base + n;
		iov.iov_len -= (size_t)n;
	}
	return 0;
}

static ssize_t ring_recv(void *h, void *buf, size_t len)
{
	struct iovec iov = { buf, len };

	return xl_chan_recv(h, &iov, 1, 0, IO_TIMEOUT_MS);
}

static int tcp_send(void *h, const void *buf, size_t len)
{
	return io_full(*(int *)h, (void *)buf, len, true, IO_TIMEOUT_MS);
}

static ssize_t tcp_recv(void *h, void *buf, size_t len)
{
	struct pollfd pfd = { .fd = *(int *)h, .events = POLLIN };
	ssize_t n;
	int r;

	for (;;) {
		r = poll(&pfd, 1, IO_TIMEOUT_MS);
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0 && errno != EINTR)
			return -errno;
		n = recv(pfd.fd, buf, len, MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
	}
}

static const struct pipe_ops ring_ops = { ring_send, ring_recv };
static const struct pipe_ops tcp_ops = { tcp_send, tcp_recv };

/* Fill exactly len bytes, or fail: -ECONNRESET at an early end. */
static int pipe_recv_full(const struct pipe_ops *ops, void *h, void *buf,
			  size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = ops->recv(h, p, len);
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ---- the checksummed stream ---- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The stream of one direction, from byte off (a multiple of 8) on: every
 * 8-byte word depends on the seed and its position, so a byte lost,
 * doubled or moved shows at once. */
static void gen_fill(uint8_t *buf, uint64_t seed, uint64_t off, size_t len)
{
	uint64_t w;
	size_t i;

	for (i = 0; i < len; i += 8) {
		w = mix64(seed ^ ((off + i) >> 3));
		memcpy(buf + i, &w, len - i < 8 ? len - i : 8);
	}
}

/* An order-dependent checksum of the whole stream, kept by both ends. */
static uint64_t sum_add(uint64_t sum, const uint8_t *buf, size_t len)
{
	uint64_t w;
	size_t i;

	for (i = 0; i < len; i += 8) {
		w = 0;
		memcpy(&w, buf + i, len - i < 8 ? len - i : 8);
		sum = (sum ^ w) * 0x100000001b3ull + 0x9e37u;
	}
	return sum;
}

struct half {
	const struct pipe_ops *ops;
	void *h;
	uint64_t seed, bytes;
	uint64_t other_seed;	/* the opposite direction's stream */
	uint64_t ring;		/* ring size, to place a bad run in it */
	/* results */
	int err;
	uint64_t done, sum, ns;
	uint64_t bad_at;	/* first bad byte, or UINT64_MAX */
	uint64_t bad_chunks;	/* chunks with any byte wrong */
	char bad[1024];		/* what the first bad runs were */
};

/* The inverse of mix64(): which word of which stream a bad word is. */
static uint64_t unmix64(uint64_t x)
{
	x = x ^ (x >> 31) ^ (x >> 62);
	x *= 0x319642b2d24d8ec3ull;
	x = x ^ (x >> 27) ^ (x >> 54);
	x *= 0x96de1b173f119089ull;
	x = x ^ (x >> 30) ^ (x >> 60);
	return x - 0x9e3779b97f4a7c15ull;
}

/* Name the stream offset the 8 bytes at w came from, if any. */
static void word_origin(const struct half *hf, const uint8_t *w,
			uint64_t pos, char *out, size_t len)
{
	uint64_t v, idx;

	memcpy(&v, w, sizeof(v));
	if (!v) {
		snprintf(out, len, "zeros");
		return;
	}
	idx = unmix64(v) ^ hf->seed;
	if (idx < (1ull << 40)) {
		snprintf(out, len, "this stream's offset %" PRIu64 " (%+"
			 PRId64 " B, %+.3f rings)", idx * 8,
			 (int64_t)(idx * 8 - pos),
			 ((double)(idx * 8) - (double)pos) / (double)hf->ring);
		return;
	}
	idx = unmix64(v) ^ hf->other_seed;
	if (idx < (1ull << 40)) {
		snprintf(out, len, "the other direction's offset %" PRIu64,
			 idx * 8);
		return;
	}
	snprintf(out, len, "no stream's");
}

#define BAD_SHOWN	3	/* bad runs described in a report */

/*
 * Describe the first run of wrong bytes in a chunk received at stream
 * offset off: where it sits in the ring and in its page, how long it is,
 * and where its first and last word came from (an earlier lap of the
 * ring, the other direction, ...).
 */
static void bad_explain(struct half *hf, const uint8_t *buf,
			const uint8_t *want, size_t n, uint64_t off)
{
	size_t i = 0, j, used = strlen(hf->bad);
	char first[80] = "unaligned", last[80] = "unaligned";
	uint64_t pos;

	while (i < n && buf[i] == want[i])
		i++;
	for (j = i; j < n && buf[j] != want[j]; j++)
		;
	pos = off + i;
	if (hf->bad_at == UINT64_MAX)
		hf->bad_at = pos;
	if (!(pos & 7) && j - i >= 8) {
		word_origin(hf, buf + i, pos, first, sizeof(first));
		word_origin(hf, buf + ((j - 8) & ~(size_t)7),
			    off + ((j - 8) & ~(size_t)7), last, sizeof(last));
	}
	snprintf(hf->bad + used, sizeof(hf->bad) - used, "%s[%zu B at %"
		 PRIu64 ", slot %" PRIu64 ", page offset %" PRIu64
		 ": first word is %s, last %s]", used ? "; " : "", j - i, pos,
		 pos % hf->ring, pos % 4096, first, last);
}

static void *bulk_send(void *arg)
{
	struct half *hf = arg;
	uint8_t *buf = malloc(CHUNK);
	uint64_t t0 = mono_ns();
	size_t n;

	hf->err = buf ? 0 : -ENOMEM;
	while (!hf->err && hf->done < hf->bytes) {
		n = hf->bytes - hf->done < CHUNK ? hf->bytes - hf->done :
						    CHUNK;
		gen_fill(buf, hf->seed, hf->done, n);
		hf->sum = sum_add(hf->sum, buf, n);
		hf->err = hf->ops->send(hf->h, buf, n);
		if (!hf->err)
			hf->done += n;
	}
	hf->ns = mono_ns() - t0;
	free(buf);
	return NULL;
}

static void bulk_recv(struct half *hf)
{
	uint8_t *buf = malloc(CHUNK), *want = malloc(CHUNK);
	uint64_t t0 = mono_ns();
	size_t n;

	hf->err = buf && want ? 0 : -ENOMEM;
	hf->bad_at = UINT64_MAX;
	hf->bad[0] = '\0';
	while (!hf->err && hf->done < hf->bytes) {
		n = hf->bytes - hf->done < CHUNK ? hf->bytes - hf->done :
						    CHUNK;
		hf->err = pipe_recv_full(hf->ops, hf->h, buf, n);
		if (hf->err)
			break;
		gen_fill(want, hf->seed, hf->done, n);
		if (memcmp(buf, want, n) && hf->bad_chunks++ < BAD_SHOWN)
			bad_explain(hf, buf, want, n, hf->done);
		hf->sum = sum_add(hf->sum, buf, n);
		hf->done += n;
	}
	hf->ns = mono_ns() - t0;
	free(want);
	free(buf);
}

/*
 * Both directions at once: a thread sends our stream while this one
 * receives the peer's; then each side tells the other what it sent. name
 * is the check of the direction we receive. Returns -errno only when the
 * two sides may have lost step (control connection, transfer errors).
 */
static int bulk(struct probe *pr, const struct pipe_ops *ops, void *h,
		const char *name)
{
	uint64_t mine_seed = pr->o.role == 'a' ? 0xa2b : 0xb2a;
	uint64_t peer_seed = pr->o.role == 'a' ? 0xb2a : 0xa2b;
	struct half tx = { .ops = ops, .h = h, .bytes = pr->o.bytes,
			   .seed = mine_seed };
	struct half rx = { .ops = ops, .h = h, .bytes = pr->o.bytes,
			   .seed = peer_seed, .other_seed = mine_seed,
			   .ring = 1ull << pr->o.order };
	struct bulk_result mine, theirs;
	pthread_t th;
	bool ok;
	int ret;

	ret = -pthread_create(&th, NULL, bulk_send, &tx);
	if (ret < 0)
		return ret;
	bulk_recv(&rx);
	pthread_join(th, NULL);
	mine = (struct bulk_result){ .err = tx.err, .bytes = tx.done,
				     .sum = tx.sum };
	ret = msg_send(pr->cfd, M_RESULT, &mine, sizeof(mine));
	if (ret == 0)
		ret = msg_recv(pr->cfd, M_RESULT, &theirs, sizeof(theirs));
	if (ret >= 0 && ret != (int)sizeof(theirs))
		ret = -EPROTO;
	if (ret < 0) {
		xlt(name, false, "control connection: %s", rstr(ret));
		return ret;
	}
	ok = !rx.err && rx.done == pr->o.bytes && rx.bad_at == UINT64_MAX &&
	     !theirs.err && theirs.bytes == rx.done && theirs.sum == rx.sum;
	if (ok)
		xlt(name, true, "%" PRIu64 " B exact, sum %016" PRIx64
		    " = sender's, %.1f Mbit/s while sending %.1f Mbit/s the "
		    "other way", rx.done, rx.sum, mbit_s(rx.done, rx.ns),
		    mbit_s(tx.done, tx.ns));
	else
		xlt(name, false, "received %" PRIu64 " of %" PRIu64 " B: %s,"
		    " sum %016" PRIx64 " vs sender's %016" PRIx64 " (sender:"
		    " %s); %" PRIu64 " of %" PRIu64 " chunks wrong: %s",
		    rx.done, pr->o.bytes, rstr(rx.err), rx.sum, theirs.sum,
		    rstr(theirs.err), rx.bad_chunks,
		    (rx.done + CHUNK - 1) / CHUNK,
		    rx.bad_at == UINT64_MAX ? "none" : rx.bad);
	/* wrong bytes leave both sides in step: carry on */
	return rx.err ? rx.err : tx.err;
}

/* ---- ping-pong ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Side A sends 64 bytes and waits for them back, count times; side B
 * echoes. Side A reports the round-trip times. */
static int pingpong(struct probe *pr, const struct pipe_ops *ops, void *h,
		    const char *name)
{
	unsigned int i, n = pr->o.pings, bad = 0;
	uint8_t out[PING_SIZE], in[PING_SIZE];
	uint64_t *rtt = calloc(n ? n : 1, sizeof(*rtt)), t0;
	int ret = rtt ? 0 : -ENOMEM;

	for (i = 0; i < n && !ret; i++) {
		if (pr->o.role == 'b') {
			ret = pipe_recv_full(ops, h, in, sizeof(in));
			if (!ret)
				ret = ops->send(h, in, sizeof(in));
			continue;
		}
		gen_fill(out, 0x9199, (uint64_t)i * PING_SIZE, sizeof(out));
		t0 = mono_ns();
		ret = ops->send(h, out, sizeof(out));
		if (!ret)
			ret = pipe_recv_full(ops, h, in, sizeof(in));
		rtt[i] = mono_ns() - t0;
		bad += memcmp(in, out, sizeof(in)) != 0;
	}
	if (pr->o.role == 'a') {
		qsort(rtt, i, sizeof(*rtt), cmp_u64);
		xlt(name, !ret && !bad && i == n, "%u round trips of %u B "
		    "(%u echoes wrong, %s): median %.1f us, p10 %.1f us, "
		    "p90 %.1f us", i, PING_SIZE, bad, rstr(ret),
		    i ? rtt[i / 2] / 1e3 : 0, i ? rtt[i / 10] / 1e3 : 0,
		    i ? rtt[i * 9 / 10] / 1e3 : 0);
	}
	free(rtt);
	return ret ? ret : bad ? -EIO : 0;
}

static void chan_stats_info(const char *what, const struct xl_chan *ch)
{
	struct xl_chan_stats st;

	xl_chan_get_stats(ch, &st);
	xli("%s: tx %" PRIu64 " B, rx %" PRIu64 " B, %" PRIu64 " kicks, %"
	    PRIu64 " sleeps, %" PRIu64 " waits won by spinning", what,
	    st.tx_bytes, st.rx_bytes, st.notifies, st.sleeps, st.spin_wins);
}

/* ---- phase 1: data over one channel, then over TCP ---- */

/* End of stream both ways: A closes first, B reads EOF, then B. */
static void ring_eof(struct probe *pr, struct xl_chan *ch)
{
	const char *name = pr->o.role == 'a' ? "ring_eof_b2a" : "ring_eof_a2b";
	uint8_t b;
	ssize_t r;
	int ret;

	if (pr->o.role == 'a')
		ret = xl_chan_shutdown_tx(ch);
	else
		ret = 0;
	r = ring_recv(ch, &b, 1);
	if (pr->o.role == 'b')
		ret = xl_chan_shutdown_tx(ch);
	xlt(name, r == 0 && ret == 0, "recv after the peer's shutdown: %s, "
	    "own shutdown: %s", rstr(r), rstr(ret));
}

/* ---- phase 0: the machine under the rings ---- */

#define FPU_THREADS	3
#define FPU_ROUNDS	60
#define FPU_SPIN	2000000ul	/* ALU loop per round: many ticks */

struct fpu_arg {
	uint64_t seed;
	unsigned int bad;
	uint8_t first_bad[16];
};

/*
 * Hold 64 bytes in xmm0-xmm3 through a long loop that touches no vector
 * register, then compare: the kernel and Xen must give them back intact
 * across every preemption in between. glibc's memcpy keeps the head of a
 * large copy in exactly such registers while it copies the rest.
 */
static void *fpu_worker(void *arg)
{
	struct fpu_arg *fa = arg;
	uint64_t in[8], out[8];
	unsigned int r, i;

	for (r = 0; r < FPU_ROUNDS; r++) {
		for (i = 0; i < 8; i++)
			in[i] = mix64(fa->seed + r * 8 + i);
#if defined(__x86_64__)
		__asm__ volatile(
			"movdqu 0(%[in]), %%xmm0\n\t"
			"movdqu 16(%[in]), %%xmm1\n\t"
			"movdqu 32(%[in]), %%xmm2\n\t"
			"movdqu 48(%[in]), %%xmm3\n\t"
			"mov %[n], %%rcx\n"
			"1:\tdec %%rcx\n\t"
			"jnz 1b\n\t"
			"movdqu %%xmm0, 0(%[out])\n\t"
			"movdqu %%xmm1, 16(%[out])\n\t"
			"movdqu %%xmm2, 32(%[out])\n\t"
			"movdqu %%xmm3, 48(%[out])\n\t"
			: : [in] "r"(in), [out] "r"(out), [n] "r"(FPU_SPIN)
			: "rcx", "xmm0", "xmm1", "xmm2", "xmm3", "memory");
#else
		memcpy(out, in, sizeof(out));
#endif
		if (memcmp(in, out, sizeof(in)) && !fa->bad++)
			memcpy(fa->first_bad, out, sizeof(fa->first_bad));
	}
	return NULL;
}

/* Vector registers across preemption, on FPU_THREADS threads at once. */
static int fpu_check(struct probe *pr)
{
	const char *name = pr->o.role == 'a' ? "fpu_state_g1" :
					       "fpu_state_g2";
	struct fpu_arg fa[FPU_THREADS];
	pthread_t th[FPU_THREADS];
	unsigned int bad = 0, nbad = 0;
	uint64_t t0 = mono_ns();
	int i, n, ret = 0;

	for (n = 0; n < FPU_THREADS && !ret; n++) {
		fa[n] = (struct fpu_arg){ .seed = (uint64_t)n << 32 };
		ret = -pthread_create(&th[n], NULL, fpu_worker, &fa[n]);
	}
	n -= ret < 0;
	for (i = 0; i < n; i++) {
		pthread_join(th[i], NULL);
		bad += fa[i].bad;
		nbad += fa[i].bad != 0;
	}
	if (ret < 0) {
		xlt(name, false, "threads: %s", rstr(ret));
		return 0;
	}
	for (i = 0; i < n && !fa[i].bad; i++)
		;
	if (!bad)
		xlt(name, true, "xmm0-3 intact through %d x %u rounds of %lu "
		    "loops (%.1f s)", n, FPU_ROUNDS, FPU_SPIN,
		    (mono_ns() - t0) / 1e9);
	else
		xlt(name, false, "xmm0-3 changed under %u of %d x %u rounds "
		    "(%u threads hit; first seen: %016" PRIx64 "%016" PRIx64
		    ")", bad, n, FPU_ROUNDS, nbad,
		    *(uint64_t *)(void *)(fa[i].first_bad + 8),
		    *(uint64_t *)(void *)fa[i].first_bad);
	return 0;
}

/* ---- phase 0: the same ring inside one guest ---- */

struct local_side {
	struct probe pr;
	struct xl_chan *ch;
	const char *name;
	int ret;
};

static void *local_side_run(void *arg)
{
	struct local_side *ls = arg;

	ls->ret = xl_chan_tx_open(ls->ch, 0);
	if (ls->ret == 0)
		ls->ret = bulk(&ls->pr, &ring_ops, ls->ch, ls->name);
	return NULL;
}

/*
 * The stream of phase 1 over the local transport (memfd, eventfd) between
 * two threads of this guest: the same ring code and the same copies, but
 * no grants and no second domain. Tells a fault of the Xen transport from
 * one of the machine under it.
 */
static int local_bulk(struct probe *pr)
{
	struct xl_chan_params prm = { .order = { pr->o.order, pr->o.order } };
	struct local_side ls[2];
	struct xl_chan_desc d;
	pthread_t th[2];
	int sv[2], i, ret, started = 0;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	for (i = 0; i < 2; i++) {
		ls[i] = (struct local_side){ .pr = *pr, .ch = NULL };
		ls[i].pr.o.role = i ? 'b' : 'a';
		ls[i].pr.cfd = sv[i];
	}
	ls[0].name = pr->o.role == 'a' ? "local_bulk_g1_b2a" :
					 "local_bulk_g2_b2a";
	ls[1].name = pr->o.role == 'a' ? "local_bulk_g1_a2b" :
					 "local_bulk_g2_a2b";
	ret = xl_chan_create(&ls[0].ch, &xl_backend_local, &prm, &d,
			     XL_CHAN_SPIN_NS_DEFAULT);
	if (ret == 0) {
		ret = xl_chan_attach(&ls[1].ch, &d, XL_CHAN_SPIN_NS_DEFAULT);
		xl_chan_desc_release(&d);
		if (ret < 0) {
			xl_chan_destroy(ls[0].ch);
			ls[0].ch = NULL;
		}
	}
	for (started = 0; started < 2 && ret == 0; started++)
		ret = -pthread_create(&th[started], NULL, local_side_run,
				      &ls[started]);
	for (i = 0; i < started - (ret < 0); i++)
		pthread_join(th[i], NULL);
	xl_chan_destroy(ls[1].ch);
	xl_chan_destroy(ls[0].ch);
	close(sv[0]);
	close(sv[1]);
	if (ret < 0)
		xlt(ls[0].name, false, "local channel: %s", rstr(ret));
	return 0;
}

static int phase_data(struct probe *pr)
{
	bool a = pr->o.role == 'a';
	struct desc_wire w;
	struct xl_chan *ch;
	uint64_t v = 0;
	int ret, dfd;

	ret = a ? chan_offer(pr, &ch) : chan_take(pr, &ch, &w);
	if (a)
		xlt("chan_create", ret == 0, "offered to domain %u, %u KiB "
		    "each way: %s", pr->peer, (1u << pr->o.order) >> 10,
		    rstr(ret));
	else
		xlt("chan_attach", ret == 0, "domain %u's %u grants, ports "
		    "%u/%u: %s", w.domid, w.nrefs, w.port[0], w.port[1],
		    rstr(ret));
	if (ret < 0)
		return ret;
	ret = xl_chan_tx_open(ch, 0);
	if (ret == 0)
		ret = bulk(pr, &ring_ops, ch, a ? "ring_bulk_b2a" :
						  "ring_bulk_a2b");
	if (ret == 0)
		ret = pingpong(pr, &ring_ops, ch, "ring_pingpong");
	chan_stats_info(a ? "ring a" : "ring b", ch);
	if (ret == 0)
		ring_eof(pr, ch);
	/* both have read EOF before either side unmaps */
	if (ret == 0)
		ret = msg_send_u64(pr->cfd, M_SYNC, 0);
	if (ret == 0)
		ret = msg_recv_u64(pr->cfd, M_SYNC, &v);
	xl_chan_destroy(ch);
	if (ret < 0)
		return ret;

	dfd = a ? tcp_accept(pr->lfd, CTL_TIMEOUT_MS) :
		  tcp_connect(&pr->o, CTL_TIMEOUT_MS);
	if (dfd < 0) {
		xlt(a ? "tcp_bulk_b2a" : "tcp_bulk_a2b", false,
		    "data connection: %s", rstr(dfd));
		return dfd;
	}
	ret = bulk(pr, &tcp_ops, &dfd, a ? "tcp_bulk_b2a" : "tcp_bulk_a2b");
	if (ret == 0)
		ret = pingpong(pr, &tcp_ops, &dfd, "tcp_pingpong");
	close(dfd);
	return ret;
}

/* ---- phase 2: liveness ---- */

struct blocked {
	ssize_t ret;
	uint64_t ns;		/* how long recv blocked */
	uint64_t end;		/* mono_ns() when it returned */
};

/* Tell the peer we are about to block, then block in xl_chan_recv(). */
static int block_recv(struct probe *pr, struct xl_chan *ch, int timeout_ms,
		      struct blocked *bl)
{
	struct iovec iov;
	uint8_t b;
	uint64_t t0;
	int ret = msg_send_u64(pr->cfd, M_SYNC, 0);

	if (ret < 0)
		return ret;
	iov = (struct iovec){ &b, 1 };
	t0 = mono_ns();
	bl->ret = xl_chan_recv(ch, &iov, 1, 0, timeout_ms);
	bl->end = mono_ns();
	bl->ns = bl->end - t0;
	return 0;
}

/*
 * The two guests' clocks disagree by up to a second here, so the delay is
 * measured on the blocked side alone: its wait spans our cue crossing TCP,
 * the peer's ACT_DELAY_US, and the time it took to notice; the wait less
 * ACT_DELAY_US bounds that last time from above.
 */
static void block_report(struct probe *pr, const char *name,
			 const struct blocked *bl, const char *how)
{
	double bound = bl->ns / 1e6 - ACT_DELAY_US / 1e3;

	xlt(name, bl->ret == -ECONNRESET && bound < pr->o.live_ms,
	    "recv returned %s at most %.1f ms after %s (blocked %.1f ms, "
	    "%d of them before the peer acted)", rstr(bl->ret), bound, how,
	    bl->ns / 1e6, ACT_DELAY_US / 1000);
}

/* Wait until the peer says it blocks, let it fall asleep, then act. */
static int await_blocked(struct probe *pr)
{
	uint64_t v;
	int ret = msg_recv_u64(pr->cfd, M_SYNC, &v);

	if (ret == 0)
		usleep(ACT_DELAY_US);
	return ret;
}

/* L1: A calls xl_chan_destroy() while B is blocked receiving. */
static int live_destroy(struct probe *pr)
{
	struct desc_wire w;
	struct blocked bl;
	struct xl_chan *ch;
	uint64_t v;
	int ret;

	if (pr->o.role == 'a') {
		ret = chan_offer(pr, &ch);
		if (ret < 0)
			return ret;
		ret = await_blocked(pr);
		xl_chan_destroy(ch);
		return ret ? ret : msg_send_u64(pr->cfd, M_SYNC, 0);
	}
	ret = chan_take(pr, &ch, &w);
	if (ret < 0) {
		xlt("live_destroy_a", false, "attach: %s", rstr(ret));
		return ret;
	}
	ret = block_recv(pr, ch, (int)pr->o.live_ms * 4, &bl);
	if (ret == 0)
		ret = msg_recv_u64(pr->cfd, M_SYNC, &v);
	if (ret == 0)
		block_report(pr, "live_destroy_a", &bl,
			     "guest 1's xl_chan_destroy()");
	xl_chan_destroy(ch);
	return ret;
}

/* In a child of ours: set up a channel (offer or attach), tell the
 * parent through fd how it went, and wait to be killed. */
static void __attribute__((noreturn)) child_hold(struct probe *pr, int fd)
{
	struct desc_wire w;
	struct xl_chan *ch;
	int ret;

	ret = pr->o.role == 'a' ? chan_offer(pr, &ch) :
				  chan_take(pr, &ch, &w);
	if (write(fd, &ret, sizeof(ret)) != sizeof(ret))
		_exit(1);
	if (ret < 0)
		_exit(1);
	sleep(120);		/* the parent kills us long before */
	_exit(2);
}

/* Fork a child that holds a channel with the peer; its result. */
static pid_t child_start(struct probe *pr, int *res)
{
	int p[2];
	pid_t pid;

	if (pipe(p) < 0)
		return -errno;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		*res = -errno;
		close(p[0]);
		close(p[1]);
		return *res;
	}
	if (pid == 0) {
		close(p[0]);
		child_hold(pr, p[1]);
	}
	close(p[1]);
	if (read(p[0], res, sizeof(*res)) != sizeof(*res))
		*res = -EPIPE;
	close(p[0]);
	return pid;
}

/*
 * L2 and L3: the process on one side holds a channel and is killed with
 * SIGKILL while the other side is blocked receiving, so only the kernel's
 * unmap-notify can tell. victim: the side whose process dies.
 */
static int live_kill(struct probe *pr, char victim, const char *name,
		     const char *how)
{
	struct desc_wire w;
	struct blocked bl;
	struct xl_chan *ch;
	uint64_t v;
	pid_t pid;
	int ret, res;

	if (pr->o.role == victim) {
		pid = child_start(pr, &res);
		if (pid < 0)
			return pid;
		ret = res < 0 ? res : await_blocked(pr);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return ret ? ret : msg_send_u64(pr->cfd, M_SYNC, 0);
	}
	ret = pr->o.role == 'a' ? chan_offer(pr, &ch) :
				  chan_take(pr, &ch, &w);
	if (ret < 0) {
		xlt(name, false, "set-up: %s", rstr(ret));
		return ret;
	}
	ret = block_recv(pr, ch, (int)pr->o.live_ms * 4, &bl);
	if (ret == 0)
		ret = msg_recv_u64(pr->cfd, M_SYNC, &v);
	if (ret == 0)
		block_report(pr, name, &bl, how);
	xl_chan_destroy(ch);
	return ret;
}

/* ---- phase 3: guest 1 destroyed by dom0 ---- */

/* One of our event-channel ports as Xen sees it. */
struct evs {
	int err;		/* the query's, 0 if it worked */
	uint32_t status;	/* EVTCHNSTAT_* */
	unsigned int dom;	/* remote (interdomain) or allowed (unbound) */
	uint32_t port;		/* remote port (interdomain) */
};

/* EVTCHNOP_status on one of our own ports, through privcmd. */
static struct evs evtchn_query(int privfd, evtchn_port_t port)
{
	/* Xen reads and writes it through our page tables: one locked,
	 * aligned buffer, used by one thread at a time */
	static struct evtchn_status st __attribute__((aligned(64)));
	static bool locked;
	privcmd_hypercall_t hc = {
		.op = __HYPERVISOR_event_channel_op,
		.arg = { EVTCHNOP_status, (uintptr_t)&st },
	};
	struct evs e = { 0 };

	if (!locked && mlock(&st, sizeof(st)) == 0)
		locked = true;
	memset(&st, 0, sizeof(st));
	st.dom = DOMID_SELF;
	st.port = port;
	if (ioctl(privfd, IOCTL_PRIVCMD_HYPERCALL, &hc) < 0) {
		e.err = -errno;
		return e;
	}
	e.status = st.status;
	if (st.status == EVTCHNSTAT_interdomain) {
		e.dom = st.u.interdomain.dom;
		e.port = st.u.interdomain.port;
	} else if (st.status == EVTCHNSTAT_unbound) {
		e.dom = st.u.unbound.dom;
	}
	return e;
}

static const char *evs_str(const struct evs *e)
{
	static const char *const names[] = { "closed", "unbound",
		"interdomain", "pirq", "virq", "ipi" };
	static __thread char buf[64];

	if (e->err)
		return rstr(e->err);
	if (e->status == EVTCHNSTAT_interdomain)
		snprintf(buf, sizeof(buf), "interdomain to %u:%u", e->dom,
			 e->port);
	else if (e->status == EVTCHNSTAT_unbound)
		snprintf(buf, sizeof(buf), "unbound for %u", e->dom);
	else
		snprintf(buf, sizeof(buf), "%s", e->status < 6 ?
			 names[e->status] : "?");
	return buf;
}

#define MAX_SCAN_PORT	4096u

/* Our local ports bound to the remote ports that w names, by w's order
 * (the transport keeps its own to itself); else the first error. */
static int evtchn_find(int privfd, const struct desc_wire *w,
		       evtchn_port_t local[2])
{
	bool found[2] = { false, false };
	int i, err = 0;
	struct evs e;
	evtchn_port_t p;

	for (p = 1; p < MAX_SCAN_PORT && !(found[0] && found[1]); p++) {
		e = evtchn_query(privfd, p);
		if (e.err && !err)
			err = e.err;
		if (e.err == -EPERM || e.err == -EACCES)
			break;
		if (e.err || e.status != EVTCHNSTAT_interdomain ||
		    e.dom != w->domid)
			continue;
		for (i = 0; i < 2; i++) {
			if (e.port == w->port[i]) {
				local[i] = p;
				found[i] = true;
			}
		}
	}
	if (found[0] && found[1])
		return 0;
	return err ? err : -ENOENT;
}

/* What guest 2 can see change when guest 1 is destroyed. */
enum sig_id {
	SIG_RELEASE_WATCH,	/* xenstore watch on @releaseDomain */
	SIG_NODE_WATCH,		/* watch on a node guest 1 made for us */
	SIG_HOME_WATCH,		/* watch on /local/domain/<guest 1> */
	SIG_NODE_READ,		/* reading that node */
	SIG_HOME_READ,		/* reading /local/domain/<guest 1> */
	SIG_INTRODUCED,		/* XS_IS_DOMAIN_INTRODUCED for guest 1 */
	SIG_EVTCHN,		/* our ports' status (EVTCHNOP_status) */
	SIG_NOTIFY,		/* kicking guest 1 (xenevtchn_notify) */
	SIG_LIVE_BYTE,		/* guest 1's live byte in the ring */
	SIG_N
};

static const char *const sig_names[SIG_N] = {
	"xs_watch_releaseDomain", "xs_watch_peer_node", "xs_watch_peer_home",
	"xs_read_peer_node",
	"xs_read_peer_home", "xs_is_domain_introduced", "evtchn_status",
	"evtchn_notify", "ring_live_byte",
};

struct sig {
	bool seen;
	uint64_t t;		/* mono_ns() when first seen */
	char what[112];		/* before -> after, or why never */
};

/* The watch tokens: @releaseDomain, guest 1's node and home, dom0's
 * cues; the first three by enum sig_id. */
enum { TOK_REL, TOK_NODE, TOK_HOME, TOK_CUE, TOK_N };

static const char *const tokens[TOK_N] = { "rel", "node", "home", "cue" };

struct observer {
	struct probe *pr;
	struct xl_chan *ch;
	int privfd;
	evtchn_port_t local[2];
	int ports_err;		/* evtchn_find()'s, 0: local[] valid */
	char node[64], home[32], cue[64], begin[80], end[80];
	uint64_t deadline;	/* mono */
	bool stop;		/* XL_READ_ONCE/XL_WRITE_ONCE */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int armed;		/* 1: watching, < 0: could not start */
	/* mono_ns() when dom0's "xl destroy" began and returned, as told
	 * by its writes to cue/destroy-begin and cue/destroy-end (t_end:
	 * XL_READ_ONCE/XL_WRITE_ONCE, the main thread waits on it) */
	uint64_t t_begin, t_end;
	char end_rc[16];	/* what xl destroy returned */
	struct sig sig[SIG_N];
};

/* The state of each polled source, as short strings. */
struct snap {
	char node[40], home[40], intro[40], ev[2][96], kick[96];
	bool live;
};

static void xs_state(struct xs_handle *h, const char *path, char *out,
		     size_t len)
{
	unsigned int n;
	char *v = xs_read(h, XBT_NULL, path, &n);

	if (v)
		snprintf(out, len, "\"%.*s\"", n > 16 ? 16 : (int)n, v);
	else
		snprintf(out, len, "%s", strerror(errno));
	free(v);
}

static void snap_take(struct observer *ob, struct xs_handle *h,
		      struct snap *s)
{
	struct evs e;
	bool in;
	int i;

	xs_state(h, ob->node, s->node, sizeof(s->node));
	xs_state(h, ob->home, s->home, sizeof(s->home));
	errno = 0;
	in = xs_is_domain_introduced(h, ob->pr->peer);
	if (!in && errno)
		snprintf(s->intro, sizeof(s->intro), "%s", strerror(errno));
	else
		snprintf(s->intro, sizeof(s->intro), "%s",
			 in ? "true" : "false");
	for (i = 0; i < 2; i++) {
		if (ob->ports_err) {
			snprintf(s->ev[i], sizeof(s->ev[i]), "unknown");
			continue;
		}
		e = evtchn_query(ob->privfd, ob->local[i]);
		snprintf(s->ev[i], sizeof(s->ev[i]), "%s", evs_str(&e));
	}
	/* the space sleeper's port: the main thread sleeps on the other */
	snprintf(s->kick, sizeof(s->kick), "%s",
		 rstr(ob->ch->ops->notify(ob->ch, XL_WAIT_SPACE)));
	s->live = XL_READ_ONCE(ob->ch->ctrl->dir[0].p.live) != XL_WIRE_DEAD;
}

static void sig_mark(struct observer *ob, enum sig_id id, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));

static void sig_mark(struct observer *ob, enum sig_id id, const char *fmt,
		     ...)
{
	struct sig *s = &ob->sig[id];
	va_list ap;

	if (s->seen)
		return;
	s->seen = true;
	s->t = mono_ns();
	va_start(ap, fmt);
	vsnprintf(s->what, sizeof(s->what), fmt, ap);
	va_end(ap);
}

/* Compare a fresh sample with the first one. */
static void snap_diff(struct observer *ob, const struct snap *a,
		      const struct snap *b)
{
	int i;

	if (strcmp(a->node, b->node))
		sig_mark(ob, SIG_NODE_READ, "%s -> %s", a->node, b->node);
	if (strcmp(a->home, b->home))
		sig_mark(ob, SIG_HOME_READ, "%s -> %s", a->home, b->home);
	if (strcmp(a->intro, b->intro))
		sig_mark(ob, SIG_INTRODUCED, "%s -> %s", a->intro, b->intro);
	for (i = 0; i < 2; i++)
		if (strcmp(a->ev[i], b->ev[i]))
			sig_mark(ob, SIG_EVTCHN, "port %u: %s -> %s",
				 ob->local[i], a->ev[i], b->ev[i]);
	if (strcmp(a->kick, b->kick))
		sig_mark(ob, SIG_NOTIFY, "%s -> %s", a->kick, b->kick);
	if (a->live && !b->live)
		sig_mark(ob, SIG_LIVE_BYTE, "LIVE -> DEAD");
}

/* dom0's cue nodes: note when each first holds a value. */
static void cue_read(struct observer *ob, struct xs_handle *h)
{
	unsigned int n;
	char *v;

	if (!ob->t_begin) {
		v = xs_read(h, XBT_NULL, ob->begin, &n);
		if (v && n)
			ob->t_begin = mono_ns();
		free(v);
	}
	if (!ob->t_end) {
		v = xs_read(h, XBT_NULL, ob->end, &n);
		if (v && n) {
			XL_WRITE_ONCE(ob->t_end, mono_ns());
			snprintf(ob->end_rc, sizeof(ob->end_rc), "%.*s",
				 n > 8 ? 8 : (int)n, v);
		}
		free(v);
	}
}

/* Watch events. A watch fires once when it is set, which says nothing:
 * seen[] counts those first ones away. */
static void watch_events(struct observer *ob, struct xs_handle *h,
			 int seen[TOK_N])
{
	char **ev;
	int t;

	while ((ev = xs_check_watch(h))) {
		for (t = 0; t < TOK_N; t++)
			if (!strcmp(ev[XS_WATCH_TOKEN], tokens[t]))
				break;
		if (t == TOK_CUE)
			cue_read(ob, h);
		else if (t < TOK_N && seen[t]++ > 0)
			sig_mark(ob, (enum sig_id)t, "fired (%s)",
				 ev[XS_WATCH_PATH]);
		free(ev);
	}
}

static void observer_armed(struct observer *ob, int v)
{
	pthread_mutex_lock(&ob->lock);
	ob->armed = v;
	pthread_cond_broadcast(&ob->cond);
	pthread_mutex_unlock(&ob->lock);
}

/* Make dom0's cue nodes (ours, so that guest 2 may read what dom0
 * writes there) and set the watches. */
static bool observer_watch(struct observer *ob, struct xs_handle *h)
{
	const char *path[TOK_N] = { "@releaseDomain", ob->node, ob->home,
				    ob->cue };
	int t;

	if (!xs_write(h, XBT_NULL, ob->begin, "", 0) ||
	    !xs_write(h, XBT_NULL, ob->end, "", 0) ||
	    !xs_watch(h, ob->cue, tokens[TOK_CUE]))
		return false;
	for (t = 0; t < TOK_CUE; t++) {
		if (xs_watch(h, path[t], tokens[t]))
			continue;
		/* a refusal is a finding, not a change: noted, unseen */
		snprintf(ob->sig[t].what, sizeof(ob->sig[0].what),
			 "(xs_watch refused: %s)", strerror(errno));
	}
	return true;
}

static void snap_info(const char *when, const struct snap *s)
{
	xli("live_domain_a %s: node %s, home %s, introduced %s, ports %s / "
	    "%s, notify %s, live byte %s", when, s->node, s->home, s->intro,
	    s->ev[0], s->ev[1], s->kick, s->live ? "LIVE" : "DEAD");
}

static void *observer_run(void *arg)
{
	struct observer *ob = arg;
	struct xs_handle *h = xs_open(0);
	int seen[TOK_N] = { 0 };
	struct snap first, now;
	struct pollfd pfd;

	if (!h || !observer_watch(ob, h)) {
		fprintf(stderr, "xen_chan_probe: xenstore: %s\n",
			strerror(errno));
		observer_armed(ob, -1);
		if (h)
			xs_close(h);
		return NULL;
	}
	snap_take(ob, h, &first);
	now = first;
	snap_info("before", &first);
	observer_armed(ob, 1);
	pfd = (struct pollfd){ .fd = xs_fileno(h), .events = POLLIN };
	while (!XL_READ_ONCE(ob->stop) && mono_ns() < ob->deadline) {
		if (poll(&pfd, 1, POLL_MS) > 0)
			watch_events(ob, h, seen);
		snap_take(ob, h, &now);
		snap_diff(ob, &first, &now);
	}
	snap_info("after", &now);
	xs_close(h);
	return NULL;
}

/* Guest 1: make a node only guest 2 may read, for guest 2 to watch. */
static int peer_node_make(struct probe *pr)
{
	struct xs_permissions perms[2] = {
		{ .id = pr->self, .perms = XS_PERM_NONE },
		{ .id = pr->peer, .perms = XS_PERM_READ },
	};
	struct xs_handle *h = xs_open(0);
	char path[64];

	if (!h)
		return -errno;
	snprintf(path, sizeof(path), "/local/domain/%u/data/xlprobe-alive",
		 pr->self);
	if (!xs_write(h, XBT_NULL, path, "1", 1) ||
	    !xs_set_permissions(h, XBT_NULL, path, perms, 2))
		return -errno;
	/* kept open: the node lives as long as this domain does */
	return 0;
}

/* "+1234.5 ms after xl destroy began, -120.0 ms after it returned" */
static const char *when(const struct observer *ob, uint64_t t)
{
	static __thread char buf[96];

	snprintf(buf, sizeof(buf), "%+.1f ms after xl destroy began, %+.1f "
		 "ms after it returned", ((double)t - ob->t_begin) / 1e6,
		 ((double)t - ob->t_end) / 1e6);
	return buf;
}

/* Every signal, and whether one came in time. */
static void signals_report(struct probe *pr, struct observer *ob)
{
	int i, first = -1;

	for (i = 0; i < SIG_N; i++) {
		struct sig *s = &ob->sig[i];

		if (!s->seen) {
			xli("live_domain_a signal %s: nothing %s", sig_names[i],
			    s->what[0] ? s->what : "changed");
			continue;
		}
		xli("live_domain_a signal %s: %s, %s", sig_names[i], s->what,
		    when(ob, s->t));
		if (first < 0 || s->t < ob->sig[first].t)
			first = i;
	}
	if (first >= 0 &&
	    (double)ob->sig[first].t - ob->t_end < pr->o.live_ms * 1e6)
		xlt("live_domain_signal", true, "first sign: %s (%s), %s",
		    sig_names[first], ob->sig[first].what,
		    when(ob, ob->sig[first].t));
	else
		xlt("live_domain_signal", false, "guest 2 saw no sign of guest"
		    " 1's end within %u ms after xl destroy returned",
		    pr->o.live_ms);
}

/* Has dom0's xl destroy returned more than ms milliseconds ago? */
static bool destroy_past(struct observer *ob, unsigned int ms)
{
	uint64_t end = XL_READ_ONCE(ob->t_end);

	return end && mono_ns() > end + ms * 1000000ull;
}

/*
 * Block receiving until guest 1's end shows or live_ms have passed since
 * xl destroy returned (it takes seconds here: a single timeout from the
 * cue could run out before the domain is even gone), then give the slower
 * signals time to come too.
 */
static void live_domain_wait(struct probe *pr, struct observer *ob,
			     struct blocked *bl)
{
	struct iovec iov;
	uint8_t b;
	uint64_t t0;

	printf("XLSYNC destroy-a\n");
	fflush(stdout);
	iov = (struct iovec){ &b, 1 };
	t0 = mono_ns();
	do {
		bl->ret = xl_chan_recv(ob->ch, &iov, 1, 0, POLL_MS * 10);
	} while (bl->ret == -ETIMEDOUT && mono_ns() < ob->deadline &&
		 !destroy_past(ob, pr->o.live_ms + 1000));
	bl->end = mono_ns();
	bl->ns = bl->end - t0;
	while (mono_ns() < ob->deadline && !destroy_past(ob, 3000))
		usleep(50000);
}

static void live_domain_paths(struct observer *ob, unsigned int self,
			      unsigned int peer)
{
	snprintf(ob->node, sizeof(ob->node),
		 "/local/domain/%u/data/xlprobe-alive", peer);
	snprintf(ob->home, sizeof(ob->home), "/local/domain/%u", peer);
	snprintf(ob->cue, sizeof(ob->cue), "/local/domain/%u/data/xlprobe",
		 self);
	snprintf(ob->begin, sizeof(ob->begin), "%s/destroy-begin", ob->cue);
	snprintf(ob->end, sizeof(ob->end), "%s/destroy-end", ob->cue);
}

/* Guest 2, blocked receiving while dom0 destroys guest 1. */
static int live_domain_b(struct probe *pr)
{
	struct observer ob = { .pr = pr, .privfd = -1,
			       .lock = PTHREAD_MUTEX_INITIALIZER,
			       .cond = PTHREAD_COND_INITIALIZER };
	struct blocked bl = { .ret = 0 };
	struct desc_wire w;
	pthread_t th;
	uint64_t t0, v;
	int ret;

	ret = chan_take(pr, &ob.ch, &w);
	if (ret < 0) {
		xlt("live_domain_a", false, "attach: %s", rstr(ret));
		return ret;
	}
	ob.privfd = open("/dev/xen/privcmd", O_RDWR | O_CLOEXEC);
	ob.ports_err = ob.privfd < 0 ? -errno :
		       evtchn_find(ob.privfd, &w, ob.local);
	if (ob.ports_err)
		snprintf(ob.sig[SIG_EVTCHN].what, sizeof(ob.sig[0].what),
			 "(cannot query: %s %s)", ob.privfd < 0 ?
			 "opening /dev/xen/privcmd:" :
			 "EVTCHNOP_status through privcmd:",
			 rstr(ob.ports_err));
	live_domain_paths(&ob, pr->self, pr->peer);
	ret = msg_recv_u64(pr->cfd, M_SYNC, &v);
	if (ret < 0)
		goto out_destroy;
	ob.deadline = mono_ns() + (pr->o.watch_ms + 5000ull) * 1000000;
	ret = -pthread_create(&th, NULL, observer_run, &ob);
	if (ret < 0)
		goto out_destroy;
	pthread_mutex_lock(&ob.lock);
	while (!ob.armed)
		pthread_cond_wait(&ob.cond, &ob.lock);
	pthread_mutex_unlock(&ob.lock);
	if (ob.armed > 0)
		live_domain_wait(pr, &ob, &bl);
	XL_WRITE_ONCE(ob.stop, true);
	pthread_join(th, NULL);
	if (ob.armed < 0 || !ob.t_begin || !ob.t_end) {
		xlt("live_domain_a", false, "%s", ob.armed < 0 ?
		    "could not watch xenstore" :
		    "dom0 never said it destroyed guest 1");
		ret = -EPROTO;
		goto out_destroy;
	}
	xlt("live_domain_a", bl.ret == -ECONNRESET &&
	    (double)bl.end - ob.t_end < pr->o.live_ms * 1e6,
	    "recv returned %s %s (xl destroy returned %s)", rstr(bl.ret),
	    when(&ob, bl.end), ob.end_rc);
	signals_report(pr, &ob);
out_destroy:
	t0 = mono_ns();
	xl_chan_destroy(ob.ch);
	xli("xl_chan_destroy() after guest 1's end took %.1f ms",
	    (mono_ns() - t0) / 1e6);
	printf("XLSYNC released\n");
	fflush(stdout);
	if (ob.privfd >= 0)
		close(ob.privfd);
	return ret;
}

/* Guest 1: offer a channel and a node, then wait to be destroyed. */
static int live_domain_a(struct probe *pr)
{
	struct xl_chan *ch;
	unsigned int i;
	int ret;

	ret = chan_offer(pr, &ch);
	if (ret < 0)
		return ret;
	ret = peer_node_make(pr);
	if (ret < 0)
		xli("guest 1 could not make its node for guest 2: %s",
		    rstr(ret));
	ret = msg_send_u64(pr->cfd, M_SYNC, 0);
	if (ret < 0)
		return ret;
	xli("guest 1 holds a channel and waits to be destroyed");
	for (i = 0; i < pr->o.watch_ms / 1000 + 60; i++)
		sleep(1);
	xlt("live_domain_a_gone", false, "guest 1 is still running");
	xl_chan_destroy(ch);
	return -ETIMEDOUT;
}

/* ---- main ---- */

static int meet(struct probe *pr)
{
	uint64_t v;
	int ret;

	if (pr->o.role == 'a') {
		pr->lfd = tcp_listen(&pr->o);
		if (pr->lfd < 0)
			return pr->lfd;
		pr->cfd = tcp_accept(pr->lfd, CONNECT_MS);
	} else {
		pr->cfd = tcp_connect(&pr->o, CONNECT_MS);
	}
	if (pr->cfd < 0)
		return pr->cfd;
	ret = msg_send_u64(pr->cfd, M_HELLO, pr->self);
	if (ret == 0)
		ret = msg_recv_u64(pr->cfd, M_HELLO, &v);
	if (ret < 0)
		return ret;
	if (v >= DOMID_FIRST_RESERVED || v == pr->self)
		return -EPROTO;
	pr->peer = (unsigned int)v;
	return 0;
}

static int run(struct probe *pr)
{
	bool a = pr->o.role == 'a';
	int ret;

	ret = fpu_check(pr);
	if (ret == 0)
		ret = local_bulk(pr);
	if (ret == 0)
		ret = phase_data(pr);
	if (ret == 0)
		ret = live_destroy(pr);
	if (ret == 0)
		ret = live_kill(pr, 'a', "live_kill_a",
				"guest 1's process got SIGKILL");
	if (ret == 0)
		ret = live_kill(pr, 'b', "live_kill_b",
				"guest 2's process got SIGKILL");
	if (ret == 0)
		ret = a ? live_domain_a(pr) : live_domain_b(pr);
	return ret;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: xen_chan_probe a|b [-l ADDR] [-p PORT] [-n BYTES] "
		"[-k PINGS]\n"
		"                      [-o ORDER] [-L LIVE_MS] [-W WATCH_MS]\n"
		"  a: guest 1, listens on ADDR; b: guest 2, connects to it\n");
	exit(2);
}

static unsigned long num(const char *s, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "xen_chan_probe: bad number \"%s\" (want "
			"%lu..%lu)\n", s, lo, hi);
		exit(2);
	}
	return v;
}

static void opts_parse(struct opts *o, int argc, char **argv)
{
	int c;

	*o = (struct opts){ .addr = "198.18.0.1", .port = 5000,
			    .bytes = 8u << 20, .pings = 1000, .order = 18,
			    .live_ms = 2000, .watch_ms = 30000 };
	if (argc < 2 || (strcmp(argv[1], "a") && strcmp(argv[1], "b")))
		usage();
	o->role = argv[1][0];
	optind = 2;
	while ((c = getopt(argc, argv, "l:p:n:k:o:L:W:")) != -1) {
		switch (c) {
		case 'l':
			o->addr = optarg;
			break;
		case 'p':
			o->port = (uint16_t)num(optarg, 1, 65535);
			break;
		case 'n':
			o->bytes = num(optarg, 1, 1ul << 34);
			break;
		case 'k':
			o->pings = (unsigned int)num(optarg, 1, 1000000);
			break;
		case 'o':
			/* 1 MiB each way: XL_XEN_MAX_GRANTS */
			o->order = (uint32_t)num(optarg, XL_WIRE_MIN_ORDER, 20);
			break;
		case 'L':
			o->live_ms = (unsigned int)num(optarg, 10, 600000);
			break;
		case 'W':
			o->watch_ms = (unsigned int)num(optarg, 100, 600000);
			break;
		default:
			usage();
		}
	}
}

int main(int argc, char **argv)
{
	struct probe pr = { .lfd = -1, .cfd = -1 };
	int ret;

	opts_parse(&pr.o, argc, argv);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	ret = own_domid(&pr.self);
	if (ret < 0) {
		xlt(pr.o.role == 'a' ? "chan_create" : "chan_attach", false,
		    "reading our domid from xenstore: %s", rstr(ret));
		return 1;
	}
	ret = meet(&pr);
	if (ret < 0) {
		xlt(pr.o.role == 'a' ? "chan_create" : "chan_attach", false,
		    "no control connection with the other guest: %s",
		    rstr(ret));
		return 1;
	}
	xli("guest %c is domain %u, its peer domain %u", pr.o.role, pr.self,
	    pr.peer);
	ret = run(&pr);
	if (ret < 0)
		xli("guest %c stopped early: %s", pr.o.role, rstr(ret));
	return ret < 0 || nfail ? 1 : 0;
}
