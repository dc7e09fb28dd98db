// Filesystem::StartScrub (scrub.cc), the online scrub: a page poisoned under a mounted
// filesystem (mapping/poison.h) is found while another thread keeps writing, named with its
// file and offset, recorded (a read of it fails at once), and a second scrub finds nothing new;
// one scrub at a time; an unmount stops a running scrub.
#include <fcntl.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "fs_harness.h"
#include "mapping/poison.h"

namespace pmemfs::core {
namespace {

using mapping::Mode;
using testing::kRoot;
using namespace std::chrono_literals;
constexpr uint64_t P = layout::kPageSize;

class ScrubHarness : public testing::FsHarnessBase {
 public:
  explicit ScrubHarness(Mode mode) : FsHarnessBase(mode) {}
  // The device offset of the page that starts with `marker` (found in the device itself).
  uint64_t Find(const std::string& marker) {
    uint64_t at = UINT64_MAX;
    const mapping::Device& dev = fs_->device();
    dev.ForEachSegment(0, dev.size(), [&](const mapping::Segment& s) {
      for (uint64_t o = 0; o + P <= s.length && at == UINT64_MAX; o += P)
        if (std::memcmp(s.ptr + o, marker.data(), marker.size()) == 0) at = s.offset + o;
    });
    return at;
  }
  Filesystem::ScrubStatus Wait() {
    for (int i = 0; i < 10000; i++) {
      Filesystem::ScrubStatus s = fs_->scrub_status();
      if (!s.running) return s;
      std::this_thread::sleep_for(1ms);
    }
    ADD_FAILURE() << "the scrub did not finish in 10 s";
    return fs_->scrub_status();
  }
};

class OnlineScrub : public ::testing::TestWithParam<Mode> {};

TEST_P(OnlineScrub, FindsPoisonWhileTheMountIsUsed) {
  ScrubHarness h(GetParam());
  const uint64_t f = h.Create("f");
  for (int i = 0; i < 16; i++)
    h.Write(f, i * P, ("PAGE-" + std::to_string(i) + "-").append(P - 8, '.').substr(0, P));
  ASSERT_TRUE(h.fs().Fsync(f, false).ok());
  const uint64_t page5 = h.Find("PAGE-5-");
  ASSERT_NE(page5, UINT64_MAX);
  ASSERT_TRUE(mapping::SimulatePoison(h.fs().device(), page5 + 10, 1).ok());

  // Another file keeps being written and read back while the scrub runs.
  const uint64_t g = h.Create("g");
  std::atomic<bool> stop{false};
  std::atomic<int> rounds{0};
  std::thread writer([&] {
    while (!stop.load() || rounds.load() < 10) {
      const std::string s(P, static_cast<char>('a' + rounds.load() % 26));
      h.Write(g, (rounds.load() % 8) * P, s);
      EXPECT_EQ(h.Read(g, (rounds.load() % 8) * P, P), s);
      rounds++;
    }
  });
  Result<uint64_t> id = h.fs().StartScrub("sim", 10s);
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(*id, 1u);
  Filesystem::ScrubStatus s = h.Wait();
  stop = true;
  writer.join();
  ASSERT_TRUE(s.error.ok()) << s.error.message();
  EXPECT_EQ(s.id, 1u);
  EXPECT_EQ(s.done, s.total);
  EXPECT_GT(s.total, 16 * P);
  ASSERT_EQ(s.report.ranges.size(), 1u);
  const store::ScrubRange& r = s.report.ranges[0];
  EXPECT_EQ(r.offset, page5);
  EXPECT_EQ(r.length, P);
  EXPECT_TRUE(r.found);
  ASSERT_EQ(r.owners.size(), 1u);
  EXPECT_EQ(store::Describe(r.owners[0]), "file /f offset 20480 length 4096");
  EXPECT_EQ(s.report.owners_from, GetParam() == Mode::kPages ? "descriptors" : "extents");
  EXPECT_EQ(s.report.found_bytes, P);
  EXPECT_EQ(s.report.record_error, "");

  // Recorded: the device's table has it and a read of it fails now (copy mode: once its cache
  // no longer holds the page).
  auto bad = h.fs().device().bad_blocks().List();
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].offset, page5);
  if (GetParam() != Mode::kCopy) {
    mapping::ReadRef ref;
    EXPECT_EQ(h.fs().Read(f, 5 * P, P, &ref).code(), Code::kIoError);
    EXPECT_EQ(h.Read(f, 4 * P, 7), "PAGE-4-");
  }

  // Again: nothing new.
  ASSERT_TRUE(h.fs().StartScrub("sim", 10s).ok());
  s = h.Wait();
  ASSERT_TRUE(s.error.ok()) << s.error.message();
  EXPECT_EQ(s.id, 2u);
  ASSERT_EQ(s.report.ranges.size(), 1u);
  EXPECT_FALSE(s.report.ranges[0].found);
  EXPECT_EQ(s.report.found_bytes, 0u);
}

TEST_P(OnlineScrub, OneAtATime) {
  ScrubHarness h(GetParam());
  const uint64_t f = h.Create("f");
  h.Write(f, 0, std::string("MARK").append(P - 4, 'x'));
  ASSERT_TRUE(h.fs().Fsync(f, false).ok());
  ASSERT_TRUE(mapping::SimulatePoison(h.fs().device(), h.Find("MARK"), P).ok());
  Filesystem::ScrubStatus s;
  {
    // A request in flight: the scrub, having found the page, waits for it before recording.
    QuiesceGate::Pass request(h.fs().gate());
    ASSERT_TRUE(h.fs().StartScrub("sim", 10s).ok());
    Result<uint64_t> second = h.fs().StartScrub("sim", 10s);
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), Code::kBusy);
    EXPECT_TRUE(h.fs().scrub_status().running);
  }
  s = h.Wait();
  ASSERT_TRUE(s.error.ok()) << s.error.message();
  EXPECT_EQ(s.id, 1u);
  EXPECT_EQ(s.report.found_bytes, P);
}

TEST_P(OnlineScrub, UnmountStopsIt) {
  ScrubHarness h(GetParam());
  const uint64_t f = h.Create("f");
  h.Write(f, 0, std::string(8 << 20, 'x'));
  ASSERT_TRUE(h.fs().StartScrub("sim", 10s).ok());
  EXPECT_TRUE(h.fs().Unmount().ok());
  EXPECT_FALSE(h.fs().scrub_status().running);
  EXPECT_EQ(h.fs().StartScrub("sim", 10s).status().code(), Code::kInvalidArgument);
}

INSTANTIATE_TEST_SUITE_P(Modes, OnlineScrub,
                         ::testing::Values(Mode::kCopy, Mode::kDirect, Mode::kPages),
                         [](const auto& i) { return std::string(mapping::ModeName(i.param)); });

}  // namespace
}  // namespace pmemfs::core
