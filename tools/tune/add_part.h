// pmemfs-tune --add-part PART: grows an unmounted linear device by one more part.
//
//   Result<AddPartResult> r = AddPart(parts, part, aopts);      // parts: the device's, in order
//   Result<AddPartResult> r = RecoverAddPart(parts, part, aopts);   // after a crash
//
// The new part's data follows the device's, so the device grows at its end. What grows:
//   - the part labels: the new part gets part index n of n+1, every label the grown device
//     size, part count and ranges (mapping/device_set.h, "Growing a linear device": the first old
//     part label copy written with n+1 parts is the commit point);
//   - the RAM partition (volatile, nothing to copy) moves to just before the descriptor area or
//     the end; the page-descriptor area, when the device has one, is not grown in place (the
//     store area must stay one range before it) but RELOCATED: a new area for every page of the
//     grown device at its new end, inside the new part, formatted and filled from the files'
//     extents (as --descriptors on builds it) before the labels name it; the old area and the old
//     RAM partition become store space. A part too small to hold the grown area is refused;
//   - the store (fs/store/growth.cc): the superblock's store_blocks, data_blocks and backup
//     block, the allocation bitmap and its checksums, in one journal transaction after the
//     labels commit, under the superblock's store_growth mark (set first), which every
//     read-write open finishes. The bitmap grows in place while its blocks map the grown store
//     (128 MiB each) and the journal holds the change; otherwise it moves to the start of the
//     added space (written before the commit, which then carries only the superblock).
// Refused with nothing changed (one line; InvalidArgument or NoSpace): a striped device, a part
// that is too small or belongs to a pmemfs device (the same file as a part is refused when the
// parts are opened: mapping::OpenFileParts), no room for the grown metadata (the moved
// descriptor area, or the moved bitmap and the backup superblock).
//
// A crash leaves, after RecoverAddPart (which AddPart runs first, so running the same command
// again is the recovery), the old device on its n parts or the grown one on n+1, never a mix:
// before the commit point the new part's label is wiped; after it the labels are finished, the
// descriptor area rebuilt and the store grown. Until then the grown set refuses to assemble (the
// mount says to run the command again). Internal to tools/tune.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mapping/device_set.h"
#include "pmemfs/status.h"

namespace pmemfs::tune {

struct AddPartResult {
  std::unique_ptr<mapping::Device> dev;  // the device now: the old parts, or all with `part`
  bool grown = false;                    // dev includes `part`
  std::string note;                      // what recovery did ("" when nothing)
};

// Finishes or undoes an interrupted add of `part` to the device of `parts`, then assembles the
// device (see above). Neither when `part` holds no label of this device's: the old device.
Result<AddPartResult> RecoverAddPart(const std::vector<std::shared_ptr<mapping::Part>>& parts,
                                     const std::shared_ptr<mapping::Part>& part,
                                     const mapping::AssembleOptions& aopts = {});

// RecoverAddPart, then the add (see above): the grown device. When the recovery finished an
// interrupted add of `part` that is the result (its note says so); a part that already
// completed joining the device is refused.
Result<AddPartResult> AddPart(const std::vector<std::shared_ptr<mapping::Part>>& parts,
                              const std::shared_ptr<mapping::Part>& part,
                              const mapping::AssembleOptions& aopts = {});

}  // namespace pmemfs::tune
