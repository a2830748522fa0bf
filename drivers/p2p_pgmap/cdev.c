// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/p2p_pgmapN: mmap of device memory, poll for hang-up, ioctls for
 * information, placement, giving memory back and dma-buf export.
 *
 * Each open file owns memory of its own (owner.c), which lives as long as
 * the file: mmap offsets are offsets into it, and a fault maps what the
 * file has at that offset, or takes new memory for it. Mappings are
 * MAP_SHARED. Folios are taken and inserted
 * at fault time, never at mmap time: a page inserted by ->mmap() sits in
 * page tables before the VMA is linked into the file's address space, where
 * a concurrent remove's unmap_mapping_range() cannot see it. A fault, by
 * contrast, runs on a linked VMA and holds the device's lock for reading,
 * which the move to dying takes for writing, so once remove has set dying
 * and zapped, no user mapping of device memory is left and none can
 * appear. Faults of different files share that lock: one file's fault
 * never waits for another's zeroing.
 *
 * Large folios (7.x): an aligned 2 MiB of a file is one PMD-order folio,
 * mapped with one PMD by ->huge_fault() where the VMA covers it, with PTEs
 * otherwise. The file keeps its folios, so a huge mapping that core mm
 * splits or zaps (partial munmap(), MADV_DONTNEED, mremap()) just faults
 * back in, with PTEs where the VMA no longer covers the 2 MiB.
 * ->get_unmapped_area() places mappings of 2 MiB and more on a
 * 2 MiB boundary matching their file offset, so a plain mmap() gets PMDs.
 * Such a VMA is not VM_MIXEDMAP: the core treats a huge mapping in a
 * VM_MIXEDMAP VMA as special (no reference, no rmap) and would leak the
 * folio when it splits one; pages are mapped with vmf_insert_page_mkwrite()
 * and vmf_insert_folio_pmd() instead, as device DAX does.
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

/*
 * While remove waits in memunmap_pages() for folios still referenced
 * (typically pinned, e.g. by RDMA memory registrations, since user
 * mappings are already zapped), say so every 10 s and name the processes
 * whose files' memory it is.
 */
static void p2p_pgmap_report_holders(struct work_struct *work)
{
	struct p2p_pgmap_dev *pdm = container_of(to_delayed_work(work),
						 struct p2p_pgmap_dev,
						 holders_report);
	unsigned long in_use = pgmap_folios_in_use(pdm->pool);

	if (!in_use)
		return;

	dev_warn(&pdm->dev, "remove waits for %lu folios of device memory still referenced\n",
		 in_use);
	p2p_pgmap_owners_report(pdm);
	schedule_delayed_work(&pdm->holders_report, P2P_PGMAP_REPORT_EVERY);
}

#ifdef P2P_PGMAP_LARGE_FOLIOS
/*
 * Map @page at @addr (the fault's address or a later one of its VMA).
 * vm_insert_page() would make the VMA VM_MIXEDMAP, under a mmap_lock held
 * only for reading; vmf_insert_page_mkwrite() maps a refcounted page at a
 * fault's address, so each address gets a vm_fault of its own.
 */
static vm_fault_t p2p_pgmap_insert(struct vm_fault *vmf, unsigned long addr,
				   struct page *page)
{
	struct vm_fault at = {
		.vma = vmf->vma,
		.address = addr,
		.real_address = addr,
		.flags = vmf->flags,
	};

	return vmf_insert_page_mkwrite(&at, page, vmf->flags & FAULT_FLAG_WRITE);
}

/* Map the @nr pages of a new batch from the fault's address on. */
static vm_fault_t p2p_pgmap_insert_batch(struct vm_fault *vmf,
					 struct page **pages, unsigned long nr)
{
	vm_fault_t ret = VM_FAULT_NOPAGE;
	unsigned long i;

	for (i = 0; i < nr && ret == VM_FAULT_NOPAGE; i++)
		ret = p2p_pgmap_insert(vmf, vmf->address + i * PAGE_SIZE, pages[i]);
	/* The faulting page is the first: mapped unless nothing was. */
	return i > 1 ? VM_FAULT_NOPAGE : ret;
}
#else
static vm_fault_t p2p_pgmap_insert(struct vm_fault *vmf, unsigned long addr,
				   struct page *page)
{
	int err = vm_insert_page(vmf->vma, addr, page);

	if (err == -ENOMEM)
		return VM_FAULT_OOM;
	if (err && err != -EBUSY)	/* -EBUSY: raced with another fault */
		return VM_FAULT_SIGBUS;
	return VM_FAULT_NOPAGE;
}

/* Map the @nr pages of a new batch from the fault's address on, at once. */
static vm_fault_t p2p_pgmap_insert_batch(struct vm_fault *vmf,
					 struct page **pages, unsigned long nr)
{
	unsigned long not_inserted = nr;
	int err;

	err = vm_insert_pages(vmf->vma, vmf->address, pages, &not_inserted);
	/* The faulting page is the first: mapped unless nothing was. */
	if (not_inserted < nr || err == -EBUSY)	/* -EBUSY: raced with a fault */
		return VM_FAULT_NOPAGE;
	return err == -ENOMEM ? VM_FAULT_OOM : VM_FAULT_SIGBUS;
}
#endif

/*
 * New memory for the faulting page of the file and the pages after it, up
 * to the next P2P_PGMAP_FAULT_BATCH boundary of the file or the end of the
 * VMA, mapped in one go. It comes zeroed, and the file holds it: a page
 * that could not be mapped now is mapped by its next fault.
 */
static vm_fault_t p2p_pgmap_fault_new(struct p2p_pgmap_owner *owner,
				      struct vm_fault *vmf)
{
	struct p2p_pgmap_dev *pdm = owner->pdm;
	struct vm_area_struct *vma = vmf->vma;
	pgoff_t pgoff = vmf->pgoff;
	unsigned long batch_end = round_up(pgoff + 1, P2P_PGMAP_FAULT_BATCH);
	unsigned long vma_end = pgoff + ((vma->vm_end - vmf->address) >> PAGE_SHIFT);
	unsigned long nr;
	int got;

	nr = min3(batch_end, vma_end, (unsigned long)(pdm->size >> PAGE_SHIFT)) - pgoff;
	got = p2p_pgmap_owner_alloc(owner, pgoff, nr, 0);
	switch (got) {
	case -ENOSPC:
		dev_info_ratelimited(&pdm->dev, "%s[%d]: SIGBUS, no free device memory\n",
				     current->comm, task_tgid_nr(current));
		return VM_FAULT_SIGBUS;
	case -EDQUOT:
		dev_info_ratelimited(&pdm->dev, "%s[%d]: SIGBUS, the file holds file_limit (%lu bytes) already\n",
				     current->comm, task_tgid_nr(current),
				     READ_ONCE(p2p_pgmap_file_limit));
		return VM_FAULT_SIGBUS;
	case -ENOMEM:
		return VM_FAULT_OOM;
	}
	if (got < 0)
		return VM_FAULT_SIGBUS;

	return p2p_pgmap_insert_batch(vmf, owner->fault.pages, got);
}

/*
 * A page of the file that has memory (touched before, through this mapping
 * or another) is mapped again, one page at a time; one that has none gets
 * new memory.
 */
static vm_fault_t p2p_pgmap_fault(struct vm_fault *vmf)
{
	struct vm_area_struct *vma = vmf->vma;
	struct p2p_pgmap_owner *owner = vma->vm_file->private_data;
	struct p2p_pgmap_dev *pdm = owner->pdm;
	struct page *page;
	vm_fault_t ret;

	down_read(&pdm->lock);
	if (pdm->dying || vmf->pgoff >= pdm->size >> PAGE_SHIFT) {
		up_read(&pdm->lock);
		return VM_FAULT_SIGBUS;
	}

	mutex_lock(&owner->lock);
	page = p2p_pgmap_owner_page(owner, vmf->pgoff);
	if (page)
		ret = p2p_pgmap_insert(vmf, vmf->address, page);
	else
		ret = p2p_pgmap_fault_new(owner, vmf);
	mutex_unlock(&owner->lock);
	up_read(&pdm->lock);
	return ret;
}

#ifdef P2P_PGMAP_LARGE_FOLIOS
/*
 * A PMD fault: an aligned 2 MiB of the file that the VMA covers whole is
 * one PMD-order folio, new or the file's already, mapped with one PMD.
 * Anything else (part of that 2 MiB has memory of smaller folios, the pool
 * has no aligned 2 MiB free, the file limit) falls back to PTE faults.
 *
 * PMD or PTEs is decided under the file's lock: every page table of the
 * file's VMAs is made by its PTE faults (get_locked_pte() in the insert),
 * which hold that lock too, so one made since this fault began is seen
 * here and the PMD is never put over it.
 */
static vm_fault_t p2p_pgmap_huge_fault(struct vm_fault *vmf, unsigned int order)
{
	struct vm_area_struct *vma = vmf->vma;
	struct p2p_pgmap_owner *owner = vma->vm_file->private_data;
	struct p2p_pgmap_dev *pdm = owner->pdm;
	unsigned long haddr = vmf->address & PMD_MASK;
	pgoff_t pgoff = vmf->pgoff - ((vmf->address - haddr) >> PAGE_SHIFT);
	bool write = vmf->flags & FAULT_FLAG_WRITE;
	vm_fault_t ret = VM_FAULT_FALLBACK;
	struct folio *folio;
	struct page *page;
	pmd_t pmd;

	if (order != PMD_ORDER || haddr < vma->vm_start ||
	    haddr + PMD_SIZE > vma->vm_end || !IS_ALIGNED(pgoff, HPAGE_PMD_NR))
		return VM_FAULT_FALLBACK;

	down_read(&pdm->lock);
	/* The PTE fault that follows says SIGBUS. */
	if (pdm->dying) {
		up_read(&pdm->lock);
		return VM_FAULT_FALLBACK;
	}
	mutex_lock(&owner->lock);
	pmd = pmdp_get_lockless(vmf->pmd);
	if (!pmd_none(pmd) && !pmd_trans_huge(pmd))
		goto out;	/* a page table: PTEs it is */
	page = p2p_pgmap_owner_page(owner, pgoff);
	if (page) {
		folio = page_folio(page);
		if (folio_order(folio) == PMD_ORDER && folio_page(folio, 0) == page)
			ret = vmf_insert_folio_pmd(vmf, folio, write);
	} else if (p2p_pgmap_owner_alloc(owner, pgoff, HPAGE_PMD_NR,
					 PGMAP_ALLOC_WHOLE) > 0) {
		/* The file keeps it: PTE faults map it if it is not one folio. */
		if (owner->fault.nr_folios == 1)
			ret = vmf_insert_folio_pmd(vmf, owner->fault.folios[0],
						   write);
	}
out:
	mutex_unlock(&owner->lock);
	up_read(&pdm->lock);
	return ret;
}
#endif

static const struct vm_operations_struct p2p_pgmap_vm_ops = {
	.fault = p2p_pgmap_fault,
#ifdef P2P_PGMAP_LARGE_FOLIOS
	.huge_fault = p2p_pgmap_huge_fault,
#endif
};

/* Every precondition of a mapping, each refusal logged once per burst. */
static int p2p_pgmap_check_vma(struct p2p_pgmap_dev *pdm,
			       struct vm_area_struct *vma)
{
	unsigned long len = vma->vm_end - vma->vm_start;
	unsigned long nr_pages = pdm->size >> PAGE_SHIFT;
	unsigned long limit = READ_ONCE(p2p_pgmap_file_limit);

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
		dev_info_ratelimited(&pdm->dev, "%s[%d]: fail, mapping %#lx bytes at offset %#llx beyond the size of device memory (%#llx bytes)\n",
				     current->comm, task_tgid_nr(current), len,
				     (u64)vma->vm_pgoff << PAGE_SHIFT, pdm->size);
		return -EINVAL;
	}
	/* A limit below one page allows no mapping, as at fault time. */
	if (limit && len > round_down(limit, PAGE_SIZE)) {
		dev_info_ratelimited(&pdm->dev, "%s[%d]: fail, mapping %#lx bytes, more than one file may hold (file_limit %#lx)\n",
				     current->comm, task_tgid_nr(current), len,
				     limit);
		return -ENOMEM;
	}
	return 0;
}

static int p2p_pgmap_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct p2p_pgmap_owner *owner = file->private_data;
	struct p2p_pgmap_dev *pdm = owner->pdm;
	int err;

	down_read(&pdm->lock);
	err = p2p_pgmap_check_vma(pdm, vma);
	up_read(&pdm->lock);
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
	 * DONTEXPAND: mremap() cannot grow a mapping past what check_vma()
	 * allowed. DONTDUMP: core dumps must not read device memory. No
	 * exec, ever. With large folios, HUGEPAGE: PMD faults even where
	 * transparent huge pages are "madvise" only; without, MIXEDMAP:
	 * vm_insert_page() of refcounted struct pages.
	 */
#ifdef P2P_PGMAP_LARGE_FOLIOS
	p2p_compat_vm_flags_set(vma, VM_HUGEPAGE | VM_DONTEXPAND | VM_DONTDUMP);
#else
	p2p_compat_vm_flags_set(vma, VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP);
#endif
	p2p_compat_vm_flags_clear(vma, VM_MAYEXEC);
	vma->vm_ops = &p2p_pgmap_vm_ops;
	return 0;
}

static __poll_t p2p_pgmap_poll(struct file *file, poll_table *wait)
{
	struct p2p_pgmap_owner *owner = file->private_data;

	poll_wait(file, &owner->pdm->poll_wait, wait);
	return READ_ONCE(owner->pdm->hung_up) ? EPOLLHUP | EPOLLERR : 0;
}

/*
 * P2P_PGMAP_IOC_INFO. The structure grew when memory became per file; a
 * caller built with the shorter one (its size is in the ioctl number) gets
 * the fields it knows.
 */
static long p2p_pgmap_ioctl_info(struct p2p_pgmap_owner *owner,
				 unsigned int cmd, void __user *arg)
{
	struct p2p_pgmap_dev *pdm = owner->pdm;
	struct p2p_pgmap_usage dev = {}, file = {};
	struct p2p_pgmap_info info = {};
	size_t size = _IOC_SIZE(cmd);

	if (size < offsetof(struct p2p_pgmap_info, mapped_bytes) ||
	    size > sizeof(info))
		return -ENOTTY;

	down_read(&pdm->lock);
	info.size = pdm->size;
	info.bar_offset = pdm->bar_offset;
	info.bar = pdm->bar;
	info.state = p2p_pgmap_state(pdm);
	info.page_size = PAGE_SIZE;
	info.flags = pdm->via_p2pdma_core ? P2P_PGMAP_INFO_P2PDMA : 0;
	info.file_limit = READ_ONCE(p2p_pgmap_file_limit);
	/*
	 * Once remove is over the pool and the pgmap are gone, though the
	 * file is still open (its holder may have outlived a revoke).
	 */
	if (pdm->pool) {
		if (pgmap_folio_max_order(pdm->pgmap))
			info.flags |= P2P_PGMAP_INFO_LARGE_FOLIOS;
		info.free_bytes = pgmap_folio_pool_free_bytes(pdm->pool);
		info.folios_in_use = pgmap_folios_in_use(pdm->pool);
		info.dirty_bytes = pgmap_folio_pool_dirty_bytes(pdm->pool);
	}
	up_read(&pdm->lock);
	/* Under each file's lock, whose references keep its folios. */
	p2p_pgmap_dev_usage(pdm, &dev);
	p2p_pgmap_owner_usage(owner, &file);
	info.mapped_bytes = dev.mapped;
	info.pinned_only_bytes = dev.pinned_only;
	info.file_held_bytes = file.held;
	info.file_mapped_bytes = file.mapped;
	info.file_pinned_bytes = file.pinned;

	if (copy_to_user(arg, &info, size))
		return -EFAULT;
	return 0;
}

static long p2p_pgmap_ioctl(struct file *file, unsigned int cmd,
			    unsigned long arg)
{
	struct p2p_pgmap_owner *owner = file->private_data;

	if (_IOC_TYPE(cmd) == P2P_PGMAP_IOC_MAGIC && _IOC_NR(cmd) == 0 &&
	    _IOC_DIR(cmd) == _IOC_READ)
		return p2p_pgmap_ioctl_info(owner, cmd, (void __user *)arg);
	if (cmd == P2P_PGMAP_IOC_PLACEMENT)
		return p2p_pgmap_owner_placement(owner, (void __user *)arg);
	if (cmd == P2P_PGMAP_IOC_PUNCH_HOLE)
		return p2p_pgmap_owner_punch(owner, (void __user *)arg);
	if (cmd == P2P_PGMAP_IOC_EXPORT)
		return p2p_pgmap_dmabuf_export(owner, (void __user *)arg);
	return -ENOTTY;
}

static int p2p_pgmap_open(struct inode *inode, struct file *file)
{
	struct p2p_pgmap_dev *pdm =
		container_of(inode->i_cdev, struct p2p_pgmap_dev, cdev);
	struct p2p_pgmap_owner *owner;

	if (READ_ONCE(pdm->dying))
		return -ENXIO;

	owner = p2p_pgmap_owner_create(pdm);
	if (!owner)
		return -ENOMEM;
	file->private_data = owner;
	file->f_mapping = pdm->inode->i_mapping;
	return 0;
}

static int p2p_pgmap_release(struct inode *inode, struct file *file)
{
	p2p_pgmap_owner_close(file->private_data);
	return 0;
}

/*
 * msync(): stores to device memory go straight to the device (the mapping
 * is uncached) and no page cache stands in between: nothing to write back.
 */
static const struct file_operations p2p_pgmap_fops = {
	.owner = THIS_MODULE,
	.open = p2p_pgmap_open,
	.release = p2p_pgmap_release,
	.mmap = p2p_pgmap_mmap,
	.poll = p2p_pgmap_poll,
	.unlocked_ioctl = p2p_pgmap_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.fsync = noop_fsync,
	.llseek = noop_llseek,
#ifdef P2P_PGMAP_LARGE_FOLIOS
	.get_unmapped_area = thp_get_unmapped_area,
#endif
};

/* Freed when the last open file is closed, possibly long after remove. */
static void p2p_pgmap_dev_release(struct device *dev)
{
	struct p2p_pgmap_dev *pdm = container_of(dev, struct p2p_pgmap_dev, dev);

	if (pdm->inode)
		iput(pdm->inode);
	ida_free(&p2p_pgmap_ida, pdm->minor);
	pci_dev_put(pdm->pdev);
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
	init_rwsem(&pdm->lock);
	init_waitqueue_head(&pdm->poll_wait);
	mutex_init(&pdm->owners_lock);
	INIT_LIST_HEAD(&pdm->owners);
	mutex_init(&pdm->dmabufs_lock);
	INIT_LIST_HEAD(&pdm->dmabufs);
	INIT_DELAYED_WORK(&pdm->holders_report, p2p_pgmap_report_holders);

	device_initialize(&pdm->dev);
	pdm->dev.class = &p2p_pgmap_class;
	pdm->dev.parent = &pdev->dev;
	pdm->dev.devt = MKDEV(MAJOR(p2p_pgmap_devt), pdm->minor);
	pdm->dev.release = p2p_pgmap_dev_release;
	cdev_init(&pdm->cdev, &p2p_pgmap_fops);
	pdm->cdev.owner = THIS_MODULE;

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
 * accesses get SIGBUS), makes every open file let go of its memory,
 * revokes every dma-buf exported (importers unmap, maps fail from then
 * on, the dma-buf lets go of its memory), revokes long-term pins where the kernel can (RDMA
 * MRs then fail with an access error), wakes poll() waiters with
 * POLLHUP | POLLERR, removes the device node and, if folios are still
 * referenced, starts reporting whose memory they are. The caller then
 * waits for the folios in memunmap_pages().
 */
void p2p_pgmap_cdev_revoke(struct p2p_pgmap_dev *pdm)
{
	struct p2p_pgmap_owner *owner;

	down_write(&pdm->lock);
	WRITE_ONCE(pdm->dying, true);
	up_write(&pdm->lock);

	unmap_mapping_range(pdm->inode->i_mapping, 0, 0, 1);
	/*
	 * Open files let go of their memory: remove waits for mappings and
	 * pins, never for a file a process keeps open.
	 */
	mutex_lock(&pdm->owners_lock);
	list_for_each_entry(owner, &pdm->owners, node) {
		mutex_lock(&owner->lock);
		p2p_pgmap_owner_drop_all(owner);
		mutex_unlock(&owner->lock);
	}
	mutex_unlock(&pdm->owners_lock);
	/*
	 * Nor for a dma-buf a process keeps: its importers stop and unmap,
	 * and the dma-buf lets go of its memory.
	 */
	p2p_pgmap_dmabuf_revoke_all(pdm);
#ifdef P2P_PGMAP_PINS_REVOCABLE
	/*
	 * No mapping is left and no fault can map one, so no new pin can
	 * follow: the pinners give theirs back now, not when user space
	 * decides to (memunmap_pages() would call this too, later).
	 */
	pgmap_revoke_pins(pdm->pgmap);
#endif
	WRITE_ONCE(pdm->hung_up, true);
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
