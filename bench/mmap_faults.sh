#!/usr/bin/env bash
# Page faults of the mmap job's pattern (bench/mmap_faults.py: a shared mapping of a whole file,
# random 4 KiB stores each followed by an msync of them) on a pmemfs mount, through the kernel
# and through the library (pmemfs-direct), with the device in /dev/shm (tmpfs without huge
# pages, as the host's is) and in a tmpfs of our own mounted huge=always (a device that can be
# mapped with 2 MiB pages, as an fsdax file or devdax is). Counted, not timed: the counts repeat.
#
#   bench/mmap_faults.sh --build DIR [--mode direct|pages] [--size 64M] [--stores N]
#
# Run as root (mounts a tmpfs and pmemfs; removes both, and its files, when it ends).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
build="" mode=direct size=64M stores=4096
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=${2:?}; shift 2 ;;
    --mode) mode=${2:?}; shift 2 ;;
    --size) size=${2:?}; shift 2 ;;
    --stores) stores=${2:?}; shift 2 ;;
    *) echo "mmap_faults.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$build" ] || { echo "mmap_faults.sh: --build DIR is required" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "mmap_faults.sh: must run as root" >&2; exit 2; }
for b in fs/pmemfs tools/mkpmemfs client/pmemfs-direct; do
  [ -x "$build/$b" ] || { echo "mmap_faults.sh: no $build/$b (build it first)" >&2; exit 2; }
done

work=$(mktemp -d /tmp/pmemfs-mmap-faults.XXXXXX)
huge="$work/huge" mnt="$work/mnt"
mkdir -p "$huge" "$mnt"
cleanup() {
  mountpoint -q "$mnt" && umount "$mnt" 2>/dev/null || true
  mountpoint -q "$huge" && umount "$huge" 2>/dev/null || true
  rm -f "/dev/shm/$(basename "$work").img"
  rm -rf "$work"
}
trap cleanup EXIT
mount -t tmpfs -o size=1G,huge=always tmpfs "$huge"

for where in /dev/shm "$huge"; do
  dev="$where/$(basename "$work").img"
  truncate -s 512M "$dev"
  "$build/tools/mkpmemfs" -q --force --mode "$mode" "$dev"
  "$build/fs/pmemfs" "$dev" "$mnt" -o "mode=$mode,config=none"
  # The file written through the kernel (its blocks allocated in order), then mapped.
  dd if=/dev/zero of="$mnt/f" bs=1M count="$(( $(numfmt --from=iec "$size") >> 20 ))" \
    status=none conv=fsync
  label=$([ "$where" = /dev/shm ] && echo "/dev/shm" || echo "tmpfs huge=always")
  echo "device in $label, $mode mode:"
  echo "  kernel:  $(python3 "$here/mmap_faults.py" "$mnt/f" "$stores")"
  lib=$("$build/client/pmemfs-direct" python3 "$here/mmap_faults.py" "$mnt/f" "$stores")
  echo "  library: $lib"
  # The library's pwrite and pread copy to and from its own mappings of the device.
  lib=$("$build/client/pmemfs-direct" python3 "$here/mmap_faults.py" "$mnt/f" "$stores" pwrite)
  echo "  library: $lib"
  for _ in $(seq 50); do umount "$mnt" 2>/dev/null && break; sleep 0.1; done
  for _ in $(seq 100); do fuser -s "$dev" 2>/dev/null || break; sleep 0.1; done
  rm -f "$dev"
done
