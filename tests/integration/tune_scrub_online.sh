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
TUNE=${PMEMFS_TUNE:-pmemfs-tune}
command -v "$TUNE" >/dev/null || fail "pmemfs-tune not found (PMEMFS_TUNE)"
export PMEMFS_TEST_POISON=1   # the daemons this test starts accept --test-poison

make_device 64M
format
mount_fs
mkdir "$MNT/a" "$MNT/dir" "$MNT/work"
# /a/data: 64 pages, page i starts with the marker SCRUBPAGE-i.
python3 - "$MNT/a/data" <<'EOF'
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(64):
        f.write((b"SCRUBPAGE-%06d-" % i).ljust(4096, b"."))
EOF
for i in $(seq 1 40); do touch "$MNT/dir/scrub-name-marker-$i"; done
echo small >"$MNT/small"
small_ino=$(stat -c %i "$MNT/small")
umount_fs

# Where things are: device offset = part offset - the part header (one linear part).
python3 - "${PARTS[0]}" "$small_ino" >"$WORK/where" <<'EOF'
import struct, sys
part = open(sys.argv[1], "rb").read()
ino = int(sys.argv[2])
H = 4096  # PartHeaderSize of a file part
P = 4096
dev = part[H:]
names = ["store_blocks", "journal_start", "journal_blocks", "inode_start", "inode_blocks",
         "inode_count", "bitmap_start", "bitmap_blocks", "data_start", "data_blocks", "backup_block"]
sb = dict(zip(names, struct.unpack_from("<11Q", dev, 128)))
data = sb["data_start"] * P
def page_of(marker):
    at = dev.find(marker, data)
    assert at >= 0 and at % P == 0, marker
    return at
rec = sb["inode_start"] * P + (ino - 1) * 256
map_head = struct.unpack_from("<Q", dev, rec + 88)[0]
assert (ino - 1) // 16 != 1, "/small's record is in the poisoned inode-table page"
out = {
    "page7": page_of(b"SCRUBPAGE-000007-"),
    "page40": page_of(b"SCRUBPAGE-000040-"),
    "page41": page_of(b"SCRUBPAGE-000041-"),
    "page50": page_of(b"SCRUBPAGE-000050-"),
    "page20": page_of(b"SCRUBPAGE-000020-"),
    "dirblock": dev.find(b"scrub-name-marker-17", data) // P * P,
    "extblock": map_head * P,
    "inodes": (sb["inode_start"] + 1) * P,
}
for k, v in out.items():
    print(f"{k}={v}")
EOF
source "$WORK/where"
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
want_source=extents
[ "$MODE" = pages ] && want_source=descriptors
adjacent=0
[ $((page41 - page40)) = 4096 ] && adjacent=1
python3 - "$WORK/scrub.json" "$want_source" "$adjacent" "$page7" "$page40" "$page41" "$page50" \
  "$dirblock" "$extblock" "$inodes" <<'EOF' || fail "the live scrub's report: $(cat "$WORK/scrub.json")"
import json, sys
j = json.load(open(sys.argv[1]))
source, adjacent = sys.argv[2], sys.argv[3] == "1"
page7, page40, page41, page50, dirblock, extblock, inodes = map(int, sys.argv[4:])
want = {  # offset: (length, new, [descriptions])
    page7: (4096, True, ["file /a/data offset %d length 4096" % (7 * 4096)]),
    page50: (4096, True, ["file /a/data offset %d length 4096" % (50 * 4096)]),
    dirblock: (4096, True, ["directory block of /dir"]),
    extblock: (4096, True, ["extent block of /small"]),
    inodes: (4096, True, ["inode table (inodes 17-32)"]),
}
if adjacent:
    want[page40] = (8192, True, ["file /a/data offset %d length 8192" % (40 * 4096)])
else:
    want[page40] = (4096, True, ["file /a/data offset %d length 4096" % (40 * 4096)])
    want[page41] = (4096, True, ["file /a/data offset %d length 4096" % (41 * 4096)])
got = {r["offset"]: (r["length"], r["new"], [o["description"] for o in r["owners"]])
       for r in j["bad_ranges"]}
ok = True
for off, w in sorted(want.items()):
    if got.get(off) != w:
        print("range at", off, "expected", w, "got", got.get(off)); ok = False
if set(got) != set(want):
    print("unexpected ranges:", sorted(set(got) - set(want))); ok = False
if j["owners_from"] != source: print("owners from", j["owners_from"]); ok = False
if j["found_bytes"] != 7 * 4096: print("found_bytes", j["found_bytes"]); ok = False
if not j["metadata_hit"]: print("metadata_hit false"); ok = False
if j["record_error"]: print("record_error", j["record_error"]); ok = False
sys.exit(0 if ok else 1)
EOF

# Recorded at once: the daemon fails a read of page 7 (O_DIRECT: not the kernel's cache), page 0
# reads; the mount takes new files.
dd if="$MNT/a/data" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null || fail "reading page 0 of /a/data"
if dd if="$MNT/a/data" of=/dev/null bs=4096 skip=7 count=1 iflag=direct 2>"$WORK/dd.err"; then
  fail "reading a recorded bad page of /a/data succeeded"
fi
grep -q "Input/output error" "$WORK/dd.err" || fail "reading the bad page: $(cat "$WORK/dd.err")"
head -c 1M /dev/urandom >"$WORK/after"
cp "$WORK/after" "$MNT/after"
cmp "$WORK/after" "$MNT/after" || fail "a file written after the scrub reads back different"

# Again, given the device and as text: nothing new, the same names.
rc=0
"$TUNE" --scrub "$DEV" >"$WORK/out" 2>"$WORK/err" || rc=$?
expect_eq "$rc" 3 "a second live scrub (by device): exit status ($(cat "$WORK/err"))"
grep -q "bad ranges (0 new)" "$WORK/out" || fail "second live scrub: $(cat "$WORK/out")"
grep -q "^  \[$page7, $((page7 + 4096))) file /a/data offset 28672 length 4096$" "$WORK/out" ||
  fail "second live scrub does not name /a/data page 7: $(cat "$WORK/out")"
grep -q "metadata: extent block of /small" "$WORK/out" || fail "second live scrub: $(cat "$WORK/out")"

touch "$WORK/stop"
wait "$WRITER" || fail "the writer failed during the scrubs: $(cat "$WORK/writer.out")"
log "writer: $(cat "$WORK/writer.out")"
umount_fs

# The tables kept them; pmemfs-fsck names them.
nranges=$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["bad_ranges"]))' < <("$TUNE" -l --json "$DEV"))
expect_eq "$nranges" "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["bad_ranges"]))' "$WORK/scrub.json")" \
  "bad ranges pmemfs-tune -l lists after unmount"
rc=0
"$FSCK" -n "$DEV" >"$WORK/fsck.out" 2>&1 || rc=$?
expect_eq "$rc" 4 "pmemfs-fsck -n after the live scrub: exit status"
for what in "file /a/data offset 28672 length 4096" "metadata: directory block of /dir" \
  "metadata: extent block of /small" "metadata: inode table (inodes 17-32)"; do
  grep -q "^media: bad range .*: $what (not repairable)$" "$WORK/fsck.out" ||
    fail "pmemfs-fsck does not report '$what': $(cat "$WORK/fsck.out")"
done

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
