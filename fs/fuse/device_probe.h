// Opening the device to mount: its parts locked (a second mount of the same device is refused),
// and what the config needs to know about it before core mounts it (set uuid, label, default
// mode from the superblock).
#pragma once

#include <memory>
#include <string>

#include "fs/config/config.h"
#include "mapping/device.h"
#include "pmemfs/status.h"

namespace pmemfs::fuse {

struct ProbedDevice {
  std::unique_ptr<mapping::Device> device;
  config::DeviceIdentity identity;
};

// `spec` is the device as given ("PART[,PART...]"). `page_granularity`: flush emulated pmem
// with msync rather than cache-line flushes. `read_only`: a part that cannot be opened for
// writing (on a read-only filesystem, an immutable file) is opened and mapped read-only. Errors are one line naming the device: it is in
// use ("device already mounted or in use"), a part is missing or foreign, or it holds no pmemfs.
Result<ProbedDevice> OpenAndProbe(const std::string& spec, bool page_granularity,
                                  bool read_only);

}  // namespace pmemfs::fuse
