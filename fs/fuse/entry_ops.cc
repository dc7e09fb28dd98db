// Names and attributes: lookup, forget, getattr, setattr, mknod, mkdir, unlink, rmdir, symlink,
// readlink, rename, link.
#include <linux/fs.h>  // RENAME_*
#include <sys/stat.h>

#include "fs/fuse/handlers.h"
#include "fs/fuse/reply.h"

namespace pmemfs::fuse::handlers {

void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  OpsContext& ctx = Ctx(req);
  Result<core::Attr> a = ctx.fs->Lookup(CallerOf(req), parent, name);
  if (a.ok()) return ReplyEntry(req, *a);
  if (a.status().code() == Code::kNotFound) {
    // A negative entry: the kernel remembers the miss until we create the name.
    fuse_entry_param e{};
    e.ino = 0;
    e.entry_timeout = ctx.negative_timeout;
    fuse_reply_entry(req, &e);
    return;
  }
  ReplyStatus(req, a.status(), "lookup");
}

void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) {
  Ctx(req).fs->Forget(ino, nlookup);
  fuse_reply_none(req);
}

void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets) {
  core::Filesystem* fs = Ctx(req).fs;
  for (size_t i = 0; i < count; i++) fs->Forget(forgets[i].ino, forgets[i].nlookup);
  fuse_reply_none(req);
}

void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* /*fi*/) {
  Result<core::Attr> a = Ctx(req).fs->GetAttr(ino);
  if (!a.ok()) return ReplyStatus(req, a.status(), "getattr");
  ReplyAttr(req, *a);
}

namespace {

// FUSE_SET_ATTR_* -> core::SetAttrRequest. The KILL_SUID/KILL_SGID bits (a write or truncate by
// someone without CAP_FSETID, when the kernel leaves killing privileges to us) become a mode
// change computed from the current mode, the way the kernel's should_remove_suid() does it.
Result<core::SetAttrRequest> ToRequest(core::Filesystem* fs, fuse_ino_t ino,
                                       const struct stat& st, int to_set) {
  core::SetAttrRequest r;
  if (to_set & FUSE_SET_ATTR_MODE) {
    r.fields |= core::kSetMode;
    r.mode = st.st_mode;
  }
  if (to_set & FUSE_SET_ATTR_UID) {
    r.fields |= core::kSetUid;
    r.uid = st.st_uid;
  }
  if (to_set & FUSE_SET_ATTR_GID) {
    r.fields |= core::kSetGid;
    r.gid = st.st_gid;
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    r.fields |= core::kSetSize;
    r.size = static_cast<uint64_t>(st.st_size);
  }
  if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
    r.fields |= core::kSetAtimeNow;
  } else if (to_set & FUSE_SET_ATTR_ATIME) {
    r.fields |= core::kSetAtime;
    r.atime = st.st_atim;
  }
  if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
    r.fields |= core::kSetMtimeNow;
  } else if (to_set & FUSE_SET_ATTR_MTIME) {
    r.fields |= core::kSetMtime;
    r.mtime = st.st_mtim;
  }
  if (to_set & FUSE_SET_ATTR_CTIME) {
    r.fields |= core::kSetCtime;
    r.ctime = st.st_ctim;
  }
  if ((to_set & (FUSE_SET_ATTR_KILL_SUID | FUSE_SET_ATTR_KILL_SGID)) &&
      !(to_set & FUSE_SET_ATTR_MODE)) {
    PMEMFS_ASSIGN_OR_RETURN(core::Attr cur, fs->GetAttr(ino));
    uint32_t mode = cur.mode;
    if (to_set & FUSE_SET_ATTR_KILL_SUID) mode &= ~S_ISUID;
    if ((to_set & FUSE_SET_ATTR_KILL_SGID) && (mode & S_IXGRP)) mode &= ~S_ISGID;
    if (mode != cur.mode) {
      r.fields |= core::kSetMode;
      r.mode = mode;
    }
  }
  return r;
}

}  // namespace

void SetAttr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set,
             fuse_file_info* /*fi*/) {
  core::Filesystem* fs = Ctx(req).fs;
  Result<core::SetAttrRequest> r = ToRequest(fs, ino, *attr, to_set);
  if (!r.ok()) return ReplyStatus(req, r.status(), "setattr");
  Result<core::Attr> a = fs->SetAttr(CallerOf(req), ino, *r);
  if (!a.ok()) return ReplyStatus(req, a.status(), "setattr");
  ReplyAttr(req, *a);
}

void ReadLink(fuse_req_t req, fuse_ino_t ino) {
  Result<std::string> target = Ctx(req).fs->ReadLink(ino);
  if (!target.ok()) return ReplyStatus(req, target.status(), "readlink");
  fuse_reply_readlink(req, target->c_str());
}

void MkNod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode, dev_t rdev) {
  Result<core::Attr> a = Ctx(req).fs->MkNod(CallerOf(req), parent, name, mode, rdev);
  if (!a.ok()) return ReplyStatus(req, a.status(), "mknod");
  ReplyEntry(req, *a);
}

void MkDir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) {
  Result<core::Attr> a =
      Ctx(req).fs->MkDir(CallerOf(req), parent, name, S_IFDIR | (mode & 07777));
  if (!a.ok()) return ReplyStatus(req, a.status(), "mkdir");
  ReplyEntry(req, *a);
}

void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyStatus(req, Ctx(req).fs->Unlink(CallerOf(req), parent, name), "unlink");
}

void RmDir(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReplyStatus(req, Ctx(req).fs->RmDir(CallerOf(req), parent, name), "rmdir");
}

void Symlink(fuse_req_t req, const char* link, fuse_ino_t parent, const char* name) {
  Result<core::Attr> a = Ctx(req).fs->Symlink(CallerOf(req), parent, name, link);
  if (!a.ok()) return ReplyStatus(req, a.status(), "symlink");
  ReplyEntry(req, *a);
}

void Rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
            const char* new_name, unsigned int flags) {
  uint32_t core_flags = 0;
  if (flags & RENAME_NOREPLACE) core_flags |= core::kRenameNoReplace;
  if (flags & RENAME_EXCHANGE) core_flags |= core::kRenameExchange;
  if (flags & RENAME_WHITEOUT) core_flags |= core::kRenameWhiteout;
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) {
    fuse_reply_err(req, EINVAL);
    return;
  }
  ReplyStatus(req,
              Ctx(req).fs->Rename(CallerOf(req), parent, name, new_parent, new_name, core_flags),
              "rename");
}

void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) {
  Result<core::Attr> a = Ctx(req).fs->Link(CallerOf(req), ino, new_parent, new_name);
  if (!a.ok()) return ReplyStatus(req, a.status(), "link");
  ReplyEntry(req, *a);
}

}  // namespace pmemfs::fuse::handlers
