// PageDescriptors: one 64-byte descriptor per 4 KiB device page (layout::PageDescriptor):
// owner inode, page index in the owner's file, reference count, flags, generation, and a
// volatile pin count. Descriptor of page p = O(1) address in the descriptor area.
//
// Two placements behind one interface:
//   kDevice  in the device's descriptor area, written in place: Set() is durable on return but
//            not crash-atomic on its own (a crash in the middle of the write may leave a
//            descriptor torn, failing its checksum). Atomicity is the store journal's: fs/store
//            carries every descriptor change of a transaction as a journal record and applies
//            it with SetBatchNoDrain under the same drain as its other records, and recovery
//            replays a committed transaction whole (fs/store/journal.h). Costs no DRAM whatever
//            the device size.
//   kDram    a DRAM table, all-free at open; the layers above rebuild it from their own
//            structures (the variant bench/ compares against kDevice).
// Pin counts live in the descriptor too but are volatile: not checksummed, never flushed on
// their own, zeroed at Open.
//
// The area keeps the room of a redo log (layout::DescriptorLogSlot) that earlier versions of
// pmemfs persisted every update to before writing it in place: a third copy of a change the
// store journal already holds, so nothing goes to it any more. Open clears records an earlier
// version left there, so that version never re-applies one over a newer value if it opens the
// device again; the header is unchanged, so the area opens in either version.
//
// Validity: a descriptor is valid when its checksum matches (pin_count taken as 0) or when it is
// all zero (pin_count aside): Format clears the table rather than checksumming every descriptor,
// so all-zero is the free, never-written state. Open does not scan the table (that would be
// O(device)); Get() returns a descriptor that fails its checksum as it reads (valid() tells),
// and fsck checks them. Every update increments the generation.
//
// Usual use:  PMEMFS_ASSIGN_OR_RETURN(auto pd, PageDescriptors::Open(dev, where));
//             pd->Set(page, {.owner = ino, .file_index = i, .refcount = 1, .flags = kPageAllocated});
//             pd->Pin(page); ... read the page in place ... pd->Unpin(page);
//
// Thread-safety: all methods may be called concurrently; updates of one page are serialised
// internally (striped locks), and Get() never sees a half-written value.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "mapping/access.h"
#include "mapping/device.h"
#include "mapping/pin_table.h"
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

// The on-media rules of one descriptor, shared with pmemfs-fsck. The checksum leaves out the
// volatile pin count. A descriptor never written since Format is all zero (pin count aside):
// Format clears the table instead of checksumming every entry, so that is the valid free state.
uint32_t DescriptorChecksum(layout::PageDescriptor d);
bool DescriptorPristine(layout::PageDescriptor d);
bool DescriptorValid(const layout::PageDescriptor& d);

class PageDescriptors : public PinCounts {
 public:
  virtual ~PageDescriptors() = default;

  // Writes an empty descriptor area (header, clear log, all descriptors free) and persists it.
  // Format time; `progress(done, total)` is called now and then when given.
  static Status Format(Device& dev, const std::function<void(uint64_t, uint64_t)>& progress = {});
  // The same into `area` of `dev`, which need not be the device's descriptor area yet
  // (pmemfs-tune --descriptors on formats it before the part labels name it).
  static Status FormatArea(Device& dev, Range area,
                           const std::function<void(uint64_t, uint64_t)>& progress = {});
  // Opens the descriptors of `dev` (which must outlive them). kDevice: InvalidArgument when
  // `dev` has no descriptor area, Corrupt when its header fails a check; then clears the log
  // records an older version left (unless `dev` is read-only) and zeroes the pin counts. kDram:
  // an all-free table of dev.size() / 4096 entries; needs no area and never writes the device.
  static Result<std::unique_ptr<PageDescriptors>> Open(Device& dev, DescriptorPlacement where);

  virtual DescriptorPlacement placement() const = 0;
  virtual uint64_t page_count() const = 0;

  // Page numbers run from 0 to page_count() - 1. The readers and Pin/Unpin ignore any other
  // page (all-zero result); the updaters refuse it with InvalidArgument, changing nothing.
  virtual PageInfo Get(uint64_t page) const = 0;
  virtual uint64_t generation(uint64_t page) const = 0;
  // Whether the descriptor of `page` passes its checksum (or is all zero, never written): a
  // torn write or media damage fails it. True for pages outside the table.
  virtual bool valid(uint64_t page) const = 0;
  // Sets the descriptor of `page`; durable on return (kDevice), not crash-atomic (see above).
  virtual Status Set(uint64_t page, const PageInfo& info) = 0;
  // Sets several descriptors, in order (a page may appear more than once); one drain.
  virtual Status SetBatch(std::span<const PageUpdate> updates) = 0;
  // The same, written and flushed but not drained: durable after the caller's next
  // Device::Drain (the store journal applies descriptor records with its other records under
  // one drain). Visible to Get() at once.
  virtual Status SetBatchNoDrain(std::span<const PageUpdate> updates) = 0;
  // refcount += delta, atomically with respect to other updates of `page`; returns the new
  // count. InvalidArgument (and no change) when the count would leave [0, UINT32_MAX]. Flags are
  // left as they are. Durable on return, as Set.
  virtual Result<uint32_t> AddRef(uint64_t page, int32_t delta) = 0;

  // Pin counts: volatile, atomic, lock-free. Unpin of an unpinned page is ignored (stays 0).
  virtual void Pin(uint64_t page) = 0;
  virtual void Unpin(uint64_t page) = 0;
  uint32_t pin_count(uint64_t page) const override = 0;
};

}  // namespace pmemfs::mapping
