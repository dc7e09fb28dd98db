#!/usr/bin/env bash
# pmemfs-tune --scrub on a live mount, through its daemon: bad ranges the daemon has never seen
# (simulated poison made in the daemon itself: the hidden --test-poison, which a daemon started
# with PMEMFS_TEST_POISON=1 accepts) in file data and in metadata (an inode-table page, a
# directory block, an extent block) are all found while a writer keeps using the mount; the
# report names the file and file offset or the structure each hits (--json and text, given the
# mount point or the device); the pages are recorded (a read of one is EIO at once, the tables
# list them after unmount, pmemfs-fsck names them); the mount stays usable and unmounts cleanly.
# A user who is neither root nor the mount's owner is refused with one line; a read-only mount
# reports what it finds and records nothing (exit 1). Where things are on the device is found
# from the image itself (markers in the data and a name), not from the code under test.
source "$(dirname "$0")/lib.sh"
need_tune
export PMEMFS_TEST_POISON=1   # the daemons this test starts accept --test-poison

scrub_setup work
umount_fs

scrub_where
log "/a/data pages 7, 40, 50 at $page7 $page40 $page50; /dir's block $dirblock; /small's extent block $extblock"
[ $((page41 - page40)) = 4096 ] || log "pages 40 and 41 of /a/data are not adjacent on the device"

mount_fs
# A clean live scrub.
rc=0
"$TUNE" --scrub "$MNT" >"$WORK/out" 2>"$WORK/err" || rc=$?
expect_eq "$rc" 0 "a live scrub without bad ranges: exit status ($(cat "$WORK/err"))"
grep -q "^$MNT: read .*; 0 bad ranges (0 new)$" "$WORK/out" || fail "clean live scrub says: $(cat "$WORK/out")"

# Someone else may not.
rc=0
setpriv --reuid=65534 --regid=65534 --clear-groups "$TUNE" --scrub "$MNT" >"$WORK/out" 2>"$WORK/err" || rc=$?
expect_eq "$rc" 1 "a non-owner's live scrub: exit status"
expect_eq "$(wc -l <"$WORK/err")" 1 "lines on stderr for a non-owner ($(cat "$WORK/err"))"
grep -q "permission denied" "$WORK/err" || fail "the non-owner refusal: $(cat "$WORK/err")"

# A writer keeps using the mount throughout: writes, reads back and checks files in /work.
python3 - "$MNT/work" "$WORK/stop" >"$WORK/writer.out" 2>&1 <<'EOF' &
import os, sys
d, stop = sys.argv[1], sys.argv[2]
n = 0
while not os.path.exists(stop) or n < 20:
    p = os.path.join(d, "f%d" % (n % 8))
    data = os.urandom(4096 * (1 + n % 16))
    with open(p, "wb") as f:
        f.write(data)
        os.fsync(f.fileno())
    with open(p, "rb") as f:
        if f.read() != data:
            print("mismatch in", p); sys.exit(1)
    if n % 8 == 7:
        os.rename(p, p + ".old"); os.unlink(p + ".old")
    n += 1
print("rounds", n)
EOF
WRITER=$!

# Poison only the daemon can trip on: data pages 7 and 40-41 (one range) and 50 of /a/data, an
# inode-table page (inodes 17-32), /dir's directory block, /small's extent block.
rc=0
"$TUNE" --scrub --json --test-poison "$page7:1" --test-poison "$page40:8192" \
  --test-poison "$((page50 + 300)):10" --test-poison "$inodes:4096" \
  --test-poison "$dirblock:4096" --test-poison "$extblock:4096" "$MNT" >"$WORK/scrub.json" 2>"$WORK/err" || rc=$?
expect_eq "$rc" 3 "a live scrub with bad ranges: exit status ($(cat "$WORK/err"))"
ranges=("$page7:4096:1:file /a/data offset $((7 * 4096)) length 4096"
  "$page50:4096:1:file /a/data offset $((50 * 4096)) length 4096"
  "$dirblock:4096:1:directory block of /dir"
  "$extblock:4096:1:extent block of /small"
  "$inodes:4096:1:inode table (inodes 17-32)")
if [ $((page41 - page40)) = 4096 ]; then
  ranges+=("$page40:8192:1:file /a/data offset $((40 * 4096)) length 8192")
else
  ranges+=("$page40:4096:1:file /a/data offset $((40 * 4096)) length 4096"
    "$page41:4096:1:file /a/data offset $((41 * 4096)) length 4096")
fi
expect_scrub_report "the live scrub" "$WORK/scrub.json" $((7 * 4096)) "${ranges[@]}"

# Recorded at once: the daemon fails a read of page 7 (O_DIRECT: not the kernel's cache), page 0
# reads; the mount takes new files.
expect_page7_bad iflag=direct
head -c 1M /dev/urandom >"$WORK/after"
cp "$WORK/after" "$MNT/after"
cmp "$WORK/after" "$MNT/after" || fail "a file written after the scrub reads back different"

# Again, given the device and as text: nothing new, the same names.
expect_rescrub "a second live scrub (by device)" "bad ranges (0 new)"

touch "$WORK/stop"
wait "$WRITER" || fail "the writer failed during the scrubs: $(cat "$WORK/writer.out")"
log "writer: $(cat "$WORK/writer.out")"
umount_fs

# The tables kept them; pmemfs-fsck names them.
nranges=$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["bad_ranges"]))' < <("$TUNE" -l --json "$DEV"))
expect_eq "$nranges" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["bad_ranges"]))' "$WORK/scrub.json")" \
  "bad ranges pmemfs-tune -l lists after unmount"
expect_fsck_bad "file /a/data offset 28672 length 4096" "metadata: directory block of /dir" \
  "metadata: extent block of /small" "metadata: inode table (inodes 17-32)"

# Read-only: found and reported, not recorded.
mount_fs ro
rc=0
"$TUNE" --scrub --test-poison "$page20:4096" "$MNT" >"$WORK/out" 2>"$WORK/err" || rc=$?
expect_eq "$rc" 1 "a live scrub of a read-only mount that finds a bad range: exit status"
grep -q "^  \[$page20, $((page20 + 4096))) file /a/data offset 81920 length 4096$" "$WORK/out" ||
  fail "the read-only scrub does not name page 20: $(cat "$WORK/out")"
grep -q "read-only: the new bad ranges are not recorded" "$WORK/out" ||
  fail "the read-only scrub does not say it recorded nothing: $(cat "$WORK/out")"
umount_fs
expect_eq "$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["bad_ranges"]))' < <("$TUNE" -l --json "$DEV"))" \
  "$nranges" "bad ranges after the read-only scrub"
pass
