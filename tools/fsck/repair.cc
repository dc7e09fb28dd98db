// Repair: applies a scan's Fixes through the store, every change in a store transaction, so a
// crash during repair leaves each fix done or not done (and the next run finds what is left).
//
// Order: Store::Open (replays a committed journal transaction, repairs the primary superblock
// from the backup), the bitmap (then the store is closed and opened again so the allocator
// loads the corrected bitmap before anything allocates), the slot and chain fixes, the inode
// patches, the dropped xattr blocks, the inodes freed, /lost+found, the page descriptors,
// Close (rewrites both superblocks, marks the filesystem clean).
#include <sys/stat.h>

#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <set>

#include "pmemfs/crc32c.h"
#include "tools/fsck/scan.h"

namespace pmemfs::fsck {

namespace {

using layout::InodeRecord;
using store::ChainKind;
using store::Store;
using store::Tx;

// Commits a running Tx whenever it has collected half of what the journal holds.
class Batch {
 public:
  explicit Batch(Store& s) : s_(s) { tx_.emplace(s_.Begin()); }
  Tx& tx() { return *tx_; }
  Status Maybe() {
    if (tx_->journal_bytes() < s_.max_tx_bytes() / 2) return Status::Ok();
    return Flush();
  }
  Status Flush() {
    Status st = tx_->empty() ? Status::Ok() : s_.Commit(*tx_);
    tx_.reset();
    tx_.emplace(s_.Begin());
    return st;
  }

 private:
  Store& s_;
  std::optional<Tx> tx_;
};

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// The entries of directory `dir` (names) and the first run of `n` free slots, if any.
struct DirSlots {
  std::set<std::string> names;
  uint64_t block = 0;
  uint32_t slot = 0;
};

Result<DirSlots> ReadDir(const Store& s, uint64_t dir, const InodeRecord& rec, uint32_t n) {
  DirSlots out;
  PMEMFS_RETURN_IF_ERROR(s.ForEachChainBlock(
      rec.map_head, ChainKind::kDentries, dir, [&](uint64_t block, const std::byte* data) {
        const std::byte* slots = data + sizeof(layout::ChainHeader);
        uint32_t run = 0;
        for (uint32_t i = 0; i < layout::kSlotsPerBlock;) {
          layout::DentryHead h;
          std::memcpy(&h, slots + i * layout::kSlotSize, sizeof h);
          if (h.ino == 0) {
            if (++run == n && out.block == 0) {
              out.block = block;
              out.slot = i + 1 - n;
            }
            i++;
            continue;
          }
          run = 0;
          const uint32_t span = h.slots >= 1 && i + h.slots <= layout::kSlotsPerBlock ? h.slots : 1;
          const char* name = reinterpret_cast<const char*>(slots + i * layout::kSlotSize) +
                             offsetof(layout::DentryHead, name);
          out.names.insert(std::string(name, std::min<uint32_t>(h.name_len, span * 32 - 16)));
          i += span;
        }
        return Status::Ok();
      }));
  return out;
}

// Adds the entry `name` -> `child` to directory `dir` (record `rec`, written by the caller).
Status AddEntry(Store& s, Tx& tx, uint64_t dir, InodeRecord& rec, const std::string& name,
                uint64_t child, uint8_t type, const DirSlots& free) {
  const uint32_t n = layout::DentrySlots(static_cast<uint32_t>(name.size()));
  uint64_t block = free.block;
  uint32_t slot = free.slot;
  if (block == 0) {
    PMEMFS_ASSIGN_OR_RETURN(block, s.AppendChainBlock(tx, dir, rec, ChainKind::kDentries));
    slot = 0;
  }
  std::vector<std::byte> buf(size_t{n} * layout::kSlotSize);
  layout::DentryHead h{};
  h.ino = child;
  h.name_len = static_cast<uint8_t>(name.size());
  h.type = type;
  h.slots = static_cast<uint8_t>(n);
  std::memcpy(buf.data(), &h, sizeof h);
  char* name_at = reinterpret_cast<char*>(buf.data()) + offsetof(layout::DentryHead, name);
  std::memcpy(name_at, name.data(), name.size());
  std::memcpy(&h, buf.data(), sizeof h);
  h.checksum = DentryChecksum(h, name_at);
  std::memcpy(buf.data(), &h, sizeof h);
  tx.Write(Store::SlotOffset(block, slot), buf.data(), static_cast<uint32_t>(buf.size()));
  return Status::Ok();
}

// Finds /lost+found, creating it when missing.
Result<uint64_t> LostFound(Store& s) {
  PMEMFS_ASSIGN_OR_RETURN(InodeRecord root, s.ReadInode(layout::kRootIno));
  const std::string name = "lost+found";
  uint64_t found = 0;
  PMEMFS_RETURN_IF_ERROR(s.ForEachChainBlock(
      root.map_head, ChainKind::kDentries, layout::kRootIno,
      [&](uint64_t, const std::byte* data) {
        const std::byte* slots = data + sizeof(layout::ChainHeader);
        for (uint32_t i = 0; i < layout::kSlotsPerBlock; i++) {
          layout::DentryHead h;
          std::memcpy(&h, slots + i * layout::kSlotSize, sizeof h);
          if (h.ino != 0 && h.name_len == name.size() &&
              std::memcmp(h.name, name.data(), name.size()) == 0)
            found = h.ino;
        }
        return Status::Ok();
      }));
  if (found != 0) {
    PMEMFS_ASSIGN_OR_RETURN(InodeRecord rec, s.ReadInode(found));
    if (!S_ISDIR(rec.mode)) return Status::Corrupt("/lost+found exists and is not a directory");
    return found;
  }
  Tx tx = s.Begin();
  uint64_t gen = 0;
  PMEMFS_ASSIGN_OR_RETURN(uint64_t ino, s.ReserveInode(tx, &gen));
  InodeRecord rec{};
  rec.mode = S_IFDIR | 0700;
  rec.nlink = 2;
  rec.uid = root.uid;
  rec.gid = root.gid;
  rec.parent = layout::kRootIno;
  rec.atime_ns = rec.mtime_ns = rec.ctime_ns = rec.btime_ns = NowNs();
  rec.generation = gen + 1;
  s.WriteInode(tx, ino, rec);
  PMEMFS_ASSIGN_OR_RETURN(DirSlots free, ReadDir(s, layout::kRootIno, root, 1));
  PMEMFS_RETURN_IF_ERROR(AddEntry(s, tx, layout::kRootIno, root, name, ino, DirentType(S_IFDIR), free));
  root.nlink++;
  root.mtime_ns = root.ctime_ns = rec.ctime_ns;
  s.WriteInode(tx, layout::kRootIno, root);
  PMEMFS_RETURN_IF_ERROR(s.Commit(tx));
  return ino;
}

Status LinkLostFound(Store& s, const std::vector<uint64_t>& inos) {
  if (inos.empty()) return Status::Ok();
  PMEMFS_ASSIGN_OR_RETURN(uint64_t lf, LostFound(s));
  for (uint64_t ino : inos) {
    PMEMFS_ASSIGN_OR_RETURN(InodeRecord child, s.ReadInode(ino));
    PMEMFS_ASSIGN_OR_RETURN(InodeRecord dir, s.ReadInode(lf));
    // Appended: GCC 12 -O3 warns falsely (-Wrestrict) on "#" + string.
    const std::string base = std::string("#").append(std::to_string(ino));
    std::string name = base;
    PMEMFS_ASSIGN_OR_RETURN(DirSlots free, ReadDir(s, lf, dir, layout::DentrySlots(32)));
    for (int k = 1; free.names.count(name); k++) name = base + "." + std::to_string(k);
    Tx tx = s.Begin();
    PMEMFS_RETURN_IF_ERROR(AddEntry(s, tx, lf, dir, name, ino, DirentType(child.mode), free));
    if (S_ISDIR(child.mode)) {
      child.parent = lf;
      dir.nlink++;
      s.WriteInode(tx, ino, child);
    }
    s.WriteInode(tx, lf, dir);
    PMEMFS_RETURN_IF_ERROR(s.Commit(tx));
  }
  return Status::Ok();
}

void Apply(const InodePatch& p, InodeRecord& r) {
  if (p.nlink) r.nlink = *p.nlink;
  if (p.parent) r.parent = *p.parent;
  if (p.blocks) r.blocks = *p.blocks;
  if (p.size) r.size = *p.size;
  if (p.map_head) r.map_head = *p.map_head;
  if (p.map_tail) r.map_tail = *p.map_tail;
  if (p.xattr_head) r.xattr_head = *p.xattr_head;
  if (p.flags) r.flags = *p.flags;
  if (p.rdev) r.rdev = *p.rdev;
  if (p.pending_size) r.pending_size = *p.pending_size;
}

struct Opened {
  std::unique_ptr<mapping::PageDescriptors> desc;
  std::unique_ptr<Store> store;
};

// Opens the store with the device's page descriptors when it has them (a pending transaction
// may hold descriptor records, which only a store opened with them replays).
Result<Opened> OpenStore(mapping::Device& dev) {
  Opened o;
  if (!dev.info().descriptors.empty()) {
    auto d = mapping::PageDescriptors::Open(dev, mapping::DescriptorPlacement::kDevice);
    if (d.ok()) o.desc = std::move(d).value();  // a damaged area: the store opens without it
  }
  PMEMFS_ASSIGN_OR_RETURN(o.store, Store::Open(dev, o.desc.get()));
  return o;
}

Status ApplyAll(Store& s, mapping::PageDescriptors* desc, const Fixes& f) {
  const layout::Superblock sb = s.superblock();
  Batch batch(s);
  static constexpr std::byte kZero[layout::kSlotSize * layout::kSlotsPerBlock] = {};
  for (const Fixes::Slots& c : f.clear_slots) {
    batch.tx().Write(Store::SlotOffset(c.block, c.slot), kZero, c.count * layout::kSlotSize);
    PMEMFS_RETURN_IF_ERROR(batch.Maybe());
  }
  for (const Fixes::Dentry& d : f.rewrite_dentries) {
    batch.tx().Write(Store::SlotOffset(d.block, d.slot), d.bytes.data(),
                     static_cast<uint32_t>(d.bytes.size()));
    PMEMFS_RETURN_IF_ERROR(batch.Maybe());
  }
  for (Fixes::Extent e : f.rewrite_extents) {
    e.rec.checksum = StructChecksum(e.rec);
    batch.tx().Put(Store::SlotOffset(e.block, e.slot), e.rec);
    PMEMFS_RETURN_IF_ERROR(batch.Maybe());
  }
  for (const Fixes::Cut& c : f.cut_chains) {
    layout::ChainHeader h;
    s.device().Read(Store::BlockOffset(c.block), &h, sizeof h);
    h.next = 0;
    SealChainHeader(h);
    batch.tx().Put(Store::BlockOffset(c.block), h);
    PMEMFS_RETURN_IF_ERROR(batch.Maybe());
  }
  for (const auto& [ino, p] : f.patches) {
    if (f.free_inodes.count(ino)) continue;
    Result<InodeRecord> r = s.ReadInode(ino);
    if (!r.ok()) continue;  // freed or damaged: nothing to patch
    InodeRecord rec = *r;
    Apply(p, rec);
    s.WriteInode(batch.tx(), ino, rec);
    PMEMFS_RETURN_IF_ERROR(batch.Maybe());
  }
  PMEMFS_RETURN_IF_ERROR(batch.Flush());

  // Xattr blocks one at a time: each unlinks a block of a chain the next may walk.
  for (const Fixes::XattrDrop& x : f.drop_xattr_blocks) {
    if (f.free_inodes.count(x.ino)) continue;
    PMEMFS_ASSIGN_OR_RETURN(InodeRecord rec, s.ReadInode(x.ino));
    Tx tx = s.Begin();
    PMEMFS_RETURN_IF_ERROR(s.RemoveChainBlock(tx, x.ino, rec, ChainKind::kXattrs, x.prev, x.block));
    s.WriteInode(tx, x.ino, rec);
    PMEMFS_RETURN_IF_ERROR(s.Commit(tx));
  }
  for (uint64_t ino : f.free_inodes) {
    if (ino == layout::kRootIno || ino > sb.inode_count) continue;
    s.FreeInode(batch.tx(), ino);
    PMEMFS_RETURN_IF_ERROR(batch.Maybe());
  }
  PMEMFS_RETURN_IF_ERROR(batch.Flush());
  PMEMFS_RETURN_IF_ERROR(LinkLostFound(s, f.to_lost_found));
  if (desc != nullptr) {
    for (const auto& [page, info] : f.descriptors) {
      batch.tx().SetDescriptor(page, info);
      PMEMFS_RETURN_IF_ERROR(batch.Maybe());
    }
    PMEMFS_RETURN_IF_ERROR(batch.Flush());
  }
  return Status::Ok();
}

}  // namespace

Status Repair(mapping::Device& dev, const Fixes& fixes, bool descriptors) {
  PMEMFS_ASSIGN_OR_RETURN(Opened o, OpenStore(dev));
  if (!fixes.bitmap_words.empty()) {
    const uint64_t base = o.store->superblock().bitmap_start * layout::kBlockSize;
    {  // the batch's last (empty) Tx must end before the store does
      Batch batch(*o.store);
      for (const auto& [w, v] : fixes.bitmap_words) {
        batch.tx().Put(base + w * sizeof(uint64_t), v);
        PMEMFS_RETURN_IF_ERROR(batch.Maybe());
      }
      PMEMFS_RETURN_IF_ERROR(batch.Flush());
    }
    // The allocator still holds the old bitmap: reload it before anything allocates.
    PMEMFS_RETURN_IF_ERROR(o.store->Close());
    o.store.reset();
    o.desc.reset();
    PMEMFS_ASSIGN_OR_RETURN(o, OpenStore(dev));
  }
  Status st = ApplyAll(*o.store, descriptors ? o.desc.get() : nullptr, fixes);
  Status closed = o.store->Close();
  return st.ok() ? closed : st;
}

}  // namespace pmemfs::fsck
