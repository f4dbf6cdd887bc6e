/* SPDX-License-Identifier: MIT */
/*
 * close(), shutdown(), dup(), dup2(), dup3(): the fds that name a tracked
 * socket. Every fd of a socket holds a reference; the end of the stream
 * (ring end, CLOSE to the daemon, the kernel's FIN) comes with the last
 * close, as the kernel does it for the file. The library's own descriptors
 * are protected from programs that close every fd they did not open.
 */
#include "config.h"

#include <fcntl.h>

#include "xl_daemon_link.h"
#include "xl_epoll.h"
#include "xl_fdtable.h"
#include "xl_preload.h"
#include "xl_sock.h"

static int xl_close(int fd)
{
	int saved = errno;

	xl_init();
	if (xl_in_lib)
		return real.close(fd);
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

static void xl_log_evacuate(int fd)
{
	int nfd;

	if (xl_log_fd() != fd)
		return;
	nfd = real.fcntl(fd, F_DUPFD_CLOEXEC, fd + 1);
	xl_fd_internal_del(fd);
	xl_log_set_fd(nfd >= 0 ? nfd : 2);
	if (nfd >= 0)
		xl_fd_internal_add(nfd);
}

/* The program wants number nfd: if it is one of ours, move ours away. */
static void xl_dup_make_room(int nfd)
{
	if (!xl_fd_is_internal(nfd))
		return;
	xl_link_evacuate(nfd);
	xl_log_evacuate(nfd);
	xl_sock_claim_fd(nfd);
}

static int xl_dup3(int fd, int nfd, int flags, bool three)
{
	int ret, saved = errno;

	xl_init();
	if (xl_bypass() || fd == nfd)
		return three ? real.dup3(fd, nfd, flags) : real.dup2(fd, nfd);
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
