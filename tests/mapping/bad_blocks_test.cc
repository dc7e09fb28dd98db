// BadBlocks over simulated devices in every layout and access path: injected ranges fail
// overlapping checks with a message naming the range and the part, merge, cross part and chunk
// boundaries, persist in the part headers (durable when Inject returns, crash-safe at every
// persist point through the ping-pong tables), are cleared a whole page at a time, and a
// corrupt table copy falls back to the other one.
#include "mapping/bad_blocks.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mapping/device.h"
#include "pmemfs/crc32c.h"
#include "sim_device_fixture.h"
#include "test_support.h"

namespace pmemfs::mapping {
namespace {

using testing::AllSetups;
using testing::Boundaries;
using testing::MakeSimDevice;
using testing::SetupName;
using testing::SimDevice;
using testing::SimDeviceTest;
using testing::SimSetup;

constexpr uint64_t P = layout::kPageSize;
using Ranges = std::vector<std::pair<uint64_t, uint64_t>>;  // (offset, length)

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

Ranges ListOf(const Device& dev) {
  Ranges out;
  for (const auto& e : dev.bad_blocks().List()) out.emplace_back(e.offset, e.length);
  return out;
}

// A range crossing the first part/chunk boundary, or one in the middle of the device when it
// has none.
std::pair<uint64_t, uint64_t> StraddlingRange(const Device& dev) {
  auto b = Boundaries(dev);
  uint64_t at = b.empty() ? dev.size() / 2 / P * P : b[0];
  return {at - 3 * P - 100, 6 * P + 200};
}

// "[a, b) on <part> at part offset <o>": what an IoError from Check names for a bad range
// [a, b) whose first byte touched by the read is at device offset `first`.
std::string Names(const Device& dev, uint64_t a, uint64_t b, uint64_t first) {
  Device::Location l = dev.Locate(first);
  return "[" + std::to_string(a) + ", " + std::to_string(b) + ") on " + dev.part(l.part).name() +
         " at part offset " + std::to_string(l.part_offset);
}

// The bad-block table copies in a part's header, read straight from its mapping.
bool CopyValid(const Part& part, int slot, layout::BadBlockTable* out = nullptr) {
  layout::BadBlockTable t;
  std::memcpy(&t, part.base() + layout::kBadBlockTableOffset[slot], sizeof t);
  if (out) *out = t;
  return std::memcmp(t.magic, layout::kBadBlockMagic, sizeof t.magic) == 0 &&
         t.checksum == StructChecksum(t) && t.count <= layout::kMaxBadRanges;
}

// The slot of the part's newest valid copy, -1 if none.
int CurrentSlot(const Part& part) {
  layout::BadBlockTable t[2];
  bool v0 = CopyValid(part, 0, &t[0]), v1 = CopyValid(part, 1, &t[1]);
  if (v0 && v1) return t[1].sequence > t[0].sequence ? 1 : 0;
  return v0 ? 0 : v1 ? 1 : -1;
}

// The ranges (part data offsets) of the newest table of `part`.
Ranges CurrentTable(const Part& part) {
  int slot = CurrentSlot(part);
  EXPECT_GE(slot, 0) << part.name();
  layout::BadBlockTable t{};
  if (slot >= 0) CopyValid(part, slot, &t);
  Ranges out;
  for (uint32_t i = 0; i < t.count; i++) out.emplace_back(t.entries[i].offset, t.entries[i].length);
  return out;
}

// Sorted, with touching ranges joined (how a part's table records consecutive stripe chunks).
Ranges Merged(Ranges v) {
  std::sort(v.begin(), v.end());
  Ranges out;
  for (auto [off, len] : v) {
    if (!out.empty() && out.back().first + out.back().second == off) out.back().second += len;
    else out.emplace_back(off, len);
  }
  return out;
}

// Damages table copy `slot` in the part's header page and in its backup page (the tests of the
// A/B copies damage both pages alike; PrimaryTablesDamaged... damages one page only).
void FlipByte(Part& part, int slot, uint64_t at, bool backup_too = true) {
  part.base()[layout::kBadBlockTableOffset[slot] + at] ^= std::byte{0x5a};
  if (backup_too)
    part.base()[layout::BackupHeaderOffset(part.size()) + layout::kBadBlockTableOffset[slot] + at] ^=
        std::byte{0x5a};
}

class BadBlocksTest : public SimDeviceTest {
 protected:
  BadBlocks& bb() { return d_.dev->bad_blocks(); }
};

TEST_P(BadBlocksTest, EmptyAfterCreateAndReopen) {
  EXPECT_TRUE(bb().empty());
  EXPECT_TRUE(bb().List().empty());
  EXPECT_TRUE(bb().Check(0, dev().size()).ok());
  for (size_t i = 0; i < dev().part_count(); i++) EXPECT_TRUE(CurrentTable(dev().part(i)).empty());
  d_.Reopen();
  EXPECT_TRUE(bb().empty());
  EXPECT_TRUE(bb().Check(0, dev().size()).ok());
}

TEST_P(BadBlocksTest, CheckOfAnOverlappingRangeNamesTheRangeAndThePart) {
  const uint64_t a = 100 * P + 100, b = a + 5000;
  ASSERT_TRUE(bb().Inject(a, b - a).ok());
  EXPECT_FALSE(bb().empty());
  EXPECT_EQ(ListOf(dev()), (Ranges{{a, b - a}}));

  struct Probe {
    uint64_t off, len, first;  // `first`: first bad byte the probe touches
  };
  for (Probe p : {Probe{a, 1, a}, Probe{a - 10, 11, a}, Probe{b - 1, 1, b - 1},
                  Probe{a + 1000, 10, a + 1000}, Probe{0, dev().size(), a},
                  Probe{b - 1, 4 * P, b - 1}}) {
    Status st = bb().Check(p.off, p.len);
    EXPECT_EQ(st.code(), Code::kIoError) << p.off << "+" << p.len;
    EXPECT_TRUE(Contains(st.message(), "media error"));
    EXPECT_TRUE(Contains(st.message(), Names(dev(), a, b, p.first)));
  }
}

TEST_P(BadBlocksTest, CheckOfADisjointRangeIsOk) {
  const uint64_t a = 100 * P + 100, b = a + 5000;
  ASSERT_TRUE(bb().Inject(a, b - a).ok());
  EXPECT_TRUE(bb().Check(0, a).ok());
  EXPECT_TRUE(bb().Check(a - 10, 10).ok());
  EXPECT_TRUE(bb().Check(b, 1).ok());
  EXPECT_TRUE(bb().Check(b, dev().size() - b).ok());
  EXPECT_TRUE(bb().Check(a, 0).ok());
}

TEST_P(BadBlocksTest, OverlappingAndTouchingRangesMerge) {
  const uint64_t a = 40 * P;
  ASSERT_TRUE(bb().Inject(a, P).ok());
  ASSERT_TRUE(bb().Inject(a + 2 * P, P).ok());
  ASSERT_TRUE(bb().Inject(a + 10 * P, 100).ok());
  EXPECT_EQ(ListOf(dev()), (Ranges{{a, P}, {a + 2 * P, P}, {a + 10 * P, 100}}));
  EXPECT_TRUE(bb().Check(a + P, P).ok());
  ASSERT_TRUE(bb().Inject(a + P, P).ok());  // touches both neighbours
  EXPECT_EQ(ListOf(dev()), (Ranges{{a, 3 * P}, {a + 10 * P, 100}}));
  ASSERT_TRUE(bb().Inject(a + 2 * P, 9 * P).ok());  // overlaps both
  EXPECT_EQ(ListOf(dev()), (Ranges{{a, 11 * P}}));
  ASSERT_TRUE(bb().Inject(a + P, 10).ok());  // inside
  EXPECT_EQ(ListOf(dev()), (Ranges{{a, 11 * P}}));
  Status st = bb().Check(a + P, 1);
  EXPECT_TRUE(Contains(st.message(), Names(dev(), a, a + 11 * P, a + P)));
}

// Runs over the setups that have a part or chunk boundary (all but the one-part ones).
class BadBlocksBoundaryTest : public BadBlocksTest {};

TEST_P(BadBlocksBoundaryTest, RangesAcrossPartAndChunkBoundaries) {
  auto bounds = Boundaries(dev());
  ASSERT_FALSE(bounds.empty());
  Ranges want;
  for (uint64_t b : bounds) {
    ASSERT_TRUE(bb().Inject(b - 100, 5100).ok());
    want.emplace_back(b - 100, 5100);
  }
  EXPECT_EQ(ListOf(dev()), want);
  for (uint64_t b : bounds) {
    // Each side names the part holding the bytes the check touches.
    for (uint64_t off : {b - 100, b - 1, b, b + 4999}) {
      Status st = bb().Check(off, 1);
      EXPECT_EQ(st.code(), Code::kIoError);
      EXPECT_TRUE(Contains(st.message(), Names(dev(), b - 100, b + 5000, off)));
    }
    EXPECT_TRUE(bb().Check(b - 101, 1).ok());
    EXPECT_TRUE(bb().Check(b + 5000, 1).ok());
  }
  // Each part's table holds its own piece, in part data offsets.
  const uint64_t header = dev().info().header_size;
  std::vector<Ranges> per_part(dev().part_count());
  for (uint64_t b : bounds) {
    Device::Location before = dev().Locate(b - 100), after = dev().Locate(b);
    per_part[before.part].emplace_back(before.part_offset - header, 100);
    per_part[after.part].emplace_back(after.part_offset - header, 5000);
  }
  for (size_t i = 0; i < dev().part_count(); i++)
    EXPECT_EQ(CurrentTable(dev().part(i)), Merged(per_part[i])) << dev().part(i).name();
  d_.Reopen();
  EXPECT_EQ(ListOf(dev()), want);
}

TEST_P(BadBlocksTest, InjectedRangesSurviveReopen) {
  auto [s, n] = StraddlingRange(dev());
  ASSERT_TRUE(bb().Inject(7, 1).ok());
  ASSERT_TRUE(bb().Inject(s, n).ok());
  ASSERT_TRUE(bb().Inject(dev().size() - 3 * P, 3 * P).ok());
  const Ranges want = ListOf(dev());
  ASSERT_EQ(want.size(), 3u);
  d_.Reopen();
  EXPECT_EQ(ListOf(dev()), want);
  EXPECT_EQ(bb().Check(dev().size() - 1, 1).code(), Code::kIoError);
}

TEST_P(BadBlocksTest, InjectIsDurableWhenItReturns) {
  auto [s, n] = StraddlingRange(dev());
  ASSERT_TRUE(bb().Inject(s, n).ok());
  ASSERT_TRUE(bb().Inject(3 * P, 10).ok());
  const Ranges want = ListOf(dev());
  EXPECT_EQ(d_.sim->pending_lines(), 0u);
  d_.CrashAndReopen();
  EXPECT_EQ(ListOf(dev()), want);
  EXPECT_EQ(bb().Check(s + n - 1, 1).code(), Code::kIoError);
}

TEST_P(BadBlocksTest, ClearWholePagesClearsOnlyWholePagesInside) {
  const uint64_t a = 10 * P;
  ASSERT_TRUE(bb().Inject(a, 4 * P).ok());  // pages 10..13
  // [10P+1, 12P+1) holds one whole page, 11.
  ASSERT_TRUE(bb().ClearWholePages(a + 1, 2 * P).ok());
  EXPECT_EQ(ListOf(dev()), (Ranges{{a, P}, {a + 2 * P, 2 * P}}));
  EXPECT_EQ(bb().Check(a + P - 1, 1).code(), Code::kIoError);
  EXPECT_TRUE(bb().Check(a + P, P).ok());
  EXPECT_EQ(bb().Check(a + 2 * P, 1).code(), Code::kIoError);
  // No whole page: nothing changes.
  ASSERT_TRUE(bb().ClearWholePages(a + 2 * P + 1, P).ok());
  ASSERT_TRUE(bb().ClearWholePages(a + 2 * P, P - 1).ok());
  EXPECT_EQ(ListOf(dev()), (Ranges{{a, P}, {a + 2 * P, 2 * P}}));
  // Rewriting page 30 whole clears its part of [30P+100, 31P+100); page 31 keeps its mark.
  ASSERT_TRUE(bb().Inject(a + 20 * P + 100, P).ok());
  ASSERT_TRUE(bb().ClearWholePages(a + 20 * P, P).ok());
  EXPECT_EQ(ListOf(dev()), (Ranges{{a, P}, {a + 2 * P, 2 * P}, {a + 21 * P, 100}}));
  // Everything.
  ASSERT_TRUE(bb().ClearWholePages(0, dev().size()).ok());
  EXPECT_TRUE(bb().empty());
  EXPECT_TRUE(bb().Check(0, dev().size()).ok());
}

TEST_P(BadBlocksTest, ClearingPersists) {
  auto [s, n] = StraddlingRange(dev());  // [b-3P-100, b+3P+100)
  ASSERT_TRUE(bb().Inject(s, n).ok());
  ASSERT_TRUE(bb().ClearWholePages(s, n).ok());  // the 6 whole pages in the middle
  const Ranges want{{s, 100}, {s + n - 100, 100}};
  EXPECT_EQ(ListOf(dev()), want);
  d_.Reopen();
  EXPECT_EQ(ListOf(dev()), want);
  ASSERT_TRUE(bb().ClearWholePages(s + 100 - P, P).ok());  // the page holding [s, s+100)
  EXPECT_EQ(ListOf(dev()), (Ranges{{s + n - 100, 100}}));
  d_.CrashAndReopen();
  EXPECT_EQ(ListOf(dev()), (Ranges{{s + n - 100, 100}}));
}

TEST_P(BadBlocksTest, InjectOutsideTheDeviceIsInvalidArgument) {
  const uint64_t size = dev().size();
  struct Bad {
    uint64_t off, len;
  };
  for (Bad r : {Bad{size, 1}, Bad{size - 10, 11}, Bad{size + P, P}, Bad{UINT64_MAX, 2},
                Bad{10, UINT64_MAX}}) {
    Status st = bb().Inject(r.off, r.len);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << r.off << "+" << r.len;
    EXPECT_TRUE(Contains(st.message(), "[" + std::to_string(r.off) + ", +" +
                                           std::to_string(r.len) + ") is outside the device"));
  }
  EXPECT_EQ(bb().Inject(0, 0).code(), Code::kInvalidArgument);
  EXPECT_TRUE(bb().empty());
  EXPECT_TRUE(bb().Inject(size - 1, 1).ok());
  EXPECT_EQ(ListOf(dev()), (Ranges{{size - 1, 1}}));
}

// Runs `op` on a fresh device (after `setup`) with power lost after each of its persist points
// in turn, and checks what Load finds after the crash: the list before `op` or the one after,
// never an error, and the next update still works.
void CrashAtEveryPersistPoint(const SimSetup& setup, const std::function<void(BadBlocks&)>& prep,
                              const std::function<void(Device&)>& op) {
  Ranges before, after;
  uint64_t points = 0;
  {
    SimDevice d = MakeSimDevice(setup);
    ASSERT_NE(d.dev, nullptr);
    prep(d.dev->bad_blocks());
    before = ListOf(*d.dev);
    uint64_t base = d.sim->persist_points();
    op(*d.dev);
    after = ListOf(*d.dev);
    points = d.sim->persist_points() - base;
  }
  ASSERT_NE(before, after);
  ASSERT_GE(points, 1u);
  int saw_before = 0, saw_after = 0;
  for (uint64_t n = 0; n <= points; n++) {
    SCOPED_TRACE("power lost after persist point " + std::to_string(n) + " of " +
                 std::to_string(points));
    SimDevice d = MakeSimDevice(setup);
    ASSERT_NE(d.dev, nullptr);
    prep(d.dev->bad_blocks());
    d.sim->StopAfter(d.sim->persist_points() + n);
    op(*d.dev);
    d.dev.reset();
    d.sim->Crash();
    auto r = AssembleDevice(d.parts, {.path = setup.path});
    ASSERT_TRUE(r.ok()) << r.status().message();
    d.dev = std::move(r).value();
    Ranges got = ListOf(*d.dev);
    EXPECT_TRUE(got == before || got == after);
    saw_before += got == before;
    saw_after += got == after;
    if (n == 0) {
      EXPECT_EQ(got, before);
    }
    if (n == points) {
      EXPECT_EQ(got, after);
    }
    // The tables still take updates, and the update persists.
    ASSERT_TRUE(d.dev->bad_blocks().Inject(d.dev->size() - P, 1).ok());
    Ranges next = ListOf(*d.dev);
    d.Reopen();
    EXPECT_EQ(ListOf(*d.dev), next);
  }
  EXPECT_GE(saw_before, 1);
  EXPECT_GE(saw_after, 1);
}

TEST_P(BadBlocksTest, CrashDuringInjectLeavesTheOldOrTheNewList) {
  auto [s, n] = StraddlingRange(dev());
  CrashAtEveryPersistPoint(
      GetParam(), [](BadBlocks& b) { ASSERT_TRUE(b.Inject(5 * P, 10).ok()); },
      [s, n](Device& d) { ASSERT_TRUE(d.bad_blocks().Inject(s, n).ok()); });
}

TEST_P(BadBlocksTest, CrashDuringClearLeavesTheOldOrTheNewList) {
  auto [s, n] = StraddlingRange(dev());
  CrashAtEveryPersistPoint(
      GetParam(),
      [s, n](BadBlocks& b) {
        ASSERT_TRUE(b.Inject(5 * P, 10).ok());
        ASSERT_TRUE(b.Inject(s, n).ok());
      },
      [s, n](Device& d) { ASSERT_TRUE(d.bad_blocks().ClearWholePages(s, n).ok()); });
}

TEST_P(BadBlocksTest, CorruptCurrentCopyFallsBackToTheOther) {
  // After two updates every part has two valid copies.
  ASSERT_TRUE(bb().Inject(5 * P, 10).ok());
  const Ranges first = ListOf(dev());
  auto [s, n] = StraddlingRange(dev());
  ASSERT_TRUE(bb().Inject(s, n).ok());
  // Damage the newest copy of the last part: the whole device goes back to the previous list
  // (not the last part alone, which would keep half of the straddling range).
  Part& part = dev().part(dev().part_count() - 1);
  int cur = CurrentSlot(part);
  ASSERT_GE(cur, 0);
  ASSERT_TRUE(CopyValid(part, 1 - cur));
  FlipByte(part, cur, offsetof(layout::BadBlockTable, entries) + 3);
  ASSERT_FALSE(CopyValid(part, cur));
  d_.Reopen();
  EXPECT_EQ(ListOf(dev()), first);
  // The next update goes over the damaged copy and is current after a remount.
  ASSERT_TRUE(bb().Inject(20 * P, 30).ok());
  const Ranges want{{5 * P, 10}, {20 * P, 30}};
  EXPECT_EQ(ListOf(dev()), want);
  EXPECT_TRUE(CopyValid(part, 0));
  EXPECT_TRUE(CopyValid(part, 1));
  d_.CrashAndReopen();
  EXPECT_EQ(ListOf(dev()), want);
}

TEST_P(BadBlocksTest, CorruptOlderCopyIsIgnored) {
  ASSERT_TRUE(bb().Inject(5 * P, 10).ok());
  ASSERT_TRUE(bb().Inject(9 * P, 20).ok());
  const Ranges want = ListOf(dev());
  for (size_t i = 0; i < dev().part_count(); i++) {
    Part& part = dev().part(i);
    int cur = CurrentSlot(part);
    ASSERT_GE(cur, 0);
    FlipByte(part, 1 - cur, 0);  // the magic
  }
  d_.Reopen();
  EXPECT_EQ(ListOf(dev()), want);
}

// The backup header page keeps both copies too: a part whose header page lost its tables (its
// first page zeroed, or both copies damaged) keeps its list from the backup page, and the next
// update rewrites both pages.
TEST_P(BadBlocksTest, PrimaryTablesDamagedUseTheBackupCopies) {
  ASSERT_TRUE(bb().Inject(5 * P, 10).ok());
  ASSERT_TRUE(bb().Inject(9 * P, 20).ok());
  const Ranges want = ListOf(dev());
  Part& part = dev().part(dev().part_count() - 1);
  FlipByte(part, 0, offsetof(layout::BadBlockTable, sequence), /*backup_too=*/false);
  FlipByte(part, 1, offsetof(layout::BadBlockTable, count), /*backup_too=*/false);
  ASSERT_FALSE(CopyValid(part, 0));
  ASSERT_FALSE(CopyValid(part, 1));
  d_.Reopen();
  EXPECT_EQ(ListOf(dev()), want);
  ASSERT_TRUE(bb().Inject(20 * P, 30).ok());
  EXPECT_GE(CurrentSlot(part), 0);  // the primary page has a valid copy again
  d_.CrashAndReopen();
  EXPECT_EQ(ListOf(dev()), (Ranges{{5 * P, 10}, {9 * P, 20}, {20 * P, 30}}));
}

TEST_P(BadBlocksTest, BothCopiesCorruptIsCorruptNamingThePart) {
  ASSERT_TRUE(bb().Inject(5 * P, 10).ok());
  Part& part = dev().part(dev().part_count() - 1);
  FlipByte(part, 0, offsetof(layout::BadBlockTable, sequence));
  FlipByte(part, 1, offsetof(layout::BadBlockTable, count));
  d_.dev.reset();
  auto r = AssembleDevice(d_.parts, {.path = GetParam().path});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_TRUE(Contains(r.status().message(), part.name() + ": both bad-block tables are corrupt"));
}

TEST_P(BadBlocksTest, FreshlyFormattedTableCorruptIsCorrupt) {
  // Right after format a part has one table and one all-zero copy; damaging the table leaves
  // nothing to trust.
  Part& part = dev().part(0);
  int cur = CurrentSlot(part);
  ASSERT_GE(cur, 0);
  FlipByte(part, cur, offsetof(layout::BadBlockTable, entries));
  d_.dev.reset();
  auto r = AssembleDevice(d_.parts, {.path = GetParam().path});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kCorrupt);
  EXPECT_TRUE(Contains(r.status().message(), part.name()));
}

TEST_P(BadBlocksTest, ChecksRunConcurrentlyWithUpdates) {
  const uint64_t stable = 2 * P;  // always bad
  ASSERT_TRUE(bb().Inject(stable, 1).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  auto reader = [&] {
    while (!stop.load()) {
      if (bb().Check(stable, 1).code() != Code::kIoError) wrong++;
      if (!bb().Check(0, stable).ok()) wrong++;
      (void)bb().Check(100 * P, 64 * P);
    }
  };
  std::thread r1(reader), r2(reader);
  for (int i = 0; i < 50; i++) {
    EXPECT_TRUE(bb().Inject(100 * P + i * P, 100).ok());
    EXPECT_TRUE(bb().ClearWholePages(100 * P + (i / 2) * P, P).ok());
  }
  stop = true;
  r1.join();
  r2.join();
  EXPECT_EQ(wrong.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(bad_blocks, BadBlocksTest, ::testing::ValuesIn(AllSetups()), SetupName);

std::vector<SimSetup> SetupsWithBoundaries() {
  std::vector<SimSetup> out;
  for (const auto& s : AllSetups())
    if (s.parts > 1) out.push_back(s);
  return out;
}
INSTANTIATE_TEST_SUITE_P(bad_blocks, BadBlocksBoundaryTest,
                         ::testing::ValuesIn(SetupsWithBoundaries()), SetupName);

}  // namespace
}  // namespace pmemfs::mapping
