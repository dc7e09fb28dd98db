#include "fs/store/journal.h"

#include <algorithm>
#include <cstring>

#include "pmemfs/crc32c.h"

namespace pmemfs::store {

namespace {

using layout::JournalHeader;
using layout::JournalRecord;
using layout::JournalState;
using layout::RecordKind;

bool HeaderValid(const JournalHeader& h, uint64_t capacity) {
  static constexpr uint8_t kZero[sizeof h.reserved] = {};
  return std::memcmp(h.magic, layout::kJournalMagic, sizeof h.magic) == 0 &&
         h.checksum == StructChecksum(h) && std::memcmp(h.reserved, kZero, sizeof kZero) == 0 &&
         (h.state == static_cast<uint32_t>(JournalState::kEmpty) ||
          h.state == static_cast<uint32_t>(JournalState::kCommitted)) &&
         h.record_bytes <= capacity;
}

JournalHeader MakeHeader(JournalState state, uint64_t sequence, uint32_t count, uint64_t bytes,
                         uint32_t crc) {
  JournalHeader h{};
  std::memcpy(h.magic, layout::kJournalMagic, sizeof h.magic);
  h.sequence = sequence;
  h.state = static_cast<uint32_t>(state);
  h.record_count = count;
  h.record_bytes = bytes;
  h.records_crc = crc;
  h.checksum = StructChecksum(h);
  return h;
}

// Step 3: writes every record of `stream` in place, descriptors included, and drains once.
Status ApplyRecords(mapping::Device& dev, mapping::PageDescriptors* desc,
                    std::span<const std::byte> stream, const std::vector<JournalEntry>& records) {
  std::vector<mapping::PageUpdate> updates;
  for (const JournalEntry& e : records) {
    const std::byte* data = stream.data() + e.data_offset;
    if (e.rec.kind == static_cast<uint32_t>(RecordKind::kBytes)) {
      dev.CopyNoDrain(e.rec.target, data, e.rec.length);
    } else if (desc) {
      layout::DescriptorValue v;
      std::memcpy(&v, data, sizeof v);
      updates.push_back({e.rec.target, {v.owner, v.file_index, v.refcount, v.flags}});
    }
  }
  // The descriptors need no log of their own: until step 4 retires the header, recovery
  // replays them whole, torn or not (ParseRecords checked their pages, so this cannot fail
  // part way).
  Status s = updates.empty() ? Status::Ok() : desc->SetBatchNoDrain(updates);
  dev.Drain();  // covers every CopyNoDrain and descriptor flush above
  return s;
}

}  // namespace

// --- Reading ----------------------------------------------------------------------------------

Result<std::vector<JournalEntry>> ParseRecords(std::span<const std::byte> stream, uint32_t count,
                                               uint64_t store_bytes, uint64_t descriptor_pages) {
  // Every record takes at least a JournalRecord of the stream: a larger count is damage (and
  // must not size the allocation below).
  if (count > stream.size() / sizeof(JournalRecord))
    return Status::Corrupt("journal: " + std::to_string(count) + " records cannot fit in " +
                           std::to_string(stream.size()) + " bytes");
  std::vector<JournalEntry> out;
  out.reserve(count);
  uint64_t pos = 0;
  for (uint32_t i = 0; i < count; i++) {
    auto bad = [&](const std::string& what) {
      return Status::Corrupt("journal record " + std::to_string(i) + ": " + what);
    };
    if (stream.size() - pos < sizeof(JournalRecord)) return bad("past the end of the stream");
    JournalRecord r;
    std::memcpy(&r, stream.data() + pos, sizeof r);
    if (stream.size() - pos < BytesRecordSize(r.length)) return bad("data past the end");
    if (r.kind == static_cast<uint32_t>(RecordKind::kBytes)) {
      if (r.target > store_bytes || r.length > store_bytes - r.target)
        return bad("target [" + std::to_string(r.target) + ", +" + std::to_string(r.length) +
                   ") outside the store area");
    } else if (r.kind == static_cast<uint32_t>(RecordKind::kDescriptor)) {
      if (r.length != sizeof(layout::DescriptorValue)) return bad("descriptor record size");
      if (descriptor_pages && r.target >= descriptor_pages)
        return bad("descriptor of page " + std::to_string(r.target) + " outside the table");
    } else {
      return bad("unknown kind " + std::to_string(r.kind));
    }
    out.push_back({r, pos + sizeof r});
    pos += BytesRecordSize(r.length);
  }
  if (pos != stream.size()) return Status::Corrupt("journal: bytes after the last record");
  return out;
}

Result<JournalContents> ReadJournal(const mapping::Device& dev, const layout::Superblock& sb,
                                    uint64_t descriptor_pages) {
  const uint64_t header_offset = sb.journal_start * layout::kBlockSize;
  const uint64_t capacity = (sb.journal_blocks - 1) * layout::kBlockSize;
  JournalContents c;
  dev.Read(header_offset, &c.header, sizeof c.header);
  const JournalHeader& h = c.header;
  if (!HeaderValid(h, capacity)) return c;  // kDamaged
  if (h.state != static_cast<uint32_t>(JournalState::kCommitted)) {
    c.state = JournalContents::State::kEmpty;
    return c;
  }
  c.stream.resize(h.record_bytes);
  dev.Read(header_offset + layout::kBlockSize, c.stream.data(), c.stream.size());
  if (Crc32c(c.stream.data(), c.stream.size()) != h.records_crc) {
    c.stream.clear();
    c.state = JournalContents::State::kTorn;
    return c;
  }
  PMEMFS_ASSIGN_OR_RETURN(
      c.records, ParseRecords(c.stream, h.record_count, dev.info().store().length,
                              descriptor_pages));
  c.state = JournalContents::State::kCommitted;
  return c;
}

// --- RecordStream ------------------------------------------------------------------------------

std::byte* RecordStream::Append(uint64_t target, uint32_t len, RecordKind kind) {
  const size_t at = bytes_.size();
  bytes_.resize(at + BytesRecordSize(len));  // zero padding
  const JournalRecord r{target, len, static_cast<uint32_t>(kind)};
  std::memcpy(bytes_.data() + at, &r, sizeof r);
  count_++;
  return bytes_.data() + at + sizeof r;
}

void RecordStream::AddBytes(uint64_t target, const void* data, uint32_t len) {
  std::memcpy(Append(target, len, RecordKind::kBytes), data, len);
}

void RecordStream::AddDescriptor(uint64_t page, const mapping::PageInfo& info) {
  const layout::DescriptorValue v{info.owner, info.file_index, info.refcount, info.flags};
  std::memcpy(Append(page, sizeof v, RecordKind::kDescriptor), &v, sizeof v);
}

// --- Journal -----------------------------------------------------------------------------------

void Journal::Format(mapping::Device& dev, const layout::Superblock& sb) {
  const JournalHeader h = MakeHeader(JournalState::kEmpty, 0, 0, 0, 0);
  dev.CopyNoDrain(sb.journal_start * layout::kBlockSize, &h, sizeof h);
}

Result<std::unique_ptr<Journal>> Journal::Open(mapping::Device& dev, const layout::Superblock& sb,
                                               mapping::PageDescriptors* descriptors,
                                               bool read_only, bool unread) {
  std::unique_ptr<Journal> j(new Journal(dev, descriptors, sb.journal_start * layout::kBlockSize,
                                         (sb.journal_blocks - 1) * layout::kBlockSize));
  if (!unread) PMEMFS_RETURN_IF_ERROR(j->Recover(sb, read_only));
  return j;
}

Status Journal::Recover(const layout::Superblock& sb, bool read_only) {
  MutexLock lock(mu_);  // nobody else has the journal yet: for the analysis
  PMEMFS_ASSIGN_OR_RETURN(
      JournalContents c, ReadJournal(dev_, sb, descriptors_ ? descriptors_->page_count() : 0));
  // A damaged header was never committed (or is the torn kEmpty rewrite of step 4, whose
  // transaction was already applied); a torn stream was never committed either: nothing to
  // redo.
  if (c.state == JournalContents::State::kDamaged) return Status::Ok();
  sequence_ = c.header.sequence;
  if (c.state != JournalContents::State::kCommitted) return Status::Ok();
  if (read_only)
    return Status::ReadOnly("the journal holds a committed transaction (sequence " +
                            std::to_string(c.header.sequence) +
                            ") that a crash left unapplied; a read-write mount replays it");
  PMEMFS_RETURN_IF_ERROR(ApplyRecords(dev_, descriptors_, c.stream, c.records));
  WriteHeader(JournalState::kEmpty, c.header.record_count, c.header.record_bytes,
              c.header.records_crc);
  replayed_ = true;
  return Status::Ok();
}

Status Journal::Commit(const RecordStream& stream) {
  const std::span<const std::byte> bytes = stream.bytes();
  if (bytes.size() > capacity_)
    return Status::InvalidArgument("transaction of " + std::to_string(bytes.size()) +
                                   " journal bytes exceeds the journal's " +
                                   std::to_string(capacity_));
  // Nothing is written unless every record can be applied: a committed transaction that
  // recovery cannot apply would make the store unmountable.
  PMEMFS_ASSIGN_OR_RETURN(
      std::vector<JournalEntry> records,
      ParseRecords(bytes, stream.count(), dev_.info().store().length,
                   descriptors_ ? descriptors_->page_count() : 0));
  const uint32_t crc = Crc32c(bytes.data(), bytes.size());
  PMEMFS_RETURN_IF_ERROR(dev_.Health());  // a device that shrank takes no more transactions

  // (1) The record stream, drained before the header can claim it.
  dev_.CopyNoDrain(stream_offset(), bytes.data(), bytes.size());
  dev_.Drain();
  // (2) THE COMMIT POINT: once this header is persisted the transaction happened.
  sequence_++;
  WriteHeader(JournalState::kCommitted, stream.count(), bytes.size(), crc);
  // (3) + (4): apply in place, then retire the header.
  Status s = ApplyRecords(dev_, descriptors_, bytes, records);
  WriteHeader(JournalState::kEmpty, stream.count(), bytes.size(), crc);
  // A device that shrank meanwhile may have lost any of these writes (media_guard.h).
  if (s.ok()) s = dev_.Health();
  return s;
}

void Journal::WriteHeader(JournalState state, uint32_t count, uint64_t bytes, uint32_t crc) {
  const JournalHeader h = MakeHeader(state, sequence_, count, bytes, crc);
  dev_.CopyNoDrain(header_offset_, &h, sizeof h);
  dev_.Drain();
}


}  // namespace pmemfs::store
