// pmemfs-direct-signal DIR MARKERS: library calls from a signal handler (direct_signal.sh), run
// under pmemfs-direct with plain libc calls, as an unmodified program makes them.
//
// The main thread loops on pwrite and pread of 16 KiB blocks of the first MiB of DIR/m, on
// appends (pwrite at the end) of 4 KiB blocks to DIR/b, reading each back, and on write(2)s of
// 64-byte records to DIR/l (a log: at the descriptor's offset) and to DIR/a (O_APPEND). A
// SIGALRM handler (setitimer, every 2 ms) pwrites marker k into DIR/m at k * 64 MiB (a hole of
// a sparse file, each in a lease window of its own: through the library, a grant the handler
// would wait for while the call it interrupted holds what the grant needs), reads the block of
// m and the block of b that the main thread wrote last (once with pread, in place where the
// library can, and once with preadv, which the library leaves to the kernel in a handler: both
// must show what the library wrote), and writes its own record to both logs (write(2) or
// writev(2) to l in turn, writev(2) to the O_APPEND one). After MARKERS markers: every marker,
// every block of m and of b as written, through the library and then through the kernel (system
// calls of its own, after the close); each log holds every record of both, whole, each once, each
// writer's in its order. Prints "markers N iterations N"; a wrong byte prints one line on stderr
// and exits 1.
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

bool Whole(ssize_t r, size_t n) { return r == static_cast<ssize_t>(n); }

constexpr uint64_t kWindow = 64ull << 20;  // the daemon's lease window (fs/core/leases.cc)
constexpr size_t kBlock = 16 << 10;        // m's blocks
constexpr int kBlocks = 64;                // m's first MiB
constexpr size_t kAppend = 4096;           // b's blocks
constexpr int kAppends = 4096;             // b grows to 16 MiB, then only m is written
constexpr size_t kMarker = 512;
constexpr size_t kRecord = 64;  // l's records
constexpr int kLogs = 20000;    // the main thread's, at most

// Pattern words: the tag of what was written where, so any block can be checked alone.
void Fill(void* p, size_t len, uint64_t tag) {
  auto* w = static_cast<uint64_t*>(p);
  for (size_t i = 0; i < len / 8; i++) w[i] = tag * 0x9E3779B97F4A7C15ull + i;
}
bool Holds(const void* p, size_t len, uint64_t tag) {
  const auto* w = static_cast<const uint64_t*>(p);
  for (size_t i = 0; i < len / 8; i++)
    if (w[i] != tag * 0x9E3779B97F4A7C15ull + i) return false;
  return true;
}
uint64_t MTag(int block, uint32_t version) {
  return (uint64_t{1} << 40) | (uint64_t(block) << 32) | version;
}
uint64_t BTag(int n) { return (uint64_t{2} << 40) | static_cast<uint64_t>(n); }
uint64_t KTag(int k) { return (uint64_t{3} << 40) | static_cast<uint64_t>(k); }
uint64_t LTag(int i) { return (uint64_t{4} << 40) | static_cast<uint64_t>(i); }   // main's record
uint64_t HTag(int k) { return (uint64_t{5} << 40) | static_cast<uint64_t>(k); }   // the handler's
uint64_t ALTag(int i) { return (uint64_t{6} << 40) | static_cast<uint64_t>(i); }  // a's, main's
uint64_t AHTag(int k) { return (uint64_t{7} << 40) | static_cast<uint64_t>(k); }  // the handler's

int g_m = -1, g_b = -1, g_l = -1, g_a = -1;
int g_markers = 0;
// What the main thread wrote (changed by it only; read by the handler, which runs on it).
uint32_t g_version[kBlocks];
volatile sig_atomic_t g_busy = -1;     // the block of m being written now, or -1
volatile sig_atomic_t g_last = -1;     // the block of m written last
volatile sig_atomic_t g_appended = 0;  // b's blocks written
// The handler's (SIGALRM is blocked while it runs: never two at once).
volatile sig_atomic_t g_handled = 0;
volatile sig_atomic_t g_bad_marker = 0, g_bad_m = 0, g_bad_b = 0, g_bad_log = 0;
alignas(64) unsigned char h_marker[kMarker], h_buf[kBlock], h_record[kRecord];

void OnAlarm(int) {
  const int saved = errno;
  if (g_handled < g_markers) {
    const int k = g_handled + 1;
    Fill(h_marker, kMarker, KTag(k));
    if (!Whole(pwrite(g_m, h_marker, kMarker, static_cast<off_t>(k * kWindow)), kMarker))
      g_bad_marker = g_bad_marker + 1;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    // pread of one buffer (in place where it can be), preadv of two (the kernel's, which must
    // see the size and the bytes the library wrote).
    const int last = g_last;
    if (last >= 0 && last != g_busy) {
      const off_t at = static_cast<off_t>(last * kBlock);
      if (!Whole(pread(g_m, h_buf, kBlock, at), kBlock) ||
          !Holds(h_buf, kBlock, MTag(last, g_version[last])))
        g_bad_m = g_bad_m + 1;
      std::memset(h_buf, 0, kBlock);
      iovec two[2] = {{h_buf, 100 * 8}, {h_buf + 100 * 8, kBlock - 100 * 8}};
      if (!Whole(preadv(g_m, two, 2, at), kBlock) ||
          !Holds(h_buf, kBlock, MTag(last, g_version[last])))
        g_bad_m = g_bad_m + 1;
    }
    const int n = g_appended;
    if (n > 0) {
      const off_t at = static_cast<off_t>((n - 1) * kAppend);
      if (!Whole(pread(g_b, h_buf, kAppend, at), kAppend) || !Holds(h_buf, kAppend, BTag(n - 1)))
        g_bad_b = g_bad_b + 1;
      std::memset(h_buf, 0, kAppend);
      iovec two[2] = {{h_buf, 8}, {h_buf + 8, kAppend - 8}};
      if (!Whole(preadv(g_b, two, 2, at), kAppend) || !Holds(h_buf, kAppend, BTag(n - 1)))
        g_bad_b = g_bad_b + 1;
    }
    Fill(h_record, kRecord, HTag(k));
    iovec halves[2] = {{h_record, 32}, {h_record + 32, kRecord - 32}};  // writev at the offset
    if (!Whole((k & 1) ? writev(g_l, halves, 2) : write(g_l, h_record, kRecord), kRecord))
      g_bad_log = g_bad_log + 1;
    Fill(h_record, kRecord, AHTag(k));
    iovec parts[2] = {{h_record, 24}, {h_record + 24, kRecord - 24}};  // (writev: as loggers do)
    if (!Whole(writev(g_a, parts, 2), kRecord)) g_bad_log = g_bad_log + 1;
    g_handled = k;
  }
  errno = saved;
}

[[noreturn]] void Die(const std::string& what) {
  fprintf(stderr, "pmemfs-direct-signal: %s\n", what.c_str());
  exit(1);
}

double Now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + t.tv_nsec / 1e9;
}

// The whole content checked through `rd` (the library's pread, or the kernel's).
template <typename Read>
void CheckAll(Read rd, int m, int b, int handled, int appended, const char* how) {
  alignas(64) static unsigned char buf[kBlock];
  for (int k = 1; k <= handled; k++)
    if (!Whole(rd(m, buf, kMarker, static_cast<off_t>(k * kWindow)), kMarker) ||
        !Holds(buf, kMarker, KTag(k)))
      Die(std::string(how) + ": marker " + std::to_string(k) + " is not what the handler wrote");
  for (int j = 0; j < kBlocks; j++)
    if (!Whole(rd(m, buf, kBlock, static_cast<off_t>(j * kBlock)), kBlock) ||
        !Holds(buf, kBlock, MTag(j, g_version[j])))
      Die(std::string(how) + ": block " + std::to_string(j) + " of m is not its last version");
  for (int n = 0; n < appended; n++)
    if (!Whole(rd(b, buf, kAppend, static_cast<off_t>(n * kAppend)), kAppend) ||
        !Holds(buf, kAppend, BTag(n)))
      Die(std::string(how) + ": block " + std::to_string(n) + " of b is not what was appended");
}

ssize_t KernelPread(int fd, void* buf, size_t n, off_t off) {
  return syscall(SYS_pread64, fd, buf, n, off);
}

// The log through the kernel: `logs` records of the main thread and `handled` of the handler,
// whole, each once, each writer's in its order.
void CheckLog(int l, int logs, int handled, uint64_t (*main_tag)(int), uint64_t (*handler_tag)(int),
              const char* name) {
  const size_t size = static_cast<size_t>(logs + handled) * kRecord;
  std::string d(size + 1, '\0');
  if (!Whole(KernelPread(l, d.data(), d.size(), 0), size))
    Die(std::string(name) + " is not " + std::to_string(logs) + " + " + std::to_string(handled) +
        " records");
  int main_next = 0, handler_next = 1;
  for (size_t at = 0; at < size; at += kRecord) {
    const char* r = d.data() + at;
    if (main_next < logs && Holds(r, kRecord, main_tag(main_next)))
      main_next++;
    else if (handler_next <= handled && Holds(r, kRecord, handler_tag(handler_next)))
      handler_next++;
    else
      Die(std::string(name) + ": record at " + std::to_string(at) +
          " is not the next of either writer");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) Die("usage: pmemfs-direct-signal DIR MARKERS");
  const std::string dir = argv[1];
  g_markers = atoi(argv[2]);
  const std::string mpath = dir + "/m", bpath = dir + "/b";
  g_m = open(mpath.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  g_b = open(bpath.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  const std::string lpath = dir + "/l";
  g_l = open(lpath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const std::string apath = dir + "/a";
  g_a = open(apath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (g_m < 0 || g_b < 0 || g_l < 0 || g_a < 0) Die("open: " + std::string(strerror(errno)));
  alignas(64) static unsigned char buf[kBlock], back[kBlock];
  for (int j = 0; j < kBlocks; j++) {
    Fill(buf, kBlock, MTag(j, 0));
    if (!Whole(pwrite(g_m, buf, kBlock, static_cast<off_t>(j * kBlock)), kBlock)) Die("fill m");
  }
  // Sparse past the first MiB: each marker goes into a hole of a lease window of its own.
  if (ftruncate(g_m, static_cast<off_t>((g_markers + 2) * kWindow)) != 0) Die("ftruncate m");

  struct sigaction sa {};
  sa.sa_handler = OnAlarm;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, nullptr);
  itimerval it{{0, 2000}, {0, 2000}};
  setitimer(ITIMER_REAL, &it, nullptr);

  uint64_t rng = 88172645463325252ull, iterations = 0;
  int logs = 0;
  alignas(64) static unsigned char record[kRecord];
  const double until = Now() + 50;
  while (g_handled < g_markers && Now() < until) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    const int j = static_cast<int>(rng % kBlocks);
    const uint32_t v = g_version[j] + 1;
    Fill(buf, kBlock, MTag(j, v));
    g_busy = j;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (!Whole(pwrite(g_m, buf, kBlock, static_cast<off_t>(j * kBlock)), kBlock)) Die("pwrite m");
    std::atomic_signal_fence(std::memory_order_seq_cst);
    g_version[j] = v;
    g_last = j;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    g_busy = -1;
    if (!Whole(pread(g_m, back, kBlock, static_cast<off_t>(j * kBlock)), kBlock) ||
        !Holds(back, kBlock, MTag(j, v)))
      Die("main: block " + std::to_string(j) + " of m does not read back");
    if (g_appended < kAppends) {
      const int n = g_appended;
      Fill(buf, kAppend, BTag(n));
      if (!Whole(pwrite(g_b, buf, kAppend, static_cast<off_t>(n * kAppend)), kAppend))
        Die("pwrite b");
      std::atomic_signal_fence(std::memory_order_seq_cst);
      g_appended = n + 1;
      if (!Whole(pread(g_b, back, kAppend, static_cast<off_t>(n * kAppend)), kAppend) ||
          !Holds(back, kAppend, BTag(n)))
        Die("main: block " + std::to_string(n) + " of b does not read back");
    }
    if (logs < kLogs) {
      Fill(record, kRecord, LTag(logs));
      if (!Whole(write(g_l, record, kRecord), kRecord)) Die("write l");
      Fill(record, kRecord, ALTag(logs));
      if (!Whole(write(g_a, record, kRecord), kRecord)) Die("write a");
      logs++;
    }
    iterations++;
  }
  itimerval off{};
  setitimer(ITIMER_REAL, &off, nullptr);
  sigset_t alrm;
  sigemptyset(&alrm);
  sigaddset(&alrm, SIGALRM);
  sigprocmask(SIG_BLOCK, &alrm, nullptr);
  const int handled = g_handled, appended = g_appended;
  if (handled < g_markers) Die("only " + std::to_string(handled) + " signals handled in 50 s");
  if (g_bad_marker) Die(std::to_string(g_bad_marker) + " markers not written whole by the handler");
  if (g_bad_m)
    Die(std::to_string(g_bad_m) + " reads of m in the handler missed the main thread's last write");
  if (g_bad_b)
    Die(std::to_string(g_bad_b) +
        " reads of b in the handler missed the main thread's last append");
  if (g_bad_log) Die(std::to_string(g_bad_log) + " log records not written whole by the handler");

  CheckAll([](int fd, void* p, size_t n, off_t o) { return pread(fd, p, n, o); }, g_m, g_b, handled,
           appended, "library");
  if (fsync(g_m) != 0 || fsync(g_b) != 0 || close(g_m) != 0 || close(g_b) != 0 || close(g_l) != 0 ||
      close(g_a) != 0)
    Die("fsync, close");
  const int km = static_cast<int>(syscall(SYS_openat, AT_FDCWD, mpath.c_str(), O_RDONLY, 0));
  const int kb = static_cast<int>(syscall(SYS_openat, AT_FDCWD, bpath.c_str(), O_RDONLY, 0));
  const int kl = static_cast<int>(syscall(SYS_openat, AT_FDCWD, lpath.c_str(), O_RDONLY, 0));
  const int ka = static_cast<int>(syscall(SYS_openat, AT_FDCWD, apath.c_str(), O_RDONLY, 0));
  if (km < 0 || kb < 0 || kl < 0 || ka < 0) Die("kernel open");
  CheckAll(KernelPread, km, kb, handled, appended, "kernel");
  CheckLog(kl, logs, handled, LTag, HTag, "the log");
  CheckLog(ka, logs, handled, ALTag, AHTag, "the appended log");
  printf("markers %d iterations %llu\n", handled, static_cast<unsigned long long>(iterations));
  return 0;
}
