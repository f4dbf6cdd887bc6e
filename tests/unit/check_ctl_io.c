/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the control-message envelope (common/xl_ctl_io.c): one
 * message per SOCK_SEQPACKET datagram with fds, and what happens when the
 * sender does not follow the rules — every fd that came with a rejected
 * message must be closed, never leaked into the receiver.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "xl_ctl_io.h"

static int sp[2];

static void setup(void)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
				    sp), 0);
}

static void teardown(void)
{
	close(sp[0]);
	close(sp[1]);
}

static int open_fds(void)
{
	int n = 0, fd;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

/* Send raw bytes with n copies of fd attached, bypassing xl_ctl_send. */
static void send_raw(const void *buf, size_t len, int fd, int n)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * 16)];
		struct cmsghdr align;
	} cb;
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	int fds[16], i;

	if (n) {
		for (i = 0; i < n; i++)
			fds[i] = fd;
		memset(&cb, 0, sizeof(cb));
		mh.msg_control = cb.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)n);
	}
	ck_assert_int_eq(sendmsg(sp[0], &mh, 0), (ssize_t)len);
}

START_TEST(test_round_trip_with_fds)
{
	struct xl_ctl_msg m = { .type = XL_CTL_CHAN, .cookie = 42, .nfds = 2 };
	struct xl_ctl_msg r;
	int fds[XL_CTL_MAX_FDS], p[2];
	char byte = 0;

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(xl_ctl_send(sp[0], &m, p, NULL, 0), 0);
	ck_assert_int_eq(xl_ctl_recv(sp[1], &r, fds, NULL, 0, 0), 0);
	ck_assert_uint_eq(r.version, XL_CTL_VERSION);
	ck_assert_uint_eq(r.type, XL_CTL_CHAN);
	ck_assert_uint_eq(r.cookie, 42);
	ck_assert_uint_eq(r.nfds, 2);
	ck_assert_int_ge(fds[0], 0);
	ck_assert_int_ge(fds[1], 0);
	ck_assert_int_eq(fds[2], -1);
	/* received fds are close-on-exec and really the pipe */
	ck_assert(fcntl(fds[0], F_GETFD) & FD_CLOEXEC);
	ck_assert_int_eq(write(fds[1], "x", 1), 1);
	ck_assert_int_eq(read(p[0], &byte, 1), 1);
	ck_assert_int_eq(byte, 'x');
	xl_ctl_close_fds(fds);
	ck_assert_int_eq(fds[0], -1);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_text)
{
	struct xl_ctl_msg m = { .type = XL_CTL_STATUS, .text_len = 5 };
	struct xl_ctl_msg r;
	int fds[XL_CTL_MAX_FDS];
	char text[64];

	ck_assert_int_eq(xl_ctl_send(sp[0], &m, NULL, "hello", 0), 0);
	ck_assert_int_eq(xl_ctl_recv(sp[1], &r, fds, text, sizeof(text), 0),
			 0);
	ck_assert_str_eq(text, "hello");
	/* a reader without a text buffer refuses a message with text */
	ck_assert_int_eq(xl_ctl_send(sp[0], &m, NULL, "hello", 0), 0);
	ck_assert_int_eq(xl_ctl_recv(sp[1], &r, fds, NULL, 0, 0), -EPROTO);
}
END_TEST

START_TEST(test_nonblocking_and_eof)
{
	struct xl_ctl_msg r;
	int fds[XL_CTL_MAX_FDS];

	ck_assert_int_eq(xl_ctl_recv(sp[1], &r, fds, NULL, 0, MSG_DONTWAIT),
			 -EAGAIN);
	close(sp[0]);
	sp[0] = -1;
	ck_assert_int_eq(xl_ctl_recv(sp[1], &r, fds, NULL, 0, 0),
			 -ECONNRESET);
}
END_TEST

/* A receiver at its RLIMIT_NOFILE: the message stands, the fds that came
 * are closed, and the caller is told (-EMFILE), not handed a broken one. */
START_TEST(test_fds_over_limit)
{
	struct xl_ctl_msg m = { .type = XL_CTL_CHAN, .cookie = 7, .nfds = 2 };
	struct xl_ctl_msg r;
	struct rlimit old, low;
	int fds[XL_CTL_MAX_FDS], p[2], next;

	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(xl_ctl_send(sp[0], &m, p, NULL, 0), 0);
	next = dup(p[0]);
	ck_assert_int_ge(next, 0);
	close(next);
	/* room for one fd: the lowest free number, the one under the limit */
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)next + 1;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	ck_assert_int_eq(xl_ctl_recv(sp[1], &r, fds, NULL, 0, 0), -EMFILE);
	ck_assert_uint_eq(r.type, XL_CTL_CHAN);
	ck_assert_uint_eq(r.cookie, 7);
	ck_assert_int_eq(fds[0], -1);
	/* the one that came was closed again */
	ck_assert_int_eq(fcntl(next, F_GETFD), -1);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(test_send_rejects_bad_envelopes)
{
	struct xl_ctl_msg m = { .type = XL_CTL_CHAN };

	m.nfds = XL_CTL_MAX_FDS + 1;
	ck_assert_int_eq(xl_ctl_send(sp[0], &m, NULL, NULL, 0), -EINVAL);
	m.nfds = 0;
	m.text_len = 3;		/* text promised but none given */
	ck_assert_int_eq(xl_ctl_send(sp[0], &m, NULL, NULL, 0), -EINVAL);
}
END_TEST

/* Hostile envelopes: each is refused and its fds closed. */
START_TEST(test_hostile_envelopes)
{
	struct xl_ctl_msg good = { .version = XL_CTL_VERSION,
				   .type = XL_CTL_CHAN, .nfds = 1 };
	struct xl_ctl_msg bad, r;
	int fds[XL_CTL_MAX_FDS], p[2], before;

	ck_assert_int_eq(pipe(p), 0);
	before = open_fds();

	bad = good;
	bad.version = 99;
	send_raw(&bad, sizeof(bad), p[0], 1);
	ck_assert_int_eq(xl_ctl_recv(sp[1], &r, fds, NULL, 0, 0), -EPROTO);

	bad = good;
	bad.type = XL_CTL_TYPE_MAX;
	send_raw(&bad, sizeof(bad), p[0], 1);
	ck_assert_int_eq(xl_ctl_recv(sp[1], &r, fds, NULL, 0, 0), -EPROTO);

	bad = good;
	bad.nfds = 3;		/* claims more fds than came */
	send_raw(&bad, sizeof(bad), p[0], 1);
	ck_assert_int_eq(xl_ctl_recv(sp[1], &r, fds, NULL, 0, 0), -EPROTO);

	/* more fds than any message may carry */
	send_raw(&good, sizeof(good), p[0], XL_CTL_MAX_FDS + 3);
	ck_assert_int_eq(xl_ctl_recv(sp[1], &r, fds, NULL, 0, 0), -EPROTO);

	/* short datagram */
	send_raw(&good, sizeof(good) - 1, p[0], 1);
	ck_assert_int_eq(xl_ctl_recv(sp[1], &r, fds, NULL, 0, 0), -EPROTO);

	bad = good;
	bad.text_len = 10;	/* promised text that is not there */
	send_raw(&bad, sizeof(bad), p[0], 1);
	ck_assert_int_eq(xl_ctl_recv(sp[1], &r, fds, NULL, 0, 0), -EPROTO);

	/* nothing leaked from any of them */
	ck_assert_int_eq(open_fds(), before);
	/* and the socket still works for a good message */
	send_raw(&good, sizeof(good), p[0], 1);
	ck_assert_int_eq(xl_ctl_recv(sp[1], &r, fds, NULL, 0, 0), 0);
	xl_ctl_close_fds(fds);
	close(p[0]);
	close(p[1]);
}
END_TEST

static Suite *ctl_io_suite(void)
{
	Suite *s = suite_create("ctl_io");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_round_trip_with_fds);
	tcase_add_test(tc, test_text);
	tcase_add_test(tc, test_nonblocking_and_eof);
	tcase_add_test(tc, test_send_rejects_bad_envelopes);
	tcase_add_test(tc, test_fds_over_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostile_peer");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_hostile_envelopes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ctl_io_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
