#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Register p2p_pgmap device memory with pyverbs and move data through it.

  pyverbs_rw.py [--odp] [DEVICE [OFFSET [SIZE]]]

The Python side of rdma-core on the same path as userspace/examples/
p2p_rdma_rw.c: map device memory, register it (ibv_reg_mr through
pyverbs.mr.MR with address=), connect two RC queue pairs on port 1 of the
first RDMA device to each other, RDMA WRITE a pattern from a host MR into
device memory, RDMA READ it back into a second host MR, and compare.
Exits 0 when every byte matches.

With --odp the device memory is registered on demand (IBV_ACCESS_ON_DEMAND:
no pin), after checking that the RDMA device reports on-demand paging for
RC RDMA WRITE and READ (it exits 1 saying so otherwise), the queue pairs
use the port's active MTU, and the pattern is random bytes, so that data
placed at another offset, even within its page, does not match.
"""
import ctypes
import mmap
import os
import sys

import pyverbs.enums as e
from pyverbs.addr import AHAttr, GlobalRoute
from pyverbs.cq import CQ
from pyverbs.device import Context, get_device_list
from pyverbs.mr import MR
from pyverbs.pd import PD
from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
from pyverbs.wr import SGE, SendWR

if sys.argv[1:2] in (["-h"], ["--help"]):
    print(__doc__.strip())
    sys.exit(0)

ACCESS = (e.IBV_ACCESS_LOCAL_WRITE | e.IBV_ACCESS_REMOTE_WRITE |
          e.IBV_ACCESS_REMOTE_READ)


def usable_gid(ctx):
    """Index and value of an IPv4-mapped GID of port 1 (RoCE v2)."""
    for i in range(ctx.query_port(1).gid_tbl_len):
        try:
            gid = ctx.query_gid(1, i)
        except Exception:
            continue
        if str(gid).startswith("0000:0000:0000:0000:0000:ffff"):
            return i, gid
    raise SystemExit("pyverbs_rw: no IPv4-mapped GID on port 1")


def check_odp(ctx):
    """The device reports on-demand paging for RC RDMA WRITE and READ."""
    caps = ctx.query_device_ex().odp_caps
    need = e.IBV_ODP_SUPPORT_WRITE | e.IBV_ODP_SUPPORT_READ
    if not caps.general_caps & e.IBV_ODP_SUPPORT or caps.rc_odp_caps & need != need:
        raise SystemExit(f"pyverbs_rw: --odp: the RDMA device has no on-demand paging for"
                         f" RC RDMA WRITE and READ (general caps {caps.general_caps:#x},"
                         f" RC caps {caps.rc_odp_caps:#x})")


def connect(qp, remote_qpn, gid, gid_index, mtu=e.IBV_MTU_1024):
    attr = QPAttr(qp_state=e.IBV_QPS_INIT)
    attr.qp_access_flags = ACCESS
    attr.port_num = 1
    qp.to_init(attr)
    attr = QPAttr(qp_state=e.IBV_QPS_RTR)
    attr.path_mtu = mtu
    attr.dest_qp_num = remote_qpn
    attr.max_dest_rd_atomic = 1
    attr.min_rnr_timer = 12
    attr.ah_attr = AHAttr(gr=GlobalRoute(dgid=gid, sgid_index=gid_index),
                          is_global=1, port_num=1)
    qp.to_rtr(attr)
    attr = QPAttr(qp_state=e.IBV_QPS_RTS)
    attr.timeout = 14
    attr.retry_cnt = 7
    attr.rnr_retry = 7
    attr.max_rd_atomic = 1
    qp.to_rts(attr)


def rdma(qp, cq, opcode, local, remote_addr, rkey, length):
    wr = SendWR(opcode=opcode, num_sge=1,
                sg=[SGE(local.buf, length, local.lkey)],
                send_flags=e.IBV_SEND_SIGNALED)
    wr.set_wr_rdma(rkey, remote_addr)
    qp.post_send(wr)
    while True:
        n, wcs = cq.poll()
        if n:
            if wcs[0].status != e.IBV_WC_SUCCESS:
                raise SystemExit(f"pyverbs_rw: completion status {wcs[0].status}")
            return


def main():
    args = sys.argv[1:]
    odp = "--odp" in args
    args = [a for a in args if a != "--odp"]
    dev = args[0] if len(args) > 0 else "/dev/p2p_pgmap0"
    offset = int(args[1], 0) if len(args) > 1 else 0
    size = int(args[2], 0) if len(args) > 2 else 65536

    fd = os.open(dev, os.O_RDWR)
    dev_map = mmap.mmap(fd, size, mmap.MAP_SHARED,
                        mmap.PROT_READ | mmap.PROT_WRITE, offset=offset)
    dev_addr = ctypes.addressof(ctypes.c_char.from_buffer(dev_map))

    names = get_device_list()
    if not names:
        raise SystemExit("pyverbs_rw: no RDMA device")
    ctx = Context(name=names[0].name.decode())
    gid_index, gid = usable_gid(ctx)
    mtu = e.IBV_MTU_1024
    if odp:
        check_odp(ctx)
        mtu = ctx.query_port(1).active_mtu
    pd = PD(ctx)
    cq = CQ(ctx, 8)
    dev_mr = MR(pd, size, ACCESS | (e.IBV_ACCESS_ON_DEMAND if odp else 0), address=dev_addr)
    src = MR(pd, size, ACCESS)
    dst = MR(pd, size, ACCESS)
    cap = QPCap(max_send_wr=4, max_recv_wr=4, max_send_sge=1, max_recv_sge=1)
    qa = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=cap))
    qb = QP(pd, QPInitAttr(qp_type=e.IBV_QPT_RC, scq=cq, rcq=cq, cap=cap))
    connect(qa, qb.qp_num, gid, gid_index, mtu)
    connect(qb, qa.qp_num, gid, gid_index, mtu)

    pattern = os.urandom(size) if odp else bytes((i * 37 + 11) & 0xff for i in range(size))
    src.write(pattern, size)
    rdma(qa, cq, e.IBV_WR_RDMA_WRITE, src, dev_addr, dev_mr.rkey, size)
    if dev_map[:size] != pattern:
        raise SystemExit("pyverbs_rw: device memory does not hold the RDMA WRITE")
    how = f"on demand, path MTU {128 << mtu}" if odp else "pinned"
    print(f"pyverbs: RDMA WRITE into {size} bytes of {dev} at {offset:#x} ({how}) verified")
    rdma(qa, cq, e.IBV_WR_RDMA_READ, dst, dev_addr, dev_mr.rkey, size)
    if dst.read(size, 0) != pattern:
        raise SystemExit("pyverbs_rw: RDMA READ from device memory returned other bytes")
    print(f"pyverbs: RDMA READ of {size} bytes back from {dev} verified")
    for obj in (qa, qb, dev_mr, src, dst, cq, pd, ctx):
        obj.close()
    dev_map.close()
    os.close(fd)


if __name__ == "__main__":
    main()
