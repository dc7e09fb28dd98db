// pmemfs-tune --scrub DEVICE: the command (tools/tune/scrub.h does the work).
//
// Offline only: a mounted device (the daemon locks its parts) and a mount point are refused with
// one line (online scrub through the daemon is not done yet). Opens the device read-write (the
// bad-block tables are written), shows a progress bar on a terminal (none with --json), prints
// what every bad range hits. Exit status: kScrubClean, kScrubBadRanges (the device has bad
// ranges: listed), kScrubFailed (refused, not a pmemfs, or a found range could not be
// recorded: one line on stderr), kScrubUsage.
//
// `poison` (the hidden --test-poison OFFSET:LENGTH, for tests only) first makes those device
// ranges fault in this process as poisoned pmem does (mapping/poison.h), so the scrub has
// something to find on an emulated device.
#pragma once

#include <string>
#include <vector>

namespace pmemfs::tune {

inline constexpr int kScrubClean = 0, kScrubFailed = 1, kScrubUsage = 2, kScrubBadRanges = 3;

struct ScrubCommand {
  std::string device;
  bool json = false;
  bool page_granularity = false;
  std::vector<std::string> poison;
};

int RunScrubCommand(const ScrubCommand& c);

}  // namespace pmemfs::tune
