/* SPDX-License-Identifier: MIT */
/*
 * prctl(PR_SET_SECCOMP) and syscall(SYS_seccomp): a program that installs
 * a seccomp filter (or strict mode) allows from then on only the system
 * calls it makes itself. The library lets go of the process first
 * (xl_letgo.c), then the filter goes in as the program asked.
 *
 * syscall() is interposed for libseccomp and others that have no libc
 * wrapper to call: it reads the six arguments every system call may
 * take, as libc's own syscall() does, and makes the call itself
 * (xl_rawsys.h): other libraries call syscall() from their constructors,
 * before a sanitizer's runtime or this library has started, so the hook
 * is uninstrumented and looks nothing up.
 */
#include "config.h"

#include <dlfcn.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include "xl_letgo.h"
#include "xl_preload.h"
#include "xl_rawsys.h"

typedef int (*xl_prctl_fn)(int, ...);

#ifndef XL_HAVE_RAWSYS
typedef long (*xl_syscall_fn)(long, ...);

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
#endif

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

XL_NO_SAN XL_EXPORT int prctl(int option, ...)
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

XL_NO_SAN XL_EXPORT long syscall(long n, ...)
{
	long a[6];
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
#ifdef XL_HAVE_RAWSYS
	return xl_rawsys(n, a[0], a[1], a[2], a[3], a[4], a[5]);
#else
	xl_syscall_fn f = xl_real_syscall();

	if (!f) {
		errno = ENOSYS;
		return -1;
	}
	return f(n, a[0], a[1], a[2], a[3], a[4], a[5]);
#endif
}
