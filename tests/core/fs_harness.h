// A formatted, mounted filesystem over the crash simulator, for fs/core tests: mount, clean
// remount, power loss at a chosen persist point, files created in the root, and writes and
// reads as strings.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "fs/core/fs.h"
#include "fs/core/invariant.h"
#include "fs/store/store.h"
#include "test_support.h"

namespace pmemfs::core::testing {

inline const Caller kRoot{0, 0, 022};

// A broken invariant of fs/core (fs/core/invariant.h) fails the test binary loudly, whatever
// the build type (the default handler only logs in release builds).
inline void AbortOnInvariant(std::string_view what) {
  std::fprintf(stderr, "fs/core invariant broken: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::abort();
}
inline const bool kInvariantsAbort = (SetInvariantHandler(&AbortOnInvariant), true);

class FsHarnessBase {
 public:
  // A one-part device of `part_size` bytes with a 2 MiB RAM partition, formatted with
  // `format` and mounted in `mode` (copy mode: a 1 MiB cache, no background write-back).
  explicit FsHarnessBase(mapping::Mode mode, MountOptions extra = {},
                         uint64_t part_size = 24ull << 20, const store::FormatOptions& format = {})
      : opts_(extra) {
    opts_.mode = mode;
    opts_.cache_size = 1 << 20;
    opts_.writeback_ms = 0;
    d_ = mapping::testing::MakeSimDevice(
        {"Concat1", layout::LayoutKind::kLinear, 1, mapping::AccessPath::kLinear, part_size},
        {.ram_size = 2 << 20});
    Status st = store::Store::Format(*d_.dev, format);
    EXPECT_TRUE(st.ok()) << st.message();
    Mount();
  }
  // Mounts `device` (an assembled, formatted SimDevice, e.g. a CopySimDevice of a prepared one)
  // in `mode`, with the options above but `writeback_ms` (not 0: the background thread runs).
  FsHarnessBase(mapping::Mode mode, MountOptions extra, mapping::testing::SimDevice device,
                uint32_t writeback_ms = 0)
      : opts_(extra), d_(std::move(device)) {
    opts_.mode = mode;
    opts_.cache_size = 1 << 20;
    opts_.writeback_ms = writeback_ms;
    Mount();
  }
  ~FsHarnessBase() {
    if (fs_) {
      EXPECT_TRUE(fs_->Unmount().ok());
    }
  }
  Filesystem& fs() { return *fs_; }
  mapping::testing::SimDevice& sim() { return d_; }
  mapping::Mode mode() const { return opts_.mode; }

  void Mount() {
    auto r = Filesystem::Mount(std::move(d_.dev), opts_);
    ASSERT_TRUE(r.ok()) << r.status().message();
    fs_ = std::move(r).value();
  }
  void Remount() {
    ASSERT_TRUE(fs_->Unmount().ok());
    fs_.reset();
    d_.Reopen();
    Mount();
  }
  // Unmounts (when mounted) and reassembles the device, sim().dev, for a look at what is on
  // it (pmemfs-fsck's checker: crash_harness.h). Mount() mounts it again.
  Status Unmount() {
    Status st = fs_ ? fs_->Unmount() : Status::Ok();
    fs_.reset();
    d_.Reopen();
    return st;
  }
  // Power loss now (or at the stop point already set): nothing more persists; lines flushed but
  // not drained survive with probability `keep`. Then recovery and mount.
  void CrashAndMount(double keep = 0.0) {
    if (!d_.sim->stopped()) d_.sim->StopAfter(d_.sim->persist_points());
    fs_.reset();  // its unmount writes go nowhere
    d_.sim->Crash(keep);
    d_.Reopen();
    Mount();
  }
  // A new file `name` in the root, as root: its inode (0, and a failed test, if refused).
  uint64_t Create(const std::string& name) {
    auto a = fs_->Create(kRoot, kRootIno, name, 0644, O_RDWR);
    EXPECT_TRUE(a.ok()) << a.status().message();
    return a.ok() ? a->ino : 0;
  }
  // Writes `s` at `off` of `ino`, as root (a refusal fails the test).
  void Write(uint64_t ino, uint64_t off, const std::string& s) {
    auto n = fs_->Write(kRoot, ino, off, {reinterpret_cast<const std::byte*>(s.data()), s.size()});
    ASSERT_TRUE(n.ok()) << n.status().message();
  }
  std::string Read(uint64_t ino, uint64_t off, uint64_t len) {
    mapping::ReadRef ref;
    Status st = fs_->Read(ino, off, len, &ref);
    EXPECT_TRUE(st.ok()) << st.message();
    auto b = ref.ToBytes();
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }

 protected:
  MountOptions opts_;
  mapping::testing::SimDevice d_;
  std::unique_ptr<Filesystem> fs_;
};

}  // namespace pmemfs::core::testing
