// QuiesceGate: closing waits for the entries in flight, entries arriving meanwhile wait (none
// fails) until Open, nesting and the closer's own entries never wait, a drain that does not
// finish in time reopens the gate, a closing left unrecorded keeps the last figures.
#include "fs/core/quiesce.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace pmemfs::core {
namespace {

using namespace std::chrono_literals;

TEST(QuiesceGate, CloseWaitsForEntriesInFlight) {
  QuiesceGate g;
  std::atomic<bool> entered{false}, release{false}, left{false};
  std::thread t([&] {
    QuiesceGate::Pass p(&g);
    entered = true;
    while (!release) std::this_thread::yield();
    left = true;
  });
  while (!entered) std::this_thread::yield();
  std::thread closer([&] {
    ASSERT_TRUE(g.Close(60s));
    EXPECT_TRUE(left.load());  // Close returned only after the entry left
    g.Open();
  });
  while (!g.closed()) std::this_thread::yield();
  EXPECT_EQ(g.inside(), 1u);
  release = true;
  closer.join();
  t.join();
  EXPECT_EQ(g.inside(), 0u);
}

TEST(QuiesceGate, EntriesWhileClosedWaitUntilOpen) {
  QuiesceGate g;
  ASSERT_TRUE(g.Close(1s));
  std::atomic<int> passed{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; i++)
    ts.emplace_back([&] {
      QuiesceGate::Pass p(&g);
      passed++;
    });
  // Until all four are blocked at the gate (on a loaded machine they may start late).
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (g.waiting() < 4 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  EXPECT_EQ(g.waiting(), 4u);
  EXPECT_EQ(passed.load(), 0);  // all waiting, none failed
  g.Open();
  for (auto& t : ts) t.join();
  EXPECT_EQ(passed.load(), 4);
  QuiesceGate::Stats s = g.last();
  EXPECT_EQ(s.waiters, 4u);
  EXPECT_GT(s.longest_wait_ns, 0u);
}

// A closing with Record::kNone (the online scrub's) holds entries as any other, but its figures
// do not replace the last recorded closing's (a mode switch's).
TEST(QuiesceGate, AnUnrecordedClosingLeavesTheLastFigures) {
  QuiesceGate g;
  const auto hold_one_waiter = [&](QuiesceGate::Record record) {
    ASSERT_TRUE(g.Close(1s, record));
    std::atomic<bool> passed{false};
    std::thread t([&] {
      QuiesceGate::Pass p(&g);
      passed = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (g.waiting() < 1 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(1ms);
    EXPECT_EQ(g.waiting(), 1u);
    EXPECT_FALSE(passed.load());
    g.Open();
    t.join();
    EXPECT_TRUE(passed.load());
  };
  hold_one_waiter(QuiesceGate::Record::kStats);
  const QuiesceGate::Stats recorded = g.last();
  EXPECT_EQ(recorded.waiters, 1u);
  EXPECT_GT(recorded.closed_ns, 0u);
  hold_one_waiter(QuiesceGate::Record::kNone);
  const QuiesceGate::Stats after = g.last();
  EXPECT_EQ(after.waiters, recorded.waiters);
  EXPECT_EQ(after.longest_wait_ns, recorded.longest_wait_ns);
  EXPECT_EQ(after.drain_ns, recorded.drain_ns);
  EXPECT_EQ(after.closed_ns, recorded.closed_ns);
}

TEST(QuiesceGate, NestedAndCloserEntriesDoNotWait) {
  QuiesceGate g;
  {
    QuiesceGate::Pass outer(&g);
    // The closer is inside: Close waits for the others only.
    ASSERT_TRUE(g.Close(1s));
    { QuiesceGate::Pass inner(&g); }  // the closer passes its own closed gate
    g.Open();
    QuiesceGate::Pass nested(&g);
    EXPECT_EQ(g.inside(), 1u);
  }
  EXPECT_EQ(g.inside(), 0u);
}

TEST(QuiesceGate, DrainTimeoutReopens) {
  QuiesceGate g;
  std::atomic<bool> entered{false}, release{false};
  std::thread t([&] {
    QuiesceGate::Pass p(&g);
    entered = true;
    while (!release) std::this_thread::yield();
  });
  while (!entered) std::this_thread::yield();
  EXPECT_FALSE(g.Close(20ms));
  EXPECT_FALSE(g.closed());
  { QuiesceGate::Pass p(&g); }  // open again: passes at once
  release = true;
  t.join();
}

TEST(QuiesceGate, ManyThreadsRacingWithCloseNeverOverlapIt) {
  QuiesceGate g;
  std::atomic<bool> stop{false}, exclusive{false};
  std::atomic<uint64_t> overlaps{0}, passes{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; i++)
    ts.emplace_back([&] {
      while (!stop) {
        QuiesceGate::Pass p(&g);
        if (exclusive) overlaps++;
        passes++;
      }
    });
  for (int i = 0; i < 200; i++) {
    ASSERT_TRUE(g.Close(60s));
    exclusive = true;
    std::this_thread::yield();
    exclusive = false;
    g.Open();
  }
  stop = true;
  for (auto& t : ts) t.join();
  EXPECT_EQ(overlaps.load(), 0u);
  EXPECT_GT(passes.load(), 0u);
}

}  // namespace
}  // namespace pmemfs::core
