// SPDX-License-Identifier: GPL-2.0
/*
 * fail_reg_mr.so - LD_PRELOAD shim for tests: every ibv_reg_mr() fails with
 * the errno in P2P_FAIL_REG_MR_ERRNO (default EFAULT), as a kernel with the
 * P2PDMA core but without patches/revocable-pins makes it fail on device
 * memory. It lets tests/rdma prove that our tools explain that failure on
 * kernels of the matrix, all of which can register device memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <infiniband/verbs.h>

#undef ibv_reg_mr
struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length, int access);

struct ibv_mr *ibv_reg_mr(struct ibv_pd *pd, void *addr, size_t length, int access)
{
	const char *err = getenv("P2P_FAIL_REG_MR_ERRNO");

	(void)pd;
	(void)addr;
	(void)length;
	(void)access;
	errno = err ? atoi(err) : EFAULT;
	return NULL;
}
