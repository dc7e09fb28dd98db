#!/bin/bash
# The tools as the system runs them: --version of every program without a device, --json of
# pmemfs-devinfo and pmemfs-fsck, the options mkfs(8), fsck(8) and systemd-fsck pass (-a, -p,
# -n, -y, -f, -C FD, -T, -V; mkfs's -L), and mkfs -t pmemfs / fsck -t pmemfs / fsck -A over an
# fstab of type fuse.pmemfs finding the tools by the names the package installs (links here).
#
#   tools_cli.sh PMEMFS MKPMEMFS PMEMFS_FSCK PMEMFS_DEVINFO
source "$(dirname "$0")/cli_lib.sh" tools-cli
daemon=$(realpath "$1") mkfs=$(realpath "$2") fsck=$(realpath "$3") devinfo=$(realpath "$4")

# --version, with no device anywhere.
for t in "$daemon" "$mkfs" "$fsck" "$devinfo"; do
  name=$(basename "$t")
  for flag in --version -V; do
    run 0 "$name $flag" "$t" $flag
    grep -q "0\.[0-9]*\.[0-9]" "$dir/out" && grep -q "$name" "$dir/out" ||
      fail "$name $flag prints '$(cat "$dir/out")', not its name and version"
  done
done

# A usage error: one line on stderr, "TOOL: WHAT (see TOOL --help)", and the tool's usage exit
# status (mkpmemfs 1; pmemfs-fsck 16, as fsck(8) has it).
usage_error() {
  local want=$1 tool=$2 name
  name=$(basename "$tool")
  run "$want" "$name --bogus" "$tool" --bogus "$dir/missing"
  [ "$(wc -l <"$dir/err")" = 1 ] && grep -qx "$name: .*--bogus (see $name --help)" "$dir/err" ||
    fail "$name --bogus says '$(cat "$dir/err")', not one line naming $name and its --help"
}
usage_error 1 "$mkfs"
usage_error 16 "$fsck"

# The names the package installs, as links (tools/CMakeLists.txt installs the same).
mkdir "$dir/sbin"
ln -s "$mkfs" "$dir/sbin/mkfs.pmemfs"
ln -s "$fsck" "$dir/sbin/fsck.pmemfs"
ln -s "$fsck" "$dir/sbin/fsck.fuse.pmemfs"
export PATH="$dir/sbin:$PATH"

dev=$dir/dev
truncate -s 64M "$dev"
run 0 "mkfs -t pmemfs -L (mke2fs's label option)" mkfs -t pmemfs -L clitest "$dev"
grep -q "label *'clitest'" "$dir/out" || fail "the label did not reach mkpmemfs: $(cat "$dir/out")"

# pmemfs-devinfo --json.
run 0 "pmemfs-devinfo --json" "$devinfo" --json "$dev"
json 'j["size"] > 0 and j["part_count"] == 1 and len(j["parts"]) == 1 and j["layout"] == "linear"'
json 'j["parts"][0]["name"].endswith("/dev") and j["store"]["offset"] == 0 and j["store"]["length"] > 0'
json 'j["ram"]["length"] > 0 and j["descriptors"]["length"] > 0 and j["bad_ranges"] == []'
run 1 "pmemfs-devinfo --json of a missing device" "$devinfo" --json "$dir/missing"

# pmemfs-fsck --json, clean.
run 0 "pmemfs-fsck --json (clean)" "$fsck" --json "$dev"
json 'j["exit_code"] == 0 and j["clean"] and j["problems_found"] == 0 and j["problems"] == []'
json 'j["counts"]["inodes"] >= 1 and j["counts"]["directories"] >= 1 and j["counts"]["data_blocks"] > 0'
# Damaged primary superblock (its label byte): found, then fixed.
b=$(od -An -tu1 -j $((4096 + 60)) -N1 "$dev" | tr -d ' ')
printf "$(printf '\\%03o' $((b ^ 0x5a)))" | dd of="$dev" bs=1 seek=$((4096 + 60)) conv=notrunc status=none
run 4 "pmemfs-fsck --json -n (damaged superblock)" "$fsck" --json -n "$dev"
json 'j["exit_code"] == 4 and not j["clean"] and j["problems_found"] >= 1 and j["problems_fixed"] == 0'
json 'j["problems_left"] == j["problems_found"] and j["problems"][0]["area"] == "superblock"'
run 1 "fsck -t pmemfs -a (what fsck -a passes), -C FD progress, --json" \
  fsck -T -t pmemfs -a "$dev" -- -C 3 --json 3>"$dir/progress"
json 'j["exit_code"] == 1 and j["repair"] and j["problems_fixed"] == j["problems_found"] >= 1'
json 'j["problems_left"] == 0 and all(p["fixed"] for p in j["problems"])'
grep -qE "^1 [0-9]+ [0-9]+ $dev\$" "$dir/progress" ||
  fail "-C 3 wrote no 'PASS DONE TOTAL DEVICE' lines: $(head -3 "$dir/progress")"
last=$(tail -1 "$dir/progress")
[ "$(cut -d' ' -f2 <<<"$last")" = "$(cut -d' ' -f3 <<<"$last")" ] || fail "-C: last line is not complete: $last"

# What systemd-fsck runs (fsck -a -T -l -M -C FD DEVICE, here with the type given), and the
# options fsck(8) passes through, on the now clean device.
run 0 "fsck -t pmemfs -a -T (systemd-fsck's) -C 3" fsck -t pmemfs -a -T -C 3 "$dev" 3>/dev/null
for opts in "-n" "-y" "-p" "-f" "-n -f -T" "-a -C 0" "-V"; do
  # shellcheck disable=SC2086 # a list of options
  run 0 "fsck.pmemfs $opts" fsck.pmemfs $opts "$dev"
done
run 16 "fsck.pmemfs -n -y (contradictory)" fsck.pmemfs -n -y "$dev"
run 16 "fsck.pmemfs --json without a device" fsck.pmemfs --json
run 8 "pmemfs-fsck --json of a missing device" "$fsck" --json "$dir/missing"
json 'j["exit_code"] == 8 and "error" in j and j["device"].endswith("/missing")'

# An fstab line of type fuse.pmemfs with pass 2: fsck -A looks for fsck.fuse.pmemfs.
printf '%s %s fuse.pmemfs defaults,noauto 0 2\n' "$dev" "$dir/mnt" >"$dir/fstab"
run 0 "fsck -A over an fstab of type fuse.pmemfs, pass 2" env FSTAB_FILE="$dir/fstab" fsck -A -a
FSTAB_FILE="$dir/fstab" fsck -A -N >"$dir/out" 2>&1
grep -q "fsck.fuse.pmemfs.*$dev" "$dir/out" || fail "fsck -A -N does not run fsck.fuse.pmemfs: $(cat "$dir/out")"

finish
