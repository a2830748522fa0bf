// SPDX-License-Identifier: GPL-2.0
/* Where the memory of an open /dev/p2p_pgmapN sits in its BAR. */
#include <errno.h>
#include <inttypes.h>
#include <sys/ioctl.h>

#include <linux/p2p_pgmap.h>

#include "p2p_pgmap_placement.h"

#define RANGES_PER_CALL	64

int p2p_pgmap_for_each_run(int fd, uint64_t offset, uint64_t len,
			   int (*fn)(const struct p2p_pgmap_range *run, void *arg),
			   void *arg)
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
		for (uint32_t i = 0; i < pl.nr_ranges; i++) {
			int rc = fn(&ranges[i], arg);

			if (rc)
				return rc;
		}
		if (!(pl.flags & P2P_PGMAP_PLACEMENT_MORE) || !pl.nr_ranges)
			break;
		last = &ranges[pl.nr_ranges - 1];
		from = last->offset + last->len;
	}
	return 0;
}

struct print_arg {
	FILE *out;
	uint64_t offset;
};

static int print_run(const struct p2p_pgmap_range *run, void *arg)
{
	const struct print_arg *p = arg;

	fprintf(p->out, "placement: buf+%" PRIu64 " bar %" PRIu64 " len %" PRIu64 "\n",
		(uint64_t)(run->offset - p->offset), (uint64_t)run->bar_offset,
		(uint64_t)run->len);
	return 0;
}

int p2p_pgmap_print_placement(FILE *out, int fd, uint64_t offset, uint64_t len)
{
	struct print_arg p = { .out = out, .offset = offset };

	return p2p_pgmap_for_each_run(fd, offset, len, print_run, &p);
}
