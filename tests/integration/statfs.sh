#!/usr/bin/env bash
# statfs and the mount table, on a two-part device: df and stat -f report the true size, used and
# free blocks and inodes, and move by what was written and removed; /proc/mounts, findmnt and df
# name the device string given to the daemon; umount DEVICE unmounts.
source "$(dirname "$0")/lib.sh"
make_device 64M 2
format --inodes 2000
mount_fs

read -r src dir type opts _ < <(awk -v m="$MNT" '$2 == m' /proc/mounts)
expect_eq "$src" "$DEV" "source of the mount in /proc/mounts"
expect_eq "$type" fuse.pmemfs "type of the mount in /proc/mounts"
expect_eq "$(findmnt -n -o SOURCE "$MNT")" "$DEV" "findmnt SOURCE"
# Plain df lists every mount; another test's mount may be coming or going (a dead FUSE mount
# makes df print an error and exit 1), so only whether ours is listed counts here.
{ df -B4096 2>/dev/null || true; } | grep -q " $MNT\$" ||
  fail "plain df does not list the mount (zero blocks reported?)"

read -r dsrc size used avail < <(df -B4096 --output=source,size,used,avail "$MNT" | tail -n 1)
expect_eq "$dsrc" "$DEV" "df source"
data_blocks=$(((2 * 64 * 1048576 - 2 * 4096) / 4096))   # both parts minus their headers
expect_range "$size" $((data_blocks * 6 / 10)) "$data_blocks" "df size in 4 KiB blocks (device data: $data_blocks)"
expect_range $((used + avail)) $((size * 9 / 10)) "$size" "df used + available"
expect_range "$used" 0 $((size / 5)) "df used blocks of an empty filesystem"

read -r bsize frsize blocks bfree bavail files ffree namelen < <(stat -f -c '%s %S %b %f %a %c %d %l' "$MNT")
expect_eq "$frsize" 4096 "stat -f fundamental block size"
expect_eq "$blocks" "$size" "stat -f blocks (same as df)"
expect_range "$files" 2000 2200 "stat -f inodes (formatted with --inodes 2000)"
expect_range "$ffree" $((files - 10)) $((files - 1)) "stat -f free inodes of an empty filesystem"
expect_eq "$namelen" 255 "stat -f maximum name length"

# Write 16 MiB and 10 files: used grows by 4096 blocks (and a little metadata), free inodes by 10.
mkdir "$MNT/d"
for i in $(seq 9); do echo "$i" >"$MNT/d/$i"; done
random_file "$MNT/d/big" 16M
sync -f "$MNT"
read -r _ used2 avail2 < <(df -B4096 --output=size,used,avail "$MNT" | tail -n 1)
expect_range $((used2 - used)) 4096 4300 "df used blocks after writing 16 MiB"
# (available space keeps room for the extent blocks a file of all of it could need: 1/127)
expect_range $((avail - avail2)) 4050 4300 "df available blocks lost by writing 16 MiB"
expect_eq "$(stat -f -c %d "$MNT")" $((ffree - 11)) "free inodes after creating 1 directory and 10 files"
rm -r "$MNT/d"
sync -f "$MNT"
settle_range "$used" $((used + 16)) "df used blocks after removing them" used_blocks
settle_range "$ffree" "$ffree" "free inodes after removing them" free_inodes

# What statfs reports as available, a file can have: fallocate of it less 512 KiB succeeds
# (the RAM partition is not available space), and the space comes back.
avail_now=$(stat -f -c %a "$MNT")
fallocate -l $((avail_now * 4096 - 512 * 1024)) "$MNT/avail" ||
  fail "fallocate of the available space less 512 KiB ($avail_now blocks available) failed"
rm "$MNT/avail"
settle_range "$used" $((used + 16)) "df used blocks after removing the fallocated file" used_blocks

# The same numbers after a remount; then unmount by the device name, as umount(8) users do.
random_file "$MNT/keep" 4M
sync -f "$MNT"
before=$(used_blocks)
remount
expect_eq "$(used_blocks)" "$before" "df used blocks after remount"
umount "$DEV"
wait_daemon_exit 30
expect_eq "$DAEMON_RC" 0 "daemon exit status after umount DEVICE"
pass
