// Journal: the store's redo journal, one transaction at a time (layout::JournalHeader).
//
// A transaction is a record stream (RecordStream: "write these bytes at this device offset",
// "set this page descriptor"). Journal::Commit makes it atomic and durable:
//   1. the stream is copied into the journal blocks after the header; drain;
//   2. the header is written {kCommitted, sequence + 1, count, bytes, CRC of the stream} and
//      persisted: THE COMMIT POINT. A crash before it leaves nothing of the transaction; after it
//      recovery redoes all of it;
//   3. every record is applied in place (descriptors too, PageDescriptors::SetBatchNoDrain);
//      one drain;
//   4. the header is rewritten with state kEmpty (same sequence) and persisted.
// Journal::Open redoes steps 3 and 4 for a header that is valid, kCommitted and whose stream
// matches its CRC (ReadJournal, also used by pmemfs-fsck to check the journal). Applying a
// record writes absolute values, so a crash during recovery is recovered by running it again.
//
// Internal to fs/store; Store owns the Journal and holds mutex() around Commit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "mapping/device.h"
#include "mapping/page_descriptors.h"
#include "pmemfs/layout.h"
#include "pmemfs/status.h"
#include "pmemfs/thread_annotations.h"

namespace pmemfs::store {

// Journal bytes of one record.
constexpr uint64_t BytesRecordSize(uint64_t len) {
  return sizeof(layout::JournalRecord) + (len + 7) / 8 * 8;
}
inline constexpr uint64_t kDescriptorRecordSize =
    sizeof(layout::JournalRecord) + sizeof(layout::DescriptorValue);

// A transaction's records, serialised in DRAM exactly as they go into the journal.
class RecordStream {
 public:
  void AddBytes(uint64_t target, const void* data, uint32_t len);
  void AddDescriptor(uint64_t page, const mapping::PageInfo& info);

  std::span<const std::byte> bytes() const { return bytes_; }
  uint32_t count() const { return count_; }

 private:
  std::byte* Append(uint64_t target, uint32_t len, layout::RecordKind kind);

  std::vector<std::byte> bytes_;
  uint32_t count_ = 0;
};

// One record of a record stream: its header and where its data starts in the stream.
struct JournalEntry {
  layout::JournalRecord rec;
  uint64_t data_offset;  // rec.length bytes of data at stream[data_offset]
};

// Splits `stream` into `count` records and checks each can be applied: a kBytes target inside
// the first `store_bytes` of the device, a kDescriptor record of the right size for a page below
// `descriptor_pages` (0: pages not checked), no other kind, no bytes after the last record.
// Corrupt naming the first record that does not fit ("journal record 3: ...").
Result<std::vector<JournalEntry>> ParseRecords(std::span<const std::byte> stream, uint32_t count,
                                               uint64_t store_bytes, uint64_t descriptor_pages);

// The journal of a device as it stands, read without writing anything: what Journal::Open
// replays, and what pmemfs-fsck checks (a pending transaction overlaid on its image).
struct JournalContents {
  enum class State {
    kDamaged,    // the header fails its checks (magic, checksum, reserved bytes, state, size):
                 // never committed, or the torn retirement of an applied transaction
    kEmpty,      // no transaction pending
    kTorn,       // the header says committed but the stream does not match its CRC: Commit
                 // drains the stream before the header, so no transaction happened
    kCommitted,  // a committed transaction not applied yet: `records`, to be replayed
  };
  State state = State::kDamaged;
  layout::JournalHeader header{};  // as read (meaningful unless kDamaged)
  std::vector<std::byte> stream;   // kCommitted: the record stream
  std::vector<JournalEntry> records;  // kCommitted: parsed from `stream`

  const std::byte* data(const JournalEntry& e) const { return stream.data() + e.data_offset; }
};

// Reads the journal of `sb` on `dev`. Corrupt (ParseRecords' message) when a committed stream
// holds a record that cannot be applied; `descriptor_pages` as for ParseRecords.
Result<JournalContents> ReadJournal(const mapping::Device& dev, const layout::Superblock& sb,
                                    uint64_t descriptor_pages);

class Journal {
 public:
  // Writes an empty header (sequence 0) at the start of the journal of `sb`: flushed, durable
  // after the caller's next Drain. Format time.
  static void Format(mapping::Device& dev, const layout::Superblock& sb);

  // Reads the header and, when it holds a committed transaction, replays it (steps 3 and 4).
  // `dev` and `descriptors` (may be null: descriptor records are then skipped) must outlive the
  // Journal. Corrupt when a committed stream names a target outside the store area. With
  // `read_only`, a committed transaction is refused (ReadOnly) instead of replayed. With
  // `unread` (a read-only mount whose journal holds a recorded bad range and no transaction to
  // replay: metadata_media.h), nothing is read; such a Journal must take no commit.
  static Result<std::unique_ptr<Journal>> Open(mapping::Device& dev, const layout::Superblock& sb,
                                               mapping::PageDescriptors* descriptors,
                                               bool read_only = false, bool unread = false);

  // Bytes of record stream one transaction may use.
  uint64_t capacity() const { return capacity_; }
  uint64_t sequence() const REQUIRES(mu_) { return sequence_; }
  // Whether Open replayed a transaction.
  bool replayed() const { return replayed_; }

  // Serialises commits: held by the caller around Commit and everything the caller derives
  // from committed state for the transaction (the bitmap words it writes).
  Mutex& mutex() RETURN_CAPABILITY(mu_) { return mu_; }

  // Steps 1-4 above. stream.bytes().size() <= capacity(); every target was checked by the
  // caller. Durable on return; an error can only come from applying descriptors and leaves the
  // transaction committed (recovery applies it again).
  Status Commit(const RecordStream& stream) REQUIRES(mu_);
  // Where descriptor records go from now on (an online mode switch; may be null).
  void SetDescriptors(mapping::PageDescriptors* descriptors) REQUIRES(mu_) {
    descriptors_ = descriptors;
  }

 private:
  Journal(mapping::Device& dev, mapping::PageDescriptors* descriptors, uint64_t header_offset,
          uint64_t capacity)
      : dev_(dev), descriptors_(descriptors), header_offset_(header_offset), capacity_(capacity) {}

  uint64_t stream_offset() const { return header_offset_ + layout::kBlockSize; }
  // Writes and persists the header.
  void WriteHeader(layout::JournalState state, uint32_t count, uint64_t bytes, uint32_t crc)
      REQUIRES(mu_);
  // Replays a committed transaction found by Open.
  Status Recover(const layout::Superblock& sb, bool read_only) EXCLUDES(mu_);

  mapping::Device& dev_;
  mapping::PageDescriptors* descriptors_ GUARDED_BY(mu_);
  const uint64_t header_offset_;  // device offset of the header (the journal's first block)
  const uint64_t capacity_;       // bytes of record stream after the header block
  // Guards sequence_ and the journal blocks: one transaction in the journal at a time.
  Mutex mu_;
  uint64_t sequence_ GUARDED_BY(mu_) = 0;  // of the last committed transaction
  bool replayed_ = false;  // set by Open
};

}  // namespace pmemfs::store
