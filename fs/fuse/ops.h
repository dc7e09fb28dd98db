// fs/fuse: the libfuse low-level operations over core::Filesystem. With fs/main.cc, the only
// code that includes libfuse or speaks errno (every Status becomes an errno in errno.cc).
//
//   OpsContext ctx{.fs = fs.get(), .mode = opts.mode};
//   fuse_lowlevel_ops ops = MakeOps();                       // the op table, filled in one place
//   fuse_session_new(&args, &ops, sizeof ops, &ctx);         // session.h does this
//
// Every handler replies exactly once, after whatever it asked the filesystem has returned (core
// takes and drops its own locks; the handlers hold none). Entries and attributes are cached by
// the kernel for a day: only this daemon changes the filesystem, it tells the kernel about
// changes the kernel did not make itself through core::Invalidator (invalidator.h), and names
// that do not exist are cached too (negative entries).
#pragma once

#include <fuse_lowlevel.h>

#include <atomic>
#include <functional>

#include "fs/core/fs.h"
#include "mapping/access.h"

namespace pmemfs::fuse {

class AsyncInvalidator;  // invalidator.h

// Only we change the filesystem, so the kernel may keep what it learned for long.
inline constexpr double kCacheTimeout = 24 * 3600.0;

// The session's userdata: what every handler reaches through fuse_req_userdata().
struct OpsContext {
  core::Filesystem* fs = nullptr;
  mapping::Mode mode = mapping::Mode::kDirect;
  bool want_writeback_cache = false;  // -o writeback_cache (copy mode only)
  double entry_timeout = kCacheTimeout;
  double attr_timeout = kCacheTimeout;
  double negative_timeout = kCacheTimeout;
  // Set by init: the kernel caches writes (copy mode), so it may read write-only files.
  bool writeback_cache = false;
  // Set before the session loop starts (null: no invalidation from handlers, as in tests).
  AsyncInvalidator* invalidator = nullptr;
  // Set by destroy once Unmount has run, with its result (read after the session is gone).
  std::atomic<bool> unmounted{false};
  Status unmount_status;
  // Set by the first reply that fails because the device shrank (logged once, as one line).
  std::atomic<bool> device_lost_logged{false};
  // Run once, by the first request after INIT (the kernel sends none before it has processed
  // INIT's reply); set before the session loop starts. Session uses it for the readahead.
  std::function<void()> after_init;
  std::atomic<bool> after_init_done{false};
};

// The operation table.
fuse_lowlevel_ops MakeOps();

// Unmounts ctx.fs (core::Filesystem::Unmount) unless that ran already, and logs what it did: a
// read-write mount is written back and marked clean; a read-only one writes nothing. Returns
// the result (kept in ctx.unmount_status). FUSE's destroy calls it; the daemon calls it after
// the session when the kernel sent no destroy.
Status UnmountOnce(OpsContext& ctx);

}  // namespace pmemfs::fuse
