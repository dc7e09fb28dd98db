// Inode table: records and checksums, the free set (lowest first, reuse after commit,
// generations), exhaustion, and the root checks of Open.
#include "fs/store/inode_table.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "pmemfs/crc32c.h"
#include "store_test_support.h"

namespace pmemfs::store {
namespace {

using testing::FileRecord;
using testing::StoreFixture;
using testing::StoreSetups;

class InodeTableTest : public StoreFixture {
 protected:
  // Reserves an inode and commits a file record for it with generation + 1.
  uint64_t Create(uint64_t size = 0) {
    Tx tx = store().Begin();
    uint64_t gen = 99;
    auto ino = store().ReserveInode(tx, &gen);
    EXPECT_TRUE(ino.ok());
    layout::InodeRecord rec = FileRecord(size);
    rec.generation = gen + 1;
    store().WriteInode(tx, *ino, rec);
    EXPECT_TRUE(store().Commit(tx).ok());
    return *ino;
  }
  void Remove(uint64_t ino) {
    Tx tx = store().Begin();
    store().FreeInode(tx, ino);
    EXPECT_TRUE(store().Commit(tx).ok());
  }
  uint64_t RecordOffset(uint64_t ino) {
    return Store::BlockOffset(sb().inode_start) + (ino - 1) * sizeof(layout::InodeRecord);
  }
};

TEST_P(InodeTableTest, ReserveHandsOutTheLowestFreeIno) {
  EXPECT_EQ(Create(), 2u);
  EXPECT_EQ(Create(), 3u);
  EXPECT_EQ(Create(), 4u);
  Remove(3);
  EXPECT_EQ(Create(), 3u);
  EXPECT_EQ(Create(), 5u);
}

TEST_P(InodeTableTest, RecordsRoundTripWithChecksums) {
  const uint64_t ino = Create(4242);
  auto rec = store().ReadInode(ino);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->size, 4242u);
  EXPECT_EQ(rec->generation, 1u);  // a never-used slot has generation 0
  EXPECT_EQ(rec->checksum, StructChecksum(*rec));
  layout::InodeRecord raw;
  dev().Read(RecordOffset(ino), &raw, sizeof raw);
  EXPECT_EQ(std::memcmp(&raw, &*rec, sizeof raw), 0);
}

TEST_P(InodeTableTest, FreeKeepsTheGenerationForTheNextUser) {
  const uint64_t ino = Create();
  Remove(ino);
  EXPECT_EQ(store().ReadInode(ino).status().code(), Code::kNotFound);
  layout::InodeRecord raw;
  dev().Read(RecordOffset(ino), &raw, sizeof raw);
  EXPECT_EQ(raw.mode, 0u);
  EXPECT_EQ(raw.generation, 1u);
  Tx tx = store().Begin();
  uint64_t gen = 0;
  EXPECT_EQ(store().ReserveInode(tx, &gen).value(), ino);
  EXPECT_EQ(gen, 1u);
}

TEST_P(InodeTableTest, FreedInodeIsReusableOnlyAfterCommit) {
  const uint64_t ino = Create();
  const uint64_t free_before = store().stats().free_inodes;
  Tx freeing = store().Begin();
  store().FreeInode(freeing, ino);
  Tx other = store().Begin();
  auto r = store().ReserveInode(other, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(*r, ino);
  EXPECT_EQ(store().stats().free_inodes, free_before - 1);
  ASSERT_TRUE(store().Commit(freeing).ok());
  EXPECT_EQ(store().stats().free_inodes, free_before);
  EXPECT_EQ(store().ReserveInode(other, nullptr).value(), ino);
}

TEST_P(InodeTableTest, FreeSetIsRebuiltAtOpen) {
  for (int i = 0; i < 10; i++) Create();
  Remove(4);
  Remove(7);
  const uint64_t free_before = store().stats().free_inodes;
  Reopen();
  EXPECT_EQ(store().stats().free_inodes, free_before);
  EXPECT_EQ(Create(), 4u);
  EXPECT_EQ(Create(), 7u);
  EXPECT_EQ(Create(), 12u);
}

TEST_P(InodeTableTest, ReadOutsideTheTableIsNotFound) {
  EXPECT_EQ(store().ReadInode(0).status().code(), Code::kNotFound);
  EXPECT_EQ(store().ReadInode(sb().inode_count + 1).status().code(), Code::kNotFound);
  EXPECT_EQ(store().ReadInode(sb().inode_count).status().code(), Code::kNotFound);  // free
}

TEST_P(InodeTableTest, DamagedRecordIsCorruptAndNeverHandedOut) {
  const uint64_t a = Create(1), b = Create(2);
  store_.reset();
  uint8_t flip;
  dev().Read(RecordOffset(a) + 20, &flip, 1);
  flip ^= 0x10;
  dev().Write(RecordOffset(a) + 20, &flip, 1);
  // A free slot with garbage in it is not free either.
  const uint64_t c = b + 1;
  dev().Write(RecordOffset(c) + 100, "junk", 4);
  Reopen();
  Status s = store().ReadInode(a).status();
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_EQ(s.message(), "inode " + std::to_string(a) + ": checksum mismatch");
  EXPECT_EQ(store().ReadInode(c).status().code(), Code::kCorrupt);
  EXPECT_TRUE(store().ReadInode(b).ok());
  Tx tx = store().Begin();
  auto next = store().ReserveInode(tx, nullptr);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, c + 1);
}

TEST_P(InodeTableTest, AllInodesInUseIsNoSpace) {
  const uint64_t n = sb().inode_count;
  Tx tx = store().Begin();
  for (uint64_t i = 1; i < n; i++) ASSERT_TRUE(store().ReserveInode(tx, nullptr).ok()) << i;
  EXPECT_EQ(store().stats().free_inodes, 0u);
  EXPECT_EQ(store().ReserveInode(tx, nullptr).status().code(), Code::kNoSpace);
}

TEST_P(InodeTableTest, OpenRefusesABadRoot) {
  const uint64_t root = RecordOffset(layout::kRootIno);
  store_.reset();
  layout::InodeRecord rec;
  dev().Read(root, &rec, sizeof rec);
  const layout::InodeRecord good = rec;

  rec.nlink ^= 1;  // checksum no longer matches
  dev().Write(root, &rec, sizeof rec);
  auto r = Store::Open(dev(), nullptr);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("root inode"), std::string::npos) << r.status().message();

  rec = good;
  rec.mode = S_IFREG | 0644;
  rec.checksum = StructChecksum(rec);
  dev().Write(root, &rec, sizeof rec);
  EXPECT_EQ(Store::Open(dev(), nullptr).status().code(), Code::kCorrupt);

  const layout::InodeRecord zero{};
  dev().Write(root, &zero, sizeof zero);
  r = Store::Open(dev(), nullptr);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("missing"), std::string::npos) << r.status().message();

  dev().Write(root, &good, sizeof good);
  EXPECT_TRUE(Store::Open(dev(), nullptr).ok());
}

INSTANTIATE_TEST_SUITE_P(Setups, InodeTableTest, ::testing::ValuesIn(StoreSetups()),
                         mapping::testing::SetupName);

}  // namespace
}  // namespace pmemfs::store
