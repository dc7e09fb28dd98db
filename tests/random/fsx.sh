#!/usr/bin/env bash
# fsx.sh: pmemfs-fsx over a real mount in one mode: for each seed, a random operation sequence
# on $MNT/fsx and on a reference tree on tmpfs (/dev/shm), compared after every step; the seeds
# run concurrently (a divergence that needs the concurrency may not shrink). The first
# seed's trees are kept, the filesystem remounted, and the trees compared again (what was
# written survives an unmount). At the end a clean unmount and pmemfs-fsck -n must find nothing.
#
#   fsx.sh MODE PMEMFS MKPMEMFS PMEMFS_FSX [PMEMFS_FSCK]     (how ctest runs it)
#
# Environment: FSX_SEEDS (default "1 2 3", offset by mode so each mode runs other sequences),
# FSX_RAM_SEED (default 4, offset by mode: one more seed run in the RAM directory; empty: none),
# FSX_OPS (default 2500 per seed), FSX_ARGS (more pmemfs-fsx options, e.g. --max-len 4194304),
# FSX_MOUNT_OPTS (more -o options for the daemon, e.g. cache_size=1M,writeback_ms=1 in copy mode).
# tests/random/fsx-long runs this with many random seeds.
source "$(dirname "$0")/../integration/lib.sh"
FSX=${4:?usage: $0 MODE PMEMFS MKPMEMFS PMEMFS_FSX [PMEMFS_FSCK]}
FSCK=${5:-}
case $MODE in direct) base=0 ;; copy) base=1000 ;; *) base=2000 ;; esac
SEEDS=${FSX_SEEDS:-"$((base + 1)) $((base + 2)) $((base + 3))"}
RAM_SEED=${FSX_RAM_SEED-$((base + 4))}
OPS=${FSX_OPS:-2500}
read -r -a EXTRA <<<"${FSX_ARGS:-}"
MOUNT_OPTS=${FSX_MOUNT_OPTS:-}

REF=/dev/shm/pmemfs-fsx-ref-$MODE-$$
mkdir "$REF"
[ "$(stat -f -c %T "$REF")" = tmpfs ] || fail "$REF is not on tmpfs"
trap 'rc=$?; set +e; rm -rf "$REF"; (exit $rc); cleanup' EXIT   # (set +e: errexit holds in traps)

make_device 512M   # (a 32 MiB RAM partition)
format
mount_fs
mkdir "$MNT/fsx"

# The seeds run at the same time (each in its own tree), so the daemon serves them concurrently.
total=0
first=""
pids=()
for seed in $SEEDS; do
  keep=()
  [ -z "$first" ] && { first=$seed; keep=(--keep); }
  "$FSX" --dir "$MNT/fsx" --ref "$REF" --seed "$seed" --ops "$OPS" --shrink-seconds 60 \
    "${keep[@]}" "${EXTRA[@]}" >"$WORK/fsx-$seed.out" 2>&1 &
  pids+=($!)
done
# One more seed in the RAM directory (volatile files in the device's RAM partition).
if [ -n "$RAM_SEED" ]; then
  mkdir "$MNT/ram/fsx" "$REF/ram"
  "$FSX" --dir "$MNT/ram/fsx" --ref "$REF/ram" --seed "$RAM_SEED" --ops "$OPS" --shrink-seconds 60 \
    "${EXTRA[@]}" >"$WORK/fsx-ram.out" 2>&1 &
  ram_pid=$!
fi
i=0
failed=""
for seed in $SEEDS; do
  rc=0
  wait "${pids[$i]}" || rc=$?
  i=$((i + 1))
  if [ "$rc" != 0 ]; then
    echo "---- pmemfs-fsx seed $seed (status $rc) ----"
    cat "$WORK/fsx-$seed.out"
    failed+="$seed "
  else
    log "$(cat "$WORK/fsx-$seed.out")"
    total=$((total + OPS))
  fi
done
if [ -n "$RAM_SEED" ]; then
  rc=0
  wait "$ram_pid" || rc=$?
  if [ "$rc" != 0 ]; then
    echo "---- pmemfs-fsx seed $RAM_SEED in the RAM directory (status $rc) ----"
    cat "$WORK/fsx-ram.out"
    failed+="$RAM_SEED(ram) "
  else
    log "RAM directory: $(cat "$WORK/fsx-ram.out")"
    total=$((total + OPS))
  fi
  rmdir "$MNT/ram/fsx"
fi
[ -z "$failed" ] || fail "pmemfs-fsx failed for seed(s) $failed(rerun one: FSX_SEEDS=S FSX_OPS=$OPS $0 $MODE ...)"

# The first seed's trees after an unmount and a mount.
remount
out=$("$FSX" --dir "$MNT/fsx" --ref "$REF" --compare "fsx-$first" 2>&1) ||
  fail "after a remount: $out"
log "after a remount: $out"

rmdir "$MNT/fsx" || fail "$MNT/fsx not empty after the runs: $(ls -A "$MNT/fsx")"
umount_fs
if [ -n "$FSCK" ]; then
  "$FSCK" -n "$DEV" >"$WORK/fsck.out" 2>&1 || fail "pmemfs-fsck -n after the runs (status $?): $(cat "$WORK/fsck.out")"
  log "pmemfs-fsck -n: $(tail -n 1 "$WORK/fsck.out")"
fi
nseeds=$(echo "$SEEDS" | wc -w)
[ -n "$RAM_SEED" ] && nseeds=$((nseeds + 1))
log "$total differential operations in $nseeds seeds"
pass
