#!/usr/bin/env bash
# Special files: a fifo (data passes between two processes through the mounted node), character
# and block device nodes (type and numbers), a unix socket bound in the mount; after a remount.
source "$(dirname "$0")/lib.sh"
make_device 64M
format
mount_fs

mkfifo -m 640 "$MNT/fifo"
expect_eq "$(stat -c '%F %a %s' "$MNT/fifo")" "fifo 640 0" "type, mode and size of a fifo"
seq 1000 >"$MNT/fifo" &
writer=$!
expect_eq "$(timeout 10 cat "$MNT/fifo" | md5sum)" "$(seq 1000 | md5sum)" "data read through the fifo"
wait $writer
mknod "$MNT/null" c 1 3
mknod -m 600 "$MNT/blk" b 7 130
expect_eq "$(stat -c '%F %t:%T' "$MNT/null")" "character special file 1:3" "a character device node"
expect_eq "$(stat -c '%F %t:%T %a' "$MNT/blk")" "block special file 7:82 600" "a block device node (hex numbers)"
python3 -c "import socket; s = socket.socket(socket.AF_UNIX); s.bind('$MNT/sock')"
expect_eq "$(stat -c %F "$MNT/sock")" socket "type of a bound unix socket"
expect_eq "$($FSUTIL call mknod "$MNT/fifo")" EEXIST "mknod over an existing name"

stat -c '%n %F %a %t:%T %h' "$MNT"/* >"$WORK/before"
remount
stat -c '%n %F %a %t:%T %h' "$MNT"/* >"$WORK/after"
diff "$WORK/before" "$WORK/after" >&2 || fail "special files differ after remount (diff above)"
seq 10 >"$MNT/fifo" &
writer=$!
expect_eq "$(timeout 10 cat "$MNT/fifo" | wc -l)" 10 "lines read through the fifo after remount"
wait $writer
rm "$MNT/fifo" "$MNT/null" "$MNT/blk" "$MNT/sock"
expect_eq "$(ls -A "$MNT" | sed '/^ram$/d' | wc -l)" 0 "entries left after removing the special files"
pass
