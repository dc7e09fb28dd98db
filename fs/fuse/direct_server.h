// DirectServer: the daemon's end of direct access (include/pmemfs/direct_protocol.h says the
// protocol; fs/core/leases.h the leases; client/ is the other end).
//
//   auto srv = DirectServer::Start(fs, {.mount_dev = "0:52", .policy = ..., ...});  // threads
//   ...                                       // serves until destroyed
//   srv.reset();                              // revokes every lease, closes every connection
//
// One abstract Unix socket per mount, "\0pmemfs-direct-MAJ:MIN" (the mount's device number, so
// a client finds it from fstat of any file it opened there). A connecting process is checked
// against the mount's direct_access= policy (SO_PEERCRED, SO_PEERGROUPS); one that may not
// gets an error and no descriptor, and keeps using the kernel. One that may gets the device's
// parts (new read-write descriptors, without the daemon's lock) and the slot table; from then
// on it can read and write the whole device, as with access to /dev/daxX.Y.
//
// A lease is granted only for a descriptor the client passes: its inode must be the one asked
// for, on this mount, and its open flags must allow what the lease is for (the kernel's own
// permission check, made at open). The first write lease of a file drops the kernel's cached
// attributes of it (they are replied uncached from then on, core::Attr::leased); a release or
// fsync after direct writes drops its cached pages (close-to-open for readers through the
// kernel).
//
// Threads: an accept thread (what clients report is folded by core's Flusher, every
// writeback_ms, the period pmemfs-tune --writeback-ms changes), and per
// client a request thread and an answer thread for the callback socket (so that answers to
// revocations are read while a request of the same client waits for an inode lock).
#pragma once

#include <sys/types.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "fs/config/values.h"
#include "fs/core/fs.h"
#include "pmemfs/status.h"
#include "pmemfs/thread_annotations.h"

namespace pmemfs::fuse {

class AsyncInvalidator;

struct DirectServerOptions {
  std::string mount_dev;          // "MAJ:MIN" of the mount (mountinfo)
  config::DirectAccess policy;    // not kOff
  uid_t owner = 0;                // the daemon's user
  AsyncInvalidator* invalidator = nullptr;  // may be null (tests)
  int revoke_timeout_ms = 1000;   // how long a revocation waits for its answers
  // The kernel may keep written pages of this mount dirty (-o writeback_cache): a client's
  // fsync then always needs the kernel's fsync too.
  bool kernel_caches_writes = false;
};

class DirectServer final : public core::LeaseHolders {
 public:
  // Turns leases on in `fs` (which must outlive the server) and starts serving.
  static Result<std::unique_ptr<DirectServer>> Start(core::Filesystem* fs,
                                                     const DirectServerOptions& opts);
  ~DirectServer() override;
  DirectServer(const DirectServer&) = delete;
  DirectServer& operator=(const DirectServer&) = delete;

  // The abstract socket name, without its leading NUL.
  const std::string& name() const { return name_; }

  // core::LeaseHolders
  void Revoke(std::span<const core::Revocation> revocations, std::vector<bool>* answered) override;
  uint64_t AnsweredUpTo(core::ClientId client) override;
  std::string Describe(core::ClientId client) override;

 private:
  struct Client;
  DirectServer() = default;
  void AcceptLoop();
  bool Allowed(int fd, std::string* why) const;
  void Serve(std::shared_ptr<Client> c);
  void ReadAnswers(std::shared_ptr<Client> c);
  void HandleHello(const std::shared_ptr<Client>& c, const void* buf, size_t len,
                   std::vector<int>& fds);
  void HandleGrant(Client& c, const void* buf, size_t len, std::vector<int>& fds);
  void HandleRelease(Client& c, const void* buf, size_t len, bool fsync);
  void ThreadDone() EXCLUDES(mu_);

  core::Filesystem* fs_ = nullptr;
  DirectServerOptions opts_;
  std::string name_;
  unsigned dev_major_ = 0, dev_minor_ = 0;
  int listen_fd_ = -1;
  int stop_fd_[2] = {-1, -1};
  std::thread accept_;
  std::vector<int> part_fds_;           // what clients get (our copies, closed at the end)
  std::vector<uint32_t> part_flags_;

  Mutex mu_;  // taken before a Client's mu
  std::condition_variable threads_cv_;  // threads_ went down
  std::map<core::ClientId, std::shared_ptr<Client>> clients_ GUARDED_BY(mu_);
  int threads_ GUARDED_BY(mu_) = 0;  // client threads running
  bool stopping_ GUARDED_BY(mu_) = false;
};

}  // namespace pmemfs::fuse
