#include "tools/tune/scrub_command.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "fs/fuse/control.h"
#include "mapping/device_set.h"
#include "mapping/poison.h"
#include "mkpmemfs_progress.h"
#include "tools/tune/online.h"
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

int Finish(const ScrubCommand& c, const ScrubReport& r) {
  if (c.json) printf("%s\n", ScrubJson(r).c_str());
  else PrintScrub(r, stdout);
  if (!r.record_error.empty()) return kScrubFailed;
  return r.ranges.empty() ? kScrubClean : kScrubBadRanges;
}

// The daemon's answer to `request`: the text after "ok ", or its "error" as one line.
Result<std::string> Ask(const std::string& socket, const std::string& target,
                        const std::string& request) {
  Result<std::string> reply = fuse::ControlRequest(socket, request, fuse::kInfoTimeoutS);
  if (!reply.ok()) {
    if (std::strstr(reply.status().message().c_str(), strerror(EACCES)) != nullptr)
      return Status::Permission("permission denied: only root or the mount's owner may scrub a "
                                "live mount");
    return Status::IoError(target + ": the daemon does not answer: " + reply.status().message());
  }
  if (reply->rfind("ok", 0) == 0) return reply->size() > 3 ? reply->substr(3) : std::string();
  if (*reply == "error permission denied")
    return Status::Permission("permission denied: only root or the mount's owner may scrub a "
                              "live mount");
  return Status::Busy(target + ": " + (reply->rfind("error ", 0) == 0 ? reply->substr(6) : *reply));
}

// Online: the daemon at `socket` scrubs while the mount runs; we show its progress.
int ScrubLive(const ScrubCommand& c, const std::string& socket,
              const std::vector<std::pair<uint64_t, uint64_t>>& poison) {
  std::string request = "scrub start";
  for (size_t i = 0; i < poison.size(); i++)
    request += (i == 0 ? " poison=" : ",") + std::to_string(poison[i].first) + ":" +
               std::to_string(poison[i].second);
  Result<std::string> started = Ask(socket, c.device, request);
  if (!started.ok()) return Fail(started.status().message());
  const std::string status = "scrub status " + *started;  // "id=N"
  tools::Progress progress(c.json);
  while (true) {
    Result<std::string> s = Ask(socket, c.device, status);
    if (!s.ok()) {
      progress.Finish();
      return Fail(s.status().message());
    }
    if (s->rfind("done ", 0) == 0) {
      progress.Finish();
      Result<ScrubReport> r = store::DecodeScrubReport(s->substr(5));
      if (!r.ok()) return Fail(c.device + ": the daemon's report: " + r.status().message());
      r->device = c.device;
      return Finish(c, *r);
    }
    const std::string reply = "ok " + *s;
    const std::string done = fuse::InfoField(reply, "done"), total = fuse::InfoField(reply, "total");
    if (!done.empty() && !total.empty())
      progress.Update("scrubbing", std::stoull(done), std::stoull(total));
    usleep(100 * 1000);
  }
}

}  // namespace

int RunScrubCommand(const ScrubCommand& c) {
  std::vector<std::pair<uint64_t, uint64_t>> poison;
  for (const std::string& p : c.poison) {
    uint64_t off, len;
    if (!ParseRange(p, &off, &len)) {
      fprintf(stderr, "pmemfs-tune: --test-poison %s: expected OFFSET:LENGTH in bytes\n", p.c_str());
      return kScrubUsage;
    }
    poison.push_back({off, len});
  }
  // A mount point, or the device of a live mount: through its daemon.
  Result<std::optional<std::string>> live = FindLiveDaemon(c.device);
  if (!live.ok()) return Fail(live.status().message());
  if (*live) return ScrubLive(c, **live, poison);
  struct stat st;
  if (stat(c.device.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return Fail(c.device + ": a directory, not a pmemfs device or mount point");
  // Read-write: what the scrub finds goes into the parts' bad-block tables.
  mapping::PartOpenOptions popts{.force_cache_line = !c.page_granularity, .read_only = false};
  Result<std::unique_ptr<mapping::Device>> dev =
      mapping::OpenDevice(mapping::SplitPartList(c.device), popts);
  if (!dev.ok()) {
    if (dev.status().code() == Code::kBusy) {
      const std::string at = MountLookup(c.device, 0);
      return Fail(c.device + ": " +
                  (at.empty() ? "in use by another process (a pmemfs daemon whose control "
                                "socket does not answer?)"
                              : "mounted at " + at + ", but its daemon does not answer"));
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
  return Finish(c, *r);
}

}  // namespace pmemfs::tune
