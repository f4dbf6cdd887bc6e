/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the Xen transport (driver/xl_backend_xen.c), with fakes
 * behind every libxengnttab and libxenevtchn call it makes.
 *
 * The fakes model what the transport relies on, in one process, with
 * "domain A" and "domain B" as labels:
 *   - gntshr: a share is a memfd mapped MAP_SHARED, its pages named by
 *     consecutive grant references and granted to one domid. Unshare
 *     performs the unmap-notify, as gntalloc does (clear the byte, kick the
 *     port), then unmaps. The memory lives while anyone maps it.
 *   - gnttab: a mapping is a second mapping of that memfd, an alias at
 *     another address as a real grant mapping is, allowed only for
 *     consecutive pages of one share, by the domain it was granted to.
 *     Unmap performs the mapping's unmap-notify.
 *   - evtchn: a handle is an eventfd, readable while events are queued on
 *     it; ports pair up as bind_unbound_port and bind_interdomain do. An
 *     event masks its port until unmask and one raised meanwhile waits for
 *     the unmask, as in Xen, so a transport that forgot to unmask hangs.
 * Each call that can fail can be made to fail, and every handle, port,
 * share and mapping is counted, so error paths are checked for leaks. The
 * real libraries are exercised under a real Xen by tests/xen/.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xl_barrier.h"
#include "xl_chan.h"
#include "xl_xen_calls.h"

/* The channel's counters, by value. */
static struct xl_chan_stats chan_stats(const struct xl_chan *ch)
{
	struct xl_chan_stats st;

	xl_chan_get_stats(ch, &st);
	return st;
}

#define PAGE		XL_WIRE_PAGE_SIZE
#define DOM_A		3u
#define DOM_B		7u
#define FIRST_REF	8u
#define MAX_REFS	8192u
#define MAX_SHARES	16
#define MAX_MAPS	16
#define MAX_PORTS	64
#define LIVE_OFF(s)	offsetof(struct xl_wire_ctrl, dir[s].p.live)
/* A kick must wake a sleeper well before xl_chan.c's one-second look. */
#define PROMPT_MS	500

/* ---- bookkeeping and failure injection ---- */

static struct {
	int handles, ports, shares, maps;
} live;

static int fail_at, calls;		/* fail the fail_at-th call (0: none) */
static const char *failed;		/* and the name of the call that did */
static unsigned int ncalls;		/* every call that could fail */

/* Called first by every fake that can fail. Only the main thread injects,
 * so only ncalls is touched from other threads. */
static bool fail_here(const char *name)
{
	__atomic_fetch_add(&ncalls, 1, __ATOMIC_RELAXED);
	if (!fail_at || ++calls != fail_at)
		return false;
	failed = name;
	errno = ENOSPC;
	return true;
}

static void assert_no_leak(void)
{
	ck_assert_int_eq(live.handles, 0);
	ck_assert_int_eq(live.ports, 0);
	ck_assert_int_eq(live.shares, 0);
	ck_assert_int_eq(live.maps, 0);
}

static void raise_port(int port);

/* What gntalloc and gntdev do when a mapping with a notify goes away. */
static void unmap_notify(uint8_t *mem, int off, int port)
{
	if (off >= 0)
		__atomic_store_n(&mem[off], 0, __ATOMIC_SEQ_CST);
	if (port > 0)
		raise_port(port);
}

/* ---- fake grant sharing (side A) ---- */

struct share {
	bool used;
	int memfd;
	uint8_t *mem;			/* A's mapping; NULL once unshared */
	void *owner;			/* the gntshr handle */
	uint32_t count, domid;		/* pages, and who may map them */
	uint32_t first_ref;
	int notify_off, notify_port;	/* -1: none */
	int maps;			/* B's mappings of it */
};

static struct share shares[MAX_SHARES];
static int ref_share[MAX_REFS];		/* ref -> share + 1, 0: not granted */
static uint32_t next_ref;

static xengntshr_handle *f_gntshr_open(struct xentoollog_logger *l,
				       unsigned int flags)
{
	xengntshr_handle *h;

	(void)l;
	ck_assert_uint_eq(flags, 0);
	if (fail_here("gntshr_open"))
		return NULL;
	h = malloc(1);
	live.handles++;
	return h;
}

static int f_gntshr_close(xengntshr_handle *h)
{
	free(h);
	live.handles--;
	return 0;
}

static void *share_new(xengntshr_handle *h, uint32_t domid, int count,
		       uint32_t *refs, int off, int port)
{
	struct share *sh;
	int s, i;

	ck_assert_uint_eq(domid, DOM_B);
	ck_assert_int_gt(count, 0);
	ck_assert_uint_lt(next_ref + (uint32_t)count, MAX_REFS);
	for (s = 0; s < MAX_SHARES && shares[s].used; s++)
		;
	ck_assert_int_lt(s, MAX_SHARES);
	sh = &shares[s];
	*sh = (struct share){ .used = true, .owner = h, .domid = domid,
			      .count = (uint32_t)count, .first_ref = next_ref,
			      .notify_off = off, .notify_port = port };
	sh->memfd = memfd_create("fake-grant", MFD_CLOEXEC);
	ck_assert_int_ge(sh->memfd, 0);
	ck_assert_int_eq(ftruncate(sh->memfd, (off_t)count * PAGE), 0);
	sh->mem = mmap(NULL, (size_t)count * PAGE, PROT_READ | PROT_WRITE,
		       MAP_SHARED, sh->memfd, 0);
	ck_assert(sh->mem != MAP_FAILED);
	for (i = 0; i < count; i++) {
		refs[i] = next_ref++;
		ref_share[refs[i]] = s + 1;
	}
	live.shares++;
	return sh->mem;
}

static void *f_share_pages(xengntshr_handle *h, uint32_t domid, int count,
			   uint32_t *refs, int writable)
{
	ck_assert_int_eq(writable, 1);
	if (fail_here("share_pages"))
		return NULL;
	return share_new(h, domid, count, refs, -1, -1);
}

static void *f_share_page_notify(xengntshr_handle *h, uint32_t domid,
				 uint32_t *ref, int writable, uint32_t off,
				 evtchn_port_t port)
{
	ck_assert_int_eq(writable, 1);
	ck_assert_uint_lt(off, PAGE);
	if (fail_here("share_page_notify"))
		return NULL;
	return share_new(h, domid, 1, ref, (int)off, (int)port);
}

/* The memory goes once it is neither offered nor mapped. */
static void share_put(struct share *sh)
{
	uint32_t i;

	if (sh->mem || sh->maps)
		return;
	for (i = 0; i < sh->count; i++)
		ref_share[sh->first_ref + i] = 0;
	close(sh->memfd);
	sh->used = false;
	live.shares--;
}

static struct share *share_at(const void *mem)
{
	int s;

	for (s = 0; s < MAX_SHARES; s++)
		if (shares[s].used && shares[s].mem == mem)
			return &shares[s];
	return NULL;
}

static int f_unshare(xengntshr_handle *h, void *start, uint32_t count)
{
	struct share *sh = share_at(start);

	ck_assert_ptr_nonnull(sh);
	ck_assert_ptr_eq(sh->owner, h);
	ck_assert_uint_eq(count, sh->count);
	unmap_notify(sh->mem, sh->notify_off, sh->notify_port);
	ck_assert_int_eq(munmap(sh->mem, (size_t)count * PAGE), 0);
	sh->mem = NULL;
	share_put(sh);
	return 0;
}

/* ---- fake grant mapping (side B) ---- */

struct map {
	bool used;
	struct share *sh;
	uint8_t *addr;
	uint32_t count;
	void *owner;			/* the gnttab handle */
	int notify_off, notify_port;
};

static struct map maps[MAX_MAPS];

static xengnttab_handle *f_gnttab_open(struct xentoollog_logger *l,
				       unsigned int flags)
{
	xengnttab_handle *h;

	(void)l;
	ck_assert_uint_eq(flags, 0);
	if (fail_here("gnttab_open"))
		return NULL;
	h = malloc(1);
	live.handles++;
	return h;
}

static int f_gnttab_close(xengnttab_handle *h)
{
	free(h);
	live.handles--;
	return 0;
}

/* The share that refs name as consecutive pages, or NULL (EINVAL) where
 * Xen would refuse: unknown refs, another granter, not granted to B. */
static struct share *map_lookup(uint32_t count, uint32_t domid,
				const uint32_t *refs, uint32_t *index)
{
	struct share *sh;
	uint32_t i;

	if (domid != DOM_A || refs[0] >= MAX_REFS || !ref_share[refs[0]])
		return NULL;
	sh = &shares[ref_share[refs[0]] - 1];
	if (!sh->mem || sh->domid != DOM_B)
		return NULL;
	*index = refs[0] - sh->first_ref;
	if (*index + count > sh->count)
		return NULL;
	for (i = 1; i < count; i++)
		if (refs[i] != refs[0] + i)
			return NULL;
	return sh;
}

static void *map_new(xengnttab_handle *h, uint32_t count, uint32_t domid,
		     const uint32_t *refs, int prot, int off, int port)
{
	struct share *sh;
	struct map *m;
	uint32_t index;
	int i;

	ck_assert_int_eq(prot, PROT_READ | PROT_WRITE);
	ck_assert_uint_gt(count, 0);
	sh = map_lookup(count, domid, refs, &index);
	if (!sh) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < MAX_MAPS && maps[i].used; i++)
		;
	ck_assert_int_lt(i, MAX_MAPS);
	m = &maps[i];
	*m = (struct map){ .used = true, .sh = sh, .count = count,
			   .owner = h, .notify_off = off, .notify_port = port };
	m->addr = mmap(NULL, (size_t)count * PAGE, PROT_READ | PROT_WRITE,
		       MAP_SHARED, sh->memfd, (off_t)index * PAGE);
	ck_assert(m->addr != MAP_FAILED);
	sh->maps++;
	live.maps++;
	return m->addr;
}

static void *f_map_domain_refs(xengnttab_handle *h, uint32_t count,
			       uint32_t domid, uint32_t *refs, int prot)
{
	if (fail_here("map_domain_grant_refs"))
		return NULL;
	return map_new(h, count, domid, refs, prot, -1, -1);
}

static void *f_map_ref_notify(xengnttab_handle *h, uint32_t domid,
			      uint32_t ref, int prot, uint32_t off,
			      evtchn_port_t port)
{
	ck_assert_uint_lt(off, PAGE);
	if (fail_here("map_grant_ref_notify"))
		return NULL;
	return map_new(h, 1, domid, &ref, prot, (int)off, (int)port);
}

static struct map *map_at(const void *addr)
{
	int i;

	for (i = 0; i < MAX_MAPS; i++)
		if (maps[i].used && maps[i].addr == addr)
			return &maps[i];
	return NULL;
}

static int f_unmap(xengnttab_handle *h, void *start, uint32_t count)
{
	struct map *m = map_at(start);

	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_eq(m->owner, h);
	ck_assert_uint_eq(count, m->count);
	unmap_notify(m->addr, m->notify_off, m->notify_port);
	ck_assert_int_eq(munmap(m->addr, (size_t)count * PAGE), 0);
	m->used = false;
	m->sh->maps--;
	live.maps--;
	share_put(m->sh);
	return 0;
}

/* ---- fake event channels ---- */

struct xce {
	int efd;			/* readable while queue is not empty */
	int queue[MAX_PORTS], n;
};

static struct {
	bool live;
	struct xce *owner;
	int remote;			/* connected port, 0: none */
	uint32_t offered_to;		/* unbound: the domain that may bind */
	bool masked, pending;
} ports[MAX_PORTS];
static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;

static xenevtchn_handle *f_evtchn_open(struct xentoollog_logger *l,
				       unsigned int flags)
{
	struct xce *x;

	(void)l;
	ck_assert_uint_eq(flags, 0);
	if (fail_here("evtchn_open"))
		return NULL;
	x = calloc(1, sizeof(*x));
	/* blocking, as the real device opens: the transport must fix that */
	x->efd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(x->efd, 0);
	live.handles++;
	return (xenevtchn_handle *)x;
}

static int f_evtchn_close(xenevtchn_handle *h)
{
	struct xce *x = (struct xce *)h;

	close(x->efd);
	free(x);
	live.handles--;
	return 0;
}

static int f_evtchn_fd(xenevtchn_handle *h)
{
	return ((struct xce *)h)->efd;
}

/* Under ev_lock: what Xen does with an event for local port p. */
static void deliver(int p)
{
	struct xce *x = ports[p].owner;
	uint64_t one = 1;

	if (ports[p].masked) {
		ports[p].pending = true;
		return;
	}
	ports[p].masked = true;
	ck_assert_int_lt(x->n, MAX_PORTS);
	x->queue[x->n++] = p;
	ck_assert_int_eq(write(x->efd, &one, sizeof(one)), sizeof(one));
}

/* An event sent on local port p arrives at the port it is connected to. */
static void raise_port(int p)
{
	int r;

	pthread_mutex_lock(&ev_lock);
	ck_assert(p > 0 && p < MAX_PORTS);
	r = ports[p].live ? ports[p].remote : 0;
	if (r > 0 && ports[r].live)
		deliver(r);
	pthread_mutex_unlock(&ev_lock);
}

static int port_new(struct xce *x, int remote, uint32_t offered_to)
{
	int p;

	for (p = 1; p < MAX_PORTS && ports[p].live; p++)
		;
	ck_assert_int_lt(p, MAX_PORTS);
	ports[p].live = true;
	ports[p].owner = x;
	ports[p].remote = remote;
	ports[p].offered_to = offered_to;
	ports[p].masked = ports[p].pending = false;
	if (remote)
		ports[remote].remote = p;
	live.ports++;
	return p;
}

static int f_bind_unbound(xenevtchn_handle *h, uint32_t domid)
{
	int p;

	ck_assert_uint_eq(domid, DOM_B);
	if (fail_here("bind_unbound_port"))
		return -1;
	pthread_mutex_lock(&ev_lock);
	p = port_new((struct xce *)h, 0, domid);
	pthread_mutex_unlock(&ev_lock);
	return p;
}

static int f_bind_interdomain(xenevtchn_handle *h, uint32_t domid,
			      evtchn_port_t remote)
{
	int p = -1;

	ck_assert_uint_eq(domid, DOM_A);
	if (fail_here("bind_interdomain"))
		return -1;
	pthread_mutex_lock(&ev_lock);
	/* Xen: only a live unbound port offered to us */
	if (remote > 0 && remote < MAX_PORTS && ports[remote].live &&
	    !ports[remote].remote && ports[remote].offered_to == DOM_B)
		p = port_new((struct xce *)h, (int)remote, 0);
	pthread_mutex_unlock(&ev_lock);
	if (p < 0)
		errno = EINVAL;
	return p;
}

static void assert_owner(xenevtchn_handle *h, evtchn_port_t port)
{
	ck_assert(port > 0 && port < MAX_PORTS && ports[port].live);
	ck_assert_ptr_eq(ports[port].owner, (struct xce *)h);
}

static int f_evtchn_notify(xenevtchn_handle *h, evtchn_port_t port)
{
	pthread_mutex_lock(&ev_lock);
	assert_owner(h, port);
	pthread_mutex_unlock(&ev_lock);
	raise_port((int)port);
	return 0;
}

static int f_evtchn_pending(xenevtchn_handle *h)
{
	struct xce *x = (struct xce *)h;
	uint64_t count;
	int p = -1;

	/* the transport promised a nonblocking fd */
	ck_assert(fcntl(x->efd, F_GETFL) & O_NONBLOCK);
	pthread_mutex_lock(&ev_lock);
	if (x->n) {
		p = x->queue[0];
		memmove(x->queue, x->queue + 1, (size_t)--x->n * sizeof(int));
		if (!x->n)
			ck_assert_int_eq(read(x->efd, &count, sizeof(count)),
					 sizeof(count));
	}
	pthread_mutex_unlock(&ev_lock);
	if (p < 0)
		errno = EAGAIN;
	return p;
}

static int f_evtchn_unmask(xenevtchn_handle *h, evtchn_port_t port)
{
	if (fail_here("evtchn_unmask"))
		return -1;
	pthread_mutex_lock(&ev_lock);
	assert_owner(h, port);
	ports[port].masked = false;
	if (ports[port].pending) {
		ports[port].pending = false;
		deliver((int)port);
	}
	pthread_mutex_unlock(&ev_lock);
	return 0;
}

static int f_evtchn_unbind(xenevtchn_handle *h, evtchn_port_t port)
{
	struct xce *x = (struct xce *)h;
	bool queued = x->n > 0;
	uint64_t count;
	int r, i;

	pthread_mutex_lock(&ev_lock);
	assert_owner(h, port);
	r = ports[port].remote;
	if (r > 0 && ports[r].live && ports[r].remote == (int)port)
		ports[r].remote = 0;	/* the peer's end is unbound now */
	ports[port].live = false;
	for (i = 0; i < x->n;) {
		if (x->queue[i] != (int)port) {
			i++;
			continue;
		}
		x->n--;
		memmove(&x->queue[i], &x->queue[i + 1],
			(size_t)(x->n - i) * sizeof(int));
	}
	if (queued && !x->n)
		ck_assert_int_eq(read(x->efd, &count, sizeof(count)),
				 sizeof(count));
	live.ports--;
	pthread_mutex_unlock(&ev_lock);
	return 0;
}

static const struct xl_xen_calls fakes = {
	.gntshr_open = f_gntshr_open,
	.gntshr_close = f_gntshr_close,
	.gntshr_share_pages = f_share_pages,
	.gntshr_share_page_notify = f_share_page_notify,
	.gntshr_unshare = f_unshare,
	.gnttab_open = f_gnttab_open,
	.gnttab_close = f_gnttab_close,
	.gnttab_map_domain_grant_refs = f_map_domain_refs,
	.gnttab_map_grant_ref_notify = f_map_ref_notify,
	.gnttab_unmap = f_unmap,
	.evtchn_open = f_evtchn_open,
	.evtchn_close = f_evtchn_close,
	.evtchn_fd = f_evtchn_fd,
	.evtchn_bind_unbound_port = f_bind_unbound,
	.evtchn_bind_interdomain = f_bind_interdomain,
	.evtchn_notify = f_evtchn_notify,
	.evtchn_pending = f_evtchn_pending,
	.evtchn_unmask = f_evtchn_unmask,
	.evtchn_unbind = f_evtchn_unbind,
};

/* ---- fixture and helpers ---- */

static struct xl_chan *cha, *chb;
static struct xl_chan_desc desc;

static void setup(void)
{
	memset(&live, 0, sizeof(live));
	memset(shares, 0, sizeof(shares));
	memset(maps, 0, sizeof(maps));
	memset(ref_share, 0, sizeof(ref_share));
	memset(ports, 0, sizeof(ports));
	next_ref = FIRST_REF;
	fail_at = calls = 0;
	ncalls = 0;
	failed = NULL;
	cha = chb = NULL;
	memset(&desc, 0, sizeof(desc));
	xl_backend_xen_set_calls(&fakes);
}

static void teardown(void)
{
	xl_backend_xen_set_calls(NULL);
}

static int make_pair(uint32_t order0, uint32_t order1, uint32_t spin)
{
	struct xl_chan_params p = { .order = { order0, order1 },
				    .peer_domid = DOM_B };
	int ret;

	ret = xl_chan_create(&cha, &xl_backend_xen, &p, &desc, spin);
	if (ret < 0)
		return ret;
	desc.u.xen.domid = DOM_A;	/* what the daemon fills in */
	ret = xl_chan_attach(&chb, &desc, spin);
	xl_chan_desc_release(&desc);
	if (ret < 0) {
		xl_chan_destroy(cha);
		cha = NULL;
	}
	return ret;
}

static void destroy_pair(void)
{
	xl_chan_destroy(chb);
	xl_chan_destroy(cha);
	cha = chb = NULL;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool readable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN);
}

static int wait_fd(struct xl_chan *ch, enum xl_wait w)
{
	struct pollfd pfd;

	ck_assert_int_eq(xl_chan_pollfds(ch, w, &pfd, 1), 1);
	return pfd.fd;
}

/* Bounded wait for a sleeper's announcement in the shared page. */
static void wait_flag(const uint32_t *flag)
{
	uint64_t end = now_ms() + 2000;

	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE)) {
		ck_assert_uint_lt(now_ms(), end);
		usleep(1000);
	}
}

/* ---- core ---- */

#define XFER		(1u << 20)

struct xfer {
	struct xl_chan *ch;
	uint8_t seed;
	bool tx;
	ssize_t ret;
};

static void *xfer_run(void *arg)
{
	struct xfer *x = arg;
	uint8_t *buf = malloc(XFER);
	struct iovec iov = { buf, XFER };
	uint32_t i;

	if (x->tx) {
		for (i = 0; i < XFER; i++)
			buf[i] = (uint8_t)(i * 7 + x->seed + (i >> 12));
		x->ret = xl_chan_send(x->ch, &iov, 1, 0, 10000);
	} else {
		x->ret = xl_chan_recv(x->ch, &iov, 1, XL_CHAN_WAITALL, 10000);
		for (i = 0; x->ret == XFER && i < XFER; i++)
			if (buf[i] != (uint8_t)(i * 7 + x->seed + (i >> 12)))
				x->ret = -EILSEQ;
	}
	free(buf);
	return NULL;
}

static const uint32_t xfer_orders[][2] = { { 12, 12 }, { 13, 14 },
					   { 16, 12 } };

/* Both directions at once on four threads, spin 0: every wait sleeps on
 * the fake event channels, so a lost or swallowed kick hangs. */
START_TEST(test_exchange_both_ways)
{
	struct xfer x[4] = {
		{ .tx = true, .seed = 3 }, { .tx = false, .seed = 3 },
		{ .tx = true, .seed = 5 }, { .tx = false, .seed = 5 },
	};
	pthread_t th[4];
	int i;

	ck_assert_int_eq(make_pair(xfer_orders[_i][0], xfer_orders[_i][1], 0),
			 0);
	ck_assert_int_eq(xl_chan_tx_open(cha, 0), 0);
	ck_assert_int_eq(xl_chan_tx_open(chb, 1000), 0);
	x[0].ch = cha;
	x[1].ch = chb;
	x[2].ch = chb;
	x[3].ch = cha;
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, xfer_run, &x[i]),
				 0);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(x[i].ret, XFER);
	ck_assert_uint_gt(chan_stats(cha).sleeps, 0);
	ck_assert_uint_gt(chan_stats(chb).sleeps, 0);
	ck_assert_uint_gt(chan_stats(cha).notifies, 0);
	ck_assert_uint_gt(chan_stats(chb).notifies, 0);
	destroy_pair();
	assert_no_leak();
}
END_TEST

/* What create() grants and what attach() maps, notify set-ups included. */
START_TEST(test_layout)
{
	struct xl_chan_params p = { .order = { 12, 13 }, .peer_domid = DOM_B };
	struct share *ctrl, *data;
	struct map *m;
	uint32_t i, rport;

	ck_assert_int_eq(xl_chan_create(&cha, &xl_backend_xen, &p, &desc, 0),
			 0);
	ck_assert_uint_eq(desc.kind, XL_BACKEND_XEN);
	ck_assert_uint_eq(desc.side, 1);
	ck_assert_uint_eq(desc.order[1], 13);
	ck_assert_uint_eq(desc.u.xen.nrefs, 1 + 1 + 2);
	/* the library cannot know A's domid: left for the caller, invalid */
	ck_assert_uint_eq(desc.u.xen.domid, DOMID_INVALID);
	ck_assert_int_eq(xl_ring_ctrl_check(cha->ctrl, 12, 13), 0);
	/* control page alone, notifying on A's live byte and A's data port */
	ctrl = share_at(cha->ctrl);
	ck_assert_ptr_nonnull(ctrl);
	ck_assert_uint_eq(ctrl->count, 1);
	ck_assert_uint_eq(desc.u.xen.refs[0], ctrl->first_ref);
	ck_assert_int_eq(ctrl->notify_off, LIVE_OFF(0));
	ck_assert_int_eq(ctrl->notify_port, desc.u.xen.port[XL_WAIT_DATA]);
	/* data: both directions as one run, references in order */
	data = share_at(cha->data);
	ck_assert_ptr_nonnull(data);
	ck_assert_uint_eq(data->count, 3);
	for (i = 0; i < 3; i++)
		ck_assert_uint_eq(desc.u.xen.refs[1 + i], data->first_ref + i);
	ck_assert_uint_ne(desc.u.xen.port[0], desc.u.xen.port[1]);

	desc.u.xen.domid = DOM_A;
	ck_assert_int_eq(xl_chan_attach(&chb, &desc, 0), 0);
	ck_assert_uint_eq(chb->side, 1);
	/* B's control mapping notifies on B's live byte, on the port bound
	 * to A's data port */
	m = map_at(chb->ctrl);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(m->notify_off, LIVE_OFF(1));
	rport = desc.u.xen.port[XL_WAIT_DATA];
	ck_assert_int_eq(ports[m->notify_port].remote, (int)rport);
	ck_assert_ptr_eq(map_at(chb->data)->sh, data);
	/* separate mappings of the same pages */
	ck_assert_ptr_ne(cha->data, chb->data);
	cha->data[(1u << 12) + 5] = 0xa5;
	ck_assert_uint_eq(chb->data[(1u << 12) + 5], 0xa5);
	chb->data[(1u << 12) + (1u << 13) - 1] = 0x5a;
	ck_assert_uint_eq(cha->data[(1u << 12) + (1u << 13) - 1], 0x5a);
	xl_chan_desc_release(&desc);
	ck_assert_ptr_null(desc.u.xen.refs);
	destroy_pair();
	assert_no_leak();
}
END_TEST

/* One nonblocking fd per kind of sleeper; kicks land on the right one. */
START_TEST(test_pollfds)
{
	struct pollfd pfd[4];

	ck_assert_int_eq(make_pair(12, 12, 0), 0);
	ck_assert_int_eq(xl_chan_pollfds(chb, XL_WAIT_DATA, pfd, 4), 1);
	ck_assert_int_eq(pfd[0].events, POLLIN);
	ck_assert(fcntl(pfd[0].fd, F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(pfd[0].fd, F_GETFD) & FD_CLOEXEC);
	ck_assert_int_ne(wait_fd(chb, XL_WAIT_DATA),
			 wait_fd(chb, XL_WAIT_SPACE));
	ck_assert_int_eq(xl_chan_pollfds(chb, XL_WAIT_DATA, pfd, 0), -EINVAL);
	destroy_pair();
	assert_no_leak();
}
END_TEST

/* ack() drains a handle and unmasks, so the next kick arrives; it leaves
 * the other kind's handle alone. */
START_TEST(test_kicks)
{
	struct pollfd pfd;
	int bd, bs;

	ck_assert_int_eq(make_pair(12, 12, 0), 0);
	bd = wait_fd(chb, XL_WAIT_DATA);
	bs = wait_fd(chb, XL_WAIT_SPACE);
	ck_assert(!readable(bd) && !readable(bs));
	ck_assert_int_eq(xl_backend_xen.notify(cha, XL_WAIT_DATA), 0);
	ck_assert(readable(bd));
	ck_assert(!readable(bs));
	ck_assert(!readable(wait_fd(cha, XL_WAIT_DATA)));
	/* an fd that did not fire is not touched */
	pfd = (struct pollfd){ .fd = bd, .events = POLLIN, .revents = 0 };
	ck_assert_int_eq(xl_chan_ack(chb, XL_WAIT_DATA, &pfd, 1), 0);
	ck_assert(readable(bd));
	pfd.revents = POLLIN;
	ck_assert_int_eq(xl_chan_ack(chb, XL_WAIT_DATA, &pfd, 1), 0);
	ck_assert(!readable(bd));
	/* a second kick while masked waits for the unmask, then is drained */
	ck_assert_int_eq(xl_backend_xen.notify(cha, XL_WAIT_DATA), 0);
	ck_assert_int_eq(xl_backend_xen.notify(cha, XL_WAIT_DATA), 0);
	ck_assert_int_eq(xl_chan_ack(chb, XL_WAIT_DATA, NULL, 0), 0);
	ck_assert(!readable(bd));
	/* unmasked: the next kick is delivered */
	ck_assert_int_eq(xl_backend_xen.notify(cha, XL_WAIT_DATA), 0);
	ck_assert(readable(bd));
	ck_assert_int_eq(xl_chan_ack(chb, XL_WAIT_DATA, NULL, 0), 0);
	/* the other kind, the other way */
	ck_assert_int_eq(xl_backend_xen.notify(chb, XL_WAIT_SPACE), 0);
	ck_assert(readable(wait_fd(cha, XL_WAIT_SPACE)));
	ck_assert(!readable(wait_fd(cha, XL_WAIT_DATA)));
	ck_assert_int_eq(xl_chan_ack(cha, XL_WAIT_SPACE, NULL, 0), 0);
	ck_assert(!readable(wait_fd(cha, XL_WAIT_SPACE)));
	ck_assert(xl_chan_peer_live(cha) && xl_chan_peer_live(chb));
	destroy_pair();
	assert_no_leak();
}
END_TEST

/* ---- limits ---- */

static int try_create(uint32_t o0, uint32_t o1, uint32_t domid)
{
	struct xl_chan_params p = { .order = { o0, o1 }, .peer_domid = domid };
	int ret = xl_chan_create(&cha, &xl_backend_xen, &p, &desc, 0);

	if (ret < 0)	/* refused before any library call */
		ck_assert_uint_eq(ncalls, 0);
	ncalls = 0;
	if (ret == 0) {
		xl_chan_desc_release(&desc);
		xl_chan_destroy(cha);
		cha = NULL;
	}
	assert_no_leak();
	return ret;
}

START_TEST(test_bad_params)
{
	ck_assert_int_eq(try_create(11, 12, DOM_B), -EINVAL);
	ck_assert_int_eq(try_create(12, 11, DOM_B), -EINVAL);
	ck_assert_int_eq(try_create(27, 12, DOM_B), -EINVAL);
	ck_assert_int_eq(try_create(12, 27, DOM_B), -EINVAL);
	ck_assert_int_eq(try_create(0, 0, DOM_B), -EINVAL);
	/* 1 + 2 x 1024 pages, and one page over the cap */
	ck_assert_int_eq(try_create(22, 22, DOM_B), -E2BIG);
	ck_assert_int_eq(try_create(21, 12, DOM_B), -E2BIG);
	/* exactly the cap */
	ck_assert_uint_eq(1 + 2 * 256, XL_XEN_MAX_GRANTS);
	ck_assert_int_eq(try_create(20, 20, DOM_B), 0);
	/* reserved or truncated domids */
	ck_assert_int_eq(try_create(12, 12, DOMID_FIRST_RESERVED), -EINVAL);
	ck_assert_int_eq(try_create(12, 12, 0x10000 + DOM_B), -EINVAL);
}
END_TEST

/* Attach with bad, a copy of the good descriptor spoiled; only A's
 * resources may be left afterwards. */
static void attach_fails(const struct xl_chan_desc *bad, int expect)
{
	int h = live.handles, p = live.ports, s = live.shares;

	chb = NULL;
	ck_assert_int_eq(xl_chan_attach(&chb, bad, 0), expect);
	ck_assert_ptr_null(chb);
	ck_assert_int_eq(live.handles, h);
	ck_assert_int_eq(live.ports, p);
	ck_assert_int_eq(live.shares, s);
	ck_assert_int_eq(live.maps, 0);
}

START_TEST(test_bad_desc)
{
	struct xl_chan_params p = { .order = { 12, 12 }, .peer_domid = DOM_B };
	struct xl_chan_desc bad;
	struct xl_chan tmp = { 0 };
	uint32_t refs[3];

	ck_assert_int_eq(xl_chan_create(&cha, &xl_backend_xen, &p, &desc, 0),
			 0);
	ck_assert_uint_eq(desc.u.xen.nrefs, 3);
	/* the caller forgot to fill in A's domid */
	attach_fails(&desc, -EINVAL);
	desc.u.xen.domid = DOM_A;
#define SPOIL(field, value, expect) do {		\
		bad = desc;				\
		bad.field = (value);			\
		attach_fails(&bad, (expect));		\
	} while (0)
	SPOIL(u.xen.nrefs, desc.u.xen.nrefs - 1, -EINVAL);
	SPOIL(u.xen.nrefs, desc.u.xen.nrefs + 1, -EINVAL);
	SPOIL(u.xen.nrefs, 0, -EINVAL);
	SPOIL(u.xen.refs, NULL, -EINVAL);
	SPOIL(side, 0, -EINVAL);
	SPOIL(kind, 99, -EPROTONOSUPPORT);
	SPOIL(order[1], 13, -EINVAL);	/* nrefs no longer matches */
	SPOIL(order[0], 11, -EINVAL);
	SPOIL(order[0], 22, -E2BIG);
	SPOIL(u.xen.domid, 0x10000 + DOM_A, -EINVAL);
	SPOIL(u.xen.port[1], desc.u.xen.port[0], -EINVAL);
	/* the library refuses: nothing acquired before stays */
	SPOIL(u.xen.port[0], MAX_PORTS - 1, -EINVAL);
	SPOIL(u.xen.port[1], MAX_PORTS - 1, -EINVAL);
	memcpy(refs, desc.u.xen.refs, sizeof(refs));
	refs[0] = MAX_REFS - 1;		/* not granted */
	SPOIL(u.xen.refs, refs, -EINVAL);
	memcpy(refs, desc.u.xen.refs, sizeof(refs));
	refs[2] = refs[1];		/* not the pages in order */
	SPOIL(u.xen.refs, refs, -EINVAL);
#undef SPOIL
	/* no failed attach fired B's unmap-notify into A's page */
	ck_assert(xl_chan_peer_live(cha));
	ck_assert(!readable(wait_fd(cha, XL_WAIT_DATA)));
	/* straight to the transport: another transport's descriptor */
	bad = desc;
	bad.kind = XL_BACKEND_LOCAL;
	ck_assert_int_eq(xl_backend_xen.attach(&tmp, &bad), -EINVAL);
	ck_assert_ptr_null(tmp.be);
	/* the good one still works */
	ck_assert_int_eq(xl_chan_attach(&chb, &desc, 0), 0);
	xl_chan_desc_release(&desc);
	destroy_pair();
	assert_no_leak();
}
END_TEST

/* A control page that disagrees with the descriptor: attach undoes it all. */
START_TEST(test_forged_ctrl)
{
	struct xl_chan_params p = { .order = { 12, 12 }, .peer_domid = DOM_B };

	ck_assert_int_eq(xl_chan_create(&cha, &xl_backend_xen, &p, &desc, 0),
			 0);
	desc.u.xen.domid = DOM_A;
	cha->ctrl->order[0] = 20;
	attach_fails(&desc, -EPROTO);
	xl_chan_desc_release(&desc);
	xl_chan_destroy(cha);
	assert_no_leak();
}
END_TEST

/*
 * Fail each library call of a create + attach in turn: every failure comes
 * back as -errno of that call and unwinds completely. The calls, in order:
 * create: evtchn_open x2, (bind_unbound_port, evtchn_unmask) x2,
 * gntshr_open, share_page_notify, share_pages; attach: evtchn_open x2,
 * (bind_interdomain, evtchn_unmask) x2, gnttab_open, map_domain_grant_refs,
 * map_grant_ref_notify.
 */
START_TEST(test_inject_each_call)
{
	static const char *const must[] = {
		"evtchn_open", "bind_unbound_port", "evtchn_unmask",
		"gntshr_open", "share_page_notify", "share_pages",
		"bind_interdomain", "gnttab_open", "map_grant_ref_notify",
		"map_domain_grant_refs",
	};
	const char *seen[40];
	unsigned int i, j;
	int n, ret;

	for (n = 1; n < 40; n++) {
		calls = 0;
		failed = NULL;
		fail_at = n;
		ret = make_pair(12, 12, 0);
		if (!failed) {		/* past the last call */
			ck_assert_int_eq(ret, 0);
			destroy_pair();
			assert_no_leak();
			break;
		}
		ck_assert_msg(ret == -ENOSPC, "call %d (%s): %d", n, failed,
			      ret);
		assert_no_leak();
		seen[n - 1] = failed;
	}
	ck_assert_int_eq(n - 1, 18);
	for (i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
		for (j = 0; j < (unsigned int)n - 1; j++)
			if (!strcmp(seen[j], must[i]))
				break;
		ck_assert_msg(j < (unsigned int)n - 1, "%s never failed",
			      must[i]);
	}
}
END_TEST

/* ---- liveness ---- */

struct waiter {
	struct xl_chan *ch;
	bool tx;
	ssize_t ret;
	uint64_t done_ms;
};

static void *waiter_run(void *arg)
{
	struct waiter *w = arg;
	uint8_t byte = 1;
	struct iovec iov = { &byte, 1 };

	if (w->tx)
		w->ret = xl_chan_send(w->ch, &iov, 1, 0, 5000);
	else
		w->ret = xl_chan_recv(w->ch, &iov, 1, 0, 5000);
	w->done_ms = now_ms();
	return NULL;
}

/* Start a thread that sleeps in recv (or send) on ch; return once it has
 * announced the sleep in the shared page. */
static void sleeper_start(pthread_t *th, struct waiter *w, struct xl_chan *ch,
			  bool tx)
{
	unsigned int d = tx ? ch->side : !ch->side;

	*w = (struct waiter){ .ch = ch, .tx = tx };
	ck_assert_int_eq(pthread_create(th, NULL, waiter_run, w), 0);
	if (tx)
		wait_flag(&ch->ctrl->dir[d].p.want_space);
	else
		wait_flag(&ch->ctrl->dir[d].c.want_data);
}

/* The sleeper gave up with -ECONNRESET, woken by a kick, not by the
 * periodic look at the live byte. */
static void sleeper_reset(pthread_t th, struct waiter *w, uint64_t t0)
{
	pthread_join(th, NULL);
	ck_assert_int_eq(w->ret, -ECONNRESET);
	ck_assert_msg(w->done_ms - t0 < PROMPT_MS, "woke after %llu ms",
		      (unsigned long long)(w->done_ms - t0));
	ck_assert(!xl_chan_peer_live(w->ch));
}

/* A destroys: B asleep in recv wakes at once; B's ack says so too. */
START_TEST(test_destroy_a)
{
	struct waiter w;
	pthread_t th;
	uint64_t t0;

	ck_assert_int_eq(make_pair(12, 12, 0), 0);
	sleeper_start(&th, &w, chb, false);
	t0 = now_ms();
	xl_chan_destroy(cha);
	cha = NULL;
	sleeper_reset(th, &w, t0);
	ck_assert_int_eq(xl_backend_xen.ack(chb, XL_WAIT_DATA, NULL, 0),
			 -ECONNRESET);
	xl_chan_destroy(chb);
	assert_no_leak();
}
END_TEST

/* B destroys: A asleep in send on a full ring wakes at once (destroy kicks
 * the space sleeper as well). */
START_TEST(test_destroy_b)
{
	static uint8_t fill[1u << 12];
	struct iovec iov = { fill, sizeof(fill) };
	struct waiter w;
	pthread_t th;
	uint64_t t0;

	ck_assert_int_eq(make_pair(12, 12, 0), 0);
	ck_assert_int_eq(xl_chan_tx_open(cha, 0), 0);
	ck_assert_int_eq(xl_chan_send(cha, &iov, 1, XL_CHAN_NONBLOCK, 0),
			 sizeof(fill));
	sleeper_start(&th, &w, cha, true);
	t0 = now_ms();
	xl_chan_destroy(chb);
	chb = NULL;
	sleeper_reset(th, &w, t0);
	ck_assert_int_eq(xl_backend_xen.ack(cha, XL_WAIT_SPACE, NULL, 0),
			 -ECONNRESET);
	xl_chan_destroy(cha);
	assert_no_leak();
}
END_TEST

/* A's process dies without a word: gntalloc's unmap-notify alone (clear
 * A's live byte, kick A's data port) must wake B. */
START_TEST(test_crash_a)
{
	struct share *sh;
	struct waiter w;
	pthread_t th;
	uint64_t t0;

	ck_assert_int_eq(make_pair(12, 12, 0), 0);
	sleeper_start(&th, &w, chb, false);
	sh = share_at(cha->ctrl);
	ck_assert_ptr_nonnull(sh);
	t0 = now_ms();
	unmap_notify(sh->mem, sh->notify_off, sh->notify_port);
	sleeper_reset(th, &w, t0);
	destroy_pair();
	assert_no_leak();
}
END_TEST

/* The same for B's process and gntdev's unmap-notify. */
START_TEST(test_crash_b)
{
	struct waiter w;
	struct map *m;
	pthread_t th;
	uint64_t t0;

	ck_assert_int_eq(make_pair(12, 12, 0), 0);
	sleeper_start(&th, &w, cha, false);
	m = map_at(chb->ctrl);
	ck_assert_ptr_nonnull(m);
	t0 = now_ms();
	unmap_notify(m->addr, m->notify_off, m->notify_port);
	sleeper_reset(th, &w, t0);
	destroy_pair();
	assert_no_leak();
}
END_TEST

/* Is [p, p + len) unmapped in this process? */
static bool unmapped(const void *p, size_t len)
{
	return msync((void *)p, len, MS_ASYNC) < 0 && errno == ENOMEM;
}

/*
 * A forked child inherits neither side's mappings, and letting go of the
 * channels there (forget) tells the peer nothing: the parent's channel
 * carries on.
 */
START_TEST(test_fork_forget)
{
	uint8_t out[5] = "ping", in[5] = { 0 };
	struct iovec iov_out = { out, 4 }, iov_in = { in, 4 };
	uint64_t end;
	pid_t pid;
	int status, bad;

	ck_assert_int_eq(make_pair(12, 12, 0), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		bad = !unmapped(cha->ctrl, PAGE) << 0 |
		      !unmapped(cha->data, 2 * PAGE) << 1 |
		      !unmapped(chb->ctrl, PAGE) << 2 |
		      !unmapped(chb->data, 2 * PAGE) << 3;
		xl_chan_forget(cha);
		xl_chan_forget(chb);
		_exit(bad);
	}
	end = now_ms() + 5000;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		ck_assert_uint_lt(now_ms(), end);
		usleep(1000);
	}
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	ck_assert(xl_chan_peer_live(cha) && xl_chan_peer_live(chb));
	ck_assert(!readable(wait_fd(cha, XL_WAIT_DATA)));
	ck_assert(!readable(wait_fd(chb, XL_WAIT_DATA)));
	ck_assert_int_eq(xl_chan_tx_open(cha, 0), 0);
	ck_assert_int_eq(xl_chan_send(cha, &iov_out, 1, XL_CHAN_NONBLOCK, 0),
			 4);
	ck_assert_int_eq(xl_chan_recv(chb, &iov_in, 1, XL_CHAN_NONBLOCK, 0),
			 4);
	ck_assert_str_eq((char *)in, "ping");
	destroy_pair();
	assert_no_leak();
}
END_TEST

static Suite *backend_xen_suite(void)
{
	Suite *s = suite_create("backend_xen");
	TCase *tc;

	tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_exchange_both_ways, 0,
			    sizeof(xfer_orders) / sizeof(xfer_orders[0]));
	tcase_add_test(tc, test_layout);
	tcase_add_test(tc, test_pollfds);
	tcase_add_test(tc, test_kicks);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_bad_params);
	tcase_add_test(tc, test_bad_desc);
	tcase_add_test(tc, test_forged_ctrl);
	tcase_add_test(tc, test_inject_each_call);
	suite_add_tcase(s, tc);

	tc = tcase_create("liveness");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_destroy_a);
	tcase_add_test(tc, test_destroy_b);
	tcase_add_test(tc, test_crash_a);
	tcase_add_test(tc, test_crash_b);
	tcase_add_test(tc, test_fork_forget);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(backend_xen_suite());
	int failed_n;

	srunner_run_all(sr, CK_ENV);
	failed_n = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed_n ? EXIT_FAILURE : EXIT_SUCCESS;
}
