// Check(): the superblocks, the device's reserved ranges and the journal, then scans (scan.h)
// and, with opts.repair, repairs (repair.cc) in turn until a scan finds nothing more to fix.
//
// A committed journal transaction that was not applied yet is what Store::Open replays first:
// the scan looks at the device as it will be after that replay (Image overlays the records),
// reports the pending transaction, and the repair replays it by opening the store.
#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

#include "fs/store/journal.h"
#include "fs/store/store.h"
#include "fs/store/superblock.h"
#include "mapping/device_set.h"
#include "tools/fsck/scan.h"

namespace pmemfs::fsck {

namespace {

using layout::Superblock;

constexpr int kMaxPasses = 6;

void Add(CheckReport& r, const std::string& area, const std::string& message) {
  r.problems.push_back({area, message, false});
}

// The superblock to check with (nullopt: none is usable, reported); Status when the device
// holds no pmemfs at all or one this build cannot read.
Result<std::optional<Superblock>> CheckSuperblocks(const mapping::Device& dev, CheckReport& r,
                                                   Fixes& fixes) {
  const uint64_t store_bytes = dev.info().store().length;
  if (store_bytes < 2 * layout::kBlockSize)
    return Status::InvalidArgument("the device's store area (" + std::to_string(store_bytes) +
                                   " bytes) is too small to hold a pmemfs filesystem");
  const uint64_t at = store::BackupBlock(store_bytes);
  Superblock primary{}, backup{};
  dev.Read(0, &primary, sizeof primary);
  dev.Read(at * layout::kBlockSize, &backup, sizeof backup);
  const bool magic_p = std::memcmp(primary.magic, layout::kSuperMagic, 8) == 0;
  const bool magic_b = std::memcmp(backup.magic, layout::kSuperMagic, 8) == 0;
  if (!magic_p && !magic_b)
    return Status::InvalidArgument("no pmemfs superblock (neither the primary nor the backup): "
                                   "not a pmemfs filesystem");
  Status p = store::ValidateSuperblock(primary, store_bytes, "primary");
  Status b = store::ValidateSuperblock(backup, store_bytes, "backup");
  if (b.ok() && backup.backup_block != at)
    b = Status::Corrupt("backup superblock: found in block " + std::to_string(at) +
                        " but its geometry puts it in " + std::to_string(backup.backup_block));
  if (p.code() == Code::kUnsupported) return p;
  if (!p.ok() && b.code() == Code::kUnsupported) return b;

  Superblock sb;
  if (p.ok() && b.ok()) {
    sb = primary;
    if (std::memcmp(&primary, &backup, sizeof primary) != 0) {
      Add(r, "superblock", "the backup superblock differs from the primary (rewritten)");
      fixes.open_close = true;
    }
  } else if (p.ok()) {
    sb = primary;
    Add(r, "superblock", b.message() + " (rewritten from the primary)");
    fixes.open_close = true;
  } else if (b.ok()) {
    sb = backup;
    Add(r, "superblock", p.message() + " (rewritten from the backup)");
    fixes.open_close = true;
  } else {
    Add(r, "superblock", "no usable superblock: " + p.message() + "; " + b.message() +
                             " (not repairable)");
    return std::optional<Superblock>();
  }
  if (sb.store_blocks != store_bytes / layout::kBlockSize)
    Add(r, "superblock", "the superblock says " + std::to_string(sb.store_blocks) +
                             " blocks but the device's store area holds " +
                             std::to_string(store_bytes / layout::kBlockSize) +
                             " (the backup cannot be found; not repairable)");
  if (sb.state == static_cast<uint32_t>(layout::FsState::kDirty))
    r.notes.push_back("the filesystem was not cleanly unmounted");
  return std::optional<Superblock>(sb);
}

// The device's reserved ranges (part labels): the RAM partition and the page-descriptor area
// inside the device, page-aligned, not overlapping each other or the store area.
void CheckDevice(const mapping::Device& dev, CheckReport& r) {
  const mapping::DeviceInfo& i = dev.info();
  const mapping::Range ram = i.ram, desc = i.descriptors, st = i.store();
  auto bad = [&](const std::string& m) { Add(r, "device", m + " (not repairable)"); };
  auto name = [](mapping::Range x) {
    std::string s = "[";  // appended: GCC 12 -O3 warns falsely (-Wrestrict) on "[" + string
    return s.append(std::to_string(x.offset)).append(", +").append(std::to_string(x.length)) + ")";
  };
  if (!ram.empty()) {
    if (ram.offset % layout::kPageSize || ram.length % layout::kPageSize)
      bad("RAM partition " + name(ram) + " is not page-aligned");
    if (ram.offset > i.size || ram.length > i.size - ram.offset)
      bad("RAM partition " + name(ram) + " extends past the end of the device (" +
          std::to_string(i.size) + " bytes)");
    if (!desc.empty() && ram.offset < desc.offset + desc.length &&
        desc.offset < ram.offset + ram.length)
      bad("RAM partition " + name(ram) + " overlaps the page-descriptor area " + name(desc));
  }
  if (!desc.empty() && desc.offset < st.end())
    bad("page-descriptor area " + name(desc) + " overlaps the store area " + name(st));
  if (st.length % layout::kBlockSize)
    bad("the store area " + name(st) + " is not a whole number of blocks");
}

// The journal: a damaged header, or a committed transaction not applied yet (added to `img`).
// Read by the store's own reader (store::ReadJournal), so fsck sees what Store::Open replays.
void CheckJournal(const mapping::Device& dev, const Superblock& sb, Image& img, CheckReport& r,
                  Fixes& fixes) {
  // Open checks descriptor records against the table it opened: one entry per device page.
  const uint64_t pages = dev.info().descriptors.empty() ? 0 : dev.size() / layout::kPageSize;
  Result<store::JournalContents> j = store::ReadJournal(dev, sb, pages);
  if (!j.ok()) {
    Add(r, "journal", "a committed transaction cannot be replayed: " + j.status().message() +
                          " (the store cannot be mounted; not repairable)");
    return;
  }
  using State = store::JournalContents::State;
  switch (j->state) {
    case State::kDamaged:
      Add(r, "journal", "the journal header is damaged (rewritten)");
      fixes.open_close = true;
      return;
    case State::kEmpty:
      return;
    case State::kTorn:
      Add(r, "journal", "the journal header says committed but its records do not match their "
                        "checksum: no transaction (header rewritten)");
      fixes.open_close = true;
      return;
    case State::kCommitted:
      break;
  }
  for (const store::JournalEntry& e : j->records) {
    if (e.rec.kind == static_cast<uint32_t>(layout::RecordKind::kBytes)) {
      img.AddWrite(e.rec.target, j->data(e), e.rec.length);
    } else {  // kDescriptor (ReadJournal accepts no other kind)
      layout::DescriptorValue v;
      std::memcpy(&v, j->data(e), sizeof v);
      img.AddDescriptor(e.rec.target, {v.owner, v.file_index, v.refcount, v.flags});
    }
  }
  Add(r, "journal", "a committed transaction of " + std::to_string(j->header.record_count) +
                        " records has not been applied yet (replayed)");
  r.journal_replayed = true;
  fixes.open_close = true;
}

// The part headers (mapping layer): a part opened from its backup label because the primary is
// damaged, or whose backup is damaged; with `repair` the damaged copy is rewritten from the
// intact one. Parts with a version-1 label (no backup) get a note.
std::vector<Problem> CheckPartHeaders(mapping::Device& dev, bool repair, bool uuid_changing,
                                      bool geometry_changing, std::vector<std::string>& notes) {
  std::vector<Problem> out;
  for (size_t i = 0; i < dev.part_count(); i++) {
    const mapping::PartHeaderState& h = dev.header_state(i);
    const std::string at = " at part offset " + std::to_string(h.backup_offset);
    if (h.backup_offset == 0)
      notes.push_back(dev.part(i).name() + ": no backup part label (made by an older pmemfs)");
    else if (!h.primary_ok)
      out.push_back({"label", dev.part(i).name() +
                                  ": the part label is damaged (the device opened from its backup" +
                                  at + "; rewritten from it)"});
    else if (!h.backup_ok)
      out.push_back({"label", dev.part(i).name() + ": the backup part label" + at +
                                  " is damaged (rewritten from the primary)"});
  }
  if (uuid_changing || geometry_changing) {
    // Finishing it rewrites every label copy: the problems above go with it.
    out.clear();
    if (geometry_changing)
      out.push_back({"label", "a change of the RAM partition or the page-descriptor area "
                              "(pmemfs-tune) was interrupted (finished as the part labels say: "
                              "every part label rewritten)"});
    if (uuid_changing)
      out.push_back({"label", "a change of the uuid (pmemfs-tune -U) was interrupted (finished "
                              "as the superblock says: every part label rewritten)"});
    if (!repair) return out;
    // A read-write open finishes either; with a transaction to replay first, the repair's own
    // open does (Check marks the problems repaired once the labels agree).
    Result<std::unique_ptr<store::Store>> s = store::Store::OpenOffline(dev);
    if (s.ok()) (void)(*s)->Close();
    return out;
  }
  if (!repair || out.empty()) return out;
  Status s = mapping::RewritePartHeaders(dev);
  for (Problem& p : out) p.repaired = s.ok();
  if (!s.ok()) out.push_back({"label", "the part labels could not be rewritten: " + s.message()});
  return out;
}

bool DescriptorsChecked(const mapping::Device& dev, const Superblock& sb,
                        const CheckOptions& opts) {
  if (dev.info().descriptors.empty()) return false;
  switch (opts.descriptors) {
    case DescriptorCheck::kOn: return true;
    case DescriptorCheck::kOff: return false;
    case DescriptorCheck::kAuto:  // the table is kept only while the superblock says so
      return (sb.compat & layout::kCompatDescriptorsCurrent) != 0;
  }
  return false;
}

// One read-only pass. Sets *descriptors to whether page descriptors were checked.
Status CheckOnce(const mapping::Device& dev, const CheckOptions& opts, CheckReport& r,
                 Fixes& fixes, bool* descriptors) {
  *descriptors = false;
  PMEMFS_ASSIGN_OR_RETURN(std::optional<Superblock> sb, CheckSuperblocks(dev, r, fixes));
  CheckDevice(dev, r);
  if (!sb) return Status::Ok();
  Image img(dev);
  CheckJournal(dev, *sb, img, r, fixes);
  // A replayed transaction may rewrite the superblock (its geometry never changes).
  if (img.has_pending()) {
    Superblock after = img.Get<Superblock>(0);
    if (store::ValidateSuperblock(after, dev.info().store().length, "primary").ok() &&
        after.store_blocks == sb->store_blocks && after.data_start == sb->data_start)
      *sb = after;
  }
  *descriptors = DescriptorsChecked(dev, *sb, opts);
  Scan scan(img, *sb, *descriptors, opts, r);
  scan.Run();
  ReportBadRanges(img, *sb, *descriptors, r);
  // Keep what the superblock and journal checks asked for.
  scan.fixes.open_close = scan.fixes.open_close || fixes.open_close;
  fixes = std::move(scan.fixes);
  return Status::Ok();
}

}  // namespace

int CheckReport::ExitCode() const {
  if (problems.empty()) return 0;
  return unrepaired() == 0 ? 1 : 4;
}

uint64_t CheckReport::unrepaired() const {
  return static_cast<uint64_t>(
      std::count_if(problems.begin(), problems.end(), [](const Problem& p) { return !p.repaired; }));
}

Result<CheckReport> Check(mapping::Device& dev, const CheckOptions& opts) {
  std::vector<std::string> label_notes;
  // A uuid change a crash interrupted: what the superblock (or the labels) say.
  auto uuid_changing = [&] {
    Result<Superblock> sb = store::Store::Peek(dev);
    return sb.ok() ? store::Store::UuidChangeInterrupted(*sb, dev)
                   : dev.info().uuid_change_pending();
  };
  const bool uuid_pending = uuid_changing();
  // The same for a change of the RAM partition or the descriptor area.
  auto geometry_changing = [&] {
    Result<Superblock> sb = store::Store::Peek(dev);
    return sb.ok() ? store::Store::GeometryChangeInterrupted(*sb, dev)
                   : dev.info().geometry_change_pending;
  };
  const bool geometry_pending = geometry_changing();
  std::vector<Problem> labels =
      CheckPartHeaders(dev, opts.repair, uuid_pending, geometry_pending, label_notes);
  std::vector<Problem> fixed;  // problems of passes a repair followed
  bool replayed = false;
  CheckReport last;
  for (int pass = 0;; pass++) {
    CheckReport r;
    Fixes fixes;
    bool descriptors = false;
    PMEMFS_RETURN_IF_ERROR(CheckOnce(dev, opts, r, fixes, &descriptors));
    replayed = replayed || r.journal_replayed;
    if (!opts.repair || r.problems.empty() || !fixes.any() || pass + 1 == kMaxPasses) {
      last = std::move(r);
      break;
    }
    Status s = Repair(dev, fixes, descriptors);
    fixed.insert(fixed.end(), r.problems.begin(), r.problems.end());
    if (!s.ok()) {
      // Every fix is its own transaction: what was applied stands. Say what is left.
      CheckReport after;
      Fixes unused;
      PMEMFS_RETURN_IF_ERROR(CheckOnce(dev, opts, after, unused, &descriptors));
      after.problems.push_back({"repair", "the repair stopped: " + s.message(), false});
      last = std::move(after);
      break;
    }
  }
  // Problems a repair made go away are repaired; those still found by the last pass are not.
  std::set<std::pair<std::string, std::string>> left, seen;
  for (const Problem& p : last.problems) left.insert({p.area, p.message});
  CheckReport out = std::move(last);
  std::vector<Problem> problems;
  for (Problem& p : fixed) {
    if (left.count({p.area, p.message}) || !seen.insert({p.area, p.message}).second) continue;
    p.repaired = true;
    problems.push_back(std::move(p));
  }
  problems.insert(problems.end(), out.problems.begin(), out.problems.end());
  if ((uuid_pending || geometry_pending) && opts.repair && !uuid_changing() &&
      !geometry_changing())
    for (Problem& p : labels) p.repaired = true;
  problems.insert(problems.begin(), labels.begin(), labels.end());
  out.problems = std::move(problems);
  out.notes.insert(out.notes.begin(), label_notes.begin(), label_notes.end());
  out.journal_replayed = replayed;
  return out;
}

}  // namespace pmemfs::fsck
