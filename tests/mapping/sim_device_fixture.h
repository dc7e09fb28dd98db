// The fixture of the tests that run over a simulated device in each of AllSetups(): SetUp makes
// the device, and a test suite opens what it tests over it (Open) and drops that (Close) around
// a remount (Reopen) or a power loss (CrashAndReopen).
//
//   class FooTest : public SimDeviceTest {
//    protected:
//     FooTest() : SimDeviceTest({.ram_size = ...}) {}  // CreateOptions, if not the defaults
//     void Open() override { foo_ = Foo::Open(dev()); }
//     void Close() override { foo_.reset(); }
//   };
//   INSTANTIATE_TEST_SUITE_P(foo, FooTest, ::testing::ValuesIn(AllSetups()), SetupName);
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "mapping/device.h"
#include "mapping/device_set.h"
#include "test_support.h"

namespace pmemfs::mapping::testing {

// Device offsets where a new part or stripe chunk begins (none on a one-part linear device).
inline std::vector<uint64_t> Boundaries(const Device& dev) {
  std::vector<uint64_t> out;
  for (uint64_t off = dev.Locate(0).run; off < dev.size(); off += dev.Locate(off).run)
    out.push_back(off);
  return out;
}

class SimDeviceTest : public ::testing::TestWithParam<SimSetup> {
 protected:
  explicit SimDeviceTest(CreateOptions options = {}) : options_(std::move(options)) {}

  // Formats the device of the test's setup with the constructor's options, then Open().
  void SetUp() override {
    d_ = MakeSimDevice(GetParam(), options_);
    ASSERT_NE(d_.dev, nullptr);
    Open();
  }
  // Opens what the suite tests over dev(): at SetUp and after every Reopen or CrashAndReopen.
  virtual void Open() {}
  // Drops what Open opened, before the device goes.
  virtual void Close() {}

  // A remount: Close, assemble the same parts again, Open.
  void Reopen() {
    Close();
    d_.Reopen();
    Open();
  }
  // Power loss (nothing flushed-but-undrained survives): Close, crash, reassemble, Open.
  void CrashAndReopen() {
    Close();
    d_.CrashAndReopen();
    Open();
  }

  Device& dev() { return *d_.dev; }
  // The device's own bytes at [off, off+len), past whatever the suite opened over it.
  std::vector<std::byte> ReadDevice(uint64_t off, uint64_t len) {
    std::vector<std::byte> out(len);
    dev().Read(off, out.data(), len);
    return out;
  }

  SimDevice d_;

 private:
  CreateOptions options_;
};

}  // namespace pmemfs::mapping::testing
