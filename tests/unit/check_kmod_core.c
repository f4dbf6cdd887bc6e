/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of xenloop.ko's pure core (driver/linux/xlk_core.c, the same
 * file the module builds): the checks of every ioctl's arguments, the
 * channel state machine, the budget, the mmap layout, what a fault is
 * served, and the poll bits. The module's own behaviour on a real Xen is
 * tests/xen's (xen_kmod_probe).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "xlk_core.h"

START_TEST(test_state_machine)
{
	/* every (state, event) pair, as the ABI header promises */
	static const struct {
		uint32_t state;
		enum xlk_event ev;
		int want;
	} t[] = {
		{ XLDEV_STATE_OFFERED, XLK_EV_ACCEPT, XLDEV_STATE_CONNECTED },
		{ XLDEV_STATE_OFFERED, XLK_EV_KICK, -ENOTCONN },
		{ XLDEV_STATE_OFFERED, XLK_EV_PEEK, -ENOTCONN },
		{ XLDEV_STATE_OFFERED, XLK_EV_CLOSE, XLDEV_STATE_VOID },
		{ XLDEV_STATE_OFFERED, XLK_EV_SUSPEND, XLDEV_STATE_VOID },
		{ XLDEV_STATE_CONNECTED, XLK_EV_ACCEPT, -EISCONN },
		{ XLDEV_STATE_CONNECTED, XLK_EV_KICK, XLDEV_STATE_CONNECTED },
		{ XLDEV_STATE_CONNECTED, XLK_EV_PEEK, XLDEV_STATE_CONNECTED },
		{ XLDEV_STATE_CONNECTED, XLK_EV_CLOSE, XLDEV_STATE_VOID },
		{ XLDEV_STATE_CONNECTED, XLK_EV_SUSPEND, XLDEV_STATE_VOID },
		{ XLDEV_STATE_VOID, XLK_EV_ACCEPT, -EPIPE },
		{ XLDEV_STATE_VOID, XLK_EV_KICK, -EPIPE },
		{ XLDEV_STATE_VOID, XLK_EV_PEEK, -EPIPE },
		{ XLDEV_STATE_VOID, XLK_EV_CLOSE, XLDEV_STATE_VOID },
		{ XLDEV_STATE_VOID, XLK_EV_SUSPEND, XLDEV_STATE_VOID },
		{ 0, XLK_EV_KICK, -EINVAL },
		{ 99, XLK_EV_CLOSE, -EINVAL },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(xlk_state_next(t[i].state, t[i].ev) == t[i].want,
			      "state %u event %d: %d, want %d", t[i].state,
			      t[i].ev, xlk_state_next(t[i].state, t[i].ev),
			      t[i].want);
}
END_TEST

START_TEST(test_create_args)
{
	struct xldev_create c = { .peer_domid = 2, .own_pages = 1,
				  .refs = 0x1000 };

	ck_assert_int_eq(xlk_check_create(&c), 0);
	c.own_pages = XLDEV_MAX_PAGES;
	ck_assert_int_eq(xlk_check_create(&c), 0);
	c.own_pages = XLDEV_MAX_PAGES + 1;
	ck_assert_int_eq(xlk_check_create(&c), -EINVAL);
	c.own_pages = 0;
	ck_assert_int_eq(xlk_check_create(&c), -EINVAL);
	c.own_pages = UINT32_MAX;
	ck_assert_int_eq(xlk_check_create(&c), -EINVAL);
	c.own_pages = 1;
	c.peer_domid = 0;	/* dom0 may be a peer */
	ck_assert_int_eq(xlk_check_create(&c), 0);
	c.peer_domid = XLDEV_DOMID_LIMIT - 1;
	ck_assert_int_eq(xlk_check_create(&c), 0);
	c.peer_domid = XLDEV_DOMID_LIMIT;	/* DOMID_FIRST_RESERVED */
	ck_assert_int_eq(xlk_check_create(&c), -EINVAL);
	c.peer_domid = 0x7ff0 + 5;		/* DOMID_SELF */
	ck_assert_int_eq(xlk_check_create(&c), -EINVAL);
	c.peer_domid = 2;
	c.flags = 1;
	ck_assert_int_eq(xlk_check_create(&c), -EINVAL);
	c.flags = 0;
	c.pad = 1;
	ck_assert_int_eq(xlk_check_create(&c), -EINVAL);
	c.pad = 0;
	c.refs = 0;
	ck_assert_int_eq(xlk_check_create(&c), -EINVAL);
}
END_TEST

START_TEST(test_connect_args)
{
	struct xldev_connect c = { .peer_domid = 1, .peer_pages = 4,
				   .peer_refs = 0x1000, .peer_port = 5,
				   .own_pages = 4, .own_refs = 0x2000 };

	ck_assert_int_eq(xlk_check_connect(&c), 0);
	c.peer_port = 0;
	ck_assert_int_eq(xlk_check_connect(&c), -EINVAL);
	c.peer_port = XLK_PORT_LIMIT;
	ck_assert_int_eq(xlk_check_connect(&c), -EINVAL);
	c.peer_port = XLK_PORT_LIMIT - 1;
	ck_assert_int_eq(xlk_check_connect(&c), 0);
	c.peer_pages = XLDEV_MAX_PAGES + 1;
	ck_assert_int_eq(xlk_check_connect(&c), -EINVAL);
	c.peer_pages = 4;
	c.own_pages = 0;
	ck_assert_int_eq(xlk_check_connect(&c), -EINVAL);
	c.own_pages = 4;
	c.own_refs = 0;
	ck_assert_int_eq(xlk_check_connect(&c), -EINVAL);
	c.own_refs = 0x2000;
	c.peer_refs = 0;
	ck_assert_int_eq(xlk_check_connect(&c), -EINVAL);
	c.peer_refs = 0x1000;
	c.peer_domid = 0xffff;
	ck_assert_int_eq(xlk_check_connect(&c), -EINVAL);
	c.peer_domid = 1;
	c.flags = 2;
	ck_assert_int_eq(xlk_check_connect(&c), -EINVAL);
}
END_TEST

START_TEST(test_accept_and_peek_args)
{
	struct xldev_accept a = { .peer_pages = 2, .peer_refs = 0x1000 };
	struct xldev_peek p = { .offset = 0, .len = 8192, .buf = 0x1000 };

	ck_assert_int_eq(xlk_check_accept(&a), 0);
	a.peer_pages = 0;
	ck_assert_int_eq(xlk_check_accept(&a), -EINVAL);
	a.peer_pages = 2;
	a.flags = 1;
	ck_assert_int_eq(xlk_check_accept(&a), -EINVAL);
	a.flags = 0;
	a.pad = 1;
	ck_assert_int_eq(xlk_check_accept(&a), -EINVAL);
	a.pad = 0;
	a.peer_refs = 0;
	ck_assert_int_eq(xlk_check_accept(&a), -EINVAL);

	ck_assert_int_eq(xlk_check_peek(&p, 2), 0);
	ck_assert_int_eq(xlk_check_peek(&p, 1), -EINVAL);
	p.offset = 1;
	ck_assert_int_eq(xlk_check_peek(&p, 2), -EINVAL);
	p.offset = 8191;
	p.len = 1;
	ck_assert_int_eq(xlk_check_peek(&p, 2), 0);
	p.len = 0;
	ck_assert_int_eq(xlk_check_peek(&p, 2), -EINVAL);
	/* no wrap-around lets a huge offset through */
	p.offset = UINT64_MAX;
	p.len = 2;
	ck_assert_int_eq(xlk_check_peek(&p, 2), -EINVAL);
	p.offset = 4;
	p.len = UINT64_MAX - 2;
	ck_assert_int_eq(xlk_check_peek(&p, 2), -EINVAL);
	p.offset = 0;
	p.len = 1;
	p.buf = 0;
	ck_assert_int_eq(xlk_check_peek(&p, 2), -EINVAL);
}
END_TEST

START_TEST(test_budget)
{
	uint32_t left = 10;

	ck_assert_int_eq(xlk_budget_take(&left, 4), 0);
	ck_assert_uint_eq(left, 6);
	ck_assert_int_eq(xlk_budget_take(&left, 7), -ENOSPC);
	ck_assert_uint_eq(left, 6);
	ck_assert_int_eq(xlk_budget_take(&left, 6), 0);
	ck_assert_uint_eq(left, 0);
	xlk_budget_give(&left, 10, 10);
	ck_assert_uint_eq(left, 10);
	/* a give that would overflow the total stops at it */
	xlk_budget_give(&left, 5, 10);
	ck_assert_uint_eq(left, 10);
	xlk_budget_give(&left, UINT32_MAX, 10);
	ck_assert_uint_eq(left, 10);
}
END_TEST

START_TEST(test_map_layout)
{
	/* own 4, peer 2: offsets 0-3 own (writable), 4-5 peer (read-only) */
	ck_assert_int_eq(xlk_check_map(4, 2, 0, 4, 1, 0), 0);
	ck_assert_int_eq(xlk_check_map(4, 2, 1, 2, 1, 0), 0);
	ck_assert_int_eq(xlk_check_map(4, 2, 0, 6, 0, 1), 0);
	ck_assert_int_eq(xlk_check_map(4, 2, 4, 2, 0, 1), 0);
	ck_assert_int_eq(xlk_check_map(4, 2, 4, 2, 1, 1), -EACCES);
	ck_assert_int_eq(xlk_check_map(4, 2, 3, 2, 1, 1), -EACCES);
	ck_assert_int_eq(xlk_check_map(4, 2, 4, 1, 0, 0), -EOPNOTSUPP);
	ck_assert_int_eq(xlk_check_map(4, 2, 0, 5, 0, 0), -EOPNOTSUPP);
	ck_assert_int_eq(xlk_check_map(4, 2, 0, 7, 0, 1), -EINVAL);
	ck_assert_int_eq(xlk_check_map(4, 2, 6, 1, 0, 1), -EINVAL);
	ck_assert_int_eq(xlk_check_map(4, 2, 0, 0, 0, 1), -EINVAL);
	ck_assert_int_eq(xlk_check_map(4, 2, UINT64_MAX, 2, 0, 1), -EINVAL);
	ck_assert_int_eq(xlk_check_map(4, 2, 2, UINT64_MAX, 0, 1), -EINVAL);
	/* offered, peer not known yet: own pages only */
	ck_assert_int_eq(xlk_check_map(4, 0, 0, 4, 1, 1), 0);
	ck_assert_int_eq(xlk_check_map(4, 0, 0, 5, 0, 1), -EINVAL);
}
END_TEST

START_TEST(test_fault_lookup)
{
	uint32_t idx = 99;

	ck_assert_int_eq(xlk_fault_lookup(4, 2, XLDEV_STATE_CONNECTED, 3, &idx),
			 XLK_FAULT_OWN);
	ck_assert_uint_eq(idx, 3);
	ck_assert_int_eq(xlk_fault_lookup(4, 2, XLDEV_STATE_CONNECTED, 5, &idx),
			 XLK_FAULT_PEER);
	ck_assert_uint_eq(idx, 1);
	/* void: own pages stay, the peer's are the zero page */
	ck_assert_int_eq(xlk_fault_lookup(4, 2, XLDEV_STATE_VOID, 0, &idx),
			 XLK_FAULT_OWN);
	ck_assert_int_eq(xlk_fault_lookup(4, 2, XLDEV_STATE_VOID, 4, &idx),
			 XLK_FAULT_VOID);
	ck_assert_int_eq(xlk_fault_lookup(4, 2, XLDEV_STATE_OFFERED, 4, &idx),
			 XLK_FAULT_VOID);
	ck_assert_int_eq(xlk_fault_lookup(4, 2, XLDEV_STATE_CONNECTED, 6, &idx),
			 XLK_FAULT_SIGBUS);
	ck_assert_int_eq(xlk_fault_lookup(4, 0, XLDEV_STATE_OFFERED, 4, &idx),
			 XLK_FAULT_SIGBUS);
}
END_TEST

START_TEST(test_poll_bits)
{
	ck_assert_uint_eq(xlk_poll_bits(XLDEV_STATE_OFFERED, 0), 0);
	ck_assert_uint_eq(xlk_poll_bits(XLDEV_STATE_OFFERED, 1), XLK_READY_IN);
	ck_assert_uint_eq(xlk_poll_bits(XLDEV_STATE_CONNECTED, 0),
			  XLK_READY_OUT);
	ck_assert_uint_eq(xlk_poll_bits(XLDEV_STATE_CONNECTED, 3),
			  XLK_READY_IN | XLK_READY_OUT);
	ck_assert_uint_eq(xlk_poll_bits(XLDEV_STATE_VOID, 0), XLK_READY_ERR);
	ck_assert_uint_eq(xlk_poll_bits(XLDEV_STATE_VOID, 1),
			  XLK_READY_ERR | XLK_READY_IN);
}
END_TEST

static Suite *kmod_core_suite(void)
{
	Suite *s = suite_create("kmod_core");
	TCase *tc;

	tc = tcase_create("core");
	tcase_add_test(tc, test_state_machine);
	tcase_add_test(tc, test_budget);
	tcase_add_test(tc, test_map_layout);
	tcase_add_test(tc, test_fault_lookup);
	tcase_add_test(tc, test_poll_bits);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile_args");
	tcase_add_test(tc, test_create_args);
	tcase_add_test(tc, test_connect_args);
	tcase_add_test(tc, test_accept_and_peek_args);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(kmod_core_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
