/* libpmemfs-client: direct access to the data of pmemfs files.
 *
 * The calls below behave as their POSIX namesakes. On a regular file of a pmemfs mount in mode
 * direct or pages whose daemon allows this process direct access (mount option direct_access=),
 * reads and writes go straight to the device, in this process's own mapping of it, under
 * leases the daemon grants and can revoke; a write is durable when it returns, as on a DAX
 * filesystem with MAP_SYNC. Everything else - another filesystem, copy mode, a process the
 * daemon does not allow, a revoked lease, any call not listed here on the descriptor (fstat,
 * fcntl locks, getdents, xattrs...) - goes through the kernel as usual: the library always keeps
 * the real descriptor open on the mount, and pmemfs_open returns it.
 *
 * A descriptor opened with pmemfs_open must be closed with pmemfs_close (and duplicated with
 * pmemfs_dup*) for the library to keep track of it; pmemfs-direct(1) does that for unmodified
 * programs (LD_PRELOAD).
 *
 * Trust: a process allowed direct access can read and write the whole device (every file, the
 * filesystem's own structures), as with access to /dev/daxX.Y. See README "Direct access".
 */
#ifndef PMEMFS_CLIENT_H_
#define PMEMFS_CLIENT_H_

#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

int pmemfs_open(const char* path, int flags, ... /* mode_t mode */);
int pmemfs_openat(int dirfd, const char* path, int flags, ... /* mode_t mode */);
int pmemfs_creat(const char* path, mode_t mode);
int pmemfs_close(int fd);
int pmemfs_dup(int fd);
int pmemfs_dup2(int fd, int fd2);
int pmemfs_dup3(int fd, int fd2, int flags);

ssize_t pmemfs_read(int fd, void* buf, size_t count);
ssize_t pmemfs_write(int fd, const void* buf, size_t count);
ssize_t pmemfs_pread(int fd, void* buf, size_t count, off_t offset);
ssize_t pmemfs_pwrite(int fd, const void* buf, size_t count, off_t offset);
ssize_t pmemfs_readv(int fd, const struct iovec* iov, int iovcnt);
ssize_t pmemfs_writev(int fd, const struct iovec* iov, int iovcnt);
ssize_t pmemfs_preadv(int fd, const struct iovec* iov, int iovcnt, off_t offset);
ssize_t pmemfs_pwritev(int fd, const struct iovec* iov, int iovcnt, off_t offset);
off_t pmemfs_lseek(int fd, off_t offset, int whence);
/* fsync/fdatasync: the data of direct writes is durable already; the daemon commits the size
 * and times it keeps of them (one round trip to it). The kernel's fsync follows unless the
 * daemon says it would do nothing more: the mount writes through (direct or pages mode, no
 * writeback cache) and every open of the file is one this process made itself, shares with no
 * child and has made no shared mapping through, so that no page of the file can be dirty in the
 * kernel's cache. Skipping it needs pmemfs-direct, which sees every child made (fork,
 * posix_spawn, system, popen, exec after vfork); a program linking the library sees fork only
 * and always makes the kernel's fsync too. */
int pmemfs_fsync(int fd);
int pmemfs_fdatasync(int fd);
int pmemfs_ftruncate(int fd, off_t length);

/* MAP_SHARED mappings of a direct-access file map the device itself (a write through the
 * mapping is durable after pmemfs_msync, which persists with the mapping layer's primitives,
 * and makes no msync system call when the whole range is such device blocks); anything else is
 * the kernel's mmap. A revoked range is replaced by the kernel's mapping of the
 * file, so that access past a truncated end faults as it would on ext4-dax. */
void* pmemfs_mmap(void* addr, size_t length, int prot, int flags, int fd, off_t offset);
int pmemfs_munmap(void* addr, size_t length);
int pmemfs_msync(void* addr, size_t length, int flags);

/* 1 when `fd` is read and written through the device, 0 when through the kernel. */
int pmemfs_is_direct(int fd);

#ifdef __cplusplus
}
#endif

#endif /* PMEMFS_CLIENT_H_ */
