#include "fs/fuse/reply.h"

#include <spdlog/spdlog.h>

namespace pmemfs::fuse {

core::Caller CallerOf(fuse_req_t req) {
  const fuse_ctx* c = fuse_req_ctx(req);
  return core::Caller{.uid = c->uid, .gid = c->gid, .umask = c->umask};
}

struct stat ToStat(const core::Attr& a) {
  struct stat st{};
  st.st_ino = a.ino;
  st.st_mode = a.mode;
  st.st_nlink = a.nlink;
  st.st_uid = a.uid;
  st.st_gid = a.gid;
  st.st_rdev = a.rdev;
  st.st_size = static_cast<off_t>(a.size);
  st.st_blocks = static_cast<blkcnt_t>(a.blocks);
  st.st_blksize = 4096;
  st.st_atim = a.atime;
  st.st_mtim = a.mtime;
  st.st_ctim = a.ctime;
  return st;
}

fuse_entry_param ToEntry(const OpsContext& ctx, const core::Attr& a) {
  fuse_entry_param e{};
  e.ino = a.ino;
  e.generation = a.generation;
  e.attr = ToStat(a);
  e.attr_timeout = a.leased ? 0 : ctx.attr_timeout;  // direct access: clients change them
  e.entry_timeout = ctx.entry_timeout;
  return e;
}

void ReplyStatus(fuse_req_t req, const Status& s, const char* op, ErrnoFor what) {
  int err = ToErrno(s, what);
  if (s.code() == Code::kIoError || s.code() == Code::kCorrupt) {
    // A device that shrank under the filesystem fails many requests: say what happened once.
    OpsContext& ctx = Ctx(req);
    if (Status h = ctx.fs ? ctx.fs->DeviceHealth() : Status::Ok(); !h.ok()) {
      if (!ctx.device_lost_logged.exchange(true)) spdlog::error("{}", h.message());
      else spdlog::debug("{}: {}", op, s.message());
      fuse_reply_err(req, err);
      return;
    }
  }
  if (s.code() == Code::kIoError || s.code() == Code::kCorrupt)
    spdlog::error("{}: {}", op, s.message());
  else if (err != 0)
    spdlog::debug("{}: {}", op, s.message());
  fuse_reply_err(req, err);
}

void ReplyEntry(fuse_req_t req, const core::Attr& a) {
  OpsContext& ctx = Ctx(req);
  fuse_entry_param e = ToEntry(ctx, a);
  if (fuse_reply_entry(req, &e) != 0) ctx.fs->Forget(a.ino, 1);
}

void ReplyAttr(fuse_req_t req, const core::Attr& a) {
  struct stat st = ToStat(a);
  fuse_reply_attr(req, &st, a.leased ? 0 : Ctx(req).attr_timeout);
}

}  // namespace pmemfs::fuse
