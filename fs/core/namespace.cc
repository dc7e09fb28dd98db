// Names: lookup, create (all file types), link, unlink, rmdir, rename, symlinks, readdir.
//
// Locking: a directory's lock (exclusive to change it) is taken before the lock of an inode it
// names; renames across directories hold rename_mu_ and lock the two directories ancestor
// first (or in inode order when neither contains the other), as Linux's lock_rename does.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>
#include <span>

#include "fs/core/fs.h"

namespace pmemfs::core {

using layout::InodeRecord;

namespace {

uint8_t DirentType(uint32_t mode) { return static_cast<uint8_t>((mode & S_IFMT) >> 12); }

}  // namespace

Status Filesystem::CheckName(std::string_view name) {
  if (name.empty() || name == "." || name == "..")
    return Status::InvalidArgument("invalid name '" + std::string(name) + "'");
  if (name.size() > layout::kMaxNameLen)
    return Status::NameTooLong("name of " + std::to_string(name.size()) + " bytes (at most 255)");
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos)
    return Status::InvalidArgument("name contains '/' or NUL");
  return Status::Ok();
}

Result<Attr> Filesystem::Lookup(const Caller&, uint64_t parent, std::string_view name) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr dir, cache_->Get(parent));
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
    PMEMFS_ASSIGN_OR_RETURN(InodePtr up, cache_->Get(dir->rec.parent));
    return Ref(up);
  }
  if (IsRamDirName(parent, name)) return Ref(ram_dir_);
  PMEMFS_RETURN_IF_ERROR(cache_->LoadDir(*dir));
  // The directory lock is held until the child has its reference, so it cannot be unlinked
  // and freed in between.
  std::shared_lock lock(dir->mu);
  if (!dir->dir) return Status::IoError("directory index unavailable");
  const Directory::Entry* e = dir->dir->Find(name);
  if (e == nullptr) return Status::NotFound(std::string(name) + ": no such file or directory");
  PMEMFS_ASSIGN_OR_RETURN(InodePtr child, cache_->Get(e->ino));
  return Ref(child);
}

Result<Attr> Filesystem::CreateNode(const Caller& c, uint64_t parent, std::string_view name,
                                    uint32_t mode, uint64_t rdev, std::string_view target,
                                    InodePtr* created) {
  PMEMFS_RETURN_IF_ERROR(CheckName(name));
  PMEMFS_ASSIGN_OR_RETURN(InodePtr dir, cache_->Get(parent));
  if (!dir->is_dir()) return Status::NotDirectory("not a directory");
  if (IsRamDirName(parent, name))
    return Status::AlreadyExists(std::string(name) + ": exists (the RAM directory)");
  PMEMFS_RETURN_IF_ERROR(cache_->LoadDir(*dir));
  std::unique_lock dlock(dir->mu);
  if (dir->rec.nlink == 0) return Status::NotFound("directory was removed");
  if (!dir->dir) return Status::IoError("directory index unavailable");
  if (dir->dir->Find(name)) return Status::AlreadyExists(std::string(name) + ": exists");
  PMEMFS_RETURN_IF_ERROR(CheckNotImmutable(*dir, "create"));
  if (S_ISDIR(mode) && dir->rec.nlink >= 65000) return Status::TooManyLinks("too many subdirectories");

  store::Tx tx = store_->Begin();
  IndexGuard indexes(ctx_, {dir.get()});
  PMEMFS_ASSIGN_OR_RETURN(InodePtr child, cache_->NewInode(tx, *dir, NewRecord(c, *dir, mode)));
  InodeRecord crec = child->rec;
  crec.rdev = rdev;
  PMEMFS_RETURN_IF_ERROR(xattrs_.InheritAcl(tx, c, *dir, *child, crec));
  if (S_ISLNK(mode)) {
    crec.mode = S_IFLNK | 0777;  // symlink permissions are not used
    crec.size = target.size();
    if (target.size() < layout::kInlineDataMax) {
      std::memcpy(crec.inline_data, target.data(), target.size());
    } else {
      // Long targets live in data blocks, written through the file's strategy and synced
      // before the commit that links them (copy mode: out of the cache; RAM: plain stores).
      mapping::Access& acc = ctx_.AccessFor(*child);
      const uint64_t n = (target.size() + layout::kBlockSize - 1) / layout::kBlockSize;
      uint64_t dev_block;
      if (child->is_volatile()) {
        PMEMFS_ASSIGN_OR_RETURN(uint64_t off, ram_->Allocate(n));
        dev_block = off / layout::kBlockSize;
      } else {
        PMEMFS_ASSIGN_OR_RETURN(store::BlockRange r, store_->AllocBlocks(tx, n, 0));
        if (r.count < n) return Status::NoSpace("no contiguous room for the symlink target");
        dev_block = r.start;
      }
      std::vector<std::byte> buf(n * layout::kBlockSize);
      std::memcpy(buf.data(), target.data(), target.size());
      PMEMFS_RETURN_IF_ERROR(acc.Write(dev_block * layout::kBlockSize, buf));
      PMEMFS_RETURN_IF_ERROR(acc.Sync(dev_block * layout::kBlockSize, buf.size()));
      PMEMFS_RETURN_IF_ERROR(child->map->Insert(Ctx(tx, *child, crec), 0, dev_block, n));
      if (acc.descriptors() != nullptr)
        for (uint64_t i = 0; i < n; i++)
          tx.SetDescriptor(dev_block + i, {child->ino, i, 1, layout::kPageAllocated});
      crec.blocks += n;
    }
  }
  PutInode(tx, *child, crec);

  InodeRecord drec = dir->rec;
  PMEMFS_RETURN_IF_ERROR(dir->dir->Add(Ctx(tx, *dir, drec), name, child->ino, DirentType(crec.mode)));
  if (S_ISDIR(crec.mode)) drec.nlink++;
  drec.mtime_ns = drec.ctime_ns = crec.ctime_ns;
  PutInode(tx, *dir, drec);
  PMEMFS_RETURN_IF_ERROR(indexes.Commit(tx));
  dir->rec = drec;
  child->rec = crec;
  cache_->Insert(child);
  if (created) *created = child;
  return Ref(child);
}

Result<Attr> Filesystem::MkNod(const Caller& c, uint64_t parent, std::string_view name,
                               uint32_t mode, uint64_t rdev) {
  switch (mode & S_IFMT) {
    case 0: mode |= S_IFREG; break;
    case S_IFREG: case S_IFIFO: case S_IFSOCK: case S_IFCHR: case S_IFBLK: break;
    default: return Status::InvalidArgument("mknod: unsupported file type");
  }
  return CreateNode(c, parent, name, mode, (S_ISCHR(mode) || S_ISBLK(mode)) ? rdev : 0, {}, nullptr);
}

Result<Attr> Filesystem::MkDir(const Caller& c, uint64_t parent, std::string_view name,
                               uint32_t mode) {
  return CreateNode(c, parent, name, S_IFDIR | (mode & 07777), 0, {}, nullptr);
}

Result<Attr> Filesystem::Symlink(const Caller& c, uint64_t parent, std::string_view name,
                                 std::string_view target) {
  if (target.empty()) return Status::NotFound("empty symlink target");
  if (target.size() >= layout::kBlockSize) return Status::NameTooLong("symlink target too long");
  return CreateNode(c, parent, name, S_IFLNK | 0777, 0, target, nullptr);
}

Result<std::string> Filesystem::ReadLink(uint64_t ino) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
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
  PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(*ip));
  lock.lock();
  std::string out(r.size, '\0');
  uint64_t dev_block = ip->map ? ip->map->Lookup(0) : 0;
  if (dev_block == 0) return Status::Corrupt("symlink " + std::to_string(ino) + " has no target block");
  PMEMFS_RETURN_IF_ERROR(ctx_.AccessFor(*ip).Read(
      dev_block * layout::kBlockSize, std::as_writable_bytes(std::span(out.data(), out.size()))));
  return out;
}

Result<Attr> Filesystem::Create(const Caller& c, uint64_t parent, std::string_view name,
                                uint32_t mode, int flags) {
  InodePtr child;
  auto r = CreateNode(c, parent, name, S_IFREG | (mode & 07777), 0, {}, &child);
  if (!r.ok()) {
    if (r.status().code() != Code::kAlreadyExists || (flags & O_EXCL)) return r.status();
    PMEMFS_ASSIGN_OR_RETURN(Attr a, Lookup(c, parent, name));  // raced with another creator
    if (S_ISDIR(a.mode)) {
      Forget(a.ino, 1);
      return Status::IsDirectory(std::string(name) + ": is a directory");
    }
    Status st = Open(c, a.ino, flags);
    if (!st.ok()) {
      Forget(a.ino, 1);
      return st;
    }
    return GetAttr(a.ino);
  }
  cache_->Opened(*child);
  return r;
}

Result<Attr> Filesystem::Link(const Caller&, uint64_t ino, uint64_t new_parent,
                              std::string_view new_name) {
  PMEMFS_RETURN_IF_ERROR(CheckName(new_name));
  PMEMFS_ASSIGN_OR_RETURN(InodePtr target, cache_->Get(ino));
  PMEMFS_ASSIGN_OR_RETURN(InodePtr dir, cache_->Get(new_parent));
  if (target->is_dir()) return Status::Permission("hard links to directories are not allowed");
  if (!dir->is_dir()) return Status::NotDirectory("not a directory");
  if (target->is_volatile() != dir->is_volatile())
    return Status::CrossDevice("cannot link between the RAM directory and persistent files");
  if (IsRamDirName(new_parent, new_name))
    return Status::AlreadyExists("exists");
  PMEMFS_RETURN_IF_ERROR(cache_->LoadDir(*dir));
  std::unique_lock dlock(dir->mu);
  std::unique_lock tlock(target->mu);
  if (dir->rec.nlink == 0) return Status::NotFound("directory was removed");
  if (target->rec.nlink == 0) return Status::NotFound("file was removed");
  if (target->rec.nlink >= 65000) return Status::TooManyLinks("too many links");
  PMEMFS_RETURN_IF_ERROR(CheckNotImmutable(*dir, "link"));
  PMEMFS_RETURN_IF_ERROR(CheckChangeable(*target, "link"));
  if (dir->dir->Find(new_name)) return Status::AlreadyExists(std::string(new_name) + ": exists");
  store::Tx tx = store_->Begin();
  IndexGuard indexes(ctx_, {dir.get()});
  InodeRecord trec = target->rec, drec = dir->rec;
  const int64_t now = NowNs();
  trec.nlink++;
  trec.ctime_ns = now;
  PMEMFS_RETURN_IF_ERROR(dir->dir->Add(Ctx(tx, *dir, drec), new_name, ino, DirentType(trec.mode)));
  drec.mtime_ns = drec.ctime_ns = now;
  PutInode(tx, *target, trec);
  PutInode(tx, *dir, drec);
  PMEMFS_RETURN_IF_ERROR(indexes.Commit(tx));
  target->rec = trec;
  dir->rec = drec;
  tlock.unlock();
  return Ref(target);
}

Status Filesystem::Unlink(const Caller&, uint64_t parent, std::string_view name) {
  if (IsRamDirName(parent, name))
    return Status::IsDirectory("the RAM directory");
  return RemoveName(parent, name, /*dir=*/false);
}

Status Filesystem::RmDir(const Caller&, uint64_t parent, std::string_view name) {
  if (name == ".") return Status::InvalidArgument("cannot remove '.'");
  if (name == "..") return Status::NotEmpty("cannot remove '..'");
  if (IsRamDirName(parent, name)) return RemoveRamDir();
  return RemoveName(parent, name, /*dir=*/true);
}

Status Filesystem::RemoveRamDir() {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr root, cache_->Get(kRootIno));
  std::unique_lock rlock(root->mu);
  std::unique_lock lock(ram_dir_->mu);
  if (!HasRamDir()) return Status::NotFound(opts_.ram_dir + ": no such file or directory");
  if (ram_dir_->dir->size() != 0) return Status::NotEmpty(opts_.ram_dir + ": not empty");
  // The root's times change as for any rmdir (its persistent nlink never counted the RAM
  // directory); the RAM directory itself is volatile, so its removal is not journaled.
  const int64_t now = NowNs();
  store::Tx tx = store_->Begin();
  InodeRecord rrec = root->rec;
  rrec.mtime_ns = rrec.ctime_ns = now;
  PutInode(tx, *root, rrec);
  PMEMFS_RETURN_IF_ERROR(Commit(tx, {root.get()}));
  root->rec = rrec;
  ram_dir_->rec.nlink = 0;
  ram_dir_->rec.ctime_ns = now;
  ram_dir_removed_.store(true, std::memory_order_release);
  return Status::Ok();
}

Status Filesystem::RemoveName(uint64_t parent, std::string_view name, bool dir_wanted) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr dir, cache_->Get(parent));
  if (!dir->is_dir()) return Status::NotDirectory("not a directory");
  PMEMFS_RETURN_IF_ERROR(cache_->LoadDir(*dir));
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
    PMEMFS_ASSIGN_OR_RETURN(InodePtr child, cache_->Get(e->ino));
    if (dir_wanted) PMEMFS_RETURN_IF_ERROR(cache_->LoadDir(*child));
    std::unique_lock clock(child->mu);
    PMEMFS_RETURN_IF_ERROR(CheckChangeable(*child, "remove"));
    if (dir_wanted && child->dir->size() != 0)
      return Status::NotEmpty(std::string(name) + ": not empty");
    store::Tx tx = store_->Begin();
    IndexGuard indexes(ctx_, {dir.get()});
    InodeRecord drec = dir->rec, crec = child->rec;
    const int64_t now = NowNs();
    PMEMFS_RETURN_IF_ERROR(dir->dir->Remove(Ctx(tx, *dir, drec), name));
    drec.mtime_ns = drec.ctime_ns = now;
    if (dir_wanted) {
      drec.nlink--;  // the child's ".."
      crec.nlink = 0;
    } else {
      crec.nlink--;
    }
    crec.ctime_ns = now;
    PutInode(tx, *dir, drec);
    PutInode(tx, *child, crec);
    PMEMFS_RETURN_IF_ERROR(indexes.Commit(tx));
    dir->rec = drec;
    child->rec = crec;
    victim = child->ino;
  }
  cache_->MaybeEvict(victim);  // frees it now if nothing references it
  return Status::Ok();
}

Status Filesystem::Rename(const Caller& c, uint64_t parent, std::string_view name,
                          uint64_t new_parent, std::string_view new_name, uint32_t flags) {
  if (flags & ~(kRenameNoReplace | kRenameExchange | kRenameWhiteout))
    return Status::InvalidArgument("unknown rename flags");
  if ((flags & kRenameExchange) && (flags & (kRenameNoReplace | kRenameWhiteout)))
    return Status::InvalidArgument("RENAME_EXCHANGE with RENAME_NOREPLACE or RENAME_WHITEOUT");
  PMEMFS_RETURN_IF_ERROR(CheckName(name));
  PMEMFS_RETURN_IF_ERROR(CheckName(new_name));
  if (IsRamDirName(parent, name) || IsRamDirName(new_parent, new_name))
    return Status::Busy("the RAM directory cannot be renamed or replaced");
  PMEMFS_ASSIGN_OR_RETURN(InodePtr sdir, cache_->Get(parent));
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ddir, cache_->Get(new_parent));
  if (!sdir->is_dir() || !ddir->is_dir()) return Status::NotDirectory("not a directory");
  if (sdir->is_volatile() != ddir->is_volatile())
    return Status::CrossDevice("cannot move between the RAM directory and persistent files");
  PMEMFS_RETURN_IF_ERROR(cache_->LoadDir(*sdir));
  PMEMFS_RETURN_IF_ERROR(cache_->LoadDir(*ddir));
  const bool same_dir = sdir == ddir;

  // Is `a` an ancestor of (or the same as) `b`? Stable while rename_mu_ is held; takes no
  // inode locks (Inode::parent is atomic).
  auto is_ancestor = [&](uint64_t a, uint64_t b) -> Result<bool> {
    for (uint64_t cur = b, steps = 0; steps < (1u << 20); steps++) {
      if (cur == a) return true;
      if (cur == kRootIno) return false;
      PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(cur));
      cur = ip->parent.load();
    }
    return Status::Corrupt("directory parent chain does not reach the root");
  };

  std::unique_lock<std::mutex> rename_lock;
  std::unique_lock<std::shared_mutex> l1, l2;
  if (same_dir) {
    l1 = std::unique_lock(sdir->mu);
  } else {
    rename_lock = std::unique_lock(rename_mu_);
    PMEMFS_ASSIGN_OR_RETURN(bool s_above, is_ancestor(sdir->ino, ddir->ino));
    PMEMFS_ASSIGN_OR_RETURN(bool d_above, is_ancestor(ddir->ino, sdir->ino));
    Inode* first = s_above ? sdir.get() : d_above ? ddir.get()
                 : (sdir->ino < ddir->ino ? sdir.get() : ddir.get());
    Inode* second = first == sdir.get() ? ddir.get() : sdir.get();
    l1 = std::unique_lock(first->mu);
    l2 = std::unique_lock(second->mu);
  }
  if (sdir->rec.nlink == 0 || ddir->rec.nlink == 0) return Status::NotFound("directory was removed");
  const Directory::Entry* se = sdir->dir->Find(name);
  if (se == nullptr) return Status::NotFound(std::string(name) + ": no such file or directory");
  const Directory::Entry* de = ddir->dir->Find(new_name);
  if ((flags & kRenameNoReplace) && de) return Status::AlreadyExists(std::string(new_name) + ": exists");
  if ((flags & kRenameExchange) && !de)
    return Status::NotFound(std::string(new_name) + ": no such file or directory");
  if (de && de->ino == se->ino) return Status::Ok();  // two names of one inode: nothing to do
  // As the VFS's may_delete/may_create: the source directory loses a name, the destination
  // gains one (and loses one it replaces).
  PMEMFS_RETURN_IF_ERROR(CheckChangeable(*sdir, "rename"));
  PMEMFS_RETURN_IF_ERROR(CheckNotImmutable(*ddir, "rename"));
  if (de || (flags & kRenameExchange)) PMEMFS_RETURN_IF_ERROR(CheckChangeable(*ddir, "rename"));
  const uint64_t s_ino = se->ino, d_ino = de ? de->ino : 0;
  const bool s_is_dir = se->type == DT_DIR, d_is_dir = de && de->type == DT_DIR;

  if (!same_dir) {
    // Moving a directory into itself or below itself would cut it off from the tree.
    if (s_is_dir) {
      PMEMFS_ASSIGN_OR_RETURN(bool cycle, is_ancestor(s_ino, ddir->ino));
      if (cycle) return Status::InvalidArgument("cannot move a directory into itself");
    }
    if (d_is_dir && (flags & kRenameExchange)) {
      PMEMFS_ASSIGN_OR_RETURN(bool cycle, is_ancestor(d_ino, sdir->ino));
      if (cycle) return Status::InvalidArgument("cannot move a directory into itself");
    } else if (d_is_dir) {
      PMEMFS_ASSIGN_OR_RETURN(bool above, is_ancestor(d_ino, sdir->ino));
      if (above) return Status::NotEmpty(std::string(new_name) + ": not empty");
    }
  }
  if (!(flags & kRenameExchange) && de) {
    if (s_is_dir && !d_is_dir) return Status::NotDirectory(std::string(new_name) + ": not a directory");
    if (!s_is_dir && d_is_dir) return Status::IsDirectory(std::string(new_name) + ": is a directory");
  }

  PMEMFS_ASSIGN_OR_RETURN(InodePtr schild, cache_->Get(s_ino));
  InodePtr dchild;
  if (d_ino) {
    PMEMFS_ASSIGN_OR_RETURN(dchild, cache_->Get(d_ino));
    if (d_is_dir && !(flags & kRenameExchange)) PMEMFS_RETURN_IF_ERROR(cache_->LoadDir(*dchild));
  }
  std::unique_lock<std::shared_mutex> c1, c2;
  if (dchild && dchild->ino < schild->ino) {
    c1 = std::unique_lock(dchild->mu);
    c2 = std::unique_lock(schild->mu);
  } else {
    c1 = std::unique_lock(schild->mu);
    if (dchild) c2 = std::unique_lock(dchild->mu);
  }
  if (dchild && d_is_dir && !(flags & kRenameExchange) && dchild->dir->size() != 0)
    return Status::NotEmpty(std::string(new_name) + ": not empty");
  PMEMFS_RETURN_IF_ERROR(CheckChangeable(*schild, "rename"));
  if (dchild) PMEMFS_RETURN_IF_ERROR(CheckChangeable(*dchild, "rename"));

  store::Tx tx = store_->Begin();
  // The source name goes from sdir's index before the target is added to ddir's, which may
  // run out of space (a new dentry block): then both indexes reload from the device.
  IndexGuard indexes(ctx_, {sdir.get(), ddir.get()});
  const int64_t now = NowNs();
  InodeRecord srec = sdir->rec;
  InodeRecord drec_same;  // unused when same_dir: sdir and ddir share srec
  InodeRecord& drec = same_dir ? srec : (drec_same = ddir->rec);
  InodeRecord screc = schild->rec;
  InodeRecord dcrec = dchild ? dchild->rec : InodeRecord{};
  const uint8_t s_type = se->type, d_type = de ? de->type : 0;
  const std::string sname(name), dname(new_name);

  InodePtr whiteout;
  if (flags & kRenameExchange) {
    PMEMFS_RETURN_IF_ERROR(sdir->dir->Retarget(Ctx(tx, *sdir, srec), sname, d_ino, d_type));
    PMEMFS_RETURN_IF_ERROR(ddir->dir->Retarget(Ctx(tx, *ddir, drec), dname, s_ino, s_type));
    if (!same_dir) {
      if (s_is_dir) { screc.parent = ddir->ino; srec.nlink--; drec.nlink++; }
      if (d_is_dir) { dcrec.parent = sdir->ino; drec.nlink--; srec.nlink++; }
    }
    dcrec.ctime_ns = now;
  } else {
    if (flags & kRenameWhiteout) {
      // Mode S_IFCHR | 0, rdev 0: what overlayfs takes for a whiteout.
      PMEMFS_ASSIGN_OR_RETURN(whiteout, cache_->NewInode(tx, *sdir, NewRecord(c, *sdir, S_IFCHR)));
      PMEMFS_RETURN_IF_ERROR(
          sdir->dir->Retarget(Ctx(tx, *sdir, srec), sname, whiteout->ino, DirentType(S_IFCHR)));
    } else {
      PMEMFS_RETURN_IF_ERROR(sdir->dir->Remove(Ctx(tx, *sdir, srec), sname));
    }
    if (de) {
      PMEMFS_RETURN_IF_ERROR(ddir->dir->Retarget(Ctx(tx, *ddir, drec), dname, s_ino, s_type));
      if (d_is_dir) {
        dcrec.nlink = 0;
        drec.nlink--;  // the replaced directory's ".."
      } else {
        dcrec.nlink--;
      }
      dcrec.ctime_ns = now;
    } else {
      PMEMFS_RETURN_IF_ERROR(ddir->dir->Add(Ctx(tx, *ddir, drec), dname, s_ino, s_type));
    }
    if (s_is_dir && !same_dir) {
      screc.parent = ddir->ino;
      srec.nlink--;
      drec.nlink++;
    }
  }
  screc.ctime_ns = now;
  srec.mtime_ns = srec.ctime_ns = now;
  drec.mtime_ns = drec.ctime_ns = now;
  PutInode(tx, *sdir, srec);
  if (!same_dir) PutInode(tx, *ddir, drec);
  PutInode(tx, *schild, screc);
  if (dchild) PutInode(tx, *dchild, dcrec);
  PMEMFS_RETURN_IF_ERROR(indexes.Commit(tx));
  if (whiteout) cache_->Insert(whiteout);
  sdir->rec = srec;
  if (!same_dir) ddir->rec = drec;
  schild->rec = screc;
  schild->parent = screc.parent;
  if (dchild) {
    dchild->rec = dcrec;
    dchild->parent = dcrec.parent;
  }
  const uint64_t evict = (dchild && dcrec.nlink == 0) ? dchild->ino : 0;
  c1 = {};
  c2 = {};
  l1 = {};
  l2 = {};
  rename_lock = {};
  if (evict) cache_->MaybeEvict(evict);
  return Status::Ok();
}

Status Filesystem::OpenDir(const Caller&, uint64_t ino) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
  if (!ip->is_dir()) return Status::NotDirectory("not a directory");
  return cache_->LoadDir(*ip);
}

Status Filesystem::ReadDir(uint64_t ino, uint64_t cookie,
                           const std::function<bool(const DirEntry&)>& emit) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
  if (!ip->is_dir()) return Status::NotDirectory("not a directory");
  PMEMFS_RETURN_IF_ERROR(cache_->LoadDir(*ip));
  std::shared_lock lock(ip->mu);
  if (!ip->dir) return Status::IoError("directory index unavailable");
  // Cookies: 0 ".", 1 "..", 2 the RAM directory (root only), 3+ entries' slot positions.
  if (cookie == 0 && !emit({".", ino, DT_DIR, 1})) return Status::Ok();
  if (cookie <= 1 && !emit({"..", ip->rec.parent, DT_DIR, 2})) return Status::Ok();
  if (cookie <= 2 && ino == kRootIno && HasRamDir() &&
      !emit({opts_.ram_dir, ram_dir_->ino, DT_DIR, 3}))
    return Status::Ok();
  ip->dir->ForEachFrom(std::max<uint64_t>(cookie, 3),
                       [&](std::string_view name, const Directory::Entry& e) {
                         return emit({name, e.ino, e.type, e.cookie + 1});
                       });
  return Status::Ok();
}

}  // namespace pmemfs::core
