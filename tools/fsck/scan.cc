// Scan, part 1: the inode table, the chains each inode owns (extents, dentries, xattrs) and the
// records in them. What counts as valid is what fs/store and fs/core accept when they load
// these structures (inode_table.cc, chain.cc, file_map.cc, directory.cc, xattr.cc).
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "fs/store/bitmap_area.h"
#include "fs/store/xattr_block.h"
#include "pmemfs/crc32c.h"
#include "tools/fsck/scan.h"

namespace pmemfs::fsck {

namespace {

using layout::ChainHeader;
using layout::DentryHead;
using layout::ExtentRecord;
using layout::InodeRecord;
using store::ChainKind;

constexpr uint64_t kBatch = 256;  // inode records read at a time

bool TestBit(const std::vector<uint64_t>& bits, uint64_t b) { return bits[b / 64] >> (b % 64) & 1; }
void SetBit(std::vector<uint64_t>& bits, uint64_t b) { bits[b / 64] |= 1ull << (b % 64); }

bool KnownType(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR: case S_IFBLK: case S_IFIFO:
    case S_IFSOCK:
      return true;
  }
  return false;
}

std::string InoName(uint64_t ino) { return "inode " + std::to_string(ino); }

// The xattr names fs/core accepts (xattr.cc Classify).
bool ValidXattrName(std::string_view name) {
  if (name.find('\0') != std::string_view::npos) return false;
  if (name == "system.posix_acl_access" || name == "system.posix_acl_default") return true;
  for (std::string_view p : {"user.", "trusted.", "security."})
    if (name.starts_with(p) && name.size() > p.size()) return true;
  return false;
}

}  // namespace

void Scan::Problem(const std::string& area, const std::string& message) {
  report_.problems.push_back({area, message, false});
}

void Scan::Progress() {
  ++progress_done_;
  if (opts_.progress && (progress_done_ % 4096 == 0 || progress_done_ == progress_total_))
    opts_.progress(std::min(progress_done_, progress_total_), progress_total_);
}

void Scan::Run() {
  sharing_allowed_ = check_descriptors_ || (sb_.incompat & layout::kIncompatSharedPages) ||
                     sb_.default_mode == static_cast<uint32_t>(layout::StoredMode::kPages);
  report_.inode_count = sb_.inode_count;
  claimed_.assign((sb_.store_blocks + 63) / 64, 0);
  chain_block_.assign(claimed_.size(), 0);
  progress_total_ = 2 * sb_.inode_count + (sb_.store_blocks + 63) / 64 +
                    (check_descriptors_ ? sb_.store_blocks : 0);
  ScanInodes();
  if (!nodes_[layout::kRootIno].live || !nodes_[layout::kRootIno].is_dir) {
    Problem("inode", "the root inode is damaged or not a directory: the filesystem cannot be "
                     "mounted (not repairable)");
    return;
  }
  CheckNamespace();
  CheckLinks();
  CheckBitmap();
  CheckDescriptors();
  if (opts_.progress) opts_.progress(progress_total_, progress_total_);
}

// --- inodes -------------------------------------------------------------------------------------

void Scan::ScanInodes() {
  const uint64_t count = sb_.inode_count;
  nodes_.assign(count + 1, Node{});
  std::vector<InodeRecord> batch(kBatch);
  const uint64_t table = sb_.inode_start * layout::kBlockSize;
  for (uint64_t first = 1; first <= count; first += kBatch) {
    const uint64_t n = std::min(kBatch, count - first + 1);
    img_.Read(table + (first - 1) * sizeof(InodeRecord), batch.data(), n * sizeof(InodeRecord));
    for (uint64_t i = 0; i < n; i++) {
      Progress();
      const uint64_t ino = first + i;
      const InodeRecord& r = batch[i];
      if (layout::AllZero(&r, sizeof r)) continue;  // never used
      if (r.checksum != StructChecksum(r) || r.reserved0 != 0 || r.reserved1 != 0 ||
          !layout::AllZero(r.reserved, sizeof r.reserved)) {
        Problem("inode", InoName(ino) + ": record checksum mismatch or reserved bytes set");
        if (ino != layout::kRootIno) fixes.free_inodes.insert(ino);
        continue;
      }
      if (r.mode == 0) continue;  // freed
      Node& node = nodes_[ino];
      node.rec = {r.mode, r.nlink, r.flags, r.size, r.blocks, r.parent, r.pending_size,
                  r.map_head, r.map_tail, r.xattr_head};
      if (!KnownType(r.mode)) {
        Problem("inode", InoName(ino) + ": unknown file type 0" +
                             std::to_string((r.mode & S_IFMT) >> 12));
        if (ino != layout::kRootIno) fixes.free_inodes.insert(ino);
        continue;
      }
      node.live = true;
      node.is_dir = S_ISDIR(r.mode);
      CheckRecord(ino, r);
    }
  }

  // Chains first, for every inode: their blocks carry magic, owner and index, so they are
  // trusted over extent records that point into them.
  std::vector<std::vector<uint64_t>> map_blocks(count + 1), xattr_blocks(count + 1);
  for (uint64_t ino = 1; ino <= count; ino++) {
    Progress();
    Node& n = nodes_[ino];
    if (!n.live) continue;
    const uint32_t type = n.rec.mode & S_IFMT;
    if (type == S_IFDIR) {
      map_blocks[ino] = WalkChain(ino, ChainKind::kDentries, n.rec.map_head);
    } else if (type == S_IFREG || type == S_IFLNK) {
      map_blocks[ino] = WalkChain(ino, ChainKind::kExtents, n.rec.map_head);
    } else if (n.rec.map_head != 0 || n.rec.map_tail != 0) {
      Problem("inode", InoName(ino) + ": a device node, fifo or socket with a block map");
      fixes.patches[ino].map_head = 0;
      fixes.patches[ino].map_tail = 0;
    }
    xattr_blocks[ino] = WalkChain(ino, ChainKind::kXattrs, n.rec.xattr_head);
    n.chain_blocks = map_blocks[ino].size() + xattr_blocks[ino].size();
    const uint64_t last = map_blocks[ino].empty() ? 0 : map_blocks[ino].back();
    auto pit = fixes.patches.find(ino);
    const bool cut = pit != fixes.patches.end() && (pit->second.map_tail || pit->second.map_head);
    if (!cut && (type == S_IFDIR || type == S_IFREG || type == S_IFLNK) &&
        n.rec.map_tail != last) {
      Problem("chain", InoName(ino) + ": map_tail " + std::to_string(n.rec.map_tail) +
                           " is not the last block of its chain (" + std::to_string(last) + ")");
      fixes.patches[ino].map_tail = last;
    }
  }
  for (uint64_t ino = 1; ino <= count; ino++) {
    Node& n = nodes_[ino];
    if (!n.live) continue;
    report_.inodes++;
    switch (n.rec.mode & S_IFMT) {
      case S_IFDIR:
        report_.directories++;
        ScanDentries(ino, map_blocks[ino]);
        break;
      case S_IFREG:
        report_.files++;
        ScanExtents(ino, n, map_blocks[ino]);
        break;
      case S_IFLNK:
        report_.symlinks++;
        ScanExtents(ino, n, map_blocks[ino]);
        CheckSymlink(ino, n);
        break;
      default:
        report_.others++;
        break;
    }
    ScanXattrs(ino, n, xattr_blocks[ino]);
  }
}

// The fields fs/core keeps for each type (namespace.cc NewRecord, CreateNode, MkNod).
void Scan::CheckRecord(uint64_t ino, const InodeRecord& r) {
  const uint32_t type = r.mode & S_IFMT;
  if (r.flags & ~layout::kInodeKnownFlags) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%x", r.flags);
    Problem("inode", InoName(ino) + ": unknown flags 0x" + hex);
    fixes.patches[ino].flags = r.flags & layout::kInodeKnownFlags;
  }
  if ((r.flags & layout::kInodeTruncating) && type != S_IFREG) {
    Problem("inode", InoName(ino) + ": marked truncating but not a regular file");
    fixes.patches[ino].flags = r.flags & layout::kInodeAttrFlags;
    fixes.patches[ino].pending_size = 0;
  }
  if (type != S_IFCHR && type != S_IFBLK && r.rdev != 0) {
    Problem("inode", InoName(ino) + ": device number set on a file that is not a device node");
    fixes.patches[ino].rdev = 0;
  }
  if (type != S_IFDIR && r.parent != 0) {
    Problem("inode", InoName(ino) + ": parent field set on a file that is not a directory");
    fixes.patches[ino].parent = 0;
  }
  if (type == S_IFDIR && (r.parent == 0 || r.parent > sb_.inode_count)) {
    // Reported and fixed by CheckNamespace, which knows the real parent.
  }
}

// --- chains -------------------------------------------------------------------------------------

std::vector<uint64_t> Scan::WalkChain(uint64_t ino, ChainKind kind, uint64_t head) {
  std::vector<uint64_t> blocks;
  uint64_t prev = 0, last_index = 0;
  const bool map = kind != ChainKind::kXattrs;
  auto cut = [&](uint64_t b, const std::string& what) {
    Problem("chain", std::string(ChainName(kind)) + " chain of " + InoName(ino) + ": block " +
                         std::to_string(b) + " " + what + " (chain cut there)");
    InodePatch& p = fixes.patches[ino];
    if (prev == 0) {
      if (map) {
        p.map_head = 0;
        p.map_tail = 0;
      } else {
        p.xattr_head = 0;
      }
    } else {
      fixes.cut_chains.push_back({prev});
      if (map) p.map_tail = prev;
    }
  };
  for (uint64_t b = head; b != 0;) {
    if (!store::InDataArea(sb_, b, 1)) {
      cut(b, "lies outside the data area");
      break;
    }
    ChainHeader h;
    img_.Read(b * layout::kBlockSize, &h, sizeof h);
    if (std::memcmp(h.magic, ChainMagic(kind), sizeof h.magic) != 0) {
      cut(b, "has a bad magic");
      break;
    }
    if (h.checksum != StructChecksum(h) || !layout::AllZero(h.reserved, sizeof h.reserved)) {
      cut(b, "has a header checksum mismatch");
      break;
    }
    if (h.owner != ino) {
      cut(b, "is owned by inode " + std::to_string(h.owner));
      break;
    }
    if (!blocks.empty() && h.index <= last_index) {
      cut(b, "repeats or goes back in the chain (a loop)");
      break;
    }
    if (!Claim(b)) {
      cut(b, "is also used by another chain");
      break;
    }
    blocks.push_back(b);
    report_.chain_blocks++;
    last_index = h.index;
    prev = b;
    b = h.next;
  }
  return blocks;
}

bool Scan::Claim(uint64_t block) {
  if (TestBit(chain_block_, block)) return false;
  SetBit(chain_block_, block);
  SetBit(claimed_, block);
  return true;
}

// --- extents ------------------------------------------------------------------------------------

void Scan::ScanExtents(uint64_t ino, Node& n, const std::vector<uint64_t>& blocks) {
  std::map<uint64_t, uint64_t> by_file;  // file_block -> length: the extents kept
  const bool truncating = n.rec.flags & layout::kInodeTruncating;
  const uint64_t new_size = std::min(n.rec.pending_size, n.rec.size);
  const uint64_t keep = (new_size + layout::kBlockSize - 1) / layout::kBlockSize;
  if (truncating && n.rec.pending_size == layout::kPendingSizeAhead) {
    Problem("inode", InoName(ino) + ": blocks past the end allocated ahead for direct access, "
                         "left by a crash (freed by the repair, or by the next mount)");
  } else if (truncating) {
    Problem("inode", InoName(ino) + ": an interrupted truncate to " + std::to_string(new_size) +
                         " bytes (finished by the repair, or by the next mount)");
  }
  if (truncating) {
    InodePatch& p = fixes.patches[ino];
    p.size = new_size;
    p.flags = n.rec.flags & ~static_cast<uint32_t>(layout::kInodeTruncating);
    p.pending_size = 0;
  }
  std::vector<std::byte> buf(layout::kBlockSize);
  for (uint64_t block : blocks) {
    img_.Block(block, buf.data());
    for (uint32_t s = 0; s < layout::kSlotsPerBlock; s++) {
      ExtentRecord r;
      std::memcpy(&r, buf.data() + sizeof(ChainHeader) + uint64_t{s} * layout::kSlotSize,
                  sizeof r);
      const std::string where = "extent record " + std::to_string(block) + ":" +
                                std::to_string(s) + " of " + InoName(ino);
      if (r.length == 0) {  // unused: all zero (what fs/core writes), else a damaged record
        if (!layout::AllZero(&r, sizeof r)) {
          Problem("extent", where + ": length 0 but not an all-zero unused slot (cleared)");
          fixes.clear_slots.push_back({block, s, 1});
        }
        continue;
      }
      auto drop = [&](const std::string& why) {
        Problem("extent", where + ": " + why + " (record dropped)");
        fixes.clear_slots.push_back({block, s, 1});
      };
      if (r.checksum != StructChecksum(r) || r.flags != 0 || r.reserved != 0) {
        drop("checksum mismatch");
        continue;
      }
      if (r.file_block > UINT64_MAX - r.length || !store::InDataArea(sb_, r.dev_block, r.length)) {
        drop("blocks [" + std::to_string(r.dev_block) + ", +" + std::to_string(r.length) +
             ") outside the data area");
        continue;
      }
      const uint64_t end = r.file_block + r.length;
      auto next = by_file.lower_bound(r.file_block);
      bool overlap = next != by_file.end() && next->first < end;
      if (next != by_file.begin()) {
        auto p = std::prev(next);
        overlap = overlap || p->first + p->second > r.file_block;
      }
      if (overlap) {
        drop("overlaps another extent of the file");
        continue;
      }
      uint64_t conflict = 0;
      bool with_chain = false;
      for (uint64_t b = r.dev_block; b < r.dev_block + r.length; b++) {
        if (TestBit(chain_block_, b)) {
          conflict = b;
          with_chain = true;
          break;
        }
        if (!sharing_allowed_ && TestBit(claimed_, b)) {
          conflict = b;
          break;
        }
      }
      if (conflict != 0) {
        Problem("space", where + ": block " + std::to_string(conflict) + " is also used by " +
                             (with_chain ? "a chain block or xattr value" : "another extent") +
                             " (record dropped)");
        fixes.clear_slots.push_back({block, s, 1});
        continue;
      }
      by_file.emplace(r.file_block, r.length);
      if (check_descriptors_) kept_.push_back({r.dev_block, r.length, ino, r.file_block});
      for (uint64_t i = 0; i < r.length; i++) {
        const uint64_t b = r.dev_block + i;
        if (TestBit(claimed_, b)) {
          extra_refs_[b]++;
        } else {
          SetBit(claimed_, b);
        }
      }
      n.data_refs += r.length;
      report_.extents++;
      if (truncating && end > keep) {  // what the interrupted truncate was removing
        if (r.file_block >= keep) {
          fixes.clear_slots.push_back({block, s, 1});
        } else {
          ExtentRecord cut = r;
          cut.length = static_cast<uint32_t>(keep - r.file_block);
          fixes.rewrite_extents.push_back({block, s, cut});
        }
      }
    }
  }
}

void Scan::CheckSymlink(uint64_t ino, Node& n) {
  const uint64_t size = n.rec.size;
  const uint64_t want = size < layout::kInlineDataMax
                            ? 0
                            : (size + layout::kBlockSize - 1) / layout::kBlockSize;
  if (size == 0 || size >= layout::kBlockSize) {
    Problem("inode", "symlink " + InoName(ino) + ": target length " + std::to_string(size) +
                         " (must be 1 to 4095; symlink freed)");
    fixes.free_inodes.insert(ino);
  } else if (n.data_refs != want) {
    Problem("inode", "symlink " + InoName(ino) + ": " + std::to_string(n.data_refs) +
                         " target blocks for a target of " + std::to_string(size) +
                         " bytes (symlink freed)");
    fixes.free_inodes.insert(ino);
  }
}

// --- directory entries --------------------------------------------------------------------------

void Scan::ScanDentries(uint64_t ino, const std::vector<uint64_t>& blocks) {
  std::set<std::string> names;
  std::vector<std::byte> buf(layout::kBlockSize);
  for (uint64_t block : blocks) {
    img_.Block(block, buf.data());
    const std::byte* slots = buf.data() + sizeof(ChainHeader);
    for (uint32_t s = 0; s < layout::kSlotsPerBlock;) {
      DentryHead h;
      std::memcpy(&h, slots + s * layout::kSlotSize, sizeof h);
      if (h.ino == 0) {  // unused: all zero (what fs/core writes), else a damaged entry
        if (!layout::AllZero(slots + s * layout::kSlotSize, layout::kSlotSize)) {
          Problem("directory", "directory " + std::to_string(ino) + ", block " +
                                   std::to_string(block) + " slot " + std::to_string(s) +
                                   ": inode 0 but not an all-zero unused slot (cleared)");
          fixes.clear_slots.push_back({block, s, 1});
        }
        s++;
        continue;
      }
      const char* name =
          reinterpret_cast<const char*>(slots + s * layout::kSlotSize) + offsetof(DentryHead, name);
      const bool shaped = h.name_len > 0 && h.slots == layout::DentrySlots(h.name_len) &&
                          s + h.slots <= layout::kSlotsPerBlock;
      const uint32_t span = shaped ? h.slots : 1;
      const std::string where = "directory " + std::to_string(ino) + ", block " +
                                std::to_string(block) + " slot " + std::to_string(s);
      auto drop = [&](const std::string& why) {
        Problem("directory", where + ": " + why + " (entry dropped)");
        fixes.clear_slots.push_back({block, s, span});
      };
      if (!shaped || h.reserved != 0 || h.checksum != DentryChecksum(h, name)) {
        drop("bad entry (length, slots or checksum)");
        s += span;
        continue;
      }
      const std::string n(name, h.name_len);
      if (n == "." || n == ".." || n.find('/') != std::string::npos ||
          n.find('\0') != std::string::npos) {
        drop("invalid name");
      } else if (!names.insert(n).second) {
        drop("name '" + n + "' appears twice");
      } else {
        report_.dentries++;
        edges_.push_back({ino, h.ino, n, block, s, h.slots, h.type});
      }
      s += span;
    }
  }
}

// --- xattrs -------------------------------------------------------------------------------------

// Each block must decode (store/xattr_block.cc: head, checksum, an out-of-line reference in the
// data area and consistent, the feature bit for it) to a valid name not seen before on the
// inode. An out-of-line value must fail no CRC and use blocks nothing else uses (chain blocks
// are all claimed before; extents scanned later that map them are dropped); its blocks count
// as the inode's. A bad attribute is dropped and its value blocks left unclaimed (freed).
void Scan::ScanXattrs(uint64_t ino, Node& n, const std::vector<uint64_t>& blocks) {
  std::set<std::string> names;
  std::vector<std::byte> buf(layout::kBlockSize);
  const store::XattrBounds bounds = store::XattrBounds::Of(sb_);
  uint64_t prev = 0;  // the last block kept: the predecessor of the next one after repair
  for (uint64_t block : blocks) {
    img_.Block(block, buf.data());
    std::string why;
    Result<store::XattrBlock> x = store::DecodeXattrBlock(buf.data(), block, bounds);
    if (!x.ok()) {
      why = x.status().message();
      const std::string prefix = "xattr block " + std::to_string(block) + ": ";
      if (why.starts_with(prefix)) why = why.substr(prefix.size());
    } else if (!ValidXattrName(x->name)) {
      why = "invalid name";
    } else if (names.contains(x->name)) {
      why = "name '" + x->name + "' appears twice";
    } else if (x->out_of_line()) {
      for (const store::BlockRange& r : x->out.extents)
        for (uint64_t b = r.start; b < r.end() && why.empty(); b++)
          if (TestBit(claimed_, b))
            why = "value block " + std::to_string(b) + " is also used by " +
                  (TestBit(chain_block_, b) ? "a chain or another xattr value" : "an extent");
      if (why.empty()) {
        auto v = store::ReadXattrValue(
            [&](uint64_t off, void* dst, uint64_t len) { img_.Read(off, dst, len); }, x->out);
        if (!v.ok()) why = "value checksum mismatch";
      }
    }
    if (!why.empty()) {
      Problem("xattr", "xattr block " + std::to_string(block) + " of " + InoName(ino) + ": " + why +
                           " (attribute dropped)");
      fixes.drop_xattr_blocks.push_back({ino, prev, block});
      continue;
    }
    names.insert(x->name);
    for (const store::BlockRange& r : x->out.extents)
      for (uint64_t b = r.start; b < r.end(); b++) Claim(b);
    n.chain_blocks += x->out.blocks();
    report_.xattr_value_blocks += x->out.blocks();
    report_.xattrs++;
    prev = block;
  }
}

}  // namespace pmemfs::fsck
