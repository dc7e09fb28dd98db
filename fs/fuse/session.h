// Session: a mounted libfuse low-level session serving core::Filesystem.
//
//   auto s = Session::Mount(&ctx, {.mountpoint = "/mnt/pmemfs", .fsname = "/dev/dax0.0"});
//   AsyncInvalidator inval(s->session()); fs->SetInvalidator(&inval);
//   s->Loop();          // until unmount or SIGTERM/SIGINT/SIGHUP
//   ...; s.reset();     // unmounts if still mounted, runs destroy (-> Filesystem::Unmount)
#pragma once

#include <fuse_lowlevel.h>

#include <memory>
#include <string>
#include <vector>

#include "fs/fuse/ops.h"
#include "pmemfs/status.h"

namespace pmemfs::fuse {

// Readahead the session gives its mount (the largest request the kernel sends, 1 MiB).
inline constexpr unsigned kReadaheadKib = 1024;

struct SessionOptions {
  std::string mountpoint;                   // absolute
  std::string fsname;                       // the source /proc/mounts shows: the device string
  std::string subtype = "pmemfs";           // the type shows as fuse.<subtype> ("": fuse)
  std::vector<std::string> kernel_options;  // common mount options (unescaped), for libfuse
  bool debug = false;                       // libfuse request tracing
  bool single_thread = false;
  unsigned max_threads = 0;                 // 0: max(10, 2 x CPUs)
};

// The command line Session::Mount gives fuse_session_new, argv[0] included: default_permissions,
// fsname= and (unless empty) subtype=, each kernel option, -d with debug. Every -o value is
// escaped (a comma or backslash gets a backslash: libfuse splits -o values at commas).
std::vector<std::string> SessionArgs(const SessionOptions& opts);

class Session {
 public:
  // Creates the session over `ctx` (which must outlive it) with default_permissions always on,
  // installs the signal handlers and mounts. Errors are one line, libfuse's reasons included.
  static Result<std::unique_ptr<Session>> Mount(OpsContext* ctx, const SessionOptions& opts);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  fuse_session* session() const { return se_; }
  // Serves requests (multithreaded unless single_thread, one /dev/fuse clone per thread) until
  // the filesystem is unmounted or a signal ends the session. Returns the signal, or 0. The
  // first request after INIT raises the mount's readahead to kReadaheadKib (root only).
  Result<int> Loop();

 private:
  Session() = default;

  SessionOptions opts_;
  fuse_lowlevel_ops ops_{};
  fuse_session* se_ = nullptr;
  bool handlers_ = false;
  bool mounted_ = false;
};

}  // namespace pmemfs::fuse
