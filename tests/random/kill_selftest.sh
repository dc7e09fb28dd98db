#!/usr/bin/env bash
# kill_selftest.sh: killload.py verify (what kill.sh relies on) accepts what a writer really left
# and rejects each kind of damage: an acknowledged write lost, bytes nobody wrote, a file nobody
# created, an acknowledged unlink undone, a lost file. No mount: the writer runs on a tmpfs
# directory and is stopped with SIGKILL.
#
#   kill_selftest.sh        (ctest random.kill.selftest)
set -Eeuo pipefail
LOAD="python3 $(cd "$(dirname "$0")" && pwd)/killload.py"
WORK=$(mktemp -d /dev/shm/pmemfs-kill-selftest-$$.XXXX)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL [kill-selftest]: $*" >&2; exit 1; }

D=$WORK/w1
mkdir "$D"
: >"$WORK/log"
$LOAD writer "$D" "$WORK/log" 7 none >/dev/null 2>&1 &
pid=$!
for i in $(seq 100); do
  [ "$(grep -c '^A ' "$WORK/log")" -ge 3000 ] && break
  sleep 0.05
done
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
acks=$(grep -c '^A ' "$WORK/log")
[ "$acks" -ge 100 ] || fail "the writer acknowledged only $acks operations"
out=$($LOAD verify "$D" "$WORK/log") || fail "verify rejected what the writer left: $out"
echo "[kill-selftest] $out"

# expect_reject WHAT: verify must now fail (the damage was just done to a copy of $D).
expect_reject() {
  local out rc=0
  out=$($LOAD verify "$WORK/c/w1" "$WORK/log" 2>&1) || rc=$?
  [ "$rc" != 0 ] || fail "verify accepted $1"
  echo "[kill-selftest] rejected $1: $out"
}
fresh() { rm -rf "$WORK/c"; mkdir "$WORK/c"; cp -a "$D" "$WORK/c/w1"; }
# The names the operation in flight (the last one begun) touches: damage goes elsewhere, where
# no "it happened, or was torn" can explain it.
inflight=$(awk '$1 == "B" { line = $0 } END { split(line, f, " "); print " " f[4] " " f[5] " " }' "$WORK/log")
biggest() {
  local n
  for n in $(ls -S "$WORK/c/w1"); do
    [[ $inflight == *" $n "* ]] || { echo "$n"; return; }
  done
}

# patch FILE EXPR: rewrites FILE's bytes d (a bytearray) with the Python statement EXPR.
patch() {
  python3 -c 'import sys
d = bytearray(open(sys.argv[1], "rb").read())
exec(sys.argv[2])
open(sys.argv[1], "wb").write(d)' "$1" "$2"
}
fresh
f=$(biggest)
[ -n "$f" ] && [ "$(stat -c %s "$WORK/c/w1/$f")" -gt 16 ] || fail "no file of data to damage: $(ls -lS "$WORK/c/w1" | head -5 | tr "\n" " "), in flight:$inflight"
patch "$WORK/c/w1/$f" 'd[len(d) // 2] ^= 0xff'
expect_reject "a byte nobody wrote"
fresh
patch "$WORK/c/w1/$(biggest)" 'i = next(i for i, b in enumerate(d) if b); d[i:i + 16] = bytes(16)'
expect_reject "zeros over written data"
fresh
truncate -s -1 "$WORK/c/w1/$(biggest)"
expect_reject "the last byte of a file lost"
fresh
rm "$WORK/c/w1/$(biggest)"
expect_reject "a lost file"
fresh
touch "$WORK/c/w1/stray"
expect_reject "a file nobody created"
# The last acknowledged unlink, undone.
fresh
name=$(awk '$1 == "B" && $3 == "unlink" { u[$2] = $4 } $1 == "A" && ($2 in u) { n = u[$2] }
            END { print n }' "$WORK/log")
[ -n "$name" ] || fail "the writer made no unlink"
touch "$WORK/c/w1/$name"
expect_reject "an acknowledged unlink undone"
echo "[kill-selftest] PASS"
