// SPDX-License-Identifier: GPL-2.0-only
/*
 * xenloop.ko's channels.
 *
 * How this works: a channel is this side's own pages, granted read-only
 * to one peer domain, the peer's pages, mapped read-only into the kernel
 * (gnttab_map_refs into pages from gnttab_alloc_pages), and one
 * interdomain event channel bound to an irq whose handler counts kicks
 * and wakes the channel's sleepers. The channel is an anonymous fd of its
 * own (a fresh inode each, so that unmap_mapping_range on its mapping
 * touches that channel's user mappings and nothing else): mmap serves its
 * pages through a fault handler that inserts them one by one under the
 * channel's lock, read()/poll() report kicks, ioctls kick, peek and
 * close (the offering side's accept is a call on /dev/xenloop naming the
 * channel fd, so that whoever holds a channel fd can map nothing new). Once void (closed, or the domain suspends: xlk_main.c), the
 * peer's pages are out of every user page table and unmapped, the event
 * channel is closed and our grants are ended; a fault on the peer's part
 * of a mapping then gets a private zero page (xlk_void_page), poll()
 * says POLLERR|POLLHUP and read() says end of file. Our own pages stay
 * ours and stay mapped.
 */
#include <linux/anon_inodes.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/freezer.h>
#include <linux/fs.h>
#include <linux/interrupt.h>
#include <linux/mm.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include <xen/events.h>
#include <xen/features.h>
#include <xen/grant_table.h>
#include <xen/page.h>
#include <xen/xen.h>
#include <xen/interface/event_channel.h>
#include <asm/xen/hypercall.h>

#include "xlk_chan.h"

#define XLK_GNTMAP_PEER	(GNTMAP_host_map | GNTMAP_readonly)

/* Can the peer's pages reach user space (auto-translated guests)? On PV
 * a foreign frame can be put in a user page table only by Xen itself
 * (gntdev's GNTMAP_contains_pte way): not done yet. */
bool xlk_peer_mmap(void)
{
	return xen_feature(XENFEAT_auto_translated_physmap);
}

static unsigned long xlk_page_addr(struct page *page)
{
	return (unsigned long)pfn_to_kaddr(page_to_xen_pfn(page));
}

/* -------- own pages -------- */

static int xlk_own_alloc(struct xlk_chan *ch, u32 n)
{
	u32 i;

	ch->own = kcalloc(n, sizeof(*ch->own), GFP_KERNEL);
	ch->own_refs = kcalloc(n, sizeof(*ch->own_refs), GFP_KERNEL);
	if (!ch->own || !ch->own_refs)
		return -ENOMEM;
	ch->own_pages = n;
	for (i = 0; i < n; i++) {
		ch->own[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!ch->own[i])
			return -ENOMEM;
	}
	return 0;
}

static int xlk_own_grant(struct xlk_chan *ch)
{
	u32 i;
	int ref;

	for (i = 0; i < ch->own_pages; i++) {
		ref = gnttab_grant_foreign_access(ch->peer,
						  xen_page_to_gfn(ch->own[i]),
						  1);
		if (ref < 0)
			goto out_end;
		ch->own_refs[i] = ref;
	}
	ch->own_granted = true;
	return 0;

out_end:
	while (i-- > 0)
		gnttab_end_foreign_access(ch->own_refs[i], NULL);
	return ref == -ENOSPC ? -ENOSPC : ref;
}

/* End the peer's access; a page it still maps is kept (the grant code
 * takes a reference of its own) until it lets go. */
static void xlk_own_revoke(struct xlk_chan *ch)
{
	u32 i;

	if (!ch->own_granted)
		return;
	for (i = 0; i < ch->own_pages; i++)
		gnttab_end_foreign_access(ch->own_refs[i], NULL);
	ch->own_granted = false;
}

static void xlk_own_free(struct xlk_chan *ch)
{
	u32 i;

	if (ch->own) {
		for (i = 0; i < ch->own_pages; i++)
			if (ch->own[i])
				put_page(ch->own[i]);
	}
	kfree(ch->own);
	kfree(ch->own_refs);
}

/* -------- the peer's pages -------- */

static void xlk_peer_arrays_free(struct xlk_chan *ch)
{
	kfree(ch->peer_pg);
	kfree(ch->peer_handles);
	ch->peer_pg = NULL;
	ch->peer_handles = NULL;
}

static void xlk_peer_unmap_some(struct xlk_chan *ch, u32 n, bool *ok)
{
	struct gnttab_unmap_grant_ref *ops;
	struct gntab_unmap_queue_data q = { 0 };
	u32 i, k = 0;
	struct page **pages;
	int err;

	ops = kcalloc(n, sizeof(*ops), GFP_KERNEL | __GFP_NOFAIL);
	pages = kcalloc(n, sizeof(*pages), GFP_KERNEL | __GFP_NOFAIL);
	for (i = 0; i < n; i++) {
		if (ok && !ok[i])
			continue;
		gnttab_set_unmap_op(&ops[k], xlk_page_addr(ch->peer_pg[i]),
				    XLK_GNTMAP_PEER, ch->peer_handles[i]);
		pages[k++] = ch->peer_pg[i];
	}
	q.unmap_ops = ops;
	q.pages = pages;
	q.count = k;
	err = k ? gnttab_unmap_refs_sync(&q) : 0;
	kfree(ops);
	kfree(pages);
	if (err) {
		/* never hand back pages that may still show a peer's frame */
		pr_warn("xenloop: unmapping %u pages of domain %u failed (%d); they are leaked\n",
			k, ch->peer, err);
		return;
	}
	gnttab_free_pages(n, ch->peer_pg);
}

static int xlk_peer_map(struct xlk_chan *ch, const u32 *refs, u32 n)
{
	struct gnttab_map_grant_ref *ops;
	bool *ok;
	u32 i;
	int err, bad = 0;

	ch->peer_pg = kcalloc(n, sizeof(*ch->peer_pg), GFP_KERNEL);
	ch->peer_handles = kcalloc(n, sizeof(*ch->peer_handles), GFP_KERNEL);
	ops = kcalloc(n, sizeof(*ops), GFP_KERNEL);
	ok = kcalloc(n, sizeof(*ok), GFP_KERNEL);
	err = -ENOMEM;
	if (!ch->peer_pg || !ch->peer_handles || !ops || !ok)
		goto out_free;
	err = gnttab_alloc_pages(n, ch->peer_pg);
	if (err)
		goto out_free;
	for (i = 0; i < n; i++)
		gnttab_set_map_op(&ops[i], xlk_page_addr(ch->peer_pg[i]),
				  XLK_GNTMAP_PEER, refs[i], ch->peer);
	err = gnttab_map_refs(ops, NULL, ch->peer_pg, n);
	for (i = 0; i < n; i++) {
		ok[i] = !err && ops[i].status == GNTST_okay;
		if (ok[i])
			ch->peer_handles[i] = ops[i].handle;
		else
			bad++;
	}
	if (err || bad) {
		/* a reference the peer did not grant us, or no room */
		pr_debug("xenloop: mapping %u refs of domain %u: %d, %d bad\n",
			 n, ch->peer, err, bad);
		xlk_peer_unmap_some(ch, n, ok);
		err = err ? err : -EINVAL;
		goto out_free;
	}
	ch->peer_pages = n;
	ch->peer_mapped = true;
	kfree(ops);
	kfree(ok);
	return 0;

out_free:
	kfree(ops);
	kfree(ok);
	xlk_peer_arrays_free(ch);
	return err;
}

static void xlk_peer_unmap(struct xlk_chan *ch)
{
	if (!ch->peer_mapped)
		return;
	xlk_peer_unmap_some(ch, ch->peer_pages, NULL);
	ch->peer_mapped = false;
}

/* -------- the event channel -------- */

static irqreturn_t xlk_chan_irq(int irq, void *data)
{
	struct xlk_chan *ch = data;

	atomic64_inc(&ch->kicks_in);
	atomic64_inc(&ch->pending);
	wake_up_interruptible_all(&ch->wq);
	xen_irq_lateeoi(irq, 0);
	return IRQ_HANDLED;
}

static int xlk_evtchn_bind(struct xlk_chan *ch, evtchn_port_t port)
{
	struct evtchn_close close = { .port = port };
	int irq;

	irq = bind_evtchn_to_irqhandler_lateeoi(port, xlk_chan_irq, 0,
						"xenloop", ch);
	if (irq < 0) {
		HYPERVISOR_event_channel_op(EVTCHNOP_close, &close);
		return irq;
	}
	ch->port = port;
	ch->irq = irq;
	return 0;
}

static int xlk_evtchn_offer(struct xlk_chan *ch)
{
	struct evtchn_alloc_unbound op = {
		.dom = DOMID_SELF,
		.remote_dom = ch->peer,
	};
	int err;

	err = HYPERVISOR_event_channel_op(EVTCHNOP_alloc_unbound, &op);
	return err ? err : xlk_evtchn_bind(ch, op.port);
}

static int xlk_evtchn_connect(struct xlk_chan *ch, u32 remote_port)
{
	struct evtchn_bind_interdomain op = {
		.remote_dom = ch->peer,
		.remote_port = remote_port,
	};
	int err;

	err = HYPERVISOR_event_channel_op(EVTCHNOP_bind_interdomain, &op);
	return err ? err : xlk_evtchn_bind(ch, op.local_port);
}

/* Closes the port too (it is still valid: never called after a resume
 * for a channel bound before it, since .freeze voided them all). */
static void xlk_evtchn_unbind(struct xlk_chan *ch)
{
	if (ch->irq < 0)
		return;
	unbind_from_irqhandler(ch->irq, ch);
	ch->irq = -1;
	ch->port = 0;
}

/* -------- life and death -------- */

/* Called with ch->lock held: from here on nothing is shared. */
static void xlk_chan_void(struct xlk_chan *ch, u32 reason)
{
	if (ch->state == XLDEV_STATE_VOID)
		return;
	/* our end, where the peer's library looks for it (an own page
	 * outlives the channel: writing it is always safe) */
	if (ch->own && ch->own_pages && ch->own[0])
		WRITE_ONCE(*((u8 *)page_address(ch->own[0]) +
			     XLDEV_DEAD_OFFSET), 0);
	/* the byte /before/ the kick */
	smp_wmb();
	/* the peer's sleepers wake and look */
	if (ch->irq >= 0)
		notify_remote_via_irq(ch->irq);
	WRITE_ONCE(ch->state, XLDEV_STATE_VOID);
	ch->void_reason = reason;
	/* every user PTE of a peer page, in every process, before unmap */
	if (ch->mapping && ch->peer_pages)
		unmap_mapping_range(ch->mapping,
				    (loff_t)ch->own_pages << PAGE_SHIFT,
				    (loff_t)ch->peer_pages << PAGE_SHIFT, 1);
	xlk_peer_unmap(ch);
	xlk_evtchn_unbind(ch);
	xlk_own_revoke(ch);
	wake_up_interruptible_all(&ch->wq);
}

void xlk_chan_suspend(struct xlk_chan *ch)
{
	mutex_lock(&ch->lock);
	xlk_chan_void(ch, XLDEV_VOID_SUSPEND);
	mutex_unlock(&ch->lock);
}

static void xlk_chan_free(struct xlk_chan *ch)
{
	xlk_own_free(ch);
	/* a channel whose unmap failed keeps its (leaked) pages */
	if (!ch->peer_mapped)
		xlk_peer_arrays_free(ch);
	mutex_lock(&xlk_lock);
	xlk_budget_give(&xlk_budget_left, ch->budget, xlk_budget_total);
	mutex_unlock(&xlk_lock);
	kfree(ch);
}

static void xlk_chan_destroy(struct xlk_chan *ch)
{
	mutex_lock(&xlk_lock);
	list_del(&ch->node);
	mutex_unlock(&xlk_lock);
	mutex_lock(&ch->lock);
	xlk_chan_void(ch, XLDEV_VOID_CLOSED);
	mutex_unlock(&ch->lock);
	xlk_chan_free(ch);
}

/*
 * A new channel with its own pages allocated and `pages` taken from the
 * budget, on xlk_chans, returned with its lock held (so that .freeze
 * waits until it is set up or gone).
 */
static struct xlk_chan *xlk_chan_new(u32 peer, u32 own_pages, u32 pages)
{
	struct xlk_chan *ch;
	int err;

	ch = kzalloc(sizeof(*ch), GFP_KERNEL);
	if (!ch)
		return ERR_PTR(-ENOMEM);
	mutex_init(&ch->lock);
	init_waitqueue_head(&ch->wq);
	INIT_LIST_HEAD(&ch->node);
	ch->peer = peer;
	ch->irq = -1;
	ch->state = XLDEV_STATE_OFFERED;
	mutex_lock(&xlk_lock);
	err = xlk_budget_take(&xlk_budget_left, pages);
	if (!err) {
		ch->budget = pages;
		list_add(&ch->node, &xlk_chans);
	}
	mutex_unlock(&xlk_lock);
	if (err) {
		kfree(ch);
		return ERR_PTR(err);
	}
	mutex_lock(&ch->lock);
	err = xlk_own_alloc(ch, own_pages);
	if (err) {
		mutex_unlock(&ch->lock);
		xlk_chan_destroy(ch);
		return ERR_PTR(err);
	}
	return ch;
}

/* -------- the channel fd -------- */

static vm_fault_t xlk_chan_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct xlk_chan *ch = vma->vm_private_data;
	struct page *page = NULL;
	u32 idx;
	int err;

	mutex_lock(&ch->lock);
	switch (xlk_fault_lookup(ch->own_pages, ch->peer_pages, ch->state,
				 vmf->pgoff, &idx)) {
	case XLK_FAULT_OWN:
		page = ch->own[idx];
		break;
	case XLK_FAULT_PEER:
		page = ch->peer_pg[idx];
		break;
	case XLK_FAULT_VOID:
		page = xlk_void_page;
		break;
	case XLK_FAULT_SIGBUS:
		break;
	}
	/* under the lock, so that a void after it finds the PTE to zap */
	err = page ? vm_insert_page(vma, vmf->address & PAGE_MASK, page) :
		-EFAULT;
	mutex_unlock(&ch->lock);
	switch (err) {
	case 0:
	case -EBUSY:		/* another thread was first */
		return VM_FAULT_NOPAGE;
	case -ENOMEM:
		return VM_FAULT_OOM;
	default:
		return VM_FAULT_SIGBUS;
	}
}

static const struct vm_operations_struct xlk_chan_vm_ops = {
	.fault = xlk_chan_fault,
};

static int xlk_chan_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct xlk_chan *ch = file->private_data;
	u64 npages = vma_pages(vma);
	int err;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	mutex_lock(&ch->lock);
	err = xlk_check_map(ch->own_pages, ch->peer_pages, vma->vm_pgoff,
			    npages, !!(vma->vm_flags & VM_WRITE),
			    xlk_peer_mmap());
	if (!err) {
		if (vma->vm_pgoff + npages > ch->own_pages)
			vma->vm_flags &= ~VM_MAYWRITE;
		vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP | VM_DONTCOPY |
			VM_MIXEDMAP;
		vma->vm_ops = &xlk_chan_vm_ops;
		vma->vm_private_data = ch;
		ch->mapping = file->f_mapping;
	}
	mutex_unlock(&ch->lock);
	return err;
}

static ssize_t xlk_chan_read(struct file *file, char __user *buf,
			     size_t len, loff_t *ppos)
{
	struct xlk_chan *ch = file->private_data;
	u64 n;
	int err;

	if (len < sizeof(n))
		return -EINVAL;
	for (;;) {
		n = atomic64_xchg(&ch->pending, 0);
		if (n)
			break;
		if (READ_ONCE(ch->state) == XLDEV_STATE_VOID)
			return 0;
		if (file->f_flags & O_NONBLOCK)
			return -EAGAIN;
		/* interruptible and freezable: never holds up a suspend */
		err = wait_event_freezable(ch->wq,
			atomic64_read(&ch->pending) ||
			READ_ONCE(ch->state) == XLDEV_STATE_VOID);
		if (err)
			return err;
	}
	if (copy_to_user(buf, &n, sizeof(n)))
		return -EFAULT;
	return sizeof(n);
}

static __poll_t xlk_chan_poll(struct file *file, poll_table *wait)
{
	struct xlk_chan *ch = file->private_data;
	unsigned int bits;
	__poll_t mask = 0;

	poll_wait(file, &ch->wq, wait);
	bits = xlk_poll_bits(READ_ONCE(ch->state),
			     atomic64_read(&ch->pending));
	if (bits & XLK_READY_IN)
		mask |= EPOLLIN | EPOLLRDNORM;
	if (bits & XLK_READY_OUT)
		mask |= EPOLLOUT | EPOLLWRNORM;
	if (bits & XLK_READY_ERR)
		mask |= EPOLLERR | EPOLLHUP;
	return mask;
}

static u32 *xlk_refs_from_user(u64 uptr, u32 n)
{
	u32 *refs;

	refs = kmalloc_array(n, sizeof(*refs), GFP_KERNEL);
	if (!refs)
		return ERR_PTR(-ENOMEM);
	if (copy_from_user(refs, u64_to_user_ptr(uptr), n * sizeof(*refs))) {
		kfree(refs);
		return ERR_PTR(-EFAULT);
	}
	return refs;
}

static long xlk_chan_accept(struct xlk_chan *ch, struct xldev_accept a)
{
	u32 *refs;
	int err;

	refs = xlk_refs_from_user(a.peer_refs, a.peer_pages);
	if (IS_ERR(refs))
		return PTR_ERR(refs);
	mutex_lock(&xlk_lock);
	err = xlk_budget_take(&xlk_budget_left, a.peer_pages);
	mutex_unlock(&xlk_lock);
	if (err)
		goto out_free;
	mutex_lock(&ch->lock);
	err = xlk_state_next(ch->state, XLK_EV_ACCEPT);
	if (err >= 0)
		err = xlk_peer_map(ch, refs, a.peer_pages);
	if (!err) {
		ch->budget += a.peer_pages;
		WRITE_ONCE(ch->state, XLDEV_STATE_CONNECTED);
		wake_up_interruptible_all(&ch->wq);
	}
	mutex_unlock(&ch->lock);
	if (err) {
		mutex_lock(&xlk_lock);
		xlk_budget_give(&xlk_budget_left, a.peer_pages,
				xlk_budget_total);
		mutex_unlock(&xlk_lock);
	}
out_free:
	kfree(refs);
	return err;
}

static long xlk_chan_kick(struct xlk_chan *ch)
{
	int err;

	mutex_lock(&ch->lock);
	err = xlk_state_next(ch->state, XLK_EV_KICK);
	if (err >= 0) {
		notify_remote_via_irq(ch->irq);
		ch->kicks_out++;
		err = 0;
	}
	mutex_unlock(&ch->lock);
	return err;
}

static long xlk_chan_info(struct xlk_chan *ch, void __user *uarg)
{
	struct xldev_chan_info info = { 0 };

	mutex_lock(&ch->lock);
	info.state = ch->state;
	info.void_reason = ch->void_reason;
	info.peer_domid = ch->peer;
	info.port = ch->port;
	info.own_pages = ch->own_pages;
	info.peer_pages = ch->peer_pages;
	info.flags = xlk_peer_mmap() ? XLDEV_F_PEER_MMAP : 0;
	info.kicks_in = atomic64_read(&ch->kicks_in);
	info.kicks_out = ch->kicks_out;
	mutex_unlock(&ch->lock);
	info.generation = READ_ONCE(xlk_generation);
	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

/* One page at a time through a bounce page: the user's buffer may be
 * this channel's own mapping, whose fault takes ch->lock. */
static long xlk_chan_peek(struct xlk_chan *ch, void __user *uarg)
{
	struct xldev_peek p;
	u64 done = 0, off;
	u32 chunk;
	void *bounce;
	int err = 0;

	if (copy_from_user(&p, uarg, sizeof(p)))
		return -EFAULT;
	bounce = (void *)__get_free_page(GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	while (done < p.len) {
		mutex_lock(&ch->lock);
		err = xlk_state_next(ch->state, XLK_EV_PEEK);
		if (err >= 0)
			err = xlk_check_peek(&p, ch->peer_pages);
		if (err) {
			mutex_unlock(&ch->lock);
			break;
		}
		off = p.offset + done;
		chunk = min_t(u64, PAGE_SIZE - (off & ~PAGE_MASK),
			      p.len - done);
		memcpy(bounce,
		       (void *)xlk_page_addr(ch->peer_pg[off >> PAGE_SHIFT]) +
		       (off & ~PAGE_MASK), chunk);
		mutex_unlock(&ch->lock);
		if (copy_to_user(u64_to_user_ptr(p.buf + done), bounce, chunk)) {
			err = -EFAULT;
			break;
		}
		done += chunk;
	}
	free_page((unsigned long)bounce);
	return err;
}

static long xlk_chan_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	struct xlk_chan *ch = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case XLDEV_CHAN_IOC_KICK:
		return xlk_chan_kick(ch);
	case XLDEV_CHAN_IOC_INFO:
		return xlk_chan_info(ch, uarg);
	case XLDEV_CHAN_IOC_PEEK:
		return xlk_chan_peek(ch, uarg);
	case XLDEV_CHAN_IOC_CLOSE:
		mutex_lock(&ch->lock);
		xlk_chan_void(ch, XLDEV_VOID_CLOSED);
		mutex_unlock(&ch->lock);
		return 0;
	default:
		return -ENOTTY;
	}
}

static int xlk_chan_release(struct inode *inode, struct file *file)
{
	xlk_chan_destroy(file->private_data);
	return 0;
}

static const struct file_operations xlk_chan_fops = {
	.owner = THIS_MODULE,
	.read = xlk_chan_read,
	.poll = xlk_chan_poll,
	.mmap = xlk_chan_mmap,
	.unlocked_ioctl = xlk_chan_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = xlk_chan_release,
	.llseek = noop_llseek,
};

int xlk_ioctl_accept(struct xldev_accept __user *uarg)
{
	struct xldev_accept a;
	struct fd f;
	int err;

	if (copy_from_user(&a, uarg, sizeof(a)))
		return -EFAULT;
	err = xlk_check_accept(&a);
	if (err)
		return err;
	f = fdget(a.chan_fd);
	if (!f.file)
		return -EBADF;
	/* a channel of this module, nothing else */
	err = f.file->f_op == &xlk_chan_fops ?
		xlk_chan_accept(f.file->private_data, a) : -EINVAL;
	fdput(f);
	return err;
}

/* The channel's fd, or -errno with the channel destroyed. */
static int xlk_chan_fd(struct xlk_chan *ch)
{
	int fd;

	fd = anon_inode_getfd_secure("[xenloop]", &xlk_chan_fops, ch,
				     O_RDWR | O_CLOEXEC, NULL);
	if (fd < 0)
		xlk_chan_destroy(ch);
	return fd;
}

int xlk_ioctl_create(struct xldev_create __user *uarg)
{
	struct xldev_create c;
	struct xlk_chan *ch;
	int err, fd;

	if (copy_from_user(&c, uarg, sizeof(c)))
		return -EFAULT;
	err = xlk_check_create(&c);
	if (err)
		return err;
	ch = xlk_chan_new(c.peer_domid, c.own_pages, c.own_pages);
	if (IS_ERR(ch))
		return PTR_ERR(ch);
	err = xlk_own_grant(ch);
	if (!err)
		err = xlk_evtchn_offer(ch);
	mutex_unlock(&ch->lock);
	if (!err && copy_to_user(u64_to_user_ptr(c.refs), ch->own_refs,
				 c.own_pages * sizeof(u32)))
		err = -EFAULT;
	if (err) {
		xlk_chan_destroy(ch);
		return err;
	}
	c.port = ch->port;
	fd = xlk_chan_fd(ch);
	if (fd < 0)
		return fd;
	c.fd = fd;
	if (copy_to_user(uarg, &c, sizeof(c))) {
		close_fd(fd);
		return -EFAULT;
	}
	return 0;
}

int xlk_ioctl_connect(struct xldev_connect __user *uarg)
{
	struct xldev_connect c;
	struct xlk_chan *ch;
	u32 *refs;
	int err, fd;

	if (copy_from_user(&c, uarg, sizeof(c)))
		return -EFAULT;
	err = xlk_check_connect(&c);
	if (err)
		return err;
	refs = xlk_refs_from_user(c.peer_refs, c.peer_pages);
	if (IS_ERR(refs))
		return PTR_ERR(refs);
	ch = xlk_chan_new(c.peer_domid, c.own_pages,
			  c.own_pages + c.peer_pages);
	if (IS_ERR(ch)) {
		kfree(refs);
		return PTR_ERR(ch);
	}
	err = xlk_peer_map(ch, refs, c.peer_pages);
	kfree(refs);
	if (!err)
		err = xlk_evtchn_connect(ch, c.peer_port);
	if (!err)
		err = xlk_own_grant(ch);
	if (!err)
		WRITE_ONCE(ch->state, XLDEV_STATE_CONNECTED);
	mutex_unlock(&ch->lock);
	if (!err && copy_to_user(u64_to_user_ptr(c.own_refs), ch->own_refs,
				 c.own_pages * sizeof(u32)))
		err = -EFAULT;
	if (err) {
		xlk_chan_destroy(ch);
		return err;
	}
	c.port = ch->port;
	fd = xlk_chan_fd(ch);
	if (fd < 0)
		return fd;
	c.fd = fd;
	if (copy_to_user(uarg, &c, sizeof(c))) {
		close_fd(fd);
		return -EFAULT;
	}
	return 0;
}
