// Invariants of fs/core's DRAM state that the code can check but not repair (a count that
// would go below zero: the kernel forgetting more lookups than it was given). The code goes on
// with a safe value and reports the breach here, so that it is loud where it can be:
//   - the default handler aborts in builds without NDEBUG, and in release builds writes one
//     line to stderr (the daemon's log) and goes on;
//   - tests install an aborting (or recording) handler, so a breach fails the test.
#pragma once

#include <cstdint>
#include <string_view>

namespace pmemfs::core {

using InvariantHandler = void (*)(std::string_view what);

// Reports a broken invariant to the current handler.
void InvariantFailed(std::string_view what);
// Replaces the handler (nullptr: the default); returns the previous one. Process-wide.
InvariantHandler SetInvariantHandler(InvariantHandler handler);
// Breaches reported since the process started (whatever the handler did).
uint64_t invariant_failures();

}  // namespace pmemfs::core
