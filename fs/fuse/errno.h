// The one place a pmemfs::Code becomes an errno (DESIGN.md: errors are values below fs/fuse).
#pragma once

#include "pmemfs/status.h"

namespace pmemfs::fuse {

// Where the errno goes, for the codes whose errno depends on the call:
//   kTooBig  EFBIG for file data (a file larger than allowed); E2BIG for an extended attribute
//            value (setxattr(2): "value too large").
//   kRange   ERANGE (a result larger than the caller's buffer); ENXIO for lseek SEEK_DATA/
//            SEEK_HOLE at or past the end of the file (lseek(2)).
enum class ErrnoFor { kFile, kXattr, kSeek };

// The positive errno for `code`; 0 for kOk.
int ToErrno(Code code, ErrnoFor what = ErrnoFor::kFile);
inline int ToErrno(const Status& s, ErrnoFor what = ErrnoFor::kFile) {
  return ToErrno(s.code(), what);
}

}  // namespace pmemfs::fuse
