// Xattrs: extended attributes (user., trusted., security., system.posix_acl_access/default) of
// the inodes in the cache, and the ACL hooks of create (InheritAcl), chmod (SyncAclMode) and
// delete (Free, Drop). xattr.cc says how they are stored; acl.h parses and applies ACLs.
//
// Locks: the inode's `mu` (exclusive to change, shared to read). The hooks run inside an
// operation that holds it (see each).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fs/core/context.h"
#include "fs/core/inode.h"
#include "fs/core/types.h"
#include "fs/store/store.h"
#include "pmemfs/status.h"

namespace pmemfs::core {

class Xattrs {
 public:
  // `ctx` must outlive this; its cache and store are used from the first call on.
  explicit Xattrs(Context& ctx) : ctx_(ctx) {}

  // Full names ("user.x", "system.posix_acl_access", ...). flags: XATTR_CREATE / XATTR_REPLACE.
  Status Set(const Caller& c, uint64_t ino, std::string_view name,
             std::span<const std::byte> value, int flags);
  Result<std::vector<std::byte>> Get(uint64_t ino, std::string_view name);
  Result<std::vector<std::string>> List(uint64_t ino);
  Status Remove(const Caller& c, uint64_t ino, std::string_view name);

  // On create: applies the parent's default ACL (or the umask) to `rec.mode` and writes the
  // inherited ACL xattrs of the new inode into `tx` (persistent) or its cache. Caller holds
  // dir.mu exclusively.
  Status InheritAcl(store::Tx& tx, const Caller& c, Inode& dir, Inode& child,
                    layout::InodeRecord& rec);
  // chmod keeps system.posix_acl_access in step with the mode bits (in `tx`). Caller holds
  // ip.mu exclusively.
  Status SyncAclMode(store::Tx& tx, Inode& ip, uint32_t mode);
  // Frees the xattr blocks of an inode being deleted (in `tx`). Caller holds ip.mu exclusively.
  Status Free(store::Tx& tx, Inode& ip, layout::InodeRecord& rec);
  // Frees them in a Tx of their own: an unlinked, closed inode the kernel has not forgotten yet.
  // Caller holds ip.mu exclusively.
  Status Drop(Inode& ip);

 private:
  // Applies `changes` to ip's attributes in one Tx (with `rec`, ctime updated) and to the DRAM
  // map once it committed. Caller holds ip.mu exclusively, xattrs loaded.
  Status CommitChanges(Inode& ip, layout::InodeRecord rec, std::vector<XattrChange> changes);

  Context& ctx_;
};

}  // namespace pmemfs::core
