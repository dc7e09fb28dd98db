#!/usr/bin/env bash
# copy_file_range clones: in every mode the copy is exact and independent; in pages mode it
# shares the pages (df used blocks barely move) and a write to either file copies only the
# pages written (copy-on-write), leaving the other file as it was; after a remount too.
source "$(dirname "$0")/lib.sh"
make_device 256M
format
mount_fs

random_file "$WORK/a" 32M
cp "$WORK/a" "$MNT/a"
sync -f "$MNT"
before=$(used_blocks)
expect_eq "$($FSUTIL clone "$MNT/a" "$MNT/b")" 33554432 "bytes copied by copy_file_range"
sync -f "$MNT"
grown=$(($(used_blocks) - before))
expect_same "$MNT/b" "$WORK/a"
if [ "$MODE" = pages ]; then
  expect_range "$grown" 0 256 "df used blocks grown by cloning 32 MiB (8192 blocks if not shared)"
else
  expect_range "$grown" 8192 8500 "df used blocks grown by copying 32 MiB"
fi

# Diverge: 4 KiB into b, 1 byte into a; each sees only its own write.
cp "$WORK/a" "$WORK/b"
random_file "$WORK/patch" 4096
dd if="$WORK/patch" of="$MNT/b" bs=4096 seek=100 conv=notrunc status=none
dd if="$WORK/patch" of="$WORK/b" bs=4096 seek=100 conv=notrunc status=none
printf Z | dd of="$MNT/a" bs=1 seek=20000000 conv=notrunc status=none
printf Z | dd of="$WORK/a" bs=1 seek=20000000 conv=notrunc status=none
expect_same "$MNT/a" "$WORK/a"
expect_same "$MNT/b" "$WORK/b"
sync -f "$MNT"
if [ "$MODE" = pages ]; then
  expect_range $(($(used_blocks) - before)) 1 300 "df used blocks after writing a page of each clone"
fi
# Appending to and truncating the clone leaves the original alone.
head -c 100000 /dev/urandom >>"$MNT/b"
truncate -s 1M "$MNT/b"
head -c 1M "$WORK/b" >"$WORK/b1" && mv "$WORK/b1" "$WORK/b"
expect_same "$MNT/b" "$WORK/b"
expect_same "$MNT/a" "$WORK/a"
# A partial clone into the middle of an existing file.
python3 -c "
import os
s = os.open('$MNT/a', os.O_RDONLY); d = os.open('$MNT/b', os.O_WRONLY)
assert os.copy_file_range(s, d, 3 * 4096, 8 * 4096, 4096) == 3 * 4096
"
dd if="$WORK/a" of="$WORK/b" bs=4096 skip=8 seek=1 count=3 conv=notrunc status=none
expect_same "$MNT/b" "$WORK/b"

remount
expect_same "$MNT/a" "$WORK/a"
expect_same "$MNT/b" "$WORK/b"
# The original outlives the clone and the clone the original.
rm "$MNT/a"
expect_same "$MNT/b" "$WORK/b"
$FSUTIL clone "$MNT/b" "$MNT/c" >/dev/null
rm "$MNT/b"
remount
expect_same "$MNT/c" "$WORK/b"
pass
