#include "client/mount.h"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "client/file.h"
#include "client/sys.h"
#include "mapping/device_set.h"
#include "mapping/part.h"
#include "pmemfs/direct_socket.h"

namespace pmemfs::client {
namespace {

using direct::Header;
using direct::Op;

constexpr size_t kMaxReply =
    sizeof(direct::GrantReply) + direct::kMaxExtents * sizeof(direct::Extent);

// The owner of the FUSE mount with device number `dev` (its user_id= option), or -1 when it is
// not mounted here.
long MountOwner(dev_t dev) {
  std::ifstream in("/proc/self/mountinfo");
  const std::string want = std::to_string(major(dev)) + ":" + std::to_string(minor(dev));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, number;
    if (!(f >> id >> parent >> number) || number != want) continue;
    const size_t at = line.find(" user_id=");
    if (at == std::string::npos) continue;
    return std::strtol(line.c_str() + at + 9, nullptr, 10);
  }
  return -1;
}

void CloseAll(const std::vector<int>& fds) {
  for (int fd : fds) sys::close(fd);
}

std::atomic<uint64_t> g_revocations{0};  // Mount::TakeRevocations

}  // namespace

uint64_t Mount::TakeRevocations() { return g_revocations.exchange(0); }

Result<std::unique_ptr<Mount>> Mount::Connect(dev_t dev) {
  std::unique_ptr<Mount> m(new Mount());
  m->dev_ = dev;
  m->sock_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (m->sock_ < 0) return Status::IoError(std::string("socket: ") + strerror(errno));
  const std::string name = direct::SocketName(major(dev), minor(dev));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  const socklen_t alen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  if (connect(m->sock_, reinterpret_cast<sockaddr*>(&addr), alen) != 0)
    return Status::NotFound("no direct-access daemon at @" + name + ": " + strerror(errno));
  // Only the daemon may answer: whoever listens must be root or the mount's owner (anyone else
  // could have taken the name, and would get our descriptors).
  ucred cred{};
  socklen_t clen = sizeof cred;
  if (getsockopt(m->sock_, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0)
    return Status::IoError("cannot tell who listens at @" + name);
  const long owner = MountOwner(dev);
  if (cred.uid != 0 && static_cast<long>(cred.uid) != owner)
    return Status::Permission("@" + name + " is served by uid " + std::to_string(cred.uid) +
                              ", not by the mount's owner");

  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return Status::IoError(std::string("socketpair: ") + strerror(errno));
  m->cb_sock_ = pair[0];
  direct::HelloRequest hello{{static_cast<uint32_t>(Op::kHello), 0, 0}, direct::kProtocolVersion,
                             0};
  int err = direct::SendPacket(m->sock_, &hello, sizeof hello, {pair[1]});
  sys::close(pair[1]);
  if (err != 0) return Status::IoError(std::string("hello: ") + strerror(err));
  direct::HelloReply reply{};
  std::vector<int> fds;
  ssize_t n = direct::RecvPacket(m->sock_, &reply, sizeof reply, &fds);
  if (n < static_cast<ssize_t>(sizeof reply)) {
    CloseAll(fds);
    return Status::IoError("no answer to hello");
  }
  if (reply.h.status != 0) {
    CloseAll(fds);
    reply.message[sizeof reply.message - 1] = '\0';
    const std::string why = reply.message;
    if (reply.h.status == EACCES || reply.h.status == EPERM) return Status::Permission(why);
    return Status::Unsupported(why);
  }
  if (reply.part_count == 0 || reply.part_count > direct::kMaxParts ||
      fds.size() != reply.part_count + 1) {
    CloseAll(fds);
    return Status::IoError("hello: the daemon sent " + std::to_string(fds.size()) +
                           " descriptors for " + std::to_string(reply.part_count) + " parts");
  }
  m->read_only_ = reply.flags & direct::kHelloReadOnly;
  m->kernel_caches_writes_ = reply.flags & direct::kHelloKernelCachesWrites;
  m->pages_ = reply.mode == 2;
  m->slot_fd_ = fds.back();
  fds.pop_back();
  std::vector<std::shared_ptr<mapping::Part>> parts;
  for (size_t i = 0; i < fds.size(); i++) {
    Result<std::unique_ptr<mapping::Part>> p = mapping::OpenFilePartFd(
        fds[i], "pmemfs part " + std::to_string(i),
        {.force_cache_line = (reply.part_flags[i] & direct::kPartCacheLine) != 0,
         .read_only = m->read_only_,
         .guard_shrink = false});
    if (!p.ok()) {
      for (size_t j = i + 1; j < fds.size(); j++) sys::close(fds[j]);
      return p.status();
    }
    parts.push_back(std::move(p).value());
  }
  PMEMFS_ASSIGN_OR_RETURN(m->device_,
                          mapping::AssembleDevice(std::move(parts), {.guard_shrink = false}));
  m->slot_count_ = reply.slot_count;
  void* p = mmap(nullptr, size_t{m->slot_count_} * sizeof(direct::Slot), PROT_READ | PROT_WRITE,
                 MAP_SHARED, m->slot_fd_, 0);
  if (p == MAP_FAILED) return Status::IoError(std::string("slot table: ") + strerror(errno));
  m->slots_ = static_cast<direct::Slot*>(p);
  // The callback thread takes no signal: a handler run there could call into the library while
  // Revoke holds a File's lock exclusively, and wait on it for ever (the thread is not inside
  // a library call, so the call would not take the kernel's path: nesting.h). It inherits the
  // mask in force when it is made.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  m->answers_ = std::thread([mp = m.get()] { mp->AnswerRevocations(); });
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return m;
}

Mount::~Mount() {
  closing_ = true;
  {
    std::lock_guard l(refill_mu_);
    refill_stop_ = true;
  }
  refill_cv_.notify_all();
  if (!abandoned_) {
    if (sock_ >= 0) shutdown(sock_, SHUT_RDWR);
    if (cb_sock_ >= 0) shutdown(cb_sock_, SHUT_RDWR);
    if (answers_.joinable()) answers_.join();
    if (refiller_.joinable()) refiller_.join();
  } else {
    // (No such threads in a forked child.)
    if (answers_.joinable()) answers_.detach();
    if (refiller_.joinable()) refiller_.detach();
  }
  if (slots_) munmap(slots_, size_t{slot_count_} * sizeof(direct::Slot));
  for (int fd : {sock_, cb_sock_, slot_fd_})
    if (fd >= 0) sys::close(fd);
}

void Mount::Abandon() {
  abandoned_ = true;
  for (int* fd : {&sock_, &cb_sock_}) {
    if (*fd >= 0) sys::close(*fd);
    *fd = -1;
  }
}

std::shared_ptr<File> Mount::GetFile(uint64_t ino) {
  std::lock_guard l(files_mu_);
  std::weak_ptr<File>& w = files_[ino];
  std::shared_ptr<File> f = w.lock();
  if (!f) {
    f = std::make_shared<File>(this, ino);
    w = f;
  }
  return f;
}

int Mount::Call(const void* req, size_t len, const std::vector<int>& fds,
                std::vector<char>* reply) {
  if (abandoned_ || lost_) return EPIPE;
  std::lock_guard l(call_mu_);
  Header h;
  std::memcpy(&h, req, sizeof h);
  h.seq = ++seq_;
  std::vector<char> buf(static_cast<const char*>(req), static_cast<const char*>(req) + len);
  std::memcpy(buf.data(), &h, sizeof h);
  if (int e = direct::SendPacket(sock_, buf.data(), buf.size(), fds); e != 0) return e;
  // Received into a buffer kept for it (made once: zeroing the largest reply for each request
  // cost more instructions than the rest of a round trip's client side), then copied out.
  if (recv_buf_.empty()) recv_buf_.resize(kMaxReply);
  ssize_t n = direct::RecvPacket(sock_, recv_buf_.data(), recv_buf_.size());
  if (n < static_cast<ssize_t>(sizeof(Header))) return n < 0 ? static_cast<int>(-n) : EPIPE;
  reply->assign(recv_buf_.data(), recv_buf_.data() + n);
  Header r;
  std::memcpy(&r, reply->data(), sizeof r);
  if (r.seq != h.seq) return EPROTO;
  return static_cast<int>(r.status);
}

int Mount::RequestGrant(int fd, uint64_t ino, uint64_t off, uint64_t len, bool write,
                        Grant* out) {
  direct::GrantRequest req{{static_cast<uint32_t>(Op::kGrant), 0, 0}, ino, off, len,
                           write ? uint32_t{direct::kGrantWrite} : 0u, 0};
  std::vector<char> reply;
  if (int e = Call(&req, sizeof req, {fd}, &reply); e != 0) return e;
  if (reply.size() < sizeof(direct::GrantReply)) return EPROTO;
  direct::GrantReply g;
  std::memcpy(&g, reply.data(), sizeof g);
  if (reply.size() != sizeof g + size_t{g.extent_count} * sizeof(direct::Extent)) return EPROTO;
  out->rev = g.rev;
  out->lo = g.lo;
  out->hi = g.hi;
  out->size = g.size;
  out->slot = g.slot;
  out->write = g.flags & direct::kGrantWrite;
  out->extents.resize(g.extent_count);
  if (g.extent_count)
    std::memcpy(out->extents.data(), reply.data() + sizeof g,
                size_t{g.extent_count} * sizeof(direct::Extent));
  // Every extent must lie in the device and in the lease.
  for (const direct::Extent& e : out->extents)
    if (e.dev_block == 0 || e.count == 0 ||
        (e.dev_block + e.count) * direct::kBlockSize > device_->size() ||
        e.file_block * direct::kBlockSize < out->lo ||
        (e.file_block + e.count) * direct::kBlockSize > out->hi)
      return EPROTO;
  return slot(out->slot) != nullptr ? 0 : EPROTO;
}

int Mount::RequestRelease(uint64_t ino, bool wrote) {
  direct::ReleaseRequest req{{static_cast<uint32_t>(Op::kRelease), 0, 0}, ino,
                             wrote ? uint32_t{direct::kWrote} : 0u, 0};
  std::vector<char> reply;
  return Call(&req, sizeof req, {}, &reply);
}

int Mount::RequestFsync(uint64_t ino, bool wrote, bool datasync, uint32_t opens,
                        uint32_t* flags) {
  direct::FsyncRequest req{{static_cast<uint32_t>(Op::kFsync), 0, 0}, ino,
                           (wrote ? uint32_t{direct::kWrote} : 0u) |
                               (datasync ? uint32_t{direct::kDatasync} : 0u),
                           opens};
  std::vector<char> reply;
  *flags = 0;
  if (int e = Call(&req, sizeof req, {}, &reply); e != 0) return e;
  direct::FsyncReply r;
  if (reply.size() < sizeof r) return 0;  // (a daemon that does not say: never covered)
  std::memcpy(&r, reply.data(), sizeof r);
  *flags = r.flags;
  return 0;
}

void Mount::AnswerRevocations() {
  while (true) {
    direct::RevokeMessage m;
    ssize_t n = direct::RecvPacket(cb_sock_, &m, sizeof m);
    if (n <= 0) {
      if (!closing_) Lost();
      return;
    }
    if (static_cast<size_t>(n) < sizeof m || static_cast<Op>(m.h.op) != Op::kRevoke) continue;
    std::shared_ptr<File> f;
    {
      std::lock_guard l(files_mu_);
      auto it = files_.find(m.ino);
      if (it != files_.end()) f = it->second.lock();
    }
    const bool refill = f && f->Revoke(m.lo, m.hi, m.rev);
    g_revocations++;  // (before the answer: counted once whoever waits for it goes on)
    direct::AckMessage a{{static_cast<uint32_t>(Op::kAck), 0, m.rev}, m.rev};
    if (direct::SendPacket(cb_sock_, &a, sizeof a) != 0) return;
    if (refill) QueueRefill(f);
  }
}

void Mount::QueueRefill(const std::shared_ptr<File>& f) {
  {
    std::lock_guard l(refill_mu_);
    if (refill_stop_ || abandoned_ || lost_) return;
    for (const std::weak_ptr<File>& w : refill_)
      if (!w.owner_before(f) && !f.owner_before(w)) return;  // queued already
    refill_.push_back(f);
    if (!refiller_.joinable()) refiller_ = std::thread([this] { Refills(); });
  }
  refill_cv_.notify_one();
}

void Mount::Refills() {
  std::unique_lock l(refill_mu_);
  while (true) {
    refill_cv_.wait(l, [&] { return refill_stop_ || !refill_.empty(); });
    if (refill_stop_) return;
    std::weak_ptr<File> w = std::move(refill_.front());
    refill_.erase(refill_.begin());
    l.unlock();
    if (std::shared_ptr<File> f = w.lock(); f && !lost_ && !abandoned_) f->Refill();
    l.lock();
  }
}

void Mount::Lost() {
  // The daemon died (kill -9, a crash): nobody folds sizes from the slots any more, and a daemon
  // mounted next may free and reuse any block we hold. Every lease goes, as if revoked (waiting
  // for the accesses in flight); from now on the kernel serves everything, which fails as the
  // dead mount does.
  lost_ = true;
  std::vector<std::shared_ptr<File>> files;
  {
    std::lock_guard l(files_mu_);
    for (auto& [ino, w] : files_)
      if (std::shared_ptr<File> f = w.lock()) files.push_back(std::move(f));
  }
  for (const std::shared_ptr<File>& f : files) f->Revoke(0, UINT64_MAX, UINT64_MAX);
}

}  // namespace pmemfs::client
