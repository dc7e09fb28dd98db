// pmemfs-tune's changes of a live mount: sent to the daemon serving it over its control socket
// (fs/fuse/control.h; the daemon's side is fs/fuse/daemon_control.h, "tune"). The daemon checks
// the caller (root or the mount's owner) and every value before changing anything.
//
//   Result<std::optional<std::string>> d = FindLiveDaemon("/mnt/pmem");   // or a device
//   Result<std::string> what = ApplyOnline(**d, {.mode = mapping::Mode::kCopy});
//
// Internal to tools/tune.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "mapping/access.h"
#include "pmemfs/status.h"

namespace pmemfs::tune {

struct OnlineChange {
  std::optional<std::string> label;         // -L: through the journal, durable on return
  std::optional<uint32_t> writeback_ms;     // --writeback-ms
  std::optional<uint64_t> cache_size;       // --cache-size (copy mode)
  std::optional<mapping::Mode> mode;        // --mode: the running mode, switched
  bool any() const { return label || writeback_ms || cache_size || mode; }
};

// The control socket of the daemon serving `target`: a mount point (a directory: it must be a
// mounted pmemfs, else NotFound) or a device string (nullopt when no daemon serves it).
// Permission when the caller may not talk to daemons (only root and a mount's owner may).
Result<std::optional<std::string>> FindLiveDaemon(const std::string& target);

// Sends `change`; returns what the daemon says it changed (for -v style output), or its
// refusal as one line (nothing changed unless the message says so).
Result<std::string> ApplyOnline(const std::string& socket, const std::string& target,
                                const OnlineChange& change);

// The daemon's "info" fields of `key` (mode, cache_size, writeback_ms, pause_ns, ...).
Result<std::string> LiveInfo(const std::string& socket, const std::string& key);

}  // namespace pmemfs::tune
