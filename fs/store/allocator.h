// Allocator: the block bitmap, kept in DRAM twice. The bitmap has one bit per store block,
// 1 = in use: block b is bit b % 64 of the little-endian 64-bit word b / 64 (so bit b % 8 of
// byte b / 8); ForEachBitmapWord and SetBitmapBits below are that rule for the store (the
// allocator, and a growth's new bitmap words: growth.cc). The two copies:
//
//   committed_  what the device's bitmap says after the last commit. Commit derives the bitmap
//               words a transaction writes from it (Materialise), under the journal lock.
//   reserved_   in use or reserved: committed_ plus the blocks open transactions reserved. A
//               block a transaction frees stays set until that commit is durable (Committed)
//               and until no reader has it pinned (deferred_; mapping/pin_table.h).
//
// Alloc searches reserved_ next-fit from a goal (or a rotating hint) within the data area. A
// caller that allocates for a file's offset can ask for a 2 MiB colour: the run then starts,
// where the free space allows, at a block whose part offset and the file offset agree modulo
// 2 MiB, so that a mapping of the file can use 2 MiB pages (client/file.cc maps a file at one
// colour); where no such run is free it is placed as without.
// Internal to fs/store.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <span>
#include <vector>

#include "fs/store/tx.h"
#include "mapping/device.h"
#include "mapping/pin_table.h"
#include "pmemfs/layout.h"
#include "pmemfs/status.h"
#include "pmemfs/thread_annotations.h"

namespace pmemfs::store {

// Bits [lo, hi) of one bitmap word (0 <= lo < hi <= 64).
inline uint64_t BitmapWordMask(uint64_t lo, uint64_t hi) {
  const uint64_t upper = hi == 64 ? ~0ull : (1ull << hi) - 1;
  return upper & ~((1ull << lo) - 1);
}

// Calls fn(word, mask) for each bitmap word holding bits of blocks [r.start, r.end()), in
// increasing order, `mask` their bits in it.
template <typename Fn>
void ForEachBitmapWord(BlockRange r, Fn&& fn) {
  uint64_t b = r.start;
  while (b < r.end()) {
    const uint64_t w = b / 64, lo = b % 64;
    const uint64_t hi = std::min<uint64_t>(64, lo + (r.end() - b));
    fn(w, BitmapWordMask(lo, hi));
    b += hi - lo;
  }
}

// Marks blocks `r` in use (`used`) or free in the bitmap words `words`.
inline void SetBitmapBits(std::span<uint64_t> words, BlockRange r, bool used) {
  ForEachBitmapWord(r, [&](uint64_t w, uint64_t m) {
    if (used) words[w] |= m;
    else words[w] &= ~m;
  });
}

// A run of bitmap words [first, first + count): one journal record.
struct WordRun {
  uint64_t first = 0;
  uint64_t count = 0;
};

// The bitmap words the ranges in `a` and `b` touch, as maximal runs of consecutive words in
// increasing order (what a transaction's bitmap records cover).
std::vector<WordRun> BitmapWordRuns(std::span<const BlockRange> a, std::span<const BlockRange> b);

class Allocator {
 public:
  // Blocks per 2 MiB page, and the colour of an allocation that asks for none.
  static constexpr uint64_t kHugeBlocks = (2ull << 20) / layout::kBlockSize;
  static constexpr uint64_t kAnyColour = ~0ull;

  // `pins` (may be null: nothing is ever pinned) are the readers' pins (mapping::Access::pins());
  // they must outlive this. `phase`: what block b's part offset is, in blocks, modulo
  // kHugeBlocks, is (b + phase) (the part header's size; ColourPhase).
  Allocator(const layout::Superblock& sb, const mapping::PinCounts* pins, uint64_t phase = 0);
  // The phase of `dev`: where its device offset 0 sits in its part, in blocks (of a linear
  // device whose parts' data sizes are multiples of 2 MiB, the same for every part).
  static uint64_t ColourPhase(const mapping::Device& dev);

  // Reads the bitmap from the device into both copies. Metadata blocks are always taken as in
  // use, whatever the device says.
  void Load(const mapping::Device& dev);

  // Reserves the first run of `count` free data blocks found next-fit from `goal` (a hint when
  // `goal` is outside the data area), else the longest shorter run; NoSpace when none is free.
  // With a `colour` (the file block the run is for, modulo kHugeBlocks), the first run of
  // `count` free blocks starting at that colour is taken before any other.
  Result<BlockRange> Alloc(uint64_t count, uint64_t goal, uint64_t colour = kAnyColour);
  // Gives back reservations of a transaction that did not commit.
  void Release(std::span<const BlockRange> ranges);

  // The words of the committed bitmap that a transaction allocating `alloc` and freeing `free`
  // changes, with those changes applied: word index -> new value. InvalidArgument when a range
  // lies outside the data area or frees a block that is not in use. Caller holds the journal
  // lock (committed_ does not change meanwhile).
  Result<std::map<uint64_t, uint64_t>> Materialise(std::span<const BlockRange> alloc,
                                                   std::span<const BlockRange> free) const;
  // After a commit of `alloc` and `free` is durable: updates committed_, and makes the freed
  // blocks allocatable (those pinned now are retried by later Allocs). Caller holds the
  // journal lock.
  void Committed(std::span<const BlockRange> alloc, std::span<const BlockRange> free);

  // Free data blocks (reserved and pinned-deferred blocks count as used).
  uint64_t free_blocks() const;
  // Device offset of bitmap word `w`.
  uint64_t WordOffset(uint64_t w) const { return bitmap_offset_ + w * sizeof(uint64_t); }

 private:
  // First free (resp. used) block of reserved_ in [b, end), else `end`.
  uint64_t NextFree(uint64_t b, uint64_t end) const REQUIRES(mu_);
  uint64_t NextUsed(uint64_t b, uint64_t end) const REQUIRES(mu_);
  // The first run of `count` free blocks starting at a block of colour `colour`, next-fit from
  // `start`; empty when there is none.
  BlockRange FindColoured(uint64_t count, uint64_t start, uint64_t colour) const REQUIRES(mu_);
  // Sets (clears) [r.start, r.end) in reserved_ and adjusts free_.
  void Reserve(BlockRange r) REQUIRES(mu_);
  void Unreserve(BlockRange r) REQUIRES(mu_);
  // Unreserves the deferred blocks no reader pins any more.
  void RetryDeferred() REQUIRES(mu_);
  bool Pinned(uint64_t block) const;

  const uint64_t data_start_;
  const uint64_t data_end_;       // backup_block
  const uint64_t bitmap_offset_;  // device offset of the bitmap
  const BlockRange moved_bitmap_;  // the bitmap area when inside the data area, else empty
  const uint64_t phase_;          // ColourPhase of the device
  const mapping::PinCounts* const pins_;

  // Guards everything below. Taken after the journal lock when both are held.
  mutable Mutex mu_;
  // Changed only under the journal lock (and mu_).
  std::vector<uint64_t> committed_ GUARDED_BY(mu_);
  std::vector<uint64_t> reserved_ GUARDED_BY(mu_);
  // Freed and committed, still pinned: set in reserved_.
  std::vector<uint64_t> deferred_ GUARDED_BY(mu_);
  uint64_t free_ GUARDED_BY(mu_) = 0;  // clear data-area bits of reserved_
  uint64_t hint_ GUARDED_BY(mu_) = 0;  // where the next search without a goal starts
};

}  // namespace pmemfs::store
