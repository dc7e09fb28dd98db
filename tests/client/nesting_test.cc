// client/nesting.h: a library call nested in another of its thread (from a signal handler).
#include "client/nesting.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace pmemfs::client {
namespace {

int g_nested = -1;
void InHandler(int) {
  Entry e;
  g_nested = e.nested() ? 1 : 0;
}

TEST(NestingTest, OnlyACallInsideAnotherOfItsThreadIsNested) {
  struct sigaction sa{}, old{};
  sa.sa_handler = InHandler;
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &sa, &old), 0);
  {
    Entry outer;
    EXPECT_FALSE(outer.nested());
    raise(SIGUSR2);  // a handler's call while this one runs
    EXPECT_EQ(g_nested, 1);
    EXPECT_EQ(t_depth, 1u);
  }
  EXPECT_EQ(t_depth, 0u);
  g_nested = -1;
  raise(SIGUSR2);  // a handler's call that interrupted none
  EXPECT_EQ(g_nested, 0);
  EXPECT_EQ(t_depth, 0u);
  sigaction(SIGUSR2, &old, nullptr);
}

}  // namespace
}  // namespace pmemfs::client
