/* SPDX-License-Identifier: MIT */
/*
 * The data calls: read, write, readv, writev, recv, recvfrom, recvmsg,
 * recvmmsg, send, sendto, sendmsg, sendmmsg and the _FORTIFY_SOURCE
 * variants. Each turns its arguments into a msghdr for xl_stream.c, or
 * passes the call on untouched when the fd is not a tracked socket.
 */
#include "config.h"

#include "xl_preload.h"
#include "xl_sock.h"

/* libc declares these only under _FORTIFY_SOURCE. */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
		       struct sockaddr *addr, socklen_t *alen);

/* The tracked socket behind a data call on fd, with a reference. */
static struct xl_sock *xl_io_sock(int fd)
{
	struct xl_sock *s;
	int state;

	xl_init();
	if (xl_bypass())
		return NULL;
	s = xl_sock_get(fd);
	if (!s)
		return NULL;
	state = atomic_load(&s->state);
	if (state == XL_SOCK_CONNECTING) {
		xl_sock_settle(s, fd);
		state = atomic_load(&s->state);
	}
	/* a socket shared by fork() still counts its kernel bytes: the
	 * process that claims it moves onto the ring at their end */
	if (state != XL_SOCK_PENDING && state != XL_SOCK_CHAN &&
	    state != XL_SOCK_CLAIM) {
		xl_sock_put(s);
		return NULL;
	}
	return s;
}

static ssize_t xl_io_recv(struct xl_sock *s, int fd, struct msghdr *m,
			  int flags)
{
	int saved = errno;
	ssize_t ret = xl_stream_recv(s, fd, m, flags);

	xl_sock_put(s);
	return xl_ret(ret, saved);
}

static ssize_t xl_io_send(struct xl_sock *s, int fd, const struct msghdr *m,
			  int flags)
{
	int saved = errno;
	ssize_t ret = xl_stream_send(s, fd, m, flags);

	xl_sock_put(s);
	return xl_ret(ret, saved);
}

/* Calls the ring has nothing to do with (urgent data, the error queue)
 * go to the kernel whatever the socket. */
static struct xl_sock *xl_kernel_only_sock(int fd, int flags)
{
	if (flags & (MSG_OOB | MSG_ERRQUEUE)) {
		xl_init();
		return NULL;
	}
	return xl_io_sock(fd);
}

static size_t xl_msg_len(const struct msghdr *m)
{
	size_t total = 0, i;

	for (i = 0; i < m->msg_iovlen; i++)
		total += m->msg_iov[i].iov_len;
	return total;
}

static ssize_t xl_read(int fd, void *buf, size_t n)
{
	struct xl_sock *s = xl_io_sock(fd);
	struct iovec iov = { buf, n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (!s)
		return real.read(fd, buf, n);
	return xl_io_recv(s, fd, &m, 0);
}

XL_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	return xl_read(fd, buf, n);
}

XL_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	xl_init();
	if (n > buflen)		/* let libc report the overflow */
		return real.read_chk(fd, buf, n, buflen);
	return xl_read(fd, buf, n);
}

XL_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	struct xl_sock *s = xl_io_sock(fd);
	struct msghdr m = { .msg_iov = (struct iovec *)iov };

	if (!s)
		return real.readv(fd, iov, cnt);
	if (cnt < 0) {
		xl_sock_put(s);
		return xl_ret(-EINVAL, 0);
	}
	m.msg_iovlen = (size_t)cnt;
	return xl_io_recv(s, fd, &m, 0);
}

static ssize_t xl_recvfrom(int fd, void *buf, size_t n, int flags,
			   struct sockaddr *addr, socklen_t *alen)
{
	struct xl_sock *s = xl_kernel_only_sock(fd, flags);
	struct iovec iov = { buf, n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t ret;

	if (!s)
		return real.recvfrom(fd, buf, n, flags, addr, alen);
	m.msg_name = addr;
	m.msg_namelen = addr && alen ? *alen : 0;
	ret = xl_io_recv(s, fd, &m, flags);
	if (ret >= 0 && addr && alen)
		*alen = m.msg_namelen;
	return ret;
}

XL_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	return xl_recvfrom(fd, buf, n, flags, NULL, NULL);
}

XL_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags,
			   struct sockaddr *addr, socklen_t *alen)
{
	return xl_recvfrom(fd, buf, n, flags, addr, alen);
}

XL_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen,
			     int flags)
{
	if (n > buflen)
		return real.recv_chk(fd, buf, n, buflen, flags);
	return xl_recvfrom(fd, buf, n, flags, NULL, NULL);
}

XL_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen,
				 int flags, struct sockaddr *addr,
				 socklen_t *alen)
{
	if (n > buflen)
		return real.recvfrom_chk(fd, buf, n, buflen, flags, addr, alen);
	return xl_recvfrom(fd, buf, n, flags, addr, alen);
}

XL_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct xl_sock *s = xl_kernel_only_sock(fd, flags);

	if (!s)
		return real.recvmsg(fd, msg, flags);
	return xl_io_recv(s, fd, msg, flags);
}

XL_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen,
		       int flags, struct timespec *timeout)
{
	struct xl_sock *s = xl_kernel_only_sock(fd, flags);
	int saved = errno, f = flags & ~MSG_WAITFORONE;
	unsigned int i;
	ssize_t ret = 0;

	if (!s)
		return real.recvmmsg(fd, vec, vlen, flags, timeout);
	/* a stream has no message boundaries: fill one after the other */
	for (i = 0; i < vlen; i++) {
		ret = xl_stream_recv(s, fd, &vec[i].msg_hdr, f);
		if (ret < 0)
			break;
		vec[i].msg_len = (unsigned int)ret;
		if (ret == 0) {
			i++;	/* the end of the stream is one message */
			break;
		}
		if (flags & MSG_WAITFORONE)
			f |= MSG_DONTWAIT;
	}
	xl_sock_put(s);
	return (int)xl_ret(i ? (long)i : ret, saved);
}

XL_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	struct xl_sock *s = xl_io_sock(fd);
	struct iovec iov = { (void *)buf, n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (!s)
		return real.write(fd, buf, n);
	return xl_io_send(s, fd, &m, 0);
}

XL_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	struct xl_sock *s = xl_io_sock(fd);
	struct msghdr m = { .msg_iov = (struct iovec *)iov };

	if (!s)
		return real.writev(fd, iov, cnt);
	if (cnt < 0) {
		xl_sock_put(s);
		return xl_ret(-EINVAL, 0);
	}
	m.msg_iovlen = (size_t)cnt;
	return xl_io_send(s, fd, &m, 0);
}

static ssize_t xl_sendto(int fd, const void *buf, size_t n, int flags,
			 const struct sockaddr *addr, socklen_t alen)
{
	struct xl_sock *s = xl_kernel_only_sock(fd, flags & MSG_ERRQUEUE);
	struct iovec iov = { (void *)buf, n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (!s)
		return real.sendto(fd, buf, n, flags, addr, alen);
	m.msg_name = (void *)addr;
	m.msg_namelen = addr ? alen : 0;
	return xl_io_send(s, fd, &m, flags);
}

XL_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	return xl_sendto(fd, buf, n, flags, NULL, 0);
}

XL_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
			 const struct sockaddr *addr, socklen_t alen)
{
	return xl_sendto(fd, buf, n, flags, addr, alen);
}

XL_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct xl_sock *s = xl_kernel_only_sock(fd, flags & MSG_ERRQUEUE);

	if (!s)
		return real.sendmsg(fd, msg, flags);
	return xl_io_send(s, fd, msg, flags);
}

XL_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen,
		       int flags)
{
	struct xl_sock *s = xl_kernel_only_sock(fd, flags & MSG_ERRQUEUE);
	int saved = errno;
	unsigned int i;
	ssize_t ret = 0;

	if (!s)
		return real.sendmmsg(fd, vec, vlen, flags);
	for (i = 0; i < vlen; i++) {
		ret = xl_stream_send(s, fd, &vec[i].msg_hdr, flags);
		if (ret < 0)
			break;
		vec[i].msg_len = (unsigned int)ret;
		if ((size_t)ret < xl_msg_len(&vec[i].msg_hdr)) {
			i++;	/* a short send ends the batch */
			break;
		}
	}
	xl_sock_put(s);
	return (int)xl_ret(i ? (long)i : ret, saved);
}
