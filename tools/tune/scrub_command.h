// pmemfs-tune --scrub DEVICE|MOUNTPOINT: the command (fs/store/scrub.h does the work).
//
// A mount point, or the device of a live mount, is scrubbed by its daemon while the mount runs
// (the control socket: "scrub start", then "scrub status" polled for the progress and the
// report; fs/fuse/daemon_control.h); only root and the mount's owner may. An unmounted device
// is opened read-write here (the bad-block tables are written). A progress bar on a terminal
// (none with --json), then what every bad range hits. Exit status: kScrubClean,
// kScrubBadRanges (the device has bad ranges: listed), kScrubFailed (refused, not a pmemfs, or
// a found range could not be recorded, as on a read-only mount: one line on stderr),
// kScrubUsage.
//
// `poison` (the hidden --test-poison OFFSET:LENGTH, for tests only) first makes those device
// ranges fault as poisoned pmem does (mapping/poison.h): in this process offline, in the
// daemon online (which must run with PMEMFS_TEST_POISON=1), so the scrub has something to find
// on an emulated device.
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
