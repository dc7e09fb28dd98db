// The op table: every operation pmemfs implements, in one place. Operations left out are the
// kernel's business (POSIX and flock locks are kept locally by the kernel; no poll, bmap).
#include "fs/fuse/ops.h"

#include "fs/fuse/handlers.h"

namespace pmemfs::fuse {
namespace {

// Every request passes the filesystem's quiesce gate (core/quiesce.h) for the whole handler,
// reply included (a read's reply points into the mode's mapping): while pmemfs-tune switches
// the mode, requests wait here, before any lock.
template <auto F>
struct Gated;
template <typename... A, void (*F)(fuse_req_t, A...)>
struct Gated<F> {
  static void Call(fuse_req_t req, A... a) {
    auto* ctx = static_cast<OpsContext*>(fuse_req_userdata(req));
    if (!ctx->after_init_done.load(std::memory_order_acquire) &&
        !ctx->after_init_done.exchange(true) && ctx->after_init)
      ctx->after_init();
    core::QuiesceGate::Pass pass(ctx->fs != nullptr ? ctx->fs->gate() : nullptr);
    F(req, a...);
  }
};

}  // namespace

fuse_lowlevel_ops MakeOps() {
  namespace h = handlers;
  fuse_lowlevel_ops ops{};
  ops.init = h::Init;
  ops.destroy = h::Destroy;
  // names and attributes
  ops.lookup = Gated<h::Lookup>::Call;
  ops.forget = Gated<h::Forget>::Call;
  ops.forget_multi = Gated<h::ForgetMulti>::Call;
  ops.getattr = Gated<h::GetAttr>::Call;
  ops.setattr = Gated<h::SetAttr>::Call;
  ops.readlink = Gated<h::ReadLink>::Call;
  ops.mknod = Gated<h::MkNod>::Call;
  ops.mkdir = Gated<h::MkDir>::Call;
  ops.unlink = Gated<h::Unlink>::Call;
  ops.rmdir = Gated<h::RmDir>::Call;
  ops.symlink = Gated<h::Symlink>::Call;
  ops.rename = Gated<h::Rename>::Call;
  ops.link = Gated<h::Link>::Call;
  // files
  ops.open = Gated<h::Open>::Call;
  ops.create = Gated<h::Create>::Call;
  ops.read = Gated<h::Read>::Call;
  ops.write_buf = Gated<h::WriteBuf>::Call;
  ops.flush = Gated<h::Flush>::Call;
  ops.release = Gated<h::Release>::Call;
  ops.fsync = Gated<h::Fsync>::Call;
  ops.fallocate = Gated<h::Fallocate>::Call;
  ops.lseek = Gated<h::Lseek>::Call;
  ops.copy_file_range = Gated<h::CopyFileRange>::Call;
  // directories
  ops.opendir = Gated<h::OpenDir>::Call;
  ops.readdir = Gated<h::ReadDir>::Call;
  ops.readdirplus = Gated<h::ReadDirPlus>::Call;
  ops.releasedir = Gated<h::ReleaseDir>::Call;
  ops.fsyncdir = Gated<h::FsyncDir>::Call;
  // extended attributes
  ops.setxattr = Gated<h::SetXattr>::Call;
  ops.getxattr = Gated<h::GetXattr>::Call;
  ops.listxattr = Gated<h::ListXattr>::Call;
  ops.removexattr = Gated<h::RemoveXattr>::Call;
  // the filesystem
  ops.statfs = Gated<h::StatFs>::Call;
  ops.access = Gated<h::Access>::Call;
  ops.ioctl = Gated<h::Ioctl>::Call;
  return ops;
}

}  // namespace pmemfs::fuse
