// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_pgmap_test - selftests of /dev/p2p_pgmapN, run in the test VM with
 * p2p_pgmap bound to the emulated devices (tests/selftests/suite).
 *
 * Built on the kernel's kselftest_harness.h: every test is a TEST_F of the
 * fixture "dev", which runs once per device (variants dev0 and dev1, the
 * nodes /dev/p2p_pgmap0 and /dev/p2p_pgmap1). A variant whose node does not
 * exist skips. The fixture's setup opens the device and notes how many
 * folios are in use; its teardown runs in the parent once the test's
 * process has exited, and checks that every folio the test took came back.
 *
 * One test:  p2p_pgmap_test -r dev.dev0.munmap_returns_every_folio
 * on every device:  p2p_pgmap_test -t munmap_returns_every_folio
 * list:  p2p_pgmap_test -l
 *
 * P2P_VM_BAR_FILE names the host file behind the first device's BAR, which
 * the test VM makes visible (and writable) in the guest; the second
 * device's file is the same path with "-1" appended. Tests that check bytes
 * against it skip without it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <linux/p2p_pgmap.h>

#include "kselftest_harness.h"

static size_t page;

/* A call that must fail with errno err (it returns -1, or MAP_FAILED). */
#define ASSERT_FAILS_WITH(ret_type, failed, call, err) do {		\
	ret_type _ret;							\
	int _err;							\
									\
	errno = 0;							\
	_ret = (call);							\
	_err = errno;							\
	ASSERT_TRUE(_ret == (failed))					\
		TH_LOG("%s succeeded, wanted errno %d (%s)",		\
		       #call, (err), strerror(err));			\
	ASSERT_EQ((err), _err)						\
		TH_LOG("%s: errno %d (%s), wanted %d (%s)", #call,	\
		       _err, strerror(_err), (err), strerror(err));	\
} while (0)

#define ASSERT_ERRNO(call, err) ASSERT_FAILS_WITH(long, -1L, call, err)
#define ASSERT_MAP_FAILS(call, err) ASSERT_FAILS_WITH(void *, MAP_FAILED, call, err)

FIXTURE(dev) {
	int fd;
	unsigned long long folios_at_setup;
};

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
	char path[PATH_MAX], buf[64];
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/class/p2p_pgmap_cdev/%s/device/p2p_pgmap/%s",
		 strrchr(node, '/') + 1, attr);
	f = fopen(path, "re");
	ASSERT_NE(NULL, f) TH_LOG("open %s: %s", path, strerror(errno));
	ASSERT_NE(NULL, fgets(buf, sizeof(buf), f)) TH_LOG("read %s", path);
	fclose(f);
	ASSERT_EQ(1, sscanf(buf, "%llu", &v)) TH_LOG("%s: not a number: %s", path, buf);
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

#define ASSERT_FOLIOS_RETURN_TO(want)					\
	ASSERT_EQ((want), settle_folios_in_use(_metadata, variant->node, (want))) \
		TH_LOG("folios_in_use does not come back")

static struct p2p_pgmap_info info(struct __test_metadata *_metadata, int fd)
{
	struct p2p_pgmap_info in;

	memset(&in, 0xff, sizeof(in));
	ASSERT_EQ(0, ioctl(fd, P2P_PGMAP_IOC_INFO, &in))
		TH_LOG("P2P_PGMAP_IOC_INFO: %s", strerror(errno));
	return in;
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
 * The host file behind the variant's BAR, opened with flags; -1 when the
 * test is to skip (the reason is recorded).
 */
static int bar_file(struct __test_metadata *_metadata,
		    const FIXTURE_VARIANT(dev) *variant, int flags)
{
	const char *first = getenv("P2P_VM_BAR_FILE");
	char path[512];	/* fits a skip reason */
	int fd;

	if (!first)
		SKIP(return -1, "P2P_VM_BAR_FILE not set: not in the test VM");
	snprintf(path, sizeof(path), "%s%s", first, variant->bar_suffix);
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT && variant->bar_suffix[0])
			SKIP(return -1, "no BAR file %s for %s", path, variant->node);
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

FIXTURE_SETUP(dev)
{
	struct stat st;

	page = sysconf(_SC_PAGESIZE);
	self->fd = -1;
	if (stat(variant->node, &st) && errno == ENOENT)
		SKIP(return, "%s does not exist", variant->node);
	self->fd = open_node(_metadata, variant->node);
	self->folios_at_setup = sysfs_attr(_metadata, variant->node, "folios_in_use");
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
	ASSERT_EQ(in.size, in.free_bytes + in.folios_in_use * page);
}

TEST_F(dev, write_reaches_bar_file)
{
	int bf = bar_file(_metadata, variant, O_RDONLY);
	struct p2p_pgmap_info in;
	size_t len = 4 * page;
	unsigned char *p, *want, *got;

	if (bf < 0)
		return;
	in = info(_metadata, self->fd);
	p = map(_metadata, self->fd, len, 0);
	want = malloc(len);
	got = malloc(len);
	ASSERT_TRUE(want && got);
	fill(want, len, 0x11 + getpid());	/* no earlier run's bytes match */
	memcpy(p, want, len);
	ASSERT_EQ((ssize_t)len, pread(bf, got, len, in.bar_offset));
	ASSERT_EQ(0, memcmp(want, got, len));
	free(want);
	free(got);
	close(bf);
}

TEST_F(dev, bar_file_write_visible_in_mapping)
{
	int bf = bar_file(_metadata, variant, O_RDWR);
	struct p2p_pgmap_info in;
	size_t len = 2 * page;
	volatile unsigned char *p;
	unsigned char *want, got[64];

	if (bf < 0)
		return;
	in = info(_metadata, self->fd);
	p = map(_metadata, self->fd, len, 0);
	want = malloc(len);
	ASSERT_NE(NULL, want);
	p[0] = 1;	/* fault in: the driver zeroes memory for a new user */
	p[page] = 1;
	fill(want, len, 0x5a + getpid());
	ASSERT_EQ((ssize_t)len, pwrite(bf, want, len, in.bar_offset));
	fsync(bf);
	for (size_t i = 0; i < sizeof(got); i++)
		got[i] = p[page + i];
	ASSERT_EQ(0, memcmp(want + page, got, sizeof(got)));
	free(want);
	close(bf);
}

TEST_F(dev, munmap_returns_every_folio)
{
	size_t n = 16, len = n * page;
	unsigned long long before = sysfs_attr(_metadata, variant->node, "folios_in_use");
	unsigned long long size = sysfs_attr(_metadata, variant->node, "size");
	volatile char *p = map(_metadata, self->fd, len, 0);

	for (size_t i = 0; i < n; i++)
		p[i * page] = 1;
	ASSERT_EQ(before + n, sysfs_attr(_metadata, variant->node, "folios_in_use"));
	ASSERT_EQ(size - (before + n) * page, info(_metadata, self->fd).free_bytes);
	ASSERT_EQ(0, munmap((void *)p, len));
	ASSERT_FOLIOS_RETURN_TO(before);
	ASSERT_EQ(size - before * page, info(_metadata, self->fd).free_bytes);
}

TEST_F(dev, untouched_mapping_takes_no_folio)
{
	unsigned long long before = sysfs_attr(_metadata, variant->node, "folios_in_use");
	void *p = map(_metadata, self->fd, 64 * page, 0);

	ASSERT_EQ(before, sysfs_attr(_metadata, variant->node, "folios_in_use"));
	ASSERT_EQ(0, munmap(p, 64 * page));
}

TEST_F(dev, fork_child_shares_memory)
{
	volatile unsigned int *p = map(_metadata, self->fd, page, 0);
	int status;
	pid_t pid;

	p[0] = 1;
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		p[1] = 0xc0ffee;
		_exit(p[0] == 1 ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(0xc0ffeeU, p[1]);
}

TEST_F(dev, two_processes_share_an_offset)
{
	int ready[2], done[2], status;
	volatile unsigned int *p;
	char c;
	pid_t pid;

	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(done));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* Its own open and its own mapping of the same offset. */
		volatile unsigned int *q;

		close(self->fd);
		q = map(_metadata, open_node(_metadata, variant->node), page, 0);
		q[7] = 0xfeed;
		if (write(ready[1], "x", 1) != 1)
			_exit(2);
		/* Keep the mapping until the parent has looked. */
		_exit(read(done[0], &c, 1) == 1 ? 0 : 3);
	}
	/* A child that dies before it is ready ends the read. */
	close(ready[1]);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	p = map(_metadata, self->fd, page, 0);
	ASSERT_EQ(0xfeedU, p[7]);
	ASSERT_EQ(1, write(done[1], "y", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(dev, new_mapper_never_sees_old_bytes)
{
	size_t len = 8 * page, i;
	unsigned long long before = sysfs_attr(_metadata, variant->node, "folios_in_use");
	unsigned char *p = map(_metadata, self->fd, len, 0);

	memset(p, 0xa5, len);
	ASSERT_EQ(0, munmap(p, len));
	ASSERT_FOLIOS_RETURN_TO(before);
	p = map(_metadata, self->fd, len, 0);
	for (i = 0; i < len && !p[i]; i++)
		;
	ASSERT_EQ(len, i)
		TH_LOG("byte %zu is %#x: a previous user's data", i, p[i]);
}

TEST_F(dev, file_offset_is_device_offset)
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
	ASSERT_ERRNO(ioctl(self->fd, _IO(0xBA, 0x7f)), ENOTTY);
}

TEST_F(dev, poll_quiet_while_live)
{
	struct pollfd pfd = { .fd = self->fd, .events = POLLIN | POLLOUT };

	ASSERT_EQ(0, poll(&pfd, 1, 0));
}

TEST_HARNESS_MAIN
