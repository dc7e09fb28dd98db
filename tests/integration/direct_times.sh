#!/usr/bin/env bash
# File times under pmemfs-direct (direct and pages mode), as on ext4: an mtime set through the
# kernel (touch -d, as cp -p, tar x and rsync -t do) by another process while a writer holds
# the file open and written through the library wins over those writes, also setting an older
# time: stat shows it at once, after the daemon's background rounds (writeback_ms) took what the
# writer published, after the writer's close and after a remount; the sizes the writes made
# stay. A library write after it moves the mtime to its own time again.
source "$(dirname "$0")/lib.sh"
skip_unless_mode direct pages
DIRECT=${PMEMFS_DIRECT_CMD:?PMEMFS_DIRECT_CMD: the pmemfs-direct program (CMake sets it)}
make_device 64M
format
mount_fs writeback_ms=50

# w.py PATH DIR: writes 4 KiB at 0; on DIR/go 4 KiB at 4096; on DIR/quit closes the file. Says
# "wrote N" after each write.
cat >"$WORK/w.py" <<'EOF'
import os, sys, time
path, d = sys.argv[1], sys.argv[2]
def wait_for(name):
    for _ in range(6000):
        if os.path.exists(os.path.join(d, name)):
            return
        time.sleep(0.01)
    sys.exit(f"no {name} within 60 s")
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.pwrite(fd, b"a" * 4096, 0)
print("wrote 1", flush=True)
wait_for("go")
os.pwrite(fd, b"b" * 4096, 4096)
print("wrote 2", flush=True)
wait_for("quit")
os.close(fd)
EOF

# wait_line N: until the writer said "wrote N" (60 s at most).
wait_line() {
  local i
  for i in $(seq 600); do
    grep -q "wrote $1" "$WORK/w.out" 2>/dev/null && return 0
    kill -0 "$writer" 2>/dev/null || fail "the writer ended early: $(tail -n 3 "$WORK/w.err")"
    sleep 0.1
  done
  fail "the writer did not say 'wrote $1' within 60 s"
}

T2001=978307200  # 2001-01-01 00:00:00 UTC
F="$MNT/f"
PMEMFS_DIRECT_STATS="$WORK/w.stats" "$DIRECT" python3 "$WORK/w.py" "$F" "$WORK" \
  >"$WORK/w.out" 2>"$WORK/w.err" &
writer=$!
wait_line 1
expect_eq "$(stat -c %s "$F")" 4096 "size after the library's first write"

TZ=UTC touch -m -d "2001-01-01 00:00:00" "$F"
expect_eq "$(stat -c %Y "$F")" $T2001 "mtime right after touch -d, the writer holding the file"
sleep 0.5  # ten background rounds: each folds what the writer published into the inode
expect_eq "$(stat -c %Y "$F")" $T2001 "mtime after the daemon's background rounds"
expect_eq "$(stat -c %s "$F")" 4096 "size after touch -d"

# A library write after the setattr: the mtime is its time again.
before=$(date +%s)
: >"$WORK/go"
wait_line 2
after=$(date +%s)
expect_range "$(stat -c %Y "$F")" "$before" "$after" "mtime after a library write that followed touch -d"
expect_eq "$(stat -c %s "$F")" 8192 "size after the second write"

# Once more, then the writer closes (the daemon takes what it published and commits) and the
# filesystem is remounted.
TZ=UTC touch -m -d "2001-01-01 00:00:00" "$F"
: >"$WORK/quit"
wait "$writer" || fail "the writer failed: $(tail -n 3 "$WORK/w.err")"
grep -q "writes 2 " "$WORK/w.stats" || fail "the writes did not go through the library: $(cat "$WORK/w.stats")"
expect_eq "$(stat -c %Y "$F")" $T2001 "mtime after the writer closed the file"
remount writeback_ms=50
expect_eq "$(stat -c %Y "$F")" $T2001 "mtime after a remount"
expect_eq "$(stat -c %s "$F")" 8192 "size after a remount"
head -c 4096 /dev/zero | tr '\0' a >"$WORK/ref"
head -c 4096 /dev/zero | tr '\0' b >>"$WORK/ref"
expect_same "$F" "$WORK/ref"
umount_fs
expect_fsck_clean
pass
