// SPDX-License-Identifier: GPL-2.0
/* Two RC queue pairs connected to each other: see p2p_rc_pair.h. */
#include "p2p_rc_pair.h"

int p2p_rc_pick_gid(struct ibv_context *ctx, int want, union ibv_gid *gid)
{
	struct ibv_port_attr port;
	int fallback = -1;

	if (ibv_query_port(ctx, 1, &port))
		return -1;
	for (int i = 0; i < port.gid_tbl_len; i++) {
		if (want >= 0 && i != want)
			continue;
		/* An empty entry has no interface id. */
		if (ibv_query_gid(ctx, 1, i, gid) || !gid->global.interface_id)
			continue;
		/* ::ffff:a.b.c.d */
		if (want >= 0 || (gid->raw[10] == 0xff && gid->raw[11] == 0xff))
			return i;
		if (fallback < 0)
			fallback = i;
	}
	if (fallback >= 0 && ibv_query_gid(ctx, 1, fallback, gid))
		return -1;
	return fallback;
}

int p2p_rc_connect(struct ibv_qp *qp, uint32_t dest_qpn,
		   const union ibv_gid *gid, int gid_index, enum ibv_mtu mtu,
		   unsigned int access, uint8_t retries)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };
	int err;

	/* From any state: a pair reused after an error starts over. */
	err = ibv_modify_qp(qp, &a, IBV_QP_STATE);
	if (err)
		return err;
	a = (struct ibv_qp_attr){
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.qp_access_flags = access,
	};
	err = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			    IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
	if (err)
		return err;
	a = (struct ibv_qp_attr){
		.qp_state = IBV_QPS_RTR,
		.path_mtu = mtu,
		.dest_qp_num = dest_qpn,
		.max_dest_rd_atomic = 1,
		.min_rnr_timer = 12,
		.ah_attr = {
			.is_global = 1,
			.grh = { .dgid = *gid, .sgid_index = gid_index,
				 .hop_limit = 1 },
			.port_num = 1,
		},
	};
	err = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV |
			    IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			    IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			    IBV_QP_MIN_RNR_TIMER);
	if (err)
		return err;
	a = (struct ibv_qp_attr){
		.qp_state = IBV_QPS_RTS,
		.timeout = 14,
		.retry_cnt = retries,
		.rnr_retry = retries,
		.max_rd_atomic = 1,
	};
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			     IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			     IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
}
