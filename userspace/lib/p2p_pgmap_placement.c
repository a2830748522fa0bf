// SPDX-License-Identifier: GPL-2.0
/* Where the memory of an open /dev/p2p_pgmapN sits in its BAR. */
#include <errno.h>
#include <inttypes.h>
#include <sys/ioctl.h>

#include <linux/p2p_pgmap.h>

#include "p2p_pgmap_placement.h"

#define RANGES_PER_CALL	64

int p2p_pgmap_print_placement(FILE *out, int fd, uint64_t offset, uint64_t len)
{
	/*
	 * Zeroed, though the kernel writes what is read: checkers such as
	 * valgrind cannot see a write through the pointer in the argument.
	 */
	struct p2p_pgmap_range ranges[RANGES_PER_CALL] = { 0 };
	uint64_t from = offset, end = offset + len;

	while (from < end) {
		struct p2p_pgmap_placement pl = {
			.offset = from,
			.len = end - from,
			.ranges = (uintptr_t)ranges,
			.nr_ranges = RANGES_PER_CALL,
		};
		struct p2p_pgmap_range *last;

		if (ioctl(fd, P2P_PGMAP_IOC_PLACEMENT, &pl))
			return -1;
		for (uint32_t i = 0; i < pl.nr_ranges; i++)
			fprintf(out, "placement: buf+%" PRIu64 " bar %" PRIu64 " len %" PRIu64 "\n",
				(uint64_t)(ranges[i].offset - offset), (uint64_t)ranges[i].bar_offset,
				(uint64_t)ranges[i].len);
		if (!(pl.flags & P2P_PGMAP_PLACEMENT_MORE) || !pl.nr_ranges)
			break;
		last = &ranges[pl.nr_ranges - 1];
		from = last->offset + last->len;
	}
	return 0;
}
