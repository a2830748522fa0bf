// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the generic pgmap folio API (include/linux/pgmap_folio.h,
 * exported by p2p_pgmap.ko).
 *
 * Each test gets a fresh 2 MiB MEMORY_DEVICE_PCI_P2PDMA pgmap over a free
 * physical address range (request_free_mem_region(), as lib/test_hmm.c
 * does for device-private memory) and a pool over it. The memory itself is
 * never touched: only the folios' struct pages are, through the real free
 * path (folio_put() -> free_zone_device_folio() -> the free callback).
 * The zeroing cases give the pool a zero callback that writes nothing
 * either: it records which pages it was asked to zero.
 *
 * P2PDMA is the type p2p_pgmap uses and the only one whose frees the core
 * reports on every kernel (GENERIC folios get no callback since 6.15). On a
 * kernel with the P2PDMA core this pgmap is not the core's: that is safe
 * here because its pages are never mapped, pinned or DMA-mapped, the only
 * paths that look past the struct dev_pagemap.
 *
 * Two tests provoke the API's caller-bug warnings on purpose (a request of
 * a busy folio, a request from a dying pgmap): expect one WARNING from
 * pgmap_request_folios() for each in the log of the first run.
 *
 * The tests take and drop folios through kp_*() wrappers that count the
 * references each test holds, so that a test that fails halfway (an
 * ASSERT ends it with folios out) still has them put back by the exit
 * handler, and the pgmap torn down, instead of leaking both.
 */
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/ioport.h>
#include <linux/kthread.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/percpu-refcount.h>
#include <linux/pgmap_folio.h>
#include <linux/sched.h>
#include <linux/sizes.h>

#include "compat.h"

#define KP_SIZE		SZ_2M
#define KP_NR_FOLIOS	(KP_SIZE / PAGE_SIZE)

struct kunit_pgmap {
	struct dev_pagemap pgmap;
	struct resource *res;
	struct pgmap_folio_pool *pool;
	bool unmapped;
	struct completion unmap_done;
	unsigned int refs[KP_NR_FOLIOS];	/* references the test holds */

	/* What the zero callback did (see kp_zero()) */
	bool clean[KP_NR_FOLIOS];	/* zeroed since last freed */
	atomic_t zeroed[KP_NR_FOLIOS];	/* times zeroed */
	atomic_t zeroed_by_worker;	/* pages zeroed by the work item */
	atomic_t zeroed_by_caller;	/* pages zeroed by requests */
	atomic_t bad_zero;		/* calls with a bad range */
	bool stall;			/* hold the work item up */
	unsigned long stalled_at;	/* first page of the chunk held up */
	struct completion stalled;
	struct completion unstall;
};

static unsigned long kp_base_pfn(struct kunit_pgmap *kp)
{
	return PHYS_PFN(kp->pgmap.range.start);
}

static void kp_count(struct kunit_pgmap *kp, struct folio **folios,
		     unsigned int nr, int delta)
{
	unsigned int i;

	for (i = 0; i < nr; i++)
		kp->refs[folio_pfn(folios[i]) - kp_base_pfn(kp)] += delta;
}

static int kp_request(struct kunit_pgmap *kp, u64 offset, u64 len,
		      struct folio **folios)
{
	int nr = pgmap_request_folios(kp->pool, offset, len, folios);

	if (nr > 0)
		kp_count(kp, folios, nr, 1);
	return nr;
}

static int kp_alloc_flags(struct kunit_pgmap *kp, u64 *len, u64 align,
			  u64 phase, unsigned int flags, u64 *offset,
			  struct folio **folios)
{
	int got = pgmap_alloc_folios(kp->pool, len, align, phase, flags, offset,
				     folios);

	if (got > 0)
		kp_count(kp, folios, got, 1);
	return got;
}

/* Order-0 pools: the number of folios is the number of pages. */
static int kp_alloc(struct kunit_pgmap *kp, u64 len, u64 align, u64 phase,
		    u64 *offset, struct folio **folios)
{
	return kp_alloc_flags(kp, &len, align, phase, 0, offset, folios);
}

static struct folio *kp_try_get(struct kunit_pgmap *kp, u64 offset)
{
	struct folio *folio = pgmap_folio_try_get(kp->pool, offset);

	if (folio)
		kp_count(kp, &folio, 1, 1);
	return folio;
}

static void kp_release(struct kunit_pgmap *kp, struct folio **folios,
		       unsigned int nr)
{
	kp_count(kp, folios, nr, -1);
	pgmap_release_folios(folios, nr);
}

static void kunit_pgmap_folio_free(struct folio *folio)
{
	struct kunit_pgmap *kp =
		container_of(pgmap_compat_page_pgmap(folio_page(folio, 0)),
			     struct kunit_pgmap, pgmap);
	unsigned long idx = folio_pfn(folio) - kp_base_pfn(kp), i;

	/* Dirty again: what its user wrote is in it. */
	for (i = 0; i < folio_nr_pages(folio); i++)
		WRITE_ONCE(kp->clean[idx + i], false);
	pgmap_folio_return(kp->pool, folio);
}

PGMAP_COMPAT_DEFINE_FREE(kunit_pgmap_folio_free);

static const struct dev_pagemap_ops kunit_pgmap_ops = {
	PGMAP_COMPAT_FREE_OP(kunit_pgmap_folio_free),
};

static int pgmap_folio_test_init(struct kunit *test)
{
	struct kunit_pgmap *kp;
	void *addr;

	/* Not kunit_kzalloc(): a pgmap that cannot be torn down keeps it. */
	kp = kzalloc_obj(*kp, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, kp);
	init_completion(&kp->unmap_done);
	init_completion(&kp->stalled);
	init_completion(&kp->unstall);

	kp->res = request_free_mem_region(&iomem_resource, KP_SIZE,
					  "pgmap_folio_kunit");
	if (IS_ERR(kp->res)) {
		KUNIT_FAIL(test, "no free region: %ld", PTR_ERR(kp->res));
		kfree(kp);
		return PTR_ERR(kp->res);
	}

	kp->pgmap.type = MEMORY_DEVICE_PCI_P2PDMA;
	/* The region may be larger (section aligned): use KP_SIZE of it. */
	kp->pgmap.range.start = kp->res->start;
	kp->pgmap.range.end = kp->res->start + KP_SIZE - 1;
	kp->pgmap.nr_range = 1;
	kp->pgmap.ops = &kunit_pgmap_ops;
	addr = memremap_pages(&kp->pgmap, NUMA_NO_NODE);
	if (IS_ERR(addr)) {
		release_mem_region(kp->res->start, resource_size(kp->res));
		KUNIT_FAIL(test, "memremap_pages: %ld", PTR_ERR(addr));
		kfree(kp);
		return PTR_ERR(addr);
	}

	/* Order 0: the large-folio cases make a pool of their own. */
	kp->pool = pgmap_folio_pool_create(&kp->pgmap, 0);
	if (IS_ERR(kp->pool)) {
		int err = PTR_ERR(kp->pool);

		memunmap_pages(&kp->pgmap);
		release_mem_region(kp->res->start, resource_size(kp->res));
		KUNIT_FAIL(test, "pgmap_folio_pool_create: %d", err);
		kfree(kp);
		return err;
	}

	test->priv = kp;
	return 0;
}

/* Every folio back in the pool, within a second; false if not. */
static bool kp_all_back(struct kunit_pgmap *kp)
{
	int tries;

	for (tries = 0; tries < 50; tries++) {
		pgmap_folio_pool_drain(kp->pool);
		if (!pgmap_folios_in_use(kp->pool))
			return true;
		msleep(20);
	}
	return false;
}

static void pgmap_folio_test_exit(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	unsigned int i;

	if (!kp)
		return;
	/* A work item a test that failed halfway still holds up. */
	complete_all(&kp->unstall);
	/* What a test that failed halfway still holds. */
	for (i = 0; i < KP_NR_FOLIOS; i++)
		for (; kp->refs[i]; kp->refs[i]--)
			folio_put(pfn_folio(kp_base_pfn(kp) + i));
	if (kp->unmapped) {
		if (!wait_for_completion_timeout(&kp->unmap_done, 10 * HZ)) {
			kunit_err(test, "teardown still waiting; leaking the pgmap\n");
			return;
		}
	} else {
		/* Waiting in memunmap_pages() for a lost folio would hang. */
		if (!kp_all_back(kp)) {
			kunit_err(test, "folios lost by the test; leaking the pgmap\n");
			return;
		}
		memunmap_pages(&kp->pgmap);
	}
	pgmap_folio_pool_destroy(kp->pool);
	release_mem_region(kp->res->start, resource_size(kp->res));
	kfree(kp);
}

/* Requested folios come back, with their accounting, once put. */
static void pgmap_folio_test_release_accounting(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *folios[4];
	int i;

	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_size(kp->pool), (u64)KP_SIZE);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);

	KUNIT_ASSERT_EQ(test, kp_request(kp, 2 * PAGE_SIZE, 4 * PAGE_SIZE, folios), 4);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 4UL);
	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_free_bytes(kp->pool),
			(u64)KP_SIZE - 4 * PAGE_SIZE);
	for (i = 0; i < 4; i++) {
		KUNIT_EXPECT_EQ(test, folio_pfn(folios[i]), kp_base_pfn(kp) + 2 + i);
		KUNIT_EXPECT_EQ(test, folio_ref_count(folios[i]), 1);
		KUNIT_EXPECT_EQ(test, pgmap_folio_state(kp->pool, (2 + i) * PAGE_SIZE),
				PGMAP_FOLIO_IN_USE);
	}
	KUNIT_EXPECT_EQ(test, pgmap_folio_state(kp->pool, PAGE_SIZE),
			PGMAP_FOLIO_FREE);

	kp_release(kp, folios, 4);
	pgmap_folio_pool_drain(kp->pool);

	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);
	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_free_bytes(kp->pool), (u64)KP_SIZE);
	for (i = 0; i < 4; i++) {
		KUNIT_EXPECT_EQ(test, folio_ref_count(folios[i]),
				pgmap_compat_idle_refs(&kp->pgmap));
		KUNIT_EXPECT_EQ(test, pgmap_folio_state(kp->pool, (2 + i) * PAGE_SIZE),
				PGMAP_FOLIO_FREE);
	}
}

/* A folio in use cannot be requested again; the failure changes nothing. */
static void pgmap_folio_test_double_request(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *folio, *again[2] = {};

	KUNIT_ASSERT_EQ(test, kp_request(kp, 0, PAGE_SIZE, &folio), 1);
	/* Expect a WARNING: the range overlaps the busy folio. */
	KUNIT_EXPECT_EQ(test, kp_request(kp, 0, 2 * PAGE_SIZE, again), -EBUSY);
	KUNIT_EXPECT_NULL(test, again[0]);
	KUNIT_EXPECT_EQ(test, folio_ref_count(folio), 1);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 1UL);
	KUNIT_EXPECT_EQ(test, pgmap_folio_state(kp->pool, PAGE_SIZE),
			PGMAP_FOLIO_FREE);

	kp_release(kp, &folio, 1);
	pgmap_folio_pool_drain(kp->pool);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);
}

/* Ranges outside the pgmap or not page aligned are refused quietly. */
static void pgmap_folio_test_out_of_range(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *folio = NULL;

	KUNIT_EXPECT_EQ(test, kp_request(kp, KP_SIZE, PAGE_SIZE, &folio), -EINVAL);
	KUNIT_EXPECT_EQ(test, kp_request(kp, KP_SIZE - PAGE_SIZE, 2 * PAGE_SIZE, &folio), -EINVAL);
	KUNIT_EXPECT_EQ(test, kp_request(kp, 0, 0, &folio), -EINVAL);
	KUNIT_EXPECT_EQ(test, kp_request(kp, 1, PAGE_SIZE, &folio), -EINVAL);
	KUNIT_EXPECT_EQ(test, kp_request(kp, 0, PAGE_SIZE + 1, &folio), -EINVAL);
	/* offset + len wraps around */
	KUNIT_EXPECT_EQ(test, kp_request(kp, PAGE_SIZE, U64_MAX & PAGE_MASK, &folio),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, kp_request(kp, U64_MAX & PAGE_MASK, 2 * PAGE_SIZE, &folio), -EINVAL);
	KUNIT_EXPECT_NULL(test, folio);
	KUNIT_EXPECT_NULL(test, pgmap_folio_try_get(kp->pool, KP_SIZE));
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);
}

/* The free run at an offset stops at a busy folio, the limit or the end. */
static void pgmap_folio_test_free_run(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *folio;

	KUNIT_EXPECT_EQ(test, pgmap_folio_free_run(kp->pool, 0, U64_MAX),
			(u64)KP_SIZE);
	KUNIT_EXPECT_EQ(test, pgmap_folio_free_run(kp->pool, PAGE_SIZE,
						   3 * PAGE_SIZE),
			(u64)(3 * PAGE_SIZE));
	KUNIT_ASSERT_EQ(test, kp_request(kp, 8 * PAGE_SIZE, PAGE_SIZE, &folio), 1);
	KUNIT_EXPECT_EQ(test, pgmap_folio_free_run(kp->pool, 2 * PAGE_SIZE,
						   U64_MAX),
			(u64)(6 * PAGE_SIZE));
	KUNIT_EXPECT_EQ(test, pgmap_folio_free_run(kp->pool, 8 * PAGE_SIZE,
						   U64_MAX), 0ULL);
	KUNIT_EXPECT_EQ(test, pgmap_folio_free_run(kp->pool, 9 * PAGE_SIZE,
						   U64_MAX),
			(u64)(KP_SIZE - 9 * PAGE_SIZE));
	/* Outside the pool or unaligned: nothing is free there. */
	KUNIT_EXPECT_EQ(test, pgmap_folio_free_run(kp->pool, KP_SIZE, U64_MAX),
			0ULL);
	KUNIT_EXPECT_EQ(test, pgmap_folio_free_run(kp->pool, 1, U64_MAX), 0ULL);

	kp_release(kp, &folio, 1);
	pgmap_folio_pool_drain(kp->pool);
	KUNIT_EXPECT_EQ(test, pgmap_folio_free_run(kp->pool, 0, U64_MAX),
			(u64)KP_SIZE);
}

/* Every folio can be handed out, none more, and all come back for reuse. */
static void pgmap_folio_test_exhaustion_and_reuse(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio **folios, *one = NULL;
	int round;

	folios = kunit_kcalloc(test, KP_NR_FOLIOS, sizeof(*folios), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, folios);

	for (round = 0; round < 2; round++) {
		KUNIT_ASSERT_EQ(test, kp_request(kp, 0, KP_SIZE, folios),
				(int)KP_NR_FOLIOS);
		KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool),
				(unsigned long)KP_NR_FOLIOS);
		KUNIT_EXPECT_EQ(test, pgmap_folio_pool_free_bytes(kp->pool), 0ULL);
		KUNIT_EXPECT_EQ(test, kp_request(kp, KP_SIZE - PAGE_SIZE,
						 PAGE_SIZE, &one), -EBUSY);

		kp_release(kp, folios, KP_NR_FOLIOS);
		pgmap_folio_pool_drain(kp->pool);
		KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);
		KUNIT_EXPECT_EQ(test, pgmap_folio_pool_free_bytes(kp->pool),
				(u64)KP_SIZE);
	}
	KUNIT_EXPECT_NULL(test, one);
}

/* A second user shares an in-use folio; it returns after the last put. */
static void pgmap_folio_test_try_get_shares(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *folio, *shared;

	KUNIT_EXPECT_NULL(test, pgmap_folio_try_get(kp->pool, 0));
	KUNIT_ASSERT_EQ(test, kp_request(kp, 0, PAGE_SIZE, &folio), 1);
	shared = kp_try_get(kp, 0);
	KUNIT_ASSERT_PTR_EQ(test, shared, folio);
	KUNIT_EXPECT_EQ(test, folio_ref_count(folio), 2);

	kp_release(kp, &folio, 1);
	pgmap_folio_pool_drain(kp->pool);
	KUNIT_EXPECT_EQ(test, pgmap_folio_state(kp->pool, 0), PGMAP_FOLIO_IN_USE);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 1UL);

	kp_release(kp, &shared, 1);
	pgmap_folio_pool_drain(kp->pool);
	KUNIT_EXPECT_EQ(test, pgmap_folio_state(kp->pool, 0), PGMAP_FOLIO_FREE);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);
}

/* module only: the deferred return of kernels up to 6.14 */
/*
 * The return, and the pgmap put, wait until the core is done with the
 * freed folio: replay the window inside free_zone_device_folio() between
 * ->page_free() and the reset of the count to one (up to 6.14).
 */
static void pgmap_folio_test_return_waits_for_core(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *folio;

	if (PGMAP_COMPAT_REFCOUNT_REWORK)
		kunit_skip(test, "since 6.15 the core no longer touches a freed P2PDMA folio");

	KUNIT_ASSERT_EQ(test, kp_request(kp, 0, PAGE_SIZE, &folio), 1);
	/* What free_zone_device_folio() does, stopped halfway. */
	KUNIT_ASSERT_TRUE(test, folio_ref_dec_and_test(folio));
	kp->refs[0]--;
	kunit_pgmap_folio_free(folio);

	pgmap_folio_pool_drain(kp->pool);
	KUNIT_EXPECT_EQ(test, pgmap_folio_state(kp->pool, 0),
			PGMAP_FOLIO_RETURNING);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 1UL);
	KUNIT_EXPECT_NULL(test, pgmap_folio_try_get(kp->pool, 0));

	/* The core finishes. */
	folio_set_count(folio, 1);
	pgmap_folio_pool_drain(kp->pool);
	KUNIT_EXPECT_EQ(test, pgmap_folio_state(kp->pool, 0), PGMAP_FOLIO_FREE);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);
}

/* end module only */

/*
 * The idle reference count the pool assumes is the one the kernel gives the
 * folios of a fresh pgmap: P2PDMA folios idle at zero since the 6.15
 * refcount rework and at one before it. The expectation is written out
 * here, not taken from compat.h, so that a wrong branch there fails.
 */
static void pgmap_folio_test_fresh_pool_idle_count(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	int want = P2P_PGMAP_KERNEL_AT_LEAST(6, 15) ? 0 : 1;
	unsigned long i, wrong = 0;

	KUNIT_EXPECT_EQ(test, pgmap_compat_idle_refs(&kp->pgmap), want);
	for (i = 0; i < KP_NR_FOLIOS; i++)
		if (folio_ref_count(pfn_folio(kp_base_pfn(kp) + i)) != want)
			wrong++;
	KUNIT_EXPECT_EQ_MSG(test, wrong, 0UL,
			    "folios of a fresh pool whose refcount is not %d",
			    want);
	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_free_bytes(kp->pool),
			(u64)KP_SIZE);
}

/*
 * A pool needs the core to report every freed folio: since 6.15 it never
 * does for MEMORY_DEVICE_GENERIC, and creating a pool there is refused.
 */
static void pgmap_folio_test_generic_needs_callback(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct dev_pagemap generic = {
		.type = MEMORY_DEVICE_GENERIC,
		.range = kp->pgmap.range,
		.nr_range = 1,
	};
	struct pgmap_folio_pool *pool = pgmap_folio_pool_create(&generic, 0);

	if (P2P_PGMAP_KERNEL_AT_LEAST(6, 15)) {
		KUNIT_EXPECT_EQ(test, PTR_ERR_OR_ZERO(pool), -EOPNOTSUPP);
		return;
	}
	KUNIT_EXPECT_FALSE(test, IS_ERR(pool));
	pgmap_folio_pool_destroy(pool);
}

/*
 * pgmap_alloc_folios() places a whole run at the alignment and phase
 * asked for, skipping aligned blocks that have a busy folio (with 4 KiB
 * pages: a 64 KiB block is 16 folios).
 */
static void pgmap_folio_test_alloc_aligned(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *folios[16], *busy;
	u64 offset = U64_MAX;

	/* A busy folio in the first block: the run goes to the next one. */
	KUNIT_ASSERT_EQ(test, kp_request(kp, 3 * PAGE_SIZE, PAGE_SIZE, &busy), 1);
	KUNIT_ASSERT_EQ(test, kp_alloc(kp, 4 * PAGE_SIZE, SZ_64K, 2 * PAGE_SIZE,
				       &offset, folios), 4);
	KUNIT_EXPECT_EQ(test, offset, (u64)SZ_64K + 2 * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, folio_pfn(folios[0]),
			kp_base_pfn(kp) + (offset >> PAGE_SHIFT));
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 5UL);
	kp_release(kp, folios, 4);
	kp_release(kp, &busy, 1);

	/* On from where the last search ended, at the alignment asked for. */
	KUNIT_ASSERT_EQ(test, kp_alloc(kp, 8 * PAGE_SIZE, SZ_64K, 0, &offset,
				       folios), 8);
	KUNIT_EXPECT_EQ(test, offset, 2ULL * SZ_64K);
	kp_release(kp, folios, 8);
	pgmap_folio_pool_drain(kp->pool);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);
}

/*
 * With no aligned block free, it takes the longest run it can of the
 * first free folios; with none free, it says so; bad arguments are
 * refused.
 */
static void pgmap_folio_test_alloc_fallback_and_exhaustion(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio **all, *gap[4];
	u64 offset, i;

	all = kunit_kcalloc(test, KP_NR_FOLIOS, sizeof(*all), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, all);
	KUNIT_ASSERT_EQ(test, kp_alloc(kp, KP_SIZE, KP_SIZE, 0, &offset, all),
			(int)KP_NR_FOLIOS);
	KUNIT_EXPECT_EQ(test, offset, 0ULL);
	KUNIT_EXPECT_EQ(test, kp_alloc(kp, PAGE_SIZE, PAGE_SIZE, 0, &offset, gap),
			-ENOMEM);

	/* Free folios 100 to 102 only: an aligned 4-page run is nowhere. */
	for (i = 100; i < 103; i++)
		kp_release(kp, &all[i], 1);
	pgmap_folio_pool_drain(kp->pool);
	KUNIT_ASSERT_EQ(test, kp_alloc(kp, 4 * PAGE_SIZE, 4 * PAGE_SIZE, 0,
				       &offset, gap), 3);
	KUNIT_EXPECT_EQ(test, offset, 100ULL * PAGE_SIZE);

	KUNIT_EXPECT_EQ(test, kp_alloc(kp, 0, PAGE_SIZE, 0, &offset, gap), -EINVAL);
	KUNIT_EXPECT_EQ(test, kp_alloc(kp, PAGE_SIZE, 3 * PAGE_SIZE, 0, &offset, gap),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, kp_alloc(kp, PAGE_SIZE, PAGE_SIZE, PAGE_SIZE, &offset,
				       gap), -EINVAL);
	KUNIT_EXPECT_EQ(test, kp_alloc(kp, 2 * KP_SIZE, PAGE_SIZE, 0, &offset, gap),
			-EINVAL);

	kp_release(kp, gap, 3);
	for (i = 0; i < KP_NR_FOLIOS; i++)
		if (i < 100 || i >= 103)
			kp_release(kp, &all[i], 1);
	pgmap_folio_pool_drain(kp->pool);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);
}

/*
 * A free folio with a passing reference (GUP-fast takes one speculatively
 * and drops it) is not handed out: a request of it fails with -EAGAIN and
 * no warning, and pgmap_alloc_folios() goes round it.
 */
static void pgmap_folio_test_passing_reference(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *stray = pfn_folio(kp_base_pfn(kp)), *folios[4];
	u64 offset;

	folio_ref_inc(stray);
	KUNIT_EXPECT_EQ(test, kp_request(kp, 0, 2 * PAGE_SIZE, folios), -EAGAIN);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);
	KUNIT_ASSERT_EQ(test, kp_alloc(kp, 4 * PAGE_SIZE, 4 * PAGE_SIZE, 0, &offset,
				       folios), 4);
	KUNIT_EXPECT_EQ(test, offset, 4ULL * PAGE_SIZE);
	kp_release(kp, folios, 4);
	folio_ref_dec(stray);

	KUNIT_ASSERT_EQ(test, kp_request(kp, 0, 2 * PAGE_SIZE, folios), 2);
	kp_release(kp, folios, 2);
	pgmap_folio_pool_drain(kp->pool);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);
}

/*
 * The cases below run on a pool that builds folios as large as the kernel
 * can (PMD order on 7.x): the suite's pool, of order 0, is replaced before
 * any folio is requested from it.
 */
static void kp_large_pool(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	unsigned int max = pgmap_folio_max_order(&kp->pgmap);

	if (!max)
		kunit_skip(test, "no large device folios on this kernel (before 7.0, or no THP)");
	pgmap_folio_pool_destroy(kp->pool);
	kp->pool = pgmap_folio_pool_create(&kp->pgmap, max);
	KUNIT_ASSERT_FALSE(test, IS_ERR(kp->pool));
	KUNIT_ASSERT_EQ(test, max, (unsigned int)HPAGE_PMD_ORDER);
}

/*
 * A request returns the fewest folios that cover the range: an aligned
 * 2 MiB is one PMD-order folio; pages 3 to 15 are folios of orders 0, 2
 * and 3, each naturally aligned; every one has a count of one.
 */
static void pgmap_folio_test_large_orders_follow_alignment(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *folios[16];
	static const unsigned int orders[] = { 0, 2, 3 };
	static const unsigned long firsts[] = { 3, 4, 8 };
	int i;

	kp_large_pool(test);
	KUNIT_ASSERT_EQ(test, kp_request(kp, 0, KP_SIZE, folios), 1);
	KUNIT_EXPECT_EQ(test, folio_order(folios[0]), (unsigned int)HPAGE_PMD_ORDER);
	KUNIT_EXPECT_EQ(test, folio_pfn(folios[0]), kp_base_pfn(kp));
	KUNIT_EXPECT_EQ(test, folio_ref_count(folios[0]), 1);
	/* A large folio counts once; its pages are all taken. */
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 1UL);
	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_free_bytes(kp->pool), 0ULL);
	kp_release(kp, folios, 1);
	KUNIT_ASSERT_TRUE(test, kp_all_back(kp));

	KUNIT_ASSERT_EQ(test, kp_request(kp, 3 * PAGE_SIZE, 13 * PAGE_SIZE, folios), 3);
	for (i = 0; i < 3; i++) {
		KUNIT_EXPECT_EQ(test, folio_order(folios[i]), orders[i]);
		KUNIT_EXPECT_EQ(test, folio_pfn(folios[i]), kp_base_pfn(kp) + firsts[i]);
		KUNIT_EXPECT_EQ(test, folio_ref_count(folios[i]), 1);
	}
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 3UL);
	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_free_bytes(kp->pool),
			(u64)KP_SIZE - 13 * PAGE_SIZE);
	kp_release(kp, folios, 3);
	KUNIT_EXPECT_TRUE(test, kp_all_back(kp));
}

/*
 * A large folio that comes back frees all its pages, which are then cut
 * again in whatever orders the next requests need: a former tail becomes
 * an order-0 folio of its own, and the 2 MiB is whole again afterwards.
 */
static void pgmap_folio_test_large_split_back_and_reuse(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *big, *tail, *head;

	kp_large_pool(test);
	KUNIT_ASSERT_EQ(test, kp_request(kp, 0, KP_SIZE, &big), 1);
	kp_release(kp, &big, 1);
	KUNIT_ASSERT_TRUE(test, kp_all_back(kp));
	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_free_bytes(kp->pool), (u64)KP_SIZE);

	KUNIT_ASSERT_EQ(test, kp_request(kp, 5 * PAGE_SIZE, PAGE_SIZE, &tail), 1);
	KUNIT_EXPECT_FALSE(test, folio_test_large(tail));
	KUNIT_EXPECT_EQ(test, folio_pfn(tail), kp_base_pfn(kp) + 5);
	KUNIT_EXPECT_EQ(test, folio_ref_count(tail), 1);
	KUNIT_ASSERT_EQ(test, kp_request(kp, 0, PAGE_SIZE, &head), 1);
	KUNIT_EXPECT_FALSE(test, folio_test_large(head));
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 2UL);
	/* The whole 2 MiB is not free: the request changes nothing. */
	KUNIT_EXPECT_EQ(test, kp_request(kp, 0, KP_SIZE, &big), -EBUSY);
	kp_release(kp, &tail, 1);
	kp_release(kp, &head, 1);
	KUNIT_ASSERT_TRUE(test, kp_all_back(kp));

	KUNIT_ASSERT_EQ(test, kp_request(kp, 0, KP_SIZE, &big), 1);
	KUNIT_EXPECT_EQ(test, folio_order(big), (unsigned int)HPAGE_PMD_ORDER);
	kp_release(kp, &big, 1);
	KUNIT_EXPECT_TRUE(test, kp_all_back(kp));
}

/*
 * PGMAP_ALLOC_WHOLE takes all of an aligned 2 MiB as one folio or
 * nothing; without it, what is free is taken in the largest folios its
 * alignment allows (pages 1 to 511: orders 0 to 8, one each).
 */
static void pgmap_folio_test_large_alloc_whole_and_exhaustion(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio **folios, *one;
	u64 len = KP_SIZE, offset = U64_MAX;
	int i;

	folios = kunit_kcalloc(test, KP_NR_FOLIOS, sizeof(*folios), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, folios);
	kp_large_pool(test);

	KUNIT_ASSERT_EQ(test, kp_alloc_flags(kp, &len, KP_SIZE, 0,
					     PGMAP_ALLOC_WHOLE, &offset, folios), 1);
	KUNIT_EXPECT_EQ(test, offset, 0ULL);
	KUNIT_EXPECT_EQ(test, len, (u64)KP_SIZE);
	KUNIT_EXPECT_EQ(test, folio_order(folios[0]), (unsigned int)HPAGE_PMD_ORDER);
	len = PAGE_SIZE;
	KUNIT_EXPECT_EQ(test, kp_alloc_flags(kp, &len, PAGE_SIZE, 0, 0, &offset,
					     &one), -ENOMEM);
	kp_release(kp, folios, 1);
	KUNIT_ASSERT_TRUE(test, kp_all_back(kp));

	KUNIT_ASSERT_EQ(test, kp_request(kp, 0, PAGE_SIZE, &one), 1);
	len = KP_SIZE;
	KUNIT_EXPECT_EQ(test, kp_alloc_flags(kp, &len, KP_SIZE, 0,
					     PGMAP_ALLOC_WHOLE, &offset, folios),
			-ENOMEM);
	len = KP_SIZE;
	KUNIT_ASSERT_EQ(test, kp_alloc_flags(kp, &len, KP_SIZE, 0, 0, &offset,
					     folios), (int)HPAGE_PMD_ORDER);
	KUNIT_EXPECT_EQ(test, offset, (u64)PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, len, (u64)KP_SIZE - PAGE_SIZE);
	for (i = 0; i < HPAGE_PMD_ORDER; i++)
		KUNIT_EXPECT_EQ(test, folio_order(folios[i]), (unsigned int)i);
	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_free_bytes(kp->pool), 0ULL);
	kp_release(kp, folios, HPAGE_PMD_ORDER);
	kp_release(kp, &one, 1);
	KUNIT_EXPECT_TRUE(test, kp_all_back(kp));
}

static int kunit_pgmap_unmapper(void *data)
{
	struct kunit_pgmap *kp = data;

	memunmap_pages(&kp->pgmap);
	/* complete_all(): completion_done() stays true after the wait. */
	complete_all(&kp->unmap_done);
	return 0;
}

/*
 * Start tearing the pgmap down in a thread, while @held (if not NULL) is
 * out, and wait until its counter is dying; false (the test failed) if the
 * thread could not start. Teardown then waits for @held.
 */
static bool kp_start_unmap(struct kunit *test, struct folio *held)
{
	struct kunit_pgmap *kp = test->priv;
	struct task_struct *unmapper;
	int waited;

	unmapper = kthread_run(kunit_pgmap_unmapper, kp, "pgmap_folio_kunit");
	if (IS_ERR(unmapper)) {
		if (held)
			kp_release(kp, &held, 1);
		KUNIT_FAIL(test, "kthread_run: %ld", PTR_ERR(unmapper));
		return false;
	}
	kp->unmapped = true;
	for (waited = 0; waited < 250; waited++) {
		if (percpu_ref_is_dying(&kp->pgmap.ref))
			break;
		msleep(20);
	}
	KUNIT_EXPECT_TRUE(test, percpu_ref_is_dying(&kp->pgmap.ref));
	return true;
}

/*
 * Once teardown has started, requests fail; teardown completes when the
 * last folio handed out is put.
 */
static void pgmap_folio_test_request_on_dying(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *held, *late = NULL;

	KUNIT_ASSERT_EQ(test, kp_request(kp, 0, PAGE_SIZE, &held), 1);
	if (!kp_start_unmap(test, held))
		return;
	KUNIT_EXPECT_FALSE(test, completion_done(&kp->unmap_done));

	/* Expect a WARNING: requesting from a dying pgmap is a caller bug. */
	KUNIT_EXPECT_EQ(test, kp_request(kp, PAGE_SIZE, PAGE_SIZE, &late), -ENXIO);
	KUNIT_EXPECT_NULL(test, late);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 1UL);

	kp_release(kp, &held, 1);
	KUNIT_EXPECT_TRUE(test, wait_for_completion_timeout(&kp->unmap_done,
							    10 * HZ) > 0);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);
}

/*
 * A large folio holds one pgmap reference per page: teardown waits while
 * it is out, and completes once it is put (too few references and it
 * would not wait, too many and it would never complete).
 */
static void pgmap_folio_test_large_freed_while_remove_waits(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *big;

	kp_large_pool(test);
	KUNIT_ASSERT_EQ(test, kp_request(kp, 0, KP_SIZE, &big), 1);
	if (!kp_start_unmap(test, big))
		return;
	msleep(100);
	KUNIT_EXPECT_FALSE(test, completion_done(&kp->unmap_done));

	kp_release(kp, &big, 1);
	KUNIT_EXPECT_TRUE(test, wait_for_completion_timeout(&kp->unmap_done,
							    10 * HZ) > 0);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);
}

/*
 * Zeroing of freed memory. The pgmap covers no memory, so the pool's zero
 * callback writes nothing: it records, page by page, that the page was
 * zeroed (clean[], zeroed[]), and the free callback clears clean[]. A page
 * handed out must be clean: zeroed since it was last freed. While a test
 * holds the work item up (kp_stall()), the callback stops in the work
 * item until kp_unstall().
 */
static void kp_zero(struct dev_pagemap *pgmap, u64 offset, u64 len)
{
	struct kunit_pgmap *kp = container_of(pgmap, struct kunit_pgmap, pgmap);
	unsigned long first = offset >> PAGE_SHIFT, nr = len >> PAGE_SHIFT, i;
	bool worker = current->flags & PF_WQ_WORKER;

	if (!nr || !PAGE_ALIGNED(offset) || !PAGE_ALIGNED(len) ||
	    first >= KP_NR_FOLIOS || nr > KP_NR_FOLIOS - first) {
		atomic_inc(&kp->bad_zero);
		return;
	}
	if (worker && READ_ONCE(kp->stall)) {
		WRITE_ONCE(kp->stalled_at, first);
		complete(&kp->stalled);
		wait_for_completion(&kp->unstall);
	}
	for (i = first; i < first + nr; i++) {
		WRITE_ONCE(kp->clean[i], true);
		atomic_inc(&kp->zeroed[i]);
	}
	atomic_add(nr, worker ? &kp->zeroed_by_worker : &kp->zeroed_by_caller);
}

static void kp_zero_pool(struct kunit_pgmap *kp)
{
	pgmap_folio_pool_zero_freed(kp->pool, kp_zero);
}

/* Hold the work item up in the zero callback of the next chunk it takes. */
static void kp_stall(struct kunit_pgmap *kp)
{
	WRITE_ONCE(kp->stall, true);
}

/* Whether the work item stopped in the zero callback within 5 s. */
static bool kp_wait_stalled(struct kunit_pgmap *kp)
{
	return wait_for_completion_timeout(&kp->stalled, 5 * HZ) > 0;
}

/* Let the work item go, now and for good. */
static void kp_unstall(struct kunit_pgmap *kp)
{
	WRITE_ONCE(kp->stall, false);
	complete_all(&kp->unstall);
}

/* Free pages not zeroed since they were last freed. */
static unsigned long kp_unclean_free(struct kunit_pgmap *kp)
{
	unsigned long i, n = 0;

	for (i = 0; i < KP_NR_FOLIOS; i++)
		if (pgmap_folio_state(kp->pool, i * PAGE_SIZE) == PGMAP_FOLIO_FREE &&
		    !READ_ONCE(kp->clean[i]))
			n++;
	return n;
}

/* Pages of @folios not zeroed since they were last freed. */
static unsigned long kp_unclean(struct kunit_pgmap *kp, struct folio **folios,
				unsigned int nr)
{
	unsigned long idx, j, n = 0;
	unsigned int i;

	for (i = 0; i < nr; i++) {
		idx = folio_pfn(folios[i]) - kp_base_pfn(kp);
		for (j = 0; j < folio_nr_pages(folios[i]); j++)
			if (!READ_ONCE(kp->clean[idx + j]))
				n++;
	}
	return n;
}

/* Pages @first to @first + @nr - 1 not zeroed exactly @times times. */
static unsigned long kp_zeroed_not(struct kunit_pgmap *kp, unsigned long first,
				   unsigned long nr, int times)
{
	unsigned long i, n = 0;

	for (i = first; i < first + nr; i++)
		if (atomic_read(&kp->zeroed[i]) != times)
			n++;
	return n;
}

/* The work item has zeroed every free page, within 5 s; false if not. */
static bool kp_wait_zeroed(struct kunit_pgmap *kp)
{
	int tries;

	for (tries = 0; tries < 250; tries++) {
		pgmap_folio_pool_drain(kp->pool);
		if (!pgmap_folio_pool_dirty_bytes(kp->pool) && !kp_unclean_free(kp))
			return true;
		msleep(20);
	}
	return false;
}

/*
 * Once a pool zeroes freed memory, everything free is dirty, and its work
 * item zeroes all of it, each page once, in the background; a page in use
 * meanwhile is left alone, and zeroed once it is freed.
 */
static void pgmap_folio_test_zero_freed_zeroes_all_once(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *held;

	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_dirty_bytes(kp->pool), 0ULL);
	KUNIT_ASSERT_EQ(test, kp_request(kp, 5 * PAGE_SIZE, PAGE_SIZE, &held), 1);
	kp_zero_pool(kp);
	KUNIT_ASSERT_TRUE_MSG(test, kp_wait_zeroed(kp),
			      "%llu bytes still dirty after 5 s",
			      pgmap_folio_pool_dirty_bytes(kp->pool));
	KUNIT_EXPECT_EQ(test, kp_zeroed_not(kp, 0, 5, 1), 0UL);
	KUNIT_EXPECT_EQ(test, kp_zeroed_not(kp, 5, 1, 0), 0UL);
	KUNIT_EXPECT_EQ(test, kp_zeroed_not(kp, 6, KP_NR_FOLIOS - 6, 1), 0UL);
	KUNIT_EXPECT_EQ(test, atomic_read(&kp->zeroed_by_worker),
			(int)KP_NR_FOLIOS - 1);

	kp_release(kp, &held, 1);
	KUNIT_ASSERT_TRUE(test, kp_wait_zeroed(kp));
	KUNIT_EXPECT_EQ(test, kp_zeroed_not(kp, 0, KP_NR_FOLIOS, 1), 0UL);
	KUNIT_EXPECT_EQ(test, atomic_read(&kp->zeroed_by_worker),
			(int)KP_NR_FOLIOS);
	KUNIT_EXPECT_EQ(test, atomic_read(&kp->zeroed_by_caller), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&kp->bad_zero), 0);
	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_free_bytes(kp->pool), (u64)KP_SIZE);
}

/*
 * A freed folio is dirty until the work item has zeroed it again; zeroed
 * memory handed out is not zeroed twice. While being zeroed, the pages
 * are free, yet nobody can take a reference on them.
 */
static void pgmap_folio_test_zero_freed_folio_again(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *folios[4];

	kp_zero_pool(kp);
	KUNIT_ASSERT_TRUE(test, kp_wait_zeroed(kp));
	KUNIT_ASSERT_EQ(test, kp_request(kp, 8 * PAGE_SIZE, 4 * PAGE_SIZE, folios), 4);
	KUNIT_EXPECT_EQ(test, kp_unclean(kp, folios, 4), 0UL);
	KUNIT_EXPECT_EQ(test, kp_zeroed_not(kp, 8, 4, 1), 0UL);

	kp_stall(kp);
	kp_release(kp, folios, 4);
	KUNIT_ASSERT_TRUE(test, kp_wait_stalled(kp));
	KUNIT_EXPECT_EQ(test, READ_ONCE(kp->stalled_at), 8UL);
	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_dirty_bytes(kp->pool),
			4ULL * PAGE_SIZE);
	KUNIT_EXPECT_FALSE(test, READ_ONCE(kp->clean[8]));
	KUNIT_EXPECT_EQ(test, pgmap_folio_state(kp->pool, 8 * PAGE_SIZE),
			PGMAP_FOLIO_FREE);
	KUNIT_EXPECT_NULL(test, pgmap_folio_try_get(kp->pool, 8 * PAGE_SIZE));

	kp_unstall(kp);
	KUNIT_ASSERT_TRUE(test, kp_wait_zeroed(kp));
	KUNIT_EXPECT_EQ(test, kp_zeroed_not(kp, 8, 4, 2), 0UL);
	KUNIT_EXPECT_EQ(test, kp_zeroed_not(kp, 0, 8, 1), 0UL);
	KUNIT_EXPECT_EQ(test, kp_zeroed_not(kp, 12, KP_NR_FOLIOS - 12, 1), 0UL);
	KUNIT_EXPECT_EQ(test, atomic_read(&kp->zeroed_by_caller), 0);
}

struct kp_late_request {
	struct kunit_pgmap *kp;
	u64 offset, len;
	struct folio *folios[4];
	int nr;
	struct completion done;
};

static int kp_late_request_fn(void *data)
{
	struct kp_late_request *late = data;

	late->nr = kp_request(late->kp, late->offset, late->len, late->folios);
	complete_all(&late->done);
	return 0;
}

/*
 * Memory handed out reads zero even while the work item is held up: a
 * request zeroes what the work item has not reached itself, and one that
 * overlaps the chunk the work item is zeroing waits for it. A page held
 * when zeroing started splits the free memory, so that the work item's
 * first chunk is pages 0 to 255.
 */
static void pgmap_folio_test_zeroed_while_work_held_up(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *held, *folios[8];
	struct kp_late_request *late;
	struct task_struct *thread;
	u64 len = 8 * PAGE_SIZE, offset = U64_MAX;

	late = kunit_kzalloc(test, sizeof(*late), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, late);
	KUNIT_ASSERT_EQ(test, kp_request(kp, 256 * PAGE_SIZE, PAGE_SIZE, &held), 1);
	kp_stall(kp);
	kp_zero_pool(kp);
	KUNIT_ASSERT_TRUE(test, kp_wait_stalled(kp));
	KUNIT_EXPECT_EQ(test, READ_ONCE(kp->stalled_at), 0UL);
	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_dirty_bytes(kp->pool),
			(u64)KP_SIZE - PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, pgmap_folio_state(kp->pool, 0), PGMAP_FOLIO_FREE);

	/* Past the work item's chunk: the request zeroes it itself. */
	KUNIT_ASSERT_EQ(test, kp_request(kp, 300 * PAGE_SIZE, 4 * PAGE_SIZE,
					 folios), 4);
	KUNIT_EXPECT_EQ(test, kp_unclean(kp, folios, 4), 0UL);
	KUNIT_EXPECT_EQ(test, atomic_read(&kp->zeroed_by_caller), 4);
	kp_release(kp, folios, 4);

	KUNIT_ASSERT_EQ(test, kp_alloc_flags(kp, &len, 8 * PAGE_SIZE, 0,
					     PGMAP_ALLOC_ZEROED, &offset,
					     folios), 8);
	KUNIT_EXPECT_GE(test, offset, 257ULL * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, kp_unclean(kp, folios, 8), 0UL);
	kp_release(kp, folios, 8);

	/* Freed a moment ago, dirty, and handed out again zeroed. */
	kp_release(kp, &held, 1);
	pgmap_folio_pool_drain(kp->pool);
	KUNIT_ASSERT_EQ(test, kp_request(kp, 256 * PAGE_SIZE, PAGE_SIZE, &held), 1);
	KUNIT_EXPECT_EQ(test, kp_unclean(kp, &held, 1), 0UL);
	KUNIT_EXPECT_EQ(test, kp_zeroed_not(kp, 256, 1, 1), 0UL);
	kp_release(kp, &held, 1);

	/* In the work item's chunk: the request waits for the work item. */
	late->kp = kp;
	late->offset = 2 * PAGE_SIZE;
	late->len = 4 * PAGE_SIZE;
	init_completion(&late->done);
	thread = kthread_run(kp_late_request_fn, late, "pgmap_folio_kunit");
	if (IS_ERR(thread)) {
		kp_unstall(kp);
		KUNIT_FAIL(test, "kthread_run: %ld", PTR_ERR(thread));
		return;
	}
	msleep(100);
	KUNIT_EXPECT_FALSE(test, completion_done(&late->done));
	kp_unstall(kp);
	KUNIT_ASSERT_TRUE(test, wait_for_completion_timeout(&late->done,
							    10 * HZ) > 0);
	KUNIT_ASSERT_EQ(test, late->nr, 4);
	KUNIT_EXPECT_EQ(test, kp_unclean(kp, late->folios, 4), 0UL);
	KUNIT_EXPECT_EQ(test, kp_zeroed_not(kp, 2, 4, 1), 0UL);
	kp_release(kp, late->folios, 4);
	KUNIT_EXPECT_TRUE(test, kp_wait_zeroed(kp));
	KUNIT_EXPECT_EQ(test, atomic_read(&kp->bad_zero), 0);
}

/*
 * With the work item held up on pages 0 to 63, pages 128 to 191 dirty and
 * the rest zeroed, a zeroed 256 KiB-aligned allocation takes pages 192 to
 * 255, which need no zeroing, although next fit (on from page 128, where
 * the last request ended) reaches the free, dirty 128 to 191 first.
 */
static void pgmap_folio_test_zeroed_alloc_prefers_zeroed_run(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio **a, **b, **x, **got;
	u64 len = 64 * PAGE_SIZE, offset = U64_MAX;

	a = kunit_kcalloc(test, 64, sizeof(*a), GFP_KERNEL);
	b = kunit_kcalloc(test, 64, sizeof(*b), GFP_KERNEL);
	x = kunit_kcalloc(test, 28, sizeof(*x), GFP_KERNEL);
	got = kunit_kcalloc(test, 64, sizeof(*got), GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, a && b && x && got);
	kp_zero_pool(kp);
	KUNIT_ASSERT_TRUE(test, kp_wait_zeroed(kp));

	KUNIT_ASSERT_EQ(test, kp_request(kp, 128 * PAGE_SIZE, 64 * PAGE_SIZE, b), 64);
	KUNIT_ASSERT_EQ(test, kp_request(kp, 0, 64 * PAGE_SIZE, a), 64);
	KUNIT_ASSERT_EQ(test, kp_request(kp, 100 * PAGE_SIZE, 28 * PAGE_SIZE, x), 28);
	kp_stall(kp);
	kp_release(kp, a, 64);
	kp_release(kp, b, 64);
	KUNIT_ASSERT_TRUE(test, kp_wait_stalled(kp));
	pgmap_folio_pool_drain(kp->pool);
	KUNIT_EXPECT_EQ(test, READ_ONCE(kp->stalled_at), 0UL);
	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_dirty_bytes(kp->pool),
			128ULL * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, pgmap_folio_free_run(kp->pool, 128 * PAGE_SIZE,
						   64 * PAGE_SIZE),
			64ULL * PAGE_SIZE);

	KUNIT_ASSERT_EQ(test, kp_alloc_flags(kp, &len, 64 * PAGE_SIZE, 0,
					     PGMAP_ALLOC_ZEROED, &offset, got),
			64);
	KUNIT_EXPECT_EQ(test, offset, 192ULL * PAGE_SIZE);
	KUNIT_EXPECT_EQ(test, kp_unclean(kp, got, 64), 0UL);
	KUNIT_EXPECT_EQ(test, atomic_read(&kp->zeroed_by_caller), 0);
	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_dirty_bytes(kp->pool),
			128ULL * PAGE_SIZE);

	kp_unstall(kp);
	kp_release(kp, got, 64);
	kp_release(kp, x, 28);
	KUNIT_EXPECT_TRUE(test, kp_wait_zeroed(kp));
}

/* A pool that does not zero has no zeroed memory to give. */
static void pgmap_folio_test_zeroed_needs_zeroing_pool(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	u64 len = PAGE_SIZE, offset = U64_MAX;
	struct folio *folio = NULL;

	KUNIT_EXPECT_EQ(test, kp_alloc_flags(kp, &len, PAGE_SIZE, 0,
					     PGMAP_ALLOC_ZEROED, &offset, &folio),
			-EINVAL);
	KUNIT_EXPECT_NULL(test, folio);
	KUNIT_EXPECT_EQ(test, offset, U64_MAX);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);
	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_dirty_bytes(kp->pool), 0ULL);
}

/*
 * The work item holds a pgmap reference while it zeroes a chunk: teardown
 * waits for the chunk, completes once the work item is let go, and the
 * work item zeroes nothing of a dying pgmap after that chunk.
 */
static void pgmap_folio_test_teardown_waits_for_zeroing_chunk(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct folio *held;

	KUNIT_ASSERT_EQ(test, kp_request(kp, 256 * PAGE_SIZE, PAGE_SIZE, &held), 1);
	kp_stall(kp);
	kp_zero_pool(kp);
	KUNIT_ASSERT_TRUE(test, kp_wait_stalled(kp));
	kp_release(kp, &held, 1);
	pgmap_folio_pool_drain(kp->pool);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);

	if (!kp_start_unmap(test, NULL)) {
		kp_unstall(kp);
		return;
	}
	msleep(100);
	KUNIT_EXPECT_FALSE(test, completion_done(&kp->unmap_done));

	kp_unstall(kp);
	KUNIT_EXPECT_TRUE(test, wait_for_completion_timeout(&kp->unmap_done,
							    10 * HZ) > 0);
	KUNIT_EXPECT_EQ(test, kp_zeroed_not(kp, 0, 256, 1), 0UL);
	KUNIT_EXPECT_EQ(test, kp_zeroed_not(kp, 256, KP_NR_FOLIOS - 256, 0), 0UL);
	KUNIT_EXPECT_EQ(test, pgmap_folio_pool_dirty_bytes(kp->pool),
			(u64)KP_SIZE / 2);
}

#ifdef P2P_PGMAP_HAVE_PIN_REVOKERS
/*
 * Revocable long-term pins (patches/revocable-pins/0001): a pinner
 * registers a revoker with the pgmap and gives its pins back when it is
 * called. Here a revoker's "pin" is a folio reference it holds, if any.
 */
/*
 * pin_user_pages_revocable() registers a revoker with the pagemap of the
 * pages it pins; without user pages to pin, the tests register theirs the
 * same way. Declared in mm/internal.h, exported for KUnit only.
 */
int pgmap_add_pin_revoker(struct dev_pagemap *pgmap,
			  struct pgmap_pin_revoker *revoker);

struct kp_revoker {
	struct pgmap_pin_revoker revoker;
	struct kunit_pgmap *kp;
	struct folio *held;
	atomic_t calls;
	/* when ->stop() and ->revoke() ran, in kp_revoke_clock ticks */
	int stopped_at;
	int revoked_at;
};

static atomic_t kp_revoke_clock;

static void kp_stop(struct pgmap_pin_revoker *revoker)
{
	struct kp_revoker *kr = container_of(revoker, struct kp_revoker,
					     revoker);

	kr->stopped_at = atomic_inc_return(&kp_revoke_clock);
}

static void kp_revoke(struct pgmap_pin_revoker *revoker)
{
	struct kp_revoker *kr = container_of(revoker, struct kp_revoker,
					     revoker);

	kr->revoked_at = atomic_inc_return(&kp_revoke_clock);
	atomic_inc(&kr->calls);
	if (kr->held) {
		kp_release(kr->kp, &kr->held, 1);
		kr->held = NULL;
	}
}

static void kp_revoker_init(struct kp_revoker *kr, struct kunit_pgmap *kp)
{
	memset(kr, 0, sizeof(*kr));
	pgmap_pin_revoker_init(&kr->revoker, NULL, kp_revoke);
	kr->kp = kp;
}

/*
 * Each registered revoker is called once; once revocation has started no
 * revoker can be added, and a revoker already called cannot be removed
 * (its owner then knows that ->revoke() ran or runs).
 */
static void pgmap_revoke_test_each_once(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct kp_revoker a, b, late;

	kp_revoker_init(&a, kp);
	kp_revoker_init(&b, kp);
	kp_revoker_init(&late, kp);
	KUNIT_ASSERT_EQ(test, pgmap_add_pin_revoker(&kp->pgmap, &a.revoker), 0);
	KUNIT_ASSERT_EQ(test, pgmap_add_pin_revoker(&kp->pgmap, &b.revoker), 0);

	pgmap_revoke_pins(&kp->pgmap);
	KUNIT_EXPECT_EQ(test, atomic_read(&a.calls), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&b.calls), 1);
	KUNIT_EXPECT_EQ(test, pgmap_add_pin_revoker(&kp->pgmap, &late.revoker),
			-ENODEV);
	KUNIT_EXPECT_FALSE(test, pgmap_remove_pin_revoker(&a.revoker));

	/* Again (memunmap_pages() calls it too): nobody is called twice. */
	pgmap_revoke_pins(&kp->pgmap);
	KUNIT_EXPECT_EQ(test, atomic_read(&a.calls), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&b.calls), 1);
	KUNIT_EXPECT_EQ(test, atomic_read(&late.calls), 0);
}

/*
 * Every revoker that has a ->stop() is stopped before the first one is
 * revoked, so that the waits of their ->revoke() overlap; ->stop() is
 * optional.
 */
static void pgmap_revoke_test_stop_first(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct kp_revoker kr[3];
	int i, first_revoke = INT_MAX;

	for (i = 0; i < ARRAY_SIZE(kr); i++) {
		kp_revoker_init(&kr[i], kp);
		if (i != 1)
			kr[i].revoker.stop = kp_stop;
		KUNIT_ASSERT_EQ(test, pgmap_add_pin_revoker(&kp->pgmap,
							    &kr[i].revoker), 0);
	}
	pgmap_revoke_pins(&kp->pgmap);
	for (i = 0; i < ARRAY_SIZE(kr); i++) {
		KUNIT_EXPECT_EQ(test, atomic_read(&kr[i].calls), 1);
		first_revoke = min(first_revoke, kr[i].revoked_at);
	}
	KUNIT_EXPECT_EQ(test, kr[1].stopped_at, 0);
	KUNIT_EXPECT_GT(test, kr[0].stopped_at, 0);
	KUNIT_EXPECT_LT(test, kr[0].stopped_at, first_revoke);
	KUNIT_EXPECT_LT(test, kr[2].stopped_at, first_revoke);
}

/* A revoker removed before revocation is never called. */
static void pgmap_revoke_test_removed_not_called(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct kp_revoker gone, kept;

	kp_revoker_init(&gone, kp);
	kp_revoker_init(&kept, kp);
	KUNIT_ASSERT_EQ(test, pgmap_add_pin_revoker(&kp->pgmap, &gone.revoker), 0);
	KUNIT_ASSERT_EQ(test, pgmap_add_pin_revoker(&kp->pgmap, &kept.revoker), 0);
	KUNIT_EXPECT_TRUE(test, pgmap_remove_pin_revoker(&gone.revoker));
	/* Removing twice is harmless: still not registered, not called. */
	KUNIT_EXPECT_TRUE(test, pgmap_remove_pin_revoker(&gone.revoker));
	KUNIT_EXPECT_NULL(test, gone.revoker.pgmap);
	/* Registered with the pagemap it was added to. */
	KUNIT_EXPECT_PTR_EQ(test, kept.revoker.pgmap, &kp->pgmap);

	pgmap_revoke_pins(&kp->pgmap);
	KUNIT_EXPECT_EQ(test, atomic_read(&gone.calls), 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&kept.calls), 1);
}

/*
 * Teardown does not wait for a revocable pin: memunmap_pages() calls the
 * revoker, which gives the folio back, and completes. Without the call it
 * would wait for the folio for ever (the test's exit would then leak the
 * pgmap and say so).
 */
static void pgmap_revoke_test_teardown_revokes(struct kunit *test)
{
	struct kunit_pgmap *kp = test->priv;
	struct kp_revoker kr;
	struct folio *held;

	kp_revoker_init(&kr, kp);
	KUNIT_ASSERT_EQ(test, kp_request(kp, 0, PAGE_SIZE, &held), 1);
	kr.held = held;
	KUNIT_ASSERT_EQ(test, pgmap_add_pin_revoker(&kp->pgmap, &kr.revoker), 0);
	if (!kp_start_unmap(test, held))
		return;
	KUNIT_EXPECT_TRUE(test, wait_for_completion_timeout(&kp->unmap_done,
							    10 * HZ) > 0);
	KUNIT_EXPECT_EQ(test, atomic_read(&kr.calls), 1);
	KUNIT_EXPECT_EQ(test, pgmap_folios_in_use(kp->pool), 0UL);
}
#else
static void pgmap_revoke_test_unavailable(struct kunit *test)
{
	kunit_skip(test, "this kernel has no pgmap_revoke_pins() (patches/revocable-pins)");
}
#endif

static struct kunit_case pgmap_folio_test_cases[] = {
	KUNIT_CASE(pgmap_folio_test_fresh_pool_idle_count),
	KUNIT_CASE(pgmap_folio_test_generic_needs_callback),
	KUNIT_CASE(pgmap_folio_test_release_accounting),
	KUNIT_CASE(pgmap_folio_test_double_request),
	KUNIT_CASE(pgmap_folio_test_out_of_range),
	KUNIT_CASE(pgmap_folio_test_free_run),
	KUNIT_CASE(pgmap_folio_test_exhaustion_and_reuse),
	KUNIT_CASE(pgmap_folio_test_try_get_shares),
	KUNIT_CASE(pgmap_folio_test_alloc_aligned),
	KUNIT_CASE(pgmap_folio_test_alloc_fallback_and_exhaustion),
	KUNIT_CASE(pgmap_folio_test_passing_reference),
	KUNIT_CASE(pgmap_folio_test_return_waits_for_core),
	KUNIT_CASE(pgmap_folio_test_request_on_dying),
	KUNIT_CASE(pgmap_folio_test_large_orders_follow_alignment),
	KUNIT_CASE(pgmap_folio_test_large_split_back_and_reuse),
	KUNIT_CASE(pgmap_folio_test_large_alloc_whole_and_exhaustion),
	KUNIT_CASE(pgmap_folio_test_large_freed_while_remove_waits),
	KUNIT_CASE(pgmap_folio_test_zero_freed_zeroes_all_once),
	KUNIT_CASE(pgmap_folio_test_zero_freed_folio_again),
	KUNIT_CASE(pgmap_folio_test_zeroed_while_work_held_up),
	KUNIT_CASE(pgmap_folio_test_zeroed_alloc_prefers_zeroed_run),
	KUNIT_CASE(pgmap_folio_test_zeroed_needs_zeroing_pool),
	KUNIT_CASE(pgmap_folio_test_teardown_waits_for_zeroing_chunk),
#ifdef P2P_PGMAP_HAVE_PIN_REVOKERS
	KUNIT_CASE(pgmap_revoke_test_each_once),
	KUNIT_CASE(pgmap_revoke_test_stop_first),
	KUNIT_CASE(pgmap_revoke_test_removed_not_called),
	KUNIT_CASE(pgmap_revoke_test_teardown_revokes),
#else
	KUNIT_CASE(pgmap_revoke_test_unavailable),
#endif
	{}
};

static struct kunit_suite pgmap_folio_test_suite = {
	.name = "pgmap_folio",
	.init = pgmap_folio_test_init,
	.exit = pgmap_folio_test_exit,
	.test_cases = pgmap_folio_test_cases,
};

kunit_test_suite(pgmap_folio_test_suite);

MODULE_DESCRIPTION("KUnit tests of the pgmap folio API");
MODULE_LICENSE("GPL");
#if defined(P2P_PGMAP_KERNEL_POOL) || defined(P2P_PGMAP_HAVE_PIN_REVOKERS)
/*
 * The kernel pool's pgmap_folio_state() and its like, and
 * pgmap_add_pin_revoker(): exported for tests only.
 */
MODULE_IMPORT_NS("EXPORTED_FOR_KUNIT_TESTING");
#endif
