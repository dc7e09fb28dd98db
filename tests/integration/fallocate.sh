#!/usr/bin/env bash
# fallocate: allocate (blocks counted, reads zeros), KEEP_SIZE, PUNCH_HOLE and ZERO_RANGE
# (aligned and not) against a reference copy zeroed with dd; blocks as stat, du and df see them.
source "$(dirname "$0")/lib.sh"
make_device 128M
format
mount_fs

# zero_ref OFFSET LENGTH: what punch/zero do to the reference copy.
zero_ref() { head -c "$2" /dev/zero | dd of="$WORK/ref" bs=1M iflag=fullblock seek="$1" oflag=seek_bytes conv=notrunc status=none; }
kib() { echo $(($(stat -c %b "$1") / 2)); }   # KiB allocated

# Plain allocation: size set, 8 MiB of blocks, zeros.
used=$(used_blocks)
fallocate -l 8M "$MNT/a"
expect_eq "$(stat -c %s "$MNT/a")" 8388608 "size after fallocate -l 8M"
expect_range "$(kib "$MNT/a")" 8192 8448 "KiB allocated after fallocate -l 8M"
expect_range "$(du -k "$MNT/a" | cut -f1)" 8192 8448 "du -k after fallocate -l 8M"
expect_range $(($(used_blocks) - used)) 2048 2200 "df used blocks grown by fallocate -l 8M"
expect_eq "$(tr -d '\0' <"$MNT/a" | wc -c)" 0 "non-zero bytes in an allocated file"

# KEEP_SIZE: blocks past the end, size unchanged; a later write into them reads back.
printf 'abc' >"$MNT/k"
fallocate -n -l 4M "$MNT/k"
expect_eq "$(stat -c %s "$MNT/k")" 3 "size after fallocate --keep-size"
expect_range "$(kib "$MNT/k")" 4096 4352 "KiB allocated after fallocate --keep-size -l 4M"
printf 'xyz' | dd of="$MNT/k" bs=1 seek=2000000 conv=notrunc status=none
expect_eq "$(stat -c %s "$MNT/k")" 2000003 "size after writing into preallocated space"
expect_eq "$(head -c 3 "$MNT/k")$(tail -c 3 "$MNT/k")" abcxyz "content around preallocated space"

# PUNCH_HOLE (always keeps the size): aligned 2 MiB, and an unaligned range inside one block.
random_file "$WORK/ref" 8M
cp "$WORK/ref" "$MNT/p"
sync "$MNT/p"
before=$(kib "$MNT/p")
fallocate -p -o 1M -l 2M "$MNT/p"; zero_ref 1048576 2097152
expect_same "$MNT/p" "$WORK/ref"
expect_eq "$(stat -c %s "$MNT/p")" 8388608 "size after punching a hole"
expect_range $((before - $(kib "$MNT/p"))) 2048 2048 "KiB freed by punching 2 MiB"
fallocate -p -o 5000100 -l 3000 "$MNT/p"; zero_ref 5000100 3000
expect_same "$MNT/p" "$WORK/ref"
fallocate -p -o 7M -l 4M "$MNT/p"; zero_ref 7340032 1048576   # past the end: only up to EOF
expect_same "$MNT/p" "$WORK/ref"
expect_eq "$(stat -c %s "$MNT/p")" 8388608 "size after punching past the end"

# ZERO_RANGE: zeros in place (blocks stay allocated); past the end it grows the file.
fallocate -z -o 4M -l 1M "$MNT/p"; zero_ref 4194304 1048576
fallocate -z -o 123 -l 10000 "$MNT/p"; zero_ref 123 10000
expect_same "$MNT/p" "$WORK/ref"
fallocate -z -o 8M -l 1M "$MNT/p"; zero_ref 8388608 1048576
expect_eq "$(stat -c %s "$MNT/p")" 9437184 "size after zeroing past the end"
expect_same "$MNT/p" "$WORK/ref"

remount
expect_same "$MNT/p" "$WORK/ref"
expect_range "$(kib "$MNT/a")" 8192 8448 "KiB allocated to a after remount"
expect_eq "$(stat -c %s "$MNT/k")" 2000003 "size of k after remount"
expect_range "$(kib "$MNT/k")" 4096 4352 "KiB allocated to k (preallocated) after remount"
pass
