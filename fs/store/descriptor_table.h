// Filling a page-descriptor table from the files' extents, outside a mount: what pmemfs-tune
// --descriptors on writes into a new area, and what finishing an --add-part writes into the
// area it relocated (by the tool, tools/tune/add_part.cc, or by a mount, fs/mount/
// add_part_finish.h). A pages mount's own rebuild (core::Filesystem::RebuildDescriptors) fills
// its table the same way through the file maps.
#pragma once

#include "fs/store/store.h"
#include "mapping/device.h"
#include "pmemfs/status.h"

namespace pmemfs::store {

// Writes the descriptor table of `area` (formatted: mapping::PageDescriptors::FormatArea; it
// need not be the device's area yet) from every file's extents: owner, file index, and one
// reference per file mapping the page, for every page of `dev`. Flushed; drained before it
// returns. Corrupt naming the extent record when one fails its checks. `store` is `dev`'s.
Status BuildDescriptorTable(mapping::Device& dev, const Store& store, mapping::Range area);

}  // namespace pmemfs::store
