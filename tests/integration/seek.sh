#!/usr/bin/env bash
# lseek SEEK_DATA / SEEK_HOLE over data written, holes left, holes punched and space allocated.
source "$(dirname "$0")/lib.sh"
make_device 64M
format
mount_fs

M=1048576
f=$MNT/f
# Data at [0, 8K) and [1M, 1M+4K), size 4M: two data segments, holes between and after.
head -c 8192 /dev/urandom | dd of="$f" conv=notrunc status=none
head -c 4096 /dev/urandom | dd of="$f" bs=4096 seek=256 conv=notrunc status=none
truncate -s 4M "$f"
expect_eq "$($FSUTIL segments "$f")" "0:8192 $M:$((M + 4096))" "data segments of a sparse file"
# A file that is all hole, and one that is all data.
truncate -s 2M "$MNT/hole"
expect_eq "$($FSUTIL segments "$MNT/hole")" none "data segments of a file that is a hole"
head -c 300000 /dev/urandom >"$MNT/full"
expect_eq "$($FSUTIL segments "$MNT/full")" "0:300000" "data segments of a file without holes"
# Punch the middle out of the first segment; allocate (unwritten space counts as data, as on
# ext4 and xfs it may be reported either way: only the punched hole is checked exactly).
fallocate -p -o 4096 -l 4096 "$f"
expect_eq "$($FSUTIL segments "$f")" "0:4096 $M:$((M + 4096))" "data segments after punching [4K, 8K)"
# SEEK_DATA at or past the end is ENXIO; SEEK_HOLE finds the implicit hole at EOF.
expect_eq "$(python3 -c "
import os, errno
fd = os.open('$MNT/full', os.O_RDONLY)
try: os.lseek(fd, 300000, os.SEEK_DATA); print('no error')
except OSError as e: print(errno.errorcode[e.errno])
print(os.lseek(fd, 5, os.SEEK_HOLE))")" "$(printf 'ENXIO\n300000')" "SEEK_DATA at EOF, SEEK_HOLE in a full file"

remount
expect_eq "$($FSUTIL segments "$f")" "0:4096 $M:$((M + 4096))" "data segments after remount"
pass
