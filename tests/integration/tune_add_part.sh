#!/usr/bin/env bash
# pmemfs-tune --add-part on a one-part device: refused while mounted and (unmounted) for the
# same file, a part too small, a part of another pmemfs device and a striped device, each with
# one line and every byte as it was (cmp); then the add: fsck clean, the old device string
# refused (a part is missing), the mount of both parts shows the bigger size in df, holds more
# than the old device could, keeps the old files, and fsck is clean after. Then a second add of
# 1 GiB, past what the allocation bitmap maps (its bitmap moves into the new part): the same
# checks, filled beyond the old size.
source "$(dirname "$0")/lib.sh"
need_tune

# refused TEXT FILES -- ARGS...: pmemfs-tune ARGS exits 1 with one line on stderr containing
# TEXT, and FILES are byte for byte as they were.
refused() {
  local text=$1 rc=0 f
  shift
  local files=()
  while [ "$1" != -- ]; do files+=("$1"); shift; done
  shift
  for f in "${files[@]}"; do SCRATCH+=("$f.saved"); cp "$f" "$f.saved"; done
  "$TUNE" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  expect_eq "$rc" 1 "pmemfs-tune $*: exit status"
  expect_eq "$(wc -l <"$WORK/err")" 1 "lines on stderr of pmemfs-tune $* ($(cat "$WORK/err"))"
  grep -q -- "$text" "$WORK/err" || fail "pmemfs-tune $* does not say '$text': $(cat "$WORK/err")"
  for f in "${files[@]}"; do
    cmp -s "$f" "$f.saved" || fail "refused pmemfs-tune $* changed $f"
    rm -f "$f.saved"
  done
}

add_part_setup
scratch NEW added 48M

refused "mounted at $MNT" "${PARTS[0]}" "$NEW" -- --add-part "$NEW" "$DEV"
umount_fs
expect_fsck_clean

# Unmounted refusals.
refused "are the same part" "${PARTS[0]}" -- --add-part "${PARTS[0]}" "$DEV"
scratch SMALL small 512K
refused "too small" "${PARTS[0]}" "$SMALL" -- --add-part "$SMALL" "$DEV"
scratch OTHER other 16M
"$MKPMEMFS" "$OTHER" >/dev/null 2>&1 || fail "mkpmemfs $OTHER"
refused "already belongs to pmemfs device" "${PARTS[0]}" "$OTHER" -- --add-part "$OTHER" "$DEV"
scratch S0 stripe0 8M
scratch S1 stripe1 8M
"$MKPMEMFS" --layout striped "$S0,$S1" >/dev/null 2>&1 || fail "mkpmemfs --layout striped"
scratch S2 stripe2 8M
refused "striped" "$S0" "$S1" "$S2" -- --add-part "$S2" "$S0,$S1"
"$TUNE" --add-part "$NEW" -l "$DEV" >/dev/null 2>&1 && fail "--add-part with -l accepted"
expect_fsck_clean

# The add.
"$TUNE" --add-part "$NEW" "$DEV" >"$WORK/out" 2>&1 || fail "pmemfs-tune --add-part: $(cat "$WORK/out")"
grep -q "2 parts" "$WORK/out" || fail "pmemfs-tune --add-part says: $(cat "$WORK/out")"
PARTS+=("$NEW")
DEV="$OLD,$NEW"
expect_fsck_clean
# The old device string misses a part now.
"$TUNE" -l "$OLD" >/dev/null 2>"$WORK/err" && fail "the old device string still assembles"
grep -q "missing part 1" "$WORK/err" || fail "the old device string: $(cat "$WORK/err")"
# Adding it again: it is part of the device already.
refused "already part 1" "${PARTS[0]}" "$NEW" -- --add-part "$NEW" "$OLD"

mount_fs "writeback_ms=0"
expect_grown "$SIZE0" $((40 * 1024 * 1024)) "--add-part of 48 MiB"
size1=$GROWN
# More than the old device held in all.
random_file "$WORK/big" $((SIZE0 + 8 * 1024 * 1024))
cp "$WORK/big" "$MNT/big" || fail "a file larger than the old device does not fit"
sync
expect_same "$MNT/big" "$WORK/big"
remount "writeback_ms=0"
expect_same "$MNT/big" "$WORK/big"
expect_same "$MNT/data" "$WORK/ref"
manifest "$MNT" >"$WORK/before"
umount_fs
expect_fsck_clean

# A second add, of 1 GiB: the grown store needs more bitmap blocks than it has (one maps
# 128 MiB), so the bitmap moves into the added space.
scratch HUGE huge 1G
"$TUNE" --add-part "$HUGE" "$DEV" >"$WORK/out" 2>&1 || fail "pmemfs-tune --add-part (1 GiB): $(cat "$WORK/out")"
grep -q "3 parts" "$WORK/out" || fail "pmemfs-tune --add-part says: $(cat "$WORK/out")"
PARTS+=("$HUGE")
DEV="$DEV,$HUGE"
expect_fsck_clean
"$TUNE" -l "$DEV" >"$WORK/out" 2>&1 || fail "pmemfs-tune -l: $(cat "$WORK/out")"
grep -q "^Allocation bitmap: *blocks .* inside the data area" "$WORK/out" ||
  fail "pmemfs-tune -l does not place the moved bitmap: $(grep -i bitmap "$WORK/out")"
grep -q "moved_bitmap" "$WORK/out" || fail "pmemfs-tune -l features: $(grep Features "$WORK/out")"
mount_fs "writeback_ms=0"
expect_grown "$size1" $((1000 * 1024 * 1024)) "the second --add-part, of 1 GiB"
# Beyond what the device held before the second add.
random_file "$WORK/big2" $((size1 + 16 * 1024 * 1024))
cp "$WORK/big2" "$MNT/big2" || fail "a file larger than the device before the add does not fit"
sync
expect_same "$MNT/big2" "$WORK/big2"
remount "writeback_ms=0"
expect_same "$MNT/big2" "$WORK/big2"
expect_same "$MNT/big" "$WORK/big"
expect_same "$MNT/data" "$WORK/ref"
umount_fs
expect_fsck_clean
pass
