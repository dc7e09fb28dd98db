// File parts: opening, locking, granularity and persistence through libpmem2.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>

#include "mapping/part.h"
#include "test_support.h"

namespace pmemfs::mapping {
namespace {

using testing::TempFile;

TEST(PartFileTest, MissingPathIsNotFoundAndNamed) {
  auto r = OpenFilePart("/dev/shm/pmemfs-no-such-part", {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);
  EXPECT_NE(r.status().message().find("/dev/shm/pmemfs-no-such-part"), std::string::npos);
}

TEST(PartFileTest, DirectoryIsRefused) {
  auto r = OpenFilePart("/dev/shm", {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/dev/shm"), std::string::npos);
}

TEST(PartFileTest, EmptyOrUnalignedSizeIsRefused) {
  TempFile empty(0);
  auto r = OpenFilePart(empty.path(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("empty"), std::string::npos) << r.status().message();
  TempFile odd(4096 * 3 + 1);
  r = OpenFilePart(odd.path(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a multiple of its alignment"), std::string::npos)
      << r.status().message();
}

TEST(PartFileTest, GranularityDefaultsToPageAndCanBeForced) {
  TempFile f(1 << 20);
  auto page = OpenFilePart(f.path(), {});
  ASSERT_TRUE(page.ok()) << page.status().message();
  EXPECT_EQ((*page)->granularity(), Granularity::kPage);  // /dev/shm is not DAX: msync
  EXPECT_EQ((*page)->alignment(), 4096u);
  EXPECT_EQ((*page)->size(), 1u << 20);
  page->reset();
  auto line = OpenFilePart(f.path(), {.force_cache_line = true});
  ASSERT_TRUE(line.ok()) << line.status().message();
  EXPECT_EQ((*line)->granularity(), Granularity::kCacheLine);
  EXPECT_EQ(getenv("PMEM2_FORCE_GRANULARITY"), nullptr);  // the environment is restored
}

TEST(PartFileTest, SecondOpenerIsRefusedAsBusy) {
  TempFile f(1 << 20);
  auto first = OpenFilePart(f.path(), {});
  ASSERT_TRUE(first.ok());
  auto second = OpenFilePart(f.path(), {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kBusy);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos);
  first->reset();  // closing releases the lock
  EXPECT_TRUE(OpenFilePart(f.path(), {}).ok());
}

TEST(PartFileTest, AnotherProcessHoldingThePartIsRefused) {
  TempFile f(1 << 20);
  int ready[2], done[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(done), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto p = OpenFilePart(f.path(), {});
    char c = p.ok() ? 'y' : 'n';
    (void)!write(ready[1], &c, 1);
    (void)!read(done[0], &c, 1);
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  auto r = OpenFilePart(f.path(), {});
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kBusy);
  (void)!write(done[1], "x", 1);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(OpenFilePart(f.path(), {}).ok());
  for (int fd : {ready[0], ready[1], done[0], done[1]}) close(fd);
}

TEST(PartFileTest, WritesReachTheFile) {
  TempFile f(1 << 20);
  for (bool force : {false, true}) {
    auto p = OpenFilePart(f.path(), {.force_cache_line = force});
    ASSERT_TRUE(p.ok());
    const char msg[] = "hello pmem";
    (*p)->CopyNoDrain(8192, msg, sizeof msg);
    (*p)->SetNoDrain(12288, 'z', 10);
    std::memcpy((*p)->base() + 16384, msg, sizeof msg);
    (*p)->Flush(16384, sizeof msg);
    (*p)->Drain();
    int fd = open(f.path().c_str(), O_RDONLY);
    char buf[sizeof msg] = {};
    ASSERT_EQ(pread(fd, buf, sizeof msg, 8192), static_cast<ssize_t>(sizeof msg));
    EXPECT_STREQ(buf, msg);
    ASSERT_EQ(pread(fd, buf, sizeof msg, 16384), static_cast<ssize_t>(sizeof msg));
    EXPECT_STREQ(buf, msg);
    ASSERT_EQ(pread(fd, buf, 10, 12288), 10);
    EXPECT_EQ(std::string(buf, 10), std::string(10, 'z'));
    close(fd);
  }
}

TEST(PartFileTest, PlatformBadRangesOfAnEmulatedPartAreEmpty) {
  TempFile f(1 << 20);
  auto p = OpenFilePart(f.path(), {});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE((*p)->PlatformBadRanges().empty());
  EXPECT_TRUE((*p)->ClearPlatformBadRange(0, 4096).ok());
}

}  // namespace
}  // namespace pmemfs::mapping
