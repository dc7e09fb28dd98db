// pmemfs-fsck: check (and with -y repair) an unmounted pmemfs filesystem.
//
//   pmemfs-fsck [-n|-y|-p|-a] [-f] [-v] [-C FD] [-T] [--json] [--descriptors auto|on|off]
//               [--page-granularity] DEVICE[,PART...]
//   pmemfs-fsck -V|--version
//
// DEVICE is the device string mkpmemfs and the daemon take. -n (the default) never writes;
// -y and -p repair what can be repaired (-p, "preen", does the same as -y: every repair pmemfs-
// fsck makes is one it can make without asking). -f is accepted for e2fsck compatibility: the
// check is always complete. Installed also as fsck.pmemfs and fsck.fuse.pmemfs (the names
// fsck(8) and systemd-fsck look for), it takes what they pass: -a (as -p), -C FD (progress lines
// "1 DONE TOTAL DEVICE" on FD as e2fsck writes them; 0: the progress bar), -T (ignored).
// --json prints the summary as one JSON object instead of text (report_json.h).
//
// The device's part files are locked exclusively while it runs, the way the daemon locks them,
// so a mounted device is refused (with -n too: a filesystem that changes under the checker
// cannot be judged).
//
// Exit status as e2fsck: 0 clean, 1 errors fixed, 4 errors left uncorrected, 8 operational
// error (missing device, not a pmemfs, device in use), 16 usage error. Errors are one line on
// stderr; problems are listed on stdout.
#include <CLI/CLI.hpp>

#include <time.h>

#include <climits>
#include <cstdio>
#include <fstream>
#include <string>

#include "cli.h"
#include "fs/store/store.h"
#include "mapping/device_set.h"
#include "mkpmemfs_progress.h"
#include "tools/fsck/check.h"
#include "tools/fsck/report_json.h"
#include "version.h"

namespace {

using namespace pmemfs;

constexpr int kClean = 0, kOperational = 8, kUsage = 16;
constexpr int kProgressAuto = INT_MIN;  // no -C: the bar when stderr is a terminal

struct Options {
  std::string device;
  bool no = false, yes = false, preen = false, force = false, verbose = false;
  bool page_granularity = false;
  bool json = false, no_title = false;
  int progress_fd = kProgressAuto;  // -C: > 0 lines on that fd, 0 the bar, < 0 none
  std::string descriptors = "auto";
};

int Fail(const Options& o, int code, const std::string& message) {
  fprintf(stderr, "pmemfs-fsck: %s\n", message.c_str());
  if (o.json) printf("%s\n", fsck::ErrorJson(o.device, message, code).c_str());
  return code;
}

// Where `spec` is mounted according to /proc/mounts (the daemon names its device string as the
// mount's source), or "".
std::string MountedAt(const std::string& spec) {
  std::ifstream in("/proc/mounts");
  std::string source, mountpoint, rest;
  while (in >> source >> mountpoint && std::getline(in, rest))
    if (source == spec) return mountpoint;
  return "";
}

Status StampChecked(mapping::Device& dev) {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  PMEMFS_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> s, store::Store::OpenOffline(dev));
  Status st = s->SetIdentity(
      {.checked_ns = static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec});
  Status closed = s->Close();
  return st.ok() ? closed : st;
}

int Run(const Options& o) {
  if (o.no && (o.yes || o.preen))
    return Fail(o, kUsage, "-n cannot be combined with -y, -p or -a");
  std::vector<std::string> paths = mapping::SplitPartList(o.device);
  // -n opens the parts read-only (it works on a read-only filesystem or an immutable file).
  mapping::PartOpenOptions popts{.force_cache_line = !o.page_granularity,
                                 .read_only = !(o.yes || o.preen)};
  Result<std::unique_ptr<mapping::Device>> dev = mapping::OpenDevice(paths, popts);
  if (!dev.ok()) {
    if (dev.status().code() == Code::kBusy) {
      const std::string at = MountedAt(o.device);
      return Fail(o, kOperational, o.device + ": " +
                                    (at.empty() ? "in use by another process (a pmemfs daemon?)"
                                                : "mounted at " + at) +
                                    "; unmount it first (" + dev.status().message() + ")");
    }
    return Fail(o, kOperational, dev.status().message());
  }

  fsck::CheckOptions opts;
  opts.repair = o.yes || o.preen;
  opts.descriptors = o.descriptors == "on"    ? fsck::DescriptorCheck::kOn
                     : o.descriptors == "off" ? fsck::DescriptorCheck::kOff
                                              : fsck::DescriptorCheck::kAuto;
  tools::Progress progress(o.json || (o.progress_fd != kProgressAuto && o.progress_fd != 0));
  int last_permille = -1;
  opts.progress = [&](uint64_t done, uint64_t total) {
    progress.Update("checking", done, total);
    const int permille = total ? static_cast<int>(done * 1000 / total) : 1000;
    if (o.progress_fd > 0 && permille != last_permille) {  // e2fsck's -C format, pass 1
      last_permille = permille;
      dprintf(o.progress_fd, "1 %lu %lu %s\n", done, total, o.device.c_str());
    }
  };
  Result<fsck::CheckReport> r = fsck::Check(**dev, opts);
  progress.Finish();
  if (!r.ok()) return Fail(o, kOperational, o.device + ": " + r.status().message());
  // e2fsck's "last checked": a run that may write and leaves the filesystem clean stamps it in
  // the superblock (one journal transaction; pmemfs-tune -l shows it). -n writes nothing.
  if (opts.repair && r->unrepaired() == 0) {
    Status s = StampChecked(**dev);
    if (!s.ok())
      fprintf(stderr, "pmemfs-fsck: %s: the time of this check was not recorded: %s\n",
              o.device.c_str(), s.message().c_str());
  }
  if (o.json) {
    const int code = r->ExitCode();
    printf("%s\n", fsck::ReportJson(o.device, *r, opts.repair, code).c_str());
    return code;
  }

  for (const fsck::Problem& p : r->problems)
    printf("%s: %s%s\n", p.area.c_str(), p.message.c_str(),
           p.repaired ? " [FIXED]" : (opts.repair ? " [NOT FIXED]" : ""));
  if (o.verbose) {
    for (const std::string& n : r->notes) printf("note: %s\n", n.c_str());
    printf("%lu inodes: %lu directories, %lu files, %lu symlinks, %lu others; %lu names, "
           "%lu extents, %lu xattrs (%lu value blocks), %lu chain blocks%s\n",
           r->inodes, r->directories, r->files, r->symlinks, r->others, r->dentries, r->extents,
           r->xattrs, r->xattr_value_blocks, r->chain_blocks,
           r->descriptors_checked ? "; page descriptors checked" : "");
  }
  const uint64_t left = r->unrepaired();
  printf("%s: %lu/%lu inodes, %lu/%lu data blocks in use; ", o.device.c_str(), r->inodes,
         r->inode_count, r->data_blocks_used, r->data_blocks);
  if (r->clean()) printf("clean\n");
  else if (left == 0) printf("%zu problems, all fixed\n", r->problems.size());
  else
    printf("%zu problems, %lu left%s\n", r->problems.size(), left,
           opts.repair ? "" : " (run with -y to repair)");
  const int code = r->ExitCode();
  return code == 0 ? kClean : code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Check (and repair) an unmounted pmemfs filesystem", "pmemfs-fsck"};
  Options o;
  app.add_option("device", o.device, "PART[,PART...]: the device string given to mkpmemfs")
      ->required();
  app.add_flag("-n", o.no, "check only, never write (the default)");
  app.add_flag("-y", o.yes, "repair every problem that can be repaired");
  app.add_flag("-p", o.preen, "repair automatically (the same as -y)");
  app.add_flag("-a", o.preen, "the same as -p (what fsck -a and systemd-fsck pass)");
  app.add_flag("-f", o.force, "check even if the filesystem seems clean (always done)");
  app.add_flag("-v", o.verbose, "print what was walked and notes");
  app.add_option("-C", o.progress_fd,
                 "progress: lines 'PASS DONE TOTAL DEVICE' on file descriptor FD (as e2fsck); 0: "
                 "a progress bar")
      ->type_name("FD");
  app.add_flag("-T", o.no_title, "accepted for fsck(8) compatibility (no title is printed)");
  app.add_flag("--json", o.json, "print the summary as one JSON object (see pmemfs-fsck(8))");
  app.set_version_flag("-V,--version", tools::VersionString("pmemfs-fsck"),
                       "print the version and exit");
  app.add_option("--descriptors", o.descriptors,
                 "check page descriptors: auto (when the superblock says the table is current), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  app.add_flag("--page-granularity", o.page_granularity,
               "flush emulated pmem files with msync instead of cache-line flushes");
  if (std::optional<int> done = tools::ParseCommandLine(app, argc, argv, kUsage)) return *done;
  return Run(o);
}
