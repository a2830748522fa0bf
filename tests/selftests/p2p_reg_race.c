// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_reg_race - register device memory as RDMA MRs, over and over, while
 * the device is removed: the race between a registration and the revoke of
 * its pins.
 *
 *   p2p_reg_race --dev PATH [--pages N] [--seconds S]
 *
 * Maps N pages (default 1024) of the device, writes them, opens the first
 * RDMA device and prints "ready PID". Then, until the device is no longer
 * live (or S seconds, default 300, have passed), it registers the whole
 * mapping with ibv_reg_mr() (a plain, pinned MR) and deregisters it again.
 * The device's state is read (info ioctl) before and after each
 * registration: a registration that started while the device was live and
 * returned after its remove had begun overlapped the remove, and so the
 * revoke of its pins could fall anywhere inside it, including while the
 * RDMA driver was still building its translation of the pages (the window
 * of the race). At the end it prints
 *
 *   "regs N ok M overlapped K (K_OK registered)"
 *
 * and exits 0, or 1 if an MR it registered could not be deregistered (a
 * revoked MR must still deregister cleanly). A registration refused after
 * the remove began (its pages are gone) is expected; one refused before is
 * an error (exit 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <linux/p2p_pgmap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what)
{
	fprintf(stderr, "p2p_reg_race: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* The device's state now (P2P_PGMAP_STATE_*); GONE once it cannot say. */
static unsigned int dev_state(int fd)
{
	struct p2p_pgmap_info info = { 0 };

	if (ioctl(fd, P2P_PGMAP_IOC_INFO, &info))
		return P2P_PGMAP_STATE_GONE;
	return info.state;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long regs = 0, ok = 0, overlapped = 0, overlapped_ok = 0;
	const int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			   IBV_ACCESS_REMOTE_READ;
	const char *dev = NULL;
	struct ibv_device **list;
	struct ibv_context *ctx;
	long pages = 1024, page = sysconf(_SC_PAGESIZE);
	double seconds = 300, end;
	struct ibv_pd *pd;
	int fd, rc = 0;
	char *map;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dev") && i + 1 < argc)
			dev = argv[++i];
		else if (!strcmp(argv[i], "--pages") && i + 1 < argc)
			pages = atol(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			seconds = atof(argv[++i]);
		else {
			fprintf(stderr, "usage: p2p_reg_race --dev PATH [--pages N] [--seconds S]\n");
			return 2;
		}
	}
	if (!dev || pages <= 0 || seconds <= 0) {
		fprintf(stderr, "p2p_reg_race: --dev PATH is required; --pages and --seconds must be positive\n");
		return 2;
	}

	fd = open(dev, O_RDWR);
	if (fd < 0)
		die(dev);
	map = mmap(NULL, pages * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("mmap");
	for (long i = 0; i < pages; i++)
		map[i * page] = (char)i;

	list = ibv_get_device_list(NULL);
	if (!list || !list[0]) {
		errno = ENODEV;
		die("no RDMA device");
	}
	ctx = ibv_open_device(list[0]);
	ibv_free_device_list(list);
	pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	if (!pd)
		die("RDMA device/PD");

	printf("ready %d\n", getpid());
	fflush(stdout);

	end = now() + seconds;
	while (now() < end) {
		unsigned int before = dev_state(fd), after;
		struct ibv_mr *mr;
		int err;

		if (before != P2P_PGMAP_STATE_LIVE)
			break;
		mr = ibv_reg_mr(pd, map, pages * page, access);
		err = errno;
		after = dev_state(fd);
		regs++;
		if (after != P2P_PGMAP_STATE_LIVE) {
			overlapped++;
			overlapped_ok += !!mr;
		} else if (!mr) {
			fprintf(stderr, "p2p_reg_race: ibv_reg_mr with the device live: %s\n",
				strerror(err));
			rc = 1;
			break;
		}
		if (!mr)
			continue;
		ok++;
		if (ibv_dereg_mr(mr)) {
			fprintf(stderr, "p2p_reg_race: ibv_dereg_mr (%s): %s\n",
				after == P2P_PGMAP_STATE_LIVE ? "live" : "revoked",
				strerror(errno));
			rc = 1;
			break;
		}
	}
	printf("regs %lu ok %lu overlapped %lu (%lu registered)\n", regs, ok,
	       overlapped, overlapped_ok);
	fflush(stdout);

	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	munmap(map, pages * page);
	close(fd);
	return rc;
}
