// Chains of blocks: append (in separate and in one Tx), walk, remove at head/middle/tail, for
// every kind; header checks; a corrupt chain that loops is reported, never walked forever.
#include <gtest/gtest.h>

#include <cstring>

#include "fs/store/store.h"
#include "pmemfs/crc32c.h"
#include "store_test_support.h"

namespace pmemfs::store {
namespace {

using testing::FileRecord;
using testing::StoreFixture;
using testing::StoreSetups;

class ChainTest : public StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    NewInode();
  }
  // Makes ino_/rec_ a fresh file inode without chains.
  void NewInode() {
    Tx tx = store().Begin();
    auto ino = store().ReserveInode(tx, nullptr);
    ASSERT_TRUE(ino.ok());
    ino_ = *ino;
    rec_ = FileRecord();
    store().WriteInode(tx, ino_, rec_);
    ASSERT_TRUE(store().Commit(tx).ok());
  }

  uint64_t Head(ChainKind kind) const {
    return kind == ChainKind::kXattrs ? rec_.xattr_head : rec_.map_head;
  }
  // Appends `n` blocks in one Tx; returns them.
  std::vector<uint64_t> Append(ChainKind kind, int n) {
    std::vector<uint64_t> out;
    Tx tx = store().Begin();
    for (int i = 0; i < n; i++) {
      auto b = store().AppendChainBlock(tx, ino_, rec_, kind);
      EXPECT_TRUE(b.ok()) << b.status().message();
      out.push_back(*b);
    }
    store().WriteInode(tx, ino_, rec_);
    EXPECT_TRUE(store().Commit(tx).ok());
    return out;
  }
  Status Remove(ChainKind kind, uint64_t prev, uint64_t block) {
    Tx tx = store().Begin();
    PMEMFS_RETURN_IF_ERROR(store().RemoveChainBlock(tx, ino_, rec_, kind, prev, block));
    store().WriteInode(tx, ino_, rec_);
    return store().Commit(tx);
  }
  // The chain as walked from the committed record: (block, index) pairs.
  std::vector<std::pair<uint64_t, uint64_t>> Walk(ChainKind kind) {
    auto rec = store().ReadInode(ino_);
    EXPECT_TRUE(rec.ok());
    const uint64_t head = kind == ChainKind::kXattrs ? rec->xattr_head : rec->map_head;
    std::vector<std::pair<uint64_t, uint64_t>> out;
    Status s = store().ForEachChainBlock(head, kind, ino_, [&](uint64_t b, const std::byte* p) {
      layout::ChainHeader h;
      std::memcpy(&h, p, sizeof h);
      out.push_back({b, h.index});
      return Status::Ok();
    });
    EXPECT_TRUE(s.ok()) << s.message();
    return out;
  }
  static std::vector<uint64_t> Blocks(const std::vector<std::pair<uint64_t, uint64_t>>& w) {
    std::vector<uint64_t> out;
    for (auto [b, i] : w) out.push_back(b);
    return out;
  }
  // Rewrites the header of `block` on the device with `fn` applied, resealed.
  void PatchHeader(uint64_t block, const std::function<void(layout::ChainHeader&)>& fn) {
    layout::ChainHeader h;
    dev().Read(Store::BlockOffset(block), &h, sizeof h);
    fn(h);
    h.checksum = StructChecksum(h);
    dev().Write(Store::BlockOffset(block), &h, sizeof h);
  }

  uint64_t ino_ = 0;
  layout::InodeRecord rec_{};
};

constexpr ChainKind kKinds[] = {ChainKind::kExtents, ChainKind::kDentries, ChainKind::kXattrs};

TEST_P(ChainTest, AppendWalkAndRemoveEveryKind) {
  for (ChainKind kind : kKinds) {
    SCOPED_TRACE(static_cast<int>(kind));
    const uint64_t free_before = store().stats().free_blocks;
    const uint64_t blocks_before = rec_.blocks;
    std::vector<uint64_t> b = Append(kind, 1);
    for (int i = 0; i < 3; i++) b.push_back(Append(kind, 1)[0]);
    EXPECT_EQ(Head(kind), b[0]);
    if (kind != ChainKind::kXattrs) {
      EXPECT_EQ(rec_.map_tail, b[3]);
    }
    EXPECT_EQ(rec_.blocks, blocks_before + 4);
    EXPECT_EQ(store().stats().free_blocks, free_before - 4);
    EXPECT_EQ(Walk(kind), (std::vector<std::pair<uint64_t, uint64_t>>{
                              {b[0], 0}, {b[1], 1}, {b[2], 2}, {b[3], 3}}));
    EXPECT_EQ(b[1], b[0] + 1);  // appended near the tail

    // A new block's slots are all unused.
    auto p = store().ReadChainBlock(b[2], kind, ino_);
    ASSERT_TRUE(p.ok());
    for (uint32_t i = sizeof(layout::ChainHeader); i < layout::kBlockSize; i++)
      ASSERT_EQ((*p)[i], std::byte{0});

    ASSERT_TRUE(Remove(kind, b[0], b[1]).ok());  // middle
    EXPECT_EQ(Blocks(Walk(kind)), (std::vector<uint64_t>{b[0], b[2], b[3]}));
    ASSERT_TRUE(Remove(kind, 0, b[0]).ok());  // head
    EXPECT_EQ(Head(kind), b[2]);
    ASSERT_TRUE(Remove(kind, b[2], b[3]).ok());  // tail
    if (kind != ChainKind::kXattrs) {
      EXPECT_EQ(rec_.map_tail, b[2]);
    }
    // Appending after removals continues the indices (they stay unique along the chain).
    const uint64_t again = Append(kind, 1)[0];
    EXPECT_EQ(Walk(kind), (std::vector<std::pair<uint64_t, uint64_t>>{{b[2], 2}, {again, 3}}));
    ASSERT_TRUE(Remove(kind, 0, b[2]).ok());
    ASSERT_TRUE(Remove(kind, 0, again).ok());
    EXPECT_EQ(Head(kind), 0u);
    if (kind != ChainKind::kXattrs) {
      EXPECT_EQ(rec_.map_tail, 0u);
    }
    EXPECT_EQ(rec_.blocks, blocks_before);
    EXPECT_TRUE(Walk(kind).empty());
    EXPECT_EQ(store().stats().free_blocks, free_before);
  }
}

TEST_P(ChainTest, AppendsInOneTxChainThroughTheOverlay) {
  for (ChainKind kind : kKinds) {
    SCOPED_TRACE(static_cast<int>(kind));
    NewInode();
    std::vector<uint64_t> b = Append(kind, 5);
    std::vector<uint64_t> more = Append(kind, 2);
    b.insert(b.end(), more.begin(), more.end());
    auto w = Walk(kind);
    ASSERT_EQ(Blocks(w), b);
    for (size_t i = 0; i < w.size(); i++) EXPECT_EQ(w[i].second, i);
    Reopen();
    EXPECT_EQ(Blocks(Walk(kind)), b);
  }
}

TEST_P(ChainTest, AppendAndRemoveInOneTx) {
  std::vector<uint64_t> b = Append(ChainKind::kDentries, 2);
  const uint64_t free_before = store().stats().free_blocks;
  Tx tx = store().Begin();
  auto c = store().AppendChainBlock(tx, ino_, rec_, ChainKind::kDentries);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(store().RemoveChainBlock(tx, ino_, rec_, ChainKind::kDentries, b[0], b[1]).ok());
  ASSERT_TRUE(store().RemoveChainBlock(tx, ino_, rec_, ChainKind::kDentries, b[0], *c).ok());
  store().WriteInode(tx, ino_, rec_);
  ASSERT_TRUE(store().Commit(tx).ok());
  EXPECT_EQ(Blocks(Walk(ChainKind::kDentries)), (std::vector<uint64_t>{b[0]}));
  EXPECT_EQ(rec_.map_tail, b[0]);
  EXPECT_EQ(store().stats().free_blocks, free_before + 1);
}

TEST_P(ChainTest, SlotWritesThroughTheTxLand) {
  const uint64_t b = Append(ChainKind::kExtents, 1)[0];
  layout::ExtentRecord e{.file_block = 0, .dev_block = 1234, .length = 8};
  e.checksum = StructChecksum(e);
  Tx tx = store().Begin();
  tx.Put(Store::SlotOffset(b, 5), e);
  ASSERT_TRUE(store().Commit(tx).ok());
  auto p = store().ReadChainBlock(b, ChainKind::kExtents, ino_);
  ASSERT_TRUE(p.ok());
  layout::ExtentRecord back;
  std::memcpy(&back, *p + sizeof(layout::ChainHeader) + 5 * layout::kSlotSize, sizeof back);
  EXPECT_EQ(back.dev_block, 1234u);
}

TEST_P(ChainTest, HeaderChecksNameTheBlock) {
  const uint64_t b = Append(ChainKind::kDentries, 1)[0];
  auto wrong_kind = store().ReadChainBlock(b, ChainKind::kExtents, ino_);
  EXPECT_EQ(wrong_kind.status().code(), Code::kCorrupt);
  EXPECT_NE(wrong_kind.status().message().find(std::to_string(b)), std::string::npos);
  EXPECT_EQ(store().ReadChainBlock(b, ChainKind::kDentries, ino_ + 1).status().code(),
            Code::kCorrupt);
  EXPECT_EQ(store().ReadChainBlock(sb().inode_start, ChainKind::kDentries, ino_).status().code(),
            Code::kCorrupt);
  uint8_t x = 0x77;
  dev().Write(Store::BlockOffset(b) + 20, &x, 1);  // owner field, checksum now stale
  auto damaged = store().ReadChainBlock(b, ChainKind::kDentries, ino_);
  EXPECT_EQ(damaged.status().code(), Code::kCorrupt);
  EXPECT_NE(damaged.status().message().find("checksum"), std::string::npos);
}

TEST_P(ChainTest, RemoveWithTheWrongPredecessorIsRefused) {
  std::vector<uint64_t> b = Append(ChainKind::kExtents, 3);
  EXPECT_EQ(Remove(ChainKind::kExtents, 0, b[1]).code(), Code::kInvalidArgument);
  EXPECT_EQ(Remove(ChainKind::kExtents, b[0], b[2]).code(), Code::kInvalidArgument);
  EXPECT_EQ(Blocks(Walk(ChainKind::kExtents)), b);
}

TEST_P(ChainTest, ALoopIsCorruptNotAHang) {
  std::vector<uint64_t> b = Append(ChainKind::kDentries, 3);
  for (uint64_t target : {b[0], b[2]}) {  // back to the head; onto itself
    PatchHeader(b[2], [&](layout::ChainHeader& h) { h.next = target; });
    int calls = 0;
    Status s = store().ForEachChainBlock(rec_.map_head, ChainKind::kDentries, ino_,
                                         [&](uint64_t, const std::byte*) {
                                           calls++;
                                           return Status::Ok();
                                         });
    EXPECT_EQ(s.code(), Code::kCorrupt);
    EXPECT_NE(s.message().find("chain loop"), std::string::npos) << s.message();
    EXPECT_LE(calls, 3);
  }
  // A loop whose indices keep increasing (rewritten under the walk): the step limit ends it.
  PatchHeader(b[2], [&](layout::ChainHeader& h) { h.next = b[0]; });
  uint64_t steps = 0;
  Status s = store().ForEachChainBlock(
      rec_.map_head, ChainKind::kDentries, ino_, [&](uint64_t, const std::byte* p) {
        steps++;
        layout::ChainHeader cur;
        std::memcpy(&cur, p, sizeof cur);
        PatchHeader(cur.next, [&](layout::ChainHeader& h) { h.index = cur.index + 1; });
        return Status::Ok();
      });
  EXPECT_EQ(s.code(), Code::kCorrupt);
  EXPECT_NE(s.message().find("chain loop"), std::string::npos) << s.message();
  EXPECT_EQ(steps, sb().store_blocks);
}

TEST_P(ChainTest, AppendToADamagedTailIsCorrupt) {
  std::vector<uint64_t> b = Append(ChainKind::kXattrs, 2);
  PatchHeader(b[1], [&](layout::ChainHeader& h) { h.next = b[0]; });  // xattr walk loops
  Tx tx = store().Begin();
  const uint64_t free_before = store().stats().free_blocks;
  auto r = store().AppendChainBlock(tx, ino_, rec_, ChainKind::kXattrs);
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_EQ(store().stats().free_blocks, free_before);  // nothing reserved
}

INSTANTIATE_TEST_SUITE_P(Setups, ChainTest, ::testing::ValuesIn(StoreSetups()),
                         mapping::testing::SetupName);

}  // namespace
}  // namespace pmemfs::store
