// Creating and opening devices from real part files: geometry, byte-exact assembly through both
// access paths, and every way a set of parts can be wrong.
#include "mapping/device_set.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <vector>

#include "pmemfs/crc32c.h"
#include "test_support.h"

namespace pmemfs::mapping {
namespace {

using layout::LayoutKind;
using testing::TempFile;

constexpr PartOpenOptions kEmulated = {.force_cache_line = true};

class DeviceSetTest : public ::testing::Test {
 protected:
  // `n` part files of `size` bytes each.
  std::vector<std::string> MakeFiles(int n, uint64_t size) {
    std::vector<std::string> paths;
    for (int i = 0; i < n; i++) {
      files_.push_back(std::make_unique<TempFile>(size));
      paths.push_back(files_.back()->path());
    }
    return paths;
  }
  // Formats the files as one device and closes it.
  void Create(const std::vector<std::string>& paths, CreateOptions opts = {}) {
    auto parts = OpenFileParts(paths, kEmulated);
    ASSERT_TRUE(parts.ok()) << parts.status().message();
    auto dev = CreateDevice(std::move(parts).value(), opts);
    ASSERT_TRUE(dev.ok()) << dev.status().message();
  }
  static uint32_t FileCrc(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return Crc32c(s.data(), s.size());
  }
  // Opening `paths` must fail with a message containing `needle`, and change no byte.
  void ExpectRefused(const std::vector<std::string>& paths, const std::string& needle) {
    std::vector<uint32_t> before;
    for (auto& p : paths) before.push_back(FileCrc(p));
    auto r = OpenDevice(paths, kEmulated);
    ASSERT_FALSE(r.ok()) << "opened, expected: " << needle;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
    for (size_t i = 0; i < paths.size(); i++) EXPECT_EQ(FileCrc(paths[i]), before[i]) << paths[i];
  }

  std::vector<std::unique_ptr<TempFile>> files_;
};

TEST_F(DeviceSetTest, SplitPartList) {
  EXPECT_EQ(SplitPartList("/a"), std::vector<std::string>{"/a"});
  EXPECT_EQ(SplitPartList("/a,/b,/c"), (std::vector<std::string>{"/a", "/b", "/c"}));
  EXPECT_EQ(SplitPartList("/a,"), (std::vector<std::string>{"/a", ""}));
}

struct FileSetCase {
  LayoutKind layout;
  int parts;
};

class FileSetTest : public DeviceSetTest, public ::testing::WithParamInterface<FileSetCase> {};

TEST_P(FileSetTest, ReadsBackByteExactlyThroughBothPaths) {
  auto paths = MakeFiles(GetParam().parts, 12ull << 20);
  Create(paths, {.layout = GetParam().layout, .ram_size = 1 << 20});
  std::vector<uint8_t> data;
  for (AccessPath path : {AccessPath::kLinear, AccessPath::kTranslated}) {
    auto dev = OpenDevice(paths, kEmulated, {.path = path});
    ASSERT_TRUE(dev.ok()) << dev.status().message();
    Device& d = **dev;
    EXPECT_EQ(d.access_path(), path);
    EXPECT_EQ(d.info().part_count, static_cast<uint32_t>(GetParam().parts));
    EXPECT_EQ(d.info().layout, GetParam().layout);
    EXPECT_EQ(d.granularity(), Granularity::kCacheLine);
    if (data.empty()) {  // write through the first path, read through both
      data.resize(d.size());
      std::mt19937 rng(11);
      for (auto& b : data) b = static_cast<uint8_t>(rng());
      d.Write(0, data.data(), data.size());
    }
    std::vector<uint8_t> back(d.size());
    d.Read(0, back.data(), back.size());
    ASSERT_EQ(back, data) << AccessPathName(path);
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, FileSetTest,
                         ::testing::Values(FileSetCase{LayoutKind::kLinear, 2},
                                           FileSetCase{LayoutKind::kLinear, 3},
                                           FileSetCase{LayoutKind::kStriped, 2},
                                           FileSetCase{LayoutKind::kStriped, 3}),
                         [](const auto& info) {
                           return std::string(info.param.layout == LayoutKind::kLinear
                                                  ? "Linear" : "Striped") +
                                  std::to_string(info.param.parts);
                         });

// Read-only opens (a ro mount, fsck -n): an immutable part (chattr +i) cannot be opened for
// writing, but opens read-only in both access paths, reads back what was written, and maps
// PROT_READ: a store into it faults (checked in a child), and its bytes never change.
TEST_F(DeviceSetTest, ImmutablePartsOpenReadOnlyAndRefuseStores) {
  auto paths = MakeFiles(2, 8ull << 20);
  Create(paths, {.layout = LayoutKind::kLinear});
  {
    PartOpenOptions fallback = kEmulated;
    fallback.read_only_fallback = true;
    auto dev = OpenDevice(paths, fallback);
    ASSERT_TRUE(dev.ok()) << dev.status().message();
    EXPECT_FALSE((*dev)->read_only());  // writable files open read-write
    (*dev)->Write(4096, "read-only bytes", 16);
  }
  struct Immutable {  // chattr +i for the test's duration
    explicit Immutable(const std::vector<std::string>& p) : paths(p) {
      for (auto& f : paths) ok = ok && system(("chattr +i " + f).c_str()) == 0;
    }
    ~Immutable() {
      for (auto& f : paths) (void)!system(("chattr -i " + f).c_str());
    }
    std::vector<std::string> paths;
    bool ok = true;
  } immutable(paths);
  if (!immutable.ok) GTEST_SKIP() << "chattr +i is not available here";
  const uint32_t before = FileCrc(paths[0]);
  auto rw = OpenDevice(paths, kEmulated);
  ASSERT_FALSE(rw.ok());
  EXPECT_NE(rw.status().message().find("cannot open for writing"), std::string::npos)
      << rw.status().message();
  EXPECT_NE(rw.status().message().find("read-only"), std::string::npos) << rw.status().message();
  PartOpenOptions fallback = kEmulated;  // a ro mount: read-write only where possible
  fallback.read_only_fallback = true;
  {
    auto dev = OpenDevice(paths, fallback);
    ASSERT_TRUE(dev.ok()) << dev.status().message();
    EXPECT_TRUE((*dev)->read_only());
  }
  PartOpenOptions ro = kEmulated;
  ro.read_only = true;
  for (AccessPath path : {AccessPath::kLinear, AccessPath::kTranslated}) {
    auto dev = OpenDevice(paths, ro, {.path = path});
    ASSERT_TRUE(dev.ok()) << dev.status().message();
    EXPECT_TRUE((*dev)->part(0).read_only());
    char buf[16] = {};
    (*dev)->Read(4096, buf, sizeof buf);
    EXPECT_STREQ(buf, "read-only bytes") << AccessPathName(path);
    EXPECT_EXIT((*dev)->At(4096)[0] = std::byte{1}, ::testing::KilledBySignal(SIGSEGV), "")
        << AccessPathName(path);
  }
  EXPECT_EQ(FileCrc(paths[0]), before);
}

TEST_F(DeviceSetTest, ReorderedPartsAreRefused) {
  auto paths = MakeFiles(3, 4ull << 20);
  Create(paths);
  ExpectRefused({paths[1], paths[0], paths[2]}, "is part 1 of device");
  ExpectRefused({paths[1], paths[0], paths[2]}, "give the parts in order");
}

TEST_F(DeviceSetTest, MissingPartIsRefusedAndNamed) {
  auto paths = MakeFiles(3, 4ull << 20);
  Create(paths);
  ExpectRefused({paths[0], paths[1]}, "missing part 2");
  ExpectRefused({paths[0], paths[2]}, "missing part 1");
}

TEST_F(DeviceSetTest, ForeignPartIsRefused) {
  auto a = MakeFiles(2, 4ull << 20);
  auto b = MakeFiles(2, 4ull << 20);
  Create(a);
  Create(b);
  ExpectRefused({a[0], b[1]}, b[1] + ": belongs to another device");
}

TEST_F(DeviceSetTest, DuplicatedPartIsRefused) {
  auto paths = MakeFiles(2, 4ull << 20);
  Create(paths);
  ExpectRefused({paths[0], paths[0]}, "are the same part");
  // A copy of part 0 posing as part 1.
  auto copy = MakeFiles(1, 4ull << 20);
  ASSERT_EQ(system(("cp " + paths[0] + " " + copy[0]).c_str()), 0);
  ExpectRefused({paths[0], copy[0]}, "are both part 0");
}

TEST_F(DeviceSetTest, TooManyPartsAreRefused) {
  auto paths = MakeFiles(2, 4ull << 20);
  auto extra = MakeFiles(1, 4ull << 20);
  Create(paths);
  Create(extra);
  ExpectRefused({paths[0], paths[1], extra[0]}, "belongs to another device");
}

TEST_F(DeviceSetTest, UnformattedOrCorruptLabelIsRefused) {
  auto paths = MakeFiles(1, 4ull << 20);
  ExpectRefused(paths, "not a pmemfs part");
  Create(paths);
  auto flip = [&](uint64_t at) {
    int fd = open(paths[0].c_str(), O_RDWR);
    char c = 0;
    ASSERT_EQ(pread(fd, &c, 1, static_cast<off_t>(at)), 1);
    c ^= 0x40;
    ASSERT_EQ(pwrite(fd, &c, 1, static_cast<off_t>(at)), 1);
    close(fd);
  };
  flip(50);  // the primary: the part opens from its backup
  {
    auto dev = OpenDevice(paths, kEmulated);
    ASSERT_TRUE(dev.ok()) << dev.status().message();
    EXPECT_FALSE((*dev)->header_state(0).primary_ok);
  }
  flip(layout::BackupHeaderOffset(4ull << 20) + 50);  // and the backup: the primary's error
  ExpectRefused(paths, "part label is corrupt");
}

TEST_F(DeviceSetTest, ShrunkenPartIsRefused) {
  auto paths = MakeFiles(2, 4ull << 20);
  Create(paths);
  ASSERT_EQ(truncate(paths[1].c_str(), 2 << 20), 0);
  ExpectRefused(paths, paths[1] + ": part is smaller");
}

TEST_F(DeviceSetTest, BadCreateRequestsAreRefused) {
  auto small = MakeFiles(1, 512 << 10);
  auto parts = OpenFileParts(small, kEmulated);
  ASSERT_TRUE(parts.ok());
  auto r = CreateDevice(*parts, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("too small"), std::string::npos) << r.status().message();
  parts->clear();

  auto ok = MakeFiles(2, 8ull << 20);
  parts = OpenFileParts(ok, kEmulated);
  ASSERT_TRUE(parts.ok());
  for (uint64_t chunk : {uint64_t{1} << 20, uint64_t{3} << 20}) {
    r = CreateDevice(*parts, {.layout = LayoutKind::kStriped, .chunk_size = chunk});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("power of two of at least 2 MiB"), std::string::npos);
  }
  r = CreateDevice(*parts, {.layout = LayoutKind::kStriped, .chunk_size = 8ull << 20});
  ASSERT_FALSE(r.ok());  // each part holds less than one 8 MiB chunk after its header
  EXPECT_NE(r.status().message().find("too small"), std::string::npos) << r.status().message();
  r = CreateDevice(*parts, {.ram_size = 16ull << 20});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("too small for a RAM partition"), std::string::npos);
  // None of that wrote a label.
  parts->clear();
  ExpectRefused(ok, "not a pmemfs part");
}

TEST_F(DeviceSetTest, NoDeviceOrEmptyPartNameIsRefused) {
  EXPECT_FALSE(OpenDevice({}, kEmulated).ok());
  auto r = OpenDevice(SplitPartList("/dev/shm/x,"), kEmulated);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("empty part name"), std::string::npos);
}

TEST_F(DeviceSetTest, OpenDeviceLocksEveryPart) {
  auto paths = MakeFiles(2, 4ull << 20);
  Create(paths);
  auto first = OpenDevice(paths, kEmulated);
  ASSERT_TRUE(first.ok());
  auto second = OpenDevice(paths, kEmulated);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kBusy);
}

// The linear mapping puts the device at its parts' 2 MiB colour (what lets the kernel map a part
// that has 2 MiB pages with them): the first part's data, and every stripe chunk.
TEST_F(DeviceSetTest, LinearMappingKeepsThePartsTwoMiBColour) {
  constexpr uint64_t kTwoMiB = 2 << 20;
  for (LayoutKind layout : {LayoutKind::kLinear, LayoutKind::kStriped}) {
    auto paths = MakeFiles(layout == LayoutKind::kLinear ? 1 : 2, 10ull << 20);
    Create(paths, {.layout = layout});
    auto dev = OpenDevice(paths, kEmulated, {.path = AccessPath::kLinear});
    ASSERT_TRUE(dev.ok()) << dev.status().message();
    Device& d = **dev;
    for (uint64_t off = 0; off < d.size(); off += kTwoMiB) {
      const Device::Location l = d.Locate(off);
      if (layout == LayoutKind::kLinear && l.part != 0) break;
      EXPECT_EQ(reinterpret_cast<uintptr_t>(d.At(off)) % kTwoMiB, l.part_offset % kTwoMiB)
          << (layout == LayoutKind::kLinear ? "linear" : "striped") << ", device offset " << off;
    }
  }
}

TEST_F(DeviceSetTest, AccessPathIsChosenByMappingCount) {
  auto paths = MakeFiles(2, 10ull << 20);  // striped: 2 x 8 MiB = 8 chunks of 2 MiB
  Create(paths, {.layout = LayoutKind::kStriped});
  {
    auto dev = OpenDevice(paths, kEmulated, {.max_map_count = 1000});
    ASSERT_TRUE(dev.ok()) << dev.status().message();
    EXPECT_EQ((*dev)->access_path(), AccessPath::kLinear);
    EXPECT_EQ(LinearMappingCount((*dev)->info()), 8u);
    EXPECT_EQ((*dev)->mapping_count(), 2u + 8u);
  }
  {
    auto dev = OpenDevice(paths, kEmulated, {.max_map_count = 12});
    ASSERT_TRUE(dev.ok()) << dev.status().message();
    EXPECT_EQ((*dev)->access_path(), AccessPath::kTranslated);
    EXPECT_EQ((*dev)->mapping_count(), 2u);
  }
  auto forced = OpenDevice(paths, kEmulated, {.path = AccessPath::kLinear, .max_map_count = 4});
  ASSERT_FALSE(forced.ok());
  EXPECT_NE(forced.status().message().find("vm.max_map_count"), std::string::npos);
}

TEST_F(DeviceSetTest, LabelsRecordTheReservedRanges) {
  auto paths = MakeFiles(1, 16ull << 20);
  Create(paths, {.ram_size = 3 << 20, .reserve_descriptors = false});
  auto dev = OpenDevice(paths, kEmulated);
  ASSERT_TRUE(dev.ok());
  const DeviceInfo& info = (*dev)->info();
  EXPECT_TRUE(info.descriptors.empty());
  EXPECT_EQ(info.ram.length, 3u << 20);
  EXPECT_EQ(info.ram.end(), info.size);
  EXPECT_EQ(info.store().length, info.size - (3u << 20));
}

// --- the backup part label (layout.h: the last page of every part) ---------------------------

// Reads or writes `n` bytes of file `path` at `off`.
std::vector<uint8_t> ReadAt(const std::string& path, uint64_t off, size_t n) {
  std::vector<uint8_t> v(n);
  int fd = open(path.c_str(), O_RDONLY);
  EXPECT_EQ(pread(fd, v.data(), n, static_cast<off_t>(off)), static_cast<ssize_t>(n));
  close(fd);
  return v;
}
void WriteAt(const std::string& path, uint64_t off, const std::vector<uint8_t>& v) {
  int fd = open(path.c_str(), O_WRONLY);
  EXPECT_EQ(pwrite(fd, v.data(), v.size(), static_cast<off_t>(off)),
            static_cast<ssize_t>(v.size()));
  close(fd);
}

class BackupLabelTest : public DeviceSetTest, public ::testing::WithParamInterface<FileSetCase> {
 protected:
  // A device on GetParam().parts files of 12 MiB filled with random bytes and holding two
  // injected bad ranges; `data_` is what it holds.
  std::vector<std::string> Populate() {
    auto paths = MakeFiles(GetParam().parts, 12ull << 20);
    Create(paths, {.layout = GetParam().layout});
    auto dev = OpenDevice(paths, kEmulated);
    EXPECT_TRUE(dev.ok()) << dev.status().message();
    data_.resize((*dev)->size());
    std::mt19937 rng(5);
    for (auto& b : data_) b = static_cast<uint8_t>(rng());
    (*dev)->Write(0, data_.data(), data_.size());  // every byte of the data areas
    EXPECT_TRUE((*dev)->bad_blocks().Inject(3 * layout::kPageSize, 100).ok());
    EXPECT_TRUE((*dev)->bad_blocks().Inject((*dev)->size() - layout::kPageSize, 10).ok());
    bad_ = (*dev)->bad_blocks().List();
    for (size_t i = 0; i < (*dev)->part_count(); i++) {
      EXPECT_EQ((*dev)->header_state(i).backup_offset,
                layout::BackupHeaderOffset((*dev)->part(i).size()));
      EXPECT_GE((*dev)->header_state(i).backup_offset,
                (*dev)->info().header_size + (*dev)->part_data_size(i));
      EXPECT_TRUE((*dev)->header_state(i).primary_ok && (*dev)->header_state(i).backup_ok);
    }
    return paths;
  }
  // The device opens with the same bytes and bad ranges as Populate left.
  void ExpectIntact(Device& d) {
    std::vector<uint8_t> back(d.size());
    d.Read(0, back.data(), back.size());
    EXPECT_TRUE(back == data_);
    auto bad = d.bad_blocks().List();
    ASSERT_EQ(bad.size(), bad_.size());
    for (size_t i = 0; i < bad.size(); i++) {
      EXPECT_EQ(bad[i].offset, bad_[i].offset);
      EXPECT_EQ(bad[i].length, bad_[i].length);
    }
  }
  std::vector<uint8_t> data_;
  std::vector<BadBlocks::Entry> bad_;
};

TEST_P(BackupLabelTest, ZeroedPrimaryOpensFromTheBackupAndIsRewritten) {
  auto paths = Populate();
  const std::string& victim = paths.back();
  const auto original = ReadAt(victim, 0, layout::kPageSize);
  WriteAt(victim, 0, std::vector<uint8_t>(layout::kPageSize, 0));
  for (AccessPath path : {AccessPath::kLinear, AccessPath::kTranslated}) {
    auto dev = OpenDevice(paths, kEmulated, {.path = path});
    ASSERT_TRUE(dev.ok()) << dev.status().message();
    const size_t last = (*dev)->part_count() - 1;
    EXPECT_FALSE((*dev)->header_state(last).primary_ok);
    EXPECT_TRUE((*dev)->header_state(0).primary_ok || last == 0);
    ExpectIntact(**dev);
  }
  {  // read-only: reported, not rewritten
    PartOpenOptions ro = kEmulated;
    ro.read_only = true;
    auto dev = OpenDevice(paths, ro);
    ASSERT_TRUE(dev.ok()) << dev.status().message();
    EXPECT_EQ(RewritePartHeaders(**dev).code(), Code::kReadOnly);
  }
  {
    auto dev = OpenDevice(paths, kEmulated);
    ASSERT_TRUE(dev.ok());
    ASSERT_TRUE(RewritePartHeaders(**dev).ok());
    EXPECT_TRUE((*dev)->header_state((*dev)->part_count() - 1).primary_ok);
  }
  EXPECT_TRUE(ReadAt(victim, 0, layout::kPageSize) == original);
  auto dev = OpenDevice(paths, kEmulated);
  ASSERT_TRUE(dev.ok());
  for (size_t i = 0; i < (*dev)->part_count(); i++)
    EXPECT_TRUE((*dev)->header_state(i).primary_ok && (*dev)->header_state(i).backup_ok);
  ExpectIntact(**dev);
}

TEST_P(BackupLabelTest, DamagedBackupIsReportedAndRewrittenFromThePrimary) {
  auto paths = Populate();
  const uint64_t backup = layout::BackupHeaderOffset(12ull << 20);
  const auto original = ReadAt(paths[0], backup, layout::kPageSize);
  auto damaged = original;
  damaged[20] ^= 0x5a;                                    // the label
  damaged[layout::kBadBlockTableOffset[0] + 30] ^= 0x5a;  // and a table copy
  WriteAt(paths[0], backup, damaged);
  auto dev = OpenDevice(paths, kEmulated);
  ASSERT_TRUE(dev.ok()) << dev.status().message();
  EXPECT_TRUE((*dev)->header_state(0).primary_ok);
  EXPECT_FALSE((*dev)->header_state(0).backup_ok);
  ExpectIntact(**dev);
  ASSERT_TRUE(RewritePartHeaders(**dev).ok());
  EXPECT_TRUE(ReadAt(paths[0], backup, layout::kPageSize) == original);
}

TEST_P(BackupLabelTest, BothCopiesLostIsRefused) {
  auto paths = Populate();
  const std::string& victim = paths.back();
  WriteAt(victim, 0, std::vector<uint8_t>(layout::kPageSize, 0));
  WriteAt(victim, layout::BackupHeaderOffset(12ull << 20), std::vector<uint8_t>(layout::kPageSize, 0));
  ExpectRefused(paths, victim + ": not a pmemfs part (no part label)");
}

INSTANTIATE_TEST_SUITE_P(Layouts, BackupLabelTest,
                         ::testing::Values(FileSetCase{LayoutKind::kLinear, 1},
                                           FileSetCase{LayoutKind::kLinear, 2},
                                           FileSetCase{LayoutKind::kStriped, 2}),
                         [](const auto& info) {
                           return std::string(info.param.layout == LayoutKind::kLinear
                                                  ? "Linear" : "Striped") +
                                  std::to_string(info.param.parts);
                         });

// Images made before the backup label (label version 1: no backup, data up to the part's end)
// still open, and have nothing to rewrite.
TEST_F(DeviceSetTest, VersionOneLabelsWithoutABackupStillOpen) {
  auto paths = MakeFiles(2, 8ull << 20);
  Create(paths);
  for (const auto& p : paths) {
    auto bytes = ReadAt(p, 0, sizeof(layout::PartLabel));
    layout::PartLabel l;
    std::memcpy(&l, bytes.data(), sizeof l);
    l.version = layout::kPartLabelVersionNoBackup;
    l.backup_offset = 0;
    l.checksum = StructChecksum(l);
    std::memcpy(bytes.data(), &l, sizeof l);
    WriteAt(p, 0, bytes);
    WriteAt(p, layout::BackupHeaderOffset(8ull << 20), std::vector<uint8_t>(layout::kPageSize, 0));
  }
  auto dev = OpenDevice(paths, kEmulated);
  ASSERT_TRUE(dev.ok()) << dev.status().message();
  for (size_t i = 0; i < 2; i++) {
    EXPECT_EQ((*dev)->header_state(i).backup_offset, 0u);
    EXPECT_TRUE((*dev)->header_state(i).primary_ok && (*dev)->header_state(i).backup_ok);
  }
  ASSERT_TRUE((*dev)->bad_blocks().Inject(4096, 10).ok());
  EXPECT_TRUE(RewritePartHeaders(**dev).ok());
  dev->reset();
  // Without a backup, a lost primary is what it always was.
  WriteAt(paths[1], 0, std::vector<uint8_t>(layout::kPageSize, 0));
  ExpectRefused(paths, paths[1] + ": not a pmemfs part (no part label)");
}

}  // namespace
}  // namespace pmemfs::mapping
