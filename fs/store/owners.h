// Owners: who holds a device range, to name what a media error hits (pmemfs-tune --scrub,
// pmemfs-fsck): the file and file offset, or the store structure (superblock, journal, inode
// table, bitmap, the extent/directory/xattr block of a file), or free space.
//
//   PMEMFS_ASSIGN_OR_RETURN(layout::Superblock sb, ReadSuperblockThrough(dev, read));
//   OwnerMap owners(dev, sb, read, OwnerMap::Source::kDescriptors);
//   for (const OwnerPiece& p : owners.Owners(bad.offset, bad.length)) puts(Describe(p).c_str());
//
// Everything is read through `read` (device offset, destination, length), never by plain loads:
// the tools pass a reader through the media guard (a damaged page is an error, not a SIGBUS),
// pmemfs-fsck its image of the device (with a pending journal transaction applied). What cannot
// be read is skipped: a chain block that cannot be read is still named, from the pointer that
// leads to it.
//
// Two ways to find the owner of a data-area page:
//   kDescriptors  (pages mode, the table current) the page's descriptor gives the file and page
//                 index in O(1); a page no descriptor owns is a chain block (its header names
//                 the owner) or else found in the reverse map below; a shared page lists every
//                 sharer from the reverse map.
//   kExtents      the reverse map: every inode's extent, directory and xattr chains walked once
//                 (at the first lookup) into a sorted table of device block runs.
// Paths come from one walk of the directories (at the first lookup that names a file).
//
// Not thread-safe (lazily built). `dev` and `read` must outlive the map.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "mapping/device.h"
#include "pmemfs/layout.h"
#include "pmemfs/status.h"

namespace pmemfs::store {

// Reads `len` bytes at device offset `off` into `dst`; an error when they cannot be read.
using ReadThrough = std::function<Status(uint64_t off, void* dst, uint64_t len)>;

// A reader through the media guard (mapping::GuardedCopy) that also fails the device's known
// bad ranges (their contents are not to be trusted).
ReadThrough GuardedReader(const mapping::Device& dev);

// The superblock as read through `read`: the primary when valid, else the backup. Errors as
// Store::Peek's (no pmemfs, or one this build cannot read).
Result<layout::Superblock> ReadSuperblockThrough(const mapping::Device& dev,
                                                 const ReadThrough& read);

enum class OwnerKind {
  kSuperblock,
  kBackupSuperblock,
  kJournal,
  kInodeTable,
  kBitmap,        // the allocation bitmap and its checksums
  kExtentBlock,   // of a file or symlink
  kDirBlock,      // of a directory
  kXattrBlock,
  kXattrValue,    // a block of an out-of-line xattr value
  kFileData,      // a file's (or symlink's) data
  kUnreferenced,  // in use by the bitmap, but nothing found that references it
  kFree,          // free in the bitmap
  kStoreUnused,   // store area outside every structure
  kRamPartition,
  kDescriptors,   // the page-descriptor area
};
// "superblock", "journal", "inode_table", "directory_block", "file_data", "free", ...
const char* OwnerKindName(OwnerKind k);
// Whether `k` is filesystem metadata (everything but file data, free and unreferenced space and
// the RAM partition).
bool IsMetadata(OwnerKind k);

struct OwnerPiece {
  uint64_t offset = 0;       // device range (a part of the range asked about)
  uint64_t length = 0;
  OwnerKind kind = OwnerKind::kFree;
  uint64_t ino = 0;          // the file of kExtentBlock .. kFileData; 0 otherwise
  uint64_t file_offset = 0;  // kFileData: byte offset in the file of `offset`
  uint64_t first_ino = 0;    // kInodeTable: the inode records the range touches
  uint64_t last_ino = 0;
  bool symlink = false;      // kFileData/kExtentBlock of a symlink
  std::string path;          // of `ino`: "/dir/name"; "" when no name leads to it
  // kUnreferenced: the files whose extent chains could not be read whole (their lost extents
  // may be what references it), as paths (or "inode N"); empty when every chain was read.
  std::vector<std::string> suspects;
  bool operator==(const OwnerPiece&) const = default;
};
// One line: "file /a/b offset 8192 length 4096", "directory block of /d", "extent block of
// /a/b", "inode table (inodes 17-32)", "superblock", "free space", ...
std::string Describe(const OwnerPiece& p);

class OwnerMap {
 public:
  enum class Source { kDescriptors, kExtents };
  OwnerMap(const mapping::Device& dev, const layout::Superblock& sb, ReadThrough read,
           Source source);

  // What [off, off+len) holds, in device order, split where the owner changes (a page shared by
  // several files gives one piece per file). Consecutive pages of one file at consecutive file
  // offsets are one piece.
  std::vector<OwnerPiece> Owners(uint64_t off, uint64_t len);
  Source source() const { return source_; }

 private:
  struct Run {  // device blocks [block, +count) of `ino`
    uint64_t block, count;
    OwnerKind kind;
    uint64_t ino;
    uint64_t file_block;  // kFileData
  };
  struct Name {
    uint64_t parent;
    std::string name;
  };
  // The owners of device page `page` (the whole page).
  void PageOwners(uint64_t page, std::vector<OwnerPiece>& out);
  void DataPageOwners(uint64_t block, std::vector<OwnerPiece>& out);
  void FromRuns(uint64_t block, std::vector<OwnerPiece>& out);
  // Reads the inode table; with `runs`, also every chain into runs_; always the names.
  void Walk(bool runs);
  void WalkChain(uint64_t ino, uint64_t head, OwnerKind kind, bool runs);
  bool BitmapSaysUsed(uint64_t block);
  std::string PathOf(uint64_t ino);

  const mapping::Device& dev_;
  const layout::Superblock sb_;
  ReadThrough read_;
  Source source_;
  bool walked_ = false, runs_walked_ = false;
  std::vector<Run> runs_;          // sorted by block
  std::vector<uint64_t> max_end_;  // max_end_[i]: largest block + count of runs_[0..i]
  std::unordered_map<uint64_t, Name> names_;      // ino -> first name found
  std::unordered_map<uint64_t, uint32_t> modes_;  // live inodes' modes
  std::vector<uint64_t> cut_;  // inodes whose extent chain could not be read whole
};

}  // namespace pmemfs::store
