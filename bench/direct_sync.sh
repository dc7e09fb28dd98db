#!/usr/bin/env bash
# fsync and msync under pmemfs-direct, against tmpfs in the same run: fio psync 4 KiB appends
# and random writes with fsync=1, and fio's mmap engine with direct=1 (a 4 KiB store, msync of
# it), on a direct mode mount of emulated pmem (/dev/shm), once per build given (to compare a
# change with main: bench/direct_sync.sh /work/main/build build). Prints IOPS and the ratio to
# tmpfs. Not a test (shared, noisy machines: read the ratios, and repeat).
#
#   bench/direct_sync.sh BUILD_DIR...      RT=5 (seconds per job) JOBS="append randwrite mmap"
set -euo pipefail
[ $# -gt 0 ] || set -- build
builds=()
for b in "$@"; do builds+=("$(realpath "$b")"); done
work=$(mktemp -d /tmp/pmemfs-dsync.XXXX)
dev=/dev/shm/pmemfs-dsync-$$.img
cleanup() {
  for m in "$work/mnt" "$work/tmpfs"; do if mountpoint -q "$m"; then umount "$m" || true; fi; done
  rm -rf "$work" "$dev"
}
trap cleanup EXIT
mkdir -p "$work/mnt" "$work/tmpfs"
mount -t tmpfs -o size=1G tmpfs "$work/tmpfs"
rt=${RT:-5}
# job DIR NAME KIND [prefix...]: prints the write IOPS of one fio job
job() {
  local dir=$1 name=$2 kind=$3 args=(--ioengine=psync --rw=randwrite --fsync=1)
  shift 3
  case $kind in
    append) args=(--ioengine=psync --rw=write --fsync=1 --file_append=1) ;;
    mmap) args=(--ioengine=mmap --rw=randwrite --direct=1) ;;
  esac
  rm -f "$dir/$name".*
  "$@" fio --name="$name" --directory="$dir" --size=64M --bs=4k "${args[@]}" --time_based \
    --runtime="$rt" --output-format=terse 2>/dev/null | awk -F';' '{ printf "%.0f", $49 }'
}
for kind in ${JOBS:-append randwrite mmap}; do
  t=$(job "$work/tmpfs" "t-$kind" "$kind")
  line="$kind: tmpfs $t IOPS"
  for b in "${builds[@]}"; do
    truncate -s 1G "$dev"
    "$b/tools/mkpmemfs" -q --force "$dev"
    "$b/fs/pmemfs" "$dev" "$work/mnt" -o mode=direct
    p=$(job "$work/mnt" "p-$kind" "$kind" "$b/client/pmemfs-direct")
    umount "$work/mnt"
    sleep 0.5
    line+=" | $b: $p IOPS ($(awk -v a="$p" -v b="$t" 'BEGIN { printf "%.3f", a / b }')x)"
  done
  echo "$line"
done
