#include "tools/tune/online.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <string>

#include "fs/fuse/control.h"

namespace pmemfs::tune {
namespace {

// A switch waits for the requests in flight, the lease holders and the write-back of the cache.
constexpr int kSwitchTimeoutS = 600;

Status NotAllowed() {
  return Status::Permission("permission denied: only root or the mount's owner may change a "
                            "live mount");
}

// The daemon's answer to `request`: "ok ..." gives the text after "ok", "error M" gives M.
Result<std::string> Ask(const std::string& socket, const std::string& request,
                        const std::string& target, int timeout_s) {
  Result<std::string> reply = fuse::ControlRequest(socket, request, timeout_s);
  if (!reply.ok()) {
    if (std::strstr(reply.status().message().c_str(), strerror(EACCES)) != nullptr)
      return NotAllowed();
    return Status::IoError(target + ": the daemon does not answer: " + reply.status().message());
  }
  if (reply->rfind("ok", 0) == 0) return reply->size() > 3 ? reply->substr(3) : std::string();
  if (*reply == "error permission denied") return NotAllowed();
  const std::string why = reply->rfind("error ", 0) == 0 ? reply->substr(6) : *reply;
  return Status::Busy(target + ": " + why);
}

std::string Hex(const std::string& s) {
  std::string out;
  char b[3];
  for (unsigned char c : s) {
    std::snprintf(b, sizeof b, "%02x", c);
    out += b;
  }
  return out;
}

}  // namespace

Result<std::optional<std::string>> FindLiveDaemon(const std::string& target) {
  struct stat st;
  const bool dir = stat(target.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  // Daemons' sockets live in a directory only root may enter.
  if (access(fuse::kControlDir, X_OK) != 0 && errno == EACCES) return NotAllowed();
  if (dir) {
    char buf[PATH_MAX];
    if (!realpath(target.c_str(), buf))
      return Status::InvalidArgument(target + ": " + strerror(errno));
    Result<std::string> s = fuse::FindDaemonByMount(buf, "");
    if (!s.ok()) return Status::NotFound(target + ": not the mount point of a running pmemfs");
    return std::optional<std::string>(*s);
  }
  Result<std::string> key = fuse::DeviceKey(target);
  if (!key.ok()) return std::optional<std::string>();  // the offline path reports it
  const std::string path = fuse::ControlSocketPath(*key);
  Result<std::string> info = fuse::ControlRequest(path, "info");
  if (!info.ok()) {
    if (info.status().code() == Code::kNotFound) return std::optional<std::string>();
    if (std::strstr(info.status().message().c_str(), strerror(EACCES)) != nullptr)
      return NotAllowed();
    return std::optional<std::string>();  // a dead daemon's socket: not mounted
  }
  if (*info == "error permission denied") return NotAllowed();
  if (info->rfind("ok", 0) != 0) return std::optional<std::string>();
  return std::optional<std::string>(path);
}

Result<std::string> ApplyOnline(const std::string& socket, const std::string& target,
                                const OnlineChange& c) {
  std::string request = "tune";
  if (c.label) request += " label=" + Hex(*c.label);
  if (c.writeback_ms) request += " writeback_ms=" + std::to_string(*c.writeback_ms);
  if (c.cache_size) request += " cache_size=" + std::to_string(*c.cache_size);
  if (c.mode) request += std::string(" mode=") + mapping::ModeName(*c.mode);
  return Ask(socket, request, target, kSwitchTimeoutS);
}

Result<std::string> LiveInfo(const std::string& socket, const std::string& key) {
  PMEMFS_ASSIGN_OR_RETURN(std::string info, Ask(socket, "info", socket, fuse::kInfoTimeoutS));
  return fuse::InfoField("ok " + info, key);
}

}  // namespace pmemfs::tune
