// Bitmap checksums (layout::kRoCompatBitmapChecksums): Format writes them, every commit that
// changes the bitmap (allocations, frees, raw writes) keeps them right, Open reports the blocks
// whose bytes or checksum were damaged, and a filesystem made without them opens as before.
#include "fs/store/bitmap_checksums.h"

#include <gtest/gtest.h>

#include <vector>

#include "fs/store/store.h"
#include "pmemfs/crc32c.h"
#include "store_test_support.h"

namespace pmemfs::store {
namespace {

using testing::FileRecord;
using testing::MakeFormatted;
using testing::OpenOrFail;
using testing::SimDevice;
using testing::SimSetup;

// A device large enough for two bitmap blocks (each maps 32768 blocks: 128 MiB), so
// damage to one block is told from the other.
SimSetup TwoBitmapBlocks() {
  return {"OnePart", layout::LayoutKind::kLinear, 1, mapping::AccessPath::kLinear, 160ull << 20};
}

// The checksum stored for bitmap block i, and the one its bytes have.
uint32_t Stored(const mapping::Device& dev, const layout::Superblock& sb, uint64_t i) {
  uint32_t v;
  dev.Read(layout::BitmapChecksumOffset(sb, i), &v, sizeof v);
  return v;
}

// Flips bit `block` of the bitmap on the device (not through the journal: damage).
void FlipBit(mapping::Device& dev, const layout::Superblock& sb, uint64_t block) {
  const uint64_t off = sb.bitmap_start * layout::kBlockSize + block / 8;
  uint8_t byte;
  dev.Read(off, &byte, 1);
  byte ^= static_cast<uint8_t>(1u << (block % 8));
  dev.Write(off, &byte, 1);
}

TEST(BitmapChecksumsTest, FormatSetsTheFeatureAndEveryChecksum) {
  SimDevice d = MakeFormatted(TwoBitmapBlocks());
  auto s = OpenOrFail(*d.dev);
  ASSERT_NE(s, nullptr);
  const layout::Superblock& sb = s->superblock();
  EXPECT_TRUE(HasBitmapChecksums(sb));
  ASSERT_EQ(layout::BitmapBlocks(sb.store_blocks), 2u);
  EXPECT_EQ(sb.bitmap_blocks, 3u);
  for (uint64_t i = 0; i < 2; i++) EXPECT_EQ(Stored(*d.dev, sb, i), ComputeBitmapChecksum(*d.dev, sb, i));
  EXPECT_TRUE(s->bad_bitmap_blocks().empty());
}

TEST(BitmapChecksumsTest, CommitsKeepThemRight) {
  SimDevice d = MakeFormatted(TwoBitmapBlocks());
  auto s = OpenOrFail(*d.dev);
  ASSERT_NE(s, nullptr);
  const layout::Superblock sb = s->superblock();
  std::vector<uint32_t> before;
  for (uint64_t i = 0; i < 2; i++) before.push_back(Stored(*d.dev, sb, i));
  // Allocations in both bitmap blocks (the second maps blocks from 32768 on), in one Tx.
  Tx tx = s->Begin();
  auto a = s->AllocBlocks(tx, 100);
  auto b = s->AllocBlocks(tx, 10, 34000);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(b->start, 34000u);
  s->WriteInode(tx, 2, FileRecord());
  ASSERT_TRUE(s->Commit(tx).ok());
  for (uint64_t i = 0; i < 2; i++) {
    EXPECT_NE(Stored(*d.dev, sb, i), before[i]) << i;
    EXPECT_EQ(Stored(*d.dev, sb, i), ComputeBitmapChecksum(*d.dev, sb, i)) << i;
  }
  // A free, and a raw write into the bitmap (what pmemfs-fsck's repair does).
  Tx f = s->Begin();
  s->FreeBlocks(f, {a->start + 10, 5});
  ASSERT_TRUE(s->Commit(f).ok());
  Tx raw = s->Begin();
  uint64_t word;
  d.dev->Read(sb.bitmap_start * layout::kBlockSize + (34000 / 64) * 8, &word, sizeof word);
  word |= 1ull << 63;  // block 34000 / 64 * 64 + 63 marked in use
  raw.Put(sb.bitmap_start * layout::kBlockSize + (34000 / 64) * 8, word);
  ASSERT_TRUE(s->Commit(raw).ok());
  for (uint64_t i = 0; i < 2; i++)
    EXPECT_EQ(Stored(*d.dev, sb, i), ComputeBitmapChecksum(*d.dev, sb, i)) << i;
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  s = OpenOrFail(*d.dev);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->bad_bitmap_blocks().empty());
}

TEST(BitmapChecksumsTest, OpenReportsTheDamagedBlock) {
  SimDevice d = MakeFormatted(TwoBitmapBlocks());
  layout::Superblock sb;
  BlockRange used;
  {
    auto s = OpenOrFail(*d.dev);
    ASSERT_NE(s, nullptr);
    sb = s->superblock();
    Tx tx = s->Begin();
    used = *s->AllocBlocks(tx, 8, 34000);
    ASSERT_TRUE(s->Commit(tx).ok());
    ASSERT_TRUE(s->Close().ok());
  }
  // A block in use marked free, in the second bitmap block: the silent damage.
  FlipBit(*d.dev, sb, used.start + 3);
  {
    auto s = OpenOrFail(*d.dev);
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->bad_bitmap_blocks(), std::vector<uint64_t>{1});
    // Read-only opens report it too (and read the rest).
    s.reset();
    auto ro = Store::Open(*d.dev, nullptr, /*read_only=*/true);
    ASSERT_TRUE(ro.ok()) << ro.status().message();
    EXPECT_EQ((*ro)->bad_bitmap_blocks(), std::vector<uint64_t>{1});
  }
  // Restored bits, damaged checksum of the first block.
  FlipBit(*d.dev, sb, used.start + 3);
  uint32_t crc = Stored(*d.dev, sb, 0) ^ 1;
  d.dev->Write(layout::BitmapChecksumOffset(sb, 0), &crc, sizeof crc);
  auto s = OpenOrFail(*d.dev);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->bad_bitmap_blocks(), std::vector<uint64_t>{0});
}

// A filesystem made before the feature: no table, nothing checked, commits as before.
TEST(BitmapChecksumsTest, AnImageWithoutThemOpensAsBefore) {
  SimDevice d = MakeFormatted(TwoBitmapBlocks(), {.bitmap_checksums = false});
  auto s = OpenOrFail(*d.dev);
  ASSERT_NE(s, nullptr);
  const layout::Superblock sb = s->superblock();
  EXPECT_FALSE(HasBitmapChecksums(sb));
  EXPECT_EQ(sb.bitmap_blocks, 2u);
  EXPECT_EQ(sb.data_start, sb.bitmap_start + 2);
  Tx tx = s->Begin();
  auto a = s->AllocBlocks(tx, 4);
  ASSERT_TRUE(a.ok());
  const uint64_t journal_bytes = tx.journal_bytes();
  ASSERT_TRUE(s->Commit(tx).ok());
  ASSERT_TRUE(s->Close().ok());
  s.reset();
  FlipBit(*d.dev, sb, a->start);
  s = OpenOrFail(*d.dev);
  ASSERT_NE(s, nullptr);
  EXPECT_TRUE(s->bad_bitmap_blocks().empty());
  // The same allocation on a checksummed store also journals one checksum.
  SimDevice c = MakeFormatted(TwoBitmapBlocks());
  auto cs = OpenOrFail(*c.dev);
  Tx ctx = cs->Begin();
  ASSERT_TRUE(cs->AllocBlocks(ctx, 4).ok());
  EXPECT_GT(ctx.journal_bytes(), journal_bytes);
}

}  // namespace
}  // namespace pmemfs::store
