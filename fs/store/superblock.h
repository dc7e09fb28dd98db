// Superblock: the store's geometry and identity, a primary copy at block 0 and a backup at the
// last block of the store area (layout::Superblock).
//
//   PlanGeometry(store_bytes, ...)  format time: where the journal, inode table, bitmap and data
//                                   area go; InvalidArgument (with the numbers) when they do not fit.
//   LoadSuperblock(dev)             mount time: the primary if it passes every check, else the
//                                   backup (and the primary is repaired from it).
//   WriteSuperblock(dev, sb, blk)   seals (checksums) and persists one copy in place; used by
//                                   Format and the repair. Later updates go through a Tx.
//
// Internal to fs/store.
#pragma once

#include <cstdint>
#include <string>

#include "mapping/device.h"
#include "pmemfs/layout.h"
#include "pmemfs/status.h"

namespace pmemfs::store {

// Journal bytes when the caller asks for the default: 1/64 of the store, within these bounds.
inline constexpr uint64_t kMinDefaultJournal = 256ull << 10;
inline constexpr uint64_t kMaxDefaultJournal = 16ull << 20;
// A journal larger than this is refused (record lengths are 32-bit).
inline constexpr uint64_t kMaxJournal = 1ull << 30;
inline constexpr uint64_t kInodesPerBlock = layout::kBlockSize / sizeof(layout::InodeRecord);
inline constexpr uint64_t kBitsPerBlock = layout::kBlockSize * 8;

// A superblock with the geometry filled in (and nothing else): block 0 superblock, then journal,
// inode table, bitmap, data, backup superblock in the last block. 0 for `inode_count` or
// `journal_bytes` picks the default. `bitmap_checksums`: the bitmap area has room for its
// checksum table and ro_compat has kRoCompatBitmapChecksums.
Result<layout::Superblock> PlanGeometry(uint64_t store_bytes, uint64_t inode_count,
                                        uint64_t journal_bytes, bool bitmap_checksums = true);

// Sets sb.checksum.
void SealSuperblock(layout::Superblock& sb);

// Every check Open makes of one copy: Corrupt (magic, checksum, reserved bytes, geometry that is
// inconsistent or does not fit `store_bytes`) or Unsupported (other major version, unknown
// incompat feature). An unknown ro_compat feature passes: Store::Open refuses it read-write.
// `which` names the copy in messages.
Status ValidateSuperblock(const layout::Superblock& sb, uint64_t store_bytes,
                          const std::string& which);

// Whether code of this version may change a filesystem with this superblock: Unsupported (an
// unknown ro_compat feature: a read-only mount can still read it) or Ok.
Status CheckWritable(const layout::Superblock& sb);

// The superblock to mount with: the primary when valid; otherwise the backup when valid, after
// rewriting the primary from it (persisted). When neither is usable: the backup's error if the
// backup is intact but unsupported, else the primary's.
// With repair false, a damaged primary is refused (ReadOnly) instead of repaired.
Result<layout::Superblock> LoadSuperblock(mapping::Device& dev, bool repair = true);

// Like LoadSuperblock, but never writes: a valid primary, else a valid backup.
Result<layout::Superblock> PeekSuperblock(const mapping::Device& dev);

// True when the primary or the backup has the magic and a matching checksum.
bool DetectSuperblock(const mapping::Device& dev);

// Seals `sb` and writes it to store block `block`, persisted.
void WriteSuperblock(mapping::Device& dev, layout::Superblock sb, uint64_t block);

// The block of the backup copy for a store area of `store_bytes`.
inline uint64_t BackupBlock(uint64_t store_bytes) { return store_bytes / layout::kBlockSize - 1; }

}  // namespace pmemfs::store
