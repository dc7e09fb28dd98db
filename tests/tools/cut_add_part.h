// An --add-part that a power loss cut (tools/tune/add_part.h), as the tests of what such a device
// lists (tune_pending_test.cc) and how it mounts (add_part_mount_test.cc) start from it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "fs/store/store.h"
#include "fsck_test_support.h"
#include "mapping/part.h"
#include "tools/tune/add_part.h"

namespace pmemfs::tune::testing {

using PartList = std::vector<std::shared_ptr<mapping::Part>>;

// A populated, unmounted one-part filesystem in `mode` (pages mode: its descriptor table
// current) whose --add-part of a blank 16 MiB part was cut after `n` persist points
// (UINT64_MAX: not cut) by a power loss keeping `keep` of the lines pending.
struct CutAdd {
  CutAdd(mapping::Mode mode, uint64_t n, double keep)
      : image(mode, mode == mapping::Mode::kPages ? layout::StoredMode::kPages
                                                  : layout::StoredMode::kDirect) {
    image.Populate();
    image.Unmount();
    part = sim().NewPart(16ull << 20, layout::kPageSize, "added");
    old = image.sim_device().parts;
    sb = *store::Store::Peek(image.dev());
    data = fsck::testing::Bytes(image.dev(), sb.data_start * layout::kBlockSize,
                                (sb.backup_block - sb.data_start) * layout::kBlockSize);
    size_before = image.dev().info().size;
    image.sim_device().dev.reset();
    const uint64_t base = sim().persist_points();
    if (n != UINT64_MAX) sim().StopAfter(base + n);
    Result<AddPartResult> r = AddPart(old, part, {});
    EXPECT_TRUE(r.ok() || sim().stopped()) << r.status().message();
    points = sim().persist_points() - base;
    sim().Crash(keep);
  }
  mapping::SimPmem& sim() { return *image.sim_device().sim; }
  mapping::Device& dev() { return *image.sim_device().dev; }
  // The old part and the new one.
  PartList Both() const {
    PartList all = old;
    all.push_back(part);
    return all;
  }

  fsck::testing::FsckImage image;
  std::shared_ptr<mapping::Part> part;  // the new part
  PartList old;                         // the old device's
  layout::Superblock sb;                // the old superblock
  std::vector<std::byte> data;          // the old data area
  uint64_t size_before = 0;             // the old device's size
  uint64_t points = 0;                  // the add's persist points (all of them when not cut)
};

}  // namespace pmemfs::tune::testing
