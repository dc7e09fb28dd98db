# lib.sh: what every integration test sources. It mounts the real filesystem and cleans up.
#
#   test.sh MODE PMEMFS MKPMEMFS       (how CMakeLists.txt runs each test, once per mode)
#
# A test reads top to bottom:
#
#   source "$(dirname "$0")/lib.sh"
#   make_device 64M            # $DEV: an emulated device under /dev/shm (2 parts: make_device 64M 2)
#   format                     # mkpmemfs --mode $MODE [extra mkpmemfs options] $DEV
#   mount_fs                   # the daemon in the foreground, in the background; waits for the mount
#   ... work in $MNT, scratch files in $WORK, checks with expect_* ...
#   remount                    # unmount (the daemon must exit 0), mount again
#   pass
#
# Everything a test creates is its own ($$ in every name), so tests run in parallel. An EXIT
# trap unmounts (fusermount3 -u, else umount -l), kills the daemon it started and removes the
# device and scratch files, also when a check fails. A watchdog kills the daemon and fails the
# test before ctest's TIMEOUT would (a hung FUSE request would otherwise keep the mount).
# A failing check prints "FAIL: what: expected X, got Y" and the daemon's log.

set -Eeuo pipefail
export LC_ALL=C TZ=UTC

MODE=${1:?usage: $0 MODE PMEMFS MKPMEMFS}
PMEMFS=${2:?usage: $0 MODE PMEMFS MKPMEMFS}
MKPMEMFS=${3:?usage: $0 MODE PMEMFS MKPMEMFS}
FSCK=${PMEMFS_FSCK:-pmemfs-fsck}          # pmemfs-fsck (CMakeLists.txt sets PMEMFS_FSCK)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST=$(basename "$0" .sh)
FSUTIL="python3 $HERE/fsutil.py"
DEADLINE=${PMEMFS_IT_DEADLINE:-150}   # seconds; CMakeLists.txt sets ctest's TIMEOUT above it

[ "$(id -u)" = 0 ] && [ -c /dev/fuse ] || { echo "FAIL [$TEST/$MODE]: needs root and /dev/fuse" >&2; exit 1; }
for tool in fusermount3 python3 setfattr setfacl fuser; do
  command -v "$tool" >/dev/null ||
    { echo "FAIL [$TEST/$MODE]: $tool is missing (Debian packages: fuse3 python3 attr acl psmisc)" >&2; exit 1; }
done

WORK=$(mktemp -d "/tmp/pmemfs-it-$TEST-$MODE-$$.XXXX")
MNT=$WORK/mnt
LOG=$WORK/daemon.log
mkdir "$MNT"
chmod 755 "$WORK"   # other users reach $MNT (tests that run commands as another uid)
PARTS=()          # the device's part files
DEV=""            # the device string: PART[,PART...]
SCRATCH=()        # files outside $WORK that cleanup removes (every part ever made)
DEVICES=0
DAEMON_PID=""
MOUNT_OPTS=""     # extra -o options for every mount_fs of this test (set by the test)
EXTRA_MNTS=()     # more mount points of the test's device (bind mounts), unmounted by cleanup

log() { echo "[$TEST/$MODE] $*"; }

fail() {
  trap - ERR
  if [ "$BASHPID" != "$$" ]; then   # in a subshell ($(...), a pipeline): stop the test itself
    echo "$*" >"$WORK/failed"
    kill -TERM $$
    exit 1
  fi
  echo "FAIL [$TEST/$MODE]: $*" >&2
  if [ -s "$LOG" ]; then
    echo "---- daemon log (last 30 lines) ----" >&2
    tail -n 30 "$LOG" >&2
  fi
  exit 1
}
trap 'fail "line $LINENO: command failed (status $?): $BASH_COMMAND"' ERR

pass() { log "PASS"; exit 0; }

# skip_unless_mode MODE...: this test means nothing in other modes (ctest shows it as passed).
skip_unless_mode() {
  local m
  for m in "$@"; do [ "$MODE" = "$m" ] && return 0; done
  log "SKIP: only in mode(s) $*"
  exit 0
}

is_mounted() { awk -v m="$MNT" '$2 == m { found = 1 } END { exit !found }' /proc/mounts; }

cleanup() {
  local rc=$?
  trap - ERR
  set +e
  [ -n "${WATCHDOG:-}" ] && kill "$WATCHDOG" 2>/dev/null
  # Background jobs this test started (writers, the daemon).
  local j
  for j in $(jobs -p); do
    [ "$j" != "$DAEMON_PID" ] && [ "$j" != "${WATCHDOG:-}" ] && kill -9 "$j" 2>/dev/null
  done
  for j in "${EXTRA_MNTS[@]}"; do
    awk -v m="$j" '$2 == m { found = 1 } END { exit !found }' /proc/mounts && umount -l "$j"
  done
  if is_mounted; then   # (a hung daemon could block a plain unmount)
    timeout 10 fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
  fi
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    local i
    for i in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DAEMON_PID" 2>/dev/null
  fi
  wait 2>/dev/null
  chattr -i "${SCRATCH[@]}" 2>/dev/null   # a test that made a part immutable
  rm -f "${SCRATCH[@]}"
  rm -rf "$WORK"
  exit $rc
}
trap cleanup EXIT
trap 'fail "$(cat "$WORK/failed" 2>/dev/null || echo interrupted)"' INT TERM

# The watchdog: at the deadline, kill the daemon (which fails any request blocked in the mount)
# and tell the test it timed out.
( trap - ERR; set +e
  trap 'kill $sleeper 2>/dev/null; exit 0' TERM
  sleep "$DEADLINE" >/dev/null 2>&1 </dev/null &
  sleeper=$!
  wait $sleeper
  echo "timed out after ${DEADLINE}s (the watchdog killed the daemon)" >"$WORK/failed"
  [ -s "$WORK/daemon.pid" ] && kill -9 "$(cat "$WORK/daemon.pid")" 2>/dev/null
  kill -TERM $$ ) 2>/dev/null &
WATCHDOG=$!

# ---------------------------------------------------------------------------------------------
# Device, format, mount

# make_device SIZE [NPARTS]: a new device of NPARTS (default 1) part files of SIZE each under
# /dev/shm; sets PARTS and DEV.
make_device() {
  local size=$1 n=${2:-1} i
  PARTS=()
  DEVICES=$((DEVICES + 1))
  for ((i = 0; i < n; i++)); do
    PARTS+=("/dev/shm/pmemfs-it-$TEST-$MODE-$$-dev$DEVICES-part$i")
    SCRATCH+=("${PARTS[$i]}")
    truncate -s "$size" "${PARTS[$i]}"
  done
  DEV=$(IFS=,; echo "${PARTS[*]}")
}

# scratch VAR NAME SIZE: a new file of SIZE under /dev/shm (another part, a device of its own),
# its path in VAR, removed by cleanup. (Not for $(...), whose subshell would lose the SCRATCH
# entry and leak the file.)
scratch() {
  local f="/dev/shm/pmemfs-it-$TEST-$MODE-$$-$2"
  SCRATCH+=("$f")
  truncate -s "$3" "$f"
  printf -v "$1" '%s' "$f"
}

# format [mkpmemfs options...]
format() {
  "$MKPMEMFS" --mode "$MODE" "$@" "$DEV" >"$WORK/mkfs.log" 2>&1 ||
    fail "mkpmemfs $* $DEV failed: $(cat "$WORK/mkfs.log")"
}

# mount_fs [extra -o options]: starts the daemon with -f in the background and waits until the
# mount shows in /proc/mounts (20 s at most).
mount_fs() {
  local opts="mode=$MODE,config=none"
  [ -n "$MOUNT_OPTS" ] && opts+=",$MOUNT_OPTS"
  [ -n "${1:-}" ] && opts+=",$1"
  echo "== $(date +%T.%N) mount -o $opts" >>"$LOG"
  "$PMEMFS" "$DEV" "$MNT" -f -o "$opts" >>"$LOG" 2>&1 &
  DAEMON_PID=$!
  echo "$DAEMON_PID" >"$WORK/daemon.pid"
  local i
  for i in $(seq 200); do
    is_mounted && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "daemon exited before mounting (pmemfs $DEV $MNT -f -o $opts)"
    sleep 0.1
  done
  fail "not mounted after 20 s (pmemfs $DEV $MNT -f -o $opts)"
}

# wait_daemon_exit SECONDS: waits for the daemon to exit; sets DAEMON_RC.
wait_daemon_exit() {
  local i
  for i in $(seq $(($1 * 10))); do
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$DAEMON_PID" 2>/dev/null && fail "daemon still running $1 s after unmount"
  DAEMON_RC=0
  wait "$DAEMON_PID" || DAEMON_RC=$?
  DAEMON_PID=""
  : >"$WORK/daemon.pid"
}

# umount_fs: a clean unmount; the daemon must exit with status 0 within 30 s. EBUSY is retried
# for up to 5 s: a process of another test running a plain df (statfs of every mount) holds
# this mount for a moment, as it would on any machine; a file left open here still fails.
umount_fs() {
  local try
  for try in $(seq 50); do
    fusermount3 -u "$MNT" 2>"$WORK/umount.err" && break
    grep -q "busy" "$WORK/umount.err" && [ "$try" -lt 50 ] ||
      fail "fusermount3 -u failed: $(cat "$WORK/umount.err")"
    echo "== $(date +%T.%N) unmount: busy, retrying" >>"$LOG"
    sleep 0.1
  done
  wait_daemon_exit 30
  [ "$DAEMON_RC" = 0 ] || fail "daemon exited with status $DAEMON_RC after unmount"
  is_mounted && fail "still in /proc/mounts after unmount"
  return 0
}

remount() { umount_fs; mount_fs "$@"; }

# kill_daemon: kill -9 the daemon and leave its mount as it is: still in /proc/mounts, every
# access to it "Transport endpoint is not connected" (cleanup takes it down).
kill_daemon() {
  kill -9 "$DAEMON_PID"
  DAEMON_RC=0
  { wait "$DAEMON_PID"; } 2>/dev/null || DAEMON_RC=$?   # (quiet: no "Killed" from bash)
  DAEMON_PID=""
  : >"$WORK/daemon.pid"
  echo "== $(date +%T.%N) daemon killed with SIGKILL" >>"$LOG"
}

# crash_daemon: kill -9 the daemon, then take the dead mount down as a user would.
crash_daemon() {
  kill_daemon
  fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
  is_mounted && fail "dead mount still in /proc/mounts"
  return 0
}

# ---------------------------------------------------------------------------------------------
# Checks. Each names what it checks, so a failure says what differed.

# expect_eq ACTUAL EXPECTED WHAT
expect_eq() {
  [ "$1" == "$2" ] || fail "$3: expected '$2', got '$1'"
}

# expect_ne ACTUAL UNEXPECTED WHAT
expect_ne() {
  [ "$1" != "$2" ] || fail "$3: got '$1', which it must not be"
}

# expect_range ACTUAL MIN MAX WHAT (integers, inclusive)
expect_range() {
  [ "$1" -ge "$2" ] && [ "$1" -le "$3" ] || fail "$4: expected $2..$3, got $1"
}

# settle_range MIN MAX WHAT COMMAND...: COMMAND prints an integer that must come into MIN..MAX
# within 10 s. For the free-inode count after rm: the daemon frees an inode's record when the
# kernel's FORGET arrives, which the kernel queues asynchronously (and RELEASE of a file just
# closed, too), so rm can return a moment before. The data of a closed file is free at once.
settle_range() {
  local min=$1 max=$2 what=$3 v i
  shift 3
  for i in $(seq 100); do
    v=$("$@")
    [ "$v" -ge "$min" ] && [ "$v" -le "$max" ] && return 0
    sleep 0.1
  done
  fail "$what: expected $min..$max within 10 s, got $v"
}

# expect_fail MESSAGE COMMAND...: COMMAND must fail and its stderr contain MESSAGE.
expect_fail() {
  local msg=$1 rc=0
  shift
  "$@" >/dev/null 2>"$WORK/expect_fail.err" || rc=$?
  [ "$rc" != 0 ] || fail "'$*' succeeded, expected it to fail with '$msg'"
  grep -qF -- "$msg" "$WORK/expect_fail.err" ||
    fail "'$*' failed, but not with '$msg': $(cat "$WORK/expect_fail.err")"
}

# expect_same FILE REFERENCE: same bytes (compared by checksum, sizes shown on a mismatch).
expect_same() {
  local a b
  a=$(sha256sum <"$1" | cut -c1-64) || fail "cannot read $1"
  b=$(sha256sum <"$2" | cut -c1-64)
  [ "$a" == "$b" ] && return 0
  local first
  first=$( (cmp "$1" "$2" 2>&1 || true) | head -n 1)
  fail "$1 differs from $2 (sizes $(stat -c %s "$1") and $(stat -c %s "$2"), first difference: $first)"
}

# count PATTERN: lines of stdin matching the regex PATTERN (0 is not an error).
count() { grep -c -- "$1" || true; }

# random_file PATH SIZE: SIZE random bytes (a size as dd/head understand it: 4096, 3M).
random_file() { head -c "$2" /dev/urandom >"$1"; }

# manifest DIR: one line per entry: path, type, mode, owner, size, links, mtime, symlink
# target, content checksum and xattrs. Two equal manifests mean the same tree. The RAM
# partition's directory (ram/, volatile by design) is left out.
manifest() {
  (cd "$1" && find . -mindepth 1 -path ./ram -prune -o -printf '%P %y %m %U:%G %s %n %T@ %l\n' | sort |
    while read -r path type rest; do
      sum=-
      [ "$type" = f ] && sum=$(sha256sum <"$path" | cut -c1-16)
      xattrs=$(getfattr -h -d -m - --absolute-names "$path" 2>/dev/null | sed '/^#/d' | tr '\n' ' ')
      echo "$path $type $rest $sum $xattrs"
    done)
}

# statfs_used_blocks: blocks in use, in 4 KiB units, as df reports them.
used_blocks() { df -B4096 --output=used "$MNT" | tail -n 1 | tr -d ' '; }
# free_inodes: free inodes, as stat -f reports them.
free_inodes() { stat -f -c %d "$MNT"; }

# df_bytes FIELD: df's FIELD (size, used, avail) of this test's mount, in bytes.
df_bytes() { df -B1 --output="$1" "$MNT" | tail -n 1 | tr -d ' '; }

# need_tune: $TUNE is the pmemfs-tune to run (PMEMFS_TUNE, which CMakeLists.txt sets, else the
# one on the PATH); the test fails when there is none.
need_tune() {
  TUNE=${PMEMFS_TUNE:-pmemfs-tune}
  command -v "$TUNE" >/dev/null || fail "pmemfs-tune not found (PMEMFS_TUNE)"
}
# need_direct_tool: $TOOL is the pmemfs-direct-tool to run (PMEMFS_DIRECT_TOOL, which
# CMakeLists.txt sets); the test fails when there is none.
need_direct_tool() {
  TOOL=${PMEMFS_DIRECT_TOOL:-}
  [ -x "$TOOL" ] || fail "pmemfs-direct-tool not found (PMEMFS_DIRECT_TOOL, which CMake sets)"
}

# expect_fsck_clean [WHEN]: pmemfs-fsck -n finds nothing wrong on $DEV (unmounted); a failure
# says WHEN ("after ..."). Its output stays in $WORK/fsck.out.
expect_fsck_clean() {
  "$FSCK" -n "$DEV" >"$WORK/fsck.out" 2>&1 ||
    fail "pmemfs-fsck -n $DEV${1:+ $1}: $(cat "$WORK/fsck.out")"
}

# ---------------------------------------------------------------------------------------------
# pmemfs-tune --add-part (tune_add_part.sh, tune_add_part_mount.sh)

# add_part_setup: a one-part device of 48 MiB (its part also in OLD), formatted and mounted with
# writeback_ms=0, holding /data (6 MiB of random bytes, also in $WORK/ref) and /d/e/f; the tree's
# manifest in $WORK/before, df's size in SIZE0. It stays mounted.
add_part_setup() {
  make_device 48M 1
  OLD=$DEV
  format
  mount_fs "writeback_ms=0"
  random_file "$WORK/ref" 6M
  cp "$WORK/ref" "$MNT/data"
  mkdir -p "$MNT/d/e"
  echo hello >"$MNT/d/e/f"
  manifest "$MNT" >"$WORK/before"
  SIZE0=$(df_bytes size)
}

# expect_grown SIZE MORE WHAT: after WHAT (an --add-part of MORE bytes, less the new part's
# label and metadata), the mount's df size (then in GROWN) is more than SIZE + MORE, the tree
# is as in $WORK/before and /data as $WORK/ref.
expect_grown() {
  GROWN=$(df_bytes size)
  [ "$GROWN" -gt $(($1 + $2)) ] || fail "df size $GROWN after $3 is not more than $1 + $2"
  manifest "$MNT" >"$WORK/after"
  diff "$WORK/before" "$WORK/after" >&2 || fail "the tree changed with $3"
  expect_same "$MNT/data" "$WORK/ref"
}

# part_joining PART...: each part's label (both copies) says part_joining, as pmemfs-tune
# --add-part leaves them when it is cut: every part of the grown device after its commit point,
# the new part alone before it (fsutil.py part-joining; tests/tools/tune_cli.sh uses it too).
part_joining() { $FSUTIL part-joining "$@" || fail "fsutil.py part-joining $*"; }

# ---------------------------------------------------------------------------------------------
# pmemfs-tune --scrub (tune_scrub.sh offline, tune_scrub_online.sh on a live mount; after need_tune)

# scrub_setup [DIR...]: a 64 MiB one-part device, formatted and mounted, holding what the scrub
# tests find again on the device: /a/data (64 pages, page i starting with the marker
# SCRUBPAGE-i), /dir (40 entries scrub-name-marker-N), the DIRs, and /small (its inode number
# in SMALL_INO). It stays mounted.
scrub_setup() {
  local d i
  make_device 64M
  format
  mount_fs
  mkdir "$MNT/a" "$MNT/dir"
  for d in "$@"; do mkdir "$MNT/$d"; done
  python3 - "$MNT/a/data" <<'EOF'
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(64):
        f.write((b"SCRUBPAGE-%06d-" % i).ljust(4096, b"."))
EOF
  for i in $(seq 1 40); do touch "$MNT/dir/scrub-name-marker-$i"; done
  echo small >"$MNT/small"
  SMALL_INO=$(stat -c %i "$MNT/small")
}

# scrub_where: where scrub_setup's things are on the unmounted device, as device offsets (part
# offset - the part header), found from the image itself (the markers and a name), not from the
# code under test: pageN (page N of /a/data, N = 3 7 20 40 41 50), dirblock (/dir's block that
# holds marker 17), extblock (/small's extent block), journal and inodes (the second block of
# the journal and of the inode table: inodes 17-32, not /small's), backup (the backup superblock).
scrub_where() {
  python3 - "${PARTS[0]}" "$SMALL_INO" >"$WORK/where" <<'EOF' || fail "scrub_where failed"
import struct, sys
part = open(sys.argv[1], "rb").read()
ino = int(sys.argv[2])
H = 4096  # PartHeaderSize of a file part
P = 4096
dev = part[H:]
names = ["store_blocks", "journal_start", "journal_blocks", "inode_start", "inode_blocks",
         "inode_count", "bitmap_start", "bitmap_blocks", "data_start", "data_blocks", "backup_block"]
sb = dict(zip(names, struct.unpack_from("<11Q", dev, 128)))
data = sb["data_start"] * P
def page_of(marker):
    at = dev.find(marker, data)
    assert at >= 0 and at % P == 0, marker
    return at
rec = sb["inode_start"] * P + (ino - 1) * 256
map_head = struct.unpack_from("<Q", dev, rec + 88)[0]
assert (ino - 1) // 16 != 1, "/small's record is in the inode-table page the tests make bad"
out = {"page%d" % n: page_of(b"SCRUBPAGE-%06d-" % n) for n in (3, 7, 20, 40, 41, 50)}
out.update({
    "dirblock": dev.find(b"scrub-name-marker-17", data) // P * P,
    "extblock": map_head * P,
    "journal": (sb["journal_start"] + 1) * P,
    "inodes": (sb["inode_start"] + 1) * P,
    "backup": sb["backup_block"] * P,
})
for k, v in out.items():
    print(f"{k}={v}")
EOF
  source "$WORK/where"
}

# expect_scrub_report WHAT JSON FOUND RANGE...: the --json report of the scrub WHAT lists exactly
# the RANGEs, each OFFSET:LENGTH:NEW:DESCRIPTION (NEW 1 or 0; the one owner's description), found
# FOUND bytes that were not in the table, named the owners from the extents (the descriptors in
# pages mode), hit metadata (a directory block is metadata, file data is not) and recorded
# what it found.
expect_scrub_report() {
  local what=$1 json=$2 found=$3 source=extents
  shift 3
  [ "$MODE" = pages ] && source=descriptors
  python3 - "$json" "$source" "$found" "$@" <<'EOF' || fail "$what's report: $(cat "$json")"
import json, sys
j = json.load(open(sys.argv[1]))
source, found = sys.argv[2], int(sys.argv[3])
want = {}  # offset: (length, new, [descriptions])
for r in sys.argv[4:]:
    off, length, new, desc = r.split(":", 3)
    want[int(off)] = (int(length), new == "1", [desc])
got = {r["offset"]: (r["length"], r["new"], [o["description"] for o in r["owners"]])
       for r in j["bad_ranges"]}
ok = True
for off, w in sorted(want.items()):
    if got.get(off) != w:
        print("range at", off, "expected", w, "got", got.get(off)); ok = False
if set(got) != set(want):
    print("unexpected ranges:", sorted(set(got) - set(want))); ok = False
if j["owners_from"] != source: print("owners from", j["owners_from"]); ok = False
if j["found_bytes"] != found: print("found_bytes", j["found_bytes"]); ok = False
if not j["metadata_hit"]: print("metadata_hit false"); ok = False
meta = {o["kind"]: o["metadata"] for r in j["bad_ranges"] for o in r["owners"]}
if meta.get("file_data") or not meta.get("directory_block"): print("metadata flags", meta); ok = False
if j["record_error"]: print("record_error", j["record_error"]); ok = False
sys.exit(0 if ok else 1)
EOF
}

# expect_rescrub WHAT SAYS: the scrub WHAT of $DEV again, as text, exits 3 (bad ranges), says
# SAYS and names /a/data's page 7 (at $page7, from scrub_where) and /small's extent block.
expect_rescrub() {
  local rc=0
  "$TUNE" --scrub "$DEV" >"$WORK/out" 2>"$WORK/err" || rc=$?
  expect_eq "$rc" 3 "$1: exit status ($(cat "$WORK/err"))"
  grep -q "$2" "$WORK/out" || fail "$1: $(cat "$WORK/out")"
  grep -q "^  \[$page7, $((page7 + 4096))) file /a/data offset 28672 length 4096$" "$WORK/out" ||
    fail "$1 does not name /a/data page 7: $(cat "$WORK/out")"
  grep -q "metadata: extent block of /small" "$WORK/out" || fail "$1: $(cat "$WORK/out")"
}

# expect_page7_bad [DD_OPERAND...]: page 0 of /a/data reads, page 7 (a recorded bad range)
# fails with EIO.
expect_page7_bad() {
  dd if="$MNT/a/data" of=/dev/null bs=4096 count=1 "$@" 2>/dev/null || fail "reading page 0 of /a/data"
  if dd if="$MNT/a/data" of=/dev/null bs=4096 skip=7 count=1 "$@" 2>"$WORK/dd.err"; then
    fail "reading a recorded bad page of /a/data succeeded"
  fi
  grep -q "Input/output error" "$WORK/dd.err" || fail "reading the bad page: $(cat "$WORK/dd.err")"
}

# expect_fsck_bad WHAT...: pmemfs-fsck -n of $DEV exits 4 (left as it is) and reports each WHAT
# as a bad range it cannot repair.
expect_fsck_bad() {
  local rc=0 what
  "$FSCK" -n "$DEV" >"$WORK/fsck.out" 2>&1 || rc=$?
  expect_eq "$rc" 4 "pmemfs-fsck -n of a device with bad ranges: exit status"
  for what in "$@"; do
    grep -q "^media: bad range .*: $what (not repairable)$" "$WORK/fsck.out" ||
      fail "pmemfs-fsck does not report '$what': $(cat "$WORK/fsck.out")"
  done
}

# ---------------------------------------------------------------------------------------------
# Holders: "$TOOL" hold FILE [rw|ro|none] (pmemfs-direct-tool: a process that opens and maps a
# file through the library), driven through a fifo. $TOOL must be set.

declare -A HFD HPID
# hold_start NAME FILE [HOW]: the holder opens FILE, maps it as HOW says and says ready (a NAME
# may be used again once its holder has exited).
hold_start() {
  [ -n "${HFD[$1]:-}" ] && exec {HFD[$1]}>&-
  rm -f "$WORK/$1.in"
  mkfifo "$WORK/$1.in"
  : >"$WORK/$1.out"
  "$TOOL" hold "$2" "${3:-rw}" <"$WORK/$1.in" >"$WORK/$1.out" 2>"$WORK/$1.err" &
  HPID[$1]=$!
  local fd
  exec {fd}>"$WORK/$1.in"
  HFD[$1]=$fd
  hold_answer "$1" 1 >/dev/null
}
# hold_answer NAME N: line N of the holder's output, once it is there (10 s at most).
hold_answer() {
  local i want=$2
  for i in $(seq 200); do
    if [ "$(wc -l <"$WORK/$1.out")" -ge "$want" ]; then
      sed -n "${want}p" "$WORK/$1.out"
      return 0
    fi
    kill -0 "${HPID[$1]}" 2>/dev/null ||
      fail "holder $1 died: $(cat "$WORK/$1.out" "$WORK/$1.err" | tail -n 3)"
    sleep 0.05
  done
  fail "holder $1 did not answer within 10 s"
}
# hold_ask NAME COMMAND: sends a command ("peek OFF", "read OFF", "pwrite OFF LEN SEED", ...:
# direct_tool.cc), prints the answer.
hold_ask() {
  local n
  n=$(wc -l <"$WORK/$1.out")
  echo "$2" >&"${HFD[$1]}"
  hold_answer "$1" $((n + 1))
}
# hold_pause NAME: SIGSTOPs the holder and waits (10 s at most) until every thread of it is
# stopped. kill returns before that: the kernel wakes one thread, which then stops the others,
# so the holder's callback thread can still answer a revocation sent just after kill returned.
hold_pause() {
  local pid=${HPID[$1]} i t states
  kill -STOP "$pid"
  for i in $(seq 200); do
    states=""
    for t in /proc/"$pid"/task/*/stat; do   # (the state follows "PID (COMM) ")
      states+=$(sed 's/.*) //' "$t" 2>/dev/null | cut -d' ' -f1 || true)
    done
    [ -n "$states" ] && [ -z "${states//T/}" ] && return 0
    sleep 0.05
  done
  fail "holder $1 (pid $pid) not stopped within 10 s of SIGSTOP (thread states: $states)"
}
# hold_stop NAME: the holder quits (and must exit 0).
hold_stop() {
  echo quit >&"${HFD[$1]}"
  wait "${HPID[$1]}" || fail "holder $1 exited with status $?"
}
