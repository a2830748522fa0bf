// SPDX-License-Identifier: GPL-2.0
/*
 * p2p-pgmap - the everyday tasks of p2p_pgmap on a real machine: list the
 * bound devices, show one with its owners, bind and unbind a PCI device,
 * remove one and say what the remove waited for, check that a device
 * works, and export device memory as a dma-buf for another program. See
 * p2p-pgmap(1) and `p2p-pgmap --help`.
 *
 * Everything goes through sysfs, the kernel log and the device nodes; the
 * command needs root for all but list, show, selftest and export (which
 * need permission to read sysfs and to open the node).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/p2p_pgmap.h>

#include "p2p_pgmap_placement.h"

#ifndef P2P_PGMAP_VERSION
#define P2P_PGMAP_VERSION "unknown"
#endif

#define PCI_DEVICES	"/sys/bus/pci/devices"
#define PCI_DRIVERS	"/sys/bus/pci/drivers"
#define CLASS_DIR	"/sys/class/p2p_pgmap_cdev"
#define PARAMS_DIR	"/sys/module/p2p_pgmap/parameters"
#define DRIVER		"p2p_pgmap"

static const char *prog = "p2p-pgmap";

static void usage(FILE *out)
{
	fprintf(out,
		"usage: p2p-pgmap COMMAND [ARGS]\n"
		"\n"
		"  list [--json]             every bound device: node, PCI address, ids, BAR,\n"
		"                            size, free, in use, P2PDMA provider, state\n"
		"  show DEV [--json]         one device, and the open files that own its memory\n"
		"  bind BDF [--bar N] [--offset BYTES] [--size BYTES] [--force]\n"
		"                            bind a PCI device to p2p_pgmap (driver_override);\n"
		"                            --force takes it from the driver that holds it\n"
		"  unbind BDF                give a device back (and clear driver_override)\n"
		"  remove BDF [--timeout S]  remove the device from the PCI bus (default 600 s)\n"
		"                            and print the driver's account of the remove\n"
		"  selftest DEV              map, write, read back; check zeroing, isolation,\n"
		"                            accounting and placement\n"
		"  export [-d DEV] [--offset BYTES] --len BYTES [--read-only]\n"
		"         [--hold SECONDS | -- CMD [ARG...]]\n"
		"                            open DEV (default /dev/p2p_pgmap0), export that new\n"
		"                            file's memory at [offset, offset + len) as a dma-buf\n"
		"                            (read-write unless --read-only) and print\n"
		"                              fd=N size=BYTES\n"
		"                              range offset=0x.. bar_offset=0x.. len=0x..\n"
		"                            (a range line per contiguous run in the BAR, at\n"
		"                            file offsets); then close DEV and keep the dma-buf\n"
		"                            for --hold SECONDS, or run CMD with it inherited,\n"
		"                            its fd number in $P2P_PGMAP_DMABUF_FD\n"
		"  --version, --help\n"
		"\n"
		"DEV is /dev/p2p_pgmapN, p2p_pgmapN, N or the PCI address of a bound device\n"
		"(export opens a DEV with a '/' as it is); BDF is a PCI address (0000:01:00.0);\n"
		"export's BYTES take a K, M or G suffix (KiB, MiB, GiB). Exit status: 0 done,\n"
		"1 failed, 2 usage; with -- CMD, that of CMD (126, 127: CMD could not be run).\n");
}

static void vsay(const char *fmt, va_list ap, const char *tail)
{
	fprintf(stderr, "%s: ", prog);
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "%s\n", tail);
}

static void __attribute__((format(printf, 1, 2))) die_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap, " (see p2p-pgmap --help)");
	va_end(ap);
	exit(2);
}

static void __attribute__((format(printf, 1, 2))) say_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap, "");
	va_end(ap);
}

/* The first line of a sysfs file, without its newline; false on error. */
static bool read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, size, f) != NULL;
	fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = 0;
	return ok;
}

static bool write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s);
}

static unsigned long long attr_u64(const char *bdf, const char *attr)
{
	char path[PATH_MAX], buf[64];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2p_pgmap/%s", bdf, attr);
	return read_line(path, buf, sizeof(buf)) ? strtoull(buf, NULL, 0) : 0;
}

static void attr_str(const char *bdf, const char *attr, char *buf, size_t size)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2p_pgmap/%s", bdf, attr);
	if (!read_line(path, buf, size))
		snprintf(buf, size, "?");
}

/* The driver a PCI device is bound to, "" when none; false if no device. */
static bool driver_of(const char *bdf, char *buf, size_t size)
{
	char path[PATH_MAX], link[PATH_MAX];
	struct stat st;
	ssize_t n;

	snprintf(path, sizeof(path), PCI_DEVICES "/%s", bdf);
	if (stat(path, &st))
		return false;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver", bdf);
	n = readlink(path, link, sizeof(link) - 1);
	buf[0] = 0;
	if (n > 0) {
		link[n] = 0;
		snprintf(buf, size, "%s", strrchr(link, '/') + 1);
	}
	return true;
}

/* The node name (p2p_pgmapN) of a bound device, "" when it has none. */
static void node_of(const char *bdf, char *buf, size_t size)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	buf[0] = 0;
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2p_pgmap_cdev", bdf);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "p2p_pgmap", 9) && strlen(de->d_name) < size)
			memcpy(buf, de->d_name, strlen(de->d_name) + 1);
	closedir(d);
}

/* The PCI address behind a node name, false when there is no such node. */
static bool bdf_of_node(const char *node, char *bdf, size_t size)
{
	char path[PATH_MAX], link[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), CLASS_DIR "/%s/device", node);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = 0;
	snprintf(bdf, size, "%s", strrchr(link, '/') + 1);
	return true;
}

/* DEV as the user wrote it -> the device's PCI address and node name. */
static bool resolve_dev(const char *dev, char *bdf, char *node, size_t size)
{
	char name[64];
	const char *base = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;

	if (strchr(base, ':')) {
		snprintf(bdf, size, "%s", base);
		node_of(bdf, node, size);
		return node[0] != 0;
	}
	if (base[0] >= '0' && base[0] <= '9')
		snprintf(name, sizeof(name), "p2p_pgmap%s", base);
	else
		snprintf(name, sizeof(name), "%s", base);
	snprintf(node, size, "%s", name);
	return bdf_of_node(name, bdf, size);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

struct dev_info {
	char bdf[64], node[64], vendor[16], device[16], state[16];
	unsigned long long size, free, in_use, mapped, pinned_only, dirty, file_limit;
	int bar, p2pdma;
};

static void get_info(const char *bdf, const char *node, struct dev_info *d)
{
	char path[PATH_MAX];

	memset(d, 0, sizeof(*d));
	snprintf(d->bdf, sizeof(d->bdf), "%s", bdf);
	snprintf(d->node, sizeof(d->node), "%s", node);
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/vendor", bdf);
	if (!read_line(path, d->vendor, sizeof(d->vendor)))
		snprintf(d->vendor, sizeof(d->vendor), "?");
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/device", bdf);
	if (!read_line(path, d->device, sizeof(d->device)))
		snprintf(d->device, sizeof(d->device), "?");
	attr_str(bdf, "state", d->state, sizeof(d->state));
	d->size = attr_u64(bdf, "size");
	d->free = attr_u64(bdf, "free_bytes");
	d->in_use = attr_u64(bdf, "folios_in_use");
	d->mapped = attr_u64(bdf, "mapped_bytes");
	d->pinned_only = attr_u64(bdf, "pinned_only_bytes");
	d->dirty = attr_u64(bdf, "dirty_bytes");
	if (read_line("/sys/module/p2p_pgmap/parameters/file_limit", path, sizeof(path)))
		d->file_limit = strtoull(path, NULL, 10);
	d->bar = (int)attr_u64(bdf, "bar");
	d->p2pdma = (int)attr_u64(bdf, "p2pdma");
}

static void print_json(const struct dev_info *d)
{
	printf("{\"node\":");
	json_str(d->node);
	printf(",\"pci\":");
	json_str(d->bdf);
	printf(",\"vendor\":");
	json_str(d->vendor);
	printf(",\"device\":");
	json_str(d->device);
	printf(",\"bar\":%d,\"size\":%llu,\"free_bytes\":%llu,\"folios_in_use\":%llu,"
	       "\"mapped_bytes\":%llu,\"pinned_only_bytes\":%llu,\"dirty_bytes\":%llu,"
	       "\"file_limit\":%llu,\"p2pdma\":%s,\"state\":",
	       d->bar, d->size, d->free, d->in_use, d->mapped, d->pinned_only, d->dirty,
	       d->file_limit, d->p2pdma ? "true" : "false");
	json_str(d->state);
	putchar('}');
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_list(int argc, char **argv)
{
	bool json = argc == 2 && !strcmp(argv[1], "--json");
	char *names[256];
	struct dirent *de;
	int n = 0, shown = 0, i;
	DIR *d;

	if (argc > 2 || (argc == 2 && !json))
		die_usage("list takes only --json");
	d = opendir(CLASS_DIR);
	while (d && (de = readdir(d)) && n < 256)
		if (!strncmp(de->d_name, "p2p_pgmap", 9) && (names[n] = strdup(de->d_name)))
			n++;
	if (d)
		closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	if (json)
		printf("[");
	else if (n)
		printf("%-12s %-13s %-9s %3s %10s %10s %7s %-7s %s\n", "NODE", "PCI", "ID", "BAR",
		       "SIZE", "FREE", "IN USE", "P2PDMA", "STATE");
	for (i = 0; i < n; i++) {
		struct dev_info info;
		char bdf[64];

		/* A node that went away since the folder was read is left out. */
		if (!bdf_of_node(names[i], bdf, sizeof(bdf))) {
			free(names[i]);
			continue;
		}
		get_info(bdf, names[i], &info);
		if (json) {
			if (shown++)
				putchar(',');
			print_json(&info);
		} else {
			printf("%-12s %-13s %s:%s %3d %9lluM %9lluM %7llu %-7s %s\n",
			       info.node, info.bdf, info.vendor + 2, info.device + 2, info.bar,
			       info.size >> 20, info.free >> 20, info.in_use,
			       info.p2pdma ? "yes" : "no", info.state);
		}
		free(names[i]);
	}
	if (json)
		printf("]\n");
	else if (!n)
		printf("no device is bound to p2p_pgmap (p2p-pgmap bind BDF binds one)\n");
	return 0;
}

static int cmd_show(int argc, char **argv)
{
	bool json = argc == 3 && !strcmp(argv[2], "--json");
	char bdf[64], node[64], path[PATH_MAX], line[512];
	struct dev_info info;
	bool first = true;
	FILE *f;

	if (argc < 2 || argc > 3 || (argc == 3 && !json))
		die_usage("show takes DEV [--json]");
	if (!resolve_dev(argv[1], bdf, node, sizeof(bdf))) {
		say_err("no p2p_pgmap device '%s' (p2p-pgmap list shows them)", argv[1]);
		return 1;
	}
	get_info(bdf, node, &info);
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/p2p_pgmap/owners", bdf);
	f = fopen(path, "re");
	if (json) {
		printf("{\"device\":");
		print_json(&info);
		printf(",\"owners\":[");
	} else {
		printf("%s: %s, %s:%s, BAR %d, %llu MiB, %llu MiB free, %llu folios in use\n",
		       node, bdf, info.vendor + 2, info.device + 2, info.bar, info.size >> 20,
		       info.free >> 20, info.in_use);
		printf("  mapped %llu bytes, held only by pins %llu bytes, P2PDMA provider: %s, state %s\n",
		       info.mapped, info.pinned_only, info.p2pdma ? "yes" : "no", info.state);
		printf("  free and not zeroed yet %llu bytes; ", info.dirty);
		if (info.file_limit)
			printf("each file may hold %llu bytes (file_limit)\n", info.file_limit);
		else
			printf("no limit on what one file holds (file_limit 0)\n");
		printf("owners (open files, and closed ones whose memory pins hold; held counts toward file_limit):\n");
	}
	while (f && fgets(line, sizeof(line), f)) {
		int pid;
		char state[16], comm[64] = "";
		unsigned long long held, mapped, pinned;

		line[strcspn(line, "\n")] = 0;
		if (sscanf(line, "pid=%d file=%15s held=%llu mapped=%llu pinned=%llu comm=%63[^\n]",
			   &pid, state, &held, &mapped, &pinned, comm) != 6) {
			if (!json)
				printf("  %s\n", line);
			continue;
		}
		if (json) {
			printf("%s{\"pid\":%d,\"file\":", first ? "" : ",", pid);
			json_str(state);
			printf(",\"held\":%llu,\"mapped\":%llu,\"pinned\":%llu,\"comm\":",
			       held, mapped, pinned);
			json_str(comm);
			putchar('}');
		} else {
			printf("  pid %d (%s), file %s: %llu bytes held, %llu mapped, %llu pinned\n",
			       pid, comm, state, held, mapped, pinned);
		}
		first = false;
	}
	if (f)
		fclose(f);
	if (json)
		printf("]}\n");
	else if (first)
		printf("  none\n");
	return 0;
}

static bool is_bdf(const char *s)
{
	unsigned int dom, bus, dev, fn;
	char end;

	return sscanf(s, "%4x:%2x:%2x.%1x%c", &dom, &bus, &dev, &fn, &end) == 4;
}

/* Run a program and wait for it; its exit status, or -1. */
static int run(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static bool wait_bound(const char *bdf, bool want, int tenths)
{
	char drv[64];

	for (int i = 0; i < tenths; i++) {
		if (driver_of(bdf, drv, sizeof(drv)) && !strcmp(drv, DRIVER) == want)
			return true;
		usleep(100000);
	}
	return false;
}

static int set_param(const char *name, const char *value)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), PARAMS_DIR "/%s", name);
	if (write_str(path, value))
		return 0;
	say_err("cannot set the module parameter %s to %s: %s", name, value, strerror(errno));
	return 1;
}

static int cmd_bind(int argc, char **argv)
{
	const char *bdf, *bar = NULL, *offset = NULL, *size = NULL;
	char drv[64], path[PATH_MAX], node[64];
	bool force = false;
	struct stat st;

	if (argc < 2 || !is_bdf(argv[1]))
		die_usage("bind takes a PCI address (0000:01:00.0)");
	bdf = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--force"))
			force = true;
		else if (!strcmp(argv[i], "--bar") && i + 1 < argc)
			bar = argv[++i];
		else if (!strcmp(argv[i], "--offset") && i + 1 < argc)
			offset = argv[++i];
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = argv[++i];
		else
			die_usage("bind: unknown or incomplete option '%s'", argv[i]);
	}
	if (!driver_of(bdf, drv, sizeof(drv))) {
		say_err("no PCI device %s (lspci -D lists them)", bdf);
		return 1;
	}
	if (!strcmp(drv, DRIVER)) {
		node_of(bdf, node, sizeof(node));
		printf("%s is bound to p2p_pgmap already: /dev/%s\n", bdf, node);
		return 0;
	}
	if (drv[0] && !force) {
		say_err("%s is bound to %s: unbind it first, or pass --force to take it from %s",
			bdf, drv, drv);
		return 1;
	}
	if (stat(PCI_DRIVERS "/" DRIVER, &st)) {
		char *modprobe[] = { "modprobe", DRIVER, NULL };

		if (run(modprobe)) {
			say_err("modprobe p2p_pgmap failed: is the module installed (the p2p-pgmap-dkms package, which make deb builds)?");
			return 1;
		}
	}
	if ((bar && set_param("bar", bar)) || (offset && set_param("offset", offset)) ||
	    (size && set_param("size", size)))
		return 1;
	if (drv[0]) {
		snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver/unbind", bdf);
		if (!write_str(path, bdf)) {
			say_err("cannot unbind %s from %s: %s", bdf, drv, strerror(errno));
			return 1;
		}
	}
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver_override", bdf);
	if (!write_str(path, DRIVER)) {
		say_err("cannot set %s: %s", path, strerror(errno));
		return 1;
	}
	/* A probe that fails makes this write fail: the driver says why. */
	write_str(PCI_DRIVERS "_probe", bdf);
	if (!wait_bound(bdf, true, 50)) {
		say_err("p2p_pgmap did not bind %s: its reason is in the kernel log (dmesg | grep %s)",
			bdf, bdf);
		write_str(path, "\n");
		return 1;
	}
	for (int i = 0; i < 50; i++) {
		node_of(bdf, node, sizeof(node));
		if (node[0])
			break;
		usleep(100000);
	}
	printf("%s bound to p2p_pgmap: /dev/%s\n", bdf, node);
	return 0;
}

static int cmd_unbind(int argc, char **argv)
{
	char drv[64], path[PATH_MAX];

	if (argc != 2 || !is_bdf(argv[1]))
		die_usage("unbind takes a PCI address (0000:01:00.0)");
	if (!driver_of(argv[1], drv, sizeof(drv))) {
		say_err("no PCI device %s", argv[1]);
		return 1;
	}
	if (strcmp(drv, DRIVER)) {
		say_err("%s is not bound to p2p_pgmap (%s)", argv[1],
			drv[0] ? drv : "no driver");
		return 1;
	}
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver/unbind", argv[1]);
	if (!write_str(path, argv[1])) {
		say_err("cannot unbind %s: %s", argv[1], strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/driver_override", argv[1]);
	write_str(path, "\n");
	printf("%s unbound from p2p_pgmap\n", argv[1]);
	return 0;
}

/*
 * Print the kernel log records from @fd (opened at its end before the
 * remove) of the device: those that name its PCI address (the driver's
 * account of the remove) or its node (who held memory while it waited).
 */
static void print_klog(int fd, const char *bdf, const char *node)
{
	char rec[8192], tag[80];
	ssize_t n;

	snprintf(tag, sizeof(tag), "%s:", node);

	if (fd < 0)
		return;
	while ((n = read(fd, rec, sizeof(rec) - 1)) > 0 || (n < 0 && errno == EPIPE)) {
		char *msg;

		if (n < 0)
			continue;	/* records overwritten meanwhile */
		rec[n] = 0;
		msg = strchr(rec, ';');
		if (msg && (strstr(msg, bdf) || (node[0] && strstr(msg, tag))))
			printf("  kernel: %s", msg + 1);
	}
}

static int cmd_remove(int argc, char **argv)
{
	const char *bdf;
	char path[PATH_MAX], drv[64], node[64];
	int timeout = 600, kmsg, status;
	time_t start;
	pid_t pid;

	if (argc < 2 || !is_bdf(argv[1]))
		die_usage("remove takes a PCI address (0000:01:00.0)");
	bdf = argv[1];
	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
			timeout = atoi(argv[++i]);
		else
			die_usage("remove: unknown or incomplete option '%s'", argv[i]);
	}
	if (timeout <= 0)
		die_usage("remove: --timeout takes a number of seconds");
	if (!driver_of(bdf, drv, sizeof(drv))) {
		say_err("no PCI device %s", bdf);
		return 1;
	}
	node_of(bdf, node, sizeof(node));
	kmsg = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (kmsg >= 0)
		lseek(kmsg, 0, SEEK_END);

	/* The write blocks until remove is done: a child makes it. */
	snprintf(path, sizeof(path), PCI_DEVICES "/%s/remove", bdf);
	pid = fork();
	if (pid < 0) {
		say_err("fork: %s", strerror(errno));
		return 1;
	}
	if (!pid)
		_exit(write_str(path, "1") ? 0 : 1);
	start = time(NULL);
	printf("removing %s (%s)...\n", bdf, node[0] ? node : drv[0] ? drv : "no driver");
	fflush(stdout);
	for (;;) {
		pid_t done = waitpid(pid, &status, WNOHANG);

		if (done == pid)
			break;
		if (time(NULL) - start >= timeout) {
			printf("remove still waiting after %d s (it goes on in the kernel); it waits for:\n",
			       timeout);
			print_klog(kmsg, bdf, node);
			return 1;
		}
		sleep(1);
	}
	print_klog(kmsg, bdf, node);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		say_err("remove of %s failed", bdf);
		return 1;
	}
	printf("%s removed in %ld s (echo 1 > /sys/bus/pci/rescan brings it back)\n", bdf,
	       (long)(time(NULL) - start));
	return 0;
}

static int checks_failed;

static void check(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (!ok)
		checks_failed++;
}

static struct p2p_pgmap_info dev_info_of(int fd)
{
	struct p2p_pgmap_info in;

	memset(&in, 0, sizeof(in));
	if (ioctl(fd, P2P_PGMAP_IOC_INFO, &in))
		memset(&in, 0, sizeof(in));
	return in;
}

static int cmd_selftest(int argc, char **argv)
{
	char bdf[64], node[64], path[80];
	struct p2p_pgmap_info in;
	struct p2p_pgmap_range r[64];
	struct p2p_pgmap_placement pl = { 0 };
	struct p2p_pgmap_punch ph = { 0 };
	size_t len, i, covered = 0;
	unsigned char *p, *q;
	int fd, fd2;

	if (argc != 2)
		die_usage("selftest takes DEV");
	if (!resolve_dev(argv[1], bdf, node, sizeof(bdf))) {
		say_err("no p2p_pgmap device '%s' (p2p-pgmap list shows them)", argv[1]);
		return 1;
	}
	snprintf(path, sizeof(path), "/dev/%s", node);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		say_err("open %s: %s", path, strerror(errno));
		return 1;
	}
	in = dev_info_of(fd);
	check(in.size && in.state == P2P_PGMAP_STATE_LIVE, "%s (%s) is live: %llu bytes, %llu free",
	      path, bdf, (unsigned long long)in.size, (unsigned long long)in.free_bytes);
	len = 1 << 20;
	if (in.free_bytes < len) {
		say_err("%s has %llu bytes free, the selftest needs 1 MiB", path,
			(unsigned long long)in.free_bytes);
		return 1;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		say_err("mmap of 1 MiB of %s: %s", path, strerror(errno));
		return 1;
	}
	check(dev_info_of(fd).file_held_bytes == 0, "a mapping takes no memory before it is touched");
	for (i = 0; i < len && !p[i]; i++)
		;
	check(i == len, "new memory reads zeroes");
	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(i * 7 + 3);
	for (i = 0; i < len && p[i] == (unsigned char)(i * 7 + 3); i++)
		;
	check(i == len, "1 MiB written and read back");
	in = dev_info_of(fd);
	check(in.file_held_bytes == len && in.file_mapped_bytes == len,
	      "this file holds and maps 1 MiB (info ioctl: held %llu, mapped %llu)",
	      (unsigned long long)in.file_held_bytes, (unsigned long long)in.file_mapped_bytes);
	pl.len = len;
	pl.ranges = (uintptr_t)r;
	pl.nr_ranges = 64;
	if (!ioctl(fd, P2P_PGMAP_IOC_PLACEMENT, &pl))
		for (i = 0; i < pl.nr_ranges; i++)
			if (r[i].bar_offset >= in.bar_offset &&
			    r[i].bar_offset + r[i].len <= in.bar_offset + in.size)
				covered += r[i].len;
	check(covered == len, "placement: the memory sits in %u run(s) within the BAR",
	      pl.nr_ranges);
	fd2 = open(path, O_RDWR | O_CLOEXEC);
	q = fd2 < 0 ? MAP_FAILED : mmap(NULL, len, PROT_READ, MAP_SHARED, fd2, 0);
	for (i = 0; q != MAP_FAILED && i < len && !q[i]; i++)
		;
	check(q != MAP_FAILED && i == len, "another open file of the device reads zeroes at the same offset");
	if (q != MAP_FAILED)
		munmap(q, len);
	if (fd2 >= 0)
		close(fd2);
	munmap(p, len);
	check(dev_info_of(fd).file_held_bytes == len,
	      "after munmap the file still holds its memory, as a memfd would");
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	for (i = 0; p != MAP_FAILED && i < len && p[i] == (unsigned char)(i * 7 + 3); i++)
		;
	check(p != MAP_FAILED && i == len, "mapped again, the same bytes");
	ph.len = len;
	check(!ioctl(fd, P2P_PGMAP_IOC_PUNCH_HOLE, &ph) && !dev_info_of(fd).file_held_bytes,
	      "the punch-hole ioctl gives it back to the device");
	for (i = 0; p != MAP_FAILED && i < len && !p[i]; i++)
		;
	check(p != MAP_FAILED && i == len, "and the range reads zeroes");
	if (p != MAP_FAILED)
		munmap(p, len);
	close(fd);
	printf("%s: %s\n", path, checks_failed ? "FAILED" : "works");
	return checks_failed ? 1 : 0;
}

/* BYTES, with an optional K, M or G suffix (KiB, MiB, GiB); false if malformed. */
static bool parse_bytes(const char *s, unsigned long long *out)
{
	unsigned long long v, mul = 1;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno)
		return false;
	if (*end == 'K' || *end == 'k')
		mul = 1ULL << 10;
	else if (*end == 'M' || *end == 'm')
		mul = 1ULL << 20;
	else if (*end == 'G' || *end == 'g')
		mul = 1ULL << 30;
	if (mul > 1)
		end++;
	if (*end || v > ULLONG_MAX / mul)
		return false;
	*out = v * mul;
	return true;
}

/*
 * Open the node of DEV for export: a path (anything with a '/') as it is,
 * any other DEV as show resolves it. The fd, or -1 after saying why.
 */
static int open_node(const char *dev, char *path, size_t size)
{
	char bdf[64], node[64];
	int fd;

	if (strchr(dev, '/')) {
		snprintf(path, size, "%s", dev);
	} else if (resolve_dev(dev, bdf, node, sizeof(bdf))) {
		snprintf(path, size, "/dev/%s", node);
	} else {
		say_err("no p2p_pgmap device '%s' (p2p-pgmap list shows them)", dev);
		return -1;
	}
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT)
		say_err("open %s: %s: no device is bound to p2p_pgmap there (p2p-pgmap list shows the bound ones, p2p-pgmap bind BDF binds one)",
			path, strerror(errno));
	else if (errno == EACCES || errno == EPERM)
		say_err("open %s: %s: it takes root, or the group p2p_pgmap with the udev rules of the p2p-pgmap-tools package",
			path, strerror(errno));
	else
		say_err("open %s: %s", path, strerror(errno));
	return -1;
}

/* Say why P2P_PGMAP_IOC_EXPORT failed with @err, in the header's terms. */
static void explain_export_failure(int fd, const char *path, const struct p2p_pgmap_export *ex,
				   int err)
{
	struct p2p_pgmap_info in = dev_info_of(fd);
	char what[PATH_MAX + 96];

	snprintf(what, sizeof(what), "export of %#llx bytes at offset %#llx of %s as a dma-buf",
		 (unsigned long long)ex->len, (unsigned long long)ex->offset, path);
	switch (err) {
	case EINVAL:
		say_err("%s: %s: offset and length must be multiples of the page size (%ld bytes), the length not zero, and offset + length within the device's %llu bytes",
			what, strerror(err), sysconf(_SC_PAGESIZE), (unsigned long long)in.size);
		break;
	case EDQUOT:
		if (in.file_limit)
			say_err("%s: %s: one open file may hold at most %llu bytes (the module parameter file_limit)",
				what, strerror(err), (unsigned long long)in.file_limit);
		else
			say_err("%s: %s: more than one open file may hold (the module parameter file_limit)",
				what, strerror(err));
		break;
	case ENOSPC:
		say_err("%s: %s: the device has not enough free memory (%llu of %llu bytes free; p2p-pgmap show lists who holds the rest)",
			what, strerror(err), (unsigned long long)in.free_bytes,
			(unsigned long long)in.size);
		break;
	case ENXIO:
		say_err("%s: %s: the device is going away (being removed or unbound)", what,
			strerror(err));
		break;
	case ENOTTY:
		if (in.size)
			say_err("%s: %s: the loaded p2p_pgmap driver is too old for dma-buf export (no P2P_PGMAP_IOC_EXPORT); load one of this version",
				what, strerror(err));
		else
			say_err("%s: %s: %s is not a p2p_pgmap device", what, strerror(err), path);
		break;
	default:
		say_err("%s: %s", what, strerror(err));
	}
}

static int print_range(const struct p2p_pgmap_range *run, void *arg)
{
	fprintf(arg, "range offset=%#llx bar_offset=%#llx len=%#llx\n", (unsigned long long)run->offset,
	       (unsigned long long)run->bar_offset, (unsigned long long)run->len);
	return 0;
}

static int cmd_export(int argc, char **argv)
{
	const char *dev = "/dev/p2p_pgmap0";
	unsigned long long offset = 0, len = 0;
	struct p2p_pgmap_export ex = { 0 };
	bool have_len = false, read_only = false;
	char path[PATH_MAX], **cmd = NULL, *ranges = NULL;
	unsigned int hold = 0;
	size_t ranges_len = 0;
	FILE *out;
	off_t size;
	int fd, err, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			cmd = argv + i + 1;
			break;
		} else if (!strcmp(argv[i], "--read-only")) {
			read_only = true;
		} else if ((!strcmp(argv[i], "-d") || !strcmp(argv[i], "--dev")) && i + 1 < argc) {
			dev = argv[++i];
		} else if (!strcmp(argv[i], "--offset") && i + 1 < argc) {
			if (!parse_bytes(argv[++i], &offset))
				die_usage("export: --offset takes BYTES, not '%s'", argv[i]);
		} else if (!strcmp(argv[i], "--len") && i + 1 < argc) {
			if (!parse_bytes(argv[++i], &len))
				die_usage("export: --len takes BYTES, not '%s'", argv[i]);
			have_len = true;
		} else if (!strcmp(argv[i], "--hold") && i + 1 < argc) {
			unsigned long long s;
			char *end;

			i++;
			errno = 0;
			s = strtoull(argv[i], &end, 10);
			if (argv[i][0] < '0' || argv[i][0] > '9' || *end || errno || !s ||
			    s > UINT_MAX)
				die_usage("export: --hold takes a number of seconds, not '%s'", argv[i]);
			hold = (unsigned int)s;
		} else {
			die_usage("export: unknown or incomplete option '%s'", argv[i]);
		}
	}
	if (!have_len)
		die_usage("export needs --len BYTES");
	if (!len)
		die_usage("export: --len must not be zero");
	if (cmd && !cmd[0])
		die_usage("export: -- takes a command to run");
	if (cmd && hold)
		die_usage("export: --hold and -- CMD exclude each other");

	fd = open_node(dev, path, sizeof(path));
	if (fd < 0)
		return 1;
	ex.offset = offset;
	ex.len = len;
	ex.flags = P2P_PGMAP_EXPORT_READ | (read_only ? 0 : P2P_PGMAP_EXPORT_WRITE) |
		   (cmd ? P2P_PGMAP_EXPORT_NO_CLOEXEC : 0);
	ex.fd = -1;
	if (ioctl(fd, P2P_PGMAP_IOC_EXPORT, &ex)) {
		explain_export_failure(fd, path, &ex, errno);
		close(fd);
		return 1;
	}
	/* A dma-buf's size is where SEEK_END takes it. */
	size = lseek(ex.fd, 0, SEEK_END);
	if (size < 0 || (unsigned long long)size != len) {
		if (size < 0)
			say_err("lseek(SEEK_END) on the exported fd %d: %s: it is no dma-buf",
				ex.fd, strerror(errno));
		else
			say_err("the exported dma-buf (fd %d) has %lld bytes, not the %llu exported",
				ex.fd, (long long)size, len);
		goto fail;
	}
	/* The range lines are gathered first: a failure prints nothing on stdout. */
	out = open_memstream(&ranges, &ranges_len);
	if (!out) {
		say_err("open_memstream: %s", strerror(errno));
		goto fail;
	}
	rc = p2p_pgmap_for_each_run(fd, offset, len, print_range, out);
	err = errno;
	fclose(out);
	if (rc) {
		say_err("P2P_PGMAP_IOC_PLACEMENT on %s: %s", path, strerror(err));
		free(ranges);
		goto fail;
	}
	printf("fd=%d size=%lld\n%s", ex.fd, (long long)size, ranges);
	free(ranges);
	if (fflush(stdout)) {
		say_err("writing to stdout: %s", strerror(errno));
		goto fail;
	}
	/* From here on only the dma-buf holds the memory. */
	close(fd);
	if (hold) {
		while ((hold = sleep(hold)))
			;
	} else if (cmd) {
		char num[16];

		snprintf(num, sizeof(num), "%d", ex.fd);
		if (setenv("P2P_PGMAP_DMABUF_FD", num, 1)) {
			say_err("setenv P2P_PGMAP_DMABUF_FD: %s", strerror(errno));
			close(ex.fd);
			return 1;
		}
		execvp(cmd[0], cmd);
		err = errno;
		say_err("cannot run %s: %s", cmd[0], strerror(err));
		close(ex.fd);
		return err == ENOENT ? 127 : 126;
	}
	close(ex.fd);
	return 0;
fail:
	close(ex.fd);
	close(fd);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "list", cmd_list }, { "show", cmd_show }, { "bind", cmd_bind },
		{ "unbind", cmd_unbind }, { "remove", cmd_remove }, { "selftest", cmd_selftest },
		{ "export", cmd_export },
	};

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("p2p-pgmap %s\n", P2P_PGMAP_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name))
			return cmds[i].fn(argc - 1, argv + 1);
	die_usage("unknown command '%s'", argv[1]);
}
