#!/usr/bin/env bash
# chattr attributes through the FUSE ioctls (chattr/lsattr of e2fsprogs, and FS_IOC_FSGETXATTR):
# immutable and append-only enforced for root too, noatime, sync and nodump kept; only root
# changes immutable; everything survives a remount. The filesystem label through
# FS_IOC_GETFSLABEL/SETFSLABEL (root only, persistent).
source "$(dirname "$0")/lib.sh"
for tool in chattr lsattr; do
  command -v "$tool" >/dev/null || fail "$tool is missing (Debian package e2fsprogs)"
done
MOUNT_OPTS=allow_other   # who may change what is checked as another user too
make_device 64M
format --label first
mount_fs

# attrs PATH: lsattr's letters of PATH without the dashes ("ia": immutable, append-only).
attrs() { lsattr -d "$1" | cut -d' ' -f1 | tr -d -; }

# Immutable: nothing changes, not even as root; reads work.
echo data >"$MNT/frozen"
setfattr -n user.k -v v "$MNT/frozen"
chattr +i "$MNT/frozen"
expect_eq "$(attrs "$MNT/frozen")" i "lsattr of an immutable file"
expect_fail "Operation not permitted" sh -c "echo more >>'$MNT/frozen'"
expect_fail "Operation not permitted" sh -c "echo new >'$MNT/frozen'"
expect_fail "Operation not permitted" truncate -s 0 "$MNT/frozen"
expect_fail "Operation not permitted" rm -f "$MNT/frozen"
expect_fail "Operation not permitted" mv "$MNT/frozen" "$MNT/moved"
expect_fail "Operation not permitted" ln "$MNT/frozen" "$MNT/link"
expect_fail "Operation not permitted" chmod 600 "$MNT/frozen"
expect_fail "Operation not permitted" chown 1234 "$MNT/frozen"
expect_fail "Operation not permitted" touch "$MNT/frozen"
expect_fail "Operation not permitted" setfattr -n user.k -v w "$MNT/frozen"
expect_fail "Operation not permitted" setfattr -x user.k "$MNT/frozen"
expect_eq "$(cat "$MNT/frozen")" data "an immutable file reads"
echo other >"$MNT/other"
expect_fail "Operation not permitted" mv "$MNT/other" "$MNT/frozen"

# An immutable directory: no names come or go.
mkdir "$MNT/dir"
echo x >"$MNT/dir/in"
chattr +i "$MNT/dir"
expect_eq "$(attrs "$MNT/dir")" i "lsattr -d of an immutable directory"
expect_fail "Operation not permitted" touch "$MNT/dir/new"
expect_fail "Operation not permitted" rm "$MNT/dir/in"
expect_fail "Operation not permitted" mkdir "$MNT/dir/sub"
chattr -i "$MNT/dir"
touch "$MNT/dir/new"

# Append-only: appends only.
printf 'one\n' >"$MNT/log"
chattr +a "$MNT/log"
expect_eq "$(attrs "$MNT/log")" a "lsattr of an append-only file"
printf 'two\n' >>"$MNT/log"
expect_eq "$(cat "$MNT/log")" "$(printf 'one\ntwo')" "an append-only file after an append"
expect_fail "Operation not permitted" sh -c "echo over >'$MNT/log'"
expect_fail "Operation not permitted" truncate -s 0 "$MNT/log"
expect_fail "Operation not permitted" rm -f "$MNT/log"
expect_fail "Operation not permitted" mv "$MNT/log" "$MNT/log2"
expect_eq "$($FSUTIL open "$MNT/log" O_WRONLY)" EPERM "open O_WRONLY without O_APPEND"

# Only root sets or clears immutable and append-only; the owner may set nodump.
chmod 777 "$MNT/dir"
setpriv --reuid=1234 --regid=1234 --clear-groups sh -c "echo mine >'$MNT/dir/mine'"
expect_fail "Operation not permitted" setpriv --reuid=1234 --regid=1234 --clear-groups chattr +i "$MNT/dir/mine"
expect_fail "Operation not permitted" setpriv --reuid=1234 --regid=1234 --clear-groups chattr -a "$MNT/log"
setpriv --reuid=1234 --regid=1234 --clear-groups chattr +d "$MNT/dir/mine"
expect_eq "$(attrs "$MNT/dir/mine")" d "lsattr after the owner's chattr +d"

# noatime: a read leaves atime alone (each read below starts with the kernel cache empty).
echo data >"$MNT/quiet"
chattr +A "$MNT/quiet"
touch -a -d 2000-01-01 "$MNT/quiet"
sync; echo 1 >/proc/sys/vm/drop_caches
cat "$MNT/quiet" >/dev/null
expect_eq "$(stat -c %X "$MNT/quiet")" 946684800 "atime of a noatime file after a read"

# sync and nodump are kept; FS_IOC_FSGETXATTR/FSSETXATTR speak the same attributes
# (FS_XFLAG_SYNC 0x20, IMMUTABLE 0x8, APPEND 0x10, NOATIME 0x40, NODUMP 0x80).
echo s >"$MNT/synced"
chattr +Sd "$MNT/synced"
expect_eq "$(attrs "$MNT/synced")" Sd "lsattr after chattr +Sd"
expect_eq "$($FSUTIL xflags "$MNT/synced")" a0 "fsx_xflags of a sync, nodump file"
expect_eq "$($FSUTIL xflags "$MNT/synced" 48)" ok "FS_IOC_FSSETXATTR of noatime and immutable"
expect_eq "$(attrs "$MNT/synced")" iA "lsattr after FS_IOC_FSSETXATTR"
chattr -i "$MNT/synced"

remount
expect_eq "$(attrs "$MNT/frozen")" i "lsattr of the immutable file after a remount"
expect_eq "$(attrs "$MNT/log")" a "lsattr of the append-only file after a remount"
expect_eq "$(attrs "$MNT/synced")" A "lsattr of synced after a remount"
expect_fail "Operation not permitted" rm -f "$MNT/frozen"
chattr -i "$MNT/frozen"
chattr -a "$MNT/log"
rm "$MNT/frozen" "$MNT/log"

# The label: what mkpmemfs --label wrote; root may change it, and it persists.
expect_eq "$($FSUTIL label "$MNT")" first "FS_IOC_GETFSLABEL after mkpmemfs --label first"
# (the system's python3: root's may live where other users cannot run it)
expect_eq "$(setpriv --reuid=1234 --regid=1234 --clear-groups /usr/bin/python3 "$HERE/fsutil.py" \
  label "$MNT" mine)" EPERM "FS_IOC_SETFSLABEL by a user"
expect_eq "$($FSUTIL label "$MNT" "$(printf '%064d' 0)")" EINVAL "FS_IOC_SETFSLABEL of 64 bytes"
expect_eq "$($FSUTIL label "$MNT/dir/new" second)" ok "FS_IOC_SETFSLABEL on a file's descriptor"
expect_eq "$($FSUTIL label "$MNT")" second "FS_IOC_GETFSLABEL after a change"
remount
expect_eq "$($FSUTIL label "$MNT")" second "FS_IOC_GETFSLABEL after a remount"
pass
