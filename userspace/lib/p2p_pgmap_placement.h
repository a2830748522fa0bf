/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where the memory of an open /dev/p2p_pgmapN sits in the device's BAR
 * (P2P_PGMAP_IOC_PLACEMENT), for tools that check or explain bytes there.
 */
#ifndef P2P_PGMAP_PLACEMENT_H
#define P2P_PGMAP_PLACEMENT_H

#include <stdint.h>
#include <stdio.h>

#include <linux/p2p_pgmap.h>

/*
 * Call @fn for each run of the file's memory within [offset, offset + len),
 * in file order (as many P2P_PGMAP_IOC_PLACEMENT calls as it takes).
 * Returns 0, -1 with errno set when the ioctl fails (ENOTTY: @fd is not a
 * p2p_pgmap device), or the first non-zero value @fn returned.
 */
int p2p_pgmap_for_each_run(int fd, uint64_t offset, uint64_t len,
			   int (*fn)(const struct p2p_pgmap_range *run, void *arg),
			   void *arg);

/*
 * Print one line per run of the file's memory within [offset, offset + len):
 *
 *   placement: buf+REL bar BAR_OFFSET len LEN
 *
 * REL is the run's file offset minus @offset (its place in the caller's
 * buffer mapped at @offset), BAR_OFFSET its offset into the BAR; all in
 * bytes. Returns 0, or -1 with errno set (ENOTTY: @fd is not a p2p_pgmap
 * device, such as mainline p2pmem or a regular file).
 */
int p2p_pgmap_print_placement(FILE *out, int fd, uint64_t offset, uint64_t len);

#endif /* P2P_PGMAP_PLACEMENT_H */
