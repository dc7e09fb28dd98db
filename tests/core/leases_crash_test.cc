// Power failures under a direct-access append workload (issue 11), over the crash simulator
// (label crash), in direct and pages mode.
//
// A client appends to a file through write leases as client/file.cc does (File::Append): a
// write grant when the end is not writable in its lease (the daemon allocates zeroed blocks, and
// ahead of the end), its place taken in the shared slot, the bytes copied into the device with
// non-temporal stores and drained, then the size raised (with a commit of the slot by another
// process after each of those steps), fsync now and then (FsyncLeases: size and times committed),
// a close and a new lease half way (ReleaseLeases: blocks ahead trimmed), and appends through
// the kernel path in between. The workload is recorded once, then replayed on a copy of the
// formatted device and cut at EVERY persist point (the drain after it never happens; at a
// sample of them lines flushed but not drained are kept at random), and at random instants
// between persist points (a drain part way, stores not yet flushed written back or not).
//
// After each cut: recovery mounts; the size is at least what the last acknowledged fsync (or
// close) made durable and at most what was appended; every byte below the size is what was
// appended there; the space allocated ahead past the size is not in the file: extending the
// file (and a new write lease past the end) shows zeros there, never what a client stored past
// the committed size; a clean unmount and pmemfs-fsck's checker find nothing wrong.
//
//   PMEMFS_CRASH_INSTANTS=K   cuts between persist points per mode (default 40)
//   PMEMFS_CRASH_SAMPLE=P     share of persist points also cut with undrained lines kept (0.25)
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "crash_harness.h"

namespace pmemfs::core {
namespace {

using mapping::Mode;
using testing::kRoot;
constexpr uint64_t kB = 4096;

// One step of the workload.
struct Step {
  enum Kind { kAppend, kKernelAppend, kFsync, kClose } kind;
  size_t len = 0;  // appends
  uint8_t seed = 0;
  std::string ToString() const {
    switch (kind) {
      case kAppend: return "direct append of " + std::to_string(len);
      case kKernelAppend: return "kernel append of " + std::to_string(len);
      case kFsync: return "fsync";
      case kClose: return "close";
    }
    return "?";
  }
};

std::string Bytes(uint8_t seed, uint64_t off, size_t len) {
  std::string s(len, '\0');
  for (size_t i = 0; i < len; i++)
    s[i] = static_cast<char>(1 + (seed * 131 + (off + i) * 7 + (off + i) / 4093) % 251);  // never 0
  return s;
}

std::vector<Step> Workload() {
  std::mt19937_64 rng(11);
  std::vector<Step> w;
  for (int i = 0; i < 32; i++) {
    const uint64_t r = rng() % 10;
    Step s{Step::kAppend};
    s.seed = static_cast<uint8_t>(i + 1);
    s.len = r < 5 ? 1 + rng() % 3000 : r < 8 ? kB * (1 + rng() % 4) : 20000 + rng() % 60000;
    if (i % 11 == 7) s.kind = Step::kKernelAppend;
    w.push_back(s);
    if (i % 4 == 3) w.push_back({Step::kFsync});
    if (i == 15) w.push_back({Step::kClose});
  }
  return w;
}

class Harness : public testing::LeaseHarness {
 public:
  using LeaseHarness::LeaseHarness;

  // Runs `steps` (on file `ino`); returns how many returned before the power failed, and sets
  // *acked to the size the last of them that made it durable (fsync, close) left.
  size_t Run(uint64_t ino, const std::vector<Step>& steps, uint64_t* acked) {
    const ClientId c = fs_->NewLeaseClient();
    uint64_t size = 0;
    *acked = 0;
    for (size_t i = 0; i < steps.size(); i++) {
      Status st = Apply(c, ino, steps[i], &size);
      if (d_.sim->stopped()) return i;
      EXPECT_TRUE(st.ok()) << "step " << i << " " << steps[i].ToString() << ": " << st.message();
      if (!st.ok()) return i;
      if (steps[i].kind == Step::kFsync || steps[i].kind == Step::kClose) *acked = size;
    }
    return steps.size();
  }

 private:
  // What File::Append does, with a lease that covers the end (a new grant when it does not).
  Status Apply(ClientId c, uint64_t ino, const Step& s, uint64_t* size) {
    switch (s.kind) {
      case Step::kFsync: return fs_->FsyncLeases(c, ino);
      case Step::kClose:
        have_ = false;
        return fs_->ReleaseLeases(c, ino);
      case Step::kKernelAppend: {
        const std::string data = Bytes(s.seed, *size, s.len);
        auto w = fs_->Write(kRoot, ino, *size, std::as_bytes(std::span(data)));
        if (!w.ok()) return w.status();
        *size += s.len;
        have_ = false;  // (the write past the end called the lease back)
        return Status::Ok();
      }
      case Step::kAppend: break;
    }
    const uint64_t off = *size;
    PMEMFS_RETURN_IF_ERROR(WriteLease(c, ino, off, s.len, "append"));
    // File::Append's order: its place taken (append_end), the bytes copied and drained, then
    // the size raised. Another process may make the daemon commit the slot's size at any
    // moment (a kernel-path fsync, the flusher): one does after each of those steps, so that a
    // size raised before its bytes are durable is committed over bytes a cut then loses.
    direct::Slot& slot = held_slot();
    const uint64_t cur = std::max(slot.size.load(), slot.append_end.load());
    if (cur != off) return Status::IoError("the slot says " + std::to_string(cur));
    slot.append_end.store(off + s.len);
    PMEMFS_RETURN_IF_ERROR(fs_->Fsync(ino, false));
    mapping::Device& dev = CopyThroughLease(off, Bytes(s.seed, off, s.len));
    PMEMFS_RETURN_IF_ERROR(fs_->Fsync(ino, false));
    dev.Drain();
    slot.size.store(off + s.len);
    *size = off + s.len;
    return Status::Ok();
  }
};

class LeasesCrashTest : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(testing::PrepareWithFile(GetParam(), "log", &prepared_, &ino_));
    steps_ = Workload();
    // What was appended, in order.
    uint64_t off = 0;
    for (const Step& s : steps_)
      if (s.kind == Step::kAppend || s.kind == Step::kKernelAppend) {
        model_ += Bytes(s.seed, off, s.len);
        off += s.len;
      }
  }

  // One cut; false (with the failure reported) when something is wrong.
  bool CutAt(bool at_flush, uint64_t at, double keep) {
    const std::string where = testing::CutWhere(at_flush, at, keep);
    Harness h(GetParam(), prepared_);
    if (::testing::Test::HasFailure()) return false;
    testing::StopAt(*h.sim().sim, at_flush, at, keep);
    uint64_t acked = 0;
    const size_t done = h.Run(ino_, steps_, &acked);
    if (::testing::Test::HasFailure()) return false;
    // The most the file may have: up to the end of the step in flight.
    uint64_t most = 0;
    for (size_t i = 0; i < std::min(done + 1, steps_.size()); i++)
      if (steps_[i].kind == Step::kAppend || steps_[i].kind == Step::kKernelAppend)
        most += steps_[i].len;
    h.Crash();
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << where << ": recovery failed";
      return false;
    }
    const std::string in_flight = done < steps_.size() ? steps_[done].ToString() : "none";
    auto attr = h.fs().GetAttr(ino_);
    EXPECT_TRUE(attr.ok()) << where;
    if (!attr.ok()) return false;
    const uint64_t size = attr->size;
    EXPECT_GE(size, acked) << where << ": " << done << " steps returned, in flight: " << in_flight;
    EXPECT_LE(size, most) << where << ": " << done << " steps returned, in flight: " << in_flight;
    const std::string got = h.Read(ino_, 0, size + 1);
    EXPECT_TRUE(got == model_.substr(0, size))
        << where << ": the bytes below the size (" << size << ") are not what was appended";
    // Past the size: nothing of the file, also what a client stored there before the cut.
    const uint64_t grow = 3ull << 20;
    EXPECT_TRUE(h.fs().SetAttr(kRoot, ino_, {.fields = kSetSize, .size = size + grow}).ok());
    const std::string past = h.Read(ino_, size, grow);
    const size_t bad = past.find_first_not_of('\0');
    EXPECT_EQ(bad, std::string::npos)
        << where << ": byte " << size + bad << " past the recovered size " << size
        << " is not zero after an extension (" << done << " steps returned, in flight: "
        << in_flight << ")";
    EXPECT_TRUE(h.fs().SetAttr(kRoot, ino_, {.fields = kSetSize, .size = size}).ok());
    if (::testing::Test::HasFailure()) return false;
    return testing::UnmountAndCheck(h, where);
  }

  uint64_t ino_ = 0;
  mapping::testing::SimDevice prepared_;
  std::vector<Step> steps_;
  std::string model_;
};

TEST_P(LeasesCrashTest, DirectAppendsCutAtEveryPersistPoint) {
  // The uncut run: where the workload's persist points and flushed lines are.
  testing::PersistSpan span;
  {
    Harness h(GetParam(), prepared_);
    ASSERT_FALSE(::testing::Test::HasFailure());
    span.Begin(*h.sim().sim);
    uint64_t acked = 0;
    ASSERT_EQ(h.Run(ino_, steps_, &acked), steps_.size());
    span.End(*h.sim().sim);
    ASSERT_EQ(h.Read(ino_, 0, model_.size() + 1), model_);
    ASSERT_TRUE(h.Unmount().ok());
  }
  std::mt19937_64 rng(static_cast<int>(GetParam()) * 7 + 1);
  auto cut = [&](bool at_flush, uint64_t at, double keep) { return CutAt(at_flush, at, keep); };
  testing::CutCounts n;
  if (!testing::CutEverywhere(span, rng, cut, &n)) return;
  std::cout << "[ direct appends, " << mapping::ModeName(GetParam()) << ": " << steps_.size()
            << " steps, " << model_.size() << " bytes; cut at " << n.points
            << " persist points (+" << n.kept << " keeping undrained lines) and " << n.between
            << " instants between them ]" << std::endl;
}

INSTANTIATE_TEST_SUITE_P(Modes, LeasesCrashTest, ::testing::Values(Mode::kDirect, Mode::kPages),
                         [](const auto& info) { return std::string(mapping::ModeName(info.param)); });

}  // namespace
}  // namespace pmemfs::core
