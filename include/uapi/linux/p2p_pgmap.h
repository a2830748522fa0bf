/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * p2p_pgmap: PCI device memory (a BAR) handed to userspace as ZONE_DEVICE
 * folios through /dev/p2p_pgmapN.
 *
 * mmap() of the device maps device memory: MAP_SHARED only, the file offset
 * is the (page aligned) offset into the device memory, and every process
 * mapping the same offset shares the same memory. Memory a mapper sees for
 * the first time is zeroed. When the device goes away, mappings are revoked
 * (later accesses get SIGBUS) and poll() reports POLLHUP | POLLERR.
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
 * struct p2p_pgmap_info - P2P_PGMAP_IOC_INFO argument
 * @size:          (out) bytes of device memory that can be mapped
 * @free_bytes:    (out) bytes currently not handed out to any user
 * @folios_in_use: (out) folios handed out (mapped, pinned, or being returned)
 * @bar_offset:    (out) offset of the memory into its BAR
 * @bar:           (out) index of the PCI BAR holding the memory
 * @state:         (out) P2P_PGMAP_STATE_*
 * @page_size:     (out) size of one folio in bytes (the mmap granularity)
 * @flags:         (out) P2P_PGMAP_INFO_* bits
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
};

#define P2P_PGMAP_IOC_MAGIC	0xBA
#define P2P_PGMAP_IOC_INFO	_IOR(P2P_PGMAP_IOC_MAGIC, 0x00, struct p2p_pgmap_info)

#endif /* _UAPI_LINUX_P2P_PGMAP_H */
