/* SPDX-License-Identifier: MIT */
/*
 * Which transports this build has, by kind, and the fd keeping they share.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <unistd.h>

#include "xl_backend.h"

const struct xl_fd_keeper *xl_fd_keeper;

int xl_keeper_dup(int fd)
{
	int nfd;

	if (xl_fd_keeper)
		return xl_fd_keeper->dup(fd);
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return nfd < 0 ? -errno : nfd;
}

void xl_keeper_close(int *fd)
{
	if (*fd >= 0) {
		if (xl_fd_keeper)
			xl_fd_keeper->release(*fd);
		close(*fd);
	}
	*fd = -1;
}

int xl_keeper_move(int *const slot[], unsigned int n, int fd)
{
	unsigned int i;
	int nfd;

	for (i = 0; i < n; i++) {
		if (*slot[i] != fd)
			continue;
		nfd = xl_keeper_dup(fd);
		if (nfd < 0)
			return nfd;
		if (xl_fd_keeper)
			xl_fd_keeper->moved(fd, nfd);
		xl_keeper_close(slot[i]);
		*slot[i] = nfd;
		return 1;
	}
	return 0;
}

const struct xl_backend_ops *xl_backend_get(enum xl_backend_kind kind)
{
	switch (kind) {
	case XL_BACKEND_LOCAL:
		return &xl_backend_local;
	case XL_BACKEND_XENDEV:
		return &xl_backend_xendev;
	case XL_BACKEND_XENKMOD:
		return &xl_backend_xenkmod;
#ifdef HAVE_XEN
	case XL_BACKEND_XEN:
		return &xl_backend_xen;
#endif
	default:
		return NULL;
	}
}
