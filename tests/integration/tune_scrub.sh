#!/usr/bin/env bash
# pmemfs-tune --scrub, the executable, end to end, offline (tune_scrub_online.sh: a live mount): a
# directory that is no mount point is refused (one line); an unmounted device with no bad range
# scrubs clean
# (exit 0); then bad ranges go in, some known (the bad-block table, as pmemfs-devinfo
# --inject-bad or the platform adds them) and some not (simulated poison, which only reading can
# find: the hidden --test-poison), in file data and in metadata (inode table, journal, directory
# block, extent block, backup superblock). The scrub finds every one (exit 3), records the new
# ones in the table (-l lists them), and names the file and file offset or the structure each
# hits (--json and text), as pmemfs-fsck does (exit 4). The filesystem then mounts read-only (its
# metadata holds bad ranges: one log line names them) and fails a read of a recorded page with
# EIO; a bad range in the superblock makes the mount fail with one line. Where things are on the device is found from the image itself
# (markers written into the data and a name), not from the code under test.
source "$(dirname "$0")/lib.sh"
need_tune
DEVINFO=${PMEMFS_DEVINFO:-pmemfs-devinfo}

scrub_setup

rc=0
"$TUNE" --scrub "$WORK" >"$WORK/out" 2>"$WORK/err" || rc=$?
expect_eq "$rc" 1 "pmemfs-tune --scrub of a directory that is no mount point: exit status"
expect_eq "$(wc -l <"$WORK/err")" 1 "lines on stderr for a plain directory ($(cat "$WORK/err"))"
umount_fs

rc=0
"$TUNE" --scrub "$DEV" >"$WORK/out" 2>"$WORK/err" || rc=$?
expect_eq "$rc" 0 "pmemfs-tune --scrub of a device without bad ranges: exit status ($(cat "$WORK/err"))"
grep -q "0 bad ranges" "$WORK/out" || fail "clean scrub says: $(cat "$WORK/out")"

scrub_where
log "/a/data pages 3 and 7 at $page3 and $page7, directory block $dirblock, /small's extent block $extblock"

# Known: in the table.
"$DEVINFO" --inject-bad $((page3 + 100)):200 --inject-bad "$dirblock:4096" \
  --inject-bad "$inodes:4096" --inject-bad $((journal + 512)):1024 "$DEV" >/dev/null ||
  fail "pmemfs-devinfo --inject-bad"
# Unknown: poison only a read finds.
rc=0
"$TUNE" --scrub --json --test-poison "$page7:1" --test-poison "$extblock:4096" \
  --test-poison "$backup:4096" "$DEV" >"$WORK/scrub.json" 2>"$WORK/err" || rc=$?
expect_eq "$rc" 3 "pmemfs-tune --scrub with bad ranges: exit status ($(cat "$WORK/err"))"
expect_scrub_report "the scrub" "$WORK/scrub.json" $((3 * 4096)) \
  "$((page3 + 100)):200:0:file /a/data offset $((3 * 4096 + 100)) length 200" \
  "$page7:4096:1:file /a/data offset $((7 * 4096)) length 4096" \
  "$dirblock:4096:0:directory block of /dir" \
  "$extblock:4096:1:extent block of /small" \
  "$((journal + 512)):1024:0:journal" \
  "$inodes:4096:0:inode table (inodes 17-32)" \
  "$backup:4096:1:backup superblock"

# Recorded: -l lists all seven; a second scrub finds nothing new and names the same (text).
"$TUNE" -l --json "$DEV" >"$WORK/l.json" || fail "pmemfs-tune -l"
python3 -c 'import json,sys; sys.exit(len(json.load(open(sys.argv[1]))["bad_ranges"]) != 7)' "$WORK/l.json" ||
  fail "pmemfs-tune -l does not list the 7 bad ranges: $(cat "$WORK/l.json")"
expect_rescrub "a second scrub" "7 bad ranges (0 new)"

# pmemfs-fsck names them the same way.
expect_fsck_bad "file /a/data offset 28672 length 4096" "file /a/data offset 12388 length 200" \
  "metadata: directory block of /dir" "metadata: extent block of /small" "metadata: journal" \
  "metadata: inode table (inodes 17-32)" "metadata: backup superblock"

# Bad ranges in the inode table, the (clean) journal and the backup superblock: the mount falls
# back to read-only, with one log line naming them, and never reads them. The daemon enforces
# the recorded ranges: reading page 7 is EIO, page 0 is fine; a write is refused (EROFS).
mount_fs
grep "mounted read-only: recorded bad ranges in metadata" "$LOG" >"$WORK/ro.log" ||
  fail "no read-only fallback line in the daemon's log"
expect_eq "$(wc -l <"$WORK/ro.log")" 1 "read-only fallback lines in the log"
for what in "backup superblock" "inode table" "journal"; do
  grep -q "$what (bad range" "$WORK/ro.log" || fail "the fallback line does not name the $what: $(cat "$WORK/ro.log")"
done
grep -q " ro[ ,]" <(awk -v m="$MNT" '$2 == m' /proc/mounts) || fail "the kernel mount is not read-only"
expect_page7_bad
ls "$MNT/a" >/dev/null || fail "listing /a on the read-only fallback"
if (echo new >"$MNT/new") 2>"$WORK/w.err"; then fail "a write on the read-only fallback succeeded"; fi
grep -q "Read-only file system" "$WORK/w.err" || fail "the refused write: $(cat "$WORK/w.err")"
rc=0
mount -o remount,rw "$MNT" 2>"$WORK/rw.err" || rc=$?
[ "$rc" != 0 ] || fail "remount,rw of a filesystem with bad metadata succeeded"
umount_fs

# A bad range in the superblock: no mount can avoid it; refused with one line.
"$DEVINFO" --inject-bad 512:8 "$DEV" >/dev/null || fail "pmemfs-devinfo --inject-bad"
rc=0
"$PMEMFS" "$DEV" "$MNT" -f -o "mode=$MODE,config=none" >"$WORK/out" 2>"$WORK/err" || rc=$?
expect_eq "$rc" 1 "mounting with a bad superblock: exit status"
is_mounted && fail "mounted with a bad superblock"
grep -c "superblock" "$WORK/err" >"$WORK/n" || true
expect_eq "$(cat "$WORK/n")" 1 "lines naming the superblock ($(cat "$WORK/err"))"
grep -q "cannot be mounted" "$WORK/err" || fail "the refusal: $(cat "$WORK/err")"
pass
