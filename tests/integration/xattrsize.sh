#!/usr/bin/env bash
# Extended attribute values up to 64 KiB (XATTR_SIZE_MAX, as tmpfs and XFS allow): every size
# class read back through the kernel (getfattr and getxattr(2)), 64 KiB + 1 refused with E2BIG,
# long values replaced and removed giving their blocks back, the space of a removed file's
# xattrs free when rm returns, a RAM-directory file with a 64 KiB value, all intact after a
# remount, and pmemfs-fsck clean after the unmount.
source "$(dirname "$0")/lib.sh"
make_device 64M
format
mount_fs

# xattr PATH NAME: the value, written to stdout as raw bytes.
xattr() { python3 -c 'import os, sys; sys.stdout.buffer.write(os.getxattr(sys.argv[1], sys.argv[2]))' "$@"; }
# setx PATH NAME FILE: sets the value to the bytes of FILE; prints the error's strerror if any.
setx() {
  python3 -c '
import os, sys
try: os.setxattr(sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read())
except OSError as e: print(e.strerror)' "$@"
}

touch "$MNT/f"
base=$(used_blocks)
for n in 3761 3762 4096 4097 65536; do
  random_file "$WORK/v$n" "$n"
  expect_eq "$(setx "$MNT/f" "user.v$n" "$WORK/v$n")" "" "setxattr of $n bytes"
  xattr "$MNT/f" "user.v$n" >"$WORK/got"
  expect_same "$WORK/got" "$WORK/v$n"
done
# getfattr reads it too (hex, as it prints binary values).
expect_eq "$(getfattr --absolute-names -e hex -n user.v65536 "$MNT/f" | sed -n 's/^user.v65536=//p')" \
  "0x$(od -An -v -tx1 "$WORK/v65536" | tr -d ' \n')" "getfattr -e hex of the 64 KiB value"
# The kernel refuses more than XATTR_SIZE_MAX before asking the filesystem.
random_file "$WORK/over" 65537
expect_eq "$(setx "$MNT/f" user.over "$WORK/over")" "Argument list too long" "setxattr of 64 KiB + 1"
expect_fail "No such attribute" getfattr -n user.over "$MNT/f"
# Each value has its xattr block, and a value longer than 3761 bytes blocks of its own:
# 1 + (1 + 1) + (1 + 1) + (1 + 2) + (1 + 16).
expect_eq "$(($(used_blocks) - base))" 25 "blocks used by the five values"

# Replacing: long by short gives the value blocks back, short by long takes them again.
printf 'short' >"$WORK/short"
expect_eq "$(setx "$MNT/f" user.v65536 "$WORK/short")" "" "replace 64 KiB by 5 bytes"
expect_eq "$(xattr "$MNT/f" user.v65536)" short "the short value"
expect_eq "$(($(used_blocks) - base))" 9 "blocks after the long value became short"
random_file "$WORK/v2" 65536
expect_eq "$(setx "$MNT/f" user.v65536 "$WORK/v2")" "" "replace 5 bytes by 64 KiB"
setfattr -x user.v4097 "$MNT/f"
expect_eq "$(($(used_blocks) - base))" 22 "blocks after removing the 4097-byte value"

# A removed file's xattrs are free when rm returns.
before_g=$(used_blocks)
touch "$MNT/g"
expect_eq "$(setx "$MNT/g" user.big "$WORK/v65536")" "" "setxattr on g"
expect_eq "$(($(used_blocks) - before_g))" 17 "blocks of g's value"
rm "$MNT/g"
expect_eq "$(used_blocks)" "$before_g" "blocks used after rm of g"

# A RAM-directory file (volatile) takes 64 KiB values too.
echo r >"$MNT/ram/r"
expect_eq "$(setx "$MNT/ram/r" user.big "$WORK/v65536")" "" "setxattr on a RAM file"
xattr "$MNT/ram/r" user.big >"$WORK/got"
expect_same "$WORK/got" "$WORK/v65536"

remount
for n in 3761 3762 4096; do
  xattr "$MNT/f" "user.v$n" >"$WORK/got"
  expect_same "$WORK/got" "$WORK/v$n"
done
xattr "$MNT/f" user.v65536 >"$WORK/got"
expect_same "$WORK/got" "$WORK/v2"
expect_fail "No such attribute" getfattr -n user.v4097 "$MNT/f"
expect_eq "$(getfattr --absolute-names -d "$MNT/f" 2>/dev/null | count '^user\.v')" 4 "names listed after remount"
expect_eq "$(($(used_blocks) - base))" 22 "blocks after remount"

umount_fs
"$FSCK" -n -v "$DEV" >"$WORK/fsck.out" 2>&1 || fail "pmemfs-fsck after unmount: $(cat "$WORK/fsck.out")"
grep -q "(18 value blocks)" "$WORK/fsck.out" ||
  fail "pmemfs-fsck does not count the 18 value blocks: $(cat "$WORK/fsck.out")"
pass
