#include "tools/tune/add_part.h"

#include "fs/store/store.h"
#include "human.h"
#include "mapping/page_descriptors.h"
#include "tools/tune/geometry.h"

namespace pmemfs::tune {

namespace {

using mapping::Part;
using PartList = std::vector<std::shared_ptr<Part>>;

std::string Bytes(uint64_t v) {
  return std::to_string(v) + " bytes" + (v >= 1024 ? " (" + tools::Human(v) + ")" : "");
}

PartList With(const PartList& parts, const std::shared_ptr<Part>& part) {
  PartList all = parts;
  all.push_back(part);
  return all;
}

// The read-write open that finishes what the store's superblock marks (the growth, or the mark
// of an undone add). A journal transaction a crash left committed (the growth's own, say) is
// left to the next mount, which replays it and then finishes the growth: Ok then too.
Status SettleStore(mapping::Device& dev) {
  Result<std::unique_ptr<store::Store>> s = store::Store::OpenOffline(dev);
  if (!s.ok() && s.status().code() != Code::kBusy) return s.status();
  return Status::Ok();
}

// After the commit point: the grown set assembled (finishing), its descriptor area built, every
// label settled, the store grown (by the read-write open that finds its mark).
Result<std::unique_ptr<mapping::Device>> FinishJoin(const PartList& parts,
                                                    const std::shared_ptr<Part>& part,
                                                    mapping::AssembleOptions aopts) {
  aopts.finishing_add_part = true;
  PMEMFS_ASSIGN_OR_RETURN(std::unique_ptr<mapping::Device> dev,
                          mapping::AssembleDevice(With(parts, part), aopts));
  const mapping::Range area = dev->info().descriptors;
  if (!area.empty()) {
    PMEMFS_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store,
                            store::Store::OpenOffline(*dev));
    PMEMFS_RETURN_IF_ERROR(mapping::PageDescriptors::FormatArea(*dev, area));
    PMEMFS_RETURN_IF_ERROR(BuildTable(*dev, *store, area));
  }
  PMEMFS_RETURN_IF_ERROR(mapping::SettleJoin(*dev));
  PMEMFS_RETURN_IF_ERROR(SettleStore(*dev));
  return dev;
}

}  // namespace

Result<AddPartResult> RecoverAddPart(const PartList& parts, const std::shared_ptr<Part>& part,
                                     const mapping::AssembleOptions& aopts) {
  AddPartResult r;
  switch (mapping::InspectJoin(parts, *part)) {
    case mapping::JoinState::kNone: {
      PMEMFS_ASSIGN_OR_RETURN(r.dev, mapping::AssembleDevice(parts, aopts));
      return r;
    }
    case mapping::JoinState::kUncommitted: {
      mapping::UndoJoin(*part);
      PMEMFS_ASSIGN_OR_RETURN(r.dev, mapping::AssembleDevice(parts, aopts));
      PMEMFS_RETURN_IF_ERROR(mapping::RewritePartHeaders(*r.dev));
      PMEMFS_RETURN_IF_ERROR(SettleStore(*r.dev));  // clears the store's growth mark
      r.note = "undid an interrupted --add-part of " + part->name();
      return r;
    }
    case mapping::JoinState::kCommitted: {
      PMEMFS_RETURN_IF_ERROR(mapping::CommitJoin(parts, *part));
      PMEMFS_ASSIGN_OR_RETURN(r.dev, FinishJoin(parts, part, aopts));
      r.grown = true;
      r.note = "finished an interrupted --add-part of " + part->name();
      return r;
    }
    case mapping::JoinState::kJoined: {
      PMEMFS_ASSIGN_OR_RETURN(r.dev, mapping::AssembleDevice(With(parts, part), aopts));
      PMEMFS_RETURN_IF_ERROR(mapping::RewritePartHeaders(*r.dev));
      PMEMFS_RETURN_IF_ERROR(SettleStore(*r.dev));  // grows the store if a crash came first
      r.grown = true;
      return r;
    }
  }
  return Status::Corrupt("unknown join state");
}

Result<AddPartResult> AddPart(const PartList& parts, const std::shared_ptr<Part>& part,
                              const mapping::AssembleOptions& aopts) {
  PMEMFS_ASSIGN_OR_RETURN(AddPartResult r, RecoverAddPart(parts, part, aopts));
  if (r.grown) {
    if (!r.note.empty()) return r;
    return Status::InvalidArgument(part->name() + " is already part " +
                                   std::to_string(parts.size()) + " of this device (name it " +
                                   "after the others in the device string)");
  }
  mapping::Device& dev = *r.dev;
  // Settles what an interrupted change left (a read-write open does) before the plan reads it.
  PMEMFS_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store, store::Store::OpenOffline(dev));
  const mapping::DeviceInfo& info = dev.info();
  PMEMFS_ASSIGN_OR_RETURN(const uint64_t data, mapping::JoinableDataSize(dev, *part));
  if (std::optional<layout::PartLabel> l = mapping::ReadAnyLabel(*part))
    return Status::InvalidArgument(part->name() + ": already belongs to pmemfs device " +
                                   mapping::UuidString(l->set_uuid) + " (part " +
                                   std::to_string(l->part_index + 1) + " of " +
                                   std::to_string(l->part_count) + ")");
  const uint64_t size = info.size + data;
  mapping::Range descriptors;
  if (!info.descriptors.empty()) {
    const uint64_t len = layout::DescriptorAreaSize(size / layout::kPageSize);
    if (len > data)
      return Status::NoSpace(part->name() + ": too small: the page-descriptor area grows to " +
                             Bytes(len) + " and moves to the end of the device, into the new " +
                             "part, which adds " + Bytes(data) +
                             " (or drop the area first: --descriptors off)");
    descriptors = {size - len, len};
  }
  const uint64_t limit = descriptors.empty() ? size : descriptors.offset;
  const uint64_t ram_length = info.ram.length;
  const mapping::Range ram = ram_length ? mapping::Range{limit - ram_length, ram_length}
                                        : mapping::Range{};
  const uint64_t store_end = limit - ram_length;
  if (store_end <= info.store().end())
    return Status::NoSpace(part->name() + " adds no space to the store area");
  PMEMFS_RETURN_IF_ERROR(store->CheckGrowth(store_end / layout::kBlockSize));

  PMEMFS_RETURN_IF_ERROR(store->MarkStoreGrowth());
  store.reset();
  PMEMFS_RETURN_IF_ERROR(mapping::StartJoin(
      dev, *part, {.device_size = size, .part_data_size = data, .ram = ram,
                   .descriptors = descriptors}));
  r.dev.reset();
  PMEMFS_RETURN_IF_ERROR(mapping::CommitJoin(parts, *part));
  PMEMFS_ASSIGN_OR_RETURN(r.dev, FinishJoin(parts, part, aopts));
  r.grown = true;
  return r;
}

}  // namespace pmemfs::tune
