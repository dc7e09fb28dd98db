// DataOp (data_op.h): filling, allocation, copy-on-write, removal, sharing, reading.
#include "fs/core/data_op.h"

#include <algorithm>
#include <cstring>

namespace pmemfs::core {

using layout::InodeRecord;
using store::BlockRange;

namespace {

constexpr int64_t kRelatimeWindowNs = 24ll * 3600 * 1000000000;

// Never written: the zero bytes that holes are read from in place (in .bss, so untouched pages
// cost no memory).
alignas(4096) std::byte g_zeros[1 << 20];

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

}  // namespace

std::mutex& SharedPagesMutex() {
  static std::mutex mu;
  return mu;
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

DataOp::DataOp(Context& ctx, Inode& ip)
    : rec(ip.rec),
      ctx_(ctx),
      ip_(ip),
      map_(*ip.map),
      acc_(ctx.AccessFor(ip)),
      pages_(acc_.descriptors() != nullptr),
      buffered_(acc_.buffers_writes()),
      refs_(acc_.descriptors()) {}

void DataOp::Begin() {
  tx_.emplace(ctx_.store->Begin());
  if (budget_ != 0) return;
  budget_ = ctx_.store->max_tx_bytes() / 2;
  // pages mode: a block may change two descriptors (the old page's and the new one's).
  const uint64_t per_block = store::Store::DescriptorChangesCost(2);
  alloc_chunk_ = pages_ ? std::clamp<uint64_t>(budget_ / 4 / per_block, 16, 8192)
                        : std::max<uint64_t>(64, budget_ / 2);
}

// --- device data ------------------------------------------------------------------------------

Status DataOp::DataWrite(uint64_t off, const std::byte* src, uint64_t len) {
  if (ctx_.is_read_only()) return Status::ReadOnly("the filesystem is mounted read-only");
  if (len == 0) return Status::Ok();
  return acc_.Write(off, {src, len});
}

Status DataOp::DataZero(uint64_t off, uint64_t len) {
  if (ctx_.is_read_only()) return Status::ReadOnly("the filesystem is mounted read-only");
  if (len == 0) return Status::Ok();
  return acc_.Zero(off, len);
}

Status DataOp::DataCopy(uint64_t from, uint64_t to, uint64_t len) {
  std::vector<std::byte> buf(std::min<uint64_t>(len, 256 << 10));
  for (uint64_t done = 0; done < len;) {
    const uint64_t n = std::min<uint64_t>(buf.size(), len - done);
    PMEMFS_RETURN_IF_ERROR(acc_.Read(from + done, {buf.data(), n}));
    PMEMFS_RETURN_IF_ERROR(DataWrite(to + done, buf.data(), n));
    done += n;
  }
  return Status::Ok();
}

// --- allocation -------------------------------------------------------------------------------

// Near the block before `fb`, else after the last allocation, else in the inode's share of the
// data area (so files written side by side do not interleave).
uint64_t DataOp::Goal(uint64_t fb) const {
  if (fb > 0) {
    if (uint64_t prev = map_.Lookup(fb - 1); prev != 0) return prev + 1;
  }
  if (goal_ != 0) return goal_;
  const layout::Superblock& sb = ctx_.store->superblock();
  if (sb.inode_count == 0) return 0;
  return sb.data_start + static_cast<uint64_t>(static_cast<unsigned __int128>(ip_.ino - 1) *
                                               sb.data_blocks / sb.inode_count);
}

// Up to `want` contiguous blocks (at least one); NoSpace leaves the Tx as it was. A run of 1 MiB
// or more (allocation ahead for a lease, a large write or fallocate) starts, where the free space
// allows, at the 2 MiB colour of its file offset: a mapping of the file then gets 2 MiB pages
// on every 2 MiB of it that one run holds, whatever the other runs.
Result<BlockRange> DataOp::Alloc(uint64_t want, uint64_t fb) {
  constexpr uint64_t kColouredMin = (1ull << 20) / kBlock;
  if (!ip_.is_volatile())
    return ctx_.store->AllocBlocks(tx(), want, Goal(fb),
                                   want >= kColouredMin ? fb : store::Store::kNoFileBlock);
  for (uint64_t n = want;; n = (n + 1) / 2) {
    Result<uint64_t> r = ctx_.ram->Allocate(n);
    if (r.ok()) return BlockRange{*r / kBlock, n};
    if (r.status().code() != Code::kNoSpace || n == 1) return r.status();
  }
}

void DataOp::SetNewPages(uint64_t dev, uint64_t fb, uint64_t n) {
  if (!pages_) return;
  for (uint64_t i = 0; i < n; i++)
    refs_.Set(tx(), dev + i,
              {.owner = ip_.ino, .file_index = fb + i, .refcount = 1,
               .flags = layout::kPageAllocated});
}

void DataOp::FreeDev(Context& ctx, store::Tx& tx, const Inode& ip,
                                   const std::vector<BlockRange>& freed, RefTracker& refs) {
  for (const BlockRange& r : freed) {
    if (ip.is_volatile()) {
      (void)ctx.ram->Free(r.start * kBlock, r.count);  // pages
      continue;
    }
    if (ctx.AccessFor(ip).descriptors() == nullptr) {
      ctx.store->FreeBlocks(tx, r);
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
          if (run.count != 0) ctx.store->FreeBlocks(tx, run);
          run = {p, 1};
        }
      } else {
        info.refcount--;
        if (info.refcount == 1) info.flags &= ~layout::kPageShared;
        refs.Set(tx, p, info);
      }
    }
    if (run.count != 0) ctx.store->FreeBlocks(tx, run);
  }
}

// --- commits ----------------------------------------------------------------------------------

bool DataOp::OnlyTimesChanged() const {
  if (ip_.is_volatile() || map_dirty_ || (tx_ && !tx_->empty()) || !sync_.empty()) return false;
  InodeRecord r = rec;
  r.mtime_ns = ip_.rec.mtime_ns;
  r.ctime_ns = ip_.rec.ctime_ns;
  return std::memcmp(&r, &ip_.rec, sizeof r) == 0;
}

Status DataOp::Flush() {
  if (extend_ && reached_ > rec.size) rec.size = reached_;
  for (const mapping::Range& r : sync_) PMEMFS_RETURN_IF_ERROR(acc_.Sync(r.offset, r.length));
  sync_.clear();
  if (ip_.is_volatile()) {
    ip_.rec = rec;
    committed_reached_ = reached_;
    return Status::Ok();
  }
  if ((!tx_ || tx_->empty()) && std::memcmp(&rec, &ip_.rec, sizeof rec) == 0) return Status::Ok();
  ctx_.PutInode(tx(), ip_, rec);
  Status st = ctx_.Commit(*tx_, {&ip_});
  tx_.reset();  // the next change begins another
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

void DataOp::Abort() {
  if (ip_.is_volatile()) {  // the DRAM map is the file: what was done stays done
    (void)Flush();
    return;
  }
  tx_.reset();  // releases its reservations
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

Status DataOp::Fill(uint64_t off, uint64_t end, const std::byte* src, unsigned what) {
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

Status DataOp::WriteInPlace(uint64_t fb, uint64_t dev, uint64_t n, uint64_t off,
                                          uint64_t end, const std::byte* src) {
  const uint64_t lo = std::max(off, fb * kBlock), hi = std::min(end, (fb + n) * kBlock);
  const uint64_t at = dev * kBlock + (lo - fb * kBlock);
  // Buffered writes: bytes past the committed size reach the device before the size that
  // exposes them commits (ordered data), else a crash would show the new size over zeros.
  if (buffered_ && hi > ip_.rec.size) {
    const uint64_t from = std::max(lo, ip_.rec.size);
    sync_.push_back({at + (from - lo), hi - from});
  }
  return src != nullptr ? DataWrite(at, src + (lo - off), hi - lo) : DataZero(at, hi - lo);
}

Status DataOp::FillHole(uint64_t fb, uint64_t n, uint64_t off, uint64_t end,
                                      const std::byte* src) {
  while (n > 0) {
    PMEMFS_ASSIGN_OR_RETURN(BlockRange r, Alloc(std::min(n, alloc_chunk()), fb));
    const uint64_t lo = fb * kBlock, hi = (fb + r.count) * kBlock, base = r.start * kBlock;
    const uint64_t clo = std::clamp(off, lo, hi), chi = std::clamp(end, lo, hi);
    acc_.Discard(base, hi - lo);  // nothing cached of a free block is valid (a no-op uncached)
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
    if (buffered_) sync_.push_back({base, hi - lo});
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
Status DataOp::CopyOnWrite(uint64_t fb, uint64_t dev, uint64_t n, uint64_t off,
                                         uint64_t end, const std::byte* src, bool write) {
  while (n > 0) {
    PMEMFS_ASSIGN_OR_RETURN(BlockRange r, Alloc(std::min(n, alloc_chunk()), fb));
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
    FreeDev(ctx_, tx(), ip_, freed, refs_);
    goal_ = r.end();
    fb += r.count;
    dev += r.count;
    n -= r.count;
    Advance(fb * kBlock, end);
    PMEMFS_RETURN_IF_ERROR(MaybeFlush());
  }
  return Status::Ok();
}

Status DataOp::CheckSpace(uint64_t off, uint64_t end) const {
  if (off >= end) return Status::Ok();
  uint64_t holes = 0;
  map_.ForEach(off / kBlock, DivUp(end, kBlock) - off / kBlock,
               [&](uint64_t, uint64_t dev, uint64_t n) { holes += dev == 0 ? n : 0; });
  const uint64_t free =
      ip_.is_volatile() ? ctx_.ram->free_pages() : ctx_.store->stats().free_blocks;
  if (holes > free)
    return Status::NoSpace("fallocate needs " + std::to_string(holes) + " blocks, " +
                           std::to_string(free) + " are free");
  return Status::Ok();
}

Status DataOp::ZeroTail(uint64_t old_size, uint64_t new_size) {
  if (new_size <= old_size || old_size % kBlock == 0) return Status::Ok();
  const uint64_t fb = old_size / kBlock;
  if (map_.Lookup(fb) == 0) return Status::Ok();
  const uint64_t stop = std::min(new_size, (fb + 1) * kBlock);
  const uint64_t saved_reached = reached_, saved_committed = committed_reached_;
  PMEMFS_RETURN_IF_ERROR(Fill(old_size, stop, nullptr, kWriteMapped));
  reached_ = saved_reached;
  committed_reached_ = saved_committed;
  // The zeros must be on the device before the size that exposes them is.
  if (buffered_) sync_.push_back({map_.Lookup(fb) * kBlock + old_size % kBlock, stop - old_size});
  return Status::Ok();
}

// --- removing ---------------------------------------------------------------------------------

Status DataOp::Unmap(uint64_t fb, uint64_t n) {
  std::vector<Piece> pieces = Pieces(map_, fb, n);
  for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
    if (it->dev == 0) continue;
    for (uint64_t left = it->count; left > 0;) {
      const uint64_t k = std::min(left, alloc_chunk());
      left -= k;
      std::vector<BlockRange> freed;
      Status st = map_.Remove(ctx(), it->fb + left, k, &freed);
      map_dirty_ = true;
      if (!st.ok()) return Poison(st);
      FreeDev(ctx_, tx(), ip_, freed, refs_);
      rec.blocks -= std::min(rec.blocks, k);
      PMEMFS_RETURN_IF_ERROR(MaybeFlush());
    }
  }
  return Status::Ok();
}

Status DataOp::Shrink(uint64_t size) {
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

Status DataOp::Share(const FileMap& src, uint64_t src_ino, uint64_t fb_in,
                                   uint64_t fb_out, uint64_t n) {
  PMEMFS_RETURN_IF_ERROR(Unmap(fb_out, n));
  // Collected first: when src is this file, the inserts below change the map being walked.
  std::vector<Piece> pieces = Pieces(src, fb_in, n);
  for (const Piece& p : pieces) {
    for (uint64_t done = 0; done < p.count;) {
      const uint64_t k = p.dev == 0 ? p.count - done : std::min(p.count - done, alloc_chunk());
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
          refs_.Set(tx(), dev + i, info);
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

Status DataOp::Read(Context& ctx, const Inode& ip, uint64_t off, uint64_t len,
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

  // Slices of what the inode's strategy hands out: the mapping itself in direct and pages mode
  // (pinned until the reply is sent), a copy it owns in copy mode and for RAM files; holes are
  // slices of the zero page.
  mapping::Access& acc = ctx.AccessFor(ip);
  if (pieces.size() == 1 && pieces[0].dev != 0) {
    uint64_t at, lo, hi;
    bytes_of(pieces[0], &at, &lo, &hi);
    return acc.ReadInPlace(at, hi - lo, out);
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
    Status st = acc.ReadInPlace(at, hi - lo, &part);
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

void DataOp::TouchAtime(Context& ctx, const InodePtr& ip) {
  std::unique_lock lock(ip->mu);
  const int64_t now = Context::NowNs();
  if (!NeedsAtime(ctx.atime_policy(), ip->rec, now)) return;  // another reader did it
  InodeRecord rec = ip->rec;
  rec.atime_ns = now;
  store::Tx tx = ctx.store->Begin();
  ctx.PutInode(tx, *ip, rec);
  if (ctx.Commit(tx, {ip.get()}).ok()) ip->rec = rec;  // best effort: the read succeeded
}

// --- writing ----------------------------------------------------------------------------------

Result<uint64_t> DataOp::Write(const Caller& c, uint64_t off,
                                             std::span<const std::byte> data) {
  const uint64_t end = off + data.size();
  // With the FUSE writeback cache the kernel keeps a write's times (it sends them in a setattr
  // of its own); stamping the later write-back time here would move them.
  if (!ctx_.opts.kernel_write_times) rec.mtime_ns = rec.ctime_ns = Context::NowNs();
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

}  // namespace pmemfs::core
