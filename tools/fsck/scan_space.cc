// Scan, part 3: space. The allocation bitmap must mark exactly the metadata blocks, the backup
// superblock and the blocks the chains and extents reference (allocator.cc: metadata is always
// in use; everything else is in use iff a committed structure references it), and each of its
// blocks must match its checksum (layout::kRoCompatBitmapChecksums; a block that does not is
// rewritten whole from the references, and the store's commit writes its new checksum). In pages mode,
// each data block's page descriptor must say who holds it: allocated, its reference count the
// number of extents mapping it, shared iff that is more than one; a block nobody maps has a free
// descriptor (fs/core/data_op.cc FreeDev, SetNewPages, Share).
#include <algorithm>
#include <bit>
#include <cstring>

#include "fs/store/bitmap_area.h"
#include "mapping/page_descriptors.h"
#include "pmemfs/crc32c.h"
#include "tools/fsck/scan.h"

namespace pmemfs::fsck {

namespace {

using layout::PageDescriptor;

bool TestBit(const std::vector<uint64_t>& bits, uint64_t b) { return bits[b / 64] >> (b % 64) & 1; }

// Runs of blocks, reported as a few lines rather than one per block.
class Runs {
 public:
  void Add(uint64_t b) {
    if (!runs_.empty() && runs_.back().second == b) {
      runs_.back().second++;
    } else {
      runs_.push_back({b, b + 1});
    }
    blocks_++;
  }
  // Calls problem("<noun> N: <what>" or "<noun>s [a, b): <what>") for the first few runs and
  // once for the rest.
  template <typename Fn>
  void Report(const std::string& noun, const std::string& what, Fn&& problem) const {
    constexpr size_t kShown = 8;
    for (size_t i = 0; i < runs_.size() && i < kShown; i++) {
      const auto [s, e] = runs_[i];
      problem(e - s == 1 ? noun + " " + std::to_string(s) + ": " + what
                         : noun + "s [" + std::to_string(s) + ", " + std::to_string(e) + "): " +
                               what);
    }
    if (runs_.size() > kShown) {
      uint64_t rest = 0;
      for (size_t i = kShown; i < runs_.size(); i++) rest += runs_[i].second - runs_[i].first;
      problem(std::to_string(runs_.size() - kShown) + " more runs of " + std::to_string(rest) +
              " " + noun + "s: " + what);
    }
  }

 private:
  std::vector<std::pair<uint64_t, uint64_t>> runs_;
  uint64_t blocks_ = 0;
};

std::string Describe(const mapping::PageInfo& i) {
  return "owner " + std::to_string(i.owner) + ", index " + std::to_string(i.file_index) +
         ", refcount " + std::to_string(i.refcount) + ", flags " + std::to_string(i.flags);
}

}  // namespace

uint64_t Scan::RefsOf(uint64_t block) const {
  if (!TestBit(claimed_, block) || TestBit(chain_block_, block)) return 0;
  auto it = extra_refs_.find(block);
  return 1 + (it == extra_refs_.end() ? 0 : it->second);
}

std::vector<bool> Scan::BadBitmapChecksums() {
  std::vector<bool> bad(layout::BitmapBlocks(sb_.store_blocks));
  if (!(sb_.ro_compat & layout::kRoCompatBitmapChecksums)) return bad;
  std::vector<std::byte> block(layout::kBlockSize);
  Runs runs;
  for (uint64_t i = 0; i < bad.size(); i++) {
    const uint64_t len = layout::BitmapBlockLength(sb_, i);
    img_.Read((sb_.bitmap_start + i) * layout::kBlockSize, block.data(), len);
    uint32_t stored;
    img_.Read(layout::BitmapChecksumOffset(sb_, i), &stored, sizeof stored);
    if (stored != Crc32c(block.data(), len)) {
      bad[i] = true;
      runs.Add(i);
    }
  }
  runs.Report("bitmap block", "checksum mismatch (rewritten from the extents)",
              [&](const std::string& m) { Problem("space", m); });
  return bad;
}

void Scan::CheckBitmap() {
  const uint64_t words = (sb_.store_blocks + 63) / 64;
  const uint64_t base = sb_.bitmap_start * layout::kBlockSize;
  const std::vector<bool> bad_checksum = BadBitmapChecksums();
  constexpr uint64_t kWordsPerBlock = layout::kBlockSize / sizeof(uint64_t);
  Runs meta_free, leaked, unmarked;
  constexpr uint64_t kChunk = 4096;  // words read at a time
  std::vector<uint64_t> have(kChunk);
  for (uint64_t w0 = 0; w0 < words; w0 += kChunk) {
    const uint64_t n = std::min(kChunk, words - w0);
    img_.Read(base + w0 * sizeof(uint64_t), have.data(), n * sizeof(uint64_t));
    for (uint64_t i = 0; i < n; i++) {
      Progress();
      const uint64_t w = w0 + i;
      uint64_t want = have[i];
      for (uint64_t bit = 0; bit < 64; bit++) {
        const uint64_t b = w * 64 + bit;
        if (b >= sb_.store_blocks) break;  // bits past the store: not used
        const bool meta = store::IsMetadataBlock(sb_, b);
        const bool used = meta || TestBit(claimed_, b);
        const bool marked = have[i] >> bit & 1;
        if (used && !marked) (meta ? meta_free : unmarked).Add(b);
        if (!used && marked) leaked.Add(b);
        if (used) want |= 1ull << bit;
        else want &= ~(1ull << bit);
      }
      if (want != have[i] || bad_checksum[w / kWordsPerBlock]) fixes.bitmap_words[w] = want;
    }
  }
  auto problem = [&](const std::string& m) { Problem("space", m); };
  meta_free.Report("block", "metadata marked free in the bitmap (marked)", problem);
  unmarked.Report("block", "in use but marked free in the bitmap (marked)", problem);
  leaked.Report("block", "marked in use but used by nothing (freed)", problem);
  for (uint64_t w = 0; w < claimed_.size(); w++) report_.data_blocks_used += std::popcount(claimed_[w]);
  report_.data_blocks = sb_.data_blocks;
}

const Scan::Kept* Scan::KeptAt(uint64_t page) const {
  // kept_ is sorted by dev_block; extents may overlap on the device (shared pages): look back
  // from the last one starting at or before `page`.
  auto it = std::upper_bound(kept_.begin(), kept_.end(), page,
                             [](uint64_t p, const Kept& k) { return p < k.dev_block; });
  while (it != kept_.begin()) {
    --it;
    if (page < it->dev_block + it->length) return &*it;
  }
  return nullptr;
}

void Scan::CheckDescriptors() {
  if (!check_descriptors_) return;
  std::sort(kept_.begin(), kept_.end(),
            [](const Kept& a, const Kept& b) { return a.dev_block < b.dev_block; });
  report_.descriptors_checked = true;
  const mapping::Range area = img_.dev().info().descriptors;
  const uint64_t pages = img_.dev().size() / layout::kPageSize;
  layout::DescriptorAreaHeader h;
  img_.dev().Read(area.offset, &h, sizeof h);
  std::string bad;
  if (std::memcmp(h.magic, layout::kDescriptorMagic, sizeof h.magic) != 0) bad = "bad magic";
  else if (h.checksum != StructChecksum(h)) bad = "header checksum mismatch";
  else if (h.page_count != pages || h.log_slots != layout::kDescriptorLogSlots ||
           h.table_offset != layout::kDescriptorTableOffset || h.reserved0 != 0)
    bad = "header geometry does not match the device";
  if (!bad.empty()) {
    Problem("descriptor", "page-descriptor area: " + bad +
                              " (pages mode cannot be mounted; not repairable)");
    return;
  }
  Runs damaged, stale;
  const uint64_t table = area.offset + layout::kDescriptorTableOffset;
  constexpr uint64_t kChunk = 1024;
  std::vector<PageDescriptor> buf(kChunk);
  uint64_t wrong_reported = 0;
  for (uint64_t p0 = 0; p0 < sb_.store_blocks; p0 += kChunk) {
    const uint64_t n = std::min(kChunk, sb_.store_blocks - p0);
    img_.dev().Read(table + p0 * sizeof(PageDescriptor), buf.data(), n * sizeof(PageDescriptor));
    for (uint64_t i = 0; i < n; i++) {
      Progress();
      const uint64_t page = p0 + i;
      const PageDescriptor d = buf[i];
      bool valid = mapping::DescriptorValid(d);
      // A pending journal transaction rewrites the descriptors it names, torn ones too.
      mapping::PageInfo have{d.owner, d.file_index, d.refcount, d.flags};
      if (const mapping::PageInfo* pending = img_.PendingDescriptor(page)) {
        have = *pending;
        valid = true;
      }
      const uint64_t refs = RefsOf(page);
      mapping::PageInfo want{};
      if (refs > 0) {
        const bool keep_owner = valid && have.owner != 0;
        if (keep_owner) {
          want.owner = have.owner;
          want.file_index = have.file_index;
        } else {
          const Kept* k = KeptAt(page);
          want.owner = k ? k->ino : 0;
          want.file_index = k ? k->file_block + (page - k->dev_block) : 0;
        }
        want.refcount = static_cast<uint32_t>(refs);
        want.flags = layout::kPageAllocated | (refs > 1 ? uint32_t{layout::kPageShared} : 0u);
      }
      if (!valid) {
        damaged.Add(page);
        fixes.descriptors[page] = want;
        continue;
      }
      if (refs == 0) {
        if (have.owner != 0 || have.refcount != 0 || have.flags != 0) {
          stale.Add(page);
          fixes.descriptors[page] = want;
        }
        continue;
      }
      if (have.owner == 0 || have.refcount != refs || have.flags != want.flags) {
        if (wrong_reported++ < 8)
          Problem("descriptor", "page " + std::to_string(page) + ": mapped by " +
                                    std::to_string(refs) + " extent(s) but its descriptor says " +
                                    Describe(have) + " (rewritten)");
        fixes.descriptors[page] = want;
      }
    }
  }
  auto problem = [&](const std::string& m) { Problem("descriptor", m); };
  damaged.Report("page", "damaged descriptor (rewritten)", problem);
  stale.Report("page", "free but its descriptor says allocated (cleared)", problem);
  if (wrong_reported > 8)
    Problem("descriptor", std::to_string(wrong_reported - 8) +
                              " more mapped pages with wrong descriptors (rewritten)");
}

}  // namespace pmemfs::fsck
