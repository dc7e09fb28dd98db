#!/usr/bin/env bash
# The image truncated under a mounted filesystem (the user-space form of a pmem device going
# away): write 30 MiB, truncate -s 8M IMAGE, write again. The second write fails with EIO (not
# ENOTCONN: the daemon does not die of SIGBUS), the daemon stays up and says in one log line
# that the device shrank, what is cached still answers, the unmount completes (the daemon exits
# by itself, reporting that the filesystem was not marked clean), and the shrunken image is then
# refused with a one-line reason.
source "$(dirname "$0")/lib.sh"
make_device 64M
format
mount_fs
random_file "$WORK/data" 30M
dd if="$WORK/data" of="$MNT/first" bs=1M conv=fsync status=none
mkdir "$MNT/dir"
sync -f "$MNT"

truncate -s 8M "${PARTS[0]}"
expect_fail "Input/output error" dd if="$WORK/data" of="$MNT/again" bs=1M conv=fsync status=none
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died after its image shrank"
is_mounted || fail "the mount went away after its image shrank"
[ -d "$MNT/dir" ] || fail "the mount stopped answering after its image shrank"
expect_fail "Input/output error" sh -c "echo x >'$MNT/dir/new'"
kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon died after a second write to its shrunken image"
expect_eq "$(grep -c "the device shrank under the filesystem (${PARTS[0]} is now 8388608 bytes, was 67108864)" "$LOG")" 1 \
  "log lines saying the device shrank"

fusermount3 -u "$MNT" 2>"$WORK/umount.err" || fail "fusermount3 -u failed: $(cat "$WORK/umount.err")"
wait_daemon_exit 30
[ "$DAEMON_RC" -lt 128 ] || fail "the daemon died from signal $((DAEMON_RC - 128)) at unmount"
[ "$DAEMON_RC" = 1 ] || fail "the daemon exited with status $DAEMON_RC; 1 (not marked clean) expected"
grep -q "unmount: the device shrank under the filesystem.*not written back nor marked clean" "$LOG" ||
  fail "the unmount did not say the filesystem was left as it was"
is_mounted && fail "still mounted after the unmount"

expect_fail "part is smaller (8388608 bytes) than when it was created" \
  "$PMEMFS" "$DEV" "$MNT" -f -o "mode=$MODE,config=none"
pass
