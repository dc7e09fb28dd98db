// Filesystem's online scrub (pmemfs-tune --scrub on a live mount): store::Scrub on a thread of
// its own, the mount running on. The reading takes no lock and closes nothing: a page freed
// meanwhile is still mapped, and reading it harms nobody. What must see the filesystem at rest
// runs with the quiesce gate closed (as a mode switch does, under remount_mu_ so that no switch,
// remount or unmount runs meanwhile): the second reading of a page found bad before it is
// recorded (a write of the whole page may have replaced it since), and the walk of the inode
// table and chains that names what each bad range hits. (These closings are left out of the
// gate's pause figures, QuiesceGate::Record::kNone: pmemfs-tune reports a switch's.)
#include <thread>

#include "fs/core/fs.h"

namespace pmemfs::core {

struct Filesystem::ScrubJob {
  uint64_t id = 0;
  std::thread thread;
  std::atomic<bool> cancel{false};
  std::atomic<bool> running{true};
  std::atomic<uint64_t> done{0}, total{0};
  // Set by the thread before `running` goes false; read after it did.
  Status error;
  store::ScrubReport report;
};

Result<uint64_t> Filesystem::StartScrub(const std::string& name,
                                        std::chrono::milliseconds drain_timeout) {
  std::lock_guard l(scrub_mu_);
  if (scrub_stopped_) return Status::InvalidArgument("the filesystem is unmounted");
  if (scrub_ && scrub_->running.load(std::memory_order_acquire))
    return Status::Busy("a scrub is already running (id " + std::to_string(scrub_->id) + ")");
  if (scrub_ && scrub_->thread.joinable()) scrub_->thread.join();  // finished: returns at once
  auto job = std::make_shared<ScrubJob>();
  job->id = scrub_ ? scrub_->id + 1 : 1;
  store::ScrubOptions o;
  o.progress = [j = job.get()](uint64_t done, uint64_t total) {
    j->total.store(total, std::memory_order_relaxed);
    j->done.store(done, std::memory_order_relaxed);
  };
  // A request in flight may be about to wait for remount_mu_ (a remount passes the gate, then
  // takes it): so the gate is closed for a short while at a time, and remount_mu_ let go
  // between tries, until `drain_timeout`.
  o.hold_still = [this, drain_timeout,
                  j = job.get()](const std::function<void()>& fn) -> Status {
    const auto deadline = std::chrono::steady_clock::now() + drain_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (j->cancel.load(std::memory_order_relaxed))
        return Status::Busy("the scrub was cancelled");
      {
        std::unique_lock l(remount_mu_, std::try_to_lock);
        if (l.owns_lock()) {
          if (unmounted_) return Status::Busy("the filesystem is being unmounted");
          if (gate_.Close(std::chrono::milliseconds(100), QuiesceGate::Record::kNone)) {
            fn();
            gate_.Open();
            return Status::Ok();
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return Status::Busy("requests in flight did not finish within " +
                        std::to_string(drain_timeout.count()) + " ms");
  };
  o.record = !read_only();
  o.cancel = &job->cancel;
  job->thread = std::thread([this, j = job.get(), o = std::move(o), name] {
    Result<store::ScrubReport> r = store::Scrub(*dev_, name, o);
    if (r.ok()) j->report = std::move(*r);
    else j->error = r.status();
    j->running.store(false, std::memory_order_release);
  });
  scrub_ = job;
  return job->id;
}

Filesystem::ScrubStatus Filesystem::scrub_status() const {
  std::lock_guard l(scrub_mu_);
  ScrubStatus s;
  if (!scrub_) return s;
  s.id = scrub_->id;
  s.running = scrub_->running.load(std::memory_order_acquire);
  s.done = scrub_->done.load(std::memory_order_relaxed);
  s.total = scrub_->total.load(std::memory_order_relaxed);
  if (!s.running) {
    s.error = scrub_->error;
    s.report = scrub_->report;
  }
  return s;
}

void Filesystem::StopScrub() {
  std::shared_ptr<ScrubJob> job;
  {
    std::lock_guard l(scrub_mu_);
    job = scrub_;
  }
  {
    std::lock_guard l(scrub_mu_);
    scrub_stopped_ = true;  // no scrub starts from now on
  }
  if (!job) return;
  job->cancel.store(true, std::memory_order_relaxed);
  std::lock_guard l(scrub_mu_);  // StartScrub joins under it too: one joiner at a time
  if (job->thread.joinable()) job->thread.join();
}

}  // namespace pmemfs::core
