#!/usr/bin/env bash
# O_DIRECT writes and the kernel's page cache: after an asynchronous direct write (Linux AIO)
# completes, buffered reads of its range return the new bytes, also when buffered reads of the
# range ran while the write was in flight (the kernel does not drop the pages they cached when
# an asynchronous FUSE direct write completes; the daemon does, before it replies). Synchronous
# direct writes, and direct reads after buffered writes, agree with buffered I/O as well.
source "$(dirname "$0")/lib.sh"
make_device 64M
format
mount_fs

expect_eq "$($FSUTIL aio-dio "$MNT/aio" 8 10)" "0 stale pages in 10 rounds" "buffered reads after async O_DIRECT writes"

random_file "$WORK/a" 1M
random_file "$WORK/b" 1M
cp "$WORK/a" "$MNT/sync"
cat "$MNT/sync" >/dev/null   # cached
dd if="$WORK/b" of="$MNT/sync" bs=1M oflag=direct conv=notrunc status=none
expect_same "$MNT/sync" "$WORK/b"
cp "$WORK/a" "$MNT/sync"
dd if="$MNT/sync" of="$WORK/direct-read" bs=1M iflag=direct status=none
expect_same "$WORK/direct-read" "$WORK/a"
pass
