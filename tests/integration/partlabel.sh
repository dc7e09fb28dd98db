#!/usr/bin/env bash
# The part label (the first 4 KiB of every part) has a backup in the part's last page: with the
# primary zeroed in every part of a populated device, the device mounts from the backups with
# one warning line per part and every file intact; pmemfs-fsck -n reports the damaged labels,
# -y rewrites them, and a second -n is clean; the next mount has nothing to warn about.
source "$(dirname "$0")/lib.sh"
make_device 40M 2
format
mount_fs
mkdir -p "$MNT/d/sub"
random_file "$WORK/big" 20M
cp "$WORK/big" "$MNT/d/big"          # spans both parts
random_file "$MNT/d/sub/small" 5000
echo hello >"$MNT/hello"
ln -s d/big "$MNT/link"
ln "$MNT/hello" "$MNT/hard"
setfattr -n user.k -v value "$MNT/hello"
before=$(manifest "$MNT")
umount_fs

warnings() { grep -c "the part label is damaged; mounted from its backup" "$LOG" || true; }
for p in "${PARTS[@]}"; do dd if=/dev/zero of="$p" bs=4096 count=1 conv=notrunc status=none; done
mount_fs
expect_eq "$(warnings)" 2 "warnings for two parts mounted from their backup labels"
for p in "${PARTS[@]}"; do
  grep -q "$p: the part label is damaged; mounted from its backup at part offset $((40 * 1024 * 1024 - 4096)) (pmemfs-fsck -y rewrites it)" "$LOG" ||
    fail "no warning naming $p"
done
expect_eq "$(manifest "$MNT")" "$before" "the tree, mounted from the backup labels"
expect_same "$MNT/d/big" "$WORK/big"
echo more >>"$MNT/hello"   # still a working filesystem
before=$(manifest "$MNT")
umount_fs

rc=0; "$FSCK" -n "$DEV" >"$WORK/fsck1" 2>&1 || rc=$?
expect_eq "$rc" 4 "pmemfs-fsck -n exit status with damaged part labels ($(cat "$WORK/fsck1"))"
expect_eq "$(grep -c "^label: .*the part label is damaged" "$WORK/fsck1")" 2 "labels reported by -n"
rc=0; "$FSCK" -y "$DEV" >"$WORK/fsck2" 2>&1 || rc=$?
expect_eq "$rc" 1 "pmemfs-fsck -y exit status ($(cat "$WORK/fsck2"))"
expect_eq "$(grep -c "^label: .*\[FIXED\]" "$WORK/fsck2")" 2 "labels fixed by -y"
rc=0; "$FSCK" -n "$DEV" >"$WORK/fsck3" 2>&1 || rc=$?
expect_eq "$rc" 0 "pmemfs-fsck -n after the repair ($(cat "$WORK/fsck3"))"
grep -q "clean" "$WORK/fsck3" || fail "pmemfs-fsck -n after the repair: $(cat "$WORK/fsck3")"

mount_fs
expect_eq "$(warnings)" 2 "warnings after the repair (only the earlier mount's)"
expect_eq "$(manifest "$MNT")" "$before" "the tree after the repair"
umount_fs

# Both copies gone: refused as before, with one line.
dd if=/dev/zero of="${PARTS[1]}" bs=4096 count=1 conv=notrunc status=none
dd if=/dev/zero of="${PARTS[1]}" bs=4096 seek=$((40 * 256 - 1)) count=1 conv=notrunc status=none
expect_fail "${PARTS[1]}: not a pmemfs part (no part label)" \
  "$PMEMFS" "$DEV" "$MNT" -f -o "mode=$MODE,config=none"
pass
