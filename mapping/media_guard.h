// MediaGuard: loads from mapped pmem that survive a poisoned line, and mappings that survive
// their files shrinking.
//
// A load from a poisoned pmem line (or from a mapping whose backing file shrank) raises SIGBUS.
// GuardedCopy installs, once per process, a SIGBUS handler that turns a fault inside a guarded
// copy on the faulting thread into an error return. Costs one sigsetjmp (no syscall) per call.
//
// A file that shrinks under its mapping (an image truncated while mounted: the user-space form
// of a pmem device going away) faults on every access past its new end: loads, stores, the
// non-temporal copies and cache flushes of libpmem2. Mappings registered as a MediaRegion do
// not kill the process then: a fault in a region whose files are now shorter than when they
// were mapped sets the region's `lost` flag and
//   - inside a guarded copy, is an IoError (as above);
//   - anywhere else, has the faulting page replaced by an anonymous zero page, so the access
//     completes (a store lands in DRAM and is lost, a load reads zeros); guarded copies and
//     GuardedProbe of a replaced page are IoErrors from then on.
// The owner of the flag (Device::Health) turns it into IoErrors for whatever must not report
// success. Faults anywhere else keep their previous disposition (the process dies as it would
// have).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "pmemfs/status.h"

namespace pmemfs::mapping {

// Copies `len` bytes from `src` (mapped pmem) to `dst` (DRAM). On SIGBUS (or a page replaced
// after its file shrank) returns an IoError naming `what` and the offset
// `base_offset + (bad - src)` of the first bad byte `bad`, to page granularity (the start of the
// first faulting page, or `src` when that page holds it). When `fault_offset` is given, that
// offset is also stored there on error (a scrub resumes after the bad page).
Status GuardedCopy(void* dst, const void* src, size_t len, const char* what = "device",
                   uint64_t base_offset = 0, uint64_t* fault_offset = nullptr);

// TEST ONLY: makes every load from the whole pages [p, p+len) (`p` and `len` page-aligned)
// raise SIGBUS, as a poisoned pmem line does, until the address range is unmapped: the pages
// are replaced by a mapping of an empty file (their contents are gone from this mapping; the
// file behind it is unchanged). Guarded copies of them fail as a media error; any other load
// kills the process as real poison would. InvalidArgument for an unaligned range, IoError when
// the mapping fails. See SimulatePoison (mapping/poison.h) for a device range.
Status PoisonPagesForTesting(void* p, size_t len);

// Loads one byte of every page of [p, p+len) under the guard: Ok when all of them are there
// (for ranges handed to the kernel to copy from, which would fail them with EFAULT), else the
// IoError GuardedCopy would return.
Status GuardedProbe(const void* p, size_t len, const char* what = "device",
                    uint64_t base_offset = 0);

// A registered range of address space mapping files that may shrink (see above). `files`: the
// file descriptors behind the range and each one's size when mapped (a devdax device, which
// cannot shrink, need not be listed). `lost` must outlive the registration; it is set (never
// cleared) from the SIGBUS handler. At most 1024 regions are registered at once; past that, a
// region is not protected (a shrink kills the process as before).
class MediaRegion {
 public:
  struct File {
    int fd;
    uint64_t size;
  };
  MediaRegion(const void* begin, size_t len, std::vector<File> files, std::atomic<bool>* lost);
  ~MediaRegion();
  MediaRegion(const MediaRegion&) = delete;
  MediaRegion& operator=(const MediaRegion&) = delete;

 private:
  int slot_ = -1;
};

}  // namespace pmemfs::mapping
