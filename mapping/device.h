// Device: parts assembled into one linear address space [0, size()).
//
// This is the seam the layers above program against. A Device is made by CreateDevice (writes
// the part labels: format time) or OpenDevice/AssembleDevice (reads and checks them), both in
// device_set.h. Every byte is reachable two ways:
//   - the linear path: all parts mapped into ONE libpmem2 VM reservation, so At(off) is valid up
//     to the end of the device (ContiguousBytes);
//   - the translated path: each part mapped once on its own and every access translated
//     (device offset -> part, part offset), split at part/chunk boundaries; used when the linear
//     path would need more mappings than vm.max_map_count allows.
// Both paths give the same bytes and the same persistence; the store and data paths use
// ForEachSegment/At/ContiguousBytes and never assume which one they got.
//
// Persistence: Flush, Drain, Persist, CopyNoDrain, SetNoDrain (and Write = copy + drain) are the
// project's only persistence primitives; each routes to the owning part's libpmem2 function (or
// the simulator's). Loads and plain stores through At() pointers are fine; a store is durable
// only after Flush+Drain (or Persist) of its range.
//
// Thread-safety: all methods may be called concurrently; bad_blocks() is internally locked.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mapping/bad_blocks.h"
#include "mapping/media_guard.h"
#include "mapping/part.h"
#include "pmemfs/layout.h"
#include "pmemfs/status.h"

struct pmem2_vm_reservation;
struct pmem2_map;

namespace pmemfs::mapping {

enum class AccessPath { kAuto, kLinear, kTranslated };
const char* AccessPathName(AccessPath p);

struct Range {
  uint64_t offset = 0;
  uint64_t length = 0;
  bool empty() const { return length == 0; }
  uint64_t end() const { return offset + length; }
};

// What the labels say about the assembled device.
struct DeviceInfo {
  layout::LayoutKind layout = layout::LayoutKind::kLinear;
  uint8_t set_uuid[16] = {};
  uint32_t part_count = 0;
  uint64_t chunk_size = 0;    // striped only
  uint64_t header_size = 0;   // per part
  uint64_t part_data_size = 0;  // striped: the same for every part
  uint64_t size = 0;
  Range ram;                  // RAM partition
  Range descriptors;          // page-descriptor area (empty: not reserved)
  // A set-uuid change (pmemfs-tune -U) a crash interrupted: the uuid being changed to (set_uuid
  // is the old one); all zero when none. SettleUuid (device_set.h) ends it.
  uint8_t pending_uuid[16] = {};
  bool uuid_change_pending() const {
    for (uint8_t b : pending_uuid)
      if (b) return true;
    return false;
  }
  // A change of the RAM partition or descriptor area (pmemfs-tune) a crash interrupted: `ram`
  // and `descriptors` are already the ranges it leaves (the old or the new ones, as the labels
  // say); SettleGeometry (device_set.h) rewrites the labels to them.
  bool geometry_change_pending = false;
  // Some label carries part_joining (pmemfs-tune --add-part not finished): only an assembly
  // that finishes it (AssembleOptions::finishing_add_part) gets here with it set.
  bool add_part_pending = false;
  // The store area: up to the RAM partition (its offset marks the end even when it is empty,
  // layout.h), else the descriptor area, else the end of the device.
  Range store() const {
    return {0, ram.offset != 0 ? ram.offset : (descriptors.empty() ? size : descriptors.offset)};
  }
};
std::string UuidString(const uint8_t uuid[16]);
std::string LayoutName(layout::LayoutKind k);

// A part's header page (label + bad-block tables) and its backup (label version 2): where the
// backup lives and which copies were intact when the device was opened. A device whose part
// has a damaged primary opened from the backup: the mount warns, pmemfs-fsck -y rewrites it
// (RewritePartHeaders in device_set.h).
struct PartHeaderState {
  uint64_t backup_offset = 0;  // part offset of the backup page; 0: none (a version-1 label)
  bool primary_ok = true;      // the label at part offset 0 is valid
  bool backup_ok = true;       // the backup label is valid and equal to the primary (or none)
};

// One contiguous piece of a device range.
struct Segment {
  std::byte* ptr;
  uint64_t offset;  // device offset of ptr
  uint64_t length;
};

class Device {
 public:
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  uint64_t size() const { return info_.size; }
  const DeviceInfo& info() const { return info_; }
  AccessPath access_path() const { return path_; }
  // Mappings this device holds (parts' own plus the linear reservation's).
  uint64_t mapping_count() const { return mapping_count_; }
  size_t part_count() const { return parts_.size(); }
  const Part& part(size_t i) const { return *parts_[i]; }
  // Some part was opened read-only (mapped PROT_READ): nothing may be written.
  bool read_only() const {
    for (const auto& p : parts_)
      if (p->read_only()) return true;
    return false;
  }
  Part& part(size_t i) { return *parts_[i]; }
  // Bytes of part i's data area that belong to the device.
  uint64_t part_data_size(size_t i) const;
  // The coarsest store granularity over all parts.
  Granularity granularity() const;
  const PartHeaderState& header_state(size_t i) const { return headers_[i]; }
  BadBlocks& bad_blocks() { return *bad_blocks_; }
  const BadBlocks& bad_blocks() const { return *bad_blocks_; }

  // Pointer to device offset `off` (< size()); valid for ContiguousBytes(off) bytes.
  std::byte* At(uint64_t off) const;
  uint64_t ContiguousBytes(uint64_t off) const;

  // Calls fn(Segment) for the contiguous pieces of [off, off+len), in order. `len` may be 0.
  template <typename Fn>
  void ForEachSegment(uint64_t off, uint64_t len, Fn&& fn) const {
    while (len > 0) {
      uint64_t n = ContiguousBytes(off);
      if (n > len) n = len;
      fn(Segment{At(off), off, n});
      off += n;
      len -= n;
    }
  }

  // Ok while every part is whole. Once a part's file was found shorter than when it was opened
  // (a fault past its new end, media_guard.h), an IoError saying so, for good: callers fail
  // what must not report success (a write, a commit, a sync) with it. One atomic load per part.
  Status Health() const;

  // Plain loads/stores (no flush; not media-error safe: see MediaGuard for that).
  void Read(uint64_t off, void* dst, uint64_t len) const;
  void Store(uint64_t off, const void* src, uint64_t len);

  // --- persistence primitives -------------------------------------------------------------
  // Starts write-back of [off, off+len); durable after the next Drain().
  void Flush(uint64_t off, uint64_t len);
  // Waits for all earlier flushes and non-temporal copies of this thread.
  void Drain();
  // Flush + Drain.
  void Persist(uint64_t off, uint64_t len);
  // Non-temporal copy/fill into the device, flushed; durable after the next Drain().
  void CopyNoDrain(uint64_t off, const void* src, uint64_t len);
  void SetNoDrain(uint64_t off, int c, uint64_t len);
  // CopyNoDrain + Drain: `src` is durable at `off` when this returns.
  void Write(uint64_t off, const void* src, uint64_t len);

  // Where device offset `off` lives: part index and part offset, and how many bytes from there
  // stay in the same part and chunk.
  struct Location {
    size_t part;
    uint64_t part_offset;
    uint64_t run;
  };
  Location Locate(uint64_t off) const;
  // The inverse: the device offset of byte `data_off` of part `part`'s data area.
  uint64_t ToDeviceOffset(size_t part, uint64_t data_off) const;

 private:
  friend class DeviceBuilder;
  friend Status RewritePartHeaders(Device& dev);
  friend Status AnnounceUuidChange(Device& dev, const uint8_t uuid[16]);
  friend Status SettleUuid(Device& dev, const uint8_t uuid[16]);
  friend Status ChangeGeometry(Device& dev, Range ram, Range descriptors);
  friend Status SettleGeometry(Device& dev);
  friend Status SettleJoin(Device& dev);
  Device() = default;
  Status MapLinear(const std::vector<uint64_t>& part_data, bool guard);

  DeviceInfo info_;
  AccessPath path_ = AccessPath::kLinear;
  std::vector<std::shared_ptr<Part>> parts_;
  std::vector<PartHeaderState> headers_;  // per part
  std::vector<uint64_t> starts_;  // linear layout: device offset of each part's data, + size
  unsigned chunk_shift_ = 0;      // striped layout
  pmem2_vm_reservation* reservation_ = nullptr;
  std::vector<pmem2_map*> linear_maps_;
  std::byte* linear_base_ = nullptr;
  uint64_t mapping_count_ = 0;
  std::unique_ptr<BadBlocks> bad_blocks_;
  std::atomic<bool> linear_lost_{false};          // a fault in the linear reservation
  std::unique_ptr<MediaRegion> linear_region_;    // the linear reservation, while mapped
};

}  // namespace pmemfs::mapping
