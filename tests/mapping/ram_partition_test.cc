// Tests of mapping/ram_partition.cc over simulated devices in every layout and access path.
#include "mapping/ram_partition.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "sim_device_fixture.h"
#include "test_support.h"

namespace pmemfs::mapping {
namespace {

using testing::AllSetups;
using testing::MakeSimDevice;
using testing::SetupName;
using testing::SimDevice;
using testing::SimDeviceTest;
using testing::SimSetup;

constexpr uint64_t kPage = layout::kPageSize;
// Big enough that the partition crosses a part boundary (linear) or several chunks (striped)
// in the multi-part setups, small enough for the smallest setup.
constexpr uint64_t kRamSize = 6ull << 20;

bool AllBytesAre(const Device& dev, uint64_t off, uint64_t len, std::byte value) {
  std::vector<std::byte> buf(len);
  dev.Read(off, buf.data(), len);
  return std::all_of(buf.begin(), buf.end(), [&](std::byte b) { return b == value; });
}

void Fill(Device& dev, uint64_t off, uint64_t len, std::byte value) {
  std::vector<std::byte> buf(len, value);
  dev.Store(off, buf.data(), len);
}

class RamPartitionTest : public SimDeviceTest {
 protected:
  RamPartitionTest() : SimDeviceTest({.ram_size = kRamSize}) {}
  void Open() override { ram_ = RamPartition::Open(dev()); }
  void Close() override { ram_.reset(); }

  std::unique_ptr<RamPartition> ram_;
};

TEST_P(RamPartitionTest, OpensWithEveryPageFree) {
  EXPECT_EQ(ram_->range().offset, d_.dev->info().ram.offset);
  EXPECT_EQ(ram_->range().length, kRamSize);
  EXPECT_EQ(ram_->total_pages(), kRamSize / kPage);
  EXPECT_EQ(ram_->free_pages(), ram_->total_pages());
}

TEST_P(RamPartitionTest, AllocateFreeAndReuse) {
  auto a = ram_->Allocate(1);
  ASSERT_TRUE(a.ok()) << a.status().message();
  auto b = ram_->Allocate(3);
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_TRUE(ram_->Contains(*a, kPage));
  EXPECT_TRUE(ram_->Contains(*b, 3 * kPage));
  EXPECT_EQ(*a % kPage, 0u);
  EXPECT_EQ(*b % kPage, 0u);
  EXPECT_TRUE(*a + kPage <= *b || *b + 3 * kPage <= *a) << "runs overlap";
  EXPECT_EQ(ram_->free_pages(), ram_->total_pages() - 4);

  ASSERT_TRUE(ram_->Free(*a, 1).ok());
  ASSERT_TRUE(ram_->Free(*b, 3).ok());
  EXPECT_EQ(ram_->free_pages(), ram_->total_pages());

  // The whole partition as one run: every page is reusable.
  auto all = ram_->Allocate(ram_->total_pages());
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_EQ(*all, ram_->range().offset);
  EXPECT_EQ(ram_->free_pages(), 0u);
  EXPECT_TRUE(ram_->Free(*all, ram_->total_pages()).ok());
  EXPECT_EQ(ram_->free_pages(), ram_->total_pages());
}

TEST_P(RamPartitionTest, ZeroPagesIsInvalid) {
  EXPECT_EQ(ram_->Allocate(0).status().code(), Code::kInvalidArgument);
  auto a = ram_->Allocate(1);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(ram_->Free(*a, 0).code(), Code::kInvalidArgument);
}

TEST_P(RamPartitionTest, ExhaustionThenFreeMakesRoom) {
  const uint64_t total = ram_->total_pages();
  std::vector<uint64_t> pages;
  for (uint64_t i = 0; i < total; i++) {
    auto r = ram_->Allocate(1);
    ASSERT_TRUE(r.ok()) << "page " << i << ": " << r.status().message();
    pages.push_back(*r);
  }
  EXPECT_EQ(std::set<uint64_t>(pages.begin(), pages.end()).size(), total) << "page handed out twice";
  EXPECT_EQ(ram_->free_pages(), 0u);
  EXPECT_EQ(ram_->Allocate(1).status().code(), Code::kNoSpace);
  EXPECT_EQ(ram_->Allocate(total + 1).status().code(), Code::kNoSpace);

  ASSERT_TRUE(ram_->Free(pages[total / 2], 1).ok());
  auto r = ram_->Allocate(1);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, pages[total / 2]);
  EXPECT_EQ(ram_->Allocate(1).status().code(), Code::kNoSpace);
}

TEST_P(RamPartitionTest, SearchWrapsAroundToTheStart) {
  const uint64_t total = ram_->total_pages();
  auto all = ram_->Allocate(total);
  ASSERT_TRUE(all.ok());
  // Free the first two pages; the next-fit hint is past the end, so only a wrap finds them.
  ASSERT_TRUE(ram_->Free(*all, 2).ok());
  auto r = ram_->Allocate(2);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(*r, *all);
}

TEST_P(RamPartitionTest, BadFreesAreRefusedAndChangeNothing) {
  auto a = ram_->Allocate(2);
  ASSERT_TRUE(a.ok());
  const uint64_t free_before = ram_->free_pages();
  const Range r = ram_->range();

  // Double free: the second is refused.
  ASSERT_TRUE(ram_->Free(*a, 2).ok());
  EXPECT_EQ(ram_->Free(*a, 2).code(), Code::kInvalidArgument);
  EXPECT_EQ(ram_->Free(*a + kPage, 1).code(), Code::kInvalidArgument);
  EXPECT_EQ(ram_->free_pages(), free_before + 2);

  a = ram_->Allocate(2);
  ASSERT_TRUE(a.ok());
  // A range only partly allocated: nothing is freed.
  EXPECT_EQ(ram_->Free(*a, 3).code(), Code::kInvalidArgument);
  EXPECT_EQ(ram_->free_pages(), free_before);
  // Outside the partition, straddling its ends, unaligned, absurd.
  EXPECT_EQ(ram_->Free(0, 1).code(), Code::kInvalidArgument);
  EXPECT_EQ(ram_->Free(r.offset - kPage, 1).code(), Code::kInvalidArgument);
  EXPECT_EQ(ram_->Free(r.offset - kPage, 2).code(), Code::kInvalidArgument);
  EXPECT_EQ(ram_->Free(r.end(), 1).code(), Code::kInvalidArgument);
  EXPECT_EQ(ram_->Free(r.end() - kPage, 2).code(), Code::kInvalidArgument);
  EXPECT_EQ(ram_->Free(*a + 1, 1).code(), Code::kInvalidArgument);
  EXPECT_EQ(ram_->Free(UINT64_MAX - kPage + 1, 1).code(), Code::kInvalidArgument);
  EXPECT_EQ(ram_->Free(*a, UINT64_MAX / kPage).code(), Code::kInvalidArgument);
  EXPECT_EQ(ram_->free_pages(), free_before);
  // The pages are still allocated and can be freed properly.
  EXPECT_TRUE(ram_->Free(*a, 2).ok());
  EXPECT_EQ(ram_->free_pages(), free_before + 2);
}

TEST_P(RamPartitionTest, Fragmentation) {
  const uint64_t total = ram_->total_pages();
  std::vector<uint64_t> pages;
  for (uint64_t i = 0; i < total; i++) {
    auto r = ram_->Allocate(1);
    ASSERT_TRUE(r.ok());
    pages.push_back(*r);
  }
  std::sort(pages.begin(), pages.end());
  for (uint64_t i = 0; i < total; i += 2) ASSERT_TRUE(ram_->Free(pages[i], 1).ok());
  EXPECT_EQ(ram_->free_pages(), total / 2);
  auto two = ram_->Allocate(2);
  EXPECT_EQ(two.status().code(), Code::kNoSpace);
  auto one = ram_->Allocate(1);
  ASSERT_TRUE(one.ok()) << one.status().message();
  // Freeing a neighbour joins two holes into a run of three.
  uint64_t i = std::find(pages.begin(), pages.end(), *one) - pages.begin();
  ASSERT_LT(i + 2, total);
  ASSERT_TRUE(ram_->Free(*one, 1).ok());
  ASSERT_TRUE(ram_->Free(pages[i + 1], 1).ok());
  auto three = ram_->Allocate(3);
  ASSERT_TRUE(three.ok()) << three.status().message();
  EXPECT_EQ(*three, pages[i]);
}

TEST_P(RamPartitionTest, AllocatedPagesReadAsZero) {
  // Whatever the memory held before, an allocation reads as zeros.
  Fill(*d_.dev, ram_->range().offset, ram_->range().length, std::byte{0xab});
  auto a = ram_->Allocate(5);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(AllBytesAre(*d_.dev, *a, 5 * kPage, std::byte{0}));

  // The whole partition, across part and chunk boundaries.
  ASSERT_TRUE(ram_->Free(*a, 5).ok());
  auto all = ram_->Allocate(ram_->total_pages());
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(AllBytesAre(*d_.dev, *all, ram_->range().length, std::byte{0}));

  // Written, freed, allocated again.
  Fill(*d_.dev, *all, ram_->range().length, std::byte{0x5c});
  ASSERT_TRUE(ram_->Free(*all, ram_->total_pages()).ok());
  auto again = ram_->Allocate(7);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(AllBytesAre(*d_.dev, *again, 7 * kPage, std::byte{0}));
}

TEST_P(RamPartitionTest, ResetOnReopen) {
  auto a = ram_->Allocate(ram_->total_pages() / 2);
  ASSERT_TRUE(a.ok());
  Fill(*d_.dev, ram_->range().offset, ram_->range().length, std::byte{0x77});
  ram_.reset();

  d_.Reopen();  // a remount: the working image still holds the data
  ASSERT_NE(d_.dev, nullptr);
  ram_ = RamPartition::Open(*d_.dev);
  EXPECT_EQ(ram_->free_pages(), ram_->total_pages());
  EXPECT_EQ(ram_->total_pages(), kRamSize / kPage);
  auto all = ram_->Allocate(ram_->total_pages());
  ASSERT_TRUE(all.ok()) << all.status().message();
  EXPECT_TRUE(AllBytesAre(*d_.dev, *all, ram_->range().length, std::byte{0}));
}

TEST_P(RamPartitionTest, ResetOnCrashAndReopen) {
  auto a = ram_->Allocate(3);
  ASSERT_TRUE(a.ok());
  Fill(*d_.dev, ram_->range().offset, ram_->range().length, std::byte{0x42});
  ram_.reset();

  d_.CrashAndReopen(1.0);
  ASSERT_NE(d_.dev, nullptr);
  ram_ = RamPartition::Open(*d_.dev);
  EXPECT_EQ(ram_->free_pages(), ram_->total_pages());
  auto b = ram_->Allocate(1);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(AllBytesAre(*d_.dev, *b, kPage, std::byte{0}));
}

TEST_P(RamPartitionTest, NeverPersistsAnything) {
  const uint64_t points = d_.sim->persist_points();
  ASSERT_EQ(d_.sim->pending_lines(), 0u);

  auto a = ram_->Allocate(4);
  ASSERT_TRUE(a.ok());
  auto all_rest = ram_->Allocate(ram_->free_pages());
  ASSERT_TRUE(all_rest.ok());
  Fill(*d_.dev, *a, 4 * kPage, std::byte{0xee});
  ASSERT_TRUE(ram_->Free(*a, 4).ok());
  a = ram_->Allocate(4);
  ASSERT_TRUE(a.ok());
  Fill(*d_.dev, *a, 4 * kPage, std::byte{0xdd});
  EXPECT_EQ(d_.sim->persist_points(), points);
  EXPECT_EQ(d_.sim->pending_lines(), 0u);  // not even flushed
  ram_.reset();

  // Power loss even keeping every flushed line: the persisted image of the partition is zero.
  d_.CrashAndReopen(1.0);
  ASSERT_NE(d_.dev, nullptr);
  EXPECT_TRUE(AllBytesAre(*d_.dev, d_.dev->info().ram.offset, d_.dev->info().ram.length,
                          std::byte{0}));
}

TEST_P(RamPartitionTest, ConcurrentAllocateAndFree) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  std::vector<std::thread> threads;
  std::vector<int> failed(kThreads, 0);  // one element per thread
  for (int t = 0; t < kThreads; t++) {
    threads.emplace_back([&, t] {
      std::vector<std::pair<uint64_t, uint64_t>> mine;
      for (int i = 0; i < kRounds; i++) {
        uint64_t n = 1 + (i + t) % 4;
        auto r = ram_->Allocate(n);
        if (!r.ok()) {
          failed[t] = 1;
          return;
        }
        // Stamp the run with this thread's id; a run shared with another thread shows up.
        Fill(*d_.dev, *r, n * kPage, std::byte(t + 1));
        mine.emplace_back(*r, n);
        if (i % 3 == 2) {
          auto [off, len] = mine.front();
          mine.erase(mine.begin());
          if (!AllBytesAre(*d_.dev, off, len * kPage, std::byte(t + 1)) ||
              !ram_->Free(off, len).ok())
            failed[t] = 1;
        }
      }
      for (auto [off, len] : mine)
        if (!AllBytesAre(*d_.dev, off, len * kPage, std::byte(t + 1)) || !ram_->Free(off, len).ok())
          failed[t] = 1;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; t++) EXPECT_FALSE(failed[t]) << "thread " << t;
  EXPECT_EQ(ram_->free_pages(), ram_->total_pages());
}

INSTANTIATE_TEST_SUITE_P(AllSetups, RamPartitionTest, ::testing::ValuesIn(AllSetups()), SetupName);

class RamPartitionNoRamTest : public ::testing::TestWithParam<SimSetup> {};

TEST_P(RamPartitionNoRamTest, DeviceWithoutRamPartitionIsEmpty) {
  SimDevice d = MakeSimDevice(GetParam(), {.ram_size = 0});
  ASSERT_NE(d.dev, nullptr);
  auto ram = RamPartition::Open(*d.dev);
  EXPECT_EQ(ram->total_pages(), 0u);
  EXPECT_EQ(ram->free_pages(), 0u);
  EXPECT_EQ(ram->Allocate(1).status().code(), Code::kNoSpace);
  EXPECT_EQ(ram->Free(0, 1).code(), Code::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(AllSetups, RamPartitionNoRamTest, ::testing::ValuesIn(AllSetups()),
                         SetupName);

}  // namespace
}  // namespace pmemfs::mapping
