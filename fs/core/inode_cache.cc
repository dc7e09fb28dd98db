// InodeCache: lookups, references, eviction and the lazy loads of DRAM indexes.
#include "fs/core/inode_cache.h"

#include <sys/stat.h>

#include <map>
#include <string>

#include "fs/core/invariant.h"
#include "fs/store/xattr_block.h"

namespace pmemfs::core {

using layout::InodeRecord;

Result<InodePtr> InodeCache::Get(uint64_t ino) {
  {
    MutexLock l(mu_);
    auto it = inodes_.find(ino);
    if (it != inodes_.end()) return it->second;
  }
  if (ino >= kVolatileInoBase || ino == 0)
    return Status::NotFound("inode " + std::to_string(ino) + " does not exist");
  PMEMFS_ASSIGN_OR_RETURN(InodeRecord rec, store_.ReadInode(ino));
  auto ip = std::make_shared<Inode>(ino, rec);
  MutexLock l(mu_);
  auto [it, fresh] = inodes_.emplace(ino, ip);
  return it->second;  // another thread's copy if it got there first
}

void InodeCache::Insert(const InodePtr& ip) {
  MutexLock l(mu_);
  inodes_[ip->ino] = ip;
}

void InodeCache::Erase(uint64_t ino) {
  MutexLock l(mu_);
  inodes_.erase(ino);
}

void InodeCache::Pin(const InodePtr& ip) {
  MutexLock l(mu_);
  inodes_[ip->ino] = ip;
  pinned_.insert(ip->ino);
  ip->nlookup = 1;
}

Result<InodePtr> InodeCache::NewInode(store::Tx& tx, const Inode& dir, const InodeRecord& rec_in) {
  InodeRecord rec = rec_in;
  uint64_t ino;
  if (dir.is_volatile()) {
    ino = next_volatile_ino_++;
    rec.generation = volatile_generation_;
  } else {
    uint64_t gen = 0;
    PMEMFS_ASSIGN_OR_RETURN(ino, store_.ReserveInode(tx, &gen));
    rec.generation = gen + 1;
  }
  auto ip = std::make_shared<Inode>(ino, rec);
  if (S_ISDIR(rec.mode)) {
    ip->dir = Directory::Empty();
    ip->dir_loaded = true;
  } else {
    ip->map = FileMap::Empty();
    ip->map_loaded = true;
  }
  ip->xattrs = std::make_unique<std::map<std::string, XattrEntry>>();
  ip->xattrs_loaded = true;
  if (!ip->is_volatile()) store_.WriteInode(tx, ino, rec);
  return ip;
}

// ---------------------------------------------------------------------------------------------
// References

void InodeCache::AddLookup(Inode& ip) {
  MutexLock l(mu_);
  ip.nlookup++;
}

void InodeCache::Forget(uint64_t ino, uint64_t n) {
  {
    MutexLock l(mu_);
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) return;
    Inode& ip = *it->second;
    if (n > ip.nlookup) {
      // The kernel forgets only what lookups gave it: a larger count means a reply that took
      // a reference did not count it (or one counted twice).
      InvariantFailed("Forget(" + std::to_string(ino) + ", " + std::to_string(n) +
                      "): the inode has only " + std::to_string(ip.nlookup) +
                      " lookup references");
    }
    ip.nlookup = n > ip.nlookup ? 0 : ip.nlookup - n;
  }
  MaybeEvict(ino);
  EvictDeferred();
}

namespace {

void StoreOpens(Inode& ip) {
  if (direct::Slot* s = ip.lease_slot.load(std::memory_order_acquire))
    s->kernel_opens.store(ip.open_count, std::memory_order_release);
}

}  // namespace

void InodeCache::Opened(Inode& ip) {
  MutexLock l(mu_);
  ip.open_count++;
  StoreOpens(ip);
}

bool InodeCache::Closed(Inode& ip) {
  MutexLock l(mu_);
  if (ip.open_count > 0) ip.open_count--;
  StoreOpens(ip);
  return ip.open_count == 0;
}

void InodeCache::PublishOpens(Inode& ip) {
  MutexLock l(mu_);
  StoreOpens(ip);
}

uint64_t InodeCache::OpenCount(const Inode& ip) {
  MutexLock l(mu_);
  return ip.open_count;
}

void InodeCache::MaybeEvict(uint64_t ino) {
  InodePtr ip;
  bool evict;
  {
    MutexLock l(mu_);
    deferred_.erase(ino);
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) return;
    // (A later Release or Forget tries again.)
    if (it->second->open_count != 0 || pinned_.count(ino) != 0) return;
    // Nobody else holds the inode when the cache's and our copies are the only ones: a new
    // copy can only be made under mu_. Someone who does holds it for a moment (a request in
    // flight, the flusher) or for as long as a lease: EvictDeferred tries again after.
    evict = it->second->nlookup == 0 && it->second.use_count() == 1;
    if (it->second->nlookup == 0 && !evict) Defer(ino);
    if (evict && it->second->is_volatile()) {
      // A volatile inode lives only in this cache: it stays while it has links. (Its lock is
      // taken before mu_ elsewhere, so only try it here; when it is busy, try again later.)
      std::shared_lock vl(it->second->mu, std::try_to_lock);
      if (!vl.owns_lock()) Defer(ino);
      if (!vl.owns_lock() || it->second->rec.nlink != 0) return;
    }
    if (evict) {
      ip = std::move(it->second);
      inodes_.erase(it);
    } else {
      ip = it->second;
    }
  }
  std::unique_lock lock(ip->mu);
  if (ip->rec.nlink != 0) return;
  if (evict) {
    (void)hooks_.free_inode(ip);
  } else {
    // Unlinked and closed, but the kernel still holds a reference (its FORGET arrives
    // asynchronously, after rm returned): the data and the xattrs go now, as on ext4, so the
    // space is free when unlink returns; the record (and inode number) goes at the FORGET. A
    // crash in between leaves an orphan that the next mount frees.
    hooks_.drop_contents(*ip);
  }
}

void InodeCache::Defer(uint64_t ino) {
  deferred_.insert(ino);
  any_deferred_.store(true, std::memory_order_release);
}

void InodeCache::EvictDeferred() {
  if (!any_deferred_.load(std::memory_order_acquire)) return;
  std::vector<uint64_t> inos;
  {
    MutexLock l(mu_);
    inos.assign(deferred_.begin(), deferred_.end());
    deferred_.clear();
    any_deferred_.store(false, std::memory_order_release);
  }
  for (uint64_t ino : inos) MaybeEvict(ino);  // (defers again those still held)
}

std::vector<InodePtr> InodeCache::Unlinked() {
  std::vector<InodePtr> out;
  MutexLock l(mu_);
  for (auto& [ino, ip] : inodes_)
    if (!ip->is_volatile() && ip->rec.nlink == 0) out.push_back(ip);
  return out;
}

std::vector<uint64_t> InodeCache::Select(const std::function<bool(const Inode&)>& pred) {
  std::vector<uint64_t> out;
  MutexLock l(mu_);
  for (const auto& [ino, ip] : inodes_)
    if (pred(*ip)) out.push_back(ino);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Lazy DRAM indexes

Status InodeCache::LoadDir(Inode& ip) {
  if (ip.dir_loaded.load(std::memory_order_acquire)) return Status::Ok();
  MutexLock l(load_mu_);
  if (!ip.dir) {
    if (ip.is_volatile() || ip.rec.map_head == 0) {
      ip.dir = Directory::Empty();
    } else {
      PMEMFS_ASSIGN_OR_RETURN(ip.dir, Directory::Load(store_, ip.ino, ip.rec));
    }
  }
  ip.dir_loaded.store(true, std::memory_order_release);
  return Status::Ok();
}

Status InodeCache::LoadMap(Inode& ip) {
  if (ip.map_loaded.load(std::memory_order_acquire)) return Status::Ok();
  MutexLock l(load_mu_);
  if (!ip.map) {
    if (ip.is_volatile() || ip.rec.map_head == 0) {
      ip.map = FileMap::Empty();
    } else {
      PMEMFS_ASSIGN_OR_RETURN(ip.map, FileMap::Load(store_, ip.ino, ip.rec));
    }
  }
  ip.map_loaded.store(true, std::memory_order_release);
  return Status::Ok();
}

Status InodeCache::LoadXattrs(Inode& ip) {
  if (ip.xattrs_loaded.load(std::memory_order_acquire)) return Status::Ok();
  MutexLock l(load_mu_);
  if (!ip.xattrs) {
    auto map = std::make_unique<std::map<std::string, XattrEntry>>();
    if (!ip.is_volatile() && ip.rec.xattr_head != 0) {
      const layout::Superblock& sb = store_.superblock();
      // What the store wrote is trusted to have the feature bit (fsck checks it).
      const store::XattrBounds bounds{sb.data_start, sb.backup_block, true,
                                            store::MovedBitmapArea(sb)};
      PMEMFS_RETURN_IF_ERROR(store_.ForEachChainBlock(
          ip.rec.xattr_head, store::ChainKind::kXattrs, ip.ino,
          [&](uint64_t block, const std::byte* data) -> Status {
            Result<store::XattrBlock> x = store::DecodeXattrBlock(data, block, bounds);
            if (!x.ok())
              return Status::Corrupt("inode " + std::to_string(ip.ino) + ": " +
                                     x.status().message());
            XattrEntry e{std::move(x->value), block, std::move(x->out)};
            if (!map->emplace(std::move(x->name), std::move(e)).second)
              return Status::Corrupt("xattr block " + std::to_string(block) + " of inode " +
                                     std::to_string(ip.ino) + ": duplicate name");
            return Status::Ok();
          }));
    }
    ip.xattrs = std::move(map);
  }
  ip.xattrs_loaded.store(true, std::memory_order_release);
  return Status::Ok();
}

}  // namespace pmemfs::core
