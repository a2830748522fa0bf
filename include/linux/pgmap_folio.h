/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Hand out the folios of a struct dev_pagemap and get them back.
 *
 * A driver that owns a pgmap (MEMORY_DEVICE_PCI_P2PDMA, or
 * MEMORY_DEVICE_GENERIC up to 6.14) creates a pgmap_folio_pool for it,
 * requests folios by offset (or lets the pool place a run of them:
 * pgmap_alloc_folios()), hands them out (to page tables, pins, DMA), and
 * calls pgmap_folio_return() from its ->folio_free() (->page_free() up to
 * 6.18) callback. A request returns the fewest, largest folios that cover
 * the range: up to PMD order where the kernel builds compound device
 * folios at run time (7.x), order 0 elsewhere. Every page handed out holds
 * exactly one pgmap reference, dropped only once the core is done with
 * the freed folio, so teardown (memunmap_pages()) waits on the pgmap
 * counter alone.
 *
 * A pool can also keep zeroed and not-yet-zeroed free memory apart, zeroing
 * freed memory in the background with a function its owner gives
 * (pgmap_folio_pool_zero_freed()), so that requests find zeroed memory.
 *
 * This is the offset-based form of the pgmap_request_folios() proposal from
 * the 2022 "Fix the DAX-gup mistake" series, which never reached mainline.
 */
#ifndef _LINUX_PGMAP_FOLIO_H
#define _LINUX_PGMAP_FOLIO_H

#include <linux/types.h>

struct dev_pagemap;
struct folio;
struct pgmap_folio_pool;

/**
 * enum pgmap_folio_state - allocation state of one folio of a pool
 * @PGMAP_FOLIO_FREE: owned by the pool, may be requested
 * @PGMAP_FOLIO_IN_USE: requested; holds a pgmap reference
 * @PGMAP_FOLIO_RETURNING: freed by its last user; the pool completes the
 *	return (and drops the pgmap reference) once the core is done with it
 */
enum pgmap_folio_state {
	PGMAP_FOLIO_FREE,
	PGMAP_FOLIO_IN_USE,
	PGMAP_FOLIO_RETURNING,
};

/* pgmap_alloc_folios() flags */
#define PGMAP_ALLOC_WHOLE	0x1	/* all of the length, aligned, or nothing */
#define PGMAP_ALLOC_ZEROED	0x2	/* memory that reads zero */

/* Zeroes @len bytes at byte offset @offset of @pgmap (page aligned). */
typedef void (*pgmap_folio_zero_t)(struct dev_pagemap *pgmap, u64 offset,
				   u64 len);

unsigned int pgmap_folio_max_order(const struct dev_pagemap *pgmap);
struct pgmap_folio_pool *pgmap_folio_pool_create(struct dev_pagemap *pgmap,
						 unsigned int max_order);
void pgmap_folio_pool_destroy(struct pgmap_folio_pool *pool);
void pgmap_folio_pool_zero_freed(struct pgmap_folio_pool *pool,
				 pgmap_folio_zero_t zero);

int pgmap_request_folios(struct pgmap_folio_pool *pool, u64 offset, u64 len,
			 struct folio **folios);
int pgmap_alloc_folios(struct pgmap_folio_pool *pool, u64 *len, u64 align,
		       u64 phase, unsigned int flags, u64 *offset,
		       struct folio **folios);
void pgmap_release_folios(struct folio **folios, unsigned int nr_folios);
void pgmap_folio_return(struct pgmap_folio_pool *pool, struct folio *folio);

enum pgmap_folio_state pgmap_folio_state(struct pgmap_folio_pool *pool,
					 u64 offset);
u64 pgmap_folio_free_run(struct pgmap_folio_pool *pool, u64 offset, u64 max_len);
struct folio *pgmap_folio_try_get(struct pgmap_folio_pool *pool, u64 offset);
void pgmap_folio_pool_drain(struct pgmap_folio_pool *pool);

u64 pgmap_folio_pool_size(const struct pgmap_folio_pool *pool);
unsigned long pgmap_folios_in_use(const struct pgmap_folio_pool *pool);
u64 pgmap_folio_pool_free_bytes(const struct pgmap_folio_pool *pool);
u64 pgmap_folio_pool_dirty_bytes(const struct pgmap_folio_pool *pool);

/* module only: the deferred return, up to 6.14 (pgmap_folio.c) */
unsigned long pgmap_folio_pool_returning(struct pgmap_folio_pool *pool);
/* end module only */

#endif /* _LINUX_PGMAP_FOLIO_H */
