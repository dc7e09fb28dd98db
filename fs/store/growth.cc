// Store::CheckGrowth, MarkStoreGrowth and FinishStoreGrowth: the store's part of pmemfs-tune
// --add-part (tools/tune/add_part.h). The device grows first (its part labels decide: mapping/
// device_set.h, "Growing a linear device"); the store follows into the grown store area:
//   1. Tx: superblock.store_growth = 1                  before any label is touched
//   (the labels commit the grown device, or not)
//   2. the backup superblock, grown, in the new last block of the store area: outside the store
//      as it is, so nothing reads it until 3 commits; but a mount that finds the primary torn by
//      3's replay finds this copy where the grown area ends
//   3. Tx: the primary superblock grown (store_blocks, backup_block, data_blocks; store_growth
//      0), the allocation bitmap (the old backup block free, the new one in use, the new blocks
//      free) and the checksums of its blocks
// Every read-write open that finds the mark runs 2 and 3 (FinishStoreGrowth): a crash anywhere
// leaves the mark, or the grown store. When the device did not grow (the add was undone) it
// only clears the mark. The bitmap grows in place: each of its blocks maps 32768 store blocks
// (128 MiB), and the data area after it is not moved, so the store grows only as far as the
// bitmap blocks it has reach (CheckGrowth says so first).
#include <cstring>
#include <vector>

#include "fs/store/allocator.h"
#include "fs/store/bitmap_checksums.h"
#include "fs/store/journal.h"
#include "fs/store/store.h"
#include "fs/store/superblock.h"

namespace pmemfs::store {

namespace {

using layout::Superblock;

// The superblock of the store grown to `blocks`.
Superblock Grown(Superblock sb, uint64_t blocks) {
  sb.store_blocks = blocks;
  sb.backup_block = blocks - 1;
  sb.data_blocks = sb.backup_block - sb.data_start;
  sb.store_growth = 0;
  return sb;
}

// Journal bytes of the growth transaction (3 above).
uint64_t GrowthCost(const Superblock& from, uint64_t blocks) {
  const uint64_t first_word = (from.store_blocks - 1) / 64;
  const uint64_t words = (blocks + 63) / 64 - first_word;
  return Store::WriteCost(words * 8) +
         Store::WriteCost(layout::BitmapBlocks(blocks) * sizeof(uint32_t)) +
         Store::WriteCost(sizeof(Superblock));
}

}  // namespace

Status Store::CheckGrowth(uint64_t blocks) const {
  const Superblock& sb = sb_;
  if (blocks <= sb.store_blocks) return Status::Ok();
  const uint64_t have = layout::BitmapBlocks(sb.store_blocks);
  const uint64_t need = layout::BitmapBlocks(blocks);
  if (need != have) {
    const uint64_t most = have * layout::kBlockSize * 8;  // store blocks `have` bitmap blocks map
    return Status::NoSpace(
        "no room for the grown allocation bitmap: a store of " + std::to_string(blocks) +
        " blocks needs " + std::to_string(need) + " bitmap blocks, the filesystem has " +
        std::to_string(have) + " (each maps 128 MiB; the data area after them is not moved), so " +
        "its store can grow by at most " +
        std::to_string((most - sb.store_blocks) * layout::kBlockSize) + " bytes");
  }
  if (GrowthCost(sb, blocks) > max_tx_bytes())
    return Status::NoSpace("no room in the journal for the grown allocation bitmap");
  return Status::Ok();
}

Status Store::MarkStoreGrowth() {
  ReaderLock mode(mode_mu_);
  if (read_only_) return Status::ReadOnly("the filesystem is mounted read-only");
  MutexLock l(features_mu_);
  if (sb_.store_growth == 1) return Status::Ok();
  Superblock sb = sb_;
  sb.store_growth = 1;
  return UpdateSuperblock(sb);
}

Status Store::FinishStoreGrowth(const mapping::PinCounts* pins) {
  const Superblock from = sb_;
  const uint64_t blocks = dev_.info().store().length / layout::kBlockSize;
  if (blocks <= from.store_blocks || !CheckGrowth(blocks).ok()) {
    Superblock sb = from;
    sb.store_growth = 0;
    return UpdateSuperblock(sb);
  }
  Superblock sb = Grown(from, blocks);
  // 2. The backup copy where the grown store area ends (drained).
  WriteSuperblock(dev_, sb, sb.backup_block);
  // 3. The bitmap as the grown store has it, from the word of the old backup block on.
  const uint64_t bitmap = BlockOffset(from.bitmap_start);
  std::vector<uint64_t> words(layout::BitmapBytes(blocks) / 8);
  dev_.Read(bitmap, words.data(), words.size() * 8);
  auto set = [&](uint64_t b, bool used) {
    if (used) words[b / 64] |= uint64_t{1} << (b % 64);
    else words[b / 64] &= ~(uint64_t{1} << (b % 64));
  };
  for (uint64_t b = from.store_blocks - 1; b < blocks - 1; b++) set(b, false);
  set(blocks - 1, true);
  RecordStream stream;
  const uint64_t first = (from.store_blocks - 1) / 64;
  stream.AddBytes(bitmap + first * 8, &words[first],
                  static_cast<uint32_t>((words.size() - first) * 8));
  if (HasBitmapChecksums(sb)) {
    std::vector<uint32_t> crcs(layout::BitmapBlocks(blocks));
    for (uint64_t i = 0; i < crcs.size(); i++)
      crcs[i] = BitmapBlockChecksum(reinterpret_cast<const std::byte*>(words.data()) +
                                        i * layout::kBlockSize,
                                    layout::BitmapBlockLength(sb, i));
    stream.AddBytes(layout::BitmapChecksumOffset(sb, 0), crcs.data(),
                    static_cast<uint32_t>(crcs.size() * sizeof(uint32_t)));
  }
  SealSuperblock(sb);
  stream.AddBytes(0, &sb, sizeof sb);
  {
    MutexLock lock(journal_->mutex());
    PMEMFS_RETURN_IF_ERROR(journal_->Commit(stream));
  }
  sb_ = geometry_ = sb;
  allocator_ = std::make_unique<Allocator>(sb, pins);
  allocator_->Load(dev_);
  bad_bitmap_blocks_ = BadBitmapBlocks(dev_, sb);
  return Status::Ok();
}

}  // namespace pmemfs::store
