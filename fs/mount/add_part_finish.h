// fs/mount: the mount's side of an interrupted pmemfs-tune --add-part (mapping/device_set.h,
// "Growing a linear device"; tools/tune/add_part.h runs the add).
//
//   Result<std::unique_ptr<mapping::Device>> dev = AssembleForMount(parts, read_only, &note);
//
// What a mount of the parts as given does with an add a crash interrupted:
//   - after its commit point (every old label or one copy of it names the new part), with the
//     new part given last: finished here, read-write only: the labels committed again, the
//     grown device assembled, its relocated descriptor area formatted and its table built from
//     the extents (store::BuildDescriptorTable, as the tool does), every label settled; the
//     store then grows into the new space when Store::Open finds its store_growth mark. Each
//     step can run again after a crash.
//   - after its commit point without the new part, or read-only: refused by the assembly (a
//     part is missing), or here, naming the command.
//   - before its commit point with the new part given: refused, naming both ways out (mount the
//     old device, which is intact and whose read-write open drops the store's mark, or run the
//     add again). The mount does not make the add itself: the plan the new part's label holds
//     was checked against the device as it was then, and committing it is the tool's decision.
//   - before its commit point without the new part: the old device, as any mount.
// And read-write, where the superblock still marks the add (store_growth), a part label copy a
// crash tore while it was written (before the commit point, or as the labels settled) is
// rewritten from the other copy, as the tool's recovery does, rather than left for fsck -y.
// Below fs/fuse, above fs/store and mapping/.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mapping/device_set.h"
#include "pmemfs/status.h"

namespace pmemfs::mount {

// Assembles `parts` for a mount (see above). `note` gets one line saying what was finished
// ("" when nothing).
Result<std::unique_ptr<mapping::Device>> AssembleForMount(
    std::vector<std::shared_ptr<mapping::Part>> parts, bool read_only, std::string* note,
    const mapping::AssembleOptions& aopts = {});

}  // namespace pmemfs::mount
