// SPDX-License-Identifier: GPL-2.0-only
/*
 * xenloop.ko: the kernel channel driver of xenloop (docs/xen.md §5).
 *
 * How this works: /dev/xenloop (misc, root, 0600) makes channels
 * (xlk_chan.c), each an fd of its own. A platform device of the module's
 * own gets the device-PM callbacks of the guest's suspend (Linux's Xen
 * do_suspend(): user space is frozen first, then every device's .freeze;
 * after the domain comes back, .restore, or .thaw if the suspend was
 * cancelled). In .freeze every channel is made void: the peer is kicked,
 * every user mapping of a peer page is zapped, the grants are unmapped,
 * the event channel closed and our grants ended, so that nothing foreign
 * is mapped when the domain suspends and nothing of the old domain is
 * touched after it resumes. A void channel stays void: poll() says
 * POLLERR|POLLHUP, a fault on a peer page gets a zero page, own pages
 * keep their contents.
 *
 * Almost every Xen symbol it needs is an EXPORT_SYMBOL_GPL: hence GPL.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mm.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

#include <xen/xen.h>

#include "xlk_chan.h"

static unsigned int max_pages = 16384;
module_param(max_pages, uint, 0444);
MODULE_PARM_DESC(max_pages,
		 "pages (own + peer) all channels together may use (16384)");

DEFINE_MUTEX(xlk_lock);
LIST_HEAD(xlk_chans);
u32 xlk_budget_left;
u32 xlk_budget_total;
u32 xlk_generation;
struct page *xlk_void_page;

static long xlk_dev_version(void __user *uarg)
{
	struct xldev_version v = {
		.abi = XLDEV_ABI_VERSION,
		.max_pages = XLDEV_MAX_PAGES,
		.flags = xlk_peer_mmap() ? XLDEV_F_PEER_MMAP : 0,
	};

	mutex_lock(&xlk_lock);
	v.budget = xlk_budget_left;
	mutex_unlock(&xlk_lock);
	return copy_to_user(uarg, &v, sizeof(v)) ? -EFAULT : 0;
}

static long xlk_dev_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case XLDEV_IOC_VERSION:
		return xlk_dev_version(uarg);
	case XLDEV_IOC_CREATE:
		return xlk_ioctl_create(uarg);
	case XLDEV_IOC_CONNECT:
		return xlk_ioctl_connect(uarg);
	case XLDEV_IOC_ACCEPT:
		return xlk_ioctl_accept(uarg);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations xlk_dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = xlk_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice xlk_misc = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "xenloop",
	.fops = &xlk_dev_fops,
	.mode = 0600,
};

/* -------- suspend, resume -------- */

/* Processes are frozen; xenstore, grants and event channels still work. */
static int xlk_pm_freeze(struct device *dev)
{
	struct xlk_chan *ch;
	unsigned int n = 0;

	mutex_lock(&xlk_lock);
	list_for_each_entry(ch, &xlk_chans, node) {
		xlk_chan_suspend(ch);
		n++;
	}
	mutex_unlock(&xlk_lock);
	if (n)
		dev_info(dev, "suspend: %u channel(s) made void\n", n);
	return 0;
}

/* After the domain resumed (.restore: a new domain; .thaw: the same one,
 * the suspend was cancelled). Every channel was made void in .freeze and
 * stays so; the generation tells user space a suspend happened. */
static int xlk_pm_resume(struct device *dev)
{
	mutex_lock(&xlk_lock);
	xlk_generation++;
	mutex_unlock(&xlk_lock);
	return 0;
}

static const struct dev_pm_ops xlk_pm_ops = {
	.freeze = xlk_pm_freeze,
	.thaw = xlk_pm_resume,
	.restore = xlk_pm_resume,
};

static struct platform_driver xlk_pdrv = {
	.driver = {
		.name = "xenloop",
		.pm = &xlk_pm_ops,
	},
};

static struct platform_device *xlk_pdev;

static int __init xlk_init(void)
{
	int err;

	if (!xen_domain())
		return -ENODEV;
	if (max_pages == 0)
		return -EINVAL;
	xlk_budget_total = max_pages;
	xlk_budget_left = max_pages;
	xlk_void_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!xlk_void_page)
		return -ENOMEM;
	err = platform_driver_register(&xlk_pdrv);
	if (err)
		goto out_free_page;
	xlk_pdev = platform_device_register_simple("xenloop", -1, NULL, 0);
	if (IS_ERR(xlk_pdev)) {
		err = PTR_ERR(xlk_pdev);
		goto out_unregister_driver;
	}
	err = misc_register(&xlk_misc);
	if (err)
		goto out_unregister_device;
	pr_info("xenloop: /dev/xenloop, ABI %u, %u pages\n",
		XLDEV_ABI_VERSION, max_pages);
	return 0;

out_unregister_device:
	platform_device_unregister(xlk_pdev);
out_unregister_driver:
	platform_driver_unregister(&xlk_pdrv);
out_free_page:
	__free_page(xlk_void_page);
	return err;
}

/* Every channel fd holds a reference to the module: none is left. */
static void __exit xlk_exit(void)
{
	misc_deregister(&xlk_misc);
	platform_device_unregister(xlk_pdev);
	platform_driver_unregister(&xlk_pdrv);
	__free_page(xlk_void_page);
}

module_init(xlk_init);
module_exit(xlk_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("xenloop: grant-shared channels between Xen guests");
MODULE_VERSION("0.1.0");
