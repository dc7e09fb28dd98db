#!/usr/bin/env python3
"""bench/report.py: the benchmark's CSV handling and report (used by bench/run).

  report.py --parse-mapping ENV < mapping-bench-output   rows for pmemfs-mapping-bench's table
  report.py --median RUNS_CSV > results.csv              median of each value over the runs
  report.py --report DIR                                 DIR/results.csv (+ DIR/info.txt) ->
                                                         DIR/report.md and DIR/chart.png

Rows are bench/jobs.sh's: env,fs,job,threads,metric,value,unit (runs.csv has the run number in
front and no header). env=guest rows (bench/guest, the QEMU guest with ext4-dax) get their own
tables, with ratios taken within the guest only. Scaling rows (bench/scaling.sh) carry their work
size after an @ in the metric.
"""
import collections
import csv
import math
import os
import re
import statistics
import subprocess
import sys

FIO_JOBS = ["seqwrite-1M", "seqread-1M", "randread-4K", "randwrite-4K", "randwrite-4K-fsync",
            "mmap-randwrite-4K-persist", "append-4K"]
META_JOBS = ["meta-create", "meta-stat", "meta-open-close", "meta-rename", "meta-readdir",
             "meta-unlink", "meta-mkdir-tree", "meta-rmdir-tree"]
PMEMFS = ["pmemfs-direct", "pmemfs-copy", "pmemfs-pages"]
LIB = ["pmemfs-direct+lib", "pmemfs-pages+lib"]  # fio under pmemfs-direct (direct access)
FS_ORDER = PMEMFS + LIB + ["tmpfs", "bindfs", "ext4-dax"]
PEER = "bindfs"
SHORT = {"pmemfs-direct": "direct", "pmemfs-copy": "copy", "pmemfs-pages": "pages",
         "pmemfs-pages-dram": "pages (DRAM descriptors)", "pmemfs-direct+lib": "direct+lib",
         "pmemfs-pages+lib": "pages+lib"}
# The persisted 4 KiB random write of pmemfs-mapping-bench (one thread, linear layout and path):
# the physical limit of a 4 KiB write on this device.
MAPPING_4K_WRITE = "write-4K-random-persisted.linear.linear"


def parse_mapping(env):
    """pmemfs-mapping-bench's table -> rows (fs=mapping): device, memcpy, ratio per line."""
    for line in sys.stdin:
        m = re.match(r"^(\S.{27}) (\S+)\s+(\S+)\s+([\d.]+) (\S+)\s+([\d.]+) (\S+)\s+([\d.]+)\s*$",
                     line)
        if not m or m.group(1).startswith("operation"):
            continue
        op = re.sub(r"[^A-Za-z0-9]+", "-", m.group(1).strip()).strip("-")
        job = f"{op}.{m.group(2)}.{m.group(3)}"
        print(f"{env},mapping,{job},1,device,{m.group(4)},{m.group(5)}")
        print(f"{env},mapping,{job},1,memcpy,{m.group(6)},{m.group(7)}")
        print(f"{env},mapping,{job},1,ratio,{m.group(8)},x")


def median(path):
    groups = collections.OrderedDict()
    with open(path) as f:
        for rec in csv.reader(f):
            if len(rec) != 8:
                continue
            key = tuple(rec[1:6]) + (rec[7],)
            groups.setdefault(key, []).append(float(rec[6]))
    print("env,fs,job,threads,metric,value,unit")
    for (env, fs, job, threads, metric, unit), values in groups.items():
        print(f"{env},{fs},{job},{threads},{metric},{statistics.median(values):.6g},{unit}")


def load(path):
    rows = {}
    with open(path) as f:
        for r in csv.DictReader(f):
            try:
                rows[(r["env"], r["fs"], r["job"], r["threads"], r["metric"])] = \
                    (float(r["value"]), r["unit"])
            except (KeyError, ValueError):
                continue
    return rows


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def ratio(a, b):
    return a / b if a is not None and b else None


class Report:
    def __init__(self, rows):
        self.rows = rows
        self.lines = []

    def get(self, env, fs, job, threads, metric):
        v = self.rows.get((env, fs, job, str(threads), metric))
        return v[0] if v else None

    def out(self, s=""):
        self.lines.append(s)

    def table(self, header, body):
        self.out("| " + " | ".join(header) + " |")
        self.out("|" + "---|" * len(header))
        for r in body:
            self.out("| " + " | ".join(r) + " |")
        self.out()

    def filesystems(self, env):
        present = {k[1] for k in self.rows if k[0] == env}
        return [f for f in FS_ORDER if f in present]

    def job_keys(self, env):
        """(job, threads, metric, unit label) in report order, for jobs present in env."""
        keys = []
        threads = sorted({int(k[3]) for k in self.rows if k[0] == env and k[2] in FIO_JOBS})
        for t in threads:
            for j in FIO_JOBS:
                metric = "bw" if j.endswith("1M") else "iops"
                if any(k[0] == env and k[2] == j and k[3] == str(t) for k in self.rows):
                    keys.append((j, t, metric))
        for j in META_JOBS:
            if any(k[0] == env and k[2] == j for k in self.rows):
                keys.append((j, 1, "rate"))
        return keys

    @staticmethod
    def label(job, threads, metric):
        unit = {"bw": "MiB/s", "iops": "IOPS", "rate": "ops/s"}[metric]
        name = job if job.startswith("meta-") else f"{job} x{threads}"
        return f"{name} ({unit})"

    def main_tables(self, env):
        fss = self.filesystems(env)
        keys = self.job_keys(env)
        if not keys:
            return
        where = "host" if env == "host" else "QEMU guest (TCG; only ratios within the guest count)"
        self.out(f"### {where}: absolute figures")
        self.out()
        self.out("fio psync (mmap-randwrite-4K-persist: fio's mmap engine; xN: N fio jobs, one "
                 "file each); metadata: pmemfs-meta-bench, one thread. +lib: fio under "
                 "pmemfs-direct (direct access) on a mount of that mode; no metadata rows (the "
                 "library leaves the namespace to the kernel).")
        self.out()
        self.table(["job"] + fss,
                   [[self.label(*k)] + [fmt(self.get(env, f, *k)) for f in fss] for k in keys])
        refs = [r for r in ("tmpfs", PEER, "ext4-dax") if r in fss]
        for ref in refs:
            others = [f for f in fss if f != ref and (f in PMEMFS + LIB or ref == "tmpfs")]
            if not others:
                continue
            name = {"tmpfs": "tmpfs", PEER: "the FUSE peer (bindfs over tmpfs)",
                    "ext4-dax": "ext4-dax"}[ref]
            self.out(f"### {where}: ratio to {name} (higher is better for pmemfs)")
            self.out()
            self.table(["job"] + [f"{f} / {ref}" for f in others],
                       [[self.label(*k)] +
                        [fmt(ratio(self.get(env, f, *k), self.get(env, ref, *k))) for f in others]
                        for k in keys])

    def worst(self, env, mode, jobs, ref, threads, goal):
        """The lowest ratio mode/ref over jobs and thread counts, and how many of the ratios are
        below goal: (ratio, job, threads, below, count) or None."""
        worst, below, count = None, 0, 0
        for j in jobs:
            metric = "rate" if j.startswith("meta-") else ("bw" if j.endswith("1M") else "iops")
            for t in (threads if not j.startswith("meta-") else (1,)):
                r = ratio(self.get(env, mode, j, t, metric), self.get(env, ref, j, t, metric))
                if r is None:
                    continue
                count += 1
                below += r < goal
                if worst is None or r < worst[0]:
                    worst = (r, j, t)
        return worst + (below, count) if worst else None

    def targets(self):
        self.out("## Targets (issue 5)")
        self.out()
        self.out("Each cell: the lowest ratio of that mode over the target's jobs, with 1 and 2 fio "
                 "jobs (and how many of its ratios miss the target when there are several); short "
                 "by: how far the worst mode is from the target.")
        self.out()
        body = []
        both = (1, 2)
        checks = [
            ("every job ahead of the FUSE peer (>= 1.0x bindfs)", "host", FIO_JOBS + META_JOBS,
             PEER, 1.0, PMEMFS),
            ("sequential write >= 0.5x tmpfs", "host", ["seqwrite-1M"], "tmpfs", 0.5, PMEMFS),
            ("sequential read >= 0.8x tmpfs", "host", ["seqread-1M"], "tmpfs", 0.8, PMEMFS),
            ("cached 4 KiB random read >= 0.5x tmpfs", "host", ["randread-4K"], "tmpfs", 0.5,
             PMEMFS),
            ("create >= 0.2x tmpfs", "host", ["meta-create"], "tmpfs", 0.2, PMEMFS),
            ("stat >= 1.0x tmpfs", "host", ["meta-stat"], "tmpfs", 1.0, PMEMFS),
            ("guest: direct >= 1.0x ext4-dax, sequential read and write", "guest",
             ["seqwrite-1M", "seqread-1M"], "ext4-dax", 1.0, ["pmemfs-direct"]),
        ]
        if any(k[0] == "host" and k[1] == "ext4-dax" for k in self.rows):
            checks.append(("host: direct >= 1.0x ext4-dax, sequential read and write", "host",
                           ["seqwrite-1M", "seqread-1M"], "ext4-dax", 1.0, ["pmemfs-direct"]))
        for name, env, jobs, ref, goal, modes in checks:
            cells, lowest = [], None
            for m in PMEMFS:
                w = self.worst(env, m, jobs, ref, both, goal) if m in modes else None
                if w is None:
                    cells.append("-")
                    continue
                r, j, t, below, count = w
                where = f"{j} x{t}" if len(jobs) > 1 else f"x{t}"
                cells.append(f"{r:.2f} ({where}; {below} of {count} below)" if count > 2
                             else f"{r:.2f} ({where})")
                lowest = r if lowest is None else min(lowest, r)
            if lowest is None:
                verdict, short = "not measured", "-"
            elif lowest >= goal:
                verdict, short = "met", "-"
            else:
                verdict = "not met"
                short = f"{goal / lowest:.1f}x" if lowest > 0 else "no result"
            body.append([name] + cells + [verdict, short])
        anon = self.get("host", "pmemfs-pages", "scale-rss-work", 1, "RssAnon@64G")
        name = "64 GiB device, pages mode: daemon DRAM < 1/1000 of the device (64 MiB)"
        if anon is None:
            body.append([name, "-", "-", "-", "not measured", "-"])
        else:
            limit = 64 * 1024 * 1024 / 1000  # KiB
            met = anon < limit
            body.append([name, "-", "-", f"{anon / 1024:.1f} MiB anonymous",
                         "met" if met else "not met", "-" if met else f"{anon / limit:.1f}x over"])
        self.table(["target", "direct", "copy", "pages", "", "short by"], body)

    def direct_access(self):
        """Issue 11's targets for the +lib rows, ratios from this run; and the library's own
        count of the calls it served in the device (0: the kernel served the job)."""
        libs = [f for f in LIB if any(k[1] == f for k in self.rows)]
        if not libs:
            return
        self.out("## Direct access (issue 11): fio under pmemfs-direct")
        self.out()
        mb = self.get("host", "mapping", MAPPING_4K_WRITE, 1, "device")
        mapping_iops = mb * 1e6 / 4096 if mb else None
        self.out("Each cell: the ratio with 1 fio job / with 2 (the mapping layer's rate is one "
                 "thread's, so only the 1-job ratio is given against it); met when every ratio "
                 "of the row reaches the target. pmemfs-mapping-bench's persisted 4 KiB random "
                 "write here: " + (f"{mapping_iops / 1e6:.2f} M/s ({fmt(mb)} MB/s)."
                                   if mapping_iops else "not measured."))
        self.out()
        checks = [  # name, env, job, reference (fs or "mapping"), goal, thread counts
            ("4 KiB random write >= 3x tmpfs", "host", "randwrite-4K", "tmpfs", 3.0, (1, 2)),
            ("4 KiB random write >= 0.5x the mapping layer's persisted 4 KiB write", "host",
             "randwrite-4K", "mapping", 0.5, (1,)),
            ("4 KiB random read >= 2x tmpfs", "host", "randread-4K", "tmpfs", 2.0, (1, 2)),
            ("1 MiB sequential write >= 1.0x tmpfs", "host", "seqwrite-1M", "tmpfs", 1.0, (1, 2)),
            ("1 MiB sequential read >= 1.0x tmpfs", "host", "seqread-1M", "tmpfs", 1.0, (1, 2)),
            ("4 KiB append >= 0.5x tmpfs", "host", "append-4K", "tmpfs", 0.5, (1, 2)),
            ("mmap random 4 KiB store+persist, x tmpfs (no target on the host)", "host",
             "mmap-randwrite-4K-persist", "tmpfs", None, (1, 2)),
            ("guest: 4 KiB random write >= 1.5x ext4-dax", "guest", "randwrite-4K", "ext4-dax",
             1.5, (1, 2)),
            ("guest: 1 MiB sequential write >= 1.0x ext4-dax", "guest", "seqwrite-1M",
             "ext4-dax", 1.0, (1, 2)),
            ("guest: 1 MiB sequential read >= 1.0x ext4-dax", "guest", "seqread-1M", "ext4-dax",
             1.0, (1, 2)),
            ("guest: mmap random 4 KiB store+persist >= 1.0x ext4-dax", "guest",
             "mmap-randwrite-4K-persist", "ext4-dax", 1.0, (1, 2)),
        ]
        body = []
        for name, env, job, ref, goal, threads in checks:
            metric = "bw" if job.endswith("1M") else "iops"
            cells, all_ratios = [], []
            for f in libs:
                parts = []
                for t in threads:
                    v = self.get(env, f, job, t, metric)
                    if ref == "mapping":
                        r = ratio(v, mapping_iops)
                    else:
                        r = ratio(v, self.get(env, ref, job, t, metric))
                    calls = self.get(env, f, job, t, "direct")
                    if r is not None and calls == 0:
                        parts.append("kernel path")
                        all_ratios.append(0.0)
                        continue
                    parts.append(fmt(r))
                    if r is not None:
                        all_ratios.append(r)
                cells.append(" / ".join(parts))
            if not all_ratios:
                verdict = "not measured"
            elif goal is None:
                verdict = "-"
            else:
                verdict = "met" if min(all_ratios) >= goal else \
                    f"not met (short by {goal / min(all_ratios):.1f}x)" if min(all_ratios) > 0 \
                    else "not met"
            body.append([name] + cells + [verdict])
        self.table(["target"] + [SHORT[f] for f in libs] + [""], body)
        kernel = sorted({(k[0], k[1], k[2], k[3]) for k, (v, _) in self.rows.items()
                         if k[1] in LIB and k[4] == "direct" and v == 0})
        if kernel:
            self.out("The library served none of the calls of: " +
                     ", ".join(f"{SHORT[fs]} {job} x{t} ({env})" for env, fs, job, t in kernel) +
                     " (the kernel path was measured there).")
            self.out()

    def mapping(self):
        jobs = [k[2] for k in self.rows if k[1] == "mapping" and k[4] == "ratio"]
        if not jobs:
            return
        self.out("## Mapping microbenchmark (pmemfs-mapping-bench, ratio to plain memcpy)")
        self.out()
        body = []
        for j in dict.fromkeys(jobs):
            op, layout, path = j.split(".")
            dev = self.rows.get(("host", "mapping", j, "1", "device"))
            mem = self.rows.get(("host", "mapping", j, "1", "memcpy"))
            body.append([op, layout, path, f"{fmt(dev[0])} {dev[1]}" if dev else "-",
                         f"{fmt(mem[0])} {mem[1]}" if mem else "-",
                         fmt(self.get("host", "mapping", j, 1, "ratio"))])
        self.table(["operation", "layout", "path", "device", "memcpy", "ratio"], body)

    def scaled(self, job_prefix):
        """{(fs, job): {size: value}} for scaling rows whose job starts with job_prefix."""
        out = collections.OrderedDict()
        for (env, fs, job, _, metric), (v, unit) in self.rows.items():
            if env == "host" and job.startswith(job_prefix) and "@" in metric:
                name, size = metric.split("@", 1)
                out.setdefault((fs, job, name), collections.OrderedDict())[size] = (v, unit)
        return out

    @staticmethod
    def size_key(s):
        m = re.match(r"^(\d+)([KMG]?)$", s)
        return int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)] \
            if m else 0

    def scaling(self):
        file_rows = self.scaled("scale-file-")
        dir_rows = self.scaled("scale-dir-")
        rss_rows = self.scaled("scale-rss-")
        if not (file_rows or dir_rows or rss_rows):
            return
        self.out("## Scaling")
        self.out()
        if file_rows:
            sizes = sorted({s for d in file_rows.values() for s in d}, key=self.size_key)
            self.out("File size: one sequential pass, 1 MiB blocks (MiB/s); each size on a fresh "
                     "mount.")
            self.out()
            body = []
            for (fs, job, name), d in file_rows.items():
                if name != "bw":
                    continue
                body.append([SHORT.get(fs, fs), job.replace("scale-file-", "")] +
                            [fmt(d[s][0]) if s in d else "-" for s in sizes])
            self.table(["fs", "job"] + sizes, body)
            skipped = [(fs, s, d[s][0]) for (fs, job, name), d in file_rows.items()
                       if name == "skipped" for s in d]
            for fs, s, free in skipped:
                self.out(f"- {s} skipped on {fs}: /dev/shm had {free:.0f} MiB free (a size runs "
                         "only when twice the file plus 1 GiB fits).")
            if skipped:
                self.out()
        if dir_rows:
            counts = sorted({s for d in dir_rows.values() for s in d}, key=self.size_key)
            self.out("Directory size: microseconds per operation with N entries in one directory "
                     "(flat is good; last column: largest N / smallest N).")
            self.out()
            body = []
            for (fs, job, name), d in dir_rows.items():
                first, last = d.get(counts[0]), d.get(counts[-1])
                growth = fmt(ratio(last[0], first[0])) if first and last else "-"
                body.append([SHORT.get(fs, fs), job.replace("scale-dir-", "")] +
                            [fmt(d[c][0]) if c in d else "-" for c in counts] + [growth])
            self.table(["fs", "op"] + [f"N={int(c):,}" for c in counts] + ["growth"], body)
        if rss_rows:
            self.out("Device size: the daemon's memory (MiB) on a sparse device, after the mount "
                     "and after a little work (64 MiB written and read, 1000 files). RssAnon is "
                     "the daemon's own DRAM; VmRSS/VmHWM also count the device pages it mapped "
                     "and touched (they live in /dev/shm).")
            self.out()
            sizes = sorted({s for d in rss_rows.values() for s in d}, key=self.size_key)
            body = []
            for fs in ["pmemfs-direct", "pmemfs-copy", "pmemfs-pages", "pmemfs-pages-dram"]:
                for when in ("mount", "work"):
                    cells = []
                    for s in sizes:
                        for name in ("RssAnon", "VmRSS", "VmHWM"):
                            v = rss_rows.get((fs, f"scale-rss-{when}", name), {}).get(s)
                            cells.append(fmt(v[0] / 1024) if v else "-")
                    if any(c != "-" for c in cells):
                        body.append([SHORT.get(fs, fs), "after " + when] + cells)
            self.table(["mode", "when"] + [f"{n} {s}" for s in sizes
                                           for n in ("RssAnon", "VmRSS", "VmHWM")], body)
            mount = self.scaled("scale-mount-time")
            if mount:
                self.out("Mount time (ms, daemon start to mounted, polled every 0.1 s) by device "
                         "size:")
                self.out()
                self.table(["mode"] + sizes,
                           [[SHORT.get(fs, fs)] + [fmt(d[s][0]) if s in d else "-" for s in sizes]
                            for (fs, _, _), d in mount.items()])

    def chart(self, out_dir):
        """chart.png: ratio to tmpfs per job and fs (host), and to ext4-dax in the guest."""
        panels, values = [], []
        for env, ref in (("host", "tmpfs"), ("guest", "ext4-dax")):
            fss = [f for f in self.filesystems(env) if f != ref]
            keys = [k for k in self.job_keys(env) if k[1] == 1]
            if ref not in self.filesystems(env) or not fss or not keys:
                continue
            data = os.path.join(out_dir, f"chart-{env}.dat")
            with open(data, "w") as f:
                f.write("job " + " ".join(fss) + "\n")
                for k in keys:
                    vals = [ratio(self.get(env, fs, *k), self.get(env, ref, *k)) for fs in fss]
                    values += [v for v in vals if v]
                    f.write(k[0] + " " + " ".join("NaN" if v is None else f"{v:.4g}"
                                                  for v in vals) + "\n")
            panels.append((env, ref, data, fss))
        if not panels:
            return None
        script = [
            f"set terminal pngcairo size 1400,{520 * len(panels)} font 'sans,11'",
            f"set output '{os.path.join(out_dir, 'chart.png')}'",
            f"set multiplot layout {len(panels)},1",
            "set style data histogram", "set style histogram clustered gap 1",
            "set style fill solid 0.9 border -1", "set boxwidth 0.9",
            "set logscale y 10", "set grid ytics",
            "set yrange [%g:%g]" % (10 ** min(-2, math.floor(math.log10(min(values)))),
                                    10 ** max(1, math.ceil(math.log10(max(values))))),
            "set xtics rotate by -30 nomirror", "set key outside right top",
            "set ylabel 'ratio (log scale)'",
        ]
        for env, ref, data, fss in panels:
            title = (f"{env}: ratio to {ref} (1.0 = as fast as {ref}; fio x1, metadata)")
            script.append(f"set title '{title}'")
            plots = [f"'{data}' using {i + 2}:xtic(1) title columnheader({i + 2})"
                     for i in range(len(fss))]
            plots.append("1 with lines lw 2 lc rgb 'black' notitle")
            script.append("plot " + ", ".join(plots))
        script.append("unset multiplot")
        try:
            subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True,
                           capture_output=True)
        except (OSError, subprocess.CalledProcessError) as e:
            sys.stderr.write(f"report.py: gnuplot failed: {getattr(e, 'stderr', e)}\n")
            return None
        finally:
            for _, _, data, _ in panels:
                os.unlink(data)
        return "chart.png"


def report(out_dir):
    rows = load(os.path.join(out_dir, "results.csv"))
    info = {}
    info_path = os.path.join(out_dir, "info.txt")
    if os.path.exists(info_path):
        with open(info_path) as f:
            info = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    r = Report(rows)
    guest_runs = f", {info['guest_runs']} in the guest" if "guest_runs" in info else ""
    r.out("# pmemfs benchmark")
    r.out()
    r.out(f"{info.get('date', '?')}; {info.get('nproc', '?')} cores ({info.get('cpu', '?')}), "
          f"{info.get('memory', '?')} RAM, kernel {info.get('kernel', '?')}; commit "
          f"{info.get('commit', '?')}; `{info.get('command', '?')}` ({info.get('runs', '?')} "
          f"run(s){guest_runs}, medians; fio files of {info.get('size', '?')}; 1-minute load "
          f"average during the run {info.get('load_during', '?')}, at the end "
          f"{info.get('load', '?')}; took {info.get('seconds', '?')} s).")
    r.out()
    r.out("pmemfs devices are sparse files in /dev/shm flushed by cache line; tmpfs is the DRAM "
          "limit; bindfs (--multithreaded -o big_writes, over tmpfs) is the FUSE peer. fio: psync, time based "
          "after a ramp, page cache not dropped (reads are cached where the filesystem caches).")
    r.out()
    r.targets()
    r.direct_access()
    r.out("## Jobs")
    r.out()
    for env in ("host", "guest"):
        r.main_tables(env)
    r.scaling()
    r.mapping()
    if r.chart(out_dir):
        r.out("Chart: chart.png (ratios to tmpfs on the host, to ext4-dax in the guest).")
        r.out()
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write("\n".join(r.lines).rstrip() + "\n")


def main(argv):
    if len(argv) == 3 and argv[1] == "--parse-mapping":
        parse_mapping(argv[2])
    elif len(argv) == 3 and argv[1] == "--median":
        median(argv[2])
    elif len(argv) == 3 and argv[1] == "--report":
        report(argv[2])
    else:
        sys.stderr.write("usage: report.py --parse-mapping ENV | --median RUNS_CSV | --report DIR\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
