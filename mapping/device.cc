#include "mapping/device.h"

#include <libpmem2.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>

#include "mapping/device_builder.h"

namespace pmemfs::mapping {

const char* AccessPathName(AccessPath p) {
  switch (p) {
    case AccessPath::kAuto: return "auto";
    case AccessPath::kLinear: return "linear";
    case AccessPath::kTranslated: return "translated";
  }
  return "?";
}

std::string UuidString(const uint8_t u[16]) {
  char buf[37];
  snprintf(buf, sizeof buf,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
           u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
           u[15]);
  return buf;
}

std::string LayoutName(layout::LayoutKind k) {
  return k == layout::LayoutKind::kStriped ? "striped" : "linear";
}

Device::~Device() {
  bad_blocks_.reset();
  linear_region_.reset();  // before the reservation goes away
  for (auto*& m : linear_maps_) pmem2_map_delete(&m);
  if (reservation_) pmem2_vm_reservation_delete(&reservation_);
}

Granularity Device::granularity() const {
  Granularity g = Granularity::kByte;
  for (const auto& p : parts_) g = std::max(g, p->granularity());
  return g;
}

Device::Location Device::Locate(uint64_t off) const {
  if (info_.layout == layout::LayoutKind::kStriped) {
    uint64_t chunk = off >> chunk_shift_;
    uint64_t in = off & (info_.chunk_size - 1);
    size_t part = chunk % parts_.size();
    uint64_t part_chunk = chunk / parts_.size();
    return {part, info_.header_size + (part_chunk << chunk_shift_) + in, info_.chunk_size - in};
  }
  if (starts_.size() == 2) return {0, info_.header_size + off, starts_[1] - off};  // one part
  size_t i = std::upper_bound(starts_.begin(), starts_.end(), off) - starts_.begin() - 1;
  return {i, info_.header_size + (off - starts_[i]), starts_[i + 1] - off};
}

uint64_t Device::ToDeviceOffset(size_t part, uint64_t data_off) const {
  if (info_.layout == layout::LayoutKind::kStriped) {
    uint64_t chunk = data_off >> chunk_shift_;
    return ((chunk * parts_.size() + part) << chunk_shift_) + (data_off & (info_.chunk_size - 1));
  }
  return starts_[part] + data_off;
}

uint64_t Device::part_data_size(size_t i) const {
  if (info_.layout == layout::LayoutKind::kStriped) return info_.part_data_size;
  return starts_[i + 1] - starts_[i];
}

std::byte* Device::At(uint64_t off) const {
  if (linear_base_) return linear_base_ + off;
  Location l = Locate(off);
  return parts_[l.part]->base() + l.part_offset;
}

uint64_t Device::ContiguousBytes(uint64_t off) const {
  if (linear_base_) return info_.size - off;
  return Locate(off).run;
}

Status Device::Health() const {
  bool lost = linear_lost_.load(std::memory_order_acquire);
  for (const auto& p : parts_) lost = lost || p->lost();
  if (!lost) return Status::Ok();
  std::string what;
  for (const auto& p : parts_) {
    struct stat st;
    if (p->fd() < 0 || fstat(p->fd(), &st) != 0 || static_cast<uint64_t>(st.st_size) >= p->size())
      continue;
    what += (what.empty() ? "" : ", ") + p->name() + " is now " + std::to_string(st.st_size) +
            " bytes, was " + std::to_string(p->size());
  }
  return Status::IoError("the device shrank under the filesystem (" +
                         (what.empty() ? std::string("a part was truncated") : what) +
                         "): writes fail, and reads of what is gone");
}

void Device::Read(uint64_t off, void* dst, uint64_t len) const {
  auto* d = static_cast<std::byte*>(dst);
  ForEachSegment(off, len, [&](Segment s) {
    std::memcpy(d, s.ptr, s.length);
    d += s.length;
  });
}

void Device::Store(uint64_t off, const void* src, uint64_t len) {
  const auto* p = static_cast<const std::byte*>(src);
  ForEachSegment(off, len, [&](Segment s) {
    std::memcpy(s.ptr, p, s.length);
    p += s.length;
  });
}

// The persistence primitives walk part locations, not Segments: the part's own functions (or
// the simulator) must see every flushed byte, whichever path At() pointers come from. A linear
// device of one part (starts_ {0, size}) goes straight to it: what Locate would say.
void Device::Flush(uint64_t off, uint64_t len) {
  if (starts_.size() == 2) return parts_[0]->Flush(info_.header_size + off, len);
  while (len > 0) {
    Location l = Locate(off);
    uint64_t n = std::min(len, l.run);
    parts_[l.part]->Flush(l.part_offset, n);
    off += n;
    len -= n;
  }
}

void Device::Drain() {
  if (starts_.size() == 2) return parts_[0]->Drain();
  for (auto& p : parts_) p->Drain();
}

void Device::Persist(uint64_t off, uint64_t len) {
  Flush(off, len);
  Drain();
}

void Device::CopyNoDrain(uint64_t off, const void* src, uint64_t len) {
  if (starts_.size() == 2) return parts_[0]->CopyNoDrain(info_.header_size + off, src, len);
  const auto* p = static_cast<const std::byte*>(src);
  while (len > 0) {
    Location l = Locate(off);
    uint64_t n = std::min(len, l.run);
    parts_[l.part]->CopyNoDrain(l.part_offset, p, n);
    p += n;
    off += n;
    len -= n;
  }
}

void Device::SetNoDrain(uint64_t off, int c, uint64_t len) {
  if (starts_.size() == 2) return parts_[0]->SetNoDrain(info_.header_size + off, c, len);
  while (len > 0) {
    Location l = Locate(off);
    uint64_t n = std::min(len, l.run);
    parts_[l.part]->SetNoDrain(l.part_offset, c, n);
    off += n;
    len -= n;
  }
}

void Device::Write(uint64_t off, const void* src, uint64_t len) {
  CopyNoDrain(off, src, len);
  Drain();
}

// ---------------------------------------------------------------------------------------------

namespace {

uint64_t ReadMaxMapCount() {
  uint64_t v = 65530;
  if (FILE* f = fopen("/proc/sys/vm/max_map_count", "r")) {
    if (fscanf(f, "%lu", &v) != 1) v = 65530;
    fclose(f);
  }
  return v;
}

}  // namespace

uint64_t LinearMappingCount(const DeviceInfo& info) {
  if (info.layout == layout::LayoutKind::kStriped) return info.size / info.chunk_size;
  return info.part_count;
}

Result<std::unique_ptr<Device>> DeviceBuilder::Build(std::vector<std::shared_ptr<Part>> parts,
                                                     const DeviceInfo& info,
                                                     const std::vector<uint64_t>& part_data,
                                                     std::vector<PartHeaderState> headers,
                                                     const AssembleOptions& opts) {
  std::unique_ptr<Device> dev(new Device());
  dev->info_ = info;
  dev->parts_ = std::move(parts);
  dev->headers_ = std::move(headers);
  if (info.layout == layout::LayoutKind::kStriped) {
    dev->chunk_shift_ = static_cast<unsigned>(std::countr_zero(info.chunk_size));
  } else {
    uint64_t at = 0;
    for (uint64_t d : part_data) {
      dev->starts_.push_back(at);
      at += d;
    }
    dev->starts_.push_back(at);
  }
  dev->mapping_count_ = dev->parts_.size();

  uint64_t need = LinearMappingCount(info);
  uint64_t limit = opts.max_map_count ? opts.max_map_count : ReadMaxMapCount();
  AccessPath path = opts.path;
  if (path == AccessPath::kAuto)  // leave half of the map count to the rest of the process
    path = need <= limit / 2 ? AccessPath::kLinear : AccessPath::kTranslated;
  if (path == AccessPath::kLinear && need > limit)
    return Status::InvalidArgument("the linear access path needs " + std::to_string(need) +
                                   " mappings but vm.max_map_count is " + std::to_string(limit) +
                                   "; use the translated path");
  dev->path_ = path;
  if (path == AccessPath::kLinear)
    PMEMFS_RETURN_IF_ERROR(dev->MapLinear(part_data, opts.guard_shrink));

  PMEMFS_ASSIGN_OR_RETURN(dev->bad_blocks_, BadBlocks::Load(dev.get()));
  return dev;
}

Status Device::MapLinear(const std::vector<uint64_t>& part_data, bool guard) {
  // The reservation's address is a multiple of the largest part alignment (devdax wants
  // 2 MiB), plus the header's size modulo it: then the first part's data (and every stripe
  // chunk) lies at the same offset from a 2 MiB boundary in the reservation as in its part, so
  // the kernel can map it with 2 MiB pages where the part has them (an fsdax file, a tmpfs with
  // huge pages; devdax requires it). Found as a free hole, then reserved exactly there.
  uint64_t align = uint64_t{2} << 20;
  bool aligned_parts = false;  // (devdax: a part whose mappings must be aligned)
  for (auto& p : parts_) {
    align = std::max(align, p->alignment());
    aligned_parts |= p->alignment() > layout::kPageSize;
  }
  const uint64_t colour = info_.header_size % align;
  // (libpmem2 reserves the size rounded up to 2 MiB, plus 2 MiB: the probe has room for it)
  const uint64_t span = (info_.size + align - 1) / align * align + 2 * align;
  void* probe = mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (probe == MAP_FAILED) return Status::NoSpace("cannot reserve address space for the device");
  const auto a = reinterpret_cast<uintptr_t>(probe);
  void* hint = reinterpret_cast<void*>(a + ((colour - a) & (align - 1)));
  munmap(probe, span);
  // (Should the hole be taken meanwhile, a reservation anywhere does, with 4 KiB pages, unless
  // a part must be mapped aligned.)
  if (pmem2_vm_reservation_new(&reservation_, hint, info_.size) != 0 &&
      (aligned_parts || pmem2_vm_reservation_new(&reservation_, nullptr, info_.size) != 0))
    return Status::NoSpace(std::string("cannot reserve address space for the device: ") +
                           pmem2_errormsg());
  linear_base_ = static_cast<std::byte*>(pmem2_vm_reservation_get_address(reservation_));

  auto map_one = [&](size_t part, uint64_t part_off, uint64_t len, uint64_t dev_off) -> Status {
    pmem2_config* cfg = nullptr;
    if (pmem2_config_new(&cfg) != 0) return Status::IoError(pmem2_errormsg());
    pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE);
    if (parts_[part]->read_only()) pmem2_config_set_protection(cfg, PMEM2_PROT_READ);
    pmem2_config_set_offset(cfg, part_off);
    pmem2_config_set_length(cfg, len);
    pmem2_config_set_vm_reservation(cfg, reservation_, dev_off);
    pmem2_map* m = nullptr;
    int r = pmem2_map_new(&m, cfg, parts_[part]->source());
    pmem2_config_delete(&cfg);
    if (r != 0)
      return Status::IoError(parts_[part]->name() + ": cannot map into the device at offset " +
                             std::to_string(dev_off) + ": " + pmem2_errormsg());
    linear_maps_.push_back(m);
    return Status::Ok();
  };

  if (info_.layout == layout::LayoutKind::kStriped) {
    uint64_t chunks = info_.size / info_.chunk_size;
    linear_maps_.reserve(chunks);
    for (uint64_t c = 0; c < chunks; c++) {
      Location l = Locate(c * info_.chunk_size);
      PMEMFS_RETURN_IF_ERROR(map_one(l.part, l.part_offset, info_.chunk_size, c * info_.chunk_size));
    }
  } else {
    for (size_t i = 0; i < parts_.size(); i++)
      PMEMFS_RETURN_IF_ERROR(map_one(i, info_.header_size, part_data[i], starts_[i]));
  }
  mapping_count_ += linear_maps_.size();
  std::vector<MediaRegion::File> files;
  for (auto& p : parts_) {
    struct stat st;
    if (p->fd() >= 0 && fstat(p->fd(), &st) == 0 && S_ISREG(st.st_mode))
      files.push_back({p->fd(), p->size()});
  }
  if (guard && !files.empty())
    linear_region_ = std::make_unique<MediaRegion>(linear_base_, info_.size, std::move(files),
                                                   &linear_lost_);
  return Status::Ok();
}

}  // namespace pmemfs::mapping

