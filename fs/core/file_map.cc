// FileMap: the DRAM extent index of one file and the extent records that mirror it on the device.
//
// Every extent of a persistent file owns one slot of the inode's extent chain (SlotRef `where`)
// holding its layout::ExtentRecord; an extent that changes rewrites its record in the caller's
// Tx, a removed one clears it (all zero: the unused-slot form). A map emptied by Remove unlinks
// its (short) chain, so an empty file holds no blocks. Volatile files (ctx.store null) keep no
// records: `where` stays empty.
//
// Error atomicity: each public change either fails before touching the DRAM index (the only
// fallible step, allocating a record slot, is done first) or completes in DRAM; when the Tx is
// then abandoned the caller drops the map (file_map.h).
#include "fs/core/file_map.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <string>

#include "fs/store/bitmap_area.h"
#include "pmemfs/crc32c.h"

namespace pmemfs::core {

namespace {

using layout::ExtentRecord;

// An extent record's length field is 32 bits: longer runs are split over several extents.
constexpr uint64_t kMaxExtentBlocks = UINT32_MAX;
// A map that becomes empty gives back its chain blocks when there are at most this many (a
// bounded addition to the Tx); a longer chain stays for reuse, or until the inode is freed.
constexpr uint64_t kMaxChainRelease = 64;

// [fb, fb+n) clamped so that its end does not overflow.
uint64_t EndOf(uint64_t fb, uint64_t n) { return n > UINT64_MAX - fb ? UINT64_MAX : fb + n; }

std::string ExtentName(uint64_t ino, uint64_t block, uint32_t slot) {
  return "extent record " + std::to_string(block) + ":" + std::to_string(slot) + " of inode " +
         std::to_string(ino);
}

}  // namespace

Result<std::unique_ptr<FileMap>> FileMap::Load(const store::Store& store, uint64_t ino,
                                               const layout::InodeRecord& rec) {
  auto m = Empty();
  if (rec.map_head == 0) return m;
  const layout::Superblock& sb = store.superblock();
  uint64_t index = 0;
  PMEMFS_RETURN_IF_ERROR(store.ForEachChainBlock(
      rec.map_head, store::ChainKind::kExtents, ino,
      [&](uint64_t block, const std::byte* data) -> Status {
        const uint64_t chain_index = index++;
        m->slots_.AddBlock(block, chain_index);
        for (uint32_t s = 0; s < layout::kSlotsPerBlock; s++) {
          ExtentRecord r;
          std::memcpy(&r, data + sizeof(layout::ChainHeader) + uint64_t{s} * layout::kSlotSize,
                      sizeof r);
          if (r.length == 0) {  // unused: all zero (what Remove writes); else a damaged record
            if (!layout::AllZero(&r, sizeof r))
              return Status::Corrupt(ExtentName(ino, block, s) + ": checksum mismatch");
            continue;
          }
          if (r.checksum != StructChecksum(r) || r.flags != 0 || r.reserved != 0)
            return Status::Corrupt(ExtentName(ino, block, s) + ": checksum mismatch");
          if (r.file_block > UINT64_MAX - r.length || !store::InDataArea(sb, r.dev_block, r.length))
            return Status::Corrupt(ExtentName(ino, block, s) + ": blocks outside the data area");
          const uint64_t end = r.file_block + r.length;
          auto next = m->extents_.lower_bound(r.file_block);
          bool overlap = next != m->extents_.end() && next->first < end;
          if (next != m->extents_.begin()) {
            const Extent& p = std::prev(next)->second;
            overlap = overlap || p.file_block + p.length > r.file_block;
          }
          if (overlap)
            return Status::Corrupt(ExtentName(ino, block, s) + ": overlaps another extent");
          m->extents_.emplace_hint(next, r.file_block,
                                   Extent{r.file_block, r.dev_block, r.length,
                                          SlotRef{block, s, chain_index}});
          m->mapped_ += r.length;
          m->slots_.MarkUsed(block, s, 1);
        }
        return Status::Ok();
      }));
  return m;
}

void FileMap::ForEach(uint64_t fb, uint64_t n,
                      const std::function<void(uint64_t, uint64_t, uint64_t)>& fn) const {
  const uint64_t end = EndOf(fb, n);
  auto it = extents_.upper_bound(fb);
  if (it != extents_.begin()) {
    auto p = std::prev(it);
    if (p->second.file_block + p->second.length > fb) it = p;
  }
  while (fb < end) {
    if (it == extents_.end() || it->first >= end) {
      fn(fb, 0, end - fb);
      return;
    }
    const Extent& e = it->second;
    if (e.file_block > fb) {
      fn(fb, 0, e.file_block - fb);
      fb = e.file_block;
    }
    const uint64_t stop = std::min(end, e.file_block + e.length);
    fn(fb, e.dev_block + (fb - e.file_block), stop - fb);
    fb = stop;
    ++it;
  }
}

uint64_t FileMap::Lookup(uint64_t fb) const {
  auto it = extents_.upper_bound(fb);
  if (it == extents_.begin()) return 0;
  const Extent& e = std::prev(it)->second;
  return fb < e.file_block + e.length ? e.dev_block + (fb - e.file_block) : 0;
}

uint64_t FileMap::NextData(uint64_t fb) const {
  auto it = extents_.upper_bound(fb);
  if (it != extents_.begin()) {
    const Extent& e = std::prev(it)->second;
    if (fb < e.file_block + e.length) return fb;
  }
  return it == extents_.end() ? UINT64_MAX : it->first;
}

uint64_t FileMap::NextHole(uint64_t fb) const {
  auto it = extents_.upper_bound(fb);
  if (it == extents_.begin()) return fb;
  --it;
  // Adjacent extents (contiguous in the file, not on the device) form one run of data.
  while (it != extents_.end() && it->first <= fb) {
    const Extent& e = it->second;
    if (fb >= e.file_block + e.length) break;
    fb = e.file_block + e.length;
    ++it;
  }
  return fb;
}

Status FileMap::WriteRecord(const MapContext& ctx, Extent& e) {
  if (ctx.store == nullptr) return Status::Ok();
  if (e.where.block == 0) {
    PMEMFS_ASSIGN_OR_RETURN(e.where, slots_.Allocate(ctx.store, ctx.tx, ctx.ino, *ctx.rec,
                                                     store::ChainKind::kExtents, 1));
  }
  ExtentRecord r{};
  r.file_block = e.file_block;
  r.dev_block = e.dev_block;
  r.length = static_cast<uint32_t>(e.length);
  r.checksum = StructChecksum(r);
  ctx.tx->Put(store::Store::SlotOffset(e.where.block, e.where.slot), r);
  return Status::Ok();
}

void FileMap::ClearRecord(const MapContext& ctx, const Extent& e) {
  if (ctx.store == nullptr || e.where.block == 0) return;
  ctx.tx->Put(store::Store::SlotOffset(e.where.block, e.where.slot), ExtentRecord{});
  slots_.MarkFree(e.where.block, e.where.slot, 1);
}

Status FileMap::Insert(const MapContext& ctx, uint64_t fb, uint64_t dev, uint64_t n) {
  if (n == 0) return Status::Ok();
  if (dev == 0 || fb > UINT64_MAX - n || dev > UINT64_MAX - n)
    return Status::InvalidArgument("extent [" + std::to_string(fb) + ", +" + std::to_string(n) +
                                   ") -> " + std::to_string(dev) + " is not a valid mapping");
  const uint64_t end = fb + n;
  auto next = extents_.lower_bound(fb);
  auto prev = next == extents_.begin() ? extents_.end() : std::prev(next);
  if ((next != extents_.end() && next->first < end) ||
      (prev != extents_.end() && prev->second.file_block + prev->second.length > fb))
    return Status::InvalidArgument("file blocks [" + std::to_string(fb) + ", " +
                                   std::to_string(end) + ") are not a hole");

  // Longer than one record can say: insert the head on its own first (it cannot merge with
  // `next`, which starts at or after `end`), then the rest, which may merge with both.
  if (n > kMaxExtentBlocks) {
    const uint64_t head = n - kMaxExtentBlocks;
    PMEMFS_RETURN_IF_ERROR(Insert(ctx, fb, dev, head));
    return Insert(ctx, fb + head, dev + head, kMaxExtentBlocks);
  }

  const bool merge_prev = prev != extents_.end() &&
                          prev->second.file_block + prev->second.length == fb &&
                          prev->second.dev_block + prev->second.length == dev &&
                          prev->second.length + n <= kMaxExtentBlocks;
  const bool merge_next = next != extents_.end() && next->first == end &&
                          next->second.dev_block == dev + n &&
                          next->second.length + n + (merge_prev ? prev->second.length : 0) <=
                              kMaxExtentBlocks;
  if (merge_prev && merge_next) {
    Extent& p = prev->second;
    p.length += n + next->second.length;
    ClearRecord(ctx, next->second);
    extents_.erase(next);
    PMEMFS_RETURN_IF_ERROR(WriteRecord(ctx, p));  // reuses p's slot: cannot fail
  } else if (merge_prev) {
    prev->second.length += n;
    PMEMFS_RETURN_IF_ERROR(WriteRecord(ctx, prev->second));
  } else if (merge_next) {
    // The extent now starts at fb: re-key it, keeping its record slot.
    Extent e = next->second;
    e.file_block = fb;
    e.dev_block = dev;
    e.length += n;
    extents_.erase(next);
    Extent& ref = extents_.emplace(fb, e).first->second;
    PMEMFS_RETURN_IF_ERROR(WriteRecord(ctx, ref));
  } else {
    Extent e{fb, dev, n, SlotRef{}};
    PMEMFS_RETURN_IF_ERROR(WriteRecord(ctx, e));  // allocates the slot before DRAM changes
    extents_.emplace_hint(next, fb, e);
  }
  mapped_ += n;
  return Status::Ok();
}

Status FileMap::Remove(const MapContext& ctx, uint64_t fb, uint64_t n,
                       std::vector<store::BlockRange>* freed) {
  if (n == 0) return Status::Ok();
  const uint64_t end = EndOf(fb, n);
  auto give = [freed](uint64_t start, uint64_t count) {
    if (freed == nullptr || count == 0) return;
    if (!freed->empty() && freed->back().end() == start) {
      freed->back().count += count;
    } else {
      freed->push_back({start, count});
    }
  };

  auto it = extents_.upper_bound(fb);
  if (it != extents_.begin()) {
    auto p = std::prev(it);
    if (p->second.file_block + p->second.length > fb) it = p;
  }
  while (it != extents_.end() && it->first < end) {
    Extent& e = it->second;
    const uint64_t e_end = e.file_block + e.length;
    const uint64_t lo = std::max(fb, e.file_block), hi = std::min(end, e_end);
    if (lo > e.file_block && hi < e_end) {
      // The middle goes: e keeps the head, a new extent (with a new slot) takes the tail.
      Extent tail{hi, e.dev_block + (hi - e.file_block), e_end - hi, SlotRef{}};
      PMEMFS_RETURN_IF_ERROR(WriteRecord(ctx, tail));
      e.length = lo - e.file_block;
      PMEMFS_RETURN_IF_ERROR(WriteRecord(ctx, e));
      give(e.dev_block + e.length, hi - lo);
      extents_.emplace(hi, tail);
      mapped_ -= hi - lo;
      return Status::Ok();
    }
    give(e.dev_block + (lo - e.file_block), hi - lo);
    mapped_ -= hi - lo;
    if (lo == e.file_block && hi == e_end) {  // all of it
      ClearRecord(ctx, e);
      it = extents_.erase(it);
    } else if (lo > e.file_block) {  // its tail
      e.length = lo - e.file_block;
      PMEMFS_RETURN_IF_ERROR(WriteRecord(ctx, e));
      ++it;
    } else {  // its head: re-key at hi, keeping the slot
      Extent rest = e;
      rest.file_block = hi;
      rest.dev_block = e.dev_block + (hi - e.file_block);
      rest.length = e_end - hi;
      it = extents_.erase(it);
      it = extents_.emplace_hint(it, hi, rest);
      PMEMFS_RETURN_IF_ERROR(WriteRecord(ctx, it->second));
      ++it;
    }
  }
  if (extents_.empty() && ctx.store != nullptr && slots_.block_count() > 0 &&
      slots_.block_count() <= kMaxChainRelease) {
    // No extents left: unlink the chain's blocks, tail first (an empty file holds no blocks).
    const std::vector<uint64_t> blocks = slots_.blocks_in_order();
    for (size_t i = blocks.size(); i-- > 0;) {
      PMEMFS_RETURN_IF_ERROR(ctx.store->RemoveChainBlock(*ctx.tx, ctx.ino, *ctx.rec,
                                                         store::ChainKind::kExtents,
                                                         i > 0 ? blocks[i - 1] : 0, blocks[i]));
    }
    slots_ = SlotChain();
  }
  return Status::Ok();
}

}  // namespace pmemfs::core
