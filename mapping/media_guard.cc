#include "mapping/media_guard.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>

namespace pmemfs::mapping {

namespace {

// Per thread: where a guarded copy resumes after SIGBUS. Set and cleared around the loads with
// signal fences, or the compiler may drop the set as a dead store (nothing it can see reads it).
thread_local sigjmp_buf* t_resume = nullptr;

// Bad memory faults in whole pages (a hole in a file; a poisoned line, which the kernel reports
// with page granularity), so copies are split at source page boundaries to pin a fault to its
// page: memcpy may load a range's bytes in any order (glibc loads the tail first).
constexpr uintptr_t kPage = 4096;

struct sigaction g_previous;
std::once_flag g_install_once;

// --- registered regions (all of it read by the signal handler: plain arrays, no allocation) ---

constexpr int kMaxRegions = 1024;
constexpr int kMaxFiles = 64;  // a device's parts (device_set.h kMaxParts)

struct RegionEntry {
  uintptr_t begin, end;
  int nfiles;
  MediaRegion::File files[kMaxFiles];
  std::atomic<bool>* lost;
};
// state: 0 free, 1 being set up or torn down, 2 active (fields valid for the handler).
RegionEntry g_regions[kMaxRegions];
std::atomic<int> g_region_state[kMaxRegions];

// Pages replaced by anonymous zero pages after their file shrank (0: an empty entry). Once the
// list is full, g_replaced_overflow makes every guarded copy inside a lost region fail.
constexpr size_t kMaxReplaced = 1 << 16;
std::atomic<uintptr_t> g_replaced[kMaxReplaced];
std::atomic<size_t> g_replaced_n{0};
std::atomic<bool> g_replaced_overflow{false};

// The active region holding `addr` whose files are now shorter than when mapped, or nullptr.
// Async-signal-safe (fstat).
RegionEntry* FindShrunkRegion(uintptr_t addr) {
  for (int i = 0; i < kMaxRegions; i++) {
    if (g_region_state[i].load(std::memory_order_acquire) != 2) continue;
    RegionEntry& r = g_regions[i];
    if (addr < r.begin || addr >= r.end) continue;
    for (int f = 0; f < r.nfiles; f++) {
      struct stat st;
      if (fstat(r.files[f].fd, &st) == 0 && S_ISREG(st.st_mode) &&
          static_cast<uint64_t>(st.st_size) < r.files[f].size)
        return &r;
    }
  }
  return nullptr;
}

// Maps an anonymous zero page over the page holding `addr` and records it. Async-signal-safe.
bool ReplacePage(uintptr_t addr) {
  const uintptr_t page = addr & ~(kPage - 1);
  if (mmap(reinterpret_cast<void*>(page), kPage, PROT_READ | PROT_WRITE,
           MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED)
    return false;
  const size_t i = g_replaced_n.fetch_add(1, std::memory_order_acq_rel);
  if (i < kMaxReplaced) g_replaced[i].store(page, std::memory_order_release);
  else g_replaced_overflow.store(true, std::memory_order_release);
  return true;
}

// The first byte of [p, p+len) on a replaced page (nullptr: none). Cheap while nothing was
// replaced (one atomic load).
const char* FirstReplaced(const char* p, size_t len) {
  const size_t n = std::min(g_replaced_n.load(std::memory_order_acquire), kMaxReplaced);
  if (n == 0 || len == 0) return nullptr;
  const auto lo = reinterpret_cast<uintptr_t>(p), hi = lo + len;
  uintptr_t first = UINTPTR_MAX;
  for (size_t i = 0; i < n; i++) {
    const uintptr_t page = g_replaced[i].load(std::memory_order_acquire);
    if (page != 0 && page < hi && page + kPage > lo) first = std::min(first, std::max(page, lo));
  }
  if (first == UINTPTR_MAX && g_replaced_overflow.load(std::memory_order_acquire)) {
    for (int i = 0; i < kMaxRegions; i++)
      if (g_region_state[i].load(std::memory_order_acquire) == 2 && g_regions[i].lost->load() &&
          g_regions[i].begin < hi && g_regions[i].end > lo)
        return p;
  }
  return first == UINTPTR_MAX ? nullptr : reinterpret_cast<const char*>(first);
}

void OnSigbus(int sig, siginfo_t* info, void* ctx) {
  const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
  RegionEntry* shrunk = FindShrunkRegion(addr);
  if (shrunk) shrunk->lost->store(true, std::memory_order_release);
  if (t_resume != nullptr) {
    sigjmp_buf* resume = t_resume;
    t_resume = nullptr;
    siglongjmp(*resume, 1);
  }
  // An unguarded access past the end of a shrunk file: let it complete on a zero page.
  if (shrunk && ReplacePage(addr)) return;
  // Not ours: behave as if we had never been installed.
  if (g_previous.sa_flags & SA_SIGINFO) {
    g_previous.sa_sigaction(sig, info, ctx);
  } else if (g_previous.sa_handler != SIG_IGN && g_previous.sa_handler != SIG_DFL) {
    g_previous.sa_handler(sig);
  } else {
    signal(SIGBUS, SIG_DFL);  // return re-executes the load and the default action applies
  }
}

void Install() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = OnSigbus;
  // SA_NODEFER: SIGBUS stays unblocked after siglongjmp, so sigsetjmp need not save the mask
  // (which would cost a syscall per copy).
  sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, &g_previous);
}

Status MediaError(const char* what, uint64_t offset) {
  return Status::IoError(std::string("media error (poisoned or missing memory) reading ") + what +
                         " at offset " + std::to_string(offset));
}

}  // namespace

Status GuardedCopy(void* dst, const void* src, size_t len, const char* what, uint64_t base_offset,
                   uint64_t* fault_offset) {
  std::call_once(g_install_once, Install);
  auto* d = static_cast<char*>(dst);
  const auto* s = static_cast<const char*>(src);
  if (const char* bad = FirstReplaced(s, len); bad != nullptr) {
    if (fault_offset) *fault_offset = base_offset + static_cast<uint64_t>(bad - s);
    return MediaError(what, base_offset + static_cast<uint64_t>(bad - s));
  }
  // Bytes copied before the current page piece; volatile: read after siglongjmp.
  volatile size_t done = 0;
  sigjmp_buf resume;
  if (sigsetjmp(resume, 0) != 0) {
    if (fault_offset) *fault_offset = base_offset + done;
    return MediaError(what, base_offset + done);
  }
  t_resume = &resume;
  while (done < len) {
    const size_t at = done;
    const size_t to_page_end = kPage - reinterpret_cast<uintptr_t>(s + at) % kPage;
    const size_t n = std::min(len - at, to_page_end);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // t_resume/done before the loads
    std::memcpy(d + at, s + at, n);
    std::atomic_signal_fence(std::memory_order_seq_cst);  // the loads before done/t_resume
    done = at + n;
  }
  t_resume = nullptr;
  return Status::Ok();
}

Status GuardedProbe(const void* p, size_t len, const char* what, uint64_t base_offset) {
  std::call_once(g_install_once, Install);
  const auto* s = static_cast<const char*>(p);
  if (const char* bad = FirstReplaced(s, len); bad != nullptr)
    return MediaError(what, base_offset + static_cast<uint64_t>(bad - s));
  volatile size_t done = 0;
  sigjmp_buf resume;
  if (sigsetjmp(resume, 0) != 0) return MediaError(what, base_offset + done);
  t_resume = &resume;
  while (done < len) {
    const size_t at = done;
    const size_t to_page_end = kPage - reinterpret_cast<uintptr_t>(s + at) % kPage;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    (void)*static_cast<const volatile char*>(s + at);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    done = at + std::min(len - at, to_page_end);
  }
  t_resume = nullptr;
  return Status::Ok();
}

Status PoisonPagesForTesting(void* p, size_t len) {
  std::call_once(g_install_once, Install);
  if (reinterpret_cast<uintptr_t>(p) % kPage != 0 || len % kPage != 0)
    return Status::InvalidArgument("poison: the range is not page-aligned");
  if (len == 0) return Status::Ok();
  // An empty file: every page of a shared mapping of it lies past its end, so a load faults
  // with SIGBUS (BUS_ADRERR) at that page, as a load of a poisoned line does.
  int fd = memfd_create("pmemfs-poison", MFD_CLOEXEC);
  if (fd < 0) return Status::IoError(std::string("poison: memfd_create: ") + strerror(errno));
  void* m = mmap(p, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
  const int err = errno;
  close(fd);
  if (m == MAP_FAILED) return Status::IoError(std::string("poison: mmap: ") + strerror(err));
  return Status::Ok();
}

MediaRegion::MediaRegion(const void* begin, size_t len, std::vector<File> files,
                         std::atomic<bool>* lost) {
  std::call_once(g_install_once, Install);
  if (files.empty() || files.size() > kMaxFiles || len == 0) return;
  for (int i = 0; i < kMaxRegions; i++) {
    int expected = 0;
    if (!g_region_state[i].compare_exchange_strong(expected, 1)) continue;
    RegionEntry& r = g_regions[i];
    r.begin = reinterpret_cast<uintptr_t>(begin);
    r.end = r.begin + len;
    r.nfiles = static_cast<int>(files.size());
    std::copy(files.begin(), files.end(), r.files);
    r.lost = lost;
    g_region_state[i].store(2, std::memory_order_release);
    slot_ = i;
    return;
  }
}

MediaRegion::~MediaRegion() {
  if (slot_ < 0) return;
  RegionEntry& r = g_regions[slot_];
  g_region_state[slot_].store(1, std::memory_order_release);
  // The address range goes back to the system: forget its replaced pages.
  const size_t n = std::min(g_replaced_n.load(std::memory_order_acquire), kMaxReplaced);
  for (size_t i = 0; i < n; i++) {
    const uintptr_t page = g_replaced[i].load(std::memory_order_acquire);
    if (page >= r.begin && page < r.end) g_replaced[i].store(0, std::memory_order_release);
  }
  g_region_state[slot_].store(0, std::memory_order_release);
}

}  // namespace pmemfs::mapping
