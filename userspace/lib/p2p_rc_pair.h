/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Two RC queue pairs of one RDMA device, connected to each other through
 * port 1: how the examples and tests move data by RDMA within one process
 * (soft-RoCE loops it back), with no connection manager.
 */
#ifndef P2P_RC_PAIR_H
#define P2P_RC_PAIR_H

#include <infiniband/verbs.h>
#include <stdint.h>

/*
 * A GID of port 1 to address the pair with: index @want if it is >= 0 and
 * usable, else an IPv4-mapped one (RoCE v2), else the first usable one.
 * Returns its index and fills @gid, or -1.
 */
int p2p_rc_pick_gid(struct ibv_context *ctx, int want, union ibv_gid *gid);

/*
 * Take @qp from any state to RTS, connected to queue pair @dest_qpn of the
 * same port, addressed by @gid at @gid_index, with path MTU @mtu, the
 * remote access rights @access (IBV_ACCESS_* of its INIT step) and
 * @retries transport and RNR retries (7: keep trying; 1: fail fast, as a
 * request to a revoked MR should). Returns 0, or an errno of
 * ibv_modify_qp().
 */
int p2p_rc_connect(struct ibv_qp *qp, uint32_t dest_qpn,
		   const union ibv_gid *gid, int gid_index, enum ibv_mtu mtu,
		   unsigned int access, uint8_t retries);

#endif /* P2P_RC_PAIR_H */
