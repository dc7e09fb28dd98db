// fs/config: what the daemon mounts with, from the config file and the -o options.
//
//   ConfigFile cfg = LoadConfigFile("/etc/pmemfs.conf").value();  // or ParseConfig(text, name)
//   ResolvedOptions r = Resolve(&cfg, identity, mount_settings).value();
//   core::Filesystem::Mount(dev, r.mount); ... spdlog level from r.log_level
//
// The file is TOML (etc/pmemfs.conf is the commented example):
//
//   [defaults]                 settings for every device
//   mode = "direct"
//   [[device]]                 settings for the devices it matches; every selector given must
//   path = "/dev/dax0.0"       match: path (the device string as given, or one of its parts),
//   uuid = "..."               uuid (the device's set uuid) or label (the filesystem label)
//   mode = "pages"
//
// Settings (in [defaults] and [[device]]): mode (copy|direct|pages), cache_size (bytes or
// "256M"), writeback_ms, ram_dir, descriptors (device|dram), atime (relatime|noatime|
// strictatime), log_level. A wrong key, value or type is an InvalidArgument naming the file, the
// line and the key ("/etc/pmemfs.conf:12: key 'device.mode': ...").
//
// Precedence, per setting: mount option > the first [[device]] that matches > [defaults] >
// the superblock's default mode (mode only) > built-in defaults (core::MountOptions).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fs/config/values.h"
#include "fs/core/fs.h"
#include "mapping/access.h"
#include "pmemfs/status.h"

namespace pmemfs::config {

// One layer of settings; unset fields fall through to the next layer.
struct Settings {
  std::optional<mapping::Mode> mode;
  std::optional<uint64_t> cache_size;
  std::optional<uint32_t> writeback_ms;
  std::optional<std::string> ram_dir;
  std::optional<mapping::DescriptorPlacement> descriptors;
  std::optional<core::AtimePolicy> atime;
  std::optional<LogLevel> log_level;

  // Fields set in `over` replace ours.
  void Overlay(const Settings& over);
};

struct DeviceSection {
  std::string where;               // "FILE:LINE" of the [[device]] header, for messages
  std::vector<std::string> paths;  // `path`: a string or an array of strings
  std::optional<std::string> uuid;
  std::optional<std::string> label;
  Settings settings;
};

struct ConfigFile {
  std::string name;  // the file's path, "" for built-in defaults
  Settings defaults;
  std::vector<DeviceSection> devices;
};

// Parses TOML `text`; `name` is used in messages (the file's path).
Result<ConfigFile> ParseConfig(std::string_view text, const std::string& name);
// Reads and parses a file. InvalidArgument when it cannot be read.
Result<ConfigFile> LoadConfigFile(const std::string& path);

// What the device says about itself, for matching [[device]] sections.
struct DeviceIdentity {
  std::string spec;                 // the device string as given: "a,b"
  std::vector<std::string> parts;   // its parts
  std::string uuid;                 // the set uuid (mapping::UuidString)
  std::string label;                // the filesystem label ("" if none)
  mapping::Mode default_mode = mapping::Mode::kDirect;  // from the superblock
};

struct ResolvedOptions {
  core::MountOptions mount;
  LogLevel log_level = LogLevel::kInfo;
  // Where the mode came from ("mount option", "/etc/pmemfs.conf:12", "superblock"), for the log.
  std::string mode_source;
  // The matching [[device]] section ("FILE:LINE"), "" if none.
  std::string device_section;
};

// `config` may be null (no file). Checks the combination (cache_size) once resolved.
Result<ResolvedOptions> Resolve(const ConfigFile* config, const DeviceIdentity& device,
                                const Settings& mount_options);

// Does `section` select `device`? (Paths compare as given and, when both exist, by identity.)
bool Matches(const DeviceSection& section, const DeviceIdentity& device);

}  // namespace pmemfs::config
