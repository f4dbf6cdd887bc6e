/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the xendev transport's process half
 * (driver/xl_backend_xendev.c) where it needs no Xen: how it lays out its
 * mapping, and what abandon() keeps. The descriptor's grant fd is a memfd
 * here, its event-channel fds eventfds; tests/xen/ runs the real devices.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xl_chan.h"
#include "xl_ring.h"
#include "xl_xen_dev.h"

#define ORDER		16u
#define PT_SPAN		((uintptr_t)2 << 20)

static struct xl_chan_desc desc;
static int peer_hup = -1;

/* A channel as xenloopd would hand it to a process: side 1, its pages in
 * a memfd (ctrl initialised), eventfds for the ports. */
static void setup(void)
{
	const uint32_t order[2] = { ORDER, ORDER };
	uint32_t npages;
	size_t len;
	void *mem;
	int pair[2];

	ck_assert_int_eq(xl_xen_dev_pages(order, &npages), 0);
	len = XL_WIRE_CTRL_SIZE + (size_t)npages * XL_WIRE_PAGE_SIZE;
	xl_xen_dev_desc_init(&desc, 1, order);
	desc.u.xendev.mem = memfd_create("xendev", MFD_CLOEXEC);
	ck_assert_int_ge(desc.u.xendev.mem, 0);
	ck_assert_int_eq(ftruncate(desc.u.xendev.mem, (off_t)len), 0);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED,
		   desc.u.xendev.mem, 0);
	ck_assert_ptr_ne(mem, MAP_FAILED);
	ck_assert_int_eq(xl_ring_ctrl_init(mem, ORDER, ORDER), 0);
	munmap(mem, len);
	desc.u.xendev.evt[0] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	desc.u.xendev.evt[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(desc.u.xendev.evt[0], 0);
	ck_assert_int_ge(desc.u.xendev.evt[1], 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				    pair), 0);
	desc.u.xendev.hup = pair[0];
	peer_hup = pair[1];
}

static void teardown(void)
{
	xl_backend_xendev.desc_release(&desc);
	if (peer_hup >= 0)
		close(peer_hup);
	peer_hup = -1;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1;		/* the directory's own */
}

/*
 * What /proc/self/maps has in [lo, hi): *mine mappings of the memfd,
 * *none PROT_NONE ones, *other anything else; returns how many bytes of
 * the range are covered.
 */
static uintptr_t maps_in(uintptr_t lo, uintptr_t hi, int *mine, int *none,
			 int *other)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], perms[8];
	uintptr_t a, b, covered = 0;

	*mine = *none = *other = 0;
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s", &a, &b,
			   perms) != 3)
			continue;
		if (b <= lo || a >= hi)
			continue;
		covered += (b < hi ? b : hi) - (a > lo ? a : lo);
		if (strstr(line, "memfd:xendev"))
			(*mine)++;
		else if (strcmp(perms, "---p") == 0)
			(*none)++;
		else
			(*other)++;
	}
	fclose(f);
	return covered;
}

/* The mapping starts a 2 MiB stretch of address space that holds nothing
 * else (a PV restore loses the page table that maps another domain's
 * pages, and all it maps); the stretch goes with the channel. */
START_TEST(test_mapped_alone)
{
	struct xl_chan *ch = NULL;
	uintptr_t lo;
	int mine, none, other;

	ck_assert_int_eq(xl_chan_attach(&ch, &desc, 0), 0);
	lo = (uintptr_t)ch->ctrl;
	ck_assert_uint_eq(lo % PT_SPAN, 0);
	ck_assert_uint_eq(maps_in(lo, lo + PT_SPAN, &mine, &none, &other),
			  PT_SPAN);
	ck_assert_int_eq(mine, 1);
	ck_assert_int_eq(other, 0);
	ck_assert_int_le(none, 1);
	xl_chan_destroy(ch);
	ck_assert_uint_eq(maps_in(lo, lo + PT_SPAN, &mine, &none, &other), 0);
}
END_TEST

/* After a restore the event-channel fds are not to be released:
 * abandon() unmaps and lets go of the liveness end only. */
START_TEST(test_abandon_keeps)
{
	struct xl_chan *ch = NULL;
	uintptr_t lo;
	int fds, mine, none, other;

	ck_assert_int_eq(xl_chan_attach(&ch, &desc, 0), 0);
	lo = (uintptr_t)ch->ctrl;
	fds = open_fds();
	xl_chan_abandon(ch);
	ck_assert_int_eq(open_fds(), fds - 1);
	ck_assert_uint_eq(maps_in(lo, lo + PT_SPAN, &mine, &none, &other), 0);
}
END_TEST

/* The daemon says our domain was restored: the ring's memory is replaced
 * by zeroes of our own, in place, the channel reads as ended (both live
 * bytes dead) without a fault, and says it is void (a reset, not an end
 * of stream, for the socket on it). */
START_TEST(test_restored_voids)
{
	struct xl_chan *ch = NULL;
	uintptr_t lo;
	int mine, none, other;
	char b = XL_XEN_DEV_RESTORED;

	ck_assert_int_eq(xl_chan_attach(&ch, &desc, 0), 0);
	lo = (uintptr_t)ch->ctrl;
	ck_assert(xl_chan_peer_live(ch) && !xl_chan_voided(ch));
	ck_assert_int_eq(write(peer_hup, &b, 1), 1);
	ck_assert_int_eq(xl_chan_ack(ch, XL_WAIT_DATA, NULL, 0), -ECONNRESET);
	ck_assert_ptr_eq((void *)ch->ctrl, (void *)lo);
	ck_assert_uint_eq(maps_in(lo, lo + PT_SPAN, &mine, &none, &other),
			  PT_SPAN);
	ck_assert_int_eq(mine, 0);
	ck_assert(!xl_chan_peer_live(ch));
	ck_assert(xl_chan_voided(ch));
	xl_chan_destroy(ch);
	ck_assert_uint_eq(maps_in(lo, lo + PT_SPAN, &mine, &none, &other), 0);
}
END_TEST

/* The ring vanished from our page tables (a restore; here the memfd is
 * truncated under the mapping, so that the next access would fault) and
 * we woke first: ack() touches nothing, waits for the daemon's word, then
 * puts our own zeroes there; without a word it gives up, untouched. */
START_TEST(test_gone_waits_for_word)
{
	struct xl_chan *ch = NULL;
	char b = XL_XEN_DEV_RESTORED;

	ck_assert_int_eq(xl_chan_attach(&ch, &desc, 0), 0);
	ck_assert_int_eq(ftruncate(desc.u.xendev.mem, 0), 0);
	ck_assert_int_eq(write(peer_hup, &b, 1), 1);
	ck_assert_int_eq(xl_chan_ack(ch, XL_WAIT_DATA, NULL, 0), -ECONNRESET);
	ck_assert(xl_chan_voided(ch));
	ck_assert(!xl_chan_peer_live(ch));	/* zeroes: no fault */
	xl_chan_destroy(ch);
}
END_TEST

START_TEST(test_gone_without_word)
{
	struct xl_chan *ch = NULL;

	ck_assert_int_eq(xl_chan_attach(&ch, &desc, 0), 0);
	ck_assert_int_eq(ftruncate(desc.u.xendev.mem, 0), 0);
	ck_assert_int_eq(xl_chan_ack(ch, XL_WAIT_DATA, NULL, 0), -ECONNRESET);
	ck_assert(xl_chan_voided(ch));
	ck_assert_int_eq(xl_chan_ack(ch, XL_WAIT_DATA, NULL, 0), -ECONNRESET);
	xl_chan_abandon(ch);
}
END_TEST

static Suite *backend_xendev_suite(void)
{
	Suite *s = suite_create("backend_xendev");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_mapped_alone);
	tcase_add_test(tc, test_abandon_keeps);
	tcase_add_test(tc, test_restored_voids);
	tcase_add_test(tc, test_gone_waits_for_word);
	tcase_add_test(tc, test_gone_without_word);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(backend_xendev_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
