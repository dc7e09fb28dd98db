#include "mkpmemfs_signatures.h"

#include <cstdint>
#include <cstring>
#include <string_view>

#include "fs/store/store.h"
#include "mapping/device_set.h"
#include "mapping/media_guard.h"
#include "pmemfs/layout.h"

namespace pmemfs::tools {
namespace {

constexpr uint64_t kScanBytes = 64 * 1024;
constexpr uint64_t kBtrfsMagicOffset = 65536 + 64;

// The first bytes of a part, read under MediaGuard (a poisoned line is "nothing found").
std::vector<uint8_t> Head(const mapping::Part& part, uint64_t len) {
  std::vector<uint8_t> buf(std::min<uint64_t>(len, part.size()));
  if (!mapping::GuardedCopy(buf.data(), part.base(), buf.size(), "part", 0).ok()) buf.clear();
  return buf;
}

bool At(const std::vector<uint8_t>& b, uint64_t off, std::string_view magic) {
  return off + magic.size() <= b.size() && memcmp(b.data() + off, magic.data(), magic.size()) == 0;
}

uint32_t Le32(const std::vector<uint8_t>& b, uint64_t off) {
  return b[off] | b[off + 1] << 8 | b[off + 2] << 16 | static_cast<uint32_t>(b[off + 3]) << 24;
}

// ext2/3/4: superblock at 1024, s_magic 0xEF53 at +56, feature words at +92 (compat) and +96
// (incompat).
std::string Ext(const std::vector<uint8_t>& b) {
  if (b.size() < 2048 || b[1080] != 0x53 || b[1081] != 0xEF) return "";
  uint32_t compat = Le32(b, 1024 + 92), incompat = Le32(b, 1024 + 96);
  constexpr uint32_t kHasJournal = 0x4, kExt4Incompat = 0x40 | 0x80 | 0x200;  // extents,64bit,flex_bg
  if (incompat & kExt4Incompat) return "an ext4 filesystem";
  return compat & kHasJournal ? "an ext3 filesystem" : "an ext2 filesystem";
}

std::string Other(const std::vector<uint8_t>& b) {
  std::string ext = Ext(b);
  if (!ext.empty()) return ext;
  if (At(b, 0, "XFSB")) return "an XFS filesystem";
  if (At(b, kBtrfsMagicOffset, "_BHRfS_M")) return "a btrfs filesystem";
  if (At(b, 4086, "SWAPSPACE2") || At(b, 4086, "SWAP-SPACE")) return "a swap area";
  if (At(b, 0, "LUKS\xba\xbe")) return "a LUKS encrypted volume";
  if (At(b, 3, "NTFS    ")) return "an NTFS filesystem";
  if (At(b, 82, "FAT32   ") || At(b, 54, "FAT16   ") || At(b, 54, "FAT12   "))
    return "a FAT filesystem";
  if (At(b, 32769, "CD001")) return "an ISO 9660 filesystem";
  if (At(b, 512, "EFI PART")) return "a GPT partition table";
  return "";
}

// The parts carry pmemfs part labels: a whole pmemfs, a labelled device without a filesystem,
// or parts of some other set.
std::string Pmemfs(const std::vector<std::shared_ptr<mapping::Part>>& parts) {
  Result<std::unique_ptr<mapping::Device>> dev = mapping::AssembleDevice(parts);
  if (!dev.ok()) return "holds pmemfs part labels (" + dev.status().message() + ")";
  if (store::Store::Detect(**dev) != "pmemfs")
    return "holds a pmemfs device (part labels, no filesystem)";
  layout::Superblock sb{};
  if (mapping::GuardedCopy(&sb, (*dev)->At(0), sizeof sb, "superblock", 0).ok() &&
      memcmp(sb.magic, layout::kSuperMagic, sizeof sb.magic) == 0 && sb.label[0] != '\0')
    return "holds a pmemfs filesystem (label '" +
           std::string(sb.label, strnlen(sb.label, sizeof sb.label)) + "')";
  return "holds a pmemfs filesystem";
}

}  // namespace

std::string FindSignature(const std::vector<std::shared_ptr<mapping::Part>>& parts) {
  for (const auto& p : parts) {
    std::vector<uint8_t> b = Head(*p, sizeof(layout::kPartMagic));
    if (At(b, layout::kLabelOffset,
           std::string_view(layout::kPartMagic, sizeof layout::kPartMagic)))
      return Pmemfs(parts);
  }
  if (parts.empty()) return "";
  std::string other = Other(Head(*parts[0], kBtrfsMagicOffset + 8));
  return other.empty() ? "" : "holds " + other;
}

}  // namespace pmemfs::tools
