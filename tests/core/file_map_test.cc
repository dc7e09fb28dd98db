// FileMap over a formatted store on the simulator: inserts merge, removes split/trim/delete,
// the hole/data queries, and every change survives a reload from the extent chain (FileMap::Load).
// Volatile maps (no store) behave the same without writing anything.
#include "fs/core/file_map.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <functional>
#include <random>
#include <tuple>
#include <vector>

#include "fs/store/store.h"
#include "pmemfs/crc32c.h"
#include "test_support.h"

namespace pmemfs::core {
namespace {

using store::BlockRange;
using store::Store;
using store::Tx;

// (file block, device block, count) of the mapped runs, in order: a map's observable state.
using Runs = std::vector<std::tuple<uint64_t, uint64_t, uint64_t>>;

Runs MappedRuns(const FileMap& m) {
  Runs out;
  m.ForEach(0, UINT64_MAX, [&](uint64_t fb, uint64_t dev, uint64_t n) {
    if (dev != 0) out.emplace_back(fb, dev, n);
  });
  return out;
}

class FileMapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    d_ = mapping::testing::MakeSimDevice(
        {"Concat1", layout::LayoutKind::kLinear, 1, mapping::AccessPath::kLinear, 24ull << 20});
    ASSERT_NE(d_.dev, nullptr);
    Status st = Store::Format(*d_.dev, {});
    ASSERT_TRUE(st.ok()) << st.message();
    OpenStore();
    Tx tx = store_->Begin();
    uint64_t gen = 0;
    auto ino = store_->ReserveInode(tx, &gen);
    ASSERT_TRUE(ino.ok()) << ino.status().message();
    ino_ = *ino;
    rec_ = layout::InodeRecord{};
    rec_.mode = S_IFREG | 0644;
    rec_.nlink = 1;
    rec_.generation = gen + 1;
    store_->WriteInode(tx, ino_, rec_);
    st = store_->Commit(tx);
    ASSERT_TRUE(st.ok()) << st.message();
    map_ = FileMap::Empty();
    base_ = store_->superblock().data_start + 128;
  }

  void OpenStore() {
    auto s = Store::Open(*d_.dev, nullptr);
    ASSERT_TRUE(s.ok()) << s.status().message();
    store_ = std::move(s).value();
  }

  // Runs `fn` with a context on a fresh Tx and commits it with the working record.
  void InTx(const std::function<void(const MapContext&)>& fn) {
    Tx tx = store_->Begin();
    MapContext ctx{store_.get(), &tx, ino_, &rec_};
    fn(ctx);
    store_->WriteInode(tx, ino_, rec_);
    Status st = store_->Commit(tx);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  void Insert(uint64_t fb, uint64_t dev, uint64_t n) {
    InTx([&](const MapContext& ctx) {
      Status st = map_->Insert(ctx, fb, dev, n);
      ASSERT_TRUE(st.ok()) << st.message();
    });
  }
  std::vector<BlockRange> Remove(uint64_t fb, uint64_t n) {
    std::vector<BlockRange> freed;
    InTx([&](const MapContext& ctx) {
      Status st = map_->Remove(ctx, fb, n, &freed);
      ASSERT_TRUE(st.ok()) << st.message();
    });
    return freed;
  }

  Result<std::unique_ptr<FileMap>> Load() {
    auto rec = store_->ReadInode(ino_);
    if (!rec.ok()) return rec.status();
    return FileMap::Load(*store_, ino_, *rec);
  }
  // The map read back from the device equals the one in DRAM; also after a remount.
  void ExpectPersisted() {
    auto m = Load();
    ASSERT_TRUE(m.ok()) << m.status().message();
    EXPECT_EQ(MappedRuns(**m), MappedRuns(*map_));
    EXPECT_EQ((*m)->mapped_blocks(), map_->mapped_blocks());
    EXPECT_EQ((*m)->extent_count(), map_->extent_count());
  }

  mapping::testing::SimDevice d_;
  std::unique_ptr<Store> store_;
  uint64_t ino_ = 0;
  layout::InodeRecord rec_{};
  std::unique_ptr<FileMap> map_;
  uint64_t base_ = 0;
};

TEST_F(FileMapTest, EmptyFileLoadsEmpty) {
  ExpectPersisted();
  EXPECT_EQ(map_->Lookup(0), 0u);
  EXPECT_EQ(map_->NextData(0), UINT64_MAX);
  EXPECT_EQ(map_->NextHole(7), 7u);
  EXPECT_EQ(rec_.map_head, 0u);
}

TEST_F(FileMapTest, InsertMergesWithBothNeighbours) {
  Insert(0, base_, 4);
  Insert(8, base_ + 8, 4);
  EXPECT_EQ(map_->extent_count(), 2u);
  Insert(4, base_ + 4, 4);  // fills the gap, contiguous on the device on both sides
  EXPECT_EQ(map_->extent_count(), 1u);
  EXPECT_EQ(MappedRuns(*map_), (Runs{{0, base_, 12}}));
  EXPECT_EQ(map_->mapped_blocks(), 12u);
  ExpectPersisted();
  // Appending merges with the previous extent; prepending with the next.
  Insert(12, base_ + 12, 3);
  EXPECT_EQ(MappedRuns(*map_), (Runs{{0, base_, 15}}));
  Insert(20, base_ + 30, 2);
  Insert(18, base_ + 28, 2);
  EXPECT_EQ(MappedRuns(*map_), (Runs{{0, base_, 15}, {18, base_ + 28, 4}}));
  ExpectPersisted();
}

TEST_F(FileMapTest, NoMergeAcrossADeviceGap) {
  Insert(0, base_, 4);
  Insert(4, base_ + 100, 4);
  EXPECT_EQ(map_->extent_count(), 2u);
  EXPECT_EQ(map_->Lookup(3), base_ + 3);
  EXPECT_EQ(map_->Lookup(4), base_ + 100);
  EXPECT_EQ(map_->Lookup(8), 0u);
  // File-adjacent extents form one run of data for SEEK_HOLE.
  EXPECT_EQ(map_->NextHole(0), 8u);
  ExpectPersisted();
}

TEST_F(FileMapTest, InsertRefusesMappedBlocks) {
  Insert(10, base_, 10);
  InTx([&](const MapContext& ctx) {
    EXPECT_EQ(map_->Insert(ctx, 15, base_ + 50, 1).code(), Code::kInvalidArgument);
    EXPECT_EQ(map_->Insert(ctx, 5, base_ + 50, 6).code(), Code::kInvalidArgument);
    EXPECT_EQ(map_->Insert(ctx, 19, base_ + 50, 3).code(), Code::kInvalidArgument);
    EXPECT_EQ(map_->Insert(ctx, 0, 0, 3).code(), Code::kInvalidArgument);  // device block 0
    EXPECT_TRUE(map_->Insert(ctx, 0, base_ + 50, 0).ok());                   // nothing
  });
  EXPECT_EQ(MappedRuns(*map_), (Runs{{10, base_, 10}}));
  ExpectPersisted();
}

TEST_F(FileMapTest, RemoveSplitsTrimsAndDeletes) {
  Insert(0, base_, 100);
  // The middle: one extent becomes two (a new record for the tail).
  EXPECT_EQ(Remove(40, 10), (std::vector<BlockRange>{{base_ + 40, 10}}));
  EXPECT_EQ(MappedRuns(*map_), (Runs{{0, base_, 40}, {50, base_ + 50, 50}}));
  ExpectPersisted();
  // The head of one, the tail of another, across the hole.
  EXPECT_EQ(Remove(30, 30), (std::vector<BlockRange>{{base_ + 30, 10}, {base_ + 50, 10}}));
  EXPECT_EQ(MappedRuns(*map_), (Runs{{0, base_, 30}, {60, base_ + 60, 40}}));
  ExpectPersisted();
  // Whole extents, and ranges past the end.
  EXPECT_EQ(Remove(0, 30), (std::vector<BlockRange>{{base_, 30}}));
  EXPECT_EQ(Remove(90, 1000), (std::vector<BlockRange>{{base_ + 90, 10}}));
  EXPECT_EQ(MappedRuns(*map_), (Runs{{60, base_ + 60, 30}}));
  EXPECT_EQ(map_->mapped_blocks(), 30u);
  ExpectPersisted();
  EXPECT_TRUE(Remove(0, 60).empty());  // a hole: nothing
  EXPECT_EQ(Remove(0, UINT64_MAX), (std::vector<BlockRange>{{base_ + 60, 30}}));
  EXPECT_EQ(map_->extent_count(), 0u);
  EXPECT_EQ(map_->mapped_blocks(), 0u);
  ExpectPersisted();
  // Empty again: the chain is gone, the inode holds no blocks.
  EXPECT_EQ(rec_.map_head, 0u);
  EXPECT_EQ(rec_.map_tail, 0u);
  EXPECT_EQ(rec_.blocks, 0u);
  EXPECT_EQ(map_->slots().block_count(), 0u);
  Insert(5, base_, 1);  // and a new one starts
  EXPECT_NE(rec_.map_head, 0u);
  ExpectPersisted();
}

TEST_F(FileMapTest, FreedRangesCoalesce) {
  Insert(0, base_, 5);
  Insert(5, base_ + 10, 5);  // not device-contiguous with the first
  Insert(10, base_ + 15, 5);  // merges with the second
  EXPECT_EQ(Remove(0, 15), (std::vector<BlockRange>{{base_, 5}, {base_ + 10, 10}}));
}

TEST_F(FileMapTest, ForEachReportsHolesAndRuns) {
  Insert(2, base_, 3);
  Insert(8, base_ + 40, 2);
  Runs all;
  map_->ForEach(0, 12, [&](uint64_t fb, uint64_t dev, uint64_t n) { all.emplace_back(fb, dev, n); });
  EXPECT_EQ(all, (Runs{{0, 0, 2}, {2, base_, 3}, {5, 0, 3}, {8, base_ + 40, 2}, {10, 0, 2}}));
  all.clear();
  map_->ForEach(3, 6, [&](uint64_t fb, uint64_t dev, uint64_t n) { all.emplace_back(fb, dev, n); });
  EXPECT_EQ(all, (Runs{{3, base_ + 1, 2}, {5, 0, 3}, {8, base_ + 40, 1}}));
  all.clear();
  map_->ForEach(3, 0, [&](uint64_t fb, uint64_t dev, uint64_t n) { all.emplace_back(fb, dev, n); });
  EXPECT_TRUE(all.empty());
}

TEST_F(FileMapTest, NextDataAndNextHole) {
  Insert(10, base_, 5);
  Insert(15, base_ + 20, 5);  // adjacent in the file
  Insert(30, base_ + 40, 1);
  EXPECT_EQ(map_->NextData(0), 10u);
  EXPECT_EQ(map_->NextData(12), 12u);
  EXPECT_EQ(map_->NextData(20), 30u);
  EXPECT_EQ(map_->NextData(31), UINT64_MAX);
  EXPECT_EQ(map_->NextHole(0), 0u);
  EXPECT_EQ(map_->NextHole(10), 20u);
  EXPECT_EQ(map_->NextHole(17), 20u);
  EXPECT_EQ(map_->NextHole(30), 31u);
  EXPECT_EQ(map_->NextHole(1000), 1000u);
}

TEST_F(FileMapTest, ManyExtentsSpanChainBlocksAndReuseSlots) {
  // Every other block: no merging, more extents than one chain block holds.
  const uint64_t n = 3 * layout::kSlotsPerBlock + 7;
  InTx([&](const MapContext& ctx) {
    for (uint64_t i = 0; i < n; i++) ASSERT_TRUE(map_->Insert(ctx, 2 * i, base_ + 3 * i, 1).ok());
  });
  EXPECT_EQ(map_->extent_count(), n);
  EXPECT_EQ(map_->slots().block_count(), 4u);
  ExpectPersisted();
  const uint64_t blocks_with_chain = rec_.blocks;
  EXPECT_EQ(blocks_with_chain, 4u);  // the chain blocks count in the inode's blocks
  // Remove half, then insert as many again: freed slots are reused, the chain does not grow.
  InTx([&](const MapContext& ctx) {
    for (uint64_t i = 0; i < n; i += 2) ASSERT_TRUE(map_->Remove(ctx, 2 * i, 1, nullptr).ok());
  });
  ExpectPersisted();
  InTx([&](const MapContext& ctx) {
    for (uint64_t i = 0; i < n; i += 2)
      ASSERT_TRUE(map_->Insert(ctx, 2 * i, base_ + 2000 + 3 * i, 1).ok());
  });
  EXPECT_EQ(map_->slots().block_count(), 4u);
  EXPECT_EQ(rec_.blocks, blocks_with_chain);
  ExpectPersisted();
}

TEST_F(FileMapTest, RandomOperationsMatchAModelAndPersist) {
  // Model: file block -> device block (0: hole).
  const uint64_t kFile = 600;
  std::vector<uint64_t> model(kFile, 0);
  std::mt19937_64 rng(42);
  uint64_t next_dev = base_;
  for (int round = 0; round < 40; round++) {
    InTx([&](const MapContext& ctx) {
      for (int op = 0; op < 10; op++) {
        const uint64_t fb = rng() % kFile, n = 1 + rng() % 40;
        const uint64_t end = std::min(kFile, fb + n);
        if (rng() % 2) {
          std::vector<BlockRange> freed;
          ASSERT_TRUE(map_->Remove(ctx, fb, end - fb, &freed).ok());
          uint64_t freed_blocks = 0, expected = 0;
          for (const auto& r : freed) freed_blocks += r.count;
          for (uint64_t b = fb; b < end; b++) {
            if (model[b] != 0) expected++;
            model[b] = 0;
          }
          EXPECT_EQ(freed_blocks, expected);
        } else {
          // Insert into each hole of the range (contiguous device blocks: merges happen).
          for (uint64_t b = fb; b < end;) {
            if (model[b] != 0) {
              b++;
              continue;
            }
            uint64_t e = b;
            while (e < end && model[e] == 0) e++;
            if (rng() % 3 == 0) next_dev += 7;  // sometimes break device contiguity
            ASSERT_TRUE(map_->Insert(ctx, b, next_dev, e - b).ok());
            for (uint64_t k = b; k < e; k++) model[k] = next_dev + (k - b);
            next_dev += e - b;
            b = e;
          }
        }
      }
    });
    for (uint64_t b = 0; b < kFile; b++) ASSERT_EQ(map_->Lookup(b), model[b]) << "block " << b;
    uint64_t mapped = 0;
    for (uint64_t v : model) mapped += v != 0;
    ASSERT_EQ(map_->mapped_blocks(), mapped);
    ExpectPersisted();
  }
  // Adjacent, device-contiguous extents are always merged.
  Runs runs = MappedRuns(*map_);
  for (size_t i = 1; i < runs.size(); i++) {
    auto [fa, da, na] = runs[i - 1];
    auto [fb, db, nb] = runs[i];
    EXPECT_FALSE(fa + na == fb && da + na == db) << "unmerged at file block " << fb;
  }
}

TEST_F(FileMapTest, SurvivesRemount) {
  Insert(0, base_, 10);
  Insert(100, base_ + 500, 20);
  const Runs before = MappedRuns(*map_);
  store_.reset();
  d_.Reopen();
  OpenStore();
  auto m = Load();
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_EQ(MappedRuns(**m), before);
}

TEST_F(FileMapTest, CorruptRecordsAreRefused) {
  Insert(0, base_, 10);
  Insert(20, base_ + 100, 10);
  ASSERT_EQ(map_->extent_count(), 2u);
  // A flipped bit in a record.
  const uint64_t block = rec_.map_head;
  const uint64_t off = Store::SlotOffset(block, 0);
  std::byte saved;
  d_.dev->Read(off + 8, &saved, 1);
  const std::byte flipped = saved ^ std::byte{0x10};
  d_.dev->Store(off + 8, &flipped, 1);
  auto m = Load();
  EXPECT_EQ(m.status().code(), Code::kCorrupt);
  d_.dev->Store(off + 8, &saved, 1);
  ASSERT_TRUE(Load().ok());
  // A well-formed record that overlaps another extent.
  layout::ExtentRecord r{};
  r.file_block = 5;
  r.dev_block = base_ + 300;
  r.length = 2;
  r.checksum = StructChecksum(r);
  d_.dev->Store(Store::SlotOffset(block, 5), &r, sizeof r);
  EXPECT_EQ(Load().status().code(), Code::kCorrupt);
  // One that points outside the data area.
  r.file_block = 50;
  r.dev_block = 1;
  r.checksum = StructChecksum(r);
  d_.dev->Store(Store::SlotOffset(block, 5), &r, sizeof r);
  EXPECT_EQ(Load().status().code(), Code::kCorrupt);
}

TEST_F(FileMapTest, VolatileMapsWriteNothing) {
  auto m = FileMap::Empty();
  Tx tx = store_->Begin();
  MapContext ctx{nullptr, &tx, ino_, &rec_};
  ASSERT_TRUE(m->Insert(ctx, 0, 5000, 8).ok());
  ASSERT_TRUE(m->Insert(ctx, 8, 5008, 8).ok());
  EXPECT_EQ(m->extent_count(), 1u);
  std::vector<BlockRange> freed;
  ASSERT_TRUE(m->Remove(ctx, 4, 4, &freed).ok());
  EXPECT_EQ(freed, (std::vector<BlockRange>{{5004, 4}}));
  EXPECT_EQ(MappedRuns(*m), (Runs{{0, 5000, 4}, {8, 5008, 8}}));
  EXPECT_TRUE(tx.empty());
  EXPECT_EQ(rec_.map_head, 0u);
  EXPECT_EQ(m->slots().block_count(), 0u);
}

TEST_F(FileMapTest, ExtentsLongerThanARecordSplit) {
  // 2^33 blocks (32 TiB): more than a 32-bit record length holds.
  auto m = FileMap::Empty();
  Tx tx = store_->Begin();
  MapContext ctx{nullptr, &tx, ino_, &rec_};
  const uint64_t n = 1ull << 33;
  ASSERT_TRUE(m->Insert(ctx, 0, 1000, n).ok());
  EXPECT_EQ(m->mapped_blocks(), n);
  EXPECT_GE(m->extent_count(), 2u);
  EXPECT_EQ(m->Lookup(n - 1), 1000 + n - 1);
  EXPECT_EQ(m->NextHole(0), n);
  std::vector<BlockRange> freed;
  ASSERT_TRUE(m->Remove(ctx, 0, n, &freed).ok());
  EXPECT_EQ(freed, (std::vector<BlockRange>{{1000, n}}));
  EXPECT_EQ(m->extent_count(), 0u);
}

}  // namespace
}  // namespace pmemfs::core
