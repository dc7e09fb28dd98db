#!/usr/bin/env bash
# bench/scaling.sh: how the cost per operation grows with the work (run by bench/run; as root).
#
#   bench/scaling.sh --csv FILE --meta-bench PATH --mkpmemfs PATH --daemon PATH [--quick]
#                    [--only file,dir,rss]
#
# Appends rows in bench/jobs.sh's format (env,fs,job,threads,metric,value,unit), the work size
# after an @ in the metric:
#   file size   one 1 MiB-block sequential write of a file of SIZE, then one read of it (fio psync,
#               not time based), on tmpfs and pmemfs in each mode, each on a fresh mount:
#               job scale-file-seqwrite-1M / scale-file-seqread-1M, metric bw@SIZE (MiB/s).
#               Sizes 64M 256M 1G 4G (quick: 64M 256M); a size whose file would not fit in
#               /dev/shm twice over (with 1 GiB to spare) is skipped, with a row skipped@SIZE
#               whose value is the free MiB.
#   directory   pmemfs-meta-bench create, stat, unlink of N files in one directory, on tmpfs and
#               pmemfs-direct (the directory code is the same in every mode): job
#               scale-dir-create / -stat / -unlink, metric us@N (microseconds per operation).
#               N = 1000 10000 100000 1000000 (quick: 1000 10000).
#   device size the daemon's memory for a sparse 1 GiB and 64 GiB device in each mode (pages with
#               descriptors in the device and in DRAM), from /proc/PID/status right after the
#               mount (job scale-rss-mount) and after a little work, a 64 MiB file written and
#               read and 1000 files created (job scale-rss-work): metrics VmRSS@SIZE,
#               VmHWM@SIZE, RssAnon@SIZE (KiB). RssAnon is the daemon's own DRAM; VmRSS also
#               counts the device pages it has touched (they live in /dev/shm, not in the daemon).
#               Also the mount's time, daemon start to mounted (job scale-mount-time, ms@SIZE).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

die() { echo "scaling.sh: $*" >&2; exit 2; }

csv="" meta="" mkfs="" daemon="" quick=0 only="file,dir,rss"
while [ $# -gt 0 ]; do
  case "$1" in
    --csv) csv="${2:?}"; shift 2 ;;
    --meta-bench) meta="${2:?}"; shift 2 ;;
    --mkpmemfs) mkfs="${2:?}"; shift 2 ;;
    --daemon) daemon="${2:?}"; shift 2 ;;
    --quick) quick=1; shift ;;
    --only) only="${2:?}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
done
[ -n "$csv" ] && [ -x "$meta" ] && [ -x "$mkfs" ] && [ -x "$daemon" ] ||
  die "--csv, --meta-bench, --mkpmemfs and --daemon are required (and must be executables)"
[ "$(id -u)" -eq 0 ] || die "run as root (it mounts filesystems)"
[ -s "$csv" ] || echo "env,fs,job,threads,metric,value,unit" >> "$csv"

work=$(mktemp -d /tmp/bench-scaling.XXXXXX)
export BENCH_WORK="$work" BENCH_DEV_PREFIX=/dev/shm/bench-scaling-$$ BENCH_DAEMON="$daemon"
export BENCH_MKFS="$mkfs"
source "$here/mounts.sh"
trap 'mounts_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

row() { echo "host,$1,$2,1,$3,$4,$5" >> "$csv"; }  # row FS JOB METRIC VALUE UNIT
bytes() {  # bytes 64M -> 67108864
  local n=${1%[KMG]}
  case "$1" in *K) echo $((n << 10)) ;; *M) echo $((n << 20)) ;; *G) echo $((n << 30)) ;; *) echo "$n" ;; esac
}
shm_free() { df --output=avail -B1 /dev/shm | tail -1 | tr -d ' '; }
wanted() { case ",$only," in *",$1,"*) return 0 ;; esac; return 1; }

# --- file size ------------------------------------------------------------------------------------
if wanted file; then
  if [ "$quick" = 1 ]; then sizes=(64M 256M); else sizes=(64M 256M 1G 4G); fi
  for fs in tmpfs pmemfs-direct pmemfs-copy pmemfs-pages; do
    for s in "${sizes[@]}"; do
      b=$(bytes "$s") free=$(shm_free)
      if [ $((2 * b + (1 << 30))) -gt "$free" ]; then
        echo "scaling: file size $s skipped on $fs: /dev/shm has $((free >> 20)) MiB free"
        row "$fs" scale-file-seqwrite-1M "skipped@$s" $((free >> 20)) "MiB-free"
        continue
      fi
      echo "scaling: file size $s on $fs"
      mount_fs "$fs" $((b + b / 4 + (512 << 20)))
      out=$(fio --output-format=json --name=scale-file-seqwrite-1M --filename="$fs_dir/f" \
              --ioengine=psync --bs=1M --size="$b" --rw=write --invalidate=0 \
              --name=scale-file-seqread-1M --stonewall --filename="$fs_dir/f" \
              --ioengine=psync --bs=1M --size="$b" --rw=read --invalidate=0 2>"$work/fio.err") || {
        cat "$work/fio.err" >&2
        die "fio failed on $fs ($s)"
      }
      FIO_JSON="$out" python3 - "$fs" "$s" >> "$csv" <<'EOF'
import json, os, sys
fs, size = sys.argv[1:3]
text = os.environ["FIO_JSON"]
for job in json.loads(text[text.index("{"):])["jobs"]:
    side = job["read"] if job["read"]["io_bytes"] > 0 else job["write"]
    print(f"host,{fs},{job['jobname']},1,bw@{size},{side['bw_bytes'] / 1048576.0:.1f},MiB/s")
EOF
      umount_fs
    done
  done
fi

# --- directory size ---------------------------------------------------------------------------------
if wanted dir; then
  if [ "$quick" = 1 ]; then counts=(1000 10000); else counts=(1000 10000 100000 1000000); fi
  for fs in tmpfs pmemfs-direct; do
    for n in "${counts[@]}"; do
      echo "scaling: directory of $n entries on $fs"
      # mkpmemfs gives about one inode per 16 KiB of device: 24 KiB per file leaves room.
      mount_fs "$fs" $(( n * 24576 > (2 << 30) ? n * 24576 : (2 << 30) ))
      rows=$("$meta" --dir "$fs_dir" --files "$n" --phases create,stat,unlink --csv)
      while IFS=, read -r phase rate _; do
        row "$fs" "scale-dir-$phase" "us@$n" "$(awk -v r="$rate" 'BEGIN { printf "%.2f", (r > 0) ? 1e6 / r : 0 }')" us
      done <<< "$rows"
      umount_fs
    done
  done
fi

# --- device size: the daemon's memory ------------------------------------------------------------------
status_rows() {  # status_rows FS JOB SIZE PID
  local key value
  for key in VmRSS VmHWM RssAnon; do
    value=$(awk -v k="$key:" '$1 == k { print $2 }' "/proc/$4/status")
    row "$1" "$2" "$key@$3" "${value:-0}" KiB
  done
}
if wanted rss; then
  for fs in pmemfs-direct pmemfs-copy pmemfs-pages pmemfs-pages-dram; do
    for s in 1G 64G; do
      echo "scaling: daemon memory, $s device, $fs"
      mount_fs "$fs" "$(bytes "$s")"
      row "$fs" scale-mount-time "ms@$s" "$fs_mount_ms" ms
      status_rows "$fs" scale-rss-mount "$s" "$fs_pid"
      fio --name=rss --filename="$fs_dir/f" --ioengine=psync --bs=1M --size=64M --rw=write \
          --output-format=terse >/dev/null 2>&1
      cat "$fs_dir/f" > /dev/null
      "$meta" --dir "$fs_dir" --files 1000 --phases create,stat,unlink --csv >/dev/null
      status_rows "$fs" scale-rss-work "$s" "$fs_pid"
      umount_fs
    done
  done
fi
