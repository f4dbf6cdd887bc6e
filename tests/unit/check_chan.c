/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the channel (driver/xl_chan.h) over the local transport.
 *
 * Most cases run both sides in one process: side A creates, side B
 * attaches with the descriptor, and helper threads play the peer where a
 * call has to block. The fdpass and stress cases move the descriptor over
 * a real Unix socket with SCM_RIGHTS, the stress case into a forked child
 * that verifies every byte of ten million messages. Children report by
 * exit status and over the channel itself, never with ck_assert (which
 * belongs to the test process).
 *
 * Every byte sent is a function of its stream offset (pat_fill()), so the
 * receiver checks it without sharing state with the sender.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xl_backend.h"
#include "xl_chan.h"

/* The channel's counters, by value. */
static struct xl_chan_stats chan_stats(const struct xl_chan *ch)
{
	struct xl_chan_stats st;

	xl_chan_get_stats(ch, &st);
	return st;
}

/* ---- the byte stream (as in check_ring.c) ---- */

static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Stream offset p holds byte p % 8 (little-endian) of mix64(p / 8). */
static void pat_fill(uint8_t *buf, uint64_t pos, size_t n)
{
	while (n) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		for (; !(pos & 7) && n >= 8; buf += 8, pos += 8, n -= 8) {
			uint64_t word = mix64(pos >> 3);

			memcpy(buf, &word, 8);
		}
		if (!n)
			break;
#endif
		uint64_t w = mix64(pos >> 3) >> ((pos & 7) * 8);
		size_t k = 8 - (pos & 7);

		if (k > n)
			k = n;
		for (size_t j = 0; j < k; j++, w >>= 8)
			buf[j] = (uint8_t)w;
		buf += k;
		pos += k;
		n -= k;
	}
}

/* Index of the first byte of buf that is not the stream at pos, or n. */
static size_t pat_mismatch(const uint8_t *buf, uint64_t pos, size_t n)
{
	uint8_t want[256];
	size_t done = 0, k, j;

	while (done < n) {
		k = n - done < sizeof(want) ? n - done : sizeof(want);
		pat_fill(want, pos + done, k);
		if (memcmp(want, buf + done, k)) {
			for (j = 0; want[j] == buf[done + j]; j++)
				;
			return done + j;
		}
		done += k;
	}
	return n;
}

#define ck_assert_pat(buf, pos, n) \
	ck_assert_uint_eq(pat_mismatch((buf), (pos), (n)), (n))

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t ms_since(uint64_t t0)
{
	return (now_ns() - t0) / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static ssize_t csend(struct xl_chan *ch, const void *p, size_t n,
		     unsigned int flags, int timeout_ms)
{
	struct iovec iov = { (void *)p, n };

	return xl_chan_send(ch, &iov, 1, flags, timeout_ms);
}

static ssize_t crecv(struct xl_chan *ch, void *p, size_t n, unsigned int flags,
		     int timeout_ms)
{
	struct iovec iov = { p, n };

	return xl_chan_recv(ch, &iov, 1, flags, timeout_ms);
}

/* ---- descriptors over a Unix socket ---- */

/* What travels beside the fds: the plain fields of a local descriptor. */
struct desc_msg {
	uint32_t kind, side, order[2];
};

/* memfd, the four eventfds (efd[s][w] in order), hup */
#define DESC_NFDS 6

static int send_desc(int sock, const struct xl_chan_desc *d)
{
	int fds[DESC_NFDS] = { d->u.local.memfd,
			       d->u.local.efd[0][0], d->u.local.efd[0][1],
			       d->u.local.efd[1][0], d->u.local.efd[1][1],
			       d->u.local.hup };
	struct desc_msg m = { d->kind, d->side, { d->order[0], d->order[1] } };
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);

	memset(u.buf, 0, sizeof(u.buf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(m))
		return -errno ? -errno : -EIO;
	return 0;
}

/* Receive a descriptor, waiting at most timeout_ms. The fds are new in
 * this process; the caller owns them (xl_chan_desc_release()). */
static int recv_desc(int sock, struct xl_chan_desc *d, int timeout_ms)
{
	int fds[DESC_NFDS];
	struct desc_msg m;
	union {
		char buf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	struct cmsghdr *c;
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return -ETIMEDOUT;
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	c = CMSG_FIRSTHDR(&mh);
	if (n != sizeof(m) || !c || c->cmsg_level != SOL_SOCKET ||
	    c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(fds)) ||
	    (mh.msg_flags & MSG_CTRUNC))
		return -EPROTO;
	memcpy(fds, CMSG_DATA(c), sizeof(fds));
	memset(d, 0, sizeof(*d));
	d->kind = m.kind;
	d->side = m.side;
	d->order[0] = m.order[0];
	d->order[1] = m.order[1];
	d->u.local.memfd = fds[0];
	d->u.local.efd[0][0] = fds[1];
	d->u.local.efd[0][1] = fds[2];
	d->u.local.efd[1][0] = fds[3];
	d->u.local.efd[1][1] = fds[4];
	d->u.local.hup = fds[5];
	return 0;
}

/* ---- fixture: side A and side B of one channel in this process ---- */

struct chan_fx {
	struct xl_chan *a, *b;
	struct xl_chan_desc desc;
	bool desc_held;
	int sock[2];
	pid_t child;
	uint8_t *buf, *buf2;
};

#define FX_BUF (1u << 20)

static struct chan_fx cf;

static void fx_setup(void)
{
	memset(&cf, 0, sizeof(cf));
	cf.sock[0] = cf.sock[1] = -1;
	cf.buf = malloc(FX_BUF);
	cf.buf2 = malloc(FX_BUF);
	ck_assert(cf.buf && cf.buf2);
}

static void fx_teardown(void)
{
	int status;

	if (cf.child > 0) {
		kill(cf.child, SIGKILL);
		waitpid(cf.child, &status, 0);
	}
	xl_chan_destroy(cf.a);
	xl_chan_destroy(cf.b);
	if (cf.desc_held)
		xl_chan_desc_release(&cf.desc);
	if (cf.sock[0] >= 0)
		close(cf.sock[0]);
	if (cf.sock[1] >= 0)
		close(cf.sock[1]);
	free(cf.buf);
	free(cf.buf2);
	memset(&cf, 0, sizeof(cf));
}

/* A creates (orders o0 for A->B, o1 for B->A), B attaches, the
 * descriptor is let go so that only the two channels hold the fds. */
static void pair_make(uint32_t o0, uint32_t o1, uint32_t spin_a,
		      uint32_t spin_b)
{
	struct xl_chan_params p = { .order = { o0, o1 } };

	ck_assert_int_eq(xl_chan_create(&cf.a, &xl_backend_local, &p,
					&cf.desc, spin_a), 0);
	cf.desc_held = true;
	ck_assert_int_eq(xl_chan_attach(&cf.b, &cf.desc, spin_b), 0);
	xl_chan_desc_release(&cf.desc);
	cf.desc_held = false;
}

#define A_START 1000ull
#define B_START (1ull << 40)

/* The usual pair: 4 KiB A->B, 8 KiB B->A, both directions open. */
static void pair_std(uint32_t spin_a, uint32_t spin_b)
{
	pair_make(12, 13, spin_a, spin_b);
	ck_assert_int_eq(xl_chan_tx_open(cf.a, A_START), 0);
	ck_assert_int_eq(xl_chan_tx_open(cf.b, B_START), 0);
}

/* ---- helper threads: a peer that acts later ---- */

struct peer_op {
	struct xl_chan *ch;
	int op;				/* PEER_* */
	unsigned int delay_ms;
	uint64_t pos;			/* stream offset of byte 0 */
	size_t len;
	size_t chunk;			/* PEER_SEND: per call (3000) */
	unsigned int flags;
	int timeout_ms;
	/* results */
	ssize_t ret;
	uint64_t done;			/* bytes moved */
	uint64_t ms;			/* how long the call took */
	size_t bad;			/* recv: first wrong byte, or len */
	pthread_t th;
};

enum {
	PEER_SEND,		/* len bytes in chunks, delay_ms before each */
	PEER_RECV,		/* recv until len bytes, EOF or error */
	PEER_RECV_ONCE,		/* one recv call of len bytes */
	PEER_SEND_ONCE,		/* one send call of len bytes */
	PEER_SHUT_TX,
	PEER_SHUT_RX,
	PEER_DESTROY,
	PEER_KILL_LIVE,		/* clear the live byte, no kick */
};

static void peer_send(struct peer_op *op)
{
	size_t chunk = op->chunk ? op->chunk : 3000;
	uint8_t *buf = malloc(chunk);
	ssize_t n;

	if (!buf) {
		op->ret = -ENOMEM;
		return;
	}
	while (op->done < op->len) {
		size_t k = op->len - op->done < chunk ? op->len - op->done :
							chunk;

		if (op->delay_ms)
			sleep_ms(op->delay_ms);
		pat_fill(buf, op->pos + op->done, k);
		n = csend(op->ch, buf, k, op->flags, op->timeout_ms);
		if (n < 0) {
			op->ret = n;
			break;
		}
		op->done += (uint64_t)n;
	}
	free(buf);
}

static void peer_send_once(struct peer_op *op)
{
	uint8_t *buf = malloc(op->len);

	if (!buf) {
		op->ret = -ENOMEM;
		return;
	}
	pat_fill(buf, op->pos, op->len);
	op->ret = csend(op->ch, buf, op->len, op->flags, op->timeout_ms);
	free(buf);
}

static void peer_recv(struct peer_op *op)
{
	uint8_t *buf = malloc(op->len ? op->len : 1);
	ssize_t n;

	op->bad = op->len;
	if (!buf) {
		op->ret = -ENOMEM;
		return;
	}
	while (op->done < op->len) {
		n = crecv(op->ch, buf + op->done, op->len - op->done, op->flags,
			  op->timeout_ms);
		if (n <= 0) {
			op->ret = n;
			break;
		}
		op->done += (uint64_t)n;
		if (op->op == PEER_RECV_ONCE)
			break;
	}
	if (pat_mismatch(buf, op->pos, op->done) != op->done)
		op->bad = pat_mismatch(buf, op->pos, op->done);
	free(buf);
}

static void *peer_main(void *arg)
{
	struct peer_op *op = arg;
	uint64_t t0;

	if (op->op != PEER_SEND && op->delay_ms)
		sleep_ms(op->delay_ms);
	t0 = now_ns();
	switch (op->op) {
	case PEER_SEND:
		peer_send(op);
		break;
	case PEER_SEND_ONCE:
		peer_send_once(op);
		break;
	case PEER_RECV:
	case PEER_RECV_ONCE:
		peer_recv(op);
		break;
	case PEER_SHUT_TX:
		op->ret = xl_chan_shutdown_tx(op->ch);
		break;
	case PEER_SHUT_RX:
		op->ret = xl_chan_shutdown_rx(op->ch);
		break;
	case PEER_DESTROY:
		xl_chan_destroy(op->ch);
		break;
	case PEER_KILL_LIVE:
		__atomic_store_n(&op->ch->ctrl->dir[op->ch->side].p.live,
				 XL_WIRE_DEAD, __ATOMIC_SEQ_CST);
		break;
	}
	op->ms = ms_since(t0);
	return NULL;
}

static void peer_start(struct peer_op *op)
{
	ck_assert_int_eq(pthread_create(&op->th, NULL, peer_main, op), 0);
}

static void peer_join(struct peer_op *op)
{
	ck_assert_int_eq(pthread_join(op->th, NULL), 0);
}

/* ---- core ---- */

START_TEST(test_create_attach)
{
	struct xl_chan_params p = { .order = { 12, 13 } };
	struct xl_chan *x = NULL;
	struct pollfd pfd[4];
	uint64_t so = 0;

	ck_assert_int_eq(xl_chan_create(&cf.a, &xl_backend_local, &p, &cf.desc,
					XL_CHAN_SPIN_NS_DEFAULT), 0);
	cf.desc_held = true;
	ck_assert_uint_eq(cf.desc.kind, XL_BACKEND_LOCAL);
	ck_assert_uint_eq(cf.desc.side, 1);
	ck_assert_uint_eq(cf.desc.order[0], 12);
	ck_assert_uint_eq(cf.desc.order[1], 13);
	ck_assert_ptr_eq(xl_backend_get(XL_BACKEND_LOCAL), &xl_backend_local);
	ck_assert_uint_eq(cf.a->side, 0);
	ck_assert_int_eq(xl_chan_attach(&cf.b, &cf.desc, 0), 0);
	ck_assert_uint_eq(cf.b->side, 1);
	ck_assert_uint_eq(cf.b->order[0], 12);
	ck_assert_uint_eq(cf.b->order[1], 13);
	/* a second attacher can map the same descriptor, then it goes */
	ck_assert_int_eq(xl_chan_attach(&x, &cf.desc, 0), 0);
	xl_chan_forget(x);
	xl_chan_desc_release(&cf.desc);
	cf.desc_held = false;

	ck_assert(xl_chan_tx_peer_attached(cf.a));
	ck_assert(xl_chan_tx_peer_attached(cf.b));
	ck_assert(xl_chan_peer_live(cf.a));
	ck_assert(xl_chan_peer_live(cf.b));
	for (int w = XL_WAIT_DATA; w <= XL_WAIT_SPACE; w++) {
		ck_assert_int_eq(xl_chan_pollfds(cf.a, w, pfd, 4), 2);
		ck_assert_int_ge(pfd[0].fd, 0);
		ck_assert_int_ge(pfd[1].fd, 0);
		ck_assert_int_eq(xl_chan_pollfds(cf.b, w, pfd, 4), 2);
		/* nothing pending: acking everything is harmless */
		ck_assert_int_eq(xl_chan_ack(cf.b, w, NULL, 0), 0);
	}

	/* nothing flows before the producer opens */
	ck_assert_int_eq(xl_chan_rx_started(cf.b, &so), 0);
	ck_assert_int_eq(csend(cf.a, "x", 1, 0, 0), -ENOTCONN);
	ck_assert_int_eq(xl_chan_shutdown_tx(cf.a), -ENOTCONN);
	ck_assert_int_eq(crecv(cf.b, cf.buf, 1, XL_CHAN_NONBLOCK, 0), -EAGAIN);
	ck_assert_int_eq(xl_chan_tx_open(cf.a, A_START), 0);
	ck_assert_int_eq(xl_chan_tx_open(cf.a, A_START), -EALREADY);
	ck_assert_int_eq(xl_chan_rx_started(cf.b, &so), 1);
	ck_assert_uint_eq(so, A_START);
	ck_assert_int_eq(xl_chan_rx_started(cf.a, &so), 0);
	ck_assert_int_eq(xl_chan_tx_open(cf.b, B_START), 0);
	ck_assert_int_eq(xl_chan_rx_started(cf.a, &so), 1);
	ck_assert_uint_eq(so, B_START);

	ck_assert_int_eq(csend(cf.a, "hello", 5, 0, 1000), 5);
	ck_assert_int_eq(csend(cf.b, "world!", 6, 0, 1000), 6);
	ck_assert_uint_eq(xl_chan_readable(cf.b), 5);
	ck_assert_int_eq(crecv(cf.b, cf.buf, 100, 0, 1000), 5);
	ck_assert_mem_eq(cf.buf, "hello", 5);
	ck_assert_int_eq(crecv(cf.a, cf.buf, 100, 0, 1000), 6);
	ck_assert_mem_eq(cf.buf, "world!", 6);
	ck_assert_uint_eq(chan_stats(cf.a).tx_bytes, 5);
	ck_assert_uint_eq(chan_stats(cf.a).rx_bytes, 6);
}
END_TEST

/* Bad create arguments and descriptors that must not attach. */
START_TEST(test_attach_refused)
{
	struct xl_chan_params bad = { .order = { 11, 12 } };
	struct xl_chan_desc d;
	struct xl_chan *x = NULL;
	int fd;

	ck_assert_int_eq(xl_chan_create(&x, &xl_backend_local, &bad, &d, 0),
			 -EINVAL);
	bad.order[0] = 12;
	bad.order[1] = 27;
	ck_assert_int_eq(xl_chan_create(&x, &xl_backend_local, &bad, &d, 0),
			 -EINVAL);
	ck_assert_ptr_null(x);

	pair_make(12, 12, 0, 0);
	xl_chan_destroy(cf.b);
	cf.b = NULL;
	/* pair_make let the descriptor go; make a fresh one to tamper with */
	xl_chan_destroy(cf.a);
	cf.a = NULL;
	{
		struct xl_chan_params p = { .order = { 12, 12 } };

		ck_assert_int_eq(xl_chan_create(&cf.a, &xl_backend_local, &p,
						&cf.desc, 0), 0);
		cf.desc_held = true;
	}
	d = cf.desc;
	d.kind = 99;
	ck_assert_int_eq(xl_chan_attach(&x, &d, 0), -EPROTONOSUPPORT);
	d = cf.desc;
	d.side = 2;
	ck_assert_int_eq(xl_chan_attach(&x, &d, 0), -EINVAL);
	/* orders that disagree with the memory's size */
	d = cf.desc;
	d.order[1] = 13;
	ck_assert_int_lt(xl_chan_attach(&x, &d, 0), 0);
	d = cf.desc;
	d.order[0] = 27;
	ck_assert_int_lt(xl_chan_attach(&x, &d, 0), 0);
	/* a control page that does not check out */
	cf.a->ctrl->magic ^= 0x100;
	ck_assert_int_eq(xl_chan_attach(&x, &cf.desc, 0), -EPROTO);
	cf.a->ctrl->magic ^= 0x100;
	cf.a->ctrl->order[1] = 13;
	ck_assert_int_eq(xl_chan_attach(&x, &cf.desc, 0), -EPROTO);
	cf.a->ctrl->order[1] = 12;
	/* a memfd the peer could still shrink under our mapping */
	fd = memfd_create("unsealed", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)xl_wire_chan_size(12, 12)), 0);
	d = cf.desc;
	d.u.local.memfd = fd;
	ck_assert_int_eq(xl_chan_attach(&x, &d, 0), -EPROTO);
	close(fd);
	ck_assert_ptr_null(x);
	/* and the untouched descriptor still works */
	ck_assert_int_eq(xl_chan_attach(&cf.b, &cf.desc, 0), 0);
}
END_TEST

/* A broker makes the channel; two "processes" attach as side 0 and 1. */
START_TEST(test_create_pair)
{
	struct xl_chan_params p = { .order = { 13, 12 } };
	struct xl_chan_desc d[2];
	uint8_t b[16];

	ck_assert_int_eq(xl_chan_create_pair(&xl_backend_local, &p, d), 0);
	ck_assert_uint_eq(d[0].side, 0);
	ck_assert_uint_eq(d[1].side, 1);
	ck_assert_int_eq(xl_chan_attach(&cf.a, &d[0], 0), 0);
	ck_assert_int_eq(xl_chan_attach(&cf.b, &d[1], 0), 0);
	xl_chan_desc_release(&d[0]);
	xl_chan_desc_release(&d[1]);
	ck_assert_int_eq(xl_chan_tx_open(cf.a, 5), 0);
	ck_assert_int_eq(xl_chan_tx_open(cf.b, 6), 0);
	ck_assert_int_eq(csend(cf.a, "abc", 3, 0, 1000), 3);
	ck_assert_int_eq(csend(cf.b, "de", 2, 0, 1000), 2);
	ck_assert_int_eq(crecv(cf.b, b, sizeof(b), 0, 1000), 3);
	ck_assert_mem_eq(b, "abc", 3);
	ck_assert_int_eq(crecv(cf.a, b, sizeof(b), 0, 1000), 2);
	ck_assert_mem_eq(b, "de", 2);
}
END_TEST

/* Blocking both ways at once, bigger than either ring. */
START_TEST(test_blocking)
{
	struct peer_op brx = { 0 }, btx = { 0 };
	const size_t len = 300000;
	size_t got = 0;
	uint64_t t0;
	ssize_t n;

	pair_std(_i ? 0 : XL_CHAN_SPIN_NS_DEFAULT,
		 _i ? 0 : XL_CHAN_SPIN_NS_DEFAULT);
	brx = (struct peer_op){ .ch = cf.b, .op = PEER_RECV, .pos = A_START,
				.len = len, .timeout_ms = 10000 };
	btx = (struct peer_op){ .ch = cf.b, .op = PEER_SEND, .pos = B_START,
				.len = len, .timeout_ms = 10000 };
	t0 = now_ns();
	peer_start(&brx);
	peer_start(&btx);
	pat_fill(cf.buf, A_START, len);
	ck_assert_int_eq(csend(cf.a, cf.buf, len, 0, 10000), (ssize_t)len);
	while (got < len) {
		n = crecv(cf.a, cf.buf2 + got, len - got, 0, 10000);
		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
	peer_join(&brx);
	peer_join(&btx);
	/*
	 * Moving 600 KB takes milliseconds. B sleeps in two threads at once
	 * (one per direction); if one thread's drain of the shared kick
	 * swallows the other's wake-up, only the 1 s liveness poll gets it
	 * going again, so a second here means a lost wake-up.
	 */
	ck_assert_uint_lt(brx.ms, 1000);
	ck_assert_uint_lt(btx.ms, 1000);
	ck_assert_uint_lt(ms_since(t0), 1000);
	ck_assert_pat(cf.buf2, B_START, len);
	ck_assert_int_eq(brx.ret, 0);
	ck_assert_uint_eq(brx.done, len);
	ck_assert_uint_eq(brx.bad, len);
	ck_assert_int_eq(btx.ret, 0);
	ck_assert_uint_eq(btx.done, len);
	ck_assert_uint_eq(chan_stats(cf.a).tx_bytes, len);
	ck_assert_uint_eq(chan_stats(cf.b).rx_bytes, len);
	/* a ring 70 times smaller than the transfer: someone slept */
	ck_assert_uint_gt(chan_stats(cf.a).sleeps + chan_stats(cf.b).sleeps, 0);
}
END_TEST

START_TEST(test_nonblock)
{
	ssize_t n;

	pair_std(XL_CHAN_SPIN_NS_DEFAULT, XL_CHAN_SPIN_NS_DEFAULT);
	ck_assert_int_eq(crecv(cf.b, cf.buf, 10, XL_CHAN_NONBLOCK, -1), -EAGAIN);
	ck_assert_int_eq(crecv(cf.b, cf.buf, 10,
			       XL_CHAN_NONBLOCK | XL_CHAN_WAITALL, -1), -EAGAIN);
	pat_fill(cf.buf, A_START, 20000);
	/* 4 KiB ring: a nonblocking send takes what fits */
	ck_assert_int_eq(csend(cf.a, cf.buf, 10000, XL_CHAN_NONBLOCK, -1), 4096);
	ck_assert_int_eq(csend(cf.a, cf.buf + 4096, 10000, XL_CHAN_NONBLOCK,
			       -1), -EAGAIN);
	ck_assert_uint_eq(xl_chan_readable(cf.b), 4096);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 100, XL_CHAN_NONBLOCK, -1), 100);
	ck_assert_int_eq(csend(cf.a, cf.buf + 4096, 10000, XL_CHAN_NONBLOCK,
			       -1), 100);
	n = crecv(cf.b, cf.buf2 + 100, 20000, XL_CHAN_NONBLOCK, -1);
	ck_assert_int_eq(n, 4096);
	ck_assert_pat(cf.buf2, A_START, 4196);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 10, XL_CHAN_NONBLOCK, -1),
			 -EAGAIN);
	ck_assert_uint_eq(xl_chan_readable(cf.b), 0);
}
END_TEST

/* Is the page at p resident in this process? */
static bool page_resident(const void *p)
{
	unsigned char vec = 0;

	ck_assert_int_eq(mincore((void *)p, 4096, &vec), 0);
	return vec & 1;
}

/* An idle ring gives its pages back only once it was written nothing for
 * a whole period and every byte was read; it works on after. */
START_TEST(test_reclaim)
{
	struct xl_chan_reclaim st = { 0 };

	pair_std(XL_CHAN_SPIN_NS_DEFAULT, XL_CHAN_SPIN_NS_DEFAULT);
	pat_fill(cf.buf, A_START, 8192);
	ck_assert_int_eq(csend(cf.a, cf.buf, 4096, XL_CHAN_NONBLOCK, -1), 4096);
	ck_assert(page_resident(cf.a->tx.data));
	/* the first look only notes where the producer is */
	ck_assert_int_eq(xl_chan_tx_reclaim(cf.a, &st), 0);
	/* idle since, but unread (a peek reads nothing) */
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 10, XL_CHAN_PEEK, -1), 10);
	ck_assert_int_eq(xl_chan_tx_reclaim(cf.a, &st), 0);
	ck_assert(page_resident(cf.a->tx.data));
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 4096, XL_CHAN_NONBLOCK, -1), 4096);
	ck_assert_pat(cf.buf2, A_START, 4096);
	/* read and idle: the pages go, from both mappings */
	ck_assert_int_eq(xl_chan_tx_reclaim(cf.a, &st), 1);
	ck_assert(!page_resident(cf.a->tx.data));
	ck_assert(!page_resident(cf.b->rx.data));
	ck_assert_int_eq(xl_chan_tx_reclaim(cf.a, &st), 1);
	/* the ring carries on, across its end, with fresh pages */
	ck_assert_int_eq(csend(cf.a, cf.buf + 4096, 100, XL_CHAN_NONBLOCK, -1),
			 100);
	ck_assert_int_eq(xl_chan_tx_reclaim(cf.a, &st), 0);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 100, XL_CHAN_NONBLOCK, -1), 100);
	ck_assert_pat(cf.buf2, A_START + 4096, 100);
	ck_assert_int_eq(xl_chan_tx_reclaim(cf.a, &st), 1);
	/* a direction that carried nothing: after one period */
	st = (struct xl_chan_reclaim){ 0 };
	ck_assert_int_eq(xl_chan_tx_reclaim(cf.b, &st), 0);
	ck_assert_int_eq(xl_chan_tx_reclaim(cf.b, &st), 1);
}
END_TEST

START_TEST(test_waitall)
{
	struct peer_op tx;
	struct iovec iov[4];
	uint64_t t0;

	pair_std(XL_CHAN_SPIN_NS_DEFAULT, XL_CHAN_SPIN_NS_DEFAULT);
	pat_fill(cf.buf, A_START, 100);
	ck_assert_int_eq(csend(cf.a, cf.buf, 100, 0, 1000), 100);
	/* two more pieces of 100, each 80 ms after the last */
	tx = (struct peer_op){ .ch = cf.a, .op = PEER_SEND,
			       .pos = A_START + 100, .len = 200, .chunk = 100,
			       .delay_ms = 80, .timeout_ms = 5000 };
	t0 = now_ns();
	peer_start(&tx);
	/* without WAITALL a stream read returns what is there */
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 300, 0, 5000), 100);
	ck_assert_pat(cf.buf2, A_START, 100);
	/* with it, the read fills every piece, across the empty one */
	iov[0] = (struct iovec){ cf.buf2, 50 };
	iov[1] = (struct iovec){ cf.buf2 + 50, 0 };
	iov[2] = (struct iovec){ cf.buf2 + 50, 120 };
	iov[3] = (struct iovec){ cf.buf2 + 170, 30 };
	ck_assert_int_eq(xl_chan_recv(cf.b, iov, 4, XL_CHAN_WAITALL, 5000),
			 200);
	/* so it waited for the second piece */
	ck_assert_uint_ge(ms_since(t0), 150);
	peer_join(&tx);
	ck_assert_int_eq(tx.ret, 0);
	ck_assert_pat(cf.buf2, A_START + 100, 200);

	/* WAITALL stops at end of stream */
	pat_fill(cf.buf, A_START + 300, 100);
	ck_assert_int_eq(csend(cf.a, cf.buf, 100, 0, 1000), 100);
	ck_assert_int_eq(xl_chan_shutdown_tx(cf.a), 0);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 300, XL_CHAN_WAITALL, 5000), 100);
	ck_assert_pat(cf.buf2, A_START + 300, 100);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 300, XL_CHAN_WAITALL, 5000), 0);
}
END_TEST

START_TEST(test_peek)
{
	struct peer_op tx;
	uint64_t t0;
	ssize_t n;

	pair_std(XL_CHAN_SPIN_NS_DEFAULT, 0);
	ck_assert_int_eq(crecv(cf.b, cf.buf, 10, XL_CHAN_PEEK | XL_CHAN_NONBLOCK,
			       -1), -EAGAIN);
	pat_fill(cf.buf, A_START, 50);
	ck_assert_int_eq(csend(cf.a, cf.buf, 50, 0, 1000), 50);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 100, XL_CHAN_PEEK, 1000), 50);
	ck_assert_pat(cf.buf2, A_START, 50);
	ck_assert_uint_eq(xl_chan_readable(cf.b), 50);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 100, XL_CHAN_PEEK, 1000), 50);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 20, 0, 1000), 20);
	ck_assert_pat(cf.buf2, A_START, 20);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 100,
			       XL_CHAN_PEEK | XL_CHAN_NONBLOCK, -1), 30);
	ck_assert_pat(cf.buf2, A_START + 20, 30);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 100, 0, 1000), 30);
	ck_assert_pat(cf.buf2, A_START + 20, 30);

	/* a blocking peek sleeps until data comes, and leaves it there */
	tx = (struct peer_op){ .ch = cf.a, .op = PEER_SEND_ONCE,
			       .pos = A_START + 50, .len = 70,
			       .timeout_ms = 1000, .delay_ms = 100 };
	t0 = now_ns();
	peer_start(&tx);
	n = crecv(cf.b, cf.buf2, 100, XL_CHAN_PEEK, 5000);
	peer_join(&tx);
	ck_assert_uint_ge(ms_since(t0), 50);
	ck_assert_int_gt(n, 0);
	ck_assert_pat(cf.buf2, A_START + 50, (size_t)n);
	ck_assert_uint_eq(xl_chan_readable(cf.b), 70);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 70, XL_CHAN_WAITALL, 1000), 70);
	ck_assert_pat(cf.buf2, A_START + 50, 70);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 1, XL_CHAN_NONBLOCK, 0), -EAGAIN);
}
END_TEST

/* Blocking calls give up with -ETIMEDOUT within their bound. */
START_TEST(test_timeouts)
{
	uint32_t spin = _i ? 0 : XL_CHAN_SPIN_NS_DEFAULT;
	uint64_t t0, ms;

	pair_std(spin, spin);
	t0 = now_ns();
	ck_assert_int_eq(crecv(cf.b, cf.buf, 10, 0, 200), -ETIMEDOUT);
	ms = ms_since(t0);
	ck_assert_uint_ge(ms, 190);
	ck_assert_uint_lt(ms, 1000);
	t0 = now_ns();
	ck_assert_int_eq(crecv(cf.b, cf.buf, 10, XL_CHAN_WAITALL, 0),
			 -ETIMEDOUT);
	ck_assert_uint_lt(ms_since(t0), 100);

	/* fill A->B, then a send has to wait for space that never comes */
	pat_fill(cf.buf, A_START, 4096 + 10);
	ck_assert_int_eq(csend(cf.a, cf.buf, 4096, XL_CHAN_NONBLOCK, -1), 4096);
	t0 = now_ns();
	ck_assert_int_eq(csend(cf.a, cf.buf + 4096, 10, 0, 300), -ETIMEDOUT);
	ms = ms_since(t0);
	ck_assert_uint_ge(ms, 290);
	ck_assert_uint_lt(ms, 1100);
	/* a send that got some bytes in reports them when time runs out */
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 4, 0, 100), 4);
	ck_assert_int_eq(csend(cf.a, cf.buf + 4096, 10, 0, 100), 4);
	ck_assert_int_eq(crecv(cf.b, cf.buf2 + 4, 5000, XL_CHAN_WAITALL, 100),
			 4096);
	ck_assert_pat(cf.buf2, A_START, 4100);
	/* the channel still works after timing out */
	ck_assert_int_eq(csend(cf.a, cf.buf + 4100, 6, 0, 100), 6);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 6, XL_CHAN_WAITALL, 100), 6);
	ck_assert_pat(cf.buf2, A_START + 4100, 6);
}
END_TEST

/* One send call with many pieces, far bigger than the ring. */
START_TEST(test_big_vector)
{
	struct peer_op rx = { 0 };
	struct iovec iov[200];
	size_t total = 0;
	ssize_t n;

	pair_std(XL_CHAN_SPIN_NS_DEFAULT, XL_CHAN_SPIN_NS_DEFAULT);
	for (int k = 0; k < 200; k++) {
		iov[k].iov_base = cf.buf + total;
		iov[k].iov_len = k % 5 == 0 ? 0 : 37 * (size_t)k;
		total += iov[k].iov_len;
	}
	pat_fill(cf.buf, A_START, total);
	rx = (struct peer_op){ .ch = cf.b, .op = PEER_RECV, .pos = A_START,
			       .len = total, .flags = XL_CHAN_WAITALL,
			       .timeout_ms = 10000 };
	peer_start(&rx);
	n = xl_chan_send(cf.a, iov, 200, 0, 10000);
	peer_join(&rx);
	ck_assert_int_eq(n, (ssize_t)total);
	ck_assert_int_eq(rx.ret, 0);
	ck_assert_uint_eq(rx.done, total);
	ck_assert_uint_eq(rx.bad, total);
}
END_TEST

/* ---- close ---- */

START_TEST(test_shutdown_tx)
{
	struct peer_op rx;

	pair_std(XL_CHAN_SPIN_NS_DEFAULT, 0);
	pat_fill(cf.buf, A_START, 100);
	ck_assert_int_eq(csend(cf.a, cf.buf, 100, 0, 1000), 100);
	ck_assert_int_eq(xl_chan_shutdown_tx(cf.a), 0);
	ck_assert_int_eq(xl_chan_shutdown_tx(cf.a), 0);
	ck_assert_int_lt(csend(cf.a, cf.buf, 1, 0, 1000), 0);
	ck_assert_int_lt(csend(cf.a, cf.buf, 1, XL_CHAN_NONBLOCK, 0), 0);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 60, 0, 1000), 60);
	ck_assert_int_eq(crecv(cf.b, cf.buf2 + 60, 60, 0, 1000), 40);
	ck_assert_pat(cf.buf2, A_START, 100);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 60, 0, -1), 0);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 60, XL_CHAN_NONBLOCK, -1), 0);
	/* the other direction is unaffected by the half-close */
	ck_assert_int_eq(csend(cf.b, "ok", 2, 0, 1000), 2);
	ck_assert_int_eq(crecv(cf.a, cf.buf2, 60, 0, 1000), 2);

	/* a reader asleep (spin 0) is woken by the half-close */
	rx = (struct peer_op){ .ch = cf.a, .op = PEER_RECV_ONCE, .len = 10,
			       .timeout_ms = 5000 };
	peer_start(&rx);
	sleep_ms(100);
	ck_assert_int_eq(xl_chan_shutdown_tx(cf.b), 0);
	peer_join(&rx);
	ck_assert_int_eq(rx.ret, 0);
	ck_assert_uint_eq(rx.done, 0);
	ck_assert_uint_lt(rx.ms, 1000);
	ck_assert_uint_gt(chan_stats(cf.a).sleeps, 0);
}
END_TEST

START_TEST(test_shutdown_rx)
{
	struct peer_op tx;

	pair_std(0, XL_CHAN_SPIN_NS_DEFAULT);
	ck_assert_int_eq(xl_chan_shutdown_rx(cf.a), 0);
	ck_assert_int_eq(csend(cf.b, "x", 1, 0, 1000), -EPIPE);
	ck_assert_int_eq(csend(cf.b, "x", 1, XL_CHAN_NONBLOCK, 0), -EPIPE);

	/* a writer asleep on a full ring is woken by the peer's shutdown */
	pat_fill(cf.buf, A_START, 4096);
	ck_assert_int_eq(csend(cf.a, cf.buf, 4096, 0, 1000), 4096);
	tx = (struct peer_op){ .ch = cf.a, .op = PEER_SEND_ONCE,
			       .pos = A_START + 4096, .len = 100,
			       .timeout_ms = 5000 };
	peer_start(&tx);
	sleep_ms(100);
	ck_assert_int_eq(xl_chan_shutdown_rx(cf.b), 0);
	peer_join(&tx);
	ck_assert_int_eq(tx.ret, -EPIPE);
	ck_assert_uint_lt(tx.ms, 1000);
	ck_assert_uint_gt(chan_stats(cf.a).sleeps, 0);
}
END_TEST

/* The peer destroys its side: data it sent is still read, then the
 * reader learns the peer is gone. */
START_TEST(test_peer_destroy)
{
	struct peer_op rx, gone;
	uint64_t t0;
	ssize_t n;

	pair_std(_i ? 0 : XL_CHAN_SPIN_NS_DEFAULT, XL_CHAN_SPIN_NS_DEFAULT);
	pat_fill(cf.buf, B_START, 10);
	ck_assert_int_eq(csend(cf.b, cf.buf, 10, 0, 1000), 10);
	xl_chan_destroy(cf.b);
	cf.b = NULL;
	ck_assert(!xl_chan_peer_live(cf.a));
	ck_assert_int_eq(crecv(cf.a, cf.buf2, 100, 0, -1), 10);
	ck_assert_pat(cf.buf2, B_START, 10);
	t0 = now_ns();
	n = crecv(cf.a, cf.buf2, 100, 0, -1);
	ck_assert(n == 0 || n == -ECONNRESET);
	ck_assert_uint_lt(ms_since(t0), 1500);
	/* the direction we produce has no reader any more */
	n = csend(cf.a, cf.buf, 5000, 0, -1);
	ck_assert(n == -EPIPE || n == -ECONNRESET || (n > 0 && n <= 4096));
	xl_chan_destroy(cf.a);
	cf.a = NULL;

	/* and a reader already asleep wakes within about a second */
	pair_std(_i ? 0 : XL_CHAN_SPIN_NS_DEFAULT, XL_CHAN_SPIN_NS_DEFAULT);
	rx = (struct peer_op){ .ch = cf.a, .op = PEER_RECV_ONCE, .len = 10,
			       .timeout_ms = -1 };
	gone = (struct peer_op){ .ch = cf.b, .op = PEER_DESTROY,
				 .delay_ms = 100 };
	peer_start(&rx);
	peer_start(&gone);
	peer_join(&gone);
	cf.b = NULL;
	peer_join(&rx);
	ck_assert(rx.ret == 0 || rx.ret == -ECONNRESET);
	ck_assert_uint_lt(rx.ms, 100 + 1200);
	ck_assert(!xl_chan_peer_live(cf.a));
}
END_TEST

/*
 * A peer whose live byte drops without any kick (Xen's unmap-notify
 * where the event is lost, or a peer that cleared it and hung): a
 * blocked call must still notice within about a second (ARCHITECTURE.md
 * invariant 6), with a bounded timeout and with none (-1).
 */
START_TEST(test_live_byte_only)
{
	static const int tmo[] = { 10000, -1 };
	struct peer_op rx, kill_op;

	pair_std(XL_CHAN_SPIN_NS_DEFAULT, XL_CHAN_SPIN_NS_DEFAULT);
	rx = (struct peer_op){ .ch = cf.a, .op = PEER_RECV_ONCE, .len = 10,
			       .timeout_ms = tmo[_i] };
	kill_op = (struct peer_op){ .ch = cf.b, .op = PEER_KILL_LIVE,
				    .delay_ms = 50 };
	peer_start(&rx);
	peer_start(&kill_op);
	peer_join(&kill_op);
	peer_join(&rx);
	ck_assert_int_eq(rx.ret, -ECONNRESET);
	ck_assert_uint_lt(rx.ms, 50 + 1500);
	ck_assert(!xl_chan_peer_live(cf.a));
}
END_TEST

/* ---- fdpass: the descriptor over SCM_RIGHTS ---- */

START_TEST(test_scm_rights)
{
	struct xl_chan_params p = { .order = { 12, 14 } };
	struct xl_chan_desc d;
	ssize_t n;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    cf.sock), 0);
	ck_assert_int_eq(xl_chan_create(&cf.a, &xl_backend_local, &p, &cf.desc,
					XL_CHAN_SPIN_NS_DEFAULT), 0);
	ck_assert_int_eq(send_desc(cf.sock[0], &cf.desc), 0);
	/* the sender's copies go; only the ones in flight remain */
	xl_chan_desc_release(&cf.desc);
	ck_assert_int_eq(cf.desc.u.local.memfd, -1);

	ck_assert_int_eq(recv_desc(cf.sock[1], &d, 1000), 0);
	ck_assert_uint_eq(d.kind, XL_BACKEND_LOCAL);
	ck_assert_uint_eq(d.side, 1);
	ck_assert_uint_eq(d.order[1], 14);
	ck_assert_int_ge(d.u.local.memfd, 0);
	ck_assert_int_ge(d.u.local.hup, 0);
	/* received with MSG_CMSG_CLOEXEC: open, and not leaked to exec */
	ck_assert_int_ne(fcntl(d.u.local.memfd, F_GETFD) & FD_CLOEXEC, 0);
	ck_assert_int_eq(xl_chan_attach(&cf.b, &d, XL_CHAN_SPIN_NS_DEFAULT), 0);
	xl_chan_desc_release(&d);

	ck_assert_int_eq(xl_chan_tx_open(cf.a, 0), 0);
	ck_assert_int_eq(xl_chan_tx_open(cf.b, 7), 0);
	pat_fill(cf.buf, 0, 3000);
	ck_assert_int_eq(csend(cf.a, cf.buf, 3000, 0, 1000), 3000);
	ck_assert_int_eq(crecv(cf.b, cf.buf2, 3000, XL_CHAN_WAITALL, 1000),
			 3000);
	ck_assert_pat(cf.buf2, 0, 3000);
	pat_fill(cf.buf, 7, 9000);
	ck_assert_int_eq(csend(cf.b, cf.buf, 9000, XL_CHAN_NONBLOCK, 0), 9000);
	ck_assert_int_eq(crecv(cf.a, cf.buf2, 9000, XL_CHAN_WAITALL, 1000),
			 9000);
	ck_assert_pat(cf.buf2, 7, 9000);
	/* the liveness pair made the trip: B going is seen by A */
	xl_chan_destroy(cf.b);
	cf.b = NULL;
	n = crecv(cf.a, cf.buf2, 1, 0, 2000);
	ck_assert(n == 0 || n == -ECONNRESET);
	ck_assert(!xl_chan_peer_live(cf.a));
}
END_TEST

/*
 * Side B in a child that got the descriptor over a socket, then dies by
 * SIGKILL with no chance to clear its live byte: A's blocked recv sees
 * the liveness socket hang up within about a second.
 */
START_TEST(test_peer_killed)
{
	struct xl_chan_params p = { .order = { 12, 12 } };
	struct peer_op rx;
	int status;
	uint8_t b;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    cf.sock), 0);
	cf.child = fork();
	ck_assert_int_ge(cf.child, 0);
	if (cf.child == 0) {
		struct xl_chan_desc d;
		struct xl_chan *ch;

		close(cf.sock[0]);
		if (recv_desc(cf.sock[1], &d, 5000) < 0 ||
		    xl_chan_attach(&ch, &d, 0) < 0)
			_exit(2);
		xl_chan_desc_release(&d);
		if (xl_chan_tx_open(ch, 0) < 0 ||
		    csend(ch, "R", 1, 0, 5000) != 1)
			_exit(3);
		/* wait here until killed, at most 10 s */
		crecv(ch, &b, 1, 0, 10000);
		_exit(4);
	}
	close(cf.sock[1]);
	cf.sock[1] = -1;
	ck_assert_int_eq(xl_chan_create(&cf.a, &xl_backend_local, &p, &cf.desc,
					XL_CHAN_SPIN_NS_DEFAULT), 0);
	cf.desc_held = true;
	ck_assert_int_eq(send_desc(cf.sock[0], &cf.desc), 0);
	xl_chan_desc_release(&cf.desc);
	cf.desc_held = false;
	ck_assert_int_eq(xl_chan_tx_open(cf.a, 0), 0);
	ck_assert_int_eq(crecv(cf.a, &b, 1, 0, 5000), 1);
	ck_assert_int_eq(b, 'R');

	rx = (struct peer_op){ .ch = cf.a, .op = PEER_RECV_ONCE, .len = 1,
			       .timeout_ms = -1 };
	peer_start(&rx);
	sleep_ms(100);
	ck_assert_int_eq(kill(cf.child, SIGKILL), 0);
	ck_assert_int_eq(waitpid(cf.child, &status, 0), cf.child);
	cf.child = 0;
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	peer_join(&rx);
	ck_assert_int_eq(rx.ret, -ECONNRESET);
	ck_assert_uint_lt(rx.ms, 100 + 1500);
	ck_assert(!xl_chan_peer_live(cf.a));
	/* the process is gone but its live byte never dropped: the
	 * transport's word is what counts */
	ck_assert_uint_eq(cf.a->ctrl->dir[1].p.live, XL_WIRE_LIVE);
}
END_TEST

/* ---- poll: a nonblocking caller driving its own readiness loop ---- */

/*
 * Announce sleep on the wanted directions; poll() only if none is ready,
 * on the fds of every direction we wait for.
 */
static int poll_wait(struct xl_chan *ch, bool rx, bool tx, int *polls)
{
	struct pollfd pfd[8];
	bool srx = rx && xl_ring_rx_prepare_sleep(&ch->rx);
	bool stx = tx && xl_ring_tx_prepare_sleep(&ch->tx);
	int n = 0, nrx = 0, ntx = 0, ret = 0;

	if ((!rx || srx) && (!tx || stx)) {
		if (rx) {
			nrx = xl_chan_pollfds(ch, XL_WAIT_DATA, pfd, 4);
			if (nrx <= 0)
				return nrx < 0 ? nrx : -EINVAL;
		}
		if (tx) {
			ntx = xl_chan_pollfds(ch, XL_WAIT_SPACE, pfd + nrx, 4);
			if (ntx <= 0)
				return ntx < 0 ? ntx : -EINVAL;
		}
		n = nrx + ntx;
		ret = poll(pfd, (nfds_t)n, 2000);
		ret = ret == 0 ? -ETIMEDOUT : ret < 0 ? -errno : 0;
		if (rx && xl_chan_ack(ch, XL_WAIT_DATA, pfd, nrx) < 0)
			ret = ret ? ret : -ECONNRESET;
		if (tx && xl_chan_ack(ch, XL_WAIT_SPACE, pfd + nrx, ntx) < 0)
			ret = ret ? ret : -ECONNRESET;
		(*polls)++;
	}
	if (srx)
		xl_ring_rx_end_sleep(&ch->rx);
	if (stx)
		xl_ring_tx_end_sleep(&ch->tx);
	return ret;
}

/* B: echo everything back, blocking, until end of stream. */
static void *echo_main(void *arg)
{
	struct peer_op *op = arg;
	uint8_t buf[5000];
	ssize_t n, m;

	for (;;) {
		n = crecv(op->ch, buf, 1 + op->done % sizeof(buf), 0, 10000);
		if (n <= 0) {
			op->ret = n;
			break;
		}
		m = csend(op->ch, buf, (size_t)n, 0, 10000);
		if (m != n) {
			op->ret = m < 0 ? m : -EIO;
			break;
		}
		op->done += (uint64_t)n;
	}
	xl_chan_shutdown_tx(op->ch);
	return NULL;
}

START_TEST(test_poll_loop)
{
	const size_t total = 8u << 20;
	struct peer_op echo = { 0 };
	size_t sent = 0, got = 0, bad;
	uint64_t s = 42;
	int polls = 0;
	bool shut = false;
	ssize_t n;

	pair_make(12, 12, XL_CHAN_SPIN_NS_DEFAULT, _i ? 0 :
		  XL_CHAN_SPIN_NS_DEFAULT);
	ck_assert_int_eq(xl_chan_tx_open(cf.a, 0), 0);
	ck_assert_int_eq(xl_chan_tx_open(cf.b, 0), 0);
	echo.ch = cf.b;
	ck_assert_int_eq(pthread_create(&echo.th, NULL, echo_main, &echo), 0);
	while (got < total) {
		bool progress = false;

		if (sent < total) {
			size_t k = 1 + rnd(&s) % 6000;

			if (k > total - sent)
				k = total - sent;
			pat_fill(cf.buf, sent, k);
			n = csend(cf.a, cf.buf, k, XL_CHAN_NONBLOCK, 0);
			ck_assert(n > 0 || n == -EAGAIN);
			if (n > 0) {
				sent += (size_t)n;
				progress = true;
			}
		} else if (!shut) {
			ck_assert_int_eq(xl_chan_shutdown_tx(cf.a), 0);
			shut = true;
		}
		n = crecv(cf.a, cf.buf2, 1 + rnd(&s) % 8000,
			  XL_CHAN_NONBLOCK, 0);
		ck_assert(n > 0 || n == -EAGAIN);
		if (n > 0) {
			bad = pat_mismatch(cf.buf2, got, (size_t)n);
			ck_assert_uint_eq(bad, (size_t)n);
			got += (size_t)n;
			ck_assert_uint_le(got, sent);
			progress = true;
		}
		/* a lost wake-up shows as a poll() that times out */
		if (!progress)
			ck_assert_int_eq(poll_wait(cf.a, true, sent < total,
						   &polls), 0);
	}
	if (!shut)
		ck_assert_int_eq(xl_chan_shutdown_tx(cf.a), 0);
	ck_assert_int_eq(crecv(cf.a, cf.buf2, 10, 0, 5000), 0);
	ck_assert_int_eq(pthread_join(echo.th, NULL), 0);
	ck_assert_int_eq(echo.ret, 0);
	ck_assert_uint_eq(echo.done, total);
	/* the loop did sleep in poll(), not only spin through the calls */
	ck_assert_int_gt(polls, 0);
}
END_TEST

/* ---- stress: two processes ---- */

/*
 * One direction's work and its outcome. The sender sends msgs messages
 * of random sizes (1..2000 bytes, 1..4 pieces, some empty) with blocking
 * sends, then half-closes; the receiver reads random sizes (sometimes
 * WAITALL) until end of stream and checks every byte. Both keep a
 * Fletcher-style checksum and the time of their slowest call: a lost
 * wake-up is rescued only by the 1 s liveness poll, so it shows there.
 */
struct stress_dir {
	struct xl_chan *ch;
	uint64_t msgs;			/* sender: messages to send */
	uint64_t seed;
	uint64_t start;			/* stream offset of byte 0 */
	/* results */
	int32_t err;			/* 0, -errno, or -EBADMSG */
	uint32_t pad;
	uint64_t bad_at;		/* stream offset of a wrong byte */
	uint64_t calls, bytes;
	uint64_t sum1, sum2;
	uint64_t max_ms;
};

/* What the child writes to the socket at the end. */
struct stress_report {
	struct stress_dir rx, tx;
	uint64_t sleeps;
};

static void stress_sum(struct stress_dir *sd, const uint8_t *p, size_t n)
{
	uint64_t a = sd->sum1, b = sd->sum2;

	for (size_t i = 0; i < n; i++) {
		a += p[i];
		b += a;
	}
	sd->sum1 = a;
	sd->sum2 = b;
}

/* Message sizes 1..2000, log-uniform: mostly small, some near 2000. */
static size_t stress_len(uint64_t *rs)
{
	uint64_t r = rnd(rs);

	return 1 + (size_t)(r % (2000u >> ((r >> 40) % 11)));
}

static void stress_time(struct stress_dir *sd, uint64_t t0)
{
	uint64_t ms = ms_since(t0);

	if (ms > sd->max_ms)
		sd->max_ms = ms;
}

static void stress_send(struct stress_dir *sd)
{
	uint64_t rs = sd->seed, pos = sd->start, t0;
	uint8_t buf[2048];
	struct iovec iov[4];
	ssize_t n;
	int cnt;

	for (sd->calls = 0; sd->calls < sd->msgs; sd->calls++) {
		size_t len = stress_len(&rs), at = 0;

		pat_fill(buf, pos, len);
		stress_sum(sd, buf, len);
		cnt = 1 + (int)(rnd(&rs) % 4);
		for (int j = 0; j < cnt; j++) {
			size_t k = j == cnt - 1 ? len - at :
				   rnd(&rs) % (len - at + 1);

			iov[j] = (struct iovec){ buf + at, k };
			at += k;
		}
		t0 = now_ns();
		n = xl_chan_send(sd->ch, iov, cnt, 0, 20000);
		stress_time(sd, t0);
		if (n != (ssize_t)len) {
			sd->err = n < 0 ? (int32_t)n : -EIO;
			break;
		}
		pos += len;
		sd->bytes += len;
	}
	xl_chan_shutdown_tx(sd->ch);
}

static void stress_recv(struct stress_dir *sd)
{
	uint64_t rs = sd->seed, pos = sd->start, t0;
	uint8_t buf[4096];
	size_t bad;
	ssize_t n;

	for (;;) {
		size_t want = 1 + rnd(&rs) % (rnd(&rs) % 4 ? 4096 : 64);
		unsigned int fl = rnd(&rs) % 16 ? 0 : XL_CHAN_WAITALL;

		t0 = now_ns();
		n = crecv(sd->ch, buf, want, fl, 20000);
		stress_time(sd, t0);
		if (n == 0)
			break;
		if (n < 0) {
			sd->err = (int32_t)n;
			break;
		}
		sd->calls++;
		bad = pat_mismatch(buf, pos, (size_t)n);
		if (bad != (size_t)n) {
			sd->err = -EBADMSG;
			sd->bad_at = pos + bad;
			break;
		}
		stress_sum(sd, buf, (size_t)n);
		pos += (uint64_t)n;
		sd->bytes += (uint64_t)n;
	}
	/* on error, stop the sender (-EPIPE) rather than leave it blocked */
	if (sd->err)
		xl_chan_shutdown_rx(sd->ch);
}

static void *stress_send_main(void *arg)
{
	stress_send(arg);
	return NULL;
}

static void *stress_recv_main(void *arg)
{
	stress_recv(arg);
	return NULL;
}

static const struct {
	uint32_t spin;
	uint64_t msgs;			/* per direction */
	bool duplex;			/* both directions at once */
} stress_cfg[] = {
	{ XL_CHAN_SPIN_NS_DEFAULT, 10000000, false },
	{ 0, 10000000, false },		/* always sleep */
	{ XL_CHAN_SPIN_NS_DEFAULT, 5000000, true },
};

#define STRESS_START0	((1ull << 32) - 999)	/* A -> B */
#define STRESS_START1	((1ull << 63) - 999)	/* B -> A */

/* The child: side B. Receives direction 0, and in duplex mode sends
 * direction 1 from a second thread; reports over the socket. */
static int stress_child(int sock, int cfg)
{
	struct stress_report rep;
	struct xl_chan_desc d;
	struct xl_chan *ch;
	pthread_t th;

	memset(&rep, 0, sizeof(rep));
	if (recv_desc(sock, &d, 10000) < 0)
		return 10;
	if (xl_chan_attach(&ch, &d, stress_cfg[cfg].spin) < 0)
		return 11;
	xl_chan_desc_release(&d);
	if (xl_chan_tx_open(ch, STRESS_START1) < 0)
		return 12;
	rep.rx = (struct stress_dir){ .ch = ch, .seed = 0x51ed,
				      .start = STRESS_START0 };
	rep.tx = (struct stress_dir){ .ch = ch, .seed = 0xb0b,
				      .start = STRESS_START1,
				      .msgs = stress_cfg[cfg].msgs };
	if (stress_cfg[cfg].duplex &&
	    pthread_create(&th, NULL, stress_send_main, &rep.tx))
		return 13;
	stress_recv(&rep.rx);
	if (stress_cfg[cfg].duplex)
		pthread_join(th, NULL);
	else
		xl_chan_shutdown_tx(ch);
	rep.sleeps = chan_stats(ch).sleeps;
	rep.rx.ch = rep.tx.ch = NULL;
	if (write(sock, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
		return 14;
	xl_chan_destroy(ch);
	return 0;
}

/* Wait for the child's report, bounded. */
static void stress_read_report(int sock, struct stress_report *rep)
{
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(*rep)) {
		ck_assert_int_eq(poll(&pfd, 1, 20000), 1);
		n = read(sock, (uint8_t *)rep + got, sizeof(*rep) - got);
		ck_assert_int_gt(n, 0);
		got += (size_t)n;
	}
}

static void stress_check_dir(const struct stress_dir *tx,
			     const struct stress_dir *rx, const char *what)
{
	ck_assert_msg(rx->err == 0, "%s: receiver error %d at offset %llu",
		      what, rx->err, (unsigned long long)rx->bad_at);
	ck_assert_msg(tx->err == 0, "%s: sender error %d", what, tx->err);
	ck_assert_uint_eq(tx->calls, tx->msgs);
	ck_assert_uint_eq(rx->bytes, tx->bytes);
	ck_assert_uint_eq(rx->sum1, tx->sum1);
	ck_assert_uint_eq(rx->sum2, tx->sum2);
	/* a lost wake-up costs a whole liveness poll (1 s): none happened */
	ck_assert_msg(tx->max_ms < 1000 && rx->max_ms < 1000,
		      "%s: slowest send %llu ms, recv %llu ms", what,
		      (unsigned long long)tx->max_ms,
		      (unsigned long long)rx->max_ms);
}

/*
 * Side A here, side B in a forked child that gets the descriptor over
 * SCM_RIGHTS. Configurations (stress_cfg): ten million messages A -> B
 * with the default spin, and ten million with spin 0, where every empty
 * or full ring costs a real sleep and an eventfd kick; then five million
 * each way at once, one sender and one receiver thread per process (what
 * xl_chan.h allows), so two threads of one side sleep at the same time.
 */
START_TEST(test_stress_fork)
{
	struct xl_chan_params p = { .order = { 16, 14 } };
	struct stress_dir tx, rx;
	struct stress_report rep;
	pthread_t th;
	int status;
	uint64_t deadline;
	pid_t w;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    cf.sock), 0);
	cf.child = fork();
	ck_assert_int_ge(cf.child, 0);
	if (cf.child == 0) {
		close(cf.sock[0]);
		_exit(stress_child(cf.sock[1], _i));
	}
	close(cf.sock[1]);
	cf.sock[1] = -1;
	ck_assert_int_eq(xl_chan_create(&cf.a, &xl_backend_local, &p, &cf.desc,
					stress_cfg[_i].spin), 0);
	cf.desc_held = true;
	ck_assert_int_eq(send_desc(cf.sock[0], &cf.desc), 0);
	xl_chan_desc_release(&cf.desc);
	cf.desc_held = false;
	ck_assert_int_eq(xl_chan_tx_open(cf.a, STRESS_START0), 0);

	tx = (struct stress_dir){ .ch = cf.a, .seed = 0x51ed,
				  .start = STRESS_START0,
				  .msgs = stress_cfg[_i].msgs };
	rx = (struct stress_dir){ .ch = cf.a, .seed = 0xb0b,
				  .start = STRESS_START1 };
	if (stress_cfg[_i].duplex)
		ck_assert_int_eq(pthread_create(&th, NULL, stress_recv_main,
						&rx), 0);
	stress_send(&tx);
	if (stress_cfg[_i].duplex)
		ck_assert_int_eq(pthread_join(th, NULL), 0);
	stress_read_report(cf.sock[0], &rep);

	/* the child exits right after its report */
	deadline = now_ns() + 10000000000ull;
	while ((w = waitpid(cf.child, &status, WNOHANG)) == 0 &&
	       now_ns() < deadline)
		sleep_ms(10);
	ck_assert_int_eq(w, cf.child);
	cf.child = 0;
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child status 0x%x", status);

	stress_check_dir(&tx, &rep.rx, "A->B");
	ck_assert_uint_ge(tx.calls, stress_cfg[_i].msgs);
	ck_assert_uint_eq(chan_stats(cf.a).tx_bytes, tx.bytes);
	if (stress_cfg[_i].duplex)
		stress_check_dir(&rep.tx, &rx, "B->A");
	if (stress_cfg[_i].spin == 0) {
		/* always-sleep means both sides slept and never spun */
		ck_assert_uint_gt(chan_stats(cf.a).sleeps, 0);
		ck_assert_uint_gt(rep.sleeps, 0);
		ck_assert_uint_eq(chan_stats(cf.a).spin_wins, 0);
	}
}
END_TEST

/* ---- suite ---- */

static TCase *tcase(Suite *s, const char *name, int timeout)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, fx_setup, fx_teardown);
	tcase_set_timeout(tc, timeout);
	suite_add_tcase(s, tc);
	return tc;
}

Suite *chan_suite(void);

/* ---- a channel in memory fork() shares ---- */

/*
 * Side B attached into MAP_SHARED memory: a child that inherits it sends,
 * lets go (forget), and the parent's sends carry on the same stream where
 * the child left it; then B's fds move (a program wanted their numbers)
 * and a sleeping receive is still woken through them.
 */
START_TEST(test_attach_at_fork)
{
	struct xl_chan_params p = { .order = { 12, 13 } };
	struct xl_chan *sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct pollfd pfd[2];
	char got[32] = { 0 };
	int status, old;
	pid_t pid;

	ck_assert_ptr_ne(sh, MAP_FAILED);
	ck_assert_int_eq(xl_chan_create(&cf.a, &xl_backend_local, &p,
					&cf.desc, 0), 0);
	cf.desc_held = true;
	ck_assert_int_eq(xl_chan_attach_at(sh, &cf.desc, 0), 0);
	ck_assert(sh->placed);
	xl_chan_desc_release(&cf.desc);
	cf.desc_held = false;
	ck_assert_int_eq(xl_chan_tx_open(cf.a, A_START), 0);
	ck_assert_int_eq(xl_chan_tx_open(sh, B_START), 0);

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		bool ok = csend(sh, "child,", 6, 0, 1000) == 6;

		xl_chan_forget(sh);	/* writes nothing the parent reads */
		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(csend(sh, "parent", 6, 0, 1000), 6);
	ck_assert_int_eq(crecv(cf.a, got, 12, XL_CHAN_WAITALL, 1000), 12);
	ck_assert_str_eq(got, "child,parent");

	/* the receiver's data fd moves; a kick must still reach it */
	ck_assert_int_eq(xl_chan_pollfds(sh, XL_WAIT_DATA, pfd, 2), 2);
	old = pfd[0].fd;
	ck_assert_int_eq(xl_chan_move_fd(sh, old + 1000000), 0);
	ck_assert_int_eq(xl_chan_move_fd(sh, old), 1);
	ck_assert_int_eq(fcntl(old, F_GETFD), -1);	/* closed */
	ck_assert_int_eq(xl_chan_pollfds(sh, XL_WAIT_DATA, pfd, 2), 2);
	ck_assert_int_ne(pfd[0].fd, old);
	cf.child = fork();
	ck_assert_int_ge(cf.child, 0);
	if (cf.child == 0) {
		/* after B is asleep (spin 0: it sleeps at once) */
		sleep_ms(100);
		_exit(csend(cf.a, "late", 4, 0, 1000) == 4 ? 0 : 1);
	}
	memset(got, 0, sizeof(got));
	ck_assert_int_eq(crecv(sh, got, 4, XL_CHAN_WAITALL, 3000), 4);
	ck_assert_str_eq(got, "late");
	ck_assert_int_eq(waitpid(cf.child, &status, 0), cf.child);
	cf.child = 0;
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	xl_chan_destroy(sh);	/* placed: the memory stays the caller's */
	ck_assert_ptr_null(sh->be);
	munmap(sh, sizeof(*sh));
}
END_TEST

Suite *chan_suite(void)
{
	Suite *s = suite_create("chan");
	TCase *tc;

	tc = tcase(s, "core", 15);
	tcase_add_test(tc, test_create_attach);
	tcase_add_test(tc, test_attach_refused);
	tcase_add_test(tc, test_create_pair);
	tcase_add_loop_test(tc, test_blocking, 0, 2);
	tcase_add_test(tc, test_nonblock);
	tcase_add_test(tc, test_waitall);
	tcase_add_test(tc, test_reclaim);
	tcase_add_test(tc, test_peek);
	tcase_add_loop_test(tc, test_timeouts, 0, 2);
	tcase_add_test(tc, test_big_vector);

	tc = tcase(s, "close", 10);
	tcase_add_test(tc, test_shutdown_tx);
	tcase_add_test(tc, test_shutdown_rx);
	tcase_add_loop_test(tc, test_peer_destroy, 0, 2);
	tcase_add_loop_test(tc, test_live_byte_only, 0, 2);
	tcase_add_test(tc, test_peer_killed);

	tc = tcase(s, "fdpass", 10);
	tcase_add_test(tc, test_scm_rights);
	tcase_add_test(tc, test_attach_at_fork);

	tc = tcase(s, "poll", 30);
	tcase_add_loop_test(tc, test_poll_loop, 0, 2);

	tc = tcase(s, "stress", 60);
	tcase_add_loop_test(tc, test_stress_fork, 0,
			    sizeof(stress_cfg) / sizeof(stress_cfg[0]));
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(chan_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
