#include "mapping/page_descriptors.h"

#include <cstring>

#include "pmemfs/crc32c.h"

namespace pmemfs::mapping {

Status PageDescriptors::Format(Device& dev, const std::function<void(uint64_t, uint64_t)>& progress) {
  const Range area = dev.info().descriptors;
  if (area.empty())
    return Status::InvalidArgument("the device has no page-descriptor area");
  const uint64_t pages = dev.size() / layout::kPageSize;
  if (area.length < layout::DescriptorAreaSize(pages))
    return Status::Corrupt("the page-descriptor area is too small for the device");

  // Clear the log and the table first (in slices, for progress), then write the header: an
  // area whose header is valid is fully initialised.
  const uint64_t total = area.length - layout::kPageSize;
  constexpr uint64_t kSlice = 16ull << 20;
  for (uint64_t done = 0; done < total;) {
    uint64_t n = std::min(kSlice, total - done);
    dev.SetNoDrain(area.offset + layout::kPageSize + done, 0, n);
    done += n;
    if (progress) progress(done, total);
  }
  dev.Drain();

  layout::DescriptorAreaHeader h{};
  std::memcpy(h.magic, layout::kDescriptorMagic, sizeof h.magic);
  h.page_count = pages;
  h.log_slots = layout::kDescriptorLogSlots;
  h.table_offset = layout::kDescriptorTableOffset;
  h.checksum = StructChecksum(h);
  dev.SetNoDrain(area.offset, 0, layout::kPageSize);
  dev.CopyNoDrain(area.offset, &h, sizeof h);
  dev.Drain();
  return Status::Ok();
}

}  // namespace pmemfs::mapping
