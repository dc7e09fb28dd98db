// What the access strategies' tests (direct_access_test, ram_access_test) share: their fixture,
// and what they check alike: patterns to write, error messages that name a range, refused
// requests outside what the strategy serves, and a read across a recorded bad range.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "mapping/access.h"
#include "sim_device_fixture.h"

namespace pmemfs::mapping::testing {

// SimDeviceTest with an access strategy `acc_` (an A) over the device: the suite's Open makes it,
// Close drops it.
template <typename A = Access>
class AccessTest : public SimDeviceTest {
 protected:
  using SimDeviceTest::SimDeviceTest;
  void Close() override { acc_.reset(); }
  // [off, off+len) read through acc_ (a failed read fails the test).
  std::vector<std::byte> ReadBack(uint64_t off, uint64_t len) {
    std::vector<std::byte> out(len);
    Status st = acc_->Read(off, out);
    EXPECT_TRUE(st.ok()) << st.message();
    return out;
  }
  std::unique_ptr<A> acc_;
};

inline ::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

// `n` bytes from `seed`, never zero (so a zeroed byte is always a change).
inline std::vector<std::byte> Pattern(uint64_t n, uint32_t seed) {
  std::vector<std::byte> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<std::byte>(rng() | 1);
  return v;
}

// "[off, +len)", as error messages name a request's range. (Appended, not "lit" + std::string:
// GCC 12 at -O3 misfires -Wrestrict on that.)
inline std::string RangeName(uint64_t off, uint64_t len) {
  std::string s = "[";
  s += std::to_string(off);
  s += ", +";
  s += std::to_string(len);
  s += ")";
  return s;
}

// `st` failed with `code` and its message names `names`.
inline void ExpectFailure(const Status& st, Code code, const std::string& names) {
  EXPECT_EQ(st.code(), code);
  EXPECT_TRUE(Contains(st.message(), names));
}

// ReadInPlace of [off, off+len) fails with `code` naming `names` and hands out nothing.
inline void ExpectReadInPlaceFails(Access& acc, uint64_t off, uint64_t len, Code code,
                                   const std::string& names) {
  ReadRef ref;
  ExpectFailure(acc.ReadInPlace(off, len, &ref), code, names);
  EXPECT_EQ(ref.length(), 0u);
}

// Every request on [off, off+len) is refused with an InvalidArgument naming "[off, +len)" and
// hands out nothing: Read (its message says the range "is outside `where`") and Write when
// `buf` holds `len` bytes, ReadInPlace and Zero.
inline void ExpectRefused(Access& acc, uint64_t off, uint64_t len, std::vector<std::byte>& buf,
                          const std::string& where) {
  const std::string names = RangeName(off, len);
  if (len <= buf.size()) {
    const std::span<std::byte> span(buf.data(), len);
    std::string outside = names;
    outside += " is outside ";
    outside += where;
    ExpectFailure(acc.Read(off, span), Code::kInvalidArgument, outside);
    ExpectFailure(acc.Write(off, span), Code::kInvalidArgument, names);
  }
  ExpectReadInPlaceFails(acc, off, len, Code::kInvalidArgument, names);
  ExpectFailure(acc.Zero(off, len), Code::kInvalidArgument, names);
}

// `data` was written at `off` and its last byte is then recorded bad: Read and ReadInPlace of it
// fail with an IoError naming that byte's range (returned, for more checks) and hand out
// nothing; the bytes before it still read both ways.
inline std::string ExpectBadLastByte(Access& acc, uint64_t off, const std::vector<std::byte>& data) {
  const uint64_t len = data.size(), bad = off + len - 1;
  std::string names = "[";
  names += std::to_string(bad);
  names += ", ";
  names += std::to_string(bad + 1);
  names += ")";
  std::vector<std::byte> buf(len);
  const Status st = acc.Read(off, buf);
  ExpectFailure(st, Code::kIoError, names);
  ExpectReadInPlaceFails(acc, off, len, Code::kIoError, names);
  if (len > 1) {
    ReadRef ref;
    const std::vector<std::byte> before(data.begin(), data.end() - 1);
    std::vector<std::byte> got(len - 1);
    EXPECT_TRUE(acc.Read(off, got).ok());
    EXPECT_EQ(got, before);
    EXPECT_TRUE(acc.ReadInPlace(off, len - 1, &ref).ok());
    EXPECT_EQ(ref.ToBytes(), before);
  }
  return st.message();
}

}  // namespace pmemfs::mapping::testing
