// leases.cc: direct access in fs/core (leases.h): the lease table, the shared slots, grants,
// releases, folding what clients report into the inode, and revocation (QuiesceLeases), which
// the data path calls before it changes what a lease describes.
#include "fs/core/leases.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fs/core/fs.h"

namespace pmemfs::core {

using layout::InodeRecord;

namespace {

constexpr uint64_t kBlock = layout::kBlockSize;
// A lease covers an aligned window of this many bytes (or more, for a larger request).
constexpr uint64_t kLeaseWindow = 64ull << 20;
// Allocation ahead of the end of a file: the first grant past the end allocates this much more
// than asked, each next one twice as much, up to kAheadMax.
constexpr uint64_t kAheadMin = 1ull << 20;
constexpr uint64_t kAheadMax = 64ull << 20;
constexpr uint64_t kMaxFileSize = INT64_MAX;

uint64_t RoundUp(uint64_t v, uint64_t unit) { return (v + unit - 1) / unit * unit; }
uint64_t RoundDown(uint64_t v, uint64_t unit) { return v / unit * unit; }
bool Overlaps(uint64_t a_lo, uint64_t a_hi, uint64_t b_lo, uint64_t b_hi) {
  return a_lo < b_hi && b_lo < a_hi;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// LeaseSlots

Result<std::unique_ptr<LeaseSlots>> LeaseSlots::Create(uint32_t count) {
  std::unique_ptr<LeaseSlots> s(new LeaseSlots());
  s->fd_ = memfd_create("pmemfs-direct-slots", MFD_CLOEXEC);
  if (s->fd_ < 0) return Status::IoError(std::string("memfd_create: ") + strerror(errno));
  const size_t bytes = size_t{count} * sizeof(direct::Slot);
  if (ftruncate(s->fd_, static_cast<off_t>(bytes)) != 0)
    return Status::IoError(std::string("slot table: ") + strerror(errno));
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd_, 0);
  if (p == MAP_FAILED) return Status::IoError(std::string("slot table mmap: ") + strerror(errno));
  s->slots_ = static_cast<direct::Slot*>(p);
  s->count_ = count;
  MutexLock l(s->mu_);  // nobody else has it yet: for the analysis
  for (uint32_t i = count; i-- > 1;) s->free_.push_back(i);
  return s;
}

LeaseSlots::~LeaseSlots() {
  if (slots_) munmap(slots_, size_t{count_} * sizeof(direct::Slot));
  if (fd_ >= 0) close(fd_);
}

Result<uint32_t> LeaseSlots::Allocate(uint64_t ino, uint64_t size) {
  MutexLock l(mu_);
  if (free_.empty())
    return Status::NoSpace("every one of the " + std::to_string(count_ - 1) +
                           " direct-access slots is in use");
  const uint32_t i = free_.back();
  free_.pop_back();
  direct::Slot& s = slots_[i];
  s.size.store(size, std::memory_order_relaxed);
  s.mtime_ns.store(direct::kNoWriteTime, std::memory_order_relaxed);  // (no write yet)
  s.append_end.store(0, std::memory_order_relaxed);  // (max with size: appends start at size)
  s.synced_size.store(direct::kNotSynced, std::memory_order_relaxed);  // until a commit says
  s.synced_mtime_ns.store(direct::kTimesNotSynced, std::memory_order_relaxed);
  s.kernel_opens.store(0, std::memory_order_relaxed);  // (InodeCache::PublishOpens)
  s.ino.store(ino, std::memory_order_release);
  return i;
}

void LeaseSlots::Free(uint32_t i) {
  if (i == 0 || i >= count_) return;
  slots_[i].ino.store(0, std::memory_order_release);
  MutexLock l(mu_);
  free_.push_back(i);
}

// ---------------------------------------------------------------------------------------------
// LeaseTable

ClientId LeaseTable::NewClient() {
  MutexLock l(mu_);
  return next_client_++;
}

uint64_t LeaseTable::rev() const {
  MutexLock l(mu_);
  return rev_;
}

uint64_t LeaseTable::NextRev() {
  MutexLock l(mu_);
  return ++rev_;
}

LeaseTable::PerInode* LeaseTable::Find(uint64_t ino) {
  MutexLock l(mu_);
  auto it = inodes_.find(ino);
  return it == inodes_.end() ? nullptr : &it->second;
}

LeaseTable::PerInode& LeaseTable::Get(uint64_t ino, std::shared_ptr<Inode> inode) {
  MutexLock l(mu_);
  PerInode& p = inodes_[ino];
  if (!p.inode) p.inode = std::move(inode);
  return p;
}

uint32_t LeaseTable::Erase(uint64_t ino) {
  MutexLock l(mu_);
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return 0;
  const uint32_t slot = it->second.slot;
  inodes_.erase(it);
  return slot;
}

void LeaseTable::Add(uint64_t ino, Lease lease) {
  MutexLock l(mu_);
  PerInode& p = inodes_[ino];
  const ClientId c = lease.client;
  auto& count = clients_[c][ino];
  const size_t before = p.leases.size();
  std::erase_if(p.leases, [&](const Lease& x) {
    return x.client == c && Overlaps(x.lo, x.hi, lease.lo, lease.hi);
  });
  count -= static_cast<uint32_t>(before - p.leases.size());
  p.leases.push_back(std::move(lease));
  count++;
}

std::vector<LeaseTable::Lease> LeaseTable::Remove(uint64_t ino, ClientId client, uint64_t lo,
                                                  uint64_t hi) {
  MutexLock l(mu_);
  std::vector<Lease> out;
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return out;
  auto& leases = it->second.leases;
  for (auto l2 = leases.begin(); l2 != leases.end();) {
    if ((client == 0 || l2->client == client) && Overlaps(l2->lo, l2->hi, lo, hi)) {
      auto c = clients_.find(l2->client);
      if (c != clients_.end()) {
        auto n = c->second.find(ino);
        if (n != c->second.end() && --n->second == 0) c->second.erase(n);
        if (c->second.empty()) clients_.erase(c);
      }
      out.push_back(std::move(*l2));
      l2 = leases.erase(l2);
    } else {
      ++l2;
    }
  }
  return out;
}

std::map<ClientId, std::vector<const LeaseTable::Lease*>> LeaseTable::Overlapping(uint64_t ino,
                                                                               uint64_t lo,
                                                                               uint64_t hi) {
  MutexLock l(mu_);
  std::map<ClientId, std::vector<const Lease*>> out;
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return out;
  for (const Lease& x : it->second.leases)
    if (Overlaps(x.lo, x.hi, lo, hi)) out[x.client].push_back(&x);
  return out;
}

bool LeaseTable::HasWriteLease(uint64_t ino) {
  MutexLock l(mu_);
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return false;
  return std::any_of(it->second.leases.begin(), it->second.leases.end(),
                     [](const Lease& x) { return x.write; });
}

std::vector<uint64_t> LeaseTable::InodesOf(ClientId client) {
  MutexLock l(mu_);
  std::vector<uint64_t> out;
  auto it = clients_.find(client);
  if (it != clients_.end())
    for (const auto& [ino, n] : it->second) out.push_back(ino);
  return out;
}

void LeaseTable::Unanswered(ClientId client, uint64_t rev, uint64_t ino,
                            const std::vector<Lease>& leases, uint32_t slot) {
  Pending p{client, rev, ino, 0, {}, slot};
  for (const Lease& l : leases) {
    if (l.write) p.wrote_hi = std::max(p.wrote_hi, l.hi);
    for (const auto& [first, last] : l.blocks) {
      pins_.Pin(first, last);
      p.pinned.emplace_back(first, last);
    }
  }
  MutexLock l(mu_);
  pending_.push_back(std::move(p));
}

std::vector<std::pair<uint64_t, uint64_t>> LeaseTable::UnansweredWrites(ClientId client) const {
  MutexLock l(mu_);
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const Pending& p : pending_)
    if (p.client == client && p.wrote_hi != 0) out.emplace_back(p.ino, p.wrote_hi);
  return out;
}

void LeaseTable::Answered(ClientId client, uint64_t rev) {
  std::vector<Pending> done;
  {
    MutexLock l(mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->client == client && (rev == 0 || it->rev <= rev)) {
        done.push_back(std::move(*it));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    // A slot its inode let go of meanwhile (RetireSlot) goes back to the pool with the last of
    // these answers. (Decided under mu_, as RetireSlot does: freed exactly once.)
    std::vector<uint32_t> slots;
    for (const Pending& p : done)
      if (p.slot != 0 && std::find(slots.begin(), slots.end(), p.slot) == slots.end())
        slots.push_back(p.slot);
    for (uint32_t s : slots)
      if (slots_->at(s).ino.load(std::memory_order_acquire) == 0 &&
          std::none_of(pending_.begin(), pending_.end(),
                       [&](const Pending& q) { return q.slot == s; }))
        slots_->Free(s);
  }
  for (const Pending& p : done)
    for (const auto& [first, last] : p.pinned) pins_.Unpin(first, last);
}

void LeaseTable::RetireSlot(uint32_t slot) {
  if (slot == 0) return;
  MutexLock l(mu_);
  slots_->at(slot).ino.store(0, std::memory_order_release);
  for (const Pending& p : pending_)
    if (p.slot == slot) return;  // the last of those answers frees it (Answered)
  slots_->Free(slot);
}

size_t LeaseTable::pending() const {
  MutexLock l(mu_);
  return pending_.size();
}

std::vector<ClientId> LeaseTable::PendingClients() const {
  MutexLock l(mu_);
  std::vector<ClientId> out;
  for (const Pending& p : pending_)
    if (std::find(out.begin(), out.end(), p.client) == out.end()) out.push_back(p.client);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Filesystem: enabling, clients

Status Filesystem::EnableLeases(LeaseHolders* holders, uint32_t slots) {
  if (holders == nullptr) {  // the server is going: leases stay, callbacks do not
    holders_ = nullptr;
    return Status::Ok();
  }
  if (leases_) return Status::InvalidArgument("direct access is on already");
  PMEMFS_ASSIGN_OR_RETURN(std::unique_ptr<LeaseSlots> s, LeaseSlots::Create(slots));
  leases_ = std::make_unique<LeaseTable>(std::move(s), &lease_pins_);
  holders_ = holders;
  return Status::Ok();
}

int Filesystem::lease_slots_fd() const { return leases_ ? leases_->slots().fd() : -1; }
uint32_t Filesystem::lease_slot_count() const { return leases_ ? leases_->slots().count() : 0; }

ClientId Filesystem::NewLeaseClient() { return leases_ ? leases_->NewClient() : 0; }

// ---------------------------------------------------------------------------------------------
// Folding what clients report

bool Filesystem::FoldLeasesLocked(Inode& ip, InodeRecord* working) {
  direct::Slot* s = ip.lease_slot.load(std::memory_order_acquire);
  if (s == nullptr) return false;
  const uint64_t size = std::min({s->size.load(std::memory_order_acquire),
                                  ip.lease_size_cap.load(std::memory_order_relaxed),
                                  kMaxFileSize});
  const int64_t now = NowNs();
  const int64_t mtime = std::min(s->mtime_ns.load(std::memory_order_relaxed), now);
  bool changed = false;
  if (size > ip.rec.size) {
    ip.rec.size = size;
    changed = true;
  }
  if (DirectWriteMoves(mtime, ip.rec.mtime_ns, now)) {
    ip.rec.mtime_ns = mtime;
    changed = true;
  }
  if (DirectWriteMoves(mtime, ip.rec.ctime_ns, now)) {
    ip.rec.ctime_ns = mtime;
    changed = true;
  }
  // What the next durable commit of the record covers (Inode::PublishSynced): a slot's size
  // and mtime up to these (a size past the cap is never covered).
  ip.lease_folded_size = ip.rec.size;
  ip.NoteFoldedMtime(now);
  if (working != nullptr) {
    working->size = std::max(working->size, ip.rec.size);
    if (DirectWriteMoves(mtime, working->mtime_ns, now)) working->mtime_ns = mtime;
    if (DirectWriteMoves(mtime, working->ctime_ns, now)) working->ctime_ns = mtime;
  }
  if (!changed) return false;
  // Committed with the next commit of the record: the flusher's (writeback_ms), fsync, the
  // last close, unmount.
  if (LeaseTable::PerInode* p = leases_->Find(ip.ino); p != nullptr && p->inode)
    flusher_->Defer(p->inode);
  else
    ip.MarkTimesPending();  // (committed with the record's next commit)
  return true;
}

void Filesystem::ForgetLeaseTimes(Inode& ip) {
  direct::Slot* s = ip.lease_slot.load(std::memory_order_acquire);
  if (s == nullptr) return;
  // Clients learn first that the record's mtime is not what they published (so that one
  // publishing right after the reset below asks at fsync), then lose what they published.
  s->synced_mtime_ns.store(direct::kTimesNotSynced, std::memory_order_release);
  s->mtime_ns.store(direct::kNoWriteTime, std::memory_order_release);
  ip.NoteFoldedMtime(NowNs());
}

void Filesystem::FoldLeases(const InodePtr& ip) {
  if (ip->lease_slot.load(std::memory_order_acquire) == nullptr) return;
  std::unique_lock lock(ip->mu);
  (void)FoldLeasesLocked(*ip);
}

void Filesystem::FoldAllLeases() {
  if (!leases_) return;
  for (uint64_t ino : LeasedInodes()) {
    Result<InodePtr> ip = cache_->Get(ino);
    if (ip.ok()) FoldLeases(*ip);
  }
}

// ---------------------------------------------------------------------------------------------
// Revocation

bool Filesystem::QuiesceLeases(Inode& ip, uint64_t lo, uint64_t hi, LeaseChange why,
                               InodeRecord* working, ClientId spare) {
  if (ip.lease_slot.load(std::memory_order_acquire) == nullptr) return true;
  (void)FoldLeasesLocked(ip, working);
  bool all = why == LeaseChange::kResize;
  if (why == LeaseChange::kWrite) {
    // An overwrite of mapped blocks of their own in place changes nothing a lease describes.
    if (hi > ip.rec.size) {
      all = true;
    } else {
      bool moves = false;
      if (ip.map) {
        const uint64_t fb0 = lo / kBlock, fb1 = (hi + kBlock - 1) / kBlock;
        mapping::PageDescriptors* d = access_->descriptors();
        ip.map->ForEach(fb0, fb1 - fb0, [&](uint64_t, uint64_t dev, uint64_t n) {
          if (dev == 0) moves = true;
          for (uint64_t i = 0; d != nullptr && !moves && i < n; i++)
            moves = d->Get(dev + i).refcount > 1;
        });
      }
      if (!moves) return true;
    }
  }
  if (all) {
    lo = 0;
    hi = UINT64_MAX;
  }
  std::map<ClientId, std::vector<const LeaseTable::Lease*>> holders =
      leases_->Overlapping(ip.ino, lo, hi);
  if (spare != 0) holders.erase(spare);
  bool all_answered = true;
  if (!holders.empty()) {
    std::vector<Revocation> revs;
    for (const auto& [client, leases] : holders)
      revs.push_back({.client = client, .ino = ip.ino, .lo = lo, .hi = hi,
                      .rev = leases_->NextRev()});
    std::vector<bool> answered(revs.size(), true);
    LeaseHolders* h = holders_.load();
    if (h != nullptr) h->Revoke(revs, &answered);
    // What they wrote before they stopped.
    (void)FoldLeasesLocked(ip, working);
    LeaseTable::PerInode* p = leases_->Find(ip.ino);
    for (size_t i = 0; i < revs.size(); i++) {
      std::vector<LeaseTable::Lease> gone = leases_->Remove(ip.ino, revs[i].client, lo, hi);
      if (!answered[i]) {
        all_answered = false;
        // A late writer must not find the slot reused by another file meanwhile.
        leases_->Unanswered(revs[i].client, revs[i].rev, ip.ino, gone, p ? p->slot : 0);
        if (h != nullptr && h->AnsweredUpTo(revs[i].client) >= revs[i].rev)
          leases_->Answered(revs[i].client, revs[i].rev);  // just now
      }
    }
  }
  LeaseTable::PerInode* p = leases_->Find(ip.ino);
  if (p == nullptr || p->leases.empty()) RetireLeases(ip);
  return all_answered;
}

void Filesystem::RetireLeases(Inode& ip) {
  ip.lease_slot.store(nullptr, std::memory_order_release);
  ip.lease_size_cap.store(0, std::memory_order_relaxed);
  if ((ip.rec.flags & layout::kInodeTruncating) && ip.rec.pending_size == kAheadMark) {
    // No lease lets anyone store past the end any more: the mark goes with the record's next
    // commit (EndLeases commits at once; until then a crash only makes mount trim the blocks
    // past the end, which is harmless).
    ip.rec.flags &= ~layout::kInodeTruncating;
    ip.rec.pending_size = 0;
    if (LeaseTable::PerInode* p = leases_->Find(ip.ino); p != nullptr && p->inode)
      flusher_->Defer(p->inode);
    else
      ip.MarkTimesPending();
  }
  leases_->RetireSlot(leases_->Erase(ip.ino));
}

// ---------------------------------------------------------------------------------------------
// Grants

Result<LeaseGrant> Filesystem::GrantLease(ClientId c, const LeaseRequest& r) {
  if (!leases_) return Status::Unsupported("direct access is off");
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(r.ino));
  std::unique_lock lock(ip->mu);
  Result<LeaseGrant> g = GrantLocked(c, r, ip);
  // A grant that failed part way leaves no empty entry behind (it would keep the inode cached).
  if (!g.ok()) {
    LeaseTable::PerInode* p = leases_->Find(r.ino);
    if (p != nullptr && p->leases.empty()) RetireLeases(*ip);
  }
  return g;
}

Status Filesystem::CheckGrant(const LeaseRequest& r, const Inode& ip) {
  // Whether clients may reach the bytes in place: the mount's strategy first (copy mode: no
  // file; leases stay on, as pmemfs-tune may switch a mount to and from it), then the file's
  // (the RAM partition's files: none).
  PMEMFS_RETURN_IF_ERROR(access_->CheckClientAccess());
  if (!ip.is_reg())
    return Status::InvalidArgument("inode " + std::to_string(r.ino) + " is not a regular file");
  PMEMFS_RETURN_IF_ERROR(ctx_.AccessFor(ip).CheckClientAccess());
  if (r.write) {
    if (read_only()) return Status::ReadOnly("the filesystem is mounted read-only");
    PMEMFS_RETURN_IF_ERROR(CheckChangeable(ip, "direct write"));
  }
  if (r.off > kMaxFileSize || r.len > kMaxFileSize - r.off)
    return Status::TooBig("lease past the largest file size");
  return Status::Ok();
}

Result<uint64_t> Filesystem::PrepareWriteLease(ClientId c, const LeaseRequest& r,
                                               const InodePtr& ip, bool* spared, LeaseGrant* g) {
  *spared = false;
  // setuid/setgid go when someone else than root may write (the kernel's file_remove_privs).
  if (r.uid != 0 && (ip->rec.mode & (S_ISUID | S_ISGID))) {
    InodeRecord rec = ip->rec;
    rec.mode &= ~S_ISUID;
    if (rec.mode & S_IXGRP) rec.mode &= ~S_ISGID;
    if (rec.mode != ip->rec.mode) {
      store::Tx tx = store_->Begin();
      PutInode(tx, *ip, rec);
      PMEMFS_RETURN_IF_ERROR(Commit(tx, {ip.get()}));
      ip->rec = rec;
    }
  }
  const uint64_t end = r.off + r.len;
  const uint64_t alloc_lo = RoundDown(r.off, kBlock);
  if (const uint64_t old = ip->rec.size;
      end > old && old % kBlock != 0 && old < leases_->Get(r.ino, ip).tail_zeroed_from &&
      RoundDown(old, kBlock) < alloc_lo) {
    // The old last block's tail is zeroed below, outside the range called back there: a write
    // lease on that block (of another window, the requester's too) may be storing bytes past
    // the size that its write then publishes. Its holders stop first (their writes in flight
    // publish), and the zeroing starts past what they published.
    (void)QuiesceLeases(*ip, RoundDown(old, kBlock), RoundUp(old, kBlock), LeaseChange::kRange);
  }
  const uint64_t size = ip->rec.size;  // (folded by the callback)
  uint64_t alloc_hi = RoundUp(std::max(end, alloc_lo + 1), kBlock);
  uint64_t ahead = 0;
  if (end > size) {
    ahead = std::clamp<uint64_t>(leases_->Get(r.ino, ip).next_ahead, kAheadMin, kAheadMax);
    alloc_hi = std::min(RoundUp(alloc_hi + ahead, kBlock), RoundDown(kMaxFileSize, kBlock));
  }
  // Anything to allocate (holes), or to copy away from a clone (blocks that move)?
  bool holes = false, moves = false;
  // The span of the holes below the end (file blocks): the kernel caches no page past it.
  const uint64_t below = RoundUp(size, kBlock) / kBlock;
  uint64_t holes_lo = UINT64_MAX, holes_hi = 0;
  mapping::PageDescriptors* d = access_->descriptors();
  ip->map->ForEach(alloc_lo / kBlock, (alloc_hi - alloc_lo) / kBlock,
                   [&](uint64_t fb, uint64_t dev, uint64_t n) {
                     if (dev == 0) holes = true;
                     if (dev == 0 && fb < below) {
                       holes_lo = std::min(holes_lo, fb);
                       holes_hi = std::max(holes_hi, std::min(fb + n, below));
                     }
                     for (uint64_t i = 0; d != nullptr && dev != 0 && !moves && i < n; i++)
                       moves = d->Get(dev + i).refcount > 1;
                   });
  // The old last block's tail, zeroed before clients may write past the end (unless a grant
  // did since blocks are allocated ahead: clients' bytes may be there now).
  const bool tail = end > size && size % kBlock != 0 &&
                    size < leases_->Get(r.ino, ip).tail_zeroed_from;
  if (!holes && !moves && !tail) return alloc_hi;
  // Everyone's view of these blocks changes. The requester's changes only where blocks move or
  // the tail is zeroed (it may be writing there): for a hole it gets the new blocks in this
  // grant, which replaces its leases of the range (its other mapped blocks stay as they are).
  *spared = !moves && !tail;
  (void)QuiesceLeases(*ip, alloc_lo, alloc_hi, LeaseChange::kRange, nullptr, *spared ? c : 0);
  Status st = AllocateForLease(*ip, alloc_lo, alloc_hi, tail);
  if (st.code() == Code::kNoSpace && ahead != 0) {
    alloc_hi = RoundUp(end, kBlock);  // no room ahead: what was asked for only
    ahead = 0;
    st = AllocateForLease(*ip, alloc_lo, alloc_hi, tail);
  }
  PMEMFS_RETURN_IF_ERROR(st);
  if (holes_hi > holes_lo && holes_lo * kBlock < alloc_hi) {  // (a shorter allocation: no room)
    g->filled_lo = holes_lo * kBlock;
    g->filled_hi = std::min(holes_hi * kBlock, alloc_hi);
  }
  // (Quiesce may have retired the inode's entry when no lease was left.)
  LeaseTable::PerInode& again = leases_->Get(r.ino, ip);
  if (end > size) again.tail_zeroed_from = std::min(again.tail_zeroed_from, size);
  if (ahead != 0) {
    again.next_ahead = std::min(kAheadMax, ahead * 2);
    const uint64_t from = std::max(RoundUp(size, kBlock), alloc_lo) / kBlock;
    if (again.ahead_hi == 0) again.ahead_lo = from;
    again.ahead_lo = std::min(again.ahead_lo, from);
    again.ahead_hi = std::max(again.ahead_hi, alloc_hi / kBlock);
  }
  return alloc_hi;
}

uint64_t Filesystem::CollectLeaseExtents(const Inode& ip, uint64_t lo, uint64_t hi,
                                         LeaseGrant* g, LeaseTable::Lease* lease) {
  mapping::PageDescriptors* d = access_->descriptors();
  g->extents.clear();
  lease->blocks.clear();
  uint64_t covered = hi;
  bool full = false;
  ip.map->ForEach(lo / kBlock, (hi - lo) / kBlock, [&](uint64_t fb, uint64_t dev, uint64_t n) {
    if (full || dev == 0) return;
    for (uint64_t i = 0; i < n;) {
      const bool shared = d != nullptr && d->Get(dev + i).refcount > 1;
      uint64_t j = i + 1;
      while (j < n && (d != nullptr && d->Get(dev + j).refcount > 1) == shared) j++;
      if (g->extents.size() == direct::kMaxExtents) {
        full = true;
        covered = (fb + i) * kBlock;
        return;
      }
      g->extents.push_back({fb + i, dev + i, j - i, shared});
      lease->blocks.emplace_back(dev + i, dev + j - 1);
      i = j;
    }
  });
  return covered;
}

Result<LeaseGrant> Filesystem::GrantLocked(ClientId c, const LeaseRequest& r, const InodePtr& ip) {
  PMEMFS_RETURN_IF_ERROR(CheckGrant(r, *ip));
  PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(*ip));
  (void)FoldLeasesLocked(*ip);

  const uint64_t end = r.off + r.len;
  uint64_t lo = RoundDown(r.off, kLeaseWindow);
  uint64_t hi = std::max(lo + kLeaseWindow, RoundUp(end, kBlock));
  (void)leases_->Get(r.ino, ip);
  const bool had_write = leases_->HasWriteLease(r.ino);
  uint64_t prepared = 0;
  bool spared = false;
  LeaseGrant g;
  if (r.write) {
    PMEMFS_ASSIGN_OR_RETURN(prepared, PrepareWriteLease(c, r, ip, &spared, &g));
    hi = std::max(hi, prepared);
  }

  LeaseTable::PerInode& p = leases_->Get(r.ino, ip);
  if (p.slot == 0) {
    PMEMFS_ASSIGN_OR_RETURN(p.slot, leases_->slots().Allocate(r.ino, ip->rec.size));
    ip->lease_folded_size = ip->rec.size;
    ip->NoteFoldedMtime(NowNs());
    ip->lease_slot.store(&leases_->slots().at(p.slot), std::memory_order_release);
    cache_->PublishOpens(*ip);
    // Durable already unless times are pending: the first fsync needs no round trip then.
    if (!ip->times_pending && !ip->is_volatile()) ip->PublishSynced();
  }

  g.rev = leases_->rev();
  g.slot = p.slot;
  g.write = r.write;
  g.first_write = r.write && !had_write;
  g.size = ip->rec.size;
  LeaseTable::Lease lease{.client = c, .lo = lo, .hi = hi, .write = r.write, .blocks = {}};
  // A window too fragmented for one reply ends where its extents do, and starts at the request
  // when it would not reach that far.
  uint64_t covered = CollectLeaseExtents(*ip, lo, hi, &g, &lease);
  if (covered <= r.off) {
    lo = RoundDown(r.off, kBlock);
    covered = CollectLeaseExtents(*ip, lo, hi, &g, &lease);
  }
  hi = covered;
  g.lo = lease.lo = lo;
  g.hi = lease.hi = hi;
  if (r.write)
    ip->lease_size_cap.store(std::max(ip->lease_size_cap.load(std::memory_order_relaxed), hi),
                             std::memory_order_relaxed);
  leases_->Add(r.ino, std::move(lease));
  if (spared && hi < prepared) {
    // The reply ends short of what was allocated (too fragmented): a lease of the requester's
    // there, which this one does not replace, would still show the filled holes as holes.
    (void)QuiesceLeases(*ip, hi, prepared, LeaseChange::kRange);
    g.rev = leases_->rev();  // (it called back none of this grant)
  }
  return g;
}

// ---------------------------------------------------------------------------------------------
// Release, fsync, a client gone

Status Filesystem::EndLeases(Inode& ip, ClientId c, bool died) {
  (void)FoldLeasesLocked(ip);
  uint64_t wrote_hi = 0;  // where c's write leases end: it may have stored up to there
  for (const LeaseTable::Lease& l : leases_->Remove(ip.ino, c, 0, UINT64_MAX))
    if (l.write) wrote_hi = std::max(wrote_hi, l.hi);
  Status st;
  if (died && wrote_hi > ip.rec.size) st = ForgetDeadWrites(ip, wrote_hi);
  LeaseTable::PerInode* p = leases_->Find(ip.ino);
  if (p != nullptr && !leases_->HasWriteLease(ip.ino) && p->ahead_hi != 0) {
    // The blocks allocated ahead that no write reached go back.
    const uint64_t from = std::max(p->ahead_lo, RoundUp(ip.rec.size, kBlock) / kBlock);
    const uint64_t to = p->ahead_hi;
    p->ahead_lo = p->ahead_hi = 0;
    p->next_ahead = 0;
    p->tail_zeroed_from = UINT64_MAX;
    if (to > from) {
      (void)QuiesceLeases(ip, from * kBlock, to * kBlock, LeaseChange::kRange);
      Status trim = TrimForLease(ip, from, to - from);
      if (st.ok()) st = trim;
    }
  }
  p = leases_->Find(ip.ino);
  if (p == nullptr || p->leases.empty()) RetireLeases(ip);
  Status c2 = flusher_->CommitTimes(ip);
  return st.ok() ? c2 : st;
}

Status Filesystem::ForgetDeadWrites(Inode& ip, uint64_t hi) {
  // (Taken first: a callback that ends the last lease retires the inode's entry.)
  uint64_t ahead_lo = 0, ahead_hi = 0;
  if (const LeaseTable::PerInode* p = leases_->Find(ip.ino); p != nullptr) {
    ahead_lo = p->ahead_lo;
    ahead_hi = p->ahead_hi;
  }
  // Another client may be writing there (an append in flight past the size): it stops first,
  // and what it publishes meanwhile stays (folded by the callback). Its bytes and the dead
  // one's are then told apart only by the size: a write of the other's that leaves a gap over
  // the dead one's bytes and publishes before this callback shows them, as if the dead write
  // had returned first.
  (void)QuiesceLeases(ip, RoundDown(ip.rec.size, kBlock), hi, LeaseChange::kRange);
  if (hi <= ip.rec.size) return Status::Ok();
  PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(ip));
  return ForgetPastSize(ip, hi, ahead_lo, ahead_hi);
}

Status Filesystem::ReleaseLeases(ClientId c, uint64_t ino) {
  if (!leases_) return Status::Ok();
  Status st;
  {
    PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
    std::unique_lock lock(ip->mu);
    st = EndLeases(*ip, c);
  }
  // The lease table held the inode: if the kernel let go of it meanwhile, it leaves now.
  cache_->MaybeEvict(ino);
  cache_->EvictDeferred();
  return st;
}

Status Filesystem::FsyncLeases(ClientId, uint64_t ino, uint64_t* opens) {
  if (opens != nullptr) *opens = UINT64_MAX;
  if (!leases_) return Status::Ok();
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
  // Counted before the commit: an open gone by now was released after the kernel wrote its
  // dirty pages to us (a shared mapping's are written back when it is unmapped, and the release
  // waits for those writes), so what it wrote is in the record we commit below.
  if (opens != nullptr && ctx_.AccessFor(*ip).CheckClientAccess().ok())
    *opens = cache_->OpenCount(*ip);
  std::unique_lock lock(ip->mu);
  (void)FoldLeasesLocked(*ip);
  return flusher_->CommitTimes(*ip);
}

void Filesystem::DropLeaseClient(ClientId c) {
  if (!leases_) return;
  const std::vector<uint64_t> inos = leases_->InodesOf(c);
  for (uint64_t ino : inos) {
    Result<InodePtr> ip = cache_->Get(ino);
    if (!ip.ok()) continue;
    std::unique_lock lock((*ip)->mu);
    (void)EndLeases(**ip, c, /*died=*/true);
  }
  // Write leases a revocation it never answered took away: it may have stored under them too.
  std::vector<uint64_t> more;
  for (const auto& [ino, hi] : leases_->UnansweredWrites(c)) {
    Result<InodePtr> ip = cache_->Get(ino);
    if (!ip.ok()) continue;
    more.push_back(ino);
    std::unique_lock lock((*ip)->mu);
    if (!(*ip)->is_reg() || (*ip)->is_volatile()) continue;  // (the number was reused)
    (void)FoldLeasesLocked(**ip);
    if (hi > (*ip)->rec.size) (void)ForgetDeadWrites(**ip, hi);
  }
  leases_->Answered(c, 0);
  // The lease table held them: those the kernel let go of meanwhile leave now.
  for (uint64_t ino : inos) cache_->MaybeEvict(ino);
  for (uint64_t ino : more) cache_->MaybeEvict(ino);
  cache_->EvictDeferred();
}

void Filesystem::LeaseAnswered(ClientId c, uint64_t rev) {
  if (leases_) leases_->Answered(c, rev);
}

std::vector<uint64_t> Filesystem::LeasedInodes() {
  if (!leases_) return {};
  return cache_->Select(
      [](const Inode& ip) { return ip.lease_slot.load(std::memory_order_relaxed) != nullptr; });
}

void Filesystem::RevokeAllLeases() {
  for (uint64_t ino : LeasedInodes()) {
    Result<InodePtr> ip = cache_->Get(ino);
    if (!ip.ok()) continue;
    std::unique_lock lock((*ip)->mu);
    (void)QuiesceLeases(**ip, 0, UINT64_MAX, LeaseChange::kResize);
    (void)flusher_->CommitTimes(**ip);
  }
}

bool Filesystem::HasWriteLease(uint64_t ino) { return leases_ && leases_->HasWriteLease(ino); }

size_t Filesystem::pending_revocations() const { return leases_ ? leases_->pending() : 0; }

}  // namespace pmemfs::core
