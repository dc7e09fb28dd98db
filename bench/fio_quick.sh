#!/usr/bin/env bash
# Quick fio comparison, one run, side by side: tmpfs, bindfs over tmpfs (the FUSE peer, when
# installed) and pmemfs in each mode (emulated pmem on /dev/shm, so pmemfs pays FUSE and its own
# work on top of the same DRAM). Prints a markdown table of MB/s (ops/s for the metadata rows)
# and the ratio to tmpfs. Not a test: these machines are shared and noisy, so read the ratios,
# and repeat. (The full suite against ext4-dax is bench/run.)
#
#   bench/fio_quick.sh [BUILD_DIR]      SIZE=256M RUNTIME=5 MODES="direct pages copy" NMETA=3000
#
# fio drops the file's page cache before each pass (its default), so the read jobs measure
# uncached reads, except rand-read-4K-cached (pre_read, invalidate=0: the file is read once
# before the clock starts, so the job measures the kernel page cache in front of the mount). create/stat/unlink: NMETA empty files in one directory, each stat done 5 times.
set -euo pipefail
build="$(realpath -m "${1:-build}")"
size="${SIZE:-256M}"
runtime="${RUNTIME:-5}"
read -r -a modes <<<"${MODES:-direct pages copy}"
nmeta="${NMETA:-3000}"
work=$(mktemp -d /tmp/pmemfs-bench.XXXX)
dev=/dev/shm/pmemfs-bench-$$.img
cleanup() {
  for m in "$work/mnt" "$work/bind" "$work/tmpfs"; do
    if mountpoint -q "$m"; then umount "$m" || true; fi
  done
  rm -rf "$work" "$dev"
}
trap cleanup EXIT
mkdir -p "$work/mnt" "$work/bind" "$work/tmpfs"
mount -t tmpfs -o size=3G tmpfs "$work/tmpfs"
mkdir -p "$work/tmpfs/plain" "$work/tmpfs/under"

# job NAME FIO-ARGS...: prints MB/s of one job in directory $dir
job() {
  local name=$1; shift
  fio --name="$name" --directory="$dir" --size="$size" --ioengine=psync --numjobs=1 \
      --time_based --runtime="$runtime" --group_reporting --output-format=terse "$@" 2>/dev/null |
    awk -F';' '{ r=$7; w=$48; printf "%.0f", (r + w) / 1024 }'
}
# meta: prints "creates/s stats/s unlinks/s" for $nmeta files in $dir/meta
meta() {
  python3 - "$dir/meta" "$nmeta" <<'EOF'
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
names = [os.path.join(d, "f%06d" % i) for i in range(n)]
t = time.perf_counter()
for p in names:
    os.close(os.open(p, os.O_CREAT | os.O_WRONLY, 0o644))
c = n / (time.perf_counter() - t)
t = time.perf_counter()
for _ in range(5):
    for p in names:
        os.stat(p)
s = 5 * n / (time.perf_counter() - t)
t = time.perf_counter()
for p in names:
    os.unlink(p)
u = n / (time.perf_counter() - t)
os.rmdir(d)
print("%.0f %.0f %.0f" % (c, s, u))
EOF
}
jobs=("seq-write-1M --rw=write --bs=1M"
      "seq-read-1M --rw=read --bs=1M"
      "rand-read-4K --rw=randread --bs=4k"
      "rand-read-4K-cached --rw=randread --bs=4k --invalidate=0 --pre_read=1"
      "rand-write-4K --rw=randwrite --bs=4k"
      "rand-write-4K-fsync --rw=randwrite --bs=4k --fsync=1")
rows=()
for j in "${jobs[@]}"; do set -- $j; rows+=("$1"); done
rows+=(create stat unlink)

declare -A result
run_all() {  # run_all LABEL
  for j in "${jobs[@]}"; do
    set -- $j
    result["$1,$LABEL"]=$(job "$@")
    rm -f "$dir/$1".*
  done
  read -r c s u < <(meta)
  result["create,$LABEL"]=$c
  result["stat,$LABEL"]=$s
  result["unlink,$LABEL"]=$u
}
labels=(tmpfs)
dir="$work/tmpfs/plain"; LABEL=tmpfs; run_all
if command -v bindfs >/dev/null; then
  bindfs "$work/tmpfs/under" "$work/bind"
  dir="$work/bind"; LABEL=bindfs; labels+=(bindfs); run_all
  umount "$work/bind"
fi
truncate -s 2G "$dev"
for mode in "${modes[@]}"; do
  "$build/tools/mkpmemfs" -q --force "$dev"
  "$build/fs/pmemfs" "$dev" "$work/mnt" -o "mode=$mode"
  dir="$work/mnt"; LABEL=$mode; labels+=("$mode"); run_all
  umount "$work/mnt"
  sleep 0.5
done

echo "fio psync, 1 job, $size file, ${runtime}s per job; $nmeta files for create/stat/unlink;" \
     "$(date -u +%F), $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
echo
header="| job | tmpfs"
sep="|---|---"
for l in "${labels[@]:1}"; do header+=" | $l (x tmpfs)"; sep+="|---"; done
echo "$header |"
echo "$sep|"
for r in "${rows[@]}"; do
  t=${result["$r,tmpfs"]}
  line="| $r | $t"
  for l in "${labels[@]:1}"; do
    v=${result["$r,$l"]}
    line+=" | $v ($(awk -v a="$v" -v b="$t" 'BEGIN { printf "%.2f", b ? a / b : 0 }'))"
  done
  echo "$line |"
done
