// Sending and receiving one packet of the direct-access protocol (direct_protocol.h) with the
// descriptors it carries (SCM_RIGHTS), on a SOCK_SEQPACKET socket. Shared by the daemon
// (fs/fuse/direct_server.cc) and the client library (client/). Header-only, no dependencies.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <vector>

namespace pmemfs::direct {

inline constexpr size_t kMaxPacketFds = 72;  // parts + the slot table, with room

// Sends `len` bytes of `buf` and `fds` (not closed) as one packet. Returns 0 or an errno.
// `flags`: MSG_DONTWAIT for a sender that must not block.
inline int SendPacket(int sock, const void* buf, size_t len, const std::vector<int>& fds = {},
                      int flags = 0) {
  iovec iov{const_cast<void*>(buf), len};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.resize(CMSG_SPACE(sizeof(int) * fds.size()));
    m.msg_control = control.data();
    m.msg_controllen = control.size();
    cmsghdr* c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  while (true) {
    ssize_t n = sendmsg(sock, &m, flags | MSG_NOSIGNAL);
    if (n >= 0) return static_cast<size_t>(n) == len ? 0 : EMSGSIZE;
    if (errno != EINTR) return errno;
  }
}

// Receives one packet into `buf` (at most `cap` bytes) and the descriptors it carries (made
// close-on-exec; the caller owns them). Returns the packet's length, 0 when the peer closed the
// connection, or -errno (a packet larger than `cap` is -EMSGSIZE, its descriptors closed).
inline ssize_t RecvPacket(int sock, void* buf, size_t cap, std::vector<int>* fds = nullptr) {
  iovec iov{buf, cap};
  msghdr m{};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPacketFds)];
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  std::vector<int> got;
  for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < k; i++) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      got.push_back(fd);
    }
  }
  if ((m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || fds == nullptr) {
    for (int fd : got) close(fd);
    got.clear();
    if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return -EMSGSIZE;
  }
  if (fds != nullptr) *fds = std::move(got);
  return n;
}

}  // namespace pmemfs::direct
