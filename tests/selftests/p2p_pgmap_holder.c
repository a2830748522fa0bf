// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_pgmap_holder - a user of device memory for hot-unplug tests.
 *
 *   p2p_pgmap_holder [--dev PATH] [--pages N]
 *                    [--pin | --mr] [--closed] [--release-after SECONDS] | --touch
 *
 * Maps N pages (default 4) of the device, writes them, and pins them: with
 * --pin through the test-only /dev/p2p_test_pin, with --mr by registering
 * them as an RDMA memory region (first RDMA device; ibv_reg_mr), then prints
 * "huge: B of L bytes mapped huge (large folios yes|no)" (as
 * p2p_pgmap_print_huge() says, like p2p_dio and p2p_rdma_rw) and
 * "ready PID".
 * From then on it reports, one line each:
 *   "pollhup"   poll() on the device fd reported the device going away;
 *   "state S"   just before it drops the pin: the device's state then
 *               (live, dying, gone; from the info ioctl), so a test can
 *               tell that remove was still waiting when the pin went,
 *               however late the test itself gets to look;
 *   "unpinned"  the pin was dropped (the MR deregistered), on SIGUSR1 or
 *               --release-after SECONDS after the hang-up;
 *   "sigbus"    after the hang-up (and the unpin, with --pin), touching the
 *               revoked mapping raised SIGBUS, as the driver promises.
 * It exits 0 after "sigbus", 1 when the mapping could still be touched.
 *
 * With --closed (and --pin or --mr) it fills the pages with 0xa5 before
 * pinning them, then unmaps them and closes the device, prints "ready PID"
 * and holds the pin alone: a departed user whose memory only the pin keeps.
 * It drops the pin on SIGUSR1 ("unpinned") and exits 0.
 *
 * With --touch it instead writes and checks every page in a loop, counting
 * rounds ("rounds N" on SIGUSR1), until the device goes away under it: then
 * it must get SIGBUS ("sigbus ROUNDS") and poll() must report the hang-up
 * ("pollhup"); a page that does not read back what was written ("corrupt")
 * exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <infiniband/verbs.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/p2p_pgmap.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "p2p_pgmap_huge.h"

static sigjmp_buf touch_env;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(touch_env, 1);
}

static void die(const char *what)
{
	fprintf(stderr, "p2p_pgmap_holder: %s: %s\n", what, strerror(errno));
	exit(2);
}

static struct ibv_context *ib_ctx;
static struct ibv_pd *ib_pd;
static struct ibv_mr *ib_mr;

/* Register [addr, addr + len) with the first RDMA device. */
static void register_mr(void *addr, size_t len)
{
	struct ibv_device **list = ibv_get_device_list(NULL);

	if (!list || !list[0]) {
		errno = ENODEV;
		die("no RDMA device");
	}
	ib_ctx = ibv_open_device(list[0]);
	ibv_free_device_list(list);
	ib_pd = ib_ctx ? ibv_alloc_pd(ib_ctx) : NULL;
	if (!ib_pd)
		die("RDMA device/PD");
	ib_mr = ibv_reg_mr(ib_pd, addr, len, IBV_ACCESS_LOCAL_WRITE |
			   IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	if (!ib_mr)
		die("ibv_reg_mr");
}

static void say(const char *line)
{
	printf("%s\n", line);
	fflush(stdout);
}

/* "state S": the device's state as the info ioctl reports it now. */
static void say_state(int fd)
{
	static const char * const names[] = {
		[P2P_PGMAP_STATE_LIVE] = "live",
		[P2P_PGMAP_STATE_DYING] = "dying",
		[P2P_PGMAP_STATE_GONE] = "gone",
	};
	struct p2p_pgmap_info info = { 0 };

	if (ioctl(fd, P2P_PGMAP_IOC_INFO, &info))
		die("P2P_PGMAP_IOC_INFO");
	printf("state %s\n", info.state < 3 ? names[info.state] : "unknown");
	fflush(stdout);
}

/*
 * --touch: write and check every page, round after round, until SIGBUS.
 * The byte written depends on the round and the page, so a page that
 * silently stopped being device memory (or got another page) shows.
 */
static int touch_loop(volatile char *map, long pages, long page, int fd,
		      int sfd)
{
	static volatile unsigned long rounds;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char line[64];

	if (sigsetjmp(touch_env, 1)) {
		snprintf(line, sizeof(line), "sigbus %lu", rounds);
		say(line);
		if (poll(&pfd, 1, 10000) == 1 && (pfd.revents & POLLHUP))
			say("pollhup");
		return 0;
	}
	for (;; rounds++) {
		struct signalfd_siginfo si;

		/* Non-blocking: a SIGUSR1 asks how far we got. */
		if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
			snprintf(line, sizeof(line), "rounds %lu", rounds);
			say(line);
		}
		for (long i = 0; i < pages; i++) {
			char want = (char)(rounds * 31 + i);

			map[i * page] = want;
			if (map[i * page] != want) {
				say("corrupt");
				return 1;
			}
		}
	}
}

/*
 * --closed: unmap, close the device, and hold only the pin until SIGUSR1.
 * Prints "ready PID" once closed, "unpinned" once the pin is dropped.
 */
static int hold_closed(volatile char *map, size_t len, int fd, int pin_fd,
		       sigset_t *set)
{
	int sig;

	if (munmap((void *)map, len))
		die("munmap");
	close(fd);
	printf("ready %d\n", getpid());
	fflush(stdout);
	if (sigwait(set, &sig))
		die("sigwait");
	if (pin_fd >= 0)
		close(pin_fd);
	if (ib_mr && ibv_dereg_mr(ib_mr))
		die("ibv_dereg_mr");
	say("unpinned");
	return 0;
}

int main(int argc, char **argv)
{
	const char *dev = "/dev/p2p_pgmap0";
	long page = sysconf(_SC_PAGESIZE), pages = 4, release_after = -1;
	int pin = 0, mr = 0, touch = 0, closed = 0, fd, pin_fd = -1, sfd, hup = 0;
	struct sigaction sa = { .sa_handler = on_sigbus };
	volatile char *map;
	sigset_t set;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--dev") && i + 1 < argc)
			dev = argv[++i];
		else if (!strcmp(argv[i], "--pages") && i + 1 < argc)
			pages = atol(argv[++i]);
		else if (!strcmp(argv[i], "--pin"))
			pin = 1;
		else if (!strcmp(argv[i], "--mr"))
			mr = 1;
		else if (!strcmp(argv[i], "--touch"))
			touch = 1;
		else if (!strcmp(argv[i], "--closed"))
			closed = 1;
		else if (!strcmp(argv[i], "--release-after") && i + 1 < argc)
			release_after = atol(argv[++i]);
		else
			pages = 0;
	}
	if (pages <= 0 || (touch && (pin || mr || closed || release_after >= 0)) ||
	    (closed && !pin && !mr)) {
		fprintf(stderr, "usage: %s [--dev PATH] [--pages N] [--pin | --mr] [--closed] [--release-after SECONDS] | --touch\n",
			argv[0]);
		return 2;
	}

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die(dev);
	map = mmap(NULL, pages * page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		die("mmap");
	if (closed)
		memset((void *)map, 0xa5, pages * page);
	else
		for (long i = 0; i < pages; i++)
			map[i * page] = (char)i;
	if (pin) {
		char req[64];
		int n = snprintf(req, sizeof(req), "%lx %lx", (unsigned long)map,
				 (unsigned long)(pages * page));

		pin_fd = open("/dev/p2p_test_pin", O_WRONLY | O_CLOEXEC);
		if (pin_fd < 0)
			die("/dev/p2p_test_pin");
		if (write(pin_fd, req, n) != n)
			die("pin");
	}
	if (mr)
		register_mr((void *)map, pages * page);

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		die("signalfd");
	sigaction(SIGBUS, &sa, NULL);

	if (closed)
		return hold_closed(map, pages * page, fd, pin_fd, &set);
	if (p2p_pgmap_print_huge(stdout, fd, (void *)map, pages * page))
		die("P2P_PGMAP_IOC_INFO");
	printf("ready %d\n", getpid());
	fflush(stdout);
	if (touch)
		return touch_loop(map, pages, page, fd, sfd);
	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = hup ? -1 : fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		int timeout = hup && release_after >= 0 ?
			      (int)release_after * 1000 : -1;
		int n;
		bool release = false;

		if (hup && pin_fd < 0 && !ib_mr)
			break;
		n = poll(pfd, 2, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (pfd[0].revents & POLLHUP) {
			hup = 1;
			say("pollhup");
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				release = true;
		}
		if (n == 0)
			release = true;
		if (release && (pin_fd >= 0 || ib_mr))
			say_state(fd);
		if (release) {
			if (pin_fd >= 0) {
				close(pin_fd);
				pin_fd = -1;
				say("unpinned");
			}
			if (ib_mr) {
				if (ibv_dereg_mr(ib_mr))
					die("ibv_dereg_mr");
				ib_mr = NULL;
				say("unpinned");
			}
		}
	}

	if (sigsetjmp(touch_env, 1)) {
		say("sigbus");
		return 0;
	}
	map[0] = 1;
	say("the revoked mapping could still be written");
	return 1;
}
