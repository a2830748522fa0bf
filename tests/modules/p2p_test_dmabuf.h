/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * p2p_test_dmabuf: the uapi of a test-only dma-buf importer.
 *
 * /dev/p2p_test_dmabuf attaches to a dma-buf on behalf of a PCI device of
 * the machine, as that device's driver would (an RDMA NIC registering a
 * dma-buf MR), maps it and reports the DMA addresses it got. Each open
 * file holds its attachments until it is closed.
 */
#ifndef _UAPI_P2P_TEST_DMABUF_H
#define _UAPI_P2P_TEST_DMABUF_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* How the importer attaches (p2p_test_dmabuf_attach.mode). */
/* Dynamic: on invalidate, it unmaps at once (mlx5's way). */
#define P2P_TEST_DMABUF_DYNAMIC			0
/* Pinned, revocable: pins, and on invalidate unmaps and unpins (irdma's). */
#define P2P_TEST_DMABUF_PINNED_REVOCABLE	1
/* Pinned, not revocable (efa's, bnxt_re's): pins and never lets go. */
#define P2P_TEST_DMABUF_PINNED			2
/* Static: dma_buf_attach(), no importer ops, no peer-to-peer. */
#define P2P_TEST_DMABUF_STATIC			3

/*
 * struct p2p_test_dmabuf_attach - P2P_TEST_DMABUF_IOC_ATTACH
 * @fd:     (in) the dma-buf
 * @mode:   (in) P2P_TEST_DMABUF_*
 * @device: (in) the PCI device to attach for, e.g. "0000:01:00.0"
 * @id:     (out) the attachment, for the other ioctls
 */
struct p2p_test_dmabuf_attach {
	__s32 fd;
	__u32 mode;
	char device[32];
	__u32 id;
	__u32 pad;
};

/* Directions of p2p_test_dmabuf_map.dir, as the importer's device sees them. */
#define P2P_TEST_DMABUF_BIDIRECTIONAL	0
#define P2P_TEST_DMABUF_TO_DEVICE	1	/* the device reads the memory */
#define P2P_TEST_DMABUF_FROM_DEVICE	2	/* the device writes it */

/*
 * struct p2p_test_dmabuf_map - P2P_TEST_DMABUF_IOC_MAP
 * @id:    (in) the attachment
 * @dir:   (in) P2P_TEST_DMABUF_BIDIRECTIONAL, _TO_DEVICE or _FROM_DEVICE
 * @segs:  (in) user pointer to room for @room pairs of __u64: DMA address,
 *         length
 * @room:  (in) pairs @segs has room for
 * @nr:    (out) DMA segments of the mapping (all of them, even past @room)
 * @len:   (out) bytes the mapping covers
 */
struct p2p_test_dmabuf_map {
	__u32 id;
	__u32 dir;
	__u64 segs;
	__u32 room;
	__u32 nr;
	__u64 len;
};

/*
 * struct p2p_test_dmabuf_status - P2P_TEST_DMABUF_IOC_STATUS
 * @id:            (in) the attachment
 * @mapped:        (out) 1 while it holds a mapping
 * @pinned:        (out) 1 while it holds a pin
 * @invalidations: (out) times the exporter told it to stop
 */
struct p2p_test_dmabuf_status {
	__u32 id;
	__u32 mapped;
	__u32 pinned;
	__u32 invalidations;
};

#define P2P_TEST_DMABUF_MAGIC		0xBB
#define P2P_TEST_DMABUF_IOC_ATTACH	\
	_IOWR(P2P_TEST_DMABUF_MAGIC, 0, struct p2p_test_dmabuf_attach)
#define P2P_TEST_DMABUF_IOC_MAP		\
	_IOWR(P2P_TEST_DMABUF_MAGIC, 1, struct p2p_test_dmabuf_map)
#define P2P_TEST_DMABUF_IOC_UNMAP	_IOW(P2P_TEST_DMABUF_MAGIC, 2, __u32)
#define P2P_TEST_DMABUF_IOC_DETACH	_IOW(P2P_TEST_DMABUF_MAGIC, 3, __u32)
#define P2P_TEST_DMABUF_IOC_STATUS	\
	_IOWR(P2P_TEST_DMABUF_MAGIC, 4, struct p2p_test_dmabuf_status)

#endif /* _UAPI_P2P_TEST_DMABUF_H */
