// RamPartition: a bitmap of 4 KiB pages over DeviceInfo::ram, searched next-fit.
//
// Nothing here is persistent: the bitmap lives in DRAM and starts empty at every Open, and pages
// are zeroed with plain stores when handed out. No Flush/Drain/Persist ever touches the range,
// so the RAM partition costs no persist points and never reaches the persisted image.
#include "mapping/ram_partition.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

namespace pmemfs::mapping {

namespace {

constexpr uint64_t kWordBits = 64;
constexpr uint64_t kAllSet = ~uint64_t{0};

// Sets (value = true) or clears bits [from, to).
void SetBits(std::vector<uint64_t>& bm, uint64_t from, uint64_t to, bool value) {
  for (uint64_t i = from; i < to;) {
    uint64_t bit = i % kWordBits;
    uint64_t n = std::min(kWordBits - bit, to - i);
    uint64_t mask = (n == kWordBits ? kAllSet : ((uint64_t{1} << n) - 1)) << bit;
    if (value) bm[i / kWordBits] |= mask;
    else bm[i / kWordBits] &= ~mask;
    i += n;
  }
}

// The first index in [from, limit) whose bit equals `value`, or `limit`.
uint64_t FindBit(const std::vector<uint64_t>& bm, uint64_t from, uint64_t limit, bool value) {
  while (from < limit) {
    uint64_t word = bm[from / kWordBits];
    if (!value) word = ~word;
    word >>= from % kWordBits;  // candidates from `from` on, in bit 0 upwards
    if (word != 0) return std::min(limit, from + std::countr_zero(word));
    from = (from / kWordBits + 1) * kWordBits;
  }
  return limit;
}

std::string RangeString(uint64_t off, uint64_t n) {
  // Appended piece by piece: GCC 12 at -O3 reports a false -Wrestrict inside libstdc++ for
  // `"[" + std::to_string(off)` (a known GCC 12 false positive).
  std::string s = "[";
  s += std::to_string(off);
  s += ", +";
  s += std::to_string(n);
  s += " pages)";
  return s;
}

}  // namespace

std::unique_ptr<RamPartition> RamPartition::Open(Device& dev) {
  Range r = dev.info().ram;
  // The label check guarantees a page-aligned offset; trim a ragged tail rather than trust it.
  r.length -= r.length % layout::kPageSize;
  return std::unique_ptr<RamPartition>(new RamPartition(dev, r));
}

RamPartition::RamPartition(Device& dev, Range r) : dev_(dev), range_(r) {
  uint64_t pages = total_pages();
  bitmap_.assign((pages + kWordBits - 1) / kWordBits, 0);
  // Bits past the last page read as allocated, so a search never runs off the end.
  if (pages % kWordBits) bitmap_.back() = kAllSet << (pages % kWordBits);
  free_ = pages;
}

uint64_t RamPartition::free_pages() const {
  MutexLock lock(mu_);
  return free_;
}

Result<uint64_t> RamPartition::Allocate(uint64_t n) {
  if (n == 0) return Status::InvalidArgument("RAM partition: cannot allocate 0 pages");
  const uint64_t total = total_pages();
  uint64_t first = 0;
  {
    MutexLock lock(mu_);
    if (n > free_)
      return Status::NoSpace("RAM partition: " + std::to_string(n) + " pages requested, " +
                             std::to_string(free_) + " of " + std::to_string(total) + " free");
    // Next-fit: runs starting in [hint_, total), then wrap to runs starting in [0, hint_).
    // (Runs under `lock`, which the analysis does not follow into a lambda.)
    auto search = [&](uint64_t from, uint64_t start_limit) NO_THREAD_SAFETY_ANALYSIS -> bool {
      while (true) {
        uint64_t p = FindBit(bitmap_, from, total, false);
        if (p >= start_limit || p + n > total) return false;
        uint64_t e = FindBit(bitmap_, p, p + n, true);
        if (e == p + n) {
          first = p;
          return true;
        }
        from = e;
      }
    };
    if (!search(hint_, total) && !search(0, hint_))
      return Status::NoSpace("RAM partition: no run of " + std::to_string(n) +
                             " contiguous free pages (" + std::to_string(free_) + " of " +
                             std::to_string(total) + " free, fragmented)");
    SetBits(bitmap_, first, first + n, true);
    free_ -= n;
    hint_ = first + n == total ? 0 : first + n;
  }
  // The pages are the caller's now, so zero them outside the lock. Plain stores, never flushed:
  // the partition is volatile.
  uint64_t off = range_.offset + first * layout::kPageSize;
  dev_.ForEachSegment(off, n * layout::kPageSize,
                      [](Segment s) { std::memset(s.ptr, 0, s.length); });
  return off;
}

Status RamPartition::Free(uint64_t off, uint64_t n) {
  const uint64_t total = total_pages();
  // Written so that no sum can wrap (Contains() adds off + len).
  if (n == 0 || n > total || off % layout::kPageSize != 0 || off < range_.offset ||
      off - range_.offset > (total - n) * layout::kPageSize)
    return Status::InvalidArgument("RAM partition: cannot free " + RangeString(off, n) +
                                   ": not page-aligned pages inside " +
                                   RangeString(range_.offset, total));
  uint64_t first = (off - range_.offset) / layout::kPageSize;
  MutexLock lock(mu_);
  uint64_t hole = FindBit(bitmap_, first, first + n, false);
  if (hole != first + n)
    return Status::InvalidArgument("RAM partition: cannot free " + RangeString(off, n) +
                                   ": page at " +
                                   std::to_string(range_.offset + hole * layout::kPageSize) +
                                   " is not allocated");
  SetBits(bitmap_, first, first + n, false);
  free_ += n;
  return Status::Ok();
}

}  // namespace pmemfs::mapping
