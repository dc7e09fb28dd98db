// RamAccess (the RAM partition's strategy) over simulated devices in every layout and access
// path: bytes round-trip across part and chunk boundaries, writes are plain stores that never
// reach the persisted image nor cost a persist point, reads in place are copies (no pointers into
// the mapping, no pins), requests outside the partition are refused naming the range and change
// nothing, bad ranges are IoErrors and whole-page writes clear them, and the capabilities the
// layers above ask instead of a mode.
#include "mapping/ram_access.h"

#include <gtest/gtest.h>

#include <span>
#include <string>
#include <vector>

#include "access_checks.h"
#include "mapping/access.h"
#include "mapping/ram_partition.h"
#include "test_support.h"

namespace pmemfs::mapping {
namespace {

using testing::AccessTest;
using testing::AllSetups;
using testing::Boundaries;
using testing::Contains;
using testing::ExpectBadLastByte;
using testing::ExpectRefused;
using testing::Pattern;
using testing::RangeName;
using testing::SetupName;

constexpr uint64_t P = layout::kPageSize;
// As ram_partition_test: crosses a part boundary or several chunks in the multi-part setups.
constexpr uint64_t kRamSize = 6ull << 20;

class RamAccessTest : public AccessTest<> {
 protected:
  RamAccessTest() : AccessTest({.ram_size = kRamSize}) {}
  void Open() override {
    ram_ = RamPartition::Open(dev());
    acc_ = OpenRamAccess(dev(), *ram_);
  }
  void Close() override {
    AccessTest::Close();
    ram_.reset();
  }
  // Disjoint ranges inside the partition: its start and end, an unaligned one in the middle,
  // and one across each part/chunk boundary that falls inside it.
  std::vector<std::pair<uint64_t, uint64_t>> Ranges() {
    const Range r = ram().range();
    std::vector<std::pair<uint64_t, uint64_t>> out{
        {r.offset, 3 * P}, {r.offset + 40 * P + 17, 5000}, {r.end() - 3, 3}};
    for (uint64_t b : Boundaries(dev()))
      if (b > r.offset + 50 * P && b + 2 * P < r.end() - 3) out.emplace_back(b - P - 33, 2 * P + 100);
    return out;
  }
  RamPartition& ram() { return *ram_; }
  std::unique_ptr<RamPartition> ram_;
};

TEST_P(RamAccessTest, AnswersTheCapabilitiesOfAVolatileUnpinnedRange) {
  EXPECT_EQ(&acc_->device(), &dev());
  EXPECT_EQ(acc_->descriptors(), nullptr);
  EXPECT_EQ(acc_->pins(), nullptr);
  EXPECT_FALSE(acc_->buffers_writes());
  EXPECT_FALSE(acc_->persistent());
  Status st = acc_->CheckClientAccess();
  EXPECT_EQ(st.code(), Code::kUnsupported);
  EXPECT_TRUE(Contains(st.message(), "RAM partition"));
  EXPECT_EQ(static_cast<RamAccess*>(acc_.get())->range().offset, ram().range().offset);
  EXPECT_EQ(static_cast<RamAccess*>(acc_.get())->range().length, ram().range().length);
}

TEST_P(RamAccessTest, WriteThenReadReturnsTheSameBytes) {
  uint32_t seed = 1;
  std::vector<std::vector<std::byte>> written;
  for (auto [off, len] : Ranges()) {
    written.push_back(Pattern(len, seed++));
    Status st = acc_->Write(off, written.back());
    ASSERT_TRUE(st.ok()) << st.message();
  }
  size_t i = 0;
  for (auto [off, len] : Ranges()) {
    EXPECT_EQ(ReadBack(off, len), written[i]) << "[" << off << ", +" << len << ")";
    EXPECT_EQ(ReadDevice(off, len), written[i]) << "not in the partition itself";
    i++;
  }
  // Zero-length requests at the very end of the partition are fine.
  EXPECT_TRUE(acc_->Read(ram().range().end(), {}).ok());
  EXPECT_TRUE(acc_->Write(ram().range().end(), {}).ok());
}

TEST_P(RamAccessTest, WritesNeverReachThePersistedImage) {
  std::vector<std::vector<std::byte>> before;
  for (auto [off, len] : Ranges()) before.push_back(ReadDevice(off, len));
  const uint64_t points = d_.sim->persist_points();
  uint32_t seed = 20;
  for (auto [off, len] : Ranges()) {
    ASSERT_TRUE(acc_->Write(off, Pattern(len, seed++)).ok());
    ASSERT_TRUE(acc_->Zero(off + len / 2, len / 4).ok());
    ASSERT_TRUE(acc_->Sync(off, len).ok());
  }
  ASSERT_TRUE(acc_->SyncAll().ok());
  EXPECT_EQ(d_.sim->persist_points(), points) << "a RAM write drained";
  EXPECT_EQ(d_.sim->pending_lines(), 0u) << "a RAM write flushed";
  CrashAndReopen();
  size_t i = 0;
  for (auto [off, len] : Ranges()) {
    EXPECT_EQ(ReadDevice(off, len), before[i]) << "[" << off << ", +" << len << ") survived a crash";
    i++;
  }
}

TEST_P(RamAccessTest, ReadInPlaceIsACopyWithoutPins) {
  for (auto [off, len] : Ranges()) {
    SCOPED_TRACE(RangeName(off, len));
    auto data = Pattern(len, static_cast<uint32_t>(off));
    ASSERT_TRUE(acc_->Write(off, data).ok());
    ReadRef ref;
    Status st = acc_->ReadInPlace(off, len, &ref);
    ASSERT_TRUE(st.ok()) << st.message();
    ASSERT_EQ(ref.iov().size(), 1u);
    EXPECT_EQ(ref.length(), len);
    EXPECT_EQ(ref.ToBytes(), data);
    // Not a pointer into the mapping: the pages may be freed and reused under the reader.
    bool into_mapping = false;
    dev().ForEachSegment(off, len, [&](Segment s) {
      const auto* b = static_cast<const std::byte*>(ref.iov()[0].iov_base);
      into_mapping |= b < s.ptr + s.length && s.ptr < b + len;
    });
    EXPECT_FALSE(into_mapping);
    // Rewriting the range does not change what the reader holds.
    ASSERT_TRUE(acc_->Zero(off, len).ok());
    EXPECT_EQ(ref.ToBytes(), data);
    ref.Release();
    EXPECT_EQ(ref.length(), 0u);
  }
}

TEST_P(RamAccessTest, OutsideThePartitionIsInvalidArgumentNamingTheRangeAndChangesNothing) {
  const Range r = ram().range();
  // The persistent bytes just before the partition, and its own last pages.
  const auto below = ReadDevice(r.offset - 2 * P, 2 * P);
  const auto tail = Pattern(2 * P, 8);
  ASSERT_TRUE(acc_->Write(r.end() - 2 * P, tail).ok());
  const uint64_t points = d_.sim->persist_points();
  std::vector<std::byte> buf(2 * P, std::byte{0x77});
  struct Bad {
    uint64_t off, len;
  };
  for (Bad b : {Bad{0, 1}, Bad{r.offset - 1, 2}, Bad{r.offset - P, 2 * P}, Bad{r.end() - 1, 2},
                Bad{r.end(), 1}, Bad{r.end() + 1, 0}, Bad{r.end() - P, 2 * P},
                Bad{UINT64_MAX - 1, 2}, Bad{r.offset, UINT64_MAX}}) {
    SCOPED_TRACE(std::to_string(b.off) + "+" + std::to_string(b.len));
    ExpectRefused(*acc_, b.off, b.len, buf, "the RAM partition");
    EXPECT_EQ(acc_->Sync(b.off, b.len).code(), Code::kInvalidArgument);
  }
  // The refused requests wrote nothing, and nothing was flushed.
  EXPECT_EQ(ReadDevice(r.offset - 2 * P, 2 * P), below);
  EXPECT_EQ(ReadBack(r.end() - 2 * P, 2 * P), tail);
  EXPECT_EQ(d_.sim->persist_points(), points);
  EXPECT_EQ(d_.sim->pending_lines(), 0u);
}

TEST_P(RamAccessTest, ZeroClearsTheRange) {
  for (auto [off, len] : Ranges()) {
    SCOPED_TRACE(RangeName(off, len));
    const uint64_t lo = std::max(off - 10, ram().range().offset);
    const uint64_t hi = std::min(off + len + 10, ram().range().end());
    auto data = Pattern(hi - lo, 5);
    ASSERT_TRUE(acc_->Write(lo, data).ok());
    ASSERT_TRUE(acc_->Zero(off, len).ok());
    std::fill(data.begin() + (off - lo), data.begin() + (off - lo + len), std::byte{0});
    EXPECT_EQ(ReadBack(lo, hi - lo), data);
  }
}

TEST_P(RamAccessTest, ReadOfABadRangeIsAnIoErrorAndAWholePageWriteClearsIt) {
  for (auto [off, len] : Ranges()) {
    SCOPED_TRACE(RangeName(off, len));
    auto data = Pattern(len, 3);
    ASSERT_TRUE(acc_->Write(off, data).ok());
    const uint64_t bad = off + len - 1;
    ASSERT_TRUE(dev().bad_blocks().Inject(bad, 1).ok());
    (void)ExpectBadLastByte(*acc_, off, data);
    std::vector<std::byte> buf(1);
    // A write of part of the bad page keeps the mark; one of the whole page clears it.
    const uint64_t page = bad / P * P;
    ASSERT_TRUE(acc_->Write(page + 1, Pattern(P - 1, 6)).ok());
    EXPECT_EQ(acc_->Read(bad, std::span(buf).first(1)).code(), Code::kIoError);
    ASSERT_TRUE(acc_->Zero(page, P).ok());
    EXPECT_TRUE(dev().bad_blocks().empty());
    EXPECT_EQ(ReadBack(page, P), std::vector<std::byte>(P));
  }
}

INSTANTIATE_TEST_SUITE_P(ram_access, RamAccessTest, ::testing::ValuesIn(AllSetups()), SetupName);

}  // namespace
}  // namespace pmemfs::mapping
