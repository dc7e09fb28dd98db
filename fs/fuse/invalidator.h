// AsyncInvalidator: core::Invalidator for a FUSE session.
//
// Core reports changes the kernel did not make itself (and so may still have cached); this
// forwards them to fuse_lowlevel_notify_inval_inode/entry. Not from the calling thread: a
// notification sent while the kernel waits on a request that touches the same inode or
// directory can deadlock (libfuse's documentation of both calls), and core may call us from
// inside a request. A worker thread sends them, in order.
//
//   AsyncInvalidator inval(se);     // after fuse_session_new
//   fs->SetInvalidator(&inval);
//   ... session loop ...
//   fs->SetInvalidator(nullptr); inval.Stop();   // before fuse_session_destroy
#pragma once

#include <fuse_lowlevel.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <thread>

#include "fs/core/fs.h"
#include "pmemfs/thread_annotations.h"

namespace pmemfs::fuse {

class AsyncInvalidator : public core::Invalidator {
 public:
  // `se` must outlive Stop().
  explicit AsyncInvalidator(fuse_session* se);
  ~AsyncInvalidator() override;  // Stop()

  void InvalidateInode(uint64_t ino, int64_t off, int64_t len) override;
  void InvalidateEntry(uint64_t parent, std::string_view name) override;
  // Drops the kernel's cached pages of [off, off + len) of `ino` before it returns, from the
  // calling thread: for a request handler whose reply must not overtake the invalidation. Only
  // where the kernel holds no page lock of that range while it waits on the request (a write
  // with O_DIRECT does not; a writeback WRITE or a READ does: those would deadlock).
  void InvalidateInodeNow(uint64_t ino, int64_t off, int64_t len);
  // Sends what is queued, then ends the worker. Idempotent.
  void Stop();

 private:
  struct Item {
    bool entry;        // entry: parent + name; else inode: ino, off, len
    uint64_t ino;
    int64_t off;
    int64_t len;
    std::string name;
  };
  void Push(Item item) EXCLUDES(mu_);
  void Run() EXCLUDES(mu_);
  void Send(const Item& item);

  fuse_session* se_;
  Mutex mu_;
  std::condition_variable cv_;  // queue_ grew or stop_ was set
  std::deque<Item> queue_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread worker_;
};

}  // namespace pmemfs::fuse
