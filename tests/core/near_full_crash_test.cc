// Power failures near a full device (issue 9, item 2), over the crash simulator (label crash).
//
// A small device is formatted, mostly filled by one file ("filler", never touched again), and a
// seeded random workload runs INTO NoSpace, again and again: create (also kept open), write at
// random offsets (also one block here and there: many extents), O_APPEND + fdatasync, create +
// write + fsync + close + rename over an existing file (the atomic replace of editors and
// databases), truncate, fallocate (allocate, punch: a free that splits extents, zero range),
// copy_file_range (pages mode: shared blocks), unlink (also of open files: orphans, closed later
// or still open at the crash), rename to a new name and over an existing one, link, mkdir/rmdir,
// long symlinks, xattrs of a block each, fsync, syncfs. The OutOfInodes variant formats with a
// handful of inodes, so creates run out of those too.
//
// NearFullCrashTest: one writer. Every call is one step; the workload is generated against the
// live filesystem in a reference run (which records each step's result and the whole tree after
// it) and is replayed from a copy of the filled device once per crash state:
//   - at EVERY persist point of the workload (the drain after it never happens; sampled: lines
//     flushed but not drained kept at random), and
//   - at instants BETWEEN persist points: after the k-th individual cache-line flush
//     (SimPmem::StopAtFlush), k random, so a persist is drained part way; some of these also
//     write back a random share (or all) of the stores never flushed, as a CPU cache may, or as a
//     copy of a frozen machine's memory shows.
// Each replayed step must give the reference run's result (the replay is deterministic).
//
// ThreeWritersCrashTest: three writers at once, each in a directory of its own on the shared
// device (one allocator, journal, inode table), and the background thread (write times, copy
// mode's write-back) every 2 ms, cut at random instants (persist points and
// flushed lines) of the live run; each writer records its results and its directory's tree after
// every step, and stops once it sees the power failed.
//
// After each cut: recovery (Filesystem::Mount) must succeed, the tree (each writer's directory)
// must equal the tree after the acknowledged steps or after the step in flight (its file's bytes
// may be torn; in copy mode data not yet fsync'ed is not compared), a clean unmount, and
// pmemfs-fsck's checker must find nothing wrong. Each test prints the crash states it explored.
//
// Environment (the defaults are the CI run, each test well under a minute on two busy cores):
//   PMEMFS_NEARFULL_SEEDS=N   workloads per test (default 1), seeds FIRST .. FIRST+N-1
//   PMEMFS_NEARFULL_SEED=S    first seed (default 1): rerun one failing workload with SEEDS=1
//   PMEMFS_NEARFULL_STEPS=M   steps per workload (default 60; each of three writers: 2/3 of it)
//   PMEMFS_CRASH_INSTANTS=K   cuts between persist points per workload (default 40); the three
//                             writers are cut 3K times per workload
//   PMEMFS_CRASH_SAMPLE=P     share of persist points also cut with undrained lines kept (0.25)
//   PMEMFS_CRASH_VERBOSE=1    print each workload with its results
// A soak (about 20 minutes of CPU):
//   PMEMFS_NEARFULL_SEEDS=20 PMEMFS_CRASH_INSTANTS=200 build/tests/core/near_full_crash_test
// A failure prints the seed, the cut, and the workload up to the step in flight.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <deque>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "crash_harness.h"
#include "namespace_model.h"

namespace pmemfs::core {
namespace {

using mapping::Mode;
using testing::kRoot;
using testing::SplitPath;
using testing::Tree;

// ---------------------------------------------------------------------------------------------
// Steps

enum class Kind {
  kCreate,  // a (keep_open: the file stays open as `handle`)
  kWrite, kAppend, kTruncate, kFallocate, kFsync, kFdatasync,  // on `handle` or the file at a
  kClose,   // handle
  kRename, kLink, kUnlink, kMkdir, kRmdir, kSymlink, kSetXattr, kRemoveXattr, kSyncFs,
  kCopyRange,  // copy_file_range a [off, +len) -> b at `to` (pages mode: shares whole blocks)
};

struct Op {
  Kind kind;
  std::string a, b;  // paths (b: rename/link target, symlink target, xattr name)
  uint64_t off = 0;  // write/fallocate/copy offset, truncate size
  uint64_t len = 0;  // fallocate/copy length
  uint64_t to = 0;   // copy destination offset
  int flags = 0;     // fallocate mode
  std::string data;  // write data, xattr value
  int handle = -1;
  bool keep_open = false;

  // Changes file bytes or size: torn when interrupted (and unacknowledged in copy mode).
  bool is_data() const {
    return kind == Kind::kWrite || kind == Kind::kAppend || kind == Kind::kTruncate ||
           kind == Kind::kFallocate || kind == Kind::kCopyRange;
  }
  std::string ToString() const {
    std::ostringstream o;
    const std::string on = handle >= 0 ? "#" + std::to_string(handle) : a;
    switch (kind) {
      case Kind::kCreate:
        o << "create " << a << (keep_open ? " open as #" + std::to_string(handle) : "");
        break;
      case Kind::kWrite: o << "write " << on << " off=" << off << " len=" << data.size(); break;
      case Kind::kAppend: o << "append " << on << " len=" << data.size(); break;
      case Kind::kTruncate: o << "truncate " << on << " size=" << off; break;
      case Kind::kFallocate:
        o << "fallocate " << on << " mode=0x" << std::hex << flags << std::dec << " off=" << off
          << " len=" << len;
        break;
      case Kind::kCopyRange:
        o << "copy_file_range " << a << " off=" << off << " len=" << len << " -> " << b
          << " off=" << to;
        break;
      case Kind::kFsync: o << "fsync " << on; break;
      case Kind::kFdatasync: o << "fdatasync " << on; break;
      case Kind::kClose: o << "close " << on; break;
      case Kind::kRename: o << "rename " << a << " -> " << b; break;
      case Kind::kLink: o << "link " << a << " -> " << b; break;
      case Kind::kUnlink: o << "unlink " << a; break;
      case Kind::kMkdir: o << "mkdir " << a; break;
      case Kind::kRmdir: o << "rmdir " << a; break;
      case Kind::kSymlink: o << "symlink " << a << " (" << b.size() << " bytes)"; break;
      case Kind::kSetXattr: o << "setxattr " << a << " " << b << " len=" << data.size(); break;
      case Kind::kRemoveXattr: o << "removexattr " << a << " " << b; break;
      case Kind::kSyncFs: o << "syncfs"; break;
    }
    return o.str();
  }
};

// A model of the namespace, kept from the results of the steps so far, just enough to make
// steps that are valid (they may still run out of space or inodes).
class Generator : testing::NamespaceModel {
 public:
  // The filler (the space the device starts without) is not in the model: never touched.
  // `creates`: an extra share of steps that create a name (file, directory, symlink). `home`:
  // the existing directory it works under ("": the root); handles count from `first_handle`.
  Generator(uint64_t seed, double creates, std::string home = "", int first_handle = 0)
      : NamespaceModel(seed, std::move(home), "a-longer-name-spanning-dentry-slots-"),
        creates_(creates),
        next_handle_(first_handle) {}

  Op Next() {
    for (;;) {
      if (!plan_.empty()) {
        Op op = plan_.front();
        plan_.pop_front();
        return op;
      }
      if (std::optional<Op> op = Make()) return *op;
    }
  }

  // The result of the step Next() returned last.
  void Done(const Op& op, const Status& st) {
    if (op.kind == Kind::kClose) open_.erase(op.handle);  // closed whatever the result
    if (!st.ok()) {
      // A plan's later steps need this one: give up the rest, and drop the temporary file a
      // plan made (closing it first) as an application would.
      const bool rest = !plan_.empty();
      plan_.clear();
      if (rest && op.kind != Kind::kCreate && plan_handle_ >= 0 && open_.count(plan_handle_)) {
        Op close{Kind::kClose};
        close.handle = plan_handle_;
        plan_.push_back(close);
        Op unlink{Kind::kUnlink, handle_path_[plan_handle_]};
        if (paths_.count(unlink.a)) plan_.push_back(unlink);
      }
      plan_handle_ = -1;
      return;
    }
    switch (op.kind) {
      case Kind::kCreate:
        paths_[op.a] = {'f', next_id_++};
        if (op.keep_open) {
          open_.insert(op.handle);
          handle_path_[op.handle] = op.a;
        }
        break;
      case Kind::kMkdir: paths_[op.a] = {'d', next_id_++}; break;
      case Kind::kSymlink: paths_[op.a] = {'l', next_id_++}; break;
      case Kind::kLink: paths_[op.b] = paths_[op.a]; break;
      case Kind::kUnlink:
      case Kind::kRmdir: paths_.erase(op.a); break;
      case Kind::kRename: {
        Move(op.a, op.b);
        for (auto& [h, p] : handle_path_)
          if (p == op.a) p = op.b;
        break;
      }
      case Kind::kSetXattr: xattrs_[paths_[op.a].id].insert(op.b); break;
      case Kind::kRemoveXattr: xattrs_[paths_[op.a].id].erase(op.b); break;
      default: break;
    }
  }

 private:
  uint64_t Size() {  // small, unaligned, whole blocks, large
    switch (Rand(5)) {
      case 0: return 1 + Rand(100);
      case 1: return 1 + Rand(6000);
      case 2: return 4096 * (1 + Rand(8));
      default: return 20000 + Rand(100000);
    }
  }
  uint64_t Offset() { return Chance(0.4) ? 4096 * Rand(24) : Rand(120 << 10); }
  // An open handle, or -1.
  int OpenHandle() {
    if (open_.empty()) return -1;
    return *std::next(open_.begin(), static_cast<long>(Rand(open_.size())));
  }
  // Data steps go through an open handle now and then (also an orphan's), else a path.
  bool Target(Op& op) {
    const std::vector<std::string> files = Paths('f');
    if (const int h = OpenHandle(); h >= 0 && (files.empty() || Chance(0.3))) {
      op.handle = h;
      return true;
    }
    if (files.empty()) return false;
    op.a = Pick(files);
    return true;
  }

  std::optional<Op> Make() {
    const std::vector<std::string> files = Paths('f'), dirs = Paths('d');
    Op op{Kind::kSyncFs};
    if (Chance(creates_)) {
      static constexpr Kind kCreates[] = {Kind::kCreate, Kind::kMkdir, Kind::kSymlink};
      op = {kCreates[Rand(std::size(kCreates))], NewPath()};
      if (op.kind == Kind::kSymlink) op.b = "t/" + Bytes(Chance(0.3) ? 200 + Rand(1000) : 20);
      return op;
    }
    switch (Rand(27)) {
      case 0: case 1:
        op = {Kind::kCreate, NewPath()};
        op.keep_open = Chance(0.2);
        if (op.keep_open) op.handle = next_handle_++;
        return op;
      case 2: {  // atomic replace: create tmp, write, fsync, close, rename over a file
        const int h = next_handle_++;
        Op create{Kind::kCreate, NewPath()};
        create.keep_open = true;
        create.handle = h;
        Op write{Kind::kWrite};
        write.handle = h;
        write.data = Bytes(Size());
        Op sync{Kind::kFsync}, close{Kind::kClose};
        sync.handle = close.handle = h;
        Op rename{Kind::kRename, create.a, files.empty() || Chance(0.2) ? NewPath() : Pick(files)};
        plan_ = {write, sync, close, rename};
        plan_handle_ = h;
        return create;
      }
      case 3: {  // an orphan: create open, write, unlink (closed some steps later, or never)
        const int h = next_handle_++;
        Op create{Kind::kCreate, NewPath()};
        create.keep_open = true;
        create.handle = h;
        Op write{Kind::kWrite};
        write.handle = h;
        write.data = Bytes(Size());
        plan_ = {write, Op{Kind::kUnlink, create.a}};
        plan_handle_ = h;
        return create;
      }
      case 4: case 5: case 6: case 7: case 21: case 22:
        op = {Kind::kWrite};
        if (!Target(op)) return std::nullopt;
        op.off = Offset();
        op.data = Bytes(Size());
        return op;
      case 8: {  // O_APPEND + fdatasync, a log
        op = {Kind::kAppend};
        if (!Target(op)) return std::nullopt;
        op.data = Bytes(Chance(0.7) ? 1 + Rand(300) : Size());
        Op sync{Kind::kFdatasync, op.a};
        sync.handle = op.handle;
        plan_ = {sync};
        plan_handle_ = -1;
        return op;
      }
      case 9:
        op = {Kind::kTruncate};
        if (!Target(op)) return std::nullopt;
        op.off = Chance(0.3) ? 0 : Rand(160 << 10);
        return op;
      case 10: {  // unlink a file or symlink (also one that is open), rmdir
        std::vector<std::string> v = files;
        for (const std::string& l : Paths('l')) v.push_back(l);
        for (const std::string& d : dirs)
          if (IsEmptyDir(d)) v.push_back(d);
        if (v.empty()) return std::nullopt;
        const std::string p = Pick(v);
        return Op{paths_[p].type == 'd' ? Kind::kRmdir : Kind::kUnlink, p};
      }
      case 12: {  // rename to a new name or over one of the same kind
        auto rename = PickRename(0.5);
        if (!rename) return std::nullopt;
        return Op{Kind::kRename, rename->first, rename->second};
      }
      case 13:
        if (files.empty()) return std::nullopt;
        return Op{Kind::kLink, Pick(files), NewPath()};
      case 14:
        return Op{Kind::kMkdir, NewPath()};
      case 15: {
        op = {Kind::kSymlink, NewPath()};
        op.b = "t/" + Bytes(Chance(0.7) ? 200 + Rand(1000) : 20);
        return op;
      }
      case 16: case 17: {  // xattrs: values of a block each, or small
        std::vector<std::string> v = files;
        v.insert(v.end(), dirs.begin(), dirs.end());
        if (v.empty()) return std::nullopt;
        const std::string p = Pick(v);
        const std::set<std::string>& names = xattrs_[paths_[p].id];
        if (!names.empty() && Chance(0.3))
          return Op{Kind::kRemoveXattr, p,
                    Pick(std::vector<std::string>(names.begin(), names.end()))};
        op = {Kind::kSetXattr, p, "user.x" + std::to_string(Rand(4))};
        op.data = Bytes(Chance(0.7) ? 500 + Rand(3000) : 1 + Rand(60));
        return op;
      }
      case 18: {
        op = {Kind::kFsync};
        if (!Target(op)) return std::nullopt;
        return op;
      }
      case 11: case 19: {  // close an open file (an orphan's last close frees it)
        const int h = OpenHandle();
        if (h < 0) return std::nullopt;
        op = {Kind::kClose};
        op.handle = h;
        return op;
      }
      case 20:
        return Op{Kind::kSyncFs};
      case 23: {  // allocate, punch (splits extents: a free that may need a block), zero
        op = {Kind::kFallocate};
        if (!Target(op)) return std::nullopt;
        op.flags = kFallocateModes[Rand(std::size(kFallocateModes))];
        op.off = Offset();
        op.len = Chance(0.5) ? 4096 * (1 + Rand(4)) : Size();
        return op;
      }
      case 24: {  // copy a range, block-aligned now and then (pages mode shares those blocks)
        if (files.empty()) return std::nullopt;
        op = {Kind::kCopyRange, Pick(files), Pick(files)};
        const bool aligned = Chance(0.6);
        op.off = aligned ? 4096 * Rand(16) : Rand(64 << 10);
        op.to = aligned ? 4096 * Rand(32) : Rand(128 << 10);
        op.len = aligned ? 4096 * (1 + Rand(16)) : Size();
        if (paths_[op.a].id == paths_[op.b].id && op.off < op.to + op.len &&
            op.to < op.off + op.len)
          return std::nullopt;  // overlapping ranges of one file (or two links of it): EINVAL
        return op;
      }
      case 25: case 26: {  // one block here and there: many extents, extent blocks
        op = {Kind::kWrite};
        if (!Target(op)) return std::nullopt;
        op.off = 4096 * Rand(64) + (Chance(0.3) ? Rand(4096) : 0);
        op.data = Bytes(Chance(0.8) ? 4096 : 1 + Rand(8000));
        return op;
      }
      default:
        return std::nullopt;
    }
  }

  const double creates_;
  std::set<int> open_;                 // open handles
  std::map<int, std::string> handle_path_;  // the name an open handle was created under
  std::deque<Op> plan_;                // the rest of a multi-step pattern
  int plan_handle_ = -1;               // the temporary file it opened, dropped if a step fails
  int next_handle_;
};

// ---------------------------------------------------------------------------------------------
// The filesystem under test

struct Variant {
  const char* name;
  uint64_t part_size;    // one part, of which 2 MiB RAM partition and the descriptors
  uint64_t inodes;       // format's inode count (0: the default)
  uint64_t left_blocks;  // free blocks the filler leaves
  double creates;        // an extra share of steps that create names
};

class Harness : public testing::FsHarnessBase {
 public:
  // No atime updates: the reference run reads every file after each step, the replays do not,
  // and both must make the same persist points.
  Harness(Mode mode, const Variant& v)
      : FsHarnessBase(mode, {.atime = AtimePolicy::kNoatime}, v.part_size,
                      {.inode_count = v.inodes}) {}
  // Mounts a copy of `prepared` (see Prepare); `writeback_ms` not 0: with the background
  // thread (pending write times, copy mode's write-back) running that often.
  Harness(Mode mode, const mapping::testing::SimDevice& prepared, uint32_t writeback_ms = 0)
      : FsHarnessBase(mode, {.atime = AtimePolicy::kNoatime},
                      mapping::testing::CopySimDevice(prepared), writeback_ms) {}

  // The device every run of variant `v` starts from: formatted, filled, with directories
  // `homes` ("w0", "w1", ...: one per writer of the concurrent test), cleanly unmounted.
  static mapping::testing::SimDevice Prepare(Mode mode, const Variant& v, int homes = 0) {
    Harness h(mode, v);
    for (int i = 0; i < homes; i++) {
      auto a = h.fs().MkDir(kRoot, kRootIno, "w" + std::to_string(i), 0755);
      EXPECT_TRUE(a.ok()) << a.status().message();
      if (a.ok()) h.fs().Forget(a->ino, 1);
    }
    testing::FillDevice(h.fs(), v.left_blocks);
    return testing::UnmountedCopy(h);
  }

  // The file whose bytes a data step changes, or fsync syncs (before the step).
  std::optional<uint64_t> Changes(const Op& op) {
    if (!op.is_data() && op.kind != Kind::kFsync && op.kind != Kind::kFdatasync) return {};
    auto r = op.kind == Kind::kCopyRange ? testing::ResolvePath(*fs_, op.b) : Target(op);
    if (!r.ok()) return {};
    return *r;
  }

  // The inode a step works on: its handle's or its path's.
  Result<uint64_t> Target(const Op& op) {
    if (op.handle >= 0) {
      std::lock_guard lock(handles_mu_);
      auto it = handles_.find(op.handle);
      if (it == handles_.end())
        return Status::InvalidArgument("handle #" + std::to_string(op.handle) + " is not open");
      return it->second;
    }
    return testing::ResolvePath(*fs_, op.a);
  }

  Status Apply(const Op& op) {
    Filesystem& fs = *fs_;
    auto forget = [&](const Result<Attr>& a) {
      if (a.ok()) fs.Forget(a->ino, 1);
      return a.status();
    };
    auto bytes = [&] { return std::as_bytes(std::span(op.data)); };
    switch (op.kind) {
      case Kind::kCreate: {
        auto [dp, name] = SplitPath(op.a);
        PMEMFS_ASSIGN_OR_RETURN(uint64_t dir, testing::ResolvePath(fs, dp));
        PMEMFS_ASSIGN_OR_RETURN(Attr a, fs.Create(kRoot, dir, name, 0644, O_RDWR | O_CREAT | O_EXCL));
        if (op.keep_open) {  // the open and the lookup reference stay until the close
          std::lock_guard lock(handles_mu_);
          handles_[op.handle] = a.ino;
          return Status::Ok();
        }
        Status st = fs.Release(a.ino);
        fs.Forget(a.ino, 1);
        return st;
      }
      case Kind::kWrite:
      case Kind::kAppend: {
        PMEMFS_ASSIGN_OR_RETURN(uint64_t ino, Target(op));
        uint64_t off = op.off;
        if (op.kind == Kind::kAppend) {  // O_APPEND: the kernel writes at the size it knows
          PMEMFS_ASSIGN_OR_RETURN(Attr a, fs.GetAttr(ino));
          off = a.size;
        }
        // A short write (out of space part way) is a result like any other.
        return fs.Write(kRoot, ino, off, bytes()).status();
      }
      case Kind::kTruncate: {
        PMEMFS_ASSIGN_OR_RETURN(uint64_t ino, Target(op));
        SetAttrRequest r;
        r.fields = kSetSize;
        r.size = op.off;
        return fs.SetAttr(kRoot, ino, r).status();
      }
      case Kind::kFallocate: {
        PMEMFS_ASSIGN_OR_RETURN(uint64_t ino, Target(op));
        return fs.Fallocate(ino, op.flags, op.off, op.len);
      }
      case Kind::kCopyRange: {
        PMEMFS_ASSIGN_OR_RETURN(uint64_t in, testing::ResolvePath(fs, op.a));
        PMEMFS_ASSIGN_OR_RETURN(uint64_t out, testing::ResolvePath(fs, op.b));
        // A short copy (out of space part way) is a result like any other.
        return fs.CopyFileRange(kRoot, in, op.off, out, op.to, op.len).status();
      }
      case Kind::kFsync:
      case Kind::kFdatasync: {
        PMEMFS_ASSIGN_OR_RETURN(uint64_t ino, Target(op));
        return fs.Fsync(ino, op.kind == Kind::kFdatasync);
      }
      case Kind::kClose: {
        PMEMFS_ASSIGN_OR_RETURN(uint64_t ino, Target(op));
        {
          std::lock_guard lock(handles_mu_);
          handles_.erase(op.handle);
        }
        Status st = fs.Release(ino);
        fs.Forget(ino, 1);  // an orphan's last reference: freed now
        return st;
      }
      case Kind::kSyncFs: return fs.SyncFs();
      default: break;
    }
    auto [dp, name] = SplitPath(op.a);
    PMEMFS_ASSIGN_OR_RETURN(uint64_t dir, testing::ResolvePath(fs, dp));
    switch (op.kind) {
      case Kind::kMkdir: return forget(fs.MkDir(kRoot, dir, name, 0755));
      case Kind::kSymlink: return forget(fs.Symlink(kRoot, dir, name, op.b));
      case Kind::kUnlink: return fs.Unlink(kRoot, dir, name);
      case Kind::kRmdir: return fs.RmDir(kRoot, dir, name);
      case Kind::kRename:
      case Kind::kLink: {
        auto [tdp, tname] = SplitPath(op.b);
        PMEMFS_ASSIGN_OR_RETURN(uint64_t to_dir, testing::ResolvePath(fs, tdp));
        if (op.kind == Kind::kRename) return fs.Rename(kRoot, dir, name, to_dir, tname, 0);
        PMEMFS_ASSIGN_OR_RETURN(uint64_t ino, testing::ResolvePath(fs, op.a));
        return forget(fs.Link(kRoot, ino, to_dir, tname));
      }
      case Kind::kSetXattr:
      case Kind::kRemoveXattr: {
        PMEMFS_ASSIGN_OR_RETURN(uint64_t ino, testing::ResolvePath(fs, op.a));
        if (op.kind == Kind::kRemoveXattr) return fs.RemoveXattr(kRoot, ino, op.b);
        return fs.SetXattr(kRoot, ino, op.b, bytes(), 0);
      }
      default: return Status::InvalidArgument("unknown step");
    }
  }

 private:
  std::mutex handles_mu_;  // guards handles_ (threads of the concurrent test share them)
  std::map<int, uint64_t> handles_;  // open handle -> inode
};

// ---------------------------------------------------------------------------------------------
// The test

// What the reference run recorded: the steps, their results, and (RecordedTrees) the tree after
// each prefix of them.
struct Reference : testing::RecordedTrees {
  std::vector<Op> ops;
  std::vector<Code> results;
  uint64_t points_base = 0, points_end = 0;  // persist points of the workload
  uint64_t lines_base = 0, lines_end = 0;    // flushed lines of the workload
  uint64_t nospace = 0;
};

struct Totals {
  uint64_t workloads = 0, steps = 0, nospace = 0, persist_points = 0, flushed_lines = 0;
  uint64_t at_points = 0, kept_undrained = 0, between = 0, kept_dirty = 0;
};

std::string Log(const Reference& ref, size_t upto) {
  std::ostringstream o;
  for (size_t i = 0; i < ref.ops.size() && i <= upto; i++) {
    o << "  " << i << ": " << ref.ops[i].ToString();
    if (ref.results[i] == Code::kNoSpace) o << "  [NoSpace]";
    else if (ref.results[i] != Code::kOk) o << "  [code " << static_cast<int>(ref.results[i]) << "]";
    o << (i == upto ? "   <- in flight" : "") << "\n";
  }
  return o.str();
}

// One step of a recording run: the generator's next step applied to `h`; its result, the inode
// it changes and the tree under `dir` after it go into `ref`. `dirty`, kept across the steps:
// in copy mode, the inodes whose data no fsync or syncfs acknowledged (another writer's syncfs
// also syncs this one's data: not counted, which only skips more). `who` names the run.
void RecordStep(Harness& h, Mode mode, Generator& gen, uint64_t dir, const std::string& who,
                Reference& ref, std::set<uint64_t>& dirty) {
  const size_t i = ref.ops.size();
  const Op op = gen.Next();
  const std::optional<uint64_t> ino = h.Changes(op);
  const Status st = h.Apply(op);
  gen.Done(op, st);
  ref.ops.push_back(op);
  ref.results.push_back(st.code());
  ref.target.push_back(op.is_data() ? ino : std::nullopt);
  if (st.code() == Code::kNoSpace) ref.nospace++;
  EXPECT_TRUE(st.ok() || st.code() == Code::kNoSpace)
      << who << " step " << i << " " << op.ToString() << ": " << st.message()
      << "\nworkload:\n" << Log(ref, i);
  if (mode == Mode::kCopy && ino) {
    if (op.is_data()) dirty.insert(*ino);
    if (st.ok() && (op.kind == Kind::kFsync || op.kind == Kind::kFdatasync)) dirty.erase(*ino);
  }
  if (mode == Mode::kCopy && st.ok() && op.kind == Kind::kSyncFs) dirty.clear();
  ref.trees.push_back(testing::SnapshotTree(h.fs(), dir));
  ref.unsynced.push_back(dirty);
}

// How a replay loses power.
struct Cut {
  bool at_flush = false;  // StopAtFlush(at, keep) else StopAfter(at) and Crash(keep)
  uint64_t at = 0;
  double keep = 0;
  std::string ToString() const {
    std::ostringstream o;
    if (at_flush)
      o << "cut after flushed line " << at << " keeping dirty lines " << keep;
    else
      o << "cut after persist point " << at << " keeping undrained lines " << keep;
    return o.str();
  }
};

class NearFullCrashTest : public ::testing::TestWithParam<Mode> {
 protected:
  void RunAll(const Variant& v, uint64_t seed_base) {
    prepared_ = Harness::Prepare(GetParam(), v);
    if (::testing::Test::HasFailure()) return;
    const uint64_t first = testing::EnvOr("PMEMFS_NEARFULL_SEED", 1);
    const uint64_t seeds = testing::EnvOr("PMEMFS_NEARFULL_SEEDS", 1);
    const size_t steps = testing::EnvOr("PMEMFS_NEARFULL_STEPS", 60);
    const uint64_t instants = testing::EnvOr("PMEMFS_CRASH_INSTANTS", 40);
    const double sample = testing::EnvOrD("PMEMFS_CRASH_SAMPLE", 0.25);
    Totals t;
    for (uint64_t seed = seed_base + first; seed < seed_base + first + seeds; seed++)
      if (!RunWorkload(v, seed, steps, instants, sample, t)) break;
    // The workloads must keep running out of space (or inodes) to mean anything.
    EXPECT_GE(t.nospace, t.steps / 15) << "the workloads hardly ran out of space";
    // Every state counted passed: recovered to the acknowledged tree, unmounted, fsck clean.
    std::cout << "[ near-full crash " << v.name << " " << mapping::ModeName(GetParam()) << ": "
              << t.workloads << " workloads, " << t.steps << " steps (" << t.nospace
              << " out of space), " << t.persist_points << " persist points, "
              << t.flushed_lines << " flushed lines; crash states explored: "
              << t.at_points + t.between << " = " << t.at_points << " at persist points ("
              << t.kept_undrained << " keeping undrained lines) + " << t.between
              << " between them (" << t.kept_dirty << " writing back unflushed stores) ]"
              << std::endl;
  }

 private:
  bool Record(const Variant& v, uint64_t seed, size_t steps, Reference& ref) {
    const Mode mode = GetParam();
    Harness h(mode, prepared_);
    if (::testing::Test::HasFailure()) return false;
    ref.points_base = h.sim().sim->persist_points();
    ref.lines_base = h.sim().sim->flushed_lines();
    Generator gen(seed, v.creates);
    std::set<uint64_t> dirty;
    ref.trees.push_back(testing::SnapshotTree(h.fs()));
    ref.unsynced.push_back(dirty);
    for (size_t i = 0; i < steps; i++) {
      RecordStep(h, mode, gen, kRootIno, "seed " + std::to_string(seed), ref, dirty);
      if (::testing::Test::HasFailure()) return false;
    }
    ref.points_end = h.sim().sim->persist_points();
    ref.lines_end = h.sim().sim->flushed_lines();
    if (testing::EnvOr("PMEMFS_CRASH_VERBOSE", 0))
      std::cout << "seed " << seed << ":\n" << Log(ref, ref.ops.size()) << std::flush;
    // The whole workload, then a clean unmount: also no damage without a crash.
    testing::UnmountAndCheck(h, "seed " + std::to_string(seed) + " after the whole workload");
    return !::testing::Test::HasFailure();
  }

  bool RunWorkload(const Variant& v, uint64_t seed, size_t steps, uint64_t instants,
                   double sample, Totals& totals) {
    Reference ref;
    if (!Record(v, seed, steps, ref)) return false;
    totals.workloads++;
    totals.steps += ref.ops.size();
    totals.nospace += ref.nospace;
    totals.persist_points += ref.points_end - ref.points_base;
    totals.flushed_lines += ref.lines_end - ref.lines_base;

    std::mt19937_64 rng(seed * 7919 + static_cast<int>(GetParam()));
    std::uniform_real_distribution<double> share(0.2, 0.8);
    for (uint64_t stop = ref.points_base; stop <= ref.points_end; stop++) {
      std::vector<double> keeps = {0.0};
      if (std::bernoulli_distribution(sample)(rng)) keeps.push_back(share(rng));
      for (double keep : keeps) {
        if (!CutAt(v, seed, ref, {false, stop, keep})) return false;
        totals.at_points++;
        if (keep > 0) totals.kept_undrained++;
      }
    }
    if (ref.lines_end > ref.lines_base) {
      std::uniform_int_distribution<uint64_t> line(ref.lines_base + 1, ref.lines_end);
      for (uint64_t i = 0; i < instants; i++) {
        // A third keep only what was flushed, a third some unflushed stores, a third all.
        const double keep = i % 3 == 0 ? 0.0 : i % 3 == 1 ? share(rng) : 1.0;
        if (!CutAt(v, seed, ref, {true, line(rng), keep})) return false;
        totals.between++;
        if (keep > 0) totals.kept_dirty++;
      }
    }
    return true;
  }

  bool CutAt(const Variant& v, uint64_t seed, const Reference& ref, const Cut& cut) {
    const std::string where = std::string(v.name) + " seed " + std::to_string(seed) + " " +
                              cut.ToString();
    Harness h(GetParam(), prepared_);
    if (::testing::Test::HasFailure()) return false;
    if (cut.at_flush)
      h.sim().sim->StopAtFlush(cut.at, cut.keep);
    else
      h.sim().sim->StopAfter(cut.at);
    size_t done = 0;  // steps that returned before the power failed
    for (const Op& op : ref.ops) {
      const Status st = h.Apply(op);
      if (h.sim().sim->stopped()) break;
      EXPECT_EQ(st.code(), ref.results[done])
          << where << ": step " << done << " " << op.ToString() << " gave " << st.message()
          << " (the replay differs from the reference run)\n" << Log(ref, done);
      if (::testing::Test::HasFailure()) return false;
      done++;
    }
    h.CrashAndMount(cut.at_flush ? 0.0 : cut.keep);
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << where << ": recovery failed; workload:\n" << Log(ref, done);
      return false;
    }
    // Not compared: unsynced data (copy mode) and the file a data step in flight changes.
    const std::string workload = "workload:\n" + Log(ref, done);
    if (!testing::MatchesRecorded(testing::SnapshotTree(h.fs()), ref, done, where, workload) ||
        ::testing::Test::HasFailure())
      return false;

    // A clean unmount, then the checker on the device.
    return testing::UnmountAndCheck(
        h, where + " (" + std::to_string(done) + " steps acknowledged)", workload);
  }

  mapping::testing::SimDevice prepared_;  // the filled device every run starts from a copy of
};

// Plenty of inodes, about 24 free blocks.
constexpr Variant kOutOfSpace{"space", 6ull << 20, 0, 24, 0.0};
// 12 inodes (the root and the filler among them) and room for more data.
constexpr Variant kOutOfInodes{"inodes", 6ull << 20, 12, 200, 0.25};

TEST_P(NearFullCrashTest, RunningOutOfSpace) { RunAll(kOutOfSpace, 0); }
TEST_P(NearFullCrashTest, RunningOutOfInodes) { RunAll(kOutOfInodes, 1000); }

INSTANTIATE_TEST_SUITE_P(Modes, NearFullCrashTest,
                         ::testing::Values(Mode::kDirect, Mode::kCopy, Mode::kPages),
                         [](const ::testing::TestParamInfo<Mode>& i) {
                           return std::string(mapping::ModeName(i.param));
                         });


// ---------------------------------------------------------------------------------------------
// Three writers at once, cut at random instants

// One writer's run: its steps and results, and the tree of its directory after each.
struct Writer {
  Reference log;
  size_t done = 0;  // steps that returned before the power failed (the next may be in flight)
};

class ThreeWritersCrashTest : public ::testing::TestWithParam<Mode> {
 protected:
  static constexpr int kWriters = 3;
  // The background thread commits pending write times and writes copy mode's cache back
  // meanwhile: a fourth actor.
  static constexpr uint32_t kWritebackMs = 2;

  // Runs the writers, each in its own directory of the shared filesystem, until each has made
  // `steps` steps or sees that the power failed.
  std::vector<Writer> Run(Harness& h, const Variant& v, uint64_t seed, size_t steps) {
    std::vector<Writer> w(kWriters);
    std::vector<std::thread> threads;
    for (int t = 0; t < kWriters; t++)
      threads.emplace_back([&, t] { RunWriter(h, v, seed, t, steps, w[t]); });
    for (std::thread& th : threads) th.join();
    return w;
  }

  void RunWriter(Harness& h, const Variant& v, uint64_t seed, int t, size_t steps, Writer& w) {
    const Mode mode = GetParam();
    const std::string home = "w" + std::to_string(t);
    auto home_ino = testing::ResolvePath(h.fs(), home);
    EXPECT_TRUE(home_ino.ok()) << home << ": " << home_ino.status().message();
    if (!home_ino.ok()) return;
    Generator gen(seed * 31 + t, v.creates, home, t * 100000);
    std::set<uint64_t> dirty;
    Reference& ref = w.log;
    ref.trees.push_back(testing::SnapshotTree(h.fs(), *home_ino));
    ref.unsynced.push_back(dirty);
    for (size_t i = 0; i < steps; i++) {
      RecordStep(h, mode, gen, *home_ino, "writer " + std::to_string(t), ref, dirty);
      // Returned before the power failed, or maybe not: then in flight.
      if (h.sim().sim->stopped() || ::testing::Test::HasFailure()) {
        w.done = i;
        return;
      }
    }
    w.done = steps;
  }

  // One cut: the writers run on a copy of prepared_ until the power fails, then recovery, every
  // writer's directory against its trees, unmount and the checker.
  bool CutAt(const Variant& v, uint64_t seed, size_t steps, const Cut& cut, uint64_t* nospace) {
    const std::string where = std::string(v.name) + " seed " + std::to_string(seed) + " " +
                              cut.ToString();
    Harness h(GetParam(), prepared_, kWritebackMs);
    if (::testing::Test::HasFailure()) return false;
    if (cut.at_flush)
      h.sim().sim->StopAtFlush(cut.at, cut.keep);
    else
      h.sim().sim->StopAfter(cut.at);
    std::vector<Writer> w = Run(h, v, seed, steps);
    auto logs = [&] {
      std::string o;
      for (int t = 0; t < kWriters; t++)
        o += "writer " + std::to_string(t) + " (w" + std::to_string(t) + "):\n" +
             Log(w[t].log, w[t].done);
      return o;
    };
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << where << "\n" << logs();
      return false;
    }
    for (const Writer& x : w) *nospace += x.log.nospace;
    h.CrashAndMount(cut.at_flush ? 0.0 : cut.keep);
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << where << ": recovery failed; workload:\n" << logs();
      return false;
    }
    for (int t = 0; t < kWriters; t++) {
      auto home = testing::ResolvePath(h.fs(), "w" + std::to_string(t));
      EXPECT_TRUE(home.ok()) << where << ": w" << t << ": " << home.status().message();
      if (!home.ok()) return false;
      if (!testing::MatchesRecorded(testing::SnapshotTree(h.fs(), *home), w[t].log, w[t].done,
                                    where + ": writer " + std::to_string(t), logs()) ||
          ::testing::Test::HasFailure())
        return false;
    }
    return testing::UnmountAndCheck(h, where, logs());
  }

  mapping::testing::SimDevice prepared_;
};

// A little of both: inodes and blocks run out.
constexpr Variant kThreeWriters{"three writers", 6ull << 20, 32, 80, 0.05};

TEST_P(ThreeWritersCrashTest, CutAtRandomInstants) {
  const Variant& v = kThreeWriters;
  prepared_ = Harness::Prepare(GetParam(), v, kWriters);
  ASSERT_FALSE(::testing::Test::HasFailure());
  const uint64_t first = testing::EnvOr("PMEMFS_NEARFULL_SEED", 1);
  const uint64_t seeds = testing::EnvOr("PMEMFS_NEARFULL_SEEDS", 1);
  const size_t steps = testing::EnvOr("PMEMFS_NEARFULL_STEPS", 60) * 2 / 3;  // per writer
  // Cheaper than replays: three times as many.
  const uint64_t instants = 3 * testing::EnvOr("PMEMFS_CRASH_INSTANTS", 40);
  uint64_t states = 0, between = 0, kept = 0, nospace = 0, ran = 0;
  for (uint64_t seed = first; seed < first + seeds; seed++) {
    // An uncut run: how long the workload is, and no damage without a crash either.
    uint64_t points_base, points_end, lines_base, lines_end;
    {
      Harness h(GetParam(), prepared_, kWritebackMs);
      points_base = h.sim().sim->persist_points();
      lines_base = h.sim().sim->flushed_lines();
      std::vector<Writer> w = Run(h, v, seed, steps);
      ASSERT_FALSE(::testing::Test::HasFailure());
      points_end = h.sim().sim->persist_points();
      lines_end = h.sim().sim->flushed_lines();
      for (int t = 0; t < kWriters; t++) {
        nospace += w[t].log.nospace;
        ran += w[t].log.ops.size();
        if (testing::EnvOr("PMEMFS_CRASH_VERBOSE", 0))
          std::cout << "seed " << seed << " writer " << t << ":\n"
                    << Log(w[t].log, w[t].log.ops.size()) << std::flush;
      }
      ASSERT_TRUE(h.Unmount().ok());
      ASSERT_TRUE(
          testing::FsckClean(*h.sim().dev, "seed " + std::to_string(seed) + " after the run"));
    }
    std::mt19937_64 rng(seed * 104729 + static_cast<int>(GetParam()));
    std::uniform_real_distribution<double> share(0.2, 0.8);
    for (uint64_t i = 0; i < instants; i++) {
      // Half between persist points (keeping no, some or all unflushed stores), half at one.
      Cut cut;
      cut.at_flush = i % 2 == 0;
      if (cut.at_flush) {
        cut.at = std::uniform_int_distribution<uint64_t>(lines_base + 1, lines_end)(rng);
        cut.keep = i % 6 == 0 ? 0.0 : i % 6 == 2 ? share(rng) : 1.0;
      } else {
        cut.at = std::uniform_int_distribution<uint64_t>(points_base, points_end)(rng);
        cut.keep = i % 4 == 1 ? 0.0 : share(rng);
      }
      if (!CutAt(v, seed, steps, cut, &nospace)) return;
      states++;
      between += cut.at_flush;
      kept += cut.keep > 0;
    }
  }
  EXPECT_GE(nospace, ran / 20) << "the writers hardly ran out of space";
  std::cout << "[ near-full crash, " << kWriters << " writers, " << mapping::ModeName(GetParam())
            << ": " << seeds << " workloads of " << ran / std::max<uint64_t>(seeds, 1)
            << " steps (" << nospace << " out of space over all runs); crash states explored: "
            << states << " = " << states - between << " at persist points + " << between
            << " between them (" << kept << " keeping undrained lines or unflushed stores) ]"
            << std::endl;
}

INSTANTIATE_TEST_SUITE_P(Modes, ThreeWritersCrashTest,
                         ::testing::Values(Mode::kDirect, Mode::kCopy, Mode::kPages),
                         [](const ::testing::TestParamInfo<Mode>& i) {
                           return std::string(mapping::ModeName(i.param));
                         });

}  // namespace
}  // namespace pmemfs::core
