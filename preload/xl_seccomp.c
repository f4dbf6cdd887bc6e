/* SPDX-License-Identifier: MIT */
/*
 * prctl(PR_SET_SECCOMP) and syscall(SYS_seccomp): a program that installs
 * a seccomp filter (or strict mode) allows from then on only the system
 * calls it makes itself. The library lets go of the process first
 * (xl_letgo.c), then the filter goes in as the program asked.
 *
 * syscall() is interposed for libseccomp and others that have no libc
 * wrapper to call: it reads the six arguments every system call may
 * take, as libc's own syscall() does, and passes them on untouched.
 */
#include "config.h"

#include <dlfcn.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "xl_letgo.h"
#include "xl_preload.h"

typedef long (*xl_syscall_fn)(long, ...);
typedef int (*xl_prctl_fn)(int, ...);

/* Resolved apart from the other calls: syscall() may come before the
 * library's own initialisation, from another library's constructor. */
static xl_syscall_fn xl_real_syscall(void)
{
	static _Atomic(xl_syscall_fn) fn;
	xl_syscall_fn f = atomic_load_explicit(&fn, memory_order_acquire);

	if (!f) {
		f = (xl_syscall_fn)dlsym(RTLD_NEXT, "syscall");
		atomic_store_explicit(&fn, f, memory_order_release);
	}
	return f;
}

static xl_prctl_fn xl_real_prctl(void)
{
	static _Atomic(xl_prctl_fn) fn;
	xl_prctl_fn f = atomic_load_explicit(&fn, memory_order_acquire);

	if (!f) {
		f = (xl_prctl_fn)dlsym(RTLD_NEXT, "prctl");
		atomic_store_explicit(&fn, f, memory_order_release);
	}
	return f;
}

XL_EXPORT int prctl(int option, ...)
{
	unsigned long a[4];
	xl_prctl_fn f = xl_real_prctl();
	va_list ap;
	int i;

	va_start(ap, option);
	for (i = 0; i < 4; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	if (option == PR_SET_SECCOMP && (a[0] == SECCOMP_MODE_STRICT ||
					 a[0] == SECCOMP_MODE_FILTER))
		xl_let_go("prctl(PR_SET_SECCOMP)");
	if (!f) {
		errno = ENOSYS;
		return -1;
	}
	return f(option, a[0], a[1], a[2], a[3]);
}

XL_EXPORT long syscall(long n, ...)
{
	long a[6];
	xl_syscall_fn f = xl_real_syscall();
	va_list ap;
	int i;

	va_start(ap, n);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
#ifdef SYS_seccomp
	if (n == SYS_seccomp && (a[0] == SECCOMP_SET_MODE_STRICT ||
				 a[0] == SECCOMP_SET_MODE_FILTER))
		xl_let_go("seccomp()");
#endif
	if (!f) {
		errno = ENOSYS;
		return -1;
	}
	return f(n, a[0], a[1], a[2], a[3], a[4], a[5]);
}
