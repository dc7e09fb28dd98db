// Xattr blocks (ChainKind::kXattrs, layout::XattrHead): one attribute per block of its inode's
// xattr chain, the value inline (at most layout::kXattrMaxValue bytes) or out of line in data
// blocks of its own (up to layout::kXattrMaxSize, layout::kIncompatLargeXattrs). This file is
// the one reader and writer of that format: fs/core keeps attributes with it, pmemfs-fsck checks
// them with it.
//
//   DecodeXattrBlock(data, block, sb)    what a block holds, checked (not the out-of-line bytes)
//   ReadXattrValue(read, out)            an out-of-line value, read and checked against its CRC
//   WriteXattrBlock(store, tx, ...)      writes name and value into a chain block (in `tx`); a
//                                        long value goes to new blocks written in place first
//   FreeXattrValue(store, tx, rec, out)  frees an out-of-line value with its attribute (in `tx`)
//
// Replacing a value: WriteXattrBlock into the attribute's block and FreeXattrValue of the old
// value, in one Tx: after a crash the block holds the old attribute (and its blocks) or the new
// one, never a mix. The old blocks are reusable only after the commit, so the new value never
// lands on them (a replacement needs room for both, like copy-on-write).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fs/store/bitmap_area.h"
#include "fs/store/store.h"
#include "pmemfs/layout.h"
#include "pmemfs/status.h"

namespace pmemfs::store {

// Where an out-of-line value is (layout::XattrValueRef). No extents: the value is inline.
struct OutOfLineValue {
  uint32_t size = 0;                // bytes of the value
  uint32_t crc = 0;                 // CRC-32C of the value
  std::vector<BlockRange> extents;  // in value order
  bool empty() const { return extents.empty(); }
  uint64_t blocks() const;          // data blocks the value holds
  bool operator==(const OutOfLineValue&) const = default;
};

// One attribute as its block holds it.
struct XattrBlock {
  std::string name;              // the full name ("user.x")
  std::vector<std::byte> value;  // an inline value (empty when out of line)
  OutOfLineValue out;
  bool out_of_line() const { return !out.empty(); }
};

// What an out-of-line value's reference is checked against.
struct XattrBounds {
  uint64_t data_start = 0;    // its blocks lie in [data_start, data_end): the data area
  uint64_t data_end = 0;
  bool large_xattrs = false;  // the superblock has kIncompatLargeXattrs
  BlockRange moved_bitmap;    // not in it: a bitmap area inside it (bitmap_area.h)
  static XattrBounds Of(const layout::Superblock& sb) {
    return {sb.data_start, sb.backup_block, (sb.incompat & layout::kIncompatLargeXattrs) != 0,
            MovedBitmapArea(sb)};
  }
};

// The attribute in xattr block `block` (its 4 KiB at `data`, ChainHeader already checked).
// Corrupt, saying what is wrong, when the head, lengths or checksum are bad, or an out-of-line
// reference is malformed (extents outside `bounds`, overlapping each other or not
// ceil(size / 4096) blocks; any without bounds.large_xattrs). Name validity (namespaces) is the
// caller's.
Result<XattrBlock> DecodeXattrBlock(const std::byte* data, uint64_t block,
                                    const XattrBounds& bounds);

// The value `out` points to, read through `read` (device offset, destination, length: the
// device, or pmemfs-fsck's image of it); Corrupt when it fails its CRC.
using ReadFn = std::function<void(uint64_t off, void* dst, uint64_t len)>;
Result<std::vector<std::byte>> ReadXattrValue(const ReadFn& read, const OutOfLineValue& out);

// Writes attribute `name` = `value` into xattr chain block `block` of inode `ino` in `tx` (the
// block's header stays). A value of at most kXattrMaxValue bytes is inline. A longer one (at most
// kXattrMaxSize) gets new data blocks, reserved in `tx` near `block`, and is written and
// persisted there before this returns (free blocks until `tx` commits, so a crash before the
// commit leaves nothing); the first such value of a store without kIncompatLargeXattrs sets it
// first (durably, in its own transaction). Adds the new blocks to rec.blocks (the caller writes
// `rec` in `tx`) and returns where the value went (empty: inline). NoSpace when the blocks are
// not there: `tx` then holds no part of the value (abort it to release what it reserved).
Result<OutOfLineValue> WriteXattrBlock(Store& store, Tx& tx, uint64_t ino, uint64_t block,
                                       layout::InodeRecord& rec, std::string_view name,
                                       std::span<const std::byte> value);

// Frees the blocks of `out` when `tx` commits and takes them off rec.blocks. Nothing for an
// inline value.
void FreeXattrValue(Store& store, Tx& tx, layout::InodeRecord& rec, const OutOfLineValue& out);

}  // namespace pmemfs::store
