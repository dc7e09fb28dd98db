#include "mapping/direct_access.h"

#include "mapping/media_guard.h"

namespace pmemfs::mapping {

DirectAccess::DirectAccess(Device* dev, std::unique_ptr<PageDescriptors> descriptors)
    : Access(dev), descriptors_(std::move(descriptors)) {}

Status DirectAccess::CheckRange(uint64_t off, uint64_t len) const {
  if (off > dev_->size() || len > dev_->size() - off)
    return Status::InvalidArgument("access [" + std::to_string(off) + ", +" + std::to_string(len) +
                                   ") is outside the device (" + std::to_string(dev_->size()) +
                                   " bytes)");
  return Status::Ok();
}

Status DirectAccess::Read(uint64_t off, std::span<std::byte> dst) {
  PMEMFS_RETURN_IF_ERROR(CheckRange(off, dst.size()));
  PMEMFS_RETURN_IF_ERROR(dev_->bad_blocks().Check(off, dst.size()));
  Status st;
  std::byte* d = dst.data();
  dev_->ForEachSegment(off, dst.size(), [&](Segment s) {
    if (st.ok()) st = GuardedCopy(d, s.ptr, s.length, "device", s.offset);
    d += s.length;
  });
  return st;
}

Status DirectAccess::ReadInPlace(uint64_t off, uint64_t len, ReadRef* out) {
  PMEMFS_RETURN_IF_ERROR(CheckRange(off, len));
  PMEMFS_RETURN_IF_ERROR(dev_->bad_blocks().Check(off, len));
  out->Release();
  if (len > 0) {
    const uint64_t first = off / layout::kPageSize, last = (off + len - 1) / layout::kPageSize;
    if (descriptors_) {
      for (uint64_t p = first; p <= last; p++) descriptors_->Pin(p);
      PageDescriptors* d = descriptors_.get();
      out->OnRelease([d, first, last] {
        for (uint64_t p = first; p <= last; p++) d->Unpin(p);
      });
    } else {
      pin_table_.Pin(first, last);
      PinTable* t = &pin_table_;
      out->OnRelease([t, first, last] { t->Unpin(first, last); });
    }
  }
  // The kernel copies the reply from these pointers: a page gone from the device (its file
  // shrank) is an IoError here, not an EFAULT there.
  Status st;
  dev_->ForEachSegment(off, len, [&](Segment s) {
    if (st.ok()) st = GuardedProbe(s.ptr, s.length, "device", s.offset);
    out->AddSlice(s.ptr, s.length);
  });
  if (!st.ok()) out->Release();
  return st;
}

// Writes into a device that shrank fail: before (nothing is written) and after (the write met
// the missing range and landed on a replacement page, media_guard.h).
Status DirectAccess::Write(uint64_t off, std::span<const std::byte> src) {
  PMEMFS_RETURN_IF_ERROR(CheckRange(off, src.size()));
  PMEMFS_RETURN_IF_ERROR(dev_->Health());
  dev_->Write(off, src.data(), src.size());
  PMEMFS_RETURN_IF_ERROR(dev_->Health());
  if (!dev_->bad_blocks().empty()) return dev_->bad_blocks().ClearWholePages(off, src.size());
  return Status::Ok();
}

Status DirectAccess::Zero(uint64_t off, uint64_t len) {
  PMEMFS_RETURN_IF_ERROR(CheckRange(off, len));
  PMEMFS_RETURN_IF_ERROR(dev_->Health());
  dev_->SetNoDrain(off, 0, len);
  dev_->Drain();
  PMEMFS_RETURN_IF_ERROR(dev_->Health());
  if (!dev_->bad_blocks().empty()) return dev_->bad_blocks().ClearWholePages(off, len);
  return Status::Ok();
}

}  // namespace pmemfs::mapping
