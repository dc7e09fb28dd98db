#include "fs/fuse/control.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "mapping/device_set.h"

namespace pmemfs::fuse {
namespace {

constexpr size_t kMaxLine = 4096;

std::string Errno(const std::string& what) { return what + ": " + strerror(errno); }

Result<sockaddr_un> Address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path)
    return Status::InvalidArgument(path + ": socket path too long");
  std::memcpy(a.sun_path, path.data(), path.size());
  return a;
}

// Reads one line (without its newline) of at most kMaxLine bytes.
Result<std::string> ReadLine(int fd) {
  std::string line;
  char c;
  while (line.size() < kMaxLine) {
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError(Errno("control socket read"));
    if (n == 0 || c == '\n') return line;
    line.push_back(c);
  }
  return Status::IoError("control socket: line too long");
}

// A reply line: read in chunks (a scrub report may be megabytes), at most kMaxReply bytes.
constexpr size_t kMaxReply = size_t{64} << 20;
Result<std::string> ReadReply(int fd) {
  std::string line;
  char buf[65536];
  while (line.size() < kMaxReply) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError(Errno("control socket read"));
    if (n == 0) return line;
    const char* nl = static_cast<const char*>(memchr(buf, '\n', static_cast<size_t>(n)));
    line.append(buf, nl ? static_cast<size_t>(nl - buf) : static_cast<size_t>(n));
    if (nl) return line;
  }
  return Status::IoError("control socket: reply too long");
}

Status WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = send(fd, s.data() + done, s.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError(Errno("control socket write"));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Only root and the daemon's own user may ask it anything.
bool Trusted(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  return cred.uid == 0 || cred.uid == geteuid();
}

// mountinfo escapes space, tab, newline and backslash as \ooo (three octal digits).
std::string Unescape(const std::string& s) {
  auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) && octal(s[i + 3])) {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::string MountPointOf(const std::string& dev) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // id parent major:minor root mountpoint options ...
    std::istringstream f(line);
    std::string id, parent, number, root, point;
    if (f >> id >> parent >> number >> root >> point && number == dev && root == "/")
      return Unescape(point);
  }
  return "";
}

std::string ListedMountPoint(const std::string& target) {
  std::string absolute = target;
  if (!target.empty() && target[0] != '/') {
    char cwd[PATH_MAX];
    if (getcwd(cwd, sizeof cwd) != nullptr) absolute = std::string(cwd) + "/" + target;
  }
  Result<std::string> key = DeviceKey(target);  // (fails for a stale mount point: ENOTCONN)
  std::ifstream in("/proc/mounts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string source, point, type;
    if (!(f >> source >> point >> type) || (type != "fuse.pmemfs" && type != "fuse")) continue;
    source = Unescape(source);
    point = Unescape(point);
    if (point == absolute) return point;
    if (!key.ok()) continue;
    Result<std::string> k = DeviceKey(source);
    if (k.ok() && *k == *key) return point;
  }
  return "";
}

std::string MountedDevice(const std::string& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, found;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, number, root, point;
    if (f >> id >> parent >> number >> root >> point && Unescape(point) == mountpoint)
      found = number;  // the last one: a later mount hides an earlier one at the same place
  }
  return found;
}

Result<std::string> DeviceKey(const std::string& spec) {
  std::vector<std::string> parts = mapping::SplitPartList(spec);
  if (parts.empty()) return Status::InvalidArgument("empty device");
  struct stat st;
  if (stat(parts[0].c_str(), &st) != 0) return Status::NotFound(Errno(parts[0]));
  if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
    return "dev-" + std::to_string(major(st.st_rdev)) + "-" + std::to_string(minor(st.st_rdev));
  return "file-" + std::to_string(major(st.st_dev)) + "-" + std::to_string(minor(st.st_dev)) + "-" +
         std::to_string(st.st_ino);
}

std::string ControlSocketPath(const std::string& key) {
  return std::string(kControlDir) + "/" + key + ".sock";
}

Result<std::unique_ptr<ControlServer>> ControlServer::Start(const std::string& key,
                                                            Handler handler) {
  std::unique_ptr<ControlServer> s(new ControlServer());
  s->path_ = ControlSocketPath(key);
  s->handler_ = std::move(handler);
  PMEMFS_ASSIGN_OR_RETURN(sockaddr_un addr, Address(s->path_));
  if (mkdir(kControlDir, 0700) != 0 && errno != EEXIST)
    return Status::IoError(Errno(std::string("cannot create ") + kControlDir));
  s->listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->listen_fd_ < 0) return Status::IoError(Errno("socket"));
  // We hold the device's lock: a socket of this key is a dead daemon's.
  unlink(s->path_.c_str());
  const mode_t old_umask = umask(077);
  const int bound = bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  umask(old_umask);
  if (bound != 0) return Status::IoError(Errno(s->path_));
  if (listen(s->listen_fd_, 8) != 0) return Status::IoError(Errno(s->path_));
  if (pipe2(s->stop_fd_, O_CLOEXEC) != 0) return Status::IoError(Errno("pipe"));
  s->thread_ = std::thread([p = s.get()] { p->Serve(); });
  return s;
}

ControlServer::~ControlServer() {
  if (thread_.joinable()) {
    char c = 0;
    (void)!write(stop_fd_[1], &c, 1);
    thread_.join();
  }
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(path_.c_str());
  }
  for (int fd : stop_fd_)
    if (fd >= 0) close(fd);
}

void ControlServer::Serve() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("{}", Errno("control socket poll"));
      return;
    }
    if (fds[1].revents) return;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (!Trusted(fd)) {
      (void)WriteAll(fd, "error permission denied\n");
      close(fd);
      continue;
    }
    timeval tv{.tv_sec = 5, .tv_usec = 0};  // a client that never sends does not block us
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    Result<std::string> request = ReadLine(fd);
    if (request.ok()) {
      std::string reply = handler_(*request);
      Status s = WriteAll(fd, reply + "\n");
      if (!s.ok()) spdlog::debug("{}", s.message());
    }
    close(fd);
  }
}

Result<std::string> ControlRequest(const std::string& socket_path, const std::string& request,
                                   int timeout_s) {
  PMEMFS_ASSIGN_OR_RETURN(sockaddr_un addr, Address(socket_path));
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::IoError(Errno("socket"));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const bool absent = errno == ENOENT || errno == ECONNREFUSED;
    std::string why = Errno(socket_path);
    close(fd);
    if (absent) return Status::NotFound(why);
    return Status::IoError(why);
  }
  timeval tv{.tv_sec = timeout_s, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  Status s = WriteAll(fd, request + "\n");
  Result<std::string> reply = s.ok() ? ReadReply(fd) : Result<std::string>(s);
  close(fd);
  return reply;
}

std::string InfoField(const std::string& reply, const std::string& key) {
  const std::string fields = reply.size() > 3 ? reply.substr(3) : "";  // after "ok "
  size_t pos = 0;
  while (pos <= fields.size()) {
    size_t end = fields.find('\t', pos);
    if (end == std::string::npos) end = fields.size();
    const std::string field = fields.substr(pos, end - pos);
    if (field.compare(0, key.size() + 1, key + "=") == 0) return field.substr(key.size() + 1);
    pos = end + 1;
  }
  return "";
}

Result<std::string> FindDaemonByMount(const std::string& mountpoint, const std::string& device) {
  const std::string dev = MountedDevice(mountpoint);
  if (dev.empty()) return Status::NotFound(mountpoint + ": not a mount point");
  if (Result<std::string> key = DeviceKey(device); key.ok()) {
    const std::string path = ControlSocketPath(*key);
    Result<std::string> info = ControlRequest(path, "info");
    if (info.ok() && InfoField(*info, "dev") == dev) return path;
  }
  DIR* d = opendir(kControlDir);
  if (!d) return Status::NotFound(mountpoint + ": not a mounted pmemfs");
  std::string found;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() < 6 || name.compare(name.size() - 5, 5, ".sock") != 0) continue;
    const std::string path = std::string(kControlDir) + "/" + name;
    Result<std::string> info = ControlRequest(path, "info");
    if (info.ok() && InfoField(*info, "dev") == dev) {
      found = path;
      break;
    }
  }
  closedir(d);
  if (found.empty()) return Status::NotFound(mountpoint + ": not a mounted pmemfs");
  return found;
}

}  // namespace pmemfs::fuse
