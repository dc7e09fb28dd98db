#include "fs/store/tx.h"

#include <algorithm>
#include <iterator>

#include "fs/store/allocator.h"
#include "fs/store/bitmap_checksums.h"
#include "fs/store/journal.h"
#include "fs/store/store.h"

namespace pmemfs::store {

Tx::Tx(Tx&& o) noexcept
    : store_(o.store_),
      done_(o.done_),
      writes_(std::move(o.writes_)),
      descriptors_(std::move(o.descriptors_)),
      alloc_(std::move(o.alloc_)),
      free_(std::move(o.free_)),
      inodes_reserved_(std::move(o.inodes_reserved_)),
      inodes_freed_(std::move(o.inodes_freed_)),
      error_(std::move(o.error_)) {
  o.done_ = true;  // the moved-from Tx owns no reservations
}

Tx::~Tx() {
  if (!done_ && store_) store_->Abort(*this);
}

// writes_ holds non-overlapping, non-touching ranges: a write merges with every range it
// overlaps or touches, its own bytes on top.
void Tx::Write(uint64_t off, const void* data, uint32_t len) {
  if (len == 0) return;
  const auto* src = static_cast<const std::byte*>(data);
  const uint64_t end = off + len;
  // The first range that may overlap or touch [off, end): the last one starting at or before off.
  auto first = writes_.upper_bound(off);
  if (first != writes_.begin()) {
    auto prev = std::prev(first);
    if (prev->first + prev->second.size() >= off) first = prev;
  }
  auto last = first;  // one past the ranges to merge
  while (last != writes_.end() && last->first <= end) ++last;

  if (first == last) {
    writes_.emplace(off, std::vector<std::byte>(src, src + len));
    return;
  }
  const uint64_t start = std::min(off, first->first);
  const uint64_t stop = std::max(end, std::prev(last)->first + std::prev(last)->second.size());
  // Extend the first range in place (appending writes stay linear), fold in the rest.
  std::vector<std::byte> merged = std::move(first->second);
  if (first->first > start) merged.insert(merged.begin(), first->first - start, std::byte{0});
  merged.resize(stop - start);
  for (auto it = std::next(first); it != last; ++it)
    std::copy(it->second.begin(), it->second.end(), merged.begin() + (it->first - start));
  std::copy(src, src + len, merged.begin() + (off - start));
  writes_.erase(first, last);
  writes_.emplace(start, std::move(merged));
}

void Tx::Overlay(uint64_t off, void* dst, uint32_t len) const {
  auto* out = static_cast<std::byte*>(dst);
  store_->device().Read(off, out, len);
  const uint64_t end = off + len;
  auto it = writes_.upper_bound(off);
  if (it != writes_.begin()) --it;
  for (; it != writes_.end() && it->first < end; ++it) {
    const uint64_t lo = std::max(off, it->first);
    const uint64_t hi = std::min<uint64_t>(end, it->first + it->second.size());
    if (lo >= hi) continue;
    std::copy(it->second.begin() + (lo - it->first), it->second.begin() + (hi - it->first),
              out + (lo - off));
  }
}

uint64_t Tx::journal_bytes() const {
  uint64_t n = descriptors_.size() * kDescriptorRecordSize;
  for (const auto& [off, bytes] : writes_) n += BytesRecordSize(bytes.size());
  for (const WordRun& r : BitmapWordRuns(alloc_, free_))
    n += BytesRecordSize(r.count * sizeof(uint64_t));
  if (HasBitmapChecksums(store_->superblock()))
    n += BitmapBlocks(store_->superblock()).size() * BytesRecordSize(sizeof(uint32_t));
  return n;
}

std::set<uint64_t> Tx::BitmapBlocks(const layout::Superblock& sb) const {
  constexpr uint64_t kWordsPerBlock = layout::kBlockSize / sizeof(uint64_t);
  std::set<uint64_t> blocks;
  for (const WordRun& r : BitmapWordRuns(alloc_, free_))
    for (uint64_t b = r.first / kWordsPerBlock; b <= (r.first + r.count - 1) / kWordsPerBlock; b++)
      blocks.insert(b);
  const uint64_t lo = sb.bitmap_start * layout::kBlockSize;
  const uint64_t hi = lo + layout::BitmapBytes(sb.store_blocks);
  for (const auto& [off, bytes] : writes_) {
    const uint64_t s = std::max(off, lo), e = std::min<uint64_t>(off + bytes.size(), hi);
    for (uint64_t at = s; at < e; at = (at / layout::kBlockSize + 1) * layout::kBlockSize)
      blocks.insert(at / layout::kBlockSize - sb.bitmap_start);
  }
  return blocks;
}

}  // namespace pmemfs::store
