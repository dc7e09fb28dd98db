// Where the allocation bitmap area (the bitmap and its checksum table) lies and which store
// blocks are metadata: the one home of that rule for the store, pmemfs-fsck, scrub and
// pmemfs-tune.
//
// mkpmemfs puts the area between the inode table and data_start. A store that pmemfs-tune
// --add-part grows past what its bitmap maps gets a new, larger area inside the data area
// [data_start, backup_block) (layout::kIncompatMovedBitmap; fs/store/growth.cc), its blocks
// marked in use in the bitmap itself; the blocks of the first area, below data_start, stay
// metadata that nothing uses. Metadata blocks are in use whatever the bitmap says, and no
// extent, chain or xattr value may point into them.
#pragma once

#include <cstdint>

#include "fs/store/tx.h"
#include "pmemfs/layout.h"

namespace pmemfs::store {

// The bitmap area's blocks.
inline BlockRange BitmapArea(const layout::Superblock& sb) {
  return {sb.bitmap_start, sb.bitmap_blocks};
}

// Whether the bitmap area lies inside the data area (moved by a growth).
inline bool BitmapInDataArea(const layout::Superblock& sb) {
  return sb.bitmap_start >= sb.data_start;
}

// The bitmap area when it lies inside the data area, else an empty range: the data-area blocks
// that are metadata.
inline BlockRange MovedBitmapArea(const layout::Superblock& sb) {
  return BitmapInDataArea(sb) ? BitmapArea(sb) : BlockRange{};
}

// Whether store block `b` is metadata: below data_start, the backup superblock, or in a moved
// bitmap area.
inline bool IsMetadataBlock(const layout::Superblock& sb, uint64_t b) {
  const BlockRange m = MovedBitmapArea(sb);
  return b < sb.data_start || b == sb.backup_block || (b >= m.start && b < m.end());
}

// Whether the blocks [start, start + count) (count >= 1) may hold file data, chains or xattr
// values: inside [data_start, backup_block) and clear of a moved bitmap area.
inline bool InDataArea(const layout::Superblock& sb, uint64_t start, uint64_t count) {
  if (start < sb.data_start || start >= sb.backup_block || count > sb.backup_block - start)
    return false;
  const BlockRange m = MovedBitmapArea(sb);
  return m.count == 0 || start + count <= m.start || start >= m.end();
}

}  // namespace pmemfs::store
