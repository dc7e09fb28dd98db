// Direct access in fs/core (leases.cc): grants describe the file's blocks, write grants allocate
// zeroed blocks (ahead of the end too), what clients report in the shared slot is what stat
// shows and what fsync makes durable, and the data path calls holders back before it changes
// what a lease describes; blocks of a holder that does not answer stay pinned until it does.
// In direct and pages mode, over the crash simulator.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "crash_harness.h"
#include "fs_harness.h"

namespace pmemfs::core {
namespace {

using mapping::Mode;
using testing::kRoot;
constexpr uint64_t kB = 4096;

// Stands in for the direct-access server: records revocations, answers them (or not).
class FakeHolders : public LeaseHolders {
 public:
  void Revoke(std::span<const Revocation> revs, std::vector<bool>* answered) override {
    for (size_t i = 0; i < revs.size(); i++) {
      seen.push_back(revs[i]);
      if (on_revoke) on_revoke(revs[i]);  // (a client's revocation waits for its writes in flight)
      (*answered)[i] = answer;
      if (answer) upto = std::max(upto, revs[i].rev);
    }
  }
  uint64_t AnsweredUpTo(ClientId) override { return upto; }

  std::vector<Revocation> seen;
  std::function<void(const Revocation&)> on_revoke;
  bool answer = true;
  uint64_t upto = 0;
};

class Harness : public testing::FsHarnessBase {
 public:
  explicit Harness(Mode mode) : FsHarnessBase(mode) { Enable(); }
  ~Harness() { Disable(); }

  void Enable() {
    Status st = fs_->EnableLeases(&holders, 64);
    ASSERT_TRUE(st.ok()) << st.message();
    const size_t bytes = 64 * sizeof(direct::Slot);
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fs_->lease_slots_fd(), 0);
    ASSERT_NE(p, MAP_FAILED);
    slots_ = static_cast<direct::Slot*>(p);
  }
  void Disable() {
    if (slots_) munmap(slots_, 64 * sizeof(direct::Slot));
    slots_ = nullptr;
  }
  void RemountLeases() {
    Disable();
    Remount();
    Enable();
  }
  fsck::CheckReport Fsck() {
    Disable();

    EXPECT_TRUE(Unmount().ok());
    return testing::FsckReport(*d_.dev);
  }

  // Power loss now, and what pmemfs-fsck's checker says of the image before recovery.
  fsck::CheckReport CrashAndCheck() {
    Disable();
    d_.sim->StopAfter(d_.sim->persist_points());
    fs_.reset();
    d_.sim->Crash();
    d_.Reopen();
    auto r = fsck::Check(*d_.dev, {});
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? *r : fsck::CheckReport{};
  }

  uint64_t Create(const std::string& name) {
    auto a = fs_->Create(kRoot, kRootIno, name, 0644, O_RDWR);
    EXPECT_TRUE(a.ok()) << a.status().message();
    return a.ok() ? a->ino : 0;
  }
  void Write(uint64_t ino, uint64_t off, const std::string& data) {
    auto w = fs_->Write(kRoot, ino, off, std::as_bytes(std::span(data)));
    ASSERT_TRUE(w.ok()) << w.status().message();
  }
  LeaseGrant Grant(ClientId c, uint64_t ino, uint64_t off, uint64_t len, bool write) {
    auto g = fs_->GrantLease(c, {.ino = ino, .off = off, .len = len, .write = write});
    EXPECT_TRUE(g.ok()) << g.status().message();
    return g.ok() ? *g : LeaseGrant{};
  }
  // The device block of file block fb in grant g (0: a hole).
  static uint64_t DevBlock(const LeaseGrant& g, uint64_t fb) {
    for (const LeaseExtent& e : g.extents)
      if (fb >= e.file_block && fb < e.file_block + e.count) return e.dev_block + fb - e.file_block;
    return 0;
  }
  // What a client does: stores into the device and persists, then raises the slot's size
  // (unless !publish: a write still in flight).
  void ClientWrite(const LeaseGrant& g, uint64_t off, const std::string& data,
                   bool publish = true) {
    mapping::Device& dev = const_cast<mapping::Device&>(fs_->device());
    for (size_t done = 0; done < data.size();) {
      const uint64_t fb = (off + done) / kB, in = (off + done) % kB;
      const size_t n = std::min<size_t>(data.size() - done, kB - in);
      const uint64_t d = DevBlock(g, fb);
      ASSERT_NE(d, 0u) << "file block " << fb << " is not in the lease";
      dev.Write(d * kB + in, data.data() + done, n);
      done += n;
    }
    if (!publish) return;
    direct::Slot& s = slots_[g.slot];
    uint64_t cur = s.size.load();
    while (cur < off + data.size() && !s.size.compare_exchange_weak(cur, off + data.size())) {
    }
  }
  // File::Touched: the time of a client's write raised into the slot (never lowered).
  void ClientTouch(const LeaseGrant& g, int64_t t) {
    direct::Slot& s = slots_[g.slot];
    int64_t m = s.mtime_ns.load();
    while (m < t && !s.mtime_ns.compare_exchange_weak(m, t)) {
    }
  }
  int64_t Mtime(uint64_t ino) {
    const timespec t = fs_->GetAttr(ino)->mtime;
    return t.tv_sec * 1000000000ll + t.tv_nsec;
  }
  std::string DeviceBytes(uint64_t dev_block, uint64_t len) {
    std::string out(len, '\0');
    fs_->device().Read(dev_block * kB, out.data(), len);
    return out;
  }
  uint64_t Size(uint64_t ino) { return fs_->GetAttr(ino)->size; }
  uint64_t FreeBlocks() { return fs_->StatFs()->free_blocks; }
  direct::Slot& Slot(uint32_t i) { return slots_[i]; }
  // What a client's fsync (fdatasync when `datasync`) with `opens` opens of its own sees.
  bool Synced(const LeaseGrant& g, uint64_t ino, bool datasync, uint64_t opens = 1) {
    return direct::Synced(slots_[g.slot], ino, opens, datasync);
  }

  FakeHolders holders;

 private:
  direct::Slot* slots_ = nullptr;
};

class LeasesTest : public ::testing::TestWithParam<Mode> {};

TEST_P(LeasesTest, ReadGrantListsTheMappedRunsAndTheSize) {
  Harness h(GetParam());
  uint64_t ino = h.Create("f");
  h.Write(ino, 0, std::string(3 * kB, 'a'));
  h.Write(ino, 10 * kB, "tail");
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant g = h.Grant(c, ino, 0, 100, false);
  EXPECT_EQ(g.lo, 0u);
  EXPECT_GE(g.hi, 11 * kB);
  EXPECT_EQ(g.size, 10 * kB + 4);
  EXPECT_NE(g.slot, 0u);
  ASSERT_EQ(g.extents.size(), 2u);
  EXPECT_EQ(g.extents[0].file_block, 0u);
  EXPECT_EQ(g.extents[0].count, 3u);
  EXPECT_EQ(g.extents[1].file_block, 10u);
  EXPECT_EQ(h.DeviceBytes(g.extents[0].dev_block, 3 * kB), std::string(3 * kB, 'a'));
  EXPECT_EQ(h.DeviceBytes(g.extents[1].dev_block, 4), "tail");
  EXPECT_TRUE(h.fs().GetAttr(ino)->leased);
  ASSERT_TRUE(h.fs().ReleaseLeases(c, ino).ok());
  EXPECT_FALSE(h.fs().GetAttr(ino)->leased);  // the slot went with the last lease
}

TEST_P(LeasesTest, WriteGrantPastTheEndAllocatesZeroedBlocksAhead) {
  Harness h(GetParam());
  uint64_t ino = h.Create("f");
  h.Write(ino, 0, "xyz");  // a partial last block: its tail holds zeros after the grant
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant g = h.Grant(c, ino, 3, 2 * kB, true);
  EXPECT_TRUE(g.write);
  // Asked for 3 + 8192 bytes: allocated that and a megabyte ahead, all zero past the end.
  for (uint64_t fb = 0; fb < (2 * kB + 3 + (1 << 20)) / kB; fb++) {
    const uint64_t d = Harness::DevBlock(g, fb);
    ASSERT_NE(d, 0u) << "file block " << fb;
    if (fb == 0) {
      EXPECT_EQ(h.DeviceBytes(d, kB), "xyz" + std::string(kB - 3, '\0'));
    } else if (fb % 37 == 1) {
      EXPECT_EQ(h.DeviceBytes(d, kB), std::string(kB, '\0'));
    }
  }
  EXPECT_EQ(h.Size(ino), 3u);  // allocation does not change the size
  h.ClientWrite(g, 3, "hello");
  EXPECT_EQ(h.Size(ino), 8u);  // stat sees a client's size at once
  EXPECT_EQ(h.Read(ino, 0, 100), "xyzhello");  // and so do reads through the kernel
  ASSERT_TRUE(h.fs().FsyncLeases(c, ino).ok());
  ASSERT_TRUE(h.fs().ReleaseLeases(c, ino).ok());
  // The blocks ahead that nobody wrote went back.
  EXPECT_EQ(h.fs().GetAttr(ino)->blocks, 2u * 8);  // one data block, one extent block
  h.RemountLeases();
  EXPECT_EQ(h.Size(ino), 8u);
  EXPECT_EQ(h.Read(ino, 0, 100), "xyzhello");
  EXPECT_TRUE(h.Fsck().clean());
}

TEST_P(LeasesTest, WriteIntoAHoleAllocatesZeroedBlocksOnly) {
  Harness h(GetParam());
  uint64_t ino = h.Create("f");
  h.Write(ino, 20 * kB, "end");
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant g = h.Grant(c, ino, 5 * kB + 100, 10, true);
  EXPECT_NE(Harness::DevBlock(g, 5), 0u);
  EXPECT_EQ(Harness::DevBlock(g, 4), 0u);  // only what was asked for
  EXPECT_EQ(Harness::DevBlock(g, 6), 0u);
  EXPECT_EQ(h.DeviceBytes(Harness::DevBlock(g, 5), kB), std::string(kB, '\0'));
  h.ClientWrite(g, 5 * kB + 100, "0123456789");
  EXPECT_EQ(h.Size(ino), 20 * kB + 3);
  EXPECT_EQ(h.Read(ino, 5 * kB + 98, 14), std::string(2, '\0') + "0123456789" + std::string(2, '\0'));
}

// The holes a write grant filled below the end are what the daemon drops from the kernel's page
// cache before the reply (direct_server.cc): they are named; mapped blocks, blocks allocated
// past the end and grants that fill nothing are not.
TEST_P(LeasesTest, AGrantNamesTheHolesItFilledBelowTheEnd) {
  Harness h(GetParam());
  uint64_t ino = h.Create("f");
  h.Write(ino, 0, std::string(kB, 'a'));
  h.Write(ino, 20 * kB, "end");  // holes: blocks 1 to 19
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant g = h.Grant(c, ino, 0, 6 * kB + 10, true);  // block 0 mapped, 1-6 holes
  EXPECT_EQ(g.filled_lo, 1 * kB);
  EXPECT_EQ(g.filled_hi, 7 * kB);
  g = h.Grant(c, ino, 2 * kB, kB, true);  // filled already
  EXPECT_EQ(g.filled_lo, g.filled_hi);
  g = h.Grant(c, ino, 0, kB, false);
  EXPECT_EQ(g.filled_lo, g.filled_hi);
  g = h.Grant(c, ino, 19 * kB + 5, 2 * kB, true);  // block 19, and past the end: ahead
  EXPECT_EQ(g.filled_lo, 19 * kB);
  EXPECT_EQ(g.filled_hi, 20 * kB);
  g = h.Grant(c, ino, 40 * kB, kB, true);  // past the end (and its blocks ahead) only
  EXPECT_EQ(g.filled_lo, g.filled_hi);
  ASSERT_TRUE(h.fs().ReleaseLeases(c, ino).ok());
  ASSERT_TRUE(h.fs().Release(ino).ok());
  EXPECT_TRUE(h.Fsck().clean());
}

TEST_P(LeasesTest, TruncateCallsHoldersBackFirst) {
  Harness h(GetParam());
  uint64_t ino = h.Create("f");
  h.Write(ino, 0, std::string(4 * kB, 'a'));
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant g = h.Grant(c, ino, 0, 10, false);
  SetAttrRequest req{.fields = kSetSize, .size = kB};
  ASSERT_TRUE(h.fs().SetAttr(kRoot, ino, req).ok());
  ASSERT_EQ(h.holders.seen.size(), 1u);
  EXPECT_EQ(h.holders.seen[0].client, c);
  EXPECT_EQ(h.holders.seen[0].ino, ino);
  EXPECT_GT(h.holders.seen[0].rev, g.rev);
  EXPECT_EQ(h.fs().pending_revocations(), 0u);
  EXPECT_FALSE(h.fs().GetAttr(ino)->leased);
  // Nothing left to call back.
  ASSERT_TRUE(h.fs().SetAttr(kRoot, ino, {.fields = kSetSize, .size = 0}).ok());
  EXPECT_EQ(h.holders.seen.size(), 1u);
}

TEST_P(LeasesTest, BlocksOfAHolderThatDoesNotAnswerAreNotReused) {
  for (bool answer : {true, false}) {
    Harness h(GetParam());
    h.holders.answer = answer;
    uint64_t ino = h.Create("f");
    h.Write(ino, 0, std::string(8 * kB, 'a'));
    const ClientId c = h.fs().NewLeaseClient();
    LeaseGrant g = h.Grant(c, ino, 0, 10, false);
    const uint64_t before = h.FreeBlocks();
    ASSERT_TRUE(h.fs().SetAttr(kRoot, ino, {.fields = kSetSize, .size = 0}).ok());
    EXPECT_EQ(h.Size(ino), 0u);  // the truncate went ahead either way
    // (Truncating to 0 frees the extent block too; no lease pins that one.)
    if (answer) {
      EXPECT_EQ(h.FreeBlocks(), before + 8 + 1);
      EXPECT_EQ(h.fs().pending_revocations(), 0u);
      continue;
    }
    EXPECT_EQ(h.FreeBlocks(), before + 1);  // the data blocks are pinned: not free
    EXPECT_EQ(h.fs().pending_revocations(), 1u);
    // A new file does not get them.
    uint64_t other = h.Create("g");
    h.Write(other, 0, std::string(8 * kB, 'b'));
    LeaseGrant go = h.Grant(c, other, 0, 10, false);
    for (const LeaseExtent& e : go.extents)
      for (const LeaseExtent& old : g.extents)
        EXPECT_FALSE(e.dev_block < old.dev_block + old.count && old.dev_block < e.dev_block + e.count);
    // The late answer unpins them; the next allocation finds them free.
    h.fs().LeaseAnswered(c, h.holders.seen.back().rev);
    EXPECT_EQ(h.fs().pending_revocations(), 0u);
    const uint64_t free_now = h.FreeBlocks();
    h.Write(other, 8 * kB, std::string(kB, 'c'));
    EXPECT_EQ(h.FreeBlocks(), free_now + 8 - 1);
  }
}

TEST_P(LeasesTest, AClientThatGoesAwayUnpinsAndTrims) {
  Harness h(GetParam());
  h.holders.answer = false;
  uint64_t ino = h.Create("f");
  const uint64_t free0 = h.FreeBlocks();
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant g = h.Grant(c, ino, 0, kB, true);
  EXPECT_LT(h.FreeBlocks(), free0 - 200);  // a megabyte ahead
  h.ClientWrite(g, 0, "abc");
  h.fs().DropLeaseClient(c);
  EXPECT_EQ(h.Size(ino), 3u);  // what it wrote stays
  EXPECT_EQ(h.Read(ino, 0, 10), "abc");
  EXPECT_EQ(h.fs().GetAttr(ino)->blocks, 2u * 8);  // and only that block
  EXPECT_EQ(h.fs().pending_revocations(), 0u);
}

TEST_P(LeasesTest, KernelWritesCallBackOnlyWhenTheyChangeTheMap) {
  Harness h(GetParam());
  uint64_t ino = h.Create("f");
  h.Write(ino, 0, std::string(2 * kB, 'a'));
  h.Write(ino, 8 * kB, std::string(kB, 'a'));
  const ClientId c = h.fs().NewLeaseClient();
  (void)h.Grant(c, ino, 0, 10, false);
  h.Write(ino, 100, "in place");  // overwrites a block of the file's own
  EXPECT_EQ(h.holders.seen.size(), 0u);
  EXPECT_TRUE(h.fs().GetAttr(ino)->leased);
  h.Write(ino, 4 * kB, "into a hole");
  ASSERT_EQ(h.holders.seen.size(), 1u);
  EXPECT_EQ(h.holders.seen[0].lo, 4 * kB);
  (void)h.Grant(c, ino, 0, 10, false);
  h.Write(ino, 9 * kB, "past the end");
  ASSERT_EQ(h.holders.seen.size(), 2u);
  EXPECT_EQ(h.holders.seen[1].lo, 0u);  // the size changes: every lease
  EXPECT_EQ(h.holders.seen[1].hi, UINT64_MAX);
}

TEST_P(LeasesTest, PunchAndCopyInCallBackTheRange) {
  Harness h(GetParam());
  uint64_t ino = h.Create("f"), src = h.Create("s");
  h.Write(ino, 0, std::string(16 * kB, 'a'));
  h.Write(src, 0, std::string(4 * kB, 'b'));
  const ClientId c = h.fs().NewLeaseClient();
  (void)h.Grant(c, ino, 0, 10, false);
  ASSERT_TRUE(h.fs().Fallocate(ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * kB, 4 * kB).ok());
  ASSERT_EQ(h.holders.seen.size(), 1u);
  EXPECT_EQ(h.holders.seen[0].lo, 4 * kB);
  EXPECT_EQ(h.holders.seen[0].hi, 8 * kB);
  (void)h.Grant(c, ino, 0, 10, false);
  auto n = h.fs().CopyFileRange(kRoot, src, 0, ino, 8 * kB, 4 * kB);
  ASSERT_TRUE(n.ok()) << n.status().message();
  ASSERT_EQ(h.holders.seen.size(), 2u);
  EXPECT_EQ(h.holders.seen[1].lo, 8 * kB);
}

TEST_P(LeasesTest, UnlinkOfAnOpenFileFreesNothingUnderALease) {
  Harness h(GetParam());
  uint64_t ino = h.Create("f");
  h.Write(ino, 0, std::string(4 * kB, 'a'));
  const ClientId c = h.fs().NewLeaseClient();
  (void)h.Grant(c, ino, 0, 10, false);
  ASSERT_TRUE(h.fs().Unlink(kRoot, kRootIno, "f").ok());
  EXPECT_EQ(h.holders.seen.size(), 0u);  // still open: its blocks stay
  ASSERT_TRUE(h.fs().ReleaseLeases(c, ino).ok());
  ASSERT_TRUE(h.fs().Release(ino).ok());  // the last close frees it
  EXPECT_TRUE(h.Fsck().clean());
}

// The kernel's last close and FORGET of an unlinked file can come while a client still holds a
// lease on it (a client killed: the kernel closes its descriptor before the daemon sees its
// socket close). The inode, which the lease table kept, is freed when the client goes, not at
// unmount; a linked one leaves the cache then.
TEST_P(LeasesTest, AnInodeTheKernelForgotLeavesWithTheLastLease) {
  Harness h(GetParam());
  (void)h.Create("keep");  // the root's first directory block, which stays
  const auto used_inodes = [&] { return h.fs().StatFs()->files - h.fs().StatFs()->free_files; };
  const uint64_t used0 = used_inodes();
  const uint64_t free0 = h.FreeBlocks();
  for (const bool via_release : {false, true}) {
    // (Empty: an unlink that frees no block calls no holder back, so the lease stays.)
    const std::string name = via_release ? "g" : "f";
    const uint64_t ino = h.Create(name);  // open, one lookup reference
    const ClientId c = h.fs().NewLeaseClient();
    (void)h.Grant(c, ino, 0, 10, false);
    ASSERT_TRUE(h.fs().Unlink(kRoot, kRootIno, name).ok());
    ASSERT_TRUE(h.fs().Release(ino).ok());
    h.fs().Forget(ino, 1);
    EXPECT_EQ(used_inodes(), used0 + 1) << "the lease keeps the inode";
    if (via_release) ASSERT_TRUE(h.fs().ReleaseLeases(c, ino).ok());
    else h.fs().DropLeaseClient(c);
    EXPECT_EQ(used_inodes(), used0) << (via_release ? "ReleaseLeases" : "DropLeaseClient");
    EXPECT_EQ(h.fs().GetAttr(ino).status().code(), Code::kNotFound);
  }
  EXPECT_EQ(h.FreeBlocks(), free0);
  EXPECT_TRUE(h.Fsck().clean());
}

TEST_P(LeasesTest, ACrashLosesOnlyWhatWasNotFsynced) {
  Harness h(GetParam());
  uint64_t ino = h.Create("f");
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant g = h.Grant(c, ino, 0, kB, true);
  h.ClientWrite(g, 0, "durable");
  ASSERT_TRUE(h.fs().FsyncLeases(c, ino).ok());
  h.ClientWrite(g, 7, " and more");  // acknowledged to the client, size not yet committed
  h.Disable();
  h.CrashAndMount();
  EXPECT_EQ(h.Size(ino), 7u);
  EXPECT_EQ(h.Read(ino, 0, 100), "durable");
  // The blocks allocated ahead are in the file past its end, all zero: a later extension
  // shows zeros there, never old bytes.
  ASSERT_TRUE(h.fs().SetAttr(kRoot, ino, {.fields = kSetSize, .size = 3 * kB}).ok());
  EXPECT_EQ(h.Read(ino, 0, 3 * kB), "durable" + std::string(3 * kB - 7, '\0'));
  EXPECT_TRUE(h.Fsck().clean());
}

// The background rounds (Flusher, every writeback_ms) take what clients report into the inodes
// and commit it, also once pmemfs-tune --writeback-ms turned them on, on a live mount that had
// none (the mount's period 0: nothing would ever be folded; the direct-access server used to
// fold on a timer of its own, set once at start).
TEST_P(LeasesTest, AWritebackPeriodSetOnlineFoldsWhatClientsReport) {
  Harness h(GetParam());  // writeback_ms 0: no background rounds
  const uint64_t ino = h.Create("f");
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant g = h.Grant(c, ino, 0, 2 * kB, true);
  h.ClientWrite(g, 0, std::string(kB + 5, 'z'));  // in the slot only, not committed
  const uint64_t before = h.sim().sim->persist_points();
  h.fs().SetWritebackMs(5);
  // Waits (bounded: a failure, not a hang) for a round to persist the fold's commit.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (h.sim().sim->persist_points() == before && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_GT(h.sim().sim->persist_points(), before) << "no background round committed anything";
  // The round under way holds the gate: closing it waits for the round to end.
  ASSERT_TRUE(h.fs().gate()->Close(std::chrono::seconds(30)));
  h.fs().gate()->Open();
  h.Disable();
  h.CrashAndMount();
  EXPECT_EQ(h.Size(ino), kB + 5);
  EXPECT_TRUE(h.Read(ino, 0, 2 * kB) == std::string(kB + 5, 'z'));
  EXPECT_TRUE(h.Fsck().clean());
}

// What lets a client skip the kernel's fsync (direct_server.cc, kFsyncCovered): the kernel's
// opens of the file, counted at each FsyncLeases, so that an open the client did not make shows.
TEST_P(LeasesTest, FsyncLeasesCountsTheKernelsOpens) {
  Harness h(GetParam());
  uint64_t ino = h.Create("f");  // opened once, by the create
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant g = h.Grant(c, ino, 0, kB, true);
  h.ClientWrite(g, 0, "x");
  uint64_t opens = 0;
  ASSERT_TRUE(h.fs().FsyncLeases(c, ino, &opens).ok());
  EXPECT_EQ(opens, 1u);
  ASSERT_TRUE(h.fs().Open(kRoot, ino, O_RDWR).ok());  // another process's open
  ASSERT_TRUE(h.fs().FsyncLeases(c, ino, &opens).ok());
  EXPECT_EQ(opens, 2u);
  ASSERT_TRUE(h.fs().Release(ino).ok());
  ASSERT_TRUE(h.fs().FsyncLeases(c, ino, &opens).ok());
  EXPECT_EQ(opens, 1u);
  ASSERT_TRUE(h.fs().ReleaseLeases(c, ino).ok());
  ASSERT_TRUE(h.fs().Release(ino).ok());
}

// fsync without a round trip (direct::Synced): the slot says the size and mtime clients
// reported are durable only after a commit of them, and stops saying so for the mtime when a
// write through the kernel leaves times pending, for everything when the size moves or another
// open of the file appears.
TEST_P(LeasesTest, TheSlotSaysWhatOfTheClientsReportIsDurable) {
  Harness h(GetParam());
  const uint64_t ino = h.Create("f");  // one open: the client's
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant g = h.Grant(c, ino, 0, 4 * kB, true);
  EXPECT_TRUE(h.Synced(g, ino, false)) << "a fresh slot of a committed record";
  EXPECT_FALSE(h.Synced(g, ino + 1, false)) << "another inode's slot";
  EXPECT_FALSE(h.Synced(g, ino, false, 2)) << "an open of the file the client did not make";
  h.ClientWrite(g, 0, std::string(kB, 'a'));  // the size moves
  EXPECT_FALSE(h.Synced(g, ino, true));
  EXPECT_FALSE(h.Synced(g, ino, false));
  ASSERT_TRUE(h.fs().FsyncLeases(c, ino).ok());
  EXPECT_TRUE(h.Synced(g, ino, true));
  EXPECT_TRUE(h.Synced(g, ino, false));
  h.ClientWrite(g, 0, std::string(kB, 'b'));  // an overwrite in place: no size change
  EXPECT_TRUE(h.Synced(g, ino, false));
  direct::Slot& s = h.Slot(g.slot);
  s.mtime_ns.store(s.synced_mtime_ns.load() + 1);  // the client's next mtime tick
  EXPECT_TRUE(h.Synced(g, ino, true)) << "fdatasync leaves times alone";
  EXPECT_FALSE(h.Synced(g, ino, false));
  ASSERT_TRUE(h.fs().FsyncLeases(c, ino).ok());
  EXPECT_TRUE(h.Synced(g, ino, false));
  EXPECT_GE(h.fs().GetAttr(ino)->mtime.tv_sec * 1000000000 + h.fs().GetAttr(ino)->mtime.tv_nsec,
            s.mtime_ns.load());
  // A write through the kernel (an overwrite: the lease stays) leaves its times pending.
  h.Write(ino, 5, "k");
  EXPECT_TRUE(h.Synced(g, ino, true));
  EXPECT_FALSE(h.Synced(g, ino, false));
  ASSERT_TRUE(h.fs().FsyncLeases(c, ino).ok());
  EXPECT_TRUE(h.Synced(g, ino, false));
  // A background round folds and commits what clients reported: synced without an fsync.
  h.ClientWrite(g, 0, std::string(2 * kB, 'c'));
  EXPECT_FALSE(h.Synced(g, ino, true));
  h.fs().FoldAllLeases();
  ASSERT_TRUE(h.fs().SyncFs().ok());
  EXPECT_TRUE(h.Synced(g, ino, false));
  // Another process's open (and its close): the count in the slot follows.
  ASSERT_TRUE(h.fs().Open(kRoot, ino, O_RDONLY).ok());
  EXPECT_EQ(h.Slot(g.slot).kernel_opens.load(), 2u);
  EXPECT_FALSE(h.Synced(g, ino, false));
  EXPECT_TRUE(h.Synced(g, ino, false, 2));
  ASSERT_TRUE(h.fs().Release(ino).ok());
  EXPECT_TRUE(h.Synced(g, ino, false));
  EXPECT_TRUE(h.fs().HasWriteLease(ino));
  // The slot retired (a truncate calls every lease back): nothing is synced for this inode.
  ASSERT_TRUE(h.fs().SetAttr(kRoot, ino, {.fields = kSetSize, .size = 10}).ok());
  EXPECT_FALSE(h.Synced(g, ino, true));
  EXPECT_FALSE(h.fs().HasWriteLease(ino));
  // A new slot for it starts from the committed record (the truncate's commit).
  LeaseGrant g2 = h.Grant(c, ino, 0, kB, true);
  EXPECT_EQ(h.Slot(g2.slot).size.load(), 10u);
  EXPECT_TRUE(h.Synced(g2, ino, false));
  ASSERT_TRUE(h.fs().ReleaseLeases(c, ino).ok());
  ASSERT_TRUE(h.fs().Release(ino).ok());
  EXPECT_TRUE(h.Fsck().clean());
}

// A slot handed out while the record's times are pending says nothing is synced until a commit.
TEST_P(LeasesTest, ASlotOfARecordWithPendingTimesIsNotSynced) {
  Harness h(GetParam());
  const uint64_t ino = h.Create("f");
  h.Write(ino, 0, std::string(kB, 'x'));  // allocates: committed
  h.Write(ino, 0, "y");                   // an overwrite: its times pending
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant g = h.Grant(c, ino, 0, 1, false);
  EXPECT_FALSE(h.Synced(g, ino, false));
  EXPECT_FALSE(h.Synced(g, ino, true));
  ASSERT_TRUE(h.fs().FsyncLeases(c, ino).ok());
  EXPECT_TRUE(h.Synced(g, ino, false));
  ASSERT_TRUE(h.fs().ReleaseLeases(c, ino).ok());
  ASSERT_TRUE(h.fs().Release(ino).ok());
}

// An mtime set by setattr (touch -d, cp -p, tar, rsync -t) wins over the times of every client
// write that published its time before it, also when it sets an older time, as on ext4; the
// sizes those writes published stay. A client write after it moves the mtime to its own time,
// also back from a time ahead of the clock. Through stat, the background fold, fsync and a crash.
TEST_P(LeasesTest, ASetattrOfTheMtimeWinsOverEarlierClientWrites) {
  Harness h(GetParam());
  const uint64_t ino = h.Create("f");
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant g = h.Grant(c, ino, 0, 4 * kB, true);
  h.ClientWrite(g, 0, std::string(kB, 'a'));
  const int64_t t1 = Context::NowNs();
  h.ClientTouch(g, t1);
  ASSERT_GE(h.Mtime(ino), t1);
  constexpr int64_t k2001 = 978307200ll * 1000000000;  // 2001-01-01 UTC
  SetAttrRequest req{.fields = kSetMtime};
  req.mtime = {.tv_sec = k2001 / 1000000000, .tv_nsec = 0};
  ASSERT_TRUE(h.fs().SetAttr(kRoot, ino, req).ok());
  EXPECT_EQ(h.Mtime(ino), k2001) << "stat right after the setattr";
  EXPECT_EQ(h.Size(ino), kB);
  h.fs().FoldAllLeases();  // the background round
  ASSERT_TRUE(h.fs().SyncFs().ok());
  EXPECT_EQ(h.Mtime(ino), k2001) << "after a fold of what the client published before";
  EXPECT_TRUE(h.Synced(g, ino, false)) << "committed: nothing the client published is pending";
  ASSERT_TRUE(h.fs().FsyncLeases(c, ino).ok());
  EXPECT_EQ(h.Mtime(ino), k2001) << "after fsync";
  // A write after the setattr, in the same tick of the client's clock: its time counts, and
  // an fsync asks the daemon for it.
  h.ClientWrite(g, kB, "b");
  h.ClientTouch(g, t1);
  EXPECT_EQ(h.Mtime(ino), t1);
  EXPECT_EQ(h.Size(ino), kB + 1);
  EXPECT_FALSE(h.Synced(g, ino, false));
  ASSERT_TRUE(h.fs().FsyncLeases(c, ino).ok());
  EXPECT_TRUE(h.Synced(g, ino, false));
  // A time ahead of the clock: the next write sets its own, as on ext4.
  const int64_t ahead = Context::NowNs() + 86400ll * 1000000000;
  req.mtime = {.tv_sec = ahead / 1000000000, .tv_nsec = 0};
  ASSERT_TRUE(h.fs().SetAttr(kRoot, ino, req).ok());
  EXPECT_EQ(h.Mtime(ino), ahead / 1000000000 * 1000000000);
  h.fs().FoldAllLeases();
  EXPECT_EQ(h.Mtime(ino), ahead / 1000000000 * 1000000000) << "no write since: the setattr's";
  const int64_t t2 = Context::NowNs();
  h.ClientWrite(g, 0, "c");
  h.ClientTouch(g, t2);
  EXPECT_EQ(h.Mtime(ino), t2);
  EXPECT_FALSE(h.Synced(g, ino, false));
  ASSERT_TRUE(h.fs().FsyncLeases(c, ino).ok());
  EXPECT_TRUE(h.Synced(g, ino, false));
  // And an older time again, then a crash: the setattr's time is what is durable.
  req.mtime = {.tv_sec = k2001 / 1000000000, .tv_nsec = 0};
  h.ClientWrite(g, 2 * kB, "d");
  h.ClientTouch(g, Context::NowNs());
  ASSERT_TRUE(h.fs().SetAttr(kRoot, ino, req).ok());
  h.Disable();
  h.CrashAndMount();
  EXPECT_EQ(h.Mtime(ino), k2001);
  EXPECT_EQ(h.Size(ino), 2 * kB + 1) << "the size a write published before the setattr";
  EXPECT_TRUE(h.Fsck().clean());
}

// A client publishing sizes and times while setattrs of the mtime come and go: no size is lost,
// and the last setattr's time stands once the client stopped (a fold of what it published before
// does not undo it).
TEST_P(LeasesTest, ClientWritesRacingSetattrsLoseNoSize) {
  Harness h(GetParam());
  const uint64_t ino = h.Create("f");
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant g = h.Grant(c, ino, 0, 64 * kB, true);
  std::atomic<bool> stop{false};
  direct::Slot& s = h.Slot(g.slot);
  std::thread client([&] {
    for (uint64_t end = 1; end <= 60000 && !stop.load(); end++) {
      uint64_t cur = s.size.load();
      while (cur < end && !s.size.compare_exchange_weak(cur, end)) {
      }
      int64_t m = s.mtime_ns.load();
      const int64_t now = Context::NowNs();
      while (m < now && !s.mtime_ns.compare_exchange_weak(m, now)) {
      }
    }
  });
  SetAttrRequest req{.fields = kSetMtime};
  for (int i = 0; i < 200; i++) {
    req.mtime = {.tv_sec = 978307200 + i, .tv_nsec = 0};
    ASSERT_TRUE(h.fs().SetAttr(kRoot, ino, req).ok());
    if (i % 10 == 0) h.fs().FoldAllLeases();
  }
  client.join();
  const uint64_t published = s.size.load();
  EXPECT_EQ(h.Size(ino), published);
  req.mtime = {.tv_sec = 978307200, .tv_nsec = 5};
  ASSERT_TRUE(h.fs().SetAttr(kRoot, ino, req).ok());
  h.fs().FoldAllLeases();
  ASSERT_TRUE(h.fs().FsyncLeases(c, ino).ok());
  EXPECT_EQ(h.Mtime(ino), 978307200ll * 1000000000 + 5);
  ASSERT_TRUE(h.fs().ReleaseLeases(c, ino).ok());
  ASSERT_TRUE(h.fs().Release(ino).ok());
  h.RemountLeases();
  EXPECT_EQ(h.Size(ino), published);
  EXPECT_EQ(h.Mtime(ino), 978307200ll * 1000000000 + 5);
}

// A write grant that fills holes calls back the other holders of the range, not its requester:
// the requester's mapped blocks do not change and the grant replaces its leases there (no round
// trip, no remap for the writer itself).
TEST_P(LeasesTest, AGrantThatFillsAHoleCallsBackOnlyTheOtherHolders) {
  Harness h(GetParam());
  const uint64_t ino = h.Create("f");
  h.Write(ino, 0, std::string(2 * kB, 'a'));
  h.Write(ino, 16 * kB, std::string(kB, 'z'));  // holes: blocks 2 to 15
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant g1 = h.Grant(c, ino, 0, kB, true);  // mapped blocks only
  ASSERT_EQ(h.holders.seen.size(), 0u);
  LeaseGrant g2 = h.Grant(c, ino, 4 * kB, kB, true);  // a hole in the window of c's lease
  EXPECT_EQ(h.holders.seen.size(), 0u) << "the requester's own lease was called back";
  ASSERT_NE(Harness::DevBlock(g2, 4), 0u);
  EXPECT_EQ(Harness::DevBlock(g2, 0), Harness::DevBlock(g1, 0)) << "its mapped blocks moved";
  h.ClientWrite(g2, 4 * kB, "hole");
  h.ClientWrite(g2, 0, "b");
  // Another client's lease of the range is called back; the requester's still not.
  const ClientId d = h.fs().NewLeaseClient();
  (void)h.Grant(d, ino, 0, kB, false);
  LeaseGrant g3 = h.Grant(c, ino, 8 * kB, kB, true);
  ASSERT_EQ(h.holders.seen.size(), 1u);
  EXPECT_EQ(h.holders.seen[0].client, d);
  h.ClientWrite(g3, 8 * kB, "more");
  EXPECT_EQ(h.Read(ino, 0, 2), "ba");
  EXPECT_EQ(h.Read(ino, 4 * kB, 4), "hole");
  EXPECT_EQ(h.Read(ino, 8 * kB, 4), "more");
  EXPECT_EQ(h.Size(ino), 17 * kB);
  ASSERT_TRUE(h.fs().ReleaseLeases(c, ino).ok());
  ASSERT_TRUE(h.fs().ReleaseLeases(d, ino).ok());
  ASSERT_TRUE(h.fs().Release(ino).ok());
  EXPECT_TRUE(h.Fsck().clean());
}

// A hole-filling grant whose reply ends short of what it filled (more runs than one reply holds)
// calls the requester back on the rest: a lease of its own there, which the grant does not
// replace, would still show the filled holes as holes.
TEST_P(LeasesTest, AFragmentedHoleFillCallsBackTheRequestersLeasesPastTheReply) {
  Harness h(GetParam());
  const uint64_t ino = h.Create("f");
  for (uint64_t b = 0; b < 8400; b += 2) h.Write(ino, b * kB, "x");  // every other block
  h.Write(ino, 8500 * kB, "end");
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant far = h.Grant(c, ino, 8300 * kB, 1, false);
  ASSERT_EQ(far.lo, 8300 * kB) << "(set-up: a lease starting at the request)";
  LeaseGrant g = h.Grant(c, ino, 8000 * kB, 400 * kB, true);  // fills 200 holes
  ASSERT_LT(g.hi, 8300 * kB) << "(set-up: the reply ends before the other lease)";
  ASSERT_EQ(h.holders.seen.size(), 1u);
  EXPECT_EQ(h.holders.seen[0].client, c);
  EXPECT_EQ(h.holders.seen[0].lo, g.hi);
  EXPECT_GT(h.holders.seen[0].rev, far.rev);
  EXPECT_GE(g.rev, h.holders.seen[0].rev) << "the grant itself was not called back";
  // What the grant maps is the file's: a write there is read back through the kernel.
  h.ClientWrite(g, 8001 * kB, "filled");
  EXPECT_EQ(h.Read(ino, 8001 * kB, 6), "filled");
  ASSERT_TRUE(h.fs().ReleaseLeases(c, ino).ok());
  ASSERT_TRUE(h.fs().Release(ino).ok());
}

// Appends: the first grant past the end zeroes the old last block's tail and calls the requester
// back (it may be writing there); a grant past the blocks allocated ahead then only fills holes:
// it calls nobody back and leaves alone what the requester has written past the size and not yet
// published.
TEST_P(LeasesTest, GrantsPastTheBlocksAheadDoNotCallTheAppenderBack) {
  Harness h(GetParam());
  const uint64_t ino = h.Create("log");
  h.Write(ino, 0, "x");
  const ClientId c = h.fs().NewLeaseClient();
  (void)h.Grant(c, ino, 0, 1, false);
  LeaseGrant g = h.Grant(c, ino, 1, 100, true);
  ASSERT_EQ(h.holders.seen.size(), 1u) << "the tail zeroed under the requester's read lease";
  ASSERT_FALSE(g.extents.empty());
  const uint64_t mapped = (g.extents.back().file_block + g.extents.back().count) * kB;
  ASSERT_GT(mapped, 100 * kB);
  h.ClientWrite(g, 1, std::string(mapped - 11, 'p'));  // size: mapped - 10
  h.ClientWrite(g, mapped - 10, "inflight", false);     // stored, size not raised yet
  LeaseGrant g2 = h.Grant(c, ino, mapped, 100, true);
  EXPECT_EQ(h.holders.seen.size(), 1u) << "the appender was called back past the blocks ahead";
  ASSERT_NE(Harness::DevBlock(g2, mapped / kB), 0u);
  EXPECT_EQ(Harness::DevBlock(g2, 0), Harness::DevBlock(g, 0));
  const uint64_t at = mapped - 10;
  EXPECT_EQ(h.DeviceBytes(Harness::DevBlock(g2, at / kB), kB).substr(at % kB, 8), "inflight")
      << "a write in flight past the size was zeroed";
  h.Slot(g2.slot).size.store(at + 8);  // now published
  h.ClientWrite(g2, mapped, "next");
  EXPECT_EQ(h.Size(ino), mapped + 4);
  EXPECT_EQ(h.Read(ino, mapped - 12, 16), "ppinflight" + std::string(2, '\0') + "next");
  ASSERT_TRUE(h.fs().FsyncLeases(c, ino).ok());
  ASSERT_TRUE(h.fs().ReleaseLeases(c, ino).ok());
  ASSERT_TRUE(h.fs().Release(ino).ok());
  EXPECT_TRUE(h.Fsck().clean());
}

// The first grant past the end zeroes the old last block's tail: a client with a write lease on
// that block through another window may be storing bytes there past the size (a write in
// flight). It is called back first (its revocation waits for the write, which publishes), and the
// zeroing starts past what it published: an acknowledged write keeps its bytes.
TEST_P(LeasesTest, TailZeroingCallsBackTheLastBlocksWriterInAnotherWindow) {
  constexpr uint64_t kWindow = 64ull << 20;
  Harness h(GetParam());
  const uint64_t ino = h.Create("f");
  h.Write(ino, 0, "x");
  const ClientId a = h.fs().NewLeaseClient(), b = h.fs().NewLeaseClient();
  LeaseGrant ga = h.Grant(a, ino, 0, 1, true);  // within the size: no tail zeroed
  ASSERT_NE(Harness::DevBlock(ga, 0), 0u);
  ASSERT_EQ(h.holders.seen.size(), 0u);
  h.ClientWrite(ga, 1, "inflight", false);  // stored past the size, not yet published
  bool published = false;
  auto publish = [&] {
    if (published) return;
    published = true;
    h.Slot(ga.slot).size.store(9);  // the write returns: its size is published
  };
  h.holders.on_revoke = [&](const Revocation& r) {
    if (r.client == a && r.lo < kB && r.hi > 0) publish();
  };
  (void)h.Grant(b, ino, 2 * kWindow, 10, true);  // past the end, in another window
  h.holders.on_revoke = nullptr;
  bool called = false;
  for (const Revocation& r : h.holders.seen) called = called || (r.client == a && r.lo < kB);
  EXPECT_TRUE(called) << "the last block's writer was not called back";
  publish();  // (when it was not called back, its write returns now)
  EXPECT_EQ(h.Size(ino), 9u);
  EXPECT_EQ(h.Read(ino, 0, 9), "xinflight") << "an acknowledged write past the size was zeroed";
  ASSERT_TRUE(h.fs().ReleaseLeases(a, ino).ok());
  ASSERT_TRUE(h.fs().ReleaseLeases(b, ino).ok());
  ASSERT_TRUE(h.fs().Release(ino).ok());
  EXPECT_TRUE(h.Fsck().clean());
}

// Where `got` and `want` first differ (npos: equal), with a few bytes of each from there.
std::string Difference(const std::string& got, const std::string& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) i++;
  if (i == got.size() && i == want.size()) return "";
  auto show = [&](const std::string& x) {
    std::string out;
    for (size_t j = i; j < x.size() && j < i + 16; j++)
      out += x[j] == '\0' ? std::string("\\0") : std::string(1, x[j]);
    return out;
  };
  return "at byte " + std::to_string(i) + ": \"" + show(got) + "\", wanted \"" + show(want) +
         "\" (sizes " + std::to_string(got.size()) + ", " + std::to_string(want.size()) + ")";
}

// A client that dies with bytes stored past the size (a write that never returned, never
// published) while another client still holds the blocks allocated ahead: its death is final,
// so whatever later moves the size over those bytes (a truncate, the other client's publish, a
// write through the kernel leaving a gap) shows zeros there, as on any POSIX filesystem. The
// other client's write in flight past the size is called back first (its revocation waits for
// it, and it publishes): an acknowledged write keeps its bytes.
class DeadWriter {
 public:
  static constexpr uint64_t kDeadTail = 100;      // in the last block, past the size
  static constexpr uint64_t kDeadAhead = 5 * kB;  // in a block allocated ahead
  static constexpr uint64_t kFar = 8 * kB;        // where the file is extended to, and past
  inline static const std::string kBase = "base", kInFlight = "b-in-flight";

  // A and B get write leases reaching past the end of "f" (the same blocks ahead); A stores
  // without publishing, B has a write in flight at the end that publishes when called back.
  explicit DeadWriter(Harness& h) : h_(h) {
    ino = h.Create("f");
    h.Write(ino, 0, kBase);
    a = h.fs().NewLeaseClient();
    b = h.fs().NewLeaseClient();
    LeaseGrant ga = h.Grant(a, ino, kBase.size(), kB, true);  // past the end: blocks ahead
    // Within the size: its window maps the blocks ahead too (and calls nobody back).
    gb = h.Grant(b, ino, 0, kBase.size(), true);
    EXPECT_EQ(h.holders.seen.size(), 0u);
    EXPECT_NE(Harness::DevBlock(ga, kDeadAhead / kB), 0u);
    EXPECT_EQ(Harness::DevBlock(gb, kDeadAhead / kB), Harness::DevBlock(ga, kDeadAhead / kB));
    h.ClientWrite(ga, kDeadTail, "dead-tail", false);
    h.ClientWrite(ga, kDeadAhead, "dead-ahead", false);
    h.ClientWrite(gb, kBase.size(), kInFlight, false);
    h.holders.on_revoke = [this](const Revocation& r) {
      if (r.client == b) PublishB();
    };
  }
  void PublishB() {
    if (published_) return;
    published_ = true;
    h_.Slot(gb.slot).size.store(kBase.size() + kInFlight.size());
  }
  // A's process is gone (its connection closed); B's write returns.
  void KillA() {
    h_.fs().DropLeaseClient(a);
    h_.holders.on_revoke = nullptr;
    PublishB();
  }

  uint64_t ino = 0;
  ClientId a = 0, b = 0;
  LeaseGrant gb;

 private:
  Harness& h_;
  bool published_ = false;
};

TEST_P(LeasesTest, ADeadWritersUnpublishedBytesReadAsZerosOnceTheSizeMovesOverThem) {
  enum class Extend { kTruncate, kPublish, kKernelWrite };
  for (const Extend how : {Extend::kTruncate, Extend::kPublish, Extend::kKernelWrite}) {
    SCOPED_TRACE(how == Extend::kTruncate  ? "truncate"
                 : how == Extend::kPublish ? "B publishes further out"
                                           : "a kernel write further out");
    Harness h(GetParam());
    DeadWriter s(h);
    s.KillA();
    EXPECT_EQ(h.Size(s.ino), 15u) << "B's write in flight was lost";
    std::string want = DeadWriter::kBase + DeadWriter::kInFlight;
    switch (how) {
      case Extend::kTruncate:
        ASSERT_TRUE(h.fs().SetAttr(kRoot, s.ino, {.fields = kSetSize, .size = DeadWriter::kFar}).ok());
        want.resize(DeadWriter::kFar, '\0');
        break;
      case Extend::kPublish: {
        // B writes on with what it holds (a lease called back is asked for again).
        const bool called = std::any_of(h.holders.seen.begin(), h.holders.seen.end(),
                                        [&](const Revocation& r) { return r.client == s.b; });
        const LeaseGrant g = called ? h.Grant(s.b, s.ino, DeadWriter::kFar, 4, true) : s.gb;
        h.ClientWrite(g, DeadWriter::kFar, "more");
        want.resize(DeadWriter::kFar, '\0');
        want += "more";
        break;
      }
      case Extend::kKernelWrite:
        h.Write(s.ino, DeadWriter::kFar, "more");
        want.resize(DeadWriter::kFar, '\0');
        want += "more";
        break;
    }
    ASSERT_EQ(h.Size(s.ino), want.size());
    const std::string got = h.Read(s.ino, 0, want.size());
    EXPECT_EQ(got.find("dead"), std::string::npos) << "a dead writer's unpublished bytes show";
    EXPECT_EQ(Difference(got, want), "");
    ASSERT_TRUE(h.fs().ReleaseLeases(s.b, s.ino).ok());
    ASSERT_TRUE(h.fs().Release(s.ino).ok());
    EXPECT_TRUE(h.Fsck().clean());
  }
}

// The same death cut by a power failure at every persist point from A's death on: after
// recovery a truncate up shows zeros past what survived of the size, never A's bytes.
TEST_P(LeasesTest, ADeadWritersUnpublishedBytesStayUnseenAfterACrashAtAnyPoint) {
  uint64_t first = 0, last = 0;
  {
    Harness h(GetParam());
    DeadWriter s(h);
    first = h.sim().sim->persist_points();
    s.KillA();
    last = h.sim().sim->persist_points();
  }
  for (uint64_t cut = first; cut <= last; cut++) {
    SCOPED_TRACE("cut after persist point " + std::to_string(cut));
    Harness h(GetParam());
    DeadWriter s(h);
    ASSERT_EQ(h.sim().sim->persist_points(), first);
    h.sim().sim->StopAfter(cut);
    s.KillA();
    h.Disable();
    h.CrashAndMount();
    const uint64_t size = h.Size(s.ino);
    const std::string written = DeadWriter::kBase + DeadWriter::kInFlight;
    ASSERT_GE(size, DeadWriter::kBase.size());
    ASSERT_LE(size, written.size());
    ASSERT_TRUE(h.fs().SetAttr(kRoot, s.ino, {.fields = kSetSize, .size = DeadWriter::kFar}).ok());
    std::string want = written.substr(0, size);
    want.resize(DeadWriter::kFar, '\0');
    const std::string got = h.Read(s.ino, 0, DeadWriter::kFar);
    EXPECT_EQ(got.find("dead"), std::string::npos) << "a dead writer's unpublished bytes show";
    EXPECT_EQ(Difference(got, want), "");
    EXPECT_TRUE(h.Fsck().clean());
  }
}

// The same for a client that dies before answering a revocation, which took its leases: what
// it stored under them past the size goes when it dies (its blocks unpinned only then).
TEST_P(LeasesTest, ADeadWritersUnpublishedBytesGoAlsoAfterARevocationItNeverAnswered) {
  Harness h(GetParam());
  h.holders.answer = false;  // (a stopped process)
  const uint64_t ino = h.Create("f");
  h.Write(ino, 0, std::string(2 * kB, 'b'));
  const ClientId a = h.fs().NewLeaseClient();
  LeaseGrant ga = h.Grant(a, ino, 2 * kB, kB, true);  // past the end: blocks ahead
  h.ClientWrite(ga, 2 * kB + 100, "dead-tail", false);
  h.ClientWrite(ga, 5 * kB, "dead-ahead", false);
  ASSERT_TRUE(h.fs().Fallocate(ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, kB).ok());
  ASSERT_EQ(h.fs().pending_revocations(), 1u);
  h.fs().DropLeaseClient(a);
  EXPECT_EQ(h.fs().pending_revocations(), 0u);
  ASSERT_TRUE(h.fs().SetAttr(kRoot, ino, {.fields = kSetSize, .size = 8 * kB}).ok());
  std::string want = std::string(kB, '\0') + std::string(kB, 'b');
  want.resize(8 * kB, '\0');
  const std::string got = h.Read(ino, 0, 8 * kB);
  EXPECT_EQ(got.find("dead"), std::string::npos) << "a dead writer's unpublished bytes show";
  EXPECT_EQ(Difference(got, want), "");
  ASSERT_TRUE(h.fs().Release(ino).ok());
  EXPECT_TRUE(h.Fsck().clean());
}

// Copy mode keeps written data in the daemon's cache until fsync: never covered.
TEST(LeasesCopyTest, FsyncLeasesInCopyModeNeverCovers) {
  Harness h(Mode::kCopy);
  uint64_t ino = h.Create("f");
  uint64_t opens = 0;
  ASSERT_TRUE(h.fs().FsyncLeases(h.fs().NewLeaseClient(), ino, &opens).ok());
  EXPECT_EQ(opens, UINT64_MAX);
  ASSERT_TRUE(h.fs().Release(ino).ok());
}

// Blocks allocated ahead are marked on the media while a write lease may store past the end:
// a crash leaves the mark (fsck names it), mount frees those blocks; a release clears it.
TEST_P(LeasesTest, BlocksAheadAreMarkedUntilTheLastLeaseGoes) {
  for (bool release : {false, true}) {
    Harness h(GetParam());
    uint64_t ino = h.Create("f");
    const ClientId c = h.fs().NewLeaseClient();
    LeaseGrant g = h.Grant(c, ino, 0, kB, true);
    h.ClientWrite(g, 0, "durable");
    ASSERT_TRUE(h.fs().FsyncLeases(c, ino).ok());
    h.ClientWrite(g, 7, std::string(3 * kB, 'x'));  // past the committed size, unacknowledged
    if (release) {
      ASSERT_TRUE(h.fs().ReleaseLeases(c, ino).ok());
    }
    fsck::CheckReport r = h.CrashAndCheck();
    bool named = false;
    for (const fsck::Problem& p : r.problems)
      named = named || p.message.find("allocated ahead for direct access") != std::string::npos;
    EXPECT_EQ(named, !release) << "release " << release;
    EXPECT_EQ(r.clean(), release);
    h.Mount();
    h.Enable();
    // Released: the size the release committed; crashed: the fsynced one, nothing past it.
    EXPECT_EQ(h.Size(ino), release ? 7 + 3 * kB : 7u);
    EXPECT_EQ(h.fs().GetAttr(ino)->blocks, (release ? 4u : 1u) * 8 + 8);  // data + extent block
    ASSERT_TRUE(h.fs().SetAttr(kRoot, ino, {.fields = kSetSize, .size = 8 * kB}).ok());
    const std::string all = h.Read(ino, 0, 8 * kB);
    EXPECT_EQ(all.substr(0, 7), "durable");
    EXPECT_EQ(all.find_first_not_of('\0', release ? 7 + 3 * kB : 7), std::string::npos);
    EXPECT_TRUE(h.Fsck().clean());
  }
}

TEST_P(LeasesTest, ImmutableAndAppendOnlyFilesGetNoWriteLease) {
  Harness h(GetParam());
  uint64_t ino = h.Create("f");
  ASSERT_TRUE(h.fs().SetFileFlags(kRoot, ino, layout::kInodeAppend).ok());
  const ClientId c = h.fs().NewLeaseClient();
  auto g = h.fs().GrantLease(c, {.ino = ino, .off = 0, .len = 1, .write = true});
  EXPECT_EQ(g.status().code(), Code::kPermission);
  EXPECT_TRUE(h.fs().GrantLease(c, {.ino = ino, .off = 0, .len = 1, .write = false}).ok());
}

INSTANTIATE_TEST_SUITE_P(Modes, LeasesTest, ::testing::Values(Mode::kDirect, Mode::kPages),
                         [](const auto& info) { return std::string(mapping::ModeName(info.param)); });

// Pages mode: a write lease never points at a page shared with a clone.
TEST(LeasesPagesTest, WriteGrantsCopySharedPagesFirst) {
  Harness h(Mode::kPages);
  uint64_t a = h.Create("a"), b = h.Create("b");
  h.Write(a, 0, std::string(4 * kB, 'a'));
  ASSERT_TRUE(h.fs().CopyFileRange(kRoot, a, 0, b, 0, 4 * kB).ok());
  const ClientId c = h.fs().NewLeaseClient();
  LeaseGrant read = h.Grant(c, b, 0, 1, false);
  ASSERT_EQ(read.extents.size(), 1u);
  EXPECT_TRUE(read.extents[0].shared);
  LeaseGrant w = h.Grant(c, b, 0, kB, true);
  EXPECT_EQ(h.holders.seen.size(), 1u) << "blocks that move call the requester back";
  EXPECT_FALSE(w.extents.front().shared);
  EXPECT_NE(Harness::DevBlock(w, 0), Harness::DevBlock(read, 0));
  h.ClientWrite(w, 0, "B");
  EXPECT_EQ(h.Read(a, 0, 2), "aa");  // the clone is untouched
  EXPECT_EQ(h.Read(b, 0, 2), "Ba");
  // And a file with a write lease is copied, not shared, into another.
  uint64_t d = h.Create("d");
  ASSERT_TRUE(h.fs().CopyFileRange(kRoot, b, kB, d, 0, kB).ok());
  LeaseGrant rd = h.Grant(c, d, 0, 1, false);
  ASSERT_EQ(rd.extents.size(), 1u);
  EXPECT_FALSE(rd.extents[0].shared);
}

}  // namespace
}  // namespace pmemfs::core
