#!/usr/bin/env bash
# A corrupted primary superblock: the device mounts from the backup copy, with the data intact.
# A damaged allocation bitmap: refused read-write (its checksum), readable read-only, repaired by
# pmemfs-fsck -y.
# The store area starts after the part header (4096 bytes into an emulated part file), and the
# primary superblock is its first block.
source "$(dirname "$0")/lib.sh"
make_device 64M
format --label sbtest
mount_fs
random_file "$WORK/ref" 2M
cp "$WORK/ref" "$MNT/data"
mkdir "$MNT/dir"
echo hello >"$MNT/dir/hello"
manifest "$MNT" >"$WORK/before"
umount_fs

# Garbage over bytes 0..511 of the store area.
head -c 512 /dev/urandom | dd of="${PARTS[0]}" bs=512 seek=8 conv=notrunc status=none
mount_fs
manifest "$MNT" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "the tree differs after mounting from the backup superblock"
# Still a working filesystem, and it mounts again.
echo more >"$MNT/more"
remount
expect_eq "$(cat "$MNT/more")" more "a file written after mounting from the backup"
expect_same "$MNT/data" "$WORK/ref"

# A used data block marked free in the allocation bitmap: its checksum catches it. The mount is
# refused with one line naming pmemfs-fsck; a read-only mount reads everything.
manifest "$MNT" >"$WORK/before-bitmap"
umount_fs
python3 - "${PARTS[0]}" <<'PY'
import struct, sys
p = sys.argv[1]
data = bytearray(open(p, 'rb').read())
store = 4096  # the part header of an emulated part file
bitmap_start, = struct.unpack_from('<Q', data, store + 176)
data_start, = struct.unpack_from('<Q', data, store + 192)
bitmap = store + bitmap_start * 4096
b = data_start
while not data[bitmap + b // 8] >> (b % 8) & 1:
    b += 1
data[bitmap + b // 8] &= ~(1 << (b % 8)) & 0xff
open(p, 'r+b').write(data)
print("bitmap bit of block", b, "cleared", file=sys.stderr)
PY
rc=0
"$PMEMFS" "$DEV" "$MNT" -o "mode=$MODE,config=none" 2>"$WORK/err" || rc=$?
is_mounted && fail "a device whose bitmap fails its checksum was mounted read-write"
[ "$rc" -ne 0 ] || fail "pmemfs exited 0 on a device whose bitmap fails its checksum"
expect_eq "$(wc -l <"$WORK/err")" 1 "lines on stderr for a damaged bitmap ($(cat "$WORK/err"))"
expect_eq "$(grep -c 'allocation bitmap block 0 of 1 fails its checksum.*pmemfs-fsck -y' "$WORK/err")" 1 \
  "the reason for refusing a damaged bitmap ($(cat "$WORK/err"))"
mount_fs ro
manifest "$MNT" >"$WORK/readonly"
diff "$WORK/before-bitmap" "$WORK/readonly" >&2 || fail "the tree differs in a read-only mount of a damaged bitmap"
expect_same "$MNT/data" "$WORK/ref"
if command -v "$FSCK" >/dev/null; then
  umount_fs
  rc=0
  "$FSCK" -y "$DEV" >"$WORK/fsck.log" 2>&1 || rc=$?
  expect_eq "$rc" 1 "pmemfs-fsck -y exit status on a damaged bitmap ($(cat "$WORK/fsck.log"))"
  mount_fs
  expect_same "$MNT/data" "$WORK/ref"
  echo after-repair >"$MNT/after-repair"
  expect_same "$MNT/data" "$WORK/ref"
fi

# Both copies bad (the magic zeroed in the whole store area's first block and the backup, found
# by its magic): the mount is refused with one line.
umount_fs
python3 - "${PARTS[0]}" <<'PY'
import sys
p = sys.argv[1]
data = bytearray(open(p, 'rb').read())
n = 0
for off in range(4096, len(data), 4096):
    if data[off:off + 8] == b'PMEMFSSB':
        data[off:off + 8] = b'\0' * 8
        n += 1
open(p, 'r+b').write(data)
print("superblock copies wiped:", n, file=sys.stderr)
PY
rc=0
"$PMEMFS" "$DEV" "$MNT" -o "mode=$MODE,config=none" 2>"$WORK/err" || rc=$?
is_mounted && fail "a device without any valid superblock was mounted"
[ "$rc" -ne 0 ] || fail "pmemfs exited 0 on a device without any valid superblock"
[ "$rc" -lt 128 ] || fail "pmemfs died from signal $((rc - 128)) on a device without any valid superblock"
expect_eq "$(wc -l <"$WORK/err")" 1 "lines on stderr for a device without a valid superblock ($(cat "$WORK/err"))"
pass
