#include "mapping/device_set.h"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <random>

#include "mapping/device_builder.h"
#include "mapping/page_descriptors.h"
#include "pmemfs/crc32c.h"

namespace pmemfs::mapping {

using layout::LayoutKind;
using layout::PartLabel;

namespace {

uint64_t RoundDown(uint64_t v, uint64_t unit) { return v / unit * unit; }
uint64_t RoundUp(uint64_t v, uint64_t unit) { return (v + unit - 1) / unit * unit; }

std::string Bytes(uint64_t v) { return std::to_string(v) + " bytes"; }

bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

void RandomUuid(uint8_t out[16]) {
  std::random_device rd;
  for (int i = 0; i < 16; i += 4) {
    uint32_t v = rd();
    std::memcpy(out + i, &v, 4);
  }
  out[6] = (out[6] & 0x0f) | 0x40;  // version 4
  out[8] = (out[8] & 0x3f) | 0x80;  // variant 1
}

// The ranges a label gives the RAM partition and the descriptor area: its own, or those of a
// change it announces (ChangeGeometry).
struct Geometry {
  uint64_t ram_offset, ram_length, descriptor_offset, descriptor_length;
  bool operator==(const Geometry&) const = default;
};
Geometry CurrentGeometry(const PartLabel& l) {
  return {l.ram_offset, l.ram_length, l.descriptor_offset, l.descriptor_length};
}
Geometry PendingGeometry(const PartLabel& l) {
  return {l.pending_ram_offset, l.pending_ram_length, l.pending_descriptor_offset,
          l.pending_descriptor_length};
}
void SetGeometry(PartLabel& l, const Geometry& g) {
  l.ram_offset = g.ram_offset;
  l.ram_length = g.ram_length;
  l.descriptor_offset = g.descriptor_offset;
  l.descriptor_length = g.descriptor_length;
}
void ClearPendingGeometry(PartLabel& l) {
  l.pending_ram_offset = l.pending_ram_length = 0;
  l.pending_descriptor_offset = l.pending_descriptor_length = 0;
  l.geometry_pending = 0;
}

// Reads and checks a label of `part` at part offset `at` on its own: magic, checksum, version,
// reserved bytes, where it says its backup is.
Result<PartLabel> ReadLabelAt(const Part& part, uint64_t at) {
  PartLabel l;
  if (part.size() < layout::kPageSize)
    return Status::InvalidArgument(part.name() + ": too small to be a pmemfs part");
  std::memcpy(&l, part.base() + at, sizeof l);
  if (std::memcmp(l.magic, layout::kPartMagic, sizeof l.magic) != 0)
    return Status::InvalidArgument(part.name() + ": not a pmemfs part (no part label)");
  if (l.checksum != StructChecksum(l))
    return Status::Corrupt(part.name() + ": part label is corrupt (checksum mismatch)");
  if (l.version != layout::kPartLabelVersion && l.version != layout::kPartLabelVersionNoBackup)
    return Status::Unsupported(part.name() + ": part label version " + std::to_string(l.version) +
                               " is not supported (this pmemfs knows versions " +
                               std::to_string(layout::kPartLabelVersionNoBackup) + " and " +
                               std::to_string(layout::kPartLabelVersion) + ")");
  const bool backup_ok = l.version == layout::kPartLabelVersionNoBackup
                             ? l.backup_offset == 0
                             : l.part_size >= 2 * layout::kPageSize &&
                                   l.backup_offset == layout::BackupHeaderOffset(l.part_size);
  const bool pending_ok = l.geometry_pending == 1 ||
                          (l.geometry_pending == 0 && PendingGeometry(l) == Geometry{});
  if (!AllZero(l.reserved, sizeof l.reserved) || !backup_ok || !pending_ok || l.part_joining > 1 ||
      (l.layout != static_cast<uint32_t>(LayoutKind::kLinear) &&
       l.layout != static_cast<uint32_t>(LayoutKind::kStriped)) ||
      l.part_count == 0 || l.part_count > kMaxParts || l.part_index >= l.part_count)
    return Status::Corrupt(part.name() + ": part label is corrupt (bad field values)");
  return l;
}

bool HasPending(const PartLabel& l) { return !AllZero(l.pending_uuid, sizeof l.pending_uuid); }


// The label of `part`: the primary, or when it is unusable the backup in the part's last page
// (which must say it is there). `state` records which copies are intact. Without a usable
// backup, the primary's error. `other` (may be null) receives the other copy when it is valid
// and differs: a set-uuid change a crash interrupted may have reached only one of the two.
Result<PartLabel> ReadLabel(const Part& part, PartHeaderState* state,
                            std::optional<PartLabel>* other = nullptr) {
  Result<PartLabel> primary = ReadLabelAt(part, layout::kLabelOffset);
  if (primary.ok()) {
    state->backup_offset = primary->backup_offset;
    state->primary_ok = true;
    state->backup_ok = true;
    if (primary->backup_offset != 0) {
      Result<PartLabel> backup = primary->backup_offset + layout::kPageSize <= part.size()
                                     ? ReadLabelAt(part, primary->backup_offset)
                                     : Status::Corrupt("outside the part");
      state->backup_ok = backup.ok() && std::memcmp(&*backup, &*primary, sizeof(PartLabel)) == 0;
      if (other && backup.ok() && !state->backup_ok) *other = *backup;
    }
    return primary;
  }
  if (part.size() >= 2 * layout::kPageSize) {
    const uint64_t at = layout::BackupHeaderOffset(part.size());
    Result<PartLabel> backup = ReadLabelAt(part, at);
    if (backup.ok() && backup->backup_offset == at) {
      *state = {.backup_offset = at, .primary_ok = false, .backup_ok = true};
      return backup;
    }
  }
  return primary.status();
}

// Writes label `l` into the header page at part offset `page` of `part` (flushed, not drained).
void WriteLabel(Part& part, uint64_t page, const PartLabel& l) {
  part.CopyNoDrain(page + layout::kLabelOffset, &l, sizeof l);
}

// Geometry every label of a set must agree on.
bool SameGeometry(const PartLabel& a, const PartLabel& b) {
  return a.layout == b.layout && a.part_count == b.part_count && a.chunk_size == b.chunk_size &&
         a.header_size == b.header_size && a.device_size == b.device_size &&
         a.ram_offset == b.ram_offset && a.ram_length == b.ram_length &&
         a.descriptor_offset == b.descriptor_offset && a.descriptor_length == b.descriptor_length;
}

// Checks the internal consistency of the geometry in `l` (against corrupt-but-checksummed or
// hand-made labels) so the builder can trust it.
Status CheckGeometry(const Part& part, const PartLabel& l, const std::vector<PartLabel>& all) {
  auto bad = [&](const std::string& why) {
    return Status::Corrupt(part.name() + ": part label geometry is inconsistent (" + why + ")");
  };
  if (l.header_size < layout::kPageSize || l.header_size % layout::kPageSize) return bad("header");
  uint64_t sum = 0;
  for (const auto& x : all) {
    if (x.data_size % layout::kPageSize || x.data_size == 0) return bad("data size");
    sum += x.data_size;
  }
  if (l.layout == static_cast<uint32_t>(LayoutKind::kStriped)) {
    if (!std::has_single_bit(l.chunk_size) || l.chunk_size < layout::kMinChunkSize)
      return bad("chunk size");
    for (const auto& x : all)
      if (x.data_size != all[0].data_size || x.data_size % l.chunk_size) return bad("stripe");
  }
  if (sum != l.device_size) return bad("device size");
  if ((l.ram_length || l.ram_offset) &&
      (l.ram_offset % layout::kPageSize || l.ram_offset + l.ram_length > sum))
    return bad("RAM partition");
  if (l.descriptor_length &&
      (l.descriptor_offset % layout::kPageSize || l.descriptor_offset + l.descriptor_length > sum ||
       l.descriptor_length < layout::DescriptorAreaSize(sum / layout::kPageSize)))
    return bad("descriptor area");
  return Status::Ok();
}

DeviceInfo InfoFromLabel(const PartLabel& l) {
  DeviceInfo info;
  info.layout = static_cast<LayoutKind>(l.layout);
  std::memcpy(info.set_uuid, l.set_uuid, 16);
  info.part_count = l.part_count;
  info.chunk_size = l.layout == static_cast<uint32_t>(LayoutKind::kStriped) ? l.chunk_size : 0;
  info.header_size = l.header_size;
  info.part_data_size = l.data_size;
  info.size = l.device_size;
  info.ram = {l.ram_offset, l.ram_length};
  info.descriptors = {l.descriptor_offset, l.descriptor_length};
  return info;
}

}  // namespace

std::vector<std::string> SplitPartList(const std::string& spec) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    out.push_back(spec.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

Result<std::unique_ptr<Device>> CreateDevice(std::vector<std::shared_ptr<Part>> parts,
                                             const CreateOptions& opts,
                                             const AssembleOptions& aopts) {
  if (parts.empty()) return Status::InvalidArgument("a device needs at least one part");
  if (parts.size() > kMaxParts)
    return Status::InvalidArgument("a device has at most " + std::to_string(kMaxParts) + " parts");
  uint64_t align = layout::kPageSize;
  for (auto& p : parts) {
    if (!std::has_single_bit(p->alignment()))
      return Status::InvalidArgument(p->name() + ": alignment is not a power of two");
    if (p->size() % p->alignment())
      return Status::InvalidArgument(p->name() + ": size " + Bytes(p->size()) +
                                     " is not a multiple of its alignment " + Bytes(p->alignment()));
    align = std::max(align, p->alignment());
  }
  const uint64_t header = layout::PartHeaderSize(align);
  const uint64_t trailer = layout::kPartTrailerSize;  // the backup header page
  const bool striped = opts.layout == LayoutKind::kStriped;

  std::vector<uint64_t> data(parts.size());
  if (striped) {
    if (!std::has_single_bit(opts.chunk_size) || opts.chunk_size < layout::kMinChunkSize)
      return Status::InvalidArgument("stripe chunk size " + Bytes(opts.chunk_size) +
                                     " must be a power of two of at least 2 MiB");
    for (auto& p : parts)
      if (opts.chunk_size % p->alignment())
        return Status::InvalidArgument("stripe chunk size " + Bytes(opts.chunk_size) +
                                       " is not a multiple of " + p->name() + "'s alignment " +
                                       Bytes(p->alignment()));
    uint64_t per = UINT64_MAX;
    for (auto& p : parts) {
      uint64_t d = p->size() > header + trailer
                       ? RoundDown(p->size() - header - trailer, opts.chunk_size) : 0;
      if (d == 0)
        return Status::InvalidArgument(p->name() + ": too small (" + Bytes(p->size()) +
                                       "): a striped part needs at least " +
                                       Bytes(header + opts.chunk_size + trailer));
      per = std::min(per, d);
    }
    std::fill(data.begin(), data.end(), per);
  } else {
    for (size_t i = 0; i < parts.size(); i++) {
      uint64_t s = parts[i]->size();
      data[i] = s > header + trailer ? RoundDown(s - header - trailer, align) : 0;
      if (data[i] < kMinPartData)
        return Status::InvalidArgument(parts[i]->name() + ": too small (" + Bytes(s) +
                                       "): a part needs at least " +
                                       Bytes(header + kMinPartData + trailer));
    }
  }
  uint64_t size = 0;
  for (uint64_t d : data) size += d;

  uint64_t desc = opts.reserve_descriptors ? layout::DescriptorAreaSize(size / layout::kPageSize) : 0;
  uint64_t ram = RoundUp(opts.ram_size, layout::kPageSize);
  if (desc + ram + kMinPartData > size)
    return Status::InvalidArgument(
        "device of " + Bytes(size) + " is too small for a RAM partition of " + Bytes(ram) +
        (desc ? " and a page-descriptor area of " + Bytes(desc) : std::string()) +
        " (at least 1 MiB must remain for the filesystem)");

  PartLabel proto{};
  std::memcpy(proto.magic, layout::kPartMagic, sizeof proto.magic);
  proto.version = layout::kPartLabelVersion;
  proto.layout = static_cast<uint32_t>(opts.layout);
  RandomUuid(proto.set_uuid);
  proto.part_count = static_cast<uint32_t>(parts.size());
  proto.chunk_size = striped ? opts.chunk_size : 0;
  proto.header_size = header;
  proto.device_size = size;
  proto.data_size = data[0];  // per part below; the same in every part when striped
  proto.descriptor_length = desc;
  proto.descriptor_offset = desc ? size - desc : 0;
  proto.ram_length = ram;
  proto.ram_offset = ram ? size - desc - ram : 0;
  proto.created_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch()).count());

  std::vector<PartHeaderState> headers;
  for (size_t i = 0; i < parts.size(); i++) {
    PartLabel l = proto;
    l.part_index = static_cast<uint32_t>(i);
    l.part_size = parts[i]->size();
    l.data_size = data[i];
    l.backup_offset = layout::BackupHeaderOffset(l.part_size);
    l.checksum = StructChecksum(l);
    // The backup first: a crash in between leaves no primary, so no half-made part opens.
    BadBlocks::FormatPart(*parts[i], l.backup_offset);
    WriteLabel(*parts[i], l.backup_offset, l);
    parts[i]->Drain();
    WriteLabel(*parts[i], 0, l);
    parts[i]->Drain();
    headers.push_back({.backup_offset = l.backup_offset});
  }

  PMEMFS_ASSIGN_OR_RETURN(auto dev, DeviceBuilder::Build(std::move(parts), InfoFromLabel(proto),
                                                         data, std::move(headers), aopts));
  if (desc) PMEMFS_RETURN_IF_ERROR(PageDescriptors::Format(*dev, opts.progress));
  return dev;
}

Result<std::unique_ptr<Device>> AssembleDevice(std::vector<std::shared_ptr<Part>> parts,
                                               const AssembleOptions& opts) {
  if (parts.empty()) return Status::InvalidArgument("a device needs at least one part");
  std::vector<PartLabel> labels;
  std::vector<PartHeaderState> headers(parts.size());
  // A set-uuid change in progress (AnnounceUuidChange): the old uuid and the pending one, from
  // whichever label copy carries it.
  const PartLabel* changing = nullptr;
  std::vector<std::optional<PartLabel>> others(parts.size());
  for (size_t i = 0; i < parts.size(); i++) {
    PMEMFS_ASSIGN_OR_RETURN(PartLabel l, ReadLabel(*parts[i], &headers[i], &others[i]));
    labels.push_back(l);
  }
  for (size_t i = 0; i < parts.size(); i++)
    for (const PartLabel* l : {&labels[i], others[i] ? &*others[i] : nullptr}) {
      if (!l || !HasPending(*l)) continue;
      if (changing && (std::memcmp(changing->pending_uuid, l->pending_uuid, 16) != 0 ||
                       std::memcmp(changing->set_uuid, l->set_uuid, 16) != 0))
        return Status::Corrupt(parts[i]->name() + ": part labels disagree on a set-uuid change");
      changing = l;
    }
  // A part joining the set (StartJoin .. SettleJoin): only the code finishing it assembles,
  // with the grown geometry: from the copy CommitJoin wrote when the other is still the old one
  // (a crash between the two copies; CommitJoin is run again before anything is written).
  if (opts.finishing_add_part)
    for (size_t i = 0; i < parts.size(); i++)
      if (others[i] && others[i]->part_joining && !labels[i].part_joining)
        std::swap(labels[i], *others[i]);
  bool joining = false;
  for (size_t i = 0; i < parts.size(); i++)
    for (const PartLabel* l : {&labels[i], others[i] ? &*others[i] : nullptr}) {
      if (!l || !l->part_joining) continue;
      joining = true;
      if (!opts.finishing_add_part)
        return Status::InvalidArgument(
            parts[i]->name() + ": a pmemfs-tune --add-part was interrupted; a read-write "
            "mount of the device with the new part named last, or the same "
            "pmemfs-tune --add-part PART DEVICE run again, finishes it");
    }
  // A change of the RAM partition or the descriptor area in progress (ChangeGeometry): every
  // copy is announced (old ranges, new pending), settled (the new ranges) or untouched (the old
  // ones). One settled copy commits the change; the device opens with the ranges that won.
  const PartLabel* announced = nullptr;
  for (size_t i = 0; i < parts.size(); i++)
    for (const PartLabel* l : {&labels[i], others[i] ? &*others[i] : nullptr}) {
      if (!l || !l->geometry_pending) continue;
      if (announced && (CurrentGeometry(*l) != CurrentGeometry(*announced) ||
                        PendingGeometry(*l) != PendingGeometry(*announced)))
        return Status::Corrupt(parts[i]->name() +
                               ": part labels disagree on a change of the RAM partition or the "
                               "page-descriptor area");
      announced = l;
    }
  if (announced) {
    const Geometry from = CurrentGeometry(*announced), to = PendingGeometry(*announced);
    bool committed = false;
    for (size_t i = 0; i < parts.size(); i++)
      for (const PartLabel* l : {&labels[i], others[i] ? &*others[i] : nullptr}) {
        if (!l || l->geometry_pending) continue;
        if (CurrentGeometry(*l) == to) committed = true;
        else if (CurrentGeometry(*l) != from)
          return Status::Corrupt(parts[i]->name() +
                                 ": part label disagrees with a change of the RAM partition or "
                                 "the page-descriptor area in progress");
      }
    for (PartLabel& l : labels) {
      SetGeometry(l, committed ? to : from);
      ClearPendingGeometry(l);
    }
  }
  const PartLabel& ref = labels[0];
  const uint8_t* set_uuid = changing ? changing->set_uuid : ref.set_uuid;
  const std::string uuid = UuidString(set_uuid);
  for (size_t i = 0; i < parts.size(); i++)
    if (std::memcmp(labels[i].set_uuid, set_uuid, 16) != 0 &&
        !(changing && std::memcmp(labels[i].set_uuid, changing->pending_uuid, 16) == 0))
      return Status::InvalidArgument(parts[i]->name() + ": belongs to another device (set " +
                                     UuidString(labels[i].set_uuid) + ", not " + uuid + " like " +
                                     parts[0]->name() + ")");
  std::map<uint32_t, size_t> by_index;
  for (size_t i = 0; i < parts.size(); i++) {
    auto [it, fresh] = by_index.emplace(labels[i].part_index, i);
    if (!fresh)
      return Status::InvalidArgument(parts[it->second]->name() + " and " + parts[i]->name() +
                                     " are both part " + std::to_string(labels[i].part_index) +
                                     " of device " + uuid);
  }
  if (ref.part_count != parts.size()) {
    if (parts.size() > ref.part_count)
      return Status::InvalidArgument("device " + uuid + " has " + std::to_string(ref.part_count) +
                                     " parts but " + std::to_string(parts.size()) + " were given");
    std::string missing;
    for (uint32_t k = 0; k < ref.part_count; k++)
      if (!by_index.count(k)) missing += (missing.empty() ? "" : ", ") + std::to_string(k);
    return Status::NotFound("device " + uuid + " has " + std::to_string(ref.part_count) +
                            " parts; missing part " + missing);
  }
  for (size_t i = 0; i < parts.size(); i++) {
    const PartLabel& l = labels[i];
    if (l.part_index != i)
      return Status::InvalidArgument(parts[i]->name() + " is part " + std::to_string(l.part_index) +
                                     " of device " + uuid + " but was given as part " +
                                     std::to_string(i) + " (give the parts in order)");
    if (!SameGeometry(l, ref))
      return Status::Corrupt(parts[i]->name() + ": part label disagrees with " + parts[0]->name() +
                             " on the device geometry");
    if (parts[i]->size() < l.part_size)
      return Status::InvalidArgument(parts[i]->name() + ": part is smaller (" +
                                     Bytes(parts[i]->size()) + ") than when it was created (" +
                                     Bytes(l.part_size) + ")");
    if (parts[i]->size() < l.header_size + l.data_size || l.header_size % parts[i]->alignment() ||
        (l.backup_offset != 0 && l.backup_offset < l.header_size + l.data_size))
      return Status::Corrupt(parts[i]->name() + ": part label does not fit the part");
  }
  PMEMFS_RETURN_IF_ERROR(CheckGeometry(*parts[0], ref, labels));
  std::vector<uint64_t> data;
  for (auto& l : labels) data.push_back(l.data_size);
  DeviceInfo info = InfoFromLabel(ref);
  std::memcpy(info.set_uuid, set_uuid, 16);
  if (changing) std::memcpy(info.pending_uuid, changing->pending_uuid, 16);
  info.geometry_change_pending = announced != nullptr;
  info.add_part_pending = joining;
  return DeviceBuilder::Build(std::move(parts), info, data, std::move(headers), opts);
}

namespace {

// Rewrites every copy of every part's label through `edit` (backup first, each drained).
// The label edited is the part's current one (the primary, or the backup it opened from).
Status RewriteLabels(Device& dev, const std::function<void(PartLabel&)>& edit) {
  for (size_t i = 0; i < dev.part_count(); i++) {
    Part& part = dev.part(i);
    if (part.read_only())
      return Status::ReadOnly(part.name() + ": opened read-only; cannot rewrite its part label");
  }
  for (size_t i = 0; i < dev.part_count(); i++) {
    Part& part = dev.part(i);
    const PartHeaderState& h = dev.header_state(i);
    PMEMFS_ASSIGN_OR_RETURN(PartLabel l,
                            ReadLabelAt(part, h.primary_ok ? layout::kLabelOffset : h.backup_offset));
    edit(l);
    l.checksum = StructChecksum(l);
    if (h.backup_offset != 0) {
      WriteLabel(part, h.backup_offset, l);
      part.Drain();
    }
    WriteLabel(part, layout::kLabelOffset, l);
    part.Drain();
  }
  return Status::Ok();
}

}  // namespace

Status AnnounceUuidChange(Device& dev, const uint8_t uuid[16]) {
  if (dev.info_.uuid_change_pending())
    return Status::InvalidArgument("a set-uuid change is already pending (open the filesystem "
                                   "read-write once to finish it)");
  PMEMFS_RETURN_IF_ERROR(RewriteLabels(dev, [&](PartLabel& l) {
    std::memcpy(l.set_uuid, dev.info_.set_uuid, 16);
    std::memcpy(l.pending_uuid, uuid, 16);
  }));
  std::memcpy(dev.info_.pending_uuid, uuid, 16);
  for (PartHeaderState& h : dev.headers_) h.primary_ok = h.backup_ok = true;
  return Status::Ok();
}

Status SettleUuid(Device& dev, const uint8_t uuid[16]) {
  PMEMFS_RETURN_IF_ERROR(RewriteLabels(dev, [&](PartLabel& l) {
    std::memcpy(l.set_uuid, uuid, 16);
    std::memset(l.pending_uuid, 0, 16);
  }));
  std::memcpy(dev.info_.set_uuid, uuid, 16);
  std::memset(dev.info_.pending_uuid, 0, 16);
  for (PartHeaderState& h : dev.headers_) h.primary_ok = h.backup_ok = true;
  return Status::Ok();
}

Status ChangeGeometry(Device& dev, Range ram, Range descriptors) {
  DeviceInfo& info = dev.info_;
  if (info.uuid_change_pending() || info.geometry_change_pending)
    return Status::InvalidArgument("a change of the part labels is already pending (open the "
                                   "filesystem read-write once to finish it)");
  const auto page_aligned = [](Range r) {
    return r.offset % layout::kPageSize == 0 && r.length % layout::kPageSize == 0;
  };
  const auto inside = [&](Range r) { return r.offset <= info.size && r.length <= info.size - r.offset; };
  DeviceInfo next = info;
  next.ram = ram;
  next.descriptors = descriptors;
  const uint64_t store_end = info.store().end();
  if (!page_aligned(ram) || !page_aligned(descriptors) || !inside(ram) || !inside(descriptors) ||
      (descriptors.empty() && descriptors.offset != 0) ||
      (!descriptors.empty() &&
       (descriptors.length < layout::DescriptorAreaSize(info.size / layout::kPageSize) ||
        descriptors.offset < ram.end())) ||
      next.store().end() != store_end || (ram.offset != 0 && ram.offset != store_end))
    return Status::InvalidArgument("the RAM partition [" + std::to_string(ram.offset) + ", +" +
                                   std::to_string(ram.length) + ") and descriptor area [" +
                                   std::to_string(descriptors.offset) + ", +" +
                                   std::to_string(descriptors.length) +
                                   ") do not fit after the store area (" +
                                   std::to_string(store_end) + " bytes) of the device");
  const Geometry to{ram.offset, ram.length, descriptors.offset, descriptors.length};
  if (to == Geometry{info.ram.offset, info.ram.length, info.descriptors.offset,
                     info.descriptors.length})
    return Status::Ok();
  PMEMFS_RETURN_IF_ERROR(RewriteLabels(dev, [&](PartLabel& l) {
    l.pending_ram_offset = to.ram_offset;
    l.pending_ram_length = to.ram_length;
    l.pending_descriptor_offset = to.descriptor_offset;
    l.pending_descriptor_length = to.descriptor_length;
    l.geometry_pending = 1;
  }));
  for (PartHeaderState& h : dev.headers_) h.primary_ok = h.backup_ok = true;
  info.geometry_change_pending = true;
  // The commit point: the first part's backup label written with the new ranges as its own.
  PMEMFS_RETURN_IF_ERROR(RewriteLabels(dev, [&](PartLabel& l) {
    SetGeometry(l, to);
    ClearPendingGeometry(l);
  }));
  info.ram = ram;
  info.descriptors = descriptors;
  info.geometry_change_pending = false;
  return Status::Ok();
}

Status SettleGeometry(Device& dev) {
  DeviceInfo& info = dev.info_;
  const Geometry now{info.ram.offset, info.ram.length, info.descriptors.offset,
                     info.descriptors.length};
  PMEMFS_RETURN_IF_ERROR(RewriteLabels(dev, [&](PartLabel& l) {
    SetGeometry(l, now);
    ClearPendingGeometry(l);
  }));
  for (PartHeaderState& h : dev.headers_) h.primary_ok = h.backup_ok = true;
  info.geometry_change_pending = false;
  return Status::Ok();
}

Status RewritePartHeaders(Device& dev) {
  for (size_t i = 0; i < dev.part_count(); i++) {
    PartHeaderState& h = dev.headers_[i];
    if (h.backup_offset == 0 || (h.primary_ok && h.backup_ok)) continue;
    Part& part = dev.part(i);
    if (part.read_only())
      return Status::ReadOnly(part.name() + ": opened read-only; cannot rewrite its part label");
    const uint64_t good = h.primary_ok ? 0 : h.backup_offset;
    const uint64_t bad = h.primary_ok ? h.backup_offset : 0;
    PMEMFS_ASSIGN_OR_RETURN(PartLabel l, ReadLabelAt(part, good));
    // Each bad-block table slot: the newer valid copy of the two pages, into both (a slot valid
    // in neither is left as it is: BadBlocks::Load already judged the tables).
    for (uint64_t slot : layout::kBadBlockTableOffset) {
      layout::BadBlockTable best{};
      bool found = false;
      for (uint64_t page : {good, bad}) {
        layout::BadBlockTable t;
        std::memcpy(&t, part.base() + page + slot, sizeof t);
        if (std::memcmp(t.magic, layout::kBadBlockMagic, sizeof t.magic) != 0 ||
            t.checksum != StructChecksum(t) || t.count > layout::kMaxBadRanges)
          continue;
        if (!found || t.sequence > best.sequence) best = t;
        found = true;
      }
      if (found)
        for (uint64_t page : {good, bad}) part.CopyNoDrain(page + slot, &best, sizeof best);
    }
    part.Drain();  // the tables before the label that makes the page a header again
    WriteLabel(part, bad, l);
    part.Drain();
    h.primary_ok = h.backup_ok = true;
  }
  return Status::Ok();
}

// --- growing a linear device by one part (device_set.h) ------------------------------------

namespace {

// The label copy at part offset `at` when valid and where it says it is (a backup copy).
std::optional<PartLabel> ValidCopy(const Part& part, uint64_t at) {
  if (at + layout::kPageSize > part.size()) return std::nullopt;
  Result<PartLabel> l = ReadLabelAt(part, at);
  if (!l.ok() || (at != layout::kLabelOffset && l->backup_offset != at)) return std::nullopt;
  return *l;
}

// Both copies (either may be missing): the primary and the backup in the part's last page.
std::vector<PartLabel> ValidCopies(const Part& part) {
  std::vector<PartLabel> out;
  if (part.size() < 2 * layout::kPageSize) return out;
  for (uint64_t at : {layout::kLabelOffset, layout::BackupHeaderOffset(part.size())})
    if (std::optional<PartLabel> l = ValidCopy(part, at)) out.push_back(*l);
  return out;
}

// Writes `l` (checksummed here) into both copies of `part`'s label, the backup first, drained.
void WriteBothCopies(Part& part, PartLabel l) {
  l.checksum = StructChecksum(l);
  if (l.backup_offset != 0) {
    WriteLabel(part, l.backup_offset, l);
    part.Drain();
  }
  WriteLabel(part, layout::kLabelOffset, l);
  part.Drain();
}

}  // namespace

Result<uint64_t> JoinableDataSize(const Device& dev, const Part& part) {
  const DeviceInfo& info = dev.info();
  if (info.layout != LayoutKind::kLinear)
    return Status::InvalidArgument("the device is striped (chunks of " + Bytes(info.chunk_size) +
                                   " across " + std::to_string(info.part_count) +
                                   " parts): only a linear device grows by a part");
  if (info.part_count >= kMaxParts)
    return Status::InvalidArgument("the device has " + std::to_string(info.part_count) +
                                   " parts, the most a device may have");
  const uint64_t header = info.header_size;
  if (!std::has_single_bit(part.alignment()) || header % part.alignment())
    return Status::InvalidArgument(part.name() + ": its alignment (" + Bytes(part.alignment()) +
                                   ") does not divide the device's part header (" +
                                   Bytes(header) + ")");
  const uint64_t size = part.size(), trailer = layout::kPartTrailerSize;
  const uint64_t data = size > header + trailer ? RoundDown(size - header - trailer, header) : 0;
  if (data < kMinPartData)
    return Status::InvalidArgument(part.name() + ": too small (" + Bytes(size) +
                                   "): a part needs at least " +
                                   Bytes(header + kMinPartData + trailer));
  return data;
}

std::optional<PartLabel> ReadAnyLabel(const Part& part) {
  std::vector<PartLabel> copies = ValidCopies(part);
  if (copies.empty()) return std::nullopt;
  return copies[0];
}

Status StartJoin(const Device& dev, Part& part, const JoinGeometry& g) {
  const DeviceInfo& info = dev.info();
  if (part.read_only())
    return Status::ReadOnly(part.name() + ": opened read-only; cannot write its part label");
  PartLabel l{};
  std::memcpy(l.magic, layout::kPartMagic, sizeof l.magic);
  l.version = layout::kPartLabelVersion;
  l.layout = static_cast<uint32_t>(LayoutKind::kLinear);
  std::memcpy(l.set_uuid, info.set_uuid, 16);
  l.part_index = info.part_count;
  l.part_count = info.part_count + 1;
  l.part_size = part.size();
  l.header_size = info.header_size;
  l.data_size = g.part_data_size;
  l.device_size = g.device_size;
  l.ram_offset = g.ram.offset;
  l.ram_length = g.ram.length;
  l.descriptor_offset = g.descriptors.offset;
  l.descriptor_length = g.descriptors.length;
  l.created_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch()).count());
  l.backup_offset = layout::BackupHeaderOffset(part.size());
  l.part_joining = 1;
  if (l.backup_offset < l.header_size + l.data_size)
    return Status::InvalidArgument(part.name() + ": the part label does not fit the part");
  BadBlocks::FormatPart(part, l.backup_offset);  // persisted
  WriteBothCopies(part, l);
  return Status::Ok();
}

Status CommitJoin(const std::vector<std::shared_ptr<Part>>& old_parts, Part& part) {
  std::optional<PartLabel> target = ReadAnyLabel(part);
  if (!target || !target->part_joining || target->part_index != old_parts.size())
    return Status::Corrupt(part.name() + ": not a part joining this device");
  for (const auto& p : old_parts)
    if (p->read_only())
      return Status::ReadOnly(p->name() + ": opened read-only; cannot rewrite its part label");
  for (size_t i = 0; i < old_parts.size(); i++) {
    Part& p = *old_parts[i];
    std::vector<PartLabel> copies = ValidCopies(p);
    if (copies.empty() || std::memcmp(copies[0].set_uuid, target->set_uuid, 16) != 0 ||
        copies[0].part_index != i)
      return Status::Corrupt(p.name() + ": its part label is not part " + std::to_string(i) +
                             " of device " + UuidString(target->set_uuid));
    PartLabel l = copies[0];
    l.part_count = target->part_count;
    l.device_size = target->device_size;
    SetGeometry(l, CurrentGeometry(*target));
    ClearPendingGeometry(l);
    l.part_joining = 1;
    WriteBothCopies(p, l);
  }
  return Status::Ok();
}

Status SettleJoin(Device& dev) {
  PMEMFS_RETURN_IF_ERROR(RewriteLabels(dev, [](PartLabel& l) { l.part_joining = 0; }));
  for (PartHeaderState& h : dev.headers_) h.primary_ok = h.backup_ok = true;
  dev.info_.add_part_pending = false;
  return Status::Ok();
}

JoinState InspectJoin(const std::vector<std::shared_ptr<Part>>& old_parts, const Part& part) {
  const std::optional<PartLabel> joining = ReadAnyLabel(part);
  if (!joining || old_parts.empty()) return JoinState::kNone;
  const std::optional<PartLabel> first = ReadAnyLabel(*old_parts[0]);
  if (!first || std::memcmp(first->set_uuid, joining->set_uuid, 16) != 0 ||
      joining->part_index != old_parts.size() || joining->part_count != old_parts.size() + 1)
    return JoinState::kNone;
  bool committed = false;
  for (const auto& p : old_parts)
    for (const PartLabel& l : ValidCopies(*p))
      if (std::memcmp(l.set_uuid, joining->set_uuid, 16) == 0 &&
          l.part_count == joining->part_count)
        committed = true;
  if (joining->part_joining) return committed ? JoinState::kCommitted : JoinState::kUncommitted;
  return committed ? JoinState::kJoined : JoinState::kNone;
}

void UndoJoin(Part& part) {
  PartLabel zero{};
  part.CopyNoDrain(layout::kLabelOffset, &zero, sizeof zero);
  part.Drain();
  if (part.size() >= 2 * layout::kPageSize) {
    part.CopyNoDrain(layout::BackupHeaderOffset(part.size()), &zero, sizeof zero);
    part.Drain();
  }
}

Result<std::vector<std::shared_ptr<Part>>> OpenFileParts(const std::vector<std::string>& paths,
                                                         const PartOpenOptions& opts) {
  if (paths.empty()) return Status::InvalidArgument("no device given");
  std::vector<std::pair<std::pair<dev_t, ino_t>, std::string>> ids;
  for (size_t i = 0; i < paths.size(); i++) {
    if (paths[i].empty()) return Status::InvalidArgument("empty part name in the device list");
    struct stat st;
    if (stat(paths[i].c_str(), &st) != 0) continue;  // OpenFilePart reports it
    std::pair<dev_t, ino_t> id{st.st_dev, st.st_ino};
    if (S_ISCHR(st.st_mode)) id = {st.st_rdev, 0};
    for (const auto& [seen, name] : ids)
      if (seen == id)
        return Status::InvalidArgument(name + " and " + paths[i] + " are the same part");
    ids.push_back({id, paths[i]});
  }
  std::vector<std::shared_ptr<Part>> parts;
  for (const auto& p : paths) {
    PMEMFS_ASSIGN_OR_RETURN(std::unique_ptr<Part> part, OpenFilePart(p, opts));
    parts.push_back(std::move(part));
  }
  return parts;
}

Result<std::unique_ptr<Device>> OpenDevice(const std::vector<std::string>& paths,
                                           const PartOpenOptions& popts,
                                           const AssembleOptions& aopts) {
  PMEMFS_ASSIGN_OR_RETURN(auto parts, OpenFileParts(paths, popts));
  return AssembleDevice(std::move(parts), aopts);
}

}  // namespace pmemfs::mapping
