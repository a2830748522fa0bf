// SPDX-License-Identifier: GPL-2.0
/*
 * The device memory of each open file of /dev/p2p_pgmapN.
 *
 * An open file is an owner: its mmap offsets name memory of its own, as
 * the pages of a memfd do. A fault on a page of the file that has no
 * memory takes a run of free, zeroed folios from the pool
 * (pgmap_alloc_folios(): as contiguous, and as aligned to the file offset,
 * as the pool allows) and enters each folio in the file's map. Every
 * mapping of that page through the same file (another VMA, a child after
 * fork(), a process that got the fd over a Unix socket) finds it there and
 * shares the folio; no other file can reach it, since no other file's map
 * holds it.
 *
 * The file holds one reference on each folio of its map, from the fault
 * that took it until the file is released (every fd closed and every
 * mapping gone), the user gives the range back (P2P_PGMAP_IOC_PUNCH_HOLE),
 * or the device is removed. Page tables and pins hold references of their
 * own. So core mm may drop any PTE or PMD at any time (munmap(),
 * MADV_DONTNEED, the split of a huge mapping, mremap(), an exiting child)
 * and the next fault finds the same bytes, as it would in the page cache.
 * When the last reference of a folio goes, the pgmap's free callback calls
 * p2p_pgmap_folio_freed() and hands the folio back to the pool, which
 * zeroes it before anyone gets it again. A folio that only a pin holds
 * once its file has let go of it is in no map: it belongs to nobody and
 * goes back to the pool when the pin goes.
 *
 * The map is a maple tree with one entry per folio, over the folio's pages
 * of the file: a 2 MiB folio is one entry, not 512.
 *
 * Lifetimes: each folio the file took holds the owner (zone_device_data
 * points at it) until it is freed, and so does the open file. An owner
 * thus outlives its file while pins hold memory it took, so the remove
 * report and the owners file can still name the process.
 *
 * Locking: owner->lock serialises one file's faults and every change of
 * its map, so files never wait on each other. The folios in the map are
 * held by the file: whoever holds owner->lock may use them without a
 * reference of its own. The maple tree's own lock and RCU cover its
 * nodes.
 */
#include <linux/maple_tree.h>
#include <linux/moduleparam.h>
#include <linux/pgmap_folio.h>
#include <linux/rcupdate.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <linux/uaccess.h>
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

/* Folios whose file reference one step of p2p_pgmap_owner_drop_all() drops. */
#define P2P_PGMAP_DROP_BATCH	64

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
	mtree_destroy(&owner->map);
	kfree(owner->fault.pages);
	kfree(owner->fault.folios);
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
	owner->fault.folios = kcalloc(P2P_PGMAP_FAULT_BATCH,
				      sizeof(*owner->fault.folios), GFP_KERNEL);
	owner->fault.pages = kcalloc(P2P_PGMAP_FAULT_BATCH,
				     sizeof(*owner->fault.pages), GFP_KERNEL);
	if (!owner->fault.folios || !owner->fault.pages) {
		kfree(owner->fault.pages);
		kfree(owner->fault.folios);
		kfree(owner);
		return NULL;
	}

	owner->pdm = pdm;
	refcount_set(&owner->ref, 1);
	owner->tgid = task_tgid_nr(current);
	get_task_comm(owner->comm, current);
	mutex_init(&owner->lock);
	mt_init(&owner->map);
	atomic_long_set(&owner->nr_held, 0);
	INIT_WORK(&owner->free_work, p2p_pgmap_owner_free);

	get_device(&pdm->dev);
	mutex_lock(&pdm->owners_lock);
	list_add_tail(&owner->node, &pdm->owners);
	mutex_unlock(&pdm->owners_lock);
	return owner;
}

/**
 * p2p_pgmap_owner_close - the file of an owner is released
 * @owner: the owner
 *
 * Its last fd is closed and its last mapping gone (mappings hold the
 * file): it lets go of all its memory. What pins still hold stays
 * accounted to it until freed; then the owner goes too.
 */
void p2p_pgmap_owner_close(struct p2p_pgmap_owner *owner)
{
	mutex_lock(&owner->lock);
	WRITE_ONCE(owner->closed, true);
	p2p_pgmap_owner_drop_all(owner);
	mutex_unlock(&owner->lock);
	p2p_pgmap_owner_put(owner);
}

/*
 * The folio of the map whose pages include @pgoff, or the first one after
 * it up to @last; its first page of the file in *@start. Under owner->lock.
 */
static struct folio *p2p_pgmap_map_find(struct p2p_pgmap_owner *owner,
					pgoff_t pgoff, pgoff_t last,
					pgoff_t *start)
{
	MA_STATE(mas, &owner->map, pgoff, pgoff);
	struct folio *folio;

	rcu_read_lock();
	folio = mas_find(&mas, last);
	*start = mas.index;
	rcu_read_unlock();
	return folio;
}

/**
 * p2p_pgmap_owner_page - the page holding a page of a file, if it has one
 * @owner: the file's owner
 * @pgoff: page index into the file
 *
 * Context: @owner->lock held; the file's reference keeps the page's folio
 * while it is.
 * Return: the page, or NULL when the page has no memory (never touched,
 * or given back since).
 */
struct page *p2p_pgmap_owner_page(struct p2p_pgmap_owner *owner,
				  pgoff_t pgoff)
{
	struct folio *folio;
	pgoff_t start;

	lockdep_assert_held(&owner->lock);
	folio = p2p_pgmap_map_find(owner, pgoff, pgoff, &start);
	return folio ? folio_page(folio, pgoff - start) : NULL;
}

/*
 * Drop the file's reference on @folio, whose pages of the file begin at
 * @start, and take it out of the map. Under owner->lock. Returns 0, or
 * -ENOMEM when the map could not be changed (the folio stays the file's).
 */
static int p2p_pgmap_map_drop(struct p2p_pgmap_owner *owner,
			      struct folio *folio, pgoff_t start)
{
	mtree_erase(&owner->map, start);
	/* An erase that splits a node may need memory, and not get it. */
	if (mtree_load(&owner->map, start) == folio)
		return -ENOMEM;
	folio_put(folio);
	return 0;
}

/**
 * p2p_pgmap_owner_drop_all - a file lets go of all its memory
 * @owner: the file's owner
 *
 * At the release of the file, and at remove (which must not wait for an
 * open file). Memory still mapped or pinned stays until that goes, and is
 * no longer the file's.
 *
 * Context: @owner->lock held; process context.
 */
void p2p_pgmap_owner_drop_all(struct p2p_pgmap_owner *owner)
{
	MA_STATE(mas, &owner->map, 0, 0);
	struct folio *batch[P2P_PGMAP_DROP_BATCH];
	struct folio *folio;
	unsigned int nr, i;

	lockdep_assert_held(&owner->lock);
	do {
		nr = 0;
		rcu_read_lock();
		mas_for_each(&mas, folio, ULONG_MAX) {
			batch[nr++] = folio;
			if (nr == ARRAY_SIZE(batch)) {
				mas_pause(&mas);
				break;
			}
		}
		rcu_read_unlock();
		/* Nobody reads the map without owner->lock, which we hold. */
		for (i = 0; i < nr; i++)
			folio_put(batch[i]);
		cond_resched();
	} while (nr == ARRAY_SIZE(batch));
	/* Frees the tree's nodes; needs no memory, unlike erasing one by one. */
	mtree_destroy(&owner->map);
}

/*
 * Zero through the kernel's map of the BAR, which is uncached: with plain
 * 8-byte stores, the widest a CPU issues there outside vector registers,
 * then the bytes of an unaligned head or tail. String stores gain nothing
 * on uncached memory (the rep stosb of clear_page() even goes out a byte
 * at a time), and emulators run them an iteration at a time. WRITE_ONCE()
 * keeps the compiler from turning the loop back into a memset().
 */
static void p2p_pgmap_zero_bytes(void *addr, size_t len)
{
	u8 *byte = addr, *end = byte + len;

	while (byte < end && !IS_ALIGNED((unsigned long)byte, 8))
		WRITE_ONCE(*byte++, 0);
	while (byte + 64 <= end) {
		for (int i = 0; i < 8; i++)
			WRITE_ONCE(((u64 *)byte)[i], 0);
		byte += 64;
	}
	while (byte + 8 <= end) {
		WRITE_ONCE(*(u64 *)byte, 0);
		byte += 8;
	}
	while (byte < end)
		WRITE_ONCE(*byte++, 0);
}

/**
 * p2p_pgmap_zero - the pool's zeroing of a run of device memory
 * @pgmap: the device's pgmap
 * @offset: byte offset of the run into @pgmap, page aligned
 * @len: bytes
 *
 * Memory of a device going away is handed to nobody again: it is left as
 * it is (what its users left stays in the device, as it would after the
 * device is unplugged; a later probe zeroes everything before use), and
 * remove does not wait for it.
 *
 * Context: process context; the pool keeps the run from everyone else.
 */
void p2p_pgmap_zero(struct dev_pagemap *pgmap, u64 offset, u64 len)
{
	if (READ_ONCE(p2p_pgmap_of(pgmap)->dying))
		return;
	/* A run is contiguous in the kernel's map too. */
	p2p_pgmap_zero_bytes(page_address(pfn_to_page(PHYS_PFN(pgmap->range.start +
								 offset))),
			     len);
}

/**
 * p2p_pgmap_owner_punch - P2P_PGMAP_IOC_PUNCH_HOLE: give a range back
 * @owner: the file's owner
 * @arg: the user's struct p2p_pgmap_punch
 *
 * Every folio wholly inside the range leaves the file (it goes back to the
 * device once no mapping or pin holds it); the bytes of the range in a
 * folio only partly inside it are zeroed. Either way the range then reads
 * zero, as after fallocate(FALLOC_FL_PUNCH_HOLE) of a regular file. User
 * mappings of the range are zapped first (of every file of the device:
 * they share one address space, and a zapped mapping of another file
 * faults its own memory back in).
 *
 * Context: process context; takes the device's lock for reading and
 * @owner->lock.
 * Return: 0, -EFAULT, -EINVAL for an empty range, one past the device's
 * size or flags set, -ENXIO once the device is going away, -ENOMEM.
 */
int p2p_pgmap_owner_punch(struct p2p_pgmap_owner *owner, void __user *arg)
{
	struct p2p_pgmap_dev *pdm = owner->pdm;
	struct p2p_pgmap_punch ph;
	u64 end, fstart, fend, from, to;
	pgoff_t pgoff, last, start;
	struct folio *folio;
	int err = 0;

	if (copy_from_user(&ph, arg, sizeof(ph)))
		return -EFAULT;
	if (ph.flags || !ph.len || ph.offset >= pdm->size ||
	    ph.len > pdm->size - ph.offset)
		return -EINVAL;
	end = ph.offset + ph.len;

	down_read(&pdm->lock);
	if (pdm->dying) {
		up_read(&pdm->lock);
		return -ENXIO;
	}
	mutex_lock(&owner->lock);
	unmap_mapping_range(pdm->inode->i_mapping, round_down(ph.offset, PAGE_SIZE),
			    round_up(end, PAGE_SIZE) - round_down(ph.offset, PAGE_SIZE), 1);
	pgoff = ph.offset >> PAGE_SHIFT;
	last = (end - 1) >> PAGE_SHIFT;
	while (pgoff <= last) {
		folio = p2p_pgmap_map_find(owner, pgoff, last, &start);
		if (!folio)
			break;
		fstart = (u64)start << PAGE_SHIFT;
		fend = fstart + folio_size(folio);
		if (fstart >= ph.offset && fend <= end) {
			err = p2p_pgmap_map_drop(owner, folio, start);
			if (err)
				break;
		} else {
			from = max(fstart, ph.offset);
			to = min(fend, end);
			p2p_pgmap_zero_bytes(folio_address(folio) + (from - fstart),
					     to - from);
		}
		pgoff = start + folio_nr_pages(folio);
		cond_resched();
	}
	mutex_unlock(&owner->lock);
	up_read(&pdm->lock);
	return err;
}

/**
 * p2p_pgmap_owner_alloc - new memory for pages of a file
 * @owner: the file's owner
 * @pgoff: the first page, which has no memory
 * @nr: pages wanted from @pgoff on
 * @flags: %PGMAP_ALLOC_WHOLE: all @nr pages, at the same offset from a
 *	2 MiB boundary of the BAR as @pgoff from one of the file, or nothing
 *
 * Takes one run of free, zeroed memory for @pgoff and as many of the pages
 * after it (up to @nr, up to the first that has memory, within the file
 * limit) as the pool has contiguous, and enters its folios in the file's
 * map, which holds the reference each comes with. The folios are left in
 * @owner->fault.folios and every page of the run in @owner->fault.pages.
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
	struct p2p_pgmap_fault_batch *fb = &owner->fault;
	struct p2p_pgmap_dev *pdm = owner->pdm;
	unsigned long limit_bytes = READ_ONCE(p2p_pgmap_file_limit);
	unsigned long held, want = nr, i, j, k;
	pgoff_t start, next;
	u64 offset, len;
	int nr_folios, got, err;

	lockdep_assert_held(&owner->lock);
	if (nr > 1 && p2p_pgmap_map_find(owner, pgoff + 1, pgoff + nr - 1, &start))
		nr = start - pgoff;
	/* A limit below one page allows none, as at mmap(). */
	if (limit_bytes) {
		held = atomic_long_read(&owner->nr_held);
		if (held >= limit_bytes >> PAGE_SHIFT)
			return -EDQUOT;
		nr = min(nr, (limit_bytes >> PAGE_SHIFT) - held);
	}
	if ((flags & PGMAP_ALLOC_WHOLE) && nr < want)
		return -EAGAIN;

	/*
	 * At the same offset from a 2 MiB boundary of the BAR as the page
	 * from one of the file, where the pool has such a run: blocks of
	 * both then coincide, as mapping 2 MiB folios will need.
	 */
	len = (u64)nr << PAGE_SHIFT;
	nr_folios = pgmap_alloc_folios(pdm->pool, &len,
				       P2P_PGMAP_FAULT_BATCH * PAGE_SIZE,
				       (u64)(pgoff % P2P_PGMAP_FAULT_BATCH) << PAGE_SHIFT,
				       flags | PGMAP_ALLOC_ZEROED, &offset,
				       fb->folios);
	if (nr_folios < 0)
		return nr_folios == -ENOMEM ? -ENOSPC : nr_folios;
	got = len >> PAGE_SHIFT;
	fb->nr_folios = nr_folios;

	/* Each folio holds the owner and counts as held until it is freed. */
	refcount_add(nr_folios, &owner->ref);
	atomic_long_add(got, &owner->nr_held);
	for (i = 0, k = 0; i < nr_folios; i++) {
		struct folio *folio = fb->folios[i];

		p2p_compat_folio_set_zdd(folio, owner);
		for (j = 0; j < folio_nr_pages(folio); j++)
			fb->pages[k++] = folio_page(folio, j);
	}
	for (i = 0, next = pgoff; i < nr_folios; i++) {
		struct folio *folio = fb->folios[i];

		err = mtree_insert_range(&owner->map, next,
					 next + folio_nr_pages(folio) - 1, folio,
					 GFP_KERNEL);
		if (err) {
			/*
			 * Out of the map, then freed with the rest; one whose
			 * erase found no memory stays the file's, as if the
			 * fault had succeeded that far.
			 */
			for (j = nr_folios; j-- > i; )
				folio_put(fb->folios[j]);
			while (i--) {
				next -= folio_nr_pages(fb->folios[i]);
				p2p_pgmap_map_drop(owner, fb->folios[i], next);
			}
			return err;
		}
		next += folio_nr_pages(folio);
	}
	return got;
}

/**
 * p2p_pgmap_folio_freed - a folio of the device lost its last reference
 * @folio: the folio, from the pgmap's free callback
 *
 * No file, mapping or pin holds it any more: it is accounted to its owner
 * no longer.
 *
 * Context: any context (where the last folio_put() happened).
 */
void p2p_pgmap_folio_freed(struct folio *folio)
{
	struct p2p_pgmap_owner *owner = p2p_compat_folio_zdd(folio);

	if (!owner)
		return;
	p2p_compat_folio_set_zdd(folio, NULL);
	atomic_long_sub(folio_nr_pages(folio), &owner->nr_held);
	p2p_pgmap_owner_put(owner);
}

/**
 * p2p_pgmap_owner_usage - add up what a file's memory is used for
 * @owner: the file's owner
 * @usage: what is added to
 *
 * One step per folio of the file's map, under the file's lock (whose
 * references keep the folios), not the device's. Memory the file took and
 * let go of that a pin still holds counts as pinned only. A snapshot:
 * mappings and pins come and go meanwhile.
 *
 * Context: process context; takes @owner->lock.
 */
void p2p_pgmap_owner_usage(struct p2p_pgmap_owner *owner,
			   struct p2p_pgmap_usage *usage)
{
	MA_STATE(mas, &owner->map, 0, 0);
	struct folio *folio;
	unsigned int seen = 0;
	u64 in_map = 0, held;
	int refs;

	mutex_lock(&owner->lock);
	rcu_read_lock();
	mas_for_each(&mas, folio, ULONG_MAX) {
		u64 size = folio_size(folio);

		in_map += size;
		/* A large folio counts as mapped, or pinned, as a whole. */
		if (folio_mapped(folio))
			usage->mapped += size;
		/* Beyond the file's own reference and one per mapping. */
		refs = folio_ref_count(folio) - 1;
		if (refs > p2p_compat_folio_mapcount(folio)) {
			usage->pinned += size;
			if (!folio_mapped(folio))
				usage->pinned_only += size;
		}
		if (++seen % 1024 == 0) {
			mas_pause(&mas);
			rcu_read_unlock();
			cond_resched();
			rcu_read_lock();
		}
	}
	rcu_read_unlock();
	/* Read last: only frees of folios out of the map lower it meanwhile. */
	held = (u64)atomic_long_read(&owner->nr_held) << PAGE_SHIFT;
	mutex_unlock(&owner->lock);
	usage->held += held;
	if (held > in_map) {
		usage->pinned += held - in_map;
		usage->pinned_only += held - in_map;
	}
}

/**
 * p2p_pgmap_dev_usage - add up what a device's memory is used for
 * @pdm: the device
 * @usage: what is added to
 *
 * Context: process context; not under the device's lock.
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
 * and pinned (references beyond the file's and the mappings'). Lines that
 * do not fit in one page are left out, and a last line says how many.
 *
 * Context: process context.
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

/* Add a run to the ranges being built; false when they are full. */
static bool p2p_pgmap_range_add(struct p2p_pgmap_range *ranges, u32 *nr,
				u32 room, u64 offset, u64 bar_offset, u64 len)
{
	struct p2p_pgmap_range *last = *nr ? &ranges[*nr - 1] : NULL;

	if (last && last->offset + last->len == offset &&
	    last->bar_offset + last->len == bar_offset) {
		last->len += len;
		return true;
	}
	if (*nr == room)
		return false;
	ranges[(*nr)++] = (struct p2p_pgmap_range) {
		.offset = offset, .bar_offset = bar_offset, .len = len,
	};
	return true;
}

/**
 * p2p_pgmap_owner_placement - P2P_PGMAP_IOC_PLACEMENT
 * @owner: the file's owner
 * @arg: the user's struct p2p_pgmap_placement
 *
 * One step per folio of the file's map, under the file's lock.
 *
 * Context: process context; copies from and to the user with no lock held
 * (a fault on the user's buffer takes mmap_lock, which ->mmap() holds
 * around the device's lock).
 * Return: 0, -EFAULT, -EINVAL for an unaligned offset, a span past the
 * device's size or flags set on input, -ENXIO once the device is gone,
 * -ENOMEM.
 */
int p2p_pgmap_owner_placement(struct p2p_pgmap_owner *owner, void __user *arg)
{
	struct p2p_pgmap_dev *pdm = owner->pdm;
	struct p2p_pgmap_placement pl;
	struct p2p_pgmap_range *ranges;
	pgoff_t pgoff, first, last, start;
	struct folio *folio;
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

	if (READ_ONCE(pdm->gone)) {
		kvfree(ranges);
		return -ENXIO;
	}
	mutex_lock(&owner->lock);
	for (pgoff = first; pgoff <= last; pgoff = start + folio_nr_pages(folio)) {
		pgoff_t from, to;
		u64 bar_offset;

		folio = p2p_pgmap_map_find(owner, pgoff, last, &start);
		if (!folio)
			break;
		from = max(start, first);
		to = min(start + folio_nr_pages(folio) - 1, last);
		bar_offset = pdm->bar_offset - pdm->phys_start +
			     PFN_PHYS(folio_pfn(folio) + (from - start));
		if (!p2p_pgmap_range_add(ranges, &nr, room, (u64)from << PAGE_SHIFT,
					 bar_offset, (u64)(to - from + 1) << PAGE_SHIFT)) {
			more = true;
			break;
		}
		cond_resched();
	}
	mutex_unlock(&owner->lock);

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

/* Take memory for the pages of [@first, @last] that have none. */
static int p2p_pgmap_owner_fill(struct p2p_pgmap_owner *owner, pgoff_t first,
				pgoff_t last)
{
	pgoff_t pgoff = first, start, hole_end;
	struct folio *folio;
	unsigned long nr;
	int got;

	while (pgoff <= last) {
		folio = p2p_pgmap_map_find(owner, pgoff, last, &start);
		if (folio && start <= pgoff) {
			pgoff = start + folio_nr_pages(folio);
			continue;
		}
		hole_end = folio ? start - 1 : last;
		/* In batches as faults take them: aligned 2 MiB become one folio. */
		nr = min_t(unsigned long, hole_end + 1,
			   round_up(pgoff + 1, P2P_PGMAP_FAULT_BATCH)) - pgoff;
		got = p2p_pgmap_owner_alloc(owner, pgoff, nr, 0);
		if (got < 0)
			return got;
		pgoff += got;
		cond_resched();
	}
	return 0;
}

/**
 * p2p_pgmap_owner_hold - hold the memory of a range of a file
 * @owner: the file's owner
 * @offset: file offset of the range, page aligned
 * @len: bytes, page aligned, not zero, within the device's size
 * @pieces: set to the range's folios in file order (kvfree() it), each
 *	with a reference the caller now holds
 *
 * Pages of the range that have no memory get it, zeroed, as a first touch
 * would. The references keep the memory after the file lets go of it
 * (close, punch hole, remove), as a pin would: what the dma-buf export
 * needs.
 *
 * Context: process context; takes the device's lock for reading and
 * @owner->lock.
 * Return: the number of @pieces, -ENXIO once the device is going away,
 * -EDQUOT past file_limit, -ENOSPC when the device has no free memory,
 * -ENOMEM.
 */
long p2p_pgmap_owner_hold(struct p2p_pgmap_owner *owner, u64 offset, u64 len,
			  struct p2p_pgmap_piece **pieces)
{
	struct p2p_pgmap_dev *pdm = owner->pdm;
	pgoff_t first = offset >> PAGE_SHIFT, last = (offset + len - 1) >> PAGE_SHIFT;
	struct p2p_pgmap_piece *p = NULL;
	pgoff_t pgoff, start;
	struct folio *folio;
	long nr = 0, count = 0, err;

	down_read(&pdm->lock);
	if (pdm->dying) {
		err = -ENXIO;
		goto out_unlock;
	}
	mutex_lock(&owner->lock);
	err = p2p_pgmap_owner_fill(owner, first, last);
	if (err)
		goto out_owner;
	/* Filled under the same lock: every page has memory. Count, then hold. */
	for (pgoff = first; pgoff <= last; pgoff = start + folio_nr_pages(folio)) {
		folio = p2p_pgmap_map_find(owner, pgoff, last, &start);
		if (WARN_ON_ONCE(!folio || start > pgoff)) {
			err = -EIO;
			goto out_owner;
		}
		if (++count % 1024 == 0)
			cond_resched();
	}
	p = kvmalloc_array(count, sizeof(*p), GFP_KERNEL);
	if (!p) {
		err = -ENOMEM;
		goto out_owner;
	}
	for (pgoff = first; nr < count; pgoff = start + folio_nr_pages(folio)) {
		folio = p2p_pgmap_map_find(owner, pgoff, last, &start);
		folio_get(folio);
		p[nr].folio = folio;
		p[nr].first = pgoff - start;
		p[nr].nr = min_t(pgoff_t, start + folio_nr_pages(folio) - 1, last) -
			   pgoff + 1;
		nr++;
		cond_resched();
	}
out_owner:
	mutex_unlock(&owner->lock);
out_unlock:
	up_read(&pdm->lock);
	if (err)
		return err;
	*pieces = p;
	return nr;
}
