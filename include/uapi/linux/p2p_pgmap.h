/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * p2p_pgmap: PCI device memory (a BAR) handed to userspace as ZONE_DEVICE
 * folios through /dev/p2p_pgmapN.
 *
 * Each open() of the device is an owner of device memory of its own, with
 * the lifetime rules of a memfd. The file offset of mmap() (MAP_SHARED
 * only, page aligned) is an offset into that file's memory, which the
 * driver places in the BAR where it has free memory, as contiguous and as
 * aligned as it can, when a page is first touched. Every mapping of an
 * offset through the same open file shares its memory: in one process, in
 * a child after fork(), in a process that received the file descriptor
 * over a Unix socket. No other open file reaches it, whatever offset it
 * maps.
 *
 * The memory of a file lives as long as the file: from the first touch of
 * a page until the file is released (its last fd closed and its last
 * mapping gone), the range is given back with P2P_PGMAP_IOC_PUNCH_HOLE, or
 * the device goes away. munmap(), MADV_DONTNEED, mremap(), the split of a
 * huge mapping or the exit of a child that mapped it lose no byte: the
 * next touch finds the same memory. Memory is zero when a file first
 * touches it, so no file ever sees bytes another file (or an earlier life
 * of its own) left. A page still pinned (an RDMA registration, O_DIRECT in
 * flight, vmsplice() into a pipe) after its file let go of it belongs to
 * nobody: it returns to the device when the pin goes.
 *
 * When the device has no free memory, or the file holds the most the
 * module parameter file_limit allows (memory the file let go of counts
 * until it is freed), the access that needs new memory gets SIGBUS; an
 * mmap() longer than file_limit fails with ENOMEM. When
 * the device goes away, mappings are revoked (later accesses get SIGBUS),
 * and so are RDMA registrations where the kernel can (the device's
 * long_term_pins attribute says); then poll() reports POLLHUP | POLLERR.
 */
#ifndef _UAPI_LINUX_P2P_PGMAP_H
#define _UAPI_LINUX_P2P_PGMAP_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Values of p2p_pgmap_info.state */
#define P2P_PGMAP_STATE_LIVE	0	/* memory can be mapped */
#define P2P_PGMAP_STATE_DYING	1	/* device going away, waiting for users */
#define P2P_PGMAP_STATE_GONE	2	/* device removed, fd is a husk */

/* Bits of p2p_pgmap_info.flags */
#define P2P_PGMAP_INFO_P2PDMA	(1U << 0) /* registered with the PCI P2PDMA core */
/*
 * Memory comes in folios of up to 2 MiB, and an aligned 2 MiB of a mapping
 * that covers it is mapped with one PMD (kernels that build large device
 * folios: 7.x); without it, every folio is one page.
 */
#define P2P_PGMAP_INFO_LARGE_FOLIOS	(1U << 1)

/*
 * struct p2p_pgmap_info - P2P_PGMAP_IOC_INFO argument
 * @size:          (out) bytes of device memory
 * @free_bytes:    (out) bytes not held by any file or pin
 * @folios_in_use: (out) folios held (mapped, pinned, or being returned)
 * @bar_offset:    (out) offset of the device memory into its BAR
 * @bar:           (out) index of the PCI BAR holding the memory
 * @state:         (out) P2P_PGMAP_STATE_*
 * @page_size:     (out) size of one folio in bytes (the mmap granularity)
 * @flags:         (out) P2P_PGMAP_INFO_* bits
 *
 * Since the memory became per file, the structure goes on (an older, shorter
 * one still works, with the ioctl number of its size):
 * @mapped_bytes:      (out) bytes of the device mapped by some process
 * @pinned_only_bytes: (out) bytes pinned (beyond their file and mappings)
 *                     that no process maps
 * @file_held_bytes:   (out) bytes this file took and are not freed yet
 *                     (what file_limit counts)
 * @file_mapped_bytes: (out) bytes of this file's memory mapped
 * @file_pinned_bytes: (out) bytes of this file's memory with references
 *                     beyond the file's and the mappings' (pins, I/O in
 *                     flight)
 * @file_limit:        (out) most bytes one file may hold, 0 for no limit
 * @dirty_bytes:       (out) free bytes not zeroed yet: the driver zeroes
 *                     freed memory in the background, and a fault that
 *                     finds only such memory zeroes it itself
 */
struct p2p_pgmap_info {
	__u64 size;
	__u64 free_bytes;
	__u64 folios_in_use;
	__u64 bar_offset;
	__u32 bar;
	__u32 state;
	__u32 page_size;
	__u32 flags;
	__u64 mapped_bytes;
	__u64 pinned_only_bytes;
	__u64 file_held_bytes;
	__u64 file_mapped_bytes;
	__u64 file_pinned_bytes;
	__u64 file_limit;
	__u64 dirty_bytes;
};

/*
 * struct p2p_pgmap_range - where a run of a file's memory sits in the BAR
 * @offset:     file offset of the run
 * @bar_offset: offset of its first byte into the BAR
 * @len:        bytes, contiguous both in the file and in the BAR
 */
struct p2p_pgmap_range {
	__u64 offset;
	__u64 bar_offset;
	__u64 len;
};

/*
 * struct p2p_pgmap_placement - P2P_PGMAP_IOC_PLACEMENT argument
 * @offset:    (in) file offset, page aligned
 * @len:       (in) bytes from @offset to describe
 * @ranges:    (in) user pointer to an array of struct p2p_pgmap_range
 * @nr_ranges: (in) room in @ranges; (out) how many were written, in file
 *             order
 * @flags:     (in) zero; (out) P2P_PGMAP_PLACEMENT_MORE when the span holds
 *             more runs than there was room for (ask again from the end of
 *             the last one)
 *
 * Pages of the span that have no memory (never touched, or given back)
 * are in no run. At most 4096 runs are written per call. For tests and
 * tools that check bytes in the memory behind the BAR, e.g. the host file
 * of an emulated device.
 */
struct p2p_pgmap_placement {
	__u64 offset;
	__u64 len;
	__u64 ranges;
	__u32 nr_ranges;
	__u32 flags;
};

#define P2P_PGMAP_PLACEMENT_MORE	(1U << 0)

/*
 * struct p2p_pgmap_punch - P2P_PGMAP_IOC_PUNCH_HOLE argument
 * @offset: (in) file offset of the first byte to give back
 * @len:    (in) bytes, not zero; @offset + @len within the device's size
 * @flags:  (in) zero
 *
 * What fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) does for a
 * regular file: the range reads zero afterwards. Memory wholly inside it
 * leaves the file (and goes back to the device once no mapping or pin
 * holds it); bytes of the range in a folio that reaches past it are
 * zeroed. Mappings of the range are zapped and fault back in. fallocate()
 * and madvise(MADV_REMOVE) cannot do this: the VFS refuses both for a
 * character device (ENODEV).
 */
struct p2p_pgmap_punch {
	__u64 offset;
	__u64 len;
	__u64 flags;
};

/*
 * struct p2p_pgmap_export - P2P_PGMAP_IOC_EXPORT argument
 * @offset: (in) file offset of the range, page aligned
 * @len:    (in) bytes, page aligned, not zero; @offset + @len within the
 *          device's size
 * @flags:  (in) P2P_PGMAP_EXPORT_* bits: READ and/or WRITE, at least one
 * @fd:     (out) the dma-buf's file descriptor
 *
 * Exports a range of the file's memory as a dma-buf, for a device driver
 * to import (ibv_reg_dmabuf_mr(), a GPU, an accelerator). Pages of the
 * range that have no memory yet are taken, zeroed, as a first touch would
 * take them. The dma-buf holds the memory as long as it lives: after the
 * file is closed, or the range given back with P2P_PGMAP_IOC_PUNCH_HOLE
 * (the file then gets new memory there, the dma-buf keeps the old), until
 * its last fd and its last importer let go. No other file ever reaches it.
 *
 * Importers must handle peer-to-peer memory without struct pages and be
 * revocable (a dynamic importer, or a pinned one that can be revoked):
 * when the device goes away every export is revoked (importers are told
 * to stop and unmap, then their mappings fail with ENODEV) before remove
 * waits for anything, so no process keeping a dma-buf open delays it.
 * With the P2PDMA core, an importer that cannot reach the device by
 * peer-to-peer DMA (no shared switch or allowed host bridge) is refused
 * with EXDEV.
 *
 * READ and WRITE bound the directions importers may map it for: a mapping
 * for a direction the export does not allow fails with EACCES. RDMA
 * drivers map every MR both ways, whatever its access flags: export
 * READ | WRITE for them.
 *
 * The dma-buf is close-on-exec unless P2P_PGMAP_EXPORT_NO_CLOEXEC is set.
 * Errors: EINVAL (range or flags), EDQUOT (more than file_limit allows),
 * ENOSPC (no free device memory), ENXIO (the device is going away).
 */
struct p2p_pgmap_export {
	__u64 offset;
	__u64 len;
	__u32 flags;
	__s32 fd;
};

#define P2P_PGMAP_EXPORT_READ		(1U << 0) /* importers may read it */
#define P2P_PGMAP_EXPORT_WRITE		(1U << 1) /* importers may write it */
#define P2P_PGMAP_EXPORT_NO_CLOEXEC	(1U << 2) /* fd without O_CLOEXEC */

#define P2P_PGMAP_IOC_MAGIC	0xBC
#define P2P_PGMAP_IOC_INFO	_IOR(P2P_PGMAP_IOC_MAGIC, 0x00, struct p2p_pgmap_info)
#define P2P_PGMAP_IOC_PLACEMENT	_IOWR(P2P_PGMAP_IOC_MAGIC, 0x01, struct p2p_pgmap_placement)
#define P2P_PGMAP_IOC_PUNCH_HOLE	_IOW(P2P_PGMAP_IOC_MAGIC, 0x02, struct p2p_pgmap_punch)
#define P2P_PGMAP_IOC_EXPORT	_IOWR(P2P_PGMAP_IOC_MAGIC, 0x03, struct p2p_pgmap_export)

#endif /* _UAPI_LINUX_P2P_PGMAP_H */
