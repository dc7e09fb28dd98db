// A mount of a device whose pmemfs-tune --add-part a crash interrupted (fs/mount/
// add_part_finish.h): the add of a part to a populated one-part device (pages mode with its
// descriptor table current, and direct mode) is cut at every persist point, then mounted as the
// grown device (both parts) and as the old one: after the commit point the read-write mount
// finishes the add (a read-only one and the old part alone are refused, naming the command,
// changing nothing); before it the grown device is refused naming both ways out and the old
// device mounts as it was. Either way: the old or the grown device, the files' blocks
// untouched, the store grown into the new space, pmemfs-fsck clean before and after a pages
// mount rebuilt the table. And the mount's finish cut at each of its own persist points ends
// the same way when mounted again.
#include <gtest/gtest.h>

#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cut_add_part.h"
#include "fs/mount/add_part_finish.h"
#include "fs/store/store.h"
#include "fsck_test_support.h"
#include "mapping/device_set.h"
#include "tools/fsck/check.h"

namespace pmemfs::mount {
namespace {

using fsck::testing::Bytes;
using fsck::testing::PartImage;
using mapping::JoinState;
using mapping::Mode;
using tune::testing::PartList;

// tune::testing::CutAdd, and what a mount then sees of it.
struct CutAdd : tune::testing::CutAdd {
  using tune::testing::CutAdd::CutAdd;
  // Takes the device a mount assembled, of `parts`.
  void Take(std::unique_ptr<mapping::Device> dev, const PartList& parts) {
    image.sim_device().dev = std::move(dev);
    image.sim_device().parts = parts;
  }
  // What the mount then sees, and everything a user relies on: 0 the old device, 1 the grown
  // one, -1 neither.
  int Verify() {
    const bool grown = dev().info().part_count == 2;
    {
      auto s = store::Store::Open(dev(), nullptr);  // the mount's open: grows the store
      EXPECT_TRUE(s.ok()) << s.status().message();
      if (!s.ok()) return -1;
      EXPECT_TRUE((*s)->Close().ok());
    }
    image.sim_device().Reopen();  // a plain assembly: every label settled
    const layout::Superblock now = *store::Store::Peek(dev());
    EXPECT_EQ(now.store_growth, 0u);
    EXPECT_FALSE(dev().info().add_part_pending);
    for (size_t p = 0; p < dev().part_count(); p++)
      EXPECT_TRUE(dev().header_state(p).primary_ok && dev().header_state(p).backup_ok) << p;
    EXPECT_TRUE(Bytes(dev(), sb.data_start * layout::kBlockSize,
                      (sb.backup_block - sb.data_start) * layout::kBlockSize) == data);
    EXPECT_EQ(now.store_blocks,
              grown ? dev().info().store().length / layout::kBlockSize : sb.store_blocks);
    if (!grown) {
      EXPECT_EQ(dev().info().size, size_before);
    }
    auto check = [&](const char* when) {
      Result<fsck::CheckReport> r = fsck::Check(dev(), {});
      ASSERT_TRUE(r.ok()) << r.status().message();
      EXPECT_TRUE(r->clean()) << when << ": " << fsck::testing::Describe(*r);
    };
    check("before a mount");
    Status m = image.MountAndUnmount();  // a pages mount rebuilds the table
    EXPECT_TRUE(m.ok()) << m.message();
    check("after a mount");
    return grown ? 1 : 0;
  }
};

// Mounts what the cut left as a user would: the grown device (read-only first, refused), then,
// when refused, the old one. Returns what Verify says.
int MountAfterCut(CutAdd& m) {
  const JoinState state = mapping::InspectJoin(m.old, *m.part);
  const std::vector<std::byte> a = PartImage(*m.old[0]), b = PartImage(*m.part);
  std::string note;
  if (state == JoinState::kCommitted) {
    for (bool read_only : {true, false}) {
      // Read-only, and the old part alone: refused, naming the command; nothing written.
      Result<std::unique_ptr<mapping::Device>> r =
          read_only ? AssembleForMount(m.Both(), true, &note) : AssembleForMount(m.old, false, &note);
      EXPECT_FALSE(r.ok());
      if (r.ok()) return -1;
      const std::string& why = r.status().message();
      EXPECT_TRUE(why.find("--add-part") != std::string::npos ||
                  why.find("missing part 1") != std::string::npos)
          << why;
      EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
      EXPECT_TRUE(PartImage(*m.old[0]) == a && PartImage(*m.part) == b);
    }
  }
  Result<std::unique_ptr<mapping::Device>> both = AssembleForMount(m.Both(), false, &note);
  if (state == JoinState::kCommitted || state == JoinState::kJoined) {
    EXPECT_TRUE(both.ok()) << both.status().message();
    if (!both.ok()) return -1;
    EXPECT_EQ((*both)->info().part_count, 2u);
    if (state == JoinState::kCommitted) {
      EXPECT_NE(note.find("finished"), std::string::npos) << note;
    }
    m.Take(std::move(*both), m.Both());
    return m.Verify();
  }
  EXPECT_FALSE(both.ok());
  if (both.ok()) return -1;
  EXPECT_EQ(both.status().message().find('\n'), std::string::npos);
  if (state == JoinState::kUncommitted) {
    EXPECT_NE(both.status().message().find("before its commit point"), std::string::npos)
        << both.status().message();
    EXPECT_NE(both.status().message().find("pmemfs-tune --add-part " + m.part->name()),
              std::string::npos)
        << both.status().message();
  }
  EXPECT_TRUE(PartImage(*m.old[0]) == a && PartImage(*m.part) == b);
  Result<std::unique_ptr<mapping::Device>> old = AssembleForMount(m.old, false, &note);
  EXPECT_TRUE(old.ok()) << old.status().message();
  if (!old.ok()) return -1;
  m.Take(std::move(*old), m.old);
  return m.Verify();
}

class AddPartMountTest : public ::testing::TestWithParam<Mode> {};

TEST_P(AddPartMountTest, EveryPersistPointMountsAsTheOldOrTheGrownDevice) {
  const uint64_t total = CutAdd(GetParam(), UINT64_MAX, 0.0).points;
  ASSERT_GE(total, 4u);
  uint64_t finished = 0;
  auto cut = [&](uint64_t n, double keep, int* which) {
    CutAdd m(GetParam(), n, keep);
    finished += mapping::InspectJoin(m.old, *m.part) == JoinState::kCommitted;
    *which = MountAfterCut(m);
  };
  fsck::testing::CutStates c;
  ASSERT_NO_FATAL_FAILURE(fsck::testing::CutAtEveryPersistPoint(total, cut, &c));
  EXPECT_GT(finished, 0u);  // the mount finished adds
  EXPECT_LT(c.fresh, c.states);
  std::cout << "[ crash    ] add-part then mount: " << c.states << " crash states, " << finished
            << " finished by the mount, " << c.fresh << " grown\n";
}

// The mount's finish cut at each of its persist points, then mounted again: the grown device.
TEST_P(AddPartMountTest, CrashDuringTheMountsFinishEndsTheSameWay) {
  if (GetParam() != Mode::kPages)
    GTEST_SKIP() << "pages mode's finish has every step of direct mode's, and the area's";
  const uint64_t total = CutAdd(GetParam(), UINT64_MAX, 0.0).points;
  // The persist points of the mount's finish from a cut past the commit point.
  auto probe = [&](uint64_t n, uint64_t* finish) {
    CutAdd probe(GetParam(), n, 0.0);
    if (mapping::InspectJoin(probe.old, *probe.part) != JoinState::kCommitted) return;
    std::string note;
    const uint64_t before = probe.sim().persist_points();
    ASSERT_TRUE(AssembleForMount(probe.Both(), false, &note).ok());
    *finish = probe.sim().persist_points() - before;
  };
  auto cut = [&](uint64_t n, uint64_t r) {
    CutAdd m(GetParam(), n, 0.0);
    m.sim().StopAfter(m.sim().persist_points() + r);
    std::string note;
    (void)AssembleForMount(m.Both(), false, &note);
    m.sim().Crash(0.5);
    ASSERT_EQ(MountAfterCut(m), 1);
  };
  uint64_t states = 0;
  ASSERT_NO_FATAL_FAILURE(
      fsck::testing::CutInsideRecovery(total, "the mount's finish", probe, cut, &states));
  EXPECT_GT(states, 0u);
  std::cout << "[ crash    ] add-part finished by a mount: " << states
            << " crash states inside the finish\n";
}

INSTANTIATE_TEST_SUITE_P(Modes, AddPartMountTest, ::testing::Values(Mode::kPages, Mode::kDirect),
                         [](const ::testing::TestParamInfo<Mode>& p) {
                           return std::string(p.param == Mode::kPages ? "Pages" : "Direct");
                         });

}  // namespace
}  // namespace pmemfs::mount
