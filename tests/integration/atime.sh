#!/usr/bin/env bash
# atime policies, as a local filesystem keeps them: relatime (the default) updates an atime
# older than mtime or ctime (or a day old) on a read, also when the file's pages are in the
# kernel's cache; strictatime on every read; noatime never. Updates survive a remount.
source "$(dirname "$0")/lib.sh"
make_device 64M
format
mount_fs

# read_updates FILE: reads FILE; prints "updated" if its atime moved to about now, "kept" if
# it did not move, else the new atime.
read_updates() {
  local before now after
  before=$(stat -c %x "$1")
  now=$(date +%s)
  cat "$1" >/dev/null
  after=$(stat -c %x "$1")
  if [ "$after" = "$before" ]; then
    echo kept
  elif [ "$(stat -c %X "$1")" -ge $((now - 2)) ] && [ "$(stat -c %X "$1")" -le $((now + 2)) ]; then
    echo updated
  else
    echo "moved to $after"
  fi
}

echo data >"$MNT/cold"
remount                                  # nothing of cold is cached now
touch -a -d "2000-01-01" "$MNT/cold"
expect_eq "$(read_updates "$MNT/cold")" updated "relatime: a first read of an uncached file with an old atime"
expect_eq "$(read_updates "$MNT/cold")" kept "relatime: a second read"
remount
expect_range "$(stat -c %X "$MNT/cold")" $(($(date +%s) - 60)) $(($(date +%s) + 2)) "atime of cold after a remount"

remount noatime
touch -a -d "2000-01-01" "$MNT/cold"
expect_eq "$(read_updates "$MNT/cold")" kept "noatime: a read of a file with an old atime"

# What follows reads files whose pages the kernel has cached.
remount strictatime
cat "$MNT/cold" >/dev/null
sleep 1.1
expect_eq "$(read_updates "$MNT/cold")" updated "strictatime: a second read a second later"

remount
echo data >"$MNT/warm"
cat "$MNT/warm" >/dev/null              # its pages are cached
touch -a -d "2000-01-01" "$MNT/warm"
expect_eq "$(read_updates "$MNT/warm")" updated "relatime: a read of a cached file with an old atime"
pass
