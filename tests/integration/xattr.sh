#!/usr/bin/env bash
# Extended attributes (user., trusted.; set, replace, list, remove, large values, create/replace
# flags) and POSIX ACLs (setfacl/getfacl, the mask and chmod, default ACLs inherited, and access
# enforced for other users); all again after a remount.
source "$(dirname "$0")/lib.sh"
make_device 64M
format
MOUNT_OPTS=allow_other   # ACL enforcement is checked as other users
mount_fs
chmod 755 "$MNT"

getx() { getfattr -h --absolute-names --only-values -n "$1" "$2" 2>&1; }
echo x >"$MNT/f"
mkdir "$MNT/d"
setfattr -n user.color -v blue "$MNT/f"
setfattr -n user.empty "$MNT/f"
setfattr -n trusted.secret -v 42 "$MNT/f"
setfattr -n user.dir -v yes "$MNT/d"
expect_eq "$(getx user.color "$MNT/f")" blue "user.color"
expect_eq "$(getx user.empty "$MNT/f")" "" "an empty value"
expect_eq "$(getx trusted.secret "$MNT/f")" 42 "trusted.secret"
expect_eq "$(getx user.dir "$MNT/d")" yes "an xattr of a directory"
setfattr -n user.color -v green "$MNT/f"
expect_eq "$(getx user.color "$MNT/f")" green "user.color after replacing"
expect_eq "$(getfattr -d -m - --absolute-names "$MNT/f" | grep -v '^#' | grep . | sort | tr '\n' ' ')" \
  'trusted.secret="42" user.color="green" user.empty="" ' "the list of xattrs"
expect_fail "No such attribute" getfattr -n user.nothing "$MNT/f"
setfattr -x user.color "$MNT/f"
expect_fail "No such attribute" getfattr -n user.color "$MNT/f"
expect_fail "No such attribute" setfattr -x user.color "$MNT/f"
# Flags: XATTR_CREATE on an existing name, XATTR_REPLACE on a missing one.
expect_eq "$(python3 -c "
import os
for name, flag in (('user.empty', os.XATTR_CREATE), ('user.missing', os.XATTR_REPLACE)):
    try: os.setxattr('$MNT/f', name, b'v', flag); print('ok')
    except OSError as e: print(e.strerror)")" "$(printf 'File exists\nNo data available')" \
  "XATTR_CREATE on an existing name, XATTR_REPLACE on a missing one"
# user. xattrs are not allowed on symlinks (as on ext4).
ln -s f "$MNT/s"
expect_fail "Operation not permitted" setfattr -h -n user.x -v 1 "$MNT/s"
# A large value (3500 bytes, in its xattr block; longer ones, up to 64 KiB: xattrsize.sh) and
# many names.
head -c 3000 /dev/urandom | base64 -w0 | head -c 3500 >"$WORK/big"
setfattr -n user.big -v "$(cat "$WORK/big")" "$MNT/f"
expect_eq "$(getx user.big "$MNT/f")" "$(cat "$WORK/big")" "a 3500-byte value"
for i in $(seq 100); do setfattr -n "user.n$i" -v "value-$i" "$MNT/d"; done
expect_eq "$(getfattr -d "$MNT/d" 2>/dev/null | count '^user\.n')" 100 "xattrs listed after setting 100"
expect_eq "$(getx user.n77 "$MNT/d")" value-77 "user.n77 of 100"

# ACLs: an entry for another user, the mask as the group class, chmod changing the mask.
echo secret >"$MNT/sec"
chmod 600 "$MNT/sec"
setfacl -m u:1234:r,g:777:r "$MNT/sec"
expect_eq "$(getfacl -cp "$MNT/sec" | grep . | tr '\n' ' ')" \
  "user::rw- user:1234:r-- group::--- group:777:r-- mask::r-- other::--- " "getfacl after setfacl -m"
expect_eq "$(stat -c %a "$MNT/sec")" 640 "mode shows the ACL mask as group bits"
getfattr -m - -d "$MNT/sec" 2>/dev/null | grep -q '^system.posix_acl_access' ||
  fail "system.posix_acl_access is not listed by getfattr -m -"
as() { local uid=$1 gid=$2; shift 2; setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"; }
expect_eq "$(as 1234 1234 cat "$MNT/sec")" secret "read by uid 1234 granted by the ACL"
expect_eq "$(as 1500 777 cat "$MNT/sec")" secret "read by gid 777 granted by the ACL"
expect_fail "Permission denied" as 1235 1235 cat "$MNT/sec"
expect_fail "Permission denied" as 1234 1234 sh -c "echo more >>'$MNT/sec'"
chmod 600 "$MNT/sec"   # the mask becomes ---: the named entries no longer grant anything
expect_fail "Permission denied" as 1234 1234 cat "$MNT/sec"
setfacl -m u:1234:rw,m::rw "$MNT/sec"
as 1234 1234 sh -c "echo more >>'$MNT/sec'"
expect_eq "$(cat "$MNT/sec")" "$(printf 'secret\nmore')" "content after a write granted by the ACL"
# Default ACLs are inherited by new files (access ACL) and new directories (both).
mkdir "$MNT/shared"
setfacl -d -m u:1234:rwx "$MNT/shared"
touch "$MNT/shared/new"
mkdir "$MNT/shared/sub"
getfacl -cp "$MNT/shared/new" | grep -q '^user:1234:rwx' ||
  fail "new file did not inherit the default ACL: $(getfacl -cp "$MNT/shared/new" | tr '\n' ' ')"
getfacl -cpd "$MNT/shared/sub" | grep -q '^user:1234:rwx' ||
  fail "new directory did not inherit the default ACL: $(getfacl -cpd "$MNT/shared/sub" | tr '\n' ' ')"
setfacl -b "$MNT/shared/new"
expect_eq "$(getfacl -cp "$MNT/shared/new" | count '^user:1234')" 0 "named entries after setfacl -b"

getfacl -R -p "$MNT" >"$WORK/acl-before" 2>/dev/null
manifest "$MNT" >"$WORK/before"
remount
manifest "$MNT" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "the tree (with xattrs) differs after remount (diff above)"
getfacl -R -p "$MNT" >"$WORK/acl-after" 2>/dev/null
diff "$WORK/acl-before" "$WORK/acl-after" >&2 || fail "ACLs differ after remount (diff above)"
expect_eq "$(getx user.big "$MNT/f")" "$(cat "$WORK/big")" "the 3500-byte value after remount"
expect_eq "$(as 1234 1234 cat "$MNT/sec")" "$(printf 'secret\nmore')" "read granted by the ACL after remount"
expect_fail "Permission denied" as 1235 1235 cat "$MNT/sec"
pass
