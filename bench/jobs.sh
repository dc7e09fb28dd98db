#!/usr/bin/env bash
# bench/jobs.sh: the benchmark's job set, run against one already-mounted directory.
#
# The same jobs for every filesystem (pmemfs in each mode, tmpfs, bindfs, ext4-dax), on the host
# or inside the QEMU guest (bench/guest/): it needs only bash, fio, python3 and, for the metadata
# jobs, the pmemfs-meta-bench binary. It appends CSV rows to FILE (a header line first when FILE
# is new or empty):
#
#   env,fs,job,threads,metric,value,unit
#   host,pmemfs-direct,seqwrite-1M,1,bw,1018.2,MiB/s
#
#   bench/jobs.sh --fs NAME --dir DIR [--fs NAME --dir DIR]... --csv FILE [--quick]
#                 [--size BYTES] [--env host|guest] [--meta-bench PATH] [--meta-files N]
#                 [--runtime S] [--ramp S] [--jobs NAME,...] [--threads 1,2]
#
# Several --fs/--dir pairs: every job runs on each filesystem in turn before the next job starts
# (one fio process for everything), so that a burst of load from elsewhere on a shared machine
# hits the filesystems being compared alike instead of one whole filesystem.
#
# fio jobs (ioengine psync, time based with a ramp that is not counted, one file per fio job,
# each run with 1 and 2 jobs; rows bw MiB/s, iops IOPS, lat us = mean completion latency):
#   seqwrite-1M         sequential write, 1 MiB blocks
#   seqread-1M          sequential read, 1 MiB blocks (of the files seqwrite-1M left)
#   randread-4K         random read, 4 KiB blocks (cached: fio does not drop the page cache,
#                       the ramp warms it, as for every job here)
#   randwrite-4K        random write, 4 KiB blocks
#   randwrite-4K-fsync  random write, 4 KiB blocks, fsync after each write
#   append-4K           4 KiB appends to a file that starts empty (after SIZE bytes fio wraps
#                       and overwrites from the start: size SIZE so that a run rarely wraps)
# metadata jobs (--meta-bench; one thread; rows ops/s per phase, see bench/meta_bench.cc):
#   meta-create, meta-stat, meta-open-close, meta-rename, meta-readdir, meta-unlink,
#   meta-mkdir-tree, meta-rmdir-tree
#
# --quick: 64 MiB files, 1 s per fio job after a 0.5 s ramp, 5 000 files for the metadata jobs;
# default: 512 MiB, 10 s after 2 s, 20 000 files. --size, --runtime, --ramp, --meta-files
# override either. --jobs keeps only the named jobs (fio job names, or "meta").
# Each DIR must be empty or hold only what an earlier run of this script left (bench.*, append*,
# meta/); the script removes its files when it ends.
set -euo pipefail

die() { echo "jobs.sh: $*" >&2; exit 2; }

fss=() dirs=() csv="" quick=0 size="" env=host meta="" meta_files="" runtime="" ramp=""
only="" threads_list="1,2"
while [ $# -gt 0 ]; do
  case "$1" in
    --fs) fss+=("${2:?}"); shift 2 ;;
    --dir) dirs+=("${2:?}"); shift 2 ;;
    --csv) csv="${2:?}"; shift 2 ;;
    --quick) quick=1; shift ;;
    --size) size="${2:?}"; shift 2 ;;
    --env) env="${2:?}"; shift 2 ;;
    --meta-bench) meta="${2:?}"; shift 2 ;;
    --meta-files) meta_files="${2:?}"; shift 2 ;;
    --runtime) runtime="${2:?}"; shift 2 ;;
    --ramp) ramp="${2:?}"; shift 2 ;;
    --jobs) only="${2:?}"; shift 2 ;;
    --threads) threads_list="${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
done
[ ${#fss[@]} -gt 0 ] || die "--fs NAME is required"
[ ${#fss[@]} = ${#dirs[@]} ] || die "one --dir DIR for each --fs NAME"
[ -n "$csv" ] || die "--csv FILE is required"
for i in "${!fss[@]}"; do
  [ -d "${dirs[i]}" ] || die "${dirs[i]}: not a directory"
  [[ "${fss[i]}" =~ ^[A-Za-z0-9._-]+$ ]] || die "--fs: letters, digits, . _ - only, not ${fss[i]}"
done
case "$env" in host|guest) ;; *) die "--env must be host or guest, not $env" ;; esac
command -v fio >/dev/null || die "fio not found"
command -v python3 >/dev/null || die "python3 not found"
if [ -n "$meta" ] && [ ! -x "$meta" ]; then die "$meta: not an executable"; fi

if [ "$quick" = 1 ]; then
  : "${size:=64M}" "${runtime:=1}" "${ramp:=0.5}" "${meta_files:=5000}"
else
  : "${size:=512M}" "${runtime:=10}" "${ramp:=2}" "${meta_files:=20000}"
fi

for v in "$runtime" "$ramp"; do
  [[ "$v" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--runtime/--ramp take seconds, not $v"
done
[[ "$meta_files" =~ ^[1-9][0-9]*$ ]] || die "--meta-files takes a positive number, not $meta_files"
[[ "$size" =~ ^[1-9][0-9]*[KMG]?$ ]] || die "--size takes bytes (64M, 1G, 65536), not $size"

if [ ! -s "$csv" ]; then echo "env,fs,job,threads,metric,value,unit" >> "$csv"; fi

tmp=$(mktemp -d /tmp/bench-jobs.XXXXXX)
remove_files() {
  for d in "${dirs[@]}"; do rm -rf "$d"/bench.* "$d"/append* "$d/meta" 2>/dev/null || true; done
}
cleanup() { remove_files; rm -rf "$tmp"; }
trap cleanup EXIT

wanted() {  # wanted JOB: whether --jobs keeps it
  [ -z "$only" ] && return 0
  case ",$only," in *",$1,"*) return 0 ;; esac
  [[ "$1" == meta-* ]] && case ",$only," in *",meta,"*) return 0 ;; esac
  return 1
}

# The fio jobs run from one job file, in order, each its own group (stonewall): one fio start-up
# in all, not one per job (a start-up costs 1-2 s on a loaded machine).
fio_jobs=()   # "NAME THREADS FIO-OPTION..."
IFS=, read -r -a threads_arr <<< "$threads_list"
for t in "${threads_arr[@]}"; do
  [[ "$t" =~ ^[1-9][0-9]*$ ]] || die "--threads: positive integers, not $t"
  # One file per fio process, shared by these jobs: seqwrite-1M writes bench.N, the others reuse it.
  b='filename_format=bench.$jobnum'
  fio_jobs+=("seqwrite-1M $t $b rw=write bs=1M"
             "seqread-1M $t $b rw=read bs=1M"
             "randread-4K $t $b rw=randread bs=4k"
             "randwrite-4K $t $b rw=randwrite bs=4k"
             "randwrite-4K-fsync $t $b rw=randwrite bs=4k fsync=1"
             "append-4K $t filename_format=append$t.\$jobnum rw=write bs=4k file_append=1")
done

to_ms() {  # to_ms SECONDS (fractional allowed) -> milliseconds
  awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }'
}
jobfile="$tmp/jobs.fio"
{
  echo "[global]"
  echo "ioengine=psync"
  echo "size=$size"
  echo "time_based"
  echo "runtime=$(to_ms "$runtime")ms"    # fio truncates fractional seconds
  echo "ramp_time=$(to_ms "$ramp")ms"
  echo "invalidate=0"
  echo "group_reporting"
  for j in "${fio_jobs[@]}"; do
    read -r name t opts <<< "$j"
    wanted "$name" || continue
    for i in "${!fss[@]}"; do
      echo "[$name@$t@$i]"
      echo "directory=${dirs[i]}"
      echo "stonewall"
      echo "new_group"
      echo "numjobs=$t"
      for o in $opts; do echo "$o"; done
    done
  done
} > "$jobfile"

if grep -q '^\[.*@' "$jobfile"; then
  remove_files
  fio --output-format=json --output="$tmp/fio.json" "$jobfile" 2>"$tmp/fio.err" >/dev/null || {
    echo "jobs.sh: fio on ${fss[*]} failed:" >&2
    cat "$tmp/fio.err" >&2
    exit 1
  }
  python3 - "$tmp/fio.json" "$env" "${fss[@]}" >> "$csv" <<'EOF'
import json, sys
env, fss = sys.argv[2], sys.argv[3:]
text = open(sys.argv[1]).read()
data = json.loads(text[text.index("{"):])  # fio may print notes before the JSON
rows = []
for job in data["jobs"]:
    name, threads, i = job["jobname"].rsplit("@", 2)
    fs = fss[int(i)]
    side = job["read"] if job["read"]["io_bytes"] > 0 else job["write"]
    if side["io_bytes"] == 0:
        sys.exit(f"jobs.sh: fio {name} ({threads} jobs) on {fs} did no I/O")
    lat = side.get("lat_ns", side.get("clat_ns"))["mean"] / 1000.0
    for metric, value, unit in (("bw", side["bw_bytes"] / 1048576.0, "MiB/s"),
                                ("iops", side["iops"], "IOPS"),
                                ("lat", lat, "us")):
        rows.append((int(i), f"{env},{fs},{name},{threads},{metric},{value:.1f},{unit}"))
for _, row in sorted(rows, key=lambda r: r[0]):  # grouped by filesystem, jobs in order
    print(row)
EOF
fi
remove_files

if [ -n "$meta" ] && wanted meta-create; then
  for i in "${!fss[@]}"; do
    d="${dirs[i]}/meta"
    rm -rf "$d"
    mkdir "$d"
    rows=$("$meta" --dir "$d" --files "$meta_files" --csv) || die "$meta failed on ${fss[i]}"
    while IFS=, read -r phase value unit; do
      echo "$env,${fss[i]},meta-$phase,1,rate,$value,$unit" >> "$csv"
    done <<< "$rows"
    rm -rf "$d"
  done
fi
