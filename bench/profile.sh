#!/usr/bin/env bash
# bench/profile.sh: where one job's time goes. Mounts pmemfs in MODE on a fresh emulated device,
# runs one fio job (as bench/jobs.sh runs it, one fio process) and records the pmemfs daemon and
# fio with `perf record -g` (cpu-clock, so it works in VMs without PMU); prints the top symbols
# by self time (daemon and fio together: the kernel's FUSE work shows up under both) and keeps
# perf.data in OUT. Run as root.
#
#   bench/profile.sh --build DIR [--mode direct|copy|pages] [--job JOB] [--seconds S] [--out DIR]
#
# JOB: seqwrite-1M seqread-1M randread-4K randwrite-4K randwrite-4K-fsync append-4K
# (default randwrite-4K).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/cli.sh"

build="" mode=direct job=randwrite-4K seconds=5 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --job) job="${2:?}"; shift 2 ;;
    --seconds) seconds="${2:?}"; shift 2 ;;
    *) common_option "$@"; shift 2 ;;
  esac
done
check_build_and_mode
case "$job" in
  seqwrite-1M) fio_opts=(--rw=write --bs=1M) ;;
  seqread-1M) fio_opts=(--rw=read --bs=1M) ;;
  randread-4K) fio_opts=(--rw=randread --bs=4k) ;;
  randwrite-4K) fio_opts=(--rw=randwrite --bs=4k) ;;
  randwrite-4K-fsync) fio_opts=(--rw=randwrite --bs=4k --fsync=1) ;;
  append-4K) fio_opts=(--rw=write --bs=4k --file_append=1) ;;
  *) die "unknown job $job" ;;
esac
check_positive --seconds "$seconds"
command -v perf >/dev/null || die "perf not found (Debian: linux-perf)"
[ -n "$out" ] || out=$(mktemp -d /tmp/bench-profile.XXXXXX)
mkdir -p "$out"

work=$(mktemp -d /tmp/bench-profile-work.XXXXXX)
export BENCH_WORK="$work" BENCH_DEV_PREFIX=/dev/shm/bench-profile-$$
export BENCH_DAEMON="$build/fs/pmemfs" BENCH_MKFS="$build/tools/mkpmemfs"
source "$here/mounts.sh"
trap 'mounts_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

mount_fs "pmemfs-$mode" 2G
# Lay the file out first (reads and overwrites need it), then profile the timed part only.
fio --name=layout --filename="$fs_dir/f" --size=256M --rw=write --bs=1M --ioengine=psync \
    --output-format=terse >/dev/null
fio --name="$job" --filename="$fs_dir/f" --size=256M --ioengine=psync --time_based \
    --runtime=$((seconds + 2)) --invalidate=0 "${fio_opts[@]}" --output-format=terse \
    > "$out/fio.terse" &
fio_pid=$!
sleep 1
perf record -e cpu-clock -g -o "$out/perf.data" -p "$fs_pid,$(pgrep -P "$fio_pid" -d, || echo "$fio_pid")" \
  -- sleep "$seconds" 2> "$out/perf.log" || { cat "$out/perf.log" >&2; die "perf record failed"; }
wait "$fio_pid"
umount_fs
echo "pmemfs $mode, $job: top symbols by self time (daemon + fio); perf.data in $out"
perf report -i "$out/perf.data" --no-children --sort comm,dso,symbol --stdio 2>/dev/null |
  grep -E '^ +[0-9.]+%' | sed 's/ *[-] *[-] *$//; s/  *$//' | cut -c1-140 | head -25
