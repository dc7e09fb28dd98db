#include "fs/config/mount_args.h"

#include <array>
#include <string_view>

namespace pmemfs::config {
namespace {

// Passed to libfuse as they are (libfuse 3.14 knows every one of them).
// (ro and rw: below, as the daemon needs them too.)
constexpr std::array<std::string_view, 13> kKernelFlags = {
    "suid",  "nosuid",  "dev",     "nodev",  "exec",    "noexec",      "sync",
    "async", "dirsync", "atime",   "noatime", "allow_other", "auto_unmount"};
// Access-time options libfuse 3.14 rejects: the daemon keeps atime itself (core::AtimePolicy)
// and sets the per-mount flags on the mount once it is up (MountArgs::mount_flags), so that
// /proc/mounts and the kernel's own atime updates agree. (lazytime: ignored, below.)
constexpr std::array<std::string_view, 6> kAtimeOptions = {
    "relatime", "norelatime", "strictatime", "nostrictatime", "diratime", "nodiratime"};
// Passed to libfuse with their value.
constexpr std::array<std::string_view, 5> kKernelValued = {"max_read=", "context=", "fscontext=",
                                                           "defcontext=", "rootcontext="};
// Meaningful to mount(8)/fstab, not to a FUSE daemon.
// (lazytime: FUSE keeps no lazy timestamps.)
constexpr std::array<std::string_view, 11> kIgnored = {
    "defaults", "auto",    "noauto",  "user",     "nouser",    "users",
    "nofail",   "_netdev", "owner",   "lazytime", "nolazytime"};

// Kernel options libfuse sets itself at mount time (shown in /proc/mounts).
constexpr std::array<std::string_view, 4> kFromLibfuse = {"user_id=", "group_id=", "rootmode=",
                                                          "fd="};

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

template <typename T>
Status Set(std::string_view opt, Result<T> v, std::optional<T>* out) {
  if (!v.ok())
    return Status::InvalidArgument("option '" + std::string(opt) + "': " + v.status().message());
  *out = std::move(v).value();
  return Status::Ok();
}

Status ParseOption(std::string_view opt, MountArgs* a) {
  if (opt.empty()) return Status::Ok();
  size_t eq = opt.find('=');
  std::string_view name = opt.substr(0, eq);
  std::string_view value = eq == std::string_view::npos ? std::string_view() : opt.substr(eq + 1);
  bool has_value = eq != std::string_view::npos;
  auto needs_value = [&]() -> Status {
    if (!has_value)
      return Status::InvalidArgument("option '" + std::string(opt) + "' needs a value (" +
                                     std::string(name) + "=...)");
    return Status::Ok();
  };
  Settings& s = a->settings;

  // Ours.
  if (name == "mode") {
    PMEMFS_RETURN_IF_ERROR(needs_value());
    return Set(opt, mapping::ParseMode(value), &s.mode);
  }
  if (name == "cache_size") {
    PMEMFS_RETURN_IF_ERROR(needs_value());
    Result<uint64_t> v = ParseSize(value);
    if (v.ok()) {
      Status st = CheckCacheSize(*v);
      if (!st.ok()) v = st;
    }
    return Set(opt, std::move(v), &s.cache_size);
  }
  if (name == "writeback_ms") {
    PMEMFS_RETURN_IF_ERROR(needs_value());
    return Set(opt, ParseMilliseconds(value), &s.writeback_ms);
  }
  if (name == "ram_dir") {
    PMEMFS_RETURN_IF_ERROR(needs_value());
    return Set(opt, ParseRamDir(value), &s.ram_dir);
  }
  if (name == "descriptors") {
    PMEMFS_RETURN_IF_ERROR(needs_value());
    return Set(opt, ParseDescriptors(value), &s.descriptors);
  }
  if (name == "log_level") {
    PMEMFS_RETURN_IF_ERROR(needs_value());
    return Set(opt, ParseLogLevel(value), &s.log_level);
  }
  if (name == "config") {
    a->config_path = value == "none" ? std::string() : std::string(value);
    return Status::Ok();
  }
  if (name == "direct_access") {
    PMEMFS_RETURN_IF_ERROR(needs_value());
    std::optional<DirectAccess> d;
    PMEMFS_RETURN_IF_ERROR(Set(opt, ParseDirectAccess(value), &d));
    a->direct_access = *d;
    return Status::Ok();
  }
  if (opt == "writeback_cache") {
    a->writeback_cache = true;
    return Status::Ok();
  }
  if (opt == "page_granularity") {
    a->page_granularity = true;
    return Status::Ok();
  }
  if (opt == "debug") {
    a->debug = a->foreground = true;
    return Status::Ok();
  }

  // Recorded for the caller.
  if (opt == "remount") {
    a->remount = true;
    return Status::Ok();
  }
  if (opt == "ro" || opt == "rw") {  // the last one counts, for the daemon and the kernel
    a->read_only = opt == "ro";
    a->kernel_options.emplace_back(opt);
    a->flag_options.emplace_back(opt);
    return Status::Ok();
  }
  if (name == "fsname" || name == "subtype") {
    PMEMFS_RETURN_IF_ERROR(needs_value());
    if (name == "subtype" && value.empty())
      return Status::InvalidArgument("option 'subtype=' needs a name (fstype=fuse: no subtype)");
    (name == "fsname" ? a->fsname : a->subtype) = std::string(value);
    return Status::Ok();
  }
  if (name == "fstype") {  // fuse: the type tools see is plain "fuse"; fuse.NAME: subtype=NAME
    PMEMFS_RETURN_IF_ERROR(needs_value());
    if (value == "fuse") {
      a->subtype = std::string();
    } else if (StartsWith(value, "fuse.") && value.size() > 5) {
      a->subtype = std::string(value.substr(5));
    } else {
      return Status::InvalidArgument("option '" + std::string(opt) +
                                     "': the type is fuse or fuse.NAME");
    }
    return Status::Ok();
  }
  if (opt == "default_permissions") return Status::Ok();  // always on

  // The kernel's.
  for (std::string_view f : kKernelFlags) {
    if (opt != f) continue;
    if (opt == "noatime") s.atime = core::AtimePolicy::kNoatime;
    a->kernel_options.emplace_back(opt);
    a->flag_options.emplace_back(opt);
    return Status::Ok();
  }
  for (std::string_view f : kAtimeOptions) {
    if (opt != f) continue;
    if (opt == "relatime") s.atime = core::AtimePolicy::kRelatime;
    if (opt == "strictatime") s.atime = core::AtimePolicy::kStrictatime;
    a->mount_flags.emplace_back(opt);
    a->flag_options.emplace_back(opt);
    return Status::Ok();
  }
  for (std::string_view p : kKernelValued) {
    if (!StartsWith(opt, p)) continue;
    a->kernel_options.emplace_back(opt);
    return Status::Ok();
  }

  // Nobody's.
  for (std::string_view i : kIgnored)
    if (opt == i) return Status::Ok();
  if (StartsWith(opt, "x-") || StartsWith(opt, "comment=")) return Status::Ok();
  // What libfuse itself gives the kernel: mount(8) repeats them from /proc/mounts on a remount.
  for (std::string_view p : kFromLibfuse)
    if (StartsWith(opt, p)) return Status::Ok();

  return Status::InvalidArgument("unknown mount option '" + std::string(opt) + "'");
}

Status ParseOptionList(std::string_view list, MountArgs* a) {
  while (true) {
    size_t comma = list.find(',');
    PMEMFS_RETURN_IF_ERROR(ParseOption(list.substr(0, comma), a));
    if (comma == std::string_view::npos) return Status::Ok();
    list.remove_prefix(comma + 1);
  }
}

}  // namespace

Result<MountArgs> ParseMountArgs(int argc, const char* const* argv) {
  MountArgs a;
  std::vector<std::string> positional;
  bool options_done = false;
  for (int i = 1; i < argc; i++) {
    std::string_view arg = argv[i];
    if (options_done || arg.empty() || arg[0] != '-') {
      positional.emplace_back(arg);
    } else if (arg == "--") {
      options_done = true;
    } else if (arg == "-f") {
      a.foreground = true;
    } else if (arg == "-d" || arg == "--debug") {
      a.debug = a.foreground = true;
    } else if (arg == "-s") {
      a.single_thread = true;
    } else if (arg == "-h" || arg == "--help") {
      a.help = true;
    } else if (arg == "-V" || arg == "--version") {
      a.version = true;
    } else if (arg == "-o") {
      if (i + 1 >= argc) return Status::InvalidArgument("option '-o' needs a value");
      PMEMFS_RETURN_IF_ERROR(ParseOptionList(argv[++i], &a));
    } else if (StartsWith(arg, "-o")) {
      PMEMFS_RETURN_IF_ERROR(ParseOptionList(arg.substr(2), &a));
    } else {
      return Status::InvalidArgument("unknown argument '" + std::string(arg) + "'");
    }
  }
  if (a.help || a.version) return a;
  if (positional.size() < 2)
    return Status::InvalidArgument(positional.empty() ? "missing DEVICE and MOUNTPOINT"
                                                       : "missing MOUNTPOINT");
  if (positional.size() > 2)
    return Status::InvalidArgument("unexpected argument '" + positional[2] + "'");
  a.device = positional[0];
  a.mountpoint = positional[1];
  return a;
}

std::string MountUsage(const std::string& program) {
  return "usage: " + program +
         " DEVICE[,PART...] MOUNTPOINT [-f] [-d] [-s] [-o OPTION[,OPTION...]]\n"
         "\n"
         "  -f                    stay in the foreground (log to stderr)\n"
         "  -d                    foreground with FUSE request tracing\n"
         "  -s                    single-threaded session loop\n"
         "  -h, --help            print this help and exit\n"
         "  -V, --version         print the version and exit\n"
         "\n"
         "pmemfs options (-o):\n"
         "  mode=copy|direct|pages   access mode (default: config file, else the superblock's)\n"
         "  config=FILE              config file (default /etc/pmemfs.conf if it exists;\n"
         "                           config=none: built-in defaults)\n"
         "  ram_dir=NAME             directory of volatile files in the RAM partition (\"\": none)\n"
         "  cache_size=SIZE          copy mode: DRAM cache size (e.g. 256M)\n"
         "  writeback_ms=N           copy mode: background write-back interval (0: off)\n"
         "  descriptors=device|dram  pages mode: where the page descriptors live\n"
         "  log_level=LEVEL          trace, debug, info, warn, error, critical, off\n"
         "  page_granularity         flush emulated pmem files with msync (default: cache lines)\n"
         "  writeback_cache          copy mode: kernel write-back caching (ENOSPC shows at fsync)\n"
         "  direct_access=WHO        who may read and write file data in the device itself\n"
         "                           (pmemfs-direct): off, owner (default), group:NAME, all\n"
         "  relatime|noatime|strictatime   atime policy\n"
         "\n"
         "Common mount options are accepted: ro, rw, nosuid, nodev, noexec, suid, dev, exec,\n"
         "allow_other, default_permissions (always on), fsname=, sync, dirsync, ...\n"
         "fstype=fuse shows the mount as type fuse (default fuse.pmemfs, as subtype=pmemfs).\n"
         "ro never writes the device; a device that a crash left needing recovery is refused\n"
         "(mount it read-write once). mount -o remount,ro|rw switches a live mount.\n";
}

}  // namespace pmemfs::config
