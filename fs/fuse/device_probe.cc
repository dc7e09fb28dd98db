#include "fs/fuse/device_probe.h"

#include <cstring>

#include "fs/store/store.h"
#include "mapping/device_set.h"
#include "mapping/media_guard.h"
#include "pmemfs/layout.h"

namespace pmemfs::fuse {
namespace {

// The superblock at store block `block`, if its magic is right. (Its checksum and the rest are
// the store's business when it mounts; here we only want the label and the default mode.)
bool ReadSuperblock(const mapping::Device& dev, uint64_t block, layout::Superblock* sb) {
  uint64_t off = block * layout::kBlockSize;
  if (off + sizeof *sb > dev.info().store().length) return false;
  if (dev.ContiguousBytes(off) < sizeof *sb) return false;
  if (!mapping::GuardedCopy(sb, dev.At(off), sizeof *sb, "superblock", off).ok()) return false;
  return memcmp(sb->magic, layout::kSuperMagic, sizeof sb->magic) == 0;
}

mapping::Mode ToMode(uint32_t stored) {
  switch (static_cast<layout::StoredMode>(stored)) {
    case layout::StoredMode::kCopy: return mapping::Mode::kCopy;
    case layout::StoredMode::kPages: return mapping::Mode::kPages;
    case layout::StoredMode::kDirect: break;
  }
  return mapping::Mode::kDirect;
}

}  // namespace

Result<ProbedDevice> OpenAndProbe(const std::string& spec, bool page_granularity) {
  ProbedDevice p;
  std::vector<std::string> parts = mapping::SplitPartList(spec);
  mapping::PartOpenOptions popts{.force_cache_line = !page_granularity};
  Result<std::unique_ptr<mapping::Device>> dev = mapping::OpenDevice(parts, popts);
  if (!dev.ok()) {
    if (dev.status().code() == Code::kBusy)
      return Status::Busy(spec + ": device already mounted or in use (" +
                          dev.status().message() + ")");
    return dev.status();
  }
  p.device = std::move(dev).value();
  if (store::Store::Detect(*p.device) != "pmemfs")
    return Status::InvalidArgument(spec + ": no pmemfs filesystem on this device (create one "
                                          "with mkpmemfs)");

  p.identity.spec = spec;
  p.identity.parts = std::move(parts);
  p.identity.uuid = mapping::UuidString(p.device->info().set_uuid);
  layout::Superblock sb;
  uint64_t backup = p.device->info().store().length / layout::kBlockSize - 1;
  if (ReadSuperblock(*p.device, 0, &sb) || ReadSuperblock(*p.device, backup, &sb)) {
    p.identity.label.assign(sb.label, strnlen(sb.label, sizeof sb.label));
    p.identity.default_mode = ToMode(sb.default_mode);
  }
  return p;
}

}  // namespace pmemfs::fuse
