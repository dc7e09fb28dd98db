#include "mapping/media_guard.h"

#include <setjmp.h>
#include <signal.h>

#include <cstring>
#include <mutex>
#include <string>

namespace pmemfs::mapping {

namespace {

// Per thread: where a guarded copy resumes after SIGBUS, and the faulting address.
thread_local sigjmp_buf* t_resume = nullptr;
thread_local void* t_fault_addr = nullptr;

struct sigaction g_previous;
std::once_flag g_install_once;

void OnSigbus(int sig, siginfo_t* info, void* ctx) {
  if (t_resume != nullptr) {
    t_fault_addr = info->si_addr;
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
  sigjmp_buf resume;
  if (sigsetjmp(resume, 0) != 0) {
    uint64_t at = static_cast<uint64_t>(static_cast<const char*>(t_fault_addr) -
                                        static_cast<const char*>(src));
    return Status::IoError(std::string("media error (poisoned or missing memory) reading ") +
                           what + " at offset " + std::to_string(base_offset + at));
  }
  t_resume = &resume;
  std::memcpy(dst, src, len);
  t_resume = nullptr;
  return Status::Ok();
}

}  // namespace pmemfs::mapping
