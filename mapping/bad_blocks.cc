#include "mapping/bad_blocks.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "mapping/device.h"
#include "pmemfs/crc32c.h"

namespace pmemfs::mapping {

using layout::BadBlockTable;

namespace {

// The part offsets of the header pages of part `i` (the primary and, if any, the backup).
std::vector<uint64_t> HeaderPages(const Device& dev, size_t i) {
  std::vector<uint64_t> pages{0};
  if (uint64_t b = dev.header_state(i).backup_offset; b != 0) pages.push_back(b);
  return pages;
}

// Reads the valid table copies of `part` in its header pages `pages` (none, one, two or, with a
// backup page, up to four). A part whose copies are all blank (all-zero) has no table yet; one
// whose copies are invalid and not all blank is corrupt.
Result<std::vector<BadBlockTable>> ReadTables(const Part& part, const std::vector<uint64_t>& pages) {
  std::vector<BadBlockTable> valid;
  bool damaged = false;
  for (uint64_t page : pages) {
    for (uint64_t off : layout::kBadBlockTableOffset) {
      BadBlockTable t;
      std::memcpy(&t, part.base() + page + off, sizeof t);
      if (std::memcmp(t.magic, layout::kBadBlockMagic, sizeof t.magic) != 0) {
        static const BadBlockTable kZero{};
        if (std::memcmp(&t, &kZero, sizeof t) != 0) damaged = true;
        continue;
      }
      if (t.checksum != StructChecksum(t) || t.count > layout::kMaxBadRanges) {
        damaged = true;
        continue;
      }
      valid.push_back(t);
    }
  }
  if (valid.empty() && damaged)
    return Status::Corrupt(part.name() + ": both bad-block tables are corrupt");
  return valid;
}

// Sorts and merges overlapping or touching ranges.
void Normalize(std::vector<BadBlocks::Entry>& v) {
  std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.offset < b.offset; });
  std::vector<BadBlocks::Entry> out;
  for (auto e : v) {
    if (e.length == 0) continue;
    if (!out.empty() && e.offset <= out.back().offset + out.back().length) {
      uint64_t end = std::max(out.back().offset + out.back().length, e.offset + e.length);
      out.back().length = end - out.back().offset;
    } else {
      out.push_back(e);
    }
  }
  v = std::move(out);
}

}  // namespace

void BadBlocks::FormatPart(Part& part, uint64_t backup_offset) {
  BadBlockTable t{};
  std::memcpy(t.magic, layout::kBadBlockMagic, sizeof t.magic);
  t.sequence = 1;
  t.checksum = StructChecksum(t);
  std::vector<uint64_t> pages{0};
  if (backup_offset != 0) pages.push_back(backup_offset);
  // Copy k holds the tables whose sequence % 2 == k.
  for (uint64_t page : pages) {
    part.CopyNoDrain(page + layout::kBadBlockTableOffset[1], &t, sizeof t);
    part.SetNoDrain(page + layout::kBadBlockTableOffset[0], 0, sizeof t);
  }
  part.Drain();
}

Result<std::unique_ptr<BadBlocks>> BadBlocks::Load(Device* dev) {
  std::unique_ptr<BadBlocks> bb(new BadBlocks(dev));
  WriterLock lock(bb->mu_);  // not shared yet: for the analysis
  const DeviceInfo& info = dev->info();
  // An update writes every part's table with the same next sequence, one part after the other
  // (PersistLocked), so a crash in between leaves some parts one sequence ahead with their
  // previous copy intact. The device's list is the newest sequence that every part has.
  std::vector<std::vector<BadBlockTable>> copies;
  uint64_t target = UINT64_MAX;
  for (size_t i = 0; i < dev->part_count(); i++) {
    PMEMFS_ASSIGN_OR_RETURN(auto valid, ReadTables(dev->part(i), HeaderPages(*dev, i)));
    uint64_t newest = 0;
    for (const auto& t : valid) newest = std::max(newest, t.sequence);
    if (!valid.empty()) target = std::min(target, newest);
    copies.push_back(std::move(valid));
  }
  if (target == UINT64_MAX) target = 0;  // no part has a table yet
  for (size_t i = 0; i < dev->part_count(); i++) {
    const uint64_t data_size = dev->part_data_size(i);
    const Part& part = dev->part(i);
    // The part's copy at `target`; one without it (its other copy is damaged) keeps its newest.
    BadBlockTable t{};
    for (const auto& c : copies[i])
      if (c.sequence == target || (t.sequence != target && c.sequence > t.sequence)) t = c;
    bb->sequence_.push_back(target);
    std::vector<layout::BadRange> ranges(t.entries, t.entries + t.count);
    for (const auto& r : part.PlatformBadRanges()) {
      // Platform ranges are in part offsets; keep the part of them inside the data area.
      uint64_t start = std::max(r.offset, info.header_size);
      uint64_t end = r.offset + r.length;
      if (end > start) ranges.push_back({start - info.header_size, end - start});
    }
    // Part data offsets -> device offsets (a range may span several stripe chunks).
    for (const auto& r : ranges) {
      for (uint64_t pos = r.offset, end = std::min(r.offset + r.length, data_size);
           pos < end;) {
        uint64_t dev_off = dev->ToDeviceOffset(i, pos);
        uint64_t run = std::min(end - pos, dev->Locate(dev_off).run);
        bb->ranges_.push_back({dev_off, run});
        pos += run;
      }
    }
  }
  Normalize(bb->ranges_);
  bb->count_.store(bb->ranges_.size(), std::memory_order_release);
  return bb;
}

Status BadBlocks::CheckSlow(uint64_t off, uint64_t len) const {
  ReaderLock lock(mu_);
  // First range ending after `off`.
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), off,
                             [](uint64_t o, const Entry& e) { return o < e.offset + e.length; });
  if (it == ranges_.end() || it->offset >= off + len || len == 0) return Status::Ok();
  // Where the check first meets the range: a range may span parts (stripe chunks).
  Device::Location l = dev_->Locate(std::max(off, it->offset));
  return Status::IoError("media error in device range [" + std::to_string(it->offset) + ", " +
                         std::to_string(it->offset + it->length) + ") on " +
                         dev_->part(l.part).name() + " at part offset " +
                         std::to_string(l.part_offset));
}

Status BadBlocks::Inject(uint64_t off, uint64_t len) {
  if (len == 0 || off >= dev_->size() || len > dev_->size() - off)
    return Status::InvalidArgument("bad range [" + std::to_string(off) + ", +" +
                                   std::to_string(len) + ") is outside the device");
  WriterLock lock(mu_);
  auto saved = ranges_;
  ranges_.push_back({off, len});
  Normalize(ranges_);
  Status st = PersistLocked();
  if (!st.ok()) ranges_ = std::move(saved);
  count_.store(ranges_.size(), std::memory_order_release);
  return st;
}

Status BadBlocks::ClearWholePages(uint64_t off, uint64_t len) {
  const uint64_t P = layout::kPageSize;
  uint64_t start = (off + P - 1) / P * P, end = (off + len) / P * P;
  if (end <= start) return Status::Ok();
  WriterLock lock(mu_);
  std::vector<Entry> out;
  bool changed = false;
  for (const auto& e : ranges_) {
    uint64_t eend = e.offset + e.length;
    if (eend <= start || e.offset >= end) {
      out.push_back(e);
      continue;
    }
    changed = true;
    if (e.offset < start) out.push_back({e.offset, start - e.offset});
    if (eend > end) out.push_back({end, eend - end});
  }
  if (!changed) return Status::Ok();
  // Ask the platform to clear what it reported in the rewritten pages.
  for (uint64_t pos = start; pos < end;) {
    Device::Location l = dev_->Locate(pos);
    uint64_t n = std::min(l.run, end - pos);
    (void)dev_->part(l.part).ClearPlatformBadRange(l.part_offset, n);
    pos += n;
  }
  auto saved = std::move(ranges_);
  ranges_ = std::move(out);
  Status st = PersistLocked();
  if (!st.ok()) ranges_ = std::move(saved);
  count_.store(ranges_.size(), std::memory_order_release);
  return st;
}

std::vector<BadBlocks::Entry> BadBlocks::List() const {
  ReaderLock lock(mu_);
  return ranges_;
}

Status BadBlocks::PersistLocked() {
  const DeviceInfo& info = dev_->info();
  std::vector<std::vector<layout::BadRange>> per_part(dev_->part_count());
  for (const auto& e : ranges_) {
    for (uint64_t pos = e.offset, end = e.offset + e.length; pos < end;) {
      Device::Location l = dev_->Locate(pos);
      uint64_t n = std::min(l.run, end - pos);
      auto& v = per_part[l.part];
      uint64_t data_off = l.part_offset - info.header_size;
      if (!v.empty() && v.back().offset + v.back().length == data_off) v.back().length += n;
      else v.push_back({data_off, n});
      pos += n;
    }
  }
  for (size_t i = 0; i < per_part.size(); i++)
    if (per_part[i].size() > layout::kMaxBadRanges)
      return Status::NoSpace(dev_->part(i).name() + ": more than " +
                             std::to_string(layout::kMaxBadRanges) + " bad ranges to record");
  for (size_t i = 0; i < per_part.size(); i++) {
    BadBlockTable t{};
    std::memcpy(t.magic, layout::kBadBlockMagic, sizeof t.magic);
    t.sequence = sequence_[i] + 1;
    t.count = static_cast<uint32_t>(per_part[i].size());
    std::copy(per_part[i].begin(), per_part[i].end(), t.entries);
    t.checksum = StructChecksum(t);
    // Overwrite the copy that is NOT current: the current one stays valid until the new one is
    // durable (the commit point is the drain). The device's update is committed when the last
    // part's drain returns; Load rolls back the parts written before a crash.
    // The backup page's copy is written after the primary's is durable: a crash leaves at
    // least one page with the previous table intact in the slot it did not overwrite.
    Part& part = dev_->part(i);
    uint64_t slot = layout::kBadBlockTableOffset[t.sequence % 2];
    for (uint64_t page : HeaderPages(*dev_, i)) {
      part.CopyNoDrain(page + slot, &t, sizeof t);
      part.Drain();
    }
    sequence_[i] = t.sequence;
  }
  return Status::Ok();
}

}  // namespace pmemfs::mapping
