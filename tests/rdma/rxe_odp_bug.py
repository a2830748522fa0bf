#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""rxe_odp_bug.py SIZE MTU: the "RDMA WRITE: ..." and "RDMA READ: ..." lines
p2p_rdma_rw --odp --mtu MTU --size SIZE prints on an RDMA device with the
bug of soft-RoCE's __rxe_odp_mr_copy() in 7.3
(drivers/infiniband/sw/rxe/rxe_odp.c): it copies every packet to or from
the start of the packet's page (kmap_local_page() without the offset within
the page) and never moves on in the packet's own buffer. With a path MTU of
a page or more every packet starts a page and the bug does nothing; below
that, a WRITE leaves each page's last packet at its start and the rest of
the page as it was, and a READ returns the start of the page for every
packet of it.

A model of that bug, from p2p_rdma_rw's patterns (bar_holds.py): so a test
can say that what it saw is this bug and not another fault."""
import sys

from bar_holds import pattern

if sys.argv[1:2] in (["-h"], ["--help"]):
    print(__doc__.strip())
    sys.exit(0)

PAGE = 4096


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    return h


def line(what, got, want):
    same = sum(1 for a, b in zip(got, want) if a == b)
    text = f"{what}: {same} of {len(want)} bytes as sent, digest {fnv1a64(got):016x}"
    first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
    return text + (f", first other byte at {first}" if first is not None else "")


def main():
    size, mtu = int(sys.argv[1], 0), int(sys.argv[2], 0)
    # WRITE: the memory held seed 0x5a, the packets carry seed 0x3c.
    sent = pattern(0x3c, 0, size)
    mem = bytearray(pattern(0x5a, 0, size))
    for off in range(0, size, mtu):
        page = off - off % PAGE
        n = min(mtu, size - off, PAGE - off % PAGE)
        mem[page:page + n] = sent[off:off + n]
    print(line("RDMA WRITE", mem, sent))
    # READ: the memory holds seed 0xa7, each packet reads its page's start.
    held = pattern(0xa7, 0, size)
    got = bytearray(size)
    for off in range(0, size, mtu):
        page = off - off % PAGE
        n = min(mtu, size - off, PAGE - off % PAGE)
        got[off:off + n] = held[page:page + n]
    print(line("RDMA READ", got, held))


if __name__ == "__main__":
    main()
