#include "fs/core/flusher.h"

#include <algorithm>
#include <vector>

namespace pmemfs::core {

void Flusher::Start(std::chrono::milliseconds period) {
  if (period.count() <= 0 || thread_.joinable()) return;
  {
    MutexLock l(mu_);
    stop_ = false;
    period_ = period;
  }
  thread_ = std::thread([this] { Loop(); });
}

void Flusher::SetPeriod(std::chrono::milliseconds period) {
  {
    MutexLock l(mu_);
    if (stopped_) return;
    period_ = std::max(period, std::chrono::milliseconds(0));
    if (thread_.joinable()) {
      cv_.notify_all();
      return;
    }
  }
  Start(period);
}

void Flusher::Stop() {
  {
    MutexLock l(mu_);
    stopped_ = true;
    if (!thread_.joinable()) return;
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Flusher::Loop() {
  MutexLock lock(mu_);
  while (true) {
    // A new period starts a new wait (SetPeriod notifies); 0 waits for one.
    const std::chrono::milliseconds period = period_;
    const auto until = std::chrono::steady_clock::now() + period;
    bool timed_out = false;
    while (!stop_ && period_ == period && !timed_out) {
      if (period.count() == 0)
        lock.Wait(cv_);
      else
        timed_out = lock.WaitUntil(cv_, until) == std::cv_status::timeout;
    }
    if (stop_) return;
    if (period_ != period) continue;  // the period changed
    lock.Unlock();
    {
      QuiesceGate::Pass pass(hooks_.gate);
      if (hooks_.fold) hooks_.fold();
      (void)Flush();  // a failure stays pending; Fsync/SyncFs/Unmount report it
    }
    lock.Lock();
  }
}

void Flusher::Hold(const std::shared_ptr<Inode>& ip) {
  MutexLock l(mu_);
  pending_.emplace(ip->ino, ip);
}

void Flusher::Defer(const std::shared_ptr<Inode>& ip) {
  if (ip->times_pending) return;
  ip->MarkTimesPending();
  Hold(ip);
}

Status Flusher::CommitTimes(Inode& ip) {
  if (ip.times_pending) {
    PMEMFS_RETURN_IF_ERROR(hooks_.commit_record(ip));
    ip.times_pending = false;
  }
  ip.PublishSynced();  // (the record as last committed is all of it now)
  return Status::Ok();
}

void Flusher::Drop(uint64_t ino) {
  MutexLock l(mu_);
  pending_.erase(ino);  // (if a Flush holds it right now, that Flush releases it after)
}

Status Flusher::FlushTimes() {
  std::unordered_map<uint64_t, std::shared_ptr<Inode>> batch;
  {
    MutexLock l(mu_);
    batch.swap(pending_);
  }
  Status st;
  std::vector<uint64_t> inos;
  inos.reserve(batch.size());
  for (auto& [ino, ip] : batch) {
    std::unique_lock lock(ip->mu);
    if (Status s = CommitTimes(*ip); !s.ok()) {
      Hold(ip);  // tried again next round
      if (st.ok()) st = s;
    }
    inos.push_back(ino);
  }
  batch.clear();  // our references go before the cache is told
  if (hooks_.released)
    for (uint64_t ino : inos) hooks_.released(ino);  // Release may have left them to us
  return st;
}

Status Flusher::Flush() {
  Status st = FlushTimes();
  if (hooks_.write_back) {
    Status s = hooks_.write_back();
    if (st.ok()) st = s;
  }
  return st;
}

size_t Flusher::pending() const {
  MutexLock l(mu_);
  return pending_.size();
}

}  // namespace pmemfs::core
