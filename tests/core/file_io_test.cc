// The data path of fs/core (data_path.cc) over the crash simulator, in every mode: reads and
// writes at any alignment, holes, truncate, fallocate, SEEK_DATA/SEEK_HOLE, copy_file_range
// (pages: shared pages, copy-on-write), ENOSPC, setuid clearing, atime policies, RAM files,
// and crashes in the middle of writes and split truncates.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "fs_harness.h"

namespace pmemfs::core {
namespace {

using mapping::Mode;

using testing::kRoot;
const Caller kUser{1000, 1000, 022};
constexpr uint64_t kB = 4096;
// st_blocks (512-byte units) of a persistent file with `data` blocks and a one-block extent chain.
constexpr uint64_t Units(uint64_t data, uint64_t chain = 1) { return (data + chain) * 8; }

std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  std::mt19937 rng(seed);
  for (auto& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

class Harness : public testing::FsHarnessBase {
 public:
  using FsHarnessBase::FsHarnessBase;

  // A new file in `dir`, left open (Release it, or let the harness unmount).
  uint64_t Create(const std::string& name, uint64_t dir = kRootIno, uint32_t mode = 0644,
                  const Caller& c = kRoot) {
    auto a = fs_->Create(c, dir, name, mode, O_RDWR);
    EXPECT_TRUE(a.ok()) << a.status().message();
    return a.ok() ? a->ino : 0;
  }
  uint64_t Lookup(const std::string& name, uint64_t dir = kRootIno) {
    auto a = fs_->Lookup(kRoot, dir, name);
    EXPECT_TRUE(a.ok()) << name << ": " << a.status().message();
    return a.ok() ? a->ino : 0;
  }
  void Write(uint64_t ino, uint64_t off, const std::string& data, const Caller& c = kRoot) {
    auto w = fs_->Write(c, ino, off, std::as_bytes(std::span(data)));
    ASSERT_TRUE(w.ok()) << w.status().message();
    ASSERT_EQ(*w, data.size());
  }
  Attr Stat(uint64_t ino) {
    auto a = fs_->GetAttr(ino);
    EXPECT_TRUE(a.ok()) << a.status().message();
    return a.ok() ? *a : Attr{};
  }
  void Truncate(uint64_t ino, uint64_t size, const Caller& c = kRoot) {
    SetAttrRequest r;
    r.fields = kSetSize;
    r.size = size;
    auto a = fs_->SetAttr(c, ino, r);
    ASSERT_TRUE(a.ok()) << a.status().message();
    ASSERT_EQ(a->size, size);
  }
  // Free blocks once the root directory has its first dentry block (which stays): the level
  // that deleting every file created afterwards returns to.
  uint64_t Baseline() {
    Create("anchor");
    return FreeBlocks();
  }
  uint64_t FreeBlocks() {
    auto s = fs_->StatFs();
    EXPECT_TRUE(s.ok());
    return s.ok() ? s->free_blocks : 0;
  }
  // Removes a file completely (name, open and lookup references).
  void Delete(const std::string& name, uint64_t ino, uint64_t dir = kRootIno, uint64_t opens = 1,
              uint64_t lookups = 1) {
    ASSERT_TRUE(fs_->Unlink(kRoot, dir, name).ok());
    for (uint64_t i = 0; i < opens; i++) ASSERT_TRUE(fs_->Release(ino).ok());
    fs_->Forget(ino, lookups);
  }
};

class FileIoTest : public ::testing::TestWithParam<Mode> {};

std::string ModeParamName(const ::testing::TestParamInfo<Mode>& i) {
  return mapping::ModeName(i.param);
}

TEST_P(FileIoTest, WritesAtAnyAlignmentReadBack) {
  Harness h(GetParam());
  uint64_t f = h.Create("f");
  std::string model;
  std::mt19937 rng(7);
  for (int i = 0; i < 60; i++) {
    const uint64_t off = rng() % (300 * 1024), len = 1 + rng() % 20000;
    const std::string data = Pattern(len, i);
    h.Write(f, off, data);
    if (model.size() < off + len) model.resize(off + len, '\0');
    model.replace(off, len, data);
  }
  EXPECT_EQ(h.Stat(f).size, model.size());
  EXPECT_EQ(h.Read(f, 0, model.size() + 100), model);
  EXPECT_EQ(h.Read(f, 4095, 2), model.substr(4095, 2));
  EXPECT_EQ(h.Read(f, model.size(), 10), "");
  ASSERT_TRUE(h.fs().Fsync(f, false).ok());
  h.Remount();
  f = h.Lookup("f");
  EXPECT_EQ(h.Read(f, 0, model.size()), model);
}

TEST_P(FileIoTest, HolesReadAsZerosAndSeek) {
  Harness h(GetParam());
  uint64_t f = h.Create("sparse");
  h.Write(f, 100 * kB, "data");
  h.Write(f, 300 * kB + 10, "more");
  const uint64_t size = 300 * kB + 14;
  EXPECT_EQ(h.Stat(f).size, size);
  EXPECT_EQ(h.Stat(f).blocks, Units(2));
  EXPECT_EQ(h.Read(f, 0, 8192), std::string(8192, '\0'));
  std::string expect = std::string(4, '\0') + "data" + std::string(kB, '\0');
  EXPECT_EQ(h.Read(f, 100 * kB - 4, kB + 8), expect);
  // A read across two holes and two blocks.
  std::string all = h.Read(f, 0, size);
  ASSERT_EQ(all.size(), size);
  EXPECT_EQ(all.substr(100 * kB, 4), "data");
  EXPECT_EQ(all.substr(300 * kB + 10, 4), "more");
  EXPECT_EQ(std::count(all.begin(), all.end(), '\0'), static_cast<long>(size - 8));

  Filesystem& fs = h.fs();
  EXPECT_EQ(fs.Lseek(f, 0, SEEK_DATA).value(), 100 * kB);
  EXPECT_EQ(fs.Lseek(f, 100 * kB + 5, SEEK_DATA).value(), 100 * kB + 5);
  EXPECT_EQ(fs.Lseek(f, 101 * kB, SEEK_DATA).value(), 300 * kB);
  EXPECT_EQ(fs.Lseek(f, 0, SEEK_HOLE).value(), 0u);
  EXPECT_EQ(fs.Lseek(f, 100 * kB, SEEK_HOLE).value(), 101 * kB);
  EXPECT_EQ(fs.Lseek(f, 300 * kB, SEEK_HOLE).value(), size);  // the implicit hole at EOF
  EXPECT_EQ(fs.Lseek(f, size, SEEK_DATA).status().code(), Code::kRange);  // ENXIO
  EXPECT_EQ(fs.Lseek(f, size, SEEK_HOLE).status().code(), Code::kRange);
  EXPECT_EQ(fs.Lseek(f, 0, SEEK_END).status().code(), Code::kInvalidArgument);
}

TEST_P(FileIoTest, TruncateFreesBlocksAndZeroesWhatItExposes) {
  Harness h(GetParam());
  const uint64_t free0 = h.Baseline();
  uint64_t f = h.Create("t");
  h.Write(f, 0, std::string(10000, 'a'));
  EXPECT_LT(h.FreeBlocks(), free0);
  h.Truncate(f, 5000);
  EXPECT_EQ(h.Stat(f).blocks, Units(2));
  h.Truncate(f, 12000);  // the old bytes after 5000 must not come back
  EXPECT_EQ(h.Read(f, 0, 12000), std::string(5000, 'a') + std::string(7000, '\0'));
  h.Truncate(f, 4000);
  h.Write(f, 6000, "x");  // a gap inside the old last block
  EXPECT_EQ(h.Read(f, 0, 6001), std::string(4000, 'a') + std::string(2000, '\0') + "x");
  h.Truncate(f, 0);
  EXPECT_EQ(h.Stat(f).blocks, 0u);
  h.Truncate(f, 1ull << 40);  // 1 TiB, sparse
  EXPECT_EQ(h.Read(f, (1ull << 40) - 3, 10), std::string(3, '\0'));
  h.Write(f, (1ull << 40) - 1, "!");
  EXPECT_EQ(h.Read(f, (1ull << 40) - 1, 1), "!");
  h.Remount();
  f = h.Lookup("t");
  EXPECT_EQ(h.Stat(f).size, 1ull << 40);
  EXPECT_EQ(h.Read(f, (1ull << 40) - 1, 1), "!");
  h.Delete("t", f, kRootIno, 0);
  EXPECT_EQ(h.FreeBlocks(), free0);
}

TEST_P(FileIoTest, OpenWithTruncEmptiesTheFile) {
  Harness h(GetParam());
  uint64_t f = h.Create("o");
  h.Write(f, 0, std::string(50000, 'o'));
  ASSERT_TRUE(h.fs().Release(f).ok());
  const Attr before = h.Stat(f);
  ASSERT_TRUE(h.fs().Open(kRoot, f, O_WRONLY | O_TRUNC).ok());
  const Attr after = h.Stat(f);
  EXPECT_EQ(after.size, 0u);
  EXPECT_EQ(after.blocks, 0u);
  EXPECT_GE(after.mtime.tv_sec * 1000000000ll + after.mtime.tv_nsec,
            before.mtime.tv_sec * 1000000000ll + before.mtime.tv_nsec);
  ASSERT_TRUE(h.fs().Release(f).ok());
  EXPECT_EQ(h.fs().Open(kRoot, kRootIno, O_WRONLY).code(), Code::kIsDirectory);
}

TEST_P(FileIoTest, WriteByNonRootClearsSetuidAndSetgid) {
  Harness h(GetParam());
  uint64_t f = h.Create("s", kRootIno, 0777);
  SetAttrRequest r;
  r.fields = kSetMode;
  r.mode = 06775;
  ASSERT_TRUE(h.fs().SetAttr(kRoot, f, r).ok());
  h.Write(f, 0, "root keeps them");
  EXPECT_EQ(h.Stat(f).mode & 07777, 06775u);
  h.Write(f, 0, "user", kUser);
  EXPECT_EQ(h.Stat(f).mode & 07777, 0775u);
  // setgid without group execute is not a privilege: it stays.
  r.mode = 02764;
  ASSERT_TRUE(h.fs().SetAttr(kRoot, f, r).ok());
  h.Write(f, 0, "user", kUser);
  EXPECT_EQ(h.Stat(f).mode & 07777, 02764u);
}

TEST_P(FileIoTest, FallocateModes) {
  Harness h(GetParam());
  Filesystem& fs = h.fs();
  uint64_t f = h.Create("fa");
  // Default: allocates and grows.
  ASSERT_TRUE(fs.Fallocate(f, 0, 0, 10 * kB).ok());
  EXPECT_EQ(h.Stat(f).size, 10 * kB);
  EXPECT_EQ(h.Stat(f).blocks, Units(10));
  EXPECT_EQ(h.Read(f, 0, 10 * kB), std::string(10 * kB, '\0'));
  // KEEP_SIZE: blocks past EOF, size unchanged; they read as zeros once the size covers them.
  ASSERT_TRUE(fs.Fallocate(f, FALLOC_FL_KEEP_SIZE, 10 * kB, 6 * kB).ok());
  EXPECT_EQ(h.Stat(f).size, 10 * kB);
  EXPECT_EQ(h.Stat(f).blocks, Units(16));
  EXPECT_EQ(h.fs().Lseek(f, 9 * kB, SEEK_HOLE).value(), 10 * kB);
  // Data, then punch a hole with ragged edges.
  h.Write(f, 0, std::string(10 * kB, 'd'));
  ASSERT_TRUE(fs.Fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1000, 3 * kB + 500).ok());
  EXPECT_EQ(h.Read(f, 0, 5 * kB),
            std::string(1000, 'd') + std::string(3 * kB + 500, '\0') +
                std::string(5 * kB - 1000 - 3 * kB - 500, 'd'));
  EXPECT_EQ(h.Stat(f).blocks, Units(14));  // blocks 1 and 2 went; 0 and 3 were zeroed in part
  EXPECT_EQ(h.Stat(f).size, 10 * kB);
  // Zero range: zeros, allocated, and the size grows unless KEEP_SIZE.
  ASSERT_TRUE(fs.Fallocate(f, FALLOC_FL_ZERO_RANGE, 5 * kB + 7, 7 * kB).ok());
  EXPECT_EQ(h.Stat(f).size, 12 * kB + 7);
  EXPECT_EQ(h.Read(f, 5 * kB, 7), std::string(7, 'd'));
  EXPECT_EQ(h.Read(f, 5 * kB + 7, 7 * kB), std::string(7 * kB, '\0'));
  // Refusals.
  EXPECT_EQ(fs.Fallocate(f, FALLOC_FL_PUNCH_HOLE, 0, kB).code(), Code::kUnsupported);
  EXPECT_EQ(fs.Fallocate(f, FALLOC_FL_COLLAPSE_RANGE, 0, kB).code(), Code::kUnsupported);
  EXPECT_EQ(fs.Fallocate(f, 0, 0, 0).code(), Code::kInvalidArgument);
  EXPECT_EQ(fs.Fallocate(kRootIno, 0, 0, kB).code(), Code::kIsDirectory);
  const uint64_t free = h.FreeBlocks();
  EXPECT_EQ(fs.Fallocate(f, 0, 0, 1ull << 40).code(), Code::kNoSpace);
  EXPECT_EQ(h.FreeBlocks(), free);
  EXPECT_EQ(h.Stat(f).size, 12 * kB + 7);
  h.Remount();
  f = h.Lookup("fa");
  EXPECT_EQ(h.Stat(f).blocks, Units(14));
  EXPECT_EQ(h.Read(f, 0, 1001), std::string(1000, 'd') + '\0');
}

TEST_P(FileIoTest, CopyFileRange) {
  Harness h(GetParam());
  Filesystem& fs = h.fs();
  const std::string data = Pattern(100000, 3);
  uint64_t a = h.Create("a"), b = h.Create("b");
  h.Write(a, 0, data);
  // Unaligned: a real copy.
  auto n = fs.CopyFileRange(kRoot, a, 10, b, 3, 50000);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(*n, 50000u);
  EXPECT_EQ(h.Stat(b).size, 50003u);
  EXPECT_EQ(h.Read(b, 3, 50000), data.substr(10, 50000));
  EXPECT_EQ(h.Read(b, 0, 3), std::string(3, '\0'));
  // Clamped at the source's end; nothing past it.
  n = fs.CopyFileRange(kRoot, a, 90000, b, 0, 1 << 20);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 10000u);
  EXPECT_EQ(fs.CopyFileRange(kRoot, a, 100000, b, 0, 10).value(), 0u);
  // Within one file: overlapping is refused, disjoint works.
  EXPECT_EQ(fs.CopyFileRange(kRoot, a, 0, a, 4096, 8192).status().code(), Code::kInvalidArgument);
  n = fs.CopyFileRange(kRoot, a, 0, a, 200000, 8192);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(h.Read(a, 200000, 8192), data.substr(0, 8192));
  EXPECT_EQ(h.Read(a, 0, 100000), data);
  // Holes stay holes.
  uint64_t s = h.Create("s"), t = h.Create("t");
  h.Write(s, 5 << 20, "end");
  ASSERT_EQ(fs.CopyFileRange(kRoot, s, 0, t, 0, (5 << 20) + 3).value(), (5u << 20) + 3);
  EXPECT_EQ(h.Stat(t).size, (5u << 20) + 3);
  EXPECT_EQ(h.Stat(t).blocks, Units(1));
  EXPECT_EQ(h.Read(t, 5 << 20, 3), "end");
}

TEST_P(FileIoTest, RamFilesUseTheRamPartition) {
  Harness h(GetParam());
  const uint64_t ram = h.Lookup("ram");
  const uint64_t free0 = h.Baseline();
  uint64_t f = h.Create("v", ram);
  const std::string data = Pattern(70000, 9);
  h.Write(f, 5, data);
  EXPECT_EQ(h.Read(f, 0, 70005), std::string(5, '\0') + data);
  EXPECT_EQ(h.FreeBlocks(), free0 - 18);
  h.Truncate(f, 6000);
  h.Truncate(f, 9000);
  EXPECT_EQ(h.Read(f, 0, 9000), std::string(5, '\0') + data.substr(0, 5995) + std::string(3000, '\0'));
  ASSERT_TRUE(h.fs().Fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, kB).ok());
  EXPECT_EQ(h.fs().Lseek(f, 0, SEEK_DATA).value(), kB);
  ASSERT_TRUE(h.fs().Fallocate(f, 0, 0, 100 * kB).ok());
  EXPECT_EQ(h.Stat(f).blocks, 100u * 8);
  uint64_t g = h.Create("w", ram);
  ASSERT_EQ(h.fs().CopyFileRange(kRoot, f, 4096, g, 0, 4096).value(), 4096u);
  EXPECT_EQ(h.Read(g, 0, 4096), h.Read(f, 4096, 4096));
  h.Delete("v", f, ram);
  h.Delete("w", g, ram);
  EXPECT_EQ(h.FreeBlocks(), free0);
}

TEST_P(FileIoTest, FullDeviceGivesShortWritesThenNoSpaceAndStaysUsable) {
  Harness h(GetParam(), {}, 8ull << 20);
  const uint64_t free0 = h.Baseline();
  uint64_t f = h.Create("big");
  const std::string chunk = Pattern(256 * 1024, 1);
  uint64_t off = 0;
  bool short_write = false;
  for (int i = 0; i < 200; i++) {
    auto w = h.fs().Write(kRoot, f, off, std::as_bytes(std::span(chunk)));
    if (!w.ok()) {
      EXPECT_EQ(w.status().code(), Code::kNoSpace);
      break;
    }
    off += *w;
    if (*w < chunk.size()) short_write = true;
  }
  EXPECT_TRUE(short_write || h.FreeBlocks() <= 1);
  EXPECT_EQ(h.Stat(f).size, off);
  // What was acknowledged is there, intact.
  std::string got = h.Read(f, 0, off);
  for (uint64_t at = 0; at < off; at += chunk.size()) {
    const uint64_t n = std::min<uint64_t>(chunk.size(), off - at);
    ASSERT_EQ(got.compare(at, n, chunk, 0, n), 0) << "at " << at;
  }
  // Deleting frees everything; the filesystem works again.
  h.Delete("big", f);
  EXPECT_EQ(h.FreeBlocks(), free0);
  uint64_t g = h.Create("after");
  h.Write(g, 0, "still works");
  h.Remount();
  EXPECT_EQ(h.Read(h.Lookup("after"), 0, 11), "still works");
}

// A read reply (direct/pages: pointers into the device) keeps its blocks while the kernel
// copies it: a truncate frees them, but no other file gets them until the reply is released
// (copy mode replies from its own buffer). Filling the device with another file would
// otherwise reuse them.
TEST_P(FileIoTest, AReadInFlightKeepsItsBlocksFromOtherFiles) {
  Harness h(GetParam(), {}, 8ull << 20);
  Filesystem& fs = h.fs();
  const uint64_t free0 = h.Baseline();
  const std::string a(64 * kB, 'A');
  uint64_t f = h.Create("a");
  h.Write(f, 0, a);
  mapping::ReadRef reply;
  ASSERT_TRUE(fs.Read(f, 0, a.size(), &reply).ok());
  h.Truncate(f, 0);
  uint64_t g = h.Create("b");
  const std::string b(64 * kB, 'B');
  uint64_t off = 0;
  for (;;) {
    auto w = fs.Write(kRoot, g, off, std::as_bytes(std::span(b)));
    if (!w.ok()) {
      ASSERT_EQ(w.status().code(), Code::kNoSpace);
      break;
    }
    off += *w;
  }
  const std::vector<std::byte> got = reply.ToBytes();
  ASSERT_EQ(got.size(), a.size());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(got.data()), got.size()), a);
  // Released, the blocks are free for the next allocation (copy mode pinned nothing: b has
  // them already).
  reply.Release();
  if (GetParam() != Mode::kCopy) {
    auto w = fs.Write(kRoot, g, off, std::as_bytes(std::span(b)));
    ASSERT_TRUE(w.ok()) << w.status().message();
    EXPECT_EQ(*w, b.size());
  }
  h.Delete("a", f);
  h.Delete("b", g);
  EXPECT_EQ(h.FreeBlocks(), free0);
}

// The same as a race: readers hold replies of file a for a while, a truncator empties and
// rewrites a, a writer rewrites file b on a nearly full device. No reply ever shows a byte of b.
TEST_P(FileIoTest, ReadTruncateWriteRaceNeverShowsAnotherFilesBytes) {
  Harness h(GetParam(), {}, 8ull << 20);
  Filesystem& fs = h.fs();
  const std::string a(32 * kB, 'A'), b(32 * kB, 'B');
  uint64_t fa = h.Create("a"), fb = h.Create("b");
  h.Write(fa, 0, a);
  // Most of the device is taken, so b's allocations come back to the blocks a just freed.
  uint64_t fill = h.Create("fill");
  const std::string f(64 * kB, 'F');
  for (uint64_t off = 0;; off += 64 * kB) {
    auto w = fs.Write(kRoot, fill, off, std::as_bytes(std::span(f)));
    if (!w.ok() || *w < 64 * kB) break;
  }
  h.Truncate(fill, std::max<uint64_t>(h.Stat(fill).size, 256 * kB) - 256 * kB);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> foreign{0}, replies{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; r++) {
    threads.emplace_back([&] {
      while (!stop.load()) {
        mapping::ReadRef reply;
        if (!fs.Read(fa, 0, a.size(), &reply).ok()) continue;
        std::this_thread::yield();  // the kernel copying the reply
        for (std::byte c : reply.ToBytes())
          if (c != std::byte{'A'} && c != std::byte{0}) foreign++;
        replies++;
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 300; i++) {
      h.Truncate(fa, 0);
      auto w = fs.Write(kRoot, fa, 0, std::as_bytes(std::span(a)));
      EXPECT_TRUE(w.ok() || w.status().code() == Code::kNoSpace);
    }
  });
  threads.emplace_back([&] {
    for (int i = 0; i < 300; i++) {
      h.Truncate(fb, 0);
      auto w = fs.Write(kRoot, fb, 0, std::as_bytes(std::span(b)));
      EXPECT_TRUE(w.ok() || w.status().code() == Code::kNoSpace);
    }
  });
  threads[3].join();
  threads[2].join();
  stop = true;
  threads[1].join();
  threads[0].join();
  EXPECT_GT(replies.load(), 0u);
  EXPECT_EQ(foreign.load(), 0u);
}

TEST_P(FileIoTest, AtimePolicies) {
  for (AtimePolicy p : {AtimePolicy::kRelatime, AtimePolicy::kNoatime, AtimePolicy::kStrictatime}) {
    Harness h(GetParam(), {.atime = p});
    uint64_t f = h.Create("a");
    h.Write(f, 0, "x");
    auto ns = [&] {
      Attr a = h.Stat(f);
      return a.atime.tv_sec * 1000000000ll + a.atime.tv_nsec;
    };
    // Make atime older than mtime, as after a write.
    SetAttrRequest r;
    r.fields = kSetAtime;
    r.atime = {1, 0};
    ASSERT_TRUE(h.fs().SetAttr(kRoot, f, r).ok());
    h.Read(f, 0, 1);
    const int64_t first = ns();
    h.Read(f, 0, 1);
    const int64_t second = ns();
    switch (p) {
      case AtimePolicy::kRelatime:
        EXPECT_GT(first, 1000000000ll);
        EXPECT_EQ(second, first);  // now newer than mtime and ctime: left alone
        break;
      case AtimePolicy::kNoatime:
        EXPECT_EQ(first, 1000000000ll);
        EXPECT_EQ(second, first);
        break;
      case AtimePolicy::kStrictatime:
        EXPECT_GT(first, 1000000000ll);
        EXPECT_GE(second, first);
        break;
    }
  }
}

// A small journal: removing thousands of extents takes several transactions.
const store::FormatOptions kSmallJournal{.journal_bytes = 64 << 10};

// Records what the filesystem asks the kernel to drop.
class RecordingInvalidator : public Invalidator {
 public:
  void InvalidateInode(uint64_t ino, int64_t off, int64_t len) override {
    std::lock_guard l(mu);
    inodes.push_back({ino, off, len});
  }
  void InvalidateEntry(uint64_t, std::string_view) override {}
  size_t Count(uint64_t ino) {
    std::lock_guard l(mu);
    return std::count_if(inodes.begin(), inodes.end(), [&](auto& t) { return std::get<0>(t) == ino; });
  }
  std::mutex mu;
  std::vector<std::tuple<uint64_t, int64_t, int64_t>> inodes;
};

// relatime through the kernel's page cache: the filesystem says when an atime update is due
// (fs/fuse then opens without keep_cache) and drops the cached pages when one becomes due.
TEST_P(FileIoTest, AtimeDueDropsTheKernelCacheWhenAnUpdateBecomesDue) {
  Harness h(GetParam(), {.atime = AtimePolicy::kRelatime});
  Filesystem& fs = h.fs();
  RecordingInvalidator inval;
  fs.SetInvalidator(&inval);
  const uint64_t f = h.Create("f");
  h.Write(f, 0, "data");
  EXPECT_TRUE(fs.AtimeDue(f));  // atime <= mtime: the first read must come to us
  EXPECT_EQ(h.Read(f, 0, 4), "data");
  EXPECT_FALSE(fs.AtimeDue(f));  // it moved atime: later reads may stay in the kernel's cache
  EXPECT_EQ(inval.Count(f), 0u);

  // touch -m: due again, and the pages cached so far must go.
  SetAttrRequest m;
  m.fields = kSetMtimeNow;
  ASSERT_TRUE(fs.SetAttr(kRoot, f, m).ok());
  EXPECT_TRUE(fs.AtimeDue(f));
  EXPECT_EQ(inval.Count(f), 1u);
  EXPECT_EQ(h.Read(f, 0, 4), "data");
  EXPECT_FALSE(fs.AtimeDue(f));

  // touch -a -d "a day ago".
  SetAttrRequest a;
  a.fields = kSetAtime;
  a.atime = {time(nullptr) - 2 * 86400, 0};
  ASSERT_TRUE(fs.SetAttr(kRoot, f, a).ok());
  EXPECT_TRUE(fs.AtimeDue(f));
  EXPECT_EQ(inval.Count(f), 2u);
  EXPECT_EQ(h.Read(f, 0, 4), "data");
  EXPECT_FALSE(fs.AtimeDue(f));

  // A write after a read: once, when it becomes due; further writes change nothing more.
  h.Write(f, 0, "DATA");
  EXPECT_EQ(inval.Count(f), 3u);
  h.Write(f, 4, "more");
  EXPECT_EQ(inval.Count(f), 3u);
  EXPECT_TRUE(fs.AtimeDue(f));
  for (const auto& [ino, off, len] : inval.inodes) {
    EXPECT_EQ(off, 0);  // the whole file's pages
    EXPECT_EQ(len, 0);
  }
  fs.SetInvalidator(nullptr);
  EXPECT_TRUE(fs.Release(f).ok());
}

TEST_P(FileIoTest, AtimeNeverDueUnderNoatime) {
  Harness h(GetParam(), {.atime = AtimePolicy::kNoatime});
  RecordingInvalidator inval;
  h.fs().SetInvalidator(&inval);
  const uint64_t f = h.Create("f");
  h.Write(f, 0, "data");
  SetAttrRequest m;
  m.fields = kSetMtimeNow;
  ASSERT_TRUE(h.fs().SetAttr(kRoot, f, m).ok());
  EXPECT_FALSE(h.fs().AtimeDue(f));
  EXPECT_EQ(inval.Count(f), 0u);
  h.fs().SetInvalidator(nullptr);
  EXPECT_TRUE(h.fs().Release(f).ok());
}

TEST_P(FileIoTest, LargeFragmentedTruncateSplitsAndFrees) {
  Harness h(GetParam(), {}, 24ull << 20, kSmallJournal);
  const uint64_t free0 = h.Baseline();
  uint64_t f = h.Create("frag"), g = h.Create("other");
  // Written backwards: every block its own extent (thousands, over many chain blocks).
  const std::string blk(kB, 'z');
  for (uint64_t i = 2000; i-- > 0;) {
    h.Write(f, i * kB, blk);
    h.Write(g, i * kB, blk);
  }
  h.Truncate(f, 3 * kB + 1);
  EXPECT_GE(h.Stat(f).blocks, Units(4, 0));
  EXPECT_LT(h.Stat(f).blocks, Units(4, 20));
  EXPECT_EQ(h.Read(f, 0, 3 * kB + 2), std::string(3 * kB + 1, 'z'));
  h.Remount();
  f = h.Lookup("frag");
  g = h.Lookup("other");
  EXPECT_EQ(h.Stat(f).size, 3 * kB + 1);
  h.Delete("frag", f, kRootIno, 0);
  h.Delete("other", g, kRootIno, 0);
  EXPECT_EQ(h.FreeBlocks(), free0);
}

INSTANTIATE_TEST_SUITE_P(Modes, FileIoTest,
                         ::testing::Values(Mode::kDirect, Mode::kCopy, Mode::kPages), ModeParamName);

// --- pages mode: clones -------------------------------------------------------------------------

TEST(FileIoPagesTest, AlignedCopyFileRangeSharesPagesUntilWritten) {
  Harness h(Mode::kPages);
  Filesystem& fs = h.fs();
  const std::string data = Pattern(1 << 20, 5);
  const uint64_t free_start = h.Baseline();
  uint64_t a = h.Create("a"), b = h.Create("b");
  h.Write(a, 0, data);
  const uint64_t free_before = h.FreeBlocks();
  auto n = fs.CopyFileRange(kRoot, a, 0, b, 0, data.size() + 100);
  ASSERT_TRUE(n.ok()) << n.status().message();
  EXPECT_EQ(*n, data.size());
  EXPECT_EQ(h.FreeBlocks(), free_before - 1);  // an instant clone: only b's extent chain
  EXPECT_EQ(h.Read(b, 0, data.size()), data);
  // Writing the clone copies just the page written; the source is untouched.
  h.Write(b, 5000, "CLONE");
  EXPECT_EQ(h.FreeBlocks(), free_before - 2);
  EXPECT_EQ(h.Read(a, 5000, 5), data.substr(5000, 5));
  EXPECT_EQ(h.Read(b, 4096, 8192),
            data.substr(4096, 904) + "CLONE" + data.substr(5005, 8192 - 909));
  // And writing the source copies its page too (the clone keeps the old bytes).
  h.Write(a, 0, "SRC");
  EXPECT_EQ(h.Read(b, 0, 3), data.substr(0, 3));
  // Survives a remount: the references are on the device.
  h.Remount();
  a = h.Lookup("a");
  b = h.Lookup("b");
  h.Write(b, 700000, "again");
  EXPECT_EQ(h.Read(a, 700000, 5), data.substr(700000, 5));
  // The pages go back only when the last file using them does: a's own pages (its copy of
  // page 0, and the old pages 1 and 170 that b copied away from) and its chain block.
  const uint64_t free0 = h.Baseline();
  h.Delete("a", a, kRootIno, 0);
  EXPECT_EQ(h.FreeBlocks(), free0 + 3 + 1);
  EXPECT_EQ(h.Read(b, 0, 3), data.substr(0, 3));
  EXPECT_EQ(h.Read(b, 8192, 100000), data.substr(8192, 100000));
  h.Delete("b", b, kRootIno, 0);
  EXPECT_EQ(h.FreeBlocks(), free_start);
}

TEST(FileIoPagesTest, TruncatingAndPunchingAClone) {
  Harness h(Mode::kPages);
  Filesystem& fs = h.fs();
  const std::string data = Pattern(64 * kB, 6);
  const uint64_t free0 = h.Baseline();
  uint64_t a = h.Create("a"), b = h.Create("b");
  h.Write(a, 0, data);
  ASSERT_EQ(fs.CopyFileRange(kRoot, a, 0, b, 0, data.size()).value(), data.size());
  // Punch in the clone (edges are copied, not zeroed under the source), truncate the source.
  ASSERT_TRUE(fs.Fallocate(b, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 3 * kB).ok());
  EXPECT_EQ(h.Read(a, 0, 64 * kB), data);
  h.Truncate(a, 10 * kB + 5);
  EXPECT_EQ(h.Read(b, 8 * kB, 16 * kB), data.substr(8 * kB, 16 * kB));
  // Growing the source over its old tail must not zero the shared page under the clone.
  h.Truncate(a, 20 * kB);
  EXPECT_EQ(h.Read(a, 10 * kB, kB), data.substr(10 * kB, 5) + std::string(kB - 5, '\0'));
  EXPECT_EQ(h.Read(b, 10 * kB, kB), data.substr(10 * kB, kB));
  // Unshare gives the clone its own pages.
  ASSERT_TRUE(fs.Fallocate(b, FALLOC_FL_UNSHARE_RANGE, 0, 64 * kB).ok());
  h.Delete("a", a);
  EXPECT_EQ(h.Read(b, 0, 64 * kB),
            data.substr(0, 100) + std::string(3 * kB, '\0') + data.substr(100 + 3 * kB));
  h.Delete("b", b);
  EXPECT_EQ(h.FreeBlocks(), free0);
}

TEST(FileIoPagesTest, ConcurrentWritesToClonesKeepCountsRight) {
  Harness h(Mode::kPages);
  Filesystem& fs = h.fs();
  const uint64_t free0 = h.Baseline();
  const std::string data = Pattern(256 * kB, 8);
  uint64_t src = h.Create("src");
  h.Write(src, 0, data);
  std::vector<uint64_t> clones;
  for (int i = 0; i < 4; i++) {
    clones.push_back(h.Create("c" + std::to_string(i)));
    ASSERT_EQ(fs.CopyFileRange(kRoot, src, 0, clones.back(), 0, data.size()).value(), data.size());
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < 100; i++) {
        const std::string w = "t" + std::to_string(t);
        auto r = fs.Write(kRoot, clones[t], rng() % (256 * kB - 8), std::as_bytes(std::span(w)));
        EXPECT_TRUE(r.ok());
        if (i % 10 == 0) {
          auto c = fs.CopyFileRange(kRoot, src, (rng() % 32) * kB, clones[t], (rng() % 32) * kB, 8 * kB);
          EXPECT_TRUE(c.ok());
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.Read(src, 0, data.size()), data);
  h.Delete("src", src);
  for (int i = 0; i < 4; i++) h.Delete("c" + std::to_string(i), clones[i]);
  EXPECT_EQ(h.FreeBlocks(), free0);
}

// --- crashes ------------------------------------------------------------------------------------

// A truncate of a heavily fragmented file takes several transactions; power fails at each
// persist point of it. After recovery the file has its old size (nothing committed) or the new
// one, its data below the new size is intact, and once deleted every block is free again.
class FileIoCrashTest : public ::testing::TestWithParam<Mode> {};

TEST_P(FileIoCrashTest, SplitTruncateFinishesAtMount) {
  const uint64_t kBlocks = 1500;
  auto prepare = [&](Harness& h) {
    uint64_t f = h.Create("f"), g = h.Create("g");
    const std::string blk(kB, 'q');
    for (uint64_t i = kBlocks; i-- > 0;) {  // backwards: one extent per block
      h.Write(f, i * kB, blk);
      h.Write(g, i * kB, blk);
    }
    h.Delete("g", g);
    EXPECT_TRUE(h.fs().SyncFs().ok());
    return f;
  };
  uint64_t free0, start, end;
  {
    Harness h(GetParam(), {}, 24ull << 20, kSmallJournal);
    free0 = h.Baseline();
    uint64_t f = prepare(h);
    start = h.sim().sim->persist_points();
    h.Truncate(f, 10);
    end = h.sim().sim->persist_points();
  }
  ASSERT_GT(end - start, 2u) << "the truncate should take several commits";
  const uint64_t step = std::max<uint64_t>(1, (end - start) / 25);
  for (uint64_t stop = start; stop <= end; stop += step) {
    Harness h(GetParam(), {}, 24ull << 20, kSmallJournal);
    h.Baseline();
    uint64_t f = prepare(h);
    ASSERT_EQ(h.sim().sim->persist_points(), start);
    h.sim().sim->StopAfter(stop);
    h.Truncate(f, 10);
    h.CrashAndMount();
    f = h.Lookup("f");
    const uint64_t size = h.Stat(f).size;
    EXPECT_TRUE(size == 10 || size == kBlocks * kB) << "stop " << stop << ": size " << size;
    EXPECT_EQ(h.Read(f, 0, 10), std::string(10, 'q')) << "stop " << stop;
    if (size == 10) {
      EXPECT_LT(h.Stat(f).blocks, Units(1, 20)) << "stop " << stop;
    }
    h.Delete("f", f, kRootIno, 0);
    EXPECT_EQ(h.FreeBlocks(), free0) << "stop " << stop;
  }
}

// Writes that return were persisted (direct, pages) or fsynced (copy); a crash during one
// leaves the file with its old or its new size, and no stale bytes from freed blocks.
TEST_P(FileIoCrashTest, WritesSurviveCrashes) {
  constexpr int kWrites = 12;
  // Fills blocks with 'J' and frees them, then writes a new file whose blocks may reuse them.
  auto setup = [](Harness& h) {
    uint64_t junk = h.Create("junk");
    h.Write(junk, 0, std::string(200000, 'J'));
    EXPECT_TRUE(h.fs().SyncFs().ok());
    h.Delete("junk", junk);
    return h.Create("f");
  };
  // Returns the writes acknowledged before the power failed (all of them without a stop).
  auto run = [](Harness& h, uint64_t f) {
    int done = 0;
    for (int i = 0; i < kWrites; i++) {
      h.Write(f, i * 6000, Pattern(6000, i));
      if (h.mode() == Mode::kCopy) {
        EXPECT_TRUE(h.fs().Fsync(f, false).ok());
      }
      if (h.sim().sim->stopped()) break;
      done++;
    }
    return done;
  };
  uint64_t start, end;
  {
    Harness h(GetParam());
    uint64_t f = setup(h);
    start = h.sim().sim->persist_points();
    EXPECT_EQ(run(h, f), kWrites);
    end = h.sim().sim->persist_points();
  }
  const uint64_t step = std::max<uint64_t>(1, (end - start) / 40);
  for (uint64_t stop = start; stop <= end; stop += step) {
    Harness h(GetParam());
    uint64_t f = setup(h);
    h.sim().sim->StopAfter(stop);
    const int done = run(h, f);
    h.CrashAndMount();
    f = h.Lookup("f");
    const uint64_t size = h.Stat(f).size;
    const std::string got = h.Read(f, 0, size);
    EXPECT_GE(size, static_cast<uint64_t>(done) * 6000) << "stop " << stop;
    EXPECT_EQ(got.find('J'), std::string::npos) << "stale data after a crash at " << stop;
    for (int i = 0; i < done; i++)
      EXPECT_EQ(got.substr(i * 6000, 6000), Pattern(6000, i)) << "write " << i << " stop " << stop;
  }
}

// A write that grows the file and is not synced: after a power failure the file has its old
// size, or the new one with the new bytes; never the new size over zeros (copy mode keeps the
// data of an in-place write in DRAM, so the bytes past the old size must reach the device
// before the size does). Power fails at every persist point of the unsynced append.
TEST_P(FileIoCrashTest, UnsyncedAppendNeverShowsZeros) {
  const std::string head = "0123456789ab", tail = Pattern(3000, 7);
  auto setup = [&](Harness& h) {
    uint64_t f = h.Create("f");
    h.Write(f, 0, head);
    EXPECT_TRUE(h.fs().Fsync(f, false).ok());
    return f;
  };
  uint64_t start, end;
  {
    Harness h(GetParam());
    uint64_t f = setup(h);
    start = h.sim().sim->persist_points();
    h.Write(f, head.size(), tail);
    end = h.sim().sim->persist_points();
  }
  for (uint64_t stop = start; stop <= end + 1; stop++) {
    Harness h(GetParam());
    uint64_t f = setup(h);
    h.sim().sim->StopAfter(stop);
    h.Write(f, head.size(), tail);
    h.CrashAndMount();
    f = h.Lookup("f");
    const uint64_t size = h.Stat(f).size;
    ASSERT_TRUE(size == head.size() || size == head.size() + tail.size())
        << "stop " << stop << ": size " << size;
    const std::string got = h.Read(f, 0, size);
    EXPECT_TRUE(got == (head + tail).substr(0, size))
        << "stop " << stop << ": size " << size << " but the bytes differ ("
        << std::count(got.begin(), got.end(), '\0') << " zeros)";
  }
}

INSTANTIATE_TEST_SUITE_P(Modes, FileIoCrashTest,
                         ::testing::Values(Mode::kDirect, Mode::kCopy, Mode::kPages), ModeParamName);

}  // namespace
}  // namespace pmemfs::core
