# bench/mounts.sh: mounting and unmounting the benchmarked filesystems (sourced by bench/run and
# bench/scaling.sh, which call mounts_cleanup from their EXIT trap).
#
#   mount_fs FS DEVICE-SIZE [EXTRA-PMEMFS-OPTIONS]   sets fs_dir (where to work), fs_pid (the
#                                                    pmemfs daemon, empty for the others) and
#                                                    fs_mount_ms (pmemfs: daemon start to mounted,
#                                                    within 0.1 s); several
#                                                    filesystems may be mounted at once
#   umount_fs [FS]                                   unmounts what mount_fs mounted for FS (the
#                                                    last one mounted by default), removes its
#                                                    device, waits for its daemon
#   mounts_cleanup                                   unmounts and removes everything still there
#
# FS: pmemfs-direct, pmemfs-copy, pmemfs-pages (descriptors in the device), pmemfs-pages-dram
# (descriptors in DRAM), pmemfs-direct+lib and pmemfs-pages+lib (the same mounts, for programs run
# under pmemfs-direct: direct access is the daemon's default for root), tmpfs, bindfs (bindfs --multithreaded -o big_writes over its own tmpfs:
# Debian's bindfs uses libfuse 2, which sends 4 KiB writes without big_writes), ext4-dax (a
# fresh directory in $BENCH_EXT4, an existing -o dax mount).
# Needs BENCH_WORK (a private directory), BENCH_DEV_PREFIX (device files are PREFIX-NAME.img,
# normally under /dev/shm), BENCH_DAEMON and BENCH_MKFS (the pmemfs and mkpmemfs binaries).
# A pmemfs device is a sparse file formatted by mkpmemfs; the daemon flushes it by cache line (its
# default for an emulated device: -o page_granularity would use msync), and runs in the
# foreground (-f) as our child so that its PID is known.

mounts=()    # every directory we mounted, unmounted in reverse order by mounts_cleanup
daemons=()   # every pmemfs daemon we started
fs_dir="" fs_pid="" fs_mount_ms="" _last_fs=""
declare -A _fs_mounts _fs_pid _fs_device _fs_dir   # per mounted FS (mounts: space-separated)

_mount_wait() {  # _mount_wait DIR PID LOG: until DIR is a mount point, or the daemon has died
  local i
  for ((i = 0; i < 300; i++)); do
    mountpoint -q "$1" && return 0
    if ! kill -0 "$2" 2>/dev/null; then
      echo "bench: pmemfs did not mount $1:" >&2
      cat "$3" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "bench: pmemfs did not mount $1 within 30 s" >&2
  return 1
}

mount_fs() {
  local fs=$1 size=$2 extra=${3:-} mnt="$BENCH_WORK/mnt-$1" mode device=""
  fs_dir="" fs_pid=""
  mkdir -p "$mnt"
  case "$fs" in
    pmemfs-*)
      mode=${fs#pmemfs-}
      mode=${mode%+lib}
      local opts="config=none"
      if [ "$mode" = pages-dram ]; then mode=pages opts+=",descriptors=dram"; fi
      opts="mode=$mode,$opts${extra:+,$extra}"
      device="$BENCH_DEV_PREFIX-$fs.img"
      rm -f "$device"
      truncate -s "$size" "$device"
      "$BENCH_MKFS" -q --force --mode "$mode" "$device" >/dev/null
      local t0
      t0=$(date +%s%N)
      "$BENCH_DAEMON" "$device" "$mnt" -f -o "$opts" > "$BENCH_WORK/$fs.log" 2>&1 &
      fs_pid=$!
      daemons+=("$fs_pid")
      mounts+=("$mnt")
      _fs_mounts[$fs]="$mnt"
      _mount_wait "$mnt" "$fs_pid" "$BENCH_WORK/$fs.log" || return 1
      fs_mount_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
      fs_dir="$mnt"
      ;;
    tmpfs)
      mount -t tmpfs -o "size=$size" bench-tmpfs "$mnt"
      mounts+=("$mnt")
      _fs_mounts[$fs]="$mnt"
      fs_dir="$mnt"
      ;;
    bindfs)
      local src="$BENCH_WORK/bindfs-src"
      mkdir -p "$src"
      mount -t tmpfs -o "size=$size" bench-tmpfs "$src"
      mounts+=("$src")
      bindfs --multithreaded -o big_writes "$src" "$mnt"   # libfuse 2: 4 KiB writes without it
      mounts+=("$mnt")
      _fs_mounts[$fs]="$mnt $src"
      fs_dir="$mnt"
      ;;
    ext4-dax)
      [ -n "${BENCH_EXT4:-}" ] || { echo "bench: ext4-dax needs --ext4-dax-mount" >&2; return 1; }
      fs_dir="$BENCH_EXT4/bench-run-$$"
      mkdir -p "$fs_dir"
      _fs_mounts[$fs]=""
      ;;
    *) echo "bench: unknown filesystem $fs" >&2; return 1 ;;
  esac
  _fs_pid[$fs]="$fs_pid" _fs_device[$fs]="$device" _fs_dir[$fs]="$fs_dir" _last_fs="$fs"
}

# _umount M: unmounts M, retrying for up to 10 s while it is busy (bindfs's daemon keeps its
# source open until it has exited, a moment after its own mount is gone).
_umount() {
  local i
  for ((i = 0; i < 100; i++)); do
    umount "$1" 2>/dev/null && return 0
    mountpoint -q "$1" || return 0
    sleep 0.1
  done
  umount "$1"  # the last try says why
}

umount_fs() {
  local fs=${1:-$_last_fs} m i pid
  [ -n "$fs" ] && [ -n "${_fs_dir[$fs]+set}" ] || return 0
  for m in ${_fs_mounts[$fs]}; do _umount "$m"; done
  pid=${_fs_pid[$fs]}
  if [ -n "$pid" ]; then
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    wait "$pid" 2>/dev/null || true
  fi
  [ -n "${_fs_device[$fs]}" ] && rm -f "${_fs_device[$fs]}"
  [ -z "${_fs_mounts[$fs]}" ] && rm -rf "${_fs_dir[$fs]}"
  unset "_fs_mounts[$fs]" "_fs_pid[$fs]" "_fs_device[$fs]" "_fs_dir[$fs]"
  [ "$fs" = "$_last_fs" ] && _last_fs=""
  return 0
}

mounts_cleanup() {
  local i pid
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do
    if mountpoint -q "${mounts[i]}"; then
      umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null || true
    fi
  done
  for pid in "${daemons[@]}"; do
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill "$pid" 2>/dev/null || true
  done
  rm -f "$BENCH_DEV_PREFIX"-*
  [ -n "${BENCH_EXT4:-}" ] && rm -rf "$BENCH_EXT4/bench-run-$$"
  return 0
}
