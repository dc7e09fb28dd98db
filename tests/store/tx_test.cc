// Tx and the journal: visibility, merging of writes, Overlay, aborts, size limits, refusals,
// descriptor records, and what Open does with the journal header it finds.
#include "fs/store/tx.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "fs/store/journal.h"
#include "pmemfs/crc32c.h"
#include "store_test_support.h"

namespace pmemfs::store {
namespace {

using testing::FileRecord;
using testing::StoreFixture;
using testing::StoreSetups;

class TxTest : public StoreFixture {
 protected:
  // A committed data block to write into.
  uint64_t DataBlock() {
    Tx tx = store().Begin();
    auto r = store().AllocBlocks(tx, 1);
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(store().Commit(tx).ok());
    return r->start;
  }
  std::vector<uint8_t> ReadDev(uint64_t off, uint64_t len) {
    std::vector<uint8_t> v(len);
    dev().Read(off, v.data(), len);
    return v;
  }
  // As if the machine stopped right after a commit point (the store closed): writes `stream`
  // into the journal of `s` and returns the committed header that claims it, for the caller to
  // write (or spoil first).
  layout::JournalHeader CommittedHeader(const layout::Superblock& s, const RecordStream& stream) {
    layout::JournalHeader h{};
    dev().Read(Store::BlockOffset(s.journal_start), &h, sizeof h);
    h.sequence++;
    h.state = static_cast<uint32_t>(layout::JournalState::kCommitted);
    h.record_count = stream.count();
    h.record_bytes = stream.bytes().size();
    h.records_crc = Crc32c(stream.bytes().data(), stream.bytes().size());
    h.checksum = StructChecksum(h);
    dev().Write(Store::BlockOffset(s.journal_start + 1), stream.bytes().data(),
                stream.bytes().size());
    return h;
  }
};

TEST_P(TxTest, WritesAreInvisibleUntilCommit) {
  const uint64_t off = Store::BlockOffset(DataBlock()) + 100;
  const char msg[] = "committed bytes";
  Tx tx = store().Begin();
  tx.Put(off, msg);
  EXPECT_EQ(ReadDev(off, sizeof msg), std::vector<uint8_t>(sizeof msg, 0));
  char seen[sizeof msg] = {};
  tx.Overlay(off - 10, seen, 10);  // bytes before the write: the device's
  EXPECT_EQ(std::string(seen, 10), std::string(10, '\0'));
  tx.Overlay(off, seen, sizeof msg);
  EXPECT_STREQ(seen, msg);
  ASSERT_TRUE(store().Commit(tx).ok());
  dev().Read(off, seen, sizeof msg);
  EXPECT_STREQ(seen, msg);
  Reopen();
  dev().Read(off, seen, sizeof msg);
  EXPECT_STREQ(seen, msg);
}

TEST_P(TxTest, LaterWritesWinAndOverlapsMerge) {
  const uint64_t base = Store::BlockOffset(DataBlock());
  std::vector<uint8_t> model(layout::kBlockSize, 0);
  std::mt19937 rng(7);
  Tx tx = store().Begin();
  for (int i = 0; i < 300; i++) {
    const uint32_t len = 1 + rng() % 64;
    const uint32_t at = rng() % (layout::kBlockSize - len);
    std::vector<uint8_t> bytes(len);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    tx.Write(base + at, bytes.data(), len);
    std::copy(bytes.begin(), bytes.end(), model.begin() + at);
    if (i % 50 == 0) {
      std::vector<uint8_t> seen(layout::kBlockSize);
      tx.Overlay(base, seen.data(), layout::kBlockSize);
      ASSERT_EQ(seen, model) << "after write " << i;
    }
  }
  // Same offset twice: the second wins.
  const uint64_t v1 = 1, v2 = 2;
  tx.Put(base + 8, v1);
  tx.Put(base + 8, v2);
  std::memcpy(model.data() + 8, &v2, sizeof v2);
  ASSERT_TRUE(store().Commit(tx).ok());
  EXPECT_EQ(ReadDev(base, layout::kBlockSize), model);
}

TEST_P(TxTest, JournalBytesCountRecordsDataAndBitmapWords) {
  Tx tx = store().Begin();
  EXPECT_TRUE(tx.empty());
  EXPECT_EQ(tx.journal_bytes(), 0u);
  store().WriteInode(tx, 2, FileRecord());
  EXPECT_EQ(tx.journal_bytes(), 16u + 256u);
  store().WriteInode(tx, 3, FileRecord());  // adjacent: merged into one record
  EXPECT_EQ(tx.journal_bytes(), 16u + 512u);
  tx.Write(Store::BlockOffset(sb().data_start) + 1, "abc", 3);  // padded to 8
  EXPECT_EQ(tx.journal_bytes(), 16u + 512u + 16u + 8u);
  auto r = store().AllocBlocks(tx, 1);
  ASSERT_TRUE(r.ok());
  // The bitmap word, and its block's checksum (layout::kRoCompatBitmapChecksums).
  EXPECT_EQ(tx.journal_bytes(), 16u + 512u + 16u + 8u + 16u + 8u + 16u + 8u);
  EXPECT_FALSE(tx.empty());
}

// What the store reports as the cost of changes is what a Tx of them adds up to.
TEST_P(TxTest, ReportedCostsMatchJournalBytes) {
  Tx tx = store().Begin();
  tx.SetDescriptor(7, {.owner = 2, .file_index = 0, .refcount = 1, .flags = 1});
  tx.SetDescriptor(8, {.owner = 2, .file_index = 1, .refcount = 1, .flags = 1});
  tx.SetDescriptor(7, {.owner = 2, .file_index = 0, .refcount = 2, .flags = 3});  // same page
  EXPECT_EQ(tx.journal_bytes(), Store::DescriptorChangesCost(2));
  tx.Write(Store::BlockOffset(sb().data_start), "abcdefghij", 10);
  EXPECT_EQ(tx.journal_bytes(), Store::DescriptorChangesCost(2) + Store::WriteCost(10));
  EXPECT_EQ(Store::DescriptorChangesCost(0), 0u);
}

TEST_P(TxTest, AbortReleasesReservations) {
  const StoreStats before = store().stats();
  uint64_t ino = 0;
  {
    Tx tx = store().Begin();
    auto r = store().AllocBlocks(tx, 7);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->count, 7u);
    auto i = store().ReserveInode(tx, nullptr);
    ASSERT_TRUE(i.ok());
    ino = *i;
    store().WriteInode(tx, ino, FileRecord());
    EXPECT_EQ(store().stats().free_blocks, before.free_blocks - 7);
    EXPECT_EQ(store().stats().free_inodes, before.free_inodes - 1);
  }  // destroyed uncommitted
  EXPECT_EQ(store().stats().free_blocks, before.free_blocks);
  EXPECT_EQ(store().stats().free_inodes, before.free_inodes);
  EXPECT_EQ(store().ReadInode(ino).status().code(), Code::kNotFound);
  Tx again = store().Begin();
  EXPECT_EQ(store().ReserveInode(again, nullptr).value(), ino);
}

TEST_P(TxTest, MovedTxKeepsItsReservations) {
  const StoreStats before = store().stats();
  Tx a = store().Begin();
  ASSERT_TRUE(store().AllocBlocks(a, 3).ok());
  std::optional<Tx> b;
  b.emplace(std::move(a));
  EXPECT_EQ(store().stats().free_blocks, before.free_blocks - 3);
  ASSERT_TRUE(store().Commit(*b).ok());
  b.reset();
  EXPECT_EQ(store().stats().free_blocks, before.free_blocks - 3);
}

TEST_P(TxTest, TooLargeTxIsRefusedAndChangesNothing) {
  const uint64_t store_bytes = dev().info().store().length;
  const std::vector<uint8_t> before = ReadDev(0, store_bytes);
  const StoreStats stats = store().stats();

  Tx tx = store().Begin();
  ASSERT_TRUE(store().ReserveInode(tx, nullptr).ok());
  ASSERT_TRUE(store().AllocBlocks(tx, 2).ok());
  store().WriteInode(tx, 2, FileRecord());
  // One record whose data alone fills the journal: with its header it does not fit.
  const std::vector<uint8_t> big(store().max_tx_bytes(), 0xab);
  tx.Write(Store::BlockOffset(sb().data_start), big.data(), static_cast<uint32_t>(big.size()));
  EXPECT_GT(tx.journal_bytes(), store().max_tx_bytes());
  Status s = store().Commit(tx);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find(std::to_string(store().max_tx_bytes())), std::string::npos)
      << s.message();
  EXPECT_TRUE(ReadDev(0, store_bytes) == before);
  EXPECT_EQ(store().stats().free_blocks, stats.free_blocks);  // reservations released
  EXPECT_EQ(store().stats().free_inodes, stats.free_inodes);

  // Just under the limit it commits.
  Tx fits = store().Begin();
  fits.Write(Store::BlockOffset(sb().data_start), big.data(),
             static_cast<uint32_t>(big.size() - 16));
  EXPECT_EQ(fits.journal_bytes(), store().max_tx_bytes());
  EXPECT_TRUE(store().Commit(fits).ok());
}

TEST_P(TxTest, WritesOutsideTheStoreAreaAreRefused) {
  Tx tx = store().Begin();
  ASSERT_TRUE(store().AllocBlocks(tx, 1).ok());
  const StoreStats stats = store().stats();
  tx.Write(dev().info().store().length - 2, "abcd", 4);
  EXPECT_EQ(store().Commit(tx).code(), Code::kInvalidArgument);
  EXPECT_EQ(store().stats().free_blocks, stats.free_blocks + 1);
}

TEST_P(TxTest, InodeOutsideTheTableIsRefused) {
  Tx tx = store().Begin();
  store().WriteInode(tx, sb().inode_count + 1, FileRecord());
  Status s = store().Commit(tx);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find(std::to_string(sb().inode_count + 1)), std::string::npos);
}

TEST_P(TxTest, EmptyTxCommits) {
  Tx tx = store().Begin();
  EXPECT_TRUE(store().Commit(tx).ok());
}

TEST_P(TxTest, DescriptorRecordsReachThePageDescriptors) {
  mapping::PageDescriptors* pd = ReopenWithDescriptors();
  ASSERT_NE(pd, nullptr);
  Tx tx = store().Begin();
  auto r = store().AllocBlocks(tx, 2);
  ASSERT_TRUE(r.ok());
  const mapping::PageInfo info{.owner = 7, .file_index = 3, .refcount = 1,
                               .flags = layout::kPageAllocated};
  tx.SetDescriptor(r->start, info);
  EXPECT_EQ(pd->Get(r->start), mapping::PageInfo{});
  ASSERT_TRUE(store().Commit(tx).ok());
  EXPECT_EQ(pd->Get(r->start), info);
  // Without descriptors the same request is refused.
  Reopen();
  Tx tx2 = store().Begin();
  tx2.SetDescriptor(r->start, {});
  EXPECT_EQ(store().Commit(tx2).code(), Code::kInvalidArgument);
}

// A commit is four drains (stream, commit point, apply, retire), whatever descriptor changes it
// carries: they are applied with the other records, not through a log of their own. A drain
// that persists lines in two parts is two persist points: the descriptor area (at the end of
// the device) may add one.
TEST_P(TxTest, DescriptorChangesAddNoDrain) {
  mapping::PageDescriptors* pd = ReopenWithDescriptors();
  ASSERT_NE(pd, nullptr);
  auto points = [&](uint64_t descriptors) {
    Tx tx = store().Begin();
    store().WriteInode(tx, 5, FileRecord(descriptors));
    for (uint64_t i = 0; i < descriptors; i++)
      tx.SetDescriptor(pd->page_count() - 1 - i,
                       {.owner = 5, .file_index = i, .refcount = 1, .flags = 1});
    const uint64_t before = d_.sim->persist_points();
    EXPECT_TRUE(store().Commit(tx).ok());
    return d_.sim->persist_points() - before;
  };
  const uint64_t plain = points(0);
  const uint64_t with = points(100);
  EXPECT_LE(with, plain + 1) << plain;
  if (GetParam().parts == 1) {
    EXPECT_EQ(plain, 4u);
    EXPECT_EQ(with, 4u);
  }
}

TEST_P(TxTest, GarbageJournalHeaderIsIgnored) {
  Tx tx = store().Begin();
  store().WriteInode(tx, 4, FileRecord(77));
  ASSERT_TRUE(store().Commit(tx).ok());
  store_.reset();
  uint8_t junk[64];
  for (int i = 0; i < 64; i++) junk[i] = static_cast<uint8_t>(i * 37 + 1);
  dev().Write(Store::BlockOffset(sb().journal_start), junk, sizeof junk);
  Reopen();
  auto rec = store().ReadInode(4);
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->size, 77u);
}

TEST_P(TxTest, CommittedHeaderIsReplayedAtOpen) {
  // Write a committed transaction into the journal by hand, as if the machine stopped right
  // after the commit point: Open must apply it.
  const uint64_t off = Store::BlockOffset(DataBlock());
  const layout::Superblock s = sb();
  store_.reset();
  RecordStream stream;
  const char msg[] = "redo me";
  stream.AddBytes(off, msg, sizeof msg);
  const layout::JournalHeader h = CommittedHeader(s, stream);
  // The same header with a stream that does not match its CRC is not committed.
  layout::JournalHeader wrong = h;
  wrong.records_crc ^= 1;
  wrong.checksum = StructChecksum(wrong);
  dev().Write(Store::BlockOffset(s.journal_start), &wrong, sizeof wrong);
  Reopen();
  EXPECT_EQ(ReadDev(off, sizeof msg), std::vector<uint8_t>(sizeof msg, 0));
  store_.reset();  // that Open's own commit reused the journal: write the stream again
  dev().Write(Store::BlockOffset(s.journal_start + 1), stream.bytes().data(),
              stream.bytes().size());
  dev().Write(Store::BlockOffset(s.journal_start), &h, sizeof h);
  Reopen();
  char seen[sizeof msg];
  dev().Read(off, seen, sizeof seen);
  EXPECT_STREQ(seen, msg);
  layout::JournalHeader after;
  dev().Read(Store::BlockOffset(s.journal_start), &after, sizeof after);
  EXPECT_EQ(after.state, static_cast<uint32_t>(layout::JournalState::kEmpty));
  EXPECT_GT(after.sequence, h.sequence);  // Open committed its own transaction since
}

// A read-only open writes nothing: it refuses a journal that needs replaying (and leaves it for
// the next read-write open), refuses every commit, and Close leaves the superblock as it was.
TEST_P(TxTest, ReadOnlyOpenNeitherReplaysNorCommits) {
  const uint64_t off = Store::BlockOffset(DataBlock());
  const layout::Superblock s = sb();
  store_.reset();
  RecordStream stream;
  const char msg[] = "redo me";
  stream.AddBytes(off, msg, sizeof msg);
  const layout::JournalHeader h = CommittedHeader(s, stream);
  dev().Write(Store::BlockOffset(s.journal_start), &h, sizeof h);

  auto ro = Store::Open(dev(), nullptr, /*read_only=*/true);
  ASSERT_EQ(ro.status().code(), Code::kReadOnly);
  EXPECT_NE(ro.status().message().find("read-write mount replays it"), std::string::npos)
      << ro.status().message();
  EXPECT_EQ(ReadDev(off, sizeof msg), std::vector<uint8_t>(sizeof msg, 0));
  layout::JournalHeader still;
  dev().Read(Store::BlockOffset(s.journal_start), &still, sizeof still);
  EXPECT_EQ(still.state, static_cast<uint32_t>(layout::JournalState::kCommitted));

  Reopen();  // read-write: replayed
  char seen[sizeof msg];
  dev().Read(off, seen, sizeof seen);
  EXPECT_STREQ(seen, msg);
  ASSERT_TRUE(store().Close().ok());
  store_.reset();

  layout::Superblock before;
  dev().Read(0, &before, sizeof before);
  auto r = Store::Open(dev(), nullptr, /*read_only=*/true);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE((*r)->read_only());
  Tx tx = (*r)->Begin();
  (*r)->WriteInode(tx, 4, FileRecord(77));
  EXPECT_EQ((*r)->Commit(tx).code(), Code::kReadOnly);
  EXPECT_FALSE((*r)->ReadInode(4).ok());
  EXPECT_TRUE((*r)->Close().ok());
  layout::Superblock after;
  dev().Read(0, &after, sizeof after);
  EXPECT_EQ(std::memcmp(&before, &after, sizeof before), 0);  // no mount count, no dirty state
  EXPECT_EQ(after.state, static_cast<uint32_t>(layout::FsState::kClean));
}

TEST_P(TxTest, CommittedStreamWithAForeignTargetIsCorrupt) {
  const layout::Superblock s = sb();
  store_.reset();
  RecordStream stream;
  stream.AddBytes(dev().info().store().length, "x", 1);
  layout::JournalHeader h{};
  dev().Read(Store::BlockOffset(s.journal_start), &h, sizeof h);
  h.state = static_cast<uint32_t>(layout::JournalState::kCommitted);
  h.record_count = stream.count();
  h.record_bytes = stream.bytes().size();
  h.records_crc = Crc32c(stream.bytes().data(), stream.bytes().size());
  h.checksum = StructChecksum(h);
  dev().Write(Store::BlockOffset(s.journal_start + 1), stream.bytes().data(),
              stream.bytes().size());
  dev().Write(Store::BlockOffset(s.journal_start), &h, sizeof h);
  auto r = Store::Open(dev(), nullptr);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_NE(r.status().message().find("journal record 0"), std::string::npos)
      << r.status().message();
}

// ReadJournal, the reader Open replays from and pmemfs-fsck checks with: each state of the
// journal it can find, read without writing anything.
TEST_P(TxTest, ReadJournalNamesWhatOpenWouldDo) {
  const uint64_t off = Store::BlockOffset(DataBlock());
  const layout::Superblock s = sb();
  store_.reset();
  auto read = [&] { return ReadJournal(dev(), s, 0); };
  {
    Result<JournalContents> c = read();
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_EQ(c->state, JournalContents::State::kEmpty);
    EXPECT_TRUE(c->records.empty());
  }
  RecordStream stream;
  const char msg[] = "redo me";
  stream.AddBytes(off, msg, sizeof msg);
  stream.AddDescriptor(3, {.owner = 9, .file_index = 2, .refcount = 1, .flags = 0});
  const layout::JournalHeader h = CommittedHeader(s, stream);
  dev().Write(Store::BlockOffset(s.journal_start), &h, sizeof h);
  {
    Result<JournalContents> c = read();
    ASSERT_TRUE(c.ok()) << c.status().message();
    ASSERT_EQ(c->state, JournalContents::State::kCommitted);
    EXPECT_EQ(c->header.sequence, h.sequence);
    ASSERT_EQ(c->records.size(), 2u);
    EXPECT_EQ(c->records[0].rec.target, off);
    EXPECT_EQ(c->records[0].rec.length, sizeof msg);
    EXPECT_EQ(std::memcmp(c->data(c->records[0]), msg, sizeof msg), 0);
    EXPECT_EQ(c->records[1].rec.kind, static_cast<uint32_t>(layout::RecordKind::kDescriptor));
    EXPECT_EQ(c->records[1].rec.target, 3u);
    layout::DescriptorValue v;
    std::memcpy(&v, c->data(c->records[1]), sizeof v);
    EXPECT_EQ(v.owner, 9u);
    EXPECT_EQ(v.file_index, 2u);
    // A table of 3 pages has no page 3: the record cannot be applied.
    Result<JournalContents> small = ReadJournal(dev(), s, 3);
    EXPECT_EQ(small.status().code(), Code::kCorrupt);
    EXPECT_NE(small.status().message().find("journal record 1"), std::string::npos)
        << small.status().message();
  }
  EXPECT_EQ(ReadDev(off, sizeof msg), std::vector<uint8_t>(sizeof msg, 0));  // nothing applied
  {
    layout::JournalHeader torn = h;
    torn.records_crc ^= 1;
    torn.checksum = StructChecksum(torn);
    dev().Write(Store::BlockOffset(s.journal_start), &torn, sizeof torn);
    Result<JournalContents> c = read();
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_EQ(c->state, JournalContents::State::kTorn);
  }
  {
    layout::JournalHeader damaged = h;
    damaged.magic[0] ^= 1;
    dev().Write(Store::BlockOffset(s.journal_start), &damaged, sizeof damaged);
    Result<JournalContents> c = read();
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_EQ(c->state, JournalContents::State::kDamaged);
  }
  dev().Write(Store::BlockOffset(s.journal_start), &h, sizeof h);
  Reopen();  // replays what ReadJournal found
  EXPECT_EQ(ReadDev(off, sizeof msg), std::vector<uint8_t>(msg, msg + sizeof msg));
}

INSTANTIATE_TEST_SUITE_P(Setups, TxTest, ::testing::ValuesIn(StoreSetups()),
                         mapping::testing::SetupName);

}  // namespace
}  // namespace pmemfs::store
