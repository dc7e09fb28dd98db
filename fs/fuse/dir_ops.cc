// Directories: opendir, readdir, readdirplus, releasedir, fsyncdir.
//
// Offsets are core's readdir cookies: an entry's offset is the cookie that continues after it.
// readdirplus answers with attributes and takes a lookup reference for every entry it returns
// except "." and ".." (which it returns without a node id, so the kernel does not link them).
// The entries are gathered first and looked up after ReadDir returns, so no lookup runs while
// core holds the directory.
#include <dirent.h>
#include <sys/stat.h>

#include <string>
#include <vector>

#include "fs/fuse/handlers.h"
#include "fs/fuse/reply.h"

namespace pmemfs::fuse::handlers {
namespace {

struct Gathered {
  std::string name;
  uint64_t ino;
  uint32_t type;
  uint64_t next_cookie;
};

bool IsDotOrDotDot(const std::string& n) { return n == "." || n == ".."; }

}  // namespace

void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  Status s = Ctx(req).fs->OpenDir(CallerOf(req), ino);
  if (!s.ok()) return ReplyStatus(req, s, "opendir");
  // The kernel may cache directory contents: it drops them itself when it changes the
  // directory, and only it changes directories (through us).
  fi->cache_readdir = 1;
  fi->keep_cache = 1;
  fuse_reply_open(req, fi);
}

void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* /*fi*/) {
  std::vector<char> buf(size);
  size_t used = 0;
  std::string name;
  Status s = Ctx(req).fs->ReadDir(ino, static_cast<uint64_t>(off), [&](const core::DirEntry& e) {
    name.assign(e.name);
    struct stat st{};
    st.st_ino = e.ino;
    st.st_mode = DTTOIF(e.type);
    size_t n = fuse_add_direntry(req, buf.data() + used, size - used, name.c_str(), &st,
                                 static_cast<off_t>(e.next_cookie));
    if (n > size - used) return false;  // full: the kernel asks again from this entry's cookie
    used += n;
    return true;
  });
  if (!s.ok() && used == 0) return ReplyStatus(req, s, "readdir");
  fuse_reply_buf(req, buf.data(), used);
}

void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* /*fi*/) {
  OpsContext& ctx = Ctx(req);
  // 1. The entries that fit, without holding anything of core's.
  std::vector<Gathered> entries;
  size_t budget = 0;
  Status s = ctx.fs->ReadDir(ino, static_cast<uint64_t>(off), [&](const core::DirEntry& e) {
    std::string name(e.name);
    size_t n = fuse_add_direntry_plus(req, nullptr, 0, name.c_str(), nullptr, 0);
    if (budget + n > size) return false;
    budget += n;
    entries.push_back({std::move(name), e.ino, e.type, e.next_cookie});
    return true;
  });
  if (!s.ok() && entries.empty()) return ReplyStatus(req, s, "readdirplus");

  // 2. Look each one up (a reference for the kernel) and add it with its attributes.
  std::vector<char> buf(size);
  size_t used = 0;
  std::vector<uint64_t> referenced;
  core::Caller caller = CallerOf(req);
  for (const Gathered& g : entries) {
    fuse_entry_param e{};
    if (IsDotOrDotDot(g.name)) {
      e.attr.st_ino = g.ino;
      e.attr.st_mode = DTTOIF(g.type);
    } else {
      Result<core::Attr> a = ctx.fs->Lookup(caller, ino, g.name);
      if (!a.ok()) {
        if (a.status().code() == Code::kNotFound) continue;  // removed since ReadDir
        if (used == 0) return ReplyStatus(req, a.status(), "readdirplus");
        break;  // reply what we have; the kernel continues from the last cookie
      }
      e = ToEntry(ctx, *a);
      referenced.push_back(a->ino);
    }
    used += fuse_add_direntry_plus(req, buf.data() + used, size - used, g.name.c_str(), &e,
                                   static_cast<off_t>(g.next_cookie));
  }
  if (fuse_reply_buf(req, buf.data(), used) != 0) {
    for (uint64_t i : referenced) ctx.fs->Forget(i, 1);  // the kernel did not take them
  }
}

void ReleaseDir(fuse_req_t req, fuse_ino_t /*ino*/, fuse_file_info* /*fi*/) {
  fuse_reply_err(req, 0);
}

void FsyncDir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* /*fi*/) {
  ReplyStatus(req, Ctx(req).fs->Fsync(ino, datasync != 0), "fsyncdir");
}

}  // namespace pmemfs::fuse::handlers
