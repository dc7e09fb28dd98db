// Creating and opening devices: the part labels and the checks that keep a set of parts whole.
//
//   CreateDevice(parts, opts)   format time: decides the geometry, writes a label into every
//                               part, empty bad-block tables and, when reserved, an empty
//                               page-descriptor area; returns the assembled device.
//   OpenDevice(paths, ...)      opens, locks and maps each path, checks the labels: a missing,
//                               duplicated, foreign, reordered or shrunken part is refused with a
//                               message naming it; returns the assembled device.
//   AssembleDevice(parts, ...)  the same checks over parts already open (the simulator's).
//   RewritePartHeaders(dev)     pmemfs-fsck -y: rewrites a damaged primary part header from its
//                               backup (and the reverse).
//
// Every part keeps a backup of its header page (label and bad-block tables) in its last page
// (layout.h): a part whose primary label is unusable opens from the backup, and
// Device::header_state() says so (the mount warns).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mapping/device.h"

namespace pmemfs::mapping {

struct CreateOptions {
  layout::LayoutKind layout = layout::LayoutKind::kLinear;
  uint64_t chunk_size = layout::kMinChunkSize;  // striped: power of two, >= 2 MiB
  uint64_t ram_size = 0;                        // RAM partition bytes (rounded up to 4 KiB)
  bool reserve_descriptors = true;              // page-descriptor area for `pages` mode
  // Called now and then while the descriptor area is cleared (done, total bytes).
  std::function<void(uint64_t, uint64_t)> progress;
};

struct AssembleOptions {
  AccessPath path = AccessPath::kAuto;
  // The limit the automatic choice respects; 0: read /proc/sys/vm/max_map_count.
  uint64_t max_map_count = 0;
  // Register the linear reservation with MediaGuard (see PartOpenOptions::guard_shrink).
  bool guard_shrink = true;
  // Assemble parts whose labels carry part_joining (a pmemfs-tune --add-part under way, which
  // only the code finishing it may do: tools/tune/add_part.cc); refused otherwise.
  bool finishing_add_part = false;
};

// Smallest data area a part may contribute (bytes).
inline constexpr uint64_t kMinPartData = 1ull << 20;
// Most parts in one device.
inline constexpr uint32_t kMaxParts = 64;

Result<std::unique_ptr<Device>> CreateDevice(std::vector<std::shared_ptr<Part>> parts,
                                             const CreateOptions& opts,
                                             const AssembleOptions& aopts = {});
Result<std::unique_ptr<Device>> AssembleDevice(std::vector<std::shared_ptr<Part>> parts,
                                               const AssembleOptions& opts = {});

// Rewrites, in every part with a damaged copy of its header page, that copy from the intact
// one: the label, and each bad-block table slot from the newer valid copy. Persisted when it
// returns; header_state() then says both copies are intact. A no-op for version-1 labels.
Status RewritePartHeaders(Device& dev);

// Changing the set uuid of a device (pmemfs-tune -U), in label passes the caller orders around
// its own commit point (the store keeps the intent and the commit in the superblock:
// fs/store/identity.cc):
//   AnnounceUuidChange(dev, new)   every copy of every part's label gets pending_uuid = new (the
//                                  set uuid stays: the device opens as before);
//   SettleUuid(dev, uuid)          every copy gets set_uuid = uuid and no pending uuid.
// Each part's backup label is written before its primary, each drained, so a crash tears at
// most one copy of one part (the other opens). Parts whose labels carry the old set uuid with
// the new one pending and parts already carrying the new one assemble as one device
// (DeviceInfo::set_uuid the old uuid, pending_uuid the new). SettleUuid reads each label from
// its intact copy and rewrites both, so it also ends a torn state; it is idempotent. Both
// persisted on return; refused for a device opened read-only. AnnounceUuidChange refuses a
// device with a change pending already.
Status AnnounceUuidChange(Device& dev, const uint8_t uuid[16]);
Status SettleUuid(Device& dev, const uint8_t uuid[16]);

// Changing the RAM partition and the page-descriptor area of a device (pmemfs-tune --ram-size,
// --descriptors). The store area must stay as it is: the new ranges are page-aligned, inside the
// device, apart, and the store area (DeviceInfo::store) they leave ends where it ends now; an
// empty range is {0, 0}, except that an empty RAM partition keeps its offset when space is left
// unused after the store area. The caller prepares the new ranges' contents first (a descriptor
// area is formatted before it becomes the device's).
//   ChangeGeometry(dev, ram, desc)  every copy of every part's label gets the new ranges as
//                                   pending (announce: the device opens as before), then every
//                                   copy gets them as its own without the mark (settle). The
//                                   first settled copy is the commit point: a device whose labels
//                                   show one opens with the new ranges, else with the old ones.
//   SettleGeometry(dev)             after a crash in between (DeviceInfo::geometry_change_pending):
//                                   rewrites every copy to the ranges the device opened with, so
//                                   the change is finished or undone. Idempotent. Called by every
//                                   read-write open of the store.
// Each part's backup label is written before its primary, each drained. Both refuse a device
// opened read-only; ChangeGeometry refuses (InvalidArgument) ranges that break the rules above
// and a device with a change of either kind pending. Persisted on return; dev.info() follows.
Status ChangeGeometry(Device& dev, Range ram, Range descriptors);
Status SettleGeometry(Device& dev);

// Growing a linear device by one part (pmemfs-tune --add-part; tools/tune/add_part.h runs the
// whole sequence around the store's). The new part gets the index part_count and the same
// header size; its data follows the device's, so the device grows at its end, and the RAM
// partition and descriptor area (both rebuilt, never copied: the one volatile, the other made
// from the extents) move to the new end. The label steps, each copy written backup first and
// drained:
//   StartJoin(dev, part, g)       the new part's label (index n, n+1 parts, geometry g) with
//                                 part_joining, and empty bad-block tables. The device (its n
//                                 parts) still opens as before.
//   CommitJoin(old, part)         every old part's label gets the new part's geometry and
//                                 part_joining: THE COMMIT POINT is the first such copy. From
//                                 here no assembly but a finishing one (AssembleOptions::
//                                 finishing_add_part) accepts the parts: they must all be given.
//   SettleJoin(dev)               every label drops part_joining (dev assembled from the n+1
//                                 parts, finishing); the grown device opens normally.
// After a crash, InspectJoin says where it stopped: kUncommitted (UndoJoin wipes the new part's
// label: the device is the old one), kCommitted (CommitJoin again, then the rest), kJoined (the
// parts form the grown device), or kNone (the part holds no label of this device's join).
struct JoinGeometry {
  uint64_t device_size = 0;
  uint64_t part_data_size = 0;  // the new part's data bytes
  Range ram;
  Range descriptors;
};
// The data bytes `part` adds to the linear device `dev` (its data area rounded down to the
// header size, which its alignment must divide); InvalidArgument naming why it cannot join.
Result<uint64_t> JoinableDataSize(const Device& dev, const Part& part);
// The label `part` holds (primary, else its backup), if any valid one: whether it belongs to a
// pmemfs device already.
std::optional<layout::PartLabel> ReadAnyLabel(const Part& part);
Status StartJoin(const Device& dev, Part& part, const JoinGeometry& g);
Status CommitJoin(const std::vector<std::shared_ptr<Part>>& old_parts, Part& part);
Status SettleJoin(Device& dev);
enum class JoinState { kNone, kUncommitted, kCommitted, kJoined };
JoinState InspectJoin(const std::vector<std::shared_ptr<Part>>& old_parts, const Part& part);
// Zeroes both copies of `part`'s label (persisted): it belongs to no device.
void UndoJoin(Part& part);

// Opens every path (OpenFilePart: mapped and exclusively locked). Refuses a path given twice.
Result<std::vector<std::shared_ptr<Part>>> OpenFileParts(const std::vector<std::string>& paths,
                                                         const PartOpenOptions& opts);
Result<std::unique_ptr<Device>> OpenDevice(const std::vector<std::string>& paths,
                                           const PartOpenOptions& popts,
                                           const AssembleOptions& aopts = {});

// "a,b,c" -> {"a","b","c"}: how users name a multi-part device.
std::vector<std::string> SplitPartList(const std::string& spec);

// The mapping count the linear path needs for this geometry.
uint64_t LinearMappingCount(const DeviceInfo& info);

}  // namespace pmemfs::mapping
