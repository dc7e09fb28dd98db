// MetadataMedia: what the device's recorded bad ranges (mapping::BadBlocks: the parts' tables
// and the platform's list) mean for mounting, before the store reads its fixed structures.
//
//   PMEMFS_RETURN_IF_ERROR(CheckSuperblockMedia(dev));        // before the superblock is read
//   MetadataMedia m = CheckMetadataMedia(dev, sb);
//   if (m.refuse) fail(m.damaged); else if (!m.damaged.empty()) mount read-only
//
// A mount never reads a recorded bad range of the store's fixed structures:
//   superblock (block 0)     refused: everything starts there (the backup is for a superblock
//                            that fails its checksum, not one that cannot be read).
//   backup superblock        read-only: only read when the primary is damaged; every
//                            superblock update writes it.
//   journal                  read-only when no transaction can be left to replay: the
//                            filesystem was unmounted cleanly (the journal is not read at all),
//                            or its header is readable and holds none; refused otherwise (the
//                            header unreadable, or a committed transaction to replay).
//   inode table              read-only: the records in the bad pages are not read (ReadInode
//                            of one is an IoError; such inodes are neither free nor orphans).
//   allocation bitmap (and   read-only: the bad pages are not read (their blocks count as used,
//   its checksums)           and as bitmap blocks that fail their checksum).
// Bad ranges elsewhere (file data, directory/extent/xattr blocks, free space) do not change how
// the filesystem mounts: a read of one fails with EIO when it comes.
#pragma once

#include <string>

#include "mapping/device.h"
#include "pmemfs/layout.h"
#include "pmemfs/status.h"

namespace pmemfs::store {

// IoError (one line, naming the range) when a recorded bad range touches the primary
// superblock's block.
Status CheckSuperblockMedia(const mapping::Device& dev);

struct MetadataMedia {
  // One line naming the structures hit and the first bad range of each ("" when none is);
  // for a refusal, also why no mount can avoid it.
  std::string damaged;
  bool refuse = false;
  bool skip_journal = false;  // a read-only mount must not read the journal
};
// Reads nothing a recorded bad range touches (at most the journal header, when it is good).
MetadataMedia CheckMetadataMedia(const mapping::Device& dev, const layout::Superblock& sb);

// Whether [off, off+len) holds no recorded bad range.
inline bool MediaGood(const mapping::Device& dev, uint64_t off, uint64_t len) {
  return dev.bad_blocks().Check(off, len).ok();
}

}  // namespace pmemfs::store
