/* SPDX-License-Identifier: MIT */
/*
 * What every file of the preload library shares: the table of the real
 * libc entry points, the per-thread re-entry guard, the configuration and
 * the marker for exported hooks.
 *
 * Internal functions return 0, a count or -errno and never write errno;
 * only the exported hooks convert (xl_ret(), xl_ret_ok()).
 */
#ifndef XL_PRELOAD_H
#define XL_PRELOAD_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "xl_env.h"
#include "xl_log.h"

#define XL_EXPORT __attribute__((visibility("default")))

/* Static TLS: the library is only ever loaded with the program. */
#define XL_TLS __thread __attribute__((tls_model("initial-exec")))

/* The library's own fds live at or above this number, out of the range
 * programs use for theirs. */
#define XL_FD_HIGH	512

struct xl_socket_calls {
	int (*socket)(int, int, int);
	int (*connect)(int, const struct sockaddr *, socklen_t);
	int (*accept)(int, struct sockaddr *, socklen_t *);
	int (*accept4)(int, struct sockaddr *, socklen_t *, int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *,
			    socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int,
			struct timespec *);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int,
			  const struct sockaddr *, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
	ssize_t (*read_chk)(int, void *, size_t, size_t);
	ssize_t (*recv_chk)(int, void *, size_t, size_t, int);
	ssize_t (*recvfrom_chk)(int, void *, size_t, size_t, int,
				struct sockaddr *, socklen_t *);
	int (*close)(int);
	int (*shutdown)(int, int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*close_range)(unsigned int, unsigned int, int);
	int (*fcntl)(int, int, ...);
	int (*fcntl64)(int, int, ...);
	int (*ioctl)(int, unsigned long, ...);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*poll)(struct pollfd *, nfds_t, int);
	int (*ppoll)(struct pollfd *, nfds_t, const struct timespec *,
		     const sigset_t *);
	int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
	int (*pselect)(int, fd_set *, fd_set *, fd_set *,
		       const struct timespec *, const sigset_t *);
	int (*epoll_create)(int);
	int (*epoll_create1)(int);
	int (*epoll_ctl)(int, int, int, struct epoll_event *);
	int (*epoll_wait)(int, struct epoll_event *, int, int);
	int (*epoll_pwait)(int, struct epoll_event *, int, int,
			   const sigset_t *);
	int (*epoll_pwait2)(int, struct epoll_event *, int,
			    const struct timespec *, const sigset_t *);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	ssize_t (*sendfile64)(int, int, off64_t *, size_t);
	ssize_t (*splice)(int, off64_t *, int, off64_t *, size_t,
			  unsigned int);
	int (*sigaction)(int, const struct sigaction *, struct sigaction *);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execv)(const char *, char *const[]);
	int (*execvp)(const char *, char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*execveat)(int, const char *, char *const[], char *const[], int);
	int (*prlimit)(pid_t, __rlimit_resource_t, const struct rlimit *,
		       struct rlimit *);
};

extern struct xl_socket_calls real;
extern struct xl_config xl_cfg;

/* Resolve the real calls and read the configuration, once. Every hook
 * calls it first (the constructor may not have run yet). */
void xl_init(void);

/* The guard: > 0 while the library runs its own code that may call hooked
 * functions (the channel's poll/read/write/close, the daemon link, the
 * log); hooks then pass straight to libc. */
extern XL_TLS int xl_in_lib;

static inline bool xl_bypass(void)
{
	return xl_in_lib > 0 || xl_cfg.disabled;
}

static inline void xl_lib_enter(void)
{
	xl_in_lib++;
}

static inline void xl_lib_leave(void)
{
	xl_in_lib--;
}

/* Hook epilogues: a negative ret becomes errno; on success errno is
 * restored to what it was when the hook was entered. */
static inline long xl_ret(long ret, int saved_errno)
{
	if (ret < 0) {
		errno = (int)-ret;
		return -1;
	}
	errno = saved_errno;
	return ret;
}

/* Monotonic nanoseconds (vDSO, no system call). */
uint64_t xl_now_ns(void);

/* A call that may sleep in place of the kernel starts (xl_signal.c). */
void xl_signal_wait_begin(void);

/* Should such a call, interrupted by a signal since it began, go on as the
 * kernel's would after SA_RESTART handlers? */
bool xl_restart_after_signal(void);

/* Does the process hold an io_uring instance (xl_uring.c)? */
bool xl_uring_present(void);

/* Raise SIGPIPE in the calling thread, as the kernel does for EPIPE. */
void xl_raise_sigpipe(void);

/*
 * The library's own descriptors and the program's RLIMIT_NOFILE
 * (xl_rlimit.c). xl_fd_keep(): a close-on-exec copy of fd, marked the
 * library's, above the program's soft limit where the hard one leaves
 * room, else high below it; or -errno. xl_fd_batch_begin(): may the
 * library take n more descriptors without eating into what the program
 * could still open (probe: any open fd)? If so (true), the calling
 * thread's xl_fd_keep() calls until xl_fd_batch_end() place them at the
 * cost of one raise of the limit; other threads' wait.
 * xl_fd_evacuate(): the library's descriptor fd moves to where
 * xl_fd_keep() puts one (xl_close.c); true if the old number is left open
 * for the caller to close.
 */
int xl_fd_keep(int fd);
bool xl_fd_batch_begin(unsigned int n, int probe);
void xl_fd_batch_end(void);
bool xl_fd_evacuate(int fd);

/* fork handlers of the other modules */
void xl_link_atfork_prepare(void);
void xl_link_atfork_parent(void);
void xl_link_atfork_child(void);
void xl_sock_atfork_prepare(void);
void xl_sock_atfork_parent(void);
void xl_sock_atfork_child(void);
void xl_epoll_atfork_child(void);
void xl_rlimit_atfork_prepare(void);
void xl_rlimit_atfork_parent(void);
void xl_rlimit_atfork_child(void);

#endif /* XL_PRELOAD_H */
