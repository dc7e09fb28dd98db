#include "fs/config/values.h"

#include <grp.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace pmemfs::config {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Status Invalid(std::string_view value, std::string_view expected) {
  std::string m = "'";  // built by appending: GCC 12 -O3 warns falsely (-Wrestrict) on "'" + s
  m.append(value).append("' is not ").append(expected);
  return Status::InvalidArgument(m);
}

}  // namespace

const char* LogLevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kTrace: return "trace";
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kCritical: return "critical";
    case LogLevel::kOff: return "off";
  }
  return "?";
}

Result<LogLevel> ParseLogLevel(std::string_view s) {
  std::string v = Lower(s);
  if (v == "trace") return LogLevel::kTrace;
  if (v == "debug") return LogLevel::kDebug;
  if (v == "info") return LogLevel::kInfo;
  if (v == "warn" || v == "warning") return LogLevel::kWarn;
  if (v == "error" || v == "err") return LogLevel::kError;
  if (v == "critical") return LogLevel::kCritical;
  if (v == "off") return LogLevel::kOff;
  return Invalid(s, "a log level (trace, debug, info, warn, error, critical or off)");
}

Status CheckCacheSize(uint64_t bytes) {
  if (bytes < kMinCacheSize)
    return Status::InvalidArgument("cache size " + std::to_string(bytes) +
                                   " is too small (at least 64K)");
  return Status::Ok();
}

Result<uint32_t> ParseMilliseconds(std::string_view s) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size())
    return Invalid(s, "a number of milliseconds (0 to 4294967295)");
  return v;
}

Result<std::string> ParseRamDir(std::string_view s) {
  if (!s.empty() && s.front() == '/') s.remove_prefix(1);
  if (s.find('/') != std::string_view::npos || s == "." || s == ".." || s.size() > 255 ||
      s.find('\0') != std::string_view::npos)
    return Invalid(s, "a directory name in the root of the mount (e.g. ram), or empty for none");
  return std::string(s);
}

Result<mapping::DescriptorPlacement> ParseDescriptors(std::string_view s) {
  if (s == "device") return mapping::DescriptorPlacement::kDevice;
  if (s == "dram") return mapping::DescriptorPlacement::kDram;
  return Invalid(s, "a descriptor placement (device or dram)");
}

const char* DescriptorsName(mapping::DescriptorPlacement d) {
  return d == mapping::DescriptorPlacement::kDram ? "dram" : "device";
}

Result<core::AtimePolicy> ParseAtime(std::string_view s) {
  if (s == "relatime") return core::AtimePolicy::kRelatime;
  if (s == "noatime") return core::AtimePolicy::kNoatime;
  if (s == "strictatime") return core::AtimePolicy::kStrictatime;
  return Invalid(s, "an atime policy (relatime, noatime or strictatime)");
}

const char* AtimeName(core::AtimePolicy a) {
  switch (a) {
    case core::AtimePolicy::kRelatime: return "relatime";
    case core::AtimePolicy::kNoatime: return "noatime";
    case core::AtimePolicy::kStrictatime: return "strictatime";
  }
  return "?";
}

Result<DirectAccess> ParseDirectAccess(std::string_view s) {
  if (s == "off") return DirectAccess{.kind = DirectAccess::kOff};
  if (s == "owner") return DirectAccess{.kind = DirectAccess::kOwner};
  if (s == "all") return DirectAccess{.kind = DirectAccess::kAll};
  if (s.substr(0, 6) == "group:" && s.size() > 6) {
    const std::string name(s.substr(6));
    if (group* g = getgrnam(name.c_str()))
      return DirectAccess{.kind = DirectAccess::kGroup, .gid = g->gr_gid, .group = name};
    uint32_t gid = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), gid);
    if (ec == std::errc() && end == name.data() + name.size())
      return DirectAccess{.kind = DirectAccess::kGroup, .gid = gid, .group = name};
    return Invalid(s, "group:NAME with NAME a group of this system (no group '" + name + "')");
  }
  return Invalid(s, "who may use direct access (off, owner, group:NAME or all)");
}

std::string DirectAccessName(const DirectAccess& d) {
  switch (d.kind) {
    case DirectAccess::kOff: return "off";
    case DirectAccess::kOwner: return "owner";
    case DirectAccess::kGroup: return "group:" + d.group;
    case DirectAccess::kAll: return "all";
  }
  return "?";
}

}  // namespace pmemfs::config
