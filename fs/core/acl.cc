// POSIX ACL rules, after the kernel's fs/posix_acl.c (posix_acl_valid, posix_acl_equiv_mode,
// posix_acl_chmod, posix_acl_create, posix_acl_permission).
#include "fs/core/acl.h"

#include <sys/stat.h>

#include <algorithm>
#include <string>

namespace pmemfs::core::acl {

namespace {

constexpr uint32_t kPermBits = 07;

uint32_t GetLe(const std::byte* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | std::to_integer<uint32_t>(p[i]);
  return v;
}

void PutLe(std::byte* p, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = std::byte((v >> (8 * i)) & 0xff);
}

bool IsNamed(uint16_t tag) { return tag == kUser || tag == kGroup; }

std::string Describe(size_t i, const Entry& e) {
  return "ACL entry " + std::to_string(i) + " (tag " + std::to_string(e.tag) + ")";
}

// posix_acl_create_masq: masks `acl` by the permission bits of *mode and *mode by `acl`.
// Returns whether the result is not equivalent to the mode (named entries or a mask).
Result<bool> CreateMasq(Acl& acl, uint32_t* mode_p) {
  uint32_t mode = *mode_p;
  Entry* group_obj = nullptr;
  Entry* mask_obj = nullptr;
  bool not_equiv = false;
  for (Entry& e : acl) {
    switch (e.tag) {
      case kUserObj:
        e.perm &= (mode >> 6) & kPermBits;
        mode &= (uint32_t{e.perm} << 6) | ~uint32_t{S_IRWXU};
        break;
      case kUser:
      case kGroup:
        not_equiv = true;
        break;
      case kGroupObj:
        group_obj = &e;
        break;
      case kOther:
        e.perm &= mode & kPermBits;
        mode &= e.perm | ~uint32_t{S_IRWXO};
        break;
      case kMask:
        mask_obj = &e;
        not_equiv = true;
        break;
      default:
        return Status::Corrupt("ACL has an unknown tag " + std::to_string(e.tag));
    }
  }
  Entry* g = mask_obj != nullptr ? mask_obj : group_obj;
  if (g == nullptr) return Status::Corrupt("ACL has neither a mask nor a group entry");
  g->perm &= (mode >> 3) & kPermBits;
  mode &= (uint32_t{g->perm} << 3) | ~uint32_t{S_IRWXG};
  *mode_p = mode;
  return not_equiv;
}

}  // namespace

Status Validate(const Acl& acl) {
  // The state machine of posix_acl_valid, plus strictly ascending ids among named entries
  // (what acl_valid(3) and setfacl guarantee: sorted, no duplicates).
  enum { kWantUserObj, kInUsers, kInGroups, kWantOther, kDone } state = kWantUserObj;
  bool needs_mask = false;
  bool has_prev_id = false;
  uint32_t prev_id = 0;
  for (size_t i = 0; i < acl.size(); i++) {
    const Entry& e = acl[i];
    if (e.perm & ~kPermBits) return Status::InvalidArgument(Describe(i, e) + " has bad permissions");
    if (IsNamed(e.tag)) {
      if (e.id == kNoId) return Status::InvalidArgument(Describe(i, e) + " has no id");
      if (has_prev_id && e.id <= prev_id)
        return Status::InvalidArgument(Describe(i, e) + " is out of order or a duplicate");
      has_prev_id = true;
      prev_id = e.id;
      needs_mask = true;
    }
    bool ok = false;
    switch (e.tag) {
      case kUserObj:
        ok = state == kWantUserObj;
        state = kInUsers;
        break;
      case kUser:
        ok = state == kInUsers;
        break;
      case kGroupObj:
        ok = state == kInUsers;
        state = kInGroups;
        has_prev_id = false;
        break;
      case kGroup:
        ok = state == kInGroups;
        break;
      case kMask:
        ok = state == kInGroups;
        state = kWantOther;
        break;
      case kOther:
        if (state == kInGroups && needs_mask)
          return Status::InvalidArgument("ACL with named entries has no mask entry");
        ok = state == kWantOther || state == kInGroups;
        state = kDone;
        break;
      default:
        return Status::InvalidArgument(Describe(i, e) + ": unknown tag");
    }
    if (!ok) return Status::InvalidArgument(Describe(i, e) + " is misplaced or repeated");
  }
  if (!acl.empty() && state != kDone)
    return Status::InvalidArgument("ACL lacks a required entry (owner, group or other)");
  return Status::Ok();
}

Result<Acl> Parse(std::span<const std::byte> value) {
  Acl acl;
  if (value.empty()) return acl;
  if (value.size() < kHeaderSize || (value.size() - kHeaderSize) % kEntrySize != 0)
    return Status::InvalidArgument("ACL of " + std::to_string(value.size()) +
                                   " bytes is not a header and whole entries");
  uint32_t version = GetLe(value.data(), 4);
  if (version != kVersion)
    return Status::Unsupported("ACL version " + std::to_string(version) + " (expected 2)");
  size_t count = (value.size() - kHeaderSize) / kEntrySize;
  acl.reserve(count);
  for (size_t i = 0; i < count; i++) {
    const std::byte* p = value.data() + kHeaderSize + i * kEntrySize;
    Entry e;
    e.tag = static_cast<uint16_t>(GetLe(p, 2));
    e.perm = static_cast<uint16_t>(GetLe(p + 2, 2));
    e.id = IsNamed(e.tag) ? GetLe(p + 4, 4) : kNoId;  // the kernel ignores unnamed ids
    acl.push_back(e);
  }
  PMEMFS_RETURN_IF_ERROR(Validate(acl));
  return acl;
}

std::vector<std::byte> Serialize(const Acl& acl) {
  std::vector<std::byte> out(kHeaderSize + acl.size() * kEntrySize);
  PutLe(out.data(), kVersion, 4);
  for (size_t i = 0; i < acl.size(); i++) {
    std::byte* p = out.data() + kHeaderSize + i * kEntrySize;
    PutLe(p, acl[i].tag, 2);
    PutLe(p + 2, acl[i].perm, 2);
    PutLe(p + 4, IsNamed(acl[i].tag) ? acl[i].id : kNoId, 4);
  }
  return out;
}

Acl FromMode(uint32_t mode) {
  return {{kUserObj, static_cast<uint16_t>((mode >> 6) & kPermBits), kNoId},
          {kGroupObj, static_cast<uint16_t>((mode >> 3) & kPermBits), kNoId},
          {kOther, static_cast<uint16_t>(mode & kPermBits), kNoId}};
}

bool EquivMode(const Acl& acl, uint32_t* mode) {
  uint32_t bits = 0;
  bool equiv = true;
  for (const Entry& e : acl) {
    switch (e.tag) {
      case kUserObj:
        bits |= uint32_t{e.perm & kPermBits} << 6;
        break;
      case kGroupObj:
        bits |= uint32_t{e.perm & kPermBits} << 3;
        break;
      case kOther:
        bits |= e.perm & kPermBits;
        break;
      case kMask:  // comes after GROUP_OBJ: the group bits are the mask's
        bits = (bits & ~uint32_t{S_IRWXG}) | (uint32_t{e.perm & kPermBits} << 3);
        equiv = false;
        break;
      default:
        equiv = false;
        break;
    }
  }
  *mode = (*mode & ~uint32_t{0777}) | bits;
  return equiv;
}

Result<Acl> Chmod(const Acl& acl, uint32_t mode) {
  Acl out = acl;
  Entry* group_obj = nullptr;
  Entry* mask_obj = nullptr;
  for (Entry& e : out) {
    switch (e.tag) {
      case kUserObj:
        e.perm = (mode >> 6) & kPermBits;
        break;
      case kGroupObj:
        group_obj = &e;
        break;
      case kMask:
        mask_obj = &e;
        break;
      case kOther:
        e.perm = mode & kPermBits;
        break;
      default:
        break;
    }
  }
  Entry* g = mask_obj != nullptr ? mask_obj : group_obj;
  if (g == nullptr) return Status::Corrupt("ACL has neither a mask nor a group entry");
  g->perm = (mode >> 3) & kPermBits;
  return out;
}

Result<Inherited> Inherit(const Acl& parent_default, uint32_t mode, uint32_t umask) {
  Inherited out;
  out.mode = mode;
  if (S_ISLNK(mode)) return out;
  if (parent_default.empty()) {
    out.mode = mode & ~(umask & 0777);
    return out;
  }
  Acl access = parent_default;
  PMEMFS_ASSIGN_OR_RETURN(bool not_equiv, CreateMasq(access, &out.mode));
  if (not_equiv) out.access = std::move(access);
  if (S_ISDIR(mode)) out.default_acl = parent_default;
  return out;
}

bool Permits(const Acl& acl, uint32_t file_uid, uint32_t file_gid, uint32_t uid,
             std::span<const uint32_t> groups, uint16_t want) {
  want &= kRead | kWrite | kExecute;
  auto in_group = [&](uint32_t gid) {
    return std::find(groups.begin(), groups.end(), gid) != groups.end();
  };
  auto masked = [&](size_t i) {  // entry i's permissions limited by the mask, if any
    uint16_t perm = acl[i].perm;
    for (size_t j = i + 1; j < acl.size(); j++)
      if (acl[j].tag == kMask) perm &= acl[j].perm;
    return (perm & want) == want;
  };
  bool found_group = false;
  for (size_t i = 0; i < acl.size(); i++) {
    const Entry& e = acl[i];
    switch (e.tag) {
      case kUserObj:
        if (uid == file_uid) return (e.perm & want) == want;
        break;
      case kUser:
        if (e.id == uid) return masked(i);
        break;
      case kGroupObj:
      case kGroup:
        if (in_group(e.tag == kGroupObj ? file_gid : e.id)) {
          found_group = true;
          if ((e.perm & want) == want) return masked(i);
        }
        break;
      case kOther:
        return !found_group && (e.perm & want) == want;
      default:
        break;
    }
  }
  return false;
}

}  // namespace pmemfs::core::acl
