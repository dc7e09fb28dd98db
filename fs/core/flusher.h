// Flusher: the one background thread of fs/core, and the set of inodes whose write times wait
// for it. It writes back what the filesystem leaves pending on purpose:
//   - the mtime/ctime of writes that only overwrote blocks in place (Inode::times_pending),
//     committed at the latest one period after the write, as ext4 journals them;
//   - the buffered data of the access strategy (copy mode's DRAM cache; nothing in the other
//     modes, whose writes are durable on return).
// Every `period` it folds what direct-access clients reported (sizes and times in their lease
// slots) into the inodes, commits the pending times, then writes back the buffered data: the
// one periodic job of writeback_ms, so that SetPeriod (pmemfs-tune --writeback-ms) reaches all. Fsync, the
// last Release, SyncFs, a remount read-only and Unmount do the same at once (CommitTimes,
// Flush), so the thread only bounds how long a change may stay pending.
//
//   Flusher f(hooks);  f.Start(period);  ...  f.Defer(ip);  ...  f.Stop();  f.Flush();
//
// What it does to an inode and to the device goes through `Hooks` (the filesystem's commit of
// an inode record, the access strategy's write-back, the cache's eviction), so this file knows
// neither the store nor the modes.
//
// Locks: mu_ guards the pending set and the thread's stop flag. It is taken after an inode's
// `mu`, never before it; the hooks run without mu_ held.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <unordered_map>

#include "fs/core/inode.h"
#include "fs/core/quiesce.h"
#include "pmemfs/status.h"
#include "pmemfs/thread_annotations.h"

namespace pmemfs::core {

class Flusher {
 public:
  struct Hooks {
    // Writes ip.rec (which holds the pending times) in a transaction of its own. Called with
    // ip.mu held exclusively.
    std::function<Status(Inode& ip)> commit_record;
    // Writes back buffered data (the access strategy's SyncAll). May be null: nothing buffered.
    std::function<Status()> write_back;
    // Called for each inode once its times were committed by Flush and it is no longer held
    // here (so the inode cache may evict it). Called with no locks held. May be null.
    std::function<void(uint64_t ino)> released;
    // Takes what direct-access clients reported (sizes, times) into the inodes, deferring
    // their commit to the round it starts (Filesystem::FoldAllLeases). Called at the start of
    // each background round, inside the gate, with no locks held. May be null.
    std::function<void()> fold;
    // Passed (quiesce.h) around each background round, before any inode lock. May be null.
    QuiesceGate* gate = nullptr;
  };

  explicit Flusher(Hooks hooks) : hooks_(std::move(hooks)) {}
  ~Flusher() { Stop(); }
  Flusher(const Flusher&) = delete;
  Flusher& operator=(const Flusher&) = delete;

  // Starts the thread: a flush every `period` (none when 0). At most once.
  void Start(std::chrono::milliseconds period) EXCLUDES(mu_);
  // The period from now on (pmemfs-tune --writeback-ms): the thread starts when it did not
  // run, and waits for a new period when 0. Not after Stop.
  void SetPeriod(std::chrono::milliseconds period) EXCLUDES(mu_);
  // Stops and joins the thread (what is pending stays: the caller flushes). Idempotent.
  void Stop() EXCLUDES(mu_);
  bool running() const { return thread_.joinable(); }

  // Records that ip.rec holds times not yet committed (sets ip.times_pending). Caller holds
  // ip.mu exclusively. An inode already pending costs nothing more: times_pending means it is
  // in the set, or in a batch that Flush commits after taking ip.mu (so with these times).
  // The reference keeps the inode cached until its times are committed.
  void Defer(const std::shared_ptr<Inode>& ip) EXCLUDES(mu_);
  // Commits ip's pending times now (Fsync, the last Release), then tells its direct-access
  // clients what of theirs is durable (Inode::PublishSynced). Caller holds ip.mu exclusively.
  Status CommitTimes(Inode& ip);
  // The inode's times were committed by its owner: stop holding it (Release, so that the inode
  // can be evicted). Caller holds no inode lock.
  void Drop(uint64_t ino) EXCLUDES(mu_);
  // Commits the pending times of every inode (a failed one stays pending and the first error is
  // returned), then writes back the buffered data.
  Status Flush() EXCLUDES(mu_);
  // Only the times part of Flush.
  Status FlushTimes() EXCLUDES(mu_);
  // Inodes with pending times (tests).
  size_t pending() const EXCLUDES(mu_);

 private:
  void Loop() EXCLUDES(mu_);
  // Holds ip in the pending set (a failed commit puts it back).
  void Hold(const std::shared_ptr<Inode>& ip) EXCLUDES(mu_);

  const Hooks hooks_;
  mutable Mutex mu_;
  std::condition_variable cv_;  // stop_ was set or period_ changed
  std::unordered_map<uint64_t, std::shared_ptr<Inode>> pending_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  bool stopped_ GUARDED_BY(mu_) = false;  // Stop ran (SetPeriod starts nothing after it)
  std::chrono::milliseconds period_ GUARDED_BY(mu_){0};
  std::thread thread_;
};

}  // namespace pmemfs::core
