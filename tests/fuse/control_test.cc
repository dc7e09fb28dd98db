// The control socket's transport (fs/fuse/control.h): a real Unix socket under /run/pmemfs,
// so these tests need root, as the daemon does.
#include "fs/fuse/control.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace pmemfs::fuse {
namespace {

std::string TestKey(const char* what) {
  return std::string("test-") + what + "-" + std::to_string(getpid());
}

TEST(ControlTest, ARequestGetsTheHandlersReplyLine) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (/run/pmemfs)";
  std::atomic<int> calls{0};
  auto srv = ControlServer::Start(TestKey("reply"), [&](const std::string& req) {
    calls++;
    return req == "info" ? std::string("ok a=1\tb=two words\tc=") : "error no";
  });
  ASSERT_TRUE(srv.ok()) << srv.status().message();
  const std::string path = ControlSocketPath(TestKey("reply"));
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 077, 0u) << "the socket is its owner's only";
  auto r = ControlRequest(path, "info");
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(InfoField(*r, "a"), "1");
  EXPECT_EQ(InfoField(*r, "b"), "two words");
  EXPECT_EQ(InfoField(*r, "c"), "");
  EXPECT_EQ(InfoField(*r, "d"), "");
  EXPECT_EQ(*ControlRequest(path, "other"), "error no");
  EXPECT_EQ(calls, 2);
  srv->reset();  // stops and removes the socket
  EXPECT_NE(stat(path.c_str(), &st), 0);
  EXPECT_EQ(ControlRequest(path, "info").status().code(), Code::kNotFound);
}

TEST(ControlTest, ADaemonThatDoesNotAnswerInTimeIsAnError) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (/run/pmemfs)";
  auto srv = ControlServer::Start(TestKey("slow"), [](const std::string&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    return std::string("ok late");
  });
  ASSERT_TRUE(srv.ok()) << srv.status().message();
  auto r = ControlRequest(ControlSocketPath(TestKey("slow")), "info", /*timeout_s=*/1);
  EXPECT_EQ(r.status().code(), Code::kIoError);
}

TEST(ControlTest, AStaleSocketIsReplaced) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (/run/pmemfs)";
  const std::string key = TestKey("stale");
  {
    auto first = ControlServer::Start(key, [](const std::string&) { return "ok first"; });
  }
  FILE* f = fopen(ControlSocketPath(key).c_str(), "w");  // what a killed daemon leaves
  ASSERT_NE(f, nullptr);
  fclose(f);
  auto srv = ControlServer::Start(key, [](const std::string&) { return "ok second"; });
  ASSERT_TRUE(srv.ok()) << srv.status().message();
  EXPECT_EQ(*ControlRequest(ControlSocketPath(key), "x"), "ok second");
}

TEST(ControlTest, DeviceKeyNamesThePartWhateverThePath) {
  char dir[] = "/tmp/pmemfs-control-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string part = std::string(dir) + "/part";
  FILE* f = fopen(part.c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  ASSERT_EQ(symlink(part.c_str(), (std::string(dir) + "/link").c_str()), 0);
  auto a = DeviceKey(part + ",/nonexistent-second-part");
  auto b = DeviceKey(std::string(dir) + "/./link");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(DeviceKey(std::string(dir) + "/missing").status().code(), Code::kNotFound);
  unlink((std::string(dir) + "/link").c_str());
  unlink(part.c_str());
  rmdir(dir);
}

TEST(ControlTest, MountInfoNamesAMountsDeviceAndItsMountPoint) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (mount)";
  char dir[] = "/tmp/pmemfs-control-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string before = MountedDevice(dir);
  ASSERT_EQ(mount("tmpfs", dir, "tmpfs", 0, "size=1M"), 0) << strerror(errno);
  struct stat st;
  ASSERT_EQ(stat(dir, &st), 0);
  const std::string dev = std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev));
  EXPECT_EQ(MountedDevice(dir), dev);
  EXPECT_EQ(MountPointOf(dev), dir);
  EXPECT_EQ(FindDaemonByMount(dir, dir).status().code(), Code::kNotFound);  // no daemon serves it
  ASSERT_EQ(umount(dir), 0);
  EXPECT_EQ(MountedDevice(dir), before);  // "": the directory is no mount point
  EXPECT_EQ(MountPointOf(dev), "");
  rmdir(dir);
}

TEST(ControlTest, ADirectoryThatIsNoMountHasNoDaemon) {
  EXPECT_EQ(FindDaemonByMount("/tmp", "/tmp").status().code(), Code::kNotFound);
}

}  // namespace
}  // namespace pmemfs::fuse
