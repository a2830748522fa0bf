/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How much of a mapping the kernel maps with huge (PMD) entries, as the
 * kernel itself reports it (PAGEMAP_SCAN, since 6.7), for tests and tools
 * that show whether device memory got 2 MiB mappings.
 */
#ifndef P2P_PGMAP_HUGE_H
#define P2P_PGMAP_HUGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Bytes of [addr, addr + len) that are present and mapped huge (PAGEMAP_SCAN
 * category PAGE_IS_HUGE), or -1 with errno set (ENOTTY or EINVAL: the
 * kernel has no PAGEMAP_SCAN).
 */
int64_t p2p_pgmap_huge_bytes(const void *addr, size_t len);

/*
 * Print, for a mapping of the p2p_pgmap device @fd at @addr:
 *
 *   huge: B of L bytes mapped huge (large folios yes|no)
 *
 * B as p2p_pgmap_huge_bytes() says (-1: unknown), "large folios" whether
 * the device's kernel builds them (P2P_PGMAP_INFO_LARGE_FOLIOS). Returns 0,
 * or -1 with errno set when @fd is not a p2p_pgmap device.
 */
int p2p_pgmap_print_huge(FILE *out, int fd, const void *addr, size_t len);

#endif /* P2P_PGMAP_HUGE_H */
