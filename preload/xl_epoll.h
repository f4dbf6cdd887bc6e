/* SPDX-License-Identifier: MIT */
/*
 * The epoll registry: which tracked sockets each epoll instance watches,
 * so that epoll_wait() can report their rings' readiness (xl_epoll.c).
 */
#ifndef XL_EPOLL_H
#define XL_EPOLL_H

#include <stdbool.h>

struct xl_sock;

/* fd, a tracked socket, is being closed: drop its registrations. */
void xl_epoll_forget_fd(int fd);

/* The library lets go of the process (xl_letgo.c): every instance gets
 * its tracked sockets and nested instances back as the program
 * registered them, and loses its inner instance. */
void xl_epoll_let_go(void);

/* fd (not a tracked socket) was closed: if it was an epoll instance with
 * a registry, the registry goes too. */
void xl_epoll_closed(int fd);

/* A channel's fd moved (a dup2() onto its number): registrations of from
 * become registrations of to. */
void xl_epoll_chan_fd_moved(int from, int to);

/* fd is an epoll instance with a registry: bring its readiness up to
 * date for a poll() on it (its self eventfd set exactly while a tracked
 * socket in it is due) and announce the sleep on its rings. Returns
 * whether it is one. */
bool xl_epoll_prepare_fd(int fd);

/* Is fd an epoll instance with a registry (no lock, no system call)? */
bool xl_epoll_is_registry(int fd);

/* s got its channel: wake the epoll_wait() calls that may watch it. */
void xl_epoll_sock_changed(struct xl_sock *s);

#endif /* XL_EPOLL_H */
