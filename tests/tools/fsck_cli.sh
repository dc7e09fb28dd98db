#!/bin/bash
# pmemfs-fsck, the executable: exit codes as e2fsck (0 clean, 1 fixed, 4 left, 8 operational,
# 16 usage), one-line errors, and the refusal of a device another process holds locked (as the
# pmemfs daemon holds the part files of a mounted device: mapping/part_file.cc flock).
#
# With the daemon as a third argument (and root, /dev/fuse, fusermount3) it also mounts the
# device for real: a mounted device is refused, and what the daemon wrote checks clean.
#
#   fsck_cli.sh PMEMFS_FSCK MKPMEMFS [PMEMFS]
set -u
fsck=$1
mkfs=$2
daemon=${3:-}
dir=$(mktemp -d /dev/shm/fsck-cli.XXXXXX)
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then
    fusermount3 -u "$dir/mnt" 2>/dev/null || umount -l "$dir/mnt" 2>/dev/null
    kill "$daemon_pid" 2>/dev/null
    wait "$daemon_pid" 2>/dev/null
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
failures=0

# expect CODE DESCRIPTION COMMAND...: runs the command, compares its exit status.
expect() {
  local want=$1 what=$2
  shift 2
  "$@" >"$dir/out" 2>"$dir/err"
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $what: exit $got, expected $want"
    sed 's/^/  stdout: /' "$dir/out"
    sed 's/^/  stderr: /' "$dir/err"
    failures=$((failures + 1))
  else
    echo "ok: $what (exit $got)"
  fi
}
# The last command's stderr is one line containing TEXT.
stderr_says() {
  if [ "$(wc -l <"$dir/err")" != 1 ] || ! grep -q -- "$1" "$dir/err"; then
    echo "FAIL: stderr should be one line containing '$1':"
    sed 's/^/  /' "$dir/err"
    failures=$((failures + 1))
  fi
}
# flip FILE OFFSET: xors the byte at OFFSET with 0x5a.
flip() {
  local b
  b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
  printf "$(printf '\\%03o' $((b ^ 0x5a)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

dev=$dir/dev
truncate -s 64M "$dev"
"$mkfs" "$dev" >"$dir/mkfs.out" || { echo "FAIL: mkpmemfs"; exit 1; }
# Device offset 0 is file offset 4096 (the part header); the backup superblock is the last block
# of the store area.
store_end=$(sed -n 's/.*store area *\[0, \([0-9]*\)).*/\1/p' "$dir/mkfs.out")
[ -n "$store_end" ] || { echo "FAIL: no store area in mkpmemfs output"; exit 1; }

expect 0 "fresh filesystem, -n" "$fsck" -n "$dev"
grep -q "clean" "$dir/out" || { echo "FAIL: no 'clean' in the summary"; failures=$((failures + 1)); }
expect 0 "fresh filesystem, -f -v" "$fsck" -f -v "$dev"
expect 0 "fresh filesystem, -y" "$fsck" -y "$dev"

flip "$dev" $((4096 + 60))  # a byte of the primary superblock's label
expect 4 "damaged primary superblock, -n" "$fsck" -n "$dev"
grep -q "superblock" "$dir/out" || { echo "FAIL: the problem is not listed"; failures=$((failures + 1)); }
expect 1 "damaged primary superblock, -y" "$fsck" -y "$dev"
grep -q "\[FIXED\]" "$dir/out" || { echo "FAIL: no [FIXED]"; failures=$((failures + 1)); }
expect 0 "after the repair, -n" "$fsck" -n "$dev"
flip "$dev" $((4096 + 60))
expect 1 "damaged primary superblock, -p" "$fsck" -p "$dev"

flip "$dev" $((4096 + 508))              # both superblocks' checksums
flip "$dev" $((4096 + store_end - 4096 + 508))
expect 4 "both superblocks damaged, -y" "$fsck" -y "$dev"
grep -q "NOT FIXED" "$dir/out" || { echo "FAIL: no [NOT FIXED]"; failures=$((failures + 1)); }

expect 8 "missing device" "$fsck" -n "$dir/missing"
stderr_says "missing"
truncate -s 16M "$dir/zero"
expect 8 "a file that is no pmemfs device" "$fsck" -n "$dir/zero"
stderr_says "zero"
dd if=/dev/zero of="$dev" bs=4096 seek=1 count=1 conv=notrunc status=none
dd if=/dev/zero of="$dev" bs=4096 seek=$((store_end / 4096)) count=1 conv=notrunc status=none
expect 8 "a device without a pmemfs" "$fsck" -n "$dev"
stderr_says "not a pmemfs"

expect 16 "unknown option" "$fsck" --bogus "$dev"
stderr_says "bogus"
expect 16 "-n with -y" "$fsck" -n -y "$dev"
stderr_says "cannot be combined"
expect 16 "no device" "$fsck" -n

# A device whose part file is locked (this shell holds the lock on an open file of its own), as
# the daemon holds it while the device is mounted.
"$mkfs" -q -f "$dev" || exit 1
exec {lockfd}<"$dev"
flock -x "$lockfd" || exit 1
expect 8 "a device in use, -y" "$fsck" -y "$dev"
stderr_says "in use by another process"
expect 8 "a device in use, -n" "$fsck" -n "$dev"
stderr_says "unmount it first"
exec {lockfd}<&-
expect 0 "the same device once released" "$fsck" -n "$dev"

# A device mounted by the daemon.
if [ -n "$daemon" ] && [ "$(id -u)" = 0 ] && [ -c /dev/fuse ] && command -v fusermount3 >/dev/null; then
  mkdir "$dir/mnt"
  "$mkfs" -q -f "$dev" || exit 1
  "$daemon" "$dev" "$dir/mnt" -f -o config=none >"$dir/daemon.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 200); do grep -q " $dir/mnt " /proc/mounts && break; sleep 0.1; done
  if grep -q " $dir/mnt " /proc/mounts; then
    mkdir -p "$dir/mnt/a/b" && echo hello >"$dir/mnt/a/b/f" && ln "$dir/mnt/a/b/f" "$dir/mnt/hl" &&
      ln -s a/b/f "$dir/mnt/s" && seq 100000 >"$dir/mnt/a/big" && rm "$dir/mnt/hl"
    expect 8 "a mounted device, -n" "$fsck" -n "$dev"
    stderr_says "mounted at $dir/mnt"
    expect 8 "a mounted device, -y" "$fsck" -y "$dev"
    fusermount3 -u "$dir/mnt"
    wait "$daemon_pid"
    daemon_pid=
    expect 0 "what the daemon wrote, once unmounted" "$fsck" -n -v "$dev"
  else
    echo "FAIL: the daemon did not mount:"
    cat "$dir/daemon.log"
    failures=$((failures + 1))
  fi
else
  echo "skipped: a real mount (needs the daemon, root, /dev/fuse and fusermount3)"
fi

[ "$failures" = 0 ] && echo "all pmemfs-fsck executable tests passed"
exit $((failures > 0))
