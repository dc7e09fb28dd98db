// fs/config values: the one parser for every setting's value, shared by the config file
// (config.h) and the -o mount options (mount_args.h), so both accept the same spellings and
// report the same errors. Each returns InvalidArgument with a message that names the value and
// what was expected; callers prefix where it came from (file:line and key, or the -o option).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "fs/core/fs.h"
#include "mapping/access.h"
#include "pmemfs/size.h"
#include "pmemfs/status.h"

namespace pmemfs::config {

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kCritical, kOff };
const char* LogLevelName(LogLevel l);
Result<LogLevel> ParseLogLevel(std::string_view s);

// Sizes ("256M"): pmemfs::ParseSize (pmemfs/size.h), the parser the tools share.
using ::pmemfs::ParseSize;
// Copy-mode cache: at least kMinCacheSize bytes.
inline constexpr uint64_t kMinCacheSize = 16 * 4096;
Status CheckCacheSize(uint64_t bytes);
// A non-negative integer that fits in 32 bits.
Result<uint32_t> ParseMilliseconds(std::string_view s);
// A single name in the root directory ("ram"; a leading '/' is accepted); "" means none.
Result<std::string> ParseRamDir(std::string_view s);
// "device" or "dram".
Result<mapping::DescriptorPlacement> ParseDescriptors(std::string_view s);
const char* DescriptorsName(mapping::DescriptorPlacement d);
// "relatime", "noatime" or "strictatime".
Result<core::AtimePolicy> ParseAtime(std::string_view s);
const char* AtimeName(core::AtimePolicy a);

// Who may read and write file data in the device directly (direct access, README): off; owner
// (root and the user the daemon runs as: the default); group:NAME (those and members of group
// NAME); all (every user who can open the files).
struct DirectAccess {
  enum Kind { kOff, kOwner, kGroup, kAll };
  Kind kind = kOwner;
  uint32_t gid = 0;   // kGroup
  std::string group;  // kGroup: the name given
};
// "off", "owner", "all", "group:NAME" (NAME a group of the system or a number).
Result<DirectAccess> ParseDirectAccess(std::string_view s);
std::string DirectAccessName(const DirectAccess& d);

}  // namespace pmemfs::config
