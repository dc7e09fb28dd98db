// Filesystem::ChangeAccess (online.cc), the online mode switch: copy mode's dirty cache reaches
// the device, into pages the descriptor table is rebuilt (fsck checks it against the extents),
// refusals leave the mode as it was (shared pages, a lease holder that does not answer,
// requests in flight that do not drain), and requests that arrive during the switch wait for it.
#include <fcntl.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "fs_harness.h"
#include "tools/fsck/check.h"

namespace pmemfs::core {
namespace {

using mapping::Mode;
using testing::kRoot;
using namespace std::chrono_literals;

class NeverAnswers : public LeaseHolders {
 public:
  void Revoke(std::span<const Revocation> revs, std::vector<bool>* answered) override {
    for (size_t i = 0; i < revs.size(); i++) (*answered)[i] = false;
    last_rev = revs.empty() ? 0 : revs.back().rev;
  }
  uint64_t AnsweredUpTo(ClientId) override { return 0; }
  std::string Describe(ClientId c) override { return "pid 4242 (holder" + std::to_string(c) + ")"; }
  uint64_t last_rev = 0;
};

class Harness : public testing::FsHarnessBase {
 public:
  explicit Harness(Mode mode) : FsHarnessBase(mode) {}
  Status Switch(Mode m, std::chrono::milliseconds drain = 10s) {
    return fs_->ChangeAccess({.mode = m}, drain);
  }
  void FsckClean() {
    ASSERT_TRUE(fs_->Unmount().ok());
    fs_.reset();
    d_.Reopen();
    auto r = fsck::Check(*d_.dev, {});
    ASSERT_TRUE(r.ok()) << r.status().message();
    for (const auto& p : r->problems) ADD_FAILURE() << p.area << ": " << p.message;
  }
};

TEST(OnlineSwitch, CopyCacheIsWrittenBackBeforeTheSwitch) {
  Harness h(Mode::kCopy);
  const uint64_t f = h.Create("f");
  h.Write(f, 0, std::string(3 * 4096, 'a'));
  ASSERT_TRUE(h.fs().Fsync(f, false).ok());
  h.Write(f, 4096, std::string(4096, 'b'));  // an overwrite in place: dirty in the cache only
  ASSERT_TRUE(h.Switch(Mode::kDirect).ok());
  EXPECT_EQ(h.fs().options().mode, Mode::kDirect);
  // Direct mode reads the device itself.
  EXPECT_EQ(h.Read(f, 4096, 4096), std::string(4096, 'b'));
  EXPECT_EQ(h.Read(f, 0, 4096), std::string(4096, 'a'));
  // And back into a cold cache, with another size.
  ASSERT_TRUE(h.fs().ChangeAccess({.mode = Mode::kCopy, .cache_size = 2 << 20}, 10s).ok());
  EXPECT_EQ(h.fs().options().cache_size, 2u << 20);
  h.Write(f, 0, std::string(10, 'c'));
  EXPECT_EQ(h.Read(f, 0, 12), std::string(10, 'c') + "aa");
  h.FsckClean();
}

TEST(OnlineSwitch, IntoPagesRebuildsTheDescriptorTable) {
  Harness h(Mode::kDirect);
  const uint64_t a = h.Create("a");
  h.Write(a, 0, std::string(5 * 4096, 'x'));
  ASSERT_TRUE(h.Switch(Mode::kPages).ok());
  // Clones need the descriptors' reference counts: they are right for blocks written before.
  const uint64_t b = h.Create("b");
  auto n = h.fs().CopyFileRange(kRoot, a, 0, b, 0, 5 * 4096);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(h.Read(b, 4096, 3), "xxx");
  // Shared pages now: only pages mode can keep them.
  Status st = h.Switch(Mode::kDirect);
  EXPECT_EQ(st.code(), Code::kUnsupported) << st.message();
  EXPECT_EQ(h.fs().options().mode, Mode::kPages);
  h.Write(a, 0, "y");  // a copy-on-write break, through the descriptors
  EXPECT_EQ(h.Read(b, 0, 2), "xx");
  h.FsckClean();  // the device's descriptor table matches the extents
}

TEST(OnlineSwitch, OutOfPagesAndBackAgain) {
  Harness h(Mode::kPages);
  const uint64_t a = h.Create("a");
  h.Write(a, 0, std::string(2 * 4096, 'p'));
  ASSERT_TRUE(h.Switch(Mode::kDirect).ok());
  h.Write(a, 2 * 4096, std::string(4096, 'q'));  // a block the pages table does not know yet
  const uint64_t c = h.Create("c");
  h.Write(c, 0, std::string(4096, 'r'));
  ASSERT_TRUE(h.fs().Fsync(c, false).ok());
  ASSERT_TRUE(h.Switch(Mode::kPages).ok());
  EXPECT_EQ(h.Read(a, 2 * 4096, 2), "qq");
  h.FsckClean();
}

TEST(OnlineSwitch, AHolderThatDoesNotAnswerRefusesTheSwitch) {
  Harness h(Mode::kDirect);
  NeverAnswers holders;
  ASSERT_TRUE(h.fs().EnableLeases(&holders, 64).ok());
  const uint64_t f = h.Create("f");
  h.Write(f, 0, std::string(4096, 'l'));
  const ClientId c = h.fs().NewLeaseClient();
  auto g = h.fs().GrantLease(c, {.ino = f, .off = 0, .len = 4096, .write = false});
  ASSERT_TRUE(g.ok()) << g.status().message();
  Status st = h.Switch(Mode::kCopy);
  EXPECT_EQ(st.code(), Code::kBusy);
  EXPECT_NE(st.message().find("pid 4242"), std::string::npos) << st.message();
  EXPECT_EQ(h.fs().options().mode, Mode::kDirect);
  EXPECT_EQ(h.Read(f, 0, 2), "ll");
  // Once it answers, the switch goes through; copy mode grants nothing.
  h.fs().LeaseAnswered(c, holders.last_rev);
  ASSERT_TRUE(h.Switch(Mode::kCopy).ok());
  EXPECT_EQ(h.fs().GrantLease(c, {.ino = f, .off = 0, .len = 4096}).status().code(),
            Code::kUnsupported);
  h.fs().DropLeaseClient(c);
  ASSERT_TRUE(h.fs().EnableLeases(nullptr).ok());
}

TEST(OnlineSwitch, RequestsInFlightThatDoNotDrainRefuseIt) {
  Harness h(Mode::kDirect);
  std::atomic<bool> inside{false}, release{false};
  std::thread t([&] {
    QuiesceGate::Pass p(h.fs().gate());
    inside = true;
    while (!release) std::this_thread::sleep_for(1ms);
  });
  while (!inside) std::this_thread::yield();
  Status st = h.Switch(Mode::kCopy, 50ms);
  release = true;
  t.join();
  EXPECT_EQ(st.code(), Code::kBusy) << st.message();
  EXPECT_EQ(h.fs().options().mode, Mode::kDirect);
}

TEST(OnlineSwitch, RequestsArrivingDuringTheSwitchWaitAndSeeTheNewMode) {
  Harness h(Mode::kCopy);
  const uint64_t f = h.Create("f");
  h.Write(f, 0, std::string(64 * 4096, 'w'));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> errors{0}, reads{0};
  std::thread reader([&] {
    while (!stop) {
      QuiesceGate::Pass p(h.fs().gate());  // as fs/fuse's handlers do
      mapping::ReadRef ref;
      if (!h.fs().Read(f, (reads % 64) * 4096, 4096, &ref).ok() || ref.ToBytes()[0] != std::byte{'w'})
        errors++;
      reads++;
    }
  });
  // The reader is running before the first switch (on an idle machine the six switches can
  // all finish before a new thread is first scheduled).
  while (reads == 0) std::this_thread::yield();
  // After each switch the reader reads again, in the new mode, before the next switch (on a
  // loaded machine it may not be scheduled between two switches otherwise).
  const auto read_again = [&] {
    const uint64_t at = reads;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (reads <= at + 1 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    return reads > at + 1;
  };
  int rounds_read = 0;
  for (Mode m : {Mode::kDirect, Mode::kPages, Mode::kCopy, Mode::kPages, Mode::kDirect,
                 Mode::kCopy}) {
    Status st = h.Switch(m);
    EXPECT_TRUE(st.ok()) << st.message();
    if (read_again()) rounds_read++;
  }
  stop = true;
  reader.join();
  EXPECT_EQ(errors.load(), 0u);
  EXPECT_EQ(rounds_read, 6);  // the reader went on after every switch
  h.FsckClean();
}

// The gate's figures are the last switch's (pmemfs-tune and bench/online_switch.sh report them):
// an online scrub, which closes the same gate for moments of its own, leaves them alone.
TEST(OnlineSwitch, AScrubLeavesTheSwitchPauseFigures) {
  Harness h(Mode::kCopy);
  const uint64_t f = h.Create("f");
  h.Write(f, 0, std::string(16 * 4096, 'w'));
  ASSERT_TRUE(h.Switch(Mode::kDirect).ok());
  const QuiesceGate::Stats sw = h.fs().gate()->last();
  ASSERT_GT(sw.closed_ns, 0u);
  for (int i = 0; i < 2; i++) {  // (the scrub closes the gate at least once each time)
    ASSERT_TRUE(h.fs().StartScrub("sim", 10s).ok());
    while (h.fs().scrub_status().running) std::this_thread::sleep_for(1ms);
    ASSERT_TRUE(h.fs().scrub_status().error.ok()) << h.fs().scrub_status().error.message();
  }
  const QuiesceGate::Stats now = h.fs().gate()->last();
  EXPECT_EQ(now.closed_ns, sw.closed_ns);
  EXPECT_EQ(now.drain_ns, sw.drain_ns);
  EXPECT_EQ(now.waiters, sw.waiters);
  EXPECT_EQ(now.longest_wait_ns, sw.longest_wait_ns);
  // The next switch has figures of its own.
  ASSERT_TRUE(h.Switch(Mode::kCopy).ok());
  EXPECT_GT(h.fs().gate()->last().closed_ns, 0u);
  h.FsckClean();
}

}  // namespace
}  // namespace pmemfs::core
