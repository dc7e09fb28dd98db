#!/usr/bin/env bash
# pmemfs-tune --ram-size and --descriptors on|off on a two-part device: a mounted device is
# refused (one line, every byte as it was); unmounted, the RAM partition shrinks and grows (the
# RAM directory holds what the new size allows: ENOSPC beyond it), the descriptor area goes and
# comes back with its table built from the extents (pmemfs-fsck --descriptors on), refusals
# say what is in the way and change nothing, the files are untouched and pmemfs-fsck -n is
# clean after each change.
source "$(dirname "$0")/lib.sh"
need_tune

make_device 32M 2
format --ram-size 4M
mount_fs "writeback_ms=0"  # no background commit: nothing writes the device while it idles
random_file "$WORK/ref" 3M
cp "$WORK/ref" "$MNT/data"
mkdir -p "$MNT/d/e"
echo hello >"$MNT/d/e/f"
manifest "$MNT" >"$WORK/before"

save_parts() { for p in "${PARTS[@]}"; do SCRATCH+=("$p.saved"); cp "$p" "$p.saved"; done; }
same_parts() {
  for p in "${PARTS[@]}"; do cmp -s "$p" "$p.saved" || fail "$1 wrote $p"; done
  for p in "${PARTS[@]}"; do rm -f "$p.saved"; done
}
# refused TEXT ARGS...: pmemfs-tune ARGS exits 1 with one line on stderr containing TEXT.
refused() {
  local text=$1 rc=0
  shift
  "$TUNE" "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  expect_eq "$rc" 1 "pmemfs-tune $*: exit status"
  expect_eq "$(wc -l <"$WORK/err")" 1 "lines on stderr of pmemfs-tune $* ($(cat "$WORK/err"))"
  grep -q -- "$text" "$WORK/err" || fail "pmemfs-tune $* does not say '$text': $(cat "$WORK/err")"
}
check_clean() {
  "$FSCK" -n "$@" "$DEV" >"$WORK/fsck.out" 2>&1 || fail "pmemfs-fsck -n $*: $(cat "$WORK/fsck.out")"
}
json_field() {
  "$TUNE" -l --json "$DEV" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"
}
same_tree() {
  manifest "$MNT" >"$WORK/after"
  diff "$WORK/before" "$WORK/after" >&2 || fail "the tree changed with $1"
  expect_same "$MNT/data" "$WORK/ref"
}

# Mounted: refused, naming the mount point; nothing written.
save_parts
refused "mounted at $MNT" --ram-size 1M "$DEV"
refused "mounted at $MNT" --descriptors off "$DEV"
same_parts "a refused change of a mounted device"
umount_fs

store=$(json_field 'j["store"]["length"]')
desc=$(json_field 'j["descriptors"]["length"]')
[ "$desc" -gt 0 ] || fail "mkpmemfs reserved no descriptor area"

# The RAM partition: 1 MiB holds 512 KiB but not 2 MiB.
"$TUNE" --ram-size 1M "$DEV" || fail "pmemfs-tune --ram-size 1M"
check_clean
expect_eq "$(json_field 'j["ram"]["length"]')" 1048576 "the RAM partition after --ram-size 1M"
mount_fs
head -c 512K /dev/urandom >"$MNT/ram/half" || fail "512 KiB into a 1 MiB RAM partition"
expect_fail "No space left on device" dd if=/dev/zero of="$MNT/ram/big" bs=1M count=2 conv=fsync status=none
same_tree "--ram-size 1M"
umount_fs

# Too big for the space before the descriptor area: refused, naming it; nothing written.
save_parts
refused "descriptors off frees" --ram-size 8M "$DEV"
refused "ram-size" --ram-size lots "$DEV"
same_parts "a refused --ram-size"

# The descriptor area: off (pages mode needs it: the stored mode goes to direct with it), then
# the freed space to the RAM partition, then on again with a smaller RAM partition.
if [ "$MODE" = pages ]; then
  save_parts
  refused "give --mode copy or --mode direct" --descriptors off "$DEV"
  same_parts "a refused --descriptors off"
  "$TUNE" --descriptors off --mode direct "$DEV" || fail "pmemfs-tune --descriptors off --mode direct"
else
  "$TUNE" --descriptors off "$DEV" || fail "pmemfs-tune --descriptors off"
fi
check_clean
expect_eq "$(json_field 'j["descriptors"]["length"]')" 0 "the descriptor area after --descriptors off"
expect_eq "$(json_field 'j["store"]["length"]')" "$store" "the store area after --descriptors off"
if [ "$MODE" != pages ]; then
  mount_fs
  same_tree "--descriptors off"
  umount_fs
fi
"$TUNE" --ram-size $((3 * 1024 * 1024 + desc)) "$DEV" || fail "pmemfs-tune --ram-size into the freed area"
check_clean
mount_fs "mode=direct"
head -c 3M /dev/urandom >"$MNT/ram/three" || fail "3 MiB into the grown RAM partition"
same_tree "--ram-size 3M + the area"
umount_fs
save_parts
refused "give --ram-size" --descriptors on "$DEV"
same_parts "a refused --descriptors on"
"$TUNE" --descriptors on --ram-size 2M --mode "$MODE" "$DEV" || fail "pmemfs-tune --descriptors on --ram-size 2M"
check_clean
check_clean --descriptors on
expect_eq "$(json_field 'j["descriptors"]["length"]')" "$desc" "the descriptor area after --descriptors on"
expect_eq "$(json_field '"descriptors_current" in j["features"]')" True "the table is current"
mount_fs
same_tree "--descriptors on"
umount_fs
check_clean --descriptors on
pass
