// pmemfs-tune: show and change a pmemfs filesystem's parameters (tune2fs's counterpart).
//
//   pmemfs-tune -l [--json] DEVICE[,PART...]          the superblock, geometry, counts, state
//   pmemfs-tune [-L LABEL] [-U UUID|random|time] [--mode copy|direct|pages]
//               [--descriptors on|off] [--ram-size SIZE] DEVICE[,PART...]
//   pmemfs-tune [-L LABEL] [--mode M] [--writeback-ms N] [--cache-size SIZE] MOUNTPOINT|DEVICE
//   pmemfs-tune --scrub [--json] DEVICE[,PART...]|MOUNTPOINT   find media errors, name what they hit
//   pmemfs-tune --add-part PART DEVICE[,PART...]      grow a linear device by a part
//   pmemfs-tune -V|--version
//
// Offline: the device's parts are locked while it runs, as the daemon locks them, so a mounted
// device is refused (naming its mount point). Every change is checked first (a refusal changes
// nothing) and made through the store's journal (tools/tune/offline.h). Exit status: 0 done,
// 1 refused or failed (one line on stderr), 2 usage error. Online (a mount point, or the device
// of a live mount): the running daemon makes the change (tools/tune/online.h); --mode then
// switches the running mode, not the stored one. --scrub (offline, or online through the daemon):
// 3 when the device has bad ranges (tools/tune/scrub_command.h).
#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdio>
#include <string>
#include <vector>

#include "cli.h"
#include "fs/fuse/control.h"
#include "mapping/device_set.h"
#include "pmemfs/size.h"
#include "tools/tune/add_part.h"
#include "tools/tune/describe.h"
#include "tools/tune/offline.h"
#include "tools/tune/online.h"
#include "tools/tune/pending.h"
#include "tools/tune/scrub_command.h"
#include "version.h"

namespace {

using namespace pmemfs;

constexpr int kOk = 0, kFailed = 1, kUsage = 2;

struct Options {
  std::string device;
  bool list = false;
  bool json = false;
  std::optional<std::string> label;
  std::optional<std::string> uuid;
  std::optional<std::string> mode;
  std::optional<std::string> writeback_ms;
  std::optional<std::string> cache_size;
  std::optional<std::string> descriptors;
  std::optional<std::string> ram_size;
  std::optional<std::string> add_part;
  bool page_granularity = false;
  bool scrub = false;
  std::vector<std::string> test_poison;
};

int Fail(const std::string& message) {
  fprintf(stderr, "pmemfs-tune: %s\n", message.c_str());
  return kFailed;
}

// Where `spec` is mounted according to /proc/mounts (the daemon names its device string as the
// mount's source; any path to its first part matches), or "".
std::string MountedAt(const std::string& spec) { return fuse::ListedMountPoint(spec); }

// For a target no live daemon serves (FindLiveDaemon): a mount still listed for it is stale, its
// daemon killed. Nothing is changed under it: "" when there is none, else the refusal.
std::string StaleMountRefusal(const std::string& target) {
  const std::string at = MountedAt(target);
  if (at.empty()) return "";
  std::string m = target;
  m += ": listed as mounted at ";
  m += at;
  m += ", but no pmemfs daemon answers for it (killed? a stale mount: Transport endpoint is not "
       "connected); take it down with fusermount3 -u ";
  m += at;
  m += " first; nothing changed";
  return m;
}

// --add-part (tools/tune/add_part.h): offline only.
int RunAddPart(const Options& o) {
  Result<std::optional<std::string>> live = tune::FindLiveDaemon(o.device);
  if (!live.ok()) return Fail(live.status().message());
  if (live->has_value()) {
    Result<std::string> at = tune::LiveInfo(**live, "mountpoint");
    const std::string where = at.ok() && !at->empty() ? "mounted at " + *at : "mounted";
    return Fail(o.device + ": " + where + "; --add-part works on an unmounted device only");
  }
  if (std::string stale = StaleMountRefusal(o.device); !stale.empty()) return Fail(stale);
  std::vector<std::string> paths = mapping::SplitPartList(o.device);
  paths.push_back(*o.add_part);
  Result<std::vector<std::shared_ptr<mapping::Part>>> parts = mapping::OpenFileParts(
      paths, {.force_cache_line = !o.page_granularity});
  if (!parts.ok()) {
    if (parts.status().code() == Code::kBusy) {
      const std::string at = MountedAt(o.device);
      return Fail(parts.status().message() +
                  (at.empty() ? "" : " (" + o.device + " is mounted at " + at + ")") +
                  "; nothing changed");
    }
    return Fail(parts.status().message() + "; nothing changed");
  }
  std::shared_ptr<mapping::Part> part = parts->back();
  parts->pop_back();
  Result<tune::AddPartResult> r = tune::AddPart(*parts, part);
  if (!r.ok()) return Fail(o.device + ": " + r.status().message() + "; nothing changed");
  if (!r->note.empty()) printf("%s: %s\n", o.device.c_str(), r->note.c_str());
  const mapping::DeviceInfo& i = r->dev->info();
  printf("%s: added %s: %u parts, %llu bytes; name it as %s,%s from now on\n", o.device.c_str(),
         o.add_part->c_str(), i.part_count, static_cast<unsigned long long>(i.size),
         o.device.c_str(), o.add_part->c_str());
  return kOk;
}

int Run(const Options& o) {
  if (o.add_part) return RunAddPart(o);
  tune::OfflineChange change;
  change.label = o.label;
  if (o.uuid) {
    Result<std::array<uint8_t, 16>> u = tune::ParseUuidArgument(*o.uuid);
    if (!u.ok()) return Fail("-U: " + u.status().message());
    change.uuid = *u;
  }
  if (o.mode) {
    Result<mapping::Mode> m = mapping::ParseMode(*o.mode);
    if (!m.ok()) return Fail("--mode: " + m.status().message());
    change.mode = *m;
  }
  tune::OnlineChange online{.label = o.label, .mode = change.mode};
  if (o.writeback_ms) {
    const std::string& v = *o.writeback_ms;
    uint32_t ms = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), ms);
    if (ec != std::errc() || end != v.data() + v.size())
      return Fail("--writeback-ms: '" + v + "' is not a number of milliseconds (0 to 4294967295)");
    online.writeback_ms = ms;
  }
  if (o.cache_size) {
    // (The daemon checks the size against its limits and answers with the reason.)
    Result<uint64_t> size = ParseSize(*o.cache_size);
    if (!size.ok()) return Fail("--cache-size: " + size.status().message());
    online.cache_size = *size;
  }
  if (o.descriptors) change.descriptors = *o.descriptors == "on";
  if (o.ram_size) {
    Result<uint64_t> size = ParseSize(*o.ram_size);
    if (!size.ok()) return Fail("--ram-size: " + size.status().message());
    change.ram_size = *size;
  }
  if (!change.any() && !online.any() && !o.list)
    return Fail("nothing to do: give -l or a change (see --help)");

  // A mount point, or the device of a live mount: the daemon changes it.
  Result<std::optional<std::string>> live = tune::FindLiveDaemon(o.device);
  if (!live.ok()) return Fail(live.status().message());
  if (live->has_value()) {
    if (o.list || o.uuid || o.descriptors || o.ram_size) {
      Result<std::string> at = tune::LiveInfo(**live, "mountpoint");
      const std::string where = at.ok() && !at->empty() ? "mounted at " + *at : "mounted";
      return Fail(o.device + ": " + where +
                  "; -l, -U, --descriptors and --ram-size work on an unmounted device only");
    }
    Result<std::string> done = tune::ApplyOnline(**live, o.device, online);
    if (!done.ok()) return Fail(done.status().message());
    printf("%s: %s\n", o.device.c_str(), done->c_str());
    return kOk;
  }
  if (change.any() || online.any()) {
    if (std::string stale = StaleMountRefusal(o.device); !stale.empty()) return Fail(stale);
  }
  if (online.writeback_ms || online.cache_size)
    return Fail(o.device + ": not mounted; --writeback-ms and --cache-size change a live mount");

  mapping::PartOpenOptions popts{.force_cache_line = !o.page_granularity,
                                 .read_only = !change.any()};
  tune::JoinSeen join;
  auto open = [&]() -> Result<std::unique_ptr<mapping::Device>> {
    const std::vector<std::string> paths = mapping::SplitPartList(o.device);
    if (change.any()) return mapping::OpenDevice(paths, popts);
    // -l alone: an --add-part under way is listed, not refused (tools/tune/pending.h).
    PMEMFS_ASSIGN_OR_RETURN(auto parts, mapping::OpenFileParts(paths, popts));
    return tune::AssembleForListing(std::move(parts), &join);
  };
  Result<std::unique_ptr<mapping::Device>> dev = open();
  if (!dev.ok()) {
    if (dev.status().code() == Code::kBusy) {
      const std::string at = MountedAt(o.device);
      return Fail(o.device + ": " +
                  (at.empty() ? "in use by another process (a pmemfs daemon?)"
                              : "mounted at " + at) +
                  "; unmount it first");
    }
    return Fail(dev.status().message());
  }
  if (change.any()) {
    Status s = tune::ApplyOffline(**dev, change);
    if (!s.ok()) return Fail(o.device + ": " + s.message() + "; nothing changed");
  }
  if (o.list) {
    Result<tune::Description> d = tune::Describe(**dev, o.device, join);
    if (!d.ok()) return Fail(o.device + ": " + d.status().message());
    if (o.json) printf("%s\n", tune::DescriptionJson(*d).c_str());
    else tune::PrintDescription(*d, stdout);
  }
  return kOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Show or change the parameters of a pmemfs filesystem", "pmemfs-tune"};
  Options o;
  app.add_option("device", o.device,
                 "PART[,PART...]: the device string given to mkpmemfs, or a mount point")
      ->required();
  app.add_flag("-l,--list", o.list,
               "print the superblock: uuid, label, mode, features, sizes, counts, times, state, "
               "bad ranges");
  app.add_flag("--json", o.json,
               "with -l or --scrub: print it as one JSON object (see pmemfs-tune(8))");
  app.add_flag("--scrub", o.scrub,
               "read every page in use through the media guard, record the bad ranges found and "
               "name the files and structures every bad range hits (a live mount: through its daemon)");
  app.add_option("--test-poison", o.test_poison, "")->group("")->type_name("OFFSET:LENGTH");
  app.add_option("-L,--label", o.label, "set the filesystem label (at most 63 bytes)")
      ->type_name("LABEL");
  app.add_option("-U,--uuid", o.uuid, "set the uuid: a uuid, random or time")
      ->type_name("UUID");
  app.add_option("--mode", o.mode,
                 "set the default mode stored in the superblock; on a live mount, switch the "
                 "running mode")
      ->check(CLI::IsMember({"copy", "direct", "pages"}))
      ->type_name("MODE");
  app.add_option("--writeback-ms", o.writeback_ms,
                 "live mount: the write-back period from now on (0: only fsync, sync, unmount)")
      ->type_name("MS");
  app.add_option("--cache-size", o.cache_size, "live mount in copy mode: the DRAM cache size")
      ->type_name("SIZE");
  app.add_option("--descriptors", o.descriptors,
                 "add (on) or drop (off) the page-descriptor area pages mode needs")
      ->check(CLI::IsMember({"on", "off"}))
      ->type_name("on|off");
  app.add_option("--ram-size", o.ram_size,
                 "resize the RAM partition (volatile files under ram/) into the space after the "
                 "store area")
      ->type_name("SIZE");
  app.add_option("--add-part", o.add_part,
                 "grow an unmounted linear device by one more part (a file or devdax device "
                 "that belongs to no pmemfs device); name it after the others from then on")
      ->type_name("PART");
  app.add_flag("--page-granularity", o.page_granularity,
               "flush emulated pmem files with msync instead of cache-line flushes");
  app.set_version_flag("-V,--version", tools::VersionString("pmemfs-tune"),
                       "print the version and exit");
  if (std::optional<int> done = tools::ParseCommandLine(app, argc, argv, kUsage)) return *done;
  if (o.json && !o.list && !o.scrub) {
    fprintf(stderr, "pmemfs-tune: --json goes with -l or --scrub (see pmemfs-tune --help)\n");
    return kUsage;
  }
  if (o.scrub && (o.list || o.label || o.uuid || o.mode || o.writeback_ms || o.cache_size ||
                  o.descriptors || o.ram_size || o.add_part)) {
    fprintf(stderr, "pmemfs-tune: --scrub goes alone (see pmemfs-tune --help)\n");
    return kUsage;
  }
  if (!o.test_poison.empty() && !o.scrub) {
    fprintf(stderr, "pmemfs-tune: --test-poison goes with --scrub\n");
    return kUsage;
  }
  if (o.add_part && (o.list || o.label || o.uuid || o.mode || o.writeback_ms || o.cache_size ||
                     o.descriptors || o.ram_size)) {
    fprintf(stderr, "pmemfs-tune: --add-part goes alone (see pmemfs-tune --help)\n");
    return kUsage;
  }
  if (o.scrub)
    return tune::RunScrubCommand(
        {.device = o.device, .json = o.json, .page_granularity = o.page_granularity,
         .poison = o.test_poison});
  return Run(o);
}
