// Resolve: the precedence of settings layers, and matching [[device]] sections to a device.
#include <strings.h>

#include <filesystem>
#include <system_error>

#include "fs/config/config.h"

namespace pmemfs::config {
namespace {

// Same file? Paths as given first, then (when both exist) by device and inode.
bool SamePath(const std::string& a, const std::string& b) {
  if (a == b) return true;
  std::error_code ec1, ec2;
  bool same = std::filesystem::equivalent(a, b, ec1);
  return !ec1 && !ec2 && same;
}

bool MatchesPath(const std::string& path, const DeviceIdentity& device) {
  if (path == device.spec) return true;
  for (const std::string& part : device.parts)
    if (SamePath(path, part)) return true;
  return false;
}

}  // namespace

bool Matches(const DeviceSection& section, const DeviceIdentity& device) {
  if (!section.paths.empty()) {
    bool any = false;
    for (const std::string& p : section.paths) any = any || MatchesPath(p, device);
    if (!any) return false;
  }
  if (section.uuid && strcasecmp(section.uuid->c_str(), device.uuid.c_str()) != 0) return false;
  if (section.label && *section.label != device.label) return false;
  return true;
}

Result<ResolvedOptions> Resolve(const ConfigFile* config, const DeviceIdentity& device,
                                const Settings& mount_options) {
  ResolvedOptions r;
  Settings s;
  std::string mode_source = "superblock";
  if (config) {
    s.Overlay(config->defaults);
    if (config->defaults.mode) mode_source = config->name + " [defaults]";
    for (const DeviceSection& d : config->devices) {
      if (!Matches(d, device)) continue;
      s.Overlay(d.settings);
      r.device_section = d.where;
      if (d.settings.mode) mode_source = d.where + " [[device]]";
      break;  // the first matching section wins
    }
  }
  s.Overlay(mount_options);
  if (mount_options.mode) mode_source = "mount option";

  core::MountOptions& m = r.mount;
  m.mode = s.mode.value_or(device.default_mode);
  if (s.cache_size) m.cache_size = *s.cache_size;
  if (s.writeback_ms) m.writeback_ms = *s.writeback_ms;
  if (s.ram_dir) m.ram_dir = *s.ram_dir;
  if (s.descriptors) m.descriptors = *s.descriptors;
  if (s.atime) m.atime = *s.atime;
  if (s.log_level) r.log_level = *s.log_level;
  r.mode_source = mode_source;
  PMEMFS_RETURN_IF_ERROR(CheckCacheSize(m.cache_size));
  return r;
}

}  // namespace pmemfs::config
