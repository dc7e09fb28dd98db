// libFuzzer entry point of the mount-time parsing target (mount_target.h). Built with clang by
// scripts/fuzz; see tests/fuzz/README for the runs.
#include <cstddef>
#include <cstdint>

#include "mount_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return pmemfs::fuzz::FuzzMount(data, size);
}
