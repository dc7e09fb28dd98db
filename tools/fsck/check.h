// pmemfs-fsck's checker: every invariant fs/store and fs/core keep on the device, checked on an
// unmounted filesystem, with optional repair.
//
//   Result<CheckReport> r = fsck::Check(dev, {.repair = false});   // -n: never writes
//   if (!r.ok()) ...            operational failure (not a pmemfs, unsupported version): exit 8
//   r->problems                 what is wrong (area, message, whether it was repaired)
//   r->ExitCode()               e2fsck-style: 0 clean, 1 all problems fixed, 4 some left
//
// What is checked, in this order (scan*.cc say where each invariant comes from):
//   label        each part's label and its backup (mapping/device_set.h): a damaged copy is
//                rewritten from the other
//   superblock   primary and backup: magic, checksum, version, reserved bytes, geometry against
//                the device's store area, the two copies agreeing
//   device       RAM partition and page-descriptor area bounds from the part labels
//   journal      header; a committed transaction not yet applied (checked as if replayed)
//   inodes       record checksums and reserved bytes, types, sizes, flags, parents
//   chains       extent, dentry and xattr chains: magic, checksum, owner, index order, loops,
//                blocks inside the data area
//   xattrs       each attribute's block (head, checksum, name); an out-of-line value's blocks
//                (in the data area, used by nothing else, its CRC, the feature bit)
//   extents      records, overlaps, symlink extents against the size
//   directories  dentry checksums and names, duplicates, targets live and of the dentry's type,
//                reachability from the root, one parent per directory, the parent field
//   links        nlink against the dentries (and subdirectories), blocks against what is held
//   space        the bitmap against the blocks inodes reference: leaks, double use, references
//                outside the data area; the bitmap blocks' checksums
//   descriptors  pages mode: header, log, checksums, refcounts against the extents sharing a page
//   media        the device's known bad ranges (its parts' bad-block tables, what pmemfs-tune
//                --scrub records): each piece in a file or in metadata is a problem naming the
//                file and file offset or the structure (fs/store/owners.h; not repairable),
//                one in free space a note
//
// Repair (opts.repair, -y) goes through the store (store::Store::Open replays the journal, each
// fix is a store Tx, Close marks the filesystem clean), so a crash during repair is safe.
// What can be repaired: the backup superblock from the primary (and the reverse), bad dentries
// (dropped), damaged chains (cut at the damage), bad extents and double-used blocks (dropped
// from the later owner), link counts, block counts, unreachable inodes (moved to /lost+found),
// unlinked inodes still allocated (freed), leaked blocks (freed), blocks in use but marked free
// (marked), bitmap blocks failing their checksum (rewritten from the extents), page
// descriptors (rewritten from the extents). A damaged inode record is freed after its names are
// dropped. A second run after a repair is clean.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mapping/device.h"
#include "pmemfs/status.h"

namespace pmemfs::fsck {

// Whether page descriptors are checked against the extents (pages mode). They are kept only
// while the filesystem is mounted in pages mode with the descriptors on the device, so kAuto
// checks them when the superblock says the table is current (layout::kCompatDescriptorsCurrent)
// and the device has the area.
enum class DescriptorCheck { kAuto, kOn, kOff };

struct CheckOptions {
  bool repair = false;                                   // -y; false = -n (never writes)
  std::function<void(uint64_t done, uint64_t total)> progress;  // may be empty
  DescriptorCheck descriptors = DescriptorCheck::kAuto;
};

struct Problem {
  std::string area;     // "label", "superblock", "journal", "inode", "chain", "extent", "directory",
                        // "link", "space", "descriptor", "device", "media"
  std::string message;  // one line, naming the structure (inode, block, slot)
  bool repaired = false;
};

struct CheckReport {
  std::vector<Problem> problems;
  // What was walked.
  uint64_t inodes = 0;        // inodes in use
  uint64_t inode_count = 0;   // slots in the inode table
  uint64_t directories = 0;
  uint64_t files = 0;         // regular files
  uint64_t symlinks = 0;
  uint64_t others = 0;        // device nodes, fifos, sockets
  uint64_t dentries = 0;
  uint64_t extents = 0;
  uint64_t xattrs = 0;
  uint64_t chain_blocks = 0;  // extent, dentry and xattr blocks
  uint64_t xattr_value_blocks = 0;  // blocks of out-of-line xattr values
  uint64_t data_blocks_used = 0;  // data-area blocks referenced (shared blocks once)
  uint64_t data_blocks = 0;       // data area size
  bool journal_replayed = false;  // a committed transaction was found (and replayed with -y)
  bool descriptors_checked = false;
  std::vector<std::string> notes;  // informational (not problems): e.g. "not cleanly unmounted"

  bool clean() const { return problems.empty(); }
  // e2fsck-style: 0 clean, 1 all problems fixed, 4 left uncorrected.
  int ExitCode() const;
  // Problems still present.
  uint64_t unrepaired() const;
};

// Checks the unmounted filesystem on `dev` (the same Device that store::Store::Open takes).
// Errors (Status) only for operational failures (exit code 8): no pmemfs on the device, an
// unsupported format version; corruption is reported as Problems. With opts.repair the device
// is written (through store transactions); without it, never.
Result<CheckReport> Check(mapping::Device& dev, const CheckOptions& opts);

}  // namespace pmemfs::fsck
