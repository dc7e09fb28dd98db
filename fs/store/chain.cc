// Chains of blocks owned by one inode: extents, directory entries, xattrs (layout::ChainHeader).
//
// A chain is singly linked from the inode (map_head, or xattr_head) through ChainHeader::next;
// extent and dentry chains also record their last block in map_tail. Block indices increase
// strictly along a chain: an appended block takes the tail's index + 1 and removing a block
// leaves a gap, so an index names a block stably (directory cookies) and a walk that meets a
// non-increasing index has found a loop.
#include <cstring>
#include <string>
#include <vector>

#include "fs/store/bitmap_area.h"
#include "fs/store/store.h"
#include "pmemfs/crc32c.h"

namespace pmemfs::store {

namespace {

using layout::ChainHeader;

const char* MagicOf(ChainKind kind) {
  switch (kind) {
    case ChainKind::kExtents: return layout::kExtentBlockMagic;
    case ChainKind::kDentries: return layout::kDirBlockMagic;
    case ChainKind::kXattrs: return layout::kXattrBlockMagic;
  }
  return layout::kExtentBlockMagic;
}

const char* KindName(ChainKind kind) {
  switch (kind) {
    case ChainKind::kExtents: return "extent";
    case ChainKind::kDentries: return "directory";
    case ChainKind::kXattrs: return "xattr";
  }
  return "chain";
}

std::string BlockName(ChainKind kind, uint64_t block) {
  return std::string(KindName(kind)) + " block " + std::to_string(block);
}

void Seal(ChainHeader& h) { h.checksum = StructChecksum(h); }

Status CheckHeader(const ChainHeader& h, uint64_t block, ChainKind kind, uint64_t owner) {
  static constexpr uint8_t kZero[sizeof h.reserved] = {};
  if (std::memcmp(h.magic, MagicOf(kind), sizeof h.magic) != 0)
    return Status::Corrupt(BlockName(kind, block) + ": bad magic");
  if (h.checksum != StructChecksum(h) || std::memcmp(h.reserved, kZero, sizeof kZero) != 0)
    return Status::Corrupt(BlockName(kind, block) + ": checksum mismatch");
  if (h.owner != owner)
    return Status::Corrupt(BlockName(kind, block) + ": owned by inode " + std::to_string(h.owner) +
                           ", not " + std::to_string(owner));
  return Status::Ok();
}

uint64_t& HeadOf(layout::InodeRecord& rec, ChainKind kind) {
  return kind == ChainKind::kXattrs ? rec.xattr_head : rec.map_head;
}

// The header of chain block `block` as `tx` would leave it, checked.
Result<ChainHeader> ReadHeaderInTx(const Tx& tx, const layout::Superblock& sb,
                                   uint64_t block, ChainKind kind, uint64_t owner) {
  if (!InDataArea(sb, block, 1))
    return Status::Corrupt(BlockName(kind, block) + " of inode " + std::to_string(owner) +
                           ": outside the data area");
  ChainHeader h;
  tx.Overlay(Store::BlockOffset(block), &h, sizeof h);
  PMEMFS_RETURN_IF_ERROR(CheckHeader(h, block, kind, owner));
  return h;
}

}  // namespace

Result<const std::byte*> Store::ReadChainBlock(uint64_t block, ChainKind kind,
                                               uint64_t owner) const {
  if (!InDataArea(sb_, block, 1))
    return Status::Corrupt(BlockName(kind, block) + " of inode " + std::to_string(owner) +
                           ": outside the data area");
  const std::byte* p = dev_.At(BlockOffset(block));
  ChainHeader h;
  std::memcpy(&h, p, sizeof h);
  PMEMFS_RETURN_IF_ERROR(CheckHeader(h, block, kind, owner));
  return p;
}

Status Store::ForEachChainBlock(uint64_t head, ChainKind kind, uint64_t owner,
                                const std::function<Status(uint64_t, const std::byte*)>& fn) const {
  uint64_t steps = 0, last_index = 0;
  for (uint64_t b = head; b != 0;) {
    PMEMFS_ASSIGN_OR_RETURN(const std::byte* p, ReadChainBlock(b, kind, owner));
    ChainHeader h;
    std::memcpy(&h, p, sizeof h);
    // A chain visits each block once and its indices increase; either guard ends a loop.
    if (++steps > sb_.store_blocks || (steps > 1 && h.index <= last_index))
      return Status::Corrupt(std::string(KindName(kind)) + " chain of inode " +
                             std::to_string(owner) + ": chain loop at block " + std::to_string(b));
    PMEMFS_RETURN_IF_ERROR(fn(b, p));
    last_index = h.index;
    b = h.next;
  }
  return Status::Ok();
}

Result<uint64_t> Store::AppendChainBlock(Tx& tx, uint64_t ino, layout::InodeRecord& rec,
                                         ChainKind kind) {
  uint64_t& head = HeadOf(rec, kind);
  uint64_t tail = 0;
  ChainHeader tail_h{};
  if (head != 0) {
    if (kind == ChainKind::kXattrs) {  // no tail field: walk (through the Tx) to the end
      uint64_t steps = 0;
      for (tail = head;; tail = tail_h.next) {
        if (++steps > sb_.store_blocks)
          return Status::Corrupt("xattr chain of inode " + std::to_string(ino) + ": chain loop");
        PMEMFS_ASSIGN_OR_RETURN(tail_h, ReadHeaderInTx(tx, sb_, tail, kind, ino));
        if (tail_h.next == 0) break;
      }
    } else {
      tail = rec.map_tail;
      PMEMFS_ASSIGN_OR_RETURN(tail_h, ReadHeaderInTx(tx, sb_, tail, kind, ino));
      if (tail_h.next != 0)
        return Status::Corrupt("inode " + std::to_string(ino) + ": map_tail " +
                               std::to_string(tail) + " is not the last block of its chain");
    }
  }

  // Near the tail, or for a new chain in the inode's share of the data area.
  const uint64_t goal =
      tail != 0 ? tail + 1
                : sb_.data_start + static_cast<uint64_t>(static_cast<unsigned __int128>(ino - 1) *
                                                         sb_.data_blocks / sb_.inode_count);
  PMEMFS_ASSIGN_OR_RETURN(BlockRange r, AllocBlocks(tx, 1, goal));
  const uint64_t block = r.start;

  std::vector<std::byte> data(layout::kBlockSize);  // header, then all slots unused (zero)
  ChainHeader h{};
  std::memcpy(h.magic, MagicOf(kind), sizeof h.magic);
  h.owner = ino;
  h.next = 0;
  h.index = tail != 0 ? tail_h.index + 1 : 0;
  Seal(h);
  std::memcpy(data.data(), &h, sizeof h);
  tx.Write(BlockOffset(block), data.data(), layout::kBlockSize);

  if (tail != 0) {
    tail_h.next = block;
    Seal(tail_h);
    tx.Put(BlockOffset(tail), tail_h);
  } else {
    head = block;
  }
  if (kind != ChainKind::kXattrs) rec.map_tail = block;
  rec.blocks += 1;
  return block;
}

Status Store::RemoveChainBlock(Tx& tx, uint64_t ino, layout::InodeRecord& rec, ChainKind kind,
                               uint64_t prev, uint64_t block) {
  uint64_t& head = HeadOf(rec, kind);
  PMEMFS_ASSIGN_OR_RETURN(ChainHeader h, ReadHeaderInTx(tx, sb_, block, kind, ino));
  if (prev == 0) {
    if (head != block)
      return Status::InvalidArgument(BlockName(kind, block) + " is not the head of inode " +
                                     std::to_string(ino) + "'s chain");
    head = h.next;
  } else {
    PMEMFS_ASSIGN_OR_RETURN(ChainHeader ph, ReadHeaderInTx(tx, sb_, prev, kind, ino));
    if (ph.next != block)
      return Status::InvalidArgument(BlockName(kind, prev) + " does not precede block " +
                                     std::to_string(block));
    ph.next = h.next;
    Seal(ph);
    tx.Put(BlockOffset(prev), ph);
  }
  if (kind != ChainKind::kXattrs && rec.map_tail == block) rec.map_tail = prev;
  FreeBlocks(tx, {block, 1});
  if (rec.blocks > 0) rec.blocks -= 1;
  return Status::Ok();
}

}  // namespace pmemfs::store
