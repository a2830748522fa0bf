/* SPDX-License-Identifier: GPL-2.0 */
/*
 * p2p_pgmap internals shared by the probe/remove, char device and sysfs
 * parts of the driver.
 */
#ifndef _P2P_PGMAP_H
#define _P2P_PGMAP_H

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/ktime.h>
#include <linux/list.h>
#include <linux/maple_tree.h>
#include <linux/memremap.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/refcount.h>
#include <linux/rwsem.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <uapi/linux/p2p_pgmap.h>

/* Which of the fields below exist: every user sees the same struct. */
#include "compat.h"

struct inode;
struct pgmap_folio_pool;

/*
 * A fault on a page of a file that has no memory yet takes memory for it
 * and for the pages after it, up to the next boundary of this many pages
 * of the file (2 MiB with 4 KiB pages) or the end of the VMA, as one run
 * placed at the same offset from a 2 MiB boundary of the BAR where the
 * pool has one: the first touch of a large mapping costs one fault, one
 * allocation and one page-table walk per batch, not per page. Where the
 * kernel has large device folios, an aligned 2 MiB of the file is one
 * PMD-order folio, mapped with one PMD when the mapping allows it.
 */
#define P2P_PGMAP_FAULT_BATCH	512

/**
 * struct p2p_pgmap_fault_batch - the memory a fault takes in one go
 * @folios: its folios
 * @nr_folios: how many @folios holds
 * @pages: every page of the batch, as vm_insert_pages() takes them
 */
struct p2p_pgmap_fault_batch {
	struct folio **folios;
	unsigned int nr_folios;
	struct page **pages;
};

/**
 * struct p2p_pgmap_owner - the device memory of one open file
 * @pdm: the device
 * @node: in p2p_pgmap_dev.owners
 * @ref: held by the open file and by each folio the file took, until the
 *	folio is freed
 * @tgid: the process that opened the file
 * @comm: its name
 * @closed: the file is released; pins may keep some of its memory
 * @lock: serialises the file's faults and every change of @map
 * @map: the file's memory: page range of the file -> its folio, one entry
 *	per folio, each holding one reference on its folio
 * @nr_held: pages the file took and that are not freed yet (in @map, or
 *	let go of and still mapped or pinned)
 * @fault: a fault's batch, under @lock
 * @free_work: frees the owner in process context
 *
 * An owner outlives its file while pins hold folios it took, so that the
 * remove report and the owners file can still name the process.
 */
struct p2p_pgmap_owner {
	struct p2p_pgmap_dev *pdm;
	struct list_head node;
	refcount_t ref;
	pid_t tgid;
	char comm[TASK_COMM_LEN];
	bool closed;
	struct mutex lock;		/* faults and map of this file */
	struct maple_tree map;
	atomic_long_t nr_held;
	struct p2p_pgmap_fault_batch fault;
	struct work_struct free_work;
};

/**
 * struct p2p_pgmap_piece - a folio of a range of a file, held for an export
 * @folio: the folio, with a reference of the holder's
 * @first: the first page of the folio in the range
 * @nr: pages of the folio in the range, from @first on
 */
struct p2p_pgmap_piece {
	struct folio *folio;
	unsigned int first;
	unsigned int nr;
};

/**
 * struct p2p_pgmap_usage - what device memory is used for
 * @held: bytes taken and not yet freed
 * @mapped: bytes mapped by some process
 * @pinned: bytes with references beyond their mappings (pins, I/O)
 * @pinned_only: bytes held though mapped by no process
 */
struct p2p_pgmap_usage {
	u64 held;
	u64 mapped;
	u64 pinned;
	u64 pinned_only;
};

/**
 * struct p2p_pgmap_dev - one bound PCI device
 * @pdev: the PCI device
 * @dev: the char device's struct device; its refcount keeps this alive
 *	while files are open after the PCI device is gone
 * @cdev: the char device /dev/p2p_pgmapN
 * @minor: N
 * @inode: private inode whose address space every open file shares, so
 *	that one unmap_mapping_range() zaps every user mapping
 * @pgmap: the pgmap over the BAR (embedded in @own_pgmap or owned by the
 *	P2PDMA core)
 * @own_pgmap: storage for the pgmap when the driver builds it itself
 * @pgmap_ops: @pgmap's ops: the free callback finds this struct from them
 * @core_ops: the ops the P2PDMA core gave @pgmap, when the driver took
 *	over a pgmap of pci_p2pdma_add_resource() (stock P2PDMA kernels)
 * @core_pool_lock: orders the give-back of @core_pool_drained
 * @core_pool_drained: the allocation that keeps the core's pool of that
 *	pgmap empty; NULL once given back
 * @core_pool_release_armed: remove has started: give @core_pool_drained
 *	back once the pgmap counter is dead and every folio handed out is
 *	free again
 * @core_pool_work: waits, at remove, for the pgmap counter to die
 * @pool: allocation state of @pgmap's folios; NULL once torn down
 * @bar: BAR index
 * @bar_offset: offset of the memory into the BAR
 * @phys_start: its physical address
 * @size: bytes of device memory
 * @via_p2pdma_core: @pgmap was created by the P2PDMA core
 * @lock: taken for reading by faults, mmap and readers of @pool, for
 *	writing by the move to dying and the pool's teardown
 * @dying: remove has started; no new mappings or folios
 * @hung_up: every user mapping is zapped and long-term pins are revoked
 *	where the kernel can: poll() reports the hang-up from then on, so
 *	that nothing a user writes after seeing it reaches the memory
 * @gone: @pool is torn down
 * @poll_wait: poll() waiters, woken when @hung_up is set
 * @owners_lock: protects @owners
 * @owners: struct p2p_pgmap_owner list, one per open file (and per closed
 *	one whose memory pins still hold)
 * @dmabufs_lock: protects @dmabufs, and orders an export against remove
 * @dmabufs: struct p2p_pgmap_dmabuf list, one per dma-buf exported from
 *	the device and not released yet
 * @holders_report: while remove waits, logs who holds device memory
 * @t_remove: when remove() started (0: it has not)
 * @t_last_free: when the last folio was freed after remove() started
 *	(0: none was)
 * @t_unmap: when memunmap_pages() started
 * @t_unmapped: when memunmap_pages() returned
 *
 * The four times (CLOCK_MONOTONIC) go into the line logged once remove is
 * done, which says where the time went.
 */
struct p2p_pgmap_dev {
	struct pci_dev *pdev;
	struct device dev;
	struct cdev cdev;
	int minor;
	struct inode *inode;

	struct dev_pagemap *pgmap;
#ifdef P2P_PGMAP_OWN_PGMAP
	struct dev_pagemap own_pgmap;
#endif
	struct dev_pagemap_ops pgmap_ops;
#ifdef P2P_PGMAP_VIA_CORE_RESOURCE
	const struct dev_pagemap_ops *core_ops;
	spinlock_t core_pool_lock;	/* the two below */
	void *core_pool_drained;
	bool core_pool_release_armed;
	struct delayed_work core_pool_work;
#endif
	struct pgmap_folio_pool *pool;
	int bar;
	u64 bar_offset;
	u64 phys_start;
	u64 size;
	bool via_p2pdma_core;

	struct rw_semaphore lock;	/* pool, dying: see above */
	bool dying;
	bool hung_up;
	bool gone;
	wait_queue_head_t poll_wait;

	struct mutex owners_lock;	/* protects owners */
	struct list_head owners;
	struct mutex dmabufs_lock;	/* protects dmabufs */
	struct list_head dmabufs;
	struct delayed_work holders_report;

	ktime_t t_remove;
	ktime_t t_last_free;
	ktime_t t_unmap;
	ktime_t t_unmapped;
};

/* The device of a pgmap: its ops live in the p2p_pgmap_dev. */
static inline struct p2p_pgmap_dev *p2p_pgmap_of(struct dev_pagemap *pgmap)
{
	return container_of(pgmap->ops, struct p2p_pgmap_dev, pgmap_ops);
}

/* cdev.c */
int p2p_pgmap_cdev_init(void);
void p2p_pgmap_cdev_exit(void);
struct p2p_pgmap_dev *p2p_pgmap_dev_create(struct pci_dev *pdev);
int p2p_pgmap_cdev_add(struct p2p_pgmap_dev *pdm);
void p2p_pgmap_cdev_revoke(struct p2p_pgmap_dev *pdm);

/* owner.c */
extern unsigned long p2p_pgmap_file_limit;
int p2p_pgmap_owner_init(void);
void p2p_pgmap_owner_exit(void);
struct p2p_pgmap_owner *p2p_pgmap_owner_create(struct p2p_pgmap_dev *pdm);
void p2p_pgmap_owner_close(struct p2p_pgmap_owner *owner);
struct page *p2p_pgmap_owner_page(struct p2p_pgmap_owner *owner,
				  pgoff_t pgoff);
int p2p_pgmap_owner_alloc(struct p2p_pgmap_owner *owner, pgoff_t pgoff,
			  unsigned long nr, unsigned int flags);
void p2p_pgmap_owner_drop_all(struct p2p_pgmap_owner *owner);
int p2p_pgmap_owner_punch(struct p2p_pgmap_owner *owner, void __user *arg);
void p2p_pgmap_zero(struct dev_pagemap *pgmap, u64 offset, u64 len);
void p2p_pgmap_folio_freed(struct folio *folio);
void p2p_pgmap_owner_usage(struct p2p_pgmap_owner *owner,
			   struct p2p_pgmap_usage *usage);
void p2p_pgmap_dev_usage(struct p2p_pgmap_dev *pdm,
			 struct p2p_pgmap_usage *usage);
ssize_t p2p_pgmap_owners_show(struct p2p_pgmap_dev *pdm, char *buf);
void p2p_pgmap_owners_report(struct p2p_pgmap_dev *pdm);
int p2p_pgmap_owner_placement(struct p2p_pgmap_owner *owner,
			      void __user *arg);
long p2p_pgmap_owner_hold(struct p2p_pgmap_owner *owner, u64 offset, u64 len,
			  struct p2p_pgmap_piece **pieces);

/* dmabuf.c */
int p2p_pgmap_dmabuf_export(struct p2p_pgmap_owner *owner, void __user *arg);
void p2p_pgmap_dmabuf_revoke_all(struct p2p_pgmap_dev *pdm);

/* sysfs.c */
extern const struct attribute_group p2p_pgmap_attr_group;

/**
 * p2p_pgmap_state - the P2P_PGMAP_STATE_* of a device
 * @pdm: the device
 *
 * The state the sysfs attribute and the info ioctl report alike; here so
 * that neither file depends on the other for it.
 *
 * Return: the state.
 */
static inline u32 p2p_pgmap_state(struct p2p_pgmap_dev *pdm)
{
	if (pdm->gone)
		return P2P_PGMAP_STATE_GONE;
	if (READ_ONCE(pdm->dying))
		return P2P_PGMAP_STATE_DYING;
	return P2P_PGMAP_STATE_LIVE;
}

#endif /* _P2P_PGMAP_H */
