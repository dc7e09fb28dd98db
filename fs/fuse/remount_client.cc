#include "fs/fuse/remount_client.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "fs/config/values.h"
#include "fs/fuse/control.h"
#include "fs/fuse/remount.h"

namespace pmemfs::fuse {
namespace {

// The read-only state the options ask for: the last of ro and rw, else `current`.
bool WantsReadOnly(const config::MountArgs& args, bool current) {
  for (auto it = args.flag_options.rbegin(); it != args.flag_options.rend(); ++it) {
    if (*it == "ro") return true;
    if (*it == "rw") return false;
  }
  return current;
}

Result<std::string> Ask(const std::string& socket, const std::string& request,
                        const std::string& mountpoint, int timeout_s = kInfoTimeoutS) {
  Result<std::string> reply = ControlRequest(socket, request, timeout_s);
  if (!reply.ok()) return reply.status();
  const std::string_view text = *reply;
  if (text.substr(0, 2) != "ok") {
    const bool error = text.substr(0, 6) == "error ";
    return Status::IoError(mountpoint + ": " + std::string(error ? text.substr(6) : text));
  }
  return reply;
}

}  // namespace

Status RemountLive(const config::MountArgs& args, const std::string& mountpoint,
                   std::string* note) {
  PMEMFS_ASSIGN_OR_RETURN(std::string socket, FindDaemonByMount(mountpoint, args.device));
  PMEMFS_ASSIGN_OR_RETURN(std::string info, Ask(socket, "info", mountpoint));
  const bool is_ro = InfoField(info, "ro") == "1";
  const bool want_ro = WantsReadOnly(args, is_ro);
  std::string request = std::string("remount ro=") + (want_ro ? "1" : "0");
  if (args.settings.atime)
    request += std::string(" atime=") + config::AtimeName(*args.settings.atime);
  const std::vector<std::string>& flags = args.flag_options;

  if (want_ro && !is_ro) {
    // The kernel first: once its superblock is read-only nothing new comes to the daemon.
    PMEMFS_RETURN_IF_ERROR(
        SetMountFlags(mountpoint, flags, FlagBase::kNone, FlagScope::kSuperblock));
    Result<std::string> r = Ask(socket, request, mountpoint, kRemountTimeoutS);
    if (!r.ok()) {
      std::vector<std::string> back = flags;
      back.emplace_back("rw");
      (void)SetMountFlags(mountpoint, back, FlagBase::kNone, FlagScope::kSuperblock);
      return r.status();
    }
  } else if (!want_ro && is_ro) {
    PMEMFS_RETURN_IF_ERROR(Ask(socket, request, mountpoint, kRemountTimeoutS).status());
    Status s = SetMountFlags(mountpoint, flags, FlagBase::kNone, FlagScope::kSuperblock);
    if (!s.ok()) {
      (void)Ask(socket, "remount ro=1", mountpoint, kRemountTimeoutS);
      return s;
    }
  } else {
    PMEMFS_RETURN_IF_ERROR(SetMountFlags(mountpoint, flags, FlagBase::kNone, FlagScope::kMount));
    PMEMFS_RETURN_IF_ERROR(Ask(socket, request, mountpoint, kRemountTimeoutS).status());
  }
  const config::Settings& o = args.settings;
  if (o.mode || o.cache_size || o.writeback_ms || o.ram_dir || o.descriptors || o.log_level ||
      args.config_path || args.page_granularity || args.writeback_cache)
    *note = mountpoint +
            ": remounted; pmemfs options (mode=, cache_size=, ...) take effect at "
            "the next mount";
  return Status::Ok();
}

Result<bool> MountAgain(const config::MountArgs& args, const std::string& mountpoint) {
  Result<std::string> key = DeviceKey(args.device);
  if (!key.ok()) return false;  // a missing part: the mount reports it
  Result<std::string> reply = Ask(ControlSocketPath(*key), "info", mountpoint);
  if (!reply.ok() && reply.status().code() == Code::kNotFound) return false;  // no daemon
  PMEMFS_ASSIGN_OR_RETURN(std::string info, std::move(reply));
  const std::string at = InfoField(info, "mountpoint");
  const std::string where = args.device + " is mounted at " + at;

  // What the running daemon cannot do differently for this mount.
  std::string conflict;
  auto check = [&](bool given, const std::string& option, const std::string& want,
                   const std::string& running) {
    if (conflict.empty() && given && want != running)
      conflict = option + "=" + want + " (running: " + option + "=" + running + ")";
  };
  const config::Settings& o = args.settings;
  check(o.mode.has_value(), "mode", o.mode ? mapping::ModeName(*o.mode) : "",
        InfoField(info, "mode"));
  check(o.cache_size.has_value(), "cache_size", o.cache_size ? std::to_string(*o.cache_size) : "",
        InfoField(info, "cache_size"));
  check(o.writeback_ms.has_value(), "writeback_ms",
        o.writeback_ms ? std::to_string(*o.writeback_ms) : "", InfoField(info, "writeback_ms"));
  check(o.ram_dir.has_value(), "ram_dir", o.ram_dir.value_or(""), InfoField(info, "ram_dir"));
  check(o.descriptors.has_value(), "descriptors",
        o.descriptors ? config::DescriptorsName(*o.descriptors) : "",
        InfoField(info, "descriptors"));
  check(o.atime.has_value(), "atime", o.atime ? config::AtimeName(*o.atime) : "",
        InfoField(info, "atime"));
  check(args.subtype.has_value(), "subtype", args.subtype.value_or(""), InfoField(info, "subtype"));
  check(args.writeback_cache, "writeback_cache", "1", InfoField(info, "writeback_cache"));
  check(args.page_granularity, "page_granularity", "1", InfoField(info, "page_granularity"));
  const bool running_ro = InfoField(info, "ro") == "1";
  if (conflict.empty() && WantsReadOnly(args, false) != running_ro)
    conflict =
        std::string(running_ro ? "rw" : "ro") + " (running: " + (running_ro ? "ro" : "rw") + ")";
  if (!conflict.empty())
    return Status::Busy(where + "; a second mount cannot have " + conflict +
                        ": give the running mount's options or unmount it first");

  // The daemon's first mount point may be gone while other mounts of it remain: any will do.
  const std::string from = MountPointOf(InfoField(info, "dev"));
  if (from.empty())
    return Status::Busy(args.device + " is served by process " + InfoField(info, "pid") +
                        ", which has no mount left: wait for it to exit and mount again");
  if (mount(from.c_str(), mountpoint.c_str(), nullptr, MS_BIND, nullptr) != 0)
    return Status::IoError(mountpoint + ": cannot bind " + from + ": " + strerror(errno));
  Status s = SetMountFlags(mountpoint, args.flag_options, FlagBase::kLibfuse, FlagScope::kMount);
  if (!s.ok()) {
    umount2(mountpoint.c_str(), MNT_DETACH);
    return s;
  }
  return true;
}

}  // namespace pmemfs::fuse
