// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_rdma_rw - register p2p_pgmap device memory with RDMA and move data
 * into and out of it with RDMA WRITE and RDMA READ.
 *
 *   p2p_rdma_rw [--dev /dev/p2p_pgmap0 | --anon] [--ibdev rxe0]
 *               [--offset BYTES] [--size BYTES] [--gid-index N]
 *               [--odp | --dmabuf] [--mtu 256|512|1024|2048|4096]
 *
 * Two RC queue pairs on one port are connected to each other (loopback),
 * so one process and one RDMA device (soft-RoCE is enough) show the whole
 * path:
 *
 *   1. mmap SIZE bytes of device memory at OFFSET and ibv_reg_mr() it
 *      (with --odp as an on-demand-paging MR: no pin), next to an
 *      ordinary host buffer registered the usual way; with --dmabuf, export
 *      the same range of the device file as a dma-buf (P2P_PGMAP_IOC_EXPORT)
 *      and register that with ibv_reg_dmabuf_mr() instead, the mapping
 *      serving the CPU side only;
 *   2. RDMA WRITE a pattern from the host buffer into device memory;
 *   3. RDMA READ another pattern, written into device memory by the CPU,
 *      back into the host buffer;
 *   4. check both byte for byte.
 *
 * The patterns never repeat within the buffer: each 8-byte word is a hash
 * of its position and a seed, so data that lands at the wrong offset, even
 * within one page, shows. For each direction it prints one line that says
 * how many bytes arrived as sent and a digest of what arrived, so that two
 * runs (device memory, and --anon: anonymous memory in its place, the
 * control) can be compared even when both are wrong.
 *
 * It exits 0 when the bytes match. With device memory it leaves the WRITE
 * pattern there and prints where the driver placed that memory in the BAR
 * ("placement: buf+REL bar BAR_OFFSET len LEN" per contiguous run): with
 * the QEMU test device, the pattern also lands in the host file behind the
 * BAR, there (tests/rdma/ checks that with bar_holds.py).
 *
 * On a kernel with CONFIG_PCI_P2PDMA whose RDMA stack cannot pin P2PDMA
 * pages, a plain ibv_reg_mr() fails with EFAULT or EREMOTEIO (EOPNOTSUPP
 * when the kernel has our patches but the memory's provider did not opt
 * in, or the RDMA device cannot give its pins back); the message then says
 * why and what to do instead of just printing the errno. --odp needs no pin at all, so it works on such kernels too.
 * With --dmabuf the RDMA device imports the memory through the dma-buf
 * instead (no GUP at all); when its driver has no dma-buf MRs, the
 * exporter refuses it, or it cannot reach the device by peer-to-peer DMA,
 * the message says so.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/p2p_pgmap.h>

#include "p2p_pgmap_huge.h"
#include "p2p_pgmap_placement.h"
#include "p2p_rc_pair.h"

#define RW_ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)

struct opts {
	const char *dev;
	const char *ibdev;
	size_t offset;
	size_t size;
	int gid_index;
	int odp;	/* register the memory under test on demand (no pin) */
	int dmabuf;	/* register it through a dma-buf export of the range */
	int anon;	/* anonymous memory in place of device memory */
	int mtu;	/* path MTU in bytes; 0: the port's active MTU */
	int read_bar;	/* the READ pattern comes from outside, through the BAR */
	int hold;	/* keep the memory until a line on stdin, at the end */
};

static const char usage_text[] =
	"usage: p2p_rdma_rw [--dev PATH | --anon] [--ibdev NAME] [--offset BYTES] [--size BYTES]\n"
	"                   [--gid-index N] [--odp | --dmabuf] [--mtu 256|512|1024|2048|4096]\n"
	"                   [--read-bar] [--hold]\n"
	"\n"
	"Registers SIZE bytes of p2p_pgmap device memory (default /dev/p2p_pgmap0) for\n"
	"RDMA, moves data into it by RDMA WRITE and out of it by RDMA READ over two\n"
	"connected queue pairs of one port, and checks every byte.\n"
	"\n"
	"  --odp    register the memory as an on-demand-paging MR (IBV_ACCESS_ON_DEMAND):\n"
	"           the RDMA device follows the mapping and holds no pin. Use it on\n"
	"           stock 7.x kernels (CONFIG_PCI_P2PDMA=y, as distributions build\n"
	"           them), whose GUP refuses long-term pins of P2PDMA pages, and\n"
	"           wherever unplug must never wait: remove revokes an ODP MR's\n"
	"           access with the mapping, and its next work request fails.\n"
	"           Pinned MRs (the default) need a kernel with this project's\n"
	"           series (remove revokes them) or one without the P2PDMA core\n"
	"           (remove waits for the holder, tells it, names it). The RDMA\n"
	"           device must report ODP for RC RDMA WRITE and READ (rxe does on\n"
	"           7.x kernels, not on 6.1 or 6.12).\n"
	"  --dmabuf export the range of the device file as a dma-buf (P2P_PGMAP_IOC_EXPORT)\n"
	"           and register that with ibv_reg_dmabuf_mr(), instead of the mapping\n"
	"           with ibv_reg_mr() (the CPU side still uses the mapping): no GUP,\n"
	"           no pin of pages. Not with --odp or --anon. The RDMA driver must\n"
	"           import dma-bufs revocably: mlx5 (dynamic) or irdma (pinned,\n"
	"           revocable) in 7.3; rxe has no dma-buf MRs; efa, bnxt_re, mana and\n"
	"           ionic pin them for good, which the exporter refuses.\n"
	"  --anon   anonymous memory in place of device memory (a control)\n"
	"  --mtu N  path MTU (default: the port's active MTU). rxe of 7.3 misplaces\n"
	"           ODP data when it is below 4096; a netdev MTU of 9000 gives 4096.\n"
	"  --read-bar\n"
	"           before the RDMA READ, print where the memory sits in the BAR and\n"
	"           wait for a line on stdin: meanwhile whoever reaches the memory\n"
	"           behind the BAR (the host file of an emulated device) writes the\n"
	"           READ pattern (seed 0xa7) there, instead of the CPU here.\n"
	"  --hold   at the end, with the WRITE pattern left in device memory, say so\n"
	"           and keep the memory until a line on stdin, so that whoever reaches\n"
	"           the memory behind the BAR can check it there: once the device file\n"
	"           is released the driver zeroes that memory.\n";

static void usage(int rc)
{
	fputs(usage_text, rc ? stderr : stdout);
	exit(rc);
}

/* IBV_MTU_256 .. IBV_MTU_4096 are 1 .. 5: 128 << that many bytes; 0: none. */
static enum ibv_mtu mtu_enum(int bytes)
{
	for (int e = IBV_MTU_256; e <= IBV_MTU_4096; e++)
		if (bytes == 128 << e)
			return (enum ibv_mtu)e;
	return 0;
}

static int mtu_bytes(enum ibv_mtu mtu)
{
	return 128 << mtu;
}

static void parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .dev = "/dev/p2p_pgmap0", .size = 1 << 20, .gid_index = -1 };
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			usage(0);
		if (!strcmp(argv[i], "--odp")) {
			o->odp = 1;
			continue;
		}
		if (!strcmp(argv[i], "--dmabuf")) {
			o->dmabuf = 1;
			continue;
		}
		if (!strcmp(argv[i], "--anon")) {
			o->anon = 1;
			continue;
		}
		if (!strcmp(argv[i], "--read-bar")) {
			o->read_bar = 1;
			continue;
		}
		if (!strcmp(argv[i], "--hold")) {
			o->hold = 1;
			continue;
		}
		if (i + 1 >= argc)
			usage(2);
		if (!strcmp(argv[i], "--dev"))
			o->dev = argv[++i];
		else if (!strcmp(argv[i], "--ibdev"))
			o->ibdev = argv[++i];
		else if (!strcmp(argv[i], "--offset"))
			o->offset = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--size"))
			o->size = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--gid-index"))
			o->gid_index = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--mtu"))
			o->mtu = atoi(argv[++i]);
		else
			usage(2);
	}
	if (!o->size || (o->mtu && !mtu_enum(o->mtu)) ||
	    ((o->read_bar || o->hold || o->dmabuf) && o->anon) || (o->dmabuf && o->odp))
		usage(2);
}

/* Say why registration of device memory failed, and what to do. */
static void explain_reg_mr_failure(int err, int odp)
{
	fprintf(stderr, "p2p_rdma_rw: ibv_reg_mr%s on device memory failed: %s\n",
		odp ? " (on demand)" : "", strerror(err));
	if (odp)
		return;
	if (err == EFAULT || err == EREMOTEIO)
		fprintf(stderr,
			"  This kernel has the PCI P2PDMA core (CONFIG_PCI_P2PDMA=y, as Debian,\n"
			"  Ubuntu, Fedora and SUSE build it): GUP refuses to long-term pin P2PDMA\n"
			"  pages, which ibv_reg_mr needs, and the RDMA core does not ask for them\n"
			"  (FOLL_PCI_P2PDMA). Mainline allows neither. This project's kernel\n"
			"  series patches/revocable-pins does (GUP pins for providers that opt in\n"
			"  and pinners that give the pins back at remove, the RDMA core asks for\n"
			"  devices that can reach the pages and stop using them, rxe does): use\n"
			"  a kernel with it (the p2pdma-7.3 test kernel), or one built without\n"
			"  CONFIG_PCI_P2PDMA, where device memory registers like host memory.\n"
			"  Or register on demand (--odp: no pin at all), where the RDMA device\n"
			"  has on-demand paging (rxe on 7.x).\n");
	else if (err == EOPNOTSUPP)
		fprintf(stderr,
			"  This kernel can long-term pin PCI P2PDMA pages for RDMA, but only for\n"
			"  pinners that give them back when the device goes away (an RDMA device\n"
			"  that can stop using them on request) and only when their provider\n"
			"  allows it (PGMAP_P2PDMA_LONGTERM_PIN). Load a p2p_pgmap built for this\n"
			"  kernel, or register on demand (--odp: no pin at all).\n");
	else if (err == ENOMEM)
		fprintf(stderr, "  Raise the locked-memory limit (ulimit -l unlimited).\n");
}

/*
 * --dmabuf: export [offset, offset + size rounded up to a page) of the
 * device file as a dma-buf, read-write. Its fd, or -1 after saying why.
 */
static int export_dmabuf(int fd, const struct opts *o)
{
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	struct p2p_pgmap_export ex = {
		.offset = o->offset,
		.len = (o->size + page - 1) & ~(page - 1),
		.flags = P2P_PGMAP_EXPORT_READ | P2P_PGMAP_EXPORT_WRITE,
		.fd = -1,
	};
	int err;

	if (!ioctl(fd, P2P_PGMAP_IOC_EXPORT, &ex))
		return ex.fd;
	err = errno;
	fprintf(stderr, "p2p_rdma_rw: --dmabuf: export of %llu bytes at offset %#zx of %s as a dma-buf (P2P_PGMAP_IOC_EXPORT) failed: %s\n",
		(unsigned long long)ex.len, o->offset, o->dev, strerror(err));
	if (err == ENOTTY)
		fprintf(stderr, "  %s is not a p2p_pgmap device, or the loaded p2p_pgmap driver\n"
			"  has no dma-buf export (it is older than this program). Load a driver\n"
			"  of this version, or register the mapping (no --dmabuf).\n", o->dev);
	else if (err == EINVAL)
		fprintf(stderr, "  --offset must be a multiple of the page size (%llu bytes) and\n"
			"  offset + size within the device's memory.\n", (unsigned long long)page);
	else if (err == EDQUOT)
		fprintf(stderr, "  One open file may not hold that much: the module parameter file_limit\n"
			"  (/sys/module/p2p_pgmap/parameters/file_limit) is lower.\n");
	else if (err == ENOSPC)
		fprintf(stderr, "  The device has not enough free memory (p2p-pgmap show lists who holds it).\n");
	else if (err == ENXIO)
		fprintf(stderr, "  The device is going away (being removed or unbound).\n");
	return -1;
}

/* Say why ibv_reg_dmabuf_mr() of the exported memory failed, and what to do. */
static void explain_reg_dmabuf_failure(int err, const char *ibdev)
{
	fprintf(stderr, "p2p_rdma_rw: ibv_reg_dmabuf_mr on %s of the dma-buf of device memory failed: %s\n",
		ibdev, strerror(err));
	if (err == EOPNOTSUPP || err == EINVAL || err == ENOSYS)
		fprintf(stderr,
			"  Either the driver of %s has no dma-buf MRs (soft-RoCE, rxe, has none),\n"
			"  or it imports dma-bufs in a way the p2p_pgmap exporter refuses. Of the\n"
			"  RDMA drivers of Linux 7.3, mlx5 imports them dynamically (with on-demand\n"
			"  paging; the exporter\n"
			"  can invalidate its mapping) and irdma pins them revocably: both are\n"
			"  accepted. efa, bnxt_re, mana and ionic pin them and cannot give them\n"
			"  back, so the exporter refuses them with EOPNOTSUPP, as vfio-pci does: the\n"
			"  device's remove could not take its memory back. Use an mlx5 or irdma\n"
			"  device, or register the mapping instead (no --dmabuf, or --odp).\n",
			ibdev);
	else if (err == EXDEV)
		fprintf(stderr,
			"  %s cannot reach the p2p_pgmap device by peer-to-peer DMA: the PCI\n"
			"  P2PDMA core allows it only under one PCIe switch, or through a host\n"
			"  bridge it knows to forward peer traffic. Use an RDMA device placed so.\n",
			ibdev);
	else if (err == ENODEV || err == ENXIO)
		fprintf(stderr, "  The p2p_pgmap device is going away: its dma-bufs are revoked.\n");
}

/*
 * --odp needs on-demand paging for what the peer does to the MR: RC RDMA
 * WRITE into it and RDMA READ from it. 0 when the device has it; else an
 * errno, after saying why.
 */
static int check_odp_caps(struct ibv_context *ctx)
{
	const uint32_t need = IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ;
	struct ibv_device_attr_ex ax;
	uint32_t rc_caps;

	memset(&ax, 0, sizeof(ax));
	if (ibv_query_device_ex(ctx, NULL, &ax)) {
		int err = errno ? errno : EOPNOTSUPP;

		fprintf(stderr, "p2p_rdma_rw: --odp: cannot query the on-demand paging caps of %s: %s\n",
			ibv_get_device_name(ctx->device), strerror(err));
		return err;
	}
	rc_caps = ax.odp_caps.per_transport_caps.rc_odp_caps;
	if ((ax.odp_caps.general_caps & IBV_ODP_SUPPORT) && (rc_caps & need) == need)
		return 0;
	fprintf(stderr,
		"p2p_rdma_rw: --odp: %s has no on-demand paging for RC RDMA WRITE and READ"
		" (general caps %#llx, RC caps %#x): %s\n"
		"  rxe has it on 7.x kernels built with CONFIG_INFINIBAND_ON_DEMAND_PAGING,\n"
		"  not on 6.1 or 6.12. Without it, register pinned memory (no --odp).\n",
		ibv_get_device_name(ctx->device), (unsigned long long)ax.odp_caps.general_caps,
		rc_caps, strerror(EOPNOTSUPP));
	return EOPNOTSUPP;
}

static struct ibv_context *open_ibdev(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;

	if (!list || !list[0]) {
		fprintf(stderr, "p2p_rdma_rw: no RDMA device (for soft-RoCE: modprobe rdma_rxe;"
			" rdma link add rxe0 type rxe netdev eth0)\n");
		if (list)	/* NULL (without the RDMA core) is no list to free */
			ibv_free_device_list(list);
		return NULL;
	}
	for (int i = 0; list[i]; i++)
		if (!name || !strcmp(ibv_get_device_name(list[i]), name)) {
			ctx = ibv_open_device(list[i]);
			break;
		}
	ibv_free_device_list(list);
	if (!ctx)
		fprintf(stderr, "p2p_rdma_rw: cannot open RDMA device %s\n", name ? name : "");
	return ctx;
}


/*
 * The path MTU: --mtu, or the port's active MTU (which soft-RoCE derives
 * from its netdev's MTU: 1024 for Ethernet's 1500, 4096 for 9000). 0 when
 * --mtu asks for more than the port can carry, after saying so.
 */
static enum ibv_mtu pick_mtu(struct ibv_context *ctx, int want)
{
	struct ibv_port_attr port;

	if (ibv_query_port(ctx, 1, &port)) {
		perror("p2p_rdma_rw: ibv_query_port");
		return 0;
	}
	if (!want)
		return port.active_mtu;
	if (mtu_enum(want) > port.active_mtu) {
		fprintf(stderr,
			"p2p_rdma_rw: --mtu %d is above the active MTU of port 1 of %s (%d);"
			" for soft-RoCE raise its netdev's MTU (9000 gives 4096)\n",
			want, ibv_get_device_name(ctx->device), mtu_bytes(port.active_mtu));
		return 0;
	}
	return mtu_enum(want);
}


/*
 * How long an operation may take to complete: the QPs' own retries give
 * up within seconds, so a completion that never comes is a fault of the
 * RDMA device (or the kernel under it) to report, not to wait for. Under
 * emulation, on the debug kernel, 4 MiB take about 10 s.
 */
#define RDMA_OP_WAIT_S	120

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Post one RDMA operation from local (lmr) to remote (rmr) and wait for it. */
static int rdma_op(struct ibv_qp *qp, struct ibv_cq *cq, enum ibv_wr_opcode op,
		   struct ibv_mr *lmr, struct ibv_mr *rmr, size_t len)
{
	const char *what = op == IBV_WR_RDMA_WRITE ? "RDMA WRITE" : "RDMA READ";
	struct ibv_sge sge = { (uintptr_t)lmr->addr, (uint32_t)len, lmr->lkey };
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { (uintptr_t)rmr->addr, rmr->rkey },
	}, *bad;
	double deadline = now_s() + RDMA_OP_WAIT_S;
	struct ibv_wc wc;
	int n;

	if (ibv_post_send(qp, &wr, &bad))
		return -1;
	/* Polled, yielding between polls: the device may be a kernel thread. */
	while ((n = ibv_poll_cq(cq, 1, &wc)) == 0) {
		if (now_s() > deadline) {
			fprintf(stderr, "p2p_rdma_rw: %s of %zu bytes did not complete within %d s\n",
				what, len, RDMA_OP_WAIT_S);
			return -1;
		}
		sched_yield();
	}
	if (n < 0 || wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "p2p_rdma_rw: %s completed with %s\n", what,
			n < 0 ? "a poll error" : ibv_wc_status_str(wc.status));
		return -1;
	}
	return 0;
}

/*
 * The pattern: the 8-byte word at byte 8k of the buffer holds a hash of k
 * and the seed, least significant byte first. It repeats nowhere, so a
 * byte that lands elsewhere, even within its page, shows; tests/rdma/
 * bar_holds.py computes the same.
 */
static uint64_t pattern_word(uint64_t k, unsigned int seed)
{
	uint64_t x = (k + 1) * 0x9e3779b97f4a7c15ULL + seed * 0xd1b54a32d192ed03ULL;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	return x ^ (x >> 29);
}

static void fill(unsigned char *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i += 8) {
		uint64_t w = pattern_word(i / 8, seed);

		for (size_t j = 0; j < 8 && i + j < len; j++)
			p[i + j] = (unsigned char)(w >> (8 * j));
	}
}

/* FNV-1a, 64 bits: a digest of what arrived, to compare two runs. */
static uint64_t digest(const volatile unsigned char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/*
 * One line for what a transfer left in got (SIZE bytes, want: what was
 * sent): "WHAT: N of SIZE bytes as sent, digest D" and, when some are not,
 * where the first one is. True when all are.
 */
static int report(const char *what, const volatile unsigned char *got,
		  const unsigned char *want, size_t len)
{
	size_t same = 0, first = len;

	for (size_t i = 0; i < len; i++) {
		if (got[i] == want[i])
			same++;
		else if (first == len)
			first = i;
	}
	printf("%s: %zu of %zu bytes as sent, digest %016llx", what, same, len,
	       (unsigned long long)digest(got, len));
	if (first < len)
		printf(", first other byte at %zu", first);
	printf("\n");
	return same == len;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct ibv_context *ctx = NULL;
	struct ibv_pd *pd = NULL;
	struct ibv_cq *cq = NULL;
	struct ibv_qp *qa = NULL, *qb = NULL;
	struct ibv_mr *dev_mr = NULL, *host_mr = NULL;
	struct ibv_qp_init_attr qpa = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1, .max_recv_sge = 1 },
	};
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	unsigned char *dev_mem = MAP_FAILED, *host_mem = NULL, *want = NULL;
	const char *what;
	union ibv_gid gid;
	enum ibv_mtu mtu;
	int fd = -1, dmabuf_fd = -1, gid_index, wrote, read_back, err, rc = 1;

	parse(argc, argv, &o);
#ifndef P2P_HAVE_IBV_REG_DMABUF_MR
	if (o.dmabuf) {
		fprintf(stderr, "p2p_rdma_rw: --dmabuf: this p2p_rdma_rw was built without"
			" ibv_reg_dmabuf_mr() (its libibverbs headers predate rdma-core 34);"
			" rebuild it against rdma-core 34 or later\n");
		return 1;
	}
#endif
	what = o.anon ? "anonymous memory" : "device memory";
	if (o.anon) {
		dev_mem = mmap(NULL, o.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);
		if (dev_mem == MAP_FAILED) {
			fprintf(stderr, "p2p_rdma_rw: mmap %zu bytes of anonymous memory: %s\n",
				o.size, strerror(errno));
			goto out;
		}
	} else {
		fd = open(o.dev, O_RDWR | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "p2p_rdma_rw: open %s: %s\n", o.dev, strerror(errno));
			goto out;
		}
		dev_mem = mmap(NULL, o.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, o.offset);
		if (dev_mem == MAP_FAILED) {
			fprintf(stderr, "p2p_rdma_rw: mmap %zu bytes at offset %zu of %s: %s\n",
				o.size, o.offset, o.dev, strerror(errno));
			goto out;
		}
		if (o.dmabuf) {
			off_t size;

			/* The same memory as the mapping: the file's at that offset. */
			dmabuf_fd = export_dmabuf(fd, &o);
			if (dmabuf_fd < 0)
				goto out;
			/* A dma-buf's size is where SEEK_END takes it. */
			size = lseek(dmabuf_fd, 0, SEEK_END);
			if (size < (off_t)o.size) {
				fprintf(stderr, "p2p_rdma_rw: --dmabuf: the exported fd %d is no dma-buf of %zu bytes (lseek: %lld%s%s)\n",
					dmabuf_fd, o.size, (long long)size, size < 0 ? ", " : "",
					size < 0 ? strerror(errno) : "");
				goto out;
			}
			printf("dma-buf: fd %d, %lld bytes, offset %#zx of %s\n", dmabuf_fd,
			       (long long)size, o.offset, o.dev);
		}
	}
	host_mem = aligned_alloc(4096, (o.size + 4095) & ~(size_t)4095);
	want = malloc(o.size);
	if (!host_mem || !want) {
		fprintf(stderr, "p2p_rdma_rw: %zu bytes of host memory: %s\n", o.size,
			strerror(ENOMEM));
		goto out;
	}

	ctx = open_ibdev(o.ibdev);
	if (!ctx)
		goto out;
	gid_index = p2p_rc_pick_gid(ctx, o.gid_index, &gid);
	if (gid_index < 0) {
		fprintf(stderr, "p2p_rdma_rw: no usable GID on port 1 of %s (is the netdev up?)\n",
			ibv_get_device_name(ctx->device));
		goto out;
	}
	mtu = pick_mtu(ctx, o.mtu);
	if (!mtu)
		goto out;
	if (o.odp) {
		errno = check_odp_caps(ctx);
		if (errno)
			goto out;
	}
	pd = ibv_alloc_pd(ctx);
	cq = pd ? ibv_create_cq(ctx, 8, NULL, NULL, 0) : NULL;
	qpa.send_cq = qpa.recv_cq = cq;
	qa = cq ? ibv_create_qp(pd, &qpa) : NULL;
	qb = qa ? ibv_create_qp(pd, &qpa) : NULL;
	if (!qb) {
		perror("p2p_rdma_rw: PD/CQ/QP");
		goto out;
	}
	/*
	 * Only the memory under test is registered on demand: the host buffer
	 * is pinned as usual, so what is checked is the ODP MR alone.
	 */
	if (o.dmabuf) {
		/*
		 * At the mapping's address as its I/O virtual address: the MR
		 * then looks as a plain one would to the rest of the program.
		 */
#ifdef P2P_HAVE_IBV_REG_DMABUF_MR
		dev_mr = ibv_reg_dmabuf_mr(pd, 0, o.size, (uintptr_t)dev_mem, dmabuf_fd, access);
#endif
		if (!dev_mr) {
			explain_reg_dmabuf_failure(errno, ibv_get_device_name(ctx->device));
			goto out;
		}
	} else {
		dev_mr = ibv_reg_mr(pd, dev_mem, o.size,
				    access | (o.odp ? IBV_ACCESS_ON_DEMAND : 0));
		if (!dev_mr) {
			explain_reg_mr_failure(errno, o.odp);
			goto out;
		}
	}
	host_mr = ibv_reg_mr(pd, host_mem, o.size, access);
	if (!host_mr) {
		fprintf(stderr, "p2p_rdma_rw: ibv_reg_mr on host memory failed: %s\n",
			strerror(errno));
		goto out;
	}
	/* Each pair may be written to and read from by the other. */
	err = p2p_rc_connect(qa, qb->qp_num, &gid, gid_index, mtu, RW_ACCESS, 7);
	if (!err)
		err = p2p_rc_connect(qb, qa->qp_num, &gid, gid_index, mtu, RW_ACCESS, 7);
	if (err) {
		fprintf(stderr, "p2p_rdma_rw: connecting the queue pairs: %s\n", strerror(err));
		goto out;
	}
	if (o.anon)
		printf("registered %zu bytes of anonymous memory", o.size);
	else
		printf("registered %zu bytes of %s at offset %#zx", o.size, o.dev, o.offset);
	printf("%s (lkey %#x) on %s, GID index %d, path MTU %d\n",
	       o.odp ? " on demand" : o.dmabuf ? " as a dma-buf" : "",
	       dev_mr->lkey, ibv_get_device_name(ctx->device), gid_index,
	       mtu_bytes(mtu));

	/*
	 * Host memory -> the memory under test, which the CPU filled with
	 * another pattern first: bytes the WRITE misses are then known too,
	 * the same in any memory.
	 */
	fill(dev_mem, o.size, 0x5a);
	fill(host_mem, o.size, 0x3c);
	memcpy(want, host_mem, o.size);
	if (rdma_op(qa, cq, IBV_WR_RDMA_WRITE, host_mr, dev_mr, o.size))
		goto out;
	wrote = report("RDMA WRITE", dev_mem, want, o.size);

	/*
	 * The memory under test -> host memory. With --read-bar the pattern
	 * is put in the BAR from outside (tests/rdma/bar_holds.py --write),
	 * so the READ shows it takes its bytes from the BAR itself.
	 */
	fill(want, o.size, 0xa7);
	memset(host_mem, 0, o.size);
	if (o.read_bar) {
		char go[16];

		if (p2p_pgmap_print_placement(stdout, fd, o.offset, o.size)) {
			fprintf(stderr, "p2p_rdma_rw: P2P_PGMAP_IOC_PLACEMENT: %s\n", strerror(errno));
			goto out;
		}
		printf("read-bar: waiting for the READ pattern (seed 0xa7) in the BAR, then a line on stdin\n");
		fflush(stdout);
		if (!fgets(go, sizeof(go), stdin)) {
			fprintf(stderr, "p2p_rdma_rw: --read-bar: no line on stdin\n");
			goto out;
		}
	} else {
		memcpy(dev_mem, want, o.size);
	}
	if (rdma_op(qa, cq, IBV_WR_RDMA_READ, host_mr, dev_mr, o.size))
		goto out;
	read_back = report("RDMA READ", host_mem, want, o.size);

	if (wrote)
		printf("RDMA WRITE host -> %s: %zu bytes verified\n", what, o.size);
	else
		fprintf(stderr, "p2p_rdma_rw: RDMA WRITE: %s does not hold the bytes sent\n", what);
	if (read_back)
		printf("RDMA READ %s -> host: %zu bytes verified\n", what, o.size);
	else
		fprintf(stderr, "p2p_rdma_rw: RDMA READ: host memory does not hold the bytes of %s\n",
			what);
	if (!wrote || !read_back)
		goto out;
	if (o.anon) {
		rc = 0;
		goto out;
	}

	/* Leave the WRITE pattern in device memory for whoever checks the BAR. */
	fill(host_mem, o.size, 0x3c);
	if (rdma_op(qa, cq, IBV_WR_RDMA_WRITE, host_mr, dev_mr, o.size))
		goto out;
	if (p2p_pgmap_print_placement(stdout, fd, o.offset, o.size))
		fprintf(stderr, "p2p_rdma_rw: P2P_PGMAP_IOC_PLACEMENT: %s\n", strerror(errno));
	else
		p2p_pgmap_print_huge(stdout, fd, dev_mem, o.size);
	if (o.hold) {
		char go[16];

		printf("hold: the WRITE pattern (seed 0x3c) is in device memory; a line on stdin lets go\n");
		fflush(stdout);
		if (!fgets(go, sizeof(go), stdin))
			fprintf(stderr, "p2p_rdma_rw: --hold: no line on stdin\n");
	}
	rc = 0;
out:
	if (host_mr && ibv_dereg_mr(host_mr))
		rc = 1;
	if (dev_mr && ibv_dereg_mr(dev_mr))
		rc = 1;
	if (qb)
		ibv_destroy_qp(qb);
	if (qa)
		ibv_destroy_qp(qa);
	if (cq)
		ibv_destroy_cq(cq);
	if (pd)
		ibv_dealloc_pd(pd);
	if (ctx)
		ibv_close_device(ctx);
	if (dev_mem != MAP_FAILED)
		munmap(dev_mem, o.size);
	if (dmabuf_fd >= 0)
		close(dmabuf_fd);
	if (fd >= 0)
		close(fd);
	free(host_mem);
	free(want);
	return rc;
}
