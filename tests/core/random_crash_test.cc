// Randomized power-failure testing of fs/core over the crash simulator (label crash).
//
// A seeded random workload (create, write at random offsets and sizes, overwrite and extend,
// truncate, fallocate, zero range, punch hole, rename (also over an existing name), link,
// unlink, mkdir, rmdir, setxattr/removexattr, symlink, fsync, syncfs, and files unlinked while
// open, orphans when the power fails) is generated from a model
// of the namespace, run once to record the tree after every step, then run again from a fresh
// format for EVERY persist point with the power cut there (lines flushed but not drained are
// dropped), and, sampled, cut again keeping a random subset of those lines. After each cut:
// recovery (Filesystem::Mount: journal replay, orphans, interrupted truncates), the tree must
// equal the state after the acknowledged steps or after the step in flight (an interrupted data
// operation may leave its file's bytes torn), a clean unmount, and pmemfs-fsck's checker must
// find nothing wrong. In copy mode data is acknowledged by fsync/syncfs only: the bytes and size
// of a file changed since its last sync are not compared (its names, type, mode, links and
// xattrs are: metadata is durable on return in every mode). Runs in all three modes and prints
// the crash states explored per mode.
//
// Environment (the defaults are the CI run, under a minute on two cores):
//   PMEMFS_CRASH_SEEDS=N   workloads per mode (default 3), seeds FIRST .. FIRST+N-1
//   PMEMFS_CRASH_SEED=S    first seed (default 1): rerun one failing workload with SEEDS=1
//   PMEMFS_CRASH_STEPS=M   steps per workload (default 20)
//   PMEMFS_CRASH_SAMPLE=P  share of persist points also cut with undrained lines kept (0.25)
//   PMEMFS_CRASH_VERBOSE=1 print each workload
// A long run (about 10 minutes of CPU; 8 seeds of 40 steps took 107 s of CPU for 9 304 states):
//   PMEMFS_CRASH_SEEDS=20 PMEMFS_CRASH_STEPS=40 PMEMFS_CRASH_SAMPLE=1
//     build/tests/core/random_crash_test
// A failure prints the seed, the cut, and the workload up to the step in flight.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "crash_harness.h"
#include "namespace_model.h"

namespace pmemfs::core {
namespace {

using mapping::Mode;
using testing::kRoot;
using testing::SplitPath;

// ---------------------------------------------------------------------------------------------
// Operations

enum class Kind {
  kCreate, kWrite, kTruncate, kFallocate, kRename, kLink, kUnlink, kMkdir, kRmdir,
  kSetXattr, kRemoveXattr, kSymlink, kFsync, kSyncFs,
  kOrphan,  // create, write, unlink while open and keep it open: an orphan when the power fails
};

struct Op {
  Kind kind;
  std::string a, b;     // paths (b: rename/link target, symlink target, xattr name)
  uint64_t off = 0, len = 0;
  int flags = 0;        // fallocate mode
  std::string data;     // write data, xattr value

  // Changes file bytes or size: torn when interrupted (and unacknowledged in copy mode).
  bool is_data() const {
    return kind == Kind::kWrite || kind == Kind::kTruncate || kind == Kind::kFallocate;
  }
  std::string ToString() const {
    std::ostringstream o;
    switch (kind) {
      case Kind::kCreate: o << "create " << a; break;
      case Kind::kWrite: o << "write " << a << " off=" << off << " len=" << data.size(); break;
      case Kind::kTruncate: o << "truncate " << a << " size=" << off; break;
      case Kind::kFallocate:
        o << "fallocate " << a << " mode=0x" << std::hex << flags << std::dec << " off=" << off
          << " len=" << len;
        break;
      case Kind::kRename: o << "rename " << a << " -> " << b; break;
      case Kind::kLink: o << "link " << a << " -> " << b; break;
      case Kind::kUnlink: o << "unlink " << a; break;
      case Kind::kMkdir: o << "mkdir " << a; break;
      case Kind::kRmdir: o << "rmdir " << a; break;
      case Kind::kSetXattr: o << "setxattr " << a << " " << b << " len=" << data.size(); break;
      case Kind::kRemoveXattr: o << "removexattr " << a << " " << b; break;
      case Kind::kSymlink: o << "symlink " << a << " -> (" << b.size() << " bytes)"; break;
      case Kind::kFsync: o << "fsync " << a; break;
      case Kind::kSyncFs: o << "syncfs"; break;
      case Kind::kOrphan: o << "orphan " << a << " len=" << data.size(); break;
    }
    return o.str();
  }
};

// A model of the namespace, just enough to generate operations that succeed.
class Generator : testing::NamespaceModel {
 public:
  explicit Generator(uint64_t seed)
      : NamespaceModel(seed, /*home=*/"", "a-longer-name-spanning-slots-") {}

  std::vector<Op> Make(size_t steps) {
    std::vector<Op> ops;
    while (ops.size() < steps) {
      std::optional<Op> op = Next();
      if (op) ops.push_back(*op);
    }
    return ops;
  }

 private:
  uint64_t Size() {  // small, unaligned, a few blocks, or large
    switch (Rand(4)) {
      case 0: return 1 + Rand(100);
      case 1: return 1 + Rand(6000);
      case 2: return 4096 * (1 + Rand(4));
      default: return 1 + Rand(48 << 10);
    }
  }
  uint64_t Offset() { return Chance(0.4) ? 4096 * Rand(40) : Rand(160 << 10); }

  std::optional<Op> Next() {
    const std::vector<std::string> files = Paths('f'), dirs = Paths('d'), links = Paths('l');
    Op op{};
    switch (Rand(16)) {
      case 0: case 1:
        op = {Kind::kCreate, NewPath()};
        paths_[op.a] = {'f', next_id_++};
        return op;
      case 2: case 3: case 4:
        if (files.empty()) return std::nullopt;
        op = {Kind::kWrite, Pick(files)};
        op.off = Offset();
        op.data = Bytes(Size());
        return op;
      case 5:
        if (files.empty()) return std::nullopt;
        op = {Kind::kTruncate, Pick(files)};
        op.off = Chance(0.3) ? 0 : Rand(200 << 10);
        return op;
      case 6: {
        if (files.empty()) return std::nullopt;
        op = {Kind::kFallocate, Pick(files)};
        op.flags = kFallocateModes[Rand(std::size(kFallocateModes))];
        op.off = Offset();
        op.len = Size();
        return op;
      }
      case 7: {  // a file, symlink or directory to a new name or over an existing one
        auto rename = PickRename(0.4);
        if (!rename) return std::nullopt;
        Move(rename->first, rename->second);
        return Op{Kind::kRename, rename->first, rename->second};
      }
      case 8:
        if (files.empty()) return std::nullopt;
        op = {Kind::kLink, Pick(files), NewPath()};
        paths_[op.b] = paths_[op.a];
        return op;
      case 9: {
        std::vector<std::string> v = files;
        v.insert(v.end(), links.begin(), links.end());
        if (v.empty()) return std::nullopt;
        op = {Kind::kUnlink, Pick(v)};
        paths_.erase(op.a);
        return op;
      }
      case 10:
        op = {Kind::kMkdir, NewPath()};
        paths_[op.a] = {'d', next_id_++};
        return op;
      case 11: {
        std::vector<std::string> empty;
        for (const auto& d : dirs)
          if (IsEmptyDir(d)) empty.push_back(d);
        if (empty.empty()) return std::nullopt;
        op = {Kind::kRmdir, Pick(empty)};
        paths_.erase(op.a);
        return op;
      }
      case 12: {
        std::vector<std::string> v = files;
        v.insert(v.end(), dirs.begin(), dirs.end());
        if (v.empty()) return std::nullopt;
        const std::string p = Pick(v);
        std::set<std::string>& names = xattrs_[paths_[p].id];
        if (!names.empty() && Chance(0.35)) {
          const std::string name = Pick(std::vector<std::string>(names.begin(), names.end()));
          names.erase(name);
          return Op{Kind::kRemoveXattr, p, name};
        }
        op = {Kind::kSetXattr, p, "user.x" + std::to_string(Rand(4))};
        op.data = Bytes(Chance(0.2) ? 1000 + Rand(2700) : 1 + Rand(60));
        names.insert(op.b);
        return op;
      }
      case 13: {
        op = {Kind::kSymlink, NewPath()};
        op.b = Chance(0.5) ? "target-" + std::to_string(Rand(100)) : "long/" + Bytes(100 + Rand(300));
        paths_[op.a] = {'l', next_id_++};
        return op;
      }
      case 14:
        if (files.empty()) return std::nullopt;
        return Op{Kind::kFsync, Pick(files)};
      default:
        if (Chance(0.5)) {
          op = {Kind::kOrphan, NewPath()};
          op.data = Bytes(Size());
          return op;
        }
        if (!Chance(0.3)) return std::nullopt;
        return Op{Kind::kSyncFs};
    }
  }

};

// ---------------------------------------------------------------------------------------------
// The tree as the filesystem shows it: tree_snapshot.h (through crash_harness.h)

using testing::Tree;

class Harness : public testing::FsHarnessBase {
 public:
  explicit Harness(Mode mode) : FsHarnessBase(mode, {}, 8ull << 20) {}

  Result<uint64_t> Resolve(const std::string& path) { return testing::ResolvePath(*fs_, path); }

  Status Apply(const Op& op) {
    Filesystem& fs = *fs_;
    auto [dir_path, name] = SplitPath(op.a);
    PMEMFS_ASSIGN_OR_RETURN(uint64_t dir, Resolve(dir_path));
    auto forget = [&](const Result<Attr>& a) {
      if (a.ok()) fs.Forget(a->ino, 1);
      return a.status();
    };
    switch (op.kind) {
      case Kind::kCreate: {
        auto a = fs.Create(kRoot, dir, name, 0644, O_RDWR | O_CREAT | O_EXCL);
        if (a.ok()) PMEMFS_RETURN_IF_ERROR(fs.Release(a->ino));
        return forget(a);
      }
      case Kind::kMkdir: return forget(fs.MkDir(kRoot, dir, name, 0755));
      case Kind::kSymlink: return forget(fs.Symlink(kRoot, dir, name, op.b));
      case Kind::kUnlink: return fs.Unlink(kRoot, dir, name);
      case Kind::kRmdir: return fs.RmDir(kRoot, dir, name);
      case Kind::kRename:
      case Kind::kLink: {
        auto [to_dir_path, to_name] = SplitPath(op.b);
        PMEMFS_ASSIGN_OR_RETURN(uint64_t to_dir, Resolve(to_dir_path));
        if (op.kind == Kind::kRename) return fs.Rename(kRoot, dir, name, to_dir, to_name, 0);
        PMEMFS_ASSIGN_OR_RETURN(uint64_t ino, Resolve(op.a));
        return forget(fs.Link(kRoot, ino, to_dir, to_name));
      }
      case Kind::kSyncFs: return fs.SyncFs();
      case Kind::kOrphan: {  // the open and the lookup reference stay until unmount
        PMEMFS_ASSIGN_OR_RETURN(Attr a, fs.Create(kRoot, dir, name, 0644, O_RDWR | O_CREAT | O_EXCL));
        PMEMFS_ASSIGN_OR_RETURN(uint64_t n,
                                fs.Write(kRoot, a.ino, 0, std::as_bytes(std::span(op.data))));
        if (n != op.data.size()) return Status::IoError("short write of " + std::to_string(n));
        return fs.Unlink(kRoot, dir, name);
      }
      default: break;
    }
    PMEMFS_ASSIGN_OR_RETURN(uint64_t ino, Resolve(op.a));
    switch (op.kind) {
      case Kind::kWrite: {
        PMEMFS_ASSIGN_OR_RETURN(uint64_t n,
                                fs.Write(kRoot, ino, op.off, std::as_bytes(std::span(op.data))));
        if (n != op.data.size()) return Status::IoError("short write of " + std::to_string(n));
        return Status::Ok();
      }
      case Kind::kTruncate: {
        SetAttrRequest r;
        r.fields = kSetSize;
        r.size = op.off;
        return fs.SetAttr(kRoot, ino, r).status();
      }
      case Kind::kFallocate: return fs.Fallocate(ino, op.flags, op.off, op.len);
      case Kind::kSetXattr:
        return fs.SetXattr(kRoot, ino, op.b, std::as_bytes(std::span(op.data)), 0);
      case Kind::kRemoveXattr: return fs.RemoveXattr(kRoot, ino, op.b);
      case Kind::kFsync: return fs.Fsync(ino, false);
      default: return Status::InvalidArgument("unknown operation");
    }
  }

  // The whole tree (without the RAM directory); errors of the walk fail the test.
  Tree Snapshot() { return testing::SnapshotTree(*fs_); }
};

// ---------------------------------------------------------------------------------------------
// The test

struct Totals {
  uint64_t workloads = 0, steps = 0, persist_points = 0, states = 0, kept_states = 0;
};

std::string Log(const std::vector<Op>& ops, size_t upto) {
  std::ostringstream o;
  for (size_t i = 0; i < ops.size() && i <= upto; i++)
    o << "  " << i << ": " << ops[i].ToString() << (i == upto ? "   <- in flight" : "") << "\n";
  return o.str();
}

class RandomCrashTest : public ::testing::TestWithParam<Mode> {
 protected:
  // Runs one workload and every cut of it; false after the first failure.
  bool RunWorkload(uint64_t seed, size_t steps, double sample, Totals& totals) {
    const Mode mode = GetParam();
    const std::vector<Op> ops = Generator(seed).Make(steps);
    if (testing::EnvOr("PMEMFS_CRASH_VERBOSE", 0))
      std::cout << "seed " << seed << ":\n" << Log(ops, ops.size()) << std::flush;
    // The reference run: the tree after each prefix and, in copy mode, the inodes whose data
    // changed since their last sync.
    testing::RecordedTrees rec;
    uint64_t base, total;
    {
      Harness h(mode);
      base = h.sim().sim->persist_points();
      std::set<uint64_t> dirty;
      rec.trees.push_back(h.Snapshot());
      rec.unsynced.push_back(dirty);
      for (size_t i = 0; i < ops.size(); i++) {
        const Op& op = ops[i];
        std::optional<uint64_t> ino;
        if (op.is_data() || op.kind == Kind::kFsync) {
          auto r = h.Resolve(op.a);
          if (r.ok()) ino = *r;
        }
        rec.target.push_back(op.is_data() ? ino : std::nullopt);
        Status st = h.Apply(op);
        EXPECT_TRUE(st.ok()) << "seed " << seed << " step " << i << " " << op.ToString() << ": "
                             << st.message();
        if (!st.ok()) return false;
        if (mode == Mode::kCopy) {
          if (op.is_data()) dirty.insert(*ino);
          if (op.kind == Kind::kFsync) dirty.erase(*ino);
          if (op.kind == Kind::kSyncFs) dirty.clear();
        }
        rec.trees.push_back(h.Snapshot());
        rec.unsynced.push_back(dirty);
        if (::testing::Test::HasFailure()) return false;
      }
      total = h.sim().sim->persist_points();
    }
    totals.workloads++;
    totals.steps += ops.size();
    totals.persist_points += total - base;

    std::mt19937_64 rng(seed * 7919 + static_cast<int>(mode));
    for (uint64_t stop = base; stop <= total; stop++) {
      std::vector<double> keeps = {0.0};
      if (std::bernoulli_distribution(sample)(rng))
        keeps.push_back(std::uniform_real_distribution<double>(0.2, 0.8)(rng));
      for (double keep : keeps) {
        if (!CutAt(ops, rec, seed, stop, keep)) return false;
        totals.states++;
        if (keep > 0) totals.kept_states++;
      }
    }
    return true;
  }

  bool CutAt(const std::vector<Op>& ops, const testing::RecordedTrees& rec, uint64_t seed,
             uint64_t stop, double keep) {
    const std::string where = "seed " + std::to_string(seed) + " cut after persist point " +
                              std::to_string(stop) + " keep " + std::to_string(keep);
    Harness h(GetParam());
    h.sim().sim->StopAfter(stop);
    size_t done = 0;  // steps that returned before the power failed
    for (const Op& op : ops) {
      Status st = h.Apply(op);
      if (h.sim().sim->stopped()) break;
      EXPECT_TRUE(st.ok()) << where << ": step " << done << " " << op.ToString() << ": "
                           << st.message();
      if (!st.ok()) return false;
      done++;
    }
    h.CrashAndMount(keep);
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << where << ": recovery failed; workload:\n" << Log(ops, done);
      return false;
    }
    Tree got = h.Snapshot();
    // An orphan step is three calls (create, write, unlink): cut between them, its file is
    // still there, as acknowledged by the create.
    if (done < ops.size() && ops[done].kind == Kind::kOrphan) got.erase(ops[done].a);
    // Not compared: unsynced data (copy mode) and the file a data operation in flight changes.
    const std::string workload = "workload:\n" + Log(ops, done);
    if (!testing::MatchesRecorded(got, rec, done, where, workload) ||
        ::testing::Test::HasFailure())
      return false;

    // A clean unmount, then the checker on the device.
    return testing::UnmountAndCheck(
        h, where + " (" + std::to_string(done) + " steps acknowledged)", workload);
  }
};

TEST_P(RandomCrashTest, EveryPersistPointOfRandomWorkloads) {
  const uint64_t first = testing::EnvOr("PMEMFS_CRASH_SEED", 1);
  const uint64_t seeds = testing::EnvOr("PMEMFS_CRASH_SEEDS", 3);
  const size_t steps = testing::EnvOr("PMEMFS_CRASH_STEPS", 20);
  const double sample = testing::EnvOrD("PMEMFS_CRASH_SAMPLE", 0.25);
  Totals t;
  for (uint64_t seed = first; seed < first + seeds; seed++)
    if (!RunWorkload(seed, steps, sample, t)) break;
  // Every state counted passed: recovered to the acknowledged tree, unmounted, fsck clean.
  std::cout << "[ random crash " << mapping::ModeName(GetParam()) << ": " << t.workloads
            << " workloads, " << t.steps << " steps, " << t.persist_points
            << " persist points, crash states explored: " << t.states << " (" << t.kept_states
            << " keeping undrained lines) ]" << std::endl;
}

INSTANTIATE_TEST_SUITE_P(Modes, RandomCrashTest,
                         ::testing::Values(Mode::kDirect, Mode::kCopy, Mode::kPages),
                         [](const ::testing::TestParamInfo<Mode>& i) {
                           return std::string(mapping::ModeName(i.param));
                         });

}  // namespace
}  // namespace pmemfs::core
