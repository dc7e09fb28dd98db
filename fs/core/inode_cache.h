// InodeCache: the DRAM inodes (inode.h) of one mounted filesystem, by number, with the kernel's
// lookup references and the open counts that keep them cached, and the lazy loads of their
// DRAM indexes (directory, extent map, extended attributes).
//
//   InodeCache cache(store, mount_count, hooks);
//   PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache.Get(ino));   // loads the record on a miss
//   cache.AddLookup(*ip);  ...  cache.Forget(ino, n);        // the kernel's references
//   cache.Opened(*ip);     ...  cache.Closed(*ip);           // open files
//   cache.MaybeEvict(ino);                                   // when nothing holds it any more
//   cache.EvictDeferred();                                   // after letting go of InodePtrs
//
// An inode leaves the cache when it has no lookup references, no opens and nobody else holds
// its InodePtr; an unlinked one is then freed through Hooks::free_inode (its blocks, chains,
// record). When its last reference goes while someone else holds it for a moment (a request
// in flight, the lease table, the flusher) it is deferred, and leaves at the next
// EvictDeferred once they let go: never left cached (an unlinked one never left allocated)
// until unmount. Volatile inodes (RAM partition files) exist only here: they stay while they have
// links. Pinned inodes (the root, the RAM directory) never leave.
//
// Locks: mu_ guards the map and every Inode's nlookup/open_count; it is taken after an inode's
// `mu` (never before it, except MaybeEvict's try-lock). load_mu_ serialises the lazy loads
// that run under a shared inode lock. Neither is held while calling the hooks. The members
// say so to the compiler (GUARDED_BY, EXCLUDES: include/pmemfs/thread_annotations.h); the
// Inode fields mu_ guards live in another class, which the analysis cannot name.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fs/core/inode.h"
#include "fs/store/store.h"
#include "pmemfs/status.h"
#include "pmemfs/thread_annotations.h"

namespace pmemfs::core {

using InodePtr = std::shared_ptr<Inode>;

class InodeCache {
 public:
  struct Hooks {
    // Frees an inode with no links, references or opens: its blocks, chains and record.
    // Called with ip.mu held exclusively.
    std::function<Status(const InodePtr& ip)> free_inode;
    // An unlinked, closed inode the kernel still references: its data and xattrs go now (the
    // record goes at the last Forget). Called with ip.mu held exclusively.
    std::function<void(Inode& ip)> drop_contents;
  };

  // `volatile_generation`: the generation of every volatile inode of this mount (the mount
  // count). `store` must outlive the cache.
  InodeCache(store::Store& store, uint64_t volatile_generation, Hooks hooks)
      : store_(store), volatile_generation_(volatile_generation), hooks_(std::move(hooks)) {}
  InodeCache(const InodeCache&) = delete;
  InodeCache& operator=(const InodeCache&) = delete;

  // The cached inode, loading its record from the store (NotFound for a free or volatile
  // number not cached).
  Result<InodePtr> Get(uint64_t ino) EXCLUDES(mu_);
  // Adds an inode made by NewInode once its transaction committed.
  void Insert(const InodePtr& ip) EXCLUDES(mu_);
  // Drops `ino` from the cache (an orphan freed at mount).
  void Erase(uint64_t ino) EXCLUDES(mu_);
  // Keeps `ip` cached for the whole mount, with one lookup reference (the root, whose kernel
  // reference is never forgotten, and the RAM directory).
  void Pin(const InodePtr& ip) EXCLUDES(mu_);

  // A new inode (persistent: its number reserved in `tx`; volatile when `dir` is) with record
  // `rec` written in `tx` and empty DRAM indexes. Not cached until Insert.
  Result<InodePtr> NewInode(store::Tx& tx, const Inode& dir, const layout::InodeRecord& rec);
  // A fresh volatile inode number, and the generation volatile inodes of this mount get.
  uint64_t NewVolatileIno() { return next_volatile_ino_++; }
  uint64_t volatile_generation() const { return volatile_generation_; }

  // --- references -------------------------------------------------------------------------
  // One more kernel lookup reference.
  void AddLookup(Inode& ip) EXCLUDES(mu_);
  // The kernel drops `n` lookup references of `ino`, then MaybeEvict.
  void Forget(uint64_t ino, uint64_t n) EXCLUDES(mu_);
  void Opened(Inode& ip) EXCLUDES(mu_);
  void OpenFailed(Inode& ip) EXCLUDES(mu_) { (void)Closed(ip); }
  // One open fewer; returns whether it was the last.
  bool Closed(Inode& ip) EXCLUDES(mu_);
  // The open files of `ip` the kernel has told us of (opens not yet released).
  uint64_t OpenCount(const Inode& ip) EXCLUDES(mu_);
  // Direct access: that count into ip's lease slot (direct::Slot::kernel_opens), for a slot
  // just handed out; Opened and Closed keep it current. Under mu_, so never older than the count.
  void PublishOpens(Inode& ip) EXCLUDES(mu_);
  // Drops the inode from the cache when nothing holds it, freeing it first when unlinked; an
  // unlinked inode that is closed but still referenced by the kernel loses its data at once
  // (Hooks::drop_contents), its record at the last Forget. Caller holds no locks. An inode with
  // no references that someone else holds (or whose lock is busy) is deferred.
  void MaybeEvict(uint64_t ino) EXCLUDES(mu_);
  // MaybeEvict of every deferred inode (those still held stay deferred). Forget, the data
  // path's Release, the lease code once it let go of an inode and the flusher's rounds call it.
  // Caller holds no locks. Cheap when none is deferred (one atomic load).
  void EvictDeferred() EXCLUDES(mu_);

  // Cached persistent inodes without links (Unmount frees them).
  std::vector<InodePtr> Unlinked() EXCLUDES(mu_);
  // The numbers of the cached inodes for which `pred` holds; `pred` runs under mu_.
  std::vector<uint64_t> Select(const std::function<bool(const Inode&)>& pred) EXCLUDES(mu_);

  // --- lazy DRAM indexes ------------------------------------------------------------------
  // Load ip.dir / ip.map / ip.xattrs if not loaded. Caller holds ip.mu (either mode).
  Status LoadDir(Inode& ip) EXCLUDES(load_mu_);
  Status LoadMap(Inode& ip) EXCLUDES(load_mu_);
  Status LoadXattrs(Inode& ip) EXCLUDES(load_mu_);

 private:
  // Adds `ino` to deferred_.
  void Defer(uint64_t ino) REQUIRES(mu_);

  store::Store& store_;
  const uint64_t volatile_generation_;
  const Hooks hooks_;
  Mutex mu_;  // guards inodes_, pinned_ and every cached Inode's nlookup/open_count
  std::unordered_map<uint64_t, InodePtr> inodes_ GUARDED_BY(mu_);
  std::unordered_set<uint64_t> pinned_ GUARDED_BY(mu_);
  std::unordered_set<uint64_t> deferred_ GUARDED_BY(mu_);  // MaybeEvict's, to try again
  std::atomic<bool> any_deferred_{false};                  // !deferred_.empty(), read unlocked
  Mutex load_mu_;  // serialises lazy loads of DRAM indexes under shared inode locks
  std::atomic<uint64_t> next_volatile_ino_{kVolatileInoBase};
};

}  // namespace pmemfs::core
