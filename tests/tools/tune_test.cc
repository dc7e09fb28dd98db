// pmemfs-tune's library (tools/tune): -l's description, the offline changes and their refusals,
// and their crash consistency: each change (label, default mode, uuid, all three) is cut at
// every persist point over populated and multi-part devices; after the power loss the device
// assembles, pmemfs-fsck -n finds nothing but (at most) the interrupted uuid change, the next
// read-write open leaves exactly the old or the new filesystem, and the checker is then clean.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "fs/store/store.h"
#include "fsck_test_support.h"
#include "mapping/device_set.h"
#include "store_test_support.h"
#include "tools/fsck/check.h"
#include "tools/tune/describe.h"
#include "tools/tune/offline.h"

namespace pmemfs::tune {
namespace {

using fsck::testing::FsckImage;
using mapping::Mode;
using mapping::testing::SimDevice;
using mapping::testing::SimSetup;

fsck::CheckReport MustCheck(mapping::Device& dev, bool repair = false) {
  Result<fsck::CheckReport> r = fsck::Check(dev, {.repair = repair});
  EXPECT_TRUE(r.ok()) << r.status().message();
  return r.ok() ? *r : fsck::CheckReport{};
}

// What the offline changes touch, as a mount would see it.
struct Identity {
  std::string set_uuid, fs_uuid, label;
  uint32_t mode = 0;
  bool operator==(const Identity&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Identity& i) {
  return os << "{set " << i.set_uuid << ", fs " << i.fs_uuid << ", '" << i.label << "', mode "
            << i.mode << "}";
}

Identity Read(const mapping::Device& dev) {
  Result<layout::Superblock> sb = store::Store::Peek(dev);
  EXPECT_TRUE(sb.ok()) << sb.status().message();
  if (!sb.ok()) return {};
  return {mapping::UuidString(dev.info().set_uuid), mapping::UuidString(sb->uuid),
          std::string(sb->label, strnlen(sb->label, sizeof sb->label)), sb->default_mode};
}

Identity Expected(Identity old, const OfflineChange& c) {
  if (c.label) old.label = *c.label;
  if (c.mode) old.mode = static_cast<uint32_t>(*c.mode);  // Mode and StoredMode agree
  if (c.uuid) old.set_uuid = old.fs_uuid = mapping::UuidString(c.uuid->data());
  return old;
}

std::array<uint8_t, 16> Uuid(const std::string& s) {
  Result<std::array<uint8_t, 16>> u = ParseUuidArgument(s);
  EXPECT_TRUE(u.ok()) << u.status().message();
  return u.ok() ? *u : std::array<uint8_t, 16>{};
}

// A device to tune: a populated one-part filesystem (pages mode by default, so the descriptor
// table is current and checked) or an empty one over several parts.
class Machine {
 public:
  static std::unique_ptr<Machine> Populated(Mode mode = Mode::kPages) {
    auto m = std::make_unique<Machine>();
    m->image_ = std::make_unique<FsckImage>(
        mode, mode == Mode::kPages ? layout::StoredMode::kPages : layout::StoredMode::kDirect);
    m->image_->Populate();
    m->image_->Unmount();
    return m;
  }
  static std::unique_ptr<Machine> Empty(const SimSetup& setup) {
    auto m = std::make_unique<Machine>();
    m->sim_ = store::testing::MakeFormatted(setup);
    return m;
  }
  SimDevice& d() { return image_ ? image_->sim_device() : sim_; }
  mapping::Device& dev() { return *d().dev; }
  uint64_t points() { return d().sim->persist_points(); }

 private:
  std::unique_ptr<FsckImage> image_;
  SimDevice sim_;
};

// --- uuid arguments -----------------------------------------------------------------------------

TEST(ParseUuidArgument, AcceptsTheUsualFormAndGeneratesRandomAndTime) {
  Result<std::array<uint8_t, 16>> u = ParseUuidArgument("0E301E70-9c70-4780-b27e-7a8a1b00e651");
  ASSERT_TRUE(u.ok()) << u.status().message();
  EXPECT_EQ(mapping::UuidString(u->data()), "0e301e70-9c70-4780-b27e-7a8a1b00e651");
  std::array<uint8_t, 16> r1 = Uuid("random"), r2 = Uuid("random");
  EXPECT_NE(r1, r2);
  EXPECT_EQ(r1[6] >> 4, 4);         // version 4
  EXPECT_EQ(r1[8] & 0xc0, 0x80);    // variant 1
  std::array<uint8_t, 16> t = Uuid("time");
  EXPECT_EQ(t[6] >> 4, 1);          // version 1
  EXPECT_EQ(t[8] & 0xc0, 0x80);
  EXPECT_EQ(t[10] & 0x01, 0x01);    // a random node id, marked multicast
  for (const char* bad : {"", "random1", "0e301e70-9c70-4780-b27e-7a8a1b00e65",
                          "0e301e70-9c70-4780-b27e-7a8a1b00e6511", "0e301e70x9c70-4780-b27e-7a8a1b00e651",
                          "0e301e70-9c70-4780-b27e-7a8a1b00e65g",
                          "00000000-0000-0000-0000-000000000000"}) {
    Result<std::array<uint8_t, 16>> b = ParseUuidArgument(bad);
    EXPECT_EQ(b.status().code(), Code::kInvalidArgument) << bad;
  }
}

// --- -l -------------------------------------------------------------------------------------------

TEST(Describe, ShowsWhatTheStoreHolds) {
  FsckImage img(Mode::kDirect);
  img.Populate();
  mapping::Device& dev = img.Unmount();
  const fsck::CheckReport check = MustCheck(dev);
  ASSERT_TRUE(check.clean()) << fsck::testing::Describe(check);
  Result<Description> d = Describe(dev, "sim");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->uuid, mapping::UuidString(dev.info().set_uuid));
  EXPECT_EQ(d->fs_uuid, d->uuid);  // mkpmemfs gives the superblock the device's uuid
  EXPECT_EQ(d->pending_uuid, "");
  EXPECT_EQ(d->default_mode, "direct");
  EXPECT_EQ(d->version, "1.1");
  EXPECT_EQ(d->state, "clean");
  EXPECT_TRUE(d->cleanly_unmounted);
  EXPECT_EQ(d->inodes_used, check.inodes);
  EXPECT_EQ(d->data_blocks, check.data_blocks);
  // Blocks fsck counts as referenced are exactly those -l counts as not free.
  EXPECT_EQ(d->data_blocks - d->data_blocks_free, check.data_blocks_used);
  EXPECT_EQ(d->mount_count, 1u);
  EXPECT_GT(d->mounted_ns, 0u);
  EXPECT_EQ(d->checked_ns, 0u);
  EXPECT_EQ(d->features, (std::vector<std::string>{"large_xattrs", "bitmap_checksums"}));
  EXPECT_EQ(d->parts, 1u);
  EXPECT_EQ(d->ram.length, 2u << 20);
  EXPECT_TRUE(d->bad_ranges.empty());
  const std::string json = DescriptionJson(*d);
  for (const char* key : {"\"uuid\":", "\"label\":", "\"default_mode\":\"direct\"", "\"state\":\"clean\"",
                          "\"mount_count\":1", "\"checked_ns\":0", "\"bad_ranges\":[]",
                          "\"features\":[\"large_xattrs\",\"bitmap_checksums\"]"})
    EXPECT_NE(json.find(key), std::string::npos) << key << " in " << json;
}

TEST(Describe, StatesAfterACrashAndBadRanges) {
  FsckImage img(Mode::kDirect);
  img.Populate();
  // An unlinked file still open when the power goes: an orphan for the next mount.
  core::Filesystem& f = img.fs();
  auto created = f.Create(core::testing::kRoot, layout::kRootIno, "open", 0644, O_RDWR);
  ASSERT_TRUE(created.ok());
  ASSERT_TRUE(f.Unlink(core::testing::kRoot, layout::kRootIno, "open").ok());
  mapping::Device& dev = img.CrashWithoutMount();
  Result<Description> d = Describe(dev, "sim");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->state, "has orphans");
  EXPECT_EQ(d->orphans, 2u);  // this one and Populate's "gone" (the kernel's reference kept it)
  EXPECT_FALSE(d->cleanly_unmounted);
  EXPECT_FALSE(d->journal_pending);
  ASSERT_TRUE(dev.bad_blocks().Inject(dev.info().store().end() - 8192, 4096).ok());
  d = Describe(dev, "sim");
  ASSERT_TRUE(d.ok());
  ASSERT_EQ(d->bad_ranges.size(), 1u);
  EXPECT_EQ(d->bad_ranges[0].length, 4096u);
}

TEST(Describe, NeedsRecoveryWhenTheJournalHoldsACommittedTransaction) {
  // Cut a label change at each point until one leaves its transaction committed, unapplied.
  bool found = false;
  for (uint64_t n = 0; n < 12 && !found; n++) {
    std::unique_ptr<Machine> m = Machine::Empty(store::testing::StoreSetups()[0]);
    m->d().sim->StopAfter(m->points() + n);
    ASSERT_TRUE(ApplyOffline(m->dev(), {.label = "x"}).ok());
    m->d().CrashAndReopen();
    Result<Description> d = Describe(m->dev(), "sim");
    ASSERT_TRUE(d.ok());
    if (!d->journal_pending) continue;
    found = true;
    EXPECT_EQ(d->state, "needs recovery");
    // No offline change until a mount has replayed it (tune opens without the descriptors).
    Status s = ApplyOffline(m->dev(), {.label = "y"});
    EXPECT_EQ(s.code(), Code::kBusy) << s.message();
    EXPECT_NE(s.message().find("needs recovery"), std::string::npos) << s.message();
  }
  EXPECT_TRUE(found);
}

// --- changes and refusals --------------------------------------------------------------------

TEST(ApplyOffline, ChangesLabelModeAndUuidAndStaysMountableAndClean) {
  FsckImage img(Mode::kDirect);
  img.Populate();
  mapping::Device& dev = img.Unmount();
  const Identity before = Read(dev);
  const uint64_t mounts = store::Store::Peek(dev)->mount_count;
  const OfflineChange c{.label = "renamed", .uuid = Uuid("random"), .mode = Mode::kCopy};
  ASSERT_TRUE(ApplyOffline(dev, c).ok());
  EXPECT_EQ(Read(dev), Expected(before, c));
  img.sim_device().Reopen();
  EXPECT_EQ(Read(img.dev()), Expected(before, c));
  // Not a mount: the count and the clean state stay.
  EXPECT_EQ(store::Store::Peek(img.dev())->mount_count, mounts);
  EXPECT_EQ(Describe(img.dev(), "sim")->state, "clean");
  const fsck::CheckReport check = MustCheck(img.dev());
  EXPECT_TRUE(check.clean()) << fsck::testing::Describe(check);
  Status m = img.MountAndUnmount();
  EXPECT_TRUE(m.ok()) << m.message();
}

TEST(ApplyOffline, ChangesTheUuidOfEveryPart) {
  for (const SimSetup& setup : store::testing::StoreSetups()) {
    SCOPED_TRACE(setup.name);
    std::unique_ptr<Machine> m = Machine::Empty(setup);
    const std::array<uint8_t, 16> u = Uuid("time");
    ASSERT_TRUE(ApplyOffline(m->dev(), {.uuid = u}).ok());
    m->d().Reopen();
    EXPECT_EQ(mapping::UuidString(m->dev().info().set_uuid), mapping::UuidString(u.data()));
    EXPECT_FALSE(m->dev().info().uuid_change_pending());
    for (size_t p = 0; p < m->dev().part_count(); p++) {
      EXPECT_TRUE(m->dev().header_state(p).primary_ok);
      EXPECT_TRUE(m->dev().header_state(p).backup_ok);
      layout::PartLabel l;
      std::memcpy(&l, m->dev().part(p).base(), sizeof l);
      EXPECT_EQ(std::memcmp(l.set_uuid, u.data(), 16), 0);
    }
    EXPECT_TRUE(MustCheck(m->dev()).clean());
  }
}

// Everything in the device's parts, to prove a refusal wrote nothing.
std::string Snapshot(const mapping::Device& dev) {
  std::string out;
  for (size_t p = 0; p < dev.part_count(); p++)
    out.append(reinterpret_cast<const char*>(dev.part(p).base()), dev.part(p).size());
  return out;
}

TEST(ApplyOffline, RefusesWithAReasonAndChangesNothing) {
  // Pages mode needs the descriptor area.
  {
    SimDevice d = mapping::testing::MakeSimDevice(store::testing::StoreSetups()[0],
                                                  {.reserve_descriptors = false});
    ASSERT_TRUE(store::Store::Format(*d.dev, {}).ok());
    const std::string before = Snapshot(*d.dev);
    Status s = ApplyOffline(*d.dev, {.label = "x", .mode = Mode::kPages});
    EXPECT_EQ(s.code(), Code::kUnsupported);
    EXPECT_NE(s.message().find("no page-descriptor area"), std::string::npos) << s.message();
    EXPECT_EQ(Snapshot(*d.dev), before);
  }
  // Shared pages (a clone in pages mode): only pages mode mounts them.
  {
    std::unique_ptr<Machine> m = Machine::Populated();
    ASSERT_TRUE(store::Store::Peek(m->dev())->incompat & layout::kIncompatSharedPages);
    const std::string before = Snapshot(m->dev());
    for (Mode mode : {Mode::kCopy, Mode::kDirect}) {
      Status s = ApplyOffline(m->dev(), {.mode = mode});
      EXPECT_EQ(s.code(), Code::kUnsupported);
      EXPECT_NE(s.message().find("share pages"), std::string::npos) << s.message();
    }
    EXPECT_EQ(Snapshot(m->dev()), before);
  }
  // A label too long.
  {
    std::unique_ptr<Machine> m = Machine::Empty(store::testing::StoreSetups()[0]);
    const std::string before = Snapshot(m->dev());
    Status s = ApplyOffline(m->dev(), {.label = std::string(64, 'x')});
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.message();
    EXPECT_EQ(Snapshot(m->dev()), before);
    EXPECT_TRUE(ApplyOffline(m->dev(), {.label = std::string(63, 'x')}).ok());
  }
}

// --- crash consistency ------------------------------------------------------------------------

struct CrashCase {
  std::string name;
  bool populated;  // else an empty filesystem over `setup`
  SimSetup setup;
  OfflineChange change;
  Mode mode = Mode::kPages;  // of the populated filesystem
};
void PrintTo(const CrashCase& c, std::ostream* os) { *os << c.name; }

std::vector<CrashCase> CrashCases() {
  const std::vector<SimSetup> setups = store::testing::StoreSetups();
  const SimSetup one = setups[0];
  const auto u = Uuid("0e301e70-9c70-4780-b27e-7a8a1b00e651");
  std::vector<CrashCase> out = {
      {"LabelPopulated", true, one, {.label = "new-label"}},
      {"ModePopulated", true, one, {.mode = Mode::kCopy}, Mode::kDirect},
      {"UuidPopulated", true, one, {.uuid = u}},
      {"AllPopulated", true, one, {.label = "all", .uuid = u, .mode = Mode::kPages}},
  };
  for (const SimSetup& s : setups)
    if (s.parts > 1)
      out.push_back({"All" + s.name, false, s, {.label = "parts", .uuid = u, .mode = Mode::kCopy}});
  return out;
}

class TuneCrashTest : public ::testing::TestWithParam<CrashCase> {
 protected:
  std::unique_ptr<Machine> Fresh() {
    return GetParam().populated ? Machine::Populated(GetParam().mode)
                                : Machine::Empty(GetParam().setup);
  }
  uint64_t CountPoints() {
    std::unique_ptr<Machine> m = Fresh();
    const uint64_t base = m->points();
    EXPECT_TRUE(ApplyOffline(m->dev(), GetParam().change).ok());
    return m->points() - base;
  }
  // What a crashed device must show: assembled (done by Reopen), the checker finding nothing
  // but an interrupted uuid change; after a read-write open (a mount) exactly `old` or `now`,
  // labels whole, the checker clean. Returns which (0 old, 1 new, -1 neither).
  int CheckRecovered(Machine& m, const Identity& old, const Identity& now) {
    // Before recovery the checker reports the work the next mount does, and nothing else: the
    // interrupted uuid change, a committed transaction to replay, a superblock copy that is
    // torn or one update behind the other (each copy is a transaction of its own).
    const Result<layout::Superblock> sb = store::Store::Peek(m.dev());
    const bool pending =
        sb.ok() ? store::Store::UuidChangeInterrupted(*sb, m.dev())
                : m.dev().info().uuid_change_pending();
    const fsck::CheckReport n = MustCheck(m.dev());
    for (const fsck::Problem& p : n.problems)
      EXPECT_TRUE((p.area == "label" && pending) || p.area == "journal" || p.area == "superblock")
          << p.area << ": " << p.message;
    {
      auto s = store::Store::Open(m.dev(), nullptr);
      EXPECT_TRUE(s.ok()) << s.status().message();
      if (!s.ok()) return -1;
      EXPECT_TRUE((*s)->Close().ok());
    }
    m.d().Reopen();
    EXPECT_FALSE(m.dev().info().uuid_change_pending());
    for (size_t p = 0; p < m.dev().part_count(); p++)
      EXPECT_TRUE(m.dev().header_state(p).primary_ok && m.dev().header_state(p).backup_ok)
          << "part " << p;
    const fsck::CheckReport after = MustCheck(m.dev());
    EXPECT_TRUE(after.clean()) << fsck::testing::Describe(after);
    const Identity got = Read(m.dev());
    if (got == old) return 0;
    if (got == now) return 1;
    ADD_FAILURE() << "neither old " << old << " nor new " << now << ": " << got;
    return -1;
  }
};

TEST_P(TuneCrashTest, EveryPersistPointLeavesTheOldOrTheNewFilesystem) {
  const uint64_t total = CountPoints();
  ASSERT_GE(total, 2u);
  uint64_t states = 0, fresh = 0;
  for (double keep : {0.0, 0.5}) {
    for (uint64_t n = 0; n <= total; n++) {
      SCOPED_TRACE("keep " + std::to_string(keep) + " cut after point " + std::to_string(n));
      std::unique_ptr<Machine> m = Fresh();
      const Identity old = Read(m->dev());
      const Identity now = Expected(old, GetParam().change);
      m->d().sim->StopAfter(m->points() + n);
      ASSERT_TRUE(ApplyOffline(m->dev(), GetParam().change).ok());
      m->d().CrashAndReopen(keep);
      const int which = CheckRecovered(*m, old, now);
      ASSERT_NE(which, -1);
      if (n == 0) {
        EXPECT_EQ(which, 0);
      }
      if (n == total) {
        EXPECT_EQ(which, 1);
      }
      states++;
      fresh += which;
    }
  }
  EXPECT_GT(fresh, 0u);
  std::cout << "[ crash    ] " << GetParam().name << ": " << states << " crash states (" << total
            << " persist points x 2), " << fresh << " recovered to the new filesystem\n";
}

// The recovery itself (finishing an interrupted uuid change) cut at each of its persist points
// and run again recovers to the same filesystem.
TEST_P(TuneCrashTest, CrashDuringRecoveryRecoversTheSameWay) {
  if (!GetParam().change.uuid) GTEST_SKIP() << "only a uuid change has recovery work";
  if (GetParam().name == "UuidPopulated") GTEST_SKIP() << "AllPopulated covers it";
  const uint64_t total = CountPoints();
  uint64_t states = 0;
  for (uint64_t n = 0; n <= total; n++) {
    SCOPED_TRACE("cut after point " + std::to_string(n));
    // The undisturbed recovery: where it goes and its persist points.
    std::unique_ptr<Machine> m = Fresh();
    const Identity old = Read(m->dev());
    const Identity now = Expected(old, GetParam().change);
    m->d().sim->StopAfter(m->points() + n);
    ASSERT_TRUE(ApplyOffline(m->dev(), GetParam().change).ok());
    m->d().CrashAndReopen();
    {
      const Result<layout::Superblock> sb = store::Store::Peek(m->dev());
      ASSERT_TRUE(sb.ok());
      if (!store::Store::UuidChangeInterrupted(*sb, m->dev())) continue;
    }
    const uint64_t before = m->points();
    {
      auto s = store::Store::Open(m->dev(), nullptr);
      ASSERT_TRUE(s.ok()) << s.status().message();
    }
    const uint64_t recovery = m->points() - before;
    m->d().Reopen();
    const Identity expect = Read(m->dev());
    ASSERT_TRUE(expect == old || expect == now) << expect;
    for (uint64_t r = 0; r < recovery; r++) {
      SCOPED_TRACE("recovery cut after point " + std::to_string(r));
      std::unique_ptr<Machine> m2 = Fresh();  // another random set uuid: its own old state
      const Identity old2 = Read(m2->dev());
      const Identity now2 = Expected(old2, GetParam().change);
      m2->d().sim->StopAfter(m2->points() + n);
      ASSERT_TRUE(ApplyOffline(m2->dev(), GetParam().change).ok());
      m2->d().CrashAndReopen();
      m2->d().sim->StopAfter(m2->points() + r);
      {
        auto s = store::Store::Open(m2->dev(), nullptr);
        ASSERT_TRUE(s.ok()) << s.status().message();
      }
      m2->d().CrashAndReopen(0.5);
      ASSERT_EQ(CheckRecovered(*m2, old2, now2), expect == old ? 0 : 1);
      states++;
    }
  }
  std::cout << "[ crash    ] " << GetParam().name << ": " << states
            << " crash states inside recovery\n";
}

INSTANTIATE_TEST_SUITE_P(Changes, TuneCrashTest, ::testing::ValuesIn(CrashCases()),
                         [](const ::testing::TestParamInfo<CrashCase>& p) { return p.param.name; });

}  // namespace
}  // namespace pmemfs::tune
