// MediaGuard: loads from mapped pmem that survive a poisoned line.
//
// A load from a poisoned pmem line (or from a mapping whose backing file shrank) raises SIGBUS.
// GuardedCopy installs, once per process, a SIGBUS handler that turns a fault inside a guarded
// copy on the faulting thread into an error return; faults anywhere else keep their previous
// disposition (the process dies as it would have). Costs one sigsetjmp (no syscall) per call.
#pragma once

#include <cstddef>
#include <cstdint>

#include "pmemfs/status.h"

namespace pmemfs::mapping {

// Copies `len` bytes from `src` (mapped pmem) to `dst` (DRAM). On SIGBUS returns an IoError
// naming `what` and the offset `base_offset + (bad - src)` of the first bad byte `bad`, to page
// granularity (the start of the first faulting page, or `src` when that page holds it).
Status GuardedCopy(void* dst, const void* src, size_t len, const char* what = "device",
                   uint64_t base_offset = 0);

}  // namespace pmemfs::mapping
