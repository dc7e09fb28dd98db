// Rename in three steps: lock, check, apply (namespace.h says how they fit).
//
// Every check runs with the locks it needs held and before the Tx begins, so a refusal changes
// nothing. The apply step edits both directory indexes together with its Tx: the source name
// goes from sdir's index before the target is added to ddir's, which may run out of space (a new
// dentry block); IndexGuard then drops both indexes so they reload from the device. Records
// and Inode::parent change only after the commit.
#include <dirent.h>
#include <sys/stat.h>

#include "fs/core/attributes.h"
#include "fs/core/namespace.h"

namespace pmemfs::core {

using layout::InodeRecord;

struct Namespace::RenameOp {
  const Caller& c;
  const uint64_t parent, new_parent;
  const std::string_view name, new_name;
  const uint32_t flags;
  bool exchange() const { return flags & kRenameExchange; }

  // ResolveRename: the directories.
  InodePtr sdir, ddir;
  bool same_dir = false;
  // CheckRenameNames: the entries (d_ino 0: no target name).
  uint64_t s_ino = 0, d_ino = 0;
  uint8_t s_type = 0, d_type = 0;
  bool s_is_dir = false, d_is_dir = false;
  bool noop = false;  // two names of one inode: nothing to do
  // LockRenameChildren: the inodes named (dchild null without a target).
  InodePtr schild, dchild;
};

Status Namespace::Rename(const Caller& c, uint64_t parent, std::string_view name,
                         uint64_t new_parent, std::string_view new_name, uint32_t flags) {
  RenameOp op{c, parent, new_parent, name, new_name, flags};
  PMEMFS_RETURN_IF_ERROR(ResolveRename(op));
  uint64_t evict = 0;
  if (op.same_dir) {
    RenameLocks locks;
    locks.dir1 = std::unique_lock(op.sdir->mu);
    PMEMFS_RETURN_IF_ERROR(CheckRenameNames(op));
    if (op.noop) return Status::Ok();
    PMEMFS_ASSIGN_OR_RETURN(evict, RenameChildren(op, locks));
  } else {
    MutexLock moving(rename_mu_);
    RenameLocks locks;
    PMEMFS_RETURN_IF_ERROR(LockRenameDirs(op, locks));
    PMEMFS_RETURN_IF_ERROR(CheckRenameNames(op));
    if (op.noop) return Status::Ok();
    PMEMFS_RETURN_IF_ERROR(CheckRenameMove(op));
    PMEMFS_ASSIGN_OR_RETURN(evict, RenameChildren(op, locks));
    MoveParents(op);
  }
  // With no lock held and no copy of the inodes left here (as RemoveName), so that a replaced
  // inode nobody references is freed now, not at unmount.
  op.schild.reset();
  op.dchild.reset();
  if (evict != 0) ctx_.cache->MaybeEvict(evict);
  return Status::Ok();
}

// --- lock ----------------------------------------------------------------------------------------

Status Namespace::ResolveRename(RenameOp& op) {
  if (op.flags & ~(kRenameNoReplace | kRenameExchange | kRenameWhiteout))
    return Status::InvalidArgument("unknown rename flags");
  if (op.exchange() && (op.flags & (kRenameNoReplace | kRenameWhiteout)))
    return Status::InvalidArgument("RENAME_EXCHANGE with RENAME_NOREPLACE or RENAME_WHITEOUT");
  PMEMFS_RETURN_IF_ERROR(CheckName(op.name));
  PMEMFS_RETURN_IF_ERROR(CheckName(op.new_name));
  if (IsRamDirName(op.parent, op.name) || IsRamDirName(op.new_parent, op.new_name))
    return Status::Busy("the RAM directory cannot be renamed or replaced");
  PMEMFS_ASSIGN_OR_RETURN(op.sdir, ctx_.cache->Get(op.parent));
  PMEMFS_ASSIGN_OR_RETURN(op.ddir, ctx_.cache->Get(op.new_parent));
  if (!op.sdir->is_dir() || !op.ddir->is_dir()) return Status::NotDirectory("not a directory");
  if (op.sdir->is_volatile() != op.ddir->is_volatile())
    return Status::CrossDevice("cannot move between the RAM directory and persistent files");
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadDir(*op.sdir));
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadDir(*op.ddir));
  op.same_dir = op.sdir == op.ddir;
  return Status::Ok();
}

Result<bool> Namespace::IsAncestor(uint64_t a, uint64_t b) {
  for (uint64_t cur = b, steps = 0; steps < (1u << 20); steps++) {
    if (cur == a) return true;
    if (cur == kRootIno) return false;
    PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(cur));
    cur = ip->parent.load();
  }
  return Status::Corrupt("directory parent chain does not reach the root");
}

Status Namespace::LockRenameDirs(RenameOp& op, RenameLocks& locks) {
  PMEMFS_ASSIGN_OR_RETURN(bool s_above, IsAncestor(op.sdir->ino, op.ddir->ino));
  PMEMFS_ASSIGN_OR_RETURN(bool d_above, IsAncestor(op.ddir->ino, op.sdir->ino));
  Inode* first = s_above ? op.sdir.get()
                 : d_above ? op.ddir.get()
                 : (op.sdir->ino < op.ddir->ino ? op.sdir.get() : op.ddir.get());
  Inode* second = first == op.sdir.get() ? op.ddir.get() : op.sdir.get();
  locks.dir1 = std::unique_lock(first->mu);
  locks.dir2 = std::unique_lock(second->mu);
  return Status::Ok();
}

Status Namespace::LockRenameChildren(RenameOp& op, RenameLocks& locks) {
  PMEMFS_ASSIGN_OR_RETURN(op.schild, ctx_.cache->Get(op.s_ino));
  if (op.d_ino != 0) {
    PMEMFS_ASSIGN_OR_RETURN(op.dchild, ctx_.cache->Get(op.d_ino));
    if (op.d_is_dir && !op.exchange()) PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadDir(*op.dchild));
  }
  if (op.dchild && op.dchild->ino < op.schild->ino) {
    locks.child1 = std::unique_lock(op.dchild->mu);
    locks.child2 = std::unique_lock(op.schild->mu);
  } else {
    locks.child1 = std::unique_lock(op.schild->mu);
    if (op.dchild) locks.child2 = std::unique_lock(op.dchild->mu);
  }
  return Status::Ok();
}

// --- check ---------------------------------------------------------------------------------------

Status Namespace::CheckRenameNames(RenameOp& op) {
  Inode& sdir = *op.sdir;
  Inode& ddir = *op.ddir;
  if (sdir.rec.nlink == 0 || ddir.rec.nlink == 0) return Status::NotFound("directory was removed");
  const Directory::Entry* se = sdir.dir->Find(op.name);
  if (se == nullptr) return Status::NotFound(std::string(op.name) + ": no such file or directory");
  const Directory::Entry* de = ddir.dir->Find(op.new_name);
  if ((op.flags & kRenameNoReplace) && de)
    return Status::AlreadyExists(std::string(op.new_name) + ": exists");
  if (op.exchange() && !de)
    return Status::NotFound(std::string(op.new_name) + ": no such file or directory");
  if (de && de->ino == se->ino) {
    op.noop = true;
    return Status::Ok();
  }
  // As the VFS's may_delete/may_create: the source directory loses a name, the destination
  // gains one (and loses one it replaces).
  PMEMFS_RETURN_IF_ERROR(CheckChangeable(sdir, "rename"));
  PMEMFS_RETURN_IF_ERROR(CheckNotImmutable(ddir, "rename"));
  if (de || op.exchange()) PMEMFS_RETURN_IF_ERROR(CheckChangeable(ddir, "rename"));
  op.s_ino = se->ino;
  op.s_type = se->type;
  op.s_is_dir = se->type == DT_DIR;
  if (de) {
    op.d_ino = de->ino;
    op.d_type = de->type;
    op.d_is_dir = de->type == DT_DIR;
  }
  return Status::Ok();
}

Status Namespace::CheckRenameMove(const RenameOp& op) {
  // Moving a directory into itself or below itself would cut it off from the tree.
  if (op.s_is_dir) {
    PMEMFS_ASSIGN_OR_RETURN(bool cycle, IsAncestor(op.s_ino, op.ddir->ino));
    if (cycle) return Status::InvalidArgument("cannot move a directory into itself");
  }
  if (op.d_is_dir && op.exchange()) {
    PMEMFS_ASSIGN_OR_RETURN(bool cycle, IsAncestor(op.d_ino, op.sdir->ino));
    if (cycle) return Status::InvalidArgument("cannot move a directory into itself");
  } else if (op.d_is_dir) {
    PMEMFS_ASSIGN_OR_RETURN(bool above, IsAncestor(op.d_ino, op.sdir->ino));
    if (above) return Status::NotEmpty(std::string(op.new_name) + ": not empty");
  }
  return Status::Ok();
}

Status Namespace::CheckRenameTypes(const RenameOp& op) {
  if (op.exchange() || op.d_ino == 0) return Status::Ok();
  if (op.s_is_dir && !op.d_is_dir)
    return Status::NotDirectory(std::string(op.new_name) + ": not a directory");
  if (!op.s_is_dir && op.d_is_dir)
    return Status::IsDirectory(std::string(op.new_name) + ": is a directory");
  return Status::Ok();
}

Status Namespace::CheckRenameChildren(const RenameOp& op) {
  if (op.dchild && op.d_is_dir && !op.exchange() && op.dchild->dir->size() != 0)
    return Status::NotEmpty(std::string(op.new_name) + ": not empty");
  PMEMFS_RETURN_IF_ERROR(CheckChangeable(*op.schild, "rename"));
  if (op.dchild) PMEMFS_RETURN_IF_ERROR(CheckChangeable(*op.dchild, "rename"));
  return Status::Ok();
}

Result<uint64_t> Namespace::RenameChildren(RenameOp& op, RenameLocks& locks) {
  PMEMFS_RETURN_IF_ERROR(CheckRenameTypes(op));
  PMEMFS_RETURN_IF_ERROR(LockRenameChildren(op, locks));
  PMEMFS_RETURN_IF_ERROR(CheckRenameChildren(op));
  PMEMFS_RETURN_IF_ERROR(ApplyRename(op));
  return (op.dchild && op.dchild->rec.nlink == 0) ? op.dchild->ino : 0;
}

// --- apply ---------------------------------------------------------------------------------------

Status Namespace::ApplyRename(RenameOp& op) {
  Inode& sdir = *op.sdir;
  Inode& ddir = *op.ddir;
  store::Tx tx = ctx_.store->Begin();
  IndexGuard indexes(ctx_, {&sdir, &ddir});
  const int64_t now = Context::NowNs();
  InodeRecord srec = sdir.rec;
  InodeRecord drec_other;  // unused when same_dir: sdir and ddir share srec
  InodeRecord& drec = op.same_dir ? srec : (drec_other = ddir.rec);
  InodeRecord screc = op.schild->rec;
  InodeRecord dcrec = op.dchild ? op.dchild->rec : InodeRecord{};
  const bool moved = !op.same_dir;

  InodePtr whiteout;
  if (op.exchange()) {
    PMEMFS_RETURN_IF_ERROR(
        sdir.dir->Retarget(ctx_.Ctx(tx, sdir, srec), op.name, op.d_ino, op.d_type));
    PMEMFS_RETURN_IF_ERROR(
        ddir.dir->Retarget(ctx_.Ctx(tx, ddir, drec), op.new_name, op.s_ino, op.s_type));
    if (moved && op.s_is_dir) { screc.parent = ddir.ino; srec.nlink--; drec.nlink++; }
    if (moved && op.d_is_dir) { dcrec.parent = sdir.ino; drec.nlink--; srec.nlink++; }
    dcrec.ctime_ns = now;
  } else {
    if (op.flags & kRenameWhiteout) {
      // Mode S_IFCHR | 0, rdev 0: what overlayfs takes for a whiteout.
      PMEMFS_ASSIGN_OR_RETURN(whiteout,
                              ctx_.cache->NewInode(tx, sdir, NewRecord(op.c, sdir, S_IFCHR)));
      PMEMFS_RETURN_IF_ERROR(sdir.dir->Retarget(ctx_.Ctx(tx, sdir, srec), op.name, whiteout->ino,
                                                DirentType(S_IFCHR)));
    } else {
      PMEMFS_RETURN_IF_ERROR(sdir.dir->Remove(ctx_.Ctx(tx, sdir, srec), op.name));
    }
    if (op.d_ino != 0) {
      PMEMFS_RETURN_IF_ERROR(
          ddir.dir->Retarget(ctx_.Ctx(tx, ddir, drec), op.new_name, op.s_ino, op.s_type));
      if (op.d_is_dir) {
        dcrec.nlink = 0;
        drec.nlink--;  // the replaced directory's ".."
      } else {
        dcrec.nlink--;
      }
      dcrec.ctime_ns = now;
    } else {
      PMEMFS_RETURN_IF_ERROR(
          ddir.dir->Add(ctx_.Ctx(tx, ddir, drec), op.new_name, op.s_ino, op.s_type));
    }
    if (moved && op.s_is_dir) { screc.parent = ddir.ino; srec.nlink--; drec.nlink++; }
  }
  screc.ctime_ns = now;
  srec.mtime_ns = srec.ctime_ns = now;
  drec.mtime_ns = drec.ctime_ns = now;
  ctx_.PutInode(tx, sdir, srec);
  if (moved) ctx_.PutInode(tx, ddir, drec);
  ctx_.PutInode(tx, *op.schild, screc);
  if (op.dchild) ctx_.PutInode(tx, *op.dchild, dcrec);
  PMEMFS_RETURN_IF_ERROR(indexes.Commit(tx));
  if (whiteout) ctx_.cache->Insert(whiteout);
  sdir.rec = srec;
  if (moved) ddir.rec = drec;
  op.schild->rec = screc;
  if (op.dchild) op.dchild->rec = dcrec;
  return Status::Ok();
}

void Namespace::MoveParents(const RenameOp& op) {
  op.schild->parent = op.schild->rec.parent;
  if (op.dchild) op.dchild->parent = op.dchild->rec.parent;
}

}  // namespace pmemfs::core
