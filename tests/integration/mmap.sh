#!/usr/bin/env bash
# Shared mmap: writes through a shared mapping plus msync are seen by read(2) at once and are on
# the device after a remount; a file written with write(2) reads the same through a mapping;
# a mapping that grows the file (ftruncate then store).
source "$(dirname "$0")/lib.sh"
make_device 64M
format
mount_fs

random_file "$WORK/ref" 3M
cp "$WORK/ref" "$MNT/f"
# Patch 10000 bytes at an unaligned offset and 1 MiB at a page boundary through the mapping.
random_file "$WORK/p1" 10000
random_file "$WORK/p2" 1M
$FSUTIL mmap-write "$MNT/f" 123457 "$WORK/p1" >/dev/null
$FSUTIL mmap-write "$MNT/f" 2097152 "$WORK/p2" >/dev/null
dd if="$WORK/p1" of="$WORK/ref" bs=1 seek=123457 conv=notrunc status=none
dd if="$WORK/p2" of="$WORK/ref" bs=1M seek=2 conv=notrunc status=none
expect_same "$MNT/f" "$WORK/ref"
# write(2), then read through a mapping.
random_file "$WORK/w" 5000
dd if="$WORK/w" of="$MNT/f" bs=1 seek=777 conv=notrunc status=none
dd if="$WORK/w" of="$WORK/ref" bs=1 seek=777 conv=notrunc status=none
$FSUTIL mmap-read "$MNT/f" 0 3145728 >"$WORK/mapped"
expect_same "$WORK/mapped" "$WORK/ref"
# A new file grown through ftruncate and filled through the mapping.
touch "$MNT/g"
random_file "$WORK/g" 200000
$FSUTIL mmap-write "$MNT/g" 0 "$WORK/g" >/dev/null
expect_eq "$(stat -c %s "$MNT/g")" 200000 "size of a file filled through a mapping"
expect_same "$MNT/g" "$WORK/g"

remount
expect_same "$MNT/f" "$WORK/ref"
expect_same "$MNT/g" "$WORK/g"
# msync is enough: after a kill -9 of the daemon the mapped writes are on the device too.
random_file "$WORK/p3" 8192
$FSUTIL mmap-write "$MNT/g" 4096 "$WORK/p3" >/dev/null
dd if="$WORK/p3" of="$WORK/g" bs=4096 seek=1 conv=notrunc status=none
crash_daemon
mount_fs
expect_same "$MNT/g" "$WORK/g"
pass
