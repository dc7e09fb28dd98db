// Tests of mapping/page_descriptors.cc: both placements, the on-device layout, pins, what a
// crash at every persist point of a workload leaves (each descriptor old or new, valid), and the
// log of earlier versions (never written, cleared at open). That a torn descriptor or a batch cut
// part way is made whole is the store journal's job: tests/store/store_crash_test.cc.
#include "mapping/page_descriptors.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "mapping/access.h"
#include "pmemfs/crc32c.h"
#include "sim_device_fixture.h"
#include "test_support.h"

namespace pmemfs::mapping {
namespace {

using layout::PageDescriptor;
using testing::AllSetups;
using testing::MakeSimDevice;
using testing::SetupName;
using testing::SimDevice;
using testing::SimDeviceTest;
using testing::SimSetup;

// --- independent readers of the on-device format ------------------------------------------

uint64_t DescriptorOffset(const Device& dev, uint64_t page) {
  return dev.info().descriptors.offset + layout::kDescriptorTableOffset +
         page * sizeof(PageDescriptor);
}

PageDescriptor RawDescriptor(const Device& dev, uint64_t page) {
  PageDescriptor d;
  dev.Read(DescriptorOffset(dev, page), &d, sizeof d);
  return d;
}

void WriteRawDescriptor(Device& dev, uint64_t page, const PageDescriptor& d) {
  dev.Write(DescriptorOffset(dev, page), &d, sizeof d);
}

// Valid: the checksum matches with pin_count taken as 0, or all zero (never written).
bool RawValid(PageDescriptor d) {
  d.pin_count = 0;
  static constexpr PageDescriptor kZero{};
  return std::memcmp(&d, &kZero, sizeof d) == 0 || d.checksum == StructChecksum(d);
}

uint64_t LogSlotOffset(const Device& dev, uint32_t slot) {
  return dev.info().descriptors.offset + layout::kDescriptorLogOffset +
         uint64_t{slot} * sizeof(layout::DescriptorLogSlot);
}

// Whether the log slots of earlier versions are all zero.
bool LogClear(const Device& dev) {
  std::vector<std::byte> log(layout::kDescriptorLogBytes);
  dev.Read(LogSlotOffset(dev, 0), log.data(), log.size());
  return std::all_of(log.begin(), log.end(), [](std::byte b) { return b == std::byte{0}; });
}

// A valid log record as an earlier version left it: `value` for `page`, at `generation`.
layout::DescriptorLogSlot LegacyRecord(uint64_t page, const PageInfo& value, uint64_t generation,
                                       uint64_t sequence) {
  layout::DescriptorLogSlot rec{};
  rec.page = page;
  rec.sequence = sequence;
  rec.value.owner = value.owner;
  rec.value.file_index = value.file_index;
  rec.value.refcount = value.refcount;
  rec.value.flags = value.flags;
  rec.value.generation = generation;
  rec.value.checksum = StructChecksum(rec.value);
  rec.checksum = StructChecksum(rec);
  return rec;
}

layout::DescriptorAreaHeader RawHeader(const Device& dev) {
  layout::DescriptorAreaHeader h;
  dev.Read(dev.info().descriptors.offset, &h, sizeof h);
  return h;
}

std::unique_ptr<PageDescriptors> OpenOrDie(Device& dev,
                                           DescriptorPlacement where = DescriptorPlacement::kDevice) {
  auto r = PageDescriptors::Open(dev, where);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : nullptr;
}

PageInfo Owned(uint64_t owner, uint64_t index, uint32_t refcount = 1) {
  return {.owner = owner, .file_index = index, .refcount = refcount,
          .flags = layout::kPageAllocated};
}

// Setups for the heavier tests: one of each layout and path, multi-part where it matters.
std::vector<SimSetup> SomeSetups() {
  std::vector<SimSetup> out;
  for (const SimSetup& s : AllSetups())
    if (s.name == "Concat1Linear" || s.name == "Concat3Translated" ||
        s.name == "Striped2Linear" || s.name == "Striped3Translated")
      out.push_back(s);
  return out;
}

// --- basic behaviour, over every setup ------------------------------------------------------

// CrashAndReopen drops the descriptors, crashes, reassembles and opens them again.
class PageDescriptorsTest : public SimDeviceTest {
 protected:
  void Open() override {
    pd_ = OpenOrDie(dev());
    ASSERT_NE(pd_, nullptr);
  }
  void Close() override { pd_.reset(); }

  std::unique_ptr<PageDescriptors> pd_;
};

TEST_P(PageDescriptorsTest, FormatAndOpenGiveAllFreeDescriptors) {
  const uint64_t pages = d_.dev->size() / layout::kPageSize;
  EXPECT_EQ(pd_->placement(), DescriptorPlacement::kDevice);
  EXPECT_EQ(pd_->page_count(), pages);
  EXPECT_EQ(RawHeader(*d_.dev).page_count, pages);
  for (uint64_t p : {uint64_t{0}, uint64_t{1}, pages / 2, pages - 1}) {
    EXPECT_EQ(pd_->Get(p), PageInfo{}) << p;
    EXPECT_EQ(pd_->generation(p), 0u) << p;
    EXPECT_EQ(pd_->pin_count(p), 0u) << p;
    EXPECT_TRUE(RawValid(RawDescriptor(*d_.dev, p))) << p;
  }
}

TEST_P(PageDescriptorsTest, SetGetRoundTripAndGenerations) {
  const uint64_t last = pd_->page_count() - 1;
  ASSERT_TRUE(pd_->Set(3, Owned(42, 7)).ok());
  ASSERT_TRUE(pd_->Set(last, Owned(43, 9, 2)).ok());
  EXPECT_EQ(pd_->Get(3), Owned(42, 7));
  EXPECT_EQ(pd_->Get(last), Owned(43, 9, 2));
  EXPECT_EQ(pd_->generation(3), 1u);
  EXPECT_EQ(pd_->Get(4), PageInfo{});

  ASSERT_TRUE(pd_->Set(3, {}).ok());  // freed again: still a new generation
  EXPECT_EQ(pd_->Get(3), PageInfo{});
  EXPECT_EQ(pd_->generation(3), 2u);

  // The bytes on the device: the documented address, fields, checksum.
  const PageDescriptor raw = RawDescriptor(*d_.dev, last);
  EXPECT_EQ(raw.owner, 43u);
  EXPECT_EQ(raw.file_index, 9u);
  EXPECT_EQ(raw.refcount, 2u);
  EXPECT_EQ(raw.flags, layout::kPageAllocated);
  EXPECT_EQ(raw.generation, 1u);
  EXPECT_NE(raw.checksum, 0u);
  EXPECT_TRUE(RawValid(raw));
  EXPECT_TRUE(RawValid(RawDescriptor(*d_.dev, 3)));
}

TEST_P(PageDescriptorsTest, SetBatchAppliesInOrder) {
  // Many distinct pages, and a page updated twice.
  constexpr uint64_t kPages = 74;
  std::vector<PageUpdate> batch;
  for (uint64_t i = 0; i < kPages; i++) batch.push_back({100 + i, Owned(5, i)});
  batch.push_back({100, Owned(6, 0)});
  ASSERT_TRUE(pd_->SetBatch(batch).ok());
  EXPECT_EQ(pd_->Get(100), Owned(6, 0));
  EXPECT_EQ(pd_->generation(100), 2u);
  for (uint64_t i = 1; i < kPages; i++) {
    EXPECT_EQ(pd_->Get(100 + i), Owned(5, i)) << i;
    EXPECT_EQ(pd_->generation(100 + i), 1u) << i;
  }
  EXPECT_TRUE(pd_->SetBatch({}).ok());
}

TEST_P(PageDescriptorsTest, AddRefCountsAndNeverGoesBelowZero) {
  ASSERT_TRUE(pd_->Set(8, Owned(1, 0)).ok());
  auto r = pd_->AddRef(8, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 3u);
  r = pd_->AddRef(8, -3);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 0u);
  EXPECT_EQ(pd_->generation(8), 3u);

  r = pd_->AddRef(8, -1);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(pd_->Get(8).refcount, 0u);
  EXPECT_EQ(pd_->generation(8), 3u);  // a refused update changes nothing

  ASSERT_TRUE(pd_->Set(9, Owned(1, 0, UINT32_MAX)).ok());
  EXPECT_EQ(pd_->AddRef(9, 1).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(pd_->Get(9), Owned(1, 0, UINT32_MAX));
  // Everything but the count is kept.
  r = pd_->AddRef(9, -1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(pd_->Get(9), Owned(1, 0, UINT32_MAX - 1));
}

TEST_P(PageDescriptorsTest, PagesOutsideTheTableAreRefusedOrIgnored) {
  const uint64_t n = pd_->page_count();
  EXPECT_EQ(pd_->Set(n, Owned(1, 0)).code(), Code::kInvalidArgument);
  EXPECT_EQ(pd_->Set(UINT64_MAX, Owned(1, 0)).code(), Code::kInvalidArgument);
  EXPECT_EQ(pd_->AddRef(n, 1).status().code(), Code::kInvalidArgument);
  // A batch with one bad page applies none of its updates.
  const std::vector<PageUpdate> batch = {{1, Owned(1, 0)}, {n + 5, Owned(1, 1)}};
  Status st = pd_->SetBatch(batch);
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_NE(st.message().find(std::to_string(n + 5)), std::string::npos) << st.message();
  EXPECT_EQ(pd_->generation(1), 0u);
  // Readers and pins: no crash, zero.
  EXPECT_EQ(pd_->Get(n), PageInfo{});
  EXPECT_EQ(pd_->generation(n), 0u);
  pd_->Pin(n);
  pd_->Unpin(n);
  EXPECT_EQ(pd_->pin_count(n), 0u);
}

TEST_P(PageDescriptorsTest, SetIsDurable) {
  ASSERT_TRUE(pd_->Set(11, Owned(77, 3)).ok());
  const std::vector<PageUpdate> batch = {{12, Owned(78, 0)}, {13, Owned(79, 1)}};
  ASSERT_TRUE(pd_->SetBatch(batch).ok());
  ASSERT_TRUE(pd_->AddRef(13, 4).ok());
  EXPECT_TRUE(LogClear(*d_.dev));  // written in place only
  CrashAndReopen();
  EXPECT_EQ(pd_->Get(11), Owned(77, 3));
  EXPECT_EQ(pd_->Get(12), Owned(78, 0));
  EXPECT_EQ(pd_->Get(13), Owned(79, 1, 5));
  EXPECT_EQ(pd_->generation(13), 2u);
  // Generations continue from the persisted ones.
  ASSERT_TRUE(pd_->Set(11, {}).ok());
  EXPECT_EQ(pd_->generation(11), 2u);
}

// One drain per call: the descriptor is written once, in place (no redo copy first). With more
// than one part, a drain counts a persist point per part it persists lines in.
TEST_P(PageDescriptorsTest, EachUpdateIsOneDrain) {
  SimPmem& sim = *d_.sim;
  uint64_t before = sim.persist_points();
  ASSERT_TRUE(pd_->Set(14, Owned(1, 1)).ok());
  EXPECT_EQ(sim.persist_points() - before, 1u);
  std::vector<PageUpdate> batch;
  for (uint64_t i = 0; i < 100; i++) batch.push_back({200 + i, Owned(2, i)});  // 2 pages of table
  before = sim.persist_points();
  ASSERT_TRUE(pd_->SetBatch(batch).ok());
  const uint64_t parts =
      d_.dev->Locate(DescriptorOffset(*d_.dev, 200)).part ==
              d_.dev->Locate(DescriptorOffset(*d_.dev, 299)).part ? 1 : 2;
  EXPECT_EQ(sim.persist_points() - before, parts);
  before = sim.persist_points();
  ASSERT_TRUE(pd_->AddRef(14, 1).ok());
  EXPECT_EQ(sim.persist_points() - before, 1u);
  // Not drained: visible at once, durable after the caller's drain.
  before = sim.persist_points();
  const std::vector<PageUpdate> one = {{15, Owned(3, 3)}};
  ASSERT_TRUE(pd_->SetBatchNoDrain(one).ok());
  EXPECT_EQ(sim.persist_points(), before);
  EXPECT_EQ(pd_->Get(15), Owned(3, 3));
  d_.dev->Drain();
  CrashAndReopen();
  EXPECT_EQ(pd_->Get(15), Owned(3, 3));
  EXPECT_EQ(pd_->Get(14), Owned(1, 1, 2));
}

TEST_P(PageDescriptorsTest, PinCountsAreCountedAndVolatile) {
  pd_->Pin(20);
  pd_->Pin(20);
  pd_->Pin(21);
  EXPECT_EQ(pd_->pin_count(20), 2u);
  EXPECT_EQ(pd_->pin_count(21), 1u);
  pd_->Unpin(20);
  EXPECT_EQ(pd_->pin_count(20), 1u);
  pd_->Unpin(21);
  pd_->Unpin(21);  // unmatched: ignored, no wrap
  EXPECT_EQ(pd_->pin_count(21), 0u);

  // An update keeps the pins, and persisting the line with a live count does not matter.
  ASSERT_TRUE(pd_->Set(20, Owned(5, 5)).ok());
  EXPECT_EQ(pd_->pin_count(20), 1u);
  EXPECT_EQ(RawDescriptor(*d_.dev, 20).pin_count, 1u);
  EXPECT_TRUE(RawValid(RawDescriptor(*d_.dev, 20)));

  CrashAndReopen();
  EXPECT_EQ(pd_->pin_count(20), 0u);
  EXPECT_EQ(pd_->Get(20), Owned(5, 5));

  // A remount without a crash (the counts still in memory) clears them too.
  pd_->Pin(22);
  pd_.reset();
  pd_ = OpenOrDie(*d_.dev);
  EXPECT_EQ(pd_->pin_count(22), 0u);
}

// What an earlier version may have left in its log is not re-applied (the store journal
// covers every change it logged) but cleared, durably, so that version cannot re-apply it over
// a newer value either.
TEST_P(PageDescriptorsTest, OpenClearsAnEarlierVersionsLog) {
  ASSERT_TRUE(pd_->Set(31, Owned(9, 1)).ok());
  Device& dev = *d_.dev;
  const layout::DescriptorLogSlot rec = LegacyRecord(31, Owned(666, 0), 7, 1000);
  dev.Write(LogSlotOffset(dev, 10), &rec, sizeof rec);
  ASSERT_FALSE(LogClear(dev));
  pd_.reset();
  const uint64_t before = d_.sim->persist_points();
  pd_ = OpenOrDie(dev);
  EXPECT_GT(d_.sim->persist_points(), before);
  EXPECT_EQ(pd_->Get(31), Owned(9, 1));
  EXPECT_EQ(pd_->generation(31), 1u);
  EXPECT_TRUE(LogClear(dev));
  CrashAndReopen();  // a new Device: `dev` is gone
  EXPECT_TRUE(LogClear(*d_.dev));
  EXPECT_EQ(pd_->Get(31), Owned(9, 1));
  // A clear log costs Open no write.
  pd_.reset();
  const uint64_t clean = d_.sim->persist_points();
  pd_ = OpenOrDie(*d_.dev);
  EXPECT_EQ(d_.sim->persist_points(), clean);
}

// A descriptor that fails its checksum (a torn write, media damage) reads as it is: Open does
// not scan the table. valid() says so, and the next update makes it valid again.
TEST_P(PageDescriptorsTest, DamagedDescriptorIsReturnedAsIs) {
  PageDescriptor garbage{};
  garbage.owner = 1234;
  garbage.generation = 5;
  garbage.checksum = 1;  // wrong
  WriteRawDescriptor(*d_.dev, 40, garbage);
  pd_.reset();
  pd_ = OpenOrDie(*d_.dev);  // Open does not scan the table
  EXPECT_EQ(pd_->Get(40).owner, 1234u);
  EXPECT_FALSE(RawValid(RawDescriptor(*d_.dev, 40)));
  EXPECT_FALSE(pd_->valid(40));
  EXPECT_TRUE(pd_->valid(41));                  // never written
  EXPECT_TRUE(pd_->valid(pd_->page_count()));   // outside the table
  // Overwriting it makes it valid again, durably.
  ASSERT_TRUE(pd_->Set(40, Owned(1, 1)).ok());
  EXPECT_TRUE(RawValid(RawDescriptor(*d_.dev, 40)));
  EXPECT_TRUE(pd_->valid(40));
  EXPECT_EQ(pd_->generation(40), 6u);
  CrashAndReopen();
  EXPECT_EQ(pd_->Get(40), Owned(1, 1));
  EXPECT_TRUE(pd_->valid(40));
}

TEST_P(PageDescriptorsTest, OpenRefusesABadHeader) {
  pd_.reset();
  Device& dev = *d_.dev;
  const layout::DescriptorAreaHeader good = RawHeader(dev);
  auto expect_corrupt = [&](layout::DescriptorAreaHeader h, bool fix_checksum,
                            const std::string& words) {
    if (fix_checksum) h.checksum = StructChecksum(h);
    dev.Write(dev.info().descriptors.offset, &h, sizeof h);
    auto r = PageDescriptors::Open(dev, DescriptorPlacement::kDevice);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kCorrupt);
    EXPECT_NE(r.status().message().find(words), std::string::npos) << r.status().message();
    dev.Write(dev.info().descriptors.offset, &good, sizeof good);
  };
  layout::DescriptorAreaHeader h = good;
  h.magic[0] = 'X';
  expect_corrupt(h, true, "magic");
  h = good;
  h.reserved[3] = 1;
  expect_corrupt(h, false, "checksum");
  h = good;
  h.page_count += 1;
  expect_corrupt(h, true, std::to_string(good.page_count + 1) + " pages");
  h = good;
  h.log_slots = 7;
  expect_corrupt(h, true, "log slots");
  h = good;
  h.reserved[0] = 1;
  expect_corrupt(h, true, "reserved");
  EXPECT_NE(OpenOrDie(dev), nullptr);  // the good header opens again
}

TEST_P(PageDescriptorsTest, PagesModeUsesTheDescriptors) {
  pd_.reset();
  auto acc = OpenAccess(*d_.dev, {.mode = Mode::kPages});
  ASSERT_TRUE(acc.ok()) << acc.status().message();
  ASSERT_EQ((*acc)->mode(), Mode::kPages);
  EXPECT_FALSE((*acc)->buffers_writes());
  EXPECT_TRUE((*acc)->persistent());
  EXPECT_TRUE((*acc)->CheckClientAccess().ok());
  PageDescriptors* pd = (*acc)->descriptors();
  ASSERT_NE(pd, nullptr);
  EXPECT_EQ(pd->placement(), DescriptorPlacement::kDevice);
  ASSERT_TRUE(pd->Set(2, Owned(3, 4)).ok());
  EXPECT_EQ(pd->Get(2), Owned(3, 4));
}

TEST_P(PageDescriptorsTest, ReadInPlacePinsTheCoveredPages) {
  pd_.reset();
  auto acc = OpenAccess(*d_.dev, {.mode = Mode::kPages});
  ASSERT_TRUE(acc.ok()) << acc.status().message();
  PageDescriptors* pd = (*acc)->descriptors();
  ASSERT_NE(pd, nullptr);
  const uint64_t off = 10 * layout::kPageSize + 100;  // pages 10, 11 and 12
  {
    ReadRef ref;
    ASSERT_TRUE((*acc)->ReadInPlace(off, 2 * layout::kPageSize, &ref).ok());
    EXPECT_EQ(pd->pin_count(9), 0u);
    for (uint64_t p : {10, 11, 12}) EXPECT_EQ(pd->pin_count(p), 1u) << p;
    EXPECT_EQ(pd->pin_count(13), 0u);

    ReadRef second;
    ASSERT_TRUE((*acc)->ReadInPlace(off, 1, &second).ok());
    EXPECT_EQ(pd->pin_count(10), 2u);
    ReadRef moved = std::move(second);  // the pins move with the ref
    EXPECT_EQ(pd->pin_count(10), 2u);
    moved.Release();
    EXPECT_EQ(pd->pin_count(10), 1u);

    ref.Release();
    for (uint64_t p : {10, 11, 12}) EXPECT_EQ(pd->pin_count(p), 0u) << p;
    ASSERT_TRUE((*acc)->ReadInPlace(off, 1, &ref).ok());
    EXPECT_EQ(pd->pin_count(10), 1u);
  }  // destruction releases
  EXPECT_EQ(pd->pin_count(10), 0u);
}

TEST_P(PageDescriptorsTest, ConcurrentUpdatesAndPins) {
  constexpr int kThreads = 4, kRounds = 40;
  ASSERT_TRUE(pd_->Set(7, Owned(1, 0, 0)).ok());
  // Batches over many pages, in opposite orders, race with AddRef and pins.
  std::vector<PageUpdate> up, down;
  for (uint64_t i = 0; i < 80; i++) up.push_back({200 + i, Owned(2, i)});
  down.assign(up.rbegin(), up.rend());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; t++)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; i++) {
        EXPECT_TRUE(pd_->AddRef(7, 1).ok());
        EXPECT_TRUE(pd_->SetBatch(t % 2 ? up : down).ok());
        pd_->Pin(7);
        EXPECT_EQ(pd_->Get(7).owner, 1u);
        pd_->Unpin(7);
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(pd_->Get(7).refcount, uint32_t{kThreads * kRounds});
  EXPECT_EQ(pd_->generation(7), uint64_t{kThreads * kRounds} + 1);
  EXPECT_EQ(pd_->pin_count(7), 0u);
  for (uint64_t i = 0; i < 80; i++)
    EXPECT_EQ(pd_->generation(200 + i), uint64_t{kThreads * kRounds}) << i;
  CrashAndReopen();
  EXPECT_EQ(pd_->Get(7).refcount, uint32_t{kThreads * kRounds});
  EXPECT_EQ(pd_->Get(279), Owned(2, 79));
}

INSTANTIATE_TEST_SUITE_P(Setups, PageDescriptorsTest, ::testing::ValuesIn(AllSetups()), SetupName);

// --- devices without a descriptor area, and the DRAM placement ------------------------------

TEST(PageDescriptorsNoAreaTest, DeviceWithoutAreaIsRefused) {
  for (const SimSetup& setup : SomeSetups()) {
    SCOPED_TRACE(setup.name);
    SimDevice d = MakeSimDevice(setup, {.reserve_descriptors = false});
    ASSERT_NE(d.dev, nullptr);
    auto r = PageDescriptors::Open(*d.dev, DescriptorPlacement::kDevice);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("descriptor area"), std::string::npos);

    auto acc = OpenAccess(*d.dev, {.mode = Mode::kPages});
    ASSERT_FALSE(acc.ok());
    EXPECT_EQ(acc.status().code(), Code::kInvalidArgument);
    EXPECT_NE(acc.status().message().find("descriptor area"), std::string::npos)
        << acc.status().message();

    // The DRAM table needs no area.
    auto dram = PageDescriptors::Open(*d.dev, DescriptorPlacement::kDram);
    ASSERT_TRUE(dram.ok()) << dram.status().message();
    EXPECT_EQ((*dram)->page_count(), d.dev->size() / layout::kPageSize);
  }
}

class DramDescriptorsTest : public ::testing::TestWithParam<SimSetup> {};

TEST_P(DramDescriptorsTest, WorksWithoutWritingTheDevice) {
  SimDevice d = MakeSimDevice(GetParam());
  ASSERT_NE(d.dev, nullptr);
  {  // leave something on the device: the DRAM table must not see it
    auto on_device = OpenOrDie(*d.dev);
    ASSERT_TRUE(on_device->Set(5, Owned(9, 9)).ok());
  }
  const PageDescriptor before = RawDescriptor(*d.dev, 5);
  const uint64_t points = d.sim->persist_points();

  auto pd = OpenOrDie(*d.dev, DescriptorPlacement::kDram);
  ASSERT_NE(pd, nullptr);
  EXPECT_EQ(pd->placement(), DescriptorPlacement::kDram);
  EXPECT_EQ(pd->page_count(), d.dev->size() / layout::kPageSize);
  EXPECT_EQ(pd->Get(5), PageInfo{});  // starts empty

  ASSERT_TRUE(pd->Set(5, Owned(1, 2)).ok());
  ASSERT_TRUE(pd->Set(5, Owned(1, 3)).ok());
  EXPECT_EQ(pd->Get(5), Owned(1, 3));
  EXPECT_EQ(pd->generation(5), 2u);
  const std::vector<PageUpdate> batch = {{6, Owned(2, 0)}, {6, Owned(2, 1)}, {7, Owned(3, 0)}};
  ASSERT_TRUE(pd->SetBatch(batch).ok());
  EXPECT_EQ(pd->Get(6), Owned(2, 1));
  EXPECT_EQ(pd->generation(6), 2u);
  auto r = pd->AddRef(7, 2);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 3u);
  EXPECT_EQ(pd->AddRef(7, -4).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(pd->Set(pd->page_count(), {}).code(), Code::kInvalidArgument);
  pd->Pin(5);
  pd->Pin(5);
  pd->Unpin(5);
  EXPECT_EQ(pd->pin_count(5), 1u);
  pd->Unpin(5);
  pd->Unpin(5);
  EXPECT_EQ(pd->pin_count(5), 0u);

  EXPECT_EQ(d.sim->persist_points(), points);
  EXPECT_EQ(d.sim->pending_lines(), 0u);
  const PageDescriptor after = RawDescriptor(*d.dev, 5);
  EXPECT_EQ(std::memcmp(&before, &after, sizeof before), 0);

  // Through pages mode too.
  auto acc = OpenAccess(*d.dev, {.mode = Mode::kPages, .descriptors = DescriptorPlacement::kDram});
  ASSERT_TRUE(acc.ok()) << acc.status().message();
  EXPECT_EQ((*acc)->descriptors()->placement(), DescriptorPlacement::kDram);
}

INSTANTIATE_TEST_SUITE_P(Setups, DramDescriptorsTest, ::testing::ValuesIn(SomeSetups()), SetupName);

// --- crash at every persist point -------------------------------------------------------------

// A descriptor's persistent state as the test's model sees it.
struct Value {
  PageInfo info;
  uint64_t generation = 0;
  bool operator==(const Value&) const = default;
};

struct Op {
  enum Kind { kSet, kBatch, kAddRef } kind;
  std::vector<PageUpdate> updates;  // kSet: one; kBatch: any
  int32_t delta = 0;                // kAddRef: updates[0].page is the page
};

// The workload: Set, SetBatch (with a repeated page and a large batch) and AddRef (one refused)
// over a handful of pages plus the page range of the large batch.
std::vector<Op> Workload(uint64_t page_count) {
  const uint64_t last = page_count - 1;
  std::vector<PageUpdate> big;
  for (uint64_t i = 0; i < 70; i++) big.push_back({1000 + i, Owned(60, i)});
  return {
      {Op::kSet, {{1, Owned(10, 0)}}},
      {Op::kSet, {{2, Owned(11, 0)}}},
      {Op::kBatch, {{5, Owned(12, 0)}, {9, Owned(12, 1)}, {1, Owned(10, 1)}}},
      {Op::kAddRef, {{1, {}}}, 1},
      {Op::kAddRef, {{2, {}}}, -1},
      {Op::kAddRef, {{2, {}}}, -1},  // refused: would go below zero
      {Op::kBatch, {{5, Owned(13, 0)}, {5, Owned(13, 1)}, {9, Owned(13, 2)}}},
      {Op::kSet, {{last, Owned(14, 0)}}},
      {Op::kBatch, big},
      {Op::kAddRef, {{5, {}}}, 3},
      {Op::kSet, {{300, Owned(15, 0)}}},
      {Op::kBatch, {{1, {}}, {300, Owned(15, 1, 2)}}},
      {Op::kAddRef, {{9, {}}}, 1},
      {Op::kSet, {{2, Owned(16, 0)}}},
      {Op::kAddRef, {{1000, {}}}, 2},
      {Op::kBatch, {{1001, {}}, {2, Owned(16, 1)}, {1001, Owned(17, 0)}}},
      {Op::kSet, {{9, {}}}},
      {Op::kAddRef, {{300, {}}}, -2},
      {Op::kSet, {{last, Owned(18, 3)}}},
      {Op::kAddRef, {{last, {}}}, 5},
  };
}

// Applies `op` to the model; returns the values its pages take, in order (empty if refused).
std::vector<std::pair<uint64_t, Value>> ApplyToModel(const Op& op,
                                                     std::map<uint64_t, Value>& model) {
  std::vector<std::pair<uint64_t, Value>> steps;
  if (op.kind == Op::kAddRef) {
    const uint64_t page = op.updates[0].page;
    Value v = model[page];
    const int64_t count = int64_t{v.info.refcount} + op.delta;
    if (count < 0) return steps;
    v.info.refcount = static_cast<uint32_t>(count);
    v.generation++;
    model[page] = v;
    steps.push_back({page, v});
  } else {
    for (const PageUpdate& u : op.updates) {
      Value& v = model[u.page];
      v = {u.info, v.generation + 1};
      steps.push_back({u.page, v});
    }
  }
  return steps;
}

Status RunOp(PageDescriptors& pd, const Op& op) {
  switch (op.kind) {
    case Op::kSet: return pd.Set(op.updates[0].page, op.updates[0].info);
    case Op::kBatch: return pd.SetBatch(op.updates);
    case Op::kAddRef: return pd.AddRef(op.updates[0].page, op.delta).status();
  }
  return Status::Ok();
}

class PageDescriptorsCrashTest : public ::testing::TestWithParam<SimSetup> {
 protected:
  // A fresh device, its descriptors open; base_ is the persist point count before the workload.
  void Fresh() {
    pd_.reset();
    d_ = MakeSimDevice(GetParam());
    ASSERT_NE(d_.dev, nullptr);
    pd_ = OpenOrDie(*d_.dev);
    ASSERT_NE(pd_, nullptr);
    base_ = d_.sim->persist_points();
  }

  // Runs ops in order. `ends`, when given, receives each op's last persist point (from base_).
  void RunWorkload(const std::vector<Op>& ops, std::vector<uint64_t>* ends = nullptr) {
    for (const Op& op : ops) {
      Status st = RunOp(*pd_, op);
      const bool refused = op.kind == Op::kAddRef && st.code() == Code::kInvalidArgument;
      ASSERT_TRUE(st.ok() || refused) << st.message();
      if (ends) ends->push_back(d_.sim->persist_points() - base_);
    }
  }

  // Checks the device after a crash at persist point `n` (from base_): every op that finished
  // by then is fully present, the op in flight shows each of its pages old or new (or an
  // intermediate value of the page), later ops are absent, and each descriptor is valid.
  void Check(uint64_t n, const std::vector<Op>& ops, const std::vector<uint64_t>& ends,
             const std::string& where) {
    SCOPED_TRACE(where);
    std::map<uint64_t, Value> model;
    size_t op = 0;
    for (; op < ops.size() && ends[op] <= n; op++) ApplyToModel(ops[op], model);
    std::map<uint64_t, std::vector<Value>> allowed;
    for (auto& [page, v] : model) allowed[page] = {v};
    std::map<uint64_t, Value> after = model;
    if (op < ops.size())
      for (const auto& [page, v] : ApplyToModel(ops[op], after)) {
        if (!allowed.count(page)) allowed[page] = {Value{}};
        allowed[page].push_back(v);
      }
    // Pages only later ops touch must still be free.
    for (size_t k = op + 1; k < ops.size(); k++)
      for (const PageUpdate& u : ops[k].updates) allowed.try_emplace(u.page, std::vector<Value>{Value{}});

    for (const auto& [page, values] : allowed) {
      const PageDescriptor raw = RawDescriptor(*d_.dev, page);
      ASSERT_TRUE(RawValid(raw)) << "page " << page;
      const Value got{pd_->Get(page), pd_->generation(page)};
      EXPECT_EQ(got.info, PageInfo({raw.owner, raw.file_index, raw.refcount, raw.flags}));
      EXPECT_NE(std::find(values.begin(), values.end(), got), values.end())
          << "page " << page << " owner " << got.info.owner << " index " << got.info.file_index
          << " refcount " << got.info.refcount << " generation " << got.generation
          << " after op " << op;
      EXPECT_EQ(pd_->pin_count(page), 0u);
    }
  }

  // Runs the workload on a fresh device with power lost after persist point `n`, then crashes
  // (lines of the drain cut short persisting with probability `keep`) and reassembles (the
  // descriptors are not open yet).
  void CrashAt(uint64_t n, const std::vector<Op>& ops, double keep = 0) {
    Fresh();
    d_.sim->StopAfter(base_ + n);
    RunWorkload(ops);
    pd_.reset();
    d_.CrashAndReopen(keep);
  }

  SimDevice d_;
  std::unique_ptr<PageDescriptors> pd_;
  uint64_t base_ = 0;
};

// Without a log of its own an update is one drain, so every descriptor a crash leaves is its
// old or its new value (a descriptor is one cache line, which the simulator persists whole), and
// an op in flight may be cut part way; Open writes nothing. (Making a torn descriptor or a cut
// batch whole is the store journal's job.)
TEST_P(PageDescriptorsCrashTest, CrashAtEveryPersistPoint) {
  Fresh();
  const std::vector<Op> ops = Workload(pd_->page_count());
  std::vector<uint64_t> ends;
  RunWorkload(ops, &ends);
  const uint64_t total = ends.back();
  ASSERT_GE(total, ops.size() - 1);  // one refused op persists nothing
  // The whole workload, then a crash with nothing in flight: everything is there.
  pd_.reset();
  d_.CrashAndReopen();
  pd_ = OpenOrDie(*d_.dev);
  Check(total, ops, ends, "no crash");

  uint64_t states = 0;
  for (double keep : {0.0, 0.5}) {
    for (uint64_t n = 0; n <= total; n++) {
      const std::string where = "keep " + std::to_string(keep) + ", crash at point " +
                                std::to_string(n) + " of " + std::to_string(total);
      CrashAt(n, ops, keep);
      const uint64_t before_open = d_.sim->persist_points();
      pd_ = OpenOrDie(*d_.dev);
      ASSERT_NE(pd_, nullptr) << where;
      EXPECT_EQ(d_.sim->persist_points(), before_open) << where;
      Check(n, ops, ends, where);
      states++;
      if (HasFatalFailure()) return;
    }
  }
  std::cout << "[ crash    ] " << GetParam().name << ": " << total << " persist points, "
            << states << " crash states\n";
}

// After a crash, updates build on the generations the device kept.
TEST_P(PageDescriptorsCrashTest, UpdatesAfterACrashContinueTheGenerations) {
  Fresh();
  const std::vector<Op> ops = Workload(pd_->page_count());
  std::vector<uint64_t> ends;
  RunWorkload(ops, &ends);
  // Power lost during the large batch's drain, about half its lines persisting.
  const uint64_t n = ends[7];
  CrashAt(n, ops, 0.5);
  pd_ = OpenOrDie(*d_.dev);
  Check(n, ops, ends, "after the crash");
  const uint64_t g = pd_->generation(1000);
  ASSERT_TRUE(pd_->Set(1000, Owned(99, 0)).ok());
  EXPECT_EQ(pd_->generation(1000), g + 1);
  pd_.reset();
  d_.CrashAndReopen();
  pd_ = OpenOrDie(*d_.dev);
  EXPECT_EQ(pd_->Get(1000), Owned(99, 0));
}

// Formatting over a used area, crashed at any point: either the old descriptors (the format had
// not started), or a refused area, or an empty one; never old log records under a new header
// (an earlier version would apply them).
TEST_P(PageDescriptorsCrashTest, ReformatIsAllOrNothing) {
  auto prepare = [&] {
    Fresh();
    ASSERT_TRUE(pd_->Set(3, Owned(1, 1)).ok());
    ASSERT_TRUE(pd_->Set(4, Owned(2, 2)).ok());
    pd_.reset();
    base_ = d_.sim->persist_points();
  };
  prepare();
  ASSERT_TRUE(PageDescriptors::Format(*d_.dev).ok());
  const uint64_t points = d_.sim->persist_points() - base_;
  for (uint64_t n = 0; n <= points; n++) {
    SCOPED_TRACE("crash at point " + std::to_string(n) + " of " + std::to_string(points));
    prepare();
    d_.sim->StopAfter(base_ + n);
    ASSERT_TRUE(PageDescriptors::Format(*d_.dev).ok());
    d_.CrashAndReopen();
    auto r = PageDescriptors::Open(*d_.dev, DescriptorPlacement::kDevice);
    if (n == 0) {
      ASSERT_TRUE(r.ok()) << r.status().message();
      EXPECT_EQ((*r)->Get(3), Owned(1, 1));
    } else if (r.ok()) {
      EXPECT_EQ(n, points);
      EXPECT_EQ((*r)->Get(3), PageInfo{});
      EXPECT_EQ((*r)->Get(4), PageInfo{});
      EXPECT_TRUE(LogClear(*d_.dev));
    } else {
      EXPECT_EQ(r.status().code(), Code::kCorrupt);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Setups, PageDescriptorsCrashTest, ::testing::ValuesIn(AllSetups()),
                         SetupName);

// A descriptor table that itself spans two parts: a linear device whose last part is smaller
// than the area. A batch's in-place writes then drain in two parts (two persist points), so a
// crash can leave some of them durable and others not: each stays valid, old or new (the store
// journal, which carries every batch the filesystem makes, completes it).
class SpanningTableTest : public ::testing::TestWithParam<AccessPath> {
 protected:
  SimDevice Make() {
    SimDevice d;
    d.setup = {"Spanning", layout::LayoutKind::kLinear, 2, GetParam(), 0};
    d.sim = std::make_unique<SimPmem>(7);
    // Data areas of 64 MiB and 1 MiB: each part also holds its header and backup header page.
    const uint64_t headers = layout::kPageSize + layout::kPartTrailerSize;
    d.parts = {d.sim->NewPart((64ull << 20) + headers), d.sim->NewPart((1ull << 20) + headers)};
    auto r = CreateDevice(d.parts, {}, {.path = GetParam()});
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (r.ok()) d.dev = std::move(r).value();
    return d;
  }
};

TEST_P(SpanningTableTest, BatchAcrossPartsLeavesEachDescriptorOldOrNew) {
  SimDevice d = Make();
  ASSERT_NE(d.dev, nullptr);
  const uint64_t pages = d.dev->size() / layout::kPageSize;
  ASSERT_NE(d.dev->Locate(DescriptorOffset(*d.dev, 0)).part,
            d.dev->Locate(DescriptorOffset(*d.dev, pages - 1)).part);

  // Pages whose descriptors are in either part, and the first one past the boundary.
  std::vector<uint64_t> spread = {0, 1, pages / 2, pages - 2, pages - 1};
  for (uint64_t p = 1; p < pages; p++)
    if (d.dev->Locate(DescriptorOffset(*d.dev, p)).part == 1) {
      spread.push_back(p - 1);
      spread.push_back(p);
      break;
    }
  std::vector<PageUpdate> batch;
  for (size_t i = 0; i < spread.size(); i++) batch.push_back({spread[i], Owned(70, i)});

  // Count the persist points of the batch, then crash at each of them.
  uint64_t points = 0;
  {
    auto pd = OpenOrDie(*d.dev);
    const uint64_t base = d.sim->persist_points();
    ASSERT_TRUE(pd->SetBatch(batch).ok());
    points = d.sim->persist_points() - base;
    ASSERT_EQ(points, 2u);  // the descriptors, in two parts
  }
  for (uint64_t n = 0; n <= points; n++) {
    SCOPED_TRACE("crash at point " + std::to_string(n));
    SimDevice c = Make();
    auto pd = OpenOrDie(*c.dev);
    c.sim->StopAfter(c.sim->persist_points() + n);
    ASSERT_TRUE(pd->SetBatch(batch).ok());
    pd.reset();
    c.CrashAndReopen();
    pd = OpenOrDie(*c.dev);
    // Nothing before the first point, everything after the last; in between, each part's.
    size_t news = 0;
    for (size_t i = 0; i < spread.size(); i++) {
      EXPECT_TRUE(RawValid(RawDescriptor(*c.dev, spread[i])));
      const PageInfo got = pd->Get(spread[i]);
      EXPECT_TRUE(got == PageInfo{} || got == Owned(70, i)) << spread[i];
      news += got == Owned(70, i);
    }
    if (n == 0) {
      EXPECT_EQ(news, 0u);
    } else if (n == points) {
      EXPECT_EQ(news, spread.size());
    } else {
      EXPECT_TRUE(news > 0 && news < spread.size()) << news;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, SpanningTableTest,
                         ::testing::Values(AccessPath::kLinear, AccessPath::kTranslated),
                         [](const auto& info) {
                           return std::string(info.param == AccessPath::kLinear ? "Linear"
                                                                                : "Translated");
                         });

}  // namespace
}  // namespace pmemfs::mapping
