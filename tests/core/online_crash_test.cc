// Power failures during an online mode switch (Filesystem::ChangeAccess, online.cc; issue 12),
// over the crash simulator (label crash).
//
// For every pair of modes (and copy -> copy with another cache size) a fixed workload runs on a
// live mount with data in flight: fsynced overwrites, overwrites and extensions not synced (in
// copy mode dirty in the DRAM cache only), a new file over blocks a deleted file left full of
// junk, then the switch, then writes in the new mode. It is replayed from a copy of one prepared
// device once per crash state:
//   - at EVERY persist point from just before the switch to the end (the drain after it never
//     happens; sampled: lines flushed but not drained kept at random), and
//   - at instants BETWEEN persist points inside the switch: after the k-th flushed cache line
//     (SimPmem::StopAtFlush), k random, some of them also writing back stores never flushed.
// After each cut the device is mounted again, in the old mode and (another run) in the new one,
// and must show:
//   - every file whose create returned; no file whose create did not start;
//   - every byte acknowledged as durable intact: what fsync covered, what direct and pages mode
//     wrote (durable when write() returns), and everything written before a switch that
//     returned (the switch writes copy mode's cache back before it swaps);
//   - no byte nobody wrote: each byte of a file is its durable value, or one a write not yet
//     acknowledged (or in flight) put there, or zero past the durable size (the junk of the
//     deleted file never shows);
//   - a clean unmount, and pmemfs-fsck's checker finds nothing wrong (the page-descriptor table
//     of pages mode matches the extents, the allocator the files).
//
// Environment:
//   PMEMFS_CRASH_INSTANTS=K   cuts between persist points per pair and remount mode (default 12)
//   PMEMFS_CRASH_SAMPLE=P     share of persist points also cut with undrained lines kept (0.25)
#include <fcntl.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "crash_harness.h"

namespace pmemfs::core {
namespace {

using mapping::Mode;
using testing::kRoot;
constexpr uint64_t kB = 4096;

// Bytes of write `seed`: never zero, and distinct from every other write's and from the junk.
std::string Pattern(uint64_t seed, uint64_t len) {
  std::string s(len, '\0');
  for (uint64_t i = 0; i < len; i++) s[i] = static_cast<char>(1 + (seed * 37 + i * 7) % 200);
  return s;
}
constexpr char kJunk = static_cast<char>(0xEE);  // what the deleted file left in its blocks

struct Step {
  enum Kind { kCreate, kWrite, kFsync, kSwitch } kind;
  std::string file;
  uint64_t off = 0, len = 0, seed = 0;
  std::string ToString() const {
    std::ostringstream o;
    switch (kind) {
      case kCreate: o << "create " << file; break;
      case kWrite: o << "write " << file << " off=" << off << " len=" << len; break;
      case kFsync: o << "fsync " << file; break;
      case kSwitch: o << "switch"; break;
    }
    return o.str();
  }
};

// The workload; "a" and "b" exist on the prepared device (fsynced), "c" and "d" are new.
std::vector<Step> Workload() {
  return {
      {Step::kWrite, "a", kB + 100, 5000, 3},      // an overwrite in place, then fsynced
      {Step::kFsync, "a"},
      {Step::kWrite, "a", 2 * kB, kB, 4},          // in place, not synced (copy: dirty)
      {Step::kWrite, "a", 6 * kB - 10, 9000, 5},   // extends, over the block holding the end
      {Step::kCreate, "c"},
      {Step::kWrite, "c", 0, 3 * kB + 7, 6},       // new blocks (the junk file's, freed)
      {Step::kWrite, "b", 50, 200, 7},
      {Step::kFsync, "b"},
      {Step::kWrite, "b", kB, 2 * kB + 300, 8},    // over the end
      {Step::kWrite, "b", 10, 20, 9},              // in place, not synced
      {Step::kSwitch},
      {Step::kWrite, "c", 100, 300, 10},           // in the new mode
      {Step::kCreate, "d"},
      {Step::kWrite, "d", 0, 2 * kB + 5, 11},
      {Step::kFsync, "c"},
      {Step::kFsync, "d"},
      {Step::kWrite, "a", 0, 64, 12},              // in place, not synced in copy mode
  };
}

// What a file may show after a crash.
struct FileModel {
  bool exists = false;   // its create returned
  std::string durable;   // acknowledged as durable
  std::string current;   // what reads show on the live mount
  struct Pending {
    uint64_t off;
    std::string data;
  };
  std::vector<Pending> pending;  // writes since `durable`, not acknowledged as durable
  void Ack() {
    durable = current;
    pending.clear();
  }
};
using Model = std::map<std::string, FileModel>;

struct Pair {
  Mode from, to;
  uint64_t to_cache = 1 << 20;  // the new cache size when `to` is copy
  std::string Name() const {
    return std::string(mapping::ModeName(from)) + "->" + mapping::ModeName(to) +
           (to_cache != (1 << 20) ? "(cache " + std::to_string(to_cache >> 10) + "K)" : "");
  }
};

void PrintTo(const Pair& p, std::ostream* os) { *os << p.Name(); }

class Harness : public testing::FsHarnessBase {
 public:
  // A fresh device with "a" and "b" fsynced and a deleted file's junk in free blocks.
  explicit Harness(Mode mode)
      : FsHarnessBase(mode, {.atime = AtimePolicy::kNoatime}, 12ull << 20) {}
  Harness(Mode mode, const mapping::testing::SimDevice& prepared)
      : FsHarnessBase(mode, {.atime = AtimePolicy::kNoatime},
                      mapping::testing::CopySimDevice(prepared)) {}

  static mapping::testing::SimDevice Prepare(Mode mode) {
    Harness h(mode);
    uint64_t junk = h.CreateFile("junk");
    h.WriteFile(junk, 0, std::string(48 * kB, kJunk));
    EXPECT_TRUE(h.fs().Fsync(junk, false).ok());
    uint64_t a = h.CreateFile("a");
    h.WriteFile(a, 0, Pattern(1, 6 * kB));
    uint64_t b = h.CreateFile("b");
    h.WriteFile(b, 0, Pattern(2, 3 * kB + 100));
    EXPECT_TRUE(h.fs().SyncFs().ok());
    for (uint64_t ino : {junk, a, b}) EXPECT_TRUE(h.fs().Release(ino).ok());
    EXPECT_TRUE(h.fs().Unlink(kRoot, kRootIno, "junk").ok());
    return testing::UnmountedCopy(h);
  }
  static Model PreparedModel() {
    Model m;
    m["a"].current = Pattern(1, 6 * kB);
    m["b"].current = Pattern(2, 3 * kB + 100);
    for (auto& [name, f] : m) {
      f.exists = true;
      f.Ack();
    }
    return m;
  }

  uint64_t CreateFile(const std::string& name) {
    auto a = fs_->Create(kRoot, kRootIno, name, 0644, O_RDWR | O_CREAT | O_EXCL);
    EXPECT_TRUE(a.ok()) << name << ": " << a.status().message();
    if (!a.ok()) return 0;
    fs_->Forget(a->ino, 1);
    return a->ino;
  }
  void WriteFile(uint64_t ino, uint64_t off, const std::string& data) {
    auto n = fs_->Write(kRoot, ino, off, std::as_bytes(std::span(data)));
    ASSERT_TRUE(n.ok()) << n.status().message();
    ASSERT_EQ(*n, data.size());
  }
  std::optional<uint64_t> Find(const std::string& name) {
    auto a = fs_->Lookup(kRoot, kRootIno, name);
    if (!a.ok()) {
      EXPECT_EQ(a.status().code(), Code::kNotFound) << name << ": " << a.status().message();
      return std::nullopt;
    }
    fs_->Forget(a->ino, 1);
    return a->ino;
  }

  // Runs `s` on the live mount (files named by `inos`, opened as they are created).
  Status Apply(const Step& s, const Pair& p, std::map<std::string, uint64_t>& inos) {
    switch (s.kind) {
      case Step::kCreate: {
        auto a = fs_->Create(kRoot, kRootIno, s.file, 0644, O_RDWR | O_CREAT | O_EXCL);
        if (!a.ok()) return a.status();
        fs_->Forget(a->ino, 1);
        inos[s.file] = a->ino;
        return Status::Ok();
      }
      case Step::kWrite: {
        const std::string data = Pattern(s.seed, s.len);
        PMEMFS_ASSIGN_OR_RETURN(uint64_t n,
                                fs_->Write(kRoot, inos.at(s.file), s.off,
                                           std::as_bytes(std::span(data))));
        return n == s.len ? Status::Ok() : Status::IoError("short write");
      }
      case Step::kFsync: return fs_->Fsync(inos.at(s.file), false);
      case Step::kSwitch:
        return fs_->ChangeAccess({.mode = p.to, .cache_size = p.to_cache},
                                 std::chrono::seconds(10));
    }
    return Status::InvalidArgument("unknown step");
  }
  // Opens the prepared files, as the workload's writes need them.
  std::map<std::string, uint64_t> OpenPrepared() {
    std::map<std::string, uint64_t> inos;
    for (const char* name : {"a", "b"}) {
      std::optional<uint64_t> ino = Find(name);
      EXPECT_TRUE(ino.has_value()) << name;
      if (!ino) continue;
      EXPECT_TRUE(fs_->Open(kRoot, *ino, O_RDWR).ok());
      inos[name] = *ino;
    }
    return inos;
  }

  // Power loss (at the stop point set), then recovery and a mount in `mode`.
  void CrashAndMountIn(Mode mode, double keep) {
    opts_.mode = mode;
    CrashAndMount(keep);
  }
};

// The model after each prefix of the workload: models[i] holds after steps [0, i) returned.
std::vector<Model> Reference(const Pair& p, const std::vector<Step>& steps) {
  std::vector<Model> models{Harness::PreparedModel()};
  Mode mode = p.from;
  for (const Step& s : steps) {
    Model m = models.back();
    switch (s.kind) {
      case Step::kCreate:
        m[s.file].exists = true;
        m[s.file].Ack();
        break;
      case Step::kWrite: {
        FileModel& f = m.at(s.file);
        const std::string data = Pattern(s.seed, s.len);
        if (f.current.size() < s.off + s.len) f.current.resize(s.off + s.len, '\0');
        f.current.replace(s.off, s.len, data);
        f.pending.push_back({s.off, data});
        if (mode != Mode::kCopy) f.Ack();  // durable when write() returns
        break;
      }
      case Step::kFsync: m.at(s.file).Ack(); break;
      case Step::kSwitch:
        for (auto& [name, f] : m) f.Ack();  // the cache went down before the swap
        mode = p.to;
        break;
    }
    models.push_back(std::move(m));
  }
  return models;
}

// What is wrong with file `name` (empty: nothing) showing `got`, by `m` with `in_flight` (a
// step that may have happened in part) on top.
std::string CheckFile(const std::string& name, const std::optional<std::string>& got,
                      const Model& m, const Step* in_flight) {
  auto it = m.find(name);
  const bool creating = in_flight && in_flight->kind == Step::kCreate && in_flight->file == name;
  if (it == m.end() || !it->second.exists) {
    if (!got) return "";
    if (!creating) return "exists, but its create never started";
    return got->empty() ? "" : "a file whose create was in flight has " +
                                   std::to_string(got->size()) + " bytes";
  }
  if (!got) return "missing, though its create returned";
  const FileModel& f = it->second;
  std::vector<FileModel::Pending> pending = f.pending;
  if (in_flight && in_flight->kind == Step::kWrite && in_flight->file == name)
    pending.push_back({in_flight->off, Pattern(in_flight->seed, in_flight->len)});
  uint64_t most = f.durable.size();
  for (const auto& p : pending) most = std::max<uint64_t>(most, p.off + p.data.size());
  if (got->size() < f.durable.size() || got->size() > most)
    return "size " + std::to_string(got->size()) + ", not in [" +
           std::to_string(f.durable.size()) + ", " + std::to_string(most) + "]";
  for (uint64_t i = 0; i < got->size(); i++) {
    const char c = (*got)[i];
    if (i < f.durable.size() ? c == f.durable[i] : c == '\0') continue;
    bool written = false;
    for (const auto& p : pending)
      if (i >= p.off && i < p.off + p.data.size() && p.data[i - p.off] == c) written = true;
    if (written) continue;
    std::ostringstream o;
    o << "byte " << i << " is 0x" << std::hex << (static_cast<unsigned>(c) & 0xff)
      << (c == kJunk ? " (the deleted file's junk)" : "") << ", durable 0x"
      << (i < f.durable.size() ? static_cast<unsigned>(f.durable[i]) & 0xff : 0u) << std::dec
      << " (durable size " << f.durable.size() << ", " << pending.size()
      << " writes not acknowledged)";
    return o.str();
  }
  return "";
}

struct Cut {
  bool at_flush = false;  // StopAtFlush(at, keep), else StopAfter(at) and Crash(keep)
  uint64_t at = 0;
  double keep = 0;
  std::string ToString() const {
    std::ostringstream o;
    o << (at_flush ? "cut after flushed line " : "cut after persist point ") << at << " keeping "
      << (at_flush ? "dirty" : "undrained") << " lines " << keep;
    return o.str();
  }
};

struct Totals {
  uint64_t at_points = 0, between = 0, switch_points = 0, switch_lines = 0;
};

class OnlineCrashTest : public ::testing::TestWithParam<Pair> {
 protected:
  void SetUp() override {
    prepared_ = Harness::Prepare(GetParam().from);
    steps_ = Workload();
    models_ = Reference(GetParam(), steps_);
  }

  // The reference run: the persist points and flushed lines around the switch.
  void Record() {
    Harness h(GetParam().from, prepared_);
    std::map<std::string, uint64_t> inos = h.OpenPrepared();
    points_base_ = h.sim().sim->persist_points();
    for (const Step& s : steps_) {
      if (s.kind == Step::kSwitch) {
        points_switch_ = h.sim().sim->persist_points();
        lines_switch_ = h.sim().sim->flushed_lines();
      }
      Status st = h.Apply(s, GetParam(), inos);
      ASSERT_TRUE(st.ok()) << s.ToString() << ": " << st.message();
      if (s.kind == Step::kSwitch) {
        ASSERT_EQ(h.fs().options().mode, GetParam().to);
        points_switched_ = h.sim().sim->persist_points();
        lines_switched_ = h.sim().sim->flushed_lines();
      }
    }
    points_end_ = h.sim().sim->persist_points();
    // Without a crash: what the live mount shows, and a clean unmount.
    for (const auto& [name, f] : models_.back()) {
      const std::string got = h.Read(inos.at(name), 0, f.current.size() + 1);
      const auto diff = std::mismatch(got.begin(), got.end(), f.current.begin(), f.current.end());
      EXPECT_TRUE(got == f.current) << name << ": " << got.size() << " bytes (" << f.current.size()
                                    << " written), the first different at "
                                    << diff.first - got.begin();
    }
    Status st = h.Unmount();
    ASSERT_TRUE(st.ok()) << st.message();
    auto report = fsck::Check(*h.sim().dev, {});
    ASSERT_TRUE(report.ok()) << report.status().message();
    for (const auto& p : report->problems) ADD_FAILURE() << p.area << ": " << p.message;
  }

  std::string Log(size_t upto) const {
    std::ostringstream o;
    for (size_t i = 0; i < steps_.size() && i <= upto; i++)
      o << "  " << i << ": " << steps_[i].ToString() << (i == upto ? "   <- in flight" : "")
        << "\n";
    return o.str();
  }

  // One crash state; false (with the failure reported) when something is wrong.
  bool CutAt(const Cut& cut, Mode remount) {
    const Pair& p = GetParam();
    const std::string where = p.Name() + ", " + cut.ToString() + ", mounted again in " +
                              mapping::ModeName(remount) + " mode";
    Harness h(p.from, prepared_);
    if (::testing::Test::HasFailure()) return false;
    std::map<std::string, uint64_t> inos = h.OpenPrepared();
    if (cut.at_flush)
      h.sim().sim->StopAtFlush(cut.at, cut.keep);
    else
      h.sim().sim->StopAfter(cut.at);
    size_t done = 0;  // steps that returned before the power failed
    for (const Step& s : steps_) {
      Status st = h.Apply(s, p, inos);
      if (h.sim().sim->stopped()) break;
      EXPECT_TRUE(st.ok()) << where << ": step " << done << " " << s.ToString() << ": "
                           << st.message();
      if (!st.ok()) return false;
      done++;
    }
    h.CrashAndMountIn(remount, cut.at_flush ? 0.0 : cut.keep);
    if (::testing::Test::HasFatalFailure()) {
      ADD_FAILURE() << where << ": recovery failed; workload:\n" << Log(done);
      return false;
    }
    const Step* in_flight = done < steps_.size() ? &steps_[done] : nullptr;
    for (const char* name : {"a", "b", "c", "d", "junk"}) {
      std::optional<std::string> got;
      if (std::optional<uint64_t> ino = h.Find(name)) {
        auto a = h.fs().GetAttr(*ino);
        EXPECT_TRUE(a.ok()) << where << ": " << name << ": " << a.status().message();
        if (!a.ok()) return false;
        got = h.Read(*ino, 0, a->size + kB);
      }
      const std::string bad = CheckFile(name, got, models_[done], in_flight);
      EXPECT_EQ(bad, "") << where << ": file " << name << " (" << done
                         << " steps returned)\nworkload:\n" << Log(done);
      if (!bad.empty()) return false;
    }
    if (::testing::Test::HasFailure()) return false;
    return testing::UnmountAndCheck(h, where + " (" + std::to_string(done) + " steps returned)",
                                    "workload:\n" + Log(done));
  }

  mapping::testing::SimDevice prepared_;
  std::vector<Step> steps_;
  std::vector<Model> models_;
  uint64_t points_base_ = 0, points_switch_ = 0, points_switched_ = 0, points_end_ = 0;
  uint64_t lines_switch_ = 0, lines_switched_ = 0;
};

TEST_P(OnlineCrashTest, EveryPersistPointOfTheSwitchKeepsWhatWasAcknowledged) {
  const Pair& p = GetParam();
  ASSERT_NO_FATAL_FAILURE(Record());
  // The switch must persist something to be worth cutting (write-back, descriptors, features).
  ASSERT_GT(points_switched_, points_switch_) << p.Name() << ": the switch persisted nothing";
  const uint64_t instants = testing::EnvOr("PMEMFS_CRASH_INSTANTS", 12);
  const double sample = testing::EnvOrD("PMEMFS_CRASH_SAMPLE", 0.25);
  std::mt19937_64 rng(static_cast<uint64_t>(p.from) * 31 + static_cast<uint64_t>(p.to) * 7 +
                      p.to_cache);
  std::uniform_real_distribution<double> share(0.2, 0.8);
  Totals t;
  t.switch_points = points_switched_ - points_switch_;
  t.switch_lines = lines_switched_ - lines_switch_;
  std::vector<Mode> remounts = {p.from};
  if (p.to != p.from) remounts.push_back(p.to);
  for (Mode remount : remounts) {
    // From the last persist point before the switch to the end of the workload.
    for (uint64_t stop = points_switch_; stop <= points_end_; stop++) {
      std::vector<double> keeps = {0.0};
      if (std::bernoulli_distribution(sample)(rng)) keeps.push_back(share(rng));
      for (double keep : keeps) {
        if (!CutAt({false, stop, keep}, remount)) return;
        t.at_points++;
      }
    }
    if (lines_switched_ > lines_switch_) {
      std::uniform_int_distribution<uint64_t> line(lines_switch_ + 1, lines_switched_);
      for (uint64_t i = 0; i < instants; i++) {
        const double keep = i % 3 == 0 ? 0.0 : i % 3 == 1 ? share(rng) : 1.0;
        if (!CutAt({true, line(rng), keep}, remount)) return;
        t.between++;
      }
    }
  }
  std::cout << "[ online switch " << p.Name() << ": the switch made " << t.switch_points
            << " persist points, " << t.switch_lines << " flushed lines; crash states explored: "
            << t.at_points + t.between << " = " << t.at_points << " at persist points + "
            << t.between << " between them ]" << std::endl;
}

INSTANTIATE_TEST_SUITE_P(
    Pairs, OnlineCrashTest,
    ::testing::Values(Pair{Mode::kCopy, Mode::kDirect}, Pair{Mode::kCopy, Mode::kPages},
                      Pair{Mode::kDirect, Mode::kCopy}, Pair{Mode::kDirect, Mode::kPages},
                      Pair{Mode::kPages, Mode::kCopy}, Pair{Mode::kPages, Mode::kDirect},
                      Pair{Mode::kCopy, Mode::kCopy, 2 << 20}),
    [](const ::testing::TestParamInfo<Pair>& i) {
      return std::string(mapping::ModeName(i.param.from)) + "To" +
             mapping::ModeName(i.param.to) + (i.param.from == i.param.to ? "Resized" : "");
    });

}  // namespace
}  // namespace pmemfs::core
