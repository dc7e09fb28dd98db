#include "mapping/poison.h"

#include <algorithm>
#include <string>

#include "mapping/media_guard.h"

namespace pmemfs::mapping {

Status SimulatePoison(const Device& dev, uint64_t off, uint64_t len) {
  constexpr uint64_t P = layout::kPageSize;
  if (len == 0 || off >= dev.size() || len > dev.size() - off)
    return Status::InvalidArgument("poison range [" + std::to_string(off) + ", +" +
                                   std::to_string(len) + ") is outside the device");
  const uint64_t start = off / P * P;
  const uint64_t end = std::min(dev.size(), (off + len + P - 1) / P * P);
  Status st = Status::Ok();
  // Segments split at part and chunk boundaries, which are page-aligned.
  dev.ForEachSegment(start, end - start, [&](const Segment& s) {
    if (st.ok()) st = PoisonPagesForTesting(s.ptr, s.length);
  });
  return st;
}

}  // namespace pmemfs::mapping
