/* SPDX-License-Identifier: MIT */
/*
 * The fd table: a lock-free read path for every hooked call on every fd
 * (most of which are not ours and must cost next to nothing), a mutex for
 * the rare changes.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "xl_fdtable.h"

xl_fd_slot *_Atomic xl_fd_pages[XL_FD_PAGES];

static pthread_mutex_t xl_fd_mutex = PTHREAD_MUTEX_INITIALIZER;

/* One bit per fd the library owns: a few of its own (daemon link, log,
 * placeholders) and five per channel, so not a short list. Zero pages of
 * it cost nothing until a bit in them is set. */
static _Atomic uint64_t xl_fd_internal[XL_FD_MAX / 64];
static _Atomic unsigned int xl_fd_ninternal;	/* bits set in it */

void xl_fd_lock(void)
{
	pthread_mutex_lock(&xl_fd_mutex);
}

void xl_fd_unlock(void)
{
	pthread_mutex_unlock(&xl_fd_mutex);
}

void xl_fd_reinit(void)
{
	pthread_mutex_init(&xl_fd_mutex, NULL);
}

/* The page holding fd, allocated if needed; caller holds the mutex. */
static xl_fd_slot *xl_fd_page(int fd)
{
	unsigned int i = (unsigned int)fd >> XL_FD_PAGE_BITS;
	xl_fd_slot *page = atomic_load_explicit(&xl_fd_pages[i],
						memory_order_relaxed);

	if (page)
		return page;
	page = calloc(XL_FD_PAGE_SIZE, sizeof(*page));
	if (!page)
		return NULL;
	/* zeroed slots /before/ lock-free readers can find the page */
	atomic_store_explicit(&xl_fd_pages[i], page, memory_order_release);
	return page;
}

int xl_fd_set(int fd, struct xl_sock *s, struct xl_sock **old)
{
	xl_fd_slot *page;

	*old = NULL;
	if (fd < 0 || (unsigned int)fd >= XL_FD_MAX)
		return -EMFILE;
	xl_fd_lock();
	page = xl_fd_page(fd);
	if (!page) {
		xl_fd_unlock();
		return -ENOMEM;
	}
	/* the socket's state /before/ it can be found */
	*old = atomic_exchange_explicit(&page[fd & (XL_FD_PAGE_SIZE - 1)], s,
					memory_order_acq_rel);
	xl_fd_unlock();
	return 0;
}

struct xl_sock *xl_fd_clear(int fd, struct xl_sock *s)
{
	struct xl_sock *cur;
	xl_fd_slot *page;

	if (fd < 0 || (unsigned int)fd >= XL_FD_MAX)
		return NULL;
	page = atomic_load_explicit(&xl_fd_pages[fd >> XL_FD_PAGE_BITS],
				    memory_order_acquire);
	if (!page)
		return NULL;
	xl_fd_lock();
	cur = atomic_load_explicit(&page[fd & (XL_FD_PAGE_SIZE - 1)],
				   memory_order_relaxed);
	if (cur && (!s || cur == s))
		atomic_store_explicit(&page[fd & (XL_FD_PAGE_SIZE - 1)], NULL,
				      memory_order_release);
	else
		cur = NULL;
	xl_fd_unlock();
	return cur;
}

void xl_fd_internal_add(int fd)
{
	uint64_t bit = 1ull << (fd % 64);

	if ((unsigned int)fd < XL_FD_MAX &&
	    !(atomic_fetch_or(&xl_fd_internal[fd / 64], bit) & bit))
		atomic_fetch_add(&xl_fd_ninternal, 1);
}

void xl_fd_internal_del(int fd)
{
	uint64_t bit = 1ull << (fd % 64);

	if ((unsigned int)fd < XL_FD_MAX &&
	    (atomic_fetch_and(&xl_fd_internal[fd / 64], ~bit) & bit))
		atomic_fetch_sub(&xl_fd_ninternal, 1);
}

unsigned int xl_fd_internal_count(void)
{
	return atomic_load_explicit(&xl_fd_ninternal, memory_order_relaxed);
}

unsigned int xl_fd_internal_count_from(int fd, int end)
{
	unsigned int n = 0;
	uint64_t w;

	if (fd < 0)
		fd = 0;
	if (end > (int)XL_FD_MAX)
		end = (int)XL_FD_MAX;
	for (; fd < end; fd = (fd | 63) + 1) {
		w = atomic_load_explicit(&xl_fd_internal[fd / 64],
					 memory_order_relaxed) >> (fd % 64);
		if (end - fd < 64 - fd % 64)
			w &= (1ull << (end - fd)) - 1;
		n += (unsigned int)__builtin_popcountll(w);
	}
	return n;
}

bool xl_fd_is_internal(int fd)
{
	if ((unsigned int)fd >= XL_FD_MAX)
		return false;
	return atomic_load_explicit(&xl_fd_internal[fd / 64],
				    memory_order_relaxed) & (1ull << (fd % 64));
}

int xl_fd_next_of_interest(int fd, int last)
{
	if (last >= (int)XL_FD_MAX)
		last = (int)XL_FD_MAX - 1;
	for (; fd <= last; fd++) {
		/* 64 fds at once where none is ours or tracked */
		if (!(fd % 64) &&
		    !atomic_load_explicit(&xl_fd_internal[fd / 64],
					  memory_order_relaxed) &&
		    !atomic_load_explicit(&xl_fd_pages[fd >> XL_FD_PAGE_BITS],
					  memory_order_relaxed)) {
			fd += 63;
			continue;
		}
		if (xl_fd_is_internal(fd) || xl_fd_peek(fd))
			return fd;
	}
	return -1;
}
