// Extended attribute values up to 64 KiB (XATTR_SIZE_MAX), in every mode: every size class
// round trips and survives a remount; replacing moves a value between its block and blocks of
// its own, freeing what it leaves; removexattr and the unlink of the last name free them; ENOSPC
// keeps the old value and leaks nothing; the list of names stops at 64 KiB; RAM-partition files
// and ACLs take long values too; and a crash at every persist point of long values being set,
// replaced and removed leaves the old or the new value, with pmemfs-fsck clean.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fs/core/acl.h"
#include "fs/core/fs.h"
#include "fs_harness.h"
#include "pmemfs/crc32c.h"
#include "tools/fsck/check.h"

namespace pmemfs::core {
namespace {

using mapping::Mode;
using testing::kRoot;
using Bytes = std::vector<std::byte>;

Bytes Pattern(size_t n, uint8_t seed) {
  Bytes v(n);
  for (size_t i = 0; i < n; i++) v[i] = static_cast<std::byte>((i * 7 + seed * 13 + i / 251) & 0xff);
  return v;
}

// Blocks a value of `n` bytes holds besides its xattr block.
uint64_t ValueBlocks(size_t n) { return n > layout::kXattrMaxValue ? (n + 4095) / 4096 : 0; }

class XattrHarness : public testing::FsHarnessBase {
 public:
  explicit XattrHarness(Mode mode, uint64_t part_size = 24ull << 20,
                        const store::FormatOptions& format = {})
      : FsHarnessBase(mode, {}, part_size, format) {}

  uint64_t File(uint64_t dir, const std::string& name) {
    auto a = fs_->Create(kRoot, dir, name, 0644, O_RDWR);
    EXPECT_TRUE(a.ok()) << a.status().message();
    if (!a.ok()) return 0;
    EXPECT_TRUE(fs_->Release(a->ino).ok());
    return a->ino;
  }
  Status Set(uint64_t ino, const std::string& name, const Bytes& v, int flags = 0) {
    return fs_->SetXattr(kRoot, ino, name, v, flags);
  }
  Bytes Get(uint64_t ino, const std::string& name) {
    auto v = fs_->GetXattr(ino, name);
    EXPECT_TRUE(v.ok()) << name << ": " << v.status().message();
    return v.ok() ? *v : Bytes{};
  }
  uint64_t FreeBlocks() { return fs_->StatFs()->free_blocks; }
  uint64_t Blocks(uint64_t ino) { return fs_->GetAttr(ino)->blocks / 8; }  // 4 KiB blocks
  Result<uint64_t> Lookup(uint64_t dir, const std::string& name) {
    PMEMFS_ASSIGN_OR_RETURN(Attr a, fs_->Lookup(kRoot, dir, name));
    return a.ino;
  }
  // Unmounts and runs pmemfs-fsck -n: its problems (each also a test failure).
  std::vector<fsck::Problem> Fsck() {
    EXPECT_TRUE(Unmount().ok());
    auto r = fsck::Check(*d_.dev, {});
    EXPECT_TRUE(r.ok()) << r.status().message();
    if (!r.ok()) return {{"operational", r.status().message()}};
    return r->problems;
  }
  // Power loss now (or at the stop point set), the crashed device checked by pmemfs-fsck -n
  // before any mount: its problems. Then mounted (recovery).
  std::vector<fsck::Problem> CrashCheckAndMount(double keep) {
    if (!d_.sim->stopped()) d_.sim->StopAfter(d_.sim->persist_points());
    fs_.reset();
    d_.sim->Crash(keep);
    d_.Reopen();
    auto r = fsck::Check(*d_.dev, {});
    EXPECT_TRUE(r.ok()) << r.status().message();
    d_.Reopen();
    Mount();
    return r.ok() ? r->problems : std::vector<fsck::Problem>{};
  }
  // Fills the data area until not even a block is left: a file as large as fallocate allows,
  // then long, then short xattrs of another file for the blocks fallocate keeps in reserve.
  void Fill() {
    const uint64_t f = File(kRootIno, "fill");
    uint64_t off = 0;
    for (uint64_t chunk = 1 << 20; chunk >= 4096; chunk /= 2)
      while (fs_->Fallocate(f, 0, off, chunk).ok()) off += chunk;
    const uint64_t pad = File(kRootIno, "pad");
    int i = 0;
    for (size_t n : {65536, 16384, 4097, 1})
      while (fs_->SetXattr(kRoot, pad, "user.p" + std::to_string(i), Bytes(n), 0).ok()) i++;
  }
};

class XattrTest : public ::testing::TestWithParam<Mode> {};

std::string ModeName(const ::testing::TestParamInfo<Mode>& i) { return mapping::ModeName(i.param); }

void ExpectClean(const std::vector<fsck::Problem>& problems) {
  for (const fsck::Problem& p : problems) ADD_FAILURE() << p.area << ": " << p.message;
}

TEST_P(XattrTest, EverySizeUpTo64KiBRoundTripsAndSurvivesARemount) {
  XattrHarness h(GetParam());
  const uint64_t f = h.File(kRootIno, "f");
  const uint64_t free_before = h.FreeBlocks();
  const size_t sizes[] = {0, 1, 3700, 3761, 3762, 4096, 4097, 65535, 65536};
  uint64_t blocks = 0;
  for (size_t n : sizes) {
    ASSERT_TRUE(h.Set(f, "user.s" + std::to_string(n), Pattern(n, n & 0xff)).ok()) << n;
    blocks += 1 + ValueBlocks(n);
    EXPECT_EQ(h.Get(f, "user.s" + std::to_string(n)), Pattern(n, n & 0xff)) << n;
  }
  EXPECT_EQ(h.Blocks(f), blocks);
  EXPECT_EQ(h.FreeBlocks(), free_before - blocks);
  auto too_big = h.Set(f, "user.big", Bytes(layout::kXattrMaxSize + 1));
  EXPECT_EQ(too_big.code(), Code::kTooBig);  // E2BIG
  h.Remount();
  for (size_t n : sizes) EXPECT_EQ(h.Get(f, "user.s" + std::to_string(n)), Pattern(n, n & 0xff)) << n;
  EXPECT_EQ(h.fs().ListXattr(f)->size(), std::size(sizes));
  EXPECT_EQ(h.Blocks(f), blocks);
  ExpectClean(h.Fsck());
}

TEST_P(XattrTest, ReplacingMovesTheValueAndFreesWhatItLeaves) {
  XattrHarness h(GetParam());
  const uint64_t f = h.File(kRootIno, "f");
  const uint64_t free_before = h.FreeBlocks();
  // large -> small -> large -> larger -> smaller but still out of line -> empty
  const size_t sizes[] = {65536, 10, 5000, 65536, 4097, 0, 3762};
  for (size_t i = 0; i < std::size(sizes); i++) {
    const size_t n = sizes[i];
    ASSERT_TRUE(h.Set(f, "user.v", Pattern(n, i)).ok()) << n;
    EXPECT_EQ(h.Get(f, "user.v"), Pattern(n, i)) << n;
    EXPECT_EQ(h.Blocks(f), 1 + ValueBlocks(n)) << n;
    EXPECT_EQ(h.FreeBlocks(), free_before - 1 - ValueBlocks(n)) << n;
  }
  // XATTR_REPLACE and XATTR_CREATE on a long value.
  EXPECT_EQ(h.Set(f, "user.v", Pattern(9000, 1), XATTR_CREATE).code(), Code::kAlreadyExists);
  ASSERT_TRUE(h.Set(f, "user.v", Pattern(9000, 1), XATTR_REPLACE).ok());
  h.Remount();
  EXPECT_EQ(h.Get(f, "user.v"), Pattern(9000, 1));
  ASSERT_TRUE(h.fs().RemoveXattr(kRoot, f, "user.v").ok());
  EXPECT_EQ(h.FreeBlocks(), free_before);
  EXPECT_EQ(h.Blocks(f), 0u);
  EXPECT_EQ(h.fs().GetXattr(f, "user.v").status().code(), Code::kNoData);
  ExpectClean(h.Fsck());
}

TEST_P(XattrTest, UnlinkOfTheLastNameFreesLongValues) {
  XattrHarness h(GetParam());
  const uint64_t f = h.File(kRootIno, "f");
  const uint64_t free_before = h.FreeBlocks();
  ASSERT_TRUE(h.Set(f, "user.a", Pattern(65536, 1)).ok());
  ASSERT_TRUE(h.Set(f, "user.b", Pattern(20000, 2)).ok());
  ASSERT_TRUE(h.Set(f, "trusted.c", Pattern(30, 3)).ok());
  ASSERT_TRUE(h.fs().Link(kRoot, f, kRootIno, "g").ok());
  ASSERT_TRUE(h.fs().Unlink(kRoot, kRootIno, "f").ok());
  EXPECT_EQ(h.Get(f, "user.a"), Pattern(65536, 1));  // still named "g"
  ASSERT_TRUE(h.fs().Unlink(kRoot, kRootIno, "g").ok());
  EXPECT_EQ(h.FreeBlocks(), free_before);  // at once, before the kernel forgets the inode
  h.fs().Forget(f, 1);
  EXPECT_EQ(h.FreeBlocks(), free_before);
  h.Remount();
  EXPECT_EQ(h.FreeBlocks(), free_before);
  ExpectClean(h.Fsck());
}

TEST_P(XattrTest, NoSpaceKeepsTheOldValueAndLeaksNothing) {
  XattrHarness h(GetParam());
  const uint64_t f = h.File(kRootIno, "f");
  ASSERT_TRUE(h.Set(f, "user.big", Pattern(65536, 1)).ok());
  ASSERT_TRUE(h.Set(f, "user.small", Pattern(100, 2)).ok());
  h.Fill();
  const uint64_t free_full = h.FreeBlocks();
  // (free_full counts the RAM partition's blocks.) Not a block left in the store:
  ASSERT_EQ(h.Set(f, "user.one", Pattern(1, 0)).code(), Code::kNoSpace);
  // Each needs blocks that are not there: small -> long, long -> another long (both live until
  // the commit), a new long name.
  EXPECT_EQ(h.Set(f, "user.small", Pattern(65536, 3)).code(), Code::kNoSpace);
  EXPECT_EQ(h.Set(f, "user.big", Pattern(65536, 4)).code(), Code::kNoSpace);
  EXPECT_EQ(h.Set(f, "user.new", Pattern(65536, 5)).code(), Code::kNoSpace);
  EXPECT_EQ(h.FreeBlocks(), free_full);
  EXPECT_EQ(h.Get(f, "user.big"), Pattern(65536, 1));
  EXPECT_EQ(h.Get(f, "user.small"), Pattern(100, 2));
  EXPECT_EQ(h.fs().ListXattr(f)->size(), 2u);
  h.Remount();
  EXPECT_EQ(h.Get(f, "user.big"), Pattern(65536, 1));
  EXPECT_EQ(h.Get(f, "user.small"), Pattern(100, 2));
  EXPECT_EQ(h.FreeBlocks(), free_full);
  // Removing the long value makes room for another.
  ASSERT_TRUE(h.fs().RemoveXattr(kRoot, f, "user.big").ok());
  ASSERT_TRUE(h.Set(f, "user.small", Pattern(65536, 6)).ok());
  EXPECT_EQ(h.Get(f, "user.small"), Pattern(65536, 6));
  ExpectClean(h.Fsck());
}

TEST_P(XattrTest, TheListOfNamesStopsAt64KiB) {
  XattrHarness h(GetParam());
  const uint64_t f = h.File(kRootIno, "f");
  auto name = [](int i) {  // 250 bytes: 251 in the list with its NUL
    std::string n = "user." + std::to_string(1000 + i);
    return n + std::string(250 - n.size(), 'n');
  };
  const int fit = 65536 / 251;  // 261
  for (int i = 0; i < fit; i++) ASSERT_TRUE(h.Set(f, name(i), Pattern(10, i)).ok()) << i;
  EXPECT_EQ(h.Set(f, name(fit), Pattern(10, 0)).code(), Code::kNoSpace);
  const std::string last = "user." + std::string(25, 'x');  // 31 bytes: 4 more than fit
  EXPECT_EQ(h.Set(f, last, Pattern(10, 0)).code(), Code::kNoSpace);
  ASSERT_TRUE(h.Set(f, name(7), Pattern(65536, 7)).ok());  // an existing name: no new list entry
  auto list = h.fs().ListXattr(f);
  ASSERT_TRUE(list.ok());
  uint64_t bytes = 0;
  for (const std::string& n : *list) bytes += n.size() + 1;
  EXPECT_EQ(list->size(), static_cast<size_t>(fit));
  EXPECT_LE(bytes, 65536u);
  ASSERT_TRUE(h.fs().RemoveXattr(kRoot, f, name(0)).ok());
  EXPECT_TRUE(h.Set(f, last, Pattern(10, 0)).ok());
  ExpectClean(h.Fsck());
}

TEST_P(XattrTest, RamPartitionFilesTakeLongValues) {
  XattrHarness h(GetParam());
  auto ram = h.Lookup(kRootIno, "ram");
  ASSERT_TRUE(ram.ok());
  const uint64_t v = h.File(*ram, "scratch");
  ASSERT_GE(v, kVolatileInoBase);
  const uint64_t free_before = h.FreeBlocks();
  ASSERT_TRUE(h.Set(v, "user.big", Pattern(65536, 1)).ok());
  EXPECT_EQ(h.Get(v, "user.big"), Pattern(65536, 1));
  ASSERT_TRUE(h.Set(v, "user.big", Pattern(10, 2)).ok());
  EXPECT_EQ(h.Get(v, "user.big"), Pattern(10, 2));
  EXPECT_EQ(h.Set(v, "user.huge", Bytes(layout::kXattrMaxSize + 1)).code(), Code::kTooBig);
  ASSERT_TRUE(h.fs().RemoveXattr(kRoot, v, "user.big").ok());
  EXPECT_EQ(h.FreeBlocks(), free_before);  // nothing of it in the store
  ExpectClean(h.Fsck());
}

// An access ACL of 600 named users (4836 bytes) lives out of line: enforced as any other,
// rewritten by chmod (its mask), kept across a remount.
TEST_P(XattrTest, LongAclsAreKeptAndFollowChmod) {
  XattrHarness h(GetParam());
  const uint64_t f = h.File(kRootIno, "f");
  acl::Acl a{{acl::kUserObj, 6, acl::kNoId}};
  for (uint32_t id = 1000; id < 1600; id++) a.push_back({acl::kUser, acl::kRead, id});
  a.push_back({acl::kGroupObj, 4, acl::kNoId});
  a.push_back({acl::kMask, 6, acl::kNoId});
  a.push_back({acl::kOther, 0, acl::kNoId});
  const Bytes value = acl::Serialize(a);
  ASSERT_GT(value.size(), layout::kXattrMaxValue);
  ASSERT_TRUE(h.Set(f, std::string(acl::kAccessXattr), value).ok());
  EXPECT_EQ(h.Get(f, std::string(acl::kAccessXattr)), value);
  EXPECT_EQ(h.fs().GetAttr(f)->mode & 0777, 0660u);  // the mask as group bits
  SetAttrRequest r;
  r.fields = kSetMode;
  r.mode = 0640;
  ASSERT_TRUE(h.fs().SetAttr(kRoot, f, r).ok());
  h.Remount();
  auto parsed = acl::Parse(h.Get(f, std::string(acl::kAccessXattr)));
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed->size(), a.size());
  EXPECT_EQ((*parsed)[602].tag, acl::kMask);
  EXPECT_EQ((*parsed)[602].perm, acl::kRead);  // chmod g=r became the mask
  EXPECT_EQ(h.Blocks(f), 1 + ValueBlocks(value.size()));
  ExpectClean(h.Fsck());
}

// A filesystem made before the feature: its first long value sets it, and it keeps working.
TEST_P(XattrTest, AnOlderFilesystemGetsTheFeatureWithItsFirstLongValue) {
  XattrHarness h(GetParam(), 24ull << 20, {.large_xattrs = false});
  const uint64_t f = h.File(kRootIno, "f");
  ASSERT_TRUE(h.Set(f, "user.short", Pattern(3761, 1)).ok());
  ASSERT_TRUE(h.Set(f, "user.long", Pattern(65536, 2)).ok());
  h.Remount();
  EXPECT_EQ(h.Get(f, "user.short"), Pattern(3761, 1));
  EXPECT_EQ(h.Get(f, "user.long"), Pattern(65536, 2));
  ExpectClean(h.Fsck());
}

INSTANTIATE_TEST_SUITE_P(Modes, XattrTest,
                         ::testing::Values(Mode::kDirect, Mode::kCopy, Mode::kPages), ModeName);

// --- power loss -----------------------------------------------------------------------------

// What the crash test checks: f's attributes (name -> CRC and length), or that f is gone.
std::string Describe(XattrHarness& h) {
  auto f = h.Lookup(kRootIno, "f");
  if (!f.ok()) return "no f\n";
  std::ostringstream out;
  auto names = h.fs().ListXattr(*f);
  if (!names.ok()) return "list: " + names.status().message() + "\n";
  for (const std::string& n : *names) {
    auto v = h.fs().GetXattr(*f, n);
    out << n << " = ";
    if (v.ok()) {
      out << v->size() << " bytes, crc " << Crc32c(v->data(), v->size());
    } else {
      out << v.status().message();
    }
    out << "\n";
  }
  return out.str();
}

// Each step is one call: long values set, replaced by long and short ones, removed, and the
// file unlinked with its attributes.
std::vector<std::function<void(XattrHarness&, uint64_t)>> Steps() {
  auto set = [](std::string name, size_t n, uint8_t seed) {
    return [=](XattrHarness& h, uint64_t f) { ASSERT_TRUE(h.Set(f, name, Pattern(n, seed)).ok()); };
  };
  return {
      set("user.a", 65536, 1),  // new, long
      set("user.a", 65536, 2),  // long by long
      set("user.a", 100, 3),    // long by short
      set("user.a", 5000, 4),   // short by long
      set("user.b", 4097, 5),   // a second one
      [](XattrHarness& h, uint64_t f) { ASSERT_TRUE(h.fs().RemoveXattr(kRoot, f, "user.a").ok()); },
      [](XattrHarness& h, uint64_t) {
        ASSERT_TRUE(h.fs().Unlink(kRoot, kRootIno, "f").ok());
      },
  };
}

class XattrCrashTest : public ::testing::TestWithParam<Mode> {};

TEST_P(XattrCrashTest, EveryPersistPointLeavesTheOldOrTheNewValue) {
  std::vector<std::string> states;
  uint64_t base = 0, total = 0, f = 0;
  {
    XattrHarness h(GetParam());
    f = h.File(kRootIno, "f");
    base = h.sim().sim->persist_points();
    states.push_back(Describe(h));
    for (auto& step : Steps()) {
      step(h, f);
      states.push_back(Describe(h));
    }
    total = h.sim().sim->persist_points();
  }
  uint64_t explored = 0;
  for (uint64_t stop = base; stop <= total; stop++) {
    for (double keep : {0.0, 0.5}) {
      XattrHarness h(GetParam());
      ASSERT_EQ(h.File(kRootIno, "f"), f);
      ASSERT_EQ(h.sim().sim->persist_points(), base);
      h.sim().sim->StopAfter(stop);
      size_t done = 0;
      for (auto& step : Steps()) {
        step(h, f);
        if (h.sim().sim->stopped()) break;
        done++;
      }
      for (const fsck::Problem& p : h.CrashCheckAndMount(keep))  // a replay is all it may need
        EXPECT_EQ(p.area, "journal") << "stop " << stop << ": " << p.message;
      const std::string got = Describe(h);
      const bool ok = got == states[done] || (done + 1 < states.size() && got == states[done + 1]);
      EXPECT_TRUE(ok) << "stop " << stop << " keep " << keep << " after " << done << " steps:\n"
                      << got << "expected:\n" << states[done];
      std::vector<fsck::Problem> after = h.Fsck();
      ExpectClean(after);
      explored++;
      if (!ok || !after.empty()) return;
    }
  }
  std::cout << "[ crash states explored: " << explored << " ]" << std::endl;
}

INSTANTIATE_TEST_SUITE_P(Modes, XattrCrashTest,
                         ::testing::Values(Mode::kDirect, Mode::kCopy, Mode::kPages), ModeName);

}  // namespace
}  // namespace pmemfs::core
