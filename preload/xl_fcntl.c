/* SPDX-License-Identifier: MIT */
/*
 * fcntl() and ioctl(): O_NONBLOCK and FIONBIO change how a tracked socket
 * waits, F_DUPFD makes another name for it, FIONREAD (SIOCINQ) and
 * SIOCOUTQ count the ring's bytes too. Everything else is the kernel's.
 */
#include "config.h"

#include <fcntl.h>
#include <linux/sockios.h>
#include <stdarg.h>
#include <sys/ioctl.h>

#include "xl_preload.h"
#include "xl_sock.h"

/* After a successful F_SETFL or F_DUPFD* on fd. */
static void xl_fcntl_after(int fd, int cmd, void *arg, int ret)
{
	struct xl_sock *s = xl_sock_get(fd);

	if (!s)
		return;
	if (cmd == F_SETFL)
		atomic_store(&s->nonblock, ((long)arg & O_NONBLOCK) != 0);
	else
		xl_sock_add_fd(ret, s);	/* F_DUPFD, F_DUPFD_CLOEXEC */
	xl_sock_put(s);
}

static int xl_fcntl(int fd, int cmd, void *arg, bool is64)
{
	int (*fn)(int, int, ...) = is64 && real.fcntl64 ? real.fcntl64 :
						      real.fcntl;
	int ret, saved;

	ret = fn(fd, cmd, arg);
	if (ret < 0 || xl_bypass())
		return ret;
	if (cmd == F_SETFL || cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) {
		saved = errno;
		xl_fcntl_after(fd, cmd, arg, ret);
		errno = saved;
	}
	return ret;
}

XL_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	/* every fcntl argument is one register: an int, a long or a
	 * pointer; libc passes it on the same way */
	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	xl_init();
	return xl_fcntl(fd, cmd, arg, false);
}

XL_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	xl_init();
	return xl_fcntl(fd, cmd, arg, true);
}

static int xl_ioctl_sock(struct xl_sock *s, int fd, unsigned long req,
			 void *arg)
{
	int ret, v;

	switch (req) {
	case FIONREAD:
		ret = xl_stream_inq(s, fd, &v);
		break;
	case SIOCOUTQ:
		ret = xl_stream_outq(s, fd, &v);
		break;
	default:
		ret = real.ioctl(fd, req, arg) < 0 ? -errno : 0;
		if (ret == 0 && req == FIONBIO)
			atomic_store(&s->nonblock, *(int *)arg != 0);
		return ret;
	}
	if (ret == 0)
		*(int *)arg = v;
	return ret;
}

XL_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	struct xl_sock *s;
	int saved = errno, ret;
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	xl_init();
	if (xl_bypass() || (req != FIONREAD && req != SIOCOUTQ &&
			    req != FIONBIO) || !(s = xl_sock_get(fd)))
		return real.ioctl(fd, req, arg);
	ret = xl_ioctl_sock(s, fd, req, arg);
	xl_sock_put(s);
	return (int)xl_ret(ret, saved);
}
