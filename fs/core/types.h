// The vocabulary of fs/core's interface (Filesystem, fs.h) and of its parts: who calls,
// attributes, setattr requests, statfs, directory entries, mount options, the kernel-cache
// invalidation callback, rename flags.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "mapping/access.h"

namespace pmemfs::core {

inline constexpr uint64_t kRootIno = 1;

// Who asks: what the kernel tells us of the calling process.
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t umask = 022;  // applied to created modes unless a default ACL applies
};

struct Attr {
  uint64_t ino = 0;
  uint64_t generation = 0;
  uint32_t mode = 0;
  uint32_t nlink = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t rdev = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // 512-byte units, as st_blocks
  timespec atime{};
  timespec mtime{};
  timespec ctime{};
  timespec btime{};
  // Direct access: clients change this file's size and mtime in the device without telling the
  // kernel, so its attributes must not be cached (fs/fuse replies them with a zero timeout).
  bool leased = false;
};

enum SetAttrField : uint32_t {
  kSetMode = 1u << 0,
  kSetUid = 1u << 1,
  kSetGid = 1u << 2,
  kSetSize = 1u << 3,
  kSetAtime = 1u << 4,     // to `atime`
  kSetAtimeNow = 1u << 5,
  kSetMtime = 1u << 6,     // to `mtime`
  kSetMtimeNow = 1u << 7,
  kSetCtime = 1u << 8,     // to `ctime`
};

struct SetAttrRequest {
  uint32_t fields = 0;  // SetAttrField bits
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  timespec atime{};
  timespec mtime{};
  timespec ctime{};
};

struct FsStats {
  uint64_t block_size = 4096;
  uint64_t blocks = 0;        // data blocks (and the RAM partition's while the RAM dir exists)
  uint64_t free_blocks = 0;   // free of those
  // What one ordinary (persistent) file can still get: the free data blocks less the extent
  // blocks that mapping them may need (the RAM partition serves only the RAM directory).
  uint64_t avail_blocks = 0;
  uint64_t files = 0;         // inodes
  uint64_t free_files = 0;
  uint32_t name_max = 255;
};

struct DirEntry {
  std::string_view name;
  uint64_t ino = 0;
  uint32_t type = 0;          // DT_*
  uint64_t next_cookie = 0;   // pass to ReadDir to continue after this entry
};

enum class AtimePolicy { kRelatime, kNoatime, kStrictatime };

struct MountOptions {
  mapping::Mode mode = mapping::Mode::kDirect;
  uint64_t cache_size = 256ull << 20;      // copy mode DRAM cache
  // Background write-back of copy mode data, and the longest the times of an in-place
  // overwrite stay uncommitted in every mode (0: no background thread; then only fsync, the
  // last close, syncfs and unmount write them).
  uint32_t writeback_ms = 5000;
  std::string ram_dir = "ram";  // volatile files live under /<ram_dir> ("": none; also none
                                // when the device has no RAM partition)
  mapping::DescriptorPlacement descriptors = mapping::DescriptorPlacement::kDevice;
  AtimePolicy atime = AtimePolicy::kRelatime;
  // The kernel's writeback cache is on (copy mode, opt-in): it keeps the times of writes.
  bool kernel_write_times = false;
  // Never writes the device (mount -o ro): refuses a filesystem that needs recovery first (see
  // store::Store::Open), keeps pages-mode descriptors in DRAM, has no RAM directory and no
  // atime updates; every change fails with ReadOnly.
  bool read_only = false;
};

// Told when the filesystem changes something the kernel may have cached (fs/fuse forwards to
// fuse_lowlevel_notify_inval_*). Calls are made without filesystem locks held.
class Invalidator {
 public:
  virtual ~Invalidator() = default;
  virtual void InvalidateInode(uint64_t ino, int64_t off, int64_t len) = 0;
  virtual void InvalidateEntry(uint64_t parent, std::string_view name) = 0;
};

// kRenameWhiteout (overlayfs): the source name is left naming a new whiteout (a character
// device 0/0 owned by the caller), created in the rename's transaction.
enum RenameFlags : uint32_t {
  kRenameNoReplace = 1u << 0,
  kRenameExchange = 1u << 1,
  kRenameWhiteout = 1u << 2,
};

}  // namespace pmemfs::core
