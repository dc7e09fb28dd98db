// pmemfs-fsck's checker (tools/fsck/check.h) over the crash simulator: populated images are
// clean in every mode; each kind of on-media structure, damaged, is detected (never a crash or
// a hang), repaired by -y where it can be (a second -n run is then clean and the filesystem
// mounts), and left with exit code 4 where it cannot; crashes at persist points leave a state
// that recovery turns clean. Prints the number of corruptions injected and detected.
#include "tools/fsck/check.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <iostream>
#include <random>

#include "fsck_test_support.h"

namespace pmemfs::fsck {
namespace {

using mapping::Mode;
using testing::FsckImage;
using testing::MustCheck;
using layout::kRootIno;

// Totals over the corruption tests, printed at the end of the run.
struct Totals {
  int injected = 0, detected = 0, repaired = 0, unrepairable = 0;
  int random_rounds = 0, random_flips = 0, random_detected = 0;
};
Totals g_totals;

class TotalsPrinter : public ::testing::Environment {
 public:
  void TearDown() override {
    const Totals& t = g_totals;
    printf("fsck corruption tests: %d corruptions injected, %d detected, %d repaired by -y, "
           "%d reported as not repairable (exit 4)\n",
           t.injected, t.detected, t.repaired, t.unrepairable);
    if (t.random_rounds)
      printf("fsck random damage: %d images with %d byte flips in metadata, %d detected as "
             "damaged\n",
             t.random_rounds, t.random_flips, t.random_detected);
  }
};
[[maybe_unused]] const auto* const g_printer = ::testing::AddGlobalTestEnvironment(new TotalsPrinter);

bool Mentions(const CheckReport& r, const std::string& area) {
  for (const Problem& p : r.problems)
    if (p.area == area) return true;
  return false;
}

// --- clean images --------------------------------------------------------------------------------

class CleanTest : public ::testing::TestWithParam<Mode> {};

TEST_P(CleanTest, PopulatedImageIsClean) {
  const Mode mode = GetParam();
  FsckImage img(mode, mode == Mode::kPages ? layout::StoredMode::kPages
                                           : layout::StoredMode::kDirect);
  img.Populate();
  mapping::Device& dev = img.Unmount();
  CheckReport r = MustCheck(dev, false);
  EXPECT_TRUE(r.clean()) << testing::Describe(r);
  EXPECT_EQ(r.ExitCode(), 0);
  // What Populate made: root, d1, sub, moved; f, sparse, many, clone and 150 files; s, ls; fifo.
  EXPECT_EQ(r.directories, 4u);
  EXPECT_EQ(r.files, 4u + 150u);  // f, sparse, many, clone
  EXPECT_EQ(r.symlinks, 2u);
  EXPECT_EQ(r.others, 1u);
  EXPECT_EQ(r.inodes, 4u + 154u + 2u + 1u);
  EXPECT_EQ(r.xattrs, 3u);
  EXPECT_GE(r.extents, 150u);
  EXPECT_EQ(r.descriptors_checked, mode == Mode::kPages);
  EXPECT_FALSE(r.journal_replayed);
  // -y on a clean filesystem changes nothing and says so.
  CheckReport y = MustCheck(dev, true);
  EXPECT_EQ(y.ExitCode(), 0) << testing::Describe(y);
}

TEST_P(CleanTest, FreshFilesystemIsClean) {
  FsckImage img(GetParam());
  CheckReport r = MustCheck(img.Unmount(), false);
  EXPECT_TRUE(r.clean()) << testing::Describe(r);
  EXPECT_EQ(r.inodes, 1u);
}

INSTANTIATE_TEST_SUITE_P(Modes, CleanTest,
                         ::testing::Values(Mode::kCopy, Mode::kDirect, Mode::kPages),
                         [](const auto& info) { return std::string(mapping::ModeName(info.param)); });

TEST(CheckTest, ProgressReachesTheTotal) {
  FsckImage img(Mode::kDirect);
  img.Populate();
  mapping::Device& dev = img.Unmount();
  uint64_t last_done = 0, last_total = 0, calls = 0;
  Result<CheckReport> r = Check(dev, {.progress = [&](uint64_t done, uint64_t total) {
                                       EXPECT_LE(done, total);
                                       last_done = done;
                                       last_total = total;
                                       calls++;
                                     }});
  ASSERT_TRUE(r.ok());
  EXPECT_GT(calls, 0u);
  EXPECT_EQ(last_done, last_total);
}

TEST(CheckTest, NotAPmemfsIsAnOperationalError) {
  FsckImage img(Mode::kDirect);
  mapping::Device& dev = img.Unmount();
  const layout::Superblock sb = img.Sb();
  std::vector<std::byte> zero(layout::kBlockSize);
  dev.Write(0, zero.data(), zero.size());
  dev.Write(sb.backup_block * layout::kBlockSize, zero.data(), zero.size());
  Result<CheckReport> r = Check(dev, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("not a pmemfs"), std::string::npos) << r.status().message();
}

TEST(CheckTest, UnsupportedVersionIsAnOperationalError) {
  FsckImage img(Mode::kDirect);
  mapping::Device& dev = img.Unmount();
  for (uint64_t block : {uint64_t{0}, img.Sb().backup_block}) {
    layout::Superblock sb;
    dev.Read(block * layout::kBlockSize, &sb, sizeof sb);
    sb.major = layout::kMajorVersion + 1;
    sb.checksum = StructChecksum(sb);
    dev.Write(block * layout::kBlockSize, &sb, sizeof sb);
  }
  Result<CheckReport> r = Check(dev, {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnsupported);
}

TEST(CheckTest, ReadOnlyCheckNeverWrites) {
  FsckImage img(Mode::kDirect);
  img.Populate();
  mapping::Device& dev = img.Unmount();
  img.FlipByte(img.InodeOffset(img.tree().f) + 40);  // a damaged inode
  img.SetBitmapBit(img.FreeDataBlock(), true);       // a leak
  const uint64_t before = img.sim_device().sim->persist_points();
  CheckReport r = MustCheck(dev, false);
  EXPECT_EQ(r.ExitCode(), 4);
  EXPECT_EQ(img.sim_device().sim->persist_points(), before);
}

// --- corruptions ---------------------------------------------------------------------------------

enum class Expect { kRepairable, kNotRepairable };

// Builds a populated image in `mode`, checks it clean, applies `corrupt`, and checks that -n
// detects it (exit 4), -y repairs it (exit 1, then -n clean, and the filesystem mounts) or
// reports it as not repairable (exit 4). `then` (optional) inspects the repaired image.
void Corrupt(Mode mode, Expect expect, const std::function<void(FsckImage&)>& corrupt,
             const std::function<void(FsckImage&)>& then = {}) {
  FsckImage img(mode, mode == Mode::kPages ? layout::StoredMode::kPages
                                           : layout::StoredMode::kDirect);
  img.Populate();
  mapping::Device& dev = img.Unmount();
  {
    CheckReport r = MustCheck(dev, false);
    ASSERT_TRUE(r.clean()) << "before the corruption:\n" << testing::Describe(r);
  }
  corrupt(img);
  g_totals.injected++;
  CheckReport n = MustCheck(img.dev(), false);
  EXPECT_FALSE(n.clean()) << "not detected";
  if (!n.clean()) g_totals.detected++;
  EXPECT_EQ(n.ExitCode(), 4) << testing::Describe(n);
  for (const Problem& p : n.problems) EXPECT_FALSE(p.repaired);

  CheckReport y = MustCheck(img.dev(), true);
  if (getenv("FSCK_TEST_VERBOSE"))
    std::cout << "-n found:\n" << testing::Describe(n) << "-y did:\n" << testing::Describe(y);
  if (expect == Expect::kRepairable) {
    EXPECT_EQ(y.ExitCode(), 1) << testing::Describe(y);
    CheckReport again = MustCheck(img.dev(), false);
    EXPECT_TRUE(again.clean()) << "after -y:\n" << testing::Describe(y) << "second -n:\n"
                               << testing::Describe(again);
    if (y.ExitCode() == 1 && again.clean()) g_totals.repaired++;
    Status m = img.MountAndUnmount();
    EXPECT_TRUE(m.ok()) << m.message();
    CheckReport after_mount = MustCheck(img.dev(), false);
    EXPECT_TRUE(after_mount.clean()) << "after a mount:\n" << testing::Describe(after_mount);
    if (then) then(img);
  } else {
    EXPECT_EQ(y.ExitCode(), 4) << testing::Describe(y);
    if (y.ExitCode() == 4) g_totals.unrepairable++;
  }
}

// Superblock and backup.

TEST(CorruptTest, PrimarySuperblockChecksum) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    i.FlipByte(offsetof(layout::Superblock, label) + 3);
  });
}

TEST(CorruptTest, PrimarySuperblockMagic) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) { i.FlipByte(0); });
}

TEST(CorruptTest, BackupSuperblockChecksum) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    i.FlipByte(i.Sb().backup_block * layout::kBlockSize + 200);
  });
}

TEST(CorruptTest, BackupSuperblockDisagrees) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    layout::Superblock sb = i.Sb();
    sb.mount_count += 7;
    sb.checksum = StructChecksum(sb);
    i.dev().Write(sb.backup_block * layout::kBlockSize, &sb, sizeof sb);
  });
}

TEST(CorruptTest, BothSuperblocksAreNotRepairable) {
  Corrupt(Mode::kDirect, Expect::kNotRepairable, [](FsckImage& i) {
    const uint64_t backup = i.Sb().backup_block;
    i.FlipByte(offsetof(layout::Superblock, checksum));
    i.FlipByte(backup * layout::kBlockSize + offsetof(layout::Superblock, checksum));
  });
}

TEST(CorruptTest, SuperblockGeometry) {
  // Valid checksums, impossible geometry (the bitmap overlapping the inode table) in both.
  Corrupt(Mode::kDirect, Expect::kNotRepairable, [](FsckImage& i) {
    layout::Superblock sb = i.Sb();
    sb.bitmap_start = sb.inode_start;
    sb.checksum = StructChecksum(sb);
    i.dev().Write(0, &sb, sizeof sb);
    i.dev().Write(sb.backup_block * layout::kBlockSize, &sb, sizeof sb);
  });
}

// Journal.

// Writes a committed transaction of one record (the new value of `ino`'s record) into the
// journal, as a crash after the commit point leaves it; `damage` may spoil it afterwards.
void PendingTransaction(FsckImage& i, uint64_t target, const std::vector<std::byte>& data,
                        bool bad_crc) {
  const layout::Superblock sb = i.Sb();
  std::vector<std::byte> stream(sizeof(layout::JournalRecord) + (data.size() + 7) / 8 * 8);
  const layout::JournalRecord rec{target, static_cast<uint32_t>(data.size()),
                                  static_cast<uint32_t>(layout::RecordKind::kBytes)};
  std::memcpy(stream.data(), &rec, sizeof rec);
  std::memcpy(stream.data() + sizeof rec, data.data(), data.size());
  layout::JournalHeader h;
  i.dev().Read(sb.journal_start * layout::kBlockSize, &h, sizeof h);
  h.sequence++;
  h.state = static_cast<uint32_t>(layout::JournalState::kCommitted);
  h.record_count = 1;
  h.record_bytes = stream.size();
  h.records_crc = Crc32c(stream.data(), stream.size());
  h.checksum = StructChecksum(h);
  if (bad_crc) stream[sizeof rec] ^= std::byte{1};
  i.dev().Write((sb.journal_start + 1) * layout::kBlockSize, stream.data(), stream.size());
  i.dev().Write(sb.journal_start * layout::kBlockSize, &h, sizeof h);
}

std::vector<std::byte> NewerRecordOf(FsckImage& i, uint64_t ino, int64_t mtime) {
  layout::InodeRecord r = i.Inode(ino);
  r.mtime_ns = mtime;
  r.checksum = StructChecksum(r);
  std::vector<std::byte> out(sizeof r);
  std::memcpy(out.data(), &r, sizeof r);
  return out;
}

TEST(CorruptTest, JournalHeader) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    i.FlipByte(i.Sb().journal_start * layout::kBlockSize + 9);
  });
}

TEST(CorruptTest, JournalCommittedTransactionIsReplayed) {
  uint64_t f = 0;
  Corrupt(
      Mode::kDirect, Expect::kRepairable,
      [&](FsckImage& i) {
        f = i.tree().f;
        PendingTransaction(i, i.InodeOffset(f), NewerRecordOf(i, f, 123456789), false);
      },
      [&](FsckImage& i) { EXPECT_EQ(i.Inode(f).mtime_ns, 123456789); });
}

TEST(CorruptTest, JournalPendingTransactionIsCheckedAsReplayed) {
  // The pending record damages nothing by itself, but it frees d1's link: after replay d1 has
  // the wrong link count, which -n must see.
  FsckImage img(Mode::kDirect);
  img.Populate();
  mapping::Device& dev = img.Unmount();
  layout::InodeRecord r = img.Inode(img.tree().d1);
  r.nlink = 9;
  r.checksum = StructChecksum(r);
  std::vector<std::byte> data(sizeof r);
  std::memcpy(data.data(), &r, sizeof r);
  PendingTransaction(img, img.InodeOffset(img.tree().d1), data, false);
  CheckReport n = MustCheck(dev, false);
  EXPECT_TRUE(n.journal_replayed);
  EXPECT_TRUE(Mentions(n, "journal"));
  EXPECT_TRUE(Mentions(n, "link")) << testing::Describe(n);
  CheckReport y = MustCheck(dev, true);
  EXPECT_EQ(y.ExitCode(), 1) << testing::Describe(y);
  EXPECT_TRUE(MustCheck(dev, false).clean());
}

TEST(CorruptTest, JournalRecordsNotMatchingTheirChecksum) {
  uint64_t f = 0;
  int64_t mtime = 0;
  Corrupt(
      Mode::kDirect, Expect::kRepairable,
      [&](FsckImage& i) {
        f = i.tree().f;
        mtime = i.Inode(f).mtime_ns;
        PendingTransaction(i, i.InodeOffset(f), NewerRecordOf(i, f, 42), true);
      },
      [&](FsckImage& i) { EXPECT_EQ(i.Inode(f).mtime_ns, mtime); });  // not replayed
}

TEST(CorruptTest, JournalRecordOutsideTheStoreIsNotRepairable) {
  Corrupt(Mode::kDirect, Expect::kNotRepairable, [](FsckImage& i) {
    PendingTransaction(i, i.dev().info().store().length - 8, std::vector<std::byte>(64), false);
  });
}

// Inode records.

TEST(CorruptTest, InodeRecordChecksum) {
  Corrupt(Mode::kDirect, Expect::kRepairable,
          [](FsckImage& i) { i.FlipByte(i.InodeOffset(i.tree().f) + 17); });
}

TEST(CorruptTest, InodeUnknownType) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    layout::InodeRecord r = i.Inode(i.tree().sparse);
    r.mode = 0170000 | 0644;
    i.PutInode(i.tree().sparse, r);
  });
}

TEST(CorruptTest, InodeLinkCount) {
  uint64_t f = 0;
  Corrupt(
      Mode::kDirect, Expect::kRepairable,
      [&](FsckImage& i) {
        f = i.tree().f;
        layout::InodeRecord r = i.Inode(f);
        r.nlink = 7;
        i.PutInode(f, r);
      },
      [&](FsckImage& i) { EXPECT_EQ(i.Inode(f).nlink, 2u); });
}

TEST(CorruptTest, DirectoryLinkCount) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    layout::InodeRecord r = i.Inode(kRootIno);
    r.nlink = 2;  // it has subdirectories
    i.PutInode(kRootIno, r);
  });
}

TEST(CorruptTest, InodeBlockCount) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    layout::InodeRecord r = i.Inode(i.tree().many);
    r.blocks += 3;
    i.PutInode(i.tree().many, r);
  });
}

TEST(CorruptTest, DirectoryParentField) {
  uint64_t moved = 0, d1 = 0;
  Corrupt(
      Mode::kDirect, Expect::kRepairable,
      [&](FsckImage& i) {
        moved = i.tree().moved;
        d1 = i.tree().d1;
        layout::InodeRecord r = i.Inode(moved);
        r.parent = kRootIno;  // it lives in d1
        i.PutInode(moved, r);
      },
      [&](FsckImage& i) { EXPECT_EQ(i.Inode(moved).parent, d1); });
}

TEST(CorruptTest, UnknownInodeFlags) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    layout::InodeRecord r = i.Inode(i.tree().fifo);
    r.flags = 0x80;
    r.map_head = 12;  // and a block map on a fifo
    i.PutInode(i.tree().fifo, r);
  });
}

TEST(CorruptTest, RootInodeIsNotRepairable) {
  Corrupt(Mode::kDirect, Expect::kNotRepairable,
          [](FsckImage& i) { i.FlipByte(i.InodeOffset(kRootIno) + 60); });
}

TEST(CorruptTest, FreeInodeSlotGarbage) {
  // Damage in a slot nothing uses: the store keeps such slots out of use; the repair frees them.
  Corrupt(Mode::kDirect, Expect::kRepairable,
          [](FsckImage& i) { i.FlipByte(i.InodeOffset(i.Sb().inode_count - 1) + 5); });
}

TEST(CorruptTest, InterruptedTruncateIsFinished) {
  uint64_t sparse = 0;
  Corrupt(
      Mode::kDirect, Expect::kRepairable,
      [&](FsckImage& i) {
        sparse = i.tree().sparse;
        layout::InodeRecord r = i.Inode(sparse);
        r.flags = layout::kInodeTruncating;
        r.pending_size = 100;
        i.PutInode(sparse, r);
      },
      [&](FsckImage& i) {
        EXPECT_EQ(i.Inode(sparse).size, 100u);
        EXPECT_EQ(i.Inode(sparse).flags, 0u);
        EXPECT_EQ(i.Extents(sparse).size(), 1u);
      });
}

// An open file unlinked, then power loss: the inode stays allocated with nlink 0, an orphan the
// next mount frees. Expected after a crash: a note, not an error (e2fsck's orphan list).
TEST(CheckTest, OrphanLeftByACrashIsANoteAndTheMountFreesIt) {
  FsckImage img(Mode::kDirect);
  img.Populate();
  auto a = img.fs().Create(core::testing::kRoot, kRootIno, "open-unlinked", 0644, O_RDWR);
  ASSERT_TRUE(a.ok());
  const std::string data(5000, 'd');
  ASSERT_TRUE(img.fs().Write(core::testing::kRoot, a->ino, 0, std::as_bytes(std::span(data))).ok());
  ASSERT_TRUE(img.fs().Unlink(core::testing::kRoot, kRootIno, "open-unlinked").ok());
  mapping::Device& dev = img.CrashWithoutMount();
  for (bool repair : {false, true}) {
    CheckReport r = MustCheck(dev, repair);
    EXPECT_EQ(r.ExitCode(), 0) << testing::Describe(r);
    bool noted = false;
    for (const std::string& note : r.notes) noted = noted || note.find("orphan") != std::string::npos;
    EXPECT_TRUE(noted) << testing::Describe(r);
  }
  EXPECT_NE(img.Inode(a->ino).mode, 0u);  // left to the mount
  EXPECT_TRUE(img.MountAndUnmount().ok());
  EXPECT_EQ(img.Inode(a->ino).mode, 0u);
  CheckReport after = MustCheck(img.dev(), false);  // the mount reassembled the device
  EXPECT_TRUE(after.clean()) << testing::Describe(after);
  EXPECT_TRUE(after.notes.empty()) << testing::Describe(after);
}

// The same state on a cleanly unmounted filesystem is damage: reported, and -y frees it.
TEST(CorruptTest, UnlinkedInodeOnACleanFilesystemIsFreed) {
  uint64_t f = 0;
  Corrupt(
      Mode::kDirect, Expect::kRepairable,
      [&](FsckImage& i) {
        f = i.Sb().inode_count - 1;  // a free slot: now a file without names or links
        layout::InodeRecord r{};
        r.mode = S_IFREG | 0644;
        r.generation = 1;
        i.PutInode(f, r);
      },
      [&](FsckImage& i) { EXPECT_EQ(i.Inode(f).mode, 0u); });
}

// The bitmap.

TEST(CorruptTest, BitmapBlockInUseMarkedFree) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    i.SetBitmapBit(i.Extents(i.tree().f)[0].rec.dev_block, false);
  });
}

TEST(CorruptTest, BitmapLeakedBlocks) {
  uint64_t b = 0;
  Corrupt(
      Mode::kDirect, Expect::kRepairable,
      [&](FsckImage& i) {
        b = i.FreeDataBlock();
        i.SetBitmapBit(b, true);
        i.SetBitmapBit(b - 1, true);
      },
      [&](FsckImage& i) { EXPECT_FALSE(i.BitmapBit(b)); });
}

// The bitmap's checksums (layout::kRoCompatBitmapChecksums): a damaged checksum is rewritten.
TEST(CorruptTest, BitmapChecksum) {
  Corrupt(Mode::kDirect, Expect::kRepairable,
          [](FsckImage& i) { i.FlipByte(layout::BitmapChecksumOffset(i.Sb(), 0) + 1); });
}

// A block in use marked free: the bitmap block fails its checksum, so the mount refuses to
// write (a read-only one reads); fsck -y rebuilds the block from the extents and the file is
// intact.
TEST(FsckBitmapChecksumTest, UsedBlockMarkedFreeIsCaughtByItsChecksum) {
  FsckImage img(Mode::kDirect);
  img.Populate();
  const std::string data = img.Read(img.tree().f, 0, 4096);
  mapping::Device& dev = img.Unmount();
  img.SetBitmapBit(img.Extents(img.tree().f)[0].rec.dev_block, false);
  CheckReport n = MustCheck(dev, false);
  const std::string report = testing::Describe(n);
  EXPECT_NE(report.find("bitmap block 0: checksum mismatch"), std::string::npos) << report;
  Status rw = img.MountAndUnmount();
  EXPECT_EQ(rw.code(), Code::kCorrupt);
  EXPECT_NE(rw.message().find("allocation bitmap block 0 of 1 fails its checksum"),
            std::string::npos)
      << rw.message();
  EXPECT_NE(rw.message().find("pmemfs-fsck -y"), std::string::npos) << rw.message();
  EXPECT_TRUE(img.MountAndUnmount(/*read_only=*/true).ok());
  EXPECT_EQ(img.MountAndUnmount(/*read_only=*/true, /*remount_rw=*/true).code(), Code::kCorrupt);
  EXPECT_EQ(MustCheck(img.dev(), true).ExitCode(), 1);
  EXPECT_TRUE(MustCheck(img.dev(), false).clean());
  EXPECT_TRUE(img.BitmapBit(img.Extents(img.tree().f)[0].rec.dev_block));
  img.Mount();
  EXPECT_EQ(img.Read(img.tree().f, 0, 4096), data);
}

TEST(CorruptTest, BitmapMetadataMarkedFree) {
  Corrupt(Mode::kDirect, Expect::kRepairable,
          [](FsckImage& i) { i.SetBitmapBit(i.Sb().inode_start, false); });
}

// Extent chains and records.

TEST(CorruptTest, ExtentChainMagic) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    i.FlipByte(i.Chain(i.Inode(i.tree().many).map_head)[1] * layout::kBlockSize + 2);
  });
}

TEST(CorruptTest, ExtentChainLoop) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    const std::vector<uint64_t> chain = i.Chain(i.Inode(i.tree().many).map_head);
    ASSERT_EQ(chain.size(), 2u);
    layout::ChainHeader h = i.Header(chain[1]);
    h.next = chain[0];  // back to the head
    i.PutHeader(chain[1], h);
  });
}

TEST(CorruptTest, ExtentChainOwner) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    const uint64_t head = i.Inode(i.tree().f).map_head;
    layout::ChainHeader h = i.Header(head);
    h.owner = i.tree().sparse;
    i.PutHeader(head, h);
  });
}

TEST(CorruptTest, ExtentChainOutsideTheDataArea) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    layout::InodeRecord r = i.Inode(i.tree().sparse);
    r.map_head = i.Sb().inode_start;  // the inode table
    i.PutInode(i.tree().sparse, r);
  });
}

TEST(CorruptTest, ExtentChainSharedByTwoFiles) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    layout::InodeRecord r = i.Inode(i.tree().sparse);
    r.map_head = i.Inode(i.tree().f).map_head;
    i.PutInode(i.tree().sparse, r);
  });
}

TEST(CorruptTest, ExtentRecordChecksum) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto e = i.Extents(i.tree().many)[10];
    i.FlipByte(store::Store::SlotOffset(e.block, e.slot) + 8);
  });
}

TEST(CorruptTest, ExtentRecordDoubleUse) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto e = i.Extents(i.tree().many)[3];
    e.rec.dev_block = i.Extents(i.tree().f)[0].rec.dev_block;
    i.PutExtent(e);
  });
}

TEST(CorruptTest, ExtentRecordOnAChainBlock) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto e = i.Extents(i.tree().sparse)[0];
    e.rec.dev_block = i.Inode(i.tree().many).map_head;
    i.PutExtent(e);
  });
}

TEST(CorruptTest, ExtentRecordOverlap) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto ex = i.Extents(i.tree().sparse);
    ASSERT_GE(ex.size(), 2u);
    ex[1].rec.file_block = ex[0].rec.file_block;
    i.PutExtent(ex[1]);
  });
}

TEST(CorruptTest, ExtentRecordOutsideTheDataArea) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto e = i.Extents(i.tree().many)[5];
    e.rec.dev_block = i.Sb().backup_block;
    i.PutExtent(e);
  });
}

TEST(CorruptTest, ExtentRecordLengthZeroed) {
  // The length cleared: fs/core takes only an all-zero slot as unused.
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto e = i.Extents(i.tree().many)[20];
    e.rec.length = 0;
    i.dev().Write(store::Store::SlotOffset(e.block, e.slot), &e.rec, sizeof e.rec);
  });
}

TEST(CorruptTest, SymlinkTargetBlockLost) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto e = i.Extents(i.tree().ls)[0];
    std::vector<std::byte> zero(layout::kSlotSize);
    i.dev().Write(store::Store::SlotOffset(e.block, e.slot), zero.data(), zero.size());
  });
}

// Dentry chains and entries.

TEST(CorruptTest, DentryChainMagic) {
  Corrupt(
      Mode::kDirect, Expect::kRepairable,
      [](FsckImage& i) {
        i.FlipByte(i.Chain(i.Inode(i.tree().sub).map_head)[0] * layout::kBlockSize + 1);
      },
      [](FsckImage& i) {
        // The names of the first block are gone; their inodes are in /lost+found.
        auto lf = i.FindDentry(kRootIno, "lost+found");
        ASSERT_NE(lf.first, 0u);
        const uint64_t lf_ino = i.Dentry(lf.first, lf.second).ino;
        EXPECT_GT(i.Inode(lf_ino).map_head, 0u);
      });
}

TEST(CorruptTest, DentryChecksum) {
  uint64_t f = 0;
  Corrupt(
      Mode::kDirect, Expect::kRepairable,
      [&](FsckImage& i) {
        f = i.tree().f;
        auto [b, s] = i.FindDentry(i.tree().d1, "f");
        i.FlipByte(store::Store::SlotOffset(b, s) + offsetof(layout::DentryHead, name));
      },
      [&](FsckImage& i) { EXPECT_EQ(i.Inode(f).nlink, 1u); });  // only /hl names it now
}

TEST(CorruptTest, DentryInodeZeroed) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto [b, s] = i.FindDentry(kRootIno, "sparse");
    const uint64_t zero = 0;
    i.dev().Write(store::Store::SlotOffset(b, s), &zero, sizeof zero);
  });
}

TEST(CorruptTest, DentryWrongType) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto [b, s] = i.FindDentry(kRootIno, "sparse");
    i.PutDentry(b, s, i.tree().sparse, 4 /* DT_DIR */, "sparse");
  });
}

TEST(CorruptTest, DentryNamesAFreeInode) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto [b, s] = i.FindDentry(kRootIno, "fifo");
    i.PutDentry(b, s, i.Sb().inode_count - 2, 1, "fifo");
  });
}

TEST(CorruptTest, DentryInvalidName) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto [b, s] = i.FreeDentrySlots(kRootIno, 1);
    i.PutDentry(b, s, i.tree().fifo, 1, "a/b");
  });
}

TEST(CorruptTest, DentryDuplicateName) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto [b, s] = i.FreeDentrySlots(kRootIno, 1);
    i.PutDentry(b, s, i.tree().sparse, 8, "hl");
  });
}

TEST(CorruptTest, DirectoryWithTwoParents) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto [b, s] = i.FreeDentrySlots(kRootIno, 1);
    i.PutDentry(b, s, i.tree().sub, 4, "alias");
  });
}

TEST(CorruptTest, DirectoryUnreachable) {
  uint64_t d1 = 0;
  Corrupt(
      Mode::kDirect, Expect::kRepairable,
      [&](FsckImage& i) {
        d1 = i.tree().d1;
        auto [b, s] = i.FindDentry(kRootIno, "d1");
        std::vector<std::byte> zero(layout::kSlotSize);
        i.dev().Write(store::Store::SlotOffset(b, s), zero.data(), zero.size());
      },
      [&](FsckImage& i) {
        auto lf = i.FindDentry(kRootIno, "lost+found");
        ASSERT_NE(lf.first, 0u);
        const uint64_t lf_ino = i.Dentry(lf.first, lf.second).ino;
        auto at = i.FindDentry(lf_ino, "#" + std::to_string(d1));
        EXPECT_NE(at.first, 0u);
        EXPECT_EQ(i.Inode(d1).parent, lf_ino);
      });
}

TEST(CorruptTest, DirectoryLoopCutOff) {
  // d1/sub names d1 and root's name of d1 is gone: d1 and sub form a loop off the tree.
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto [b, s] = i.FindDentry(kRootIno, "d1");
    std::vector<std::byte> zero(layout::kSlotSize);
    i.dev().Write(store::Store::SlotOffset(b, s), zero.data(), zero.size());
    auto [fb, fs] = i.FreeDentrySlots(i.tree().sub, 1);
    i.PutDentry(fb, fs, i.tree().d1, 4, "up");
  });
}

TEST(CorruptTest, DentryNamesTheRoot) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    auto [b, s] = i.FreeDentrySlots(i.tree().d1, 1);
    i.PutDentry(b, s, kRootIno, 4, "root");
  });
}

// Xattr chains.

TEST(CorruptTest, XattrChainMagic) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    i.FlipByte(i.Inode(i.tree().f).xattr_head * layout::kBlockSize + 4);
  });
}

TEST(CorruptTest, XattrValue) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    const uint64_t b = i.Chain(i.Inode(i.tree().f).xattr_head).back();
    i.FlipByte(b * layout::kBlockSize + sizeof(layout::ChainHeader) + 16 + 12);
  });
}

TEST(CorruptTest, XattrChainLoop) {
  Corrupt(Mode::kDirect, Expect::kRepairable, [](FsckImage& i) {
    const std::vector<uint64_t> chain = i.Chain(i.Inode(i.tree().f).xattr_head);
    ASSERT_EQ(chain.size(), 2u);
    layout::ChainHeader h = i.Header(chain[1]);
    h.next = chain[1];  // itself
    i.PutHeader(chain[1], h);
  });
}

// Page descriptors (pages mode).

TEST(CorruptTest, DescriptorRefcount) {
  Corrupt(Mode::kPages, Expect::kRepairable, [](FsckImage& i) {
    const uint64_t page = i.Extents(i.tree().sparse)[0].rec.dev_block;
    layout::PageDescriptor d = i.Descriptor(page);
    ASSERT_EQ(d.refcount, 1u);
    d.refcount = 3;
    i.PutDescriptor(page, d);
  });
}

TEST(CorruptTest, DescriptorOfASharedPage) {
  Corrupt(Mode::kPages, Expect::kRepairable, [](FsckImage& i) {
    const uint64_t page = i.Extents(i.tree().clone)[0].rec.dev_block;
    layout::PageDescriptor d = i.Descriptor(page);
    ASSERT_EQ(d.refcount, 2u);  // f and its clone
    d.flags &= ~layout::kPageShared;
    i.PutDescriptor(page, d);
  });
}

TEST(CorruptTest, DescriptorChecksum) {
  Corrupt(Mode::kPages, Expect::kRepairable, [](FsckImage& i) {
    const uint64_t page = i.Extents(i.tree().many)[7].rec.dev_block;
    i.FlipByte(i.DescriptorOffset(page) + 2);
  });
}

TEST(CorruptTest, DescriptorOfAFreePage) {
  Corrupt(Mode::kPages, Expect::kRepairable, [](FsckImage& i) {
    const uint64_t page = i.FreeDataBlock();
    layout::PageDescriptor d = i.Descriptor(page);
    d.owner = i.tree().f;
    d.refcount = 1;
    d.flags = layout::kPageAllocated;
    i.PutDescriptor(page, d);
  });
}

TEST(CorruptTest, DescriptorAreaHeaderIsNotRepairable) {
  Corrupt(Mode::kPages, Expect::kNotRepairable,
          [](FsckImage& i) { i.FlipByte(i.dev().info().descriptors.offset + 3); });
}

// RAM partition bounds (part labels, resealed so the device still assembles).

void EditLabel(FsckImage& i, const std::function<void(layout::PartLabel&)>& edit) {
  mapping::testing::SimDevice& d = i.sim_device();
  for (auto& part : d.parts) {
    auto* label = reinterpret_cast<layout::PartLabel*>(part->base() + layout::kLabelOffset);
    edit(*label);
    label->checksum = StructChecksum(*label);
  }
  d.Reopen();
}

TEST(CorruptTest, RamPartitionOverlapsDescriptors) {
  Corrupt(Mode::kDirect, Expect::kNotRepairable, [](FsckImage& i) {
    EditLabel(i, [](layout::PartLabel& l) { l.ram_length += 2 * layout::kPageSize; });
  });
}

TEST(CorruptTest, RamPartitionOverlapsTheStore) {
  Corrupt(Mode::kDirect, Expect::kNotRepairable, [](FsckImage& i) {
    EditLabel(i, [](layout::PartLabel& l) {
      l.ram_offset -= layout::kPageSize;
      l.ram_length += layout::kPageSize;
    });
  });
}

// --- random damage ---------------------------------------------------------------------------------

// Random bytes of metadata (superblock, journal header, inode table, bitmap, chain blocks)
// flipped: the checker must finish without crashing; after -y either a second -n is clean or
// the damage is reported as not repairable.
TEST(RandomDamageTest, FlipsInMetadata) {
  std::mt19937_64 rng(20261121);
  for (int round = 0; round < 12; round++) {
    FsckImage img(round % 3 == 2 ? Mode::kPages : Mode::kDirect,
                  round % 3 == 2 ? layout::StoredMode::kPages : layout::StoredMode::kDirect);
    img.Populate();
    mapping::Device& dev = img.Unmount();
    const layout::Superblock sb = img.Sb();
    std::vector<uint64_t> chains;
    for (uint64_t ino : {img.tree().many, img.tree().sub, img.tree().f, kRootIno})
      for (uint64_t b : img.Chain(img.Inode(ino).map_head)) chains.push_back(b);
    for (int k = 0; k < 8; k++) {
      uint64_t off;
      switch (rng() % 4) {
        case 0: off = rng() % (sb.bitmap_start * layout::kBlockSize); break;  // sb, journal, inodes
        case 1: off = sb.inode_start * layout::kBlockSize + rng() % (200 * 256); break;
        case 2: off = sb.bitmap_start * layout::kBlockSize + rng() % (sb.data_start / 8 + 1024); break;
        default: off = chains[rng() % chains.size()] * layout::kBlockSize + rng() % 4096; break;
      }
      img.FlipByte(off, static_cast<uint8_t>(1u << (rng() % 8)));
      g_totals.random_flips++;
    }
    g_totals.random_rounds++;
    Result<CheckReport> n = Check(dev, {});
    if (!n.ok()) {  // both superblocks hit: "not a pmemfs" is a fair answer
      g_totals.random_detected++;
      continue;
    }
    if (!n->clean()) g_totals.random_detected++;
    Result<CheckReport> y = Check(dev, {.repair = true});
    ASSERT_TRUE(y.ok()) << y.status().message();
    CheckReport again = MustCheck(dev, false);
    if (y->ExitCode() <= 1) {
      EXPECT_TRUE(again.clean()) << "round " << round << ":\n" << testing::Describe(*y)
                                 << "second -n:\n" << testing::Describe(again);
      EXPECT_TRUE(img.MountAndUnmount().ok()) << "round " << round;
    } else {
      EXPECT_EQ(again.ExitCode(), 4);
    }
  }
}

}  // namespace
}  // namespace pmemfs::fsck
