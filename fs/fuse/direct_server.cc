#include "fs/fuse/direct_server.h"

#include <fcntl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "fs/fuse/errno.h"
#include "fs/fuse/invalidator.h"
#include "pmemfs/direct_protocol.h"
#include "pmemfs/direct_socket.h"

namespace pmemfs::fuse {

using direct::Header;
using direct::Op;

struct DirectServer::Client {
  core::ClientId id = 0;
  int fd = -1;     // requests
  int cb_fd = -1;  // revocations out, answers in
  ucred cred{};
  bool hello = false;
  Mutex cb_mu;  // serialises writes to cb_fd
  Mutex mu;
  std::condition_variable cv;  // answered or gone changed
  uint64_t answered GUARDED_BY(mu) = 0;
  bool gone GUARDED_BY(mu) = false;
  ~Client() {
    if (fd >= 0) close(fd);
    if (cb_fd >= 0) close(cb_fd);
  }
};

namespace {

constexpr size_t kMaxRequest = 4096;

std::string Errno(const std::string& what) { return what + ": " + strerror(errno); }

// The supplementary groups of the peer (SO_PEERGROUPS, Linux 4.13).
std::vector<gid_t> PeerGroups(int fd) {
  std::vector<gid_t> g(64);
  for (int tries = 0; tries < 4; tries++) {
    socklen_t len = static_cast<socklen_t>(g.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g.data(), &len) == 0) {
      g.resize(len / sizeof(gid_t));
      return g;
    }
    if (errno != ERANGE) break;
    g.resize(len / sizeof(gid_t) + 1);
  }
  return {};
}

template <typename T>
bool Parse(const void* buf, size_t len, T* out) {
  if (len < sizeof(T)) return false;
  std::memcpy(out, buf, sizeof(T));
  return true;
}

}  // namespace

Result<std::unique_ptr<DirectServer>> DirectServer::Start(core::Filesystem* fs,
                                                          const DirectServerOptions& opts) {
  std::unique_ptr<DirectServer> s(new DirectServer());
  s->fs_ = fs;
  s->opts_ = opts;
  if (std::sscanf(opts.mount_dev.c_str(), "%u:%u", &s->dev_major_, &s->dev_minor_) != 2)
    return Status::InvalidArgument("direct access: the mount's device number is unknown");
  s->name_ = direct::SocketName(s->dev_major_, s->dev_minor_);

  // The parts, opened again: a descriptor of our own open file would let a client drop our
  // lock (flock on any descriptor of it).
  const mapping::Device& dev = fs->device();
  const bool ro = fs->read_only() || dev.read_only();
  for (size_t i = 0; i < dev.part_count(); i++) {
    const mapping::Part& p = dev.part(i);
    if (p.fd() < 0) return Status::Unsupported("direct access: the device has no file parts");
    const std::string proc = "/proc/self/fd/" + std::to_string(p.fd());
    int fd = open(proc.c_str(), (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
      for (int f : s->part_fds_) close(f);
      s->part_fds_.clear();
      return Status::IoError(Errno("direct access: " + p.name()));
    }
    s->part_fds_.push_back(fd);
    s->part_flags_.push_back(p.granularity() != mapping::Granularity::kPage
                                 ? uint32_t{direct::kPartCacheLine}
                                 : 0u);
  }
  if (s->part_fds_.size() > direct::kMaxParts)
    return Status::Unsupported("direct access: too many parts");

  s->listen_fd_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (s->listen_fd_ < 0) return Status::IoError(Errno("direct access socket"));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, s->name_.data(), s->name_.size());
  const socklen_t alen =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + s->name_.size());
  if (bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), alen) != 0)
    return Status::IoError(Errno("direct access socket @" + s->name_));
  if (listen(s->listen_fd_, 64) != 0) return Status::IoError(Errno("direct access listen"));
  if (pipe2(s->stop_fd_, O_CLOEXEC) != 0) return Status::IoError(Errno("pipe"));
  PMEMFS_RETURN_IF_ERROR(fs->EnableLeases(s.get()));
  s->accept_ = std::thread([p = s.get()] { p->AcceptLoop(); });
  return s;
}

DirectServer::~DirectServer() {
  if (accept_.joinable()) {
    // Every lease is called back first (a client that does not answer keeps its blocks
    // pinned until we are gone), and what clients reported goes down.
    fs_->RevokeAllLeases();
    char c = 0;
    (void)!write(stop_fd_[1], &c, 1);
    accept_.join();
  }
  MutexLock l(mu_);
  stopping_ = true;
  for (auto& [id, c] : clients_) {
    shutdown(c->fd, SHUT_RDWR);
    if (c->cb_fd >= 0) shutdown(c->cb_fd, SHUT_RDWR);
  }
  while (threads_ != 0) l.Wait(threads_cv_);
  clients_.clear();
  l.Unlock();
  if (listen_fd_ >= 0) close(listen_fd_);
  for (int fd : stop_fd_)
    if (fd >= 0) close(fd);
  for (int fd : part_fds_) close(fd);
  (void)fs_->EnableLeases(nullptr);  // nobody to call back any more
}

bool DirectServer::Allowed(int fd, std::string* why) const {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    *why = "cannot tell who is asking";
    return false;
  }
  if (cred.uid == 0 || cred.uid == opts_.owner) return true;
  switch (opts_.policy.kind) {
    case config::DirectAccess::kAll: return true;
    case config::DirectAccess::kGroup: {
      if (cred.gid == opts_.policy.gid) return true;
      for (gid_t g : PeerGroups(fd))
        if (g == opts_.policy.gid) return true;
      *why = "direct access on this mount is for group " + opts_.policy.group;
      return false;
    }
    default:
      *why = "direct access on this mount is for its owner only";
      return false;
  }
}

void DirectServer::AcceptLoop() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_[0], POLLIN, 0}};
    int r = poll(fds, 2, -1);
    if (r < 0 && errno != EINTR) {
      spdlog::error("{}", Errno("direct access poll"));
      return;
    }
    if (r <= 0) continue;
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    auto c = std::make_shared<Client>();
    c->fd = fd;
    socklen_t len = sizeof c->cred;
    (void)getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len);
    MutexLock l(mu_);
    if (stopping_) continue;
    threads_++;
    std::thread([this, c] { Serve(c); }).detach();
  }
}

void DirectServer::ThreadDone() {
  MutexLock l(mu_);
  threads_--;
  threads_cv_.notify_all();
}

void DirectServer::Serve(std::shared_ptr<Client> c) {
  alignas(8) char buf[kMaxRequest];
  while (true) {
    std::vector<int> fds;
    ssize_t n = direct::RecvPacket(c->fd, buf, sizeof buf, &fds);
    if (n <= 0) break;  // closed: the client is gone (or exec'd, or gave up)
    Header h;
    if (!Parse(buf, static_cast<size_t>(n), &h)) {
      for (int fd : fds) close(fd);
      break;
    }
    if (!c->hello && static_cast<Op>(h.op) != Op::kHello) {
      for (int fd : fds) close(fd);
      break;
    }
    core::QuiesceGate::Pass pass(fs_->gate());  // a mode switch waits for us, we for it
    switch (static_cast<Op>(h.op)) {
      case Op::kHello: HandleHello(c, buf, static_cast<size_t>(n), fds); break;
      case Op::kGrant: HandleGrant(*c, buf, static_cast<size_t>(n), fds); break;
      case Op::kRelease: HandleRelease(*c, buf, static_cast<size_t>(n), false); break;
      case Op::kFsync: HandleRelease(*c, buf, static_cast<size_t>(n), true); break;
      default: {
        Header reply{h.op, EINVAL, h.seq};
        (void)direct::SendPacket(c->fd, &reply, sizeof reply);
      }
    }
    for (int fd : fds) close(fd);
    if (!c->hello) break;  // refused
  }
  {
    MutexLock l(c->mu);
    c->gone = true;
  }
  c->cv.notify_all();
  if (c->id != 0) {
    if (c->cb_fd >= 0) shutdown(c->cb_fd, SHUT_RDWR);  // ends ReadAnswers
    {
      core::QuiesceGate::Pass pass(fs_->gate());
      fs_->DropLeaseClient(c->id);
    }
    spdlog::debug("direct access: client {} (pid {}) gone", c->id, c->cred.pid);
    MutexLock l(mu_);
    clients_.erase(c->id);
  }
  ThreadDone();
}

void DirectServer::ReadAnswers(std::shared_ptr<Client> c) {
  while (true) {
    direct::AckMessage a;
    ssize_t n = direct::RecvPacket(c->cb_fd, &a, sizeof a);
    if (n <= 0) break;
    if (static_cast<size_t>(n) < sizeof a || static_cast<Op>(a.h.op) != Op::kAck) continue;
    {
      MutexLock l(c->mu);
      c->answered = std::max(c->answered, a.rev);
    }
    c->cv.notify_all();
    fs_->LeaseAnswered(c->id, a.rev);  // a late answer: what stayed pinned for it goes
  }
  {
    MutexLock l(c->mu);
    c->gone = true;
  }
  c->cv.notify_all();
  ThreadDone();
}

void DirectServer::HandleHello(const std::shared_ptr<Client>& cp, const void* buf, size_t len,
                               std::vector<int>& fds) {
  Client& c = *cp;
  direct::HelloRequest req;
  direct::HelloReply reply{};
  reply.h.op = static_cast<uint32_t>(Op::kHello);
  reply.version = direct::kProtocolVersion;
  auto refuse = [&](int err, const std::string& why) {
    reply.h.status = static_cast<uint32_t>(err);
    std::snprintf(reply.message, sizeof reply.message, "%s", why.c_str());
    (void)direct::SendPacket(c.fd, &reply, sizeof reply);
  };
  if (c.hello || !Parse(buf, len, &req) || fds.size() != 1)
    return refuse(EPROTO, "a hello carries the callback socket");
  reply.h.seq = req.h.seq;
  if (req.version != direct::kProtocolVersion)
    return refuse(EPROTO, "protocol version " + std::to_string(req.version) + " (this daemon: " +
                              std::to_string(direct::kProtocolVersion) + ")");
  std::string why;
  if (!Allowed(c.fd, &why)) {
    spdlog::debug("direct access refused to uid {} (pid {}): {}", c.cred.uid, c.cred.pid, why);
    return refuse(EACCES, why);
  }
  c.cb_fd = fds[0];
  fds.clear();
  c.id = fs_->NewLeaseClient();
  c.hello = true;
  reply.mode = fs_->options().mode == mapping::Mode::kPages ? 2 : 1;
  reply.flags = fs_->read_only() || fs_->device().read_only() ? uint32_t{direct::kHelloReadOnly}
                                                              : 0u;
  if (opts_.kernel_caches_writes) reply.flags |= direct::kHelloKernelCachesWrites;
  reply.part_count = static_cast<uint32_t>(part_fds_.size());
  reply.slot_count = fs_->lease_slot_count();
  for (size_t i = 0; i < part_flags_.size(); i++) reply.part_flags[i] = part_flags_[i];
  std::vector<int> out = part_fds_;
  out.push_back(fs_->lease_slots_fd());
  if (direct::SendPacket(c.fd, &reply, sizeof reply, out) != 0) {
    c.hello = false;
    return;
  }
  {
    MutexLock l(mu_);
    clients_[c.id] = cp;
    threads_++;
  }
  std::thread([this, cp] { ReadAnswers(cp); }).detach();
  spdlog::debug("direct access: client {} is pid {} uid {}", c.id, c.cred.pid, c.cred.uid);
}

void DirectServer::HandleGrant(Client& c, const void* buf, size_t len, std::vector<int>& fds) {
  direct::GrantRequest req;
  std::vector<char> out(sizeof(direct::GrantReply));
  auto* reply = reinterpret_cast<direct::GrantReply*>(out.data());
  reply->h.op = static_cast<uint32_t>(Op::kGrant);
  auto fail = [&](int err) {
    reply->h.status = static_cast<uint32_t>(err);
    (void)direct::SendPacket(c.fd, out.data(), sizeof(direct::GrantReply));
  };
  if (!Parse(buf, len, &req) || fds.size() != 1) return fail(EPROTO);
  reply->h.seq = req.h.seq;
  // The kernel's permission check: the descriptor is open on this very inode of this mount,
  // with an access mode that allows the lease (and not O_PATH).
  struct statx stx{};
  if (statx(fds[0], "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_INO | STATX_TYPE, &stx) != 0)
    return fail(EBADF);
  if (stx.stx_dev_major != dev_major_ || stx.stx_dev_minor != dev_minor_ || stx.stx_ino != req.ino)
    return fail(EXDEV);
  const int fl = fcntl(fds[0], F_GETFL);
  if (fl < 0 || (fl & O_PATH)) return fail(EBADF);
  const bool write = req.flags & direct::kGrantWrite;
  const int acc = fl & O_ACCMODE;
  if (write ? acc == O_RDONLY : acc == O_WRONLY) return fail(EBADF);
  Result<core::LeaseGrant> g = fs_->GrantLease(
      c.id, {.ino = req.ino, .off = req.off, .len = req.len, .write = write, .uid = c.cred.uid});
  if (!g.ok()) {
    spdlog::debug("direct access: grant of inode {} to client {}: {}", req.ino, c.id,
                  g.status().message());
    return fail(ToErrno(g.status()));
  }
  // From now on stat must come to us: what the kernel cached of the attributes goes first.
  if (g->first_write && opts_.invalidator != nullptr)
    opts_.invalidator->InvalidateInodeNow(req.ino, -1, 0);
  // Holes filled for the write: the kernel's cached pages of them (zeros; mapped, in the kernel's
  // parts of clients' mappings among others) go before the writer can write there, so that a
  // load or read after its write returned faults them in again from the device. A page dirty
  // there (a store through such a mapping) is written to us first, into the new block, before
  // the writer's bytes.
  if (g->filled_hi > g->filled_lo && opts_.invalidator != nullptr)
    opts_.invalidator->InvalidateInodeNow(req.ino, static_cast<int64_t>(g->filled_lo),
                                          static_cast<int64_t>(g->filled_hi - g->filled_lo));
  out.resize(sizeof(direct::GrantReply) + g->extents.size() * sizeof(direct::Extent));
  reply = reinterpret_cast<direct::GrantReply*>(out.data());
  reply->rev = g->rev;
  reply->lo = g->lo;
  reply->hi = g->hi;
  reply->size = g->size;
  reply->slot = g->slot;
  reply->flags = g->write ? uint32_t{direct::kGrantWrite} : 0u;
  reply->extent_count = static_cast<uint32_t>(g->extents.size());
  auto* ext = reinterpret_cast<direct::Extent*>(out.data() + sizeof(direct::GrantReply));
  for (size_t i = 0; i < g->extents.size(); i++) {
    const core::LeaseExtent& e = g->extents[i];
    ext[i] = {e.file_block, e.dev_block, e.count, e.shared ? direct::kExtentShared : 0u, 0};
  }
  (void)direct::SendPacket(c.fd, out.data(), out.size());
}

void DirectServer::HandleRelease(Client& c, const void* buf, size_t len, bool fsync) {
  direct::ReleaseRequest req;
  direct::FsyncReply out{{static_cast<uint32_t>(fsync ? Op::kFsync : Op::kRelease), 0, 0}, 0, 0};
  Header& reply = out.h;
  if (!Parse(buf, len, &req)) {
    reply.status = EPROTO;
  } else {
    reply.seq = req.h.seq;
    uint64_t opens = UINT64_MAX;
    Status st = fsync ? fs_->FsyncLeases(c.id, req.ino, &opens)
                      : fs_->ReleaseLeases(c.id, req.ino);
    // The kernel's fsync would do nothing more: no page of the file can be dirty in its cache
    // (it writes through to us here, except through shared mappings, which need an open of
    // their own, and every open is the client's) and FsyncLeases committed what Fsync would.
    if (fsync && st.ok() && !opts_.kernel_caches_writes && req.opens != 0 && opens == req.opens)
      out.flags |= direct::kFsyncCovered;
    if (!st.ok()) {
      spdlog::debug("direct access: {} of inode {}: {}", fsync ? "fsync" : "release", req.ino,
                    st.message());
      reply.status = static_cast<uint32_t>(ToErrno(st));
    }
    // Close-to-open for readers through the kernel: its cached pages of the file may be older
    // than what the client wrote in the device.
    if ((req.flags & direct::kWrote) && opts_.invalidator != nullptr)
      opts_.invalidator->InvalidateInodeNow(req.ino, 0, 0);
  }
  (void)direct::SendPacket(c.fd, &out, fsync ? sizeof out : sizeof reply);
}

void DirectServer::Revoke(std::span<const core::Revocation> revocations,
                          std::vector<bool>* answered) {
  answered->assign(revocations.size(), true);
  std::vector<std::shared_ptr<Client>> who(revocations.size());
  {
    MutexLock l(mu_);
    for (size_t i = 0; i < revocations.size(); i++) {
      auto it = clients_.find(revocations[i].client);
      if (it != clients_.end()) who[i] = it->second;
    }
  }
  // All of them first, then the answers, against one deadline.
  for (size_t i = 0; i < revocations.size(); i++) {
    if (!who[i]) continue;  // gone: nothing to wait for
    const core::Revocation& r = revocations[i];
    direct::RevokeMessage m{{static_cast<uint32_t>(Op::kRevoke), 0, r.rev}, r.ino, r.lo, r.hi,
                            r.rev};
    MutexLock l(who[i]->cb_mu);
    // Never blocks: a client so far behind that its socket is full is not answering.
    int err = direct::SendPacket(who[i]->cb_fd, &m, sizeof m, {}, MSG_DONTWAIT);
    if (err == EPIPE || err == ECONNRESET || err == ENOTCONN) who[i].reset();
    else if (err != 0) (*answered)[i] = false;
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(opts_.revoke_timeout_ms);
  for (size_t i = 0; i < revocations.size(); i++) {
    if (!who[i] || !(*answered)[i]) continue;
    Client& c = *who[i];
    MutexLock l(c.mu);
    bool ok = c.gone || c.answered >= revocations[i].rev;
    while (!ok && l.WaitUntil(c.cv, deadline) == std::cv_status::no_timeout)
      ok = c.gone || c.answered >= revocations[i].rev;
    ok = ok || c.gone || c.answered >= revocations[i].rev;  // answered as the wait timed out
    if (!ok) {
      (*answered)[i] = false;
      spdlog::warn("direct access: pid {} did not answer a revocation of inode {} within {} ms; "
                   "its blocks stay pinned until it does or exits",
                   c.cred.pid, revocations[i].ino, opts_.revoke_timeout_ms);
    }
  }
}

std::string DirectServer::Describe(core::ClientId client) {
  pid_t pid = 0;
  {
    MutexLock l(mu_);
    auto it = clients_.find(client);
    if (it == clients_.end()) return "client " + std::to_string(client) + " (gone)";
    pid = it->second->cred.pid;
  }
  std::string comm;
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::getline(in, comm);
  return "pid " + std::to_string(pid) + (comm.empty() ? "" : " (" + comm + ")");
}

uint64_t DirectServer::AnsweredUpTo(core::ClientId client) {
  std::shared_ptr<Client> c;
  {
    MutexLock l(mu_);
    auto it = clients_.find(client);
    if (it == clients_.end()) return UINT64_MAX;  // gone: nothing pinned for it stays
    c = it->second;
  }
  MutexLock l(c->mu);
  return c->gone ? UINT64_MAX : c->answered;
}

}  // namespace pmemfs::fuse
