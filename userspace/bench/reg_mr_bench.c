// SPDX-License-Identifier: GPL-2.0
/*
 * reg_mr_bench - time ibv_reg_mr + ibv_dereg_mr on p2p_pgmap device memory
 * and on host memory of the same sizes, in the same run.
 *
 *   reg_mr_bench [--dev /dev/p2p_pgmap0] [--reps N] [--touched] SIZE_MIB...
 *
 * For each size and each kind of memory: mmap it, then REPS times register
 * and deregister the whole range; the first registration of a fresh mapping
 * also faults every page in (device memory is zeroed by the driver, host
 * memory by the kernel), so both kinds pay for first touch alike. Prints one
 * JSON object per line: {"bench":"reg_mr","memory":"device"|"host",
 * "mib":N,"first_ms":..,"median_ms":..}; first_ms is the first
 * register+deregister, median_ms the median of the rest.
 *
 * With --touched, memory that is already mapped is registered: host memory
 * is private anonymous memory, 2 MiB aligned and madvise(MADV_HUGEPAGE)d;
 * a store into every 4 KiB page of both kinds comes first, then the kernel
 * is asked (PAGEMAP_SCAN) how much of each is mapped huge. Host memory that
 * is not THP through and through is an error: the comparison is against
 * THP. Then REPS register+deregister pairs are timed. One line per kind:
 * {"bench":"reg_mr_touched","memory":..,"mib":N,"bytes":..,"huge_bytes":..,
 * "reps":N,"median_ms":..,"min_ms":..}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "p2p_pgmap_huge.h"

#define TOUCH_STRIDE 4096
#define HUGE_SIZE (2UL << 20)

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int bench(struct ibv_pd *pd, const char *kind, void *addr, size_t mib, int reps,
		 int64_t huge)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	double *t = calloc(reps, sizeof(*t));

	if (!t)
		return -1;
	for (int i = 0; i < reps; i++) {
		double start = now_ms();
		struct ibv_mr *mr = ibv_reg_mr(pd, addr, mib << 20, access);

		if (!mr) {
			fprintf(stderr, "reg_mr_bench: ibv_reg_mr %zu MiB of %s memory: %s\n",
				mib, kind, strerror(errno));
			free(t);
			return -1;
		}
		ibv_dereg_mr(mr);
		t[i] = now_ms() - start;
	}
	if (huge >= 0) {
		/* Already touched: every round is alike. */
		qsort(t, reps, sizeof(*t), cmp_double);
		printf("{\"bench\":\"reg_mr_touched\",\"memory\":\"%s\",\"mib\":%zu,"
		       "\"bytes\":%zu,\"huge_bytes\":%" PRId64 ",\"reps\":%d,"
		       "\"median_ms\":%.3f,\"min_ms\":%.3f}\n", kind, mib, mib << 20, huge,
		       reps, reps % 2 ? t[reps / 2] : (t[reps / 2 - 1] + t[reps / 2]) / 2, t[0]);
		fflush(stdout);
		free(t);
		return 0;
	}
	qsort(t + 1, reps - 1, sizeof(*t), cmp_double);
	printf("{\"bench\":\"reg_mr\",\"memory\":\"%s\",\"mib\":%zu,\"first_ms\":%.3f,\"median_ms\":%.3f}\n",
	       kind, mib, t[0], reps > 1 ? t[1 + (reps - 1) / 2] : t[0]);
	fflush(stdout);
	free(t);
	return 0;
}

/* The first touch: one store into every 4 KiB page. */
static void touch(unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i += TOUCH_STRIDE)
		*(volatile unsigned char *)(p + i) = 1;
}

/* Fresh mappings: the first registration faults every page in. */
static int bench_fresh(struct ibv_pd *pd, int fd, size_t mib, int reps)
{
	void *d = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	void *h = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int rc = -1;

	if (d == MAP_FAILED || h == MAP_FAILED)
		fprintf(stderr, "reg_mr_bench: mmap %zu MiB: %s\n", mib, strerror(errno));
	else
		rc = bench(pd, "device", d, mib, reps, -1) || bench(pd, "host", h, mib, reps, -1);
	if (d != MAP_FAILED)
		munmap(d, mib << 20);
	if (h != MAP_FAILED)
		munmap(h, mib << 20);
	return rc;
}

/*
 * Already touched: device memory (the driver maps an aligned 2 MiB with one
 * PMD where it has large folios) and THP host memory, both faulted in
 * before the clock starts.
 */
static int bench_touched(struct ibv_pd *pd, int fd, size_t mib, int reps)
{
	size_t len = mib << 20;
	unsigned char *d = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	/* 2 MiB more, to cut a 2 MiB aligned range out of it. */
	unsigned char *raw = mmap(NULL, len + HUGE_SIZE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *h = NULL;
	int64_t dhuge, hhuge;
	int rc = -1;

	if (d == MAP_FAILED || raw == MAP_FAILED) {
		fprintf(stderr, "reg_mr_bench: mmap %zu MiB: %s\n", mib, strerror(errno));
		goto out;
	}
	h = (unsigned char *)(((uintptr_t)raw + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1));
	if (madvise(h, len, MADV_HUGEPAGE)) {
		fprintf(stderr, "reg_mr_bench: madvise(MADV_HUGEPAGE): %s\n", strerror(errno));
		goto out;
	}
	touch(d, len);
	touch(h, len);
	dhuge = p2p_pgmap_huge_bytes(d, len);
	hhuge = p2p_pgmap_huge_bytes(h, len);
	if (dhuge < 0 || hhuge < 0) {
		fprintf(stderr, "reg_mr_bench: PAGEMAP_SCAN: %s\n", strerror(errno));
		goto out;
	}
	if ((size_t)hhuge != len) {
		fprintf(stderr, "reg_mr_bench: only %" PRId64 " of %zu bytes of host memory are THP"
			" (see /sys/kernel/mm/transparent_hugepage/)\n", hhuge, len);
		goto out;
	}
	rc = bench(pd, "device", d, mib, reps, dhuge) || bench(pd, "host", h, mib, reps, hhuge);
out:
	if (d != MAP_FAILED)
		munmap(d, len);
	if (raw != MAP_FAILED)
		munmap(raw, len + HUGE_SIZE);
	return rc;
}

int main(int argc, char **argv)
{
	const char *dev = "/dev/p2p_pgmap0";
	struct ibv_device **list;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	int reps = 5, i, fd;
	bool touched = false;

	for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "--touched")) {
			touched = true;
			i--;
			continue;
		}
		if (i + 1 >= argc)
			break;
		if (!strcmp(argv[i], "--dev"))
			dev = argv[i + 1];
		else if (!strcmp(argv[i], "--reps"))
			reps = atoi(argv[i + 1]);
	}
	if (i >= argc || reps < 1) {
		fprintf(stderr, "usage: %s [--dev PATH] [--reps N] [--touched] SIZE_MIB...\n", argv[0]);
		return 2;
	}
	list = ibv_get_device_list(NULL);
	if (!list || !list[0]) {
		fprintf(stderr, "reg_mr_bench: no RDMA device\n");
		return 1;
	}
	ctx = ibv_open_device(list[0]);
	pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	if (!pd) {
		fprintf(stderr, "reg_mr_bench: cannot open %s\n", ibv_get_device_name(list[0]));
		return 1;
	}
	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "reg_mr_bench: open %s: %s\n", dev, strerror(errno));
		return 1;
	}
	for (; i < argc; i++) {
		size_t mib = strtoul(argv[i], NULL, 0);
		int rc = touched ? bench_touched(pd, fd, mib, reps) : bench_fresh(pd, fd, mib, reps);

		if (rc)
			return 1;
	}
	close(fd);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	ibv_free_device_list(list);
	return 0;
}
