// fs/fuse/session: the command line the session gives libfuse, and the contract between the
// mount options fs/config passes on (MountArgs::kernel_options) and what libfuse 3.14 accepts:
// every common mount option must mount, none may make fuse_session_new refuse the session.
#include "fs/fuse/session.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fs/config/mount_args.h"

namespace pmemfs::fuse {
namespace {

using Args = std::vector<std::string>;

// Does libfuse create a session with `args`? (No mount: fuse_session_new only parses them.)
bool LibfuseAccepts(Args args) {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  fuse_args fargs = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  const fuse_lowlevel_ops ops{};
  fuse_session* se = fuse_session_new(&fargs, &ops, sizeof ops, nullptr);
  fuse_opt_free_args(&fargs);
  if (!se) return false;
  fuse_session_destroy(se);
  return true;
}

// What the daemon gives libfuse for `pmemfs DEV MNT -o options`.
Args ArgsFor(const std::string& options) {
  const char* argv[] = {"pmemfs", "/dev/shm/dev", "/mnt", "-o", options.c_str()};
  Result<config::MountArgs> m = config::ParseMountArgs(5, argv);
  EXPECT_TRUE(m.ok()) << options << ": " << m.status().message();
  if (!m.ok()) return {};
  return SessionArgs({.mountpoint = "/mnt",
                      .fsname = m->fsname.value_or(m->device),
                      .subtype = m->subtype.value_or("pmemfs"),
                      .kernel_options = m->kernel_options,
                      .debug = m->debug});
}

TEST(SessionArgsTest, DefaultPermissionsFsnameAndSubtype) {
  EXPECT_EQ(SessionArgs({.mountpoint = "/mnt", .fsname = "/dev/dax0.0"}),
            (Args{"pmemfs", "-o", "default_permissions", "-o", "fsname=/dev/dax0.0", "-o",
                  "subtype=pmemfs"}));
  // fstype=fuse: no subtype, the type is plain fuse.
  EXPECT_EQ(SessionArgs({.mountpoint = "/mnt", .fsname = "d", .subtype = ""}),
            (Args{"pmemfs", "-o", "default_permissions", "-o", "fsname=d"}));
  EXPECT_EQ(SessionArgs({.mountpoint = "/mnt", .fsname = "d", .kernel_options = {"ro", "noexec"},
                         .debug = true}),
            (Args{"pmemfs", "-o", "default_permissions", "-o", "fsname=d", "-o",
                  "subtype=pmemfs", "-o", "ro", "-o", "noexec", "-d"}));
}

// A multi-part device string has commas: unescaped, libfuse would read "fsname=/a" and an
// unknown option "/b".
TEST(SessionArgsTest, CommasAndBackslashesAreEscaped) {
  const Args a = SessionArgs({.mountpoint = "/mnt", .fsname = "/a,/b\\c", .subtype = "x,y",
                              .kernel_options = {"context=u:r,t"}});
  EXPECT_EQ(a[4], "fsname=/a\\,/b\\\\c");
  EXPECT_EQ(a[6], "subtype=x\\,y");
  EXPECT_EQ(a[8], "context=u:r\\,t");
  EXPECT_TRUE(LibfuseAccepts(a));
  EXPECT_FALSE(LibfuseAccepts({"pmemfs", "-o", "fsname=/a,/b"}));  // what escaping prevents
}

// The common mount options (DESIGN.md "Mounting like a real Linux filesystem") and what
// mount(8) and fstab add: the daemon takes all of them, and what it passes on libfuse takes.
TEST(SessionArgsTest, LibfuseTakesWhatTheDaemonPassesOn) {
  for (const char* options :
       {"rw", "ro", "rw,ro,rw", "nosuid,nodev,noexec", "suid,dev,exec", "sync,dirsync",
        "async", "atime", "noatime", "relatime", "norelatime", "strictatime",
        "nostrictatime", "diratime", "nodiratime", "lazytime", "allow_other",
        "default_permissions", "auto_unmount", "max_read=131072",
        "defaults,auto,noauto,user,nouser,users,nofail,_netdev,owner,x-systemd.automount,"
        "comment=x", "user_id=0,group_id=0,rootmode=40000,fd=3",
        "mode=pages,cache_size=64M,writeback_ms=10,ram_dir=ram,descriptors=dram,"
        "log_level=debug,page_granularity,fstype=fuse",
        "debug", "fsname=/dev/shm/x,subtype=other"}) {
    const Args a = ArgsFor(options);
    EXPECT_TRUE(!a.empty() && LibfuseAccepts(a)) << "-o " << options;
  }
}

// The check above can fail: libfuse refuses what it does not know, among them the atime
// options the daemon keeps for itself (MountArgs::mount_flags) and takes off the list.
TEST(SessionArgsTest, LibfuseRefusesUnknownOptions) {
  EXPECT_TRUE(LibfuseAccepts(SessionArgs({.mountpoint = "/mnt", .fsname = "d"})));
  for (const char* o : {"no_such_option", "relatime", "strictatime"}) {
    EXPECT_FALSE(LibfuseAccepts(
        SessionArgs({.mountpoint = "/mnt", .fsname = "d", .kernel_options = {o}})))
        << o;
  }
}

}  // namespace
}  // namespace pmemfs::fuse
