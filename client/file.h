// File: one inode of a direct-access mount in this process (mount.h says where it sits).
//
// Holds the leases the daemon granted on the file (windows of its blocks: which device blocks
// hold which file blocks, and which of them this process may write in place) and the shared
// slot that carries the file's size. Reads and writes take `mu_` shared while they copy to or
// from the device (the common case, within one extent, a read section instead: ReadInPlace,
// WriteInPlace); a revocation takes it exclusively, so it waits for the copies in flight, then
// drops the leases and answers. Nothing blocks while holding `mu_`: requests to the daemon are
// made without it (a revocation may come in the meantime: a grant older than the last
// revocation is dropped, and asked for again).
//
// Writes: the bytes are copied with non-temporal stores and drained (durable on return), then
// the size in the slot is raised (compare-and-swap, never lowered) and the mtime set; the daemon
// takes both from the slot. Appends take their place from the slot's append_end first, and
// raise the size after their bytes too (direct_protocol.h). A write into a hole, past the allocated end or into a page shared
// with a clone asks the daemon first (allocation, zeroed, ahead of the end in large chunks).
// A sequential writer (each write where the last one ended: appends, fio's sequential jobs) has
// the device pages ahead of it entered in the page tables in growing batches (MapAhead), instead
// of taking a page fault per 4 KiB page on its first store there.
//
// Mappings (Map): MAP_SHARED mappings made through the library map the file's device blocks
// into the application. The rest of such a mapping (holes, past the end), and a range whose
// lease is revoked, is the kernel's mapping of the file (through a duplicate of the descriptor,
// kept for that). The kernel's pages there are a copy, which library writes (ours, other
// processes') do not reach: so every grant installed maps the blocks it holds below the end into
// the kernel's parts of our mappings (MapLeasedLocked: a hole some write filled, a range revoked
// and granted again), and after a revocation that took blocks from a mapping of ours the
// Mount's refill thread asks for them again (Refill), as mmap did. A mapping whose address is
// ours to choose is placed so that the device runs lie at the same offset from a 2 MiB boundary
// in the mapping as in their parts, where the kernel can then map the device with 2 MiB pages
// (an fsdax file, a tmpfs with huge pages).
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "client/mount.h"
#include "client/readers.h"
#include "client/rw_lock.h"

namespace pmemfs::client {

// The lock of a File: an RwLock whose exclusive side also waits, once it holds the lock, for
// the read sections (readers.h) in flight, which may be inside ReadInPlace or WriteInPlace
// without taking it. (From a signal handler that interrupted such a section of its own thread
// it would wait for ever, as a writer waits there for a reader it interrupted: a library call
// in such a handler takes the kernel's path instead, nesting.h.)
class FileLock : public RwLock {
 public:
  void lock() {
    RwLock::lock();
    while (!readers::Synchronize()) sched_yield();
  }
};

class File {
 public:
  File(Mount* m, uint64_t ino) : mount_(m), ino_(ino) {}
  ~File();

  uint64_t ino() const { return ino_; }
  Mount& mount() { return *mount_; }

  // Direct read/write of `count` bytes at `off` through descriptor `fd` of this file. Return
  // bytes done (reads: fewer at the end of the file), or -1 when the range must go through the
  // kernel (then nothing was done).
  // (One buffer within one extent, the common case, takes one search of runs_ and no request.)
  ssize_t Pread(int fd, void* buf, size_t count, uint64_t off);
  ssize_t Pwrite(int fd, const void* buf, size_t count, uint64_t off);
  // The common cases alone, which never block (no request to the daemon, no lock): a read
  // within one run below the end (bytes read, or -1: nothing done), a write within one run of
  // a write lease (durable and published, and true; false: nothing done). Caller is inside a
  // read section (readers.h), which stands for mu_ taken shared: they back off while a writer
  // holds or waits for mu_, and a writer waits for the sections in flight (FileLock).
  ssize_t ReadInPlace(void* buf, size_t count, uint64_t off);
  bool WriteInPlace(uint64_t off, uint64_t len, const void* src);
  // The same from the buffers of `iov` (a signal handler's pwritev or writev: nesting.h).
  bool WriteInPlace(uint64_t off, const iovec* iov, int cnt);
  ssize_t Preadv(int fd, const iovec* iov, int cnt, uint64_t off);
  ssize_t Pwritev(int fd, const iovec* iov, int cnt, uint64_t off);
  // O_APPEND: the write goes at the end, which moves atomically past it; *at says where it
  // went. -1: through the kernel.
  ssize_t Append(int fd, const iovec* iov, int cnt, uint64_t* at);
  // Append's common case alone, for a signal handler's call (nesting.h): no lock, no request,
  // nothing allocated; the end within one run of a write lease. Caller is inside a read
  // section (as WriteInPlace). False: nothing done (the kernel's turn; the size is raised to
  // the place an interrupted Append of this thread took first, so that the kernel's append goes
  // after it). It does not wait for such an Append (that one's bytes before ours may then be
  // published with ours before they are durable, as those of an appender that died: README).
  bool AppendInPlace(const iovec* iov, int cnt, uint64_t* at);
  // The file's size, from the slot (getting a lease when there is none); -1: ask the kernel.
  int64_t Size(int fd);

  // fsync/fdatasync: what the daemon keeps of our writes (size, times) made durable. The data
  // is durable already. Returns 0 or an errno. *covered: whether that was all the kernel's
  // fsync would have done too (the daemon says so, kFsyncCovered), so that it can be skipped;
  // `spawns` is the process's count of children made so far (api.cc), which may share our
  // open file descriptions. No round trip when the slot says everything is durable already
  // and every open of the file is ours (direct::Synced); *asked says whether one was made.
  int Sync(bool datasync, uint64_t spawns, bool* covered, bool* asked);
  // An open file description of this file is tracked: `own` when this process opened it (and
  // shares it with nobody, as far as it knows), not when it inherited it. `spawns` as in Sync.
  void Opened(bool own, uint64_t spawns);
  // A tracked description opened here (`own`) is closed.
  void Closed(bool own);
  // A MAP_SHARED mapping of the file through a writable description: the kernel's page cache
  // may hold dirty pages of it from now on (holes, revoked ranges, a fallback mapping).
  void KernelMayDirty() { shared_.store(true, std::memory_order_relaxed); }
  // The last descriptor of the file in this process is closing: the leases go back.
  void Release();

  // The kernel's idea of the file's size, which the kernel's mappings of it fault by (a page at
  // or past it is a SIGBUS): our writes only mark it stale, so the kernel keeps an older, smaller
  // one until someone asks it for the attributes. KernelMapped: this process has a mapping of
  // the file through the kernel (the kernel's parts of a library mapping, a private mapping),
  // made when the kernel's size was `size` (-1: not known). KernelSizeBehind: such a mapping may
  // fault by a size older than what our writes published; then the caller asks the kernel (a
  // statx that reaches the daemon, sys::size_from_daemon) and says what it learned
  // (KernelSizeIs). Done at fsync and close, the points from which README promises a reader
  // through the kernel what the library wrote.
  void KernelMapped(int64_t size);
  bool KernelSizeBehind() const;
  void KernelSizeIs(int64_t size) {
    if (size >= 0) kernel_size_.store(size, std::memory_order_relaxed);
  }

  // MAP_SHARED mapping of [off, off+len) at `addr` (MAP_FIXED when non-null): device blocks where
  // the file has them, the kernel's mapping elsewhere. Returns the address, or MAP_FAILED with
  // errno. `fd` stays the file's (a duplicate is kept for the kernel's parts).
  void* Map(void* addr, size_t len, int prot, int flags, int fd, uint64_t off);
  // Whether [addr, addr+len) overlaps a mapping of this file, and drops those parts of it.
  bool Unmap(void* addr, size_t len);
  // Persists the device ranges behind [addr, addr+len) of a mapping; false when none is ours.
  // *covered (when not null) grows by the bytes of [addr, addr+len) that are such device ranges
  // (what is not covered by any file's is the kernel's mapping, or not mapped).
  bool Msync(void* addr, size_t len, uint64_t* covered = nullptr);
  // After fork, in the child: every device-backed part of a mapping becomes the kernel's.
  void ForkChild();

  // A revocation from the daemon (the callback thread): the leases overlapping [lo, hi) go, and
  // so do the device-backed parts of mappings of what they covered. True when a mapping of ours
  // lost device blocks or covers [lo, hi): then Refill should follow (not on the callback
  // thread: its grants wait for the inode the daemon may hold while it revokes again).
  bool Revoke(uint64_t lo, uint64_t hi, uint64_t rev);
  // After such a revocation: the leases our mappings need, asked for again as Map does (a
  // writable mapping's holes below the end allocated), whose grants map their blocks into the
  // mappings (MapLeasedLocked).
  void Refill();

 private:
  struct Lease {
    uint64_t lo = 0;
    uint64_t hi = 0;
    bool write = false;
    std::vector<direct::Extent> extents;  // by file_block
  };
  struct Region {  // a MAP_SHARED mapping made through the library
    std::byte* addr = nullptr;
    size_t len = 0;
    uint64_t off = 0;  // file offset of addr
    int prot = 0;
    int flags = 0;
    int fd = -1;       // our duplicate, for the kernel's mapping
    // Page runs (file offsets [first, end)) mapped from the device, with their device offsets.
    struct Run {
      uint64_t off;
      uint64_t len;
      uint64_t dev;
    };
    std::vector<Run> direct;
  };

  // The extents of all leases as one sorted array of file byte ranges, for the fast paths
  // (Pread, Pwrite): one search finds where a byte is and whether it may be written in place.
  struct Run {
    uint64_t lo = 0;  // file bytes [lo, hi)
    uint64_t hi = 0;
    uint64_t dev = 0;  // device offset of lo
    bool write = false;  // in a write lease and not shared with a clone
  };

  // A device run of a mapping to be made: file offset `off`, `len` bytes at device offset
  // `dev`, which is `part_offset` in part `part`.
  struct Placed {
    uint64_t off;
    uint64_t len;
    uint64_t dev;
    size_t part;
    uint64_t part_offset;
  };

  // Caller holds mu_ (either mode). The lease covering byte `off`, or null.
  const Lease* Find(uint64_t off) const;
  // Caller holds mu_ (either mode). The run holding byte `off`, or null (a hole, no lease).
  const Run* FindRun(uint64_t off) const;
  // Rebuilds runs_ from leases_. Caller holds mu_ exclusively and has changed leases_.
  void Reindex();
  // The device offset of file byte `off` in lease `l`, and how many bytes from there stay in the
  // same extent (dev 0: a hole of that many bytes). Caller holds mu_.
  static void Locate(const Lease& l, uint64_t off, uint64_t* dev, uint64_t* run, bool* shared);
  // Asks for a lease covering `off` (for writing [off, off+len) when `write`) and installs it.
  // Returns 0 or an errno (EAGAIN: revoked meanwhile, ask again).
  int Obtain(int fd, uint64_t off, uint64_t len, bool write);
  // Caller holds mu_ exclusively. Installs the grant and maps its blocks into our mappings
  // (MapLeasedLocked), adding to *replaced what the caller must write back (WriteBack).
  void Install(Grant&& g, std::vector<std::pair<uint64_t, uint64_t>>* replaced);
  // The device blocks the leases hold below the end (whole blocks, as Map maps them) mapped into
  // the parts of our mappings that are still the kernel's. The kernel's pages of a writable
  // mapping so replaced may hold stores made there (a store in flight lands there or, after the
  // replacement, in the device): their file ranges go to *replaced. Caller holds mu_
  // exclusively.
  void MapLeasedLocked(std::vector<std::pair<uint64_t, uint64_t>>* replaced);
  // Writes back, through the kernel, the pages it holds dirty of the file ranges `replaced`
  // (stores made through its part of a mapping before our blocks replaced it), waiting for them,
  // so that they land in the device now rather than over later writes. `fd` is a descriptor of
  // the file. Caller does not hold mu_ (the daemon may call us back meanwhile).
  static void WriteBack(int fd, const std::vector<std::pair<uint64_t, uint64_t>>& replaced);
  void DropRange(uint64_t lo, uint64_t hi);
  void KernelMap(Region& r, uint64_t off, uint64_t len);
  // Asks for the leases a mapping of [off, stop) needs (`write`: writable, holes allocated), as
  // far as the daemon grants them (a range without stays the kernel's).
  void ObtainMappable(int fd, uint64_t off, uint64_t stop, bool write);
  // The device runs of [off, stop) under the leases held now, split where a part or stripe
  // chunk ends (`write`: writable, unshared blocks only). Caller holds mu_ (either mode).
  std::vector<Placed> PlanRuns(uint64_t off, uint64_t stop, bool write) const;
  // The address, modulo 2 MiB, for file offset `off` of a mapping that puts the most bytes of
  // `runs` in whole 2 MiB pages of their parts at 2 MiB boundaries (so that the kernel can map
  // them with one PMD entry each: an fsdax file, a tmpfs with huge pages); false when no run
  // holds a whole aligned 2 MiB of its part.
  static bool HugeColour(const std::vector<Placed>& runs, uint64_t off, uint64_t* colour);
  // Copies [off, off+len) of the file to/from `iov` (a cursor into it). Caller holds mu_ shared
  // and has checked the lease covers it (writes: mapped and writable).
  struct Cursor {
    const iovec* iov;
    int cnt;
    int i = 0;
    size_t in = 0;
  };
  uint64_t ReadLocked(const Lease& l, uint64_t off, uint64_t len, Cursor* c);
  bool Writable(const Lease& l, uint64_t off, uint64_t len) const;
  void WriteLocked(const Lease& l, uint64_t off, uint64_t len, Cursor* c);
  // Before a write of [off, off+len) under a lease: when it starts where the last write ended
  // and reaches past what the stream has mapped, the device pages of the next batch of the
  // file's runs (from `off`, 64 KiB, doubling up to 2 MiB as the stream goes on, up to the next
  // hole) are entered in the page tables at once (MADV_POPULATE_READ: a shared mapping of the
  // device's file gets them writable, 16 pages per fault). A hint: nothing is read or written;
  // one madvise of at most 2 MiB, which never waits for the daemon. Caller holds mu_ shared (or
  // is inside a read section: see WriteInPlace).
  void MapAhead(uint64_t off, uint64_t len);
  void Published(uint64_t end);
  // The slot's mtime raised to now. Caller holds mu_ (or is inside a read section: see
  // ReadInPlace) and has a slot.
  void Touched();
  // Waits (bounded) until the slot's size reaches `start`: the appends other processes placed
  // below it are durable and published. Caller holds mu_ and has a slot.
  void AwaitEarlierAppends(uint64_t start);

  Mount* const mount_;
  const uint64_t ino_;
  mutable FileLock mu_;  // guards everything below
  std::map<uint64_t, Lease> leases_;  // by lo; never overlapping
  std::vector<Run> runs_;             // leases_' extents, by lo (Reindex)
  mutable std::atomic<uint32_t> last_run_{0};  // where FindRun found the last one (a hint)
  direct::Slot* slot_ = nullptr;      // while leases_ is not empty
  uint64_t revoked_ = 0;              // the highest revocation seen
  std::vector<Region> regions_;
  std::atomic<bool> wrote_{false};    // written directly since the last Sync
  // For Sync's kernel-fsync decision: descriptions this process opened and still tracks; and
  // whether another process may hold one of ours (inherited, or a child made while we had one:
  // spawns_ is the process's spawn count at our opens) or a shared mapping may have left dirty
  // pages in the kernel. Sticky: once shared, always the kernel's fsync too.
  std::atomic<uint32_t> own_opens_{0};
  std::atomic<bool> shared_{false};
  std::atomic<uint64_t> spawns_{UINT64_MAX};  // UINT64_MAX: no open yet
  // KernelMapped's: whether there is such a mapping (sticky), and the kernel's size last learned.
  std::atomic<bool> kernel_mapped_{false};
  std::atomic<int64_t> kernel_size_{-1};
  std::mutex append_mu_;              // appends of this process, one at a time
  // MapAhead's stream (hints, so relaxed and racy by design: two threads writing one File at
  // once at worst map a batch twice or not at all): where the last write ended, the file offset
  // up to which the stream's pages are mapped (lowered by revocations: the blocks may move),
  // and the next batch's length.
  std::atomic<uint64_t> seq_end_{0};
  std::atomic<uint64_t> mapped_to_{0};
  std::atomic<uint64_t> map_batch_{0};
};

}  // namespace pmemfs::client
