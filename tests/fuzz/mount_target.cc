// See mount_target.h.
#include "mount_target.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <span>

#include "fs/core/fs.h"
#include "fs/store/store.h"
#include "mapping/device_set.h"
#include "pmemfs/crc32c.h"
#include "pmemfs/layout.h"

namespace pmemfs::fuzz {

namespace {

using layout::kBlockSize;

// The part's data: the store area, then the descriptor area covering every page of the data.
constexpr uint64_t kPartData = kStoreBytes + (32 << 10);
static_assert(kPartData - layout::DescriptorAreaSize(kPartData / layout::kPageSize) == kStoreBytes);
constexpr uint64_t kStoreBlocks = kStoreBytes / kBlockSize;
constexpr size_t kSuperBytes = sizeof(layout::Superblock);

template <typename T>
T Load(const std::vector<uint8_t>& img, uint64_t off) {
  T v{};
  if (off <= img.size() && sizeof v <= img.size() - off) std::memcpy(&v, img.data() + off, sizeof v);
  return v;
}
template <typename T>
void Store(std::vector<uint8_t>& img, uint64_t off, const T& v) {
  if (off <= img.size() && sizeof v <= img.size() - off) std::memcpy(img.data() + off, &v, sizeof v);
}
bool AllZero(const uint8_t* p, size_t n) {
  return std::all_of(p, p + n, [](uint8_t b) { return b == 0; });
}

// The layout the reseal follows: the primary superblock's when it is within the image, else
// mkpmemfs's defaults for this store size are not known, so only block 0 and the backup.
struct Geometry {
  uint64_t journal = 1, inodes = 0, inode_count = 0, data_start = 0;
};

void ResealSlots(std::vector<uint8_t>& img, uint64_t off, const layout::ChainHeader& h) {
  uint8_t* body = img.data() + off + sizeof(layout::ChainHeader);
  if (std::memcmp(h.magic, layout::kDirBlockMagic, 8) == 0) {
    for (uint32_t s = 0; s < layout::kSlotsPerBlock;) {
      layout::DentryHead d;
      std::memcpy(&d, body + s * layout::kSlotSize, sizeof d);
      if (d.ino == 0 || d.slots == 0 || s + d.slots > layout::kSlotsPerBlock ||
          d.name_len > (d.slots * layout::kSlotSize) - offsetof(layout::DentryHead, name)) {
        s++;
        continue;
      }
      d.checksum = 0;
      uint32_t crc = Crc32c(&d, sizeof d);
      if (d.name_len > sizeof d.name)
        crc = Crc32c(body + s * layout::kSlotSize + sizeof d, d.name_len - sizeof d.name, crc);
      d.checksum = crc;
      std::memcpy(body + s * layout::kSlotSize, &d, sizeof d);
      s += d.slots;
    }
  } else if (std::memcmp(h.magic, layout::kExtentBlockMagic, 8) == 0) {
    for (uint32_t s = 0; s < layout::kSlotsPerBlock; s++) {
      layout::ExtentRecord r;
      std::memcpy(&r, body + s * layout::kSlotSize, sizeof r);
      if (r.length == 0) continue;
      r.checksum = StructChecksum(r);
      std::memcpy(body + s * layout::kSlotSize, &r, sizeof r);
    }
  } else if (std::memcmp(h.magic, layout::kXattrBlockMagic, 8) == 0) {
    layout::XattrHead x;
    std::memcpy(&x, body, sizeof x);
    const size_t n = size_t{x.name_len} + x.value_len;
    if (sizeof x + n > kBlockSize - sizeof(layout::ChainHeader)) return;
    x.checksum = 0;
    x.checksum = Crc32c(body + sizeof x, n, Crc32c(&x, sizeof x));
    std::memcpy(body, &x, sizeof x);
  }
}

}  // namespace

Result<FuzzDevice> MakeDevice() {
  FuzzDevice d;
  d.sim = std::make_unique<mapping::SimPmem>(1);
  d.part = d.sim->NewPart(
      layout::PartHeaderSize(layout::kPageSize) + kPartData + layout::kPartTrailerSize,
      layout::kPageSize, "fuzz");
  PMEMFS_ASSIGN_OR_RETURN(d.dev, mapping::CreateDevice({d.part}, {},
                                                        {.path = mapping::AccessPath::kLinear}));
  if (d.dev->info().store().length != kStoreBytes)
    return Status::InvalidArgument("fuzz device: store area of " +
                            std::to_string(d.dev->info().store().length) + " bytes, expected " +
                            std::to_string(kStoreBytes));
  return d;
}

void Reseal(std::vector<uint8_t>& img, uint8_t flags) {
  img.resize(kStoreBytes);
  Geometry g;
  for (uint64_t block : {uint64_t{0}, kStoreBlocks - 1}) {
    auto sb = Load<layout::Superblock>(img, block * kBlockSize);
    if (std::memcmp(sb.magic, layout::kSuperMagic, 8) != 0) continue;
    if (flags & kResealSuperblocks) {
      sb.checksum = StructChecksum(sb);
      Store(img, block * kBlockSize, sb);
    }
    if (block == 0 || g.inodes == 0) {
      g.journal = sb.journal_start;
      g.inodes = sb.inode_start;
      g.inode_count = sb.inode_count;
      g.data_start = sb.data_start;
    }
  }
  if ((flags & kResealJournal) && g.journal < kStoreBlocks) {
    const uint64_t at = g.journal * kBlockSize;
    auto h = Load<layout::JournalHeader>(img, at);
    const uint64_t stream = at + kBlockSize;
    if (stream <= img.size() && h.record_bytes <= img.size() - stream)
      h.records_crc = Crc32c(img.data() + stream, h.record_bytes);
    h.checksum = StructChecksum(h);
    Store(img, at, h);
  }
  if ((flags & kResealInodes) && g.inodes > 0) {
    for (uint64_t i = 0; i < g.inode_count; i++) {
      const uint64_t off = g.inodes * kBlockSize + i * sizeof(layout::InodeRecord);
      if (off >= img.size() || img.size() - off < sizeof(layout::InodeRecord)) break;
      if (AllZero(img.data() + off, sizeof(layout::InodeRecord))) continue;
      auto r = Load<layout::InodeRecord>(img, off);
      r.checksum = StructChecksum(r);
      Store(img, off, r);
    }
  }
  if (flags & (kResealChains | kResealSlots)) {
    for (uint64_t b = std::max<uint64_t>(g.data_start, 1); b + 1 < kStoreBlocks; b++) {
      auto h = Load<layout::ChainHeader>(img, b * kBlockSize);
      if (std::memcmp(h.magic, layout::kExtentBlockMagic, 8) != 0 &&
          std::memcmp(h.magic, layout::kDirBlockMagic, 8) != 0 &&
          std::memcmp(h.magic, layout::kXattrBlockMagic, 8) != 0)
        continue;
      if (flags & kResealChains) {
        h.checksum = StructChecksum(h);
        Store(img, b * kBlockSize, h);
      }
      if (flags & kResealSlots) ResealSlots(img, b * kBlockSize, h);
    }
  }
}

namespace {

// The walk after a successful mount: everything a first `ls -lR` and `cat` would touch, with
// bounds on entries and depth (a corrupted directory may be large or cyclic).
void Walk(core::Filesystem& fs, uint64_t dir, int depth) {
  const core::Caller root{0, 0, 022};
  std::vector<uint64_t> kids;
  (void)fs.ReadDir(dir, 0, [&](const core::DirEntry& e) {
    if (e.name != "." && e.name != "..") kids.push_back(e.ino);
    return kids.size() < 64;
  });
  for (uint64_t ino : kids) {
    auto a = fs.GetAttr(ino);
    if (!a.ok()) continue;
    if (S_ISREG(a->mode)) {
      mapping::ReadRef ref;
      if (fs.Read(ino, 0, 3 * kBlockSize, &ref).ok()) (void)ref.ToBytes();
      (void)fs.Lseek(ino, 0, SEEK_HOLE);
    } else if (S_ISLNK(a->mode)) {
      (void)fs.ReadLink(ino);
    } else if (S_ISDIR(a->mode) && depth < 2) {
      (void)fs.Lookup(root, ino, "..");
      Walk(fs, ino, depth + 1);
    }
    auto names = fs.ListXattr(ino);
    if (names.ok())
      for (const std::string& n : *names) (void)fs.GetXattr(ino, n);
  }
}

}  // namespace

namespace {

// Loads the input into the device (as new) and mounts it.
Result<std::unique_ptr<core::Filesystem>> MountInput(const uint8_t* data, size_t size) {
  if (size < kHeaderBytes) return Status::InvalidArgument("input shorter than its header");
  static const mapping::Mode kModes[] = {mapping::Mode::kCopy, mapping::Mode::kDirect,
                                         mapping::Mode::kPages};
  const mapping::Mode mode = kModes[data[0] % 3];
  const uint8_t* body = data + kHeaderBytes;
  size_t len = size - kHeaderBytes;
  std::vector<uint8_t> img(kStoreBytes);
  if ((data[1] & kBackupTail) && len >= kSuperBytes) {
    len -= kSuperBytes;
    std::memcpy(img.data() + (kStoreBlocks - 1) * kBlockSize, body + len, kSuperBytes);
  }
  std::memcpy(img.data(), body, std::min<size_t>(len, (kStoreBlocks - 1) * kBlockSize));
  Reseal(img, data[1]);

  // One simulated part for every input, reset to its state right after CreateDevice (labels,
  // empty descriptor area, zero store area) and reassembled: much cheaper than a new part.
  // Plain stores put the image in: nothing here needs it to be persisted. The translated path:
  // every Device on the linear path leaves one PROT_NONE mapping behind when destroyed (libpmem2
  // VM reservation; reported), which ends a long run at vm.max_map_count.
  static const auto pristine = [] {
    auto d = MakeDevice();
    if (!d.ok()) __builtin_trap();  // the harness itself is broken: say so loudly
    d->dev.reset();
    std::vector<std::byte> bytes(d->part->base(), d->part->base() + d->part->size());
    return std::make_pair(std::move(*d), std::move(bytes));
  }();
  const FuzzDevice& fd = pristine.first;
  std::memcpy(fd.part->base(), pristine.second.data(), pristine.second.size());
  auto assembled = mapping::AssembleDevice({fd.part}, {.path = mapping::AccessPath::kTranslated});
  if (!assembled.ok()) __builtin_trap();
  std::unique_ptr<mapping::Device> owned = std::move(assembled).value();
  mapping::Device& dev = *owned;
  dev.Store(0, img.data(), img.size());
  (void)store::Store::Detect(dev);
  (void)store::Store::Peek(dev);
  return core::Filesystem::Mount(std::move(owned),
                                 {.mode = mode, .cache_size = 1 << 20, .writeback_ms = 0});
}

}  // namespace

int FuzzMount(const uint8_t* data, size_t size) {
  auto fs = MountInput(data, size);
  if (!fs.ok()) return 0;
  Walk(**fs, core::kRootIno, 0);
  (void)(*fs)->StatFs();
  (void)(*fs)->Unmount();
  return 0;
}

// --- seeds ----------------------------------------------------------------------------------

namespace {

// Formats the fuzz device, populates it in `mode` through fs/core, and returns the store area
// as it is after a clean unmount, or after a power failure that leaves an open unlinked file
// (`leave_orphan`) or a committed transaction not yet applied (`cut_in_commit`).
Result<std::vector<uint8_t>> Populate(mapping::Mode mode, bool leave_orphan, bool cut_in_commit) {
  PMEMFS_ASSIGN_OR_RETURN(FuzzDevice d, MakeDevice());
  PMEMFS_RETURN_IF_ERROR(store::Store::Format(
      *d.dev, {.label = "fuzz", .inode_count = 128, .journal_bytes = 16 << 10}));
  PMEMFS_ASSIGN_OR_RETURN(
      auto fs, core::Filesystem::Mount(std::move(d.dev),
                                       {.mode = mode, .cache_size = 1 << 20, .writeback_ms = 0}));
  const core::Caller c{0, 0, 022};
  auto bytes = [](const std::string& s) { return std::as_bytes(std::span(s)); };
  PMEMFS_ASSIGN_OR_RETURN(core::Attr dir, fs->MkDir(c, core::kRootIno, "dir", 0755));
  PMEMFS_ASSIGN_OR_RETURN(core::Attr sub, fs->MkDir(c, dir.ino, "a-subdirectory-name", 0700));
  (void)sub;
  PMEMFS_ASSIGN_OR_RETURN(core::Attr f, fs->Create(c, dir.ino, "file", 0644, O_RDWR));
  PMEMFS_RETURN_IF_ERROR(fs->Write(c, f.ino, 0, bytes(std::string(5000, 'f'))).status());
  PMEMFS_RETURN_IF_ERROR(fs->Write(c, f.ino, 5 * kBlockSize, bytes("after a hole")).status());
  PMEMFS_RETURN_IF_ERROR(fs->Release(f.ino));
  PMEMFS_RETURN_IF_ERROR(fs->Link(c, f.ino, core::kRootIno, "hardlink").status());
  PMEMFS_RETURN_IF_ERROR(
      fs->SetXattr(c, f.ino, "user.comment", bytes("a value"), 0));
  PMEMFS_RETURN_IF_ERROR(fs->SetXattr(c, dir.ino, "user.big", bytes(std::string(700, 'x')), 0));
  PMEMFS_RETURN_IF_ERROR(fs->Symlink(c, core::kRootIno, "short", "dir/file").status());
  PMEMFS_RETURN_IF_ERROR(fs->Symlink(c, dir.ino, "long", std::string(200, 'L')).status());
  PMEMFS_ASSIGN_OR_RETURN(core::Attr small, fs->Create(c, core::kRootIno, "small", 0600, O_RDWR));
  PMEMFS_RETURN_IF_ERROR(fs->Write(c, small.ino, 0, bytes("small file")).status());
  PMEMFS_RETURN_IF_ERROR(fs->Release(small.ino));
  PMEMFS_RETURN_IF_ERROR(fs->SyncFs());
  if (leave_orphan) {  // open, unlinked, then the power fails
    PMEMFS_ASSIGN_OR_RETURN(core::Attr o, fs->Create(c, core::kRootIno, "orphan", 0644, O_RDWR));
    PMEMFS_RETURN_IF_ERROR(fs->Write(c, o.ino, 0, bytes(std::string(3 * kBlockSize, 'o'))).status());
    PMEMFS_RETURN_IF_ERROR(fs->Fsync(o.ino, false));
    PMEMFS_RETURN_IF_ERROR(fs->Unlink(c, core::kRootIno, "orphan"));
  }
  if (cut_in_commit) {
    // Power fails after the commit point of the next transaction (its record stream drained,
    // then the committed header) and before it is applied: recovery must replay it.
    d.sim->StopAfter(d.sim->persist_points() + 2);
    PMEMFS_RETURN_IF_ERROR(fs->Rename(c, core::kRootIno, "small", dir.ino, "moved", 0));
  }
  if (leave_orphan || cut_in_commit) {
    if (!cut_in_commit) d.sim->StopAfter(d.sim->persist_points());
    fs.reset();  // its unmount writes go nowhere
    d.sim->Crash();
  } else {
    PMEMFS_RETURN_IF_ERROR(fs->Unmount());
    fs.reset();
  }
  PMEMFS_ASSIGN_OR_RETURN(auto dev, mapping::AssembleDevice({d.part}));
  std::vector<uint8_t> img(kStoreBytes);
  dev->Read(0, img.data(), img.size());
  if (cut_in_commit) {
    const auto sb = Load<layout::Superblock>(img, 0);
    const auto h = Load<layout::JournalHeader>(img, sb.journal_start * kBlockSize);
    if (h.state != static_cast<uint32_t>(layout::JournalState::kCommitted))
      return Status::InvalidArgument("the cut left no committed transaction in the journal");
  }
  return img;
}

}  // namespace

Result<std::vector<std::vector<uint8_t>>> SeedInputs(std::vector<std::string>* names) {
  std::vector<std::vector<uint8_t>> out;
  const char* mode_names[] = {"copy", "direct", "pages"};
  for (uint8_t m = 0; m < 3; m++) {
    const struct {
      const char* what;
      bool orphan, cut;
    } kinds[] = {{"clean", false, false}, {"orphan", true, false}, {"journal", false, true}};
    for (const auto& k : kinds) {
      auto img = Populate(static_cast<mapping::Mode>(m), k.orphan, k.cut);
      if (!img.ok())
        return Status(img.status().code(), std::string("seed image ") + mode_names[m] + "-" +
                                               k.what + ": " + img.status().message());
      // The image up to its last non-zero block, then the backup superblock.
      size_t used = (kStoreBlocks - 1) * kBlockSize;
      while (used > 0 && AllZero(img->data() + used - kBlockSize, kBlockSize)) used -= kBlockSize;
      for (uint8_t flags : {uint8_t{kBackupTail}, uint8_t{kBackupTail | kResealAll}}) {
        std::vector<uint8_t> in = {m, flags};
        in.insert(in.end(), img->begin(), img->begin() + used);
        in.insert(in.end(), img->end() - kBlockSize, img->end() - kBlockSize + kSuperBytes);
        // A seed must mount and show what was put there (after a replayed rename, too).
        auto fs = MountInput(in.data(), in.size());
        if (!fs.ok()) return Status(fs.status().code(), "seed does not mount: " + fs.status().message());
        const core::Caller c{0, 0, 022};
        auto dir = (*fs)->Lookup(c, core::kRootIno, "dir");
        if (!dir.ok() || !(*fs)->Lookup(c, dir->ino, k.cut ? "moved" : "file").ok() ||
            (*fs)->Lookup(c, core::kRootIno, "orphan").ok())
          return Status::Corrupt(std::string("seed ") + mode_names[m] + "-" + k.what +
                                 ": the mounted tree is not the populated one");
        PMEMFS_RETURN_IF_ERROR((*fs)->Unmount());
        out.push_back(std::move(in));
        if (names)
          names->push_back(std::string("seed-") + mode_names[m] + "-" + k.what +
                           (flags & kResealAll ? "-resealed" : ""));
      }
    }
  }
  return out;
}

}  // namespace pmemfs::fuzz
