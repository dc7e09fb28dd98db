#!/usr/bin/env bash
# Who gets direct access (direct and pages mode): the mount option direct_access=owner (the
# default), group:NAME, all and off, for a user who is neither root nor the mount's owner (a
# fresh uid, through setpriv). A caller the option does not allow gets no device descriptor
# (nothing of the device among its descriptors or mappings; the daemon answers its own hello
# with EACCES and no descriptor), silently takes the kernel path and still reads and writes
# correctly; an allowed one gets the device and goes direct.
source "$(dirname "$0")/lib.sh"
skip_unless_mode direct pages
need_direct_tool
grep -q '^users:x:100:' /etc/group || fail "no group users (gid 100) in /etc/group"
PY=/usr/bin/python3   # (a python3 under root's home, as pyenv's, is out of the other uid's reach)
[ -x "$PY" ] || fail "$PY is missing (Debian package python3)"
make_device 64M
format
MOUNT_OPTS=allow_other   # (other users reach the mount at all)
mount_fs
mkdir "$MNT/pub"
chmod 1777 "$MNT/pub"

# as_user [--groups=G | --regid=G] -- COMMAND...: COMMAND as uid 1234 (gid 5678, no
# supplementary groups unless given).
as_user() {
  local opts=(--reuid=1234 --regid=5678 --clear-groups)
  while [ "$1" != -- ]; do
    [[ "$1" == --groups=* ]] && opts=(--reuid=1234 --regid=5678 "$1")
    [[ "$1" == --regid=* ]] && opts=(--reuid=1234 "$1" --clear-groups)
    shift
  done
  shift
  setpriv "${opts[@]}" "$@"
}

# expect_access WANT NAME SEED [as_user options]: uid 1234 writes and reads a file of its own
# through the library: WANT is direct or kernel; with kernel, nothing of the device is among its
# descriptors or mappings. Root then checks the bytes through the kernel.
expect_access() {
  local want=$1 name=$2 seed=$3 out
  shift 3
  out="$WORK/$name.out"
  as_user "$@" -- "$TOOL" plain "$MNT/pub/$name" 1000 300000 "$seed" >"$out" ||
    fail "$name: the library as uid 1234 failed: $(cat "$out")"
  expect_eq "$(head -n 1 "$out")" "$want" "$name: the path uid 1234 took"
  if [ "$want" = kernel ]; then
    grep -F -- "${PARTS[0]}" "$out" && fail "$name: uid 1234 holds the device (above)"
    grep -F pmemfs-direct-slots "$out" && fail "$name: uid 1234 holds the slot table (above)"
  else
    grep -qF -- "${PARTS[0]}" "$out" || fail "$name: uid 1234 went direct without the device?"
  fi
  expect_eq "$(stat -c %u "$MNT/pub/$name")" 1234 "$name: owner of the file"
  cmp -n 300000 -i 0:1000 <("$TOOL" dump - 1000 300000 "$seed") "$MNT/pub/$name" ||
    fail "$name: root reads (through the kernel) something else than uid 1234 wrote"
  cmp -n 1000 "$MNT/pub/$name" /dev/zero || fail "$name: the hole before the data is not zeros"
}

# hello.py MNT: speaks the protocol itself (a hello with its callback socket) and prints
# "status N fds M" from the daemon's answer.
cat >"$WORK/hello.py" <<'PY'
import array, os, socket, struct, sys
st = os.stat(sys.argv[1])
name = "\0pmemfs-direct-%d:%d" % (os.major(st.st_dev), os.minor(st.st_dev))
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(name)
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
hello = struct.pack("<IIQII", 1, 0, 0, 1, 0)  # Header{kHello, status 0, seq 0}, version 1
s.sendmsg([hello], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [b.fileno()]))])
msg, anc, flags, addr = s.recvmsg(4096, socket.CMSG_SPACE(80 * 4))
fds = 0
for level, kind, data in anc:
    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
        fds += len(data) // 4
status = struct.unpack_from("<I", msg, 4)[0] if len(msg) >= 8 else -1
print("status %d fds %d" % (status, fds))
PY
# granted ANSWER: the daemon's answer to a hello gave the part(s) and the slot table.
granted() { [[ "$1" =~ ^status\ 0\ fds\ [2-9]$ ]]; }
refused="status 13 fds 0"   # EACCES, no descriptor

# --- direct_access=owner (the default): root and the mount's owner only -----------------------
"$TOOL" plain "$MNT/pub/root" 1000 300000 1 >"$WORK/root.out"
expect_eq "$(head -n 1 "$WORK/root.out")" direct "the path root took"
ans=$("$PY" "$WORK/hello.py" "$MNT")
granted "$ans" || fail "owner: the answer to root's hello: $ans"
expect_access kernel owner 2
expect_eq "$(as_user -- "$PY" "$WORK/hello.py" "$MNT")" "$refused" \
  "owner: the daemon's answer to uid 1234's own hello"

# --- direct_access=group:users -------------------------------------------------------------
remount direct_access=group:users
expect_access kernel group-outsider 3
expect_eq "$(as_user -- "$PY" "$WORK/hello.py" "$MNT")" "$refused" \
  "group:users: the answer to a user outside the group"
expect_access direct group-member 4 --groups=100
expect_access direct group-primary 5 --regid=100
ans=$(as_user --groups=100 -- "$PY" "$WORK/hello.py" "$MNT")
granted "$ans" || fail "group:users: the answer to a member: $ans"

# --- direct_access=all -----------------------------------------------------------------------
remount direct_access=all
expect_access direct all 6
ans=$(as_user -- "$PY" "$WORK/hello.py" "$MNT")
granted "$ans" || fail "all: the answer to uid 1234: $ans"

# --- direct_access=off: nobody, root neither -------------------------------------------------
remount direct_access=off
"$TOOL" is-direct "$MNT/pub/all" && fail "direct_access=off: root still goes direct"
expect_access kernel off 7 --groups=100

# Every file is right after a remount, and fsck finds nothing wrong.
remount
seed=0
for name in root owner group-outsider group-member group-primary all off; do
  seed=$((seed + 1))
  "$TOOL" check "$MNT/pub/$name" 1000 300000 "$seed"
done
umount_fs
expect_fsck_clean
pass
