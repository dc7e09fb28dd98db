// An inode's attributes as stat(2) shows them (ToAttr), and the chattr attributes' checks
// (layout::kInodeAttrFlags: immutable, append-only, ...), shared by the parts of fs/core that
// read or change inodes. Filesystem's GetFileFlags/SetFileFlags and the label live in
// attributes.cc too.
#pragma once

#include <string_view>

#include "fs/core/inode.h"
#include "fs/core/types.h"
#include "pmemfs/status.h"

namespace pmemfs::core {

// Permission when ip is immutable or append-only: what neither allows (`what`: the operation,
// for the message). Caller holds ip.mu (either mode).
Status CheckChangeable(const Inode& ip, std::string_view what);
// Permission when ip is immutable: a change of a directory's entries or of a file's data.
// (Inline: every write asks.)
Status ImmutableError(const Inode& ip, std::string_view what);
inline Status CheckNotImmutable(const Inode& ip, std::string_view what) {
  return ip.immutable() ? ImmutableError(ip, what) : Status::Ok();
}

// ip's attributes as stat(2) shows them (with what direct-access clients reported, leases.h).
// Caller holds ip.mu (either mode).
Attr ToAttr(const Inode& ip);

}  // namespace pmemfs::core
