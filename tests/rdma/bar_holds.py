#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""bar_holds.py [--write] FILE OFFSET SIZE [SEED [POS]]: exit 0 when FILE holds, at
OFFSET, the SIZE bytes p2p_rdma_rw leaves in device memory by its last RDMA
WRITE (its fill(): the 8-byte word at byte 8k of the buffer is a hash of k
and SEED, least significant byte first; SEED defaults to 0x3c), starting
at byte POS of that pattern (default 0): the offset in the buffer of a run
that p2p_rdma_rw's "placement: buf+POS bar OFFSET len SIZE" lines report.
Where they differ it says how many bytes do, and where the first one is.
With --write it puts those bytes there instead (for p2p_rdma_rw --read-bar)."""
import struct
import sys

if sys.argv[1:2] in (["-h"], ["--help"]):
    print(__doc__.strip())
    sys.exit(0)

M = (1 << 64) - 1


def pattern(seed, pos, size):
    """Bytes pos .. pos + size of p2p_rdma_rw's pattern (pattern_word())."""
    first, last = pos // 8, (pos + size + 7) // 8
    s = seed * 0xd1b54a32d192ed03
    words = []
    for k in range(first, last):
        x = ((k + 1) * 0x9e3779b97f4a7c15 + s) & M
        x ^= x >> 31
        x = (x * 0xbf58476d1ce4e5b9) & M
        words.append(x ^ (x >> 29))
    data = struct.pack(f"<{len(words)}Q", *words)
    return data[pos - first * 8:pos - first * 8 + size]


def main():
    args = sys.argv[1:]
    write = args[:1] == ["--write"]
    args = args[1:] if write else args
    path, off, size = args[0], int(args[1], 0), int(args[2], 0)
    seed = int(args[3], 0) if len(args) > 3 else 0x3c
    pos = int(args[4], 0) if len(args) > 4 else 0
    want = pattern(seed, pos, size)
    if write:
        with open(path, "r+b") as f:
            f.seek(off)
            f.write(want)
        return 0
    with open(path, "rb") as f:
        f.seek(off)
        got = f.read(size)
    if got == want:
        return 0
    bad = [i for i in range(min(len(got), size)) if got[i] != want[i]]
    bad += range(len(got), size)
    print(f"# {path} at {off:#x}: {len(bad)} of {size} bytes are not the pattern,"
          f" the first at +{bad[0]:#x}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
