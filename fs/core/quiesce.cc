#include "fs/core/quiesce.h"

#include <unordered_map>

namespace pmemfs::core {

int& QuiesceGate::Depth() const {
  // Per thread and gate (tests run several filesystems in one process).
  thread_local std::unordered_map<const QuiesceGate*, int> depth;
  return depth[this];
}

void QuiesceGate::Enter() {
  int& depth = Depth();
  if (depth++ > 0) return;  // nested, or the closer itself
  while (true) {
    if (!closed_.load(std::memory_order_seq_cst)) {
      inside_.fetch_add(1, std::memory_order_seq_cst);
      // Close stores closed_ and then reads inside_; we add to inside_ and then read closed_:
      // one of the two sees the other.
      if (!closed_.load(std::memory_order_seq_cst)) return;
      inside_.fetch_sub(1, std::memory_order_seq_cst);
      {
        MutexLock l(mu_);
        cv_.notify_all();  // the closer may be waiting for us to leave
      }
    }
    const Clock::time_point start = Clock::now();
    bool recorded;
    {
      MutexLock l(mu_);
      recorded = recording_;
      waiting_.fetch_add(1, std::memory_order_acq_rel);
      l.Wait(cv_, [&] { return !closed_.load(std::memory_order_seq_cst); });
      waiting_.fetch_sub(1, std::memory_order_acq_rel);
    }
    if (!recorded) continue;  // a closing left out of last()
    const uint64_t waited = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
    waiters_.fetch_add(1, std::memory_order_relaxed);
    uint64_t prev = longest_wait_ns_.load(std::memory_order_relaxed);
    while (waited > prev && !longest_wait_ns_.compare_exchange_weak(prev, waited)) {
    }
  }
}

void QuiesceGate::Leave() {
  int& depth = Depth();
  if (--depth > 0) return;
  inside_.fetch_sub(1, std::memory_order_seq_cst);
  if (closed_.load(std::memory_order_seq_cst)) {  // the closer waits for the count to fall
    MutexLock l(mu_);
    cv_.notify_all();
  }
}

bool QuiesceGate::Close(std::chrono::milliseconds timeout, Record record) {
  int& depth = Depth();
  MutexLock l(mu_);
  closed_at_ = Clock::now();
  own_ = depth > 0 ? 1 : 0;
  recording_ = record == Record::kStats;
  if (recording_) {
    waiters_.store(0, std::memory_order_relaxed);
    longest_wait_ns_.store(0, std::memory_order_relaxed);
  }
  closed_.store(true, std::memory_order_seq_cst);
  // (cv_.wait_until with a predicate, spelled out: the analysis sees own_ read under mu_.)
  const Clock::time_point until = closed_at_ + timeout;
  bool drained = true;
  while (inside_.load(std::memory_order_seq_cst) > own_) {
    if (l.WaitUntil(cv_, until) == std::cv_status::timeout) {
      drained = inside_.load(std::memory_order_seq_cst) <= own_;
      break;
    }
  }
  if (!drained) {
    closed_.store(false, std::memory_order_seq_cst);
    cv_.notify_all();
    return false;
  }
  if (recording_)
    drain_ns_.store(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              Clock::now() - closed_at_)
                                              .count()),
                    std::memory_order_relaxed);
  depth++;  // the closer passes freely until Open
  return true;
}

void QuiesceGate::Open() {
  Depth()--;
  MutexLock l(mu_);
  if (recording_)
    closed_ns_.store(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                               Clock::now() - closed_at_)
                                               .count()),
                     std::memory_order_relaxed);
  closed_.store(false, std::memory_order_seq_cst);
  cv_.notify_all();
}

QuiesceGate::Stats QuiesceGate::last() const {
  return Stats{.drain_ns = drain_ns_.load(std::memory_order_relaxed),
               .closed_ns = closed_ns_.load(std::memory_order_relaxed),
               .waiters = waiters_.load(std::memory_order_relaxed),
               .longest_wait_ns = longest_wait_ns_.load(std::memory_order_relaxed)};
}

}  // namespace pmemfs::core
