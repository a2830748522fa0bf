// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN of /proc/self/pagemap: which pages of a range the kernel
 * maps huge. The definitions are the kernel's uapi (<linux/fs.h> since
 * 6.7), repeated here for C libraries whose headers predate them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* O_CLOEXEC under -std=c11 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/p2p_pgmap.h>

#include "p2p_pgmap_huge.h"

#ifndef PAGEMAP_SCAN
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN	_IOWR('f', 16, struct pm_scan_arg)
#endif

/* Bits 3 and 6 of the categories; userspace has no BIT(). */
#ifndef PAGE_IS_PRESENT
#define PAGE_IS_PRESENT	0x08
#endif
#ifndef PAGE_IS_HUGE
#define PAGE_IS_HUGE	0x40
#endif

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

int64_t p2p_pgmap_huge_bytes(const void *addr, size_t len)
{
	struct page_region regions[64];
	__u64 start = (uintptr_t)addr, end = start + len;
	__s64 huge = 0;
	int fd, err = 0;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (start < end) {
		struct pm_scan_arg arg = {
			.size = sizeof(arg),
			.start = start,
			.end = end,
			.vec = (uintptr_t)regions,
			.vec_len = ARRAY_SIZE(regions),
			.category_mask = PAGE_IS_PRESENT | PAGE_IS_HUGE,
			.return_mask = PAGE_IS_HUGE,
		};
		int n = ioctl(fd, PAGEMAP_SCAN, &arg);

		if (n < 0) {
			err = errno;
			break;
		}
		for (int i = 0; i < n; i++)
			huge += regions[i].end - regions[i].start;
		/* The kernel says where it stopped: the vector was full. */
		if (arg.walk_end <= start)
			break;
		start = arg.walk_end;
	}
	close(fd);
	if (err) {
		errno = err;
		return -1;
	}
	return huge;
}

int p2p_pgmap_print_huge(FILE *out, int fd, const void *addr, size_t len)
{
	struct p2p_pgmap_info info;

	if (ioctl(fd, P2P_PGMAP_IOC_INFO, &info))
		return -1;
	fprintf(out, "huge: %lld of %zu bytes mapped huge (large folios %s)\n",
		(long long)p2p_pgmap_huge_bytes(addr, len), len,
		info.flags & P2P_PGMAP_INFO_LARGE_FOLIOS ? "yes" : "no");
	return 0;
}
