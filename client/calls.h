// The data calls of libpmemfs-client with the kernel's call to make when the library does not
// serve one (api.cc): the C API passes the system calls (sys.h), pmemfs-direct's interposers
// (preload.cc) the next definition, libc's, so that a descriptor the library does not track
// sees exactly libc's call (a cancellation point, say). One look-up of `fd` per call.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

namespace pmemfs::client {

using PreadFn = ssize_t (*)(int, void*, size_t, off_t);
using PwriteFn = ssize_t (*)(int, const void*, size_t, off_t);
using PreadvFn = ssize_t (*)(int, const iovec*, int, off_t);
using PwritevFn = ssize_t (*)(int, const iovec*, int, off_t);
using ReadFn = ssize_t (*)(int, void*, size_t);
using WriteFn = ssize_t (*)(int, const void*, size_t);
using ReadvFn = ssize_t (*)(int, const iovec*, int);
using WritevFn = ssize_t (*)(int, const iovec*, int);

ssize_t Pread(int fd, void* buf, size_t count, off_t off, PreadFn kernel);
ssize_t Pwrite(int fd, const void* buf, size_t count, off_t off, PwriteFn kernel);
ssize_t Preadv(int fd, const iovec* iov, int cnt, off_t off, PreadvFn kernel);
ssize_t Pwritev(int fd, const iovec* iov, int cnt, off_t off, PwritevFn kernel);
ssize_t Read(int fd, void* buf, size_t count, ReadFn kernel);
ssize_t Write(int fd, const void* buf, size_t count, WriteFn kernel);
ssize_t Readv(int fd, const iovec* iov, int cnt, ReadvFn kernel);
ssize_t Writev(int fd, const iovec* iov, int cnt, WritevFn kernel);

}  // namespace pmemfs::client
