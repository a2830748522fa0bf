// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmem_mmap DIR CASE: one check of mainline p2pmem's mmap() (DIR is a
 * device's p2pmem folder) as the series makes it (patches/pgmap-folios
 * 0009-0012): memory that lives with its mapping and is faulted in, with
 * huge folios. Exit 0 when the case holds, 1 with a message on stderr that
 * says what did not.
 *
 * Cases:
 *   huge      a 4 MiB mapping at a 2 MiB aligned address is two PMDs
 *             (PAGEMAP_SCAN), and reads back what was written
 *   dontneed  MADV_DONTNEED of all of it loses no byte, and faults PMDs back
 *   split     munmap() of 4 KiB and mprotect() of 64 KiB inside the PMDs
 *             leave the rest of the bytes in place
 *   mremap    a mapping moved to another aligned address keeps its bytes
 *   fork      a child reads the parent's bytes, and its write is the
 *             parent's (MAP_SHARED)
 *   mkwrite   a write to a page mapped read-only (read fault first, then
 *             mprotect() back and forth) completes within 10 s
 *   freed     the memory counts in p2pmem/available until the last part
 *             of the mapping is unmapped, and comes back then
 *   unaligned an odd-sized mapping at an address that is not 2 MiB
 *             aligned works, with PTEs, one fault per folio and page table
 *             (at most one per 16 pages here)
 *   hold      map and touch 4 MiB, print "ready", then wait for SIGTERM
 *             while reading the memory in a loop (for unplug tests); exit 0
 *             on SIGTERM or when an access raises SIGBUS
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p2p_pgmap_huge.h"

#define KIB	1024UL
#define MIB	(1024 * KIB)
#define PMD	(2 * MIB)

static const char *dir;
static sigjmp_buf bus_env;
static volatile sig_atomic_t bus_armed;
static volatile sig_atomic_t term;

static void on_bus(int sig)
{
	(void)sig;
	if (bus_armed)
		siglongjmp(bus_env, 1);
	_exit(3);
}

static void on_term(int sig)
{
	(void)sig;
	term = 1;
}

static void on_alarm(int sig)
{
	static const char msg[] =
		"p2pmem_mmap: a write fault did not complete within 10 s\n";
	ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);

	(void)sig;
	(void)n;	/* exit 1 either way */
	_exit(1);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
	va_list ap;

	fputs("p2pmem_mmap: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int open_alloc(void)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/allocate", dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "p2pmem_mmap: open %s: %s\n", path, strerror(errno));
	return fd;
}

/* An address aligned to 2 MiB (plus @phase) with @len bytes free after it. */
static char *aligned_hole(size_t len, size_t phase)
{
	char *p = mmap(NULL, len + 2 * PMD, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)p + PMD - 1) & ~(PMD - 1);
	munmap(p, len + 2 * PMD);
	return (char *)(a + phase);
}

static char *map_at(int fd, char *at, size_t len)
{
	char *p = mmap(at, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | (at ? MAP_FIXED : 0), fd, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "p2pmem_mmap: mmap of %zu bytes: %s\n", len,
			strerror(errno));
		return NULL;
	}
	return p;
}

static unsigned char pattern(size_t off, unsigned int seed)
{
	return (unsigned char)((off >> 12) * 31 + (off & 0xfff) + seed * 7);
}

static void fill(char *p, size_t len, size_t base, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (char)pattern(base + i, seed);
}

/*
 * A new mapping of @len bytes at a 2 MiB aligned address plus @phase,
 * filled with the pattern of @seed; NULL (said why) if mmap() failed.
 */
static char *map_filled(int fd, size_t len, size_t phase, unsigned int seed)
{
	char *p = map_at(fd, aligned_hole(len, phase), len);

	if (p)
		fill(p, len, 0, seed);
	return p;
}

/*
 * Compare [p, p + len), at offset @base of the mapping, with the pattern;
 * an access that raises SIGBUS (the memory is gone) is a mismatch too.
 */
static int verify(const char *p, size_t len, size_t base, unsigned int seed,
		  const char *what)
{
	volatile size_t i = 0;

	bus_armed = 1;
	if (sigsetjmp(bus_env, 1)) {
		bus_armed = 0;
		return fail("%s: SIGBUS reading offset %#zx: the memory is gone",
			    what, base + i);
	}
	for (; i < len; i++)
		if ((unsigned char)p[i] != pattern(base + i, seed)) {
			bus_armed = 0;
			return fail("%s: byte at offset %#zx is %#x, wrote %#x",
				    what, base + i, (unsigned char)p[i],
				    pattern(base + i, seed));
		}
	bus_armed = 0;
	return 0;
}

static int expect_huge(const char *p, size_t len, size_t want, const char *what)
{
	int64_t huge = p2p_pgmap_huge_bytes(p, len);

	if (huge < 0)
		return fail("%s: PAGEMAP_SCAN: %s", what, strerror(errno));
	if ((size_t)huge != want)
		return fail("%s: %" PRId64 " of %zu bytes mapped huge, want %zu",
			    what, huge, len, want);
	return 0;
}

static long long available(void)
{
	char path[4096];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/available", dir);
	f = fopen(path, "re");
	if (!f || fscanf(f, "%lld", &v) != 1)
		v = -1;
	if (f)
		fclose(f);
	return v;
}

static int case_huge(int fd)
{
	size_t len = 2 * PMD;
	char *p = map_filled(fd, len, 0, 1);

	if (!p)
		return 1;
	return expect_huge(p, len, len, "4 MiB at an aligned address") ||
	       verify(p, len, 0, 1, "read back");
}

static int case_dontneed(int fd)
{
	size_t len = 2 * PMD;
	char *p = map_filled(fd, len, 0, 2);

	if (!p)
		return 1;
	if (madvise(p, len, MADV_DONTNEED))
		return fail("MADV_DONTNEED: %s", strerror(errno));
	if (expect_huge(p, len, 0, "after MADV_DONTNEED") ||
	    verify(p, len, 0, 2, "after MADV_DONTNEED"))
		return 1;
	return expect_huge(p, len, len, "faulted back");
}

static int case_split(int fd)
{
	size_t len = 2 * PMD, hole = PMD / 2, ro = PMD + PMD / 2;
	char *p = map_filled(fd, len, 0, 3);

	if (!p)
		return 1;
	if (munmap(p + hole, 4 * KIB))
		return fail("munmap of 4 KiB: %s", strerror(errno));
	if (mprotect(p + ro, 64 * KIB, PROT_READ))
		return fail("mprotect: %s", strerror(errno));
	return verify(p, hole, 0, 3, "before the hole") ||
	       verify(p + hole + 4 * KIB, len - hole - 4 * KIB,
		      hole + 4 * KIB, 3, "after the hole");
}

static int case_mremap(int fd)
{
	size_t len = 2 * PMD;
	char *p = map_filled(fd, len, 0, 4), *q, *to;

	if (!p)
		return 1;
	to = aligned_hole(len, 0);
	q = mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (q == MAP_FAILED)
		return fail("mremap: %s", strerror(errno));
	if (verify(q, len, 0, 4, "moved"))
		return 1;
	if (madvise(q, len, MADV_DONTNEED))
		return fail("MADV_DONTNEED: %s", strerror(errno));
	return verify(q, len, 0, 4, "moved, then MADV_DONTNEED") ||
	       expect_huge(q, len, len, "moved, faulted back");
}

static int case_fork(int fd)
{
	size_t len = PMD;
	char *p = map_filled(fd, len, 0, 5);
	int status;
	pid_t pid;

	if (!p)
		return 1;
	pid = fork();
	if (pid < 0)
		return fail("fork: %s", strerror(errno));
	if (!pid) {
		if (verify(p, len, 0, 5, "in the child"))
			_exit(1);
		fill(p + 64 * KIB, 4 * KIB, 64 * KIB, 6);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return fail("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return fail("the child failed (status %#x)", status);
	return verify(p + 64 * KIB, 4 * KIB, 64 * KIB, 6, "the child's write") ||
	       verify(p, 64 * KIB, 0, 5, "the rest");
}

static int case_mkwrite(int fd)
{
	size_t len = PMD;
	char *p = map_at(fd, aligned_hole(len, 4 * KIB), len - 4 * KIB);
	volatile char sink;

	if (!p)
		return 1;
	signal(SIGALRM, on_alarm);
	alarm(10);
	sink = p[0];			/* read fault: a read-only PTE */
	(void)sink;
	p[0] = 1;			/* write notification */
	if (mprotect(p, 4 * KIB, PROT_READ) ||
	    mprotect(p, 4 * KIB, PROT_READ | PROT_WRITE))
		return fail("mprotect: %s", strerror(errno));
	p[1] = 2;
	alarm(0);
	if (p[0] != 1 || p[1] != 2)
		return fail("wrote 1, 2; read %d, %d", p[0], p[1]);
	return 0;
}

static int case_freed(int fd)
{
	size_t len = 2 * PMD;
	long long before = available(), mapped, half;
	char *p;

	if (before < 0)
		return fail("cannot read %s/available", dir);
	p = map_filled(fd, len, 0, 7);
	if (!p)
		return 1;
	mapped = available();
	if (before - mapped < (long long)len)
		return fail("available went from %lld to %lld with %zu bytes mapped",
			    before, mapped, len);
	if (munmap(p, PMD))
		return fail("munmap: %s", strerror(errno));
	half = available();
	if (half != mapped)
		return fail("available went from %lld to %lld when half the mapping went: the rest is in use",
			    mapped, half);
	if (verify(p + PMD, PMD, PMD, 7, "the half still mapped"))
		return 1;
	if (munmap(p + PMD, PMD))
		return fail("munmap: %s", strerror(errno));
	if (available() != before)
		return fail("available is %lld after the last munmap(), was %lld before the mapping",
			    available(), before);
	return 0;
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static int case_unaligned(int fd)
{
	size_t len = 3 * MIB + 12 * KIB, pages = len / (4 * KIB);
	char *p = map_at(fd, aligned_hole(len, 20 * KIB), len);
	long faults;

	if (!p)
		return 1;
	faults = minflt();
	fill(p, len, 0, 8);
	faults = minflt() - faults;
	/* A fault maps what its page table covers of the folio. */
	if ((size_t)faults * 16 > pages)
		return fail("touching %zu pages took %ld faults: not one per folio and page table",
			    pages, faults);
	if (madvise(p, len, MADV_DONTNEED))
		return fail("MADV_DONTNEED: %s", strerror(errno));
	return verify(p, len, 0, 8, "unaligned, after MADV_DONTNEED");
}

static int case_hold(int fd)
{
	size_t len = 2 * PMD;
	char *p = map_filled(fd, len, 0, 9);
	volatile char sink;

	if (!p)
		return 1;
	signal(SIGTERM, on_term);
	printf("ready\n");
	fflush(stdout);
	bus_armed = 1;
	if (sigsetjmp(bus_env, 1)) {
		printf("sigbus\n");
		return 0;
	}
	while (!term) {
		for (size_t i = 0; i < len && !term; i += 4 * KIB)
			sink = p[i];
		usleep(10000);
	}
	(void)sink;
	printf("terminated\n");
	return 0;
}

static const struct {
	const char *name;
	int (*run)(int fd);
} cases[] = {
	{ "huge", case_huge },
	{ "dontneed", case_dontneed },
	{ "split", case_split },
	{ "mremap", case_mremap },
	{ "fork", case_fork },
	{ "mkwrite", case_mkwrite },
	{ "freed", case_freed },
	{ "unaligned", case_unaligned },
	{ "hold", case_hold },
};

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_bus };
	int fd, ret;

	if (argc != 3) {
		fprintf(stderr, "usage: %s P2PMEM_DIR CASE\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	sigaction(SIGBUS, &sa, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(argv[2], cases[i].name))
			continue;
		fd = open_alloc();
		if (fd < 0)
			return 1;
		ret = cases[i].run(fd);
		close(fd);
		return ret;
	}
	fprintf(stderr, "p2pmem_mmap: no case '%s'\n", argv[2]);
	return 2;
}
