#include "fs/fuse/daemon_control.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "fs/config/values.h"
#include "mapping/poison.h"

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
  const core::QuiesceGate::Stats p = s.fs->gate()->last();
  o << "\tpause_ns=" << p.closed_ns << "\tpause_waiters=" << p.waiters
    << "\tpause_longest_wait_ns=" << p.longest_wait_ns;
  return o.str();
}

// The switch waits this long for the requests in flight (a write of 1 MiB takes far less;
// a request waiting for a lease holder is bounded by the revocation timeout).
constexpr std::chrono::seconds kDrainTimeout{60};

Result<std::string> Unhex(const std::string& hex) {
  if (hex.size() % 2 != 0) return Status::InvalidArgument("label: odd hex length");
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    unsigned v = 0;
    if (std::sscanf(hex.c_str() + i, "%2x", &v) != 1 || !std::isxdigit(hex[i]) ||
        !std::isxdigit(hex[i + 1]))
      return Status::InvalidArgument("label: bad hex");
    out.push_back(static_cast<char>(v));
  }
  return out;
}

Result<uint64_t> Number(const std::string& key, const std::string& text) {
  if (text.empty() || text.size() > 19 ||
      text.find_first_not_of("0123456789") != std::string::npos)
    return Status::InvalidArgument(key + ": not a number: '" + text + "'");
  return std::stoull(text);
}

std::string Tune(State& s, const std::string& args) {
  std::istringstream in(args);
  std::string word;
  std::optional<std::string> label;
  std::optional<uint32_t> writeback_ms;
  core::Filesystem::AccessChange change;
  while (in >> word) {
    const size_t eq = word.find('=');
    const std::string key = word.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : word.substr(eq + 1);
    if (key == "label") {
      Result<std::string> l = Unhex(value);
      if (!l.ok()) return "error " + l.status().message();
      label = *l;
    } else if (key == "writeback_ms") {
      Result<uint64_t> n = Number(key, value);
      if (!n.ok()) return "error " + n.status().message();
      if (*n > UINT32_MAX) return "error writeback_ms: too large";
      writeback_ms = static_cast<uint32_t>(*n);
    } else if (key == "cache_size") {
      Result<uint64_t> n = Number(key, value);
      if (!n.ok()) return "error " + n.status().message();
      if (Status c = config::CheckCacheSize(*n); !c.ok()) return "error " + c.message();
      change.cache_size = *n;
    } else if (key == "mode") {
      Result<mapping::Mode> m = mapping::ParseMode(value);
      if (!m.ok()) return "error " + Clean(m.status().message());
      change.mode = *m;
    } else {
      return "error unknown tune argument '" + Clean(word) + "'";
    }
  }
  // Checked before anything changes: what only the switch itself can find out comes last.
  const mapping::Mode target = change.mode.value_or(s.fs->options().mode);
  if (change.cache_size && target != mapping::Mode::kCopy)
    return std::string("error the cache size is copy mode's; this mount would be in ") +
           mapping::ModeName(target) + " mode";
  if (label && s.fs->read_only()) return "error the filesystem is mounted read-only";
  std::vector<std::string> done;
  // The switch first: what it refuses (a lease holder, a cache that cannot be made, requests
  // that do not drain) leaves everything as it was, the label and the period too.
  if (change.mode || change.cache_size) {
    const std::string from = mapping::ModeName(s.fs->options().mode);
    const uint64_t from_cache = s.fs->options().cache_size;
    Status st = s.fs->ChangeAccess(change, kDrainTimeout);
    if (!st.ok()) {
      spdlog::error("online change refused: {}", st.message());
      return "error " + Clean(st.message());  // (before the label and period: nothing changed)
    }
    const core::QuiesceGate::Stats p = s.fs->gate()->last();
    s.d.mode = mapping::ModeName(s.fs->options().mode);
    s.d.cache_size = s.fs->options().cache_size;
    if (s.d.mode != from) done.push_back("mode " + from + " -> " + s.d.mode);
    if (s.fs->options().cache_size != from_cache)
      done.push_back("cache_size " + std::to_string(s.fs->options().cache_size));
    if (s.d.mode != from || s.fs->options().cache_size != from_cache) {
      done.push_back("pause_ns=" + std::to_string(p.closed_ns) +
                     " drain_ns=" + std::to_string(p.drain_ns));
      spdlog::info("online switch: {} (pmemfs-tune), paused {} us", s.d.mode,
                   p.closed_ns / 1000);
    }
  }
  if (label) {
    Status st = s.fs->SetLabel(core::Caller{}, *label);  // root's: the socket checked the peer
    if (!st.ok()) {
      std::string prefix;
      for (const std::string& d : done) prefix += d + " done; ";
      return "error " + Clean(prefix + "label: " + st.message());
    }
    done.push_back("label '" + Clean(*label) + "'");
    spdlog::info("label set to '{}' (pmemfs-tune)", *label);
  }
  if (writeback_ms) {
    s.fs->SetWritebackMs(*writeback_ms);
    s.d.writeback_ms = *writeback_ms;
    done.push_back("writeback_ms " + std::to_string(*writeback_ms));
    spdlog::info("write-back every {} ms from now on (pmemfs-tune)", *writeback_ms);
  }
  std::string text;
  for (const std::string& d : done) text += (text.empty() ? "" : "; ") + d;
  return text.empty() ? "ok nothing changed" : "ok " + text;
}

// "OFFSET:LENGTH", decimal bytes.
bool ParseRange(const std::string& s, uint64_t* off, uint64_t* len) {
  const size_t colon = s.find(':');
  if (colon == std::string::npos) return false;
  Result<uint64_t> a = Number("poison", s.substr(0, colon));
  Result<uint64_t> b = Number("poison", s.substr(colon + 1));
  if (!a.ok() || !b.ok()) return false;
  *off = *a;
  *len = *b;
  return true;
}

std::string ScrubStart(State& s, const std::string& args) {
  std::istringstream in(args);
  std::string word;
  std::vector<std::pair<uint64_t, uint64_t>> poison;
  while (in >> word) {
    if (word.rfind("poison=", 0) != 0) return "error unknown scrub argument '" + Clean(word) + "'";
    // Test only: a daemon started without PMEMFS_TEST_POISON=1 refuses it.
    const char* allowed = getenv("PMEMFS_TEST_POISON");
    if (allowed == nullptr || std::string(allowed) != "1")
      return "error test poison is not enabled in this daemon (PMEMFS_TEST_POISON=1)";
    std::istringstream list(word.substr(7));
    std::string range;
    while (std::getline(list, range, ',')) {
      uint64_t off = 0, len = 0;
      if (!ParseRange(range, &off, &len)) return "error poison: expected OFFSET:LENGTH";
      poison.push_back({off, len});
    }
  }
  for (auto [off, len] : poison) {
    Status st = mapping::SimulatePoison(s.fs->device(), off, len);
    if (!st.ok()) return "error poison: " + Clean(st.message());
    spdlog::warn("test poison: device range [{}, +{}) faults from now on", off, len);
  }
  Result<uint64_t> id = s.fs->StartScrub(s.d.device, kDrainTimeout);
  if (!id.ok()) return "error " + Clean(id.status().message());
  spdlog::info("scrub {} started (pmemfs-tune)", *id);
  return "ok id=" + std::to_string(*id);
}

std::string ScrubStatus(State& s, const std::string& args) {
  std::istringstream in(args);
  std::string word;
  uint64_t id = 0;
  while (in >> word) {
    Result<uint64_t> n = Number("id", word.rfind("id=", 0) == 0 ? word.substr(3) : word);
    if (word.rfind("id=", 0) != 0 || !n.ok())
      return "error unknown scrub argument '" + Clean(word) + "'";
    id = *n;
  }
  const core::Filesystem::ScrubStatus st = s.fs->scrub_status();
  if (st.id == 0) return "error no scrub was started";
  if (id != 0 && id != st.id)
    return "error scrub " + std::to_string(id) + " was followed by scrub " +
           std::to_string(st.id);
  if (st.running)
    return "ok running id=" + std::to_string(st.id) + " done=" + std::to_string(st.done) +
           " total=" + std::to_string(st.total);
  if (!st.error.ok()) return "error scrub: " + Clean(st.error.message());
  return "ok done " + store::EncodeScrubReport(st.report);
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
    if (request.rfind("remount", 0) == 0) {
      core::QuiesceGate::Pass pass(state->fs->gate());  // the flusher's work, as a request's
      return Remount(*state, request.substr(7));
    }
    if (request.rfind("tune", 0) == 0) return Tune(*state, request.substr(4));
    if (request.rfind("scrub start", 0) == 0) return ScrubStart(*state, request.substr(11));
    if (request.rfind("scrub status", 0) == 0) return ScrubStatus(*state, request.substr(12));
    return "error unknown request '" + Clean(request) + "'";
  };
}

}  // namespace pmemfs::fuse
