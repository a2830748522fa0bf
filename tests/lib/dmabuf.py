#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""dmabuf.py COMMAND ...: export p2p_pgmap memory as a dma-buf
(P2P_PGMAP_IOC_EXPORT) and import it with the test module p2p_test_dmabuf,
for the tests. Prints what happened, one fact per line; exits 0 when it
could tell, 2 when something else failed.

  export DEV OFFSET LEN FLAGS
      "export ok SIZE" (SIZE: lseek() of the dma-buf) or "export ERRNO".
  map DEV OFFSET LEN FLAGS BDF MODE DIR
      export (FLAGS as above), attach for the PCI device BDF, map:
      "attach ok|ERRNO", "map ok|ERRNO", then "segs A:L,..." (the DMA
      segments the importer got) and "bar A:L,..." (the bus addresses of
      the range's memory: BAR start + the placement ioctl's BAR offsets,
      merged where contiguous).
  lifetime DEV PAGES
      the memory of an export outlives its file, is never another
      file's, and goes back when the dma-buf goes: "fact NAME yes|no"
  hold DEV PAGES BDF
      export, attach dynamic and pinned revocable for BDF, map both, say
      "held", then wait for the device's hang-up (POLLHUP) and report
      what each importer saw ("fact NAME yes|no", "pinned ERRNO" when the
      kernel refuses the pinned importer's map); on SIGTERM (or after
      120 s) close everything and say "closed".

FLAGS: r, w, rw, 0 (none) or bad (an unknown bit). MODE: dynamic,
pinned-revocable, pinned, static. DIR: bidi, to-device, from-device.
Numbers may be hex (0x)."""
import errno
import fcntl
import mmap
import os
import select
import signal
import struct
import sys
import time

PAGE = mmap.PAGESIZE


def _ioc(direction, kind, nr, size):
    return (direction << 30) | (size << 16) | (kind << 8) | nr


IOW, IOR, IOWR = 1, 2, 3
EXPORT_FMT = "=QQIi"
PLACEMENT_FMT = "=QQQII"
INFO_FMT = "=QQQQIIIIQQQQQQQ"
ATTACH_FMT = "=iI32sII"
MAP_FMT = "=IIQIIQ"
STATUS_FMT = "=IIII"
IOC_INFO = _ioc(IOR, 0xBC, 0, struct.calcsize(INFO_FMT))
IOC_PLACEMENT = _ioc(IOWR, 0xBC, 1, struct.calcsize(PLACEMENT_FMT))
IOC_EXPORT = _ioc(IOWR, 0xBC, 3, struct.calcsize(EXPORT_FMT))
T_ATTACH = _ioc(IOWR, 0xBB, 0, struct.calcsize(ATTACH_FMT))
T_MAP = _ioc(IOWR, 0xBB, 1, struct.calcsize(MAP_FMT))
T_UNMAP = _ioc(IOW, 0xBB, 2, 4)
T_DETACH = _ioc(IOW, 0xBB, 3, 4)
T_STATUS = _ioc(IOWR, 0xBB, 4, struct.calcsize(STATUS_FMT))

FLAGS = {"r": 1, "w": 2, "rw": 3, "0": 0, "bad": 3 | (1 << 7)}
MODES = {"dynamic": 0, "pinned-revocable": 1, "pinned": 2, "static": 3}
DIRS = {"bidi": 0, "to-device": 1, "from-device": 2}


def ename(e):
    """The kernel's name for an errno (ENOTSUP is EOPNOTSUPP on Linux)."""
    if e.errno == errno.EOPNOTSUPP:
        return "EOPNOTSUPP"
    return errno.errorcode.get(e.errno, str(e.errno))


def num(s):
    return int(s, 0)


def export(fd, offset, length, flags):
    buf = bytearray(struct.pack(EXPORT_FMT, offset, length, flags, -1))
    fcntl.ioctl(fd, IOC_EXPORT, buf)
    return struct.unpack(EXPORT_FMT, buf)[3]


def info(fd):
    buf = bytearray(struct.calcsize(INFO_FMT))
    fcntl.ioctl(fd, IOC_INFO, buf)
    v = struct.unpack(INFO_FMT, buf)
    return {"size": v[0], "free": v[1], "bar_offset": v[3], "bar": v[4],
            "file_held": v[10]}


def placement(fd, offset, length):
    """The BAR runs of [offset, offset + length) of the file: (bar_offset, len)."""
    room = 4096
    ranges = bytearray(room * 24)
    addr = ctypes_addr(ranges)
    buf = bytearray(struct.pack(PLACEMENT_FMT, offset, length, addr, room, 0))
    fcntl.ioctl(fd, IOC_PLACEMENT, buf)
    nr = struct.unpack(PLACEMENT_FMT, buf)[3]
    out = []
    for i in range(nr):
        _, bar_off, ln = struct.unpack_from("=QQQ", ranges, i * 24)
        out.append((bar_off, ln))
    return out


def ctypes_addr(buf):
    import ctypes
    return ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))


def bar_start(dev):
    """CPU address of the BAR behind DEV (bus address too: the emulated
    platform does not translate)."""
    fd = os.open(dev, os.O_RDWR)
    try:
        bar = info(fd)["bar"]
    finally:
        os.close(fd)
    name = os.path.basename(dev)
    with open("/sys/class/p2p_pgmap_cdev/%s/device/resource" % name) as f:
        return int(f.read().splitlines()[bar].split()[0], 16)


def merged(runs):
    out = []
    for a, ln in runs:
        if out and out[-1][0] + out[-1][1] == a:
            out[-1] = (out[-1][0], out[-1][1] + ln)
        else:
            out.append((a, ln))
    return ",".join("%#x:%#x" % r for r in out)


class Importer:
    """The test module's file: attachments on behalf of PCI devices."""

    def __init__(self):
        self.fd = os.open("/dev/p2p_test_dmabuf", os.O_RDWR)

    def attach(self, dmabuf, bdf, mode):
        buf = bytearray(struct.pack(ATTACH_FMT, dmabuf, MODES[mode],
                                    bdf.encode(), 0, 0))
        fcntl.ioctl(self.fd, T_ATTACH, buf)
        return struct.unpack(ATTACH_FMT, buf)[3]

    def map(self, att, direction="bidi"):
        room = 4096
        segs = bytearray(room * 16)
        buf = bytearray(struct.pack(MAP_FMT, att, DIRS[direction],
                                    ctypes_addr(segs), room, 0, 0))
        fcntl.ioctl(self.fd, T_MAP, buf)
        nr = struct.unpack(MAP_FMT, buf)[4]
        return [struct.unpack_from("=QQ", segs, i * 16) for i in range(min(nr, room))]

    def status(self, att):
        buf = bytearray(struct.pack(STATUS_FMT, att, 0, 0, 0))
        fcntl.ioctl(self.fd, T_STATUS, buf)
        _, mapped, pinned, inval = struct.unpack(STATUS_FMT, buf)
        return {"mapped": mapped, "pinned": pinned, "invalidations": inval}

    def close(self):
        os.close(self.fd)


def until_sigterm():
    """A list that SIGTERM makes non-empty: a holder's signal to let go."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    return stop


def hold_then_close(stop, deadline, imp, *fds):
    """Wait for SIGTERM (stop) or the deadline (time.monotonic()), then
    close the importer and FDS and say "closed"."""
    while not stop and time.monotonic() < deadline:
        time.sleep(0.1)
    imp.close()
    for fd in fds:
        os.close(fd)
    print("closed", flush=True)


def fact(name, ok):
    print("fact %s %s" % (name, "yes" if ok else "no"), flush=True)


def cmd_export(dev, offset, length, flags):
    fd = os.open(dev, os.O_RDWR)
    try:
        dfd = export(fd, num(offset), num(length), FLAGS[flags])
    except OSError as e:
        print("export", ename(e))
        return
    print("export ok", os.lseek(dfd, 0, os.SEEK_END))
    os.close(dfd)
    os.close(fd)


def cmd_map(dev, offset, length, flags, bdf, mode, direction):
    offset, length = num(offset), num(length)
    fd = os.open(dev, os.O_RDWR)
    try:
        dfd = export(fd, offset, length, FLAGS[flags])
    except OSError as e:
        print("export", ename(e))
        return
    start = bar_start(dev)
    bar = [(start + b, ln) for b, ln in placement(fd, offset, length)]
    imp = Importer()
    try:
        att = imp.attach(dfd, bdf, mode)
        print("attach ok")
    except OSError as e:
        print("attach", ename(e))
        return
    try:
        segs = imp.map(att, direction)
        print("map ok")
    except OSError as e:
        print("map", ename(e))
        return
    print("segs", merged(segs))
    print("bar", merged(bar))
    imp.close()
    os.close(dfd)
    os.close(fd)


def settle(fd, want, what):
    """Wait (10 s at most) until what(info) == want; the last value."""
    for _ in range(100):
        got = what(info(fd))
        if got == want:
            break
        time.sleep(0.1)
    return got


def cmd_lifetime(dev, pages):
    pages = int(pages)
    length = pages * PAGE
    probe = os.open(dev, os.O_RDWR)
    free0 = settle(probe, info(probe)["size"], lambda i: i["free"])
    f1 = os.open(dev, os.O_RDWR)
    m1 = mmap.mmap(f1, length, flags=mmap.MAP_SHARED)
    m1[:] = b"\xa5" * length
    dfd = export(f1, 0, length, FLAGS["rw"])
    held = placement(f1, 0, length)
    del m1
    os.close(f1)
    # The file is gone: the dma-buf alone holds its memory.
    free1 = settle(probe, free0 - length, lambda i: i["free"])
    fact("memory_kept_after_close", free1 == free0 - length)
    with open("/sys/class/p2p_pgmap_cdev/%s/device/p2p_pgmap/owners"
              % os.path.basename(dev)) as f:
        owners = f.read()
    fact("owner_listed_closed_holding",
         "file=closed held=%d " % length in owners)
    f2 = os.open(dev, os.O_RDWR)
    m2 = mmap.mmap(f2, length, flags=mmap.MAP_SHARED)
    fact("new_file_reads_zero", m2[:] == bytes(length))
    mine = placement(f2, 0, length)
    overlap = any(a < b + bl and b < a + al
                  for a, al in mine for b, bl in held)
    fact("new_file_never_gets_exported_memory", mine and not overlap)
    os.close(dfd)
    # The last fd, no importer: the memory goes back (f2 holds its own).
    free2 = settle(probe, free0 - length, lambda i: i["free"])
    fact("memory_back_when_dmabuf_closed", free2 == free0 - length)
    del m2
    os.close(f2)
    free3 = settle(probe, free0, lambda i: i["free"])
    fact("all_back_at_the_end", free3 == free0)
    os.close(probe)


def cmd_hold(dev, pages, bdf):
    length = int(pages) * PAGE
    fd = os.open(dev, os.O_RDWR)
    dfd = export(fd, 0, length, FLAGS["rw"])
    imp = Importer()
    dyn = imp.attach(dfd, bdf, "dynamic")
    imp.map(dyn)
    pinned = None
    try:
        pinned = imp.attach(dfd, bdf, "pinned-revocable")
        imp.map(pinned)
    except OSError as e:
        # Before 7.0 a pinned importer cannot be revoked: refused.
        print("pinned", ename(e))
        pinned = None
    print("held", flush=True)
    stop = until_sigterm()
    p = select.poll()
    p.register(fd, select.POLLIN)
    hup = False
    deadline = time.monotonic() + 120
    while not stop and time.monotonic() < deadline:
        ev = p.poll(200)
        if ev and ev[0][1] & select.POLLHUP:
            hup = True
            break
    fact("pollhup", hup)
    if hup:
        for name, att in (("dynamic", dyn), ("pinned_revocable", pinned)):
            if att is None:
                continue
            st = imp.status(att)
            fact(name + "_invalidated_once", st["invalidations"] == 1)
            fact(name + "_unmapped", not st["mapped"] and not st["pinned"])
            try:
                imp.map(att)
                fact(name + "_map_after_revoke_fails", False)
            except OSError as e:
                fact(name + "_map_after_revoke_fails", e.errno == errno.ENODEV)
        try:
            imp.attach(dfd, bdf, "dynamic")
            fact("attach_after_revoke_fails", False)
        except OSError as e:
            fact("attach_after_revoke_fails", e.errno == errno.ENODEV)
    print("waiting", flush=True)
    hold_then_close(stop, deadline, imp, dfd, fd)


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    cmds = {"export": (cmd_export, 4), "map": (cmd_map, 7),
            "lifetime": (cmd_lifetime, 2), "hold": (cmd_hold, 3)}
    if argv[0] not in cmds or len(argv) - 1 != cmds[argv[0]][1]:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        cmds[argv[0]][0](*argv[1:])
    except (OSError, KeyError, ValueError) as e:
        print("dmabuf.py:", e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
