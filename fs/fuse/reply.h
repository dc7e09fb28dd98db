// Helpers the handlers share: the request's context and caller, core::Attr -> struct stat and
// fuse_entry_param, and replies that keep the lookup and open counts right when the kernel
// did not take the reply (an interrupted request).
#pragma once

#include <fuse_lowlevel.h>
#include <sys/stat.h>

#include "fs/core/fs.h"
#include "fs/fuse/errno.h"
#include "fs/fuse/ops.h"
#include "pmemfs/status.h"

namespace pmemfs::fuse {

inline OpsContext& Ctx(fuse_req_t req) {
  return *static_cast<OpsContext*>(fuse_req_userdata(req));
}
// uid, gid and umask of the calling process.
core::Caller CallerOf(fuse_req_t req);

struct stat ToStat(const core::Attr& a);
fuse_entry_param ToEntry(const OpsContext& ctx, const core::Attr& a);

// Replies the errno of `s` (logged: I/O and corruption errors as errors, the rest at debug).
void ReplyStatus(fuse_req_t req, const Status& s, const char* op, ErrnoFor what = ErrnoFor::kFile);
// Replies an entry for `a`, which carries one lookup reference; gives it back if the kernel
// did not take the reply.
void ReplyEntry(fuse_req_t req, const core::Attr& a);
void ReplyAttr(fuse_req_t req, const core::Attr& a);

}  // namespace pmemfs::fuse
