#include "tools/tune/geometry.h"

#include <sys/stat.h>

#include <cstring>
#include <string>

#include "fs/store/bitmap_area.h"
#include "fs/store/descriptor_table.h"
#include "human.h"
#include "mapping/page_descriptors.h"
#include "pmemfs/crc32c.h"

namespace pmemfs::tune {

namespace {

using tools::Human;

uint64_t RoundUp(uint64_t v, uint64_t unit) { return (v + unit - 1) / unit * unit; }

std::string Bytes(uint64_t v) {
  return std::to_string(v) + " bytes" + (v >= 1024 ? " (" + Human(v) + ")" : "");
}

}  // namespace

Status BuildTable(mapping::Device& dev, const store::Store& store, mapping::Range area) {
  return store::BuildDescriptorTable(dev, store, area);
}

Result<GeometryPlan> PlanGeometry(const mapping::Device& dev, const GeometryChange& c) {
  const mapping::DeviceInfo& i = dev.info();
  const uint64_t size = i.size, store_end = i.store().end();
  GeometryPlan p;
  const bool has = !i.descriptors.empty();
  const bool want = c.descriptors.value_or(has);
  p.add_descriptors = want && !has;
  p.drop_descriptors = !want && has;
  if (want) {
    p.descriptors = has ? i.descriptors : mapping::Range{};
    if (!has) {
      const uint64_t len = layout::DescriptorAreaSize(size / layout::kPageSize);
      p.descriptors = {len <= size ? size - len : 0, len};
    }
  }
  const uint64_t limit = want ? p.descriptors.offset : size;  // where the RAM partition must end
  const uint64_t ram = c.ram_size ? RoundUp(*c.ram_size, layout::kPageSize) : i.ram.length;
  if (p.add_descriptors && (p.descriptors.length > size || p.descriptors.offset < store_end))
    return Status::NoSpace("the page-descriptor area needs " + Bytes(p.descriptors.length) +
                           " at the end of the device, but only " + Bytes(size - store_end) +
                           " follow the store area, which pmemfs-tune does not shrink");
  if (store_end + ram > limit) {
    if (p.add_descriptors && !c.ram_size)
      return Status::NoSpace("the page-descriptor area needs " + Bytes(p.descriptors.length) +
                             " at the end of the device, where the RAM partition holds " +
                             Bytes(i.ram.length) + "; give --ram-size " +
                             std::to_string(limit - store_end) + " or less with it");
    std::string why = "a RAM partition of " + Bytes(ram) + " does not fit: at most " +
                      Bytes(limit - store_end) + " lie between the store area (which " +
                      "pmemfs-tune does not shrink) and ";
    if (want)
      why += "the page-descriptor area at offset " + std::to_string(p.descriptors.offset) +
             (p.add_descriptors ? " (--descriptors on)" : " (--descriptors off frees " +
                                                             Bytes(p.descriptors.length) + ")");
    else
      why += "the end of the device";
    return Status::NoSpace(why);
  }
  // The RAM partition starts where the store area ends; an empty one keeps that offset when
  // unused space follows the store area (layout.h), so the store area stays as it is.
  p.ram = {ram != 0 || store_end != limit ? store_end : 0, ram};
  return p;
}

Status ApplyGeometry(mapping::Device& dev, store::Store& store, const GeometryPlan& plan) {
  if (!plan.changes(dev.info())) return Status::Ok();
  // The table stays current (kCompatDescriptorsCurrent) only through what keeps it: while the
  // areas change, the bit is clear (a pages mount would rebuild the table).
  if (plan.add_descriptors || plan.drop_descriptors)
    PMEMFS_RETURN_IF_ERROR(store.SetFeatures(0, layout::kCompatDescriptorsCurrent, 0));
  if (plan.add_descriptors) {
    PMEMFS_RETURN_IF_ERROR(mapping::PageDescriptors::FormatArea(dev, plan.descriptors));
    PMEMFS_RETURN_IF_ERROR(BuildTable(dev, store, plan.descriptors));
  }
  PMEMFS_RETURN_IF_ERROR(store.ChangeGeometry(plan.ram, plan.descriptors));
  if (plan.add_descriptors)
    PMEMFS_RETURN_IF_ERROR(store.SetFeatures(layout::kCompatDescriptorsCurrent, 0, 0));
  return Status::Ok();
}

}  // namespace pmemfs::tune
