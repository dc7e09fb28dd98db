#include "fs/core/slot_chain.h"

#include <bit>

namespace pmemfs::core {

namespace {
bool Used(const uint64_t used[2], uint32_t s) { return (used[s / 64] >> (s % 64)) & 1; }
void SetUsed(uint64_t used[2], uint32_t s, bool v) {
  if (v) used[s / 64] |= 1ull << (s % 64);
  else used[s / 64] &= ~(1ull << (s % 64));
}
}  // namespace

void SlotChain::AddBlock(uint64_t block, uint64_t chain_index) {
  blocks_[block] = BlockSlots{.chain_index = chain_index};
  with_room_[block] = layout::kSlotsPerBlock;
}

void SlotChain::MarkUsed(uint64_t block, uint32_t slot, uint32_t n) {
  auto& b = blocks_[block];
  for (uint32_t s = slot; s < slot + n; s++) {
    if (!Used(b.used, s)) b.free--;
    SetUsed(b.used, s, true);
  }
  if (b.free == 0) with_room_.erase(block);
  else with_room_[block] = b.free;
}

void SlotChain::MarkFree(uint64_t block, uint32_t slot, uint32_t n) {
  auto& b = blocks_[block];
  for (uint32_t s = slot; s < slot + n; s++) {
    if (Used(b.used, s)) b.free++;
    SetUsed(b.used, s, false);
  }
  with_room_[block] = b.free;
}

Result<SlotRef> SlotChain::Allocate(store::Store* store, store::Tx* tx, uint64_t ino,
                                    layout::InodeRecord& rec, store::ChainKind kind, uint32_t n) {
  for (auto& [block, room] : with_room_) {
    if (room < n) continue;
    BlockSlots& b = blocks_[block];
    uint32_t run = 0;
    for (uint32_t s = 0; s < layout::kSlotsPerBlock; s++) {
      run = Used(b.used, s) ? 0 : run + 1;
      if (run == n) {
        uint32_t first = s + 1 - n;
        uint64_t blk = block;  // MarkUsed may erase from with_room_: copy before
        MarkUsed(blk, first, n);
        return SlotRef{blk, first, b.chain_index};
      }
    }
  }
  uint64_t block;
  if (store != nullptr) {
    PMEMFS_ASSIGN_OR_RETURN(block, store->AppendChainBlock(*tx, ino, rec, kind));
  } else {
    // Volatile chains are DRAM-only: any unique number works as a block id.
    block = blocks_.empty() ? 1 : blocks_.rbegin()->first + 1;
  }
  uint64_t index = blocks_.size();
  AddBlock(block, index);
  MarkUsed(block, 0, n);
  return SlotRef{block, 0, index};
}

std::vector<uint64_t> SlotChain::blocks_in_order() const {
  std::map<uint64_t, uint64_t> by_index;
  for (const auto& [block, b] : blocks_) by_index[b.chain_index] = block;
  std::vector<uint64_t> out;
  for (const auto& [i, block] : by_index) out.push_back(block);
  return out;
}

}  // namespace pmemfs::core
