// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_pgmap: a PCI BAR as MEMORY_DEVICE_PCI_P2PDMA memory, handed out to
 * userspace as folios through /dev/p2p_pgmapN.
 *
 * Probe and remove. devres releases in reverse order of set-up:
 *
 *   probe                              release (after remove())
 *   p2p_pgmap_dev_create()          <- p2p_pgmap_teardown(): stop the holder
 *                                      report, destroy the pool (flushing
 *                                      its returns), log the remove times,
 *                                      drop the device
 *   enable device + request BAR     <- release BAR, disable device
 *   sysfs group                     <- removed; readable while remove waits
 *   (timestamp)                     <- memunmap_pages() has returned
 *   pgmap                           <- memunmap_pages(): waits for every
 *                                      folio handed out
 *   (timestamp)                     <- memunmap_pages() starts
 *   pool, /dev node                    remove(): dying, zap every user
 *                                      mapping, revoke long-term pins,
 *                                      wake poll, delete the node
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/memremap.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/pgmap_folio.h>
#include <linux/sizes.h>

#include "compat.h"
#include "p2p_pgmap.h"

static int bar = -1;
module_param(bar, int, 0644);
MODULE_PARM_DESC(bar, "BAR to use, read at each probe (default -1: the largest 64-bit prefetchable memory BAR)");

static unsigned long offset;
module_param(offset, ulong, 0644);
MODULE_PARM_DESC(offset, "Offset into the BAR, a multiple of the memory hotplug granularity (2 MiB on x86)");

static unsigned long size;
module_param(size, ulong, 0644);
MODULE_PARM_DESC(size, "Bytes to use (default 0: the rest of the BAR)");

#define PCI_DEVICE_ID_IVSHMEM	0x1110

/* How the memory becomes a pgmap on this kernel, for the probe message. */
#if defined(P2P_PGMAP_VIA_CORE_RESOURCE)
#define P2P_PGMAP_HOW	"P2PDMA provider, core pagemap with the driver's " PGMAP_COMPAT_FREE_NAME
#elif defined(P2P_PGMAP_VIA_ADD_PAGEMAP)
#define P2P_PGMAP_HOW	"P2PDMA provider, pci_p2pdma_add_pagemap"
#else
#define P2P_PGMAP_HOW	"driver pgmap"
#endif

#ifdef P2P_PGMAP_VIA_CORE_RESOURCE
static void p2p_pgmap_core_pool_step(struct p2p_pgmap_dev *pdm);
#endif

/*
 * The pgmap's free callback. Its ops live in the p2p_pgmap_dev, so the
 * callback finds its device from the pgmap alone, whoever built the pgmap.
 */
static void p2p_pgmap_folio_free(struct folio *folio)
{
	struct dev_pagemap *pgmap = pgmap_compat_page_pgmap(folio_page(folio, 0));
	struct p2p_pgmap_dev *pdm = p2p_pgmap_of(pgmap);

#ifdef P2P_PGMAP_VIA_CORE_RESOURCE
	/* Not one of ours: the core's own allocator handed it out. */
	u64 offset = (u64)(folio_pfn(folio) - PHYS_PFN(pgmap->range.start)) <<
		     PAGE_SHIFT;

	if (pgmap_folio_state(pdm->pool, offset) != PGMAP_FOLIO_IN_USE) {
		pgmap_compat_call_free(pdm->core_ops, folio);
		return;
	}
#endif
	/* For the remove log: when did the last user let go? */
	if (READ_ONCE(pdm->dying))
		WRITE_ONCE(pdm->t_last_free, ktime_get());
	/* No longer its file's, before the pool can hand it out again. */
	p2p_pgmap_folio_freed(folio);
	pgmap_folio_return(pdm->pool, folio);
#ifdef P2P_PGMAP_VIA_CORE_RESOURCE
	/* Last thing: this may let remove finish and free @pdm. */
	p2p_pgmap_core_pool_step(pdm);
#endif
}

PGMAP_COMPAT_DEFINE_FREE(p2p_pgmap_folio_free);

static int p2p_pgmap_pick_bar(struct pci_dev *pdev)
{
	const unsigned long want = IORESOURCE_MEM | IORESOURCE_MEM_64 |
				   IORESOURCE_PREFETCH;
	resource_size_t best_len = 0;
	int i, best = -1;

	if (bar >= 0) {
		if (bar >= PCI_STD_NUM_BARS ||
		    !(pci_resource_flags(pdev, bar) & IORESOURCE_MEM) ||
		    (pci_resource_flags(pdev, bar) & IORESOURCE_UNSET) ||
		    !pci_resource_len(pdev, bar)) {
			pci_err(pdev, "BAR %d (module parameter bar) is not an assigned memory BAR\n",
				bar);
			return -ENODEV;
		}
		return bar;
	}

	for (i = 0; i < PCI_STD_NUM_BARS; i++) {
		unsigned long flags = pci_resource_flags(pdev, i);

		if ((flags & want) != want || (flags & IORESOURCE_UNSET))
			continue;
		if (pci_resource_len(pdev, i) > best_len) {
			best_len = pci_resource_len(pdev, i);
			best = i;
		}
	}
	if (best < 0)
		pci_err(pdev, "no assigned 64-bit prefetchable memory BAR; choose one with the module parameter bar\n");
	return best < 0 ? -ENODEV : best;
}

/* Choose the range of the BAR to map, as the module parameters say. */
static int p2p_pgmap_pick_range(struct pci_dev *pdev, struct p2p_pgmap_dev *pdm)
{
	resource_size_t bar_len = pci_resource_len(pdev, pdm->bar);
	/* memremap_pages() works in memory hotplug subsections. */
	unsigned long align = memremap_compat_align();
	u64 start;

	if (offset >= bar_len) {
		pci_err(pdev, "offset %#lx is beyond BAR %d (%pa bytes)\n",
			offset, pdm->bar, &bar_len);
		return -EINVAL;
	}
	pdm->bar_offset = offset;
	pdm->phys_start = pci_resource_start(pdev, pdm->bar) + offset;
	pdm->size = size ? size : bar_len - offset;
	if (pdm->size > bar_len - offset) {
		pci_err(pdev, "offset %#lx + size %#lx is beyond BAR %d (%pa bytes)\n",
			offset, size, pdm->bar, &bar_len);
		return -EINVAL;
	}
	start = pci_resource_start(pdev, pdm->bar) + offset;
	if (!IS_ALIGNED(start, align) || !IS_ALIGNED(pdm->size, align)) {
		pci_err(pdev, "memory %#llx+%#llx of BAR %d is not %#lx aligned, as memory hotplug needs\n",
			start, pdm->size, pdm->bar, align);
		return -EINVAL;
	}
	return 0;
}

static void p2p_pgmap_pci_release(void *data)
{
	struct p2p_pgmap_dev *pdm = data;

	pci_release_region(pdm->pdev, pdm->bar);
	pci_disable_device(pdm->pdev);
}

static void p2p_pgmap_unmap_starts(void *data)
{
	struct p2p_pgmap_dev *pdm = data;

	pdm->t_unmap = ktime_get();
}

static void p2p_pgmap_unmap_done(void *data)
{
	struct p2p_pgmap_dev *pdm = data;

	pdm->t_unmapped = ktime_get();
}

/*
 * Say where the time of a remove went: revoking the users, waiting in
 * memunmap_pages() for the last folio to come back (the pgmap counter),
 * and the rest of memunmap_pages() (the counter's switch to atomic mode,
 * an RCU grace period, and the teardown of the struct pages). Tests and
 * the unplug benchmark read this line.
 */
static void p2p_pgmap_log_remove(struct p2p_pgmap_dev *pdm)
{
	ktime_t done = ktime_get();
	ktime_t last = READ_ONCE(pdm->t_last_free);
	ktime_t users_back = max(pdm->t_unmap, last);

	if (!pdm->t_remove || !pdm->t_unmap || !pdm->t_unmapped)
		return;
	if (!last) {
		pci_info(pdm->pdev, "removed in %lld us: revoke %lld us, wait for users 0 us, unmap %lld us (no folio was in use)\n",
			 ktime_us_delta(done, pdm->t_remove),
			 ktime_us_delta(pdm->t_unmap, pdm->t_remove),
			 ktime_us_delta(pdm->t_unmapped, pdm->t_unmap));
		return;
	}
	pci_info(pdm->pdev, "removed in %lld us: revoke %lld us, wait for users %lld us, unmap %lld us; done %lld us after the last folio was freed\n",
		 ktime_us_delta(done, pdm->t_remove),
		 ktime_us_delta(pdm->t_unmap, pdm->t_remove),
		 ktime_us_delta(users_back, pdm->t_unmap),
		 ktime_us_delta(pdm->t_unmapped, users_back),
		 ktime_us_delta(done, last));
}

/* Runs after memunmap_pages(): every folio is back. */
static void p2p_pgmap_teardown(void *data)
{
	struct p2p_pgmap_dev *pdm = data;
	struct pgmap_folio_pool *pool;

	cancel_delayed_work_sync(&pdm->holders_report);
#ifdef P2P_PGMAP_VIA_CORE_RESOURCE
	cancel_delayed_work_sync(&pdm->core_pool_work);
#endif

	down_write(&pdm->lock);
	pool = pdm->pool;
	pdm->pool = NULL;
	/* memunmap_pages() is over: the pgmap is no more. */
	pdm->pgmap = NULL;
	WRITE_ONCE(pdm->dying, true);
	pdm->gone = true;
	up_write(&pdm->lock);

	pgmap_folio_pool_destroy(pool);
	p2p_pgmap_log_remove(pdm);
	put_device(&pdm->dev);
}

#ifdef P2P_PGMAP_VIA_CORE_RESOURCE
/*
 * A stock P2PDMA kernel (6.2 and later) without pci_p2pdma_add_pagemap():
 * pci_p2pdma_add_resource() builds the only P2PDMA pgmap the core accepts
 * (its struct pci_p2pdma_pagemap, provider and bus offset: DMA mapping,
 * distance checks and GUP's FOLL_PCI_P2PDMA all work for its pages), puts
 * the memory into the device's genalloc pool and frees pages back into it
 * from its own ->folio_free(). The driver makes that memory its own:
 *
 * 1. One pci_alloc_p2pmem() of the whole range drains the core's pool, so
 *    neither the p2pmem sysfs "allocate" file nor an in-kernel user can
 *    take a page from it. The allocation holds one pgmap reference.
 * 2. The pgmap's ops are replaced by the driver's before any page is handed
 *    out. That is safe: the core reads pgmap->ops only in
 *    free_zone_device_folio(), for a folio whose last reference is gone,
 *    and none of this pgmap's folios has ever had a reference (the pool
 *    is drained and the driver has not requested any). The core's own ops
 *    are kept: a folio the driver did not hand out goes back to them.
 * 3. At remove the allocation of step 1 is given back once memunmap_pages()
 *    has killed the pgmap counter and every folio the driver handed out is
 *    free again: from a work item that waits for the kill when no folio is
 *    out then, else from the free callback of the last one (which first
 *    completes the pending returns: since 6.15 a freed P2PDMA folio is done
 *    with as soon as the callback runs; up to 6.14 the core still resets
 *    its count after the callback, so the callback leaves the give-back to
 *    the work item, which looks again until the last return is complete).
 *    Once the counter is dead the core's allocator can hand out nothing
 *    (its percpu_ref_tryget_live() fails), so no page of ours, with the
 *    bytes of a user who left, can reach anyone through it; giving the
 *    allocation back earlier would allow that, or worse, hand out pages
 *    our users still pin. Not giving it back would leave its pgmap
 *    reference for memunmap_pages() to wait on forever. So remove still
 *    waits on the pgmap counter alone, and every folio comes back to the
 *    driver.
 *
 * patches/pgmap-folios/0002 (pci_p2pdma_add_pagemap()) makes all of this
 * unnecessary: with it the core builds the pgmap with the caller's ops and
 * no pool.
 */
/*
 * Give the drained allocation back if remove has started, the pgmap
 * counter is dead and no folio of ours is in use or returning. Returns
 * true while it still waits for the counter to die or for a return to
 * complete (for the work item): a folio in use lets go through the free
 * callback, which calls again.
 */
static bool p2p_pgmap_core_pool_try_give_back(struct p2p_pgmap_dev *pdm)
{
	struct pci_dev *pdev = pdm->pdev;
	size_t size = pdm->size;
	void *give = NULL;
	bool again = false;
	unsigned long flags;

	spin_lock_irqsave(&pdm->core_pool_lock, flags);
	if (!pdm->core_pool_drained || !pdm->core_pool_release_armed)
		goto out;
	/* No pool: probe failed before any folio could be handed out. */
	if (pdm->pool) {
		/* The drained allocation's reference keeps the pgmap alive. */
		if (!percpu_ref_is_dying(&pdm->pgmap->ref)) {
			again = true;
			goto out;
		}
		pgmap_folio_pool_drain(pdm->pool);
		/* Up to 6.14: the core is not done with the last one freed. */
		if (pgmap_folio_pool_returning(pdm->pool)) {
			again = true;
			goto out;
		}
		if (pgmap_folios_in_use(pdm->pool))
			goto out;
	}
	give = pdm->core_pool_drained;
	pdm->core_pool_drained = NULL;
out:
	spin_unlock_irqrestore(&pdm->core_pool_lock, flags);
	/* The pgmap reference it drops may be the last: @pdm may go. */
	if (give)
		pci_free_p2pmem(pdev, give, size);
	return again;
}

/*
 * Until memunmap_pages() has killed the pgmap counter (right after the
 * devm actions registered after ours), and while a freed folio's return
 * is pending, look again every few milliseconds; then give back, or leave
 * that to the free callback of the last folio still out.
 */
static void p2p_pgmap_core_pool_step(struct p2p_pgmap_dev *pdm)
{
	if (p2p_pgmap_core_pool_try_give_back(pdm))
		queue_delayed_work(pgmap_compat_system_wq, &pdm->core_pool_work,
				   msecs_to_jiffies(5));
}

static void p2p_pgmap_core_pool_work(struct work_struct *work)
{
	p2p_pgmap_core_pool_step(container_of(to_delayed_work(work),
					      struct p2p_pgmap_dev,
					      core_pool_work));
}

/* devm action: runs when remove starts, before memunmap_pages(). */
static void p2p_pgmap_core_pool_release(void *data)
{
	struct p2p_pgmap_dev *pdm = data;
	unsigned long flags;

	spin_lock_irqsave(&pdm->core_pool_lock, flags);
	pdm->core_pool_release_armed = true;
	spin_unlock_irqrestore(&pdm->core_pool_lock, flags);
	p2p_pgmap_core_pool_step(pdm);
}

static struct dev_pagemap *p2p_pgmap_map(struct pci_dev *pdev,
					 struct p2p_pgmap_dev *pdm)
{
	u64 start = pci_resource_start(pdev, pdm->bar) + pdm->bar_offset;
	struct dev_pagemap *pgmap;
	int err;

	err = pci_p2pdma_add_resource(pdev, pdm->bar, pdm->size,
				      pdm->bar_offset);
	if (err)
		return ERR_PTR(err);

	pdm->core_pool_drained = pci_alloc_p2pmem(pdev, pdm->size);
	if (!pdm->core_pool_drained) {
		pci_err(pdev, "cannot take the P2PDMA core's pool of BAR %d for the driver\n",
			pdm->bar);
		return ERR_PTR(-EBUSY);
	}
	err = devm_add_action_or_reset(&pdev->dev, p2p_pgmap_core_pool_release,
				       pdm);
	if (err)
		return ERR_PTR(err);

	pgmap = pgmap_compat_get_dev_pagemap(PHYS_PFN(start));
	if (!pgmap)
		return ERR_PTR(-ENXIO);
	/* The drained allocation keeps it alive; we need no reference. */
	put_dev_pagemap(pgmap);
	if (pgmap->type != MEMORY_DEVICE_PCI_P2PDMA ||
	    pgmap->range.start != start ||
	    range_len(&pgmap->range) != pdm->size ||
	    !pgmap->ops || !PGMAP_COMPAT_FREE_FN(pgmap->ops)) {
		pci_err(pdev, "the P2PDMA core's pgmap of BAR %d is not the one it was asked for\n",
			pdm->bar);
		return ERR_PTR(-ENXIO);
	}
	pdm->core_ops = pgmap->ops;
	WRITE_ONCE(pgmap->ops, &pdm->pgmap_ops);
	pdm->via_p2pdma_core = true;
	return pgmap;
}
#elif defined(P2P_PGMAP_VIA_ADD_PAGEMAP)
static struct dev_pagemap *p2p_pgmap_map(struct pci_dev *pdev,
					 struct p2p_pgmap_dev *pdm)
{
	/*
	 * The P2PDMA core container_of()s every P2PDMA pgmap: it must build
	 * this one (provider, bus offset, pdev->p2pdma) for the DMA-mapping
	 * path to be right, with our free callback and no genpool.
	 */
	struct dev_pagemap *pgmap;

	pdm->via_p2pdma_core = true;
	pgmap = pci_p2pdma_add_pagemap(pdev, pdm->bar, pdm->size,
				       pdm->bar_offset, &pdm->pgmap_ops, pdm);
#ifdef P2P_PGMAP_PINS_REVOCABLE
	/*
	 * Opt in to revocable long-term pins (RDMA MRs, patches/revocable-pins):
	 * remove revokes them once no user mapping is left (cdev.c), so they
	 * never keep it waiting. No page is mapped yet, so GUP cannot see
	 * the flag change.
	 */
	if (!IS_ERR(pgmap))
		pgmap->flags |= PGMAP_P2PDMA_LONGTERM_PIN;
#endif
	return pgmap;
}
#elif defined(P2P_PGMAP_OWN_PGMAP)
static struct dev_pagemap *p2p_pgmap_map(struct pci_dev *pdev,
					 struct p2p_pgmap_dev *pdm)
{
	/*
	 * Without CONFIG_PCI_P2PDMA the type only selects uncached kernel
	 * mapping and the refcount convention; nothing in the kernel looks
	 * past the struct dev_pagemap.
	 */
	struct dev_pagemap *pgmap = &pdm->own_pgmap;
	void *addr;

	pgmap->range.start = pci_resource_start(pdev, pdm->bar) +
			     pdm->bar_offset;
	pgmap->range.end = pgmap->range.start + pdm->size - 1;
	pgmap->nr_range = 1;
	pgmap->type = MEMORY_DEVICE_PCI_P2PDMA;
	pgmap->ops = &pdm->pgmap_ops;
	pgmap->owner = pdm;

	addr = devm_memremap_pages(&pdev->dev, pgmap);
	if (IS_ERR(addr))
		return ERR_CAST(addr);
	return pgmap;
}
#endif

static int p2p_pgmap_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct p2p_pgmap_dev *pdm;
	struct dev_pagemap *pgmap;
	int err;

#ifdef P2P_PGMAP_P2PDMA_UNSUPPORTED
	pci_err(pdev, "this kernel has the P2PDMA core (CONFIG_PCI_P2PDMA) but is older than 6.2: its GUP takes P2PDMA pages for ordinary memory (no FOLL_PCI_P2PDMA), so any get_user_pages() user could DMA to the wrong place, and a driver-built P2PDMA pgmap would corrupt memory; refusing. Use 6.2 or later, or a kernel without CONFIG_PCI_P2PDMA\n");
	return -EOPNOTSUPP;
#endif

	pdm = p2p_pgmap_dev_create(pdev);
	if (IS_ERR(pdm))
		return PTR_ERR(pdm);
	pdm->pgmap_ops = (struct dev_pagemap_ops) {
		PGMAP_COMPAT_FREE_OP(p2p_pgmap_folio_free),
	};
#ifdef P2P_PGMAP_VIA_CORE_RESOURCE
	spin_lock_init(&pdm->core_pool_lock);
	INIT_DELAYED_WORK(&pdm->core_pool_work, p2p_pgmap_core_pool_work);
#endif
	err = devm_add_action_or_reset(&pdev->dev, p2p_pgmap_teardown, pdm);
	if (err)
		return err;
	pci_set_drvdata(pdev, pdm);

	pdm->bar = p2p_pgmap_pick_bar(pdev);
	if (pdm->bar < 0)
		return pdm->bar;
	err = p2p_pgmap_pick_range(pdev, pdm);
	if (err)
		return err;

	err = pci_enable_device_mem(pdev);
	if (err) {
		pci_err(pdev, "cannot enable memory decoding: %d\n", err);
		return err;
	}
	err = pci_request_region(pdev, pdm->bar, KBUILD_MODNAME);
	if (err) {
		pci_disable_device(pdev);
		pci_err(pdev, "BAR %d is busy (claimed by another driver?)\n",
			pdm->bar);
		return err;
	}
	err = devm_add_action_or_reset(&pdev->dev, p2p_pgmap_pci_release, pdm);
	if (err)
		return err;

	err = devm_device_add_group(&pdev->dev, &p2p_pgmap_attr_group);
	if (err)
		return err;

	err = devm_add_action_or_reset(&pdev->dev, p2p_pgmap_unmap_done, pdm);
	if (err)
		return err;
	pgmap = p2p_pgmap_map(pdev, pdm);
	if (IS_ERR(pgmap)) {
		err = PTR_ERR(pgmap);
		pci_err(pdev, "cannot map BAR %d as device memory: %d\n",
			pdm->bar, err);
		return err;
	}
	pdm->pgmap = pgmap;
	err = devm_add_action_or_reset(&pdev->dev, p2p_pgmap_unmap_starts, pdm);
	if (err)
		return err;

	pdm->pool = pgmap_folio_pool_create(pgmap, pgmap_folio_max_order(pgmap));
	if (IS_ERR(pdm->pool)) {
		err = PTR_ERR(pdm->pool);
		pdm->pool = NULL;
		return err;
	}
	/*
	 * The BAR holds whatever it held, and freed memory what its last
	 * user left: the pool zeroes free memory in the background, so that
	 * a fault mostly finds it zeroed already.
	 */
	pgmap_folio_pool_zero_freed(pdm->pool, p2p_pgmap_zero);

	err = p2p_pgmap_cdev_add(pdm);
	if (err)
		return err;

	pci_info(pdev, "%llu MiB of BAR %d at offset %#llx as %s (%s)\n",
		 pdm->size >> 20, pdm->bar, pdm->bar_offset,
		 dev_name(&pdm->dev), P2P_PGMAP_HOW);
	return 0;
}

static void p2p_pgmap_remove(struct pci_dev *pdev)
{
	struct p2p_pgmap_dev *pdm = pci_get_drvdata(pdev);

	pdm->t_remove = ktime_get();
	/* devres then waits in memunmap_pages() for every folio. */
	p2p_pgmap_cdev_revoke(pdm);
}

static const struct pci_device_id p2p_pgmap_ids[] = {
	{ PCI_DEVICE(PCI_VENDOR_ID_REDHAT_QUMRANET, PCI_DEVICE_ID_IVSHMEM) },
	{ }
};
MODULE_DEVICE_TABLE(pci, p2p_pgmap_ids);

static struct pci_driver p2p_pgmap_driver = {
	.name = KBUILD_MODNAME,
	.id_table = p2p_pgmap_ids,
	.probe = p2p_pgmap_probe,
	.remove = p2p_pgmap_remove,
};

static int __init p2p_pgmap_init(void)
{
	int err;

	err = p2p_pgmap_owner_init();
	if (err)
		return err;
	err = p2p_pgmap_cdev_init();
	if (err)
		goto out_owner;
	err = pci_register_driver(&p2p_pgmap_driver);
	if (err)
		goto out_cdev;
	return 0;

out_cdev:
	p2p_pgmap_cdev_exit();
out_owner:
	p2p_pgmap_owner_exit();
	return err;
}
module_init(p2p_pgmap_init);

static void __exit p2p_pgmap_exit(void)
{
	pci_unregister_driver(&p2p_pgmap_driver);
	/*
	 * Owners freed by work items put their device, whose release needs
	 * what p2p_pgmap_cdev_exit() takes down: drain them first.
	 */
	p2p_pgmap_owner_exit();
	p2p_pgmap_cdev_exit();
}
module_exit(p2p_pgmap_exit);

MODULE_DESCRIPTION("PCI BAR memory as ZONE_DEVICE folios for userspace");
MODULE_VERSION(P2P_PGMAP_VERSION);
MODULE_LICENSE("GPL");
