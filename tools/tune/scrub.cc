#include "tools/tune/scrub.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "human.h"
#include "json.h"
#include "mapping/media_guard.h"
#include "pmemfs/layout.h"

namespace pmemfs::tune {

namespace {

using Entry = mapping::BadBlocks::Entry;
constexpr uint64_t P = layout::kPageSize;
// Bytes per guarded copy: the destination stays in the CPU cache, so reading costs what loading
// the pmem costs (one sigsetjmp per chunk).
constexpr uint64_t kChunk = 64 << 10;

// Adds [off, off+len) to sorted, disjoint `v` (appending in order; merges with the last).
void Append(std::vector<Entry>& v, uint64_t off, uint64_t len) {
  if (len == 0) return;
  if (!v.empty() && v.back().offset + v.back().length >= off) {
    v.back().length = std::max(v.back().offset + v.back().length, off + len) - v.back().offset;
    return;
  }
  v.push_back({off, len});
}

// Sorted, disjoint `a` minus sorted, disjoint `b`.
std::vector<Entry> Subtract(const std::vector<Entry>& a, const std::vector<Entry>& b) {
  std::vector<Entry> out;
  size_t j = 0;
  for (Entry e : a) {
    uint64_t pos = e.offset;
    const uint64_t end = e.offset + e.length;
    while (j < b.size() && b[j].offset + b[j].length <= pos) j++;
    for (size_t k = j; k < b.size() && b[k].offset < end; k++) {
      if (b[k].offset > pos) out.push_back({pos, b[k].offset - pos});
      pos = std::max(pos, b[k].offset + b[k].length);
    }
    if (pos < end) out.push_back({pos, end - pos});
  }
  return out;
}

// What the filesystem uses: the store's fixed structures, the blocks the bitmap marks in use
// (all of a bitmap block's blocks when it cannot be read) and the page-descriptor area.
std::vector<Entry> InUse(const mapping::Device& dev, const layout::Superblock& sb,
                         const store::ReadThrough& read) {
  std::vector<Entry> v;
  Append(v, 0, sb.data_start * P);
  std::vector<uint8_t> bits(P);
  const uint64_t bitmap_blocks = layout::BitmapBlocks(sb.store_blocks);
  uint64_t run_start = 0;
  bool in_run = false;
  auto end_run = [&](uint64_t b) {
    if (in_run) Append(v, run_start * P, (b - run_start) * P);
    in_run = false;
  };
  for (uint64_t i = 0; i < bitmap_blocks; i++) {
    const uint64_t first = i * P * 8;
    const uint64_t n = std::min<uint64_t>(P * 8, sb.store_blocks - first);
    const bool readable = read((sb.bitmap_start + i) * P, bits.data(), (n + 7) / 8).ok();
    for (uint64_t k = 0; k < n; k++) {
      const uint64_t b = first + k;
      const bool used = !readable || (bits[k / 8] >> (k % 8) & 1);
      const bool data = b >= sb.data_start && b < sb.backup_block;
      if (used && data && !in_run) {
        run_start = b;
        in_run = true;
      } else if ((!used || !data) && in_run) {
        end_run(b);
      }
    }
  }
  end_run(sb.backup_block);
  Append(v, sb.backup_block * P, P);
  const mapping::Range d = dev.info().descriptors;
  if (!d.empty()) Append(v, d.offset, d.length);
  return v;
}

}  // namespace

bool ScrubReport::metadata_hit() const {
  for (const ScrubRange& r : ranges)
    for (const store::OwnerPiece& p : r.owners)
      if (store::IsMetadata(p.kind)) return true;
  return false;
}

Result<ScrubReport> Scrub(mapping::Device& dev, const std::string& name, const ScrubOptions& o) {
  ScrubReport r;
  r.device = name;
  store::ReadThrough read = store::GuardedReader(dev);
  PMEMFS_ASSIGN_OR_RETURN(layout::Superblock sb, store::ReadSuperblockThrough(dev, read));

  const std::vector<Entry> known = dev.bad_blocks().List();
  const std::vector<Entry> in_use = InUse(dev, sb, read);
  const std::vector<Entry> to_read = Subtract(in_use, known);
  uint64_t total = 0, in_use_bytes = 0;
  for (const Entry& e : to_read) total += e.length;
  for (const Entry& e : in_use) in_use_bytes += e.length;
  r.bytes_skipped = in_use_bytes - total;

  std::vector<std::byte> buf(kChunk);
  std::vector<Entry> found;
  const auto start = std::chrono::steady_clock::now();
  uint64_t done = 0;
  for (const Entry& e : to_read) {
    for (uint64_t pos = e.offset, end = e.offset + e.length; pos < end;) {
      const uint64_t n = std::min(kChunk, end - pos);
      uint64_t fault = 0;
      Status st = Status::Ok();
      dev.ForEachSegment(pos, n, [&](const mapping::Segment& s) {
        if (st.ok())
          st = mapping::GuardedCopy(buf.data() + (s.offset - pos), s.ptr, s.length, "device",
                                    s.offset, &fault);
      });
      if (st.ok()) {
        pos += n;
        done += n;
      } else {
        // The page that faulted is bad; go on after it.
        const uint64_t page = std::max(fault, pos) / P * P;
        Append(found, page, P);
        const uint64_t next = std::min(end, page + P);
        done += next - pos;
        pos = next;
      }
      if (o.progress) o.progress(done, total);
    }
  }
  r.elapsed_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                           std::chrono::steady_clock::now() - start)
                                           .count());
  r.bytes_read = done;

  // Record what was found (one persistent table update per range).
  for (const Entry& f : found) {
    r.found_bytes += f.length;
    Status s = dev.bad_blocks().Inject(f.offset, f.length);
    if (!s.ok() && r.record_error.empty()) r.record_error = s.message();
  }
  std::vector<Entry> all = dev.bad_blocks().List();
  if (!r.record_error.empty()) {  // report them anyway
    all.insert(all.end(), found.begin(), found.end());
    std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.offset < b.offset; });
    std::vector<Entry> merged;
    for (const Entry& e : all) Append(merged, e.offset, e.length);
    all = std::move(merged);
  }

  const bool descriptors = !dev.info().descriptors.empty() &&
                           (sb.compat & layout::kCompatDescriptorsCurrent) != 0;
  store::OwnerMap owners(dev, sb, read,
                         descriptors ? store::OwnerMap::Source::kDescriptors
                                     : store::OwnerMap::Source::kExtents);
  r.owners_from = owners.source() == store::OwnerMap::Source::kDescriptors ? "descriptors"
                                                                           : "extents";
  for (const Entry& e : all) {
    ScrubRange sr{e.offset, e.length, false, owners.Owners(e.offset, e.length)};
    for (const Entry& f : found)
      if (f.offset < e.offset + e.length && e.offset < f.offset + f.length) sr.found = true;
    r.ranges.push_back(std::move(sr));
  }
  return r;
}

void PrintScrub(const ScrubReport& r, FILE* out) {
  using tools::Human;
  const double secs = r.elapsed_ns / 1e9;
  fprintf(out, "%s: read %s in %.2f s (%s/s)", r.device.c_str(), Human(r.bytes_read).c_str(),
          secs, Human(secs > 0 ? static_cast<uint64_t>(r.bytes_read / secs) : 0).c_str());
  if (r.bytes_skipped) fprintf(out, ", %s known bad not read", Human(r.bytes_skipped).c_str());
  uint64_t found = 0;
  for (const ScrubRange& b : r.ranges) found += b.found;
  fprintf(out, "; %zu bad range%s (%lu new)\n", r.ranges.size(), r.ranges.size() == 1 ? "" : "s",
          found);
  for (const ScrubRange& b : r.ranges) {
    fprintf(out, "bad range [%lu, %lu) %s%s:\n", b.offset, b.offset + b.length,
            Human(b.length).c_str(), b.found ? " (new)" : "");
    for (const store::OwnerPiece& p : b.owners)
      fprintf(out, "  [%lu, %lu) %s%s\n", p.offset, p.offset + p.length,
              store::IsMetadata(p.kind) ? "metadata: " : "", store::Describe(p).c_str());
  }
  if (!r.record_error.empty())
    fprintf(out, "warning: the new bad ranges could not all be recorded: %s\n",
            r.record_error.c_str());
}

std::string ScrubJson(const ScrubReport& r) {
  using tools::JsonArray;
  using tools::JsonObject;
  std::vector<std::string> ranges;
  for (const ScrubRange& b : r.ranges) {
    std::vector<std::string> owners;
    for (const store::OwnerPiece& p : b.owners) {
      JsonObject o;
      o.Num("offset", p.offset).Num("length", p.length).Str("kind", store::OwnerKindName(p.kind));
      o.Bool("metadata", store::IsMetadata(p.kind));
      if (p.ino != 0) o.Num("ino", p.ino).Str("path", p.path);
      if (p.kind == store::OwnerKind::kFileData) o.Num("file_offset", p.file_offset);
      if (p.kind == store::OwnerKind::kInodeTable)
        o.Num("first_ino", p.first_ino).Num("last_ino", p.last_ino);
      if (p.kind == store::OwnerKind::kUnreferenced) {
        std::vector<std::string> suspects;
        for (const std::string& s : p.suspects) suspects.push_back(tools::JsonQuote(s));
        o.Raw("suspects", JsonArray(suspects));
      }
      o.Str("description", store::Describe(p));
      owners.push_back(o.str());
    }
    ranges.push_back(JsonObject()
                         .Num("offset", b.offset)
                         .Num("length", b.length)
                         .Bool("new", b.found)
                         .Raw("owners", JsonArray(owners))
                         .str());
  }
  return JsonObject()
      .Str("device", r.device)
      .Num("bytes_read", r.bytes_read)
      .Num("bytes_skipped", r.bytes_skipped)
      .Num("elapsed_ns", r.elapsed_ns)
      .Num("found_bytes", r.found_bytes)
      .Str("owners_from", r.owners_from)
      .Str("record_error", r.record_error)
      .Bool("metadata_hit", r.metadata_hit())
      .Raw("bad_ranges", JsonArray(ranges))
      .str();
}

}  // namespace pmemfs::tune
