// A full device must never damage anything (issue 9, items 1-3): in every mode, a nearly full
// filesystem runs a seeded random mix of create+write (100 B, 5 KB, 300 KB), overwrite, rename,
// link, truncate, mkdir, symlink, xattrs, unlink/rmdir and syncs until it has run out of space
// (and, in a second variant, out of inodes) many times. Every call must succeed or fail with
// NoSpace; a failed call changes nothing (a short write keeps what it wrote); the live tree must
// equal a model of it at every check; after a clean unmount and a remount the tree must still
// equal the model, and pmemfs-fsck's checker must find nothing wrong.
//
// Environment (defaults: the CI run, a few seconds per mode):
//   PMEMFS_FULL_SEEDS=N  workloads per test (default 2), seeds FIRST .. FIRST+N-1
//   PMEMFS_FULL_SEED=S   first seed (default 1)
//   PMEMFS_FULL_STEPS=M  operations per workload (default 400)
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "crash_harness.h"

namespace pmemfs::core {
namespace {

using mapping::Mode;
using testing::kRoot;
using testing::SplitPath;

std::span<const std::byte> Bytes(const std::string& s) { return std::as_bytes(std::span(s)); }

// What the tree should hold: path -> node; files' bytes by node id (nullopt: unknown after a
// failed truncate or a write that failed part way through bytes it overwrote).
struct Node {
  char type;  // 'f' file, 'd' directory, 'l' symlink
  int id;     // hard links share it
};
struct Model {
  std::map<std::string, Node> paths;  // sorted: a directory's subtree follows it
  std::map<int, std::optional<std::string>> data;
  std::map<int, std::string> targets;  // symlinks
};

class FullDevice : public testing::FsHarnessBase {
 public:
  FullDevice(Mode mode, uint64_t inodes)
      : FsHarnessBase(mode, {}, 12ull << 20, {.inode_count = inodes}) {}

  Result<uint64_t> Resolve(const std::string& path) { return testing::ResolvePath(*fs_, path); }

  // Fills the device with one file ("filler", left out of the tree) until it is full, then
  // shrinks it to leave `left` blocks free.
  void Fill(uint64_t left) { testing::FillDevice(*fs_, left); }

  // The live tree in text: path, type, links, and for files the bytes' size and content check.
  std::string Render(const Model* m) {
    std::ostringstream o;
    Walk(kRootIno, "", o, m);
    return o.str();
  }

  // Unmounts, runs the checker on the device, mounts again. Problems fail the test.
  void RemountAndCheck(const std::string& where) {
    Status st = fs_->Unmount();
    ASSERT_TRUE(st.ok()) << where << ": unmount: " << st.message();
    fs_.reset();
    d_.Reopen();
    auto r = fsck::Check(*d_.dev, {});
    ASSERT_TRUE(r.ok()) << where << ": fsck: " << r.status().message();
    std::string problems;
    for (const fsck::Problem& p : r->problems) problems += "  " + p.area + ": " + p.message + "\n";
    EXPECT_TRUE(r->clean()) << where << ": fsck found " << r->problems.size() << " problem(s):\n"
                            << problems.substr(0, 4000);
    d_.Reopen();
    Mount();
  }

 private:
  void Walk(uint64_t dir, const std::string& prefix, std::ostringstream& o, const Model* m) {
    std::map<std::string, uint64_t> kids;
    Status st = fs_->ReadDir(dir, 0, [&](const DirEntry& e) {
      if (e.name != "." && e.name != ".." && !(dir == kRootIno && e.name == "ram"))
        kids[std::string(e.name)] = e.ino;
      return true;
    });
    EXPECT_TRUE(st.ok()) << "readdir " << prefix << ": " << st.message();
    for (const auto& [name, ino] : kids) {
      const std::string path = prefix.empty() ? name : prefix + "/" + name;
      if (path == "filler") continue;
      auto a = fs_->GetAttr(ino);
      EXPECT_TRUE(a.ok()) << "getattr " << path << ": " << a.status().message();
      if (!a.ok()) continue;
      const char type = S_ISDIR(a->mode) ? 'd' : S_ISLNK(a->mode) ? 'l' : 'f';
      o << path << " " << type;
      if (type == 'f') {
        o << " nlink=" << a->nlink;
        mapping::ReadRef ref;
        Status rs = fs_->Read(ino, 0, a->size, &ref);
        EXPECT_TRUE(rs.ok()) << "read " << path << ": " << rs.message();
        const auto b = ref.ToBytes();
        EXPECT_EQ(b.size(), a->size) << path;
        // Compared with the model where it knows the bytes.
        const std::optional<std::string>* want = nullptr;
        if (m != nullptr) {
          auto it = m->paths.find(path);
          if (it != m->paths.end()) want = &m->data.at(it->second.id);
        }
        if (want == nullptr || want->has_value()) {
          o << " size=" << a->size << " bytes=" << std::hash<std::string_view>()(std::string_view(
                                                        reinterpret_cast<const char*>(b.data()),
                                                        b.size()));
        }
      } else if (type == 'l') {
        auto l = fs_->ReadLink(ino);
        EXPECT_TRUE(l.ok()) << "readlink " << path << ": " << l.status().message();
        if (l.ok()) o << " -> " << std::hash<std::string>()(*l);
      }
      auto x = fs_->ListXattr(ino);
      EXPECT_TRUE(x.ok()) << "listxattr " << path << ": " << x.status().message();
      if (x.ok())
        for (const std::string& n : *x) {
          auto v = fs_->GetXattr(ino, n);
          EXPECT_TRUE(v.ok()) << "getxattr " << path << " " << n << ": " << v.status().message();
        }
      o << "\n";
      if (type == 'd') Walk(ino, path, o, m);
    }
  }
};

// The model's tree in FullDevice::Render's form.
std::string RenderModel(const Model& m) {
  std::ostringstream o;
  std::map<int, int> links;
  for (const auto& [p, n] : m.paths) links[n.id]++;
  for (const auto& [path, n] : m.paths) {
    o << path << " " << n.type;
    if (n.type == 'f') {
      o << " nlink=" << links[n.id];
      const auto& d = m.data.at(n.id);
      if (d) o << " size=" << d->size() << " bytes=" << std::hash<std::string_view>()(*d);
    } else if (n.type == 'l') {
      o << " -> " << std::hash<std::string>()(m.targets.at(n.id));
    }
    o << "\n";
  }
  return o.str();
}

class FullDeviceTest : public ::testing::TestWithParam<Mode> {
 protected:
  // One workload; false after the first failure.
  bool Run(uint64_t seed, size_t steps, uint64_t inodes) {
    FullDevice h(GetParam(), inodes);
    h.Fill(400);  // about 1.6 MB left
    if (::testing::Test::HasFailure()) return false;

    std::mt19937_64 rng(seed);
    auto rand = [&](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
    auto chance = [&](double p) { return std::bernoulli_distribution(p)(rng); };
    Model m;
    int next_id = 1, next_name = 0;
    uint64_t nospace = 0;
    std::vector<std::string> log;

    auto paths = [&](char type) {
      std::vector<std::string> out;
      for (const auto& [p, n] : m.paths)
        if (n.type == type) out.push_back(p);
      return out;
    };
    auto pick = [&](const std::vector<std::string>& v) { return v[rand(v.size())]; };
    auto dirs = [&] {
      std::vector<std::string> d = paths('d');
      d.push_back("");
      return d;
    };
    auto new_path = [&] {
      const std::string dir = pick(dirs());
      std::string name = (chance(0.3) ? "a-longer-name-spanning-dentry-slots-" : "n") +
                         std::to_string(next_name++);
      return dir.empty() ? name : dir + "/" + name;
    };
    auto bytes = [&](size_t n) {
      std::string s(n, '\0');
      const char base = static_cast<char>('A' + rand(26));
      const uint64_t stride = 1 + rand(7);
      for (size_t i = 0; i < n; i++) s[i] = static_cast<char>(base + (i * stride) % 29);
      return s;
    };
    auto size = [&]() -> uint64_t {
      switch (rand(3)) {
        case 0: return 100;
        case 1: return 5000;
        default: return 300000;
      }
    };
    auto is_empty_dir = [&](const std::string& p) {
      auto it = m.paths.upper_bound(p + "/");
      return it == m.paths.end() || it->first.compare(0, p.size() + 1, p + "/") != 0;
    };
    // A write of `data` at `off` to node `id` that wrote `n` bytes.
    auto wrote = [&](int id, uint64_t off, const std::string& data, uint64_t n) {
      std::optional<std::string>& d = m.data[id];
      if (!d) return;
      const uint64_t old = d->size();
      if (off + n > d->size()) d->resize(off + n, '\0');
      d->replace(off, n, data.substr(0, n));
      // Bytes it overwrote in place past n may or may not have changed.
      if (n < data.size() && off + n < old) d.reset();
    };
    // Fails the test unless `st` is Ok or NoSpace; counts NoSpace.
    auto allowed = [&](const Status& st, const std::string& what) {
      log.push_back(what + ": " + (st.ok() ? "ok" : st.message()));
      if (st.code() == Code::kNoSpace) nospace++;
      EXPECT_TRUE(st.ok() || st.code() == Code::kNoSpace)
          << "seed " << seed << " step " << log.size() - 1 << " " << what << ": " << st.message();
      return st.ok();
    };
    auto dump = [&] {
      std::ostringstream o;
      const size_t from = log.size() > 40 ? log.size() - 40 : 0;
      for (size_t i = from; i < log.size(); i++) o << "  " << i << ": " << log[i] << "\n";
      return o.str();
    };
    Filesystem* fs = &h.fs();

    for (size_t step = 0; step < steps; step++) {
      const std::vector<std::string> files = paths('f');
      switch (rand(14)) {
        case 0: case 1: case 2: {  // create + write
          const std::string p = new_path();
          auto [dp, name] = SplitPath(p);
          auto dir = h.Resolve(dp);
          if (!dir.ok()) return ADD_FAILURE() << p << ": " << dir.status().message() << dump(), false;
          auto a = fs->Create(kRoot, *dir, name, 0644, O_RDWR | O_CREAT | O_EXCL);
          if (!allowed(a.status(), "create " + p)) break;
          const int id = next_id++;
          m.paths[p] = {'f', id};
          m.data[id] = std::string();
          const std::string data = bytes(size());
          auto w = fs->Write(kRoot, a->ino, 0, Bytes(data));
          if (allowed(w.status(), "write " + p + " len=" + std::to_string(data.size())))
            wrote(id, 0, data, *w);
          EXPECT_TRUE(fs->Release(a->ino).ok());
          fs->Forget(a->ino, 1);
          break;
        }
        case 3: {  // overwrite or extend
          if (files.empty()) break;
          const std::string p = pick(files);
          const int id = m.paths[p].id;
          auto ino = h.Resolve(p);
          if (!ino.ok()) return ADD_FAILURE() << p << ": " << ino.status().message() << dump(), false;
          auto a = fs->GetAttr(*ino);
          const uint64_t off = rand(a->size + 1);
          const std::string data = bytes(size());
          auto w = fs->Write(kRoot, *ino, off, Bytes(data));
          if (allowed(w.status(), "write " + p + " off=" + std::to_string(off) +
                                      " len=" + std::to_string(data.size())))
            wrote(id, off, data, *w);
          else if (off < a->size)
            m.data[id].reset();  // bytes overwritten in place before space ran out
          break;
        }
        case 4: {  // rename to a new name, or over an existing file
          std::vector<std::string> all;
          for (const auto& [p, n] : m.paths) all.push_back(p);
          if (all.empty()) break;
          const std::string from = pick(all);
          const Node node = m.paths[from];
          std::string to;
          if (node.type == 'f' && chance(0.3)) {
            std::vector<std::string> t;
            for (const std::string& f : files)
              if (m.paths[f].id != node.id) t.push_back(f);
            if (!t.empty()) to = pick(t);
          }
          if (to.empty()) to = new_path();
          if (to.compare(0, from.size() + 1, from + "/") == 0) break;  // into its own subtree
          auto [fd, fname] = SplitPath(from);
          auto [td, tname] = SplitPath(to);
          auto sdir = h.Resolve(fd), tdir = h.Resolve(td);
          if (!sdir.ok() || !tdir.ok()) return ADD_FAILURE() << "resolve" << dump(), false;
          Status st = fs->Rename(kRoot, *sdir, fname, *tdir, tname, 0);
          if (!allowed(st, "rename " + from + " -> " + to)) {
            // Nothing moved: the source is still there.
            auto still = h.Resolve(from);
            EXPECT_TRUE(still.ok()) << "seed " << seed << ": " << from
                                    << " is gone after a failed rename\n" << dump();
            (void)0;
            break;
          }
          m.paths.erase(to);
          std::map<std::string, Node> moved;
          for (auto it = m.paths.begin(); it != m.paths.end();) {
            if (it->first == from || it->first.compare(0, from.size() + 1, from + "/") == 0) {
              moved[to + it->first.substr(from.size())] = it->second;
              it = m.paths.erase(it);
            } else {
              ++it;
            }
          }
          m.paths.insert(moved.begin(), moved.end());
          break;
        }
        case 5: {  // link
          if (files.empty()) break;
          const std::string p = pick(files), to = new_path();
          auto ino = h.Resolve(p);
          auto [td, tname] = SplitPath(to);
          auto tdir = h.Resolve(td);
          if (!ino.ok() || !tdir.ok()) return ADD_FAILURE() << "resolve" << dump(), false;
          auto a = fs->Link(kRoot, *ino, *tdir, tname);
          if (allowed(a.status(), "link " + p + " -> " + to)) {
            fs->Forget(a->ino, 1);
            m.paths[to] = m.paths[p];
          }
          break;
        }
        case 6: {  // truncate
          if (files.empty()) break;
          const std::string p = pick(files);
          const int id = m.paths[p].id;
          auto ino = h.Resolve(p);
          if (!ino.ok()) return ADD_FAILURE() << "resolve" << dump(), false;
          SetAttrRequest r;
          r.fields = kSetSize;
          r.size = chance(0.5) ? rand(400000) : 0;
          auto a = fs->SetAttr(kRoot, *ino, r);
          if (allowed(a.status(), "truncate " + p + " size=" + std::to_string(r.size))) {
            if (m.data[id]) m.data[id]->resize(r.size, '\0');
          } else {
            m.data[id].reset();
          }
          break;
        }
        case 7: {  // mkdir
          const std::string p = new_path();
          auto [dp, name] = SplitPath(p);
          auto dir = h.Resolve(dp);
          if (!dir.ok()) return ADD_FAILURE() << "resolve" << dump(), false;
          auto a = fs->MkDir(kRoot, *dir, name, 0755);
          if (allowed(a.status(), "mkdir " + p)) {
            fs->Forget(a->ino, 1);
            m.paths[p] = {'d', next_id++};
          } else {
            // A failed mkdir leaves nothing behind.
            EXPECT_EQ(h.Resolve(p).status().code(), Code::kNotFound) << p << "\n" << dump();
          }
          break;
        }
        case 8: {  // symlink with its target in a block
          const std::string p = new_path();
          auto [dp, name] = SplitPath(p);
          auto dir = h.Resolve(dp);
          if (!dir.ok()) return ADD_FAILURE() << "resolve" << dump(), false;
          const std::string target = "t/" + bytes(200 + rand(300));
          auto a = fs->Symlink(kRoot, *dir, name, target);
          if (allowed(a.status(), "symlink " + p)) {
            fs->Forget(a->ino, 1);
            const int id = next_id++;
            m.paths[p] = {'l', id};
            m.targets[id] = target;
          }
          break;
        }
        case 9: {  // xattr in a block of its own
          std::vector<std::string> v = files;
          for (const std::string& d : paths('d')) v.push_back(d);
          if (v.empty()) break;
          const std::string p = pick(v);
          auto ino = h.Resolve(p);
          if (!ino.ok()) return ADD_FAILURE() << "resolve" << dump(), false;
          const std::string name = "user.x" + std::to_string(rand(3));
          if (chance(0.3)) {
            Status st = fs->RemoveXattr(kRoot, *ino, name);
            log.push_back("removexattr " + p + " " + name + ": " + st.message());
            EXPECT_TRUE(st.ok() || st.code() == Code::kNoData) << st.message() << "\n" << dump();
          } else {
            allowed(fs->SetXattr(kRoot, *ino, name, Bytes(bytes(1000)), 0),
                    "setxattr " + p + " " + name);
          }
          break;
        }
        case 10: case 11: {  // unlink or rmdir: room for the next round
          std::vector<std::string> v = files;
          for (const std::string& l : paths('l')) v.push_back(l);
          for (const std::string& d : paths('d'))
            if (is_empty_dir(d)) v.push_back(d);
          if (v.empty()) break;
          const std::string p = pick(v);
          auto [dp, name] = SplitPath(p);
          auto dir = h.Resolve(dp);
          if (!dir.ok()) return ADD_FAILURE() << "resolve" << dump(), false;
          const bool is_dir = m.paths[p].type == 'd';
          Status st = is_dir ? fs->RmDir(kRoot, *dir, name) : fs->Unlink(kRoot, *dir, name);
          if (allowed(st, (is_dir ? "rmdir " : "unlink ") + p)) m.paths.erase(p);
          break;
        }
        case 12: {
          if (files.empty() || chance(0.5)) {
            allowed(fs->SyncFs(), "syncfs");
            break;
          }
          const std::string p = pick(files);
          auto ino = h.Resolve(p);
          if (!ino.ok()) return ADD_FAILURE() << "resolve" << dump(), false;
          allowed(fs->Fsync(*ino, false), "fsync " + p);
          break;
        }
        default: {  // the live tree against the model
          const std::string got = h.Render(&m), want = RenderModel(m);
          EXPECT_EQ(got, want) << "seed " << seed << " step " << step << "\n" << dump();
          if (got != want) return false;
          break;
        }
      }
      if (::testing::Test::HasFailure()) return false;
    }
    EXPECT_GE(nospace, 10u) << "seed " << seed << ": the workload hardly ran out of space";
    const std::string where = "seed " + std::to_string(seed);
    h.RemountAndCheck(where);
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << dump();
      return false;
    }
    const std::string got = h.Render(&m), want = RenderModel(m);
    EXPECT_EQ(got, want) << where << " after remount\n" << dump();
    std::cout << "[ " << mapping::ModeName(GetParam()) << " " << where << ": " << steps
              << " steps, " << nospace << " ran out of space ]" << std::endl;
    return got == want;
  }
};

TEST_P(FullDeviceTest, RandomWorkloadRunningOutOfSpace) {
  const uint64_t first = testing::EnvOr("PMEMFS_FULL_SEED", 1);
  const uint64_t seeds = testing::EnvOr("PMEMFS_FULL_SEEDS", 2);
  const size_t steps = testing::EnvOr("PMEMFS_FULL_STEPS", 400);
  for (uint64_t seed = first; seed < first + seeds; seed++)
    if (!Run(seed, steps, 0)) break;
}

TEST_P(FullDeviceTest, RandomWorkloadRunningOutOfInodes) {
  const uint64_t first = testing::EnvOr("PMEMFS_FULL_SEED", 1);
  const uint64_t seeds = testing::EnvOr("PMEMFS_FULL_SEEDS", 2);
  const size_t steps = testing::EnvOr("PMEMFS_FULL_STEPS", 400);
  for (uint64_t seed = first; seed < first + seeds; seed++)
    if (!Run(seed + 1000, steps, 64)) break;
}

// A rename whose target directory needs a new dentry block on a full device fails with NoSpace
// and changes nothing: the source name stays, in the live filesystem and after a remount.
TEST_P(FullDeviceTest, RenameIntoAFullDirectoryKeepsTheSource) {
  FullDevice h(GetParam(), 0);
  Filesystem* fs = &h.fs();
  auto src = fs->MkDir(kRoot, kRootIno, "src", 0755);
  auto dst = fs->MkDir(kRoot, kRootIno, "dst", 0755);
  ASSERT_TRUE(src.ok() && dst.ok());
  auto make = [&](uint64_t dir, const std::string& name) {
    auto a = fs->Create(kRoot, dir, name, 0644, O_RDWR | O_CREAT | O_EXCL);
    if (!a.ok()) return a.status();
    EXPECT_TRUE(fs->Release(a->ino).ok());
    fs->Forget(a->ino, 1);
    return Status::Ok();
  };
  ASSERT_TRUE(make(src->ino, "a").ok());
  ASSERT_TRUE(make(src->ino, "b").ok());
  ASSERT_TRUE(make(dst->ino, "x0").ok());
  h.Fill(0);
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  // Fill both directories' last dentry blocks: the next name needs a block there is no room for.
  Status st;
  for (int i = 1; st.ok(); i++) st = make(dst->ino, "x" + std::to_string(i));
  ASSERT_EQ(st.code(), Code::kNoSpace) << st.message();
  st = Status::Ok();
  for (int i = 0; st.ok(); i++) st = make(src->ino, "y" + std::to_string(i));
  ASSERT_EQ(st.code(), Code::kNoSpace) << st.message();

  auto still_there = [&](const std::string& when) {
    auto a = fs->Lookup(kRoot, src->ino, "a");
    EXPECT_TRUE(a.ok()) << when << ": " << a.status().message();
    if (a.ok()) fs->Forget(a->ino, 1);
    EXPECT_EQ(fs->Lookup(kRoot, dst->ino, "moved").status().code(), Code::kNotFound) << when;
    EXPECT_EQ(fs->Lookup(kRoot, src->ino, std::string(200, 'L')).status().code(),
              Code::kNotFound) << when;
    bool listed = false;
    EXPECT_TRUE(fs->ReadDir(src->ino, 0, [&](const DirEntry& e) {
                    listed |= e.name == "a";
                    return true;
                  }).ok());
    EXPECT_TRUE(listed) << when << ": readdir lost the source name";
  };
  // Into the other directory, and within its own directory under a name needing more slots
  // than the source frees.
  st = fs->Rename(kRoot, src->ino, "a", dst->ino, "moved", 0);
  EXPECT_EQ(st.code(), Code::kNoSpace) << st.message();
  still_there("after the rename into the other directory");
  st = fs->Rename(kRoot, src->ino, "a", src->ino, std::string(200, 'L'), 0);
  EXPECT_EQ(st.code(), Code::kNoSpace) << st.message();
  still_there("after the rename within the directory");
  // The freed slot of a later removal is not mistaken for the source's.
  ASSERT_TRUE(fs->Unlink(kRoot, src->ino, "b").ok());
  ASSERT_TRUE(make(src->ino, "c").ok());
  still_there("after another name took a free slot");

  h.RemountAndCheck("after the failed renames");
  fs = &h.fs();
  still_there("after remount");
}

INSTANTIATE_TEST_SUITE_P(Modes, FullDeviceTest,
                         ::testing::Values(Mode::kDirect, Mode::kCopy, Mode::kPages),
                         [](const ::testing::TestParamInfo<Mode>& i) {
                           return std::string(mapping::ModeName(i.param));
                         });

}  // namespace
}  // namespace pmemfs::core
