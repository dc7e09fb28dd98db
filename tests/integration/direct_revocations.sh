#!/usr/bin/env bash
# Revocations as a holder under pmemfs-direct counts them (PMEMFS_DIRECT_STATS: "revocations N",
# the daemon's callbacks the library answered), in direct and pages mode:
#   - a truncate through the kernel of a file the holder has a lease on calls it back once, and
#     its next read through the library ends at the new size;
#   - a truncate of a file whose lease was called back already (no read since) calls nobody;
#   - a write through the kernel in place (no block changes) calls nobody, and the holder's next
#     read sees it.
source "$(dirname "$0")/lib.sh"
skip_unless_mode direct pages
DIRECT=${PMEMFS_DIRECT_CMD:?PMEMFS_DIRECT_CMD: the pmemfs-direct program (CMake sets it)}
need_direct_tool
make_device 64M
format
mount_fs

# holder.py FILE FLAG: holds FILE open read-only and answers commands on stdin, one line each:
# "read OFF" (the byte at OFF, or eof; then a close of FLAG, which appends the library's counters
# since the last line to $PMEMFS_DIRECT_STATS), "size" (fstat), "quit".
cat >"$WORK/holder.py" <<'PY'
import os, sys
path, flag = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDONLY)
print("ready", flush=True)
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "read":
        b = os.pread(fd, 1, int(cmd[1]))
        os.close(os.open(flag, os.O_RDONLY))
        print(b[0] if b else "eof", flush=True)
    elif cmd[0] == "size":
        print(os.fstat(fd).st_size, flush=True)
    elif cmd[0] == "quit":
        break
PY

# answer N: line N of the holder's output, once it is there (10 s at most).
answer() {
  local i
  for i in $(seq 200); do
    if [ "$(wc -l <"$WORK/h.out")" -ge "$1" ]; then
      sed -n "${1}p" "$WORK/h.out"
      return 0
    fi
    kill -0 "$HPID" 2>/dev/null || fail "the holder died: $(tail -n 3 "$WORK/h.err")"
    sleep 0.05
  done
  fail "the holder did not answer within 10 s"
}
# ask COMMAND: sends it to the holder, prints the answer.
ask() {
  local n
  n=$(wc -l <"$WORK/h.out")
  echo "$1" >&"$HFD"
  answer $((n + 1))
}
# stat_sum FIELD: the sum of FIELD over the holder's stats lines so far.
stat_sum() {
  awk -v f="$1" '{ for (i = 1; i < NF; i++) if ($i == f) n += $(i + 1) } END { print n + 0 }' \
    "$WORK/h.stats" 2>/dev/null || echo 0
}
# byte SEED OFF: the pattern byte at OFF (what "$TOOL" write wrote there).
byte() { "$TOOL" dump - "$2" 1 "$1" | od -An -tu1 | tr -d ' '; }

"$TOOL" write "$MNT/f" 0 65536 1
: >"$MNT/flag"
mkfifo "$WORK/h.in"
: >"$WORK/h.out"
PMEMFS_DIRECT_STATS="$WORK/h.stats" "$DIRECT" python3 "$WORK/holder.py" "$MNT/f" "$MNT/flag" \
  <"$WORK/h.in" >"$WORK/h.out" 2>"$WORK/h.err" &
HPID=$!
exec {HFD}>"$WORK/h.in"
expect_eq "$(answer 1)" ready "the holder"

expect_eq "$(ask 'read 40000')" "$(byte 1 40000)" "the holder's read"
[ "$(stat_sum reads)" -ge 1 ] || fail "the holder's read did not go through the library: $(cat "$WORK/h.stats" 2>/dev/null)"
expect_eq "$(stat_sum revocations)" 0 "revocations before any change"

# A truncate calls the holder back once; its next reads end at the new size.
timeout 60 truncate -s 10000 "$MNT/f" || fail "truncate of a file another process holds"
expect_eq "$(ask 'read 12001')" eof "the holder's read past the new end"
expect_eq "$(stat_sum revocations)" 1 "revocations after a truncate"
expect_eq "$(ask 'read 9999')" "$(byte 1 9999)" "the holder's read of the last byte"
expect_eq "$(ask size)" 10000 "the holder's fstat after the truncate"

# Its read took a lease again: the next truncate calls it back, the one after that (no read in
# between, no lease) nobody.
timeout 60 truncate -s 5000 "$MNT/f" || fail "the second truncate"
timeout 60 truncate -s 3000 "$MNT/f" || fail "the third truncate"
expect_eq "$(ask 'read 3000')" eof "the holder's read past the end after two truncates"
expect_eq "$(stat_sum revocations)" 2 "revocations after a truncate with a lease and one without"
expect_eq "$(ask 'read 2999')" "$(byte 1 2999)" "the holder's read of the last byte"

# A write through the kernel in place changes no block: nobody is called back, and the holder
# reads what it wrote.
"$TOOL" kernel-write "$MNT/f" 0 2000 2
expect_eq "$(ask 'read 1000')" "$(byte 2 1000)" "the holder's read after a kernel write in place"
expect_eq "$(stat_sum revocations)" 2 "revocations after a kernel write in place"
[ "$(stat_sum reads)" -ge 4 ] || fail "the holder's reads did not all go through the library: $(cat "$WORK/h.stats")"

echo quit >&"$HFD"
wait "$HPID" || fail "the holder exited with status $?"
exec {HFD}>&-
expect_eq "$(stat_sum revocations)" 2 "revocations the holder counted in all"
umount_fs
expect_fsck_clean
pass
