// api.cc: the descriptor table and the C API of libpmemfs-client (include/pmemfs/client.h).
//
// Every descriptor the library opened on a direct-access file has an entry (an Ofd: the File and
// the open flags, shared by its duplicates as the kernel shares the open file description). A
// descriptor without an entry is the kernel's business and every call on it goes straight to
// the kernel. The file offset stays the kernel's (read/write move it with lseek), so that it is
// shared with duplicates and across fork exactly as the kernel shares it.
//
// Signals: a call made from a handler that interrupted a library call of the same thread is
// the kernel's (nesting.h; each entry point below says what it does to stay coherent then).
//
// Fork: the child starts over. Its inherited descriptors lose their entries (the kernel serves
// them), device-backed parts of its mappings become the kernel's mappings of the file, and the
// parent's connections are closed in the child without a word to the daemon.
#include <dlfcn.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "client/calls.h"
#include "client/file.h"
#include "client/nesting.h"
#include "client/open_mode.h"
#include "client/readers.h"
#include "client/rw_lock.h"
#include "client/sys.h"
#include "pmemfs/client.h"

namespace pmemfs::client {
namespace {

#ifndef FUSE_SUPER_MAGIC
constexpr long kFuseMagic = 0x65735546;
#else
constexpr long kFuseMagic = FUSE_SUPER_MAGIC;
#endif

// An open file description the library tracks. A call holding a reference (Get) may outlive
// the descriptor it came by (another thread closes it, or dup2s over it): the Ofd and its File
// stay whole until the last reference goes, and the call finishes on them (as the kernel's call
// finishes on the old file), or goes to the kernel when it needs the descriptor again and that
// is no longer this Ofd's (Still).
struct Ofd : std::enable_shared_from_this<Ofd> {
  ~Ofd() {
    // The last reference to the last Ofd of its File, and no mapping holds it: the leases go
    // back.
    if (file && file.use_count() == 1) file->Release();
  }
  std::shared_ptr<File> file;  // set once (Adopt)
  std::atomic<int> flags{0};  // O_ACCMODE, O_APPEND (F_SETFL may change it)
  std::mutex pos_mu;     // read/write: the offset moves atomically with the data
  std::atomic<int> fds{0};
  bool own = false;  // opened by this process (not inherited)
};

// The descriptor table: fd -> Ofd, lock-free to read. 1024 chunks of 1024 descriptors. A reader
// loads `e` inside a read section (readers.h) and uses the Ofd there, or takes a reference
// (Get); the table's own reference is `own`, dropped only after Synchronize (Put, Forget).
constexpr int kChunk = 1024;
constexpr int kChunks = 1024;
struct Chunk {
  std::atomic<Ofd*> e[kChunk] = {};
  std::shared_ptr<Ofd> own[kChunk];  // guarded by State::table_mu
};

struct Region {
  size_t len;
  std::shared_ptr<File> file;
};

struct State {
  std::mutex mu;  // guards mounts
  std::unordered_map<dev_t, std::unique_ptr<Mount>> mounts;  // null: no direct access there
  // Guards regions: shared by msync (which persists under it: a region's File lives as long as
  // the region), exclusive by mmap, munmap and fork. Taken before a File's lock.
  RwLock regions_mu;
  std::map<uintptr_t, Region> regions;  // library mappings by address
  std::atomic<size_t> region_count{0};
  std::atomic<Chunk*> chunks[kChunks] = {};
  std::mutex table_mu;  // guards the entries' changes (Put, Forget); readers never take it
  std::atomic<size_t> tracked{0};  // entries in the table (0: every call goes straight through)
  bool disabled = false;
  bool verbose = false;
  // Calls served in the device (PMEMFS_DIRECT_STATS=FILE: one line appended at exit): reads and
  // writes are counted by each thread's Reader (readers.h), these are the totals written so
  // far (guarded by stats_mu); fsyncs and msyncs of tracked files done without / with the
  // kernel's. (Revocations answered: Mount::TakeRevocations.)
  std::mutex stats_mu;
  uint64_t reads_written = 0, writes_written = 0;
  std::atomic<uint64_t> maps{0};
  std::atomic<uint64_t> syncs{0}, kernel_syncs{0}, msyncs{0}, kernel_msyncs{0};
  std::atomic<uint64_t> daemon_syncs{0};  // fsyncs that made a round trip to the daemon
  // Children this process made that may hold its open file descriptions (fork, and what
  // pmemfs-direct's interposers see: posix_spawn, system, popen). Only when spawns_seen (the
  // preload is in, so every such call is counted) may an fsync skip the kernel's.
  std::atomic<uint64_t> spawns{0};
  std::atomic<bool> spawns_seen{false};
};

State* g_state = nullptr;
std::once_flag g_once;

void Say(const char* fmt, const char* a, const char* b) {
  if (g_state->verbose) fprintf(stderr, fmt, a, b);
}

void AtForkPrepare() {
  g_state->mu.lock();
  g_state->regions_mu.lock();
}
void AtForkParent() {
  g_state->spawns++;
  g_state->regions_mu.unlock();
  g_state->mu.unlock();
}
void AtForkChild() {
  // Only this thread exists now; nothing of the parent's connections may be used again.
  State* old = g_state;
  readers::AtForkChild();
  (void)Mount::TakeRevocations();  // (the parent's, which it counts)
  for (auto& [addr, r] : old->regions) r.file->ForkChild();
  for (auto& [dev, m] : old->mounts)
    if (m) m->Abandon();
  State* fresh = new State();
  fresh->disabled = old->disabled;
  fresh->verbose = old->verbose;
  fresh->spawns_seen = old->spawns_seen.load();
  g_state = fresh;  // the old one is left as it is (its locks may be held by threads now gone)
}

// "reads N writes N maps N pid P ..." (calls served in the device since the last line, and the
// daemon's revocations answered) appended to $PMEMFS_DIRECT_STATS at each close of a tracked
// descriptor and at exit, so that tests can check a program really used direct access (also
// one that ends with _exit, as fio's jobs do) and count the callbacks it got.
void WriteStats() {
  const char* path = getenv("PMEMFS_DIRECT_STATS");
  if (path == nullptr || *path == '\0' || g_state == nullptr) return;
  uint64_t r, w;
  {
    std::lock_guard l(g_state->stats_mu);
    uint64_t reads, writes;
    readers::Totals(&reads, &writes);
    r = reads - g_state->reads_written;
    w = writes - g_state->writes_written;
    g_state->reads_written = reads;
    g_state->writes_written = writes;
  }
  const uint64_t m = g_state->maps.exchange(0), fs = g_state->syncs.exchange(0),
                 kfs = g_state->kernel_syncs.exchange(0), ms = g_state->msyncs.exchange(0),
                 kms = g_state->kernel_msyncs.exchange(0),
                 dfs = g_state->daemon_syncs.exchange(0), rv = Mount::TakeRevocations();
  if (r + w + m + fs + kfs + ms + kms + dfs + rv == 0) return;
  using ull = unsigned long long;
  char line[512];
  const int n = snprintf(line, sizeof line,
                         "reads %llu writes %llu maps %llu pid %d fsyncs %llu kernel_fsyncs %llu "
                         "msyncs %llu kernel_msyncs %llu daemon_fsyncs %llu revocations %llu\n",
                         static_cast<ull>(r), static_cast<ull>(w), static_cast<ull>(m), getpid(),
                         static_cast<ull>(fs), static_cast<ull>(kfs), static_cast<ull>(ms),
                         static_cast<ull>(kms), static_cast<ull>(dfs), static_cast<ull>(rv));
  int fd = sys::openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!sys::write(fd, line, static_cast<size_t>(n));
  sys::close(fd);
}

State& St() {
  if (State* s = g_state; s != nullptr) return *s;  // (call_once costs a TLS setup per call)
  std::call_once(g_once, [] {
    g_state = new State();  // never freed: the library lives as long as the process
    const char* off = getenv("PMEMFS_DIRECT");
    g_state->disabled = off != nullptr && std::strcmp(off, "0") == 0;
    const char* v = getenv("PMEMFS_DIRECT_VERBOSE");
    g_state->verbose = v != nullptr && std::strcmp(v, "0") != 0 && *v != '\0';
    readers::Init();
    pthread_atfork(AtForkPrepare, AtForkParent, AtForkChild);
    atexit(WriteStats);
  });
  return *g_state;
}

// The chunk holding `fd` (made when `make`), or null. Caller holds table_mu.
Chunk* ChunkFor(int fd, bool make) {
  if (fd < 0 || fd >= kChunk * kChunks) return nullptr;
  std::atomic<Chunk*>& c = St().chunks[fd / kChunk];
  Chunk* p = c.load(std::memory_order_relaxed);
  if (p == nullptr && make) {
    p = new Chunk();
    c.store(p, std::memory_order_release);
  }
  return p;
}

// Whether any descriptor is tracked (no: every call goes straight to the kernel).
bool Tracking() {
  const State* s = g_state;
  return s != nullptr && s->tracked.load(std::memory_order_relaxed) != 0;
}

// The entry of `fd`, or null. Caller is inside a read section (readers.h), uses the entry only
// there, and has seen Tracking().
Ofd* Peek(int fd) {
  if (fd < 0 || fd >= kChunk * kChunks) return nullptr;
  Chunk* c = g_state->chunks[fd / kChunk].load(std::memory_order_acquire);
  return c ? c->e[fd % kChunk].load(std::memory_order_acquire) : nullptr;
}

// A reference to the entry of `fd` (for the calls that may block), or null.
std::shared_ptr<Ofd> Get(int fd) {
  if (!Tracking()) return nullptr;
  readers::Section s;
  Ofd* o = Peek(fd);
  return o ? o->shared_from_this() : nullptr;
}

// Whether `fd` is still a descriptor of `o` (its entry has not been replaced since the caller
// took `o` from it). Seen true after a call on `fd`: that call was on o's description, since a
// close or dup2 over `fd` (pmemfs_close, pmemfs_dup3) takes the entry away before the kernel's.
bool Still(int fd, const Ofd& o) {
  readers::Section s;
  return Peek(fd) == &o;
}

// Replaces the entry of `fd` and returns the old one, which no read section can see any more
// (null also when one may: see below).
std::shared_ptr<Ofd> Swap(int fd, std::shared_ptr<Ofd> o) {
  State& s = St();
  std::shared_ptr<Ofd> old;
  {
    std::lock_guard l(s.table_mu);
    Chunk* c = ChunkFor(fd, o != nullptr);
    if (c == nullptr) return nullptr;
    const int i = fd % kChunk;
    if (o) {
      o->fds++;
      s.tracked++;
    }
    c->e[i].store(o.get(), std::memory_order_release);
    old = std::exchange(c->own[i], std::move(o));
    if (old) s.tracked--;
  }
  if (old && !readers::Synchronize()) {
    // A signal handler interrupted a section of this thread, which may use the entry when it
    // goes on: it is kept for good, and so are its File and leases (readers.h).
    new std::shared_ptr<Ofd>(std::move(old));
    return nullptr;
  }
  return old;
}

void Put(int fd, std::shared_ptr<Ofd> o) {
  if (std::shared_ptr<Ofd> old = Swap(fd, std::move(o))) old->fds--;
}

// The last descriptor of an Ofd is closed; the last reference to the last Ofd of its File in
// this process gives the leases back (~Ofd: not while a call of another thread still holds it,
// nor while a mapping needs them).
void Forget(int fd) {
  std::shared_ptr<Ofd> old = Swap(fd, nullptr);
  if (old && --old->fds == 0) old->file->Closed(old->own);
}

// --- calls nested in another of the same thread (nesting.h) ---------------------------------
// They use the table without a read section or table_mu: only whether an entry is there, never
// what it points to (which another thread may free once it is out of the table).

// Whether `fd` has an entry.
bool Entered(int fd) { return Tracking() && Peek(fd) != nullptr; }

// Takes `fd`'s entry out of the table (a close, or a number a dup or an open replaces) without
// the lock, which the interrupted call may hold; its reference stays in `own` until the next
// change of that number under the lock drops it (Swap: the Ofd and its File, and the leases, are
// let go then, or at exit, instead of now).
void DetachNested(int fd) {
  if (!Tracking() || fd < 0 || fd >= kChunk * kChunks) return;
  if (Chunk* c = g_state->chunks[fd / kChunk].load(std::memory_order_acquire); c != nullptr)
    c->e[fd % kChunk].store(nullptr, std::memory_order_release);
}

// Before a nested read through the kernel of a tracked file: the kernel learns the size our
// writes published (or it would end the read early), and drops the pages it cached before our
// writes changed the device under them (or it would return those). The coherence README
// promises a reader after an fsync, which the interrupted call's thread cannot make first.
void BeforeNestedRead(int fd) {
  if (!Entered(fd)) return;
  const int e = errno;
  (void)sys::size_from_daemon(fd);
  (void)sys::drop_cached_pages(fd);
  errno = e;
}

// Before a nested write through the kernel: with O_APPEND the kernel writes at the end it knows,
// which must be the one our writes published.
void BeforeNestedWrite(int fd) {
  if (!Entered(fd)) return;
  const int e = errno;
  if (sys::fcntl(fd, F_GETFL) & O_APPEND) (void)sys::size_from_daemon(fd);
  errno = e;
}

// At fsync and close of `fd`, a descriptor of `f`: the kernel's mappings of the file in this
// process must not fault by a size older than what our writes published (file.h, KernelMapped).
void RefreshKernelSize(int fd, File& f) {
  if (!f.KernelSizeBehind()) return;
  const int e = errno;
  f.KernelSizeIs(sys::size_from_daemon(fd));
  errno = e;
}

Mount* MountFor(dev_t dev) {
  State& s = St();
  std::lock_guard l(s.mu);
  auto it = s.mounts.find(dev);
  if (it != s.mounts.end()) return it->second.get();
  Result<std::unique_ptr<Mount>> m = Mount::Connect(dev);
  if (!m.ok()) {
    const std::string d = std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
    Say("pmemfs-direct: %s: %s (the kernel serves it)\n", d.c_str(),
        m.status().message().c_str());
    s.mounts.emplace(dev, nullptr);
    return nullptr;
  }
  Mount* p = m->get();
  s.mounts.emplace(dev, std::move(m).value());
  return p;
}

// Starts tracking `fd` when it is a regular file of a direct-access mount; `own`: this process
// opened it just now (not inherited, so no other process holds its description).
void Adopt(int fd, bool own) {
  State& s = St();
  if (s.disabled || fd < 0) return;
  struct statx stx{};
  if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_TYPE | STATX_INO, &stx) != 0 ||
      !S_ISREG(stx.stx_mode))
    return;
  struct statfs sfs{};
  if (fstatfs(fd, &sfs) != 0 || static_cast<long>(sfs.f_type) != kFuseMagic) return;
  const int flags = sys::fcntl(fd, F_GETFL);
  if (flags < 0 || (flags & O_PATH)) return;
  Mount* m = MountFor(makedev(stx.stx_dev_major, stx.stx_dev_minor));
  if (m == nullptr) return;
  auto o = std::make_shared<Ofd>();
  o->file = m->GetFile(stx.stx_ino);
  o->flags = flags & (O_ACCMODE | O_APPEND);
  o->own = own;
  o->file->Opened(own, s.spawns.load());
  Put(fd, std::move(o));
}

bool CanRead(const Ofd& o) { return (o.flags & O_ACCMODE) != O_WRONLY; }
bool CanWrite(const Ofd& o) { return (o.flags & O_ACCMODE) != O_RDONLY; }

// Whether a read (`write` false) or write at an offset (pread, pwrite and their v-variants) may be
// served on o's description: open for it, and a write not on O_APPEND (pwrite appends too, as
// Linux does: the kernel's).
bool AllowedAt(const Ofd& o, bool write) {
  const int flags = o.flags.load(std::memory_order_relaxed);
  return write ? (flags & O_ACCMODE) != O_RDONLY && !(flags & O_APPEND)
               : (flags & O_ACCMODE) != O_WRONLY;
}

// The data calls, served in the device when the library tracks `fd` (one look-up in the table
// per call); -1 when the kernel's turn: then nothing was done.

// preadv (kWrite false) or pwritev of `o` at `off`, through the File.
template <bool kWrite>
ssize_t VectorAtOfd(Ofd& o, int fd, const iovec* iov, int cnt, off_t off) {
  if (!AllowedAt(o, kWrite) || off < 0 || cnt < 0 || cnt > IOV_MAX) return -1;
  const uint64_t at = static_cast<uint64_t>(off);
  const ssize_t n = kWrite ? o.file->Pwritev(fd, iov, cnt, at) : o.file->Preadv(fd, iov, cnt, at);
  if (n >= 0) readers::Count(kWrite ? readers::Self().writes : readers::Self().reads);
  return n;
}

// The description's offset set to `pos` after a read or write of `o` at it, unless `fd` went
// to another file meanwhile: then the offset of o's description stays (the descriptor that
// reached it is gone; another file's offset must not move). A close racing the call in the short
// window between the check and the seek still moves the new file's offset (never its bytes).
void Advance(int fd, const Ofd& o, off_t pos) {
  if (Still(fd, o)) sys::lseek(fd, pos, SEEK_SET);
}

// read/readv: at the descriptor's offset, which moves with the data (the kernel keeps it).
ssize_t ReadvOfd(Ofd& o, int fd, const iovec* iov, int cnt) {
  if (!CanRead(o) || cnt < 0 || cnt > IOV_MAX) return -1;
  std::lock_guard l(o.pos_mu);
  const off_t pos = sys::lseek(fd, 0, SEEK_CUR);
  if (pos < 0 || !Still(fd, o)) return -1;  // (not: another file's offset; the kernel's turn)
  ssize_t n = o.file->Preadv(fd, iov, cnt, static_cast<uint64_t>(pos));
  if (n < 0) return -1;
  readers::Count(readers::Self().reads);
  Advance(fd, o, pos + n);
  return n;
}

ssize_t WritevOfd(Ofd& o, int fd, const iovec* iov, int cnt) {
  if (!CanWrite(o) || cnt < 0 || cnt > IOV_MAX) return -1;
  std::lock_guard l(o.pos_mu);
  if (o.flags & O_APPEND) {
    uint64_t at = 0;
    ssize_t n = o.file->Append(fd, iov, cnt, &at);
    if (n < 0) return -1;
    readers::Count(readers::Self().writes);
    Advance(fd, o, static_cast<off_t>(at + static_cast<uint64_t>(n)));
    return n;
  }
  // A handler's write on this description meanwhile goes after ours (nesting.h, OffsetWrite):
  // before we know where ours goes, at the offset (we read it again after that), then after
  // our bytes.
  size_t count = 0;
  for (int i = 0; i < cnt; i++) count += iov[i].iov_len;
  OffsetWrite& w = t_offset_write;
  w.next.store(OffsetWrite::kUnknown, std::memory_order_relaxed);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  w.ofd.store(&o, std::memory_order_relaxed);
  off_t pos, planned;
  while (true) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    pos = sys::lseek(fd, 0, SEEK_CUR);
    if (pos < 0 || !Still(fd, o)) {  // (not: another file's offset; the kernel's turn)
      w.ofd.store(nullptr, std::memory_order_relaxed);
      return -1;
    }
    planned = pos + static_cast<off_t>(count);
    int64_t unknown = OffsetWrite::kUnknown;
    if (w.next.compare_exchange_strong(unknown, planned, std::memory_order_relaxed)) break;
    w.next.store(OffsetWrite::kUnknown, std::memory_order_relaxed);  // a handler moved it
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  ssize_t n = o.file->Pwritev(fd, iov, cnt, static_cast<uint64_t>(pos));
  if (n != static_cast<ssize_t>(count)) {  // nothing (the kernel's turn) or part of it done
    w.ofd.store(nullptr, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    const off_t after = w.next.load(std::memory_order_relaxed);  // (a handler's: it seeked there)
    if (n < 0) {
      // No handler wrote after us: the kernel's write at the offset. One did: ours goes before
      // its bytes, where it belongs, and the offset stays past them.
      return after == planned ? -1 : sys::pwritev(fd, iov, cnt, pos);
    }
    readers::Count(readers::Self().writes);
    Advance(fd, o, after == planned ? pos + n : after);
    return n;
  }
  readers::Count(readers::Self().writes);
  // The offset past our bytes and those handlers wrote after them meanwhile (one that runs
  // after our last look moved it past its own bytes itself).
  for (off_t end = -1; end != w.next.load(std::memory_order_relaxed);) {
    end = w.next.load(std::memory_order_relaxed);
    Advance(fd, o, end);
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  w.ofd.store(nullptr, std::memory_order_relaxed);
  return n;
}

// pread and pwrite: `fast` (no reference, inside a read section: it must not block) serves the
// common case, `slow` (with a reference) the rest; -1 from both: the kernel's turn (AllowedAt
// says when it is at once). `nested`: a call nested in another of this
// thread (nesting.h) has `fast` alone, and only where the thread has made a section before.
template <typename Fast, typename Slow>
ssize_t Serve(int fd, bool write, bool nested, Fast fast, Slow slow) {
  if (!Tracking() || (nested && readers::t_self == nullptr)) return -1;
  {
    readers::Section s;
    Ofd* o = Peek(fd);
    if (o == nullptr || !AllowedAt(*o, write)) return -1;
    if (const ssize_t n = fast(*o->file); n >= 0) {
      readers::Count(write ? s.reader().writes : s.reader().reads);
      return n;
    }
  }
  if (nested) return -1;
  std::shared_ptr<Ofd> o = Get(fd);
  if (!o || !AllowedAt(*o, write)) return -1;
  const ssize_t n = slow(*o->file);
  if (n >= 0) readers::Count(write ? readers::Self().writes : readers::Self().reads);
  return n;
}

// One buffer read (kWrite false) or written at `at` in the leased blocks, in place (File::
// ReadInPlace, WriteInPlace: no lock, no allocation, no request): the bytes done, -1: not.
template <bool kWrite, typename Buf>
ssize_t InPlace(File& f, Buf buf, size_t count, uint64_t at) {
  if constexpr (kWrite) return f.WriteInPlace(at, count, buf) ? static_cast<ssize_t>(count) : -1;
  else return f.ReadInPlace(buf, count, at);
}

// --- calls nested in another of the same thread, served in place where they can be --------

// A read or write of one buffer at `at`, in place (no lock, no allocation, no request); -1: the
// kernel's turn.
ssize_t InPlaceNested(int fd, bool write, void* buf, size_t count, uint64_t at) {
  return Serve(
      fd, write, true,
      [&](File& f) {
        return write ? InPlace<true>(f, buf, count, at) : InPlace<false>(f, buf, count, at);
      },
      [](File&) { return ssize_t{-1}; });
}

// pwritev at `at`, in place; -1: the kernel's turn.
ssize_t InPlaceNested(int fd, const iovec* iov, int cnt, uint64_t at) {
  if (cnt < 0 || cnt > IOV_MAX) return -1;
  size_t count = 0;
  for (int i = 0; i < cnt; i++) count += iov[i].iov_len;
  return Serve(
      fd, true, true,
      [&](File& f) {
        return f.WriteInPlace(at, iov, cnt) ? static_cast<ssize_t>(count) : ssize_t{-1};
      },
      [](File&) { return ssize_t{-1}; });
}

// A read (`write` false) or write at the description's offset, in place, the offset moved past
// it: of the `one_buffer` of read or write (iov[0]), or of a writev's buffers (a readv's are the
// kernel's: File reads in place into one buffer); -1: the kernel's turn.
ssize_t AtOffsetNested(int fd, bool write, const iovec* iov, int cnt, bool one_buffer) {
  if ((!write && !one_buffer) || !Entered(fd)) return -1;
  const int e = errno;
  const off_t pos = sys::lseek(fd, 0, SEEK_CUR);
  const uint64_t at = static_cast<uint64_t>(pos);
  ssize_t n = pos < 0      ? -1
              : one_buffer ? InPlaceNested(fd, write, iov[0].iov_base, iov[0].iov_len, at)
                           : InPlaceNested(fd, iov, cnt, at);
  if (n >= 0) (void)sys::lseek(fd, pos + n, SEEK_SET);
  errno = e;
  return n;
}

// An O_APPEND write, in place at the end (File::AppendInPlace), the offset past it; -1: the
// kernel's turn.
ssize_t AppendNested(int fd, const iovec* iov, int cnt) {
  if (!Tracking() || readers::t_self == nullptr || cnt < 0 || cnt > IOV_MAX) return -1;
  size_t count = 0;
  for (int i = 0; i < cnt; i++) count += iov[i].iov_len;
  uint64_t at = 0;
  {
    readers::Section s;
    Ofd* o = Peek(fd);
    if (o == nullptr) return -1;
    const int flags = o->flags.load(std::memory_order_relaxed);
    if ((flags & O_ACCMODE) == O_RDONLY || !(flags & O_APPEND)) return -1;
    if (!o->file->AppendInPlace(iov, cnt, &at)) return -1;
    readers::Count(s.reader().writes);
  }
  const int e = errno;
  (void)sys::lseek(fd, static_cast<off_t>(at + count), SEEK_SET);
  errno = e;
  return static_cast<ssize_t>(count);
}

// A nested write at the offset of the description whose write this thread interrupted
// (WritevOfd): after that write's bytes and those of earlier handlers (in place where it can
// be), and the offset past it. kNotInterrupted: `fd` is not a descriptor of that description.
constexpr ssize_t kNotInterrupted = -2;
ssize_t AfterInterruptedWrite(int fd, const iovec* iov, int cnt) {
  OffsetWrite& w = t_offset_write;
  const void* ofd = w.ofd.load(std::memory_order_relaxed);
  if (ofd == nullptr || !Tracking() || Peek(fd) != ofd) return kNotInterrupted;
  const off_t at = w.next.load(std::memory_order_relaxed);
  if (at < 0) {
    // That write has not placed itself yet: ours goes at the offset (in place where it can be),
    // which that write reads again once it sees we moved it.
    ssize_t n = AtOffsetNested(fd, true, iov, cnt, false);
    if (n < 0) n = sys::writev(fd, iov, cnt);
    w.next.store(OffsetWrite::kMoved, std::memory_order_relaxed);
    return n;
  }
  const int e = errno;
  ssize_t n = InPlaceNested(fd, iov, cnt, static_cast<uint64_t>(at));
  errno = e;
  if (n < 0) n = sys::pwritev(fd, iov, cnt, at);
  if (n > 0) {
    w.next.store(at + n, std::memory_order_relaxed);
    const int e2 = errno;
    (void)sys::lseek(fd, at + n, SEEK_SET);
    errno = e2;
  }
  return n;
}

// pread (kWrite false) and pwrite: in place where the leases allow, else through the File (Serve),
// else the kernel's call; nested (nesting.h), in place only, and the kernel's call after telling
// it what it must know first.
template <bool kWrite, typename Buf, typename Kernel>
ssize_t OneAt(int fd, Buf buf, size_t count, off_t off, Kernel kernel) {
  Entry e;
  if (off >= 0) {
    const uint64_t at = static_cast<uint64_t>(off);
    const ssize_t n = Serve(fd, kWrite, e.nested(),
                            [&](File& f) { return InPlace<kWrite>(f, buf, count, at); },
                            [&](File& f) {
                              if constexpr (kWrite) return f.Pwrite(fd, buf, count, at);
                              else return f.Pread(fd, buf, count, at);
                            });
    if (n >= 0) return n;
  }
  if (e.nested()) kWrite ? BeforeNestedWrite(fd) : BeforeNestedRead(fd);
  return kernel(fd, buf, count, off);
}

// preadv (kWrite false) and pwritev: through the File (VectorAtOfd), else the kernel's call;
// nested (nesting.h), a pwritev in place where it can be (File reads in place into one buffer
// only: a preadv has no such path), else the kernel's call after telling it what it must know.
template <bool kWrite, typename Kernel>
ssize_t VectorAt(int fd, const iovec* iov, int cnt, off_t off, Kernel kernel) {
  Entry e;
  if (e.nested()) {
    if constexpr (kWrite) {
      if (off >= 0)
        if (ssize_t n = InPlaceNested(fd, iov, cnt, static_cast<uint64_t>(off)); n >= 0) return n;
    }
    kWrite ? BeforeNestedWrite(fd) : BeforeNestedRead(fd);
    return kernel(fd, iov, cnt, off);
  }
  if (std::shared_ptr<Ofd> o = Get(fd))
    if (ssize_t n = VectorAtOfd<kWrite>(*o, fd, iov, cnt, off); n >= 0) return n;
  return kernel(fd, iov, cnt, off);
}

// read (kWrite false), readv, write and writev at the description's offset (`one_buffer`: read
// and write), `kernel()` the kernel's call: through the File (ReadvOfd, WritevOfd), else the
// kernel's; nested (nesting.h), a write after the one it interrupted on the same description,
// at the end (O_APPEND) or at the offset, in place where it can be, and so a read's one buffer
// (a readv is left to the kernel), else the kernel's call after telling it what it must know.
template <bool kWrite, typename Kernel>
ssize_t AtCursor(int fd, const iovec* iov, int cnt, bool one_buffer, Kernel kernel) {
  Entry e;
  if (e.nested()) {
    if constexpr (kWrite) {
      if (ssize_t n = AfterInterruptedWrite(fd, iov, cnt); n != kNotInterrupted) return n;
      if (ssize_t n = AppendNested(fd, iov, cnt); n >= 0) return n;
    }
    if (ssize_t n = AtOffsetNested(fd, kWrite, iov, cnt, one_buffer); n >= 0) return n;
    kWrite ? BeforeNestedWrite(fd) : BeforeNestedRead(fd);
    return kernel();
  }
  if (std::shared_ptr<Ofd> o = Get(fd)) {
    const ssize_t n = kWrite ? WritevOfd(*o, fd, iov, cnt) : ReadvOfd(*o, fd, iov, cnt);
    if (n >= 0) return n;
  }
  return kernel();
}

}  // namespace

ssize_t Pread(int fd, void* buf, size_t count, off_t off, PreadFn kernel) {
  return OneAt<false>(fd, buf, count, off, kernel);
}

ssize_t Preadv(int fd, const iovec* iov, int cnt, off_t off, PreadvFn kernel) {
  return VectorAt<false>(fd, iov, cnt, off, kernel);
}

ssize_t Pwrite(int fd, const void* buf, size_t count, off_t off, PwriteFn kernel) {
  return OneAt<true>(fd, buf, count, off, kernel);
}

ssize_t Pwritev(int fd, const iovec* iov, int cnt, off_t off, PwritevFn kernel) {
  return VectorAt<true>(fd, iov, cnt, off, kernel);
}

ssize_t Read(int fd, void* buf, size_t count, ReadFn kernel) {
  iovec v{buf, count};
  return AtCursor<false>(fd, &v, 1, true, [&] { return kernel(fd, buf, count); });
}

ssize_t Readv(int fd, const iovec* iov, int cnt, ReadvFn kernel) {
  return AtCursor<false>(fd, iov, cnt, false, [&] { return kernel(fd, iov, cnt); });
}

ssize_t Write(int fd, const void* buf, size_t count, WriteFn kernel) {
  iovec v{const_cast<void*>(buf), count};
  return AtCursor<true>(fd, &v, 1, true, [&] { return kernel(fd, buf, count); });
}

ssize_t Writev(int fd, const iovec* iov, int cnt, WritevFn kernel) {
  return AtCursor<true>(fd, iov, cnt, false, [&] { return kernel(fd, iov, cnt); });
}

}  // namespace pmemfs::client

using namespace pmemfs::client;

extern "C" {

int pmemfs_openat(int dirfd, const char* path, int flags, ...) {
  const mode_t mode = OPEN_MODE(flags);
  Entry entry;
  int fd = sys::openat(dirfd, path, flags, mode);
  if (fd >= 0 && entry.nested()) {
    DetachNested(fd);  // (the kernel serves what a handler opens)
  } else if (fd >= 0) {
    const int e = errno;
    Forget(fd);  // a number the library saw closed behind its back
    Adopt(fd, true);
    errno = e;
  }
  return fd;
}

int pmemfs_open(const char* path, int flags, ...) {
  return pmemfs_openat(AT_FDCWD, path, flags, OPEN_MODE(flags));
}

int pmemfs_creat(const char* path, mode_t mode) {
  return pmemfs_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int pmemfs_close(int fd) {
  Entry e;
  if (e.nested()) {
    DetachNested(fd);
    return sys::close(fd);
  }
  if (std::shared_ptr<Ofd> o = Get(fd)) {
    WriteStats();
    RefreshKernelSize(fd, *o->file);
  }
  Forget(fd);  // leases go back before the kernel's last close
  return sys::close(fd);
}

int pmemfs_dup(int fd) {
  Entry e;
  int n = sys::fcntl(fd, F_DUPFD, 0);
  if (n >= 0 && e.nested()) {
    DetachNested(n);  // (the kernel serves a duplicate a handler makes)
  } else if (n >= 0) {
    Forget(n);
    if (std::shared_ptr<Ofd> o = Get(fd)) Put(n, std::move(o));
  }
  return n;
}

int pmemfs_dup3(int fd, int fd2, int flags) {
  Entry e;
  if (e.nested()) {
    if (fd != fd2 && !(flags & ~O_CLOEXEC) && sys::fcntl(fd, F_GETFD) >= 0) DetachNested(fd2);
    const int n = sys::dup3(fd, fd2, flags);
    if (n >= 0) DetachNested(n);
    return n;
  }
  std::shared_ptr<Ofd> o = Get(fd);
  // fd2's entry goes before the kernel replaces its file, as a close's does (Still); should the
  // kernel refuse after all, the kernel serves fd2 from then on.
  if (fd != fd2 && !(flags & ~O_CLOEXEC) && sys::fcntl(fd, F_GETFD) >= 0) Forget(fd2);
  int n = sys::dup3(fd, fd2, flags);
  if (n >= 0) {
    if (o) Put(n, std::move(o));
    else Forget(n);  // (an entry another thread's open put there meanwhile)
  }
  return n;
}

int pmemfs_dup2(int fd, int fd2) {
  if (fd == fd2) return sys::fcntl(fd, F_GETFD) < 0 ? -1 : fd;
  return pmemfs_dup3(fd, fd2, 0);
}

ssize_t pmemfs_pread(int fd, void* buf, size_t count, off_t offset) {
  return Pread(fd, buf, count, offset, sys::pread);
}

ssize_t pmemfs_preadv(int fd, const struct iovec* iov, int iovcnt, off_t offset) {
  return Preadv(fd, iov, iovcnt, offset, sys::preadv);
}

ssize_t pmemfs_pwrite(int fd, const void* buf, size_t count, off_t offset) {
  return Pwrite(fd, buf, count, offset, sys::pwrite);
}

ssize_t pmemfs_pwritev(int fd, const struct iovec* iov, int iovcnt, off_t offset) {
  return Pwritev(fd, iov, iovcnt, offset, sys::pwritev);
}

ssize_t pmemfs_readv(int fd, const struct iovec* iov, int iovcnt) {
  return Readv(fd, iov, iovcnt, sys::readv);
}

ssize_t pmemfs_read(int fd, void* buf, size_t count) { return Read(fd, buf, count, sys::read); }

ssize_t pmemfs_writev(int fd, const struct iovec* iov, int iovcnt) {
  return Writev(fd, iov, iovcnt, sys::writev);
}

ssize_t pmemfs_write(int fd, const void* buf, size_t count) {
  return Write(fd, buf, count, sys::write);
}

off_t pmemfs_lseek(int fd, off_t offset, int whence) {
  Entry e;
  if (e.nested()) {
    // The kernel's end (and its data and holes) by the size our writes published.
    if (whence != SEEK_SET && whence != SEEK_CUR && Entered(fd)) {
      const int err = errno;
      (void)sys::size_from_daemon(fd);
      errno = err;
    }
    return sys::lseek(fd, offset, whence);
  }
  std::shared_ptr<Ofd> o = Get(fd);
  if (o && whence == SEEK_END) {
    // The size is in the slot: no round trip to the daemon for it.
    const int64_t size = o->file->Size(fd);
    if (size >= 0) {
      if (offset < 0 && -offset > size) {
        errno = EINVAL;
        return -1;
      }
      if (Still(fd, *o)) return sys::lseek(fd, size + offset, SEEK_SET);
      // (The descriptor went to another file meanwhile: the kernel's end of that one.)
    }
  }
  return sys::lseek(fd, offset, whence);
}

// fsync/fdatasync of a tracked file: the daemon commits what it keeps of our direct writes
// (one round trip on the direct-access socket), and the kernel's fsync follows unless the
// daemon said it covered everything that one would do (kFsyncCovered: the mount writes through
// to the device, and every open of the file is one of ours, which no other process holds and
// no shared mapping of ours may have dirtied in the kernel's page cache).
int SyncFile(int fd, bool datasync) {
  // Nested: the kernel's fsync, which has the daemon commit what the slot says too.
  Entry entry;
  if (std::shared_ptr<Ofd> o = entry.nested() ? nullptr : Get(fd)) {
    State& s = St();
    bool covered = false, asked = false;
    const int e = o->file->Sync(datasync, s.spawns.load(), &covered, &asked);
    if (asked) s.daemon_syncs++;
    if (e != 0) {
      errno = e;
      return -1;
    }
    RefreshKernelSize(fd, *o->file);
    if (covered && s.spawns_seen.load(std::memory_order_relaxed)) {
      s.syncs++;
      return 0;
    }
    s.kernel_syncs++;
  }
  return datasync ? sys::fdatasync(fd) : sys::fsync(fd);
}

int pmemfs_fsync(int fd) { return SyncFile(fd, false); }

int pmemfs_fdatasync(int fd) { return SyncFile(fd, true); }

int pmemfs_ftruncate(int fd, off_t length) {
  // The daemon calls our leases back first (through the callback thread), then truncates.
  return sys::ftruncate(fd, length);
}

void* pmemfs_mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset) {
  Entry e;
  if (e.nested()) {  // (not async-signal-safe, as in POSIX: only no deadlock)
    if (!(flags & MAP_ANONYMOUS) && Entered(fd)) {
      const int err = errno;
      (void)sys::size_from_daemon(fd);
      errno = err;
    }
    return sys::mmap(addr, length, prot, flags, fd, offset);
  }
  std::shared_ptr<Ofd> o = (flags & MAP_ANONYMOUS) ? nullptr : Get(fd);
  // Through a writable description, a shared mapping may be (or become, by mprotect) a writable
  // kernel mapping of part of the file: its fsync needs the kernel's from now on.
  if (o && (flags & MAP_TYPE) == MAP_SHARED && CanWrite(*o)) o->file->KernelMayDirty();
  if (o && (flags & MAP_TYPE) == MAP_SHARED && offset >= 0 &&
      (!(prot & PROT_WRITE) || CanWrite(*o)) && CanRead(*o)) {
    void* p = o->file->Map(addr, length, prot, flags, fd, static_cast<uint64_t>(offset));
    if (p == MAP_FAILED) return p;
    if (p != nullptr) {
      State& s = St();
      std::lock_guard l(s.regions_mu);
      s.regions[reinterpret_cast<uintptr_t>(p)] = Region{length, o->file};
      s.region_count++;
      s.maps++;
      return p;
    }
  }
  // A kernel mapping faults by the kernel's idea of the size, which our writes only marked
  // stale: refreshed first, or a page below the true end would raise SIGBUS (File::Map does
  // the same for its own), and again at fsync and close (SyncFile, pmemfs_close).
  if (o) o->file->KernelMapped(sys::size_from_daemon(fd));
  return sys::mmap(addr, length, prot, flags, fd, offset);
}

int pmemfs_munmap(void* addr, size_t length) {
  Entry e;
  if (e.nested()) return sys::munmap(addr, length);  // (as mmap)
  if (g_state != nullptr && g_state->region_count.load(std::memory_order_relaxed) != 0) {
    const uintptr_t lo = reinterpret_cast<uintptr_t>(addr), hi = lo + length;
    std::vector<std::shared_ptr<File>> gone;
    {
      State& s = St();
      std::lock_guard l(s.regions_mu);
      for (auto it = s.regions.begin(); it != s.regions.end();) {
        const uintptr_t a = it->first, b = a + it->second.len;
        if (a < hi && lo < b) {
          it->second.file->Unmap(addr, length);
          if (lo <= a && b <= hi) {
            gone.push_back(std::move(it->second.file));
            it = s.regions.erase(it);
            s.region_count--;
            continue;
          }
        }
        ++it;
      }
    }
    int r = sys::munmap(addr, length);
    for (auto& f : gone)
      if (f.use_count() == 1) f->Release();  // no descriptor and no mapping left
    return r;
  }
  return sys::munmap(addr, length);
}

// The library's own mappings of the device are persisted here (flushed through our mapping of
// the same device bytes: the same physical lines); the kernel's msync is made only when some of
// the range is not one of them (the kernel's parts of a mapping, another mapping, nothing), or
// for what only it checks and does (a misaligned address, bad flags, MS_INVALIDATE).
int pmemfs_msync(void* addr, size_t length, int flags) {
  // Nested: the kernel's msync, which persists a mapping of a part too (as mmap).
  Entry e;
  if (!e.nested() && g_state != nullptr &&
      g_state->region_count.load(std::memory_order_relaxed) != 0) {
    // The kernel syncs whole pages: [addr, addr + length rounded up to the page).
    static const uintptr_t kPage = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const uintptr_t lo = reinterpret_cast<uintptr_t>(addr);
    const uintptr_t len = (length + kPage - 1) / kPage * kPage;
    const uintptr_t hi = lo + len;
    State& s = St();
    bool any = false;
    uint64_t covered = 0;
    {
      std::shared_lock l(s.regions_mu);
      for (auto& [a, r] : s.regions) {
        if (a < hi && lo < a + r.len) {
          r.file->Msync(addr, len, &covered);
          any = true;
        }
      }
    }
    const bool flags_ok = (flags & ~(MS_ASYNC | MS_SYNC)) == 0 &&
                          (flags & (MS_ASYNC | MS_SYNC)) != (MS_ASYNC | MS_SYNC);
    if (any) {
      if (lo % kPage == 0 && hi >= lo && flags_ok && len != 0 && covered == len) {
        s.msyncs++;
        return 0;
      }
      s.kernel_msyncs++;
    }
  }
  return sys::msync(addr, length, flags);  // the kernel's parts of the mapping
}

int pmemfs_is_direct(int fd) {
  Entry e;
  if (e.nested()) return Entered(fd) ? 1 : 0;
  return Get(fd) ? 1 : 0;
}

// For pmemfs-direct's interposers (client/preload.cc): descriptors the library did not open
// itself, and ones that went away behind its back.
void pmemfs_adopt_fd(int fd) {
  Entry e;
  if (!e.nested()) Adopt(fd, false);
}
void pmemfs_watch_spawns(void) { St().spawns_seen = true; }
void pmemfs_spawning(void) { St().spawns++; }
void pmemfs_forget_fd(int fd) {
  Entry e;
  if (e.nested()) DetachNested(fd);
  else Forget(fd);
}
void pmemfs_copy_fd(int from, int to) {
  Entry e;
  if (e.nested()) return DetachNested(to);
  Forget(to);
  if (std::shared_ptr<Ofd> o = Get(from)) Put(to, std::move(o));
}
void pmemfs_refresh_fd(int fd) {
  // (Nested: the entry's flags stay as they were; README.)
  Entry e;
  if (e.nested()) return;
  if (std::shared_ptr<Ofd> o = Get(fd)) {
    const int flags = sys::fcntl(fd, F_GETFL);
    if (flags >= 0) o->flags = flags & (O_ACCMODE | O_APPEND);
  }
}
int pmemfs_tracking(void) { return g_state != nullptr && g_state->tracked.load() != 0; }

}  // extern "C"
