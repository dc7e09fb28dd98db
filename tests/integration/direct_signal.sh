#!/usr/bin/env bash
# Library calls from a signal handler (async-signal safety, README "Direct access"): under
# pmemfs-direct, a SIGALRM handler pwrites marker records into a file (into holes, each in a
# lease window of its own, which through the library needs a grant) and preads the blocks the
# interrupted main thread wrote last, while the main thread loops on pwrite and pread of the
# same descriptor and appends to another file. A call nested in a library call of its thread
# takes the kernel's path: no hang (time-bounded), every marker and block as written, through
# the library and the kernel, and the handler's reads see the main thread's writes
# (direct_signal.cc).
source "$(dirname "$0")/lib.sh"
skip_unless_mode direct pages
DIRECT=${PMEMFS_DIRECT_CMD:?PMEMFS_DIRECT_CMD: the pmemfs-direct program (CMake sets it)}
SIGNAL=${PMEMFS_DIRECT_SIGNAL:?PMEMFS_DIRECT_SIGNAL: pmemfs-direct-signal (CMake sets it)}
make_device 256M
format
mount_fs

mkdir "$MNT/sig"
for round in 1 2; do
  rm -f "$MNT/sig/m" "$MNT/sig/b" "$MNT/sig/l" "$WORK/sig.stats"
  rc=0
  PMEMFS_DIRECT_STATS="$WORK/sig.stats" timeout -k 5 60 "$DIRECT" "$SIGNAL" "$MNT/sig" 300 \
    >"$WORK/sig.out" 2>&1 || rc=$?
  hung=$([ "$rc" = 124 ] && echo ' (hung: killed after 60 s)' || true)
  [ "$rc" = 0 ] || fail "round $round: exit $rc$hung: $(tail -3 "$WORK/sig.out")"
  grep -q '^markers 300 ' "$WORK/sig.out" || fail "round $round: $(cat "$WORK/sig.out")"
  # The main thread's calls were the library's (served in the device).
  awk '{ r += $2; w += $4 } END { exit !(r > 0 && w > 0) }' "$WORK/sig.stats" ||
    fail "round $round without direct access ($(cat "$WORK/sig.stats" 2>/dev/null || echo none))"
done
pass
