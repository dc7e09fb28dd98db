#!/usr/bin/env bash
# mount -o remount on a live mount, as systemd does at shutdown and admins before a backup:
# remount,ro is refused while a file is open for writing, then writes back what is pending (copy
# mode's cache, deferred write times), marks the filesystem clean on the device (a copy of the
# device checks clean; a power loss while read-only loses nothing) and refuses every change with
# EROFS; remount,rw makes it writable (and dirty) again. remount,noatime of a relatime mount
# switches the mount flags and the daemon's policy to noatime. With fstype=fuse the mount's type
# is plain fuse, and remounts work the same.
source "$(dirname "$0")/lib.sh"
FSCK=${PMEMFS_FSCK:?PMEMFS_FSCK: the pmemfs-fsck program (CMake sets it)}
make_device 64M
format
mount_fs
random_file "$WORK/data" 3M
cp "$WORK/data" "$MNT/data"
echo small >"$MNT/small"
mkdir "$MNT/d"
# An overwrite in place: its mtime is one of the write times committed late.
printf 'X' | dd of="$MNT/data" conv=notrunc bs=1 count=1 status=none
printf 'X' | dd of="$WORK/data" conv=notrunc bs=1 count=1 status=none
mtime=$(stat -c %y "$MNT/data")

mount_options() { awk -v m="$MNT" '$2 == m {print $4}' /proc/mounts; }
# snapshot_fsck: pmemfs-fsck -n -v of a copy of the device as it is now; prints its output,
# fails on a non-zero exit.
snapshot_fsck() {
  local i snap=()
  for i in "${!PARTS[@]}"; do
    cp "${PARTS[$i]}" "$WORK/snap$i"
    snap+=("$WORK/snap$i")
  done
  "$FSCK" -n -v "$(IFS=,; echo "${snap[*]}")" >"$WORK/fsck.out" 2>&1 ||
    fail "pmemfs-fsck of a copy of the device: $(cat "$WORK/fsck.out")"
  rm -f "${snap[@]}"
  cat "$WORK/fsck.out"
}
unclean="not cleanly unmounted"
[ "$(snapshot_fsck | count "$unclean")" = 1 ] || fail "a mounted read-write device is not marked dirty"

exec 8>>"$MNT/small"
expect_fail "files are open for writing" "$PMEMFS" "$DEV" "$MNT" -o remount,ro
[[ ",$(mount_options)," == *,rw,* ]] || fail "a refused remount,ro changed the mount: $(mount_options)"
exec 8>&-

"$PMEMFS" "$DEV" "$MNT" -o remount,ro >"$WORK/remount.log" 2>&1 ||
  fail "remount,ro: $(cat "$WORK/remount.log")"
[[ ",$(mount_options)," == *,ro,* ]] || fail "/proc/mounts after remount,ro: $(mount_options)"
expect_eq "$(snapshot_fsck | count "$unclean")" 0 "'$unclean' notes of the device while read-only"
expect_fail "Read-only file system" touch "$MNT/new"
expect_fail "Read-only file system" sh -c "echo x >>'$MNT/small'"
expect_fail "Read-only file system" mkdir "$MNT/d/sub"
expect_fail "Read-only file system" rm "$MNT/small"
expect_fail "Read-only file system" setfattr -n user.k -v 1 "$MNT/small"
expect_same "$MNT/data" "$WORK/data"
expect_eq "$(cat "$MNT/small")" small "small, read-only"

"$PMEMFS" "$DEV" "$MNT" -o remount,rw >"$WORK/remount.log" 2>&1 ||
  fail "remount,rw: $(cat "$WORK/remount.log")"
[[ ",$(mount_options)," == *,rw,* ]] || fail "/proc/mounts after remount,rw: $(mount_options)"
echo more >>"$MNT/small"
mkdir "$MNT/d/sub"
[ "$(snapshot_fsck | count "$unclean")" = 1 ] || fail "read-write again, the device is not marked dirty"

# Read-only again, then the daemon dies: nothing it acknowledged was left in DRAM.
"$PMEMFS" "$DEV" "$MNT" -o remount,ro >"$WORK/remount.log" 2>&1 ||
  fail "the second remount,ro: $(cat "$WORK/remount.log")"
crash_daemon
mount_fs
expect_same "$MNT/data" "$WORK/data"
expect_eq "$(stat -c %y "$MNT/data")" "$mtime" "mtime of an overwrite, after read-only and a crash"
expect_eq "$(cat "$MNT/small")" "$(printf 'small\nmore')" "small after read-only and a crash"
[ -d "$MNT/d/sub" ] || fail "d/sub is gone after read-only and a crash"

# remount,noatime of a relatime mount (mount(8) hands the helper the mount's options first).
echo data >"$MNT/cold"
"$PMEMFS" "$DEV" "$MNT" -o remount,rw,nosuid,nodev,relatime,noatime >"$WORK/remount.log" 2>&1 ||
  fail "remount,noatime: $(cat "$WORK/remount.log")"
[[ ",$(mount_options)," == *,noatime,* ]] || fail "/proc/mounts after remount,noatime: $(mount_options)"
touch -a -d "2000-01-01" "$MNT/cold"
echo 1 >/proc/sys/vm/drop_caches   # the read below reaches the daemon
cat "$MNT/cold" >/dev/null
expect_eq "$(stat -c %X "$MNT/cold")" "$(date -d 2000-01-01 +%s)" "atime after a read, noatime"
umount_fs
"$FSCK" -n -v "$DEV" >"$WORK/fsck.out" 2>&1 || fail "pmemfs-fsck after unmount: $(cat "$WORK/fsck.out")"
expect_eq "$(count "$unclean" <"$WORK/fsck.out")" 0 "'$unclean' notes after unmount"

# fstype=fuse (xfstests' FSTYP=fuse): the type is plain fuse, and remounts still find the daemon.
mount_fs fstype=fuse
read -r src _ type _ < <(awk -v m="$MNT" '$2 == m' /proc/mounts)
expect_eq "$src $type" "$DEV fuse" "source and type with fstype=fuse"
expect_eq "$(df --output=fstype "$MNT" | tail -n 1)" fuse "df's type with fstype=fuse"
"$PMEMFS" "$DEV" "$MNT" -o remount,ro >"$WORK/remount.log" 2>&1 ||
  fail "remount,ro with fstype=fuse: $(cat "$WORK/remount.log")"
[[ ",$(mount_options)," == *,ro,* ]] || fail "/proc/mounts after remount,ro with fstype=fuse: $(mount_options)"
umount_fs
pass
