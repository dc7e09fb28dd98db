#include "fs/fuse/errno.h"

#include <cerrno>

namespace pmemfs::fuse {

int ToErrno(Code code, ErrnoFor what) {
  switch (code) {
    case Code::kOk: return 0;
    case Code::kInvalidArgument: return EINVAL;
    case Code::kNotFound: return ENOENT;
    case Code::kAlreadyExists: return EEXIST;
    case Code::kBusy: return EBUSY;
    case Code::kNoSpace: return ENOSPC;
    case Code::kIoError: return EIO;
    case Code::kCorrupt: return EIO;
    case Code::kUnsupported: return EOPNOTSUPP;
    case Code::kPermission: return EPERM;
    case Code::kAccessDenied: return EACCES;
    case Code::kNotDirectory: return ENOTDIR;
    case Code::kIsDirectory: return EISDIR;
    case Code::kNotEmpty: return ENOTEMPTY;
    case Code::kNameTooLong: return ENAMETOOLONG;
    case Code::kNoData: return ENODATA;
    case Code::kRange: return what == ErrnoFor::kSeek ? ENXIO : ERANGE;
    case Code::kTooBig: return what == ErrnoFor::kXattr ? E2BIG : EFBIG;
    case Code::kTooManyLinks: return EMLINK;
    case Code::kCrossDevice: return EXDEV;
    case Code::kReadOnly: return EROFS;
    case Code::kLoop: return ELOOP;
  }
  return EIO;  // an unknown code is a bug below us; never report success for it
}

}  // namespace pmemfs::fuse
