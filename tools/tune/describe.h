// pmemfs-tune -l: what an unmounted device holds, read without writing a byte (tune2fs -l).
//
//   Result<Description> d = Describe(dev);   // the superblock, geometry, counts, state
//   PrintDescription(d, stdout);  DescriptionJson(d);
//
// Counts come from the on-device structures as they are (a committed journal transaction not
// yet applied is reported in the state, not folded in). Internal to tools/tune.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "mapping/device.h"
#include "pmemfs/layout.h"
#include "pmemfs/status.h"
#include "tools/tune/pending.h"

namespace pmemfs::tune {

struct Description {
  std::string device;               // as given
  std::string uuid;                 // the device's (set) uuid
  std::string pending_uuid;         // a set-uuid change a crash interrupted; "" when none
  std::string fs_uuid;              // the superblock's (equal to uuid unless an older image)
  std::string label;
  std::string default_mode;         // copy, direct, pages
  std::string version;              // "1.1"
  std::vector<std::string> features;  // names of the set feature bits
  std::string layout;               // linear, striped
  uint64_t chunk_size = 0;
  uint32_t parts = 0;
  uint64_t device_size = 0;
  mapping::Range store, ram, descriptors;
  uint64_t block_size = 0;
  uint64_t store_blocks = 0;
  uint64_t journal_blocks = 0;
  uint64_t bitmap_start = 0, bitmap_blocks = 0;  // the bitmap area (and its checksums)
  bool bitmap_moved = false;        // inside the data area (a growth moved it: bitmap_area.h)
  uint64_t inode_count = 0, inodes_used = 0;
  uint64_t data_blocks = 0, data_blocks_free = 0;
  uint64_t mount_count = 0;
  uint64_t created_ns = 0, mounted_ns = 0, written_ns = 0, checked_ns = 0;
  // State: "clean", "not clean" (not cleanly unmounted, nothing to replay), "needs recovery"
  // (a committed journal transaction not yet applied), "has orphans" (unlinked-open inodes or
  // interrupted truncates the next mount finishes). The worst one; the details below.
  std::string state;
  bool cleanly_unmounted = true;
  bool journal_pending = false;
  uint64_t orphans = 0, truncating = 0;
  std::vector<mapping::BadBlocks::Entry> bad_ranges;  // device offsets
  // Changes a crash left under way (tools/tune/pending.h), with what finishes or undoes each.
  std::vector<PendingChange> changes;
};

// Errors: no pmemfs on the device (or one this build cannot read). `join`: what the listing
// assembly saw of an --add-part (AssembleForListing).
Result<Description> Describe(const mapping::Device& dev, const std::string& name,
                             const JoinSeen& join = {});

void PrintDescription(const Description& d, FILE* out);
std::string DescriptionJson(const Description& d);

// "2026-12-06 10:11:12 +0000" (local time), "never" for 0.
std::string TimeString(uint64_t ns);
// The names of the superblock's feature bits ("descriptors_current", "shared_pages",
// "large_xattrs", "bitmap_checksums", unknown ones as "compat_0x..").
std::vector<std::string> FeatureNames(const layout::Superblock& sb);

}  // namespace pmemfs::tune
