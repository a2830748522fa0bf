# SPDX-License-Identifier: GPL-2.0
#
# What the kernel's headers offer, found by looking at them, for compat.h:
# every file that includes compat.h (the driver, the KUnit suite) gets the
# same flags. Where a version number says enough, compat.h compares it.

# The kernel's own pgmap folio pool (our series, patches/pgmap-folios/0003).
ccflags-y += $(if $(wildcard $(srctree)/include/linux/pgmap_folio.h),-DP2P_PGMAP_KERNEL_POOL)
# Revocable long-term pins (our series, patches/revocable-pins/0001).
ccflags-y += $(if $(shell grep -s -w pgmap_revoke_pins $(srctree)/include/linux/memremap.h),-DP2P_PGMAP_HAVE_PIN_REVOKERS)
# dma-buf export (dmabuf.c): the MMIO helpers of 6.19 and their struct
# phys_vec, and 7.0's invalidate_mappings.
ccflags-y += $(if $(wildcard $(srctree)/include/linux/dma-buf-mapping.h),-DP2P_PGMAP_HAVE_DMA_BUF_MAPPING)
ccflags-y += $(if $(shell grep -s -w dma_buf_invalidate_mappings $(srctree)/include/linux/dma-buf.h),-DP2P_PGMAP_HAVE_DMA_BUF_INVALIDATE)
ccflags-y += $(if $(shell grep -s 'struct phys_vec {' $(srctree)/include/linux/types.h),-DP2P_PGMAP_HAVE_PHYS_VEC)
# get_dev_pagemap(pfn) without the pgmap to reuse (7.x).
ccflags-y += $(if $(shell grep -s 'get_dev_pagemap(unsigned long pfn);' $(srctree)/include/linux/memremap.h),-DP2P_PGMAP_GET_DEV_PAGEMAP_ONE_ARG)
