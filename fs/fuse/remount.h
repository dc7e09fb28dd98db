// The mount flags (nosuid, nodev, noexec, the atime flags, ro), set on a mount that exists:
//   - `mount -o remount,...` of a pmemfs: mount.fuse3 starts `pmemfs DEVICE MOUNTPOINT -o
//     remount,...` again, which sets them (remount_client.h) instead of becoming a daemon;
//   - right after a mount, the flags libfuse 3.14 refuses to pass (relatime, strictatime, ...);
//   - on the bind mount that a second mount of a mounted device becomes.
#pragma once

#include <string>
#include <vector>

#include "pmemfs/status.h"

namespace pmemfs::fuse {

enum class FlagBase {
  kNone,     // mount(8) hands a remount helper the whole set the mount should end up with
             // (current flags merged with the new ones): a flag not given is cleared
  kLibfuse,  // what libfuse mounts with before the options (nosuid, nodev), for a mount that
             // is not served yet: nothing here may touch it (statvfs would wait on ourselves)
};

enum class FlagScope {
  kMount,       // MS_REMOUNT|MS_BIND: this mount's flags only (ro: this mount only)
  kSuperblock,  // MS_REMOUNT: the filesystem's read-only state and this mount's flags; the
                // kernel refuses read-only (EBUSY) while files are open for writing
};

// The mount(2) flags for `options` (in the order given: the last of conflicting ones wins)
// from `base`: nosuid, nodev, noexec, noatime, relatime, strictatime, nodiratime, ro; their
// opposites clear them. Other options are ignored.
unsigned long MountFlags(const std::vector<std::string>& options, FlagBase base);

// Sets the flags of MountFlags(options, base) on the mount at `mountpoint`. Errors name the
// mount point.
Status SetMountFlags(const std::string& mountpoint, const std::vector<std::string>& options,
                     FlagBase base, FlagScope scope = FlagScope::kMount);

}  // namespace pmemfs::fuse
