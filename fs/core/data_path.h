// DataPath: the data path of fs/core, over the shared Context (context.h): open/release, read,
// write, truncate, fallocate, lseek, copy_file_range, fsync, and the block changes direct
// access asks for. Filesystem (fs.h) forwards its file operations here, with the same contract
// (fs.h says what each does); each change of a file's blocks is one DataOp (data_op.h), which
// writes the bytes through mapping::Access (mapping/access.h).
//
//   DataPath data(ctx, flusher, {.quiesce = ..., .fold = ..., .has_write_lease = ...});
//   data.Open(c, ino, O_RDWR); data.Write(c, ino, off, bytes); data.Fsync(ino, false); ...
//
// Direct access (leases.cc) is reached through LeaseHooks, and only for an inode that has a lease
// slot (Inode::lease_slot): a file without leases costs one atomic load per operation.
// Write times an in-place overwrite leaves pending go to the Flusher (flusher.h).
//
// Locks: the inode's `mu` (exclusive to change data or size, shared to read); two inodes in
// inode-number order; SharedPagesMutex() (data_op.h) innermost, held to the end of the operation.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "fs/core/context.h"
#include "fs/core/flusher.h"
#include "fs/core/inode.h"
#include "fs/core/leases.h"
#include "fs/core/types.h"
#include "mapping/access.h"
#include "pmemfs/status.h"

namespace pmemfs::core {

class DataPath {
 public:
  // What the data path needs of direct access (Filesystem's, leases.cc). `quiesce` and `fold`
  // are called only for an inode whose lease_slot is set, with its mu held exclusively.
  struct LeaseHooks {
    // Filesystem::QuiesceLeases: calls back the holders of leases on ip that the change affects.
    std::function<bool(Inode& ip, uint64_t lo, uint64_t hi, LeaseChange why,
                       layout::InodeRecord* working)>
        quiesce;
    // Filesystem::FoldLeasesLocked: takes what clients reported into ip.rec (and `working`).
    std::function<bool(Inode& ip, layout::InodeRecord* working)> fold;
    // Whether a client may write `ino`'s blocks in place (copy_file_range does not share them).
    std::function<bool(uint64_t ino)> has_write_lease;
  };

  // `ctx` and `flusher` (which Mount makes before the first operation) must outlive this.
  DataPath(Context& ctx, const std::unique_ptr<Flusher>& flusher, LeaseHooks leases)
      : ctx_(ctx), flusher_(flusher), leases_(std::move(leases)) {}
  DataPath(const DataPath&) = delete;
  DataPath& operator=(const DataPath&) = delete;

  // --- the file operations (fs.h says what each does) -------------------------------------------
  Status Open(const Caller& c, uint64_t ino, int flags);
  Status Release(uint64_t ino);
  Status Read(uint64_t ino, uint64_t off, uint64_t len, mapping::ReadRef* out);
  bool AtimeDue(uint64_t ino);
  Result<uint64_t> Write(const Caller& c, uint64_t ino, uint64_t off,
                         std::span<const std::byte> data);
  Status Fsync(uint64_t ino, bool datasync);
  Status Fallocate(uint64_t ino, int mode, uint64_t off, uint64_t len);
  Result<uint64_t> Lseek(uint64_t ino, uint64_t off, int whence);
  Result<uint64_t> CopyFileRange(const Caller& c, uint64_t ino_in, uint64_t off_in,
                                 uint64_t ino_out, uint64_t off_out, uint64_t len);

  // --- for the other parts of Filesystem ----------------------------------------------------------
  // Sets the size of `ip` to `size` (frees the blocks past it in transactions of its own) and
  // updates `rec`, the working record, which the caller writes. Caller holds ip.mu exclusively.
  Status Truncate(Inode& ip, layout::InodeRecord& rec, uint64_t size);
  // Removes every data block past rec.pending_size (a truncate a crash interrupted:
  // kInodeTruncating), or past 0 with `to_zero` (an inode being deleted), in transactions of its
  // own, and clears the flag; updates ip.rec. Caller holds ip.mu exclusively.
  Status FinishTruncate(Inode& ip, bool to_zero = false);
  // AtimeDue for a cached inode. Caller holds ip.mu (either mode).
  bool AtimeDueLocked(const Inode& ip) const;
  // Writes ip.rec in a Tx of its own (the Flusher's commit of pending times). Caller holds
  // ip.mu exclusively.
  Status CommitRecord(Inode& ip);
  // Direct access (leases.cc): allocates (zeroed) every hole of [off, end) and gives shared pages
  // of it copies of their own, without changing size or times; when `end` is past the size,
  // marks the record ahead (Filesystem::kAheadMark) and, if `zero_tail`, zeroes the old last
  // block's tail. Caller holds ip.mu exclusively, map loaded.
  Status AllocateForLease(Inode& ip, uint64_t off, uint64_t end, bool zero_tail);
  // Frees file blocks [fb, fb+n) (past the end: blocks allocated ahead).
  Status TrimForLease(Inode& ip, uint64_t fb, uint64_t n);
  // Makes the bytes from the size to `end` read as zeros whatever is stored there (a dead
  // client's unpublished writes): the last block's tail and mapped blocks are zeroed, except the
  // whole ones in file blocks [free_lo, free_hi) (allocated ahead), which are freed. Size and
  // times stay. Caller holds ip.mu exclusively, map loaded, no lease on the range.
  Status ForgetPastSize(Inode& ip, uint64_t end, uint64_t free_lo, uint64_t free_hi);

 private:
  // LeaseHooks::quiesce / fold for ip, a no-op (one atomic load) without a lease slot.
  bool QuiesceLeases(Inode& ip, uint64_t lo, uint64_t hi, LeaseChange why,
                     layout::InodeRecord* working = nullptr) {
    if (ip.lease_slot.load(std::memory_order_acquire) == nullptr) return true;
    return leases_.quiesce(ip, lo, hi, why, working);
  }
  bool FoldLeasesLocked(Inode& ip) {
    if (ip.lease_slot.load(std::memory_order_acquire) == nullptr) return false;
    return leases_.fold(ip, nullptr);
  }
  // The same, taking ip's lock; for operations that then only read. Caller holds no lock.
  void FoldLeases(const InodePtr& ip) {
    if (ip->lease_slot.load(std::memory_order_acquire) == nullptr) return;
    std::unique_lock lock(ip->mu);
    (void)leases_.fold(*ip, nullptr);
  }
  // Fallocate's checks of `mode` and the range. Caller holds ip.mu.
  static Status CheckFallocate(const Inode& ip, int mode, uint64_t off, uint64_t len);
  // Fallocate's change of [off, end) in `dp`, by `op` (mode without KEEP_SIZE).
  static Status FallocateRange(class DataOp& dp, int op, bool grows, uint64_t off, uint64_t end);
  // CopyFileRange's checks once both inodes are locked; clamps `len` (0: nothing to copy).
  static Status CheckCopy(const Inode& in, const Inode& out, uint64_t off_in, uint64_t off_out,
                          uint64_t* len);
  // CopyFileRange's copy of [off_in, +len) of `in` into `dp`'s inode at off_out: shared pages
  // where it can, then the data path. Caller holds both inodes' locks, maps loaded.
  Status CopyRange(class DataOp& dp, const Inode& in, const Inode& out, uint64_t off_in,
                   uint64_t off_out, uint64_t len);

  Context& ctx_;
  const std::unique_ptr<Flusher>& flusher_;
  const LeaseHooks leases_;
};

}  // namespace pmemfs::core
