// Tx: one atomic, durable change of the store's on-device structures (a redo transaction).
//
//   Tx tx = store.Begin();
//   store.WriteInode(tx, ino, rec);          // or tx.Put(offset, value) for raw structures
//   auto blocks = store.AllocBlocks(tx, 8, goal);
//   PMEMFS_RETURN_IF_ERROR(store.Commit(tx)); // all of it, or (on error/crash) none of it
//
// Nothing reaches the device before Commit: records are collected here, written to the journal,
// committed, then applied in place (journal.h). A later write to the same bytes in the same Tx
// wins. Reads of structures the Tx has already changed must go through Overlay().
// A Tx is used by one thread. Destroying it uncommitted aborts it: block and inode
// reservations are released.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mapping/page_descriptors.h"
#include "pmemfs/layout.h"

namespace pmemfs::store {

class Store;

struct BlockRange {
  uint64_t start = 0;  // store block number
  uint64_t count = 0;
  uint64_t end() const { return start + count; }
  bool operator==(const BlockRange&) const = default;
};

class Tx {
 public:
  Tx(Tx&& o) noexcept;
  Tx& operator=(Tx&&) = delete;
  Tx(const Tx&) = delete;
  ~Tx();  // aborts when not committed

  // Writes `len` bytes at device offset `off` when the Tx commits.
  void Write(uint64_t off, const void* data, uint32_t len);
  template <typename T>
  void Put(uint64_t off, const T& value) {
    Write(off, &value, sizeof value);
  }
  // Sets the page descriptor of device page `page` when the Tx commits (pages mode).
  void SetDescriptor(uint64_t page, const mapping::PageInfo& info) { descriptors_[page] = info; }

  // Copies into `dst` the bytes at [off, off+len) as this Tx would leave them: the device's
  // bytes overlaid with this Tx's pending writes.
  void Overlay(uint64_t off, void* dst, uint32_t len) const;

  bool empty() const { return writes_.empty() && descriptors_.empty() && alloc_.empty() && free_.empty(); }
  // Journal bytes the Tx needs so far (records, data, the bitmap words it will change and
  // their blocks' checksums).
  uint64_t journal_bytes() const;

 private:
  friend class Store;
  friend class Journal;
  explicit Tx(Store* store) : store_(store) {}
  // The bitmap blocks (index from sb.bitmap_start) that its allocations, frees and raw writes
  // change: those whose checksums Commit rewrites (bitmap_checksums.h).
  std::set<uint64_t> BitmapBlocks(const layout::Superblock& sb) const;

  Store* store_;
  bool done_ = false;
  std::map<uint64_t, std::vector<std::byte>> writes_;  // device offset -> bytes (non-overlapping)
  std::map<uint64_t, mapping::PageInfo> descriptors_;  // page -> value
  std::vector<BlockRange> alloc_;      // reserved by AllocBlocks: marked in use at commit
  std::vector<BlockRange> free_;       // FreeBlocks: marked free at commit, reusable after
  std::vector<uint64_t> inodes_reserved_;  // ReserveInode: returned to the free set on abort
  std::vector<uint64_t> inodes_freed_;     // FreeInode: reusable after commit
  std::string error_;  // the first misuse a void accessor saw (bad ino): Commit refuses the Tx
};

}  // namespace pmemfs::store
