// StatFs: what it reports as available is what fallocate can give an ordinary file. The RAM
// partition serves only the RAM directory, so it is never available space, and it is not
// counted at all when there is no RAM directory.
#include <fcntl.h>

#include <gtest/gtest.h>

#include <span>
#include <string>

#include "fs/core/fs.h"
#include "fs_harness.h"

namespace pmemfs::core {
namespace {

using mapping::Mode;
using testing::kRoot;

constexpr uint64_t kRamPages = (2 << 20) / 4096;  // the harness's RAM partition

class StatFsTest : public ::testing::TestWithParam<Mode> {};

uint64_t NewFile(Filesystem& fs, const std::string& name) {
  auto a = fs.Create(kRoot, kRootIno, name, 0644, O_RDWR);
  EXPECT_TRUE(a.ok()) << a.status().message();
  return a.ok() ? a->ino : 0;
}

// df's promise: fallocate of (f_bavail * f_bsize - 512 KiB) succeeds.
TEST_P(StatFsTest, FallocateOfAvailableSpaceLess512KSucceeds) {
  testing::FsHarnessBase h(GetParam());
  Filesystem& fs = h.fs();
  auto s = fs.StatFs();
  ASSERT_TRUE(s.ok());
  EXPECT_LE(s->avail_blocks, s->free_blocks);
  const uint64_t f = NewFile(fs, "big");
  const uint64_t len = s->avail_blocks * s->block_size - (512 << 10);
  Status st = fs.Fallocate(f, 0, 0, len);
  EXPECT_TRUE(st.ok()) << st.message() << " (fallocate of " << len << " bytes)";
  EXPECT_EQ(fs.GetAttr(f)->size, len);
  EXPECT_TRUE(fs.Release(f).ok());
}

// Even when the free space is in one-block pieces (so every block is an extent of its own), a
// file can get every block statfs reports available: the extent blocks are set aside.
TEST_P(StatFsTest, AvailableSpaceHoldsWhenFreeSpaceIsFragmented) {
  testing::FsHarnessBase h(GetParam(), MountOptions{.ram_dir = ""});  // free: data blocks only
  Filesystem& fs = h.fs();
  const uint64_t a = NewFile(fs, "a"), b = NewFile(fs, "b");
  const std::string block(4096, 'x');
  const auto data = std::as_bytes(std::span(block));
  // Appends to two files in turn interleave their blocks; removing one leaves holes of one block.
  for (uint64_t i = 0;; i++) {
    if (fs.StatFs()->free_blocks < 64) break;
    ASSERT_TRUE(fs.Write(kRoot, a, i * 4096, data).ok());
    ASSERT_TRUE(fs.Write(kRoot, b, i * 4096, data).ok());
    if (h.mode() == Mode::kCopy && i % 64 == 0) {
      ASSERT_TRUE(fs.Fsync(a, false).ok());
    }
  }
  ASSERT_TRUE(fs.Fsync(a, false).ok());
  ASSERT_TRUE(fs.Release(a).ok());
  ASSERT_TRUE(fs.Unlink(kRoot, kRootIno, "a").ok());
  fs.Forget(a, 1);
  auto s = fs.StatFs();
  ASSERT_TRUE(s.ok());
  ASSERT_GT(s->free_blocks, 1000u);
  const uint64_t c = NewFile(fs, "c");
  Status st = fs.Fallocate(c, 0, 0, s->avail_blocks * s->block_size);
  EXPECT_TRUE(st.ok()) << st.message() << " (" << s->avail_blocks << " blocks available, "
                       << s->free_blocks << " free)";
  EXPECT_TRUE(fs.Release(c).ok());
  EXPECT_TRUE(fs.Release(b).ok());
}

// df's used (blocks - free) + available stays constant as files take and give back space:
// the blocks set aside for extent blocks are a fixed reserve, as ext4's reserved blocks are.
TEST_P(StatFsTest, UsedPlusAvailableIsConstant) {
  testing::FsHarnessBase h(GetParam(), MountOptions{.ram_dir = ""});
  Filesystem& fs = h.fs();
  auto sum = [&fs] {
    auto s = fs.StatFs();
    EXPECT_TRUE(s.ok());
    return s.ok() ? s->blocks - s->free_blocks + s->avail_blocks : 0;
  };
  const uint64_t sum0 = sum();
  const uint64_t f = NewFile(fs, "f");
  ASSERT_TRUE(fs.Fallocate(f, 0, 0, 4 << 20).ok());
  const std::string block(4096, 'y');
  ASSERT_TRUE(fs.Write(kRoot, f, 8 << 20, std::as_bytes(std::span(block))).ok());
  ASSERT_TRUE(fs.Fsync(f, false).ok());
  EXPECT_EQ(sum(), sum0);
  ASSERT_TRUE(fs.Release(f).ok());
  ASSERT_TRUE(fs.Unlink(kRoot, kRootIno, "f").ok());
  fs.Forget(f, 1);
  EXPECT_EQ(sum(), sum0);
}

// The RAM partition counts as size and free space only while the RAM directory exists, and
// never as available space.
TEST_P(StatFsTest, RamPartitionIsNeverAvailableSpace) {
  auto with = testing::FsHarnessBase(GetParam()).fs().StatFs();
  testing::FsHarnessBase h(GetParam(), MountOptions{.ram_dir = ""});
  auto without = h.fs().StatFs();
  ASSERT_TRUE(with.ok() && without.ok());
  EXPECT_EQ(with->blocks, without->blocks + kRamPages);
  EXPECT_EQ(with->free_blocks, without->free_blocks + kRamPages);
  EXPECT_EQ(with->avail_blocks, without->avail_blocks);
  EXPECT_LT(without->avail_blocks, without->free_blocks);
  const uint64_t f = NewFile(h.fs(), "f");
  const uint64_t len = without->avail_blocks * without->block_size - (512 << 10);
  Status st = h.fs().Fallocate(f, 0, 0, len);
  EXPECT_TRUE(st.ok()) << st.message();
  EXPECT_TRUE(h.fs().Release(f).ok());
}

INSTANTIATE_TEST_SUITE_P(Modes, StatFsTest,
                         ::testing::Values(Mode::kDirect, Mode::kCopy, Mode::kPages),
                         [](const auto& info) { return std::string(mapping::ModeName(info.param)); });

}  // namespace
}  // namespace pmemfs::core
