// DirectAccess (`direct` mode) over simulated devices in every layout and access path: bytes
// round-trip across part and chunk boundaries, writes are durable when they return, reads in
// place hand out the mapping itself, out-of-range requests and known bad ranges are errors
// naming the range, and a whole-page write clears a bad range. Also the mode names.
#include "mapping/direct_access.h"

#include <gtest/gtest.h>

#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "access_checks.h"
#include "mapping/access.h"
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

class DirectAccessTest : public AccessTest<> {
 protected:
  void Open() override {
    auto r = OpenAccess(dev(), {.mode = Mode::kDirect});
    ASSERT_TRUE(r.ok()) << r.status().message();
    acc_ = std::move(r).value();
  }
  // Disjoint ranges worth testing: the device start and end, an unaligned one in the middle
  // and one across every part/chunk boundary.
  std::vector<std::pair<uint64_t, uint64_t>> Ranges() {
    const uint64_t size = dev().size();
    std::vector<std::pair<uint64_t, uint64_t>> out{
        {0, 3 * P}, {40 * P + 17, 5000}, {size - 3, 3}, {size - 2 * P - 5, 2 * P}};
    for (uint64_t b : Boundaries(dev())) out.emplace_back(b - P - 33, 2 * P + 100);
    return out;
  }
};

TEST_P(DirectAccessTest, OpenAccessGivesDirectMode) {
  EXPECT_EQ(acc_->mode(), Mode::kDirect);
  EXPECT_STREQ(ModeName(acc_->mode()), "direct");
  EXPECT_EQ(acc_->descriptors(), nullptr);
  EXPECT_EQ(&acc_->device(), &dev());
  // What the layers above ask instead of the mode: writes are on the device when they return,
  // survive a remount, and clients may reach the bytes in place.
  EXPECT_FALSE(acc_->buffers_writes());
  EXPECT_TRUE(acc_->persistent());
  EXPECT_TRUE(acc_->CheckClientAccess().ok());
  EXPECT_NE(acc_->pins(), nullptr);
}

TEST_P(DirectAccessTest, WriteThenReadReturnsTheSameBytes) {
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
    i++;
  }
  // The bytes are where the device says they are: in the parts.
  for (auto [off, len] : Ranges()) {
    std::vector<std::byte> raw(len);
    dev().Read(off, raw.data(), len);
    EXPECT_EQ(raw, ReadBack(off, len));
  }
  // Zero-length requests at the very end are fine.
  EXPECT_TRUE(acc_->Read(dev().size(), {}).ok());
  EXPECT_TRUE(acc_->Write(dev().size(), {}).ok());
}

TEST_P(DirectAccessTest, WriteIsDurableWhenItReturns) {
  uint32_t seed = 10;
  std::vector<std::vector<std::byte>> written;
  for (auto [off, len] : Ranges()) {
    written.push_back(Pattern(len, seed++));
    ASSERT_TRUE(acc_->Write(off, written.back()).ok());
    EXPECT_EQ(d_.sim->pending_lines(), 0u) << "Write returned with undrained lines";
  }
  CrashAndReopen();  // no Sync
  size_t i = 0;
  for (auto [off, len] : Ranges()) {
    EXPECT_EQ(ReadBack(off, len), written[i]) << "[" << off << ", +" << len << ")";
    i++;
  }
}

TEST_P(DirectAccessTest, ReadInPlaceHandsOutTheMapping) {
  for (auto [off, len] : Ranges()) {
    SCOPED_TRACE(RangeName(off, len));
    auto data = Pattern(len, static_cast<uint32_t>(off));
    ASSERT_TRUE(acc_->Write(off, data).ok());
    ReadRef ref;
    Status st = acc_->ReadInPlace(off, len, &ref);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(ref.length(), len);
    EXPECT_EQ(ref.ToBytes(), data);
    // One slice per contiguous piece of the mapping, each pointing into it.
    std::vector<std::pair<const void*, size_t>> want;
    dev().ForEachSegment(off, len, [&](Segment s) { want.emplace_back(s.ptr, s.length); });
    ASSERT_EQ(ref.iov().size(), want.size());
    for (size_t i = 0; i < want.size(); i++) {
      EXPECT_EQ(ref.iov()[i].iov_base, want[i].first);
      EXPECT_EQ(ref.iov()[i].iov_len, want[i].second);
    }
    const bool crosses = dev().Locate(off).run < len;
    if (GetParam().path == AccessPath::kTranslated && crosses) {
      EXPECT_EQ(ref.iov().size(), 2u);
    } else {
      EXPECT_EQ(ref.iov().size(), 1u);
    }
    ref.Release();
    EXPECT_EQ(ref.length(), 0u);
    EXPECT_TRUE(ref.iov().empty());
  }
}

TEST_P(DirectAccessTest, OutOfRangeIsInvalidArgumentNamingTheRange) {
  const uint64_t size = dev().size();
  const auto tail = Pattern(2 * P, 8);
  ASSERT_TRUE(acc_->Write(size - 2 * P, tail).ok());
  std::vector<std::byte> buf(2 * P);
  struct Bad {
    uint64_t off, len;
  };
  for (Bad r : {Bad{size - 1, 2}, Bad{size, 1}, Bad{size + 1, 0}, Bad{size - P, 2 * P},
                Bad{UINT64_MAX - 1, 2}}) {
    SCOPED_TRACE(std::to_string(r.off) + "+" + std::to_string(r.len));
    ExpectRefused(*acc_, r.off, r.len, buf, "the device");
  }
  // The refused requests wrote nothing.
  EXPECT_EQ(ReadBack(size - 2 * P, 2 * P), tail);
}

TEST_P(DirectAccessTest, ZeroClearsTheRangeDurably) {
  for (auto [off, len] : Ranges()) {
    SCOPED_TRACE(RangeName(off, len));
    // Pattern over [off-10, off+len+10) where it fits, then zero [off, off+len).
    const uint64_t lo = off >= 10 ? off - 10 : 0;
    const uint64_t hi = std::min(off + len + 10, dev().size());
    auto data = Pattern(hi - lo, 5);
    ASSERT_TRUE(acc_->Write(lo, data).ok());
    ASSERT_TRUE(acc_->Zero(off, len).ok());
    std::fill(data.begin() + (off - lo), data.begin() + (off - lo + len), std::byte{0});
    EXPECT_EQ(ReadBack(lo, hi - lo), data);
    CrashAndReopen();
    EXPECT_EQ(ReadBack(lo, hi - lo), data);
  }
}

TEST_P(DirectAccessTest, ReadOfABadRangeIsAnIoErrorNamingIt) {
  for (auto [off, len] : Ranges()) {
    SCOPED_TRACE(RangeName(off, len));
    auto data = Pattern(len, 3);
    ASSERT_TRUE(acc_->Write(off, data).ok());
    // Bad: the last byte of the range (possibly in another part than its first).
    const uint64_t bad = off + len - 1;
    ASSERT_TRUE(dev().bad_blocks().Inject(bad, 1).ok());
    EXPECT_TRUE(Contains(ExpectBadLastByte(*acc_, off, data),
                         dev().part(dev().Locate(bad).part).name()));
    ASSERT_TRUE(dev().bad_blocks().ClearWholePages(0, dev().size()).ok());
  }
}

TEST_P(DirectAccessTest, WholePageWriteClearsABadRangeAndAPartialOneDoesNot) {
  for (auto [off, len] : Ranges()) {
    SCOPED_TRACE(RangeName(off, len));
    // The whole pages around the range.
    const uint64_t lo = off / P * P, hi = (off + len + P - 1) / P * P;
    ASSERT_TRUE(dev().bad_blocks().Inject(off, len).ok());
    // Each page rewritten but for one byte: no mark goes.
    for (uint64_t p = lo; p < hi; p += P) ASSERT_TRUE(acc_->Write(p + 1, Pattern(P - 1, 1)).ok());
    ASSERT_TRUE(acc_->Write(lo, Pattern(P - 1, 2)).ok());
    EXPECT_EQ(dev().bad_blocks().List().size(), 1u);
    std::vector<std::byte> buf(len);
    EXPECT_EQ(acc_->Read(off, buf).code(), Code::kIoError);
    EXPECT_EQ(acc_->Read(off + len - 1, std::span(buf).first(1)).code(), Code::kIoError);
    Reopen();
    EXPECT_EQ(acc_->Read(off, buf).code(), Code::kIoError) << "after reopen";
    // Whole pages: the mark goes, durably.
    auto data = Pattern(hi - lo, 4);
    ASSERT_TRUE(acc_->Write(lo, data).ok());
    EXPECT_TRUE(dev().bad_blocks().empty());
    EXPECT_EQ(ReadBack(lo, hi - lo), data);
    CrashAndReopen();
    EXPECT_TRUE(dev().bad_blocks().empty());
    EXPECT_EQ(ReadBack(lo, hi - lo), data);
  }
}

TEST_P(DirectAccessTest, WholePageZeroClearsABadRange) {
  const uint64_t off = 50 * P;
  ASSERT_TRUE(dev().bad_blocks().Inject(off + 10, 2 * P).ok());  // pages 50..52
  ASSERT_TRUE(acc_->Zero(off, 2 * P).ok());                       // 50, 51
  std::vector<std::byte> one(1);
  EXPECT_EQ(acc_->Read(off + 2 * P, one).code(), Code::kIoError);
  EXPECT_EQ(ReadBack(off, 2 * P), std::vector<std::byte>(2 * P));
  ASSERT_TRUE(acc_->Zero(off + 2 * P, P).ok());
  EXPECT_TRUE(dev().bad_blocks().empty());
  Reopen();
  EXPECT_TRUE(dev().bad_blocks().empty());
}

TEST_P(DirectAccessTest, SyncIsANoOpThatSucceeds) {
  auto data = Pattern(P, 9);
  ASSERT_TRUE(acc_->Write(P, data).ok());
  EXPECT_TRUE(acc_->Sync(P, P).ok());
  EXPECT_TRUE(acc_->SyncAll().ok());
  EXPECT_EQ(ReadBack(P, P), data);
}

INSTANTIATE_TEST_SUITE_P(direct_access, DirectAccessTest, ::testing::ValuesIn(AllSetups()),
                         SetupName);

class ModeNameTest : public ::testing::TestWithParam<std::pair<Mode, std::string>> {};

TEST_P(ModeNameTest, ModeNameAndParseModeRoundTrip) {
  auto [mode, name] = GetParam();
  EXPECT_EQ(ModeName(mode), name);
  auto r = ParseMode(name);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value(), mode);
}

INSTANTIATE_TEST_SUITE_P(direct_access, ModeNameTest,
                         ::testing::Values(std::pair{Mode::kCopy, std::string("copy")},
                                           std::pair{Mode::kDirect, std::string("direct")},
                                           std::pair{Mode::kPages, std::string("pages")}),
                         [](const auto& info) { return info.param.second; });

class BadModeNameTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BadModeNameTest, IsInvalidArgumentNamingIt) {
  auto r = ParseMode(GetParam());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(Contains(r.status().message(), "unknown mode '" + GetParam() + "'"));
}

INSTANTIATE_TEST_SUITE_P(direct_access, BadModeNameTest,
                         ::testing::Values("dax", "Direct", "", "direct ", "copy,direct"));

}  // namespace
}  // namespace pmemfs::mapping
