// Namespace: the names of one mounted filesystem: lookup, create (every file type), link,
// unlink, rmdir, rename, symlinks, readdir, and the RAM directory's place in the root. It works
// over the shared Context (context.h: store, inode cache, options) and Xattrs (ACLs inherited on
// create); Filesystem (fs.h) forwards fs/fuse's calls here.
//
//   Namespace names(ctx, xattrs);              // after Mount set ctx's members
//   names.Lookup(kRootIno, "a");  names.MkDir(c, kRootIno, "d", 0755);  names.Rename(...);
//
// Every call that returns an Attr for a name takes one kernel lookup reference on its inode
// (InodeCache::AddLookup; Filesystem::Forget drops it). Each change is one store transaction;
// the directory indexes it edits (Directory::Add/Remove/Retarget change DRAM as they write the
// Tx) stay only if it commits (IndexGuard, context.h), and inode records change after the commit.
//
// Rename runs in three steps (namespace_rename.cc): lock (the two directories, ancestor first,
// under rename_mu_ when they differ; then the children in inode-number order), check (names,
// flags, cycles, types, emptiness, chattr attributes: a refusal changes nothing) and apply (one
// Tx; DRAM only after it committed).
//
// Locks: a directory's `mu` (exclusive to change it) before the `mu` of an inode it names;
// renames across directories hold rename_mu_ and lock the two directories ancestor first (or in
// inode order when neither contains the other), as Linux's lock_rename does. rename_mu_ is
// outermost. Inode::parent is written only under rename_mu_.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "fs/core/context.h"
#include "fs/core/inode.h"
#include "fs/core/inode_cache.h"
#include "fs/core/types.h"
#include "fs/core/xattrs.h"
#include "fs/store/store.h"
#include "pmemfs/status.h"
#include "pmemfs/thread_annotations.h"

namespace pmemfs::core {

class Namespace {
 public:
  // `ctx` and `xattrs` must outlive this; ctx's store and cache are used from the first call on.
  Namespace(Context& ctx, Xattrs& xattrs) : ctx_(ctx), xattrs_(xattrs) {}
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;

  // InvalidArgument or NameTooLong unless `name` can be a directory entry.
  static Status CheckName(std::string_view name);

  // `name` in `parent` ("." the inode itself, of any type; ".." its parent).
  Result<Attr> Lookup(uint64_t parent, std::string_view name);
  // A regular file; `created` gets its inode (not counted as opened: the caller does).
  Result<Attr> Create(const Caller& c, uint64_t parent, std::string_view name, uint32_t mode,
                      InodePtr* created);
  Result<Attr> MkNod(const Caller& c, uint64_t parent, std::string_view name, uint32_t mode,
                     uint64_t rdev);
  Result<Attr> MkDir(const Caller& c, uint64_t parent, std::string_view name, uint32_t mode);
  Result<Attr> Symlink(const Caller& c, uint64_t parent, std::string_view name,
                       std::string_view target);
  Result<std::string> ReadLink(uint64_t ino);
  Result<Attr> Link(uint64_t ino, uint64_t new_parent, std::string_view new_name);
  Status Unlink(uint64_t parent, std::string_view name);
  Status RmDir(uint64_t parent, std::string_view name);
  // flags: kRenameNoReplace, kRenameExchange, kRenameWhiteout (types.h).
  Status Rename(const Caller& c, uint64_t parent, std::string_view name, uint64_t new_parent,
                std::string_view new_name, uint32_t flags) EXCLUDES(rename_mu_);
  Status OpenDir(uint64_t ino);
  // Emits entries from `cookie` on ("." and ".." first) until `emit` returns false.
  Status ReadDir(uint64_t ino, uint64_t cookie, const std::function<bool(const DirEntry&)>& emit);

  // Takes one kernel lookup reference on `ip` and returns its attributes (the root counts the
  // RAM directory's "..").
  Attr Ref(const InodePtr& ip);

 private:
  // One rename, as the steps (namespace_rename.cc) fill it in.
  struct RenameOp;
  // The inode locks a rename holds, released in reverse order.
  struct RenameLocks {
    std::unique_lock<std::shared_mutex> dir1, dir2, child1, child2;
  };

  // Creates `name` in `parent` (any type); a symlink's target goes to `target`.
  Result<Attr> CreateNode(const Caller& c, uint64_t parent, std::string_view name, uint32_t mode,
                          uint64_t rdev, std::string_view target, InodePtr* created);
  // Writes a long symlink target (kInlineDataMax bytes or more) to blocks of its own, mapped
  // by `child`'s extent map in `tx`. Caller holds the parent's mu exclusively.
  Status WriteLongTarget(store::Tx& tx, Inode& child, layout::InodeRecord& crec,
                         std::string_view target);
  // The d_type of a directory entry for an inode of `mode` (DT_REG, DT_DIR, ...).
  static uint8_t DirentType(uint32_t mode) { return static_cast<uint8_t>((mode & 0170000) >> 12); }
  // A fresh record of type/mode for `c` created in directory `dir` (setgid rule, times now).
  static layout::InodeRecord NewRecord(const Caller& c, const Inode& dir, uint32_t mode);
  // Unlink (dir false) or rmdir (dir true) of `name` in `parent`.
  Status RemoveName(uint64_t parent, std::string_view name, bool dir);
  // rmdir of the RAM directory: only when empty, as any directory; it is gone (and its RAM
  // partition no longer counted by StatFs) until the next mount. Takes the root's and the RAM
  // directory's locks.
  Status RemoveRamDir();
  // `name` in `parent` is the (existing) RAM directory.
  bool IsRamDirName(uint64_t parent, std::string_view name) const {
    return parent == kRootIno && ctx_.HasRamDir() && name == ctx_.opts.ram_dir;
  }

  // --- rename's steps (namespace_rename.cc) -----------------------------------------------------
  // Checks what needs no lock (flags, names, directory types, the RAM directory) and finds and
  // loads the two directories.
  Status ResolveRename(RenameOp& op);
  // Locks the two directories of a move, ancestor first (else in inode order).
  Status LockRenameDirs(RenameOp& op, RenameLocks& locks) REQUIRES(rename_mu_);
  // Is `a` an ancestor of (or the same as) `b`? Stable while rename_mu_ is held; takes no inode
  // locks (Inode::parent is atomic).
  Result<bool> IsAncestor(uint64_t a, uint64_t b) REQUIRES(rename_mu_);
  // The entries: both directories live, the source there, the target as the flags want it, the
  // directories' attributes. Sets op.noop for two names of one inode. Caller holds both
  // directories' mu exclusively.
  Status CheckRenameNames(RenameOp& op);
  // A move between directories makes no cycle and replaces no ancestor of the source.
  Status CheckRenameMove(const RenameOp& op) REQUIRES(rename_mu_);
  // The steps once the names passed: the types, the children locked and checked, the change.
  // Returns the inode to evict (a replaced one left without links), else 0. Caller holds both
  // directories' mu exclusively (in `locks`).
  Result<uint64_t> RenameChildren(RenameOp& op, RenameLocks& locks);
  // Finds the source (and replaced) inode and locks them in inode-number order.
  Status LockRenameChildren(RenameOp& op, RenameLocks& locks);
  // A replaced name's type suits the source (directory for directory), unless exchanging.
  static Status CheckRenameTypes(const RenameOp& op);
  // A replaced directory is empty; neither child is immutable or append-only.
  static Status CheckRenameChildren(const RenameOp& op);
  // The change, in one Tx: the entries (IndexGuard drops both directories' indexes unless it
  // commits), the records, then DRAM. Caller holds every lock of `op`.
  Status ApplyRename(RenameOp& op);
  // Sets the moved directories' Inode::parent after the commit (IsAncestor reads it).
  void MoveParents(const RenameOp& op) REQUIRES(rename_mu_);

  Context& ctx_;
  Xattrs& xattrs_;
  // Serialises renames that move an entry to another directory (their cycle checks walk
  // Inode::parent, which only they change). Taken before any inode lock.
  Mutex rename_mu_;
};

}  // namespace pmemfs::core
