#!/usr/bin/env bash
# A mapping made through the library of a file of several MiB, on a device whose part can be
# mapped with 2 MiB pages (here a tmpfs of the test's own mounted huge=always; an fsdax file or
# devdax is the real case): the library places the mapping so that the device lies 2 MiB-aligned
# in it, and the kernel maps it with 2 MiB pages (smaps ShmemPmdMapped), so the stores take a
# fault per 2 MiB instead of per 4 KiB; stores and msync reach the file (read back through the
# kernel after a remount); a truncate while it is mapped still replaces the device part of the
# mapping (zeros past the new end in its page, the old bytes below it); fsck clean.
source "$(dirname "$0")/lib.sh"
skip_unless_mode direct pages
DIRECT=${PMEMFS_DIRECT_CMD:?PMEMFS_DIRECT_CMD: the pmemfs-direct program (CMake sets it)}
need_direct_tool

HUGE="$WORK/huge"
mkdir -p "$HUGE"
mount -t tmpfs -o size=160M,huge=always tmpfs "$HUGE" ||
  fail "cannot mount a tmpfs with huge=always at $HUGE"
EXTRA_MNTS+=("$HUGE")   # (cleanup unmounts it)
DEV="$HUGE/part0"
truncate -s 128M "$DEV"
format
mount_fs

size=$((8 << 20))
"$TOOL" write "$MNT/f" 0 "$size" 1
cat >"$WORK/map.py" <<'EOF'
# Maps the file whole (through the library: run under pmemfs-direct), stores a pattern into
# [lo, hi) and msyncs it, then prints the faults the stores took and smaps' ShmemPmdMapped (kB)
# of the mapping; then truncates the file (through the kernel: another process) to `cut` and
# prints the mapping's bytes at cut - 1 and cut (past the new end, in the page holding it).
import ctypes, mmap, os, resource, subprocess, sys
path, lo, hi, cut = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
fd = os.open(path, os.O_RDWR)
size = os.fstat(fd).st_size
m = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for off in range(lo, hi, 4096):
    m[off:off + 4096] = bytes([(off >> 12) % 251 + 1]) * 4096
m.flush(lo, hi - lo)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
pmd, inside = 0, False
for line in open("/proc/self/smaps"):
    head = line.split()
    if "-" in head[0] and not head[0].endswith(":"):
        start = int(head[0].split("-")[0], 16)
        inside = addr <= start < addr + size
    elif inside and head[0] == "ShmemPmdMapped:":
        pmd += int(head[1])
print(faults, pmd)
subprocess.run(["truncate", "-s", str(cut), path], check=True)
print(m[cut - 1], m[cut])
EOF
lo=$((1 << 20)) hi=$((7 << 20)) cut=$(((5 << 20) + 1000))
"$DIRECT" python3 "$WORK/map.py" "$MNT/f" "$lo" "$hi" "$cut" >"$WORK/map.out" 2>"$WORK/map.err" ||
  fail "the mapping script failed: $(tail -n 3 "$WORK/map.err")"
read -r faults pmd < <(sed -n 1p "$WORK/map.out")
read -r last past < <(sed -n 2p "$WORK/map.out")
log "6 MiB of stores through the library's mapping: $faults faults, $pmd kB in 2 MiB pages"
# 6 MiB of stores: 1536 pages, faulted one by one with 4 KiB pages; with 2 MiB pages one fault
# each (the file's first and last bytes may lie outside whole 2 MiB pages of the part).
[ "$pmd" -ge 2048 ] || fail "the library's mapping has ${pmd} kB in 2 MiB pages (want >= 2048)"
[ "$faults" -lt 1024 ] || fail "6 MiB of stores through the library's mapping took $faults faults"
expect_eq "$last" $(((((cut - 1) >> 12) % 251) + 1)) "the mapping's last byte below the new end"
expect_eq "$past" 0 "the mapping past the new end, in the page holding it"
expect_eq "$(stat -c %s "$MNT/f")" "$cut" "size after the truncate"

umount_fs
mount_fs
# What the stores left, through the kernel: the pattern from lo to the cut, 1's below lo.
python3 - "$MNT/f" "$lo" "$cut" <<'EOF' || fail "the stores through the mapping are not in the file"
import sys
path, lo, cut = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
ok = len(data) == cut and all(
    data[off:min(off + 4096, cut)] == bytes([(off >> 12) % 251 + 1]) * (min(off + 4096, cut) - off)
    for off in range(lo, cut, 4096))
sys.exit(0 if ok else 1)
EOF
"$TOOL" check "$MNT/f" 0 "$lo" 1
umount_fs
expect_fsck_clean
pass
