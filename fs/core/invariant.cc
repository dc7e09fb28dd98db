#include "fs/core/invariant.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace pmemfs::core {

namespace {

void DefaultHandler(std::string_view what) {
  std::fprintf(stderr, "pmemfs: internal invariant broken: %.*s\n",
               static_cast<int>(what.size()), what.data());
#ifndef NDEBUG
  std::abort();
#endif
}

std::atomic<InvariantHandler> g_handler{nullptr};
std::atomic<uint64_t> g_failures{0};

}  // namespace

void InvariantFailed(std::string_view what) {
  g_failures.fetch_add(1, std::memory_order_relaxed);
  InvariantHandler h = g_handler.load(std::memory_order_acquire);
  (h != nullptr ? h : DefaultHandler)(what);
}

InvariantHandler SetInvariantHandler(InvariantHandler handler) {
  return g_handler.exchange(handler, std::memory_order_acq_rel);
}

uint64_t invariant_failures() { return g_failures.load(std::memory_order_relaxed); }

}  // namespace pmemfs::core
