// Read sections: how the data calls use a tracked descriptor's entry (api.cc's Ofd and its File)
// without taking a reference to it. A reference costs four atomic read-modify-writes per call
// (std::atomic<std::shared_ptr>: lock, count, unlock, and the count back); a section costs
// plain stores to a record of the calling thread, as user-space RCU's membarrier flavour does.
//
//   Section s;                   // enter (this thread's Reader, registered on first use)
//   Ofd* o = table[fd].load();   // valid until the section ends
//   ...                          // nothing that blocks: no request to the daemon
//   // leave (the destructor)
//
// A thread's first section makes its Reader (an allocation): a signal handler's call makes a
// section only where its thread has one already (t_self).
//
// Whoever takes an entry out of the table calls Synchronize() before the entry may go: it
// returns once every section that may have seen the entry has ended. The asymmetric fence
// (membarrier(2), MEMBARRIER_CMD_PRIVATE_EXPEDITED) is paid there, not by the readers; where the
// kernel refuses it, readers fence themselves (a full fence, still cheaper than a reference).
//
// A Reader also counts the calls its thread served in the device (PMEMFS_DIRECT_STATS): owned by
// its thread, read by Totals() from any.
#pragma once

#include <atomic>
#include <cstdint>

namespace pmemfs::client::readers {

struct alignas(64) Reader {
  std::atomic<uint64_t> seq{0};  // odd while inside a section; written by its thread only
  std::atomic<uint64_t> reads{0}, writes{0};  // calls served in the device (its thread's)
  std::atomic<bool> free{false};  // its thread exited: the next new thread takes it
  Reader* next = nullptr;         // in the list of every Reader (never freed)
};

// This thread's Reader (null before its first section). initial-exec: a load from %fs, no call.
inline thread_local Reader* t_self __attribute__((tls_model("initial-exec"))) = nullptr;
inline std::atomic<bool> g_fenced{true};  // readers fence (membarrier unavailable)

Reader* Register();  // makes this thread's Reader

inline Reader& Self() {
  Reader* r = t_self;
  return r != nullptr ? *r : *Register();
}

// Counted by the calling thread only: a load and a store, no read-modify-write.
inline void Count(std::atomic<uint64_t>& c) {
  c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

// A section inside a section of the same thread (a signal handler's library call that
// interrupted one: nesting.h) changes nothing: the outer one covers it, as it stays open until
// the handler returns. (A handler that runs in between the loads and stores of seq below leaves
// it even, its own section ended: the store makes it odd, or even, all the same.)
class Section {
 public:
  Section() : r_(Self()), outer_(!(r_.seq.load(std::memory_order_relaxed) & 1)) {
    if (!outer_) return;
    r_.seq.store(r_.seq.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    // Our odd seq is seen by Synchronize's scan, or our loads after it see what it removed.
    if (g_fenced.load(std::memory_order_relaxed)) std::atomic_thread_fence(std::memory_order_seq_cst);
    else std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  ~Section() {
    if (outer_)
      r_.seq.store(r_.seq.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  Section(const Section&) = delete;
  Section& operator=(const Section&) = delete;
  Reader& reader() { return r_; }

 private:
  Reader& r_;
  const bool outer_;
};

// Sets up the fence (once per process, and again in a fork child, where the parent's Readers
// are dropped: their threads do not exist there).
void Init();
void AtForkChild();
// Returns once every section that began before the call has ended. Must not be called inside a
// section (it would wait for itself): from a signal handler that interrupted one it returns
// false at once, and the caller keeps what it removed (a leak, never a use after free).
bool Synchronize();
// Calls served in the device by all threads so far.
void Totals(uint64_t* reads, uint64_t* writes);

}  // namespace pmemfs::client::readers
