// Store::CheckGrowth (fs/store/growth.cc): where a grown store's bitmap goes decides what
// growths are possible. In place while the bitmap blocks it has map the grown store; past them
// the bitmap moves into the added space, which must then hold the new bitmap area and the
// backup superblock: a smaller growth is refused with one line naming the numbers.
#include <gtest/gtest.h>

#include "fs/store/store.h"
#include "store_test_support.h"

namespace pmemfs::store {
namespace {

using testing::MakeFormatted;
using testing::OpenOrFail;

constexpr uint64_t kPerBitmapBlock = layout::kBlockSize * 8;  // store blocks one bitmap block maps

// A store of kPerBitmapBlock - 2 blocks (a 128 MiB part less its header and backup pages, no
// descriptor area).
mapping::testing::SimDevice NearlyFullBitmap(const FormatOptions& opts = {}) {
  return MakeFormatted(
      {"OnePart", layout::LayoutKind::kLinear, 1, mapping::AccessPath::kLinear, 128ull << 20},
      opts, {.reserve_descriptors = false});
}

TEST(GrowthTest, GrowsInPlaceOrByMovingTheBitmapIntoTheAddedSpace) {
  mapping::testing::SimDevice d = NearlyFullBitmap();
  auto s = OpenOrFail(*d.dev);
  ASSERT_TRUE(s);
  const uint64_t n = s->superblock().store_blocks;
  ASSERT_EQ(n, kPerBitmapBlock - 2);
  EXPECT_TRUE(s->CheckGrowth(n).ok());                   // no growth
  EXPECT_TRUE(s->CheckGrowth(kPerBitmapBlock).ok());     // in place: one bitmap block maps it
  // Past it: a bitmap area of 2 blocks and 1 of checksums at block n, the backup after it.
  EXPECT_TRUE(s->CheckGrowth(n + 4).ok());
  EXPECT_TRUE(s->CheckGrowth(64 * kPerBitmapBlock).ok());  // 8 GiB: 64 bitmap blocks
  Status small = s->CheckGrowth(n + 3);
  EXPECT_EQ(small.code(), Code::kNoSpace);
  EXPECT_NE(small.message().find("cannot hold the grown allocation bitmap (3 blocks"),
            std::string::npos)
      << small.message();
  EXPECT_EQ(small.message().find('\n'), std::string::npos);
}

TEST(GrowthTest, WithoutBitmapChecksumsTheMovedAreaIsTheBitmapAlone) {
  mapping::testing::SimDevice d = NearlyFullBitmap({.bitmap_checksums = false});
  auto s = OpenOrFail(*d.dev);
  ASSERT_TRUE(s);
  const uint64_t n = s->superblock().store_blocks;
  EXPECT_TRUE(s->CheckGrowth(n + 3).ok());  // 2 bitmap blocks and the backup (refused above)
}

}  // namespace
}  // namespace pmemfs::store
