#!/usr/bin/env bash
# truncate: grow (the new range reads as zeros and is a hole), shrink (the prefix is kept),
# shrink then grow (no stale data comes back), to zero, and blocks released; after a remount too.
source "$(dirname "$0")/lib.sh"
make_device 64M
format
mount_fs

random_file "$WORK/ref" 3000000
cp "$WORK/ref" "$MNT/f"
cp "$WORK/ref" "$WORK/f"

# Shrink to an unaligned size, then grow again: the bytes past the cut read as zeros.
truncate -s 1000001 "$MNT/f" "$WORK/f"
expect_eq "$(stat -c %s "$MNT/f")" 1000001 "size after shrinking"
expect_same "$MNT/f" "$WORK/f"
truncate -s 2500000 "$MNT/f" "$WORK/f"
expect_eq "$(stat -c %s "$MNT/f")" 2500000 "size after growing"
expect_same "$MNT/f" "$WORK/f"
expect_eq "$(tail -c 1499999 "$MNT/f" | tr -d '\0' | wc -c)" 0 "non-zero bytes in the regrown range"

# Growing makes a hole: almost nothing is allocated for it.
truncate -s 1G "$MNT/huge"
expect_eq "$(stat -c %s "$MNT/huge")" 1073741824 "size of a 1 GiB truncated file"
expect_range "$(stat -c %b "$MNT/huge")" 0 8 "512-byte blocks of a 1 GiB hole"
expect_eq "$(dd if="$MNT/huge" bs=4096 skip=100000 count=4 status=none | tr -d '\0' | wc -c)" 0 \
  "non-zero bytes read from the hole"
# A file far beyond the device size (sparse): 1 TiB logical size.
truncate -s 1T "$MNT/tera"
printf 'end' | dd of="$MNT/tera" bs=1 seek=$((1024 ** 4 - 3)) conv=notrunc status=none
expect_eq "$(tail -c 3 "$MNT/tera")" end "last bytes of a 1 TiB sparse file"

# Shrinking to zero frees the blocks.
used=$(used_blocks)
random_file "$WORK/ten" 10M
cp "$WORK/ten" "$MNT/ten"
sync "$MNT/ten"
grown=$(used_blocks)
expect_range $((grown - used)) 2400 3000 "4 KiB blocks used by a 10 MiB file (df)"
truncate -s 0 "$MNT/ten"
expect_eq "$(stat -c %s:%b "$MNT/ten")" 0:0 "size and blocks after truncate to 0"
sync "$MNT/ten"
expect_range $(($(used_blocks) - used)) 0 100 "4 KiB blocks still used after truncate to 0 (df)"

# ftruncate through an open descriptor, via the shell's O_TRUNC and via truncate on an open file.
printf 'abcdef' >"$MNT/g"
exec 8<>"$MNT/g"
truncate -s 3 "$MNT/g"
expect_eq "$(cat "$MNT/g")" abc "content after truncate while open"
exec 8>&-

remount
expect_same "$MNT/f" "$WORK/f"
expect_eq "$(stat -c %s "$MNT/huge")" 1073741824 "size of huge after remount"
expect_eq "$(tail -c 3 "$MNT/tera")" end "last bytes of the 1 TiB file after remount"
expect_eq "$(stat -c %s "$MNT/ten")" 0 "size of ten after remount"
expect_eq "$(cat "$MNT/g")" abc "g after remount"
pass
