// Filesystem: mount/unmount, inode lifetime, attributes, statfs, and create-and-open (a new
// name from the Namespace, namespace.h, opened here; the data path: data_path.h).
#include "fs/core/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "fs/store/metadata_media.h"
#include "mapping/copy_cache.h"
#include "mapping/ram_access.h"

namespace pmemfs::core {

using layout::InodeRecord;

namespace {
int64_t FromTimespec(const timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; }

// A bitmap block that failed its checksum at mount may mark live blocks free: allocating from it
// could overwrite files, so nothing may be written until pmemfs-fsck rebuilt it.
Status CheckBitmapWritable(const store::Store& store) {
  const std::vector<uint64_t>& bad = store.bad_bitmap_blocks();
  if (bad.empty()) return Status::Ok();
  std::string which = std::to_string(bad[0]);
  for (size_t i = 1; i < bad.size() && i < 4; i++) which += ", " + std::to_string(bad[i]);
  if (bad.size() > 4) which += " and " + std::to_string(bad.size() - 4) + " more";
  return Status::Corrupt(
      std::string("allocation bitmap block") + (bad.size() > 1 ? "s " : " ") + which + " of " +
      std::to_string(layout::BitmapBlocks(store.superblock().store_blocks)) +
      (bad.size() > 1 ? " fail their checksums" : " fails its checksum") +
      " (used blocks may be marked free): mount read-only (-o ro) to read, or repair with "
      "pmemfs-fsck -y");
}

// The options a mount runs with: a read-only mount turns off whatever would write the device.
MountOptions EffectiveOptions(const MountOptions& given) {
  MountOptions opts = given;
  if (opts.read_only) {  // nothing below may write the device
    opts.descriptors = mapping::DescriptorPlacement::kDram;
    opts.ram_dir.clear();
    opts.atime = AtimePolicy::kNoatime;
    opts.writeback_ms = 0;
  }
  return opts;
}
}  // namespace

Result<std::unique_ptr<Filesystem>> Filesystem::Mount(std::unique_ptr<mapping::Device> dev,
                                                      const MountOptions& given) {
  // Recorded bad ranges in the store's fixed structures (fs/store/metadata_media.h): refused
  // where no mount can avoid reading them, read-only where a read-only mount can.
  MountOptions asked = given;
  std::string media;
  PMEMFS_RETURN_IF_ERROR(store::CheckSuperblockMedia(*dev));
  if (!dev->bad_blocks().empty()) {
    PMEMFS_ASSIGN_OR_RETURN(layout::Superblock sb, store::Store::Peek(*dev));
    const store::MetadataMedia m = store::CheckMetadataMedia(*dev, sb);
    if (m.refuse) return Status::IoError("metadata: " + m.damaged);
    if (!m.damaged.empty() && !asked.read_only) {
      asked.read_only = true;
      media = "mounted read-only: recorded bad ranges in metadata: " + m.damaged +
              " (pmemfs-tune -l lists them)";
    }
  }
  const MountOptions opts = EffectiveOptions(asked);
  std::unique_ptr<Filesystem> fs(new Filesystem());
  fs->MakeFlusher();
  fs->opts_ = opts;
  fs->read_only_ = opts.read_only;
  fs->atime_ = given.atime;
  fs->dev_ = std::move(dev);
  if (!media.empty()) fs->warnings_.push_back(media);
  PMEMFS_RETURN_IF_ERROR(fs->OpenLayers());
  PMEMFS_ASSIGN_OR_RETURN(InodePtr root, fs->cache_->Get(kRootIno));
  if (!root->is_dir()) return Status::Corrupt("the root inode is not a directory");
  fs->cache_->Pin(root);  // the kernel's reference to the root is never forgotten
  PMEMFS_RETURN_IF_ERROR(fs->MakeRamDir(*root));
  PMEMFS_RETURN_IF_ERROR(fs->FinishInterrupted());
  fs->flusher_->Start(std::chrono::milliseconds(opts.writeback_ms));
  return fs;
}

void Filesystem::MakeFlusher() {
  flusher_ = std::make_unique<Flusher>(Flusher::Hooks{
      .commit_record = [this](Inode& ip) { return CommitRecord(ip); },
      .write_back = [this] { return access_ ? access_->SyncAll() : Status::Ok(); },
      .released = [this](uint64_t ino) { cache_->MaybeEvict(ino); },
      // While a direct-access server serves (holders_ is set after leases_, never before).
      // Each round also evicts the inodes someone held when their last reference went.
      .fold =
          [this] {
            cache_->EvictDeferred();
            if (holders_.load() != nullptr) FoldAllLeases();
          },
      .gate = &gate_,
  });
}

Status Filesystem::OpenLayers() {
  PMEMFS_ASSIGN_OR_RETURN(layout::Superblock sb, store::Store::Peek(*dev_));
  PMEMFS_ASSIGN_OR_RETURN(access_,
                          mapping::OpenAccess(*dev_, {.mode = opts_.mode,
                                                      .cache_size = opts_.cache_size,
                                                      .descriptors = opts_.descriptors}));
  // Cloned pages are shared by several files; a strategy without page reference counts would
  // free them under the other files' feet.
  if ((sb.incompat & layout::kIncompatSharedPages) && access_->descriptors() == nullptr)
    return Status::Unsupported(
        "the filesystem has cloned (shared) pages, which only pages mode keeps track of: mount "
        "it with mode=pages");
  // Freed blocks stay unused while a reader or an unanswered lease holder pins them.
  pins_ = std::make_unique<mapping::PinUnion>(access_->pins(), &lease_pins_);
  PMEMFS_ASSIGN_OR_RETURN(
      store_, store::Store::Open(*dev_, access_->descriptors(), opts_.read_only, pins_.get()));
  if (!opts_.read_only) PMEMFS_RETURN_IF_ERROR(CheckBitmapWritable(*store_));
  if (access_->buffers_writes()) {  // a cache: what it holds of a freed block is stale
    mapping::Access* acc = access_.get();
    store_->SetFreeHook([acc](store::BlockRange r) {
      acc->Discard(store::Store::BlockOffset(r.start), store::Store::BlockOffset(r.count));
    });
  }
  // Volatile inode numbers start over at every mount: the mount count tells a handle of an
  // earlier mount's RAM file from this mount's (the kernel keeps the low 32 bits).
  cache_ = std::make_unique<InodeCache>(
      *store_, store_->superblock().mount_count,
      InodeCache::Hooks{
          .free_inode = [this](const InodePtr& ip) { return FreeInode(ip); },
          .drop_contents = [this](Inode& ip) { DropContents(ip); },
      });
  ram_ = mapping::RamPartition::Open(*dev_);
  ctx_.ram_access = mapping::OpenRamAccess(*dev_, *ram_);
  return SyncDescriptorTable();
}

Status Filesystem::MakeRamDir(Inode& root) {
  // The RAM directory exists only when the device has a RAM partition to hold its files, and
  // never over a persistent entry of the same name (made while mounted with another ram_dir):
  // that entry stays visible and this mount has no RAM directory.
  if (opts_.ram_dir.empty() || ram_->total_pages() == 0) return Status::Ok();
  PMEMFS_RETURN_IF_ERROR(CheckName(opts_.ram_dir));
  // (A root directory that cannot be read hides nothing; its error comes with its use.)
  if (cache_->LoadDir(root).ok() && root.dir->Find(opts_.ram_dir) != nullptr) {
    warnings_.push_back("ram_dir '" + opts_.ram_dir +
                        "': the root already has a persistent entry of that name; it stays "
                        "visible and this mount has no RAM directory (rename it, or mount "
                        "with another ram_dir=)");
    opts_.ram_dir.clear();
    return Status::Ok();
  }
  InodeRecord rec{};
  rec.mode = S_IFDIR | 01777;  // like /tmp: anyone may create, the sticky bit protects
  rec.nlink = 2;
  rec.parent = kRootIno;
  rec.atime_ns = rec.mtime_ns = rec.ctime_ns = rec.btime_ns = NowNs();
  rec.generation = cache_->volatile_generation();
  ram_dir_ = std::make_shared<Inode>(cache_->NewVolatileIno(), rec);
  ram_dir_->dir = Directory::Empty();
  ram_dir_->dir_loaded = true;
  cache_->Pin(ram_dir_);  // cached for the whole mount
  return Status::Ok();
}

Status Filesystem::FinishInterrupted() {
  // Truncates first, then unlinked inodes still allocated.
  for (uint64_t ino : store_->truncating()) {
    PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
    std::unique_lock lock(ip->mu);
    PMEMFS_RETURN_IF_ERROR(FinishTruncate(*ip));
  }
  for (uint64_t ino : store_->orphans()) {
    PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
    {
      std::unique_lock lock(ip->mu);
      PMEMFS_RETURN_IF_ERROR(FreeInode(ip));
    }
    cache_->Erase(ino);
  }
  return Status::Ok();
}

Filesystem::~Filesystem() { (void)Unmount(); }

Status Filesystem::Unmount() {
  {
    std::lock_guard l(remount_mu_);  // waits for a SetReadOnly under way; refuses later ones
    if (unmounted_) return Status::Ok();
    unmounted_ = true;
  }
  StopScrub();
  flusher_->Stop();
  // A device that shrank under the filesystem is left as it is: writing back or marking it
  // clean would claim what is lost. Its journal and dirty state tell the next mount and
  // pmemfs-fsck to check it.
  if (Status h = dev_->Health(); !h.ok())
    return Status::IoError(h.message() + "; the filesystem was not written back nor marked clean");
  Status st = flusher_->Flush();
  // Unlinked files still open or referenced at unmount are freed now (read-only after a
  // remount: the next read-write mount frees them).
  std::vector<InodePtr> left;
  if (!read_only() && cache_) left = cache_->Unlinked();
  for (auto& ip : left) {
    std::unique_lock lock(ip->mu);
    Status s = FreeInode(ip);
    if (st.ok()) st = s;
  }
  if (store_) {
    Status s = store_->Close();
    if (st.ok()) st = s;
  }
  return st;
}

const MountOptions& Filesystem::options() const { return opts_; }

AtimePolicy Filesystem::atime_policy() const { return ctx_.atime_policy(); }

void Filesystem::SetAtimePolicy(AtimePolicy atime) { atime_ = atime; }

Status Filesystem::SetReadOnly(bool read_only) {
  std::lock_guard l(remount_mu_);
  if (unmounted_) return Status::InvalidArgument("the filesystem is unmounted");
  if (read_only == read_only_) return Status::Ok();
  if (read_only) {
    read_only_ = true;  // from now on every change is refused; then what is pending goes down
    Status st = flusher_->Flush();
    if (Status s = st.ok() ? store_->SetReadOnly(true) : st; !s.ok()) {
      read_only_ = false;
      return s;
    }
    return Status::Ok();
  }
  if (dev_->read_only())
    return Status::ReadOnly("the device was opened read-only (a part cannot be written: an "
                            "immutable file or a read-only filesystem); remounting read-write "
                            "needs an unmount and a mount");
  PMEMFS_RETURN_IF_ERROR(CheckBitmapWritable(*store_));
  PMEMFS_RETURN_IF_ERROR(store_->SetReadOnly(false));
  // A mount that began read-only kept pages-mode descriptors in DRAM only: the device's table
  // is stale from the first change on.
  mapping::PageDescriptors* desc = access_->descriptors();
  if (desc && desc->placement() != mapping::DescriptorPlacement::kDevice)
    PMEMFS_RETURN_IF_ERROR(store_->SetFeatures(0, layout::kCompatDescriptorsCurrent, 0));
  read_only_ = false;
  return Status::Ok();
}
void Filesystem::SetInvalidator(Invalidator* inv) { inval_ = inv; }

// The page-descriptor table must match the extents before anything changes. A DRAM table
// starts empty at every mount: fill it. The device's table is current only while every mount
// kept it (layout::kCompatDescriptorsCurrent): a mount that does not (another mode, descriptors
// in DRAM) clears the bit first, and the next mount that keeps it rebuilds the table (a crash
// during the rebuild leaves the bit clear, so it runs again).
Status Filesystem::SyncDescriptorTable() {
  mapping::PageDescriptors* desc = access_->descriptors();
  const bool device_table =
      desc != nullptr && desc->placement() == mapping::DescriptorPlacement::kDevice;
  if (!device_table) {
    if (!opts_.read_only)
      PMEMFS_RETURN_IF_ERROR(store_->SetFeatures(0, layout::kCompatDescriptorsCurrent, 0));
    return desc != nullptr ? RebuildDescriptors() : Status::Ok();
  }
  if (store_->superblock().compat & layout::kCompatDescriptorsCurrent) return Status::Ok();
  std::vector<mapping::PageUpdate> clear;
  for (uint64_t page = 0; page < desc->page_count(); page++) {
    if (desc->Get(page) == mapping::PageInfo{} && desc->valid(page)) continue;  // torn: clear
    clear.push_back({page, {}});
    if (clear.size() == 4096) {
      PMEMFS_RETURN_IF_ERROR(desc->SetBatch(clear));
      clear.clear();
    }
  }
  if (!clear.empty()) PMEMFS_RETURN_IF_ERROR(desc->SetBatch(clear));
  PMEMFS_RETURN_IF_ERROR(RebuildDescriptors());
  return store_->SetFeatures(layout::kCompatDescriptorsCurrent, 0, 0);
}

// Fills an all-free descriptor table from every file's extent map (owner, file index, and a
// reference per file sharing a page).
Status Filesystem::RebuildDescriptors() {
  mapping::PageDescriptors* desc = access_->descriptors();
  const uint64_t count = store_->superblock().inode_count;
  for (uint64_t ino = 1; ino <= count; ino++) {
    // A read-only mount skips what recorded bad ranges make unreadable (fs/store/
    // metadata_media.h): those files fail with EIO anyway, and nothing is freed or shared.
    const bool skip_io = read_only();
    auto rec = store_->ReadInode(ino);
    if (!rec.ok()) {
      if (rec.status().code() == Code::kNotFound) continue;
      if (skip_io && rec.status().code() == Code::kIoError) continue;
      return rec.status();
    }
    if (rec->map_head == 0 || S_ISDIR(rec->mode)) continue;
    auto loaded = FileMap::Load(*store_, ino, *rec);
    if (!loaded.ok() && skip_io && loaded.status().code() == Code::kIoError) continue;
    PMEMFS_ASSIGN_OR_RETURN(auto map, std::move(loaded));
    for (uint64_t fb = map->NextData(0); fb != UINT64_MAX; fb = map->NextData(fb)) {
      const uint64_t hole = map->NextHole(fb);
      for (; fb < hole; fb++) {
        const uint64_t page = map->Lookup(fb);
        mapping::PageInfo info = desc->Get(page);
        if (info.refcount == 0) {
          info = {ino, fb, 1, layout::kPageAllocated};
        } else {
          info.refcount++;
          info.flags |= layout::kPageShared;
        }
        PMEMFS_RETURN_IF_ERROR(desc->Set(page, info));
      }
    }
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Inode cache

void Filesystem::Forget(uint64_t ino, uint64_t nlookup) { cache_->Forget(ino, nlookup); }

Result<Attr> Filesystem::Create(const Caller& c, uint64_t parent, std::string_view name,
                                uint32_t mode, int flags) {
  InodePtr child;
  auto r = names_.Create(c, parent, name, mode, &child);
  if (!r.ok()) {
    if (r.status().code() != Code::kAlreadyExists || (flags & O_EXCL)) return r.status();
    PMEMFS_ASSIGN_OR_RETURN(Attr a, Lookup(c, parent, name));  // raced with another creator
    if (S_ISDIR(a.mode)) {
      Forget(a.ino, 1);
      return Status::IsDirectory(std::string(name) + ": is a directory");
    }
    Status st = Open(c, a.ino, flags);
    if (!st.ok()) {
      Forget(a.ino, 1);
      return st;
    }
    return GetAttr(a.ino);
  }
  cache_->Opened(*child);
  return r;
}

void Filesystem::DropContents(Inode& ip) {
  if (ip.is_reg() && ip.rec.blocks != 0) (void)FinishTruncate(ip, /*to_zero=*/true);
  if (ip.rec.xattr_head != 0) (void)xattrs_.Drop(ip);
}

// ---------------------------------------------------------------------------------------------
// Shared helpers


Status Filesystem::FreeInode(const InodePtr& ip) {
  ip->times_pending = false;  // the record goes: no late commit of its times
  InodeRecord rec = ip->rec;
  if (!ip->is_dir() && !ip->is_symlink()) {
    PMEMFS_RETURN_IF_ERROR(FinishTruncate(*ip, /*to_zero=*/true));
    rec = ip->rec;
  }
  if (ip->is_volatile()) {
    if (ip->is_symlink() && ip->map) {  // long volatile symlinks keep their target in RAM pages
      PMEMFS_RETURN_IF_ERROR(Truncate(*ip, rec, 0));
    }
    ip->rec = rec;
    return Status::Ok();
  }
  if (ip->is_symlink() && rec.map_head != 0) {
    store::Tx tx = store_->Begin();
    PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(*ip));
    PMEMFS_RETURN_IF_ERROR(Truncate(*ip, rec, 0));
    PutInode(tx, *ip, rec);
    PMEMFS_RETURN_IF_ERROR(Commit(tx, {ip.get()}));
    ip->rec = rec;
  }
  // The chain itself (extent or dentry blocks), in batches that each fit one transaction: a
  // batch frees blocks from the head and moves map_head past them in the same commit, so a
  // crash in between leaves a shorter valid chain, and the inode (nlink 0) is finished at the
  // next mount. (A looping chain ends in a refused double free, not an endless loop.)
  const store::ChainKind kind = ip->is_dir() ? store::ChainKind::kDentries : store::ChainKind::kExtents;
  constexpr uint64_t kChainBatch = 512;
  while (rec.map_head != 0) {
    store::Tx btx = store_->Begin();
    uint64_t block = rec.map_head;
    for (uint64_t n = 0; block != 0 && n < kChainBatch; n++) {
      PMEMFS_ASSIGN_OR_RETURN(const std::byte* data, store_->ReadChainBlock(block, kind, ip->ino));
      layout::ChainHeader h;
      std::memcpy(&h, data, sizeof h);
      store_->FreeBlocks(btx, {block, 1});
      if (rec.blocks > 0) rec.blocks--;
      block = h.next;
    }
    rec.map_head = block;
    if (block == 0) rec.map_tail = 0;
    PutInode(btx, *ip, rec);
    PMEMFS_RETURN_IF_ERROR(Commit(btx, {ip.get()}));
    ip->rec = rec;
  }
  store::Tx tx = store_->Begin();
  PMEMFS_RETURN_IF_ERROR(xattrs_.Free(tx, *ip, rec));
  store_->FreeInode(tx, ip->ino);
  PMEMFS_RETURN_IF_ERROR(Commit(tx, {ip.get()}));
  rec.nlink = 0;
  rec.map_head = rec.map_tail = 0;
  ip->rec = rec;
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Attributes

Result<Attr> Filesystem::GetAttr(uint64_t ino) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
  std::shared_lock lock(ip->mu);
  Attr a = ToAttr(*ip);
  if (ino == kRootIno && HasRamDir()) a.nlink++;
  return a;
}

Result<Attr> Filesystem::SetAttr(const Caller& c, uint64_t ino, const SetAttrRequest& req) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
  std::unique_lock lock(ip->mu);
  PMEMFS_RETURN_IF_ERROR(CheckNotImmutable(*ip, "setattr"));
  if (ip->append_only()) {  // as ext4_setattr: no mode, owner, size or explicit times
    // (With the kernel's writeback cache an explicit mtime is its record of a write.)
    const uint32_t refused = kSetMode | kSetUid | kSetGid | kSetSize | kSetAtime |
                             (opts_.kernel_write_times ? 0u : uint32_t{kSetMtime});
    if (req.fields & refused)
      return Status::Permission("setattr: inode " + std::to_string(ino) + " is append-only");
  }
  // A new size changes what every lease of the file describes (direct access).
  if (req.fields & kSetSize) (void)QuiesceLeases(*ip, 0, UINT64_MAX, LeaseChange::kResize);
  // Direct access: what clients wrote before this setattr is in the record before it changes
  // (the size stays; the times it sets win over those writes' times: ForgetLeaseTimes below).
  (void)FoldLeasesLocked(*ip);
  const bool due_before = AtimeDueLocked(*ip);
  InodeRecord rec = ip->rec;
  const int64_t now = NowNs();
  store::Tx tx = store_->Begin();
  // The kernel (default_permissions) has checked who may do what; we apply it as Linux does.
  if (req.fields & kSetMode) {
    uint32_t mode = (rec.mode & S_IFMT) | (req.mode & 07777);
    // A non-root caller outside the file's group cannot keep setgid (chmod(2) rule).
    if (c.uid != 0 && c.gid != rec.gid && (mode & S_ISGID)) mode &= ~S_ISGID;
    rec.mode = mode;
  }
  if (req.fields & (kSetUid | kSetGid)) {
    if (req.fields & kSetUid) rec.uid = req.uid;
    if (req.fields & kSetGid) rec.gid = req.gid;
    // chown clears setuid, and setgid when group-executable (as the kernel does).
    if (!S_ISDIR(rec.mode)) {
      rec.mode &= ~S_ISUID;
      if (rec.mode & S_IXGRP) rec.mode &= ~S_ISGID;
    }
  }
  if (req.fields & kSetSize) {
    if (S_ISDIR(rec.mode)) return Status::IsDirectory("cannot truncate a directory");
    if (!S_ISREG(rec.mode)) return Status::InvalidArgument("cannot truncate a special file");
    PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(*ip));
    if (req.size != rec.size) PMEMFS_RETURN_IF_ERROR(Truncate(*ip, rec, req.size));
    rec.mtime_ns = now;
  }
  if (req.fields & kSetAtimeNow) rec.atime_ns = now;
  else if (req.fields & kSetAtime) rec.atime_ns = FromTimespec(req.atime);
  if (req.fields & kSetMtimeNow) rec.mtime_ns = now;
  else if (req.fields & kSetMtime) rec.mtime_ns = FromTimespec(req.mtime);
  rec.ctime_ns = (req.fields & kSetCtime) ? FromTimespec(req.ctime) : now;
  if (req.fields & kSetMode) PMEMFS_RETURN_IF_ERROR(xattrs_.SyncAclMode(tx, *ip, rec.mode));
  PutInode(tx, *ip, rec);
  PMEMFS_RETURN_IF_ERROR(Commit(tx, {ip.get()}));
  ip->rec = rec;
  ForgetLeaseTimes(*ip);
  Attr a = ToAttr(*ip);
  if (ino == kRootIno && HasRamDir()) a.nlink++;
  // An atime update became due (touch -m, an old atime set): pages the kernel cached would
  // serve the next read without us. An explicit atime always re-arms it.
  const bool drop = AtimeDueLocked(*ip) &&
                    (!due_before || (req.fields & (kSetAtime | kSetAtimeNow)));
  lock.unlock();
  if (drop) DropCachedData(ino);
  return a;
}

// A file given all free blocks maps them, in the worst case, as one-block extents, so
// ceil(n / kSlotsPerBlock) extent blocks come out of the same pool; a few more cover the
// directory block a new name may need. The reserve is sized for the whole data area, not for
// what is free now, so that it stays constant like ext4's reserved blocks: df's used +
// available does not move as files come and go, and avail + ceil(avail / kSlotsPerBlock) +
// slack <= free holds for every free <= data.
namespace {
uint64_t AvailableDataBlocks(uint64_t data, uint64_t free) {
  constexpr uint64_t kSlack = 8;
  constexpr uint64_t kPer = layout::kSlotsPerBlock;
  const uint64_t reserve = kSlack + (data + kPer) / (kPer + 1);
  return free > reserve ? free - reserve : 0;
}
}  // namespace

Result<FsStats> Filesystem::StatFs() {
  store::StoreStats s = store_->stats();
  FsStats f;
  f.block_size = layout::kBlockSize;
  const bool ram = ram_ && HasRamDir();  // RAM pages hold only the RAM directory's files
  f.blocks = s.data_blocks + (ram ? ram_->total_pages() : 0);
  f.free_blocks = s.free_blocks + (ram ? ram_->free_pages() : 0);
  f.avail_blocks = AvailableDataBlocks(s.data_blocks, s.free_blocks);
  f.files = s.inode_count;
  f.free_files = s.free_inodes;
  f.name_max = layout::kMaxNameLen;
  return f;
}

Status Filesystem::Access(const Caller& c, uint64_t ino, int mask) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
  std::shared_lock lock(ip->mu);
  if (read_only() && (mask & W_OK) &&
      (S_ISREG(ip->rec.mode) || S_ISDIR(ip->rec.mode) || S_ISLNK(ip->rec.mode)))
    return Status::ReadOnly("the filesystem is mounted read-only");
  if (mask == F_OK || c.uid == 0) {
    // root may do anything but execute a file no one may execute
    if (c.uid == 0 && (mask & X_OK) && !S_ISDIR(ip->rec.mode) && !(ip->rec.mode & 0111))
      return Status::AccessDenied("not executable");
    return Status::Ok();
  }
  uint32_t bits = ip->rec.mode;
  uint32_t have = c.uid == ip->rec.uid ? (bits >> 6) & 7 : c.gid == ip->rec.gid ? (bits >> 3) & 7 : bits & 7;
  if ((static_cast<uint32_t>(mask) & have) != static_cast<uint32_t>(mask))
    return Status::AccessDenied("permission denied");
  return Status::Ok();
}

}  // namespace pmemfs::core
