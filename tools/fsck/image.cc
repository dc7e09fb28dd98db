// Image: the device overlaid with a pending journal transaction; the on-media helpers the scan
// and the repair share.
#include <cstring>

#include "pmemfs/crc32c.h"
#include "tools/fsck/scan.h"

namespace pmemfs::fsck {

void Image::Read(uint64_t off, void* dst, uint64_t len) const {
  dev_.Read(off, dst, len);
  if (writes_.empty() || len == 0) return;
  auto* out = static_cast<std::byte*>(dst);
  // Writes that start before `off` reach into it only when they start within max_write_.
  auto it = writes_.lower_bound(off > max_write_ ? off - max_write_ : 0);
  for (; it != writes_.end() && it->first < off + len; ++it) {
    const uint64_t w = it->first, wend = w + it->second.size();
    if (wend <= off) continue;
    const uint64_t lo = std::max(w, off), hi = std::min(wend, off + len);
    std::memcpy(out + (lo - off), it->second.data() + (lo - w), hi - lo);
  }
}

void Image::AddWrite(uint64_t off, const std::byte* data, uint64_t len) {
  if (len == 0) return;
  // Later records win: merge into what the earlier ones left (records of one Tx never overlap
  // in practice; this keeps the map non-overlapping whatever the stream holds).
  std::vector<std::byte> merged(data, data + len);
  uint64_t start = off, end = off + len;
  auto it = writes_.lower_bound(off > max_write_ ? off - max_write_ : 0);
  while (it != writes_.end() && it->first < off + len) {
    const uint64_t w = it->first, wend = w + it->second.size();
    if (wend <= off) {
      ++it;
      continue;
    }
    const uint64_t nstart = std::min(start, w), nend = std::max(end, wend);
    std::vector<std::byte> buf(nend - nstart);
    std::memcpy(buf.data() + (w - nstart), it->second.data(), it->second.size());
    std::memcpy(buf.data() + (start - nstart), merged.data(), merged.size());
    merged = std::move(buf);
    start = nstart;
    end = nend;
    it = writes_.erase(it);
  }
  max_write_ = std::max(max_write_, end - start);
  writes_[start] = std::move(merged);
}

uint32_t DentryChecksum(const layout::DentryHead& head, const char* name) {
  layout::DentryHead h = head;
  h.checksum = 0;
  uint32_t crc = Crc32c(&h, sizeof h);
  if (h.name_len > sizeof h.name)
    crc = Crc32c(name + sizeof h.name, h.name_len - sizeof h.name, crc);
  return crc;
}

void SealChainHeader(layout::ChainHeader& h) { h.checksum = StructChecksum(h); }

const char* ChainMagic(store::ChainKind kind) {
  switch (kind) {
    case store::ChainKind::kExtents: return layout::kExtentBlockMagic;
    case store::ChainKind::kDentries: return layout::kDirBlockMagic;
    case store::ChainKind::kXattrs: return layout::kXattrBlockMagic;
  }
  return layout::kExtentBlockMagic;
}

const char* ChainName(store::ChainKind kind) {
  switch (kind) {
    case store::ChainKind::kExtents: return "extent";
    case store::ChainKind::kDentries: return "directory";
    case store::ChainKind::kXattrs: return "xattr";
  }
  return "chain";
}

uint8_t DirentType(uint32_t mode) { return static_cast<uint8_t>((mode & 0170000) >> 12); }

}  // namespace pmemfs::fsck
