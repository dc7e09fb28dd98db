// file_io.cc: the data path of fs/core: open/release, read, write, truncate, fallocate, lseek,
// copy_file_range, fsync.
//
// How data reaches the device, by mode (mapping/access.h does the bytes):
//   direct, pages  mapped blocks are overwritten in place and are durable when Write returns;
//                  new blocks are filled (data, zeros around it) before the transaction that
//                  links them into the file commits, so a crash never exposes stale blocks.
//   copy           in-place writes stay in the DRAM cache until Fsync/SyncFs/write-back; blocks
//                  a transaction links (new blocks, zeroed tails) are synced just before it
//                  commits (ordered data, as ext4's data=ordered).
//   RAM files      (volatile inodes) plain stores into the RAM partition; no Tx, no flushes.
// A write that only overwrites mapped blocks of its own in place (no allocation, copy-on-write
// or zeroing, size and mode unchanged) commits nothing: its mtime/ctime wait in ip.rec
// (times_pending) for the Flusher (writeback_ms), Fsync, the last Release, SyncFs or
// Unmount (fs.h).
//
// Invariants the paths keep:
//   - A file block past EOF that is mapped reads as zero, except the bytes after EOF in the
//     block holding EOF: those may hold old data (a shrink does not zero them). Whatever makes
//     the size grow over them (write past EOF, truncate up, fallocate, zero range,
//     copy_file_range) zeroes them first (DataPath::ZeroTail).
//   - pages mode: every mapped page of a persistent file has a descriptor {owner, index,
//     refcount, kPageAllocated}; refcount > 1 marks a page shared by clones (copy_file_range):
//     writing it copies it first (copy-on-write), freeing it decrements the count and frees the
//     block at zero. Refcount changes of shared pages are read-modify-writes that other inodes'
//     operations race with, so they happen under SharedPagesMutex() from the read to the commit.
//     A page with refcount <= 1 belongs to one file only, whose inode lock the caller holds.
//   - One transaction never exceeds half the journal's limit: long operations commit in
//     steps (DataPath::MaybeFlush); a split truncate marks the inode kInodeTruncating so mount
//     finishes it.
//
// Locks: the inode's `mu` (exclusive to change data or size, shared to read); two inodes in
// inode-number order; SharedPagesMutex() innermost, held to the end of the operation.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <chrono>
#include <optional>
#include <unordered_map>

#include "fs/core/fs.h"

namespace pmemfs::core {

using layout::InodeRecord;
using store::BlockRange;

namespace {

constexpr uint64_t kBlock = layout::kBlockSize;
// Largest file size (off_t's range); offsets and sizes past it are TooBig (EFBIG).
constexpr uint64_t kMaxFileSize = INT64_MAX;
// copy_file_range copies (where it cannot share) in chunks of this many bytes.
constexpr uint64_t kCopyChunk = 1ull << 20;
constexpr int64_t kRelatimeWindowNs = 24ll * 3600 * 1000000000;

// Never written: the zero bytes that holes are read from in place (in .bss, so untouched pages
// cost no memory).
alignas(4096) std::byte g_zeros[1 << 20];

uint64_t DivUp(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

std::mutex& SharedPagesMutex() {
  static std::mutex mu;
  return mu;
}

struct Piece {
  uint64_t fb;
  uint64_t dev;  // 0: hole
  uint64_t count;
};

// The mapped runs and holes of [fb, fb+n), in order.
std::vector<Piece> Pieces(const FileMap& map, uint64_t fb, uint64_t n) {
  std::vector<Piece> out;
  map.ForEach(fb, n, [&](uint64_t f, uint64_t d, uint64_t c) { out.push_back({f, d, c}); });
  return out;
}

Status CheckRegular(const Inode& ip) {
  if (ip.is_dir()) return Status::IsDirectory("inode " + std::to_string(ip.ino) + " is a directory");
  if (!ip.is_reg())
    return Status::InvalidArgument("inode " + std::to_string(ip.ino) + " is not a regular file");
  return Status::Ok();
}

// What the kernel does on write/truncate by someone without CAP_FSETID (here: not root):
// setuid goes, and setgid when the group may execute (otherwise it marks mandatory locking).
void KillPriv(const Caller& c, InodeRecord& rec) {
  if (c.uid == 0) return;
  rec.mode &= ~S_ISUID;
  if (rec.mode & S_IXGRP) rec.mode &= ~S_ISGID;
}

bool NeedsAtime(AtimePolicy policy, const InodeRecord& r, int64_t now) {
  if (r.flags & layout::kInodeNoatime) return false;
  switch (policy) {
    case AtimePolicy::kNoatime: return false;
    case AtimePolicy::kStrictatime: return true;
    case AtimePolicy::kRelatime:
      return r.atime_ns <= r.mtime_ns || r.atime_ns <= r.ctime_ns ||
             now - r.atime_ns >= kRelatimeWindowNs;
  }
  return false;
}

// Page-descriptor values as the running operation leaves them: committed values overlaid with
// the ones set in the current operation. Reading a page whose count another inode may change
// (shared pages) takes SharedPagesMutex(), held until the tracker goes (after the commit).
class RefTracker {
 public:
  explicit RefTracker(mapping::PageDescriptors* d) : d_(d) {}

  // Without the lock: exact for pages only this file maps (refcount <= 1), possibly stale
  // (too high) for shared ones.
  mapping::PageInfo Peek(uint64_t page) const {
    auto it = pending_.find(page);
    return it != pending_.end() ? it->second : d_->Get(page);
  }
  // Under the lock: exact.
  mapping::PageInfo Get(uint64_t page) {
    auto it = pending_.find(page);
    if (it != pending_.end()) return it->second;
    if (!lock_.owns_lock()) lock_ = std::unique_lock(SharedPagesMutex());
    return d_->Get(page);
  }
  void Set(store::Tx& tx, uint64_t page, const mapping::PageInfo& info) {
    pending_[page] = info;
    tx.SetDescriptor(page, info);
  }
  // After a commit: the pending values are the committed ones now.
  void Committed() { pending_.clear(); }

 private:
  mapping::PageDescriptors* d_;
  std::unordered_map<uint64_t, mapping::PageInfo> pending_;
  std::unique_lock<std::mutex> lock_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// DataPath: one data operation on one inode.
//
// Holds the working record `rec` (starts as ip.rec) and the running Tx. Changes go to the file
// map and the Tx at once; Flush() commits them with `rec` and starts a new Tx; MaybeFlush() does
// so when the Tx nears the journal's limit. Destroying a DataPath with uncommitted map changes
// abandons them (Abort: the Tx's reservations are released, the map is dropped to reload).
// Volatile inodes: no Tx, the DRAM map is the only copy and changes are final at once.
//
// The caller holds ip.mu exclusively and has loaded ip.map (LoadMap).
class Filesystem::DataPath {
 public:
  // What Fill does to the blocks of its range.
  enum : unsigned {
    kAllocHoles = 1u << 0,   // holes get new blocks (zeroed outside the data)
    kWriteMapped = 1u << 1,  // mapped blocks get the data (shared ones are copied first)
    kUnshare = 1u << 2,      // shared mapped blocks are copied to blocks of their own
  };

  DataPath(Filesystem& fs, Inode& ip)
      : rec(ip.rec),
        fs_(fs),
        ip_(ip),
        map_(*ip.map),
        pages_(!ip.is_volatile() && fs.access_->descriptors() != nullptr),
        copy_(!ip.is_volatile() && fs.access_->mode() == mapping::Mode::kCopy),
        refs_(fs.access_->descriptors()) {
    tx_.emplace(fs_.store_->Begin());
    budget_ = fs_.store_->max_tx_bytes() / 2;
    // pages mode: a block may change two descriptors (the old page's and the new one's).
    const uint64_t per_block = store::Store::DescriptorChangesCost(2);
    alloc_chunk_ = pages_ ? std::clamp<uint64_t>(budget_ / 4 / per_block, 16, 8192)
                          : std::max<uint64_t>(64, budget_ / 2);
  }
  ~DataPath() {
    if (map_dirty_) Abort();
  }
  DataPath(const DataPath&) = delete;
  DataPath& operator=(const DataPath&) = delete;

  InodeRecord rec;  // the working record

  // Makes file bytes [off, end) hold `src` (zeros when null) as `what` says. Blocks are done in
  // file order and advance reached() (see set_reached), so after a failure (NoSpace: a short
  // write) it tells how far the operation got.
  Status Fill(uint64_t off, uint64_t end, const std::byte* src, unsigned what);
  // Before the size grows from `old_size` to `new_size`: zeroes the stale bytes after
  // old_size in its block (when mapped).
  Status ZeroTail(uint64_t old_size, uint64_t new_size);
  // Unmaps file blocks [fb, fb+n) and frees their blocks, from the end backwards.
  Status Unmap(uint64_t fb, uint64_t n);
  // Removes every block at or past the new `size`, sets it, in as many commits as needed (the
  // inode is marked kInodeTruncating meanwhile); ends committed.
  Status Shrink(uint64_t size);
  // pages mode: maps file blocks [fb_out, +n) to the device pages of `src`'s [fb_in, +n) (which
  // must not overlap it when src is this file), counting the new references.
  Status Share(const FileMap& src, uint64_t src_ino, uint64_t fb_in, uint64_t fb_out, uint64_t n);
  // The write path: data at `off`, size and times; returns bytes written (short on NoSpace).
  // An in-place overwrite leaves its new times uncommitted in ip.rec (times_deferred()).
  Result<uint64_t> Write(const Caller& c, uint64_t off, std::span<const std::byte> data);
  // Write set ip.rec's mtime/ctime without committing them: the caller hands the inode to
  // Flusher::Defer.
  bool times_deferred() const { return times_deferred_; }

  // Commits `rec` and the Tx (nothing when nothing changed) and starts a new Tx.
  Status Flush();
  Status Finish() { return Flush(); }
  // Abandons the running Tx and its map changes; rec and reached() go back to the last commit.
  void Abort();
  // Whether the failed step left the running Tx unusable (a reservation it cannot return).
  bool poisoned() const { return poisoned_; }
  uint64_t reached() const { return reached_; }
  uint64_t committed_reached() const { return committed_reached_; }
  // Size follows progress at intermediate commits (writes: what is in the file is counted).
  void set_extend(bool on) { extend_ = on; }
  // Starts progress tracking at file offset `r`: reached() is the end of what the operation has
  // done contiguously from there; committed_reached() the same as of the last commit.
  void set_reached(uint64_t r) { reached_ = committed_reached_ = r; }
  void Advance(uint64_t pos) { reached_ = std::max(reached_, pos); }
  // Holes in [off, end) (blocks a Fill with kAllocHoles would allocate) against the free space.
  Status CheckSpace(uint64_t off, uint64_t end) const;

  // Frees device ranges `freed` of inode `ip` in `tx`: RAM pages at once; store blocks at
  // commit; pages mode: by reference count.
  static void FreeDev(Filesystem& fs, store::Tx& tx, const Inode& ip,
                      const std::vector<BlockRange>& freed, RefTracker& refs);
  // The bytes [off, off+len) of `ip` (inside its size) into `out`. Caller holds ip.mu (either
  // mode), map loaded.
  static Status Read(Filesystem& fs, const Inode& ip, uint64_t off, uint64_t len,
                     mapping::ReadRef* out);
  // Updates the access time after a read when the mount's policy asks for it.
  static void TouchAtime(Filesystem& fs, const InodePtr& ip);

 private:
  MapContext ctx() { return fs_.Ctx(*tx_, ip_, rec); }
  Status MaybeFlush() {
    if (ip_.is_volatile() || tx_->journal_bytes() <= budget_) return Status::Ok();
    return Flush();
  }
  Status Poison(Status st) {
    poisoned_ = true;
    return st;
  }
  void Advance(uint64_t pos, uint64_t end) { Advance(std::min(pos, end)); }

  uint64_t Goal(uint64_t fb) const;
  Result<BlockRange> Alloc(uint64_t want, uint64_t goal);
  bool Shared(uint64_t page) const { return pages_ && refs_.Peek(page).refcount > 1; }
  Status FillHole(uint64_t fb, uint64_t n, uint64_t off, uint64_t end, const std::byte* src);
  Status CopyOnWrite(uint64_t fb, uint64_t dev, uint64_t n, uint64_t off, uint64_t end,
                     const std::byte* src, bool write);
  Status WriteInPlace(uint64_t fb, uint64_t dev, uint64_t n, uint64_t off, uint64_t end,
                      const std::byte* src);
  void SetNewPages(uint64_t dev, uint64_t fb, uint64_t n);
  // Nothing to commit but rec's mtime/ctime (and, for a persistent inode, nothing to sync).
  bool OnlyTimesChanged() const;

  // Device data, by where the inode lives.
  Status DataWrite(uint64_t off, const std::byte* src, uint64_t len);
  Status DataZero(uint64_t off, uint64_t len);
  Status DataCopy(uint64_t from, uint64_t to, uint64_t len);

  Filesystem& fs_;
  Inode& ip_;
  FileMap& map_;
  const bool pages_;  // descriptors kept (pages mode, persistent inode)
  const bool copy_;   // copy mode, persistent inode: sync what a commit links first
  std::optional<store::Tx> tx_;
  RefTracker refs_;
  uint64_t budget_ = 0;       // journal bytes after which MaybeFlush commits
  uint64_t alloc_chunk_ = 0;  // blocks per allocation / removal step
  uint64_t goal_ = 0;         // end of the last allocation
  std::vector<mapping::Range> sync_;  // copy mode: device ranges to sync before the commit
  bool map_dirty_ = false;    // map changed since the last commit
  bool poisoned_ = false;
  bool extend_ = false;
  bool times_deferred_ = false;
  uint64_t reached_ = 0;
  uint64_t committed_reached_ = 0;
};

// --- device data ------------------------------------------------------------------------------

Status Filesystem::DataPath::DataWrite(uint64_t off, const std::byte* src, uint64_t len) {
  if (fs_.read_only()) return Status::ReadOnly("the filesystem is mounted read-only");
  if (len == 0) return Status::Ok();
  if (ip_.is_volatile()) {
    fs_.dev_->Store(off, src, len);
    return Status::Ok();
  }
  return fs_.access_->Write(off, {src, len});
}

Status Filesystem::DataPath::DataZero(uint64_t off, uint64_t len) {
  if (fs_.read_only()) return Status::ReadOnly("the filesystem is mounted read-only");
  if (len == 0) return Status::Ok();
  if (ip_.is_volatile()) {
    fs_.dev_->ForEachSegment(off, len, [](mapping::Segment s) { std::memset(s.ptr, 0, s.length); });
    return Status::Ok();
  }
  return fs_.access_->Zero(off, len);
}

Status Filesystem::DataPath::DataCopy(uint64_t from, uint64_t to, uint64_t len) {
  std::vector<std::byte> buf(std::min<uint64_t>(len, 256 << 10));
  for (uint64_t done = 0; done < len;) {
    const uint64_t n = std::min<uint64_t>(buf.size(), len - done);
    PMEMFS_RETURN_IF_ERROR(fs_.access_->Read(from + done, {buf.data(), n}));
    PMEMFS_RETURN_IF_ERROR(DataWrite(to + done, buf.data(), n));
    done += n;
  }
  return Status::Ok();
}

// --- allocation -------------------------------------------------------------------------------

// Near the block before `fb`, else after the last allocation, else in the inode's share of the
// data area (so files written side by side do not interleave).
uint64_t Filesystem::DataPath::Goal(uint64_t fb) const {
  if (fb > 0) {
    if (uint64_t prev = map_.Lookup(fb - 1); prev != 0) return prev + 1;
  }
  if (goal_ != 0) return goal_;
  const layout::Superblock& sb = fs_.store_->superblock();
  if (sb.inode_count == 0) return 0;
  return sb.data_start + static_cast<uint64_t>(static_cast<unsigned __int128>(ip_.ino - 1) *
                                               sb.data_blocks / sb.inode_count);
}

// Up to `want` contiguous blocks (at least one); NoSpace leaves the Tx as it was.
Result<BlockRange> Filesystem::DataPath::Alloc(uint64_t want, uint64_t goal) {
  if (!ip_.is_volatile()) return fs_.store_->AllocBlocks(*tx_, want, goal);
  for (uint64_t n = want;; n = (n + 1) / 2) {
    Result<uint64_t> r = fs_.ram_->Allocate(n);
    if (r.ok()) return BlockRange{*r / kBlock, n};
    if (r.status().code() != Code::kNoSpace || n == 1) return r.status();
  }
}

void Filesystem::DataPath::SetNewPages(uint64_t dev, uint64_t fb, uint64_t n) {
  if (!pages_) return;
  for (uint64_t i = 0; i < n; i++)
    refs_.Set(*tx_, dev + i,
              {.owner = ip_.ino, .file_index = fb + i, .refcount = 1,
               .flags = layout::kPageAllocated});
}

void Filesystem::DataPath::FreeDev(Filesystem& fs, store::Tx& tx, const Inode& ip,
                                   const std::vector<BlockRange>& freed, RefTracker& refs) {
  for (const BlockRange& r : freed) {
    if (ip.is_volatile()) {
      (void)fs.ram_->Free(r.start * kBlock, r.count);  // pages
      continue;
    }
    if (fs.access_->descriptors() == nullptr) {
      fs.store_->FreeBlocks(tx, r);
      continue;
    }
    // pages: a page goes when its last reference does.
    BlockRange run{};
    for (uint64_t p = r.start; p < r.end(); p++) {
      mapping::PageInfo info = refs.Peek(p);
      if (info.refcount > 1) info = refs.Get(p);  // shared: decide under the lock
      if (info.refcount <= 1) {
        refs.Set(tx, p, {});
        if (run.count != 0 && run.end() == p) {
          run.count++;
        } else {
          if (run.count != 0) fs.store_->FreeBlocks(tx, run);
          run = {p, 1};
        }
      } else {
        info.refcount--;
        if (info.refcount == 1) info.flags &= ~layout::kPageShared;
        refs.Set(tx, p, info);
      }
    }
    if (run.count != 0) fs.store_->FreeBlocks(tx, run);
  }
}

// --- commits ----------------------------------------------------------------------------------

bool Filesystem::DataPath::OnlyTimesChanged() const {
  if (ip_.is_volatile() || map_dirty_ || !tx_->empty() || !sync_.empty()) return false;
  InodeRecord r = rec;
  r.mtime_ns = ip_.rec.mtime_ns;
  r.ctime_ns = ip_.rec.ctime_ns;
  return std::memcmp(&r, &ip_.rec, sizeof r) == 0;
}

Status Filesystem::DataPath::Flush() {
  if (extend_ && reached_ > rec.size) rec.size = reached_;
  for (const mapping::Range& r : sync_) PMEMFS_RETURN_IF_ERROR(fs_.access_->Sync(r.offset, r.length));
  sync_.clear();
  if (ip_.is_volatile()) {
    ip_.rec = rec;
    committed_reached_ = reached_;
    return Status::Ok();
  }
  if (tx_->empty() && std::memcmp(&rec, &ip_.rec, sizeof rec) == 0) return Status::Ok();
  fs_.PutInode(*tx_, ip_, rec);
  Status st = fs_.Commit(*tx_, {&ip_});
  tx_.reset();
  tx_.emplace(fs_.store_->Begin());
  map_dirty_ = false;  // committed, or dropped by Commit on failure
  if (!st.ok()) {
    rec = ip_.rec;
    reached_ = committed_reached_;
    poisoned_ = true;
    return st;
  }
  ip_.rec = rec;
  ip_.times_pending = false;  // rec carried them
  committed_reached_ = reached_;
  refs_.Committed();
  return Status::Ok();
}

void Filesystem::DataPath::Abort() {
  if (ip_.is_volatile()) {  // the DRAM map is the file: what was done stays done
    (void)Flush();
    return;
  }
  tx_.reset();  // releases its reservations
  tx_.emplace(fs_.store_->Begin());
  if (map_dirty_) {
    ip_.map_loaded.store(false, std::memory_order_relaxed);
    ip_.map.reset();
  }
  map_dirty_ = false;
  sync_.clear();
  rec = ip_.rec;
  reached_ = committed_reached_;
}

// --- filling ----------------------------------------------------------------------------------

Status Filesystem::DataPath::Fill(uint64_t off, uint64_t end, const std::byte* src, unsigned what) {
  if (off >= end) return Status::Ok();
  const uint64_t fb0 = off / kBlock, fb1 = DivUp(end, kBlock);
  for (const Piece& p : Pieces(map_, fb0, fb1 - fb0)) {
    if (p.dev == 0) {
      if (what & kAllocHoles) PMEMFS_RETURN_IF_ERROR(FillHole(p.fb, p.count, off, end, src));
      Advance((p.fb + p.count) * kBlock, end);
      continue;
    }
    // Runs of equally shared pages: pages mode copies shared ones before changing them.
    for (uint64_t i = 0; i < p.count;) {
      const bool shared = Shared(p.dev + i);
      uint64_t j = i + 1;
      while (j < p.count && Shared(p.dev + j) == shared) j++;
      if (shared && (what & (kWriteMapped | kUnshare))) {
        PMEMFS_RETURN_IF_ERROR(
            CopyOnWrite(p.fb + i, p.dev + i, j - i, off, end, src, (what & kWriteMapped) != 0));
      } else if (!shared && (what & kWriteMapped)) {
        PMEMFS_RETURN_IF_ERROR(WriteInPlace(p.fb + i, p.dev + i, j - i, off, end, src));
      }
      Advance((p.fb + j) * kBlock, end);
      i = j;
    }
  }
  return Status::Ok();
}

Status Filesystem::DataPath::WriteInPlace(uint64_t fb, uint64_t dev, uint64_t n, uint64_t off,
                                          uint64_t end, const std::byte* src) {
  const uint64_t lo = std::max(off, fb * kBlock), hi = std::min(end, (fb + n) * kBlock);
  const uint64_t at = dev * kBlock + (lo - fb * kBlock);
  // copy mode: bytes past the committed size reach the device before the size that exposes
  // them commits (ordered data), else a crash would show the new size over zeros.
  if (copy_ && hi > ip_.rec.size) {
    const uint64_t from = std::max(lo, ip_.rec.size);
    sync_.push_back({at + (from - lo), hi - from});
  }
  return src != nullptr ? DataWrite(at, src + (lo - off), hi - lo) : DataZero(at, hi - lo);
}

Status Filesystem::DataPath::FillHole(uint64_t fb, uint64_t n, uint64_t off, uint64_t end,
                                      const std::byte* src) {
  while (n > 0) {
    PMEMFS_ASSIGN_OR_RETURN(BlockRange r, Alloc(std::min(n, alloc_chunk_), Goal(fb)));
    const uint64_t lo = fb * kBlock, hi = (fb + r.count) * kBlock, base = r.start * kBlock;
    const uint64_t clo = std::clamp(off, lo, hi), chi = std::clamp(end, lo, hi);
    if (copy_) fs_.access_->Discard(base, hi - lo);  // nothing cached of a free block is valid
    // RAM pages come zeroed; device blocks hold whatever their last owner left.
    if (!ip_.is_volatile()) {
      if (src == nullptr) {
        PMEMFS_RETURN_IF_ERROR(DataZero(base, hi - lo));
      } else {
        PMEMFS_RETURN_IF_ERROR(DataZero(base, clo - lo));
        PMEMFS_RETURN_IF_ERROR(DataZero(base + (chi - lo), hi - chi));
      }
    }
    if (src != nullptr) PMEMFS_RETURN_IF_ERROR(DataWrite(base + (clo - lo), src + (clo - off), chi - clo));
    Status st = map_.Insert(ctx(), fb, r.start, r.count);
    map_dirty_ = true;  // also when it failed part way (a long run is two records)
    if (!st.ok()) return Poison(st);  // the reservation of r stays in the Tx
    SetNewPages(r.start, fb, r.count);
    rec.blocks += r.count;
    if (copy_) sync_.push_back({base, hi - lo});
    goal_ = r.end();
    fb += r.count;
    n -= r.count;
    Advance(fb * kBlock, end);
    PMEMFS_RETURN_IF_ERROR(MaybeFlush());
  }
  return Status::Ok();
}

// Gives file blocks [fb, fb+n) (now on shared pages from `dev`) pages of their own: the old
// content, with [off, end) replaced by `src`/zeros when `write`.
Status Filesystem::DataPath::CopyOnWrite(uint64_t fb, uint64_t dev, uint64_t n, uint64_t off,
                                         uint64_t end, const std::byte* src, bool write) {
  while (n > 0) {
    PMEMFS_ASSIGN_OR_RETURN(BlockRange r, Alloc(std::min(n, alloc_chunk_), Goal(fb)));
    const uint64_t lo = fb * kBlock, hi = (fb + r.count) * kBlock;
    const uint64_t base = r.start * kBlock, old = dev * kBlock;
    const uint64_t clo = write ? std::clamp(off, lo, hi) : lo;
    const uint64_t chi = write ? std::clamp(end, lo, hi) : lo;
    PMEMFS_RETURN_IF_ERROR(DataCopy(old, base, clo - lo));
    if (chi > clo) {
      PMEMFS_RETURN_IF_ERROR(src != nullptr ? DataWrite(base + (clo - lo), src + (clo - off), chi - clo)
                                            : DataZero(base + (clo - lo), chi - clo));
    }
    PMEMFS_RETURN_IF_ERROR(DataCopy(old + (chi - lo), base + (chi - lo), hi - chi));
    std::vector<BlockRange> freed;
    Status st = map_.Remove(ctx(), fb, r.count, &freed);
    if (st.ok()) st = map_.Insert(ctx(), fb, r.start, r.count);
    map_dirty_ = true;
    if (!st.ok()) return Poison(st);
    SetNewPages(r.start, fb, r.count);
    FreeDev(fs_, *tx_, ip_, freed, refs_);
    goal_ = r.end();
    fb += r.count;
    dev += r.count;
    n -= r.count;
    Advance(fb * kBlock, end);
    PMEMFS_RETURN_IF_ERROR(MaybeFlush());
  }
  return Status::Ok();
}

Status Filesystem::DataPath::CheckSpace(uint64_t off, uint64_t end) const {
  if (off >= end) return Status::Ok();
  uint64_t holes = 0;
  map_.ForEach(off / kBlock, DivUp(end, kBlock) - off / kBlock,
               [&](uint64_t, uint64_t dev, uint64_t n) { holes += dev == 0 ? n : 0; });
  const uint64_t free =
      ip_.is_volatile() ? fs_.ram_->free_pages() : fs_.store_->stats().free_blocks;
  if (holes > free)
    return Status::NoSpace("fallocate needs " + std::to_string(holes) + " blocks, " +
                           std::to_string(free) + " are free");
  return Status::Ok();
}

Status Filesystem::DataPath::ZeroTail(uint64_t old_size, uint64_t new_size) {
  if (new_size <= old_size || old_size % kBlock == 0) return Status::Ok();
  const uint64_t fb = old_size / kBlock;
  if (map_.Lookup(fb) == 0) return Status::Ok();
  const uint64_t stop = std::min(new_size, (fb + 1) * kBlock);
  const uint64_t saved_reached = reached_, saved_committed = committed_reached_;
  PMEMFS_RETURN_IF_ERROR(Fill(old_size, stop, nullptr, kWriteMapped));
  reached_ = saved_reached;
  committed_reached_ = saved_committed;
  // The zeros must be on the device before the size that exposes them is.
  if (copy_) sync_.push_back({map_.Lookup(fb) * kBlock + old_size % kBlock, stop - old_size});
  return Status::Ok();
}

// --- removing ---------------------------------------------------------------------------------

Status Filesystem::DataPath::Unmap(uint64_t fb, uint64_t n) {
  std::vector<Piece> pieces = Pieces(map_, fb, n);
  for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
    if (it->dev == 0) continue;
    for (uint64_t left = it->count; left > 0;) {
      const uint64_t k = std::min(left, alloc_chunk_);
      left -= k;
      std::vector<BlockRange> freed;
      Status st = map_.Remove(ctx(), it->fb + left, k, &freed);
      map_dirty_ = true;
      if (!st.ok()) return Poison(st);
      FreeDev(fs_, *tx_, ip_, freed, refs_);
      rec.blocks -= std::min(rec.blocks, k);
      PMEMFS_RETURN_IF_ERROR(MaybeFlush());
    }
  }
  return Status::Ok();
}

Status Filesystem::DataPath::Shrink(uint64_t size) {
  const uint64_t fb0 = DivUp(size, kBlock);
  rec.size = size;
  if (map_.NextData(fb0) != UINT64_MAX) {
    // Seen only if a step commits before the end: then mount finishes the job.
    rec.flags |= layout::kInodeTruncating;
    rec.pending_size = size;
    PMEMFS_RETURN_IF_ERROR(Unmap(fb0, UINT64_MAX - fb0));
  }
  rec.flags &= ~layout::kInodeTruncating;
  rec.pending_size = 0;
  return Finish();
}

// --- sharing ----------------------------------------------------------------------------------

Status Filesystem::DataPath::Share(const FileMap& src, uint64_t src_ino, uint64_t fb_in,
                                   uint64_t fb_out, uint64_t n) {
  PMEMFS_RETURN_IF_ERROR(Unmap(fb_out, n));
  // Collected first: when src is this file, the inserts below change the map being walked.
  std::vector<Piece> pieces = Pieces(src, fb_in, n);
  for (const Piece& p : pieces) {
    for (uint64_t done = 0; done < p.count;) {
      const uint64_t k = p.dev == 0 ? p.count - done : std::min(p.count - done, alloc_chunk_);
      const uint64_t at = fb_out + (p.fb - fb_in) + done;
      if (p.dev != 0) {
        const uint64_t dev = p.dev + done;
        Status st = map_.Insert(ctx(), at, dev, k);
        map_dirty_ = true;
        if (!st.ok()) return Poison(st);
        for (uint64_t i = 0; i < k; i++) {
          mapping::PageInfo info = refs_.Get(dev + i);
          if (info.refcount == 0)  // not tracked (a DRAM table after remount): one owner
            info = {.owner = src_ino, .file_index = p.fb + done + i, .refcount = 1,
                    .flags = layout::kPageAllocated};
          info.refcount++;
          info.flags |= layout::kPageAllocated | layout::kPageShared;
          refs_.Set(*tx_, dev + i, info);
        }
        rec.blocks += k;
      }
      done += k;
      Advance((at + k) * kBlock);
      PMEMFS_RETURN_IF_ERROR(MaybeFlush());
    }
  }
  return Status::Ok();
}

// --- reading ----------------------------------------------------------------------------------

Status Filesystem::DataPath::Read(Filesystem& fs, const Inode& ip, uint64_t off, uint64_t len,
                                  mapping::ReadRef* out) {
  out->Release();
  if (len == 0) return Status::Ok();
  const uint64_t end = off + len;
  const std::vector<Piece> pieces = Pieces(*ip.map, off / kBlock, DivUp(end, kBlock) - off / kBlock);
  auto bytes_of = [&](const Piece& p, uint64_t* at, uint64_t* lo, uint64_t* hi) {
    *lo = std::max(off, p.fb * kBlock);
    *hi = std::min(end, (p.fb + p.count) * kBlock);
    *at = p.dev * kBlock + (*lo - p.fb * kBlock);
  };

  // Copy mode and RAM files: one copy into the reply's own buffer (zeros where holes are).
  if (ip.is_volatile() || fs.access_->mode() == mapping::Mode::kCopy) {
    std::vector<std::byte>& buf = out->owned_buffer();
    buf.assign(len, std::byte{0});
    for (const Piece& p : pieces) {
      if (p.dev == 0) continue;
      uint64_t at, lo, hi;
      bytes_of(p, &at, &lo, &hi);
      Status st;
      if (ip.is_volatile()) {
        st = fs.dev_->bad_blocks().Check(at, hi - lo);
        if (st.ok()) fs.dev_->Read(at, buf.data() + (lo - off), hi - lo);
      } else {
        st = fs.access_->Read(at, {buf.data() + (lo - off), hi - lo});
      }
      if (!st.ok()) {
        out->Release();
        return st;
      }
    }
    out->AddSlice(buf.data(), buf.size());
    return Status::Ok();
  }

  // direct/pages: slices of the mapping (pages: pinned) and of the zero page, no copy.
  if (pieces.size() == 1 && pieces[0].dev != 0) {
    uint64_t at, lo, hi;
    bytes_of(pieces[0], &at, &lo, &hi);
    return fs.access_->ReadInPlace(at, hi - lo, out);
  }
  auto held = std::make_shared<std::vector<mapping::ReadRef>>();
  held->reserve(pieces.size());
  for (const Piece& p : pieces) {
    uint64_t at, lo, hi;
    bytes_of(p, &at, &lo, &hi);
    if (p.dev == 0) {
      for (uint64_t n = hi - lo; n > 0;) {
        const uint64_t k = std::min<uint64_t>(n, sizeof g_zeros);
        out->AddSlice(g_zeros, k);
        n -= k;
      }
      continue;
    }
    mapping::ReadRef part;
    Status st = fs.access_->ReadInPlace(at, hi - lo, &part);
    if (!st.ok()) {
      out->Release();
      return st;
    }
    for (const iovec& v : part.iov()) out->AddSlice(v.iov_base, v.iov_len);
    held->push_back(std::move(part));
  }
  if (!held->empty()) out->OnRelease([held] { held->clear(); });
  return Status::Ok();
}

void Filesystem::DataPath::TouchAtime(Filesystem& fs, const InodePtr& ip) {
  std::unique_lock lock(ip->mu);
  const int64_t now = NowNs();
  if (!NeedsAtime(fs.atime_policy(), ip->rec, now)) return;  // another reader did it
  InodeRecord rec = ip->rec;
  rec.atime_ns = now;
  store::Tx tx = fs.store_->Begin();
  fs.PutInode(tx, *ip, rec);
  if (fs.Commit(tx, {ip.get()}).ok()) ip->rec = rec;  // best effort: the read succeeded
}

// --- writing ----------------------------------------------------------------------------------

Result<uint64_t> Filesystem::DataPath::Write(const Caller& c, uint64_t off,
                                             std::span<const std::byte> data) {
  const uint64_t end = off + data.size();
  // With the FUSE writeback cache the kernel keeps a write's times (it sends them in a setattr
  // of its own); stamping the later write-back time here would move them.
  if (!fs_.opts_.kernel_write_times) rec.mtime_ns = rec.ctime_ns = NowNs();
  KillPriv(c, rec);
  PMEMFS_RETURN_IF_ERROR(ZeroTail(rec.size, off));
  set_reached(off);
  extend_ = true;
  Status st = Fill(off, end, data.data(), kAllocHoles | kWriteMapped);
  if (st.ok()) {
    if (extend_ && reached_ > rec.size) rec.size = reached_;
    if (OnlyTimesChanged()) {
      // The data is in place (and durable in direct/pages); the times commit later.
      ip_.rec = rec;
      times_deferred_ = true;
      return data.size();
    }
    PMEMFS_RETURN_IF_ERROR(Finish());
    return data.size();
  }
  // Out of space part way: keep what is in the file (a short write), as ext4 does.
  if (st.code() == Code::kNoSpace && !poisoned_ && reached_ > off) {
    PMEMFS_RETURN_IF_ERROR(Finish());
  } else {
    Abort();  // keeps what earlier steps committed
  }
  if (committed_reached_ > off) return committed_reached_ - off;
  return st;
}

// =============================================================================================
// Filesystem methods

Status Filesystem::Open(const Caller& c, uint64_t ino, int flags) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
  if (read_only() && ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)))
    return Status::ReadOnly("the filesystem is mounted read-only");
  if (ip->is_dir() && (flags & O_ACCMODE) != O_RDONLY)
    return Status::IsDirectory("cannot open directory " + std::to_string(ino) + " for writing");
  if ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)) {
    std::shared_lock lock(ip->mu);  // as the VFS's may_open: immutable, or not an append
    PMEMFS_RETURN_IF_ERROR(CheckNotImmutable(*ip, "open for writing"));
    if (ip->append_only() && (!(flags & O_APPEND) || (flags & O_TRUNC)))
      return Status::Permission("inode " + std::to_string(ino) +
                                " is append-only: open it with O_APPEND and without O_TRUNC");
  }
  cache_->Opened(*ip);
  if ((flags & O_TRUNC) && ip->is_reg()) {
    Status st = [&]() -> Status {
      std::unique_lock lock(ip->mu);
      PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(*ip));
      InodeRecord rec = ip->rec;
      store::Tx tx = store_->Begin();
      PMEMFS_RETURN_IF_ERROR(Truncate(*ip, rec, 0));
      rec.mtime_ns = rec.ctime_ns = NowNs();  // POSIX: even when it was empty
      KillPriv(c, rec);
      PutInode(tx, *ip, rec);
      PMEMFS_RETURN_IF_ERROR(Commit(tx, {ip.get()}));
      ip->rec = rec;
      return Status::Ok();
    }();
    if (!st.ok()) {
      cache_->OpenFailed(*ip);
      ip.reset();
      cache_->MaybeEvict(ino);
      return st;
    }
  }
  return Status::Ok();
}

Status Filesystem::Release(uint64_t ino) {
  Status st;
  {
    PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
    const bool last = cache_->Closed(*ip);
    if (last) {  // the last close commits the times its writes left pending
      std::unique_lock lock(ip->mu);
      (void)FoldLeasesLocked(*ip);
      st = flusher_->CommitTimes(*ip);
    }
    if (last && st.ok()) flusher_->Drop(ino);  // no longer held there: MaybeEvict may drop it
  }
  cache_->MaybeEvict(ino);
  return st;
}

Status Filesystem::Read(uint64_t ino, uint64_t off, uint64_t len, mapping::ReadRef* out) {
  out->Release();
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
  FoldLeases(ip);  // direct access: what clients appended is in the file
  bool touch = false;
  {
    std::shared_lock lock(ip->mu);
    PMEMFS_RETURN_IF_ERROR(CheckRegular(*ip));
    if (len == 0) return Status::Ok();
    PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(*ip));
    const uint64_t size = ip->rec.size;
    if (off < size)
      PMEMFS_RETURN_IF_ERROR(DataPath::Read(*this, *ip, off, std::min(len, size - off), out));
    touch = NeedsAtime(atime_policy(), ip->rec, NowNs());
  }
  if (touch) DataPath::TouchAtime(*this, ip);
  return Status::Ok();
}

bool Filesystem::AtimeDueLocked(const Inode& ip) const {
  return ip.is_reg() && NeedsAtime(atime_policy(), ip.rec, NowNs());
}

bool Filesystem::AtimeDue(uint64_t ino) {
  auto ip = cache_->Get(ino);
  if (!ip.ok()) return false;
  std::shared_lock lock((*ip)->mu);
  return AtimeDueLocked(**ip);
}

Result<uint64_t> Filesystem::Write(const Caller& c, uint64_t ino, uint64_t off,
                                   std::span<const std::byte> data) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
  if (read_only()) return Status::ReadOnly("the filesystem is mounted read-only");
  std::unique_lock lock(ip->mu);
  PMEMFS_RETURN_IF_ERROR(CheckRegular(*ip));
  // Also through a descriptor opened before the attribute was set (ext4 checks it here too).
  PMEMFS_RETURN_IF_ERROR(CheckNotImmutable(*ip, "write"));
  // The kernel's writeback cache writes whole pages back, the last one from before the old
  // end: append-only is then enforced at open only.
  if (ip->append_only() && off < ip->rec.size && !opts_.kernel_write_times)
    return Status::Permission("inode " + std::to_string(ino) + " is append-only: write at " +
                              std::to_string(off) + " is before its end");
  if (data.empty()) return uint64_t{0};
  if (off >= kMaxFileSize)
    return Status::TooBig("write at " + std::to_string(off) + " is past the largest file size");
  data = data.first(std::min<uint64_t>(data.size(), kMaxFileSize - off));
  PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(*ip));
  (void)QuiesceLeases(*ip, off, off + data.size(), LeaseChange::kWrite);
  const bool due_before = AtimeDueLocked(*ip);
  DataPath dp(*this, *ip);
  Result<uint64_t> n = dp.Write(c, off, data);
  if (dp.times_deferred()) flusher_->Defer(ip);
  // The sync attribute: durable on return, as with O_SYNC (copy mode's data, deferred times).
  const bool sync = ip->rec.flags & layout::kInodeSync;
  // The new mtime made an atime update due: what the kernel cached from earlier reads must go.
  // (While it stays due, nothing more: the next open for reading drops the cache, AtimeDue.)
  const bool drop = !due_before && AtimeDueLocked(*ip);
  lock.unlock();
  if (drop) DropCachedData(ino);
  if (sync && n.ok()) PMEMFS_RETURN_IF_ERROR(Fsync(ino, /*datasync=*/false));
  return n;
}

// --- write times committed late (flusher.h) ---------------------------------------------------

Status Filesystem::CommitRecord(Inode& ip) {
  store::Tx tx = store_->Begin();
  PutInode(tx, ip, ip.rec);
  return Commit(tx, {&ip});
}

// Persistent shrinks commit their own steps (a huge file takes several transactions, and shared
// pages must be released under SharedPagesMutex() through their commit); the caller writes
// `rec` afterwards. Volatile files change at once.
Status Filesystem::Truncate(Inode& ip, InodeRecord& rec, uint64_t size) {
  if (size > kMaxFileSize)
    return Status::TooBig("size " + std::to_string(size) + " is past the largest file size");
  PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(ip));
  (void)QuiesceLeases(ip, 0, UINT64_MAX, LeaseChange::kResize, &rec);
  const InodeRecord before = ip.rec;
  if (size > rec.size) {
    if (rec.size % kBlock != 0 && ip.map->Lookup(rec.size / kBlock) != 0) {
      DataPath dp(*this, ip);
      PMEMFS_RETURN_IF_ERROR(dp.ZeroTail(rec.size, size));
      PMEMFS_RETURN_IF_ERROR(dp.Finish());
    }
  } else if (ip.map->NextData(DivUp(size, kBlock)) != UINT64_MAX) {
    DataPath dp(*this, ip);
    PMEMFS_RETURN_IF_ERROR(dp.Shrink(size));
  }
  // What the steps committed, carried into the caller's record.
  rec.size = size;
  rec.flags &= ~layout::kInodeTruncating;
  rec.pending_size = 0;
  rec.map_head = ip.rec.map_head;
  rec.map_tail = ip.rec.map_tail;
  rec.blocks += ip.rec.blocks - before.blocks;  // modular: works for either sign
  return Status::Ok();
}

Status Filesystem::FinishTruncate(Inode& ip, bool to_zero) {
  const bool flagged = ip.rec.flags & layout::kInodeTruncating;
  if (!to_zero && !flagged) return Status::Ok();
  PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(ip));
  const uint64_t size = to_zero ? 0 : std::min(ip.rec.pending_size, ip.rec.size);
  if (!flagged && ip.map->NextData(0) == UINT64_MAX) return Status::Ok();  // nothing to free
  (void)QuiesceLeases(ip, 0, UINT64_MAX, LeaseChange::kResize);
  DataPath dp(*this, ip);
  return dp.Shrink(size);
}

Status Filesystem::Fsync(uint64_t ino, bool datasync) {
  (void)datasync;  // both commit pending write times (cheap, and what fsync needs)
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
  if (ip->is_volatile() || !ip->is_reg()) return Status::Ok();
  FoldLeases(ip);  // direct access: sizes and times clients reported go down too
  if (access_->mode() == mapping::Mode::kCopy) {
    std::shared_lock lock(ip->mu);
    PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(*ip));
    Status st;
    ip->map->ForEach(0, UINT64_MAX, [&](uint64_t, uint64_t dev, uint64_t n) {
      if (dev != 0 && st.ok()) st = access_->Sync(dev * kBlock, n * kBlock);
    });
    PMEMFS_RETURN_IF_ERROR(st);
  }
  // direct/pages: the data is durable already (on return from Write); the times may not be.
  std::unique_lock lock(ip->mu);
  return flusher_->CommitTimes(*ip);
}

Status Filesystem::SyncFs() { return flusher_->Flush(); }

Status Filesystem::Fallocate(uint64_t ino, int mode, uint64_t off, uint64_t len) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
  std::unique_lock lock(ip->mu);
  PMEMFS_RETURN_IF_ERROR(CheckRegular(*ip));
  PMEMFS_RETURN_IF_ERROR(CheckNotImmutable(*ip, "fallocate"));
  if (ip->append_only() && (mode & ~FALLOC_FL_KEEP_SIZE))  // as vfs_fallocate
    return Status::Permission("inode " + std::to_string(ino) +
                              " is append-only: no hole punching or zeroing");
  constexpr int kKnown = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE |
                         FALLOC_FL_UNSHARE_RANGE;
  if (mode & ~kKnown) return Status::Unsupported("fallocate mode " + std::to_string(mode));
  const int op = mode & ~FALLOC_FL_KEEP_SIZE;
  const bool keep = mode & FALLOC_FL_KEEP_SIZE;
  if (op != 0 && op != FALLOC_FL_PUNCH_HOLE && op != FALLOC_FL_ZERO_RANGE &&
      op != FALLOC_FL_UNSHARE_RANGE)
    return Status::InvalidArgument("fallocate: conflicting modes " + std::to_string(mode));
  if (op == FALLOC_FL_PUNCH_HOLE && !keep)
    return Status::Unsupported("fallocate: PUNCH_HOLE needs KEEP_SIZE");
  if (len == 0) return Status::InvalidArgument("fallocate: zero length");
  if (off > kMaxFileSize || len > kMaxFileSize - off)
    return Status::TooBig("fallocate past the largest file size");
  const uint64_t end = off + len;
  PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(*ip));
  (void)FoldLeasesLocked(*ip);
  (void)QuiesceLeases(*ip, off, end,
                      !(mode & FALLOC_FL_KEEP_SIZE) && end > ip->rec.size ? LeaseChange::kResize
                                                                          : LeaseChange::kRange);

  DataPath dp(*this, *ip);
  const int64_t now = NowNs();
  const uint64_t size = dp.rec.size;
  const bool grows = !keep && end > size && op != FALLOC_FL_UNSHARE_RANGE;
  Status st;
  switch (op) {
    case FALLOC_FL_PUNCH_HOLE: {
      // Partial blocks at the edges are zeroed, whole blocks unmapped.
      const uint64_t a = DivUp(off, kBlock) * kBlock, b = end / kBlock * kBlock;
      dp.rec.mtime_ns = dp.rec.ctime_ns = now;
      if (a >= b) {
        st = dp.Fill(off, end, nullptr, DataPath::kWriteMapped);
      } else {
        st = dp.Fill(off, a, nullptr, DataPath::kWriteMapped);
        if (st.ok()) st = dp.Fill(b, end, nullptr, DataPath::kWriteMapped);
        if (st.ok()) st = dp.Unmap(a / kBlock, (b - a) / kBlock);
      }
      break;
    }
    case FALLOC_FL_ZERO_RANGE:
      dp.rec.mtime_ns = dp.rec.ctime_ns = now;
      st = dp.CheckSpace(off, end);
      if (st.ok() && grows) st = dp.ZeroTail(size, off);
      if (st.ok()) st = dp.Fill(off, end, nullptr, DataPath::kAllocHoles | DataPath::kWriteMapped);
      break;
    case FALLOC_FL_UNSHARE_RANGE:
      st = dp.Fill(off, end, nullptr, DataPath::kUnshare);
      break;
    default:  // allocate
      dp.rec.ctime_ns = now;
      st = dp.CheckSpace(off, end);
      if (st.ok() && grows) {
        dp.rec.mtime_ns = now;
        st = dp.ZeroTail(size, end);
      }
      if (st.ok()) st = dp.Fill(off, end, nullptr, DataPath::kAllocHoles);
      break;
  }
  if (!st.ok()) {
    dp.Abort();
    return st;
  }
  if (grows) dp.rec.size = end;
  return dp.Finish();
}

Result<uint64_t> Filesystem::Lseek(uint64_t ino, uint64_t off, int whence) {
  if (whence != SEEK_DATA && whence != SEEK_HOLE)
    return Status::InvalidArgument("lseek: only SEEK_DATA and SEEK_HOLE are handled here");
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, cache_->Get(ino));
  FoldLeases(ip);
  std::shared_lock lock(ip->mu);
  PMEMFS_RETURN_IF_ERROR(CheckRegular(*ip));
  PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(*ip));
  const uint64_t size = ip->rec.size;
  // ENXIO for fs/fuse: the offset is at or past the end (or no data follows it).
  if (off >= size) return Status::Range("lseek: offset " + std::to_string(off) + " is past the end");
  const uint64_t fb = off / kBlock, last = DivUp(size, kBlock);
  if (whence == SEEK_DATA) {
    const uint64_t d = ip->map->NextData(fb);
    if (d >= last) return Status::Range("lseek: no data after " + std::to_string(off));
    return std::max(off, d * kBlock);
  }
  const uint64_t h = ip->map->NextHole(fb);
  if (h >= last) return size;  // the implicit hole at the end
  return std::max(off, h * kBlock);
}

Result<uint64_t> Filesystem::CopyFileRange(const Caller& c, uint64_t ino_in, uint64_t off_in,
                                           uint64_t ino_out, uint64_t off_out, uint64_t len) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr in, cache_->Get(ino_in));
  PMEMFS_ASSIGN_OR_RETURN(InodePtr out, cache_->Get(ino_out));
  const bool same = in == out;
  FoldLeases(in);  // direct access: what clients appended to the source is in it
  // Source shared, destination exclusive; two inodes in inode-number order.
  std::shared_lock<std::shared_mutex> lock_in(in->mu, std::defer_lock);
  std::unique_lock<std::shared_mutex> lock_out(out->mu, std::defer_lock);
  if (same) {
    lock_out.lock();
  } else if (in->ino < out->ino) {
    lock_in.lock();
    lock_out.lock();
  } else {
    lock_out.lock();
    lock_in.lock();
  }
  PMEMFS_RETURN_IF_ERROR(CheckRegular(*in));
  PMEMFS_RETURN_IF_ERROR(CheckRegular(*out));
  PMEMFS_RETURN_IF_ERROR(CheckNotImmutable(*out, "copy_file_range"));
  if (out->append_only() && off_out < out->rec.size)
    return Status::Permission("inode " + std::to_string(ino_out) + " is append-only");
  if (off_out >= kMaxFileSize && len > 0)
    return Status::TooBig("copy to " + std::to_string(off_out) + " is past the largest file size");
  const uint64_t size_in = in->rec.size;
  if (off_in >= size_in || len == 0) return uint64_t{0};
  len = std::min({len, size_in - off_in, kMaxFileSize - off_out});
  if (same && off_in < off_out + len && off_out < off_in + len)
    return Status::InvalidArgument("copy_file_range: overlapping ranges in one file");
  PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(*in));
  PMEMFS_RETURN_IF_ERROR(cache_->LoadMap(*out));
  (void)FoldLeasesLocked(*out);
  (void)QuiesceLeases(*out, off_out, off_out + len,
                      off_out + len > out->rec.size ? LeaseChange::kResize : LeaseChange::kRange);

  DataPath dp(*this, *out);
  dp.rec.mtime_ns = dp.rec.ctime_ns = NowNs();
  KillPriv(c, dp.rec);
  PMEMFS_RETURN_IF_ERROR(dp.ZeroTail(dp.rec.size, off_out));
  dp.set_reached(off_out);
  dp.set_extend(true);
  Status st;

  // pages mode, block-aligned, both on the device: share the whole blocks (an instant clone).
  // The superblock says so first, durably: other modes must not mount a filesystem with shared
  // pages (layout::kIncompatSharedPages).
  // (Not while a client may write the source's blocks in place: direct access.)
  if (access_->descriptors() != nullptr && !in->is_volatile() && !out->is_volatile() &&
      off_in % kBlock == 0 && off_out % kBlock == 0 && len >= kBlock &&
      !(leases_ && leases_->HasWriteLease(in->ino))) {
    const uint64_t n = len / kBlock;
    st = store_->SetFeatures(0, 0, layout::kIncompatSharedPages);
    if (st.ok()) st = dp.Share(*in->map, in->ino, off_in / kBlock, off_out / kBlock, n);
    if (st.ok()) dp.Advance(off_out + n * kBlock);
  }
  // The rest through the data path, skipping ranges that are holes on both sides.
  while (st.ok() && dp.reached() < off_out + len) {
    const uint64_t copied = dp.reached() - off_out;
    const uint64_t n = std::min(kCopyChunk, len - copied);
    const uint64_t from = off_in + copied, to = off_out + copied;
    if (in->map->NextData(from / kBlock) >= DivUp(from + n, kBlock) &&
        out->map->NextData(to / kBlock) >= DivUp(to + n, kBlock)) {
      dp.Advance(to + n);
      continue;
    }
    mapping::ReadRef ref;
    st = DataPath::Read(*this, *in, from, n, &ref);
    if (!st.ok()) break;
    std::vector<std::byte> flat;
    const std::byte* bytes;
    if (ref.iov().size() == 1) {
      bytes = static_cast<const std::byte*>(ref.iov()[0].iov_base);
    } else {
      flat = ref.ToBytes();
      bytes = flat.data();
    }
    st = dp.Fill(to, to + n, bytes, DataPath::kAllocHoles | DataPath::kWriteMapped);
  }
  if (!st.ok()) {
    // Keep what is in place (a short copy) when only space ran out; else what was committed.
    if (st.code() != Code::kNoSpace || dp.poisoned() || dp.reached() == off_out) dp.Abort();
    if (dp.reached() == off_out) return st;
  }
  PMEMFS_RETURN_IF_ERROR(dp.Finish());  // the size follows reached() (set_extend)
  return dp.reached() - off_out;
}

// --- direct access (leases.cc) ---------------------------------------------------------------

Status Filesystem::AllocateForLease(Inode& ip, uint64_t off, uint64_t end) {
  DataPath dp(*this, ip);
  const uint64_t size = dp.rec.size;
  // Clients will write past the committed size: marked (in the same commit as the blocks) so
  // that mount trims what a crash leaves there (leases.cc, kAheadMark).
  if (end > size) MarkAhead(dp.rec);
  Status st = dp.CheckSpace(off, end);
  if (st.ok() && end > size) st = dp.ZeroTail(size, end);
  if (st.ok()) st = dp.Fill(off, end, nullptr, DataPath::kAllocHoles | DataPath::kUnshare);
  if (!st.ok()) {
    dp.Abort();
    return st;
  }
  return dp.Finish();
}

Status Filesystem::TrimForLease(Inode& ip, uint64_t fb, uint64_t n) {
  DataPath dp(*this, ip);
  Status st = dp.Unmap(fb, n);
  if (!st.ok()) {
    dp.Abort();
    return st;
  }
  return dp.Finish();
}

}  // namespace pmemfs::core
