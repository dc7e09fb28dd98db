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
// the bytes below it are written and persisted), `mtime_ns` the latest direct write (raised by
// clients). The daemon takes both into the inode (stat shows them at once, a commit makes them
// durable); it changes a file's size itself only after revoking every lease of the file, which
// retires the slot. `append_end` is the clients' alone: the end of the O_APPEND writes placed so
// far (the daemon zeroes it when it hands the slot out). An append goes at max(size,
// append_end), moves append_end past itself (compare-and-swap), writes and persists its bytes,
// and only then raises the size, once the appends placed before it have raised it to its
// start: so a size, whenever the daemon reads it, covers only bytes already durable.
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
  uint64_t reserved[4];
};
static_assert(sizeof(Slot) == 64);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

}  // namespace pmemfs::direct
