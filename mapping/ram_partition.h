// RamPartition: the volatile range of a device (DeviceInfo::ram), for files that need not
// survive a remount. Reinitialised at every open: every page free, nothing ever flushed; a page
// reads as zeros when allocated. The allocator hands out runs of whole 4 KiB pages.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "mapping/device.h"
#include "pmemfs/status.h"
#include "pmemfs/thread_annotations.h"

namespace pmemfs::mapping {

class RamPartition {
 public:
  // `dev` must outlive the partition. A device without a RAM partition gives an empty one
  // (every Allocate fails with NoSpace).
  static std::unique_ptr<RamPartition> Open(Device& dev);

  Range range() const { return range_; }
  uint64_t total_pages() const { return range_.length / layout::kPageSize; }
  uint64_t free_pages() const;
  bool Contains(uint64_t off, uint64_t len = 1) const {
    return off >= range_.offset && off <= range_.end() && len <= range_.end() - off;
  }

  // `n` contiguous pages, zero-filled (plain stores: volatile). Returns their device offset;
  // NoSpace when no free run of `n` pages exists.
  Result<uint64_t> Allocate(uint64_t n);
  // Returns pages to the partition. InvalidArgument (nothing changes) when the range is outside
  // the partition, unaligned, or not wholly allocated.
  Status Free(uint64_t off, uint64_t n);

 private:
  RamPartition(Device& dev, Range r);
  Device& dev_;
  Range range_;
  mutable Mutex mu_;
  std::vector<uint64_t> bitmap_ GUARDED_BY(mu_);  // 1 bit per page, set = allocated
  uint64_t free_ GUARDED_BY(mu_) = 0;
  uint64_t hint_ GUARDED_BY(mu_) = 0;             // next-fit search start (page)
};

}  // namespace pmemfs::mapping
