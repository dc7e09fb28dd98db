// libpmemfs-preload-floor.so: the floor under the direct-access library's pread/pwrite, for
// bench/lib_floor.sh. Preloaded into a program (fio), it serves pread/pwrite on one file,
// named by PMEMFS_FLOOR_FILE, with nothing but the mapping layer's persisted copy into a
// one-part linear device on an emulated pmem file (PMEMFS_FLOOR_PART, made, formatted and
// removed here): no filesystem, no descriptor table, no lease, no size or mtime, the same copy
// and drain as pmemfs-mapping-bench and the library (Device::CopyNoDrain + Drain, Device::Read).
// What a program gets under it is the most any preloaded library can give it on this device;
// the library's rate over this one is what is left to win in the library itself.
//
// Not a filesystem: the bytes never reach the named file, and a read returns what an earlier
// write of this process put in the device. Nothing but the benchmark uses it.
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "mapping/device_set.h"

namespace {

using namespace pmemfs::mapping;

constexpr uint64_t kPartBytes = uint64_t{1} << 30;  // room for the benchmark's 64-512 MiB file

std::once_flag g_once;
std::unique_ptr<Device> g_dev;
std::string g_part;
std::atomic<int> g_fd{-1};

void Fail(const std::string& why) {
  fprintf(stderr, "preload-floor: %s\n", why.c_str());
  _exit(2);
}

void Open() {
  const char* part = getenv("PMEMFS_FLOOR_PART");
  if (part == nullptr || *part == '\0') Fail("PMEMFS_FLOOR_PART (the emulated pmem file) is unset");
  g_part = part;
  int fd = open(part, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) Fail(g_part + ": cannot create: " + strerror(errno));
  const int r = ftruncate(fd, static_cast<off_t>(kPartBytes));
  close(fd);
  if (r != 0) Fail(g_part + ": cannot size: " + strerror(errno));
  auto parts = OpenFileParts({g_part}, {.force_cache_line = true});
  if (!parts.ok()) Fail(parts.status().message());
  auto dev = CreateDevice(*parts, {.layout = pmemfs::layout::LayoutKind::kLinear,
                                   .reserve_descriptors = false},
                          {.path = AccessPath::kLinear});
  if (!dev.ok()) Fail(dev.status().message());
  g_dev = std::move(*dev);
  atexit([] { unlink(g_part.c_str()); });
}

template <typename F>
F Next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

int Track(const char* path, int fd) {
  const char* want = getenv("PMEMFS_FLOOR_FILE");
  if (fd >= 0 && want != nullptr && path != nullptr && strcmp(path, want) == 0) {
    std::call_once(g_once, Open);
    g_fd.store(fd, std::memory_order_relaxed);
  }
  return fd;
}

bool Ours(int fd, uint64_t off, size_t n) {
  if (fd < 0 || fd != g_fd.load(std::memory_order_relaxed)) return false;
  if (off + n > g_dev->size()) Fail("an access past the floor device's " +
                                    std::to_string(g_dev->size()) + " bytes");
  return true;
}

mode_t ModeOf(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, mode_t) : 0;
}

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  static auto real = Next<int (*)(const char*, int, ...)>("open");
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = ModeOf(flags, ap);
  va_end(ap);
  return Track(path, real(path, flags, mode));
}

int open64(const char* path, int flags, ...) {
  static auto real = Next<int (*)(const char*, int, ...)>("open64");
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = ModeOf(flags, ap);
  va_end(ap);
  return Track(path, real(path, flags, mode));
}

int openat(int dirfd, const char* path, int flags, ...) {
  static auto real = Next<int (*)(int, const char*, int, ...)>("openat");
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = ModeOf(flags, ap);
  va_end(ap);
  return Track(path, real(dirfd, path, flags, mode));
}

int close(int fd) {
  static auto real = Next<int (*)(int)>("close");
  int expected = fd;
  if (fd >= 0) g_fd.compare_exchange_strong(expected, -1, std::memory_order_relaxed);
  return real(fd);
}

ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  static auto real = Next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite64");
  if (!Ours(fd, static_cast<uint64_t>(off), n)) return real(fd, buf, n, off);
  g_dev->CopyNoDrain(static_cast<uint64_t>(off), buf, n);
  g_dev->Drain();
  return static_cast<ssize_t>(n);
}

ssize_t pread64(int fd, void* buf, size_t n, off_t off) {
  static auto real = Next<ssize_t (*)(int, void*, size_t, off_t)>("pread64");
  if (!Ours(fd, static_cast<uint64_t>(off), n)) return real(fd, buf, n, off);
  g_dev->Read(static_cast<uint64_t>(off), buf, n);
  return static_cast<ssize_t>(n);
}

ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) { return pwrite64(fd, buf, n, off); }
ssize_t pread(int fd, void* buf, size_t n, off_t off) { return pread64(fd, buf, n, off); }

}  // extern "C"
