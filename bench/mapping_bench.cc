// pmemfs-mapping-bench: what the mapping layer costs over plain memory.
//
// Formats a device on part files (emulated pmem under /dev/shm, cache-line flushes forced) in
// the linear and striped layouts and, through each access path (linear mapping, per-access
// translation), measures:
//   write   Device::CopyNoDrain + Drain: a persisted copy into the device;
//   read    Device::Read: a copy out of the device;
//   persist Device::Persist of a freshly stored 4 KiB page;
// each beside plain memcpy between DRAM buffers of the same sizes, touched in the same pattern
// (the upper limit). 4 KiB copies go to random pages of the working set, 1 MiB copies walk it
// sequentially. The part files are removed at exit, on error and on SIGINT/SIGTERM.
//
//   pmemfs-mapping-bench [--dir /dev/shm] [--parts 2] [--part-size 256M] [--seconds 1]
//                        [--working-set 64M]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "mapping/device.h"
#include "mapping/device_set.h"

namespace pmemfs::mapping {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t k4K = 4096;
constexpr uint64_t k1M = 1ull << 20;

struct Options {
  std::string dir = "/dev/shm";
  int parts = 2;
  uint64_t part_size = 256 * k1M;
  uint64_t working_set = 64 * k1M;
  double seconds = 1.0;
};

// Part file paths, for the signal handler as well as for the PartFiles destructor.
char g_paths[kMaxParts][512];
int g_path_count = 0;

void RemovePartFiles() {
  for (int i = 0; i < g_path_count; i++) unlink(g_paths[i]);  // async-signal-safe
  g_path_count = 0;
}

void OnSignal(int sig) {
  RemovePartFiles();
  signal(sig, SIG_DFL);
  raise(sig);
}

// Creates the (sparse) part files and removes them when it goes away.
class PartFiles {
 public:
  ~PartFiles() { RemovePartFiles(); }
  Result<std::vector<std::string>> Create(const Options& o) {
    std::vector<std::string> paths;
    for (int i = 0; i < o.parts; i++) {
      std::string p = o.dir + "/pmemfs-bench-" + std::to_string(getpid()) + "-" + std::to_string(i);
      if (p.size() >= sizeof g_paths[0]) return Status::InvalidArgument(p + ": path too long");
      int fd = open(p.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
      if (fd < 0) return Status::IoError(p + ": cannot create: " + strerror(errno));
      snprintf(g_paths[g_path_count++], sizeof g_paths[0], "%s", p.c_str());
      int r = ftruncate(fd, static_cast<off_t>(o.part_size));
      close(fd);
      if (r != 0) return Status::IoError(p + ": cannot set its size: " + strerror(errno));
      paths.push_back(p);
    }
    return paths;
  }
};

// Keeps the compiler from dropping copies whose results are never read.
inline void ClobberMemory() { asm volatile("" : : : "memory"); }

// Runs op(i), i = 0, 1, ..., for a warm-up and then for `seconds`; returns ops per second.
double OpsPerSecond(double seconds, const std::function<void(uint64_t)>& op) {
  uint64_t i = 0;
  auto run_for = [&](double s) {
    uint64_t n = 0;
    const auto start = Clock::now();
    const auto stop = start + std::chrono::duration<double>(s);
    auto now = start;
    do {
      for (int k = 0; k < 16; k++, n++) op(i++);
      ClobberMemory();
      now = Clock::now();
    } while (now < stop);
    return n / std::chrono::duration<double>(now - start).count();
  };
  run_for(seconds / 5);  // warm-up
  return run_for(seconds);
}

struct Row {
  std::string op, layout, path;
  double value;      // MB/s or ns
  const char* unit;  // "MB/s" or "ns"
  double memcpy_value;
};

void PrintRow(const Row& r) {
  double ratio = r.value / r.memcpy_value;
  printf("%-28s %-8s %-11s %10.0f %-5s %10.0f %-5s %6.2f\n", r.op.c_str(), r.layout.c_str(),
         r.path.c_str(), r.value, r.unit, r.memcpy_value, r.unit, ratio);
}

// All the measurements over one assembled device.
void MeasureDevice(Device& dev, const Options& o, std::vector<Row>& rows) {
  const std::string lay = LayoutName(dev.info().layout);
  const std::string path = AccessPathName(dev.access_path());
  // The working set straddles the middle of the device (the part boundary, when linear).
  const uint64_t ws = std::min(o.working_set, dev.size() / k1M * k1M);
  const uint64_t base = (dev.size() / 2 - ws / 2) / k1M * k1M;
  std::vector<std::byte> dram(ws), buf(k1M, std::byte{0x5a});
  dev.SetNoDrain(base, 0, ws);  // fault the working set in
  dev.Drain();

  std::mt19937_64 rng(7);
  std::vector<uint64_t> rand_pages(1 << 16);
  for (auto& p : rand_pages) p = rng() % (ws / k4K) * k4K;
  auto rand4k = [&](uint64_t i) { return rand_pages[i % rand_pages.size()]; };
  auto seq1m = [&](uint64_t i) { return i % (ws / k1M) * k1M; };
  const double s = o.seconds;
  auto mbps = [](double ops, uint64_t size) { return ops * size / 1e6; };

  struct Copy {
    const char* name;
    uint64_t size;
    std::function<uint64_t(uint64_t)> at;
  };
  for (const Copy& c : {Copy{"write 4K random (persisted)", k4K, rand4k},
                        Copy{"write 1M seq (persisted)", k1M, seq1m}}) {
    double dv = OpsPerSecond(s, [&](uint64_t i) {
      dev.CopyNoDrain(base + c.at(i), buf.data(), c.size);
      dev.Drain();
    });
    double mv = OpsPerSecond(s, [&](uint64_t i) { memcpy(&dram[c.at(i)], buf.data(), c.size); });
    rows.push_back({c.name, lay, path, mbps(dv, c.size), "MB/s", mbps(mv, c.size)});
  }
  for (const Copy& c : {Copy{"read 4K random", k4K, rand4k}, Copy{"read 1M seq", k1M, seq1m}}) {
    double dv = OpsPerSecond(s, [&](uint64_t i) { dev.Read(base + c.at(i), buf.data(), c.size); });
    double mv = OpsPerSecond(s, [&](uint64_t i) { memcpy(buf.data(), &dram[c.at(i)], c.size); });
    rows.push_back({c.name, lay, path, mbps(dv, c.size), "MB/s", mbps(mv, c.size)});
  }

  // Persist of a page just written with plain stores; only the Persist call is timed.
  auto seq4k = [&](uint64_t i) { return i % (ws / k4K) * k4K; };
  double persist_ns = 0;
  uint64_t persists = 0;
  OpsPerSecond(s, [&](uint64_t i) {
    dev.Store(base + seq4k(i), buf.data(), k4K);
    auto t0 = Clock::now();
    dev.Persist(base + seq4k(i), k4K);
    persist_ns += std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    persists++;
  });  // warm-up and measured runs together: both are steady state by then
  double memcpy_ops = OpsPerSecond(s, [&](uint64_t i) { memcpy(&dram[seq4k(i)], buf.data(), k4K); });
  rows.push_back({"persist 4K (after store)", lay, path, persist_ns / persists, "ns", 1e9 / memcpy_ops});
}

Status Run(const Options& o) {
  PartFiles files;
  PMEMFS_ASSIGN_OR_RETURN(auto paths, files.Create(o));
  PMEMFS_ASSIGN_OR_RETURN(auto parts, OpenFileParts(paths, {.force_cache_line = true}));
  printf("parts: %d x %llu MiB in %s, granularity: %s, working set %llu MiB, %.1f s per point\n\n",
         o.parts, static_cast<unsigned long long>(o.part_size / k1M), o.dir.c_str(),
         GranularityName(parts[0]->granularity()),
         static_cast<unsigned long long>(o.working_set / k1M), o.seconds);
  printf("%-28s %-8s %-11s %16s %16s %6s\n", "operation", "layout", "path", "device",
         "memcpy", "ratio");
  std::vector<Row> rows;
  for (auto kind : {layout::LayoutKind::kLinear, layout::LayoutKind::kStriped}) {
    CreateOptions copts{.layout = kind, .reserve_descriptors = false};
    for (AccessPath ap : {AccessPath::kLinear, AccessPath::kTranslated}) {
      std::unique_ptr<Device> dev;
      if (ap == AccessPath::kLinear) {
        PMEMFS_ASSIGN_OR_RETURN(dev, CreateDevice(parts, copts, {.path = ap}));
      } else {
        PMEMFS_ASSIGN_OR_RETURN(dev, AssembleDevice(parts, {.path = ap}));
      }
      size_t first = rows.size();
      MeasureDevice(*dev, o, rows);
      for (size_t i = first; i < rows.size(); i++) PrintRow(rows[i]);
      fflush(stdout);
    }
  }
  printf("\nratio = device / memcpy (MB/s: higher is better; ns: lower is better). memcpy for\n"
         "persist is one plain 4 KiB DRAM copy.\n");
  return Status::Ok();
}

uint64_t ParseSize(const char* s) {
  char* end = nullptr;
  uint64_t v = strtoull(s, &end, 10);
  switch (*end) {
    case 'G': case 'g': return v << 30;
    case 'M': case 'm': return v << 20;
    case 'K': case 'k': return v << 10;
    default: return v;
  }
}

}  // namespace
}  // namespace pmemfs::mapping

int main(int argc, char** argv) {
  using namespace pmemfs::mapping;
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--help" || a == "-h" || !v) {
      fprintf(stderr, "usage: %s [--dir DIR] [--parts N] [--part-size BYTES[K|M|G]] "
                      "[--seconds S] [--working-set BYTES[K|M|G]]\n", argv[0]);
      return a == "--help" || a == "-h" ? 0 : 2;
    }
    if (a == "--dir") o.dir = v;
    else if (a == "--parts") o.parts = atoi(v);
    else if (a == "--part-size") o.part_size = ParseSize(v);
    else if (a == "--working-set") o.working_set = ParseSize(v);
    else if (a == "--seconds") o.seconds = atof(v);
    else {
      fprintf(stderr, "%s: unknown option %s (try --help)\n", argv[0], a.c_str());
      return 2;
    }
    i++;
  }
  if (o.parts < 1 || o.parts > static_cast<int>(kMaxParts) || o.seconds <= 0 ||
      o.working_set < k1M) {
    fprintf(stderr, "%s: need 1..%u parts, --seconds > 0 and --working-set >= 1M\n", argv[0],
            kMaxParts);
    return 2;
  }
  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  pmemfs::Status st = Run(o);
  if (!st.ok()) {
    fprintf(stderr, "%s: %s\n", argv[0], st.message().c_str());
    return 1;
  }
  return 0;
}
