#!/usr/bin/env bash
# Quick fio comparison, one run, side by side: tmpfs and pmemfs in each mode (emulated pmem on
# /dev/shm, so pmemfs pays FUSE and its own work on top of the same DRAM). Prints a markdown
# table of MB/s and the ratio to tmpfs. Not a test: these machines are shared and noisy, so
# read the ratios, and repeat. (The full suite against ext4-dax comes with the bench issue.)
#
#   bench/fio_quick.sh [BUILD_DIR]      SIZE=256M RUNTIME=5
set -euo pipefail
build="$(realpath -m "${1:-build}")"
size="${SIZE:-256M}"
runtime="${RUNTIME:-5}"
work=$(mktemp -d /tmp/pmemfs-bench.XXXX)
dev=/dev/shm/pmemfs-bench-$$.img
cleanup() {
  mountpoint -q "$work/mnt" && umount "$work/mnt" || true
  mountpoint -q "$work/tmpfs" && umount "$work/tmpfs" || true
  rm -rf "$work" "$dev"
}
trap cleanup EXIT
mkdir -p "$work/mnt" "$work/tmpfs"
mount -t tmpfs -o size=2G tmpfs "$work/tmpfs"

# job NAME FIO-ARGS...: prints MB/s of one job in directory $dir
job() {
  local name=$1; shift
  fio --name="$name" --directory="$dir" --size="$size" --ioengine=psync --numjobs=1 \
      --time_based --runtime="$runtime" --group_reporting --output-format=terse "$@" 2>/dev/null |
    awk -F';' '{ r=$7; w=$48; printf "%.0f", (r + w) / 1024 }'
}
jobs=("seq-write-1M --rw=write --bs=1M"
      "seq-read-1M --rw=read --bs=1M"
      "rand-read-4K --rw=randread --bs=4k"
      "rand-write-4K --rw=randwrite --bs=4k"
      "rand-write-4K-fsync --rw=randwrite --bs=4k --fsync=1")

declare -A result
run_all() {  # run_all LABEL
  for j in "${jobs[@]}"; do
    set -- $j
    result["$1,$LABEL"]=$(job "$@")
  done
}
dir="$work/tmpfs"; LABEL=tmpfs; run_all
truncate -s 2G "$dev"
for mode in direct pages copy; do
  "$build/tools/mkpmemfs" -q --force "$dev"
  "$build/fs/pmemfs" "$dev" "$work/mnt" -o "mode=$mode"
  dir="$work/mnt"; LABEL=$mode; run_all
  umount "$work/mnt"
  sleep 0.5
done

echo "fio psync, 1 job, $size file, ${runtime}s per job, $(date -u +%F), $(nproc) cores"
echo
echo "| job | tmpfs MB/s | direct MB/s (x tmpfs) | pages MB/s (x tmpfs) | copy MB/s (x tmpfs) |"
echo "|---|---|---|---|---|"
for j in "${jobs[@]}"; do
  set -- $j
  t=${result["$1,tmpfs"]}
  line="| $1 | $t"
  for mode in direct pages copy; do
    v=${result["$1,$mode"]}
    line+=" | $v ($(awk -v a="$v" -v b="$t" 'BEGIN { printf "%.2f", b ? a / b : 0 }'))"
  done
  echo "$line |"
done
