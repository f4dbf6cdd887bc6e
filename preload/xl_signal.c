/* SPDX-License-Identifier: MIT */
/*
 * Which signals interrupt a call for good: SA_RESTART as the kernel
 * applies it to the waits the library makes in place of the kernel's.
 *
 * How this works
 *
 * A blocking recv() or send() on a ring sleeps in poll(), which the
 * kernel never restarts; a kernel recv() is restarted after a handler
 * installed with SA_RESTART, and fails with EINTR after one without.
 * poll()'s EINTR does not say which handler ran, so the library watches
 * the handlers the program installs: one without SA_RESTART is installed
 * behind a trampoline that counts its runs in the thread it interrupts,
 * then calls the program's handler as it asked (flags, mask, siginfo).
 * A handler with SA_RESTART, SIG_DFL and SIG_IGN go to the kernel as they
 * are. sigaction() and the signal() family report what the program
 * installed, never the trampoline.
 *
 * A wait that returns EINTR with no count in its thread was interrupted by
 * SA_RESTART handlers only, and goes on, unless a handler the library did
 * not see (installed by a raw system call) lacks SA_RESTART: then EINTR,
 * as before.
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

#include "xl_preload.h"

typedef void (*xl_sigfn)(int);
typedef void (*xl_sigactfn)(int, siginfo_t *, void *);

/* The program's handler behind a trampoline: written before the kernel
 * learns of the trampoline, read in the handler. */
static struct {
	_Atomic(void *) fn;
	_Atomic int flags;
} xl_sig_prog[NSIG];

static XL_TLS unsigned int xl_sig_norestart;

/* Older names glibc still exports; <signal.h> declares them only for some
 * feature macros. */
xl_sigfn bsd_signal(int sig, xl_sigfn fn);
xl_sigfn sysv_signal(int sig, xl_sigfn fn);
xl_sigfn __sysv_signal(int sig, xl_sigfn fn);
int siginterrupt(int sig, int flag);

static void xl_sig_tramp(int sig, siginfo_t *si, void *ctx)
{
	void *fn = atomic_load(&xl_sig_prog[sig].fn);
	int flags = atomic_load(&xl_sig_prog[sig].flags);

	xl_sig_norestart++;
	if (flags & SA_SIGINFO)
		((xl_sigactfn)fn)(sig, si, ctx);
	else if (fn)
		((xl_sigfn)fn)(sig);
}

static bool xl_sig_is_tramp(const struct sigaction *k)
{
	return (k->sa_flags & SA_SIGINFO) && k->sa_sigaction == xl_sig_tramp;
}

/* What the program sees of the kernel's action k. */
static void xl_sig_unwrap(int sig, const struct sigaction *k,
			  struct sigaction *out)
{
	*out = *k;
	if (!xl_sig_is_tramp(k))
		return;
	out->sa_flags = atomic_load(&xl_sig_prog[sig].flags);
	if (out->sa_flags & SA_SIGINFO)
		out->sa_sigaction = (xl_sigactfn)atomic_load(
				&xl_sig_prog[sig].fn);
	else
		out->sa_handler = (xl_sigfn)atomic_load(&xl_sig_prog[sig].fn);
}

/* A fault is the faulting instruction's, never a wait's. */
static bool xl_sig_is_fault(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE ||
	       sig == SIGILL || sig == SIGTRAP;
}

static bool xl_sig_wants_tramp(int sig, const struct sigaction *act)
{
	if (sig <= 0 || sig >= NSIG || (act->sa_flags & SA_RESTART) ||
	    xl_sig_is_fault(sig))
		return false;
	if (!(act->sa_flags & SA_SIGINFO) &&
	    (act->sa_handler == SIG_DFL || act->sa_handler == SIG_IGN))
		return false;
	return !xl_bypass();
}

/*
 * The real sigaction() without the library's initialisation: a sanitizer's
 * runtime installs its handlers before the program's environment is set
 * up, and a configuration read then would miss every XENLOOP_* variable
 * for good (xl_init() runs once).
 */
static int xl_sig_real(int sig, const struct sigaction *act,
		       struct sigaction *old)
{
	int (*fn)(int, const struct sigaction *, struct sigaction *);

	fn = __atomic_load_n(&real.sigaction, __ATOMIC_ACQUIRE);
	if (!fn) {
		fn = (int (*)(int, const struct sigaction *,
			      struct sigaction *))dlsym(RTLD_NEXT, "sigaction");
		if (!fn) {
			errno = ENOSYS;
			return -1;
		}
	}
	return fn(sig, act, old);
}

static int xl_sigaction(int sig, const struct sigaction *act,
			struct sigaction *old)
{
	struct sigaction k, prev;
	int ret;

	if (!act || !xl_sig_wants_tramp(sig, act)) {
		ret = xl_sig_real(sig, act, old ? &prev : NULL);
		if (ret == 0 && old)
			xl_sig_unwrap(sig, &prev, old);
		return ret;
	}
	k = *act;
	k.sa_flags |= SA_SIGINFO;
	k.sa_sigaction = xl_sig_tramp;
	/* another thread may change it at the same time: the kernel keeps
	 * one of the two, and so may we (a race the program made) */
	atomic_store(&xl_sig_prog[sig].fn, act->sa_flags & SA_SIGINFO ?
		     (void *)act->sa_sigaction : (void *)act->sa_handler);
	atomic_store(&xl_sig_prog[sig].flags, act->sa_flags);
	ret = xl_sig_real(sig, &k, old ? &prev : NULL);
	if (ret == 0 && old)
		xl_sig_unwrap(sig, &prev, old);
	return ret;
}

/* signal() with glibc's BSD semantics, which sysv_signal() and sigset()
 * change (flags). */
static xl_sigfn xl_signal(int sig, xl_sigfn fn, int flags)
{
	struct sigaction act, old;

	memset(&act, 0, sizeof(act));
	act.sa_handler = fn;
	act.sa_flags = flags;
	sigemptyset(&act.sa_mask);
	if (!(flags & SA_NODEFER) && sig > 0 && sig < NSIG)
		sigaddset(&act.sa_mask, sig);
	if (xl_sigaction(sig, &act, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

bool xl_restart_after_signal(void)
{
	struct sigaction sa;
	int sig;

	if (xl_sig_norestart)
		return false;
	/* a handler installed past us (a raw system call) that lacks
	 * SA_RESTART may be the one that ran: say EINTR, as it may */
	for (sig = 1; sig < NSIG; sig++) {
		/* (a sanitizer's handlers for faults lack SA_RESTART) */
		if (xl_sig_is_fault(sig))
			continue;
		if (xl_sig_real(sig, NULL, &sa) < 0 || xl_sig_is_tramp(&sa))
			continue;
		if (!(sa.sa_flags & SA_SIGINFO) &&
		    (sa.sa_handler == SIG_DFL || sa.sa_handler == SIG_IGN))
			continue;
		if (!(sa.sa_flags & SA_RESTART))
			return false;
	}
	return true;
}

void xl_signal_wait_begin(void)
{
	xl_sig_norestart = 0;
}

XL_EXPORT int sigaction(int sig, const struct sigaction *act,
			struct sigaction *old)
{
	int saved = errno, ret;

	ret = xl_sigaction(sig, act, old);
	if (ret == 0)
		errno = saved;
	return ret;
}

XL_EXPORT xl_sigfn signal(int sig, xl_sigfn fn)
{
	return xl_signal(sig, fn, SA_RESTART);
}

XL_EXPORT xl_sigfn bsd_signal(int sig, xl_sigfn fn)
{
	return xl_signal(sig, fn, SA_RESTART);
}

XL_EXPORT xl_sigfn sysv_signal(int sig, xl_sigfn fn)
{
	return xl_signal(sig, fn, SA_RESETHAND | SA_NODEFER);
}

XL_EXPORT xl_sigfn __sysv_signal(int sig, xl_sigfn fn)
{
	return sysv_signal(sig, fn);
}

XL_EXPORT int siginterrupt(int sig, int flag)
{
	struct sigaction act;

	if (xl_sigaction(sig, NULL, &act) < 0)
		return -1;
	if (flag)
		act.sa_flags &= ~SA_RESTART;
	else
		act.sa_flags |= SA_RESTART;
	return xl_sigaction(sig, &act, NULL);
}
