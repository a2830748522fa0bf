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
#include <linux/memremap.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

struct inode;
struct pgmap_folio_pool;

/**
 * struct p2p_pgmap_holder - a process that maps device memory
 * @node: in p2p_pgmap_dev.holders
 * @mm: the address space holding the mappings (compared, never used)
 * @tgid: the process that created the first mapping in @mm
 * @comm: its name
 * @forked: @mm got its first mapping by fork(): @tgid is the parent
 * @nr_vmas: mappings of the device in @mm
 *
 * Kept so that a remove waiting for device memory can say who holds it.
 */
struct p2p_pgmap_holder {
	struct list_head node;
	struct mm_struct *mm;
	pid_t tgid;
	char comm[TASK_COMM_LEN];
	bool forked;
	unsigned int nr_vmas;
};

/*
 * A fault on a free folio maps it and the free folios after it up to the
 * next boundary of this many pages of device memory (2 MiB with 4 KiB
 * pages) or the end of the VMA: the first touch of a large mapping costs
 * one fault, one request and one page-table walk per batch, not per page.
 */
#define P2P_PGMAP_FAULT_BATCH	512

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
 * @size: bytes of device memory
 * @via_p2pdma_core: @pgmap was created by the P2PDMA core
 * @lock: serialises faults, mmap and the move to dying
 * @dying: remove has started; no new mappings or folios
 * @gone: @pool is torn down
 * @poll_wait: poll() waiters, woken when @dying is set
 * @holders_lock: protects @holders
 * @holders: struct p2p_pgmap_holder list
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
	struct dev_pagemap own_pgmap;
	struct dev_pagemap_ops pgmap_ops;
	const struct dev_pagemap_ops *core_ops;
	spinlock_t core_pool_lock;	/* the two below */
	void *core_pool_drained;
	bool core_pool_release_armed;
	struct delayed_work core_pool_work;
	struct pgmap_folio_pool *pool;
	int bar;
	u64 bar_offset;
	u64 size;
	bool via_p2pdma_core;

	struct mutex lock;		/* faults, mmap, dying, pool teardown */
	struct folio **fault_folios;	/* a fault's batch, under lock */
	struct page **fault_pages;	/* the same, as vm_insert_pages() takes them */
	bool dying;
	bool gone;
	wait_queue_head_t poll_wait;

	spinlock_t holders_lock;	/* protects holders */
	struct list_head holders;
	struct delayed_work holders_report;

	ktime_t t_remove;
	ktime_t t_last_free;
	ktime_t t_unmap;
	ktime_t t_unmapped;
};

/* cdev.c */
int p2p_pgmap_cdev_init(void);
void p2p_pgmap_cdev_exit(void);
struct p2p_pgmap_dev *p2p_pgmap_dev_create(struct pci_dev *pdev);
int p2p_pgmap_cdev_add(struct p2p_pgmap_dev *pdm);
void p2p_pgmap_cdev_revoke(struct p2p_pgmap_dev *pdm);

/* sysfs.c */
extern const struct attribute_group p2p_pgmap_attr_group;
u32 p2p_pgmap_state(struct p2p_pgmap_dev *pdm);

#endif /* _P2P_PGMAP_H */
