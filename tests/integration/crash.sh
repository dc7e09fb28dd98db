#!/usr/bin/env bash
# kill -9 of the daemon under a write workload: two writers append records (and rename full
# files) and log what was acknowledged (copy: after fsync; direct, pages: when write/rename
# returned). After the kill, the dead mount is taken down, the device mounted again, and every
# acknowledged record and rename must be there, intact. Twice, so recovery runs on a device that
# was itself recovered; then the filesystem must still work and unmount cleanly.
source "$(dirname "$0")/lib.sh"
make_device 256M
format
mount_fs

sync=none
[ "$MODE" = copy ] && sync=fsync

# round N: writers in $MNT/rN-w1 and $MNT/rN-w2 until about 20000 records are acknowledged (or
# 5 s), then kill -9, unmount, mount.
round() {
  local r=$1 w i pids=()
  mkdir "$MNT/r$r-w1" "$MNT/r$r-w2"
  sync -f "$MNT"
  for w in w1 w2; do
    : >"$WORK/ack-r$r-$w"
    $FSUTIL writer "$MNT/r$r-$w" "$WORK/ack-r$r-$w" $sync 60 >"$WORK/out-r$r-$w" 2>&1 &
    pids+=($!)
  done
  for i in $(seq 50); do
    [ "$(cat "$WORK"/ack-r$r-* | wc -l)" -ge 20000 ] && break
    sleep 0.1
  done
  crash_daemon
  wait "${pids[@]}" || true   # the writers stop with ENOTCONN
  log "round $r: $(cat "$WORK"/ack-r$r-* | wc -l) acknowledgements;" \
      "writers: $(cat "$WORK"/out-r$r-* | tr '\n' ' ')"
  [ "$(cat "$WORK/ack-r$r-w1" | wc -l)" -gt 0 ] || fail "round $r: writer 1 acknowledged nothing: $(cat "$WORK/out-r$r-w1")"
  mount_fs
}
verify() {
  local f out
  for f in "$WORK"/ack-*; do
    d=${f#"$WORK"/ack-}
    out=$($FSUTIL verify "$MNT/$d" "$f" 2>&1) || fail "after kill -9, in $d: $out"
    log "$d: $out"
  done
}

round 1
verify
round 2
verify

# Still a working filesystem: write, remove, unmount cleanly, mount, read.
random_file "$WORK/after" 2M
cp "$WORK/after" "$MNT/after"
rm -r "$MNT/r1-w1"
remount
expect_same "$MNT/after" "$WORK/after"
[ -e "$MNT/r1-w1" ] && fail "r1-w1 is back after its removal and a remount"
expect_eq "$(ls "$MNT" | sed '/^ram$/d' | tr '\n' ' ')" "after r1-w2 r2-w1 r2-w2 " \
  "the root directory after recovery and cleanup"
pass
