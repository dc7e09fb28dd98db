// ioctl: the few a local Linux filesystem answers, all fixed-size (restricted) ones.
//
//   FS_IOC_GETFLAGS / SETFLAGS      chattr/lsattr attributes (an unsigned int of FS_*_FL)
//   FS_IOC_FSGETXATTR / FSSETXATTR  the same attributes as FS_XFLAG_* (xfs_io chattr)
//   FS_IOC_GETFSLABEL / SETFSLABEL  the superblock's label (char[FSLABEL_MAX])
//
// The kernel (>= 5.13) turns the four attribute ioctls into fileattr_get/set: it opens the
// inode itself (FUSE_OPEN O_RDONLY, or OPENDIR), sends FUSE_IOCTL with GETFLAGS/SETFLAGS
// (4 bytes) or FSGETXATTR/FSSETXATTR (struct fsxattr) and releases it, whatever the caller's
// descriptor was opened for; it has already checked ownership and CAP_LINUX_IMMUTABLE (core
// checks them again). The label ioctls come straight from the caller's descriptor. Anything
// else is ENOTTY, as for a filesystem without it.
#include <linux/fs.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "fs/fuse/handlers.h"
#include "fs/fuse/reply.h"
#include "pmemfs/layout.h"

namespace pmemfs::fuse::handlers {
namespace {

// One attribute in its three spellings.
struct FlagName {
  uint32_t inode;  // layout::InodeFlags
  uint32_t fs;     // FS_*_FL
  uint32_t xflag;  // FS_XFLAG_*
};
constexpr FlagName kFlags[] = {
    {layout::kInodeSync, FS_SYNC_FL, FS_XFLAG_SYNC},
    {layout::kInodeImmutable, FS_IMMUTABLE_FL, FS_XFLAG_IMMUTABLE},
    {layout::kInodeAppend, FS_APPEND_FL, FS_XFLAG_APPEND},
    {layout::kInodeNodump, FS_NODUMP_FL, FS_XFLAG_NODUMP},
    {layout::kInodeNoatime, FS_NOATIME_FL, FS_XFLAG_NOATIME},
};

// `bits` in the spelling `from` -> the spelling `to`; false when `bits` has one it lacks.
bool Translate(uint32_t bits, uint32_t FlagName::*from, uint32_t FlagName::*to, uint32_t* out) {
  *out = 0;
  for (const FlagName& f : kFlags) {
    if (bits & f.*from) {
      *out |= f.*to;
      bits &= ~(f.*from);
    }
  }
  return bits == 0;
}

void GetFlags(fuse_req_t req, fuse_ino_t ino, size_t out_size, bool xattr) {
  Result<uint32_t> flags = Ctx(req).fs->GetFileFlags(ino);
  if (!flags.ok()) return ReplyStatus(req, flags.status(), "ioctl getflags");
  uint32_t v;
  Translate(*flags, &FlagName::inode, xattr ? &FlagName::xflag : &FlagName::fs, &v);
  if (xattr) {
    fsxattr fa{};
    fa.fsx_xflags = v;
    if (out_size < sizeof fa) return (void)fuse_reply_err(req, EINVAL);
    fuse_reply_ioctl(req, 0, &fa, sizeof fa);
  } else {
    if (out_size < sizeof v) return (void)fuse_reply_err(req, EINVAL);
    fuse_reply_ioctl(req, 0, &v, sizeof v);
  }
}

void SetFlags(fuse_req_t req, fuse_ino_t ino, const void* in, size_t in_size, bool xattr) {
  uint32_t given, flags;
  if (xattr) {
    fsxattr fa;
    if (in_size < sizeof fa) return (void)fuse_reply_err(req, EINVAL);
    std::memcpy(&fa, in, sizeof fa);
    if (fa.fsx_projid != 0 || fa.fsx_extsize != 0 || fa.fsx_cowextsize != 0)
      return (void)fuse_reply_err(req, EOPNOTSUPP);  // no project ids or extent size hints
    given = fa.fsx_xflags;
  } else {
    if (in_size < sizeof given) return (void)fuse_reply_err(req, EINVAL);
    std::memcpy(&given, in, sizeof given);
  }
  if (!Translate(given, xattr ? &FlagName::xflag : &FlagName::fs, &FlagName::inode, &flags))
    return (void)fuse_reply_err(req, EOPNOTSUPP);  // as tmpfs for flags it does not keep
  Status st = Ctx(req).fs->SetFileFlags(CallerOf(req), ino, flags);
  if (!st.ok()) return ReplyStatus(req, st, "ioctl setflags");
  fuse_reply_ioctl(req, 0, nullptr, 0);
}

void GetLabel(fuse_req_t req, size_t out_size) {
  char label[FSLABEL_MAX] = {};
  const std::string l = Ctx(req).fs->Label();
  if (out_size < sizeof label) return (void)fuse_reply_err(req, EINVAL);
  std::memcpy(label, l.data(), std::min(l.size(), sizeof label - 1));
  fuse_reply_ioctl(req, 0, label, sizeof label);
}

void SetLabel(fuse_req_t req, const void* in, size_t in_size) {
  if (in_size < FSLABEL_MAX) return (void)fuse_reply_err(req, EINVAL);
  const char* p = static_cast<const char*>(in);
  const size_t len = strnlen(p, FSLABEL_MAX);
  if (len == FSLABEL_MAX) return (void)fuse_reply_err(req, EINVAL);  // not NUL-terminated
  Status st = Ctx(req).fs->SetLabel(CallerOf(req), std::string_view(p, len));
  if (!st.ok()) return ReplyStatus(req, st, "ioctl setfslabel");
  fuse_reply_ioctl(req, 0, nullptr, 0);
}

}  // namespace

void Ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void* /*arg*/,
           fuse_file_info* /*fi*/, unsigned /*flags*/, const void* in_buf, size_t in_bufsz,
           size_t out_bufsz) {
  switch (cmd) {
    case FS_IOC_GETFLAGS: return GetFlags(req, ino, out_bufsz, /*xattr=*/false);
    case FS_IOC_SETFLAGS: return SetFlags(req, ino, in_buf, in_bufsz, /*xattr=*/false);
    case FS_IOC_FSGETXATTR: return GetFlags(req, ino, out_bufsz, /*xattr=*/true);
    case FS_IOC_FSSETXATTR: return SetFlags(req, ino, in_buf, in_bufsz, /*xattr=*/true);
    case FS_IOC_GETFSLABEL: return GetLabel(req, out_bufsz);
    case FS_IOC_SETFSLABEL: return SetLabel(req, in_buf, in_bufsz);
    default: fuse_reply_err(req, ENOTTY);
  }
}

}  // namespace pmemfs::fuse::handlers
