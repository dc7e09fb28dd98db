// chattr attributes (FS_IOC_GETFLAGS/SETFLAGS through fs/fuse) and the filesystem label.
//
// The attributes live in InodeRecord::flags (layout::kInodeAttrFlags) and change in one Tx
// like every other attribute. What immutable and append-only forbid is checked where each
// operation starts (namespace*.cc, data_path.cc, fs.cc SetAttr, xattr.cc), under the inode's
// lock, the way the VFS and ext4 check S_IMMUTABLE/S_APPEND: for every caller, root included.
#include <sys/stat.h>

#include "fs/core/fs.h"

namespace pmemfs::core {

using layout::InodeRecord;

namespace {
// Floor division: a time before 1970 has a negative tv_sec and a tv_nsec in [0, 1e9), as
// timespec requires (-1 ns is {-1, 999999999}, not {0, -1}).
timespec ToTimespec(int64_t ns) {
  int64_t sec = ns / 1000000000;
  int64_t rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    --sec;
  }
  return timespec{static_cast<time_t>(sec), static_cast<long>(rem)};
}
}  // namespace

Attr ToAttr(const Inode& ip) {
  const InodeRecord& r = ip.rec;
  Attr a;
  a.ino = ip.ino;
  // The kernel wants the root's generation 0 (it creates the root inode so, before any lookup).
  a.generation = ip.ino == kRootIno ? 0 : r.generation;
  a.mode = r.mode;
  a.nlink = r.nlink;
  a.uid = r.uid;
  a.gid = r.gid;
  a.rdev = r.rdev;
  a.size = r.size;
  a.blocks = r.blocks * (layout::kBlockSize / 512);
  a.atime = ToTimespec(r.atime_ns);
  a.mtime = ToTimespec(r.mtime_ns);
  a.ctime = ToTimespec(r.ctime_ns);
  a.btime = ToTimespec(r.btime_ns);
  // Direct access: what clients wrote is seen at once (leases.cc commits it later).
  if (const direct::Slot* s = ip.lease_slot.load(std::memory_order_acquire)) {
    a.leased = true;
    a.size = std::max(a.size, std::min(s->size.load(std::memory_order_acquire),
                                       ip.lease_size_cap.load(std::memory_order_relaxed)));
    const int64_t now = Context::NowNs();
    const int64_t m = std::min(s->mtime_ns.load(std::memory_order_relaxed), now);
    if (DirectWriteMoves(m, r.mtime_ns, now)) a.mtime = ToTimespec(m);
    if (DirectWriteMoves(m, r.ctime_ns, now)) a.ctime = ToTimespec(m);
  }
  return a;
}

Status CheckChangeable(const Inode& ip, std::string_view what) {
  if (ip.immutable())
    return Status::Permission(std::string(what) + ": inode " + std::to_string(ip.ino) +
                              " is immutable");
  if (ip.append_only())
    return Status::Permission(std::string(what) + ": inode " + std::to_string(ip.ino) +
                              " is append-only");
  return Status::Ok();
}

Status ImmutableError(const Inode& ip, std::string_view what) {
  return Status::Permission(std::string(what) + ": inode " + std::to_string(ip.ino) +
                            " is immutable");
}

Result<uint32_t> Filesystem::GetFileFlags(uint64_t ino) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
  std::shared_lock lock(ip->mu);
  return ip->rec.flags & layout::kInodeAttrFlags;
}

Status Filesystem::SetFileFlags(const Caller& c, uint64_t ino, uint32_t flags) {
  if (flags & ~layout::kInodeAttrFlags)
    return Status::Unsupported("attribute flags other than sync, immutable, append-only, nodump "
                               "and noatime are not supported");
  if (read_only()) return Status::ReadOnly("the filesystem is mounted read-only");
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
  std::unique_lock lock(ip->mu);
  InodeRecord rec = ip->rec;
  if (c.uid != 0 && c.uid != rec.uid)
    return Status::Permission("only the owner or root may change the attributes of inode " +
                              std::to_string(ino));
  const uint32_t old = rec.flags & layout::kInodeAttrFlags;
  if (((old ^ flags) & (layout::kInodeImmutable | layout::kInodeAppend)) && c.uid != 0)
    return Status::Permission("only root may set or clear immutable and append-only");
  if (old == flags) return Status::Ok();
  rec.flags = (rec.flags & ~layout::kInodeAttrFlags) | flags;
  rec.ctime_ns = NowNs();
  store::Tx tx = store_->Begin();
  PutInode(tx, *ip, rec);
  PMEMFS_RETURN_IF_ERROR(Commit(tx, {ip.get()}));
  ip->rec = rec;
  return Status::Ok();
}

std::string Filesystem::Label() const { return store_->label(); }

Status Filesystem::SetLabel(const Caller& c, std::string_view label) {
  if (c.uid != 0) return Status::Permission("only root may change the filesystem label");
  if (read_only()) return Status::ReadOnly("the filesystem is mounted read-only");
  return store_->SetLabel(label);
}

}  // namespace pmemfs::core
