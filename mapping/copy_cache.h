// CopyAccess: the `copy` mode strategy. A bounded DRAM cache of 4 KiB device pages in front of
// the device, like a block driver's page cache:
//   - reads fill missing pages from the device (checking bad blocks, under MediaGuard) and copy
//     out of DRAM; writes copy into DRAM (filling a partly written missing page first) and mark
//     the page dirty; the device is not touched until write-back;
//   - when full, the least recently used page is evicted, written back first when dirty;
//   - Sync(range)/SyncAll() write back the dirty pages in the range / all, shard by shard, each
//     shard's drained before its lock is released: a page is never discarded (its block freed
//     and reused) while a copy of it is still on its way to the media.
// The cache is split into shards by page number, each with its own lock, LRU list and share of
// the capacity, so there is no global lock on the data path.
//
// Dirty pages still cached when a CopyAccess is destroyed are dropped, as on power loss: the
// owner calls SyncAll() first (unmount does). `dev` must outlive the CopyAccess.
#pragma once

#include <cstdint>
#include <memory>

#include "mapping/access.h"

namespace pmemfs::mapping {

struct CopyCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t writebacks = 0;   // pages written to the device
  uint64_t cached_pages = 0;
  uint64_t dirty_pages = 0;
  uint64_t capacity_pages = 0;
};

class CopyAccess : public Access {
 public:
  // InvalidArgument when opts.cache_size is below 16 pages.
  static Result<std::unique_ptr<CopyAccess>> Open(Device& dev, const AccessOptions& opts);
  virtual CopyCacheStats stats() const = 0;

 protected:
  using Access::Access;
};

}  // namespace pmemfs::mapping
