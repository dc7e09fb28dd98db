// pmemfs-tune's changes of the device's reserved ranges, after the store area: the page-descriptor
// area (--descriptors on|off) and the RAM partition (--ram-size).
//
//   Result<GeometryPlan> plan = PlanGeometry(dev, {.descriptors = true, .ram_size = 8 << 20});
//   Status s = ApplyGeometry(dev, store, *plan);   // store: Store::OpenOffline(dev)
//
// The store area never moves or changes size: the RAM partition starts where it ends and may
// shrink (leaving unused space) or grow into unused space; the descriptor area takes
// DescriptorAreaSize(device pages) at the end of the device. PlanGeometry refuses, with what is
// in the way, a change that does not fit. ApplyGeometry writes a new descriptor area (formatted,
// and its table built from the extents) before the part labels name it, then changes the labels
// (store::Store::ChangeGeometry: their commit point makes the change atomic, the superblock marks
// it until every label is whole) and keeps the superblock's kCompatDescriptorsCurrent true
// (cleared before, set after). Internal to tools/tune.
#pragma once

#include <cstdint>
#include <optional>

#include "fs/store/store.h"
#include "mapping/device.h"
#include "pmemfs/status.h"

namespace pmemfs::tune {

struct GeometryChange {
  std::optional<bool> descriptors;   // --descriptors on|off
  std::optional<uint64_t> ram_size;  // --ram-size (bytes; rounded up to 4 KiB)
  bool any() const { return descriptors || ram_size; }
};

struct GeometryPlan {
  mapping::Range ram;          // the RAM partition after the change
  mapping::Range descriptors;  // the descriptor area after the change ({0, 0}: none)
  bool add_descriptors = false;   // a new area to format and fill
  bool drop_descriptors = false;
  bool changes(const mapping::DeviceInfo& i) const {
    return ram.offset != i.ram.offset || ram.length != i.ram.length ||
           descriptors.offset != i.descriptors.offset ||
           descriptors.length != i.descriptors.length;
  }
};

// Where the ranges go; NoSpace naming what is in the way when they do not fit.
Result<GeometryPlan> PlanGeometry(const mapping::Device& dev, const GeometryChange& c);

// Writes the descriptor table of `area` (formatted, not yet the device's) from every file's
// extents, as a pages mount's rebuild does: owner, file index, and one reference per file
// mapping the page, for every page of `dev`. Flushed; drained before it returns. (Also
// add_part.cc's, for the area it moves to the grown device's end.)
Status BuildTable(mapping::Device& dev, const store::Store& store, mapping::Range area);

// Makes the planned change (see the top of this file). `store` is the device's store, opened
// offline.
Status ApplyGeometry(mapping::Device& dev, store::Store& store, const GeometryPlan& plan);

}  // namespace pmemfs::tune
