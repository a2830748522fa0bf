// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_pgmap_test - selftests of /dev/p2p_pgmapN, run in the test VM with
 * p2p_pgmap bound to the emulated devices (tests/driver/003).
 *
 * Built on the kernel's kselftest_harness.h: every test is a TEST_F of the
 * fixture "dev", which runs once per device (variants dev0 and dev1, the
 * nodes /dev/p2p_pgmap0 and /dev/p2p_pgmap1). A variant whose node does not
 * exist skips. The fixture's setup opens the device and notes how many
 * folios are in use; its teardown runs in the parent once the test's
 * process has exited, and checks that every folio the test took came back.
 *
 * Each open file owns its memory, for as long as the file lives (as a
 * memfd does): the tests map their own file at small offsets without
 * keeping out of each other's way, and those that need another owner, or
 * a file to close, open the device again, or fork a process that does.
 *
 * One test:  p2p_pgmap_test -r dev.dev0.close_returns_every_folio
 * on every device:  p2p_pgmap_test -t close_returns_every_folio
 * list:  p2p_pgmap_test -l
 *
 * P2P_VM_BAR_FILE names the host file behind the first device's BAR, which
 * the test VM makes visible (and writable) in the guest; the second
 * device's file is the same path with "-1" appended. Tests that check bytes
 * against it skip without it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/falloc.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <linux/p2p_pgmap.h>

#include "kselftest_harness.h"
#include "p2p_pgmap_huge.h"

static size_t page;

#define SZ_2M	(2UL << 20)

/*
 * Accesses of mapped device memory that must each really happen, once, as
 * written: a store that faults a page in before an ioctl() looks at it or
 * before fork() and _exit(), a load that must see what another process or
 * the BAR file wrote, an access that must raise SIGBUS. The relaxed atomic
 * accesses of GCC and clang are never elided, merged with others or torn.
 */
#define LOAD_ONCE(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define STORE_ONCE(x, val)	__atomic_store_n(&(x), (val), __ATOMIC_RELAXED)
/*
 * A compiler barrier: what precedes it in program order is done before
 * what follows it can raise SIGBUS, whose handler siglongjmp()s.
 */
#define SIGBUS_BARRIER()	__atomic_signal_fence(__ATOMIC_SEQ_CST)

static unsigned char *map_filled(struct __test_metadata *_metadata, int fd,
				 size_t len, unsigned int seed,
				 unsigned char **want);

/* A call that must fail with errno err (it returns -1, or MAP_FAILED). */
#define ASSERT_FAILS_WITH(ret_type, failed, call, err) do {		\
	int _want = (err);						\
	ret_type _ret;							\
	int _err;							\
									\
	errno = 0;							\
	_ret = (call);							\
	_err = errno;							\
	ASSERT_TRUE(_ret == (failed))					\
		TH_LOG("%s succeeded, wanted errno %d (%s)",		\
		       #call, _want, strerror(_want));			\
	ASSERT_EQ(_want, _err)						\
		TH_LOG("%s: errno %d (%s), wanted %d (%s)", #call,	\
		       _err, strerror(_err), _want, strerror(_want));	\
} while (0)

#define ASSERT_ERRNO(call, err) ASSERT_FAILS_WITH(long, -1L, call, err)
#define ASSERT_MAP_FAILS(call, err) ASSERT_FAILS_WITH(void *, MAP_FAILED, call, err)

FIXTURE(dev) {
	int fd;
	unsigned long long folios_at_setup;
	unsigned long long file_limit_at_setup;
};

#define FILE_LIMIT_PARAM "/sys/module/p2p_pgmap/parameters/file_limit"

FIXTURE_VARIANT(dev) {
	const char *node;	/* the device node */
	const char *bar_suffix;	/* appended to P2P_VM_BAR_FILE for its BAR file */
};

FIXTURE_VARIANT_ADD(dev, dev0) {
	.node = "/dev/p2p_pgmap0",
	.bar_suffix = "",
};

FIXTURE_VARIANT_ADD(dev, dev1) {
	.node = "/dev/p2p_pgmap1",
	.bar_suffix = "-1",
};

/* An attribute of the p2p_pgmap sysfs group of the device behind node. */
static unsigned long long sysfs_attr(struct __test_metadata *_metadata,
				     const char *node, const char *attr)
{
	char path[PATH_MAX], buf[64], *end;
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/class/p2p_pgmap_cdev/%s/device/p2p_pgmap/%s",
		 strrchr(node, '/') + 1, attr);
	f = fopen(path, "re");
	ASSERT_NE(NULL, f) TH_LOG("open %s: %s", path, strerror(errno));
	ASSERT_NE(NULL, fgets(buf, sizeof(buf), f)) TH_LOG("read %s", path);
	fclose(f);
	errno = 0;
	v = strtoull(buf, &end, 10);
	ASSERT_TRUE(end != buf && !errno) TH_LOG("%s: not a number: %s", path, buf);
	return v;
}

/*
 * Folios come back from page_free through a work item, a moment after the
 * last reference drops: wait for the count, with a generous bound so a slow
 * emulated guest does not fail, and a hang does. Returns the last count.
 */
static unsigned long long settle_folios_in_use(struct __test_metadata *_metadata,
					       const char *node,
					       unsigned long long want)
{
	unsigned long long now = sysfs_attr(_metadata, node, "folios_in_use");

	for (int i = 0; i < 1000 && now != want; i++) {
		usleep(10000);
		now = sysfs_attr(_metadata, node, "folios_in_use");
	}
	return now;
}

#define ASSERT_FOLIOS_RETURN_TO(want) do {				\
	unsigned long long _want = (want);				\
									\
	ASSERT_EQ(_want, settle_folios_in_use(_metadata, variant->node, _want)) \
		TH_LOG("folios_in_use does not come back");		\
} while (0)

static struct p2p_pgmap_info info(struct __test_metadata *_metadata, int fd)
{
	struct p2p_pgmap_info in;

	memset(&in, 0xff, sizeof(in));
	ASSERT_EQ(0, ioctl(fd, P2P_PGMAP_IOC_INFO, &in))
		TH_LOG("P2P_PGMAP_IOC_INFO: %s", strerror(errno));
	return in;
}

/* P2P_PGMAP_IOC_PUNCH_HOLE: 0, or -1 with errno set. */
static int punch(int fd, unsigned long long offset, unsigned long long len)
{
	struct p2p_pgmap_punch ph = { .offset = offset, .len = len };

	return ioctl(fd, P2P_PGMAP_IOC_PUNCH_HOLE, &ph);
}

/* P2P_PGMAP_IOC_EXPORT: the dma-buf's fd, or -1 with errno set. */
static int export(int fd, unsigned long long offset, unsigned long long len,
		  unsigned int flags)
{
	struct p2p_pgmap_export ex = { .offset = offset, .len = len, .flags = flags };

	if (ioctl(fd, P2P_PGMAP_IOC_EXPORT, &ex))
		return -1;
	return ex.fd;
}

/* Whether len bytes at p are all zero; the first that is not in *at. */
static bool all_zero(const unsigned char *p, size_t len, size_t *at)
{
	for (*at = 0; *at < len; (*at)++)
		if (LOAD_ONCE(p[*at]))
			return false;
	return true;
}

/*
 * free_bytes once the folios being freed are back (up to 6.14 they come
 * back through a work item): waited for as settle_folios_in_use() does.
 */
static unsigned long long settle_free_bytes(struct __test_metadata *_metadata,
					    int fd, unsigned long long want)
{
	unsigned long long now = info(_metadata, fd).free_bytes;

	for (int i = 0; i < 1000 && now != want; i++) {
		usleep(10000);
		now = info(_metadata, fd).free_bytes;
	}
	return now;
}

static void *map(struct __test_metadata *_metadata, int fd, size_t len, off_t off)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);

	ASSERT_NE(MAP_FAILED, p)
		TH_LOG("mmap %zu bytes at %lld: %s", len, (long long)off, strerror(errno));
	return p;
}

static int open_node(struct __test_metadata *_metadata, const char *node)
{
	int fd = open(node, O_RDWR | O_CLOEXEC);

	ASSERT_LE(0, fd) TH_LOG("open %s: %s", node, strerror(errno));
	return fd;
}

/*
 * The host file behind the BAR of the variant's node (its bar_suffix),
 * opened with flags; -1 when the test is to skip (the reason is recorded).
 */
static int bar_file(struct __test_metadata *_metadata, const char *node,
		    const char *bar_suffix, int flags)
{
	const char *first = getenv("P2P_VM_BAR_FILE");
	char path[512];	/* fits a skip reason */
	int fd;

	if (!first)
		SKIP(return -1, "P2P_VM_BAR_FILE not set: not in the test VM");
	snprintf(path, sizeof(path), "%s%s", first, bar_suffix);
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && bar_suffix[0])
			SKIP(return -1, "no BAR file %s for %s", path, node);
		if (flags != O_RDONLY && (errno == EROFS || errno == EACCES))
			SKIP(return -1, "%s is not writable from the guest", path);
		ASSERT_LE(0, fd) TH_LOG("open %s: %s", path, strerror(errno));
	}
	return fd;
}

static void fill(unsigned char *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed + i * 7 + (i >> 12));
}

/* Where the page at file offset off sits in the BAR. */
static unsigned long long bar_offset_of(struct __test_metadata *_metadata,
					int fd, off_t off)
{
	struct p2p_pgmap_range r = { 0 };
	struct p2p_pgmap_placement pl = {
		.offset = off, .len = page, .ranges = (uintptr_t)&r, .nr_ranges = 1,
	};

	ASSERT_EQ(0, ioctl(fd, P2P_PGMAP_IOC_PLACEMENT, &pl))
		TH_LOG("P2P_PGMAP_IOC_PLACEMENT: %s", strerror(errno));
	ASSERT_EQ(1U, pl.nr_ranges) TH_LOG("the page at %lld has no memory", (long long)off);
	ASSERT_EQ((unsigned long long)off, r.offset);
	return r.bar_offset;
}

static unsigned long long read_ull(struct __test_metadata *_metadata, const char *path)
{
	unsigned long long v = 0;
	FILE *f = fopen(path, "re");

	ASSERT_NE(NULL, f) TH_LOG("open %s: %s", path, strerror(errno));
	ASSERT_EQ(1, fscanf(f, "%llu", &v)) TH_LOG("read %s", path);
	fclose(f);
	return v;
}

static void write_ull(struct __test_metadata *_metadata, const char *path,
		      unsigned long long v)
{
	FILE *f = fopen(path, "we");

	ASSERT_NE(NULL, f) TH_LOG("open %s: %s", path, strerror(errno));
	ASSERT_LT(0, fprintf(f, "%llu\n", v));
	ASSERT_EQ(0, fclose(f)) TH_LOG("write %s: %s", path, strerror(errno));
}

/* Touching memory the driver cannot back raises SIGBUS: catch it. */
static sigjmp_buf sigbus_env;

static void on_sigbus(int sig)
{
	(void)sig;
	siglongjmp(sigbus_env, 1);
}

static void catch_sigbus(void)
{
	struct sigaction sa = { .sa_handler = on_sigbus };

	sigaction(SIGBUS, &sa, NULL);
}

/* The line of the device's owners file for process pid, or "". */
static void owners_line(const char *node, pid_t pid, char *line, size_t size)
{
	char path[PATH_MAX], want[32];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/p2p_pgmap_cdev/%s/device/p2p_pgmap/owners",
		 strrchr(node, '/') + 1);
	snprintf(want, sizeof(want), "pid=%d ", pid);
	line[0] = 0;
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, size, f))
		if (!strncmp(line, want, strlen(want)))
			break;
	if (strncmp(line, want, strlen(want)))
		line[0] = 0;
	fclose(f);
}

FIXTURE_SETUP(dev)
{
	struct stat st;

	page = sysconf(_SC_PAGESIZE);
	self->fd = -1;
	if (stat(variant->node, &st) && errno == ENOENT)
		SKIP(return, "%s does not exist", variant->node);
	self->fd = open_node(_metadata, variant->node);
	self->folios_at_setup = sysfs_attr(_metadata, variant->node, "folios_in_use");
	self->file_limit_at_setup = read_ull(_metadata, FILE_LIMIT_PARAM);
}

/*
 * In the parent, after the test's process (and every process it forked)
 * has exited: each folio the test took must come back.
 */
FIXTURE_TEARDOWN_PARENT(dev)
{
	unsigned long long now;

	/*
	 * An ASSERT that failed in the test's process aborted it with
	 * _metadata->trigger (shared with us) still set: left so, it would
	 * end this teardown at its first ASSERT, passed or not.
	 */
	_metadata->trigger = 0;
	if (self->fd < 0)
		return;
	/* A test that sets a file limit may have failed before undoing it. */
	write_ull(_metadata, FILE_LIMIT_PARAM, self->file_limit_at_setup);
	now = settle_folios_in_use(_metadata, variant->node, self->folios_at_setup);
	EXPECT_EQ(self->folios_at_setup, now)
		TH_LOG("%s: folios_in_use %llu after the test, %llu before it",
		       variant->node, now, self->folios_at_setup);
}

TEST_F(dev, info_matches_sysfs)
{
	struct p2p_pgmap_info in = info(_metadata, self->fd);
	const char *node = variant->node;

	ASSERT_GT(in.size, 0ULL);
	ASSERT_EQ(sysfs_attr(_metadata, node, "size"), in.size);
	ASSERT_EQ(sysfs_attr(_metadata, node, "bar"), in.bar);
	ASSERT_EQ(P2P_PGMAP_STATE_LIVE, (int)in.state);
	ASSERT_EQ(page, in.page_size);
	ASSERT_EQ(sysfs_attr(_metadata, node, "free_bytes"), in.free_bytes);
	ASSERT_EQ(sysfs_attr(_metadata, node, "folios_in_use"), in.folios_in_use);
	if (in.flags & P2P_PGMAP_INFO_LARGE_FOLIOS) {
		/* A folio is one page or more: bytes in use bound the count. */
		ASSERT_LE(in.folios_in_use * page, in.size - in.free_bytes);
		ASSERT_EQ(in.folios_in_use == 0, in.free_bytes == in.size);
	} else {
		ASSERT_EQ(in.size, in.free_bytes + in.folios_in_use * page);
	}
	ASSERT_EQ(sysfs_attr(_metadata, node, "mapped_bytes"), in.mapped_bytes);
	ASSERT_EQ(sysfs_attr(_metadata, node, "pinned_only_bytes"), in.pinned_only_bytes);
	ASSERT_EQ(read_ull(_metadata, FILE_LIMIT_PARAM), in.file_limit);
	ASSERT_EQ(0ULL, in.file_held_bytes);	/* a new file holds nothing */
}

/* A caller built before the structure grew gets the fields it knows. */
TEST_F(dev, short_info_ioctl_still_works)
{
	struct p2p_pgmap_info_v1 {
		__u64 size, free_bytes, folios_in_use, bar_offset;
		__u32 bar, state, page_size, flags;
	} v1;

	memset(&v1, 0xff, sizeof(v1));
	ASSERT_EQ(0, ioctl(self->fd, _IOR(P2P_PGMAP_IOC_MAGIC, 0x00, struct p2p_pgmap_info_v1),
			   &v1)) TH_LOG("short P2P_PGMAP_IOC_INFO: %s", strerror(errno));
	ASSERT_EQ(info(_metadata, self->fd).size, v1.size);
	ASSERT_EQ(page, v1.page_size);
}

TEST_F(dev, write_reaches_bar_file)
{
	int bf = bar_file(_metadata, variant->node, variant->bar_suffix, O_RDONLY);
	size_t len = 4 * page;
	unsigned char *p, *want, *got;

	if (bf < 0)
		return;
	p = map(_metadata, self->fd, len, 0);
	want = malloc(len);
	got = malloc(len);
	ASSERT_TRUE(want && got);
	fill(want, len, 0x11 + getpid());	/* no earlier run's bytes match */
	memcpy(p, want, len);
	/* Page by page, wherever the driver placed each. */
	for (size_t off = 0; off < len; off += page) {
		off_t at = bar_offset_of(_metadata, self->fd, off);

		ASSERT_EQ((ssize_t)page, pread(bf, got + off, page, at));
	}
	ASSERT_EQ(0, memcmp(want, got, len));
	free(want);
	free(got);
	close(bf);
}

TEST_F(dev, bar_file_write_visible_in_mapping)
{
	int bf = bar_file(_metadata, variant->node, variant->bar_suffix, O_RDWR);
	size_t len = 2 * page;
	unsigned char *p, *want, got[64];

	if (bf < 0)
		return;
	p = map(_metadata, self->fd, len, 0);
	want = malloc(page);
	ASSERT_NE(NULL, want);
	STORE_ONCE(p[0], 1);	/* fault in: the driver zeroes memory for a new user */
	STORE_ONCE(p[page], 1);
	fill(want, page, 0x5a + getpid());
	ASSERT_EQ((ssize_t)page, pwrite(bf, want, page,
					bar_offset_of(_metadata, self->fd, page)));
	fsync(bf);
	for (size_t i = 0; i < sizeof(got); i++)
		got[i] = LOAD_ONCE(p[page + i]);
	ASSERT_EQ(0, memcmp(want, got, sizeof(got)));
	free(want);
	close(bf);
}

/*
 * The memory of a file lives as long as the file: munmap() gives none of
 * it back, close() all of it.
 */
TEST_F(dev, close_returns_every_folio)
{
	size_t n = 16, len = n * page;
	unsigned long long before = sysfs_attr(_metadata, variant->node, "folios_in_use");
	int fd = open_node(_metadata, variant->node);
	struct p2p_pgmap_info in = info(_metadata, fd);
	char *p = map(_metadata, fd, len, 0);
	unsigned long long now;

	for (size_t i = 0; i < n; i++)
		STORE_ONCE(p[i * page], 1);
	now = sysfs_attr(_metadata, variant->node, "folios_in_use");
	if (in.flags & P2P_PGMAP_INFO_LARGE_FOLIOS) {
		/* One folio of 16 pages where the pool has them aligned. */
		ASSERT_TRUE(now > before && now <= before + n)
			TH_LOG("folios_in_use %llu after touching %zu pages, %llu before",
			       now, n, before);
	} else {
		ASSERT_EQ(before + n, now);
	}
	ASSERT_EQ(in.free_bytes - len, info(_metadata, fd).free_bytes);
	ASSERT_EQ(0, munmap(p, len));
	ASSERT_EQ(now, sysfs_attr(_metadata, variant->node, "folios_in_use"))
		TH_LOG("munmap() gave memory of an open file back");
	ASSERT_EQ(len, info(_metadata, fd).file_held_bytes);
	ASSERT_EQ(0, close(fd));
	ASSERT_FOLIOS_RETURN_TO(before);
	ASSERT_EQ(in.free_bytes, settle_free_bytes(_metadata, self->fd, in.free_bytes));
}

/* munmap() and a new mmap() of the same offsets: the same bytes. */
TEST_F(dev, munmap_then_mmap_keeps_the_bytes)
{
	size_t len = 2 * SZ_2M;
	unsigned char *want, *p = map_filled(_metadata, self->fd, len, 0x19 + getpid(), &want);

	ASSERT_EQ(0, munmap(p, len));
	p = map(_metadata, self->fd, len, 0);
	ASSERT_EQ(0, memcmp(want, p, len)) TH_LOG("bytes lost to munmap()");
	ASSERT_EQ(0, munmap(p, len));
	free(want);
}

TEST_F(dev, untouched_mapping_takes_no_folio)
{
	unsigned long long before = sysfs_attr(_metadata, variant->node, "folios_in_use");
	void *p = map(_metadata, self->fd, 64 * page, 0);

	ASSERT_EQ(before, sysfs_attr(_metadata, variant->node, "folios_in_use"));
	ASSERT_EQ(0, munmap(p, 64 * page));
}

/*
 * A page the parent mapped but never touched, written by a child that then
 * exits: the parent reads the child's bytes (the page was in no page
 * table of the parent's).
 */
TEST_F(dev, forked_childs_writes_survive_its_exit)
{
	size_t len = 256 * page;
	unsigned char *p = map(_metadata, self->fd, len, 0);
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		for (size_t i = 0; i < len; i++)
			STORE_ONCE(p[i], (unsigned char)(i * 13 + 1));
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (size_t i = 0; i < len; i++) {
		ASSERT_EQ((unsigned char)(i * 13 + 1), LOAD_ONCE(p[i]))
			TH_LOG("byte %zu lost with the child", i);
	}
}

TEST_F(dev, fork_child_shares_memory)
{
	unsigned int *p = map(_metadata, self->fd, page, 0);
	int status;
	pid_t pid;

	STORE_ONCE(p[0], 1);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		STORE_ONCE(p[1], 0xc0ffee);
		_exit(LOAD_ONCE(p[0]) == 1 ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(0xc0ffeeU, LOAD_ONCE(p[1]));
}

/*
 * Large folios (7.x): an aligned 2 MiB of a file is one folio, mapped with
 * one PMD. The tests below run on every kernel; where folios are one page
 * only the assertions about huge mappings skip.
 */
/* Why this kernel gives no huge mappings, or NULL when it does. */
static const char *no_huge_mappings(struct __test_metadata *_metadata, int fd)
{
	char buf[128] = "";
	FILE *f;

	if (!(info(_metadata, fd).flags & P2P_PGMAP_INFO_LARGE_FOLIOS))
		return "folios are one page on this kernel (large device folios need 7.0 or later)";
	f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = 0;
		fclose(f);
	}
	if (strstr(buf, "[never]"))
		return "transparent huge pages are off (enabled: never)";
	return NULL;
}

/* The bytes of [p, p + len) are in the BAR file where placement says. */
static void bar_file_holds(struct __test_metadata *_metadata, int fd, int bf,
			   off_t off, const unsigned char *want, size_t len)
{
	struct p2p_pgmap_range ranges[64];
	struct p2p_pgmap_placement pl = {
		.offset = off, .len = len, .ranges = (uintptr_t)ranges,
		.nr_ranges = 64,
	};
	unsigned char *got = malloc(len);
	size_t covered = 0;

	ASSERT_NE(NULL, got);
	ASSERT_EQ(0, ioctl(fd, P2P_PGMAP_IOC_PLACEMENT, &pl))
		TH_LOG("P2P_PGMAP_IOC_PLACEMENT: %s", strerror(errno));
	ASSERT_EQ(0U, pl.flags) TH_LOG("more than 64 runs");
	for (unsigned int i = 0; i < pl.nr_ranges; i++) {
		ASSERT_EQ((ssize_t)ranges[i].len,
			  pread(bf, got + (ranges[i].offset - off), ranges[i].len,
				ranges[i].bar_offset));
		covered += ranges[i].len;
	}
	ASSERT_EQ(len, covered) TH_LOG("placement covers %zu of %zu bytes", covered, len);
	ASSERT_EQ(0, memcmp(want, got, len));
	free(got);
}

/*
 * A new mapping of len bytes of fd filled with a pattern (seed) that is
 * also left in *want; huge where the kernel can.
 */
static unsigned char *map_filled(struct __test_metadata *_metadata, int fd,
				 size_t len, unsigned int seed,
				 unsigned char **want)
{
	unsigned char *p = map(_metadata, fd, len, 0);

	*want = malloc(len);
	ASSERT_NE(NULL, *want);
	fill(*want, len, seed);
	memcpy(p, *want, len);
	if (!no_huge_mappings(_metadata, fd))
		ASSERT_EQ((int64_t)len, p2p_pgmap_huge_bytes(p, len));
	return p;
}

/* A plain mmap() of 8 MiB, touched, is four PMDs, as the kernel reports. */
TEST_F(dev, plain_mmap_is_pmd_mapped)
{
	size_t len = 4 * SZ_2M;
	const char *why = no_huge_mappings(_metadata, self->fd);
	unsigned long long before = sysfs_attr(_metadata, variant->node, "folios_in_use");
	char *p;
	__s64 huge;
	int fd;

	if (why)
		SKIP(return, "%s", why);
	if (info(_metadata, self->fd).free_bytes < len)
		SKIP(return, "%s has less than 8 MiB free", variant->node);
	fd = open_node(_metadata, variant->node);
	p = map(_metadata, fd, len, 0);
	ASSERT_EQ(0UL, (uintptr_t)p % SZ_2M) TH_LOG("mmap gave %p, not 2 MiB aligned", p);
	for (size_t i = 0; i < len; i += page)
		STORE_ONCE(p[i], 1);
	huge = p2p_pgmap_huge_bytes(p, len);
	ASSERT_LE(0, huge) TH_LOG("PAGEMAP_SCAN: %s", strerror(errno));
	ASSERT_EQ((int64_t)len, huge) TH_LOG("%lld of %zu bytes mapped huge",
					     (long long)huge, len);
	ASSERT_EQ(before + 4, sysfs_attr(_metadata, variant->node, "folios_in_use"));
	ASSERT_EQ(0, munmap(p, len));
	ASSERT_EQ(0, close(fd));
	ASSERT_FOLIOS_RETURN_TO(before);
}

/*
 * Bytes written through a 4 MiB mapping (two PMDs where the kernel has
 * large folios) are in the host file behind the BAR, where placement says;
 * there, each 2 MiB of the file is 2 MiB aligned in the BAR.
 */
TEST_F(dev, huge_mapping_bytes_reach_bar_file)
{
	int bf = bar_file(_metadata, variant->node, variant->bar_suffix, O_RDONLY);
	size_t len = 2 * SZ_2M;
	unsigned char *p, *want;

	if (bf < 0)
		return;
	p = map(_metadata, self->fd, len, 0);
	want = malloc(len);
	ASSERT_NE(NULL, want);
	fill(want, len, 0x2d + getpid());
	memcpy(p, want, len);
	if (!no_huge_mappings(_metadata, self->fd)) {
		ASSERT_EQ((int64_t)len, p2p_pgmap_huge_bytes(p, len));
		ASSERT_EQ(0ULL, bar_offset_of(_metadata, self->fd, 0) % SZ_2M);
		ASSERT_EQ(0ULL, bar_offset_of(_metadata, self->fd, SZ_2M) % SZ_2M);
	}
	bar_file_holds(_metadata, self->fd, bf, 0, want, len);
	free(want);
	close(bf);
}

/*
 * munmap() of one page inside a huge mapping, and mprotect() of another,
 * split it; every byte still mapped keeps its value, through the new
 * mappings and in the BAR. The memory goes back once the file is closed.
 */
TEST_F(dev, partial_munmap_and_mprotect_keep_the_rest)
{
	unsigned long long before = sysfs_attr(_metadata, variant->node, "folios_in_use");
	int fd = open_node(_metadata, variant->node);
	size_t len = 2 * SZ_2M;
	unsigned char *want, *p = map_filled(_metadata, fd, len, 0x71 + getpid(), &want);

	ASSERT_EQ(0, munmap(p + SZ_2M + 3 * page, page));
	ASSERT_EQ(0, mprotect(p + 5 * page, 2 * page, PROT_READ));
	ASSERT_EQ(0, memcmp(want, p, SZ_2M)) TH_LOG("the first 2 MiB changed");
	ASSERT_EQ(0, memcmp(want + SZ_2M, p + SZ_2M, 3 * page));
	ASSERT_EQ(0, memcmp(want + SZ_2M + 4 * page, p + SZ_2M + 4 * page,
			    SZ_2M - 4 * page)) TH_LOG("the second 2 MiB changed");
	/* Writable where it was not protected, and still the same memory. */
	p[SZ_2M + 4 * page] = 0x42;
	want[SZ_2M + 4 * page] = 0x42;
	ASSERT_EQ(0, memcmp(want + SZ_2M + 4 * page, p + SZ_2M + 4 * page, page));

	ASSERT_EQ(0, munmap(p, len));
	ASSERT_EQ(0, close(fd));
	ASSERT_FOLIOS_RETURN_TO(before);
	free(want);
}

/*
 * mremap() of the last 1 MiB of a huge mapping elsewhere splits the 2 MiB
 * it cuts: the moved pages and those left behind keep their bytes.
 */
TEST_F(dev, mremap_of_part_of_a_huge_mapping_keeps_its_bytes)
{
	size_t len = 2 * SZ_2M, part = SZ_2M / 2;
	unsigned long long before = sysfs_attr(_metadata, variant->node, "folios_in_use");
	int fd = open_node(_metadata, variant->node);
	unsigned char *moved, *want, *p = map_filled(_metadata, fd, len, 0x5e + getpid(), &want);

	moved = mremap(p + len - part, part, part, MREMAP_MAYMOVE);
	ASSERT_NE(MAP_FAILED, moved) TH_LOG("mremap: %s", strerror(errno));
	ASSERT_EQ(0, memcmp(want + len - part, moved, part)) TH_LOG("the moved part changed");
	ASSERT_EQ(0, memcmp(want, p, len - part)) TH_LOG("the part left behind changed");

	ASSERT_EQ(0, munmap(moved, part));
	ASSERT_EQ(0, munmap(p, len - part));
	ASSERT_EQ(0, close(fd));
	ASSERT_FOLIOS_RETURN_TO(before);
	free(want);
}

/* A child after fork() maps the same huge memory, huge too. */
TEST_F(dev, fork_shares_huge_mapping)
{
	size_t len = 2 * SZ_2M;
	const char *why = no_huge_mappings(_metadata, self->fd);
	unsigned char *p = map(_metadata, self->fd, len, 0);
	int status;
	pid_t pid;

	fill(p, len, 0x3c);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		unsigned char *want = malloc(len);

		if (!want)
			_exit(2);
		fill(want, len, 0x3c);
		if (memcmp(want, p, len))
			_exit(3);
		if (!why && p2p_pgmap_huge_bytes(p, len) != (int64_t)len)
			_exit(4);
		p[len - 1] = 0x99;
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status))
		TH_LOG("child: 2 = no memory, 3 = other bytes, 4 = not mapped huge");
	ASSERT_EQ(0x99, p[len - 1]);
}

/*
 * MADV_DONTNEED of a shared file mapping only unmaps: one page of a huge
 * mapping, then 1 MiB inside its second 2 MiB, then the whole of it; every
 * byte reads back as written (the kernel zaps whole PMDs to do it).
 */
TEST_F(dev, madv_dontneed_keeps_every_byte)
{
	size_t len = 4 * SZ_2M;
	unsigned char *want, *p;

	if (info(_metadata, self->fd).free_bytes < len)
		SKIP(return, "%s has less than 8 MiB free", variant->node);
	p = map_filled(_metadata, self->fd, len, 0x47 + getpid(), &want);
	ASSERT_EQ(0, madvise(p + 7 * page, page, MADV_DONTNEED));
	ASSERT_EQ(0, memcmp(want, p, len)) TH_LOG("bytes lost to MADV_DONTNEED of one page");
	ASSERT_EQ(0, madvise(p + SZ_2M + SZ_2M / 4, SZ_2M / 2, MADV_DONTNEED));
	ASSERT_EQ(0, memcmp(want, p, len)) TH_LOG("bytes lost to MADV_DONTNEED of 1 MiB");
	ASSERT_EQ(0, madvise(p, len, MADV_DONTNEED));
	ASSERT_EQ(0, memcmp(want, p, len)) TH_LOG("bytes lost to MADV_DONTNEED of all of it");
	/* Touched again, each 2 MiB is one PMD again where the kernel can. */
	if (!no_huge_mappings(_metadata, self->fd))
		ASSERT_EQ((int64_t)len, p2p_pgmap_huge_bytes(p, len));
	ASSERT_EQ(0, munmap(p, len));
	free(want);
}

/*
 * mremap() of a whole huge mapping to an address 4 KiB past a 2 MiB
 * boundary: the kernel cannot move PMDs there and splits them; every byte
 * moves with the mapping.
 */
TEST_F(dev, mremap_to_a_4k_aligned_address_keeps_every_byte)
{
	size_t len = 2 * SZ_2M;
	unsigned char *want, *area, *dst, *moved, *p;

	p = map_filled(_metadata, self->fd, len, 0x6b + getpid(), &want);
	/* An address range to move to, then 4 KiB off its 2 MiB alignment. */
	area = mmap(NULL, len + 2 * SZ_2M, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	dst = (unsigned char *)(((uintptr_t)area + SZ_2M - 1) / SZ_2M * SZ_2M) + page;
	moved = mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	ASSERT_EQ(dst, moved) TH_LOG("mremap: %s", strerror(errno));
	ASSERT_EQ(0, memcmp(want, moved, len)) TH_LOG("bytes lost to mremap()");
	ASSERT_EQ(0, munmap(area, len + 2 * SZ_2M));
	free(want);
}

/*
 * Giving a range back: the memory goes back to the device (free_bytes, the
 * file's held bytes) and the range reads zero afterwards, through the same
 * mapping; the rest keeps its bytes. A range that ends inside a 2 MiB
 * folio zeroes those bytes and keeps the folio.
 */
TEST_F(dev, punch_hole_gives_memory_back_and_reads_zero)
{
	size_t len = 2 * SZ_2M, at;
	int fd = open_node(_metadata, variant->node);
	struct p2p_pgmap_info in = info(_metadata, fd);
	unsigned char *want, *p;
	unsigned long long held;

	if (in.free_bytes < len)
		SKIP(return, "%s has less than 4 MiB free", variant->node);
	p = map_filled(_metadata, fd, len, 0x2f + getpid(), &want);
	ASSERT_EQ(in.free_bytes - len, info(_metadata, fd).free_bytes);

	/* The first 2 MiB, whole. */
	ASSERT_EQ(0, punch(fd, 0, SZ_2M)) TH_LOG("punch: %s", strerror(errno));
	ASSERT_EQ(len - SZ_2M, info(_metadata, fd).file_held_bytes);
	ASSERT_EQ(in.free_bytes - (len - SZ_2M),
		  settle_free_bytes(_metadata, fd, in.free_bytes - (len - SZ_2M)));
	ASSERT_TRUE(all_zero(p, SZ_2M, &at)) TH_LOG("byte %zu is %#x after the punch", at, p[at]);
	ASSERT_EQ(0, memcmp(want + SZ_2M, p + SZ_2M, SZ_2M)) TH_LOG("bytes past the hole changed");

	/* 100 bytes from the middle of a page of the second 2 MiB. */
	held = info(_metadata, fd).file_held_bytes;
	ASSERT_EQ(0, punch(fd, SZ_2M + 3 * page + 50, 100));
	memset(want + SZ_2M + 3 * page + 50, 0, 100);
	ASSERT_EQ(0, memcmp(want + SZ_2M, p + SZ_2M, SZ_2M)) TH_LOG("not just the 100 bytes");
	ASSERT_EQ(held, info(_metadata, fd).file_held_bytes)
		TH_LOG("a part of a folio is zeroed, not given back");

	ASSERT_EQ(0, munmap(p, len));
	ASSERT_EQ(0, close(fd));
	free(want);
}

/* Pages given back one by one (folios of one page, or a 2 MiB one's part). */
TEST_F(dev, punch_hole_of_whole_pages)
{
	size_t len = 16 * page, at;
	int fd = open_node(_metadata, variant->node);
	unsigned long long before = sysfs_attr(_metadata, variant->node, "folios_in_use");
	unsigned char *p = map(_metadata, fd, len, 0);

	memset(p, 0x5a, len);
	ASSERT_EQ(0, punch(fd, 4 * page, 4 * page));
	ASSERT_TRUE(all_zero(p + 4 * page, 4 * page, &at)) TH_LOG("byte %zu", at);
	for (size_t i = 0; i < len; i++) {
		if (i >= 4 * page && i < 8 * page)
			continue;	/* the hole */
		ASSERT_EQ(0x5a, (int)LOAD_ONCE(p[i])) TH_LOG("byte %zu outside the hole", i);
	}
	/* The hole takes new, zeroed memory when touched again. */
	STORE_ONCE(p[5 * page], 1);
	ASSERT_EQ(1, (int)LOAD_ONCE(p[5 * page]));
	ASSERT_EQ(0, punch(fd, 0, len));
	ASSERT_EQ(0ULL, info(_metadata, fd).file_held_bytes);
	ASSERT_FOLIOS_RETURN_TO(before);
	/* Read, a hole takes new memory (as shmem's does): zeroed. */
	ASSERT_TRUE(all_zero(p, len, &at)) TH_LOG("byte %zu", at);
	ASSERT_EQ(0, munmap(p, len));
	ASSERT_EQ(0, close(fd));
}

TEST_F(dev, punch_hole_rejects_bad_ranges)
{
	struct p2p_pgmap_info in = info(_metadata, self->fd);
	struct p2p_pgmap_punch ph = { .offset = 0, .len = page, .flags = 1 };

	ASSERT_ERRNO(punch(self->fd, 0, 0), EINVAL);
	ASSERT_ERRNO(punch(self->fd, in.size, page), EINVAL);
	ASSERT_ERRNO(punch(self->fd, in.size - page, 2 * page), EINVAL);
	ASSERT_ERRNO(punch(self->fd, page, ~0ULL), EINVAL);
	ASSERT_ERRNO(ioctl(self->fd, P2P_PGMAP_IOC_PUNCH_HOLE, &ph), EINVAL);
	ASSERT_ERRNO(ioctl(self->fd, P2P_PGMAP_IOC_PUNCH_HOLE, NULL), EFAULT);
	/* A hole where there is no memory is no error. */
	ASSERT_EQ(0, punch(self->fd, 0, in.size));
}

/* The VFS refuses fallocate() on a character device: the ioctl is the way. */
TEST_F(dev, fallocate_is_refused_by_the_vfs)
{
	ASSERT_ERRNO(fallocate(self->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       0, page), ENODEV);
}

/* The owners file names every user's processes: root may read it, no one else. */
TEST_F(dev, owners_file_is_root_only)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/class/p2p_pgmap_cdev/%s/device/p2p_pgmap/owners",
		 strrchr(variant->node, '/') + 1);
	ASSERT_EQ(0, stat(path, &st)) TH_LOG("stat %s: %s", path, strerror(errno));
	ASSERT_EQ(0400U, st.st_mode & 0777);
}

TEST_F(dev, two_opens_never_share)
{
	int ready[2], done[2], status;
	unsigned int *p;
	char c;
	pid_t pid;

	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(done));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* Its own open and its own mapping of the same offset. */
		unsigned int *q;

		close(self->fd);
		q = map(_metadata, open_node(_metadata, variant->node), page, 0);
		STORE_ONCE(q[7], 0xfeed);
		if (write(ready[1], "x", 1) != 1)
			_exit(2);
		/* Keep the mapping until the parent has looked and written. */
		if (read(done[0], &c, 1) != 1)
			_exit(3);
		_exit(LOAD_ONCE(q[7]) == 0xfeed ? 0 : 4);
	}
	/* A child that dies before it is ready ends the read. */
	close(ready[1]);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	p = map(_metadata, self->fd, page, 0);
	ASSERT_EQ(0U, LOAD_ONCE(p[7])) TH_LOG("another open file's bytes at the same offset");
	STORE_ONCE(p[7], 0xbeef);
	ASSERT_EQ(1, write(done[1], "y", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the other file's memory changed (status %#x)", status);
}

/* A process that receives the file over a Unix socket shares its memory. */
TEST_F(dev, fd_passed_over_unix_socket_shares)
{
	unsigned int *p = map(_metadata, self->fd, page, 0);
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 }, byte = 'f';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int sv[2], status;
	pid_t pid;

	STORE_ONCE(p[3], 0xabcd);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		unsigned int *q;
		int fd;

		close(self->fd);	/* only the one received is left */
		munmap(p, page);
		if (recvmsg(sv[1], &msg, 0) != 1)
			_exit(2);
		cm = CMSG_FIRSTHDR(&msg);
		if (!cm || cm->cmsg_type != SCM_RIGHTS)
			_exit(3);
		memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
		q = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (q == MAP_FAILED)
			_exit(4);
		if (LOAD_ONCE(q[3]) != 0xabcd)
			_exit(5);
		STORE_ONCE(q[4], 0x1234);
		_exit(0);
	}
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &self->fd, sizeof(int));
	ASSERT_EQ(1, sendmsg(sv[0], &msg, 0));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the receiver did not see the sender's memory (exit %d)",
		       WEXITSTATUS(status));
	ASSERT_EQ(0x1234U, LOAD_ONCE(p[4]));
}

/*
 * Another open file, mapping the whole device and touching every page it
 * can get, finds none of this file's bytes, and gets SIGBUS when the
 * device's free memory runs out: exactly the free bytes it had.
 */
TEST_F(dev, another_file_reaches_none_of_our_memory)
{
	size_t n = 16;
	unsigned char *a = map(_metadata, self->fd, n * page, 0);
	char marker[64];
	int status;
	pid_t pid;

	snprintf(marker, sizeof(marker), "p2p_pgmap marker of %d", getpid());
	for (size_t i = 0; i < n; i++) {
		memcpy(a + i * page, marker, strlen(marker));
		memcpy(a + i * page + page / 2, marker, strlen(marker));
	}
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd = open_node(_metadata, variant->node);
		struct p2p_pgmap_info in = info(_metadata, fd);
		unsigned char *b = mmap(NULL, in.size, PROT_READ | PROT_WRITE,
					MAP_SHARED, fd, 0);
		/* Static: read after the siglongjmp() out of the loop. */
		static size_t touched;

		if (b == MAP_FAILED)
			_exit(2);
		catch_sigbus();
		if (!sigsetjmp(sigbus_env, 1)) {
			for (size_t i = 0; i < in.size / page; i++) {
				/* Pages done, stored before page i may fault. */
				STORE_ONCE(touched, i);
				SIGBUS_BARRIER();
				if (memmem(b + i * page, page, marker, strlen(marker)))
					_exit(3);
			}
			_exit(5);	/* the whole device, though we hold some */
		}
		if (LOAD_ONCE(touched) * page != in.free_bytes) {
			fprintf(stderr, "# touched %zu pages, %llu bytes were free\n",
				LOAD_ONCE(touched), (unsigned long long)in.free_bytes);
			_exit(4);
		}
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status))
		TH_LOG("the other file's process died of signal %d", WTERMSIG(status));
	ASSERT_NE(3, WEXITSTATUS(status)) TH_LOG("another file found this file's bytes");
	ASSERT_NE(5, WEXITSTATUS(status)) TH_LOG("no SIGBUS when the device ran out");
	ASSERT_EQ(0, WEXITSTATUS(status))
		TH_LOG("SIGBUS, but not when the free memory ran out (exit %d)",
		       WEXITSTATUS(status));
}

/*
 * A process pins its memory (vmsplice() into a pipe), unmaps it and closes
 * the device. A new file mapping the same offset gets zeroes, not those
 * bytes, while the pipe still holds them.
 */
TEST_F(dev, departed_pinners_bytes_never_reach_a_new_file)
{
	size_t len = 4 * page, i;
	unsigned char *q, *buf;
	char line[256];
	int pfd[2], status;
	pid_t pid;

	ASSERT_EQ(0, pipe(pfd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd = open_node(_metadata, variant->node);
		unsigned char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		struct iovec iov = { .iov_base = a, .iov_len = len };

		ssize_t n;

		if (a == MAP_FAILED)
			_exit(2);
		memset(a, 0xa5, len);
		n = vmsplice(pfd[1], &iov, 1, 0);
		if (n != (ssize_t)len) {
			fprintf(stderr, "# vmsplice of device memory: %zd, %s\n", n,
				strerror(errno));
			/* GUP's refusal of P2PDMA pages without FOLL_PCI_P2PDMA. */
			_exit(n < 0 && (errno == EFAULT || errno == EREMOTEIO) ? 10 : 3);
		}
		munmap(a, len);
		close(fd);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	if (WEXITSTATUS(status) == 10)
		SKIP(return, "this kernel's GUP does not pin P2PDMA pages for vmsplice()");
	ASSERT_EQ(0, WEXITSTATUS(status));

	/* The departed file is listed, closed, its memory pinned only. */
	owners_line(variant->node, pid, line, sizeof(line));
	ASSERT_NE(NULL, strstr(line, " file=closed ")) TH_LOG("owners: '%s'", line);
	ASSERT_LE((unsigned long long)len, sysfs_attr(_metadata, variant->node,
						      "pinned_only_bytes"));

	q = map(_metadata, self->fd, len, 0);
	for (i = 0; i < len && !LOAD_ONCE(q[i]); i++)
		;
	ASSERT_EQ(len, i) TH_LOG("byte %zu is %#x: a departed user's data", i, LOAD_ONCE(q[i]));

	/* The pipe still reads the departed process's bytes. */
	buf = malloc(len);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ((ssize_t)len, read(pfd[0], buf, len));
	for (i = 0; i < len && buf[i] == 0xa5; i++)
		;
	ASSERT_EQ(len, i);
	free(buf);
	close(pfd[0]);
	close(pfd[1]);
}

/* What this file holds, maps and pins, in the info ioctl and the owners file. */
TEST_F(dev, accounting_of_this_file)
{
	size_t n = 8, len = n * page;
	char *p = map(_metadata, self->fd, len, 0);
	struct p2p_pgmap_info in;
	char line[256], want[128];

	for (size_t i = 0; i < n; i++)
		STORE_ONCE(p[i * page], 1);
	in = info(_metadata, self->fd);
	ASSERT_EQ(len, in.file_held_bytes);
	ASSERT_EQ(len, in.file_mapped_bytes);
	ASSERT_EQ(0ULL, in.file_pinned_bytes);
	ASSERT_LE(len, in.mapped_bytes);
	owners_line(variant->node, getpid(), line, sizeof(line));
	snprintf(want, sizeof(want), "pid=%d file=open held=%zu mapped=%zu pinned=0 ",
		 getpid(), len, len);
	ASSERT_EQ(0, strncmp(line, want, strlen(want))) TH_LOG("owners: '%s'", line);
	/* Unmapped, the file still holds it; given back, it holds nothing. */
	ASSERT_EQ(0, munmap(p, len));
	in = info(_metadata, self->fd);
	ASSERT_EQ(len, in.file_held_bytes);
	ASSERT_EQ(0ULL, in.file_mapped_bytes);
	ASSERT_EQ(0, punch(self->fd, 0, len)) TH_LOG("punch: %s", strerror(errno));
	ASSERT_FOLIOS_RETURN_TO(self->folios_at_setup);
	ASSERT_EQ(0ULL, info(_metadata, self->fd).file_held_bytes);
}

/* Where a file's memory sits in the BAR: every page that has memory. */
TEST_F(dev, placement_reports_the_memory_of_the_file)
{
	size_t n = 8, len = n * page, covered = 0;
	struct p2p_pgmap_range r[8];
	struct p2p_pgmap_placement pl = {
		.offset = 0, .len = len, .ranges = (uintptr_t)r, .nr_ranges = 8,
	};
	struct p2p_pgmap_info in = info(_metadata, self->fd);
	char *p = map(_metadata, self->fd, len, 0);

	ASSERT_EQ(0, ioctl(self->fd, P2P_PGMAP_IOC_PLACEMENT, &pl));
	ASSERT_EQ(0U, pl.nr_ranges) TH_LOG("memory before the first touch");
	STORE_ONCE(p[0], 1);
	pl.nr_ranges = 8;
	ASSERT_EQ(0, ioctl(self->fd, P2P_PGMAP_IOC_PLACEMENT, &pl));
	ASSERT_LE(1U, pl.nr_ranges);
	for (unsigned int i = 0; i < pl.nr_ranges; i++) {
		ASSERT_EQ(covered, r[i].offset);
		ASSERT_EQ(0ULL, r[i].bar_offset % page);
		ASSERT_LE(in.bar_offset, r[i].bar_offset);
		ASSERT_GE(in.bar_offset + in.size, r[i].bar_offset + r[i].len);
		covered += r[i].len;
	}
	/* The first touch of a mapping backs it in one batch. */
	ASSERT_EQ(len, covered);
	pl.offset = 100;
	ASSERT_ERRNO(ioctl(self->fd, P2P_PGMAP_IOC_PLACEMENT, &pl), EINVAL);
	pl.offset = 0;
	pl.flags = 1;
	ASSERT_ERRNO(ioctl(self->fd, P2P_PGMAP_IOC_PLACEMENT, &pl), EINVAL);
}

/* file_limit: a longer mmap() fails with ENOMEM, memory past it SIGBUS. */
TEST_F(dev, file_limit_is_enforced)
{
	size_t limit = 8 * page;
	static char *p, *q;	/* static: live across sigsetjmp() */

	write_ull(_metadata, FILE_LIMIT_PARAM, limit);
	ASSERT_EQ(limit, info(_metadata, self->fd).file_limit);
	ASSERT_MAP_FAILS(mmap(NULL, limit + page, PROT_READ | PROT_WRITE, MAP_SHARED,
			      self->fd, 0), ENOMEM);
	p = map(_metadata, self->fd, limit, 0);
	for (size_t i = 0; i < limit; i += page)
		STORE_ONCE(p[i], 1);
	q = map(_metadata, self->fd, 4 * page, limit);
	catch_sigbus();
	if (!sigsetjmp(sigbus_env, 1)) {
		STORE_ONCE(q[0], 1);
		SIGBUS_BARRIER();
		ASSERT_TRUE(0) TH_LOG("memory past file_limit could be touched");
	}
	ASSERT_EQ(limit, info(_metadata, self->fd).file_held_bytes);
	write_ull(_metadata, FILE_LIMIT_PARAM, self->file_limit_at_setup);
}

/*
 * A file_limit below one page allows no memory at all: at mmap(), and at
 * the fault of a mapping made before the limit was set.
 */
TEST_F(dev, file_limit_below_a_page_allows_none)
{
	static char *p;	/* static: live across sigsetjmp() */

	p = map(_metadata, self->fd, page, 0);
	write_ull(_metadata, FILE_LIMIT_PARAM, 100);
	ASSERT_MAP_FAILS(mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED,
			      self->fd, 0), ENOMEM);
	catch_sigbus();
	if (!sigsetjmp(sigbus_env, 1)) {
		STORE_ONCE(p[0], 1);
		SIGBUS_BARRIER();
		ASSERT_TRUE(0) TH_LOG("a page was taken under a limit of 100 bytes");
	}
	ASSERT_EQ(0ULL, info(_metadata, self->fd).file_held_bytes);
	write_ull(_metadata, FILE_LIMIT_PARAM, self->file_limit_at_setup);
}

TEST_F(dev, msync_succeeds)
{
	char *p = map(_metadata, self->fd, page, 0);

	STORE_ONCE(p[0], 1);
	ASSERT_EQ(0, msync(p, page, MS_SYNC)) TH_LOG("msync: %s", strerror(errno));
	ASSERT_EQ(0, msync(p, page, MS_ASYNC));
}

/* A file opened after another one closed never sees that file's bytes. */
TEST_F(dev, new_mapper_never_sees_old_bytes)
{
	size_t len = 8 * page, i;
	unsigned long long before = sysfs_attr(_metadata, variant->node, "folios_in_use");
	int fd = open_node(_metadata, variant->node);
	unsigned char *p = map(_metadata, fd, len, 0);

	memset(p, 0xa5, len);
	ASSERT_EQ(0, munmap(p, len));
	ASSERT_EQ(0, close(fd));
	ASSERT_FOLIOS_RETURN_TO(before);
	p = map(_metadata, self->fd, len, 0);
	for (i = 0; i < len && !p[i]; i++)
		;
	ASSERT_EQ(len, i)
		TH_LOG("byte %zu is %#x: a previous user's data", i, p[i]);
}

/* Two mappings of one file share what overlaps. */
TEST_F(dev, mappings_of_one_file_share)
{
	unsigned int *whole = map(_metadata, self->fd, 4 * page, 0);
	unsigned int *one = map(_metadata, self->fd, page, 2 * page);

	whole[2 * page / sizeof(int)] = 0x12345678;
	ASSERT_EQ(0x12345678U, one[0]);
}

TEST_F(dev, private_mapping_rejected)
{
	ASSERT_MAP_FAILS(mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE, self->fd, 0),
			 EINVAL);
}

TEST_F(dev, exec_mapping_rejected)
{
	ASSERT_MAP_FAILS(mmap(NULL, page, PROT_READ | PROT_EXEC, MAP_SHARED, self->fd, 0),
			 EPERM);
}

TEST_F(dev, mprotect_exec_rejected)
{
	void *p = map(_metadata, self->fd, page, 0);

	ASSERT_ERRNO(mprotect(p, page, PROT_READ | PROT_EXEC), EACCES);
}

TEST_F(dev, offset_beyond_device_rejected)
{
	off_t size = info(_metadata, self->fd).size;

	ASSERT_MAP_FAILS(mmap(NULL, page, PROT_READ, MAP_SHARED, self->fd, size), EINVAL);
	ASSERT_MAP_FAILS(mmap(NULL, page, PROT_READ, MAP_SHARED, self->fd, size * 4), EINVAL);
}

TEST_F(dev, length_beyond_device_rejected)
{
	off_t size = info(_metadata, self->fd).size;

	ASSERT_MAP_FAILS(mmap(NULL, size + page, PROT_READ, MAP_SHARED, self->fd, 0), EINVAL);
	ASSERT_MAP_FAILS(mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, self->fd, size - page),
			 EINVAL);
}

TEST_F(dev, unaligned_offset_rejected)
{
	ASSERT_MAP_FAILS(mmap(NULL, page, PROT_READ, MAP_SHARED, self->fd, 100), EINVAL);
}

TEST_F(dev, mremap_growth_rejected)
{
	void *p = map(_metadata, self->fd, page, 0);

	ASSERT_MAP_FAILS(mremap(p, page, 4 * page, MREMAP_MAYMOVE), EFAULT);
}

TEST_F(dev, unknown_ioctl_rejected)
{
	ASSERT_ERRNO(ioctl(self->fd, _IO(P2P_PGMAP_IOC_MAGIC, 0x7f)), ENOTTY);
}

TEST_F(dev, poll_quiet_while_live)
{
	struct pollfd pfd = { .fd = self->fd, .events = POLLIN | POLLOUT };

	ASSERT_EQ(0, poll(&pfd, 1, 0));
}

#define EXPORT_RW	(P2P_PGMAP_EXPORT_READ | P2P_PGMAP_EXPORT_WRITE)

/*
 * An export is a dma-buf of the range's length (the size lseek() reports
 * for a dma-buf), close-on-exec unless asked otherwise, whose memory the
 * file has taken.
 */
TEST_F(dev, export_gives_a_dmabuf_of_its_length)
{
	int dfd, flags;

	dfd = export(self->fd, 2 * page, 4 * page, EXPORT_RW);
	ASSERT_LE(0, dfd) TH_LOG("P2P_PGMAP_IOC_EXPORT: %s", strerror(errno));
	ASSERT_EQ((off_t)(4 * page), lseek(dfd, 0, SEEK_END));
	flags = fcntl(dfd, F_GETFD);
	ASSERT_TRUE(flags & FD_CLOEXEC);
	ASSERT_EQ(4 * page, info(_metadata, self->fd).file_held_bytes);
	close(dfd);

	dfd = export(self->fd, 0, page, P2P_PGMAP_EXPORT_READ | P2P_PGMAP_EXPORT_NO_CLOEXEC);
	ASSERT_LE(0, dfd) TH_LOG("P2P_PGMAP_IOC_EXPORT: %s", strerror(errno));
	flags = fcntl(dfd, F_GETFD);
	ASSERT_FALSE(flags & FD_CLOEXEC);
	close(dfd);
}

TEST_F(dev, export_bad_arguments_rejected)
{
	unsigned long long size = info(_metadata, self->fd).size;

	ASSERT_ERRNO(export(self->fd, page / 2, page, EXPORT_RW), EINVAL);
	ASSERT_ERRNO(export(self->fd, 0, page + 1, EXPORT_RW), EINVAL);
	ASSERT_ERRNO(export(self->fd, 0, 0, EXPORT_RW), EINVAL);
	ASSERT_ERRNO(export(self->fd, size - page, 2 * page, EXPORT_RW), EINVAL);
	ASSERT_ERRNO(export(self->fd, size, page, EXPORT_RW), EINVAL);
	ASSERT_ERRNO(export(self->fd, 0, page, 0), EINVAL);
	ASSERT_ERRNO(export(self->fd, 0, page, EXPORT_RW | (1U << 31)), EINVAL);
	ASSERT_EQ(0ULL, info(_metadata, self->fd).file_held_bytes);
}

TEST_F(dev, export_past_file_limit_rejected)
{
	write_ull(_metadata, FILE_LIMIT_PARAM, 8 * page);
	ASSERT_ERRNO(export(self->fd, 0, 16 * page, EXPORT_RW), EDQUOT);
	write_ull(_metadata, FILE_LIMIT_PARAM, self->file_limit_at_setup);
}

/*
 * The dma-buf holds its memory after the file that exported it is
 * closed, with the bytes written through the file's mapping; the memory
 * goes back with the dma-buf's last fd.
 */
TEST_F(dev, export_keeps_memory_after_close)
{
	unsigned long long free0 = settle_free_bytes(_metadata, self->fd,
						     info(_metadata, self->fd).free_bytes);
	size_t len = 8 * page;
	char *p;
	int f, dfd;

	f = open_node(_metadata, variant->node);
	p = map(_metadata, f, len, 0);
	for (size_t i = 0; i < len; i += page)
		STORE_ONCE(p[i], 0x5a);
	dfd = export(f, 0, len, EXPORT_RW);
	ASSERT_LE(0, dfd) TH_LOG("P2P_PGMAP_IOC_EXPORT: %s", strerror(errno));
	ASSERT_EQ(0, munmap(p, len));
	ASSERT_EQ(0, close(f));
	ASSERT_EQ(free0 - len, settle_free_bytes(_metadata, self->fd, free0 - len))
		TH_LOG("the closed file's exported memory was given back");
	ASSERT_EQ(0, close(dfd));
	ASSERT_EQ(free0, settle_free_bytes(_metadata, self->fd, free0))
		TH_LOG("the memory did not come back with the dma-buf's last fd");
}

TEST_HARNESS_MAIN
