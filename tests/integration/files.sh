#!/usr/bin/env bash
# Regular files: write and read back many sizes (byte-exact, by checksum) through cp, cat and
# dd; overwrite in the middle; sparse files; O_APPEND and O_EXCL; all again after a remount.
source "$(dirname "$0")/lib.sh"
make_device 128M
format
mount_fs

sizes=(0 1 511 4095 4096 4097 65536 100000 1048576 1048577 3145728 5242883)
for s in "${sizes[@]}"; do
  random_file "$WORK/ref.$s" "$s"
  cp "$WORK/ref.$s" "$MNT/f.$s"
  expect_eq "$(stat -c %s "$MNT/f.$s")" "$s" "size of f.$s"
  expect_same "$MNT/f.$s" "$WORK/ref.$s"
  cat "$MNT/f.$s" | cmp - "$WORK/ref.$s" || fail "cat f.$s differs from what was written"
done

# Large sequential writes in 1 MiB requests, read back with small ones.
random_file "$WORK/big" 9M
dd if="$WORK/big" of="$MNT/big" bs=1M status=none
dd if="$MNT/big" bs=4096 status=none | cmp - "$WORK/big" || fail "big read in 4 KiB pieces differs"

# Overwrite in the middle (unaligned), in place.
random_file "$WORK/patch" 10000
dd if="$WORK/patch" of="$MNT/big" bs=1 seek=1234567 conv=notrunc status=none
dd if="$WORK/patch" of="$WORK/big" bs=1 seek=1234567 conv=notrunc status=none
expect_same "$MNT/big" "$WORK/big"
expect_eq "$(stat -c %s "$MNT/big")" $((9 * 1048576)) "size of big after an overwrite"

# Sparse: data at 0, 1 MiB and 7 MiB + 5, the rest holes (which read as zeros).
for f in "$MNT/sparse" "$WORK/sparse"; do
  printf 'head' | dd of="$f" bs=1 conv=notrunc status=none
  head -c 8192 "$WORK/patch" | dd of="$f" bs=1 seek=1048576 conv=notrunc status=none
  printf 'tail' | dd of="$f" bs=1 seek=$((7 * 1048576 + 5)) conv=notrunc status=none
done
expect_same "$MNT/sparse" "$WORK/sparse"
expect_eq "$(stat -c %s "$MNT/sparse")" $((7 * 1048576 + 9)) "size of sparse"
# 4 blocks of data (16 KiB); a little slack for an allocator that rounds up, none for filled holes.
expect_range $(($(stat -c %b "$MNT/sparse") / 2)) 12 32 "KiB allocated to sparse (stat %b / 2)"

# O_APPEND writes at the end whatever the offset; O_EXCL refuses an existing file.
printf 'abc' >"$MNT/app"
expect_eq "$($FSUTIL append "$MNT/app" defg)" 7 "offset after an O_APPEND write"
echo "xyz" >>"$MNT/app"
expect_eq "$(cat "$MNT/app")" "abcdefgxyz" "content after appends"
expect_eq "$($FSUTIL open "$MNT/app" CREAT EXCL WRONLY)" EEXIST "O_CREAT|O_EXCL on an existing file"
expect_eq "$($FSUTIL open "$MNT/new" CREAT EXCL WRONLY)" ok "O_CREAT|O_EXCL on a new file"
expect_eq "$($FSUTIL open "$MNT/missing" RDONLY)" ENOENT "open of a missing file"
printf 'longer content' >"$MNT/trunc"
printf 'short' >"$MNT/trunc"   # O_TRUNC
expect_eq "$(cat "$MNT/trunc")" short "content after O_TRUNC"

# Everything again from the device.
remount
for s in "${sizes[@]}"; do expect_same "$MNT/f.$s" "$WORK/ref.$s"; done
expect_same "$MNT/big" "$WORK/big"
expect_same "$MNT/sparse" "$WORK/sparse"
expect_eq "$(cat "$MNT/app")" "abcdefgxyz" "appended file after remount"
expect_eq "$(cat "$MNT/trunc")" short "truncated file after remount"

# copy mode with a DRAM cache much smaller than the files: write-back under eviction.
if [ "$MODE" = copy ]; then
  remount cache_size=256K
  random_file "$WORK/big2" 7M
  cp "$WORK/big2" "$MNT/big2"
  dd if="$WORK/patch" of="$MNT/big" bs=1 seek=5000000 conv=notrunc status=none
  dd if="$WORK/patch" of="$WORK/big" bs=1 seek=5000000 conv=notrunc status=none
  expect_same "$MNT/big2" "$WORK/big2"
  expect_same "$MNT/big" "$WORK/big"
  remount cache_size=256K
  expect_same "$MNT/big2" "$WORK/big2"
  expect_same "$MNT/big" "$WORK/big"
  for s in "${sizes[@]}"; do expect_same "$MNT/f.$s" "$WORK/ref.$s"; done
fi
pass
