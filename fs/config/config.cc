// Parsing pmemfs.conf with toml++ into Settings layers. Every error names file:line and key.
#include "fs/config/config.h"

#include <fstream>
#include <sstream>

#define TOML_ENABLE_FORMATTERS 0
#include <toml++/toml.h>

namespace pmemfs::config {
namespace {

const char* TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    default: return "nothing";
  }
}

// Builds messages "FILE:LINE: key 'TABLE.KEY': WHAT".
class Reporter {
 public:
  explicit Reporter(const std::string& file) : file_(file) {}

  std::string Where(const toml::source_region& r) const {
    return file_ + ":" + std::to_string(r.begin.line);
  }
  Status Error(const toml::source_region& r, std::string_view key, std::string_view what) const {
    return Status::InvalidArgument(Where(r) + ": key '" + std::string(key) + "': " +
                                   std::string(what));
  }
  Status WrongType(const toml::node& n, std::string_view key, std::string_view expected) const {
    return Error(n.source(), key,
                 "expected " + std::string(expected) + ", got " + TypeName(n));
  }

 private:
  const std::string& file_;
};

// The string value of `n`, or a type error.
Result<std::string> String(const Reporter& rep, const toml::node& n, std::string_view key,
                           std::string_view expected) {
  if (const auto* s = n.as_string()) return s->get();
  return rep.WrongType(n, key, expected);
}

// A value parsed by `parse` from a string; errors carry file:line:key.
template <typename T, typename Parse>
Status ParseStringValue(const Reporter& rep, const toml::node& n, std::string_view key,
                        std::string_view expected, Parse parse, std::optional<T>* out) {
  PMEMFS_ASSIGN_OR_RETURN(std::string s, String(rep, n, key, expected));
  Result<T> v = parse(s);
  if (!v.ok()) return rep.Error(n.source(), key, v.status().message());
  *out = std::move(v).value();
  return Status::Ok();
}

// One settings key of [defaults] or [[device]]. NotFound when `name` is not a settings key.
Status ParseSetting(const Reporter& rep, std::string_view name, const toml::node& n,
                    const std::string& key, Settings* s) {
  if (name == "mode")
    return ParseStringValue(rep, n, key, "a string (copy, direct or pages)", mapping::ParseMode,
                            &s->mode);
  if (name == "cache_size") {
    constexpr std::string_view kExpected = "a size (an integer of bytes or a string like \"256M\")";
    uint64_t bytes;
    if (const auto* i = n.as_integer()) {
      if (i->get() < 0) return rep.Error(n.source(), key, "a size cannot be negative");
      bytes = static_cast<uint64_t>(i->get());
    } else if (const auto* str = n.as_string()) {
      Result<uint64_t> v = ParseSize(str->get());
      if (!v.ok()) return rep.Error(n.source(), key, v.status().message());
      bytes = *v;
    } else {
      return rep.WrongType(n, key, kExpected);
    }
    Status st = CheckCacheSize(bytes);
    if (!st.ok()) return rep.Error(n.source(), key, st.message());
    s->cache_size = bytes;
    return Status::Ok();
  }
  if (name == "writeback_ms") {
    const auto* i = n.as_integer();
    if (!i) return rep.WrongType(n, key, "an integer (milliseconds, 0: off)");
    if (i->get() < 0 || i->get() > int64_t{UINT32_MAX})
      return rep.Error(n.source(), key, "must be between 0 and 4294967295");
    s->writeback_ms = static_cast<uint32_t>(i->get());
    return Status::Ok();
  }
  if (name == "ram_dir")
    return ParseStringValue(rep, n, key, "a string (a directory name, \"\" for none)",
                            ParseRamDir, &s->ram_dir);
  if (name == "descriptors")
    return ParseStringValue(rep, n, key, "a string (device or dram)", ParseDescriptors,
                            &s->descriptors);
  if (name == "atime")
    return ParseStringValue(rep, n, key, "a string (relatime, noatime or strictatime)",
                            ParseAtime, &s->atime);
  if (name == "log_level")
    return ParseStringValue(rep, n, key, "a string (trace, debug, info, warn, error, critical, off)",
                            ParseLogLevel, &s->log_level);
  return Status::NotFound(key);
}

constexpr std::string_view kSettingKeys =
    "mode, cache_size, writeback_ms, ram_dir, descriptors, atime, log_level";

Status ParseDefaults(const Reporter& rep, const toml::node& n, Settings* out) {
  const toml::table* t = n.as_table();
  if (!t) return rep.WrongType(n, "defaults", "a table ([defaults])");
  for (auto&& [k, v] : *t) {
    std::string key = "defaults." + std::string(k.str());
    Status st = ParseSetting(rep, k.str(), v, key, out);
    if (st.code() == Code::kNotFound)
      return rep.Error(k.source(), key,
                       "unknown key (expected one of " + std::string(kSettingKeys) + ")");
    PMEMFS_RETURN_IF_ERROR(st);
  }
  return Status::Ok();
}

Status ParseDevice(const Reporter& rep, const toml::node& n, DeviceSection* out) {
  const toml::table* t = n.as_table();
  if (!t) return rep.WrongType(n, "device", "a table ([[device]])");
  out->where = rep.Where(t->source());
  for (auto&& [k, v] : *t) {
    std::string key = "device." + std::string(k.str());
    if (k.str() == "path") {
      if (const auto* s = v.as_string()) {
        out->paths.push_back(s->get());
      } else if (const auto* a = v.as_array()) {
        for (const toml::node& e : *a) {
          PMEMFS_ASSIGN_OR_RETURN(std::string p, String(rep, e, key, "a string (a path)"));
          out->paths.push_back(std::move(p));
        }
      } else {
        return rep.WrongType(v, key, "a string or an array of strings (paths)");
      }
      for (const std::string& p : out->paths)
        if (p.empty()) return rep.Error(v.source(), key, "a path cannot be empty");
      continue;
    }
    if (k.str() == "uuid" || k.str() == "label") {
      PMEMFS_ASSIGN_OR_RETURN(std::string s, String(rep, v, key, "a string"));
      (k.str() == "uuid" ? out->uuid : out->label) = std::move(s);
      continue;
    }
    Status st = ParseSetting(rep, k.str(), v, key, &out->settings);
    if (st.code() == Code::kNotFound)
      return rep.Error(k.source(), key,
                       "unknown key (expected path, uuid, label or one of " +
                           std::string(kSettingKeys) + ")");
    PMEMFS_RETURN_IF_ERROR(st);
  }
  if (out->paths.empty() && !out->uuid && !out->label)
    return Status::InvalidArgument(out->where +
                                   ": [[device]] needs at least one of path, uuid or label");
  return Status::Ok();
}

}  // namespace

void Settings::Overlay(const Settings& over) {
  if (over.mode) mode = over.mode;
  if (over.cache_size) cache_size = over.cache_size;
  if (over.writeback_ms) writeback_ms = over.writeback_ms;
  if (over.ram_dir) ram_dir = over.ram_dir;
  if (over.descriptors) descriptors = over.descriptors;
  if (over.atime) atime = over.atime;
  if (over.log_level) log_level = over.log_level;
}

Result<ConfigFile> ParseConfig(std::string_view text, const std::string& name) {
  ConfigFile cfg;
  cfg.name = name;
  Reporter rep(cfg.name);
  toml::table root;
  try {
    root = toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(name + ":" + std::to_string(e.source().begin.line) + ":" +
                                   std::to_string(e.source().begin.column) + ": " +
                                   std::string(e.description()));
  }
  for (auto&& [k, v] : root) {
    if (k.str() == "defaults") {
      PMEMFS_RETURN_IF_ERROR(ParseDefaults(rep, v, &cfg.defaults));
    } else if (k.str() == "device") {
      const toml::array* a = v.as_array();
      if (!a) return rep.WrongType(v, "device", "an array of tables ([[device]])");
      for (const toml::node& e : *a) {
        DeviceSection d;
        PMEMFS_RETURN_IF_ERROR(ParseDevice(rep, e, &d));
        cfg.devices.push_back(std::move(d));
      }
    } else {
      return rep.Error(k.source(), k.str(),
                       "unknown key or table (expected [defaults] or [[device]])");
    }
  }
  return cfg;
}

Result<ConfigFile> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::InvalidArgument(path + ": cannot read the config file");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::InvalidArgument(path + ": cannot read the config file");
  return ParseConfig(text.str(), path);
}

}  // namespace pmemfs::config
