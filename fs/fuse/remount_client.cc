#include "fs/fuse/remount_client.h"

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
                        const std::string& mountpoint) {
  Result<std::string> reply = ControlRequest(socket, request);
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
  PMEMFS_ASSIGN_OR_RETURN(std::string socket, FindDaemonByMount(mountpoint));
  PMEMFS_ASSIGN_OR_RETURN(std::string info, Ask(socket, "info", mountpoint));
  const bool is_ro = InfoField(info, "ro") == "1";
  const bool want_ro = WantsReadOnly(args, is_ro);
  std::string request = std::string("remount ro=") + (want_ro ? "1" : "0");
  if (args.settings.atime) request += std::string(" atime=") + config::AtimeName(*args.settings.atime);
  const std::vector<std::string>& flags = args.flag_options;

  if (want_ro && !is_ro) {
    // The kernel first: once its superblock is read-only nothing new comes to the daemon.
    PMEMFS_RETURN_IF_ERROR(SetMountFlags(mountpoint, flags, FlagBase::kNone, FlagScope::kSuperblock));
    Result<std::string> r = Ask(socket, request, mountpoint);
    if (!r.ok()) {
      std::vector<std::string> back = flags;
      back.emplace_back("rw");
      (void)SetMountFlags(mountpoint, back, FlagBase::kNone, FlagScope::kSuperblock);
      return r.status();
    }
  } else if (!want_ro && is_ro) {
    PMEMFS_RETURN_IF_ERROR(Ask(socket, request, mountpoint).status());
    Status s = SetMountFlags(mountpoint, flags, FlagBase::kNone, FlagScope::kSuperblock);
    if (!s.ok()) {
      (void)Ask(socket, "remount ro=1", mountpoint);
      return s;
    }
  } else {
    PMEMFS_RETURN_IF_ERROR(SetMountFlags(mountpoint, flags, FlagBase::kNone, FlagScope::kMount));
    PMEMFS_RETURN_IF_ERROR(Ask(socket, request, mountpoint).status());
  }
  const config::Settings& o = args.settings;
  if (o.mode || o.cache_size || o.writeback_ms || o.ram_dir || o.descriptors || o.log_level ||
      args.config_path || args.page_granularity || args.writeback_cache)
    *note = mountpoint + ": remounted; pmemfs options (mode=, cache_size=, ...) take effect at "
                         "the next mount";
  return Status::Ok();
}

}  // namespace pmemfs::fuse
