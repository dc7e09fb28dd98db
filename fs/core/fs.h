// fs/core: the filesystem's semantics (POSIX) over fs/store (persistence) and mapping/ (data).
//
// Filesystem is what fs/fuse drives: one method per operation, inode numbers in and out,
// Status/Result errors (fs/fuse maps them to errno in one table). It keeps DRAM indexes over
// the on-device structures: the inode cache (inode.h), directory indexes (directory.h: hash
// lookup, stable readdir cookies) and file extent maps (file_map.h), loaded lazily per inode.
//
//   auto fs = Filesystem::Mount(std::move(device), opts);   // recovery runs here
//   fs->Lookup(caller, kRootIno, "a"); fs->Write(...); ...
//   fs->Unmount();                                           // syncs, marks clean
//
// Persistence by mode: every metadata change is one store transaction (atomic; durable on
// return in every mode). The one exception: the mtime/ctime a write() sets when it only
// overwrites blocks in place (no allocation, no size or mode change) are committed later, as
// ext4 journals them: at the latest MountOptions::writeback_ms after the write (when not 0),
// and at once by Fsync, the last Release of the file, SyncFs and Unmount (a crash before then
// shows the older times with the new data). File data: direct/pages write the mapped device in
// place and persist before returning; copy buffers in mapping::CopyAccess until
// Fsync/SyncFs/Unmount or the background write-back. Files under the RAM directory (opts.ram_dir in the root) live in the
// device's RAM partition and in DRAM only: never journaled, gone after remount.
//
// Lookup(ino, ".") names the inode itself, of any type (NotFound once it has no links): how the
// kernel finds an inode by number (file handles, NFS). Generations: a persistent inode's grows
// each time its slot is reused, a volatile inode's is the mount count, the root's is 0.
//
// Lookup references: every call that returns an Attr for a name (Lookup, Create, MkDir, MkNod,
// Symlink, Link) takes one reference on the inode for the kernel; Forget(ino, n) drops n. An
// unlinked inode is freed when it has no links, no references and no open files.
//
// Thread-safety: every method may be called concurrently (the FUSE session is multithreaded).
// Locks: per-inode (Inode::mu), taken parent before child, several in inode-number order;
// Namespace::rename_mu_ serialises renames between directories (cycle checks).
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "fs/core/attributes.h"
#include "fs/core/context.h"
#include "fs/core/data_path.h"
#include "fs/core/flusher.h"
#include "fs/core/inode.h"
#include "fs/core/inode_cache.h"
#include "fs/core/leases.h"
#include "fs/core/namespace.h"
#include "fs/core/quiesce.h"
#include "fs/core/types.h"
#include "fs/core/xattrs.h"
#include "fs/store/scrub.h"
#include "fs/store/store.h"
#include "mapping/access.h"
#include "mapping/device.h"
#include "mapping/ram_partition.h"
#include "pmemfs/status.h"

namespace pmemfs::core {

class Filesystem {
 public:
  // Takes the device. Opens the store (journal recovery, orphan cleanup), the mode's
  // mapping::Access and the RAM partition.
  static Result<std::unique_ptr<Filesystem>> Mount(std::unique_ptr<mapping::Device> dev,
                                                   const MountOptions& opts);
  ~Filesystem();
  // Writes back everything and marks the filesystem clean. Idempotent.
  Status Unmount();
  // Ok while the device is whole; an IoError saying the device shrank under the filesystem
  // once it did (mapping::Device::Health): from then on writes and commits fail with it.
  Status DeviceHealth() const { return dev_->Health(); }

  // The options in force: as given, except ram_dir is "" when this mount has no RAM directory
  // (read-only, or its name taken by a persistent entry: see warnings()).
  const MountOptions& options() const;
  // What Mount decided differently from what was asked, one line each, for the daemon's log.
  const std::vector<std::string>& warnings() const { return warnings_; }
  void SetInvalidator(Invalidator* inv);

  // --- mount -o remount -------------------------------------------------------------------------
  // Read-only: commits pending write times, writes back the copy cache and marks the store
  // clean (durable on return); every change after that fails with ReadOnly and atime stays
  // still. Read-write again: marks the store dirty and resumes (a mount that began read-only
  // gets no RAM directory and no background write-back before the next mount). The caller
  // (fs/fuse) has made the kernel refuse writes first, so nothing is in flight. Read-write is
  // refused (Corrupt) while an allocation-bitmap block failed its checksum at mount, as a
  // read-write mount would be.
  Status SetReadOnly(bool read_only);
  bool read_only() const { return ctx_.is_read_only(); }
  // The atime policy from now on (kNoatime while read-only whatever is set).
  void SetAtimePolicy(AtimePolicy atime);
  AtimePolicy atime_policy() const;

  // --- online changes (online.cc: pmemfs-tune on a live mount) ---------------------------------
  // Every entry point of the data path (fs/fuse's handlers, direct access requests, the
  // flusher's rounds) passes this gate before any lock; ChangeAccess closes it.
  QuiesceGate* gate() { return &gate_; }
  // The write-back period (MountOptions::writeback_ms) from now on.
  void SetWritebackMs(uint32_t ms);
  // Switches the mode and/or copy mode's cache size with no unmount: closes the gate (new
  // requests wait, those in flight drain within `drain_timeout`), calls every direct-access
  // lease back (Busy naming the holders that did not answer), writes back what is pending,
  // swaps the mapping::Access (into copy: a cold cache; the page-descriptor table is rebuilt
  // or marked stale as at mount), opens the gate. Any refusal or failure leaves the old mode.
  struct AccessChange {
    std::optional<mapping::Mode> mode;
    std::optional<uint64_t> cache_size;  // copy mode's (the new mode's when it is copy)
  };
  Status ChangeAccess(const AccessChange& change, std::chrono::milliseconds drain_timeout);

  // --- online scrub (scrub.cc: pmemfs-tune --scrub on a live mount) ----------------------------
  // Starts store::Scrub of the device on a thread of its own while the mount runs: the pages
  // are read with no pause; the gate is closed only to re-read a page found bad before
  // recording it and to name what the bad ranges hit (waiting at most `drain_timeout` each). A
  // read-only mount reports what it finds and records nothing. One scrub at a time (Busy while
  // one runs); Unmount stops it. Returns the scrub's id (1, 2, ... per mount).
  Result<uint64_t> StartScrub(const std::string& name, std::chrono::milliseconds drain_timeout);
  struct ScrubStatus {
    uint64_t id = 0;  // of the last scrub started; 0: none
    bool running = false;
    uint64_t done = 0, total = 0;  // bytes read so far, of (0 until known)
    Status error;                  // once finished: why it failed
    store::ScrubReport report;     // once finished without error
  };
  ScrubStatus scrub_status() const;

  // --- names (namespace.h) --------------------------------------------------------------------
  Result<Attr> Lookup(const Caller&, uint64_t parent, std::string_view name) {
    return names_.Lookup(parent, name);
  }
  void Forget(uint64_t ino, uint64_t nlookup);
  Result<Attr> GetAttr(uint64_t ino);
  Result<Attr> SetAttr(const Caller& c, uint64_t ino, const SetAttrRequest& req);
  Result<Attr> MkNod(const Caller& c, uint64_t parent, std::string_view name, uint32_t mode,
                     uint64_t rdev) {
    return names_.MkNod(c, parent, name, mode, rdev);
  }
  Result<Attr> MkDir(const Caller& c, uint64_t parent, std::string_view name, uint32_t mode) {
    return names_.MkDir(c, parent, name, mode);
  }
  Result<Attr> Symlink(const Caller& c, uint64_t parent, std::string_view name,
                       std::string_view target) {
    return names_.Symlink(c, parent, name, target);
  }
  Result<std::string> ReadLink(uint64_t ino) { return names_.ReadLink(ino); }
  Result<Attr> Link(const Caller&, uint64_t ino, uint64_t new_parent, std::string_view new_name) {
    return names_.Link(ino, new_parent, new_name);
  }
  Status Unlink(const Caller&, uint64_t parent, std::string_view name) {
    return names_.Unlink(parent, name);
  }
  Status RmDir(const Caller&, uint64_t parent, std::string_view name) {
    return names_.RmDir(parent, name);
  }
  Status Rename(const Caller& c, uint64_t parent, std::string_view name, uint64_t new_parent,
                std::string_view new_name, uint32_t flags) {
    return names_.Rename(c, parent, name, new_parent, new_name, flags);
  }

  // --- files ----------------------------------------------------------------------------------
  // `flags`: open(2) flags; O_TRUNC truncates. Counts the open until Release.
  Status Open(const Caller& c, uint64_t ino, int flags) { return data_.Open(c, ino, flags); }
  // Creates and opens; an existing name gives AlreadyExists when O_EXCL, else opens it.
  Result<Attr> Create(const Caller& c, uint64_t parent, std::string_view name, uint32_t mode,
                      int flags);
  Status Release(uint64_t ino) { return data_.Release(ino); }
  // Up to `len` bytes at `off` (fewer at end of file); in direct/pages mode the ReadRef points
  // into the device, its pages pinned until released (a truncate cannot hand them to another
  // file meanwhile).
  Status Read(uint64_t ino, uint64_t off, uint64_t len, mapping::ReadRef* out) {
    return data_.Read(ino, off, len, out);
  }
  // Whether a read of `ino` must reach us now to move its atime (the policy says an update is
  // due: relatime's atime <= mtime/ctime or a day old; strictatime always). fs/fuse then opens
  // the file without keep_cache, so the kernel drops its cached pages and the next read comes
  // here. Pages cached while a descriptor stays open are dropped through the Invalidator when
  // an update becomes due (SetAttr, Write).
  bool AtimeDue(uint64_t ino) { return data_.AtimeDue(ino); }
  // Returns bytes written. Clears setuid/setgid when written by someone other than the owner.
  Result<uint64_t> Write(const Caller& c, uint64_t ino, uint64_t off,
                         std::span<const std::byte> data) {
    return data_.Write(c, ino, off, data);
  }
  Status Fsync(uint64_t ino, bool datasync) { return data_.Fsync(ino, datasync); }
  Status SyncFs() { return flusher_->Flush(); }
  // mode: 0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE|KEEP_SIZE, FALLOC_FL_ZERO_RANGE[|KEEP_SIZE]
  Status Fallocate(uint64_t ino, int mode, uint64_t off, uint64_t len) {
    return data_.Fallocate(ino, mode, off, len);
  }
  // whence: SEEK_DATA or SEEK_HOLE (others are the kernel's business).
  Result<uint64_t> Lseek(uint64_t ino, uint64_t off, int whence) {
    return data_.Lseek(ino, off, whence);
  }
  // Copies (pages mode: shares pages copy-on-write) and returns bytes copied.
  Result<uint64_t> CopyFileRange(const Caller& c, uint64_t ino_in, uint64_t off_in,
                                 uint64_t ino_out, uint64_t off_out, uint64_t len) {
    return data_.CopyFileRange(c, ino_in, off_in, ino_out, off_out, len);
  }

  // --- directories (namespace.h) --------------------------------------------------------------
  Status OpenDir(const Caller&, uint64_t ino) { return names_.OpenDir(ino); }
  // Emits entries from `cookie` on ("." and ".." first) until `emit` returns false.
  Status ReadDir(uint64_t ino, uint64_t cookie, const std::function<bool(const DirEntry&)>& emit) {
    return names_.ReadDir(ino, cookie, emit);
  }

  Result<FsStats> StatFs();

  // --- extended attributes (full names: "user.x", "system.posix_acl_access", ...) -------------
  // flags: XATTR_CREATE / XATTR_REPLACE.
  // (xattrs.h)
  Status SetXattr(const Caller& c, uint64_t ino, std::string_view name,
                  std::span<const std::byte> value, int flags) {
    return xattrs_.Set(c, ino, name, value, flags);
  }
  Result<std::vector<std::byte>> GetXattr(uint64_t ino, std::string_view name) {
    return xattrs_.Get(ino, name);
  }
  Result<std::vector<std::string>> ListXattr(uint64_t ino) { return xattrs_.List(ino); }
  Status RemoveXattr(const Caller& c, uint64_t ino, std::string_view name) {
    return xattrs_.Remove(c, ino, name);
  }
  // access(2): mask of R_OK/W_OK/X_OK (F_OK: exists).
  Status Access(const Caller& c, uint64_t ino, int mask);

  // --- chattr attributes and the label (attributes.cc) ----------------------------------------
  // The file's attributes: layout::kInodeAttrFlags bits (sync, immutable, append-only, nodump,
  // noatime). Every caller, root too, gets Permission for what they forbid (see layout.h).
  Result<uint32_t> GetFileFlags(uint64_t ino);
  // Replaces them (Unsupported for other bits): the owner or root; a change of immutable or
  // append-only only root (CAP_LINUX_IMMUTABLE). Sets ctime; one Tx.
  Status SetFileFlags(const Caller& c, uint64_t ino, uint32_t flags);
  // The filesystem's label (the superblock's: mkpmemfs --label) and its replacement by root.
  std::string Label() const;
  Status SetLabel(const Caller& c, std::string_view label);

  // --- direct access (leases.cc; leases.h says how it works) ----------------------------------
  // Turns leases on (direct and pages mode): makes the shared slot table (`slots` slots).
  // `holders` calls clients back; EnableLeases(nullptr) before it goes (after DropLeaseClient
  // of each of its clients).
  Status EnableLeases(LeaseHolders* holders, uint32_t slots = 4096);
  int lease_slots_fd() const;      // -1 while leases are off
  uint32_t lease_slot_count() const;
  ClientId NewLeaseClient();
  // A lease for `c` on r.ino (which the caller has checked `c` may open as r.write says).
  Result<LeaseGrant> GrantLease(ClientId c, const LeaseRequest& r);
  // `c` is done with `ino`: its leases go, what it reported is committed, blocks allocated
  // ahead that nobody wrote are freed once no write lease is left.
  Status ReleaseLeases(ClientId c, uint64_t ino);
  // What clients reported of `ino` (size, times) made durable, with whatever else of it is
  // pending (as Fsync). `opens` (may be null) gets the kernel's open files of `ino` counted before
  // that, when the mode writes through to the device (direct, pages: the data of every write
  // that reached us is durable already), else UINT64_MAX.
  Status FsyncLeases(ClientId c, uint64_t ino, uint64_t* opens = nullptr);
  // `c` is gone (its connection closed): ReleaseLeases of everything, what it stored past the
  // sizes goes (ForgetDeadWrites), and its pins go.
  void DropLeaseClient(ClientId c);
  // `c` answered revocation `rev` late: what it held is unpinned.
  void LeaseAnswered(ClientId c, uint64_t rev);
  // Takes what clients reported (size, mtime) into every leased inode, to be committed with
  // the pending times. The Flusher's background rounds call it (every writeback_ms, the period
  // SetWritebackMs changes) while a server is set (EnableLeases).
  void FoldAllLeases();
  // Calls every lease back (before the server stops) and commits what clients reported.
  void RevokeAllLeases();
  // Revocations not answered in time whose blocks stay pinned (tests, the log).
  size_t pending_revocations() const;
  // Whether some client holds a write lease on `ino`: its pages in the kernel's cache may be
  // older than the device, so fs/fuse opens it without keep_cache (a client's fsync that makes
  // no round trip, direct::Synced, relies on it).
  bool HasWriteLease(uint64_t ino);
  // The device, for the direct-access server to hand its parts to clients.
  const mapping::Device& device() const { return *dev_; }

 private:
  Filesystem() = default;

  // --- fs.cc: inode lifetime and shared helpers ---------------------------------------------
  // Context's helpers, for the facade's own code.
  void PutInode(store::Tx& tx, const Inode& ip, const layout::InodeRecord& rec) {
    ctx_.PutInode(tx, ip, rec);
  }
  Status Commit(store::Tx& tx, std::initializer_list<Inode*> touched) {
    return ctx_.Commit(tx, touched);
  }
  static void DropIndexes(Inode& ip) { Context::DropIndexes(ip); }
  MapContext Ctx(store::Tx& tx, Inode& ip, layout::InodeRecord& rec) { return ctx_.Ctx(tx, ip, rec); }
  static int64_t NowNs() { return Context::NowNs(); }
  // Frees an inode with no links, references or opens: its blocks, chains and record.
  // Caller holds ip->mu exclusively (InodeCache::Hooks::free_inode).
  Status FreeInode(const InodePtr& ip);
  // An unlinked, closed inode the kernel still references: its data and xattrs go now
  // (InodeCache::Hooks::drop_contents). Caller holds ip.mu exclusively.
  void DropContents(Inode& ip);
  // Mount's steps, in order, each on the fresh Filesystem before anyone else can see it.
  // MakeFlusher: the background thread, not started yet (its hooks call back into *this).
  void MakeFlusher();
  // With opts_ and dev_ set: refuses a device this mode cannot serve, opens the mode's
  // mapping::Access, the store (journal recovery), the inode cache and the RAM partition, and
  // syncs the page-descriptor table.
  Status OpenLayers();
  // The volatile RAM directory opts_.ram_dir in `root` (pinned), when the device has a RAM
  // partition and the name is free; clears opts_.ram_dir (with a warning) when it is taken.
  Status MakeRamDir(Inode& root);
  // Finishes what a crash interrupted: truncates, then unlinked inodes still allocated.
  Status FinishInterrupted();
  // Mount: makes the page-descriptor table match the extents (fills a DRAM table, rebuilds a
  // device table that a mount in another mode left stale) and keeps the superblock's
  // kCompatDescriptorsCurrent bit true to what this mount does.
  Status SyncDescriptorTable();
  // Fills an all-free table from every file's extents.
  Status RebuildDescriptors();


  // --- the RAM directory (namespace.h; Mount makes it) ------------------------------------------
  static Status CheckName(std::string_view name) { return Namespace::CheckName(name); }
  bool HasRamDir() const { return ctx_.HasRamDir(); }

  // --- the data path's helpers (data_path.h says what each does) -------------------------------
  Status Truncate(Inode& ip, layout::InodeRecord& rec, uint64_t size) {
    return data_.Truncate(ip, rec, size);
  }
  Status FinishTruncate(Inode& ip, bool to_zero = false) {
    return data_.FinishTruncate(ip, to_zero);
  }
  bool AtimeDueLocked(const Inode& ip) const { return data_.AtimeDueLocked(ip); }
  // Asks the kernel to drop its cached pages of `ino`, so the next read reaches us. Caller
  // holds no locks.
  void DropCachedData(uint64_t ino) { ctx_.DropCachedData(ino); }

  // Writes ip.rec in a Tx of its own (the Flusher's commit of pending times). Caller holds
  // ip.mu exclusively.
  Status CommitRecord(Inode& ip) { return data_.CommitRecord(ip); }

  // --- leases.cc: direct access -----------------------------------------------------------------
  // Calls back the holders of leases on `ip` that `why` affects (LeaseChange, leases.h) and waits (bounded) for them;
  // the blocks of those that do not answer stay pinned. Takes what clients reported into ip.rec
  // (and into `working`, a copy the caller is changing) first. Returns whether every holder
  // answered. `spare` (a grant's requester, whose mapped blocks the change leaves alone) is not
  // called back. Caller holds ip.mu exclusively, before it changes the map or the size; a no-op
  // (one atomic load) for a file without leases.
  bool QuiesceLeases(Inode& ip, uint64_t lo, uint64_t hi, LeaseChange why,
                     layout::InodeRecord* working = nullptr, ClientId spare = 0);
  // Takes the size and mtime clients reported into ip.rec (committed later, Flusher::Defer);
  // returns whether it changed. Caller holds ip.mu exclusively.
  bool FoldLeasesLocked(Inode& ip, layout::InodeRecord* working = nullptr);
  // The same, taking ip's lock; for operations that then only read (read, lseek, fsync).
  // Caller holds no lock.
  void FoldLeases(const InodePtr& ip);
  // A setattr has just committed ip's times: the times clients published before it (folded by
  // the caller before the change) no longer count, only those of writes after it
  // (direct_protocol.h, Slot::mtime_ns). Caller holds ip.mu exclusively.
  void ForgetLeaseTimes(Inode& ip);
  // A lease on [r.off, r.off + r.len) of ip for c, in three steps below. Caller holds ip.mu
  // exclusively.
  Result<LeaseGrant> GrantLocked(ClientId c, const LeaseRequest& r, const InodePtr& ip);
  // The refusals: a mode or file clients cannot reach, a read-only mount, an immutable file,
  // a range past the largest file size.
  Status CheckGrant(const LeaseRequest& r, const Inode& ip);
  // A write lease for `c`: drops setuid/setgid, allocates the holes and copies away from clones
  // in the range, and ahead of the end when the write extends the file. Returns the end of what
  // it prepared (the lease covers at least that much); *spared: c's leases of the range were
  // left alone (only holes were filled: its mapped blocks did not change); g->filled_lo/hi: the
  // holes it filled below the end (LeaseGrant).
  Result<uint64_t> PrepareWriteLease(ClientId c, const LeaseRequest& r, const InodePtr& ip,
                                     bool* spared, LeaseGrant* g);
  // The mapped runs of [lo, hi) into g.extents and lease->blocks (split where pages start or
  // stop being shared); returns where they stop: hi, or earlier when the window is too
  // fragmented for one reply.
  uint64_t CollectLeaseExtents(const Inode& ip, uint64_t lo, uint64_t hi, LeaseGrant* g,
                               LeaseTable::Lease* lease);
  // c's leases on ip end; `died`: its process is gone, and with it whatever it stored past the
  // size (ForgetDeadWrites). Caller holds ip.mu exclusively.
  Status EndLeases(Inode& ip, ClientId c, bool died = false);
  // A client died holding write leases on ip up to `hi`, past the size: what it stored past the
  // size never returned and must never show, whoever moves the size over it later (a truncate,
  // another client's publish, a write through the kernel). The holders of leases there are
  // called back first (their writes in flight publish), then the bytes past the size up to
  // `hi` go (DataPath::ForgetPastSize). Caller holds ip.mu exclusively.
  Status ForgetDeadWrites(Inode& ip, uint64_t hi);
  // ip has no lease left: its slot goes, and its ahead mark (below) with the record's next
  // commit. Caller holds ip.mu exclusively.
  void RetireLeases(Inode& ip);
  // The ahead mark of a record: kInodeTruncating with pending_size layout::kPendingSizeAhead
  // (to whatever the size is). Set in the commit that allocates blocks past the end for a write
  // lease, while clients may store past the committed size; a crash leaves it on the media and
  // mount then frees every block past the end (FinishTruncate), so that no later extension
  // shows what clients stored there unacknowledged.
  static constexpr uint64_t kAheadMark = layout::kPendingSizeAhead;
  static void MarkAhead(layout::InodeRecord& rec) {
    rec.flags |= layout::kInodeTruncating;
    rec.pending_size = kAheadMark;
  }
  std::vector<uint64_t> LeasedInodes();
  // DataPath's (data_path.h): the blocks a write lease needs, and those it no longer does.
  Status AllocateForLease(Inode& ip, uint64_t off, uint64_t end, bool zero_tail) {
    return data_.AllocateForLease(ip, off, end, zero_tail);
  }
  Status TrimForLease(Inode& ip, uint64_t fb, uint64_t n) { return data_.TrimForLease(ip, fb, n); }
  Status ForgetPastSize(Inode& ip, uint64_t end, uint64_t free_lo, uint64_t free_hi) {
    return data_.ForgetPastSize(ip, end, free_lo, free_hi);
  }

  // --- state ------------------------------------------------------------------------------------
  // What the parts share (context.h): options, device, access, RAM partition, store, inode
  // cache, the flags remount changes. Declared first: destroyed last.
  Context ctx_;
  // Aliases of ctx_'s members for the facade's own code.
  MountOptions& opts_ = ctx_.opts;
  std::unique_ptr<mapping::Device>& dev_ = ctx_.dev;
  std::unique_ptr<mapping::Access>& access_ = ctx_.access;
  std::unique_ptr<mapping::RamPartition>& ram_ = ctx_.ram;
  std::unique_ptr<store::Store>& store_ = ctx_.store;
  std::unique_ptr<InodeCache>& cache_ = ctx_.cache;
  std::atomic<Invalidator*>& inval_ = ctx_.inval;
  std::atomic<bool>& read_only_ = ctx_.read_only;
  std::atomic<AtimePolicy>& atime_ = ctx_.atime;
  InodePtr& ram_dir_ = ctx_.ram_dir;
  // The parts (each keeps a reference to ctx_).
  Xattrs xattrs_{ctx_};
  // The data path; flusher_ is made by Mount before the first operation.
  DataPath data_{ctx_, flusher_,
                 DataPath::LeaseHooks{
                     .quiesce = [this](Inode& ip, uint64_t lo, uint64_t hi, LeaseChange why,
                                       layout::InodeRecord* working) {
                       return QuiesceLeases(ip, lo, hi, why, working);
                     },
                     .fold = [this](Inode& ip, layout::InodeRecord* working) {
                       return FoldLeasesLocked(ip, working);
                     },
                     .has_write_lease = [this](uint64_t ino) {
                       return leases_ && leases_->HasWriteLease(ino);
                     },
                 }};
  Namespace names_{ctx_, xattrs_};
  // Direct access: the lease table (null while off) and who holds leases; lease_pins_ are the
  // blocks of leases whose holders did not answer a revocation, which the allocator (through
  // pins_, with the readers' pins) does not reuse.
  std::unique_ptr<LeaseTable> leases_;
  std::atomic<LeaseHolders*> holders_{nullptr};
  mapping::PinTable lease_pins_;
  std::unique_ptr<mapping::PinUnion> pins_;

  std::vector<std::string> warnings_;  // set by Mount only
  bool unmounted_ = false;                // guarded by remount_mu_
  std::mutex remount_mu_;                // serialises SetReadOnly and the start of Unmount
  QuiesceGate gate_;  // online.cc
  struct ScrubJob;    // scrub.cc
  mutable std::mutex scrub_mu_;       // guards scrub_ (the pointer; the job keeps its own state)
  std::shared_ptr<ScrubJob> scrub_;   // the last scrub started (null: none)
  bool scrub_stopped_ = false;        // guarded by scrub_mu_: set by Unmount
  // Stops a running scrub and waits for its thread (Unmount).
  void StopScrub();

  // The background thread: pending write times and copy mode's write-back (flusher.h).
  // Declared last: destroyed (stopped) first.
  std::unique_ptr<Flusher> flusher_;
};

}  // namespace pmemfs::core
