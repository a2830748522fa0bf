// SPDX-License-Identifier: GPL-2.0
/*
 * p2p_rdma_rw - register p2p_pgmap device memory with RDMA and move data
 * into and out of it with RDMA WRITE and RDMA READ.
 *
 *   p2p_rdma_rw [--dev /dev/p2p_pgmap0] [--ibdev rxe0] [--offset BYTES]
 *               [--size BYTES] [--gid-index N]
 *
 * Two RC queue pairs on one port are connected to each other (loopback),
 * so one process and one RDMA device (soft-RoCE is enough) show the whole
 * path:
 *
 *   1. mmap SIZE bytes of device memory at OFFSET and ibv_reg_mr() it,
 *      next to an ordinary host buffer registered the same way;
 *   2. RDMA WRITE a pattern from the host buffer into device memory;
 *   3. RDMA READ another pattern, written into device memory by the CPU,
 *      back into the host buffer;
 *   4. check both byte for byte.
 *
 * It prints what it did and exits 0 when the bytes match. It leaves the
 * WRITE pattern in device memory and prints where the driver placed that
 * memory in the BAR ("placement: buf+REL bar BAR_OFFSET len LEN" per
 * contiguous run): with the QEMU test device, the pattern also lands in the
 * host file behind the BAR, there (tests/rdma/ checks that).
 *
 * On a kernel with CONFIG_PCI_P2PDMA whose RDMA stack cannot pin P2PDMA
 * pages, ibv_reg_mr() fails with EFAULT or EREMOTEIO (EOPNOTSUPP when the
 * kernel has our patches but the memory's provider did not opt in); the
 * message then says why and what to do instead of just printing the errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "p2p_pgmap_huge.h"
#include "p2p_pgmap_placement.h"

struct opts {
	const char *dev;
	const char *ibdev;
	size_t offset;
	size_t size;
	int gid_index;
};

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--dev PATH] [--ibdev NAME] [--offset BYTES] [--size BYTES] [--gid-index N]\n",
		prog);
	exit(2);
}

static int parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ "/dev/p2p_pgmap0", NULL, 0, 1 << 20, -1 };
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage(argv[0]);
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
		else
			usage(argv[0]);
	}
	return 0;
}

/* Say why registration of device memory failed, and what to do. */
static void explain_reg_mr_failure(int err)
{
	fprintf(stderr, "p2p_rdma_rw: ibv_reg_mr on device memory failed: %s\n", strerror(err));
	if (err == EFAULT || err == EREMOTEIO)
		fprintf(stderr,
			"  This kernel has the PCI P2PDMA core (CONFIG_PCI_P2PDMA=y, as Debian,\n"
			"  Ubuntu, Fedora and SUSE build it): GUP refuses to long-term pin P2PDMA\n"
			"  pages, which ibv_reg_mr needs, and the RDMA core does not ask for them\n"
			"  (FOLL_PCI_P2PDMA). Mainline allows neither. This project's kernel\n"
			"  patches/0002-0004 do (GUP pins for providers that opt in, the RDMA core\n"
			"  asks for devices that can reach them, rxe says it can): use a kernel\n"
			"  with them (the p2pdma-7.3 test kernel), or one built without\n"
			"  CONFIG_PCI_P2PDMA, where device memory registers like host memory.\n");
	else if (err == EOPNOTSUPP)
		fprintf(stderr,
			"  This kernel can long-term pin PCI P2PDMA pages for RDMA, but only when\n"
			"  their provider accepts that unplug waits for the pins\n"
			"  (PGMAP_P2PDMA_LONGTERM_PIN). Load a p2p_pgmap built for this kernel.\n");
	else if (err == ENOMEM)
		fprintf(stderr, "  Raise the locked-memory limit (ulimit -l unlimited).\n");
}

static struct ibv_context *open_ibdev(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;

	if (!list || !list[0]) {
		fprintf(stderr, "p2p_rdma_rw: no RDMA device (for soft-RoCE: modprobe rdma_rxe;"
			" rdma link add rxe0 type rxe netdev eth0)\n");
		exit(1);
	}
	for (int i = 0; list[i]; i++)
		if (!name || !strcmp(ibv_get_device_name(list[i]), name)) {
			ctx = ibv_open_device(list[i]);
			break;
		}
	ibv_free_device_list(list);
	if (!ctx) {
		fprintf(stderr, "p2p_rdma_rw: cannot open RDMA device %s\n", name ? name : "");
		exit(1);
	}
	return ctx;
}

/* The first usable GID of port 1, preferring an IPv4-mapped one (RoCE v2). */
static int pick_gid(struct ibv_context *ctx, int want, union ibv_gid *gid)
{
	struct ibv_port_attr port;
	int fallback = -1;

	if (ibv_query_port(ctx, 1, &port))
		return -1;
	for (int i = 0; i < port.gid_tbl_len; i++) {
		if (want >= 0 && i != want)
			continue;
		if (ibv_query_gid(ctx, 1, i, gid) || !gid->global.interface_id)
			continue;
		/* ::ffff:a.b.c.d */
		if (want >= 0 || (gid->raw[10] == 0xff && gid->raw[11] == 0xff))
			return i;
		if (fallback < 0)
			fallback = i;
	}
	if (fallback >= 0)
		ibv_query_gid(ctx, 1, fallback, gid);
	return fallback;
}

static int connect_qp(struct ibv_qp *qp, uint32_t dest_qpn, union ibv_gid *gid, int gid_index)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ,
	};

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_ACCESS_FLAGS))
		return -1;
	a = (struct ibv_qp_attr){
		.qp_state = IBV_QPS_RTR,
		.path_mtu = IBV_MTU_1024,
		.dest_qp_num = dest_qpn,
		.max_dest_rd_atomic = 1,
		.min_rnr_timer = 12,
		.ah_attr = {
			.is_global = 1,
			.grh = { .dgid = *gid, .sgid_index = gid_index, .hop_limit = 1 },
			.port_num = 1,
		},
	};
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			  IBV_QP_MIN_RNR_TIMER))
		return -1;
	a = (struct ibv_qp_attr){
		.qp_state = IBV_QPS_RTS,
		.timeout = 14,
		.retry_cnt = 7,
		.rnr_retry = 7,
		.max_rd_atomic = 1,
	};
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			     IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
}

/* Post one RDMA operation from local (lmr) to remote (rmr) and wait for it. */
static int rdma_op(struct ibv_qp *qp, struct ibv_cq *cq, enum ibv_wr_opcode op,
		   struct ibv_mr *lmr, struct ibv_mr *rmr, size_t len)
{
	struct ibv_sge sge = { (uintptr_t)lmr->addr, (uint32_t)len, lmr->lkey };
	struct ibv_send_wr wr = {
		.sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { (uintptr_t)rmr->addr, rmr->rkey },
	}, *bad;
	struct ibv_wc wc;
	int n;

	if (ibv_post_send(qp, &wr, &bad))
		return -1;
	while ((n = ibv_poll_cq(cq, 1, &wc)) == 0)
		;
	if (n < 0 || wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "p2p_rdma_rw: %s completed with %s\n",
			op == IBV_WR_RDMA_WRITE ? "RDMA WRITE" : "RDMA READ",
			n < 0 ? "a poll error" : ibv_wc_status_str(wc.status));
		return -1;
	}
	return 0;
}

static void fill(unsigned char *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed ^ (i * 131) ^ (i >> 9));
}

int main(int argc, char **argv)
{
	struct opts o;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qa, *qb;
	struct ibv_mr *dev_mr, *host_mr;
	struct ibv_qp_init_attr qpa = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1, .max_recv_sge = 1 },
	};
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	unsigned char *dev_mem, *host_mem, *want;
	union ibv_gid gid;
	int fd, gid_index, rc = 1;

	parse(argc, argv, &o);
	fd = open(o.dev, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "p2p_rdma_rw: open %s: %s\n", o.dev, strerror(errno));
		return 1;
	}
	dev_mem = mmap(NULL, o.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, o.offset);
	if (dev_mem == MAP_FAILED) {
		fprintf(stderr, "p2p_rdma_rw: mmap %zu bytes at offset %zu of %s: %s\n",
			o.size, o.offset, o.dev, strerror(errno));
		return 1;
	}
	host_mem = aligned_alloc(4096, o.size);
	want = malloc(o.size);
	if (!host_mem || !want)
		return 1;

	ctx = open_ibdev(o.ibdev);
	gid_index = pick_gid(ctx, o.gid_index, &gid);
	if (gid_index < 0) {
		fprintf(stderr, "p2p_rdma_rw: no usable GID on port 1 of %s (is the netdev up?)\n",
			ibv_get_device_name(ctx->device));
		return 1;
	}
	pd = ibv_alloc_pd(ctx);
	cq = pd ? ibv_create_cq(ctx, 8, NULL, NULL, 0) : NULL;
	qpa.send_cq = qpa.recv_cq = cq;
	qa = cq ? ibv_create_qp(pd, &qpa) : NULL;
	qb = qa ? ibv_create_qp(pd, &qpa) : NULL;
	if (!qb) {
		perror("p2p_rdma_rw: PD/CQ/QP");
		return 1;
	}
	dev_mr = ibv_reg_mr(pd, dev_mem, o.size, access);
	if (!dev_mr) {
		explain_reg_mr_failure(errno);
		return 1;
	}
	host_mr = ibv_reg_mr(pd, host_mem, o.size, access);
	if (!host_mr) {
		explain_reg_mr_failure(errno);
		return 1;
	}
	if (connect_qp(qa, qb->qp_num, &gid, gid_index) ||
	    connect_qp(qb, qa->qp_num, &gid, gid_index)) {
		perror("p2p_rdma_rw: connecting the queue pairs");
		return 1;
	}
	printf("registered %zu bytes of %s at offset %#zx (lkey %#x) on %s, GID index %d\n",
	       o.size, o.dev, o.offset, dev_mr->lkey, ibv_get_device_name(ctx->device), gid_index);

	/* Host memory -> device memory. */
	fill(host_mem, o.size, 0x3c);
	memcpy(want, host_mem, o.size);
	if (rdma_op(qa, cq, IBV_WR_RDMA_WRITE, host_mr, dev_mr, o.size))
		goto out;
	if (memcmp(dev_mem, want, o.size)) {
		fprintf(stderr, "p2p_rdma_rw: RDMA WRITE: device memory does not hold the bytes sent\n");
		goto out;
	}
	printf("RDMA WRITE host -> device: %zu bytes verified\n", o.size);

	/* Device memory -> host memory. */
	fill(want, o.size, 0xa7);
	memcpy(dev_mem, want, o.size);
	memset(host_mem, 0, o.size);
	if (rdma_op(qa, cq, IBV_WR_RDMA_READ, host_mr, dev_mr, o.size))
		goto out;
	if (memcmp(host_mem, want, o.size)) {
		fprintf(stderr, "p2p_rdma_rw: RDMA READ: host memory does not hold the device's bytes\n");
		goto out;
	}
	printf("RDMA READ device -> host: %zu bytes verified\n", o.size);

	/* Leave the WRITE pattern in device memory for whoever checks the BAR. */
	fill(host_mem, o.size, 0x3c);
	if (rdma_op(qa, cq, IBV_WR_RDMA_WRITE, host_mr, dev_mr, o.size))
		goto out;
	if (p2p_pgmap_print_placement(stdout, fd, o.offset, o.size))
		fprintf(stderr, "p2p_rdma_rw: P2P_PGMAP_IOC_PLACEMENT: %s\n", strerror(errno));
	else
		p2p_pgmap_print_huge(stdout, fd, dev_mem, o.size);
	rc = 0;
out:
	ibv_dereg_mr(host_mr);
	ibv_dereg_mr(dev_mr);
	ibv_destroy_qp(qb);
	ibv_destroy_qp(qa);
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	munmap(dev_mem, o.size);
	close(fd);
	free(host_mem);
	free(want);
	return rc;
}
