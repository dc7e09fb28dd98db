#!/usr/bin/env bash
# Attributes: chmod (with setuid/setgid/sticky), chown, touch -d with nanoseconds for mtime and
# atime, ctime moving on changes, access(2) as the modes say; all again after a remount.
source "$(dirname "$0")/lib.sh"
make_device 64M
format
mount_fs

echo x >"$MNT/f"
mkdir "$MNT/d"
for m in 0 644 600 755 1777 2755 4711 7777; do
  chmod "$m" "$MNT/f"
  expect_eq "$(stat -c %a "$MNT/f")" "$m" "mode after chmod $m"
done
chmod 1770 "$MNT/d"
expect_eq "$(stat -c %A "$MNT/d")" "drwxrwx--T" "mode string of d after chmod 1770"

chown 1234:5678 "$MNT/f"
expect_eq "$(stat -c %u:%g "$MNT/f")" 1234:5678 "owner after chown"
chown :4321 "$MNT/d"
expect_eq "$(stat -c %u:%g "$MNT/d")" 0:4321 "owner after chgrp"
ln -s f "$MNT/s"
chown -h 42:43 "$MNT/s"
expect_eq "$(stat -c %u:%g "$MNT/s")" 42:43 "owner of a symlink after chown -h"
expect_eq "$(stat -c %u:%g "$MNT/f")" 1234:5678 "owner of the symlink's target after chown -h"

# A new file belongs to the caller.
setpriv --reuid=1234 --regid=5678 --clear-groups true 2>/dev/null ||
  fail "setpriv cannot switch to uid 1234"
chmod 1777 "$MNT/d"
chmod 755 "$MNT"
MOUNT_OPTS=allow_other remount   # let other users into the mount
setpriv --reuid=1234 --regid=5678 --clear-groups sh -c "echo mine >'$MNT/d/mine'"
expect_eq "$(stat -c %u:%g "$MNT/d/mine")" 1234:5678 "owner of a file created by uid 1234"
# The sticky bit: another user may not remove it; its owner may.
expect_fail "Operation not permitted" setpriv --reuid=999 --regid=999 --clear-groups rm -f "$MNT/d/mine"
setpriv --reuid=1234 --regid=5678 --clear-groups rm "$MNT/d/mine"
# Mode bits decide access for a user who is not root.
echo secret >"$MNT/secret"
chmod 600 "$MNT/secret"
expect_fail "Permission denied" setpriv --reuid=1234 --regid=5678 --clear-groups cat "$MNT/secret"
chmod 604 "$MNT/secret"
expect_eq "$(setpriv --reuid=1234 --regid=5678 --clear-groups cat "$MNT/secret")" secret "read of a 604 file by another user"
expect_fail "Permission denied" setpriv --reuid=1234 --regid=5678 --clear-groups sh -c "echo y >>'$MNT/secret'"

# setgid directories pass their group (and, to subdirectories, the bit) on.
mkdir "$MNT/sg"
chown :4321 "$MNT/sg"
chmod 2777 "$MNT/sg"
setpriv --reuid=1234 --regid=5678 --clear-groups sh -c "touch '$MNT/sg/f' && mkdir '$MNT/sg/sub'"
expect_eq "$(stat -c %u:%g "$MNT/sg/f")" 1234:4321 "owner of a file created in a setgid directory"
expect_eq "$(stat -c %u:%g:%A "$MNT/sg/sub")" 1234:4321:drwxr-sr-x "owner and mode of a directory created in a setgid directory"
# A write by another user clears setuid and setgid; chown clears them too.
echo x >"$MNT/suid"
chmod 6777 "$MNT/suid"
setpriv --reuid=1234 --regid=5678 --clear-groups sh -c "echo y >>'$MNT/suid'"
expect_eq "$(stat -c %a "$MNT/suid")" 777 "mode after a write by a user who is not the owner (was 6777)"
chmod 6755 "$MNT/suid"
chown 7:7 "$MNT/suid"
expect_eq "$(stat -c %a "$MNT/suid")" 755 "mode after chown (was 6755)"

# Timestamps with nanoseconds.
touch -m -d "2001-02-03 04:05:06.123456789" "$MNT/f"
touch -a -d "1999-12-31 23:59:58.987654321" "$MNT/f"
expect_eq "$(stat -c %y "$MNT/f")" "2001-02-03 04:05:06.123456789 +0000" "mtime after touch -m -d"
expect_eq "$(stat -c %x "$MNT/f")" "1999-12-31 23:59:58.987654321 +0000" "atime after touch -a -d"
touch -d "2030-01-01 00:00:00.000000001" "$MNT/d"
expect_eq "$(stat -c %y "$MNT/d")" "2030-01-01 00:00:00.000000001 +0000" "mtime of a directory after touch -d"
touch -h -d "2002-02-02 02:02:02.5" "$MNT/s"
expect_eq "$(stat -c %y "$MNT/s")" "2002-02-02 02:02:02.500000000 +0000" "mtime of a symlink after touch -h"
# ctime moves on chmod; mtime and ctime move on write; mtime of a directory on create.
c0=$(stat -c %Z.%z "$MNT/f"); sleep 0.05
chmod 640 "$MNT/f"
expect_ne "$(stat -c %Z.%z "$MNT/f")" "$c0" "ctime after chmod"
expect_eq "$(stat -c %y "$MNT/f")" "2001-02-03 04:05:06.123456789 +0000" "mtime after chmod"
now=$(date +%s)
echo more >>"$MNT/f"
expect_range "$(stat -c %Y "$MNT/f")" $((now - 2)) $((now + 2)) "mtime (seconds) after a write"
touch "$MNT/d/new"
expect_range "$(stat -c %Y "$MNT/d")" $((now - 2)) $((now + 2)) "mtime of d after a create in it"

touch -m -d "2001-02-03 04:05:06.123456789" "$MNT/f"
manifest "$MNT" >"$WORK/before"
stat -c '%n %a %u %g a=%x m=%y c=%z' "$MNT/f" "$MNT/secret" >"$WORK/stat-before"
remount
stat -c '%n %a %u %g a=%x m=%y c=%z' "$MNT/f" "$MNT/secret" >"$WORK/stat-after"
diff "$WORK/stat-before" "$WORK/stat-after" >&2 || fail "attributes differ after remount (diff above)"
manifest "$MNT" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "the tree differs after remount (diff above)"

pass
