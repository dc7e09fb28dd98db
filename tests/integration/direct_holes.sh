#!/usr/bin/env bash
# A shared mapping made through libpmemfs-client whose range covers a hole of the file (the
# kernel's mapping there: direct_tool.cc "hold"), and the hole then filled. What README ("Direct
# access") promises, checked at once where it says "at once" and within 10 s where it says the
# mapping catches up after a revocation (asynchronously):
#   (a) the mapping's own process writes into the hole with the library: at once;
#   (b) another process writes there with the library (and keeps the file open: no fsync, no
#       close): at once; its next write to the block it filled: once caught up;
#   (c) a process writes there through the kernel: at once; another with the library after it:
#       once caught up;
#   (d) a store through the mapping into a hole (read-write: mmap allocated it), read back by
#       another library process: at once;
#   (e) a hole punched under a read-write mapping, then written by the library and stored into
#       through the mapping: once caught up;
#   (f) a size change (which calls every lease back), then a library write: once caught up.
# Mapped read-only (the holes stay the kernel's) and read-write (the library allocates them at
# mmap, so (a)-(c) find none left; (e) and (f) make theirs after the mmap).
source "$(dirname "$0")/lib.sh"
skip_unless_mode direct pages
need_direct_tool
make_device 128M
format
mount_fs

HOLE=4194404   # 4 MiB + 100: in the hole of sparse's files
# sparse FILE: 8 MiB, only block 0 written (the pattern of seed 1).
sparse() { "$TOOL" write "$1" 0 4096 1; truncate -s 8M "$1"; }
# mapping_has HOLDER OFF LEN SEED WHAT: the holder's mapping holds the pattern there.
mapping_has() { expect_eq "$(hold_ask "$1" "mcheck $2 $3 $4")" ok "$5"; }
# mapping_gets HOLDER OFF LEN SEED WHAT: the same within 10 s (the holder's mapping catches up
# after a revocation: its refill thread asks for the blocks again).
mapping_gets() {
  local i got
  for i in $(seq 200); do
    got=$(hold_ask "$1" "mcheck $2 $3 $4")
    [ "$got" = ok ] && return 0
    sleep 0.05
  done
  expect_eq "$got" ok "$5 (within 10 s)"
}
# read_gets HOLDER OFF WANT WHAT: the holder's library read of the byte at OFF is WANT within 10 s.
read_gets() {
  local i got
  for i in $(seq 200); do
    got=$(hold_ask "$1" "read $2")
    [ "$got" = "$3" ] && return 0
    sleep 0.05
  done
  expect_eq "$got" "$3" "$4 (within 10 s)"
}
# byte SEED OFF: the pattern byte at OFF.
byte() { "$TOOL" dump - "$2" 1 "$1" | od -An -tu1 | tr -d ' '; }

for how in ro rw; do
  # (a)
  sparse "$MNT/a-$how"
  hold_start m "$MNT/a-$how" "$how"
  expect_eq "$(hold_ask m "peek $HOLE")" 0 "($how) the hole, through the mapping"
  expect_eq "$(hold_ask m "pwrite $HOLE 1000 2")" ok "($how) a library write into the hole"
  mapping_has m "$HOLE" 1000 2 "($how) the mapping after its own process wrote into the hole"
  hold_stop m

  # (b)
  sparse "$MNT/b-$how"
  hold_start m "$MNT/b-$how" "$how"
  hold_start w "$MNT/b-$how" none
  expect_eq "$(hold_ask m "peek $HOLE")" 0 "($how) the hole, through the mapping"
  expect_eq "$(hold_ask w "pwrite $HOLE 1000 3")" ok "($how) another process's library write"
  mapping_has m "$HOLE" 1000 3 "($how) the mapping after another process wrote into the hole"
  expect_eq "$(hold_ask w "pwrite $((HOLE + 50)) 500 4")" ok "($how) its second write there"
  mapping_gets m "$((HOLE + 50))" 500 4 "($how) the mapping after another write to the filled block"
  hold_stop w
  hold_stop m

  # (c)
  sparse "$MNT/c-$how"
  hold_start m "$MNT/c-$how" "$how"
  hold_start w "$MNT/c-$how" none
  expect_eq "$(hold_ask m "peek $HOLE")" 0 "($how) the hole, through the mapping"
  "$TOOL" kernel-write "$MNT/c-$how" "$HOLE" 1000 5
  mapping_has m "$HOLE" 1000 5 "($how) the mapping after a kernel write into the hole"
  expect_eq "$(hold_ask w "pwrite $((HOLE + 50)) 500 6")" ok "($how) a library write after it"
  mapping_gets m "$((HOLE + 50))" 500 6 \
    "($how) the mapping after a library write to the block a kernel write filled"
  hold_stop w
  hold_stop m
done

# (d) A store through the mapping into a hole of the file (read-write only: the mmap allocated it),
# read back by another library process, and by a new one (library and kernel).
"$TOOL" write "$MNT/d" 0 4096 1
truncate -s 8M "$MNT/d"
hold_start m "$MNT/d" rw
hold_start r "$MNT/d" none
expect_eq "$(hold_ask m "store $HOLE 1000 7")" ok "a store through the mapping"
expect_eq "$(hold_ask r "read $((HOLE + 999))")" "$(byte 7 $((HOLE + 999)))" \
  "another library process's read of what was stored through the mapping"
hold_stop r
"$TOOL" check "$MNT/d" "$HOLE" 1000 7
hold_stop m

# (e) A hole punched under a read-write mapping, then stored into and written by the library.
"$TOOL" write "$MNT/e" 0 65536 8
hold_start m "$MNT/e" rw
hold_start w "$MNT/e" none
fallocate -p -o 16384 -l 16384 "$MNT/e"
expect_eq "$(hold_ask m "peek 20000")" 0 "the punched hole, through the mapping"
expect_eq "$(hold_ask w "pwrite 20000 1000 9")" ok "a library write into the punched hole"
mapping_gets m 20000 1000 9 "the mapping after a library write into a hole punched under it"
expect_eq "$(hold_ask m "store 24000 1000 10")" ok "a store into the punched hole"
read_gets w 24999 "$(byte 10 24999)" \
  "a library read of a store into a hole punched under the mapping"
hold_stop w
hold_stop m

# (f) A size change calls every lease back; a library write after it, to a block the mapping read
# meanwhile.
"$TOOL" write "$MNT/f" 0 65536 11
hold_start m "$MNT/f" rw
hold_start w "$MNT/f" none
truncate -s 100000 "$MNT/f"
mapping_has m 0 65536 11 "the mapping after the file grew through the kernel"
expect_eq "$(hold_ask w "pwrite 1000 2000 12")" ok "a library write after the size change"
mapping_gets m 1000 2000 12 "the mapping after a library write that followed a size change"
hold_stop w
hold_stop m

umount_fs
expect_fsck_clean
pass
