// Pins: a device page that a reader uses in place (a ReadRef handed to the kernel) is pinned
// until the reader releases it, and the store does not reuse a freed page while it is pinned
// (fs/store/allocator.h defers it). Pins are volatile: nothing about them is ever written.
//
//   PinCounts  what the allocator asks: how many pins a page has now.
//   PinTable   direct mode's pins: a small DRAM table of pinned page ranges, one entry per
//              ReadRef alive, so its size follows the reads in flight, not the device.
//              (Pages mode keeps its pins in the page descriptors, page_descriptors.h; copy mode
//              replies from its own buffer and pins nothing.)
//
// Ordering: a reader pins while it holds the inode lock that keeps its extents valid, so a
// truncate that frees those blocks (under the same lock, later) sees the pin when its commit
// releases them.
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "pmemfs/thread_annotations.h"

namespace pmemfs::mapping {

class PinCounts {
 public:
  virtual ~PinCounts() = default;
  // Pins `page` has now (0 for a page outside the device). Thread-safe.
  virtual uint32_t pin_count(uint64_t page) const = 0;
};

class PinTable final : public PinCounts {
 public:
  // Pins pages [first, last] once; Unpin(first, last) drops that pin. Thread-safe.
  void Pin(uint64_t first, uint64_t last);
  // Drops one pin taken by Pin(first, last); ignored when there is none.
  void Unpin(uint64_t first, uint64_t last);
  uint32_t pin_count(uint64_t page) const override;
  // Ranges pinned now.
  size_t size() const { return size_.load(std::memory_order_acquire); }

 private:
  mutable Mutex mu_;
  // [first, last], one per pin
  std::vector<std::pair<uint64_t, uint64_t>> ranges_ GUARDED_BY(mu_);
  std::atomic<size_t> size_{0};  // ranges_.size(): pin_count's lock-free answer when 0
};

// Pinned when pinned in either (the readers' pins and direct-access leases: fs/core/leases.h).
class PinUnion final : public PinCounts {
 public:
  // Either may be null; both must outlive this.
  PinUnion(const PinCounts* a, const PinCounts* b) : a_(a), b_(b) {}
  uint32_t pin_count(uint64_t page) const override {
    const PinCounts* a = a_.load(std::memory_order_acquire);
    return (a ? a->pin_count(page) : 0) + (b_ ? b_->pin_count(page) : 0);
  }
  // Replaces the first (an online mode switch: the new Access's pins, while nothing is pinned
  // in the old one).
  void set_first(const PinCounts* a) { a_.store(a, std::memory_order_release); }

 private:
  std::atomic<const PinCounts*> a_;
  const PinCounts* b_;
};

}  // namespace pmemfs::mapping
