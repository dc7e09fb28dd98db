#!/usr/bin/env bash
# bench/lib_floor.sh: how far the direct-access library's 4 KiB pread/pwrite are from the floor.
#
# The floor is fio with libpmemfs-preload-floor.so (bench/preload_floor.cc): pread/pwrite of its
# file served by the mapping layer's persisted copy alone, into a one-part device on an emulated
# pmem file in /dev/shm, with no filesystem, descriptor table or lease. It is what fio can reach
# with any preloaded library on this device, its own work (offsets, clocks, statistics) included,
# which pmemfs-mapping-bench's rate leaves out. Three fio runs per job and round, in turn: under
# pmemfs-direct on a pmemfs mount (MODE), under the floor, and on tmpfs through the kernel; the
# rounds interleave them so a burst of load from elsewhere hits all three alike. Prints each
# run's IOPS, then per job the medians and the ratios library/floor, library/tmpfs and
# floor/tmpfs, pmemfs-mapping-bench's persisted 4 KiB random write and fio's null engine (fio's
# own work per I/O) for reference.
#
#   bench/lib_floor.sh --build DIR [--mode direct|pages] [--rounds N] [--seconds S]
#                      [--jobs randwrite,randread] [--size 64M]
#
# DIR: a build with pmemfs, mkpmemfs, pmemfs-direct, pmemfs-preload, pmemfs-mapping-bench and
# pmemfs-preload-floor (bench/run's build-bench has them after `ninja pmemfs-preload-floor`).
# Run as root; it mounts pmemfs and a tmpfs under a temporary directory and removes them, their
# files and the emulated devices when it ends, also on failure or ^C.
set -euo pipefail
die() { echo "lib_floor.sh: $*" >&2; exit 2; }

build="" mode=direct rounds=5 seconds=2 jobs=randwrite,randread size=64M
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=${2:?}; shift 2 ;;
    --mode) mode=${2:?}; shift 2 ;;
    --rounds) rounds=${2:?}; shift 2 ;;
    --seconds) seconds=${2:?}; shift 2 ;;
    --jobs) jobs=${2:?}; shift 2 ;;
    --size) size=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
done
[ -n "$build" ] || die "--build DIR is required"
[ "$(id -u)" -eq 0 ] || die "must run as root (it mounts pmemfs and a tmpfs)"
case "$mode" in direct|pages) ;; *) die "--mode: direct or pages, not $mode" ;; esac
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds: a positive whole number, not $rounds"
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "--seconds: a positive whole number, not $seconds"
for b in fs/pmemfs tools/mkpmemfs client/pmemfs-direct client/libpmemfs-preload.so \
         bench/pmemfs-mapping-bench bench/libpmemfs-preload-floor.so; do
  [ -e "$build/$b" ] || die "no $build/$b (build it first)"
done
IFS=, read -r -a job_list <<<"$jobs"
for j in "${job_list[@]}"; do
  case "$j" in randwrite|randread) ;; *) die "--jobs: randwrite and/or randread, not $j" ;; esac
done
command -v fio >/dev/null || die "fio not found"

work=$(mktemp -d /tmp/pmemfs-lib-floor.XXXXXX)
mnt="$work/pmemfs" tmp="$work/tmpfs" device="/dev/shm/pmemfs-lib-floor-$$.img"
floor_part="/dev/shm/pmemfs-lib-floor-$$-part"
cleanup() {
  mountpoint -q "$mnt" && { fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"; }
  mountpoint -q "$tmp" && umount "$tmp"
  rm -f "$device" "$floor_part"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$mnt" "$tmp"

truncate -s 1G "$device"
"$build/tools/mkpmemfs" -q --force --mode "$mode" "$device" >/dev/null
"$build/fs/pmemfs" "$device" "$mnt" -o "mode=$mode,config=none" >"$work/pmemfs.log" 2>&1 ||
  { cat "$work/pmemfs.log" >&2; die "pmemfs did not mount"; }
mount -t tmpfs -o size=1G lib-floor-tmpfs "$tmp"
mkdir -p "$tmp/floor"

# run_fio RW FILE [PREFIX...]: one fio job, prints its IOPS.
run_fio() {
  local rw=$1 file=$2
  shift 2
  "$@" fio --name=j --ioengine=psync --rw="$rw" --bs=4k --size="$size" --filename="$file" \
    --time_based --runtime="$seconds" --ramp_time=0.5 --output-format=terse --terse-version=3 |
    awk -F';' -v rw="$rw" '{ print (rw == "randread") ? $8 : $49 }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A runs
printf '%-10s %6s %14s %14s %14s   load\n' job round library floor tmpfs
for r in $(seq "$rounds"); do
  for j in "${job_list[@]}"; do
    lib=$(run_fio "$j" "$mnt/f" "$build/client/pmemfs-direct")
    floor=$(run_fio "$j" "$tmp/floor/f" env LD_PRELOAD="$build/bench/libpmemfs-preload-floor.so" \
      PMEMFS_FLOOR_FILE="$tmp/floor/f" PMEMFS_FLOOR_PART="$floor_part")
    rm -f "$floor_part"
    kern=$(run_fio "$j" "$tmp/f")
    runs[$j-lib]+="$lib " runs[$j-floor]+="$floor " runs[$j-tmpfs]+="$kern "
    printf '%-10s %6s %14s %14s %14s   %s\n' "$j" "$r" "$lib" "$floor" "$kern" \
      "$(cut -d' ' -f1 /proc/loadavg)"
  done
done

echo
printf '%-10s %12s %12s %12s %14s %14s %14s\n' job library floor tmpfs library/floor \
  library/tmpfs floor/tmpfs
for j in "${job_list[@]}"; do
  l=$(tr ' ' '\n' <<<"${runs[$j-lib]}" | grep . | median)
  f=$(tr ' ' '\n' <<<"${runs[$j-floor]}" | grep . | median)
  t=$(tr ' ' '\n' <<<"${runs[$j-tmpfs]}" | grep . | median)
  awk -v j="$j" -v l="$l" -v f="$f" -v t="$t" 'BEGIN {
    printf "%-10s %12.0f %12.0f %12.0f %14.2f %14.2f %14.2f\n", j, l, f, t, l / f, l / t, f / t }'
done
echo "(medians of $rounds rounds, IOPS, 4 KiB, 1 fio job, $size file, $seconds s after a 0.5 s ramp;" \
  "pmemfs in $mode mode)"
mb=$("$build/bench/pmemfs-mapping-bench" --dir /dev/shm --seconds 1 |
  awk '/^write 4K random \(persisted\) +linear +linear/ { print $(NF - 4) }')
[ -n "$mb" ] && awk -v mb="$mb" 'BEGIN { printf "pmemfs-mapping-bench, persisted 4 KiB random write: %.2f M/s (%s MB/s)\n", mb * 1e6 / 4096 / 1e6, mb }'
# fio's own work per I/O, with the same options: its null engine does no I/O at all.
null=$(fio --name=j --ioengine=null --rw=randwrite --bs=4k --size="$size" --time_based \
  --runtime="$seconds" --output-format=terse --terse-version=3 |
  awk -F';' '{ print $49 }')
if [ -n "$null" ]; then
  awk -v n="$null" 'BEGIN { printf "fio alone (null engine, same options): %.2f M IOPS, %.0f ns per I/O\n", n / 1e6, 1e9 / n }'
fi
