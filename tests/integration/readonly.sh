#!/usr/bin/env bash
# mount -o ro: the tree reads back whole, every change fails with "Read-only file system", the
# device's bytes do not change (not even the mount count); remount,rw makes it writable; a
# device that a crash left needing recovery is refused read-only with a one-line reason,
# untouched, and mounts read-write. An immutable image (chattr +i: it cannot be opened for
# writing) mounts read-only and checks with pmemfs-fsck -n; a read-write mount of it, and a
# remount,rw of its ro mount, are refused with a one-line reason.
source "$(dirname "$0")/lib.sh"
make_device 64M
format
mount_fs
mkdir -p "$MNT/d/sub"
random_file "$WORK/data" 3M
cp "$WORK/data" "$MNT/d/data"
echo small >"$MNT/small"
ln -s d/data "$MNT/link"
ln "$MNT/small" "$MNT/hard"
setfattr -n user.k -v value "$MNT/small"
before=$(manifest "$MNT")
umount_fs
sum() { cat "${PARTS[@]}" | sha256sum | cut -c1-64; }
image=$(sum)

mount_fs ro
read -r _ _ _ opts _ < <(awk -v m="$MNT" '$2 == m' /proc/mounts)
[[ ",$opts," == *,ro,* ]] || fail "/proc/mounts options of a ro mount: $opts"
expect_eq "$(manifest "$MNT")" "$before" "the tree, mounted read-only"
expect_same "$MNT/d/data" "$WORK/data"
expect_eq "$(getfattr --only-values -n user.k "$MNT/small")" value "xattr, mounted read-only"
expect_fail "Read-only file system" sh -c "echo x >>'$MNT/small'"
expect_fail "Read-only file system" touch "$MNT/new"
expect_fail "Read-only file system" mkdir "$MNT/nd"
expect_fail "Read-only file system" rm "$MNT/small"
expect_fail "Read-only file system" mv "$MNT/small" "$MNT/moved"
expect_fail "Read-only file system" chmod 600 "$MNT/small"
expect_fail "Read-only file system" truncate -s 0 "$MNT/d/data"
expect_fail "Read-only file system" setfattr -n user.n -v 1 "$MNT/small"
expect_fail "Read-only file system" ln -s x "$MNT/nl"
[ -e "$MNT/ram" ] && fail "a read-only mount shows the RAM directory"
cat "$MNT"/d/data "$MNT/small" >/dev/null   # reads (no atime writes either)
"$PMEMFS" "$DEV" "$MNT" -o remount,ro,noexec >"$WORK/remount.log" 2>&1 ||
  fail "remount,ro,noexec of a ro mount: $(cat "$WORK/remount.log")"
umount_fs
expect_eq "$(sum)" "$image" "the device's bytes after a read-only mount"
# The daemon says what it did at unmount: nothing (no write back, no clean mark).
said=$(grep "unmounted" "$LOG" | tail -n 1)
[[ "$said" == *"read-only, nothing written"* && "$said" != *"marked clean"* ]] ||
  fail "the unmount of a read-only mount logged: $said"

# A mount that began read-only becomes writable with remount,rw (liveremount.sh: the rest).
mount_fs ro
"$PMEMFS" "$DEV" "$MNT" -o remount,rw >"$WORK/remount.log" 2>&1 ||
  fail "remount,rw of a ro mount: $(cat "$WORK/remount.log")"
[[ ",$(awk -v m="$MNT" '$2 == m {print $4}' /proc/mounts)," == *,rw,* ]] ||
  fail "remount,rw left the mount read-only"
echo more >>"$MNT/small"
# A crash with an unlinked file still open: the next mount has an orphan to free.
exec 7<"$MNT/d/data"
rm "$MNT/d/data"
sync -f "$MNT"
crash_daemon
exec 7<&-
image=$(sum)
expect_fail "unlinked inode(s) and 0 interrupted truncate(s) to finish; a read-write mount finishes them" \
  "$PMEMFS" "$DEV" "$MNT" -f -o "mode=$MODE,config=none,ro"
expect_eq "$(sum)" "$image" "the device's bytes after a refused read-only mount"
mount_fs
expect_eq "$(cat "$MNT/small")" "$(printf 'small\nmore')" "small after recovery"
umount_fs
mount_fs ro
[ -e "$MNT/d/data" ] && fail "the unlinked file is back"
umount_fs

mount_fs ro
before=$(manifest "$MNT")
umount_fs
image=$(sum)
chattr +i "${PARTS[@]}"
expect_fail "cannot open for writing: Operation not permitted (a read-only mount" \
  "$PMEMFS" "$DEV" "$MNT" -f -o "mode=$MODE,config=none"
mount_fs ro
expect_eq "$(manifest "$MNT")" "$before" "the tree of an immutable image, mounted read-only"
expect_fail "opened read-only" "$PMEMFS" "$DEV" "$MNT" -o remount,rw
[[ ",$(awk -v m="$MNT" '$2 == m {print $4}' /proc/mounts)," == *,ro,* ]] ||
  fail "a refused remount,rw of an immutable image changed the mount flags"
umount_fs
expect_fsck_clean "of an immutable image"
grep -q "clean" "$WORK/fsck.out" || fail "pmemfs-fsck -n of an immutable image: $(cat "$WORK/fsck.out")"
chattr -i "${PARTS[@]}"
expect_eq "$(sum)" "$image" "the device's bytes after using it immutable"
pass
