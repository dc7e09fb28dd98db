// RamAccess (ram_access.h): plain loads and stores over the RAM partition's range.
#include "mapping/ram_access.h"

#include <cstring>
#include <string>

#include "mapping/media_guard.h"

namespace pmemfs::mapping {

Status RamAccess::CheckRange(uint64_t off, uint64_t len) const {
  // Written so that no sum can wrap.
  if (off < ram_.offset || off - ram_.offset > ram_.length || len > ram_.end() - off) {
    std::string s = "access [";
    s += std::to_string(off);
    s += ", +";
    s += std::to_string(len);
    s += ") is outside the RAM partition [";
    s += std::to_string(ram_.offset);
    s += ", +";
    s += std::to_string(ram_.length);
    s += ")";
    return Status::InvalidArgument(s);
  }
  return Status::Ok();
}

Status RamAccess::Read(uint64_t off, std::span<std::byte> dst) {
  PMEMFS_RETURN_IF_ERROR(CheckRange(off, dst.size()));
  PMEMFS_RETURN_IF_ERROR(dev_->bad_blocks().Check(off, dst.size()));
  Status st;
  std::byte* d = dst.data();
  dev_->ForEachSegment(off, dst.size(), [&](Segment s) {
    if (st.ok()) st = GuardedCopy(d, s.ptr, s.length, "RAM partition", s.offset);
    d += s.length;
  });
  return st;
}

Status RamAccess::ReadInPlace(uint64_t off, uint64_t len, ReadRef* out) {
  PMEMFS_RETURN_IF_ERROR(CheckRange(off, len));
  return ReadIntoOwnBuffer(off, len, out);
}

Status RamAccess::Store(uint64_t off, const std::byte* src, uint64_t len) {
  PMEMFS_RETURN_IF_ERROR(CheckRange(off, len));
  PMEMFS_RETURN_IF_ERROR(dev_->Health());
  // Plain stores, never flushed: the partition is volatile.
  if (src != nullptr) {
    dev_->Store(off, src, len);
  } else {
    dev_->ForEachSegment(off, len, [](Segment s) { std::memset(s.ptr, 0, s.length); });
  }
  PMEMFS_RETURN_IF_ERROR(dev_->Health());
  if (!dev_->bad_blocks().empty()) return dev_->bad_blocks().ClearWholePages(off, len);
  return Status::Ok();
}

Status RamAccess::Write(uint64_t off, std::span<const std::byte> src) {
  return Store(off, src.data(), src.size());
}

Status RamAccess::Zero(uint64_t off, uint64_t len) { return Store(off, nullptr, len); }

std::unique_ptr<Access> OpenRamAccess(Device& dev, const RamPartition& ram) {
  return std::make_unique<RamAccess>(&dev, ram.range());
}

}  // namespace pmemfs::mapping
