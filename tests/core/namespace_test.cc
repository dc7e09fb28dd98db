// Namespace (fs/core/namespace.h) on its own, over a Context made here the way Filesystem::Mount
// makes one: each rename step's refusals leave both directories as they were, in DRAM and on
// the device (after a reopen, with pmemfs-fsck's checker clean), and an apply step that fails
// part way (no block for the target's new dentry block, no inode for a whiteout) keeps the
// source.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "fs/core/context.h"
#include "fs/core/namespace.h"
#include "fs/core/xattrs.h"
#include "fs/store/store.h"
#include "mapping/access.h"
#include "test_support.h"
#include "tools/fsck/check.h"

namespace pmemfs::core {
namespace {

const Caller kRoot{0, 0, 022};

class NamespaceTest : public ::testing::Test {
 protected:
  explicit NamespaceTest(uint64_t inodes = 0) {
    d_ = mapping::testing::MakeSimDevice(
        {"Concat1", layout::LayoutKind::kLinear, 1, mapping::AccessPath::kLinear, 8ull << 20});
    Status st = store::Store::Format(*d_.dev, {.inode_count = inodes});
    EXPECT_TRUE(st.ok()) << st.message();
    Open();
  }
  ~NamespaceTest() override { Close(); }

  // What Filesystem::Mount does for the namespace: the mode's Access, the store, the cache
  // (its hooks free only what these tests make: inodes without blocks or chains), the root.
  void Open() {
    ctx_.opts.mode = mapping::Mode::kDirect;
    ctx_.dev = std::move(d_.dev);
    auto acc = mapping::OpenAccess(*ctx_.dev, {.mode = mapping::Mode::kDirect});
    ASSERT_TRUE(acc.ok()) << acc.status().message();
    ctx_.access = std::move(acc).value();
    auto store = store::Store::Open(*ctx_.dev, ctx_.access->descriptors());
    ASSERT_TRUE(store.ok()) << store.status().message();
    ctx_.store = std::move(store).value();
    ctx_.cache = std::make_unique<InodeCache>(
        *ctx_.store, ctx_.store->superblock().mount_count,
        InodeCache::Hooks{.free_inode = [this](const InodePtr& ip) { return FreeEmpty(*ip); },
                          .drop_contents = [](Inode&) {}});
    ctx_.ram = mapping::RamPartition::Open(*ctx_.dev);
    auto root = ctx_.cache->Get(kRootIno);
    ASSERT_TRUE(root.ok()) << root.status().message();
    ctx_.cache->Pin(*root);
  }
  // As Filesystem::Unmount: unlinked inodes still cached (a replaced file that another thread
  // held while the rename tried to evict it) are freed, then the store is closed.
  void Close() {
    if (!ctx_.store) return;
    for (const InodePtr& ip : ctx_.cache->Unlinked()) {
      std::unique_lock lock(ip->mu);
      EXPECT_TRUE(FreeEmpty(*ip).ok()) << "inode " << ip->ino;
    }
    EXPECT_TRUE(ctx_.store->Close().ok());
    ctx_.cache.reset();
    ctx_.store.reset();
    ctx_.ram.reset();
    ctx_.access.reset();
    d_.dev = std::move(ctx_.dev);
  }
  // Closes, checks the device with pmemfs-fsck's checker, opens again: every DRAM index is
  // rebuilt from what the device holds.
  void ReopenAndCheck(const std::string& when) {
    Close();
    d_.Reopen();
    auto r = fsck::Check(*d_.dev, {});
    ASSERT_TRUE(r.ok()) << when << ": fsck: " << r.status().message();
    std::string problems;
    for (const fsck::Problem& p : r->problems) problems += "  " + p.area + ": " + p.message + "\n";
    EXPECT_TRUE(r->clean()) << when << ": fsck found:\n" << problems;
    d_.Reopen();
    Open();
  }

  // An inode these tests made: a record (and an empty dentry chain at most) to free.
  Status FreeEmpty(Inode& ip) {
    store::Tx tx = ctx_.store->Begin();
    if (ip.rec.map_head != 0) ctx_.store->FreeBlocks(tx, {ip.rec.map_head, 1});
    ctx_.store->FreeInode(tx, ip.ino);
    return ctx_.Commit(tx, {&ip});
  }

  uint64_t MkDir(uint64_t parent, const std::string& name) {
    auto a = names_.MkDir(kRoot, parent, name, 0755);
    EXPECT_TRUE(a.ok()) << name << ": " << a.status().message();
    return a.ok() ? a->ino : 0;
  }
  uint64_t MkFile(uint64_t parent, const std::string& name) {
    auto a = names_.MkNod(kRoot, parent, name, S_IFREG | 0644, 0);
    EXPECT_TRUE(a.ok()) << name << ": " << a.status().message();
    return a.ok() ? a->ino : 0;
  }

  // A directory as a rename may change it: its entries, link count and mtime.
  std::string Snapshot(uint64_t dir) {
    std::string out;
    Status st = names_.ReadDir(dir, 0, [&](const DirEntry& e) {
      out += std::string(e.name) + "=" + std::to_string(e.ino) + "/" + std::to_string(e.type);
      out += " ";
      return true;
    });
    EXPECT_TRUE(st.ok()) << st.message();
    auto ip = ctx_.cache->Get(dir);
    EXPECT_TRUE(ip.ok());
    if (ip.ok())
      out += "nlink " + std::to_string((*ip)->rec.nlink) + " mtime " +
             std::to_string((*ip)->rec.mtime_ns);
    return out;
  }
  uint64_t ParentOf(uint64_t dir) {
    auto a = names_.Lookup(dir, "..");
    EXPECT_TRUE(a.ok()) << a.status().message();
    return a.ok() ? a->ino : 0;
  }

  mapping::testing::SimDevice d_;
  Context ctx_;
  Xattrs xattrs_{ctx_};
  Namespace names_{ctx_, xattrs_};
};

// Every check of the rename steps refuses without changing either directory: not in DRAM (the
// indexes, link counts and times), not on the device.
TEST_F(NamespaceTest, RenameRefusalsChangeNeitherDirectory) {
  const uint64_t src = MkDir(kRootIno, "src"), dst = MkDir(kRootIno, "dst");
  const uint64_t file = MkFile(src, "f");
  const uint64_t sub = MkDir(src, "sub");
  const uint64_t deep = MkDir(sub, "deep");
  MkFile(dst, "occupied");
  const uint64_t full = MkDir(dst, "full");
  MkFile(full, "x");
  MkDir(dst, "empty");
  ASSERT_FALSE(HasFailure());

  struct Refusal {
    const char* what;
    uint64_t parent;
    std::string name;
    uint64_t new_parent;
    std::string new_name;
    uint32_t flags;
    Code code;
  };
  const std::vector<Refusal> refusals = {
      // ResolveRename
      {"unknown flags", src, "f", dst, "n", 1u << 7, Code::kInvalidArgument},
      {"exchange with noreplace", src, "f", dst, "occupied", kRenameExchange | kRenameNoReplace,
       Code::kInvalidArgument},
      {"bad name", src, "f", dst, "a/b", 0, Code::kInvalidArgument},
      {"not a directory", file, "f", dst, "n", 0, Code::kNotDirectory},
      // CheckRenameNames
      {"no source", src, "missing", dst, "n", 0, Code::kNotFound},
      {"noreplace onto a name", src, "f", dst, "occupied", kRenameNoReplace, Code::kAlreadyExists},
      {"exchange with nothing", src, "f", dst, "nothing", kRenameExchange, Code::kNotFound},
      // CheckRenameMove
      {"into itself", src, "sub", deep, "n", 0, Code::kInvalidArgument},
      {"over its own ancestor", sub, "deep", kRootIno, "src", 0, Code::kNotEmpty},
      // CheckRenameTypes
      {"directory over a file", src, "sub", dst, "occupied", 0, Code::kNotDirectory},
      {"file over a directory", src, "f", dst, "empty", 0, Code::kIsDirectory},
      {"file over a directory, same directory", src, "f", src, "sub", 0, Code::kIsDirectory},
      // CheckRenameChildren
      {"over a non-empty directory", src, "sub", dst, "full", 0, Code::kNotEmpty},
  };
  const std::string src_before = Snapshot(src), dst_before = Snapshot(dst);
  const std::string sub_before = Snapshot(sub), root_before = Snapshot(kRootIno);
  for (const Refusal& r : refusals) {
    Status st = names_.Rename(kRoot, r.parent, r.name, r.new_parent, r.new_name, r.flags);
    EXPECT_EQ(st.code(), r.code) << r.what << ": " << st.message();
    EXPECT_EQ(Snapshot(src), src_before) << r.what;
    EXPECT_EQ(Snapshot(dst), dst_before) << r.what;
    EXPECT_EQ(Snapshot(sub), sub_before) << r.what;
    EXPECT_EQ(Snapshot(kRootIno), root_before) << r.what;
  }
  // CheckRenameChildren: an immutable source (set in DRAM only: the check reads it there).
  {
    auto ip = ctx_.cache->Get(file);
    ASSERT_TRUE(ip.ok());
    (*ip)->rec.flags |= layout::kInodeImmutable;
    Status st = names_.Rename(kRoot, src, "f", dst, "n", 0);
    EXPECT_EQ(st.code(), Code::kPermission) << st.message();
    (*ip)->rec.flags &= ~layout::kInodeImmutable;
  }
  EXPECT_EQ(Snapshot(src), src_before);
  EXPECT_EQ(Snapshot(dst), dst_before);
  EXPECT_EQ(ParentOf(sub), src);
  EXPECT_EQ(ParentOf(deep), sub);

  ReopenAndCheck("after the refused renames");
  EXPECT_EQ(Snapshot(src), src_before);
  EXPECT_EQ(Snapshot(dst), dst_before);
  EXPECT_EQ(Snapshot(sub), sub_before);
  EXPECT_EQ(ParentOf(sub), src);
}

// The lock step under contention: threads rename directories into each other's subtrees, swap
// them and move files over each other at random. Every call ends (no deadlock), refusals are
// only the ones a rename may give, and the tree stays a tree: every directory reachable from
// the root exactly once, its ".." the directory holding it, its link count 2 + its
// subdirectories; the same after a reopen, with fsck clean.
TEST_F(NamespaceTest, ConcurrentRenamesKeepTheTreeATree) {
  std::vector<uint64_t> dirs = {kRootIno};
  for (const char* top : {"a", "b", "c"}) {
    const uint64_t t = MkDir(kRootIno, top);
    ctx_.cache->Forget(MkFile(t, "keep"), 1);
    dirs.push_back(t);
    for (int i = 0; i < 4; i++) {
      const uint64_t d = MkDir(t, "n" + std::to_string(i));
      ctx_.cache->Forget(MkFile(d, "keep"), 1);  // never empty: never replaced
      dirs.push_back(d);
      ctx_.cache->Forget(MkFile(t, "f" + std::to_string(i)), 1);
    }
  }
  ASSERT_FALSE(HasFailure());
  const std::vector<std::string> pool = {"a", "b", "c", "n0", "n1", "n2", "n3",
                                         "f0", "f1", "f2", "f3"};
  const std::set<Code> allowed = {Code::kNotFound,  Code::kAlreadyExists, Code::kInvalidArgument,
                                  Code::kNotEmpty,  Code::kNotDirectory,  Code::kIsDirectory};
  const uint32_t kFlags[] = {0, 0, kRenameNoReplace, kRenameExchange};
  auto worker = [&](unsigned seed) {
    std::mt19937 rng(seed);
    for (int i = 0; i < 400; i++) {
      const uint64_t from = dirs[rng() % dirs.size()], to = dirs[rng() % dirs.size()];
      const uint32_t flags = kFlags[rng() % 4];
      Status st = names_.Rename(kRoot, from, pool[rng() % pool.size()], to,
                                pool[rng() % pool.size()], flags);
      EXPECT_TRUE(st.ok() || allowed.count(st.code())) << st.message();
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; t++) threads.emplace_back(worker, 1000 + t);
  for (std::thread& t : threads) t.join();

  auto check_tree = [&](const std::string& when) {
    std::set<uint64_t> seen;
    std::function<void(uint64_t, uint64_t)> walk = [&](uint64_t dir, uint64_t parent) {
      EXPECT_TRUE(seen.insert(dir).second) << when << ": directory " << dir << " reached twice";
      EXPECT_EQ(ParentOf(dir), parent) << when << ": '..' of " << dir;
      std::vector<uint64_t> kids;
      EXPECT_TRUE(names_.ReadDir(dir, 2, [&](const DirEntry& e) {
                    if (e.type == DT_DIR) kids.push_back(e.ino);
                    return true;
                  }).ok());
      EXPECT_EQ((*ctx_.cache->Get(dir))->rec.nlink, 2 + kids.size())
          << when << ": nlink of " << dir;
      for (uint64_t k : kids)
        if (!seen.count(k)) walk(k, dir);
    };
    walk(kRootIno, kRootIno);
    EXPECT_EQ(seen.size(), dirs.size()) << when << ": directories cut off from the root";
  };
  check_tree("after the renames");
  ReopenAndCheck("after the concurrent renames");
  check_tree("after reopening");
}

// Two names of one inode: nothing to do, nothing changes (not even the times).
TEST_F(NamespaceTest, RenameBetweenTwoNamesOfOneInodeChangesNothing) {
  const uint64_t dir = MkDir(kRootIno, "d");
  const uint64_t f = MkFile(dir, "a");
  ASSERT_TRUE(names_.Link(f, kRootIno, "b").ok());
  const std::string dir_before = Snapshot(dir), root_before = Snapshot(kRootIno);
  EXPECT_TRUE(names_.Rename(kRoot, dir, "a", kRootIno, "b", 0).ok());
  EXPECT_EQ(Snapshot(dir), dir_before);
  EXPECT_EQ(Snapshot(kRootIno), root_before);
}

// The apply step: moves and exchanges set the records, the parents and the link counts, which a
// reopen reads back from the device.
TEST_F(NamespaceTest, RenameAppliesMovesAndExchanges) {
  const uint64_t a = MkDir(kRootIno, "a"), b = MkDir(kRootIno, "b");
  const uint64_t da = MkDir(a, "da");
  const uint64_t db = MkDir(b, "db");
  const uint64_t f = MkFile(a, "f");
  ASSERT_TRUE(names_.Rename(kRoot, a, "da", b, "moved", 0).ok());
  EXPECT_EQ(ParentOf(da), b);
  ASSERT_TRUE(names_.Rename(kRoot, b, "moved", a, "f", kRenameExchange).ok());
  EXPECT_EQ(ParentOf(da), a);
  EXPECT_EQ(names_.Lookup(b, "moved")->ino, f);
  ASSERT_TRUE(names_.Rename(kRoot, b, "db", a, "x", kRenameWhiteout).ok());
  EXPECT_EQ(ParentOf(db), a);
  auto wh = names_.Lookup(b, "db");
  ASSERT_TRUE(wh.ok()) << wh.status().message();
  EXPECT_EQ(wh->mode, static_cast<uint32_t>(S_IFCHR));
  // a: da (as "f"), db (as "x"); b: f (as "moved"), the whiteout.
  auto nlink = [&](uint64_t ino) { return (*ctx_.cache->Get(ino))->rec.nlink; };
  EXPECT_EQ(nlink(a), 4u);
  EXPECT_EQ(nlink(b), 2u);
  const std::string a_after = Snapshot(a), b_after = Snapshot(b);
  ReopenAndCheck("after the renames");
  EXPECT_EQ(Snapshot(a), a_after);
  EXPECT_EQ(Snapshot(b), b_after);
  EXPECT_EQ(ParentOf(da), a);
  EXPECT_EQ(ParentOf(db), a);
}

// Takes every free data block in a Tx of its own (the device is full until Release).
class Filler {
 public:
  explicit Filler(store::Store& s) : s_(s) {
    store::Tx tx = s_.Begin();
    for (;;) {
      auto r = s_.AllocBlocks(tx, 64, 0);
      if (!r.ok() || r->count == 0) break;
      taken_.push_back(*r);
    }
    EXPECT_TRUE(s_.Commit(tx).ok());
  }
  void Release() {
    store::Tx tx = s_.Begin();
    for (const store::BlockRange& r : taken_) s_.FreeBlocks(tx, r);
    EXPECT_TRUE(s_.Commit(tx).ok());
    taken_.clear();
  }

 private:
  store::Store& s_;
  std::vector<store::BlockRange> taken_;
};

// The apply step fails after the source name left sdir's index (the target directory needs a
// dentry block and there is none): both indexes reload, the source stays, the moved directory
// keeps its parent, in DRAM and on the device.
TEST_F(NamespaceTest, RenameIntoAFullDirectoryKeepsBothDirectories) {
  const uint64_t src = MkDir(kRootIno, "src"), dst = MkDir(kRootIno, "dst");
  const uint64_t moving = MkDir(src, "moving");
  MkFile(src, "file");
  MkFile(dst, "x0");
  ASSERT_FALSE(HasFailure());
  Filler filler(*ctx_.store);
  Status st;
  for (int i = 1; st.ok(); i++)
    st = names_.MkNod(kRoot, dst, "x" + std::to_string(i), S_IFREG, 0).status();
  ASSERT_EQ(st.code(), Code::kNoSpace) << st.message();

  const std::string src_before = Snapshot(src), dst_before = Snapshot(dst);
  st = names_.Rename(kRoot, src, "moving", dst, "moved", 0);
  EXPECT_EQ(st.code(), Code::kNoSpace) << st.message();
  st = names_.Rename(kRoot, src, "file", dst, "moved", 0);
  EXPECT_EQ(st.code(), Code::kNoSpace) << st.message();
  EXPECT_EQ(Snapshot(src), src_before);
  EXPECT_EQ(Snapshot(dst), dst_before);
  EXPECT_EQ(names_.Lookup(dst, "moved").status().code(), Code::kNotFound);
  EXPECT_EQ(ParentOf(moving), src);

  filler.Release();
  ReopenAndCheck("after the failed renames");
  EXPECT_EQ(Snapshot(src), src_before);
  EXPECT_EQ(Snapshot(dst), dst_before);
  EXPECT_EQ(ParentOf(moving), src);
  // With room again, the same rename goes through.
  ASSERT_TRUE(names_.Rename(kRoot, src, "moving", dst, "moved", 0).ok());
  EXPECT_EQ(ParentOf(moving), dst);
}

class NamespaceFewInodesTest : public NamespaceTest {
 protected:
  NamespaceFewInodesTest() : NamespaceTest(64) {}
};

// A whiteout needs an inode: with none left the rename fails and the source stays.
TEST_F(NamespaceFewInodesTest, WhiteoutWithoutAnInodeKeepsTheSource) {
  const uint64_t dir = MkDir(kRootIno, "d");
  const uint64_t f = MkFile(dir, "f");
  Status st;
  for (int i = 0; st.ok(); i++)
    st = names_.MkNod(kRoot, kRootIno, "n" + std::to_string(i), S_IFREG, 0).status();
  ASSERT_EQ(st.code(), Code::kNoSpace) << st.message();
  const std::string dir_before = Snapshot(dir), root_before = Snapshot(kRootIno);
  st = names_.Rename(kRoot, dir, "f", kRootIno, "g", kRenameWhiteout);
  EXPECT_EQ(st.code(), Code::kNoSpace) << st.message();
  EXPECT_EQ(Snapshot(dir), dir_before);
  EXPECT_EQ(Snapshot(kRootIno), root_before);
  ReopenAndCheck("after the failed whiteout");
  EXPECT_EQ(names_.Lookup(dir, "f")->ino, f);
  EXPECT_EQ(Snapshot(kRootIno), root_before);
}

}  // namespace
}  // namespace pmemfs::core
