// DataOp: one data operation on one inode of fs/core's data path (data_path.cc drives it for
// write, truncate, fallocate, copy_file_range and the lease allocations): its working record,
// the running transaction (split when it nears the journal's limit), allocation, zeroing,
// copy-on-write of shared pages, and the reads of a file's bytes.
//
// How data reaches the device: through the inode's mapping::Access (Context::AccessFor), whose
// capabilities decide, never the mode's name:
//   - new blocks are filled (data, zeros around it) before the transaction that links them into
//     the file commits, so a crash never exposes stale blocks;
//   - a strategy that buffers_writes() (copy mode's cache) keeps in-place writes until
//     Fsync/SyncFs/write-back; the blocks a transaction links (new blocks, zeroed tails) are
//     synced just before it commits (ordered data, as ext4's data=ordered);
//   - descriptors() (pages mode) means page reference counts: shared pages are copied on write;
//   - volatile inodes (RAM files) have the RAM partition's strategy (plain stores), no Tx.
//
// Invariants it keeps: see data_path.cc. Locks: the caller holds ip.mu exclusively (shared for
// Read); SharedPagesMutex() (pages mode's shared-page reference counts) is innermost, taken by
// RefTracker::Get and held until the tracker goes (after the commit).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "fs/core/context.h"
#include "fs/core/inode.h"
#include "fs/core/types.h"
#include "fs/store/store.h"
#include "mapping/access.h"
#include "pmemfs/status.h"

namespace pmemfs::core {

inline constexpr uint64_t kBlock = layout::kBlockSize;
// Largest file size (off_t's range); offsets and sizes past it are TooBig (EFBIG).
inline constexpr uint64_t kMaxFileSize = INT64_MAX;

inline uint64_t DivUp(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

// What the kernel does on write/truncate by someone without CAP_FSETID (here: not root):
// setuid goes, and setgid when the group may execute (otherwise it marks mandatory locking).
void KillPriv(const Caller& c, layout::InodeRecord& rec);
// Whether a read now should move the atime under `policy` (relatime: atime <= mtime/ctime or a
// day old).
bool NeedsAtime(AtimePolicy policy, const layout::InodeRecord& r, int64_t now);
// Guards the reference counts of shared pages (pages mode) from read to commit.
std::mutex& SharedPagesMutex();

// Page-descriptor values as the running operation leaves them: committed values overlaid with
// the ones set in the current operation. Reading a page whose count another inode may change
// (shared pages) takes SharedPagesMutex(), held until the tracker goes (after the commit).
class RefTracker {
 public:
  explicit RefTracker(mapping::PageDescriptors* d) : d_(d) {}

  // Without the lock: exact for pages only this file maps (refcount <= 1), possibly stale
  // (too high) for shared ones.
  mapping::PageInfo Peek(uint64_t page) const {
    auto it = pending_.find(page);
    return it != pending_.end() ? it->second : d_->Get(page);
  }
  // Under the lock: exact.
  mapping::PageInfo Get(uint64_t page) {
    auto it = pending_.find(page);
    if (it != pending_.end()) return it->second;
    if (!lock_.owns_lock()) lock_ = std::unique_lock(SharedPagesMutex());
    return d_->Get(page);
  }
  void Set(store::Tx& tx, uint64_t page, const mapping::PageInfo& info) {
    pending_[page] = info;
    tx.SetDescriptor(page, info);
  }
  // After a commit: the pending values are the committed ones now.
  void Committed() { pending_.clear(); }

 private:
  mapping::PageDescriptors* d_;
  std::unordered_map<uint64_t, mapping::PageInfo> pending_;
  std::unique_lock<std::mutex> lock_;
};

// ---------------------------------------------------------------------------------------------
// DataOp: one data operation on one inode.
//
// Holds the working record `rec` (starts as ip.rec) and the running Tx, begun at the first change
// that needs one (an overwrite in place never does). Changes go to the file map and the Tx at
// once; Flush() commits them with `rec`; MaybeFlush() does so when the Tx nears the journal's
// limit. Destroying a DataOp with uncommitted map changes
// abandons them (Abort: the Tx's reservations are released, the map is dropped to reload).
// Volatile inodes: no Tx, the DRAM map is the only copy and changes are final at once.
//
// The caller holds ip.mu exclusively and has loaded ip.map (LoadMap).
class DataOp {
 public:
  // What Fill does to the blocks of its range.
  enum : unsigned {
    kAllocHoles = 1u << 0,   // holes get new blocks (zeroed outside the data)
    kWriteMapped = 1u << 1,  // mapped blocks get the data (shared ones are copied first)
    kUnshare = 1u << 2,      // shared mapped blocks are copied to blocks of their own
  };

  DataOp(Context& ctx, Inode& ip);
  ~DataOp() {
    if (map_dirty_) Abort();
  }
  DataOp(const DataOp&) = delete;
  DataOp& operator=(const DataOp&) = delete;

  layout::InodeRecord rec;  // the working record

  // Makes file bytes [off, end) hold `src` (zeros when null) as `what` says. Blocks are done in
  // file order and advance reached() (see set_reached), so after a failure (NoSpace: a short
  // write) it tells how far the operation got.
  Status Fill(uint64_t off, uint64_t end, const std::byte* src, unsigned what);
  // Before the size grows from `old_size` to `new_size`: zeroes the stale bytes after
  // old_size in its block (when mapped).
  Status ZeroTail(uint64_t old_size, uint64_t new_size);
  // Unmaps file blocks [fb, fb+n) and frees their blocks, from the end backwards.
  Status Unmap(uint64_t fb, uint64_t n);
  // Removes every block at or past the new `size`, sets it, in as many commits as needed (the
  // inode is marked kInodeTruncating meanwhile); ends committed.
  Status Shrink(uint64_t size);
  // pages mode: maps file blocks [fb_out, +n) to the device pages of `src`'s [fb_in, +n) (which
  // must not overlap it when src is this file), counting the new references.
  Status Share(const FileMap& src, uint64_t src_ino, uint64_t fb_in, uint64_t fb_out, uint64_t n);
  // The write path: data at `off`, size and times; returns bytes written (short on NoSpace).
  // An in-place overwrite leaves its new times uncommitted in ip.rec (times_deferred()).
  Result<uint64_t> Write(const Caller& c, uint64_t off, std::span<const std::byte> data);
  // Write set ip.rec's mtime/ctime without committing them: the caller hands the inode to
  // Flusher::Defer.
  bool times_deferred() const { return times_deferred_; }

  // Commits `rec` and the Tx (nothing when nothing changed); the next change begins a new Tx.
  Status Flush();
  Status Finish() { return Flush(); }
  // Abandons the running Tx and its map changes; rec and reached() go back to the last commit.
  void Abort();
  // Whether the failed step left the running Tx unusable (a reservation it cannot return).
  bool poisoned() const { return poisoned_; }
  uint64_t reached() const { return reached_; }
  uint64_t committed_reached() const { return committed_reached_; }
  // Size follows progress at intermediate commits (writes: what is in the file is counted).
  void set_extend(bool on) { extend_ = on; }
  // Starts progress tracking at file offset `r`: reached() is the end of what the operation has
  // done contiguously from there; committed_reached() the same as of the last commit.
  void set_reached(uint64_t r) { reached_ = committed_reached_ = r; }
  void Advance(uint64_t pos) { reached_ = std::max(reached_, pos); }
  // Holes in [off, end) (blocks a Fill with kAllocHoles would allocate) against the free space.
  Status CheckSpace(uint64_t off, uint64_t end) const;

  // Frees device ranges `freed` of inode `ip` in `tx`: RAM pages at once; store blocks at
  // commit; pages mode: by reference count.
  static void FreeDev(Context& ctx, store::Tx& tx, const Inode& ip,
                      const std::vector<store::BlockRange>& freed, RefTracker& refs);
  // The bytes [off, off+len) of `ip` (inside its size) into `out`. Caller holds ip.mu (either
  // mode), map loaded.
  static Status Read(Context& ctx, const Inode& ip, uint64_t off, uint64_t len,
                     mapping::ReadRef* out);
  // Updates the access time after a read when the mount's policy asks for it.
  static void TouchAtime(Context& ctx, const InodePtr& ip);

 private:
  // The running Tx, begun (with the step sizes below) on first use.
  store::Tx& tx() {
    if (!tx_) Begin();
    return *tx_;
  }
  void Begin();
  uint64_t alloc_chunk() {
    if (!tx_) Begin();
    return alloc_chunk_;
  }
  MapContext ctx() { return ctx_.Ctx(tx(), ip_, rec); }
  Status MaybeFlush() {
    if (ip_.is_volatile() || !tx_ || tx_->journal_bytes() <= budget_) return Status::Ok();
    return Flush();
  }
  Status Poison(Status st) {
    poisoned_ = true;
    return st;
  }
  void Advance(uint64_t pos, uint64_t end) { Advance(std::min(pos, end)); }

  uint64_t Goal(uint64_t fb) const;
  // Up to `want` contiguous blocks for file blocks from `fb` (at least one), near Goal(fb).
  Result<store::BlockRange> Alloc(uint64_t want, uint64_t fb);
  bool Shared(uint64_t page) const { return pages_ && refs_.Peek(page).refcount > 1; }
  Status FillHole(uint64_t fb, uint64_t n, uint64_t off, uint64_t end, const std::byte* src);
  Status CopyOnWrite(uint64_t fb, uint64_t dev, uint64_t n, uint64_t off, uint64_t end,
                     const std::byte* src, bool write);
  Status WriteInPlace(uint64_t fb, uint64_t dev, uint64_t n, uint64_t off, uint64_t end,
                      const std::byte* src);
  void SetNewPages(uint64_t dev, uint64_t fb, uint64_t n);
  // Nothing to commit but rec's mtime/ctime (and, for a persistent inode, nothing to sync).
  bool OnlyTimesChanged() const;

  // Device data, through acc_.
  Status DataWrite(uint64_t off, const std::byte* src, uint64_t len);
  Status DataZero(uint64_t off, uint64_t len);
  Status DataCopy(uint64_t from, uint64_t to, uint64_t len);

  Context& ctx_;
  Inode& ip_;
  FileMap& map_;
  mapping::Access& acc_;  // the inode's strategy (Context::AccessFor)
  const bool pages_;      // acc_ keeps page descriptors (pages mode, persistent inode)
  const bool buffered_;   // acc_ buffers writes (copy mode): sync what a commit links first
  std::optional<store::Tx> tx_;  // none until the first change that needs it (tx())
  RefTracker refs_;
  uint64_t budget_ = 0;       // journal bytes after which MaybeFlush commits (set by Begin)
  uint64_t alloc_chunk_ = 0;  // blocks per allocation / removal step (set by Begin)
  uint64_t goal_ = 0;         // end of the last allocation
  std::vector<mapping::Range> sync_;  // buffered_: device ranges to sync before the commit
  bool map_dirty_ = false;    // map changed since the last commit
  bool poisoned_ = false;
  bool extend_ = false;
  bool times_deferred_ = false;
  uint64_t reached_ = 0;
  uint64_t committed_reached_ = 0;
};

}  // namespace pmemfs::core
