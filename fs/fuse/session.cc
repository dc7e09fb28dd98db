#include "fs/fuse/session.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <cstring>

#include "fs/fuse/control.h"
#include "fs/fuse/logging.h"

namespace pmemfs::fuse {
namespace {

// libfuse splits -o values at commas; a backslash escapes the next character.
std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ',' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// The kernel gives a FUSE mount at most 128 KiB of readahead whatever INIT asks (it takes the
// smaller of its default and our max_readahead), so sequential buffered reads reach us as
// 128 KiB requests: eight round trips per MiB. The mount's backing device info takes more
// (/sys/class/bdi/MAJ:MIN/read_ahead_kb, root only); set it to `kib` once INIT is done (the
// first request after it runs this: OpsContext::after_init), so that INIT cannot undo it. No
// thread, and the mount point is never opened: a process holding it open would make an
// unmount right after the mount fail with EBUSY.
void RaiseReadahead(const std::string& dev, unsigned kib) {
  const std::string path = "/sys/class/bdi/" + dev + "/read_ahead_kb";
  FILE* f = fopen(path.c_str(), "we");
  if (!f || fprintf(f, "%u\n", kib) < 0 || fclose(f) != 0) {
    spdlog::debug("{}: cannot set readahead ({}); sequential reads stay in 128 KiB requests",
                  path, strerror(errno));
    return;
  }
  spdlog::debug("{}: readahead {} KiB", path, kib);
}

}  // namespace

std::vector<std::string> SessionArgs(const SessionOptions& opts) {
  std::vector<std::string> args = {"pmemfs", "-o", "default_permissions",
                                   "-o", "fsname=" + Escape(opts.fsname)};
  if (!opts.subtype.empty()) {  // else the type is plain "fuse"
    args.push_back("-o");
    args.push_back("subtype=" + Escape(opts.subtype));
  }
  for (const std::string& o : opts.kernel_options) {
    args.push_back("-o");
    args.push_back(Escape(o));
  }
  if (opts.debug) args.push_back("-d");
  return args;
}

Result<std::unique_ptr<Session>> Session::Mount(OpsContext* ctx, const SessionOptions& opts) {
  std::unique_ptr<Session> s(new Session());
  s->opts_ = opts;
  s->ops_ = MakeOps();

  std::vector<std::string> args = SessionArgs(opts);
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());

  LibfuseErrors errors;  // libfuse's reasons go into our one-line errors
  auto why = [&errors](const char* what) {
    std::string text = errors.Text();
    return std::string(what) + (text.empty() ? "" : ": " + text);
  };
  s->se_ = fuse_session_new(&fargs, &s->ops_, sizeof s->ops_, ctx);
  fuse_opt_free_args(&fargs);
  if (!s->se_) return Status::InvalidArgument(why("cannot create the FUSE session"));
  if (fuse_set_signal_handlers(s->se_) != 0)
    return Status::IoError(why("cannot install the signal handlers"));
  s->handlers_ = true;
  // The mount table shows the path with symlinks resolved; resolve it before mounting (after,
  // the walk would reach our own root and wait for INIT).
  char canonical[PATH_MAX];
  const std::string resolved =
      realpath(opts.mountpoint.c_str(), canonical) != nullptr ? canonical : opts.mountpoint;
  if (fuse_session_mount(s->se_, opts.mountpoint.c_str()) != 0)
    return Status::IoError(opts.mountpoint + ": " + why("mount failed"));
  s->mounted_ = true;
  // (From /proc/self/mountinfo: a stat of the mount point would send us a request, which
  // would wait for INIT, which the session loop has not answered yet.)
  if (const std::string dev = MountedDevice(resolved); !dev.empty())
    ctx->after_init = [dev] { RaiseReadahead(dev, kReadaheadKib); };
  return s;
}

Session::~Session() {
  if (!se_) return;
  if (handlers_) fuse_remove_signal_handlers(se_);
  if (mounted_) fuse_session_unmount(se_);
  fuse_session_destroy(se_);  // runs the destroy op if the kernel never sent DESTROY
}

Result<int> Session::Loop() {
  int r;
  if (opts_.single_thread) {
    r = fuse_session_loop(se_);
  } else {
    unsigned threads = opts_.max_threads;
    if (threads == 0) threads = std::max(10u, 2 * std::thread::hardware_concurrency());
    fuse_loop_config* cfg = fuse_loop_cfg_create();
    if (!cfg) return Status::IoError("cannot create the FUSE loop configuration");
    fuse_loop_cfg_set_clone_fd(cfg, 1);
    fuse_loop_cfg_set_max_threads(cfg, threads);
    // Idle workers stay (the default, -1, is what libfuse recommends: creating a thread per
    // request costs more than the request).
    r = fuse_session_loop_mt(se_, cfg);
    fuse_loop_cfg_destroy(cfg);
  }
  if (r < 0) return Status::IoError(std::string("FUSE session: ") + strerror(-r));
  return r;
}

}  // namespace pmemfs::fuse
