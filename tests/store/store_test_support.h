// Helpers for the store tests: simulated devices with a formatted store, and a fixture that
// opens the store over one of a few device setups (one part; two parts translated; striped).
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>
#include <string>
#include <vector>

#include "fs/store/store.h"
#include "test_support.h"

namespace pmemfs::store::testing {

using mapping::testing::SimDevice;
using mapping::testing::SimSetup;

// One part, linear path; two parts through the translated path; two parts striped, translated.
inline std::vector<SimSetup> StoreSetups() {
  std::vector<SimSetup> out;
  for (const SimSetup& s : mapping::testing::AllSetups())
    if (s.name == "Concat1Linear" || s.name == "Concat2Translated" ||
        s.name == "Striped2Translated")
      out.push_back(s);
  return out;
}

// A fresh simulated device holding a freshly formatted store.
inline SimDevice MakeFormatted(const SimSetup& setup, const FormatOptions& opts = {},
                               mapping::CreateOptions create = {}) {
  SimDevice d = mapping::testing::MakeSimDevice(setup, create);
  if (d.dev) {
    Status s = Store::Format(*d.dev, opts);
    EXPECT_TRUE(s.ok()) << s.message();
  }
  return d;
}

inline std::unique_ptr<Store> OpenOrFail(mapping::Device& dev,
                                         mapping::PageDescriptors* descriptors = nullptr) {
  auto r = Store::Open(dev, descriptors);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? std::move(r).value() : nullptr;
}

// An in-use regular file record (not yet sealed: WriteInode does that).
inline layout::InodeRecord FileRecord(uint64_t size = 0, uint32_t nlink = 1) {
  layout::InodeRecord r{};
  r.mode = S_IFREG | 0644;
  r.nlink = nlink;
  r.uid = 1000;
  r.gid = 1000;
  r.size = size;
  r.generation = 1;
  return r;
}

// A store on a formatted device, over every setup of StoreSetups().
class StoreFixture : public ::testing::TestWithParam<SimSetup> {
 protected:
  void SetUp() override {
    d_ = MakeFormatted(GetParam());
    ASSERT_NE(d_.dev, nullptr);
    store_ = OpenOrFail(dev());
    ASSERT_NE(store_, nullptr);
    sb_ = store_->superblock();
  }
  void TearDown() override { store_.reset(); }

  mapping::Device& dev() { return *d_.dev; }
  Store& store() { return *store_; }
  // The superblock as of the last open (valid while the store is closed, too).
  const layout::Superblock& sb() { return store_ ? store_->superblock() : sb_; }

  // Drops the store without closing it, reassembles the device and opens the store again
  // (without descriptors).
  void Reopen() {
    store_.reset();
    descriptors_.reset();
    d_.Reopen();
    store_ = OpenOrFail(dev());
    ASSERT_NE(store_, nullptr);
    sb_ = store_->superblock();
  }

  // Reopens the store with the device's page descriptors (as pages mode does): they receive
  // the store's descriptor records and their pins hold freed blocks. Null (a test failure)
  // when they cannot be opened.
  mapping::PageDescriptors* ReopenWithDescriptors() {
    store_.reset();
    auto pd = mapping::PageDescriptors::Open(dev(), mapping::DescriptorPlacement::kDevice);
    EXPECT_TRUE(pd.ok()) << pd.status().message();
    if (!pd.ok()) return nullptr;
    descriptors_ = std::move(pd).value();
    store_ = OpenOrFail(dev(), descriptors_.get());
    return store_ ? descriptors_.get() : nullptr;
  }

  SimDevice d_;
  std::unique_ptr<mapping::PageDescriptors> descriptors_;  // outlives store_ (declared first)
  std::unique_ptr<Store> store_;
  layout::Superblock sb_{};
};

}  // namespace pmemfs::store::testing
