// `mount -o remount,...` of a pmemfs: mount.fuse3 starts `pmemfs DEVICE MOUNTPOINT -o
// remount,...` again. That must not become a second daemon; what a remount can change without
// the daemon (the per-mount flags: nosuid, nodev, noexec, the atime flags) is applied with
// MS_REMOUNT|MS_BIND, the rest needs an unmount.
#pragma once

#include <string>
#include <vector>

#include "pmemfs/status.h"

namespace pmemfs::fuse {

// Is `mountpoint` (absolute) a pmemfs mount (type fuse.pmemfs in /proc/self/mountinfo)?
bool IsPmemfsMount(const std::string& mountpoint);

// Sets the per-mount flags to those in `options` (nosuid, nodev, noexec, noatime, relatime,
// strictatime, nodiratime; their opposites clear them). mount(8) hands a helper the whole set
// the mount should end up with (current flags merged with the new ones), so a flag not given is
// cleared, as mount(2) would for a remount. Other options are ignored. Errors name the mount
// point.
Status ApplyRemountFlags(const std::string& mountpoint, const std::vector<std::string>& options);

}  // namespace pmemfs::fuse
