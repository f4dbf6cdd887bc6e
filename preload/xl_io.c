/* SPDX-License-Identifier: MIT */
/*
 * The data calls: read, write, readv, writev, recv, recvfrom, recvmsg,
 * recvmmsg, send, sendto, sendmsg, sendmmsg and the _FORTIFY_SOURCE
 * variants. Each turns its arguments into a msghdr for xl_stream.c, or
 * passes the call on untouched when the fd is not a tracked socket.
 */
#include "config.h"

#include <pthread.h>

#include "xl_letgo.h"
#include "xl_preload.h"
#include "xl_sock.h"

/* libc declares these only under _FORTIFY_SOURCE. */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
		       struct sockaddr *addr, socklen_t *alen);

/*
 * The tracked socket behind a data call on fd, with a reference, or NULL.
 *
 * *pass: the socket waits for its registration (XENLOOP_REGISTER_DELAY_US)
 * and nothing but the kernel can carry its bytes yet, so the call goes
 * straight to the kernel, under the direction's lock and counted (the
 * offset where the stream may later move onto a ring), without the data
 * path's waits. The socket is not registered while such a call is in
 * progress (xl_sock_register_due()). End the call with xl_pass_end().
 */
static struct xl_sock *xl_io_sock_pass(int fd, bool *pass)
{
	struct xl_sock *s;
	int state;

	if (pass)
		*pass = false;
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
	if (state == XL_SOCK_PENDING) {
		xl_sock_register_due(s, fd, false);
		if (pass && !atomic_load(&s->reg_taken)) {
			atomic_fetch_add(&s->passthru, 1);
			if (!atomic_load(&s->reg_taken)) {
				*pass = true;
				return s;
			}
			atomic_fetch_sub(&s->passthru, 1);
		}
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

static pthread_mutex_t *xl_pass_lock(struct xl_sock *s, bool tx)
{
	pthread_mutex_t *m = tx ? &s->conn->tx_lock : &s->conn->rx_lock;

	xl_conn_lock(m);
	return m;
}

/* The end of a call xl_io_sock_pass() let through: ret is the kernel's
 * (-1 and errno on failure), n the bytes it moved (count: not a peek). */
static long xl_pass_end(struct xl_sock *s, pthread_mutex_t *m, bool tx,
			long ret, uint64_t n)
{
	int err = errno;

	if (ret >= 0 && n)
		atomic_fetch_add_explicit(tx ? &s->conn->tcp_tx :
					  &s->conn->tcp_rx, n,
					  memory_order_relaxed);
	pthread_mutex_unlock(m);
	atomic_fetch_sub(&s->passthru, 1);
	xl_sock_put(s);
	errno = err;
	return ret;
}

static uint64_t xl_pass_n(long ret, int flags)
{
	return ret > 0 && !(flags & MSG_PEEK) ? (uint64_t)ret : 0;
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
static struct xl_sock *xl_kernel_only_sock(int fd, int flags, bool *pass)
{
	if (flags & (MSG_OOB | MSG_ERRQUEUE)) {
		xl_init();
		if (pass)
			*pass = false;
		return NULL;
	}
	return xl_io_sock_pass(fd, pass);
}

static size_t xl_msg_len(const struct msghdr *m)
{
	size_t total = 0, i;

	for (i = 0; i < m->msg_iovlen; i++)
		total += m->msg_iov[i].iov_len;
	return total;
}

/* The bytes a socket that let go of its ring still owes the program
 * (xl_letgo.c) answer a read first: true if they did (*ret: the call's
 * return, errno set). */
static bool xl_io_owed(int fd, struct msghdr *m, int flags, ssize_t *ret)
{
	bool served;
	ssize_t r;

	if (!xl_letgo_owing() || xl_in_lib)
		return false;
	r = xl_letgo_read(fd, m, flags, &served);
	if (!served)
		return false;
	if (r < 0) {
		errno = (int)-r;
		r = -1;
	}
	*ret = r;
	return true;
}

static ssize_t xl_read(int fd, void *buf, size_t n)
{
	bool pass;
	struct iovec iov = { buf, n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct xl_sock *s;
	pthread_mutex_t *l;
	ssize_t ret;

	if (xl_io_owed(fd, &m, 0, &ret))
		return ret;
	s = xl_io_sock_pass(fd, &pass);
	if (!s)
		return real.read(fd, buf, n);
	if (pass) {
		l = xl_pass_lock(s, false);
		ret = real.read(fd, buf, n);
		return xl_pass_end(s, l, false, ret, xl_pass_n(ret, 0));
	}
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
	bool pass;
	struct msghdr m = { .msg_iov = (struct iovec *)iov };
	struct xl_sock *s;
	pthread_mutex_t *l;
	ssize_t ret;

	m.msg_iovlen = cnt > 0 ? (size_t)cnt : 0;
	if (cnt >= 0 && xl_io_owed(fd, &m, 0, &ret))
		return ret;
	s = xl_io_sock_pass(fd, &pass);
	if (!s)
		return real.readv(fd, iov, cnt);
	if (pass) {
		l = xl_pass_lock(s, false);
		ret = real.readv(fd, iov, cnt);
		return xl_pass_end(s, l, false, ret, xl_pass_n(ret, 0));
	}
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
	bool pass;
	struct iovec iov = { buf, n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct xl_sock *s;
	pthread_mutex_t *l;
	ssize_t ret;

	if (xl_io_owed(fd, &m, flags, &ret)) {
		if (ret >= 0 && addr && alen)
			*alen = 0;	/* a stream's bytes have no sender */
		return ret;
	}
	s = xl_kernel_only_sock(fd, flags, &pass);
	if (!s)
		return real.recvfrom(fd, buf, n, flags, addr, alen);
	if (pass) {
		l = xl_pass_lock(s, false);
		ret = real.recvfrom(fd, buf, n, flags, addr, alen);
		return xl_pass_end(s, l, false, ret, xl_pass_n(ret, flags));
	}
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
	bool pass;
	struct xl_sock *s;
	pthread_mutex_t *l;
	ssize_t ret;

	if (msg && xl_io_owed(fd, msg, flags, &ret)) {
		if (ret >= 0)
			msg->msg_namelen = 0;
		return ret;
	}
	s = xl_kernel_only_sock(fd, flags, &pass);

	if (!s)
		return real.recvmsg(fd, msg, flags);
	if (pass) {
		l = xl_pass_lock(s, false);
		ret = real.recvmsg(fd, msg, flags);
		return xl_pass_end(s, l, false, ret, xl_pass_n(ret, flags));
	}
	return xl_io_recv(s, fd, msg, flags);
}

XL_EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen,
		       int flags, struct timespec *timeout)
{
	struct xl_sock *s = xl_kernel_only_sock(fd, flags, NULL);
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
	bool pass;
	struct xl_sock *s = xl_io_sock_pass(fd, &pass);
	struct iovec iov = { (void *)buf, n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	pthread_mutex_t *l;
	ssize_t ret;

	if (!s)
		return real.write(fd, buf, n);
	if (pass) {
		l = xl_pass_lock(s, true);
		ret = real.write(fd, buf, n);
		return xl_pass_end(s, l, true, ret, xl_pass_n(ret, 0));
	}
	return xl_io_send(s, fd, &m, 0);
}

XL_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	bool pass;
	struct xl_sock *s = xl_io_sock_pass(fd, &pass);
	struct msghdr m = { .msg_iov = (struct iovec *)iov };
	pthread_mutex_t *l;
	ssize_t ret;

	if (!s)
		return real.writev(fd, iov, cnt);
	if (pass) {
		l = xl_pass_lock(s, true);
		ret = real.writev(fd, iov, cnt);
		return xl_pass_end(s, l, true, ret, xl_pass_n(ret, 0));
	}
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
	bool pass;
	struct xl_sock *s = xl_kernel_only_sock(fd, flags & MSG_ERRQUEUE, &pass);
	struct iovec iov = { (void *)buf, n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	pthread_mutex_t *l;
	ssize_t ret;

	if (!s)
		return real.sendto(fd, buf, n, flags, addr, alen);
	if (pass) {
		l = xl_pass_lock(s, true);
		ret = real.sendto(fd, buf, n, flags, addr, alen);
		return xl_pass_end(s, l, true, ret, xl_pass_n(ret, 0));
	}
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
	bool pass;
	struct xl_sock *s = xl_kernel_only_sock(fd, flags & MSG_ERRQUEUE, &pass);
	pthread_mutex_t *l;
	ssize_t ret;

	if (!s)
		return real.sendmsg(fd, msg, flags);
	if (pass) {
		l = xl_pass_lock(s, true);
		ret = real.sendmsg(fd, msg, flags);
		return xl_pass_end(s, l, true, ret, xl_pass_n(ret, 0));
	}
	return xl_io_send(s, fd, msg, flags);
}

XL_EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen,
		       int flags)
{
	struct xl_sock *s = xl_kernel_only_sock(fd, flags & MSG_ERRQUEUE, NULL);
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
