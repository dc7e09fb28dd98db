// pmemfs-meta-bench: metadata operations per second on any mounted filesystem.
//
// In DIR (which must exist; the benchmark works in a fresh subdirectory of it and removes it),
// each thread takes its own subdirectory and N/threads files, and the phases run in order, every
// thread starting a phase together (a barrier) and the phase timed from that start to the last
// thread's end:
//   create      open(O_CREAT|O_EXCL|O_WRONLY) + close of each file (empty files)
//   stat        stat() of each file, in a shuffled order, passes repeated for at least 0.2 s
//   open-close  open(O_RDONLY) + close of each file, in a shuffled order, passes repeated for at
//               least 0.2 s (one pass of a few thousand files takes milliseconds: too short to
//               time on a shared machine)
//   rename      rename() of each file to a new name in the same directory
//   readdir     listing the directory (opendir/readdir/closedir), repeated for at least 0.2 s;
//               the rate counts entries
//   unlink      unlink() of each file
//   mkdir-tree  mkdir of a tree of depth 3 whose fanout gives about N/10 directories
//   rmdir-tree  rmdir of that tree, leaves first
// Prints a table (phase, operations, seconds, ops/s, us/op), or with --csv one line per phase:
// `phase,ops_per_second,ops/s` (what bench/jobs.sh reads).
//
//   pmemfs-meta-bench --dir DIR [--files N] [--threads T] [--phases create,stat,...] [--csv]
//
// --phases keeps only the phases named, in their usual order; a phase that needs files
// (stat, open-close, rename, readdir, unlink) needs create, and rmdir-tree needs mkdir-tree.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace pmemfs::bench {
namespace {

using Clock = std::chrono::steady_clock;

const char* const kPhases[] = {"create",  "stat",   "open-close", "rename",
                               "readdir", "unlink", "mkdir-tree", "rmdir-tree"};

struct Options {
  std::string dir;
  long files = 10000;
  int threads = 1;
  std::vector<std::string> phases = {"create", "stat",   "open-close", "rename",
                                     "readdir", "unlink", "mkdir-tree", "rmdir-tree"};
  bool csv = false;
};

// A failed system call ends the benchmark with one line naming it and the path.
[[noreturn]] void Fail(const char* what, const std::string& path) {
  fprintf(stderr, "pmemfs-meta-bench: %s %s: %s\n", what, path.c_str(), strerror(errno));
  exit(1);
}

bool Has(const Options& o, const char* phase) {
  return std::find(o.phases.begin(), o.phases.end(), phase) != o.phases.end();
}

// One thread's share: its directory, its file names (before and after rename), its tree.
struct Worker {
  std::string dir;
  std::vector<std::string> names;    // current name of each file
  std::vector<uint32_t> order;       // shuffled indexes, for stat and open-close
  std::vector<std::string> tree;     // tree directories, parents before children
};

std::string FileName(const std::string& dir, const char* prefix, long i) {
  char buf[32];
  snprintf(buf, sizeof buf, "/%s%08ld", prefix, i);
  return dir + buf;
}

// Tree of depth 3 under `root` with fanout f (parents first).
std::vector<std::string> TreePaths(const std::string& root, int fanout) {
  std::vector<std::string> out;
  for (int a = 0; a < fanout; a++) {
    std::string pa = root + "/d" + std::to_string(a);
    out.push_back(pa);
    for (int b = 0; b < fanout; b++) {
      std::string pb = pa + "/d" + std::to_string(b);
      out.push_back(pb);
      for (int c = 0; c < fanout; c++) out.push_back(pb + "/d" + std::to_string(c));
    }
  }
  return out;
}

// Runs one phase on every worker; returns {operations, seconds}. The phase lasts from the first
// thread's start to the last thread's end, each taken by the worker itself (the main thread may
// be descheduled on a loaded machine, so its clock would not do).
template <typename F>
std::pair<long, double> RunPhase(std::vector<Worker>& workers, F body) {
  std::barrier start(static_cast<std::ptrdiff_t>(workers.size()));
  std::atomic<long> ops{0};
  std::vector<Clock::time_point> begin(workers.size()), end(workers.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < workers.size(); i++) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      begin[i] = Clock::now();
      ops += body(workers[i]);
      end[i] = Clock::now();
    });
  }
  for (std::thread& t : threads) t.join();
  Clock::time_point first = *std::min_element(begin.begin(), begin.end());
  Clock::time_point last = *std::max_element(end.begin(), end.end());
  return {ops.load(), std::chrono::duration<double>(last - first).count()};
}

long Create(Worker& w) {
  for (const std::string& n : w.names) {
    int fd = open(n.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644);
    if (fd < 0) Fail("create", n);
    close(fd);
  }
  return static_cast<long>(w.names.size());
}

constexpr auto kMinPhase = std::chrono::milliseconds(200);

long Stat(Worker& w) {
  struct stat st;
  long ops = 0;
  Clock::time_point t0 = Clock::now();
  do {
    for (uint32_t i : w.order) {
      if (stat(w.names[i].c_str(), &st) != 0) Fail("stat", w.names[i]);
    }
    ops += static_cast<long>(w.order.size());
  } while (Clock::now() - t0 < kMinPhase);
  return ops;
}

long OpenClose(Worker& w) {
  long ops = 0;
  Clock::time_point t0 = Clock::now();
  do {
    for (uint32_t i : w.order) {
      int fd = open(w.names[i].c_str(), O_RDONLY);
      if (fd < 0) Fail("open", w.names[i]);
      close(fd);
    }
    ops += static_cast<long>(w.order.size());
  } while (Clock::now() - t0 < kMinPhase);
  return ops;
}

long Rename(Worker& w) {
  for (size_t i = 0; i < w.names.size(); i++) {
    std::string to = FileName(w.dir, "r", static_cast<long>(i));
    if (rename(w.names[i].c_str(), to.c_str()) != 0) Fail("rename", w.names[i]);
    w.names[i] = std::move(to);
  }
  return static_cast<long>(w.names.size());
}

long Readdir(Worker& w) {
  long entries = 0;
  Clock::time_point t0 = Clock::now();
  do {
    DIR* d = opendir(w.dir.c_str());
    if (!d) Fail("opendir", w.dir);
    errno = 0;
    while (readdir(d)) entries++;
    if (errno != 0) Fail("readdir", w.dir);
    closedir(d);
  } while (Clock::now() - t0 < kMinPhase);
  return entries;
}

long Unlink(Worker& w) {
  for (const std::string& n : w.names) {
    if (unlink(n.c_str()) != 0) Fail("unlink", n);
  }
  return static_cast<long>(w.names.size());
}

long MkdirTree(Worker& w) {
  for (const std::string& p : w.tree) {
    if (mkdir(p.c_str(), 0755) != 0) Fail("mkdir", p);
  }
  return static_cast<long>(w.tree.size());
}

long RmdirTree(Worker& w) {
  for (auto it = w.tree.rbegin(); it != w.tree.rend(); ++it) {
    if (rmdir(it->c_str()) != 0) Fail("rmdir", *it);
  }
  return static_cast<long>(w.tree.size());
}

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

int Usage(const char* argv0, int status) {
  fprintf(status ? stderr : stdout,
          "usage: %s --dir DIR [--files N] [--threads T] [--phases create,stat,...] [--csv]\n"
          "phases: create stat open-close rename readdir unlink mkdir-tree rmdir-tree\n",
          argv0);
  return status;
}

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") return Usage(argv[0], 0);
    if (a == "--csv") {
      o.csv = true;
      continue;
    }
    if (i + 1 >= argc) return Usage(argv[0], 2);
    const char* v = argv[++i];
    char* end = nullptr;
    if (a == "--dir") {
      o.dir = v;
    } else if (a == "--files") {
      o.files = strtol(v, &end, 10);
      if (*end || o.files < 1) {
        fprintf(stderr, "pmemfs-meta-bench: --files needs a positive number, not %s\n", v);
        return 2;
      }
    } else if (a == "--threads") {
      o.threads = static_cast<int>(strtol(v, &end, 10));
      if (*end || o.threads < 1 || o.threads > 256) {
        fprintf(stderr, "pmemfs-meta-bench: --threads needs 1..256, not %s\n", v);
        return 2;
      }
    } else if (a == "--phases") {
      o.phases = SplitCommas(v);
      for (const std::string& p : o.phases) {
        if (std::find(std::begin(kPhases), std::end(kPhases), p) == std::end(kPhases)) {
          fprintf(stderr, "pmemfs-meta-bench: unknown phase %s\n", p.c_str());
          return 2;
        }
      }
    } else {
      fprintf(stderr, "pmemfs-meta-bench: unknown option %s (try --help)\n", a.c_str());
      return 2;
    }
  }
  if (o.dir.empty()) return Usage(argv[0], 2);
  bool needs_files = Has(o, "stat") || Has(o, "open-close") || Has(o, "rename") ||
                     Has(o, "readdir") || Has(o, "unlink");
  if (needs_files && !Has(o, "create")) {
    fprintf(stderr, "pmemfs-meta-bench: stat, open-close, rename, readdir and unlink need create\n");
    return 2;
  }
  if (Has(o, "rmdir-tree") && !Has(o, "mkdir-tree")) {
    fprintf(stderr, "pmemfs-meta-bench: rmdir-tree needs mkdir-tree\n");
    return 2;
  }

  std::string root = o.dir + "/meta-bench." + std::to_string(getpid());
  if (mkdir(root.c_str(), 0755) != 0) Fail("mkdir", root);
  long per_thread = (o.files + o.threads - 1) / o.threads;
  int fanout = std::max(2, static_cast<int>(std::lround(std::cbrt(per_thread / 10.0))));
  std::vector<Worker> workers(o.threads);
  std::mt19937 rng(42);
  for (int t = 0; t < o.threads; t++) {
    Worker& w = workers[t];
    w.dir = root + "/t" + std::to_string(t);
    if (mkdir(w.dir.c_str(), 0755) != 0) Fail("mkdir", w.dir);
    long n = std::min(per_thread, o.files - t * per_thread);
    for (long i = 0; i < std::max(0L, n); i++) w.names.push_back(FileName(w.dir, "f", i));
    w.order.resize(w.names.size());
    for (size_t i = 0; i < w.order.size(); i++) w.order[i] = static_cast<uint32_t>(i);
    std::shuffle(w.order.begin(), w.order.end(), rng);
    w.tree = TreePaths(w.dir + "/tree", fanout);
    if (Has(o, "mkdir-tree") && mkdir((w.dir + "/tree").c_str(), 0755) != 0) Fail("mkdir", w.dir);
  }

  struct Row {
    std::string phase;
    long ops;
    double seconds;
  };
  std::vector<Row> rows;
  auto run = [&](const char* phase, long (*body)(Worker&)) {
    if (!Has(o, phase)) return;
    auto [ops, s] = RunPhase(workers, body);
    rows.push_back({phase, ops, s});
  };
  run("create", Create);
  run("stat", Stat);
  run("open-close", OpenClose);
  run("rename", Rename);
  run("readdir", Readdir);
  if (Has(o, "create") && !Has(o, "unlink")) {
    for (Worker& w : workers) Unlink(w);  // clean up, untimed
  }
  run("unlink", Unlink);
  run("mkdir-tree", MkdirTree);
  run("rmdir-tree", RmdirTree);

  for (Worker& w : workers) {
    if (Has(o, "mkdir-tree") && !Has(o, "rmdir-tree")) RmdirTree(w);
    if (Has(o, "mkdir-tree") && rmdir((w.dir + "/tree").c_str()) != 0) Fail("rmdir", w.dir);
    if (rmdir(w.dir.c_str()) != 0) Fail("rmdir", w.dir);
  }
  if (rmdir(root.c_str()) != 0) Fail("rmdir", root);

  if (!o.csv) {
    printf("%ld files, %d thread(s), tree fanout %d (%zu directories per thread)\n\n", o.files,
           o.threads, fanout, workers[0].tree.size());
    printf("%-12s %10s %9s %12s %9s\n", "phase", "ops", "seconds", "ops/s", "us/op");
  }
  for (const Row& r : rows) {
    double rate = r.seconds > 0 ? r.ops / r.seconds : 0;
    if (o.csv) {
      printf("%s,%.1f,ops/s\n", r.phase.c_str(), rate);
    } else {
      printf("%-12s %10ld %9.3f %12.0f %9.2f\n", r.phase.c_str(), r.ops, r.seconds, rate,
             r.ops ? 1e6 * r.seconds * o.threads / r.ops : 0);
    }
  }
  return 0;
}

}  // namespace
}  // namespace pmemfs::bench

int main(int argc, char** argv) { return pmemfs::bench::Main(argc, argv); }
