#!/usr/bin/env bash
# A device of two parts, striped: data spread over both parts reads back after a remount; the
# parts given in the wrong order, or one of them alone, are refused with one line.
source "$(dirname "$0")/lib.sh"
make_device 64M 2
format --layout striped
mount_fs
for s in 1 4097 3000000 20000000; do
  random_file "$WORK/f$s" "$s"
  cp "$WORK/f$s" "$MNT/f$s"
done
random_file "$WORK/patch" 5000000
dd if="$WORK/patch" of="$MNT/f20000000" bs=1M seek=1 oflag=seek_bytes conv=notrunc status=none
dd if="$WORK/patch" of="$WORK/f20000000" bs=1M seek=1 oflag=seek_bytes conv=notrunc status=none
remount
for s in 1 4097 3000000 20000000; do expect_same "$MNT/f$s" "$WORK/f$s"; done
umount_fs

for dev in "${PARTS[1]},${PARTS[0]}" "${PARTS[0]}"; do
  rc=0
  timeout 30 "$PMEMFS" "$dev" "$MNT" -o "mode=$MODE,config=none" 2>"$WORK/err" || rc=$?
  is_mounted && fail "device $dev was mounted, expected a refusal"
  [ "$rc" -ne 0 ] && [ "$rc" -lt 124 ] || fail "device $dev: status $rc, expected a refusal"
  expect_eq "$(wc -l <"$WORK/err")" 1 "lines on stderr for device $dev ($(cat "$WORK/err"))"
done
mount_fs
expect_same "$MNT/f20000000" "$WORK/f20000000"
pass
