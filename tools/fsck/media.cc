// The media errors the device knows of (its parts' bad-block tables and the platform's list),
// named with what they hit, as pmemfs-tune --scrub names them (fs/store/owners.h): a range in a
// file or in metadata is a problem (not repairable here: the data is gone; rewriting the file's
// pages clears the mark), one in free space or the RAM partition a note.
#include "fs/store/owners.h"
#include "tools/fsck/scan.h"

namespace pmemfs::fsck {

void ReportBadRanges(const Image& img, const layout::Superblock& sb, bool descriptors,
                     CheckReport& r) {
  const mapping::Device& dev = img.dev();
  const std::vector<mapping::BadBlocks::Entry> bad = dev.bad_blocks().List();
  if (bad.empty()) return;
  // What a known bad range holds is not to be trusted: read as unreadable, as the scrub does.
  store::ReadThrough read = [&](uint64_t off, void* dst, uint64_t len) -> Status {
    PMEMFS_RETURN_IF_ERROR(dev.bad_blocks().Check(off, len));
    img.Read(off, dst, len);
    return Status::Ok();
  };
  store::OwnerMap owners(dev, sb, read,
                         descriptors ? store::OwnerMap::Source::kDescriptors
                                     : store::OwnerMap::Source::kExtents);
  for (const auto& b : bad) {
    const std::string range =
        "bad range [" + std::to_string(b.offset) + ", " + std::to_string(b.offset + b.length) + ")";
    for (const store::OwnerPiece& p : owners.Owners(b.offset, b.length)) {
      const std::string what = (p.offset == b.offset && p.length == b.length)
                                   ? range
                                   : range + " at [" + std::to_string(p.offset) + ", " +
                                         std::to_string(p.offset + p.length) + ")";
      const bool harmless = p.kind == store::OwnerKind::kFree ||
                            p.kind == store::OwnerKind::kStoreUnused ||
                            p.kind == store::OwnerKind::kRamPartition;
      if (harmless)
        r.notes.push_back(what + ": " + store::Describe(p));
      else
        r.problems.push_back({"media", what + ": " + (store::IsMetadata(p.kind) ? "metadata: " : "") +
                                           store::Describe(p) + " (not repairable)"});
    }
  }
}

}  // namespace pmemfs::fsck
