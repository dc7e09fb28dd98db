// Store: Format, Open, the Commit orchestration, Close, and the inode and block accessors.
// Chains are in chain.cc; the pieces behind them in superblock, journal, allocator, inode_table.
#include "fs/store/store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <map>

#include "fs/store/allocator.h"
#include "fs/store/bitmap_checksums.h"
#include "fs/store/inode_table.h"
#include "fs/store/metadata_media.h"
#include "fs/store/journal.h"
#include "fs/store/superblock.h"

namespace pmemfs::store {

namespace {

using layout::InodeRecord;
using layout::Superblock;

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// Zeroes [off, off+len) in slices, reporting progress; flushed, drained by the caller.
void ZeroWithProgress(mapping::Device& dev, uint64_t off, uint64_t len, uint64_t& done,
                      uint64_t total, const FormatOptions& opts) {
  constexpr uint64_t kSlice = 16ull << 20;
  for (uint64_t at = 0; at < len;) {
    const uint64_t n = std::min(kSlice, len - at);
    dev.SetNoDrain(off + at, 0, n);
    at += n;
    done += n;
    if (opts.progress) opts.progress(done, total);
  }
}

// Sets the bitmap bits of the metadata blocks [0, data_start) and the backup block (the bitmap
// is zero). Flushed, drained by the caller.
void MarkMetadataInUse(mapping::Device& dev, const Superblock& sb) {
  const uint64_t bitmap = sb.bitmap_start * layout::kBlockSize;
  dev.SetNoDrain(bitmap, 0xff, sb.data_start / 8);
  std::map<uint64_t, uint8_t> bytes;  // partial bytes: byte index -> bits
  if (sb.data_start % 8) bytes[sb.data_start / 8] |= (1u << (sb.data_start % 8)) - 1;
  bytes[sb.backup_block / 8] |= 1u << (sb.backup_block % 8);
  for (auto [i, v] : bytes) dev.CopyNoDrain(bitmap + i, &v, 1);
}

InodeRecord RootRecord(const FormatOptions& opts, int64_t now) {
  InodeRecord r{};
  r.mode = S_IFDIR | (opts.root_mode & 07777);
  r.nlink = 2;
  r.uid = opts.root_uid;
  r.gid = opts.root_gid;
  r.atime_ns = r.mtime_ns = r.ctime_ns = r.btime_ns = now;
  r.generation = 1;
  r.parent = layout::kRootIno;
  InodeTable::Seal(r);
  return r;
}

}  // namespace

Store::Store(mapping::Device& dev, mapping::PageDescriptors* descriptors)
    : dev_(dev), descriptors_(descriptors) {}

Store::~Store() = default;

// --- Format, Detect, Open, Close ---------------------------------------------------------------

Status Store::Format(mapping::Device& dev, const FormatOptions& opts) {
  if (opts.label.size() >= sizeof(Superblock::label))
    return Status::InvalidArgument("label of " + std::to_string(opts.label.size()) +
                                   " bytes is longer than the limit of " +
                                   std::to_string(sizeof(Superblock::label) - 1));
  if (opts.default_mode > layout::StoredMode::kPages)
    return Status::InvalidArgument("unknown default mode " +
                                   std::to_string(static_cast<uint32_t>(opts.default_mode)));
  const uint64_t store_bytes = dev.info().store().length;
  PMEMFS_ASSIGN_OR_RETURN(Superblock sb,
                          PlanGeometry(store_bytes, opts.inode_count, opts.journal_bytes,
                                       opts.bitmap_checksums));
  const int64_t now = NowNs();
  std::memcpy(sb.magic, layout::kSuperMagic, sizeof sb.magic);
  sb.major = layout::kMajorVersion;
  sb.minor = layout::kMinorVersion;
  sb.state = static_cast<uint32_t>(layout::FsState::kClean);
  std::memcpy(sb.uuid, dev.info().set_uuid, sizeof sb.uuid);  // one uuid names the device
  std::memcpy(sb.label, opts.label.data(), opts.label.size());
  sb.default_mode = static_cast<uint32_t>(opts.default_mode);
  if (opts.large_xattrs) sb.incompat |= layout::kIncompatLargeXattrs;
  sb.created_ns = sb.written_ns = static_cast<uint64_t>(now);

  // 1. No valid superblock while the rest is rewritten: a crash during Format leaves a store
  //    that Detect and Open do not recognise, never one that mixes old and new.
  dev.SetNoDrain(0, 0, layout::kBlockSize);
  dev.SetNoDrain(BlockOffset(sb.backup_block), 0, layout::kBlockSize);
  dev.Drain();
  // 2. Clear the journal header, the inode table and the bitmap.
  const uint64_t tables = BlockOffset(sb.data_start) - BlockOffset(sb.inode_start);
  const uint64_t total = layout::kBlockSize + tables;
  uint64_t done = 0;
  ZeroWithProgress(dev, BlockOffset(sb.journal_start), layout::kBlockSize, done, total, opts);
  ZeroWithProgress(dev, BlockOffset(sb.inode_start), tables, done, total, opts);
  dev.Drain();
  // 3. An empty journal, the metadata blocks in use, the root directory.
  Journal::Format(dev, sb);
  MarkMetadataInUse(dev, sb);
  if (HasBitmapChecksums(sb)) WriteBitmapChecksums(dev, sb);
  const InodeRecord root = RootRecord(opts, now);
  dev.CopyNoDrain(BlockOffset(sb.inode_start), &root, sizeof root);  // ino 1: the first slot
  dev.Drain();
  // 4. The superblocks, the primary last: it is what makes the device a pmemfs.
  WriteSuperblock(dev, sb, sb.backup_block);
  WriteSuperblock(dev, sb, 0);
  return Status::Ok();
}

std::string Store::Detect(const mapping::Device& dev) {
  return DetectSuperblock(dev) ? "pmemfs" : "";
}

Result<layout::Superblock> Store::Peek(const mapping::Device& dev) { return PeekSuperblock(dev); }

Result<std::unique_ptr<Store>> Store::Open(mapping::Device& dev,
                                           mapping::PageDescriptors* descriptors, bool read_only,
                                           const mapping::PinCounts* pins) {
  return OpenAs(dev, descriptors, read_only ? OpenKind::kReadOnly : OpenKind::kMount, pins);
}

Result<std::unique_ptr<Store>> Store::OpenOffline(mapping::Device& dev) {
  return OpenAs(dev, nullptr, OpenKind::kOffline, nullptr);
}

Result<std::unique_ptr<Store>> Store::OpenAs(mapping::Device& dev,
                                             mapping::PageDescriptors* descriptors, OpenKind kind,
                                             const mapping::PinCounts* pins) {
  const bool read_only = kind == OpenKind::kReadOnly;
  // Recorded bad ranges in the fixed structures: never read; read-only where that suffices.
  PMEMFS_RETURN_IF_ERROR(CheckSuperblockMedia(dev));
  PMEMFS_ASSIGN_OR_RETURN(Superblock sb, LoadSuperblock(dev, /*repair=*/!read_only));
  const MetadataMedia media = CheckMetadataMedia(dev, sb);
  if (media.refuse) return Status::IoError("metadata: " + media.damaged);
  if (!media.damaged.empty() && kind == OpenKind::kMount)
    return Status::ReadOnly("recorded bad ranges in metadata: " + media.damaged +
                            "; only a read-only mount avoids them");
  if (!read_only) PMEMFS_RETURN_IF_ERROR(CheckWritable(sb));
  std::unique_ptr<Store> s(new Store(dev, descriptors));
  s->read_only_ = read_only;
  s->offline_ = kind == OpenKind::kOffline;
  Result<std::unique_ptr<Journal>> journal =
      Journal::Open(dev, sb, descriptors, read_only || s->offline_,
                    /*unread=*/read_only && media.skip_journal);
  if (!journal.ok() && s->offline_ && journal.status().code() == Code::kReadOnly)
    return Status::Busy("the filesystem needs recovery: " + journal.status().message() +
                        " (mount it once, or run pmemfs-fsck -y, first)");
  PMEMFS_ASSIGN_OR_RETURN(s->journal_, std::move(journal));
  // The replayed transaction may have been one that rewrote the superblock.
  if (s->journal_->replayed()) {
    PMEMFS_ASSIGN_OR_RETURN(sb, LoadSuperblock(dev));
  }
  s->sb_ = s->geometry_ = sb;
  s->allocator_ =
      std::make_unique<Allocator>(sb, pins ? pins : descriptors, Allocator::ColourPhase(dev));
  s->allocator_->Load(dev);
  s->bad_bitmap_blocks_ = BadBitmapBlocks(dev, sb);
  s->inodes_ = std::make_unique<InodeTable>(dev, sb);
  PMEMFS_RETURN_IF_ERROR(s->inodes_->Load(&s->orphans_, &s->truncating_));
  // A uuid change a crash interrupted: the superblock's uuid says which way it went.
  if (!read_only && UuidChangeInterrupted(sb, dev)) {
    MutexLock l(s->features_mu_);  // nobody else has the store yet: for the analysis
    PMEMFS_RETURN_IF_ERROR(s->FinishUuidChange());
    sb = s->sb_;
  }
  // A change of the RAM partition or descriptor area a crash interrupted: the device opened with
  // the ranges that won (mapping/device_set.h); make every part label say so.
  if (!read_only && GeometryChangeInterrupted(sb, dev)) {
    MutexLock l(s->features_mu_);  // nobody else has the store yet: for the analysis
    PMEMFS_RETURN_IF_ERROR(s->FinishGeometryChange());
    sb = s->sb_;
  }
  // pmemfs-tune --add-part: the store grows into the device's grown store area (or the mark of
  // an add that was undone goes). While the labels still join the part, the tool finishes first.
  if (!read_only && sb.store_growth != 0 && !dev.info().add_part_pending) {
    MutexLock l(s->features_mu_);  // nobody else has the store yet: for the analysis
    PMEMFS_RETURN_IF_ERROR(s->FinishStoreGrowth(pins ? pins : descriptors));
    sb = s->sb_;
  }
  if (s->offline_) return s;  // not a mount: the superblock stays as it is
  if (read_only) {
    if (!s->orphans_.empty() || !s->truncating_.empty())
      return Status::ReadOnly(
          "a crash left " + std::to_string(s->orphans_.size()) + " unlinked inode(s) and " +
          std::to_string(s->truncating_.size()) +
          " interrupted truncate(s) to finish; a read-write mount finishes them");
    return s;
  }

  sb.state = static_cast<uint32_t>(layout::FsState::kDirty);
  sb.mounted_ns = static_cast<uint64_t>(NowNs());
  sb.mount_count++;
  {
    MutexLock l(s->features_mu_);  // as above
    PMEMFS_RETURN_IF_ERROR(s->UpdateSuperblock(sb));
  }
  return s;
}

Status Store::Close() {
  if (read_only_ || offline_) return Status::Ok();
  WriterLock mode(mode_mu_);  // the caller is the store's last user: uncontended
  return MarkClean();
}

Status Store::MarkClean() {
  MutexLock l(features_mu_);
  Superblock sb = sb_;
  sb.state = static_cast<uint32_t>(layout::FsState::kClean);
  sb.written_ns = static_cast<uint64_t>(NowNs());
  return UpdateSuperblock(sb);
}

Status Store::SetReadOnly(bool read_only) {
  WriterLock mode(mode_mu_);  // waits for the commits under way
  if (read_only == read_only_) return Status::Ok();
  if (!read_only) {
    PMEMFS_RETURN_IF_ERROR(CheckWritable(sb_));
    if (const MetadataMedia m = CheckMetadataMedia(dev_, sb_); !m.damaged.empty())
      return Status::ReadOnly("recorded bad ranges in metadata: " + m.damaged +
                              "; only a read-only mount avoids them");
    MutexLock l(features_mu_);
    Superblock sb = sb_;
    sb.state = static_cast<uint32_t>(layout::FsState::kDirty);
    sb.mounted_ns = static_cast<uint64_t>(NowNs());
    PMEMFS_RETURN_IF_ERROR(UpdateSuperblock(sb));
    read_only_ = false;
    return Status::Ok();
  }
  PMEMFS_RETURN_IF_ERROR(MarkClean());
  read_only_ = true;
  return Status::Ok();
}

Status Store::SetFeatures(uint64_t compat_set, uint64_t compat_clear, uint64_t incompat_set) {
  ReaderLock mode(mode_mu_);
  if (read_only_) return Status::ReadOnly("the filesystem is mounted read-only");
  MutexLock l(features_mu_);
  Superblock sb = sb_;
  sb.compat = (sb.compat | compat_set) & ~compat_clear;
  sb.incompat |= incompat_set;
  if (sb.compat == sb_.compat && sb.incompat == sb_.incompat) return Status::Ok();
  return UpdateSuperblock(sb);
}

std::string Store::label() const {
  MutexLock l(features_mu_);
  return std::string(sb_.label, strnlen(sb_.label, sizeof sb_.label));
}

void Store::SetDescriptors(mapping::PageDescriptors* descriptors) {
  WriterLock mode(mode_mu_);  // no commit in flight
  MutexLock l(journal_->mutex());
  descriptors_ = descriptors;
  journal_->SetDescriptors(descriptors);
}

Status Store::SetLabel(std::string_view label) {
  if (label.size() >= sizeof(Superblock::label) || label.find('\0') != std::string_view::npos)
    return Status::InvalidArgument("a label has at most " +
                                   std::to_string(sizeof(Superblock::label) - 1) +
                                   " bytes and no NUL");
  ReaderLock mode(mode_mu_);
  if (read_only_) return Status::ReadOnly("the filesystem is mounted read-only");
  MutexLock l(features_mu_);
  Superblock sb = sb_;
  std::memset(sb.label, 0, sizeof sb.label);
  std::memcpy(sb.label, label.data(), label.size());
  return UpdateSuperblock(sb);
}

Status Store::UpdateSuperblock(Superblock sb) {
  SealSuperblock(sb);
  // One copy per transaction, the primary first: a crash while a transaction is applied may
  // tear the copy it writes (any of its lines may persist), and mount reads the superblock
  // before it can find and replay the journal, so the other copy must be whole then. (Torn
  // primary: mount opens the backup, the older one, and the replay rewrites the primary. Torn
  // backup: the primary is already the new one.)
  for (const uint64_t block : {uint64_t{0}, sb.backup_block}) {
    Tx tx = Begin();
    tx.Put(BlockOffset(block), sb);
    PMEMFS_RETURN_IF_ERROR(Apply(tx));
    sb_ = sb;  // the primary is what mount reads
  }
  return Status::Ok();
}

StoreStats Store::stats() const {
  return {.data_blocks = sb_.data_blocks,
          .free_blocks = allocator_->free_blocks(),
          .inode_count = sb_.inode_count,
          .free_inodes = inodes_->free_count()};
}

// --- transactions ------------------------------------------------------------------------------

uint64_t Store::max_tx_bytes() const { return journal_->capacity(); }

uint64_t Store::DescriptorChangesCost(uint64_t n) { return n * kDescriptorRecordSize; }
uint64_t Store::WriteCost(uint64_t len) { return BytesRecordSize(len); }

void Store::Abort(Tx& tx) {
  // The reserved blocks may hold what the Tx's owner wrote into them (data in a cache): it is
  // forgotten before the blocks can be allocated again.
  RunFreeHook(tx.alloc_);
  allocator_->Release(tx.alloc_);
  inodes_->Release(tx.inodes_reserved_);
  tx.alloc_.clear();
  tx.inodes_reserved_.clear();
  tx.done_ = true;
}

// What Commit refuses before anything is written.
Status Store::CheckTx(const Tx& tx) const {
  if (!tx.error_.empty()) return Status::InvalidArgument(tx.error_);
  const uint64_t store_bytes = dev_.info().store().length;
  for (const auto& [off, bytes] : tx.writes_)
    if (off > store_bytes || bytes.size() > store_bytes - off)
      return Status::InvalidArgument("transaction write [" + std::to_string(off) + ", +" +
                                     std::to_string(bytes.size()) +
                                     ") lies outside the store area");
  if (!tx.descriptors_.empty()) {
    if (!descriptors_)
      return Status::InvalidArgument("page descriptor updates need the store opened with "
                                     "descriptors (pages mode)");
    const uint64_t last = tx.descriptors_.rbegin()->first;
    if (last >= descriptors_->page_count())
      return Status::InvalidArgument("page " + std::to_string(last) +
                                     " is outside the descriptor table");
  }
  if (tx.journal_bytes() > max_tx_bytes())
    return Status::InvalidArgument("transaction needs " + std::to_string(tx.journal_bytes()) +
                                   " journal bytes, more than the " +
                                   std::to_string(max_tx_bytes()) + " the journal holds");
  return Status::Ok();
}

Status Store::Commit(Tx& tx) {
  if (tx.store_ != this || tx.done_)
    return Status::InvalidArgument("commit of a transaction that is finished or not this store's");
  ReaderLock mode(mode_mu_);  // read-only cannot begin during a commit
  if (read_only_) {
    Abort(tx);
    return Status::ReadOnly("the filesystem is mounted read-only");
  }
  return Apply(tx);
}

Status Store::Apply(Tx& tx) {
  if (Status s = CheckTx(tx); !s.ok()) {
    Abort(tx);
    return s;
  }
  Status applied;
  {
    MutexLock lock(journal_->mutex());
    Result<std::map<uint64_t, uint64_t>> words = allocator_->Materialise(tx.alloc_, tx.free_);
    if (!words.ok()) {
      Abort(tx);
      return words.status();
    }
    RecordStream stream;
    for (const auto& [off, bytes] : tx.writes_)
      stream.AddBytes(off, bytes.data(), static_cast<uint32_t>(bytes.size()));
    // The bitmap words, one record per run of consecutive words (as Tx::journal_bytes counts).
    std::vector<uint64_t> run;
    uint64_t run_first = 0;
    auto flush_run = [&] {
      if (run.empty()) return;
      stream.AddBytes(allocator_->WordOffset(run_first), run.data(),
                      static_cast<uint32_t>(run.size() * sizeof(uint64_t)));
      run.clear();
    };
    for (const auto& [w, v] : *words) {
      if (!run.empty() && w != run_first + run.size()) flush_run();
      if (run.empty()) run_first = w;
      run.push_back(v);
    }
    flush_run();
    // The checksums of the bitmap blocks changed: the raw writes, then the words, as applied.
    if (HasBitmapChecksums(geometry_)) {
      constexpr uint64_t kWordsPerBlock = layout::kBlockSize / sizeof(uint64_t);
      std::vector<std::byte> block(layout::kBlockSize);
      for (uint64_t i : tx.BitmapBlocks(geometry_)) {
        const uint64_t len = layout::BitmapBlockLength(geometry_, i);
        tx.Overlay(BlockOffset(geometry_.bitmap_start + i), block.data(),
                   static_cast<uint32_t>(len));
        for (auto it = words->lower_bound(i * kWordsPerBlock);
             it != words->end() && it->first < (i + 1) * kWordsPerBlock; ++it)
          std::memcpy(block.data() + (it->first - i * kWordsPerBlock) * sizeof(uint64_t),
                      &it->second, sizeof(uint64_t));
        const uint32_t crc = BitmapBlockChecksum(block.data(), len);
        stream.AddBytes(layout::BitmapChecksumOffset(geometry_, i), &crc, sizeof crc);
      }
    }
    for (const auto& [page, info] : tx.descriptors_) stream.AddDescriptor(page, info);

    if (stream.count() > 0) applied = journal_->Commit(stream);  // durable from here on
    // Before Committed makes them allocatable: once another Tx may reserve a freed block and
    // write it, nothing cached of its old contents may be dropped or written back.
    RunFreeHook(tx.free_);
    allocator_->Committed(tx.alloc_, tx.free_);
  }
  inodes_->Release(tx.inodes_freed_);
  tx.done_ = true;
  return applied;
}

void Store::SetFreeHook(std::function<void(BlockRange)> hook) {
  MutexLock lock(hook_mu_);
  free_hook_ = std::move(hook);
}

void Store::RunFreeHook(std::span<const BlockRange> ranges) {
  if (ranges.empty()) return;
  MutexLock lock(hook_mu_);
  if (free_hook_)
    for (const BlockRange& r : ranges) free_hook_(r);
}

// --- inodes ------------------------------------------------------------------------------------

Result<InodeRecord> Store::ReadInode(uint64_t ino) const { return inodes_->Read(ino); }

void Store::WriteInode(Tx& tx, uint64_t ino, const InodeRecord& rec) {
  if (!inodes_->Contains(ino)) {
    if (tx.error_.empty()) tx.error_ = "write of inode " + std::to_string(ino) + ": no such slot";
    return;
  }
  InodeRecord r = rec;
  InodeTable::Seal(r);
  tx.Put(inodes_->RecordOffset(ino), r);
}

Result<uint64_t> Store::ReserveInode(Tx& tx, uint64_t* generation) {
  PMEMFS_ASSIGN_OR_RETURN(uint64_t ino, inodes_->Reserve(generation));
  tx.inodes_reserved_.push_back(ino);
  return ino;
}

void Store::FreeInode(Tx& tx, uint64_t ino) {
  if (!inodes_->Contains(ino)) {
    if (tx.error_.empty()) tx.error_ = "free of inode " + std::to_string(ino) + ": no such slot";
    return;
  }
  InodeRecord old;
  tx.Overlay(inodes_->RecordOffset(ino), &old, sizeof old);
  InodeRecord r{};
  r.generation = old.generation;
  InodeTable::Seal(r);
  tx.Put(inodes_->RecordOffset(ino), r);
  tx.inodes_freed_.push_back(ino);
}

// --- blocks ------------------------------------------------------------------------------------

Result<BlockRange> Store::AllocBlocks(Tx& tx, uint64_t count, uint64_t goal,
                                      uint64_t file_block) {
  const uint64_t colour = file_block == kNoFileBlock ? Allocator::kAnyColour
                                                     : file_block % Allocator::kHugeBlocks;
  PMEMFS_ASSIGN_OR_RETURN(BlockRange r, allocator_->Alloc(count, goal, colour));
  tx.alloc_.push_back(r);
  return r;
}

void Store::FreeBlocks(Tx& tx, BlockRange r) {
  if (r.count > 0) tx.free_.push_back(r);
}

}  // namespace pmemfs::store
