#include "test_support.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>

namespace pmemfs::mapping::testing {

std::vector<SimSetup> AllSetups() {
  using layout::LayoutKind;
  std::vector<SimSetup> out;
  for (AccessPath path : {AccessPath::kLinear, AccessPath::kTranslated}) {
    std::string p = path == AccessPath::kLinear ? "Linear" : "Translated";
    out.push_back({"Concat1" + p, LayoutKind::kLinear, 1, path, 8ull << 20});
    out.push_back({"Concat2" + p, LayoutKind::kLinear, 2, path, 6ull << 20});
    out.push_back({"Concat3" + p, LayoutKind::kLinear, 3, path, 5ull << 20});
    out.push_back({"Striped2" + p, LayoutKind::kStriped, 2, path, 10ull << 20});
    out.push_back({"Striped3" + p, LayoutKind::kStriped, 3, path, 8ull << 20});
  }
  return out;
}

std::string SetupName(const ::testing::TestParamInfo<SimSetup>& info) { return info.param.name; }

void SimDevice::Reopen() {
  dev.reset();
  auto r = AssembleDevice(parts, {.path = setup.path});
  ASSERT_TRUE(r.ok()) << r.status().message();
  dev = std::move(r).value();
}

void SimDevice::CrashAndReopen(double keep_undrained) {
  dev.reset();
  sim->Crash(keep_undrained);
  Reopen();
}

SimDevice MakeSimDevice(const SimSetup& setup, CreateOptions opts) {
  SimDevice d;
  d.setup = setup;
  d.sim = std::make_unique<SimPmem>(42);
  for (int i = 0; i < setup.parts; i++)
    d.parts.push_back(d.sim->NewPart(setup.part_size, layout::kPageSize,
                                     setup.name + "-part" + std::to_string(i)));
  opts.layout = setup.layout;
  auto r = CreateDevice(d.parts, opts, {.path = setup.path});
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (r.ok()) d.dev = std::move(r).value();
  return d;
}

SimDevice CopySimDevice(const SimDevice& from) {
  SimDevice d;
  d.setup = from.setup;
  d.sim = std::make_unique<SimPmem>(42);
  for (const auto& p : from.parts)
    d.parts.push_back(d.sim->NewPartFrom({p->base(), p->size()}, p->alignment(), p->name()));
  d.Reopen();
  return d;
}

TempFile::TempFile(uint64_t size, const std::string& tag) {
  static std::atomic<int> counter{0};
  path_ = "/dev/shm/pmemfs-test-" + std::to_string(getpid()) + "-" + tag + "-" +
          std::to_string(counter++);
  int fd = open(path_.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(ftruncate(fd, static_cast<off_t>(size)), 0);
  close(fd);
}

TempFile::~TempFile() { unlink(path_.c_str()); }

}  // namespace pmemfs::mapping::testing
