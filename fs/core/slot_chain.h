// SlotChain: the free-slot index of one chain of slot blocks (an inode's extent or dentry
// chain). Blocks hold layout::kSlotsPerBlock 32-byte slots; an entry takes 1..n adjacent slots
// of one block. The chain itself lives on the device (store::Store chain calls); this DRAM
// index says which slots are free, so finding room never scans the device.
//
// Not thread-safe: the owning inode's lock guards it.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "fs/store/store.h"

namespace pmemfs::core {

struct SlotRef {
  uint64_t block = 0;  // store block of the chain block
  uint32_t slot = 0;
  uint64_t chain_index = 0;  // position of the block in the chain
};

class SlotChain {
 public:
  // Records the blocks of an existing chain in order (index = position) with their used slots
  // (set by MarkUsed afterwards).
  void AddBlock(uint64_t block, uint64_t chain_index);
  void MarkUsed(uint64_t block, uint32_t slot, uint32_t n);
  void MarkFree(uint64_t block, uint32_t slot, uint32_t n);

  // Finds `n` adjacent free slots in one block; none: appends a chain block through `store`
  // (rec's head/tail/blocks change; the caller writes rec in the same Tx). The slots are marked
  // used. `store` null (volatile inode): plain DRAM slots.
  Result<SlotRef> Allocate(store::Store* store, store::Tx* tx, uint64_t ino,
                           layout::InodeRecord& rec, store::ChainKind kind, uint32_t n);

  uint64_t block_count() const { return blocks_.size(); }
  // Chain blocks in order (for freeing a whole chain).
  std::vector<uint64_t> blocks_in_order() const;

 private:
  struct BlockSlots {
    uint64_t chain_index = 0;
    uint64_t used[2] = {0, 0};  // bit i: slot i in use (126 slots)
    uint32_t free = layout::kSlotsPerBlock;
  };
  std::map<uint64_t, BlockSlots> blocks_;        // store block -> its slots
  std::map<uint64_t, uint64_t> with_room_;       // blocks with free slots: block -> free count
};

}  // namespace pmemfs::core
