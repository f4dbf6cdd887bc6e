/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of xenloopd's guard of its link rings against a restore
 * (daemon/xl_xen_fault.c). A restore takes another domain's pages out of
 * our page tables; here a memfd mapping truncated under us stands in for
 * it (its next access faults with SIGBUS), and an fd that is no grant
 * device stands in for the grant fd (the unmap-notify ioctl fails, which
 * the handler shrugs off).
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xl_xen_fault.h"

#define LEN	(2 * 4096)

static int memfd = -1;

/* A mapping whose next access faults. */
static volatile unsigned char *doomed(void)
{
	void *p;

	memfd = memfd_create("doomed", MFD_CLOEXEC);
	ck_assert_int_ge(memfd, 0);
	ck_assert_int_eq(ftruncate(memfd, LEN), 0);
	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	ck_assert_ptr_ne(p, MAP_FAILED);
	((unsigned char *)p)[100] = 7;
	ck_assert_int_eq(ftruncate(memfd, 0), 0);
	return p;
}

/* A guarded ring that faults reads zeroes of our own, and says so once. */
START_TEST(test_guarded_fault_repaired)
{
	volatile unsigned char *p;
	int slot;

	ck_assert_int_eq(xl_xen_fault_install(), 0);
	p = doomed();
	slot = xl_xen_fault_guard((void *)p, LEN, memfd, 1, 0);
	ck_assert_int_ge(slot, 0);
	ck_assert(!xl_xen_fault_seen());
	ck_assert_uint_eq(p[100], 0);
	p[LEN - 1] = 9;
	ck_assert_uint_eq(p[LEN - 1], 9);
	ck_assert(xl_xen_fault_seen());
	ck_assert(!xl_xen_fault_seen());
	xl_xen_fault_forget(slot);
}
END_TEST

/* Status of a child that touches a doomed mapping, guarded or not. */
static int touch_in_child(bool guard, bool forget)
{
	volatile unsigned char *p;
	int status, slot;
	pid_t pid;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		if (xl_xen_fault_install() < 0)
			_exit(3);
		p = doomed();
		if (guard) {
			slot = xl_xen_fault_guard((void *)p, LEN, memfd, 1, 0);
			if (forget)
				xl_xen_fault_forget(slot);
		}
		_exit(p[100] == 0 ? 0 : 4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

/* Any other fault keeps its default action: the process dies of it. */
START_TEST(test_unguarded_fault_kills)
{
	int status = touch_in_child(false, false);

	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(WTERMSIG(status), SIGBUS);
	status = touch_in_child(true, true);
	ck_assert(WIFSIGNALED(status));
	ck_assert_int_eq(WTERMSIG(status), SIGBUS);
	status = touch_in_child(true, false);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

static Suite *xen_fault_suite(void)
{
	Suite *s = suite_create("xen_fault");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_guarded_fault_repaired);
	tcase_add_test(tc, test_unguarded_fault_kills);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xen_fault_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
