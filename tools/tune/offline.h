// pmemfs-tune's offline changes of an unmounted device (tune2fs's -L, -U, and the stored mode;
// the descriptor area and the RAM partition: geometry.h).
//
//   Status s = ApplyOffline(dev, {.label = "data", .mode = mapping::Mode::kPages});
//
// Everything asked for is checked first (a refusal changes nothing and says why in one line),
// then made in one store transaction (store::Store::SetIdentity), so a crash leaves the old or
// the new filesystem: a new uuid also reaches the part labels around that transaction's commit
// point; a change of the descriptor area or RAM partition has its own (geometry.h). The store is opened as an offline tool does (Store::OpenOffline): not a mount, so the
// state, mount count and times stay. Internal to tools/tune.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "mapping/access.h"
#include "mapping/device.h"
#include "pmemfs/status.h"

namespace pmemfs::tune {

struct OfflineChange {
  std::optional<std::string> label;                 // -L
  std::optional<std::array<uint8_t, 16>> uuid;      // -U
  std::optional<mapping::Mode> mode;                // --mode
  std::optional<bool> descriptors;                  // --descriptors on|off (geometry.h)
  std::optional<uint64_t> ram_size;                 // --ram-size, bytes (geometry.h)
  bool any() const { return label || uuid || mode || descriptors || ram_size; }
};

// Checks `c` against the device (InvalidArgument/Unsupported, nothing written), then applies
// it. Busy when the filesystem needs recovery first (a committed journal transaction).
Status ApplyOffline(mapping::Device& dev, const OfflineChange& c);

// The uuid -U names: "random" (version 4), "time" (version 1, a random node id) or a uuid in
// the usual 8-4-4-4-12 hex form. InvalidArgument otherwise, and for the nil uuid.
Result<std::array<uint8_t, 16>> ParseUuidArgument(const std::string& arg);

}  // namespace pmemfs::tune
