/* SPDX-License-Identifier: MIT */
/*
 * The table from an application fd to the library's state of a tracked TCP
 * socket (struct xl_sock). Two levels indexed by fd: lookup takes no lock,
 * insert and remove take a mutex. Second-level pages are never freed, so a
 * lookup racing with a remove reads either the old or the new pointer,
 * never freed memory; struct xl_sock is type-stable for the same reason
 * (see xl_sock.c).
 */
#ifndef XL_FDTABLE_H
#define XL_FDTABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct xl_sock;

#define XL_FD_PAGE_BITS		10
#define XL_FD_PAGE_SIZE		(1u << XL_FD_PAGE_BITS)
#define XL_FD_PAGES		1024u	/* fds up to 2^20 are tracked */
#define XL_FD_MAX		(XL_FD_PAGES * XL_FD_PAGE_SIZE)

typedef struct xl_sock *_Atomic xl_fd_slot;

extern xl_fd_slot *_Atomic xl_fd_pages[XL_FD_PAGES];

/* The entry of fd, or NULL; no reference is taken. */
static inline struct xl_sock *xl_fd_peek(int fd)
{
	xl_fd_slot *page;

	if ((unsigned int)fd >= XL_FD_MAX)
		return NULL;
	page = atomic_load_explicit(&xl_fd_pages[fd >> XL_FD_PAGE_BITS],
				    memory_order_acquire);
	if (!page)
		return NULL;
	return atomic_load_explicit(&page[fd & (XL_FD_PAGE_SIZE - 1)],
				    memory_order_acquire);
}

/* Set fd's entry to s (which must hold a reference for it). Returns 0,
 * -EMFILE (fd too large) or -ENOMEM; the previous entry is returned in
 * *old (its reference now belongs to the caller). */
int xl_fd_set(int fd, struct xl_sock *s, struct xl_sock **old);

/* Clear fd's entry if it is s (NULL: whatever it is). Returns the entry
 * removed, whose reference now belongs to the caller, or NULL. */
struct xl_sock *xl_fd_clear(int fd, struct xl_sock *s);

/* Descriptors the library owns (daemon link, log, channels) must survive a
 * program that closes every fd: close() of one is refused, dup2() onto one
 * moves it first. */
void xl_fd_internal_add(int fd);
void xl_fd_internal_del(int fd);
bool xl_fd_is_internal(int fd);
/* How many there are; how many in [fd, end). */
unsigned int xl_fd_internal_count(void);
unsigned int xl_fd_internal_count_from(int fd, int end);

/* The first fd in [fd, last] that is the library's or a tracked socket,
 * or -1 (close_range()). */
int xl_fd_next_of_interest(int fd, int last);

/* Serialise table changes with fork(). */
void xl_fd_lock(void);
void xl_fd_unlock(void);
void xl_fd_reinit(void);

#endif /* XL_FDTABLE_H */
