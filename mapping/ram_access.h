// RamAccess: the strategy for file data in the RAM partition (ram_partition.h), the volatile
// range of a device. Not a mode: a mount runs its files in one of the modes (access.h) and its
// RAM-partition files through this, whatever that mode is.
//
//   - Write and Zero are plain stores: never flushed nor drained, so they cost no persist
//     points and never reach the persisted image (the partition is reinitialised at every
//     open). persistent() is false; Sync/SyncAll succeed and do nothing.
//   - Read and ReadInPlace copy (ReadInPlace into a buffer the ReadRef owns): the partition's
//     allocator does not consult pins, so pointers into it could be reused under a reader.
//     pins() is nullptr, and so is descriptors(): RAM pages have no page descriptors.
//   - Every request must lie inside the partition: anything else is an InvalidArgument naming
//     the range, and nothing is read or written (a file's map pointing outside the partition is
//     a bug, not a reason to write the persistent area without a journal).
//   - Media errors as in the other strategies: a read of a bad range is an IoError naming it, a
//     write or zeroing of whole pages clears their marks.
//
// Usual use:  auto ram = RamPartition::Open(dev);  auto acc = OpenRamAccess(dev, *ram);
//             acc->Write(off, bytes) for `off` that ram->Allocate returned.
//
// Thread-safety: as Access (callers order conflicting accesses to one range themselves).
#pragma once

#include <memory>

#include "mapping/access.h"
#include "mapping/ram_partition.h"

namespace pmemfs::mapping {

class RamAccess final : public Access {
 public:
  // `dev` must outlive this; `ram` is the partition's range (RamPartition::range()).
  RamAccess(Device* dev, Range ram) : Access(dev), ram_(ram) {}

  // The nearest mode: reached directly, without a cache (what differs, the capabilities say).
  Mode mode() const override { return Mode::kDirect; }
  Status Read(uint64_t off, std::span<std::byte> dst) override;
  Status ReadInPlace(uint64_t off, uint64_t len, ReadRef* out) override;
  Status Write(uint64_t off, std::span<const std::byte> src) override;
  Status Zero(uint64_t off, uint64_t len) override;
  Status Sync(uint64_t off, uint64_t len) override { return CheckRange(off, len); }
  Status SyncAll() override { return Status::Ok(); }
  bool persistent() const override { return false; }
  Status CheckClientAccess() const override {
    return Status::Unsupported(
        "files of the RAM partition have no direct access (their pages are not pinned against "
        "reuse)");
  }

  Range range() const { return ram_; }

 private:
  Status CheckRange(uint64_t off, uint64_t len) const;
  // Plain stores of `src` (zeros when null) over [off, off+len), then the bad-block marks of the
  // whole pages it covered go.
  Status Store(uint64_t off, const std::byte* src, uint64_t len);
  const Range ram_;
};

// The RAM strategy over `ram`'s range of `dev` (both must outlive it).
std::unique_ptr<Access> OpenRamAccess(Device& dev, const RamPartition& ram);

}  // namespace pmemfs::mapping
