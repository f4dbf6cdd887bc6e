/* SPDX-License-Identifier: MIT */
/*
 * sendfile() and splice() with a tracked socket on one side. The kernel
 * would move the bytes through the kernel socket, behind the ring's back:
 * while our direction is on TCP (and stays there for the call) the kernel
 * does it and the bytes are counted; once it is on the ring, the copy is
 * done here, through a buffer, so that every byte still goes where the
 * stream is. A splice from a tracked socket always copies: it peeks, hands
 * the bytes to the pipe, and consumes only what the pipe took, so a pipe
 * that fills up loses nothing.
 */
#include "config.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xl_preload.h"
#include "xl_sock.h"

#define XL_COPY_CHUNK	65536

struct xl_sendfile_args {
	int in_fd;
	off_t *offset;
	size_t count;
};

static ssize_t xl_sendfile_kernel(int fd, void *arg)
{
	struct xl_sendfile_args *a = arg;
	ssize_t n = real.sendfile(fd, a->in_fd, a->offset, a->count);

	return n < 0 ? -errno : n;
}

/* Read up to n bytes of the file at *offset (or its position). */
static ssize_t xl_file_read(int fd, void *buf, size_t n, off_t *offset)
{
	ssize_t got = offset ? pread(fd, buf, n, *offset) : real.read(fd, buf, n);

	return got < 0 ? -errno : got;
}

/* Give back the bytes read but not sent. */
static void xl_file_unread(int fd, off_t *offset, size_t n)
{
	if (!offset && n)
		lseek(fd, -(off_t)n, SEEK_CUR);
}

/* One chunk of an emulated sendfile; returns bytes sent or -errno. */
static ssize_t xl_sendfile_chunk(struct xl_sock *s, int out_fd, int in_fd,
				 off_t *offset, size_t n, char *buf)
{
	struct iovec iov;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t got, sent;

	got = xl_file_read(in_fd, buf, n, offset);
	if (got <= 0)
		return got;
	iov = (struct iovec){ buf, (size_t)got };
	sent = xl_stream_send(s, out_fd, &m, 0);
	if (sent < 0) {
		xl_file_unread(in_fd, offset, (size_t)got);
		return sent;
	}
	xl_file_unread(in_fd, offset, (size_t)(got - sent));
	if (offset)
		*offset += sent;
	return sent;
}

/* Is fd of the file type mode (S_IFSOCK, S_IFIFO)? */
static bool xl_fd_is(int fd, mode_t mode)
{
	struct stat st;

	return fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == mode;
}

static ssize_t xl_sendfile_copy(struct xl_sock *s, int out_fd, int in_fd,
				off_t *offset, size_t count)
{
	char *buf;
	size_t done = 0, n;
	ssize_t ret = 0;

	/* the kernel's sendfile() reads files, never a socket: its
	 * EINVAL, not a copy that consumes the socket's bytes */
	if (xl_fd_is(in_fd, S_IFSOCK))
		return -EINVAL;
	buf = malloc(XL_COPY_CHUNK);
	if (!buf)
		return -ENOMEM;
	while (done < count) {
		n = count - done < XL_COPY_CHUNK ? count - done : XL_COPY_CHUNK;
		ret = xl_sendfile_chunk(s, out_fd, in_fd, offset, n, buf);
		if (ret <= 0)
			break;
		done += (size_t)ret;
		if ((size_t)ret < n)
			break;	/* nonblocking and full, or end of file */
	}
	free(buf);
	return done ? (ssize_t)done : ret;
}

static ssize_t xl_sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	struct xl_sendfile_args a = { in_fd, offset, count };
	struct xl_sock *s;
	int saved = errno;
	ssize_t ret;

	xl_init();
	if (xl_bypass() || !(s = xl_sock_get(out_fd)))
		return real.sendfile(out_fd, in_fd, offset, count);
	xl_sock_register_due(s, out_fd, false);
	ret = xl_stream_kernel_tx(s, xl_sendfile_kernel, out_fd, &a);
	if (ret == -EXDEV)
		ret = xl_sendfile_copy(s, out_fd, in_fd, offset, count);
	xl_sock_put(s);
	return xl_ret(ret, saved);
}

XL_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	return xl_sendfile(out_fd, in_fd, offset, count);
}

XL_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *offset,
			     size_t count)
{
	return xl_sendfile(out_fd, in_fd, (off_t *)offset, count);
}

/* ---- splice ---- */

struct xl_splice_args {
	int pipe_fd;
	size_t len;
	unsigned int flags;
};

static ssize_t xl_splice_kernel(int fd, void *arg)
{
	struct xl_splice_args *a = arg;
	ssize_t n = real.splice(a->pipe_fd, NULL, fd, NULL, a->len, a->flags);

	return n < 0 ? -errno : n;
}

/* pipe -> tracked socket on the ring: take no more than the ring has
 * room for, and send all of it, so no byte taken from the pipe is lost. */
static ssize_t xl_splice_copy_in(struct xl_sock *s, int pipe_fd, int sock_fd,
				 size_t len, unsigned int flags)
{
	size_t room = xl_stream_tx_room(s);
	struct iovec iov;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t got, sent;
	char *buf;

	if (len > XL_COPY_CHUNK)
		len = XL_COPY_CHUNK;
	if ((flags & SPLICE_F_NONBLOCK) || atomic_load(&s->nonblock)) {
		if (room == 0)
			return -EAGAIN;
		if (len > room)
			len = room;
	}
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	got = real.read(pipe_fd, buf, len);
	if (got <= 0) {
		free(buf);
		return got < 0 ? -errno : 0;
	}
	iov = (struct iovec){ buf, (size_t)got };
	sent = xl_stream_send(s, sock_fd, &m, MSG_NOSIGNAL | XL_MSG_BLOCK);
	free(buf);
	/* a send that failed after the pipe gave its bytes: they are lost
	 * as they would be with a connection that failed */
	return sent < 0 ? sent : got;
}

static ssize_t xl_splice_to_sock(struct xl_sock *s, int pipe_fd, int sock_fd,
				 size_t len, unsigned int flags)
{
	struct xl_splice_args a = { pipe_fd, len, flags };
	ssize_t ret = xl_stream_kernel_tx(s, xl_splice_kernel, sock_fd, &a);

	if (ret == -EXDEV)
		ret = xl_splice_copy_in(s, pipe_fd, sock_fd, len, flags);
	return ret;
}

/* tracked socket -> pipe: peek, write, consume what the pipe took. */
static ssize_t xl_splice_from_sock(struct xl_sock *s, int sock_fd,
				   int pipe_fd, size_t len, unsigned int flags)
{
	struct iovec iov;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	int f = MSG_PEEK | ((flags & SPLICE_F_NONBLOCK) ? MSG_DONTWAIT : 0);
	ssize_t got, put;
	char *buf;

	if (len > XL_COPY_CHUNK)
		len = XL_COPY_CHUNK;
	buf = malloc(len ? len : 1);
	if (!buf)
		return -ENOMEM;
	iov = (struct iovec){ buf, len };
	got = xl_stream_recv(s, sock_fd, &m, f);
	if (got <= 0) {
		free(buf);
		return got;
	}
	put = real.write(pipe_fd, buf, (size_t)got);
	if (put > 0) {
		iov = (struct iovec){ buf, (size_t)put };
		xl_stream_recv(s, sock_fd, &m, MSG_DONTWAIT);
	}
	free(buf);
	return put < 0 ? -errno : put;
}

XL_EXPORT ssize_t splice(int fd_in, off64_t *off_in, int fd_out,
			 off64_t *off_out, size_t len, unsigned int flags)
{
	struct xl_sock *s = NULL;
	int saved = errno;
	ssize_t ret;

	xl_init();
	if (!xl_bypass()) {
		s = xl_sock_get(fd_in);
		/* splice() needs a pipe at one end: the kernel's EINVAL */
		if (s && !xl_fd_is(fd_out, S_IFIFO)) {
			xl_sock_put(s);
			return real.splice(fd_in, off_in, fd_out, off_out, len,
					   flags);
		}
		if (s && !off_in && !off_out) {
			ret = xl_splice_from_sock(s, fd_in, fd_out, len, flags);
			xl_sock_put(s);
			return xl_ret(ret, saved);
		}
		if (s)
			xl_sock_put(s);
		s = xl_sock_get(fd_out);
	}
	if (!s || off_in || off_out || !xl_fd_is(fd_in, S_IFIFO)) {
		if (s)
			xl_sock_put(s);
		return real.splice(fd_in, off_in, fd_out, off_out, len, flags);
	}
	xl_sock_register_due(s, fd_out, false);
	ret = xl_splice_to_sock(s, fd_in, fd_out, len, flags);
	xl_sock_put(s);
	return xl_ret(ret, saved);
}
