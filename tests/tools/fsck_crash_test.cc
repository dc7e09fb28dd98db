// pmemfs-fsck after power loss (crash simulator): at sampled persist points of a populating
// workload, the crashed image is checked as found (no operational error), repaired with -y (a
// second -n run is clean), mounted and unmounted, and checked clean again.
#include <gtest/gtest.h>

#include "fsck_test_support.h"
#include "tools/fsck/check.h"

namespace pmemfs::fsck {
namespace {

using mapping::Mode;
using testing::FsckImage;
using testing::MustCheck;

layout::StoredMode StoredFor(Mode m) {
  return m == Mode::kPages ? layout::StoredMode::kPages : layout::StoredMode::kDirect;
}

class CrashTest : public ::testing::TestWithParam<Mode> {};

TEST_P(CrashTest, SampledPersistPointsRepairAndRecoverClean) {
  const Mode mode = GetParam();
  uint64_t points = 0;
  {
    FsckImage probe(mode, StoredFor(mode));
    const uint64_t start = probe.sim_device().sim->persist_points();
    probe.Populate();
    points = probe.sim_device().sim->persist_points() - start;
  }
  const uint64_t step = std::max<uint64_t>(1, points / 60);
  uint64_t states = 0, repaired = 0;
  for (uint64_t at = 1; at < points; at += step) {
    FsckImage img(mode, StoredFor(mode));
    mapping::testing::SimDevice& d = img.sim_device();
    d.sim->StopAfter(d.sim->persist_points() + at);
    img.Populate();
    mapping::Device& dev = img.CrashWithoutMount();
    states++;
    CheckReport n = MustCheck(dev, false);
    // What a crash may leave: work the next mount finishes. A superblock update writes the
    // primary and then the backup, each in a transaction of its own (store.cc UpdateSuperblock),
    // so a crash between them leaves the backup one update behind (mount rewrites both).
    for (const Problem& p : n.problems)
      EXPECT_TRUE(p.area == "journal" || p.area == "inode" || p.area == "space" ||
                  p.area == "descriptor" ||
                  (p.area == "superblock" &&
                   p.message.find("backup superblock differs from the primary") !=
                       std::string::npos))
          << "point " << at << ": " << p.area << ": " << p.message;
    CheckReport y = MustCheck(dev, true);
    EXPECT_LE(y.ExitCode(), 1) << "point " << at << "\n" << testing::Describe(y);
    if (!n.clean()) repaired++;
    CheckReport again = MustCheck(dev, false);
    EXPECT_TRUE(again.clean()) << "point " << at << " after -y\n" << testing::Describe(again);
    Status m = img.MountAndUnmount();
    EXPECT_TRUE(m.ok()) << m.message();
    CheckReport after = MustCheck(img.dev(), false);
    EXPECT_TRUE(after.clean()) << "point " << at << " after a mount\n"
                               << testing::Describe(after);
  }
  printf("fsck crash states (%s): %lu explored of %lu persist points, %lu needed repair\n",
         mapping::ModeName(mode), states, points, repaired);
}

INSTANTIATE_TEST_SUITE_P(Modes, CrashTest, ::testing::Values(Mode::kDirect, Mode::kPages),
                         [](const auto& info) { return std::string(mapping::ModeName(info.param)); });

}  // namespace
}  // namespace pmemfs::fsck
