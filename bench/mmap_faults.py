#!/usr/bin/env python3
"""The mmap job's pattern counted, not timed: maps FILE whole (MAP_SHARED), makes N stores of
4 KiB at random page-aligned offsets (fixed seed), each followed by an msync of its 4 KiB (fio's
mmap engine with direct=1), and prints the page faults the stores took (ru_minflt + ru_majflt
around them) and the mapping's huge-page lines from /proc/self/smaps (FilePmdMapped,
ShmemPmdMapped; a DAX PMD mapping shows in neither: count faults there).

    bench/mmap_faults.py FILE [N] [pwrite]   (pwrite: as pwrite(2)s, then as many pread(2)s; run as `pmemfs-direct bench/mmap_faults.py ...` for
                                        the library; bench/mmap_faults.sh does both)
"""
import mmap
import os
import random
import resource
import sys


def smaps_of(addr, size):
    """The Size/PmdMapped lines of the /proc/self/smaps entries in [addr, addr + size)."""
    out, inside = {}, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                lo = int(head[0].split("-")[0], 16)
                inside = lo >= addr and lo < addr + size
                continue
            if inside and head[0] in ("Size:", "FilePmdMapped:", "ShmemPmdMapped:", "Rss:"):
                out[head[0][:-1]] = out.get(head[0][:-1], 0) + int(head[1])
    return out


path = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 4096
fd = os.open(path, os.O_RDWR)
SIZE = os.fstat(fd).st_size
if len(sys.argv) > 3 and sys.argv[3] == "pwrite":  # the same pattern as pwrite(2)s, pread(2)s
    block = os.urandom(4096)
    faults = []
    for call, seed in ((lambda off: os.pwrite(fd, block, off), 1),
                       (lambda off: os.pread(fd, 4096, off), 2)):
        rng = random.Random(seed)
        before = resource.getrusage(resource.RUSAGE_SELF)
        for _ in range(n):
            call(rng.randrange(SIZE // 4096) * 4096)
        after = resource.getrusage(resource.RUSAGE_SELF)
        faults.append(after.ru_minflt - before.ru_minflt + after.ru_majflt - before.ru_majflt)
    s = smaps_of(0, 1 << 64)  # (the library's mappings of the device are the big ones)
    print(f"file {path}: {SIZE >> 20} MiB, {n} pwrites of 4 KiB: {faults[0]} faults, then {n}"
          f" preads: {faults[1]} faults; smaps kB (the process):"
          f" FilePmdMapped={s.get('FilePmdMapped', 0)} ShmemPmdMapped={s.get('ShmemPmdMapped', 0)}")
    sys.exit(0)
m = mmap.mmap(fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
import ctypes  # (after the mapping: the address of its first byte)
addr = ctypes.addressof(ctypes.c_char.from_buffer(m))
rng = random.Random(1)
block = os.urandom(4096)
pages = SIZE // 4096
before = resource.getrusage(resource.RUSAGE_SELF)
for _ in range(n):
    off = rng.randrange(pages) * 4096
    m[off:off + 4096] = block
    m.flush(off, 4096)
after = resource.getrusage(resource.RUSAGE_SELF)
s = smaps_of(addr, SIZE)
print(f"file {path}: {SIZE >> 20} MiB mapped at {addr:#x} (2 MiB offset {addr % (2 << 20):#x}),"
      f" {n} stores+msync: {after.ru_minflt - before.ru_minflt} minor and"
      f" {after.ru_majflt - before.ru_majflt} major faults;"
      f" smaps kB: {' '.join(f'{k}={v}' for k, v in sorted(s.items()))}")
