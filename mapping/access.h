// Access: how the layers above read and write file data on a Device, one strategy per mode.
//
//   direct  DAX-style. Reads are served from the mapping (ReadInPlace hands out pointers into
//           it, pinning the pages in a DRAM PinTable until the ReadRef is released); Write copies non-temporally into the device and drains before returning, so a
//           write is durable on return. No data cache.
//   copy    Double-buffered through a bounded DRAM cache of device pages (copy_cache.h): reads
//           and writes touch DRAM, the device is written on write-back (eviction, Sync,
//           SyncAll). Durable on Sync.
//   pages   direct, plus the page descriptors (page_descriptors.h) of every device page. Reads in
//           place pin the pages they hand out until the ReadRef is released.
// and one strategy that is not a mode, for the RAM partition (ram_access.h, OpenRamAccess):
//   RAM     plain loads and stores into the volatile range, never flushed; reads are copies.
//
// The layers above never name a mode to decide what to do: they ask the strategy
// (buffers_writes, persistent, CheckClientAccess, descriptors, pins). mode() is for display and
// for the online mode switch.
//
// Usual use:  auto acc = OpenAccess(dev, {.mode = Mode::kDirect});
//             acc->Write(off, bytes); acc->ReadInPlace(off, len, &ref); reply(ref.iov()); ...
//
// Media errors: every read checks the device's BadBlocks and copies under MediaGuard, so a bad
// range or a poisoned load is an IoError naming the range, never a crash. A write covering
// whole aligned pages clears their bad-block marks (once it has reached the device).
//
// Thread-safety: all methods may be called concurrently; callers order conflicting accesses to
// the same range themselves (as a filesystem does with its inode locks).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "mapping/device.h"
#include "pmemfs/layout.h"
#include "pmemfs/status.h"

namespace pmemfs::mapping {

class PageDescriptors;
class PinCounts;

enum class Mode { kCopy, kDirect, kPages };
const char* ModeName(Mode m);
Result<Mode> ParseMode(std::string_view s);
// The mode as the superblock stores it (Superblock::default_mode) and back: the one
// conversion, for the daemon and the tools. An unknown stored value reads as kDirect (the
// store refuses such a superblock before anyone asks).
layout::StoredMode ToStoredMode(Mode m);
Mode FromStoredMode(uint32_t stored);

enum class DescriptorPlacement {
  kDevice,  // in the device's descriptor area: persistent, costs no DRAM
  kDram,    // in DRAM, empty at open: the layers above rebuild it (for comparison)
};

struct AccessOptions {
  Mode mode = Mode::kDirect;
  uint64_t cache_size = 64ull << 20;  // copy: DRAM cache bytes (at least 16 pages)
  DescriptorPlacement descriptors = DescriptorPlacement::kDevice;  // pages
};

// The result of a read served in place: iovecs over mapped memory (or over a buffer it owns, in
// copy mode), valid until Release() or destruction. Direct and pages mode pin the device pages it
// covers until then, so they are not reused under the reader (pin_table.h). Move-only.
class ReadRef {
 public:
  ReadRef() = default;
  ~ReadRef() { Release(); }
  ReadRef(ReadRef&& o) noexcept { *this = std::move(o); }
  ReadRef& operator=(ReadRef&& o) noexcept;
  ReadRef(const ReadRef&) = delete;
  ReadRef& operator=(const ReadRef&) = delete;

  const std::vector<iovec>& iov() const { return iov_; }
  uint64_t length() const { return length_; }
  // Copies the bytes out (tests and callers that need a contiguous copy).
  std::vector<std::byte> ToBytes() const;
  // Drops the slices and the pins.
  void Release();

  // For Access implementations.
  void AddSlice(const void* p, size_t n);
  std::vector<std::byte>& owned_buffer() { return buffer_; }
  void OnRelease(std::function<void()> fn) { release_ = std::move(fn); }

 private:
  std::vector<iovec> iov_;
  uint64_t length_ = 0;
  std::vector<std::byte> buffer_;
  std::function<void()> release_;
};

class Access {
 public:
  virtual ~Access() = default;
  virtual Mode mode() const = 0;
  Device& device() const { return *dev_; }

  // Copies [off, off+len) into `dst`.
  virtual Status Read(uint64_t off, std::span<std::byte> dst) = 0;
  // The same bytes without a copy where the mode allows (direct, pages).
  virtual Status ReadInPlace(uint64_t off, uint64_t len, ReadRef* out) = 0;
  // direct/pages: durable when it returns. copy: buffered until Sync/SyncAll or eviction.
  virtual Status Write(uint64_t off, std::span<const std::byte> src) = 0;
  virtual Status Zero(uint64_t off, uint64_t len) = 0;
  // Makes everything written to [off, off+len) (or everything) durable.
  virtual Status Sync(uint64_t off, uint64_t len) = 0;
  virtual Status SyncAll() = 0;
  // Forgets any buffered copy of [off, off+len) without writing it back (the range was freed
  // or rewritten underneath). A no-op without a cache.
  virtual void Discard(uint64_t /*off*/, uint64_t /*len*/) {}
  // Pages mode: the descriptors. nullptr in the other modes.
  virtual PageDescriptors* descriptors() { return nullptr; }
  // The pins ReadInPlace takes (direct: a PinTable; pages: the descriptors); nullptr in copy
  // mode and for the RAM partition, whose reads are copies. Lives as long as this Access.
  virtual const PinCounts* pins() const { return nullptr; }

  // --- what the layers above ask instead of naming a mode ---------------------------------------
  // Writes wait in DRAM until Sync/SyncAll or eviction (copy): bytes that a commit makes visible
  // (a newly linked block, a grown size) must be Synced before that commit, and a file's fsync
  // must Sync its blocks. false: a write is on the device when it returns.
  virtual bool buffers_writes() const { return false; }
  // What is written survives a remount once Sync returns (false: the RAM partition, whose
  // contents are gone at every remount; nothing there is worth an fsync).
  virtual bool persistent() const { return true; }
  // Ok when a process holding the device's parts (direct access, client/) may load and store
  // this strategy's bytes itself, in place; else Unsupported saying why not (copy: the cache may
  // hold newer bytes than the device; RAM: its pages are not pinned against reuse).
  virtual Status CheckClientAccess() const { return Status::Ok(); }

 protected:
  explicit Access(Device* dev) : dev_(dev) {}
  // ReadInPlace for a strategy whose reads are copies (copy cache, RAM partition): Read into
  // out's own buffer. The caller checks the range first.
  Status ReadIntoOwnBuffer(uint64_t off, uint64_t len, ReadRef* out);
  Device* dev_;
};

// Opens the strategy for `opts.mode` over `dev` (which must outlive it). Pages mode on a device
// formatted without a descriptor area is an InvalidArgument saying so.
Result<std::unique_ptr<Access>> OpenAccess(Device& dev, const AccessOptions& opts);

}  // namespace pmemfs::mapping
