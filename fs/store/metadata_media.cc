#include "fs/store/metadata_media.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace pmemfs::store {

namespace {

constexpr uint64_t P = layout::kBlockSize;

// (Built by appending: GCC 12's -O3 -Wrestrict misfires on chains of operator+.)
std::string Range(uint64_t off, uint64_t len) {
  std::string s = "[";
  s += std::to_string(off);
  s += ", ";
  s += std::to_string(off + len);
  s += ")";
  return s;
}

// The first recorded bad range touching [off, off+len), clipped to it; length 0 when none.
mapping::BadBlocks::Entry FirstBad(const mapping::Device& dev, uint64_t off, uint64_t len) {
  if (MediaGood(dev, off, len)) return {0, 0};
  for (const mapping::BadBlocks::Entry& e : dev.bad_blocks().List()) {
    const uint64_t s = std::max(e.offset, off), t = std::min(e.offset + e.length, off + len);
    if (s < t) return {s, t - s};
  }
  return {0, 0};
}

}  // namespace

Status CheckSuperblockMedia(const mapping::Device& dev) {
  const mapping::BadBlocks::Entry bad = FirstBad(dev, 0, P);
  if (bad.length == 0) return Status::Ok();
  std::string m = "the superblock (device range ";
  m += Range(0, P);
  m += ") holds the recorded bad range ";
  m += Range(bad.offset, bad.length);
  m += ": the filesystem cannot be mounted";
  return Status::IoError(m);
}

MetadataMedia CheckMetadataMedia(const mapping::Device& dev, const layout::Superblock& sb) {
  MetadataMedia m;
  if (dev.bad_blocks().empty()) return m;
  std::vector<std::string> hit;
  auto note = [&](const char* what, uint64_t off, uint64_t len) {
    const mapping::BadBlocks::Entry bad = FirstBad(dev, off, len);
    if (bad.length == 0) return false;
    std::string h = what;
    h += " (bad range ";
    h += Range(bad.offset, bad.length);
    h += ")";
    hit.push_back(std::move(h));
    return true;
  };
  note("backup superblock", sb.backup_block * P, P);
  note("inode table", sb.inode_start * P, sb.inode_blocks * P);
  note("allocation bitmap", sb.bitmap_start * P, sb.bitmap_blocks * P);
  const uint64_t journal = sb.journal_start * P;
  if (note("journal", journal, sb.journal_blocks * P)) {
    m.skip_journal = true;
    if (sb.state != static_cast<uint32_t>(layout::FsState::kClean)) {
      // Not unmounted cleanly: a committed transaction may wait in the journal.
      if (!MediaGood(dev, journal, sizeof(layout::JournalHeader))) {
        m.refuse = true;
        hit.back() += ": its header cannot be read and the filesystem was not unmounted "
                      "cleanly, so a transaction to replay may be lost";
      } else {
        layout::JournalHeader h;
        dev.Read(journal, &h, sizeof h);
        if (std::memcmp(h.magic, layout::kJournalMagic, sizeof h.magic) == 0 &&
            h.state == static_cast<uint32_t>(layout::JournalState::kCommitted)) {
          m.refuse = true;
          hit.back() += ": it holds a committed transaction to replay";
        }
      }
    }
  }
  for (size_t i = 0; i < hit.size(); i++) {
    if (i) m.damaged += "; ";
    m.damaged += hit[i];
  }
  if (m.refuse) m.damaged += ": the filesystem cannot be mounted";
  return m;
}

}  // namespace pmemfs::store
