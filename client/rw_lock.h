// RwLock: the lock of a File (file.h), taken shared by every direct read and write and
// exclusively by grants, revocations and mappings (rare). A reader pays one atomic add to take
// it and one to drop it (pthread_rwlock costs about ten times the instructions); the lock's
// word is the reader count and a writer bit. A writer sets the bit (new readers back off and
// wait), then waits for the readers in flight: writers first, so a thread reading in a loop
// never holds off a revocation. Waiting spins a little, then yields the CPU; nobody holds the
// lock for long (file.h: nothing blocks while holding it). Meets the standard's Lockable and
// SharedLockable (std::unique_lock, std::shared_lock).
#pragma once

#include <sched.h>

#include <atomic>
#include <cstdint>

namespace pmemfs::client {

class RwLock {
 public:
  void lock_shared() {
    while (true) {
      const uint32_t v = word_.fetch_add(kReader, std::memory_order_acquire);
      if (!(v & kWriter)) return;
      word_.fetch_sub(kReader, std::memory_order_relaxed);
      Wait([&] { return (word_.load(std::memory_order_relaxed) & kWriter) == 0; });
    }
  }
  void unlock_shared() { word_.fetch_sub(kReader, std::memory_order_release); }

  void lock() {
    uint32_t v = word_.load(std::memory_order_relaxed);
    while (true) {
      if (v & kWriter) {
        Wait([&] { return (word_.load(std::memory_order_relaxed) & kWriter) == 0; });
        v = word_.load(std::memory_order_relaxed);
        continue;
      }
      if (word_.compare_exchange_weak(v, v | kWriter, std::memory_order_acquire,
                                      std::memory_order_relaxed))
        break;
    }
    // (A reader's add and our bit are ordered in the one word: it saw the bit and backs off, or
    // we see its count here.)
    Wait([&] { return word_.load(std::memory_order_acquire) == kWriter; });
  }
  void unlock() { word_.fetch_and(~kWriter, std::memory_order_release); }
  // Whether a writer holds it or waits for it (a reader that does not take it backs off then).
  bool writer() const { return word_.load(std::memory_order_acquire) & kWriter; }

 private:
  static constexpr uint32_t kWriter = 1;
  static constexpr uint32_t kReader = 2;

  template <typename Done>
  static void Wait(Done done) {
    for (int i = 0; !done(); i++) {
      if (i >= 64) {
        sched_yield();
      } else {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
    }
  }

  std::atomic<uint32_t> word_{0};
};

}  // namespace pmemfs::client
