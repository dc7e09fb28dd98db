#include "fs/store/allocator.h"

#include "fs/store/bitmap_area.h"
#include "fs/store/metadata_media.h"

#include <algorithm>
#include <bit>
#include <string>

namespace pmemfs::store {

namespace {

std::string RangeName(BlockRange r) {
  return "blocks [" + std::to_string(r.start) + ", " + std::to_string(r.end()) + ")";
}

}  // namespace

std::vector<WordRun> BitmapWordRuns(std::span<const BlockRange> a, std::span<const BlockRange> b) {
  std::vector<WordRun> runs;
  for (auto ranges : {a, b})
    for (const BlockRange& r : ranges)
      if (r.count > 0) runs.push_back({r.start / 64, (r.end() - 1) / 64 - r.start / 64 + 1});
  std::sort(runs.begin(), runs.end(),
            [](const WordRun& x, const WordRun& y) { return x.first < y.first; });
  std::vector<WordRun> merged;
  for (const WordRun& r : runs) {
    if (!merged.empty() && r.first <= merged.back().first + merged.back().count) {
      WordRun& m = merged.back();
      m.count = std::max(m.first + m.count, r.first + r.count) - m.first;
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

Allocator::Allocator(const layout::Superblock& sb, const mapping::PinCounts* pins,
                     uint64_t phase)
    : data_start_(sb.data_start),
      data_end_(sb.backup_block),
      bitmap_offset_(sb.bitmap_start * layout::kBlockSize),
      moved_bitmap_(MovedBitmapArea(sb)),
      phase_(phase % kHugeBlocks),
      pins_(pins),
      committed_((sb.store_blocks + 63) / 64),
      reserved_(committed_.size()),
      hint_(sb.data_start) {}

void Allocator::Load(const mapping::Device& dev) {
  MutexLock lock(mu_);
  // A bitmap page in a recorded bad range is not read: its blocks count as used (a read-only
  // mount: metadata_media.h).
  const uint64_t bytes = committed_.size() * sizeof(uint64_t);
  for (uint64_t at = 0; at < bytes; at += layout::kBlockSize) {
    const uint64_t n = std::min<uint64_t>(layout::kBlockSize, bytes - at);
    std::byte* dst = reinterpret_cast<std::byte*>(committed_.data()) + at;
    if (MediaGood(dev, bitmap_offset_ + at, n)) dev.Read(bitmap_offset_ + at, dst, n);
    else std::memset(dst, 0xff, n);
  }
  // Metadata blocks are in use whatever the bitmap says (the next commit touching their words
  // writes them so).
  SetBitmapBits(committed_, {0, data_start_}, true);
  SetBitmapBits(committed_, {data_end_, 1}, true);  // the backup superblock
  SetBitmapBits(committed_, moved_bitmap_, true);   // a bitmap area inside the data area
  reserved_ = committed_;
  free_ = 0;
  // (The lambda runs under mu_, which the analysis does not follow into a lambda.)
  ForEachBitmapWord({data_start_, data_end_ - data_start_},
                    [&](uint64_t w, uint64_t m) NO_THREAD_SAFETY_ANALYSIS {
                      free_ += std::popcount(~reserved_[w] & m);
                    });
}

uint64_t Allocator::NextFree(uint64_t b, uint64_t end) const {
  while (b < end) {
    const uint64_t bits = ~reserved_[b / 64] & ~((1ull << (b % 64)) - 1);
    if (bits) return std::min(end, b / 64 * 64 + std::countr_zero(bits));
    b = (b / 64 + 1) * 64;
  }
  return end;
}

uint64_t Allocator::NextUsed(uint64_t b, uint64_t end) const {
  while (b < end) {
    const uint64_t bits = reserved_[b / 64] & ~((1ull << (b % 64)) - 1);
    if (bits) return std::min(end, b / 64 * 64 + std::countr_zero(bits));
    b = (b / 64 + 1) * 64;
  }
  return end;
}

void Allocator::Reserve(BlockRange r) {
  SetBitmapBits(reserved_, r, true);
  free_ -= r.count;
}

void Allocator::Unreserve(BlockRange r) {
  SetBitmapBits(reserved_, r, false);
  free_ += r.count;
}

bool Allocator::Pinned(uint64_t block) const {
  return pins_ && pins_->pin_count(block) > 0;
}

void Allocator::RetryDeferred() {
  std::vector<BlockRange> unpinned;
  std::erase_if(deferred_, [&](uint64_t b) {
    if (Pinned(b)) return false;
    unpinned.push_back({b, 1});
    return true;
  });
  for (BlockRange r : unpinned) Unreserve(r);
}

uint64_t Allocator::ColourPhase(const mapping::Device& dev) {
  if (dev.size() == 0) return 0;
  return dev.Locate(0).part_offset / layout::kBlockSize % kHugeBlocks;
}

BlockRange Allocator::FindColoured(uint64_t count, uint64_t start, uint64_t colour) const {
  colour %= kHugeBlocks;
  // The first block at or after b whose colour is `colour`.
  auto coloured = [&](uint64_t b) {
    return b + (colour + kHugeBlocks - (b + phase_) % kHugeBlocks) % kHugeBlocks;
  };
  const std::pair<uint64_t, uint64_t> passes[] = {{start, data_end_}, {data_start_, start}};
  for (auto [from, to] : passes) {
    for (uint64_t b = NextFree(from, to); b < to;) {
      const uint64_t a = coloured(b);
      if (a >= to || a + count > data_end_) break;
      const uint64_t e = NextUsed(a, a + count);
      if (e == a + count) return {a, count};
      b = NextFree(e, to);  // block e is used: no run through it
    }
  }
  return {};
}

Result<BlockRange> Allocator::Alloc(uint64_t count, uint64_t goal, uint64_t colour) {
  if (count == 0) return Status::InvalidArgument("allocation of 0 blocks");
  MutexLock lock(mu_);
  RetryDeferred();
  const uint64_t start = goal >= data_start_ && goal < data_end_ ? goal : hint_;
  if (colour != kAnyColour) {
    if (BlockRange r = FindColoured(count, start, colour); r.count == count) {
      Reserve(r);
      hint_ = r.end() < data_end_ ? r.end() : data_start_;
      return r;
    }
  }
  BlockRange best;
  // Next-fit: [start, end) first, then wrap to [data_start, start). A run may extend past the
  // pass's end (up to the data area's end): the pass bounds only where runs begin.
  const std::pair<uint64_t, uint64_t> passes[] = {{start, data_end_}, {data_start_, start}};
  for (auto [from, to] : passes) {
    for (uint64_t b = NextFree(from, to); b < to; b = NextFree(b, to)) {
      const uint64_t e = NextUsed(b, std::min(data_end_, b + count));
      if (e - b >= count) {
        best = {b, count};
        break;
      }
      if (e - b > best.count) best = {b, e - b};
      b = e;
    }
    if (best.count == count) break;
  }
  if (best.count == 0)
    return Status::NoSpace("no free block in the data area (" +
                           std::to_string(data_end_ - data_start_) + " blocks)");
  Reserve(best);
  hint_ = best.end() < data_end_ ? best.end() : data_start_;
  return best;
}

void Allocator::Release(std::span<const BlockRange> ranges) {
  MutexLock lock(mu_);
  for (const BlockRange& r : ranges) Unreserve(r);
}

Result<std::map<uint64_t, uint64_t>> Allocator::Materialise(
    std::span<const BlockRange> alloc, std::span<const BlockRange> free) const {
  MutexLock lock(mu_);
  std::map<uint64_t, uint64_t> words;
  auto word = [&](uint64_t w) NO_THREAD_SAFETY_ANALYSIS -> uint64_t& {  // under `lock`
    auto [it, fresh] = words.try_emplace(w, 0);
    if (fresh) it->second = committed_[w];
    return it->second;
  };
  for (auto ranges : {alloc, free}) {
    for (const BlockRange& r : ranges) {
      if (r.start < data_start_ || r.start > data_end_ || r.count > data_end_ - r.start)
        return Status::InvalidArgument(RangeName(r) + " lie outside the data area [" +
                                       std::to_string(data_start_) + ", " +
                                       std::to_string(data_end_) + ")");
      if (r.count > 0 && r.start < moved_bitmap_.end() && moved_bitmap_.start < r.end())
        return Status::InvalidArgument(RangeName(r) + " overlap the allocation bitmap");
    }
  }
  // Allocations first: a block reserved and freed by the same transaction ends up free.
  for (const BlockRange& r : alloc)
    ForEachBitmapWord(r, [&](uint64_t w, uint64_t m) { word(w) |= m; });
  for (const BlockRange& r : free) {
    Status s;
    ForEachBitmapWord(r, [&](uint64_t w, uint64_t m) {
      uint64_t& v = word(w);
      if ((v & m) != m && s.ok()) s = Status::InvalidArgument(RangeName(r) + " are not all in use");
      v &= ~m;
    });
    PMEMFS_RETURN_IF_ERROR(s);
  }
  return words;
}

void Allocator::Committed(std::span<const BlockRange> alloc, std::span<const BlockRange> free) {
  MutexLock lock(mu_);
  for (const BlockRange& r : alloc) SetBitmapBits(committed_, r, true);
  for (const BlockRange& r : free) {
    SetBitmapBits(committed_, r, false);
    // Runs of unpinned blocks are free now; pinned ones wait in deferred_.
    for (uint64_t b = r.start; b < r.end();) {
      uint64_t e = b;
      while (e < r.end() && !Pinned(e)) e++;
      if (e > b) Unreserve({b, e - b});
      if (e < r.end()) deferred_.push_back(e++);
      b = e;
    }
  }
}

uint64_t Allocator::free_blocks() const {
  MutexLock lock(mu_);
  return free_;
}

}  // namespace pmemfs::store
