#!/usr/bin/env bash
# The daemon as mount(8) and fstab run it: through mount.fuse3 ("PROGRAM#DEVICE" form, with the
# options fstab lines carry) and directly without -f. Either way the mount is up when the command
# returns, the common options reach the kernel, and unmounting ends the daemon, which leaves the
# filesystem clean (the data is there at the next mount).
source "$(dirname "$0")/lib.sh"
make_device 64M
format

# daemon_of_device: the pid of the process holding the device's part (the daemonized pmemfs), so
# that cleanup can end it if the test fails.
daemon_of_device() {
  DAEMON_PID=$(fuser "${PARTS[0]}" 2>/dev/null | tr -d ' ')
  [ -n "$DAEMON_PID" ] || fail "no process holds ${PARTS[0]} while it is mounted"
  echo "$DAEMON_PID" >"$WORK/daemon.pid"
}
# wait_unlocked: after unmounting, the daemon (not our child) exits and unlocks the part.
wait_unlocked() {
  local i
  for i in $(seq 300); do
    kill -0 "$DAEMON_PID" 2>/dev/null || { DAEMON_PID=""; return 0; }
    sleep 0.1
  done
  fail "the daemon (pid $DAEMON_PID) still runs 30 s after $1"
}

mount.fuse3 "$PMEMFS#$DEV" "$MNT" \
  -o "mode=$MODE,config=none,defaults,noatime,nosuid,nodev,noexec,_netdev,nofail,x-systemd.automount" \
  2>"$WORK/err" || fail "mount.fuse3 failed: $(cat "$WORK/err")"
is_mounted || fail "not mounted when mount.fuse3 returned"
daemon_of_device
read -r src _ type opts _ < <(awk -v m="$MNT" '$2 == m' /proc/mounts)
expect_eq "$src $type" "$DEV fuse.pmemfs" "source and type in /proc/mounts"
for o in noatime nosuid nodev noexec; do
  [[ ",$opts," == *",$o,"* ]] || fail "option $o missing from the mount's options: $opts"
done
random_file "$WORK/a" 1M
cp "$WORK/a" "$MNT/a"
umount "$MNT"
wait_unlocked "umount"

"$PMEMFS" "$DEV" "$MNT" -o "mode=$MODE,config=none" 2>"$WORK/err" || fail "pmemfs (daemonizing) failed: $(cat "$WORK/err")"
is_mounted || fail "not mounted when pmemfs returned"
[ -s "$WORK/err" ] && fail "a successful daemonizing mount printed on stderr: $(cat "$WORK/err")"
daemon_of_device
expect_same "$MNT/a" "$WORK/a"
random_file "$WORK/b" 3M
cp "$WORK/b" "$MNT/b"
fusermount3 -u "$MNT"
wait_unlocked "fusermount3 -u"

mount_fs
expect_same "$MNT/a" "$WORK/a"
expect_same "$MNT/b" "$WORK/b"
pass
