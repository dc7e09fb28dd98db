#!/usr/bin/env bash
# fsync, fdatasync and msync under pmemfs-direct (direct and pages mode), as README says:
#   - an fsync of a file only this process opened makes one round trip to the daemon and no
#     kernel fsync (the library's counters, PMEMFS_DIRECT_STATS), and still makes the size of
#     appends durable: kill -9 of the daemon right after, remount, the size and bytes are there
#     (with writeback_ms far away, so only the fsync can have committed them);
#   - overwrites in place (no size or allocation change) are fdatasynced with no round trip at
#     all, and survive kill -9 of the daemon with their size and the fsynced mtime; a reader
#     opening the file through the kernel after that sees them;
#   - it is still the kernel's fsync too when the kernel may hold dirty pages of the file: another
#     process has it open and has stored into a shared mapping of it (those stores survive the
#     daemon's kill -9 once our fsync returned), a shared mapping of our own, after a fork;
#   - an msync of a library mapping that is all device blocks makes no msync system call, and
#     the stores are there after a remount; one that reaches the kernel's part of the mapping
#     (the page holding the end of the file) still makes it.
source "$(dirname "$0")/lib.sh"
skip_unless_mode direct pages
DIRECT=${PMEMFS_DIRECT_CMD:?PMEMFS_DIRECT_CMD: the pmemfs-direct program (CMake sets it)}
make_device 256M
format
mount_fs writeback_ms=600000

# stat_sum NAME FIELD: the sum of FIELD over the stats lines of run NAME.
stat_sum() {
  awk -v f="$2" '{ for (i = 1; i < NF; i++) if ($i == f) n += $(i + 1) } END { print n + 0 }' \
    "$WORK/$1.stats" 2>/dev/null || echo 0
}
run_direct() {
  local name=$1
  shift
  rm -f "$WORK/$name.stats"
  PMEMFS_DIRECT_STATS="$WORK/$name.stats" "$DIRECT" "$@"
}
# start_holder NAME WORD WHAT COMMAND...: COMMAND (a program of sync.py that syncs, prints WORD
# and then holds its file open; under pmemfs-direct its counters go to $WORK/NAME.stats) in the
# background, its output in $WORK/NAME.out, until it printed WORD (60 s at most); its pid in
# HOLDER. WHAT names it when it ends early or does not get there.
start_holder() {
  local name=$1 word=$2 what=$3 i
  shift 3
  rm -f "$WORK/$name.out" "$WORK/$name.stats"
  PMEMFS_DIRECT_STATS="$WORK/$name.stats" "$@" >"$WORK/$name.out" &
  HOLDER=$!
  for i in $(seq 600); do
    grep -q "$word" "$WORK/$name.out" 2>/dev/null && return 0
    kill -0 "$HOLDER" 2>/dev/null || fail "$what ended early"
    sleep 0.1
  done
  grep -q "$word" "$WORK/$name.out" || fail "$what did not get there within 60 s"
}
# stop_holder: kill -9 of the process start_holder started.
stop_holder() {
  kill -9 "$HOLDER"
  wait "$HOLDER" 2>/dev/null || true
}
# crash_remount: kill -9 of the daemon (the dead mount taken down) while the holder still holds
# its file open, then of the holder, and a new daemon mounts the device.
crash_remount() {
  crash_daemon
  stop_holder
  mount_fs writeback_ms=600000
}

# sync.py: the programs below, by their first argument.
cat >"$WORK/sync.py" <<'EOF'
import mmap, os, sys, time
what, path = sys.argv[1], sys.argv[2]
def rec(i):
    return bytes([i % 251]) * 4096
if what == "append":        # N 4 KiB appends, each fsynced (odd ones fdatasync), then wait
    n = int(sys.argv[3])
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    for i in range(n):
        os.write(fd, rec(i))
        (os.fdatasync if i % 2 else os.fsync)(fd)
    print("synced", flush=True)
    if len(sys.argv) > 4:
        time.sleep(600)
elif what == "overwrite":   # 16 KiB fsynced, N overwrites in place each fdatasynced, an
    n = int(sys.argv[3])    # fsync, the mtime printed; then wait
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    os.pwrite(fd, b"o" * 16384, 0)
    os.fsync(fd)
    for i in range(n):
        os.pwrite(fd, rec(i), (i % 4) * 4096)
        os.fdatasync(fd)
    os.fsync(fd)
    mtime = os.fstat(fd).st_mtime_ns
    os.close(os.open(path + ".flag", os.O_RDWR | os.O_CREAT, 0o644))  # (writes the stats line)
    print("synced", mtime, flush=True)
    time.sleep(600)
elif what == "check-overwrites":
    n, mtime = int(sys.argv[3]), int(sys.argv[4])
    data = open(path, "rb").read()
    want = b"".join(rec(max(i for i in range(n) if i % 4 == b)) for b in range(4))
    if data != want:
        sys.exit(f"{len(data)} bytes, not the last overwrites")
    if os.stat(path).st_mtime_ns < mtime:
        sys.exit(f"mtime {os.stat(path).st_mtime_ns} is older than the fsynced {mtime}")
elif what == "write-hold":  # "b" over the first 4 KiB, fdatasync, the stats line; then wait
    fd = os.open(path, os.O_RDWR)
    os.pwrite(fd, b"b" * 4096, 0)
    os.fdatasync(fd)
    os.close(os.open(path + ".flag", os.O_RDWR | os.O_CREAT, 0o644))  # (writes the stats line)
    print("synced", flush=True)
    time.sleep(600)
elif what == "check-appends":
    n = int(sys.argv[3])
    data = open(path, "rb").read()
    bad = [i for i in range(n) if data[i * 4096:(i + 1) * 4096] != rec(i)]
    sys.exit(f"records {bad[:5]} differ" if bad or len(data) != n * 4096 else 0)
elif what == "map-store":   # (not under the library) stores into a shared mapping, no msync
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, 4096, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    m[:] = b"K" * 4096
    print("stored", flush=True)
    time.sleep(600)
elif what == "read-sync":   # a read (a lease, but nothing written: the daemon drops none of
    fd = os.open(path, os.O_RDWR)  # the kernel's pages, which would write dirty ones), fsync
    assert os.pread(fd, 4096, 4096) == bytes(4096)
    os.fsync(fd)
elif what == "own-map":     # our own shared mapping, then a write and fsync
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    os.pwrite(fd, b"M" * 4096, 4096)
    os.fsync(fd)
elif what == "fork":        # a child made while the file is open, then a write and fsync
    fd = os.open(path, os.O_RDWR)
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    os.pwrite(fd, b"F" * 4096, 4096)
    os.fsync(fd)
elif what == "msync":       # N rounds of stores into all of a mapping of the file, each msynced
    n, length = int(sys.argv[3]), int(sys.argv[4])
    fd = os.open(path, os.O_RDWR)
    m = mmap.mmap(fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    for i in range(n):
        m[:] = bytes([65 + i % 26]) * length
        m.flush()
    m.close()
    os.close(fd)
EOF

# --- fsync without the kernel's, and what it makes durable ---------------------------------
run_direct append python3 "$WORK/sync.py" append "$MNT/log" 200 >/dev/null ||
  fail "appends and fsyncs under pmemfs-direct failed"
expect_eq "$(stat_sum append fsyncs)" 200 "fsyncs done by the library alone"
expect_eq "$(stat_sum append kernel_fsyncs)" 0 "fsyncs that also went to the kernel"
expect_eq "$(stat_sum append daemon_fsyncs)" 200 "fsyncs of appends that asked the daemon (each moved the size)"
expect_eq "$(stat -c %s "$MNT/log")" $((200 * 4096)) "size after 200 appends"

# The daemon killed right after the last fsync returned, the appender still holding its leases.
start_holder held synced "the appender of 100 fsynced appends" \
  "$DIRECT" python3 "$WORK/sync.py" append "$MNT/held" 100 hold
crash_remount
expect_eq "$(stat -c %s "$MNT/held")" $((100 * 4096)) "size of appends fsynced under the library, after kill -9 of the daemon"
python3 "$WORK/sync.py" check-appends "$MNT/held" 100 || fail "bytes of fsynced appends after kill -9 of the daemon"

# Overwrites in place change no size and no allocation: their fdatasync needs no round trip
# (direct::Synced), and an fsync only when the mtime moved since the last commit. The daemon
# killed right after the last fsync: the bytes, size and mtime are there.
start_holder ow synced "the overwriter of 200 fdatasynced overwrites" \
  "$DIRECT" python3 "$WORK/sync.py" overwrite "$MNT/ow" 200
mtime=$(awk '/synced/ { print $2 }' "$WORK/ow.out")
crash_remount
expect_eq "$(stat_sum ow fsyncs)" 202 "fsyncs of overwrites done by the library alone"
expect_eq "$(stat_sum ow kernel_fsyncs)" 0 "fsyncs of overwrites that also went to the kernel"
ow_asked=$(stat_sum ow daemon_fsyncs)
[ "$ow_asked" -ge 1 ] && [ "$ow_asked" -le 2 ] ||
  fail "fsyncs of overwrites that asked the daemon: $ow_asked, not the first (the size) and maybe the last (the mtime)"
python3 "$WORK/sync.py" check-overwrites "$MNT/ow" 200 "$mtime" ||
  fail "overwrites fdatasynced without a round trip, after kill -9 of the daemon"

# Coherence without a round trip: a reader that opens the file through the kernel after such an
# fdatasync sees the write, though the kernel had older pages of it cached (the daemon opens a
# write-leased file without keep_cache; the writer still holds it open).
head -c 16384 /dev/zero | tr '\0' a >"$MNT/coh"
expect_eq "$(head -c 4096 "$MNT/coh" | tr -d a | wc -c)" 0 "the file through the kernel before"
start_holder coh synced "the writer of an fdatasynced overwrite" \
  "$DIRECT" python3 "$WORK/sync.py" write-hold "$MNT/coh"
expect_eq "$(stat_sum coh daemon_fsyncs)" 0 "fdatasyncs of an overwrite that asked the daemon"
expect_eq "$(head -c 4096 "$MNT/coh" | tr -d b | wc -c)" 0 "a kernel reader opening after a library write and its fdatasync"
stop_holder

# --- when the kernel's fsync is still needed -------------------------------------------------
# Another process stored into a shared mapping of the file (dirty pages in the kernel's cache);
# our fsync must write them too: they survive the daemon's death once it returned. (We only
# read: after a direct write, the daemon drops the kernel's pages of the file at fsync, which
# writes dirty ones back too, so only the kernel's fsync can have written them here.)
head -c 8192 /dev/zero >"$MNT/shared"
start_holder k stored "the process storing into a shared mapping" \
  python3 "$WORK/sync.py" map-store "$MNT/shared"
run_direct other python3 "$WORK/sync.py" read-sync "$MNT/shared" || fail "read and fsync beside a mapping"
expect_eq "$(stat_sum other kernel_fsyncs)" 1 "fsyncs that went to the kernel while another process had the file open"
expect_eq "$(stat_sum other fsyncs)" 0 "fsyncs done by the library alone while another process had the file open"
crash_remount
expect_eq "$(head -c 4096 "$MNT/shared" | tr -d K | wc -c)" 0 "another process's mapped stores after our fsync and kill -9 of the daemon"

run_direct ownmap python3 "$WORK/sync.py" own-map "$MNT/shared" || fail "fsync with a mapping of our own"
expect_eq "$(stat_sum ownmap kernel_fsyncs)" 1 "fsyncs that went to the kernel with a shared mapping of our own"
run_direct fork python3 "$WORK/sync.py" fork "$MNT/shared" || fail "fsync after a fork"
expect_eq "$(stat_sum fork kernel_fsyncs)" 1 "fsyncs that went to the kernel after a fork"
expect_eq "$(tail -c 4096 "$MNT/shared" | tr -d F | wc -c)" 0 "a write fsynced after a fork"

# --- msync -----------------------------------------------------------------------------------
head -c $((64 * 1024)) /dev/zero >"$MNT/m"
run_direct msync python3 "$WORK/sync.py" msync "$MNT/m" 10 $((64 * 1024)) || fail "msync of a library mapping"
expect_eq "$(stat_sum msync msyncs)" 10 "msyncs done by the library alone"
expect_eq "$(stat_sum msync kernel_msyncs)" 0 "msyncs that went to the kernel"
head -c $((64 * 1024 + 100)) /dev/zero >"$MNT/mtail"
run_direct mtail python3 "$WORK/sync.py" msync "$MNT/mtail" 3 $((64 * 1024 + 100)) ||
  fail "msync of a library mapping with the kernel's tail page"
expect_eq "$(stat_sum mtail kernel_msyncs)" 3 "msyncs reaching the kernel's part of a mapping"
remount writeback_ms=600000
expect_eq "$(tr -d J <"$MNT/m" | wc -c)" 0 "stores msynced by the library alone, after a remount"
expect_eq "$(tr -d C <"$MNT/mtail" | wc -c)" 0 "stores msynced with the kernel's tail page, after a remount"

umount_fs
expect_fsck_clean "after direct syncs"
pass
