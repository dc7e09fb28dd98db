// The session: init (what we ask of the kernel), destroy (unmount), statfs, access.
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <algorithm>

#include "fs/fuse/handlers.h"
#include "fs/fuse/reply.h"

namespace pmemfs::fuse::handlers {
namespace {

constexpr unsigned kMaxWrite = 1u << 20;      // 1 MiB requests (libfuse's buffer holds that)
constexpr unsigned kMaxReadahead = 1u << 20;  // the kernel caps it at what it offered

// Asks for `cap` if the kernel has it; says so at debug level either way.
void Want(fuse_conn_info* conn, unsigned cap, const char* name) {
  if (conn->capable & cap) {
    conn->want |= cap;
  } else {
    spdlog::debug("kernel lacks {}", name);
  }
}

}  // namespace

void Init(void* userdata, fuse_conn_info* conn) {
  OpsContext& ctx = *static_cast<OpsContext*>(userdata);
  conn->max_write = kMaxWrite;
  conn->max_readahead = std::min(conn->max_readahead, kMaxReadahead);
  conn->max_background = std::max(conn->max_background, 64u);  // async reads and writeback

  Want(conn, FUSE_CAP_READDIRPLUS, "READDIRPLUS");
  Want(conn, FUSE_CAP_EXPORT_SUPPORT, "EXPORT_SUPPORT");
  Want(conn, FUSE_CAP_ATOMIC_O_TRUNC, "ATOMIC_O_TRUNC");
  Want(conn, FUSE_CAP_CACHE_SYMLINKS, "CACHE_SYMLINKS");  // symlinks never change
  Want(conn, FUSE_CAP_PARALLEL_DIROPS, "PARALLEL_DIROPS");
  Want(conn, FUSE_CAP_IOCTL_DIR, "IOCTL_DIR");  // the label ioctls on a directory's descriptor
  // POSIX ACLs, enforced by the kernel with default_permissions (always on, session.cc). The
  // umask is ours (core applies it unless the parent's default ACL applies instead): without
  // DONT_MASK the kernel would mask the mode first, and a default ACL could not undo that.
  Want(conn, FUSE_CAP_POSIX_ACL, "POSIX_ACL");
  Want(conn, FUSE_CAP_DONT_MASK, "DONT_MASK");
  // copy mode with -o writeback_cache only: the kernel may gather writes in its page cache (then
  // a full device shows at fsync, not at write()); in direct and pages mode every write must
  // reach us (and the device) before write() returns.
  if (ctx.mode == mapping::Mode::kCopy && ctx.want_writeback_cache) {
    Want(conn, FUSE_CAP_WRITEBACK_CACHE, "WRITEBACK_CACHE");
  } else {
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
  }
  ctx.writeback_cache = (conn->want & FUSE_CAP_WRITEBACK_CACHE) != 0;
  // Only we change files, so the kernel should drop cached pages when we say so (invalidator.h),
  // not whenever it sees a new mtime: after every write through it, that would throw away the
  // page cache of the file just written.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  if (conn->capable & FUSE_CAP_EXPLICIT_INVAL_DATA) conn->want |= FUSE_CAP_EXPLICIT_INVAL_DATA;
  // No splice: write data has to be copied into the device by us anyway (from a pipe it would
  // be one more step), and reads already leave from the mapping through fuse_reply_iov.
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
#if FUSE_VERSION >= FUSE_MAKE_VERSION(3, 16) && defined(FUSE_CAP_DIRECT_IO_ALLOW_MMAP)
  // Newer libfuse: direct_io files may be mmapped; we still do not use direct_io (see
  // file_ops.cc), but say so for any future opener that does.
  Want(conn, FUSE_CAP_DIRECT_IO_ALLOW_MMAP, "DIRECT_IO_ALLOW_MMAP");
#endif
  spdlog::info("FUSE protocol {}.{}, max_write {} KiB, readahead {} KiB, writeback cache {}",
               conn->proto_major, conn->proto_minor, conn->max_write >> 10,
               conn->max_readahead >> 10, ctx.writeback_cache ? "on" : "off");
}

void Destroy(void* userdata) { (void)UnmountOnce(*static_cast<OpsContext*>(userdata)); }

void StatFs(fuse_req_t req, fuse_ino_t /*ino*/) {
  Result<core::FsStats> r = Ctx(req).fs->StatFs();
  if (!r.ok()) return ReplyStatus(req, r.status(), "statfs");
  struct statvfs st{};
  st.f_bsize = r->block_size;
  st.f_frsize = r->block_size;
  st.f_blocks = r->blocks;
  st.f_bfree = r->free_blocks;
  st.f_bavail = r->avail_blocks;
  st.f_files = r->files;
  st.f_ffree = r->free_files;
  st.f_favail = r->free_files;
  st.f_namemax = r->name_max;
  fuse_reply_statfs(req, &st);
}

void Access(fuse_req_t req, fuse_ino_t ino, int mask) {
  ReplyStatus(req, Ctx(req).fs->Access(CallerOf(req), ino, mask), "access");
}

}  // namespace pmemfs::fuse::handlers

namespace pmemfs::fuse {

Status UnmountOnce(OpsContext& ctx) {
  if (ctx.unmounted.exchange(true)) return ctx.unmount_status;
  Status s = ctx.fs->Unmount();
  ctx.unmount_status = s;
  if (!s.ok())
    spdlog::error("unmount: {}", s.message());
  else if (ctx.fs->read_only())  // (the store writes nothing read-only, not even the state)
    spdlog::info("unmounted: read-only, nothing written");
  else
    spdlog::info("unmounted: everything written back, filesystem marked clean");
  return s;
}

}  // namespace pmemfs::fuse
