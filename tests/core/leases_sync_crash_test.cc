// Power failures after fsyncs that made no round trip (issue 11), over the crash simulator
// (label crash), in direct and pages mode.
//
// A client writes a file through write leases as client/file.cc does: extensions (bytes copied
// and drained, then the slot's size raised), overwrites in place (the slot's mtime raised, or
// not: the same clock tick), with writes through the kernel in between (their times left
// pending) and reads through the kernel (which take the slot's size and mtime into the inode,
// uncommitted), and fsync/fdatasync as File::Sync does them: nothing at all when the slot says so
// (direct::Synced), else FsyncLeases. The workload is recorded once, then replayed on a copy of
// the formatted device and cut at EVERY persist point (at a sample of them keeping flushed lines
// that were not drained) and at random instants between persist points.
//
// After each cut: recovery mounts; the size is at least what the last acknowledged fsync or
// fdatasync left (fast or not) and the mtime at least what the last acknowledged fsync saw in
// the slot; every byte below the size is what the acknowledged steps wrote there, or what the
// step in flight was writing; a clean unmount and pmemfs-fsck's checker find nothing wrong.
// The uncut run must take both ways (fast and round trip) for fsync and for fdatasync, or the
// test proves nothing.
//
//   PMEMFS_CRASH_INSTANTS=K   cuts between persist points per mode (default 40)
//   PMEMFS_CRASH_SAMPLE=P     share of persist points also cut with undrained lines kept (0.25)
#include <fcntl.h>
#include <time.h>

#include <gtest/gtest.h>

#include <algorithm>
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

struct Step {
  enum Kind { kExtend, kOverwrite, kKernelOverwrite, kKernelRead, kFsync, kFdatasync } kind;
  uint64_t off = 0;  // overwrites
  size_t len = 0;
  bool tick = true;  // direct writes: the client's mtime moves (a new tick of its clock)
  uint8_t seed = 0;
  std::string ToString() const {
    switch (kind) {
      case kExtend: return "direct extension by " + std::to_string(len);
      case kOverwrite: return "direct overwrite at " + std::to_string(off);
      case kKernelOverwrite: return "kernel overwrite at " + std::to_string(off);
      case kKernelRead: return "kernel read";
      case kFsync: return "fsync";
      case kFdatasync: return "fdatasync";
    }
    return "?";
  }
};

std::string Bytes(uint8_t seed, size_t len) {
  std::string s(len, '\0');
  for (size_t i = 0; i < len; i++) s[i] = static_cast<char>(1 + (seed * 37 + i * 11) % 251);
  return s;
}

// The steps, and the file's bytes after each (contents[i]: after steps [0, i)).
void Workload(std::vector<Step>* steps, std::vector<std::string>* contents) {
  std::mt19937_64 rng(7);
  std::string file;
  contents->push_back(file);
  auto add = [&](Step s) {
    s.seed = static_cast<uint8_t>(steps->size() + 1);
    if (s.kind == Step::kExtend) {
      file += Bytes(s.seed, s.len);
    } else if (s.kind == Step::kOverwrite || s.kind == Step::kKernelOverwrite) {
      file.replace(s.off, s.len, Bytes(s.seed, s.len));
    }
    steps->push_back(s);
    contents->push_back(file);
  };
  for (int i = 0; i < 30; i++) {
    const uint64_t r = rng() % 10;
    if (file.size() < 2 * kB || r < 2) {
      add({Step::kExtend, 0, 1 + rng() % (3 * kB)});
    } else {
      const size_t len = 1 + rng() % std::min<uint64_t>(file.size() / 2, 2 * kB);
      const uint64_t off = rng() % (file.size() - len + 1);
      if (r < 3) add({Step::kKernelOverwrite, off, len});
      else add({Step::kOverwrite, off, len, /*tick=*/r < 6});
    }
    // A read through the kernel takes what the slot says into the inode (not committed).
    if (rng() % 3 == 0) add({Step::kKernelRead});
    add({rng() % 3 == 0 ? Step::kFdatasync : Step::kFsync});
  }
}

int64_t RealNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

class Harness : public testing::LeaseHarness {
 public:
  using LeaseHarness::LeaseHarness;

  struct Acked {
    uint64_t size = 0;
    int64_t mtime = INT64_MIN;
  };
  struct Counts {
    int fast[2] = {0, 0};  // [datasync]
    int asked[2] = {0, 0};
  };

  // Runs `steps` on file `ino` (open once, by us); returns how many returned before the power
  // failed; *acked: what the last acknowledged fsync/fdatasync promised.
  size_t Run(uint64_t ino, const std::vector<Step>& steps, Acked* acked, Counts* counts) {
    EXPECT_TRUE(fs_->Open(kRoot, ino, O_RDWR).ok());
    const ClientId c = fs_->NewLeaseClient();
    for (size_t i = 0; i < steps.size(); i++) {
      Acked now = *acked;  // (what a step in flight promised does not count)
      Status st = Apply(c, ino, steps[i], &now, counts);
      if (d_.sim->stopped()) return i;
      *acked = now;
      EXPECT_TRUE(st.ok()) << "step " << i << " " << steps[i].ToString() << ": " << st.message();
      if (!st.ok()) return i;
    }
    return steps.size();
  }

 private:
  Status Apply(ClientId c, uint64_t ino, const Step& s, Acked* acked, Counts* counts) {
    switch (s.kind) {
      case Step::kFsync:
      case Step::kFdatasync: {
        const bool datasync = s.kind == Step::kFdatasync;
        // File::Sync: the slot of a lease we hold, one open (ours).
        if (have_ && direct::Synced(held_slot(), ino, 1, datasync)) {
          counts->fast[datasync]++;
        } else {
          counts->asked[datasync]++;
          PMEMFS_RETURN_IF_ERROR(fs_->FsyncLeases(c, ino));
        }
        acked->size = size_;
        if (!datasync && have_) acked->mtime = held_slot().mtime_ns.load();
        return Status::Ok();
      }
      case Step::kKernelOverwrite: {
        const std::string data = Bytes(s.seed, s.len);
        auto w = fs_->Write(kRoot, ino, s.off, std::as_bytes(std::span(data)));
        return w.ok() ? Status::Ok() : w.status();
      }
      case Step::kKernelRead:
        (void)Read(ino, 0, size_ + 1);
        return Status::Ok();
      case Step::kExtend:
      case Step::kOverwrite: break;
    }
    const uint64_t off = s.kind == Step::kExtend ? size_ : s.off;
    PMEMFS_RETURN_IF_ERROR(WriteLease(c, ino, off, s.len, "write"));
    CopyThroughLease(off, Bytes(s.seed, s.len)).Drain();
    // File::Published: the size raised after the bytes are durable, the mtime once a tick.
    direct::Slot& slot = held_slot();
    size_ = std::max(size_, off + s.len);
    uint64_t cur = slot.size.load();
    while (cur < size_ && !slot.size.compare_exchange_weak(cur, size_)) {
    }
    if (s.tick) {
      clock_ = std::max(clock_ + 1, RealNs());
      int64_t m = slot.mtime_ns.load();
      while (m < clock_ && !slot.mtime_ns.compare_exchange_weak(m, clock_)) {
      }
    }
    return Status::Ok();
  }
  uint64_t size_ = 0;
  int64_t clock_ = 0;
};

class LeasesSyncCrashTest : public ::testing::TestWithParam<Mode> {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(testing::PrepareWithFile(GetParam(), "f", &prepared_, &ino_));
    Workload(&steps_, &contents_);
  }

  bool CutAt(bool at_flush, uint64_t at, double keep) {
    const std::string where = testing::CutWhere(at_flush, at, keep);
    Harness h(GetParam(), prepared_);
    if (::testing::Test::HasFailure()) return false;
    testing::StopAt(*h.sim().sim, at_flush, at, keep);
    Harness::Acked acked;
    Harness::Counts counts;
    const size_t done = h.Run(ino_, steps_, &acked, &counts);
    if (::testing::Test::HasFailure()) return false;
    h.Crash();
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << where << ": recovery failed";
      return false;
    }
    const std::string in_flight = done < steps_.size() ? steps_[done].ToString() : "none";
    const std::string what = where + ": " + std::to_string(done) + " steps returned, in flight: " +
                             in_flight;
    auto attr = h.fs().GetAttr(ino_);
    EXPECT_TRUE(attr.ok()) << where;
    if (!attr.ok()) return false;
    const uint64_t size = attr->size;
    const int64_t mtime = attr->mtime.tv_sec * 1000000000 + attr->mtime.tv_nsec;
    const std::string& before = contents_[done];
    const std::string& after = contents_[std::min(done + 1, steps_.size())];
    EXPECT_GE(size, acked.size) << what;
    EXPECT_LE(size, std::max(before.size(), after.size())) << what;
    EXPECT_GE(mtime, acked.mtime) << what << ": the mtime an fsync acknowledged is lost";
    const std::string got = h.Read(ino_, 0, size + 1);
    EXPECT_EQ(got.size(), size) << what;
    for (size_t i = 0; i < got.size(); i++) {
      const bool ok = (i < before.size() && got[i] == before[i]) ||
                      (i < after.size() && got[i] == after[i]);
      if (!ok) {
        ADD_FAILURE() << what << ": byte " << i << " of " << size << " is neither the acknowledged"
                      << " steps' nor the step in flight's";
        break;
      }
    }
    if (::testing::Test::HasFailure()) return false;
    return testing::UnmountAndCheck(h, where);
  }

  uint64_t ino_ = 0;
  mapping::testing::SimDevice prepared_;
  std::vector<Step> steps_;
  std::vector<std::string> contents_;
};

TEST_P(LeasesSyncCrashTest, FsyncsWithoutARoundTripKeepWhatTheyPromised) {
  testing::PersistSpan span;
  {
    Harness h(GetParam(), prepared_);
    ASSERT_FALSE(::testing::Test::HasFailure());
    span.Begin(*h.sim().sim);
    Harness::Acked acked;
    Harness::Counts counts;
    ASSERT_EQ(h.Run(ino_, steps_, &acked, &counts), steps_.size());
    span.End(*h.sim().sim);
    EXPECT_GT(counts.fast[0], 0) << "no fsync took the fast path";
    EXPECT_GT(counts.fast[1], 0) << "no fdatasync took the fast path";
    EXPECT_GT(counts.asked[0], 0) << "every fsync took the fast path";
    EXPECT_GT(counts.asked[1], 0) << "every fdatasync took the fast path";
    std::cout << "[ fsync: " << counts.fast[0] << " fast, " << counts.asked[0]
              << " round trips; fdatasync: " << counts.fast[1] << " fast, " << counts.asked[1]
              << " round trips ]" << std::endl;
    ASSERT_EQ(h.Read(ino_, 0, contents_.back().size() + 1), contents_.back());
    ASSERT_TRUE(h.Unmount().ok());
  }
  std::mt19937_64 rng(static_cast<int>(GetParam()) * 13 + 5);
  auto cut = [&](bool at_flush, uint64_t at, double keep) { return CutAt(at_flush, at, keep); };
  testing::CutCounts n;
  if (!testing::CutEverywhere(span, rng, cut, &n)) return;
  std::cout << "[ " << mapping::ModeName(GetParam()) << ": " << steps_.size() << " steps; cut at "
            << n.points << " persist points (+" << n.kept << " keeping undrained lines) and "
            << n.between << " instants between them ]" << std::endl;
}

INSTANTIATE_TEST_SUITE_P(Modes, LeasesSyncCrashTest,
                         ::testing::Values(Mode::kDirect, Mode::kPages),
                         [](const auto& info) { return std::string(mapping::ModeName(info.param)); });

}  // namespace
}  // namespace pmemfs::core
