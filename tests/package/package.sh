#!/bin/bash
# The Debian package, end to end on this machine (as root): cpack -G DEB builds
# pmemfs_VERSION_ARCH.deb with its dependencies and conffile; `apt-get install ./pmemfs_*.deb`
# installs it; mkfs -t pmemfs formats a device; it mounts through `mount -t fuse.pmemfs` and
# through an fstab line (`mount -a -T FILE`: the machine's /etc/fstab is never touched); fsck -t
# pmemfs and fsck -A (pass 2) check it; `apt-get purge pmemfs` then leaves nothing behind
# (`dpkg -L pmemfs` empty, none of its files left).
#
# Installing a package is global: ctest runs this test alone (RUN_SERIAL). A leftover pmemfs
# package is purged first; an /etc/pmemfs.conf that is not the package's is moved aside and
# put back; everything mounted is unmounted and the package purged, even on failure.
#
#   package.sh BUILD_DIR VERSION
set -u
build=$(realpath "$1")
version=$2
if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root (installs a package)"; exit 77; fi
for t in apt-get dpkg cpack dpkg-shlibdeps mount.fuse3 fsck man; do
  command -v "$t" >/dev/null || { echo "FAIL: $t is missing (scripts/install-deps)"; exit 1; }
done
dir=$(mktemp -d /dev/shm/pmemfs-package.XXXXXX)
dev=$dir/dev
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q --no-install-recommends)
export DEBIAN_FRONTEND=noninteractive
# The packaged programs, not a `cmake --install` copy under /usr/local.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

# After umount the daemon still writes back and unlocks the device: wait until it has exited.
wait_daemon_gone() {
  for _ in $(seq 300); do
    pgrep -f "pmemfs $dev " >/dev/null || return 0
    sleep 0.1
  done
  fail "the daemon of $dev did not exit after umount"
}
installed() { dpkg-query -W -f='${Status}' pmemfs 2>/dev/null | grep -q "ok installed"; }
purge() { "${apt[@]}" purge pmemfs >"$dir/purge.log" 2>&1 || cat "$dir/purge.log"; }
cleanup() {
  for m in "$dir/mnt1" "$dir/mnt2"; do
    if mountpoint -q "$m" 2>/dev/null; then umount "$m" 2>/dev/null || umount -l "$m"; fi
  done
  if installed; then echo "cleanup: purging pmemfs"; purge; fi
  if [ -e "$dir/pmemfs.conf.saved" ]; then mv "$dir/pmemfs.conf.saved" /etc/pmemfs.conf; fi
  rm -rf "$dir"
}
trap cleanup EXIT

if installed; then echo "a pmemfs package is installed (a leftover): purging it first"; purge; fi
if [ -e /etc/pmemfs.conf ]; then
  echo "moving the existing /etc/pmemfs.conf aside (put back at the end)"
  mv /etc/pmemfs.conf "$dir/pmemfs.conf.saved"
fi

# --- build it -------------------------------------------------------------------------------
arch=$(dpkg --print-architecture)
deb=pmemfs_${version}_${arch}.deb
mkdir "$dir/pkg"
(cd "$dir/pkg" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$dir/pkg") >"$dir/cpack.log" 2>&1 ||
  { cat "$dir/cpack.log"; fail "cpack -G DEB"; exit 1; }
[ -f "$dir/pkg/$deb" ] || { ls "$dir/pkg"; fail "cpack made no $deb"; exit 1; }
ok "cpack -G DEB made $deb"
depends=$(dpkg-deb -f "$dir/pkg/$deb" Depends)
echo "Depends: $depends"
for d in fuse3 libfuse3-3 libpmem2 libc6 libstdc++6; do
  tr ',' '\n' <<<"$depends" | awk '{print $1}' | grep -qxF "$d" || fail "Depends lacks $d"
done
dpkg-deb -c "$dir/pkg/$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$dir/contents"
for f in /usr/bin/pmemfs /usr/sbin/mkpmemfs /usr/sbin/pmemfs-fsck /usr/sbin/pmemfs-devinfo \
         /usr/sbin/pmemfs-tune /usr/share/man/man8/pmemfs-tune.8 \
         /usr/sbin/mkfs.pmemfs /usr/sbin/fsck.pmemfs /usr/sbin/fsck.fuse.pmemfs /etc/pmemfs.conf \
         /usr/share/man/man8/pmemfs.8 /usr/share/man/man8/mkpmemfs.8 \
         /usr/share/man/man8/pmemfs-fsck.8 /usr/share/man/man8/pmemfs-devinfo.8 \
         /usr/share/man/man5/pmemfs.conf.5 /usr/share/man/man8/fsck.pmemfs.8 \
         /usr/share/doc/pmemfs/examples/fstab.example /usr/share/doc/pmemfs/examples/mnt-pmem.mount \
         /usr/share/doc/pmemfs/DESIGN.md /usr/bin/pmemfs-direct /usr/include/pmemfs/client.h; do
  grep -qx "$f" "$dir/contents" || fail "the package lacks $f"
done
# Direct access: the client library and what pmemfs-direct preloads (client/).
lib='^/usr/lib(/[^/]+)?'
grep -qE "$lib/libpmemfs-client\.so$" "$dir/contents" || fail "the package lacks libpmemfs-client"
grep -qE "$lib/pmemfs/libpmemfs-preload\.so$" "$dir/contents" ||
  fail "the package lacks libpmemfs-preload"
grep -E "^/usr/(lib|local|include)|/tests?/|bench" "$dir/contents" |
  grep -vE "$lib/(libpmemfs-client\.so[.0-9]*|pmemfs/libpmemfs-preload\.so|pmemfs/)$|^/usr/include/(pmemfs/(client\.h)?)?$|^/usr/lib/([^/]+/)?$" &&
  fail "the package holds build or test files"
dpkg-deb --ctrl-tarfile "$dir/pkg/$deb" | tar -xO ./conffiles >"$dir/conffiles" 2>/dev/null
grep -qx /etc/pmemfs.conf "$dir/conffiles" || fail "/etc/pmemfs.conf is not a conffile"

# --- install it -----------------------------------------------------------------------------
(cd "$dir/pkg" && "${apt[@]}" install "./$deb") >"$dir/install.log" 2>&1 ||
  { cat "$dir/install.log"; fail "apt-get install ./$deb"; exit 1; }
installed && ok "apt-get install ./$deb" || { fail "pmemfs not installed"; exit 1; }
dpkg -L pmemfs >"$dir/files"
for t in pmemfs mkpmemfs pmemfs-fsck pmemfs-devinfo pmemfs-tune pmemfs-direct; do
  "$t" --version >/dev/null 2>&1 || fail "$t --version (installed)"
done
# pmemfs-direct finds the library it preloads where the package put it.
pmemfs-direct true 2>"$dir/direct.err" || fail "pmemfs-direct true (installed): $(cat "$dir/direct.err")"
for page in pmemfs mkpmemfs mkfs.pmemfs fsck.pmemfs pmemfs-fsck pmemfs-devinfo pmemfs-tune pmemfs-direct pmemfs.conf; do
  case "$(man -w "$page" 2>/dev/null)" in /usr/share/man/man[158]/*) ;; *) fail "man -w $page: '$(man -w "$page" 2>&1)'" ;; esac
done
# The systemd examples, as installed (the check unit runs the installed fsck.pmemfs).
if command -v systemd-analyze >/dev/null; then
  ex=/usr/share/doc/pmemfs/examples
  mkdir "$dir/units"
  cp "$ex/mnt-pmem.mount" "$dir/units/"
  cp "$ex/pmemfs-fsck@.service" "$dir/units/pmemfs-fsck@dev-dax0.0.service"
  (cd "$dir/units" && systemd-analyze verify --man=no ./mnt-pmem.mount \
    ./pmemfs-fsck@dev-dax0.0.service) >"$dir/verify.log" 2>&1 && [ ! -s "$dir/verify.log" ] &&
    ok "systemd-analyze verify of the mount unit examples" ||
    { cat "$dir/verify.log"; fail "systemd-analyze verify of the unit examples"; }
fi
cmp -s /etc/pmemfs.conf "$(dirname "$0")/../../etc/pmemfs.conf" || fail "/etc/pmemfs.conf differs from etc/"

# --- use it ---------------------------------------------------------------------------------
mkdir "$dir/mnt1" "$dir/mnt2"
truncate -s 128M "$dev"
mkfs -t pmemfs -L pkgtest "$dev" >"$dir/mkfs.log" 2>&1 || { cat "$dir/mkfs.log"; fail "mkfs -t pmemfs"; }
if mount -t fuse.pmemfs -o mode=direct,config=none "$dev" "$dir/mnt1"; then
  ok "mount -t fuse.pmemfs"
  pid=$(pgrep -of "pmemfs $dev $dir/mnt1")
  [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe")" = /usr/bin/pmemfs ] ||
    fail "the daemon is not the packaged /usr/bin/pmemfs: $(readlink "/proc/${pid:-0}/exe")"
  grep -q "^$dev $dir/mnt1 fuse.pmemfs " /proc/mounts || fail "/proc/mounts: $(grep "$dir" /proc/mounts)"
  echo "through the package" >"$dir/mnt1/hello" || fail "write"
  umount "$dir/mnt1" || fail "umount"
  wait_daemon_gone
else
  fail "mount -t fuse.pmemfs"
fi
printf '%s %s fuse.pmemfs defaults,mode=copy,config=none 0 2\n' "$dev" "$dir/mnt2" >"$dir/fstab"
if mount -a -T "$dir/fstab" && mountpoint -q "$dir/mnt2"; then
  ok "mount -a with an fstab line"
  [ "$(cat "$dir/mnt2/hello" 2>&1)" = "through the package" ] || fail "the file did not survive: $(cat "$dir/mnt2/hello" 2>&1)"
  umount "$dir/mnt2" || fail "umount (fstab)"
  wait_daemon_gone
else
  fail "mount -a -T $dir/fstab"
fi
fsck -t pmemfs -a "$dev" >"$dir/fsck.log" 2>&1 && ok "fsck -t pmemfs" ||
  { cat "$dir/fsck.log"; fail "fsck -t pmemfs -a"; }
FSTAB_FILE="$dir/fstab" fsck -A -a >"$dir/fsck.log" 2>&1 && ok "fsck -A (pass 2)" ||
  { cat "$dir/fsck.log"; fail "fsck -A -a over the fstab line"; }

# --- purge it -------------------------------------------------------------------------------
purge
installed && fail "pmemfs still installed after purge"
[ -z "$(dpkg -L pmemfs 2>/dev/null)" ] && ok "dpkg -L pmemfs is empty" || fail "dpkg -L pmemfs is not empty"
left=0
while read -r f; do
  if [ -e "$f" ] && [ ! -d "$f" ] || [ -L "$f" ]; then fail "left behind: $f"; left=1; fi
done <"$dir/files"
[ -e /etc/pmemfs.conf ] && fail "left behind: /etc/pmemfs.conf"
[ "$left" = 0 ] && ok "no file of the package left ($(wc -l <"$dir/files") entries checked)"

[ "$failures" -eq 0 ] && echo PASS || echo "$failures failure(s)"
[ "$failures" -eq 0 ]
