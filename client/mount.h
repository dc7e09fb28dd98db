// client/: libpmemfs-client, the application's end of direct access (include/pmemfs/client.h
// is its API, include/pmemfs/direct_protocol.h the protocol, fs/fuse/direct_server.h the
// daemon's end). It sits beside fs/, above mapping/ and include/, and never includes fs/.
//
//   Mount   one connection to one daemon (per mount, per process): the device assembled with
//           mapping/ from the part descriptors the daemon sent, the shared slot table, the
//           request socket and a thread answering revocations on the callback socket.
//   File    one inode of a mount in this process: its leases and their extents (file.h).
//   api.cc  the descriptor table and the C API; pmemfs-direct's interposers call the API.
//
// Mount::Connect(dev) -> Grant/Release/Fsync requests (one at a time) -> revocations arrive on
// the callback thread, which takes the File's lock exclusively (waiting for accesses in flight),
// drops the leases and answers; a File whose mappings lost device blocks to it goes to the
// refill thread, which asks for them again (File::Refill: a grant waits for the inode, which the
// daemon may hold while it calls us back again, so not on the callback thread). When the daemon
// dies (the callback socket closes), every lease of every File goes the same way and no request
// is made again: the kernel serves the rest. A Mount lives until the process exits (or forks:
// the child starts over and uses the kernel for what it inherited).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mapping/device.h"
#include "pmemfs/direct_protocol.h"
#include "pmemfs/status.h"

namespace pmemfs::client {

class File;

// What a grant says (direct::GrantReply and its extents).
struct Grant {
  uint64_t rev = 0;
  uint64_t lo = 0;
  uint64_t hi = 0;
  uint64_t size = 0;
  uint32_t slot = 0;
  bool write = false;
  std::vector<direct::Extent> extents;
};

class Mount {
 public:
  // Connects to the daemon serving the mount with device number `dev` (whose owner, from
  // mountinfo, must be the one listening). NotFound: no daemon listens (not pmemfs, or direct
  // access off); Permission: the daemon does not allow this process; other errors: a broken
  // exchange. Each is a reason to use the kernel.
  static Result<std::unique_ptr<Mount>> Connect(dev_t dev);
  ~Mount();
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  mapping::Device& device() { return *device_; }
  dev_t dev() const { return dev_; }
  bool read_only() const { return read_only_; }
  bool pages() const { return pages_; }
  // The kernel caches writes on this mount (kHelloKernelCachesWrites): every fsync asks.
  bool kernel_caches_writes() const { return kernel_caches_writes_; }
  direct::Slot* slot(uint32_t i) { return i != 0 && i < slot_count_ ? &slots_[i] : nullptr; }

  // The File of inode `ino` in this process (made on first use).
  std::shared_ptr<File> GetFile(uint64_t ino);

  // Requests (one at a time). `fd` is a descriptor of the file open on this mount: it proves
  // to the daemon what the kernel allowed. Errors are errnos.
  int RequestGrant(int fd, uint64_t ino, uint64_t off, uint64_t len, bool write, Grant* out);
  int RequestRelease(uint64_t ino, bool wrote);
  // *flags: the reply's FsyncReplyFlags. `opens` as FsyncRequest says.
  int RequestFsync(uint64_t ino, bool wrote, bool datasync, uint32_t opens, uint32_t* flags);

  // After fork, in the child: this connection is the parent's. Closes the child's copies of
  // its sockets without a word to the daemon; nothing else of it may be used again.
  void Abandon();

  // Revocations the daemon sent this process (every mount) and it answered, since the last
  // call (PMEMFS_DIRECT_STATS).
  static uint64_t TakeRevocations();

 private:
  Mount() = default;
  int Call(const void* req, size_t len, const std::vector<int>& fds, std::vector<char>* reply);
  void AnswerRevocations();
  // Queues File::Refill of `f` for the refill thread (started on first use, from the callback
  // thread, whose mask blocks every signal: it inherits that).
  void QueueRefill(const std::shared_ptr<File>& f);
  void Refills();
  // The callback socket closed while we still use the mount: the daemon is gone.
  void Lost();

  dev_t dev_ = 0;
  int sock_ = -1;     // requests
  int cb_sock_ = -1;  // revocations in, answers out
  int slot_fd_ = -1;
  std::unique_ptr<mapping::Device> device_;
  direct::Slot* slots_ = nullptr;
  uint32_t slot_count_ = 0;
  bool read_only_ = false;
  bool pages_ = false;
  bool kernel_caches_writes_ = false;
  std::thread answers_;
  std::atomic<bool> abandoned_{false};
  std::atomic<bool> closing_{false};  // the destructor runs
  std::atomic<bool> lost_{false};     // the daemon died: no requests, no leases any more

  std::mutex call_mu_;  // one request at a time; guards seq_ and recv_buf_
  uint64_t seq_ = 0;
  std::vector<char> recv_buf_;  // replies land here first (Call)

  std::mutex refill_mu_;  // guards refill_, refill_stop_ and the start of refiller_
  std::condition_variable refill_cv_;
  std::vector<std::weak_ptr<File>> refill_;  // each File once
  bool refill_stop_ = false;
  std::thread refiller_;

  std::mutex files_mu_;  // guards files_
  std::unordered_map<uint64_t, std::weak_ptr<File>> files_;
};

}  // namespace pmemfs::client
