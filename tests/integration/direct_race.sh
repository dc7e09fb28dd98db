#!/usr/bin/env bash
# Closing a descriptor that other threads of the process are using: every kind of library call
# on it while one thread closes it, dup2s other files over it and reopens it. The process must
# not crash, and the bytes must land only in files the descriptor named (direct_race.cc checks:
# a file never behind it stays untouched, every block is its fill or one whole record, a
# mapping stores only into the file it shows). Under ASan/UBSan in a PMEMFS_SANITIZE build.
source "$(dirname "$0")/lib.sh"
skip_unless_mode direct pages
need_direct_tool
make_device 128M
format
mount_fs

mkdir "$MNT/race"
for round in 1 2 3; do
  "$TOOL" race "$MNT/race" 3000 >"$WORK/race.out" || fail "round $round: $(tail -3 "$WORK/race.out")"
done
expect_eq "$(grep -c records "$WORK/race.out")" 4 "files checked"
pass
