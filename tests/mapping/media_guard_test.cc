// MediaGuard: guarded copies turn a SIGBUS (here: a load from a mapping whose file shrank, the
// way a poisoned pmem line faults) into an IoError naming the offset, on any thread, as often
// as it happens; a SIGBUS anywhere else still kills the process. End to end: a Device on a file
// part that is truncated behind its back fails reads of the missing range instead of crashing.
#include "mapping/media_guard.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "mapping/access.h"
#include "mapping/device_set.h"
#include "mapping/poison.h"
#include "test_support.h"

namespace pmemfs::mapping {
namespace {

using testing::TempFile;

constexpr uint64_t P = layout::kPageSize;

::testing::AssertionResult Contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

std::vector<uint8_t> Pattern(uint64_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// A file under /dev/shm of `map_pages` pages of Pattern(.., 7), mapped with `flags`
// (MAP_SHARED or MAP_PRIVATE), then truncated to `file_pages`: loads from the pages past the new
// end raise SIGBUS.
class ShrunkMapping {
 public:
  ShrunkMapping(int flags, uint64_t map_pages, uint64_t file_pages)
      : file_(map_pages * P, "guard"), size_(map_pages * P) {
    int fd = open(file_.path().c_str(), O_RDWR);
    EXPECT_GE(fd, 0) << strerror(errno);
    auto pattern = Pattern(size_, 7);
    EXPECT_EQ(pwrite(fd, pattern.data(), size_, 0), static_cast<ssize_t>(size_));
    void* p = mmap(nullptr, size_, PROT_READ, flags, fd, 0);
    EXPECT_NE(p, MAP_FAILED) << strerror(errno);
    base_ = static_cast<const uint8_t*>(p);
    EXPECT_EQ(ftruncate(fd, static_cast<off_t>(file_pages * P)), 0) << strerror(errno);
    close(fd);
    // The mapping keeps the file; a death test's child, which re-runs this and dies without
    // destructors, must not leave it behind.
    unlink(file_.path().c_str());
  }
  ~ShrunkMapping() { munmap(const_cast<uint8_t*>(base_), size_); }
  const uint8_t* base() const { return base_; }

 private:
  TempFile file_;
  uint64_t size_;
  const uint8_t* base_ = nullptr;
};

// Parameter: how the shrinking file is mapped (MAP_SHARED or MAP_PRIVATE).
class MediaGuardTest : public ::testing::TestWithParam<int> {};

TEST_P(MediaGuardTest, CopiesMemoryThatIsThere) {
  for (uint64_t n : {0u, 1u, 63u, 4096u, 100000u}) {
    auto src = Pattern(n, static_cast<uint32_t>(n));
    std::vector<uint8_t> dst(n, 0xee);
    Status st = GuardedCopy(dst.data(), src.data(), n);
    ASSERT_TRUE(st.ok()) << st.message();
    EXPECT_EQ(dst, src) << n << " bytes";
  }
  ShrunkMapping m(GetParam(), 2, 1);
  std::vector<uint8_t> dst(P);
  Status st = GuardedCopy(dst.data(), m.base(), P);
  ASSERT_TRUE(st.ok()) << st.message();
  auto want = Pattern(2 * P, 7);
  EXPECT_TRUE(std::equal(dst.begin(), dst.end(), want.begin()));
}

TEST_P(MediaGuardTest, SigbusInGuardedCopyIsAnIoErrorNamingTheOffset) {
  ShrunkMapping m(GetParam(), 2, 1);
  std::vector<uint8_t> dst(P);
  Status st = GuardedCopy(dst.data(), m.base() + P, P, "test-part", 1000000);
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_TRUE(Contains(st.message(), "media error"));
  EXPECT_TRUE(Contains(st.message(), "test-part at offset 1000000"));
  // Still alive, and the first page still reads.
  auto want = Pattern(2 * P, 7);
  st = GuardedCopy(dst.data(), m.base(), P, "test-part", 0);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(0, std::memcmp(dst.data(), want.data(), P));
}

TEST_P(MediaGuardTest, OffsetIsTheFirstMissingByteWhateverTheCopySize) {
  // 3 mapped pages, 1 left in the file. memcpy loads some sizes tail first; the offset must
  // still be that of the first missing byte, P.
  ShrunkMapping m(GetParam(), 3, 1);
  std::vector<uint8_t> dst(3 * P);
  for (uint64_t len : {16u, 100u, 300u, 600u, 1000u, 2000u, 3000u, 5000u, 8000u}) {
    for (uint64_t good : {uint64_t{8}, uint64_t{200}, len / 2}) {  // bytes before the hole
      if (good >= len) continue;
      Status st = GuardedCopy(dst.data(), m.base() + P - good, len, "dev", 5000);
      EXPECT_EQ(st.code(), Code::kIoError);
      EXPECT_TRUE(Contains(st.message(), "dev at offset " + std::to_string(5000 + good)))
          << "copy of " << len << " bytes, " << good << " of them good";
    }
  }
  // A copy starting inside the missing page names its own first byte.
  Status st = GuardedCopy(dst.data(), m.base() + P + 100, 2 * P - 100, "dev", 7);
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_TRUE(Contains(st.message(), "dev at offset 7"));
}

TEST_P(MediaGuardTest, SecondFaultOnTheSameThreadIsCaughtToo) {
  ShrunkMapping m(GetParam(), 2, 1);
  std::vector<uint8_t> dst(P);
  for (int i = 0; i < 5; i++) {
    Status st = GuardedCopy(dst.data(), m.base() + P + 8, 64, "again", 8);
    EXPECT_EQ(st.code(), Code::kIoError) << "fault #" << i;
    EXPECT_TRUE(Contains(st.message(), "again at offset 8"));
    st = GuardedCopy(dst.data(), m.base(), 64);
    EXPECT_TRUE(st.ok()) << st.message();
  }
}

TEST_P(MediaGuardTest, FaultsOnTwoThreadsAtOnce) {
  ShrunkMapping m(GetParam(), 2, 1);
  const auto want = Pattern(P, 7);
  std::atomic<int> caught{0}, copied{0}, wrong{0};
  auto worker = [&](int id) {
    std::vector<uint8_t> dst(P);
    const std::string what = "thread" + std::to_string(id);
    for (int i = 0; i < 200; i++) {
      Status st = GuardedCopy(dst.data(), m.base() + P, P, what.c_str(), 100 * id);
      if (st.code() == Code::kIoError &&
          st.message().find(what + " at offset " + std::to_string(100 * id)) != std::string::npos)
        caught++;
      else
        wrong++;
      st = GuardedCopy(dst.data(), m.base(), P, what.c_str());
      if (st.ok() && std::memcmp(dst.data(), want.data(), P) == 0) copied++;
    }
  };
  std::thread a(worker, 1), b(worker, 2);
  a.join();
  b.join();
  EXPECT_EQ(caught.load(), 400);
  EXPECT_EQ(copied.load(), 400);
  EXPECT_EQ(wrong.load(), 0);
}

// Death tests fork; "threadsafe" re-runs only this test in the child, so the child starts
// without the handler and installs it with its own first guarded copy.
class MediaGuardDeathTest : public MediaGuardTest {};

TEST_P(MediaGuardDeathTest, SigbusOutsideAGuardedCopyStillKills) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ShrunkMapping m(GetParam(), 2, 1);
  EXPECT_EXIT(
      {
        // The default disposition for MediaGuard to find (a sanitizer may have its own).
        signal(SIGBUS, SIG_DFL);
        std::vector<uint8_t> dst(P);
        for (int i = 0; i < 2; i++)  // installs the handler, and uses it
          if (GuardedCopy(dst.data(), m.base() + P, P).code() != Code::kIoError) _exit(3);
        const volatile uint8_t* bad = m.base() + P;
        uint8_t v = *bad;  // unguarded: must not be swallowed
        _exit(v == 0 ? 4 : 5);
      },
      ::testing::KilledBySignal(SIGBUS), "");
}

void ExitingHandler(int) { _exit(42); }

TEST_P(MediaGuardDeathTest, AnEarlierHandlerStillSeesUnguardedFaults) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  ShrunkMapping m(GetParam(), 2, 1);
  EXPECT_EXIT(
      {
        // In the child, before the first guarded copy installs MediaGuard's handler.
        struct sigaction sa {};
        sa.sa_handler = ExitingHandler;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGBUS, &sa, nullptr);
        std::vector<uint8_t> dst(P);
        if (GuardedCopy(dst.data(), m.base() + P, P).code() != Code::kIoError) _exit(3);
        const volatile uint8_t* bad = m.base() + P;
        uint8_t v = *bad;
        _exit(v == 0 ? 4 : 5);
      },
      ::testing::ExitedWithCode(42), "");
}

std::string MapFlagsName(const ::testing::TestParamInfo<int>& info) {
  return info.param == MAP_SHARED ? "Shared" : "Private";
}
INSTANTIATE_TEST_SUITE_P(media_guard, MediaGuardTest, ::testing::Values(MAP_SHARED, MAP_PRIVATE),
                         MapFlagsName);
INSTANTIATE_TEST_SUITE_P(media_guard, MediaGuardDeathTest,
                         ::testing::Values(MAP_SHARED, MAP_PRIVATE), MapFlagsName);

// --- end to end: a Device whose part file shrinks under it ----------------------------------

// One part file of kPartSize bytes under /dev/shm (flushed a cache line at a time), made a
// device through the test's access path; Truncate cuts the file to kCut bytes behind its back.
class TruncatedPartTest : public ::testing::TestWithParam<AccessPath> {
 protected:
  static constexpr uint64_t kPartSize = 8ull << 20;
  static constexpr uint64_t kCut = kPartSize / 2;  // part offset of the new end

  // Formats a device on `file` (a TempFile of kPartSize bytes).
  void Create(const TempFile& file) {
    auto parts = OpenFileParts({file.path()}, popts_);
    ASSERT_TRUE(parts.ok()) << parts.status().message();
    auto created = CreateDevice(std::move(parts).value(), {}, {.path = GetParam()});
    ASSERT_TRUE(created.ok()) << created.status().message();
  }
  // Opens the device on `file` again.
  Result<std::unique_ptr<Device>> OpenAgain(const TempFile& file) {
    return OpenDevice({file.path()}, popts_, {.path = GetParam()});
  }
  // Creates and opens the device on `file` (dev_), and an access strategy of `options` over it
  // (acc_). Call under ASSERT_NO_FATAL_FAILURE.
  void CreateAndOpen(const TempFile& file, AccessOptions options) {
    ASSERT_NO_FATAL_FAILURE(Create(file));
    auto opened = OpenAgain(file);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    dev_ = std::move(opened).value();
    auto acc = OpenAccess(*dev_, options);
    ASSERT_TRUE(acc.ok()) << acc.status().message();
    acc_ = std::move(acc).value();
  }
  // The device offset of the first byte Truncate cuts off.
  uint64_t FirstMissing() const { return kCut - dev_->info().header_size; }
  // Cuts `file` to kCut bytes (the device is not told).
  static void Truncate(const TempFile& file) {
    int fd = open(file.path().c_str(), O_RDWR);
    ASSERT_GE(fd, 0) << strerror(errno);
    ASSERT_EQ(ftruncate(fd, static_cast<off_t>(kCut)), 0) << strerror(errno);
    close(fd);
  }

  std::unique_ptr<Device> dev_;
  std::unique_ptr<Access> acc_;  // over dev_ (so destroyed first)

 private:
  const PartOpenOptions popts_{.force_cache_line = true};
};

TEST_P(TruncatedPartTest, ReadOfTheMissingRangeIsAnIoError) {
  TempFile file(kPartSize, "e2e");
  ASSERT_NO_FATAL_FAILURE(CreateAndOpen(file, {.mode = Mode::kDirect}));
  ASSERT_EQ(dev_->access_path(), GetParam());
  Access& acc = *acc_;
  const uint64_t first_missing = FirstMissing();
  auto data = Pattern(6 * P, 3);
  // Before the truncation: data on both sides of the cut.
  ASSERT_TRUE(acc.Write(first_missing - 3 * P, std::as_bytes(std::span(data))).ok());

  ASSERT_NO_FATAL_FAILURE(Truncate(file));

  std::vector<std::byte> buf(4 * P);
  // Wholly missing.
  Status st = acc.Read(first_missing + P, std::span(buf).first(2 * P));
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_TRUE(
      Contains(st.message(), "reading device at offset " + std::to_string(first_missing + P)));
  // Starting in the part that is still there.
  st = acc.Read(first_missing - 2 * P, std::span(buf).first(4 * P));
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_TRUE(Contains(st.message(), "reading device at offset " + std::to_string(first_missing)));
  // What is still there reads back (the process is alive and the device usable).
  st = acc.Read(first_missing - 3 * P, std::span(buf).first(3 * P));
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(0, std::memcmp(buf.data(), data.data(), 3 * P));
}

// The issue's recipe at the mapping level: data written, the part file truncated behind the
// device's back, written again. Stores, non-temporal copies and flushes past the new end do not
// kill the process (they land on replacement pages); the write and everything that must not
// report success after it fail with an IoError saying the device shrank; reads of what is gone
// (also of pages a write "filled" since) fail; what is still there reads back; the device
// closes cleanly.
TEST_P(TruncatedPartTest, WritesPastTheNewEndAreIoErrorsAndTheProcessLives) {
  TempFile file(kPartSize, "e2e-write");
  ASSERT_NO_FATAL_FAILURE(CreateAndOpen(file, {.mode = Mode::kDirect}));
  Access& acc = *acc_;
  const uint64_t first_missing = FirstMissing();
  auto data = Pattern(4 * P, 9);
  auto bytes = std::as_bytes(std::span(data));
  ASSERT_TRUE(acc.Write(first_missing - 2 * P, bytes).ok());

  ASSERT_NO_FATAL_FAILURE(Truncate(file));
  EXPECT_TRUE(dev_->Health().ok());  // nothing touched the missing range yet

  Status st = acc.Write(first_missing + 8 * P, bytes);
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_TRUE(Contains(st.message(), "the device shrank under the filesystem"));
  st = dev_->Health();
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_TRUE(Contains(st.message(), file.path() + " is now " + std::to_string(kCut) +
                                         " bytes, was " + std::to_string(kPartSize)));
  // Unguarded accesses elsewhere past the end survive too (the store's in-place writes).
  dev_->Store(first_missing + 20 * P, data.data(), 100);
  dev_->Persist(first_missing + 20 * P, 100);
  dev_->SetNoDrain(first_missing + 30 * P, 0, 2 * P);
  dev_->Drain();
  // Every write fails from now on, also where the device is still there.
  EXPECT_EQ(acc.Write(0, bytes.first(10)).code(), Code::kIoError);
  EXPECT_EQ(acc.Zero(0, P).code(), Code::kIoError);
  // Reads of what is gone fail, including the pages written since; the rest reads back.
  std::vector<std::byte> buf(4 * P);
  for (uint64_t off : {first_missing + 8 * P, first_missing + 20 * P, first_missing + 2 * P}) {
    st = acc.Read(off, std::span(buf).first(P));
    EXPECT_EQ(st.code(), Code::kIoError) << off;
    EXPECT_TRUE(Contains(st.message(), "reading device at offset " + std::to_string(off)));
    ReadRef ref;
    EXPECT_EQ(acc.ReadInPlace(off, P, &ref).code(), Code::kIoError) << off;
  }
  ASSERT_TRUE(acc.Read(first_missing - 2 * P, std::span(buf).first(2 * P)).ok());
  EXPECT_EQ(0, std::memcmp(buf.data(), data.data(), 2 * P));
  ReadRef ref;
  ASSERT_TRUE(acc.ReadInPlace(first_missing - 2 * P, 2 * P, &ref).ok());
  EXPECT_EQ(ref.ToBytes(), std::vector<std::byte>(bytes.begin(), bytes.begin() + 2 * P));
  ref.Release();
  acc_.reset();
  dev_.reset();  // unmaps cleanly
}

// Copy mode buffers the write; the write-back is what meets the missing range, and the sync
// that asked for it fails.
TEST_P(TruncatedPartTest, CopyModeWriteBackPastTheNewEndFailsTheSync) {
  TempFile file(kPartSize, "e2e-copy");
  ASSERT_NO_FATAL_FAILURE(CreateAndOpen(file, {.mode = Mode::kCopy, .cache_size = 64 * P}));
  Access& acc = *acc_;
  const uint64_t first_missing = FirstMissing();
  ASSERT_NO_FATAL_FAILURE(Truncate(file));
  auto data = Pattern(4 * P, 10);
  ASSERT_TRUE(acc.Write(first_missing + 4 * P, std::as_bytes(std::span(data))).ok());
  Status st = acc.SyncAll();
  EXPECT_EQ(st.code(), Code::kIoError);
  EXPECT_TRUE(Contains(st.message(), "the device shrank under the filesystem"));
  EXPECT_EQ(acc.Write(0, std::as_bytes(std::span(data))).code(), Code::kIoError);
  acc_.reset();
  dev_.reset();
}

// Simulated poison (mapping/poison.h, for the scrub's tests): the poisoned pages of a device
// fail a guarded copy, which reports the first bad page's device offset (what a scrub resumes
// after), while their neighbours and the part file are untouched; reopened, the device reads
// them again (nothing persistent).
TEST_P(TruncatedPartTest, SimulatedPoisonFailsGuardedCopiesOfItsPagesOnly) {
  TempFile file(kPartSize, "poison");
  ASSERT_NO_FATAL_FAILURE(Create(file));
  const uint64_t bad = 40 * P;
  auto data = Pattern(8 * P, 5);
  {
    auto opened = OpenAgain(file);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    Device& dev = **opened;
    dev.Write(bad - 4 * P, data.data(), data.size());
    EXPECT_EQ(SimulatePoison(dev, dev.size(), 1).code(), Code::kInvalidArgument);
    ASSERT_TRUE(SimulatePoison(dev, bad + 10, 2 * P - 20).ok());  // pages 40 and 41
    std::vector<uint8_t> buf(8 * P);
    uint64_t fault = 0;
    Status st = GuardedCopy(buf.data(), dev.At(bad - 4 * P), 8 * P, "device", bad - 4 * P, &fault);
    EXPECT_EQ(st.code(), Code::kIoError);
    EXPECT_EQ(fault, bad);
    EXPECT_TRUE(Contains(st.message(), "at offset " + std::to_string(bad)));
    fault = 0;
    EXPECT_FALSE(GuardedCopy(buf.data(), dev.At(bad + P), P, "device", bad + P, &fault).ok());
    EXPECT_EQ(fault, bad + P);
    ASSERT_TRUE(GuardedCopy(buf.data(), dev.At(bad - 4 * P), 4 * P, "device", bad - 4 * P).ok());
    EXPECT_EQ(0, std::memcmp(buf.data(), data.data(), 4 * P));
    ASSERT_TRUE(GuardedCopy(buf.data(), dev.At(bad + 2 * P), 2 * P, "device", bad + 2 * P).ok());
    EXPECT_EQ(0, std::memcmp(buf.data(), data.data() + 6 * P, 2 * P));
  }
  auto opened = OpenAgain(file);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  std::vector<uint8_t> buf(8 * P);
  ASSERT_TRUE(GuardedCopy(buf.data(), (*opened)->At(bad - 4 * P), 8 * P).ok());
  EXPECT_EQ(buf, data);
}

INSTANTIATE_TEST_SUITE_P(media_guard, TruncatedPartTest,
                         ::testing::Values(AccessPath::kLinear, AccessPath::kTranslated),
                         [](const auto& info) {
                           return std::string(info.param == AccessPath::kLinear ? "Linear"
                                                                                : "Translated");
                         });

}  // namespace
}  // namespace pmemfs::mapping
