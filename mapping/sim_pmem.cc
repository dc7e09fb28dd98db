#include "mapping/sim_pmem.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

namespace pmemfs::mapping {

namespace {
constexpr uint64_t kLine = layout::kCacheLine;
using Line = std::array<std::byte, kLine>;
}  // namespace

class SimPart;

// The power domain: one lock over every part's simulated persistence state.
struct SimState {
  std::mutex mu;
  std::mt19937_64 rng;
  uint64_t points = 0;
  uint64_t limit = UINT64_MAX;
  // Set by the first drain past `limit`: power failed during it. Its lines (and every thread's
  // other pending lines) stay pending, each persisting or not at Crash(); nothing after it is
  // recorded.
  bool frozen = false;
  // StopAtFlush: lines flushed so far, the count at which power fails, what stored-but-unflushed
  // lines do then, and whether it has happened (frozen is set with it).
  uint64_t flushed = 0;
  uint64_t flush_limit = UINT64_MAX;
  double keep_dirty = 0.0;
  bool flush_cut = false;
  std::function<void()> drain_hook;  // SetDrainHook
  std::vector<SimPart*> parts;  // guarded by mu; parts unregister in their destructor
};

class SimPart final : public Part {
 public:
  SimPart(std::shared_ptr<SimState> state, std::string name, uint64_t size, uint64_t alignment)
      : state_(std::move(state)), name_(std::move(name)), size_(size), alignment_(alignment),
        persisted_(size) {
    fd_ = memfd_create(name_.c_str(), MFD_CLOEXEC);
    if (fd_ < 0 || ftruncate(fd_, static_cast<off_t>(size)) != 0)
      throw std::runtime_error("SimPart: memfd: " + std::string(strerror(errno)));
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) throw std::runtime_error("SimPart: mmap: " + std::string(strerror(errno)));
    base_ = static_cast<std::byte*>(p);
    if (pmem2_source_from_fd(&src_, fd_) != 0)
      throw std::runtime_error(std::string("SimPart: pmem2 source: ") + pmem2_errormsg());
    std::lock_guard lock(state_->mu);
    state_->parts.push_back(this);
  }
  ~SimPart() override {
    {
      std::lock_guard lock(state_->mu);
      std::erase(state_->parts, this);
    }
    pmem2_source_delete(&src_);
    munmap(base_, size_);
    close(fd_);
  }

  const std::string& name() const override { return name_; }
  uint64_t size() const override { return size_; }
  uint64_t alignment() const override { return alignment_; }
  Granularity granularity() const override { return Granularity::kCacheLine; }
  std::byte* base() const override { return base_; }
  pmem2_source* source() const override { return src_; }

  void Flush(uint64_t off, uint64_t len) override {
    if (len == 0) return;
    std::lock_guard lock(state_->mu);
    if (state_->frozen) return;
    auto& mine = pending_[std::this_thread::get_id()];
    for (uint64_t l = off / kLine * kLine; l < off + len; l += kLine) {
      std::memcpy(mine[l].data(), base_ + l, kLine);
      if (++state_->flushed >= state_->flush_limit) {
        PowerFailLocked(*state_);
        return;
      }
    }
  }
  // Like a fence, covers only the calling thread's flushes.
  void Drain() override {
    std::function<void()> hook;
    {
      std::lock_guard lock(state_->mu);
      hook = state_->drain_hook;
    }
    if (hook) hook();
    std::lock_guard lock(state_->mu);
    if (state_->frozen) return;
    auto it = pending_.find(std::this_thread::get_id());
    if (it == pending_.end()) return;
    if (Stopped()) {  // the drain during which power fails: its lines may or may not persist
      state_->frozen = true;
      return;
    }
    for (auto& [l, data] : it->second) std::memcpy(persisted_.data() + l, data.data(), kLine);
    state_->points++;
    pending_.erase(it);
  }
  void CopyNoDrain(uint64_t off, const void* src, size_t len) override {
    std::memcpy(base_ + off, src, len);
    Flush(off, len);
  }
  void SetNoDrain(uint64_t off, int c, size_t len) override {
    std::memset(base_ + off, c, len);
    Flush(off, len);
  }

  // Called with state_->mu held.
  void CrashLocked(double keep) {
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    for (auto& [thread, lines] : pending_)
        for (auto& [l, data] : lines)
          if (keep > 0 && coin(state_->rng) < keep)
            std::memcpy(persisted_.data() + l, data.data(), kLine);
    pending_.clear();
    std::memcpy(base_, persisted_.data(), size_);
  }
  // Called with state_->mu held: both images become `image` (NewPartFrom).
  void Load(std::span<const std::byte> image) {
    static const std::array<std::byte, layout::kPageSize> kZero{};
    for (uint64_t at = 0; at < size_; at += kZero.size()) {  // both start zero
      const uint64_t n = std::min<uint64_t>(kZero.size(), size_ - at);
      if (std::memcmp(image.data() + at, kZero.data(), n) == 0) continue;
      std::memcpy(base_ + at, image.data() + at, n);
      std::memcpy(persisted_.data() + at, image.data() + at, n);
    }
  }
  // Called with state_->mu held, at a StopAtFlush cut: what persists of this part.
  void CutLocked(double keep_dirty) {
    for (auto& [thread, lines] : pending_)
      for (auto& [l, data] : lines) std::memcpy(persisted_.data() + l, data.data(), kLine);
    pending_.clear();
    if (keep_dirty <= 0) return;
    std::uniform_real_distribution<double> coin(0.0, 1.0);
    for (uint64_t l = 0; l < size_; l += kLine)
      if (std::memcmp(persisted_.data() + l, base_ + l, kLine) != 0 &&
          coin(state_->rng) < keep_dirty)
        std::memcpy(persisted_.data() + l, base_ + l, kLine);
  }
  // Called with state.mu held: the power fails now (StopAtFlush).
  static void PowerFailLocked(SimState& state) {
    for (SimPart* p : state.parts) p->CutLocked(state.keep_dirty);
    state.flush_cut = true;
    state.frozen = true;
  }
  uint64_t pending_lines() const {
    uint64_t n = 0;
    for (auto& [thread, lines] : pending_) n += lines.size();
    return n;
  }

 private:
  bool Stopped() const { return state_->points >= state_->limit; }

  std::shared_ptr<SimState> state_;
  std::string name_;
  uint64_t size_;
  uint64_t alignment_;
  int fd_ = -1;
  std::byte* base_ = nullptr;
  pmem2_source* src_ = nullptr;
  std::vector<std::byte> persisted_;   // guarded by state_->mu
  // Flushed, not drained, per flushing thread (a drain covers only its own thread's flushes);
  // guarded by state_->mu.
  std::map<std::thread::id, std::map<uint64_t, Line>> pending_;
};

SimPmem::SimPmem(uint64_t seed) : state_(std::make_shared<SimState>()) { state_->rng.seed(seed); }
SimPmem::~SimPmem() = default;

std::shared_ptr<Part> SimPmem::NewPart(uint64_t size, uint64_t alignment, std::string name) {
  if (name.empty()) {
    std::lock_guard lock(state_->mu);
    name = "sim" + std::to_string(state_->parts.size());
  }
  return std::make_shared<SimPart>(state_, std::move(name), size, alignment);
}

std::shared_ptr<Part> SimPmem::NewPartFrom(std::span<const std::byte> image, uint64_t alignment,
                                           std::string name) {
  std::shared_ptr<Part> part = NewPart(image.size(), alignment, std::move(name));
  std::lock_guard lock(state_->mu);
  static_cast<SimPart&>(*part).Load(image);
  return part;
}

void SimPmem::Crash(double keep_undrained) {
  std::lock_guard lock(state_->mu);
  for (SimPart* p : state_->parts) p->CrashLocked(keep_undrained);
  state_->limit = UINT64_MAX;
  state_->flush_limit = UINT64_MAX;
  state_->flush_cut = false;
  state_->frozen = false;
}

uint64_t SimPmem::flushed_lines() const {
  std::lock_guard lock(state_->mu);
  return state_->flushed;
}

void SimPmem::StopAtFlush(uint64_t k, double keep_dirty) {
  std::lock_guard lock(state_->mu);
  state_->flush_limit = k;
  state_->keep_dirty = keep_dirty;
  if (!state_->frozen && state_->flushed >= k) SimPart::PowerFailLocked(*state_);
}

uint64_t SimPmem::persist_points() const {
  std::lock_guard lock(state_->mu);
  return state_->points;
}

void SimPmem::StopAfter(uint64_t n) {
  std::lock_guard lock(state_->mu);
  state_->limit = n;
}

bool SimPmem::stopped() const {
  std::lock_guard lock(state_->mu);
  return state_->points >= state_->limit || state_->flush_cut;
}

void SimPmem::SetDrainHook(std::function<void()> hook) {
  std::lock_guard lock(state_->mu);
  state_->drain_hook = std::move(hook);
}

uint64_t SimPmem::pending_lines() const {
  std::lock_guard lock(state_->mu);
  uint64_t n = 0;
  for (SimPart* p : state_->parts) n += p->pending_lines();
  return n;
}

}  // namespace pmemfs::mapping
