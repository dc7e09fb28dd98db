#include "fs/config/config.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "mapping/device_set.h"

namespace pmemfs::config {
namespace {

using mapping::DescriptorPlacement;
using mapping::Mode;

ConfigFile Parse(std::string_view text) {
  Result<ConfigFile> c = ParseConfig(text, "test.conf");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? std::move(c).value() : ConfigFile{};
}

// The error of parsing `text`, which must fail.
std::string Error(std::string_view text) {
  Result<ConfigFile> c = ParseConfig(text, "test.conf");
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
  return c.status().message();
}

DeviceIdentity Device(std::string spec, std::string uuid = "", std::string label = "") {
  DeviceIdentity d;
  d.spec = spec;
  d.parts = mapping::SplitPartList(spec);
  d.uuid = std::move(uuid);
  d.label = std::move(label);
  return d;
}

TEST(ConfigTest, ParsesEveryKey) {
  ConfigFile c = Parse(R"(
[defaults]
mode = "copy"
cache_size = "256M"
writeback_ms = 2000
ram_dir = "scratch"
descriptors = "dram"
atime = "noatime"
log_level = "debug"

[[device]]
path = "/dev/dax0.0"
mode = "pages"
cache_size = 1048576

[[device]]
path = ["/a", "/b"]
uuid = "0123"
label = "fast"
atime = "strictatime"
ram_dir = ""
)");
  EXPECT_EQ(c.defaults.mode, Mode::kCopy);
  EXPECT_EQ(c.defaults.cache_size, 256ull << 20);
  EXPECT_EQ(c.defaults.writeback_ms, 2000u);
  EXPECT_EQ(c.defaults.ram_dir, "scratch");
  EXPECT_EQ(c.defaults.descriptors, DescriptorPlacement::kDram);
  EXPECT_EQ(c.defaults.atime, core::AtimePolicy::kNoatime);
  EXPECT_EQ(c.defaults.log_level, LogLevel::kDebug);
  ASSERT_EQ(c.devices.size(), 2u);
  EXPECT_EQ(c.devices[0].paths, std::vector<std::string>{"/dev/dax0.0"});
  EXPECT_EQ(c.devices[0].where, "test.conf:11");
  EXPECT_EQ(c.devices[0].settings.mode, Mode::kPages);
  EXPECT_EQ(c.devices[0].settings.cache_size, 1u << 20);
  EXPECT_EQ(c.devices[1].paths, (std::vector<std::string>{"/a", "/b"}));
  EXPECT_EQ(c.devices[1].uuid, "0123");
  EXPECT_EQ(c.devices[1].label, "fast");
  EXPECT_EQ(c.devices[1].settings.ram_dir, "");
}

TEST(ConfigTest, EmptyFileIsAllDefaults) {
  ConfigFile c = Parse("# nothing\n");
  EXPECT_FALSE(c.defaults.mode);
  EXPECT_TRUE(c.devices.empty());
}

TEST(ConfigTest, ShippedConfigParses) {
  Result<ConfigFile> c = LoadConfigFile(PMEMFS_SHIPPED_CONFIG);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_FALSE(c->devices.empty());
}

TEST(ConfigTest, UnknownKeyNamesFileLineAndKey) {
  EXPECT_EQ(Error("[defaults]\nmode = \"copy\"\ncache = 5\n"),
            "test.conf:3: key 'defaults.cache': unknown key (expected one of mode, cache_size, "
            "writeback_ms, ram_dir, descriptors, atime, log_level)");
  std::string e = Error("\n[[device]]\npath = \"/x\"\n\nspeed = 1\n");
  EXPECT_NE(e.find("test.conf:5: key 'device.speed': unknown key"), std::string::npos) << e;
  e = Error("[default]\nmode = \"copy\"\n");
  EXPECT_NE(e.find("test.conf:1: key 'default': unknown key or table"), std::string::npos) << e;
}

TEST(ConfigTest, WrongValueNamesFileLineAndKey) {
  std::string e = Error("[defaults]\n\nmode = \"fast\"\n");
  EXPECT_EQ(e, "test.conf:3: key 'defaults.mode': unknown mode 'fast' (expected copy, direct or "
               "pages)");
  e = Error("[[device]]\nlabel = \"x\"\ncache_size = \"12Q\"\n");
  EXPECT_NE(e.find("test.conf:3: key 'device.cache_size': '12Q' is not a size"),
            std::string::npos) << e;
  e = Error("[defaults]\ncache_size = 4096\n");
  EXPECT_NE(e.find("test.conf:2: key 'defaults.cache_size': cache size 4096 is too small"),
            std::string::npos) << e;
  e = Error("[defaults]\nwriteback_ms = -1\n");
  EXPECT_NE(e.find("test.conf:2: key 'defaults.writeback_ms'"), std::string::npos) << e;
  e = Error("[defaults]\nram_dir = \"a/b\"\n");
  EXPECT_NE(e.find("test.conf:2: key 'defaults.ram_dir'"), std::string::npos) << e;
  e = Error("[defaults]\natime = \"sometimes\"\n");
  EXPECT_NE(e.find("test.conf:2: key 'defaults.atime'"), std::string::npos) << e;
  e = Error("[defaults]\ndescriptors = \"disk\"\n");
  EXPECT_NE(e.find("test.conf:2: key 'defaults.descriptors'"), std::string::npos) << e;
  e = Error("[defaults]\nlog_level = \"loud\"\n");
  EXPECT_NE(e.find("test.conf:2: key 'defaults.log_level'"), std::string::npos) << e;
}

TEST(ConfigTest, WrongTypeNamesFileLineAndKey) {
  EXPECT_EQ(Error("[defaults]\nmode = 3\n"),
            "test.conf:2: key 'defaults.mode': expected a string (copy, direct or pages), got an "
            "integer");
  std::string e = Error("[defaults]\ncache_size = true\n");
  EXPECT_NE(e.find("test.conf:2: key 'defaults.cache_size': expected a size"), std::string::npos)
      << e;
  e = Error("[defaults]\nwriteback_ms = \"5s\"\n");
  EXPECT_NE(e.find("test.conf:2: key 'defaults.writeback_ms': expected an integer"),
            std::string::npos) << e;
  e = Error("[[device]]\npath = 7\n");
  EXPECT_NE(e.find("test.conf:2: key 'device.path': expected a string or an array"),
            std::string::npos) << e;
  e = Error("[[device]]\npath = [\"/a\", 1]\n");
  EXPECT_NE(e.find("test.conf:2: key 'device.path'"), std::string::npos) << e;
  e = Error("defaults = 1\n");
  EXPECT_NE(e.find("test.conf:1: key 'defaults': expected a table"), std::string::npos) << e;
  e = Error("[device]\npath = \"/a\"\n");
  EXPECT_NE(e.find("test.conf:1: key 'device': expected an array of tables"), std::string::npos)
      << e;
}

TEST(ConfigTest, SyntaxErrorNamesFileAndLine) {
  std::string e = Error("[defaults]\nmode = \n");
  EXPECT_EQ(e.rfind("test.conf:2:", 0), 0u) << e;
}

TEST(ConfigTest, DeviceWithoutSelectorIsAnError) {
  std::string e = Error("[[device]]\nmode = \"copy\"\n");
  EXPECT_NE(e.find("test.conf:1: [[device]] needs at least one of path, uuid or label"),
            std::string::npos) << e;
}

TEST(ConfigTest, MissingFileIsAnError) {
  Result<ConfigFile> c = LoadConfigFile("/nonexistent/pmemfs.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), "/nonexistent/pmemfs.conf: cannot read the config file");
}

TEST(ResolveTest, BuiltInDefaultsAndSuperblockMode) {
  DeviceIdentity d = Device("/x");
  d.default_mode = Mode::kPages;
  Result<ResolvedOptions> r = Resolve(nullptr, d, {});
  ASSERT_TRUE(r.ok());
  core::MountOptions def;
  EXPECT_EQ(r->mount.mode, Mode::kPages);
  EXPECT_EQ(r->mode_source, "superblock");
  EXPECT_EQ(r->mount.cache_size, def.cache_size);
  EXPECT_EQ(r->mount.writeback_ms, def.writeback_ms);
  EXPECT_EQ(r->mount.ram_dir, def.ram_dir);
  EXPECT_EQ(r->log_level, LogLevel::kInfo);
}

TEST(ResolveTest, Precedence) {
  ConfigFile c = Parse(R"(
[defaults]
mode = "copy"
cache_size = "1G"
writeback_ms = 100
log_level = "warn"

[[device]]
path = "/dev/dax0.0"
mode = "pages"
cache_size = "512M"
)");
  DeviceIdentity dax = Device("/dev/dax0.0");
  dax.default_mode = Mode::kDirect;
  Settings none;

  // defaults > superblock
  Result<ResolvedOptions> r = Resolve(&c, Device("/other"), none);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mount.mode, Mode::kCopy);
  EXPECT_EQ(r->mount.cache_size, 1ull << 30);
  EXPECT_EQ(r->log_level, LogLevel::kWarn);
  EXPECT_EQ(r->mode_source, "test.conf [defaults]");
  EXPECT_EQ(r->device_section, "");

  // device section > defaults
  r = Resolve(&c, dax, none);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mount.mode, Mode::kPages);
  EXPECT_EQ(r->mount.cache_size, 512ull << 20);
  EXPECT_EQ(r->mount.writeback_ms, 100u);  // from defaults, not overridden
  EXPECT_EQ(r->device_section, "test.conf:8");
  EXPECT_EQ(r->mode_source, "test.conf:8 [[device]]");

  // mount option > device section
  Settings opts;
  opts.mode = Mode::kDirect;
  opts.writeback_ms = 0;
  r = Resolve(&c, dax, opts);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mount.mode, Mode::kDirect);
  EXPECT_EQ(r->mount.cache_size, 512ull << 20);
  EXPECT_EQ(r->mount.writeback_ms, 0u);
  EXPECT_EQ(r->mode_source, "mount option");
}

TEST(ResolveTest, FirstMatchingSectionWins) {
  ConfigFile c = Parse(R"(
[[device]]
label = "fast"
mode = "pages"
[[device]]
uuid = "ABCDEF"
mode = "copy"
)");
  EXPECT_EQ(Resolve(&c, Device("/x", "abcdef", "fast"), {})->mount.mode, Mode::kPages);
  EXPECT_EQ(Resolve(&c, Device("/x", "abcdef", "slow"), {})->mount.mode, Mode::kCopy);
  EXPECT_EQ(Resolve(&c, Device("/x", "012345", "slow"), {})->mount.mode, Mode::kDirect);
}

TEST(ResolveTest, PathMatchesSpecOrAnyPartAndAllSelectorsMustMatch) {
  ConfigFile c = Parse(R"(
[[device]]
path = "/p1,/p2"
mode = "copy"
[[device]]
path = "/p3"
label = "x"
mode = "pages"
[[device]]
path = "/p3"
mode = "direct"
)");
  EXPECT_EQ(Resolve(&c, Device("/p1,/p2"), {})->mount.mode, Mode::kCopy);
  DeviceIdentity both = Device("/p4,/p3");
  both.default_mode = Mode::kCopy;
  EXPECT_EQ(Resolve(&c, both, {})->mount.mode, Mode::kDirect);  // label does not match
  both.label = "x";
  EXPECT_EQ(Resolve(&c, both, {})->mount.mode, Mode::kPages);
}

TEST(ResolveTest, PathMatchesTheSameFileByAnotherName) {
  char dir[] = "/tmp/pmemfs_config_testXXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string file = std::string(dir) + "/part";
  std::ofstream(file) << "x";
  ConfigFile c = Parse("[[device]]\npath = \"" + std::string(dir) + "/./part\"\nmode = \"copy\"\n");
  EXPECT_EQ(Resolve(&c, Device(file), {})->mount.mode, Mode::kCopy);
  std::remove(file.c_str());
  rmdir(dir);
}

TEST(ValuesTest, Sizes) {
  EXPECT_EQ(ParseSize("4096").value(), 4096u);
  EXPECT_EQ(ParseSize("64K").value(), 64u << 10);
  EXPECT_EQ(ParseSize("256M").value(), 256u << 20);
  EXPECT_EQ(ParseSize("256MiB").value(), 256u << 20);
  EXPECT_EQ(ParseSize("2g").value(), 2ull << 30);
  EXPECT_EQ(ParseSize("1TB").value(), 1ull << 40);
  EXPECT_FALSE(ParseSize("").ok());
  EXPECT_FALSE(ParseSize("M").ok());
  EXPECT_FALSE(ParseSize("-1").ok());
  EXPECT_FALSE(ParseSize("1 M").ok());
  EXPECT_FALSE(ParseSize("1X").ok());
  EXPECT_FALSE(ParseSize("99999999999T").ok());
}

TEST(ValuesTest, RamDir) {
  EXPECT_EQ(ParseRamDir("ram").value(), "ram");
  EXPECT_EQ(ParseRamDir("/ram").value(), "ram");
  EXPECT_EQ(ParseRamDir("").value(), "");
  EXPECT_FALSE(ParseRamDir("a/b").ok());
  EXPECT_FALSE(ParseRamDir("..").ok());
}

}  // namespace
}  // namespace pmemfs::config
