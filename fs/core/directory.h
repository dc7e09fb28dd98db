// Directory: the DRAM index of one directory, mirroring its on-device dentry chain
// (layout::DentryHead slots). Lookup by name is a hash lookup; readdir walks entries in cookie
// order, and an entry's cookie never changes while it exists (cookie = its slot position in the
// chain + 3; 1 and 2 are "." and ".."), so entries added or removed during a readdir never make
// another entry appear twice or go missing.
//
// Like FileMap, changes are made inside a store transaction: the DRAM index changes at once,
// the dentry slots are written into the Tx; when the commit fails the caller drops the index
// (Inode::dir.reset()) to reload it. Volatile directories pass store == nullptr.
// Not thread-safe: the owning inode's lock guards it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "fs/core/file_map.h"
#include "fs/core/slot_chain.h"

namespace pmemfs::core {

class Directory {
 public:
  struct Entry {
    uint64_t ino = 0;
    uint8_t type = 0;     // DT_*
    uint64_t cookie = 0;
    SlotRef where;        // head slot (persistent directories)
    uint8_t slots = 0;
  };

  static Result<std::unique_ptr<Directory>> Load(const store::Store& store, uint64_t ino,
                                                 const layout::InodeRecord& rec);
  static std::unique_ptr<Directory> Empty() { return std::make_unique<Directory>(); }

  const Entry* Find(std::string_view name) const;
  uint64_t size() const { return by_name_.size(); }

  // Adds `name` -> ino (type DT_*): finds slots (appending a chain block if needed) and writes
  // the dentry into ctx.tx. AlreadyExists if present.
  Status Add(const MapContext& ctx, std::string_view name, uint64_t ino, uint8_t type);
  // Removes `name`, zeroing its slots in ctx.tx. NotFound if absent.
  Status Remove(const MapContext& ctx, std::string_view name);
  // Points an existing entry at another inode (rename over an existing name, exchange).
  Status Retarget(const MapContext& ctx, std::string_view name, uint64_t ino, uint8_t type);

  // Calls fn(name, entry) for entries with cookie >= `cookie`, in cookie order, until it
  // returns false.
  void ForEachFrom(uint64_t cookie,
                   const std::function<bool(std::string_view, const Entry&)>& fn) const;
  const SlotChain& slots() const { return slots_; }

 private:
  void WriteDentry(const MapContext& ctx, std::string_view name, const Entry& e);

  std::unordered_map<std::string, Entry> by_name_;
  std::map<uint64_t, const std::string*> by_cookie_;  // points at by_name_ keys (stable)
  SlotChain slots_;
  uint64_t next_volatile_cookie_ = 3;
};

}  // namespace pmemfs::core
