// Nesting: a library call made while its thread is already inside one, which only a signal
// handler that interrupted that call can do (a real program write(2)s to a log descriptor from
// a handler). The interrupted call may hold what the nested one would wait for (a File's lock,
// a read section that a lock's writer waits for, the request socket in the middle of a grant's
// round trip), so a nested call takes the kernel's path and nothing else: no lock, no read
// section, no allocation, no request to the daemon (api.cc says what each call does there to
// stay coherent with what the library did).
//
//   Entry e;                           // first thing in every entry point of the library
//   if (e.nested()) return <the kernel's call>;
//
// The count is async-signal-safe itself: an initial-exec thread_local (a load and a store at
// a fixed offset from the thread pointer; no TLS block made, so nothing allocated, on first
// use) changed only by its own thread, and a handler that runs between the load and the store
// leaves it as it found it.
#pragma once

#include <atomic>
#include <cstdint>

namespace pmemfs::client {

// How many library calls this thread is inside (0 or 1, 2 in a handler that interrupted one).
inline thread_local unsigned t_depth __attribute__((tls_model("initial-exec"))) = 0;

class Entry {
 public:
  Entry() : nested_(t_depth != 0) {
    t_depth = t_depth + 1;
    // Counted before anything the call does, uncounted after (the compiler must not move the
    // call's loads and stores across: a handler could run there).
    std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  ~Entry() {
    std::atomic_signal_fence(std::memory_order_seq_cst);
    t_depth = t_depth - 1;
  }
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;
  // Inside another library call of this thread: take the kernel's path.
  bool nested() const { return nested_; }

 private:
  const bool nested_;
};

// The write at a description's offset this thread is in the middle of (api.cc, WritevOfd): a
// handler's write on the same description (a log descriptor both write to) goes after its bytes
// and moves the offset past its own, as if it had run after it, instead of at the offset that
// write has not moved yet (it would land on the bytes being written, and that write would then
// move the offset over it). Lock-free atomics, set and read by this thread only.
struct OffsetWrite {
  static constexpr int64_t kUnknown = -1;  // that write has not read the offset yet
  static constexpr int64_t kMoved = -2;    // ... and a handler's write moved it meanwhile
  std::atomic<const void*> ofd{nullptr};  // the description (compared, never used), or null
  std::atomic<int64_t> next{0};           // where a handler's write goes: past what is written
};
inline thread_local OffsetWrite t_offset_write __attribute__((tls_model("initial-exec")));

}  // namespace pmemfs::client
