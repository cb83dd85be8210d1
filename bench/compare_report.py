#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""compare_report.py - the parsing and reporting half of bench/compare.sh.

  compare_report.py fio-row < FIO_JSON
      one fio run's --output-format=json (group_reporting: jobs[0] sums the
      numjobs) -> "iops,mb_s,lat_us" (read + write; lat_us: the mean total
      latency, weighted by the I/Os of each direction)
  compare_report.py meta-rows < META_BENCH_OUTPUT
      meta_bench's "phase,ops,seconds,ops_per_s" lines ->
      "meta-PHASE,ops_per_s,,lat_us" lines
  compare_report.py report RAW HEADER OUT_PREFIX
      RAW: "job,placement,numjobs,target,iops,mb_s,lat_us" rows in run
      order. Writes OUT_PREFIX.csv (with the ratios), .txt (the table),
      .md (the README summary), .dat and .gp (gnuplot data and script that
      draw OUT_PREFIX.svg).

Ratios: x_nullfs is a zufuse target's IOPS over nullfs_ll's with the same
loop (zufuse-st: nullfs-st; zufuse-mt and zufuse-uring: nullfs-mt), and
x_passthrough over passthrough_ll's, x_shm zufuse-disk's over
zufuse-mt's (an image on a disk file against one in /dev/shm), and x_pmfs
a zus plugin's (zufuse-examplefs, zufuse-plugin) over pmfs's on the same
transport (zufuse-uring, else zufuse-mt), in the same job, placement and
numjobs.
"""
import json
import os
import sys

LOOP_REF = {"zufuse-st": "nullfs-st", "zufuse-mt": "nullfs-mt",
            "zufuse-uring": "nullfs-mt", "zufuse-disk": "nullfs-mt",
            "zufuse-examplefs": "nullfs-mt", "zufuse-plugin": "nullfs-mt"}
PLUGIN_TARGETS = ("zufuse-examplefs", "zufuse-plugin")


def fio_row():
    doc = json.load(sys.stdin)
    job = doc["jobs"][0]
    iops = bw = lat_weighted = 0.0
    for d in ("read", "write"):
        s = job[d]
        iops += s["iops"]
        bw += s["bw_bytes"]
        lat_weighted += s["lat_ns"]["mean"] * s["iops"]
    lat_us = lat_weighted / iops / 1000.0 if iops else 0.0
    print("%.0f,%.1f,%.2f" % (iops, bw / 1e6, lat_us))


def meta_rows():
    for line in sys.stdin:
        f = line.strip().split(",")
        if len(f) != 4:
            continue
        rate = float(f[3])
        print("meta-%s,%.0f,,%.2f" % (f[0], rate, 1e6 / rate if rate else 0))


def load_raw(path):
    rows = []
    with open(path) as fh:
        for line in fh:
            f = line.rstrip("\n").split(",")
            if len(f) != 7:
                continue
            rows.append({"job": f[0], "placement": f[1], "nj": f[2],
                         "target": f[3], "iops": f[4], "mb_s": f[5],
                         "lat_us": f[6]})
    return rows


def num(s):
    try:
        return float(s)
    except ValueError:
        return None


def ratios(rows):
    iops = {(r["job"], r["placement"], r["nj"], r["target"]): num(r["iops"])
            for r in rows}
    for r in rows:
        r["x_nullfs"] = r["x_pt"] = r["x_shm"] = r["x_pmfs"] = ""
        mine = num(r["iops"])
        if not r["target"].startswith("zufuse") or not mine:
            continue
        key = (r["job"], r["placement"], r["nj"])
        ref = iops.get(key + (LOOP_REF.get(r["target"], ""),))
        if ref:
            r["x_nullfs"] = "%.2f" % (mine / ref)
        pt = iops.get(key + ("passthrough",))
        if pt:
            r["x_pt"] = "%.2f" % (mine / pt)
        shm = iops.get(key + ("zufuse-mt",))
        if r["target"] == "zufuse-disk" and shm:
            r["x_shm"] = "%.2f" % (mine / shm)
        pmfs = iops.get(key + ("zufuse-uring",)) or shm
        if r["target"] in PLUGIN_TARGETS and pmfs:
            r["x_pmfs"] = "%.2f" % (mine / pmfs)


def ordered(rows):
    """Grouped by job (first-seen order), placement, numjobs; targets in
    run order inside a group."""
    def first_index(field):
        seen = {}
        for r in rows:
            seen.setdefault(r[field], len(seen))
        return seen
    jobs, places, targets = (first_index(k) for k in
                             ("job", "placement", "target"))
    return sorted(rows, key=lambda r: (jobs[r["job"]], places[r["placement"]],
                                       int(r["nj"]), targets[r["target"]]))


def write_csv(rows, header, path):
    with open(path, "w") as fh:
        fh.write(header + "\n")
        fh.write("job,placement,numjobs,target,iops,mb_s,lat_us,"
                 "x_nullfs,x_passthrough,x_shm,x_pmfs\n")
        for r in rows:
            fh.write(",".join([r["job"], r["placement"], r["nj"], r["target"],
                               r["iops"], r["mb_s"], r["lat_us"],
                               r["x_nullfs"], r["x_pt"], r["x_shm"],
                               r["x_pmfs"]]) + "\n")


def write_txt(rows, header, path):
    fmt = "%-26s %-9s %3s %-16s %10s %9s %10s %9s %9s %7s %7s\n"
    with open(path, "w") as fh:
        fh.write(header + "\n")
        fh.write("(IOPS: operations/s for meta-* rows; unpinned: fio free "
                 "to run anywhere, pinned: fio under taskset -c PIN_CPU; "
                 "x_nullfs: zufuse / nullfs_ll with the same loop, nullfs-mt "
                 "for zufuse-uring; x_pt: zufuse / passthrough_ll; x_shm: "
                 "zufuse-disk / zufuse-mt; x_pmfs: a zus plugin / pmfs on "
                 "the same transport)\n")
        fh.write(fmt % ("job", "placement", "nj", "target", "IOPS", "MB/s",
                        "lat_us", "x_nullfs", "x_pt", "x_shm", "x_pmfs"))
        prev = None
        for r in rows:
            group = (r["job"], r["placement"], r["nj"])
            if prev is not None and group != prev:
                fh.write("\n")
            prev = group
            fh.write(fmt % (r["job"], r["placement"], r["nj"], r["target"],
                            r["iops"] or "-", r["mb_s"] or "-",
                            r["lat_us"] or "-", r["x_nullfs"], r["x_pt"],
                            r["x_shm"], r["x_pmfs"]))


def write_md(rows, header, path):
    """The README's table: one job per line, numjobs 1, each placement;
    zufuse-mt with its ratios, and the references."""
    cell = {(r["job"], r["placement"], r["nj"], r["target"]): r for r in rows}
    jobs = []
    for r in rows:
        if r["job"] not in jobs:
            jobs.append(r["job"])
    places = []
    for r in rows:
        if r["placement"] not in places:
            places.append(r["placement"])
    targets = [t for t in ("tmpfs", "nullfs-mt", "passthrough", "zufuse-mt",
                           "zufuse-uring")
               if any(r["target"] == t for r in rows)]

    def show(job, place, t):
        r = cell.get((job, place, "1", t))
        if not r or not r["iops"]:
            return "-"
        v = float(r["iops"])
        s = "%.0fK" % (v / 1e3) if v >= 1e4 else "%.0f" % v
        if job.endswith("1m-direct") or job.endswith("1m-buffered"):
            s = "%.1f GB/s" % (float(r["mb_s"]) / 1e3)
        extra = [x for x in (r["x_nullfs"] and "%s× null" % r["x_nullfs"],
                             r["x_pt"] and "%s× pt" % r["x_pt"]) if x]
        return s + (" (" + ", ".join(extra) + ")" if extra else "")

    with open(path, "w") as fh:
        fh.write("<!-- %s -->\n" % header.lstrip("# "))
        fh.write("| job (numjobs 1) | placement | " +
                 " | ".join(targets) + " |\n")
        fh.write("|---|---|" + "---|" * len(targets) + "\n")
        for job in jobs:
            for place in places:
                fh.write("| %s | %s | %s |\n" % (
                    job, place,
                    " | ".join(show(job, place, t) for t in targets)))


def write_plot(rows, header, prefix):
    """One panel per job: clusters of placement/numjobs, a bar per target,
    IOPS (ops/s for meta) on a log scale."""
    jobs, targets, clusters = [], [], []
    for r in rows:
        if r["job"] not in jobs:
            jobs.append(r["job"])
        if r["target"] not in targets:
            targets.append(r["target"])
        c = (r["placement"], r["nj"])
        if c not in clusters:
            clusters.append(c)
    cell = {(r["job"], r["placement"], r["nj"], r["target"]): r["iops"]
            for r in rows}
    dat, gp, svg = prefix + ".dat", prefix + ".gp", prefix + ".svg"
    with open(dat, "w") as fh:
        for job in jobs:
            fh.write("# %s\n" % job)
            for (place, nj) in clusters:
                vals = [cell.get((job, place, nj, t)) or "-" for t in targets]
                if all(v == "-" for v in vals):
                    continue
                fh.write('"%s nj%s" %s\n' % (place, nj, " ".join(vals)))
            fh.write("\n\n")
    cols = 4 if len(jobs) > 6 else max(1, min(3, len(jobs)))
    lines = (len(jobs) + cols - 1) // cols
    with open(gp, "w") as fh:
        fh.write("set terminal svg size %d,%d dynamic noenhanced "
                 "font 'sans,10'\n" %
                 (420 * cols, 330 * lines + 40))
        fh.write("set output '%s'\n" % os.path.basename(svg))
        fh.write("set datafile missing '-'\n")
        fh.write("set style data histogram\n")
        fh.write("set style histogram clustered gap 1\n")
        fh.write("set style fill solid 0.85 border -1\n")
        fh.write("set logscale y\nset yrange [100:*]\n")
        fh.write("set grid ytics\nset format y '%.0s%c'\n")
        fh.write("set xtics rotate by -25 font ',8' nomirror\n")
        fh.write("set multiplot layout %d,%d title \"%s\" font ',11'\n" %
                 (lines, cols, header.lstrip("# ").replace('"', "'")))
        for i, job in enumerate(jobs):
            unit = "ops/s" if job.startswith("meta-") else "IOPS"
            fh.write("set title '%s (%s)'\n" % (job, unit))
            if i == 0:
                fh.write("set key top right font ',7' samplen 1\n")
            else:
                fh.write("unset key\n")
            # Only the targets this job ran on (meta has no nullfs), each
            # in its own color in every panel.
            plots = []
            for k, t in enumerate(targets):
                if not any(cell.get((job, p, n, t)) for (p, n) in clusters):
                    continue
                src = "'%s'" % os.path.basename(dat) if not plots else "''"
                use = "%d:xtic(1)" % (k + 2) if not plots else "%d" % (k + 2)
                plots.append("%s index %d using %s lc %d title '%s'" %
                             (src, i, use, k + 1, t))
            fh.write("plot " + ", \\\n     ".join(plots) + "\n")
        fh.write("unset multiplot\n")


def report(raw, header, prefix):
    rows = load_raw(raw)
    ratios(rows)
    rows = ordered(rows)
    write_csv(rows, header, prefix + ".csv")
    write_txt(rows, header, prefix + ".txt")
    write_md(rows, header, prefix + ".md")
    write_plot(rows, header, prefix)


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "fio-row":
        fio_row()
    elif len(sys.argv) >= 2 and sys.argv[1] == "meta-rows":
        meta_rows()
    elif len(sys.argv) == 5 and sys.argv[1] == "report":
        report(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.stderr.write(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
