// Recorded bad ranges in the store's fixed structures (fs/store/metadata_media.h): a read-write
// open is refused (ReadOnly, naming the structure) where a read-only one can avoid the range, and
// the read-only open then never reads it (the range is also poisoned, mapping/poison.h: a plain
// load of it would kill the test); refused outright for the superblock and for a journal that
// may hold a transaction to replay; remounting read-write stays refused.
#include "fs/store/metadata_media.h"

#include <gtest/gtest.h>

#include "mapping/poison.h"
#include "store_test_support.h"

namespace pmemfs::store {
namespace {

using testing::FileRecord;
using testing::MakeFormatted;
using testing::OpenOrFail;
constexpr uint64_t P = layout::kBlockSize;

struct Image {
  mapping::testing::SimDevice d = MakeFormatted(mapping::testing::AllSetups()[0]);
  layout::Superblock sb{};
  Image() {
    auto s = OpenOrFail(*d.dev);
    sb = s->superblock();
    // A file in the first inode-table page, so that the table has something to read.
    Tx tx = s->Begin();
    uint64_t gen = 0;
    Result<uint64_t> ino = s->ReserveInode(tx, &gen);
    EXPECT_TRUE(ino.ok());
    s->WriteInode(tx, *ino, FileRecord(0));
    EXPECT_TRUE(s->Commit(tx).ok());
    file = *ino;
    EXPECT_TRUE(s->Close().ok());
  }
  // Records [off, off+len) bad, reassembles the device (as a remount does) and poisons it in
  // the new mapping too.
  void Bad(uint64_t off, uint64_t len) {
    ASSERT_TRUE(d.dev->bad_blocks().Inject(off, len).ok());
    d.Reopen();
    ASSERT_TRUE(mapping::SimulatePoison(*d.dev, off, len).ok());
  }
  uint64_t file = 0;
};

void ExpectReadOnlyOnly(Image& t, const std::string& what) {
  auto rw = Store::Open(*t.d.dev, nullptr);
  ASSERT_FALSE(rw.ok());
  EXPECT_EQ(rw.status().code(), Code::kReadOnly);
  EXPECT_NE(rw.status().message().find(what), std::string::npos) << rw.status().message();
  auto ro = Store::Open(*t.d.dev, nullptr, /*read_only=*/true);
  ASSERT_TRUE(ro.ok()) << ro.status().message();
  EXPECT_TRUE((*ro)->ReadInode(layout::kRootIno).ok());
  EXPECT_EQ((*ro)->SetReadOnly(false).code(), Code::kReadOnly);
}

TEST(MetadataMedia, SuperblockIsRefused) {
  Image t;
  t.Bad(100, 8);
  EXPECT_EQ(CheckSuperblockMedia(*t.d.dev).code(), Code::kIoError);
  for (bool ro : {false, true}) {
    auto s = Store::Open(*t.d.dev, nullptr, ro);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), Code::kIoError);
    EXPECT_NE(s.status().message().find("superblock"), std::string::npos);
  }
}

TEST(MetadataMedia, InodeTablePageReadOnlyAndItsInodesFail) {
  Image t;
  const uint64_t last = (t.sb.inode_start + t.sb.inode_blocks - 1) * P;  // unused inodes
  t.Bad(last, P);
  EXPECT_FALSE(CheckMetadataMedia(*t.d.dev, t.sb).refuse);
  ExpectReadOnlyOnly(t, "inode table");
  auto ro = Store::Open(*t.d.dev, nullptr, true);
  ASSERT_TRUE(ro.ok());
  EXPECT_TRUE((*ro)->ReadInode(t.file).ok());
  EXPECT_EQ((*ro)->ReadInode(t.sb.inode_count).status().code(), Code::kIoError);
}

TEST(MetadataMedia, BitmapPageReadOnly) {
  Image t;
  t.Bad(t.sb.bitmap_start * P, P);
  ExpectReadOnlyOnly(t, "allocation bitmap");
  auto ro = Store::Open(*t.d.dev, nullptr, true);
  ASSERT_TRUE(ro.ok());
  EXPECT_FALSE((*ro)->bad_bitmap_blocks().empty());
}

TEST(MetadataMedia, BackupSuperblockReadOnly) {
  Image t;
  t.Bad(t.sb.backup_block * P, P);
  ExpectReadOnlyOnly(t, "backup superblock");
}

TEST(MetadataMedia, CleanJournalReadOnlyWithoutReadingIt) {
  Image t;  // unmounted cleanly
  t.Bad(t.sb.journal_start * P, t.sb.journal_blocks * P);  // header and all
  ExpectReadOnlyOnly(t, "journal");
}

TEST(MetadataMedia, DirtyJournalWithReadableEmptyHeaderReadOnly) {
  Image t;
  { auto s = OpenOrFail(*t.d.dev); }  // dropped without Close: dirty, header empty
  t.Bad((t.sb.journal_start + 1) * P, P);
  EXPECT_FALSE(CheckMetadataMedia(*t.d.dev, t.sb).refuse);
  ExpectReadOnlyOnly(t, "journal");
}

TEST(MetadataMedia, DirtyJournalWithBadHeaderIsRefused) {
  Image t;
  { auto s = OpenOrFail(*t.d.dev); }  // dirty
  t.Bad(t.sb.journal_start * P, P);
  auto peek = Store::Peek(*t.d.dev);
  ASSERT_TRUE(peek.ok());
  EXPECT_TRUE(CheckMetadataMedia(*t.d.dev, *peek).refuse);
  for (bool ro : {false, true}) {
    auto s = Store::Open(*t.d.dev, nullptr, ro);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), Code::kIoError);
    EXPECT_NE(s.status().message().find("journal"), std::string::npos) << s.status().message();
  }
}

TEST(MetadataMedia, DataRangesChangeNothing) {
  Image t;
  t.Bad(t.sb.data_start * P + 5 * P, 2 * P);
  EXPECT_TRUE(CheckMetadataMedia(*t.d.dev, t.sb).damaged.empty());
  auto rw = Store::Open(*t.d.dev, nullptr);
  EXPECT_TRUE(rw.ok()) << rw.status().message();
}

}  // namespace
}  // namespace pmemfs::store
