#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""dmabuf_bench.py COMMAND ...: the timed parts of `make bench`'s dma-buf
section (userspace/bench/guest-dmabuf runs it in the guest). It exports
p2p_pgmap memory (P2P_PGMAP_IOC_EXPORT) and imports it with the test
module p2p_test_dmabuf (through tests/lib/dmabuf.py), for the PCI device
BDF, as a NIC's driver would import a dma-buf MR.

  setup DEV BDF MIB REPS
      REPS times each, one JSON line per measurement (bench "dmabuf_setup"):
      - export, first touch: a new open of DEV, P2P_PGMAP_IOC_EXPORT of
        MIB MiB at offset 0 (the memory is taken and zeroed for it), one
        dynamic attachment for BDF, and its map; then the same again on
        the same file, whose memory is now taken ("export, again");
      - MR, first touch: a new open of DEV, mmap of MIB MiB, ibv_reg_mr
        (its pages fault in, taken and zeroed, and are pinned); then
        ibv_dereg_mr and ibv_reg_mr of the same mapping ("MR, again").
      Each first touch starts once the driver has zeroed every free byte
      (info ioctl: dirty_bytes 0), so both find the pool alike. A MR that
      the kernel refuses gives one line with its error, and the export
      lines go on.
  hold DEV BDF MIB ATTACHMENTS
      export MIB MiB, ATTACHMENTS dynamic attachments for BDF in one
      importer file, each mapped; say "held", then wait for SIGTERM (or
      600 s), close everything and say "closed".

Times are of the calls alone (time.perf_counter_ns around them); the
release that follows each (detach, close, ibv_dereg_mr) is timed apart."""
import ctypes
import ctypes.util
import fcntl
import json
import os
import struct
import sys
import time

# No __pycache__ left in the tree (and none for --help).
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "tests", "lib"))
import dmabuf  # noqa: E402  (tests/lib: the export ioctl and the importer)

PROT_READ, PROT_WRITE, MAP_SHARED = 1, 2, 1
MAP_FAILED = ctypes.c_void_p(-1).value
# IBV_ACCESS_LOCAL_WRITE | REMOTE_WRITE | REMOTE_READ, as reg_mr_bench.
MR_ACCESS = 1 | 2 | 4
DIRTY_FIELD = 14  # dirty_bytes: the last field of struct p2p_pgmap_info


def ms(ns):
    return round(ns / 1e6, 3)


def emit(**fields):
    print(json.dumps({"bench": "dmabuf_setup", **fields}), flush=True)


def dirty_bytes(fd):
    buf = bytearray(struct.calcsize(dmabuf.INFO_FMT))
    fcntl.ioctl(fd, dmabuf.IOC_INFO, buf)
    return struct.unpack(dmabuf.INFO_FMT, buf)[DIRTY_FIELD]


def wait_zeroed(dev, timeout=300):
    """Wait until the driver has zeroed all free memory; the seconds it took."""
    fd = os.open(dev, os.O_RDWR)
    start = time.monotonic()
    try:
        while dirty_bytes(fd):
            if time.monotonic() - start > timeout:
                raise RuntimeError("free memory still not zeroed after %d s" % timeout)
            time.sleep(0.05)
    finally:
        os.close(fd)
    return round(time.monotonic() - start, 3)


class Verbs:
    """ibv_reg_mr / ibv_dereg_mr on the first RDMA device, through libibverbs."""

    def __init__(self):
        lib = ctypes.CDLL(ctypes.util.find_library("ibverbs") or "libibverbs.so.1",
                          use_errno=True)
        lib.ibv_get_device_list.restype = ctypes.POINTER(ctypes.c_void_p)
        lib.ibv_get_device_list.argtypes = [ctypes.POINTER(ctypes.c_int)]
        lib.ibv_open_device.restype = ctypes.c_void_p
        lib.ibv_open_device.argtypes = [ctypes.c_void_p]
        lib.ibv_alloc_pd.restype = ctypes.c_void_p
        lib.ibv_alloc_pd.argtypes = [ctypes.c_void_p]
        lib.ibv_reg_mr.restype = ctypes.c_void_p
        lib.ibv_reg_mr.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                   ctypes.c_int]
        lib.ibv_dereg_mr.argtypes = [ctypes.c_void_p]
        self.lib = lib
        n = ctypes.c_int(0)
        devs = lib.ibv_get_device_list(ctypes.byref(n))
        if not devs or n.value < 1:
            raise RuntimeError("no RDMA device")
        self.ctx = lib.ibv_open_device(devs[0])
        self.pd = lib.ibv_alloc_pd(self.ctx) if self.ctx else None
        if not self.pd:
            raise RuntimeError("cannot open the RDMA device or allocate a PD")

    def reg(self, addr, length):
        mr = self.lib.ibv_reg_mr(self.pd, addr, length, MR_ACCESS)
        if not mr:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return mr

    def dereg(self, mr):
        self.lib.ibv_dereg_mr(mr)


libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]


def export_once(fd, length, bdf):
    """Export + attach + map, timed part by part; then the release, timed."""
    t0 = time.perf_counter_ns()
    dfd = dmabuf.export(fd, 0, length, dmabuf.FLAGS["rw"])
    t1 = time.perf_counter_ns()
    imp = dmabuf.Importer()
    t2 = time.perf_counter_ns()
    att = imp.attach(dfd, bdf, "dynamic")
    t3 = time.perf_counter_ns()
    segs = imp.map(att)
    t4 = time.perf_counter_ns()
    imp.close()
    os.close(dfd)
    t5 = time.perf_counter_ns()
    return {"ms": ms((t1 - t0) + (t4 - t2)), "export_ms": ms(t1 - t0),
            "attach_ms": ms(t3 - t2), "map_ms": ms(t4 - t3), "release_ms": ms(t5 - t4),
            "segments": len(segs)}


def mr_once(verbs, addr, length):
    t0 = time.perf_counter_ns()
    mr = verbs.reg(addr, length)
    t1 = time.perf_counter_ns()
    verbs.dereg(mr)
    t2 = time.perf_counter_ns()
    return {"ms": ms(t1 - t0), "release_ms": ms(t2 - t1)}


def cmd_setup(dev, bdf, mib, reps):
    mib, reps = int(mib), int(reps)
    length = mib << 20
    common = {"mib": mib}
    for rep in range(1, reps + 1):
        ready = wait_zeroed(dev)
        fd = os.open(dev, os.O_RDWR)
        try:
            emit(way="export", touch="first", rep=rep, ready_wait_s=ready,
                 **common, **export_once(fd, length, bdf))
            emit(way="export", touch="again", rep=rep, **common,
                 **export_once(fd, length, bdf))
        finally:
            os.close(fd)

    try:
        verbs = Verbs()
    except (OSError, RuntimeError) as e:
        emit(way="mr", error="no RDMA device to register with: %s" % e, **common)
        return
    for rep in range(1, reps + 1):
        ready = wait_zeroed(dev)
        fd = os.open(dev, os.O_RDWR)
        addr = libc.mmap(None, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        try:
            if addr in (None, MAP_FAILED):
                raise OSError(ctypes.get_errno(), "mmap: " + os.strerror(ctypes.get_errno()))
            emit(way="mr", touch="first", rep=rep, ready_wait_s=ready, **common,
                 **mr_once(verbs, addr, length))
            emit(way="mr", touch="again", rep=rep, **common, **mr_once(verbs, addr, length))
        except OSError as e:
            emit(way="mr", error="ibv_reg_mr of %d MiB of device memory: %s"
                 % (mib, e.strerror), errno=dmabuf.ename(e), **common)
            return
        finally:
            if addr not in (None, MAP_FAILED):
                libc.munmap(addr, length)
            os.close(fd)


def cmd_hold(dev, bdf, mib, attachments):
    length = int(mib) << 20
    fd = os.open(dev, os.O_RDWR)
    dfd = dmabuf.export(fd, 0, length, dmabuf.FLAGS["rw"])
    imp = dmabuf.Importer()
    for _ in range(int(attachments)):
        imp.map(imp.attach(dfd, bdf, "dynamic"))
    stop = dmabuf.until_sigterm()
    print("held", flush=True)
    dmabuf.hold_then_close(stop, time.monotonic() + 600, imp, dfd, fd)


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    cmds = {"setup": cmd_setup, "hold": cmd_hold}
    if argv[0] not in cmds or len(argv) != 5:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        cmds[argv[0]](*argv[1:])
    except (OSError, RuntimeError, ValueError) as e:
        print("dmabuf_bench.py:", e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
