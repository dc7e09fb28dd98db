// InodeCache: lookup references and open counts keep inodes cached; the kernel forgetting more
// references than it was given is a broken invariant, reported loudly (fs/core/invariant.h);
// an inode whose last reference goes while someone else holds it leaves once they let go.
#include "fs/core/inode_cache.h"

#include <fcntl.h>
#include <sys/stat.h>

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

// The cache over a store of its own, with hooks that count what they free.
class CacheHarness {
 public:
  CacheHarness() {
    d_ = mapping::testing::MakeSimDevice(
        {"Concat1", layout::LayoutKind::kLinear, 1, mapping::AccessPath::kLinear, 24ull << 20});
    EXPECT_TRUE(store::Store::Format(*d_.dev, {}).ok());
    auto s = store::Store::Open(*d_.dev, nullptr);
    EXPECT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s).value();
    cache_ = std::make_unique<InodeCache>(
        *store_, 1,
        InodeCache::Hooks{.free_inode = [this](const InodePtr&) { freed++; return Status::Ok(); },
                          .drop_contents = [](Inode&) {}});
    auto root = cache_->Get(kRootIno);
    EXPECT_TRUE(root.ok());
    cache_->Pin(*root);
    root_ = *root;
  }
  InodeCache& cache() { return *cache_; }
  // A new regular file with one link and one lookup reference (as a create leaves it, closed).
  InodePtr NewFile() {
    layout::InodeRecord rec{};
    rec.mode = S_IFREG | 0644;
    rec.nlink = 1;
    store::Tx tx = store_->Begin();
    auto ip = cache_->NewInode(tx, *root_, rec);
    EXPECT_TRUE(ip.ok()) << ip.status().message();
    EXPECT_TRUE(store_->Commit(tx).ok());
    cache_->Insert(*ip);
    cache_->AddLookup(**ip);
    return *ip;
  }
  size_t Cached() {
    return cache_->Select([](const Inode&) { return true; }).size();
  }
  int freed = 0;

 private:
  mapping::testing::SimDevice d_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<InodeCache> cache_;
  InodePtr root_;
};

// The kernel's FORGET can come while a request in flight (or the lease table, the flusher)
// holds the inode: it leaves once they let go and the cache next tries (here: the next
// FORGET, of another inode), not at unmount. Many files, each held during its FORGET.
TEST(InodeCacheEviction, AnInodeHeldDuringItsLastForgetLeavesAfter) {
  CacheHarness h;
  std::vector<InodePtr> held;
  for (int i = 0; i < 1000; i++) {
    InodePtr ip = h.NewFile();
    const uint64_t ino = ip->ino;
    held.push_back(std::move(ip));
    h.cache().Forget(ino, 1);  // held by "a request": stays for now
  }
  EXPECT_EQ(h.Cached(), 1001u);
  // One is looked up again meanwhile: it stays, as its reference says.
  h.cache().AddLookup(*held[7]);
  const uint64_t kept = held[7]->ino;
  held.clear();  // the requests end
  InodePtr last = h.NewFile();
  h.cache().Forget(last->ino, 1);
  last.reset();
  h.cache().EvictDeferred();
  EXPECT_EQ(h.Cached(), 2u);  // the root and the one looked up again
  EXPECT_EQ(h.cache().Select([&](const Inode& ip) { return ip.ino == kept; }).size(), 1u);
  EXPECT_EQ(h.freed, 0);  // all linked: evicted, not freed
}

// Unlinked: the record is freed once the holder lets go (before, it stayed allocated until
// unmount).
TEST(InodeCacheEviction, AnUnlinkedInodeHeldDuringItsLastForgetIsFreedAfter) {
  CacheHarness h;
  InodePtr ip = h.NewFile();
  const uint64_t ino = ip->ino;
  ip->rec.nlink = 0;
  h.cache().Forget(ino, 1);
  EXPECT_EQ(h.freed, 0);  // held: not yet
  ip.reset();
  InodePtr other = h.NewFile();
  h.cache().Forget(other->ino, 1);  // (held too: it stays deferred)
  EXPECT_EQ(h.freed, 1);
  EXPECT_EQ(h.Cached(), 2u);
  other.reset();
  h.cache().EvictDeferred();
  EXPECT_EQ(h.Cached(), 1u);
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
