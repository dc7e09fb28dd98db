#include "fs/store/superblock.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "fs/store/bitmap_area.h"
#include "pmemfs/crc32c.h"

namespace pmemfs::store {

namespace {

using layout::Superblock;

uint64_t DivCeil(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

std::string Hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

bool HasMagicAndChecksum(const Superblock& sb) {
  return std::memcmp(sb.magic, layout::kSuperMagic, sizeof sb.magic) == 0 &&
         sb.checksum == StructChecksum(sb);
}

Superblock ReadCopy(const mapping::Device& dev, uint64_t block) {
  Superblock sb{};
  dev.Read(block * layout::kBlockSize, &sb, sizeof sb);
  return sb;
}

// The geometry checks: regions in order, not overlapping, large enough, inside the store area.
Status CheckGeometry(const Superblock& sb, uint64_t store_bytes, const std::string& which) {
  auto bad = [&](const std::string& what) {
    return Status::Corrupt(which + " superblock: " + what);
  };
  const uint64_t n = sb.store_blocks;
  if (n > store_bytes / layout::kBlockSize)
    return bad("the store holds " + std::to_string(n) + " blocks but the device's store area has " +
               std::to_string(store_bytes / layout::kBlockSize));
  // Every region start and length is below n, so the sums below cannot overflow.
  for (uint64_t v : {sb.journal_start, sb.journal_blocks, sb.inode_start, sb.inode_blocks,
                     sb.bitmap_start, sb.bitmap_blocks, sb.data_start, sb.data_blocks,
                     sb.backup_block}) {
    if (v >= n) return bad("a region lies outside the " + std::to_string(n) + "-block store");
  }
  if (sb.journal_start < 1 || sb.journal_blocks < 2)
    return bad("journal at block " + std::to_string(sb.journal_start) + " with " +
               std::to_string(sb.journal_blocks) + " blocks");
  if (sb.inode_start < sb.journal_start + sb.journal_blocks)
    return bad("the inode table overlaps the journal");
  if (sb.inode_count < 1 || DivCeil(sb.inode_count, kInodesPerBlock) > sb.inode_blocks)
    return bad(std::to_string(sb.inode_count) + " inodes do not fit " +
               std::to_string(sb.inode_blocks) + " inode-table blocks");
  if (sb.bitmap_start < sb.inode_start + sb.inode_blocks)
    return bad("the bitmap overlaps the inode table");
  const bool checksums = sb.ro_compat & layout::kRoCompatBitmapChecksums;
  if (sb.bitmap_blocks < layout::BitmapAreaBlocks(n, checksums))
    return bad(std::to_string(sb.bitmap_blocks) + " bitmap blocks cannot map " +
               std::to_string(n) + " blocks" + (checksums ? " and hold their checksums" : ""));
  if (sb.backup_block != n - 1) return bad("the backup is not in the last block");
  if (sb.data_start >= sb.backup_block || sb.data_blocks != sb.backup_block - sb.data_start)
    return bad("data area [" + std::to_string(sb.data_start) + ", +" +
               std::to_string(sb.data_blocks) + ") does not end at the backup block");
  // The bitmap area lies before the data area, or (moved by a growth: bitmap_area.h) inside it.
  if (BitmapInDataArea(sb)) {
    if (!(sb.incompat & layout::kIncompatMovedBitmap))
      return bad("the data area overlaps the bitmap");
    if (sb.data_start < sb.inode_start + sb.inode_blocks)
      return bad("the data area overlaps the inode table");
    if (sb.bitmap_blocks > sb.backup_block - sb.bitmap_start)
      return bad("the bitmap overlaps the backup block");
  } else if (sb.data_start < sb.bitmap_start + sb.bitmap_blocks) {
    return bad("the data area overlaps the bitmap");
  }
  return Status::Ok();
}

}  // namespace

Result<Superblock> PlanGeometry(uint64_t store_bytes, uint64_t inode_count,
                                uint64_t journal_bytes, bool bitmap_checksums) {
  const uint64_t blocks = store_bytes / layout::kBlockSize;
  if (journal_bytes == 0)
    journal_bytes = std::clamp(store_bytes / 64, kMinDefaultJournal, kMaxDefaultJournal);
  if (journal_bytes > kMaxJournal)
    return Status::InvalidArgument("journal of " + std::to_string(journal_bytes) +
                                   " bytes is larger than the limit of " +
                                   std::to_string(kMaxJournal));
  if (inode_count == 0) inode_count = std::max<uint64_t>(64, store_bytes / (16 << 10));

  Superblock sb{};
  sb.block_size = layout::kBlockSize;
  sb.store_blocks = blocks;
  sb.journal_start = 1;
  sb.journal_blocks = std::max<uint64_t>(2, DivCeil(journal_bytes, layout::kBlockSize));
  sb.inode_start = sb.journal_start + sb.journal_blocks;
  sb.inode_count = inode_count;
  sb.inode_blocks = DivCeil(inode_count, kInodesPerBlock);
  sb.bitmap_start = sb.inode_start + sb.inode_blocks;
  sb.bitmap_blocks = layout::BitmapAreaBlocks(blocks, bitmap_checksums);
  if (bitmap_checksums) sb.ro_compat |= layout::kRoCompatBitmapChecksums;
  sb.data_start = sb.bitmap_start + sb.bitmap_blocks;
  // Metadata, at least one data block, and the backup superblock.
  if (sb.inode_blocks > blocks || sb.data_start + 2 > blocks)
    return Status::InvalidArgument(
        "the store area is too small: " + std::to_string(store_bytes) + " bytes (" +
        std::to_string(blocks) + " blocks) cannot hold the superblock, a journal of " +
        std::to_string(sb.journal_blocks) + " blocks, an inode table of " +
        std::to_string(sb.inode_blocks) + " blocks (" + std::to_string(inode_count) +
        " inodes), a bitmap of " + std::to_string(sb.bitmap_blocks) +
        " blocks, a data block and the backup superblock (" +
        std::to_string(sb.data_start + 2) + " blocks)");
  sb.backup_block = blocks - 1;
  sb.data_blocks = sb.backup_block - sb.data_start;
  return sb;
}

void SealSuperblock(Superblock& sb) { sb.checksum = StructChecksum(sb); }

Status ValidateSuperblock(const Superblock& sb, uint64_t store_bytes, const std::string& which) {
  auto bad = [&](const std::string& what) {
    return Status::Corrupt(which + " superblock: " + what);
  };
  if (std::memcmp(sb.magic, layout::kSuperMagic, sizeof sb.magic) != 0)
    return bad("bad magic (not a pmemfs store)");
  if (sb.checksum != StructChecksum(sb)) return bad("checksum mismatch");
  // A different major version may lay out everything else differently: say so before anything
  // else is judged by this version's rules.
  if (sb.major != layout::kMajorVersion)
    return Status::Unsupported(which + " superblock: format version " + std::to_string(sb.major) +
                               "." + std::to_string(sb.minor) + ", this build reads version " +
                               std::to_string(layout::kMajorVersion) + ".x");
  if (!layout::AllZero(sb.reserved, sizeof sb.reserved))
    return bad("reserved bytes are not zero");
  if (uint64_t unknown = sb.incompat & ~layout::kIncompatKnown)
    return Status::Unsupported(which + " superblock: unknown incompatible features " +
                               Hex(unknown));
  if (sb.label[sizeof sb.label - 1] != '\0') return bad("label is not NUL-terminated");
  if (sb.block_size != layout::kBlockSize)
    return bad("block size " + std::to_string(sb.block_size));
  if (sb.state != static_cast<uint32_t>(layout::FsState::kClean) &&
      sb.state != static_cast<uint32_t>(layout::FsState::kDirty))
    return bad("state " + std::to_string(sb.state));
  if (sb.default_mode > static_cast<uint32_t>(layout::StoredMode::kPages))
    return bad("default mode " + std::to_string(sb.default_mode));
  if (sb.geometry_change > 1) return bad("geometry change " + std::to_string(sb.geometry_change));
  if (sb.store_growth > 1) return bad("store growth " + std::to_string(sb.store_growth));
  return CheckGeometry(sb, store_bytes, which);
}

Status CheckWritable(const Superblock& sb) {
  if (uint64_t unknown = sb.ro_compat & ~layout::kRoCompatKnown)
    return Status::Unsupported("unknown read-only-compatible features " + Hex(unknown) +
                               ": this version may only mount it read-only (-o ro)");
  return Status::Ok();
}

Result<Superblock> LoadSuperblock(mapping::Device& dev, bool repair) {
  const uint64_t store_bytes = dev.info().store().length;
  if (store_bytes < 2 * layout::kBlockSize)
    return Status::Corrupt("the device's store area (" + std::to_string(store_bytes) +
                           " bytes) is too small to hold a pmemfs store");
  const Superblock primary = ReadCopy(dev, 0);
  Status p = ValidateSuperblock(primary, store_bytes, "primary");
  if (p.ok()) return primary;
  // Only damage sends us to the backup: a primary that is intact but unsupported says what the
  // filesystem is, and the backup says the same.
  if (p.code() != Code::kCorrupt) return p;

  const uint64_t at = BackupBlock(store_bytes);
  const Superblock backup = ReadCopy(dev, at);
  Status b = ValidateSuperblock(backup, store_bytes, "backup");
  if (b.ok() && backup.backup_block != at)
    b = Status::Corrupt("backup superblock: found in block " + std::to_string(at) +
                        " but its geometry puts it in " + std::to_string(backup.backup_block));
  if (b.ok() && !repair)
    return Status::ReadOnly("the primary superblock is damaged (" + p.message() +
                            "); a read-write mount repairs it from the backup");
  if (b.ok()) {
    WriteSuperblock(dev, backup, 0);  // repair the primary
    return backup;
  }
  if (b.code() == Code::kUnsupported) return b;
  return Status(p.code(), p.message() + " (and " + b.message() + ")");
}

Result<Superblock> PeekSuperblock(const mapping::Device& dev) {
  const uint64_t store_bytes = dev.info().store().length;
  if (store_bytes < 2 * layout::kBlockSize)
    return Status::Corrupt("the device's store area is too small to hold a pmemfs store");
  const Superblock primary = ReadCopy(dev, 0);
  Status p = ValidateSuperblock(primary, store_bytes, "primary");
  if (p.ok()) return primary;
  const Superblock backup = ReadCopy(dev, BackupBlock(store_bytes));
  if (ValidateSuperblock(backup, store_bytes, "backup").ok()) return backup;
  return p;
}

bool DetectSuperblock(const mapping::Device& dev) {
  const uint64_t store_bytes = dev.info().store().length;
  if (store_bytes < 2 * layout::kBlockSize) return false;
  return HasMagicAndChecksum(ReadCopy(dev, 0)) ||
         HasMagicAndChecksum(ReadCopy(dev, BackupBlock(store_bytes)));
}

void WriteSuperblock(mapping::Device& dev, Superblock sb, uint64_t block) {
  SealSuperblock(sb);
  dev.CopyNoDrain(block * layout::kBlockSize, &sb, sizeof sb);
  dev.Drain();
}

}  // namespace pmemfs::store
