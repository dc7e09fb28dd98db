#include "tools/tune/scrub_command.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>

#include "mapping/device_set.h"
#include "mapping/poison.h"
#include "mkpmemfs_progress.h"
#include "tools/tune/scrub.h"

namespace pmemfs::tune {

namespace {

int Fail(const std::string& message) {
  fprintf(stderr, "pmemfs-tune: %s\n", message.c_str());
  return kScrubFailed;
}

// The /proc/mounts line whose field `field` (0: source, 1: mount point) is `value`: the other
// of the two, or "".
std::string MountLookup(const std::string& value, int field) {
  std::ifstream in("/proc/mounts");
  std::string source, mountpoint, rest;
  while (in >> source >> mountpoint && std::getline(in, rest))
    if ((field == 0 ? source : mountpoint) == value) return field == 0 ? mountpoint : source;
  return "";
}

// "OFFSET:LENGTH" in bytes.
bool ParseRange(const std::string& s, uint64_t* off, uint64_t* len) {
  const size_t colon = s.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) return false;
  try {
    size_t used = 0;
    *off = std::stoull(s.substr(0, colon), &used, 0);
    if (used != colon) return false;
    *len = std::stoull(s.substr(colon + 1), &used, 0);
    return used == s.size() - colon - 1;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace

int RunScrubCommand(const ScrubCommand& c) {
  struct stat st;
  if (stat(c.device.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    const std::string source = MountLookup(c.device, 1);
    return Fail(c.device + ": " +
                (source.empty() ? std::string("a directory, not a pmemfs device")
                                : "a mount point (of " + source +
                                      "); online scrub through the daemon is not supported yet: "
                                      "unmount it and scrub the device"));
  }
  std::vector<std::pair<uint64_t, uint64_t>> poison;
  for (const std::string& p : c.poison) {
    uint64_t off, len;
    if (!ParseRange(p, &off, &len)) {
      fprintf(stderr, "pmemfs-tune: --test-poison %s: expected OFFSET:LENGTH in bytes\n", p.c_str());
      return kScrubUsage;
    }
    poison.push_back({off, len});
  }
  // Read-write: what the scrub finds goes into the parts' bad-block tables.
  mapping::PartOpenOptions popts{.force_cache_line = !c.page_granularity, .read_only = false};
  Result<std::unique_ptr<mapping::Device>> dev =
      mapping::OpenDevice(mapping::SplitPartList(c.device), popts);
  if (!dev.ok()) {
    if (dev.status().code() == Code::kBusy) {
      const std::string at = MountLookup(c.device, 0);
      return Fail(c.device + ": " +
                  (at.empty() ? "in use by another process (a pmemfs daemon?)"
                              : "mounted at " + at + "; online scrub is not supported yet") +
                  ": unmount it first");
    }
    return Fail(dev.status().message());
  }
  for (auto [off, len] : poison) {
    Status s = mapping::SimulatePoison(**dev, off, len);
    if (!s.ok()) return Fail("--test-poison: " + s.message());
  }
  tools::Progress progress(c.json);
  ScrubOptions opts;
  opts.progress = [&](uint64_t done, uint64_t total) { progress.Update("scrubbing", done, total); };
  Result<ScrubReport> r = Scrub(**dev, c.device, opts);
  progress.Finish();
  if (!r.ok()) return Fail(c.device + ": " + r.status().message());
  if (c.json) printf("%s\n", ScrubJson(*r).c_str());
  else PrintScrub(*r, stdout);
  if (!r->record_error.empty()) return kScrubFailed;
  return r->ranges.empty() ? kScrubClean : kScrubBadRanges;
}

}  // namespace pmemfs::tune
