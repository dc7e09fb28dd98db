#include "client/file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <shared_mutex>

#include "client/sys.h"

namespace pmemfs::client {
namespace {

constexpr uint64_t kBlock = direct::kBlockSize;
constexpr int kTries = 8;  // grants in a row before a range goes through the kernel
// How long an append waits for the appends placed before it (by other processes) to publish.
constexpr int64_t kAppendWaitNs = 100'000'000;
// MapAhead's batches: the first of a sequential stream, and the largest (a batch costs about
// 0.3 us per page here, a page fault 1 us and more).
constexpr uint64_t kMapBatchMin = 64 << 10;
constexpr uint64_t kMapBatchMax = 2 << 20;
// Whether the kernel has MADV_POPULATE_READ (Linux 5.14): cleared at the first refusal.
std::atomic<bool> g_populate{true};
#ifndef MADV_POPULATE_READ
constexpr int MADV_POPULATE_READ = 22;
#endif

// Enters the pages behind device bytes [off, off+len) in this process's page tables now, in the
// mappings that writes go through (each part's own: Device::CopyNoDrain). MADV_POPULATE_READ:
// a shared mapping of a file gets them writable where the kernel needs no write notice (tmpfs,
// devdax), 16 pages per fault. Pages a part does not hold yet would be made, as by a read: only
// for blocks in use. False when the kernel cannot (before Linux 5.14); errno unchanged.
bool Populate(mapping::Device& d, uint64_t off, uint64_t len) {
  constexpr uintptr_t kPage = 4096;
  const int saved = errno;
  bool ok = true;
  while (len > 0 && ok) {
    const mapping::Device::Location l = d.Locate(off);
    const uint64_t n = std::min(len, l.run);
    const uintptr_t a = reinterpret_cast<uintptr_t>(d.part(l.part).base() + l.part_offset);
    const uintptr_t lo = a / kPage * kPage;
    if (madvise(reinterpret_cast<void*>(lo), a + n - lo, MADV_POPULATE_READ) != 0 &&
        errno == EINVAL)
      ok = false;
    off += n;
    len -= n;
  }
  errno = saved;
  return ok;
}

constexpr uint64_t kHuge = 2 << 20;  // a PMD page
uint64_t RoundDown(uint64_t v, uint64_t u) { return v / u * u; }
uint64_t RoundUp(uint64_t v, uint64_t u) { return (v + u - 1) / u * u; }

// File times come from the coarse clock, as the kernel's own do (current_time): a vDSO read of
// the last tick, no timestamp counter; it moves once a tick (1-4 ms).
int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The File whose Append this thread is in, while it holds the File's lock shared (its leases
// and slot stay): an append a signal handler makes to the same file meanwhile (AppendInPlace)
// does not wait for that one, which cannot go on before the handler returns.
thread_local const File* t_appending __attribute__((tls_model("initial-exec"))) = nullptr;
struct Appending {
  explicit Appending(const File* f) {
    t_appending = f;
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  ~Appending() {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t_appending = nullptr;
  }
};

size_t IovBytes(const iovec* iov, int cnt) {
  size_t n = 0;
  for (int i = 0; i < cnt; i++) n += iov[i].iov_len;
  return n;
}

}  // namespace

File::~File() {
  for (Region& r : regions_)
    if (r.fd >= 0) sys::close(r.fd);
}

// --- leases ------------------------------------------------------------------------------------

const File::Lease* File::Find(uint64_t off) const {
  auto it = leases_.upper_bound(off);
  if (it == leases_.begin()) return nullptr;
  --it;
  return off < it->second.hi ? &it->second : nullptr;
}

void File::Locate(const Lease& l, uint64_t off, uint64_t* dev, uint64_t* run, bool* shared) {
  const uint64_t fb = off / kBlock;
  const auto& ex = l.extents;
  auto it = std::upper_bound(ex.begin(), ex.end(), fb, [](uint64_t b, const direct::Extent& e) {
    return b < e.file_block;
  });
  *shared = false;
  if (it != ex.begin()) {
    const direct::Extent& e = *(it - 1);
    if (fb < e.file_block + e.count) {
      *dev = (e.dev_block + (fb - e.file_block)) * kBlock + off % kBlock;
      *run = (e.file_block + e.count) * kBlock - off;
      *shared = e.flags & direct::kExtentShared;
      return;
    }
  }
  *dev = 0;  // a hole, up to the next extent or the end of the lease
  *run = (it != ex.end() ? it->file_block * kBlock : l.hi) - off;
}

const File::Run* File::FindRun(uint64_t off) const {
  // Random I/O within one large extent finds the hint's run every time.
  const uint32_t h = last_run_.load(std::memory_order_relaxed);
  if (h < runs_.size() && runs_[h].lo <= off && off < runs_[h].hi) return &runs_[h];
  auto it = std::upper_bound(runs_.begin(), runs_.end(), off,
                             [](uint64_t o, const Run& r) { return o < r.lo; });
  if (it == runs_.begin() || off >= (it - 1)->hi) return nullptr;
  --it;
  last_run_.store(static_cast<uint32_t>(it - runs_.begin()), std::memory_order_relaxed);
  return &*it;
}

void File::Reindex() {
  runs_.clear();
  for (const auto& [lo, l] : leases_) {
    for (const direct::Extent& e : l.extents) {
      const uint64_t first = e.file_block * kBlock;
      const uint64_t a = std::max(l.lo, first), b = std::min(l.hi, (e.file_block + e.count) * kBlock);
      if (a >= b) continue;
      runs_.push_back({.lo = a, .hi = b, .dev = e.dev_block * kBlock + (a - first),
                       .write = l.write && !(e.flags & direct::kExtentShared)});
    }
  }
  last_run_.store(0, std::memory_order_relaxed);
}

void File::DropRange(uint64_t lo, uint64_t hi) {
  for (auto it = leases_.begin(); it != leases_.end();) {
    if (it->second.lo < hi && lo < it->second.hi) it = leases_.erase(it);
    else ++it;
  }
  if (leases_.empty()) slot_ = nullptr;  // the daemon may retire it now
}

void File::Install(Grant&& g, std::vector<std::pair<uint64_t, uint64_t>>* replaced) {
  DropRange(g.lo, g.hi);
  Lease l{.lo = g.lo, .hi = g.hi, .write = g.write, .extents = std::move(g.extents)};
  leases_.emplace(g.lo, std::move(l));
  Reindex();
  slot_ = mount_->slot(g.slot);
  MapLeasedLocked(replaced);
}

int File::Obtain(int fd, uint64_t off, uint64_t len, bool write) {
  Grant g;
  if (int e = mount_->RequestGrant(fd, ino_, off, len, write, &g); e != 0) return e;
  std::vector<std::pair<uint64_t, uint64_t>> replaced;
  {
    std::unique_lock l(mu_);
    if (g.rev < revoked_) return EAGAIN;  // a revocation came after it: it may be stale
    Install(std::move(g), &replaced);
  }
  if (!replaced.empty()) WriteBack(fd, replaced);
  return 0;
}

bool File::Revoke(uint64_t lo, uint64_t hi, uint64_t rev) {
  std::unique_lock l(mu_);  // waits for the accesses in flight
  revoked_ = std::max(revoked_, rev);
  // The leases overlapping [lo, hi) go whole (so they do in the daemon, which then no longer
  // calls us back for any of their blocks): what they covered is what mappings may not keep.
  uint64_t gone_lo = lo, gone_hi = hi;
  for (const auto& [at, lease] : leases_) {
    if (lease.lo < hi && lo < lease.hi) {
      gone_lo = std::min(gone_lo, lease.lo);
      gone_hi = std::max(gone_hi, lease.hi);
    }
  }
  DropRange(lo, hi);
  Reindex();
  if (gone_lo < mapped_to_.load(std::memory_order_relaxed))
    mapped_to_.store(gone_lo, std::memory_order_relaxed);  // (the next grant may give others)
  bool refill = false;
  for (Region& r : regions_) {
    if (r.off < hi && lo < r.off + r.len) refill = true;  // (blocks may come where it has none)
    std::vector<Region::Run> keep;
    for (const Region::Run& run : r.direct) {
      if (run.off < gone_hi && gone_lo < run.off + run.len) {
        KernelMap(r, run.off, run.len);
        refill = true;
      } else {
        keep.push_back(run);
      }
    }
    r.direct = std::move(keep);
  }
  return refill;
}

void File::Refill() {
  struct Want {
    int fd;
    uint64_t off;
    uint64_t stop;
    bool write;
  };
  std::vector<Want> want;
  {
    std::shared_lock l(mu_);
    for (const Region& r : regions_) {
      // Our own duplicate: an Unmap may close the region's meanwhile.
      const int fd = sys::fcntl(r.fd, F_DUPFD_CLOEXEC, 0);
      if (fd >= 0)
        want.push_back({fd, r.off, r.off + RoundUp(r.len, kBlock), (r.prot & PROT_WRITE) != 0});
    }
  }
  for (const Want& w : want) {
    // Whole blocks below the end, as Map.
    const int64_t size = Size(w.fd);
    const uint64_t stop =
        size < 0 ? w.off : std::min(w.stop, RoundDown(static_cast<uint64_t>(size), kBlock));
    if (w.off < stop) ObtainMappable(w.fd, w.off, stop, w.write);
    sys::close(w.fd);
  }
}

// --- data --------------------------------------------------------------------------------------

uint64_t File::ReadLocked(const Lease& l, uint64_t off, uint64_t len, Cursor* c) {
  if (const iovec& v = c->iov[c->i]; v.iov_len - c->in >= len) {
    // The common case: one buffer, one extent (or hole).
    uint64_t dev, run;
    bool shared;
    Locate(l, off, &dev, &run, &shared);
    if (run >= len) {
      std::byte* dst = static_cast<std::byte*>(v.iov_base) + c->in;
      if (dev != 0) mount_->device().Read(dev, dst, len);
      else std::memset(dst, 0, len);
      c->in += len;
      if (c->in == v.iov_len) {
        c->i++;
        c->in = 0;
      }
      return len;
    }
  }
  uint64_t done = 0;
  while (done < len) {
    uint64_t dev, run;
    bool shared;
    Locate(l, off + done, &dev, &run, &shared);
    uint64_t n = std::min(run, len - done);
    while (n > 0) {
      const iovec& v = c->iov[c->i];
      const uint64_t k = std::min<uint64_t>(n, v.iov_len - c->in);
      std::byte* dst = static_cast<std::byte*>(v.iov_base) + c->in;
      if (dev != 0) {
        mount_->device().Read(dev, dst, k);
        dev += k;
      } else {
        std::memset(dst, 0, k);
      }
      n -= k;
      done += k;
      c->in += k;
      if (c->in == v.iov_len) {
        c->i++;
        c->in = 0;
      }
    }
  }
  return done;
}

bool File::Writable(const Lease& l, uint64_t off, uint64_t len) const {
  if (!l.write) return false;
  for (uint64_t at = off; at < off + len;) {
    uint64_t dev, run;
    bool shared;
    Locate(l, at, &dev, &run, &shared);
    if (dev == 0 || shared) return false;
    at += run;
  }
  return true;
}

void File::WriteLocked(const Lease& l, uint64_t off, uint64_t len, Cursor* c) {
  MapAhead(off, len);
  mapping::Device& d = mount_->device();
  uint64_t done = 0;
  while (done < len) {
    uint64_t dev, run;
    bool shared;
    Locate(l, off + done, &dev, &run, &shared);
    uint64_t n = std::min(run, len - done);
    while (n > 0) {
      const iovec& v = c->iov[c->i];
      const uint64_t k = std::min<uint64_t>(n, v.iov_len - c->in);
      d.CopyNoDrain(dev, static_cast<const std::byte*>(v.iov_base) + c->in, k);
      dev += k;
      n -= k;
      done += k;
      c->in += k;
      if (c->in == v.iov_len) {
        c->i++;
        c->in = 0;
      }
    }
  }
}

void File::MapAhead(uint64_t off, uint64_t len) {
  const uint64_t end = off + len;
  const uint64_t last = seq_end_.load(std::memory_order_relaxed);
  if (last != end) seq_end_.store(end, std::memory_order_relaxed);
  if (off != last) {  // not where the last write ended: no stream (any more)
    if (map_batch_.load(std::memory_order_relaxed) != 0)
      map_batch_.store(0, std::memory_order_relaxed);
    return;
  }
  const uint64_t mapped = mapped_to_.load(std::memory_order_relaxed);
  if (end <= mapped || !g_populate.load(std::memory_order_relaxed)) return;
  const uint64_t batch = std::clamp<uint64_t>(map_batch_.load(std::memory_order_relaxed) * 2,
                                              kMapBatchMin, kMapBatchMax);
  map_batch_.store(batch, std::memory_order_relaxed);
  const uint64_t from = RoundDown(std::max(off, mapped), kBlock);
  const uint64_t to = RoundUp(std::max(end, from + batch), kBlock);
  mapping::Device& d = mount_->device();
  // The runs from `from` on, while they follow each other (a hole: the stream maps again once a
  // grant has filled it). (Searched here, not with FindRun: its hint is the writes'.)
  auto it = std::upper_bound(runs_.begin(), runs_.end(), from,
                             [](uint64_t o, const Run& r) { return o < r.lo; });
  uint64_t at = from;
  if (it != runs_.begin()) --it;
  for (; it != runs_.end() && at < to && it->lo <= at && at < it->hi; ++it) {
    const uint64_t n = std::min(to, it->hi) - at;
    if (!Populate(d, it->dev + (at - it->lo), n))
      g_populate.store(false, std::memory_order_relaxed);
    at += n;
  }
  if (at > mapped) mapped_to_.store(at, std::memory_order_relaxed);
}

bool File::WriteInPlace(uint64_t off, uint64_t len, const void* src) {
  if (len == 0 || mount_->read_only() || mu_.writer()) return false;  // (a section: file.h)
  const Run* r = slot_ != nullptr ? FindRun(off) : nullptr;
  if (r == nullptr || !r->write || len > r->hi - off) return false;
  MapAhead(off, len);
  mapping::Device& d = mount_->device();
  d.CopyNoDrain(r->dev + (off - r->lo), src, len);
  d.Drain();  // durable before anyone can see the new size
  Published(off + len);
  return true;
}

bool File::WriteInPlace(uint64_t off, const iovec* iov, int cnt) {
  const uint64_t len = IovBytes(iov, cnt);
  if (len == 0 || mount_->read_only() || mu_.writer()) return false;  // (a section: file.h)
  const Run* r = slot_ != nullptr ? FindRun(off) : nullptr;
  if (r == nullptr || !r->write || len > r->hi - off) return false;
  MapAhead(off, len);
  mapping::Device& d = mount_->device();
  uint64_t dev = r->dev + (off - r->lo);
  for (int i = 0; i < cnt; dev += iov[i].iov_len, i++)
    d.CopyNoDrain(dev, iov[i].iov_base, iov[i].iov_len);
  d.Drain();  // durable before anyone can see the new size
  Published(off + len);
  return true;
}

void File::Touched() {
  // Stored once per tick of the clock (the slot's line is shared with the daemon and other
  // clients), and again in the same tick after a setattr reset it (direct_protocol.h): the
  // load is of the line Published just read.
  const int64_t now = NowNs();
  direct::Slot* s = slot_;
  int64_t m = s->mtime_ns.load(std::memory_order_relaxed);
  while (m < now && !s->mtime_ns.compare_exchange_weak(m, now, std::memory_order_relaxed)) {
  }
}

void File::Published(uint64_t end) {
  // Caller holds mu_ or is inside a read section (so a revocation, which retires the slot, waits
  // for us) and has drained.
  direct::Slot* s = slot_;
  uint64_t cur = s->size.load(std::memory_order_relaxed);
  while (cur < end &&
         !s->size.compare_exchange_weak(cur, end, std::memory_order_release,
                                        std::memory_order_relaxed)) {
  }
  Touched();
  if (!wrote_.load(std::memory_order_relaxed)) wrote_.store(true, std::memory_order_relaxed);
}

ssize_t File::Preadv(int fd, const iovec* iov, int cnt, uint64_t off) {
  const uint64_t count = IovBytes(iov, cnt);
  Cursor c{iov, cnt};
  uint64_t done = 0;
  for (int tries = 0; done < count;) {
    bool eof = false;
    {
      std::shared_lock l(mu_);
      if (slot_ != nullptr) {
        const uint64_t size = slot_->size.load(std::memory_order_acquire);
        while (done < count) {
          if (off + done >= size) {
            eof = true;
            break;
          }
          const Lease* lease = Find(off + done);
          if (lease == nullptr) break;
          const uint64_t n = std::min({count - done, size - (off + done), lease->hi - (off + done)});
          done += ReadLocked(*lease, off + done, n, &c);
        }
      }
    }
    if (eof || done == count) break;
    if (++tries > kTries) break;
    int e = Obtain(fd, off + done, count - done, false);
    if (e != 0 && e != EAGAIN) break;
  }
  if (done == 0 && count != 0) {
    // Nothing read: at the end of the file (0), or the kernel's turn.
    std::shared_lock l(mu_);
    if (slot_ != nullptr && off >= slot_->size.load(std::memory_order_acquire)) return 0;
    return -1;
  }
  return static_cast<ssize_t>(done);
}

ssize_t File::ReadInPlace(void* buf, size_t count, uint64_t off) {
  if (mu_.writer()) return -1;  // (a section: file.h)
  const uint64_t size = slot_ != nullptr ? slot_->size.load(std::memory_order_acquire) : 0;
  if (off >= size) return -1;
  const uint64_t len = std::min<uint64_t>(count, size - off);
  const Run* r = FindRun(off);
  if (r == nullptr || len > r->hi - off) return -1;
  mount_->device().Read(r->dev + (off - r->lo), buf, len);
  return static_cast<ssize_t>(len);
}

ssize_t File::Pread(int fd, void* buf, size_t count, uint64_t off) {
  {
    readers::Section s;
    if (ssize_t n = ReadInPlace(buf, count, off); n >= 0) return n;
  }
  iovec v{buf, count};  // the end of the file, a hole, several extents, no lease yet
  return Preadv(fd, &v, 1, off);
}

ssize_t File::Pwritev(int fd, const iovec* iov, int cnt, uint64_t off) {
  if (mount_->read_only()) return -1;
  const uint64_t count = IovBytes(iov, cnt);
  if (cnt == 1) {
    readers::Section s;
    if (WriteInPlace(off, count, iov[0].iov_base)) return static_cast<ssize_t>(count);
  }
  Cursor c{iov, cnt};
  uint64_t done = 0;
  for (int tries = 0; done < count;) {
    {
      std::shared_lock l(mu_);
      bool progress = false;
      while (slot_ != nullptr && done < count) {
        const Lease* lease = Find(off + done);
        if (lease == nullptr) break;
        const uint64_t n = std::min(count - done, lease->hi - (off + done));
        if (!Writable(*lease, off + done, n)) break;
        WriteLocked(*lease, off + done, n, &c);
        done += n;
        progress = true;
      }
      if (progress) {
        mount_->device().Drain();  // durable before anyone can see the new size
        Published(off + done);
      }
    }
    if (done == count) break;
    if (++tries > kTries) break;
    int e = Obtain(fd, off + done, count - done, true);
    if (e != 0 && e != EAGAIN) break;
  }
  if (done == 0 && count != 0) return -1;
  if (done < count) {
    // The rest through the kernel (a lease it could not get: out of space, say).
    std::vector<iovec> rest;
    Cursor r = c;
    for (int i = r.i; i < cnt; i++) {
      iovec v = iov[i];
      if (i == r.i) {
        v.iov_base = static_cast<std::byte*>(v.iov_base) + r.in;
        v.iov_len -= r.in;
      }
      rest.push_back(v);
    }
    ssize_t k = sys::pwritev(fd, rest.data(), static_cast<int>(rest.size()),
                             static_cast<off_t>(off + done));
    if (k > 0) done += static_cast<uint64_t>(k);
  }
  return static_cast<ssize_t>(done);
}

ssize_t File::Pwrite(int fd, const void* buf, size_t count, uint64_t off) {
  iovec v{const_cast<void*>(buf), count};  // (Pwritev tries WriteInPlace first)
  return Pwritev(fd, &v, 1, off);
}

int64_t File::Size(int fd) {
  for (int tries = 0; tries < kTries; tries++) {
    {
      std::shared_lock l(mu_);
      if (slot_ != nullptr) return static_cast<int64_t>(slot_->size.load(std::memory_order_acquire));
    }
    int e = Obtain(fd, 0, 0, false);
    if (e != 0 && e != EAGAIN) return -1;
  }
  return -1;
}

ssize_t File::Append(int fd, const iovec* iov, int cnt, uint64_t* at) {
  if (mount_->read_only()) return -1;
  const uint64_t count = IovBytes(iov, cnt);
  std::lock_guard a(append_mu_);
  for (int tries = 0; tries < kTries; tries++) {
    uint64_t end = 0;
    {
      std::shared_lock l(mu_);
      Appending appending(this);
      if (slot_ != nullptr) {
        direct::Slot* s = slot_;
        uint64_t placed = s->append_end.load(std::memory_order_acquire);
        while (true) {
          const uint64_t cur = std::max(placed, s->size.load(std::memory_order_acquire));
          const Lease* lease = Find(cur);
          if (lease == nullptr || lease->hi - cur < count || !Writable(*lease, cur, count)) {
            end = cur;
            break;
          }
          // Our place: the next append (of any process) goes after it. The size stays until our
          // bytes are durable (direct_protocol.h): a commit of the size in between would make
          // unwritten bytes part of the file after a power cut.
          if (!s->append_end.compare_exchange_weak(placed, cur + count, std::memory_order_acq_rel,
                                                   std::memory_order_acquire))
            continue;
          Cursor c{iov, cnt};
          WriteLocked(*lease, cur, count, &c);
          mount_->device().Drain();
          AwaitEarlierAppends(cur);
          Published(cur + count);
          *at = cur;
          return static_cast<ssize_t>(count);
        }
      }
    }
    int e = Obtain(fd, end, std::max<uint64_t>(count, 1), true);
    if (e != 0 && e != EAGAIN) return -1;
  }
  return -1;
}

bool File::AppendInPlace(const iovec* iov, int cnt, uint64_t* at) {
  const uint64_t len = IovBytes(iov, cnt);
  // Inside an Append of ours (its hold of mu_ keeps slot_ and runs_, a writer waiting or not).
  const bool interrupted = t_appending == this;
  if (len == 0 || mount_->read_only() || slot_ == nullptr || (!interrupted && mu_.writer()))
    return false;
  direct::Slot* s = slot_;
  uint64_t placed = s->append_end.load(std::memory_order_acquire);
  while (true) {
    const uint64_t cur = std::max(placed, s->size.load(std::memory_order_acquire));
    const Run* r = FindRun(cur);
    if (r == nullptr || !r->write || len > r->hi - cur) {
      // The kernel's turn: it appends at the size, which must not stay below the place the
      // interrupted append took (it would land on that one's bytes): published now, before
      // those bytes may be durable, as AwaitEarlierAppends does for an appender that died.
      const uint64_t taken = s->append_end.load(std::memory_order_acquire);
      uint64_t size = s->size.load(std::memory_order_relaxed);
      while (interrupted && size < taken &&
             !s->size.compare_exchange_weak(size, taken, std::memory_order_release,
                                            std::memory_order_relaxed)) {
      }
      return false;
    }
    // Our place, as Append takes it (append_mu_ aside: the interrupted call may hold it).
    if (!s->append_end.compare_exchange_weak(placed, cur + len, std::memory_order_acq_rel,
                                             std::memory_order_acquire))
      continue;
    mapping::Device& d = mount_->device();
    uint64_t dev = r->dev + (cur - r->lo);
    for (int i = 0; i < cnt; dev += iov[i].iov_len, i++)
      d.CopyNoDrain(dev, iov[i].iov_base, iov[i].iov_len);
    d.Drain();
    if (!interrupted) AwaitEarlierAppends(cur);
    Published(cur + len);
    *at = cur;
    return true;
  }
}

void File::AwaitEarlierAppends(uint64_t start) {
  // Appends of other processes placed before ours raise the size to our start once their bytes
  // are durable. One whose process was killed (or stopped) never does: after a while we go on
  // (its range stays zeros, as the bytes of a writer that died mid-write).
  direct::Slot* s = slot_;
  if (s->size.load(std::memory_order_acquire) >= start) return;
  timespec t0;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &t0);
  for (uint32_t i = 0; s->size.load(std::memory_order_acquire) < start; i++) {
    if (i % 64 == 63) {
      timespec t;
      clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
      if ((t.tv_sec - t0.tv_sec) * 1000000000 + (t.tv_nsec - t0.tv_nsec) > kAppendWaitNs) return;
    }
    sched_yield();
  }
}

void File::Opened(bool own, uint64_t spawns) {
  if (!own) shared_.store(true, std::memory_order_relaxed);
  else own_opens_.fetch_add(1, std::memory_order_relaxed);
  // A child made while an earlier description was open may hold it.
  uint64_t was = UINT64_MAX;
  if (!spawns_.compare_exchange_strong(was, spawns) && was != spawns)
    shared_.store(true, std::memory_order_relaxed);
}

void File::Closed(bool own) {
  if (own) own_opens_.fetch_sub(1, std::memory_order_relaxed);
}

int File::Sync(bool datasync, uint64_t spawns, bool* covered, bool* asked) {
  *covered = false;
  *asked = false;
  if (spawns_.load(std::memory_order_relaxed) != spawns)
    shared_.store(true, std::memory_order_relaxed);
  // What we ask the daemon to match against its count of the kernel's opens of the file
  // (0: never covered). Read before the request, so a description we open meanwhile only
  // makes the daemon's count larger.
  const uint32_t opens =
      shared_.load(std::memory_order_relaxed) ? 0 : own_opens_.load(std::memory_order_relaxed);
  bool leased;
  {
    // The slot says whether the daemon holds anything of the file not durable yet; under mu_,
    // so that it stays this file's slot (a revocation waits).
    std::shared_lock l(mu_);
    leased = slot_ != nullptr;
    if (leased && !mount_->kernel_caches_writes() && direct::Synced(*slot_, ino_, opens, datasync)) {
      // Nothing to commit, nothing the kernel's fsync would do. wrote_ stays: the kernel's
      // cached pages are dropped at the next round trip or the release (readers that open
      // meanwhile drop them at their open).
      *covered = true;
      return 0;
    }
  }
  const bool wrote = wrote_.exchange(false);
  // Nothing of ours in the daemon and no lease (so maybe copy mode, or a file we only read
  // through the kernel): the kernel's fsync is the whole job.
  if (!leased && !wrote) return 0;
  uint32_t flags = 0;
  *asked = true;
  int e = mount_->RequestFsync(ino_, wrote, datasync, opens, &flags);
  if (e != 0 && wrote) wrote_ = true;
  if (e == 0) *covered = flags & direct::kFsyncCovered;
  return e;
}

void File::Release() {
  std::vector<uint64_t> none;
  bool had;
  {
    std::unique_lock l(mu_);
    had = !leases_.empty();
    leases_.clear();
    Reindex();
    slot_ = nullptr;
  }
  const bool wrote = wrote_.exchange(false);
  if (had || wrote) (void)mount_->RequestRelease(ino_, wrote);
}

void File::KernelMapped(int64_t size) {
  KernelSizeIs(size);
  kernel_mapped_.store(true, std::memory_order_relaxed);
}

bool File::KernelSizeBehind() const {
  if (!kernel_mapped_.load(std::memory_order_relaxed)) return false;
  const int64_t k = kernel_size_.load(std::memory_order_relaxed);
  std::shared_lock l(mu_);
  // (No slot: no lease now, and what it published is in the daemon: ask.)
  return slot_ == nullptr || k < 0 ||
         slot_->size.load(std::memory_order_acquire) > static_cast<uint64_t>(k);
}

// --- mappings ----------------------------------------------------------------------------------

void File::MapLeasedLocked(std::vector<std::pair<uint64_t, uint64_t>>* replaced) {
  if (regions_.empty() || slot_ == nullptr) return;
  const uint64_t end = RoundDown(slot_->size.load(std::memory_order_acquire), kBlock);
  mapping::Device& d = mount_->device();
  for (Region& r : regions_) {
    const uint64_t stop = std::min(r.off + RoundUp(r.len, kBlock), end);
    if (r.off >= stop) continue;
    const bool write = r.prot & PROT_WRITE;
    for (const Placed& p : PlanRuns(r.off, stop, write)) {
      // The parts of p still the kernel's (runs never overlap).
      std::vector<std::pair<uint64_t, uint64_t>> todo{{p.off, p.off + p.len}};
      for (const Region::Run& run : r.direct) {
        std::vector<std::pair<uint64_t, uint64_t>> rest;
        for (auto [a, b] : todo) {
          const uint64_t c = std::max(a, run.off), e = std::min(b, run.off + run.len);
          if (c >= e) {
            rest.emplace_back(a, b);
            continue;
          }
          if (a < c) rest.emplace_back(a, c);
          if (e < b) rest.emplace_back(e, b);
        }
        todo = std::move(rest);
      }
      for (auto [a, b] : todo) {
        // Atomic for the application's threads: a load or store in flight finds the kernel's
        // page or, once this returns, the device's.
        void* q = sys::mmap(r.addr + (a - r.off), b - a, r.prot, MAP_SHARED | MAP_FIXED,
                            d.part(p.part).fd(), static_cast<off_t>(p.part_offset + (a - p.off)));
        if (q == MAP_FAILED) {
          KernelMap(r, a, b - a);  // (a failed MAP_FIXED may have removed what was there)
          continue;
        }
        r.direct.push_back({a, b - a, p.dev + (a - p.off)});
        if (write) replaced->emplace_back(a, b - a);
      }
    }
  }
}

void File::WriteBack(int fd, const std::vector<std::pair<uint64_t, uint64_t>>& replaced) {
  const int saved = errno;
  for (auto [off, len] : replaced)
    (void)sync_file_range(fd, static_cast<off_t>(off), static_cast<off_t>(len),
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                              SYNC_FILE_RANGE_WAIT_AFTER);
  errno = saved;
}

void File::KernelMap(Region& r, uint64_t off, uint64_t len) {
  void* want = r.addr + (off - r.off);
  (void)sys::mmap(want, len, r.prot, (r.flags & ~MAP_FIXED_NOREPLACE) | MAP_FIXED, r.fd,
                  static_cast<off_t>(off));
}

void File::ObtainMappable(int fd, uint64_t off, uint64_t stop, bool write) {
  for (uint64_t at = off, tries = 0; at < stop && tries < kTries;) {
    if (write) {
      int e = Obtain(fd, at, stop - at, true);  // allocates the holes
      if (e != 0 && e != EAGAIN) return;
    }
    std::shared_lock l(mu_);
    const Lease* lease = Find(at);
    if (lease == nullptr || (write && !lease->write)) {
      l.unlock();
      if (!write) {
        int e = Obtain(fd, at, stop - at, false);
        if (e != 0 && e != EAGAIN) return;
      }
      tries++;
      continue;
    }
    at = std::min(stop, lease->hi);
  }
}

std::vector<File::Placed> File::PlanRuns(uint64_t off, uint64_t stop, bool write) const {
  mapping::Device& d = mount_->device();
  std::vector<Placed> out;
  for (uint64_t at = off; at < stop;) {
    const Lease* lease = Find(at);
    if (lease == nullptr || (write && !lease->write)) {  // the kernel's, up to the next lease
      auto next = leases_.upper_bound(at);
      at = next == leases_.end() ? stop : next->second.lo;
      continue;
    }
    const uint64_t end = std::min(stop, lease->hi);
    while (at < end) {
      uint64_t dev, run;
      bool shared;
      Locate(*lease, at, &dev, &run, &shared);
      run = std::min(run, end - at);
      // Device offset -> part and part offset (a run may cross parts or stripe chunks).
      for (uint64_t k = 0; dev != 0 && !(write && shared) && k < run;) {
        mapping::Device::Location loc = d.Locate(dev + k);
        const uint64_t n = std::min(run - k, loc.run);
        out.push_back({.off = at + k, .len = n, .dev = dev + k, .part = loc.part,
                       .part_offset = loc.part_offset});
        k += n;
      }
      at += run;
    }
  }
  return out;
}

bool File::HugeColour(const std::vector<Placed>& runs, uint64_t off, uint64_t* colour) {
  std::map<uint64_t, uint64_t> bytes;  // colour -> bytes in whole 2 MiB pages
  for (const Placed& p : runs) {
    const uint64_t lo = RoundUp(p.part_offset, kHuge);
    const uint64_t hi = RoundDown(p.part_offset + p.len, kHuge);
    if (hi > lo) bytes[(p.part_offset - (p.off - off)) & (kHuge - 1)] += hi - lo;
  }
  auto best = std::max_element(bytes.begin(), bytes.end(),
                               [](auto& a, auto& b) { return a.second < b.second; });
  if (best == bytes.end()) return false;
  *colour = best->first;
  return true;
}

namespace {

// The kernel's mapping of `len` bytes of `fd` at `off`, at an address `colour` bytes past a
// 2 MiB boundary: placed with MAP_FIXED inside a reserved (PROT_NONE) range of len + 2 MiB
// whose rest is given back.
void* MapColoured(size_t len, int prot, int flags, int fd, uint64_t off, uint64_t colour) {
  const uint64_t span = RoundUp(len, kBlock) + kHuge;
  void* res = sys::mmap(nullptr, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                        -1, 0);
  if (res == MAP_FAILED) return sys::mmap(nullptr, len, prot, flags, fd, static_cast<off_t>(off));
  const uintptr_t lo = reinterpret_cast<uintptr_t>(res);
  const uintptr_t at = lo + ((colour - lo) & (kHuge - 1));
  void* p = sys::mmap(reinterpret_cast<void*>(at), len, prot, flags | MAP_FIXED, fd,
                      static_cast<off_t>(off));
  if (p == MAP_FAILED) {
    const int e = errno;
    sys::munmap(res, span);
    errno = e;
    return MAP_FAILED;
  }
  if (at > lo) sys::munmap(res, at - lo);
  const uintptr_t end = at + RoundUp(len, kBlock);
  if (end < lo + span) sys::munmap(reinterpret_cast<void*>(end), lo + span - end);
  return p;
}

}  // namespace

void* File::Map(void* addr, size_t len, int prot, int flags, int fd, uint64_t off) {
  if (len == 0 || off % kBlock != 0) return nullptr;
  mapping::Device& d = mount_->device();
  for (size_t i = 0; i < d.part_count(); i++)
    if (d.part(i).alignment() > kBlock || d.part(i).fd() < 0) return nullptr;  // devdax: 2 MiB
  if ((prot & PROT_WRITE) && mount_->read_only()) return nullptr;
  const bool write = prot & PROT_WRITE;
  // Everything below goes through our duplicate, checked to be this file's: `fd` may go to
  // another file meanwhile (another thread closes it and opens something else), and a mapping is
  // of one file, as the kernel's is. (Not this file's: the kernel maps what `fd` is now.) The
  // statx also refreshes the kernel's idea of the size, which our writes only marked stale and
  // which the kernel's parts of the mapping fault by (stale, a page below the end is a SIGBUS):
  // AT_STATX_FORCE_SYNC, as attributes replied uncached still count as fresh for a jiffy.
  const int dupfd = sys::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dupfd < 0) return nullptr;
  struct statx stx{};
  if (statx(dupfd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC, STATX_INO | STATX_SIZE, &stx) != 0 ||
      stx.stx_ino != ino_ || makedev(stx.stx_dev_major, stx.stx_dev_minor) != mount_->dev()) {
    sys::close(dupfd);
    return nullptr;
  }
  KernelMapped(static_cast<int64_t>(stx.stx_size));
  fd = dupfd;
  const int64_t size = Size(fd);
  // Whole blocks below the end of the file come from the device (the block holding the end may
  // hold old bytes past it in the device, and past the end the kernel's SIGBUS is right).
  const uint64_t stop = size < 0 ? off : std::min(off + RoundUp(len, kBlock),
                                                  RoundDown(static_cast<uint64_t>(size), kBlock));
  ObtainMappable(fd, off, stop, write);
  // The kernel's mapping of the whole range first: it is what holes, the end of the file and
  // revoked ranges stay. Where the application leaves the address to us, it is placed so that
  // the device runs can be mapped with 2 MiB pages.
  uint64_t colour = 0;
  bool coloured = false;
  if (addr == nullptr && !(flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)) && len >= kHuge) {
    std::shared_lock l(mu_);
    coloured = HugeColour(PlanRuns(off, stop, write), off, &colour);
  }
  void* base = coloured ? MapColoured(len, prot, flags, fd, off, colour)
                        : sys::mmap(addr, len, prot, flags, fd, static_cast<off_t>(off));
  if (base == MAP_FAILED) {
    const int e = errno;
    sys::close(dupfd);
    errno = e;
    return MAP_FAILED;
  }
  Region r{.addr = static_cast<std::byte*>(base), .len = len, .off = off, .prot = prot,
           .flags = flags, .fd = dupfd, .direct = {}};
  // The runs mapped and the region published under one hold of mu_, so that a revocation
  // (which takes it exclusively) finds every device run it must replace.
  std::unique_lock l(mu_);
  for (const Placed& p : PlanRuns(off, stop, write)) {
    void* q = sys::mmap(r.addr + (p.off - off), p.len, prot, MAP_SHARED | MAP_FIXED,
                        d.part(p.part).fd(), static_cast<off_t>(p.part_offset));
    if (q == MAP_FAILED) {
      KernelMap(r, p.off, p.len);  // (a failed MAP_FIXED may have removed what was there)
      continue;
    }
    r.direct.push_back({p.off, p.len, p.dev});
  }
  if (write) wrote_ = true;
  regions_.push_back(std::move(r));
  return base;
}

bool File::Unmap(void* addr, size_t len) {
  std::byte* lo = static_cast<std::byte*>(addr);
  std::byte* hi = lo + len;
  bool ours = false;
  std::unique_lock l(mu_);
  for (auto it = regions_.begin(); it != regions_.end();) {
    Region& r = *it;
    if (!(r.addr < hi && lo < r.addr + r.len)) {
      ++it;
      continue;
    }
    ours = true;
    std::erase_if(r.direct, [&](const Region::Run& run) {
      std::byte* a = r.addr + (run.off - r.off);
      return a < hi && lo < a + run.len;  // (a partly unmapped run: dropped whole)
    });
    if (lo <= r.addr && r.addr + r.len <= hi) {
      sys::close(r.fd);
      it = regions_.erase(it);
    } else {
      ++it;
    }
  }
  return ours;
}

bool File::Msync(void* addr, size_t len, uint64_t* covered_out) {
  std::byte* lo = static_cast<std::byte*>(addr);
  std::byte* hi = lo + len;
  bool ours = false;
  uint64_t covered = 0;  // bytes of [lo, hi) in device runs (runs never overlap)
  std::shared_lock l(mu_);
  for (Region& r : regions_) {
    for (const Region::Run& run : r.direct) {
      std::byte* a = r.addr + (run.off - r.off);
      std::byte* from = std::max(a, lo);
      std::byte* to = std::min(a + run.len, hi);
      if (from >= to) continue;
      ours = true;
      covered += static_cast<uint64_t>(to - from);
      // The same physical lines as our mapping of the device: flushing them there persists
      // the application's stores.
      mount_->device().Flush(run.dev + static_cast<uint64_t>(from - a),
                             static_cast<uint64_t>(to - from));
    }
    if (r.addr < hi && lo < r.addr + r.len) ours = true;
  }
  if (ours) {
    mount_->device().Drain();
    if (slot_ != nullptr) Touched();
  }
  if (covered_out != nullptr) *covered_out += covered;
  return ours;
}

void File::ForkChild() {
  for (Region& r : regions_) {
    for (const Region::Run& run : r.direct) KernelMap(r, run.off, run.len);
    r.direct.clear();
  }
  leases_.clear();
  Reindex();
  slot_ = nullptr;
}

}  // namespace pmemfs::client
