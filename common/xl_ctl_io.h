/* SPDX-License-Identifier: MIT */
/*
 * Sending and receiving one control message (include/xenloop/ctl.h) over a
 * SOCK_SEQPACKET Unix socket, with file descriptors passed by SCM_RIGHTS.
 *
 * Receiving validates the envelope — size, version, type, nfds against the
 * fds that really came, text_len against the bytes that came — and closes
 * every received fd when it fails, so a hostile sender cannot leak fds into
 * us or make us read past what it sent. What a field means is checked by
 * the caller.
 *
 * Returns 0 or -errno; never writes errno.
 */
#ifndef XL_CTL_IO_H
#define XL_CTL_IO_H

#include <stddef.h>

#include "xenloop/ctl.h"

/*
 * Send msg (msg->nfds fds from fds[], text_len bytes of text after it).
 * msg->version is filled in. flags are sendmsg flags (MSG_DONTWAIT...).
 * MSG_NOSIGNAL is always added.
 */
int xl_ctl_send(int sock, struct xl_ctl_msg *msg, const int *fds,
		const char *text, int flags);

/*
 * Receive one message into msg, its fds into fds[XL_CTL_MAX_FDS] (the
 * rest set to -1) and, if text is not NULL, up to text_max - 1 bytes of
 * text, NUL-terminated. All received fds are O_CLOEXEC. Returns 0, -EAGAIN
 * (nothing there, nonblocking), -ECONNRESET (peer closed), -EPROTO
 * (malformed: everything received was closed), -EMFILE (msg is whole but
 * the kernel could not give all its fds, at this process's RLIMIT_NOFILE:
 * those that came were closed), or another -errno.
 */
int xl_ctl_recv(int sock, struct xl_ctl_msg *msg, int fds[XL_CTL_MAX_FDS],
		char *text, size_t text_max, int flags);

/* Close the fds xl_ctl_recv() returned and set them to -1. */
void xl_ctl_close_fds(int fds[XL_CTL_MAX_FDS]);

#endif /* XL_CTL_IO_H */
