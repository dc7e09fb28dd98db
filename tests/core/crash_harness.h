// What the crash tests of fs/core share, over fs_harness.h (a mounted filesystem on the crash
// simulator) and tree_snapshot.h (the tree as a value): their environment knobs, a device
// filled to a chosen number of free blocks, the prepared device every run starts from a copy
// of, pmemfs-fsck's checker on the unmounted device (FsckReport: as the unit tests end with
// it), and the comparison of a recovered tree with the trees a reference run recorded.
//
//   reference run:  rec.trees.push_back(SnapshotTree(fs)) after each step (rec.unsynced,
//                   rec.target with it)
//   each cut:       run the steps again until the power fails, h.CrashAndMount(keep), then
//                   MatchesRecorded(SnapshotTree(h.fs()), rec, done, where, log) and
//                   UnmountAndCheck(h, where, log): a clean unmount, pmemfs-fsck finds nothing
//
// The direct-access crash tests (a client writing through leases) add LeaseHarness, the
// prepared device PrepareWithFile makes, and CutEverywhere: the uncut run records its
// PersistSpan, then every persist point and random instants between them are cut.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <optional>
#include <random>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fs_harness.h"
#include "tools/fsck/check.h"
#include "tree_snapshot.h"

namespace pmemfs::core::testing {

// A knob from the environment: `name` as a whole (real) number, `def` when unset or empty.
inline uint64_t EnvOr(const char* name, uint64_t def) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : def;
}
inline double EnvOrD(const char* name, double def) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtod(v, nullptr) : def;
}

// "a/b/c" -> {"a/b", "c"}; "c" -> {"", "c"} (the root).
inline std::pair<std::string, std::string> SplitPath(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

// Fills the device with one file "filler" in the root until it is full, then shrinks it to
// leave `left` blocks free. The file is closed and forgotten; the change synced.
inline void FillDevice(Filesystem& fs, uint64_t left) {
  auto a = fs.Create(kRoot, kRootIno, "filler", 0644, O_RDWR);
  ASSERT_TRUE(a.ok()) << a.status().message();
  const std::string chunk(256 << 10, 'F');
  uint64_t size = 0;
  for (;;) {
    auto w = fs.Write(kRoot, a->ino, size, std::as_bytes(std::span(chunk)));
    if (!w.ok()) {
      ASSERT_EQ(w.status().code(), Code::kNoSpace) << w.status().message();
      break;
    }
    size += *w;
    if (*w < chunk.size()) break;
  }
  ASSERT_GT(size, left * layout::kBlockSize);
  SetAttrRequest r;
  r.fields = kSetSize;
  r.size = size - left * layout::kBlockSize;
  ASSERT_TRUE(fs.SetAttr(kRoot, a->ino, r).ok());
  ASSERT_TRUE(fs.Release(a->ino).ok());
  fs.Forget(a->ino, 1);
  ASSERT_TRUE(fs.SyncFs().ok());
}

// What persisted on `h`'s device after a clean unmount (not the RAM partition's contents), as a
// new device: the prepared state every run of a crash test starts from a copy of.
inline mapping::testing::SimDevice UnmountedCopy(FsHarnessBase& h) {
  Status st = h.Unmount();
  EXPECT_TRUE(st.ok()) << "unmount: " << st.message();
  mapping::testing::SimDevice& d = h.sim();
  d.dev.reset();
  d.sim->Crash();
  return mapping::testing::CopySimDevice(d);
}

// pmemfs-fsck's checker on `dev` (unmounted, assembled: FsHarnessBase::Unmount): true when it
// finds nothing wrong, else false with a test failure that says `where`, the problems, then
// `trailer` (the workload, say).
inline bool FsckClean(mapping::Device& dev, const std::string& where,
                      const std::string& trailer = "") {
  auto report = fsck::Check(dev, {});
  EXPECT_TRUE(report.ok()) << where << ": fsck: " << report.status().message();
  if (!report.ok()) return false;
  std::string problems;
  for (const fsck::Problem& p : report->problems)
    problems += "  " + p.area + ": " + p.message + "\n";
  EXPECT_TRUE(report->clean()) << where << ": fsck found\n" << problems << trailer;
  return report->clean();
}

// A clean unmount of `h`'s filesystem, then FsckClean on its device.
inline bool UnmountAndCheck(FsHarnessBase& h, const std::string& where,
                            const std::string& trailer = "") {
  Status st = h.Unmount();
  EXPECT_TRUE(st.ok()) << where << ": unmount: " << st.message();
  return FsckClean(*h.sim().dev, where, trailer);
}

// pmemfs-fsck's checker on `dev` as the unit tests end with it: each problem is a test failure
// of its own; returns the report (empty when the checker could not read the device).
inline fsck::CheckReport FsckReport(mapping::Device& dev) {
  auto r = fsck::Check(dev, {});
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) return {};
  for (const auto& p : r->problems) ADD_FAILURE() << p.area << ": " << p.message;
  return *r;
}

// What a reference run recorded of a workload of n steps.
struct RecordedTrees {
  std::vector<Tree> trees;                      // after each prefix: n + 1 of them
  std::vector<std::set<uint64_t>> unsynced;     // with each tree, copy mode: inodes whose data
                                                // no fsync/syncfs acknowledged yet
  std::vector<std::optional<uint64_t>> target;  // per step: the inode a data step changes
};

// Whether `got`, recovered after `done` steps returned (the next one, if any, in flight), is
// the tree after those steps or after the one in flight. Not compared: the data of inodes not
// synced before or after the step in flight, and of the file that step changes (its bytes
// may be torn). A mismatch is a test failure saying `where`, both trees, then `trailer`.
inline bool MatchesRecorded(const Tree& got, const RecordedTrees& rec, size_t done,
                            const std::string& where, const std::string& trailer) {
  const size_t steps = rec.target.size();
  std::set<uint64_t> skip = rec.unsynced[done];
  if (done < steps) {
    skip.insert(rec.unsynced[done + 1].begin(), rec.unsynced[done + 1].end());
    if (rec.target[done]) skip.insert(*rec.target[done]);
  }
  const std::string now = RenderTree(got, skip);
  const bool ok = now == RenderTree(rec.trees[done], skip) ||
                  (done < steps && now == RenderTree(rec.trees[done + 1], skip));
  EXPECT_TRUE(ok) << where << " (" << done << " steps acknowledged)\ngot:\n" << now
                  << "expected:\n" << RenderTree(rec.trees[done], skip)
                  << (done < steps ? "or:\n" + RenderTree(rec.trees[done + 1], skip) : "")
                  << trailer;
  return ok;
}

// --- direct access through leases ---------------------------------------------------------------

// Lease holders that answer every revocation at once (a client that is quick to let go).
class AnsweringHolders : public LeaseHolders {
 public:
  void Revoke(std::span<const Revocation> revs, std::vector<bool>* answered) override {
    for (size_t i = 0; i < revs.size(); i++) {
      (*answered)[i] = true;
      upto_ = std::max(upto_, revs[i].rev);
    }
  }
  uint64_t AnsweredUpTo(ClientId) override { return upto_; }

 private:
  uint64_t upto_ = 0;
};

// A formatted 12 MiB device with one empty regular file `name` in the root, unmounted: what
// every run of a leases crash test starts from a copy of. *ino: the file's inode.
inline void PrepareWithFile(mapping::Mode mode, const std::string& name,
                            mapping::testing::SimDevice* prepared, uint64_t* ino) {
  FsHarnessBase base(mode, {}, 12ull << 20);
  auto a = base.fs().Create(kRoot, kRootIno, name, 0644, O_RDWR);
  ASSERT_TRUE(a.ok()) << a.status().message();
  *ino = a->ino;
  ASSERT_TRUE(base.fs().Release(*ino).ok());
  EXPECT_TRUE(base.Unmount().ok());
  *prepared = mapping::testing::CopySimDevice(base.sim());
}

// A copy of a prepared device mounted with leases on (kSlots slots, mapped here as a client
// maps them), and the client's side of one write lease at a time: taking it (WriteLease), and
// storing through it into the device (CopyThroughLease) as client/file.cc does.
class LeaseHarness : public FsHarnessBase {
 public:
  static constexpr uint32_t kSlots = 16;

  LeaseHarness(mapping::Mode mode, const mapping::testing::SimDevice& prepared)
      : FsHarnessBase(mode, {}, mapping::testing::CopySimDevice(prepared)) {
    Enable();
  }
  ~LeaseHarness() {
    Disable();
    if (fs_) (void)fs_->EnableLeases(nullptr);  // holders_ goes before the base unmounts
  }
  // Power loss at the stop point set, then recovery and mount (leases off).
  void Crash() {
    Disable();
    CrashAndMount();
  }

 protected:
  // The held lease unless it covers [off, off + len) writably, else a new write grant of that
  // range on `ino`, which must cover it (an I/O error saying "the grant does not cover the
  // `what`" when not).
  Status WriteLease(ClientId c, uint64_t ino, uint64_t off, uint64_t len, const char* what) {
    if (have_ && Writable(off, len)) return Status::Ok();
    auto g = fs_->GrantLease(c, {.ino = ino, .off = off, .len = len, .write = true});
    if (!g.ok()) return g.status();
    grant_ = *g;
    have_ = true;
    if (!Writable(off, len))
      return Status::IoError(std::string("the grant does not cover the ") + what);
    return Status::Ok();
  }
  // Stores `data` at file offset `off` (inside the held lease) with non-temporal copies, one per
  // block, not drained; returns the device.
  mapping::Device& CopyThroughLease(uint64_t off, const std::string& data) {
    constexpr uint64_t kB = layout::kBlockSize;
    mapping::Device& dev = const_cast<mapping::Device&>(fs_->device());
    for (size_t done = 0; done < data.size();) {
      const uint64_t fb = (off + done) / kB, in = (off + done) % kB;
      const size_t n = std::min<size_t>(data.size() - done, kB - in);
      dev.CopyNoDrain(DevBlock(fb) * kB + in, data.data() + done, n);
      done += n;
    }
    return dev;
  }
  // The slot of the held lease.
  direct::Slot& held_slot() { return slots_[grant_.slot]; }

  bool have_ = false;  // a lease is held (false: the next WriteLease takes a new one)

 private:
  void Enable() {
    Status st = fs_->EnableLeases(&holders_, kSlots);
    ASSERT_TRUE(st.ok()) << st.message();
    void* p = mmap(nullptr, kSlots * sizeof(direct::Slot), PROT_READ | PROT_WRITE, MAP_SHARED,
                   fs_->lease_slots_fd(), 0);
    ASSERT_NE(p, MAP_FAILED);
    slots_ = static_cast<direct::Slot*>(p);
  }
  void Disable() {
    if (slots_) munmap(slots_, kSlots * sizeof(direct::Slot));
    slots_ = nullptr;
  }
  // The device block of file block `fb` in the held lease; 0 when it maps none.
  uint64_t DevBlock(uint64_t fb) const {
    for (const LeaseExtent& e : grant_.extents)
      if (fb >= e.file_block && fb < e.file_block + e.count) return e.dev_block + fb - e.file_block;
    return 0;
  }
  bool Writable(uint64_t off, uint64_t len) const {
    constexpr uint64_t kB = layout::kBlockSize;
    if (off < grant_.lo || off + len > grant_.hi) return false;
    for (uint64_t fb = off / kB; fb <= (off + len - 1) / kB; fb++)
      if (DevBlock(fb) == 0) return false;
    return true;
  }

  AnsweringHolders holders_;
  direct::Slot* slots_ = nullptr;
  LeaseGrant grant_;
};

// --- cutting a workload everywhere ---------------------------------------------------------------

// Where a workload's uncut run persisted: the simulator's persist points (base, end) and flushed
// lines (lines_base, lines_end) before and after it.
struct PersistSpan {
  uint64_t base = 0, end = 0, lines_base = 0, lines_end = 0;
  void Begin(const mapping::SimPmem& sim) {
    base = sim.persist_points();
    lines_base = sim.flushed_lines();
  }
  void End(const mapping::SimPmem& sim) {
    end = sim.persist_points();
    lines_end = sim.flushed_lines();
  }
};

// What CutEverywhere cut: persist points, those cut a second time with keep 0.5, and instants
// between persist points.
struct CutCounts {
  uint64_t points = 0, kept = 0, between = 0;
};

// Where a cut is, in a failure's words.
inline std::string CutWhere(bool at_flush, uint64_t at, double keep) {
  return std::string(at_flush ? "after flushed line " : "at persist point ") +
         std::to_string(at) + " keep " + std::to_string(keep);
}

// Sets `sim`'s power to fail: StopAfter(at), or (at_flush) StopAtFlush(at, keep). `keep` counts
// only there: after a StopAfter, what the Crash() call keeps decides.
inline void StopAt(mapping::SimPmem& sim, bool at_flush, uint64_t at, double keep) {
  if (at_flush)
    sim.StopAtFlush(at, keep);
  else
    sim.StopAfter(at);
}

// Cuts the workload of `span` (`cut(at_flush, at, keep)`: one run of it on a fresh copy, the power
// failing there, and the checks; false when it failed, reported) at every persist point p in
// [base, end] (cut(false, p, 0.0)), at a share PMEMFS_CRASH_SAMPLE (0.25) of them again with
// keep 0.5, then at PMEMFS_CRASH_INSTANTS (40) flushed lines drawn from (lines_base, lines_end]
// (cut(true, line, keep), keep 0, 0.5 and 1 in turn); `rng` draws. False at the first failed
// cut; *counts: what was cut.
inline bool CutEverywhere(const PersistSpan& span, std::mt19937_64& rng,
                          const std::function<bool(bool at_flush, uint64_t at, double keep)>& cut,
                          CutCounts* counts) {
  const double sample = EnvOrD("PMEMFS_CRASH_SAMPLE", 0.25);
  for (uint64_t p = span.base; p <= span.end; p++) {
    if (!cut(false, p, 0.0)) return false;
    counts->points++;
    if (std::bernoulli_distribution(sample)(rng)) {
      if (!cut(false, p, 0.5)) return false;
      counts->kept++;
    }
  }
  const uint64_t instants = EnvOr("PMEMFS_CRASH_INSTANTS", 40);
  for (uint64_t i = 0; i < instants && span.lines_end > span.lines_base; i++) {
    const uint64_t at =
        std::uniform_int_distribution<uint64_t>(span.lines_base + 1, span.lines_end)(rng);
    if (!cut(true, at, i % 3 == 0 ? 0.0 : i % 3 == 1 ? 0.5 : 1.0)) return false;
    counts->between++;
  }
  return true;
}

}  // namespace pmemfs::core::testing
