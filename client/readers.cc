#include "client/readers.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace pmemfs::client::readers {
namespace {

std::atomic<Reader*> g_list{nullptr};  // every Reader, newest first; never freed
pthread_key_t g_key;                   // its destructor frees the exiting thread's Reader
pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

long Membarrier(int cmd) { return syscall(SYS_membarrier, cmd, 0, 0); }

void ThreadExit(void* p) {
  auto* r = static_cast<Reader*>(p);
  if (t_self == r) t_self = nullptr;
  r->free.store(true, std::memory_order_release);
}

void MakeKey() { (void)pthread_key_create(&g_key, ThreadExit); }

void RegisterFence() {
  // Readers may skip their fence only once the expedited barrier is known to work here.
  const bool ok = Membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
                  Membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0;
  g_fenced.store(!ok, std::memory_order_relaxed);
}

}  // namespace

Reader* Register() {
  pthread_once(&g_key_once, MakeKey);
  Reader* r = nullptr;
  for (Reader* p = g_list.load(std::memory_order_acquire); p != nullptr; p = p->next) {
    bool was = true;
    if (p->free.load(std::memory_order_relaxed) &&
        p->free.compare_exchange_strong(was, false, std::memory_order_acquire)) {
      r = p;  // (its seq is even: its thread left no section open; its counts stay and go on)
      break;
    }
  }
  if (r == nullptr) {
    r = new Reader();
    r->next = g_list.load(std::memory_order_relaxed);
    while (!g_list.compare_exchange_weak(r->next, r, std::memory_order_release,
                                         std::memory_order_relaxed)) {
    }
  }
  t_self = r;
  (void)pthread_setspecific(g_key, r);
  return r;
}

void Init() { RegisterFence(); }

void AtForkChild() {
  // Only this thread exists in the child; the parent's other threads may have been inside a
  // section when it forked, and never leave it here. (The old Readers are left as they are.)
  g_list.store(nullptr, std::memory_order_relaxed);
  t_self = nullptr;
  RegisterFence();  // (membarrier registration is the process's: the child's own)
}

bool Synchronize() {
  if (Reader* me = t_self; me != nullptr && (me->seq.load(std::memory_order_relaxed) & 1))
    return false;  // inside a section of our own (a signal handler interrupted it)
  if (g_fenced.load(std::memory_order_relaxed) || Membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0)
    std::atomic_thread_fence(std::memory_order_seq_cst);
  for (Reader* r = g_list.load(std::memory_order_acquire); r != nullptr; r = r->next) {
    const uint64_t s = r->seq.load(std::memory_order_acquire);
    if (!(s & 1)) continue;
    // Sections are short and never block (readers.h); its thread may have been preempted.
    for (int i = 0; r->seq.load(std::memory_order_acquire) == s; i++) {
      if (i >= 64) sched_yield();
#if defined(__x86_64__) || defined(__i386__)
      else __builtin_ia32_pause();
#endif
    }
  }
  return true;
}

void Totals(uint64_t* reads, uint64_t* writes) {
  *reads = *writes = 0;
  for (Reader* r = g_list.load(std::memory_order_acquire); r != nullptr; r = r->next) {
    *reads += r->reads.load(std::memory_order_relaxed);
    *writes += r->writes.load(std::memory_order_relaxed);
  }
}

}  // namespace pmemfs::client::readers
