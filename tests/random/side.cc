// side.cc: applying pmemfs-fsx operations to one tree with system calls (see side.h).
#include "side.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>

namespace fsx {
namespace {

// Fd: closes on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

Outcome Errno() { return Outcome{.err = errno}; }
Outcome Value(int64_t v) { return Outcome{.value = v}; }

}  // namespace

std::string ErrName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : "errno " + std::to_string(err);
}

std::string Describe(const Outcome& o) {
  if (o.err) return ErrName(o.err);
  std::string s = "ok " + std::to_string(o.value);
  if (!o.data.empty()) s += " (" + std::to_string(o.data.size()) + " bytes read)";
  return s;
}

Side::Side(std::string root, bool emulate_zero_range)
    : root_(std::move(root)), emulate_zero_range_(emulate_zero_range) {
  std::fill(std::begin(fds_), std::end(fds_), -1);
}

Side::~Side() { CloseAll(); }

void Side::CloseAll() {
  for (int& fd : fds_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
}

Outcome Side::Fallocate(int fd, const Op& op) {
  const int mode = static_cast<int>(op.flags);
  if (fallocate(fd, mode, op.off, op.len) == 0) return Value(0);
  if (errno != EOPNOTSUPP || !emulate_zero_range_ || !(mode & FALLOC_FL_ZERO_RANGE)) return Errno();
  // ZERO_RANGE = the range reads as zeros, and the size grows to its end unless KEEP_SIZE.
  if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, op.off, op.len) != 0) return Errno();
  if (!(mode & FALLOC_FL_KEEP_SIZE) && fallocate(fd, 0, op.off, op.len) != 0) return Errno();
  return Value(0);
}

Outcome Side::MmapWrite(const Op& op) {
  Fd f(open(Abs(op.path).c_str(), O_RDWR));
  if (f.fd < 0) return Errno();
  struct stat st;
  if (fstat(f.fd, &st) != 0) return Errno();
  const uint64_t end = op.off + op.len;
  if (static_cast<uint64_t>(st.st_size) < end && ftruncate(f.fd, end) != 0) return Errno();
  const uint64_t start = op.off & ~uint64_t{4095};
  const size_t length = end - start;
  void* map = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd, start);
  if (map == MAP_FAILED) return Errno();
  const std::string data = Pattern(op.seed, op.off, op.len);
  memcpy(static_cast<char*>(map) + (op.off - start), data.data(), data.size());
  const int synced = msync(map, length, MS_SYNC);
  const int saved = errno;
  munmap(map, length);
  if (synced != 0) return Outcome{.err = saved};
  if (fstat(f.fd, &st) != 0) return Errno();
  return Value(st.st_size);
}

Outcome Side::CopyRange(const Op& op) {
  Fd in(open(Abs(op.path).c_str(), O_RDONLY));
  if (in.fd < 0) return Errno();
  Fd out(open(Abs(op.path2).c_str(), O_WRONLY | O_CREAT, 0644));
  if (out.fd < 0) return Errno();
  loff_t off_in = op.off, off_out = op.off2;
  uint64_t done = 0;
  while (done < op.len) {
    const ssize_t n = copy_file_range(in.fd, &off_in, out.fd, &off_out, op.len - done, 0);
    if (n < 0) return done == 0 ? Errno() : Outcome{.err = errno, .value = static_cast<int64_t>(done)};
    if (n == 0) break;
    done += n;
  }
  return Value(done);
}

Outcome Side::Apply(const Op& op) {
  const std::string path = Abs(op.path), path2 = Abs(op.path2);
  int* slot = &fds_[op.slot];
  switch (op.kind) {
    case Kind::kCreate: {
      Fd f(open(path.c_str(), O_CREAT | O_WRONLY | (op.flags ? O_EXCL : 0), 0644));
      return f.fd < 0 ? Errno() : Value(0);
    }
    case Kind::kWrite: {
      Fd f(open(path.c_str(), O_WRONLY));
      if (f.fd < 0) return Errno();
      const std::string data = Pattern(op.seed, op.off, op.len);
      const ssize_t n = pwrite(f.fd, data.data(), data.size(), op.off);
      return n < 0 ? Errno() : Value(n);
    }
    case Kind::kRead:
    case Kind::kFdRead: {
      int fd = *slot;
      std::optional<Fd> f;
      if (op.kind == Kind::kRead) {
        f.emplace(open(path.c_str(), O_RDONLY));
        if (f->fd < 0) return Errno();
        fd = f->fd;
      } else if (fd < 0) {
        return Outcome{.err = EBADF};
      }
      std::string data(op.len, '\0');
      const ssize_t n = pread(fd, data.data(), data.size(), op.off);
      if (n < 0) return Errno();
      data.resize(n);
      return Outcome{.value = n, .data = std::move(data)};
    }
    case Kind::kTruncate:
      return truncate(path.c_str(), op.len) == 0 ? Value(0) : Errno();
    case Kind::kFallocate: {
      Fd f(open(path.c_str(), O_WRONLY));
      if (f.fd < 0) return Errno();
      return Fallocate(f.fd, op);
    }
    case Kind::kRename:
      return renameat2(AT_FDCWD, path.c_str(), AT_FDCWD, path2.c_str(), op.flags) == 0 ? Value(0)
                                                                                     : Errno();
    case Kind::kLink:
      return link(path.c_str(), path2.c_str()) == 0 ? Value(0) : Errno();
    case Kind::kUnlink:
      return unlink(path.c_str()) == 0 ? Value(0) : Errno();
    case Kind::kMkdir:
      return mkdir(path.c_str(), op.flags) == 0 ? Value(0) : Errno();
    case Kind::kRmdir:
      return rmdir(path.c_str()) == 0 ? Value(0) : Errno();
    case Kind::kSymlink:
      return symlink(op.path2.c_str(), path.c_str()) == 0 ? Value(0) : Errno();
    case Kind::kSetXattr: {
      const std::string value = Pattern(op.seed, 0, op.len);
      return lsetxattr(path.c_str(), op.name.c_str(), value.data(), value.size(), op.flags) == 0
                 ? Value(0) : Errno();
    }
    case Kind::kRemoveXattr:
      return lremovexattr(path.c_str(), op.name.c_str()) == 0 ? Value(0) : Errno();
    case Kind::kChmod:
      return chmod(path.c_str(), op.flags) == 0 ? Value(0) : Errno();
    case Kind::kMmapWrite:
      return MmapWrite(op);
    case Kind::kFsync: {
      Fd f(open(path.c_str(), O_RDONLY));
      if (f.fd < 0) return Errno();
      return (op.flags ? fdatasync(f.fd) : fsync(f.fd)) == 0 ? Value(0) : Errno();
    }
    case Kind::kCopyRange:
      return CopyRange(op);
    case Kind::kOpen: {
      if (*slot >= 0) close(*slot);
      *slot = open(path.c_str(), static_cast<int>(op.flags), 0644);
      return *slot < 0 ? Errno() : Value(0);
    }
    case Kind::kClose: {
      if (*slot < 0) return Outcome{.err = EBADF};
      const int r = close(*slot);
      *slot = -1;
      return r == 0 ? Value(0) : Errno();
    }
    case Kind::kFdWrite: {
      if (*slot < 0) return Outcome{.err = EBADF};
      const std::string data = Pattern(op.seed, op.off, op.len);
      const ssize_t n = pwrite(*slot, data.data(), data.size(), op.off);
      return n < 0 ? Errno() : Value(n);
    }
    case Kind::kFdTruncate:
      if (*slot < 0) return Outcome{.err = EBADF};
      return ftruncate(*slot, op.len) == 0 ? Value(0) : Errno();
    case Kind::kFdSync:
      if (*slot < 0) return Outcome{.err = EBADF};
      return fsync(*slot) == 0 ? Value(0) : Errno();
    case Kind::kChown:
      return lchown(path.c_str(), static_cast<uid_t>(op.off), static_cast<gid_t>(op.off2)) == 0
                 ? Value(0) : Errno();
    case Kind::kAppend: {
      Fd f(open(path.c_str(), O_WRONLY | O_APPEND));
      if (f.fd < 0) return Errno();
      const std::string data = Pattern(op.seed, 0, op.len);
      const ssize_t n = write(f.fd, data.data(), data.size());
      return n < 0 ? Errno() : Value(n);
    }
    case Kind::kCount:
      break;
  }
  return Outcome{.err = EINVAL};
}

std::vector<Entry> Side::Entries() const {
  std::vector<Entry> out;
  std::function<void(const std::string&)> walk = [&](const std::string& rel) {
    DIR* d = opendir(Abs(rel).c_str());
    if (!d) return;
    std::vector<std::pair<std::string, unsigned char>> children;
    while (dirent* e = readdir(d)) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      children.emplace_back(e->d_name, e->d_type);
    }
    closedir(d);
    std::sort(children.begin(), children.end());
    for (const auto& [name, type] : children) {
      const std::string child = rel.empty() ? name : rel + "/" + name;
      const char t = type == DT_REG ? 'f' : type == DT_DIR ? 'd' : type == DT_LNK ? 'l' : '?';
      out.push_back({child, t});
      if (t == 'd') walk(child);
    }
  };
  walk("");
  return out;
}

bool RemoveTree(const std::string& path, std::string* error) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    *error = "stat " + path + ": " + strerror(errno);
    return false;
  }
  static thread_local std::string* failure;
  std::string message;
  failure = &message;
  auto remove_one = [](const char* p, const struct stat*, int, struct FTW*) -> int {
    if (remove(p) != 0) {
      *failure = std::string("remove ") + p + ": " + strerror(errno);
      return 1;
    }
    return 0;
  };
  if (nftw(path.c_str(), remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0) {
    *error = message.empty() ? "walking " + path + ": " + strerror(errno) : message;
    return false;
  }
  return true;
}

}  // namespace fsx
