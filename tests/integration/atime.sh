#!/usr/bin/env bash
# atime policies: relatime (the default) updates an atime older than mtime or ctime (or a day
# old) on a read, strictatime on every read, noatime never; updates survive a remount.
# A read the kernel serves from its page cache never reaches the daemon, so when an update becomes
# due the daemon has the kernel drop its cached pages (the last part below checks that); the
# first parts start each read with the kernel's cache empty.
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

# drop_kernel_cache: the next read of any file goes to the daemon.
drop_kernel_cache() { sync; echo 1 >/proc/sys/vm/drop_caches; }

remount strictatime
cat "$MNT/cold" >/dev/null
sleep 1.1
drop_kernel_cache
expect_eq "$(read_updates "$MNT/cold")" updated "strictatime: a second read a second later"

remount
echo data >"$MNT/warm"
touch -a -d "2000-01-01" "$MNT/warm"
drop_kernel_cache
expect_eq "$(read_updates "$MNT/warm")" updated "relatime: a read of a file with an old atime"

# relatime through the kernel's page cache: after a read the file's pages are cached and later
# reads never reach the daemon; when an update becomes due (touch -m, an old atime, a write)
# the next read must reach it again.
echo data >"$MNT/cached"
cat "$MNT/cached" >/dev/null
expect_ne "$(fincore -n -o PAGES "$MNT/cached" | tr -d ' ')" 0 "pages of cached in the kernel's cache"
expect_eq "$(read_updates "$MNT/cached")" kept "relatime: a read from the cache, no update due"
touch -m "$MNT/cached"
expect_eq "$(read_updates "$MNT/cached")" updated "relatime: a read through the cache after touch -m"
expect_eq "$(read_updates "$MNT/cached")" kept "relatime: the read after that"
touch -a -d "2 days ago" "$MNT/cached"
expect_eq "$(read_updates "$MNT/cached")" updated "relatime: a read through the cache of a 2-day-old atime"
echo more >>"$MNT/cached"
expect_eq "$(read_updates "$MNT/cached")" updated "relatime: a read through the cache after a write"
pass
