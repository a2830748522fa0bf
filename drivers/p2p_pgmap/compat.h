/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every kernel-version difference p2p_pgmap cares about, in one place.
 *
 * Built and tested against 6.1 and 6.12; the 6.15+ branches follow the
 * ZONE_DEVICE refcount rework and the page_free -> folio_free rename and
 * are there so a port starts from the right place, not as a tested claim.
 */
#ifndef _P2P_PGMAP_COMPAT_H
#define _P2P_PGMAP_COMPAT_H

#include <linux/mm.h>
#include <linux/memremap.h>
#include <linux/version.h>

/* True on kernels @major.@minor and later. */
#define P2P_PGMAP_KERNEL_AT_LEAST(major, minor)				\
	(KERNEL_VERSION(major, minor, 0) <=				\
	 KERNEL_VERSION(LINUX_VERSION_MAJOR, LINUX_VERSION_PATCHLEVEL, 0))

/*
 * Reference count of an idle folio of a MEMORY_DEVICE_PCI_P2PDMA or
 * MEMORY_DEVICE_GENERIC pgmap. Up to 6.14 such folios idle at one:
 * free_zone_device_folio() calls ->page_free() with the count at zero and
 * then resets it to one. Since the 6.15 refcount rework they idle at zero
 * and whoever hands one out sets the count to one.
 */
#if P2P_PGMAP_KERNEL_AT_LEAST(6, 15)
#define PGMAP_FOLIO_IDLE_REFS	0
#else
#define PGMAP_FOLIO_IDLE_REFS	1
#endif

/* Give a just-requested idle folio the single reference of its requester. */
static inline void pgmap_compat_folio_init_ref(struct folio *folio)
{
#if PGMAP_FOLIO_IDLE_REFS == 0
	folio_set_count(folio, 1);
#endif
}

/*
 * True once the core is done with a folio it passed to ->page_free: up to
 * 6.14 that is when free_zone_device_folio() has reset its count to one, the
 * last thing it does to the folio. From 6.15 the count stays at zero and
 * the core no longer touches the folio after the callback, so this is true
 * at once.
 */
static inline bool pgmap_compat_folio_core_done(struct folio *folio)
{
	return folio_ref_count(folio) == PGMAP_FOLIO_IDLE_REFS;
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
 * The pgmap free callback: ->page_free(struct page *) up to 6.17,
 * ->folio_free(struct folio *) since. Write the callback for a folio, then
 * PGMAP_COMPAT_DEFINE_FREE(fn); after it and PGMAP_COMPAT_FREE_OP(fn) in the
 * dev_pagemap_ops initialiser.
 */
#if P2P_PGMAP_KERNEL_AT_LEAST(6, 18)
#define PGMAP_COMPAT_DEFINE_FREE(fn)					\
	static_assert(__same_type(&(fn), void (*)(struct folio *)))
#define PGMAP_COMPAT_FREE_OP(fn)	.folio_free = (fn)
#else
#define PGMAP_COMPAT_DEFINE_FREE(fn)					\
	static void fn##_page(struct page *page)			\
	{								\
		fn(page_folio(page));					\
	}								\
	static_assert(__same_type(&fn##_page, void (*)(struct page *)))
#define PGMAP_COMPAT_FREE_OP(fn)	.page_free = fn##_page
#endif

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
 * How the P2PDMA memory is registered. On a kernel without CONFIG_PCI_P2PDMA
 * (Debian's) a MEMORY_DEVICE_PCI_P2PDMA pgmap is an ordinary ZONE_DEVICE
 * pgmap to the rest of the kernel and the driver builds its own. With
 * CONFIG_PCI_P2PDMA the core container_of()s every such pgmap into its
 * private struct pci_p2pdma_pagemap, so the pgmap must come from the core:
 * patches/0001 adds pci_p2pdma_add_pagemap() and PCI_P2PDMA_HAS_ADD_PAGEMAP.
 * Without that patch the driver refuses to probe.
 */
#if IS_ENABLED(CONFIG_PCI_P2PDMA)
#include <linux/pci-p2pdma.h>
#ifdef PCI_P2PDMA_HAS_ADD_PAGEMAP
#define P2P_PGMAP_VIA_P2PDMA_CORE	1
#else
#define P2P_PGMAP_P2PDMA_CORE_UNPATCHED	1
#endif
#endif

#endif /* _P2P_PGMAP_COMPAT_H */
