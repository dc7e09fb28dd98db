// InodeCache: lookup references and open counts keep inodes cached; the kernel forgetting more
// references than it was given is a broken invariant, reported loudly (fs/core/invariant.h).
#include "fs/core/inode_cache.h"

#include <fcntl.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fs/core/invariant.h"
#include "fs_harness.h"

namespace pmemfs::core {
namespace {

using testing::kRoot;

std::vector<std::string> g_reported;
void Record(std::string_view what) { g_reported.emplace_back(what); }

// Installs the recording handler for one test, then puts back the harness's aborting one.
class Recording {
 public:
  Recording() : previous_(SetInvariantHandler(&Record)) { g_reported.clear(); }
  ~Recording() { SetInvariantHandler(previous_); }

 private:
  InvariantHandler previous_;
};

class InodeCacheTest : public ::testing::TestWithParam<mapping::Mode> {};

TEST_P(InodeCacheTest, ForgettingWhatWasLookedUpIsQuiet) {
  testing::FsHarnessBase h(GetParam());
  Recording rec;
  Filesystem& fs = h.fs();
  auto a = fs.Create(kRoot, kRootIno, "f", 0644, O_RDWR | O_CREAT);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(fs.Lookup(kRoot, kRootIno, "f").ok());
  ASSERT_TRUE(fs.Release(a->ino).ok());
  fs.Forget(a->ino, 2);  // Create's reference and Lookup's
  EXPECT_TRUE(g_reported.empty());
  // Nothing holds it now: unlinking frees it at once.
  const uint64_t before = invariant_failures();
  ASSERT_TRUE(fs.Unlink(kRoot, kRootIno, "f").ok());
  EXPECT_EQ(fs.GetAttr(a->ino).status().code(), Code::kNotFound);
  EXPECT_EQ(invariant_failures(), before);
}

TEST_P(InodeCacheTest, ForgettingMoreThanWasLookedUpIsReported) {
  testing::FsHarnessBase h(GetParam());
  Recording rec;
  Filesystem& fs = h.fs();
  auto a = fs.Create(kRoot, kRootIno, "f", 0644, O_RDWR | O_CREAT);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(fs.Release(a->ino).ok());
  const uint64_t before = invariant_failures();
  fs.Forget(a->ino, 3);  // one reference was given
  ASSERT_EQ(g_reported.size(), 1u);
  EXPECT_NE(g_reported[0].find("Forget(" + std::to_string(a->ino) + ", 3)"), std::string::npos)
      << g_reported[0];
  EXPECT_NE(g_reported[0].find("only 1 lookup"), std::string::npos) << g_reported[0];
  EXPECT_EQ(invariant_failures(), before + 1);
  // The count went to zero (not below): the file is still there and still usable.
  auto again = fs.Lookup(kRoot, kRootIno, "f");
  ASSERT_TRUE(again.ok()) << again.status().message();
  fs.Forget(a->ino, 1);
  EXPECT_EQ(g_reported.size(), 1u);
}

// In test binaries (fs_harness.h) a breach aborts: a test that forgets too much fails.
TEST(InodeCacheDeathTest, ForgettingTooMuchAbortsUnderTheTestHandler) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        testing::FsHarnessBase h(mapping::Mode::kDirect);
        auto a = h.fs().Create(kRoot, kRootIno, "f", 0644, O_RDWR | O_CREAT);
        if (a.ok()) h.fs().Forget(a->ino, 2);
      },
      "invariant broken: Forget");
}

INSTANTIATE_TEST_SUITE_P(Modes, InodeCacheTest,
                         ::testing::Values(mapping::Mode::kDirect, mapping::Mode::kCopy,
                                           mapping::Mode::kPages),
                         [](const ::testing::TestParamInfo<mapping::Mode>& i) {
                           return mapping::ModeName(i.param);
                         });

}  // namespace
}  // namespace pmemfs::core
