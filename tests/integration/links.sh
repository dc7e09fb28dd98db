#!/usr/bin/env bash
# Hard links (counts, shared content, the last name keeps the data, no links to directories)
# and symbolic links (targets short and long, dangling, relative, through directories).
source "$(dirname "$0")/lib.sh"
make_device 64M
format
mount_fs

echo data >"$MNT/f"
mkdir "$MNT/d"
ln "$MNT/f" "$MNT/d/g"
ln "$MNT/f" "$MNT/h"
expect_eq "$(stat -c %h "$MNT/f")" 3 "link count after two hard links"
expect_eq "$(stat -c %i "$MNT/d/g")" "$(stat -c %i "$MNT/f")" "inode number of a hard link"
echo more >>"$MNT/h"
expect_eq "$(cat "$MNT/d/g")" "$(printf 'data\nmore')" "content through another hard link"
rm "$MNT/f"
expect_eq "$(stat -c %h "$MNT/h")" 2 "link count after removing one name"
expect_eq "$($FSUTIL call link "$MNT/d" "$MNT/d-link")" EPERM "hard link to a directory"
expect_eq "$($FSUTIL call link "$MNT/h" "$MNT/d/g")" EEXIST "hard link over an existing name"
expect_eq "$($FSUTIL call link "$MNT/missing" "$MNT/x")" ENOENT "hard link to a missing file"

# A file unlinked while open stays readable through its descriptor.
echo open-data >"$MNT/open"
exec 7<"$MNT/open"
rm "$MNT/open"
expect_eq "$(cat <&7)" open-data "content of an open, unlinked file"
exec 7<&-

# Symbolic links.
ln -s h "$MNT/s-rel"
ln -s "$MNT/d/g" "$MNT/s-abs"
ln -s nowhere "$MNT/s-dangling"
ln -s d "$MNT/s-dir"
long=$(printf 'x%.0s' $(seq 1000))/$(printf 'y%.0s' $(seq 2000))
ln -s "$long" "$MNT/s-long"
expect_eq "$(readlink "$MNT/s-rel")" h "readlink of a relative symlink"
expect_eq "$(readlink "$MNT/s-long")" "$long" "readlink of a 3001-byte symlink"
expect_eq "$(stat -c %F:%h:%s "$MNT/s-rel")" "symbolic link:1:1" "type, links and size of s-rel"
expect_eq "$(stat -L -c %i "$MNT/s-abs")" "$(stat -c %i "$MNT/h")" "inode behind s-abs"
expect_eq "$(cat "$MNT/s-rel")" "$(printf 'data\nmore')" "content through a symlink"
expect_eq "$(cat "$MNT/s-dir/g")" "$(printf 'data\nmore')" "content through a symlinked directory"
expect_fail "No such file" cat "$MNT/s-dangling"
expect_eq "$(stat -c %h "$MNT/h")" 2 "link count is not changed by symlinks"

manifest "$MNT" >"$WORK/before"
remount
manifest "$MNT" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "the tree differs after remount (diff above)"
expect_eq "$(readlink "$MNT/s-long")" "$long" "the long symlink after remount"
rm "$MNT/h" "$MNT/d/g"
[ -e "$MNT/s-abs" ] && fail "s-abs still resolves after its target's last name was removed"
pass
