// Device: address translation, byte-exact assembly in every layout and access path, and the
// persistence primitives over the crash simulator.
#include "mapping/device.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "sim_device_fixture.h"
#include "test_support.h"

namespace pmemfs::mapping {
namespace {

using testing::AllSetups;
using testing::MakeSimDevice;
using testing::SetupName;
using testing::SimDeviceTest;

class DeviceTest : public SimDeviceTest {
 protected:
  DeviceTest() : SimDeviceTest({.ram_size = 1 << 20}) {}
};

std::vector<uint8_t> Pattern(uint64_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937 rng(seed);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

TEST_P(DeviceTest, GeometryMatchesTheSetup) {
  const auto& s = GetParam();
  const DeviceInfo& info = dev().info();
  EXPECT_EQ(info.part_count, static_cast<uint32_t>(s.parts));
  EXPECT_EQ(info.layout, s.layout);
  EXPECT_EQ(dev().access_path(), s.path);
  uint64_t expect = 0;
  for (size_t i = 0; i < dev().part_count(); i++) expect += dev().part_data_size(i);
  EXPECT_EQ(dev().size(), expect);
  EXPECT_EQ(info.descriptors.end(), dev().size());
  EXPECT_EQ(info.ram.end(), info.descriptors.offset);
  EXPECT_EQ(info.ram.length, 1u << 20);
  EXPECT_EQ(info.store().length, info.ram.offset);
  if (s.layout == layout::LayoutKind::kStriped) {
    EXPECT_EQ(info.chunk_size, layout::kMinChunkSize);
  }
}

TEST_P(DeviceTest, LocateAndToDeviceOffsetAreInverse) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 2000; i++) {
    uint64_t off = rng() % dev().size();
    Device::Location l = dev().Locate(off);
    ASSERT_LT(l.part, dev().part_count());
    ASSERT_GE(l.part_offset, dev().info().header_size);
    ASSERT_GT(l.run, 0u);
    ASSERT_EQ(dev().ToDeviceOffset(l.part, l.part_offset - dev().info().header_size), off);
  }
}

TEST_P(DeviceTest, PartsAreLaidOutInOrder) {
  if (GetParam().layout == layout::LayoutKind::kStriped) {
    // Chunk c lives on part c % n.
    const uint64_t chunk = dev().info().chunk_size;
    for (uint64_t c = 0; c < dev().size() / chunk; c++) {
      Device::Location l = dev().Locate(c * chunk);
      EXPECT_EQ(l.part, c % dev().part_count());
      EXPECT_EQ(l.run, chunk);
    }
  } else {
    // Part i's data follows part i-1's.
    uint64_t start = 0;
    for (size_t i = 0; i < dev().part_count(); i++) {
      Device::Location l = dev().Locate(start);
      EXPECT_EQ(l.part, i);
      EXPECT_EQ(l.part_offset, dev().info().header_size);
      EXPECT_EQ(l.run, dev().part_data_size(i));
      start += dev().part_data_size(i);
    }
    EXPECT_EQ(start, dev().size());
  }
}

TEST_P(DeviceTest, WholeDeviceReadsBackByteExactly) {
  auto data = Pattern(dev().size(), 99);
  dev().Write(0, data.data(), data.size());
  std::vector<uint8_t> back(data.size());
  dev().Read(0, back.data(), back.size());
  ASSERT_EQ(back, data);
  // Every byte is where Locate says it is in its part's own mapping.
  std::mt19937_64 rng(3);
  for (int i = 0; i < 5000; i++) {
    uint64_t off = rng() % dev().size();
    Device::Location l = dev().Locate(off);
    ASSERT_EQ(static_cast<uint8_t>(dev().part(l.part).base()[l.part_offset]), data[off]);
  }
}

TEST_P(DeviceTest, BothAccessPathsSeeTheSameBytes) {
  auto data = Pattern(dev().size(), 5);
  dev().Write(0, data.data(), data.size());
  for (AccessPath path : {AccessPath::kLinear, AccessPath::kTranslated}) {
    d_.dev.reset();
    auto r = AssembleDevice(d_.parts, {.path = path});
    ASSERT_TRUE(r.ok()) << r.status().message();
    d_.dev = std::move(r).value();
    EXPECT_EQ(dev().access_path(), path);
    std::vector<uint8_t> back(data.size());
    dev().Read(0, back.data(), back.size());
    ASSERT_EQ(back, data) << AccessPathName(path);
  }
}

TEST_P(DeviceTest, SegmentsCoverRangesInOrder) {
  const uint64_t off = dev().size() / 3 + 123, len = dev().size() / 2;
  uint64_t at = off, n = 0;
  dev().ForEachSegment(off, len, [&](Segment s) {
    EXPECT_EQ(s.offset, at);
    EXPECT_EQ(s.ptr, dev().At(s.offset));
    EXPECT_LE(s.length, dev().ContiguousBytes(s.offset));
    at += s.length;
    n++;
  });
  EXPECT_EQ(at, off + len);
  if (GetParam().path == AccessPath::kLinear) {
    EXPECT_EQ(n, 1u);
  } else if (GetParam().parts > 1) {
    EXPECT_GT(n, 1u);
  }
}

TEST_P(DeviceTest, UnflushedStoresVanishPersistedOnesSurvive) {
  const uint64_t a = 4096, b = dev().size() / 2 + 64, c = dev().size() - 8192;
  const char kept[] = "persisted", lost[] = "only-stored", nodrain[] = "flushed-not-drained";
  dev().Store(a, kept, sizeof kept);
  dev().Persist(a, sizeof kept);
  dev().Store(b, lost, sizeof lost);
  dev().CopyNoDrain(c, nodrain, sizeof nodrain);
  d_.CrashAndReopen();
  char buf[32] = {};
  dev().Read(a, buf, sizeof kept);
  EXPECT_STREQ(buf, kept);
  dev().Read(b, buf, sizeof lost);
  EXPECT_EQ(std::string(buf, sizeof lost), std::string(sizeof lost, '\0'));
  dev().Read(c, buf, sizeof nodrain);
  EXPECT_EQ(std::string(buf, sizeof nodrain), std::string(sizeof nodrain, '\0'));
}

TEST_P(DeviceTest, CrashAtEachPersistPointKeepsExactlyThePrefix) {
  // Eight writes, each inside one part and chunk: each is exactly one persist point.
  const uint64_t base_points = d_.sim->persist_points();
  std::vector<uint64_t> offs;
  for (int i = 0; i < 8; i++) offs.push_back(dev().size() / 8 * i + 64);
  for (size_t stop = 0; stop <= offs.size(); stop++) {
    d_ = MakeSimDevice(GetParam(), {.ram_size = 1 << 20});
    d_.sim->StopAfter(base_points + stop);
    for (size_t i = 0; i < offs.size(); i++) {
      uint64_t v = 1000 + i;
      dev().Write(offs[i], &v, sizeof v);
    }
    d_.CrashAndReopen(0.5);
    for (size_t i = 0; i < offs.size(); i++) {
      uint64_t v = 0;
      dev().Read(offs[i], &v, sizeof v);
      // Power fails during write `stop`'s drain: it may or may not have persisted.
      if (i == stop) EXPECT_TRUE(v == 0 || v == 1000 + i) << "stop " << stop;
      else EXPECT_EQ(v, i < stop ? 1000 + i : 0) << "stop " << stop << " write " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllLayouts, DeviceTest, ::testing::ValuesIn(AllSetups()), SetupName);

}  // namespace
}  // namespace pmemfs::mapping
