#!/usr/bin/env bash
# The pause of an online mode switch (pmemfs-tune --mode on a live mount), as issue 12 asks:
# from the request to resume (the daemon's pause_ns: the gate closed to open), and the longest
# wait of a request that arrived during it (pause_longest_wait_ns: measured by the gate for
# every request that had to wait). Two cases:
#   idle   a copy mode mount with nothing cached, switched copy -> direct;
#   dirty  a copy mode mount whose cache holds DIRTY of data overwritten in place (O_DIRECT, so
#          the kernel page cache holds none of it), switched copy -> direct: the switch writes
#          it back.
# During each switch four reader threads issue small O_DIRECT reads without pause, so requests
# arrive while the gate is closed. Not a test: one run on a shared machine; repeat and read the
# figures, never assert them.
#
#   sudo bench/online_switch.sh [BUILD_DIR]      DIRTY=1G RUNS=3
set -euo pipefail
build="$(realpath -m "${1:-build}")"
dirty="${DIRTY:-1G}"
runs="${RUNS:-3}"
pmemfs="$build/fs/pmemfs"
mkfs="$build/tools/mkpmemfs"
tune="$build/tools/tune/pmemfs-tune"
work=$(mktemp -d /tmp/pmemfs-switch.XXXX)
dev=/dev/shm/pmemfs-switch-$$.img
pid=""
cleanup() {
  [ -n "$reader" ] && kill "$reader" 2>/dev/null || true
  mountpoint -q "$work/mnt" && fusermount3 -u "$work/mnt" || true
  [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  rm -rf "$work" "$dev"
}
reader=""
trap cleanup EXIT
mkdir "$work/mnt"
bytes=$(numfmt --from=iec "$dirty")
truncate -s $((bytes * 2 + (512 << 20))) "$dev"
"$mkfs" -q --mode copy "$dev"

info() {  # info FIELD: from the daemon of $work/mnt
  python3 - "$work/mnt" "$1" <<'PY'
import glob, socket, sys
for path in glob.glob("/run/pmemfs/*.sock"):
    try:
        s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(path)
        s.sendall(b"info\n"); r = s.makefile().readline().rstrip("\n"); s.close()
    except OSError:
        continue
    f = dict(kv.split("=", 1) for kv in r[3:].split("\t") if "=" in kv)
    if f.get("mountpoint") == sys.argv[1]: print(f.get(sys.argv[2], "")); sys.exit(0)
sys.exit("no daemon")
PY
}
mount_copy() {
  "$pmemfs" "$dev" "$work/mnt" -f -o "mode=copy,config=none,writeback_ms=0,cache_size=$((bytes + (256 << 20)))" \
    >"$work/daemon.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do mountpoint -q "$work/mnt" && return; sleep 0.1; done
  echo "not mounted: $(cat "$work/daemon.log")" >&2; exit 1
}
# one CASE: prints a table row
one() {
  local case=$1
  mount_copy
  head -c 4M /dev/urandom >"$work/mnt/probe"
  if [ "$case" = dirty ]; then
    dd if=/dev/zero of="$work/mnt/big" bs=1M count=$((bytes >> 20)) status=none
    sync -f "$work/mnt/big"   # allocated and on the device
    dd if=/dev/urandom of="$work/mnt/big" bs=1M count=$((bytes >> 20)) oflag=direct \
      conv=notrunc status=none   # now dirty in the daemon's cache only
  fi
  python3 - "$work/mnt/probe" "$work/stop" "$work/ready" <<'PY' &
import mmap, os, sys, threading
def read():
    fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, 4096)
    i = 0
    while not os.path.exists(sys.argv[2]):
        os.preadv(fd, [buf], (i % 1024) * 4096); i += 1
        if i == 100: open(sys.argv[3], "a").close()
ts = [threading.Thread(target=read) for _ in range(4)]
for t in ts: t.start()
for t in ts: t.join()
PY
  reader=$!
  for _ in $(seq 100); do [ -e "$work/ready" ] && break; sleep 0.05; done
  rm -f "$work/ready"
  local t0 t1
  t0=$(date +%s%N)
  "$tune" --mode direct "$work/mnt" >"$work/switch.out"
  t1=$(date +%s%N)
  sleep 0.2
  touch "$work/stop"; wait "$reader" || true; reader=""; rm -f "$work/stop"
  printf "| %s | %s | %.3f | %.3f | %s | %.3f | %.0f |\n" "$case" "$([ "$case" = dirty ] && echo "$dirty" || echo 0)" \
    "$(echo "$(info pause_ns) / 1000000" | bc -l)" \
    "$(grep -o 'drain_ns=[0-9]*' "$work/switch.out" | cut -d= -f2 | awk '{print $1/1000000}')" \
    "$(info pause_waiters)" \
    "$(echo "$(info pause_longest_wait_ns) / 1000000" | bc -l)" \
    "$(echo "($t1 - $t0) / 1000000" | bc -l)"
  fusermount3 -u "$work/mnt"; wait "$pid" || true; pid=""
  "$mkfs" -q --force --mode copy "$dev"
}
echo "| case | dirty cache | pause (ms) | drain (ms) | requests that waited | longest wait (ms) | pmemfs-tune wall (ms) |"
echo "|---|---|---|---|---|---|---|"
for ((r = 0; r < runs; r++)); do
  one idle
  one dirty
done
