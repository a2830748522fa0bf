// SPDX-License-Identifier: GPL-2.0
/*
 * reg_mr_bench - time ibv_reg_mr + ibv_dereg_mr on p2p_pgmap device memory
 * and on host memory of the same sizes, in the same run.
 *
 *   reg_mr_bench [--dev /dev/p2p_pgmap0] [--reps N] SIZE_MIB...
 *
 * For each size and each kind of memory: mmap it, then REPS times register
 * and deregister the whole range; the first registration of a fresh mapping
 * also faults every page in (device memory is zeroed by the driver, host
 * memory by the kernel), so both kinds pay for first touch alike. Prints one
 * JSON object per line: {"bench":"reg_mr","memory":"device"|"host",
 * "mib":N,"first_ms":..,"median_ms":..}; first_ms is the first
 * register+deregister, median_ms the median of the rest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

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

static int bench(struct ibv_pd *pd, const char *kind, void *addr, size_t mib, int reps)
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
	qsort(t + 1, reps - 1, sizeof(*t), cmp_double);
	printf("{\"bench\":\"reg_mr\",\"memory\":\"%s\",\"mib\":%zu,\"first_ms\":%.3f,\"median_ms\":%.3f}\n",
	       kind, mib, t[0], reps > 1 ? t[1 + (reps - 1) / 2] : t[0]);
	fflush(stdout);
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	const char *dev = "/dev/p2p_pgmap0";
	struct ibv_device **list;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	int reps = 5, i, fd;

	for (i = 1; i < argc && argv[i][0] == '-'; i += 2) {
		if (i + 1 >= argc)
			break;
		if (!strcmp(argv[i], "--dev"))
			dev = argv[i + 1];
		else if (!strcmp(argv[i], "--reps"))
			reps = atoi(argv[i + 1]);
	}
	if (i >= argc || reps < 1) {
		fprintf(stderr, "usage: %s [--dev PATH] [--reps N] SIZE_MIB...\n", argv[0]);
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
		void *d = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		void *h = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (d == MAP_FAILED || h == MAP_FAILED) {
			fprintf(stderr, "reg_mr_bench: mmap %zu MiB: %s\n", mib, strerror(errno));
			return 1;
		}
		if (bench(pd, "device", d, mib, reps) || bench(pd, "host", h, mib, reps))
			return 1;
		munmap(d, mib << 20);
		munmap(h, mib << 20);
	}
	close(fd);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	ibv_free_device_list(list);
	return 0;
}
