// pmemfs-tune --add-part (tools/tune/add_part.h): a populated one-part device (pages mode, its
// descriptor table current, and direct mode) grows by a part: the device, the RAM partition and
// descriptor area moved to the new end, the store, its bitmap and free space; a pages mount of
// the grown device and the checker accept it. The refusals change no byte. And crash
// consistency: the add cut at every persist point (and the recovery cut at each of its own),
// then the tool's recovery, leaves exactly the old device or the grown one, checker clean, the
// files' blocks untouched, mountable. A store grown past what its bitmap maps gets its bitmap
// moved into the added space (fs/store/growth.cc): the same checks, then a second add in place
// and a third that moves it again, the checker's view of a moved bitmap (clean, and damage to
// it found), and the crash points of such an add.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "fs/store/bitmap_area.h"
#include "fs/store/store.h"
#include "fsck_test_support.h"
#include "mapping/device_set.h"
#include "store_test_support.h"
#include "tools/fsck/check.h"
#include "tools/tune/add_part.h"
#include "tools/tune/describe.h"

namespace pmemfs::tune {
namespace {

using fsck::testing::Bytes;
using fsck::testing::FsckImage;
using fsck::testing::MustCheck;
using fsck::testing::PartImage;
using mapping::Mode;
using mapping::Part;

constexpr uint64_t kAdded = 16ull << 20;  // the new part's size
constexpr uint64_t kSmallPart = 24ull << 20;
// A part whose store (one bitmap block maps 32768 blocks, 128 MiB) outgrows its bitmap by kAdded.
constexpr uint64_t kBigPart = 120ull << 20;

// The data area of `sb` on `dev`, but for a bitmap area inside it (zeroed here: a growth
// rewrites it).
std::vector<std::byte> DataArea(const mapping::Device& dev, const layout::Superblock& sb) {
  std::vector<std::byte> out = Bytes(dev, sb.data_start * layout::kBlockSize,
                                     (sb.backup_block - sb.data_start) * layout::kBlockSize);
  const store::BlockRange m = store::MovedBitmapArea(sb);
  if (m.count > 0)
    std::fill_n(out.begin() + static_cast<ptrdiff_t>((m.start - sb.data_start) * layout::kBlockSize),
                m.count * layout::kBlockSize, std::byte{0});
  return out;
}

// A populated, unmounted one-part filesystem and a blank part in its power domain.
struct Machine {
  explicit Machine(Mode mode, uint64_t part_size = kSmallPart, uint64_t added = kAdded)
      : image(mode,
              mode == Mode::kPages ? layout::StoredMode::kPages : layout::StoredMode::kDirect,
              part_size) {
    image.Populate();
    image.Unmount();
    Next(added);
  }
  // The device as it is now is the old one of the next add, of a blank part of `added` bytes.
  void Next(uint64_t added) {
    part = d().sim->NewPart(added, layout::kPageSize, "added" + std::to_string(d().parts.size()));
    sb = *store::Store::Peek(dev());
    data = DataArea(dev(), sb);
    parts = d().parts;
    size_before = dev().info().size;
  }
  mapping::testing::SimDevice& d() { return image.sim_device(); }
  mapping::Device& dev() { return *d().dev; }
  mapping::AssembleOptions aopts() { return {.path = d().setup.path}; }
  // The add of `part`, uninterrupted: the grown device is the image's.
  void Add() {
    d().dev.reset();
    Result<AddPartResult> r = AddPart(parts, part, aopts());
    ASSERT_TRUE(r.ok()) << r.status().message();
    Take(std::move(*r));
  }
  // The device the result of an add or a recovery is: the image's from now on.
  void Take(AddPartResult r) {
    d().dev = std::move(r.dev);
    if (r.grown) d().parts.push_back(part);
  }
  // Old or grown: which (0, 1; -1 neither), with everything a user relies on checked.
  int Verify() {
    const bool grown = dev().info().part_count == parts.size() + 1;
    {
      // The next read-write open (a mount): replays what a crash left in the journal, finishes
      // what the superblock marks.
      auto s = store::Store::Open(dev(), nullptr);
      EXPECT_TRUE(s.ok()) << s.status().message();
      if (!s.ok()) return -1;
      EXPECT_TRUE((*s)->Close().ok());
    }
    d().Reopen();
    const layout::Superblock now = *store::Store::Peek(dev());
    EXPECT_EQ(now.store_growth, 0u);
    EXPECT_FALSE(dev().info().add_part_pending);
    for (size_t p = 0; p < dev().part_count(); p++)
      EXPECT_TRUE(dev().header_state(p).primary_ok && dev().header_state(p).backup_ok) << p;
    // The files' blocks as they were.
    EXPECT_TRUE(DataArea(dev(), sb) == data);
    const fsck::CheckReport r = MustCheck(dev());
    EXPECT_TRUE(r.clean()) << fsck::testing::Describe(r);
    const uint64_t blocks = dev().info().store().length / layout::kBlockSize;
    EXPECT_EQ(now.store_blocks, grown ? blocks : sb.store_blocks);
    if (grown) {
      EXPECT_GT(now.store_blocks, sb.store_blocks);
      EXPECT_EQ(now.data_blocks, now.store_blocks - 1 - now.data_start);
    } else {
      EXPECT_EQ(now.store_blocks, sb.store_blocks);
      EXPECT_EQ(dev().info().size, size_before);
    }
    Status m = image.MountAndUnmount();
    EXPECT_TRUE(m.ok()) << m.message();
    return grown ? 1 : 0;
  }

  FsckImage image;
  std::shared_ptr<Part> part;
  std::vector<std::shared_ptr<Part>> parts;  // the old device's
  layout::Superblock sb;                     // the old superblock
  std::vector<std::byte> data;               // the old data area
  uint64_t size_before = 0;
};

class AddPartTest : public ::testing::TestWithParam<Mode> {};

TEST_P(AddPartTest, GrowsTheDeviceTheStoreAndMovesTheReservedRanges) {
  Machine m(GetParam());
  m.size_before = m.dev().info().size;
  const mapping::DeviceInfo old = m.dev().info();
  const store::StoreStats before = [&] {
    auto s = store::Store::OpenOffline(m.dev());
    EXPECT_TRUE(s.ok());
    return (*s)->stats();
  }();
  m.d().dev.reset();
  Result<AddPartResult> r = AddPart(m.parts, m.part, m.aopts());
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_TRUE(r->grown);
  EXPECT_TRUE(r->note.empty());
  m.Take(std::move(*r));
  const mapping::DeviceInfo& now = m.dev().info();
  EXPECT_EQ(now.part_count, 2u);
  const uint64_t added = kAdded - 2 * layout::kPageSize;  // header and backup pages
  EXPECT_EQ(now.size, old.size + added);
  EXPECT_EQ(now.ram.length, old.ram.length);
  EXPECT_EQ(now.descriptors.length, layout::DescriptorAreaSize(now.size / layout::kPageSize));
  EXPECT_EQ(now.descriptors.end(), now.size);
  EXPECT_EQ(now.ram.end(), now.descriptors.offset);
  EXPECT_GE(now.descriptors.offset, old.size);  // inside the new part
  ASSERT_EQ(m.Verify(), 1);
  // The added space is free and allocatable, past the old end of the store.
  auto s = store::Store::OpenOffline(m.dev());
  ASSERT_TRUE(s.ok()) << s.status().message();
  const store::StoreStats after = (*s)->stats();
  EXPECT_EQ(after.data_blocks - before.data_blocks, (now.store().end() - old.store().end()) / 4096);
  EXPECT_EQ(after.free_blocks - before.free_blocks, after.data_blocks - before.data_blocks);
  store::Tx tx = (*s)->Begin();
  uint64_t highest = 0, got = 0;
  while (got < after.free_blocks) {
    Result<store::BlockRange> b = (*s)->AllocBlocks(tx, after.free_blocks - got);
    ASSERT_TRUE(b.ok()) << b.status().message();
    got += b->count;
    highest = std::max(highest, b->end());
  }
  EXPECT_EQ(highest, (*s)->superblock().backup_block);
  EXPECT_GT(highest, m.sb.store_blocks);
}

TEST_P(AddPartTest, RefusalsSayWhyAndChangeNothing) {
  Machine m(GetParam());
  m.d().dev.reset();
  auto expect_refused = [&](const std::shared_ptr<Part>& part, const std::string& why) {
    const std::vector<std::byte> a = PartImage(*m.parts[0]), b = PartImage(*part);
    Result<AddPartResult> r = AddPart(m.parts, part, m.aopts());
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(why), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
    EXPECT_TRUE(PartImage(*m.parts[0]) == a);
    EXPECT_TRUE(PartImage(*part) == b);
  };
  expect_refused(m.d().sim->NewPart(1u << 20, layout::kPageSize, "small"), "too small");
  // A part of another pmemfs device, and a part of this one.
  mapping::testing::SimDevice other = store::testing::MakeFormatted(
      {"other", layout::LayoutKind::kLinear, 1, mapping::AccessPath::kLinear, 8u << 20});
  other.dev.reset();
  expect_refused(other.parts[0], "already belongs to pmemfs device");
  // A striped device.
  mapping::testing::SimDevice striped = store::testing::MakeFormatted(
      {"striped", layout::LayoutKind::kStriped, 2, mapping::AccessPath::kLinear, 10u << 20});
  striped.dev.reset();
  const std::vector<std::byte> s0 = PartImage(*striped.parts[0]);
  Result<AddPartResult> r = AddPart(striped.parts, striped.sim->NewPart(10u << 20), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("striped"), std::string::npos) << r.status().message();
  EXPECT_TRUE(PartImage(*striped.parts[0]) == s0);
  // The device still opens as it was.
  m.d().Reopen();
  m.size_before = m.dev().info().size;
  EXPECT_EQ(m.Verify(), 0);
}

// The bitmap words of store blocks [start, +count) as the device holds them: how many are set.
uint64_t BitsSet(const mapping::Device& dev, const layout::Superblock& sb, uint64_t start,
                 uint64_t count) {
  uint64_t set = 0;
  for (uint64_t b = start; b < start + count; b++) {
    uint8_t byte;
    dev.Read(sb.bitmap_start * layout::kBlockSize + b / 8, &byte, 1);
    set += byte >> (b % 8) & 1;
  }
  return set;
}

// Allocates every free block of the store on `dev`: the ranges (given back after).
std::vector<store::BlockRange> AllocateAll(mapping::Device& dev) {
  std::vector<store::BlockRange> out;
  auto s = store::Store::OpenOffline(dev);
  EXPECT_TRUE(s.ok()) << s.status().message();
  if (!s.ok()) return out;
  store::Tx tx = (*s)->Begin();
  uint64_t got = 0;
  const uint64_t free = (*s)->stats().free_blocks;
  while (got < free) {
    Result<store::BlockRange> b = (*s)->AllocBlocks(tx, free - got);
    EXPECT_TRUE(b.ok()) << b.status().message();
    if (!b.ok()) break;
    got += b->count;
    out.push_back(*b);
  }
  return out;
}

bool Overlap(store::BlockRange a, store::BlockRange b) {
  return a.start < b.end() && b.start < a.end();
}

TEST_P(AddPartTest, MovesTheBitmapWhenTheGrownStoreOutgrowsIt) {
  Machine m(GetParam(), kBigPart);
  ASSERT_EQ(layout::BitmapBlocks(m.sb.store_blocks), 1u);
  ASSERT_NO_FATAL_FAILURE(m.Add());
  ASSERT_EQ(m.Verify(), 1);  // files, fsck clean, mountable
  const layout::Superblock g = *store::Store::Peek(m.dev());
  ASSERT_GT(layout::BitmapBlocks(g.store_blocks), 1u);  // the premise: it outgrew the bitmap
  EXPECT_TRUE(g.incompat & layout::kIncompatMovedBitmap);
  EXPECT_EQ(g.bitmap_start, m.sb.store_blocks);  // the old store's end
  EXPECT_EQ(g.bitmap_blocks, layout::BitmapAreaBlocks(g.store_blocks, true));
  EXPECT_EQ(g.data_start, m.sb.data_start);
  EXPECT_EQ(g.data_blocks, g.backup_block - g.data_start);
  EXPECT_EQ(BitsSet(m.dev(), g, g.bitmap_start, g.bitmap_blocks), g.bitmap_blocks);
  EXPECT_EQ(BitsSet(m.dev(), g, m.sb.backup_block, 1), 0u);  // the old backup block: free
  EXPECT_EQ(BitsSet(m.dev(), g, g.backup_block, 1), 1u);
  // Every free block is allocatable, none of the bitmap's, the old backup block and the last
  // data block too.
  const std::vector<store::BlockRange> all = AllocateAll(m.dev());
  bool old_backup = false, last = false;
  for (const store::BlockRange& b : all) {
    EXPECT_FALSE(Overlap(b, store::BitmapArea(g))) << b.start << "+" << b.count;
    old_backup = old_backup || Overlap(b, {m.sb.backup_block, 1});
    last = last || Overlap(b, {g.backup_block - 1, 1});
  }
  EXPECT_TRUE(old_backup);
  EXPECT_TRUE(last);
  // pmemfs-tune -l says where it is.
  Result<Description> d = Describe(m.dev(), "dev");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_TRUE(d->bitmap_moved);
  EXPECT_EQ(d->bitmap_start, g.bitmap_start);
  EXPECT_NE(std::find(d->features.begin(), d->features.end(), "moved_bitmap"), d->features.end());

  // A second add that the moved bitmap maps: in place.
  m.Next(kAdded);
  ASSERT_NO_FATAL_FAILURE(m.Add());
  ASSERT_EQ(m.Verify(), 1);
  const layout::Superblock g2 = *store::Store::Peek(m.dev());
  EXPECT_EQ(g2.bitmap_start, g.bitmap_start);
  EXPECT_EQ(g2.bitmap_blocks, g.bitmap_blocks);

  // A third past it (256 MiB): moved again, the area it leaves freed.
  m.Next(128ull << 20);
  ASSERT_NO_FATAL_FAILURE(m.Add());
  ASSERT_EQ(m.Verify(), 1);
  const layout::Superblock g3 = *store::Store::Peek(m.dev());
  ASSERT_GT(layout::BitmapBlocks(g3.store_blocks), layout::BitmapBlocks(g2.store_blocks));
  EXPECT_EQ(g3.bitmap_start, g2.store_blocks);
  EXPECT_EQ(BitsSet(m.dev(), g3, g.bitmap_start, g.bitmap_blocks), 0u);
  EXPECT_EQ(BitsSet(m.dev(), g3, g3.bitmap_start, g3.bitmap_blocks), g3.bitmap_blocks);
  bool reused = false;
  for (const store::BlockRange& b : AllocateAll(m.dev())) {
    EXPECT_FALSE(Overlap(b, store::BitmapArea(g3)));
    reused = reused || Overlap(b, store::BitmapArea(g));
  }
  EXPECT_TRUE(reused);
}

// pmemfs-fsck and a moved bitmap: clean as the add leaves it (above); its blocks marked free,
// and an extent that points into them, are found and repaired.
TEST_P(AddPartTest, CheckerFindsDamageToAMovedBitmap) {
  Machine m(GetParam(), kBigPart);
  ASSERT_NO_FATAL_FAILURE(m.Add());
  const layout::Superblock g = *store::Store::Peek(m.dev());
  ASSERT_TRUE(store::BitmapInDataArea(g));
  EXPECT_TRUE(MustCheck(m.dev()).clean());
  auto found = [](const fsck::CheckReport& rep, const std::string& what) {
    for (const fsck::Problem& p : rep.problems)
      if (p.message.find(what) != std::string::npos) return true;
    return false;
  };
  // Its own bits cleared (and so its checksum off).
  m.image.SetBitmapBit(g.bitmap_start + 1, false);
  fsck::CheckReport rep = MustCheck(m.dev());
  EXPECT_TRUE(found(rep, "block " + std::to_string(g.bitmap_start + 1) +
                             ": metadata marked free"))
      << fsck::testing::Describe(rep);
  EXPECT_TRUE(found(rep, "bitmap block 0: checksum mismatch")) << fsck::testing::Describe(rep);
  // An extent of a file pointing into it.
  std::vector<FsckImage::ExtentAt> ext = m.image.Extents(m.image.tree().f);
  ASSERT_FALSE(ext.empty());
  FsckImage::ExtentAt e = ext[0];
  e.rec.dev_block = g.bitmap_start;
  e.rec.length = 1;
  m.image.PutExtent(e);
  rep = MustCheck(m.dev());
  EXPECT_TRUE(found(rep, "outside the data area")) << fsck::testing::Describe(rep);
  // Repaired: the bits set again, the extent dropped; then clean, the bitmap's bytes its own.
  Result<fsck::CheckReport> fixed = fsck::Check(m.dev(), {.repair = true});
  ASSERT_TRUE(fixed.ok()) << fixed.status().message();
  EXPECT_TRUE(MustCheck(m.dev()).clean()) << fsck::testing::Describe(MustCheck(m.dev()));
  EXPECT_EQ(BitsSet(m.dev(), g, g.bitmap_start, g.bitmap_blocks), g.bitmap_blocks);
}

INSTANTIATE_TEST_SUITE_P(Modes, AddPartTest, ::testing::Values(Mode::kPages, Mode::kDirect),
                         [](const ::testing::TestParamInfo<Mode>& p) {
                           return std::string(p.param == Mode::kPages ? "Pages" : "Direct");
                         });

// --- crash consistency ------------------------------------------------------------------------

class AddPartCrashTest : public ::testing::TestWithParam<Mode> {
 protected:
  // The persist points of the whole add.
  uint64_t CountPoints() {
    Machine m(GetParam(), part_size_);
    m.d().dev.reset();
    const uint64_t base = m.d().sim->persist_points();
    Result<AddPartResult> r = AddPart(m.parts, m.part, m.aopts());
    EXPECT_TRUE(r.ok()) << r.status().message();
    return m.d().sim->persist_points() - base;
  }
  // The add cut after `n` more persist points (lines pending then kept with `keep`).
  std::unique_ptr<Machine> Cut(uint64_t n, double keep) {
    auto m = std::make_unique<Machine>(GetParam(), part_size_);
    m->size_before = m->dev().info().size;
    m->d().dev.reset();
    m->d().sim->StopAfter(m->d().sim->persist_points() + n);
    Result<AddPartResult> r = AddPart(m->parts, m->part, m->aopts());
    EXPECT_TRUE(r.ok() || m->d().sim->stopped()) << r.status().message();
    m->d().sim->Crash(keep);
    return m;
  }
  // Runs the tool's recovery on what the crash left: the old or the grown device.
  int Recover(Machine& m) {
    Result<AddPartResult> r = RecoverAddPart(m.parts, m.part, m.aopts());
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) return -1;
    m.Take(std::move(*r));
    return m.Verify();
  }
  // Every persist point, keeping 0% and 50% of the lines pending: always the old or the grown
  // device.
  void EveryPersistPoint(const char* what) {
    const uint64_t total = CountPoints();
    ASSERT_GE(total, 4u);
    auto cut = [&](uint64_t n, double keep, int* which) {
      std::unique_ptr<Machine> m = Cut(n, keep);
      *which = Recover(*m);
      if (*which == -1) return;
      const layout::Superblock now = *store::Store::Peek(m->dev());
      EXPECT_EQ(store::BitmapInDataArea(now), *which == 1 && part_size_ == kBigPart);
    };
    fsck::testing::CutStates c;
    ASSERT_NO_FATAL_FAILURE(fsck::testing::CutAtEveryPersistPoint(total, cut, &c));
    EXPECT_GT(c.fresh, 0u);
    EXPECT_LT(c.fresh, c.states);
    std::cout << "[ crash    ] " << what << ": " << c.states << " crash states (" << total
              << " persist points x 2), " << c.fresh << " recovered to the grown device\n";
  }
  uint64_t part_size_ = kSmallPart;
};

TEST_P(AddPartCrashTest, EveryPersistPointLeavesTheOldOrTheGrownDevice) {
  EveryPersistPoint("add-part");
}

// The same for an add whose store outgrows its bitmap: the bitmap moves into the added space.
TEST_P(AddPartCrashTest, EveryPersistPointOfAMovingAddLeavesTheOldOrTheGrownDevice) {
  part_size_ = kBigPart;
  EveryPersistPoint("add-part moving the bitmap");
}

// The recovery cut at each of its persist points and run again ends the same way.
TEST_P(AddPartCrashTest, CrashDuringRecoveryRecoversTheSameWay) {
  if (GetParam() != Mode::kPages)
    GTEST_SKIP() << "pages mode's recovery has every step of direct mode's, and the area's";
  const uint64_t total = CountPoints();
  int expect = -1;  // where the undisturbed recovery of the cut under way ends
  auto probe = [&](uint64_t n, uint64_t* recovery) {
    std::unique_ptr<Machine> m = Cut(n, 0.0);
    const uint64_t before = m->d().sim->persist_points();
    Result<AddPartResult> undisturbed = RecoverAddPart(m->parts, m->part, m->aopts());
    ASSERT_TRUE(undisturbed.ok()) << undisturbed.status().message();
    *recovery = m->d().sim->persist_points() - before;
    m->Take(std::move(*undisturbed));
    expect = m->Verify();
    ASSERT_NE(expect, -1);
  };
  auto cut = [&](uint64_t n, uint64_t r) {
    std::unique_ptr<Machine> m2 = Cut(n, 0.0);
    m2->d().sim->StopAfter(m2->d().sim->persist_points() + r);
    (void)RecoverAddPart(m2->parts, m2->part, m2->aopts());
    m2->d().sim->Crash(0.5);
    ASSERT_EQ(Recover(*m2), expect);
  };
  uint64_t states = 0;
  ASSERT_NO_FATAL_FAILURE(fsck::testing::CutInsideRecovery(total, "recovery", probe, cut, &states));
  std::cout << "[ crash    ] add-part: " << states << " crash states inside recovery\n";
}

INSTANTIATE_TEST_SUITE_P(Modes, AddPartCrashTest, ::testing::Values(Mode::kPages, Mode::kDirect),
                         [](const ::testing::TestParamInfo<Mode>& p) {
                           return std::string(p.param == Mode::kPages ? "Pages" : "Direct");
                         });

}  // namespace
}  // namespace pmemfs::tune
