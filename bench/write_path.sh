#!/usr/bin/env bash
# bench/write_path.sh: what one 4 KiB overwrite costs in the daemon, counted, not timed (so it
# repeats on a loaded machine). Formats a fresh emulated device (/dev/shm) in MODE, mounts it with
# the daemon under valgrind's callgrind, collection on only inside the FUSE write handler
# (fs/fuse ops.cc's Gated<WriteBuf>::Call, its gate pass included); writes a 4 KiB file and
# overwrites it once (warm: inode and extent map loaded), zeroes the counters, then overwrites
# block 0 N times with dd conv=notrunc (each dd opens and closes: its last close commits the
# write times, so every overwrite defers them again). Prints the instructions per overwrite and,
# from bench/write_path_count.py, the source files and classes the path crosses. Run as root.
#
#   bench/write_path.sh --build DIR [--mode direct|copy|pages] [--count N] [--out DIR]
#
# Needs valgrind and llvm-symbolizer; DIR is a build with debug info (scripts/build's default
# RelWithDebInfo). OUT (default a temporary directory, removed) keeps cg.out for
# callgrind_annotate.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/cli.sh"

build="" mode=pages count=1 out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count="${2:?}"; shift 2 ;;
    *) common_option "$@"; shift 2 ;;
  esac
done
check_build_and_mode
check_positive --count "$count"
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null || die "needs valgrind"
command -v llvm-symbolizer >/dev/null || die "needs llvm-symbolizer (Debian: llvm)"

keep=1
if [ -z "$out" ]; then out=$(mktemp -d /tmp/pmemfs-write-path.XXXX); keep=0; fi
mkdir -p "$out"
dev=/dev/shm/pmemfs-write-path-$$.img
mnt=$(mktemp -d /tmp/pmemfs-write-path-mnt.XXXX)
vpid=""
cleanup() {
  if awk -v m="$mnt" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; then
    fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  fi
  [ -n "$vpid" ] && { wait "$vpid" 2>/dev/null || true; }
  rm -f "$dev"
  rmdir "$mnt" 2>/dev/null || true
  [ "$keep" = 1 ] || rm -rf "$out"
}
trap cleanup EXIT

truncate -s 64M "$dev"
"$build/tools/mkpmemfs" --mode "$mode" "$dev" >/dev/null
rm -f "$out"/cg.out*
valgrind --tool=callgrind --collect-atstart=no --dump-instr=yes \
  --toggle-collect='*Gated<&pmemfs::fuse::handlers::WriteBuf>::Call*' \
  --callgrind-out-file="$out/cg.out" \
  "$build/fs/pmemfs" "$dev" "$mnt" -f -o "mode=$mode,config=none" >"$out/daemon.log" 2>&1 &
vpid=$!
for _ in $(seq 600); do
  awk -v m="$mnt" '$2 == m { f = 1 } END { exit !f }' /proc/mounts && break
  kill -0 "$vpid" 2>/dev/null || die "the daemon exited: $(tail -3 "$out/daemon.log")"
  sleep 0.1
done
head -c 4096 /dev/urandom >"$out/block"
dd if="$out/block" of="$mnt/f" bs=4096 count=1 conv=notrunc status=none  # allocates
dd if="$out/block" of="$mnt/f" bs=4096 count=1 conv=notrunc status=none  # warm overwrite
callgrind_control -z "$vpid" >/dev/null
for _ in $(seq "$count"); do
  dd if="$out/block" of="$mnt/f" bs=4096 count=1 conv=notrunc status=none
done
callgrind_control -d "$vpid" >/dev/null
fusermount3 -u "$mnt"
wait "$vpid" || true
vpid=""
profile=$(ls "$out"/cg.out.* | head -1)
total=$(sed -n 's/^summary: //p' "$profile")
echo "mode $mode: $count overwrite(s), $total instructions in the write handler, $((total / count)) per overwrite"
python3 "$here/write_path_count.py" "$profile" "$build/fs/pmemfs"
