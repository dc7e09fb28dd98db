// Context: what the parts of fs/core share for one mount, and the commit helpers every
// operation uses.
//
// Filesystem (fs.h) owns one Context and the parts built on it (InodeCache, Xattrs, ...), which
// keep a reference to it. Filesystem::Mount sets every member before the first operation;
// afterwards `access` changes only behind the quiesce gate (Filesystem::ChangeAccess, with
// nothing in flight), `opts` only by Mount and the online changes (online.cc), and the atomics
// at any time.
//
// The rule for DRAM state when a transaction is abandoned (store::Tx dropped, or its commit
// failed), used by every operation:
//   - inode records (Inode::rec), xattr maps and cache insertions are applied after the commit
//     succeeded, never before: an abandoned Tx leaves them as they were;
//   - the indexes that change while the Tx is built (Directory::Add/Remove/Retarget,
//     FileMap::Insert/Remove write DRAM and the Tx together) are dropped on every way out that
//     did not commit, so they reload from the device: IndexGuard for namespace changes,
//     DataOp::Abort for data operations, Commit(tx, touched) for a failed commit.
// So DRAM never shows a change the device does not have.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "fs/core/file_map.h"
#include "fs/core/inode.h"
#include "fs/core/inode_cache.h"
#include "fs/core/types.h"
#include "fs/store/store.h"
#include "mapping/access.h"
#include "mapping/device.h"
#include "mapping/ram_partition.h"
#include "pmemfs/status.h"

namespace pmemfs::core {

struct Context {
  // Destroyed in reverse: the cache before the store, the store before the device.
  MountOptions opts;
  std::unique_ptr<mapping::Device> dev;
  std::unique_ptr<mapping::Access> access;  // swapped only behind the quiesce gate
  std::unique_ptr<mapping::RamPartition> ram;
  std::unique_ptr<mapping::Access> ram_access;  // the RAM partition's strategy (ram_access.h)
  std::unique_ptr<store::Store> store;
  std::unique_ptr<InodeCache> cache;  // made at Mount once the store is open
  // The volatile RAM directory (opts.ram_dir in the root; null when this mount has none): set
  // by Mount, pinned in the cache for the whole mount (nlink 0 once removed).
  InodePtr ram_dir;
  std::atomic<bool> ram_dir_removed{false};  // set once, under the root's and ram_dir's mu
  std::atomic<Invalidator*> inval{nullptr};
  std::atomic<bool> read_only{false};  // opts.read_only at mount, then SetReadOnly's
  std::atomic<AtimePolicy> atime{AtimePolicy::kRelatime};

  // The RAM directory exists: made at mount, gone once removed (until the next mount).
  bool HasRamDir() const {
    return ram_dir && !ram_dir_removed.load(std::memory_order_acquire);
  }
  bool is_read_only() const { return read_only.load(std::memory_order_acquire); }
  // The atime policy in force (kNoatime while read-only).
  AtimePolicy atime_policy() const {
    return is_read_only() ? AtimePolicy::kNoatime : atime.load(std::memory_order_relaxed);
  }
  static int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // The strategy that reaches ip's data: the RAM partition's for volatile inodes, the mount's
  // mode otherwise. Code that reads or writes file bytes asks it (and its capabilities) instead
  // of asking the mode. The reference is valid while the caller is inside the quiesce gate
  // (ChangeAccess swaps `access` only with nothing in flight).
  mapping::Access& AccessFor(const Inode& ip) const {
    return ip.is_volatile() ? *ram_access : *access;
  }
  // Writes `rec` as ip's record in `tx` (persistent inodes; a no-op for volatile ones).
  void PutInode(store::Tx& tx, const Inode& ip, const layout::InodeRecord& rec) {
    if (!ip.is_volatile()) store->WriteInode(tx, ip.ino, rec);
  }
  // Commits `tx` (a no-op for an empty Tx). On failure, drops the DRAM indexes of `touched`
  // so they reload from the device.
  Status Commit(store::Tx& tx, std::initializer_list<Inode*> touched);
  // Drops ip's DRAM indexes (directory, extent map, xattrs) so they reload from the device (not
  // for volatile inodes, whose DRAM copy is the only one). Caller holds ip.mu exclusively.
  static void DropIndexes(Inode& ip);
  // What FileMap and Directory need to write ip's chains in `tx` with working record `rec`.
  MapContext Ctx(store::Tx& tx, Inode& ip, layout::InodeRecord& rec) {
    return MapContext{ip.is_volatile() ? nullptr : store.get(), &tx, ip.ino, &rec};
  }
  // Asks the kernel to drop its cached pages of `ino` (a no-op without an Invalidator).
  // Caller holds no locks.
  void DropCachedData(uint64_t ino) {
    if (Invalidator* inv = inval.load()) inv->InvalidateInode(ino, 0, 0);
  }
};

// The rule for the DRAM indexes a namespace change edits together with its Tx (Directory's
// Add/Remove/Retarget change DRAM as they write the Tx): they stay only if the Tx commits.
// Every other way out (NoSpace part way through, any early return, a failed commit) drops them
// when the guard goes, so DRAM never shows a change the device does not have. Caller holds the
// inodes' mu exclusively for the guard's whole life.
class IndexGuard {
 public:
  IndexGuard(Context& ctx, std::initializer_list<Inode*> touched)
      : ctx_(ctx), touched_(touched) {}
  ~IndexGuard() {
    if (!committed_)
      for (Inode* ip : touched_)
        if (ip != nullptr) Context::DropIndexes(*ip);
  }
  IndexGuard(const IndexGuard&) = delete;
  IndexGuard& operator=(const IndexGuard&) = delete;
  // Context::Commit; the indexes are kept when it succeeds.
  Status Commit(store::Tx& tx) {
    Status st = ctx_.Commit(tx, {});
    committed_ = st.ok();
    return st;
  }

 private:
  Context& ctx_;
  std::vector<Inode*> touched_;
  bool committed_ = false;
};

}  // namespace pmemfs::core
