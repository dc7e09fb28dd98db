#include "fs/fuse/remount.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace pmemfs::fuse {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo (three octal digits).
std::string Unescape(const std::string& s) {
  auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) &&
        octal(s[i + 3])) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 +
                                      (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

struct Flag {
  const char* name;
  unsigned long set;
  unsigned long clear;
};
constexpr unsigned long kAtimeFlags = MS_NOATIME | MS_RELATIME | MS_STRICTATIME;
constexpr Flag kFlags[] = {
    {"ro", MS_RDONLY, 0},
    {"rw", 0, MS_RDONLY},
    {"nosuid", MS_NOSUID, 0},
    {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0},
    {"dev", 0, MS_NODEV},
    {"noexec", MS_NOEXEC, 0},
    {"exec", 0, MS_NOEXEC},
    {"noatime", MS_NOATIME, kAtimeFlags},
    {"atime", 0, MS_NOATIME},
    {"relatime", MS_RELATIME, kAtimeFlags},
    {"strictatime", MS_STRICTATIME, kAtimeFlags},
    {"norelatime", 0, MS_RELATIME},
    {"nostrictatime", 0, MS_STRICTATIME},
    {"nodiratime", MS_NODIRATIME, 0},
    {"diratime", 0, MS_NODIRATIME},
};

}  // namespace

bool IsPmemfsMount(const std::string& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint options [optional...] - fstype source superopts
    std::istringstream f(line);
    std::string field, point;
    for (int i = 0; i < 5 && f >> field; i++) point = field;
    while (f >> field && field != "-") {
    }
    std::string type;
    f >> type;
    if (Unescape(point) == mountpoint && type == "fuse.pmemfs") return true;
  }
  return false;
}

Status SetMountFlags(const std::string& mountpoint, const std::vector<std::string>& options,
                     FlagBase base) {
  unsigned long flags = base == FlagBase::kLibfuse ? MS_NOSUID | MS_NODEV : 0;
  for (const std::string& o : options) {
    for (const Flag& f : kFlags) {
      if (o != f.name) continue;
      flags = (flags & ~f.clear) | f.set;
    }
  }
  if (mount(nullptr, mountpoint.c_str(), nullptr, MS_REMOUNT | MS_BIND | flags, nullptr) != 0)
    return Status::IoError(mountpoint + ": cannot set the mount flags: " + strerror(errno));
  return Status::Ok();
}

}  // namespace pmemfs::fuse
