// The checker's internals: one read-only pass over the store (Scan) and the repairs it asks for
// (Fixes), applied afterwards by Repair through the store's transactions.
//
//   Image img(dev);  img.LoadJournal(sb)       the device as Store::Open would leave it
//   Scan scan(img, sb, opts, report);  scan.Run();   checks, filling report and scan.fixes
//   Repair(dev, scan.fixes, ...)              applies them (repair.cc)
//
// check.cc runs scans and repairs in turn until a scan finds nothing to fix (or nothing more
// can be fixed). Internal to tools/fsck.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "fs/store/store.h"
#include "mapping/device.h"
#include "mapping/page_descriptors.h"
#include "pmemfs/layout.h"
#include "tools/fsck/check.h"

namespace pmemfs::fsck {

// The device as the store would see it after Store::Open: the device's bytes overlaid with the
// records of a committed, unapplied journal transaction (which recovery would apply).
class Image {
 public:
  explicit Image(const mapping::Device& dev) : dev_(dev) {}

  const mapping::Device& dev() const { return dev_; }
  void Read(uint64_t off, void* dst, uint64_t len) const;
  template <typename T>
  T Get(uint64_t off) const {
    T v;
    Read(off, &v, sizeof v);
    return v;
  }
  void Block(uint64_t block, std::byte* dst) const {
    Read(block * layout::kBlockSize, dst, layout::kBlockSize);
  }

  // Adds one record of the pending transaction (later records win).
  void AddWrite(uint64_t off, const std::byte* data, uint64_t len);
  void AddDescriptor(uint64_t page, const mapping::PageInfo& info) { descriptors_[page] = info; }
  // The descriptor value a pending kDescriptor record sets, if any.
  const mapping::PageInfo* PendingDescriptor(uint64_t page) const {
    auto it = descriptors_.find(page);
    return it == descriptors_.end() ? nullptr : &it->second;
  }
  bool has_pending() const { return !writes_.empty() || !descriptors_.empty(); }

 private:
  const mapping::Device& dev_;
  std::map<uint64_t, std::vector<std::byte>> writes_;  // offset -> bytes, non-overlapping
  uint64_t max_write_ = 0;
  std::map<uint64_t, mapping::PageInfo> descriptors_;
};

// Helpers over the on-media format shared by the scan and the repair.
uint32_t DentryChecksum(const layout::DentryHead& head, const char* name);
void SealChainHeader(layout::ChainHeader& h);
const char* ChainMagic(store::ChainKind kind);
const char* ChainName(store::ChainKind kind);
uint8_t DirentType(uint32_t mode);

// A change to an inode record (fields left empty stay).
struct InodePatch {
  std::optional<uint32_t> nlink;
  std::optional<uint64_t> parent;
  std::optional<uint64_t> blocks;
  std::optional<uint64_t> size;
  std::optional<uint64_t> map_head;  // with map_tail
  std::optional<uint64_t> map_tail;
  std::optional<uint64_t> xattr_head;
  std::optional<uint32_t> flags;
  std::optional<uint64_t> rdev;
  std::optional<uint64_t> pending_size;
};

// Everything one scan asks the repair to do. Each list is applied in its own transactions.
struct Fixes {
  bool open_close = false;  // Store::Open + Close: replays the journal, rewrites both superblocks
  std::map<uint64_t, uint64_t> bitmap_words;  // word index -> correct value
  struct Slots {
    uint64_t block;
    uint32_t slot;
    uint32_t count;
  };
  std::vector<Slots> clear_slots;  // dentries and extent records to zero
  struct Dentry {
    uint64_t block;
    uint32_t slot;
    std::vector<std::byte> bytes;  // the whole entry, rewritten
  };
  std::vector<Dentry> rewrite_dentries;
  struct Extent {
    uint64_t block;
    uint32_t slot;
    layout::ExtentRecord rec;  // sealed here
  };
  std::vector<Extent> rewrite_extents;
  struct Cut {
    uint64_t block;  // chain block whose next becomes 0
  };
  std::vector<Cut> cut_chains;  // the inode side goes in `patches`
  struct XattrDrop {
    uint64_t ino, prev, block;
  };
  std::vector<XattrDrop> drop_xattr_blocks;
  std::map<uint64_t, InodePatch> patches;
  std::set<uint64_t> free_inodes;
  std::vector<uint64_t> to_lost_found;  // inodes to link under /lost+found
  std::map<uint64_t, mapping::PageInfo> descriptors;
  bool any() const {
    return open_close || !bitmap_words.empty() || !clear_slots.empty() ||
           !rewrite_dentries.empty() || !rewrite_extents.empty() || !cut_chains.empty() ||
           !drop_xattr_blocks.empty() || !patches.empty() || !free_inodes.empty() ||
           !to_lost_found.empty() || !descriptors.empty();
  }
};

// One read-only pass over a store whose superblock `sb` is valid.
class Scan {
 public:
  Scan(const Image& img, const layout::Superblock& sb, bool check_descriptors,
       const CheckOptions& opts, CheckReport& report)
      : img_(img), sb_(sb), check_descriptors_(check_descriptors), opts_(opts), report_(report) {}

  void Run();
  Fixes fixes;

 private:
  struct Edge {  // a dentry
    uint64_t dir;
    uint64_t child;
    std::string name;
    uint64_t block;
    uint32_t slot;
    uint8_t slots;
    uint8_t type;
    bool dropped = false;
  };
  // The fields of an inode record the later checks use (the whole record is not kept: a
  // large table would cost 256 bytes per inode).
  struct Rec {
    uint32_t mode = 0, nlink = 0, flags = 0;
    uint64_t size = 0, blocks = 0, parent = 0, pending_size = 0;
    uint64_t map_head = 0, map_tail = 0, xattr_head = 0;
  };
  struct Node {
    Rec rec;
    bool live = false;  // in use with an intact record of a known type
    bool is_dir = false;
    uint64_t chain_blocks = 0;  // extent, dentry, xattr and xattr value blocks held
    uint64_t data_refs = 0;     // data blocks its extents map
    std::vector<size_t> in;     // edges naming it (not dropped)
    uint64_t subdirs = 0;
  };

  void Problem(const std::string& area, const std::string& message);
  void Progress();

  void ScanInodes();
  void CheckRecord(uint64_t ino, const layout::InodeRecord& r);
  // Walks a chain: the blocks with intact headers, in order; a damaged link is reported and cut.
  std::vector<uint64_t> WalkChain(uint64_t ino, store::ChainKind kind, uint64_t head);
  bool Claim(uint64_t block);  // a chain or xattr value block: false when already claimed
  void ScanExtents(uint64_t ino, Node& n, const std::vector<uint64_t>& blocks);
  void ScanDentries(uint64_t ino, const std::vector<uint64_t>& blocks);
  void ScanXattrs(uint64_t ino, Node& n, const std::vector<uint64_t>& blocks);
  void CheckSymlink(uint64_t ino, Node& n);

  void CheckNamespace();
  void DropEdge(size_t e, const std::string& why);
  void CheckLinks();
  void CheckBitmap();
  // Per bitmap block: whether it fails its checksum (each reported); all false without them.
  std::vector<bool> BadBitmapChecksums();
  void CheckDescriptors();
  uint64_t RefsOf(uint64_t block) const;
  struct Kept;
  const Kept* KeptAt(uint64_t page) const;  // an extent mapping `page`, if any

  const Image& img_;
  const layout::Superblock sb_;
  const bool check_descriptors_;
  const CheckOptions& opts_;
  CheckReport& report_;
  bool sharing_allowed_ = false;  // pages mode: data blocks may be shared by several extents

  std::vector<Node> nodes_;  // by ino (index 0 unused)
  std::vector<Edge> edges_;
  // Data-area blocks referenced: 1 bit each, and the count above 1 for shared ones.
  std::vector<uint64_t> claimed_;
  std::vector<uint64_t> chain_block_;  // 1 bit: claimed as a chain or xattr value block
  std::unordered_map<uint64_t, uint32_t> extra_refs_;
  // Pages mode: the extents kept, to name an owner for a page whose descriptor has none.
  struct Kept {
    uint64_t dev_block, length, ino, file_block;
  };
  std::vector<Kept> kept_;
  uint64_t progress_done_ = 0, progress_total_ = 0;
  std::set<uint64_t> attached_;  // inodes going to /lost+found
};

// Adds a problem for each piece of a known bad range (the device's bad-block tables) that
// holds a file's data or metadata, naming it (fs/store/owners.h), and a note for each in free
// space (media.cc). `descriptors`: the page-descriptor table is current (owners in O(1)).
void ReportBadRanges(const Image& img, const layout::Superblock& sb, bool descriptors,
                     CheckReport& r);

// Applies `fixes` through the store: Store::Open (replaying the journal; the superblocks are
// rewritten by Open and Close), the bitmap, then everything else, then Close. `descriptors`
// opens the store with the device's page descriptors. Returns what failed, if anything.
Status Repair(mapping::Device& dev, const Fixes& fixes, bool descriptors);

}  // namespace pmemfs::fsck
