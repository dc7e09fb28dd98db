#include "mapping/page_descriptors.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "pmemfs/crc32c.h"

namespace pmemfs::mapping {

Status PageDescriptors::Format(Device& dev, const std::function<void(uint64_t, uint64_t)>& progress) {
  const Range area = dev.info().descriptors;
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

// ---------------------------------------------------------------------------------------------
// Both placements share the table logic (striped locks, generations, pins) and differ only in
// where a descriptor lives and how an update is committed.

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

using layout::DescriptorLogSlot;
using layout::PageDescriptor;

// Stripes of the per-page update locks: page p is guarded by stripes_[p % kLockStripes].
constexpr size_t kLockStripes = 256;
// A batch is committed in chunks of distinct pages that fit the log.
constexpr size_t kMaxChunk = layout::kDescriptorLogSlots;

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

// The table logic common to both placements.
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

  Status Set(uint64_t page, const PageInfo& info) override {
    const PageUpdate update{page, info};
    return SetBatch({&update, 1});
  }

  Status SetBatch(std::span<const PageUpdate> updates) override;
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
  // One update ready to commit: the new value of the descriptor at `at`.
  struct Pending {
    uint64_t page;
    PageDescriptor* at;
    PageDescriptor value;  // checksummed, pin_count 0
  };

  // Where the descriptor of `page` (< page_count_) lives.
  virtual PageDescriptor* At(uint64_t page) const = 0;
  // The generation of the next value of `page`, whose descriptor currently reads `current`.
  // Caller holds the page's stripe.
  virtual uint64_t NextGeneration(uint64_t /*page*/, const PageDescriptor& current) const {
    return current.generation + 1;
  }
  // Makes every chunk[i].value the descriptor of chunk[i].page. The pages are distinct, at most
  // kMaxChunk of them, and the caller holds all their stripes.
  virtual void Commit(std::span<const Pending> chunk) = 0;

 private:
  std::mutex& StripeFor(uint64_t page) const { return stripes_[page % kLockStripes]; }
  // The new value of `page` for `info`. Caller holds the page's stripe.
  Pending Prepare(uint64_t page, const PageInfo& info) const;

  const uint64_t page_count_;
  // stripes_[p % kLockStripes] serialises the updates of page p and keeps readers of its
  // persistent fields from seeing a half-written value (pin_count is atomic and needs no lock).
  // Several are taken in increasing index order; all before DeviceDescriptors::slots_mu_.
  mutable std::array<std::mutex, kLockStripes> stripes_;
};

StripedDescriptors::Pending StripedDescriptors::Prepare(uint64_t page,
                                                        const PageInfo& info) const {
  Pending p{page, At(page), {}};
  p.value.owner = info.owner;
  p.value.file_index = info.file_index;
  p.value.refcount = info.refcount;
  p.value.flags = info.flags;
  p.value.generation = NextGeneration(page, LoadFields(p.at));
  p.value.checksum = DescriptorChecksum(p.value);
  return p;
}

Status StripedDescriptors::SetBatch(std::span<const PageUpdate> updates) {
  for (const PageUpdate& u : updates)
    if (u.page >= page_count_) return PageOutOfRange(u.page, page_count_);

  std::vector<Pending> chunk;
  std::vector<size_t> stripes;
  for (size_t i = 0; i < updates.size();) {
    // The longest run from i of distinct pages that fits the log: a page updated twice in one
    // batch gets its second update in a later chunk, built on the first.
    size_t end = i;
    while (end < updates.size() && end - i < kMaxChunk &&
           std::none_of(updates.begin() + i, updates.begin() + end,
                        [&](const PageUpdate& u) { return u.page == updates[end].page; }))
      end++;

    // Lock the chunk's stripes in increasing index order, as every batch does.
    stripes.clear();
    for (size_t k = i; k < end; k++) stripes.push_back(updates[k].page % kLockStripes);
    std::sort(stripes.begin(), stripes.end());
    stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
    std::vector<std::unique_lock<std::mutex>> locks;
    locks.reserve(stripes.size());
    for (size_t s : stripes) locks.emplace_back(stripes_[s]);

    chunk.clear();
    for (size_t k = i; k < end; k++) chunk.push_back(Prepare(updates[k].page, updates[k].info));
    Commit(chunk);
    i = end;
  }
  return Status::Ok();
}

Result<uint32_t> StripedDescriptors::AddRef(uint64_t page, int32_t delta) {
  if (page >= page_count_) return PageOutOfRange(page, page_count_);
  std::lock_guard lock(StripeFor(page));
  PageInfo info = ToInfo(LoadFields(At(page)));
  const int64_t count = int64_t{info.refcount} + delta;
  if (count < 0 || count > int64_t{UINT32_MAX})
    return Status::InvalidArgument("page " + std::to_string(page) + ": reference count " +
                                   std::to_string(info.refcount) + " cannot change by " +
                                   std::to_string(delta));
  info.refcount = static_cast<uint32_t>(count);
  const Pending p = Prepare(page, info);
  Commit({&p, 1});
  return info.refcount;
}

// ---------------------------------------------------------------------------------------------
// kDevice: the table in the device's descriptor area, updated through the redo log.
//
// Commit order of one chunk (the crash argument):
//   1. write a log slot per update, one Drain   <- commit point: the new values are durable
//   2. write the descriptors in place, one Drain
//   3. release the slots
// A crash before 1 completes leaves every descriptor old (a torn slot fails its checksum); after
// 1, Open re-applies the logged values that are newer than the in-place descriptors. A slot is
// reused only after its descriptor is durable, so the log always holds the newest value of any
// descriptor whose in-place write may be incomplete.
class DeviceDescriptors final : public StripedDescriptors {
 public:
  // Checks the area header, recovers from the log, zeroes the pin counts.
  static Result<std::unique_ptr<DeviceDescriptors>> Open(Device& dev);

  DescriptorPlacement placement() const override { return DescriptorPlacement::kDevice; }

 private:
  DeviceDescriptors(Device& dev, uint64_t page_count);

  uint64_t DescriptorOffset(uint64_t page) const {
    return area_ + layout::kDescriptorTableOffset + page * sizeof(PageDescriptor);
  }
  uint64_t SlotOffset(uint32_t slot) const {
    return area_ + layout::kDescriptorLogOffset + uint64_t{slot} * sizeof(DescriptorLogSlot);
  }
  // A 64-byte aligned descriptor never crosses a segment boundary, so one At() pointer covers it.
  PageDescriptor* At(uint64_t page) const override {
    return reinterpret_cast<PageDescriptor*>(dev_.At(DescriptorOffset(page)));
  }
  uint64_t NextGeneration(uint64_t page, const PageDescriptor& current) const override;
  void Commit(std::span<const Pending> chunk) override;

  Status CheckHeader() const;
  // Re-applies logged values newer than their in-place descriptors (or replacing a torn one).
  // Idempotent: it only reads the log, so a crash during recovery is repaired by the next one.
  void Recover();
  void ClearPins();
  // Reads log slot `slot`; true when it holds a valid record.
  bool ReadSlot(uint32_t slot, DescriptorLogSlot* rec) const;
  // The highest generation the log holds for `page` (0: none).
  uint64_t LoggedGeneration(uint64_t page) const;

  // Takes `n` (<= kDescriptorLogSlots) free slots at once, waiting until there are; taking
  // them one by one could deadlock two batches that each hold half the log.
  std::vector<uint32_t> AcquireSlots(size_t n);
  void ReleaseSlots(const std::vector<uint32_t>& slots);

  Device& dev_;
  const uint64_t area_;  // device offset of the descriptor area
  std::atomic<uint64_t> next_sequence_{1};

  std::mutex slots_mu_;  // guards free_slots_; a leaf: taken after any stripes
  std::condition_variable slot_freed_;
  std::vector<uint32_t> free_slots_;
};

DeviceDescriptors::DeviceDescriptors(Device& dev, uint64_t page_count)
    : StripedDescriptors(page_count), dev_(dev), area_(dev.info().descriptors.offset) {
  for (uint32_t s = 0; s < layout::kDescriptorLogSlots; s++) free_slots_.push_back(s);
}

Result<std::unique_ptr<DeviceDescriptors>> DeviceDescriptors::Open(Device& dev) {
  if (dev.info().descriptors.empty())
    return Status::InvalidArgument("the device has no page-descriptor area");
  std::unique_ptr<DeviceDescriptors> d(new DeviceDescriptors(dev, dev.size() / layout::kPageSize));
  PMEMFS_RETURN_IF_ERROR(d->CheckHeader());
  d->Recover();
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

bool DeviceDescriptors::ReadSlot(uint32_t slot, DescriptorLogSlot* rec) const {
  dev_.Read(SlotOffset(slot), rec, sizeof *rec);
  return rec->sequence != 0 && rec->checksum == StructChecksum(*rec) &&
         rec->page < page_count() && rec->value.checksum == DescriptorChecksum(rec->value);
}

void DeviceDescriptors::Recover() {
  std::map<uint64_t, PageDescriptor> newest;  // page -> its logged value of highest generation
  uint64_t max_sequence = 0;
  for (uint32_t s = 0; s < layout::kDescriptorLogSlots; s++) {
    DescriptorLogSlot rec;
    if (!ReadSlot(s, &rec)) continue;
    max_sequence = std::max(max_sequence, rec.sequence);
    auto [it, inserted] = newest.try_emplace(rec.page, rec.value);
    if (!inserted && rec.value.generation > it->second.generation) it->second = rec.value;
  }
  for (const auto& [page, value] : newest) {
    PageDescriptor* at = At(page);
    const PageDescriptor current = LoadFields(at);
    if (DescriptorValid(current) && current.generation >= value.generation) continue;
    StoreFields(at, value);
    dev_.Persist(DescriptorOffset(page), sizeof(PageDescriptor));
  }
  next_sequence_ = max_sequence + 1;
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

uint64_t DeviceDescriptors::LoggedGeneration(uint64_t page) const {
  // Other threads may be writing slots meanwhile, but never one for `page` (the caller holds
  // its stripe); a record torn by such a write fails its checksum and is skipped.
  uint64_t generation = 0;
  for (uint32_t s = 0; s < layout::kDescriptorLogSlots; s++) {
    DescriptorLogSlot rec;
    if (ReadSlot(s, &rec) && rec.page == page)
      generation = std::max(generation, rec.value.generation);
  }
  return generation;
}

uint64_t DeviceDescriptors::NextGeneration(uint64_t page, const PageDescriptor& current) const {
  // Generations must keep rising past every logged value of the page, or a later recovery would
  // re-apply an old log record. A descriptor that fails its checksum (media damage) has no
  // trustworthy generation, so the log is asked too.
  if (DescriptorValid(current)) return current.generation + 1;
  return std::max(current.generation, LoggedGeneration(page)) + 1;
}

std::vector<uint32_t> DeviceDescriptors::AcquireSlots(size_t n) {
  std::unique_lock lock(slots_mu_);
  slot_freed_.wait(lock, [&] { return free_slots_.size() >= n; });
  std::vector<uint32_t> taken(free_slots_.end() - static_cast<ptrdiff_t>(n), free_slots_.end());
  free_slots_.resize(free_slots_.size() - n);
  return taken;
}

void DeviceDescriptors::ReleaseSlots(const std::vector<uint32_t>& slots) {
  {
    std::lock_guard lock(slots_mu_);
    free_slots_.insert(free_slots_.end(), slots.begin(), slots.end());
  }
  slot_freed_.notify_all();
}

void DeviceDescriptors::Commit(std::span<const Pending> chunk) {
  const std::vector<uint32_t> slots = AcquireSlots(chunk.size());
  for (size_t i = 0; i < chunk.size(); i++) {
    DescriptorLogSlot rec{};
    rec.page = chunk[i].page;
    rec.sequence = next_sequence_.fetch_add(1, std::memory_order_relaxed);
    rec.value = chunk[i].value;
    rec.checksum = StructChecksum(rec);
    dev_.CopyNoDrain(SlotOffset(slots[i]), &rec, sizeof rec);
  }
  dev_.Drain();  // commit point: the new values are durable in the log

  for (const Pending& p : chunk) {
    StoreFields(p.at, p.value);
    dev_.Flush(DescriptorOffset(p.page), sizeof(PageDescriptor));  // drained just below
  }
  dev_.Drain();  // the descriptors are durable in place: their slots may be reused
  ReleaseSlots(slots);
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
  void Commit(std::span<const Pending> chunk) override {
    for (const Pending& p : chunk) StoreFields(p.at, p.value);
  }

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
