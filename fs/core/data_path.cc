// DataPath (data_path.h): the data path of fs/core: open/release, read, write, truncate,
// fallocate, lseek, copy_file_range, fsync. Each change of a file's blocks is one DataOp
// (data_op.h).
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
//     copy_file_range) zeroes them first (DataOp::ZeroTail).
//   - pages mode: every mapped page of a persistent file has a descriptor {owner, index,
//     refcount, kPageAllocated}; refcount > 1 marks a page shared by clones (copy_file_range):
//     writing it copies it first (copy-on-write), freeing it decrements the count and frees the
//     block at zero. Refcount changes of shared pages are read-modify-writes that other inodes'
//     operations race with, so they happen under SharedPagesMutex() from the read to the commit.
//     A page with refcount <= 1 belongs to one file only, whose inode lock the caller holds.
//   - One transaction never exceeds half the journal's limit: long operations commit in
//     steps (DataOp::MaybeFlush); a split truncate marks the inode kInodeTruncating so mount
//     finishes it.
//
// Locks: the inode's `mu` (exclusive to change data or size, shared to read); two inodes in
// inode-number order; SharedPagesMutex() innermost, held to the end of the operation.
#include "fs/core/data_path.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "fs/core/attributes.h"
#include "fs/core/data_op.h"

namespace pmemfs::core {

using layout::InodeRecord;

namespace {

// copy_file_range copies (where it cannot share) in chunks of this many bytes.
constexpr uint64_t kCopyChunk = 1ull << 20;

Status CheckRegular(const Inode& ip) {
  if (ip.is_dir()) return Status::IsDirectory("inode " + std::to_string(ip.ino) + " is a directory");
  if (!ip.is_reg())
    return Status::InvalidArgument("inode " + std::to_string(ip.ino) + " is not a regular file");
  return Status::Ok();
}

}  // namespace

Status DataPath::Open(const Caller& c, uint64_t ino, int flags) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(ino));
  if (ctx_.is_read_only() && ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)))
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
  ctx_.cache->Opened(*ip);
  if ((flags & O_TRUNC) && ip->is_reg()) {
    Status st = [&]() -> Status {
      std::unique_lock lock(ip->mu);
      PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadMap(*ip));
      InodeRecord rec = ip->rec;
      store::Tx tx = ctx_.store->Begin();
      PMEMFS_RETURN_IF_ERROR(Truncate(*ip, rec, 0));
      rec.mtime_ns = rec.ctime_ns = Context::NowNs();  // POSIX: even when it was empty
      KillPriv(c, rec);
      ctx_.PutInode(tx, *ip, rec);
      PMEMFS_RETURN_IF_ERROR(ctx_.Commit(tx, {ip.get()}));
      ip->rec = rec;
      return Status::Ok();
    }();
    if (!st.ok()) {
      ctx_.cache->OpenFailed(*ip);
      ip.reset();
      ctx_.cache->MaybeEvict(ino);
      return st;
    }
  }
  return Status::Ok();
}

Status DataPath::Release(uint64_t ino) {
  Status st;
  {
    PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(ino));
    const bool last = ctx_.cache->Closed(*ip);
    if (last) {  // the last close commits the times its writes left pending
      std::unique_lock lock(ip->mu);
      (void)FoldLeasesLocked(*ip);
      st = flusher_->CommitTimes(*ip);
    }
    if (last && st.ok()) flusher_->Drop(ino);  // no longer held there: MaybeEvict may drop it
  }
  ctx_.cache->MaybeEvict(ino);
  ctx_.cache->EvictDeferred();
  return st;
}

Status DataPath::Read(uint64_t ino, uint64_t off, uint64_t len, mapping::ReadRef* out) {
  out->Release();
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(ino));
  FoldLeases(ip);  // direct access: what clients appended is in the file
  bool touch = false;
  {
    std::shared_lock lock(ip->mu);
    PMEMFS_RETURN_IF_ERROR(CheckRegular(*ip));
    if (len == 0) return Status::Ok();
    PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadMap(*ip));
    const uint64_t size = ip->rec.size;
    if (off < size)
      PMEMFS_RETURN_IF_ERROR(DataOp::Read(ctx_, *ip, off, std::min(len, size - off), out));
    touch = NeedsAtime(ctx_.atime_policy(), ip->rec, Context::NowNs());
  }
  if (touch) DataOp::TouchAtime(ctx_, ip);
  return Status::Ok();
}

bool DataPath::AtimeDueLocked(const Inode& ip) const {
  return ip.is_reg() && NeedsAtime(ctx_.atime_policy(), ip.rec, Context::NowNs());
}

bool DataPath::AtimeDue(uint64_t ino) {
  auto ip = ctx_.cache->Get(ino);
  if (!ip.ok()) return false;
  std::shared_lock lock((*ip)->mu);
  return AtimeDueLocked(**ip);
}

Result<uint64_t> DataPath::Write(const Caller& c, uint64_t ino, uint64_t off,
                                 std::span<const std::byte> data) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(ino));
  if (ctx_.is_read_only()) return Status::ReadOnly("the filesystem is mounted read-only");
  std::unique_lock lock(ip->mu);
  PMEMFS_RETURN_IF_ERROR(CheckRegular(*ip));
  // Also through a descriptor opened before the attribute was set (ext4 checks it here too).
  PMEMFS_RETURN_IF_ERROR(CheckNotImmutable(*ip, "write"));
  // The kernel's writeback cache writes whole pages back, the last one from before the old
  // end: append-only is then enforced at open only.
  if (ip->append_only() && off < ip->rec.size && !ctx_.opts.kernel_write_times)
    return Status::Permission("inode " + std::to_string(ino) + " is append-only: write at " +
                              std::to_string(off) + " is before its end");
  if (data.empty()) return uint64_t{0};
  if (off >= kMaxFileSize)
    return Status::TooBig("write at " + std::to_string(off) + " is past the largest file size");
  data = data.first(std::min<uint64_t>(data.size(), kMaxFileSize - off));
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadMap(*ip));
  (void)QuiesceLeases(*ip, off, off + data.size(), LeaseChange::kWrite);
  // (AtimeDueLocked of a regular file, with one clock read for both checks.)
  const int64_t now = Context::NowNs();
  const bool due_before = NeedsAtime(ctx_.atime_policy(), ip->rec, now);
  DataOp dp(ctx_, *ip);
  Result<uint64_t> n = dp.Write(c, off, data);
  if (dp.times_deferred()) flusher_->Defer(ip);
  // The sync attribute: durable on return, as with O_SYNC (copy mode's data, deferred times).
  const bool sync = ip->rec.flags & layout::kInodeSync;
  // The new mtime made an atime update due: what the kernel cached from earlier reads must go.
  // (While it stays due, nothing more: the next open for reading drops the cache, AtimeDue.)
  const bool drop = !due_before && NeedsAtime(ctx_.atime_policy(), ip->rec, now);
  lock.unlock();
  if (drop) ctx_.DropCachedData(ino);
  if (sync && n.ok()) PMEMFS_RETURN_IF_ERROR(Fsync(ino, /*datasync=*/false));
  return n;
}

// --- write times committed late (flusher.h) ---------------------------------------------------

Status DataPath::CommitRecord(Inode& ip) {
  store::Tx tx = ctx_.store->Begin();
  ctx_.PutInode(tx, ip, ip.rec);
  return ctx_.Commit(tx, {&ip});
}

// Persistent shrinks commit their own steps (a huge file takes several transactions, and shared
// pages must be released under SharedPagesMutex() through their commit); the caller writes
// `rec` afterwards. Volatile files change at once.
Status DataPath::Truncate(Inode& ip, InodeRecord& rec, uint64_t size) {
  if (size > kMaxFileSize)
    return Status::TooBig("size " + std::to_string(size) + " is past the largest file size");
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadMap(ip));
  (void)QuiesceLeases(ip, 0, UINT64_MAX, LeaseChange::kResize, &rec);
  const InodeRecord before = ip.rec;
  if (size > rec.size) {
    if (rec.size % kBlock != 0 && ip.map->Lookup(rec.size / kBlock) != 0) {
      DataOp dp(ctx_, ip);
      PMEMFS_RETURN_IF_ERROR(dp.ZeroTail(rec.size, size));
      PMEMFS_RETURN_IF_ERROR(dp.Finish());
    }
  } else if (ip.map->NextData(DivUp(size, kBlock)) != UINT64_MAX) {
    DataOp dp(ctx_, ip);
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

Status DataPath::FinishTruncate(Inode& ip, bool to_zero) {
  const bool flagged = ip.rec.flags & layout::kInodeTruncating;
  if (!to_zero && !flagged) return Status::Ok();
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadMap(ip));
  const uint64_t size = to_zero ? 0 : std::min(ip.rec.pending_size, ip.rec.size);
  if (!flagged && ip.map->NextData(0) == UINT64_MAX) return Status::Ok();  // nothing to free
  (void)QuiesceLeases(ip, 0, UINT64_MAX, LeaseChange::kResize);
  DataOp dp(ctx_, ip);
  return dp.Shrink(size);
}

Status DataPath::Fsync(uint64_t ino, bool datasync) {
  (void)datasync;  // both commit pending write times (cheap, and what fsync needs)
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(ino));
  if (!ip->is_reg()) return Status::Ok();
  mapping::Access& acc = ctx_.AccessFor(*ip);
  if (!acc.persistent()) return Status::Ok();  // RAM files: gone at remount whatever we do
  FoldLeases(ip);  // direct access: sizes and times clients reported go down too
  if (acc.buffers_writes()) {
    std::shared_lock lock(ip->mu);
    PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadMap(*ip));
    Status st;
    ip->map->ForEach(0, UINT64_MAX, [&](uint64_t, uint64_t dev, uint64_t n) {
      if (dev != 0 && st.ok()) st = acc.Sync(dev * kBlock, n * kBlock);
    });
    PMEMFS_RETURN_IF_ERROR(st);
  }
  // Unbuffered: the data is durable already (on return from Write); the times may not be.
  std::unique_lock lock(ip->mu);
  return flusher_->CommitTimes(*ip);
}

Status DataPath::CheckFallocate(const Inode& ip, int mode, uint64_t off, uint64_t len) {
  PMEMFS_RETURN_IF_ERROR(CheckRegular(ip));
  PMEMFS_RETURN_IF_ERROR(CheckNotImmutable(ip, "fallocate"));
  if (ip.append_only() && (mode & ~FALLOC_FL_KEEP_SIZE))  // as vfs_fallocate
    return Status::Permission("inode " + std::to_string(ip.ino) +
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
  return Status::Ok();
}

Status DataPath::Fallocate(uint64_t ino, int mode, uint64_t off, uint64_t len) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(ino));
  std::unique_lock lock(ip->mu);
  PMEMFS_RETURN_IF_ERROR(CheckFallocate(*ip, mode, off, len));
  const int op = mode & ~FALLOC_FL_KEEP_SIZE;
  const bool keep = mode & FALLOC_FL_KEEP_SIZE;
  const uint64_t end = off + len;
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadMap(*ip));
  (void)FoldLeasesLocked(*ip);
  (void)QuiesceLeases(*ip, off, end,
                      !(mode & FALLOC_FL_KEEP_SIZE) && end > ip->rec.size ? LeaseChange::kResize
                                                                          : LeaseChange::kRange);

  DataOp dp(ctx_, *ip);
  const bool grows = !keep && end > dp.rec.size && op != FALLOC_FL_UNSHARE_RANGE;
  if (Status st = FallocateRange(dp, op, grows, off, end); !st.ok()) {
    dp.Abort();
    return st;
  }
  if (grows) dp.rec.size = end;
  return dp.Finish();
}

Status DataPath::FallocateRange(DataOp& dp, int op, bool grows, uint64_t off, uint64_t end) {
  const int64_t now = Context::NowNs();
  const uint64_t size = dp.rec.size;
  switch (op) {
    case FALLOC_FL_PUNCH_HOLE: {
      // Partial blocks at the edges are zeroed, whole blocks unmapped.
      const uint64_t a = DivUp(off, kBlock) * kBlock, b = end / kBlock * kBlock;
      dp.rec.mtime_ns = dp.rec.ctime_ns = now;
      if (a >= b) return dp.Fill(off, end, nullptr, DataOp::kWriteMapped);
      PMEMFS_RETURN_IF_ERROR(dp.Fill(off, a, nullptr, DataOp::kWriteMapped));
      PMEMFS_RETURN_IF_ERROR(dp.Fill(b, end, nullptr, DataOp::kWriteMapped));
      return dp.Unmap(a / kBlock, (b - a) / kBlock);
    }
    case FALLOC_FL_ZERO_RANGE:
      dp.rec.mtime_ns = dp.rec.ctime_ns = now;
      PMEMFS_RETURN_IF_ERROR(dp.CheckSpace(off, end));
      if (grows) PMEMFS_RETURN_IF_ERROR(dp.ZeroTail(size, off));
      return dp.Fill(off, end, nullptr, DataOp::kAllocHoles | DataOp::kWriteMapped);
    case FALLOC_FL_UNSHARE_RANGE:
      return dp.Fill(off, end, nullptr, DataOp::kUnshare);
    default:  // allocate
      dp.rec.ctime_ns = now;
      PMEMFS_RETURN_IF_ERROR(dp.CheckSpace(off, end));
      if (grows) {
        dp.rec.mtime_ns = now;
        PMEMFS_RETURN_IF_ERROR(dp.ZeroTail(size, end));
      }
      return dp.Fill(off, end, nullptr, DataOp::kAllocHoles);
  }
}

Result<uint64_t> DataPath::Lseek(uint64_t ino, uint64_t off, int whence) {
  if (whence != SEEK_DATA && whence != SEEK_HOLE)
    return Status::InvalidArgument("lseek: only SEEK_DATA and SEEK_HOLE are handled here");
  PMEMFS_ASSIGN_OR_RETURN(InodePtr ip, ctx_.cache->Get(ino));
  FoldLeases(ip);
  std::shared_lock lock(ip->mu);
  PMEMFS_RETURN_IF_ERROR(CheckRegular(*ip));
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadMap(*ip));
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

Status DataPath::CheckCopy(const Inode& in, const Inode& out, uint64_t off_in, uint64_t off_out,
                           uint64_t* len) {
  PMEMFS_RETURN_IF_ERROR(CheckRegular(in));
  PMEMFS_RETURN_IF_ERROR(CheckRegular(out));
  PMEMFS_RETURN_IF_ERROR(CheckNotImmutable(out, "copy_file_range"));
  if (out.append_only() && off_out < out.rec.size)
    return Status::Permission("inode " + std::to_string(out.ino) + " is append-only");
  if (off_out >= kMaxFileSize && *len > 0)
    return Status::TooBig("copy to " + std::to_string(off_out) + " is past the largest file size");
  const uint64_t size_in = in.rec.size;
  if (off_in >= size_in || *len == 0) {
    *len = 0;
    return Status::Ok();
  }
  *len = std::min({*len, size_in - off_in, kMaxFileSize - off_out});
  if (&in == &out && off_in < off_out + *len && off_out < off_in + *len)
    return Status::InvalidArgument("copy_file_range: overlapping ranges in one file");
  return Status::Ok();
}

Result<uint64_t> DataPath::CopyFileRange(const Caller& c, uint64_t ino_in, uint64_t off_in,
                                         uint64_t ino_out, uint64_t off_out, uint64_t len) {
  PMEMFS_ASSIGN_OR_RETURN(InodePtr in, ctx_.cache->Get(ino_in));
  PMEMFS_ASSIGN_OR_RETURN(InodePtr out, ctx_.cache->Get(ino_out));
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
  PMEMFS_RETURN_IF_ERROR(CheckCopy(*in, *out, off_in, off_out, &len));
  if (len == 0) return uint64_t{0};
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadMap(*in));
  PMEMFS_RETURN_IF_ERROR(ctx_.cache->LoadMap(*out));
  (void)FoldLeasesLocked(*out);
  (void)QuiesceLeases(*out, off_out, off_out + len,
                      off_out + len > out->rec.size ? LeaseChange::kResize : LeaseChange::kRange);

  DataOp dp(ctx_, *out);
  dp.rec.mtime_ns = dp.rec.ctime_ns = Context::NowNs();
  KillPriv(c, dp.rec);
  PMEMFS_RETURN_IF_ERROR(dp.ZeroTail(dp.rec.size, off_out));
  dp.set_reached(off_out);
  dp.set_extend(true);
  if (Status st = CopyRange(dp, *in, *out, off_in, off_out, len); !st.ok()) {
    // Keep what is in place (a short copy) when only space ran out; else what was committed.
    if (st.code() != Code::kNoSpace || dp.poisoned() || dp.reached() == off_out) dp.Abort();
    if (dp.reached() == off_out) return st;
  }
  PMEMFS_RETURN_IF_ERROR(dp.Finish());  // the size follows reached() (set_extend)
  return dp.reached() - off_out;
}

Status DataPath::CopyRange(DataOp& dp, const Inode& in, const Inode& out, uint64_t off_in,
                           uint64_t off_out, uint64_t len) {
  // pages mode, block-aligned, both on the device: share the whole blocks (an instant clone).
  // The superblock says so first, durably: other modes must not mount a filesystem with shared
  // pages (layout::kIncompatSharedPages).
  // (Not while a client may write the source's blocks in place: direct access.)
  if (ctx_.AccessFor(in).descriptors() != nullptr && ctx_.AccessFor(out).descriptors() != nullptr &&
      off_in % kBlock == 0 && off_out % kBlock == 0 && len >= kBlock &&
      !leases_.has_write_lease(in.ino)) {
    const uint64_t n = len / kBlock;
    PMEMFS_RETURN_IF_ERROR(ctx_.store->SetFeatures(0, 0, layout::kIncompatSharedPages));
    PMEMFS_RETURN_IF_ERROR(dp.Share(*in.map, in.ino, off_in / kBlock, off_out / kBlock, n));
    dp.Advance(off_out + n * kBlock);
  }
  // The rest through the data path, skipping ranges that are holes on both sides.
  while (dp.reached() < off_out + len) {
    const uint64_t copied = dp.reached() - off_out;
    const uint64_t n = std::min(kCopyChunk, len - copied);
    const uint64_t from = off_in + copied, to = off_out + copied;
    if (in.map->NextData(from / kBlock) >= DivUp(from + n, kBlock) &&
        out.map->NextData(to / kBlock) >= DivUp(to + n, kBlock)) {
      dp.Advance(to + n);
      continue;
    }
    mapping::ReadRef ref;
    PMEMFS_RETURN_IF_ERROR(DataOp::Read(ctx_, in, from, n, &ref));
    std::vector<std::byte> flat;
    const std::byte* bytes;
    if (ref.iov().size() == 1) {
      bytes = static_cast<const std::byte*>(ref.iov()[0].iov_base);
    } else {
      flat = ref.ToBytes();
      bytes = flat.data();
    }
    PMEMFS_RETURN_IF_ERROR(dp.Fill(to, to + n, bytes, DataOp::kAllocHoles | DataOp::kWriteMapped));
  }
  return Status::Ok();
}

// --- direct access (leases.cc) ---------------------------------------------------------------

Status DataPath::AllocateForLease(Inode& ip, uint64_t off, uint64_t end, bool zero_tail) {
  DataOp dp(ctx_, ip);
  const uint64_t size = dp.rec.size;
  // Clients will write past the committed size: marked (in the same commit as the blocks) so
  // that mount trims what a crash leaves there (leases.cc, kAheadMark).
  if (end > size) {
    dp.rec.flags |= layout::kInodeTruncating;
    dp.rec.pending_size = layout::kPendingSizeAhead;
  }
  Status st = dp.CheckSpace(off, end);
  if (st.ok() && end > size && zero_tail) st = dp.ZeroTail(size, end);
  if (st.ok()) st = dp.Fill(off, end, nullptr, DataOp::kAllocHoles | DataOp::kUnshare);
  if (!st.ok()) {
    dp.Abort();
    return st;
  }
  return dp.Finish();
}

Status DataPath::ForgetPastSize(Inode& ip, uint64_t end, uint64_t free_lo, uint64_t free_hi) {
  DataOp dp(ctx_, ip);
  const uint64_t size = dp.rec.size;
  if (end <= size) return Status::Ok();
  const uint64_t fb = DivUp(size, kBlock), fe = DivUp(end, kBlock);
  const uint64_t a = std::clamp(free_lo, fb, fe), b = std::clamp(free_hi, a, fe);
  // Zeros go to the device in place (before the commit); the blocks freed go with the commit.
  Status st = dp.Fill(size, a * kBlock, nullptr, DataOp::kWriteMapped);
  if (st.ok()) st = dp.Fill(b * kBlock, fe * kBlock, nullptr, DataOp::kWriteMapped);
  if (st.ok() && b > a) st = dp.Unmap(a, b - a);
  if (!st.ok()) {
    dp.Abort();
    return st;
  }
  return dp.Finish();
}

Status DataPath::TrimForLease(Inode& ip, uint64_t fb, uint64_t n) {
  DataOp dp(ctx_, ip);
  Status st = dp.Unmap(fb, n);
  if (!st.ok()) {
    dp.Abort();
    return st;
  }
  return dp.Finish();
}

}  // namespace pmemfs::core
