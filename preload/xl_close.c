/* SPDX-License-Identifier: MIT */
/*
 * close(), close_range(), closefrom(), shutdown(), dup(), dup2(), dup3():
 * the fds that name a tracked socket. Every fd of a socket holds a
 * reference; the end of the stream (ring end, CLOSE to the daemon, the
 * kernel's FIN) comes with the last close, as the kernel does it for the
 * file. The library's own descriptors (daemon link, log, and the five of
 * each channel) live at high numbers and are protected from programs that
 * close every fd they did not open; a program that dup2()s onto one of
 * them gets the number, and ours moves.
 */
#include "config.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include "xl_daemon_link.h"
#include "xl_epoll.h"
#include "xl_fdtable.h"
#include "xl_letgo.h"
#include "xl_preload.h"
#include "xl_sock.h"

static int xl_close(int fd)
{
	int saved = errno;

	xl_init();
	if (xl_in_lib)
		return real.close(fd);
	if (xl_cfg.disabled) {	/* XENLOOP_DISABLE, or let go (xl_letgo.c) */
		if (xl_letgo_owing())
			xl_letgo_closed(fd);
		return real.close(fd);
	}
	if (xl_fd_is_internal(fd)) {
		/* ours: pretend, so the program's sweep does not cut us off */
		XL_DBG("close(%d): the library's own descriptor, kept", fd);
		return 0;
	}
	if (!xl_fd_peek(fd)) {
		xl_epoll_closed(fd);
		return real.close(fd);
	}
	return (int)xl_ret(xl_sock_close_fd(fd), saved);
}

XL_EXPORT int close(int fd)
{
	return xl_close(fd);
}

/*
 * The range less the library's fds, each tracked socket closed as close()
 * does (its stream's end before the kernel's FIN), the rest by the kernel
 * in the pieces between.
 */
static int xl_close_range(unsigned int first, unsigned int last, int flags)
{
	unsigned int from = first;
	int fd, hi = last >= XL_FD_MAX ? (int)XL_FD_MAX - 1 : (int)last;

	if ((flags & CLOSE_RANGE_UNSHARE) && unshare(CLONE_FILES) < 0)
		return -1;
	flags &= ~CLOSE_RANGE_UNSHARE;
	while (from < XL_FD_MAX &&
	       (fd = xl_fd_next_of_interest((int)from, hi)) >= 0) {
		if ((unsigned int)fd > from &&
		    real.close_range(from, (unsigned int)fd - 1, flags) < 0)
			return -1;
		if (!xl_fd_is_internal(fd))
			xl_close(fd);
		from = (unsigned int)fd + 1;
	}
	if (from > last)
		return 0;
	return real.close_range(from, last, flags);
}

XL_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	int saved = errno, ret;

	xl_init();
	if (!real.close_range) {
		errno = ENOSYS;
		return -1;
	}
	/* close-on-exec for all: the library's fds have it already */
	if (xl_bypass() || (flags & CLOSE_RANGE_CLOEXEC) || first > last)
		return real.close_range(first, last, flags);
	ret = xl_close_range(first, last, flags);
	if (ret == 0)
		errno = saved;
	return ret;
}

XL_EXPORT void closefrom(int lowfd)
{
	struct rlimit rl;
	int fd, saved = errno;

	xl_init();
	if (lowfd < 0)
		lowfd = 0;
	if (real.close_range && (xl_bypass() ?
	    real.close_range((unsigned int)lowfd, ~0u, 0) :
	    xl_close_range((unsigned int)lowfd, ~0u, 0)) == 0) {
		errno = saved;
		return;
	}
	/* a kernel without close_range(): one by one, as far as the limit */
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > XL_FD_MAX)
		rl.rlim_cur = XL_FD_MAX;
	for (fd = lowfd; fd < (int)rl.rlim_cur; fd++)
		xl_close(fd);
	errno = saved;
}

/* ---- the channels' fds (struct xl_fd_keeper, driver/xl_backend.h) ---- */

const struct xl_fd_keeper xl_chan_fd_keeper = {
	.dup = xl_fd_keep,
	.release = xl_fd_internal_del,
	.moved = xl_epoll_chan_fd_moved,
};

XL_EXPORT int shutdown(int fd, int how)
{
	struct xl_sock *s;
	int saved = errno, ret;

	xl_init();
	if (xl_bypass() || !(s = xl_sock_get(fd)))
		return real.shutdown(fd, how);
	ret = xl_stream_shutdown(s, fd, how);
	xl_sock_put(s);
	return (int)xl_ret(ret, saved);
}

/* nfd is a new name for fd's file: it names the same socket. */
static void xl_dup_track(int fd, int nfd)
{
	struct xl_sock *s = xl_sock_get(fd);

	if (!s)
		return;
	xl_sock_add_fd(nfd, s);
	xl_sock_put(s);
}

XL_EXPORT int dup(int fd)
{
	int nfd, saved;

	xl_init();
	nfd = real.dup(fd);
	if (nfd < 0 || xl_bypass())
		return nfd;
	saved = errno;
	xl_dup_track(fd, nfd);
	errno = saved;
	return nfd;
}

/* The caller closes the old number (the program's dup2()). */
static bool xl_log_evacuate(int fd)
{
	int nfd;

	if (xl_log_fd() != fd)
		return false;
	nfd = xl_fd_keep(fd);
	xl_fd_internal_del(fd);
	xl_log_set_fd(nfd >= 0 ? nfd : 2);
	return true;
}

bool xl_fd_evacuate(int fd)
{
	bool left_open = xl_link_evacuate(fd) | xl_log_evacuate(fd);

	/* a channel's fd is closed by its move */
	xl_sock_evacuate_fd(fd);
	return left_open;
}

/* The program wants number nfd: if it is one of ours, move ours away. */
static void xl_dup_make_room(int nfd)
{
	if (!xl_fd_is_internal(nfd))
		return;
	xl_fd_evacuate(nfd);
	xl_sock_claim_fd(nfd);
}

static int xl_dup3(int fd, int nfd, int flags, bool three)
{
	int ret, saved = errno;

	xl_init();
	if (xl_bypass() || fd == nfd) {
		ret = three ? real.dup3(fd, nfd, flags) : real.dup2(fd, nfd);
		if (ret >= 0 && fd != nfd && !xl_in_lib && xl_letgo_owing())
			xl_letgo_closed(nfd);	/* another file there now */
		return ret;
	}
	xl_dup_make_room(nfd);
	ret = three ? real.dup3(fd, nfd, flags) : real.dup2(fd, nfd);
	if (ret < 0)
		return ret;
	xl_sock_replaced_fd(nfd);
	xl_epoll_closed(nfd);
	xl_dup_track(fd, nfd);
	errno = saved;
	return ret;
}

XL_EXPORT int dup2(int fd, int nfd)
{
	return xl_dup3(fd, nfd, 0, false);
}

XL_EXPORT int dup3(int fd, int nfd, int flags)
{
	return xl_dup3(fd, nfd, flags, true);
}
