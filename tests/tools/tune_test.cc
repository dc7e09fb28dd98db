// pmemfs-tune's library (tools/tune): -l's description, the offline changes and their refusals,
// and their crash consistency: each change (label, default mode, uuid, all three; the descriptor
// area on and off, the RAM partition's size, with others at once) is cut at every persist point
// over populated and multi-part devices; after the power loss the device assembles,
// pmemfs-fsck -n finds nothing but (at most) the interrupted uuid or geometry change, the next
// read-write open leaves exactly the old or the new filesystem, and the checker is then clean.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>

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
using fsck::testing::MustCheck;
using mapping::Mode;
using mapping::testing::SimDevice;
using mapping::testing::SimSetup;

// What the offline changes touch, as a mount would see it.
struct Identity {
  std::string set_uuid, fs_uuid, label;
  uint32_t mode = 0;
  std::string geometry;  // the RAM partition and the descriptor area (part labels)
  bool operator==(const Identity&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Identity& i) {
  return os << "{set " << i.set_uuid << ", fs " << i.fs_uuid << ", '" << i.label << "', mode "
            << i.mode << ", " << i.geometry << "}";
}

std::string Geometry(const mapping::Device& dev) {
  const mapping::DeviceInfo& i = dev.info();
  return "ram [" + std::to_string(i.ram.offset) + ", +" + std::to_string(i.ram.length) +
         ") descriptors [" + std::to_string(i.descriptors.offset) + ", +" +
         std::to_string(i.descriptors.length) + ")";
}

Identity Read(const mapping::Device& dev) {
  Result<layout::Superblock> sb = store::Store::Peek(dev);
  EXPECT_TRUE(sb.ok()) << sb.status().message();
  if (!sb.ok()) return {};
  return {mapping::UuidString(dev.info().set_uuid), mapping::UuidString(sb->uuid),
          std::string(sb->label, strnlen(sb->label, sizeof sb->label)), sb->default_mode,
          Geometry(dev)};
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
  static std::unique_ptr<Machine> Populated(Mode mode = Mode::kPages,
                                            layout::StoredMode stored = layout::StoredMode::kPages) {
    auto m = std::make_unique<Machine>();
    m->image_ = std::make_unique<FsckImage>(
        mode, mode == Mode::kPages ? stored : layout::StoredMode::kDirect);
    m->image_->Populate();
    m->image_->Unmount();
    return m;
  }
  static std::unique_ptr<Machine> Empty(const SimSetup& setup, mapping::CreateOptions create = {},
                                        store::FormatOptions format = {}) {
    auto m = std::make_unique<Machine>();
    m->sim_ = store::testing::MakeFormatted(setup, format, create);
    return m;
  }
  SimDevice& d() { return image_ ? image_->sim_device() : sim_; }
  // The populated filesystem mounted (in its harness's mode) and unmounted again.
  Status MountAndUnmount() { return image_ ? image_->MountAndUnmount() : Status::Ok(); }
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

// --- the descriptor area and the RAM partition ---------------------------------------------------

// The persistent fields of every descriptor of the device's table.
std::vector<mapping::PageInfo> Table(mapping::Device& dev) {
  Result<std::unique_ptr<mapping::PageDescriptors>> pd =
      mapping::PageDescriptors::Open(dev, mapping::DescriptorPlacement::kDevice);
  EXPECT_TRUE(pd.ok()) << pd.status().message();
  std::vector<mapping::PageInfo> out;
  if (!pd.ok()) return out;
  for (uint64_t p = 0; p < (*pd)->page_count(); p++) out.push_back((*pd)->Get(p));
  return out;
}

TEST(ApplyOffline, DescriptorsOffAndOnAgainBuildTheTableFromTheExtents) {
  std::unique_ptr<Machine> m = Machine::Populated(Mode::kDirect);
  const mapping::Range ram = m->dev().info().ram, area = m->dev().info().descriptors;
  const uint64_t store_end = m->dev().info().store().end();
  ASSERT_FALSE(area.empty());
  ASSERT_TRUE(ApplyOffline(m->dev(), {.descriptors = false}).ok());
  m->d().Reopen();
  EXPECT_TRUE(m->dev().info().descriptors.empty());
  EXPECT_EQ(m->dev().info().store().end(), store_end);  // the store area stays
  EXPECT_EQ(m->dev().info().ram.offset, ram.offset);
  EXPECT_EQ(m->dev().info().ram.length, ram.length);
  fsck::CheckReport check = MustCheck(m->dev());
  EXPECT_TRUE(check.clean()) << fsck::testing::Describe(check);
  // Pages mode is unavailable now, and comes back with the area.
  EXPECT_EQ(ApplyOffline(m->dev(), {.mode = Mode::kPages}).code(), Code::kUnsupported);
  ASSERT_TRUE(ApplyOffline(m->dev(), {.descriptors = true}).ok());
  m->d().Reopen();
  EXPECT_EQ(m->dev().info().descriptors.offset, area.offset);
  EXPECT_EQ(m->dev().info().descriptors.length, area.length);
  EXPECT_TRUE(store::Store::Peek(m->dev())->compat & layout::kCompatDescriptorsCurrent);
  // The table was built from the extents: the checker compares every descriptor with them.
  Result<fsck::CheckReport> full =
      fsck::Check(m->dev(), {.descriptors = fsck::DescriptorCheck::kOn});
  ASSERT_TRUE(full.ok()) << full.status().message();
  EXPECT_TRUE(full->clean()) << fsck::testing::Describe(*full);
  EXPECT_GT(full->data_blocks_used, 0u);
  // The same table as a pages mount's own rebuild from the extents (fs/core), owners and file
  // indexes included (which the checker leaves alone): mark it stale and mount in pages mode.
  const std::vector<mapping::PageInfo> built = Table(m->dev());
  EXPECT_GT(std::count_if(built.begin(), built.end(),
                          [](const mapping::PageInfo& i) { return i.owner != 0; }),
            10);
  {
    Result<std::unique_ptr<store::Store>> s = store::Store::OpenOffline(m->dev());
    ASSERT_TRUE(s.ok()) << s.status().message();
    ASSERT_TRUE((*s)->SetFeatures(0, layout::kCompatDescriptorsCurrent, 0).ok());
    ASSERT_TRUE((*s)->Close().ok());
  }
  {
    core::MountOptions pages;
    pages.mode = Mode::kPages;
    auto fs = core::Filesystem::Mount(std::move(m->d().dev), pages);
    ASSERT_TRUE(fs.ok()) << fs.status().message();
    ASSERT_TRUE((*fs)->Unmount().ok());
  }
  m->d().Reopen();
  EXPECT_TRUE(store::Store::Peek(m->dev())->compat & layout::kCompatDescriptorsCurrent);
  EXPECT_TRUE(Table(m->dev()) == built);
  Status mount = m->MountAndUnmount();
  EXPECT_TRUE(mount.ok()) << mount.message();
}

TEST(ApplyOffline, RamSizeShrinksAndGrowsInTheSpaceAfterTheStoreArea) {
  std::unique_ptr<Machine> m =
      Machine::Empty(store::testing::StoreSetups()[0], {.ram_size = 1u << 20});
  const uint64_t store_end = m->dev().info().store().end();
  ASSERT_EQ(m->dev().info().ram.offset, store_end);
  for (uint64_t size : {uint64_t{256} << 10, uint64_t{0}, uint64_t{1} << 20, uint64_t{5000}}) {
    SCOPED_TRACE(size);
    ASSERT_TRUE(ApplyOffline(m->dev(), {.ram_size = size}).ok());
    m->d().Reopen();
    EXPECT_EQ(m->dev().info().ram.length, (size + 4095) / 4096 * 4096);
    EXPECT_EQ(m->dev().info().store().end(), store_end);
    const fsck::CheckReport check = MustCheck(m->dev());
    EXPECT_TRUE(check.clean()) << fsck::testing::Describe(check);
    EXPECT_NE(store::testing::OpenOrFail(m->dev()), nullptr);
  }
  // More than lies before the descriptor area: refused, saying what is in the way.
  const std::string before = Snapshot(m->dev());
  Status s = ApplyOffline(m->dev(), {.ram_size = 2u << 20});
  EXPECT_EQ(s.code(), Code::kNoSpace) << s.message();
  EXPECT_NE(s.message().find("store area"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("--descriptors off frees"), std::string::npos) << s.message();
  EXPECT_EQ(Snapshot(m->dev()), before);
  // Dropping the area makes the room.
  ASSERT_TRUE(ApplyOffline(m->dev(), {.descriptors = false, .ram_size = 1u << 20 | 64u << 10}).ok());
  m->d().Reopen();
  EXPECT_EQ(m->dev().info().ram.length, 1u << 20 | 64u << 10);
  EXPECT_TRUE(MustCheck(m->dev()).clean());
}

TEST(ApplyOffline, GeometryRefusalsSayWhyAndChangeNothing) {
  const SimSetup one = store::testing::StoreSetups()[0];
  auto refused = [](Machine& m, const OfflineChange& c, Code code, const std::string& why) {
    const std::string before = Snapshot(m.dev());
    Status s = ApplyOffline(m.dev(), c);
    EXPECT_EQ(s.code(), code) << s.message();
    EXPECT_NE(s.message().find(why), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
    EXPECT_EQ(Snapshot(m.dev()), before);
  };
  {  // Files share pages: only pages mode mounts them, and it needs the area.
    std::unique_ptr<Machine> m = Machine::Populated();
    refused(*m, {.descriptors = false}, Code::kUnsupported, "share pages");
  }
  {  // The stored mode is pages.
    std::unique_ptr<Machine> m =
        Machine::Empty(one, {}, {.default_mode = layout::StoredMode::kPages});
    refused(*m, {.descriptors = false}, Code::kUnsupported, "give --mode copy or --mode direct");
    refused(*m, {.mode = Mode::kPages, .descriptors = false}, Code::kUnsupported,
            "--descriptors off drops");
    EXPECT_TRUE(ApplyOffline(m->dev(), {.mode = Mode::kDirect, .descriptors = false}).ok());
  }
  {  // No room at all after the store area.
    std::unique_ptr<Machine> m = Machine::Empty(one, {.reserve_descriptors = false});
    refused(*m, {.descriptors = true}, Code::kNoSpace, "does not shrink");
    refused(*m, {.ram_size = 4096}, Code::kNoSpace, "the end of the device");
  }
  {  // The RAM partition is in the way of the area: shrink it in the same call.
    std::unique_ptr<Machine> m =
        Machine::Empty(one, {.ram_size = 1u << 20, .reserve_descriptors = false});
    refused(*m, {.descriptors = true}, Code::kNoSpace, "--ram-size");
    ASSERT_TRUE(ApplyOffline(m->dev(), {.descriptors = true, .ram_size = 512u << 10}).ok());
    m->d().Reopen();
    EXPECT_FALSE(m->dev().info().descriptors.empty());
    EXPECT_TRUE(MustCheck(m->dev()).clean());
    EXPECT_TRUE(ApplyOffline(m->dev(), {.mode = Mode::kPages}).ok());
  }
}

// --- crash consistency ------------------------------------------------------------------------

struct CrashCase {
  std::string name;
  bool populated;  // else an empty filesystem over `setup`
  SimSetup setup;
  OfflineChange change;
  Mode mode = Mode::kPages;  // of the populated filesystem
  std::optional<OfflineChange> prepare = std::nullopt;  // made (uninterrupted) before `change`
  mapping::CreateOptions create = {};                   // of the empty filesystem's device
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
  // The descriptor area and the RAM partition (geometry.h). The populated direct-mode
  // filesystem has an area (its table not current) and a 2 MiB RAM partition.
  const OfflineChange off{.descriptors = false};
  out.push_back({"DescriptorsOffPopulated", true, one, off, Mode::kDirect});
  out.push_back({"DescriptorsOnPopulated", true, one, {.descriptors = true}, Mode::kDirect, off});
  out.push_back({"DescriptorsOnModePagesPopulated", true, one,
                 {.mode = Mode::kPages, .descriptors = true}, Mode::kDirect, off});
  out.push_back({"RamGrowPopulated", true, one, {.ram_size = 2u << 20 | 256u << 10}, Mode::kDirect,
                 off});
  out.push_back({"RamShrinkPopulated", true, one, {.ram_size = 64u << 10}, Mode::kDirect});
  for (const SimSetup& s : setups)
    if (s.parts > 1)
      out.push_back({"Geometry" + s.name, false, s,
                     {.label = "parts", .descriptors = false, .ram_size = 64u << 10}});
  out.push_back({"DescriptorsAndRamOn" + setups[1].name, false, setups[1],
                 {.descriptors = true, .ram_size = 8u << 10}, Mode::kPages, std::nullopt,
                 {.ram_size = 1u << 20, .reserve_descriptors = false}});
  return out;
}

class TuneCrashTest : public ::testing::TestWithParam<CrashCase> {
 protected:
  std::unique_ptr<Machine> Fresh() {
    std::unique_ptr<Machine> m =
        GetParam().populated ? Machine::Populated(GetParam().mode)
                             : Machine::Empty(GetParam().setup, GetParam().create);
    if (GetParam().prepare) {
      Status s = ApplyOffline(m->dev(), *GetParam().prepare);
      EXPECT_TRUE(s.ok()) << s.message();
    }
    return m;
  }
  // The persist points of the change, uninterrupted; the geometry it leaves in `geometry_`.
  uint64_t CountPoints() {
    std::unique_ptr<Machine> m = Fresh();
    const uint64_t base = m->points();
    Status s = ApplyOffline(m->dev(), GetParam().change);
    EXPECT_TRUE(s.ok()) << s.message();
    geometry_ = Geometry(m->dev());
    return m->points() - base;
  }
  // The filesystem the change leads to.
  Identity Now(const Identity& old) {
    Identity now = Expected(old, GetParam().change);
    now.geometry = geometry_;
    return now;
  }
  // A change of the label, uuid or mode and of the geometry in one call is two changes, each
  // atomic, one after the other (offline.h): the filesystem between them. Without both, `old`.
  Identity Between(const Identity& old, bool had_descriptors) {
    const OfflineChange& c = GetParam().change;
    if (!(c.label || c.uuid || c.mode) || !(c.descriptors || c.ram_size)) return old;
    Identity mid = old;
    if (c.descriptors == false && had_descriptors) {  // the identity first
      mid = Expected(old, c);
      mid.geometry = old.geometry;
    } else {
      mid.geometry = geometry_;
    }
    return mid;
  }
  // A fresh device (`c->m`) and what the change may leave of it, the change then made with the
  // power failing after `n` of its persist points (not yet lost: the caller's Crash).
  struct Cut {
    std::unique_ptr<Machine> m;
    Identity old, now, mid;
  };
  void CutChange(uint64_t n, Cut* c) {
    c->m = Fresh();
    c->old = Read(c->m->dev());
    c->now = Now(c->old);
    c->mid = Between(c->old, !c->m->dev().info().descriptors.empty());
    c->m->d().sim->StopAfter(c->m->points() + n);
    ASSERT_TRUE(ApplyOffline(c->m->dev(), GetParam().change).ok());
  }
  std::string geometry_;
  // What a crashed device must show: assembled (done by Reopen), the checker finding nothing
  // but an interrupted uuid change; after a read-write open (a mount) exactly `old` or `now`,
  // labels whole, the checker clean. Returns which (0 old, 1 new, -1 neither).
  int CheckRecovered(Machine& m, const Identity& old, const Identity& now, const Identity& mid) {
    // Before recovery the checker reports the work the next mount does, and nothing else: the
    // interrupted uuid change, a committed transaction to replay, a superblock copy that is
    // torn or one update behind the other (each copy is a transaction of its own).
    const Result<layout::Superblock> sb = store::Store::Peek(m.dev());
    const bool pending =
        sb.ok() ? store::Store::UuidChangeInterrupted(*sb, m.dev()) ||
                      store::Store::GeometryChangeInterrupted(*sb, m.dev())
                : m.dev().info().uuid_change_pending() || m.dev().info().geometry_change_pending;
    const fsck::CheckReport n = MustCheck(m.dev());
    for (const fsck::Problem& p : n.problems)
      EXPECT_TRUE((p.area == "label" && pending) || p.area == "journal" || p.area == "superblock")
          << p.area << ": " << p.message;
    // -l lists the interrupted change, and which way the next mount ends a uuid change.
    std::optional<bool> listed_new_uuid;
    if (sb.ok()) {
      Result<Description> d = Describe(m.dev(), "dev");
      EXPECT_TRUE(d.ok()) << d.status().message();
      bool uuid = false, geometry = false;
      for (const PendingChange& c : d.ok() ? d->changes : std::vector<PendingChange>{}) {
        EXPECT_NE(c.command.find("pmemfs-fsck -y dev"), std::string::npos) << c.command;
        uuid |= c.change == "uuid_change";
        geometry |= c.change == "geometry_change";
        if (c.change == "uuid_change" && !d->journal_pending)
          listed_new_uuid = c.state.find("after its commit point") != std::string::npos;
      }
      EXPECT_EQ(uuid, store::Store::UuidChangeInterrupted(*sb, m.dev()));
      EXPECT_EQ(geometry, store::Store::GeometryChangeInterrupted(*sb, m.dev()));
    }
    {
      auto s = store::Store::Open(m.dev(), nullptr);
      EXPECT_TRUE(s.ok()) << s.status().message();
      if (!s.ok()) return -1;
      EXPECT_TRUE((*s)->Close().ok());
    }
    m.d().Reopen();
    EXPECT_FALSE(m.dev().info().uuid_change_pending());
    EXPECT_FALSE(m.dev().info().geometry_change_pending);
    EXPECT_EQ(store::Store::Peek(m.dev())->geometry_change, 0u);
    for (size_t p = 0; p < m.dev().part_count(); p++)
      EXPECT_TRUE(m.dev().header_state(p).primary_ok && m.dev().header_state(p).backup_ok)
          << "part " << p;
    const fsck::CheckReport after = MustCheck(m.dev());
    EXPECT_TRUE(after.clean()) << fsck::testing::Describe(after);
    const Identity got = Read(m.dev());
    if (listed_new_uuid) {
      EXPECT_EQ(got.fs_uuid, *listed_new_uuid ? now.fs_uuid : old.fs_uuid);
    }
    if (got == old) return 0;
    if (got == now) return 1;
    if (got == mid) return 2;
    ADD_FAILURE() << "neither old " << old << " nor new " << now << " (nor between " << mid
                  << "): " << got;
    return -1;
  }
};

TEST_P(TuneCrashTest, EveryPersistPointLeavesTheOldOrTheNewFilesystem) {
  const uint64_t total = CountPoints();
  ASSERT_GE(total, 2u);
  auto cut = [&](uint64_t n, double keep, int* which) {
    Cut c;
    ASSERT_NO_FATAL_FAILURE(CutChange(n, &c));
    c.m->d().CrashAndReopen(keep);
    *which = CheckRecovered(*c.m, c.old, c.now, c.mid);
  };
  fsck::testing::CutStates counted;
  ASSERT_NO_FATAL_FAILURE(fsck::testing::CutAtEveryPersistPoint(total, cut, &counted));
  EXPECT_GT(counted.fresh, 0u);
  std::cout << "[ crash    ] " << GetParam().name << ": " << counted.states << " crash states ("
            << total << " persist points x 2), " << counted.fresh
            << " recovered to the new filesystem\n";
}

// The recovery itself (finishing an interrupted uuid or geometry change) cut at each of its
// persist points and run again recovers to the same filesystem.
TEST_P(TuneCrashTest, CrashDuringRecoveryRecoversTheSameWay) {
  const OfflineChange& change = GetParam().change;
  if (!change.uuid && !change.descriptors && !change.ram_size)
    GTEST_SKIP() << "only a uuid or a geometry change has recovery work";
  if (GetParam().name == "UuidPopulated") GTEST_SKIP() << "AllPopulated covers it";
  const uint64_t total = CountPoints();
  int expect = -1;  // where the undisturbed recovery of the cut under way ends: 0 old, 1 new, 2 mid
  auto probe = [&](uint64_t n, uint64_t* recovery) {
    // The undisturbed recovery: where it goes and its persist points.
    Cut c;
    ASSERT_NO_FATAL_FAILURE(CutChange(n, &c));
    Machine* m = c.m.get();
    m->d().CrashAndReopen();
    {
      const Result<layout::Superblock> sb = store::Store::Peek(m->dev());
      ASSERT_TRUE(sb.ok());
      if (!store::Store::UuidChangeInterrupted(*sb, m->dev()) &&
          !store::Store::GeometryChangeInterrupted(*sb, m->dev()))
        return;
    }
    const uint64_t before = m->points();
    {
      auto s = store::Store::Open(m->dev(), nullptr);
      ASSERT_TRUE(s.ok()) << s.status().message();
    }
    *recovery = m->points() - before;
    m->d().Reopen();
    const Identity got = Read(m->dev());
    ASSERT_TRUE(got == c.old || got == c.now || got == c.mid) << got;
    expect = got == c.old ? 0 : got == c.now ? 1 : 2;
  };
  auto cut = [&](uint64_t n, uint64_t r) {
    Cut c;  // another random set uuid: its own old state
    ASSERT_NO_FATAL_FAILURE(CutChange(n, &c));
    Machine* m2 = c.m.get();
    m2->d().CrashAndReopen();
    m2->d().sim->StopAfter(m2->points() + r);
    {
      auto s = store::Store::Open(m2->dev(), nullptr);
      ASSERT_TRUE(s.ok()) << s.status().message();
    }
    m2->d().CrashAndReopen(0.5);
    ASSERT_EQ(CheckRecovered(*m2, c.old, c.now, c.mid), expect);
  };
  uint64_t states = 0;
  ASSERT_NO_FATAL_FAILURE(fsck::testing::CutInsideRecovery(total, "recovery", probe, cut, &states));
  std::cout << "[ crash    ] " << GetParam().name << ": " << states
            << " crash states inside recovery\n";
}

INSTANTIATE_TEST_SUITE_P(Changes, TuneCrashTest, ::testing::ValuesIn(CrashCases()),
                         [](const ::testing::TestParamInfo<CrashCase>& p) { return p.param.name; });

}  // namespace
}  // namespace pmemfs::tune
