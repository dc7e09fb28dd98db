#!/usr/bin/env bash
# A corrupted primary superblock: the device mounts from the backup copy, with the data intact.
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
