// Inode: the DRAM state of one inode: its committed record and, loaded on first use, the
// directory index, the extent map and the extended attributes.
//
// `rec` is the record as last committed (for volatile inodes, the only copy), except that its
// mtime/ctime may be ahead after an in-place overwrite (`times_pending`; the next commit of
// the record carries them). To change an inode: take `mu` exclusively, copy `rec`, change the
// copy, write it in a Tx (Filesystem::CommitInode), and assign it back to `rec` only after the
// commit succeeded.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "fs/core/directory.h"
#include "fs/core/file_map.h"
#include "fs/store/xattr_block.h"
#include "pmemfs/direct_protocol.h"
#include "pmemfs/layout.h"

namespace pmemfs::core {

// Inode numbers at and above this are volatile (RAM partition files), never in the store.
inline constexpr uint64_t kVolatileInoBase = 1ull << 48;

// Whether the time `m` of a direct write a lease slot holds (Slot::mtime_ns, at most `now`)
// replaces the record's time `t`: when it is later, or when `t` lies ahead of `now` (a setattr
// put it there, and the slot only holds the times of writes after that setattr: a write sets
// the time it happened, as on ext4).
inline bool DirectWriteMoves(int64_t m, int64_t t, int64_t now) {
  return m != direct::kNoWriteTime && (m > t || t > now);
}

// One attribute set to `value`, or removed (nullopt).
struct XattrChange {
  std::string name;
  std::optional<std::vector<std::byte>> value;
};

struct XattrEntry {
  std::vector<std::byte> value;  // the value, unless `out` says where it is
  uint64_t block = 0;            // the xattr block holding it (persistent inodes)
  store::OutOfLineValue out;     // persistent inodes: a long value, read when asked for
};

struct Inode {
  Inode(uint64_t i, const layout::InodeRecord& r) : ino(i), rec(r), parent(r.parent) {}
  bool is_volatile() const { return ino >= kVolatileInoBase; }
  bool is_dir() const { return (rec.mode & 0170000) == 0040000; }
  bool is_reg() const { return (rec.mode & 0170000) == 0100000; }
  bool is_symlink() const { return (rec.mode & 0170000) == 0120000; }
  // chattr attributes (caller holds `mu`, either mode).
  bool immutable() const { return rec.flags & layout::kInodeImmutable; }
  bool append_only() const { return rec.flags & layout::kInodeAppend; }

  const uint64_t ino;
  // Guards everything below. Taken parent before child; several in inode-number order.
  mutable std::shared_mutex mu;
  layout::InodeRecord rec;
  // Loaded lazily by InodeCache::LoadDir/LoadMap/LoadXattrs, which set the matching *_loaded
  // flag (release) after assigning, under InodeCache::load_mu_; readers holding `mu` in either
  // mode may use the pointer once the flag reads true (acquire). Reset (pointer and flag) only
  // with `mu` held exclusively, when a commit failed.
  std::unique_ptr<Directory> dir;     // directories
  std::unique_ptr<FileMap> map;       // regular files and long symlinks
  std::unique_ptr<std::map<std::string, XattrEntry>> xattrs;
  std::atomic<bool> dir_loaded{false};
  std::atomic<bool> map_loaded{false};
  std::atomic<bool> xattrs_loaded{false};
  // rec.mtime_ns/ctime_ns set by a write and not yet committed (Flusher::CommitTimes).
  bool times_pending = false;
  // Directories: rec.parent, readable without `mu` (ancestor walks during rename). Written
  // only with Namespace::rename_mu_ held, after the commit that changed rec.parent.
  std::atomic<uint64_t> parent;
  // Direct access (leases.cc): the shared slot while the inode has leases (null otherwise;
  // changed under `mu` held exclusively), and the largest size a client may report in it (the
  // end of the write leases granted).
  std::atomic<direct::Slot*> lease_slot{nullptr};
  std::atomic<uint64_t> lease_size_cap{0};
  // rec's size and mtime when the daemon last took the slot's into it (Filesystem::
  // FoldLeasesLocked; when the slot was handed out; a setattr): a slot's size and mtime up to
  // these are in the record (an mtime ahead of the clock covers none: DirectWriteMoves). Guarded
  // by `mu`.
  uint64_t lease_folded_size = 0;
  int64_t lease_folded_mtime = 0;
  void NoteFoldedMtime(int64_t now) {
    lease_folded_mtime = rec.mtime_ns <= now ? rec.mtime_ns : direct::kTimesNotSynced;
  }

  // rec's times are ahead of the media from now on (the Flusher holds it): the slot's clients
  // must ask the daemon at fsync (direct_protocol.h, Synced). Caller holds `mu` exclusively.
  void MarkTimesPending() {
    times_pending = true;
    if (direct::Slot* s = lease_slot.load(std::memory_order_acquire))
      s->synced_mtime_ns.store(direct::kTimesNotSynced, std::memory_order_release);
  }
  // The record is durable and nothing of it is pending: the slot's clients learn that the size
  // and times they reported up to the last fold need no round trip at fsync. Caller holds `mu`
  // exclusively, and !times_pending.
  void PublishSynced() {
    direct::Slot* s = lease_slot.load(std::memory_order_acquire);
    if (s == nullptr) return;
    // (The record's own when lower: a setattr changed it since, and the next fold may move it.)
    s->synced_size.store(std::min(lease_folded_size, rec.size), std::memory_order_release);
    s->synced_mtime_ns.store(std::min(lease_folded_mtime, rec.mtime_ns), std::memory_order_release);
  }
  // Kernel lookup references and open files; guarded by InodeCache::mu_.
  uint64_t nlookup = 0;
  uint64_t open_count = 0;
};

}  // namespace pmemfs::core
