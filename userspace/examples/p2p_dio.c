// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_dio - make a block device (an NVMe namespace) DMA straight into or out
 * of device memory with O_DIRECT I/O, and time mapping that memory.
 *
 *   p2p_dio read  --buf SRC --dev BLOCKDEV [--buf-offset N] [--dev-offset N]
 *                 --len N [--bs N] [--seed S] [--loops K]
 *   p2p_dio write --buf SRC --dev BLOCKDEV [--buf-offset N] [--dev-offset N]
 *                 --len N [--bs N] [--seed S] [--loops K]
 *   p2p_dio touch --buf SRC [--buf-offset N] --len N [--loops K]
 *   p2p_dio fill  FILE OFFSET LEN SEED [POS]
 *   p2p_dio check FILE OFFSET LEN SEED [POS]
 *
 * SRC is the memory the I/O goes to or comes from: "host" (anonymous shared
 * memory, the baseline), or a file that is opened O_RDWR and mmapped
 * MAP_SHARED at --buf-offset: /dev/p2p_pgmapN, mainline's p2pmem allocator
 * (/sys/bus/pci/devices/BDF/p2pmem/allocate, offset 0 only) or a regular
 * file. SRC is never read, written or truncated, only mapped.
 *
 *   read   pread()s LEN bytes of BLOCKDEV (O_DIRECT) from --dev-offset, in
 *          --bs chunks (default 128K), into the mapping: the NVMe controller
 *          writes device memory. With --seed, the mapping is then checked
 *          against the pattern.
 *   write  with --seed, first stores the pattern into the mapping with the
 *          CPU; then pwrite()s it to BLOCKDEV (O_DIRECT) and fsync()s: the
 *          controller reads device memory. Check the image with "check".
 *   touch  times mmap() plus one byte store (a zero) into every 4 KiB page,
 *          and munmap(), --loops times: what faulting in device memory costs
 *          next to host memory (for p2pmem/allocate, each mmap() allocates).
 *          For /dev/p2p_pgmapN, whose file keeps its memory across munmap(),
 *          each round gives it back afterwards (P2P_PGMAP_IOC_PUNCH_HOLE),
 *          so that every round is a first touch, and times how long the
 *          driver then takes to have it zeroed and ready again ("ready
 *          again"); a round starts once no free memory waits for zeroing.
 *          It also counts the page faults the touch took (getrusage()
 *          ru_minflt, around the stores), asks the kernel how
 *          many bytes of the mapping it mapped huge (PAGEMAP_SCAN; -1 where
 *          the kernel cannot tell), all per round (mean). For
 *          /dev/p2p_pgmapN, whose driver zeroes freed memory with 8-byte
 *          stores in the background, it also times writing zeros into the
 *          whole mapping, already faulted in, with 8-byte stores from
 *          userspace (an estimate of that zeroing; "zero-fill n/a" for
 *          other memory) and says whether the driver hands out large
 *          folios here (P2P_PGMAP_INFO_LARGE_FOLIOS; else "n/a").
 *   fill/check write or verify the pattern in a regular file (the NVMe image,
 *          the file behind the BAR) with ordinary pwrite()/pread(). POS is
 *          the pattern's position for the byte at OFFSET (default OFFSET):
 *          the file behind a BAR holds a transfer's bytes where the driver
 *          placed the buffer's memory, which read and write print for a
 *          buffer of /dev/p2p_pgmapN, one line per contiguous run:
 *          "placement: buf+REL bar BAR_OFFSET len LEN" (REL: the run's
 *          offset in the buffer). Check it with
 *          check BAR_FILE BAR_OFFSET LEN SEED DEV_OFFSET+REL.
 *
 * Sizes take K, M and G suffixes (powers of 1024). --loops repeats the whole
 * transfer (the time printed covers all loops, not the final fsync()).
 *
 * The pattern depends only on the seed and the absolute byte position p
 * (the offset in the block device or file): the 8-byte word at p is the
 * (p / 8)th output of splitmix64 seeded with SEED, little-endian. So data
 * written at dev-offset X can be checked in the image file at offset X.
 *
 * When the pread()/pwrite() fails with EREMOTEIO, the kernel's P2PDMA core
 * found that the NVMe controller cannot reach the memory's PCI device peer to
 * peer (no common PCIe switch, host bridge not on its allow list). Since the
 * block layer maps requests itself (7.x), the same refusal comes back as
 * EINVAL ("invalid error" in the kernel log): with a buffer of device memory
 * and an aligned request, that is what EINVAL means. EFAULT or
 * EOPNOTSUPP means the kernel would not pin the pages for this device's I/O.
 * The message says so instead of printing the bare errno. A SIGBUS while the
 * CPU touches the mapping (nothing behind it: past the end of a file, or the
 * device was removed) is reported too.
 *
 * Exit status: 0 when everything worked (and the pattern matched), 1 on a
 * failure or mismatch, 2 on a usage error.
 */
#define _GNU_SOURCE
#define _FILE_OFFSET_BITS 64
#include <ctype.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <linux/p2p_pgmap.h>

#include "p2p_pgmap_huge.h"
#include "p2p_pgmap_placement.h"

#define PFX "p2p_dio: "
#define TOUCH_STRIDE 4096
#define FILE_CHUNK (1 << 20)

enum mode { READ, WRITE, TOUCH, FILL, CHECK };

struct opts {
	enum mode mode;
	const char *buf, *dev;
	uint64_t buf_off, dev_off, len, bs, seed, loops;
	uint64_t pat_off;	/* fill/check: the pattern position of OFFSET */
	bool has_seed;
	const char *bar_file;	/* read: check the pattern there too */
};

struct map {
	int fd;			/* SRC, or -1 for "host" */
	unsigned char *p;
	size_t len;
	char name[4096];	/* "SRC+OFFSET", for messages */
};

static void usage(void)
{
	fprintf(stderr,
		"usage: p2p_dio read|write --buf SRC --dev BLOCKDEV [--buf-offset N]\n"
		"                  [--dev-offset N] --len N [--bs N] [--seed S] [--loops K]\n"
		"                  [--bar-file FILE]\n"
		"       p2p_dio touch --buf SRC [--buf-offset N] --len N [--loops K]\n"
		"       p2p_dio fill|check FILE OFFSET LEN SEED [POS]\n"
		"SRC is \"host\" or a file to mmap (/dev/p2p_pgmap0, .../p2pmem/allocate);\n"
		"sizes take K/M/G suffixes; SEED is decimal or 0x hex.\n");
	exit(2);
}

static void __attribute__((format(printf, 1, 2))) usage_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs(PFX, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	usage();
}

/* Decimal or 0x hex, with an optional K/M/G suffix when @suffix. */
static uint64_t parse_u64(const char *what, const char *s, bool suffix)
{
	bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	uint64_t v, mul = 1;
	char *end;

	errno = 0;
	v = strtoull(s, &end, hex ? 16 : 10);
	if (!isdigit((unsigned char)*s) || errno || end == s)
		usage_err("bad %s: '%s'", what, s);
	if (suffix && *end) {
		const char *units = "KMG", *u = strchr(units, toupper((unsigned char)*end));

		if (u && !end[1]) {
			mul = 1ULL << (10 * (u - units + 1));
			end++;
		}
	}
	if (*end || v > UINT64_MAX / mul)
		usage_err("bad %s: '%s'", what, s);
	return v * mul;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
	bool io = o->mode != TOUCH;

	for (int i = 2; i < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];

		if (!v)
			usage_err("no value after %s", k);
		if (!strcmp(k, "--buf")) {
			o->buf = v;
		} else if (!strcmp(k, "--dev") && io) {
			o->dev = v;
		} else if (!strcmp(k, "--buf-offset")) {
			o->buf_off = parse_u64(k, v, true);
		} else if (!strcmp(k, "--dev-offset") && io) {
			o->dev_off = parse_u64(k, v, true);
		} else if (!strcmp(k, "--len")) {
			o->len = parse_u64(k, v, true);
		} else if (!strcmp(k, "--bs") && io) {
			o->bs = parse_u64(k, v, true);
		} else if (!strcmp(k, "--seed") && io) {
			o->seed = parse_u64(k, v, false);
			o->has_seed = true;
		} else if (!strcmp(k, "--loops")) {
			o->loops = parse_u64(k, v, false);
		} else if (!strcmp(k, "--bar-file") && o->mode == READ) {
			o->bar_file = v;
		} else {
			usage_err("unknown option %s for %s", k, argv[1]);
		}
	}
	if (!o->buf || !o->len || (io && !o->dev))
		usage_err("--buf, --len%s are required (and --len > 0)", io ? " and --dev" : "");
	if (o->bar_file && !o->has_seed)
		usage_err("--bar-file needs --seed: it checks the pattern there");
	if (o->buf_off % sysconf(_SC_PAGESIZE))
		usage_err("--buf-offset %" PRIu64 " is not page aligned", o->buf_off);
	if (!o->loops || o->loops > UINT64_MAX / o->len)
		usage_err("--loops must be at least 1 (and LEN * K fit 64 bits)");
	/* O_DIRECT wants whole sectors (the pattern whole words, implied). */
	if (io && (!o->bs || o->bs % 512 || o->dev_off % 512 || o->len % o->bs))
		usage_err("--bs and --dev-offset must be multiples of 512, --len a multiple of --bs"
			  " (bs %" PRIu64 ", dev-offset %" PRIu64 ", len %" PRIu64 ")",
			  o->bs, o->dev_off, o->len);
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const char *const modes[] = { "read", "write", "touch", "fill", "check" };
	int m;

	*o = (struct opts){ .bs = 128 << 10, .loops = 1 };
	if (argc < 2)
		usage();
	for (m = 0; m < 5 && strcmp(argv[1], modes[m]); m++)
		;
	if (m == 5)
		usage_err("unknown mode '%s'", argv[1]);
	o->mode = m;
	if (m == FILL || m == CHECK) {
		if (argc != 6 && argc != 7)
			usage_err("%s takes FILE OFFSET LEN SEED [POS]", argv[1]);
		o->buf = argv[2];
		o->dev_off = parse_u64("OFFSET", argv[3], true);
		o->len = parse_u64("LEN", argv[4], true);
		o->seed = parse_u64("SEED", argv[5], false);
		o->pat_off = argc == 7 ? parse_u64("POS", argv[6], true) : o->dev_off;
		if (o->dev_off % 8 || o->len % 8 || o->pat_off % 8 || !o->len)
			usage_err("OFFSET, LEN and POS must be multiples of 8, LEN > 0");
	} else {
		parse_opts(argc, argv, o);
	}
	if (o->len > SIZE_MAX / 2 || o->buf_off > INT64_MAX - o->len ||
	    o->dev_off > INT64_MAX - o->len)
		usage_err("--len %" PRIu64 " is too large for these offsets", o->len);
}

/* The (pos / 8)th output of splitmix64 started at @seed. */
static uint64_t pattern_word(uint64_t seed, uint64_t pos)
{
	uint64_t z = seed + (pos / 8 + 1) * 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* One 8-byte store per word: also right for device memory (no byte writes). */
static void pattern_fill(unsigned char *p, size_t len, uint64_t pos, uint64_t seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = htole64(pattern_word(seed, pos + i));

		memcpy(p + i, &w, 8);
	}
}

/* Return 0 if @p holds the pattern for [pos, pos + len), else report and 1. */
static int pattern_check(const unsigned char *p, size_t len, uint64_t pos,
			 uint64_t seed, const char *name)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t want = htole64(pattern_word(seed, pos + i)), got;
		const unsigned char *w = (const unsigned char *)&want, *g;

		memcpy(&got, p + i, 8);
		if (got == want)
			continue;
		g = (const unsigned char *)&got;
		for (int b = 0; b < 8; b++)
			if (w[b] != g[b]) {
				fprintf(stderr, PFX "mismatch at byte %" PRIu64
					" of %s: expected 0x%02x found 0x%02x\n",
					pos + i + b, name, w[b], g[b]);
				break;
			}
		return 1;
	}
	return 0;
}

struct bar_check {
	const struct opts *o;
	int bf;
	unsigned char *chunk;
	uint64_t covered;
};

/* One run of the buffer's memory: its bytes in the BAR file hold the pattern. */
static int check_bar_run(const struct p2p_pgmap_range *run, void *arg)
{
	struct bar_check *c = arg;
	const struct opts *o = c->o;

	for (uint64_t d = 0; d < run->len; d += FILE_CHUNK) {
		size_t n = run->len - d < FILE_CHUNK ? run->len - d : FILE_CHUNK;
		uint64_t pos = o->dev_off + (run->offset - o->buf_off) + d;

		if (pread(c->bf, c->chunk, n, run->bar_offset + d) != (ssize_t)n) {
			fprintf(stderr, PFX "short read of %s\n", o->bar_file);
			return 1;
		}
		if (pattern_check(c->chunk, n, pos, o->seed, o->bar_file))
			return 1;
	}
	c->covered += run->len;
	return 0;
}

/*
 * --bar-file: the pattern of the read is also in FILE (the memory behind
 * the BAR, e.g. an emulated device's host file) wherever the driver placed
 * the buffer, checked while this process still holds the memory: once its
 * file is released, the driver zeroes it. Returns 0, or 1 after saying why.
 */
static int check_bar_file(const struct opts *o, int fd)
{
	struct bar_check c = { .o = o };
	int rc = 1, err;

	c.bf = open(o->bar_file, O_RDONLY | O_CLOEXEC);
	c.chunk = malloc(FILE_CHUNK);
	if (c.bf < 0 || !c.chunk) {
		fprintf(stderr, PFX "open %s: %s\n", o->bar_file, strerror(errno));
		goto out;
	}
	err = p2p_pgmap_for_each_run(fd, o->buf_off, o->len, check_bar_run, &c);
	if (err < 0)
		fprintf(stderr, PFX "P2P_PGMAP_IOC_PLACEMENT: %s\n", strerror(errno));
	if (err)
		goto out;
	if (c.covered != o->len) {
		fprintf(stderr, PFX "placement covers %" PRIu64 " of %" PRIu64 " bytes\n",
			c.covered, o->len);
		goto out;
	}
	printf(PFX "pattern verified in %s too, where the driver placed the buffer\n",
	       o->bar_file);
	rc = 0;
out:
	free(c.chunk);
	if (c.bf >= 0)
		close(c.bf);
	return rc;
}

static const char *mapped_name = "the buffer";	/* for on_sigbus() */

/*
 * A CPU access through the mapping SIGBUSes when no memory is behind it: past
 * the end of a file, or device memory whose device was removed. Say so.
 */
static void on_sigbus(int sig)
{
	static const char a[] = PFX "SIGBUS accessing ", b[] = ": no memory behind the "
		"mapping (past the end of the file, or the device is gone)\n";

	(void)sig;
	/* Best effort: if stderr is gone, there is nobody to tell. */
	(void)(write(2, a, sizeof(a) - 1) > 0 &&
	       write(2, mapped_name, strlen(mapped_name)) > 0 &&
	       write(2, b, sizeof(b) - 1) > 0);
	_exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Open SRC (nothing to open for "host"); SRC is only ever mapped. */
static int open_src(const struct opts *o, struct map *m)
{
	m->fd = -1;
	m->len = o->len;
	snprintf(m->name, sizeof(m->name), "%s+%" PRIu64, o->buf, o->buf_off);
	mapped_name = m->name;
	if (!strcmp(o->buf, "host"))
		return 0;
	m->fd = open(o->buf, O_RDWR | O_CLOEXEC);
	if (m->fd < 0) {
		fprintf(stderr, PFX "open %s: %s\n", o->buf, strerror(errno));
		return -1;
	}
	return 0;
}

static int map_src(const struct opts *o, struct map *m)
{
	int flags = MAP_SHARED | (m->fd < 0 ? MAP_ANONYMOUS : 0);

	m->p = mmap(NULL, m->len, PROT_READ | PROT_WRITE, flags, m->fd, o->buf_off);
	if (m->p != MAP_FAILED)
		return 0;
	fprintf(stderr, PFX "mmap %s at offset %" PRIu64 " for %zu bytes: %s\n",
		o->buf, o->buf_off, m->len, strerror(errno));
	return -1;
}

static void close_src(struct map *m)
{
	if (m->fd >= 0)
		close(m->fd);
}

static void explain_io_error(int err, const char *dev, bool device_buf)
{
	if (err == EREMOTEIO || (err == EINVAL && device_buf))
		fprintf(stderr, PFX "the kernel's P2PDMA core refused to map this memory for %s's "
			"DMA%s: the two PCI devices cannot reach each other peer to peer (no "
			"common PCIe switch, and the host bridge is not on the kernel's P2P "
			"allow list). Put both devices under one PCIe switch; see README, "
			"\"NVMe peer-to-peer\".\n", dev,
			err == EINVAL ? " (7.x block layer: EINVAL, \"invalid error\" in the kernel log)" : "");
	else if (err == EFAULT || err == EOPNOTSUPP)
		fprintf(stderr, PFX "the kernel could not pin the buffer's pages for %s's I/O "
			"(a kernel with CONFIG_PCI_P2PDMA pins P2PDMA pages only for block devices "
			"that support P2PDMA).\n", dev);
}

/* One pass of LEN bytes in BS chunks; 0 or -1 with the reason printed. */
static int transfer(const struct opts *o, int fd, struct map *m)
{
	bool rd = o->mode == READ;

	for (uint64_t i = 0; i < o->len; i += o->bs) {
		off_t pos = o->dev_off + i;
		ssize_t n = rd ? pread(fd, m->p + i, o->bs, pos) :
				 pwrite(fd, m->p + i, o->bs, pos);

		if (n < 0) {
			int err = errno;

			fprintf(stderr, PFX "%s %s at %jd %s %s: %s\n",
				rd ? "read" : "write", o->dev, (intmax_t)pos,
				rd ? "into" : "from", m->name, strerror(err));
			explain_io_error(err, o->dev, m->fd >= 0);
			return -1;
		}
		if ((uint64_t)n != o->bs) {
			fprintf(stderr, PFX "short %s on %s at %jd: %zd of %" PRIu64
				" bytes (past the end of the device?)\n",
				rd ? "read" : "write", o->dev, (intmax_t)pos, n, o->bs);
			return -1;
		}
	}
	return 0;
}

static int do_io(const struct opts *o)
{
	bool rd = o->mode == READ;
	uint64_t bytes = o->len * o->loops;
	struct map m;
	double t;
	int fd, rc = 1;

	if (open_src(o, &m))
		return 1;
	if (map_src(o, &m)) {
		close_src(&m);
		return 1;
	}
	if (!rd && o->has_seed)
		pattern_fill(m.p, m.len, o->dev_off, o->seed);
	fd = open(o->dev, (rd ? O_RDONLY : O_WRONLY) | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, PFX "open %s: %s\n", o->dev, strerror(errno));
		goto out_unmap;
	}
	t = now();
	for (uint64_t l = 0; l < o->loops; l++)
		if (transfer(o, fd, &m))
			goto out_close;
	t = now() - t;
	if (!rd && fsync(fd)) {
		fprintf(stderr, PFX "fsync %s: %s\n", o->dev, strerror(errno));
		goto out_close;
	}
	if (rd)
		printf(PFX "read %" PRIu64 " bytes from %s at %" PRIu64 " into %s",
		       bytes, o->dev, o->dev_off, m.name);
	else
		printf(PFX "wrote %" PRIu64 " bytes from %s to %s at %" PRIu64,
		       bytes, m.name, o->dev, o->dev_off);
	printf(" in %.6f s: %.1f MiB/s\n", t, bytes / t / (1 << 20));
	if (rd && o->has_seed) {
		if (pattern_check(m.p, m.len, o->dev_off, o->seed, m.name))
			goto out_close;
		printf(PFX "pattern verified\n");
		if (o->bar_file && (m.fd < 0 || check_bar_file(o, m.fd)))
			goto out_close;
	}
	/* Where the memory sits in the BAR: p2p_pgmap devices only. */
	if (m.fd >= 0) {
		p2p_pgmap_print_placement(stdout, m.fd, o->buf_off, m.len);
		p2p_pgmap_print_huge(stdout, m.fd, m.p, m.len);
	}
	rc = 0;
out_close:
	close(fd);
out_unmap:
	munmap(m.p, m.len);
	close_src(&m);
	return rc;
}

/*
 * Wait until no free memory of the p2p_pgmap device @fd waits for zeroing
 * (at most 30 s); the seconds it took, or -1 when it did not happen.
 */
static double wait_zeroed(int fd)
{
	struct p2p_pgmap_info info;
	double t = now();

	do {
		if (ioctl(fd, P2P_PGMAP_IOC_INFO, &info))
			return -1;
		if (!info.dirty_bytes)
			return now() - t;
		usleep(200);
	} while (now() - t < 30);
	return -1;
}

/* Minor page faults of this process so far (device memory has no major ones). */
static long faults_so_far(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return ru.ru_minflt;
}

static int do_touch(const struct opts *o)
{
	size_t pages = (o->len + TOUCH_STRIDE - 1) / TOUCH_STRIDE;
	double t_map = 0, t_unmap = 0, t_zero = 0, t_ready = 0, t;
	long faults = 0, f;
	int64_t huge = 0;
	struct map m;
	int rc = 1;

	struct p2p_pgmap_info info = { 0 };
	const char *large = "n/a";
	bool is_p2p_pgmap = false;
	char zero[64] = "n/a", ready[64] = "n/a";

	/* Only mmap and munmap are timed: open SRC once. */
	if (open_src(o, &m))
		return 1;
	if (m.fd >= 0 && !ioctl(m.fd, P2P_PGMAP_IOC_INFO, &info)) {
		is_p2p_pgmap = true;
		large = info.flags & P2P_PGMAP_INFO_LARGE_FOLIOS ? "yes" : "no";
	}
	for (uint64_t l = 0; l < o->loops; l++) {
		int64_t h;

		if (is_p2p_pgmap && wait_zeroed(m.fd) < 0) {
			fprintf(stderr, PFX "%s: free memory still waits for zeroing after 30 s\n",
				m.name);
			goto out;
		}
		t = now();
		if (map_src(o, &m))
			goto out;
		f = faults_so_far();
		/* A store, so a fault maps the page writable right away. */
		for (size_t i = 0; i < m.len; i += TOUCH_STRIDE)
			*(volatile unsigned char *)(m.p + i) = 0;
		faults += faults_so_far() - f;
		t_map += now() - t;
		h = p2p_pgmap_huge_bytes(m.p, m.len);
		huge = h < 0 || huge < 0 ? -1 : huge + h;
		/* Zeroing, as the driver does it: 8-byte stores, whole mapping. */
		t = now();
		for (size_t i = 0; is_p2p_pgmap && i + 8 <= m.len; i += 8)
			*(volatile uint64_t *)(m.p + i) = 0;
		t_zero += now() - t;
		t = now();
		if (munmap(m.p, m.len)) {
			fprintf(stderr, PFX "munmap %s: %s\n", m.name, strerror(errno));
			goto out;
		}
		t_unmap += now() - t;
		if (is_p2p_pgmap) {
			struct p2p_pgmap_punch ph = { .offset = o->buf_off, .len = o->len };
			double w;

			/* The memory back to the device, then zeroed again. */
			t = now();
			if (ioctl(m.fd, P2P_PGMAP_IOC_PUNCH_HOLE, &ph)) {
				fprintf(stderr, PFX "P2P_PGMAP_IOC_PUNCH_HOLE %s: %s\n",
					m.name, strerror(errno));
				goto out;
			}
			w = wait_zeroed(m.fd);
			if (w < 0) {
				fprintf(stderr, PFX "%s: memory given back not zeroed after 30 s\n",
					m.name);
				goto out;
			}
			t_ready += now() - t;
		}
	}
	t_map /= o->loops;
	t_unmap /= o->loops;
	t_zero /= o->loops;
	t_ready /= o->loops;
	if (is_p2p_pgmap) {
		snprintf(zero, sizeof(zero), "%.6f s (8-byte stores to the mapped memory)", t_zero);
		snprintf(ready, sizeof(ready), "%.6f s", t_ready);
	}
	printf(PFX "touch %" PRIu64 " bytes of %s: mmap+first touch %.6f s (mean of %" PRIu64
	       "), munmap %.6f s, mmap+first touch = %.0f ns per page, faults %.1f,"
	       " huge %" PRId64 " bytes, zero-fill %s, large folios %s, ready again %s\n",
	       o->len, o->buf, t_map, o->loops, t_unmap, t_map * 1e9 / pages,
	       (double)faults / o->loops, huge < 0 ? -1 : huge / (int64_t)o->loops, zero, large,
	       ready);
	rc = 0;
out:
	close_src(&m);
	return rc;
}

/* fill/check: the pattern in a regular file, through the page cache. */
static int do_file(const struct opts *o)
{
	bool fill = o->mode == FILL;
	unsigned char *chunk = malloc(FILE_CHUNK);
	int fd, rc = 1;

	if (!chunk) {
		fprintf(stderr, PFX "out of memory\n");
		return 1;
	}
	fd = fill ? open(o->buf, O_WRONLY | O_CREAT | O_CLOEXEC, 0644) :
		    open(o->buf, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, PFX "open %s: %s\n", o->buf, strerror(errno));
		goto out_free;
	}
	for (uint64_t done = 0; done < o->len;) {
		size_t n = o->len - done < FILE_CHUNK ? o->len - done : FILE_CHUNK;
		off_t pos = o->dev_off + done;
		uint64_t pat = o->pat_off + done;
		ssize_t r;

		if (fill)
			pattern_fill(chunk, n, pat, o->seed);
		/* Over 9p, reads and writes may come back short: loop. */
		for (size_t i = 0; i < n; i += r) {
			r = fill ? pwrite(fd, chunk + i, n - i, pos + i) :
				   pread(fd, chunk + i, n - i, pos + i);
			if (r <= 0) {
				if (r == 0)
					fprintf(stderr, PFX "%s: file ends at byte %jd, before %"
						PRIu64 "\n", o->buf, (intmax_t)(pos + i),
						o->dev_off + o->len);
				else
					fprintf(stderr, PFX "%s %s at %jd: %s\n",
						fill ? "write" : "read", o->buf,
						(intmax_t)(pos + i), strerror(errno));
				goto out_close;
			}
		}
		if (!fill && pattern_check(chunk, n, pat, o->seed, o->buf))
			goto out_close;
		done += n;
	}
	if (fill && fsync(fd)) {
		fprintf(stderr, PFX "fsync %s: %s\n", o->buf, strerror(errno));
		goto out_close;
	}
	printf(PFX "pattern %s %s at %" PRIu64 " for %" PRIu64 " bytes\n",
	       fill ? "written to" : "verified in", o->buf, o->dev_off, o->len);
	rc = 0;
out_close:
	close(fd);
out_free:
	free(chunk);
	return rc;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sigbus };
	struct opts o;

	parse(argc, argv, &o);
	/* Keep results and errors in order when both go to one file. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sigaction(SIGBUS, &sa, NULL)) {
		fprintf(stderr, PFX "sigaction: %s\n", strerror(errno));
		return 1;
	}
	switch (o.mode) {
	case READ:
	case WRITE:
		return do_io(&o);
	case TOUCH:
		return do_touch(&o);
	default:
		return do_file(&o);
	}
}
