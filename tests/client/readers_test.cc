// client/readers.h: read sections, nested ones (a signal handler's library call inside a
// section of its thread) included.
#include "client/readers.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <thread>

namespace pmemfs::client::readers {
namespace {

bool InSection() { return Self().seq.load() & 1; }

TEST(ReadersTest, ANestedSectionLeavesTheOuterOneOpen) {
  Init();
  EXPECT_FALSE(InSection());
  {
    Section outer;
    EXPECT_TRUE(InSection());
    {
      Section inner;
      EXPECT_TRUE(InSection());  // (not even: Synchronize would take the outer one for ended)
    }
    EXPECT_TRUE(InSection());
    EXPECT_FALSE(Synchronize());  // inside a section of its own thread: returns at once
  }
  EXPECT_FALSE(InSection());
  EXPECT_TRUE(Synchronize());
}

std::atomic<int> g_seen{-1};
void InHandler(int) {
  Section s;
  g_seen = static_cast<int>(Self().seq.load() & 1);
}

TEST(ReadersTest, ASignalHandlersSectionInsideOneKeepsItOpen) {
  Init();
  struct sigaction sa{}, old{};
  sa.sa_handler = InHandler;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR1, &sa, &old), 0);
  {
    Section outer;
    raise(SIGUSR1);  // delivered before raise returns
    EXPECT_EQ(g_seen.load(), 1);
    EXPECT_TRUE(InSection());
  }
  EXPECT_FALSE(InSection());
  g_seen = -1;
  raise(SIGUSR1);  // outside: a section of its own, ended when the handler returns
  EXPECT_EQ(g_seen.load(), 1);
  EXPECT_FALSE(InSection());
  sigaction(SIGUSR1, &old, nullptr);
}

TEST(ReadersTest, SynchronizeWaitsForAThreadInsideANestedSection) {
  Init();
  std::atomic<int> step{0};
  std::thread reader([&] {
    Section outer;
    Section inner;
    step = 1;
    while (step.load() != 2) std::this_thread::yield();
  });
  while (step.load() != 1) std::this_thread::yield();
  std::atomic<bool> done{false};
  std::thread writer([&] {
    Synchronize();
    done = true;
  });
  // The reader is still inside its sections: Synchronize cannot have returned.
  for (int i = 0; i < 1000; i++) std::this_thread::yield();
  EXPECT_FALSE(done.load());
  step = 2;
  reader.join();
  writer.join();
  EXPECT_TRUE(done.load());
}

}  // namespace
}  // namespace pmemfs::client::readers
