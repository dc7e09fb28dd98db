#!/usr/bin/env bash
# Refusals: bad devices and bad options make the daemon (as mount.fuse3 runs it, without -f) exit
# non-zero with exactly one line on stderr, without crashing and without mounting; so does a
# second mount of a device that is mounted with options it cannot share. mkpmemfs refuses a missing device and, without
# --force, a device that already holds a pmemfs.
source "$(dirname "$0")/lib.sh"
make_device 64M
format

# expect_refused WHAT MOUNTPOINT [daemon arguments after DEVICE MOUNTPOINT]; uses $dev.
expect_refused() {
  local what=$1 mnt=$2 rc=0
  shift 2
  timeout 30 "$PMEMFS" "$dev" "$mnt" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || rc=$?
  if awk -v m="$mnt" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; then
    fusermount3 -u "$mnt" || umount -l "$mnt"
    fail "$what: mounted, expected a refusal"
  fi
  [ "$rc" != 124 ] || fail "$what: the daemon hung (killed after 30 s)"
  [ "$rc" -lt 128 ] || fail "$what: the daemon died from signal $((rc - 128)): $(cat "$WORK/err")"
  [ "$rc" != 0 ] || fail "$what: exit status 0, expected non-zero; stderr: $(cat "$WORK/err")"
  [ "$(wc -l <"$WORK/err")" = 1 ] ||
    fail "$what: expected one line on stderr, got $(wc -l <"$WORK/err"):$(echo; cat "$WORK/err")"
  [ -s "$WORK/err" ] && [ "$(tr -d ' \n' <"$WORK/err")" != "" ] || fail "$what: empty message"
  log "$what -> $(cat "$WORK/err")"
}

opts="mode=$MODE,config=none"
dev=/dev/shm/pmemfs-it-$TEST-$MODE-$$-missing
expect_refused "a missing device file" "$MNT" -o "$opts"
dev=${PARTS[0]}-zeros
SCRATCH+=("$dev")
truncate -s 64M "$dev"
expect_refused "a file of zeros" "$MNT" -o "$opts"
head -c 8M /dev/urandom >"$dev"
expect_refused "a file of random bytes" "$MNT" -o "$opts"
dev=$DEV
expect_refused "-o mode=bogus" "$MNT" -o "mode=bogus,config=none"
expect_refused "an unknown option" "$MNT" -o "$opts,frobnicate=1"
expect_refused "an unknown option alone" "$MNT" -o frobnicate
expect_refused "a missing config file" "$MNT" -o "mode=$MODE,config=$WORK/no-such.conf"
printf '[defaults]\nmode = "fast"\n' >"$WORK/bad.conf"
expect_refused "a config file with a bad value" "$MNT" -o "mode=$MODE,config=$WORK/bad.conf"
expect_refused "a missing mountpoint" "$WORK/no-such-dir" -o "$opts"

# The device is mounted: a second mount in another mode is refused (mounttwice.sh: the second
# mounts that work), the first keeps working.
mount_fs
echo first >"$MNT/f"
mkdir "$WORK/mnt2"
other=direct; [ "$MODE" = direct ] && other=copy
expect_refused "a second mount of the same device in another mode" "$WORK/mnt2" -o "mode=$other"
expect_eq "$(cat "$MNT/f")" first "the first mount after a refused second one"
umount_fs

# pages mode needs the descriptor area.
make_device 64M
"$MKPMEMFS" --mode direct --no-descriptors "$DEV" >/dev/null
dev=$DEV
expect_refused "-o mode=pages on a device formatted with --no-descriptors" "$MNT" -o "mode=pages,config=none"

# mkpmemfs: a missing device; an existing pmemfs without --force (named in the message).
rc=0
"$MKPMEMFS" --mode "$MODE" /dev/shm/pmemfs-it-$TEST-$MODE-$$-missing >/dev/null 2>"$WORK/err" || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "mkpmemfs on a missing file: status $rc, expected a failure"
[ -s "$WORK/err" ] || fail "mkpmemfs on a missing file: nothing on stderr"
rc=0
"$MKPMEMFS" --mode "$MODE" "$DEV" >/dev/null 2>"$WORK/err" || rc=$?
[ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] || fail "mkpmemfs over an existing pmemfs without --force: status $rc, expected a refusal"
grep -qi pmemfs "$WORK/err" || fail "mkpmemfs refusal does not name what it found: $(cat "$WORK/err")"
format --force
pass
