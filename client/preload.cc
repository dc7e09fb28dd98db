// libpmemfs-preload: what pmemfs-direct(1) preloads into an unmodified program. Each libc
// entry point below sends a descriptor the library tracks to libpmemfs-client (api.cc), and
// everything else to the next definition (libc's), unchanged. Opens are adopted when they land
// on a direct-access file; closes and descriptors replaced by dup2/dup3/close_range/fclose are
// forgotten.
//
// Not interposed: stdio's own reads and writes (fopen/fread use libc-internal calls: a FILE
// opened with fopen is the kernel's business throughout), sendfile, splice, copy_file_range,
// io_uring and aio (the kernel serves them, with the coherence README describes).
#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "client/calls.h"
#include "client/open_mode.h"
#include "pmemfs/client.h"

extern "C" {
void pmemfs_adopt_fd(int fd);
void pmemfs_forget_fd(int fd);
void pmemfs_copy_fd(int from, int to);
void pmemfs_refresh_fd(int fd);
int pmemfs_tracking(void);
void pmemfs_watch_spawns(void);
void pmemfs_spawning(void);
}

namespace {

template <typename F>
F Next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

#define NEXT(name) \
  static auto next = Next<decltype(&::name)>(#name)

bool Tracked(int fd) { return pmemfs_tracking() && pmemfs_is_direct(fd); }

}  // namespace

#define EXPORT extern "C" __attribute__((visibility("default")))
#define ALIAS_OF(name) __attribute__((alias(name)))

// --- children --------------------------------------------------------------------------------
// A child may inherit open file descriptions of ours (and map them through the kernel), so the
// library counts children: fork through pthread_atfork, the calls below here (glibc's system
// and popen use an internal posix_spawn we cannot see), and exec: a vfork child shares our
// memory, so its execve counts in the parent. With the preload in, every way but raw clone (or
// a vfork child's execl, which glibc sends to its internal execve) is counted, and an fsync may
// skip the kernel's (api.cc, SyncFile).
__attribute__((constructor)) static void WatchSpawns() { pmemfs_watch_spawns(); }

// The interposers a signal handler may call (README: the async-signal-safe calls) find libc's
// definition at load, not at their first call, which could be in a handler (dlsym takes the
// loader's lock and may allocate): each is called here once on descriptor -1 (EBADF, nothing
// done), which sets its `next`.
__attribute__((constructor)) static void ResolveNext() {
  const int saved = errno;
  char b = 0;
  iovec v{&b, 0};
  (void)!read(-1, &b, 0);
  (void)!write(-1, &b, 0);
  (void)!pread(-1, &b, 0, 0);
  (void)!pread64(-1, &b, 0, 0);
  (void)!pwrite(-1, &b, 0, 0);
  (void)!pwrite64(-1, &b, 0, 0);
  (void)!readv(-1, &v, 1);
  (void)!writev(-1, &v, 1);
  (void)!preadv(-1, &v, 1, 0);
  (void)!preadv64(-1, &v, 1, 0);
  (void)!pwritev(-1, &v, 1, 0);
  (void)!pwritev64(-1, &v, 1, 0);
  (void)!lseek(-1, 0, SEEK_CUR);
  (void)!lseek64(-1, 0, SEEK_CUR);
  (void)!fsync(-1);
  (void)!fdatasync(-1);
  (void)!ftruncate(-1, 0);
  (void)!ftruncate64(-1, 0);
  (void)!close(-1);
  (void)!dup(-1);
  (void)!dup2(-1, -1);
  (void)!dup3(-1, -1, 0);
  (void)!fcntl(-1, F_GETFD);
  (void)!fcntl64(-1, F_GETFD);
  errno = saved;
}

EXPORT int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* fa,
                       const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  pmemfs_spawning();
  NEXT(posix_spawn);
  return next(pid, path, fa, attr, argv, envp);
}
EXPORT int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* fa,
                        const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
  pmemfs_spawning();
  NEXT(posix_spawnp);
  return next(pid, file, fa, attr, argv, envp);
}
EXPORT int system(const char* cmd) {
  pmemfs_spawning();
  NEXT(system);
  return next(cmd);
}
EXPORT FILE* popen(const char* cmd, const char* type) {
  pmemfs_spawning();
  NEXT(popen);
  return next(cmd, type);
}
EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
  pmemfs_spawning();
  NEXT(execve);
  return next(path, argv, envp);
}
EXPORT int execv(const char* path, char* const argv[]) {
  pmemfs_spawning();
  NEXT(execv);
  return next(path, argv);
}
EXPORT int execvp(const char* file, char* const argv[]) {
  pmemfs_spawning();
  NEXT(execvp);
  return next(file, argv);
}
EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
  pmemfs_spawning();
  NEXT(execvpe);
  return next(file, argv, envp);
}
EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) {
  pmemfs_spawning();
  NEXT(fexecve);
  return next(fd, argv, envp);
}

// --- opening and closing -------------------------------------------------------------------

// The 64-bit names are the same entry points (aliases, as glibc's are on LP64: off_t has 64
// bits and O_LARGEFILE is 0).
static_assert(sizeof(off_t) == 8 && O_LARGEFILE == 0, "open64 would differ from open");
EXPORT int open(const char* path, int flags, ...) {
  return pmemfs_openat(AT_FDCWD, path, flags, OPEN_MODE(flags));
}
EXPORT int openat(int dirfd, const char* path, int flags, ...) {
  return pmemfs_openat(dirfd, path, flags, OPEN_MODE(flags));
}
// _FORTIFY_SOURCE builds call these when the flags are not known at compile time.
EXPORT int __open_2(const char* path, int flags) { return pmemfs_openat(AT_FDCWD, path, flags, 0); }
EXPORT int __openat_2(int dirfd, const char* path, int flags) {
  return pmemfs_openat(dirfd, path, flags, 0);
}
EXPORT int creat(const char* path, mode_t mode) { return pmemfs_creat(path, mode); }
EXPORT int open64(const char* path, int flags, ...) ALIAS_OF("open");
EXPORT int openat64(int dirfd, const char* path, int flags, ...) ALIAS_OF("openat");
EXPORT int __open64_2(const char* path, int flags) ALIAS_OF("__open_2");
EXPORT int __openat64_2(int dirfd, const char* path, int flags) ALIAS_OF("__openat_2");
EXPORT int creat64(const char* path, mode_t mode) ALIAS_OF("creat");

EXPORT int close(int fd) {
  if (pmemfs_tracking()) return pmemfs_close(fd);
  NEXT(close);
  return next(fd);
}

EXPORT int close_range(unsigned first, unsigned last, int flags) {
  NEXT(close_range);
  if (pmemfs_tracking() && !(flags & CLOSE_RANGE_CLOEXEC))
    for (unsigned fd = first; fd <= last && fd < (1u << 20); fd++) pmemfs_forget_fd(static_cast<int>(fd));
  return next(first, last, flags);
}

EXPORT void closefrom(int lowfd) {
  NEXT(closefrom);
  if (pmemfs_tracking())
    for (int fd = lowfd < 0 ? 0 : lowfd; fd < (1 << 20); fd++) pmemfs_forget_fd(fd);
  next(lowfd);
}

EXPORT int fclose(FILE* f) {
  NEXT(fclose);
  if (pmemfs_tracking() && f != nullptr) pmemfs_forget_fd(fileno(f));
  return next(f);
}

EXPORT int dup(int fd) {
  if (pmemfs_tracking()) return pmemfs_dup(fd);
  NEXT(dup);
  return next(fd);
}
EXPORT int dup2(int fd, int fd2) {
  if (pmemfs_tracking()) return pmemfs_dup2(fd, fd2);
  NEXT(dup2);
  return next(fd, fd2);
}
EXPORT int dup3(int fd, int fd2, int flags) {
  if (pmemfs_tracking()) return pmemfs_dup3(fd, fd2, flags);
  NEXT(dup3);
  return next(fd, fd2, flags);
}

namespace {
int Fcntl(int (*next)(int, int, ...), int fd, int cmd, va_list ap) {
  // Every argument fcntl takes fits in a pointer (int, long, struct pointers).
  void* arg = va_arg(ap, void*);
  int r = next(fd, cmd, arg);
  if (r >= 0 && pmemfs_tracking()) {
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) pmemfs_copy_fd(fd, r);
    else if (cmd == F_SETFL) pmemfs_refresh_fd(fd);  // O_APPEND may have changed
  }
  return r;
}
}  // namespace

EXPORT int fcntl(int fd, int cmd, ...) {
  static auto next = Next<int (*)(int, int, ...)>("fcntl");
  va_list ap;
  va_start(ap, cmd);
  int r = Fcntl(next, fd, cmd, ap);
  va_end(ap);
  return r;
}
EXPORT int fcntl64(int fd, int cmd, ...) {
  static auto next = Next<int (*)(int, int, ...)>("fcntl64");
  va_list ap;
  va_start(ap, cmd);
  int r = Fcntl(next ? next : Next<int (*)(int, int, ...)>("fcntl"), fd, cmd, ap);
  va_end(ap);
  return r;
}

// --- data ----------------------------------------------------------------------------------

// One look-up of the descriptor per call (calls.h): the library's when it tracks it, else libc's
// (the look-up answers at once while the library tracks no descriptor).
#define DATA_CALL(name, fn, ...) \
  NEXT(name);                    \
  return pmemfs::client::fn(__VA_ARGS__, next)

EXPORT ssize_t read(int fd, void* buf, size_t n) { DATA_CALL(read, Read, fd, buf, n); }
EXPORT ssize_t __read_chk(int fd, void* buf, size_t n, size_t buflen) {
  if (n > buflen) abort();  // what the fortified call would do (__chk_fail)
  return read(fd, buf, n);
}
EXPORT ssize_t write(int fd, const void* buf, size_t n) { DATA_CALL(write, Write, fd, buf, n); }
EXPORT ssize_t pread(int fd, void* buf, size_t n, off_t off) {
  DATA_CALL(pread, Pread, fd, buf, n, off);
}
EXPORT ssize_t pread64(int fd, void* buf, size_t n, off_t off) {
  DATA_CALL(pread64, Pread, fd, buf, n, off);
}
EXPORT ssize_t __pread_chk(int fd, void* buf, size_t n, off_t off, size_t buflen) {
  if (n > buflen) abort();
  return pread(fd, buf, n, off);
}
EXPORT ssize_t __pread64_chk(int fd, void* buf, size_t n, off_t off, size_t buflen) {
  if (n > buflen) abort();
  return pread64(fd, buf, n, off);
}
EXPORT ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  DATA_CALL(pwrite, Pwrite, fd, buf, n, off);
}
EXPORT ssize_t pwrite64(int fd, const void* buf, size_t n, off_t off) {
  DATA_CALL(pwrite64, Pwrite, fd, buf, n, off);
}
EXPORT ssize_t readv(int fd, const struct iovec* iov, int cnt) {
  DATA_CALL(readv, Readv, fd, iov, cnt);
}
EXPORT ssize_t writev(int fd, const struct iovec* iov, int cnt) {
  DATA_CALL(writev, Writev, fd, iov, cnt);
}
EXPORT ssize_t preadv(int fd, const struct iovec* iov, int cnt, off_t off) {
  DATA_CALL(preadv, Preadv, fd, iov, cnt, off);
}
EXPORT ssize_t preadv64(int fd, const struct iovec* iov, int cnt, off_t off) {
  DATA_CALL(preadv64, Preadv, fd, iov, cnt, off);
}
EXPORT ssize_t pwritev(int fd, const struct iovec* iov, int cnt, off_t off) {
  DATA_CALL(pwritev, Pwritev, fd, iov, cnt, off);
}
EXPORT ssize_t pwritev64(int fd, const struct iovec* iov, int cnt, off_t off) {
  DATA_CALL(pwritev64, Pwritev, fd, iov, cnt, off);
}
EXPORT off_t lseek(int fd, off_t off, int whence) {
  if (Tracked(fd)) return pmemfs_lseek(fd, off, whence);
  NEXT(lseek);
  return next(fd, off, whence);
}
EXPORT off_t lseek64(int fd, off_t off, int whence) {
  if (Tracked(fd)) return pmemfs_lseek(fd, off, whence);
  NEXT(lseek64);
  return next(fd, off, whence);
}
EXPORT int fsync(int fd) {
  if (Tracked(fd)) return pmemfs_fsync(fd);
  NEXT(fsync);
  return next(fd);
}
EXPORT int fdatasync(int fd) {
  if (Tracked(fd)) return pmemfs_fdatasync(fd);
  NEXT(fdatasync);
  return next(fd);
}
EXPORT int ftruncate(int fd, off_t len) {
  if (Tracked(fd)) return pmemfs_ftruncate(fd, len);
  NEXT(ftruncate);
  return next(fd, len);
}
EXPORT int ftruncate64(int fd, off_t len) {
  if (Tracked(fd)) return pmemfs_ftruncate(fd, len);
  NEXT(ftruncate64);
  return next(fd, len);
}

// --- mappings ------------------------------------------------------------------------------

EXPORT void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (!(flags & MAP_ANONYMOUS) && Tracked(fd)) return pmemfs_mmap(addr, len, prot, flags, fd, off);
  NEXT(mmap);
  return next(addr, len, prot, flags, fd, off);
}
EXPORT void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  if (!(flags & MAP_ANONYMOUS) && Tracked(fd)) return pmemfs_mmap(addr, len, prot, flags, fd, off);
  NEXT(mmap64);
  return next(addr, len, prot, flags, fd, off);
}
EXPORT int munmap(void* addr, size_t len) { return pmemfs_munmap(addr, len); }
EXPORT int msync(void* addr, size_t len, int flags) { return pmemfs_msync(addr, len, flags); }
