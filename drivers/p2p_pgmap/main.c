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
 *                                      mapping, wake poll, delete the node
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
module_param(bar, int, 0444);
MODULE_PARM_DESC(bar, "BAR to use (default -1: the largest 64-bit prefetchable memory BAR)");

static unsigned long offset;
module_param(offset, ulong, 0444);
MODULE_PARM_DESC(offset, "Offset into the BAR, a multiple of the memory hotplug granularity (2 MiB on x86)");

static unsigned long size;
module_param(size, ulong, 0444);
MODULE_PARM_DESC(size, "Bytes to use (default 0: the rest of the BAR)");

#define PCI_DEVICE_ID_IVSHMEM	0x1110

static void p2p_pgmap_folio_free(struct folio *folio)
{
	struct dev_pagemap *pgmap = pgmap_compat_page_pgmap(folio_page(folio, 0));
	struct p2p_pgmap_dev *pdm = pgmap->owner;

	/* For the remove log: when did the last user let go? */
	if (READ_ONCE(pdm->dying))
		WRITE_ONCE(pdm->t_last_free, ktime_get());
	pgmap_folio_return(pdm->pool, folio);
}

PGMAP_COMPAT_DEFINE_FREE(p2p_pgmap_folio_free);

static const struct dev_pagemap_ops p2p_pgmap_ops = {
	PGMAP_COMPAT_FREE_OP(p2p_pgmap_folio_free),
};

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

	mutex_lock(&pdm->lock);
	pool = pdm->pool;
	pdm->pool = NULL;
	WRITE_ONCE(pdm->dying, true);
	pdm->gone = true;
	mutex_unlock(&pdm->lock);

	pgmap_folio_pool_destroy(pool);
	p2p_pgmap_log_remove(pdm);
	put_device(&pdm->dev);
}

static struct dev_pagemap *p2p_pgmap_map(struct pci_dev *pdev,
					 struct p2p_pgmap_dev *pdm)
{
#ifdef P2P_PGMAP_VIA_P2PDMA_CORE
	/*
	 * The P2PDMA core container_of()s every P2PDMA pgmap: it must build
	 * this one (provider, bus offset, pdev->p2pdma) for the DMA-mapping
	 * path to be right, with our ->page_free() and no genpool.
	 */
	struct dev_pagemap *pgmap;

	pdm->via_p2pdma_core = true;
	pgmap = pci_p2pdma_add_pagemap(pdev, pdm->bar, pdm->size,
				       pdm->bar_offset, &p2p_pgmap_ops, pdm);
#ifdef PGMAP_P2PDMA_LONGTERM_PIN
	/*
	 * Opt in to long-term pins (RDMA MRs, patches/0002): remove tells
	 * the holders, names them and waits for them on the pgmap counter.
	 * No page is mapped yet, so GUP cannot see the flag change.
	 */
	if (!IS_ERR(pgmap))
		pgmap->flags |= PGMAP_P2PDMA_LONGTERM_PIN;
#endif
	return pgmap;
#else
	/*
	 * Without CONFIG_PCI_P2PDMA the type only selects uncached kernel
	 * mapping and idle-at-one refcounting; nothing in the kernel looks
	 * past the struct dev_pagemap.
	 */
	struct dev_pagemap *pgmap = &pdm->own_pgmap;
	void *addr;

	pgmap->range.start = pci_resource_start(pdev, pdm->bar) +
			     pdm->bar_offset;
	pgmap->range.end = pgmap->range.start + pdm->size - 1;
	pgmap->nr_range = 1;
	pgmap->type = MEMORY_DEVICE_PCI_P2PDMA;
	pgmap->ops = &p2p_pgmap_ops;
	pgmap->owner = pdm;

	addr = devm_memremap_pages(&pdev->dev, pgmap);
	if (IS_ERR(addr))
		return ERR_CAST(addr);
	return pgmap;
#endif
}

static int p2p_pgmap_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct p2p_pgmap_dev *pdm;
	struct dev_pagemap *pgmap;
	int err;

#ifdef P2P_PGMAP_P2PDMA_CORE_UNPATCHED
	pci_err(pdev, "kernel has CONFIG_PCI_P2PDMA but not pci_p2pdma_add_pagemap() (patches/0001-PCI-P2PDMA-*): a driver-built P2PDMA pgmap would corrupt memory there, refusing\n");
	return -EOPNOTSUPP;
#endif

	pdm = p2p_pgmap_dev_create(pdev);
	if (IS_ERR(pdm))
		return PTR_ERR(pdm);
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

	pdm->pool = pgmap_folio_pool_create(pgmap);
	if (IS_ERR(pdm->pool)) {
		err = PTR_ERR(pdm->pool);
		pdm->pool = NULL;
		return err;
	}

	err = p2p_pgmap_cdev_add(pdm);
	if (err)
		return err;

	pci_info(pdev, "%llu MiB of BAR %d at offset %#llx as %s (%s)\n",
		 pdm->size >> 20, pdm->bar, pdm->bar_offset,
		 dev_name(&pdm->dev),
		 pdm->via_p2pdma_core ? "P2PDMA provider" : "driver pgmap");
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

	err = p2p_pgmap_cdev_init();
	if (err)
		return err;
	err = pci_register_driver(&p2p_pgmap_driver);
	if (err)
		p2p_pgmap_cdev_exit();
	return err;
}
module_init(p2p_pgmap_init);

static void __exit p2p_pgmap_exit(void)
{
	pci_unregister_driver(&p2p_pgmap_driver);
	p2p_pgmap_cdev_exit();
}
module_exit(p2p_pgmap_exit);

MODULE_DESCRIPTION("PCI BAR memory as ZONE_DEVICE folios for userspace");
MODULE_LICENSE("GPL");
