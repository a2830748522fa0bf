#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn bench JSON lines into tables with ratios, a JSON file and a PNG plot.

  report.py KERNEL BENCH.jsonl OUTDIR

The other sections (reg_mr_touched lines from guest-reg, touch lines from
guest-touch, dio lines from guest-p2p, unplug_traffic lines from
guest-unplug-traffic, dmabuf_setup and dmabuf_remove lines from
guest-dmabuf, each naming the kernel it ran on) are optional: without
them the report and the plot are the ones of the first sections alone;
with unplug_traffic or dmabuf lines alone (BENCH_PARTS=traffic, dmabuf)
they are those sections'.
"""
import json
import os
import subprocess
import sys

if sys.argv[1:2] in (["-h"], ["--help"]):
    print(__doc__.strip())
    sys.exit(0)

GOAL_REG = 1.1   # registration time, device / host: at most
GOAL_BW = 0.9    # bandwidth, device / host: at least
GOAL_UNPLUG = 1.5  # idle remove time, 4 GiB BAR / 64 MiB BAR: at most
GOAL_UNPLUG_TRAFFIC = 1.5  # remove under RDMA traffic / idle remove, same VM: at most
GOAL_TOUCH = 0.5  # mmap + first touch time, p2p_pgmap / p2pmem: at most
GOAL_REG_TOUCHED = 1.0  # registration of touched memory, device / THP host: at most
GOAL_DMABUF_REMOVE = 1.5  # remove with mapped dma-buf attachments / idle remove: at most
GOAL_MANY_MRS = 2.0  # remove with 1024 registered MRs / with one, under traffic: at most
REG_TOUCHED_KERNEL = "p2pdma-7.3"  # where the goal applies: P2PDMA pins, large folios
# Where the goal applies: stock p2pmem, and the series' (pgmap_request_folios()).
TOUCH_KERNELS = ("debian-7.3", "p2pdma-7.3")
ZERO_METHOD = ("writing zeros into the same amount of mapped device memory with"
               " 8-byte stores from userspace (the driver zeroes with 8-byte stores)")
P2P_MEMS = ("p2p_pgmap", "p2pmem", "host")
FAULTS_PER = 256 << 20  # faults are reported per this many bytes touched


def median(values):
    v = sorted(values)
    n = len(v)
    return (v[n // 2] + v[(n - 1) // 2]) / 2 if n else None


def unplug_report(rows, kernel, result):
    """Idle remove per BAR size (the driver's own split of the time), and
    the time from the last folio freed to remove done."""
    idle = [r for r in rows if r["bench"] == "unplug" and r["case"] == "idle"]
    rel = [r for r in rows if r["bench"] == "unplug" and r["case"] == "release"]
    sizes = sorted({r["bar_bytes"] for r in idle})
    result["unplug"] = []
    if not sizes:
        return
    print(f"\n== hot-unplug of an idle device on {kernel} (ms, median of"
          f" {max(len([r for r in idle if r['bar_bytes'] == b]) for b in sizes)})")
    print(f"{'BAR':>6} {'remove':>8} {'revoke':>8} {'wait':>8} {'unmap':>8}"
          f" {'device_del':>11} {'release->done':>14}")
    for b in sizes:
        rs = [r for r in idle if r["bar_bytes"] == b]
        rr = [r for r in rel if r["bar_bytes"] == b]
        row = {"bar_mib": b >> 20}
        for k in ("remove_us", "revoke_us", "wait_us", "unmap_us", "device_del_us"):
            row[k] = median([r[k] for r in rs])
        row["after_release_us"] = median([r["after_release_us"] for r in rr])
        result["unplug"].append(row)
        after = row["after_release_us"]
        print(f"{b >> 20:>5}M {row['remove_us'] / 1e3:>8.1f} {row['revoke_us'] / 1e3:>8.1f}"
              f" {row['wait_us'] / 1e3:>8.1f} {row['unmap_us'] / 1e3:>8.1f}"
              f" {row['device_del_us'] / 1e3:>11.1f}"
              f" {after / 1e3 if after is not None else float('nan'):>14.1f}")
    by = {r["bar_mib"]: r for r in result["unplug"]}
    if 64 in by and 4096 in by:
        ratio = by[4096]["remove_us"] / by[64]["remove_us"]
        unmap = by[4096]["unmap_us"] / by[64]["unmap_us"]
        wait = (by[4096]["remove_us"] - by[4096]["unmap_us"]) / max(
            1, by[64]["remove_us"] - by[64]["unmap_us"])
        result["unplug_ratio_4g_over_64m"] = round(ratio, 3)
        result["unplug_unmap_ratio_4g_over_64m"] = round(unmap, 3)
        print(f"remove 4 GiB / 64 MiB: {ratio:.2f}  goal <= {GOAL_UNPLUG}:"
              f" {'met' if ratio <= GOAL_UNPLUG else 'not met'}")
        print(f"  of which unmap (the counter's kill, an RCU grace period, the"
              f" struct page teardown) 4 GiB / 64 MiB: {unmap:.2f};"
              f" the rest (revoke + wait for users): {wait:.2f}")
    print("release->done: from the last folio freed (a pin released) to remove"
          " done; no sleep or polling interval is in that path")


def unplug_traffic_report(rows, result):
    """Remove under RDMA traffic (perftest ib_write_bw --mmap on the device,
    its MRs on demand or pinned) next to the idle remove of the same VM,
    per kernel and kind of MR; a part that could not run says why."""
    ut = [r for r in rows if r["bench"] == "unplug_traffic"]
    result["unplug_traffic"] = []
    if not ut:
        return
    print(f"\n== remove under RDMA traffic (perftest ib_write_bw --mmap on the device) next to"
          f" the idle remove in the same VM (ms, median; the driver's own time of remove)")
    print(f"{'kernel':>12} {'MRs':>7} {'idle':>8} {'traffic':>8} {'ratio':>6}"
          f" {'revoke':>7} {'unmap':>7} {'device_del':>11} {'ended':>6}  goal <= {GOAL_UNPLUG_TRAFFIC}")
    for k, mode in sorted({(r["kernel"], r["mode"]) for r in ut},
                          key=lambda km: (kernel_order(km[0]), km[1])):
        rs = [r for r in ut if r["kernel"] == k and r["mode"] == mode]
        row = {"kernel": k, "mode": mode}
        skipped = next((r["skipped"] for r in rs if "skipped" in r), None)
        errors = [f"{r['case']} #{r['rep']}: {r['error']}" for r in rs if "error" in r]
        idle = [r for r in rs if r.get("case") == "idle" and "remove_us" in r]
        busy = [r for r in rs if r.get("case") == "traffic" and "remove_us" in r]
        if skipped or not idle or not busy:
            row["skipped" if skipped else "error"] = skipped or "; ".join(errors) or "no data"
            result["unplug_traffic"].append(row)
            print(f"{k:>12} {mode:>7}  {'skipped: ' + skipped if skipped else 'error: ' + row['error']}")
            continue
        for name, part in (("idle", idle), ("traffic", busy)):
            for f in ("remove_us", "revoke_us", "wait_us", "unmap_us", "device_del_us"):
                row[f"{name}_{f}"] = median([r[f] for r in part])
        row["reps"] = len(busy)
        row["perftest_ended"] = sum(1 for r in busy if r.get("perftest_ended"))
        ratio = row["traffic_remove_us"] / row["idle_remove_us"]
        row["ratio_traffic_over_idle"] = round(ratio, 3)
        row["goal"] = "met" if ratio <= GOAL_UNPLUG_TRAFFIC else "not met"
        if errors:
            row["errors"] = errors
        result["unplug_traffic"].append(row)
        print(f"{k:>12} {mode:>7} {row['idle_remove_us'] / 1e3:>8.1f} {row['traffic_remove_us'] / 1e3:>8.1f}"
              f" {ratio:>6.2f} {row['traffic_revoke_us'] / 1e3:>7.1f} {row['traffic_unmap_us'] / 1e3:>7.1f}"
              f" {row['traffic_device_del_us'] / 1e3:>11.1f} {row['perftest_ended']:>3}/{row['reps']:<2}"
              f"  {row['goal']}")
        for e in errors:
            print(f"{'':>12} {mode:>7}  error: {e}")
    print("idle, traffic: the driver's time of remove, from its start to its end (its \"removed in\");"
          " revoke, unmap: its parts under traffic; device_del: what the guest saw, traffic;"
          " ended: perftest runs that ended by themselves after the remove (their MRs' work"
          " requests failed)")


def many_mrs_report(rows, result):
    """Remove with 1, 64 and 1024 pinned MRs registered over device memory
    (RDMA WRITEs flowing into one), next to the idle remove of the same VM:
    what revoking many MRs costs."""
    mr_rows = [r for r in rows if r["bench"] == "unplug_traffic" and r.get("case") == "mrs"]
    result["unplug_many_mrs"] = []
    if not mr_rows:
        return
    print(f"\n== remove with N pinned MRs registered over device memory, RDMA WRITEs into one"
          f" (ms, median; the driver's own time of remove)")
    print(f"{'kernel':>12} {'MRs':>5} {'remove':>8} {'revoke':>8} {'/ idle':>7} {'/ 1 MR':>7}"
          f"  goal: 1024 MRs <= {GOAL_MANY_MRS} x 1 MR")
    for k in sorted({r["kernel"] for r in mr_rows}, key=kernel_order):
        idle = [r["remove_us"] for r in rows if r["bench"] == "unplug_traffic"
                and r["kernel"] == k and r.get("case") == "idle" and "remove_us" in r]
        idle_us = median(idle) if idle else None
        counts = sorted({r["mrs"] for r in mr_rows if r["kernel"] == k})
        by = {}
        for n in counts:
            ok = [r for r in mr_rows if r["kernel"] == k and r["mrs"] == n and "remove_us" in r]
            for r in mr_rows:
                if r["kernel"] == k and r["mrs"] == n and "error" in r:
                    print(f"{k:>12} {n:>5}  error: rep {r['rep']}: {r['error']}")
            if ok:
                by[n] = {"mrs": n, "reps": len(ok),
                         "remove_us": median([r["remove_us"] for r in ok]),
                         "revoke_us": median([r["revoke_us"] for r in ok])}
        one = by.get(1, {}).get("remove_us")
        for n, row in sorted(by.items()):
            row["kernel"] = k
            row["over_idle"] = round(row["remove_us"] / idle_us, 3) if idle_us else None
            row["over_one"] = round(row["remove_us"] / one, 3) if one else None
            verdict = ""
            if n == 1024 and row["over_one"] is not None:
                row["goal"] = "met" if row["over_one"] <= GOAL_MANY_MRS else "not met"
                verdict = row["goal"]
            result["unplug_many_mrs"].append(row)
            print(f"{k:>12} {n:>5} {row['remove_us'] / 1e3:>8.1f} {row['revoke_us'] / 1e3:>8.1f}"
                  f" {fmt(row['over_idle'], '>7.2f')} {fmt(row['over_one'], '>7.2f')}  {verdict}")
    print("remove, revoke: the driver's time of remove and its revoke part (every MR stopped,"
          " one wait, unpinned); / idle: against the idle remove above; / 1 MR: against one MR")


def kernel_order(k):
    """debian-6.12 before debian-7.3 before p2pdma-7.3: by version, then name."""
    ver = k.rsplit("-", 1)[-1]
    return (tuple(int(x) for x in ver.split(".") if x.isdigit()), k)


def run_kernel_first(kernels, kernel):
    """@kernels with the run's @kernel first, then by kernel_order()."""
    return sorted(kernels, key=lambda k: (k != kernel, kernel_order(k)))


def mib(b):
    return b / (1 << 20)


def fmt(v, spec):
    return format(v, spec) if v is not None else "-"


def reg_touched_report(rows, result):
    """ibv_reg_mr + ibv_dereg_mr of memory already touched, device vs THP
    host memory, per kernel: the goal applies on REG_TOUCHED_KERNEL, the
    other kernels (folios of one page) are there to compare with."""
    reg = {(r["kernel"], r["memory"], r["mib"]): r for r in rows
           if r["bench"] == "reg_mr_touched"}
    result["reg_mr_touched"] = []
    if not reg:
        return
    reps = max(r["reps"] for r in reg.values())
    print(f"\n== ibv_reg_mr + ibv_dereg_mr of memory already touched, device vs THP host"
          f" memory (ms, median of {reps}; huge: MiB mapped huge, PAGEMAP_SCAN)")
    print(f"{'kernel':>12} {'MiB':>5} {'device':>9} {'host':>9} {'ratio':>6}"
          f" {'device huge':>12} {'host huge':>10}  goal <= {GOAL_REG_TOUCHED} on {REG_TOUCHED_KERNEL}")
    for k in sorted({k for (k, _, _) in reg}, key=kernel_order):
        for m in sorted({m for (kk, _, m) in reg if kk == k}):
            d, h = reg.get((k, "device", m)), reg.get((k, "host", m))
            if not d or not h:
                continue
            ratio = d["median_ms"] / h["median_ms"]
            # reg_mr_bench refuses host memory that is not all THP; check anyway.
            thp = h["huge_bytes"] == h["bytes"]
            if k != REG_TOUCHED_KERNEL:
                verdict = "reference"
            elif not thp:
                verdict = "invalid: host memory not all THP"
            else:
                verdict = "met" if ratio <= GOAL_REG_TOUCHED else "not met"
            print(f"{k:>12} {m:>5} {d['median_ms']:>9.1f} {h['median_ms']:>9.1f} {ratio:>6.2f}"
                  f" {mib(d['huge_bytes']):>12.0f} {mib(h['huge_bytes']):>10.0f}  {verdict}")
            result["reg_mr_touched"].append({
                "kernel": k, "mib": m, "device_ms": d["median_ms"], "host_ms": h["median_ms"],
                "device_min_ms": d["min_ms"], "host_min_ms": h["min_ms"], "reps": d["reps"],
                "device_huge_bytes": d["huge_bytes"], "host_huge_bytes": h["huge_bytes"],
                "ratio": round(ratio, 3), "goal": verdict})
    print("touched: a store into every 4 KiB page of both before the clock starts; host:"
          " private anonymous memory, 2 MiB aligned, MADV_HUGEPAGE")


def touch_report(rows, result):
    """mmap + first touch per kernel and memory, with the zeroing estimate,
    the faults per 256 MiB and the bytes mapped huge. The goal (p2p_pgmap
    / p2pmem) applies on TOUCH_KERNELS; p2pmem exists only on a kernel with
    the P2PDMA core, so other kernels show p2p_pgmap and host alone."""
    touch = {(r["kernel"], r["memory"], r["bytes"]): r for r in rows if r["bench"] == "touch"}
    result["touch"] = []
    result["faults_per_256mib"] = []
    if not touch:
        return
    kernels = sorted({k for (k, _, _) in touch}, key=kernel_order)
    loops = max(r["loops"] for r in touch.values())
    print(f"\n== mmap + first touch (a store into every 4 KiB page) + munmap (ms, mean of"
          f" {loops} after one cold round)")
    print(f"{'kernel':>12} {'MiB':>4} {'p2p_pgmap':>10} {'zeroing':>8} {'p2pmem':>8} {'host':>8}"
          f" {'ratio':>6} {'goal <= ' + str(GOAL_TOUCH):<18} {'ready':>7}"
          f" {'large':>5} {'huge MiB':>8} {'ns/page':>8} {'munmap':>7}")

    def ms(r, k="seconds"):
        return f"{r[k] * 1e3:.1f}" if r and r.get(k) is not None else "-"
    for k in kernels:
        for b in sorted({b for (kk, _, b) in touch if kk == k}):
            t = {m: touch.get((k, m, b)) for m in P2P_MEMS}
            p, q = t["p2p_pgmap"], t["p2pmem"]
            if not p:
                continue
            row = {"kernel": k, "mib": b >> 20, "large_folios": p.get("large_folios")}
            for m in P2P_MEMS:
                if t[m]:
                    row[m] = {x: t[m][x] for x in ("seconds", "munmap_seconds", "ns_per_page", "loops",
                                                   "cold_seconds", "faults", "huge_bytes",
                                                   "zero_seconds", "ready_seconds") if x in t[m]}
            ratio = None
            verdict = "no p2pmem here"
            if q:
                ratio = p["seconds"] / q["seconds"]
                row["ratio_p2p_pgmap_over_p2pmem"] = round(ratio, 3)
                verdict = ("met" if ratio <= GOAL_TOUCH else "not met") if k in TOUCH_KERNELS else "reference"
            row["goal"] = verdict
            result["touch"].append(row)
            large = {True: "yes", False: "no"}.get(p.get("large_folios"), "-")
            print(f"{k:>12} {b >> 20:>4} {ms(p):>10} {ms(p, 'zero_seconds'):>8} {ms(q):>8}"
                  f" {ms(t['host']):>8} {fmt(ratio, '6.2f'):>6} {verdict:<18} {ms(p, 'ready_seconds'):>7}"
                  f" {large:>5} {mib(p['huge_bytes']):>8.0f} {p['ns_per_page']:>8.0f}"
                  f" {ms(p, 'munmap_seconds'):>7}")
    print("ratio: p2p_pgmap / p2pmem (p2pmem does not zero; p2p_pgmap hands out memory its"
          " pool zeroed in the background, and zeroes on the fault path only what is not yet)")
    print(f"zeroing: an estimate of what zeroing that memory costs, the time of {ZERO_METHOD}")
    print("ready: from giving the memory back (P2P_PGMAP_IOC_PUNCH_HOLE) to the pool having"
          " zeroed all of it again (info ioctl: dirty_bytes 0)")
    print("ns/page, munmap, large (P2P_PGMAP_INFO_LARGE_FOLIOS), huge MiB: p2p_pgmap's;"
          " p2pmem: each mmap() allocates from its pool and maps it all; host: shared anonymous")
    for r in result["touch"]:
        cold = {m: r[m].get("cold_seconds") for m in P2P_MEMS if m in r}
        print(f"  cold round, {r['kernel']}, {r['mib']} MiB (ms): " + ", ".join(
            f"{m} {v * 1e3:.1f}" for m, v in cold.items() if v is not None))

    print(f"\n== page faults per 256 MiB touched (getrusage ru_minflt around the touch)")
    print(f"{'kernel':>12} {'p2p_pgmap':>10} {'p2pmem':>8} {'host':>8}  p2p_pgmap folios")
    for k in kernels:
        # The largest size measured, scaled to 256 MiB.
        b = max(bb for (kk, _, bb) in touch if kk == k)
        row = {"kernel": k, "measured_bytes": b}
        for m in P2P_MEMS:
            r = touch.get((k, m, b))
            row[m] = round(r["faults"] * FAULTS_PER / b, 1) if r else None
        p = touch.get((k, "p2p_pgmap", b))
        row["p2p_pgmap_large_folios"] = p.get("large_folios") if p else None
        result["faults_per_256mib"].append(row)
        folios = {True: "up to 2 MiB (PMD)", False: "one page"}.get(row["p2p_pgmap_large_folios"], "-")
        print(f"{k:>12} " + " ".join(f"{row[m]:>{w}.0f}" if row[m] is not None else f"{'-':>{w}}"
                                     for m, w in zip(P2P_MEMS, (10, 8, 8))) + f"  {folios}")


def dio_report(rows, result):
    """O_DIRECT bandwidth (guest-p2p, on a P2PDMA kernel) with the buffer in
    p2p_pgmap memory, mainline's p2pmem and host memory. Nothing when the
    section did not run."""
    dio = {(r["op"], r["memory"]): r for r in rows if r["bench"] == "dio"}
    result["p2p_dio"] = []
    if not dio:
        return
    kernel = next(r["kernel"] for r in rows if r["bench"] == "dio")
    result["p2p_kernel"] = kernel
    any_row = next(iter(dio.values()))
    tool = any_row.get("tool", "?")
    print(f"\n== O_DIRECT on the NVMe namespace under the switch, {any_row['bs'] >> 10} KiB"
          f" blocks, {tool}, buffer in each memory, on {kernel} (MB/s)")
    print(f"{'op':>6} {'p2p_pgmap':>10} {'p2pmem':>10} {'host':>10}"
          f" {'p2p_pgmap/host':>15} {'p2pmem/host':>12} {'p2p_pgmap/p2pmem':>17}")

    def ratio(a, b):
        return round(a / b, 3) if a is not None and b else None

    for op in ("read", "write"):
        v = {m: dio[(op, m)]["mbps"] if (op, m) in dio else None for m in P2P_MEMS}
        if not any(x is not None for x in v.values()):
            continue
        row = {"op": op, "bs": next(r["bs"] for (o, _), r in dio.items() if o == op),
               "tool": next(r.get("tool") for (o, _), r in dio.items() if o == op),
               **{f"{m}_mbps": v[m] for m in P2P_MEMS},
               "ratio_p2p_pgmap_over_host": ratio(v["p2p_pgmap"], v["host"]),
               "ratio_p2pmem_over_host": ratio(v["p2pmem"], v["host"]),
               "ratio_p2p_pgmap_over_p2pmem": ratio(v["p2p_pgmap"], v["p2pmem"])}
        result["p2p_dio"].append(row)
        print(f"{op:>6} {fmt(v['p2p_pgmap'], '10.2f')} {fmt(v['p2pmem'], '10.2f')}"
              f" {fmt(v['host'], '10.2f')} {fmt(row['ratio_p2p_pgmap_over_host'], '15.2f')}"
              f" {fmt(row['ratio_p2pmem_over_host'], '12.2f')}"
              f" {fmt(row['ratio_p2p_pgmap_over_p2pmem'], '17.2f')}")


def dmabuf_report(rows, result):
    """dma-buf export + attach + map against ibv_reg_mr of a mapping of the
    same memory, first touch and again apart; and the remove with mapped
    attachments held against the idle remove, per kernel."""
    setup = [r for r in rows if r["bench"] == "dmabuf_setup"]
    remove = [r for r in rows if r["bench"] == "dmabuf_remove"]
    result["dmabuf_setup"] = []
    result["dmabuf_remove"] = []
    kernels = sorted({r["kernel"] for r in setup + remove}, key=kernel_order)
    if setup:
        mibs = sorted({r["mib"] for r in setup})
        reps = max(r["rep"] for r in setup if "rep" in r)
        print(f"\n== dma-buf export + attach + map of {'/'.join(map(str, mibs))} MiB for a PCI"
              f" device (one dynamic importer) next to ibv_reg_mr of a mapping of the same"
              f" memory (ms, median of {reps})")
        print(f"{'kernel':>12} {'touch':>6} {'export':>8} {'attach':>7} {'map':>7}"
              f" {'all three':>10} {'reg_mr':>8} {'ratio':>6}  {'zeroed again':>12}")
    for k in kernels:
        ks = [r for r in setup if r["kernel"] == k]
        if not ks:
            continue
        mr_error = next((r for r in ks if r["way"] == "mr" and "error" in r), None)
        for touch in ("first", "again"):
            ex = [r for r in ks if r["way"] == "export" and r.get("touch") == touch]
            mr = [r for r in ks if r["way"] == "mr" and r.get("touch") == touch]
            if not ex:
                continue
            row = {"kernel": k, "mib": ex[0]["mib"], "touch": touch, "reps": len(ex)}
            for f in ("ms", "export_ms", "attach_ms", "map_ms", "release_ms"):
                row[f"dmabuf_{f}"] = median([r[f] for r in ex])
            row["segments"] = max(r["segments"] for r in ex)
            # The pool's zeroing of what the last round gave back (the
            # first round waits for the zeroing of the whole BAR at probe).
            ready = [r["ready_wait_s"] for r in ex if r.get("rep", 1) > 1 and "ready_wait_s" in r]
            row["zeroed_again_s"] = median(ready)
            if mr:
                row["mr_ms"] = median([r["ms"] for r in mr])
                row["mr_release_ms"] = median([r["release_ms"] for r in mr])
                row["ratio_dmabuf_over_mr"] = round(row["dmabuf_ms"] / row["mr_ms"], 3)
                ratio = f"{row['ratio_dmabuf_over_mr']:>6.2f}"
            else:
                why = (mr_error or {}).get("why") or (mr_error or {}).get("error", "no MR measured")
                row["mr_error"] = (mr_error or {}).get("error")
                row["ratio_na"] = why
                ratio = f"{'n/a':>6}"
            result["dmabuf_setup"].append(row)
            zero = row["zeroed_again_s"]
            print(f"{k:>12} {touch:>6} {row['dmabuf_export_ms']:>8.1f} {row['dmabuf_attach_ms']:>7.1f}"
                  f" {row['dmabuf_map_ms']:>7.1f} {row['dmabuf_ms']:>10.1f}"
                  f" {fmt(row.get('mr_ms'), '8.1f'):>8} {ratio}"
                  f"  {f'{zero * 1e3:.0f} ms' if touch == 'first' and zero is not None else '':>12}")
        if mr_error:
            print(f"{'':>12} reg_mr n/a: {mr_error.get('why') or mr_error['error']}"
                  f" ({mr_error['error']})")
    if setup:
        print("first: a new file, its memory taken (zeroed by the pool beforehand) by the export"
              " or by the MR's page faults; again: the same file once more, its memory already"
              " taken (export) or mapped (MR)")
        print("ratio: export + attach + map / ibv_reg_mr (soft-RoCE, a pinned MR); zeroed again:"
              " from the release of that memory to the pool having zeroed all of it (in the"
              " background, counted in neither)")

    if remove:
        reps = max(r["rep"] for r in remove)
        att = max(r["attachments"] for r in remove)
        held = max(r["held_mib"] for r in remove)
        print(f"\n== remove of the device (sysfs) while a process holds a {held} MiB export with"
              f" {att} dynamic attachments, each mapped, next to the idle remove (ms, median of"
              f" {reps}; the driver's own time of remove)")
        print(f"{'kernel':>12} {'idle':>7} {'export':>7} {'held':>7} {'ratio':>6}"
              f" {'revoke: idle':>13} {'export':>7} {'held':>7} {'sysfs held':>11}"
              f"  goal <= {GOAL_DMABUF_REMOVE}")
    for k in kernels:
        ks = [r for r in remove if r["kernel"] == k]
        if not ks:
            continue
        row = {"kernel": k, "held_mib": ks[0]["held_mib"], "attachments": ks[0]["attachments"]}
        errors = [f"{r['case']} #{r['rep']}: {r['error']}" for r in ks if "error" in r]
        for case in ("idle", "export", "held"):
            rs = [r for r in ks if r["case"] == case and "remove_us" in r]
            row[f"{case}_reps"] = len(rs)
            for f in ("remove_us", "revoke_us", "unmap_us", "sysfs_us"):
                row[f"{case}_{f}"] = median([r[f] for r in rs])
        if errors:
            row["errors"] = errors
        if row["idle_remove_us"] and row["held_remove_us"]:
            ratio = row["held_remove_us"] / row["idle_remove_us"]
            row["ratio_held_over_idle"] = round(ratio, 3)
            row["goal"] = "met" if ratio <= GOAL_DMABUF_REMOVE else "not met"

        def t(case, f="remove_us", w=7):
            v = row[f"{case}_{f}"]
            return f"{v / 1e3:>{w}.1f}" if v is not None else f"{'-':>{w}}"
        print(f"{k:>12} {t('idle')} {t('export')} {t('held')}"
              f" {fmt(row.get('ratio_held_over_idle'), '6.2f'):>6} {t('idle', 'revoke_us', 13)}"
              f" {t('export', 'revoke_us')} {t('held', 'revoke_us')} {t('held', 'sysfs_us', 11)}"
              f"  {row.get('goal', 'no data')}")
        for e in errors:
            print(f"{'':>12} error: {e}")
        result["dmabuf_remove"].append(row)
    if remove:
        print("ratio: held / idle; export: the same export held with no attachment (what letting"
              " go of its memory costs); revoke: from the start of remove to memunmap_pages() (the"
              " importers told, their unmaps waited for, the memory let go of); sysfs: the write"
              " to the remove file")


def main():
    kernel, path, outdir = sys.argv[1:4]
    rows = [json.loads(line) for line in open(path) if line.strip()]
    reg = {(r["memory"], r["mib"]): r for r in rows if r["bench"] == "reg_mr"}
    # Bandwidth of BENCH_KERNEL's VM and of p2pdma-7.3's (pinned MRs over
    # device memory where the kernel pins P2PDMA pages, revocably); a row
    # without a kernel is the run's.
    bw = {(r.get("kernel", kernel), r["op"], r["memory"], r["bytes"]): r["mbps"]
          for r in rows if r["bench"] == "bw"}
    result = {"kernel": kernel, "reg_mr": [], "bw": [], "goals": {
        "reg_mr_device_over_host_max": GOAL_REG, "bw_device_over_host_min": GOAL_BW,
        "unplug_4g_over_64m_max": GOAL_UNPLUG,
        "touch_p2p_pgmap_over_p2pmem_max": GOAL_TOUCH, "touch_goal_kernels": list(TOUCH_KERNELS),
        "reg_mr_touched_device_over_host_max": GOAL_REG_TOUCHED,
        "reg_mr_touched_goal_kernel": REG_TOUCHED_KERNEL,
        "unplug_traffic_over_idle_max": GOAL_UNPLUG_TRAFFIC,
        "unplug_1024_mrs_over_one_max": GOAL_MANY_MRS,
        "dmabuf_remove_held_over_idle_max": GOAL_DMABUF_REMOVE},
        "zero_estimate": ZERO_METHOD}

    if reg:
        print(f"\n== ibv_reg_mr + ibv_dereg_mr on {kernel} (ms; first = with first touch)")
        print(f"{'MiB':>5} {'device first':>13} {'host first':>11} {'ratio':>6}"
              f" {'device again':>13} {'host again':>11} {'ratio':>6}  goal <= {GOAL_REG}")
    for mib in sorted({m for (_, m) in reg}):
        d, h = reg.get(("device", mib)), reg.get(("host", mib))
        if not d or not h:
            continue
        r1 = d["first_ms"] / h["first_ms"]
        r2 = d["median_ms"] / h["median_ms"]
        met = "met" if r1 <= GOAL_REG else "not met"
        print(f"{mib:>5} {d['first_ms']:>13.1f} {h['first_ms']:>11.1f} {r1:>6.2f}"
              f" {d['median_ms']:>13.1f} {h['median_ms']:>11.1f} {r2:>6.2f}  {met}")
        result["reg_mr"].append({"mib": mib, "device": d, "host": h,
                                 "ratio_first": round(r1, 3), "ratio_again": round(r2, 3)})

    for k in run_kernel_first({k for (k, _, _, _) in bw}, kernel):
        for op in ("write", "read"):
            sizes = sorted({b for (bk, o, _, b) in bw if bk == k and o == op})
            if not sizes:
                continue
            print(f"\n== ib_{op}_bw on {k}, pinned MRs (MB/s)")
            print(f"{'bytes':>8} {'device':>9} {'host':>9} {'ratio':>6}  goal >= {GOAL_BW}")
            for size in sizes:
                d, h = bw.get((k, op, "device", size)), bw.get((k, op, "host", size))
                if d is None or h is None or not h:
                    continue
                r = d / h
                print(f"{size:>8} {d:>9.2f} {h:>9.2f} {r:>6.2f}"
                      f"  {'met' if r >= GOAL_BW else 'not met'}")
                result["bw"].append({"kernel": k, "op": op, "bytes": size, "device_mbps": d,
                                     "host_mbps": h, "ratio": round(r, 3)})

    unplug_report(rows, kernel, result)
    unplug_traffic_report(rows, result)
    many_mrs_report(rows, result)
    reg_touched_report(rows, result)
    touch_report(rows, result)
    dio_report(rows, result)
    dmabuf_report(rows, result)

    json_path = os.path.join(outdir, f"bench-{kernel}.json")
    with open(json_path, "w") as f:
        json.dump(result, f, indent=1)
    png = os.path.join(outdir, f"bench-{kernel}.png")
    plot(result, kernel, png, outdir)
    print(f"\nresults: {json_path}\nplot:    {png}")


def columns(path, cols):
    """A gnuplot histogram of these (column, title) of path, labels in column 1."""
    return ", ".join(f"'{path if i == 0 else ''}' u {c}{':xtic(1)' if i == 0 else ''} t '{t}'"
                     for i, (c, t) in enumerate(cols))


def plot(result, kernel, png, outdir):
    dat = os.path.join(outdir, f"bench-{kernel}")
    with open(dat + "-reg.dat", "w") as f:
        for r in result["reg_mr"]:
            f.write(f"{r['mib']} {r['device']['first_ms']} {r['host']['first_ms']}"
                    f" {r['device']['median_ms']} {r['host']['median_ms']}\n")
    with open(dat + "-unplug.dat", "w") as f:
        for r in result.get("unplug", []):
            f.write(f"{r['bar_mib']} {r['remove_us'] / 1e3} {r['unmap_us'] / 1e3}"
                    f" {(r['after_release_us'] or 0) / 1e3}\n")
    # One file per kernel and operation: the panel draws each kernel's pair.
    bw_kernels = run_kernel_first({r["kernel"] for r in result["bw"]}, kernel)
    for i, k in enumerate(bw_kernels):
        for op in ("write", "read"):
            with open(f"{dat}-{op}-{i}.dat", "w") as f:
                for r in result["bw"]:
                    if r["kernel"] == k and r["op"] == op:
                        f.write(f"{r['bytes']} {r['device_mbps']} {r['host_mbps']}\n")
    regt = result.get("reg_mr_touched", [])
    touch = result.get("touch", [])
    faults = result.get("faults_per_256mib", [])
    dio = result.get("p2p_dio", [])
    traffic = result.get("unplug_traffic", [])
    kernels = sorted({r["kernel"] for r in regt}, key=kernel_order)
    for i, k in enumerate(kernels):
        with open(f"{dat}-regt-{i}.dat", "w") as f:
            for r in regt:
                if r["kernel"] == k:
                    f.write(f"{r['mib']} {r['ratio']} {r['device_ms']} {r['host_ms']}\n")
    nan = "NaN"
    with open(dat + "-touch.dat", "w") as f:
        for r in touch:
            f.write(f"{r['kernel']}:{r['mib']}M " + " ".join(
                f"{r[m]['seconds'] * 1e3}" if m in r else nan for m in P2P_MEMS) +
                "".join(f" {r['p2p_pgmap'][k] * 1e3 if r['p2p_pgmap'].get(k) is not None else nan}"
                        for k in ("zero_seconds", "ready_seconds")) + "\n")
    with open(dat + "-faults.dat", "w") as f:
        for r in faults:
            # A log scale has no 0: no bar for none, the label says so.
            none = [m for m in P2P_MEMS if r[m] == 0]
            label = r["kernel"] + "".join(f", {m}: 0" for m in none)
            f.write(f'"{label}" ' + " ".join(
                str(r[m]) if r[m] else nan for m in P2P_MEMS) + "\n")
    with open(dat + "-dio.dat", "w") as f:
        for r in dio:
            f.write(f"{r['op']} " + " ".join(
                str(r[f"{m}_mbps"]) if r[f"{m}_mbps"] is not None else nan
                for m in P2P_MEMS) + "\n")
    with open(dat + "-traffic.dat", "w") as f:
        for r in traffic:
            label = f"{r['kernel']} {r['mode']}" + (
                f": {r['ratio_traffic_over_idle']:.2f} x ({r['goal']})" if "idle_remove_us" in r
                else ": skipped" if "skipped" in r else ": error")
            f.write(f'"{label}" ' + " ".join(
                str(r[c] / 1e3) if r.get(c) is not None else nan
                for c in ("idle_remove_us", "traffic_remove_us")) + "\n")
        # Remove with N pinned MRs: the idle remove of the same VM, then
        # the remove with them (in the traffic column).
        idle_of = {r["kernel"]: r.get("idle_remove_us") for r in traffic
                   if r.get("mode") == "pinned"}
        for r in result.get("unplug_many_mrs", []):
            idle = idle_of.get(r["kernel"])
            label = f"{r['kernel']} {r['mrs']} MRs" + (
                f": {r['over_one']:.2f} x 1 MR" if r.get("over_one") is not None else "")
            f.write(f'"{label}" {idle / 1e3 if idle else nan} {r["remove_us"] / 1e3}\n')
    traffic_script = ""
    if traffic:
        # A panel with no bar at all (every part skipped) would fail: a
        # line at the goal alone then, and the labels say why.
        cols = ("u 2:xtic(1) t 'idle remove', '' u 3 t 'remove under traffic (N MRs)'"
                if any("idle_remove_us" in r for r in traffic) else "u (0):xtic(1) notitle")
        traffic_script = f"""unset logscale
set xrange [*:*]; set yrange [0:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.7 border -1
set boxwidth 0.9
set xtics auto
set xtics rotate by -12
set xlabel ''
set key top left horizontal
set offsets 0, 0, graph 0.15, 0
set title 'remove under RDMA traffic vs idle (goal: traffic <= {GOAL_UNPLUG_TRAFFIC} x idle; 1024 MRs <= {GOAL_MANY_MRS} x 1 MR)'
set ylabel 'ms (driver remove, median)'
plot '{dat}-traffic.dat' {cols}
"""
    dmabuf_script = dmabuf_plot(result, dat)
    dmabuf_panels = dmabuf_script.count("\nplot ")
    hist = """set style data histograms
set style histogram clustered gap 1
set style fill solid 0.7 border -1
set boxwidth 0.9
set xtics auto
set xlabel ''
set key top left horizontal
"""
    # Only columns with data: gnuplot fails on a histogram without any.
    touch_cols = [(c, t) for c, t, m, k in ((2, "p2p_pgmap", "p2p_pgmap", "seconds"),
                                            (5, "zeroing (est.)", "p2p_pgmap", "zero_seconds"),
                                            (6, "ready again after a free", "p2p_pgmap", "ready_seconds"),
                                            (3, "p2pmem", "p2pmem", "seconds"),
                                            (4, "host", "host", "seconds"))
                  if any(r.get(m, {}).get(k) for r in touch)]
    fault_cols = [(c, m) for c, m in zip((2, 3, 4), P2P_MEMS) if any(r[m] for r in faults)]
    touch_script = hist + f"""
set title 'mmap + first touch (ms, log)'
set ylabel 'ms (log)'
set logscale y
set yrange [1:*]
set xtics rotate by -20
plot {columns(dat + '-touch.dat', touch_cols)}
set xtics norotate
set title 'page faults per 256 MiB touched (log)'
set ylabel 'faults (log)'
plot {columns(dat + '-faults.dat', fault_cols)}
unset logscale
set yrange [*:*]
""" if touch else ""
    if not (result["reg_mr"] or result["bw"] or result.get("unplug")):
        # Only the touch or traffic parts ran (BENCH_PARTS=touch, traffic).
        panels = (2 if touch else 0) + (1 if traffic else 0) + dmabuf_panels
        script = (f"set terminal pngcairo size {900 * max(panels, 1)},500 noenhanced\n"
                  f"set output '{png}'\nset grid\n")
        if panels:
            script += (f"set multiplot layout 1,{panels}\n" + touch_script + traffic_script +
                       dmabuf_script + "unset multiplot\n")
        else:
            script += "plot 0 notitle\n"
        subprocess.run(["gnuplot"], input=script.encode(), check=True)
        return
    def bw_plots(op):
        if not bw_kernels:
            return "0 notitle"
        return ", ".join(f"'{dat}-{op}-{i}.dat' u 1:2 w lp t 'device, {k}',"
                         f" '' u 1:3 w lp t 'host, {k}'" for i, k in enumerate(bw_kernels))
    more = bool(regt or touch or dio)
    rows = (2 if more else 1) + (1 if traffic or dmabuf_panels else 0)
    if more:
        size, layout = f"2480,{450 * rows}", f"{rows},4"
        title = (f"p2p_pgmap on {kernel}: device memory vs host memory (same VM, same run);"
                 f" the rows below: each kernel named, measured in the same run")
    else:
        size, layout = f"1860,{450 * rows}", f"{rows},4"
        title = f"p2p_pgmap on {kernel}: device memory vs host memory (same VM, same run)"
    script = f"""
set terminal pngcairo size {size} noenhanced
set output '{png}'
set multiplot layout {layout} title '{title}'
set key top left
set grid
set title 'ibv_reg_mr + ibv_dereg_mr'
set xlabel 'MiB'; set ylabel 'ms (log)'
set logscale y
set xtics (64, 128, 256)
plot '{dat}-reg.dat' u 1:2 w lp t 'device, first', '' u 1:3 w lp t 'host, first', \\
     '' u 1:4 w lp t 'device, again', '' u 1:5 w lp t 'host, again'
unset logscale y
set logscale x 2
set xtics ('4K' 4096, '16K' 16384, '64K' 65536, '256K' 262144, '1M' 1048576)
set yrange [*:*]
set logscale y
set xlabel 'message bytes'; set ylabel 'MB/s (log)'
set title 'ib_write_bw, pinned MRs'
plot {bw_plots("write")}
set title 'ib_read_bw, pinned MRs'
plot {bw_plots("read")}
unset logscale y
set yrange [0:*]
set title 'hot-unplug (driver remove)'
set xtics ('64M' 64, '1G' 1024, '4G' 4096)
set xrange [32:8192]
set xlabel 'BAR size'; set ylabel 'ms'
plot '{dat}-unplug.dat' u 1:2 w lp t 'idle: remove', '' u 1:3 w lp t 'idle: unmap part', \\
     '' u 1:4 w lp t 'last release -> done'
"""
    if more:
        # A panel whose data is missing stays empty.
        script += "unset logscale\nset xrange [*:*]; set yrange [*:*]\n"
        if kernels:
            plots = ", ".join(f"'{dat}-regt-{i}.dat' u 1:2 w lp t '{k}'" for i, k in enumerate(kernels))
            script += f"""
set title 'ibv_reg_mr + dereg of touched memory, device / THP host'
set logscale x 2
set xtics (64, 256, 1024)
set xrange [48:1400]; set yrange [*:*]
set logscale y
set xlabel 'MiB'; set ylabel 'device / host, log (goal <= {GOAL_REG_TOUCHED} on {REG_TOUCHED_KERNEL})'
plot {plots}, {GOAL_REG_TOUCHED} w l dt 2 lc rgb 'black' t 'goal'
unset logscale
set xrange [*:*]; set yrange [*:*]
"""
        else:
            script += "set multiplot next\n"
        if touch:
            script += touch_script
        else:
            script += "set multiplot next\nset multiplot next\n"
        if dio:
            script += hist + f"""
set yrange [0:*]
set title 'O_DIRECT NVMe, 128 KiB blocks ({result["p2p_kernel"]})'
set ylabel 'MB/s'
set offsets 0, 0, graph 0.2, 0
plot '{dat}-dio.dat' u 2:xtic(1) t 'p2p_pgmap', '' u 3 t 'p2pmem', '' u 4 t 'host'
set offsets 0, 0, 0, 0
"""
        elif traffic or dmabuf_panels:
            script += "set multiplot next\n"
    script += traffic_script + dmabuf_script
    script += "unset multiplot\n"
    subprocess.run(["gnuplot"], input=script.encode(), check=True)


def dmabuf_plot(result, dat):
    """The dma-buf panels (gnuplot): setup against ibv_reg_mr, and remove
    with attachments held against idle; "" when neither ran. One "plot"
    line per panel (the caller counts them)."""
    nan = "NaN"
    setup = result.get("dmabuf_setup", [])
    remove = result.get("dmabuf_remove", [])
    script = """unset logscale
set xrange [*:*]; set yrange [*:*]
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.7 border -1
set boxwidth 0.9
set xtics auto
set xtics rotate by -25
set xlabel ''
set key top left horizontal
set offsets 0, 0, graph 0.3, 0
"""

    def short(k):  # labels fit under narrow panels
        return k.replace("debian-", "")
    if setup:
        with open(dat + "-dmabuf-setup.dat", "w") as f:
            for r in setup:
                label = f"{short(r['kernel'])} {r['touch']}: " + (
                    f"{r['ratio_dmabuf_over_mr']:.2f} x" if "ratio_dmabuf_over_mr" in r
                    else "MR n/a")
                mr = r.get("mr_ms")
                f.write(f'"{label}" {r["dmabuf_ms"]} {mr if mr is not None else nan}\n')
        # A histogram column without any value fails: only those with some.
        cols = [(2, "export + attach + map")] + (
            [(3, "ibv_reg_mr")] if any(r.get("mr_ms") is not None for r in setup) else [])
        script += f"""set title 'dma-buf export+attach+map of {setup[0]["mib"]} MiB vs ibv_reg_mr'
set ylabel 'ms (log, median)'
set logscale y
plot {columns(dat + '-dmabuf-setup.dat', cols)}
unset logscale
"""
    if remove:
        with open(dat + "-dmabuf-remove.dat", "w") as f:
            for r in remove:
                label = short(r["kernel"]) + (
                    f": {r['ratio_held_over_idle']:.2f} x ({r['goal']})"
                    if "ratio_held_over_idle" in r else ": no data")
                f.write(f'"{label}" ' + " ".join(
                    str(r[f"{c}_remove_us"] / 1e3) if r[f"{c}_remove_us"] is not None else nan
                    for c in ("idle", "export", "held")) + "\n")
        cols = [(c, t) for c, t, case in ((2, "idle", "idle"), (3, "export held", "export"),
                                          (4, f"{remove[0]['attachments']} attachments mapped",
                                           "held"))
                if any(r[f"{case}_remove_us"] is not None for r in remove)]
        if not cols:
            cols = [("(0)", "no data")]
        script += f"""set yrange [0:*]
set title 'remove with dma-buf importers vs idle (goal <= {GOAL_DMABUF_REMOVE} x)'
set ylabel 'ms (driver remove, median)'
plot {columns(dat + '-dmabuf-remove.dat', cols)}
set yrange [*:*]
"""
    return script if setup or remove else ""


if __name__ == "__main__":
    main()
