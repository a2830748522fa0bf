#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""fio_block_in_bar.py PID NODE BAR_FILE BLOCK_FILE: exit 0 when the memory
that process PID's open file of NODE (a /dev/p2p_pgmapN) holds contains the
bytes of BLOCK_FILE, read where the driver placed it in BAR_FILE (the host
file behind the BAR).

Run from fio's exec_postrun, while fio still holds its I/O buffer: once a
file is released, the driver zeroes the memory it gave back, so the check
cannot wait until fio has exited. The file is the process's own (an
ioctl on a file opened anew would ask about another owner's memory):
pidfd_getfd() duplicates it here, which needs ptrace rights over PID (root
has them). Only the runs of the buffer are read from BAR_FILE, which the
guest reaches over a slow share."""
import ctypes
import fcntl
import os
import struct
import sys

if sys.argv[1:2] in (["-h"], ["--help"]):
    print(__doc__.strip())
    sys.exit(0)

SYS_PIDFD_GETFD = 438
# _IOWR(0xBC, 0x01, struct p2p_pgmap_placement) and _IOR(0xBC, 0x00, info v1).
PLACEMENT = (3 << 30) | (32 << 16) | (0xBC << 8) | 0x01
RANGE = struct.Struct("<QQQ")        # offset, bar_offset, len
PL = struct.Struct("<QQQII")         # offset, len, ranges, nr_ranges, flags


def their_file(pid, node):
    """A duplicate of PID's open file of NODE, or None."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") != node:
                    continue
            except OSError:
                continue
            got = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
            if got >= 0:
                return got
    finally:
        os.close(pidfd)
    return None


def runs(fd, size):
    """(file offset, BAR offset, length) of each run of the file's memory."""
    buf = ctypes.create_string_buffer(RANGE.size * 64)
    arg = bytearray(PL.pack(0, size, ctypes.addressof(buf), 64, 0))
    fcntl.ioctl(fd, PLACEMENT, arg)
    nr = PL.unpack(bytes(arg))[3]
    return [RANGE.unpack_from(buf.raw, i * RANGE.size) for i in range(nr)]


def main():
    pid, node, bar_file, block_file = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    block = open(block_file, "rb").read()
    fd = their_file(pid, node)
    if fd is None:
        sys.exit(f"fio_block_in_bar: process {pid} has no open file of {node}")
    # fio's buffer starts at offset 0 of the mapping, maybe a page in.
    span = 2 * len(block) + 4096
    held = bytearray(span)
    with open(bar_file, "rb") as bar:
        for offset, bar_offset, length in runs(fd, span):
            bar.seek(bar_offset)
            held[offset:offset + length] = bar.read(length)
    os.close(fd)
    if held.find(block) < 0:
        sys.exit("fio_block_in_bar: the buffer's memory in the BAR does not hold the block")
    print("fio_block_in_bar: the last block fio read is in the BAR where its buffer sits")


if __name__ == "__main__":
    main()
