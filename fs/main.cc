// pmemfs: the daemon. Mounts a pmemfs device and serves it through FUSE.
//
//   pmemfs DEVICE[,PART...] MOUNTPOINT [-f] [-d] [-s] [-o opt,...]
//
// The form mount.fuse3 uses, so `mount -t fuse.pmemfs DEVICE MOUNTPOINT` and fstab lines work
// (etc/fstab.example). Order of work: arguments and config file (errors: one line, exit 1) ->
// background (unless -f) -> open and lock the device (fs/mount) -> settings resolved (fs/config) -> core
// mounts (recovery) -> FUSE mount -> the parent exits 0 -> serve until unmount or SIGTERM ->
// write back and mark clean. A remount (-o remount) and a second mount of a served device
// start no second daemon: they reach the running one through its control socket
// (remount_client.h).
#include <fuse_lowlevel.h>
#include <limits.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "fs/config/config.h"
#include "fs/config/mount_args.h"
#include "fs/core/fs.h"
#include "fs/fuse/control.h"
#include "fs/fuse/daemon_control.h"
#include "fs/fuse/daemonize.h"
#include "fs/fuse/direct_server.h"
#include "fs/fuse/invalidator.h"
#include "fs/fuse/logging.h"
#include "fs/fuse/ops.h"
#include "fs/fuse/remount.h"
#include "fs/fuse/remount_client.h"
#include "fs/fuse/session.h"
#include "fs/mount/device_probe.h"

namespace {

using namespace pmemfs;

int Fail(const std::string& message) {
  fprintf(stderr, "pmemfs: %s\n", message.c_str());
  return 1;
}

// The mount point made absolute (libfuse unmounts by this path after we chdir to "/").
Result<std::string> AbsoluteMountpoint(const std::string& path) {
  char buf[PATH_MAX];
  if (!realpath(path.c_str(), buf)) return Status::InvalidArgument(path + ": " + strerror(errno));
  struct stat st;
  if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
    return Status::InvalidArgument(path + ": not a directory");
  return std::string(buf);
}

// -o config=FILE, else /etc/pmemfs.conf when it exists, else none (built-in defaults).
Result<std::optional<config::ConfigFile>> LoadConfig(const config::MountArgs& args) {
  std::string path;
  if (args.config_path) {
    path = *args.config_path;
  } else if (access(config::kDefaultConfigPath, F_OK) == 0) {
    path = config::kDefaultConfigPath;
  }
  if (path.empty()) return std::optional<config::ConfigFile>();
  PMEMFS_ASSIGN_OR_RETURN(config::ConfigFile cfg, config::LoadConfigFile(path));
  return std::optional<config::ConfigFile>(std::move(cfg));
}

int Remount(const config::MountArgs& args, const std::string& mountpoint) {
  std::string note;
  Status s = fuse::RemountLive(args, mountpoint, &note);
  if (!s.ok()) return Fail(s.message());
  if (!note.empty()) fprintf(stderr, "pmemfs: %s\n", note.c_str());
  return 0;
}

// Everything after the fork: open, mount, serve, unmount. Returns the exit status.
int Serve(const config::MountArgs& args, const std::string& mountpoint,
          const config::ConfigFile* cfg, fuse::Daemonizer* daemon) {
  Result<mount::ProbedDevice> probe =
      mount::OpenAndProbe(args.device, args.page_granularity, args.read_only);
  if (!probe.ok()) return Fail(probe.status().message());
  if (!probe->note.empty()) spdlog::info("{}: {}", args.device, probe->note);
  if (probe->device->read_only())
    spdlog::info("{}: opened read-only (it cannot be written); remount,rw needs an unmount",
                 args.device);
  Result<config::ResolvedOptions> opts = config::Resolve(cfg, probe->identity, args.settings);
  if (!opts.ok()) return Fail(opts.status().message());
  config::LogLevel level = opts->log_level;
  if (args.debug && !args.settings.log_level) level = config::LogLevel::kDebug;
  if (args.foreground) fuse::SetLogLevel(level);
  core::MountOptions& m = opts->mount;
  m.kernel_write_times = args.writeback_cache && m.mode == mapping::Mode::kCopy;
  m.read_only = args.read_only;
  spdlog::info("{} ({}, label '{}') at {}: mode {} (from {}), ram_dir '{}', atime {}",
               args.device, probe->identity.uuid, probe->identity.label, mountpoint,
               mapping::ModeName(m.mode), opts->mode_source, m.ram_dir, config::AtimeName(m.atime));
  if (m.mode == mapping::Mode::kCopy)
    spdlog::info("copy mode: cache {} MiB, write-back every {} ms", m.cache_size >> 20,
                 m.writeback_ms);
  for (size_t i = 0; i < probe->device->part_count(); i++) {
    const mapping::PartHeaderState& h = probe->device->header_state(i);
    const std::string& part = probe->device->part(i).name();
    if (!h.primary_ok)
      spdlog::warn("{}: the part label is damaged; mounted from its backup at part offset {} "
                   "(pmemfs-fsck -y rewrites it)", part, h.backup_offset);
    else if (!h.backup_ok)
      spdlog::warn("{}: the backup part label at part offset {} is damaged (pmemfs-fsck -y "
                   "rewrites it)", part, h.backup_offset);
  }

  Result<std::unique_ptr<core::Filesystem>> fs =
      core::Filesystem::Mount(std::move(probe->device), m);
  if (!fs.ok()) return Fail(args.device + ": " + fs.status().message());
  const bool fell_back_ro = (*fs)->read_only() && !args.read_only;  // bad metadata (warnings)
  // The mount's warnings (a read-only fallback, a RAM directory not made) are in the log before
  // the kernel mount appears, so whoever sees the mount finds them. In the background the log
  // is syslog, which is set once mounted: they are logged there.
  auto log_warnings = [&] {
    for (const std::string& w : (*fs)->warnings()) spdlog::warn("{}", w);
  };
  if (args.foreground) log_warnings();

  fuse::OpsContext ctx;
  ctx.fs = fs->get();
  ctx.mode = m.mode;
  ctx.want_writeback_cache = m.kernel_write_times;
  fuse::SessionOptions sopts{
      .mountpoint = mountpoint,
      .fsname = args.fsname.value_or(args.device),
      .subtype = args.subtype.value_or("pmemfs"),
      .kernel_options = args.kernel_options,  // + "ro" below when the mount fell back to it
      .debug = args.debug,
      .single_thread = args.single_thread,
  };
  if (fell_back_ro) sopts.kernel_options.push_back("ro");
  Result<std::unique_ptr<fuse::Session>> session = fuse::Session::Mount(&ctx, sopts);
  if (!session.ok()) {
    Status s = (*fs)->Unmount();
    if (!s.ok()) spdlog::error("unmount: {}", s.message());
    return Fail(session.status().message());
  }
  if (!args.mount_flags.empty()) {  // what libfuse 3.14 could not pass (atime flags)
    Status s = fuse::SetMountFlags(mountpoint, args.flag_options, fuse::FlagBase::kLibfuse);
    if (!s.ok()) spdlog::warn("{} (the daemon keeps its atime policy all the same)", s.message());
  }
  fuse::AsyncInvalidator inval((*session)->session());
  (*fs)->SetInvalidator(&inval);
  ctx.invalidator = &inval;
  // Remounts and second mounts of the device reach us here (without it they are refused).
  std::unique_ptr<fuse::ControlServer> control;
  if (Result<std::string> key = fuse::DeviceKey(args.device); key.ok()) {
    fuse::DaemonDescription d{
        .device = args.device,
        .mountpoint = mountpoint,
        .subtype = sopts.subtype,
        .mode = mapping::ModeName(m.mode),
        .ram_dir = m.ram_dir,
        .cache_size = m.cache_size,
        .writeback_ms = m.writeback_ms,
        .descriptors = config::DescriptorsName(m.descriptors),
        .writeback_cache = args.writeback_cache,
        .page_granularity = args.page_granularity,
    };
    Result<std::unique_ptr<fuse::ControlServer>> srv =
        fuse::ControlServer::Start(*key, fuse::DaemonControlHandler(fs->get(), std::move(d)));
    if (srv.ok()) control = std::move(srv).value();
    else spdlog::warn("{}: remount and second mounts will be refused", srv.status().message());
  }

  // Direct access (pmemfs-direct, libpmemfs-client): processes the policy allows read and write
  // file data in the device themselves under leases (direct and pages mode; a copy mode mount
  // serves it too, granting no lease until pmemfs-tune switches it to one of those).
  std::unique_ptr<fuse::DirectServer> direct;
  if (args.direct_access.kind != config::DirectAccess::kOff) {
    Result<std::unique_ptr<fuse::DirectServer>> srv = fuse::DirectServer::Start(
        fs->get(), {.mount_dev = fuse::MountedDevice(mountpoint),
                    .policy = args.direct_access,
                    .owner = geteuid(),
                    .invalidator = &inval,
                    .kernel_caches_writes = ctx.want_writeback_cache});
    if (srv.ok()) {
      direct = std::move(srv).value();
      spdlog::info("direct access for {} at @{}", config::DirectAccessName(args.direct_access),
                   direct->name());
    } else {
      spdlog::warn("{}: no direct access on this mount", srv.status().message());
    }
  }

  daemon->Ready();
  if (!args.foreground) fuse::LogToSyslog(level);
  spdlog::info("mounted {} at {}", args.device, mountpoint);
  if (!args.foreground) log_warnings();

  Result<int> loop = (*session)->Loop();
  if (!loop.ok()) spdlog::error("{}", loop.status().message());
  else if (*loop > 0) spdlog::info("signal {}: unmounting", *loop);

  control.reset();
  direct.reset();  // every lease called back, every client let go
  (*fs)->SetInvalidator(nullptr);
  ctx.invalidator = nullptr;  // the loop has ended: no handler runs
  inval.Stop();
  session->reset();  // unmounts if still mounted; destroy runs Filesystem::Unmount
  Status s = fuse::UnmountOnce(ctx);
  return s.ok() && loop.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Result<config::MountArgs> args = config::ParseMountArgs(argc, argv);
  if (!args.ok()) return Fail(args.status().message() + " (see pmemfs --help)");
  if (args->help) {
    fputs(config::MountUsage("pmemfs").c_str(), stdout);
    return 0;
  }
  if (args->version) {
    printf("pmemfs %s (libfuse %d.%d)\n", PMEMFS_VERSION, FUSE_MAJOR_VERSION, FUSE_MINOR_VERSION);
    return 0;
  }

  Result<std::string> mountpoint = AbsoluteMountpoint(args->mountpoint);
  if (!mountpoint.ok()) return Fail(mountpoint.status().message());
  if (args->remount) return Remount(*args, *mountpoint);
  // The device is served already: this mount shares it (a bind mount), as a block device
  // mounted twice shares its superblock.
  Result<bool> again = fuse::MountAgain(*args, *mountpoint);
  if (!again.ok()) return Fail(again.status().message());
  if (*again) return 0;

  Result<std::optional<config::ConfigFile>> cfg = LoadConfig(*args);
  if (!cfg.ok()) return Fail(cfg.status().message());
  // In the background, stderr carries nothing but the one line of a failed mount (mount(8)
  // shows it); the log goes to syslog once mounted.
  fuse::LogToStderr(args->foreground
                        ? args->settings.log_level.value_or(config::LogLevel::kInfo)
                        : config::LogLevel::kOff);

  fuse::Daemonizer daemon;
  if (!args->foreground) {
    Status s = daemon.Background();
    if (!s.ok()) return Fail(s.message());
  }
  return Serve(*args, *mountpoint, cfg->has_value() ? &cfg->value() : nullptr, &daemon);
}
