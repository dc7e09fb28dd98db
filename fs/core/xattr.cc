// Extended attributes (user., trusted., security., system.posix_acl_access/default) and the
// ACL hooks of create (InheritAcl), chmod (SyncAclMode) and delete (FreeXattrs).
//
// Storage: one attribute per block of the inode's xattr chain (store::ChainKind::kXattrs).
// After the ChainHeader: a layout::XattrHead (checksum: CRC-32C of the head with checksum 0,
// then the name, then the value), the full name ("user.x"), the value. A new name appends a
// block, a new value for an existing name rewrites its block in place, a removed name frees
// its block; each change is one Tx together with the inode's ctime (and mode, for an access
// ACL). Inode::xattrs, loaded lazily by LoadXattrs, mirrors the chain (name -> value, block);
// volatile inodes keep only that map. The map changes after the commit, except in the hooks
// that run inside a caller's Tx (see each).
//
// Checks: names and sizes, namespaces, XATTR_CREATE/XATTR_REPLACE, root for trusted.*, owner
// for ACLs, user.* only on regular files and directories. Read and write permission for
// user.* and CAP_SYS_ADMIN for security.* are the kernel's (default_permissions), as is the
// final ERANGE of a reply that does not fit the caller's buffer (fs/fuse).
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cstring>
#include <optional>
#include <set>

#include "fs/core/acl.h"
#include "fs/core/fs.h"
#include "pmemfs/crc32c.h"

namespace pmemfs::core {

namespace {

using layout::InodeRecord;
using layout::XattrHead;
using Bytes = std::vector<std::byte>;
using XattrMap = std::map<std::string, XattrEntry>;

constexpr uint64_t kBodyBytes = layout::kBlockSize - sizeof(layout::ChainHeader);
static_assert(sizeof(XattrHead) + layout::kMaxNameLen + layout::kXattrMaxValue <= kBodyBytes);

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

// --- one attribute block ---------------------------------------------------------------------

// Writes the attribute into the body of `block` (after its ChainHeader) in `tx`.
void WriteBody(store::Tx& tx, uint64_t block, std::string_view name,
               std::span<const std::byte> value) {
  Bytes buf(sizeof(XattrHead) + name.size() + value.size());
  XattrHead h{};
  h.name_len = static_cast<uint8_t>(name.size());
  h.value_len = static_cast<uint16_t>(value.size());
  std::memcpy(buf.data() + sizeof h, name.data(), name.size());
  if (!value.empty()) std::memcpy(buf.data() + sizeof h + name.size(), value.data(), value.size());
  std::memcpy(buf.data(), &h, sizeof h);  // checksum 0 while summing
  h.checksum = Crc32c(buf.data(), buf.size());
  std::memcpy(buf.data(), &h, sizeof h);
  tx.Write(store::Store::BlockOffset(block) + sizeof(layout::ChainHeader), buf.data(),
           static_cast<uint32_t>(buf.size()));
}

// Adds the attribute held by chain block `block` (4 KiB at `data`) of inode `ino` to `out`.
Status ReadBody(uint64_t ino, uint64_t block, const std::byte* data, XattrMap& out) {
  const std::byte* body = data + sizeof(layout::ChainHeader);
  auto bad = [&](const std::string& what) {
    return Status::Corrupt("xattr block " + std::to_string(block) + " of inode " +
                           std::to_string(ino) + ": " + what);
  };
  XattrHead h;
  std::memcpy(&h, body, sizeof h);
  if (h.reserved0 != 0 || h.reserved1 != 0 || h.reserved2 != 0)
    return bad("reserved bytes are not zero");
  if (h.name_len == 0 || h.value_len > layout::kXattrMaxValue)
    return bad("bad name or value length");
  XattrHead zeroed = h;
  zeroed.checksum = 0;
  uint32_t crc = Crc32c(&zeroed, sizeof zeroed);
  crc = Crc32c(body + sizeof h, size_t{h.name_len} + h.value_len, crc);
  if (crc != h.checksum) return bad("checksum mismatch");
  std::string name(reinterpret_cast<const char*>(body + sizeof h), h.name_len);
  const std::byte* value = body + sizeof h + h.name_len;
  XattrEntry e{Bytes(value, value + h.value_len), block};
  if (!out.emplace(std::move(name), std::move(e)).second) return bad("duplicate name");
  return Status::Ok();
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
// names free their blocks (first, in one walk of the chain), a new value of an existing name
// rewrites its block in place, a new name appends a block; rec's chain fields change with
// them (the caller writes rec in the same Tx). Volatile inodes: nothing is written.
Result<Staged> Stage(store::Store* store, store::Tx& tx, uint64_t ino, InodeRecord& rec,
                     const XattrMap& current, std::vector<Change> changes) {
  Staged staged;
  std::set<uint64_t> victims;
  for (Change& ch : changes) {
    auto it = current.find(ch.name);
    if (!ch.value) {
      if (it != current.end() && store != nullptr) victims.insert(it->second.block);
      staged.emplace_back(std::move(ch.name), std::nullopt);
    }
  }
  if (!victims.empty()) PMEMFS_RETURN_IF_ERROR(RemoveBlocks(*store, tx, ino, rec, victims));
  for (Change& ch : changes) {
    if (!ch.value) continue;
    XattrEntry e{std::move(*ch.value), 0};
    if (store != nullptr) {
      auto it = current.find(ch.name);
      if (it != current.end()) {
        e.block = it->second.block;
      } else {
        PMEMFS_ASSIGN_OR_RETURN(e.block,
                                store->AppendChainBlock(tx, ino, rec, store::ChainKind::kXattrs));
      }
      WriteBody(tx, e.block, ch.name, e.value);
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
Result<acl::Acl> StoredAcl(const Inode& ip, std::string_view name) {
  auto it = ip.xattrs->find(std::string(name));
  if (it == ip.xattrs->end()) return acl::Acl{};
  auto parsed = acl::Parse(it->second.value);
  if (!parsed.ok())
    return Status::Corrupt(std::string(name) + " of inode " + std::to_string(ip.ino) + ": " +
                           parsed.status().message());
  return parsed;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Status Filesystem::LoadXattrs(Inode& ip) {
  if (ip.xattrs_loaded.load(std::memory_order_acquire)) return Status::Ok();
  std::lock_guard l(load_mu_);
  if (!ip.xattrs) {
    auto map = std::make_unique<XattrMap>();
    if (!ip.is_volatile() && ip.rec.xattr_head != 0) {
      PMEMFS_RETURN_IF_ERROR(store_->ForEachChainBlock(
          ip.rec.xattr_head, store::ChainKind::kXattrs, ip.ino,
          [&](uint64_t block, const std::byte* data) {
            return ReadBody(ip.ino, block, data, *map);
          }));
    }
    ip.xattrs = std::move(map);
  }
  ip.xattrs_loaded.store(true, std::memory_order_release);
  return Status::Ok();
}

Status Filesystem::SetXattr(const Caller& c, uint64_t ino, std::string_view name,
                            std::span<const std::byte> value, int flags) {
  PMEMFS_ASSIGN_OR_RETURN(Space space, Classify(name));
  if (value.size() > layout::kXattrMaxValue)
    return Status::TooBig(Quoted(name) + ": value of " + std::to_string(value.size()) +
                          " bytes (at most " + std::to_string(layout::kXattrMaxValue) + ")");
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, GetInode(ino));
  std::unique_lock lock(ip->mu);
  PMEMFS_RETURN_IF_ERROR(CheckChangeable(*ip, "change an xattr"));
  PMEMFS_RETURN_IF_ERROR(CheckChange(c, *ip, space, name));
  PMEMFS_RETURN_IF_ERROR(LoadXattrs(*ip));
  const bool exists = ip->xattrs->contains(std::string(name));
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
  return CommitXattrChanges(*ip, rec, std::move(changes));
}

Result<std::vector<std::byte>> Filesystem::GetXattr(uint64_t ino, std::string_view name) {
  PMEMFS_ASSIGN_OR_RETURN(Space space, Classify(name));
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, GetInode(ino));
  std::shared_lock lock(ip->mu);
  if (space == Space::kUser && !ip->is_reg() && !ip->is_dir())
    return Status::NoData(Quoted(name) + ": user.* only on regular files and directories");
  PMEMFS_RETURN_IF_ERROR(LoadXattrs(*ip));
  auto it = ip->xattrs->find(std::string(name));
  if (it == ip->xattrs->end())
    return Status::NoData(Quoted(name) + " not set on inode " + std::to_string(ino));
  return it->second.value;
}

Result<std::vector<std::string>> Filesystem::ListXattr(uint64_t ino) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, GetInode(ino));
  std::shared_lock lock(ip->mu);
  PMEMFS_RETURN_IF_ERROR(LoadXattrs(*ip));
  std::vector<std::string> names;
  names.reserve(ip->xattrs->size());
  for (const auto& [name, entry] : *ip->xattrs) names.push_back(name);
  return names;
}

Status Filesystem::RemoveXattr(const Caller& c, uint64_t ino, std::string_view name) {
  PMEMFS_ASSIGN_OR_RETURN(Space space, Classify(name));
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, GetInode(ino));
  std::unique_lock lock(ip->mu);
  PMEMFS_RETURN_IF_ERROR(CheckChangeable(*ip, "change an xattr"));
  PMEMFS_RETURN_IF_ERROR(CheckChange(c, *ip, space, name));
  PMEMFS_RETURN_IF_ERROR(LoadXattrs(*ip));
  if (!ip->xattrs->contains(std::string(name))) {
    if (IsAcl(space)) return Status::Ok();  // removing an absent ACL succeeds, as on ext4
    return Status::NoData(Quoted(name) + " not set on inode " + std::to_string(ino));
  }
  // Removing an access ACL leaves the mode as it is (its group bits were the mask).
  std::vector<Change> changes;
  changes.push_back({std::string(name), std::nullopt});
  return CommitXattrChanges(*ip, ip->rec, std::move(changes));
}

// One Tx: the changes staged into xattr blocks, ctime, the inode; the DRAM map after commit.
// Caller holds ip.mu exclusively and has loaded ip.xattrs.
Status Filesystem::CommitXattrChanges(Inode& ip, InodeRecord rec, std::vector<XattrChange> changes) {
  store::Tx tx = store_->Begin();
  PMEMFS_ASSIGN_OR_RETURN(Staged staged,
                          Stage(ip.is_volatile() ? nullptr : store_.get(), tx, ip.ino, rec,
                                *ip.xattrs, std::move(changes)));
  rec.ctime_ns = NowNs();
  PutInode(tx, ip, rec);
  PMEMFS_RETURN_IF_ERROR(Commit(tx, {&ip}));
  Install(*ip.xattrs, std::move(staged));
  ip.rec = rec;
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Hooks of create, chmod and delete: they run inside the caller's Tx.

// Caller holds dir.mu exclusively; `child` is new and not visible to anyone else, `rec` its
// working record. Sets rec.mode (default ACL or umask), writes the inherited ACLs (chain
// blocks appended under child.ino, rec's xattr fields updated) and installs them in
// child.xattrs at once (if `tx` then fails, the child is discarded). The caller writes `rec`
// in `tx` afterwards (PutInode) and keeps it as child.rec after the commit.
Status Filesystem::InheritAcl(store::Tx& tx, const Caller& c, Inode& dir, Inode& child,
                              InodeRecord& rec) {
  if (S_ISLNK(rec.mode)) return Status::Ok();  // 0777, never masked, no ACLs
  PMEMFS_RETURN_IF_ERROR(LoadXattrs(dir));
  PMEMFS_ASSIGN_OR_RETURN(acl::Acl parent_default, StoredAcl(dir, acl::kDefaultXattr));
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
                            Stage(child.is_volatile() ? nullptr : store_.get(), tx, child.ino,
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
Status Filesystem::SyncAclMode(store::Tx& tx, Inode& ip, uint32_t mode) {
  PMEMFS_RETURN_IF_ERROR(LoadXattrs(ip));
  PMEMFS_ASSIGN_OR_RETURN(acl::Acl access, StoredAcl(ip, acl::kAccessXattr));
  if (access.empty()) return Status::Ok();
  PMEMFS_ASSIGN_OR_RETURN(acl::Acl updated, acl::Chmod(access, mode));
  std::vector<Change> changes;
  changes.push_back({std::string(acl::kAccessXattr), acl::Serialize(updated)});
  InodeRecord rec = ip.rec;  // an in-place rewrite changes no chain field
  PMEMFS_ASSIGN_OR_RETURN(Staged staged,
                          Stage(ip.is_volatile() ? nullptr : store_.get(), tx, ip.ino, rec,
                                *ip.xattrs, std::move(changes)));
  if (ip.is_volatile()) {
    Install(*ip.xattrs, std::move(staged));
  } else {
    ip.xattrs_loaded.store(false, std::memory_order_relaxed);
    ip.xattrs.reset();
  }
  return Status::Ok();
}

// Caller holds ip.mu exclusively; the inode is being deleted in `tx`.
Status Filesystem::FreeXattrs(store::Tx& tx, Inode& ip, InodeRecord& rec) {
  if (!ip.is_volatile() && rec.xattr_head != 0) {
    uint64_t freed = 0;
    PMEMFS_RETURN_IF_ERROR(store_->ForEachChainBlock(
        rec.xattr_head, store::ChainKind::kXattrs, ip.ino, [&](uint64_t block, const std::byte*) {
          store_->FreeBlocks(tx, {block, 1});
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

}  // namespace pmemfs::core
