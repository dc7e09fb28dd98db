#!/usr/bin/env bash
# The namespace: mkdir/rmdir, rename (of files and directories, over an existing file, across
# directories, RENAME_NOREPLACE/EXCHANGE/WHITEOUT, into its own subdirectory refused),
# directory link counts, and readdir of a large directory; all again after a remount.
source "$(dirname "$0")/lib.sh"
make_device 64M
format
mount_fs

# mkdir / rmdir and directory link counts (2 + subdirectories).
mkdir -p "$MNT/a/b/c"
expect_eq "$(stat -c %h "$MNT/a")" 3 "link count of a (one subdirectory)"
expect_eq "$(stat -c %h "$MNT/a/b/c")" 2 "link count of an empty directory"
mkdir "$MNT/a/b2"
expect_eq "$(stat -c %h "$MNT/a")" 4 "link count of a (two subdirectories)"
expect_eq "$($FSUTIL call mkdir "$MNT/a")" EEXIST "mkdir of an existing directory"
expect_eq "$($FSUTIL call rmdir "$MNT/a")" ENOTEMPTY "rmdir of a non-empty directory"
expect_eq "$($FSUTIL call rmdir "$MNT/nothing")" ENOENT "rmdir of a missing directory"
echo x >"$MNT/a/file"
expect_eq "$($FSUTIL call rmdir "$MNT/a/file")" ENOTDIR "rmdir of a file"
expect_eq "$($FSUTIL call unlink "$MNT/a/b")" EISDIR "unlink of a directory"
rmdir "$MNT/a/b2"
expect_eq "$(stat -c %h "$MNT/a")" 3 "link count of a after rmdir"
[ -e "$MNT/a/b2" ] && fail "a/b2 still exists after rmdir"

# rename of a file within a directory and across directories.
echo one >"$MNT/a/one"
mv "$MNT/a/one" "$MNT/a/uno"
[ -e "$MNT/a/one" ] && fail "a/one still exists after rename"
expect_eq "$(cat "$MNT/a/uno")" one "content after rename"
mv "$MNT/a/uno" "$MNT/a/b/c/uno"
expect_eq "$(cat "$MNT/a/b/c/uno")" one "content after rename across directories"
expect_eq "$(ls "$MNT/a")" "$(printf 'b\nfile')" "entries of a after moving uno out"

# rename over an existing file: the target's content is replaced, its old inode is gone.
echo old >"$MNT/target"
echo new >"$MNT/source"
ln "$MNT/target" "$MNT/target-link"
expect_eq "$(stat -c %h "$MNT/target")" 2 "link count of target before being replaced"
mv -f "$MNT/source" "$MNT/target"
expect_eq "$(cat "$MNT/target")" new "content of target after rename over it"
expect_eq "$(stat -c %h "$MNT/target-link")" 1 "link count of the replaced inode"
expect_eq "$(cat "$MNT/target-link")" old "the replaced inode's other name"
[ -e "$MNT/source" ] && fail "source still exists after rename over target"

# renameat2: NOREPLACE refuses an existing target; EXCHANGE swaps two names.
echo x >"$MNT/x"; echo y >"$MNT/y"
expect_eq "$($FSUTIL rename2 "$MNT/x" "$MNT/y" noreplace)" EEXIST "RENAME_NOREPLACE over a file"
expect_eq "$($FSUTIL rename2 "$MNT/x" "$MNT/y" exchange)" ok "RENAME_EXCHANGE"
expect_eq "$(cat "$MNT/x")$(cat "$MNT/y")" yx "contents after RENAME_EXCHANGE"
expect_eq "$($FSUTIL rename2 "$MNT/x" "$MNT/z" noreplace)" ok "RENAME_NOREPLACE to a new name"

# Directories: a directory into its own subdirectory is refused; over an empty directory is
# allowed, over a non-empty one refused; a file over a directory and back refused.
expect_eq "$($FSUTIL call rename "$MNT/a" "$MNT/a/b/c/a")" EINVAL "rename of a into its own subdirectory"
expect_eq "$($FSUTIL call rename "$MNT/a" "$MNT/a/b")" EINVAL "rename of a onto its own child"
mkdir "$MNT/empty" "$MNT/full"
touch "$MNT/full/f"
expect_eq "$($FSUTIL call rename "$MNT/a" "$MNT/full")" ENOTEMPTY "rename of a directory over a non-empty one"
expect_eq "$($FSUTIL call rename "$MNT/z" "$MNT/empty")" EISDIR "rename of a file over a directory"
expect_eq "$($FSUTIL call rename "$MNT/empty" "$MNT/z")" ENOTDIR "rename of a directory over a file"
mkdir "$MNT/d2"
expect_eq "$($FSUTIL call rename "$MNT/a/b" "$MNT/d2/b")" ok "rename of a directory across directories"
expect_eq "$(stat -c %h "$MNT/a")" 2 "link count of a after its subdirectory moved out"
expect_eq "$(stat -c %h "$MNT/d2")" 3 "link count of d2 after a subdirectory moved in"
expect_eq "$(cd "$MNT/d2/b/c" && cd .. && pwd -P)" "$MNT/d2/b" "'..' of the moved directory"
expect_eq "$($FSUTIL call rename "$MNT/a" "$MNT/empty")" ok "rename of a directory over an empty one"
[ -e "$MNT/a" ] && fail "a still exists after rename over empty"

# A large directory: readdir returns every name exactly once; lookups and removal work.
mkdir "$MNT/many"
(cd "$MNT/many" && seq -f 'entry-%06g' 2000 | xargs touch)
expect_eq "$(ls "$MNT/many" | wc -l)" 2000 "entries listed in many/"
expect_eq "$(ls "$MNT/many" | sort | uniq -d | wc -l)" 0 "names listed twice in many/"
expect_eq "$(ls -f "$MNT/many" | count '^\.\.\?$')" 2 "'.' and '..' in readdir of many/"
(cd "$MNT/many" && seq -f 'entry-%06g' 1 2 2000 | xargs rm)
expect_eq "$(ls "$MNT/many" | wc -l)" 1000 "entries left after removing every other one"
[ -e "$MNT/many/entry-000001" ] && fail "removed entry-000001 still found by lookup"
[ -e "$MNT/many/entry-000002" ] || fail "entry-000002 not found by lookup"

# RENAME_WHITEOUT (what overlayfs does in its upper layer): the old name is left naming a
# whiteout, a character device 0/0, in the same step.
echo w >"$MNT/wsrc"
echo old >"$MNT/wdst"
expect_eq "$($FSUTIL rename2 "$MNT/wsrc" "$MNT/wdst" whiteout)" ok "renameat2 RENAME_WHITEOUT"
expect_eq "$(stat -c '%F %t:%T' "$MNT/wsrc")" "character special file 0:0" "the name left by RENAME_WHITEOUT"
expect_eq "$(cat "$MNT/wdst")" w "the target of RENAME_WHITEOUT"
# pmemfs as overlayfs's upper layer: removing a lower file leaves a whiteout in pmemfs. (The
# overlay is unmounted before any check, so a failing check never leaves it behind.)
mkdir "$WORK/lower" "$WORK/ov" "$MNT/upper" "$MNT/ovwork"
echo lower >"$WORK/lower/gone"
if mount -t overlay overlay -o "lowerdir=$WORK/lower,upperdir=$MNT/upper,workdir=$MNT/ovwork" \
    "$WORK/ov" 2>"$WORK/ov.err"; then
  rm_rc=0
  rm "$WORK/ov/gone" 2>>"$WORK/ov.err" || rm_rc=$?
  ls -A "$WORK/ov" >"$WORK/ov.ls" 2>>"$WORK/ov.err" || true
  umount "$WORK/ov"
  expect_eq "$rm_rc" 0 "rm of a lower file through the overlay ($(cat "$WORK/ov.err"))"
  expect_eq "$(cat "$WORK/ov.ls")" "" "the overlay after the rm"
  expect_eq "$(stat -c '%F %t:%T' "$MNT/upper/gone")" "character special file 0:0" \
    "the whiteout overlayfs left in pmemfs"
else
  log "overlayfs part skipped: this kernel does not mount it ($(cat "$WORK/ov.err"))"
fi

manifest "$MNT" >"$WORK/before"
remount
manifest "$MNT" >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "the tree differs after remount (diff above)"
expect_eq "$(cat "$MNT/target")" new "target after remount"
expect_eq "$(stat -c %h "$MNT/d2")" 3 "link count of d2 after remount"
pass
