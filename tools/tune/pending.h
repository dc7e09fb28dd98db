// pmemfs-tune -l: the changes a crash left under way, and the command that ends each.
//
//   JoinSeen join;
//   Result<std::unique_ptr<mapping::Device>> dev = AssembleForListing(parts, &join);
//   std::vector<PendingChange> c = PendingChanges(*dev, superblock, join, "DEVICE,PART", false);
//
// The changes: an --add-part (the part labels' part_joining, before or after their commit point;
// the superblock's store_growth mark when the labels are done or were never touched), a uuid
// change (the superblock's uuid_change, the labels' pending uuid) and a change of the RAM
// partition or descriptor area (the superblock's geometry_change, the labels' pending ranges).
// Nothing here writes. Internal to tools/tune.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mapping/device_set.h"
#include "pmemfs/layout.h"
#include "pmemfs/status.h"

namespace pmemfs::tune {

// What the listing assembly saw of an --add-part whose part was given last.
struct JoinSeen {
  mapping::JoinState state = mapping::JoinState::kNone;
  std::string part;        // the joining part's name (kUncommitted, kCommitted)
  std::string old_device;  // the other parts, as a device string
};

// The device to list: the parts as given, except that a last part whose --add-part was not
// committed is left out (the old device) and one committed but not finished is assembled with
// the rest (AssembleOptions::finishing_add_part: the grown device). Read-only parts do.
// A device whose labels committed an add of a part that is not given is refused by the
// assembly with the command that finishes it.
Result<std::unique_ptr<mapping::Device>> AssembleForListing(
    std::vector<std::shared_ptr<mapping::Part>> parts, JoinSeen* join,
    const mapping::AssembleOptions& aopts = {});

struct PendingChange {
  std::string change;   // "add_part", "store_growth", "uuid_change", "geometry_change"
  std::string state;    // what was interrupted, and where it stands
  std::string command;  // what finishes or undoes it
};

// The changes under way on `dev` (listed as `spec`), whose superblock is `sb`;
// `journal_pending`: the journal holds a committed transaction the next mount replays (which
// may be the one that commits a uuid change).
std::vector<PendingChange> PendingChanges(const mapping::Device& dev, const layout::Superblock& sb,
                                          const JoinSeen& join, const std::string& spec,
                                          bool journal_pending);

}  // namespace pmemfs::tune
