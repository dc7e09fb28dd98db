#!/usr/bin/env bash
# The RAM partition: files under ram/ behave like ordinary files (data, rename, links, xattrs,
# a limited size with ENOSPC) and are gone after a remount or a kill -9, while files elsewhere
# stay; -o ram_dir= picks another directory; an empty RAM directory is removable (rm -rf MNT/*)
# until the next mount, and -o ram_dir= (empty) mounts without one.
source "$(dirname "$0")/lib.sh"
make_device 128M
format --ram-size 16M
mount_fs

mkdir -p "$MNT/ram"
random_file "$WORK/ref" 3M
cp "$WORK/ref" "$MNT/ram/data"
cp "$WORK/ref" "$MNT/keep"
expect_same "$MNT/ram/data" "$WORK/ref"
mkdir -p "$MNT/ram/sub/deeper"
echo small >"$MNT/ram/sub/deeper/small"
mv "$MNT/ram/sub/deeper/small" "$MNT/ram/sub/moved"
expect_eq "$(cat "$MNT/ram/sub/moved")" small "a file renamed inside ram/"
ln "$MNT/ram/data" "$MNT/ram/data-link"
expect_eq "$(stat -c %h "$MNT/ram/data")" 2 "link count of a hard link in ram/"
ln -s data "$MNT/ram/sym"
expect_same "$MNT/ram/sym" "$WORK/ref"
setfattr -n user.k -v v "$MNT/ram/data"
expect_eq "$(getfattr --only-values -n user.k "$MNT/ram/data")" v "an xattr of a file in ram/"
truncate -s 1M "$MNT/ram/data"
expect_eq "$(stat -c %s "$MNT/ram/data")" 1048576 "size of a truncated file in ram/"

# The partition holds 16 MiB: a 24 MiB file does not fit; after removing it, 8 MiB do.
expect_fail "No space left on device" dd if=/dev/zero of="$MNT/ram/fill" bs=1M count=24 conv=fsync status=none
rm -f "$MNT/ram/fill"
random_file "$WORK/eight" 8M
cp "$WORK/eight" "$MNT/ram/eight"
expect_same "$MNT/ram/eight" "$WORK/eight"
expect_same "$MNT/keep" "$WORK/ref"

remount
expect_eq "$(ls -A "$MNT/ram" 2>/dev/null)" "" "entries in ram/ after remount"
expect_same "$MNT/keep" "$WORK/ref"
# ram/ works again after the remount, and is emptied by a kill -9 as well.
mkdir -p "$MNT/ram"
cp "$WORK/eight" "$MNT/ram/again"
expect_same "$MNT/ram/again" "$WORK/eight"
crash_daemon
mount_fs
expect_eq "$(ls -A "$MNT/ram" 2>/dev/null)" "" "entries in ram/ after kill -9 and mount"
expect_same "$MNT/keep" "$WORK/ref"

# -o ram_dir=scratch: scratch/ is volatile, ram/ is an ordinary directory.
remount ram_dir=scratch
mkdir -p "$MNT/scratch" "$MNT/ram"
echo gone >"$MNT/scratch/x"
echo stays >"$MNT/ram/y"
remount ram_dir=scratch
expect_eq "$(ls -A "$MNT/scratch" 2>/dev/null)" "" "entries in scratch/ (ram_dir=scratch) after remount"
expect_eq "$(cat "$MNT/ram/y")" stays "ram/y when ram_dir=scratch, after remount"

# The default ram_dir (ram) now names that persistent directory, and ram_dir=keep a persistent
# file: each stays visible, listed once, and the mount has no RAM directory (a warning says so).
remount
expect_eq "$(cat "$MNT/ram/y")" stays "ram/y (persistent) at a default mount"
expect_eq "$(ls -A "$MNT" | count '^ram$')" 1 "times ram is listed"
expect_eq "$(grep -c "ram_dir 'ram': the root already has a persistent entry" "$LOG")" 1 \
  "warnings about the persistent ram/"
remount ram_dir=keep
expect_same "$MNT/keep" "$WORK/ref"
expect_eq "$(ls -A "$MNT" | count '^keep$')" 1 "times keep is listed (ram_dir=keep)"
expect_eq "$(grep -c "ram_dir 'keep': the root already has a persistent entry" "$LOG")" 1 \
  "warnings about keep"
remount ram_dir=scratch

# rm -rf MNT/* empties the filesystem, the (empty) RAM directory included; statfs stops
# counting its partition; the next mount brings it back.
echo busy >"$MNT/scratch/x"
expect_fail "Directory not empty" rmdir "$MNT/scratch"
rm "$MNT/scratch/x"
blocks=$(stat -f -c %b "$MNT")
rm -rf "${MNT:?}"/*
expect_eq "$(ls -A "$MNT")" "" "entries of the root after rm -rf MNT/*"
expect_eq "$(stat -c %h "$MNT")" 2 "links of the emptied root"
expect_eq "$(stat -f -c %b "$MNT")" $((blocks - 16 * 256)) "statfs blocks without the RAM directory"
remount ram_dir=scratch
expect_eq "$(ls -A "$MNT")" scratch "entries of the root after a remount"
remount ram_dir=
expect_eq "$(ls -A "$MNT")" "" "entries of the root mounted with ram_dir= (none)"
pass
