// Simulated media errors for tests: what a poisoned pmem range does to loads, on an emulated
// device that has no real poison.
//
//   SimulatePoison(dev, off, len);   // loads from those pages now raise SIGBUS
//
// The injectable bad-block list (BadBlocks::Inject) records ranges that are *known* bad; this
// makes pages fault without anyone knowing, as a line that went bad since the last scrub does,
// so that what reads through the media guard (pmemfs-tune --scrub) has something to find.
// Nothing is persistent: the pages of this process's mapping of the device are replaced (see
// PoisonPagesForTesting in media_guard.h) until the device is closed; other processes and the
// part files are unaffected. TEST ONLY.
#pragma once

#include <cstdint>

#include "mapping/device.h"
#include "pmemfs/status.h"

namespace pmemfs::mapping {

// Poisons the whole 4 KiB pages of `dev` that [off, off+len) touches, in every mapping the
// device reads them through (the linear reservation or the parts' own mappings).
// InvalidArgument when the range is outside the device.
Status SimulatePoison(const Device& dev, uint64_t off, uint64_t len);

}  // namespace pmemfs::mapping
