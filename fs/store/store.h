// fs/store: the filesystem's on-device structures, kept consistent by a redo journal.
//
// What it offers (bottom of the filesystem, above mapping/):
//   Store::Format(dev, opts)     writes a fresh filesystem into the device's store area:
//                                superblock + backup, empty journal, inode table with the root
//                                directory, allocation bitmap.
//   Store::Open(dev, desc)       mounts: reads the superblock (the backup when the primary is
//                                damaged, then repairs the primary), refuses what it cannot trust
//                                (bad magic/checksum in both copies, other major version, unknown
//                                incompat feature, geometry that does not fit the device), replays
//                                a committed journal transaction (idempotent: a crash during
//                                replay is replayed again), loads the bitmap, scans the inode
//                                table and reports the inodes left to finish (orphans: nlink 0;
//                                interrupted truncates), verifies the bitmap's checksums (and
//                                reports the blocks that fail), marks the filesystem dirty.
//                                An unknown ro_compat feature is refused unless read-only.
//   Begin()/Commit(tx)           every metadata change, atomic and durable on return (tx.h).
//   inodes, blocks, chains       the typed accessors below, each writing through a Tx.
//   Close()                      marks the filesystem clean (unmount).
//   Open(dev, desc, read_only)   the same without writing a byte: refuses (ReadOnly) a store that
//                                needs recovery first (a committed transaction to replay, a
//                                damaged primary superblock, orphans or interrupted truncates
//                                left by a crash); Commit refuses every transaction, Close writes
//                                nothing.
//   OpenOffline(dev)             for an offline tool's changes (pmemfs-tune): read-write, but not
//                                a mount (state, mount count and times stay; Close writes
//                                nothing); refuses (Busy) a committed journal transaction not
//                                yet applied: a mount replays it first.
//   SetIdentity(change)          pmemfs-tune's superblock changes (label, uuid, default mode, last
//                                check time) in one Tx; a new uuid also becomes the device's set
//                                uuid in the part labels, atomically with it (identity.cc).
//
// A set-uuid change that a crash interrupted (mapping::DeviceInfo::pending_uuid) is finished by
// every read-write Open (OpenOffline too): forward when the superblock already holds the new
// uuid (its transaction is the change's commit point), else back. So is a change of the RAM
// partition or descriptor area (ChangeGeometry): the part labels say which way.
//
// The store knows the on-media format, not POSIX: fs/core decides what to change, the store
// makes it atomic. It never flushes except through mapping::Device primitives: the journal's,
// and the in-place write of an out-of-line xattr value into blocks its Tx has reserved, before
// that Tx commits (xattr_block.h: xattr blocks and their values).
//
// Thread-safety: Commit is serialised internally (one journal); allocation and inode
// reservation are internally locked; reads of committed structures may run concurrently with
// commits of other structures (fs/core's inode locks order conflicting changes).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fs/store/tx.h"
#include "mapping/device.h"
#include "mapping/page_descriptors.h"
#include "pmemfs/layout.h"
#include "pmemfs/status.h"
#include "pmemfs/thread_annotations.h"

namespace pmemfs::store {

class Journal;
class Allocator;
class InodeTable;

struct FormatOptions {
  std::string label;            // at most 63 bytes
  uint64_t inode_count = 0;     // 0: one per 16 KiB of store area, at least 64
  uint64_t journal_bytes = 0;   // 0: 1/64 of the store area within [256 KiB, 16 MiB]
  layout::StoredMode default_mode = layout::StoredMode::kDirect;
  uint32_t root_uid = 0;
  uint32_t root_gid = 0;
  uint32_t root_mode = 0755;    // permission bits of the root directory
  // Checksum the allocation bitmap (layout::kRoCompatBitmapChecksums). false: the format of
  // filesystems made before the feature (tests of old images).
  bool bitmap_checksums = true;
  // Xattr values up to 64 KiB, out of line (layout::kIncompatLargeXattrs). false: the format of
  // filesystems made before the feature (they get it with their first such value).
  bool large_xattrs = true;
  std::function<void(uint64_t done, uint64_t total)> progress;
};

struct StoreStats {
  uint64_t data_blocks = 0;     // blocks files can use (data area)
  uint64_t free_blocks = 0;
  uint64_t inode_count = 0;
  uint64_t free_inodes = 0;
};

enum class ChainKind { kExtents, kDentries, kXattrs };

class Store {
 public:
  ~Store();

  // Writes a new filesystem (destroys what the store area held). InvalidArgument when the
  // device is too small for the requested journal and inode table.
  static Status Format(mapping::Device& dev, const FormatOptions& opts);
  // What the store area holds now, for mkpmemfs's refusal without --force: "pmemfs" (a valid
  // superblock or backup), "" (nothing recognised).
  static std::string Detect(const mapping::Device& dev);
  // The superblock Open would mount with (primary, else backup), read without changing anything:
  // for what callers need before mounting (label, default mode). Errors as Open's.
  static Result<layout::Superblock> Peek(const mapping::Device& dev);
  // Mounts (see the top of this file). `descriptors` (pages mode, may be null) receives the
  // kDescriptor records of replayed transactions. `pins` (mapping::Access::pins(); null: the
  // descriptors' pins, if any) are the readers' pins: a freed block is not reused while pinned.
  // All must outlive the Store.
  static Result<std::unique_ptr<Store>> Open(mapping::Device& dev,
                                             mapping::PageDescriptors* descriptors,
                                             bool read_only = false,
                                             const mapping::PinCounts* pins = nullptr);
  // Opens for an offline tool's changes (see the top of this file). Errors as Open's, and
  // Busy ("needs recovery") when the journal holds a committed transaction not yet applied:
  // a tool opens the store without the page descriptors, so it leaves the replay to a mount.
  static Result<std::unique_ptr<Store>> OpenOffline(mapping::Device& dev);
  bool read_only() const { return read_only_.load(std::memory_order_acquire); }
  // mount -o remount: read-only marks the filesystem clean (durable on return) and refuses
  // every commit after it, as a read-only Open does; read-write marks it dirty again. Commits
  // racing with the switch to read-only may fail with ReadOnly. Not thread-safe against itself.
  Status SetReadOnly(bool read_only);
  // Marks the filesystem clean and durable (unmount). The Store must not be used after.
  Status Close();

  const layout::Superblock& superblock() const { return sb_; }
  // Sets and clears superblock feature bits (both copies, one Tx, durable on return); nothing is
  // written when the bits already are as asked. Thread-safe.
  Status SetFeatures(uint64_t compat_set, uint64_t compat_clear, uint64_t incompat_set);
  // The superblock's label (what mkpmemfs --label wrote) and its replacement: at most 63 bytes
  // without NUL (InvalidArgument), both copies in one Tx, durable on return. Thread-safe.
  std::string label() const;
  Status SetLabel(std::string_view label);
  // pmemfs-tune's changes of the superblock (identity.cc); fields left empty stay. One Tx writes
  // both superblock copies, durable on return. A uuid (not all zero) becomes the device's set
  // uuid as well, in the part labels, atomically with that Tx (identity.cc says how; three Txs
  // then). InvalidArgument for a label longer than 63 bytes or with a NUL, a mode out of range,
  // a nil uuid. Thread-safe.
  struct IdentityChange {
    std::optional<std::string> label;
    std::optional<std::array<uint8_t, 16>> uuid;
    std::optional<layout::StoredMode> default_mode;
    std::optional<uint64_t> checked_ns;
  };
  Status SetIdentity(const IdentityChange& change);
  // Whether a uuid change was interrupted (the superblock's intent or the labels' pending uuid):
  // the next read-write open finishes it. For checkers (pmemfs-fsck).
  static bool UuidChangeInterrupted(const layout::Superblock& sb, const mapping::Device& dev);
  // pmemfs-tune --ram-size and --descriptors: the device's RAM partition and descriptor area
  // become `ram` and `descriptors` (mapping::ChangeGeometry says what fits; its commit point
  // decides), between superblock transactions that set and clear geometry_change, so that a
  // read-write open after a crash rewrites every part label (a torn copy too) to the ranges the
  // device opened with. The caller prepares the new ranges first (a descriptor area formatted).
  // Durable on return. Thread-safe.
  Status ChangeGeometry(mapping::Range ram, mapping::Range descriptors);
  // Whether such a change was interrupted (the superblock's mark or the labels'). For checkers.
  static bool GeometryChangeInterrupted(const layout::Superblock& sb, const mapping::Device& dev);
  // pmemfs-tune --add-part (growth.cc): whether the store can grow to `store_blocks` when the
  // device's store area has grown (NoSpace saying what is in the way: an added space too small
  // for the moved allocation bitmap, or a journal too small to commit); and the superblock's
  // store_growth mark, set (durable on return) before the part labels change. A read-write open
  // (OpenOffline too) that finds the mark grows the store to the device's store area in one Tx
  // (the backup superblock written first in its new last block) and clears it; when the area did
  // not grow it only clears it. Not while the device's labels are joining a part.
  Status CheckGrowth(uint64_t store_blocks) const;
  Status MarkStoreGrowth();
  mapping::Device& device() const { return dev_; }
  StoreStats stats() const;
  // Inodes Open found unfinished: nlink 0 (free them) or kInodeTruncating (finish the
  // truncate to pending_size). fs/core handles them right after Open.
  const std::vector<uint64_t>& orphans() const { return orphans_; }
  const std::vector<uint64_t>& truncating() const { return truncating_; }
  // Allocation-bitmap blocks (numbered from the bitmap's first) whose checksum failed at Open
  // (layout::kRoCompatBitmapChecksums): such a block may mark used blocks free, and allocating
  // from it could overwrite live data. fs/core refuses to mount read-write while any is listed;
  // pmemfs-fsck -y rebuilds them from the extents.
  const std::vector<uint64_t>& bad_bitmap_blocks() const { return bad_bitmap_blocks_; }

  // --- transactions -------------------------------------------------------------------------
  Tx Begin() { return Tx(this); }
  // Atomic and durable on return. On error nothing changed (reservations are released); a
  // Tx larger than max_tx_bytes() is refused with InvalidArgument (split it).
  Status Commit(Tx& tx);
  uint64_t max_tx_bytes() const;
  // What changes cost in the journal, for callers that split long work into transactions
  // that fit max_tx_bytes() (Tx::journal_bytes() is the running total of one Tx): journal
  // bytes of `n` page-descriptor changes (Tx::SetDescriptor of distinct pages), and of a
  // Tx::Write of `len` bytes.
  static uint64_t DescriptorChangesCost(uint64_t n);
  static uint64_t WriteCost(uint64_t len);

  // --- inodes (ino = table slot + 1; kRootIno is the root directory) ------------------------
  // The committed record; Corrupt when its checksum fails, NotFound for a free slot or an ino
  // outside the table.
  Result<layout::InodeRecord> ReadInode(uint64_t ino) const;
  // Writes `rec` (checksum computed here) at commit.
  void WriteInode(Tx& tx, uint64_t ino, const layout::InodeRecord& rec);
  // A free ino, taken out of the free set now and given back if `tx` aborts; its previous
  // generation is returned through `generation` so the new record can use generation + 1.
  Result<uint64_t> ReserveInode(Tx& tx, uint64_t* generation);
  // Frees the slot at commit (a zero record keeping the generation).
  void FreeInode(Tx& tx, uint64_t ino);

  // --- blocks -------------------------------------------------------------------------------
  static uint64_t BlockOffset(uint64_t block) { return block * layout::kBlockSize; }
  // Reserves up to `count` (>= 1) contiguous free data blocks, near `goal` when possible;
  // returns at least one block, NoSpace when none is free. In use once `tx` commits; free again
  // if it aborts. With `file_block` (the file block the run will hold), a run of `count` blocks
  // whose part offset agrees with the file offset modulo 2 MiB is preferred (allocator.h).
  static constexpr uint64_t kNoFileBlock = ~0ull;
  Result<BlockRange> AllocBlocks(Tx& tx, uint64_t count, uint64_t goal = 0,
                                 uint64_t file_block = kNoFileBlock);
  // Frees at commit. The blocks are reusable once the commit is durable and once no reader
  // has them pinned.
  void FreeBlocks(Tx& tx, BlockRange r);
  // `hook` is told of every block range that becomes free, before it can be allocated again:
  // blocks a commit frees (once the commit is durable) and blocks a Tx reserved and gave back
  // by aborting. fs/core drops them from copy mode's DRAM cache, so a stale cached page is
  // never written over the block's next owner. Called with the journal lock held (commits) or
  // by the aborting thread; the hook must not start a Tx.
  void SetFreeHook(std::function<void(BlockRange)> hook);
  // The page descriptors from now on (fs/core's online mode switch; null out of pages mode):
  // what Commit refuses without them and where their journal records go. Waits for commits in
  // flight. The readers' pins the allocator consults are the caller's (a PinUnion it keeps).
  void SetDescriptors(mapping::PageDescriptors* descriptors);

  // --- chains of blocks owned by one inode (extents, dentries, xattrs) ----------------------
  // Pointer to chain block `block` after checking its header (magic of `kind`, checksum,
  // owner); Corrupt otherwise. The 4 KiB block is contiguous in memory.
  Result<const std::byte*> ReadChainBlock(uint64_t block, ChainKind kind, uint64_t owner) const;
  // Appends an empty block (header, all slots unused) to the chain of `kind` of inode `ino`,
  // whose record is `rec`: links it after rec's tail (or as head) and updates `rec` (head/tail
  // /blocks). The caller writes `rec` in the same Tx. Returns the new block.
  Result<uint64_t> AppendChainBlock(Tx& tx, uint64_t ino, layout::InodeRecord& rec, ChainKind kind);
  // Unlinks `block` (whose predecessor is `prev`, 0 if it is the head) from the chain and
  // frees it, updating `rec` (for xattr blocks and emptied blocks).
  Status RemoveChainBlock(Tx& tx, uint64_t ino, layout::InodeRecord& rec, ChainKind kind,
                          uint64_t prev, uint64_t block);
  // Calls fn(block, data) for each block of the chain starting at `head`, in order; stops at
  // the first error (returned).
  Status ForEachChainBlock(uint64_t head, ChainKind kind, uint64_t owner,
                           const std::function<Status(uint64_t, const std::byte*)>& fn) const;
  // Device offset of slot `slot` of chain block `block`.
  static uint64_t SlotOffset(uint64_t block, uint32_t slot) {
    return BlockOffset(block) + sizeof(layout::ChainHeader) + uint64_t{slot} * layout::kSlotSize;
  }

 private:
  friend class Tx;
  Store(mapping::Device& dev, mapping::PageDescriptors* descriptors);
  enum class OpenKind { kMount, kReadOnly, kOffline };
  static Result<std::unique_ptr<Store>> OpenAs(mapping::Device& dev,
                                               mapping::PageDescriptors* descriptors,
                                               OpenKind kind, const mapping::PinCounts* pins);
  void Abort(Tx& tx);  // releases reservations
  // Calls free_hook_ (if set) for each range.
  void RunFreeHook(std::span<const BlockRange> ranges);
  // What Commit refuses before writing anything (misuse, targets, size).
  Status CheckTx(const Tx& tx) const;
  // Writes both superblock copies, each in a Tx of its own (the primary first, so a crash never
  // tears both), and makes `sb` the current one (Open, Close; also while read-only: Close,
  // SetReadOnly).
  Status UpdateSuperblock(layout::Superblock sb) REQUIRES(features_mu_);
  // Marks the superblocks clean.
  Status MarkClean() REQUIRES(mode_mu_);
  // Commit without the read-only check.
  Status Apply(Tx& tx);
  // Settles every part label on the superblock's uuid and clears its uuid_change (identity.cc).
  Status FinishUuidChange() REQUIRES(features_mu_);
  // Rewrites every part label to the device's ranges and clears geometry_change (identity.cc).
  Status FinishGeometryChange() REQUIRES(features_mu_);
  // Grows the store to the device's store area and clears store_growth (growth.cc); the
  // allocator is rebuilt with `pins`.
  Status FinishStoreGrowth(const mapping::PinCounts* pins) REQUIRES(features_mu_);
  // Writes and persists the bitmap area of `grown` (moved by PlanGrowth) from the bitmap of
  // `from`, with its checksums: outside the store `from` describes (growth.cc).
  void WriteMovedBitmap(const layout::Superblock& from, const layout::Superblock& grown);

  std::atomic<bool> read_only_{false};
  bool offline_ = false;  // OpenOffline: Close writes nothing
  mapping::Device& dev_;
  mapping::PageDescriptors* descriptors_;
  layout::Superblock sb_{};
  layout::Superblock geometry_{};  // sb_ as opened: geometry and features Commit reads unlocked
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<Allocator> allocator_;
  std::unique_ptr<InodeTable> inodes_;
  std::vector<uint64_t> orphans_;
  std::vector<uint64_t> truncating_;
  std::vector<uint64_t> bad_bitmap_blocks_;
  // Held shared by every Commit, SetFeatures and SetLabel, exclusively by SetReadOnly and
  // Close: a commit either ends before the switch to read-only (and the clean mark) or is
  // refused.
  SharedMutex mode_mu_;
  // Serialises superblock updates (SetFeatures, SetLabel, SetIdentity, SetReadOnly, Close;
  // Open while nobody else has the store); guards sb_.label. Taken after mode_mu_.
  mutable Mutex features_mu_ ACQUIRED_AFTER(mode_mu_);
  Mutex hook_mu_;
  std::function<void(BlockRange)> free_hook_ GUARDED_BY(hook_mu_);
};

}  // namespace pmemfs::store
