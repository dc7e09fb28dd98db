#!/usr/bin/env bash
# A full device: writing fails with ENOSPC (on write or at the latest on fsync), what was written
# before stays intact, removing files makes room for new data, running out of inodes is ENOSPC
# too, and the filesystem unmounts and mounts clean afterwards.
source "$(dirname "$0")/lib.sh"
make_device 32M
format --inodes 100
mount_fs

random_file "$WORK/keep" 1M
cp "$WORK/keep" "$MNT/keep"
expect_fail "No space left on device" dd if=/dev/urandom of="$MNT/fill" bs=1M count=64 conv=fsync status=none
filled=$(stat -c %s "$MNT/fill")   # checked at the end, so that the rest is checked as well
log "fill stopped at $filled bytes"
expect_range "$(df -B4096 --output=avail "$MNT" | tail -n 1)" 0 64 "df available blocks when full"
expect_fail "No space left on device" dd if=/dev/zero of="$MNT/more" bs=64K count=4 conv=fsync status=none
expect_same "$MNT/keep" "$WORK/keep"
# Full, yet metadata-only operations that need no new blocks still work.
mv "$MNT/keep" "$MNT/kept"
chmod 600 "$MNT/kept"

# Room again after removing the filler.
rm -f "$MNT/fill" "$MNT/more"
settle_range 2048 $((1 << 40)) "df available blocks after removing the filler" \
  sh -c "df -B4096 --output=avail '$MNT' | tail -n 1"
random_file "$WORK/new" 4M
cp "$WORK/new" "$MNT/new"
sync "$MNT/new"
expect_same "$MNT/new" "$WORK/new"

# Out of inodes: creating files stops with ENOSPC, and works again after removing some.
mkdir "$MNT/many"
n=0
while touch "$MNT/many/f$n" 2>"$WORK/touch.err"; do
  n=$((n + 1))
  [ "$n" -le 200 ] || fail "created 200 files on a filesystem formatted with --inodes 100"
done
grep -q "No space left on device" "$WORK/touch.err" || fail "creating file $n failed, but not with ENOSPC: $(cat "$WORK/touch.err")"
expect_range "$n" 90 100 "files created before running out of inodes (--inodes 100)"
expect_eq "$(stat -f -c %d "$MNT")" 0 "free inodes reported when out of inodes"
expect_fail "No space left on device" mkdir "$MNT/many/dir"
rm "$MNT/many/f1" "$MNT/many/f2"
settle_range 2 2 "free inodes after removing 2 files" free_inodes
touch "$MNT/many/again"
mkdir "$MNT/many/dir"

remount
expect_same "$MNT/new" "$WORK/new"
expect_same "$MNT/kept" "$WORK/keep"
expect_eq "$(stat -c %a "$MNT/kept")" 600 "mode of kept after remount"
expect_eq "$(ls "$MNT/many" | wc -l)" "$n" "entries in many/ after remount"
rm -r "$MNT/many"
cp "$WORK/keep" "$MNT/again"
remount
expect_same "$MNT/again" "$WORK/keep"
# No file claims more data than the device holds (what write() accepted and fsync refused is
# not reported as the file's size).
expect_range "$filled" 1 $((32 * 1048576)) "size (stat) of the file that filled the 32 MiB device, after dd failed"
pass
