/* SPDX-License-Identifier: MIT */
/*
 * connect(): the client end of a connection. A connect() that completes
 * (at once, or later for a nonblocking one: the first call that finds the
 * socket connected) registers the socket with the daemon; the call itself
 * is the kernel's, untouched and unslowed.
 */
#include "config.h"

#include "xl_daemon_link.h"
#include "xl_preload.h"
#include "xl_sock.h"

/* connect() on a socket we already know: only completion matters. */
static int xl_connect_again(struct xl_sock *s, int fd,
			    const struct sockaddr *addr, socklen_t len)
{
	int ret = real.connect(fd, addr, len), err = errno;

	if (ret == 0 || err == EISCONN)
		xl_sock_settle(s, fd);
	xl_sock_put(s);
	errno = err;
	return ret;
}

static int xl_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct xl_sock *s;
	int ret, err, saved = errno;

	xl_init();
	if (xl_bypass() || !addr || len < sizeof(sa_family_t) ||
	    (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
		return real.connect(fd, addr, len);
	s = xl_sock_get(fd);
	if (s)
		return xl_connect_again(s, fd, addr, len);
	ret = real.connect(fd, addr, len);
	err = errno;
	/* EINTR: the kernel goes on connecting in the background */
	if ((ret == 0 || err == EINPROGRESS || err == EINTR) &&
	    xl_link_usable()) {
		/* O_NONBLOCK is read when it registers (a short connection
		 * never does: one system call less for it) */
		xl_sock_adopt(fd, XL_CTL_ROLE_CLIENT, false, ret != 0);
	}
	errno = ret == 0 ? saved : err;
	return ret;
}

XL_EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	return xl_connect(fd, addr, len);
}
