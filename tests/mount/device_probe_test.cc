// fs/mount/device_probe: what the daemon learns about a device before core mounts it, and the
// one-line refusals of a device it cannot mount.
#include "fs/mount/device_probe.h"

#include <gtest/gtest.h>

#include "fs/store/store.h"
#include "mapping/device_set.h"
#include "test_support.h"

namespace pmemfs::mount {
namespace {

using mapping::testing::TempFile;

constexpr uint64_t kPartSize = 32ull << 20;

// Labels the parts of `spec` as one device and, unless `store` is empty, formats a store on it.
void Make(const std::string& spec, std::optional<store::FormatOptions> store) {
  mapping::PartOpenOptions popts{.force_cache_line = true};
  auto parts = mapping::OpenFileParts(mapping::SplitPartList(spec), popts);
  ASSERT_TRUE(parts.ok()) << parts.status().message();
  auto dev = mapping::CreateDevice(std::move(parts).value(), {});
  ASSERT_TRUE(dev.ok()) << dev.status().message();
  if (store) {
    ASSERT_TRUE(store::Store::Format(**dev, *store).ok());
  }
}

TEST(DeviceProbeTest, IdentityFromTheLabelsAndTheSuperblock) {
  TempFile a(kPartSize, "a"), b(kPartSize, "b");
  const std::string spec = a.path() + "," + b.path();
  Make(spec, store::FormatOptions{.label = "scratch", .default_mode = layout::StoredMode::kPages});

  Result<ProbedDevice> p = OpenAndProbe(spec, /*page_granularity=*/false, /*read_only=*/false);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->identity.spec, spec);
  EXPECT_EQ(p->identity.parts, (std::vector<std::string>{a.path(), b.path()}));
  EXPECT_EQ(p->identity.label, "scratch");
  EXPECT_EQ(p->identity.default_mode, mapping::Mode::kPages);
  EXPECT_EQ(p->identity.uuid, mapping::UuidString(p->device->info().set_uuid));
  EXPECT_EQ(p->device->part_count(), 2u);
  EXPECT_FALSE(p->device->read_only());
}

TEST(DeviceProbeTest, EveryStoredModeIsTheConfigsDefault) {
  for (auto [stored, mode] : {std::pair{layout::StoredMode::kCopy, mapping::Mode::kCopy},
                              std::pair{layout::StoredMode::kDirect, mapping::Mode::kDirect},
                              std::pair{layout::StoredMode::kPages, mapping::Mode::kPages}}) {
    TempFile f(kPartSize);
    Make(f.path(), store::FormatOptions{.default_mode = stored});
    Result<ProbedDevice> p = OpenAndProbe(f.path(), false, false);
    ASSERT_TRUE(p.ok()) << p.status().message();
    EXPECT_EQ(p->identity.default_mode, mode) << mapping::ModeName(mode);
    EXPECT_EQ(p->identity.label, "");
  }
}

TEST(DeviceProbeTest, ADeviceWithoutAFilesystemIsRefusedByName) {
  TempFile f(kPartSize);
  Make(f.path(), std::nullopt);  // labelled parts, no store
  Result<ProbedDevice> p = OpenAndProbe(f.path(), false, false);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), Code::kInvalidArgument);
  EXPECT_NE(p.status().message().find(f.path() + ": no pmemfs filesystem"), std::string::npos)
      << p.status().message();
}

TEST(DeviceProbeTest, AMissingPartIsAnError) {
  TempFile f(kPartSize);
  Make(f.path(), store::FormatOptions{});
  Result<ProbedDevice> p = OpenAndProbe(f.path() + ",/dev/shm/pmemfs-no-such-part", false, false);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("pmemfs-no-such-part"), std::string::npos)
      << p.status().message();
}

TEST(DeviceProbeTest, AnUnlabelledFileIsNotADevice) {
  TempFile f(kPartSize);  // zeros: no part label
  Result<ProbedDevice> p = OpenAndProbe(f.path(), false, false);
  EXPECT_FALSE(p.ok());
}

}  // namespace
}  // namespace pmemfs::mount
