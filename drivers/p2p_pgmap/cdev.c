// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/p2p_pgmapN: mmap of device memory, poll for hang-up, an info ioctl.
 *
 * Mappings are MAP_SHARED; the file offset is the offset into the device
 * memory, so every process mapping an offset shares its folio. Folios are
 * requested and inserted at fault time, never at mmap time: a page inserted
 * by ->mmap() sits in page tables before the VMA is linked into the file's
 * address space, where a concurrent remove's unmap_mapping_range() cannot
 * see it. A fault, by contrast, runs on a linked VMA and is serialised
 * against the move to dying by pdm->lock, so once remove has set dying and
 * zapped, no user mapping of device memory is left and none can appear.
 *
 * Every open file of a device uses the address space of one private inode
 * (not the device node's, which differs per node and per mount of devtmpfs),
 * so a single unmap_mapping_range() reaches every user mapping.
 */
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/highmem.h>
#include <linux/idr.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/pgmap_folio.h>
#include <linux/poll.h>
#include <linux/pseudo_fs.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <uapi/linux/p2p_pgmap.h>

#include "compat.h"
#include "p2p_pgmap.h"

#define P2P_PGMAP_MAX_DEVICES	256
#define P2P_PGMAP_FS_MAGIC	0x70327067	/* "p2pg" */
/* First report of who holds memory after this, then every 10 s. */
#define P2P_PGMAP_REPORT_FIRST	(2 * HZ)
#define P2P_PGMAP_REPORT_EVERY	(10 * HZ)
#define P2P_PGMAP_REPORT_MAX	16

static dev_t p2p_pgmap_devt;
static DEFINE_IDA(p2p_pgmap_ida);
static struct vfsmount *p2p_pgmap_mnt;

/*
 * Not "p2p_pgmap": the driver core puts a class device whose parent is a
 * PCI device in a directory named after the class under that PCI device,
 * which is where the p2p_pgmap attribute group lives.
 */
static struct class p2p_pgmap_class = {
	.name = "p2p_pgmap_cdev",
};

static int p2p_pgmap_init_fs_context(struct fs_context *fc)
{
	return init_pseudo(fc, P2P_PGMAP_FS_MAGIC) ? 0 : -ENOMEM;
}

/* Never registered: only kern_mount()ed, to allocate private inodes. */
static struct file_system_type p2p_pgmap_fs_type = {
	.name = "p2p_pgmap",
	.init_fs_context = p2p_pgmap_init_fs_context,
	.kill_sb = kill_anon_super,
};

/* Holders: who maps device memory, for the report while remove waits. */

static void p2p_pgmap_holder_add(struct p2p_pgmap_dev *pdm,
				 struct mm_struct *mm)
{
	struct p2p_pgmap_holder *holder, *new;

	/* May fail: the holder is then left out of reports, nothing else. */
	new = kzalloc_obj(*new, GFP_KERNEL);

	spin_lock(&pdm->holders_lock);
	list_for_each_entry(holder, &pdm->holders, node) {
		if (holder->mm == mm) {
			holder->nr_vmas++;
			spin_unlock(&pdm->holders_lock);
			kfree(new);
			return;
		}
	}
	if (new) {
		new->mm = mm;
		new->nr_vmas = 1;
		/* On fork, current is the parent of @mm's process. */
		new->tgid = task_tgid_nr(current);
		new->forked = current->mm != mm;
		get_task_comm(new->comm, current);
		list_add_tail(&new->node, &pdm->holders);
	}
	spin_unlock(&pdm->holders_lock);
}

static void p2p_pgmap_holder_del(struct p2p_pgmap_dev *pdm,
				 struct mm_struct *mm)
{
	struct p2p_pgmap_holder *holder, *found = NULL;

	spin_lock(&pdm->holders_lock);
	list_for_each_entry(holder, &pdm->holders, node) {
		if (holder->mm == mm) {
			if (!--holder->nr_vmas) {
				list_del(&holder->node);
				found = holder;
			}
			break;
		}
	}
	spin_unlock(&pdm->holders_lock);
	kfree(found);
}

/*
 * While remove waits in memunmap_pages() for folios still referenced
 * (typically pinned, e.g. by RDMA memory registrations, since user
 * mappings are already zapped), say so every 10 s and name the processes
 * that map the device.
 */
static void p2p_pgmap_report_holders(struct work_struct *work)
{
	struct p2p_pgmap_dev *pdm = container_of(to_delayed_work(work),
						 struct p2p_pgmap_dev,
						 holders_report);
	struct p2p_pgmap_holder *holder;
	unsigned long in_use = pgmap_folios_in_use(pdm->pool);
	unsigned int shown = 0;

	if (!in_use)
		return;

	dev_warn(&pdm->dev, "remove waits for %lu folios of device memory still referenced\n",
		 in_use);
	spin_lock(&pdm->holders_lock);
	list_for_each_entry(holder, &pdm->holders, node) {
		if (shown++ == P2P_PGMAP_REPORT_MAX) {
			dev_warn(&pdm->dev, "  and more processes\n");
			break;
		}
		dev_warn(&pdm->dev, "  mapped by %spid %d (%s), mappings: %u\n",
			 holder->forked ? "a child of " : "", holder->tgid,
			 holder->comm, holder->nr_vmas);
	}
	if (!shown)
		dev_warn(&pdm->dev, "  by no mapping any more: pinned by processes that unmapped it, or in flight\n");
	spin_unlock(&pdm->holders_lock);

	schedule_delayed_work(&pdm->holders_report, P2P_PGMAP_REPORT_EVERY);
}

/* The VMA */

static void p2p_pgmap_vm_open(struct vm_area_struct *vma)
{
	p2p_pgmap_holder_add(vma->vm_file->private_data, vma->vm_mm);
}

static void p2p_pgmap_vm_close(struct vm_area_struct *vma)
{
	p2p_pgmap_holder_del(vma->vm_file->private_data, vma->vm_mm);
}

/*
 * Zero device memory through the kernel's map of the BAR, which is
 * uncached: with plain 8-byte stores, the widest a CPU issues there outside
 * vector registers. String stores gain nothing on uncached memory (the
 * rep stosb of clear_page() even goes out a byte at a time), and emulators
 * run them an iteration at a time. WRITE_ONCE() keeps the compiler from
 * turning the loop back into a memset().
 */
static void p2p_pgmap_zero(void *addr, size_t len)
{
	u64 *word = addr, *end = addr + len;

	while (word < end) {
		for (int i = 0; i < 8; i++)
			WRITE_ONCE(word[i], 0);
		word += 8;
	}
}

/*
 * Map the faulting folio and the free ones after it, up to the next
 * P2P_PGMAP_FAULT_BATCH boundary of device memory or the end of the VMA,
 * with one request and one vm_insert_pages(). Called with pdm->lock held,
 * so no other request can take them. Each folio is zeroed first, so a new
 * user never sees a previous user's bytes. Afterwards the driver drops its
 * own references on every path: the page tables (and any pins taken
 * through them) hold the only ones, and a folio that could not be inserted
 * goes straight back to the pool.
 */
static vm_fault_t p2p_pgmap_fault_batch(struct p2p_pgmap_dev *pdm,
					struct vm_fault *vmf, u64 offset)
{
	struct vm_area_struct *vma = vmf->vma;
	u64 batch_end = round_up(offset + 1, P2P_PGMAP_FAULT_BATCH * PAGE_SIZE);
	u64 vma_end = offset + (vma->vm_end - vmf->address);
	unsigned long nr, i, not_inserted;
	u64 len;
	int err;

	len = min3(batch_end, vma_end, pdm->size) - offset;
	len = pgmap_folio_free_run(pdm->pool, offset, len);
	/* Only faults request folios, and they hold pdm->lock. */
	if (!len || pgmap_request_folios(pdm->pool, offset, len, pdm->fault_folios))
		return VM_FAULT_SIGBUS;

	/* The folios of a request are contiguous in the kernel's map. */
	p2p_pgmap_zero(folio_address(pdm->fault_folios[0]), len);
	nr = len >> PAGE_SHIFT;
	for (i = 0; i < nr; i++)
		pdm->fault_pages[i] = folio_page(pdm->fault_folios[i], 0);
	not_inserted = nr;
	err = vm_insert_pages(vma, vmf->address, pdm->fault_pages, &not_inserted);
	pgmap_release_folios(pdm->fault_folios, nr);

	/* The faulting page is the first: mapped unless nothing was. */
	if (not_inserted < nr || err == -EBUSY)	/* -EBUSY: raced with a fault */
		return VM_FAULT_NOPAGE;
	return err == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
}

/*
 * A folio that is free is mapped with the free ones after it; one that
 * another mapper has is shared, one page at a time (only the faulting
 * one: sharing is rare and its neighbours may belong to nobody yet).
 */
static vm_fault_t p2p_pgmap_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct p2p_pgmap_dev *pdm = vma->vm_file->private_data;
	u64 offset = (u64)vmf->pgoff << PAGE_SHIFT;
	struct folio *folio = NULL;
	vm_fault_t ret;
	int err;

	mutex_lock(&pdm->lock);
	if (pdm->dying || offset >= pdm->size) {
		ret = VM_FAULT_SIGBUS;
		goto out;
	}

	switch (pgmap_folio_state(pdm->pool, offset)) {
	case PGMAP_FOLIO_FREE:
		ret = p2p_pgmap_fault_batch(pdm, vmf, offset);
		goto out;
	case PGMAP_FOLIO_IN_USE:
		folio = pgmap_folio_try_get(pdm->pool, offset);
		if (folio)
			break;
		fallthrough;
	case PGMAP_FOLIO_RETURNING:
		/*
		 * Its last user just let go. Complete the return if the core
		 * is done with it and let the access fault again.
		 */
		pgmap_folio_pool_drain(pdm->pool);
		ret = VM_FAULT_NOPAGE;
		goto out;
	}

	err = vm_insert_page(vma, vmf->address, folio_page(folio, 0));
	folio_put(folio);
	if (err == -ENOMEM)
		ret = VM_FAULT_OOM;
	else if (err && err != -EBUSY)	/* -EBUSY: raced with another fault */
		ret = VM_FAULT_SIGBUS;
	else
		ret = VM_FAULT_NOPAGE;
out:
	mutex_unlock(&pdm->lock);
	return ret;
}

static const struct vm_operations_struct p2p_pgmap_vm_ops = {
	.open = p2p_pgmap_vm_open,
	.close = p2p_pgmap_vm_close,
	.fault = p2p_pgmap_fault,
};

/* Every precondition of a mapping, each refusal logged once per burst. */
static int p2p_pgmap_check_vma(struct p2p_pgmap_dev *pdm,
			       struct vm_area_struct *vma)
{
	unsigned long len = vma->vm_end - vma->vm_start;
	unsigned long nr_pages = pdm->size >> PAGE_SHIFT;

	if (pdm->dying) {
		dev_info_ratelimited(&pdm->dev, "%s[%d]: fail, device is going away\n",
				     current->comm, task_tgid_nr(current));
		return -ENXIO;
	}
	if (!(vma->vm_flags & VM_MAYSHARE)) {
		dev_info_ratelimited(&pdm->dev, "%s[%d]: fail, attempted private mapping\n",
				     current->comm, task_tgid_nr(current));
		return -EINVAL;
	}
	if (vma->vm_flags & VM_EXEC) {
		dev_info_ratelimited(&pdm->dev, "%s[%d]: fail, attempted executable mapping\n",
				     current->comm, task_tgid_nr(current));
		return -EPERM;
	}
	if (vma->vm_pgoff >= nr_pages ||
	    len >> PAGE_SHIFT > nr_pages - vma->vm_pgoff) {
		dev_info_ratelimited(&pdm->dev, "%s[%d]: fail, mapping %#lx bytes at offset %#llx beyond device memory (%#llx bytes)\n",
				     current->comm, task_tgid_nr(current), len,
				     (u64)vma->vm_pgoff << PAGE_SHIFT, pdm->size);
		return -EINVAL;
	}
	return 0;
}

static int p2p_pgmap_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct p2p_pgmap_dev *pdm = file->private_data;
	int err;

	mutex_lock(&pdm->lock);
	err = p2p_pgmap_check_vma(pdm, vma);
	mutex_unlock(&pdm->lock);
	if (err)
		return err;

	/*
	 * Memory type. memremap_pages() maps a P2PDMA BAR uncached (UC-) in
	 * the kernel, where the folios are zeroed and where in-kernel users
	 * (RDMA software providers, the CPU side of DMA) access them. A
	 * cacheable user alias of the same MMIO is architecturally undefined
	 * on x86 (and can return stale data or machine-check on real
	 * devices), so the user mapping gets the kernel's type. Write
	 * combining would be faster for a prefetchable BAR, but mixing it with
	 * the kernel's UC- alias is again a mismatch; correctness first.
	 */
	vma->vm_page_prot = pgprot_noncached(vma->vm_page_prot);
	/*
	 * MIXEDMAP: vm_insert_page() of refcounted struct pages. DONTEXPAND:
	 * mremap() cannot grow a mapping past what check_vma() allowed.
	 * DONTDUMP: core dumps must not read device memory. No exec, ever.
	 */
	p2p_compat_vm_flags_set(vma, VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP);
	p2p_compat_vm_flags_clear(vma, VM_MAYEXEC);
	vma->vm_ops = &p2p_pgmap_vm_ops;
	p2p_pgmap_holder_add(pdm, vma->vm_mm);
	return 0;
}

static __poll_t p2p_pgmap_poll(struct file *file, poll_table *wait)
{
	struct p2p_pgmap_dev *pdm = file->private_data;

	poll_wait(file, &pdm->poll_wait, wait);
	return READ_ONCE(pdm->dying) ? EPOLLHUP | EPOLLERR : 0;
}

static long p2p_pgmap_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct p2p_pgmap_dev *pdm = file->private_data;
	struct p2p_pgmap_info info = {};

	if (cmd != P2P_PGMAP_IOC_INFO)
		return -ENOTTY;

	mutex_lock(&pdm->lock);
	info.size = pdm->size;
	info.bar_offset = pdm->bar_offset;
	info.bar = pdm->bar;
	info.state = p2p_pgmap_state(pdm);
	info.page_size = PAGE_SIZE;
	info.flags = pdm->via_p2pdma_core ? P2P_PGMAP_INFO_P2PDMA : 0;
	if (pdm->pool) {
		info.free_bytes = pgmap_folio_pool_free_bytes(pdm->pool);
		info.folios_in_use = pgmap_folios_in_use(pdm->pool);
	}
	mutex_unlock(&pdm->lock);

	if (copy_to_user((void __user *)arg, &info, sizeof(info)))
		return -EFAULT;
	return 0;
}

static int p2p_pgmap_open(struct inode *inode, struct file *file)
{
	struct p2p_pgmap_dev *pdm =
		container_of(inode->i_cdev, struct p2p_pgmap_dev, cdev);

	if (READ_ONCE(pdm->dying))
		return -ENXIO;

	get_device(&pdm->dev);
	file->private_data = pdm;
	file->f_mapping = pdm->inode->i_mapping;
	return 0;
}

static int p2p_pgmap_release(struct inode *inode, struct file *file)
{
	struct p2p_pgmap_dev *pdm = file->private_data;

	put_device(&pdm->dev);
	return 0;
}

static const struct file_operations p2p_pgmap_fops = {
	.owner = THIS_MODULE,
	.open = p2p_pgmap_open,
	.release = p2p_pgmap_release,
	.mmap = p2p_pgmap_mmap,
	.poll = p2p_pgmap_poll,
	.unlocked_ioctl = p2p_pgmap_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/* Freed when the last open file is closed, possibly long after remove. */
static void p2p_pgmap_dev_release(struct device *dev)
{
	struct p2p_pgmap_dev *pdm = container_of(dev, struct p2p_pgmap_dev, dev);
	struct p2p_pgmap_holder *holder, *next;

	/* Only a failed mmap_region() after our ->mmap() (6.1) leaves any. */
	list_for_each_entry_safe(holder, next, &pdm->holders, node)
		kfree(holder);
	if (pdm->inode)
		iput(pdm->inode);
	ida_free(&p2p_pgmap_ida, pdm->minor);
	pci_dev_put(pdm->pdev);
	kfree(pdm->fault_pages);
	kfree(pdm->fault_folios);
	kfree(pdm);
}

/**
 * p2p_pgmap_dev_create - allocate the driver state of a PCI device
 * @pdev: the device
 *
 * Return: the new state, holding one reference on its struct device that
 * the caller drops with put_device(), or an ERR_PTR().
 */
struct p2p_pgmap_dev *p2p_pgmap_dev_create(struct pci_dev *pdev)
{
	struct p2p_pgmap_dev *pdm;
	int err;

	pdm = kzalloc_obj(*pdm, GFP_KERNEL);
	if (!pdm)
		return ERR_PTR(-ENOMEM);

	pdm->minor = ida_alloc_max(&p2p_pgmap_ida, P2P_PGMAP_MAX_DEVICES - 1,
				   GFP_KERNEL);
	if (pdm->minor < 0) {
		err = pdm->minor;
		kfree(pdm);
		return ERR_PTR(err);
	}

	pdm->pdev = pci_dev_get(pdev);
	pdm->fault_folios = kcalloc(P2P_PGMAP_FAULT_BATCH,
				    sizeof(*pdm->fault_folios), GFP_KERNEL);
	pdm->fault_pages = kcalloc(P2P_PGMAP_FAULT_BATCH,
				   sizeof(*pdm->fault_pages), GFP_KERNEL);
	mutex_init(&pdm->lock);
	init_waitqueue_head(&pdm->poll_wait);
	spin_lock_init(&pdm->holders_lock);
	INIT_LIST_HEAD(&pdm->holders);
	INIT_DELAYED_WORK(&pdm->holders_report, p2p_pgmap_report_holders);

	device_initialize(&pdm->dev);
	pdm->dev.class = &p2p_pgmap_class;
	pdm->dev.parent = &pdev->dev;
	pdm->dev.devt = MKDEV(MAJOR(p2p_pgmap_devt), pdm->minor);
	pdm->dev.release = p2p_pgmap_dev_release;
	cdev_init(&pdm->cdev, &p2p_pgmap_fops);
	pdm->cdev.owner = THIS_MODULE;

	if (!pdm->fault_folios || !pdm->fault_pages) {
		err = -ENOMEM;
		goto out_put;
	}
	err = dev_set_name(&pdm->dev, "p2p_pgmap%d", pdm->minor);
	if (err)
		goto out_put;

	pdm->inode = alloc_anon_inode(p2p_pgmap_mnt->mnt_sb);
	if (IS_ERR(pdm->inode)) {
		err = PTR_ERR(pdm->inode);
		pdm->inode = NULL;
		goto out_put;
	}

	return pdm;

out_put:
	put_device(&pdm->dev);
	return ERR_PTR(err);
}

/**
 * p2p_pgmap_cdev_add - make /dev/p2p_pgmapN appear
 * @pdm: a device whose pool is set up
 *
 * Return: 0 or a negative errno.
 */
int p2p_pgmap_cdev_add(struct p2p_pgmap_dev *pdm)
{
	return cdev_device_add(&pdm->cdev, &pdm->dev);
}

/**
 * p2p_pgmap_cdev_revoke - start the removal of a device
 * @pdm: the device
 *
 * Refuses new mappings, folios and opens, zaps every user mapping (later
 * accesses get SIGBUS), wakes poll() waiters with POLLHUP | POLLERR, removes
 * the device node and, if folios are still referenced, starts reporting who
 * maps the device. The caller then waits for the folios in memunmap_pages().
 */
void p2p_pgmap_cdev_revoke(struct p2p_pgmap_dev *pdm)
{
	mutex_lock(&pdm->lock);
	WRITE_ONCE(pdm->dying, true);
	mutex_unlock(&pdm->lock);

	unmap_mapping_range(pdm->inode->i_mapping, 0, 0, 1);
	wake_up_all(&pdm->poll_wait);
	cdev_device_del(&pdm->cdev, &pdm->dev);

	if (pgmap_folios_in_use(pdm->pool))
		schedule_delayed_work(&pdm->holders_report,
				      P2P_PGMAP_REPORT_FIRST);
}

int p2p_pgmap_cdev_init(void)
{
	int err;

	err = alloc_chrdev_region(&p2p_pgmap_devt, 0, P2P_PGMAP_MAX_DEVICES,
				  "p2p_pgmap");
	if (err)
		return err;

	err = class_register(&p2p_pgmap_class);
	if (err)
		goto out_region;

	p2p_pgmap_mnt = kern_mount(&p2p_pgmap_fs_type);
	if (IS_ERR(p2p_pgmap_mnt)) {
		err = PTR_ERR(p2p_pgmap_mnt);
		goto out_class;
	}
	return 0;

out_class:
	class_unregister(&p2p_pgmap_class);
out_region:
	unregister_chrdev_region(p2p_pgmap_devt, P2P_PGMAP_MAX_DEVICES);
	return err;
}

void p2p_pgmap_cdev_exit(void)
{
	kern_unmount(p2p_pgmap_mnt);
	class_unregister(&p2p_pgmap_class);
	unregister_chrdev_region(p2p_pgmap_devt, P2P_PGMAP_MAX_DEVICES);
	ida_destroy(&p2p_pgmap_ida);
}
