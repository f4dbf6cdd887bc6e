/* SPDX-License-Identifier: MIT */
/*
 * The library lets go of a process that sandboxes itself with seccomp
 * (xl_letgo.c), and what its hooks still do for it afterwards.
 */
#ifndef XL_LETGO_H
#define XL_LETGO_H

#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* Before a seccomp filter goes in (why: the call, for the log): every
 * connection leaves its ring, epoll instances are given back, the
 * daemon's link closes, and every hook passes to libc from then on. */
void xl_let_go(const char *why);

/* How many fds are still owed bytes their ring held (0 nearly always:
 * test it before any of the calls below). */
extern _Atomic int xl_letgo_owing_n;

static inline bool xl_letgo_owing(void)
{
	return atomic_load_explicit(&xl_letgo_owing_n,
				    memory_order_relaxed) != 0;
}

/* xl_epoll_let_go(): fd was in epfd with the program's registration ev. */
void xl_letgo_note_ep(int epfd, int fd, const struct epoll_event *ev);

/* A read of fd (the msghdr's iovecs, recv flags): *served if the owed
 * bytes answered it; returns their count or -errno. */
ssize_t xl_letgo_read(int fd, struct msghdr *m, int flags, bool *served);

/* Is fd owed bytes? */
bool xl_letgo_owes(int fd);

/* The program closed fd. */
void xl_letgo_closed(int fd);

/* poll() among whose fds one is owed bytes (*handled): it is readable at
 * once. Returns the count or -errno. */
int xl_letgo_poll(struct pollfd *fds, nfds_t n, bool *handled);

/* epoll_wait() on epfd: *handled if an owed fd is in it (reported
 * readable at once); returns the count or -errno. */
int xl_letgo_epoll(int epfd, struct epoll_event *ev, int max, bool *handled);

#endif /* XL_LETGO_H */
