#!/usr/bin/env bash
# pmemfs-direct runs unmodified programs with their file data in the device (direct and pages
# mode): cp, dd, python, sqlite3 and fio (psync and mmap engines, --verify=crc32c) produce the
# same bytes under it as without it. Each program's run is checked to have used direct access
# (the library's counters, PMEMFS_DIRECT_STATS) where it should.
source "$(dirname "$0")/lib.sh"
skip_unless_mode direct pages
DIRECT=${PMEMFS_DIRECT_CMD:?PMEMFS_DIRECT_CMD: the pmemfs-direct program (CMake sets it)}
for tool in fio sqlite3; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps installs it)"
done
make_device 512M
format
mount_fs

# run_direct NAME COMMAND...: COMMAND under pmemfs-direct; its direct reads and writes are
# counted in $WORK/NAME.stats (one "reads N writes N maps N" line per process).
run_direct() {
  local name=$1
  shift
  PMEMFS_DIRECT_STATS="$WORK/$name.stats" "$DIRECT" "$@"
}
# used_direct NAME: some process of that run read or wrote in the device.
used_direct() {
  awk '{ n += $2 + $4 + $6 } END { exit !(n > 0) }' "$WORK/$1.stats" 2>/dev/null ||
    fail "$1 ran without direct access ($(cat "$WORK/$1.stats" 2>/dev/null || echo 'no stats'))"
}

# --- cp and dd -------------------------------------------------------------------------------
random_file "$WORK/src" 7M
run_direct cp-in cp "$WORK/src" "$MNT/cp"
used_direct cp-in
expect_same "$MNT/cp" "$WORK/src"
run_direct cp-out cp "$MNT/cp" "$WORK/back"
used_direct cp-out
expect_same "$WORK/back" "$WORK/src"
run_direct dd dd if="$WORK/src" of="$MNT/dd" bs=123457 status=none
used_direct dd
# Patches at odd offsets into an existing file, with and without the library.
cp "$WORK/src" "$WORK/ref"
random_file "$WORK/patch" 300000
run_direct dd2 dd if="$WORK/patch" of="$MNT/dd" bs=4096 seek=777 conv=notrunc oflag=seek_bytes status=none
dd if="$WORK/patch" of="$WORK/ref" bs=4096 seek=777 conv=notrunc oflag=seek_bytes status=none
expect_same "$MNT/dd" "$WORK/ref"
run_direct dd3 dd if="$MNT/dd" of="$WORK/dd.back" bs=65536 skip=3 status=none
dd if="$WORK/ref" of="$WORK/dd.ref" bs=65536 skip=3 status=none
expect_same "$WORK/dd.back" "$WORK/dd.ref"

# --- python ----------------------------------------------------------------------------------
cat >"$WORK/py.py" <<'EOF'
import os, sys, hashlib
d = sys.argv[1]
data = os.urandom(1 << 20) * 3
with open(os.path.join(d, "py"), "wb") as f:
    for i in range(0, len(data), 65536 + 7):
        f.write(data[i:i + 65536 + 7])
with open(os.path.join(d, "py"), "ab") as f:
    f.write(b"tail")
with open(os.path.join(d, "py"), "r+b") as f:
    f.seek(1000)
    f.write(b"X" * 5000)
    f.flush()
    os.fsync(f.fileno())
want = bytearray(data + b"tail")
want[1000:6000] = b"X" * 5000
got = open(os.path.join(d, "py"), "rb").read()
sys.exit(0 if got == bytes(want) and os.stat(os.path.join(d, "py")).st_size == len(want) else 1)
EOF
run_direct python python3 "$WORK/py.py" "$MNT" || fail "python under pmemfs-direct read back something else"
used_direct python

# --- sqlite3 ---------------------------------------------------------------------------------
cat >"$WORK/sql" <<'EOF'
PRAGMA journal_mode=DELETE;
CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
  INSERT INTO t SELECT i, printf('row %08d', i), zeroblob(i % 700) FROM n;
COMMIT;
UPDATE t SET v = v || ' updated' WHERE id % 7 = 0;
DELETE FROM t WHERE id % 11 = 0;
CREATE INDEX tv ON t(v);
VACUUM;
EOF
run_direct sqlite sqlite3 "$MNT/db" <"$WORK/sql" >/dev/null
used_direct sqlite
sqlite3 "$MNT/ref.db" <"$WORK/sql" >/dev/null   # the same without the library
run_direct sqlite-dump sqlite3 "$MNT/db" .dump >"$WORK/db.dump"
sqlite3 "$MNT/ref.db" .dump >"$WORK/ref.dump"
expect_same "$WORK/db.dump" "$WORK/ref.dump"
expect_eq "$(sqlite3 "$MNT/db" 'PRAGMA integrity_check')" ok "sqlite integrity_check of the direct database"

# --- fio -------------------------------------------------------------------------------------
# --verify=crc32c: fio reads each block back and checks it (its headers hold times and its
# buffers are random, so two runs never write the same bytes). Then the same job with
# repeatable contents (--verify=pattern with each block's offset, also checked by fio) writes
# the same bytes under pmemfs-direct as without it.
fio_job() {  # fio_job ENGINE FILE VERIFY [pmemfs-direct]: the job, under pmemfs-direct if given
  local prefix=() verify=()
  [ -n "${4:-}" ] && prefix=(env PMEMFS_DIRECT_STATS="$WORK/fio-$1-$3.stats" "$4")
  verify=(--verify=pattern --verify_pattern=%o --do_verify=1 --verify_fatal=1)
  [ "$3" = verify ] && verify=(--verify=crc32c --do_verify=1 --verify_fatal=1)
  "${prefix[@]}" fio --name=j --filename="$2" --ioengine="$1" --rw=randwrite --bs=4k --size=16M \
      --randseed=42 "${verify[@]}" --fsync_on_close=1 --output="$WORK/fio.out" >/dev/null ||
    fail "fio $1 $3 on $2: $(tail -n 20 "$WORK/fio.out")"
}
for engine in psync mmap; do
  rm -f "$MNT/fio-$engine"*
  fio_job "$engine" "$MNT/fio-$engine.verify" verify "$DIRECT"
  used_direct "fio-$engine-verify"
  fio_job "$engine" "$MNT/fio-$engine" plain "$DIRECT"
  used_direct "fio-$engine-plain"
  fio_job "$engine" "$MNT/fio-$engine.ref" plain
  expect_same "$MNT/fio-$engine" "$MNT/fio-$engine.ref"
done

# Everything is on the device.
remount
expect_same "$MNT/cp" "$WORK/src"
expect_same "$MNT/dd" "$WORK/ref"
expect_same "$MNT/fio-psync" "$MNT/fio-psync.ref"
expect_eq "$(sqlite3 "$MNT/db" 'SELECT count(*), sum(length(b)) FROM t')" \
  "$(sqlite3 "$MNT/ref.db" 'SELECT count(*), sum(length(b)) FROM t')" "sqlite rows after a remount"
umount_fs
expect_fsck_clean
pass
