// mkpmemfs's check before it destroys anything: does the device already hold a filesystem?
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mapping/part.h"

namespace pmemfs::tools {

// What the parts hold, as a phrase to follow the device's name ("holds a pmemfs filesystem
// (label 'x')", "holds an ext4 filesystem", ...); "" when nothing known is found. Looks at the
// pmemfs part label of every part and, on the first part, at the first 64 KiB (and btrfs's
// superblock at 64 KiB) for the magic numbers of common filesystems and volume formats.
std::string FindSignature(const std::vector<std::shared_ptr<mapping::Part>>& parts);

}  // namespace pmemfs::tools
