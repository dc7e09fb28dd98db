#include "fs/fuse/invalidator.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

namespace pmemfs::fuse {

AsyncInvalidator::AsyncInvalidator(fuse_session* se) : se_(se), worker_([this] { Run(); }) {}

AsyncInvalidator::~AsyncInvalidator() { Stop(); }

void AsyncInvalidator::InvalidateInode(uint64_t ino, int64_t off, int64_t len) {
  Push(Item{.entry = false, .ino = ino, .off = off, .len = len});
}

void AsyncInvalidator::InvalidateInodeNow(uint64_t ino, int64_t off, int64_t len) {
  Send(Item{.entry = false, .ino = ino, .off = off, .len = len});
}

void AsyncInvalidator::InvalidateEntry(uint64_t parent, std::string_view name) {
  Push(Item{.entry = true, .ino = parent, .name = std::string(name)});
}

void AsyncInvalidator::Push(Item item) {
  {
    MutexLock l(mu_);
    if (stop_) return;
    queue_.push_back(std::move(item));
  }
  cv_.notify_one();
}

void AsyncInvalidator::Stop() {
  {
    MutexLock l(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (worker_.joinable()) worker_.join();
}

void AsyncInvalidator::Run() {
  MutexLock l(mu_);
  while (true) {
    while (!stop_ && queue_.empty()) l.Wait(cv_);
    if (queue_.empty()) return;  // stopped and drained
    Item item = std::move(queue_.front());
    queue_.pop_front();
    l.Unlock();
    Send(item);
    l.Lock();
  }
}

void AsyncInvalidator::Send(const Item& item) {
  int r = item.entry ? fuse_lowlevel_notify_inval_entry(se_, item.ino, item.name.c_str(),
                                                        item.name.size())
                     : fuse_lowlevel_notify_inval_inode(se_, item.ino, item.off, item.len);
  // ENOENT: the kernel does not have it cached, nothing to drop. ENOTCONN: not mounted (yet).
  if (r != 0 && r != -ENOENT && r != -ENOTCONN)
    spdlog::warn("invalidate {} {}{}{}: {}", item.entry ? "entry" : "inode", item.ino,
                 item.entry ? "/" : "", item.name, strerror(-r));
}

}  // namespace pmemfs::fuse
