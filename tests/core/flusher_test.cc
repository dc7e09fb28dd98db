// Flusher: the pending-times set and the one background thread, over fake hooks (no store).
#include "fs/core/flusher.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace pmemfs::core {
namespace {

// Records what the flusher asked for.
struct Fake {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<uint64_t> committed;  // inodes whose record was written
  std::vector<uint64_t> released;
  int write_backs = 0;
  bool fail_commits = false;

  Flusher::Hooks Hooks() {
    return {
        .commit_record =
            [this](Inode& ip) {
              std::lock_guard l(mu);
              if (fail_commits) return Status::IoError("injected");
              committed.push_back(ip.ino);
              cv.notify_all();
              return Status::Ok();
            },
        .write_back =
            [this] {
              std::lock_guard l(mu);
              write_backs++;
              cv.notify_all();
              return Status::Ok();
            },
        .released =
            [this](uint64_t ino) {
              std::lock_guard l(mu);
              released.push_back(ino);
            },
    };
  }
};

std::shared_ptr<Inode> NewInode(uint64_t ino) {
  return std::make_shared<Inode>(ino, layout::InodeRecord{});
}

void Defer(Flusher& f, const std::shared_ptr<Inode>& ip) {
  std::unique_lock lock(ip->mu);
  f.Defer(ip);
}

TEST(FlusherTest, FlushCommitsEachPendingInodeOnceThenWritesBack) {
  Fake fake;
  Flusher f(fake.Hooks());
  auto a = NewInode(5), b = NewInode(7);
  Defer(f, a);
  Defer(f, a);  // already pending: still one commit
  Defer(f, b);
  EXPECT_TRUE(a->times_pending);
  EXPECT_EQ(f.pending(), 2u);
  ASSERT_TRUE(f.Flush().ok());
  EXPECT_EQ(fake.committed.size(), 2u);
  EXPECT_EQ(fake.write_backs, 1);
  EXPECT_FALSE(a->times_pending);
  EXPECT_FALSE(b->times_pending);
  EXPECT_EQ(f.pending(), 0u);
  EXPECT_EQ(fake.released.size(), 2u);  // the cache may now evict them
  ASSERT_TRUE(f.Flush().ok());           // nothing pending: no commit
  EXPECT_EQ(fake.committed.size(), 2u);
}

TEST(FlusherTest, AFailedCommitStaysPendingAndIsReported) {
  Fake fake;
  Flusher f(fake.Hooks());
  auto a = NewInode(3);
  Defer(f, a);
  fake.fail_commits = true;
  EXPECT_EQ(f.FlushTimes().code(), Code::kIoError);
  EXPECT_TRUE(a->times_pending);
  EXPECT_EQ(f.pending(), 1u);
  fake.fail_commits = false;
  ASSERT_TRUE(f.FlushTimes().ok());
  EXPECT_EQ(fake.committed, std::vector<uint64_t>{3});
  EXPECT_EQ(fake.write_backs, 0);  // FlushTimes only
}

TEST(FlusherTest, CommitTimesAndDropLeaveNothingForTheThread) {
  Fake fake;
  Flusher f(fake.Hooks());
  auto a = NewInode(9);
  Defer(f, a);
  {
    std::unique_lock lock(a->mu);
    ASSERT_TRUE(f.CommitTimes(*a).ok());  // Fsync / the last Release
    ASSERT_TRUE(f.CommitTimes(*a).ok());  // nothing pending any more: no second commit
  }
  f.Drop(a->ino);
  EXPECT_EQ(f.pending(), 0u);
  EXPECT_EQ(fake.committed, std::vector<uint64_t>{9});
}

// The thread flushes by itself (times and write-back) and stops when asked, also in the middle
// of a long period.
TEST(FlusherTest, TheThreadFlushesPendingTimesAndStops) {
  Fake fake;
  Flusher f(fake.Hooks());
  auto a = NewInode(11);
  f.Start(std::chrono::milliseconds(1));
  ASSERT_TRUE(f.running());
  Defer(f, a);
  {
    std::unique_lock l(fake.mu);
    fake.cv.wait(l, [&] { return !fake.committed.empty() && fake.write_backs > 0; });
  }
  f.Stop();
  EXPECT_FALSE(f.running());
  EXPECT_EQ(fake.committed, std::vector<uint64_t>{11});

  Flusher slow(fake.Hooks());
  slow.Start(std::chrono::hours(1));
  slow.Stop();  // returns without waiting for the period
  EXPECT_FALSE(slow.running());
}

TEST(FlusherTest, NoPeriodNoThread) {
  Fake fake;
  Flusher f(fake.Hooks());
  f.Start(std::chrono::milliseconds(0));
  EXPECT_FALSE(f.running());
}

}  // namespace
}  // namespace pmemfs::core
