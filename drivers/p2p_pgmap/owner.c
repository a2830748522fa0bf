// SPDX-License-Identifier: GPL-2.0
/*
 * The device memory of each open file of /dev/p2p_pgmapN.
 *
 * An open file is an owner: its mmap offsets name memory of its own. A
 * fault on a page of the file that has no memory takes a run of free
 * folios from the pool (pgmap_alloc_folios(): as contiguous, and as
 * aligned to the file offset, as the pool allows), zeroes it and records
 * it as an extent of the file. Every mapping of that page through the same
 * file (another VMA, a child after fork(), a process that got the fd over a
 * Unix socket) finds the extent and shares the folio; no other file can
 * reach it, since no other file's map points at it.
 *
 * The memory of a file lives while it is mapped or pinned. When the last
 * reference of a folio goes, the pgmap's free callback calls
 * p2p_pgmap_folio_freed() before handing the folio back to the pool: the
 * folio is then no longer the file's, and the next touch of that page takes
 * new, zeroed memory. A folio that only a pin holds once its file is closed
 * is in no map that any fault consults: it belongs to nobody and goes back
 * to the pool when the pin goes.
 *
 * Large folios (7.x): an extent may hold folios of several orders; the
 * first page of each points at the extent, and the extent counts pages.
 * The kernel zaps a huge mapping that a partial munmap(), mprotect() or
 * mremap() splits, and drops its reference: the folio, still mapped in
 * part by the VMA, would go back to the pool and the rest of the mapping
 * would find new, zeroed memory. So the split (->may_split()) keeps the
 * folio for its file until the file is closed or the device removed; the
 * next touch maps its pages again, with their bytes.
 *
 * Lifetimes: each folio of an extent holds the extent (zone_device_data
 * points at it), each extent holds its owner, and so does the open file.
 * An owner thus outlives its file while pins hold memory it took, so the
 * remove report and the owners file can still name the process.
 *
 * Locking: owner->lock serialises one file's faults, so files never wait on
 * each other's zeroing. The map is an xarray with interrupt-safe locking,
 * since the free callback, which may run in any context, erases the entries
 * of a dead extent. Extents are freed after an RCU grace period: lookups
 * and the usage walk read them under RCU.
 */
#include <linux/moduleparam.h>
#include <linux/pgmap_folio.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>
#include <uapi/linux/p2p_pgmap.h>

#include "compat.h"
#include "p2p_pgmap.h"

unsigned long p2p_pgmap_file_limit;
module_param_named(file_limit, p2p_pgmap_file_limit, ulong, 0644);
MODULE_PARM_DESC(file_limit, "Most bytes of device memory one open file may hold (default 0: no limit)");

/*
 * Owners are freed from work items of the module's own queue, which module
 * exit drains: a work item still queued when the module's code goes would
 * run freed code.
 */
static struct workqueue_struct *p2p_pgmap_owner_wq;

/* At most this many ranges per P2P_PGMAP_IOC_PLACEMENT call are written. */
#define P2P_PGMAP_PLACEMENT_MAX	4096

/* A line of the owners file (see p2p_pgmap_owners_show()). */
#define P2P_PGMAP_OWNER_LINE "pid=%d file=%s held=%llu mapped=%llu pinned=%llu comm=%s\n"

static void p2p_pgmap_owner_free(struct work_struct *work)
{
	struct p2p_pgmap_owner *owner = container_of(work, struct p2p_pgmap_owner,
						     free_work);
	struct p2p_pgmap_dev *pdm = owner->pdm;

	mutex_lock(&pdm->owners_lock);
	list_del(&owner->node);
	mutex_unlock(&pdm->owners_lock);
	xa_destroy(&owner->map);
	xa_destroy(&owner->kept);
	kfree(owner->fault_pages);
	kfree(owner->fault_folios);
	kfree(owner);
	put_device(&pdm->dev);
}

/* The last put may come from the free callback: free from a work item. */
static void p2p_pgmap_owner_put(struct p2p_pgmap_owner *owner)
{
	if (refcount_dec_and_test(&owner->ref))
		queue_work(p2p_pgmap_owner_wq, &owner->free_work);
}

/**
 * p2p_pgmap_owner_init - set up what owners need, at module load
 *
 * Return: 0 or -ENOMEM.
 */
int p2p_pgmap_owner_init(void)
{
	p2p_pgmap_owner_wq = alloc_workqueue("p2p_pgmap_owners", WQ_UNBOUND, 0);
	return p2p_pgmap_owner_wq ? 0 : -ENOMEM;
}

/**
 * p2p_pgmap_owner_exit - at module unload, once no device is bound: wait
 * for the owners still being freed
 */
void p2p_pgmap_owner_exit(void)
{
	destroy_workqueue(p2p_pgmap_owner_wq);
}

/**
 * p2p_pgmap_owner_create - the owner of a newly opened file
 * @pdm: the device
 *
 * Return: the owner, holding a reference on @pdm's struct device, or NULL
 * when memory is short.
 */
struct p2p_pgmap_owner *p2p_pgmap_owner_create(struct p2p_pgmap_dev *pdm)
{
	struct p2p_pgmap_owner *owner;

	owner = kzalloc_obj(*owner, GFP_KERNEL);
	if (!owner)
		return NULL;
	owner->fault_folios = kcalloc(P2P_PGMAP_FAULT_BATCH,
				      sizeof(*owner->fault_folios), GFP_KERNEL);
	owner->fault_pages = kcalloc(P2P_PGMAP_FAULT_BATCH,
				     sizeof(*owner->fault_pages), GFP_KERNEL);
	if (!owner->fault_folios || !owner->fault_pages) {
		kfree(owner->fault_pages);
		kfree(owner->fault_folios);
		kfree(owner);
		return NULL;
	}

	owner->pdm = pdm;
	refcount_set(&owner->ref, 1);
	owner->tgid = task_tgid_nr(current);
	get_task_comm(owner->comm, current);
	mutex_init(&owner->lock);
	xa_init_flags(&owner->map, XA_FLAGS_LOCK_IRQ);
	xa_init(&owner->kept);
	atomic_long_set(&owner->nr_held, 0);
	INIT_WORK(&owner->free_work, p2p_pgmap_owner_free);

	get_device(&pdm->dev);
	mutex_lock(&pdm->owners_lock);
	list_add_tail(&owner->node, &pdm->owners);
	mutex_unlock(&pdm->owners_lock);
	return owner;
}

/**
 * p2p_pgmap_owner_close - the file of an owner is closed
 * @owner: the owner
 *
 * Its mappings are gone (they hold the file). What pins still hold stays
 * accounted to it until freed; then the owner goes too.
 */
void p2p_pgmap_owner_close(struct p2p_pgmap_owner *owner)
{
	WRITE_ONCE(owner->closed, true);
	p2p_pgmap_owner_drop_kept(owner);
	p2p_pgmap_owner_put(owner);
}

/**
 * p2p_pgmap_owner_keep - keep a large folio across a split of its mapping
 * @owner: the file's owner
 * @pgoff: a page of the file where a mapping is about to be split
 *
 * If the page's memory is a large folio, the file keeps a reference on it
 * until p2p_pgmap_owner_drop_kept(): the split unmaps the whole folio,
 * which must not go back to the pool while the VMA still maps part of it.
 *
 * Context: mmap_lock held for writing.
 */
void p2p_pgmap_owner_keep(struct p2p_pgmap_owner *owner, pgoff_t pgoff)
{
	struct p2p_pgmap_dev *pdm = owner->pdm;
	struct folio *folio;
	struct page *page;
	pgoff_t first;

	down_read(&pdm->lock);
	if (pdm->dying)
		goto out;
	mutex_lock(&owner->lock);
	page = p2p_pgmap_owner_page(owner, pgoff);
	if (page) {
		folio = page_folio(page);
		first = pgoff - folio_page_idx(folio, page);
		/* Kept already, or small: the split takes nothing away. */
		if (!folio_test_large(folio) ||
		    xa_insert(&owner->kept, first, folio, GFP_KERNEL))
			folio_put(folio);
	}
	mutex_unlock(&owner->lock);
out:
	up_read(&pdm->lock);
}

/**
 * p2p_pgmap_owner_drop_kept - drop the folios a file kept across splits
 * @owner: the file's owner
 *
 * At close, and at remove (which must not wait for an open file that only
 * maps memory).
 */
void p2p_pgmap_owner_drop_kept(struct p2p_pgmap_owner *owner)
{
	struct folio *folio;
	unsigned long idx;

	xa_for_each(&owner->kept, idx, folio) {
		folio = xa_erase(&owner->kept, idx);
		if (folio)
			folio_put(folio);
	}
}

/* The page of @ext that holds page @pgoff of its file. */
static struct page *p2p_pgmap_extent_page(struct p2p_pgmap_extent *ext,
					  pgoff_t pgoff)
{
	struct dev_pagemap *pgmap = ext->owner->pdm->pgmap;

	return pfn_to_page(PHYS_PFN(pgmap->range.start) + ext->first +
			   (pgoff - ext->pgoff));
}

/**
 * p2p_pgmap_owner_page - the page holding a page of a file, if it has one
 * @owner: the file's owner
 * @pgoff: page index into the file
 *
 * Context: the device's lock held for reading, with a live pool.
 * Return: the page, with a new reference on its folio that the caller
 * owns, or NULL when the page has no memory (never touched, or given back
 * since).
 */
struct page *p2p_pgmap_owner_page(struct p2p_pgmap_owner *owner,
				  pgoff_t pgoff)
{
	struct p2p_pgmap_extent *ext;
	struct folio *folio = NULL;
	struct page *page = NULL;

	rcu_read_lock();
	ext = xa_load(&owner->map, pgoff);
	if (ext) {
		folio = pgmap_folio_try_get(owner->pdm->pool,
					    (u64)(ext->first + pgoff - ext->pgoff) <<
					    PAGE_SHIFT);
		/* Freed since, and taken again for another extent. */
		if (folio && p2p_compat_folio_zdd(folio) != ext) {
			folio_put(folio);
			folio = NULL;
		}
		if (folio)
			page = p2p_pgmap_extent_page(ext, pgoff);
	}
	rcu_read_unlock();
	return page;
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

/**
 * p2p_pgmap_owner_alloc - new memory for pages of a file
 * @owner: the file's owner
 * @pgoff: the first page, which has no memory
 * @nr: pages wanted from @pgoff on
 * @flags: %PGMAP_ALLOC_WHOLE: all @nr pages, at the same offset from a
 *	2 MiB boundary of the BAR as @pgoff from one of the file, or nothing
 *
 * Takes one run of free memory for @pgoff and as many of the pages after
 * it (up to @nr, up to the first that has memory, within the file limit)
 * as the pool has contiguous, zeroes it and makes it the file's. The
 * folios are left in @owner->fault_folios and every page of the run in
 * @owner->fault_pages; the caller owns a reference on each folio.
 *
 * Context: @owner->lock and the device's lock (for reading) held.
 * Return: the number of pages taken, -ENOSPC when the device has no free
 * memory (with %PGMAP_ALLOC_WHOLE: no such run), -EDQUOT when the file
 * holds file_limit bytes already, -EAGAIN (with %PGMAP_ALLOC_WHOLE) when a
 * page of the range has memory or the limit leaves less than @nr, -ENXIO
 * when the device is going away, -ENOMEM when kernel memory is short.
 */
int p2p_pgmap_owner_alloc(struct p2p_pgmap_owner *owner, pgoff_t pgoff,
			  unsigned long nr, unsigned int flags)
{
	struct p2p_pgmap_dev *pdm = owner->pdm;
	unsigned long limit = READ_ONCE(p2p_pgmap_file_limit) >> PAGE_SHIFT;
	unsigned long held, next = pgoff + 1, want = nr, i, j, k;
	struct p2p_pgmap_extent *ext;
	u64 offset, len;
	int nr_folios, got, err;

	if (nr > 1 && xa_find(&owner->map, &next, pgoff + nr - 1, XA_PRESENT))
		nr = next - pgoff;
	if (limit) {
		held = atomic_long_read(&owner->nr_held);
		if (held >= limit)
			return -EDQUOT;
		nr = min(nr, limit - held);
	}
	if ((flags & PGMAP_ALLOC_WHOLE) && nr < want)
		return -EAGAIN;

	ext = kzalloc_obj(*ext, GFP_KERNEL);
	if (!ext)
		return -ENOMEM;
	/*
	 * At the same offset from a 2 MiB boundary of the BAR as the page
	 * from one of the file, where the pool has such a run: blocks of
	 * both then coincide, as mapping 2 MiB folios will need.
	 */
	len = (u64)nr << PAGE_SHIFT;
	nr_folios = pgmap_alloc_folios(pdm->pool, &len,
				       P2P_PGMAP_FAULT_BATCH * PAGE_SIZE,
				       (u64)(pgoff % P2P_PGMAP_FAULT_BATCH) << PAGE_SHIFT,
				       flags, &offset, owner->fault_folios);
	if (nr_folios < 0) {
		kfree(ext);
		return nr_folios == -ENOMEM ? -ENOSPC : nr_folios;
	}
	got = len >> PAGE_SHIFT;
	owner->nr_fault_folios = nr_folios;

	ext->owner = owner;
	ext->pgoff = pgoff;
	ext->first = offset >> PAGE_SHIFT;
	ext->nr = got;
	atomic_set(&ext->live, got);
	refcount_inc(&owner->ref);
	atomic_long_add(got, &owner->nr_held);
	for (i = 0, k = 0; i < nr_folios; i++) {
		struct folio *folio = owner->fault_folios[i];

		p2p_compat_folio_set_zdd(folio, ext);
		for (j = 0; j < folio_nr_pages(folio); j++)
			owner->fault_pages[k++] = folio_page(folio, j);
	}

	/* The folios of a run are contiguous in the kernel's map too. */
	p2p_pgmap_zero(folio_address(owner->fault_folios[0]),
		       (size_t)got << PAGE_SHIFT);

	for (i = 0; i < got; i++) {
		err = xa_err(xa_store_irq(&owner->map, pgoff + i, ext,
					  GFP_KERNEL));
		if (err) {
			/* The free callback undoes the rest. */
			pgmap_release_folios(owner->fault_folios, nr_folios);
			return err;
		}
	}
	return got;
}

/**
 * p2p_pgmap_folio_freed - a folio of the device lost its last reference
 * @folio: the folio, from the pgmap's free callback
 *
 * It is no longer its file's: a later fault of that page takes new memory.
 * The last folio of an extent takes the extent out of its file's map.
 *
 * Context: any context (where the last folio_put() happened).
 */
void p2p_pgmap_folio_freed(struct folio *folio)
{
	struct p2p_pgmap_extent *ext = p2p_compat_folio_zdd(folio);
	long nr = folio_nr_pages(folio);
	struct p2p_pgmap_owner *owner;
	unsigned long flags;
	unsigned int i;

	if (!ext)
		return;
	p2p_compat_folio_set_zdd(folio, NULL);
	owner = ext->owner;
	atomic_long_sub(nr, &owner->nr_held);
	if (!atomic_sub_and_test(nr, &ext->live))
		return;

	xa_lock_irqsave(&owner->map, flags);
	for (i = 0; i < ext->nr; i++)
		__xa_cmpxchg(&owner->map, ext->pgoff + i, ext, NULL, 0);
	xa_unlock_irqrestore(&owner->map, flags);
	kfree_rcu(ext, rcu);
	p2p_pgmap_owner_put(owner);
}

/**
 * p2p_pgmap_owner_usage - add up what a file's memory is used for
 * @owner: the file's owner
 * @usage: what is added to
 *
 * A snapshot: mappings and pins come and go meanwhile.
 *
 * Context: process context; the device's lock held for reading with a live
 * pool, or remove waiting for folios.
 */
void p2p_pgmap_owner_usage(struct p2p_pgmap_owner *owner,
			   struct p2p_pgmap_usage *usage)
{
	XA_STATE(xas, &owner->map, 0);
	struct p2p_pgmap_extent *ext;
	struct folio *folio;
	struct page *page;
	unsigned int seen = 0;
	pgoff_t first;
	int refs;
	bool mapped;

	usage->held += (u64)atomic_long_read(&owner->nr_held) << PAGE_SHIFT;
	rcu_read_lock();
	xas_for_each(&xas, ext, ULONG_MAX) {
		if (xas_retry(&xas, ext))
			continue;
		page = p2p_pgmap_extent_page(ext, xas.xa_index);
		folio = page_folio(page);
		if (p2p_compat_folio_zdd(folio) != ext)
			continue;
		/* A large folio counts as mapped, or pinned, as a whole. */
		mapped = folio_mapped(folio);
		if (mapped)
			usage->mapped += PAGE_SIZE;
		else
			usage->pinned_only += PAGE_SIZE;
		refs = folio_ref_count(folio);
		first = xas.xa_index - folio_page_idx(folio, page);
		if (xa_load(&owner->kept, first) == folio)
			refs--;		/* the file's own, across a split */
		if (refs > p2p_compat_folio_mapcount(folio))
			usage->pinned += PAGE_SIZE;
		if (++seen % 1024 == 0) {
			xas_pause(&xas);
			rcu_read_unlock();
			cond_resched();
			rcu_read_lock();
		}
	}
	rcu_read_unlock();
}

/**
 * p2p_pgmap_dev_usage - add up what a device's memory is used for
 * @pdm: the device
 * @usage: what is added to
 *
 * Context: as p2p_pgmap_owner_usage().
 */
void p2p_pgmap_dev_usage(struct p2p_pgmap_dev *pdm, struct p2p_pgmap_usage *usage)
{
	struct p2p_pgmap_owner *owner;

	mutex_lock(&pdm->owners_lock);
	list_for_each_entry(owner, &pdm->owners, node)
		p2p_pgmap_owner_usage(owner, usage);
	mutex_unlock(&pdm->owners_lock);
}

/**
 * p2p_pgmap_owners_show - the owners file: one line per owner
 * @pdm: the device
 * @buf: a sysfs buffer
 *
 * "pid=P file=open|closed held=B mapped=B pinned=B comm=NAME": the process
 * that opened the file, whether the file is still open (a closed one is
 * listed while pins hold its memory), and bytes of its memory held, mapped
 * and pinned (references beyond mappings). Lines that do not fit in one
 * page are left out, and a last line says how many.
 *
 * Context: as p2p_pgmap_owner_usage().
 * Return: the length written.
 */
ssize_t p2p_pgmap_owners_show(struct p2p_pgmap_dev *pdm, char *buf)
{
	struct p2p_pgmap_owner *owner;
	unsigned int left_out = 0;
	ssize_t len = 0;

	mutex_lock(&pdm->owners_lock);
	list_for_each_entry(owner, &pdm->owners, node) {
		struct p2p_pgmap_usage usage = {};

		if (len > PAGE_SIZE - 160) {
			left_out++;
			continue;
		}
		p2p_pgmap_owner_usage(owner, &usage);
		len += sysfs_emit_at(buf, len, P2P_PGMAP_OWNER_LINE, owner->tgid,
				     READ_ONCE(owner->closed) ? "closed" : "open",
				     usage.held, usage.mapped, usage.pinned,
				     owner->comm);
	}
	mutex_unlock(&pdm->owners_lock);
	if (left_out)
		len += sysfs_emit_at(buf, len, "and %u more\n", left_out);
	return len;
}

/**
 * p2p_pgmap_owners_report - log who holds device memory
 * @pdm: the device, whose remove waits for folios
 *
 * One line per owner that still holds memory: the process that opened the
 * file, what it holds, maps and pins, and whether the file is closed (the
 * process unmapped and closed, but pins remain).
 */
void p2p_pgmap_owners_report(struct p2p_pgmap_dev *pdm)
{
	struct p2p_pgmap_owner *owner;
	unsigned int shown = 0;

	mutex_lock(&pdm->owners_lock);
	list_for_each_entry(owner, &pdm->owners, node) {
		struct p2p_pgmap_usage usage = {};

		p2p_pgmap_owner_usage(owner, &usage);
		if (!usage.held)
			continue;
		if (shown++ == 16) {
			dev_warn(&pdm->dev, "  and more owners\n");
			break;
		}
		dev_warn(&pdm->dev, "  opened by pid %d (%s): %llu bytes held, %llu mapped, %llu pinned%s\n",
			 owner->tgid, owner->comm, usage.held, usage.mapped,
			 usage.pinned,
			 READ_ONCE(owner->closed) ? "; file closed" : "");
	}
	mutex_unlock(&pdm->owners_lock);
	if (!shown)
		dev_warn(&pdm->dev, "  by no file's memory: references in flight\n");
}

/* Add a page to the ranges being built; false when they are full. */
static bool p2p_pgmap_range_add(struct p2p_pgmap_range *ranges, u32 *nr,
				u32 room, u64 offset, u64 bar_offset)
{
	struct p2p_pgmap_range *last = *nr ? &ranges[*nr - 1] : NULL;

	if (last && last->offset + last->len == offset &&
	    last->bar_offset + last->len == bar_offset) {
		last->len += PAGE_SIZE;
		return true;
	}
	if (*nr == room)
		return false;
	ranges[(*nr)++] = (struct p2p_pgmap_range) {
		.offset = offset, .bar_offset = bar_offset, .len = PAGE_SIZE,
	};
	return true;
}

/**
 * p2p_pgmap_owner_placement - P2P_PGMAP_IOC_PLACEMENT
 * @owner: the file's owner
 * @arg: the user's struct p2p_pgmap_placement
 *
 * Context: process context; takes the device's lock for reading, and
 * copies from and to the user with no lock held (a fault on the user's
 * buffer takes mmap_lock, which ->mmap() holds around the device's lock).
 * Return: 0, -EFAULT, -EINVAL for an unaligned offset, a span past the
 * device's size or flags set on input, -ENXIO once the device is gone,
 * -ENOMEM.
 */
int p2p_pgmap_owner_placement(struct p2p_pgmap_owner *owner, void __user *arg)
{
	struct p2p_pgmap_dev *pdm = owner->pdm;
	struct p2p_pgmap_placement pl;
	struct p2p_pgmap_range *ranges;
	struct p2p_pgmap_extent *ext;
	unsigned long idx, first, last;
	u32 room, nr = 0;
	bool more = false;
	int err = 0;

	if (copy_from_user(&pl, arg, sizeof(pl)))
		return -EFAULT;
	if (pl.flags || !PAGE_ALIGNED(pl.offset) || !pl.len ||
	    pl.offset >= pdm->size || pl.len > pdm->size - pl.offset)
		return -EINVAL;
	room = min_t(u32, pl.nr_ranges, P2P_PGMAP_PLACEMENT_MAX);
	ranges = kvcalloc(max_t(u32, room, 1), sizeof(*ranges), GFP_KERNEL);
	if (!ranges)
		return -ENOMEM;
	first = pl.offset >> PAGE_SHIFT;
	last = (pl.offset + pl.len - 1) >> PAGE_SHIFT;

	down_read(&pdm->lock);
	if (!pdm->pool) {
		up_read(&pdm->lock);
		kvfree(ranges);
		return -ENXIO;
	}
	mutex_lock(&owner->lock);
	rcu_read_lock();
	xa_for_each_range(&owner->map, idx, ext, first, last) {
		struct folio *folio = page_folio(p2p_pgmap_extent_page(ext, idx));
		u64 bar_offset;

		if (p2p_compat_folio_zdd(folio) != ext)
			continue;
		bar_offset = pdm->bar_offset +
			     ((u64)(ext->first + idx - ext->pgoff) << PAGE_SHIFT);
		if (!p2p_pgmap_range_add(ranges, &nr, room, (u64)idx << PAGE_SHIFT,
					 bar_offset)) {
			more = true;
			break;
		}
	}
	rcu_read_unlock();
	mutex_unlock(&owner->lock);
	up_read(&pdm->lock);

	if (nr && copy_to_user(u64_to_user_ptr(pl.ranges), ranges,
			       nr * sizeof(*ranges)))
		err = -EFAULT;
	pl.nr_ranges = nr;
	pl.flags = more ? P2P_PGMAP_PLACEMENT_MORE : 0;
	if (!err && copy_to_user(arg, &pl, sizeof(pl)))
		err = -EFAULT;
	kvfree(ranges);
	return err;
}
