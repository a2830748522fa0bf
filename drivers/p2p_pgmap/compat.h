/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel-version difference p2p_pgmap cares about, in one place.
 *
 * Each branch is exercised by a kernel of the test matrix: 6.1 and 6.12
 * (Debian's, no P2PDMA core) and p2pcore-6.12 (6.12 built with the P2PDMA
 * core, as the distributions ship it) take the "up to 6.14" branches, 7.3
 * (Debian's stock kernel with the P2PDMA core, and the project's debug
 * build carrying patches/) the others. 6.15 to 6.18 combine branches no
 * kernel of the matrix combines (the 6.15 refcount convention with
 * ->page_free()): each is reasoned from the source where it is defined.
 */
#ifndef _P2P_PGMAP_COMPAT_H
#define _P2P_PGMAP_COMPAT_H

#include <linux/mm.h>
#include <linux/dma-buf.h>
#include <linux/memremap.h>
#include <linux/pagemap.h>
#include <linux/version.h>

/* True on kernels @major.@minor and later. */
#define P2P_PGMAP_KERNEL_AT_LEAST(major, minor)				\
	(KERNEL_VERSION(major, minor, 0) <=				\
	 KERNEL_VERSION(LINUX_VERSION_MAJOR, LINUX_VERSION_PATCHLEVEL, 0))

/*
 * Since the 6.15 ZONE_DEVICE refcount rework, free_zone_device_folio()
 * treats the pgmap types differently: MEMORY_DEVICE_PCI_P2PDMA folios idle
 * at zero, whoever hands one out sets the count to one, and the core calls
 * ->folio_free() and touches the folio no more; MEMORY_DEVICE_GENERIC
 * folios still idle at one, and the core resets their count without any
 * callback, so an owner never learns that one came back. Up to 6.14 both
 * types idle at one and both get ->page_free(), with the count at zero,
 * before the core resets it to one.
 */
#define PGMAP_COMPAT_REFCOUNT_REWORK	P2P_PGMAP_KERNEL_AT_LEAST(6, 15)

/* Whether the core tells the owner of @pgmap about every freed folio. */
static inline bool pgmap_compat_has_free_callback(const struct dev_pagemap *pgmap)
{
	if (pgmap->type == MEMORY_DEVICE_PCI_P2PDMA)
		return true;
	return pgmap->type == MEMORY_DEVICE_GENERIC &&
	       !PGMAP_COMPAT_REFCOUNT_REWORK;
}

/* Reference count of an idle folio of @pgmap (P2PDMA or GENERIC). */
static inline int pgmap_compat_idle_refs(const struct dev_pagemap *pgmap)
{
	if (PGMAP_COMPAT_REFCOUNT_REWORK &&
	    pgmap->type == MEMORY_DEVICE_PCI_P2PDMA)
		return 0;
	return 1;
}

/*
 * True once the core is done with a folio of @pgmap it passed to the free
 * callback: up to 6.14 that is when free_zone_device_folio() has reset its
 * count to one, the last thing it does to the folio. Since 6.15 the count
 * stays at zero and the core no longer touches a P2PDMA folio after the
 * callback, so this is true at once.
 */
static inline bool pgmap_compat_folio_core_done(const struct dev_pagemap *pgmap,
						struct folio *folio)
{
	return folio_ref_count(folio) == pgmap_compat_idle_refs(pgmap);
}

/*
 * Large device folios. Since 7.0 (the first kernel of the matrix with them
 * is 7.3) the core builds a compound ZONE_DEVICE folio of any order at run
 * time (zone_device_folio_init(): it clears what a previous folio left in
 * the pages, takes one pgmap reference per page and sets the count to one)
 * and maps one with a refcounted, rmap-accounted PMD
 * (vmf_insert_folio_pmd()). 6.1 and 6.12 can do neither, so their folios
 * stay order 0. PUD-sized folios are not built: 7.3's
 * __split_huge_pud_locked() drops the reference and rmap of a PUD-mapped
 * folio only for DAX VMAs, so splitting such a mapping of ours would leak
 * the folio.
 */
#if P2P_PGMAP_KERNEL_AT_LEAST(7, 0) && IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE)
#define P2P_PGMAP_LARGE_FOLIOS		1
#define PGMAP_COMPAT_MAX_FOLIO_ORDER	HPAGE_PMD_ORDER
#else
#define PGMAP_COMPAT_MAX_FOLIO_ORDER	0
#endif

/*
 * Make the free, idle pages @pfn to @pfn + 2^@order - 1 of @pgmap one folio
 * with a count of one, holding one pgmap reference per page (the caller
 * holds a reference on the pgmap across the call).
 */
static inline struct folio *pgmap_compat_folio_init(struct dev_pagemap *pgmap,
						    unsigned long pfn,
						    unsigned int order)
{
#ifdef P2P_PGMAP_LARGE_FOLIOS
	/*
	 * By page, not pfn_folio(): a page that was a tail of a larger folio
	 * still names that folio's head until it is initialised again.
	 */
	struct page *page = pfn_to_page(pfn);
	struct folio *folio;

	zone_device_page_init(page, pgmap, order);
	folio = page_folio(page);
	if (order)
		folio_set_large_rmappable(folio);
	/* zone_device_page_init() locks the folio, for device-private use. */
	folio_unlock(folio);
	return folio;
#else
	struct folio *folio = pfn_folio(pfn);

	WARN_ON_ONCE(order);
	percpu_ref_get(&pgmap->ref);
	if (!pgmap_compat_idle_refs(pgmap))
		folio_set_count(folio, 1);
	return folio;
#endif
}

static inline struct dev_pagemap *pgmap_compat_page_pgmap(struct page *page)
{
#if P2P_PGMAP_KERNEL_AT_LEAST(6, 15)
	return page_pgmap(page);
#else
	return page->pgmap;
#endif
}

/*
 * The pgmap free callback: ->page_free(struct page *) up to 6.18,
 * ->folio_free(struct folio *) since 6.19. Write the callback for a folio,
 * then PGMAP_COMPAT_DEFINE_FREE(fn); after it and PGMAP_COMPAT_FREE_OP(fn)
 * in a dev_pagemap_ops initialiser. PGMAP_COMPAT_FREE_FN(ops) is the
 * callback of @ops, to call it or test for it; PGMAP_COMPAT_FREE_NAME its
 * name, for messages.
 */
#if P2P_PGMAP_KERNEL_AT_LEAST(6, 19)
#define PGMAP_COMPAT_DEFINE_FREE(fn)					\
	static_assert(__same_type(&(fn), void (*)(struct folio *)))
#define PGMAP_COMPAT_FREE_OP(fn)	.folio_free = (fn)
#define PGMAP_COMPAT_FREE_FN(ops)	((ops)->folio_free)
#define PGMAP_COMPAT_FREE_NAME		"folio_free"
static inline void pgmap_compat_call_free(const struct dev_pagemap_ops *ops,
					  struct folio *folio)
{
	ops->folio_free(folio);
}
#else
#define PGMAP_COMPAT_DEFINE_FREE(fn)					\
	static void fn##_page(struct page *page)			\
	{								\
		fn(page_folio(page));					\
	}								\
	static_assert(__same_type(&fn##_page, void (*)(struct page *)))
#define PGMAP_COMPAT_FREE_OP(fn)	.page_free = fn##_page
#define PGMAP_COMPAT_FREE_FN(ops)	((ops)->page_free)
#define PGMAP_COMPAT_FREE_NAME		"page_free"
static inline void pgmap_compat_call_free(const struct dev_pagemap_ops *ops,
					  struct folio *folio)
{
	ops->page_free(&folio->page);
}
#endif

/*
 * get_dev_pagemap(pfn) lost its second argument, a pgmap to reuse, which
 * every caller passed NULL (P2P_PGMAP_GET_DEV_PAGEMAP_ONE_ARG, found in the
 * kernel's headers by compat.mk).
 */
static inline struct dev_pagemap *pgmap_compat_get_dev_pagemap(unsigned long pfn)
{
#ifdef P2P_PGMAP_GET_DEV_PAGEMAP_ONE_ARG
	return get_dev_pagemap(pfn);
#else
	return get_dev_pagemap(pfn, NULL);
#endif
}

/*
 * The per-CPU and the unbound system workqueues: system_wq and
 * system_unbound_wq until they were renamed system_percpu_wq and
 * system_dfl_wq in 6.17; 7.x warns once about work queued on the old
 * names.
 */
#if P2P_PGMAP_KERNEL_AT_LEAST(6, 17)
#define pgmap_compat_system_wq	system_percpu_wq
#define pgmap_compat_unbound_wq	system_dfl_wq
#else
#define pgmap_compat_system_wq	system_wq
#define pgmap_compat_unbound_wq	system_unbound_wq
#endif

/*
 * kzalloc_obj(VAR, GFP) allocates one zeroed object of VAR's type (7.0);
 * before, the same with kzalloc(sizeof()).
 */
#ifndef kzalloc_obj
#define kzalloc_obj(obj, gfp)	kzalloc(sizeof(obj), gfp)
#endif

/*
 * The owner's word in a ZONE_DEVICE folio: zone_device_data, a field of
 * struct page on every kernel of the matrix (7.x adds accessors for it).
 * The memmap's set-up starts it NULL.
 */
static inline void *p2p_compat_folio_zdd(struct folio *folio)
{
	return folio->page.zone_device_data;
}

static inline void p2p_compat_folio_set_zdd(struct folio *folio, void *data)
{
	folio->page.zone_device_data = data;
}

/*
 * How many page tables map an order-0 folio: folio_mapcount() became an
 * inline (and page_mapcount() went away) after 6.1, which does not export
 * it.
 */
static inline int p2p_compat_folio_mapcount(struct folio *folio)
{
#if P2P_PGMAP_KERNEL_AT_LEAST(6, 12)
	return folio_mapcount(folio);
#else
	return page_mapcount(folio_page(folio, 0));
#endif
}

/* vm_flags became read-only with accessors in 6.3. */
static inline void p2p_compat_vm_flags_set(struct vm_area_struct *vma,
					   vm_flags_t flags)
{
#if P2P_PGMAP_KERNEL_AT_LEAST(6, 3)
	vm_flags_set(vma, flags);
#else
	vma->vm_flags |= flags;
#endif
}

static inline void p2p_compat_vm_flags_clear(struct vm_area_struct *vma,
					     vm_flags_t flags)
{
#if P2P_PGMAP_KERNEL_AT_LEAST(6, 3)
	vm_flags_clear(vma, flags);
#else
	vma->vm_flags &= ~flags;
#endif
}

/*
 * dma-buf export (dmabuf.c).
 *
 * From 6.19 the dma-buf core has helpers for exporters of MMIO:
 * dma_buf_phys_vec_to_sgt() maps runs of a BAR for an importer through
 * the BAR's P2PDMA provider (bus address under a shared switch, the host
 * bridge or IOMMU otherwise), with the struct phys_vec of <linux/types.h>
 * (P2P_PGMAP_HAVE_DMA_BUF_MAPPING, found in the kernel's headers by the
 * Makefile). Without it, or without the P2PDMA core, the exporter maps
 * the folios' pages for the importer's device with dma_map_sgtable().
 */
#if defined(P2P_PGMAP_HAVE_DMA_BUF_MAPPING) && IS_ENABLED(CONFIG_PCI_P2PDMA)
#define P2P_PGMAP_DMABUF_VIA_PROVIDER	1
#endif

#ifndef P2P_PGMAP_HAVE_PHYS_VEC
struct phys_vec {
	phys_addr_t paddr;
	size_t len;
};
#endif

/*
 * The symbol namespace became a string in 6.13 (MODULE_IMPORT_NS("NS")).
 */
#if P2P_PGMAP_KERNEL_AT_LEAST(6, 13)
#define P2P_COMPAT_IMPORT_DMA_BUF	MODULE_IMPORT_NS("DMA_BUF")
#else
#define P2P_COMPAT_IMPORT_DMA_BUF	MODULE_IMPORT_NS(DMA_BUF)
#endif

/*
 * Telling importers to stop: dma_buf_invalidate_mappings() and the
 * importer's ->invalidate_mappings() in 7.x (P2P_PGMAP_HAVE_DMA_BUF_INVALIDATE,
 * from the headers), dma_buf_move_notify() and ->move_notify() before.
 * Revocable: 7.x asks dma_buf_attach_revocable(); before, a dynamic
 * importer (one with ->move_notify()) is, unless it pins (dmabuf.c
 * refuses its mappings then).
 */
static inline void p2p_compat_dma_buf_invalidate(struct dma_buf *dmabuf)
{
#ifdef P2P_PGMAP_HAVE_DMA_BUF_INVALIDATE
	dma_buf_invalidate_mappings(dmabuf);
#else
	dma_buf_move_notify(dmabuf);
#endif
}

static inline bool p2p_compat_dma_buf_revocable(struct dma_buf_attachment *attach)
{
#ifdef P2P_PGMAP_HAVE_DMA_BUF_INVALIDATE
	return dma_buf_attach_revocable(attach);
#else
	return attach->importer_ops && attach->importer_ops->move_notify;
#endif
}

#ifndef P2P_PGMAP_HAVE_DMA_BUF_INVALIDATE
/*
 * Such a kernel maps a dynamic importer's attachment of a dynamic exporter
 * (one with ->pin()) only after pinning it, unless
 * CONFIG_DMABUF_MOVE_NOTIFY is set: a map comes with one pin of its own.
 */
#define P2P_COMPAT_DMA_BUF_PINS_PER_MAP	(IS_ENABLED(CONFIG_DMABUF_MOVE_NOTIFY) ? 0 : 1)
#endif

/*
 * How the P2PDMA memory is registered.
 *
 * Without CONFIG_PCI_P2PDMA (Debian's 6.x) a MEMORY_DEVICE_PCI_P2PDMA
 * pgmap is an ordinary ZONE_DEVICE pgmap to the rest of the kernel, and
 * the driver builds its own (P2P_PGMAP_OWN_PGMAP).
 *
 * With CONFIG_PCI_P2PDMA the core container_of()s every such pgmap into
 * its private struct pci_p2pdma_pagemap, so the pgmap must come from the
 * core:
 * - with patches/pgmap-folios/0002, pci_p2pdma_add_pagemap() builds it
 *   with our ops and no genalloc pool (P2P_PGMAP_VIA_ADD_PAGEMAP);
 * - on a stock kernel from 6.2 on (Debian's 7.x; Ubuntu 24.04's 6.8, RHEL
 *   10's and SLES 16's 6.12), pci_p2pdma_add_resource() builds it; the
 *   driver drains the core's pool and takes over the pgmap's free callback
 *   before any page is handed out (P2P_PGMAP_VIA_CORE_RESOURCE, see main.c
 *   for why that is safe);
 * - a P2PDMA kernel before 6.2 (RHEL 9's 5.14) is refused at probe
 *   (P2P_PGMAP_P2PDMA_UNSUPPORTED): P2PDMA pages were never mapped to user
 *   space there, and GUP does not tell them apart (FOLL_PCI_P2PDMA came
 *   with 6.2), so any get_user_pages() user, a device that cannot reach
 *   the BAR or a long-term pin, would take them for ordinary memory.
 */
#if !IS_ENABLED(CONFIG_PCI_P2PDMA)
#define P2P_PGMAP_OWN_PGMAP		1
#else
#include <linux/pci-p2pdma.h>
#ifdef PCI_P2PDMA_HAS_ADD_PAGEMAP
#define P2P_PGMAP_VIA_ADD_PAGEMAP	1
#elif P2P_PGMAP_KERNEL_AT_LEAST(6, 2)
#define P2P_PGMAP_VIA_CORE_RESOURCE	1
#else
#define P2P_PGMAP_P2PDMA_UNSUPPORTED	1
#endif
#endif

/*
 * What a long-term pin (an RDMA memory registration) of our memory does to
 * remove, as the long_term_pins attribute says:
 * - "waited": without the P2PDMA core GUP pins our pages like any
 *   ZONE_DEVICE page, and remove tells the holders, names them and waits;
 * - "refused": a stock P2PDMA kernel refuses long-term pins of P2PDMA pages
 *   (on-demand-paging MRs take none);
 * - "revoked": with patches/revocable-pins the pgmap allows revocable long-term
 *   pins only, and remove revokes them (pgmap_revoke_pins()), so they never
 *   keep it waiting. P2P_PGMAP_HAVE_PIN_REVOKERS comes from the Makefile.
 */
#if defined(P2P_PGMAP_VIA_ADD_PAGEMAP) && defined(P2P_PGMAP_HAVE_PIN_REVOKERS)
#define P2P_PGMAP_PINS_REVOCABLE	1
#define P2P_PGMAP_LONG_TERM_PINS	"revoked"
#elif defined(P2P_PGMAP_OWN_PGMAP)
#define P2P_PGMAP_LONG_TERM_PINS	"waited"
#else
#define P2P_PGMAP_LONG_TERM_PINS	"refused"
#endif

/*
 * The kernel's own pool (patches/pgmap-folios/0003-0006) completes a
 * return in the free callback, where the core is done with the folio
 * (6.15 on): it has no returning state and nothing to drain, and it
 * exports pgmap_folio_state() and its like for KUnit only
 * (EXPORTED_FOR_KUNIT_TESTING). The module's copy, built where the kernel
 * has none, has both for kernels up to 6.14, and the code that uses them
 * stays one.
 */
#ifdef P2P_PGMAP_KERNEL_POOL
struct pgmap_folio_pool;
#define PGMAP_FOLIO_RETURNING	((enum pgmap_folio_state)(PGMAP_FOLIO_IN_USE + 1))
static inline void pgmap_folio_pool_drain(struct pgmap_folio_pool *pool)
{
}
#endif

#endif /* _P2P_PGMAP_COMPAT_H */
