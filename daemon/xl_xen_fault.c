/* SPDX-License-Identifier: MIT */
/*
 * xenloopd's link rings against a restore: see xl_xen_fault.h.
 *
 * The main thread fills the slots and the handler, which may run in any
 * thread, reads them: a slot is published by its start address, stored
 * last (release) and read first (acquire), and cleared first when it goes.
 * Everything the handler calls (ioctl, mmap) is a plain system call.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "xl_xen_dev.h"
#include "xl_xen_fault.h"

#define XL_XEN_FAULT_SLOTS	64	/* links: one per peer guest */

struct xl_xen_fault_slot {
	_Atomic uintptr_t start;	/* 0: free */
	size_t len;
	int mem;
	uint32_t side;
	uint64_t offset;
};

static struct xl_xen_fault_slot xl_slots[XL_XEN_FAULT_SLOTS];
static atomic_bool xl_fault_seen;

static void xl_xen_fault_handler(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr, start;
	struct xl_xen_fault_slot *s;
	unsigned int i;
	void *p;

	(void)uc;
	for (i = 0; i < XL_XEN_FAULT_SLOTS; i++) {
		s = &xl_slots[i];
		start = atomic_load_explicit(&s->start, memory_order_acquire);
		if (!start || a < start || a - start >= s->len)
			continue;
		/* the notify would write into the page that is gone */
		(void)xl_xen_dev_unnotify(s->mem, s->side, s->offset);
		p = mmap((void *)start, s->len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p == MAP_FAILED)
			break;
		atomic_store(&xl_fault_seen, true);
		return;		/* the access runs again, on zeroes */
	}
	/* not ours, or beyond repair: what the fault would have done */
	signal(sig, SIG_DFL);
}

int xl_xen_fault_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = xl_xen_fault_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, NULL) < 0 ||
	    sigaction(SIGBUS, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int xl_xen_fault_guard(void *start, size_t len, int mem, uint32_t side,
		       uint64_t offset)
{
	struct xl_xen_fault_slot *s;
	int i;

	for (i = 0; i < XL_XEN_FAULT_SLOTS; i++) {
		s = &xl_slots[i];
		if (atomic_load(&s->start))
			continue;
		s->len = len;
		s->mem = mem;
		s->side = side;
		s->offset = offset;
		atomic_store_explicit(&s->start, (uintptr_t)start,
				      memory_order_release);
		return i;
	}
	return -ENOSPC;
}

void xl_xen_fault_forget(int slot)
{
	if (slot >= 0 && slot < XL_XEN_FAULT_SLOTS)
		atomic_store(&xl_slots[slot].start, 0);
}

bool xl_xen_fault_seen(void)
{
	return atomic_exchange(&xl_fault_seen, false);
}
