// compare.h: what pmemfs-fsx compares between the pmemfs tree and the reference tree.
//
// Compared: type, mode bits, owner, link count, size (not of directories), file contents,
// symlink targets, xattrs (names and values) and sorted directory listings. Not compared, as
// they legitimately differ between filesystems: st_blocks, inode and device numbers, timestamps,
// directory sizes, st_blksize. Each function returns "" when equal, else what differed
// ("d0/f1: size 4096 (pmemfs) vs 8192 (reference)").
#pragma once

#include <string>

#include "side.h"

namespace fsx {

// CompareObject: the object at rel (no symlink followed) and, for a directory, its listing.
std::string CompareObject(const Side& fs, const Side& ref, const std::string& rel);

// CompareTree: every object under the roots.
std::string CompareTree(const Side& fs, const Side& ref);

// CompareSlot: what the two open files of a slot show through their descriptors (both closed
// is equal).
std::string CompareSlot(const Side& fs, const Side& ref, int slot);

}  // namespace fsx
