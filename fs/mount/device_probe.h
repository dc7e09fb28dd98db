// fs/mount: opening the device to mount, before core mounts it and FUSE serves it: its parts
// locked (a second mount of the same device is refused), and what the config needs to know
// about it (set uuid, label, default mode from the superblock).
//
//   ProbedDevice p = OpenAndProbe(spec, page_granularity, read_only).value();
//   config::Resolve(cfg, p.identity, settings);  core::Filesystem::Mount(std::move(p.device), ...)
//
// Above fs/config (its DeviceIdentity) and fs/store, below fs/fuse: no libfuse, no errno.
#pragma once

#include <memory>
#include <string>

#include "fs/config/config.h"
#include "mapping/device.h"
#include "pmemfs/status.h"

namespace pmemfs::mount {

struct ProbedDevice {
  std::unique_ptr<mapping::Device> device;
  config::DeviceIdentity identity;
  std::string note;  // what the open finished (an interrupted --add-part), "" when nothing
};

// `spec` is the device as given ("PART[,PART...]"). `page_granularity`: flush emulated pmem
// with msync rather than cache-line flushes. `read_only`: a part that cannot be opened for
// writing (on a read-only filesystem, an immutable file) is opened and mapped read-only. Errors
// are one line naming the device: it is in use ("device already mounted at M" or "... in use":
// Busy), a part is missing or foreign, or it holds no pmemfs (InvalidArgument). An interrupted
// pmemfs-tune --add-part is finished, or refused naming the command (add_part_finish.h).
Result<ProbedDevice> OpenAndProbe(const std::string& spec, bool page_granularity,
                                  bool read_only);

}  // namespace pmemfs::mount
