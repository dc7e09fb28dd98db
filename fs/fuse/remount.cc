#include "fs/fuse/remount.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>

namespace pmemfs::fuse {
namespace {

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

unsigned long MountFlags(const std::vector<std::string>& options, FlagBase base) {
  unsigned long flags = base == FlagBase::kLibfuse ? MS_NOSUID | MS_NODEV : 0;
  for (const std::string& o : options) {
    for (const Flag& f : kFlags) {
      if (o != f.name) continue;
      flags = (flags & ~f.clear) | f.set;
    }
  }
  return flags;
}

Status SetMountFlags(const std::string& mountpoint, const std::vector<std::string>& options,
                     FlagBase base, FlagScope scope) {
  const unsigned long flags =
      MountFlags(options, base) | MS_REMOUNT | (scope == FlagScope::kMount ? MS_BIND : 0);
  if (mount(nullptr, mountpoint.c_str(), nullptr, flags, nullptr) != 0) {
    std::string why = strerror(errno);
    if (errno == EBUSY && scope == FlagScope::kSuperblock && (flags & MS_RDONLY))
      why = "files are open for writing";
    return Status::IoError(mountpoint + ": cannot set the mount flags: " + why);
  }
  return Status::Ok();
}

}  // namespace pmemfs::fuse
