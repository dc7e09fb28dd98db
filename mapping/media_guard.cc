#include "mapping/media_guard.h"

#include <setjmp.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
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

void OnSigbus(int sig, siginfo_t* info, void* ctx) {
  if (t_resume != nullptr) {
    sigjmp_buf* resume = t_resume;
    t_resume = nullptr;
    siglongjmp(*resume, 1);
  }
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

}  // namespace

Status GuardedCopy(void* dst, const void* src, size_t len, const char* what, uint64_t base_offset) {
  std::call_once(g_install_once, Install);
  // Bytes copied before the current page piece; volatile: read after siglongjmp.
  volatile size_t done = 0;
  sigjmp_buf resume;
  if (sigsetjmp(resume, 0) != 0) {
    return Status::IoError(std::string("media error (poisoned or missing memory) reading ") +
                           what + " at offset " + std::to_string(base_offset + done));
  }
  auto* d = static_cast<char*>(dst);
  const auto* s = static_cast<const char*>(src);
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

}  // namespace pmemfs::mapping
