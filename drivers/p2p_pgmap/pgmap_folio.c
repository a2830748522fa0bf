// SPDX-License-Identifier: GPL-2.0
/*
 * Hand out the folios of a struct dev_pagemap and get them back.
 *
 * A pool tracks every page of one pgmap in two bitmaps under a spinlock:
 *
 *   free --request--> in use --last put, ->page_free--> returning --> free
 *
 * "busy" is set for the pages of in-use and returning folios, "returning"
 * for the latter. Each busy page holds one reference on pgmap->ref, so
 * memunmap_pages(), which waits for that counter, waits for every folio
 * handed out and needs no page scan.
 *
 * Zeroing (pgmap_folio_pool_zero_freed()): an owner that hands memory to
 * users who must never see each other's bytes gives the pool a function
 * that zeroes a run of it. Free memory is then "dirty" (it holds what its
 * last user, or the device, left) or zeroed. A work item zeroes dirty
 * free memory in the background, a chunk at a time, holding the chunk
 * busy and a pgmap reference meanwhile (so remove waits for one chunk at
 * most); a request with %PGMAP_ALLOC_ZEROED prefers zeroed memory and
 * zeroes whatever dirty part it could not avoid itself before it returns.
 * Zeroing thus happens off the fault path whenever the work item keeps
 * up, and on it, correctly, when it does not.
 *
 * Folios are built when they are handed out, as large as the range allows:
 * a range is cut into naturally aligned blocks of the largest order its
 * alignment and length permit, up to the pool's maximum order (PMD order
 * on kernels that build compound device folios at run time, 0 elsewhere).
 * A large folio that comes back frees all its pages; the next request cuts
 * them again, in whatever orders it needs, so free memory is never tied to
 * the shape of its last use.
 *
 * Why "returning" exists: up to 6.14 free_zone_device_folio() calls the
 * owner's ->page_free() and *then* reads folio->page.pgmap->type and resets
 * the folio's count to one. If ->page_free() dropped the last pgmap
 * reference while memunmap_pages() waits for it, teardown could free the
 * memmap and the pgmap before the core is done with them. So ->page_free()
 * (through pgmap_folio_return()) only marks the folio returning and kicks a
 * work item; the work item completes the return, and drops the pgmap
 * reference, only once it sees the core has finished (the count is back at
 * its idle value), requeueing itself otherwise. The owner destroys the pool
 * after memunmap_pages() returns, which flushes the work.
 *
 * Alternatives considered: dropping the reference from ->page_free() is the
 * in-tree P2PDMA pattern and has exactly the race above; holding one extra
 * "teardown" reference does not help since the race is on the last put;
 * fixing free_zone_device_folio() needs a kernel patch, and the stock
 * Debian kernels have to work unpatched.
 */
#define pr_fmt(fmt) "pgmap_folio: " fmt

#include <linux/bitmap.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/percpu-refcount.h>
#include <linux/pgmap_folio.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>

/* The work item zeroes at most this many pages (2 MiB) per step. */
#define PGMAP_FOLIO_ZERO_CHUNK	512

#include "compat.h"

struct pgmap_folio_pool {
	struct dev_pagemap *pgmap;
	unsigned long base_pfn;
	unsigned long nr_folios;
	unsigned int max_order;

	spinlock_t lock;		/* protects the bitmaps and counters */
	unsigned long *busy;		/* in use or returning */
	unsigned long *returning;	/* freed, core maybe not done yet */
	unsigned long nr_busy;		/* pages in use or returning */
	atomic_long_t nr_out;		/* folios in use or returning */
	unsigned long nr_returning;
	unsigned long cursor;		/* where pgmap_alloc_folios() looks next */

	/* Zeroing, once pgmap_folio_pool_zero_freed() has set @zero. */
	pgmap_folio_zero_t zero;
	/* Free and not zeroed yet, or reserved and being zeroed by a request. */
	unsigned long *dirty;
	unsigned long nr_dirty;		/* free pages not zeroed yet */
	unsigned long zeroing_first;	/* the work item's chunk, busy meanwhile */
	unsigned long nr_zeroing;
	struct mutex zero_mutex;	/* held by the work item over a chunk */
	struct work_struct zero_work;

	struct delayed_work return_work;
};

static void pgmap_folio_return_work(struct work_struct *work);
static void pgmap_folio_zero_work(struct work_struct *work);

static unsigned long *pgmap_folio_bitmap_alloc(unsigned long nbits)
{
	return kvcalloc(BITS_TO_LONGS(nbits), sizeof(unsigned long),
			GFP_KERNEL);
}

/**
 * pgmap_folio_max_order - the largest folio order a pool of a pgmap can build
 * @pgmap: the pgmap
 *
 * Return: PMD order for a MEMORY_DEVICE_PCI_P2PDMA pgmap on a kernel that
 * builds compound device folios at run time and maps them with refcounted
 * PMDs (7.x), else 0.
 */
unsigned int pgmap_folio_max_order(const struct dev_pagemap *pgmap)
{
	return pgmap->type == MEMORY_DEVICE_PCI_P2PDMA ?
	       PGMAP_COMPAT_MAX_FOLIO_ORDER : 0;
}
EXPORT_SYMBOL_GPL(pgmap_folio_max_order);

/**
 * pgmap_folio_pool_create - create the allocation state for a pgmap
 * @pgmap: a pgmap with a single range of order-0 pages whose type
 *	makes the core call the owner's free callback: MEMORY_DEVICE_PCI_P2PDMA,
 *	or MEMORY_DEVICE_GENERIC up to 6.14; its range must be set, it need
 *	not be live yet
 * @max_order: the largest order of the folios handed out; capped at
 *	pgmap_folio_max_order()
 *
 * All pages start free. The owner's ->folio_free() (->page_free() up to
 * 6.18) must call pgmap_folio_return() for every folio requested from the
 * pool.
 *
 * Return: the new pool or an ERR_PTR(): -EOPNOTSUPP for a pgmap whose
 * freed folios the core never reports (MEMORY_DEVICE_GENERIC since 6.15),
 * -EINVAL for a pgmap of another shape. Destroy it with
 * pgmap_folio_pool_destroy() after memunmap_pages() of @pgmap.
 */
struct pgmap_folio_pool *pgmap_folio_pool_create(struct dev_pagemap *pgmap,
						 unsigned int max_order)
{
	struct pgmap_folio_pool *pool;
	u64 len = range_len(&pgmap->range);

	if (WARN_ON_ONCE(pgmap->nr_range != 1 || pgmap->vmemmap_shift ||
			 !len || !PAGE_ALIGNED(len) ||
			 !PAGE_ALIGNED(pgmap->range.start)))
		return ERR_PTR(-EINVAL);
	if (!pgmap_compat_has_free_callback(pgmap))
		return ERR_PTR(-EOPNOTSUPP);

	pool = kzalloc_obj(*pool, GFP_KERNEL);
	if (!pool)
		return ERR_PTR(-ENOMEM);

	pool->pgmap = pgmap;
	pool->base_pfn = PHYS_PFN(pgmap->range.start);
	pool->nr_folios = len >> PAGE_SHIFT;
	pool->max_order = min(max_order, pgmap_folio_max_order(pgmap));
	spin_lock_init(&pool->lock);
	INIT_DELAYED_WORK(&pool->return_work, pgmap_folio_return_work);
	mutex_init(&pool->zero_mutex);
	INIT_WORK(&pool->zero_work, pgmap_folio_zero_work);

	/*
	 * Two bits per folio: 8 MiB each for a 256 GiB BAR, more than one
	 * kmalloc() can give (bitmap_zalloc() fails above 128 GiB), so
	 * kvcalloc(), which falls back to vmalloc.
	 */
	pool->busy = pgmap_folio_bitmap_alloc(pool->nr_folios);
	pool->returning = pgmap_folio_bitmap_alloc(pool->nr_folios);
	pool->dirty = pgmap_folio_bitmap_alloc(pool->nr_folios);
	if (!pool->busy || !pool->returning || !pool->dirty) {
		kvfree(pool->dirty);
		kvfree(pool->returning);
		kvfree(pool->busy);
		kfree(pool);
		return ERR_PTR(-ENOMEM);
	}

	return pool;
}
EXPORT_SYMBOL_GPL(pgmap_folio_pool_create);

/* module only: the deferred return (see the top of this file) */
/*
 * Complete the return of every returning folio the core is done with and
 * drop their pgmap references. Returns how many are still returning.
 */
static unsigned long pgmap_folio_complete_returns(struct pgmap_folio_pool *pool)
{
	struct percpu_ref *ref = &pool->pgmap->ref;
	unsigned long idx, seen = 0, done = 0, heads = 0, pending;
	unsigned long flags;
	bool zero;

	spin_lock_irqsave(&pool->lock, flags);
	for_each_set_bit(idx, pool->returning, pool->nr_folios) {
		/* Still the returning folio's: its pages are not reused yet. */
		struct folio *folio = pfn_folio(pool->base_pfn + idx);

		seen++;
		if (pgmap_compat_folio_core_done(pool->pgmap, folio)) {
			__clear_bit(idx, pool->returning);
			__clear_bit(idx, pool->busy);
			/* Free again, with what its user left in it. */
			if (pool->zero)
				__set_bit(idx, pool->dirty);
			done++;
			if (folio_pfn(folio) == pool->base_pfn + idx)
				heads++;
		}
		if (seen == pool->nr_returning)
			break;
	}
	pool->nr_returning -= done;
	WRITE_ONCE(pool->nr_busy, pool->nr_busy - done);
	atomic_long_sub(heads, &pool->nr_out);
	zero = pool->zero && done;
	if (zero)
		WRITE_ONCE(pool->nr_dirty, pool->nr_dirty + done);
	pending = pool->nr_returning;
	spin_unlock_irqrestore(&pool->lock, flags);

	if (zero)
		queue_work(pgmap_compat_unbound_wq, &pool->zero_work);

	/*
	 * The last put may let memunmap_pages() finish and free the memmap
	 * and the pgmap: touch neither afterwards. The pool itself lives
	 * until pgmap_folio_pool_destroy() has flushed this work.
	 */
	if (done)
		percpu_ref_put_many(ref, done);

	return pending;
}

static void pgmap_folio_return_work(struct work_struct *work)
{
	struct pgmap_folio_pool *pool =
		container_of(to_delayed_work(work), struct pgmap_folio_pool,
			     return_work);

	/* The core is a few instructions from done: look again next tick. */
	if (pgmap_folio_complete_returns(pool))
		queue_delayed_work(pgmap_compat_system_wq, &pool->return_work, 1);
}

/**
 * pgmap_folio_pool_returning - pages freed whose return is pending
 * @pool: the pool
 *
 * For an owner that waits for every folio to be back (a snapshot): up to
 * 6.14 a folio freed a moment ago stays returning until the core has reset
 * its count, and pgmap_folios_in_use() counts it meanwhile.
 *
 * Return: how many pages are returning.
 */
unsigned long pgmap_folio_pool_returning(struct pgmap_folio_pool *pool)
{
	return READ_ONCE(pool->nr_returning);
}
EXPORT_SYMBOL_GPL(pgmap_folio_pool_returning);

/* end module only */

/**
 * pgmap_folio_pool_destroy - free a pool
 * @pool: the pool, or NULL
 *
 * Call after memunmap_pages() of the pool's pgmap has returned (every
 * folio is back then), or before any folio was requested. Waits for the
 * pool's return work to finish.
 */
void pgmap_folio_pool_destroy(struct pgmap_folio_pool *pool)
{
	if (IS_ERR_OR_NULL(pool))
		return;

	cancel_delayed_work_sync(&pool->return_work);
	cancel_work_sync(&pool->zero_work);
	WARN(pool->nr_busy, "destroying a pool with %lu pages still handed out\n",
	     pool->nr_busy);
	mutex_destroy(&pool->zero_mutex);
	kvfree(pool->dirty);
	kvfree(pool->returning);
	kvfree(pool->busy);
	kfree(pool);
}
EXPORT_SYMBOL_GPL(pgmap_folio_pool_destroy);

static bool pgmap_folio_range_ok(const struct pgmap_folio_pool *pool,
				 u64 offset, u64 len)
{
	u64 size = (u64)pool->nr_folios << PAGE_SHIFT;

	return len && PAGE_ALIGNED(offset) && PAGE_ALIGNED(len) &&
	       offset < size && len <= size - offset;
}

/*
 * How many of the free pages from @first on (at most @nr) have only their
 * idle references: a free folio with a stray reference would be corrupted
 * by reuse. By page, not by folio: a free page that was the tail of a
 * large folio still names that folio's head, which may be in use again.
 * Under the pool's lock.
 */
static unsigned long pgmap_folio_idle_run(struct pgmap_folio_pool *pool,
					  unsigned long first, unsigned long nr)
{
	int idle = pgmap_compat_idle_refs(pool->pgmap);
	unsigned long i;

	for (i = 0; i < nr; i++)
		if (page_ref_count(pfn_to_page(pool->base_pfn + first + i)) != idle)
			break;
	return i;
}

/* How many of the pages @first to @first + @nr - 1 are dirty. */
static unsigned long pgmap_folio_dirty_count(struct pgmap_folio_pool *pool,
					     unsigned long first, unsigned long nr)
{
	unsigned long end = first + nr, pos = first, next, count = 0;

	while ((pos = find_next_bit(pool->dirty, end, pos)) < end) {
		next = find_next_zero_bit(pool->dirty, end, pos);
		count += next - pos;
		pos = next;
	}
	return count;
}

/*
 * Reserve the free, idle pages @first to @first + @nr - 1 for a request.
 * Their dirty bits stay set if the request zeroes them (@zeroed: it clears
 * them when done); they are no longer free dirty memory either way. Under
 * the lock. Returns how many were dirty.
 */
static unsigned long pgmap_folio_reserve(struct pgmap_folio_pool *pool,
					 unsigned long first, unsigned long nr,
					 bool zeroed)
{
	unsigned long dirty = 0;

	bitmap_set(pool->busy, first, nr);
	WRITE_ONCE(pool->nr_busy, pool->nr_busy + nr);
	pool->cursor = first + nr;
	if (pool->zero) {
		dirty = pgmap_folio_dirty_count(pool, first, nr);
		WRITE_ONCE(pool->nr_dirty, pool->nr_dirty - dirty);
		if (!zeroed)
			bitmap_clear(pool->dirty, first, nr);
	}
	return dirty;
}

/*
 * Zero the dirty pages of the reserved run @first to @first + @nr - 1 and
 * clear their bits: nobody else changes a reserved page's bit meanwhile.
 */
static void pgmap_folio_zero_reserved(struct pgmap_folio_pool *pool,
				      unsigned long first, unsigned long nr)
{
	unsigned long end = first + nr, pos = first, next;
	unsigned long flags;

	while ((pos = find_next_bit(pool->dirty, end, pos)) < end) {
		next = find_next_zero_bit(pool->dirty, end, pos);
		pool->zero(pool->pgmap, (u64)pos << PAGE_SHIFT,
			   (u64)(next - pos) << PAGE_SHIFT);
		pos = next;
	}
	spin_lock_irqsave(&pool->lock, flags);
	bitmap_clear(pool->dirty, first, nr);
	spin_unlock_irqrestore(&pool->lock, flags);
}

/* Whether the work item's chunk overlaps @first to @first + @nr - 1. */
static bool pgmap_folio_zeroing(struct pgmap_folio_pool *pool,
				unsigned long first, unsigned long nr)
{
	return pool->nr_zeroing && first < pool->zeroing_first + pool->nr_zeroing &&
	       pool->zeroing_first < first + nr;
}

/* Wait until the work item is done with the chunk it is zeroing. */
static void pgmap_folio_wait_zeroing(struct pgmap_folio_pool *pool)
{
	mutex_lock(&pool->zero_mutex);
	mutex_unlock(&pool->zero_mutex);
}

/*
 * Build the folios of the reserved pages @first to @first + @nr - 1, each
 * of the largest order that its position and what is left allow, with a
 * count of one and one pgmap reference per page. The caller holds a
 * pgmap reference across the call. Not under the pool's lock: the core's
 * folio set-up may sleep (it locks the folio), and nobody else touches
 * reserved pages. Returns the number of folios.
 */
static unsigned int pgmap_folio_build(struct pgmap_folio_pool *pool,
				      unsigned long first, unsigned long nr,
				      struct folio **folios)
{
	unsigned long pfn = pool->base_pfn + first, end = pfn + nr;
	unsigned int nr_folios = 0, order;

	while (pfn < end) {
		order = pool->max_order;
		if (pfn & ((1UL << order) - 1))
			order = __ffs(pfn);
		while (pfn + (1UL << order) > end)
			order--;
		folios[nr_folios++] = pgmap_compat_folio_init(pool->pgmap, pfn,
							      order);
		atomic_long_inc(&pool->nr_out);
		pfn += 1UL << order;
	}
	return nr_folios;
}

/**
 * pgmap_request_folios - take the folios covering a range of a live pgmap
 * @pool: the pgmap's pool
 * @offset: byte offset of the range into the pgmap, page aligned
 * @len: byte length of the range, page aligned, not zero
 * @folios: receives the folios, in order; room for @len / PAGE_SIZE of
 *	them is enough
 *
 * Returns the fewest folios that cover the range: each of the largest
 * order (up to the pool's maximum) that its alignment in the pgmap and
 * the rest of the range allow, so a 2 MiB aligned range is one PMD-order
 * folio where the pool builds them. Either the whole range is handed out
 * or none of it. Each folio returned has a reference count of one, owned
 * by the caller, and holds one reference on the pgmap per page, dropped
 * only after the folio's last reference is put and the owner's free
 * callback has given it back with pgmap_folio_return(). The caller may
 * hand its reference on (to page tables, pins, DMA) or drop it with
 * pgmap_release_folios(). In a pool that zeroes freed memory
 * (pgmap_folio_pool_zero_freed()) the folios read zero.
 *
 * The caller must know the pgmap is live and the folios are free:
 * requesting from a dying pgmap, or a folio that is in use or still
 * returning, is a caller bug that warns once and fails without changing
 * anything. A free folio may still carry a passing reference (a
 * speculative one, from GUP-fast or a PFN walker, dropped at once): the
 * request then fails with -EAGAIN, without a warning, and may be retried.
 *
 * Context: process context: building a large folio may sleep.
 * Return: the number of folios (at least one), -EINVAL for a range outside
 * the pgmap or not page aligned, -ENXIO if the pgmap is dying, -EBUSY if
 * a page of the range is not free, -EAGAIN if one is free but momentarily
 * referenced.
 */
int pgmap_request_folios(struct pgmap_folio_pool *pool, u64 offset, u64 len,
			 struct folio **folios)
{
	struct percpu_ref *ref = &pool->pgmap->ref;
	unsigned long first, nr, busy, dirty;
	bool zeroed = READ_ONCE(pool->zero);
	unsigned long flags;
	unsigned int nr_folios;

	if (!pgmap_folio_range_ok(pool, offset, len))
		return -EINVAL;
	first = offset >> PAGE_SHIFT;
	nr = len >> PAGE_SHIFT;

	if (!percpu_ref_tryget_live(ref)) {
		WARN_ONCE(1, "request of folios from a dying pgmap %#llx-%#llx\n",
			  pool->pgmap->range.start, pool->pgmap->range.end);
		return -ENXIO;
	}

again:
	spin_lock_irqsave(&pool->lock, flags);
	/* Free, but being zeroed: the work item is done with it shortly. */
	if (pgmap_folio_zeroing(pool, first, nr)) {
		spin_unlock_irqrestore(&pool->lock, flags);
		pgmap_folio_wait_zeroing(pool);
		goto again;
	}
	busy = find_next_bit(pool->busy, first + nr, first);
	if (busy < first + nr)
		goto not_free;
	if (pgmap_folio_idle_run(pool, first, nr) < nr) {
		spin_unlock_irqrestore(&pool->lock, flags);
		percpu_ref_put(ref);
		return -EAGAIN;
	}
	dirty = pgmap_folio_reserve(pool, first, nr, zeroed);
	spin_unlock_irqrestore(&pool->lock, flags);
	nr_folios = pgmap_folio_build(pool, first, nr, folios);
	if (dirty && zeroed)
		pgmap_folio_zero_reserved(pool, first, nr);
	percpu_ref_put(ref);
	return nr_folios;

not_free:
	spin_unlock_irqrestore(&pool->lock, flags);
	percpu_ref_put(ref);
	WARN_ONCE(1, "request of folio %#lx that is not free\n",
		  pool->base_pfn + busy);
	return -EBUSY;
}
EXPORT_SYMBOL_GPL(pgmap_request_folios);

/*
 * The first run of @nr free, idle (and, if @clean, zeroed) pages starting
 * at a multiple of @align pages plus @phase, from @start on and round
 * once. Under the pool's lock. Returns true with its start in *@first.
 */
static bool pgmap_folio_find_aligned(struct pgmap_folio_pool *pool,
				     unsigned long nr, unsigned long align,
				     unsigned long phase, unsigned long start,
				     bool clean, unsigned long *first)
{
	unsigned long size = pool->nr_folios, pos, busy, dirty, idle, pass;

	for (pass = 0; pass < 2 && nr <= size; pass++) {
		pos = round_down(pass ? 0 : start, align) + phase;
		if (pos < (pass ? 0 : start))
			pos += align;
		while (pos + nr <= size && (!pass || pos < start + align)) {
			busy = find_next_bit(pool->busy, pos + nr, pos);
			if (clean && busy == pos + nr) {
				dirty = find_next_bit(pool->dirty, pos + nr, pos);
				busy = dirty;
			}
			if (busy == pos + nr) {
				idle = pgmap_folio_idle_run(pool, pos, nr);
				if (idle == nr) {
					*first = pos;
					return true;
				}
				busy = pos + idle;
			}
			pos = round_down(busy, align) + phase;
			if (pos <= busy)
				pos += align;
		}
	}
	return false;
}

/*
 * A run of free, idle folios for pgmap_alloc_folios(), under the pool's
 * lock: first one of @nr folios starting at a multiple of @align folios
 * plus @phase, from the cursor on and round once, zeroed if @clean and
 * there is such a run; failing that (and unless @whole), the longest
 * prefix of @nr of the first free run from the cursor on. Returns the
 * run's length (0: nothing is free) and its start in *@first.
 */
static unsigned long pgmap_folio_find_run(struct pgmap_folio_pool *pool,
					  unsigned long nr, unsigned long align,
					  unsigned long phase, bool whole,
					  bool clean, unsigned long *first)
{
	unsigned long size = pool->nr_folios, start, pos, busy, idle, pass;

	start = pool->cursor < size ? pool->cursor : 0;
	/* Aligned and whole: zeroed first, where the pool zeroes. */
	if (clean && pool->nr_dirty &&
	    pgmap_folio_find_aligned(pool, nr, align, phase, start, true, first))
		return nr;
	if (pgmap_folio_find_aligned(pool, nr, align, phase, start, false, first))
		return nr;
	if (whole)
		return 0;
	/* Anywhere: the first free and idle folios from the cursor, round once. */
	for (pass = 0; pass < 2; pass++) {
		pos = pass ? 0 : start;
		while (pos < (pass ? start : size)) {
			pos = find_next_zero_bit(pool->busy, size, pos);
			if (pos >= (pass ? start : size))
				break;
			busy = find_next_bit(pool->busy, min(pos + nr, size), pos);
			idle = pgmap_folio_idle_run(pool, pos, busy - pos);
			if (idle) {
				*first = pos;
				return idle;
			}
			pos++;	/* a passing reference: look past it */
		}
	}
	return 0;
}

/**
 * pgmap_alloc_folios - take free memory wherever the pool has it
 * @pool: the pgmap's pool
 * @len: in: bytes wanted, page aligned, not zero; out: bytes taken
 * @align: preferred alignment of the run in the pgmap, in bytes: a power
 *	of two, at least PAGE_SIZE
 * @phase: preferred offset of the run from that alignment, in bytes, page
 *	aligned and below @align (a caller that will map the folios at a
 *	virtual address passes the address modulo @align, so that aligned
 *	blocks of both coincide)
 * @flags: %PGMAP_ALLOC_WHOLE: all of @len at the preferred alignment and
 *	phase, or nothing; %PGMAP_ALLOC_ZEROED: memory that reads zero, in a
 *	pool that zeroes freed memory (see pgmap_folio_pool_zero_freed())
 * @offset: receives the offset of the run into the pgmap
 * @folios: receives the folios of the run, in order; room for
 *	@len / PAGE_SIZE of them is enough
 *
 * For owners that place memory themselves: takes one run of contiguous
 * free pages, all of @len where the pool has such a run at the preferred
 * alignment and phase, else (without %PGMAP_ALLOC_WHOLE) the longest run
 * up to @len of the first free pages the search finds. The search goes on
 * from where the last one ended (next fit). Free pages that carry a
 * passing reference are skipped, not failed on. The run is handed out as
 * pgmap_request_folios() hands out a range: the fewest, largest folios.
 * With %PGMAP_ALLOC_ZEROED an aligned run the pool has zeroed already is
 * taken before one it has not, and what is still dirty of the run taken
 * is zeroed before the call returns.
 *
 * Context: process context: building a large folio may sleep. Takes time
 * linear in the number of pages of the pool when it is nearly full.
 * Return: the number of folios taken (at least one), -EINVAL for bad
 * arguments (or %PGMAP_ALLOC_ZEROED from a pool that does not zero),
 * -ENXIO if the pgmap is dying, -ENOMEM if no page is free (or, with
 * %PGMAP_ALLOC_WHOLE, no whole aligned run is).
 */
int pgmap_alloc_folios(struct pgmap_folio_pool *pool, u64 *len, u64 align,
		       u64 phase, unsigned int flags, u64 *offset,
		       struct folio **folios)
{
	struct percpu_ref *ref = &pool->pgmap->ref;
	bool zeroed = flags & PGMAP_ALLOC_ZEROED;
	unsigned long nr, first, got, dirty = 0;
	unsigned long irqflags;
	bool waited = false;
	int nr_folios;

	if (!*len || !PAGE_ALIGNED(*len) || align < PAGE_SIZE ||
	    !is_power_of_2(align) || !PAGE_ALIGNED(phase) || phase >= align ||
	    *len > pgmap_folio_pool_size(pool) ||
	    (flags & ~(PGMAP_ALLOC_WHOLE | PGMAP_ALLOC_ZEROED)) ||
	    (zeroed && !READ_ONCE(pool->zero)))
		return -EINVAL;
	nr = *len >> PAGE_SHIFT;

	if (!percpu_ref_tryget_live(ref))
		return -ENXIO;

again:
	spin_lock_irqsave(&pool->lock, irqflags);
	got = pgmap_folio_find_run(pool, nr, align >> PAGE_SHIFT,
				   phase >> PAGE_SHIFT,
				   flags & PGMAP_ALLOC_WHOLE, zeroed, &first);
	if (got) {
		dirty = pgmap_folio_reserve(pool, first, got, zeroed);
	} else if (pool->nr_zeroing && !waited) {
		/* What the work item is zeroing may be all there is. */
		spin_unlock_irqrestore(&pool->lock, irqflags);
		pgmap_folio_wait_zeroing(pool);
		waited = true;
		goto again;
	}
	spin_unlock_irqrestore(&pool->lock, irqflags);

	if (!got) {
		percpu_ref_put(ref);
		return -ENOMEM;
	}
	nr_folios = pgmap_folio_build(pool, first, got, folios);
	if (dirty && zeroed)
		pgmap_folio_zero_reserved(pool, first, got);
	percpu_ref_put(ref);
	*offset = (u64)first << PAGE_SHIFT;
	*len = (u64)got << PAGE_SHIFT;
	return nr_folios;
}
EXPORT_SYMBOL_GPL(pgmap_alloc_folios);

/**
 * pgmap_release_folios - drop the caller's reference on requested folios
 * @folios: folios from pgmap_request_folios() (or pgmap_folio_try_get())
 * @nr_folios: how many
 *
 * Drops one reference per folio. A folio whose last reference this was is
 * freed through the pgmap's free callback and returns to its pool, all its
 * pages at once.
 */
void pgmap_release_folios(struct folio **folios, unsigned int nr_folios)
{
	unsigned int i;

	for (i = 0; i < nr_folios; i++)
		folio_put(folios[i]);
}
EXPORT_SYMBOL_GPL(pgmap_release_folios);

/**
 * pgmap_folio_return - give a freed folio back to its pool
 * @pool: the pool the folio was requested from
 * @folio: the folio, as passed to the pgmap's free callback
 *
 * The pgmap owner calls this from its free callback for every folio of the
 * pool. The folio becomes free again, and its pgmap reference is dropped,
 * from a work item once the core is done with it (see the top of this
 * file); until then it is "returning" and cannot be requested.
 *
 * Context: any context (the free callback may run wherever the last folio_put()
 * happens).
 */
void pgmap_folio_return(struct pgmap_folio_pool *pool, struct folio *folio)
{
	unsigned long idx = folio_pfn(folio) - pool->base_pfn;
	unsigned long nr = folio_nr_pages(folio);
	unsigned long flags;
	bool ok;

	if (WARN_ON_ONCE(idx >= pool->nr_folios || nr > pool->nr_folios - idx))
		return;

	spin_lock_irqsave(&pool->lock, flags);
	ok = find_next_zero_bit(pool->busy, idx + nr, idx) == idx + nr &&
	     find_next_bit(pool->returning, idx + nr, idx) == idx + nr;
	if (ok) {
		bitmap_set(pool->returning, idx, nr);
		pool->nr_returning += nr;
	}
	spin_unlock_irqrestore(&pool->lock, flags);

	if (WARN_ONCE(!ok, "free of folio %#lx that was not handed out\n",
		      folio_pfn(folio)))
		return;

	queue_delayed_work(pgmap_compat_system_wq, &pool->return_work, 0);
}
EXPORT_SYMBOL_GPL(pgmap_folio_return);

/**
 * pgmap_folio_state - allocation state of the folio at an offset
 * @pool: the pool
 * @offset: byte offset into the pgmap
 *
 * A snapshot: an in-use folio may start returning, and a returning one
 * become free, at any time. Only requests change a free folio, so a caller
 * that serialises its own requests may rely on %PGMAP_FOLIO_FREE.
 *
 * Return: the state, %PGMAP_FOLIO_IN_USE for an offset outside the pool.
 */
enum pgmap_folio_state pgmap_folio_state(struct pgmap_folio_pool *pool,
					 u64 offset)
{
	unsigned long idx = offset >> PAGE_SHIFT;
	enum pgmap_folio_state state;
	unsigned long flags;

	if (idx >= pool->nr_folios)
		return PGMAP_FOLIO_IN_USE;

	spin_lock_irqsave(&pool->lock, flags);
	if (!test_bit(idx, pool->busy) || pgmap_folio_zeroing(pool, idx, 1))
		state = PGMAP_FOLIO_FREE;
	else if (test_bit(idx, pool->returning))
		state = PGMAP_FOLIO_RETURNING;
	else
		state = PGMAP_FOLIO_IN_USE;
	spin_unlock_irqrestore(&pool->lock, flags);

	return state;
}
EXPORT_SYMBOL_GPL(pgmap_folio_state);

/**
 * pgmap_folio_free_run - length of the run of free folios at an offset
 * @pool: the pool
 * @offset: byte offset into the pgmap, page aligned
 * @max_len: look no further than this many bytes
 *
 * For callers that request folios in batches (e.g. a fault handler mapping
 * the free folios after the faulting one at once). Like
 * pgmap_folio_state(), a snapshot that only the caller's own requests can
 * shrink.
 *
 * Return: the byte length of the run of free folios starting at @offset,
 * at most @max_len and never past the end of the pool; 0 when the folio at
 * @offset is not free or @offset is outside the pool.
 */
u64 pgmap_folio_free_run(struct pgmap_folio_pool *pool, u64 offset, u64 max_len)
{
	unsigned long first = offset >> PAGE_SHIFT;
	unsigned long end, busy;
	unsigned long flags;

	if (!PAGE_ALIGNED(offset) || first >= pool->nr_folios)
		return 0;
	end = min_t(u64, pool->nr_folios, first + (max_len >> PAGE_SHIFT));

	spin_lock_irqsave(&pool->lock, flags);
	busy = find_next_bit(pool->busy, end, first);
	spin_unlock_irqrestore(&pool->lock, flags);

	return (u64)(busy - first) << PAGE_SHIFT;
}
EXPORT_SYMBOL_GPL(pgmap_folio_free_run);

/**
 * pgmap_folio_try_get - take a reference on an in-use folio
 * @pool: the pool
 * @offset: byte offset into the pgmap
 *
 * For sharing a folio someone else requested, e.g. a second mapping of
 * memory an owner has handed out already. Fails if the folio is free,
 * returning, or its last reference is being dropped right now.
 *
 * Return: the folio with a new reference the caller owns, or NULL.
 */
struct folio *pgmap_folio_try_get(struct pgmap_folio_pool *pool, u64 offset)
{
	unsigned long idx = offset >> PAGE_SHIFT;
	struct folio *folio = NULL;
	unsigned long flags;

	if (idx >= pool->nr_folios)
		return NULL;

	spin_lock_irqsave(&pool->lock, flags);
	if (test_bit(idx, pool->busy) && !test_bit(idx, pool->returning) &&
	    !pgmap_folio_zeroing(pool, idx, 1)) {
		folio = pfn_folio(pool->base_pfn + idx);
		if (!folio_try_get(folio))
			folio = NULL;
	}
	spin_unlock_irqrestore(&pool->lock, flags);

	return folio;
}
EXPORT_SYMBOL_GPL(pgmap_folio_try_get);

/**
 * pgmap_folio_pool_drain - complete pending returns now
 * @pool: the pool
 *
 * Completes the return of every returning folio the core is done with,
 * without waiting for the work item. Useful to a caller that found a folio
 * returning and wants it, and to tests.
 *
 * Context: any context; does not sleep.
 */
void pgmap_folio_pool_drain(struct pgmap_folio_pool *pool)
{
	pgmap_folio_complete_returns(pool);
}
EXPORT_SYMBOL_GPL(pgmap_folio_pool_drain);

/*
 * Take the next chunk of dirty free pages for the work item: busy while it
 * zeroes them, so that nobody gets them half zeroed. Under the lock.
 * Returns its length (0: nothing is dirty) and its start in *@first.
 */
static unsigned long pgmap_folio_zero_chunk(struct pgmap_folio_pool *pool,
					    unsigned long *first)
{
	unsigned long size = pool->nr_folios, pos = 0, end;

	while ((pos = find_next_bit(pool->dirty, size, pos)) < size) {
		/* Dirty and busy: a request that zeroes it itself. */
		if (test_bit(pos, pool->busy)) {
			pos = find_next_zero_bit(pool->busy, size, pos);
			continue;
		}
		end = min(pos + PGMAP_FOLIO_ZERO_CHUNK, size);
		end = min(find_next_zero_bit(pool->dirty, end, pos),
			  find_next_bit(pool->busy, end, pos));
		bitmap_set(pool->busy, pos, end - pos);
		pool->zeroing_first = pos;
		pool->nr_zeroing = end - pos;
		*first = pos;
		return end - pos;
	}
	return 0;
}

static void pgmap_folio_zero_work(struct work_struct *work)
{
	struct pgmap_folio_pool *pool = container_of(work, struct pgmap_folio_pool,
						     zero_work);
	struct percpu_ref *ref = &pool->pgmap->ref;
	unsigned long first, nr;
	unsigned long flags;

	for (;;) {
		/* A dying pgmap is not zeroed: nobody gets its memory again. */
		if (!percpu_ref_tryget_live(ref))
			return;
		mutex_lock(&pool->zero_mutex);
		spin_lock_irqsave(&pool->lock, flags);
		nr = pgmap_folio_zero_chunk(pool, &first);
		spin_unlock_irqrestore(&pool->lock, flags);
		if (nr)
			pool->zero(pool->pgmap, (u64)first << PAGE_SHIFT,
				   (u64)nr << PAGE_SHIFT);
		spin_lock_irqsave(&pool->lock, flags);
		if (nr) {
			bitmap_clear(pool->dirty, first, nr);
			bitmap_clear(pool->busy, first, nr);
			WRITE_ONCE(pool->nr_dirty, pool->nr_dirty - nr);
			pool->nr_zeroing = 0;
		}
		spin_unlock_irqrestore(&pool->lock, flags);
		mutex_unlock(&pool->zero_mutex);
		/* The pgmap may go once this is put: touch only the pool. */
		percpu_ref_put(ref);
		if (!nr)
			return;
		cond_resched();
	}
}

/**
 * pgmap_folio_pool_zero_freed - zero free memory before it is handed out
 * @pool: the pool, before any folio is requested from it
 * @zero: zeroes the @len bytes at byte offset @offset of the pool's
 *	pgmap (page aligned, contiguous); called in process context, with
 *	the run kept from everyone else
 *
 * For owners whose users must never see each other's bytes. Everything
 * free now, and every folio freed from now on, is dirty until a work item
 * has zeroed it with @zero in the background; %PGMAP_ALLOC_ZEROED
 * requests prefer zeroed memory and zero the rest themselves, and
 * pgmap_request_folios() always returns zeroed memory. The work item
 * holds a pgmap reference while it zeroes a chunk (2 MiB at most) and
 * stops once the pgmap is dying, so teardown waits for one chunk at most.
 */
void pgmap_folio_pool_zero_freed(struct pgmap_folio_pool *pool,
				 pgmap_folio_zero_t zero)
{
	unsigned long flags;

	spin_lock_irqsave(&pool->lock, flags);
	pool->zero = zero;
	bitmap_fill(pool->dirty, pool->nr_folios);
	bitmap_andnot(pool->dirty, pool->dirty, pool->busy, pool->nr_folios);
	WRITE_ONCE(pool->nr_dirty, pool->nr_folios - pool->nr_busy);
	spin_unlock_irqrestore(&pool->lock, flags);
	queue_work(pgmap_compat_unbound_wq, &pool->zero_work);
}
EXPORT_SYMBOL_GPL(pgmap_folio_pool_zero_freed);

/**
 * pgmap_folio_pool_dirty_bytes - free bytes not zeroed yet
 * @pool: the pool
 *
 * Return: the size of the free folios that hold what their last user (or
 * the device) left, in a pool that zeroes freed memory (a snapshot); 0 in
 * one that does not.
 */
u64 pgmap_folio_pool_dirty_bytes(const struct pgmap_folio_pool *pool)
{
	return (u64)READ_ONCE(pool->nr_dirty) << PAGE_SHIFT;
}
EXPORT_SYMBOL_GPL(pgmap_folio_pool_dirty_bytes);

/**
 * pgmap_folio_pool_size - bytes managed by a pool
 * @pool: the pool
 *
 * Return: the size of the pgmap's range in bytes.
 */
u64 pgmap_folio_pool_size(const struct pgmap_folio_pool *pool)
{
	return (u64)pool->nr_folios << PAGE_SHIFT;
}
EXPORT_SYMBOL_GPL(pgmap_folio_pool_size);

/**
 * pgmap_folios_in_use - folios not free
 * @pool: the pool
 *
 * Return: how many folios are in use or returning (a snapshot); a large
 * folio counts as one.
 */
unsigned long pgmap_folios_in_use(const struct pgmap_folio_pool *pool)
{
	return atomic_long_read(&pool->nr_out);
}
EXPORT_SYMBOL_GPL(pgmap_folios_in_use);

/**
 * pgmap_folio_pool_free_bytes - bytes that may be requested
 * @pool: the pool
 *
 * Return: the size of the free folios in bytes (a snapshot).
 */
u64 pgmap_folio_pool_free_bytes(const struct pgmap_folio_pool *pool)
{
	return (u64)(pool->nr_folios - READ_ONCE(pool->nr_busy)) << PAGE_SHIFT;
}
EXPORT_SYMBOL_GPL(pgmap_folio_pool_free_bytes);
