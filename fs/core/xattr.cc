// Extended attributes (user., trusted., security., system.posix_acl_access/default) and the
// ACL hooks of create (InheritAcl), chmod (SyncAclMode) and delete (FreeXattrs).
//
// Storage: one attribute per block of the inode's xattr chain (store::ChainKind::kXattrs), in
// the format of fs/store/xattr_block.h: name and value in the block, or a value longer than
// layout::kXattrMaxValue (up to 64 KiB, XATTR_SIZE_MAX) in data blocks of its own that the block
// lists. A new name appends a block, a new value for an existing name rewrites its block in
// place (and replaces its value blocks), a removed name frees its block and value blocks; each
// change is one Tx together with the inode's ctime (and mode, for an access ACL). Inode::xattrs,
// loaded lazily by LoadXattrs, mirrors the chain (name -> value, block); a long value stays on
// the device until asked for (ValueOf). Volatile inodes keep only that map, values included.
// The map changes after the commit, except in the hooks that run inside a caller's Tx (see
// each).
//
// Limits, as Linux's: a value of at most XATTR_SIZE_MAX bytes (E2BIG), names whose list
// (listxattr: each name and a NUL) fits XATTR_LIST_MAX bytes (ENOSPC for one more).
//
// Checks: names and sizes, namespaces, XATTR_CREATE/XATTR_REPLACE, root for trusted.*, owner
// for ACLs, user.* only on regular files and directories. Read and write permission for
// user.* and CAP_SYS_ADMIN for security.* are the kernel's (default_permissions), as is the
// final ERANGE of a reply that does not fit the caller's buffer (fs/fuse).
#include <linux/limits.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cstring>
#include <optional>
#include <set>

#include "fs/core/acl.h"
#include "fs/core/xattrs.h"

#include "fs/core/attributes.h"
#include "fs/store/xattr_block.h"

namespace pmemfs::core {

namespace {

using layout::InodeRecord;
using layout::XattrHead;
using Bytes = std::vector<std::byte>;
using XattrMap = std::map<std::string, XattrEntry>;

static_assert(layout::kXattrMaxSize == XATTR_SIZE_MAX);
constexpr uint64_t kListMax = XATTR_LIST_MAX;  // bytes of a listxattr reply

enum class Space { kUser, kTrusted, kSecurity, kAclAccess, kAclDefault };

std::string Quoted(std::string_view name) { return "xattr \"" + std::string(name) + "\""; }

// The namespace of a full attribute name, or why it cannot be one (errors as Linux gives them:
// ERANGE for an empty or too long name, EOPNOTSUPP for an unknown namespace, EINVAL for a bare
// prefix).
Result<Space> Classify(std::string_view name) {
  if (name.empty()) return Status::Range("empty xattr name");
  if (name.size() > layout::kMaxNameLen)
    return Status::Range("xattr name of " + std::to_string(name.size()) + " bytes (at most 255)");
  if (name.find('\0') != std::string_view::npos)
    return Status::InvalidArgument("xattr name contains a NUL byte");
  if (name == acl::kAccessXattr) return Space::kAclAccess;
  if (name == acl::kDefaultXattr) return Space::kAclDefault;
  static constexpr struct {
    std::string_view prefix;
    Space space;
  } kPrefixes[] = {{"user.", Space::kUser},
                   {"trusted.", Space::kTrusted},
                   {"security.", Space::kSecurity}};
  for (const auto& p : kPrefixes) {
    if (!name.starts_with(p.prefix)) continue;
    if (name.size() == p.prefix.size())
      return Status::InvalidArgument(Quoted(name) + " has nothing after its prefix");
    return p.space;
  }
  return Status::Unsupported(Quoted(name) + ": namespace not supported");
}

bool IsAcl(Space s) { return s == Space::kAclAccess || s == Space::kAclDefault; }

// May `c` change attributes of `space` on `ip`? (Caller holds ip.mu.)
Status CheckChange(const Caller& c, const Inode& ip, Space space, std::string_view name) {
  switch (space) {
    case Space::kTrusted:
      if (c.uid != 0) return Status::Permission(Quoted(name) + ": trusted.* needs root");
      break;
    case Space::kUser:
      if (!ip.is_reg() && !ip.is_dir())
        return Status::Permission(Quoted(name) +
                                  ": user.* only on regular files and directories");
      // In a sticky directory only its owner (and root) may change user.* attributes.
      if (ip.is_dir() && (ip.rec.mode & S_ISVTX) && c.uid != 0 && c.uid != ip.rec.uid)
        return Status::Permission(Quoted(name) + ": sticky directory owned by someone else");
      break;
    case Space::kAclAccess:
    case Space::kAclDefault:
      if (ip.is_symlink()) return Status::Unsupported("symbolic links have no ACLs");
      if (c.uid != 0 && c.uid != ip.rec.uid)
        return Status::Permission("only the owner may change the ACL of inode " +
                                  std::to_string(ip.ino));
      break;
    case Space::kSecurity:
      break;
  }
  return Status::Ok();
}

Status CheckFlags(int flags, bool exists, std::string_view name) {
  if (flags & ~(XATTR_CREATE | XATTR_REPLACE))
    return Status::InvalidArgument("setxattr flags " + std::to_string(flags));
  if ((flags & XATTR_CREATE) && exists) return Status::AlreadyExists(Quoted(name) + " exists");
  if ((flags & XATTR_REPLACE) && !exists) return Status::NoData(Quoted(name) + " does not exist");
  return Status::Ok();
}

// --- one attribute ----------------------------------------------------------------------------

// The value of attribute `e` of inode `ino`: from the map, or read from its blocks. Caller holds
// the inode's mu (either mode).
Result<Bytes> ValueOf(const store::Store& store, uint64_t ino, const XattrEntry& e) {
  if (e.out.empty()) return e.value;
  const mapping::Device& dev = store.device();
  Result<Bytes> v = store::ReadXattrValue(
      [&](uint64_t off, void* dst, uint64_t len) { dev.Read(off, dst, len); }, e.out);
  if (!v.ok())
    return Status::Corrupt("inode " + std::to_string(ino) + ": " + v.status().message());
  return v;
}

// --- changes of an inode's attributes ----------------------------------------------------------

using Change = XattrChange;
// What to do to the DRAM map once the Tx has committed: name -> new entry, or erase.
using Staged = std::vector<std::pair<std::string, std::optional<XattrEntry>>>;

// Frees the chain blocks `victims` of inode `ino` (persistent) in `tx`, updating `rec`.
Status RemoveBlocks(store::Store& store, store::Tx& tx, uint64_t ino, InodeRecord& rec,
                    const std::set<uint64_t>& victims) {
  std::vector<uint64_t> chain;
  PMEMFS_RETURN_IF_ERROR(store.ForEachChainBlock(
      rec.xattr_head, store::ChainKind::kXattrs, ino, [&](uint64_t block, const std::byte*) {
        chain.push_back(block);
        return Status::Ok();
      }));
  uint64_t prev = 0;
  size_t removed = 0;
  for (uint64_t block : chain) {
    if (!victims.contains(block)) {
      prev = block;
      continue;
    }
    PMEMFS_RETURN_IF_ERROR(
        store.RemoveChainBlock(tx, ino, rec, store::ChainKind::kXattrs, prev, block));
    removed++;
  }
  if (removed != victims.size())
    return Status::Corrupt("xattr chain of inode " + std::to_string(ino) +
                           " lacks a block its attributes are in");
  return Status::Ok();
}

// Writes `changes` to inode `ino` in `tx` and returns what to install in its map after the
// commit. `current` is the map as committed. Persistent inodes (`store` not null): removed
// names free their blocks and value blocks (first, in one walk of the chain), a new value of an
// existing name rewrites its block in place and replaces its value blocks, a new name appends a
// block; rec's chain fields and block count change with them (the caller writes rec in the same
// Tx). A long value is written to its new blocks now (store::WriteXattrBlock) and left out of
// the staged map entry. Volatile inodes: nothing is written.
Result<Staged> Stage(store::Store* store, store::Tx& tx, uint64_t ino, InodeRecord& rec,
                     const XattrMap& current, std::vector<Change> changes) {
  Staged staged;
  std::set<uint64_t> victims;
  for (Change& ch : changes) {
    if (ch.value) continue;
    auto it = current.find(ch.name);
    if (it != current.end() && store != nullptr) {
      victims.insert(it->second.block);
      store::FreeXattrValue(*store, tx, rec, it->second.out);
    }
    staged.emplace_back(std::move(ch.name), std::nullopt);
  }
  if (!victims.empty()) PMEMFS_RETURN_IF_ERROR(RemoveBlocks(*store, tx, ino, rec, victims));
  for (Change& ch : changes) {
    if (!ch.value) continue;
    XattrEntry e{std::move(*ch.value), 0, {}};
    if (store != nullptr) {
      auto it = current.find(ch.name);
      if (it != current.end()) {
        e.block = it->second.block;
        // Free at the commit, not reusable before: the new value gets other blocks.
        store::FreeXattrValue(*store, tx, rec, it->second.out);
      } else {
        PMEMFS_ASSIGN_OR_RETURN(e.block,
                                store->AppendChainBlock(tx, ino, rec, store::ChainKind::kXattrs));
      }
      PMEMFS_ASSIGN_OR_RETURN(e.out,
                              store::WriteXattrBlock(*store, tx, ino, e.block, rec, ch.name, e.value));
      if (!e.out.empty()) Bytes().swap(e.value);  // on the device; read when asked for
    }
    staged.emplace_back(std::move(ch.name), std::move(e));
  }
  return staged;
}

void Install(XattrMap& map, Staged staged) {
  for (auto& [name, entry] : staged) {
    if (entry) {
      map[name] = std::move(*entry);
    } else {
      map.erase(name);
    }
  }
}

// The stored ACL `name` of inode `ip` (empty: none). Caller holds ip.mu, xattrs loaded.
Result<acl::Acl> StoredAcl(const store::Store& store, const Inode& ip, std::string_view name) {
  auto it = ip.xattrs->find(std::string(name));
  if (it == ip.xattrs->end()) return acl::Acl{};
  PMEMFS_ASSIGN_OR_RETURN(Bytes value, ValueOf(store, ip.ino, it->second));
  auto parsed = acl::Parse(value);
  if (!parsed.ok())
    return Status::Corrupt(std::string(name) + " of inode " + std::to_string(ip.ino) + ": " +
                           parsed.status().message());
  return parsed;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Status Xattrs::Set(const Caller& c, uint64_t ino, std::string_view name,
                            std::span<const std::byte> value, int flags) {
  PMEMFS_ASSIGN_OR_RETURN(Space space, Classify(name));
  if (value.size() > layout::kXattrMaxSize)
    return Status::TooBig(Quoted(name) + ": value of " + std::to_string(value.size()) +
                          " bytes (at most " + std::to_string(layout::kXattrMaxSize) + ")");
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(ino));
  std::unique_lock lock(ip->mu);
  PMEMFS_RETURN_IF_ERROR(CheckChangeable(*ip, "change an xattr"));
  PMEMFS_RETURN_IF_ERROR(CheckChange(c, *ip, space, name));
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadXattrs(*ip));
  const bool exists = ip->xattrs->contains(std::string(name));
  if (!exists) {  // one more name must still fit a listxattr reply
    uint64_t list = name.size() + 1;
    for (const auto& [n, e] : *ip->xattrs) list += n.size() + 1;
    if (list > kListMax)
      return Status::NoSpace(Quoted(name) + ": the names of inode " + std::to_string(ino) +
                             "'s xattrs would need " + std::to_string(list) +
                             " bytes, more than a list holds (" + std::to_string(kListMax) + ")");
  }
  InodeRecord rec = ip->rec;
  std::vector<Change> changes;
  if (IsAcl(space)) {
    PMEMFS_ASSIGN_OR_RETURN(acl::Acl a, acl::Parse(value));
    if (space == Space::kAclDefault && !ip->is_dir()) {
      if (a.empty()) return Status::Ok();  // as the kernel: removing it is a no-op
      return Status::AccessDenied("a default ACL needs a directory");
    }
    PMEMFS_RETURN_IF_ERROR(CheckFlags(flags, exists, name));
    bool store_it = !a.empty();
    if (space == Space::kAclAccess && !a.empty()) {
      // posix_acl_update_mode: the mode follows the ACL; an ACL the mode says all of is not
      // kept; setgid goes when the caller is outside the file's group (and not root).
      uint32_t mode = rec.mode;
      store_it = !acl::EquivMode(a, &mode);
      if (c.uid != 0 && c.gid != rec.gid) mode &= ~uint32_t{S_ISGID};
      rec.mode = mode;
    }
    if (store_it) {
      changes.push_back({std::string(name), acl::Serialize(a)});
    } else if (exists) {
      changes.push_back({std::string(name), std::nullopt});
    } else if (rec.mode == ip->rec.mode) {
      return Status::Ok();  // nothing stored, nothing to store, mode unchanged
    }
  } else {
    PMEMFS_RETURN_IF_ERROR(CheckFlags(flags, exists, name));
    changes.push_back({std::string(name), Bytes(value.begin(), value.end())});
  }
  return CommitChanges(*ip, rec, std::move(changes));
}

Result<std::vector<std::byte>> Xattrs::Get(uint64_t ino, std::string_view name) {
  PMEMFS_ASSIGN_OR_RETURN(Space space, Classify(name));
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(ino));
  std::shared_lock lock(ip->mu);
  if (space == Space::kUser && !ip->is_reg() && !ip->is_dir())
    return Status::NoData(Quoted(name) + ": user.* only on regular files and directories");
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadXattrs(*ip));
  auto it = ip->xattrs->find(std::string(name));
  if (it == ip->xattrs->end())
    return Status::NoData(Quoted(name) + " not set on inode " + std::to_string(ino));
  return ValueOf(*ctx_.store, ino, it->second);
}

Result<std::vector<std::string>> Xattrs::List(uint64_t ino) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(ino));
  std::shared_lock lock(ip->mu);
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadXattrs(*ip));
  std::vector<std::string> names;
  names.reserve(ip->xattrs->size());
  for (const auto& [name, entry] : *ip->xattrs) names.push_back(name);
  return names;
}

Status Xattrs::Remove(const Caller& c, uint64_t ino, std::string_view name) {
  PMEMFS_ASSIGN_OR_RETURN(Space space, Classify(name));
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(ino));
  std::unique_lock lock(ip->mu);
  PMEMFS_RETURN_IF_ERROR(CheckChangeable(*ip, "change an xattr"));
  PMEMFS_RETURN_IF_ERROR(CheckChange(c, *ip, space, name));
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadXattrs(*ip));
  if (!ip->xattrs->contains(std::string(name))) {
    if (IsAcl(space)) return Status::Ok();  // removing an absent ACL succeeds, as on ext4
    return Status::NoData(Quoted(name) + " not set on inode " + std::to_string(ino));
  }
  // Removing an access ACL leaves the mode as it is (its group bits were the mask).
  std::vector<Change> changes;
  changes.push_back({std::string(name), std::nullopt});
  return CommitChanges(*ip, ip->rec, std::move(changes));
}

// One Tx: the changes staged into xattr blocks, ctime, the inode; the DRAM map after commit.
// Caller holds ip.mu exclusively and has loaded ip.xattrs.
Status Xattrs::CommitChanges(Inode& ip, InodeRecord rec, std::vector<XattrChange> changes) {
  store::Tx tx = ctx_.store->Begin();
  PMEMFS_ASSIGN_OR_RETURN(Staged staged,
                          Stage(ip.is_volatile() ? nullptr : ctx_.store.get(), tx, ip.ino, rec,
                                *ip.xattrs, std::move(changes)));
  rec.ctime_ns = Context::NowNs();
  ctx_.PutInode(tx, ip, rec);
  PMEMFS_RETURN_IF_ERROR(ctx_.Commit(tx, {&ip}));
  Install(*ip.xattrs, std::move(staged));
  ip.rec = rec;
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Hooks of create, chmod and delete: they run inside the caller's Tx (but DropXattrs).

// Caller holds dir.mu exclusively; `child` is new and not visible to anyone else, `rec` its
// working record. Sets rec.mode (default ACL or umask), writes the inherited ACLs (chain
// blocks appended under child.ino, rec's xattr fields updated) and installs them in
// child.xattrs at once (if `tx` then fails, the child is discarded). The caller writes `rec`
// in `tx` afterwards (PutInode) and keeps it as child.rec after the commit.
Status Xattrs::InheritAcl(store::Tx& tx, const Caller& c, Inode& dir, Inode& child,
                              InodeRecord& rec) {
  if (S_ISLNK(rec.mode)) return Status::Ok();  // 0777, never masked, no ACLs
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadXattrs(dir));
  PMEMFS_ASSIGN_OR_RETURN(acl::Acl parent_default, StoredAcl(*ctx_.store, dir, acl::kDefaultXattr));
  PMEMFS_ASSIGN_OR_RETURN(acl::Inherited inh, acl::Inherit(parent_default, rec.mode, c.umask));
  rec.mode = inh.mode;
  if (!child.xattrs) child.xattrs = std::make_unique<XattrMap>();
  std::vector<Change> changes;
  if (!inh.access.empty())
    changes.push_back({std::string(acl::kAccessXattr), acl::Serialize(inh.access)});
  if (!inh.default_acl.empty())
    changes.push_back({std::string(acl::kDefaultXattr), acl::Serialize(inh.default_acl)});
  if (!changes.empty()) {
    PMEMFS_ASSIGN_OR_RETURN(Staged staged,
                            Stage(child.is_volatile() ? nullptr : ctx_.store.get(), tx, child.ino,
                                  rec, *child.xattrs, std::move(changes)));
    Install(*child.xattrs, std::move(staged));
  }
  child.xattrs_loaded.store(true, std::memory_order_release);
  return Status::Ok();
}

// Caller holds ip.mu exclusively and commits `tx` with the new mode. Rewrites the access ACL
// (if any) in place. Persistent inodes: the map is dropped and reloads from the device, which
// then holds whatever the caller's Tx left. Volatile inodes: the map changes at once, so call
// this after every check that can still make the chmod fail.
Status Xattrs::SyncAclMode(store::Tx& tx, Inode& ip, uint32_t mode) {
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadXattrs(ip));
  PMEMFS_ASSIGN_OR_RETURN(acl::Acl access, StoredAcl(*ctx_.store, ip, acl::kAccessXattr));
  if (access.empty()) return Status::Ok();
  PMEMFS_ASSIGN_OR_RETURN(acl::Acl updated, acl::Chmod(access, mode));
  std::vector<Change> changes;
  changes.push_back({std::string(acl::kAccessXattr), acl::Serialize(updated)});
  // An in-place rewrite of an ACL of the same size changes no chain field or block count.
  InodeRecord rec = ip.rec;
  PMEMFS_ASSIGN_OR_RETURN(Staged staged,
                          Stage(ip.is_volatile() ? nullptr : ctx_.store.get(), tx, ip.ino, rec,
                                *ip.xattrs, std::move(changes)));
  if (ip.is_volatile()) {
    Install(*ip.xattrs, std::move(staged));
  } else {
    ip.xattrs_loaded.store(false, std::memory_order_relaxed);
    ip.xattrs.reset();
  }
  return Status::Ok();
}

// Caller holds ip.mu exclusively; the inode is being deleted in `tx`. Frees the chain and
// every value's blocks; a block that does not decode keeps its value blocks (its extents cannot
// be trusted: pmemfs-fsck frees them as leaked).
Status Xattrs::Free(store::Tx& tx, Inode& ip, InodeRecord& rec) {
  if (!ip.is_volatile() && rec.xattr_head != 0) {
    const layout::Superblock& sb = ctx_.store->superblock();
    const store::XattrBounds bounds{sb.data_start, sb.backup_block, true,
                                      store::MovedBitmapArea(sb)};
    uint64_t freed = 0;
    PMEMFS_RETURN_IF_ERROR(ctx_.store->ForEachChainBlock(
        rec.xattr_head, store::ChainKind::kXattrs, ip.ino,
        [&](uint64_t block, const std::byte* data) {
          Result<store::XattrBlock> x = store::DecodeXattrBlock(data, block, bounds);
          if (x.ok()) store::FreeXattrValue(*ctx_.store, tx, rec, x->out);
          ctx_.store->FreeBlocks(tx, {block, 1});
          freed++;
          return Status::Ok();
        }));
    rec.xattr_head = 0;
    rec.blocks -= std::min(rec.blocks, freed);
  }
  ip.xattrs = std::make_unique<XattrMap>();
  ip.xattrs_loaded.store(true, std::memory_order_release);
  return Status::Ok();
}

Status Xattrs::Drop(Inode& ip) {
  InodeRecord rec = ip.rec;
  store::Tx tx = ctx_.store->Begin();
  PMEMFS_RETURN_IF_ERROR(Free(tx, ip, rec));
  ctx_.PutInode(tx, ip, rec);
  PMEMFS_RETURN_IF_ERROR(ctx_.Commit(tx, {&ip}));
  ip.rec = rec;
  return Status::Ok();
}

}  // namespace pmemfs::core
