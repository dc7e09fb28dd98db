#include "mapping/page_descriptors.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "pmemfs/crc32c.h"

namespace pmemfs::mapping {

Status PageDescriptors::Format(Device& dev, const std::function<void(uint64_t, uint64_t)>& progress) {
  return FormatArea(dev, dev.info().descriptors, progress);
}

Status PageDescriptors::FormatArea(Device& dev, Range area,
                                   const std::function<void(uint64_t, uint64_t)>& progress) {
  if (area.empty())
    return Status::InvalidArgument("the device has no page-descriptor area");
  const uint64_t pages = dev.size() / layout::kPageSize;
  if (area.length < layout::DescriptorAreaSize(pages))
    return Status::Corrupt("the page-descriptor area is too small for the device");

  // Invalidate any header an earlier format left, clear the log and the table (in slices, for
  // progress), then write the header: an area whose header is valid is fully initialised, also
  // after a crash during a re-format (no old log record survives under a valid header).
  dev.SetNoDrain(area.offset, 0, layout::kPageSize);
  dev.Drain();
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
  dev.CopyNoDrain(area.offset, &h, sizeof h);
  dev.Drain();
  return Status::Ok();
}

uint32_t DescriptorChecksum(layout::PageDescriptor d) {
  d.pin_count = 0;
  return StructChecksum(d);
}

bool DescriptorPristine(layout::PageDescriptor d) {
  d.pin_count = 0;
  static constexpr layout::PageDescriptor kZero{};
  return std::memcmp(&d, &kZero, sizeof d) == 0;
}

bool DescriptorValid(const layout::PageDescriptor& d) {
  return DescriptorPristine(d) || d.checksum == DescriptorChecksum(d);
}

namespace {

using layout::PageDescriptor;

// Stripes of the per-page update locks: page p is guarded by stripes_[p % kLockStripes].
constexpr size_t kLockStripes = 256;

// Field-wise copies that leave pin_count alone: Pin/Unpin may change it concurrently through
// std::atomic_ref, so it is never read or written as part of the struct.
PageDescriptor LoadFields(const PageDescriptor* at) {
  PageDescriptor d{};
  d.owner = at->owner;
  d.file_index = at->file_index;
  d.refcount = at->refcount;
  d.flags = at->flags;
  d.generation = at->generation;
  std::memcpy(d.reserved, at->reserved, sizeof d.reserved);
  d.checksum = at->checksum;
  return d;
}

void StoreFields(PageDescriptor* at, const PageDescriptor& v) {
  at->owner = v.owner;
  at->file_index = v.file_index;
  at->refcount = v.refcount;
  at->flags = v.flags;
  at->generation = v.generation;
  std::memcpy(at->reserved, v.reserved, sizeof v.reserved);
  at->checksum = v.checksum;
}

PageInfo ToInfo(const PageDescriptor& d) {
  return {.owner = d.owner, .file_index = d.file_index, .refcount = d.refcount, .flags = d.flags};
}

Status PageOutOfRange(uint64_t page, uint64_t page_count) {
  return Status::InvalidArgument("page " + std::to_string(page) +
                                 " is outside the descriptor table (" +
                                 std::to_string(page_count) + " pages)");
}

// The table logic common to both placements; they differ only in where a descriptor lives and
// how a written one is made durable.
class StripedDescriptors : public PageDescriptors {
 public:
  explicit StripedDescriptors(uint64_t page_count) : page_count_(page_count) {}

  uint64_t page_count() const override { return page_count_; }

  PageInfo Get(uint64_t page) const override {
    if (page >= page_count_) return {};
    std::lock_guard lock(StripeFor(page));
    return ToInfo(LoadFields(At(page)));
  }

  uint64_t generation(uint64_t page) const override {
    if (page >= page_count_) return 0;
    std::lock_guard lock(StripeFor(page));
    return At(page)->generation;
  }

  bool valid(uint64_t page) const override {
    if (page >= page_count_) return true;
    std::lock_guard lock(StripeFor(page));
    return DescriptorValid(LoadFields(At(page)));
  }

  Status Set(uint64_t page, const PageInfo& info) override {
    const PageUpdate update{page, info};
    return SetBatch({&update, 1});
  }

  Status SetBatch(std::span<const PageUpdate> updates) override {
    PMEMFS_RETURN_IF_ERROR(SetBatchNoDrain(updates));
    if (!updates.empty()) Drain();
    return Status::Ok();
  }

  Status SetBatchNoDrain(std::span<const PageUpdate> updates) override;
  Result<uint32_t> AddRef(uint64_t page, int32_t delta) override;

  void Pin(uint64_t page) override {
    if (page >= page_count_) return;
    std::atomic_ref<uint32_t>(At(page)->pin_count).fetch_add(1, std::memory_order_acq_rel);
  }

  void Unpin(uint64_t page) override {
    if (page >= page_count_) return;
    std::atomic_ref<uint32_t> pins(At(page)->pin_count);
    uint32_t n = pins.load(std::memory_order_acquire);
    // Never below zero: an unmatched Unpin is ignored.
    while (n > 0 && !pins.compare_exchange_weak(n, n - 1, std::memory_order_acq_rel)) {
    }
  }

  uint32_t pin_count(uint64_t page) const override {
    if (page >= page_count_) return 0;
    return std::atomic_ref<uint32_t>(At(page)->pin_count).load(std::memory_order_acquire);
  }

 protected:
  // Where the descriptor of `page` (< page_count_) lives.
  virtual PageDescriptor* At(uint64_t page) const = 0;
  // Writes `value` as the descriptor of `page` (flushed, not drained). Caller holds the page's
  // stripe.
  virtual void Write(uint64_t page, const PageDescriptor& value) = 0;
  // Makes every Write so far durable.
  virtual void Drain() = 0;

 private:
  std::mutex& StripeFor(uint64_t page) const { return stripes_[page % kLockStripes]; }
  // Writes the new value of `page` for `info`: the next generation, checksummed. Caller holds
  // the page's stripe.
  void Update(uint64_t page, const PageInfo& info);

  const uint64_t page_count_;
  // stripes_[p % kLockStripes] serialises the updates of page p and keeps readers of its
  // persistent fields from seeing a half-written value (pin_count is atomic and needs no lock).
  // One at a time.
  mutable std::array<std::mutex, kLockStripes> stripes_;
};

void StripedDescriptors::Update(uint64_t page, const PageInfo& info) {
  PageDescriptor v{};
  v.owner = info.owner;
  v.file_index = info.file_index;
  v.refcount = info.refcount;
  v.flags = info.flags;
  // A descriptor that fails its checksum has no trustworthy generation: any number will do.
  v.generation = LoadFields(At(page)).generation + 1;
  v.checksum = DescriptorChecksum(v);
  Write(page, v);
}

Status StripedDescriptors::SetBatchNoDrain(std::span<const PageUpdate> updates) {
  for (const PageUpdate& u : updates)
    if (u.page >= page_count_) return PageOutOfRange(u.page, page_count_);
  for (const PageUpdate& u : updates) {
    std::lock_guard lock(StripeFor(u.page));
    Update(u.page, u.info);
  }
  return Status::Ok();
}

Result<uint32_t> StripedDescriptors::AddRef(uint64_t page, int32_t delta) {
  if (page >= page_count_) return PageOutOfRange(page, page_count_);
  uint32_t refcount;
  {
    std::lock_guard lock(StripeFor(page));
    PageInfo info = ToInfo(LoadFields(At(page)));
    const int64_t count = int64_t{info.refcount} + delta;
    if (count < 0 || count > int64_t{UINT32_MAX})
      return Status::InvalidArgument("page " + std::to_string(page) + ": reference count " +
                                     std::to_string(info.refcount) + " cannot change by " +
                                     std::to_string(delta));
    info.refcount = refcount = static_cast<uint32_t>(count);
    Update(page, info);
  }
  Drain();
  return refcount;
}

// ---------------------------------------------------------------------------------------------
// kDevice: the table in the device's descriptor area, written in place.
class DeviceDescriptors final : public StripedDescriptors {
 public:
  // Checks the area header, clears an earlier version's log, zeroes the pin counts.
  static Result<std::unique_ptr<DeviceDescriptors>> Open(Device& dev);

  DescriptorPlacement placement() const override { return DescriptorPlacement::kDevice; }

 private:
  DeviceDescriptors(Device& dev, uint64_t page_count)
      : StripedDescriptors(page_count), dev_(dev), area_(dev.info().descriptors.offset) {}

  uint64_t DescriptorOffset(uint64_t page) const {
    return area_ + layout::kDescriptorTableOffset + page * sizeof(PageDescriptor);
  }
  // A 64-byte aligned descriptor never crosses a segment boundary, so one At() pointer covers it.
  PageDescriptor* At(uint64_t page) const override {
    return reinterpret_cast<PageDescriptor*>(dev_.At(DescriptorOffset(page)));
  }
  void Write(uint64_t page, const PageDescriptor& value) override {
    StoreFields(At(page), value);
    dev_.Flush(DescriptorOffset(page), sizeof(PageDescriptor));  // drained by Drain()
  }
  void Drain() override { dev_.Drain(); }

  Status CheckHeader() const;
  // Zeroes (and persists) the log slots when an earlier version left anything in them.
  void ClearLegacyLog();
  void ClearPins();

  Device& dev_;
  const uint64_t area_;  // device offset of the descriptor area
};

Result<std::unique_ptr<DeviceDescriptors>> DeviceDescriptors::Open(Device& dev) {
  if (dev.info().descriptors.empty())
    return Status::InvalidArgument("the device has no page-descriptor area");
  std::unique_ptr<DeviceDescriptors> d(new DeviceDescriptors(dev, dev.size() / layout::kPageSize));
  PMEMFS_RETURN_IF_ERROR(d->CheckHeader());
  if (!dev.read_only()) d->ClearLegacyLog();
  d->ClearPins();
  return d;
}

Status DeviceDescriptors::CheckHeader() const {
  const uint64_t pages = page_count();
  if (dev_.info().descriptors.length < layout::DescriptorAreaSize(pages))
    return Status::Corrupt("page-descriptor area: " +
                           std::to_string(dev_.info().descriptors.length) +
                           " bytes are too few for " + std::to_string(pages) + " pages");
  layout::DescriptorAreaHeader h;
  dev_.Read(area_, &h, sizeof h);
  if (std::memcmp(h.magic, layout::kDescriptorMagic, sizeof h.magic) != 0)
    return Status::Corrupt("page-descriptor area: bad magic (the area was never formatted?)");
  if (h.checksum != StructChecksum(h))
    return Status::Corrupt("page-descriptor area: header checksum mismatch");
  if (h.page_count != pages)
    return Status::Corrupt("page-descriptor area: the header says " +
                           std::to_string(h.page_count) + " pages, the device has " +
                           std::to_string(pages));
  if (h.log_slots != layout::kDescriptorLogSlots)
    return Status::Corrupt("page-descriptor area: the header says " +
                           std::to_string(h.log_slots) + " log slots, expected " +
                           std::to_string(layout::kDescriptorLogSlots));
  if (h.table_offset != layout::kDescriptorTableOffset)
    return Status::Corrupt("page-descriptor area: unexpected table offset " +
                           std::to_string(h.table_offset));
  const bool reserved_zero =
      h.reserved0 == 0 && std::all_of(std::begin(h.reserved), std::end(h.reserved),
                                      [](uint8_t b) { return b == 0; });
  if (!reserved_zero) return Status::Corrupt("page-descriptor area: reserved header bytes set");
  return Status::Ok();
}

// An earlier version's records need no replay: each was the value of a descriptor record of a
// store transaction that the journal replays while it is committed (or part of a table rebuild
// that runs again; see fs/core), and once the journal is retired the value is in place. Left
// alone, though, one could be re-applied by that version over a newer value written since.
void DeviceDescriptors::ClearLegacyLog() {
  std::vector<std::byte> log(layout::kDescriptorLogBytes);
  const uint64_t at = area_ + layout::kDescriptorLogOffset;
  dev_.Read(at, log.data(), log.size());
  if (std::all_of(log.begin(), log.end(), [](std::byte b) { return b == std::byte{0}; })) return;
  dev_.SetNoDrain(at, 0, log.size());
  dev_.Drain();
}

// Pin counts are volatile: whatever a crash left in them is meaningless. They are cleared with
// plain stores and never flushed (they are not checksummed, and a later flush of the line
// persisting a zero or a live count is harmless). O(pages) loads; only non-zero counts are
// stored, so the lines of an idle table stay clean.
void DeviceDescriptors::ClearPins() {
  const uint64_t table = DescriptorOffset(0);
  dev_.ForEachSegment(table, page_count() * sizeof(PageDescriptor), [](Segment s) {
    auto* d = reinterpret_cast<PageDescriptor*>(s.ptr);
    for (uint64_t i = 0; i < s.length / sizeof(PageDescriptor); i++)
      if (d[i].pin_count != 0) d[i].pin_count = 0;
  });
}

// ---------------------------------------------------------------------------------------------
// kDram: the table in DRAM, all-free at open; nothing is written to the device.
class DramDescriptors final : public StripedDescriptors {
 public:
  explicit DramDescriptors(uint64_t page_count)
      : StripedDescriptors(page_count), table_(std::make_unique<PageDescriptor[]>(page_count)) {}

  DescriptorPlacement placement() const override { return DescriptorPlacement::kDram; }

 private:
  PageDescriptor* At(uint64_t page) const override { return table_.get() + page; }
  void Write(uint64_t page, const PageDescriptor& value) override { StoreFields(At(page), value); }
  void Drain() override {}

  const std::unique_ptr<PageDescriptor[]> table_;  // value-initialised: all free
};

}  // namespace

Result<std::unique_ptr<PageDescriptors>> PageDescriptors::Open(Device& dev,
                                                              DescriptorPlacement where) {
  if (where == DescriptorPlacement::kDram)
    return std::unique_ptr<PageDescriptors>(
        new DramDescriptors(dev.size() / layout::kPageSize));
  PMEMFS_ASSIGN_OR_RETURN(auto d, DeviceDescriptors::Open(dev));
  return std::unique_ptr<PageDescriptors>(std::move(d));
}

}  // namespace pmemfs::mapping
