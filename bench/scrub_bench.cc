// pmemfs-scrub-bench: how fast pmemfs-tune --scrub reads a device, as a fraction of memcpy.
//
//   pmemfs-scrub-bench [--runs 3] DEVICE[,PART...]     (an unmounted, formatted device)
//
// Runs the scrub (tools/tune/scrub.h: every page in use read through the media guard) `runs`
// times on the device, opened read-only (nothing found can be recorded: use a healthy device),
// and takes the best rate, bytes read / time reading. Beside it, the same number of bytes:
//   memcpy-cached  plain memcpy of the device's mapping from offset 0, 64 KiB at a time into one
//                  64 KiB buffer (what the scrub does, without the guard: the upper limit);
//   memcpy-dram    plain memcpy between two DRAM buffers of that size (at most 1 GiB), the
//                  usual "memcpy bandwidth" (it reads and writes every byte).
// Prints each rate in GiB/s and the scrub's as a fraction of both.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "mapping/device_set.h"
#include "tools/tune/scrub.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace pmemfs;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}
double GiBps(uint64_t bytes, double secs) { return secs > 0 ? bytes / secs / (1u << 30) : 0; }

}  // namespace

int main(int argc, char** argv) {
  int runs = 3;
  std::string device;
  for (int i = 1; i < argc; i++) {
    if (std::strcmp(argv[i], "--runs") == 0 && i + 1 < argc) runs = std::atoi(argv[++i]);
    else device = argv[i];
  }
  if (device.empty() || runs < 1) {
    fprintf(stderr, "usage: pmemfs-scrub-bench [--runs N] DEVICE[,PART...]\n");
    return 2;
  }
  Result<std::unique_ptr<mapping::Device>> dev = mapping::OpenDevice(
      mapping::SplitPartList(device), {.force_cache_line = true, .read_only = true});
  if (!dev.ok()) {
    fprintf(stderr, "pmemfs-scrub-bench: %s\n", dev.status().message().c_str());
    return 1;
  }
  double best = 0;
  uint64_t bytes = 0;
  for (int r = 0; r < runs; r++) {
    Result<tune::ScrubReport> s = tune::Scrub(**dev, device, {});
    if (!s.ok()) {
      fprintf(stderr, "pmemfs-scrub-bench: %s\n", s.status().message().c_str());
      return 1;
    }
    if (!s->ranges.empty()) {
      fprintf(stderr, "pmemfs-scrub-bench: the device has bad ranges; use a healthy one\n");
      return 1;
    }
    bytes = s->bytes_read;
    best = std::max(best, GiBps(s->bytes_read, s->elapsed_ns / 1e9));
  }

  // The same bytes of the device's mapping, plain memcpy into a 64 KiB buffer.
  constexpr uint64_t kChunk = 64 << 10;
  std::vector<std::byte> small(kChunk);
  double cached = 0;
  const uint64_t n = std::min(bytes, (*dev)->size());
  for (int r = 0; r < runs; r++) {
    const auto t0 = Clock::now();
    (*dev)->ForEachSegment(0, n, [&](const mapping::Segment& s) {
      for (uint64_t at = 0; at < s.length; at += kChunk)
        std::memcpy(small.data(), s.ptr + at, std::min(kChunk, s.length - at));
    });
    cached = std::max(cached, GiBps(n, Seconds(t0, Clock::now())));
  }
  // DRAM to DRAM, buffers touched first.
  const uint64_t m = std::min<uint64_t>(n, 1ull << 30);
  std::vector<std::byte> src(m, std::byte{1}), dst(m, std::byte{0});
  double dram = 0;
  for (int r = 0; r < runs; r++) {
    const auto t0 = Clock::now();
    std::memcpy(dst.data(), src.data(), m);
    dram = std::max(dram, GiBps(m, Seconds(t0, Clock::now())));
  }
  if (dst[m / 2] != std::byte{1}) return 1;  // keeps the copy
  printf("device %s: %lu bytes in use, best of %d runs\n", device.c_str(), bytes, runs);
  printf("%-16s %8.2f GiB/s\n", "scrub", best);
  printf("%-16s %8.2f GiB/s   scrub/memcpy-cached %.2f\n", "memcpy-cached", cached,
         cached > 0 ? best / cached : 0);
  printf("%-16s %8.2f GiB/s   scrub/memcpy-dram   %.2f\n", "memcpy-dram", dram,
         dram > 0 ? best / dram : 0);
  return 0;
}
