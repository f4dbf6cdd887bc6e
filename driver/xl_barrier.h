/* SPDX-License-Identifier: MIT */
/*
 * The only way xenloop touches memory it shares with a peer.
 *
 * Shared indices are plain uint32_t in the wire layout (wire.h), accessed
 * here through the GCC/clang __atomic builtins, which are the C11 memory
 * model on non-_Atomic objects. On x86 and arm64 they compile to ordinary
 * loads and stores plus the fences named below, which is what Xen's own
 * xen_mb()/xen_rmb()/xen_wmb() do for grant-mapped memory.
 *
 * Every caller states which access it orders, in the form
 * "payload /before/ prod".
 */
#ifndef XL_BARRIER_H
#define XL_BARRIER_H

#include <stdatomic.h>
#include <stdint.h>

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "shared indices must be lock-free");

/* One untorn access with no ordering: for flags and hints. */
#define XL_READ_ONCE(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define XL_WRITE_ONCE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* Later accesses are not hoisted above this load. */
#define xl_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
/* Earlier accesses are not sunk below this store. */
#define xl_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
/* Atomically take the old value and leave 0: used to claim a wake-up. */
#define xl_xchg_clear(p)	__atomic_exchange_n((p), 0, __ATOMIC_ACQ_REL)

/* Full fence: orders an earlier store before a later load (store-load),
 * which acquire/release cannot. */
static inline void xl_smp_mb(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Polite busy-wait hint for spinning loops. */
static inline void xl_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

#endif /* XL_BARRIER_H */
