// Internal to mapping/: builds a Device from parts whose labels device_set.cc has checked.
#pragma once

#include "mapping/device.h"
#include "mapping/device_set.h"

namespace pmemfs::mapping {

class DeviceBuilder {
 public:
  // `part_data[i]`: bytes of part i in the device (linear layout); `headers[i]`: where part i
  // keeps its backup header and which header copies are intact. Chooses the access path, maps
  // the linear reservation when chosen, loads the bad-block tables.
  static Result<std::unique_ptr<Device>> Build(std::vector<std::shared_ptr<Part>> parts,
                                               const DeviceInfo& info,
                                               const std::vector<uint64_t>& part_data,
                                               std::vector<PartHeaderState> headers,
                                               const AssembleOptions& opts);
};

}  // namespace pmemfs::mapping
