#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Unplug and re-plug the test VM's emulated PCI devices, from the host.

  tests/vm/hotplug [--rundir DIR] unplug [--id ivs0] [--no-wait] [--timeout S]
  tests/vm/hotplug [--rundir DIR] plug   [--id ivs0]
  tests/vm/hotplug [--rundir DIR] status [--id ivs0]
  tests/vm/hotplug --rundir DIR serve

tests/vm/hotplug runs this on the host; inside the guest it runs
tests/lib/hotplug.sh, which sends the same request over the VM's second serial
port to `serve` (started by tests/vm/run), which does the QMP work here.
DIR is the VM's run folder (default $P2P_VM_RUNDIR; `tests/vm/run --keep`
prints it).

`unplug` asks QEMU to remove the device (`device_del`) and, unless
--no-wait is given, returns only when QEMU reports it gone
(DEVICE_DELETED), that is when the guest's driver has finished its remove;
it prints the seconds that took. `plug` re-creates the memory backend (same
host file, so the BAR keeps its bytes) and adds the device back in the same
slot. Exit status 0 on success, 1 with a message on failure.
"""

import argparse
import json
import os
import socket
import sys
import time


class QMP:
    """A minimal QMP client: one connection, commands and events."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                # QEMU serves one QMP client at a time: wait our turn.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.file = self.sock.makefile("rwb")
        self.events = []
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self, timeout=None):
        self.sock.settimeout(timeout)
        line = self.file.readline()
        if not line:
            raise RuntimeError("QEMU closed the QMP connection")
        return json.loads(line)

    def execute(self, cmd, **args):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.file.write(json.dumps(msg).encode() + b"\n")
        self.file.flush()
        while True:
            reply = self._read(timeout=30)
            if "event" in reply:
                self.events.append(reply)
            elif "error" in reply:
                raise RuntimeError(f"{cmd}: {reply['error'].get('desc')}")
            elif "return" in reply:
                return reply["return"]

    def wait_event(self, name, device, timeout):
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events:
                data = ev.get("data", {})
                if ev["event"] == name and data.get("device") == device:
                    self.events.remove(ev)
                    return ev
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {name} for {device} within {timeout} s")
            try:
                self.events.append(self._read(timeout=left))
            except socket.timeout:
                pass

    def close(self):
        self.file.close()
        self.sock.close()


class Host:
    """Hot-plug operations on a running VM, from the host."""

    def __init__(self, rundir):
        self.rundir = rundir
        with open(os.path.join(rundir, "devices.json")) as f:
            self.devices = json.load(f)
        self.state_path = os.path.join(rundir, "hotplug-state.json")

    def _state(self):
        try:
            with open(self.state_path) as f:
                return json.load(f)
        except FileNotFoundError:
            return {dev: {"backend": d["backend"], "generation": 0}
                    for dev, d in self.devices.items()}

    def _save(self, state):
        with open(self.state_path + ".tmp", "w") as f:
            json.dump(state, f)
        os.replace(self.state_path + ".tmp", self.state_path)

    def _qmp(self):
        return QMP(os.path.join(self.rundir, "qmp.sock"))

    def present(self, dev):
        qmp = self._qmp()
        try:
            kids = qmp.execute("qom-list", path="/machine/peripheral")
        finally:
            qmp.close()
        return any(k["name"] == dev for k in kids)

    def unplug(self, dev, wait=True, timeout=600):
        qmp = self._qmp()
        try:
            start = time.monotonic()
            qmp.execute("device_del", id=dev)
            if not wait:
                return {"requested": True}
            qmp.wait_event("DEVICE_DELETED", dev, timeout)
            return {"seconds": round(time.monotonic() - start, 3)}
        finally:
            qmp.close()

    def plug(self, dev):
        d = self.devices[dev]
        state = self._state()
        old = state[dev]["backend"]
        gen = state[dev]["generation"] + 1
        new = f"{d['backend']}-g{gen}"
        qmp = self._qmp()
        try:
            start = time.monotonic()
            # QEMU 7.2 aborts when a new device reuses the old backend
            # object: drop it and make a fresh one on the same file.
            try:
                qmp.execute("object-del", id=old)
            except RuntimeError as err:
                if "not found" not in str(err):
                    raise
            qmp.execute("object-add", **{"qom-type": "memory-backend-file",
                                         "id": new, "size": d["size"],
                                         "mem-path": d["mem-path"],
                                         "share": True})
            qmp.execute("device_add", driver=d["driver"], id=dev,
                        bus=d["bus"], memdev=new)
        finally:
            qmp.close()
        state[dev] = {"backend": new, "generation": gen}
        self._save(state)
        return {"seconds": round(time.monotonic() - start, 3)}

    def handle(self, req):
        op = req.get("op")
        dev = req.get("id", "ivs0")
        if op not in ("unplug", "plug", "status"):
            raise RuntimeError(f"unknown request '{op}'")
        if dev not in self.devices:
            raise RuntimeError(f"unknown device '{dev}'")
        if op == "unplug":
            return self.unplug(dev, req.get("wait", True),
                               req.get("timeout", 600))
        if op == "plug":
            return self.plug(dev)
        return {"present": self.present(dev)}

    def serve(self):
        """Answer the guest's requests, one JSON line each, until QEMU ends.

        Each answer carries the request's "tag" back: the guest skips
        answers that are not its own (one meant for a requester that was
        killed while it waited). Each request is logged, with when it came
        in and how long it took, on standard error: the runner shows it
        among the guest's output.
        """
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = os.path.join(self.rundir, "ctl.sock")
        try:
            sock.connect(path)
        except OSError as err:
            raise RuntimeError(f"cannot reach the VM's control port {path}"
                               f" ({err.strerror}): has QEMU ended?") from err
        f = sock.makefile("rwb")
        t0 = time.monotonic()
        for line in f:
            line = line.strip()
            if not line.startswith(b"{"):
                continue
            came = time.monotonic()
            tag = None
            try:
                req = json.loads(line)
                tag = req.get("tag")
                reply = {"ok": True, **self.handle(req)}
            except Exception as err:  # reported to the guest, not fatal
                reply = {"ok": False, "error": str(err)}
            if tag is not None:
                reply["tag"] = tag
            f.write(json.dumps(reply).encode() + b"\n")
            f.flush()
            print(f"hotplug: at {came - t0:.1f} s, {line.decode()}: "
                  f"answered after {time.monotonic() - came:.3f} s: "
                  f"{json.dumps(reply)}", file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rundir", default=os.environ.get("P2P_VM_RUNDIR"))
    sub = ap.add_subparsers(dest="op", required=True)
    u = sub.add_parser("unplug")
    u.add_argument("--id", default="ivs0")
    u.add_argument("--no-wait", action="store_true")
    u.add_argument("--timeout", type=float, default=600)
    p = sub.add_parser("plug")
    p.add_argument("--id", default="ivs0")
    s = sub.add_parser("status")
    s.add_argument("--id", default="ivs0")
    sub.add_parser("serve")
    args = ap.parse_args()

    req = {"op": args.op, "id": getattr(args, "id", "ivs0")}
    if args.op == "unplug":
        req.update(wait=not args.no_wait, timeout=args.timeout)
    try:
        if not args.rundir:
            raise RuntimeError("no run folder: pass --rundir or set P2P_VM_RUNDIR")
        host = Host(args.rundir)
        if args.op == "serve":
            host.serve()
            return 0
        reply = host.handle(req)
    except Exception as err:
        print(f"hotplug {args.op}: {err}", file=sys.stderr)
        return 1
    if "seconds" in reply:
        print(f"{args.op} {req['id']}: done in {reply['seconds']} s")
    elif "present" in reply:
        print(f"{req['id']}: {'present' if reply['present'] else 'absent'}")
    else:
        print(f"{args.op} {req['id']}: requested")
    return 0


if __name__ == "__main__":
    sys.exit(main())
