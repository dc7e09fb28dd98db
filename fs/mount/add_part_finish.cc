#include "fs/mount/add_part_finish.h"

#include <initializer_list>
#include <string_view>

#include "fs/store/descriptor_table.h"
#include "fs/store/store.h"
#include "mapping/page_descriptors.h"
#include "mapping/part.h"
#include "pmemfs/layout.h"

namespace pmemfs::mount {

namespace {

using PartList = std::vector<std::shared_ptr<mapping::Part>>;

// Built by appending: GCC 12's -Wrestrict misfires on "literal" + std::string at -O3.
std::string Cat(std::initializer_list<std::string_view> pieces) {
  std::string s;
  for (std::string_view p : pieces) s += p;
  return s;
}

std::string Names(const PartList& parts, size_t count) {
  std::string s;
  for (size_t i = 0; i < count; i++) {
    if (i) s += ',';
    s += parts[i]->name();
  }
  return s;
}

// After the commit point, every part given: the add finished (see the header).
Result<std::unique_ptr<mapping::Device>> Finish(const PartList& old, PartList parts,
                                                mapping::AssembleOptions aopts) {
  PMEMFS_RETURN_IF_ERROR(mapping::CommitJoin(old, *parts.back()));
  aopts.finishing_add_part = true;
  PMEMFS_ASSIGN_OR_RETURN(std::unique_ptr<mapping::Device> dev,
                          mapping::AssembleDevice(std::move(parts), aopts));
  // The relocated descriptor area, formatted and filled as the tool does: nothing in the store
  // is written before the labels settle (the grown store area has no backup superblock yet, so
  // a superblock torn now could not be read again).
  const mapping::Range area = dev->info().descriptors;
  if (!area.empty()) {
    PMEMFS_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store, store::Store::OpenOffline(*dev));
    PMEMFS_RETURN_IF_ERROR(mapping::PageDescriptors::FormatArea(*dev, area));
    PMEMFS_RETURN_IF_ERROR(store::BuildDescriptorTable(*dev, *store, area));
  }
  PMEMFS_RETURN_IF_ERROR(mapping::SettleJoin(*dev));
  return dev;
}

// The device as assembled; read-write, a label copy an interrupted add tore (the superblock's
// store_growth mark says one was under way) is rewritten from the intact one, as the tool's
// recovery does.
Result<std::unique_ptr<mapping::Device>> Assemble(PartList parts, bool read_only,
                                                  std::string* note,
                                                  const mapping::AssembleOptions& aopts) {
  PMEMFS_ASSIGN_OR_RETURN(std::unique_ptr<mapping::Device> dev,
                          mapping::AssembleDevice(std::move(parts), aopts));
  if (read_only || dev->read_only()) return dev;
  bool torn = false;
  for (size_t i = 0; i < dev->part_count(); i++)
    torn |= !dev->header_state(i).primary_ok || !dev->header_state(i).backup_ok;
  if (!torn) return dev;
  const Result<layout::Superblock> sb = store::Store::Peek(*dev);
  if (!sb.ok() || sb->store_growth == 0) return dev;
  PMEMFS_RETURN_IF_ERROR(mapping::RewritePartHeaders(*dev));
  *note = "rewrote the part label copies an interrupted pmemfs-tune --add-part left torn";
  return dev;
}

}  // namespace

Result<std::unique_ptr<mapping::Device>> AssembleForMount(PartList parts, bool read_only,
                                                          std::string* note,
                                                          const mapping::AssembleOptions& aopts) {
  note->clear();
  if (parts.size() < 2) return Assemble(std::move(parts), read_only, note, aopts);
  const PartList old(parts.begin(), parts.end() - 1);
  const std::string part = parts.back()->name(), device = Names(parts, old.size());
  switch (mapping::InspectJoin(old, *parts.back())) {
    case mapping::JoinState::kCommitted: {
      if (read_only)
        return Status::ReadOnly(Cat({part, ": a pmemfs-tune --add-part of it was interrupted "
                                     "after its commit point; a read-write mount finishes it, "
                                     "as does pmemfs-tune --add-part ", part, " ", device}));
      PMEMFS_ASSIGN_OR_RETURN(std::unique_ptr<mapping::Device> dev,
                              Finish(old, std::move(parts), aopts));
      *note = Cat({"finished an interrupted pmemfs-tune --add-part of ", part});
      return dev;
    }
    case mapping::JoinState::kUncommitted:
      return Status::InvalidArgument(
          Cat({part, ": a pmemfs-tune --add-part of it was interrupted before its commit point: "
               "mount ", device, " (the device as it was), or run pmemfs-tune --add-part ", part,
               " ", device, " to add it"}));
    case mapping::JoinState::kNone:
    case mapping::JoinState::kJoined:
      break;
  }
  return Assemble(std::move(parts), read_only, note, aopts);
}

}  // namespace pmemfs::mount
