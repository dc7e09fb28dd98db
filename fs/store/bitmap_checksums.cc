#include "fs/store/bitmap_checksums.h"

#include "fs/store/metadata_media.h"

#include <array>

#include "pmemfs/crc32c.h"

namespace pmemfs::store {

uint32_t BitmapBlockChecksum(const void* bytes, uint64_t len) { return Crc32c(bytes, len); }

uint32_t ComputeBitmapChecksum(const mapping::Device& dev, const layout::Superblock& sb,
                               uint64_t i) {
  std::array<std::byte, layout::kBlockSize> buf;
  const uint64_t len = layout::BitmapBlockLength(sb, i);
  dev.Read((sb.bitmap_start + i) * layout::kBlockSize, buf.data(), len);
  return BitmapBlockChecksum(buf.data(), len);
}

void WriteBitmapChecksums(mapping::Device& dev, const layout::Superblock& sb) {
  for (uint64_t i = 0; i < layout::BitmapBlocks(sb.store_blocks); i++) {
    const uint32_t crc = ComputeBitmapChecksum(dev, sb, i);
    dev.CopyNoDrain(layout::BitmapChecksumOffset(sb, i), &crc, sizeof crc);
  }
}

std::vector<uint64_t> BadBitmapBlocks(const mapping::Device& dev, const layout::Superblock& sb) {
  std::vector<uint64_t> bad;
  if (!HasBitmapChecksums(sb)) return bad;
  for (uint64_t i = 0; i < layout::BitmapBlocks(sb.store_blocks); i++) {
    // A recorded bad range in the block or its checksum: not read, taken as failing.
    if (!MediaGood(dev, (sb.bitmap_start + i) * layout::kBlockSize, layout::kBlockSize) ||
        !MediaGood(dev, layout::BitmapChecksumOffset(sb, i), sizeof(uint32_t))) {
      bad.push_back(i);
      continue;
    }
    uint32_t stored;
    dev.Read(layout::BitmapChecksumOffset(sb, i), &stored, sizeof stored);
    if (stored != ComputeBitmapChecksum(dev, sb, i)) bad.push_back(i);
  }
  return bad;
}

}  // namespace pmemfs::store
