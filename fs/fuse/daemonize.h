// Going to the background without losing the exit status of a failed mount.
//
// fuse_daemonize() forks and lets the parent exit 0 at once, so a mount that fails afterwards
// (recovery, a busy mount point) would report success to mount(8); and it must run before any
// thread starts (core starts its write-back thread at Filesystem::Mount), since fork() keeps
// only the calling thread. So: Background() forks first; the child does all the work and calls
// Ready() once the filesystem is mounted; the parent waits and exits 0 then, or with the
// child's exit status when it failed (its one-line error already on stderr).
#pragma once

#include "pmemfs/status.h"

namespace pmemfs::fuse {

class Daemonizer {
 public:
  // Returns in the child only (a new session, stdio still attached). The parent never returns.
  Status Background();
  // In the child: the mount is up. Releases the parent (exit 0), moves to "/" and points
  // stdin/stdout/stderr at /dev/null. A no-op if Background() was not called.
  void Ready();

 private:
  int notify_fd_ = -1;
};

}  // namespace pmemfs::fuse
