#!/usr/bin/env bash
# kill.sh: SIGKILL of the daemon at random moments under concurrent load, several rounds.
#
#   kill.sh MODE PMEMFS MKPMEMFS [PMEMFS_FSCK]      (how ctest runs it)
#
# Each round: mount; WRITERS processes (killload.py writer) create, append, overwrite, truncate,
# rename and unlink files in their own directories with known patterns, logging what was
# acknowledged (direct, pages: when the call returned; copy: when fsync of the file or directory
# returned) to logs outside the mount; after a seeded random delay the daemon gets SIGKILL and the
# dead mount is taken down (fusermount3 -u, else umount -l). Then:
#   - pmemfs-fsck -n on the device must find nothing, except what the next mount finishes by
#     design: a committed journal transaction not applied yet (the daemon died between a
#     transaction's commit point and the end of its in-place updates; Store::Open replays it, and
#     fsck checks the rest of the device as it will be after that replay), inodes with nlink 0
#     (unlinked while the kernel still held them, or freed part way; freed at mount, as ext4's
#     orphan list) and an interrupted truncate (finished at mount). Any other problem fails the
#     test. When there was such a problem, the device is mounted and cleanly unmounted, and
#     pmemfs-fsck -n must then find nothing at all.
#   - mount again (this replays the journal) and check every writer directory of this round:
#     every acknowledged operation is there, nothing else but the one operation in flight per
#     writer (whole or not at all; a write may be torn, see killload.py), no bytes nobody wrote
#     (killload.py verify; in copy mode an unacknowledged write's range past the old size may
#     read as zeros: its size change is committed before its cached data is written back). The directories of earlier rounds must be exactly as verified then.
# At the end: a clean unmount, and pmemfs-fsck -n must find nothing at all.
#
# Environment: KILL_SEED (default: fixed per mode), KILL_ROUNDS (4), KILL_WRITERS (3),
# KILL_MAX_DELAY_MS (1500: the kill comes 100 ms..this long after every writer's first ack),
# KILL_MOUNT_OPTS (more -o options for the daemon).
# lib.sh's watchdog: 150 s (under ctest's TIMEOUT) for the default 4 rounds, more for more.
[ "${KILL_ROUNDS:-4}" -gt 4 ] && : "${PMEMFS_IT_DEADLINE:=$((40 * KILL_ROUNDS))}" && export PMEMFS_IT_DEADLINE
source "$(dirname "$0")/../integration/lib.sh"
FSCK=${4:-}
LOAD="python3 $(cd "$(dirname "$0")" && pwd)/killload.py"
case $MODE in direct) base=101 ;; copy) base=202 ;; *) base=303 ;; esac
SEED=${KILL_SEED:-$base}
ROUNDS=${KILL_ROUNDS:-4}
WRITERS=${KILL_WRITERS:-3}
MAX_DELAY_MS=${KILL_MAX_DELAY_MS:-1500}
MOUNT_OPTS=${KILL_MOUNT_OPTS:-}
RANDOM=$SEED
sync=none verify_mode=strict
[ "$MODE" = copy ] && { sync=fsync; verify_mode=size-first; }
log "seed $SEED, $ROUNDS rounds of $WRITERS writers (rerun: KILL_SEED=$SEED)"

# What a mount finishes by design after a crash (Store::Open and the filesystem's mount): a
# committed journal transaction not applied yet, inodes with no names left (unlinked while the
# kernel still referenced them, or freed part way: the orphans) and an interrupted truncate.
FINISHED_AT_MOUNT='^journal: a committed transaction of .* has not been applied yet|^inode: inode [0-9]+: unlinked but still allocated|^inode: inode [0-9]+: an interrupted truncate to '

# fsck_after_kill ROUND: pmemfs-fsck -n must find nothing, or only what the next mount finishes;
# then a mount and a clean unmount, and pmemfs-fsck -n must find nothing at all.
fsck_after_kill() {
  [ -n "$FSCK" ] || return 0
  local rc=0 others
  "$FSCK" -n "$DEV" >"$WORK/fsck.out" 2>&1 || rc=$?
  if [ "$rc" = 0 ]; then
    log "round $1: pmemfs-fsck -n: clean"
    return 0
  fi
  [ "$rc" = 4 ] || fail "round $1: pmemfs-fsck -n after the kill (status $rc): $(cat "$WORK/fsck.out")"
  others=$(grep -vF "$DEV: " "$WORK/fsck.out" | grep -cvE "$FINISHED_AT_MOUNT" || true)
  [ "$others" = 0 ] || fail "round $1: pmemfs-fsck -n after the kill (status 4): $(cat "$WORK/fsck.out")"
  log "round $1: pmemfs-fsck -n: only what a mount finishes:" \
      "$(grep -vF "$DEV: " "$WORK/fsck.out" | sed -E 's/ [0-9]+:/ N:/; s/of [0-9]+ records/of N records/; s/ to [0-9]+.*/ .../' | sort | uniq -c | tr -s ' \n' ' ')"
  mount_fs
  umount_fs
  rc=0
  "$FSCK" -n "$DEV" >"$WORK/fsck.out" 2>&1 || rc=$?
  [ "$rc" = 0 ] || fail "round $1: pmemfs-fsck -n after a mount and a clean unmount (status $rc): $(cat "$WORK/fsck.out")"
  log "round $1: pmemfs-fsck -n after a mount and a clean unmount: clean"
}

make_device 256M
format
mount_fs

total_acks=0
for round in $(seq "$ROUNDS"); do
  pids=()
  for w in $(seq "$WRITERS"); do mkdir "$MNT/r$round-w$w"; done
  sync -f "$MNT"   # (copy mode: the directories are there before anything is acknowledged)
  for w in $(seq "$WRITERS"); do
    d=r$round-w$w
    : >"$WORK/log-$d"
    $LOAD writer "$MNT/$d" "$WORK/log-$d" "$((SEED * 1000 + round * 10 + w))" "$sync" \
      >"$WORK/out-$d" 2>&1 &
    pids+=($!)
  done
  # Every writer under way, then the random moment.
  for i in $(seq 300); do
    n=0
    for w in $(seq "$WRITERS"); do grep -q '^A ' "$WORK/log-r$round-w$w" && n=$((n + 1)); done
    [ "$n" = "$WRITERS" ] && break
    sleep 0.1
  done
  [ "$n" = "$WRITERS" ] || fail "round $round: only $n of $WRITERS writers got an operation acknowledged in 30 s"
  delay_ms=$((100 + RANDOM % (MAX_DELAY_MS - 100)))
  sleep "$((delay_ms / 1000)).$(printf %03d $((delay_ms % 1000)))"
  # A writer stops only when the daemon is gone: one that stopped already met an error of pmemfs.
  for w in $(seq "$WRITERS"); do
    kill -0 "${pids[$((w - 1))]}" 2>/dev/null ||
      fail "round $round: writer $w stopped before the kill: $(cat "$WORK/out-r$round-w$w")"
  done
  crash_daemon
  for p in "${pids[@]}"; do wait "$p" || true; done   # the writers stop with ENOTCONN
  acks=$(cat "$WORK"/log-r$round-* | grep -c '^A ' || true)
  total_acks=$((total_acks + acks))
  log "round $round: killed after ${delay_ms} ms, $acks acknowledged operations;" \
      "writers: $(cat "$WORK"/out-r$round-* | tr '\n' ' ')"

  fsck_after_kill "$round"
  mount_fs
  out=$($LOAD round "$WORK" "$MNT" "$round" "$WRITERS" "$verify_mode" 2>&1) || fail "$out"
  while read -r line; do log "round $round, $line"; done <<<"$out"
  # Nothing in the root but the writers' directories (and the RAM directory).
  expect_eq "$(ls "$MNT" | grep -vx ram | grep -cv '^r[0-9]*-w[0-9]*$' || true)" 0 \
    "entries in the root other than the writers' directories: $(ls "$MNT" | tr '\n' ' ')"
done

umount_fs
if [ -n "$FSCK" ]; then
  "$FSCK" -n "$DEV" >"$WORK/fsck.out" 2>&1 || fail "pmemfs-fsck -n after a clean unmount (status $?): $(cat "$WORK/fsck.out")"
  log "pmemfs-fsck -n after a clean unmount: $(tail -n 1 "$WORK/fsck.out")"
fi
log "$ROUNDS kills, $total_acks acknowledged operations verified"
pass
