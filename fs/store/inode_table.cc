#include "fs/store/inode_table.h"

#include "fs/store/metadata_media.h"

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

#include "pmemfs/crc32c.h"

namespace pmemfs::store {

namespace {

using layout::InodeRecord;

enum class Slot { kFree, kInUse, kCorrupt };

Slot Classify(const InodeRecord& r) {
  if (layout::AllZero(&r, sizeof r)) return Slot::kFree;  // never written since Format
  if (r.checksum != StructChecksum(r) || r.reserved0 != 0 || r.reserved1 != 0 ||
      !layout::AllZero(r.reserved, sizeof r.reserved))
    return Slot::kCorrupt;
  return r.mode == 0 ? Slot::kFree : Slot::kInUse;
}

}  // namespace

InodeTable::InodeTable(const mapping::Device& dev, const layout::Superblock& sb)
    : dev_(dev),
      table_offset_(sb.inode_start * layout::kBlockSize),
      count_(sb.inode_count),
      free_((sb.inode_count + 63) / 64) {}

void InodeTable::Seal(InodeRecord& rec) { rec.checksum = StructChecksum(rec); }

Status InodeTable::Load(std::vector<uint64_t>* orphans, std::vector<uint64_t>* truncating) {
  MutexLock lock(mu_);
  std::fill(free_.begin(), free_.end(), 0);
  free_count_ = 0;
  low_word_ = 0;
  constexpr uint64_t kBatch = 256;  // records read at a time
  std::vector<InodeRecord> batch(kBatch);
  for (uint64_t first = 1; first <= count_; first += kBatch) {
    const uint64_t n = std::min(kBatch, count_ - first + 1);
    // Records in a recorded bad range are not read (a read-only mount: metadata_media.h):
    // kept out of the free set, and ReadInode fails them.
    const bool good = MediaGood(dev_, RecordOffset(first), n * sizeof(InodeRecord));
    if (good) dev_.Read(RecordOffset(first), batch.data(), n * sizeof(InodeRecord));
    for (uint64_t i = 0; i < n; i++) {
      const uint64_t ino = first + i;
      if (!good && !MediaGood(dev_, RecordOffset(ino), sizeof(InodeRecord))) continue;
      if (!good) dev_.Read(RecordOffset(ino), &batch[i], sizeof(InodeRecord));
      const InodeRecord& r = batch[i];
      switch (Classify(r)) {
        case Slot::kFree:
          free_[(ino - 1) / 64] |= 1ull << ((ino - 1) % 64);
          free_count_++;
          break;
        case Slot::kInUse:
          if (r.nlink == 0 && ino != layout::kRootIno) orphans->push_back(ino);
          if (r.flags & layout::kInodeTruncating) truncating->push_back(ino);
          break;
        case Slot::kCorrupt:  // kept out of the free set; ReadInode reports it
          break;
      }
    }
  }
  Result<InodeRecord> root = Read(layout::kRootIno);
  if (!root.ok())
    return Status::Corrupt("root inode: " + (root.status().code() == Code::kNotFound
                                                 ? std::string("missing")
                                                 : root.status().message()));
  if (!S_ISDIR(root->mode)) return Status::Corrupt("root inode: not a directory");
  return Status::Ok();
}

Result<InodeRecord> InodeTable::Read(uint64_t ino) const {
  if (!Contains(ino))
    return Status::NotFound("inode " + std::to_string(ino) + ": outside the table (" +
                            std::to_string(count_) + " inodes)");
  InodeRecord r;
  if (!MediaGood(dev_, RecordOffset(ino), sizeof r))
    return Status::IoError("inode " + std::to_string(ino) +
                           ": its inode-table page is a recorded bad range");
  dev_.Read(RecordOffset(ino), &r, sizeof r);
  switch (Classify(r)) {
    case Slot::kFree: return Status::NotFound("inode " + std::to_string(ino) + ": free");
    case Slot::kCorrupt: return Status::Corrupt("inode " + std::to_string(ino) + ": checksum mismatch");
    case Slot::kInUse: break;
  }
  return r;
}

Result<uint64_t> InodeTable::Reserve(uint64_t* generation) {
  uint64_t ino = 0;
  {
    MutexLock lock(mu_);
    for (uint64_t w = low_word_; w < free_.size(); w++) {
      if (free_[w] == 0) continue;
      const unsigned bit = std::countr_zero(free_[w]);
      free_[w] &= ~(1ull << bit);
      free_count_--;
      low_word_ = w;
      ino = w * 64 + bit + 1;
      break;
    }
    if (ino == 0) {
      low_word_ = free_.size();
      return Status::NoSpace("no free inode (" + std::to_string(count_) + " in the table)");
    }
  }
  InodeRecord r;
  dev_.Read(RecordOffset(ino), &r, sizeof r);
  if (generation) *generation = r.generation;
  return ino;
}

void InodeTable::Release(std::span<const uint64_t> inos) {
  MutexLock lock(mu_);
  for (uint64_t ino : inos) {
    if (!Contains(ino)) continue;
    uint64_t& w = free_[(ino - 1) / 64];
    const uint64_t bit = 1ull << ((ino - 1) % 64);
    if (w & bit) continue;
    w |= bit;
    free_count_++;
    low_word_ = std::min(low_word_, (ino - 1) / 64);
  }
}

uint64_t InodeTable::free_count() const {
  MutexLock lock(mu_);
  return free_count_;
}

}  // namespace pmemfs::store
