#!/usr/bin/env bash
# pmemfs-tune offline: a mounted device is refused (one line, nothing changed); once unmounted,
# -L, -U and --mode change the filesystem as the daemon and the other tools see it (the label
# through FS_IOC_GETFSLABEL, the uuid in pmemfs-devinfo and in a pmemfs.conf section that
# matches it, the stored mode at a mount without mode=), the data is untouched and
# pmemfs-fsck -n is clean after each. Two parts here, so the uuid reaches two labels.
source "$(dirname "$0")/lib.sh"
need_tune
DEVINFO=${PMEMFS_DEVINFO:-pmemfs-devinfo}

make_device 48M 2
format --label before
mount_fs
random_file "$WORK/ref" 3M
cp "$WORK/ref" "$MNT/data"
mkdir -p "$MNT/d/e"
echo hello >"$MNT/d/e/f"
ln -s d/e/f "$MNT/link"
setfattr -n user.k -v value "$MNT/d"
manifest "$MNT" >"$WORK/before"
cp "${PARTS[0]}" "$WORK/part0.saved"

# Mounted: an offline-only change is refused, naming the mount point; nothing written.
rc=0
"$TUNE" -U random "$DEV" >"$WORK/out" 2>"$WORK/err" || rc=$?
expect_eq "$rc" 1 "pmemfs-tune -U of a mounted device: exit status"
expect_eq "$(wc -l <"$WORK/err")" 1 "lines on stderr for a mounted device ($(cat "$WORK/err"))"
grep -q "mounted at $MNT" "$WORK/err" || fail "the refusal does not name the mount point: $(cat "$WORK/err")"
expect_eq "$($FSUTIL label "$MNT")" before "the label after a refused change"
umount_fs

# The label.
"$TUNE" -L after "$DEV" || fail "pmemfs-tune -L"
expect_fsck_clean "after -L"
mount_fs
expect_eq "$($FSUTIL label "$MNT")" after "FS_IOC_GETFSLABEL after pmemfs-tune -L"
manifest "$MNT" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "the tree changed with the label"
umount_fs

# The uuid: pmemfs-devinfo shows it, and a config section naming it applies to the device.
uuid=7d444840-9dc0-11d1-b245-5ffdce74fad2
"$TUNE" -U "$uuid" "$DEV" || fail "pmemfs-tune -U"
expect_fsck_clean "after -U"
"$DEVINFO" --json "$DEV" | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["uuid"] != sys.argv[1])' "$uuid" ||
  fail "pmemfs-devinfo does not show the new uuid"
next_mode() { case $1 in copy) echo direct ;; direct) echo pages ;; pages) echo copy ;; esac; }
other=$(next_mode "$MODE")
cat >"$WORK/pmemfs.conf" <<EOF
[[device]]
uuid = "$uuid"
mode = "$other"
EOF
"$PMEMFS" "$DEV" "$MNT" -f -o "config=$WORK/pmemfs.conf" >>"$LOG" 2>&1 &
DAEMON_PID=$!
echo "$DAEMON_PID" >"$WORK/daemon.pid"
for _ in $(seq 200); do is_mounted && break; sleep 0.1; done
is_mounted || fail "no mount with a config section naming the new uuid"
grep -q "mode $other (from " "$LOG" || fail "the config section of the new uuid did not choose mode $other: $(grep mode "$LOG" | tail -1)"
expect_same "$MNT/data" "$WORK/ref"
umount_fs

# The stored mode: a mount without mode= (and no config) uses it.
stored=$(next_mode "$other")
"$TUNE" --mode "$stored" "$DEV" || fail "pmemfs-tune --mode $stored"
expect_fsck_clean "after --mode"
"$TUNE" -l "$DEV" >"$WORK/list" || fail "pmemfs-tune -l"
grep -q "^Default mode: *$stored" "$WORK/list" || fail "-l does not show mode $stored: $(cat "$WORK/list")"
grep -q "^UUID: *$uuid" "$WORK/list" || fail "-l does not show the uuid"
grep -q "^Label: *'after'" "$WORK/list" || fail "-l does not show the label"
grep -q "^State: *clean" "$WORK/list" || fail "-l does not show a clean state"
"$PMEMFS" "$DEV" "$MNT" -f -o config=none >>"$LOG" 2>&1 &
DAEMON_PID=$!
echo "$DAEMON_PID" >"$WORK/daemon.pid"
for _ in $(seq 200); do is_mounted && break; sleep 0.1; done
is_mounted || fail "no mount without mode="
grep -q "mode $stored (from superblock)" "$LOG" || fail "the stored mode $stored was not used: $(grep mode "$LOG" | tail -1)"
manifest "$MNT" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "the tree changed with the mode"
umount_fs

# A stale mount (its daemon killed, the mount left behind): a change is refused, naming the
# mount and how to take it down, and nothing is written; -l still reads the device.
mount_fs
kill_daemon
is_mounted || fail "the dead daemon's mount left /proc/mounts by itself"
sum() { cat "${PARTS[@]}" | sha256sum | cut -c1-64; }
image=$(sum)
for change in "--mode $other" "-U random" "-L stale"; do
  rc=0
  # shellcheck disable=SC2086 # an option and its value
  "$TUNE" $change "$DEV" >"$WORK/out" 2>"$WORK/err" || rc=$?
  expect_eq "$rc" 1 "pmemfs-tune $change of a stale mount: exit status"
  expect_eq "$(wc -l <"$WORK/err")" 1 "lines on stderr for a stale mount ($(cat "$WORK/err"))"
  grep -qF "fusermount3 -u $MNT" "$WORK/err" ||
    fail "the refusal of $change does not say how to take the stale mount down: $(cat "$WORK/err")"
  expect_eq "$(sum)" "$image" "the device's bytes after pmemfs-tune $change of a stale mount"
done
"$TUNE" -l "$DEV" >"$WORK/list" || fail "pmemfs-tune -l of a stale mount's device"
grep -q "^Default mode: *$stored" "$WORK/list" || fail "-l of a stale mount: $(cat "$WORK/list")"
fusermount3 -u "$MNT"
is_mounted && fail "the stale mount is still there after fusermount3 -u"
"$TUNE" -L after "$DEV" >/dev/null || fail "pmemfs-tune -L once the stale mount is gone"

# A refused change leaves every byte as it was.
cp "${PARTS[0]}" "$WORK/part0.saved"
rc=0
"$TUNE" -L "$(printf 'x%.0s' $(seq 70))" "$DEV" 2>"$WORK/err" || rc=$?
expect_eq "$rc" 1 "a label of 70 bytes: exit status"
cmp -s "${PARTS[0]}" "$WORK/part0.saved" || fail "a refused change wrote the device"
pass
