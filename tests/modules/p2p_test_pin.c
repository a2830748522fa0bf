// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_test_pin - test-only module: pins user pages on request and holds the
 * pins until the file is closed.
 *
 * Hot-unplug tests need "a process holds a pin on device memory" on every
 * kernel of the matrix, including ones where RDMA cannot pin P2PDMA pages.
 * Writing "ADDR LEN" (hex, page aligned) to /dev/p2p_test_pin pins that
 * range of the writer's memory with pin_user_pages_fast(), as a driver
 * doing DMA would; closing the file (or the process exiting) unpins it.
 * Not FOLL_LONGTERM: the P2PDMA core refuses long-term pins of its pages.
 *
 * "ADDR LEN longterm" asks for a FOLL_LONGTERM pin that cannot be revoked
 * (pin_user_pages_fast(), not pin_user_pages_revocable() with a revoker),
 * only on kernels with our series' revocable pins: there GUP must refuse it
 * for P2PDMA pages (EOPNOTSUPP), so that nothing but a revocable pinner can
 * hold them for long. Stock P2PDMA kernels warn at the flag combination
 * itself: EINVAL there.
 */
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

struct p2p_test_pins {
	struct mutex lock;	/* protects pages and nr_pages */
	struct page **pages;
	long nr_pages;
};

static int p2p_test_pin_open(struct inode *inode, struct file *file)
{
	struct p2p_test_pins *pins = kzalloc(sizeof(*pins), GFP_KERNEL);

	if (!pins)
		return -ENOMEM;
	mutex_init(&pins->lock);
	file->private_data = pins;
	return 0;
}

static int p2p_test_pin_release(struct inode *inode, struct file *file)
{
	struct p2p_test_pins *pins = file->private_data;

	if (pins->pages) {
		unpin_user_pages(pins->pages, pins->nr_pages);
		kvfree(pins->pages);
	}
	kfree(pins);
	return 0;
}

static unsigned int p2p_test_pin_flags(bool longterm)
{
	unsigned int flags = FOLL_WRITE;

	if (longterm)
		flags |= FOLL_LONGTERM;

#ifdef HAVE_FOLL_PCI_P2PDMA
	/* Without it GUP refuses P2PDMA pages on a P2PDMA kernel. */
	flags |= FOLL_PCI_P2PDMA;
#endif
	return flags;
}

static ssize_t p2p_test_pin_write(struct file *file, const char __user *ubuf,
				  size_t count, loff_t *ppos)
{
	struct p2p_test_pins *pins = file->private_data;
	unsigned long addr, len;
	bool longterm = false;
	char buf[64], how[16];
	long nr, got;
	int ret, n;

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	n = sscanf(buf, "%lx %lx %15s", &addr, &len, how);
	if (n < 2 || !len || !PAGE_ALIGNED(addr) || !PAGE_ALIGNED(len))
		return -EINVAL;
	if (n == 3) {
		if (strcmp(how, "longterm"))
			return -EINVAL;
#if defined(HAVE_FOLL_PCI_P2PDMA) && !defined(HAVE_PIN_REVOKERS)
		return -EINVAL;
#endif
		longterm = true;
	}
	nr = len >> PAGE_SHIFT;
	/* pin_user_pages_fast() counts pages in an int. */
	if (nr > INT_MAX)
		return -EINVAL;

	mutex_lock(&pins->lock);
	ret = -EBUSY;
	if (pins->pages)
		goto out;
	ret = -ENOMEM;
	pins->pages = kvcalloc(nr, sizeof(*pins->pages), GFP_KERNEL);
	if (!pins->pages)
		goto out;
	got = pin_user_pages_fast(addr, nr, p2p_test_pin_flags(longterm),
				  pins->pages);
	if (got != nr) {
		if (got > 0)
			unpin_user_pages(pins->pages, got);
		kvfree(pins->pages);
		pins->pages = NULL;
		ret = got < 0 ? got : -EFAULT;
		goto out;
	}
	pins->nr_pages = nr;
	ret = count;
out:
	mutex_unlock(&pins->lock);
	return ret;
}

static const struct file_operations p2p_test_pin_fops = {
	.owner = THIS_MODULE,
	.open = p2p_test_pin_open,
	.release = p2p_test_pin_release,
	.write = p2p_test_pin_write,
};

static struct miscdevice p2p_test_pin_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "p2p_test_pin",
	.fops = &p2p_test_pin_fops,
	.mode = 0600,
};
module_misc_device(p2p_test_pin_dev);

MODULE_DESCRIPTION("Test-only module: holds pins on user pages until close");
MODULE_LICENSE("GPL");
