#include "mapping/copy_cache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <list>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "mapping/media_guard.h"
#include "pmemfs/thread_annotations.h"

namespace pmemfs::mapping {

namespace {

constexpr uint64_t kPage = layout::kPageSize;
constexpr uint64_t kMinPages = 16;
constexpr uint64_t kMaxShards = 16;
constexpr uint64_t kMinPagesPerShard = 8;
constexpr uint64_t kNoPage = ~0ull;

enum class State {
  kClean,  // same bytes as the device
  kDirty,  // written since the last write-back
};

// One cached device page. `data` points into the shared frame allocation.
struct Frame {
  std::byte* data = nullptr;
  uint64_t page = kNoPage;  // kNoPage: free
  State state = State::kClean;
};

// A slice of the cache: the pages whose number is congruent to the shard's index modulo the
// shard count.
struct alignas(64) Shard {
  // Held while a page is looked up, filled, copied in or out and (on eviction) written back.
  // Taken one shard at a time; may be held while calling BadBlocks (which locks its own mutex),
  // never the other way round.
  Mutex mu;
  // Every frame of the shard, most recently used first; free frames are kept at the back, so
  // the back is always the frame to (re)use and the shard never grows beyond its share.
  std::list<Frame> lru GUARDED_BY(mu);
  // cached page -> its frame
  std::unordered_map<uint64_t, std::list<Frame>::iterator> map GUARDED_BY(mu);
  uint64_t hits GUARDED_BY(mu) = 0;
  uint64_t misses GUARDED_BY(mu) = 0;
  uint64_t evictions GUARDED_BY(mu) = 0;
  uint64_t writebacks GUARDED_BY(mu) = 0;
  uint64_t cached GUARDED_BY(mu) = 0;
  // The pages of frames not kClean, in order: Sync of a range visits only these (an fsync of a
  // big file with a few dirty pages costs those pages, not the file's or the cache's size).
  std::set<uint64_t> dirty GUARDED_BY(mu);
};

struct FreeDeleter {
  void operator()(std::byte* p) const { std::free(p); }
};

class ShardedCopyCache final : public CopyAccess {
 public:
  ShardedCopyCache(Device* dev, std::unique_ptr<std::byte, FreeDeleter> frames,
                   uint64_t capacity, uint64_t shard_count);

  Mode mode() const override { return Mode::kCopy; }
  Status Read(uint64_t off, std::span<std::byte> dst) override;
  Status ReadInPlace(uint64_t off, uint64_t len, ReadRef* out) override;
  Status Write(uint64_t off, std::span<const std::byte> src) override;
  Status Zero(uint64_t off, uint64_t len) override;
  Status Sync(uint64_t off, uint64_t len) override;
  Status SyncAll() override { return Sync(0, dev_->size()); }
  void Discard(uint64_t off, uint64_t len) override;
  bool buffers_writes() const override { return true; }
  Status CheckClientAccess() const override {
    return Status::Unsupported(
        "direct access needs mode direct or pages (the mode is copy, whose cache may hold newer "
        "bytes than the device)");
  }
  CopyCacheStats stats() const override;

 private:
  Status CheckRange(uint64_t off, uint64_t len) const;
  Shard& ShardOf(uint64_t page) { return shards_[page % shard_count_]; }
  // Writes `len` bytes at `off` into the cache: from `src`, or zeros when `src` is null. On an
  // error the pages before the failing one have been written.
  Status Store(uint64_t off, uint64_t len, const std::byte* src);
  // The frame caching `page`, made most recently used. On a miss takes the LRU frame (writing
  // it back first when dirty) and, when `fill`, loads the page from the device. On error the
  // page is not cached.
  Result<Frame*> Lookup(Shard& s, uint64_t page, bool fill) REQUIRES(s.mu);
  // Frees the frame at the back of s.lru, writing it back and draining first when dirty.
  Status EvictBack(Shard& s) REQUIRES(s.mu);
  // Calls fn(frame_iterator) for each cached page of `s` in [first, end): probes the map when
  // the range is small, scans the frames otherwise. fn (called with s.mu held) may free the
  // frame.
  template <typename Fn>
  void ForCached(Shard& s, size_t index, uint64_t first, uint64_t end, Fn&& fn) REQUIRES(s.mu);
  // Removes the bad-block mark of `page`, whose whole contents have just reached the device.
  Status ClearMark(uint64_t page);

  std::unique_ptr<std::byte, FreeDeleter> frames_;  // capacity_ pages, page-aligned
  const uint64_t capacity_;
  const uint64_t shard_count_;
  std::unique_ptr<Shard[]> shards_;
};

ShardedCopyCache::ShardedCopyCache(Device* dev, std::unique_ptr<std::byte, FreeDeleter> frames,
                                   uint64_t capacity, uint64_t shard_count)
    : CopyAccess(dev),
      frames_(std::move(frames)),
      capacity_(capacity),
      shard_count_(shard_count),
      shards_(new Shard[shard_count]) {
  std::byte* next = frames_.get();
  for (uint64_t i = 0; i < shard_count_; i++) {
    // Shares differ by at most one page and add up to capacity_.
    uint64_t share = capacity_ / shard_count_ + (i < capacity_ % shard_count_ ? 1 : 0);
    shards_[i].map.reserve(share);
    for (uint64_t f = 0; f < share; f++, next += kPage) shards_[i].lru.push_back({.data = next});
  }
}

Status ShardedCopyCache::CheckRange(uint64_t off, uint64_t len) const {
  if (off > dev_->size() || len > dev_->size() - off)
    return Status::InvalidArgument("access [" + std::to_string(off) + ", +" + std::to_string(len) +
                                   ") is outside the device (" + std::to_string(dev_->size()) +
                                   " bytes)");
  return Status::Ok();
}

Status ShardedCopyCache::ClearMark(uint64_t page) {
  BadBlocks& bb = dev_->bad_blocks();
  if (bb.empty() || bb.Check(page * kPage, kPage).ok()) return Status::Ok();
  return bb.ClearWholePages(page * kPage, kPage);
}

Status ShardedCopyCache::EvictBack(Shard& s) {
  Frame& f = s.lru.back();
  if (f.page == kNoPage) return Status::Ok();
  Status st;
  if (f.state != State::kClean) {
    // The frame is reused as soon as we return, so this write-back must be durable first.
    dev_->CopyNoDrain(f.page * kPage, f.data, kPage);
    dev_->Drain();
    s.writebacks++;
    s.dirty.erase(f.page);
    // The data is durable unless the device shrank under it (then it is lost: say so); report
    // a failed table update too.
    st = dev_->Health();
    if (st.ok()) st = ClearMark(f.page);
  }
  s.evictions++;
  s.cached--;
  s.map.erase(f.page);
  f.page = kNoPage;
  f.state = State::kClean;
  return st;
}

Result<Frame*> ShardedCopyCache::Lookup(Shard& s, uint64_t page, bool fill) {
  if (auto it = s.map.find(page); it != s.map.end()) {
    s.hits++;
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return &*it->second;
  }
  s.misses++;
  // Check before evicting, so a read of a bad page does not push a good one out.
  if (fill) PMEMFS_RETURN_IF_ERROR(dev_->bad_blocks().Check(page * kPage, kPage));
  PMEMFS_RETURN_IF_ERROR(EvictBack(s));
  auto it = std::prev(s.lru.end());
  Frame& f = *it;
  if (fill) {
    Status st;
    std::byte* d = f.data;
    dev_->ForEachSegment(page * kPage, kPage, [&](Segment seg) {
      if (st.ok()) st = GuardedCopy(d, seg.ptr, seg.length, "device", seg.offset);
      d += seg.length;
    });
    if (!st.ok()) return st;  // the frame stays free, at the back
  }
  f.page = page;
  f.state = State::kClean;
  s.map.emplace(page, it);
  s.cached++;
  s.lru.splice(s.lru.begin(), s.lru, it);
  return &f;
}

Status ShardedCopyCache::Read(uint64_t off, std::span<std::byte> dst) {
  PMEMFS_RETURN_IF_ERROR(CheckRange(off, dst.size()));
  for (uint64_t done = 0; done < dst.size();) {
    const uint64_t pos = off + done, page = pos / kPage, in = pos % kPage;
    const uint64_t n = std::min<uint64_t>(kPage - in, dst.size() - done);
    Shard& s = ShardOf(page);
    MutexLock lock(s.mu);
    PMEMFS_ASSIGN_OR_RETURN(Frame * f, Lookup(s, page, /*fill=*/true));
    std::memcpy(dst.data() + done, f->data + in, n);
    done += n;
  }
  return Status::Ok();
}

Status ShardedCopyCache::ReadInPlace(uint64_t off, uint64_t len, ReadRef* out) {
  PMEMFS_RETURN_IF_ERROR(CheckRange(off, len));
  return ReadIntoOwnBuffer(off, len, out);
}

Status ShardedCopyCache::Store(uint64_t off, uint64_t len, const std::byte* src) {
  PMEMFS_RETURN_IF_ERROR(CheckRange(off, len));
  PMEMFS_RETURN_IF_ERROR(dev_->Health());  // a device that shrank takes no more writes
  for (uint64_t done = 0; done < len;) {
    const uint64_t pos = off + done, page = pos / kPage, in = pos % kPage;
    const uint64_t n = std::min(kPage - in, len - done);
    Shard& s = ShardOf(page);
    MutexLock lock(s.mu);
    // A missing page written only in part is loaded first, so the rest of it is kept.
    PMEMFS_ASSIGN_OR_RETURN(Frame * f, Lookup(s, page, /*fill=*/n != kPage));
    if (src != nullptr) {
      std::memcpy(f->data + in, src + done, n);
    } else {
      std::memset(f->data + in, 0, n);
    }
    if (f->state == State::kClean) s.dirty.insert(page);
    f->state = State::kDirty;
    done += n;
  }
  return Status::Ok();
}

Status ShardedCopyCache::Write(uint64_t off, std::span<const std::byte> src) {
  return Store(off, src.size(), src.data());
}

Status ShardedCopyCache::Zero(uint64_t off, uint64_t len) { return Store(off, len, nullptr); }

template <typename Fn>
void ShardedCopyCache::ForCached(Shard& s, size_t index, uint64_t first, uint64_t end, Fn&& fn) {
  if ((end - first) / shard_count_ <= s.lru.size()) {
    // First page of the range that belongs to this shard, then every shard_count_-th page.
    uint64_t p = first + (index + shard_count_ - first % shard_count_) % shard_count_;
    for (; p < end; p += shard_count_)
      if (auto it = s.map.find(p); it != s.map.end()) fn(it->second);
  } else {
    for (auto it = s.lru.begin(); it != s.lru.end();) {
      auto cur = it++;  // fn may move *cur to the back
      if (cur->page != kNoPage && cur->page >= first && cur->page < end) fn(cur);
    }
  }
}

Status ShardedCopyCache::Sync(uint64_t off, uint64_t len) {
  off = std::min(off, dev_->size());
  len = std::min(len, dev_->size() - off);
  if (len == 0) return Status::Ok();
  PMEMFS_RETURN_IF_ERROR(dev_->Health());
  const uint64_t first = off / kPage, end = (off + len + kPage - 1) / kPage;
  // Shard by shard, under its lock: copy its dirty pages in the range to the device, drain, and
  // only then mark them clean. The drain must come before the lock goes: a page whose copy is
  // not yet durable may otherwise be discarded (its block freed) and the block reused and
  // written by its next owner, and the late copy land on the media after (over) that write.
  Status result;
  for (uint64_t i = 0; i < shard_count_; i++) {
    Shard& s = shards_[i];
    MutexLock lock(s.mu);
    std::vector<uint64_t> copied;
    for (auto p = s.dirty.lower_bound(first); p != s.dirty.end() && *p < end; ++p) {
      dev_->CopyNoDrain(*p * kPage, s.map.at(*p)->data, kPage);
      s.writebacks++;
      copied.push_back(*p);
    }
    if (copied.empty()) continue;
    dev_->Drain();
    // A device that shrank under them may have lost them: they stay dirty, the sync fails.
    PMEMFS_RETURN_IF_ERROR(dev_->Health());
    for (uint64_t page : copied) {
      s.map.at(page)->state = State::kClean;
      s.dirty.erase(page);
      // Whole pages have replaced whatever was marked bad in them.
      Status st = ClearMark(page);
      if (result.ok()) result = st;
    }
  }
  return result;
}

void ShardedCopyCache::Discard(uint64_t off, uint64_t len) {
  off = std::min(off, dev_->size());
  len = std::min(len, dev_->size() - off);
  if (len == 0) return;
  const uint64_t first = off / kPage, end = (off + len + kPage - 1) / kPage;
  for (uint64_t i = 0; i < shard_count_; i++) {
    Shard& s = shards_[i];
    MutexLock lock(s.mu);
    // Runs under s.mu (ForCached requires it); the analysis does not follow lambdas.
    ForCached(s, i, first, end, [&](std::list<Frame>::iterator it) NO_THREAD_SAFETY_ANALYSIS {
      // A dirty page only partly in the range keeps its bytes: dropping it would lose the
      // writes outside the range.
      const bool whole = it->page * kPage >= off && (it->page + 1) * kPage <= off + len;
      if (!whole && it->state != State::kClean) return;
      if (it->state != State::kClean) s.dirty.erase(it->page);
      s.cached--;
      s.map.erase(it->page);
      it->page = kNoPage;
      it->state = State::kClean;
      s.lru.splice(s.lru.end(), s.lru, it);
    });
  }
}

CopyCacheStats ShardedCopyCache::stats() const {
  CopyCacheStats out;
  out.capacity_pages = capacity_;
  for (uint64_t i = 0; i < shard_count_; i++) {
    Shard& s = shards_[i];
    MutexLock lock(s.mu);
    out.hits += s.hits;
    out.misses += s.misses;
    out.evictions += s.evictions;
    out.writebacks += s.writebacks;
    out.cached_pages += s.cached;
    out.dirty_pages += s.dirty.size();
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<CopyAccess>> CopyAccess::Open(Device& dev, const AccessOptions& opts) {
  const uint64_t capacity = opts.cache_size / kPage;
  if (capacity < kMinPages)
    return Status::InvalidArgument("copy cache of " + std::to_string(opts.cache_size) +
                                   " bytes is too small (at least " +
                                   std::to_string(kMinPages * kPage) + " bytes)");
  if (capacity > SIZE_MAX / kPage)
    return Status::InvalidArgument("copy cache of " + std::to_string(opts.cache_size) +
                                   " bytes is too large");
  std::unique_ptr<std::byte, FreeDeleter> frames(
      static_cast<std::byte*>(std::aligned_alloc(kPage, capacity * kPage)));
  if (!frames)
    return Status::NoSpace("cannot allocate a copy cache of " + std::to_string(capacity * kPage) +
                           " bytes");
  const uint64_t shards = std::clamp<uint64_t>(capacity / kMinPagesPerShard, 1, kMaxShards);
  return std::unique_ptr<CopyAccess>(
      new ShardedCopyCache(&dev, std::move(frames), capacity, shards));
}

}  // namespace pmemfs::mapping
