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
#   bench/jobs.sh --fs NAME --dir DIR [--under CMD] [--fs NAME --dir DIR [--under CMD]]...
#                 --csv FILE [--quick] [--size BYTES] [--env host|guest] [--meta-bench PATH]
#                 [--meta-files N] [--runtime S] [--ramp S] [--jobs NAME,...] [--threads 1,2]
#
# Several --fs/--dir pairs: every job runs on each filesystem in turn before the next job starts
# (one fio process for everything), so that a burst of load from elsewhere on a shared machine
# hits the filesystems being compared alike instead of one whole filesystem.
#
# --under CMD (after a --dir): that filesystem's fio runs as `CMD fio ...`, e.g. under
# pmemfs-direct (the direct-access library preloaded). Then each job runs as one fio process for
# the filesystems without --under and one per filesystem with it, in turn, job by job (the
# interleaving stays; fio starts once per job and process instead of once in all). A wrapped
# run gets PMEMFS_DIRECT_STATS, and its rows include `direct`: the calls the library served in
# the device (reads + writes + mappings, ramp and file layout included; 0 means the kernel
# served every call and the figures are the kernel path's). The metadata jobs skip wrapped
# filesystems: the library leaves the namespace to the kernel, so they would repeat the mode's.
#
# fio jobs (ioengine psync, time based with a ramp that is not counted, one file per fio job,
# each run with 1 and 2 jobs; rows bw MiB/s, iops IOPS, lat us = mean completion latency,
# minf faults = the minor page faults fio counted for the job after its ramp):
#   seqwrite-1M         sequential write, 1 MiB blocks
#   seqread-1M          sequential read, 1 MiB blocks (of the files seqwrite-1M left)
#   randread-4K         random read, 4 KiB blocks (cached: fio does not drop the page cache,
#                       the ramp warms it, as for every job here)
#   randwrite-4K        random write, 4 KiB blocks
#   randwrite-4K-fsync  random write, 4 KiB blocks, fsync after each write
#   append-4K           4 KiB appends to a file that starts empty, until SIZE bytes or the time
#                       is up (fio stops there: at a few 100 000 IOPS 64 MiB take well under a
#                       second, and then the ramp is counted too)
#   mmap-randwrite-4K-persist  ioengine mmap (a shared mapping of the whole file), random 4 KiB
#                       stores, each persisted: fio's direct=1 makes every write a memcpy, an
#                       msync(MS_SYNC) of its 4 KiB and an madvise(MADV_DONTNEED) of them (so
#                       the next store to the page faults it in again, on every filesystem);
#                       skipped, with a note, on a filesystem that refuses O_DIRECT (tmpfs
#                       before Linux 6.6, e.g. in the guest)
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

fss=() dirs=() unders=() csv="" quick=0 size="" env=host meta="" meta_files="" runtime="" ramp=""
only="" threads_list="1,2"
while [ $# -gt 0 ]; do
  case "$1" in
    --fs) fss+=("${2:?}"); unders+=(""); shift 2 ;;
    --dir) dirs+=("${2:?}"); shift 2 ;;
    --under)
      [ ${#fss[@]} -gt 0 ] || die "--under CMD comes after the --fs it applies to"
      unders[${#fss[@]} - 1]="${2:?}"; shift 2 ;;
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
  [[ "${fss[i]}" =~ ^[A-Za-z0-9._+-]+$ ]] || die "--fs: letters, digits, . _ + - only, not ${fss[i]}"
  if [ -n "${unders[i]}" ] && ! command -v "${unders[i]}" >/dev/null; then
    die "--under ${unders[i]}: not a program"
  fi
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
# in all, not one per job (a start-up costs 1-2 s on a loaded machine). With --under, one job
# file per job and process (see the top).
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
             "mmap-randwrite-4K-persist $t $b ioengine=mmap rw=randwrite bs=4k direct=1"
             "append-4K $t filename_format=append$t.\$jobnum rw=write bs=4k file_append=1")
done
# Filesystems that refuse O_DIRECT (direct=1) skip the jobs that need it.
no_odirect=()
for i in "${!fss[@]}"; do
  if ! dd if=/dev/zero of="${dirs[i]}/bench.odirect-probe" bs=4k count=1 oflag=direct \
       status=none 2>/dev/null; then
    no_odirect[i]=1
    wanted mmap-randwrite-4K-persist &&
      echo "jobs.sh: ${fss[i]} refuses O_DIRECT: no mmap-randwrite-4K-persist there" >&2
  fi
  rm -f "${dirs[i]}/bench.odirect-probe"
done
specs=()
for j in "${fio_jobs[@]}"; do
  read -r name _ <<< "$j"
  if wanted "$name"; then specs+=("$j"); fi
done

to_ms() {  # to_ms SECONDS (fractional allowed) -> milliseconds
  awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }'
}
# write_jobfile FILE SPEC-COUNT SPEC... INDEX...: the job file running each SPEC (in order) on
# the filesystems of the given indexes, one section each (named JOB@THREADS@INDEX).
write_jobfile() {
  local file=$1 count=$2 name t opts i j o
  shift 2
  local run_specs=("${@:1:count}") indexes=("${@:count+1}")
  {
    echo "[global]"
    echo "ioengine=psync"
    echo "size=$size"
    echo "time_based"
    echo "runtime=$(to_ms "$runtime")ms"    # fio truncates fractional seconds
    echo "ramp_time=$(to_ms "$ramp")ms"
    echo "invalidate=0"
    echo "group_reporting"
    for j in "${run_specs[@]}"; do
      read -r name t opts <<< "$j"
      for i in "${indexes[@]}"; do
        [[ " $opts " != *" direct=1 "* ]] || [ -z "${no_odirect[i]:-}" ] || continue
        echo "[$name@$t@$i]"
        echo "directory=${dirs[i]}"
        echo "stonewall"
        echo "new_group"
        echo "numjobs=$t"
        for o in $opts; do echo "$o"; done
      done
    done
  } > "$file"
}
# run_fio UNDER SPEC-COUNT SPEC... INDEX...: one fio process, under UNDER when it is not empty
# (then with one SPEC and one INDEX: its "SECTION CALLS" line goes to $tmp/direct.txt); the JSON
# goes to $tmp/fio-N.json.
n_fio=0
run_fio() {
  local under=$1 n=$n_fio
  shift
  write_jobfile "$tmp/jobs-$n.fio" "$@"
  grep -q '^\[.*@' "$tmp/jobs-$n.fio" || return 0   # (every section skipped)
  n_fio=$((n_fio + 1))
  local cmd=(fio --output-format=json --output="$tmp/fio-$n.json" "$tmp/jobs-$n.fio")
  local first
  first=$(grep -m1 -o '^\[[^]]*@[^]]*\]' "$tmp/jobs-$n.fio" | tr -d '[]')
  if [ -n "$under" ]; then
    rm -f "$tmp/stats-$n"
    cmd=(env PMEMFS_DIRECT_STATS="$tmp/stats-$n" "$under" "${cmd[@]}")
  fi
  "${cmd[@]}" 2>"$tmp/fio-$n.err" >/dev/null || {
    echo "jobs.sh: fio ${under:+under $under }failed (from $first on):" >&2
    cat "$tmp/fio-$n.err" >&2
    exit 1
  }
  if [ -n "$under" ]; then
    local calls
    calls=$(awk '{ n += $2 + $4 + $6 } END { print n + 0 }' "$tmp/stats-$n" 2>/dev/null || echo 0)
    echo "$first $calls" >> "$tmp/direct.txt"
    [ "$calls" -gt 0 ] || echo "jobs.sh: fio $first under $under: no call went to the device" \
      "(the kernel served everything: its rows are the kernel path's)" >&2
  fi
}

if [ ${#specs[@]} -gt 0 ]; then
  remove_files
  plain=() wrapped=()
  for i in "${!fss[@]}"; do
    if [ -z "${unders[i]}" ]; then plain+=("$i"); else wrapped+=("$i"); fi
  done
  if [ ${#wrapped[@]} -eq 0 ]; then
    run_fio "" "${#specs[@]}" "${specs[@]}" "${plain[@]}"
  else
    for j in "${specs[@]}"; do
      [ ${#plain[@]} -eq 0 ] || run_fio "" 1 "$j" "${plain[@]}"
      for i in "${wrapped[@]}"; do run_fio "${unders[i]}" 1 "$j" "$i"; done
    done
  fi
  python3 - "$tmp" "$n_fio" "$env" "${fss[@]}" >> "$csv" <<'EOF'
import json, os, sys
tmp, n_fio, env, fss = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
direct = {}
if os.path.exists(os.path.join(tmp, "direct.txt")):
    for line in open(os.path.join(tmp, "direct.txt")):
        section, calls = line.split()
        direct[section] = int(calls)
rows = []
for n in range(n_fio):
    text = open(os.path.join(tmp, f"fio-{n}.json")).read()
    data = json.loads(text[text.index("{"):])  # fio may print notes before the JSON
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
        # Page faults of the job's processes after the ramp (fio's minf): a mapping
        # the kernel maps with 2 MiB pages takes one fault where 4 KiB pages take 512.
        rows.append((int(i), f"{env},{fs},{name},{threads},minf,{job['minf']},faults"))
        if job["jobname"] in direct:
            rows.append((int(i), f"{env},{fs},{name},{threads},direct,"
                                 f"{direct[job['jobname']]},calls"))
for _, row in sorted(rows, key=lambda r: r[0]):  # grouped by filesystem, jobs in order
    print(row)
EOF
fi
remove_files

if [ -n "$meta" ] && wanted meta-create; then
  for i in "${!fss[@]}"; do
    [ -z "${unders[i]}" ] || continue   # (the namespace is the kernel's under the library too)
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
