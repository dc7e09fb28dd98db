// Direct access, core side: leases on file ranges for processes that load and store file data
// in the device themselves (client/, through fs/fuse/direct_server.h), and their revocation.
//
//   fs->EnableLeases(&holders);                       // the server that can call clients back
//   c = fs->NewLeaseClient();                         // one per connected process
//   g = fs->GrantLease(c, {.ino, .off, .len, .write}); // extents + the shared slot
//   ... the client reads and writes the device through g.extents ...
//   fs->FsyncLeases(c, ino); fs->ReleaseLeases(c, ino); fs->DropLeaseClient(c);
//
// A lease is a window [lo, hi) of a file and the device blocks that held its mapped blocks when
// it was granted. A write lease also has every block of the range it was asked for allocated
// (zeroed first, so a crash shows zeros, never old bytes) and, when it reaches past the end of
// the file, blocks allocated ahead of the end so that appends need no round trip; a client
// publishes a new size in the inode's shared slot (direct_protocol.h) after the bytes below it
// are persisted.
//
// Revocation: before the data path frees, moves or shares blocks of a leased range, fills a hole
// in it, or changes the size of a leased file, it calls QuiesceLeases (under the inode's lock),
// which asks every holder of an overlapping lease to stop using it (LeaseHolders::Revoke, with a
// bounded wait); a write grant that only fills holes spares its requester, whose mapped blocks
// stay as they were and whose leases of the range the grant replaces. The blocks of a lease
// whose holder did not answer in time stay pinned (the allocator does not reuse them) until it
// answers or its connection closes. Nothing of this is persistent: after a crash there are no
// leases.
//
// A client that dies loses its leases, and its writes that never returned: what it stored past
// the size (under its leases, or under those a revocation it never answered took) is zeroed or
// freed at once (the other holders of that range called back first), so no later extension
// shows it; after a crash, mount frees every block past the size (kAheadMark).
//
// Locks: an inode's leases change under its mu (exclusively); LeaseTable::mu_ guards the maps
// and is taken after inode locks, never held while calling LeaseHolders.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "mapping/pin_table.h"
#include "pmemfs/direct_protocol.h"
#include "pmemfs/status.h"
#include "pmemfs/thread_annotations.h"

namespace pmemfs::core {

struct Inode;

using ClientId = uint64_t;

// How an operation changes a leased file (Filesystem::QuiesceLeases):
//   kWrite   a write of [lo, hi) through the kernel: nothing for an overwrite of blocks the file
//            owns, a hole fill or copy-on-write revokes the range, past the end everything;
//   kResize  the size changes (or blocks past it go): every lease of the file;
//   kRange   blocks of [lo, hi) are allocated, freed, moved or shared.
enum class LeaseChange { kWrite, kResize, kRange };

struct LeaseExtent {
  uint64_t file_block = 0;
  uint64_t dev_block = 0;
  uint64_t count = 0;
  bool shared = false;  // pages mode: shared with a clone, not writable in place
};

struct LeaseRequest {
  uint64_t ino = 0;
  uint64_t off = 0;
  uint64_t len = 0;
  bool write = false;
  uint32_t uid = 0;  // the caller's: a write lease to anyone but root clears setuid/setgid
};

struct LeaseGrant {
  uint64_t rev = 0;  // the revocation count when granted (direct::GrantReply::rev)
  uint32_t slot = 0;
  uint64_t lo = 0;   // file bytes [lo, hi), block aligned
  uint64_t hi = 0;
  uint64_t size = 0;
  bool write = false;
  // The inode had no write lease before this one: whatever the kernel cached of its attributes
  // must go now (from then on they are replied uncached, Attr::leased).
  bool first_write = false;
  // File bytes [filled_lo, filled_hi) were holes this grant allocated: what the kernel cached of
  // them (zeros, in the kernel's parts of clients' mappings too) must go before the requester
  // writes there (fs/fuse/direct_server.cc drops it before the reply).
  uint64_t filled_lo = 0;
  uint64_t filled_hi = 0;
  std::vector<LeaseExtent> extents;  // the mapped runs of [lo, hi), in order
};

// One revocation: the leases of `client` on `ino` overlapping file bytes [lo, hi).
struct Revocation {
  ClientId client = 0;
  uint64_t ino = 0;
  uint64_t lo = 0;
  uint64_t hi = 0;
  uint64_t rev = 0;
};

// The other side of a revocation (fs/fuse/direct_server.h implements it).
class LeaseHolders {
 public:
  virtual ~LeaseHolders() = default;
  // Sends every revocation, then waits a bounded time for the answers: (*answered)[i] says
  // whether revocations[i] was answered in time (a client whose connection is gone counts as
  // answered). Called with inode locks held: must not call into the Filesystem.
  virtual void Revoke(std::span<const Revocation> revocations, std::vector<bool>* answered) = 0;
  // The highest revocation `client` has answered (answers arrive in order), so that one that
  // comes just after Revoke gave up is not missed.
  virtual uint64_t AnsweredUpTo(ClientId client) = 0;
  // Who `client` is, for messages ("pid 1234 (fio)").
  virtual std::string Describe(ClientId client) { return "client " + std::to_string(client); }
};

// The shared slot table: a memfd of direct::Slot, mapped here and by every client. Slot 0 is
// never used (0 means "no slot"). Thread-safe.
class LeaseSlots {
 public:
  static Result<std::unique_ptr<LeaseSlots>> Create(uint32_t count);
  ~LeaseSlots();
  LeaseSlots(const LeaseSlots&) = delete;
  LeaseSlots& operator=(const LeaseSlots&) = delete;

  int fd() const { return fd_; }
  uint32_t count() const { return count_; }
  direct::Slot& at(uint32_t i) { return slots_[i]; }
  // A free slot for `ino`, starting at `size` (and no write time); NoSpace when all are taken.
  Result<uint32_t> Allocate(uint64_t ino, uint64_t size);
  // Back to the pool.
  void Free(uint32_t i);

 private:
  LeaseSlots() = default;
  int fd_ = -1;
  uint32_t count_ = 0;
  direct::Slot* slots_ = nullptr;
  Mutex mu_;
  std::vector<uint32_t> free_ GUARDED_BY(mu_);
};

// The lease table (DRAM). Internal to fs/core (leases.cc); tested on its own.
class LeaseTable {
 public:
  struct Lease {
    ClientId client = 0;
    uint64_t lo = 0;
    uint64_t hi = 0;
    bool write = false;
    std::vector<std::pair<uint64_t, uint64_t>> blocks;  // device block runs [first, last]
  };
  struct PerInode {
    std::shared_ptr<Inode> inode;  // keeps it cached while it has leases
    uint32_t slot = 0;
    std::vector<Lease> leases;
    // File blocks allocated ahead of the end by write grants (trimmed when the last write lease
    // goes), and how much the next grant past the end allocates.
    uint64_t ahead_lo = 0;
    uint64_t ahead_hi = 0;
    uint64_t next_ahead = 0;
    // While blocks are allocated ahead: a grant zeroed the bytes from here to the end of their
    // block (the last block's tail), and only clients have written past the end since (anything
    // else that does calls every lease back first, which ends this entry). A grant past an end
    // at or above it has no tail to zero, so it need not stop the requester's writes there.
    uint64_t tail_zeroed_from = UINT64_MAX;
  };

  // `pins` (which the allocator consults) must outlive the table.
  LeaseTable(std::unique_ptr<LeaseSlots> slots, mapping::PinTable* pins)
      : slots_(std::move(slots)), pins_(*pins) {}

  LeaseSlots& slots() { return *slots_; }
  ClientId NewClient();
  uint64_t rev() const;
  uint64_t NextRev();

  // Caller holds the inode's mu exclusively for everything about that inode below.
  PerInode* Find(uint64_t ino);
  PerInode& Get(uint64_t ino, std::shared_ptr<Inode> inode);
  // Removes `ino`'s entry (which must have no leases); returns its slot.
  uint32_t Erase(uint64_t ino);
  // Adds `lease`, replacing that client's leases it overlaps.
  void Add(uint64_t ino, Lease lease);
  // Removes the leases of `client` on `ino` overlapping [lo, hi) (every client's when client is
  // 0) and returns them.
  std::vector<Lease> Remove(uint64_t ino, ClientId client, uint64_t lo, uint64_t hi);
  // The leases on `ino` overlapping [lo, hi) grouped by client.
  std::map<ClientId, std::vector<const Lease*>> Overlapping(uint64_t ino, uint64_t lo,
                                                            uint64_t hi);
  bool HasWriteLease(uint64_t ino);
  // The inodes `client` holds leases on.
  std::vector<uint64_t> InodesOf(ClientId client);

  // A revocation `rev` of `client` on `ino` that was not answered in time: `leases` stay pinned
  // and `slot` (non-zero: the inode's slot, retired) is kept out of the pool until Answered.
  void Unanswered(ClientId client, uint64_t rev, uint64_t ino, const std::vector<Lease>& leases,
                  uint32_t slot);
  // The inodes `client`'s unanswered revocations took write leases of, and where those ended
  // (what it may have stored and not published when it dies before answering).
  std::vector<std::pair<uint64_t, uint64_t>> UnansweredWrites(ClientId client) const;
  // The client answered `rev` (or every revocation, when rev is 0: it is gone): unpins.
  void Answered(ClientId client, uint64_t rev);
  // Retires `slot` (its inode has no leases any more): freed unless an unanswered revocation
  // holds it.
  void RetireSlot(uint32_t slot);
  size_t pending() const;
  // The clients with unanswered revocations.
  std::vector<ClientId> PendingClients() const;

 private:
  struct Pending {
    ClientId client;
    uint64_t rev;
    uint64_t ino;
    uint64_t wrote_hi;  // where its write leases ended (0: none)
    std::vector<std::pair<uint64_t, uint64_t>> pinned;
    uint32_t slot;
  };

  std::unique_ptr<LeaseSlots> slots_;
  mapping::PinTable& pins_;
  mutable Mutex mu_;  // taken after an inode's mu (the callers hold it), before the slots' mu_
  std::unordered_map<uint64_t, PerInode> inodes_ GUARDED_BY(mu_);
  // client -> ino -> leases
  std::unordered_map<ClientId, std::unordered_map<uint64_t, uint32_t>> clients_ GUARDED_BY(mu_);
  std::vector<Pending> pending_ GUARDED_BY(mu_);
  ClientId next_client_ GUARDED_BY(mu_) = 1;
  uint64_t rev_ GUARDED_BY(mu_) = 0;
};

}  // namespace pmemfs::core
