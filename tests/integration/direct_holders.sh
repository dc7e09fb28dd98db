#!/usr/bin/env bash
# Files another process holds mapped through libpmemfs-client (direct and pages mode), changed
# by someone else through the kernel:
#   - writes (in place, into a hole, past the end): the holder's reads and mapping see them once
#     they returned; a kernel mapping sees a library write once the writer called fsync;
#   - truncate: the holder's mapping follows the new end as on ext4-dax (the page holding the
#     end reads zeros past it, a page past it raises SIGBUS), its reads end there; it never sees
#     the truncated blocks' old bytes;
#   - punch: the holder reads zeros in the hole (mapping and reads), its data elsewhere;
#   - unlink: the holder keeps its data (the file lives while open), other files get other blocks;
#   - a holder stopped with SIGSTOP does not block a truncate, and the blocks it held are not
#     reused while it lives (a pin): the device is filled to ENOSPC and they still hold their old
#     bytes, which no file shows; once it is killed they are free again and reused; continued
#     instead, it answers late, its blocks are freed then and its mapping follows the truncate;
#   - pmemfs-fsck -n is clean at the end.
source "$(dirname "$0")/lib.sh"
skip_unless_mode direct pages
need_direct_tool
PY=python3
make_device 64M
format
mount_fs

# byte SEED OFF: the pattern byte at OFF (what "$TOOL" write wrote there).
byte() { "$TOOL" dump - "$2" 1 "$1" | od -An -tu1 | tr -d ' '; }

# --- truncate of a mapped file ---------------------------------------------------------------
"$TOOL" write "$MNT/t" 0 65536 1
hold_start t "$MNT/t"
expect_eq "$(hold_ask t 'peek 40000')" "$(byte 1 40000)" "a byte of the mapped file"
# 10000 is in the third page; 12001 past the end in that page (its pattern byte is not zero).
expect_ne "$(byte 1 12001)" 0 "the pattern byte at 12001"
timeout 60 truncate -s 10000 "$MNT/t" || fail "truncate of a file another process holds mapped"
expect_eq "$(hold_ask t 'peek 5000')" "$(byte 1 5000)" "the holder's mapping below the new end"
expect_eq "$(hold_ask t 'peek 12001')" 0 "the holder's mapping past the new end, in the page holding it"
expect_eq "$(hold_ask t 'read 12001')" eof "the holder's read past the new end"
expect_eq "$(hold_ask t 'read 9999')" "$(byte 1 9999)" "the holder's read of the last byte"
expect_eq "$(hold_ask t 'peek 40000')" SIGBUS "the holder's mapping a page past the new end"
rc=0
wait "${HPID[t]}" || rc=$?
expect_eq "$rc" 7 "exit status of the holder after SIGBUS"

# --- punch ---------------------------------------------------------------------------------
"$TOOL" write "$MNT/p" 0 65536 2
hold_start p "$MNT/p"
expect_eq "$(hold_ask p 'peek 20000')" "$(byte 2 20000)" "a byte of the mapped file"
fallocate -p -o 16384 -l 16384 "$MNT/p"
expect_eq "$(hold_ask p 'peek 20000')" 0 "the holder's mapping of the punched hole"
expect_eq "$(hold_ask p 'read 30000')" 0 "the holder's read of the punched hole"
expect_eq "$(hold_ask p 'peek 8000')" "$(byte 2 8000)" "the holder's mapping before the hole"
expect_eq "$(hold_ask p 'read 40000')" "$(byte 2 40000)" "the holder's read after the hole"
hold_stop p
cmp -n 16384 -i 16384:0 "$MNT/p" /dev/zero || fail "the punched hole does not read as zeros"
"$TOOL" check "$MNT/p" 32768 32768 2

# --- unlink --------------------------------------------------------------------------------
"$TOOL" write "$MNT/u" 0 65536 3
hold_start u "$MNT/u"
rm "$MNT/u"
"$TOOL" write "$MNT/u2" 0 262144 4   # new blocks: none of the held file's
expect_eq "$(hold_ask u 'peek 20000')" "$(byte 3 20000)" "the holder's mapping of an unlinked file"
expect_eq "$(hold_ask u 'read 60000')" "$(byte 3 60000)" "the holder's read of an unlinked file"
hold_stop u
"$TOOL" check "$MNT/u2" 0 262144 4

# --- coherence with a holder: its reads (and its mapping) see kernel writes once they returned:
# in place, into a hole (the map changes: its lease is called back) and past the end; a kernel
# mapping sees a library write once the writer called fsync ------------------------------------
"$TOOL" write "$MNT/k" 0 20000 10
truncate -s 100000 "$MNT/k"
hold_start k "$MNT/k"
expect_eq "$(hold_ask k 'read 5000')" "$(byte 10 5000)" "the holder's read"
"$TOOL" kernel-write "$MNT/k" 4000 3000 11
expect_eq "$(hold_ask k 'read 5000')" "$(byte 11 5000)" "the holder's read after a kernel write in place"
expect_eq "$(hold_ask k 'peek 6000')" "$(byte 11 6000)" "the holder's mapping after a kernel write in place"
expect_eq "$(hold_ask k 'read 50000')" 0 "the holder's read of a hole"
"$TOOL" kernel-write "$MNT/k" 49000 3000 12
expect_eq "$(hold_ask k 'read 50000')" "$(byte 12 50000)" "the holder's read after a kernel write into a hole"
expect_eq "$(hold_ask k 'peek 51000')" "$(byte 12 51000)" "the holder's mapping after a kernel write into a hole"
"$TOOL" kernel-write "$MNT/k" 100000 5000 13
expect_eq "$(hold_ask k 'read 102000')" "$(byte 13 102000)" "the holder's read after a kernel write past the end"
hold_stop k
"$PY" - "$MNT/k" "$TOOL" "$(byte 14 300)" <<'PY' || fail "a kernel mapping does not show a library write after its fsync"
import mmap, os, subprocess, sys
path, tool, want = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = os.open(path, os.O_RDONLY)
m = mmap.mmap(fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ)
before = m[300]  # the kernel's page, mapped
subprocess.run([tool, "write", path, "0", "4096", "14"], check=True)  # writes, fsyncs, closes
sys.exit(0 if m[300] == want and before != want else 1)
PY

# --- a stopped holder: the truncate goes ahead, its blocks stay pinned until it dies -----------
# held_blocks: how many 4 KiB blocks of the part hold a block of $WORK/s.ref (the held file's).
held_blocks() {
  python3 - "${PARTS[0]}" "$WORK/s.ref" <<'EOF'
import sys
B = 4096
ref = open(sys.argv[2], "rb").read()
want = {ref[i:i + B] for i in range(0, len(ref), B)}
n = 0
with open(sys.argv[1], "rb") as part:
    while True:
        b = part.read(B)
        if not b:
            break
        n += b in want
print(n)
EOF
}
# fill: files of 0xEE bytes through the kernel until the device is full; each must read back
# as nothing but 0xEE.
fill() {
  local i full=0 f
  for i in $(seq 8); do  # (128 MiB: more than the device holds)
    head -c 16M /dev/zero | tr '\0' '\356' |
      dd of="$MNT/fill$i" bs=1M iflag=fullblock status=none 2>"$WORK/fill.err" || { full=1; break; }
  done
  [ "$full" = 1 ] && grep -q "No space left" "$WORK/fill.err" ||
    fail "fill: no ENOSPC ($(cat "$WORK/fill.err"))"
  for f in "$MNT"/fill*; do
    expect_eq "$(tr -d '\356' <"$f" | wc -c)" 0 "bytes other than the fill's in $f"
  done
}
free_blocks() { stat -f -c %f "$MNT"; }

"$TOOL" write "$MNT/s" 0 $((4 << 20)) 5
"$TOOL" dump - 0 $((4 << 20)) 5 >"$WORK/s.ref"
expect_eq "$(held_blocks)" 1024 "blocks of the held file found in the device"
hold_start s "$MNT/s"
expect_eq "$(hold_ask s 'peek 1000000')" "$(byte 5 1000000)" "a byte of the mapped file"
hold_pause s
timeout 60 truncate -s 0 "$MNT/s" || fail "truncate with a stopped holder (blocked, or failed)"
expect_eq "$(stat -c %s "$MNT/s")" 0 "size after the truncate"
# The file grows again: zeros, never the held blocks' bytes.
truncate -s $((4 << 20)) "$MNT/s"
cmp "$MNT/s" <(head -c $((4 << 20)) /dev/zero) || fail "the regrown file shows old bytes"
truncate -s 0 "$MNT/s"
fill
expect_eq "$(held_blocks)" 1024 "blocks of the stopped holder still holding its bytes on a full device"
rm "$MNT"/fill*
pinned_free=$(free_blocks)
kill -9 "${HPID[s]}"
wait "${HPID[s]}" 2>/dev/null || true
# The daemon sees the connection close: the pin goes (and the allocator takes the blocks back
# at its next allocation: a probe's).
probe_free() {
  head -c 4096 /dev/zero >"$MNT/probe"
  rm "$MNT/probe"
  free_blocks
}
settle_range $((pinned_free + 1024)) 999999999 "free blocks once the stopped holder is gone" probe_free
fill
expect_eq "$(held_blocks)" 0 "blocks of the dead holder not reused on a full device"
rm "$MNT"/fill*

# A stopped holder that is continued answers late: its pin goes then, and its mapping follows
# the truncate (SIGBUS past the new end).
"$TOOL" write "$MNT/c" 0 $((1 << 20)) 6
hold_start c "$MNT/c"
expect_eq "$(hold_ask c 'peek 5000')" "$(byte 6 5000)" "a byte of the mapped file"
hold_pause c
timeout 60 truncate -s 0 "$MNT/c" || fail "truncate with a stopped holder (blocked, or failed)"
pinned_free=$(probe_free)
kill -CONT "${HPID[c]}"
settle_range $((pinned_free + 256)) 999999999 "free blocks once the continued holder answered" probe_free
expect_eq "$(hold_ask c 'peek 5000')" SIGBUS "the continued holder's mapping past the new end"
rc=0
wait "${HPID[c]}" || rc=$?
expect_eq "$rc" 7 "exit status of the continued holder after SIGBUS"

umount_fs
expect_fsck_clean
pass
