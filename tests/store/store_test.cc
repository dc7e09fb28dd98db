// Store: Format and Open round trip (geometry, root inode, stats), options, Detect, Close, the
// inodes Open reports unfinished, and the free hook.
#include "fs/store/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstring>

#include "store_test_support.h"

namespace pmemfs::store {
namespace {

using testing::FileRecord;
using testing::MakeFormatted;
using testing::OpenOrFail;
using testing::SimDevice;
using testing::SimSetup;
using testing::StoreFixture;
using testing::StoreSetups;

class StoreTest : public StoreFixture {};

layout::Superblock ReadPrimary(const mapping::Device& dev) {
  layout::Superblock sb;
  dev.Read(0, &sb, sizeof sb);
  return sb;
}

TEST_P(StoreTest, FormatPlansTheDefaultGeometry) {
  const uint64_t store_bytes = dev().info().store().length;
  const layout::Superblock& s = sb();
  EXPECT_EQ(s.store_blocks, store_bytes / layout::kBlockSize);
  EXPECT_EQ(s.block_size, layout::kBlockSize);
  EXPECT_EQ(s.journal_start, 1u);
  // 1/64 of the store is below the 256 KiB floor on these small devices.
  EXPECT_EQ(s.journal_blocks, (256u << 10) / layout::kBlockSize);
  EXPECT_EQ(s.inode_start, s.journal_start + s.journal_blocks);
  EXPECT_EQ(s.inode_count, std::max<uint64_t>(64, store_bytes / (16 << 10)));
  EXPECT_EQ(s.inode_blocks, (s.inode_count + 15) / 16);
  EXPECT_EQ(s.bitmap_start, s.inode_start + s.inode_blocks);
  EXPECT_EQ(s.bitmap_blocks, (s.store_blocks + 32767) / 32768 + 1);  // + the checksums
  EXPECT_EQ(s.data_start, s.bitmap_start + s.bitmap_blocks);
  EXPECT_EQ(s.backup_block, s.store_blocks - 1);
  EXPECT_EQ(s.data_blocks, s.backup_block - s.data_start);
  EXPECT_EQ(s.major, layout::kMajorVersion);
  EXPECT_EQ(s.default_mode, static_cast<uint32_t>(layout::StoredMode::kDirect));
  EXPECT_EQ(store().max_tx_bytes(), (s.journal_blocks - 1) * layout::kBlockSize);
}

TEST_P(StoreTest, FreshStoreHasARootDirectoryAndFreeSpace) {
  auto root = store().ReadInode(layout::kRootIno);
  ASSERT_TRUE(root.ok()) << root.status().message();
  EXPECT_EQ(root->mode, S_IFDIR | 0755u);
  EXPECT_EQ(root->nlink, 2u);
  EXPECT_EQ(root->parent, layout::kRootIno);
  EXPECT_EQ(root->generation, 1u);
  EXPECT_EQ(root->map_head, 0u);
  EXPECT_EQ(root->map_tail, 0u);
  EXPECT_EQ(root->blocks, 0u);
  EXPECT_GT(root->mtime_ns, 0);
  EXPECT_EQ(root->mtime_ns, root->btime_ns);

  StoreStats st = store().stats();
  EXPECT_EQ(st.data_blocks, sb().data_blocks);
  EXPECT_EQ(st.free_blocks, sb().data_blocks);
  EXPECT_EQ(st.inode_count, sb().inode_count);
  EXPECT_EQ(st.free_inodes, sb().inode_count - 1);
  EXPECT_TRUE(store().orphans().empty());
  EXPECT_TRUE(store().truncating().empty());
}

TEST_P(StoreTest, OpenMarksDirtyAndCloseMarksClean) {
  layout::Superblock on_dev = ReadPrimary(dev());
  EXPECT_EQ(on_dev.state, static_cast<uint32_t>(layout::FsState::kDirty));
  EXPECT_EQ(on_dev.mount_count, 1u);
  EXPECT_GT(on_dev.mounted_ns, 0u);
  EXPECT_EQ(sb().state, on_dev.state);

  ASSERT_TRUE(store().Close().ok());
  on_dev = ReadPrimary(dev());
  EXPECT_EQ(on_dev.state, static_cast<uint32_t>(layout::FsState::kClean));
  EXPECT_GE(on_dev.written_ns, on_dev.mounted_ns);
  // The backup follows the primary.
  layout::Superblock backup;
  dev().Read(Store::BlockOffset(on_dev.backup_block), &backup, sizeof backup);
  EXPECT_EQ(std::memcmp(&backup, &on_dev, sizeof backup), 0);

  Reopen();
  EXPECT_EQ(sb().mount_count, 2u);
  EXPECT_EQ(ReadPrimary(dev()).state, static_cast<uint32_t>(layout::FsState::kDirty));
}

// mount -o remount,ro and back: clean on the device while read-only, every commit refused,
// dirty again and committing after read-write; the crash simulator sees the clean mark durable.
TEST_P(StoreTest, SetReadOnlyMarksCleanAndRefusesCommitsUntilReadWrite) {
  ASSERT_TRUE(store().SetReadOnly(true).ok());
  EXPECT_TRUE(store().read_only());
  EXPECT_EQ(ReadPrimary(dev()).state, static_cast<uint32_t>(layout::FsState::kClean));
  Tx tx = store().Begin();
  store().WriteInode(tx, 2, FileRecord());
  EXPECT_EQ(store().Commit(tx).code(), Code::kReadOnly);
  EXPECT_EQ(store().SetFeatures(layout::kCompatDescriptorsCurrent, 0, 0).code(), Code::kReadOnly);
  EXPECT_EQ(store().ReadInode(2).status().code(), Code::kNotFound);
  ASSERT_TRUE(store().SetReadOnly(true).ok());  // again: nothing to do

  ASSERT_TRUE(store().SetReadOnly(false).ok());
  EXPECT_FALSE(store().read_only());
  EXPECT_EQ(ReadPrimary(dev()).state, static_cast<uint32_t>(layout::FsState::kDirty));
  Tx tx2 = store().Begin();
  store().WriteInode(tx2, 2, FileRecord(7));
  ASSERT_TRUE(store().Commit(tx2).ok());
  ASSERT_TRUE(store().SetReadOnly(true).ok());
  store_.reset();
  d_.sim->Crash(0.0);  // only what was persisted: the clean mark and the inode
  d_.Reopen();
  EXPECT_EQ(ReadPrimary(dev()).state, static_cast<uint32_t>(layout::FsState::kClean));
  store_ = OpenOrFail(dev());
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(store().ReadInode(2)->size, 7u);
}

TEST_P(StoreTest, CommittedStateSurvivesReopen) {
  Tx tx = store().Begin();
  uint64_t gen = 0;
  auto ino = store().ReserveInode(tx, &gen);
  ASSERT_TRUE(ino.ok());
  layout::InodeRecord rec = FileRecord(12345);
  rec.generation = gen + 1;
  auto blocks = store().AllocBlocks(tx, 10);
  ASSERT_TRUE(blocks.ok());
  rec.blocks = blocks->count;
  store().WriteInode(tx, *ino, rec);
  ASSERT_TRUE(store().Commit(tx).ok());
  const StoreStats before = store().stats();

  Reopen();
  auto back = store().ReadInode(*ino);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->size, 12345u);
  EXPECT_EQ(back->blocks, 10u);
  const StoreStats after = store().stats();
  EXPECT_EQ(after.free_blocks, before.free_blocks);
  EXPECT_EQ(after.free_inodes, before.free_inodes);
  EXPECT_EQ(after.free_blocks, sb().data_blocks - 10);
}

TEST_P(StoreTest, OpenReportsOrphansAndInterruptedTruncates) {
  Tx tx = store().Begin();
  store().WriteInode(tx, 5, FileRecord(0, /*nlink=*/0));
  layout::InodeRecord t = FileRecord(1 << 20);
  t.flags = layout::kInodeTruncating;
  t.pending_size = 4096;
  store().WriteInode(tx, 9, t);
  ASSERT_TRUE(store().Commit(tx).ok());
  Reopen();
  EXPECT_EQ(store().orphans(), std::vector<uint64_t>{5});
  EXPECT_EQ(store().truncating(), std::vector<uint64_t>{9});
}

TEST_P(StoreTest, FreeHookSeesFreedRangesAfterCommit) {
  std::vector<BlockRange> seen;
  store().SetFreeHook([&](BlockRange r) { seen.push_back(r); });
  Tx a = store().Begin();
  auto r = store().AllocBlocks(a, 4);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(store().Commit(a).ok());
  Tx b = store().Begin();
  store().FreeBlocks(b, {r->start + 1, 2});
  EXPECT_TRUE(seen.empty());
  ASSERT_TRUE(store().Commit(b).ok());
  EXPECT_EQ(seen, (std::vector<BlockRange>{{r->start + 1, 2}}));
}

// The hook runs before the blocks can be allocated again (copy mode drops them from its cache
// then), and also for the reservations of a Tx that gives them back by aborting.
TEST_P(StoreTest, FreeHookRunsBeforeBlocksAreReusable) {
  std::vector<BlockRange> seen;
  std::vector<uint64_t> free_then;
  store().SetFreeHook([&](BlockRange r) {
    seen.push_back(r);
    free_then.push_back(store().stats().free_blocks);
  });
  const uint64_t free0 = store().stats().free_blocks;
  BlockRange reserved;
  {
    Tx a = store().Begin();
    auto r = store().AllocBlocks(a, 3);
    ASSERT_TRUE(r.ok());
    reserved = *r;
    EXPECT_EQ(store().stats().free_blocks, free0 - 3);
  }  // destroyed uncommitted: aborts
  EXPECT_EQ(seen, (std::vector<BlockRange>{reserved}));
  EXPECT_EQ(free_then, (std::vector<uint64_t>{free0 - 3}));  // not yet free in the hook
  EXPECT_EQ(store().stats().free_blocks, free0);
  Tx b = store().Begin();
  auto r = store().AllocBlocks(b, 2);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(store().Commit(b).ok());
  seen.clear();
  free_then.clear();
  Tx c = store().Begin();
  store().FreeBlocks(c, *r);
  ASSERT_TRUE(store().Commit(c).ok());
  EXPECT_EQ(seen, (std::vector<BlockRange>{*r}));
  EXPECT_EQ(free_then, (std::vector<uint64_t>{free0 - 2}));
  EXPECT_EQ(store().stats().free_blocks, free0);
}

TEST_P(StoreTest, DetectRecognisesTheStore) {
  EXPECT_EQ(Store::Detect(dev()), "pmemfs");
  SimDevice fresh = mapping::testing::MakeSimDevice(GetParam());
  EXPECT_EQ(Store::Detect(*fresh.dev), "");
  // Either copy is enough.
  store_.reset();
  dev().SetNoDrain(0, 0, layout::kBlockSize);
  dev().Drain();
  EXPECT_EQ(Store::Detect(dev()), "pmemfs");
}

TEST_P(StoreTest, CommitOfAFinishedTxIsRefused) {
  Tx tx = store().Begin();
  store().WriteInode(tx, 3, FileRecord());
  ASSERT_TRUE(store().Commit(tx).ok());
  EXPECT_EQ(store().Commit(tx).code(), Code::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Setups, StoreTest, ::testing::ValuesIn(StoreSetups()),
                         mapping::testing::SetupName);

// --- Format options and refusals ----------------------------------------------------------------

SimSetup OnePart(uint64_t size) {
  return {"OnePart", layout::LayoutKind::kLinear, 1, mapping::AccessPath::kLinear, size};
}

TEST(StoreFormatTest, OptionsAreHonoured) {
  SimDevice d = MakeFormatted(OnePart(16 << 20),
                              {.label = "scratch",
                               .inode_count = 100,
                               .journal_bytes = 1 << 20,
                               .default_mode = layout::StoredMode::kPages,
                               .root_uid = 1000,
                               .root_gid = 100,
                               .root_mode = 01777});
  auto s = OpenOrFail(*d.dev);
  ASSERT_NE(s, nullptr);
  EXPECT_STREQ(s->superblock().label, "scratch");
  EXPECT_EQ(s->superblock().inode_count, 100u);
  EXPECT_EQ(s->superblock().inode_blocks, 7u);
  EXPECT_EQ(s->superblock().journal_blocks, 256u);
  EXPECT_EQ(s->superblock().default_mode, static_cast<uint32_t>(layout::StoredMode::kPages));
  auto root = s->ReadInode(layout::kRootIno);
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->mode, S_IFDIR | 01777u);
  EXPECT_EQ(root->uid, 1000u);
  EXPECT_EQ(root->gid, 100u);
  EXPECT_EQ(s->stats().free_inodes, 99u);
  EXPECT_EQ(s->ReadInode(101).status().code(), Code::kNotFound);
}

TEST(StoreFormatTest, ProgressReachesTheTotal) {
  SimDevice d = mapping::testing::MakeSimDevice(OnePart(8 << 20));
  uint64_t last_done = 0, last_total = 0, calls = 0;
  Status s = Store::Format(*d.dev, {.progress = [&](uint64_t done, uint64_t total) {
                                      EXPECT_GE(done, last_done);
                                      last_done = done;
                                      last_total = total;
                                      calls++;
                                    }});
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_GT(calls, 0u);
  EXPECT_EQ(last_done, last_total);
}

TEST(StoreFormatTest, LongLabelIsRefused) {
  SimDevice d = mapping::testing::MakeSimDevice(OnePart(8 << 20));
  EXPECT_TRUE(Store::Format(*d.dev, {.label = std::string(63, 'x')}).ok());
  Status s = Store::Format(*d.dev, {.label = std::string(64, 'x')});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("64"), std::string::npos) << s.message();
}

TEST(StoreFormatTest, DeviceTooSmallIsRefusedWithTheNumbers) {
  // The mapping layer leaves the store at least 1 MiB; a journal of that size cannot fit.
  SimDevice d = mapping::testing::MakeSimDevice(OnePart(2 << 20));
  ASSERT_NE(d.dev, nullptr);
  Status s = Store::Format(*d.dev, {.journal_bytes = 2 << 20});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("too small"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find(std::to_string(d.dev->info().store().length)), std::string::npos)
      << s.message();
  EXPECT_EQ(Store::Detect(*d.dev), "");
  EXPECT_EQ(Store::Format(*d.dev, {.inode_count = 1'000'000}).code(), Code::kInvalidArgument);
  EXPECT_TRUE(Store::Format(*d.dev, {}).ok());
}

TEST(StoreFormatTest, ReformatReplacesTheOldStore) {
  SimDevice d = MakeFormatted(OnePart(8 << 20), {.label = "old"});
  {
    auto s = OpenOrFail(*d.dev);
    Tx tx = s->Begin();
    s->WriteInode(tx, 2, FileRecord());
    ASSERT_TRUE(s->Commit(tx).ok());
  }
  ASSERT_TRUE(Store::Format(*d.dev, {.label = "new"}).ok());
  auto s = OpenOrFail(*d.dev);
  ASSERT_NE(s, nullptr);
  EXPECT_STREQ(s->superblock().label, "new");
  EXPECT_EQ(s->superblock().mount_count, 1u);
  EXPECT_EQ(s->ReadInode(2).status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace pmemfs::store
