// QuiesceGate: how the filesystem stops its users for a moment to change something under them
// (pmemfs-tune's online mode switch and cache resize, fs/core/online.cc), the way the kernel
// freezes a filesystem: every entry point of the data path passes the gate (shared), the
// change closes it (exclusive).
//
//   { QuiesceGate::Pass pass(&gate); ...serve one request... }     // FUSE handlers, the
//                                                                  // flusher's rounds, direct
//                                                                  // access requests
//   if (gate.Close(timeout)) { ...nothing in flight: change... ; gate.Open(); }
//   if (gate.Close(timeout, QuiesceGate::Record::kNone)) ...  // a hold left out of last()
//
// While the gate is closed, new entries wait (none fails) until Open. Close returns once every
// entry in flight has left, or false (gate open again) when they did not within the timeout.
// A thread's entries nest (a Pass inside a Pass costs a counter, never waits), and the thread
// that closed the gate passes it freely until it opens it, so work done for the change itself
// (the flusher's write-back) may call code that passes the gate.
//
// Ordering rule: a thread passes the gate before it takes any filesystem lock, so that nobody
// inside waits for a lock held by someone waiting at the gate.
//
// Cost on the data path: one atomic increment and decrement (and a thread-local counter) per
// pass while open; no lock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>

#include "pmemfs/thread_annotations.h"

namespace pmemfs::core {

class QuiesceGate {
 public:
  // One shared entry for its lifetime; a null gate is no gate.
  class Pass {
   public:
    explicit Pass(QuiesceGate* g) : g_(g) {
      if (g_ != nullptr) g_->Enter();
    }
    ~Pass() {
      if (g_ != nullptr) g_->Leave();
    }
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;

   private:
    QuiesceGate* g_;
  };

  // What the last recorded Close-Open cycle cost, for pmemfs-tune and bench/.
  struct Stats {
    uint64_t drain_ns = 0;         // from Close's call until nothing was in flight
    uint64_t closed_ns = 0;        // from Close's call to Open (the whole pause)
    uint64_t waiters = 0;          // entries that arrived while closed and waited
    uint64_t longest_wait_ns = 0;  // the longest of their waits (complete once they resumed)
  };

  QuiesceGate() = default;
  QuiesceGate(const QuiesceGate&) = delete;
  QuiesceGate& operator=(const QuiesceGate&) = delete;

  void Enter() EXCLUDES(mu_);
  void Leave() EXCLUDES(mu_);
  // Whether a closing's figures become last(): a mode switch's do (pmemfs-tune reports them as
  // the switch's pause); the online scrub's short holds do not, so they never replace them.
  enum class Record { kStats, kNone };
  // Closes the gate and waits until no entry but the caller's own is in flight. False (and the
  // gate open again) when that took longer than `timeout`. One closer at a time (callers
  // serialise their changes).
  bool Close(std::chrono::milliseconds timeout, Record record = Record::kStats) EXCLUDES(mu_);
  // Opens it: the entries waiting go on.
  void Open() EXCLUDES(mu_);
  bool closed() const { return closed_.load(std::memory_order_acquire); }
  // Entries in flight now (tests).
  uint64_t inside() const { return inside_.load(std::memory_order_acquire); }
  // Entries blocked at the closed gate now (tests).
  uint64_t waiting() const { return waiting_.load(std::memory_order_acquire); }
  // The figures of the last closing with Record::kStats (its waiters' complete once they
  // resumed).
  Stats last() const;

 private:
  using Clock = std::chrono::steady_clock;
  // This thread's nesting depth at this gate.
  int& Depth() const;

  std::atomic<bool> closed_{false};
  std::atomic<uint64_t> inside_{0};  // entries in flight (outermost passes only)
  Mutex mu_;                         // with cv_: waits for Open (entries) and for drain (Close)
  std::condition_variable cv_;
  Clock::time_point closed_at_ GUARDED_BY(mu_);
  uint64_t own_ GUARDED_BY(mu_) = 0;  // the closer's own entry counted in inside_ (0 or 1)
  bool recording_ GUARDED_BY(mu_) = false;  // the current (or last) closing's Record::kStats
  std::atomic<uint64_t> waiters_{0};
  std::atomic<uint64_t> waiting_{0};
  std::atomic<uint64_t> longest_wait_ns_{0};
  std::atomic<uint64_t> drain_ns_{0};
  std::atomic<uint64_t> closed_ns_{0};
};

}  // namespace pmemfs::core
