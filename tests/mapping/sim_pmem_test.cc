// The crash simulator itself: only flushed-and-drained lines survive a crash.
#include "mapping/sim_pmem.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

namespace pmemfs::mapping {
namespace {

constexpr uint64_t kSize = 1 << 20;

uint8_t ByteAt(const Part& p, uint64_t off) { return static_cast<uint8_t>(p.base()[off]); }

TEST(SimPmemTest, UnflushedStoresVanishOnCrash) {
  SimPmem sim;
  auto part = sim.NewPart(kSize);
  std::memset(part->base() + 100, 0xab, 10);
  sim.Crash();
  EXPECT_EQ(ByteAt(*part, 100), 0);
}

TEST(SimPmemTest, FlushedButNotDrainedVanish) {
  SimPmem sim;
  auto part = sim.NewPart(kSize);
  std::memset(part->base(), 0xab, 4096);
  part->Flush(0, 4096);
  EXPECT_EQ(sim.pending_lines(), 64u);
  sim.Crash();
  EXPECT_EQ(ByteAt(*part, 0), 0);
  EXPECT_EQ(sim.pending_lines(), 0u);
}

TEST(SimPmemTest, FlushedAndDrainedSurvive) {
  SimPmem sim;
  auto part = sim.NewPart(kSize);
  std::memset(part->base() + 4096, 0xcd, 100);
  part->Flush(4096, 100);
  part->Drain();
  std::memset(part->base() + 8192, 0xee, 1);  // not flushed
  sim.Crash();
  EXPECT_EQ(ByteAt(*part, 4096), 0xcd);
  EXPECT_EQ(ByteAt(*part, 4096 + 99), 0xcd);
  EXPECT_EQ(ByteAt(*part, 8192), 0);
}

TEST(SimPmemTest, NonTemporalCopyNeedsDrain) {
  SimPmem sim;
  auto part = sim.NewPart(kSize);
  const char msg[] = "durable";
  part->CopyNoDrain(0, msg, sizeof msg);
  part->SetNoDrain(64, 0x11, 64);
  sim.Crash();
  EXPECT_EQ(ByteAt(*part, 0), 0);
  part->CopyNoDrain(0, msg, sizeof msg);
  part->SetNoDrain(64, 0x11, 64);
  part->Drain();
  sim.Crash();
  EXPECT_EQ(std::memcmp(part->base(), msg, sizeof msg), 0);
  EXPECT_EQ(ByteAt(*part, 127), 0x11);
}

TEST(SimPmemTest, FlushSnapshotsTheLine) {
  // What reaches the media is the line as it was flushed; a store after the flush needs its own.
  SimPmem sim;
  auto part = sim.NewPart(kSize);
  part->base()[0] = std::byte{1};
  part->Flush(0, 1);
  part->base()[0] = std::byte{2};
  part->Drain();
  sim.Crash();
  EXPECT_EQ(ByteAt(*part, 0), 1);
}

TEST(SimPmemTest, CrashCanKeepUndrainedLines) {
  SimPmem sim(7);
  auto part = sim.NewPart(kSize);
  std::memset(part->base(), 0xff, kSize);
  part->Flush(0, kSize);
  sim.Crash(1.0);
  for (uint64_t l = 0; l < kSize; l += 64) ASSERT_EQ(ByteAt(*part, l), 0xff);

  std::memset(part->base(), 0x00, kSize);
  part->Flush(0, kSize);
  sim.Crash(0.5);
  uint64_t kept = 0, lines = kSize / 64;
  for (uint64_t l = 0; l < kSize; l += 64) {
    uint8_t b = ByteAt(*part, l);
    ASSERT_TRUE(b == 0 || b == 0xff);
    kept += b == 0;
    for (uint64_t i = 1; i < 64; i++) ASSERT_EQ(ByteAt(*part, l + i), b) << "torn line";
  }
  EXPECT_GT(kept, lines / 4);
  EXPECT_LT(kept, lines * 3 / 4);
}

TEST(SimPmemTest, PersistPointsCountDrainsThatPersist) {
  SimPmem sim;
  auto a = sim.NewPart(kSize);
  auto b = sim.NewPart(kSize);
  EXPECT_EQ(sim.persist_points(), 0u);
  a->Drain();  // nothing pending: not a point
  EXPECT_EQ(sim.persist_points(), 0u);
  a->SetNoDrain(0, 1, 1);
  a->Drain();
  b->SetNoDrain(0, 1, 1);
  b->Drain();
  EXPECT_EQ(sim.persist_points(), 2u);
}

TEST(SimPmemTest, StopAfterFreezesThePersistedImage) {
  SimPmem sim;
  auto part = sim.NewPart(kSize);
  sim.StopAfter(2);
  for (int i = 0; i < 4; i++) {
    uint8_t v = static_cast<uint8_t>(i + 1);
    part->SetNoDrain(static_cast<uint64_t>(i) * 64, v, 64);
    part->Drain();
  }
  EXPECT_TRUE(sim.stopped());
  // The program saw all four stores...
  EXPECT_EQ(ByteAt(*part, 3 * 64), 4);
  // ...power failed during the third drain: its line may persist, the fourth never does.
  sim.Crash(1.0);
  EXPECT_EQ(ByteAt(*part, 0), 1);
  EXPECT_EQ(ByteAt(*part, 64), 2);
  EXPECT_EQ(ByteAt(*part, 128), 3);
  EXPECT_EQ(ByteAt(*part, 192), 0);
  EXPECT_FALSE(sim.stopped());  // Crash clears the limit
  sim.StopAfter(sim.persist_points());
  part->SetNoDrain(128, 5, 1);
  part->Drain();
  sim.Crash(0.0);  // the interrupted drain's line lost this time
  EXPECT_EQ(ByteAt(*part, 128), 3);
  part->SetNoDrain(0, 9, 1);
  part->Drain();
  sim.Crash();
  EXPECT_EQ(ByteAt(*part, 0), 9);
}

TEST(SimPmemTest, StopAtFlushCutsInsideAPersist) {
  SimPmem sim;
  auto part = sim.NewPart(kSize);
  part->SetNoDrain(0, 1, 64);
  part->Drain();
  EXPECT_EQ(sim.flushed_lines(), 1u);
  // Power fails after the third line of the next four-line copy: its first three lines persist
  // although no drain followed, the fourth and everything later do not.
  sim.StopAtFlush(1 + 3);
  part->SetNoDrain(4096, 2, 4 * 64);
  EXPECT_TRUE(sim.stopped());
  part->Drain();
  part->SetNoDrain(8192, 3, 64);
  part->Drain();
  EXPECT_EQ(ByteAt(*part, 8192), 3);  // the program saw its stores
  sim.Crash();
  EXPECT_EQ(ByteAt(*part, 0), 1);
  EXPECT_EQ(ByteAt(*part, 4096), 2);
  EXPECT_EQ(ByteAt(*part, 4096 + 2 * 64 + 63), 2);
  EXPECT_EQ(ByteAt(*part, 4096 + 3 * 64), 0);
  EXPECT_EQ(ByteAt(*part, 8192), 0);
  EXPECT_FALSE(sim.stopped());  // Crash clears the limit
}

TEST(SimPmemTest, StopAtFlushCanKeepStoresNeverFlushed) {
  SimPmem sim(3);
  auto part = sim.NewPart(kSize);
  std::memset(part->base(), 0x5a, kSize);  // stored, never flushed
  sim.StopAtFlush(0, 1.0);  // now: everything stored reaches the media
  std::memset(part->base(), 0x77, 64);  // after the cut: lost
  sim.Crash();
  EXPECT_EQ(ByteAt(*part, 0), 0x5a);
  EXPECT_EQ(ByteAt(*part, kSize - 1), 0x5a);

  std::memset(part->base(), 0x00, kSize);
  part->Flush(0, 64);  // line 0 flushed: it persists at the cut
  sim.StopAtFlush(sim.flushed_lines(), 0.5);
  sim.Crash();
  EXPECT_EQ(ByteAt(*part, 0), 0);
  uint64_t kept = 0, lines = kSize / 64;
  for (uint64_t l = 64; l < kSize; l += 64) {
    const uint8_t b = ByteAt(*part, l);
    ASSERT_TRUE(b == 0 || b == 0x5a);
    kept += b == 0;
    for (uint64_t i = 1; i < 64; i++) ASSERT_EQ(ByteAt(*part, l + i), b) << "torn line";
  }
  EXPECT_GT(kept, lines / 4);
  EXPECT_LT(kept, lines * 3 / 4);
}

TEST(SimPmemTest, DrainCoversOnlyTheCallingThreadsFlushes) {
  SimPmem sim;
  auto part = sim.NewPart(kSize);
  std::thread other([&] { part->SetNoDrain(0, 7, 64); });
  other.join();
  part->SetNoDrain(64, 8, 64);
  part->Drain();  // this thread's line only
  sim.Crash();
  EXPECT_EQ(ByteAt(*part, 0), 0);
  EXPECT_EQ(ByteAt(*part, 64), 8);
}

TEST(SimPmemTest, PartsOutliveOrPrecedeTheSim) {
  std::shared_ptr<Part> part;
  {
    SimPmem sim;
    part = sim.NewPart(kSize, 2 << 20, "big-aligned");
    EXPECT_EQ(part->alignment(), 2u << 20);
    EXPECT_EQ(part->name(), "big-aligned");
  }
  part->SetNoDrain(0, 1, 1);
  part->Drain();
  EXPECT_EQ(ByteAt(*part, 0), 1);
}

}  // namespace
}  // namespace pmemfs::mapping
