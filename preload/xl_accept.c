/* SPDX-License-Identifier: MIT */
/*
 * accept() and accept4(): the server end of a connection. The accepted
 * socket is registered with the daemon and served by the kernel until its
 * channel comes; the call returns as soon as the kernel's does.
 */
#include "config.h"

#include <fcntl.h>

#include "xl_preload.h"
#include "xl_sock.h"

static int xl_accept4(int fd, struct sockaddr *addr, socklen_t *len,
		      int flags, bool four)
{
	int nfd, saved;

	xl_init();
	nfd = four ? real.accept4(fd, addr, len, flags) :
		     real.accept(fd, addr, len);
	if (nfd < 0 || xl_bypass())
		return nfd;
	saved = errno;
	/* an accepted socket does not inherit O_NONBLOCK on Linux */
	xl_sock_adopt(nfd, XL_CTL_ROLE_SERVER, four && (flags & SOCK_NONBLOCK),
		      false);
	errno = saved;
	return nfd;
}

XL_EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	return xl_accept4(fd, addr, len, 0, false);
}

XL_EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len,
		      int flags)
{
	return xl_accept4(fd, addr, len, flags, true);
}
