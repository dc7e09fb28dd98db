// Shared test helpers: simulated devices in every layout and access path, and temporary part
// files under /dev/shm that remove themselves.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "mapping/device.h"
#include "mapping/device_set.h"
#include "mapping/sim_pmem.h"

namespace pmemfs::mapping::testing {

struct SimSetup {
  std::string name;
  layout::LayoutKind layout;
  int parts;
  AccessPath path;
  uint64_t part_size;  // bytes per part
};

inline void PrintTo(const SimSetup& s, std::ostream* os) { *os << s.name; }

// 1-, 2- and 3-part linear and 2- and 3-part striped sets, each through both access paths.
std::vector<SimSetup> AllSetups();
std::string SetupName(const ::testing::TestParamInfo<SimSetup>& info);

// A simulated device: its power domain, parts and the assembled device.
struct SimDevice {
  SimSetup setup;
  std::unique_ptr<SimPmem> sim;
  std::vector<std::shared_ptr<Part>> parts;
  std::unique_ptr<Device> dev;

  // Drops the device and assembles the same parts again (a remount).
  void Reopen();
  // Simulated power loss (keeping each flushed-undrained line with probability `keep`), then
  // Reopen().
  void CrashAndReopen(double keep_undrained = 0.0);
};

// Creates (formats) a device on fresh simulated parts. Fails the test on error.
SimDevice MakeSimDevice(const SimSetup& setup, CreateOptions opts = {});
// The same device on a new power domain (seed 42, as MakeSimDevice's): each part starts holding
// what `from`'s part shows now, persisted, and the parts are assembled. To copy what survived a
// crash rather than what the program saw, Crash() `from` first. Fails the test on error.
SimDevice CopySimDevice(const SimDevice& from);

// A file under /dev/shm of `size` bytes (sparse, zero), removed when this goes away.
class TempFile {
 public:
  explicit TempFile(uint64_t size, const std::string& tag = "part");
  ~TempFile();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace pmemfs::mapping::testing
