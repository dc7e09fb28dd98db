#include "tools/tune/describe.h"

#include <ctime>
#include <cstring>
#include <initializer_list>

#include "fs/store/bitmap_area.h"
#include "fs/store/store.h"
#include "pmemfs/crc32c.h"
#include "json.h"
#include "human.h"

namespace pmemfs::tune {

namespace {

using layout::Superblock;

std::string Hex(uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

const char* StoredModeName(uint32_t m) {
  switch (static_cast<layout::StoredMode>(m)) {
    case layout::StoredMode::kCopy: return "copy";
    case layout::StoredMode::kDirect: return "direct";
    case layout::StoredMode::kPages: return "pages";
  }
  return "unknown";
}

// Whether the journal header holds a committed transaction (what Store::Open would replay).
// A header that fails its checks was never committed.
bool JournalPending(const mapping::Device& dev, const Superblock& sb) {
  layout::JournalHeader h{};
  dev.Read(sb.journal_start * layout::kBlockSize, &h, sizeof h);
  return std::memcmp(h.magic, layout::kJournalMagic, sizeof h.magic) == 0 &&
         h.checksum == StructChecksum(h) &&
         h.state == static_cast<uint32_t>(layout::JournalState::kCommitted);
}

}  // namespace

std::string TimeString(uint64_t ns) {
  if (ns == 0) return "never";
  const time_t t = static_cast<time_t>(ns / 1'000'000'000);
  tm local{};
  localtime_r(&t, &local);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &local);
  return buf;
}

std::vector<std::string> FeatureNames(const Superblock& sb) {
  struct Known {
    uint64_t bit;
    const char* name;
  };
  std::vector<std::string> out;
  auto bits = [&](uint64_t mask, std::initializer_list<Known> known, const char* kind) {
    for (const Known& k : known) {
      if (mask & k.bit) out.push_back(k.name);
      mask &= ~k.bit;
    }
    if (mask != 0) out.push_back(std::string(kind) + "_" + Hex(mask));
  };
  bits(sb.compat, {{layout::kCompatDescriptorsCurrent, "descriptors_current"}}, "compat");
  bits(sb.incompat,
       {{layout::kIncompatSharedPages, "shared_pages"},
        {layout::kIncompatLargeXattrs, "large_xattrs"},
        {layout::kIncompatMovedBitmap, "moved_bitmap"}},
       "incompat");
  bits(sb.ro_compat, {{layout::kRoCompatBitmapChecksums, "bitmap_checksums"}}, "ro_compat");
  return out;
}

Result<Description> Describe(const mapping::Device& dev, const std::string& name,
                             const JoinSeen& join) {
  PMEMFS_ASSIGN_OR_RETURN(Superblock sb, store::Store::Peek(dev));
  const mapping::DeviceInfo& i = dev.info();
  Description d;
  d.device = name;
  d.uuid = mapping::UuidString(i.set_uuid);
  if (i.uuid_change_pending()) d.pending_uuid = mapping::UuidString(i.pending_uuid);
  else if (!layout::AllZero(sb.uuid_change, sizeof sb.uuid_change))
    d.pending_uuid = mapping::UuidString(sb.uuid_change);
  d.fs_uuid = mapping::UuidString(sb.uuid);
  d.label.assign(sb.label, strnlen(sb.label, sizeof sb.label));
  d.default_mode = StoredModeName(sb.default_mode);
  d.version = std::to_string(sb.major) + "." + std::to_string(sb.minor);
  d.features = FeatureNames(sb);
  d.layout = mapping::LayoutName(i.layout);
  d.chunk_size = i.chunk_size;
  d.parts = i.part_count;
  d.device_size = i.size;
  d.store = i.store();
  d.ram = i.ram;
  d.descriptors = i.descriptors;
  d.block_size = sb.block_size;
  d.store_blocks = sb.store_blocks;
  d.journal_blocks = sb.journal_blocks;
  d.bitmap_start = sb.bitmap_start;
  d.bitmap_blocks = sb.bitmap_blocks;
  d.bitmap_moved = store::BitmapInDataArea(sb);
  d.inode_count = sb.inode_count;
  d.data_blocks = sb.data_blocks;
  d.mount_count = sb.mount_count;
  d.created_ns = sb.created_ns;
  d.mounted_ns = sb.mounted_ns;
  d.written_ns = sb.written_ns;
  d.checked_ns = sb.checked_ns;

  // Inodes: in use (mode != 0), orphans (nlink 0) and interrupted truncates, as
  // store::InodeTable::Load counts them (a record failing its checksum counts as in use).
  std::vector<layout::InodeRecord> recs(layout::kBlockSize / sizeof(layout::InodeRecord));
  for (uint64_t ino = 1; ino <= sb.inode_count; ino += recs.size()) {
    const uint64_t n = std::min<uint64_t>(recs.size(), sb.inode_count - ino + 1);
    dev.Read(sb.inode_start * layout::kBlockSize + (ino - 1) * sizeof(layout::InodeRecord),
             recs.data(), n * sizeof(layout::InodeRecord));
    for (uint64_t k = 0; k < n; k++) {
      const layout::InodeRecord& r = recs[k];
      if (r.mode == 0) continue;
      d.inodes_used++;
      if (r.checksum != StructChecksum(r)) continue;
      if (r.nlink == 0 && ino + k != layout::kRootIno) d.orphans++;
      if (r.flags & layout::kInodeTruncating) d.truncating++;
    }
  }
  // Free data blocks: clear bits of the bitmap over [data_start, backup_block).
  std::vector<uint64_t> words(layout::kBlockSize / 8);
  const uint64_t bitmap = sb.bitmap_start * layout::kBlockSize;
  for (uint64_t b = sb.data_start / 64 * 64; b < sb.backup_block; b += 64 * words.size()) {
    const uint64_t first = b / 64;
    const uint64_t n = std::min<uint64_t>(words.size(), (sb.backup_block + 63) / 64 - first);
    dev.Read(bitmap + first * 8, words.data(), n * 8);
    for (uint64_t w = 0; w < n; w++)
      for (uint64_t bit = 0; bit < 64; bit++) {
        const uint64_t block = (first + w) * 64 + bit;
        if (block >= sb.data_start && block < sb.backup_block && !(words[w] >> bit & 1))
          d.data_blocks_free++;
      }
  }
  d.cleanly_unmounted = sb.state == static_cast<uint32_t>(layout::FsState::kClean);
  d.journal_pending = JournalPending(dev, sb);
  d.state = d.journal_pending                   ? "needs recovery"
            : d.orphans > 0 || d.truncating > 0 ? "has orphans"
            : !d.cleanly_unmounted              ? "not clean"
                                                : "clean";
  d.bad_ranges = dev.bad_blocks().List();
  d.changes = PendingChanges(dev, sb, join, name, d.journal_pending);
  return d;
}

void PrintDescription(const Description& d, FILE* out) {
  using tools::Human;
  auto line = [&](const char* key, const std::string& value) {
    fprintf(out, "%-26s%s\n", key, value.c_str());
  };
  auto range = [&](const char* key, mapping::Range r) {
    if (r.empty()) return line(key, "none");
    // Built by appending: GCC 12's -Wrestrict misfires on "[" + std::string at -O3.
    std::string v = "[";
    v += std::to_string(r.offset);
    v += ", ";
    v += std::to_string(r.end());
    v += ") ";
    v += Human(r.length);
    line(key, v);
  };
  line("Device:", d.device);
  line("UUID:", d.uuid + (d.pending_uuid.empty()
                              ? ""
                              : " (a change to " + d.pending_uuid + " was interrupted)"));
  if (d.fs_uuid != d.uuid) line("Filesystem UUID:", d.fs_uuid);
  line("Label:", "'" + d.label + "'");
  line("Default mode:", d.default_mode);
  line("Format version:", d.version);
  std::string features;
  for (const std::string& f : d.features) features += (features.empty() ? "" : " ") + f;
  line("Features:", features.empty() ? "(none)" : features);
  std::string state = d.state;
  if (d.journal_pending) state += ": a committed transaction is not applied yet";
  if (d.orphans || d.truncating)
    state += (d.journal_pending ? "; " : ": ") + std::to_string(d.orphans) + " orphan inode(s), " +
             std::to_string(d.truncating) + " interrupted truncate(s)";
  if (!d.cleanly_unmounted && d.state != "not clean") state += " (not cleanly unmounted)";
  line("State:", state);
  line("Layout:", d.layout + (d.chunk_size ? ", chunk " + Human(d.chunk_size) : "") + ", " +
                      std::to_string(d.parts) + (d.parts == 1 ? " part" : " parts"));
  line("Device size:", Human(d.device_size) + " (" + std::to_string(d.device_size) + " bytes)");
  range("Store area:", d.store);
  range("RAM partition:", d.ram);
  range("Descriptor area:", d.descriptors);
  line("Block size:", std::to_string(d.block_size));
  line("Store blocks:", std::to_string(d.store_blocks));
  line("Journal blocks:", std::to_string(d.journal_blocks));
  std::string bitmap = "blocks [";
  bitmap += std::to_string(d.bitmap_start);
  bitmap += ", +";
  bitmap += std::to_string(d.bitmap_blocks);
  bitmap += ")";
  if (d.bitmap_moved) bitmap += " inside the data area (moved by --add-part)";
  line("Allocation bitmap:", bitmap);
  line("Inodes:", std::to_string(d.inode_count) + " (" + std::to_string(d.inodes_used) +
                      " in use, " + std::to_string(d.inode_count - d.inodes_used) + " free)");
  line("Data blocks:", std::to_string(d.data_blocks) + " (" +
                           std::to_string(d.data_blocks - d.data_blocks_free) + " in use, " +
                           std::to_string(d.data_blocks_free) + " free, " +
                           Human(d.data_blocks_free * d.block_size) + ")");
  line("Mount count:", std::to_string(d.mount_count));
  line("Created:", TimeString(d.created_ns));
  line("Last mount:", TimeString(d.mounted_ns));
  line("Last write:", TimeString(d.written_ns));
  line("Last checked:", TimeString(d.checked_ns));
  line("Bad ranges:", std::to_string(d.bad_ranges.size()));
  for (const auto& b : d.bad_ranges)
    fprintf(out, "  [%lu, %lu) %s\n", b.offset, b.offset + b.length, Human(b.length).c_str());
  line("Changes under way:", d.changes.empty() ? "none" : std::to_string(d.changes.size()));
  for (const PendingChange& c : d.changes)
    fprintf(out, "  %s: %s\n    %s\n", c.change.c_str(), c.state.c_str(), c.command.c_str());
}

std::string DescriptionJson(const Description& d) {
  using tools::JsonArray;
  using tools::JsonObject;
  using tools::JsonQuote;
  auto range = [](mapping::Range r) {
    return JsonObject().Num("offset", r.offset).Num("length", r.length).str();
  };
  std::vector<std::string> features, bad, changes;
  for (const PendingChange& c : d.changes)
    changes.push_back(JsonObject()
                          .Str("change", c.change)
                          .Str("state", c.state)
                          .Str("command", c.command)
                          .str());
  for (const std::string& f : d.features) features.push_back(JsonQuote(f));
  for (const auto& b : d.bad_ranges)
    bad.push_back(JsonObject().Num("offset", b.offset).Num("length", b.length).str());
  return JsonObject()
      .Str("device", d.device)
      .Str("uuid", d.uuid)
      .Str("pending_uuid", d.pending_uuid)
      .Str("filesystem_uuid", d.fs_uuid)
      .Str("label", d.label)
      .Str("default_mode", d.default_mode)
      .Str("version", d.version)
      .Raw("features", JsonArray(features))
      .Str("state", d.state)
      .Bool("cleanly_unmounted", d.cleanly_unmounted)
      .Bool("journal_pending", d.journal_pending)
      .Num("orphans", d.orphans)
      .Num("truncating", d.truncating)
      .Str("layout", d.layout)
      .Num("chunk_size", d.chunk_size)
      .Num("parts", d.parts)
      .Num("device_size", d.device_size)
      .Raw("store", range(d.store))
      .Raw("ram", range(d.ram))
      .Raw("descriptors", range(d.descriptors))
      .Num("block_size", d.block_size)
      .Num("store_blocks", d.store_blocks)
      .Num("journal_blocks", d.journal_blocks)
      .Num("bitmap_start", d.bitmap_start)
      .Num("bitmap_blocks", d.bitmap_blocks)
      .Bool("bitmap_moved", d.bitmap_moved)
      .Num("inode_count", d.inode_count)
      .Num("inodes_used", d.inodes_used)
      .Num("data_blocks", d.data_blocks)
      .Num("data_blocks_free", d.data_blocks_free)
      .Num("mount_count", d.mount_count)
      .Num("created_ns", d.created_ns)
      .Num("mounted_ns", d.mounted_ns)
      .Num("written_ns", d.written_ns)
      .Num("checked_ns", d.checked_ns)
      .Raw("bad_ranges", JsonArray(bad))
      .Raw("changes", JsonArray(changes))
      .str();
}

}  // namespace pmemfs::tune
