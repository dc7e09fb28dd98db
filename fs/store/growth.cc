// Store::CheckGrowth, MarkStoreGrowth and FinishStoreGrowth: the store's part of pmemfs-tune
// --add-part (tools/tune/add_part.h). The device grows first (its part labels decide: mapping/
// device_set.h, "Growing a linear device"); the store follows into the grown store area:
//   1. Tx: superblock.store_growth = 1                  before any label is touched
//   (the labels commit the grown device, or not)
//   2. when the bitmap moves (below): the new bitmap area written whole and persisted, in the
//      added space just after the old store's end: outside the store as it is, so nothing reads
//      it until 4 commits
//   3. the backup superblock, grown, in the new last block of the store area: outside the store
//      as it is too; but a mount that finds the primary torn by 4's replay finds this copy where
//      the grown area ends
//   4. Tx: the primary superblock grown (store_blocks, backup_block, data_blocks; store_growth
//      0; a moved bitmap's bitmap_start, bitmap_blocks and kIncompatMovedBitmap), and when the
//      bitmap grows in place, its words (the old backup block free, the new one in use, the new
//      blocks free) and the checksums of its blocks
// Every read-write open that finds the mark runs 2 to 4 (FinishStoreGrowth), from the superblock
// as it is, so a rerun writes the same bytes: a crash anywhere leaves the mark, or the grown
// store. When the device did not grow (the add was undone) it only clears the mark.
//
// Where the bitmap goes (PlanGrowth). Each bitmap block maps 32768 store blocks (128 MiB), and
// the data area after the bitmap cannot move (extents name its blocks). So the bitmap grows in
// place when the blocks it has map the grown store and the journal holds its changed words;
// otherwise a new bitmap area (bitmap_area.h) of BitmapAreaBlocks(grown) blocks goes to the
// start of the added space, the old store's end, where every block is free, so it needs no
// relocation of anything and its size is bounded only by the added space: the old bits copied,
// the new blocks free, the area's own blocks and the new backup block in use, the old backup
// block free, and a previously moved area's blocks free (the first area, below data_start,
// stays unused metadata: a few blocks). Written before the commit, it costs the transaction
// only the superblock, whatever the growth.
#include <cstring>
#include <vector>

#include "fs/store/allocator.h"
#include "fs/store/bitmap_area.h"
#include "fs/store/bitmap_checksums.h"
#include "fs/store/journal.h"
#include "fs/store/store.h"
#include "fs/store/superblock.h"

namespace pmemfs::store {

namespace {

using layout::Superblock;

// Journal bytes of growing the bitmap of `from` in place to map `blocks` (4 above).
uint64_t InPlaceCost(const Superblock& from, uint64_t blocks) {
  const uint64_t first_word = (from.store_blocks - 1) / 64;
  const uint64_t words = (blocks + 63) / 64 - first_word;
  return Store::WriteCost(words * 8) +
         Store::WriteCost(layout::BitmapBlocks(blocks) * sizeof(uint32_t)) +
         Store::WriteCost(sizeof(Superblock));
}

// The superblock of the store grown to `blocks` (> from.store_blocks), the bitmap in place or
// moved (see the top of the file), or why it cannot grow.
Result<Superblock> PlanGrowth(const Superblock& from, uint64_t blocks, uint64_t max_tx) {
  Superblock sb = from;
  sb.store_blocks = blocks;
  sb.backup_block = blocks - 1;
  sb.data_blocks = sb.backup_block - sb.data_start;
  sb.store_growth = 0;
  if (layout::BitmapBlocks(blocks) == layout::BitmapBlocks(from.store_blocks) &&
      InPlaceCost(from, blocks) <= max_tx)
    return sb;
  sb.bitmap_start = from.store_blocks;
  sb.bitmap_blocks = layout::BitmapAreaBlocks(blocks, HasBitmapChecksums(from));
  sb.incompat |= layout::kIncompatMovedBitmap;
  if (sb.bitmap_blocks > sb.backup_block - sb.bitmap_start) {
    std::string m = "the added space (";
    m += std::to_string(blocks - from.store_blocks);
    m += " blocks) cannot hold the grown allocation bitmap (";
    m += std::to_string(sb.bitmap_blocks);
    m += " blocks for a store of ";
    m += std::to_string(blocks);
    m += " blocks) and the backup superblock: add a larger part";
    return Status::NoSpace(m);
  }
  if (Store::WriteCost(sizeof(Superblock)) > max_tx)
    return Status::NoSpace("no room in the journal for the grown superblock");
  return sb;
}

}  // namespace

Status Store::CheckGrowth(uint64_t blocks) const {
  if (blocks <= sb_.store_blocks) return Status::Ok();
  return PlanGrowth(sb_, blocks, max_tx_bytes()).status();
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

void Store::WriteMovedBitmap(const Superblock& from, const Superblock& sb) {
  // The grown bitmap, in whole blocks (the tail of the last one zero).
  std::vector<uint64_t> words(layout::BitmapBlocks(sb.store_blocks) * layout::kBlockSize / 8);
  dev_.Read(BlockOffset(from.bitmap_start), words.data(), layout::BitmapBytes(from.store_blocks));
  const uint64_t first_new = from.store_blocks - 1;  // the old backup block
  SetBitmapBits(words, {first_new, words.size() * 64 - first_new}, false);
  SetBitmapBits(words, MovedBitmapArea(from), false);
  const BlockRange area = BitmapArea(sb);
  SetBitmapBits(words, area, true);
  SetBitmapBits(words, {sb.backup_block, 1}, true);
  dev_.SetNoDrain(BlockOffset(area.start), 0, area.count * layout::kBlockSize);
  dev_.CopyNoDrain(BlockOffset(area.start), words.data(), words.size() * 8);
  if (HasBitmapChecksums(sb)) {
    for (uint64_t i = 0; i < layout::BitmapBlocks(sb.store_blocks); i++) {
      const uint32_t crc = BitmapBlockChecksum(
          reinterpret_cast<const std::byte*>(words.data()) + i * layout::kBlockSize,
          layout::BitmapBlockLength(sb, i));
      dev_.CopyNoDrain(layout::BitmapChecksumOffset(sb, i), &crc, sizeof crc);
    }
  }
  dev_.Drain();
}

Status Store::FinishStoreGrowth(const mapping::PinCounts* pins) {
  const Superblock from = sb_;
  const uint64_t blocks = dev_.info().store().length / layout::kBlockSize;
  Result<Superblock> plan = Status::NoSpace("the store area did not grow");
  if (blocks > from.store_blocks) plan = PlanGrowth(from, blocks, max_tx_bytes());
  if (!plan.ok()) {
    Superblock sb = from;
    sb.store_growth = 0;
    return UpdateSuperblock(sb);
  }
  Superblock sb = *plan;
  const bool moved = sb.bitmap_start != from.bitmap_start;
  // 2. A moved bitmap, whole (drained).
  if (moved) WriteMovedBitmap(from, sb);
  // 3. The backup copy where the grown store area ends (drained).
  WriteSuperblock(dev_, sb, sb.backup_block);
  // 4. The superblock, and a bitmap grown in place from the word of the old backup block on.
  RecordStream stream;
  if (!moved) {
    const uint64_t bitmap = BlockOffset(from.bitmap_start);
    std::vector<uint64_t> words(layout::BitmapBytes(blocks) / 8);
    dev_.Read(bitmap, words.data(), words.size() * 8);
    const uint64_t first_new = from.store_blocks - 1;  // the old backup block
    SetBitmapBits(words, {first_new, blocks - 1 - first_new}, false);
    SetBitmapBits(words, {blocks - 1, 1}, true);
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
  }
  SealSuperblock(sb);
  stream.AddBytes(0, &sb, sizeof sb);
  {
    MutexLock lock(journal_->mutex());
    PMEMFS_RETURN_IF_ERROR(journal_->Commit(stream));
  }
  sb_ = geometry_ = sb;
  allocator_ = std::make_unique<Allocator>(sb, pins, Allocator::ColourPhase(dev_));
  allocator_->Load(dev_);
  bad_bitmap_blocks_ = BadBitmapBlocks(dev_, sb);
  return Status::Ok();
}

}  // namespace pmemfs::store
