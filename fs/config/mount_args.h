// The daemon's command line, in the form mount.fuse3 uses:
//
//   pmemfs DEVICE[,PART...] MOUNTPOINT [-f] [-d] [-s] [-o opt[,opt...]]...
//
// ParseMountArgs sorts the -o options into three groups:
//   - ours (mode=, config=, ram_dir=, cache_size=, writeback_ms=, descriptors=, log_level=,
//     page_granularity, fstype=, direct_access=), which never reach libfuse (it rejects options it does not know);
//   - the common mount options, passed to libfuse and so to the kernel (rw, nosuid, nodev,
//     noexec, dev, suid, exec, sync, dirsync, [no]atime, allow_other, default_permissions,
//     fsname=, ...), except the per-mount flags libfuse 3.14 refuses ([no]relatime,
//     [no]strictatime, [no]diratime), which the daemon sets on the mount itself;
//     relatime/noatime/strictatime also set our atime policy;
//   - options mount(8) and fstab use that mean nothing here (defaults, auto, noauto, user, nofail,
//     _netdev, x-*, comment=), and those libfuse sets itself that mount(8) repeats from
//     /proc/mounts on a remount (user_id=, group_id=, rootmode=, fd=): ignored.
// Anything else is an error naming the option. `ro` and `remount` are recorded for the caller.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "fs/config/config.h"
#include "pmemfs/status.h"

namespace pmemfs::config {

inline constexpr const char* kDefaultConfigPath = "/etc/pmemfs.conf";

struct MountArgs {
  std::string device;      // as given (also the fsname shown in /proc/mounts)
  std::string mountpoint;
  bool foreground = false; // -f (or -d)
  bool debug = false;      // -d / -o debug: libfuse request tracing, foreground
  bool single_thread = false;  // -s
  bool help = false;       // -h / --help
  bool version = false;    // -V / --version
  Settings settings;       // our options given with -o
  // -o config=FILE; "" (config= or config=none) means no file. Unset: kDefaultConfigPath if it
  // exists.
  std::optional<std::string> config_path;
  bool page_granularity = false;  // flush emulated pmem with msync (default: cache lines)
  // copy mode: let the kernel gather writes in its page cache (faster small writes; a full
  // device is then reported at fsync or close, not by write(), as with NFS).
  bool writeback_cache = false;
  // -o direct_access=: who may read and write file data in the device itself (README).
  DirectAccess direct_access;
  bool remount = false;
  bool read_only = false;         // `ro` was given (the last of ro and rw)
  std::vector<std::string> kernel_options;  // for libfuse, unescaped, in order given
  std::vector<std::string> mount_flags;     // set on the mount once it is up, in order given
  // Every per-mount flag option (ro, rw, nosuid, noexec, noatime, relatime, ...), in the order
  // given: the last of conflicting ones wins (remount,noatime after relatime means noatime).
  std::vector<std::string> flag_options;
  std::optional<std::string> fsname;        // -o fsname= (default: the device)
  // -o subtype= (default: pmemfs; the type is fuse.SUBTYPE); "" after -o fstype=fuse: the
  // type is plain fuse (what xfstests' FSTYP=fuse checks for).
  std::optional<std::string> subtype;
};

// argv[0] is the program name. InvalidArgument (one line, naming the argument) on a bad or
// missing argument or an unknown option. With -h or -V the positionals may be missing.
Result<MountArgs> ParseMountArgs(int argc, const char* const* argv);

// The usage text (options included) for --help and errors.
std::string MountUsage(const std::string& program);

}  // namespace pmemfs::config
