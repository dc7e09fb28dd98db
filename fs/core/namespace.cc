// Namespace (namespace.h): lookup, create (all file types), link, unlink, rmdir, symlinks,
// readdir and the RAM directory. Rename's steps are in namespace_rename.cc.
#include "fs/core/namespace.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <span>
#include <vector>

#include "fs/core/attributes.h"

namespace pmemfs::core {

using layout::InodeRecord;

Status Namespace::CheckName(std::string_view name) {
  if (name.empty() || name == "." || name == "..")
    return Status::InvalidArgument("invalid name '" + std::string(name) + "'");
  if (name.size() > layout::kMaxNameLen)
    return Status::NameTooLong("name of " + std::to_string(name.size()) + " bytes (at most 255)");
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos)
    return Status::InvalidArgument("name contains '/' or NUL");
  return Status::Ok();
}

Attr Namespace::Ref(const InodePtr& ip) {
  ctx_.cache->AddLookup(*ip);
  Attr a = ToAttr(*ip);
  if (ip->ino == kRootIno && ctx_.HasRamDir()) a.nlink++;  // the RAM directory's ".."
  return a;
}

InodeRecord Namespace::NewRecord(const Caller& c, const Inode& dir, uint32_t mode) {
  InodeRecord rec{};
  rec.mode = mode;
  rec.uid = c.uid;
  rec.gid = c.gid;
  if (dir.rec.mode & S_ISGID) {  // setgid directory: group inherited, subdirectories stay setgid
    rec.gid = dir.rec.gid;
    if (S_ISDIR(mode)) rec.mode |= S_ISGID;
  }
  // Inherited attributes, as ext4 does for these: sync, nodump, noatime (never immutable or
  // append-only); files and directories only.
  if (S_ISREG(mode) || S_ISDIR(mode))
    rec.flags = dir.rec.flags & (layout::kInodeSync | layout::kInodeNodump | layout::kInodeNoatime);
  rec.nlink = S_ISDIR(mode) ? 2 : 1;
  rec.parent = S_ISDIR(mode) ? dir.ino : 0;
  rec.atime_ns = rec.mtime_ns = rec.ctime_ns = rec.btime_ns = Context::NowNs();
  return rec;
}

Result<Attr> Namespace::Lookup(uint64_t parent, std::string_view name) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr dir, ctx_.cache->Get(parent));
  // "." names the inode itself, of any type: the kernel looks it up to find an inode by number
  // once its cache has dropped it (open_by_handle_at, an NFS export). An inode without links
  // is gone for that purpose (its handle is stale), even before the kernel forgets it.
  if (name == ".") {
    {
      std::shared_lock lock(dir->mu);
      if (dir->rec.nlink == 0) return Status::NotFound("inode was removed");
    }
    return Ref(dir);
  }
  if (!dir->is_dir()) return Status::NotDirectory("not a directory");
  if (name.size() > layout::kMaxNameLen) return Status::NameTooLong("name too long");
  if (name == "..") {
    PMEMFS_ASSIGN_OR_RETURN(InodePtr up, ctx_.cache->Get(dir->rec.parent));
    return Ref(up);
  }
  if (IsRamDirName(parent, name)) return Ref(ctx_.ram_dir);
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadDir(*dir));
  // The directory lock is held until the child has its reference, so it cannot be unlinked
  // and freed in between.
  std::shared_lock lock(dir->mu);
  if (!dir->dir) return Status::IoError("directory index unavailable");
  const Directory::Entry* e = dir->dir->Find(name);
  if (e == nullptr) return Status::NotFound(std::string(name) + ": no such file or directory");
  PMEMFS_ASSIGN_OR_RETURN(InodePtr child, ctx_.cache->Get(e->ino));
  return Ref(child);
}

Result<Attr> Namespace::CreateNode(const Caller& c, uint64_t parent, std::string_view name,
                                    uint32_t mode, uint64_t rdev, std::string_view target,
                                    InodePtr* created) {
  PMEMFS_RETURN_IF_ERROR(CheckName(name));
  PMEMFS_ASSIGN_OR_RETURN(InodePtr dir, ctx_.cache->Get(parent));
  if (!dir->is_dir()) return Status::NotDirectory("not a directory");
  if (IsRamDirName(parent, name))
    return Status::AlreadyExists(std::string(name) + ": exists (the RAM directory)");
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadDir(*dir));
  std::unique_lock dlock(dir->mu);
  if (dir->rec.nlink == 0) return Status::NotFound("directory was removed");
  if (!dir->dir) return Status::IoError("directory index unavailable");
  if (dir->dir->Find(name)) return Status::AlreadyExists(std::string(name) + ": exists");
  PMEMFS_RETURN_IF_ERROR(CheckNotImmutable(*dir, "create"));
  if (S_ISDIR(mode) && dir->rec.nlink >= 65000)
    return Status::TooManyLinks("too many subdirectories");

  store::Tx tx = ctx_.store->Begin();
  IndexGuard indexes(ctx_, {dir.get()});
  PMEMFS_ASSIGN_OR_RETURN(InodePtr child,
                          ctx_.cache->NewInode(tx, *dir, NewRecord(c, *dir, mode)));
  InodeRecord crec = child->rec;
  crec.rdev = rdev;
  PMEMFS_RETURN_IF_ERROR(xattrs_.InheritAcl(tx, c, *dir, *child, crec));
  if (S_ISLNK(mode)) {
    crec.mode = S_IFLNK | 0777;  // symlink permissions are not used
    crec.size = target.size();
    if (target.size() < layout::kInlineDataMax)
      std::memcpy(crec.inline_data, target.data(), target.size());
    else
      PMEMFS_RETURN_IF_ERROR(WriteLongTarget(tx, *child, crec, target));
  }
  ctx_.PutInode(tx, *child, crec);

  InodeRecord drec = dir->rec;
  PMEMFS_RETURN_IF_ERROR(
      dir->dir->Add(ctx_.Ctx(tx, *dir, drec), name, child->ino, DirentType(crec.mode)));
  if (S_ISDIR(crec.mode)) drec.nlink++;
  drec.mtime_ns = drec.ctime_ns = crec.ctime_ns;
  ctx_.PutInode(tx, *dir, drec);
  PMEMFS_RETURN_IF_ERROR(indexes.Commit(tx));
  dir->rec = drec;
  child->rec = crec;
  ctx_.cache->Insert(child);
  if (created) *created = child;
  return Ref(child);
}

Status Namespace::WriteLongTarget(store::Tx& tx, Inode& child, InodeRecord& crec,
                                  std::string_view target) {
  // Long targets live in data blocks, written through the file's strategy and synced before
  // the commit that links them (copy mode: out of the cache; RAM: plain stores).
  mapping::Access& acc = ctx_.AccessFor(child);
  const uint64_t n = (target.size() + layout::kBlockSize - 1) / layout::kBlockSize;
  uint64_t dev_block;
  if (child.is_volatile()) {
    PMEMFS_ASSIGN_OR_RETURN(uint64_t off, ctx_.ram->Allocate(n));
    dev_block = off / layout::kBlockSize;
  } else {
    PMEMFS_ASSIGN_OR_RETURN(store::BlockRange r, ctx_.store->AllocBlocks(tx, n, 0));
    if (r.count < n) return Status::NoSpace("no contiguous room for the symlink target");
    dev_block = r.start;
  }
  std::vector<std::byte> buf(n * layout::kBlockSize);
  std::memcpy(buf.data(), target.data(), target.size());
  PMEMFS_RETURN_IF_ERROR(acc.Write(dev_block * layout::kBlockSize, buf));
  PMEMFS_RETURN_IF_ERROR(acc.Sync(dev_block * layout::kBlockSize, buf.size()));
  PMEMFS_RETURN_IF_ERROR(child.map->Insert(ctx_.Ctx(tx, child, crec), 0, dev_block, n));
  if (acc.descriptors() != nullptr)
    for (uint64_t i = 0; i < n; i++)
      tx.SetDescriptor(dev_block + i, {child.ino, i, 1, layout::kPageAllocated});
  crec.blocks += n;
  return Status::Ok();
}

Result<Attr> Namespace::MkNod(const Caller& c, uint64_t parent, std::string_view name,
                               uint32_t mode, uint64_t rdev) {
  switch (mode & S_IFMT) {
    case 0: mode |= S_IFREG; break;
    case S_IFREG: case S_IFIFO: case S_IFSOCK: case S_IFCHR: case S_IFBLK: break;
    default: return Status::InvalidArgument("mknod: unsupported file type");
  }
  const uint64_t dev = (S_ISCHR(mode) || S_ISBLK(mode)) ? rdev : 0;
  return CreateNode(c, parent, name, mode, dev, {}, nullptr);
}

Result<Attr> Namespace::MkDir(const Caller& c, uint64_t parent, std::string_view name,
                               uint32_t mode) {
  return CreateNode(c, parent, name, S_IFDIR | (mode & 07777), 0, {}, nullptr);
}

Result<Attr> Namespace::Symlink(const Caller& c, uint64_t parent, std::string_view name,
                                 std::string_view target) {
  if (target.empty()) return Status::NotFound("empty symlink target");
  if (target.size() >= layout::kBlockSize) return Status::NameTooLong("symlink target too long");
  return CreateNode(c, parent, name, S_IFLNK | 0777, 0, target, nullptr);
}

Result<std::string> Namespace::ReadLink(uint64_t ino) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(ino));
  if (!ip->is_symlink()) return Status::InvalidArgument("not a symbolic link");
  std::shared_lock lock(ip->mu);
  const InodeRecord& r = ip->rec;
  if (r.size < layout::kInlineDataMax)
    return std::string(reinterpret_cast<const char*>(r.inline_data), r.size);
  // Symlink() keeps targets shorter than a block: a larger size is a damaged record (do not
  // allocate it, nor read past the target block).
  if (r.size >= layout::kBlockSize)
    return Status::Corrupt("symlink " + std::to_string(ino) + ": size " + std::to_string(r.size) +
                           " is larger than a target can be");
  lock.unlock();
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadMap(*ip));
  lock.lock();
  std::string out(r.size, '\0');
  uint64_t dev_block = ip->map ? ip->map->Lookup(0) : 0;
  if (dev_block == 0)
    return Status::Corrupt("symlink " + std::to_string(ino) + " has no target block");
  PMEMFS_RETURN_IF_ERROR(ctx_.AccessFor(*ip).Read(
      dev_block * layout::kBlockSize, std::as_writable_bytes(std::span(out.data(), out.size()))));
  return out;
}

Result<Attr> Namespace::Create(const Caller& c, uint64_t parent, std::string_view name,
                               uint32_t mode, InodePtr* created) {
  return CreateNode(c, parent, name, S_IFREG | (mode & 07777), 0, {}, created);
}

Result<Attr> Namespace::Link(uint64_t ino, uint64_t new_parent, std::string_view new_name) {
  PMEMFS_RETURN_IF_ERROR(CheckName(new_name));
  PMEMFS_ASSIGN_OR_RETURN(InodePtr target, ctx_.cache->Get(ino));
  PMEMFS_ASSIGN_OR_RETURN(InodePtr dir, ctx_.cache->Get(new_parent));
  if (target->is_dir()) return Status::Permission("hard links to directories are not allowed");
  if (!dir->is_dir()) return Status::NotDirectory("not a directory");
  if (target->is_volatile() != dir->is_volatile())
    return Status::CrossDevice("cannot link between the RAM directory and persistent files");
  if (IsRamDirName(new_parent, new_name))
    return Status::AlreadyExists("exists");
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadDir(*dir));
  std::unique_lock dlock(dir->mu);
  std::unique_lock tlock(target->mu);
  if (dir->rec.nlink == 0) return Status::NotFound("directory was removed");
  if (target->rec.nlink == 0) return Status::NotFound("file was removed");
  if (target->rec.nlink >= 65000) return Status::TooManyLinks("too many links");
  PMEMFS_RETURN_IF_ERROR(CheckNotImmutable(*dir, "link"));
  PMEMFS_RETURN_IF_ERROR(CheckChangeable(*target, "link"));
  if (dir->dir->Find(new_name)) return Status::AlreadyExists(std::string(new_name) + ": exists");
  store::Tx tx = ctx_.store->Begin();
  IndexGuard indexes(ctx_, {dir.get()});
  InodeRecord trec = target->rec, drec = dir->rec;
  const int64_t now = Context::NowNs();
  trec.nlink++;
  trec.ctime_ns = now;
  PMEMFS_RETURN_IF_ERROR(
      dir->dir->Add(ctx_.Ctx(tx, *dir, drec), new_name, ino, DirentType(trec.mode)));
  drec.mtime_ns = drec.ctime_ns = now;
  ctx_.PutInode(tx, *target, trec);
  ctx_.PutInode(tx, *dir, drec);
  PMEMFS_RETURN_IF_ERROR(indexes.Commit(tx));
  target->rec = trec;
  dir->rec = drec;
  tlock.unlock();
  return Ref(target);
}

Status Namespace::Unlink(uint64_t parent, std::string_view name) {
  if (IsRamDirName(parent, name))
    return Status::IsDirectory("the RAM directory");
  return RemoveName(parent, name, /*dir=*/false);
}

Status Namespace::RmDir(uint64_t parent, std::string_view name) {
  if (name == ".") return Status::InvalidArgument("cannot remove '.'");
  if (name == "..") return Status::NotEmpty("cannot remove '..'");
  if (IsRamDirName(parent, name)) return RemoveRamDir();
  return RemoveName(parent, name, /*dir=*/true);
}

Status Namespace::RemoveRamDir() {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr root, ctx_.cache->Get(kRootIno));
  std::unique_lock rlock(root->mu);
  std::unique_lock lock(ctx_.ram_dir->mu);
  if (!ctx_.HasRamDir()) return Status::NotFound(ctx_.opts.ram_dir + ": no such file or directory");
  if (ctx_.ram_dir->dir->size() != 0) return Status::NotEmpty(ctx_.opts.ram_dir + ": not empty");
  // The root's times change as for any rmdir (its persistent nlink never counted the RAM
  // directory); the RAM directory itself is volatile, so its removal is not journaled.
  const int64_t now = Context::NowNs();
  store::Tx tx = ctx_.store->Begin();
  InodeRecord rrec = root->rec;
  rrec.mtime_ns = rrec.ctime_ns = now;
  ctx_.PutInode(tx, *root, rrec);
  PMEMFS_RETURN_IF_ERROR(ctx_.Commit(tx, {root.get()}));
  root->rec = rrec;
  ctx_.ram_dir->rec.nlink = 0;
  ctx_.ram_dir->rec.ctime_ns = now;
  ctx_.ram_dir_removed.store(true, std::memory_order_release);
  return Status::Ok();
}

Status Namespace::RemoveName(uint64_t parent, std::string_view name, bool dir_wanted) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr dir, ctx_.cache->Get(parent));
  if (!dir->is_dir()) return Status::NotDirectory("not a directory");
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadDir(*dir));
  uint64_t victim;
  {
    std::unique_lock dlock(dir->mu);
    const Directory::Entry* e = dir->dir->Find(name);
    if (e == nullptr) return Status::NotFound(std::string(name) + ": no such file or directory");
    if (dir_wanted && e->type != DT_DIR)
      return Status::NotDirectory(std::string(name) + ": not a directory");
    if (!dir_wanted && e->type == DT_DIR)
      return Status::IsDirectory(std::string(name) + ": is a directory");
    PMEMFS_RETURN_IF_ERROR(CheckChangeable(*dir, "remove"));
    PMEMFS_ASSIGN_OR_RETURN(InodePtr child, ctx_.cache->Get(e->ino));
    if (dir_wanted) PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadDir(*child));
    std::unique_lock clock(child->mu);
    PMEMFS_RETURN_IF_ERROR(CheckChangeable(*child, "remove"));
    if (dir_wanted && child->dir->size() != 0)
      return Status::NotEmpty(std::string(name) + ": not empty");
    store::Tx tx = ctx_.store->Begin();
    IndexGuard indexes(ctx_, {dir.get()});
    InodeRecord drec = dir->rec, crec = child->rec;
    const int64_t now = Context::NowNs();
    PMEMFS_RETURN_IF_ERROR(dir->dir->Remove(ctx_.Ctx(tx, *dir, drec), name));
    drec.mtime_ns = drec.ctime_ns = now;
    if (dir_wanted) {
      drec.nlink--;  // the child's ".."
      crec.nlink = 0;
    } else {
      crec.nlink--;
    }
    crec.ctime_ns = now;
    ctx_.PutInode(tx, *dir, drec);
    ctx_.PutInode(tx, *child, crec);
    PMEMFS_RETURN_IF_ERROR(indexes.Commit(tx));
    dir->rec = drec;
    child->rec = crec;
    victim = child->ino;
  }
  ctx_.cache->MaybeEvict(victim);  // frees it now if nothing references it
  return Status::Ok();
}

Status Namespace::OpenDir(uint64_t ino) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(ino));
  if (!ip->is_dir()) return Status::NotDirectory("not a directory");
  return ctx_.cache->LoadDir(*ip);
}

Status Namespace::ReadDir(uint64_t ino, uint64_t cookie,
                           const std::function<bool(const DirEntry&)>& emit) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(ino));
  if (!ip->is_dir()) return Status::NotDirectory("not a directory");
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadDir(*ip));
  std::shared_lock lock(ip->mu);
  if (!ip->dir) return Status::IoError("directory index unavailable");
  // Cookies: 0 ".", 1 "..", 2 the RAM directory (root only), 3+ entries' slot positions.
  if (cookie == 0 && !emit({".", ino, DT_DIR, 1})) return Status::Ok();
  if (cookie <= 1 && !emit({"..", ip->rec.parent, DT_DIR, 2})) return Status::Ok();
  if (cookie <= 2 && ino == kRootIno && ctx_.HasRamDir() &&
      !emit({ctx_.opts.ram_dir, ctx_.ram_dir->ino, DT_DIR, 3}))
    return Status::Ok();
  ip->dir->ForEachFrom(std::max<uint64_t>(cookie, 3),
                       [&](std::string_view name, const Directory::Entry& e) {
                         return emit({name, e.ino, e.type, e.cookie + 1});
                       });
  return Status::Ok();
}

}  // namespace pmemfs::core
