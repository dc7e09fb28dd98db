#include "fs/fuse/daemon_control.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <sstream>

#include "fs/config/values.h"

namespace pmemfs::fuse {
namespace {

std::string Clean(std::string s) {
  for (char& c : s)
    if (c == '\t' || c == '\n') c = ' ';
  return s;
}

struct State {
  core::Filesystem* fs;
  DaemonDescription d;
  std::string dev;  // of the mount (mountinfo)
};

std::string Info(State& s) {
  if (s.dev.empty()) s.dev = MountedDevice(s.d.mountpoint);
  const DaemonDescription& d = s.d;
  std::ostringstream o;
  o << "ok dev=" << s.dev << "\tpid=" << getpid() << "\tdevice=" << Clean(d.device)
    << "\tmountpoint=" << Clean(d.mountpoint) << "\tro=" << (s.fs->read_only() ? 1 : 0)
    << "\tatime=" << config::AtimeName(s.fs->atime_policy()) << "\tsubtype=" << Clean(d.subtype)
    << "\tmode=" << d.mode << "\tram_dir=" << Clean(d.ram_dir) << "\tcache_size=" << d.cache_size
    << "\twriteback_ms=" << d.writeback_ms << "\tdescriptors=" << d.descriptors
    << "\twriteback_cache=" << (d.writeback_cache ? 1 : 0)
    << "\tpage_granularity=" << (d.page_granularity ? 1 : 0);
  return o.str();
}

std::string Remount(State& s, const std::string& args) {
  std::istringstream in(args);
  std::string word;
  std::optional<bool> ro;
  std::optional<core::AtimePolicy> atime;
  while (in >> word) {
    if (word == "ro=1" || word == "ro=0") {
      ro = word == "ro=1";
    } else if (word.rfind("atime=", 0) == 0) {
      Result<core::AtimePolicy> a = config::ParseAtime(word.substr(6));
      if (!a.ok()) return "error " + a.status().message();
      atime = *a;
    } else {
      return "error unknown remount argument '" + word + "'";
    }
  }
  if (atime) s.fs->SetAtimePolicy(*atime);
  if (ro && *ro != s.fs->read_only()) {
    Status st = s.fs->SetReadOnly(*ro);
    if (!st.ok()) {
      spdlog::error("remount {}: {}", *ro ? "read-only" : "read-write", st.message());
      return "error " + Clean(st.message());
    }
    spdlog::info("remounted {}", *ro ? "read-only: everything written back, filesystem marked clean"
                                     : "read-write");
  }
  return "ok";
}

}  // namespace

ControlServer::Handler DaemonControlHandler(core::Filesystem* fs, DaemonDescription d) {
  std::string dev = MountedDevice(d.mountpoint);
  auto state = std::make_shared<State>(State{fs, std::move(d), std::move(dev)});
  return [state](const std::string& request) -> std::string {
    if (request == "info") return Info(*state);
    if (request.rfind("remount", 0) == 0) return Remount(*state, request.substr(7));
    return "error unknown request '" + Clean(request) + "'";
  };
}

}  // namespace pmemfs::fuse
