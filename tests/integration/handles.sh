#!/usr/bin/env bash
# File handles, as NFS and backup tools use them: name_to_handle_at + open_by_handle_at resolve
# a file, directories and the root while the kernel has them cached,
# after it dropped them (it then looks up "." on the inode number), and after an unmount and a
# mount (the same device gives the same handle). A removed file's handle is stale (ESTALE),
# also once its slot is reused, and so is a RAM-directory file's after a remount.
source "$(dirname "$0")/lib.sh"
HANDLE=${PMEMFS_HANDLE:?PMEMFS_HANDLE: the pmemfs-handle program (CMake sets it)}
make_device 64M
format
mount_fs
mkdir -p "$MNT/d/sub"
echo "file f" >"$MNT/d/f"
random_file "$WORK/big" 300K
cp "$WORK/big" "$MNT/big"
echo "in ram" >"$MNT/ram/r"

declare -A H
for p in d/f big d d/sub .; do H[$p]=$("$HANDLE" save "$MNT/$p"); done
rh=$("$HANDLE" save "$MNT/ram/r")

# check_big: the 300K file opens by its handle, its bytes intact.
check_big() { "$HANDLE" open "$MNT" "${H[big]}" >"$WORK/big.back"; expect_same "$WORK/big.back" "$WORK/big"; }
# check_all WHEN: every saved handle opens what it named.
check_all() {
  expect_eq "$("$HANDLE" open "$MNT" "${H[d/f]}")" "file f" "d/f by handle ($1)"
  check_big
  local p
  for p in d d/sub .; do
    expect_eq "$("$HANDLE" open "$MNT" "${H[$p]}")" dir "$p by handle ($1)"
  done
}
# drop_caches: the kernel forgets every unused dentry and inode, ours included.
drop_caches() { echo 2 >/proc/sys/vm/drop_caches; }

check_all "cached"
drop_caches
check_all "dropped from the kernel's cache"
expect_eq "$("$HANDLE" open "$MNT" "$rh")" "in ram" "a RAM file by handle"

remount
for p in "${!H[@]}"; do
  expect_eq "$("$HANDLE" save "$MNT/$p")" "${H[$p]}" "the handle of $p after a remount"
done
check_all "after a remount"
expect_fail "Stale file handle" "$HANDLE" open "$MNT" "$rh"   # gone with the RAM partition
echo "a new ram file" >"$MNT/ram/r2"
expect_fail "Stale file handle" "$HANDLE" open "$MNT" "$rh"   # its number again, not its file

# A removed file: stale at once, after the kernel forgot it, and once its slot is reused.
rm "$MNT/d/f"
expect_fail "Stale file handle" "$HANDLE" open "$MNT" "${H[d/f]}"
drop_caches
expect_fail "Stale file handle" "$HANDLE" open "$MNT" "${H[d/f]}"
for i in $(seq 20); do echo "$i" >"$MNT/d/new$i"; done
expect_fail "Stale file handle" "$HANDLE" open "$MNT" "${H[d/f]}"
drop_caches
expect_fail "Stale file handle" "$HANDLE" open "$MNT" "${H[d/f]}"
rmdir "$MNT/d/sub"
drop_caches
expect_fail "Stale file handle" "$HANDLE" open "$MNT" "${H[d/sub]}"
check_big
umount_fs
mount_fs
expect_fail "Stale file handle" "$HANDLE" open "$MNT" "${H[d/f]}"
check_big
umount_fs
pass
