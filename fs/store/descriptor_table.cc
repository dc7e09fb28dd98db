#include "fs/store/descriptor_table.h"

#include <sys/stat.h>

#include <cstring>
#include <string>

#include "fs/store/bitmap_area.h"
#include "mapping/page_descriptors.h"
#include "pmemfs/crc32c.h"

namespace pmemfs::store {

Status BuildDescriptorTable(mapping::Device& dev, const Store& store, mapping::Range area) {
  const layout::Superblock& sb = store.superblock();
  const uint64_t pages = dev.size() / layout::kPageSize;
  for (uint64_t ino = 1; ino <= sb.inode_count; ino++) {
    Result<layout::InodeRecord> rec = store.ReadInode(ino);
    if (!rec.ok()) {
      if (rec.status().code() == Code::kNotFound) continue;
      return rec.status();
    }
    if (rec->map_head == 0 || S_ISDIR(rec->mode)) continue;
    PMEMFS_RETURN_IF_ERROR(store.ForEachChainBlock(
        rec->map_head, ChainKind::kExtents, ino,
        [&](uint64_t block, const std::byte* data) -> Status {
          for (uint32_t s = 0; s < layout::kSlotsPerBlock; s++) {
            layout::ExtentRecord r;
            std::memcpy(&r, data + sizeof(layout::ChainHeader) + uint64_t{s} * layout::kSlotSize,
                        sizeof r);
            if (r.length == 0) continue;
            if (r.checksum != StructChecksum(r) || !InDataArea(sb, r.dev_block, r.length) ||
                r.dev_block + r.length > pages) {
              std::string why = "inode ";
              why += std::to_string(ino);
              why += ": extent block ";
              why += std::to_string(block);
              why += " slot ";
              why += std::to_string(s);
              why += " is damaged (run pmemfs-fsck)";
              return Status::Corrupt(why);
            }
            for (uint64_t k = 0; k < r.length; k++) {
              const uint64_t off = area.offset + layout::kDescriptorTableOffset +
                                   (r.dev_block + k) * sizeof(layout::PageDescriptor);
              layout::PageDescriptor d;
              dev.Read(off, &d, sizeof d);
              if (d.refcount == 0) {
                d = {};
                d.owner = ino;
                d.file_index = r.file_block + k;
                d.refcount = 1;
                d.flags = layout::kPageAllocated;
              } else {
                d.refcount++;
                d.flags |= layout::kPageShared;
              }
              d.generation++;
              d.pin_count = 0;
              d.checksum = mapping::DescriptorChecksum(d);
              dev.CopyNoDrain(off, &d, sizeof d);
            }
          }
          return Status::Ok();
        }));
  }
  dev.Drain();
  return Status::Ok();
}

}  // namespace pmemfs::store
