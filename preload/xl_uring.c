/* SPDX-License-Identifier: MIT */
/*
 * Does this process use io_uring? A read or write it queues there on a
 * tracked socket goes to the kernel socket without any hook of ours, so
 * it would miss what the ring carries and send past it: a process with an
 * io_uring instance keeps its connections on TCP. io_uring_setup() is a
 * system call with no libc wrapper to interpose, so the instances are
 * looked for among the process's descriptors, when a channel comes.
 *
 * The answer is kept for a short while (a scan reads every descriptor's
 * link), and once an instance was seen, for good. The while grows with
 * what a scan costs: with thousands of descriptors a scan takes tens of
 * milliseconds, and a process whose thousands of channels come in a burst
 * spent most of its time scanning. What this cannot see:
 * an instance made after the connection moved onto its ring (xenloop(7),
 * BUGS).
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xl_preload.h"

/* How long a scan that found nothing holds: at least this, and at least
 * XL_URING_RESCAN_COST times what the scan took (2% of the time at most). */
#define XL_URING_RESCAN_NS	100000000ull
#define XL_URING_RESCAN_COST	50

static _Atomic bool xl_uring_seen;
static _Atomic uint64_t xl_uring_next_ns;

static bool xl_uring_scan(void)
{
	static const char want[] = "anon_inode:[io_uring]";
	char link[sizeof(want) + 1];
	struct dirent *de;
	bool found = false;
	ssize_t n;
	DIR *dir;
	int dfd;

	dir = opendir("/proc/self/fd");
	if (!dir)
		return false;
	dfd = dirfd(dir);
	while (!found && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		n = readlinkat(dfd, de->d_name, link, sizeof(link));
		found = n == (ssize_t)sizeof(want) - 1 &&
			!memcmp(link, want, sizeof(want) - 1);
	}
	closedir(dir);
	return found;
}

bool xl_uring_present(void)
{
	uint64_t now, hold;

	if (atomic_load_explicit(&xl_uring_seen, memory_order_relaxed))
		return true;
	now = xl_now_ns();
	if (now < atomic_load_explicit(&xl_uring_next_ns,
				       memory_order_relaxed))
		return false;
	xl_lib_enter();
	if (xl_uring_scan()) {
		atomic_store(&xl_uring_seen, true);
		XL_INFO("this process uses io_uring: its connections stay "
			"on TCP");
	}
	xl_lib_leave();
	hold = (xl_now_ns() - now) * XL_URING_RESCAN_COST;
	if (hold < XL_URING_RESCAN_NS)
		hold = XL_URING_RESCAN_NS;
	atomic_store(&xl_uring_next_ns, now + hold);
	return atomic_load(&xl_uring_seen);
}
