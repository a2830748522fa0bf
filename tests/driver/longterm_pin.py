#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""longterm_pin.py PATH PAGES: map PAGES pages of PATH (a device node, or
"anon" for anonymous memory), write them, and ask the test module
p2p_test_pin for a long-term pin of them that cannot be revoked
("ADDR LEN longterm"). Prints "pinned" or "refused ERRNO-NAME" and exits
0 either way; 2 when something else failed."""
import ctypes
import errno
import mmap
import os
import sys

if sys.argv[1:2] in (["-h"], ["--help"]):
    print(__doc__.strip())
    sys.exit(0)

path, pages = sys.argv[1], int(sys.argv[2])
length = pages * mmap.PAGESIZE
if path == "anon":
    m = mmap.mmap(-1, length, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
else:
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, length, flags=mmap.MAP_SHARED)
for i in range(pages):
    m[i * mmap.PAGESIZE] = i & 0xff
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
pin = os.open("/dev/p2p_test_pin", os.O_WRONLY)
try:
    os.write(pin, b"%x %x longterm" % (addr, length))
    print("pinned")
except OSError as e:
    # ENOTSUP is EOPNOTSUPP on Linux; say the name the kernel uses.
    name = ("EOPNOTSUPP" if e.errno == errno.EOPNOTSUPP
            else errno.errorcode.get(e.errno, str(e.errno)))
    print("refused", name)
os.close(pin)
