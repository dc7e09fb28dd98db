// FileMap: the DRAM extent index of one file, mirroring its on-device extent chain
// (layout::ExtentRecord slots). Lookups are O(log n) in the number of extents; files may be
// sparse (holes are absent ranges) and up to 2^64 bytes logically.
//
// Changes are made inside a store transaction: Insert/Remove update the DRAM index at once and
// write the affected records into `tx`. If the transaction then fails to commit, the caller
// must drop the FileMap (Inode::map.reset()) so it is reloaded from the device.
//
// Volatile files (RAM partition) pass store == nullptr: no records are written.
// Not thread-safe: the owning inode's lock guards it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "fs/core/slot_chain.h"
#include "fs/store/store.h"

namespace pmemfs::core {

// Where persistent changes go: null store for a volatile inode.
struct MapContext {
  store::Store* store = nullptr;
  store::Tx* tx = nullptr;
  uint64_t ino = 0;
  layout::InodeRecord* rec = nullptr;  // working copy; the caller writes it in the same Tx
};

class FileMap {
 public:
  struct Extent {
    uint64_t file_block = 0;
    uint64_t dev_block = 0;   // device block number (device offset / 4096)
    uint64_t length = 0;      // blocks
    SlotRef where;            // its record (persistent files)
  };

  // Reads the extent chain of `rec` (Corrupt on a bad record or overlap).
  static Result<std::unique_ptr<FileMap>> Load(const store::Store& store, uint64_t ino,
                                               const layout::InodeRecord& rec);
  static std::unique_ptr<FileMap> Empty() { return std::make_unique<FileMap>(); }

  // Calls fn(file_block, dev_block, count) over [fb, fb+n) in order; dev_block 0 = hole.
  void ForEach(uint64_t fb, uint64_t n,
               const std::function<void(uint64_t, uint64_t, uint64_t)>& fn) const;
  // The device block of file block fb, 0 for a hole.
  uint64_t Lookup(uint64_t fb) const;
  // First mapped file block >= fb (SEEK_DATA), or UINT64_MAX.
  uint64_t NextData(uint64_t fb) const;
  // First unmapped file block >= fb (SEEK_HOLE).
  uint64_t NextHole(uint64_t fb) const;
  uint64_t mapped_blocks() const { return mapped_; }
  uint64_t extent_count() const { return extents_.size(); }

  // Maps [fb, fb+n) -> [dev, dev+n); the range must be a hole. Merges with a neighbouring
  // extent when contiguous on both sides.
  Status Insert(const MapContext& ctx, uint64_t fb, uint64_t dev, uint64_t n);
  // Unmaps [fb, fb+n) (splitting extents) and appends the device ranges it held to `freed`.
  Status Remove(const MapContext& ctx, uint64_t fb, uint64_t n, std::vector<store::BlockRange>* freed);
  // Record slots used (for freeing a whole chain on delete).
  const SlotChain& slots() const { return slots_; }

 private:
  Status WriteRecord(const MapContext& ctx, Extent& e);   // allocates a slot when needed
  void ClearRecord(const MapContext& ctx, const Extent& e);

  std::map<uint64_t, Extent> extents_;  // by file_block, non-overlapping
  SlotChain slots_;
  uint64_t mapped_ = 0;
};

}  // namespace pmemfs::core
