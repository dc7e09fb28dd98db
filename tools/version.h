// --version of the tools: the package version (PMEMFS_VERSION, set by tools/CMakeLists.txt from
// the CMake project) and the on-media format this build writes and reads.
#pragma once

#include <string>

#include "pmemfs/layout.h"

namespace pmemfs::tools {

// "mkpmemfs (pmemfs) 0.1.0, on-media format 1.0", for CLI::App::set_version_flag.
inline std::string VersionString(const std::string& tool) {
  return tool + " (pmemfs) " PMEMFS_VERSION ", on-media format " +
         std::to_string(layout::kMajorVersion) + "." + std::to_string(layout::kMinorVersion);
}

}  // namespace pmemfs::tools
