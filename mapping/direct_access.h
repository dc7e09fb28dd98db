// DirectAccess: the `direct` mode strategy (and, with descriptors, `pages`). See access.h.
#pragma once

#include <memory>

#include "mapping/access.h"
#include "mapping/page_descriptors.h"
#include "mapping/pin_table.h"

namespace pmemfs::mapping {

class DirectAccess final : public Access {
 public:
  // `descriptors` non-null: pages mode (reads in place pin their pages in the descriptors);
  // null: direct mode (they pin them in a PinTable).
  DirectAccess(Device* dev, std::unique_ptr<PageDescriptors> descriptors);

  Mode mode() const override { return descriptors_ ? Mode::kPages : Mode::kDirect; }
  Status Read(uint64_t off, std::span<std::byte> dst) override;
  Status ReadInPlace(uint64_t off, uint64_t len, ReadRef* out) override;
  Status Write(uint64_t off, std::span<const std::byte> src) override;
  Status Zero(uint64_t off, uint64_t len) override;
  Status Sync(uint64_t, uint64_t) override { return Status::Ok(); }  // writes are durable already
  Status SyncAll() override { return Status::Ok(); }
  PageDescriptors* descriptors() override { return descriptors_.get(); }
  const PinCounts* pins() const override {
    return descriptors_ ? static_cast<const PinCounts*>(descriptors_.get()) : &pin_table_;
  }

 private:
  Status CheckRange(uint64_t off, uint64_t len) const;
  std::unique_ptr<PageDescriptors> descriptors_;
  PinTable pin_table_;  // direct mode's pins
};

}  // namespace pmemfs::mapping
