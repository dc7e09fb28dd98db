#include "mapping/pin_table.h"

#include <algorithm>

namespace pmemfs::mapping {

void PinTable::Pin(uint64_t first, uint64_t last) {
  MutexLock l(mu_);
  ranges_.emplace_back(first, last);
  size_.store(ranges_.size(), std::memory_order_release);
}

void PinTable::Unpin(uint64_t first, uint64_t last) {
  MutexLock l(mu_);
  auto it = std::find(ranges_.begin(), ranges_.end(), std::make_pair(first, last));
  if (it == ranges_.end()) return;
  *it = ranges_.back();
  ranges_.pop_back();
  size_.store(ranges_.size(), std::memory_order_release);
}

uint32_t PinTable::pin_count(uint64_t page) const {
  if (size_.load(std::memory_order_acquire) == 0) return 0;
  MutexLock l(mu_);
  uint32_t n = 0;
  for (const auto& [first, last] : ranges_) n += first <= page && page <= last;
  return n;
}

}  // namespace pmemfs::mapping
