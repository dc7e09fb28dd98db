// PageDescriptors: one 64-byte descriptor per 4 KiB device page (layout::PageDescriptor):
// owner inode, page index in the owner's file, reference count, flags, generation, and a
// volatile pin count. Descriptor of page p = O(1) address in the descriptor area.
//
// Two placements behind one interface:
//   kDevice  in the device's descriptor area. Set() is crash-safe: the new value is first
//            persisted in a redo log slot (layout::DescriptorLogSlot), then written in place and
//            persisted; Open() re-applies any logged value newer than (or replacing a torn) in-place
//            descriptor, so after a crash at any persist point every descriptor reads as its old
//            or its new value. Costs no DRAM whatever the device size.
//   kDram    a DRAM table, all-free at open; the layers above rebuild it from their own
//            structures (the variant bench/ compares against kDevice).
// Pin counts live in the descriptor too but are volatile: not checksummed, never flushed on
// their own, zeroed at Open.
//
// Thread-safety: all methods may be called concurrently; updates of one page are serialised
// internally (striped locks).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "mapping/access.h"
#include "mapping/device.h"
#include "pmemfs/layout.h"
#include "pmemfs/status.h"

namespace pmemfs::mapping {

// The persistent fields of a descriptor.
struct PageInfo {
  uint64_t owner = 0;       // inode; 0: free
  uint64_t file_index = 0;  // page index in the owner's file
  uint32_t refcount = 0;
  uint32_t flags = 0;       // layout::PageFlags
  bool operator==(const PageInfo&) const = default;
};

struct PageUpdate {
  uint64_t page;  // device page number (device offset / 4096)
  PageInfo info;
};

class PageDescriptors {
 public:
  virtual ~PageDescriptors() = default;

  // Writes an empty descriptor area (header, clear log, all descriptors free) and persists it.
  // Format time; `progress(done, total)` is called now and then when given.
  static Status Format(Device& dev, const std::function<void(uint64_t, uint64_t)>& progress = {});
  // Opens the descriptors of `dev` (which must outlive them). kDevice: checks the area header,
  // recovers from the log, zeroes pin counts. InvalidArgument when `dev` has no descriptor area.
  static Result<std::unique_ptr<PageDescriptors>> Open(Device& dev, DescriptorPlacement where);

  virtual DescriptorPlacement placement() const = 0;
  virtual uint64_t page_count() const = 0;

  virtual PageInfo Get(uint64_t page) const = 0;
  virtual uint64_t generation(uint64_t page) const = 0;
  // Sets the descriptor of `page`; durable and crash-atomic on return (kDevice).
  virtual Status Set(uint64_t page, const PageInfo& info) = 0;
  // Sets several descriptors with fewer drains; each one is crash-atomic, the batch is not.
  virtual Status SetBatch(std::span<const PageUpdate> updates) = 0;
  // refcount += delta (>= 0 after), atomically with respect to other updates of `page`;
  // returns the new count.
  virtual Result<uint32_t> AddRef(uint64_t page, int32_t delta) = 0;

  virtual void Pin(uint64_t page) = 0;
  virtual void Unpin(uint64_t page) = 0;
  virtual uint32_t pin_count(uint64_t page) const = 0;
};

}  // namespace pmemfs::mapping
