// Block allocation: exhaustion, reuse only after commit (and, in pages mode, after unpin), goals,
// runs, refusals, and concurrent reservations.
#include "fs/store/allocator.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <span>
#include <thread>

#include "store_test_support.h"

namespace pmemfs::store {
namespace {

using testing::StoreFixture;
using testing::StoreSetups;

class AllocatorTest : public StoreFixture {
 protected:
  // Allocates every free data block in one committed Tx; returns the ranges.
  std::vector<BlockRange> AllocateAll() {
    std::vector<BlockRange> out;
    Tx tx = store().Begin();
    for (;;) {
      auto r = store().AllocBlocks(tx, 64);
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), Code::kNoSpace);
        break;
      }
      out.push_back(*r);
    }
    EXPECT_TRUE(store().Commit(tx).ok());
    return out;
  }
  Status Free(BlockRange r) {
    Tx tx = store().Begin();
    store().FreeBlocks(tx, r);
    return store().Commit(tx);
  }
};

TEST_P(AllocatorTest, AllocatesEveryDataBlockOnceThenNoSpace) {
  std::vector<BlockRange> all = AllocateAll();
  uint64_t total = 0;
  std::set<uint64_t> seen;
  for (const BlockRange& r : all) {
    total += r.count;
    for (uint64_t b = r.start; b < r.end(); b++) {
      EXPECT_TRUE(seen.insert(b).second) << "block " << b << " handed out twice";
      EXPECT_GE(b, sb().data_start);
      EXPECT_LT(b, sb().backup_block);
    }
  }
  EXPECT_EQ(total, sb().data_blocks);
  EXPECT_EQ(store().stats().free_blocks, 0u);
  {
    Tx tx = store().Begin();  // ends before the store it belongs to
    EXPECT_EQ(store().AllocBlocks(tx, 1).status().code(), Code::kNoSpace);
  }
  // The bitmap on the device says so too.
  Reopen();
  EXPECT_EQ(store().stats().free_blocks, 0u);
}

TEST_P(AllocatorTest, FreedBlocksAreReusableOnlyAfterCommit) {
  AllocateAll();
  const BlockRange victim{sb().data_start + 10, 5};
  Tx freeing = store().Begin();
  store().FreeBlocks(freeing, victim);
  Tx other = store().Begin();
  EXPECT_EQ(store().AllocBlocks(other, 1).status().code(), Code::kNoSpace);
  EXPECT_EQ(store().stats().free_blocks, 0u);
  ASSERT_TRUE(store().Commit(freeing).ok());
  EXPECT_EQ(store().stats().free_blocks, 5u);
  auto r = store().AllocBlocks(other, 8);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, victim);
  ASSERT_TRUE(store().Commit(other).ok());
}

TEST_P(AllocatorTest, FreesSurviveReopen) {
  AllocateAll();
  ASSERT_TRUE(Free({sb().data_start + 3, 2}).ok());
  Reopen();
  EXPECT_EQ(store().stats().free_blocks, 2u);
  Tx tx = store().Begin();
  auto r = store().AllocBlocks(tx, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (BlockRange{sb().data_start + 3, 2}));
}

TEST_P(AllocatorTest, GoalIsHonouredWhenFree) {
  Tx tx = store().Begin();
  const uint64_t goal = sb().data_start + 100;
  auto r = store().AllocBlocks(tx, 4, goal);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (BlockRange{goal, 4}));
  // Taken: the next request with the same goal continues after it.
  auto s = store().AllocBlocks(tx, 4, goal);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, (BlockRange{goal + 4, 4}));
  // Near the end of the data area the search wraps around.
  auto t = store().AllocBlocks(tx, 8, sb().backup_block - 3);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, (BlockRange{sb().data_start, 8}));
}

TEST_P(AllocatorTest, ShortOfARunItReturnsTheLongestOne) {
  AllocateAll();
  const uint64_t a = sb().data_start + 20, b = sb().data_start + 200;
  Tx tx = store().Begin();
  store().FreeBlocks(tx, {a, 3});
  store().FreeBlocks(tx, {b, 5});
  ASSERT_TRUE(store().Commit(tx).ok());
  Tx t2 = store().Begin();
  auto r = store().AllocBlocks(t2, 8, a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (BlockRange{b, 5}));
  auto s = store().AllocBlocks(t2, 8);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, (BlockRange{a, 3}));
}

TEST_P(AllocatorTest, AllocAndFreeInOneTxLeavesTheBlocksFree) {
  const uint64_t free_before = store().stats().free_blocks;
  Tx tx = store().Begin();
  auto r = store().AllocBlocks(tx, 6);
  ASSERT_TRUE(r.ok());
  store().FreeBlocks(tx, *r);
  ASSERT_TRUE(store().Commit(tx).ok());
  EXPECT_EQ(store().stats().free_blocks, free_before);
  Reopen();
  EXPECT_EQ(store().stats().free_blocks, free_before);
}

TEST_P(AllocatorTest, FreeingWhatIsNotInUseIsRefused) {
  const uint64_t free_before = store().stats().free_blocks;
  EXPECT_EQ(Free({sb().data_start + 1, 1}).code(), Code::kInvalidArgument);  // already free
  EXPECT_EQ(Free({sb().inode_start, 1}).code(), Code::kInvalidArgument);     // metadata
  EXPECT_EQ(Free({sb().backup_block, 1}).code(), Code::kInvalidArgument);
  // Freed twice in one Tx.
  Tx a = store().Begin();
  auto r = store().AllocBlocks(a, 2);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(store().Commit(a).ok());
  Tx b = store().Begin();
  store().FreeBlocks(b, *r);
  store().FreeBlocks(b, {r->start, 1});
  EXPECT_EQ(store().Commit(b).code(), Code::kInvalidArgument);
  EXPECT_EQ(store().stats().free_blocks, free_before - 2);
  EXPECT_EQ(store().AllocBlocks(b, 0).status().code(), Code::kInvalidArgument);
}

TEST_P(AllocatorTest, ConcurrentReservationsNeverOverlap) {
  constexpr int kThreads = 4;
  std::vector<std::vector<BlockRange>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; i++) {
        Tx tx = store().Begin();
        auto r = store().AllocBlocks(tx, 1 + i % 3);
        if (!r.ok()) return;
        got[t].push_back(*r);
        EXPECT_TRUE(store().Commit(tx).ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<uint64_t> seen;
  uint64_t total = 0;
  for (auto& v : got)
    for (const BlockRange& r : v)
      for (uint64_t b = r.start; b < r.end(); b++, total++) EXPECT_TRUE(seen.insert(b).second);
  EXPECT_EQ(store().stats().free_blocks, sb().data_blocks - total);
  Reopen();
  EXPECT_EQ(store().stats().free_blocks, sb().data_blocks - total);
}

TEST_P(AllocatorTest, PinnedBlocksAreReusedOnlyAfterUnpin) {
  mapping::PageDescriptors* pd = ReopenWithDescriptors();
  ASSERT_NE(pd, nullptr);
  AllocateAll();
  const uint64_t x = sb().data_start + 42;
  pd->Pin(x);
  ASSERT_TRUE(Free({x, 2}).ok());
  // x + 1 was not pinned: reusable now; x only after the reader is done.
  EXPECT_EQ(store().stats().free_blocks, 1u);
  Tx tx = store().Begin();
  auto r = store().AllocBlocks(tx, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (BlockRange{x + 1, 1}));
  EXPECT_EQ(store().AllocBlocks(tx, 1).status().code(), Code::kNoSpace);
  pd->Unpin(x);
  auto s = store().AllocBlocks(tx, 1);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, (BlockRange{x, 1}));
}

// A bitmap area moved into the data area (bitmap_area.h): its blocks are in use whatever the
// bitmap says, never handed out, and a transaction may not free them.
TEST_P(AllocatorTest, AMovedBitmapAreaIsNeverAllocatedOrFreed) {
  layout::Superblock moved = sb();
  moved.incompat |= layout::kIncompatMovedBitmap;
  moved.bitmap_start = moved.data_start + 5;  // its bits there read as free: the data is zero
  const uint64_t free = store().stats().free_blocks;  // the area's blocks among them
  Allocator a(moved, nullptr);
  a.Load(dev());
  EXPECT_EQ(a.free_blocks(), free - moved.bitmap_blocks);
  const BlockRange area{moved.bitmap_start, moved.bitmap_blocks};
  uint64_t got = 0;
  for (;;) {
    Result<BlockRange> r = a.Alloc(64, moved.data_start);
    if (!r.ok()) break;
    got += r->count;
    EXPECT_TRUE(r->end() <= area.start || r->start >= area.end()) << r->start << "+" << r->count;
  }
  EXPECT_EQ(got, free - moved.bitmap_blocks);
  const BlockRange in_it{area.start + 1, 1};
  Result<std::map<uint64_t, uint64_t>> w = a.Materialise({}, std::span(&in_it, 1));
  EXPECT_EQ(w.status().code(), Code::kInvalidArgument);
  EXPECT_NE(w.status().message().find("overlap the allocation bitmap"), std::string::npos)
      << w.status().message();
}

// A run for file block fb (1 MiB and more: fs/core/data_op.cc) starts at a block whose part
// offset is fb's file offset modulo 2 MiB, so a mapping of the file can use 2 MiB pages.
TEST_P(AllocatorTest, ARunForAFileBlockStartsAtItsTwoMiBColour) {
  const uint64_t phase = Allocator::ColourPhase(dev());
  auto colour = [&](uint64_t b) { return (b + phase) % Allocator::kHugeBlocks; };
  // Part offsets: the phase is where device offset 0 sits in its part.
  EXPECT_EQ(phase, dev().Locate(0).part_offset / layout::kBlockSize % Allocator::kHugeBlocks);
  uint64_t goal = sb().data_start + 100;
  while (colour(goal) != 50) goal++;
  const uint64_t at = goal + (Allocator::kHugeBlocks - 50);  // the next colour 0
  ASSERT_LE(at + 512, sb().backup_block) << "data area too small for this test";
  Tx tx = store().Begin();
  auto r = store().AllocBlocks(tx, 256, goal, /*file_block=*/0);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, (BlockRange{at, 256}));
  // The file's next blocks continue the run (it has their colour).
  auto s = store().AllocBlocks(tx, 256, r->end(), /*file_block=*/256);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s, (BlockRange{r->end(), 256}));
  // Any colour: file block 700 is 188 blocks past a 2 MiB boundary (before `at`, still free).
  auto t = store().AllocBlocks(tx, 64, goal, /*file_block=*/700);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, (BlockRange{goal + 188 - 50, 64}));
  // Without a file block, the goal is taken as before: the blocks skipped stay for small files.
  auto u = store().AllocBlocks(tx, 4, goal);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*u, (BlockRange{goal, 4}));
  ASSERT_TRUE(store().Commit(tx).ok());
}

// With no free run at the colour, a run is placed as without one: a nearly full device hands
// out every free block.
TEST_P(AllocatorTest, WithoutAFreeRunAtTheColourEveryFreeBlockIsStillHandedOut) {
  const uint64_t phase = Allocator::ColourPhase(dev());
  auto colour = [&](uint64_t b) { return (b + phase) % Allocator::kHugeBlocks; };
  AllocateAll();
  uint64_t x = sb().data_start + 10;
  while (colour(x) != 1) x++;  // [x, x + 300) holds no block of colour 0
  const uint64_t y = x + 400;
  ASSERT_LE(y + 5, sb().backup_block);
  Tx tx = store().Begin();
  store().FreeBlocks(tx, {x, 300});
  store().FreeBlocks(tx, {y, 5});
  ASSERT_TRUE(store().Commit(tx).ok());
  Tx t2 = store().Begin();
  auto r = store().AllocBlocks(t2, 300, 0, /*file_block=*/0);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, (BlockRange{x, 300}));
  auto s = store().AllocBlocks(t2, 256, 0, /*file_block=*/0);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(*s, (BlockRange{y, 5}));
  EXPECT_EQ(store().AllocBlocks(t2, 256, 0, 0).status().code(), Code::kNoSpace);
  ASSERT_TRUE(store().Commit(t2).ok());
  EXPECT_EQ(store().stats().free_blocks, 0u);
}

INSTANTIATE_TEST_SUITE_P(Setups, AllocatorTest, ::testing::ValuesIn(StoreSetups()),
                         mapping::testing::SetupName);

TEST(BitmapWordRunsTest, MergesOverlappingAndAdjacentWords) {
  const std::vector<BlockRange> a = {{0, 1}, {63, 2}, {300, 10}};
  const std::vector<BlockRange> b = {{128, 64}, {1000, 0}};
  std::vector<WordRun> runs = BitmapWordRuns(a, b);
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[0].first, 0u);  // words 0, 1 (63..64), 2 (128..191): one run
  EXPECT_EQ(runs[0].count, 3u);
  EXPECT_EQ(runs[1].first, 4u);  // 300..309
  EXPECT_EQ(runs[1].count, 1u);
}

}  // namespace
}  // namespace pmemfs::store
