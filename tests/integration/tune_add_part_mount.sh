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
need_tune

# refused_mount TEXT DEVICE [OPTIONS]: the daemon exits non-zero with one line containing TEXT.
refused_mount() {
  local rc=0 opts="mode=$MODE,config=none${3:+,$3}"
  timeout 30 "$PMEMFS" "$2" "$MNT" -f -o "$opts" >"$WORK/out" 2>"$WORK/err" || rc=$?
  is_mounted && fail "pmemfs $2 -o $opts mounted"
  [ "$rc" != 0 ] || fail "pmemfs $2 -o $opts: exit status 0"
  expect_eq "$(grep -vc '^\[' "$WORK/err")" 1 "error lines of pmemfs $2 ($(cat "$WORK/err"))"
  grep -qF -- "$1" "$WORK/err" || fail "pmemfs $2 does not say '$1': $(cat "$WORK/err")"
}

add_part_setup
scratch NEW added 48M
SCRATCH+=("$OLD.before")
umount_fs
cp "$OLD" "$OLD.before"

# After the commit point.
"$TUNE" --add-part "$NEW" "$OLD" >"$WORK/out" 2>&1 || fail "pmemfs-tune --add-part: $(cat "$WORK/out")"
part_joining "$OLD" "$NEW"
refused_mount "pmemfs-tune --add-part" "$OLD"
refused_mount "a read-write mount finishes it" "$OLD,$NEW" ro
DEV="$OLD,$NEW"
mount_fs "writeback_ms=0"
grep -q "finished an interrupted pmemfs-tune --add-part of $NEW" "$LOG" ||
  fail "the mount does not say it finished the add"
expect_grown "$SIZE0" $((40 * 1024 * 1024)) "the mount's finish of the add"
umount_fs
expect_fsck_clean
"$TUNE" -l --json "$DEV" >"$WORK/list" 2>&1 || fail "pmemfs-tune -l: $(cat "$WORK/list")"
grep -q '"changes":\[\]' "$WORK/list" || fail "pmemfs-tune -l still lists a change: $(cat "$WORK/list")"

# Before the commit point: the old part as it was, the new one joining.
cp "$OLD.before" "$OLD"
part_joining "$NEW"
refused_mount "before its commit point: mount $OLD (the device as it was)" "$OLD,$NEW"
DEV=$OLD
mount_fs "writeback_ms=0"
expect_eq "$(df_bytes size)" "$SIZE0" "df size of the old device"
manifest "$MNT" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "the tree of the old device changed"
umount_fs
expect_fsck_clean
pass
