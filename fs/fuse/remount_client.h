// The `pmemfs` invocations that start no daemon: `mount -o remount,...` (mount.fuse3 runs
// `pmemfs DEVICE MOUNTPOINT -o remount,...`) and a second mount of a device that a daemon
// already serves. Both reach that daemon through its control socket (control.h).
#pragma once

#include <string>

#include "fs/config/mount_args.h"
#include "pmemfs/status.h"

namespace pmemfs::fuse {

// Remounts the pmemfs at `mountpoint` (absolute; a second mount point of the device works too):
//   - rw -> ro: the kernel's superblock goes read-only first (it refuses while files are open
//     for writing), then the daemon writes back what is pending and marks the filesystem clean;
//   - ro -> rw: the daemon marks it dirty and accepts changes, then the kernel;
//   - the per-mount flags (nosuid, noexec, atime, ...) as given (FlagBase::kNone), and the
//     daemon's atime policy when an atime option is given.
// pmemfs's own options (mode=, cache_size=, ...) cannot change: `note` gets a line saying so.
// Errors are one line naming the mount point.
Status RemountLive(const config::MountArgs& args, const std::string& mountpoint, std::string* note);

// A second mount of args.device at `mountpoint` (absolute), as a block-device filesystem
// mounted twice shares its superblock: when a daemon serves the device, bind-mounts that mount
// at `mountpoint` with the per-mount flags given and returns true. Options that the running
// mount cannot honour (another mode=, cache_size=, ram_dir=, ..., ro against rw, another atime
// policy or type) are refused with one line naming the option and the running value. False
// when no daemon serves the device (the caller mounts it).
Result<bool> MountAgain(const config::MountArgs& args, const std::string& mountpoint);

}  // namespace pmemfs::fuse
