/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the Xen transport with fakes behind its library calls.
 *
 * The fakes model what the transport relies on: a grant is memory shared
 * with one domid, a mapping aliases the same memory, and the memory lives
 * until it is neither shared nor mapped (as gntalloc defers the free);
 * unmap-notify clears a byte and raises an event; an interdomain event
 * channel delivers a notify on one end as a pending port on the other
 * end's handle, whose fd becomes readable. Every call can be made to fail,
 * and every page, handle and port is counted, so error paths are checked
 * for leaks. The real transport runs in tests/xen/ under a real Xen.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "xl_chan.h"
#include "xl_xen_calls.h"

#define PAGE		XL_WIRE_PAGE_SIZE
#define MAX_REFS	4096
#define MAX_PORTS	64
#define MAX_SHARES	64
#define DOM_A		1
#define DOM_B		2

/* ---- fake grant tables ---- */

struct share {
	uint8_t *mem;
	uint32_t count, domid;
	int live, unshared, maps;
	int notify, map_notify;		/* byte offsets, -1 for none */
	int port, map_port;
};

static struct share shares[MAX_SHARES];
static struct { int share; uint32_t index; } refs_tab[MAX_REFS];
static uint32_t next_ref = 1;
static int outstanding;		/* pages' shares + handles + ports */
static int call_no, fail_at;	/* fail the fail_at-th call (0: never) */

static int inject(void)
{
	if (fail_at && ++call_no == fail_at) {
		errno = ENOSPC;
		return 1;
	}
	return 0;
}

static void fake_evtchn_raise(int port);

static int share_new(uint32_t domid, int count, uint32_t *refs)
{
	int s, i;

	for (s = 0; s < MAX_SHARES && shares[s].live; s++)
		;
	ck_assert_int_lt(s, MAX_SHARES);
	shares[s] = (struct share){ .live = 1, .count = (uint32_t)count,
				    .domid = domid, .notify = -1,
				    .map_notify = -1 };
	shares[s].mem = aligned_alloc(PAGE, (size_t)count * PAGE);
	memset(shares[s].mem, 0, (size_t)count * PAGE);
	for (i = 0; i < count; i++) {
		refs[i] = next_ref++;
		refs_tab[refs[i]].share = s;
		refs_tab[refs[i]].index = (uint32_t)i;
	}
	outstanding++;
	return s;
}

static void share_put(int s)
{
	if (shares[s].unshared && !shares[s].maps) {
		free(shares[s].mem);
		shares[s].live = 0;
		outstanding--;
	}
}

static int share_of(void *start)
{
	int s;

	for (s = 0; s < MAX_SHARES; s++)
		if (shares[s].live && !shares[s].unshared &&
		    shares[s].mem == start)
			return s;
	return -1;
}

static struct { int dummy; } gntshr_h, gnttab_h;

static xengntshr_handle *f_gntshr_open(struct xentoollog_logger *l,
				       unsigned int f)
{
	if (inject())
		return NULL;
	outstanding++;
	return (xengntshr_handle *)&gntshr_h;
}

static int f_gntshr_close(xengntshr_handle *h)
{
	outstanding--;
	return 0;
}

static void *f_share_pages(xengntshr_handle *h, uint32_t domid, int count,
			   uint32_t *refs, int writable)
{
	ck_assert(writable);
	if (inject())
		return NULL;
	return shares[share_new(domid, count, refs)].mem;
}

static void *f_share_page_notify(xengntshr_handle *h, uint32_t domid,
				 uint32_t *ref, int writable, uint32_t off,
				 evtchn_port_t port)
{
	int s;

	if (inject())
		return NULL;
	s = share_new(domid, 1, ref);
	shares[s].notify = (int)off;
	shares[s].port = (int)port;
	return shares[s].mem;
}

/* Unmap-notify: clear the byte, raise the event (from the unmapper). */
static void do_notify(int s, int off, int port)
{
	if (off < 0)
		return;
	__atomic_store_n(&shares[s].mem[off], 0, __ATOMIC_SEQ_CST);
	fake_evtchn_raise(port);
}

static int f_unshare(xengntshr_handle *h, void *start, uint32_t count)
{
	int s = share_of(start);

	ck_assert_int_ge(s, 0);
	ck_assert_uint_eq(count, shares[s].count);
	do_notify(s, shares[s].notify, shares[s].port);
	shares[s].unshared = 1;
	share_put(s);
	return 0;
}

static xengnttab_handle *f_gnttab_open(struct xentoollog_logger *l,
				       unsigned int f)
{
	if (inject())
		return NULL;
	outstanding++;
	return (xengnttab_handle *)&gnttab_h;
}

static int f_gnttab_close(xengnttab_handle *h)
{
	outstanding--;
	return 0;
}

/* The refs must be consecutive pages of one share, granted to DOM_B. */
static void *f_map_refs(uint32_t count, uint32_t domid, const uint32_t *refs)
{
	int s = refs_tab[refs[0]].share;
	uint32_t i;

	ck_assert_uint_eq(domid, DOM_A);
	for (i = 0; i < count; i++) {
		ck_assert(refs[i] > 0 && refs[i] < next_ref);
		ck_assert_int_eq(refs_tab[refs[i]].share, s);
		ck_assert_uint_eq(refs_tab[refs[i]].index, i);
	}
	ck_assert_uint_eq(shares[s].domid, DOM_B);
	shares[s].maps++;
	return shares[s].mem;
}

static void *f_map_domain_refs(xengnttab_handle *h, uint32_t count,
			       uint32_t domid, uint32_t *refs, int prot)
{
	if (inject())
		return NULL;
	return f_map_refs(count, domid, refs);
}

static void *f_map_ref_notify(xengnttab_handle *h, uint32_t domid,
			      uint32_t ref, int prot, uint32_t off,
			      evtchn_port_t port)
{
	uint8_t *mem;
	int s;

	if (inject())
		return NULL;
	mem = f_map_refs(1, domid, &ref);
	s = refs_tab[ref].share;
	shares[s].map_notify = (int)off;
	shares[s].map_port = (int)port;
	return mem;
}

static int f_unmap(xengnttab_handle *h, void *start, uint32_t count)
{
	int s;

	for (s = 0; s < MAX_SHARES; s++)
		if (shares[s].live && shares[s].mem == start &&
		    shares[s].maps)
			break;
	ck_assert_int_lt(s, MAX_SHARES);
	ck_assert_uint_eq(count, shares[s].count);
	do_notify(s, shares[s].map_notify, shares[s].map_port);
	shares[s].maps--;
	share_put(s);
	return 0;
}

/* ---- fake event channels ---- */

struct xce {
	int efd;
	pthread_mutex_t lock;
	int queue[MAX_PORTS], n;
};

static struct { struct xce *owner; int remote, live; } ports[MAX_PORTS];
static pthread_mutex_t ports_lock = PTHREAD_MUTEX_INITIALIZER;

static xenevtchn_handle *f_evtchn_open(struct xentoollog_logger *l,
				       unsigned int f)
{
	struct xce *x;

	if (inject())
		return NULL;
	x = calloc(1, sizeof(*x));
	x->efd = eventfd(0, EFD_CLOEXEC);
	pthread_mutex_init(&x->lock, NULL);
	outstanding++;
	return (xenevtchn_handle *)x;
}

static int f_evtchn_close(xenevtchn_handle *h)
{
	struct xce *x = (struct xce *)h;

	close(x->efd);
	free(x);
	outstanding--;
	return 0;
}

static int f_evtchn_fd(xenevtchn_handle *h)
{
	return ((struct xce *)h)->efd;
}

static int port_new(struct xce *x, int remote)
{
	int p;

	pthread_mutex_lock(&ports_lock);
	for (p = 1; p < MAX_PORTS && ports[p].live; p++)
		;
	ck_assert_int_lt(p, MAX_PORTS);
	ports[p].owner = x;
	ports[p].remote = remote;
	ports[p].live = 1;
	if (remote > 0)
		ports[remote].remote = p;
	outstanding++;
	pthread_mutex_unlock(&ports_lock);
	return p;
}

static xenevtchn_port_or_error_t f_bind_unbound(xenevtchn_handle *h,
						uint32_t domid)
{
	ck_assert_uint_eq(domid, DOM_B);
	if (inject())
		return -1;
	return port_new((struct xce *)h, 0);
}

static xenevtchn_port_or_error_t f_bind_interdomain(xenevtchn_handle *h,
						    uint32_t domid,
						    evtchn_port_t remote)
{
	ck_assert_uint_eq(domid, DOM_A);
	if (inject())
		return -1;
	ck_assert(remote > 0 && remote < MAX_PORTS && ports[remote].live);
	ck_assert_int_eq(ports[remote].remote, 0);
	return port_new((struct xce *)h, (int)remote);
}

/* An event raised on local port p arrives at its remote end. */
static void fake_evtchn_raise(int p)
{
	struct xce *x;
	uint64_t one = 1;
	int r;

	pthread_mutex_lock(&ports_lock);
	r = ports[p].live ? ports[p].remote : 0;
	x = r > 0 && ports[r].live ? ports[r].owner : NULL;
	if (x) {
		pthread_mutex_lock(&x->lock);
		if (x->n < MAX_PORTS)
			x->queue[x->n++] = r;
		pthread_mutex_unlock(&x->lock);
		ck_assert_int_eq(write(x->efd, &one, sizeof(one)), 8);
	}
	pthread_mutex_unlock(&ports_lock);
}

static int f_evtchn_notify(xenevtchn_handle *h, evtchn_port_t port)
{
	fake_evtchn_raise((int)port);
	return 0;
}

static xenevtchn_port_or_error_t f_evtchn_pending(xenevtchn_handle *h)
{
	struct xce *x = (struct xce *)h;
	uint64_t count;
	int p = -1;

	pthread_mutex_lock(&x->lock);
	if (x->n) {
		p = x->queue[--x->n];
		if (!x->n)	/* the fd is readable while events queue */
			ck_assert_int_eq(read(x->efd, &count, 8), 8);
	}
	pthread_mutex_unlock(&x->lock);
	if (p < 0)
		errno = EAGAIN;
	return p;
}

static int f_evtchn_unmask(xenevtchn_handle *h, evtchn_port_t port)
{
	return 0;
}

static int f_evtchn_unbind(xenevtchn_handle *h, evtchn_port_t port)
{
	pthread_mutex_lock(&ports_lock);
	ck_assert(ports[port].live);
	ck_assert(ports[port].owner == (struct xce *)h);
	ports[port].live = 0;
	outstanding--;
	pthread_mutex_unlock(&ports_lock);
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

/* ---- fixture ---- */

static struct xl_chan *cha, *chb;
static struct xl_chan_desc desc;

static void setup(void)
{
	xl_backend_xen_set_calls(&fakes);
	outstanding = 0;
	call_no = fail_at = 0;
	cha = chb = NULL;
	memset(&desc, 0, sizeof(desc));
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

/* ---- core ---- */

#define XFER (1u << 20)

struct xfer {
	struct xl_chan *ch;
	uint8_t seed;
	ssize_t ret;
};

static void *sender(void *arg)
{
	struct xfer *x = arg;
	uint8_t *buf = malloc(XFER);
	struct iovec iov = { buf, XFER };
	uint32_t i;

	for (i = 0; i < XFER; i++)
		buf[i] = (uint8_t)(i * 7 + x->seed);
	x->ret = xl_chan_send(x->ch, &iov, 1, 0, 10000);
	free(buf);
	return NULL;
}

static void *receiver(void *arg)
{
	struct xfer *x = arg;
	uint8_t *buf = malloc(XFER);
	struct iovec iov = { buf, XFER };
	uint32_t i;

	x->ret = xl_chan_recv(x->ch, &iov, 1, XL_CHAN_WAITALL, 10000);
	for (i = 0; x->ret == XFER && i < XFER; i++)
		if (buf[i] != (uint8_t)(i * 7 + x->seed))
			x->ret = -EILSEQ;
	free(buf);
	return NULL;
}

START_TEST(test_exchange_both_ways)
{
	struct xfer tx[2], rx[2];
	pthread_t th[4];
	int i;

	/* spin 0: every wait sleeps on the fake event channels */
	ck_assert_int_eq(make_pair(13, 14, 0), 0);
	ck_assert_int_eq(xl_chan_tx_open(cha, 0), 0);
	ck_assert_int_eq(xl_chan_tx_open(chb, 0), 0);
	tx[0] = (struct xfer){ cha, 3, 0 };
	rx[0] = (struct xfer){ chb, 3, 0 };
	tx[1] = (struct xfer){ chb, 5, 0 };
	rx[1] = (struct xfer){ cha, 5, 0 };
	for (i = 0; i < 2; i++) {
		pthread_create(&th[2 * i], NULL, sender, &tx[i]);
		pthread_create(&th[2 * i + 1], NULL, receiver, &rx[i]);
	}
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(tx[i].ret, XFER);
		ck_assert_int_eq(rx[i].ret, XFER);
	}
	ck_assert_uint_gt(chb->stats.sleeps + cha->stats.sleeps, 0);
	xl_chan_destroy(chb);
	xl_chan_destroy(cha);
	ck_assert_int_eq(outstanding, 0);
}
END_TEST

START_TEST(test_grant_layout)
{
	ck_assert_int_eq(make_pair(12, 13, 0), 0);
	/* the control page and the data are separate grants, mapped to
	 * the same memory on both sides, data contiguous */
	ck_assert_ptr_eq(cha->ctrl, chb->ctrl);
	ck_assert_ptr_eq(cha->data, chb->data);
	ck_assert_uint_eq(chb->side, 1);
	ck_assert_uint_eq(chb->ctrl->order[1], 13);
	xl_chan_destroy(chb);
	xl_chan_destroy(cha);
	ck_assert_int_eq(outstanding, 0);
}
END_TEST

/* ---- limits ---- */

START_TEST(test_bad_orders)
{
	struct xl_chan_params p = { .order = { 11, 12 }, .peer_domid = DOM_B };

	ck_assert_int_eq(xl_chan_create(&cha, &xl_backend_xen, &p, &desc, 0),
			 -EINVAL);
	p.order[0] = 27;
	ck_assert_int_eq(xl_chan_create(&cha, &xl_backend_xen, &p, &desc, 0),
			 -EINVAL);
	/* 2 x 4 MiB is more than gntalloc's default allows in all */
	p.order[0] = p.order[1] = 22;
	ck_assert_int_eq(xl_chan_create(&cha, &xl_backend_xen, &p, &desc, 0),
			 -E2BIG);
	ck_assert_int_eq(outstanding, 0);
}
END_TEST

START_TEST(test_bad_desc)
{
	struct xl_chan_params p = { .order = { 12, 12 }, .peer_domid = DOM_B };
	struct xl_chan_desc bad;

	ck_assert_int_eq(xl_chan_create(&cha, &xl_backend_xen, &p, &desc, 0),
			 0);
	desc.u.xen.domid = DOM_A;
	bad = desc;
	bad.u.xen.nrefs--;
	ck_assert_int_eq(xl_chan_attach(&chb, &bad, 0), -EINVAL);
	bad = desc;
	bad.u.xen.refs = NULL;
	ck_assert_int_eq(xl_chan_attach(&chb, &bad, 0), -EINVAL);
	bad = desc;
	bad.side = 0;
	ck_assert_int_eq(xl_chan_attach(&chb, &bad, 0), -EINVAL);
	bad = desc;
	bad.order[1] = 13;	/* the page count no longer matches */
	ck_assert_int_eq(xl_chan_attach(&chb, &bad, 0), -EINVAL);
	bad = desc;
	bad.kind = 99;
	ck_assert_int_eq(xl_chan_attach(&chb, &bad, 0), -EPROTONOSUPPORT);
	xl_chan_desc_release(&desc);
	xl_chan_destroy(cha);
	ck_assert_int_eq(outstanding, 0);
}
END_TEST

START_TEST(test_forged_ctrl)
{
	struct xl_chan_params p = { .order = { 12, 12 }, .peer_domid = DOM_B };

	ck_assert_int_eq(xl_chan_create(&cha, &xl_backend_xen, &p, &desc, 0),
			 0);
	desc.u.xen.domid = DOM_A;
	cha->ctrl->order[0] = 20;	/* the page lies about its size */
	ck_assert_int_eq(xl_chan_attach(&chb, &desc, 0), -EPROTO);
	xl_chan_desc_release(&desc);
	xl_chan_destroy(cha);
	ck_assert_int_eq(outstanding, 0);
}
END_TEST

/* Fail each library call in turn: every failure unwinds completely. */
START_TEST(test_inject_each_call)
{
	int n, ret, failures = 0;

	for (n = 1; n < 40; n++) {
		outstanding = 0;
		call_no = 0;
		fail_at = n;
		ret = make_pair(12, 12, 0);
		if (ret == 0) {
			xl_chan_destroy(chb);
			xl_chan_destroy(cha);
		} else {
			ck_assert_int_eq(ret, -ENOSPC);
			failures++;
		}
		ck_assert_int_eq(outstanding, 0);
		if (call_no < n)	/* past the last call: all succeeded */
			break;
	}
	/* create: 2 evtchn opens, 2 binds, gntshr open, 2 shares;
	 * attach: 2 evtchn opens, 2 binds, gnttab open, 2 maps */
	ck_assert_int_eq(failures, 14);
}
END_TEST

/* ---- liveness ---- */

START_TEST(test_side_a_goes)
{
	uint8_t b[8];
	struct iovec iov = { b, sizeof(b) };

	ck_assert_int_eq(make_pair(12, 12, 0), 0);
	ck_assert(xl_chan_peer_live(chb));
	xl_chan_destroy(cha);
	ck_assert_int_eq(xl_chan_recv(chb, &iov, 1, 0, 3000), -ECONNRESET);
	ck_assert(!xl_chan_peer_live(chb));
	xl_chan_destroy(chb);
	ck_assert_int_eq(outstanding, 0);
}
END_TEST

/* B's mapping goes away without B's destroy (its process died): the
 * unmap-notify alone must tell A. */
START_TEST(test_side_b_unmapped)
{
	uint8_t b[8];
	struct iovec iov = { b, sizeof(b) };
	int s;

	ck_assert_int_eq(make_pair(12, 12, 0), 0);
	for (s = 0; s < MAX_SHARES; s++)
		if (shares[s].live && shares[s].mem == (uint8_t *)chb->ctrl)
			break;
	ck_assert_int_lt(s, MAX_SHARES);
	do_notify(s, shares[s].map_notify, shares[s].map_port);
	ck_assert_int_eq(xl_chan_recv(cha, &iov, 1, 0, 3000), -ECONNRESET);
	ck_assert(!xl_chan_peer_live(cha));
	xl_chan_destroy(chb);
	xl_chan_destroy(cha);
	ck_assert_int_eq(outstanding, 0);
}
END_TEST

static Suite *backend_xen_suite(void)
{
	Suite *s = suite_create("backend_xen");
	TCase *tc;

	tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_exchange_both_ways);
	tcase_add_test(tc, test_grant_layout);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_bad_orders);
	tcase_add_test(tc, test_bad_desc);
	tcase_add_test(tc, test_forged_ctrl);
	tcase_add_test(tc, test_inject_each_call);
	suite_add_tcase(s, tc);

	tc = tcase_create("liveness");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_side_a_goes);
	tcase_add_test(tc, test_side_b_unmapped);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(backend_xen_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
