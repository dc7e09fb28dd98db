// Sizes as users write them ("4096", "64K", "256M", "2G", "1T"): the one parser, shared by the
// daemon's config file and -o options (fs/config) and the tools (mkpmemfs, pmemfs-devinfo),
// which must not link fs/core to read a size. Header-only, like the rest of include/pmemfs.
#pragma once

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "pmemfs/status.h"

namespace pmemfs {

// A number of bytes, optionally followed by K, M, G or T (also "KiB"/"MiB"/..., "KB"-style and
// lower case: powers of 1024 in every spelling) or B. InvalidArgument naming the value on
// anything else or on overflow.
inline Result<uint64_t> ParseSize(std::string_view s) {
  auto invalid = [s](std::string_view expected) {
    std::string m = "'";  // built by appending: GCC 12 -O3 warns falsely (-Wrestrict) on "'" + s
    m.append(s).append("' is not ").append(expected);
    return Status::InvalidArgument(m);
  };
  constexpr std::string_view kExpected = "a size (bytes, or a number with K, M, G or T, e.g. 256M)";
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc::result_out_of_range) return invalid("a size that fits in 64 bits");
  if (ec != std::errc() || end == s.data()) return invalid(kExpected);
  std::string unit(end, s.data() + s.size());
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  unsigned shift = 0;
  if (!unit.empty() && unit != "b") {
    static constexpr std::string_view kLetters = "kmgt";
    const size_t i = kLetters.find(unit[0]);
    const std::string_view rest = std::string_view(unit).substr(1);
    if (i == std::string_view::npos || !(rest.empty() || rest == "b" || rest == "ib"))
      return invalid(kExpected);
    shift = 10 * static_cast<unsigned>(i + 1);
  }
  if (shift > 0 && v > (std::numeric_limits<uint64_t>::max() >> shift))
    return invalid("a size that fits in 64 bits");
  return v << shift;
}

}  // namespace pmemfs
