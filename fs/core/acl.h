// POSIX ACLs as Linux keeps them in the system.posix_acl_access and system.posix_acl_default
// extended attributes, with the kernel's rules for them (fs/posix_acl.c), as pure functions.
//
//   Parse(value) -> Acl            the xattr value, validated (what setxattr(2) accepts)
//   Serialize(acl) -> value        the canonical xattr value
//   EquivMode(acl, &mode)          setting an access ACL: the mode it implies, and whether the
//                                  ACL says no more than that mode (then it is not stored)
//   Chmod(acl, mode)               chmod(2) of a file with an access ACL
//   Inherit(parent_default, ...)   create: the new inode's mode and ACLs
//   Permits(acl, ...)              the permission check an ACL gives
//
// The xattr format (little-endian): a u32 version (kVersion), then 8-byte entries
// {u16 tag, u16 perm, u32 id}; id is kNoId for entries that name no user or group. A valid
// ACL has one USER_OBJ, the USERs, one GROUP_OBJ, the GROUPs, a MASK (required when there are
// USERs or GROUPs), one OTHER, in that order, with named ids strictly ascending.
//
// Independent of the rest of fs/core: no inodes, no store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "pmemfs/status.h"

namespace pmemfs::core::acl {

inline constexpr std::string_view kAccessXattr = "system.posix_acl_access";
inline constexpr std::string_view kDefaultXattr = "system.posix_acl_default";

inline constexpr uint32_t kVersion = 2;
inline constexpr uint32_t kNoId = 0xffffffff;
inline constexpr size_t kHeaderSize = 4;
inline constexpr size_t kEntrySize = 8;

enum Tag : uint16_t {
  kUserObj = 0x01,
  kUser = 0x02,
  kGroupObj = 0x04,
  kGroup = 0x08,
  kMask = 0x10,
  kOther = 0x20,
};

// Entry permissions: the same bits as R_OK, W_OK, X_OK and as one rwx triplet of a mode.
enum Perm : uint16_t { kExecute = 1, kWrite = 2, kRead = 4 };

struct Entry {
  uint16_t tag = 0;    // Tag
  uint16_t perm = 0;   // Perm bits
  uint32_t id = kNoId;  // uid (kUser), gid (kGroup); kNoId otherwise
  bool operator==(const Entry&) const = default;
};

// Entries in canonical order. Empty: no ACL.
using Acl = std::vector<Entry>;

// Parses an xattr value. An empty value, or a header with no entries, is the empty ACL
// (setting it removes the ACL, as the kernel does). InvalidArgument for a size that is not a
// header plus whole entries, an unknown tag or an invalid ACL (Validate); Unsupported for a
// version other than kVersion (EOPNOTSUPP, like the kernel).
Result<Acl> Parse(std::span<const std::byte> value);
// The xattr value of `acl` (ids of unnamed entries written as kNoId).
std::vector<std::byte> Serialize(const Acl& acl);
// Checks the structure described at the top of this file; InvalidArgument names what is wrong.
// The empty ACL is valid (no ACL).
Status Validate(const Acl& acl);

// The three-entry ACL that says what the permission bits of `mode` say.
Acl FromMode(uint32_t mode);
// posix_acl_equiv_mode: sets the permission bits of *mode (the rest is kept) to those `acl`
// implies: owner from USER_OBJ, group from MASK or else GROUP_OBJ, other from OTHER. Returns
// true when the ACL is equivalent to them (no named entries and no MASK): such an access ACL
// is not stored. `acl` must be valid and not empty.
bool EquivMode(const Acl& acl, uint32_t* mode);
// posix_acl_chmod: the access ACL after chmod to `mode`: USER_OBJ, OTHER and MASK (or
// GROUP_OBJ when there is no MASK) take the mode's bits; named entries are kept. Corrupt when
// `acl` has neither MASK nor GROUP_OBJ.
Result<Acl> Chmod(const Acl& acl, uint32_t mode);

struct Inherited {
  uint32_t mode = 0;   // the create mode after the default ACL or the umask
  Acl access;          // the new inode's access ACL (empty: none)
  Acl default_acl;     // the new inode's default ACL (directories; empty: none)
};
// posix_acl_create: what a new inode of `mode` (S_IFMT included) created in a directory whose
// default ACL is `parent_default` gets. No default ACL: mode &= ~umask, no ACLs. Otherwise the
// umask is ignored; the default ACL masked by the mode's permission bits becomes the access
// ACL (dropped when equivalent to the resulting mode), the mode's bits are masked by the ACL,
// and directories inherit the default ACL. Symbolic links get neither. Corrupt when
// `parent_default` has neither MASK nor GROUP_OBJ.
Result<Inherited> Inherit(const Acl& parent_default, uint32_t mode, uint32_t umask);

// posix_acl_permission: whether `acl` (a valid access ACL of a file owned by file_uid:file_gid)
// grants `want` (Perm bits) to a caller `uid` in `groups`. Privilege (root) is the caller's
// business, as is the owner check when it is done from the mode bits first.
bool Permits(const Acl& acl, uint32_t file_uid, uint32_t file_gid, uint32_t uid,
             std::span<const uint32_t> groups, uint16_t want);

}  // namespace pmemfs::core::acl
