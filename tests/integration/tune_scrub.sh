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
TUNE=${PMEMFS_TUNE:-pmemfs-tune}
DEVINFO=${PMEMFS_DEVINFO:-pmemfs-devinfo}
command -v "$TUNE" >/dev/null || fail "pmemfs-tune not found (PMEMFS_TUNE)"

make_device 64M
format
mount_fs
mkdir "$MNT/a" "$MNT/dir"
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

rc=0
"$TUNE" --scrub "$WORK" >"$WORK/out" 2>"$WORK/err" || rc=$?
expect_eq "$rc" 1 "pmemfs-tune --scrub of a directory that is no mount point: exit status"
expect_eq "$(wc -l <"$WORK/err")" 1 "lines on stderr for a plain directory ($(cat "$WORK/err"))"
umount_fs

rc=0
"$TUNE" --scrub "$DEV" >"$WORK/out" 2>"$WORK/err" || rc=$?
expect_eq "$rc" 0 "pmemfs-tune --scrub of a device without bad ranges: exit status ($(cat "$WORK/err"))"
grep -q "0 bad ranges" "$WORK/out" || fail "clean scrub says: $(cat "$WORK/out")"

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
dirent = dev.find(b"scrub-name-marker-17", data) // P * P
out = {
    "page3": page_of(b"SCRUBPAGE-000003-"),
    "page7": page_of(b"SCRUBPAGE-000007-"),
    "dirblock": dirent,
    "extblock": map_head * P,
    "journal": (sb["journal_start"] + 1) * P,
    "inodes": (sb["inode_start"] + 1) * P,
    "backup": sb["backup_block"] * P,
}
for k, v in out.items():
    print(f"{k}={v}")
EOF
source "$WORK/where"
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
want_source=extents
[ "$MODE" = pages ] && want_source=descriptors
python3 - "$WORK/scrub.json" "$want_source" "$page3" "$page7" "$dirblock" "$extblock" "$journal" \
  "$inodes" "$backup" <<'EOF' || fail "the scrub's report: $(cat "$WORK/scrub.json")"
import json, sys
j = json.load(open(sys.argv[1]))
source = sys.argv[2]
page3, page7, dirblock, extblock, journal, inodes, backup = map(int, sys.argv[3:])
want = {  # offset: (length, new, [descriptions])
    page3 + 100: (200, False, ["file /a/data offset %d length 200" % (3 * 4096 + 100)]),
    page7: (4096, True, ["file /a/data offset %d length 4096" % (7 * 4096)]),
    dirblock: (4096, False, ["directory block of /dir"]),
    extblock: (4096, True, ["extent block of /small"]),
    journal + 512: (1024, False, ["journal"]),
    inodes: (4096, False, ["inode table (inodes 17-32)"]),
    backup: (4096, True, ["backup superblock"]),
}
got = {r["offset"]: (r["length"], r["new"], [o["description"] for o in r["owners"]])
       for r in j["bad_ranges"]}
ok = True
for off, w in sorted(want.items()):
    if got.get(off) != w:
        print("range at", off, "expected", w, "got", got.get(off)); ok = False
if set(got) != set(want):
    print("unexpected ranges:", sorted(set(got) - set(want))); ok = False
if j["owners_from"] != source: print("owners from", j["owners_from"]); ok = False
if j["found_bytes"] != 3 * 4096: print("found_bytes", j["found_bytes"]); ok = False
if not j["metadata_hit"]: print("metadata_hit false"); ok = False
meta = {o["kind"]: o["metadata"] for r in j["bad_ranges"] for o in r["owners"]}
if meta.get("file_data") or not meta.get("directory_block"): print("metadata flags", meta); ok = False
sys.exit(0 if ok else 1)
EOF

# Recorded: -l lists all seven; a second scrub finds nothing new and names the same (text).
"$TUNE" -l --json "$DEV" >"$WORK/l.json" || fail "pmemfs-tune -l"
python3 -c 'import json,sys; sys.exit(len(json.load(open(sys.argv[1]))["bad_ranges"]) != 7)' "$WORK/l.json" ||
  fail "pmemfs-tune -l does not list the 7 bad ranges: $(cat "$WORK/l.json")"
rc=0
"$TUNE" --scrub "$DEV" >"$WORK/out" 2>"$WORK/err" || rc=$?
expect_eq "$rc" 3 "a second scrub: exit status"
grep -q "7 bad ranges (0 new)" "$WORK/out" || fail "second scrub: $(cat "$WORK/out")"
grep -q "^  \[$page7, $((page7 + 4096))) file /a/data offset 28672 length 4096$" "$WORK/out" ||
  fail "second scrub does not name /a/data page 7: $(cat "$WORK/out")"
grep -q "metadata: extent block of /small" "$WORK/out" || fail "second scrub: $(cat "$WORK/out")"

# pmemfs-fsck names them the same way.
rc=0
"$FSCK" -n "$DEV" >"$WORK/fsck.out" 2>&1 || rc=$?
expect_eq "$rc" 4 "pmemfs-fsck -n with bad ranges in files and metadata: exit status"
for what in "file /a/data offset 28672 length 4096" "file /a/data offset 12388 length 200" \
  "metadata: directory block of /dir" "metadata: extent block of /small" "metadata: journal" \
  "metadata: inode table (inodes 17-32)" "metadata: backup superblock"; do
  grep -q "^media: bad range .*: $what (not repairable)$" "$WORK/fsck.out" ||
    fail "pmemfs-fsck does not report '$what': $(cat "$WORK/fsck.out")"
done

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
dd if="$MNT/a/data" of=/dev/null bs=4096 count=1 2>/dev/null || fail "reading page 0 of /a/data"
if dd if="$MNT/a/data" of=/dev/null bs=4096 skip=7 count=1 2>"$WORK/dd.err"; then
  fail "reading a recorded bad page of /a/data succeeded"
fi
grep -q "Input/output error" "$WORK/dd.err" || fail "reading the bad page: $(cat "$WORK/dd.err")"
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
