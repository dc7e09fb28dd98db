// The per-mount flags (nosuid, nodev, noexec, the atime flags), set with MS_REMOUNT|MS_BIND:
//   - `mount -o remount,...` of a pmemfs: mount.fuse3 starts `pmemfs DEVICE MOUNTPOINT -o
//     remount,...` again. That must not become a second daemon: the flags are applied to the
//     mount that exists; the rest needs an unmount.
//   - right after a mount, the flags libfuse 3.14 refuses to pass (relatime, strictatime, ...).
#pragma once

#include <string>
#include <vector>

#include "pmemfs/status.h"

namespace pmemfs::fuse {

// Is `mountpoint` (absolute) a pmemfs mount (type fuse.pmemfs in /proc/self/mountinfo)?
bool IsPmemfsMount(const std::string& mountpoint);

enum class FlagBase {
  kNone,     // mount(8) hands a remount helper the whole set the mount should end up with
             // (current flags merged with the new ones): a flag not given is cleared
  kLibfuse,  // what libfuse mounts with before the options (nosuid, nodev), for a mount that
             // is not served yet: nothing here may touch it (statvfs would wait on ourselves)
};

// Sets the per-mount flags from `base` and `options` (nosuid, nodev, noexec, noatime,
// relatime, strictatime, nodiratime; their opposites clear them). Other options are ignored.
// Errors name the mount point.
Status SetMountFlags(const std::string& mountpoint, const std::vector<std::string>& options,
                     FlagBase base);

}  // namespace pmemfs::fuse
