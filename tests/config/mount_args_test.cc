#include "fs/config/mount_args.h"

#include <gtest/gtest.h>

#include <initializer_list>

namespace pmemfs::config {
namespace {

Result<MountArgs> Parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv = {"pmemfs"};
  argv.insert(argv.end(), args.begin(), args.end());
  return ParseMountArgs(static_cast<int>(argv.size()), argv.data());
}

TEST(MountArgsTest, TheFormMountFuse3Uses) {
  Result<MountArgs> a =
      Parse({"/dev/shm/a,/dev/shm/b", "/mnt/pmemfs", "-o",
             "rw,nosuid,nodev,relatime,mode=copy,cache_size=64M,allow_other,x-systemd.automount"});
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->device, "/dev/shm/a,/dev/shm/b");
  EXPECT_EQ(a->mountpoint, "/mnt/pmemfs");
  EXPECT_FALSE(a->foreground);
  EXPECT_EQ(a->settings.mode, mapping::Mode::kCopy);
  EXPECT_EQ(a->settings.cache_size, 64u << 20);
  EXPECT_EQ(a->settings.atime, core::AtimePolicy::kRelatime);
  EXPECT_EQ(a->kernel_options,
            (std::vector<std::string>{"rw", "nosuid", "nodev", "allow_other"}));  // relatime: ours
}

TEST(MountArgsTest, OwnOptionsNeverReachLibfuse) {
  Result<MountArgs> a = Parse({"-f", "-oconfig=/etc/x.conf,ram_dir=tmp", "dev", "mnt", "-o",
                               "writeback_ms=0,descriptors=dram,log_level=debug,page_granularity"});
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_TRUE(a->foreground);
  EXPECT_EQ(a->config_path, "/etc/x.conf");
  EXPECT_EQ(a->settings.ram_dir, "tmp");
  EXPECT_EQ(a->settings.writeback_ms, 0u);
  EXPECT_EQ(a->settings.descriptors, mapping::DescriptorPlacement::kDram);
  EXPECT_EQ(a->settings.log_level, LogLevel::kDebug);
  EXPECT_TRUE(a->page_granularity);
  EXPECT_TRUE(a->kernel_options.empty());
}

TEST(MountArgsTest, DirectAccessPolicy) {
  Result<MountArgs> a = Parse({"dev", "mnt"});
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->direct_access.kind, DirectAccess::kOwner);  // the default
  for (const char* v : {"off", "owner", "all", "group:root", "group:0"}) {
    const std::string opt = std::string("direct_access=") + v;
    a = Parse({"dev", "mnt", "-o", opt.c_str()});
    ASSERT_TRUE(a.ok()) << v << ": " << a.status().message();
    EXPECT_EQ(DirectAccessName(a->direct_access), v);
    EXPECT_TRUE(a->kernel_options.empty());
  }
  a = Parse({"dev", "mnt", "-o", "direct_access=group:root"});
  EXPECT_EQ(a->direct_access.gid, 0u);
  for (const char* v : {"direct_access=yes", "direct_access=group:", "direct_access",
                        "direct_access=group:no-such-group-here"}) {
    a = Parse({"dev", "mnt", "-o", v});
    ASSERT_FALSE(a.ok()) << v;
    EXPECT_NE(a.status().message().find("direct_access"), std::string::npos) << a.status().message();
  }
}

TEST(MountArgsTest, IgnoredAndRecordedOptions) {
  Result<MountArgs> a =
      Parse({"d", "m", "-o", "defaults,noauto,nofail,_netdev,user,default_permissions,remount,ro,"
                             "fsname=mydev,noatime"});
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_TRUE(a->remount);
  EXPECT_TRUE(a->read_only);
  EXPECT_EQ(a->fsname, "mydev");
  EXPECT_EQ(a->settings.atime, core::AtimePolicy::kNoatime);
  EXPECT_EQ(a->kernel_options, (std::vector<std::string>{"ro", "noatime"}));
}

TEST(MountArgsTest, TheLastOfRoAndRwCounts) {
  Result<MountArgs> a = Parse({"d", "m", "-o", "ro,rw"});
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_FALSE(a->read_only);
  EXPECT_EQ(a->kernel_options, (std::vector<std::string>{"ro", "rw"}));
  a = Parse({"d", "m", "-o", "rw", "-o", "ro"});
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_TRUE(a->read_only);
}

TEST(MountArgsTest, RemountRepeatsWhatProcMountsShows) {
  Result<MountArgs> a = Parse({"/dev/shm/x", "/mnt", "-o",
                               "remount,rw,noatime,user_id=0,group_id=0,default_permissions,noexec"});
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_TRUE(a->remount);
  EXPECT_EQ(a->kernel_options, (std::vector<std::string>{"rw", "noatime", "noexec"}));
}

TEST(MountArgsTest, AtimeOptionsAreTheDaemonsNotLibfuses) {
  // libfuse 3.14 rejects these; the daemon keeps atime itself.
  for (const char* opt : {"relatime", "norelatime", "strictatime", "nostrictatime", "diratime",
                          "nodiratime", "lazytime", "nolazytime"}) {
    Result<MountArgs> a = Parse({"d", "m", "-o", opt});
    ASSERT_TRUE(a.ok()) << opt << ": " << a.status().message();
    EXPECT_TRUE(a->kernel_options.empty()) << opt;
  }
  EXPECT_EQ(Parse({"d", "m", "-o", "strictatime"})->settings.atime,
            core::AtimePolicy::kStrictatime);
  // ... and sets the per-mount flags itself once mounted.
  EXPECT_EQ(Parse({"d", "m", "-o", "strictatime,nodiratime,lazytime"})->mount_flags,
            (std::vector<std::string>{"strictatime", "nodiratime"}));
}

TEST(MountArgsTest, FlagOptionsKeepTheirOrder) {
  // What mount(8) hands the helper for `mount -o remount,noatime` of a relatime mount: the
  // mount's flags, then the new ones. The last atime option wins, for the kernel's flags too.
  Result<MountArgs> a =
      Parse({"/dev/shm/x", "/mnt", "-o", "remount,rw,nosuid,nodev,relatime,noatime"});
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->settings.atime, core::AtimePolicy::kNoatime);
  EXPECT_EQ(a->flag_options,
            (std::vector<std::string>{"rw", "nosuid", "nodev", "relatime", "noatime"}));
  a = Parse({"d", "m", "-o", "noatime,strictatime,user_id=0,mode=copy,nodiratime"});
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_EQ(a->settings.atime, core::AtimePolicy::kStrictatime);
  EXPECT_EQ(a->flag_options, (std::vector<std::string>{"noatime", "strictatime", "nodiratime"}));
}

TEST(MountArgsTest, FstypeFuseDropsTheSubtype) {
  EXPECT_FALSE(Parse({"d", "m"})->subtype.has_value());  // the daemon's default: pmemfs
  EXPECT_EQ(Parse({"d", "m", "-o", "fstype=fuse"})->subtype, "");
  EXPECT_EQ(Parse({"d", "m", "-o", "fstype=fuse.other"})->subtype, "other");
  EXPECT_EQ(Parse({"d", "m", "-o", "subtype=x"})->subtype, "x");
  EXPECT_TRUE(Parse({"d", "m", "-o", "fstype=fuse"})->kernel_options.empty());
  EXPECT_EQ(Parse({"d", "m", "-o", "fstype=ext4"}).status().message(),
            "option 'fstype=ext4': the type is fuse or fuse.NAME");
  EXPECT_EQ(Parse({"d", "m", "-o", "fstype=fuse."}).status().message(),
            "option 'fstype=fuse.': the type is fuse or fuse.NAME");
  EXPECT_FALSE(Parse({"d", "m", "-o", "subtype="}).ok());
}

TEST(MountArgsTest, ConfigNone) {
  EXPECT_EQ(Parse({"d", "m", "-o", "config=none"})->config_path, "");
  EXPECT_FALSE(Parse({"d", "m"})->config_path.has_value());
}

TEST(MountArgsTest, DebugImpliesForeground) {
  Result<MountArgs> a = Parse({"-d", "d", "m"});
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->debug);
  EXPECT_TRUE(a->foreground);
}

TEST(MountArgsTest, Errors) {
  EXPECT_EQ(Parse({"d", "m", "-o", "bogus"}).status().message(), "unknown mount option 'bogus'");
  EXPECT_EQ(Parse({"d", "m", "-o", "mode=fast"}).status().message(),
            "option 'mode=fast': unknown mode 'fast' (expected copy, direct or pages)");
  EXPECT_EQ(Parse({"d", "m", "-o", "mode"}).status().message(),
            "option 'mode' needs a value (mode=...)");
  EXPECT_NE(Parse({"d", "m", "-o", "cache_size=1K"}).status().message().find("too small"),
            std::string::npos);
  EXPECT_EQ(Parse({"d"}).status().message(), "missing MOUNTPOINT");
  EXPECT_EQ(Parse({}).status().message(), "missing DEVICE and MOUNTPOINT");
  EXPECT_EQ(Parse({"d", "m", "x"}).status().message(), "unexpected argument 'x'");
  EXPECT_EQ(Parse({"d", "m", "-x"}).status().message(), "unknown argument '-x'");
  EXPECT_EQ(Parse({"d", "m", "-o"}).status().message(), "option '-o' needs a value");
}

TEST(MountArgsTest, HelpNeedsNoPositionals) {
  EXPECT_TRUE(Parse({"--help"})->help);
  EXPECT_TRUE(Parse({"-V"})->version);
}

}  // namespace
}  // namespace pmemfs::config
