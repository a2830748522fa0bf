// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_pgmap_test - selftests of /dev/p2p_pgmapN, run in the test VM with
 * p2p_pgmap bound to the emulated device (tests/selftests/suite).
 *
 * P2P_PGMAP_DEV names the device (default /dev/p2p_pgmap0). P2P_VM_BAR_FILE
 * names the host file behind the device's BAR, which the test VM makes
 * visible (and writable) in the guest: tests that check bytes against it
 * skip without it.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>

#include <linux/p2p_pgmap.h>

#include "harness.h"

static long page;

static const char *dev_path(void)
{
	const char *p = getenv("P2P_PGMAP_DEV");

	return p ? p : "/dev/p2p_pgmap0";
}

static int open_dev(void)
{
	int fd = open(dev_path(), O_RDWR | O_CLOEXEC);

	if (fd < 0)
		FAIL("open %s: %s", dev_path(), strerror(errno));
	return fd;
}

static struct p2p_pgmap_info info(int fd)
{
	struct p2p_pgmap_info in;

	memset(&in, 0xff, sizeof(in));
	if (ioctl(fd, P2P_PGMAP_IOC_INFO, &in))
		FAIL("P2P_PGMAP_IOC_INFO: %s", strerror(errno));
	return in;
}

/* An attribute of the p2p_pgmap sysfs group of the device behind fd. */
static unsigned long long sysfs_attr(const char *attr)
{
	char path[PATH_MAX], buf[64];
	const char *name = strrchr(dev_path(), '/') + 1;
	unsigned long long v;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/class/p2p_pgmap_cdev/%s/device/p2p_pgmap/%s", name, attr);
	f = fopen(path, "r");
	if (!f)
		FAIL("open %s: %s", path, strerror(errno));
	if (!fgets(buf, sizeof(buf), f))
		FAIL("read %s", path);
	fclose(f);
	if (sscanf(buf, "%llu", &v) != 1)
		FAIL("%s: not a number: %s", path, buf);
	return v;
}

/*
 * Folios come back from page_free through a work item, a moment after the
 * last reference drops: wait for the count, with a generous bound so a slow
 * emulated guest does not fail, and a hang does.
 */
static void wait_folios_in_use(unsigned long long want)
{
	for (int i = 0; i < 1000; i++) {
		if (sysfs_attr("folios_in_use") == want)
			return;
		usleep(10000);
	}
	FAIL("folios_in_use stays %llu, wanted %llu", sysfs_attr("folios_in_use"), want);
}

static void *map(int fd, size_t len, off_t off)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off);

	if (p == MAP_FAILED)
		FAIL("mmap %zu bytes at %lld: %s", len, (long long)off, strerror(errno));
	return p;
}

static int bar_file(int flags)
{
	const char *p = getenv("P2P_VM_BAR_FILE");
	int fd;

	if (!p)
		SKIP("P2P_VM_BAR_FILE not set: not in the test VM");
	fd = open(p, flags | O_CLOEXEC);
	if (fd < 0) {
		if (flags != O_RDONLY && (errno == EROFS || errno == EACCES))
			SKIP("%s is not writable from the guest", p);
		FAIL("open %s: %s", p, strerror(errno));
	}
	return fd;
}

static void fill(unsigned char *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed + i * 7 + (i >> 12));
}

TEST(info_matches_sysfs)
{
	int fd = open_dev();
	struct p2p_pgmap_info in = info(fd);

	ASSERT_TRUE(in.size > 0);
	ASSERT_EQ(in.size, sysfs_attr("size"));
	ASSERT_EQ(in.bar, sysfs_attr("bar"));
	ASSERT_EQ(in.state, P2P_PGMAP_STATE_LIVE);
	ASSERT_EQ(in.page_size, page);
	ASSERT_EQ(in.free_bytes, sysfs_attr("free_bytes"));
	ASSERT_EQ(in.folios_in_use, sysfs_attr("folios_in_use"));
	ASSERT_EQ(in.free_bytes + in.folios_in_use * page, in.size);
}

TEST(write_reaches_bar_file)
{
	int fd = open_dev(), bf = bar_file(O_RDONLY);
	struct p2p_pgmap_info in = info(fd);
	size_t len = 4 * page;
	off_t off = 8 * page;
	unsigned char *p = map(fd, len, off), *want = malloc(len), *got = malloc(len);

	fill(want, len, 0x11);
	memcpy(p, want, len);
	ASSERT_EQ(pread(bf, got, len, in.bar_offset + off), len);
	ASSERT_TRUE(!memcmp(want, got, len));
}

TEST(bar_file_write_visible_in_mapping)
{
	int fd = open_dev(), bf = bar_file(O_RDWR);
	struct p2p_pgmap_info in = info(fd);
	size_t len = 2 * page;
	off_t off = 16 * page;
	volatile unsigned char *p = map(fd, len, off);
	unsigned char *want = malloc(len), got[64];

	p[0] = 1;	/* fault in: the driver zeroes memory for a new user */
	p[page] = 1;
	fill(want, len, 0x5a);
	ASSERT_EQ(pwrite(bf, want, len, in.bar_offset + off), len);
	fsync(bf);
	for (size_t i = 0; i < sizeof(got); i++)
		got[i] = p[page + i];
	ASSERT_TRUE(!memcmp(want + page, got, sizeof(got)));
}

TEST(munmap_returns_every_folio)
{
	int fd = open_dev();
	size_t n = 16, len = n * page;
	unsigned long long before = sysfs_attr("folios_in_use");
	volatile char *p = map(fd, len, 32 * page);

	for (size_t i = 0; i < n; i++)
		p[i * page] = 1;
	ASSERT_EQ(sysfs_attr("folios_in_use"), before + n);
	ASSERT_EQ(info(fd).free_bytes, sysfs_attr("size") - (before + n) * page);
	ASSERT_EQ(munmap((void *)p, len), 0);
	wait_folios_in_use(before);
	ASSERT_EQ(info(fd).free_bytes, sysfs_attr("size") - before * page);
}

TEST(untouched_mapping_takes_no_folio)
{
	int fd = open_dev();
	unsigned long long before = sysfs_attr("folios_in_use");
	void *p = map(fd, 64 * page, 64 * page);

	ASSERT_EQ(sysfs_attr("folios_in_use"), before);
	ASSERT_EQ(munmap(p, 64 * page), 0);
}

TEST(fork_child_shares_memory)
{
	int fd = open_dev(), status;
	volatile unsigned int *p = map(fd, page, 3 * page);
	pid_t pid;

	p[0] = 1;
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		p[1] = 0xc0ffee;
		_exit(p[0] == 1 ? 0 : 1);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ASSERT_EQ(p[1], 0xc0ffee);
}

TEST(two_processes_share_an_offset)
{
	int ready[2], done[2], status, fd;
	volatile unsigned int *p;
	char c;
	pid_t pid;

	ASSERT_EQ(pipe(ready), 0);
	ASSERT_EQ(pipe(done), 0);
	pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		/* Its own open and its own mapping of the same offset. */
		volatile unsigned int *q = map(open_dev(), page, 5 * page);

		q[7] = 0xfeed;
		if (write(ready[1], "x", 1) != 1)
			_exit(2);
		/* Keep the mapping until the parent has looked. */
		_exit(read(done[0], &c, 1) == 1 ? 0 : 3);
	}
	ASSERT_EQ(read(ready[0], &c, 1), 1);
	fd = open_dev();
	p = map(fd, page, 5 * page);
	ASSERT_EQ(p[7], 0xfeed);
	ASSERT_EQ(write(done[1], "y", 1), 1);
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(new_mapper_never_sees_old_bytes)
{
	int fd = open_dev();
	size_t len = 8 * page;
	off_t off = 128 * page;
	unsigned long long before = sysfs_attr("folios_in_use");
	unsigned char *p = map(fd, len, off);

	memset(p, 0xa5, len);
	ASSERT_EQ(munmap(p, len), 0);
	wait_folios_in_use(before);
	p = map(fd, len, off);
	for (size_t i = 0; i < len; i++)
		if (p[i])
			FAIL("byte %zu is %#x: a previous user's data", i, p[i]);
}

TEST(file_offset_is_device_offset)
{
	int fd = open_dev();
	unsigned int *whole = map(fd, 4 * page, 200 * page);
	unsigned int *one = map(fd, page, 202 * page);

	whole[2 * page / sizeof(int)] = 0x12345678;
	ASSERT_EQ(one[0], 0x12345678);
}

TEST(private_mapping_rejected)
{
	int fd = open_dev();

	ASSERT_MAP_FAILS(mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), EINVAL);
}

TEST(exec_mapping_rejected)
{
	int fd = open_dev();

	ASSERT_MAP_FAILS(mmap(NULL, page, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0), EPERM);
}

TEST(mprotect_exec_rejected)
{
	int fd = open_dev();
	void *p = map(fd, page, 0);

	ASSERT_ERRNO(mprotect(p, page, PROT_READ | PROT_EXEC), EACCES);
}

TEST(offset_beyond_device_rejected)
{
	int fd = open_dev();
	off_t size = info(fd).size;

	ASSERT_MAP_FAILS(mmap(NULL, page, PROT_READ, MAP_SHARED, fd, size), EINVAL);
	ASSERT_MAP_FAILS(mmap(NULL, page, PROT_READ, MAP_SHARED, fd, size * 4), EINVAL);
}

TEST(length_beyond_device_rejected)
{
	int fd = open_dev();
	off_t size = info(fd).size;

	ASSERT_MAP_FAILS(mmap(NULL, size + page, PROT_READ, MAP_SHARED, fd, 0), EINVAL);
	ASSERT_MAP_FAILS(mmap(NULL, 2 * page, PROT_READ, MAP_SHARED, fd, size - page), EINVAL);
}

TEST(unaligned_offset_rejected)
{
	int fd = open_dev();

	ASSERT_MAP_FAILS(mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 100), EINVAL);
}

TEST(mremap_growth_rejected)
{
	int fd = open_dev();
	void *p = map(fd, page, 0);

	ASSERT_MAP_FAILS(mremap(p, page, 4 * page, MREMAP_MAYMOVE), EFAULT);
}

TEST(unknown_ioctl_rejected)
{
	int fd = open_dev();

	ASSERT_ERRNO(ioctl(fd, _IO(0xBA, 0x7f)), ENOTTY);
}

TEST(poll_quiet_while_live)
{
	struct pollfd pfd = { .fd = open_dev(), .events = POLLIN | POLLOUT };

	ASSERT_EQ(poll(&pfd, 1, 0), 0);
}

int main_setup(void) __attribute__((constructor));
int main_setup(void)
{
	page = sysconf(_SC_PAGESIZE);
	return 0;
}
