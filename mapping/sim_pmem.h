// SimPmem: simulated persistent memory for tests: the crash seam.
//
// A SimPmem is one power domain holding any number of SimParts. Each part keeps two images:
// the working image (what loads see, a memfd mapping, so devices can map it like a file) and the
// persisted image (what survives power loss). A store reaches the persisted image only when its
// cache line is flushed (Part::Flush, or a non-temporal copy/set) and then drained
// (Part::Drain): a flush snapshots the line, a drain makes the pending snapshots of the calling
// thread persistent (as a fence orders only its own thread's flushes).
// Each drain that persists something is one *persist point*.
//
// Two ways to choose the instant of a power failure: StopAfter(n) cuts during the drain after
// persist point n (the lines pending then persist or not at Crash()); StopAtFlush(k) cuts in
// between, right after the k-th cache line flushed (every Flush line, and every line of a
// non-temporal copy or set, counted in order): a persist drained part way, and stores not yet
// flushed written back by the cache or not.
//
//   SimPmem sim;                       auto part = sim.NewPart(64 << 20);
//   ... assemble devices on parts, run a workload ...
//   sim.StopAfter(n);                  // the persisted images stop changing after point n
//   sim.Crash();                       // working := persisted (+ optionally random pending lines)
//   ... reassemble and recover from what survived ...
//
// Thread-safe. Parts hold a reference to the SimPmem state, so either may be dropped first.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "mapping/part.h"

namespace pmemfs::mapping {

struct SimState;

class SimPmem {
 public:
  explicit SimPmem(uint64_t seed = 1);
  ~SimPmem();
  SimPmem(const SimPmem&) = delete;
  SimPmem& operator=(const SimPmem&) = delete;

  // A new zero-filled part of `size` bytes (a multiple of `alignment`, itself a power of two).
  std::shared_ptr<Part> NewPart(uint64_t size, uint64_t alignment = layout::kPageSize,
                                std::string name = "");
  // A new part holding `image` (its size a multiple of `alignment`) in both its working and its
  // persisted image, as if written and persisted before: a copy of another part, to start many
  // crash runs from one prepared state.
  std::shared_ptr<Part> NewPartFrom(std::span<const std::byte> image,
                                    uint64_t alignment = layout::kPageSize, std::string name = "");

  // Simulates power loss on every part: lines flushed but not drained persist with probability
  // `keep_undrained` each (0: none), then each working image is replaced by its persisted image.
  // Clears any StopAfter or StopAtFlush limit.
  void Crash(double keep_undrained = 0.0);

  // Persist points so far (drains that persisted at least one line).
  uint64_t persist_points() const;
  // After `n` persist points in total, the machine loses power during the next drain: the lines
  // pending then (flushed since point n, by any thread) persist or not at Crash() according to
  // `keep_undrained`, and nothing flushed or drained later reaches the persisted images (the
  // program runs on until Crash()).
  void StopAfter(uint64_t n);
  // Cache lines flushed so far (each line of each Flush, CopyNoDrain and SetNoDrain, counted
  // once per call that flushes it).
  uint64_t flushed_lines() const;
  // Once `k` lines in total have been flushed, the machine loses power right after the k-th:
  // every line flushed by then persists (the persist under way drained part way, in flush
  // order), each other line whose working copy differs from what persisted (stored, not flushed,
  // so far only in the CPU cache) persists with probability `keep_dirty` (1: the image a copy of
  // the frozen machine's memory shows), and nothing later reaches the persisted images (the
  // program runs on until Crash(), which then changes nothing more). k = 0: at once.
  void StopAtFlush(uint64_t k, double keep_dirty = 0.0);
  // True once a StopAfter or StopAtFlush limit has been reached.
  bool stopped() const;
  // Calls `hook` (null: none) at the start of every Drain of every part, on the draining thread,
  // before the drain takes effect: a test makes something happen while a persist is under way.
  void SetDrainHook(std::function<void()> hook);
  // Lines flushed and not yet drained, over all parts (for tests of the primitives).
  uint64_t pending_lines() const;

 private:
  std::shared_ptr<SimState> state_;
};

}  // namespace pmemfs::mapping
