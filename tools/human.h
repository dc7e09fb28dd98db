// Byte counts as people read them, for the tools' output.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace pmemfs::tools {

// 4096 -> "4.0 KiB", 1023 -> "1023 B".
inline std::string Human(uint64_t v) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double d = static_cast<double>(v);
  int u = 0;
  while (d >= 1024 && u < 4) {
    d /= 1024;
    u++;
  }
  char buf[32];
  snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", d, units[u]);
  return buf;
}

}  // namespace pmemfs::tools
