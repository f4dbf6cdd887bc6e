/* SPDX-License-Identifier: MIT */
/*
 * A system call made by the library itself, without libc's syscall():
 * the library interposes syscall() (xl_seccomp.c), so its own calls of it
 * would come back into the hook, and a sanitizer's runtime makes some of
 * them (getrlimit) before it has started, when no instrumented code and
 * no dynamic lookup may run yet. Returns what syscall() returns, errno
 * set as it sets it.
 */
#ifndef XL_RAWSYS_H
#define XL_RAWSYS_H

#include <errno.h>

/* Code that may run before a sanitizer's runtime has started. */
#define XL_NO_SAN \
	__attribute__((no_sanitize("address", "undefined", "thread")))

#if defined(__x86_64__) || defined(__aarch64__)
#define XL_HAVE_RAWSYS 1

XL_NO_SAN static inline long xl_rawsys(long n, long a, long b, long c,
				       long d, long e, long f)
{
	long ret;
#if defined(__x86_64__)
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "0"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
			   "r"(r9)
			 : "rcx", "r11", "memory");
#else
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;

	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	ret = x0;
#endif
	if (ret < 0 && ret > -4096) {
		errno = (int)-ret;
		return -1;
	}
	return ret;
}
#endif

#endif /* XL_RAWSYS_H */
