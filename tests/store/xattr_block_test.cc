// Xattr blocks (fs/store/xattr_block.h): values of every size class written and decoded back
// (inline up to 3761 bytes, out of line up to 64 KiB), their blocks counted and freed, the
// large-xattr feature bit set by the first long value of an older store, ENOSPC leaving nothing
// behind, and malformed blocks refused.
#include <gtest/gtest.h>

#include <cstring>

#include "fs/store/xattr_block.h"
#include "pmemfs/crc32c.h"
#include "store_test_support.h"

namespace pmemfs::store {
namespace {

using testing::FileRecord;
using testing::StoreFixture;
using testing::StoreSetups;

std::vector<std::byte> Pattern(size_t n, uint8_t seed) {
  std::vector<std::byte> v(n);
  for (size_t i = 0; i < n; i++) v[i] = static_cast<std::byte>((i * 131 + seed) & 0xff);
  return v;
}

class XattrBlockTest : public StoreFixture {
 protected:
  void SetUp() override {
    StoreFixture::SetUp();
    Tx tx = store().Begin();
    auto ino = store().ReserveInode(tx, nullptr);
    ASSERT_TRUE(ino.ok());
    ino_ = *ino;
    rec_ = FileRecord();
    store().WriteInode(tx, ino_, rec_);
    ASSERT_TRUE(store().Commit(tx).ok());
  }

  // Appends an xattr block holding name = value in one Tx.
  Result<uint64_t> Set(std::string_view name, std::span<const std::byte> value) {
    Tx tx = store().Begin();
    InodeRecord rec = rec_;
    PMEMFS_ASSIGN_OR_RETURN(uint64_t block,
                            store().AppendChainBlock(tx, ino_, rec, ChainKind::kXattrs));
    PMEMFS_RETURN_IF_ERROR(WriteXattrBlock(store(), tx, ino_, block, rec, name, value).status());
    store().WriteInode(tx, ino_, rec);
    PMEMFS_RETURN_IF_ERROR(store().Commit(tx));
    rec_ = rec;
    return block;
  }
  Result<XattrBlock> Decode(uint64_t block) {
    PMEMFS_ASSIGN_OR_RETURN(const std::byte* data,
                            store().ReadChainBlock(block, ChainKind::kXattrs, ino_));
    return DecodeXattrBlock(data, block, XattrBounds::Of(store().superblock()));
  }
  std::vector<std::byte> ValueOf(const XattrBlock& x) {
    if (!x.out_of_line()) return x.value;
    auto v = ReadXattrValue(
        [&](uint64_t off, void* dst, uint64_t len) { dev().Read(off, dst, len); }, x.out);
    EXPECT_TRUE(v.ok()) << v.status().message();
    return v.ok() ? *v : std::vector<std::byte>{};
  }
  // Rewrites the body of `block` (after the header) with `head` + `rest`, the checksum sealed.
  void PutBody(uint64_t block, layout::XattrHead head, const std::vector<std::byte>& rest) {
    head.checksum = 0;
    head.checksum = Crc32c(rest.data(), rest.size(), Crc32c(&head, sizeof head));
    std::vector<std::byte> buf(sizeof head + rest.size());
    std::memcpy(buf.data(), &head, sizeof head);
    std::memcpy(buf.data() + sizeof head, rest.data(), rest.size());
    dev().Write(Store::BlockOffset(block) + sizeof(layout::ChainHeader), buf.data(), buf.size());
  }

  using InodeRecord = layout::InodeRecord;
  uint64_t ino_ = 0;
  InodeRecord rec_{};
};

TEST_P(XattrBlockTest, EverySizeRoundTripsAndLongValuesHoldTheirBlocks) {
  EXPECT_TRUE(store().superblock().incompat & layout::kIncompatLargeXattrs);  // mkpmemfs sets it
  const size_t sizes[] = {0, 1, 3761, 3762, 4096, 4097, 60000, 65536};
  uint64_t blocks = 0;
  std::vector<std::pair<uint64_t, size_t>> written;
  for (size_t i = 0; i < std::size(sizes); i++) {
    const size_t n = sizes[i];
    const std::string name = "user.v" + std::to_string(n);
    auto b = Set(name, Pattern(n, static_cast<uint8_t>(i)));
    ASSERT_TRUE(b.ok()) << n << ": " << b.status().message();
    written.push_back({*b, n});
    blocks += 1 + (n > layout::kXattrMaxValue ? (n + 4095) / 4096 : 0);
    EXPECT_EQ(rec_.blocks, blocks) << n;
  }
  Reopen();
  for (size_t i = 0; i < written.size(); i++) {
    const auto [block, n] = written[i];
    auto x = Decode(block);
    ASSERT_TRUE(x.ok()) << n << ": " << x.status().message();
    EXPECT_EQ(x->name, "user.v" + std::to_string(n));
    EXPECT_EQ(x->out_of_line(), n > layout::kXattrMaxValue) << n;
    if (x->out_of_line()) {
      EXPECT_EQ(x->out.size, n);
      EXPECT_EQ(x->out.blocks(), (n + 4095) / 4096);
      EXPECT_LE(x->out.extents.size(), layout::kXattrMaxExtents);
    }
    EXPECT_EQ(ValueOf(*x), Pattern(n, static_cast<uint8_t>(i))) << n;
  }
}

TEST_P(XattrBlockTest, FreeingALongValueGivesItsBlocksBack) {
  const uint64_t free_before = store().stats().free_blocks;
  auto b = Set("user.big", Pattern(65536, 7));
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(store().stats().free_blocks, free_before - 17);
  auto x = Decode(*b);
  ASSERT_TRUE(x.ok());
  Tx tx = store().Begin();
  FreeXattrValue(store(), tx, rec_, x->out);
  ASSERT_TRUE(store().RemoveChainBlock(tx, ino_, rec_, ChainKind::kXattrs, 0, *b).ok());
  store().WriteInode(tx, ino_, rec_);
  ASSERT_TRUE(store().Commit(tx).ok());
  EXPECT_EQ(rec_.blocks, 0u);
  EXPECT_EQ(store().stats().free_blocks, free_before);
}

TEST_P(XattrBlockTest, NoSpaceLeavesNothingBehind) {
  // Take all but 10 free blocks: a 64 KiB value (16 blocks) cannot be placed.
  {
    Tx tx = store().Begin();
    uint64_t want = store().stats().free_blocks - 10;
    while (want > 0) {
      auto r = store().AllocBlocks(tx, want);
      ASSERT_TRUE(r.ok());
      want -= r->count;
    }
    ASSERT_TRUE(store().Commit(tx).ok());
  }
  const uint64_t free_before = store().stats().free_blocks;
  EXPECT_EQ(Set("user.big", Pattern(65536, 1)).status().code(), Code::kNoSpace);
  EXPECT_EQ(store().stats().free_blocks, free_before);
  EXPECT_EQ(store().ReadInode(ino_)->xattr_head, 0u);
  // A value that fits still does (two 4 KiB blocks and its xattr block).
  auto b = Set("user.fits", Pattern(8000, 2));
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(store().stats().free_blocks, free_before - 3);
}

TEST_P(XattrBlockTest, MalformedReferencesAreCorrupt) {
  auto b = Set("user.big", Pattern(10000, 3));  // three value blocks
  ASSERT_TRUE(b.ok());
  auto x = Decode(*b);
  ASSERT_TRUE(x.ok());
  const BlockRange first = x->out.extents[0];
  const std::string name = "user.big";
  auto body = [&](uint32_t size, std::vector<layout::XattrValueExtent> ext, uint32_t count) {
    layout::XattrValueRef ref{size, x->out.crc, count, 0};
    std::vector<std::byte> rest(name.size() + sizeof ref + ext.size() * sizeof ext[0]);
    std::memcpy(rest.data(), name.data(), name.size());
    std::memcpy(rest.data() + name.size(), &ref, sizeof ref);
    if (!ext.empty()) std::memcpy(rest.data() + name.size() + sizeof ref, ext.data(), ext.size() * sizeof ext[0]);
    layout::XattrHead h{};
    h.name_len = static_cast<uint8_t>(name.size());
    h.flags = layout::kXattrValueExtents;
    h.value_len = static_cast<uint16_t>(rest.size() - name.size());
    PutBody(*b, h, rest);
  };
  const uint64_t s = first.start;
  struct Case {
    const char* what;
    uint32_t size;
    std::vector<layout::XattrValueExtent> ext;
    uint32_t count;
  };
  const Case cases[] = {
      {"too few blocks", 10000, {{s, 2, 0}}, 1},
      {"too many blocks", 10000, {{s, 4, 0}}, 1},
      {"overlapping extents", 10000, {{s, 2, 0}, {s + 1, 1, 0}}, 2},
      {"outside the data area", 10000, {{1, 3, 0}}, 1},
      {"an empty extent", 10000, {{s, 3, 0}, {s + 3, 0, 0}}, 2},
      {"a short value out of line", 100, {{s, 1, 0}}, 1},
      {"a value over 64 KiB", 65537, {{s, 17, 0}}, 1},
      {"a count that disagrees with value_len", 10000, {{s, 3, 0}}, 2},
      {"reserved bytes", 10000, {{s, 3, 1}}, 1},
  };
  for (const Case& c : cases) {
    body(c.size, c.ext, c.count);
    EXPECT_EQ(Decode(*b).status().code(), Code::kCorrupt) << c.what;
  }
  body(10000, {{s, 3, 0}}, 1);  // as written: fine again
  ASSERT_TRUE(Decode(*b).ok());
  // A damaged value byte fails its CRC.
  dev().Write(Store::BlockOffset(s) + 100, "X", 1);
  auto v = ReadXattrValue([&](uint64_t off, void* dst, uint64_t len) { dev().Read(off, dst, len); },
                          Decode(*b)->out);
  EXPECT_EQ(v.status().code(), Code::kCorrupt);
  // Out of line without the feature bit: refused.
  XattrBounds old = XattrBounds::Of(store().superblock());
  old.large_xattrs = false;
  auto data = store().ReadChainBlock(*b, ChainKind::kXattrs, ino_);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(DecodeXattrBlock(*data, *b, old).status().code(), Code::kCorrupt);
}

INSTANTIATE_TEST_SUITE_P(Setups, XattrBlockTest, ::testing::ValuesIn(StoreSetups()),
                         [](const auto& info) { return info.param.name; });

// A store formatted before the feature gets it, durably, with its first long value, and not
// before: short values leave the superblock alone.
TEST(XattrBlockFeatureTest, FirstLongValueSetsTheFeatureBit) {
  auto setup = StoreSetups()[0];
  auto d = testing::MakeFormatted(setup, {.large_xattrs = false});
  auto store = testing::OpenOrFail(*d.dev);
  ASSERT_NE(store, nullptr);
  EXPECT_FALSE(store->superblock().incompat & layout::kIncompatLargeXattrs);
  Tx t0 = store->Begin();
  auto ino = store->ReserveInode(t0, nullptr);
  ASSERT_TRUE(ino.ok());
  layout::InodeRecord rec = FileRecord();
  auto set = [&](std::string_view name, size_t n) {
    Tx tx = store->Begin();
    auto block = store->AppendChainBlock(tx, *ino, rec, ChainKind::kXattrs);
    ASSERT_TRUE(block.ok());
    ASSERT_TRUE(WriteXattrBlock(*store, tx, *ino, *block, rec, name, Pattern(n, 0)).ok());
    store->WriteInode(tx, *ino, rec);
    ASSERT_TRUE(store->Commit(tx).ok());
  };
  store->WriteInode(t0, *ino, rec);
  ASSERT_TRUE(store->Commit(t0).ok());
  set("user.short", 3761);
  EXPECT_FALSE(store->superblock().incompat & layout::kIncompatLargeXattrs);
  set("user.long", 3762);
  EXPECT_TRUE(store->superblock().incompat & layout::kIncompatLargeXattrs);
  store.reset();
  d.CrashAndReopen();  // durable without a clean unmount
  store = testing::OpenOrFail(*d.dev);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(store->superblock().incompat & layout::kIncompatLargeXattrs);
}

}  // namespace
}  // namespace pmemfs::store
