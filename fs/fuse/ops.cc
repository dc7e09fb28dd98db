// The op table: every operation pmemfs implements, in one place. Operations left out are the
// kernel's business (POSIX and flock locks are kept locally by the kernel; no poll, bmap).
#include "fs/fuse/ops.h"

#include "fs/fuse/handlers.h"

namespace pmemfs::fuse {

fuse_lowlevel_ops MakeOps() {
  namespace h = handlers;
  fuse_lowlevel_ops ops{};
  ops.init = h::Init;
  ops.destroy = h::Destroy;
  // names and attributes
  ops.lookup = h::Lookup;
  ops.forget = h::Forget;
  ops.forget_multi = h::ForgetMulti;
  ops.getattr = h::GetAttr;
  ops.setattr = h::SetAttr;
  ops.readlink = h::ReadLink;
  ops.mknod = h::MkNod;
  ops.mkdir = h::MkDir;
  ops.unlink = h::Unlink;
  ops.rmdir = h::RmDir;
  ops.symlink = h::Symlink;
  ops.rename = h::Rename;
  ops.link = h::Link;
  // files
  ops.open = h::Open;
  ops.create = h::Create;
  ops.read = h::Read;
  ops.write_buf = h::WriteBuf;
  ops.flush = h::Flush;
  ops.release = h::Release;
  ops.fsync = h::Fsync;
  ops.fallocate = h::Fallocate;
  ops.lseek = h::Lseek;
  ops.copy_file_range = h::CopyFileRange;
  // directories
  ops.opendir = h::OpenDir;
  ops.readdir = h::ReadDir;
  ops.readdirplus = h::ReadDirPlus;
  ops.releasedir = h::ReleaseDir;
  ops.fsyncdir = h::FsyncDir;
  // extended attributes
  ops.setxattr = h::SetXattr;
  ops.getxattr = h::GetXattr;
  ops.listxattr = h::ListXattr;
  ops.removexattr = h::RemoveXattr;
  // the filesystem
  ops.statfs = h::StatFs;
  ops.access = h::Access;
  ops.ioctl = h::Ioctl;
  return ops;
}

}  // namespace pmemfs::fuse
