/* SPDX-License-Identifier: MIT */
/*
 * The exec family: a socket whose every descriptor is close-on-exec is no
 * longer held by this process once the exec succeeds, although no close()
 * of ours ever runs for it.
 *
 * A stream state counts the processes that hold its socket (struct
 * xl_conn.procs, bumped at fork()). A child that execs a program with the
 * socket marked close-on-exec (socat's EXEC:, a shell's command) lets go
 * of it in the kernel but would stay counted: the parent would never be
 * the last holder, so it could neither claim a channel for a socket shared
 * before its channel came (protocol.md §4.1) nor end a ring at its last
 * close. So, before the real call, each such socket is counted out; if the
 * exec fails, back in. A socket that survives the exec (no close-on-exec)
 * stays counted: the new program holds it, and knows nothing of a ring,
 * so such a connection goes back to TCP for good first
 * (xl_stream_exec_leave()); if the exec fails it stays there.
 *
 * glibc's own exec functions call execve() inside libc, where no hook
 * sees them, so every one of them is interposed.
 */
#include "config.h"

#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

#include "xl_fdtable.h"
#include "xl_preload.h"
#include "xl_sock.h"

int execvpe(const char *file, char *const argv[], char *const envp[]);
int execveat(int dirfd, const char *path, char *const argv[],
	     char *const envp[], int flags);

/* Mark every tracked socket that keeps a descriptor across the exec. */
static void xl_exec_mark_kept(void)
{
	struct xl_sock *s;
	int fd = 0, flags;

	while ((fd = xl_fd_next_of_interest(fd, XL_FD_MAX - 1)) >= 0) {
		s = xl_fd_peek(fd);
		if (s && !xl_fd_is_internal(fd)) {
			flags = real.fcntl(fd, F_GETFD);
			if (flags >= 0 && !(flags & FD_CLOEXEC) &&
			    !s->exec_kept) {
				s->exec_kept = true;
				xl_stream_exec_leave(s, fd);
			}
		}
		fd++;
	}
}

/* Count out (out true) or back in the sockets the exec closes. */
static void xl_exec_count(bool out)
{
	struct xl_sock *s;
	int fd = 0;

	while ((fd = xl_fd_next_of_interest(fd, XL_FD_MAX - 1)) >= 0) {
		s = xl_fd_peek(fd++);
		if (!s || !s->conn ||
		    atomic_load(&s->state) == XL_SOCK_PLAIN)
			continue;
		if (out && !s->exec_kept && !s->exec_dropped) {
			s->exec_dropped = true;
			atomic_fetch_sub(&s->conn->procs, 1);
		} else if (!out && s->exec_dropped) {
			s->exec_dropped = false;
			atomic_fetch_add(&s->conn->procs, 1);
		}
		if (!out)
			s->exec_kept = false;
	}
}

static void xl_exec_before(void)
{
	xl_init();
	if (xl_bypass())
		return;
	xl_exec_mark_kept();
	xl_exec_count(true);
}

/* The exec failed: we still hold everything. Returns ret. */
static int xl_exec_failed(int ret)
{
	int saved = errno;

	if (!xl_bypass())
		xl_exec_count(false);
	errno = saved;
	return ret;
}

XL_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	xl_exec_before();
	return xl_exec_failed(real.execve(path, argv, envp));
}

XL_EXPORT int execv(const char *path, char *const argv[])
{
	xl_exec_before();
	return xl_exec_failed(real.execv(path, argv));
}

XL_EXPORT int execvp(const char *file, char *const argv[])
{
	xl_exec_before();
	return xl_exec_failed(real.execvp(file, argv));
}

XL_EXPORT int execvpe(const char *file, char *const argv[],
		      char *const envp[])
{
	xl_exec_before();
	return xl_exec_failed(real.execvpe(file, argv, envp));
}

XL_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	xl_exec_before();
	return xl_exec_failed(real.fexecve(fd, argv, envp));
}

XL_EXPORT int execveat(int dirfd, const char *path, char *const argv[],
		       char *const envp[], int flags)
{
	if (!real.execveat) {
		errno = ENOSYS;
		return -1;
	}
	xl_exec_before();
	return xl_exec_failed(real.execveat(dirfd, path, argv, envp, flags));
}

/* The list forms: their arguments into an array, then the vector form. */

/* How many arguments, the first one and the NULL left out. */
static size_t xl_exec_nargs(va_list ap)
{
	va_list c;
	size_t n = 0;

	va_copy(c, ap);
	while (va_arg(c, char *))
		n++;
	va_end(c);
	return n;
}

/* argv[0] = first, the n arguments of ap, NULL; ap is left past it. */
static void xl_exec_fill(char **argv, const char *first, va_list ap,
			 size_t n)
{
	size_t i;

	argv[0] = (char *)first;
	for (i = 1; i <= n + 1; i++)
		argv[i] = va_arg(ap, char *);
}

/* The list forms' common part: what executes the array (execv, execvp,
 * or execve with the environment that follows the list). */
enum xl_exec_list { XL_EXEC_V, XL_EXEC_VP, XL_EXEC_VE };

static int xl_exec_l(enum xl_exec_list how, const char *file,
		     const char *arg, va_list ap)
{
	size_t n = xl_exec_nargs(ap);
	char **argv = __builtin_alloca((n + 2) * sizeof(*argv));

	xl_exec_fill(argv, arg, ap, n);
	if (how == XL_EXEC_VE)
		return execve(file, argv, va_arg(ap, char *const *));
	return how == XL_EXEC_VP ? execvp(file, argv) : execv(file, argv);
}

XL_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	int ret;

	va_start(ap, arg);
	ret = xl_exec_l(XL_EXEC_V, path, arg, ap);
	va_end(ap);
	return ret;
}

XL_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	int ret;

	va_start(ap, arg);
	ret = xl_exec_l(XL_EXEC_VP, file, arg, ap);
	va_end(ap);
	return ret;
}

XL_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	int ret;

	va_start(ap, arg);
	ret = xl_exec_l(XL_EXEC_VE, path, arg, ap);
	va_end(ap);
	return ret;
}
