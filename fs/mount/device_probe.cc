#include "fs/mount/device_probe.h"

#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "fs/mount/add_part_finish.h"
#include "fs/store/store.h"
#include "mapping/device_set.h"
#include "pmemfs/layout.h"

namespace pmemfs::mount {
namespace {

// The mountpoint of a mount whose source is `spec` ("" when none), from /proc/mounts.
std::string MountedAt(const std::string& spec) {
  std::ifstream in("/proc/mounts");
  std::string source, mountpoint, rest;
  while (in >> source >> mountpoint && std::getline(in, rest))
    if (source == spec) return mountpoint;
  return "";
}

}  // namespace

Result<ProbedDevice> OpenAndProbe(const std::string& spec, bool page_granularity,
                                  bool read_only) {
  ProbedDevice p;
  std::vector<std::string> parts = mapping::SplitPartList(spec);
  // Read-only: read-write when the parts allow it (a live remount,rw needs it), else read-only.
  mapping::PartOpenOptions popts{.force_cache_line = !page_granularity,
                                 .read_only_fallback = read_only};
  // An interrupted pmemfs-tune --add-part is finished or refused here (add_part_finish.h).
  auto open = [&]() -> Result<std::unique_ptr<mapping::Device>> {
    PMEMFS_ASSIGN_OR_RETURN(auto opened, mapping::OpenFileParts(parts, popts));
    return AssembleForMount(std::move(opened), read_only, &p.note);
  };
  Result<std::unique_ptr<mapping::Device>> dev = open();
  // A device that is busy but not mounted is most likely being released by the daemon of a
  // mount that was just unmounted (umount returns before that daemon has finished writing the
  // clean state): wait a little for it rather than fail `umount; mount`.
  for (int tries = 0; !dev.ok() && dev.status().code() == Code::kBusy && tries < 50 &&
                      MountedAt(spec).empty();
       tries++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    dev = open();
  }
  if (!dev.ok()) {
    if (dev.status().code() == Code::kBusy) {
      std::string at = MountedAt(spec);
      return Status::Busy(spec + ": device already " +
                          (at.empty() ? "in use" : "mounted at " + at) + " (" +
                          dev.status().message() + ")");
    }
    return dev.status();
  }
  p.device = std::move(dev).value();
  if (store::Store::Detect(*p.device) != "pmemfs")
    return Status::InvalidArgument(spec + ": no pmemfs filesystem on this device (create one "
                                          "with mkpmemfs)");

  p.identity.spec = spec;
  p.identity.parts = std::move(parts);
  p.identity.uuid = mapping::UuidString(p.device->info().set_uuid);
  // Label and default mode for the config; a superblock Open cannot use fails Mount later
  // with the store's own message.
  if (Result<layout::Superblock> sb = store::Store::Peek(*p.device); sb.ok()) {
    p.identity.label.assign(sb->label, strnlen(sb->label, sizeof sb->label));
    p.identity.default_mode = mapping::FromStoredMode(sb->default_mode);
  }
  return p;
}

}  // namespace pmemfs::mount
