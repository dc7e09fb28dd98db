#!/bin/bash
# pmemfs-tune, the executable, offline: -l and --json, -L, -U (a uuid, random, time), --mode,
# the results as mkpmemfs, pmemfs-devinfo and pmemfs-fsck see them (-n clean after each change,
# -y stamps the check time that -l shows), --descriptors and --ram-size, exit codes (0 done, 1 refused, 2 usage) with one-line
# errors, refusals that leave every byte as it was, and a device whose part file is locked (as
# the daemon holds it while mounted). A two-part striped device gets every change too.
#
#   tune_cli.sh PMEMFS_TUNE MKPMEMFS PMEMFS_FSCK PMEMFS_DEVINFO
source "$(dirname "$0")/cli_lib.sh" tune-cli
tune=$(realpath "$1") mkfs=$(realpath "$2") fsck=$(realpath "$3") devinfo=$(realpath "$4")
# The last command's stderr is one line containing TEXT.
stderr_says() {
  if [ "$(wc -l <"$dir/err")" != 1 ] || ! grep -q -- "$1" "$dir/err"; then
    fail "stderr should be one line containing '$1': $(cat "$dir/err")"
  fi
}
# clean DEVICE: pmemfs-fsck -n finds nothing.
clean() {
  "$fsck" -n "$1" >"$dir/fsck.out" 2>&1 || { fail "pmemfs-fsck -n $1 after the change:"; sed 's/^/  /' "$dir/fsck.out"; }
}
# same FILE...: every part file is byte for byte what `snapshot` saved.
snapshot() { for f in "$@"; do cp "$f" "$f.saved"; done; }
same() { for f in "$@"; do cmp -s "$f" "$f.saved" || fail "$f changed although the change was refused"; done; }

for flag in --version -V; do
  run 0 "pmemfs-tune $flag" "$tune" $flag
  grep -q "pmemfs-tune (pmemfs) 0\.[0-9]*\.[0-9]*, on-media format 1\.1" "$dir/out" ||
    fail "$flag prints '$(cat "$dir/out")'"
done
run 0 "pmemfs-tune --help" "$tune" --help
grep -q -- "--mode" "$dir/out" || fail "--help does not list --mode"

dev=$dir/dev
truncate -s 64M "$dev"
"$mkfs" -q -L first "$dev" || { fail mkpmemfs; exit 1; }
run 0 "-l" "$tune" -l "$dev"
grep -q "^Label: *'first'" "$dir/out" || fail "-l shows no label 'first'"
grep -q "^State: *clean" "$dir/out" || fail "-l shows no clean state"
grep -q "^Default mode: *direct" "$dir/out" || fail "-l shows no default mode"
grep -q "^Last checked: *never" "$dir/out" || fail "-l shows a check time before any check"
run 0 "-l --json" "$tune" -l --json "$dev"
json 'j["label"] == "first" and j["default_mode"] == "direct" and j["state"] == "clean"'
json 'j["uuid"] == j["filesystem_uuid"] and j["pending_uuid"] == "" and j["mount_count"] == 0'
json 'j["inodes_used"] == 1 and j["data_blocks_free"] == j["data_blocks"] and j["checked_ns"] == 0'
json '"bitmap_checksums" in j["features"] and j["bad_ranges"] == [] and j["parts"] == 1'

# The changes, each seen by the other tools and checking clean.
run 0 "-L" "$tune" -L second "$dev"
[ ! -s "$dir/out" ] || fail "-L printed '$(cat "$dir/out")'"
clean "$dev"
run 0 "-l after -L" "$tune" -l --json "$dev"
json 'j["label"] == "second"'
run 0 "--mode pages" "$tune" --mode pages "$dev"
clean "$dev"
run 0 "-l after --mode" "$tune" -l --json "$dev"
json 'j["default_mode"] == "pages"'
u=0e301e70-9c70-4780-b27e-7a8a1b00e651
run 0 "-U UUID" "$tune" -U "$u" "$dev"
clean "$dev"
"$devinfo" --json "$dev" >"$dir/out"
json 'j["uuid"] == "'$u'"'
run 0 "-l after -U" "$tune" -l --json "$dev"
json 'j["uuid"] == "'$u'" and j["filesystem_uuid"] == "'$u'" and j["pending_uuid"] == ""'
run 0 "-U random" "$tune" -U random "$dev"
run 0 "-l" "$tune" -l --json "$dev"
json 'j["uuid"] != "'$u'" and j["uuid"][14] == "4"'
run 0 "-U time, -L and --mode at once, -l printing the result" \
  "$tune" -U time -L third --mode copy -l --json "$dev"
json 'j["uuid"][14] == "1" and j["label"] == "third" and j["default_mode"] == "copy"'
json 'j["mount_count"] == 0 and j["state"] == "clean"'
clean "$dev"
# pmemfs-fsck -y stamps the time of a check that leaves the filesystem clean; -n writes nothing.
run 0 "pmemfs-fsck -y" "$fsck" -y "$dev"
run 0 "-l after pmemfs-fsck -y" "$tune" -l --json "$dev"
json 'j["checked_ns"] > 0'
run 0 "-l (text) after pmemfs-fsck -y" "$tune" -l "$dev"
grep -q "^Last checked: *never" "$dir/out" && fail "-l shows no check time after pmemfs-fsck -y"

# Refusals: one line, exit 1, every byte as it was.
snapshot "$dev"
run 1 "a label of 64 bytes" "$tune" -L "$(printf 'x%.0s' $(seq 64))" "$dev"
stderr_says "at most 63 bytes"
stderr_says "nothing changed"
run 1 "-U of a bad uuid" "$tune" -U 0e301e70-9c70-4780-b27e-7a8a1b00e65 "$dev"
stderr_says "not a uuid"
run 1 "-U of the nil uuid" "$tune" -U 00000000-0000-0000-0000-000000000000 "$dev"
stderr_says "nil uuid"
run 1 "nothing to do" "$tune" "$dev"
stderr_says "nothing to do"
same "$dev"
truncate -s 64M "$dir/nodesc"
"$mkfs" -q --no-descriptors "$dir/nodesc" || fail "mkpmemfs --no-descriptors"
snapshot "$dir/nodesc"
run 1 "--mode pages without a descriptor area" "$tune" --mode pages -L x "$dir/nodesc"
stderr_says "no page-descriptor area"
same "$dir/nodesc"
run 1 "a missing device" "$tune" -l "$dir/missing"
stderr_says "missing"
truncate -s 16M "$dir/zero"
run 1 "a file that is no pmemfs device" "$tune" -l "$dir/zero"
stderr_says "zero"

# Usage errors.
run 2 "--mode of an unknown mode" "$tune" --mode fast "$dev"
run 2 "--json without -l" "$tune" --json "$dev"
run 2 "an unknown option" "$tune" --bogus "$dev"
run 2 "no device" "$tune" -l

# A device whose part file is locked, as the daemon holds it while mounted.
exec {lockfd}<"$dev"
flock -x "$lockfd" || exit 1
run 1 "a device in use, -L" "$tune" -L locked "$dev"
stderr_says "in use by another process"
run 1 "a device in use, -l" "$tune" -l "$dev"
stderr_says "unmount it first"
exec {lockfd}<&-
run 0 "the same device once released" "$tune" -l --json "$dev"
json 'j["label"] == "third"'

# Two striped parts: the uuid reaches both part labels.
truncate -s 64M "$dir/p0" "$dir/p1"
"$mkfs" -q --layout striped "$dir/p0,$dir/p1" || fail "mkpmemfs striped"
run 0 "-U, -L, --mode of a striped device" "$tune" -U "$u" -L striped --mode direct "$dir/p0,$dir/p1"
clean "$dir/p0,$dir/p1"
"$devinfo" --json "$dir/p0,$dir/p1" >"$dir/out"
json 'j["uuid"] == "'$u'" and j["part_count"] == 2'
run 1 "one part of two" "$tune" -l "$dir/p0"
stderr_says "missing part 1"

# The descriptor area and the RAM partition: dropped, resized, added again, each seen by -l and
# checking clean; the store area never moves. Refusals say what is in the way.
geo=$dir/geo
truncate -s 64M "$geo"
"$mkfs" -q --ram-size 4M "$geo" || fail "mkpmemfs --ram-size 4M"
run 0 "-l before the geometry changes" "$tune" -l --json "$geo"
json 'j["ram"]["length"] == 4 << 20 and j["descriptors"]["length"] > 0'
store=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["store"]["length"])' "$dir/out")
desc=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["descriptors"]["length"])' "$dir/out")
snapshot "$geo"
run 1 "--ram-size beyond the descriptor area" "$tune" --ram-size 8M "$geo"
stderr_says "does not fit"
stderr_says "descriptors off frees"
run 1 "--ram-size of a bad size" "$tune" --ram-size 12Q "$geo"
stderr_says "ram-size"
run 1 "--descriptors off with --mode pages" "$tune" --descriptors off --mode pages "$geo"
stderr_says "needs the page-descriptor area"
same "$geo"
run 2 "--descriptors of neither on nor off" "$tune" --descriptors maybe "$geo"
run 0 "--descriptors off" "$tune" --descriptors off "$geo"
clean "$geo"
run 0 "-l after --descriptors off" "$tune" -l --json "$geo"
json 'j["descriptors"]["length"] == 0 and j["store"]["length"] == '$store' and j["ram"]["length"] == 4 << 20'
run 1 "--mode pages without the area" "$tune" --mode pages "$geo"
stderr_says "descriptors on adds one"
run 0 "--ram-size into the freed space" "$tune" --ram-size $(((4 << 20) + desc)) "$geo"
clean "$geo"
run 0 "-l after --ram-size" "$tune" -l --json "$geo"
json 'j["ram"]["length"] == (4 << 20) + '$desc' and j["store"]["length"] == '$store
snapshot "$geo"
run 1 "--descriptors on where the RAM partition is" "$tune" --descriptors on "$geo"
stderr_says "give --ram-size"
same "$geo"
run 0 "--descriptors on --ram-size 1M --mode pages" "$tune" --descriptors on --ram-size 1M --mode pages "$geo"
clean "$geo"
"$fsck" -n --descriptors on "$geo" >"$dir/fsck.out" 2>&1 || fail "pmemfs-fsck -n --descriptors on: $(cat "$dir/fsck.out")"
run 0 "-l after --descriptors on" "$tune" -l --json "$geo"
json 'j["ram"]["length"] == 1 << 20 and j["descriptors"]["length"] == '$desc' and j["default_mode"] == "pages"'
json '"descriptors_current" in j["features"] and j["store"]["length"] == '$store
run 0 "--ram-size 0" "$tune" --ram-size 0 "$geo"
clean "$geo"
run 0 "-l after --ram-size 0" "$tune" -l --json "$geo"
json 'j["ram"]["length"] == 0 and j["store"]["length"] == '$store
# A striped device: both part labels change.
run 0 "--descriptors off --ram-size 2M of a striped device" \
  "$tune" --descriptors off --ram-size 2M --mode direct "$dir/p0,$dir/p1"
clean "$dir/p0,$dir/p1"
"$devinfo" --json "$dir/p0,$dir/p1" >"$dir/out"
json 'j["ram"]["length"] == 2 << 20 and j["descriptors"]["length"] == 0'

# -l over an interrupted --add-part: the part labels' part_joining set by hand, as a crash
# leaves them after and before the commit point (the integration tests' fsutil.py, which
# tune_add_part_mount.sh mounts the same states with).
fsutil=$(cd "$(dirname "$0")/../integration" && pwd)/fsutil.py
joining() { python3 "$fsutil" part-joining "$@" || fail "fsutil.py part-joining $*"; }
a0="$dir/a0" a1="$dir/a1"
truncate -s 48M "$a0"
truncate -s 48M "$a1"
"$mkfs" -q "$a0" || fail "mkpmemfs $a0"
cp "$a0" "$a0.old"
run 0 "-l of a device with nothing under way" "$tune" -l "$a0"
grep -q "^Changes under way: *none$" "$dir/out" || fail "-l does not say no change is under way"
run 0 "--add-part" "$tune" --add-part "$a1" "$a0"
joining "$a0" "$a1"  # after the commit point: every label joining
run 1 "-l of the old part of a committed add" "$tune" -l "$a0"
stderr_says "pmemfs-tune --add-part PART DEVICE"
run 0 "-l of a committed add" "$tune" -l "$a0,$a1"
grep -q "^Layout: .*2 parts" "$dir/out" || fail "-l of the committed add: not 2 parts"
grep -q "^  add_part: adding $a1 was interrupted after its commit point" "$dir/out" ||
  fail "-l does not list the committed add: $(cat "$dir/out")"
grep -q "^    pmemfs-tune --add-part $a1 $a0 finishes it" "$dir/out" ||
  fail "-l does not name the command that finishes the add: $(cat "$dir/out")"
run 0 "-l --json of a committed add" "$tune" -l --json "$a0,$a1"
json 'len(j["changes"]) == 1 and j["changes"][0]["change"] == "add_part" and j["parts"] == 2'
json 'j["changes"][0]["command"].startswith("pmemfs-tune --add-part '"$a1 $a0"'")'
run 0 "the command -l names" "$tune" --add-part "$a1" "$a0"
grep -q "finished an interrupted --add-part" "$dir/out" || fail "--add-part did not finish: $(cat "$dir/out")"
run 0 "-l after the add finished" "$tune" -l --json "$a0,$a1"
json 'j["changes"] == [] and j["parts"] == 2'
clean "$a0,$a1"
# Before the commit point: the old part as it was, the new one joining.
cp "$a0.old" "$a0"
joining "$a1"
run 0 "-l of an add before its commit point" "$tune" -l --json "$a0,$a1"
json 'j["parts"] == 1 and j["changes"][0]["change"] == "add_part"'
json '"before its commit point" in j["changes"][0]["state"]'
json 'j["changes"][0]["command"].startswith("pmemfs-tune --add-part '"$a1 $a0"' adds it")'
run 0 "the command -l names" "$tune" --add-part "$a1" "$a0"
run 0 "-l after the add" "$tune" -l --json "$a0,$a1"
json 'j["changes"] == [] and j["parts"] == 2'
clean "$a0,$a1"

finish
