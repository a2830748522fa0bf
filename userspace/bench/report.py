#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn bench JSON lines into tables with ratios, a JSON file and a PNG plot.

  report.py KERNEL BENCH.jsonl OUTDIR

The p2p section (touch and dio lines from guest-p2p, measured on the P2PDMA
kernel named in those lines) is optional: without it the report and the
plot are the ones of the other sections alone.
"""
import json
import os
import subprocess
import sys

GOAL_REG = 1.1   # registration time, device / host: at most
GOAL_BW = 0.9    # bandwidth, device / host: at least
GOAL_UNPLUG = 1.5  # idle remove time, 4 GiB BAR / 64 MiB BAR: at most
GOAL_TOUCH = 0.5  # mmap + first touch time, p2p_pgmap / p2pmem: at most
P2P_MEMS = ("p2p_pgmap", "p2pmem", "host")


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


def p2p_report(rows, result):
    """The p2p section (guest-p2p, always on a P2PDMA kernel): mmap + first
    touch and O_DIRECT bandwidth, p2p_pgmap memory next to mainline's
    p2pmem and host memory. Nothing when the section did not run."""
    touch = {(r["memory"], r["bytes"]): r for r in rows if r["bench"] == "touch"}
    dio = {(r["op"], r["memory"]): r for r in rows if r["bench"] == "dio"}
    if not touch and not dio:
        return
    kernel = next(r["kernel"] for r in rows if r["bench"] in ("touch", "dio"))
    result["p2p_kernel"] = kernel
    result["p2p_touch"] = []
    result["p2p_dio"] = []
    if touch:
        loops = max(r["loops"] for r in touch.values())
        print(f"\n== mmap + first touch on {kernel}: p2p_pgmap memory next to mainline"
              f" p2pmem (ms, mean of {loops}; p2pmem exists only on a P2PDMA kernel)")
        print(f"{'':>5} {'mmap + first touch (ms)':^32} {'':>13}  {'ns per page':^26}"
              f"  {'munmap (ms)':^26}")
        print(f"{'MiB':>5}" + f" {'p2p_pgmap':>10} {'p2pmem':>10} {'host':>10}"
              f" {'ratio':>6}  goal <= {GOAL_TOUCH}" + f"  {'p2p_pgmap':>9} {'p2pmem':>8} {'host':>7}" * 2)
    for b in sorted({b for (_, b) in touch}):
        t = {m: touch.get((m, b)) for m in P2P_MEMS}
        if not t["p2p_pgmap"] or not t["p2pmem"]:
            continue
        ratio = t["p2p_pgmap"]["seconds"] / t["p2pmem"]["seconds"]
        row = {"mib": b >> 20, "ratio_p2p_pgmap_over_p2pmem": round(ratio, 3)}
        for m in P2P_MEMS:
            if t[m]:
                row[m] = {k: t[m][k] for k in ("seconds", "munmap_seconds", "ns_per_page",
                                              "loops", "cold_seconds") if k in t[m]}
        result["p2p_touch"].append(row)

        def col(m, k, scale, width):
            return f"{t[m][k] * scale:>{width}.{1 if scale != 1 else 0}f}" if t[m] else f"{'-':>{width}}"
        print(f"{b >> 20:>5} {col('p2p_pgmap', 'seconds', 1e3, 10)} {col('p2pmem', 'seconds', 1e3, 10)}"
              f" {col('host', 'seconds', 1e3, 10)} {ratio:>6.2f}  {'met' if ratio <= GOAL_TOUCH else 'not met':<11}"
              f"  {col('p2p_pgmap', 'ns_per_page', 1, 9)} {col('p2pmem', 'ns_per_page', 1, 8)}"
              f" {col('host', 'ns_per_page', 1, 7)}"
              f"  {col('p2p_pgmap', 'munmap_seconds', 1e3, 9)} {col('p2pmem', 'munmap_seconds', 1e3, 8)}"
              f" {col('host', 'munmap_seconds', 1e3, 7)}")
    if result["p2p_touch"]:
        print("ratio: mmap + first touch time, p2p_pgmap / p2pmem (p2pmem's mmap allocates"
              " from its pool; host: shared anonymous memory), after one cold round each")
        for r in result["p2p_touch"]:
            cold = {m: r[m].get("cold_seconds") for m in P2P_MEMS if m in r}
            if all(v is not None for v in cold.values()):
                print(f"  cold round, {r['mib']} MiB (ms): " + ", ".join(
                    f"{m} {v * 1e3:.1f}" for m, v in cold.items()))
    if dio:
        any_row = next(iter(dio.values()))
        tool = any_row.get("tool", "?")
        print(f"\n== O_DIRECT on the NVMe namespace under the switch, {any_row['bs'] >> 10} KiB"
              f" blocks, {tool}, buffer in each memory, on {kernel} (MB/s)")
        print(f"{'op':>6} {'p2p_pgmap':>10} {'p2pmem':>10} {'host':>10}"
              f" {'p2p_pgmap/host':>15} {'p2pmem/host':>12} {'p2p_pgmap/p2pmem':>17}")

    def ratio(a, b):
        return round(a / b, 3) if a is not None and b else None

    def fmt(v, spec):
        return format(v, spec) if v is not None else "-"
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


def main():
    kernel, path, outdir = sys.argv[1:4]
    rows = [json.loads(line) for line in open(path) if line.strip()]
    reg = {(r["memory"], r["mib"]): r for r in rows if r["bench"] == "reg_mr"}
    bw = {(r["op"], r["memory"], r["bytes"]): r["mbps"] for r in rows if r["bench"] == "bw"}
    result = {"kernel": kernel, "reg_mr": [], "bw": [], "goals": {
        "reg_mr_device_over_host_max": GOAL_REG, "bw_device_over_host_min": GOAL_BW,
        "unplug_4g_over_64m_max": GOAL_UNPLUG,
        "touch_p2p_pgmap_over_p2pmem_max": GOAL_TOUCH}}

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

    for op in ("write", "read"):
        print(f"\n== ib_{op}_bw on {kernel} (MB/s)")
        print(f"{'bytes':>8} {'device':>9} {'host':>9} {'ratio':>6}  goal >= {GOAL_BW}")
        for size in sorted({b for (o, _, b) in bw if o == op}):
            d, h = bw.get((op, "device", size)), bw.get((op, "host", size))
            if d is None or h is None or not h:
                continue
            r = d / h
            print(f"{size:>8} {d:>9.2f} {h:>9.2f} {r:>6.2f}  {'met' if r >= GOAL_BW else 'not met'}")
            result["bw"].append({"op": op, "bytes": size, "device_mbps": d,
                                 "host_mbps": h, "ratio": round(r, 3)})

    unplug_report(rows, kernel, result)
    p2p_report(rows, result)

    json_path = os.path.join(outdir, f"bench-{kernel}.json")
    with open(json_path, "w") as f:
        json.dump(result, f, indent=1)
    png = os.path.join(outdir, f"bench-{kernel}.png")
    plot(result, kernel, png, outdir)
    print(f"\nresults: {json_path}\nplot:    {png}")


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
    for op in ("write", "read"):
        with open(f"{dat}-{op}.dat", "w") as f:
            for r in result["bw"]:
                if r["op"] == op:
                    f.write(f"{r['bytes']} {r['device_mbps']} {r['host_mbps']}\n")
    p2p = bool(result.get("p2p_touch") or result.get("p2p_dio"))
    if p2p:
        p2p_kernel = result["p2p_kernel"]
        with open(dat + "-touch.dat", "w") as f:
            for r in result["p2p_touch"]:
                f.write(f"{r['mib']} " + " ".join(
                    f"{r[m]['seconds'] * 1e3}" if m in r else "NaN" for m in P2P_MEMS) + "\n")
        with open(dat + "-dio.dat", "w") as f:
            for r in result["p2p_dio"]:
                f.write(f"{r['op']} " + " ".join(
                    str(r[f"{m}_mbps"]) if r[f"{m}_mbps"] is not None else "NaN"
                    for m in P2P_MEMS) + "\n")
        size, layout = "1860,900", "2,3"
        title = (f"p2p_pgmap on {kernel}: device memory vs host memory (same VM, same run);"
                 f" bottom middle and right: next to mainline p2pmem on {p2p_kernel}")
    else:
        size, layout = "1860,450", "1,4"
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
set yrange [0:*]
set xlabel 'message bytes'; set ylabel 'MB/s'
set title 'ib_write_bw'
plot '{dat}-write.dat' u 1:2 w lp t 'device', '' u 1:3 w lp t 'host'
set title 'ib_read_bw'
plot '{dat}-read.dat' u 1:2 w lp t 'device', '' u 1:3 w lp t 'host'
set title 'hot-unplug (driver remove)'
set xtics ('64M' 64, '1G' 1024, '4G' 4096)
set xrange [32:8192]
set xlabel 'BAR size'; set ylabel 'ms'
plot '{dat}-unplug.dat' u 1:2 w lp t 'idle: remove', '' u 1:3 w lp t 'idle: unmap part', \\
     '' u 1:4 w lp t 'last release -> done'
"""
    if p2p:
        # A panel whose data is missing stays empty.
        script += "unset logscale\nset xrange [*:*]; set yrange [*:*]\n"
        script += f"""
set title 'mmap + first touch ({p2p_kernel})'
set logscale y
set xtics (64, 128, 256)
set xrange [32:288]
set xlabel 'MiB'; set ylabel 'ms (log)'
plot '{dat}-touch.dat' u 1:2 w lp t 'p2p_pgmap', '' u 1:3 w lp t 'p2pmem', '' u 1:4 w lp t 'host'
unset logscale
""" if result["p2p_touch"] else "set multiplot next\n"
        script += f"""
set xrange [*:*]; set yrange [0:*]
set xtics auto
set title 'O_DIRECT NVMe, 128 KiB blocks ({p2p_kernel})'
set xlabel ''; set ylabel 'MB/s'
set key top left horizontal
set offsets 0, 0, graph 0.2, 0
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.7 border -1
set boxwidth 0.9
plot '{dat}-dio.dat' u 2:xtic(1) t 'p2p_pgmap', '' u 3 t 'p2pmem', '' u 4 t 'host'
""" if result["p2p_dio"] else ""
    script += "unset multiplot\n"
    subprocess.run(["gnuplot"], input=script.encode(), check=True)


if __name__ == "__main__":
    main()
