#!/usr/bin/env bash
# fsx_selftest.sh: pmemfs-fsx finds, reports and shrinks a real divergence. The "pmemfs" side is
# a second tmpfs, which (unlike pmemfs) refuses FALLOC_FL_ZERO_RANGE, while the reference side
# emulates it: a run must stop at the first zero-range fallocate of an existing file, shrink the
# sequence to at most 3 operations (a create, maybe a rename or mkdir, the fallocate) and print
# a command line that reproduces the divergence.
#
#   fsx_selftest.sh PMEMFS_FSX       (ctest random.fsx.selftest; needs root to mount tmpfs)
set -Eeuo pipefail
FSX=${1:?usage: $0 PMEMFS_FSX}
WORK=$(mktemp -d /tmp/pmemfs-fsx-selftest-$$.XXXX)
REF=/dev/shm/pmemfs-fsx-selftest-ref-$$
fail() { echo "FAIL [fsx-selftest]: $*" >&2; exit 1; }
cleanup() {
  set +e
  mountpoint -q "$WORK/fs" && umount "$WORK/fs"
  rm -rf "$WORK" "$REF"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || fail "needs root (mounts a tmpfs)"
mkdir "$WORK/fs" "$REF"
mount -t tmpfs -o size=64M pmemfs-fsx-selftest "$WORK/fs"

rc=0
"$FSX" --dir "$WORK/fs" --ref "$REF" --seed 7 --ops 3000 >"$WORK/out" 2>&1 || rc=$?
cat "$WORK/out"
[ "$rc" = 1 ] || fail "pmemfs-fsx exited with $rc, expected 1 (a divergence)"
grep -q '^pmemfs-fsx: DIVERGENCE: seed 7, step [0-9]* of [0-9]*: fallocate .*flags=\(16\|17\)$' "$WORK/out" ||
  fail "the divergence is not reported at a zero-range fallocate with its seed and step"
grep -q '^  result EOPNOTSUPP (pmemfs) vs ok 0 (reference)$' "$WORK/out" ||
  fail "what differed is not reported"
n=$(sed -n 's/^minimal sequence: \([0-9]*\) ops.*/\1/p' "$WORK/out")
[ -n "$n" ] && [ "$n" -ge 2 ] && [ "$n" -le 3 ] || fail "minimal sequence of '$n' ops, expected 2 or 3"
[ "$(sed -n '/^minimal sequence/,/^reproduce/p' "$WORK/out" | grep -c '^  fallocate ')" = 1 ] ||
  fail "the minimal sequence does not end in the one fallocate"

# The printed command line reproduces it (without shrinking again).
cmd=$(sed -n '/^reproduce with:/{n;p}' "$WORK/out")
[ -n "$cmd" ] || fail "no reproducing command line printed"
rc=0
bash -c "$cmd --no-shrink" >"$WORK/replay" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q 'DIVERGENCE: replay of -' "$WORK/replay" ||
  fail "the printed command line did not reproduce the divergence (status $rc): $(cat "$WORK/replay")"
echo "[fsx-selftest] PASS: divergence found, shrunk to $n ops, reproduced by the printed command"
