// The direct-access protocol between a pmemfs daemon (fs/fuse/direct_server.h) and the
// processes that read and write its files' data in the device themselves (client/).
//
// Transport: one Unix SOCK_SEQPACKET connection per client process and mount, to the abstract
// address "\0pmemfs-direct-MAJ:MIN" (the mount's device number, as fstat of any file on it
// says). The client checks that the listener is root or the mount's owner (SO_PEERCRED against
// the user_id= of the mount), the daemon checks the client against its direct_access= policy.
//
//   client                                          daemon
//   HelloRequest  + [callback socket]         ->    policy check (SO_PEERCRED, SO_PEERGROUPS)
//                                             <-    HelloReply + [part fds..., slot table fd]
//                                                   (or status != 0 and no descriptor)
//   GrantRequest  + [the file's fd]           ->    the fd proves the kernel's permission check:
//                                                   its inode and its open flags
//                                             <-    GrantReply + Extent[extent_count]
//   ReleaseRequest                            ->    <- Header (status: 0 or an errno)
//   FsyncRequest                              ->    <- FsyncReply (status, kFsyncCovered)
//                                                   (none when the slot says Synced, below)
//   on the callback socket (a socketpair end the client passed in its hello):
//                                             <-    RevokeMessage
//   AckMessage                                ->    (after the client stopped using the range)
//
// One request at a time on the main connection; each gets exactly one reply. Revocations come
// on the callback socket, which the client serves on a thread of its own, so that a revocation
// never waits for a request of the same client.
//
// The slot table: a shared memory file (memfd) the daemon creates per mount and maps, and every
// client maps read-write. An inode with leases has one slot; `size` is the file's size while the
// slot lives (the daemon sets it when the slot is made; clients raise it, never lower it, after
// the bytes below it are written and persisted), `mtime_ns` the time of the latest direct write
// since the daemon last set the file's times itself (raised by clients; kNoWriteTime when the
// slot is handed out and after a setattr, which first takes the slot's into the inode: a write
// that published its time before that is ordered before the setattr, whose times replace its
// own; one that publishes after moves the times to its own, however far ahead the setattr put
// them, as on ext4). The daemon takes both into the inode (stat shows them at once, a commit
// makes them durable); it changes a file's size itself only after revoking every lease of the
// file, which retires the slot. `append_end` is the clients' alone: the end of the O_APPEND writes placed so
// far (the daemon zeroes it when it hands the slot out). An append goes at max(size,
// append_end), moves append_end past itself (compare-and-swap), writes and persists its bytes,
// and only then raises the size, once the appends placed before it have raised it to its
// start: so a size, whenever the daemon reads it, covers only bytes already durable.
//
// fsync without a round trip (Synced below): the daemon also publishes in the slot what of it
// is durable. `synced_size` and `synced_mtime_ns` are the inode's size and mtime when the daemon
// last took the slot's into it (a slot's size and mtime up to these are in the record), stored
// once a commit made that record durable with nothing else of it pending (kNotSynced until the
// first such commit after the slot was handed out; a size past the end of the write leases is
// never taken, so never covered). Whatever makes the
// record's times pending again (a write through the kernel, a fold that moved them) sets
// synced_mtime_ns to kTimesNotSynced first; the size only changes outside the slot after every
// lease was revoked, which retires the slot. Allocation is durable when a grant returns (its
// commit). `kernel_opens` is the count of the kernel's open files of the inode, kept current
// under the daemon's lock of that count. (A mount whose kernel caches writes says so in the
// hello, kHelloKernelCachesWrites: its clients always ask.)
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <string>

namespace pmemfs::direct {

inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr uint32_t kMaxParts = 64;
inline constexpr uint32_t kMaxExtents = 4096;  // per GrantReply
inline constexpr uint64_t kBlockSize = 4096;

// The abstract socket name (without the leading NUL) of the mount with device number `dev`.
inline std::string SocketName(unsigned major_dev, unsigned minor_dev) {
  return "pmemfs-direct-" + std::to_string(major_dev) + ":" + std::to_string(minor_dev);
}

enum class Op : uint32_t {
  kHello = 1,
  kGrant = 2,
  kRelease = 3,
  kFsync = 4,
  kRevoke = 5,
  kAck = 6,
};

struct Header {
  uint32_t op;
  uint32_t status;  // replies: 0, or an errno saying why not
  uint64_t seq;     // echoed in the reply
};

struct HelloRequest {
  Header h;
  uint32_t version;
  uint32_t reserved;
};

enum HelloFlags : uint32_t {
  kHelloReadOnly = 1u << 0,  // read leases only; the parts come read-only
  // The kernel caches writes (FUSE writeback cache): dirty pages may wait in it, so an fsync
  // always needs the kernel's too, and never skips the daemon (Synced is never true).
  kHelloKernelCachesWrites = 1u << 1,
};

enum PartFlags : uint32_t {
  kPartCacheLine = 1u << 0,  // emulated pmem flushed by cache line (PMEM2_FORCE_GRANULARITY)
};

struct HelloReply {
  Header h;
  uint32_t version;
  uint32_t mode;        // mapping::Mode: 1 direct, 2 pages
  uint32_t flags;       // HelloFlags
  uint32_t part_count;  // SCM_RIGHTS: part_count part fds, then the slot table fd
  uint32_t slot_count;
  uint32_t reserved;
  uint32_t part_flags[kMaxParts];
  char message[256];    // why not, when status != 0
};

enum GrantFlags : uint32_t {
  kGrantWrite = 1u << 0,  // a write lease: [off, off+len) allocated (zeroed) and writable
};

struct GrantRequest {
  Header h;
  uint64_t ino;
  uint64_t off;
  uint64_t len;
  uint32_t flags;  // GrantFlags
  uint32_t reserved;
};

enum ExtentFlags : uint32_t {
  // pages mode: blocks shared with a clone (copy_file_range). Readable; a write asks for a grant
  // (which gives the file copies of its own).
  kExtentShared = 1u << 0,
};

// A mapped run of the file: file blocks [file_block, +count) are device blocks [dev_block, ...).
struct Extent {
  uint64_t file_block;
  uint64_t dev_block;
  uint64_t count;
  uint32_t flags;  // ExtentFlags
  uint32_t reserved;
};

struct GrantReply {
  Header h;
  uint64_t rev;       // revocations with a higher number came after this grant
  uint64_t lo;        // the lease covers file bytes [lo, hi) (block aligned): the extents below
  uint64_t hi;        // are every mapped block of it; the rest are holes
  uint64_t size;      // the file size at the grant (the slot's from now on)
  uint32_t slot;
  uint32_t flags;     // GrantFlags actually granted
  uint32_t extent_count;
  uint32_t reserved;
  // Extent extents[extent_count] follow.
};

enum ReleaseFlags : uint32_t {
  kWrote = 1u << 0,     // the client wrote the file since its last fsync: the kernel's cached
                        // pages of it are dropped (close-to-open for readers through the kernel)
  kDatasync = 1u << 1,  // FsyncRequest: fdatasync
};

struct ReleaseRequest {  // also FsyncRequest
  Header h;
  uint64_t ino;
  uint32_t flags;  // ReleaseFlags
  uint32_t opens;  // FsyncRequest: the file's open file descriptions this client opened itself
                   // and shares with no other process (0 when it cannot tell)
};
using FsyncRequest = ReleaseRequest;

enum FsyncReplyFlags : uint32_t {
  // The daemon's fsync covered everything the kernel's would: the mount writes through (direct
  // or pages mode, no kernel writeback cache) and every open of the file through the kernel is
  // one of the client's `opens` (so no other process can hold dirty pages of it in the kernel's
  // page cache through a shared mapping). Without it the client makes the kernel's fsync too.
  kFsyncCovered = 1u << 0,
};

struct FsyncReply {
  Header h;
  uint32_t flags;  // FsyncReplyFlags
  uint32_t reserved;
};

struct RevokeMessage {
  Header h;
  uint64_t ino;
  uint64_t lo;  // leases overlapping file bytes [lo, hi) are revoked
  uint64_t hi;
  uint64_t rev;
};

struct AckMessage {
  Header h;
  uint64_t rev;
};

struct alignas(64) Slot {
  std::atomic<uint64_t> ino;      // the daemon's: the inode of this slot, 0 when free
  std::atomic<uint64_t> size;
  std::atomic<int64_t> mtime_ns;
  std::atomic<uint64_t> append_end;  // the clients': where the appends placed so far end
  std::atomic<uint64_t> synced_size;     // the daemon's, as above
  std::atomic<int64_t> synced_mtime_ns;  // the daemon's
  std::atomic<uint64_t> kernel_opens;    // the daemon's
  uint64_t reserved;
};
static_assert(sizeof(Slot) == 64);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

inline constexpr uint64_t kNotSynced = UINT64_MAX;
inline constexpr int64_t kTimesNotSynced = INT64_MIN;
inline constexpr int64_t kNoWriteTime = INT64_MIN;  // Slot::mtime_ns: no direct write since

// Whether an fsync (fdatasync when `datasync`, which leaves times alone) of inode `ino` has
// nothing left for the daemon to do: `s` is the slot of a lease the caller holds (so it is not
// handed to another inode meanwhile), and every one of the kernel's opens of the file is one of
// the caller's `opens` (then no other process can hold dirty pages of it in the kernel's page
// cache, and no reader through the kernel has pages older than our writes open: the daemon
// opens a write-leased file without keep_cache). The data of the caller's writes is durable
// already; what the daemon keeps of them (size, times) is durable when the slot says so.
inline bool Synced(const Slot& s, uint64_t ino, uint64_t opens, bool datasync) {
  if (opens == 0 || s.ino.load(std::memory_order_acquire) != ino) return false;
  if (s.kernel_opens.load(std::memory_order_acquire) != opens) return false;
  const uint64_t size = s.synced_size.load(std::memory_order_acquire);
  if (size == kNotSynced || s.size.load(std::memory_order_acquire) > size) return false;
  if (datasync) return true;
  const int64_t mtime = s.synced_mtime_ns.load(std::memory_order_acquire);
  return mtime != kTimesNotSynced && s.mtime_ns.load(std::memory_order_acquire) <= mtime;
}

}  // namespace pmemfs::direct
