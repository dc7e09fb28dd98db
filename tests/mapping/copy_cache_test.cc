#include "mapping/copy_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "sim_device_fixture.h"
#include "test_support.h"

namespace pmemfs::mapping {
namespace {

using testing::AllSetups;
using testing::SetupName;
using testing::SimDeviceTest;

constexpr uint64_t kPage = layout::kPageSize;

// Deterministic bytes that differ with `seed` and position.
std::vector<std::byte> Pattern(uint64_t seed, uint64_t len) {
  std::vector<std::byte> v(len);
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<std::byte>(x);
  }
  return v;
}

std::vector<std::byte> Zeros(uint64_t len) { return std::vector<std::byte>(len); }

class CopyCacheTest : public SimDeviceTest {
 protected:
  // At SetUp and after CrashAndReopen (power loss: drops the cache with whatever it did not
  // write back, then the device): a 64-page cache.
  void Open() override { Open(64 * kPage); }
  void Close() override { acc_.reset(); }

  void Open(uint64_t cache_size) {
    acc_.reset();
    auto r = CopyAccess::Open(*d_.dev, {.mode = Mode::kCopy, .cache_size = cache_size});
    ASSERT_TRUE(r.ok()) << r.status().message();
    acc_ = std::move(r).value();
  }

  std::vector<std::byte> ReadCache(uint64_t off, uint64_t len) {
    std::vector<std::byte> out(len);
    Status st = acc_->Read(off, out);
    EXPECT_TRUE(st.ok()) << st.message();
    return out;
  }

  void Write(uint64_t off, const std::vector<std::byte>& bytes) {
    Status st = acc_->Write(off, bytes);
    ASSERT_TRUE(st.ok()) << st.message();
  }

  std::unique_ptr<CopyAccess> acc_;
};

TEST_P(CopyCacheTest, ReadsItsOwnWrites) {
  const uint64_t off = 1000, len = 3 * kPage + 17;
  auto data = Pattern(1, len);
  Write(off, data);
  EXPECT_EQ(ReadCache(off, len), data);
  EXPECT_EQ(ReadCache(off + 5, 100), std::vector<std::byte>(data.begin() + 5, data.begin() + 105));

  ReadRef ref;
  ASSERT_TRUE(acc_->ReadInPlace(off, len, &ref).ok());
  EXPECT_EQ(ref.iov().size(), 1u);
  EXPECT_EQ(ref.length(), len);
  EXPECT_EQ(ref.ToBytes(), data);
  EXPECT_EQ(acc_->mode(), Mode::kCopy);
  // What the layers above ask instead of the mode: writes wait for Sync, the bytes persist
  // then, and clients may not reach them in place (the cache may hold newer ones).
  EXPECT_TRUE(acc_->buffers_writes());
  EXPECT_TRUE(acc_->persistent());
  Status st = acc_->CheckClientAccess();
  EXPECT_EQ(st.code(), Code::kUnsupported);
  EXPECT_NE(st.message().find("copy"), std::string::npos) << st.message();
  EXPECT_EQ(acc_->pins(), nullptr);
}

TEST_P(CopyCacheTest, CountsHitsAndMisses) {
  ReadCache(0, kPage);
  ReadCache(0, kPage);
  ReadCache(100, 10);
  CopyCacheStats s = acc_->stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.cached_pages, 1u);
  EXPECT_EQ(s.dirty_pages, 0u);
  EXPECT_EQ(s.capacity_pages, 64u);
}

TEST_P(CopyCacheTest, DeviceUnchangedUntilSync) {
  const uint64_t off = 5 * kPage + 300, len = 2 * kPage;
  auto data = Pattern(2, len);
  Write(off, data);
  EXPECT_EQ(ReadDevice(off, len), Zeros(len));
  EXPECT_EQ(acc_->stats().dirty_pages, 3u);
  EXPECT_EQ(acc_->stats().writebacks, 0u);

  ASSERT_TRUE(acc_->Sync(off, len).ok());
  EXPECT_EQ(ReadDevice(off, len), data);
  EXPECT_EQ(acc_->stats().dirty_pages, 0u);
  EXPECT_EQ(acc_->stats().writebacks, 3u);
  // Clean pages are not written again.
  ASSERT_TRUE(acc_->SyncAll().ok());
  EXPECT_EQ(acc_->stats().writebacks, 3u);
}

TEST_P(CopyCacheTest, SyncedDataSurvivesCrash) {
  const uint64_t off = 12345, len = 5 * kPage;
  auto data = Pattern(3, len);
  Write(off, data);
  ASSERT_TRUE(acc_->Sync(off, len).ok());
  CrashAndReopen();
  EXPECT_EQ(ReadCache(off, len), data);
}

TEST_P(CopyCacheTest, UnsyncedWritesVanishOnCrash) {
  const uint64_t off = 7 * kPage, len = 2 * kPage;
  auto first = Pattern(4, len);
  Write(off, first);
  ASSERT_TRUE(acc_->SyncAll().ok());
  Write(off, Pattern(5, len));
  Write(off + 40 * kPage, Pattern(6, len));
  CrashAndReopen();
  EXPECT_EQ(ReadCache(off, len), first);
  EXPECT_EQ(ReadCache(off + 40 * kPage, len), Zeros(len));
}

TEST_P(CopyCacheTest, SyncOfARangeWritesBackOnlyThatRange) {
  const uint64_t a = 0, b = 100 * kPage, len = 4 * kPage;
  auto da = Pattern(7, len), db = Pattern(8, len);
  Write(a, da);
  Write(b, db);
  ASSERT_TRUE(acc_->Sync(a, len).ok());
  EXPECT_EQ(ReadDevice(a, len), da);
  EXPECT_EQ(ReadDevice(b, len), Zeros(len));
  EXPECT_EQ(acc_->stats().dirty_pages, 4u);
  EXPECT_EQ(acc_->stats().writebacks, 4u);
  CrashAndReopen();
  EXPECT_EQ(ReadCache(a, len), da);
  EXPECT_EQ(ReadCache(b, len), Zeros(len));
}

TEST_P(CopyCacheTest, SyncCoversPagesPartlyInTheRange) {
  auto data = Pattern(9, 2 * kPage);
  Write(3 * kPage, data);
  ASSERT_TRUE(acc_->Sync(4 * kPage - 1, 2).ok());  // one byte of each page
  EXPECT_EQ(ReadDevice(3 * kPage, 2 * kPage), data);
}

TEST_P(CopyCacheTest, EvictionWritesBackDirtyPages) {
  Open(16 * kPage);
  const uint64_t pages = 64;
  auto data = Pattern(10, pages * kPage);
  for (uint64_t p = 0; p < pages; p++) {
    ASSERT_TRUE(acc_->Write(p * kPage, std::span(data).subspan(p * kPage, kPage)).ok());
    ASSERT_LE(acc_->stats().cached_pages, 16u);
  }
  CopyCacheStats s = acc_->stats();
  EXPECT_EQ(s.capacity_pages, 16u);
  EXPECT_EQ(s.cached_pages, 16u);
  EXPECT_EQ(s.dirty_pages, 16u);
  EXPECT_EQ(s.evictions, pages - 16);
  EXPECT_EQ(s.writebacks, pages - 16);
  // The least recently written pages went to the device, and durably.
  const uint64_t evicted = (pages - 16) * kPage;
  EXPECT_EQ(ReadDevice(0, evicted), std::vector<std::byte>(data.begin(), data.begin() + evicted));
  EXPECT_EQ(ReadCache(0, pages * kPage), data);  // refills evict again
  EXPECT_LE(acc_->stats().cached_pages, 16u);

  ASSERT_TRUE(acc_->SyncAll().ok());
  EXPECT_EQ(ReadDevice(0, pages * kPage), data);
  EXPECT_EQ(acc_->stats().dirty_pages, 0u);
  CrashAndReopen();
  EXPECT_EQ(ReadCache(0, pages * kPage), data);
}

TEST_P(CopyCacheTest, EvictedPagesSurviveCrashWithoutSync) {
  Open(16 * kPage);
  auto data = Pattern(11, 64 * kPage);
  Write(0, data);  // one large write: pages 0..47 are evicted on the way
  const uint64_t evicted = 48 * kPage;
  CrashAndReopen();
  EXPECT_EQ(ReadCache(0, evicted), std::vector<std::byte>(data.begin(), data.begin() + evicted));
  EXPECT_EQ(ReadCache(evicted, 16 * kPage), Zeros(16 * kPage));
}

TEST_P(CopyCacheTest, PartialPageWritesKeepTheRestOfThePage) {
  const uint64_t page = 9 * kPage;
  auto base = Pattern(12, 2 * kPage);
  d_.dev->Write(page, base.data(), base.size());  // already on the device, not cached

  auto expect = base;
  auto patch = Pattern(13, 10);
  Write(page + 2000, patch);
  std::copy(patch.begin(), patch.end(), expect.begin() + 2000);
  ASSERT_TRUE(acc_->Zero(page + kPage - 50, 100).ok());  // across the page boundary
  std::fill(expect.begin() + kPage - 50, expect.begin() + kPage + 50, std::byte{0});

  EXPECT_EQ(ReadCache(page, 2 * kPage), expect);
  EXPECT_EQ(ReadDevice(page, 2 * kPage), base);
  ASSERT_TRUE(acc_->SyncAll().ok());
  EXPECT_EQ(ReadDevice(page, 2 * kPage), expect);
}

TEST_P(CopyCacheTest, ZeroIsAWriteOfZeros) {
  const uint64_t off = 20 * kPage, len = 4 * kPage;
  auto data = Pattern(14, len);
  Write(off, data);
  ASSERT_TRUE(acc_->SyncAll().ok());
  ASSERT_TRUE(acc_->Zero(off + 100, 2 * kPage).ok());
  std::fill(data.begin() + 100, data.begin() + 100 + 2 * kPage, std::byte{0});
  EXPECT_EQ(ReadCache(off, len), data);
  EXPECT_NE(ReadDevice(off, len), data);
  ASSERT_TRUE(acc_->Sync(off, len).ok());
  CrashAndReopen();
  EXPECT_EQ(ReadCache(off, len), data);
}

TEST_P(CopyCacheTest, DiscardDropsWithoutWriteBack) {
  const uint64_t off = 30 * kPage, len = 4 * kPage;
  Write(off, Pattern(15, len));
  acc_->Discard(off, len);
  EXPECT_EQ(acc_->stats().cached_pages, 0u);
  EXPECT_EQ(acc_->stats().dirty_pages, 0u);
  EXPECT_EQ(ReadCache(off, len), Zeros(len));
  ASSERT_TRUE(acc_->SyncAll().ok());
  EXPECT_EQ(ReadDevice(off, len), Zeros(len));
  EXPECT_EQ(acc_->stats().writebacks, 0u);
}

// A Sync copies a dirty page to the device and drains. If the page's block is freed meanwhile
// (Discard), reused and written by its next owner, the Sync's copy must not reach the media after
// that write (as it would if it were still undrained: a late write-back over a reused block).
TEST_P(CopyCacheTest, SyncIsDurableBeforeItsPageCanBeDiscarded) {
  const uint64_t off = 5 * kPage;
  ASSERT_TRUE(acc_->Write(off, Pattern(1, kPage)).ok());
  const std::thread::id me = std::this_thread::get_id();
  std::atomic<bool> fired{false}, done{false};
  std::thread other;
  d_.sim->SetDrainHook([&] {
    if (std::this_thread::get_id() != me || fired.exchange(true)) return;
    other = std::thread([&] {
      acc_->Discard(off, kPage);  // the block is freed...
      const std::vector<std::byte> next = Pattern(2, kPage);
      d_.dev->Write(off, next.data(), next.size());  // ...and its next owner writes it
      done = true;
    });
    // A correct Sync holds the page until it is durable: `other` waits, give it a moment.
    for (int i = 0; i < 100 && !done; i++) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  ASSERT_TRUE(acc_->Sync(off, kPage).ok());
  d_.sim->SetDrainHook(nullptr);
  ASSERT_TRUE(fired);
  other.join();
  CrashAndReopen();
  EXPECT_EQ(ReadCache(off, kPage), Pattern(2, kPage)) << "a late write-back of the freed page";
}

TEST_P(CopyCacheTest, DiscardKeepsDirtyPagesPartlyOutsideTheRange) {
  const uint64_t off = 40 * kPage;
  auto data = Pattern(16, 3 * kPage);
  Write(off, data);
  acc_->Discard(off + 10, 2 * kPage);  // only the middle page lies wholly inside
  std::fill(data.begin() + kPage, data.begin() + 2 * kPage, std::byte{0});
  EXPECT_EQ(ReadCache(off, 3 * kPage), data);
}

TEST_P(CopyCacheTest, DiscardOfALargeRangeScansTheCache) {
  Write(0, Pattern(17, 8 * kPage));
  acc_->Discard(0, d_.dev->size());
  EXPECT_EQ(acc_->stats().cached_pages, 0u);
  EXPECT_EQ(ReadCache(0, 8 * kPage), Zeros(8 * kPage));
}

TEST_P(CopyCacheTest, BadBlocksFailReadsUntilAWholePageWriteIsSynced) {
  const uint64_t page = 50 * kPage;
  ASSERT_TRUE(d_.dev->bad_blocks().Inject(page + 100, 200).ok());
  std::vector<std::byte> buf(kPage);
  EXPECT_EQ(acc_->Read(page, buf).code(), Code::kIoError);
  EXPECT_EQ(acc_->Read(page - 10, std::span(buf).first(20)).code(), Code::kIoError);
  ReadRef ref;
  EXPECT_EQ(acc_->ReadInPlace(page, kPage, &ref).code(), Code::kIoError);
  EXPECT_EQ(ref.length(), 0u);
  // A partial write needs the old page, which cannot be read.
  EXPECT_EQ(acc_->Write(page + 10, std::span(buf).first(10)).code(), Code::kIoError);
  EXPECT_TRUE(acc_->Read(page + kPage, buf).ok());  // the next page is fine

  auto data = Pattern(18, kPage);
  Write(page, data);
  EXPECT_EQ(ReadCache(page, kPage), data);
  EXPECT_FALSE(d_.dev->bad_blocks().empty());  // not on the device yet
  ASSERT_TRUE(acc_->Sync(page, kPage).ok());
  EXPECT_TRUE(d_.dev->bad_blocks().empty());
  CrashAndReopen();
  EXPECT_TRUE(d_.dev->bad_blocks().empty());
  EXPECT_EQ(ReadCache(page, kPage), data);
}

TEST_P(CopyCacheTest, EvictionWriteBackClearsBadBlocks) {
  Open(16 * kPage);
  ASSERT_TRUE(d_.dev->bad_blocks().Inject(0, kPage).ok());
  Write(0, Pattern(19, kPage));
  for (uint64_t p = 1; p < 64; p++) ReadCache(p * kPage, 1);
  EXPECT_GE(acc_->stats().writebacks, 1u);
  EXPECT_TRUE(d_.dev->bad_blocks().empty());
  EXPECT_EQ(ReadCache(0, kPage), Pattern(19, kPage));
}

TEST_P(CopyCacheTest, RejectsTooSmallCache) {
  auto r = CopyAccess::Open(*d_.dev, {.mode = Mode::kCopy, .cache_size = 16 * kPage - 1});
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  auto o = OpenAccess(*d_.dev, {.mode = Mode::kCopy, .cache_size = 4096});
  EXPECT_EQ(o.status().code(), Code::kInvalidArgument);
  auto ok = OpenAccess(*d_.dev, {.mode = Mode::kCopy, .cache_size = 16 * kPage});
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ((*ok)->mode(), Mode::kCopy);
}

TEST_P(CopyCacheTest, RejectsAccessOutsideTheDevice) {
  const uint64_t size = d_.dev->size();
  std::vector<std::byte> buf(20);
  EXPECT_EQ(acc_->Read(size - 10, buf).code(), Code::kInvalidArgument);
  EXPECT_EQ(acc_->Write(size + 1, buf).code(), Code::kInvalidArgument);
  EXPECT_EQ(acc_->Zero(size - 1, 2).code(), Code::kInvalidArgument);
  ReadRef ref;
  EXPECT_EQ(acc_->ReadInPlace(~0ull - 5, 10, &ref).code(), Code::kInvalidArgument);
  EXPECT_TRUE(acc_->Read(size, std::span(buf).first(0)).ok());
  EXPECT_TRUE(acc_->Read(size - 20, buf).ok());
}

TEST_P(CopyCacheTest, WorksAcrossPartBoundariesAndAtTheEnd) {
  const uint64_t size = d_.dev->size();
  std::vector<uint64_t> offsets = {size - 3 * kPage - 100};
  // Just before each part or stripe-chunk boundary, so writes straddle it.
  for (uint64_t at = d_.dev->Locate(0).run; at < size; at += d_.dev->Locate(at).run)
    offsets.push_back(at - kPage - 7);
  for (size_t i = 0; i < offsets.size() && i < 8; i++) {
    auto data = Pattern(20 + i, 2 * kPage + 100);
    Write(offsets[i], data);
  }
  ASSERT_TRUE(acc_->SyncAll().ok());
  CrashAndReopen();
  for (size_t i = 0; i < offsets.size() && i < 8; i++)
    EXPECT_EQ(ReadCache(offsets[i], 2 * kPage + 100), Pattern(20 + i, 2 * kPage + 100));
}

TEST_P(CopyCacheTest, ConcurrentReadersAndWritersOnDisjointRanges) {
  Open(32 * kPage);  // far smaller than the working set: evictions race with everything
  constexpr int kThreads = 4;
  constexpr uint64_t kRegion = 24 * kPage;
  std::vector<std::vector<std::byte>> shadow(kThreads, Zeros(kRegion));
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      const uint64_t base = t * kRegion;
      uint64_t x = t + 1;
      for (int i = 0; i < 300; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        const uint64_t off = (x >> 20) % (kRegion - 1), len = 1 + (x >> 40) % (kRegion - off);
        const uint64_t n = std::min<uint64_t>(len, 3 * kPage);
        auto data = Pattern(x, n);
        if (!acc_->Write(base + off, data).ok()) failures[t]++;
        std::copy(data.begin(), data.end(), shadow[t].begin() + off);
        std::vector<std::byte> got(kRegion);
        if (!acc_->Read(base, got).ok() || got != shadow[t]) failures[t]++;
        if (i % 50 == 0 && !acc_->Sync(base, kRegion).ok()) failures[t]++;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; t++) EXPECT_EQ(failures[t], 0) << "thread " << t;
  EXPECT_LE(acc_->stats().cached_pages, 32u);
  ASSERT_TRUE(acc_->SyncAll().ok());
  for (int t = 0; t < kThreads; t++) EXPECT_EQ(ReadDevice(t * kRegion, kRegion), shadow[t]);
}

// Prefixed with the file name so `ctest -R copy_cache` selects these.
INSTANTIATE_TEST_SUITE_P(copy_cache, CopyCacheTest, ::testing::ValuesIn(AllSetups()), SetupName);

}  // namespace
}  // namespace pmemfs::mapping
