#!/usr/bin/env bash
# A mount of a device whose pmemfs-tune --add-part was interrupted (fs/mount/add_part_finish.h).
# The crash states are made by hand from a finished add: every part label (both copies) given
# part_joining again, as a crash leaves them after the commit point; the old part as it was
# before the add with the new part's label joining, as before it. After the commit point the
# old part alone and a read-only mount are refused with one line naming the command, and a
# read-write mount of both parts finishes the add (one log line): the bigger size in df, the
# files intact, fsck clean after. Before it, both parts are refused naming both ways out, and
# the old part mounts as it was. (Every persist point: add_part_mount_test, in the simulator.)
source "$(dirname "$0")/lib.sh"
TUNE=${PMEMFS_TUNE:-pmemfs-tune}
command -v "$TUNE" >/dev/null || fail "pmemfs-tune not found (PMEMFS_TUNE)"

# joining PART...: sets part_joining (label byte 180) in both label copies of each part, with
# the label's CRC-32C (byte 252) made again.
joining() {
  python3 - "$@" <<'PY'
import os, struct, sys
def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF
for path in sys.argv[1:]:
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        for off in (0, size // 4096 * 4096 - 4096):
            f.seek(off)
            label = bytearray(f.read(256))
            label[180:184] = struct.pack("<I", 1)
            label[252:256] = struct.pack("<I", crc32c(bytes(label[:252])))
            f.seek(off)
            f.write(label)
PY
}
# refused_mount TEXT DEVICE [OPTIONS]: the daemon exits non-zero with one line containing TEXT.
refused_mount() {
  local rc=0 opts="mode=$MODE,config=none${3:+,$3}"
  timeout 30 "$PMEMFS" "$2" "$MNT" -f -o "$opts" >"$WORK/out" 2>"$WORK/err" || rc=$?
  is_mounted && fail "pmemfs $2 -o $opts mounted"
  [ "$rc" != 0 ] || fail "pmemfs $2 -o $opts: exit status 0"
  expect_eq "$(grep -vc '^\[' "$WORK/err")" 1 "error lines of pmemfs $2 ($(cat "$WORK/err"))"
  grep -qF -- "$1" "$WORK/err" || fail "pmemfs $2 does not say '$1': $(cat "$WORK/err")"
}
df_bytes() { df -B1 --output="$1" "$MNT" | tail -n 1 | tr -d ' '; }

make_device 48M 1
OLD=$DEV
NEW="/dev/shm/pmemfs-it-$TEST-$MODE-$$-added"
SCRATCH+=("$NEW" "$OLD.before")
truncate -s 48M "$NEW"
format
mount_fs "writeback_ms=0"
random_file "$WORK/ref" 6M
cp "$WORK/ref" "$MNT/data"
mkdir -p "$MNT/d/e"
echo hello >"$MNT/d/e/f"
manifest "$MNT" >"$WORK/before"
size0=$(df_bytes size)
umount_fs
cp "$OLD" "$OLD.before"

# After the commit point.
"$TUNE" --add-part "$NEW" "$OLD" >"$WORK/out" 2>&1 || fail "pmemfs-tune --add-part: $(cat "$WORK/out")"
joining "$OLD" "$NEW"
refused_mount "pmemfs-tune --add-part" "$OLD"
refused_mount "a read-write mount finishes it" "$OLD,$NEW" ro
DEV="$OLD,$NEW"
mount_fs "writeback_ms=0"
grep -q "finished an interrupted pmemfs-tune --add-part of $NEW" "$LOG" ||
  fail "the mount does not say it finished the add"
size1=$(df_bytes size)
[ "$size1" -gt $((size0 + 40 * 1024 * 1024)) ] || fail "df size $size1 is not about 48 MiB more than $size0"
manifest "$MNT" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "the tree changed when the mount finished the add"
expect_same "$MNT/data" "$WORK/ref"
umount_fs
"$FSCK" -n "$DEV" >"$WORK/fsck.out" 2>&1 || fail "pmemfs-fsck -n $DEV: $(cat "$WORK/fsck.out")"
"$TUNE" -l --json "$DEV" >"$WORK/list" 2>&1 || fail "pmemfs-tune -l: $(cat "$WORK/list")"
grep -q '"changes":\[\]' "$WORK/list" || fail "pmemfs-tune -l still lists a change: $(cat "$WORK/list")"

# Before the commit point: the old part as it was, the new one joining.
cp "$OLD.before" "$OLD"
joining "$NEW"
refused_mount "before its commit point: mount $OLD (the device as it was)" "$OLD,$NEW"
DEV=$OLD
mount_fs "writeback_ms=0"
expect_eq "$(df_bytes size)" "$size0" "df size of the old device"
manifest "$MNT" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "the tree of the old device changed"
umount_fs
"$FSCK" -n "$DEV" >"$WORK/fsck.out" 2>&1 || fail "pmemfs-fsck -n $DEV: $(cat "$WORK/fsck.out")"
pass
