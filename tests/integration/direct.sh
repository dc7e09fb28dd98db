#!/usr/bin/env bash
# Direct access through libpmemfs-client (direct and pages mode): data written and read in the
# device by the library is what the kernel path reads and what survives a remount; holes,
# sparse writes, appends, truncates in a random workload checked against a model; a size a
# library write produced shows in stat(2) once the write returned; mappings made through the
# library; the documented coherence with readers and writers through the kernel; fsck clean.
source "$(dirname "$0")/lib.sh"
skip_unless_mode direct pages
need_direct_tool
make_device 256M
format
mount_fs

# A file of the mount is direct; the library says so.
touch "$MNT/a"
"$TOOL" is-direct "$MNT/a" || fail "a file of a direct_access=owner mount is not direct for root"

# Written and read back in uneven pieces, through the library and through the kernel.
"$TOOL" write "$MNT/a" 0 3000000 1
"$TOOL" check "$MNT/a" 0 3000000 1
expect_eq "$(stat -c %s "$MNT/a")" 3000000 "size after library writes"
"$TOOL" dump - 0 3000000 1 >"$WORK/a.ref"
expect_same "$MNT/a" "$WORK/a.ref"

# Sparse: a write far past the end leaves a hole that reads as zeros.
"$TOOL" write "$MNT/sparse" 10000000 5000 2
"$TOOL" check "$MNT/sparse" 10000000 5000 2
expect_eq "$(stat -c %s "$MNT/sparse")" 10005000 "size of a sparse file"
cmp -n 10000000 "$MNT/sparse" /dev/zero || fail "the hole of a sparse file does not read as zeros"
# Into the hole, later.
"$TOOL" write "$MNT/sparse" 4096000 10000 3
"$TOOL" check "$MNT/sparse" 4096000 10000 3
"$TOOL" check "$MNT/sparse" 10000000 5000 2

# A random workload (writes, reads, appends, truncates) against a model.
"$TOOL" random "$MNT/r" 4000000 3 3000

# stat(2) from the kernel shows each size a library append made, once it returned.
"$TOOL" size-seen "$MNT/s"

# Appends (O_APPEND).
"$TOOL" append "$MNT/log" 500 1000 4 >"$WORK/appended"
expect_eq "$(wc -l <"$WORK/appended")" 500 "appends acknowledged"
expect_eq "$(stat -c %s "$MNT/log")" 500000 "size after 500 appends of 1000 bytes"
"$TOOL" check "$MNT/log" 0 500000 4

# Appends of several processes at once: each lands whole, after the others' (the slot's
# append_end places them; each raises the size after its bytes, in order).
pids=()
for seed in 11 12 13; do
  "$TOOL" append "$MNT/mixed" 400 1000 "$seed" >/dev/null &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent appender failed"; done
"$TOOL" check-mixed-appends "$MNT/mixed" 400 1000 11 12 13

# A sequential writer (pwrite in order, and O_APPEND) has the device pages ahead of it mapped in
# batches by the library instead of taking a page fault per 4 KiB write (2048 without that), also
# after a truncate revoked its lease; the bytes are right.
for how in pwrite append; do
  read -r _ f1 f2 < <("$TOOL" stream "$MNT/seq-$how" 2048 21 "$how")
  [ "$f1" -lt 512 ] && [ "$f2" -lt 256 ] ||
    fail "a sequential $how stream of 2048 4 KiB writes (then 1024) took $f1 (then $f2) page faults"
  "$TOOL" check "$MNT/seq-$how" 0 4194304 21
  "$TOOL" check "$MNT/seq-$how" 4194304 4194304 22
  expect_eq "$(stat -c %s "$MNT/seq-$how")" 8388608 "size after a sequential $how stream"
done

# A mapping made through the library: stores and msync, seen through the kernel.
"$TOOL" write "$MNT/m" 0 1000000 5
"$TOOL" mmap-write "$MNT/m" 5000 300000 6
"$TOOL" check "$MNT/m" 0 5000 5
"$TOOL" check "$MNT/m" 5000 300000 6
"$TOOL" check "$MNT/m" 305000 695000 5

# A file mapped before library writes grew it, through the library (the kernel's part of the
# mapping past the old end) and by the kernel (MAP_PRIVATE): after the writer's fsync, and after
# a close, the mappings read the new bytes (the kernel faults by its idea of the size, which the
# library's writes leave stale: no SIGBUS below the new end).
"$TOOL" grow-map "$MNT/g" >"$WORK/g.out" || fail "grow-map: $(cat "$WORK/g.out")"

# Coherence, as README says: a reader through the kernel sees a library write once the writer
# called fsync (or closed the file), even pages it read (and cached) before; a library reader
# sees a write through the kernel as soon as that write returned.
"$TOOL" write "$MNT/c" 0 65536 7
"$TOOL" dump - 0 65536 8 >"$WORK/c8"
python3 - "$MNT/c" "$TOOL" "$WORK/c8" <<'EOF' || fail "a kernel reader does not see a library write after fsync"
import os, subprocess, sys
path, tool, want = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read()
fd = os.open(path, os.O_RDONLY)
before = os.pread(fd, 65536, 0)          # cached by the kernel now
subprocess.run([tool, "write", path, "0", "65536", "8"], check=True)  # writes, fsyncs, closes
after = os.pread(fd, 65536, 0)
sys.exit(0 if after == want and before != want else 1)
EOF
"$TOOL" kernel-write "$MNT/c" 1000 3000 9
"$TOOL" lib-sees "$MNT/c" 1000 3000 9

# Everything is on the device: after a remount, and fsck finds nothing wrong.
remount
"$TOOL" check "$MNT/a" 0 3000000 1
"$TOOL" check "$MNT/sparse" 10000000 5000 2
"$TOOL" check "$MNT/log" 0 500000 4
"$TOOL" check "$MNT/m" 5000 300000 6
expect_eq "$(stat -c %s "$MNT/log")" 500000 "size of the appended file after a remount"
umount_fs
expect_fsck_clean "after direct access"
pass
