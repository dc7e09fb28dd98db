// Bitmap checksums (layout::kRoCompatBitmapChecksums): one CRC-32C per allocation-bitmap block.
// Format writes them all; every Commit that changes a bitmap block (allocations, frees, or raw
// writes into the bitmap such as pmemfs-fsck's repairs) writes that block's new checksum in the
// same journal transaction, so bitmap and checksums change together at every persist point;
// Open verifies them all and reports the blocks that fail (fs/core refuses a read-write mount).
// Without the feature (a filesystem made before it) there is no table and nothing is checked.
// Internal to fs/store.
#pragma once

#include <cstdint>
#include <vector>

#include "mapping/device.h"
#include "pmemfs/layout.h"

namespace pmemfs::store {

inline bool HasBitmapChecksums(const layout::Superblock& sb) {
  return sb.ro_compat & layout::kRoCompatBitmapChecksums;
}
// The checksum of the bytes of one bitmap block (BitmapBlockLength of them).
uint32_t BitmapBlockChecksum(const void* bytes, uint64_t len);
// Reads bitmap block `i` from `dev` and returns its checksum.
uint32_t ComputeBitmapChecksum(const mapping::Device& dev, const layout::Superblock& sb,
                               uint64_t i);
// Format: writes the checksum of every bitmap block as the device holds it now. Not drained.
void WriteBitmapChecksums(mapping::Device& dev, const layout::Superblock& sb);
// The bitmap blocks whose stored checksum does not match their bytes (empty without the
// feature).
std::vector<uint64_t> BadBitmapBlocks(const mapping::Device& dev, const layout::Superblock& sb);

}  // namespace pmemfs::store
