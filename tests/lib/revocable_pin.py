#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""revocable_pin.py DEV_A DEV_B PAGES: map PAGES pages of DEV_A and, right
after them in the address space, PAGES pages of DEV_B (two devices' memory,
so two pagemaps); write every page; ask the test module p2p_test_pin for one
revocable long-term pin of the whole range ("ADDR LEN revocable", which
pins with pin_user_pages_revocable()). Prints "held " and the module's
state ("pinned N pagemaps M revoked R"), then reads the state every 0.1 s
until the pin is revoked ("revoked " and the state) or 120 s pass
("timeout " and the state); then closes the pin and exits 0. "refused
ERRNO-NAME" and exit 0 when the module refuses the pin; exit 2 when
something else failed. The mappings are not touched after the pin: one of
them may be gone."""
import ctypes
import mmap
import os
import sys
import time

from dmabuf import ename

if sys.argv[1:2] in (["-h"], ["--help"]):
    print(__doc__.strip())
    sys.exit(0)
if len(sys.argv) != 4:
    print(__doc__.strip(), file=sys.stderr)
    sys.exit(2)

dev_a, dev_b, pages = sys.argv[1], sys.argv[2], int(sys.argv[3])
page = mmap.PAGESIZE
length = pages * page

libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                      ctypes.c_int, ctypes.c_int, ctypes.c_long]
MAP_FAILED = ctypes.c_void_p(-1).value
MAP_FIXED = 0x10
PROT_NONE = 0


def must_map(addr, size, prot, flags, fd):
    got = libc.mmap(addr, size, prot, flags, fd, 0)
    if got == MAP_FAILED:
        err = ctypes.get_errno()
        sys.exit(f"revocable_pin: mmap: {os.strerror(err)}")
    return got


# Reserve both halves first, so that the two mappings are adjacent.
base = must_map(None, 2 * length, PROT_NONE,
                mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1)
fds = []
for i, dev in enumerate((dev_a, dev_b)):
    fd = os.open(dev, os.O_RDWR)
    fds.append(fd)
    must_map(base + i * length, length, mmap.PROT_READ | mmap.PROT_WRITE,
             mmap.MAP_SHARED | MAP_FIXED, fd)
for i in range(2 * pages):
    ctypes.memset(base + i * page, (i + 1) & 0xff, 1)

pin = os.open("/dev/p2p_test_pin", os.O_RDWR)


def state():
    return os.pread(pin, 64, 0).decode().strip()


try:
    os.write(pin, b"%x %x revocable" % (base, 2 * length))
except OSError as e:
    print("refused", ename(e), flush=True)
    sys.exit(0)
print("held", state(), flush=True)
deadline = time.monotonic() + 120
now = state()
while not now.endswith("revoked 1") and time.monotonic() < deadline:
    time.sleep(0.1)
    now = state()
print("revoked" if now.endswith("revoked 1") else "timeout", now, flush=True)
os.close(pin)
for fd in fds:
    os.close(fd)
