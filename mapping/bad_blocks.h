// BadBlocks: the device's known media errors, in device offsets.
//
// Two sources, merged at open: what the platform reports for each part (libpmem2's bad-block
// API; nothing on an emulated device) and an injectable list kept in each part's header
// (layout::BadBlockTable, ping-pong copies A/B, so an update is crash-safe and survives
// remount), and a backup of both copies in the part's backup header page (label version 2, see
// layout.h; written after the primary, so either page alone is enough). Reads check their range first and fail with an error naming the damaged range; a
// write that covers whole aligned 4 KiB pages clears the marks on those pages (and asks the
// platform to clear its own).
//
// Check() is on every data read: when there are no bad ranges it costs one atomic load.
// Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pmemfs/layout.h"
#include "pmemfs/status.h"
#include "pmemfs/thread_annotations.h"

namespace pmemfs::mapping {

class Device;
class Part;

class BadBlocks {
 public:
  // `dev` must outlive this object. Loads the tables of every part and the platform's list.
  // Fails only when a part's tables are both corrupt (the message names the part).
  static Result<std::unique_ptr<BadBlocks>> Load(Device* dev);
  // Writes empty tables into a part's header page and, when `backup_offset` is not 0, into its
  // backup page at that part offset, and persists them (format time).
  static void FormatPart(Part& part, uint64_t backup_offset);

  // Ok when [off, off+len) holds no known media error; otherwise an IoError naming the first bad
  // range it touches (device offsets) and the part and part offset of its first byte in
  // [off, off+len) (a range may span parts).
  Status Check(uint64_t off, uint64_t len) const {
    if (count_.load(std::memory_order_acquire) == 0) return Status::Ok();
    return CheckSlow(off, len);
  }
  bool empty() const { return count_.load(std::memory_order_acquire) == 0; }

  // Marks [off, off+len) bad, persistently (testing; also what a scrub would record).
  Status Inject(uint64_t off, uint64_t len);
  // Removes the marks on every whole 4 KiB page inside [off, off+len) (a write of those pages
  // has just replaced their contents), persistently.
  Status ClearWholePages(uint64_t off, uint64_t len);

  struct Entry {
    uint64_t offset;  // device offset
    uint64_t length;
  };
  std::vector<Entry> List() const;

 private:
  explicit BadBlocks(Device* dev) : dev_(dev) {}
  Status CheckSlow(uint64_t off, uint64_t len) const;
  // Rewrites every part's injected table from ranges_.
  Status PersistLocked() REQUIRES(mu_);

  Device* dev_;
  mutable SharedMutex mu_;
  std::vector<Entry> ranges_ GUARDED_BY(mu_);       // sorted, disjoint
  std::vector<uint64_t> sequence_ GUARDED_BY(mu_);  // per part: sequence of its current table,
                                                    // the same for every part (see Load)
  std::atomic<uint64_t> count_{0};   // ranges_.size(), readable without mu_
};

}  // namespace pmemfs::mapping
