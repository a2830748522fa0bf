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
 *
 * "ADDR LEN revocable" pins the range with pin_user_pages_revocable(), as
 * the RDMA core does, with one revoker per pagemap of the range (a range
 * over two devices' memory needs two: the pin call stops at the second
 * one's first page). When a pagemap revokes, every pin of the file goes.
 * A read of the file says "pinned N pagemaps M revoked R": the pages
 * pinned now, the pagemaps the revokers were registered with, and whether
 * a revocation came.
 */
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/memremap.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

/*
 * @kref: the file's reference, and one per revoker until it is removed
 * from its pagemap or its ->revoke() returns (a revoker that revocation
 * has taken must find the struct after the file is closed).
 */
struct p2p_test_pins {
	struct kref kref;
	struct mutex lock;	/* protects everything below */
	struct page **pages;
	long nr_pages;
	bool revoked;
	struct list_head revokers;
};

#ifdef HAVE_PIN_REVOKERS
struct p2p_test_revoker {
	struct pgmap_pin_revoker revoker;
	struct p2p_test_pins *pins;
	struct list_head list;	/* in pins->revokers */
	bool counted;		/* holds a reference on pins->kref */
};
#endif

static void p2p_test_pins_free(struct kref *kref)
{
	struct p2p_test_pins *pins = container_of(kref, struct p2p_test_pins,
						  kref);
#ifdef HAVE_PIN_REVOKERS
	struct p2p_test_revoker *r, *next;

	list_for_each_entry_safe(r, next, &pins->revokers, list)
		kfree(r);
#endif
	kfree(pins);
}

/* Called with pins->lock held. */
static void p2p_test_unpin(struct p2p_test_pins *pins)
{
	if (!pins->pages)
		return;
	unpin_user_pages(pins->pages, pins->nr_pages);
	kvfree(pins->pages);
	pins->pages = NULL;
	pins->nr_pages = 0;
}

#ifdef HAVE_PIN_REVOKERS
/* Called with pins->lock held, before the pins are dropped. */
static void p2p_test_unlink(struct p2p_test_pins *pins)
{
	struct p2p_test_revoker *r;

	list_for_each_entry(r, &pins->revokers, list) {
		if (!r->counted)
			continue;
		r->counted = false;
		/* Not the last: the caller holds a reference. */
		if (pgmap_remove_pin_revoker(&r->revoker))
			kref_put(&pins->kref, p2p_test_pins_free);
	}
}

static void p2p_test_revoke(struct pgmap_pin_revoker *revoker)
{
	struct p2p_test_revoker *r = container_of(revoker,
						  struct p2p_test_revoker,
						  revoker);
	struct p2p_test_pins *pins = r->pins;

	mutex_lock(&pins->lock);
	if (pins->pages) {
		p2p_test_unlink(pins);
		p2p_test_unpin(pins);
		pins->revoked = true;
	}
	mutex_unlock(&pins->lock);
	kref_put(&pins->kref, p2p_test_pins_free);
}

static struct p2p_test_revoker *p2p_test_new_revoker(struct p2p_test_pins *pins)
{
	struct p2p_test_revoker *r = kzalloc(sizeof(*r), GFP_KERNEL);

	if (!r)
		return NULL;
	pgmap_pin_revoker_init(&r->revoker, NULL, p2p_test_revoke);
	r->pins = pins;
	r->counted = true;
	kref_get(&pins->kref);
	list_add_tail(&r->list, &pins->revokers);
	return r;
}

/*
 * Pin @nr pages at @addr into pins->pages, a new revoker for each pagemap.
 * Called with pins->lock held; returns the pages pinned or an errno, with
 * none pinned.
 */
static long p2p_test_pin_revocable(struct p2p_test_pins *pins,
				   unsigned long addr, long nr)
{
	struct p2p_test_revoker *r = NULL;
	long done = 0, got;

	while (done < nr) {
		if (!r)
			r = p2p_test_new_revoker(pins);
		if (!r) {
			got = -ENOMEM;
			goto fail;
		}
		got = pin_user_pages_revocable(addr + done * PAGE_SIZE,
					       nr - done, FOLL_WRITE,
					       pins->pages + done,
					       &r->revoker);
		if (got == -EXDEV) {
			/* A page of another pagemap: a revoker of its own. */
			r = NULL;
			continue;
		}
		if (got <= 0)
			goto fail;
		done += got;
	}
	return done;
fail:
	p2p_test_unlink(pins);
	if (done)
		unpin_user_pages(pins->pages, done);
	return got ? got : -EFAULT;
}

static int p2p_test_nr_pagemaps(struct p2p_test_pins *pins)
{
	struct p2p_test_revoker *r;
	int n = 0;

	list_for_each_entry(r, &pins->revokers, list)
		n += !!r->revoker.pgmap;
	return n;
}
#else
static void p2p_test_unlink(struct p2p_test_pins *pins)
{
}

static long p2p_test_pin_revocable(struct p2p_test_pins *pins,
				   unsigned long addr, long nr)
{
	return -EINVAL;
}

static int p2p_test_nr_pagemaps(struct p2p_test_pins *pins)
{
	return 0;
}
#endif

static int p2p_test_pin_open(struct inode *inode, struct file *file)
{
	struct p2p_test_pins *pins = kzalloc(sizeof(*pins), GFP_KERNEL);

	if (!pins)
		return -ENOMEM;
	kref_init(&pins->kref);
	mutex_init(&pins->lock);
	INIT_LIST_HEAD(&pins->revokers);
	file->private_data = pins;
	return 0;
}

static int p2p_test_pin_release(struct inode *inode, struct file *file)
{
	struct p2p_test_pins *pins = file->private_data;

	mutex_lock(&pins->lock);
	p2p_test_unlink(pins);
	p2p_test_unpin(pins);
	mutex_unlock(&pins->lock);
	kref_put(&pins->kref, p2p_test_pins_free);
	return 0;
}

static ssize_t p2p_test_pin_read(struct file *file, char __user *ubuf,
				 size_t count, loff_t *ppos)
{
	struct p2p_test_pins *pins = file->private_data;
	char buf[64];
	int len;

	mutex_lock(&pins->lock);
	len = scnprintf(buf, sizeof(buf), "pinned %ld pagemaps %d revoked %d\n",
			pins->nr_pages, p2p_test_nr_pagemaps(pins),
			pins->revoked);
	mutex_unlock(&pins->lock);
	return simple_read_from_buffer(ubuf, count, ppos, buf, len);
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
	bool longterm = false, revocable = false;
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
	if (n == 3 && !strcmp(how, "revocable")) {
#ifndef HAVE_PIN_REVOKERS
		return -EINVAL;
#endif
		revocable = true;
	} else if (n == 3) {
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
	if (pins->pages || pins->revoked || !list_empty(&pins->revokers))
		goto out;
	ret = -ENOMEM;
	pins->pages = kvcalloc(nr, sizeof(*pins->pages), GFP_KERNEL);
	if (!pins->pages)
		goto out;
	if (revocable)
		got = p2p_test_pin_revocable(pins, addr, nr);
	else
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
	.read = p2p_test_pin_read,
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
