#!/usr/bin/env bash
# pmemfs-tune on a live mount, through the running daemon (no unmount): the label (by mount
# point and by device; FS_IOC_GETFSLABEL shows it at once, it survives the unmount),
# --writeback-ms and --cache-size; then --mode through every ordered pair of modes while fio
# (--verify=crc32c: buffered, O_DIRECT, and under pmemfs-direct, whose leases each switch calls
# back) and a create/rename/unlink workload run against the
# mount: no error, no lost byte (a reference file read with O_DIRECT after each switch, the
# workload's files at the end and after a remount), pmemfs-fsck -n clean. A switch refused while
# a direct-access lease holder is stopped (SIGSTOP) names it and leaves the mode as it was; a
# user who is neither root nor the mount's owner is refused; so are bad sizes, periods and
# modes (also beside valid values, which then do not change either), and a mount that went away
# (unmounted, or its daemon killed); refusals print one line and exit 1.
source "$(dirname "$0")/lib.sh"
need_tune
need_direct_tool
DIRECT=${PMEMFS_DIRECT_CMD:?PMEMFS_DIRECT_CMD: the pmemfs-direct program (CMake sets it)}
command -v fio >/dev/null || fail "fio is missing (Debian package fio)"

# The daemon's own account of the mount ("info" on its control socket): field $1.
live() {
  python3 - "$MNT" "$1" <<'PY'
import glob, socket, sys
for path in glob.glob("/run/pmemfs/*.sock"):
    try:
        s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(path)
        s.sendall(b"info\n"); reply = s.makefile().readline().rstrip("\n"); s.close()
    except OSError:
        continue
    f = dict(kv.split("=", 1) for kv in reply[3:].split("\t") if "=" in kv)
    if f.get("mountpoint") == sys.argv[1]:
        print(f.get(sys.argv[2], "")); sys.exit(0)
sys.exit("no daemon reports " + sys.argv[1])
PY
}
refused() {  # refused WHAT CMD...: exit 1 (REFUSED_RC: another) and one line on stderr
  local what=$1 rc=0; shift
  "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
  expect_eq "$rc" "${REFUSED_RC:-1}" "$what: exit status"
  expect_eq "$(wc -l <"$WORK/err")" 1 "$what: lines on stderr ($(cat "$WORK/err"))"
}

make_device 256M
format --label first
mount_fs
expect_eq "$(live mode)" "$MODE" "the mode the daemon reports"

# --- the label, the write-back period, the cache size ---------------------------------------
"$TUNE" -L "by mount point" "$MNT" >/dev/null || fail "pmemfs-tune -L MOUNTPOINT"
expect_eq "$($FSUTIL label "$MNT")" "by mount point" "FS_IOC_GETFSLABEL right after -L"
"$TUNE" -L second "$DEV" >/dev/null || fail "pmemfs-tune -L DEVICE of a live mount"
expect_eq "$($FSUTIL label "$MNT")" second "FS_IOC_GETFSLABEL after -L DEVICE"
refused "a label of 64 bytes" "$TUNE" -L "$(printf 'x%.0s' $(seq 64))" "$MNT"
expect_eq "$($FSUTIL label "$MNT")" second "the label after a refused one"
refused "-U on a live mount" "$TUNE" -U random "$MNT"
"$TUNE" --writeback-ms 250 "$MNT" >/dev/null || fail "pmemfs-tune --writeback-ms"
expect_eq "$(live writeback_ms)" 250 "writeback_ms after --writeback-ms 250"
"$TUNE" --writeback-ms 0 "$MNT" >/dev/null || fail "pmemfs-tune --writeback-ms 0"
expect_eq "$(live writeback_ms)" 0 "writeback_ms after --writeback-ms 0"
"$TUNE" --writeback-ms 100 "$MNT" >/dev/null || fail "pmemfs-tune --writeback-ms 100"
refused "--cache-size below the minimum" "$TUNE" --cache-size 4K "$MNT"
if [ "$MODE" = copy ]; then
  random_file "$WORK/c" 3M
  cp "$WORK/c" "$MNT/c"
  "$TUNE" --cache-size 8M "$MNT" >/dev/null || fail "pmemfs-tune --cache-size 8M"
  expect_eq "$(live cache_size)" $((8 << 20)) "cache_size after --cache-size 8M"
  dd if="$MNT/c" iflag=direct bs=1M status=none | cmp - "$WORK/c" ||
    fail "a file written before the cache resize differs"
else
  refused "--cache-size outside copy mode" "$TUNE" --cache-size 8M "$MNT"
fi
# Refused values: one line, exit 1, nothing changed (also what was valid beside them).
wb=$(live writeback_ms)
cs=$(live cache_size)
refused "a cache size that is not a size" "$TUNE" --cache-size 12Q "$MNT"
refused "a write-back period that is not a number" "$TUNE" --writeback-ms soon "$MNT"
refused "a write-back period past 32 bits" "$TUNE" --writeback-ms 4294967296 "$MNT"
# (An unknown mode is a usage error: exit 2.)
REFUSED_RC=2 refused "an unknown mode" "$TUNE" --mode turbo "$MNT"
REFUSED_RC=2 refused "an unknown mode beside a valid period" \
  "$TUNE" --writeback-ms 300 --mode turbo "$MNT"
refused "a bad cache size beside a valid label" "$TUNE" -L third --cache-size 1X "$MNT"
if [ "$MODE" = copy ]; then
  # (Parsed by the tool, refused by the daemon: no mapping that large can be made.)
  refused "a cache size past the address space beside a valid period" \
    "$TUNE" --writeback-ms 300 --cache-size 200T "$MNT"
  grep -q "cannot allocate a copy cache" "$WORK/err" ||
    fail "the daemon's refusal of a 200T cache: $(cat "$WORK/err")"
else
  refused "--cache-size outside copy mode beside a valid period" \
    "$TUNE" --writeback-ms 300 --cache-size 8M "$MNT"
fi
expect_eq "$(live writeback_ms)" "$wb" "writeback_ms after refused changes"
expect_eq "$(live cache_size)" "$cs" "cache_size after refused changes"
expect_eq "$(live mode)" "$MODE" "the mode after refused changes"
expect_eq "$($FSUTIL label "$MNT")" second "the label after refused changes"
refused "a non-owner" setpriv --reuid=65534 --regid=65534 --clear-groups "$TUNE" -L other "$MNT"
grep -q "permission denied" "$WORK/err" || fail "the non-owner refusal: $(cat "$WORK/err")"
refused "a non-owner's switch" setpriv --reuid=65534 --regid=65534 --clear-groups \
  "$TUNE" --mode direct "$MNT"
# The daemon's own check (SO_PEERCRED), past the socket directory's permissions: a process whose
# effective uid is another user's (its file-system uid root's, so that it reaches the socket).
python3 - "$MNT" <<'PY' || fail "the daemon took a change from another user"
import ctypes, glob, os, socket, sys
def ask(path, line):
    s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(path)
    try:
        s.sendall(line)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused before it read the request: the reply is waiting
    return s.makefile().readline().strip()
ours = None
for path in glob.glob("/run/pmemfs/*.sock"):
    try:
        if "\tmountpoint=%s\t" % sys.argv[1] in ask(path, b"info\n"): ours = path
    except OSError:
        pass
if ours is None: sys.exit("no daemon for " + sys.argv[1])
os.seteuid(65534)
ctypes.CDLL(None).setfsuid(0)
reply = ask(ours, b"tune label=6f74686572\n")
if reply != "error permission denied": sys.exit(reply)
PY
expect_eq "$($FSUTIL label "$MNT")" second "the label after a non-owner's change"
expect_eq "$(live mode)" "$MODE" "the mode after a non-owner's switch"

# --- every ordered pair of modes under load -------------------------------------------------
# No background write-back: what copy mode's cache holds at a switch reaches the device only
# through the switch (a file overwritten in place with O_DIRECT just before it, read back with
# O_DIRECT after it; new blocks would reach the device at allocation).
"$TUNE" --writeback-ms 0 "$MNT" >/dev/null || fail "pmemfs-tune --writeback-ms 0"
random_file "$WORK/fresh" 2M
cp "$WORK/fresh" "$MNT/fresh"
sync "$MNT/fresh"
random_file "$WORK/ref" 8M
cp "$WORK/ref" "$MNT/ref"
mkdir "$MNT/meta" "$MNT/fio"
: >"$WORK/fio.log"
( while [ ! -e "$WORK/stop" ]; do
    fio --ioengine=psync --bs=4k --size=4M --rw=randwrite --verify=crc32c --do_verify=1 \
        --verify_fatal=1 --verify_backlog=64 --fsync=32 --verify_state_save=0 \
        --name=buffered --filename="$MNT/fio/buffered" --direct=0 \
        --name=odirect --filename="$MNT/fio/odirect" --direct=1 >>"$WORK/fio.log" 2>&1 ||
      { echo "fio failed" >"$WORK/fio.failed"; break; }
  done ) &
FIO=$!
# The same under pmemfs-direct: in direct and pages mode it reads and writes the device under
# leases, which each switch calls back; in copy mode it gets none and uses the kernel.
: >"$WORK/dfio.log"
runs=0
( while [ ! -e "$WORK/stop" ]; do
    runs=$((runs + 1))
    PMEMFS_DIRECT_STATS="$WORK/dfio.$runs.stats" "$DIRECT" fio --ioengine=psync --bs=4k --size=4M --rw=randwrite --verify=crc32c \
        --do_verify=1 --verify_fatal=1 --verify_backlog=64 --fsync=32 --verify_state_save=0 \
        --name=direct --filename="$MNT/fio/direct" >>"$WORK/dfio.log" 2>&1 ||
      { echo "fio under pmemfs-direct failed" >"$WORK/dfio.failed"; break; }
  done ) &
DFIO=$!
python3 - "$MNT/meta" "$WORK/stop" "$WORK/meta.out" <<'PY' &
import os, sys
d, stop, out = sys.argv[1:]
live = {}
n = 0
try:
    while not os.path.exists(stop) or n < 200:
        a, b = os.path.join(d, "new%d" % n), os.path.join(d, "f%d" % n)
        want = ("content %d\n" % n) * (n % 7 + 1)
        with open(a, "w") as f:
            f.write(want)
        os.rename(a, b)
        live[b] = want
        if n % 3 == 0:
            victim = os.path.join(d, "f%d" % (n // 2))
            if victim in live:
                os.unlink(victim); del live[victim]
        if n % 10 == 0:
            for p, want in live.items():
                with open(p) as f:
                    if f.read() != want: raise SystemExit("wrong content in " + p)
            if sorted(os.listdir(d)) != sorted(os.path.basename(p) for p in live):
                raise SystemExit("the directory does not list what was created")
        n += 1
    with open(out, "w") as f:
        for p in sorted(live): f.write(os.path.basename(p) + "\n")
except SystemExit: raise
except Exception as e:
    raise SystemExit("metadata workload: %r" % e)
PY
META=$!

# c d p c p d (c) passes through all six ordered pairs; start where this test's mode is.
cycle=(copy direct pages copy pages direct)
for ((start = 0; start < 6; start++)); do [ "${cycle[$start]}" = "$MODE" ] && break; done
for ((i = 1; i <= 6; i++)); do
  to=${cycle[$(((start + i) % 6))]}
  from=$(live mode)
  sleep 1
  random_file "$WORK/fresh" 2M
  dd if="$WORK/fresh" of="$MNT/fresh" oflag=direct conv=notrunc bs=64k status=none
  "$TUNE" --mode "$to" "$MNT" >"$WORK/switch.out" 2>"$WORK/switch.err" ||
    fail "switch $from -> $to under load: $(cat "$WORK/switch.err")"
  expect_eq "$(live mode)" "$to" "the mode after switching $from -> $to"
  log "$(cat "$WORK/switch.out")"
  dd if="$MNT/ref" iflag=direct bs=1M status=none | cmp - "$WORK/ref" ||
    fail "the reference file differs after switching $from -> $to"
  dd if="$MNT/fresh" iflag=direct bs=64k status=none | cmp - "$WORK/fresh" ||
    fail "a file written just before switching $from -> $to differs after it"
  [ -e "$WORK/fio.failed" ] && fail "fio reported an error after switching $from -> $to: $(tail -20 "$WORK/fio.log")"
  [ -e "$WORK/dfio.failed" ] && fail "fio under pmemfs-direct reported an error after switching $from -> $to: $(tail -20 "$WORK/dfio.log")"
done
expect_eq "$(live mode)" "$MODE" "the mode after the cycle"
touch "$WORK/stop"
wait "$META" || fail "the metadata workload failed across the switches"
wait "$FIO"
wait "$DFIO"
[ -e "$WORK/fio.failed" ] && fail "fio: $(tail -20 "$WORK/fio.log")"
[ -e "$WORK/dfio.failed" ] && fail "fio under pmemfs-direct: $(tail -20 "$WORK/dfio.log")"
grep -q "direct: (groupid" "$WORK/dfio.log" || fail "fio under pmemfs-direct did not run: $(tail -5 "$WORK/dfio.log")"
cat "$WORK"/dfio.*.stats | awk '{ n += $2 + $4 + $6 } END { exit !(n > 0) }' ||
  fail "fio under pmemfs-direct never went direct ($(cat "$WORK"/dfio.*.stats))"
grep -q "buffered: (groupid" "$WORK/fio.log" || fail "fio did not run: $(tail -5 "$WORK/fio.log")"

# --- a lease holder that does not answer ------------------------------------------------------
if [ "$MODE" = copy ]; then
  "$TUNE" --mode direct "$MNT" >/dev/null || fail "switch copy -> direct for the lease test"
fi
held=$(live mode)
random_file "$MNT/held" 1M
mkfifo "$WORK/hold.in"
"$TOOL" hold "$MNT/held" <"$WORK/hold.in" >"$WORK/hold.out" 2>&1 &
HOLDER=$!
exec 7>"$WORK/hold.in"
for _ in $(seq 100); do grep -q ready "$WORK/hold.out" && break; sleep 0.1; done
grep -q ready "$WORK/hold.out" || fail "the lease holder did not start: $(cat "$WORK/hold.out")"
HPID[held]=$HOLDER
hold_pause held   # (every thread stopped: kill returns before that)
other=copy; [ "$held" = copy ] && other=direct
refused "a switch while a lease holder is stopped" "$TUNE" --mode "$other" "$MNT"
grep -q "pid $HOLDER" "$WORK/err" || fail "the refusal does not name the holder (pid $HOLDER): $(cat "$WORK/err")"
expect_eq "$(live mode)" "$held" "the mode after a refused switch"
cmp "$MNT/ref" "$WORK/ref" || fail "the reference file after a refused switch"
kill -CONT "$HOLDER"
echo quit >&7
exec 7>&-
wait "$HOLDER" || true
for _ in $(seq 50); do
  "$TUNE" --mode "$MODE" "$MNT" >/dev/null 2>"$WORK/err" && break
  sleep 0.2   # the holder's late answer and exit reach the daemon
done
expect_eq "$(live mode)" "$MODE" "the mode once the holder is gone"

# --- everything there, after a remount, fsck clean --------------------------------------------
check_meta() {
  python3 - "$MNT/meta" "$WORK/meta.out" <<'PY' || fail "the metadata workload's files $1"
import os, sys
d, out = sys.argv[1:]
want = [l.strip() for l in open(out) if l.strip()]
if sorted(os.listdir(d)) != sorted(want): sys.exit("the names differ")
for name in want:
    n = int(name[1:])
    if open(os.path.join(d, name)).read() != ("content %d\n" % n) * (n % 7 + 1):
        sys.exit(name + ": wrong content")
PY
}
check_meta "after the switches"
manifest "$MNT" >"$WORK/before"
umount_fs
expect_fsck_clean "after the switches"
mount_fs
manifest "$MNT" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "the tree changed across the remount"
cmp "$MNT/ref" "$WORK/ref" || fail "the reference file after the remount"
check_meta "after the remount"
expect_eq "$($FSUTIL label "$MNT")" second "the label after the remount"
umount_fs

# --- a mount that went away -------------------------------------------------------------------
# Unmounted: the mount point is a plain directory again; the device's live-only options refused.
refused "a switch of a mount point no longer mounted" "$TUNE" --mode direct "$MNT"
grep -q "not the mount point of a running pmemfs" "$WORK/err" ||
  fail "the refusal for an unmounted mount point: $(cat "$WORK/err")"
refused "--writeback-ms of an unmounted device" "$TUNE" --writeback-ms 5 "$DEV"
# The daemon killed under a live mount (its socket left behind, the mount dead): refused, and
# the device is not changed behind the dead mount's back.
mount_fs
kill -9 "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=""
: >"$WORK/daemon.pid"
refused "a switch of a mount whose daemon died" "$TUNE" --mode direct "$MNT"
refused "--cache-size of a mount whose daemon died" "$TUNE" --cache-size 8M "$MNT"
fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
expect_eq "$("$TUNE" -l "$DEV" | awk -F': *' '/^[Dd]efault mode/ { print $2 }')" "$MODE" \
  "the stored default mode after refusals"
pass
