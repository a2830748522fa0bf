// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_pgmap_churn - map, touch, fork, unmap and exit in a loop, to race
 * every way a folio can be released against the device's removal.
 *
 *   p2p_pgmap_churn [--dev PATH] [--seconds N] [--seed N]
 *
 * Each round maps a random range of the device, touches it, and then
 * releases it one of three ways: munmap, a forked child that touches it
 * and exits without unmapping, or mapping the same offset from a second
 * open (another owner: memory of its own, taken and given back at once).
 * Once the device goes away, mmap and open fail and touches
 * raise SIGBUS: all expected, and the program then ends with status 0.
 * It prints how many rounds it ran. Any other failure exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/p2p_pgmap.h>

static sigjmp_buf gone_env;
/* File scope: a siglongjmp back into main() must find them intact. */
static const char *dev = "/dev/p2p_pgmap0";
static long rounds;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(gone_env, 1);
}

static void touch(volatile char *p, size_t len, long page)
{
	for (size_t off = 0; off < len; off += page)
		p[off] = (char)off;
}

int main(int argc, char **argv)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned int seed = (unsigned int)getpid();
	struct sigaction sa = { .sa_handler = on_sigbus };
	struct p2p_pgmap_info info;
	time_t end;
	int seconds = 10, fd;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--dev"))
			dev = argv[i + 1];
		else if (!strcmp(argv[i], "--seconds"))
			seconds = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seed"))
			seed = (unsigned int)atoi(argv[i + 1]);
	}
	srand(seed);
	sigaction(SIGBUS, &sa, NULL);
	end = time(NULL) + seconds;

	fd = open(dev, O_RDWR | O_CLOEXEC);
	if (fd < 0 || ioctl(fd, P2P_PGMAP_IOC_INFO, &info)) {
		printf("churn: device gone before the first round\n");
		return 0;
	}
	if (sigsetjmp(gone_env, 1)) {
		printf("churn: %ld rounds, then SIGBUS: device revoked\n", rounds);
		return 0;
	}
	while (time(NULL) < end) {
		size_t pages_total = info.size / page;
		size_t len = (1 + rand() % 16) * page;
		off_t off = (rand() % (pages_total - 16)) * page;
		volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
					MAP_SHARED, fd, off);
		pid_t pid;
		int status;

		if (p == MAP_FAILED) {
			if (errno == ENXIO || errno == ENODEV) {
				printf("churn: %ld rounds, then mmap: %s: device gone\n",
				       rounds, strerror(errno));
				return 0;
			}
			printf("churn: mmap: %s\n", strerror(errno));
			return 1;
		}
		touch(p, len, page);
		switch (rand() % 3) {
		case 0:
			munmap((void *)p, len);
			break;
		case 1:
			/* The child's exit drops its copy of the mapping. */
			pid = fork();
			if (pid == 0) {
				touch(p, len, page);
				_exit(0);
			}
			waitpid(pid, &status, 0);
			munmap((void *)p, len);
			break;
		default: {
			int fd2 = open(dev, O_RDWR | O_CLOEXEC);
			volatile char *q;

			if (fd2 < 0) {
				printf("churn: %ld rounds, then open: device gone\n", rounds);
				return 0;
			}
			q = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, off);
			close(fd2);
			if (q != MAP_FAILED) {
				q[0] = 1;
				munmap((void *)q, len);
			}
			munmap((void *)p, len);
			break;
		}
		}
		rounds++;
	}
	printf("churn: %ld rounds\n", rounds);
	return 0;
}
