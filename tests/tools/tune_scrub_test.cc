// pmemfs-tune --scrub (tools/tune/scrub.h) and the owner map it shares with pmemfs-fsck
// (fs/store/owners.h), in all three modes: a populated filesystem gets bad ranges in its
// bad-block table (known ones: file data, inode table, directory, extent and xattr blocks,
// journal, bitmap, superblock, free space) and simulated poison the scrub must find by reading
// (file data, an extent block, an unused inode-table block). Every range is found, recorded,
// and named with the right file and file offset, or the right structure; the expected owners
// come from the test's own reading of the extents and chains (fsck_test_support.h). pmemfs-fsck
// names the same owners.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "fs/store/owners.h"
#include "fs/store/scrub.h"
#include "fs/store/store.h"
#include "fsck_test_support.h"
#include "mapping/poison.h"
#include "tools/fsck/check.h"
#include "tools/tune/scrub.h"

namespace pmemfs::tune {
namespace {

using fsck::testing::FsckImage;
using mapping::Mode;
using store::OwnerKind;
using store::OwnerPiece;
constexpr uint64_t P = layout::kPageSize;

struct Expect {
  uint64_t offset, length;  // the bad range as the table holds it
  bool poisoned;            // found by reading (else injected in the table)
  std::vector<std::string> owners;  // Describe() of each piece, in order
};

std::string Join(const std::vector<OwnerPiece>& v) {
  std::string s;
  for (const OwnerPiece& p : v) s += "[" + store::Describe(p) + "] ";
  return s;
}

class ScrubTest : public ::testing::TestWithParam<Mode> {};

TEST_P(ScrubTest, FindsEveryBadRangeAndNamesWhatItHits) {
  const Mode mode = GetParam();
  const layout::StoredMode stored = mode == Mode::kPages ? layout::StoredMode::kPages
                                    : mode == Mode::kCopy ? layout::StoredMode::kCopy
                                                          : layout::StoredMode::kDirect;
  FsckImage img(mode, stored);
  img.Populate();
  const fsck::testing::Tree t = img.tree();
  mapping::Device& dev = img.Unmount();
  const layout::Superblock sb = img.Sb();
  auto block_range = [](uint64_t block) { return std::pair{block * P, P}; };
  std::vector<Expect> expect;

  // --- known bad ranges (the table), as pmemfs-devinfo --inject-bad or the platform add them --
  // File data across two pages of /many: file blocks 20 and 22 (its extents are one block each,
  // every other file block), the first page from byte 100 on.
  std::vector<FsckImage::ExtentAt> many = img.Extents(t.many);
  ASSERT_EQ(many.size(), 150u);
  const auto& e10 = many[10].rec;
  const auto& e11 = many[11].rec;
  ASSERT_EQ(e10.file_block, 20u);
  ASSERT_EQ(e11.dev_block, e10.dev_block + 1) << "the test wants /many's blocks adjacent";
  expect.push_back({e10.dev_block * P + 100, 5000, false,
                    {"file /many offset " + std::to_string(20 * P + 100) + " length " +
                         std::to_string(P - 100),
                     "file /many offset " + std::to_string(22 * P) + " length " +
                         std::to_string(5000 - (P - 100))}});
  // The inode record of /fifo (one with no blocks: a lost record hides the blocks it points to).
  const uint64_t rec = sb.inode_start * P + (t.fifo - 1) * sizeof(layout::InodeRecord);
  expect.push_back({rec, sizeof(layout::InodeRecord), false,
                    {"inode table (inodes " + std::to_string(t.fifo) + ")"}});
  // The second directory block of d1/sub, the extent block of the symlink d1/sub/ls, the xattr
  // block of d1/f (its first: "trusted.t" or "user.a").
  const std::vector<uint64_t> sub_blocks = img.Chain(img.Inode(t.sub).map_head);
  ASSERT_EQ(sub_blocks.size(), 2u);
  auto [o1, l1] = block_range(sub_blocks[1]);
  expect.push_back({o1, l1, false, {"directory block of /d1/sub"}});
  auto [o2, l2] = block_range(img.Inode(t.ls).map_head);
  expect.push_back({o2, l2, false, {"extent block of /d1/sub/ls"}});
  auto [o3, l3] = block_range(img.Inode(t.f).xattr_head);
  ASSERT_NE(img.Inode(t.f).xattr_head, 0u);
  // d1/f has two names, /d1/f and /hl: the first one the directory walk finds names it.
  expect.push_back({o3, l3, false, {"xattr block of ?"}});  // checked below
  // The journal, the bitmap, the primary superblock (the backup takes over), free space.
  expect.push_back({(sb.journal_start + 2) * P + 64, 128, false, {"journal"}});
  // (The bitmap's checksum block: with the bitmap itself unreadable, every block counts as in
  // use, and free space could not be told.)
  const uint64_t checksums = layout::BitmapChecksumStart(sb);
  ASSERT_LT(checksums, sb.bitmap_start + sb.bitmap_blocks);
  expect.push_back({checksums * P, P, false, {"allocation bitmap"}});
  expect.push_back({0, 512, false, {"superblock"}});
  const uint64_t free_block = img.FreeDataBlock();
  ASSERT_NE(free_block, 0u);
  expect.push_back({free_block * P, P, false, {"free space"}});

  // --- poison the scrub must find -------------------------------------------------------------
  // /sparse's first page, the second extent block of /many, the inode table's next-to-last
  // block (unused inodes: the scrub reads every page in use, not only live records; the last
  // one would touch the bitmap's range, and touching ranges merge).
  const std::vector<FsckImage::ExtentAt> sparse = img.Extents(t.sparse);
  ASSERT_FALSE(sparse.empty());
  ASSERT_EQ(sparse[0].rec.file_block, 0u);
  expect.push_back({sparse[0].rec.dev_block * P, P, true, {"file /sparse offset 0 length 4096"}});
  const std::vector<uint64_t> many_blocks = img.Chain(img.Inode(t.many).map_head);
  ASSERT_EQ(many_blocks.size(), 2u);
  expect.push_back({many_blocks[1] * P, P, true, {"extent block of /many"}});
  // A data page of /many that only that extent block maps: its descriptor still names it in
  // pages mode; walking the extents cannot, and says which files' extents it could not read
  // (/many's, and the symlink's whose extent block is bad too), in inode order.
  const auto& e140 = many[140].rec;
  ASSERT_EQ(many[140].block, many_blocks[1]);
  expect.push_back({e140.dev_block * P, P, false,
                    {mode == Mode::kPages
                         ? "file /many offset " + std::to_string(e140.file_block * P) + " length 4096"
                         : "allocated space nothing readable references (the extent blocks of "
                           "/many, /d1/sub/ls could not be read)"}});
  const uint64_t per_block = P / sizeof(layout::InodeRecord);
  ASSERT_GE(sb.inode_blocks, 3u);
  const uint64_t inode_block = sb.inode_blocks - 2;  // in the table
  expect.push_back({(sb.inode_start + inode_block) * P, P, true,
                    {"inode table (inodes " + std::to_string(inode_block * per_block + 1) + "-" +
                     std::to_string((inode_block + 1) * per_block) + ")"}});

  for (const Expect& e : expect) {
    if (e.poisoned) ASSERT_TRUE(mapping::SimulatePoison(dev, e.offset, e.length).ok());
    else ASSERT_TRUE(dev.bad_blocks().Inject(e.offset, e.length).ok());
  }
  std::sort(expect.begin(), expect.end(),
            [](const Expect& a, const Expect& b) { return a.offset < b.offset; });

  uint64_t progress_calls = 0, last_done = 0, total = 0;
  Result<ScrubReport> r = Scrub(dev, "sim", {.progress = [&](uint64_t done, uint64_t all) {
                                  progress_calls++;
                                  EXPECT_GE(done, last_done);
                                  last_done = done;
                                  total = all;
                                }});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_GT(progress_calls, 0u);
  EXPECT_EQ(last_done, total);
  EXPECT_EQ(r->owners_from, mode == Mode::kPages ? "descriptors" : "extents");
  EXPECT_EQ(r->found_bytes, 3 * P);
  EXPECT_TRUE(r->record_error.empty()) << r->record_error;
  EXPECT_TRUE(r->metadata_hit());

  // 100%: every range, in the table now, reported once with its owners.
  ASSERT_EQ(r->ranges.size(), expect.size()) << ScrubJson(*r);
  const std::vector<mapping::BadBlocks::Entry> table = dev.bad_blocks().List();
  ASSERT_EQ(table.size(), expect.size());
  for (size_t i = 0; i < expect.size(); i++) {
    const Expect& e = expect[i];
    const ScrubRange& got = r->ranges[i];
    SCOPED_TRACE("range " + std::to_string(e.offset) + "+" + std::to_string(e.length) + ": " +
                 Join(got.owners));
    EXPECT_EQ(got.offset, e.offset);
    EXPECT_EQ(got.length, e.length);
    EXPECT_EQ(table[i].offset, e.offset);
    EXPECT_EQ(table[i].length, e.length);
    EXPECT_EQ(got.found, e.poisoned);
    ASSERT_EQ(got.owners.size(), e.owners.size());
    for (size_t k = 0; k < e.owners.size(); k++) {
      const OwnerPiece& p = got.owners[k];
      if (e.owners[k] == "xattr block of ?") {
        EXPECT_EQ(p.kind, OwnerKind::kXattrBlock);
        EXPECT_EQ(p.ino, t.f);
        EXPECT_TRUE(p.path == "/d1/f" || p.path == "/hl") << p.path;
        continue;
      }
      EXPECT_EQ(store::Describe(p), e.owners[k]);
    }
    // The pieces cover the range exactly, in order.
    uint64_t at = e.offset;
    for (const OwnerPiece& p : got.owners) {
      EXPECT_EQ(p.offset, at);
      at += p.length;
    }
    EXPECT_EQ(at, e.offset + e.length);
  }

  // A second scrub of the same device finds nothing new and names the same owners.
  Result<ScrubReport> again = Scrub(dev, "sim", {});
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->ranges.size(), expect.size());
  EXPECT_EQ(again->found_bytes, 0u);
  for (size_t i = 0; i < expect.size(); i++) {
    EXPECT_FALSE(again->ranges[i].found);
    EXPECT_EQ(again->ranges[i].owners, r->ranges[i].owners);
  }
  const std::string json = ScrubJson(*r);
  for (const char* key : {"\"kind\":\"file_data\"", "\"path\":\"/sparse\"", "\"file_offset\":0",
                          "\"kind\":\"extent_block\"", "\"kind\":\"inode_table\"",
                          "\"kind\":\"superblock\"", "\"new\":true", "\"metadata_hit\":true"})
    EXPECT_NE(json.find(key), std::string::npos) << key << " in " << json;

  // The table survives: reopened (the simulated poison is gone with the old mapping), the device
  // still lists every range, and pmemfs-fsck names the same owners: problems for files and
  // metadata, a note for free space.
  img.sim_device().Reopen();
  mapping::Device& again_dev = *img.sim_device().dev;
  EXPECT_EQ(again_dev.bad_blocks().List().size(), expect.size());
  Result<fsck::CheckReport> check = fsck::Check(again_dev, {});
  ASSERT_TRUE(check.ok()) << check.status().message();
  std::multiset<std::string> media;
  for (const fsck::Problem& p : check->problems)
    if (p.area == "media") media.insert(p.message);
  for (const Expect& e : expect) {
    for (size_t k = 0; k < e.owners.size(); k++) {
      if (e.owners[k] == "free space") continue;
      bool seen = false;
      for (const std::string& m : media)
        seen = seen || (m.find("bad range [" + std::to_string(e.offset) + ", ") == 0 &&
                        (e.owners[k] == "xattr block of ?" ? m.find("xattr block of /") != std::string::npos
                                                           : m.find(e.owners[k]) != std::string::npos));
      EXPECT_TRUE(seen) << e.owners[k] << " not among fsck's problems: " << fsck::testing::Describe(*check);
    }
  }
  bool free_note = false;
  for (const std::string& n : check->notes) free_note = free_note || n.find("free space") != std::string::npos;
  EXPECT_TRUE(free_note);
  EXPECT_EQ(check->ExitCode(), 4);
}

INSTANTIATE_TEST_SUITE_P(Modes, ScrubTest,
                         ::testing::Values(Mode::kCopy, Mode::kDirect, Mode::kPages),
                         [](const auto& info) { return std::string(mapping::ModeName(info.param)); });

// An owner map lists every sharer of a page two files share (a clone in pages mode).
// A block allocated while the scrub reads (free when it started, so not in its first pass),
// its page poisoned: a later pass reads it, finds the poison and records it.
TEST(Scrub, ReadsBlocksAllocatedWhileItRuns) {
  FsckImage img(Mode::kDirect, layout::StoredMode::kDirect);
  img.Populate();
  mapping::Device& dev = img.Unmount();
  auto store = store::Store::OpenOffline(dev);
  ASSERT_TRUE(store.ok()) << store.status().message();
  uint64_t block = 0;
  Status alloc = Status::Ok();
  store::ScrubOptions o;
  o.progress = [&](uint64_t done, uint64_t total) {
    if (block != 0 || done * 2 < total) return;  // half way through the first pass
    store::Tx tx = (*store)->Begin();
    Result<store::BlockRange> b = (*store)->AllocBlocks(tx, 1);
    alloc = b.ok() ? (*store)->Commit(tx) : b.status();
    if (!b.ok()) return;
    block = b->start;
    alloc = mapping::SimulatePoison(dev, block * P, P);
  };
  Result<store::ScrubReport> r = store::Scrub(dev, "sim", o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  ASSERT_TRUE(alloc.ok()) << alloc.message();
  ASSERT_NE(block, 0u);
  EXPECT_EQ(r->found_bytes, P);
  ASSERT_EQ(r->ranges.size(), 1u);
  EXPECT_EQ(r->ranges[0].offset, block * P);
  EXPECT_EQ(r->ranges[0].length, P);
  EXPECT_TRUE(r->ranges[0].found);
  const std::vector<mapping::BadBlocks::Entry> table = dev.bad_blocks().List();
  ASSERT_EQ(table.size(), 1u);
  EXPECT_EQ(table[0].offset, block * P);
}

TEST(OwnerMap, NamesEveryFileSharingAPage) {
  FsckImage img(Mode::kPages, layout::StoredMode::kPages);
  img.Populate();
  const fsck::testing::Tree t = img.tree();
  mapping::Device& dev = img.Unmount();
  const std::vector<FsckImage::ExtentAt> clone = img.Extents(t.clone);
  ASSERT_FALSE(clone.empty());
  const uint64_t page = clone[0].rec.dev_block;
  Result<layout::Superblock> sb = store::ReadSuperblockThrough(dev, store::GuardedReader(dev));
  ASSERT_TRUE(sb.ok());
  for (auto source : {store::OwnerMap::Source::kDescriptors, store::OwnerMap::Source::kExtents}) {
    store::OwnerMap owners(dev, *sb, store::GuardedReader(dev), source);
    std::vector<OwnerPiece> v = owners.Owners(page * P, P);
    std::set<uint64_t> inos;
    for (const OwnerPiece& p : v) {
      EXPECT_EQ(p.kind, OwnerKind::kFileData);
      inos.insert(p.ino);
    }
    EXPECT_EQ(inos, (std::set<uint64_t>{t.f, t.clone})) << Join(v);
  }
}

}  // namespace
}  // namespace pmemfs::tune
