#!/usr/bin/env bash
# kill -9 during direct access (direct and pages mode) loses nothing acknowledged, as README
# documents it: a library write is durable when it returns; the size an append made is the
# daemon's at once (stat) and durable at fsync, or when the daemon takes the client's leases
# back (its last close, or its death).
#   - a client killed mid-append and mid-overwrite: every write that returned is there, through
#     the kernel, and after a remount;
#   - the daemon killed while clients write under leases: every overwrite that returned and
#     every append whose fsync returned is there after the remount, the bytes past them are the
#     record in flight or zeros, and the clients stop writing in the device (the mount they
#     wrote for is gone: a new daemon may reuse any block) and get errors, as the kernel path
#     gives them;
#   - pmemfs-fsck -n finds nothing wrong.
source "$(dirname "$0")/lib.sh"
skip_unless_mode direct pages
need_direct_tool
make_device 256M
format
mount_fs

# wait_lines FILE N PID: FILE has N lines (PID, which writes them, runs on meanwhile).
wait_lines() {
  local i
  for i in $(seq 1200); do
    [ "$(wc -l <"$1")" -ge "$2" ] && return 0
    kill -0 "$3" 2>/dev/null || fail "the writer of $1 ended early: $(tail -n 3 "$1")"
    sleep 0.05
  done
  fail "$1: not $2 lines within 60 s"
}
# numbers FILE: the lines of FILE that are acknowledgements (not the "error" line).
numbers() { grep -c '^[0-9]' "$1" || true; }

# --- a client killed mid-write ------------------------------------------------------------------
"$TOOL" append "$MNT/log" 40000 3000 1 >"$WORK/log.acks" &
writer=$!
wait_lines "$WORK/log.acks" 300 "$writer"
kill -9 "$writer"
wait "$writer" 2>/dev/null || true
acked=$(numbers "$WORK/log.acks")
log "client killed after $acked appends acknowledged"
"$TOOL" check-appends "$MNT/log" 3000 1 "$acked"

"$TOOL" write "$MNT/ow" 0 $((256 * 4096)) 10
"$TOOL" overwrite "$MNT/ow" 256 4096 10 >"$WORK/ow.acks" &
writer=$!
wait_lines "$WORK/ow.acks" 700 "$writer"
kill -9 "$writer"
wait "$writer" 2>/dev/null || true
"$TOOL" check-overwrites "$MNT/ow" 256 4096 10 "$WORK/ow.acks"

remount
"$TOOL" check-appends "$MNT/log" 3000 1 "$acked"
"$TOOL" check-overwrites "$MNT/ow" 256 4096 10 "$WORK/ow.acks"
log_size=$(stat -c %s "$MNT/log")

# --- the daemon killed mid-lease ----------------------------------------------------------------
"$TOOL" write "$MNT/ow2" 0 $((512 * 4096)) 20
"$TOOL" overwrite "$MNT/ow2" 512 4096 20 >"$WORK/ow2.acks" 2>"$WORK/ow2.err" &
over=$!
"$TOOL" append "$MNT/log2" 40000 3000 2 sync >"$WORK/log2.acks" 2>"$WORK/log2.err" &
app=$!
wait_lines "$WORK/ow2.acks" 1000 "$over"
wait_lines "$WORK/log2.acks" 200 "$app"
crash_daemon
# Both writers must stop: their next write (or fsync) fails, as on the dead mount.
for i in $(seq 600); do
  kill -0 "$over" 2>/dev/null || kill -0 "$app" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$over" 2>/dev/null &&
  fail "a library writer still writes in the device 60 s after its daemon died ($(numbers "$WORK/ow2.acks") writes acknowledged)"
kill -0 "$app" 2>/dev/null && fail "a library appender still appends 60 s after its daemon died"
grep -q '^error' "$WORK/ow2.acks" || fail "the overwriting client ended without an error: $(tail -n 2 "$WORK/ow2.acks")"
over_rc=0; wait "$over" || over_rc=$?
app_rc=0; wait "$app" || app_rc=$?
expect_eq "$over_rc" 3 "exit status of the overwriting client after the daemon died"
expect_ne "$app_rc" 0 "exit status of the appending client after the daemon died"
log "daemon killed after $(numbers "$WORK/ow2.acks") overwrites and $(numbers "$WORK/log2.acks") appends+fsync acknowledged"

mount_fs
"$TOOL" check-overwrites "$MNT/ow2" 512 4096 20 "$WORK/ow2.acks"
"$TOOL" check-appends "$MNT/log2" 3000 2 "$(numbers "$WORK/log2.acks")"
# What the first part left is untouched.
"$TOOL" check-appends "$MNT/log" 3000 1 "$acked"
expect_eq "$(stat -c %s "$MNT/log")" "$log_size" "size of the first appended file after the daemon was killed"
"$TOOL" check-overwrites "$MNT/ow" 256 4096 10 "$WORK/ow.acks"
# The file grows on as usual after recovery (blocks allocated ahead before the crash read as
# zeros when a later write leaves a gap).
size2=$(stat -c %s "$MNT/log2")
"$TOOL" write "$MNT/log2" $((size2 + 10000)) 5000 3
cmp -n 10000 -i "$size2:0" "$MNT/log2" /dev/zero || fail "the gap past the recovered end of log2 is not zeros"
"$TOOL" check "$MNT/log2" $((size2 + 10000)) 5000 3
umount_fs
expect_fsck_clean "after kill -9"
pass
