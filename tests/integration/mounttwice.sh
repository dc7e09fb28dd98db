#!/usr/bin/env bash
# A second mount of a mounted device, as with a block-device filesystem mounted twice: the
# second `pmemfs` finds the daemon that serves the device (by any path to its part), bind-mounts
# its mount at the new place with the per-mount flags given and exits; both show the same files.
# Options the running daemon cannot honour (another mode, ro against rw, ...) are refused with
# one line naming them. The daemon serves until the last of the mounts is gone.
source "$(dirname "$0")/lib.sh"
make_device 64M
format
mount_fs
MNT2=$WORK/mnt2
MNT3=$WORK/mnt3
mkdir "$MNT2" "$MNT3"
EXTRA_MNTS=("$MNT2" "$MNT3")
mounted_at() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/mounts; }
options_of() { awk -v m="$1" '$2 == m {print $4}' /proc/mounts; }

echo one >"$MNT/one"
"$PMEMFS" "$DEV" "$MNT2" -f -o "mode=$MODE,config=none" >"$WORK/second.log" 2>&1 ||
  fail "second mount: $(cat "$WORK/second.log")"
mounted_at "$MNT2" || fail "the second mount is not in /proc/mounts"
read -r src _ type _ < <(awk -v m="$MNT2" '$2 == m' /proc/mounts)
expect_eq "$src $type" "$DEV fuse.pmemfs" "source and type of the second mount"
expect_eq "$(stat -c %d "$MNT2")" "$(stat -c %d "$MNT")" "device number of both mounts"
expect_eq "$(cat "$MNT2/one")" one "a file through the second mount"
echo two >"$MNT2/two"
expect_eq "$(cat "$MNT/two")" two "a file written through the second mount, read through the first"
expect_eq "$(pgrep -c -f "$PMEMFS $DEV" || true)" 1 "pmemfs processes serving the device"

# Conflicting options: refused, nothing mounted.
other=direct; [ "$MODE" = direct ] && other=copy
expect_fail "a second mount cannot have mode=$other (running: mode=$MODE)" \
  "$PMEMFS" "$DEV" "$MNT3" -o "mode=$other"
expect_fail "a second mount cannot have ro (running: rw)" "$PMEMFS" "$DEV" "$MNT3" -o ro
expect_fail "a second mount cannot have ram_dir=tmp (running: ram_dir=ram)" \
  "$PMEMFS" "$DEV" "$MNT3" -o ram_dir=tmp
mounted_at "$MNT3" && fail "a refused second mount left a mount"

# Per-mount flags are this mount's own; another path to the same part finds the daemon too.
ln -s "${PARTS[0]}" "$WORK/link"
"$PMEMFS" "$WORK/link" "$MNT3" -o noexec,nosuid >"$WORK/third.log" 2>&1 ||
  fail "third mount through a symlink: $(cat "$WORK/third.log")"
[[ ",$(options_of "$MNT3")," == *,noexec,* ]] || fail "noexec missing on the third mount: $(options_of "$MNT3")"
[[ ",$(options_of "$MNT")," == *,noexec,* ]] && fail "noexec of the third mount reached the first: $(options_of "$MNT")"
expect_eq "$(cat "$MNT3/two")" two "a file through the third mount"

# Unmounting one mount leaves the others served; the daemon exits with the last.
umount "$MNT2"
expect_eq "$(cat "$MNT/one")" one "the first mount after unmounting the second"
fusermount3 -u "$MNT"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon exited while a mount of it remains"
echo three >"$MNT3/three"
# The first mount point is gone, the device is still served: a mount there binds the third.
"$PMEMFS" "$DEV" "$MNT" -o "mode=$MODE" >"$WORK/again.log" 2>&1 || fail "mount again: $(cat "$WORK/again.log")"
expect_eq "$(cat "$MNT/three")" three "a file through a mount made from the third"
umount "$MNT"
umount "$MNT3"
wait_daemon_exit 30
expect_eq "$DAEMON_RC" 0 "the daemon's exit status after its last mount"
mount_fs
expect_eq "$(cat "$MNT/one") $(cat "$MNT/two") $(cat "$MNT/three")" "one two three" "the files after a remount"
umount_fs
pass
