#include "fs/store/owners.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "fs/store/bitmap_area.h"
#include "fs/store/superblock.h"
#include "fs/store/xattr_block.h"
#include "mapping/media_guard.h"
#include "mapping/page_descriptors.h"
#include "pmemfs/crc32c.h"

namespace pmemfs::store {

using layout::ChainHeader;
using layout::InodeRecord;
using layout::kBlockSize;

namespace {

constexpr uint64_t kTableChunk = 256;  // inode records per read (64 KiB)

const char* ChainMagicOf(OwnerKind k) {
  switch (k) {
    case OwnerKind::kExtentBlock: return layout::kExtentBlockMagic;
    case OwnerKind::kDirBlock: return layout::kDirBlockMagic;
    default: return layout::kXattrBlockMagic;
  }
}

bool ValidRecord(const InodeRecord& r) { return r.mode != 0 && r.checksum == StructChecksum(r); }

}  // namespace

ReadThrough GuardedReader(const mapping::Device& dev) {
  return [&dev](uint64_t off, void* dst, uint64_t len) -> Status {
    if (off > dev.size() || len > dev.size() - off)
      return Status::InvalidArgument("read past the end of the device");
    PMEMFS_RETURN_IF_ERROR(dev.bad_blocks().Check(off, len));
    auto* d = static_cast<std::byte*>(dst);
    Status st = Status::Ok();
    dev.ForEachSegment(off, len, [&](const mapping::Segment& s) {
      if (st.ok()) st = mapping::GuardedCopy(d + (s.offset - off), s.ptr, s.length, "device", s.offset);
    });
    return st;
  };
}

Result<layout::Superblock> ReadSuperblockThrough(const mapping::Device& dev,
                                                 const ReadThrough& read) {
  const uint64_t store_bytes = dev.info().store().length;
  if (store_bytes < 2 * kBlockSize) return Status::InvalidArgument("no pmemfs store area");
  layout::Superblock sb;
  Status primary = read(0, &sb, sizeof sb);
  if (primary.ok()) primary = ValidateSuperblock(sb, store_bytes, "primary");
  if (primary.ok()) return sb;
  Status backup = read(BackupBlock(store_bytes) * kBlockSize, &sb, sizeof sb);
  if (backup.ok()) backup = ValidateSuperblock(sb, store_bytes, "backup");
  if (backup.ok()) return sb;
  return Status(primary.code() == Code::kUnsupported ? primary.code() : backup.code(),
                primary.message() + "; " + backup.message());
}

const char* OwnerKindName(OwnerKind k) {
  switch (k) {
    case OwnerKind::kSuperblock: return "superblock";
    case OwnerKind::kBackupSuperblock: return "backup_superblock";
    case OwnerKind::kJournal: return "journal";
    case OwnerKind::kInodeTable: return "inode_table";
    case OwnerKind::kBitmap: return "bitmap";
    case OwnerKind::kExtentBlock: return "extent_block";
    case OwnerKind::kDirBlock: return "directory_block";
    case OwnerKind::kXattrBlock: return "xattr_block";
    case OwnerKind::kXattrValue: return "xattr_value";
    case OwnerKind::kFileData: return "file_data";
    case OwnerKind::kUnreferenced: return "unreferenced";
    case OwnerKind::kFree: return "free";
    case OwnerKind::kStoreUnused: return "unused";
    case OwnerKind::kRamPartition: return "ram_partition";
    case OwnerKind::kDescriptors: return "descriptors";
  }
  return "?";
}

bool IsMetadata(OwnerKind k) {
  switch (k) {
    case OwnerKind::kFileData:
    case OwnerKind::kUnreferenced:
    case OwnerKind::kFree:
    case OwnerKind::kStoreUnused:
    case OwnerKind::kRamPartition: return false;
    default: return true;
  }
}

std::string Describe(const OwnerPiece& p) {
  const std::string file =
      p.path.empty() ? "inode " + std::to_string(p.ino) + " (no path leads to it)" : p.path;
  switch (p.kind) {
    case OwnerKind::kFileData:
      return std::string(p.symlink ? "target of symlink " : "file ") + file + " offset " +
             std::to_string(p.file_offset) + " length " + std::to_string(p.length);
    case OwnerKind::kExtentBlock: return "extent block of " + file;
    case OwnerKind::kDirBlock: return "directory block of " + file;
    case OwnerKind::kXattrBlock: return "xattr block of " + file;
    case OwnerKind::kXattrValue: return "xattr value block of " + file;
    case OwnerKind::kInodeTable: {
      // Built by appending: GCC 12's -Wrestrict misfires on "-" + std::string at -O3.
      std::string s = "inode table (inodes " + std::to_string(p.first_ino);
      if (p.last_ino != p.first_ino) s.append("-").append(std::to_string(p.last_ino));
      return s + ")";
    }
    case OwnerKind::kSuperblock: return "superblock";
    case OwnerKind::kBackupSuperblock: return "backup superblock";
    case OwnerKind::kJournal: return "journal";
    case OwnerKind::kBitmap: return "allocation bitmap";
    case OwnerKind::kUnreferenced: {
      std::string s = "allocated space nothing readable references";
      for (size_t i = 0; i < p.suspects.size(); i++)
        s += (i ? ", " : " (the extent blocks of ") + p.suspects[i];
      return p.suspects.empty() ? s : s + " could not be read)";
    }
    case OwnerKind::kFree: return "free space";
    case OwnerKind::kStoreUnused: return "unused space";
    case OwnerKind::kRamPartition: return "RAM partition (volatile)";
    case OwnerKind::kDescriptors: return "page descriptors";
  }
  return "?";
}

OwnerMap::OwnerMap(const mapping::Device& dev, const layout::Superblock& sb, ReadThrough read,
                   Source source)
    : dev_(dev), sb_(sb), read_(std::move(read)), source_(source) {
  if (dev.info().descriptors.empty()) source_ = Source::kExtents;
}

std::vector<OwnerPiece> OwnerMap::Owners(uint64_t off, uint64_t len) {
  std::vector<OwnerPiece> out;
  if (off >= dev_.size()) return out;
  const uint64_t end = off + std::min(len, dev_.size() - off);
  std::vector<OwnerPiece> page_pieces;
  for (uint64_t page = off / kBlockSize; page * kBlockSize < end; page++) {
    const uint64_t lo = std::max(off, page * kBlockSize);
    const uint64_t hi = std::min(end, (page + 1) * kBlockSize);
    page_pieces.clear();
    PageOwners(page, page_pieces);
    for (OwnerPiece q : page_pieces) {
      q.file_offset += lo - page * kBlockSize;
      q.offset = lo;
      q.length = hi - lo;
      // Extend a piece of the same owner that ends where this one starts.
      bool merged = false;
      for (auto it = out.rbegin(); it != out.rend() && it->offset + it->length >= lo; ++it) {
        if (it->offset + it->length != lo || it->kind != q.kind || it->ino != q.ino) continue;
        if (q.kind == OwnerKind::kFileData && it->file_offset + it->length != q.file_offset)
          continue;
        it->length += q.length;
        merged = true;
        break;
      }
      if (!merged) out.push_back(q);
    }
  }
  const uint64_t table = sb_.inode_start * kBlockSize;
  for (OwnerPiece& p : out) {
    if (p.kind == OwnerKind::kInodeTable) {
      p.first_ino = (p.offset - table) / sizeof(InodeRecord) + 1;
      p.last_ino = std::min(sb_.inode_count,
                            (p.offset + p.length - 1 - table) / sizeof(InodeRecord) + 1);
    }
    if (p.kind == OwnerKind::kUnreferenced) {
      for (uint64_t ino : cut_) {
        const std::string path = PathOf(ino);
        p.suspects.push_back(path.empty() ? "inode " + std::to_string(ino) : path);
      }
    }
    if (p.ino != 0) {
      p.path = PathOf(p.ino);
      auto m = modes_.find(p.ino);
      p.symlink = m != modes_.end() && S_ISLNK(m->second);
    }
  }
  return out;
}

void OwnerMap::PageOwners(uint64_t page, std::vector<OwnerPiece>& out) {
  const mapping::DeviceInfo& info = dev_.info();
  const uint64_t off = page * kBlockSize;
  auto add = [&](OwnerKind k) { out.push_back({.kind = k}); };
  auto in = [](uint64_t b, uint64_t start, uint64_t count) { return b >= start && b < start + count; };
  if (off >= info.store().length) {
    if (!info.ram.empty() && off >= info.ram.offset && off < info.ram.end()) add(OwnerKind::kRamPartition);
    else if (!info.descriptors.empty() && off >= info.descriptors.offset && off < info.descriptors.end())
      add(OwnerKind::kDescriptors);
    else add(OwnerKind::kStoreUnused);
    return;
  }
  const uint64_t b = page;
  if (b == 0) add(OwnerKind::kSuperblock);
  else if (b == sb_.backup_block) add(OwnerKind::kBackupSuperblock);
  else if (in(b, sb_.journal_start, sb_.journal_blocks)) add(OwnerKind::kJournal);
  else if (in(b, sb_.inode_start, sb_.inode_blocks)) add(OwnerKind::kInodeTable);
  else if (in(b, sb_.bitmap_start, sb_.bitmap_blocks)) add(OwnerKind::kBitmap);
  else if (b >= sb_.data_start && b < sb_.backup_block) DataPageOwners(b, out);
  else add(OwnerKind::kStoreUnused);
}

void OwnerMap::DataPageOwners(uint64_t block, std::vector<OwnerPiece>& out) {
  if (source_ == Source::kDescriptors) {
    // O(1): the page's descriptor names the file and the page index in it.
    layout::PageDescriptor d;
    const uint64_t at = dev_.info().descriptors.offset + layout::kDescriptorTableOffset +
                        block * sizeof(layout::PageDescriptor);
    if (read_(at, &d, sizeof d).ok() && mapping::DescriptorValid(d) && d.owner != 0 &&
        (d.flags & layout::kPageAllocated) != 0) {
      if (d.refcount <= 1) {
        out.push_back({.kind = OwnerKind::kFileData, .ino = d.owner,
                       .file_offset = d.file_index * kBlockSize});
        return;
      }
      FromRuns(block, out);  // shared: every sharer
      if (out.empty())
        out.push_back({.kind = OwnerKind::kFileData, .ino = d.owner,
                       .file_offset = d.file_index * kBlockSize});
      return;
    }
    if (!BitmapSaysUsed(block)) {
      out.push_back({.kind = OwnerKind::kFree});
      return;
    }
    // No file owns it: a chain block names its owner in its header.
    ChainHeader h;
    if (read_(block * kBlockSize, &h, sizeof h).ok() && h.checksum == StructChecksum(h) &&
        h.owner != 0) {
      for (OwnerKind k : {OwnerKind::kExtentBlock, OwnerKind::kDirBlock, OwnerKind::kXattrBlock})
        if (std::memcmp(h.magic, ChainMagicOf(k), sizeof h.magic) == 0) {
          out.push_back({.kind = k, .ino = h.owner});
          return;
        }
    }
  }
  FromRuns(block, out);
  if (!out.empty()) return;
  out.push_back({.kind = BitmapSaysUsed(block) ? OwnerKind::kUnreferenced : OwnerKind::kFree});
}

void OwnerMap::FromRuns(uint64_t block, std::vector<OwnerPiece>& out) {
  Walk(true);
  const size_t before = out.size();
  auto it = std::upper_bound(runs_.begin(), runs_.end(), block,
                             [](uint64_t b, const Run& r) { return b < r.block; });
  for (size_t j = static_cast<size_t>(it - runs_.begin()); j-- > 0 && max_end_[j] > block;) {
    const Run& r = runs_[j];
    if (block >= r.block + r.count) continue;
    out.push_back({.kind = r.kind, .ino = r.ino,
                   .file_offset = r.kind == OwnerKind::kFileData
                                      ? (r.file_block + (block - r.block)) * kBlockSize
                                      : 0});
  }
  // Runs were visited from the highest start down; report them in the order they were found.
  std::reverse(out.begin() + static_cast<ptrdiff_t>(before), out.end());
}

bool OwnerMap::BitmapSaysUsed(uint64_t block) {
  uint8_t byte = 0xff;  // unreadable: assume in use
  (void)read_(sb_.bitmap_start * kBlockSize + block / 8, &byte, 1);
  return (byte >> (block % 8) & 1) != 0;
}

void OwnerMap::Walk(bool runs) {
  if (runs ? runs_walked_ : walked_) return;
  struct Live {
    uint64_t ino, map_head, xattr_head;
    uint32_t mode;
  };
  std::vector<Live> live;
  std::vector<InodeRecord> chunk(kTableChunk);
  for (uint64_t first = 0; first < sb_.inode_count; first += chunk.size()) {
    const uint64_t n = std::min<uint64_t>(chunk.size(), sb_.inode_count - first);
    const uint64_t at = sb_.inode_start * kBlockSize + first * sizeof(InodeRecord);
    if (!read_(at, chunk.data(), n * sizeof(InodeRecord)).ok()) {
      // Read what can be read, record by record; a record that cannot be read is unknown.
      for (uint64_t i = 0; i < n; i++)
        if (!read_(at + i * sizeof(InodeRecord), &chunk[i], sizeof(InodeRecord)).ok())
          std::memset(&chunk[i], 0, sizeof(InodeRecord));
    }
    for (uint64_t i = 0; i < n; i++) {
      const InodeRecord& r = chunk[i];
      if (!ValidRecord(r)) continue;
      live.push_back({first + i + 1, r.map_head, r.xattr_head, r.mode});
      modes_[first + i + 1] = r.mode;
    }
  }
  for (const Live& l : live) {
    if (S_ISDIR(l.mode)) WalkChain(l.ino, l.map_head, OwnerKind::kDirBlock, runs);
    else if (runs) WalkChain(l.ino, l.map_head, OwnerKind::kExtentBlock, true);
    if (runs) WalkChain(l.ino, l.xattr_head, OwnerKind::kXattrBlock, true);
  }
  walked_ = true;
  if (!runs) return;
  runs_walked_ = true;
  std::sort(runs_.begin(), runs_.end(), [](const Run& a, const Run& b) { return a.block < b.block; });
  max_end_.resize(runs_.size());
  uint64_t m = 0;
  for (size_t i = 0; i < runs_.size(); i++) max_end_[i] = m = std::max(m, runs_[i].block + runs_[i].count);
}

void OwnerMap::WalkChain(uint64_t ino, uint64_t head, OwnerKind kind, bool runs) {
  std::vector<std::byte> data(kBlockSize);
  uint64_t steps = 0;
  for (uint64_t block = head; block != 0 && steps <= sb_.data_blocks; steps++) {
    if (!InDataArea(sb_, block, 1)) return;
    // The pointer says what the block is, whether or not it can be read.
    if (runs) runs_.push_back({block, 1, kind, ino, 0});
    ChainHeader h{};
    bool intact = read_(block * kBlockSize, data.data(), kBlockSize).ok();
    if (intact) {
      std::memcpy(&h, data.data(), sizeof h);
      intact = std::memcmp(h.magic, ChainMagicOf(kind), sizeof h.magic) == 0 && h.owner == ino &&
               h.checksum == StructChecksum(h);
    }
    if (!intact) {
      if (runs && kind == OwnerKind::kExtentBlock) cut_.push_back(ino);
      return;
    }
    const std::byte* slots = data.data() + sizeof(ChainHeader);
    if (kind == OwnerKind::kExtentBlock && runs) {
      for (uint32_t s = 0; s < layout::kSlotsPerBlock; s++) {
        layout::ExtentRecord e;
        std::memcpy(&e, slots + s * layout::kSlotSize, sizeof e);
        if (e.length != 0 && e.checksum == StructChecksum(e))
          runs_.push_back({e.dev_block, e.length, OwnerKind::kFileData, ino, e.file_block});
      }
    } else if (kind == OwnerKind::kDirBlock) {
      for (uint32_t s = 0; s < layout::kSlotsPerBlock;) {
        layout::DentryHead d;
        std::memcpy(&d, slots + s * layout::kSlotSize, sizeof d);
        const uint32_t n = d.ino == 0 ? 1 : std::max<uint32_t>(1, d.slots);
        if (d.ino != 0 && d.name_len != 0 && s + layout::DentrySlots(d.name_len) <= layout::kSlotsPerBlock) {
          const char* name = reinterpret_cast<const char*>(slots + s * layout::kSlotSize) +
                             offsetof(layout::DentryHead, name);
          names_.emplace(d.ino, Name{ino, std::string(name, d.name_len)});
        }
        s += n;
      }
    } else if (kind == OwnerKind::kXattrBlock && runs) {
      Result<XattrBlock> x = DecodeXattrBlock(data.data(), block, XattrBounds::Of(sb_));
      if (x.ok())
        for (const BlockRange& r : x->out.extents)
          runs_.push_back({r.start, r.count, OwnerKind::kXattrValue, ino, 0});
    }
    block = h.next;
  }
}

std::string OwnerMap::PathOf(uint64_t ino) {
  if (ino == layout::kRootIno) return "/";
  Walk(false);
  std::vector<const std::string*> parts;
  for (uint64_t cur = ino; cur != layout::kRootIno;) {
    auto it = names_.find(cur);
    if (it == names_.end() || parts.size() > 4096) return "";
    parts.push_back(&it->second.name);
    cur = it->second.parent;
  }
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) path += "/" + **it;
  return path;
}

}  // namespace pmemfs::store
