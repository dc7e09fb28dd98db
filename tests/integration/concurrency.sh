#!/usr/bin/env bash
# Many processes at once (the daemon's session loop is multithreaded): writers of distinct
# files, writers of distinct ranges of one shared file, creates/renames/unlinks in one directory,
# and readers, all together; then every result is checked, and again after a remount.
source "$(dirname "$0")/lib.sh"
make_device 256M
format
mount_fs

N=6
random_file "$WORK/src" ${N}M
mkdir "$MNT/files" "$MNT/churn"
truncate -s $((N * 1048576)) "$MNT/shared"
pids=()
for i in $(seq 0 $((N - 1))); do
  # own file, written in odd-sized pieces
  (dd if="$WORK/src" of="$MNT/files/f$i" bs=12345 status=none) &
  pids+=($!)
  # own 1 MiB slice of the shared file
  (dd if="$WORK/src" of="$MNT/shared" bs=65536 count=16 skip=$((i * 16)) seek=$((i * 16)) conv=notrunc status=none) &
  pids+=($!)
  # create, rename and unlink in one directory
  (for k in $(seq 200); do
     echo "$i.$k" >"$MNT/churn/t$i.$k"
     mv "$MNT/churn/t$i.$k" "$MNT/churn/k$i.$k"
     [ $((k % 2)) = 0 ] && rm "$MNT/churn/k$i.$k"
   done) &
  pids+=($!)
  # a reader of the source data while the rest goes on
  (for k in $(seq 20); do cat "$MNT/files/f0" >/dev/null 2>&1 || true; done) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent worker (pid $p) failed"; done

check() {
  local i
  for i in $(seq 0 $((N - 1))); do expect_same "$MNT/files/f$i" "$WORK/src"; done
  head -c $((N * 1048576)) "$WORK/src" >"$WORK/shared"
  expect_same "$MNT/shared" "$WORK/shared"
  expect_eq "$(ls "$MNT/churn" | wc -l)" $((N * 100)) "entries left in churn/"
  expect_eq "$(ls "$MNT/churn" | count '^t')" 0 "temporary names left in churn/"
  expect_eq "$(cat "$MNT/churn/k3.77")" 3.77 "content of churn/k3.77"
}
check
remount
check
pass
