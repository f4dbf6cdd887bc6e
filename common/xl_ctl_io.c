/* SPDX-License-Identifier: MIT */
/*
 * One control message per SOCK_SEQPACKET datagram, fds by SCM_RIGHTS.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "xl_ctl_io.h"

#define XL_CTL_CMSG_SPACE CMSG_SPACE(sizeof(int) * XL_CTL_MAX_FDS)

int xl_ctl_send(int sock, struct xl_ctl_msg *msg, const int *fds,
		const char *text, int flags)
{
	union {
		char buf[XL_CTL_CMSG_SPACE];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov[2] = {
		{ .iov_base = msg, .iov_len = sizeof(*msg) },
		{ .iov_base = (void *)text, .iov_len = text ? msg->text_len : 0 },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = text ? 2 : 1 };
	struct cmsghdr *cm;

	if (msg->nfds > XL_CTL_MAX_FDS || (!text && msg->text_len) ||
	    msg->text_len > XL_CTL_MAX_TEXT)
		return -EINVAL;
	msg->version = XL_CTL_VERSION;
	if (msg->nfds) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * msg->nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * msg->nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * msg->nfds);
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);

		if (n >= 0)
			return (size_t)n == sizeof(*msg) + iov[1].iov_len ?
			       0 : -EMSGSIZE;
		if (errno != EINTR)
			return -errno;
	}
}

void xl_ctl_close_fds(int fds[XL_CTL_MAX_FDS])
{
	unsigned int i;

	for (i = 0; i < XL_CTL_MAX_FDS; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* Take every fd out of the control messages, however many came. Returns
 * how many fit in fds[], or -EPROTO if more came (the extra are closed). */
static int xl_ctl_take_fds(struct msghdr *mh, int fds[XL_CTL_MAX_FDS])
{
	struct cmsghdr *cm;
	int count = 0, bad = 0;
	size_t i, n;
	int fd;

	for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			if (count < (int)XL_CTL_MAX_FDS)
				fds[count++] = fd;
			else {
				close(fd);
				bad = 1;
			}
		}
	}
	return bad ? -EPROTO : count;
}

static int xl_ctl_check(const struct xl_ctl_msg *msg, ssize_t len, int nfds,
			int truncated)
{
	if (truncated || len < (ssize_t)sizeof(*msg))
		return -EPROTO;
	if (msg->version != XL_CTL_VERSION || msg->type == 0 ||
	    msg->type >= XL_CTL_TYPE_MAX)
		return -EPROTO;
	if (msg->nfds != (uint32_t)nfds || msg->text_len > XL_CTL_MAX_TEXT ||
	    (size_t)len != sizeof(*msg) + msg->text_len)
		return -EPROTO;
	return 0;
}

/* Was only the control data cut short, of a message that asked for more
 * fds than came? */
static bool xl_ctl_fds_cut(const struct msghdr *mh,
			   const struct xl_ctl_msg *msg, ssize_t len, int nfds)
{
	struct xl_ctl_msg whole = *msg;

	if ((mh->msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != MSG_CTRUNC ||
	    len < (ssize_t)sizeof(*msg) || msg->nfds <= (uint32_t)nfds ||
	    msg->nfds > XL_CTL_MAX_FDS)
		return false;
	whole.nfds = (uint32_t)nfds;
	return xl_ctl_check(&whole, len, nfds, 0) == 0;
}

int xl_ctl_recv(int sock, struct xl_ctl_msg *msg, int fds[XL_CTL_MAX_FDS],
		char *text, size_t text_max, int flags)
{
	union {
		char buf[XL_CTL_CMSG_SPACE + CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov[2] = {
		{ .iov_base = msg, .iov_len = sizeof(*msg) },
		{ .iov_base = text, .iov_len = text ? text_max - 1 : 0 },
	};
	/* without a text buffer, text makes the datagram truncated: EPROTO */
	struct msghdr mh = {
		.msg_iov = iov, .msg_iovlen = text ? 2 : 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	ssize_t n;
	int nfds, ret;

	for (n = 0; n < (ssize_t)XL_CTL_MAX_FDS; n++)
		fds[n] = -1;
	if (text && text_max == 0)
		return -EINVAL;
	do {
		n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	nfds = xl_ctl_take_fds(&mh, fds);
	if (n == 0 && nfds == 0)
		return -ECONNRESET;
	ret = nfds < 0 ? nfds :
	      xl_ctl_check(msg, n, nfds, mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC));
	/* a message whole but for fds the kernel could not give us (our
	 * process is at its RLIMIT_NOFILE): the message stands */
	if (ret == -EPROTO && nfds >= 0 && xl_ctl_fds_cut(&mh, msg, n, nfds))
		ret = -EMFILE;
	if (ret < 0) {
		xl_ctl_close_fds(fds);
		return ret;
	}
	if (text)
		text[msg->text_len] = '\0';
	return 0;
}
