#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""bar_holds.py FILE OFFSET SIZE [SEED [POS]]: exit 0 when FILE holds, at
OFFSET, the SIZE bytes p2p_rdma_rw leaves in device memory by its last RDMA
WRITE (its fill(): byte i is SEED ^ i*131 ^ i>>9; SEED defaults to 0x3c),
starting at byte POS of that pattern (default 0): the offset in the
buffer of a run that p2p_rdma_rw's "placement: buf+POS bar OFFSET len SIZE"
lines report."""
import sys

path, off, size = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3], 0)
seed = int(sys.argv[4], 0) if len(sys.argv) > 4 else 0x3c
pos = int(sys.argv[5], 0) if len(sys.argv) > 5 else 0
# Byte by byte that is a second per MiB in a guest under emulation. The
# pattern is periodic: i*131 mod 256 repeats every 256 bytes, so each
# 512-byte block is the first one XOR its block number (mod 256), and the
# whole repeats every 256 blocks.
first = bytes((seed ^ (i * 131)) & 0xff for i in range(512))
period = b"".join(first.translate(bytes(x ^ b for x in range(256)))
                  for b in range(256))
start = pos % len(period)
want = (period * ((start + size) // len(period) + 1))[start:start + size]
with open(path, "rb") as f:
    f.seek(off)
    sys.exit(0 if f.read(size) == want else 1)
