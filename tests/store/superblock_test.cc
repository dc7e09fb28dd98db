// Superblock: falling back to the backup and repairing the primary, and every refusal of Open.
#include "fs/store/superblock.h"

#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "pmemfs/crc32c.h"
#include "store_test_support.h"

namespace pmemfs::store {
namespace {

using testing::StoreFixture;
using testing::StoreSetups;

class SuperblockTest : public StoreFixture {
 protected:
  // Unmounts, then applies `fn` to the superblock copy in `block` (resealed when `seal`).
  void Modify(uint64_t block, const std::function<void(layout::Superblock&)>& fn,
              bool seal = true) {
    store_.reset();
    layout::Superblock sb;
    dev().Read(Store::BlockOffset(block), &sb, sizeof sb);
    fn(sb);
    if (seal) sb.checksum = StructChecksum(sb);
    dev().Write(Store::BlockOffset(block), &sb, sizeof sb);
  }
  void ModifyBoth(const std::function<void(layout::Superblock&)>& fn, bool seal = true) {
    const uint64_t backup = sb().backup_block;
    Modify(backup, fn, seal);
    Modify(0, fn, seal);
  }
  Status TryOpen() {
    auto r = Store::Open(dev(), nullptr);
    if (r.ok()) store_ = std::move(r).value();
    return r.status();
  }
  layout::Superblock Primary() {
    layout::Superblock sb;
    dev().Read(0, &sb, sizeof sb);
    return sb;
  }
};

TEST_P(SuperblockTest, ReadOnlyOpenRefusesToRepairADamagedPrimary) {
  store_.reset();
  Modify(0, [](layout::Superblock& s) { s.label[3] ^= 0x5a; }, /*seal=*/false);
  const layout::Superblock damaged = Primary();
  auto r = Store::Open(dev(), nullptr, /*read_only=*/true);
  ASSERT_EQ(r.status().code(), Code::kReadOnly);
  EXPECT_NE(r.status().message().find("read-write mount repairs it"), std::string::npos)
      << r.status().message();
  const layout::Superblock now = Primary();
  EXPECT_EQ(std::memcmp(&damaged, &now, sizeof damaged), 0);  // not written
  EXPECT_TRUE(TryOpen().ok());  // read-write: repaired from the backup
}

TEST_P(SuperblockTest, DamagedPrimaryOpensFromTheBackupAndIsRepaired) {
  const uint64_t mounts = sb().mount_count;
  Modify(0, [](layout::Superblock& s) { s.label[3] ^= 0x5a; }, /*seal=*/false);
  Status s = TryOpen();
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_EQ(sb().mount_count, mounts + 1);
  const layout::Superblock p = Primary();
  EXPECT_TRUE(ValidateSuperblock(p, dev().info().store().length, "primary").ok());
  // The repaired store opens from its primary alone.
  store_.reset();
  const uint64_t backup = p.backup_block;
  dev().SetNoDrain(Store::BlockOffset(backup), 0, layout::kBlockSize);
  dev().Drain();
  EXPECT_TRUE(TryOpen().ok());
}

TEST_P(SuperblockTest, PeekReadsTheUsableCopyAndChangesNothing) {
  Modify(0, [](layout::Superblock& s) { s.label[3] ^= 0x5a; }, /*seal=*/false);
  const layout::Superblock damaged = Primary();
  auto peeked = Store::Peek(dev());
  ASSERT_TRUE(peeked.ok()) << peeked.status().message();
  EXPECT_EQ(peeked->backup_block, sb().backup_block);
  EXPECT_TRUE(ValidateSuperblock(*peeked, dev().info().store().length, "backup").ok());
  const layout::Superblock after = Primary();
  EXPECT_EQ(std::memcmp(&after, &damaged, sizeof after), 0);  // no repair
  ModifyBoth([](layout::Superblock& s) { s.magic[0] ^= 1; });
  EXPECT_EQ(Store::Peek(dev()).status().code(), Code::kCorrupt);
}

TEST_P(SuperblockTest, PrimaryWithBadMagicOrGeometryFallsBackToo) {
  Modify(0, [](layout::Superblock& s) { s.magic[0] = 'X'; });
  ASSERT_TRUE(TryOpen().ok());
  Modify(0, [](layout::Superblock& s) { s.store_blocks += 1000; });
  ASSERT_TRUE(TryOpen().ok());
  Modify(0, [](layout::Superblock& s) { s.reserved[100] = 1; });
  ASSERT_TRUE(TryOpen().ok());
  EXPECT_TRUE(ValidateSuperblock(Primary(), dev().info().store().length, "primary").ok());
}

TEST_P(SuperblockTest, BothCopiesDamagedIsCorrupt) {
  ModifyBoth([](layout::Superblock& s) { s.inode_count ^= 1; }, /*seal=*/false);
  Status s = TryOpen();
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_EQ(s.message().rfind("primary superblock: checksum mismatch", 0), 0u) << s.message();
}

TEST_P(SuperblockTest, GeometryLargerThanTheDeviceIsCorrupt) {
  ModifyBoth([](layout::Superblock& s) {
    s.store_blocks *= 2;
    s.backup_block = s.store_blocks - 1;
    s.data_blocks = s.backup_block - s.data_start;
  });
  Status s = TryOpen();
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_NE(s.message().find("store area"), std::string::npos) << s.message();
}

TEST_P(SuperblockTest, OverlappingRegionsAreCorrupt) {
  ModifyBoth([](layout::Superblock& s) { s.inode_start -= 1; });
  Status s = TryOpen();
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_NE(s.message().find("overlaps the journal"), std::string::npos) << s.message();
}

// A bitmap area inside the data area (moved there by a growth: bitmap_area.h) is valid only
// with kIncompatMovedBitmap, and only clear of the backup block.
TEST_P(SuperblockTest, BitmapInsideTheDataAreaNeedsTheMovedBitmapFeature) {
  const uint64_t bytes = dev().info().store().length;
  auto check = [&](layout::Superblock s) {
    SealSuperblock(s);
    return ValidateSuperblock(s, bytes, "primary");
  };
  layout::Superblock moved = sb();
  moved.bitmap_start = moved.data_start + 10;
  Status s = check(moved);
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_NE(s.message().find("the data area overlaps the bitmap"), std::string::npos)
      << s.message();
  moved.incompat |= layout::kIncompatMovedBitmap;
  EXPECT_TRUE(check(moved).ok()) << check(moved).message();
  moved.bitmap_start = moved.backup_block - moved.bitmap_blocks;
  EXPECT_TRUE(check(moved).ok()) << check(moved).message();
  moved.bitmap_start++;
  s = check(moved);
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_NE(s.message().find("overlaps the backup block"), std::string::npos) << s.message();
  // The feature with the bitmap where mkpmemfs put it: valid too (the feature says "may").
  layout::Superblock in_place = sb();
  in_place.incompat |= layout::kIncompatMovedBitmap;
  EXPECT_TRUE(check(in_place).ok());
}

TEST_P(SuperblockTest, UnknownIncompatFeatureIsUnsupported) {
  // In the primary only: an intact primary is not overruled by the backup.
  Modify(0, [](layout::Superblock& s) { s.incompat |= 1ull << 5; });
  Status s = TryOpen();
  EXPECT_EQ(s.code(), Code::kUnsupported);
  EXPECT_NE(s.message().find("0x20"), std::string::npos) << s.message();
}

// An unknown ro_compat feature: a read-write open is refused, saying a read-only one works, and
// a read-only open reads it.
TEST_P(SuperblockTest, UnknownRoCompatFeatureOpensReadOnlyOnly) {
  ModifyBoth([](layout::Superblock& s) { s.ro_compat |= 1ull << 5; });
  Status s = TryOpen();
  EXPECT_EQ(s.code(), Code::kUnsupported);
  EXPECT_NE(s.message().find("0x20"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("read-only"), std::string::npos) << s.message();
  auto r = Store::Open(dev(), nullptr, /*read_only=*/true);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE((*r)->ReadInode(layout::kRootIno).ok());
}

TEST_P(SuperblockTest, UnknownCompatFeatureIsIgnored) {
  ModifyBoth([](layout::Superblock& s) { s.compat |= 1ull << 40; });
  EXPECT_TRUE(TryOpen().ok());
}

TEST_P(SuperblockTest, OtherMajorVersionIsUnsupported) {
  ModifyBoth([](layout::Superblock& s) { s.major = layout::kMajorVersion + 1; });
  Status s = TryOpen();
  EXPECT_EQ(s.code(), Code::kUnsupported);
  EXPECT_NE(s.message().find("version 2"), std::string::npos) << s.message();
}

TEST_P(SuperblockTest, DamagedPrimaryAndUnsupportedBackupIsUnsupported) {
  const uint64_t backup = sb().backup_block;
  Modify(backup, [](layout::Superblock& s) { s.incompat = 1ull << 5; });  // not a known feature
  Modify(0, [](layout::Superblock& s) { s.magic[1] = 0; });
  EXPECT_EQ(TryOpen().code(), Code::kUnsupported);
}

INSTANTIATE_TEST_SUITE_P(Setups, SuperblockTest, ::testing::ValuesIn(StoreSetups()),
                         mapping::testing::SetupName);

TEST(PlanGeometryTest, DefaultsAndLimits) {
  auto g = PlanGeometry(1ull << 30, 0, 0);  // 1 GiB: journal 16 MiB, 65536 inodes
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->journal_blocks, (16u << 20) / layout::kBlockSize);
  EXPECT_EQ(g->inode_count, 65536u);
  EXPECT_EQ(g->inode_blocks, 4096u);
  EXPECT_EQ(g->bitmap_blocks, 8u + 1);  // and one block of checksums
  EXPECT_EQ(g->ro_compat, layout::kRoCompatBitmapChecksums);
  auto old = PlanGeometry(1ull << 30, 0, 0, /*bitmap_checksums=*/false);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->bitmap_blocks, 8u);
  EXPECT_EQ(old->ro_compat, 0u);
  auto big = PlanGeometry(64ull << 30, 0, 0);  // the journal stays at 16 MiB
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->journal_blocks, (16u << 20) / layout::kBlockSize);
  auto small = PlanGeometry(8 << 20, 10, 4096);  // at least 2 journal blocks, 64 inodes floor
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->journal_blocks, 2u);
  EXPECT_EQ(small->inode_count, 10u);
  EXPECT_EQ(PlanGeometry(8 << 20, 0, 2ull << 30).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace pmemfs::store
