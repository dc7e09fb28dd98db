#!/usr/bin/env bash
# Data and metadata survive unmount and mount: a tree of directories, files of many sizes,
# modes, owners, times, links, symlinks, xattrs, compared as a manifest after each remount, after
# a SIGTERM to the daemon (which unmounts cleanly) and after changes made between remounts.
source "$(dirname "$0")/lib.sh"
make_device 128M
format
mount_fs

populate() {   # populate DIR SEED
  local d=$1 i
  mkdir -p "$d/sub/deeper" "$d/empty"
  for i in $(seq 0 40); do random_file "$d/sub/f$i" $((i * i * 997)); done
  random_file "$d/sub/deeper/big" 6M
  chmod 600 "$d/sub/f3"; chmod 4755 "$d/sub/f4"; chmod 1777 "$d/empty"
  chown 100:200 "$d/sub/f5"
  touch -d "2011-11-11 11:11:11.111111111" "$d/sub/f6"
  ln "$d/sub/f7" "$d/hard7"
  ln -s sub/f8 "$d/sym8"
  setfattr -n user.tag -v "$2" "$d/sub/f9"
  mkfifo "$d/fifo"
  truncate -s 100M "$d/sparse"
  printf tail >>"$d/sparse"
}
populate "$MNT/one" first
manifest "$MNT" >"$WORK/m1"
remount
manifest "$MNT" >"$WORK/m2"
diff "$WORK/m1" "$WORK/m2" >&2 || fail "the tree differs after the first remount (diff above)"

# Change things between remounts: remove, rename, rewrite, add.
rm -r "$MNT/one/sub/deeper"
mv "$MNT/one/sub/f10" "$MNT/one/f10-moved"
random_file "$MNT/one/sub/f11" 77777
chmod 640 "$MNT/one/sub/f12"
populate "$MNT/two" second
manifest "$MNT" >"$WORK/m3"
remount
manifest "$MNT" >"$WORK/m4"
diff "$WORK/m3" "$WORK/m4" >&2 || fail "the tree differs after changes and a remount (diff above)"

# SIGTERM: the daemon unmounts, flushes and exits 0.
echo last >"$MNT/last"
kill -TERM "$DAEMON_PID"
wait_daemon_exit 30
expect_eq "$DAEMON_RC" 0 "daemon exit status after SIGTERM"
is_mounted && fail "still mounted after SIGTERM to the daemon"
mount_fs
expect_eq "$(cat "$MNT/last")" last "a file written just before SIGTERM"
rm "$MNT/last"
manifest "$MNT" >"$WORK/m5"
diff "$WORK/m4" "$WORK/m5" >&2 || fail "the tree differs after SIGTERM and mount (diff above)"

# Times as stat showed them before the unmount are the times after it, also for files written
# and appended to just before (in copy mode: through the kernel's write-back cache).
mkdir "$MNT/fresh"
for i in 1 2 3 4 5; do
  echo x >"$MNT/fresh/a$i"
  printf more >>"$MNT/fresh/a$i"
  truncate -s 10M "$MNT/fresh/t$i"
  printf tail >>"$MNT/fresh/t$i"
done
stat -c '%n size=%s mtime=%y ctime=%z' "$MNT"/fresh/* >"$WORK/t1"
remount
stat -c '%n size=%s mtime=%y ctime=%z' "$MNT"/fresh/* >"$WORK/t2"
diff "$WORK/t1" "$WORK/t2" >&2 || fail "times of files written just before the unmount changed over the remount (diff above)"
pass
