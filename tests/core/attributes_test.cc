// chattr attributes (immutable, append-only, sync, noatime, nodump) and the filesystem label:
// what each forbids, for root too, in every mode; persistence; who may change them.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <string>

#include "fs/core/fs.h"
#include "crash_harness.h"
#include "fs_harness.h"

namespace pmemfs::core {
namespace {

using mapping::Mode;
using testing::kRoot;

const Caller kUser{1000, 1000, 022};

class AttrHarness : public testing::FsHarnessBase {
 public:
  explicit AttrHarness(Mode mode) : FsHarnessBase(mode) {}
  // A file `name` in `dir` holding `data`, owned by `c`, closed.
  uint64_t File(uint64_t dir, const std::string& name, const std::string& data,
                const Caller& c = kRoot) {
    auto a = fs_->Create(c, dir, name, 0666, O_RDWR);
    EXPECT_TRUE(a.ok()) << a.status().message();
    if (!a.ok()) return 0;
    if (!data.empty()) {
      EXPECT_TRUE(fs_->Write(c, a->ino, 0, Bytes(data)).ok());
    }
    EXPECT_TRUE(fs_->Release(a->ino).ok());
    return a->ino;
  }
  static std::span<const std::byte> Bytes(const std::string& s) {
    return std::as_bytes(std::span(s.data(), s.size()));
  }
  Code WriteAt(uint64_t ino, uint64_t off, const std::string& s) {
    return fs_->Write(kRoot, ino, off, Bytes(s)).status().code();
  }
  Code OpenClose(uint64_t ino, int flags) {
    Status st = fs_->Open(kRoot, ino, flags);
    if (st.ok()) {
      EXPECT_TRUE(fs_->Release(ino).ok());
    }
    return st.code();
  }
  Code Chmod(uint64_t ino, uint32_t mode) {
    SetAttrRequest r;
    r.fields = kSetMode;
    r.mode = mode;
    return fs_->SetAttr(kRoot, ino, r).status().code();
  }
  Code Truncate(uint64_t ino, uint64_t size) {
    SetAttrRequest r;
    r.fields = kSetSize;
    r.size = size;
    return fs_->SetAttr(kRoot, ino, r).status().code();
  }
  fsck::CheckReport Fsck() {
    EXPECT_TRUE(Unmount().ok());
    return testing::FsckReport(*d_.dev);
  }
};

class AttributesTest : public ::testing::TestWithParam<Mode> {};

TEST_P(AttributesTest, FlagsPersistAndOnlyRootChangesImmutableAndAppend) {
  AttrHarness h(GetParam());
  Filesystem& fs = h.fs();
  const uint64_t f = h.File(kRootIno, "f", "data", kUser);
  EXPECT_EQ(*fs.GetFileFlags(f), 0u);
  // The owner may set nodump and noatime, not immutable or append-only; others nothing.
  EXPECT_TRUE(fs.SetFileFlags(kUser, f, layout::kInodeNodump | layout::kInodeNoatime).ok());
  EXPECT_EQ(fs.SetFileFlags(kUser, f, layout::kInodeImmutable).code(), Code::kPermission);
  EXPECT_EQ(fs.SetFileFlags(kUser, f, layout::kInodeAppend).code(), Code::kPermission);
  EXPECT_EQ(fs.SetFileFlags(Caller{2000, 2000, 022}, f, 0).code(), Code::kPermission);
  EXPECT_EQ(fs.SetFileFlags(kRoot, f, layout::kInodeTruncating).code(), Code::kUnsupported);
  const int64_t ctime_before = fs.GetAttr(f)->ctime.tv_sec * 1000000000ll + fs.GetAttr(f)->ctime.tv_nsec;
  ASSERT_TRUE(fs.SetFileFlags(kRoot, f, layout::kInodeImmutable | layout::kInodeNodump).ok());
  const Attr a = *fs.GetAttr(f);
  EXPECT_GE(a.ctime.tv_sec * 1000000000ll + a.ctime.tv_nsec, ctime_before);
  // Clearing immutable is root's too.
  EXPECT_EQ(fs.SetFileFlags(kUser, f, layout::kInodeNodump).code(), Code::kPermission);
  h.Remount();
  EXPECT_EQ(*h.fs().GetFileFlags(f), layout::kInodeImmutable | layout::kInodeNodump);
  EXPECT_EQ(h.WriteAt(f, 0, "x"), Code::kPermission);
  const fsck::CheckReport r = h.Fsck();
  EXPECT_EQ(r.problems.size(), 0u);
}

TEST_P(AttributesTest, ImmutableRefusesEveryChangeEvenToRoot) {
  AttrHarness h(GetParam());
  Filesystem& fs = h.fs();
  auto dir = fs.MkDir(kRoot, kRootIno, "d", 0755);
  ASSERT_TRUE(dir.ok());
  const uint64_t f = h.File(dir->ino, "f", "immutable data");
  const uint64_t other = h.File(kRootIno, "other", "o");
  const std::string val = "v";
  ASSERT_TRUE(fs.SetXattr(kRoot, f, "user.k", AttrHarness::Bytes(val), 0).ok());
  ASSERT_TRUE(fs.SetFileFlags(kRoot, f, layout::kInodeImmutable).ok());

  EXPECT_EQ(h.WriteAt(f, 0, "x"), Code::kPermission);
  EXPECT_EQ(h.WriteAt(f, 100, "x"), Code::kPermission);
  EXPECT_EQ(h.OpenClose(f, O_WRONLY), Code::kPermission);
  EXPECT_EQ(h.OpenClose(f, O_RDWR | O_APPEND), Code::kPermission);
  EXPECT_EQ(h.OpenClose(f, O_RDONLY | O_TRUNC), Code::kPermission);
  EXPECT_EQ(h.OpenClose(f, O_RDONLY), Code::kOk);
  EXPECT_EQ(h.Truncate(f, 0), Code::kPermission);
  EXPECT_EQ(h.Chmod(f, 0600), Code::kPermission);
  SetAttrRequest touch;
  touch.fields = kSetAtimeNow | kSetMtimeNow;
  EXPECT_EQ(fs.SetAttr(kRoot, f, touch).status().code(), Code::kPermission);
  EXPECT_EQ(fs.Fallocate(f, 0, 0, 8192).code(), Code::kPermission);
  EXPECT_EQ(fs.SetXattr(kRoot, f, "user.k", AttrHarness::Bytes(val), 0).code(), Code::kPermission);
  EXPECT_EQ(fs.RemoveXattr(kRoot, f, "user.k").code(), Code::kPermission);
  EXPECT_EQ(fs.Unlink(kRoot, dir->ino, "f").code(), Code::kPermission);
  EXPECT_EQ(fs.Rename(kRoot, dir->ino, "f", kRootIno, "moved", 0).code(), Code::kPermission);
  EXPECT_EQ(fs.Rename(kRoot, kRootIno, "other", dir->ino, "f", 0).code(), Code::kPermission);
  EXPECT_EQ(fs.Link(kRoot, f, kRootIno, "link").status().code(), Code::kPermission);
  EXPECT_EQ(fs.CopyFileRange(kRoot, other, 0, f, 0, 1).status().code(), Code::kPermission);
  EXPECT_EQ(h.Read(f, 0, 100), "immutable data");

  // An immutable directory: no new names, no removed ones; its files stay writable.
  const uint64_t g = h.File(dir->ino, "g", "g");
  ASSERT_TRUE(fs.SetFileFlags(kRoot, dir->ino, layout::kInodeImmutable).ok());
  EXPECT_EQ(fs.Create(kRoot, dir->ino, "new", 0644, O_RDWR).status().code(), Code::kPermission);
  EXPECT_EQ(fs.MkDir(kRoot, dir->ino, "sub", 0755).status().code(), Code::kPermission);
  EXPECT_EQ(fs.Unlink(kRoot, dir->ino, "g").code(), Code::kPermission);
  EXPECT_EQ(fs.Rename(kRoot, dir->ino, "g", kRootIno, "g", 0).code(), Code::kPermission);
  EXPECT_EQ(fs.Rename(kRoot, kRootIno, "other", dir->ino, "other", 0).code(), Code::kPermission);
  EXPECT_EQ(h.WriteAt(g, 0, "G"), Code::kOk);

  // Cleared, everything works again.
  ASSERT_TRUE(fs.SetFileFlags(kRoot, dir->ino, 0).ok());
  ASSERT_TRUE(fs.SetFileFlags(kRoot, f, 0).ok());
  EXPECT_EQ(h.WriteAt(f, 0, "I"), Code::kOk);
  EXPECT_EQ(fs.Unlink(kRoot, dir->ino, "f").code(), Code::kOk);
}

TEST_P(AttributesTest, AppendOnlyAllowsOnlyAppends) {
  AttrHarness h(GetParam());
  Filesystem& fs = h.fs();
  const uint64_t f = h.File(kRootIno, "log", "line1\n");
  ASSERT_TRUE(fs.SetFileFlags(kRoot, f, layout::kInodeAppend).ok());
  EXPECT_EQ(h.OpenClose(f, O_WRONLY), Code::kPermission);
  EXPECT_EQ(h.OpenClose(f, O_WRONLY | O_APPEND | O_TRUNC), Code::kPermission);
  EXPECT_EQ(h.OpenClose(f, O_RDONLY), Code::kOk);
  ASSERT_EQ(fs.Open(kRoot, f, O_WRONLY | O_APPEND).code(), Code::kOk);
  EXPECT_EQ(h.WriteAt(f, 6, "line2\n"), Code::kOk);
  EXPECT_EQ(h.WriteAt(f, 0, "LINE"), Code::kPermission);
  EXPECT_TRUE(fs.Release(f).ok());
  EXPECT_EQ(h.Read(f, 0, 100), "line1\nline2\n");
  EXPECT_EQ(h.Truncate(f, 0), Code::kPermission);
  EXPECT_EQ(h.Chmod(f, 0600), Code::kPermission);
  SetAttrRequest touch;
  touch.fields = kSetAtimeNow | kSetMtimeNow;  // touch(1) without a date is allowed
  EXPECT_EQ(fs.SetAttr(kRoot, f, touch).status().code(), Code::kOk);
  EXPECT_EQ(fs.Fallocate(f, FALLOC_FL_KEEP_SIZE, 0, 65536).code(), Code::kOk);
  EXPECT_EQ(fs.Fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096).code(),
            Code::kPermission);
  EXPECT_EQ(fs.SetXattr(kRoot, f, "user.k", AttrHarness::Bytes("v"), 0).code(), Code::kPermission);
  EXPECT_EQ(fs.Unlink(kRoot, kRootIno, "log").code(), Code::kPermission);
  EXPECT_EQ(fs.Rename(kRoot, kRootIno, "log", kRootIno, "log2", 0).code(), Code::kPermission);
  EXPECT_EQ(fs.Link(kRoot, f, kRootIno, "log3").status().code(), Code::kPermission);

  // An append-only directory takes new names and keeps the old ones.
  auto dir = fs.MkDir(kRoot, kRootIno, "spool", 0755);
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(fs.SetFileFlags(kRoot, dir->ino, layout::kInodeAppend).ok());
  h.File(dir->ino, "a", "a");
  EXPECT_EQ(fs.Unlink(kRoot, dir->ino, "a").code(), Code::kPermission);
  EXPECT_EQ(fs.Rename(kRoot, dir->ino, "a", dir->ino, "b", 0).code(), Code::kPermission);
}

TEST_P(AttributesTest, NoatimeKeepsAtimeAndIsInherited) {
  AttrHarness h(GetParam());
  Filesystem& fs = h.fs();
  auto dir = fs.MkDir(kRoot, kRootIno, "quiet", 0755);
  ASSERT_TRUE(dir.ok());
  ASSERT_TRUE(fs.SetFileFlags(kRoot, dir->ino, layout::kInodeNoatime | layout::kInodeNodump).ok());
  const uint64_t f = h.File(dir->ino, "f", "data");
  EXPECT_EQ(*fs.GetFileFlags(f), layout::kInodeNoatime | layout::kInodeNodump);
  SetAttrRequest old;
  old.fields = kSetAtime;
  old.atime = {946684800, 0};  // 2000-01-01: relatime would update it on a read
  ASSERT_TRUE(fs.SetAttr(kRoot, f, old).ok());
  EXPECT_EQ(h.Read(f, 0, 4), "data");
  EXPECT_EQ(fs.GetAttr(f)->atime.tv_sec, 946684800);
  ASSERT_TRUE(fs.SetFileFlags(kRoot, f, 0).ok());
  EXPECT_EQ(h.Read(f, 0, 4), "data");
  EXPECT_NE(fs.GetAttr(f)->atime.tv_sec, 946684800);
}

TEST_P(AttributesTest, SyncFileWritesAreDurableWithoutFsync) {
  AttrHarness h(GetParam());
  Filesystem& fs = h.fs();
  auto a = fs.Create(kRoot, kRootIno, "s", 0644, O_RDWR);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(fs.Write(kRoot, a->ino, 0, AttrHarness::Bytes(std::string(10000, 'a'))).ok());
  ASSERT_TRUE(fs.Fsync(a->ino, false).ok());
  ASSERT_TRUE(fs.SetFileFlags(kRoot, a->ino, layout::kInodeSync).ok());
  // An overwrite in place: copy mode keeps it in its DRAM cache until fsync, but for the
  // attribute; the times it sets would be committed late.
  const std::string data(10000, 's');
  ASSERT_TRUE(fs.Write(kRoot, a->ino, 0, AttrHarness::Bytes(data)).ok());
  const Attr written = *fs.GetAttr(a->ino);
  h.CrashAndMount();  // no fsync, no close
  EXPECT_EQ(h.Read(a->ino, 0, data.size()), data);
  EXPECT_EQ(h.fs().GetAttr(a->ino)->mtime.tv_nsec, written.mtime.tv_nsec);
}

TEST_P(AttributesTest, LabelIsRootsAndPersists) {
  AttrHarness h(GetParam());
  Filesystem& fs = h.fs();
  EXPECT_EQ(fs.Label(), "");
  EXPECT_EQ(fs.SetLabel(kUser, "mine").code(), Code::kPermission);
  EXPECT_EQ(fs.SetLabel(kRoot, std::string(64, 'x')).code(), Code::kInvalidArgument);
  ASSERT_TRUE(fs.SetLabel(kRoot, std::string(63, 'y')).ok());
  ASSERT_TRUE(fs.SetLabel(kRoot, "scratch").ok());
  EXPECT_EQ(fs.Label(), "scratch");
  h.CrashAndMount();  // durable on return
  EXPECT_EQ(h.fs().Label(), "scratch");
  EXPECT_EQ(h.Fsck().problems.size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Modes, AttributesTest,
                         ::testing::Values(Mode::kDirect, Mode::kCopy, Mode::kPages),
                         [](const ::testing::TestParamInfo<Mode>& i) {
                           return std::string(mapping::ModeName(i.param));
                         });

}  // namespace
}  // namespace pmemfs::core
