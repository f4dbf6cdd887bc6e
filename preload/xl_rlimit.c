/* SPDX-License-Identifier: MIT */
/*
 * getrlimit(), setrlimit(), prlimit(), and where the library keeps its own
 * descriptors with respect to the program's RLIMIT_NOFILE.
 *
 * How this works
 *
 * The kernel refuses a new fd (EMFILE) when every number below the soft
 * limit is taken. Each descriptor the library holds below that limit is
 * one fewer for the program than it gets without the library, which
 * invariant 7 forbids. Where the hard limit leaves room above the soft
 * one (the usual case: 1024 soft under a much higher hard limit), the
 * library keeps its descriptors there: it raises the soft limit for the
 * time of one F_DUPFD_CLOEXEC at the program's limit and puts it back.
 * The program's getrlimit(), setrlimit() and prlimit() wait while that is
 * done, so they never see nor undo the raised value, and a program that
 * raises its own limit over the library's descriptors has them moved
 * above the new one.
 *
 * Where there is no such room (soft == hard), a channel's descriptors can
 * only go below the limit. The library then takes a channel only while
 * the program keeps a reserve of free numbers, an eighth of its limit, on
 * top of all the library holds; past that the connection stays on TCP
 * (reason `resources` in xenloopctl). A program that later fills its limit
 * finds the library's descriptors in its way: that case is not exact.
 */
#include "config.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "xl_fdtable.h"
#include "xl_preload.h"
#include "xl_rawsys.h"

/*
 * A sanitizer's runtime asks for its limits while it starts, before its
 * shadow memory exists and before the library has resolved anything: the
 * path of the program's getrlimit() and friends must run uninstrumented
 * and with nothing but the system call (the program's own calls come
 * later, when the real table is there).
 */

/* No library descriptor is made while the program looks at the limit. */
static pthread_mutex_t xl_rlim_mutex = PTHREAD_MUTEX_INITIALIZER;

/* The real prlimit(), also before the real table is filled: a sanitizer's
 * runtime asks for its limits while the library is being loaded. */
XL_NO_SAN static int xl_real_prlimit(pid_t pid, int res,
				     const struct rlimit *new,
				     struct rlimit *old)
{
	if (real.prlimit)
		return real.prlimit(pid, (__rlimit_resource_t)res, new, old);
#ifdef XL_HAVE_RAWSYS
	return (int)xl_rawsys(SYS_prlimit64, pid, res, (long)new, (long)old,
			      0, 0);
#else
	errno = ENOSYS;
	return -1;
#endif
}

XL_NO_SAN static int xl_nofile(struct rlimit *rl)
{
	return xl_real_prlimit(0, RLIMIT_NOFILE, NULL, rl) < 0 ? -errno : 0;
}

/* The first number the library uses above the soft limit, or -1 if the
 * hard limit leaves no room there. */
static long xl_fd_above_from(const struct rlimit *rl)
{
	if (rl->rlim_cur >= rl->rlim_max || rl->rlim_cur >= XL_FD_MAX)
		return -1;
	if (rl->rlim_cur < XL_FD_HIGH && rl->rlim_max > XL_FD_HIGH)
		return XL_FD_HIGH;
	return (long)rl->rlim_cur;
}

/* A copy of fd at or above the soft limit. Caller holds the mutex. */
static int xl_fd_above(int fd, const struct rlimit *rl)
{
	struct rlimit up = { .rlim_cur = rl->rlim_max,
			     .rlim_max = rl->rlim_max };
	long from = xl_fd_above_from(rl);
	int nfd, err;

	if (from < 0)
		return -EMFILE;
	if (xl_real_prlimit(0, RLIMIT_NOFILE, &up, NULL) < 0)
		return -errno;
	nfd = real.fcntl(fd, F_DUPFD_CLOEXEC, from);
	err = errno;
	/* the program's own limit /before/ it can look again */
	xl_real_prlimit(0, RLIMIT_NOFILE, rl, NULL);
	return nfd < 0 ? -err : nfd;
}

/* A copy of fd below the limit, high if it can be. */
static int xl_fd_below(int fd)
{
	int nfd = real.fcntl(fd, F_DUPFD_CLOEXEC, XL_FD_HIGH);

	if (nfd < 0)
		nfd = real.fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return nfd < 0 ? -errno : nfd;
}

/*
 * A thread that places a channel's descriptors (xl_fd_batch_begin() to
 * xl_fd_batch_end()) holds the mutex and the raised limit for all of
 * them: three system calls a channel rather than four a descriptor.
 */
static XL_TLS struct {
	bool on;
	bool raised;
	long from;		/* where above the limit; -1: below it */
	struct rlimit rl;	/* the program's limit, put back at the end */
} xl_batch;

int xl_fd_keep(int fd)
{
	struct rlimit rl;
	int nfd = -EMFILE;

	if (xl_batch.on) {
		/* the mutex is ours already */
		if (xl_batch.raised)
			nfd = real.fcntl(fd, F_DUPFD_CLOEXEC, xl_batch.from);
		nfd = nfd < 0 ? xl_fd_below(fd) : nfd;
		if (nfd >= 0)
			xl_fd_internal_add(nfd);
		return nfd;
	}
	pthread_mutex_lock(&xl_rlim_mutex);
	if (xl_nofile(&rl) == 0)
		nfd = xl_fd_above(fd, &rl);
	if (nfd < 0)
		nfd = xl_fd_below(fd);
	if (nfd >= 0)
		xl_fd_internal_add(nfd);
	pthread_mutex_unlock(&xl_rlim_mutex);
	return nfd;
}

/* Numbers below the soft limit the program could still have, less what
 * the library holds; caller holds the mutex. */
static long xl_fd_free_below(int probe, rlim_t soft)
{
	int next = real.fcntl(probe, F_DUPFD_CLOEXEC, 0);

	if (next < 0)
		return 0;
	real.close(next);
	/* the numbers below next are taken (the program's and the
	 * library's), those above it the library's and any the program
	 * holds out of order (not counted) */
	return (long)soft - next -
	       (long)xl_fd_internal_count_from(next, (int)soft);
}

/* Room for n above the limit: raise it for the batch. */
static bool xl_fd_batch_above(unsigned int n)
{
	const struct rlimit *rl = &xl_batch.rl;
	struct rlimit up = { .rlim_cur = rl->rlim_max,
			     .rlim_max = rl->rlim_max };
	long from = xl_fd_above_from(rl);

	if (from < 0 || (rlim_t)from + xl_fd_internal_count() + n >
			rl->rlim_max ||
	    xl_real_prlimit(0, RLIMIT_NOFILE, &up, NULL) < 0)
		return false;
	xl_batch.raised = true;
	xl_batch.from = from;
	return true;
}

bool xl_fd_batch_begin(unsigned int n, int probe)
{
	long free, reserve;
	rlim_t soft;

	pthread_mutex_lock(&xl_rlim_mutex);
	xl_batch.raised = false;
	xl_batch.from = -1;
	if (xl_nofile(&xl_batch.rl) < 0)
		goto out_unlock;
	if (xl_fd_batch_above(n))
		goto out_on;
	soft = xl_batch.rl.rlim_cur;
	reserve = soft / 8 > 32 ? (long)(soft / 8) : 32;
	free = xl_fd_free_below(probe, soft);
	if (free < reserve + (long)n)
		goto out_unlock;
out_on:
	xl_batch.on = true;
	return true;
out_unlock:
	pthread_mutex_unlock(&xl_rlim_mutex);
	return false;
}

void xl_fd_batch_end(void)
{
	if (!xl_batch.on)
		return;
	/* the program's own limit /before/ it can look again */
	if (xl_batch.raised)
		xl_real_prlimit(0, RLIMIT_NOFILE, &xl_batch.rl, NULL);
	xl_batch.on = false;
	pthread_mutex_unlock(&xl_rlim_mutex);
}

void xl_rlimit_atfork_prepare(void)
{
	pthread_mutex_lock(&xl_rlim_mutex);
}

void xl_rlimit_atfork_parent(void)
{
	pthread_mutex_unlock(&xl_rlim_mutex);
}

void xl_rlimit_atfork_child(void)
{
	pthread_mutex_init(&xl_rlim_mutex, NULL);
}

/* The program raised its soft limit from old to now: the library's
 * descriptors in between are in its way, and move above. */
static void xl_rlimit_raised(rlim_t old, rlim_t now)
{
	int fd, last;

	if (now <= old || old >= XL_FD_MAX)
		return;
	last = now > XL_FD_MAX ? (int)XL_FD_MAX - 1 : (int)now - 1;
	for (fd = (int)old; (fd = xl_fd_next_of_interest(fd, last)) >= 0;
	     fd++)
		if (xl_fd_is_internal(fd) && xl_fd_evacuate(fd))
			real.close(fd);
}

XL_NO_SAN static int xl_prlimit(pid_t pid, int res,
				const struct rlimit *new, struct rlimit *old)
{
	struct rlimit before, after;
	bool nofile = res == RLIMIT_NOFILE && new &&
		      (pid == 0 || pid == getpid());
	int ret, err, saved = errno;

	pthread_mutex_lock(&xl_rlim_mutex);
	if (nofile && xl_nofile(&before) < 0)
		nofile = false;
	ret = xl_real_prlimit(pid, res, new, old);
	err = errno;
	if (ret == 0 && nofile && xl_nofile(&after) < 0)
		nofile = false;
	pthread_mutex_unlock(&xl_rlim_mutex);
	if (ret == 0 && nofile && !xl_bypass())
		xl_rlimit_raised(before.rlim_cur, after.rlim_cur);
	errno = ret < 0 ? err : saved;
	return ret;
}

XL_EXPORT XL_NO_SAN int prlimit(pid_t pid, __rlimit_resource_t res,
				const struct rlimit *new, struct rlimit *old)
{
	return xl_prlimit(pid, (int)res, new, old);
}

XL_EXPORT XL_NO_SAN int getrlimit(__rlimit_resource_t res,
				  struct rlimit *rl)
{
	return xl_prlimit(0, (int)res, NULL, rl);
}

XL_EXPORT XL_NO_SAN int setrlimit(__rlimit_resource_t res,
				  const struct rlimit *rl)
{
	return xl_prlimit(0, (int)res, rl, NULL);
}

/* struct rlimit64 is struct rlimit where rlim_t has 64 bits */
#if __SIZEOF_LONG__ == 8
XL_EXPORT XL_NO_SAN int prlimit64(pid_t pid, __rlimit_resource_t res,
				  const struct rlimit64 *new,
				  struct rlimit64 *old)
{
	return xl_prlimit(pid, (int)res, (const struct rlimit *)new,
			  (struct rlimit *)old);
}

XL_EXPORT XL_NO_SAN int getrlimit64(__rlimit_resource_t res,
				    struct rlimit64 *rl)
{
	return xl_prlimit(0, (int)res, NULL, (struct rlimit *)rl);
}

XL_EXPORT XL_NO_SAN int setrlimit64(__rlimit_resource_t res,
				    const struct rlimit64 *rl)
{
	return xl_prlimit(0, (int)res, (const struct rlimit *)rl, NULL);
}
#endif
