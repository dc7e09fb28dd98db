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
#pragma once

#include <fcntl.h>

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
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

}  // namespace pmemfs::core::testing
