// The kernel's own calls, made with syscall(2): the library's fallbacks and its own I/O must
// never reach an interposed libc entry point (pmemfs-direct preloads one for every call the
// library shortcuts, which would call back into the library). Each returns what the system
// call returns and sets errno as libc would.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>

namespace pmemfs::client::sys {

inline int openat(int dirfd, const char* path, int flags, mode_t mode) {
  return static_cast<int>(::syscall(SYS_openat, dirfd, path, flags, mode));
}
inline int close(int fd) { return static_cast<int>(::syscall(SYS_close, fd)); }
inline int dup(int fd) { return static_cast<int>(::syscall(SYS_dup, fd)); }
inline int dup3(int fd, int fd2, int flags) {
  return static_cast<int>(::syscall(SYS_dup3, fd, fd2, flags));
}
inline int fcntl(int fd, int cmd, long arg = 0) {
  return static_cast<int>(::syscall(SYS_fcntl, fd, cmd, arg));
}
inline ssize_t read(int fd, void* buf, size_t n) { return ::syscall(SYS_read, fd, buf, n); }
inline ssize_t write(int fd, const void* buf, size_t n) {
  return ::syscall(SYS_write, fd, buf, n);
}
inline ssize_t pread(int fd, void* buf, size_t n, off_t off) {
  return ::syscall(SYS_pread64, fd, buf, n, off);
}
inline ssize_t pwrite(int fd, const void* buf, size_t n, off_t off) {
  return ::syscall(SYS_pwrite64, fd, buf, n, off);
}
inline ssize_t readv(int fd, const iovec* iov, int cnt) {
  return ::syscall(SYS_readv, fd, iov, cnt);
}
inline ssize_t writev(int fd, const iovec* iov, int cnt) {
  return ::syscall(SYS_writev, fd, iov, cnt);
}
// The kernel's preadv takes the offset split in two longs (pos_l, pos_h).
inline ssize_t preadv(int fd, const iovec* iov, int cnt, off_t off) {
  return ::syscall(SYS_preadv, fd, iov, cnt, static_cast<unsigned long>(off),
                   static_cast<unsigned long>(static_cast<uint64_t>(off) >> 32 >> 32));
}
inline ssize_t pwritev(int fd, const iovec* iov, int cnt, off_t off) {
  return ::syscall(SYS_pwritev, fd, iov, cnt, static_cast<unsigned long>(off),
                   static_cast<unsigned long>(static_cast<uint64_t>(off) >> 32 >> 32));
}
inline off_t lseek(int fd, off_t off, int whence) { return ::syscall(SYS_lseek, fd, off, whence); }
inline int fsync(int fd) { return static_cast<int>(::syscall(SYS_fsync, fd)); }
inline int fdatasync(int fd) { return static_cast<int>(::syscall(SYS_fdatasync, fd)); }
inline int ftruncate(int fd, off_t len) {
  return static_cast<int>(::syscall(SYS_ftruncate, fd, len));
}
inline void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  return reinterpret_cast<void*>(::syscall(SYS_mmap, addr, len, prot, flags, fd, off));
}
inline int munmap(void* addr, size_t len) {
  return static_cast<int>(::syscall(SYS_munmap, addr, len));
}
inline int msync(void* addr, size_t len, int flags) {
  return static_cast<int>(::syscall(SYS_msync, addr, len, flags));
}
// The kernel's idea of the file's size asked of the daemon now (AT_STATX_FORCE_SYNC: a FUSE
// attribute replied uncached, as those of a leased file are, still counts as fresh until the
// next tick of jiffies). The size, or -1.
inline int64_t size_from_daemon(int fd) {
  struct statx stx{};
  if (::syscall(SYS_statx, fd, "", AT_EMPTY_PATH | AT_STATX_FORCE_SYNC, STATX_SIZE, &stx) != 0)
    return -1;
  return static_cast<int64_t>(stx.stx_size);
}
// The kernel's cached pages of the file dropped (clean ones not mapped anywhere: FUSE writes
// through, so all but those a shared mapping dirtied).
inline int drop_cached_pages(int fd) {
  return static_cast<int>(::syscall(SYS_fadvise64, fd, 0, 0, POSIX_FADV_DONTNEED));
}

}  // namespace pmemfs::client::sys
