#include "fs/store/scrub.h"

#include <algorithm>
#include <chrono>
#include <sstream>
#include <vector>

#include "mapping/media_guard.h"
#include "pmemfs/layout.h"

namespace pmemfs::store {

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

// Sorted, disjoint `a` and `b` together, sorted and disjoint.
std::vector<Entry> Union(const std::vector<Entry>& a, const std::vector<Entry>& b) {
  std::vector<Entry> all = a;
  all.insert(all.end(), b.begin(), b.end());
  std::sort(all.begin(), all.end(), [](const Entry& x, const Entry& y) {
    return x.offset < y.offset;
  });
  std::vector<Entry> out;
  for (const Entry& e : all) Append(out, e.offset, e.length);
  return out;
}

// Passes over the blocks in use: the first over those in use at the start, each next one over
// those allocated since (the last with the filesystem at rest).
constexpr int kPasses = 4;

// What the filesystem uses: the store's fixed structures, the blocks the bitmap marks in use
// (all of a bitmap block's blocks when it cannot be read) and the page-descriptor area.
std::vector<Entry> InUse(const mapping::Device& dev, const layout::Superblock& sb,
                         const ReadThrough& read) {
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

// Reads [pos, pos+n) through the guard; on a fault, the device offset of the faulting byte.
Status ReadGuarded(const mapping::Device& dev, uint64_t pos, uint64_t n, std::byte* buf,
                   uint64_t* fault) {
  Status st = Status::Ok();
  dev.ForEachSegment(pos, n, [&](const mapping::Segment& s) {
    if (st.ok())
      st = mapping::GuardedCopy(buf + (s.offset - pos), s.ptr, s.length, "device", s.offset,
                                fault);
  });
  return st;
}

Status RunStill(const ScrubOptions& o, const std::function<void()>& fn) {
  if (!o.hold_still) {
    fn();
    return Status::Ok();
  }
  return o.hold_still(fn);
}

}  // namespace

bool ScrubReport::metadata_hit() const {
  for (const ScrubRange& r : ranges)
    for (const OwnerPiece& p : r.owners)
      if (IsMetadata(p.kind)) return true;
  return false;
}

Result<ScrubReport> Scrub(mapping::Device& dev, const std::string& name, const ScrubOptions& o) {
  ScrubReport r;
  r.device = name;
  ReadThrough read = GuardedReader(dev);
  PMEMFS_ASSIGN_OR_RETURN(layout::Superblock sb, ReadSuperblockThrough(dev, read));

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
  auto read_ranges = [&](const std::vector<Entry>& ranges) -> Status {
    for (const Entry& e : ranges) {
      for (uint64_t pos = e.offset, end = e.offset + e.length; pos < end;) {
        if (o.cancel && o.cancel->load(std::memory_order_relaxed))
          return Status::Busy("the scrub was cancelled");
        const uint64_t n = std::min(kChunk, end - pos);
        uint64_t fault = 0;
        if (ReadGuarded(dev, pos, n, buf.data(), &fault).ok()) {
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
    return Status::Ok();
  };
  PMEMFS_RETURN_IF_ERROR(read_ranges(to_read));
  // Blocks allocated while a pass ran were free when it started, so it did not read them: more
  // passes read what the bitmap marks in use now and no pass read (nor is known bad), until one
  // finds nothing new; the last one (kPasses) with the filesystem at rest, so that nothing in
  // use when the scrub ends is left unread.
  std::vector<Entry> covered = in_use;
  for (int pass = 1; pass < kPasses; pass++) {
    const bool last = pass == kPasses - 1;
    bool empty = false;
    Status st = Status::Ok();
    auto next_pass = [&] {
      const std::vector<Entry> more =
          Subtract(Subtract(InUse(dev, sb, read), covered), dev.bad_blocks().List());
      empty = more.empty();
      for (const Entry& e : more) total += e.length;
      st = read_ranges(more);
      covered = Union(covered, more);
    };
    if (last) PMEMFS_RETURN_IF_ERROR(RunStill(o, next_pass));
    else next_pass();
    PMEMFS_RETURN_IF_ERROR(st);
    if (empty) break;
  }
  r.elapsed_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                           std::chrono::steady_clock::now() - start)
                                           .count());
  r.bytes_read = done;

  // Record what was found (one persistent table update per range). Each page is read once more
  // with the filesystem at rest: a write of the whole page may have replaced it (and cleared
  // the poison) since the reading above.
  std::vector<Entry> confirmed;
  PMEMFS_RETURN_IF_ERROR(RunStill(o, [&] {
    std::vector<std::byte> page(P);
    for (const Entry& f : found) {
      for (uint64_t p = f.offset; p < f.offset + f.length; p += P) {
        uint64_t fault = 0;
        if (o.hold_still && ReadGuarded(dev, p, P, page.data(), &fault).ok()) continue;
        Append(confirmed, p, P);
      }
    }
    for (const Entry& f : confirmed) {
      r.found_bytes += f.length;
      if (!o.record) continue;
      Status s = dev.bad_blocks().Inject(f.offset, f.length);
      if (!s.ok() && r.record_error.empty()) r.record_error = s.message();
    }
  }));
  found = std::move(confirmed);
  if (!o.record && !found.empty())
    r.record_error = "the filesystem is mounted read-only: the new bad ranges are not recorded";
  std::vector<Entry> all = dev.bad_blocks().List();
  if (!r.record_error.empty()) {  // report them anyway
    all.insert(all.end(), found.begin(), found.end());
    std::sort(all.begin(), all.end(), [](auto& a, auto& b) { return a.offset < b.offset; });
    std::vector<Entry> merged;
    for (const Entry& e : all) Append(merged, e.offset, e.length);
    all = std::move(merged);
  }
  // Naming owners walks the inode table and the chains: with the filesystem at rest.
  auto name_owners = [&] {
    Result<layout::Superblock> now = ReadSuperblockThrough(dev, read);
    if (now.ok()) sb = *now;
    const bool descriptors = !dev.info().descriptors.empty() &&
                             (sb.compat & layout::kCompatDescriptorsCurrent) != 0;
    OwnerMap owners(dev, sb, read,
                    descriptors ? OwnerMap::Source::kDescriptors : OwnerMap::Source::kExtents);
    r.owners_from =
        owners.source() == OwnerMap::Source::kDescriptors ? "descriptors" : "extents";
    for (const Entry& e : all) {
      ScrubRange sr{e.offset, e.length, false, owners.Owners(e.offset, e.length)};
      for (const Entry& f : found)
        if (f.offset < e.offset + e.length && e.offset < f.offset + f.length) sr.found = true;
      r.ranges.push_back(std::move(sr));
    }
  };
  if (all.empty()) name_owners();  // nothing to walk: only the source is named
  else PMEMFS_RETURN_IF_ERROR(RunStill(o, name_owners));
  return r;
}

// --- the one-line form ---------------------------------------------------------------------
// Space-separated tokens: numbers in decimal, strings as "x" + the hex of their bytes.
//   scrub1 DEVICE READ SKIPPED ELAPSED FOUND OWNERS_FROM RECORD_ERROR NRANGES
//     (OFFSET LENGTH NEW NPIECES
//        (OFFSET LENGTH KIND INO FILE_OFFSET FIRST_INO LAST_INO SYMLINK PATH NSUSPECTS SUSPECT...)*)*

namespace {

constexpr const char* kMagic = "scrub1";
constexpr int kLastKind = static_cast<int>(OwnerKind::kDescriptors);

std::string Hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out = "x";
  for (unsigned char c : s) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

class Tokens {
 public:
  explicit Tokens(std::string_view line) : in_(std::string(line)) {}
  bool Num(uint64_t* v) {
    std::string t;
    if (!(in_ >> t) || t.empty() || t.size() > 20 ||
        t.find_first_not_of("0123456789") != std::string::npos)
      return false;
    try {
      *v = std::stoull(t);
    } catch (const std::exception&) {
      return false;
    }
    return true;
  }
  bool Str(std::string* s) {
    std::string t;
    if (!(in_ >> t) || t.empty() || t[0] != 'x' || t.size() % 2 != 1) return false;
    s->clear();
    for (size_t i = 1; i < t.size(); i += 2) {
      int hi = Digit(t[i]), lo = Digit(t[i + 1]);
      if (hi < 0 || lo < 0) return false;
      s->push_back(static_cast<char>(hi * 16 + lo));
    }
    return true;
  }
  bool Word(const char* w) {
    std::string t;
    return (in_ >> t) && t == w;
  }
  bool AtEnd() {
    std::string t;
    return !(in_ >> t);
  }

 private:
  static int Digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  }
  std::istringstream in_;
};

}  // namespace

std::string EncodeScrubReport(const ScrubReport& r) {
  std::ostringstream o;
  o << kMagic << ' ' << Hex(r.device) << ' ' << r.bytes_read << ' ' << r.bytes_skipped << ' '
    << r.elapsed_ns << ' ' << r.found_bytes << ' ' << Hex(r.owners_from) << ' '
    << Hex(r.record_error) << ' ' << r.ranges.size();
  for (const ScrubRange& b : r.ranges) {
    o << ' ' << b.offset << ' ' << b.length << ' ' << (b.found ? 1 : 0) << ' ' << b.owners.size();
    for (const OwnerPiece& p : b.owners) {
      o << ' ' << p.offset << ' ' << p.length << ' ' << static_cast<int>(p.kind) << ' ' << p.ino
        << ' ' << p.file_offset << ' ' << p.first_ino << ' ' << p.last_ino << ' '
        << (p.symlink ? 1 : 0) << ' ' << Hex(p.path) << ' ' << p.suspects.size();
      for (const std::string& s : p.suspects) o << ' ' << Hex(s);
    }
  }
  return o.str();
}

Result<ScrubReport> DecodeScrubReport(std::string_view line) {
  const Status bad = Status::InvalidArgument("not a scrub report");
  Tokens t(line);
  ScrubReport r;
  uint64_t nranges = 0;
  if (!t.Word(kMagic) || !t.Str(&r.device) || !t.Num(&r.bytes_read) ||
      !t.Num(&r.bytes_skipped) || !t.Num(&r.elapsed_ns) || !t.Num(&r.found_bytes) ||
      !t.Str(&r.owners_from) || !t.Str(&r.record_error) || !t.Num(&nranges))
    return bad;
  for (uint64_t i = 0; i < nranges; i++) {
    ScrubRange b;
    uint64_t found = 0, npieces = 0;
    if (!t.Num(&b.offset) || !t.Num(&b.length) || !t.Num(&found) || found > 1 ||
        !t.Num(&npieces))
      return bad;
    b.found = found == 1;
    for (uint64_t k = 0; k < npieces; k++) {
      OwnerPiece p;
      uint64_t kind = 0, symlink = 0, nsuspects = 0;
      if (!t.Num(&p.offset) || !t.Num(&p.length) || !t.Num(&kind) || kind > kLastKind ||
          !t.Num(&p.ino) || !t.Num(&p.file_offset) || !t.Num(&p.first_ino) ||
          !t.Num(&p.last_ino) || !t.Num(&symlink) || symlink > 1 || !t.Str(&p.path) ||
          !t.Num(&nsuspects))
        return bad;
      p.kind = static_cast<OwnerKind>(kind);
      p.symlink = symlink == 1;
      for (uint64_t s = 0; s < nsuspects; s++) {
        std::string v;
        if (!t.Str(&v)) return bad;
        p.suspects.push_back(std::move(v));
      }
      b.owners.push_back(std::move(p));
    }
    r.ranges.push_back(std::move(b));
  }
  if (!t.AtEnd()) return bad;
  return r;
}

}  // namespace pmemfs::store
