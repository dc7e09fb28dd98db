// Open files and their data: open, create, read, write, flush, release, fsync, fallocate,
// lseek, copy_file_range.
//
// No file is opened with direct_io: shared mmap must work in every mode (libfuse 3.14 cannot
// allow mmap of direct_io files), so the kernel page cache sits in front of every mode and
// keep_cache keeps it across opens (only we change the data; see ops.h), except when an atime
// update is due or a direct-access client holds a write lease on the file (Open). Reads are answered from mapping::ReadRef's iovecs, which point into the
// device mapping in direct and pages mode: the kernel copies straight from pmem into the
// request, no copy in the daemon. Writes made with O_DIRECT drop the kernel's cached pages of
// their range before the reply (WriteBuf).
#include <fcntl.h>
#include <sys/uio.h>

#include <span>
#include <vector>

#include "fs/fuse/handlers.h"
#include "fs/fuse/invalidator.h"
#include "fs/fuse/reply.h"

namespace pmemfs::fuse::handlers {
namespace {

// fuse_reply_iov adds its header to our vectors; the kernel takes at most IOV_MAX (1024).
constexpr size_t kMaxReplyIov = 1000;

void SetOpenFlags(fuse_file_info* fi) {
  fi->direct_io = 0;
  fi->keep_cache = 1;
  // We have nothing to do at close (copy mode persists on fsync, the others on write), so
  // spare the FLUSH round trip. The kernel still flushes its writeback cache on close.
  fi->noflush = 1;
}

}  // namespace

void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  core::Filesystem* fs = Ctx(req).fs;
  Status s = fs->Open(CallerOf(req), ino, fi->flags);
  if (!s.ok()) return ReplyStatus(req, s, "open");
  SetOpenFlags(fi);
  // relatime through the page cache: when an atime update is due, the kernel drops what it has
  // cached (synchronously, before open returns), so the next read reaches us and moves atime.
  if ((fi->flags & O_ACCMODE) != O_WRONLY && fs->AtimeDue(ino)) fi->keep_cache = 0;
  // Direct access: clients write the device under their write leases, and their fsync need not
  // drop our cached pages (direct::Synced): an open while one is held drops them.
  if (fs->HasWriteLease(ino)) fi->keep_cache = 0;
  if (fuse_reply_open(req, fi) != 0) (void)fs->Release(ino);  // the kernel did not take it
}

void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, fuse_file_info* fi) {
  OpsContext& ctx = Ctx(req);
  Result<core::Attr> a = ctx.fs->Create(CallerOf(req), parent, name, mode, fi->flags);
  if (!a.ok()) return ReplyStatus(req, a.status(), "create");
  SetOpenFlags(fi);
  if (ctx.fs->HasWriteLease(a->ino)) fi->keep_cache = 0;  // (an existing file: as Open)
  fuse_entry_param e = ToEntry(ctx, *a);
  if (fuse_reply_create(req, &e, fi) != 0) {
    (void)ctx.fs->Release(a->ino);
    ctx.fs->Forget(a->ino, 1);
  }
}

void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* /*fi*/) {
  mapping::ReadRef ref;
  Status s = Ctx(req).fs->Read(ino, static_cast<uint64_t>(off), size, &ref);
  if (!s.ok()) return ReplyStatus(req, s, "read");
  const std::vector<iovec>& iov = ref.iov();
  if (iov.empty()) {
    fuse_reply_buf(req, nullptr, 0);
  } else if (iov.size() <= kMaxReplyIov) {
    fuse_reply_iov(req, iov.data(), static_cast<int>(iov.size()));
  } else {
    std::vector<std::byte> bytes = ref.ToBytes();  // very fragmented: one copy
    fuse_reply_buf(req, reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  ref.Release();  // pages mode: unpin only once the kernel has the bytes
}

void WriteBuf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* bufv, off_t off,
              fuse_file_info* fi) {
  std::span<const std::byte> data;
  std::vector<std::byte> copy;
  const fuse_buf& first = bufv->buf[bufv->idx];
  if (bufv->count - bufv->idx == 1 && !(first.flags & FUSE_BUF_IS_FD)) {
    // The usual case: the request's own buffer, written to the device without a copy here.
    data = {static_cast<const std::byte*>(first.mem) + bufv->off, first.size - bufv->off};
  } else {
    // Spliced (a pipe) or scattered: gather it once.
    size_t size = fuse_buf_size(bufv);
    copy.resize(size);
    fuse_bufvec dst{};
    dst.count = 1;
    dst.buf[0].size = size;
    dst.buf[0].mem = copy.data();
    dst.buf[0].fd = -1;
    ssize_t n = fuse_buf_copy(&dst, bufv, static_cast<fuse_buf_copy_flags>(0));
    if (n < 0) {
      fuse_reply_err(req, static_cast<int>(-n));
      return;
    }
    data = {copy.data(), static_cast<size_t>(n)};
  }
  OpsContext& ctx = Ctx(req);
  Result<uint64_t> n = ctx.fs->Write(CallerOf(req), ino, static_cast<uint64_t>(off), data);
  if (!n.ok()) return ReplyStatus(req, n.status(), "write");
  // An O_DIRECT write bypasses the kernel's page cache, which the kernel drops for the range
  // before sending it and, for a synchronous write, again once it returns. An asynchronous one
  // (libaio, io_uring) completes in fuse_aio_complete, which does not: pages that a buffered
  // read brought in meanwhile would keep the old bytes. So drop them here, after the data is
  // in and before the reply completes the I/O. (Not for writeback WRITEs: the kernel holds
  // those pages under writeback until we reply.)
  if ((fi->flags & O_DIRECT) && !fi->writepage && *n > 0 && ctx.invalidator != nullptr)
    ctx.invalidator->InvalidateInodeNow(ino, off, static_cast<int64_t>(*n));
  fuse_reply_write(req, *n);
}

void Flush(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* /*fi*/) {
  fuse_reply_err(req, 0);  // durability is fsync's job (see noflush above)
}

void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* /*fi*/) {
  ReplyStatus(req, Ctx(req).fs->Release(ino), "release");
}

void Fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* /*fi*/) {
  ReplyStatus(req, Ctx(req).fs->Fsync(ino, datasync != 0), "fsync");
}

void Fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
               fuse_file_info* /*fi*/) {
  if (off < 0 || len <= 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  ReplyStatus(req,
              Ctx(req).fs->Fallocate(ino, mode, static_cast<uint64_t>(off),
                                     static_cast<uint64_t>(len)),
              "fallocate");
}

void Lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info* /*fi*/) {
  if (whence != SEEK_DATA && whence != SEEK_HOLE) {
    fuse_reply_err(req, EINVAL);  // SEEK_SET/CUR/END never reach us
    return;
  }
  if (off < 0) {
    fuse_reply_err(req, ENXIO);
    return;
  }
  Result<uint64_t> pos = Ctx(req).fs->Lseek(ino, static_cast<uint64_t>(off), whence);
  if (!pos.ok()) return ReplyStatus(req, pos.status(), "lseek", ErrnoFor::kSeek);
  fuse_reply_lseek(req, static_cast<off_t>(*pos));
}

void CopyFileRange(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, fuse_file_info* /*fi_in*/,
                   fuse_ino_t ino_out, off_t off_out, fuse_file_info* /*fi_out*/, size_t len,
                   int flags) {
  if (flags != 0 || off_in < 0 || off_out < 0) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  Result<uint64_t> n =
      Ctx(req).fs->CopyFileRange(CallerOf(req), ino_in, static_cast<uint64_t>(off_in), ino_out,
                                 static_cast<uint64_t>(off_out), len);
  if (!n.ok()) return ReplyStatus(req, n.status(), "copy_file_range");
  fuse_reply_write(req, *n);
}

}  // namespace pmemfs::fuse::handlers
